//! Full text, the article stage, apart from the polls: stored items that wait for their
//! article page → the page fetched (through `fetch`, under the host gates), its main text
//! extracted ([`extract`]), the item's reading time refined. Whether an item wants its page
//! is decided when it is normalised (`normalize::teaser`); the queue of pages is the
//! store's.
//!
//! A poll stores its items with the content's estimate, grants its feed a round of at most
//! [`MAX_PER_ROUND`] pages ([`Articles::polled`]) and goes on. The worker ([`Articles::run`])
//! fetches them within [`ROUND_BUDGET`], at most [`WORKERS`] at once, under the host gates:
//! it only asks a host ([`Hosts::try_acquire`]), so a paused or busy host's pages wait their
//! turn without holding a worker while other hosts' pages go ahead. Pages wait in the
//! database, so those a round leaves are taken by the feed's next rounds (a poll answered 304
//! grants one too) and outlive restarts. A page is fetched once: a failure is final, except
//! when the host asked to come back later (429, 503) or the round's time ran out, which is
//! tried again by later rounds, [`MAX_ATTEMPTS`] tries in all.

pub mod extract;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};
use url::Url;

use crate::config::{FullText, ReadingTimeConfig};
use crate::fetch::{ErrorChain, FetchError, Fetched, Fetcher};
use crate::hosts::{self, HostPermit, Hosts, NotYet};
use crate::model::{FeedId, ReadingTime, TextSource};
use crate::normalize::{self, reading_time, text};
use crate::redact::Redacted;
use crate::store::{ArticleResult, Store, StoreError};

/// Article pages one poll lets its feed fetch (newest items first); the others wait for the
/// feed's next polls. Bounds what one feed asks of the sites it links to per poll.
pub const MAX_PER_ROUND: usize = 10;

/// How long a round may take from its start: pages not started by then wait for the next
/// round, and a download still under way is cut off (and tried again later). Each page also
/// has the whole-request `[poller] timeout`.
pub const ROUND_BUDGET: Duration = Duration::from_secs(60);

/// Article pages fetched and extracted at once, across all feeds. Apart from `[poller]
/// concurrency`: the polls never wait for article pages. Each holds a page of up to `[poller]
/// max_body` until it is extracted.
pub const WORKERS: usize = 4;

/// Tries of a page whose host asked to come back later or whose round ran out of time; then
/// it counts as failed.
pub const MAX_ATTEMPTS: u32 = 3;

/// How soon a host with as many requests in flight as it allows is asked again.
const BUSY_RETRY: Duration = Duration::from_millis(250);

/// Why an article page gave no estimate.
#[derive(Debug, thiserror::Error)]
pub enum ArticleError {
    /// The request failed (boxed: a fetch error is large, and this one is returned by value
    /// through every step of a page).
    #[error(transparent)]
    Fetch(Box<FetchError>),
    /// The round's budget ran out during the download.
    #[error("the round's time ran out during the download")]
    OutOfTime,
    /// The extractor found no main text.
    #[error("no article text found")]
    NoText,
    /// The extraction panicked (a bug).
    #[error("extraction failed")]
    Extraction(#[source] JoinError),
}

impl From<FetchError> for ArticleError {
    fn from(e: FetchError) -> Self {
        ArticleError::Fetch(Box::new(e))
    }
}

impl ArticleError {
    /// Whether a later round may try the page again: the host asked to come back later, or
    /// the time ran out before the page was in. Anything else would fail the same way again.
    pub fn is_transient(&self) -> bool {
        match self {
            ArticleError::Fetch(e) => matches!(e.status(), Some(429 | 503)),
            ArticleError::OutOfTime => true,
            _ => false,
        }
    }
}

/// What a round needs from the poll that granted it. A reload may replace the client, the
/// host gates and the CPU slots; a round keeps those of its poll.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Where the feed is fetched from.
    pub feed_url: Url,
    /// The feed's reading-time settings.
    pub reading: ReadingTimeConfig,
    /// The HTTP client.
    pub fetcher: Fetcher,
    /// The per-host gates, shared with the polls.
    pub hosts: Arc<Hosts>,
    /// Slots for CPU work, shared with the polls.
    pub cpus: Arc<Semaphore>,
    /// The longest pause a `Retry-After` on an article page may put on its host.
    pub max_pause: Duration,
}

