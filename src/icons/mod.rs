//! Source icons, apart from the polls: a polled feed → its site's icon fetched (through
//! `fetch`, under the fetch policy and the host gates), checked by its own bytes
//! ([`sniff`]), stored once per site, and served by feedmerge itself at `/icons/NAME`, so
//! that readers' browsers never call out to the sources.
//!
//! A poll hands its feed over ([`Icons::polled`]) and goes on. The worker ([`Icons::run`])
//! finds the feed's site (the origin of its site link, else of its own URL) and, when that
//! site is due, looks for its icon in this order: the icon the feed declares, the icons its
//! site's home page names (`<link rel="icon">`, then `apple-touch-icon`), `/favicon.ico`. The
//! first answer whose bytes are an image ([`sniff::IconType`]) of at most [`MAX_ICON_BYTES`]
//! is kept. A site is checked again after [`RECHECK`] (a conditional GET of where its icon
//! came from); a site where no icon was found is asked again only after [`FAILURE_BACKOFF`],
//! doubled for each failure in a row, up to [`RECHECK`], so a poll never asks it again.
//!
//! SVG icons are kept: many sites have only one, and they are drawn at any size. In an
//! `<img>` an SVG never runs a script, and opened on its own it is served with a
//! Content-Security-Policy that lets it run none either.

pub mod sniff;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use url::Url;

use crate::fetch::{ErrorChain, FetchError, FetchOutcome, Fetcher};
use crate::hosts::{HostPermit, Hosts, NotYet};
use crate::model::{FeedId, Validators};
use crate::redact::Redacted;
use crate::store::{IconCheck, IconSite, Store};

/// Largest icon downloaded, counted after decompression: a 256-pixel PNG or a multi-size
/// ICO is far smaller; a larger answer is a photo or a trap, not an icon.
pub const MAX_ICON_BYTES: u64 = 256 * 1024;

/// How long a site's icon is kept before it is checked again (a conditional GET).
pub const RECHECK: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a site where no icon was found waits before it is asked again, doubled after
/// each further failure in a row, up to [`RECHECK`].
pub const FAILURE_BACKOFF: Duration = Duration::from_secs(3600);

/// Sites checked at once. Icons are small and rare: a few at a time keep a first start with
/// many feeds short without competing with the polls.
pub const WORKERS: usize = 2;

/// How long a check waits for its host's gate (spacing, a busy host) before it gives up
/// until the feed's next poll. A host paused for longer by `Retry-After` is not asked.
pub const MAX_GATE_WAIT: Duration = Duration::from_secs(10);

/// How soon a host with as many requests in flight as it allows is asked again.
const BUSY_RETRY: Duration = Duration::from_millis(250);

/// Why an answer gave no icon.
#[derive(Debug, thiserror::Error)]
pub enum IconError {
    /// The request failed (boxed: a fetch error is large).
    #[error(transparent)]
    Fetch(Box<FetchError>),
    /// The answer is not an image feedmerge serves.
    #[error("{} is not an image (PNG, JPEG, GIF, WebP, ICO or SVG)", Redacted(.url))]
    NotAnImage {
        /// Where it came from.
        url: Url,
    },
    /// The host may not be asked now (paused by `Retry-After`, or busy for too long).
    #[error("{} may not be asked now", Redacted(.url))]
    NotNow {
        /// The URL not asked.
        url: Url,
    },
}

impl From<FetchError> for IconError {
    fn from(e: FetchError) -> Self {
        IconError::Fetch(Box::new(e))
    }
}

/// What the worker fetches with: the poll's client and host gates (a reload may replace
/// them; the worker takes the latest).
#[derive(Debug, Clone)]
struct Tools {
    fetcher: Fetcher,
    hosts: Arc<Hosts>,
}

/// The queue of feeds whose site's icon is to be looked at: polls add to it, the worker takes
/// from it. Cheap to clone. A handle whose worker does not run only collects.
#[derive(Debug, Clone, Default)]
pub struct Icons {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// A feed was queued.
    queued: Notify,
    /// The queue is empty and no check is under way.
    idle: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Feeds to look at, each once.
    queue: VecDeque<FeedId>,
    queued: HashSet<FeedId>,
    /// The feeds whose site needs nothing before this: their polls cost nothing here.
    not_before: HashMap<FeedId, DateTime<Utc>>,
    /// Sites being checked, so that two feeds of one site do not fetch its icon twice.
    sites: HashSet<String>,
    /// Checks under way.
    running: usize,
    tools: Option<Tools>,
}

