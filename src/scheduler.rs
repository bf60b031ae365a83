//! Scheduling: the configured feeds → one task per feed that sleeps until the feed is due and
//! runs `pipeline::refresh_feed` ([`Scheduler`], reconfigured in place by a reload); and
//! `poll_all` for a one-off poll of every feed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};
use url::Url;

use crate::config::ReadingTimeConfig;
use crate::fetch::ErrorChain;
use crate::hosts;
use crate::pipeline::{self, Context, Report};
use crate::redact;
use crate::schedule::{self, Policy};
use crate::store::FeedState;
use crate::websub::Subscriber;

/// A feed to poll and the limits of its schedule.
#[derive(Debug, Clone)]
pub struct ScheduledFeed {
    /// Stored state (validators, hints, next poll).
    pub state: FeedState,
    /// Interval and caps.
    pub policy: Policy,
    /// Reading-time settings (the global ones with the feed's overrides).
    pub reading: ReadingTimeConfig,
}

impl ScheduledFeed {
    /// Counts a poll that stored nothing (its write failed, or it crashed) as one more error
    /// of the feed, retried after its backoff.
    fn unrecorded_failure(&mut self) {
        let policy = &self.policy;
        self.state.unrecorded_failure(|errors| {
            schedule::after_error(Utc::now(), policy, errors, None).at
        });
    }
}

/// What a feed's task needs from the config: its schedule's limits and reading-time settings.
/// A reload hands a changed one to the running task instead of restarting it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    policy: Policy,
    reading: ReadingTimeConfig,
}

/// A feed's settings as the scheduler last set them, and the wake-up of its task when they
/// change: one small allocation per feed (a `watch` channel was 400 bytes, 40 MB at 100,000
/// feeds).
#[derive(Debug)]
struct SettingsCell {
    current: Mutex<Settings>,
    changed: Notify,
}

impl SettingsCell {
    fn get(&self) -> Settings {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the settings; wakes the task only when they differ.
    fn set(&self, new: Settings) -> bool {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = *current != new;
        *current = new;
        drop(current);
        if changed {
            // A permit is kept if the task is not waiting now: it sees the change at its
            // next wait.
            self.changed.notify_one();
        }
        changed
    }
}
/// The running polls: one task per configured feed, by URL. A reload
/// ([`Scheduler::reconfigure`]) starts the feeds added, stops the feeds removed and hands new
/// settings to the others, so a poll in flight finishes whatever the reload changed.
#[derive(Debug)]
pub struct Scheduler {
    /// The poll context (HTTP client, limits, store) each poll starts with: a reload replaces
    /// it for the polls that start afterwards.
    ctx: watch::Sender<Arc<Context>>,
    feeds: HashMap<Url, FeedTask>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

/// The task of one feed, and how to reach it.
#[derive(Debug)]
struct FeedTask {
    cancel: CancellationToken,
    settings: Arc<SettingsCell>,
    handle: JoinHandle<()>,
}

/// What [`Scheduler::reconfigure`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    /// Feeds that started polling.
    pub added: usize,
    /// Feeds that stopped.
    pub removed: usize,
    /// Feeds whose settings changed.
    pub changed: usize,
}

impl Scheduler {
    /// Starts one polling task per feed. Each stops at its next wait once `parent` fires (or
    /// it is removed); a poll whose response has arrived is finished first. Feeds that
    /// answered 410 Gone are not polled.
    pub fn start(ctx: Arc<Context>, feeds: Vec<ScheduledFeed>, parent: &CancellationToken) -> Self {
        set_metrics(&ctx, &feeds);
        let mut scheduler = Scheduler {
            ctx: watch::Sender::new(ctx),
            feeds: HashMap::new(),
            cancel: parent.child_token(),
            tracker: TaskTracker::new(),
        };
        scheduler.reconfigure_feeds(feeds);
        scheduler
    }

    /// Applies a new config: `ctx` serves every poll that starts from now on; feeds not in
    /// `feeds` stop (a poll of theirs whose response has arrived is still stored), new ones
    /// start, and the others keep their task, their state and any poll in flight, with the
    /// new settings taking effect from their next wait.
    pub fn reconfigure(&mut self, ctx: Arc<Context>, feeds: Vec<ScheduledFeed>) -> Changes {
        set_metrics(&ctx, &feeds);
        self.ctx.send_replace(ctx);
        self.reconfigure_feeds(feeds)
    }

