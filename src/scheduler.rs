//! Scheduling: the configured feeds → one driver task that keeps them in a timer queue and
//! starts a task running `pipeline::refresh_feed` only for a feed that is due ([`Scheduler`],
//! reconfigured in place by a reload); and `poll_all` for a one-off poll of every feed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::config::ReadingTimeConfig;
use crate::fetch::ErrorChain;
use crate::hosts;
use crate::model::FeedId;
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
        self.state
            .unrecorded_failure(|errors| retry_at(policy, errors));
    }
}

/// When a feed whose poll could not be recorded is retried: after the backoff of `errors`
/// failures in a row.
fn retry_at(policy: &Policy, errors: u32) -> DateTime<Utc> {
    schedule::after_error(Utc::now(), policy, errors, None).at
}

/// What a feed's polls take from the config: its schedule's limits and reading-time settings.
/// A reload replaces them in the feed's entry, and the feed's next poll starts with them.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    policy: Policy,
    reading: ReadingTimeConfig,
}

/// Stale entries of the timer queue allowed, beyond one per feed, before it is rebuilt from
/// the table: the rebuild costs O(feeds), once per at least as many re-queues.
const QUEUE_SLACK: usize = 64;

/// A configured feed, as the driver holds it: its settings, its WebSub lease as last seen,
/// and its schedule, or the poll under way.
#[derive(Debug)]
struct Entry {
    id: FeedId,
    /// Shared by the feeds next to each other in the config that have the same settings
    /// (nearly all of them): 8 bytes per feed instead of 64.
    settings: Arc<Settings>,
    /// The end of the hub's lease as last seen, or sooner a poll owed for pushes refused
    /// ([`Subscriber::poll_by`]; `None`: not pushed). The feed waits at most until then; when
    /// the lease ends early the feed is polled at once.
    pushed_until: Option<DateTime<Utc>>,
    slot: Slot,
}

/// What the table keeps of a waiting feed: its schedule. The rest of its state (URL,
/// validators, hints, titles) stays in the store and is read as its poll starts
/// ([`Store::feed_state_by_id`](crate::store::Store::feed_state_by_id)): 100,000 waiting
/// feeds held whole took 30 MB, and their strings 12 MB more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Schedule {
    /// When the next poll is due; `None` for a new feed (due now).
    next_poll_at: Option<DateTime<Utc>>,
    /// Answered 410 Gone: not polled on schedule.
    gone: bool,
    /// Failed polls in a row, those that could not be recorded included (the store counts
    /// only the others).
    errors: u32,
}

impl Schedule {
    fn of(state: &FeedState) -> Self {
        Schedule {
            next_poll_at: state.next_poll_at,
            gone: state.gone,
            errors: state.error_count,
        }
    }
}

/// Where a feed is.
#[derive(Debug)]
enum Slot {
    /// Waiting for `due` (`None`: not queued, the feed is gone).
    Waiting {
        schedule: Schedule,
        due: Option<DateTime<Utc>>,
    },
    /// Being polled; the poll hands its schedule back when it finishes.
    Polling {
        cancel: CancellationToken,
        /// Removed by a reload: the poll's result is stored, the feed is not queued again.
        removed: bool,
    },
}

/// A feed taken for its poll: what the poll needs of the table.
#[derive(Debug)]
struct Taken {
    id: FeedId,
    settings: Arc<Settings>,
    /// [`Schedule::errors`].
    errors: u32,
}

/// The configured feeds and when each is due: one entry per feed (its schedule) and a timer
/// queue of (due time, slot), whose entries a later re-queue has made stale
/// are skipped when they come up. Nothing here waits: the driver holds the lock only between
/// awaits.
#[derive(Debug, Default)]
struct Table {
    /// The feeds, in config order; `None` where a removed feed's poll finished since the last
    /// reload.
    slots: Vec<Option<Entry>>,
    /// The slot of each feed, by id (ids are one per configured URL).
    index: HashMap<FeedId, u32>,
    /// Min-heap of (due, slot); an entry is live when its slot is waiting with that due time.
    queue: BinaryHeap<Reverse<(DateTime<Utc>, u32)>>,
    /// The feeds whose entry has a WebSub lease (a handful: one per subscription).
    pushed: HashSet<FeedId>,
    /// Polls under way: taken and not yet finished.
    polling: usize,
}