/// The article queue: polls grant rounds through it and the worker takes them. Cheap to
/// clone. A handle whose worker does not run keeps at most one grant per feed.
#[derive(Debug, Clone, Default)]
pub struct Articles {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// A round was granted.
    granted: Notify,
    /// No round is granted or under way any more.
    idle: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Feeds with pages waiting in the database: only their polls grant rounds, so a poll of
    /// any other feed costs no database read here.
    waiting: HashSet<FeedId>,
    /// Rounds granted and not started, one per feed (a later poll's grant replaces it).
    granted: HashMap<FeedId, Grant>,
    /// Rounds under way.
    running: usize,
}

impl Articles {
    /// The queue of the pages waiting in `store` (from earlier runs).
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn load(store: &Store) -> Result<Articles, StoreError> {
        let articles = Articles::default();
        articles.state().waiting = store.pending_article_feeds().await?;
        Ok(articles)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every change is a single insert, removal or count: a panic cannot leave the state
        // half-changed.
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Called once a poll of `feed` is stored: grants the feed a round when it has pages
    /// waiting, which it has when this poll stored items that want theirs (`stored_wanted`)
    /// or an earlier round left some. `grant` is only called then. Never waits.
    pub fn polled(&self, feed: FeedId, stored_wanted: bool, grant: impl FnOnce() -> Grant) {
        {
            let mut state = self.state();
            if stored_wanted {
                state.waiting.insert(feed);
            } else if !state.waiting.contains(&feed) {
                return;
            }
            state.granted.insert(feed, grant());
        }
        self.shared.granted.notify_one();
    }

    /// Completes once no round is granted or under way (`poll-once` waits for this).
    pub async fn idle(&self) {
        crate::idle::until(&self.shared.idle, || {
            let state = self.state();
            state.granted.is_empty() && state.running == 0
        })
        .await;
    }

    /// The worker: runs the granted rounds until `cancel`. On cancel it returns at once; the
    /// pages under way are abandoned (an extraction running on a blocking thread is left to
    /// end with the process) and stay waiting in the database for the next run.
    pub async fn run(self, store: Store, cancel: CancellationToken) {
        let mut worker = Worker {
            articles: self,
            store,
            rounds: HashMap::new(),
            queues: HashMap::new(),
            turns: VecDeque::new(),
            tasks: JoinSet::new(),
            in_flight: HashMap::new(),
        };
        worker.run(cancel).await;
    }
}

/// A round under way.
struct Round {
    grant: Arc<Grant>,
    /// Pages of the round not finished.
    left: usize,
    /// Every page the feed had waiting was in the round, and each ended for good so far.
    settled: bool,
}

/// One page to fetch.
struct Job {
    feed: FeedId,
    id: i64,
    url: Url,
    /// The end of its round.
    deadline: Instant,
    grant: Arc<Grant>,
}

/// The pages waiting for one host. Rounds start one after another with the same budget, so
/// deadlines never decrease along a queue.
#[derive(Default)]
struct HostQueue {
    jobs: VecDeque<Job>,
    /// The host is not asked again before this (a pause, the spacing, all its slots taken).
    until: Option<Instant>,
}

/// A page fetched (or not) and extracted (or not).
struct Done {
    feed: FeedId,
    id: i64,
    url: Url,
    result: Result<(ReadingTime, Option<String>), ArticleError>,
}

struct Worker {
    articles: Articles,
    store: Store,
    rounds: HashMap<FeedId, Round>,
    /// By host ([`hosts::key`]).
    queues: HashMap<String, HostQueue>,
    /// The hosts with pages queued, in turn: one page of each per pass.
    turns: VecDeque<String>,
    tasks: JoinSet<Done>,
    /// The page of each task, for a task that panics.
    in_flight: HashMap<tokio::task::Id, (FeedId, i64)>,
}

impl Worker {
    async fn run(&mut self, cancel: CancellationToken) {
        loop {
            self.start_rounds().await;
            let wake = self.dispatch();
            let shared = self.articles.shared.clone();
            let sleep = async move {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            // Writes and reads happen between the waits, never inside them: a shutdown lets
            // the one under way finish, and abandons only fetches and extractions.
            let finished = tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                Some(done) = self.tasks.join_next_with_id() => Some(done),
                () = shared.granted.notified() => None,
                () = sleep => None,
            };
            if let Some(first) = finished {
                self.finish(first).await;
            }
        }
        let idle = {
            let mut state = self.articles.state();
            state.running = state.running.saturating_sub(self.rounds.len());
            state.running == 0 && state.granted.is_empty()
        };
        if idle {
            self.articles.shared.idle.notify_waiters();
        }
    }