impl Icons {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every change is a few inserts and removals: a panic cannot leave it half-changed.
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Called once a poll of `feed` is stored: queues the feed, unless its site's icon is
    /// known to need nothing yet. Never waits.
    pub fn polled(&self, feed: FeedId, fetcher: &Fetcher, hosts: &Arc<Hosts>) {
        {
            let mut state = self.state();
            if state.not_before.get(&feed).is_some_and(|t| *t > Utc::now()) {
                return;
            }
            state.tools = Some(Tools {
                fetcher: fetcher.clone(),
                hosts: hosts.clone(),
            });
            if !state.queued.insert(feed) {
                return;
            }
            state.queue.push_back(feed);
        }
        self.shared.queued.notify_one();
    }

    /// Completes once no feed is queued and no check is under way (`poll-once` waits for
    /// this).
    pub async fn idle(&self) {
        crate::idle::until(&self.shared.idle, || {
            let state = self.state();
            state.queue.is_empty() && state.running == 0
        })
        .await;
    }

    /// The worker: [`WORKERS`] checks at a time until `cancel`, which abandons those under
    /// way (a site is checked again on its feed's next poll).
    pub async fn run(self, store: Store, cancel: CancellationToken) {
        let mut workers = JoinSet::new();
        for _ in 0..WORKERS {
            workers.spawn(self.clone().work(store.clone(), cancel.clone()));
        }
        while workers.join_next().await.is_some() {}
    }

    async fn work(self, store: Store, cancel: CancellationToken) {
        loop {
            let notified = self.shared.queued.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = {
                let mut state = self.state();
                let next = state.queue.pop_front();
                match (next, state.tools.clone()) {
                    (Some(feed), Some(tools)) => {
                        state.queued.remove(&feed);
                        state.running += 1;
                        Some((feed, tools))
                    }
                    _ => None,
                }
            };
            let Some((feed, tools)) = next else {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = notified => continue,
                }
            };
            let not_before = tokio::select! {
                () = cancel.cancelled() => return,
                not_before = self.look_at(&store, feed, &tools) => not_before,
            };
            let idle = {
                let mut state = self.state();
                state.running -= 1;
                match not_before {
                    Some(t) => state.not_before.insert(feed, t),
                    None => state.not_before.remove(&feed),
                };
                state.queue.is_empty() && state.running == 0
            };
            if idle {
                self.shared.idle.notify_waiters();
            }
        }
    }

    /// Looks at `feed`'s site: records which site it is, and checks the site's icon when it
    /// is due. Returns until when the feed needs nothing more.
    async fn look_at(&self, store: &Store, feed: FeedId, tools: &Tools) -> Option<DateTime<Utc>> {
        let warn_store = |e: &crate::store::StoreError| {
            warn!(error = %ErrorChain(e), "cannot read or record a source icon");
        };
        let row = match store.icon_feed(feed).await {
            Ok(row) => row?,
            Err(e) => {
                warn_store(&e);
                return None;
            }
        };
        let feed_url = Url::parse(&row.url).ok()?;
        let site_url = row
            .site_link
            .as_deref()
            .and_then(|s| Url::parse(s).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .unwrap_or_else(|| feed_url.clone());
        let site = site_url.origin().ascii_serialization();
        if let Err(e) = store.set_icon_site(feed, site.clone()).await {
            warn_store(&e);
            return None;
        }
        let stored = match store.icon_site(site.clone()).await {
            Ok(stored) => stored,
            Err(e) => {
                warn_store(&e);
                return None;
            }
        };
        let now = Utc::now();
        if let Some(s) = stored.as_ref().filter(|s| s.next_check > now) {
            return Some(s.next_check);
        }
        if !self.state().sites.insert(site.clone()) {
            // Another feed of the site is checking it: this one looks again on its next poll.
            return None;
        }
        let declared = row.icon_url.as_deref().and_then(|u| Url::parse(u).ok());
        let check = Check {
            feed_url: &feed_url,
            site_url: &site_url,
            tools,
            stored: stored.as_ref(),
        };
        let found = check.run(declared).await;
        self.state().sites.remove(&site);
        let failures = stored.as_ref().map_or(0, |s| s.failures);
        let (result, next) = match found {
            Ok(result) => (result, now + RECHECK),
            Err(IconError::NotNow { .. }) => return None,
            Err(e) => {
                debug!(site = %site, error = %ErrorChain(&e), "no source icon found");
                let error = ErrorChain(&e).to_string();
                (IconCheck::Failed { error }, now + backoff(failures + 1))
            }
        };
        if let IconCheck::Fetched { source_url, .. } = &result {
            debug!(site = %site, icon = %crate::redact::url_text(source_url), "source icon fetched");
        }
        match store.record_icon(site, result, now, next).await {
            Ok(()) => Some(next),
            Err(e) => {
                warn_store(&e);
                None
            }
        }
    }
}

/// How long to wait after the `failures`-th failure in a row: [`FAILURE_BACKOFF`] doubled
/// for each one after the first, at most [`RECHECK`].
pub fn backoff(failures: u32) -> chrono::Duration {
    let wait = FAILURE_BACKOFF
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(RECHECK);
    chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
}

