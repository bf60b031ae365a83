//! The daemon as one value: a validated [`Config`] and a bound listener → the store, the
//! polls, the HTTP server(s) and the background tasks running ([`Daemon::start`]), changed in
//! place by a reload ([`Daemon::reload`]: on SIGHUP, or when the config file changes), checked on a heartbeat ([`Daemon::tick`]), and
//! stopped in order ([`Daemon::shutdown`]), which every way out of [`Daemon::run`] goes
//! through.

use std::future::Future;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use sd_notify::NotifyState;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::app::{self, apply_retention, host_limits, open_store, poll_context};
use crate::config::{Config, MetricsEndpoint};
use crate::fulltext::Articles;
use crate::hosts::Hosts;
use crate::icons::Icons;
use crate::metrics::Metrics;
use crate::output::{FeedCache, Outputs};
use crate::scheduler::Scheduler;
use crate::serve::{self, AppState, LimitedListener};
use crate::store::{Store, StoreError};
use crate::websub::Subscriber;
use crate::websub::publish::Publisher;

/// How long a reload waits for more SIGHUPs before it reads the config: a burst is one reload.
pub const RELOAD_SETTLE: Duration = Duration::from_millis(200);

/// How often the daemon looks at its config file (a `stat` of the path: modification time,
/// size, inode) to reload it once changed by `feedmerge add`, `remove` or an editor. A change
/// is reloaded once the file has looked the same twice in a row, so within twice this of the
/// last write, and a write in several steps is one reload.
pub const CONFIG_CHECK: Duration = Duration::from_secs(1);

/// How often retention runs in the daemon.
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// How often the daemon looks for writes by other processes (`feedmerge poll-once`).
pub const EXTERNAL_WRITE_CHECK: Duration = Duration::from_secs(2);

/// How often the `STATUS=` line is refreshed when systemd's watchdog is off.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(30);

/// The running daemon. Its fields are what runs; [`Daemon::shutdown`] stops them in the order
/// they depend on each other (polls, then the background tasks, then the server, then the
/// store), like mini-redis's `Listener`, and consumes the value, so nothing runs past it.
pub struct Daemon {
    /// The config in force: the one started with, or the last reload's.
    cfg: Config,
    /// The one cancellation every task of the daemon is a child of.
    cancel: CancellationToken,
    /// The polls: a driver task, and a task per poll under way.
    scheduler: Scheduler,
    /// The article worker, retention, the file watch and the metrics listener.
    background: TaskTracker,
    /// The HTTP server on the main listener.
    server: JoinHandle<std::io::Result<()>>,
    /// What the server shows; its readiness goes down first at shutdown.
    state: Arc<AppState>,
    /// Retention under the config in force; a reload restarts it.
    retention: CancellationToken,
    /// Sends once the database file is removed or replaced: the daemon then stops.
    file_lost: oneshot::Receiver<StoreError>,
    /// Receives once the config file has changed and settled: the daemon then reloads it.
    config_changed: mpsc::Receiver<()>,
    /// Per-host gates, kept across reloads that leave their limits alone, so that a
    /// `Retry-After` pause is not forgotten.
    hosts: Arc<Hosts>,
    /// The article queue, kept across reloads.
    articles: Articles,
    /// The WebSub subscriptions, which outlive reloads.
    websub: Subscriber,
    /// Stops the notifications to `[websub] hub`; a reload restarts them with its config.
    publishing: CancellationToken,
    /// The source icon queue, kept across reloads.
    icons: Icons,
    /// Counters for `/metrics`, kept across reloads.
    metrics: Arc<Metrics>,
    /// Dropped last: every task above holds a clone.
    store: Store,
    /// When to check health and feed systemd's watchdog.
    heartbeat: Heartbeat,
}

/// The watchdog's and the `STATUS=` line's clock, and the health last reported.
struct Heartbeat {
    tick: tokio::time::Interval,
    /// systemd's watchdog interval, when it watches.
    watchdog: Option<Duration>,
    healthy: bool,
}

/// What woke the daemon up.
enum Event {
    /// Stop: asked to (`None`), or because the daemon cannot go on (`Some`).
    Stop(Option<anyhow::Error>),
    /// Time to check health.
    Tick,
    /// A SIGHUP (or a burst of them), or a change of the config file.
    Reload,
}

