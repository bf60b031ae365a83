//! One poll of one feed, top to bottom: fetch → parse → normalise → dedupe → store. The only
//! place that chains the stages; everything a poll does can be read here.

use std::time::{Duration, Instant};

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use crate::config::ReadingTimeConfig;
use crate::fetch::{FetchOutcome, Fetched, Fetcher};
use crate::model::{FeedMeta, NewItem};
use crate::store::{FeedState, PollRecord, PollResult, Store, StoreError};
use crate::{dedupe, normalize, parse, schedule};

/// What a poll needs: the HTTP client, the store, and the settings that shape items.
#[derive(Debug, Clone)]
pub struct Context {
    /// Shared HTTP client.
    pub fetcher: Fetcher,
    /// The database.
    pub store: Store,
    /// Reading speeds.
    pub reading_time: ReadingTimeConfig,
    /// Longest wait after repeated errors.
    pub max_backoff: Duration,
}

/// How a poll ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// New content was fetched and stored.
    Fetched,
    /// 304: nothing changed.
    NotModified,
    /// The fetch or the parse failed; the error is on the feed.
    Failed,
}

/// The result of [`refresh_feed`].
#[derive(Debug, Clone)]
pub struct Report {
    /// How it ended.
    pub outcome: Outcome,
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
    /// Milliseconds the poll took.
    pub elapsed_ms: u64,
}

/// Polls `feed` once and records the result, updating `feed` (validators, errors, next poll).
/// Returns `Ok(None)` when `cancel` fired before the fetch completed: nothing was written.
/// Once a response is in, the poll always runs to the end, so a shutdown never cuts a write.
///
/// # Errors
/// Only store errors; a failing feed is a [`Report`] with [`Outcome::Failed`].
#[instrument(name = "feed", skip_all, fields(feed = %feed.name(), feed_url = %feed.url))]
pub async fn refresh_feed(
    ctx: &Context,
    feed: &mut FeedState,
    interval: Duration,
    cancel: &CancellationToken,
) -> Result<Option<Report>, StoreError> {
    let started = Instant::now();
    let now = Utc::now();

    let fetched = tokio::select! {
        biased;
        () = cancel.cancelled() => return Ok(None),
        r = ctx.fetcher.fetch(&feed.url, &feed.validators) => r,
    };
    let (result, items_seen) = match fetched {
        Ok(FetchOutcome::NotModified { validators }) => (PollResult::NotModified { validators }, 0),
        Ok(FetchOutcome::Fetched(doc)) => {
            let status = doc.status;
            let validators = doc.validators.clone();
            debug!(status, bytes = doc.body.len(), "fetched");
            match process(doc, ctx.reading_time, now).await {
                Ok((meta, items)) => {
                    let seen = items.len();
                    (
                        PollResult::Fetched {
                            status,
                            validators,
                            meta,
                            items,
                        },
                        seen,
                    )
                }
                Err(error) => (
                    PollResult::Failed {
                        status: Some(status),
                        error,
                    },
                    0,
                ),
            }
        }
        Err(e) => (
            PollResult::Failed {
                status: e.status(),
                error: e.to_string(),
            },
            0,
        ),
    };

    let (outcome, status, error) = match &result {
        PollResult::Fetched { status, .. } => (Outcome::Fetched, Some(*status), None),
        PollResult::NotModified { .. } => (Outcome::NotModified, Some(304), None),
        PollResult::Failed { status, error } => (Outcome::Failed, *status, Some(error.clone())),
    };
    let errors_after = if error.is_some() {
        feed.error_count.saturating_add(1)
    } else {
        0
    };
    let next_poll_at = schedule::next_poll(now, interval, errors_after, ctx.max_backoff);
    let new_validators = match &result {
        PollResult::Fetched { validators, .. } | PollResult::NotModified { validators } => {
            Some(validators.clone())
        }
        PollResult::Failed { .. } => None,
    };
    let new_title = match &result {
        PollResult::Fetched { meta, .. } => meta.title.clone(),
        _ => None,
    };

    let counts = ctx
        .store
        .record_poll(
            feed.id,
            PollRecord {
                at: now,
                result,
                next_poll_at,
            },
        )
        .await?;

    let report = Report {
        outcome,
        status,
        items_new: counts.new,
        items_updated: counts.updated,
        items_seen,
        error: error.clone(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    let status_field = status.unwrap_or(0);
    match &error {
        None => info!(
            status = status_field,
            items_new = report.items_new,
            items_updated = report.items_updated,
            items_seen,
            elapsed_ms = report.elapsed_ms,
            "feed refreshed"
        ),
        // Log a failing feed once per change of state, not once per poll.
        Some(e) if feed.last_error.as_deref() != Some(e.as_str()) => warn!(
            status = status_field,
            errors = errors_after,
            elapsed_ms = report.elapsed_ms,
            error = %e,
            "feed failed"
        ),
        Some(e) => {
            debug!(status = status_field, errors = errors_after, error = %e, "feed still failing")
        }
    }
    if error.is_none() && feed.error_count > 0 {
        info!(after_errors = feed.error_count, "feed recovered");
    }

    if let Some(v) = new_validators {
        feed.validators = v;
    }
    if new_title.is_some() {
        feed.title = new_title;
    }
    feed.error_count = errors_after;
    feed.last_error = error;
    feed.next_poll_at = Some(next_poll_at);
    Ok(Some(report))
}

/// Parses, normalises and identifies a fetched document on a blocking thread (parsing is CPU
/// work, and feed-rs's parser is not `Send`). A panic inside becomes this feed's error.
async fn process(
    doc: Fetched,
    rt: ReadingTimeConfig,
    now: chrono::DateTime<Utc>,
) -> Result<(FeedMeta, Vec<NewItem>), String> {
    let task = tokio::task::spawn_blocking(move || {
        let feed = parse::parse(&doc.body, doc.charset.as_deref(), &doc.url)
            .map_err(|e| format!("cannot parse {}: {e}", doc.url))?;
        let (meta, items) = normalize::normalize(&feed, &doc.url, now, &rt);
        Ok((meta, dedupe::identify(items)))
    });
    match task.await {
        Ok(result) => result,
        Err(e) if e.is_panic() => {
            Err("internal error while processing the feed (a bug: please report it)".to_owned())
        }
        Err(e) => Err(format!("processing was cancelled: {e}")),
    }
}