    /// Starts the granted rounds of the feeds that have none under way.
    async fn start_rounds(&mut self) {
        let taken: Vec<(FeedId, Grant)> = {
            let mut state = self.articles.state();
            let feeds: Vec<FeedId> = state
                .granted
                .keys()
                .filter(|f| !self.rounds.contains_key(f))
                .copied()
                .collect();
            state.running += feeds.len();
            feeds
                .into_iter()
                .filter_map(|f| Some((f, state.granted.remove(&f)?)))
                .collect()
        };
        for (feed, grant) in taken {
            self.start_round(feed, Arc::new(grant)).await;
        }
    }

    async fn start_round(&mut self, feed: FeedId, grant: Arc<Grant>) {
        let feed_url = Redacted(&grant.feed_url);
        if grant.reading.full_text == FullText::Never {
            // The feed's settings changed since its pages were queued.
            let forgot = self.store.forget_pending_articles(feed).await;
            if let Err(e) = &forgot {
                warn!(feed_url = %feed_url, error = %e, "cannot take article pages off the queue");
            }
            self.end_round(feed, forgot.is_ok());
            return;
        }
        // One more than a round takes tells whether the round takes them all.
        let pending = match self.store.pending_articles(feed, MAX_PER_ROUND + 1).await {
            Ok(pending) => pending,
            Err(e) => {
                warn!(feed_url = %feed_url, error = %e, "cannot read the article pages waiting");
                self.end_round(feed, false);
                return;
            }
        };
        let mut round = Round {
            grant: grant.clone(),
            left: 0,
            settled: pending.len() <= MAX_PER_ROUND,
        };
        debug!(feed_url = %feed_url, pages = pending.len().min(MAX_PER_ROUND), "article round");
        let deadline = Instant::now() + ROUND_BUDGET;
        let mut unusable = Vec::new();
        for page in pending.into_iter().take(MAX_PER_ROUND) {
            let url = page
                .link
                .as_deref()
                .and_then(|l| Url::parse(l).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https"));
            match url {
                Some(url) => {
                    round.left += 1;
                    self.queue(Job {
                        feed,
                        id: page.id,
                        url,
                        deadline,
                        grant: grant.clone(),
                    });
                }
                None => unusable.push((page.id, ArticleResult::Failed)),
            }
        }
        if !unusable.is_empty() {
            if let Err(e) = self.store.record_articles(unusable).await {
                warn!(feed_url = %feed_url, error = %e, "cannot record article pages");
                round.settled = false;
            }
        }
        if round.left == 0 {
            self.end_round(feed, round.settled);
        } else {
            self.rounds.insert(feed, round);
        }
    }

    fn queue(&mut self, job: Job) {
        let key = hosts::key(&job.url);
        let queue = match self.queues.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                self.turns.push_back(e.key().clone());
                e.insert(HostQueue::default())
            }
        };
        queue.jobs.push_back(job);
    }

    /// Starts what may start now: while workers are free, one page of each host in turn
    /// whose gate lets it start. Pages whose round ends before their host opens leave the
    /// round (they stay waiting). Returns when to look again: a host opens, a round ends.
    fn dispatch(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let mut wake: Option<Instant> = None;
        let mut out_of_time = Vec::new();
        loop {
            let mut started = false;
            for _ in 0..self.turns.len() {
                let Some(key) = self.turns.pop_front() else {
                    break;
                };
                let Some(queue) = self.queues.get_mut(&key) else {
                    continue;
                };
                let open = queue.until.is_none_or(|u| u <= now);
                if open && self.tasks.len() < WORKERS {
                    queue.until = None;
                    drop_until(queue, now, &mut out_of_time);
                    if let Some(job) = queue.jobs.front() {
                        match job.grant.hosts.try_acquire(&job.url) {
                            Ok(permit) => {
                                // Invariant: front() was Some just above.
                                let job = queue.jobs.pop_front().expect("a queued page");
                                let (feed, id) = (job.feed, job.id);
                                let task = self.tasks.spawn(work(job, permit));
                                self.in_flight.insert(task.id(), (feed, id));
                                started = true;
                            }
                            Err(NotYet::Until(at)) => {
                                queue.until = Some(at);
                                drop_until(queue, at, &mut out_of_time);
                            }
                            Err(NotYet::Busy) => queue.until = Some(now + BUSY_RETRY),
                        }
                    }
                }
                match queue.jobs.front() {
                    Some(next) => {
                        let at = queue.until.map_or(next.deadline, |u| u.min(next.deadline));
                        wake = Some(wake.map_or(at, |w| w.min(at)));
                        self.turns.push_back(key);
                    }
                    None => {
                        self.queues.remove(&key);
                    }
                }
            }
            if !started || self.tasks.len() >= WORKERS {
                break;
            }
        }
        for feed in out_of_time {
            self.page_done(feed, false);
        }
        // While every worker is busy, a finished task wakes the worker; a past time would
        // only spin.
        wake.filter(|&w| w > now)
    }

