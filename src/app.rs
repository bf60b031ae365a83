//! Wiring: a validated [`Config`] → a running daemon (store, scheduler, HTTP server, ordered
//! shutdown), or one of the one-shot commands (`poll-once`, `render`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use sd_notify::NotifyState;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::articles::{self, Articles};
use crate::config::{Config, MetricsEndpoint};
use crate::fetch::{FetchConfig, Fetcher, Network};
use crate::hosts::{HostLimits, Hosts};
use crate::metrics::Metrics;
use crate::output::{FeedCache, Outputs};
use crate::pipeline::{Context, Outcome, Report};
use crate::render::Format;
use crate::schedule::Policy;
use crate::scheduler::{self, ScheduledFeed, Scheduler};
use crate::serve::{self, AppState, LimitedListener};
use crate::store::{FeedState, FeedStatus, RetentionPolicy, RetentionReport, Store};

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
    let fetcher = Fetcher::new(&FetchConfig {
        user_agent: cfg.poller.user_agent.clone(),
        timeout: cfg.poller.timeout,
        connect_timeout: cfg.poller.connect_timeout,
        max_body: cfg.poller.max_body,
        allow_private_redirects: cfg.poller.allow_private_redirects,
        network,
    })
    .context("cannot set up the HTTP client")?;
    Ok(Context {
        fetcher,
        hosts: Arc::new(Hosts::new(host_limits(cfg))),
        slots: Arc::new(Semaphore::new(cfg.poller.concurrency)),
        cpus: Arc::new(Semaphore::new(
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        )),
        store,
        metrics,
        near_duplicates: cfg.dedupe.near_duplicates.then_some(cfg.dedupe),
        // No worker takes these rounds unless the caller puts a running queue here.
        articles: Articles::default(),
    })
}

fn host_limits(cfg: &Config) -> HostLimits {
    HostLimits {
        per_host: cfg.poller.per_host,
        spacing: cfg.poller.per_host_spacing,
    }
}

/// Registers the configured feeds in the store and pairs each with its schedule limits.
///
/// # Errors
/// When the store cannot be written.
pub async fn scheduled_feeds(cfg: &Config, store: &Store) -> anyhow::Result<Vec<ScheduledFeed>> {
    let states = store
        .sync_feeds(&cfg.feeds)
        .await
        .context("cannot register the configured feeds")?;
    Ok(states
        .into_iter()
        .zip(&cfg.feeds)
        .map(|(state, f)| ScheduledFeed {
            state,
            policy: Policy {
                interval: f.interval(&cfg.poller),
                max_interval: cfg.poller.max_interval,
                max_backoff: cfg.poller.max_backoff,
            },
            reading: f.reading_time(&cfg.reading_time),
        })
        .collect())
}

/// Runs the daemon until `shutdown` completes: polls feeds on schedule and serves the merged
/// feed on `listener`. See [`run_with_reload`].
///
/// # Errors
/// Start-up failures (database, HTTP client). A failing feed is never an error here.
pub async fn run(
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (_keep_open, reloads) = mpsc::channel(1);
    run_with_reload(cfg, listener, shutdown, reloads).await
}

/// The poll context of `cfg` with the host gates `hosts`, which outlive reloads so that a
/// `Retry-After` pause is not forgotten, and the article queue `articles`, which does too.
fn poll_context(
    cfg: &Config,
    store: &Store,
    metrics: &Arc<Metrics>,
    hosts: &Arc<Hosts>,
    articles: &Articles,
) -> anyhow::Result<Arc<Context>> {
    let mut ctx = context(cfg, store.clone(), metrics.clone())?;
    ctx.hosts = hosts.clone();
    ctx.articles = articles.clone();
    Ok(Arc::new(ctx))
}

/// The keys a reload cannot apply, because what they set up exists once per run (the
/// listening sockets, the database connection), that differ between `old` and `new`. A
/// reload that changes any of them is refused whole: nothing half-applies.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let (o, n) = (&old.server, &new.server);
    [
        ("[server] listen", o.listen != n.listen),
        ("[server] metrics", o.metrics != n.metrics),
        (
            "[server] max_connections",
            o.max_connections != n.max_connections,
        ),
        ("[server] idle_timeout", o.idle_timeout != n.idle_timeout),
        (
            "[server] header_timeout",
            o.header_timeout != n.header_timeout,
        ),
        ("[storage] path", old.storage.path != new.storage.path),
    ]
    .into_iter()
    .filter_map(|(key, changed)| changed.then_some(key))
    .collect()
}

