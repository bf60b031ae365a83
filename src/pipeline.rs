//! One poll of one feed, top to bottom: wait for the host → fetch → parse → normalise →
//! dedupe → store, and schedule the next poll; then hand the article pages its items want to
//! `fulltext`, without waiting for them. The only place that chains the stages for a poll;
//! everything a poll does can be read here.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use crate::config::DedupeConfig;
use crate::config::ReadingTimeConfig;
use crate::dedupe::{self, Doc};
use crate::fetch::{ErrorChain, FetchOutcome, Fetched, Fetcher};
use crate::fulltext::{Articles, Grant};
use crate::hosts::{HostPermit, Hosts};
use crate::icons::Icons;
use crate::metrics::Metrics;
use crate::model::{Failure, FeedHints, FeedId, FeedMeta, NewItem, PollKind, Verdict};
use crate::normalize::text;
use crate::redact::{self, Redacted};
use crate::schedule::{self, Policy, Reason};
use crate::store::{
    FeedChange, FeedState, NearCandidate, NearCheck, NearLookup, NearProbe, PollRecord, PollResult,
    Store, StoreError,
};
use crate::websub::Subscriber;
use crate::{normalize, parse};
use url::Url;

/// Why a poll's result could not be stored. A failing feed is no error: it is a [`Report`]
/// of [`PollKind::Failed`].
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The store could not write the poll (or look up near-duplicate candidates).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Comparing the new items with other feeds' stories crashed (a bug).
    #[error("near-duplicate check failed")]
    NearDuplicates(#[source] tokio::task::JoinError),
}

/// Why a fetched document gave no items: stored on the feed as its error.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The document is not a feed, or one too broken to read.
    #[error("cannot parse {base}: {error}")]
    Parse {
        /// What its relative links resolve against (the URL it came from, without secrets).
        base: Url,
        /// What the parser said (boxed: feed-rs's errors are large, and this one travels by
        /// value from the parsing thread).
        error: Box<parse::ParseError>,
    },
    /// Parsing or normalising panicked.
    #[error("internal error while processing the feed (a bug: please report it)")]
    Panicked,
    /// The runtime shut down while the document was being processed.
    #[error("processing was cancelled")]
    Cancelled(#[source] tokio::task::JoinError),
}

/// Why a pushed document was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PushedError {
    /// The feed has no row (it left the config).
    #[error("no such feed")]
    UnknownFeed,
    /// The document is not a feed, or one too broken to read.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// It could not be stored.
    #[error(transparent)]
    Poll(#[from] PollError),
}

/// What a poll needs: the HTTP client, politeness gates, the store, and item settings.
#[derive(Debug, Clone)]
pub struct Context {
    /// Shared HTTP client.
    pub fetcher: Fetcher,
    /// Per-host limits.
    pub hosts: Arc<Hosts>,
    /// Requests in flight across all hosts (`[poller] concurrency`).
    pub slots: Arc<Semaphore>,
    /// Polls under way at once, most of them waiting for a request slot or their host: a few
    /// per slot, so that thousands of feeds falling due together (a start after a long
    /// stop) are not thousands of tasks at once.
    pub max_polls: usize,
    /// Documents being parsed, items compared with near-duplicate candidates or articles
    /// extracted at once: one per CPU. More would only hold more parse trees in memory (and
    /// more blocking threads) at the same time, not finish sooner.
    pub cpus: Arc<Semaphore>,
    /// The database.
    pub store: Store,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Near-duplicate detection across feeds, when on.
    pub near_duplicates: Option<DedupeConfig>,
    /// Where a stored poll hands over the article pages its items want.
    pub articles: Articles,
    /// The WebSub subscriptions (the daemon's; `None` for one-off commands): hubs that feeds
    /// announce are reported to it, and a feed it has an active subscription for is polled
    /// at `[websub] poll_interval`.
    pub websub: Option<Subscriber>,
    /// Where a stored poll hands its feed over for its source's icon.
    pub icons: Icons,
}