    fn reconfigure_feeds(&mut self, feeds: Vec<ScheduledFeed>) -> Changes {
        let mut changes = Changes::default();
        let mut old = std::mem::take(&mut self.feeds);
        for feed in feeds {
            let settings = Settings {
                policy: feed.policy,
                reading: feed.reading,
            };
            if let Some(task) = old.remove(&feed.state.url) {
                changes.changed += usize::from(task.settings.set(settings));
                self.feeds.insert(feed.state.url, task);
                continue;
            }
            if feed.state.gone {
                info!(feed_url = %redact::Redacted(&feed.state.url), "feed is gone (410): not polled; remove it from the config");
            }
            let url = feed.state.url.clone();
            let cancel = self.cancel.child_token();
            let cell = Arc::new(SettingsCell {
                current: Mutex::new(settings),
                changed: Notify::new(),
            });
            let handle = self.tracker.spawn(feed_loop(
                self.ctx.subscribe(),
                feed,
                cell.clone(),
                cancel.clone(),
            ));
            self.feeds.insert(
                url,
                FeedTask {
                    cancel,
                    settings: cell,
                    handle,
                },
            );
            changes.added += 1;
        }
        for (_, task) in old {
            task.cancel.cancel();
            changes.removed += 1;
        }
        changes
    }

    /// Whether every configured feed's task is still running (the watchdog checks it).
    pub fn alive(&self) -> bool {
        self.feeds.values().all(|t| !t.handle.is_finished())
    }