/// When a waiting feed is due: its next poll (now if it has none), or the end of its WebSub
/// lease if earlier; never for a gone feed.
fn due_at(
    schedule: &Schedule,
    pushed_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if schedule.gone {
        return None;
    }
    let at = schedule.next_poll_at.unwrap_or(now);
    Some(pushed_until.map_or(at, |until| at.min(until)))
}

/// The items of a vector, first to last, its memory given back as it empties (its capacity
/// kept within twice what is left), so that a table built from it does not stand beside all
/// of it (100,000 scheduled feeds: 33 MB).
struct Draining<T>(Vec<T>);

impl<T> Draining<T> {
    fn new(mut items: Vec<T>) -> Self {
        items.reverse();
        Draining(items)
    }
}

impl<T> Iterator for Draining<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let item = self.0.pop()?;
        if self.0.capacity() > 2 * self.0.len() + QUEUE_SLACK {
            // Shrinking reallocates in place (the allocator splits the block).
            self.0.shrink_to_fit();
        }
        Some(item)
    }
}

impl Table {
    /// Makes the table hold `feeds`: feeds added get an entry (their WebSub lease from
    /// `pushed_until`) and are queued; feeds kept keep their state (or their poll in flight),
    /// taking the new settings for their next poll; feeds removed go, and a poll of theirs in
    /// flight is cancelled (its result still stored, the feed not queued again).
    fn reconfigure(
        &mut self,
        feeds: Vec<ScheduledFeed>,
        pushed_until: &dyn Fn(FeedId) -> Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Changes {
        let mut changes = Changes::default();
        let mut old = std::mem::take(&mut self.slots);
        let old_index = std::mem::take(&mut self.index);
        self.slots.reserve_exact(feeds.len());
        self.index.reserve(feeds.len());
        let mut last: Option<Arc<Settings>> = None;
        for feed in Draining::new(feeds) {
            let settings = Settings {
                policy: feed.policy,
                reading: feed.reading,
            };
            let settings = match last.take() {
                Some(same) if *same == settings => same,
                _ => Arc::new(settings),
            };
            last = Some(settings.clone());
            let id = feed.state.id;
            let kept = old_index
                .get(&id)
                .and_then(|&slot| old.get_mut(slot as usize)?.take());
            let entry = match kept {
                Some(mut entry) => {
                    if let Slot::Polling { removed, .. } = &mut entry.slot
                        && *removed
                    {
                        // Removed by an earlier reload, its poll not yet finished: back.
                        *removed = false;
                        changes.added += 1;
                    } else if entry.settings != settings {
                        changes.changed += 1;
                    }
                    entry.settings = settings;
                    entry
                }
                None => {
                    if feed.state.gone {
                        info!(feed_url = %redact::Redacted(&feed.state.url), "feed is gone (410): not polled; remove it from the config");
                    }
                    changes.added += 1;
                    Entry {
                        id,
                        settings,
                        pushed_until: pushed_until(id),
                        slot: Slot::Waiting {
                            schedule: Schedule::of(&feed.state),
                            due: None,
                        },
                    }
                }
            };
            self.push_slot(id, entry);
        }
        for mut entry in old.into_iter().flatten() {
            match &mut entry.slot {
                Slot::Waiting { .. } => changes.removed += 1,
                Slot::Polling { cancel, removed } => {
                    if !*removed {
                        cancel.cancel();
                        changes.removed += 1;
                    }
                    *removed = true;
                    self.push_slot(entry.id, entry);
                }
            }
        }
        let index = &self.index;
        self.pushed.retain(|id| index.contains_key(id));
        for (id, &slot) in &self.index {
            if self.slots[slot as usize]
                .as_ref()
                .is_some_and(|e| e.pushed_until.is_some())
            {
                self.pushed.insert(*id);
            }
        }
        self.rebuild(now);
        changes
    }

    fn push_slot(&mut self, id: FeedId, entry: Entry) {
        // Slots are counted in u32: far above the feeds a config can hold.
        let slot = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        self.index.insert(id, slot);
        self.slots.push(Some(entry));
    }

    /// Works out every waiting feed's due time again and rebuilds the queue from them alone.
    fn rebuild(&mut self, now: DateTime<Utc>) {
        let mut queue = Vec::with_capacity(self.slots.len());
        for (slot, entry) in self.slots.iter_mut().enumerate() {
            if let Some(Entry {
                pushed_until,
                slot: Slot::Waiting { schedule, due },
                ..
            }) = entry
            {
                *due = due_at(schedule, *pushed_until, now);
                if let Some(at) = *due {
                    queue.push(Reverse((at, slot as u32)));
                }
            }
        }
        self.queue = BinaryHeap::from(queue);
    }

    /// Queues a waiting feed at its due time (its earlier queue entry, if any, goes stale).
    fn queue(&mut self, slot: u32, now: DateTime<Utc>) {
        let Some(Some(entry)) = self.slots.get_mut(slot as usize) else {
            return;
        };
        let Slot::Waiting { schedule, due } = &mut entry.slot else {
            return;
        };
        *due = due_at(schedule, entry.pushed_until, now);
        if let Some(at) = *due {
            self.queue.push(Reverse((at, slot)));
            if self.queue.len() > 2 * self.slots.len() + QUEUE_SLACK {
                self.rebuild(now);
            }
        }
    }

    /// When the first queued feed is due (a stale entry may answer early: it is skipped then);
    /// `None` while `limit` polls are under way (the next to finish wakes the driver).
    fn next_due(&self, limit: usize) -> Option<DateTime<Utc>> {
        if self.polling >= limit {
            return None;
        }
        self.queue.peek().map(|Reverse((at, _))| *at)
    }

    /// Takes the next feed due by `now` for its poll, with the poll's cancellation (a child of
    /// `parent`): the entry keeps the settings and the cancellation. Its WebSub lease is read
    /// again (`pushed_until`) as the poll starts.
    /// None is taken while `limit` polls are under way.
    fn take_due(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
        parent: &CancellationToken,
        pushed_until: &dyn Fn(FeedId) -> Option<DateTime<Utc>>,
    ) -> Option<(Taken, CancellationToken)> {
        while let Some(&Reverse((at, slot))) = self.queue.peek() {
            if self.polling >= limit {
                return None;
            }
            if at > now {
                return None;
            }
            self.queue.pop();
            let Some(Some(entry)) = self.slots.get_mut(slot as usize) else {
                continue;
            };
            let Slot::Waiting {
                schedule,
                due: Some(due),
            } = entry.slot
            else {
                continue;
            };
            if due != at {
                continue;
            }
            let cancel = parent.child_token();
            entry.slot = Slot::Polling {
                cancel: cancel.clone(),
                removed: false,
            };
            let id = entry.id;
            entry.pushed_until = pushed_until(id);
            set_pushed(&mut self.pushed, id, entry.pushed_until);
            let taken = Taken {
                id,
                settings: entry.settings.clone(),
                errors: schedule.errors,
            };
            self.polling += 1;
            return Some((taken, cancel));
        }
        None
    }

    /// Takes back a feed whose poll finished, with its schedule after the poll and its
    /// WebSub lease now (`pushed_now`): queued at its next poll (at once if its lease ended
    /// since the poll started), with the settings in force; dropped if a reload removed it
    /// meanwhile.
    fn finished(
        &mut self,
        id: FeedId,
        mut schedule: Schedule,
        pushed_now: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        self.polling = self.polling.saturating_sub(1);
        let Some(&slot) = self.index.get(&id) else {
            return;
        };
        let Some(Some(entry)) = self.slots.get_mut(slot as usize) else {
            return;
        };
        let Slot::Polling { removed, .. } = entry.slot else {
            return;
        };
        if removed {
            self.slots[slot as usize] = None;
            self.index.remove(&id);
            self.pushed.remove(&id);
            return;
        }
        if entry.pushed_until.is_some() && pushed_now.is_none() {
            schedule.next_poll_at = Some(now);
        }
        entry.pushed_until = pushed_now;
        set_pushed(&mut self.pushed, id, pushed_now);
        entry.slot = Slot::Waiting {
            schedule,
            due: None,
        };
        self.queue(slot, now);
    }

    /// Takes in the WebSub leases now (`pushed_now`): a waiting feed whose lease ended is
    /// polled at once, one whose lease began or moved is queued again. Only the feeds pushed
    /// before or now are looked at; a feed polling sees the change when its poll finishes.
    fn pushes_changed(&mut self, pushed_now: &HashMap<FeedId, DateTime<Utc>>, now: DateTime<Utc>) {
        let ids: Vec<FeedId> = self
            .pushed
            .iter()
            .chain(pushed_now.keys())
            .copied()
            .collect();
        for id in ids {
            let Some(&slot) = self.index.get(&id) else {
                continue;
            };
            let Some(Some(entry)) = self.slots.get_mut(slot as usize) else {
                continue;
            };
            let Slot::Waiting { schedule, .. } = &mut entry.slot else {
                continue;
            };
            let new = pushed_now.get(&id).copied();
            if entry.pushed_until == new {
                continue;
            }
            if entry.pushed_until.is_some() && new.is_none() {
                schedule.next_poll_at = Some(now);
            }
            entry.pushed_until = new;
            set_pushed(&mut self.pushed, id, new);
            self.queue(slot, now);
        }
    }
}

/// Keeps `pushed` (the feeds with a lease) in step with one feed's lease.
fn set_pushed(pushed: &mut HashSet<FeedId>, id: FeedId, until: Option<DateTime<Utc>>) {
    if until.is_some() {
        pushed.insert(id);
    } else {
        pushed.remove(&id);
    }
}

/// What the driver and the polls share: the table and the wake-up of the driver.
#[derive(Debug)]
struct Shared {
    table: Mutex<Table>,
    /// Wakes the driver: a reload changed the table, or a poll finished.
    wake: Notify,
    /// The poll context (HTTP client, limits, store) each poll starts with: a reload replaces
    /// it for the polls that start afterwards.
    ctx: watch::Sender<Arc<Context>>,
    /// The WebSub subscriptions (the same for every context).
    websub: Option<Subscriber>,
}

impl Shared {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When a feed a hub pushes is to be polled at the latest ([`Subscriber::poll_by`]).
    fn poll_by(&self, id: FeedId) -> Option<DateTime<Utc>> {
        self.websub.as_ref().and_then(|w| w.poll_by(id))
    }