/// The result of [`refresh_feed`].
#[derive(Debug, Clone)]
pub struct Report {
    /// What it came to.
    pub kind: PollKind,
    /// Why it failed, when it did (not for 410 Gone, which is [`PollKind::Gone`]).
    pub failure: Option<Failure>,
    /// Body bytes downloaded, after decompression.
    pub bytes: usize,
    /// HTTP status, when the server answered.
    pub status: Option<u16>,
    /// Items stored for the first time.
    pub items_new: usize,
    /// Stored items whose content changed.
    pub items_updated: usize,
    /// Items in the document.
    pub items_seen: usize,
    /// The error, when it failed.
    pub error: Option<String>,
    /// Milliseconds the poll took, waits for the host included.
    pub elapsed_ms: u64,
    /// When the feed is polled next (`None`: not on schedule) and why.
    pub next_poll: Option<schedule::Next>,
}

/// Polls `feed` once and records the result, updating `feed` (validators, hints, errors, next
/// poll). Returns `Ok(None)` when `cancel` fired before the response arrived: nothing was
/// written. Once a response is in, the poll always runs to the end, so a shutdown never cuts
/// a write.
///
/// # Errors
/// [`PollError`] when the result could not be stored; a failing feed is a [`Report`] of
/// [`PollKind::Failed`].
#[instrument(name = "feed", skip_all, fields(feed = %feed.name(), feed_url = %Redacted(&feed.url)))]
pub async fn refresh_feed(
    ctx: &Context,
    feed: &mut FeedState,
    policy: &Policy,
    reading: &ReadingTimeConfig,
    cancel: &CancellationToken,
) -> Result<Option<Report>, PollError> {
    let started = Instant::now();
    let url = feed.fetch_url().clone();

    // The host first: a feed waiting out a Retry-After must not hold a global slot. The slot
    // is then held to the end of the poll, which bounds the documents in memory at once.
    let admitted = tokio::select! {
        biased;
        () = cancel.cancelled() => return Ok(None),
        r = async {
            let host = ctx.hosts.acquire(&url).await;
            // Invariant: the semaphore is never closed.
            let slot = ctx.slots.acquire().await.expect("semaphore open");
            (host, slot)
        } => r,
    };
    let admitted = Admitted {
        started,
        url,
        host: admitted.0,
        _slot: admitted.1,
    };
    // Boxed: until admitted (every feed at start-up waits for a slot), a poll takes a few
    // hundred bytes, not the whole poll's state.
    Box::pin(poll_admitted(ctx, feed, policy, reading, cancel, admitted)).await
}

/// A poll the host and a global slot let go ahead.
struct Admitted<'a> {
    /// When the poll started, waits included.
    started: Instant,
    /// The URL to request.
    url: Url,
    /// The host's permission, given back once the response is in.
    host: HostPermit,
    /// The global slot, held to the end of the poll.
    _slot: SemaphorePermit<'a>,
}