    /// Stops scheduling and waits (at most `limit`) for polls in flight to store their results.
    pub async fn stop(self, limit: Duration) {
        self.cancel.cancel();
        self.tracker.close();
        if tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_err()
        {
            warn!(
                timeout_ms = limit.as_millis() as u64,
                "polls still running were abandoned"
            );
        }
    }
}

/// Gives every scheduled feed its series in `/metrics`, from its stored state, before its
/// next poll; the series of feeds no longer scheduled go.
fn set_metrics(ctx: &Context, feeds: &[ScheduledFeed]) {
    ctx.metrics
        .set_feeds(feeds.iter().map(|f| (&f.state.url, f.state.error_count)));
}

/// Polls one feed on its schedule until `cancel`. A gone feed's task stays, idle, so that
/// every configured feed has a running task (the watchdog checks it). New settings apply from
/// the next wait: the wait is worked out again, a poll in flight is left alone.
///
/// The feed is the future's one copy of its state (a sleeping feed's task is what a feed
/// costs the daemon): its settings are taken from `settings`, which the scheduler set.
async fn feed_loop(
    ctx: watch::Receiver<Arc<Context>>,
    mut feed: ScheduledFeed,
    settings: Arc<SettingsCell>,
    cancel: CancellationToken,
) {
    let current = settings.get();
    (feed.policy, feed.reading) = (current.policy, current.reading);
    // The WebSub subscriptions (the same for every context): while a hub pushes the feed's
    // changes its polls are slow; when that ends, it is polled at once and then as usual.
    let websub = ctx.borrow().websub.clone();
    let mut pushes = websub.as_ref().map(Subscriber::changes);
    let mut pushed_until = websub.as_ref().and_then(|w| w.pushed_until(feed.state.id));
    loop {
        if feed.state.gone {
            cancel.cancelled().await;
            return;
        }
        let mut wait = feed.state.next_poll_at.map_or(Duration::ZERO, |due| {
            (due - Utc::now()).to_std().unwrap_or(Duration::ZERO)
        });
        if let Some(until) = pushed_until {
            wait = wait.min((until - Utc::now()).to_std().unwrap_or(Duration::ZERO));
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = settings.changed.notified() => {
                let new = settings.get();
                (feed.policy, feed.reading) = (new.policy, new.reading);
                continue;
            }
            Some(()) = async { pushes.as_mut()?.changed().await.ok() }, if pushes.is_some() => {
                let now = websub.as_ref().and_then(|w| w.pushed_until(feed.state.id));
                if pushed_until.is_some() && now.is_none() {
                    feed.state.next_poll_at = Some(Utc::now());
                }
                pushed_until = now;
                continue;
            }
            () = tokio::time::sleep(wait) => {}
        }
        pushed_until = websub.as_ref().and_then(|w| w.pushed_until(feed.state.id));
        // The context of the config in force when the poll starts.
        let poll_ctx = ctx.borrow().clone();
        // Boxed: a sleeping feed's task keeps only its state, not room for a whole poll.
        feed = Box::pin(poll_contained(&poll_ctx, feed, &cancel)).await.0;
        if cancel.is_cancelled() {
            return;
        }
    }
}

/// Polls in a task of its own, so that a panic (a bug) stays with this feed: it is logged,
/// counted as the feed's error, and the feed is retried after its backoff.
async fn poll_contained(
    ctx: &Arc<Context>,
    feed: ScheduledFeed,
    cancel: &CancellationToken,
) -> (ScheduledFeed, Option<Report>) {
    let before = feed.clone();
    let (ctx, cancel) = (ctx.clone(), cancel.clone());
    let task = tokio::spawn(async move {
        let mut feed = feed;
        let report = poll(&ctx, &mut feed, &cancel).await;
        (feed, report)
    });
    match task.await {
        Ok(done) => done,
        Err(e) => {
            let mut feed = before;
            error!(feed_url = %redact::Redacted(&feed.state.url), error = %e, "poll crashed (a bug: please report it)");
            feed.unrecorded_failure();
            (feed, None)
        }
    }
}

/// Polls once. A store error is logged and the feed retried after its backoff.
async fn poll(
    ctx: &Context,
    feed: &mut ScheduledFeed,
    cancel: &CancellationToken,
) -> Option<Report> {
    match pipeline::refresh_feed(ctx, &mut feed.state, &feed.policy, &feed.reading, cancel).await {
        Ok(report) => report,
        Err(e) => {
            error!(feed_url = %redact::Redacted(&feed.state.url), error = %ErrorChain(&e), "cannot record poll");
            feed.unrecorded_failure();
            None
        }
    }
}

/// Polls every feed once, gone ones included (an explicit request), and calls `on_done` with
/// each feed's state and report as it finishes (`None` for a feed whose poll could not be
/// recorded).
///
/// At most `IN_FLIGHT_PER_SLOT` polls per request slot are under way at once, taken in
/// turn from each host, so that 20,000 feeds do not mean 20,000 tasks waiting for 32 slots.
pub async fn poll_all(
    ctx: Arc<Context>,
    feeds: Vec<ScheduledFeed>,
    mut on_done: impl FnMut(&FeedState, Option<&Report>),
) {
    let cancel = CancellationToken::new();
    let limit = ctx.slots.available_permits().max(1) * IN_FLIGHT_PER_SLOT;
    let mut tasks = tokio::task::JoinSet::new();
    // Each feed's state is dropped once `on_done` has seen it: nothing is kept per feed.
    let mut finish = |done: Result<(FeedState, Option<Report>), _>| {
        // poll_contained catches panics, so these tasks only end with a value.
        if let Ok((state, report)) = done {
            on_done(&state, report.as_ref());
        }
    };
    for feed in host_turns(feeds) {
        while tasks.len() >= limit {
            if let Some(done) = tasks.join_next().await {
                finish(done);
            }
        }
        let (ctx, cancel) = (ctx.clone(), cancel.clone());
        tasks.spawn(async move {
            let (feed, report) = poll_contained(&ctx, feed, &cancel).await;
            (feed.state, report)
        });
    }
    while let Some(done) = tasks.join_next().await {
        finish(done);
    }
}

/// Polls under way per request slot in [`poll_all`]: enough that a feed waiting for its host
/// (per-host limits, Retry-After) does not leave a slot idle.
const IN_FLIGHT_PER_SLOT: usize = 4;

/// `feeds` reordered to take one feed of each host in turn (hosts as politeness counts them,
/// [`hosts::key`]): the first feed of every host, then the second, and so on. The list
/// shrinks as it is consumed (5000 feeds hold 2 MB at first, and a first import's memory
/// peaks near its end, when the near-duplicate index is largest).
fn host_turns(feeds: Vec<ScheduledFeed>) -> impl Iterator<Item = ScheduledFeed> {
    let mut turns: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut ranked: Vec<(usize, usize, ScheduledFeed)> = feeds
        .into_iter()
        .enumerate()
        .map(|(i, feed)| {
            let turn = turns.entry(hosts::key(feed.state.fetch_url())).or_default();
            *turn += 1;
            (*turn, i, feed)
        })
        .collect();
    // Last first, to be popped.
    ranked.sort_by_key(|(turn, i, _)| std::cmp::Reverse((*turn, *i)));
    std::iter::from_fn(move || {
        let (_, _, feed) = ranked.pop()?;
        if ranked.len() < ranked.capacity() / 2 {
            ranked.shrink_to_fit();
        }
        Some(feed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ReadingTimeConfig;

    fn feed(url: &str) -> ScheduledFeed {
        let hour = Duration::from_secs(3600);
        ScheduledFeed {
            state: FeedState {
                id: crate::model::FeedId(0),
                url: url::Url::parse(url).unwrap(),
                moved_to: None,
                validators: crate::model::Validators::default(),
                hints: crate::model::FeedHints::default(),
                error_count: 0,
                next_poll_at: None,
                gone: false,
                title: None,
                last_error: None,
            },
            policy: Policy {
                interval: hour,
                max_interval: hour,
                max_backoff: hour,
            },
            reading: ReadingTimeConfig::default(),
        }
    }

    #[test]
    fn hosts_take_turns() {
        let feeds = [
            "http://a/1",
            "http://a/2",
            "http://a/3",
            "http://b/1",
            "http://c/1",
            "http://b/2",
        ]
        .map(feed)
        .to_vec();
        let order: Vec<String> = host_turns(feeds).map(|f| f.state.url.into()).collect();
        let expected = ["a/1", "b/1", "c/1", "a/2", "b/2", "a/3"].map(|p| format!("http://{p}"));
        assert_eq!(order, expected);
    }
}
