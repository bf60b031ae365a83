//! Scheduling: the configured feeds → one task per feed that sleeps until the feed is due,
//! waits for a free slot (bounded concurrency) and runs `pipeline::refresh_feed`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::error;

use crate::pipeline::{self, Context, Report};
use crate::schedule;
use crate::store::FeedState;

/// A feed to poll and its interval.
#[derive(Debug, Clone)]
pub struct ScheduledFeed {
    /// Stored state (validators, next poll).
    pub state: FeedState,
    /// Effective interval.
    pub interval: Duration,
}

/// Starts one polling task per feed on `tracker`. Each stops at the next await point once
/// `cancel` fires, except while a response is being stored.
pub fn spawn(
    ctx: Arc<Context>,
    feeds: Vec<ScheduledFeed>,
    concurrency: usize,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    for feed in feeds {
        tracker.spawn(feed_loop(ctx.clone(), feed, slots.clone(), cancel.clone()));
    }
}

async fn feed_loop(
    ctx: Arc<Context>,
    mut feed: ScheduledFeed,
    slots: Arc<Semaphore>,
    cancel: CancellationToken,
) {
    loop {
        let wait = feed.state.next_poll_at.map_or(Duration::ZERO, |due| {
            (due - Utc::now()).to_std().unwrap_or(Duration::ZERO)
        });
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let _slot = tokio::select! {
            () = cancel.cancelled() => return,
            slot = slots.acquire() => match slot {
                Ok(slot) => slot,
                Err(_) => return, // the semaphore is never closed; treat it as shutdown
            },
        };
        if poll(&ctx, &mut feed, &cancel).await.is_none() && cancel.is_cancelled() {
            return;
        }
    }
}

/// Polls once. A store error is logged and the feed retried after its backoff.
async fn poll(
    ctx: &Context,
    feed: &mut ScheduledFeed,
    cancel: &CancellationToken,
) -> Option<Report> {
    match pipeline::refresh_feed(ctx, &mut feed.state, feed.interval, cancel).await {
        Ok(report) => report,
        Err(e) => {
            error!(feed_url = %feed.state.url, error = %e, "cannot record poll");
            feed.state.error_count = feed.state.error_count.saturating_add(1);
            feed.state.next_poll_at = Some(schedule::next_poll(
                Utc::now(),
                feed.interval,
                feed.state.error_count,
                ctx.max_backoff,
            ));
            None
        }
    }
}

/// Polls every feed once, at most `concurrency` at a time, and returns each report (in the
/// order of `feeds`; `None` for a feed whose poll could not be recorded). Calls `on_done`
/// after each feed, for progress display.
pub async fn poll_all(
    ctx: Arc<Context>,
    feeds: Vec<ScheduledFeed>,
    concurrency: usize,
    mut on_done: impl FnMut(&FeedState, Option<&Report>),
) -> Vec<(FeedState, Option<Report>)> {
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    let cancel = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut feed) in feeds.into_iter().enumerate() {
        let (ctx, slots, cancel) = (ctx.clone(), slots.clone(), cancel.clone());
        tasks.spawn(async move {
            // Invariant: the semaphore is never closed.
            let _slot = slots.acquire().await.expect("semaphore open");
            let report = poll(&ctx, &mut feed, &cancel).await;
            (i, feed.state, report)
        });
    }
    let mut out = Vec::with_capacity(tasks.len());
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((i, state, report)) => {
                on_done(&state, report.as_ref());
                out.push((i, state, report));
            }
            Err(e) => error!(error = %e, "poll task failed"),
        }
    }
    out.sort_by_key(|(i, _, _)| *i);
    out.into_iter().map(|(_, s, r)| (s, r)).collect()
}