impl Daemon {
    /// Opens the store, binds the metrics listener, registers the feeds and builds the HTTP
    /// client, then starts the polls, the server(s) and the background tasks, and tells
    /// systemd it is ready. Everything that can fail comes before anything starts, so a
    /// failure here leaves nothing running and needs no shutdown.
    ///
    /// # Errors
    /// Start-up failures (database, metrics address, HTTP client).
    pub async fn start(cfg: Config, listener: TcpListener) -> anyhow::Result<Daemon> {
        let store = open_store(&cfg).await?;
        let metrics_listener = match cfg.server.metrics {
            MetricsEndpoint::Separate(metrics_addr) => {
                Some(TcpListener::bind(metrics_addr).await.with_context(|| {
                    format!("cannot listen on {metrics_addr} ([server] metrics)")
                })?)
            }
            _ => None,
        };
        let addr = listener
            .local_addr()
            .context("cannot read the listening address")?;
        let metrics = Arc::new(Metrics::default());
        let hosts = Arc::new(Hosts::new(host_limits(&cfg)));
        // Article pages are fetched beside the polls, and abandoned at shutdown (they wait in
        // the database for the next start).
        let articles = Articles::load(&store)
            .await
            .context("cannot read the article pages waiting")?;
        let websub = Subscriber::load(store.clone(), metrics.clone())
            .await
            .context("cannot read the WebSub subscriptions")?;
        let icons = Icons::default();
        let ctx = poll_context(&cfg, &store, &metrics, &hosts, (&articles, &icons), &websub)?;
        let fetcher = ctx.fetcher.clone();
        let feeds = app::scheduled_feeds(&cfg, &store).await?;
        websub.configure(&cfg, &feeds, &ctx);

        // Nothing has started yet; from here on nothing fails.
        let cancel = CancellationToken::new();
        let background = TaskTracker::new();
        let scheduler = Scheduler::start(ctx, feeds, &cancel);
        background.spawn(articles.clone().run(store.clone(), cancel.clone()));
        background.spawn(websub.clone().run(cancel.clone()));
        // Source icons too, beside the polls; a check under way at shutdown is abandoned.
        background.spawn(icons.clone().run(store.clone(), cancel.clone()));
        let state = Arc::new(AppState {
            feed: FeedCache::new(store.clone(), Outputs::from_config(&cfg), metrics.clone()),
            store: store.clone(),
            metrics: metrics.clone(),
            websub: Some(websub.clone()),
            ready: AtomicBool::new(true),
        });
        let publishing = cancel.child_token();
        publish(&background, &cfg, &state, fetcher, &publishing);
        let limits = serve::Limits {
            max_connections: cfg.server.max_connections,
            idle_timeout: cfg.server.idle_timeout,
            header_timeout: cfg.server.header_timeout,
        };
        let on_listener = cfg.server.metrics == MetricsEndpoint::Listener;
        let server = tokio::spawn(
            serve::serve(
                LimitedListener::new(listener, limits),
                serve::router(state.clone(), on_listener),
            )
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
        if let Some(warning) = cfg.server.base_url_warning() {
            tracing::warn!("{warning}");
        }
        let (lost, file_lost) = oneshot::channel();
        background.spawn(watch_external_writes(store.clone(), cancel.clone(), lost));
        let (changed, config_changed) = mpsc::channel(1);
        background.spawn(watch_config(cfg.source.clone(), cancel.clone(), changed));
        // Retention follows the config at start; a reload restarts it with the new one.
        let retention = cancel.child_token();
        background.spawn(retention_loop(
            cfg.clone(),
            store.clone(),
            retention.clone(),
        ));
        // Readiness for systemd (Type=notify): the database is migrated and the socket is bound.
        // Outside systemd NOTIFY_SOCKET is unset and these calls do nothing.
        notify(&[NotifyState::Ready]);
        Ok(Daemon {
            cfg,
            cancel,
            scheduler,
            background,
            server,
            state,
            retention,
            file_lost,
            config_changed,
            hosts,
            articles,
            websub,
            publishing,
            icons,
            metrics,
            store,
            heartbeat: Heartbeat::new(),
        })
    }

    /// Runs until `shutdown` completes or the daemon cannot go on (its database file was
    /// lost), reloading the config on each message on `reloads` (SIGHUP), once per burst, and
    /// when its file changes ([`CONFIG_CHECK`]); then stops in order ([`Daemon::shutdown`]), whichever way it ends.
    ///
    /// # Errors
    /// Why the daemon could not go on. A failing feed is never an error here.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()>,
        mut reloads: mpsc::Receiver<()>,
    ) -> anyhow::Result<()> {
        tokio::pin!(shutdown);
        let failure = loop {
            let event = tokio::select! {
                () = &mut shutdown => Event::Stop(None),
                // systemd (Restart=on-failure) starts it again on a fresh file.
                Ok(e) = &mut self.file_lost => {
                    Event::Stop(Some(anyhow::Error::new(e).context("stopped")))
                }
                _ = self.heartbeat.tick.tick() => Event::Tick,
                Some(()) = reloads.recv() => {
                    tokio::time::sleep(RELOAD_SETTLE).await;
                    while reloads.try_recv().is_ok() {}
                    Event::Reload
                }
                Some(()) = self.config_changed.recv() => Event::Reload,
            };
            match event {
                Event::Stop(failure) => break failure,
                Event::Tick => self.tick().await,
                Event::Reload => self.reload().await,
            }
        };
        self.shutdown(failure).await
    }