/// The rest of [`refresh_feed`], once the host and a slot allow the request.
async fn poll_admitted(
    ctx: &Context,
    feed: &mut FeedState,
    policy: &Policy,
    reading: &ReadingTimeConfig,
    cancel: &CancellationToken,
    admitted: Admitted<'_>,
) -> Result<Option<Report>, PollError> {
    let Admitted {
        started,
        url,
        host,
        _slot,
    } = admitted;
    let fetched = tokio::select! {
        biased;
        () = cancel.cancelled() => return Ok(None),
        f = ctx.fetcher.fetch_feed(&url, &feed.url, &feed.validators) => f,
    };
    drop(host);
    let now = Utc::now();

    let mut fresh_for = None;
    let mut retry_after = None;
    let mut moved_to = None;
    let mut items_seen = 0;
    let mut wants_articles = false;
    let mut bytes = 0;
    let mut near = None;
    let (result, failure) = match fetched {
        Ok(FetchOutcome::NotModified {
            validators,
            cache,
            moved_to: m,
        }) => {
            (fresh_for, moved_to) = (cache.fresh_for, m);
            (PollResult::NotModified { validators }, None)
        }
        Ok(FetchOutcome::Fetched(doc)) => {
            bytes = doc.body.len();
            debug!(status = doc.status, bytes, "fetched");
            (fresh_for, moved_to) = (doc.cache.fresh_for, doc.moved_to.clone());
            let (status, validators) = (doc.status, doc.validators.clone());
            let header_links = doc.links.clone();
            match process(doc, &ctx.cpus, *reading, now, news_since(ctx, now)).await {
                Ok((meta, hints, mut items)) => {
                    if let Some(websub) = &ctx.websub {
                        let links = header_links.or((*meta.hub_links).clone());
                        websub
                            .announced(feed.id, &feed.url, (*policy, *reading), &links)
                            .await;
                    }
                    items_seen = items.len();
                    wants_articles = items.iter().any(|i| i.wants_full_text);
                    // Off, no item has a fingerprint: nothing is indexed either.
                    if let Some(config) = &ctx.near_duplicates {
                        near = find_near_duplicates(ctx, feed.id, &mut items, config, now).await?;
                    }
                    let fetched = PollResult::Fetched {
                        status,
                        validators,
                        meta,
                        hints,
                        items,
                    };
                    (fetched, None)
                }
                Err(error) => {
                    let error = stored_error(&ErrorChain(&error).to_string());
                    let status = Some(status);
                    (PollResult::Failed { status, error }, Some(Failure::Parse))
                }
            }
        }
        Err(e) if e.status() == Some(410) => {
            let error = format!(
                "{} (the feed was removed: delete it from the config)",
                stored_error(&ErrorChain(&e).to_string())
            );
            (PollResult::Gone { error }, None)
        }
        Err(e) => {
            if let Some((server, wait)) = e.asked_to_wait() {
                // Retry-After speaks for the whole server, not only this feed. A server does
                // not get to stop polling for longer than our own backoff cap.
                let wait = wait.min(policy.max_backoff.max(policy.interval));
                ctx.hosts.pause(server, wait);
                retry_after = Some(wait);
            }
            let failed = PollResult::Failed {
                status: e.status(),
                error: stored_error(&ErrorChain(&e).to_string()),
            };
            (failed, Some(e.kind()))
        }
    };
    // A move is remembered only when it is new: the config still names the old URL.
    let moved_to = moved_to.filter(|m| Some(m) != feed.moved_to.as_deref() && *m != feed.url);

    let kind = result.kind();
    let status = result.status();
    let errors_after = feed.errors_after(kind);
    let hints = result.document().map_or(feed.hints, |(hints, _)| *hints);
    // Miniflux's ScheduleNextCheck: a gone feed is not polled on schedule again.
    let next_poll = match kind {
        PollKind::Fetched | PollKind::NotModified => Some(next_after_success(
            ctx, feed.id, now, policy, &hints, fresh_for,
        )),
        PollKind::Failed => Some(schedule::after_error(
            now,
            policy,
            errors_after,
            retry_after,
        )),
        PollKind::Gone => None,
    };
    let change = FeedChange {
        kind,
        validators: result.validators().cloned(),
        title: result.document().and_then(|(_, meta)| meta.title.clone()),
        moved_to: moved_to.clone(),
        hints,
        error_count: errors_after,
        error: result.error().map(str::to_owned),
        next_poll_at: next_poll.map(|n| n.at),
    };

    let counts = ctx
        .store
        .record_poll(
            feed.id,
            PollRecord {
                at: now,
                result,
                next_poll: next_poll.map(|n| (n.at, n.reason.as_str())),
                moved_to: moved_to.clone(),
                near,
            },
        )
        .await?;

    let report = Report {
        kind,
        failure,
        bytes,
        status,
        items_new: counts.new,
        items_updated: counts.updated,
        items_seen,
        error: change.error.clone(),
        elapsed_ms: started.elapsed().as_millis() as u64,
        next_poll,
    };
    // The items are stored with the content's estimate; the article pages refine it later.
    if kind != PollKind::Gone {
        ctx.articles.polled(feed.id, wants_articles, || Grant {
            feed_url: url.clone(),
            reading: *reading,
            fetcher: ctx.fetcher.clone(),
            hosts: ctx.hosts.clone(),
            cpus: ctx.cpus.clone(),
            max_pause: policy.max_backoff.max(policy.interval),
        });
    }
    // Only a feed that answered has a site worth asking for its icon.
    if matches!(kind, PollKind::Fetched | PollKind::NotModified) {
        ctx.icons.polled(feed.id, &ctx.fetcher, &ctx.hosts);
    }
    log(feed, &report, errors_after, moved_to.as_ref());
    ctx.metrics.poll(
        (feed.id, &feed.url),
        kind,
        failure,
        started.elapsed(),
        errors_after,
    );
    ctx.metrics.stored(counts.new, counts.updated, bytes);
    feed.recorded(change);
    Ok(Some(report))
}