    /// The same, for a poll of the feed that starts now ([`Subscriber::poll_starts`]).
    fn poll_starts(&self, id: FeedId) -> Option<DateTime<Utc>> {
        self.websub.as_ref().and_then(|w| w.poll_starts(id))
    }
}

/// The running polls: one driver task holds the configured feeds and when each is due, and
/// starts a task only for a feed that is due. A reload ([`Scheduler::reconfigure`]) starts
/// the feeds added, stops the feeds removed and hands new settings to the others, so a poll
/// in flight finishes whatever the reload changed.
#[derive(Debug)]
pub struct Scheduler {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    driver: JoinHandle<()>,
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
    /// Starts polling the feeds, each when it is due. Polling stops once `parent` fires; a
    /// poll whose response has arrived is finished first. Feeds that answered 410 Gone are
    /// not polled.
    pub fn start(ctx: Arc<Context>, feeds: Vec<ScheduledFeed>, parent: &CancellationToken) -> Self {
        set_metrics(&ctx, &feeds);
        let shared = Arc::new(Shared {
            table: Mutex::new(Table::default()),
            wake: Notify::new(),
            websub: ctx.websub.clone(),
            ctx: watch::Sender::new(ctx),
        });
        shared
            .table()
            .reconfigure(feeds, &|id| shared.poll_by(id), Utc::now());
        let cancel = parent.child_token();
        let tracker = TaskTracker::new();
        let driver = tracker.spawn(drive(shared.clone(), cancel.clone(), tracker.clone()));
        Scheduler {
            shared,
            cancel,
            tracker,
            driver,
        }
    }