    /// Records what the finished tasks gave (`first` and any others done by now), in one
    /// write.
    async fn finish(&mut self, first: Result<(tokio::task::Id, Done), JoinError>) {
        let mut finished = vec![self.outcome(first)];
        while let Some(more) = self.tasks.try_join_next_with_id() {
            finished.push(self.outcome(more));
        }
        let results = finished
            .iter()
            .map(|(_, id, result)| (*id, result.clone()))
            .collect();
        let recorded = match self.store.record_articles(results).await {
            Ok(_) => true,
            Err(e) => {
                // The pages stay waiting: a later round tries them again.
                warn!(error = %e, "cannot record article pages");
                false
            }
        };
        for (feed, _, result) in finished {
            let ended = recorded && !matches!(result, ArticleResult::Retry { .. });
            self.page_done(feed, ended);
        }
    }

    /// A finished task's page and result, logged.
    fn outcome(
        &mut self,
        joined: Result<(tokio::task::Id, Done), JoinError>,
    ) -> (FeedId, i64, ArticleResult) {
        let done = match joined {
            Ok((task, done)) => {
                self.in_flight.remove(&task);
                done
            }
            Err(e) => {
                // Work only ends early by a panic: the worker itself never aborts its tasks.
                let (feed, id) = self
                    .in_flight
                    .remove(&e.id())
                    .expect("every task's page is known");
                error!(error = %e, "article task crashed (a bug: please report it)");
                return (feed, id, ArticleResult::Failed);
            }
        };
        let feed_url = self
            .rounds
            .get(&done.feed)
            .map(|r| Redacted(&r.grant.feed_url));
        let article = Redacted(&done.url);
        let result = match done.result {
            Ok((reading_time, html)) => {
                debug!(feed_url = feed_url.map(tracing::field::display), article = %article,
                    minutes = reading_time.minutes, words = reading_time.words, "article extracted");
                ArticleResult::Extracted { reading_time, html }
            }
            Err(e) if e.is_transient() => {
                debug!(feed_url = feed_url.map(tracing::field::display), article = %article,
                    error = %ErrorChain(&e), "article not extracted; tried again later");
                ArticleResult::Retry {
                    max_attempts: MAX_ATTEMPTS,
                }
            }
            Err(e) => {
                debug!(feed_url = feed_url.map(tracing::field::display), article = %article,
                    error = %ErrorChain(&e), "article not extracted; the content's estimate stays");
                ArticleResult::Failed
            }
        };
        (done.feed, done.id, result)
    }

    /// One page of `feed`'s round is over; `ended` says whether for good.
    fn page_done(&mut self, feed: FeedId, ended: bool) {
        let Some(round) = self.rounds.get_mut(&feed) else {
            return;
        };
        round.left -= 1;
        round.settled &= ended;
        if round.left == 0 {
            let settled = round.settled;
            self.rounds.remove(&feed);
            self.end_round(feed, settled);
        }
    }

    /// `feed`'s round is over. When it `settled` every page the feed had waiting, and no
    /// poll granted another round meanwhile, the feed has none left.
    fn end_round(&self, feed: FeedId, settled: bool) {
        let idle = {
            let mut state = self.articles.state();
            state.running = state.running.saturating_sub(1);
            if settled && !state.granted.contains_key(&feed) {
                state.waiting.remove(&feed);
            }
            state.running == 0 && state.granted.is_empty()
        };
        if idle {
            self.articles.shared.idle.notify_waiters();
        }
    }
}