/// The next poll after a successful one: [`schedule::after_success`], at `[websub]
/// poll_interval` at least while a hub pushes the feed's changes to us.
fn next_after_success(
    ctx: &Context,
    feed: FeedId,
    now: DateTime<Utc>,
    policy: &Policy,
    hints: &FeedHints,
    fresh_for: Option<std::time::Duration>,
) -> schedule::Next {
    let pushed = ctx
        .websub
        .as_ref()
        .filter(|w| w.pushed_until(feed).is_some());
    let Some(websub) = pushed else {
        return schedule::after_success(now, policy, hints, fresh_for);
    };
    let safety_net = websub.poll_interval();
    let slow = Policy {
        interval: policy.interval.max(safety_net),
        max_interval: policy.max_interval.max(safety_net),
        ..*policy
    };
    let mut next = schedule::after_success(now, &slow, hints, fresh_for);
    if next.reason == Reason::Interval && slow.interval > policy.interval {
        next.reason = Reason::WebSub;
    }
    next
}

/// Stores a document a WebSub hub pushed for the feed `feed`, configured at `feed_url`, as a poll
/// that fetched it would (the same parsing, identities, reading time, limits and
/// near-duplicate check), leaving the feed's validators and schedule alone. Returns the items
/// stored for the first time.
///
/// # Errors
/// [`PushedError`] when the feed is unknown, the document unreadable, or the store fails.
#[instrument(name = "feed", skip_all, fields(feed_url = %Redacted(feed_url)))]
pub async fn refresh_pushed(
    ctx: &Context,
    (feed, feed_url): (FeedId, &Url),
    policy: &Policy,
    reading: &ReadingTimeConfig,
    pushed: Fetched,
) -> Result<usize, PushedError> {
    let feed = ctx
        .store
        .feed_state_by_id(feed)
        .await
        .map_err(PollError::from)?
        .ok_or(PushedError::UnknownFeed)?;
    let now = Utc::now();
    let bytes = pushed.body.len();
    let (meta, hints, mut items) =
        process(pushed, &ctx.cpus, *reading, now, news_since(ctx, now)).await?;
    let items_seen = items.len();
    let wants_articles = items.iter().any(|i| i.wants_full_text);
    let near = match &ctx.near_duplicates {
        Some(config) => find_near_duplicates(ctx, feed.id, &mut items, config, now).await?,
        None => None,
    };
    let result = PollResult::Fetched {
        status: 200,
        validators: feed.validators.clone(),
        meta,
        hints,
        items,
    };
    let counts = ctx
        .store
        .record_poll(
            feed.id,
            PollRecord {
                at: now,
                result,
                // The schedule stays as the last poll left it.
                next_poll: feed.next_poll_at.map(|at| (at, Reason::WebSub.as_str())),
                moved_to: None,
                near,
            },
        )
        .await
        .map_err(PollError::from)?;
    ctx.articles.polled(feed.id, wants_articles, || Grant {
        feed_url: feed_url.clone(),
        reading: *reading,
        fetcher: ctx.fetcher.clone(),
        hosts: ctx.hosts.clone(),
        cpus: ctx.cpus.clone(),
        max_pause: policy.max_backoff.max(policy.interval),
    });
    info!(
        items_new = counts.new,
        items_updated = counts.updated,
        items_seen,
        "websub push stored"
    );
    ctx.metrics.stored(counts.new, counts.updated, bytes);
    Ok(counts.new)
}