    /// Applies a new config: `ctx` serves every poll that starts from now on; feeds not in
    /// `feeds` stop (a poll of theirs whose response has arrived is still stored), new ones
    /// start, and the others keep their state and any poll in flight, with the new settings
    /// taking effect from their next poll.
    pub fn reconfigure(&mut self, ctx: Arc<Context>, feeds: Vec<ScheduledFeed>) -> Changes {
        set_metrics(&ctx, &feeds);
        self.shared.ctx.send_replace(ctx);
        let shared = &self.shared;
        let changes = shared
            .table()
            .reconfigure(feeds, &|id| shared.poll_by(id), Utc::now());
        shared.wake.notify_one();
        changes
    }

    /// Whether the driver that starts the polls is still running (the watchdog checks it).
    pub fn alive(&self) -> bool {
        !self.driver.is_finished()
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

/// Gives every failing scheduled feed its series in `/metrics`, from its stored state,
/// before its next poll; the series of feeds no longer scheduled go.
fn set_metrics(ctx: &Context, feeds: &[ScheduledFeed]) {
    ctx.metrics.set_feeds(
        feeds
            .iter()
            .map(|f| (f.state.id, &f.state.url, f.state.error_count)),
    );
}

/// Starts the polls of the feeds due, then sleeps until the next is due or something changes
/// (a reload, a poll finishing, a WebSub lease), until `cancel`. Each wake-up costs what it
/// starts and O(log feeds) per queue entry it takes, never a pass over every feed.
async fn drive(shared: Arc<Shared>, cancel: CancellationToken, tracker: TaskTracker) {
    let mut pushes = shared.websub.as_ref().map(Subscriber::changes);
    loop {
        let next = {
            let now = Utc::now();
            let mut table = shared.table();
            // The context of the config in force when the polls start.
            let ctx = shared.ctx.borrow().clone();
            while let Some((taken, poll_cancel)) =
                table.take_due(now, ctx.max_polls, &cancel, &|id| shared.poll_starts(id))
            {
                let ctx = ctx.clone();
                let shared = shared.clone();
                tracker.spawn(async move {
                    let id = taken.id;
                    let schedule = poll_taken(&ctx, taken, &poll_cancel).await;
                    // Read under the table's lock (as take_due does): a change of the feed's
                    // lease or owed poll between the read and `finished` would otherwise be
                    // skipped by pushes_changed (the feed still polling) and lost.
                    let mut table = shared.table();
                    let pushed_now = shared.poll_by(id);
                    table.finished(id, schedule, pushed_now, Utc::now());
                    drop(table);
                    shared.wake.notify_one();
                });
            }
            table.next_due(ctx.max_polls)
        };
        let wait = next.map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO));
        tokio::select! {
            () = cancel.cancelled() => return,
            () = shared.wake.notified() => {}
            Some(()) = async { pushes.as_mut()?.changed().await.ok() }, if pushes.is_some() => {
                let pushed_now = shared.websub.as_ref().map(Subscriber::polls_by).unwrap_or_default();
                shared.table().pushes_changed(&pushed_now, Utc::now());
            }
            () = async {
                match wait {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
    }
}

/// Reads the state of a feed taken from the table and polls it ([`poll_contained`]); what
/// the table keeps of it afterwards. A state that cannot be read counts as a failed poll
/// that could not be recorded: the feed is retried after its backoff.
async fn poll_taken(ctx: &Arc<Context>, taken: Taken, cancel: &CancellationToken) -> Schedule {
    let Taken {
        id,
        settings,
        errors,
    } = taken;
    let mut state = match ctx.store.feed_state_by_id(id).await {
        Ok(Some(state)) => state,
        failed => {
            let error = match failed {
                Err(e) => ErrorChain(&e).to_string(),
                Ok(_) => "the feed's row is missing".to_owned(),
            };
            error!(
                feed_id = id.0,
                error, "cannot read the feed's state to poll it"
            );
            let errors = errors.saturating_add(1);
            return Schedule {
                next_poll_at: Some(retry_at(&settings.policy, errors)),
                gone: false,
                errors,
            };
        }
    };
    state.error_count = errors;
    let feed = ScheduledFeed {
        state,
        policy: settings.policy,
        reading: settings.reading,
    };
    let (feed, _) = poll_contained(ctx, feed, cancel).await;
    Schedule::of(&feed.state)
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
    let limit = ctx.max_polls.max(1);
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

/// Polls under way per request slot, in the daemon and in [`poll_all`]
/// ([`Context::max_polls`]): enough that a feed waiting for its host (per-host limits,
/// Retry-After) does not leave a slot idle.
pub const IN_FLIGHT_PER_SLOT: usize = 4;

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

    fn feed_due(id: i64, due: Option<DateTime<Utc>>) -> ScheduledFeed {
        let mut f = feed(&format!("http://a/{id}"));
        f.state.id = FeedId(id);
        f.state.next_poll_at = due;
        f
    }

    const NO_LIMIT: usize = usize::MAX;

    fn not_pushed(_: FeedId) -> Option<DateTime<Utc>> {
        None
    }

    fn hours(n: i64) -> chrono::TimeDelta {
        chrono::TimeDelta::hours(n)
    }

    /// Takes every feed due by `now`, by id.
    fn take_all(table: &mut Table, now: DateTime<Utc>) -> Vec<Taken> {
        let parent = CancellationToken::new();
        std::iter::from_fn(|| {
            table
                .take_due(now, NO_LIMIT, &parent, &not_pushed)
                .map(|(f, _)| f)
        })
        .collect()
    }

    fn ids(feeds: &[Taken]) -> Vec<i64> {
        feeds.iter().map(|f| f.id.0).collect()
    }

    /// A poll's outcome: next due at `at`, after `errors` failed polls in a row.
    fn polled_at(at: DateTime<Utc>, errors: u32) -> Schedule {
        Schedule {
            next_poll_at: Some(at),
            gone: false,
            errors,
        }
    }

    #[test]
    fn feeds_are_taken_when_due_and_once() {
        let now = Utc::now();
        let mut table = Table::default();
        let feeds = vec![
            feed_due(1, Some(now + hours(2))),
            feed_due(2, None),
            feed_due(3, Some(now + hours(1))),
        ];
        let changes = table.reconfigure(feeds, &not_pushed, now);
        assert_eq!(changes.added, 3);
        assert_eq!(ids(&take_all(&mut table, now)), [2]);
        assert_eq!(table.next_due(NO_LIMIT), Some(now + hours(1)));
        assert_eq!(ids(&take_all(&mut table, now + hours(3))), [3, 1]);
        // Polling: none is taken again, however late.
        assert!(take_all(&mut table, now + hours(9)).is_empty());
        let mut gone = feed_due(4, None);
        gone.state.gone = true;
        table.reconfigure(vec![gone], &not_pushed, now);
        assert!(take_all(&mut table, now + hours(9)).is_empty());
    }

    /// Feeds due together (a start after a long stop) are polled `limit` at a time, in the
    /// order they fell due; a poll finishing lets the next one start.
    #[test]
    fn no_more_than_the_limit_of_polls_at_once() {
        let now = Utc::now();
        let mut table = Table::default();
        let feeds = (1..=5)
            .map(|id| feed_due(id, Some(now - hours(6 - id))))
            .collect();
        table.reconfigure(feeds, &not_pushed, now);
        let parent = CancellationToken::new();
        let take = |table: &mut Table| table.take_due(now, 2, &parent, &not_pushed);
        let first: Vec<Taken> = std::iter::from_fn(|| take(&mut table).map(|(f, _)| f)).collect();
        assert_eq!(ids(&first), [1, 2]);
        assert_eq!(table.next_due(2), None, "full: woken by a poll finishing");
        table.finished(first[0].id, polled_at(now + hours(1), 0), None, now);
        assert_eq!(table.next_due(2), Some(now - hours(3)));
        let next: Vec<Taken> = std::iter::from_fn(|| take(&mut table).map(|(f, _)| f)).collect();
        assert_eq!(ids(&next), [3]);
    }

    /// A poll starts from the store's state with the failures in a row the table counted
    /// (those the store could not record included), and the table gets the count after it;
    /// a feed whose state cannot be read is retried after its backoff, one failure more.
    #[tokio::test]
    async fn a_poll_counts_on_from_the_failures_the_table_holds() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[storage]\npath = {:?}\n[[feeds]]\nurl = \"http://127.0.0.1:9/feed.xml\"\n",
            dir.path().join("t.db")
        );
        let cfg = crate::config::Config::parse(&text, &dir.path().join("config.toml")).unwrap();
        let store = crate::store::Store::open(&cfg.storage.path).unwrap();
        let [feed] = crate::app::scheduled_feeds(&cfg, &store)
            .await
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(feed.state.error_count, 0);
        let ctx = Arc::new(crate::app::context(&cfg, store, Arc::default()).unwrap());
        let taken = |id, errors| Taken {
            id,
            settings: Arc::new(Settings {
                policy: feed.policy,
                reading: feed.reading,
            }),
            errors,
        };
        let cancel = CancellationToken::new();
        // Nothing answers there: the poll fails, the fourth time in a row.
        let polled = poll_taken(&ctx, taken(feed.state.id, 3), &cancel).await;
        assert_eq!(polled.errors, 4);
        let missing = poll_taken(&ctx, taken(FeedId(999), 3), &cancel).await;
        assert_eq!(missing.errors, 4);
        assert!(missing.next_poll_at.is_some_and(|at| at > Utc::now()));
    }

    #[test]
    fn draining_hands_on_every_item_in_order_and_gives_memory_back() {
        let mut drained = Draining::new((0..10_000).collect::<Vec<u32>>());
        assert!(drained.by_ref().take(9_000).eq(0..9_000));
        assert!(drained.0.capacity() <= 2 * 1_000 + QUEUE_SLACK);
        assert!(drained.eq(9_000..10_000));
        assert!(Draining::new(Vec::<u32>::new()).next().is_none());
    }

    #[test]
    fn settings_changed_during_a_poll_apply_from_the_next() {
        let now = Utc::now();
        let mut table = Table::default();
        table.reconfigure(vec![feed_due(1, None)], &not_pushed, now);
        let [polled] = take_all(&mut table, now).try_into().unwrap();
        let mut changed = feed_due(1, None);
        changed.policy.interval = Duration::from_secs(7200);
        let changes = table.reconfigure(vec![changed], &not_pushed, now);
        assert_eq!(
            changes,
            Changes {
                changed: 1,
                ..Changes::default()
            }
        );
        // The poll in flight keeps its settings and its result is kept.
        assert_eq!(polled.settings.policy.interval, Duration::from_secs(3600));
        table.finished(polled.id, polled_at(now + hours(1), 2), None, now);
        assert_eq!(table.next_due(NO_LIMIT), Some(now + hours(1)));
        let [next] = take_all(&mut table, now + hours(1)).try_into().unwrap();
        assert_eq!(next.settings.policy.interval, Duration::from_secs(7200));
        // Failures the store did not record are counted on.
        assert_eq!(next.errors, 2);
    }

    #[test]
    fn a_removed_feed_is_not_queued_again() {
        let now = Utc::now();
        let mut table = Table::default();
        table.reconfigure(vec![feed_due(1, None), feed_due(2, None)], &not_pushed, now);
        let parent = CancellationToken::new();
        let (polled, cancel) = table.take_due(now, NO_LIMIT, &parent, &not_pushed).unwrap();
        let changes = table.reconfigure(vec![feed_due(3, None)], &not_pushed, now);
        let expected = Changes {
            added: 1,
            removed: 2,
            changed: 0,
        };
        assert_eq!(changes, expected);
        assert!(cancel.is_cancelled());
        table.finished(polled.id, polled_at(now + hours(1), 0), None, now);
        assert_eq!(ids(&take_all(&mut table, now + hours(9))), [3]);
        assert!(table.index.keys().all(|id| *id == FeedId(3)));
    }

    #[test]
    fn a_feed_removed_and_added_back_while_polling_is_polled_once() {
        let now = Utc::now();
        let mut table = Table::default();
        table.reconfigure(vec![feed_due(1, None)], &not_pushed, now);
        let [polled] = take_all(&mut table, now).try_into().unwrap();
        table.reconfigure(vec![], &not_pushed, now);
        let changes = table.reconfigure(vec![feed_due(1, None)], &not_pushed, now);
        assert_eq!(changes.added, 1);
        assert!(take_all(&mut table, now + hours(9)).is_empty());
        table.finished(polled.id, polled_at(now + hours(1), 0), None, now);
        assert_eq!(ids(&take_all(&mut table, now + hours(1))), [1]);
    }

    #[test]
    fn a_websub_lease_bounds_the_wait_and_its_end_polls_at_once() {
        let now = Utc::now();
        let mut table = Table::default();
        let lease = now + hours(1);
        let pushed = |id: FeedId| (id == FeedId(1)).then_some(lease);
        let feeds = vec![
            feed_due(1, Some(now + hours(5))),
            feed_due(2, Some(now + hours(5))),
        ];
        table.reconfigure(feeds, &pushed, now);
        assert_eq!(table.next_due(NO_LIMIT), Some(lease));
        // The lease ends early: feed 1 is due at once.
        let later = now + chrono::TimeDelta::minutes(1);
        table.pushes_changed(&HashMap::new(), later);
        assert_eq!(ids(&take_all(&mut table, later)), [1]);
        // Feed 2's lease begins: it waits until its end at most; stale entries are skipped.
        for minutes in 1..=3 {
            let lease =
                HashMap::from([(FeedId(2), now + chrono::TimeDelta::minutes(30 + minutes))]);
            table.pushes_changed(&lease, later);
        }
        assert_eq!(ids(&take_all(&mut table, now + hours(1))), [2]);
        assert!(take_all(&mut table, now + hours(9)).is_empty());
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