/// How long a reload waits for more SIGHUPs before it reads the config: a burst is one reload.
pub const RELOAD_SETTLE: Duration = Duration::from_millis(200);

/// Runs the daemon until `shutdown` completes; each message on `reloads` (SIGHUP) re-reads the
/// config file, once per burst. A valid new config replaces the running one: feeds added start
/// polling, feeds removed stop and leave the merged feed, changed settings apply; polls in
/// flight of the feeds that stay are not interrupted. An invalid config, or one that changes
/// a key only a restart can apply ([`restart_only_changes`]), is logged and ignored whole.
///
/// On shutdown, in order: stop scheduling, let in-flight polls finish their writes, stop the
/// HTTP server, close the store.
///
/// # Errors
/// Start-up failures (database, HTTP client). A failing feed is never an error here.
pub async fn run_with_reload(
    mut cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    mut reloads: mpsc::Receiver<()>,
) -> anyhow::Result<()> {
    let store = open_store(&cfg).await?;
    let metrics = Arc::new(Metrics::default());
    let cancel = CancellationToken::new();
    let background = TaskTracker::new();
    let mut hosts = Arc::new(Hosts::new(host_limits(&cfg)));
    // Bound before anything runs, so that a failure here needs no shutdown.
    let metrics_listener = match cfg.server.metrics {
        MetricsEndpoint::Separate(metrics_addr) => Some(
            TcpListener::bind(metrics_addr)
                .await
                .with_context(|| format!("cannot listen on {metrics_addr} ([server] metrics)"))?,
        ),
        _ => None,
    };
    // Article pages are fetched beside the polls, and abandoned at shutdown (they wait in
    // the database for the next start).
    let articles = Articles::load(&store)
        .await
        .context("cannot read the article pages waiting")?;
    let mut scheduler = Scheduler::start(
        poll_context(&cfg, &store, &metrics, &hosts, &articles)?,
        scheduled_feeds(&cfg, &store).await?,
        &cancel,
    );
    background.spawn(articles.clone().run(store.clone(), cancel.clone()));

    let state = Arc::new(AppState {
        feed: FeedCache::new(store.clone(), Outputs::from_config(&cfg), metrics.clone()),
        store: store.clone(),
        metrics: metrics.clone(),
        ready: AtomicBool::new(true),
    });
    let addr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let on_listener = cfg.server.metrics == MetricsEndpoint::Listener;
    let limits = serve::Limits {
        max_connections: cfg.server.max_connections,
        idle_timeout: cfg.server.idle_timeout,
        header_timeout: cfg.server.header_timeout,
    };
    let listener = LimitedListener::new(listener, limits);
    let server = tokio::spawn(
        serve::serve(listener, serve::router(state.clone(), on_listener))
            .with_graceful_shutdown(cancel.clone().cancelled_owned())
            .into_future(),
    );
    if let Some(metrics_listener) = metrics_listener {
        let serve_metrics = serve::serve(
            LimitedListener::new(metrics_listener, limits),
            serve::metrics_router(state.clone()),
        )
        .with_graceful_shutdown(cancel.clone().cancelled_owned());
        background.spawn(async move {
            if let Err(e) = serve_metrics.await {
                warn!(error = %e, "metrics server stopped");
            }
        });
    }
    info!(listen = %addr, feeds = cfg.feeds.len(), database = %store.path().display(), "started");
    let (file_lost, mut lost) = tokio::sync::oneshot::channel();
    background.spawn(watch_external_writes(
        store.clone(),
        cancel.clone(),
        file_lost,
    ));
    let mut failure = None;
    // Retention follows the config at start; a reload restarts it with the new one.
    let mut retention = cancel.child_token();
    background.spawn(retention_loop(
        cfg.clone(),
        store.clone(),
        retention.clone(),
    ));
    // Readiness for systemd (Type=notify): the database is migrated and the socket is bound.
    // Outside systemd NOTIFY_SOCKET is unset and these calls do nothing.
    notify(&[NotifyState::Ready]);

    // The watchdog is fed only while the scheduler runs and the database answers; systemd
    // restarts a daemon that stops feeding it.
    let watchdog = sd_notify::watchdog_enabled();
    let mut tick = tokio::time::interval(watchdog.map_or(STATUS_INTERVAL, |w| w / 2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut healthy = true;

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Ok(e) = &mut lost => {
                // systemd (Restart=on-failure) starts it again on a fresh file.
                failure = Some(anyhow::Error::new(e).context("stopped"));
                break;
            }
            _ = tick.tick() => {
                let db = store.ping().await;
                let ok = db.is_ok() && scheduler.alive();
                if ok && watchdog.is_some() {
                    notify(&[NotifyState::Watchdog]);
                }
                if ok != healthy {
                    match &db {
                        Ok(()) if ok => info!("healthy again"),
                        Ok(()) => error!("the scheduler stopped; the watchdog is not fed"),
                        Err(e) => error!(error = %e, "the database does not answer; the watchdog is not fed"),
                    }
                    healthy = ok;
                }
                if let Ok(c) = store.feed_counts().await {
                    let line = format!("{} feeds: {} ok, {} failing, {} gone, {} new", c.ok + c.failing + c.gone + c.new, c.ok, c.failing, c.gone, c.new);
                    notify(&[NotifyState::Status(&line)]);
                }
            }
            Some(()) = reloads.recv() => {
                tokio::time::sleep(RELOAD_SETTLE).await;
                while reloads.try_recv().is_ok() {}
                let new = match Config::load(&cfg.source) {
                    Ok(new) => new,
                    Err(e) => {
                        error!(error = %e, "config reload rejected; the running config stays");
                        continue;
                    }
                };
                let fixed = restart_only_changes(&cfg, &new);
                if !fixed.is_empty() {
                    error!(
                        keys = %fixed.join(", "),
                        "config reload rejected: these keys take effect only after a restart; the running config stays"
                    );
                    continue;
                }
                // systemd wants the monotonic time with RELOADING=1 (sd_notify(3)).
                let mut reloading = vec![NotifyState::Reloading];
                reloading.extend(NotifyState::monotonic_usec_now().ok());
                notify(&reloading);
                let new_hosts = if host_limits(&new) == host_limits(&cfg) {
                    hosts.clone()
                } else {
                    Arc::new(Hosts::new(host_limits(&new)))
                };
                let prepared = async {
                    let ctx = poll_context(&new, &store, &metrics, &new_hosts, &articles)?;
                    anyhow::Ok((ctx, scheduled_feeds(&new, &store).await?))
                };
                match prepared.await {
                    Ok((ctx, feeds)) => {
                        let changes = scheduler.reconfigure(ctx, feeds);
                        hosts = new_hosts;
                        state.feed.reconfigure(Outputs::from_config(&new));
                        info!(
                            feeds = new.feeds.len(),
                            added = changes.added,
                            removed = changes.removed,
                            changed = changes.changed,
                            "config reloaded"
                        );
                        if let Err(e) = store.set_max_size(new.storage.max_size).await {
                            warn!(error = %e, "cannot apply the new [storage] max_size");
                        }
                        retention.cancel();
                        retention = cancel.child_token();
                        background.spawn(retention_loop(new.clone(), store.clone(), retention.clone()));
                        cfg = new;
                    }
                    Err(e) => {
                        error!(error = %format!("{e:#}"), "config reload failed; the running config stays");
                    }
                }
                notify(&[NotifyState::Ready]);
            }
        }
    }

    notify(&[NotifyState::Stopping]);
    state.ready.store(false, Ordering::Release);
    cancel.cancel();
    // One deadline for the whole stop: polls in flight, then the background tasks (retention,
    // the article worker, the metrics listener's connections), then the server's connections.
    let deadline = tokio::time::Instant::now() + cfg.server.shutdown_timeout;
    scheduler
        .stop(deadline.saturating_duration_since(tokio::time::Instant::now()))
        .await;
    background.close();
    if tokio::time::timeout_at(deadline, background.wait())
        .await
        .is_err()
    {
        warn!("background work still running at shutdown was abandoned");
    }
    match tokio::time::timeout_at(deadline, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => warn!(error = %e, "HTTP server stopped with an error"),
        Ok(Err(e)) => warn!(error = %e, "HTTP server task failed"),
        Err(_) => warn!("HTTP connections still open at shutdown were dropped"),
    }
    drop(store);
    info!("stopped");
    failure.map_or(Ok(()), Err)
}