    /// Checks that the polls run and the database answers: feeds systemd's watchdog only
    /// then (systemd restarts a daemon that stops feeding it), logs each change of health,
    /// and refreshes the `STATUS=` line.
    pub async fn tick(&mut self) {
        let db = self.store.ping().await;
        let ok = db.is_ok() && self.scheduler.alive();
        if ok && self.heartbeat.watchdog.is_some() {
            notify(&[NotifyState::Watchdog]);
        }
        if ok != self.heartbeat.healthy {
            match &db {
                Ok(()) if ok => info!("healthy again"),
                Ok(()) => error!("the scheduler stopped; the watchdog is not fed"),
                Err(e) => {
                    error!(error = %e, "the database does not answer; the watchdog is not fed")
                }
            }
            self.heartbeat.healthy = ok;
        }
        if let Ok(c) = self.store.feed_counts().await {
            let line = format!(
                "{} feeds: {} ok, {} failing, {} gone, {} new",
                c.ok + c.failing + c.gone + c.new,
                c.ok,
                c.failing,
                c.gone,
                c.new
            );
            notify(&[NotifyState::Status(&line)]);
        }
        // Polls free what they allocate, but glibc keeps it, scattered through its arenas
        // where a later block may still be in use: over a cycle of 100,000 feeds resident
        // grew from 75 to 92–102 MiB, most of it free. A trim gives free pages back (0.3–0.6
        // ms there); nothing waits for it.
        drop(tokio::task::spawn_blocking(crate::memory::trim));
    }

    /// Re-reads the config file. A valid new config replaces the running one: feeds added
    /// start polling, feeds removed stop and leave the merged feed, changed settings apply;
    /// polls in flight of the feeds that stay are not interrupted. An invalid config, or one
    /// that changes a key only a restart can apply (`restart_only_changes`), is logged and
    /// ignored whole; so is one whose HTTP client or feeds cannot be set up. A reload never
    /// stops the daemon.
    pub async fn reload(&mut self) {
        let new = match Config::load(&self.cfg.source) {
            Ok(new) => new,
            Err(e) => {
                error!(error = %e, "config reload rejected; the running config stays");
                return;
            }
        };
        let fixed = restart_only_changes(&self.cfg, &new);
        if !fixed.is_empty() {
            error!(
                keys = %fixed.join(", "),
                "config reload rejected: these keys take effect only after a restart; the running config stays"
            );
            return;
        }
        // systemd wants the monotonic time with RELOADING=1 (sd_notify(3)).
        let mut reloading = vec![NotifyState::Reloading];
        reloading.extend(NotifyState::monotonic_usec_now().ok());
        notify(&reloading);
        if let Err(e) = self.apply(new).await {
            error!(error = %format!("{e:#}"), "config reload failed; the running config stays");
        }
        notify(&[NotifyState::Ready]);
    }

    /// Puts `new` in force, or nothing of it when its poll context or feeds cannot be set up.
    async fn apply(&mut self, new: Config) -> anyhow::Result<()> {
        let hosts = if host_limits(&new) == host_limits(&self.cfg) {
            self.hosts.clone()
        } else {
            Arc::new(self.hosts.with_limits(host_limits(&new)))
        };
        let queues = (&self.articles, &self.icons);
        let ctx = poll_context(
            &new,
            &self.store,
            &self.metrics,
            &hosts,
            queues,
            &self.websub,
        )?;
        let feeds = app::scheduled_feeds(&new, &self.store).await?;
        // Nothing fails from here on: the new config is applied whole.
        self.websub.configure(&new, &feeds, &ctx);
        let fetcher = ctx.fetcher.clone();
        let changes = self.scheduler.reconfigure(ctx, feeds);
        self.hosts = hosts;
        self.state.feed.reconfigure(Outputs::from_config(&new));
        info!(
            feeds = new.feeds.len(),
            added = changes.added,
            removed = changes.removed,
            changed = changes.changed,
            "config reloaded"
        );
        if let Err(e) = self.store.set_max_size(new.storage.max_size).await {
            warn!(error = %e, "cannot apply the new [storage] max_size");
        }
        self.publishing.cancel();
        self.publishing = self.cancel.child_token();
        publish(
            &self.background,
            &new,
            &self.state,
            fetcher,
            &self.publishing,
        );
        self.retention.cancel();
        self.retention = self.cancel.child_token();
        self.background.spawn(retention_loop(
            new.clone(),
            self.store.clone(),
            self.retention.clone(),
        ));
        self.cfg = new;
        Ok(())
    }

