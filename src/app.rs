//! Wiring: a validated [`Config`] → what the daemon ([`Daemon`]) and the one-shot commands
//! (`poll-once`, `render`, `status`, `merges`, `backup`, `export-opml`) are built from: the
//! store, the poll context, the scheduled feeds, the outputs, retention.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::daemon::Daemon;
use crate::fetch::{FetchConfig, Fetcher, Network};
use crate::fulltext::{self, Articles};
use crate::hosts::{HostLimits, Hosts};
use crate::icons::Icons;
use crate::metrics::Metrics;
use crate::model::{PollKind, Subscription};
use crate::output::{FeedCache, Outputs};
use crate::pipeline::{Context, Report};
use crate::render::Format;
use crate::schedule::Policy;
use crate::scheduler::{self, ScheduledFeed};
use crate::store::backup::{BackupError, BackupReport};
use crate::store::{FeedState, FeedStatus, RetentionPolicy, RetentionReport, Store, StoreError};
use crate::websub::Subscriber;

/// Opens the store named by the config.
///
/// # Errors
/// When the database cannot be opened or migrated; the message names the path.
pub async fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    let store = Store::open(&cfg.storage.path)
        .with_context(|| format!("cannot start with database {}", cfg.storage.path.display()))?;
    store
        .set_max_size(cfg.storage.max_size)
        .await
        .context("cannot apply [storage] max_size")?;
    Ok(store)
}

/// Opens the store named by the config for reading only, for the commands that only show
/// what is stored: nothing is created or migrated, and a running daemon is never held up
/// ([`Store::open_read_only`]).
///
/// # Errors
/// When there is no database yet (the message says how to make one), or it is of another
/// version, or cannot be read; the message names the path.
pub fn open_store_read_only(cfg: &Config) -> anyhow::Result<Store> {
    let path = &cfg.storage.path;
    Store::open_read_only(path).map_err(|e| match e {
        // Names the path and what to do already.
        StoreError::Missing { .. } => anyhow::Error::new(e),
        e => anyhow::Error::new(e).context(format!("cannot read database {}", path.display())),
    })
}

/// Copies the database named by the config into `dest` while the daemon may be writing it
/// ([`crate::store::backup::backup`]); an existing `dest` is replaced only if `replace`.
///
/// # Errors
/// When there is no database, the copy cannot be written or fails its check, or `dest`
/// exists; `dest` is then left as it was.
pub fn backup(cfg: &Config, dest: &std::path::Path, replace: bool) -> anyhow::Result<BackupReport> {
    crate::store::backup::backup(&cfg.storage.path, dest, replace).map_err(|e| match e {
        // Names the path and what to do already.
        BackupError::Source(StoreError::Missing { .. }) | BackupError::Exists { .. } => {
            anyhow::Error::new(e)
        }
        e => anyhow::Error::new(e).context(format!(
            "cannot back up database {}",
            cfg.storage.path.display()
        )),
    })
}

/// The poll context for `cfg`: HTTP client, politeness gates, concurrency slots.
///
/// # Errors
/// When the HTTP client cannot be built.
pub fn context(cfg: &Config, store: Store, metrics: Arc<Metrics>) -> anyhow::Result<Context> {
    context_through(cfg, store, metrics, Network::default())
}

/// [`context`], with addresses judged and names resolved by `network`.
fn context_through(
    cfg: &Config,
    store: Store,
    metrics: Arc<Metrics>,
    network: Network,
) -> anyhow::Result<Context> {
    let fetcher = fetcher_through(cfg, network)?;
    Ok(Context {
        fetcher,
        hosts: Arc::new(Hosts::new(host_limits(cfg))),
        slots: Arc::new(Semaphore::new(cfg.poller.concurrency)),
        max_polls: cfg
            .poller
            .concurrency
            .saturating_mul(scheduler::IN_FLIGHT_PER_SLOT),
        cpus: Arc::new(Semaphore::new(
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        )),
        store,
        metrics,
        near_duplicates: cfg.dedupe.near_duplicates.then_some(cfg.dedupe),
        // No worker takes these rounds unless the caller puts a running queue here.
        articles: Articles::default(),
        // Only the daemon takes pushes.
        websub: None,
        icons: Icons::default(),
    })
}