/// How often retention runs in the daemon.
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

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

/// Runs retention now and then every [`RETENTION_INTERVAL`] until `cancel`.
async fn retention_loop(cfg: Config, store: Store, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(RETENTION_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = apply_retention(&cfg, &store).await {
            warn!(error = %format!("{e:#}"), "retention failed; will try again");
        }
    }
}

/// How often the `STATUS=` line is refreshed when systemd's watchdog is off.
const STATUS_INTERVAL: Duration = Duration::from_secs(30);

/// Tells systemd (when `NOTIFY_SOCKET` is set) about the daemon's state.
fn notify(state: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        warn!(error = %e, "cannot notify systemd");
    }
}

/// How often the daemon looks for writes by other processes (`feedmerge poll-once`).
pub const EXTERNAL_WRITE_CHECK: Duration = Duration::from_secs(2);

/// Keeps the served feed current when another process writes to the database, and sends on
/// `lost` (then ends) once the database file is removed or replaced.
async fn watch_external_writes(
    store: Store,
    cancel: CancellationToken,
    lost: tokio::sync::oneshot::Sender<crate::store::StoreError>,
) {
    let mut tick = tokio::time::interval(EXTERNAL_WRITE_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = store.check_file() {
            error!(path = %store.path().display(), error = %e, "database file lost: stopping");
            let _ = lost.send(e);
            return;
        }
        if let Err(e) = store.notice_external_writes().await {
            warn!(error = %e, "cannot check the database for outside changes");
        }
    }
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
/// for at most [`articles::ROUND_BUDGET`] once the last poll is done; those left wait in the
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
    let ctx = Arc::new(ctx);
    let stop_articles = CancellationToken::new();
    let worker = tokio::spawn(articles.clone().run(store.clone(), stop_articles.clone()));
    let mut summary = PollSummary::default();
    scheduler::poll_all(ctx, feeds, |feed, report| {
        on_done(feed, report);
        match report {
            Some(r) => {
                match r.outcome {
                    Outcome::Fetched => summary.ok += 1,
                    Outcome::NotModified => summary.not_modified += 1,
                    Outcome::Failed | Outcome::Gone => summary.failed += 1,
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
    if tokio::time::timeout(articles::ROUND_BUDGET, articles.idle())
        .await
        .is_err()
    {
        info!("article pages still under way are left for the next run");
    }
    stop_articles.cancel();
    if let Err(e) = worker.await {
        warn!(error = %e, "the article worker failed");
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

/// The polling state of every configured feed, for `feedmerge status`.
///
/// # Errors
/// When the database cannot be opened or read.
pub async fn status(cfg: &Config) -> anyhow::Result<Vec<FeedStatus>> {
    let store = open_store(cfg).await?;
    store
        .sync_feeds(&cfg.feeds)
        .await
        .context("cannot register the configured feeds")?;
    store
        .feed_statuses()
        .await
        .context("cannot read the feeds' state")
}

/// The most recent near-duplicate merges, for `feedmerge merges`.
///
/// # Errors
/// When the database cannot be opened or read.
pub async fn recent_merges(cfg: &Config, limit: usize) -> anyhow::Result<Vec<crate::store::Merge>> {
    let store = open_store(cfg).await?;
    store
        .recent_merges(limit)
        .await
        .context("cannot read the merges")
}

/// The merged feed in `format`, exactly as the server serves it.
///
/// # Errors
/// When the database cannot be opened or read.
pub async fn render(cfg: &Config, format: Format) -> anyhow::Result<Vec<u8>> {
    let store = open_store(cfg).await?;
    // Register the configured feeds so that the output reflects the config (removed feeds
    // are not shown), as the daemon's would.
    store
        .sync_feeds(&cfg.feeds)
        .await
        .context("cannot register the configured feeds")?;
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