/// Takes the pages at the front of `queue` whose round ends by `at` out of it (deadlines
/// never decrease along a queue), noting their feeds in `out`.
fn drop_until(queue: &mut HostQueue, at: Instant, out: &mut Vec<FeedId>) {
    while let Some(job) = queue.jobs.front() {
        if job.deadline > at {
            break;
        }
        out.push(job.feed);
        queue.jobs.pop_front();
    }
}

/// Fetches one page (holding its host's permit until the body is in) and extracts it.
async fn work(job: Job, permit: HostPermit) -> Done {
    let grant = &job.grant;
    let left = job.deadline.saturating_duration_since(Instant::now());
    let page = tokio::time::timeout(left, fetch_page(&grant.fetcher, &job.url, &grant.feed_url))
        .await
        .unwrap_or(Err(ArticleError::OutOfTime));
    drop(permit);
    if let Err(ArticleError::Fetch(e)) = &page {
        if let Some((server, wait)) = e.asked_to_wait() {
            // Like a feed's: the whole server waits, within the feed's own backoff cap.
            grant.hosts.pause(server, wait.min(grant.max_pause));
        }
    }
    let result = match page {
        Ok(page) => extract(page, grant).await,
        Err(e) => Err(e),
    };
    Done {
        feed: job.feed,
        id: job.id,
        url: job.url,
        result,
    }
}

/// Whether a page's media type is HTML (none given: it may be).
fn is_html(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|t| matches!(t, "text/html" | "application/xhtml+xml"))
}

/// Fetches the article page `url` of an item of the feed at `feed_url`, where the fetch
/// policy lets an article link lead: an HTML page only, its media type checked before its body
/// is read. The one request of this module.
async fn fetch_page(fetcher: &Fetcher, url: &Url, feed_url: &Url) -> Result<Fetched, ArticleError> {
    Ok(fetcher.fetch_article(url, feed_url, is_html).await?)
}

/// Extracts the main text of `page` on a blocking thread, in a CPU slot: its reading time,
/// and its HTML when the feed's settings put it into the merged feed.
async fn extract(
    page: Fetched,
    grant: &Grant,
) -> Result<(ReadingTime, Option<String>), ArticleError> {
    // Invariant: the semaphore is never closed.
    let _cpu = grant.cpus.acquire().await.expect("semaphore open");
    let reading = grant.reading;
    tokio::task::spawn_blocking(move || read_article(&page, &reading))
        .await
        .unwrap_or_else(|e| Err(ArticleError::Extraction(e)))
}