/// The HTTP client of `cfg`'s `[poller]` settings: the fetch policy and limits of a poll.
///
/// # Errors
/// When the HTTP client cannot be built.
pub fn fetcher(cfg: &Config) -> anyhow::Result<Fetcher> {
    fetcher_through(cfg, Network::default())
}

/// [`fetcher`], with addresses judged and names resolved by `network`.
fn fetcher_through(cfg: &Config, network: Network) -> anyhow::Result<Fetcher> {
    Fetcher::new(&FetchConfig {
        user_agent: cfg.poller.user_agent.clone(),
        timeout: cfg.poller.timeout,
        connect_timeout: cfg.poller.connect_timeout,
        max_body: cfg.poller.max_body,
        allow_private_redirects: cfg.poller.allow_private_redirects,
        network,
    })
    .context("cannot set up the HTTP client")
}

/// The feeds behind `url` ([`crate::discover::discover`]), fetched as `cfg`'s polls are.
///
/// # Errors
/// When nothing is found (the error names the address and why), or the HTTP client cannot be
/// built.
pub async fn discover(cfg: &Config, url: &url::Url) -> anyhow::Result<crate::discover::Discovery> {
    Ok(crate::discover::discover(&fetcher(cfg)?, url).await?)
}

/// The per-host limits `cfg` sets.
pub(crate) fn host_limits(cfg: &Config) -> HostLimits {
    HostLimits {
        per_host: cfg.poller.per_host,
        spacing: cfg.poller.per_host_spacing,
    }
}

/// The configured feeds as the store keeps them.
fn subscriptions(cfg: &Config) -> Vec<Subscription> {
    cfg.feeds
        .iter()
        .map(|f| Subscription {
            url: f.url.clone(),
            title: f.title.clone(),
        })
        .collect()
}

/// Registers the configured feeds in the store and pairs each with its schedule limits.
///
/// # Errors
/// When the store cannot be written.
pub async fn scheduled_feeds(cfg: &Config, store: &Store) -> anyhow::Result<Vec<ScheduledFeed>> {
    let feeds = cfg.feeds.clone();
    let subscriptions = {
        let feeds = feeds.clone();
        (0..feeds.len()).map(move |i| Subscription {
            url: feeds[i].url.clone(),
            title: feeds[i].title.clone(),
        })
    };
    let (poller, reading) = (cfg.poller.clone(), cfg.reading_time);
    store
        .sync_feeds_with(subscriptions, move |i, state| {
            let f = &feeds[i];
            ScheduledFeed {
                state,
                policy: Policy {
                    interval: f.interval(&poller),
                    max_interval: poller.max_interval,
                    max_backoff: poller.max_backoff,
                },
                reading: f.reading_time(&reading),
            }
        })
        .await
        .context("cannot register the configured feeds")
}

/// Runs the daemon until `shutdown` completes: polls feeds on schedule and serves the merged
/// feed on `listener`. See [`run_with_reload`].
///
/// # Errors
/// Start-up failures (database, HTTP client), or why the daemon could not go on. A failing
/// feed is never an error here.
pub async fn run(
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (_keep_open, reloads) = mpsc::channel(1);
    run_with_reload(cfg, listener, shutdown, reloads).await
}

/// Runs the daemon until `shutdown` completes; each message on `reloads` (SIGHUP) re-reads the
/// config file, once per burst ([`Daemon::reload`]). On shutdown, or when the daemon cannot
/// go on, it stops in order ([`Daemon::shutdown`]).
///
/// # Errors
/// Start-up failures (database, metrics address, HTTP client), or why the daemon could not
/// go on (its database file was lost). A failing feed is never an error here.
pub async fn run_with_reload(
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    reloads: mpsc::Receiver<()>,
) -> anyhow::Result<()> {
    Daemon::start(cfg, listener)
        .await?
        .run(shutdown, reloads)
        .await
}