/// The longest error kept on a feed, in characters. Errors quote what a server sent (a
/// parser's message can quote a whole attribute of the document), and they are stored,
/// logged and published in health items.
pub const MAX_ERROR_CHARS: usize = 1000;

/// An error as stored, logged and shown: the URLs in it redacted (they may carry a token),
/// and cut at [`MAX_ERROR_CHARS`].
fn stored_error(error: &str) -> String {
    let mut error = redact::text(error).into_owned();
    if let Some((cut, _)) = error.char_indices().nth(MAX_ERROR_CHARS) {
        error.truncate(cut);
        error.push('…');
    }
    error
}

/// One summary line per successful poll; for failures one line per change of state (a feed
/// that keeps failing the same way is logged at debug, not every retry).
fn log(feed: &FeedState, r: &Report, errors: u32, moved_to: Option<&url::Url>) {
    // Absent when the server never answered (a timeout, a refused connection).
    let status = r.status;
    let next = r.next_poll.map(|n| n.reason.as_str()).unwrap_or("never");
    match &r.error {
        None => info!(
            status,
            items_new = r.items_new,
            items_updated = r.items_updated,
            items_seen = r.items_seen,
            elapsed_ms = r.elapsed_ms,
            next,
            "feed refreshed"
        ),
        Some(e) if r.kind == PollKind::Gone => {
            warn!(status, error = %e, "feed gone: polling stopped")
        }
        Some(e) if feed.last_error.as_deref() != Some(e.as_str()) => {
            warn!(status, errors, elapsed_ms = r.elapsed_ms, next, error = %e, "feed failed")
        }
        Some(e) => debug!(status, errors, next, error = %e, "feed still failing"),
    }
    if r.error.is_none() && feed.error_count > 0 {
        info!(after_errors = feed.error_count, "feed recovered");
    }
    if let Some(to) = moved_to {
        warn!(moved_to = %Redacted(to), "feed moved permanently: polling the new address; update the config");
    }
}

/// Marks the new items that copy a recent item of another feed (`near_duplicate_of`). Their
/// fingerprints (from `normalize`, news only: the others are not looked up) are compared through the store's index, which holds the
/// items committed so far; the returned check has the writer compare them with the items
/// committed after this lookup and before the poll (`None`: nothing new to look up).
async fn find_near_duplicates(
    ctx: &Context,
    feed: FeedId,
    items: &mut Vec<NewItem>,
    near: &DedupeConfig,
    now: DateTime<Utc>,
) -> Result<Option<NearCheck>, PollError> {
    let (numbers, probes): (Vec<usize>, Vec<NearProbe>) = items
        .iter()
        .enumerate()
        .filter_map(|(n, i)| {
            let fingerprint = i.fingerprint.clone()?;
            let (key, title) = (i.key.0.clone(), i.title.clone());
            Some((
                n,
                NearProbe {
                    key,
                    canonical_link: i.canonical_link.clone(),
                    title,
                    fingerprint,
                },
            ))
        })
        .unzip();
    if probes.is_empty() {
        return Ok(None);
    }
    let since = window_start(near, now).timestamp();
    // Titles first: only the candidates whose title could match have their text read.
    let NearLookup {
        candidates,
        contents,
        indexed_through,
    } = ctx
        .store
        .near_candidates(feed, since, probes, dedupe::titles_compatible)
        .await?;
    let threshold = near.threshold;
    let check = NearCheck {
        indexed_through,
        since,
        judge: Arc::new(
            move |item: &NewItem, candidate: &NearCandidate, html: &str| {
                judge_copy(
                    item,
                    &text::visible(&item.content_html).text,
                    candidate,
                    html,
                    threshold,
                )
            },
        ),
    };
    if contents.is_empty() {
        return Ok(Some(check));
    }
    let mut taken = std::mem::take(items);
    // CPU work, in a CPU slot like parsing.
    let _cpu = ctx.cpus.acquire().await.expect("semaphore open");
    let task = tokio::task::spawn_blocking(move || {
        for (n, found) in numbers.into_iter().zip(candidates) {
            if found.is_empty() {
                continue;
            }
            let item = &mut taken[n];
            let text = text::visible(&item.content_html).text;
            // The first match in commit order: the story shows as the feed that had it first.
            item.near_duplicate_of = found.iter().find_map(|c| {
                let html = contents.get(&c.id).map_or("", String::as_str);
                judge_copy(item, &text, c, html, threshold).map(|v| (c.id, v))
            });
        }
        taken
    });
    *items = task.await.map_err(PollError::NearDuplicates)?;
    Ok(Some(check))
}