/// The reading time of the article in `page`, and its HTML (at most
/// [`normalize::MAX_CONTENT_BYTES`], like any item's content) when the settings put it into
/// the merged feed. The estimate counts the whole article.
fn read_article(
    page: &Fetched,
    reading: &ReadingTimeConfig,
) -> Result<(ReadingTime, Option<String>), ArticleError> {
    let html = extract::decode(&page.body, page.charset.as_deref());
    let mut content = extract::extract(&html, page.url.as_str()).ok_or(ArticleError::NoText)?;
    let visible = text::visible(&content);
    let estimate = reading_time::estimate(&visible.text, visible.images, TextSource::Full, reading);
    if !reading.include_full_text {
        return Ok((estimate, None));
    }
    normalize::cut_html(&mut content, normalize::MAX_CONTENT_BYTES);
    Ok((estimate, Some(content)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::FetchConfig;
    use crate::fetch::Network;
    use crate::hosts::HostLimits;
    use crate::model::{ItemKey, NewItem};
    use wiremock::matchers::path_regex;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn grant(feed_url: &str, hosts: &Arc<Hosts>) -> Grant {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Grant {
            feed_url: Url::parse(feed_url).unwrap(),
            reading: ReadingTimeConfig::default(),
            fetcher: Fetcher::new(&FetchConfig {
                user_agent: "test".into(),
                timeout: Duration::from_secs(10),
                connect_timeout: Duration::from_secs(5),
                max_body: 1 << 20,
                allow_private_redirects: false,
                // The test server stands for the sites articles live on.
                network: Network {
                    is_public: |_| true,
                    ..Network::default()
                },
            })
            .unwrap(),
            hosts: hosts.clone(),
            cpus: Arc::new(Semaphore::new(1)),
            max_pause: Duration::from_secs(3600),
        }
    }

    fn hosts() -> Arc<Hosts> {
        Arc::new(Hosts::new(HostLimits {
            per_host: 2,
            spacing: Duration::ZERO,
        }))
    }

    fn page() -> ResponseTemplate {
        let words = "The council met on Tuesday to talk about the bridge. ".repeat(80);
        ResponseTemplate::new(200).set_body_raw(
            format!("<html><body><article><p>{words}</p></article></body></html>"),
            "text/html",
        )
    }

    #[test]
    fn only_feeds_with_pages_waiting_get_a_round() {
        let articles = Articles::default();
        let h = hosts();
        articles.polled(FeedId(1), false, || panic!("no round without pages"));
        articles.polled(FeedId(2), true, || grant("http://127.0.0.1:9/a", &h));
        // Pages left over: the feed's next poll grants a round even if it stored nothing.
        articles.polled(FeedId(2), false, || grant("http://127.0.0.1:9/b", &h));
        let state = articles.state();
        assert_eq!(state.granted.len(), 1, "one round per feed");
        assert_eq!(state.granted[&FeedId(2)].feed_url.path(), "/b");
    }

    /// Registers feeds at `urls` in `store`.
    async fn feeds(store: &Store, urls: &[&str]) -> Vec<FeedId> {
        let configs: Vec<_> = urls
            .iter()
            .map(|u| crate::model::Subscription::new(Url::parse(u).unwrap()))
            .collect();
        let states = store.sync_feeds(&configs).await.unwrap();
        states.iter().map(|s| s.id).collect()
    }

    /// Stores `n` items of `feed` that want their page at `pages/i`.
    async fn save_pages(store: &Store, feed: FeedId, pages: &str, n: usize) {
        let items = (0..n)
            .map(|i| NewItem {
                key: ItemKey(format!("{i}")),
                title: format!("item {i}"),
                link: Some(format!("{pages}/{i}")),
                wants_full_text: true,
                ..NewItem::default()
            })
            .collect();
        let record = crate::store::PollRecord::fetched_now(items);
        store.record_poll(feed, record).await.unwrap();
    }

    /// A paused host's pages hold no worker: granted first, they wait their turn while a
    /// page of another host granted later is fetched at once. Pages whose host stays paused
    /// past their round's budget leave the round at once; all stay waiting, untried.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_paused_host_holds_no_worker() {
        let servers = [
            MockServer::start().await,
            MockServer::start().await,
            MockServer::start().await,
        ];
        for server in &servers {
            Mock::given(path_regex("^/p/"))
                .respond_with(page())
                .mount(server)
                .await;
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let h = hosts();
        let urls = [
            "http://127.0.0.1:9/a",
            "http://127.0.0.1:9/b",
            "http://127.0.0.1:9/c",
        ];
        let ids = feeds(&store, &urls).await;
        let pages: Vec<String> = servers.iter().map(|s| format!("{}/p", s.uri())).collect();
        // a: paused for less than a round's budget, b: for longer, c: open.
        save_pages(&store, ids[0], &pages[0], 3 * WORKERS).await;
        save_pages(&store, ids[1], &pages[1], 3 * WORKERS).await;
        save_pages(&store, ids[2], &pages[2], 1).await;
        h.pause(&Url::parse(&pages[0]).unwrap(), ROUND_BUDGET / 2);
        h.pause(&Url::parse(&pages[1]).unwrap(), Duration::from_secs(86_400));

        let articles = Articles::load(&store).await.unwrap();
        let cancel = CancellationToken::new();
        let worker = tokio::spawn(articles.clone().run(store.clone(), cancel.clone()));
        articles.polled(ids[0], false, || grant(urls[0], &h));
        articles.polled(ids[1], false, || grant(urls[1], &h));
        tokio::time::sleep(Duration::from_millis(300)).await;
        articles.polled(ids[2], false, || grant(urls[2], &h));
        // Then only the round of the host paused for less than its budget is under way.
        let fetched = async {
            while !store.pending_articles(ids[2], 1).await.unwrap().is_empty()
                || articles.state().running != 1
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), fetched)
            .await
            .expect("the open host's page is fetched while the others wait");
        cancel.cancel();
        worker.await.unwrap();

        for (server, feed) in servers[..2].iter().zip(&ids) {
            assert!(server.received_requests().await.unwrap().is_empty());
            let waiting = store.pending_articles(*feed, 100).await.unwrap();
            assert_eq!(waiting.len(), 3 * WORKERS, "untried, still waiting");
        }
        assert_eq!(servers[2].received_requests().await.unwrap().len(), 1);
        let state = articles.state();
        assert!(state.waiting.contains(&ids[0]) && state.waiting.contains(&ids[1]));
        assert!(!state.waiting.contains(&ids[2]));
    }

    fn job(url: &str, deadline: Instant, hosts: &Arc<Hosts>) -> Job {
        Job {
            feed: FeedId(1),
            id: 1,
            url: Url::parse(url).unwrap(),
            deadline,
            grant: Arc::new(grant("http://127.0.0.1:9/feed", hosts)),
        }
    }

    #[tokio::test]
    async fn a_download_is_cut_at_the_end_of_its_round() {
        let server = MockServer::start().await;
        Mock::given(path_regex("^/slow"))
            .respond_with(page().set_delay(Duration::from_secs(8)))
            .mount(&server)
            .await;
        let h = hosts();
        let url = format!("{}/slow", server.uri());
        let permit = h.try_acquire(&Url::parse(&url).unwrap()).unwrap();
        let started = Instant::now();
        let deadline = started + Duration::from_millis(300);
        let done = work(job(&url, deadline, &h), permit).await;
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        let e = done.result.unwrap_err();
        assert!(
            matches!(e, ArticleError::OutOfTime) && e.is_transient(),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_host_that_asks_to_wait_is_paused_and_asked_again_later() {
        let server = MockServer::start().await;
        Mock::given(path_regex("^/busy"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
            .mount(&server)
            .await;
        let h = hosts();
        let url = format!("{}/busy", server.uri());
        let u = Url::parse(&url).unwrap();
        let deadline = Instant::now() + ROUND_BUDGET;
        let done = work(job(&url, deadline, &h), h.try_acquire(&u).unwrap()).await;
        let e = done.result.unwrap_err();
        assert!(e.is_transient(), "{e}");
        match h.try_acquire(&u) {
            Err(NotYet::Until(at)) => assert!(at > Instant::now() + Duration::from_secs(100)),
            other => panic!("not paused: {other:?}"),
        }
    }

    /// An article carried in the merged feed is capped like any item's content, and its
    /// estimate still counts all of it.
    #[test]
    fn a_carried_article_is_capped_like_content() {
        let paragraph = format!("<p>{}</p>", "river council bridge ".repeat(40));
        let body = format!(
            "<html><body><article><h1>Long</h1>{}</article></body></html>",
            paragraph.repeat(1000)
        );
        assert!(body.len() > 2 * normalize::MAX_CONTENT_BYTES);
        let page = Fetched {
            url: Url::parse("https://example.org/long").unwrap(),
            status: 200,
            body: body.into_bytes(),
            charset: None,
            content_type: Some("text/html".into()),
            validators: Default::default(),
            cache: Default::default(),
            moved_to: None,
            links: Default::default(),
        };
        let mut reading = ReadingTimeConfig {
            include_full_text: true,
            ..ReadingTimeConfig::default()
        };
        let (estimate, html) = read_article(&page, &reading).unwrap();
        let html = html.unwrap();
        assert!(html.len() <= normalize::MAX_CONTENT_BYTES, "{}", html.len());
        assert!(html.contains("river council"));
        assert!(estimate.words >= 100_000, "{estimate:?}");
        reading.include_full_text = false;
        assert_eq!(read_article(&page, &reading).unwrap(), (estimate, None));
    }

    #[test]
    fn only_html_is_extracted_and_only_some_failures_are_tried_again() {
        assert!(is_html(Some("text/html")) && is_html(None));
        assert!(!is_html(Some("audio/mpeg")));
        assert!(!ArticleError::NoText.is_transient());
        let not_html = FetchError::MediaType {
            url: Url::parse("https://example.org/a.pdf").unwrap(),
            content_type: Some("application/pdf".into()),
        };
        assert!(!ArticleError::from(not_html).is_transient());
    }
}
