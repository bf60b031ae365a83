//! Scheduling: the configured feeds → one task per feed that sleeps until the feed is due and
//! runs `pipeline::refresh_feed`; and `poll_all` for a one-off poll of every feed.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info};

use crate::config::ReadingTimeConfig;
use crate::hosts;
use crate::pipeline::{self, Context, Report};
use crate::redact::Redacted;
use crate::schedule::{self, Policy};
use crate::store::FeedState;

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

/// Starts one polling task per feed on `tracker` and returns how many. Each stops at its next
/// wait once `cancel` fires; a poll whose response has arrived is finished first. Feeds that
/// answered 410 Gone are not polled.
pub fn spawn(
    ctx: Arc<Context>,
    feeds: Vec<ScheduledFeed>,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
) -> usize {
    let mut started = 0;
    for feed in feeds {
        if feed.state.gone {
            info!(feed_url = %Redacted(&feed.state.url), "feed is gone (410): not polled; remove it from the config");
        }
        tracker.spawn(feed_loop(ctx.clone(), feed, cancel.clone()));
        started += 1;
    }
    started
}

/// Polls one feed on its schedule until `cancel`. A gone feed's task stays, idle, so that the
/// number of running tasks always equals the number of feeds (the watchdog checks it).
async fn feed_loop(ctx: Arc<Context>, mut feed: ScheduledFeed, cancel: CancellationToken) {
    loop {
        if feed.state.gone {
            cancel.cancelled().await;
            return;
        }
        let wait = feed.state.next_poll_at.map_or(Duration::ZERO, |due| {
            (due - Utc::now()).to_std().unwrap_or(Duration::ZERO)
        });
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        // Boxed: a sleeping feed's task keeps only its state, not room for a whole poll.
        feed = Box::pin(poll_contained(&ctx, feed, &cancel)).await.0;
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
            error!(feed_url = %Redacted(&feed.state.url), error = %e, "poll crashed (a bug: please report it)");
            feed.state.error_count = feed.state.error_count.saturating_add(1);
            let next =
                schedule::after_error(Utc::now(), &feed.policy, feed.state.error_count, None);
            feed.state.next_poll_at = Some(next.at);
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
            error!(feed_url = %Redacted(&feed.state.url), error = %e, "cannot record poll");
            feed.state.error_count = feed.state.error_count.saturating_add(1);
            let next =
                schedule::after_error(Utc::now(), &feed.policy, feed.state.error_count, None);
            feed.state.next_poll_at = Some(next.at);
            None
        }
    }
}

/// Polls every feed once, gone ones included (an explicit request), and calls `on_done` with
/// each feed's state and report as it finishes (`None` for a feed whose poll could not be
/// recorded).
///
/// At most [`IN_FLIGHT_PER_SLOT`] polls per request slot are under way at once, taken in
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
                validators: crate::fetch::Validators::default(),
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