    /// Stops in order, within one `[server] shutdown_timeout` for the whole stop: tells
    /// systemd, turns readiness off, cancels everything, lets the polls in flight store their
    /// results, then waits for the background tasks (retention, the article worker, the
    /// metrics listener's connections), then the server's connections, and closes the store.
    /// Returns `failure`, the reason the daemon stopped when it was not asked to.
    ///
    /// # Errors
    /// `failure`, as given.
    pub async fn shutdown(self, failure: Option<anyhow::Error>) -> anyhow::Result<()> {
        let Daemon {
            cfg,
            cancel,
            scheduler,
            background,
            server,
            state,
            retention,
            file_lost,
            config_changed,
            hosts,
            articles,
            websub,
            publishing,
            icons,
            metrics,
            store,
            heartbeat,
        } = self;
        notify(&[NotifyState::Stopping]);
        state.ready.store(false, Ordering::Release);
        cancel.cancel();
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
        // What is left holds clones of the store: the server's state, then the handles the
        // polls and reloads shared. The store closes with the last of them.
        drop((
            state,
            retention,
            publishing,
            file_lost,
            config_changed,
            heartbeat,
        ));
        drop((hosts, articles, icons, websub, metrics));
        drop(store);
        info!("stopped");
        failure.map_or(Ok(()), Err)
    }
}

impl Heartbeat {
    /// Ticks at half systemd's watchdog interval when it watches, else every
    /// [`STATUS_INTERVAL`]; the first tick is at once.
    fn new() -> Self {
        let watchdog = sd_notify::watchdog_enabled();
        let mut tick = tokio::time::interval(watchdog.map_or(STATUS_INTERVAL, |w| w / 2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Heartbeat {
            tick,
            watchdog,
            healthy: true,
        }
    }
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

/// Tells systemd (when `NOTIFY_SOCKET` is set) about the daemon's state.
fn notify(state: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        warn!(error = %e, "cannot notify systemd");
    }
}

/// Keeps the served feed current when another process writes to the database, and sends on
/// `lost` (then ends) once the database file is removed or replaced.
async fn watch_external_writes(
    store: Store,
    cancel: CancellationToken,
    lost: oneshot::Sender<StoreError>,
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

/// What tells one version of a file from another without reading it: its modification time,
/// size, inode and device (an atomic replacement is a new inode), or `None` while there is no
/// file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp(Option<(i64, i64, u64, u64, u64)>);

impl FileStamp {
    fn of(path: &std::path::Path) -> FileStamp {
        FileStamp(
            std::fs::metadata(path)
                .ok()
                .map(|m| (m.mtime(), m.mtime_nsec(), m.size(), m.ino(), m.dev())),
        )
    }
}

/// Sends on `changed` each time the config file at `path` has changed and then looked the
/// same for one more [`CONFIG_CHECK`], until `cancel`. A file that does not load is reloaded
/// (and refused, logged by the reload) once per change, like one SIGHUP.
async fn watch_config(path: PathBuf, cancel: CancellationToken, changed: mpsc::Sender<()>) {
    let mut tick = tokio::time::interval(CONFIG_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut loaded = FileStamp::of(&path);
    let mut last = loaded;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = FileStamp::of(&path);
        if now == last && now != loaded {
            loaded = now;
            info!(path = %path.display(), "config file changed: reloading");
            // A reload already queued reads the file as it is now.
            let _ = changed.try_send(());
        }
        last = now;
    }
}

/// Starts telling `[websub] hub` of each change of the outputs, when one is configured,
/// until `cancel`.
fn publish(
    background: &TaskTracker,
    cfg: &Config,
    state: &Arc<AppState>,
    fetcher: crate::fetch::Fetcher,
    cancel: &CancellationToken,
) {
    let Some(hub) = cfg.websub.hub.clone() else {
        return;
    };
    let publisher = Publisher {
        hub,
        state: state.clone(),
        fetcher,
        metrics: state.metrics.clone(),
    };
    background.spawn(publisher.run(cancel.clone()));
}