/// The start of the near-duplicate window at `now`: candidates were first seen since, and
/// only news dated since is compared (see [`dedupe::fingerprint::is_news`]).
fn window_start(near: &DedupeConfig, now: DateTime<Utc>) -> DateTime<Utc> {
    chrono::Duration::from_std(near.window)
        .ok()
        .and_then(|w| now.checked_sub_signed(w))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The date from which a poll's items get a near-duplicate fingerprint; `None` (detection
/// off): no item does.
fn news_since(ctx: &Context, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    ctx.near_duplicates
        .as_ref()
        .map(|near| window_start(near, now))
}

/// Whether a new item (with its visible text) copies a candidate of another feed (with its
/// HTML).
fn judge_copy(
    item: &NewItem,
    text: &str,
    candidate: &NearCandidate,
    html: &str,
    threshold: f64,
) -> Option<Verdict> {
    if !dedupe::titles_compatible(&item.title, &candidate.title) {
        return None;
    }
    let other_text = text::visible(html).text;
    let doc = Doc {
        title: &item.title,
        text,
        link: item.link.as_deref(),
    };
    let other = Doc {
        title: &candidate.title,
        text: &other_text,
        link: candidate.link.as_deref(),
    };
    dedupe::judge(&doc, &other, threshold)
}

/// Parses, normalises and identifies a fetched document on a blocking thread (parsing is CPU
/// work, and feed-rs's parser is not `Send`), with fingerprints for the news dated since
/// `news_since`. A panic inside becomes this feed's error.
async fn process(
    doc: Fetched,
    cpus: &Semaphore,
    rt: ReadingTimeConfig,
    now: DateTime<Utc>,
    news_since: Option<DateTime<Utc>>,
) -> Result<(FeedMeta, FeedHints, Vec<NewItem>), ProcessError> {
    // Invariant: the semaphore is never closed.
    let _cpu = cpus.acquire().await.expect("semaphore open");
    let task = tokio::task::spawn_blocking(move || {
        // What relative links resolve against is published with them: no userinfo or query.
        let base = redact::base(&doc.url);
        let parsed = parse::parse(&doc.body, doc.charset.as_deref(), &base).map_err(|error| {
            ProcessError::Parse {
                base: base.clone(),
                error: Box::new(error),
            }
        })?;
        let hints = parsed.hints;
        let (meta, items) = normalize::normalize_news(parsed, &base, now, &rt, news_since);
        Ok((meta, hints, dedupe::identify(items)))
    });
    match task.await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(ProcessError::Panicked),
        Err(e) => Err(ProcessError::Cancelled(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_errors_are_redacted_and_short() {
        let long = format!("unsupported version {}", "é".repeat(1_000_000));
        let stored = stored_error(&long);
        assert_eq!(stored.chars().count(), MAX_ERROR_CHARS + 1);
        assert!(stored.ends_with("é…"));
        assert_eq!(
            stored_error("unexpected status 500 from http://u:pw@h.example/f?token=t"),
            "unexpected status 500 from http://h.example/f?token=REDACTED"
        );
    }
}