/// The poll context of `cfg` with the host gates `hosts`, which outlive reloads so that a
/// `Retry-After` pause is not forgotten, the article and icon queues `articles` and `icons`,
/// and the WebSub subscriptions `websub`, which do too.
pub(crate) fn poll_context(
    cfg: &Config,
    store: &Store,
    metrics: &Arc<Metrics>,
    hosts: &Arc<Hosts>,
    (articles, icons): (&Articles, &Icons),
    websub: &Subscriber,
) -> anyhow::Result<Arc<Context>> {
    let mut ctx = context(cfg, store.clone(), metrics.clone())?;
    ctx.hosts = hosts.clone();
    ctx.articles = articles.clone();
    ctx.websub = Some(websub.clone());
    ctx.icons = icons.clone();
    Ok(Arc::new(ctx))
}

/// Removes old items as `[storage]` says, keeping every item an output shows now.
///
/// # Errors
/// When the store cannot be read or written.
pub async fn apply_retention(cfg: &Config, store: &Store) -> anyhow::Result<RetentionReport> {
    let policy = RetentionPolicy {
        max_age: cfg.storage.max_age,
        max_items_per_feed: cfg.storage.max_items_per_feed,
    };
    if !store.retention_due(policy).await? {
        return Ok(RetentionReport::default());
    }
    let outputs = Outputs::from_config(cfg);
    let mut keep = Vec::new();
    for output in std::iter::once(&outputs.default).chain(outputs.filtered.values()) {
        keep.extend(store.shown_ids(output.selection.clone()).await?);
    }
    // The news page pages back through the default feed's history, as far as it goes: it
    // is bounded by the same limits, so it needs no protection of its own.
    let report = store
        .apply_retention(policy, keep)
        .await
        .context("retention failed")?;
    if report.removed > 0 {
        info!(removed = report.removed, "old items removed");
        store.bump();
    }
    Ok(report)
}

/// Totals of a `poll-once` run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollSummary {
    /// Feeds that returned a new document.
    pub ok: usize,
    /// Feeds that answered 304.
    pub not_modified: usize,
    /// Feeds that failed.
    pub failed: usize,
    /// Items stored for the first time.
    pub items_new: usize,
    /// Items updated.
    pub items_updated: usize,
    /// Polls whose result could not be written to the database (counted in `failed` too).
    pub not_stored: usize,
}

impl std::fmt::Display for PollSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "feeds: {} ok, {} not modified, {} failed; items: {} new, {} updated",
            self.ok, self.not_modified, self.failed, self.items_new, self.items_updated
        )
    }
}

/// Polls every configured feed once, now, and stores the results. `on_done` sees each feed
/// as it finishes. The article pages the polls asked for are fetched meanwhile and after,
/// for at most [`fulltext::ROUND_BUDGET`] once the last poll is done; those left wait in the
/// database for the next run.
///
/// # Errors
/// Start-up failures only; failed feeds are counted in the summary.
pub async fn poll_once(
    cfg: &Config,
    on_done: impl FnMut(&FeedState, Option<&Report>),
) -> anyhow::Result<PollSummary> {
    poll_once_through(cfg, Network::default(), on_done).await
}