/// One check of a site's icon.
struct Check<'a> {
    feed_url: &'a Url,
    site_url: &'a Url,
    tools: &'a Tools,
    stored: Option<&'a IconSite>,
}

impl Check<'_> {
    /// Tries the places an icon may be, in order, and returns what the first that has one
    /// gave; else the last error.
    async fn run(&self, declared: Option<Url>) -> Result<IconCheck, IconError> {
        let mut tried: Vec<Url> = Vec::new();
        let mut last = None;
        let mut candidates: Vec<Url> = declared.into_iter().collect();
        let mut page_read = false;
        let favicon = self.site_url.join("/favicon.ico").ok();
        loop {
            let url = match candidates.pop() {
                Some(url) => url,
                None if !page_read => {
                    page_read = true;
                    match self.page_icons().await {
                        Ok(mut found) => {
                            found.reverse();
                            candidates = found;
                        }
                        Err(e @ IconError::NotNow { .. }) => return Err(e),
                        Err(e) => last = Some(e),
                    }
                    continue;
                }
                None => match favicon.clone() {
                    Some(url) if !tried.contains(&url) => url,
                    _ => break,
                },
            };
            if tried.contains(&url) || !matches!(url.scheme(), "http" | "https") {
                continue;
            }
            tried.push(url.clone());
            match self.fetch(&url).await {
                Ok(found) => return Ok(found),
                Err(e @ IconError::NotNow { .. }) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| IconError::NotAnImage {
            url: self.site_url.clone(),
        }))
    }

    /// Waits (at most [`MAX_GATE_WAIT`]) until `url`'s host may be asked.
    async fn gate(&self, url: &Url) -> Result<HostPermit, IconError> {
        let deadline = Instant::now() + MAX_GATE_WAIT;
        loop {
            let at = match self.tools.hosts.try_acquire(url) {
                Ok(permit) => return Ok(permit),
                Err(NotYet::Until(at)) => at,
                Err(NotYet::Busy) => Instant::now() + BUSY_RETRY,
            };
            if at > deadline {
                return Err(IconError::NotNow { url: url.clone() });
            }
            tokio::time::sleep_until(at).await;
        }
    }

    /// Pauses the host that asked to be left alone.
    fn honour_pause(&self, e: &FetchError) {
        if let Some((server, wait)) = e.asked_to_wait() {
            self.tools.hosts.pause(server, wait.min(RECHECK));
        }
    }

    /// The icons the site's home page names.
    async fn page_icons(&self) -> Result<Vec<Url>, IconError> {
        let permit = self.gate(self.site_url).await?;
        let limit = crate::html::icons::MAX_SCAN_BYTES as u64;
        let page = self
            .tools
            .fetcher
            .fetch_site_page(self.site_url, self.feed_url, limit)
            .await;
        drop(permit);
        let page = page.inspect_err(|e| self.honour_pause(e))?;
        // `<link>` attributes are ASCII in any encoding a page is likely to use.
        let html = String::from_utf8_lossy(&page.body);
        Ok(crate::html::icons::icons(&html, &page.url))
    }

    /// Fetches `url` (conditionally when it is where the stored icon came from) and keeps it
    /// if it is an image.
    async fn fetch(&self, url: &Url) -> Result<IconCheck, IconError> {
        let stored = self
            .stored
            .filter(|s| s.hash.is_some() && s.source_url.as_deref() == Some(url.as_str()));
        let validators = stored.map(|s| s.validators.clone()).unwrap_or_default();
        let permit = self.gate(url).await?;
        let outcome = self
            .tools
            .fetcher
            .fetch_icon(url, self.feed_url, &validators, MAX_ICON_BYTES)
            .await;
        drop(permit);
        match outcome.inspect_err(|e| self.honour_pause(e))? {
            FetchOutcome::NotModified { validators, .. } => {
                Ok(IconCheck::NotModified { validators })
            }
            FetchOutcome::Fetched(fetched) => {
                let kind = sniff::sniff(&fetched.body).ok_or_else(|| IconError::NotAnImage {
                    url: fetched.url.clone(),
                })?;
                Ok(IconCheck::Fetched {
                    source_url: url.to_string(),
                    content_type: kind.media_type().to_owned(),
                    data: fetched.body,
                    validators: Validators {
                        etag: fetched.validators.etag,
                        last_modified: fetched.validators.last_modified,
                    },
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_up_to_the_recheck() {
        let hours = |n| backoff(n).num_hours();
        assert_eq!([hours(1), hours(2), hours(3)], [1, 2, 4]);
        assert_eq!(hours(9), 168);
        assert_eq!(hours(u32::MAX), 168);
    }
}