/// [`poll_once`], with addresses judged and names resolved by `network` (what tests of the
/// fetch policy use to stand for the internet).
///
/// # Errors
/// As [`poll_once`].
pub async fn poll_once_through(
    cfg: &Config,
    network: Network,
    mut on_done: impl FnMut(&FeedState, Option<&Report>),
) -> anyhow::Result<PollSummary> {
    let store = open_store(cfg).await?;
    let feeds = scheduled_feeds(cfg, &store).await?;
    let articles = Articles::load(&store)
        .await
        .context("cannot read the article pages waiting")?;
    let mut ctx = context_through(cfg, store.clone(), Arc::new(Metrics::default()), network)?;
    ctx.articles = articles.clone();
    let icons = Icons::default();
    ctx.icons = icons.clone();
    let ctx = Arc::new(ctx);
    let stop_articles = CancellationToken::new();
    let worker = tokio::spawn(articles.clone().run(store.clone(), stop_articles.clone()));
    let icon_worker = tokio::spawn(icons.clone().run(store.clone(), stop_articles.clone()));
    let mut summary = PollSummary::default();
    scheduler::poll_all(ctx, feeds, |feed, report| {
        on_done(feed, report);
        match report {
            Some(r) => {
                match r.kind {
                    PollKind::Fetched => summary.ok += 1,
                    PollKind::NotModified => summary.not_modified += 1,
                    PollKind::Failed | PollKind::Gone => summary.failed += 1,
                }
                summary.items_new += r.items_new;
                summary.items_updated += r.items_updated;
            }
            None => {
                summary.failed += 1;
                summary.not_stored += 1;
            }
        }
    })
    .await;
    if tokio::time::timeout(fulltext::ROUND_BUDGET, articles.idle())
        .await
        .is_err()
    {
        info!("article pages still under way are left for the next run");
    }
    // Within the same budget: icons are few and small.
    if tokio::time::timeout(fulltext::ROUND_BUDGET, icons.idle())
        .await
        .is_err()
    {
        info!("source icons still under way are left for the next run");
    }
    stop_articles.cancel();
    if let Err(e) = worker.await {
        warn!(error = %e, "the article worker failed");
    }
    if let Err(e) = icon_worker.await {
        warn!(error = %e, "the icon worker failed");
    }
    // A poll-once from cron keeps the database bounded too. Only a poll that stored something
    // can have grown it; one that did not leaves retention to the next that does.
    if summary.items_new + summary.items_updated > 0 {
        if let Err(e) = apply_retention(cfg, &store).await {
            warn!(error = %format!("{e:#}"), "retention failed");
        }
    }
    Ok(summary)
}

/// The polling state of every configured feed, in config order, for `feedmerge status`.
/// Reads only ([`open_store_read_only`]).
///
/// # Errors
/// When there is no database yet, or it cannot be opened or read.
pub async fn status(cfg: &Config) -> anyhow::Result<Vec<FeedStatus>> {
    let store = open_store_read_only(cfg)?;
    store
        .feed_statuses(&subscriptions(cfg))
        .await
        .context("cannot read the feeds' state")
}

/// The feeds' own titles by URL ([`Store::own_titles`]), for `feedmerge export-opml`. Reads
/// only ([`open_store_read_only`]).
///
/// # Errors
/// When there is no database yet, or it cannot be opened or read.
pub async fn own_titles(cfg: &Config) -> anyhow::Result<HashMap<String, String>> {
    let store = open_store_read_only(cfg)?;
    store
        .own_titles()
        .await
        .context("cannot read the feeds' titles")
}

/// The most recent near-duplicate merges, for `feedmerge merges`. Reads only
/// ([`open_store_read_only`]).
///
/// # Errors
/// When there is no database yet, or it cannot be opened or read.
pub async fn recent_merges(cfg: &Config, limit: usize) -> anyhow::Result<Vec<crate::store::Merge>> {
    let store = open_store_read_only(cfg)?;
    store
        .recent_merges(limit)
        .await
        .context("cannot read the merges")
}

/// The merged feed in `format`, exactly as the server serves it: of the feeds registered
/// by the daemon or the last `poll-once` (a feed added to the config shows once it has been
/// polled; one removed, once the daemon has reloaded). Reads only
/// ([`open_store_read_only`]).
///
/// # Errors
/// When there is no database yet, or it cannot be opened or read.
pub async fn render(cfg: &Config, format: Format) -> anyhow::Result<Vec<u8>> {
    let store = open_store_read_only(cfg)?;
    let cache = FeedCache::new(
        store,
        Outputs::from_config(cfg),
        Arc::new(Metrics::default()),
    );
    let rendered = cache
        .current(format)
        .await
        .context("cannot render the merged feed")?;
    Ok(rendered.identity.to_vec())
}
