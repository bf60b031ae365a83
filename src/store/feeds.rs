//! Feed rows: the configured feeds, their HTTP validators, polling hints and the outcome of
//! each poll.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use url::Url;

use super::bands::{BandIndex, Uncommitted};
use super::checkpoint::Checkpointer;
use super::items::{self, NearCheck, SaveCounts};
use super::{Store, StoreError, from_secs, lock, to_secs};
use crate::model::{
    FeedFailure, FeedHints, FeedId, FeedMeta, Health, NewItem, PollKind, Repairs, SubState,
    Subscription, Validators,
};

/// What the poller needs to know about a feed between polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedState {
    /// Row id.
    pub id: FeedId,
    /// The configured URL.
    pub url: Url,
    /// Where a permanent redirect said the feed moved; polled instead of `url`. Boxed: few
    /// feeds move, and every configured feed's state is held while it waits.
    pub moved_to: Option<Box<Url>>,
    /// Validators for the next conditional GET.
    pub validators: Validators,
    /// Polling hints of the last document fetched.
    pub hints: FeedHints,
    /// Consecutive failed polls.
    pub error_count: u32,
    /// When the next poll is due; `None` for a new feed (due now) or a gone one.
    pub next_poll_at: Option<DateTime<Utc>>,
    /// The server answered 410 Gone: the feed is no longer polled on schedule.
    pub gone: bool,
    /// The feed's own title, if known.
    pub title: Option<String>,
    /// The error of the last poll, if it failed.
    pub last_error: Option<String>,
}

impl FeedState {
    /// A short name for logs: the feed's own title, else its host.
    pub fn name(&self) -> &str {
        self.title
            .as_deref()
            .or_else(|| self.url.host_str())
            .unwrap_or_else(|| self.url.as_str())
    }

    /// The URL to request: where the feed moved, else the configured one.
    pub fn fetch_url(&self) -> &Url {
        self.moved_to.as_deref().unwrap_or(&self.url)
    }

    /// Failed polls in a row after a poll that came to `kind`: a success resets the count
    /// (Miniflux's `ResetErrorCounter`), a failure adds one. What the store counts in the
    /// feed's row too.
    pub fn errors_after(&self, kind: PollKind) -> u32 {
        if kind.is_error() {
            self.error_count.saturating_add(1)
        } else {
            0
        }
    }

    /// Takes in what a poll, now stored, changed about the feed.
    pub fn recorded(&mut self, change: FeedChange) {
        if let Some(v) = change.validators {
            self.validators = v;
        }
        if change.title.is_some() {
            self.title = change.title;
        }
        if let Some(to) = change.moved_to {
            self.moved_to = Some(Box::new(to));
        }
        self.hints = change.hints;
        self.error_count = change.error_count;
        self.last_error = change.error;
        self.gone = change.kind == PollKind::Gone;
        self.next_poll_at = change.next_poll_at;
    }

    /// Counts a poll whose result could not be stored (its write failed, or it crashed) as
    /// one more error, and makes the next poll due when `backoff` says for that many errors
    /// in a row. Nothing else changes: the store has none of it.
    pub fn unrecorded_failure(&mut self, backoff: impl FnOnce(u32) -> DateTime<Utc>) {
        self.error_count = self.errors_after(PollKind::Failed);
        self.next_poll_at = Some(backoff(self.error_count));
    }
}

/// What a poll changes about its feed's [`FeedState`], apart from the [`PollRecord`] the
/// store takes (and frees).
#[derive(Debug, Clone)]
pub struct FeedChange {
    /// What the poll came to.
    pub kind: PollKind,
    /// New validators, when the server answered with content or 304.
    pub validators: Option<Validators>,
    /// The feed's own title, when the document has one.
    pub title: Option<String>,
    /// A new permanent move.
    pub moved_to: Option<Url>,
    /// The polling hints now in force: the new document's, else the previous ones.
    pub hints: FeedHints,
    /// Failed polls in a row ([`FeedState::errors_after`]).
    pub error_count: u32,
    /// The error, when the poll failed.
    pub error: Option<String>,
    /// When the next poll is due (`None`: not on schedule).
    pub next_poll_at: Option<DateTime<Utc>>,
}

/// What one poll produced.
#[derive(Debug)]
pub enum PollResult {
    /// A new document, parsed.
    Fetched {
        /// HTTP status.
        status: u16,
        /// Validators it came with.
        validators: Validators,
        /// The feed's title and site.
        meta: FeedMeta,
        /// Its polling hints.
        hints: FeedHints,
        /// Its items, identified.
        items: Vec<NewItem>,
    },
    /// 304 Not Modified.
    NotModified {
        /// Validators to keep.
        validators: Validators,
    },
    /// The poll failed.
    Failed {
        /// HTTP status, if the server answered.
        status: Option<u16>,
        /// The error, one line.
        error: String,
    },
    /// 410 Gone: the publisher removed the feed for good.
    Gone {
        /// The error, one line.
        error: String,
    },
}

impl PollResult {
    /// What the poll came to (stored in `last_result`).
    pub fn kind(&self) -> PollKind {
        match self {
            PollResult::Fetched { .. } => PollKind::Fetched,
            PollResult::NotModified { .. } => PollKind::NotModified,
            PollResult::Failed { .. } => PollKind::Failed,
            PollResult::Gone { .. } => PollKind::Gone,
        }
    }

    /// The HTTP status of the answer, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            PollResult::Fetched { status, .. } => Some(*status),
            PollResult::NotModified { .. } => Some(304),
            PollResult::Failed { status, .. } => *status,
            PollResult::Gone { .. } => Some(410),
        }
    }

    /// The error, when the poll failed.
    pub fn error(&self) -> Option<&str> {
        match self {
            PollResult::Failed { error, .. } | PollResult::Gone { error } => Some(error),
            PollResult::Fetched { .. } | PollResult::NotModified { .. } => None,
        }
    }

    /// The validators to send next time, when the server answered with content or 304.
    pub fn validators(&self) -> Option<&Validators> {
        match self {
            PollResult::Fetched { validators, .. } | PollResult::NotModified { validators } => {
                Some(validators)
            }
            PollResult::Failed { .. } | PollResult::Gone { .. } => None,
        }
    }

    /// The new document's polling hints and title, when there is a new document.
    pub fn document(&self) -> Option<(&FeedHints, &FeedMeta)> {
        match self {
            PollResult::Fetched { hints, meta, .. } => Some((hints, meta)),
            _ => None,
        }
    }
}

/// Stored in `last_result` as [`PollKind::as_str`]: the names the column has always held.
impl rusqlite::ToSql for PollKind {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
    }
}

impl rusqlite::types::FromSql for PollKind {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let name = value.as_str()?;
        PollKind::from_name(name).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(format!("unknown poll result {name:?}").into())
        })
    }
}

/// A poll to record.
#[derive(Debug)]
pub struct PollRecord {
    /// When the poll started.
    pub at: DateTime<Utc>,
    /// What came of it.
    pub result: PollResult,
    /// When to poll next (`None`: not again on schedule) and why.
    pub next_poll: Option<(DateTime<Utc>, &'static str)>,
    /// A permanent redirect's target, to poll from now on.
    pub moved_to: Option<Url>,
    /// The near-duplicate lookup to finish when the poll is written (`None`: detection is
    /// off, or no new item was looked up).
    pub near: Option<NearCheck>,
}

#[cfg(test)]
impl PollRecord {
    /// A 200 poll of `items` now, with nothing else to record: what the tests of the stages
    /// that read stored items start from.
    pub(crate) fn fetched_now(items: Vec<NewItem>) -> PollRecord {
        PollRecord {
            at: Utc::now(),
            result: PollResult::Fetched {
                status: 200,
                validators: Default::default(),
                meta: Default::default(),
                hints: Default::default(),
                items,
            },
            next_poll: None,
            moved_to: None,
            near: None,
        }
    }
}

/// Stored as the repairs' names, NULL for none (so that `COUNT(repairs)` counts repaired
/// feeds).
impl rusqlite::ToSql for Repairs {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(if self.is_empty() {
            rusqlite::types::ToSqlOutput::Owned(rusqlite::types::Value::Null)
        } else {
            rusqlite::types::ToSqlOutput::Owned(rusqlite::types::Value::Text(self.to_names()))
        })
    }
}

impl rusqlite::types::FromSql for Repairs {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        match value {
            rusqlite::types::ValueRef::Null => Ok(Repairs::default()),
            v => Ok(Repairs::from_names(v.as_str()?)),
        }
    }
}

/// Counts a failed poll on the feed row; returns the consecutive errors now.
fn record_failure(
    tx: &Connection,
    feed: FeedId,
    at: i64,
    status: Option<u16>,
    error: &str,
) -> rusqlite::Result<u32> {
    tx.query_row(
        "UPDATE feeds SET last_status = ?2, last_error = ?3, error_count = error_count + 1,
            failing_since = COALESCE(failing_since, ?4)
         WHERE id = ?1 RETURNING error_count",
        params![feed.0, status, error, at],
        |r| r.get(0),
    )
}

/// The columns [`state_from_row`] reads, in order.
const STATE_COLUMNS: &str = "id, etag, last_modified, error_count, next_poll_at, title, last_error, \
     moved_to, last_result, hint_ttl, hint_period, skip_hours, skip_days";

/// The configured feeds by last result, and those repaired: read from the covering index
/// `feeds_by_result`, never from the feeds' rows.
const FEED_COUNTS: &str = "SELECT last_result, COUNT(*), COUNT(repairs) FROM feeds
     WHERE active = 1 GROUP BY last_result";

/// The name a feed is shown by: its configured title, else its own, else its URL.
const SHOWN_NAME: &str = "COALESCE(config_title, title, url)";

/// The number of [`STATE_COLUMNS`].
const STATE_COLUMN_COUNT: usize = 13;

fn state_from_row(url: Url, r: &rusqlite::Row<'_>) -> rusqlite::Result<FeedState> {
    let secs = |i| -> rusqlite::Result<Option<Duration>> {
        Ok(r.get::<_, Option<i64>>(i)?
            .map(|s| Duration::from_secs(s.max(0) as u64)))
    };
    Ok(FeedState {
        id: FeedId(r.get(0)?),
        validators: Validators {
            etag: r.get(1)?,
            last_modified: r.get(2)?,
        },
        error_count: r.get(3)?,
        next_poll_at: r.get::<_, Option<i64>>(4)?.map(from_secs),
        title: r.get(5)?,
        last_error: r.get(6)?,
        moved_to: r
            .get::<_, Option<String>>(7)?
            .and_then(|u| Url::parse(&u).ok().map(Box::new)),
        gone: r.get::<_, Option<PollKind>>(8)? == Some(PollKind::Gone),
        hints: FeedHints {
            ttl: secs(9)?,
            update_period: secs(10)?,
            skip_hours: r.get(11)?,
            skip_days: r.get(12)?,
        },
        url,
    })
}

impl Store {
    /// Makes the feeds table match the config: every configured feed gets a row (active), every
    /// other row is deactivated (its items are kept but no longer served). Returns the state of
    /// each configured feed, in config order.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn sync_feeds(&self, feeds: &[Subscription]) -> Result<Vec<FeedState>, StoreError> {
        self.sync_feeds_with(feeds.to_vec(), |_, state| state).await
    }

    /// [`Store::sync_feeds`] with the feeds given one at a time, and each one's state handed
    /// to `make` (with its position) as soon as it is read: for a config of 100,000 feeds,
    /// no vector of states and no copy of every URL beside what `make` builds from them.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn sync_feeds_with<T: Send + 'static>(
        &self,
        feeds: impl IntoIterator<Item = Subscription, IntoIter: Send> + Send + 'static,
        mut make: impl FnMut(usize, FeedState) -> T + Send + 'static,
    ) -> Result<Vec<T>, StoreError> {
        let now = to_secs(Utc::now());
        let (made, changed) = self
            .write(move |conn| {
                let feeds = feeds.into_iter();
                let tx = conn.transaction()?;
                let mut made = Vec::with_capacity(feeds.size_hint().0);
                let mut configured = HashSet::with_capacity(feeds.size_hint().0);
                let mut changed = 0;
                {
                    // A row is written only when it changes: a start or a reload with the
                    // feeds as they were writes nothing (it rewrote every row, twice: 33 MB
                    // of log at 100,000 feeds).
                    let mut upsert = tx.prepare(
                        "INSERT INTO feeds (url, config_title, active, created_at) VALUES (?1, ?2, 1, ?3)
                         ON CONFLICT (url) DO UPDATE SET config_title = excluded.config_title, active = 1
                         WHERE feeds.config_title IS NOT excluded.config_title OR feeds.active = 0",
                    )?;
                    let mut state =
                        tx.prepare(&format!("SELECT {STATE_COLUMNS} FROM feeds WHERE url = ?1"))?;
                    for (i, Subscription { url, title }) in feeds.enumerate() {
                        changed += upsert.execute(params![url.as_str(), title, now])?;
                        // SQLite copies the bound URL: the state takes the URL itself.
                        let mut rows = state.query([url.as_str()])?;
                        let row = rows.next()?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
                        let feed = state_from_row(url, row)?;
                        configured.insert(feed.id);
                        made.push(make(i, feed));
                    }
                    // The feeds no longer configured: kept, no longer served.
                    let mut active = tx.prepare("SELECT id FROM feeds WHERE active = 1")?;
                    let gone = active
                        .query_map([], |r| r.get(0).map(FeedId))?
                        .filter(|id| id.as_ref().is_ok_and(|id| !configured.contains(id)))
                        .collect::<Result<Vec<FeedId>, _>>()?;
                    let mut deactivate = tx.prepare("UPDATE feeds SET active = 0 WHERE id = ?1")?;
                    for id in gone {
                        changed += deactivate.execute([id.0])?;
                    }
                }
                tx.commit()?;
                Ok((made, changed))
            })
            .await?;
        if changed > 0 {
            self.bump();
        }
        Ok(made)
    }

    /// Records one poll of `feed`: its items (new ones inserted, changed ones updated),
    /// validators, hints, status, error count and next poll. Returns what changed.
    ///
    /// Polls that finish while another is being written are committed together, in one
    /// transaction (group commit): a commit writes every page it changed to the WAL, and the
    /// pages of the shared indexes are most of them. While polls arrive in a stream, the
    /// writer waits a moment for more to join (10 ms at most). Each poll stays all or nothing
    /// (a batch with a failing poll is written again poll by poll), and readers only ever see
    /// whole polls.
    ///
    /// # Errors
    /// SQLite errors; nothing of the poll is stored then.
    pub async fn record_poll(
        &self,
        feed: FeedId,
        record: PollRecord,
    ) -> Result<SaveCounts, StoreError> {
        self.refuse_writes()?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let _waiting = Waiting::new(&self.pending_polls.waiting);
        lock(&self.pending_polls.queue).push(PendingPoll {
            feed,
            record,
            reply,
            queued_at: Instant::now(),
        });
        self.pending_polls.queued.notify_one();
        // One writer task at a time drains the queue, batch after batch, until it finds it
        // empty; a poll queued meanwhile rides along instead of waiting in a thread of its own.
        if !self.pending_polls.draining.swap(true, Ordering::AcqRel) {
            let (pending, index, writer, checkpointer) = (
                self.pending_polls.clone(),
                self.bands.clone(),
                self.writer.clone(),
                self.checkpointer.clone(),
            );
            // The drain answers every poll it takes; there is nothing else to wait for.
            drop(tokio::task::spawn_blocking(move || {
                drain(&pending, &writer, &index, &checkpointer);
            }));
        }
        let (counts, record) = answer.await.map_err(|_| StoreError::WriteLost)?;
        // Freed here rather than by the writer: the items were allocated by the thread that
        // parsed them, and freeing them takes that allocator arena's lock, which the writer,
        // the one stage that cannot run twice at once, should not wait for.
        drop(record);
        let counts = counts?;
        // A feed that starts or stops failing changes the health items of the merged feed.
        if counts.new + counts.updated > 0 || counts.failing_changed {
            self.bump();
        }
        Ok(counts)
    }

    /// The stored state of the feed with row id `feed` (`None` if there is no such row):
    /// what the scheduler reads as a poll starts (it holds only the schedule of each waiting
    /// feed), and what a WebSub push is stored against.
    ///
    /// # Errors
    /// SQLite errors, or a stored URL that does not parse.
    pub async fn feed_state_by_id(&self, feed: FeedId) -> Result<Option<FeedState>, StoreError> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {STATE_COLUMNS}, url FROM feeds WHERE id = ?1"),
                    [feed.0],
                    |r| {
                        let url: String = r.get(STATE_COLUMN_COUNT)?;
                        let url = Url::parse(&url).map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(
                                STATE_COLUMN_COUNT,
                                rusqlite::types::Type::Text,
                                Box::new(e),
                            )
                        })?;
                        state_from_row(url, r)
                    },
                )
                .optional()?)
        })
        .await
    }
}

/// One feed as `feedmerge status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FeedStatus {
    /// The configured URL.
    pub url: String,
    /// Display title.
    pub title: Option<String>,
    /// What the last poll came to; `None` before the first.
    pub last_result: Option<PollKind>,
    /// When the last poll started.
    pub last_polled_at: Option<DateTime<Utc>>,
    /// HTTP status of the last answer.
    pub last_status: Option<u16>,
    /// Items stored for the feed.
    pub items: u64,
    /// Consecutive failed polls.
    pub error_count: u32,
    /// When the next poll is due.
    pub next_poll_at: Option<DateTime<Utc>>,
    /// What decided it.
    pub next_poll_reason: Option<String>,
    /// The last error, while failing.
    pub last_error: Option<String>,
    /// Where a permanent redirect leads, if the feed moved.
    pub moved_to: Option<String>,
    /// What had to be repaired to read the last document.
    pub repairs: Repairs,
    /// The WebSub hub the feed announces, if any.
    pub hub: Option<String>,
    /// Where our subscription at that hub stands.
    pub websub: Option<SubState>,
    /// When its lease ends, while active.
    pub websub_expires_at: Option<DateTime<Utc>>,
    /// Why the last subscription request failed.
    pub websub_error: Option<String>,
}

impl Store {
    /// Each of `feeds` (the configured ones) with its polling state, in the order given; a
    /// feed without a row yet (never polled) as such. Reads only: works on a store opened
    /// read-only, beside a daemon whose registered feeds may differ.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn feed_statuses(
        &self,
        feeds: &[Subscription],
    ) -> Result<Vec<FeedStatus>, StoreError> {
        let feeds = feeds.to_vec();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT f.title, f.last_result, f.last_polled_at,
                    f.last_status, (SELECT COUNT(*) FROM items i WHERE i.feed_id = f.id),
                    f.error_count, f.next_poll_at, f.next_poll_reason, f.last_error, f.moved_to,
                    f.repairs, w.hub, w.state, w.expires_at, w.last_error
                 FROM feeds f LEFT JOIN websub w ON w.feed_id = f.id WHERE f.url = ?1",
            )?;
            let mut statuses = Vec::with_capacity(feeds.len());
            for feed in feeds {
                let stored = stmt
                    .query_row([feed.url.as_str()], |r| {
                        Ok(FeedStatus {
                            url: feed.url.to_string(),
                            title: feed.title.clone().or(r.get(0)?),
                            last_result: r.get(1)?,
                            last_polled_at: r.get::<_, Option<i64>>(2)?.map(from_secs),
                            last_status: r.get(3)?,
                            items: r.get::<_, i64>(4)?.max(0) as u64,
                            error_count: r.get(5)?,
                            next_poll_at: r.get::<_, Option<i64>>(6)?.map(from_secs),
                            next_poll_reason: r.get(7)?,
                            last_error: r.get(8)?,
                            moved_to: r.get(9)?,
                            repairs: r.get(10)?,
                            hub: r.get(11)?,
                            websub: r.get(12)?,
                            websub_expires_at: r.get::<_, Option<i64>>(13)?.map(from_secs),
                            websub_error: r.get(14)?,
                        })
                    })
                    .optional()?;
                statuses.push(stored.unwrap_or_else(|| FeedStatus {
                    url: feed.url.to_string(),
                    title: feed.title,
                    ..FeedStatus::default()
                }));
            }
            Ok(statuses)
        })
        .await
    }
}

impl Store {
    /// The feeds' own titles (as their documents give them), by URL as configured, for the
    /// feeds that have one. Reads only: works on a store opened read-only.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn own_titles(&self) -> Result<HashMap<String, String>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT url, title FROM feeds WHERE title IS NOT NULL AND title <> ''",
            )?;
            let titles = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok(titles)
        })
        .await
    }
}

/// How many configured feeds are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedCounts {
    /// Last poll succeeded.
    pub ok: usize,
    /// Last poll failed.
    pub failing: usize,
    /// Answered 410 Gone.
    pub gone: usize,
    /// Not polled yet.
    pub new: usize,
    /// Whose last document had to be repaired to be read (counted in the states above too).
    pub repaired: usize,
}

impl FeedCounts {
    /// The feeds of `health`.
    pub fn of(&self, health: Health) -> usize {
        match health {
            Health::New => self.new,
            Health::Ok => self.ok,
            Health::Failing => self.failing,
            Health::Gone => self.gone,
        }
    }

    fn of_mut(&mut self, health: Health) -> &mut usize {
        match health {
            Health::New => &mut self.new,
            Health::Ok => &mut self.ok,
            Health::Failing => &mut self.failing,
            Health::Gone => &mut self.gone,
        }
    }
}

impl Store {
    /// The configured feeds that are failing now, longest-failing first.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn failing_feeds(&self) -> Result<Vec<FeedFailure>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT url, COALESCE(config_title, title, url), failing_since, COALESCE(last_error, '')
                 FROM feeds WHERE active = 1 AND failing_since IS NOT NULL
                 ORDER BY failing_since, id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(FeedFailure {
                    feed_url: r.get(0)?,
                    feed_title: r.get(1)?,
                    since: from_secs(r.get(2)?),
                    error: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// The name each registered feed is shown by (its configured title, else its own, else
    /// its URL), by URL: for the news page's list of sources.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn feed_names(&self) -> Result<HashMap<String, String>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT url, {SHOWN_NAME} FROM feeds WHERE active = 1"
            ))?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<HashMap<_, _>, _>>()?)
        })
        .await
    }

    /// The name the registered feed at `url` is shown by ([`Store::feed_names`] for one).
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn feed_name(&self, url: &str) -> Result<Option<String>, StoreError> {
        let url = url.to_owned();
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {SHOWN_NAME} FROM feeds WHERE url = ?1 AND active = 1"
                ))?
                .query_row([url], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    /// Counts the configured feeds by state.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn feed_counts(&self) -> Result<FeedCounts, StoreError> {
        self.read(|conn| {
            let mut counts = FeedCounts::default();
            let mut stmt = conn.prepare_cached(FEED_COUNTS)?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let n = r.get::<_, i64>(1)?.max(0) as usize;
                counts.repaired += r.get::<_, i64>(2)?.max(0) as usize;
                *counts.of_mut(Health::of(r.get(0)?)) += n;
            }
            Ok(counts)
        })
        .await
    }
}

/// While polls arrive in a stream (the last group commit ended less than this ago: a first
/// import, a daemon's start-up), the writer gathers the polls of the next one for up to
/// [`GATHER_WAIT`] after the first of them was queued, or until [`GATHER_POLLS`] are queued.
/// A poll after a quiet spell is written at once.
pub(super) const GATHER_AFTER: Duration = Duration::from_millis(100);

/// How long the first poll of a group commit may wait for others while polls arrive in a
/// stream ([`GATHER_AFTER`]). Each commit rewrites every page its polls changed, and the
/// leaves of the index by date, which new items enter at random places, are most of them: a
/// first import of 1000 feeds committed 2.2 polls at a time and wrote 40,600 pages of log
/// for a database of 21,700. The wait holds the poll's global slot, not a CPU slot: parsing
/// goes on meanwhile.
pub(super) const GATHER_WAIT: Duration = Duration::from_millis(10);

/// Polls queued at which a gathering group commit stops waiting (see [`GATHER_WAIT`]): half
/// of `[poller] concurrency`'s default, so that fetching never waits for the writer's wait.
pub(super) const GATHER_POLLS: usize = 8;

/// Polls waiting to be written together (see [`Store::record_poll`]).
#[derive(Default)]
pub(super) struct PendingPolls {
    queue: Mutex<Vec<PendingPoll>>,
    /// Signalled when a poll is queued, for a writer gathering a group commit.
    queued: Condvar,
    /// When the last group commit ended (see [`GATHER_AFTER`]).
    last_commit: Mutex<Option<Instant>>,
    /// A drain is running: it will take whatever is queued.
    draining: AtomicBool,
    /// Polls queued or being written, whose answer has not arrived.
    waiting: AtomicUsize,
}

impl PendingPolls {
    /// Takes the queued polls. While polls arrive in a stream, first waits a moment for more
    /// to join them (see [`GATHER_WAIT`]); never waits for an empty queue.
    fn take(&self) -> Vec<PendingPoll> {
        let streaming = lock(&self.last_commit).is_some_and(|t| t.elapsed() < GATHER_AFTER);
        let mut queue = lock(&self.queue);
        if streaming {
            if let Some(first) = queue.first().map(|p| p.queued_at) {
                let left = GATHER_WAIT.saturating_sub(first.elapsed());
                queue = self
                    .queued
                    .wait_timeout_while(queue, left, |q| q.len() < GATHER_POLLS)
                    .map_or_else(|e| e.into_inner().0, |(q, _)| q);
            }
        }
        std::mem::take(&mut *queue)
    }

    /// Notes that a group commit ended now.
    fn committed(&self) {
        *lock(&self.last_commit) = Some(Instant::now());
    }
}

/// Counts a poll in [`PendingPolls::waiting`] until dropped (answered, or the poll's task
/// dropped).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Store {
    /// Polls handed to [`Store::record_poll`] and not answered yet: `(queued, taken)`, those
    /// waiting in the queue and those the writer has taken (being written, or waiting for the
    /// writer connection).
    pub fn polls_waiting(&self) -> (usize, usize) {
        let queued = lock(&self.pending_polls.queue).len();
        let waiting = self.pending_polls.waiting.load(Ordering::Acquire);
        (queued, waiting.saturating_sub(queued))
    }
}

/// A poll waiting to be written, and where its outcome goes.
struct PendingPoll {
    feed: FeedId,
    record: PollRecord,
    /// The outcome, and the record back (see [`Store::record_poll`]).
    reply: tokio::sync::oneshot::Sender<(Result<SaveCounts, StoreError>, PollRecord)>,
    /// When it was queued.
    queued_at: Instant,
}

/// Writes queued polls, batch after batch, until the queue is empty.
fn drain(
    pending: &PendingPolls,
    writer: &tokio::sync::Mutex<Connection>,
    index: &Mutex<BandIndex>,
    checkpointer: &Checkpointer,
) {
    /// If this drain panics (a bug), its batch's polls get an error and the next poll starts a
    /// new drain: later polls are not stranded.
    struct Unwinding<'a>(&'a AtomicBool);
    impl Drop for Unwinding<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.store(false, Ordering::Release);
            }
        }
    }
    let _unwinding = Unwinding(&pending.draining);
    loop {
        let batch = pending.take();
        if !batch.is_empty() {
            let mut conn = writer.blocking_lock();
            checkpointer.writing(&mut conn, |conn| record_polls(conn, index, batch));
            pending.committed();
            continue;
        }
        pending.draining.store(false, Ordering::Release);
        // A poll queued after the take and before the store above saw a drain running: take
        // it, unless a new drain has started meanwhile.
        if lock(&pending.queue).is_empty() || pending.draining.swap(true, Ordering::AcqRel) {
            return;
        }
    }
}

/// Writes `batch` in one transaction. If a poll fails, or the commit itself (a full disk),
/// the whole transaction is rolled back and each poll is written again in a transaction of
/// its own: a poll that fails is rolled back alone, and each gets its own answer. (Not a
/// savepoint per poll: SQLite would copy every page a poll changes that an earlier poll of the
/// batch had changed, for a rollback that almost never happens.) New fingerprints join the
/// band index once committed.
fn record_polls(conn: &mut Connection, index: &Mutex<BandIndex>, batch: Vec<PendingPoll>) {
    let add = |written: &Uncommitted| lock(index).add(&written.items);
    let together = (|| -> Result<Vec<SaveCounts>, StoreError> {
        // Dropped without a commit, the transaction rolls back.
        let tx = conn.transaction()?;
        let mut written = Uncommitted::default();
        let results = batch
            .iter()
            .map(|p| record_one(&tx, p.feed, &p.record, &mut written, index))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit()?;
        add(&written);
        Ok(results)
    })();
    match together {
        Ok(results) => {
            for (p, r) in batch.into_iter().zip(results) {
                // The poll may have been cancelled meanwhile: its answer is then not needed.
                let _ = p.reply.send((Ok(r), p.record));
            }
        }
        Err(_) => {
            for p in batch {
                let alone = (|| {
                    let tx = conn.transaction()?;
                    let mut written = Uncommitted::default();
                    let counts = record_one(&tx, p.feed, &p.record, &mut written, index)?;
                    tx.commit()?;
                    add(&written);
                    Ok(counts)
                })();
                let _ = p.reply.send((alone, p.record));
            }
        }
    }
}

/// Writes one poll (see [`Store::record_poll`]).
fn record_one(
    tx: &Connection,
    feed: FeedId,
    record: &PollRecord,
    written: &mut Uncommitted,
    index: &Mutex<BandIndex>,
) -> Result<SaveCounts, StoreError> {
    let at = to_secs(record.at);
    let kind = record.result.kind();
    let (next, reason) = match record.next_poll {
        Some((t, why)) => (Some(to_secs(t)), Some(why)),
        None => (None, None),
    };
    tx.prepare_cached(
        "UPDATE feeds SET last_polled_at = ?2, last_result = ?3, next_poll_at = ?4,
            next_poll_reason = ?5, moved_to = COALESCE(?6, moved_to)
         WHERE id = ?1",
    )?
    .execute(params![
        feed.0,
        at,
        kind,
        next,
        reason,
        record.moved_to.as_ref().map(Url::as_str)
    ])?;
    let was_failing: bool = tx
        .prepare_cached("SELECT error_count > 0 FROM feeds WHERE id = ?1")?
        .query_row([feed.0], |r| r.get(0))?;
    let mut counts = SaveCounts::default();
    match &record.result {
        PollResult::Fetched {
            status,
            validators,
            meta,
            hints,
            items,
        } => {
            let near = record.near.as_ref().map(|check| (check, index));
            counts = items::save(tx, feed, items, at, written, near)?;
            super::articles::want(tx, feed, items)?;
            let secs = |d: Option<Duration>| d.map(|d| d.as_secs() as i64);
            tx.prepare_cached(
                "UPDATE feeds SET etag = ?2, last_modified = ?3, last_success_at = ?4,
                    last_status = ?5, last_error = NULL, error_count = 0,
                    failing_since = NULL, title = COALESCE(?6, title), site_link = COALESCE(?7, site_link),
                    hint_ttl = ?8, hint_period = ?9, skip_hours = ?10, skip_days = ?11,
                    repairs = ?12, icon_url = COALESCE(?13, icon_url)
                 WHERE id = ?1",
            )?
            .execute(params![
                    feed.0,
                    validators.etag,
                    validators.last_modified,
                    at,
                    status,
                    meta.title,
                    meta.site_link,
                    secs(hints.ttl),
                    secs(hints.update_period),
                    hints.skip_hours,
                    hints.skip_days,
                    meta.repairs,
                    meta.icon
                ])?;
        }
        PollResult::NotModified { validators } => {
            tx.prepare_cached(
                "UPDATE feeds SET etag = ?2, last_modified = ?3, last_success_at = ?4,
                    last_status = 304, last_error = NULL, error_count = 0,
                    failing_since = NULL
                 WHERE id = ?1",
            )?
            .execute(params![
                feed.0,
                validators.etag,
                validators.last_modified,
                at
            ])?;
        }
        PollResult::Failed { status, error } => {
            counts.error_count = record_failure(tx, feed, at, *status, error)?;
        }
        PollResult::Gone { error } => {
            counts.error_count = record_failure(tx, feed, at, Some(410), error)?;
        }
    }
    counts.failing_changed = was_failing != (counts.error_count > 0);
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ItemKey;

    fn fetched(items: &[&str]) -> PollRecord {
        PollRecord::fetched_now(
            items
                .iter()
                .map(|k| NewItem {
                    key: ItemKey((*k).to_owned()),
                    title: format!("item {k}"),
                    ..NewItem::default()
                })
                .collect(),
        )
    }

    /// `last_result` holds the names it always held: databases written before read back
    /// the same.
    #[test]
    fn poll_kinds_are_stored_under_the_names_of_old() {
        let conn = Connection::open_in_memory().unwrap();
        for (kind, name) in [
            (PollKind::Fetched, "ok"),
            (PollKind::NotModified, "not_modified"),
            (PollKind::Failed, "failed"),
            (PollKind::Gone, "gone"),
        ] {
            let stored: String = conn.query_row("SELECT ?1", [kind], |r| r.get(0)).unwrap();
            assert_eq!(stored, name);
            let read: PollKind = conn.query_row("SELECT ?1", [name], |r| r.get(0)).unwrap();
            assert_eq!(read, kind);
        }
        let unknown = conn.query_row("SELECT 'later'", [], |r| r.get::<_, PollKind>(0));
        assert!(unknown.is_err());
    }

    /// Counting the feeds by state reads a small index, not every feed's row.
    #[test]
    fn feeds_are_counted_from_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("t.db")).unwrap();
        super::super::migrations::migrate(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {FEED_COUNTS}"))
            .unwrap()
            .query_map([], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(plan, ["SCAN feeds USING COVERING INDEX feeds_by_result"]);
    }

    /// Registering the configured feeds writes only what changed: the same feeds again write
    /// nothing; a feed left out is kept but no longer active, a changed title is written, and
    /// a feed put back is active again under its old id.
    #[tokio::test]
    async fn syncing_the_feeds_writes_only_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = Store::open(&path).unwrap();
        let sub = |n: u32, title: Option<&str>| Subscription {
            url: Url::parse(&format!("http://127.0.0.1:9/{n}.xml")).unwrap(),
            title: title.map(str::to_owned),
        };
        let first = store
            .sync_feeds(&[sub(1, None), sub(2, Some("Two"))])
            .await
            .unwrap();
        let watcher = Connection::open(&path).unwrap();
        let version = || {
            watcher
                .query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0))
                .unwrap()
        };
        let active = || {
            let mut stmt = watcher
                .prepare("SELECT url, config_title FROM feeds WHERE active = 1 ORDER BY url")
                .unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<Vec<(String, Option<String>)>, _>>()
                .unwrap()
        };
        let before = version();
        let again = store
            .sync_feeds(&[sub(1, None), sub(2, Some("Two"))])
            .await
            .unwrap();
        assert_eq!(again, first);
        assert_eq!(version(), before, "the same feeds again: nothing written");

        store
            .sync_feeds(&[sub(2, Some("Deux")), sub(3, None)])
            .await
            .unwrap();
        assert_ne!(version(), before);
        let url = |n: u32| format!("http://127.0.0.1:9/{n}.xml");
        assert_eq!(active(), [(url(2), Some("Deux".into())), (url(3), None)]);
        let back = store.sync_feeds(&[sub(1, None)]).await.unwrap();
        assert_eq!(back[0].id, first[0].id);
        assert_eq!(active(), [(url(1), None)]);
    }

    /// A store in a temporary folder (kept while the folder lives) with `n` feeds.
    async fn store_with_feeds(n: usize) -> (tempfile::TempDir, Store, Vec<FeedState>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let configs: Vec<Subscription> = (0..n)
            .map(|i| Subscription::new(Url::parse(&format!("http://127.0.0.1:9/{i}.xml")).unwrap()))
            .collect();
        let feeds = store.sync_feeds(&configs).await.unwrap();
        (dir, store, feeds)
    }

    /// Bytes of pages in the page cache of `conn`.
    fn cache_used(conn: &Connection) -> i32 {
        let (mut current, mut highest) = (0, 0);
        // SAFETY: a status query on the handle of an open connection, which outlives it.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_db_status(
                conn.handle(),
                rusqlite::ffi::SQLITE_DBSTATUS_CACHE_USED,
                &mut current,
                &mut highest,
                0,
            )
        };
        assert_eq!(rc, rusqlite::ffi::SQLITE_OK);
        current
    }

    /// The merged items are read for a rendering, which is rare: the pages read for them do
    /// not stay in the reader connection's cache until the next.
    #[tokio::test]
    async fn reading_the_merged_items_leaves_the_readers_cache_empty() {
        let (_dir, store, feeds) = store_with_feeds(1).await;
        let keys: Vec<String> = (0..40).map(|n| n.to_string()).collect();
        let mut poll = fetched(&keys.iter().map(String::as_str).collect::<Vec<_>>());
        if let PollResult::Fetched { items, .. } = &mut poll.result {
            for item in items {
                item.content_html = "<p>word</p>".repeat(5_000);
            }
        }
        store.record_poll(feeds[0].id, poll).await.unwrap();
        let items = store
            .merged_items(crate::store::Selection {
                limit: 40,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(items.len(), 40);
        let used = cache_used(&*store.reader.lock().await);
        assert!(used < 64 * 1024, "{used} bytes of pages still cached");
    }

    /// A poll's items reach the database file (not only the log) while the store is open: its
    /// group commit wakes the checkpointer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_poll_reaches_the_database_file_while_the_store_is_open() {
        let (dir, store, feeds) = store_with_feeds(1).await;
        let size = || std::fs::metadata(dir.path().join("t.db")).unwrap().len();
        let settle = || async {
            let mut last = u64::MAX;
            while size() != last {
                last = size();
                tokio::time::sleep(Duration::from_millis(600)).await;
            }
            last
        };
        let before = settle().await;
        let mut poll = fetched(&["big"]);
        if let PollResult::Fetched { items, .. } = &mut poll.result {
            items[0].content_html = "<p>word</p>".repeat(50_000);
        }
        store.record_poll(feeds[0].id, poll).await.unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while size() < before + 500_000 && std::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(size() >= before + 500_000, "{before} -> {} bytes", size());
    }

    /// Polls queued while the writer is busy are committed together; one that fails among
    /// them (a feed without a row) is rolled back alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn polls_written_together_stay_whole_and_apart() {
        let (_dir, store, feeds) = store_with_feeds(8).await;

        // Hold the writer so that every poll queues, then let them go as one batch.
        let writer = store.writer.clone();
        let (locked, is_locked) = tokio::sync::oneshot::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let _held = writer.blocking_lock();
            locked.send(()).unwrap();
            released.recv().unwrap();
        });
        is_locked.await.unwrap();
        let mut polls = Vec::new();
        for (n, feed) in feeds.iter().enumerate() {
            let (store, id) = (store.clone(), feed.id);
            let keys = [format!("{n}-a"), format!("{n}-b")];
            polls.push(tokio::spawn(async move {
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                store.record_poll(id, fetched(&keys)).await
            }));
        }
        let orphan = {
            let store = store.clone();
            tokio::spawn(async move { store.record_poll(FeedId(9999), fetched(&["x"])).await })
        };
        // Every poll queues (the drain waits for the writer with at most the first ones).
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(store.pending_polls.draining.load(Ordering::Acquire));
        release.send(()).unwrap();
        holder.join().unwrap();

        for poll in polls {
            let counts = poll.await.unwrap().unwrap();
            assert_eq!(counts.new, 2);
        }
        assert!(orphan.await.unwrap().is_err(), "no such feed");
        assert!(lock(&store.pending_polls.queue).is_empty());
        let stored: i64 = store
            .read(|c| Ok(c.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(stored, 16);
    }

    /// Near-duplicate candidates come from the committed items of other feeds: read from the
    /// table when the index is first used, then added as each poll commits.
    #[tokio::test]
    async fn candidates_are_indexed_from_the_table_then_on_commit() {
        use crate::model::Fingerprint;
        let (_dir, store, feeds) = store_with_feeds(2).await;
        let (a, b) = (feeds[0].id, feeds[1].id);
        let with_print = |key: &str, bands: Vec<u32>, title_key: u32| {
            let mut record = fetched(&[key]);
            if let PollResult::Fetched { items, .. } = &mut record.result {
                items[0].fingerprint = Some(Fingerprint { bands, title_key });
            }
            record
        };
        let titles = |found: crate::store::NearLookup| -> Vec<Vec<String>> {
            // The text of every candidate comes along, and only theirs.
            let ids: std::collections::HashSet<i64> =
                found.candidates.iter().flatten().map(|c| c.id).collect();
            assert_eq!(
                found
                    .contents
                    .keys()
                    .copied()
                    .collect::<std::collections::HashSet<_>>(),
                ids
            );
            found
                .candidates
                .into_iter()
                .map(|c| c.into_iter().map(|c| c.title).collect())
                .collect()
        };
        let probes = |keys: &[(&str, &[u32], u32)]| -> Vec<crate::store::NearProbe> {
            keys.iter()
                .map(|(key, bands, title_key)| crate::store::NearProbe {
                    key: (*key).to_owned(),
                    canonical_link: None,
                    title: String::new(),
                    fingerprint: Fingerprint {
                        bands: bands.to_vec(),
                        title_key: *title_key,
                    },
                })
                .collect()
        };
        let any = |_: &str, _: &str| true;
        store
            .record_poll(a, with_print("one", vec![1, 2], 100))
            .await
            .unwrap();
        // First use: built from the table.
        let looked_up = probes(&[("x", &[2, 9], 999), ("y", &[8], 100), ("z", &[7], 7)]);
        let found = store.near_candidates(b, 0, looked_up.clone(), any).await;
        assert_eq!(
            titles(found.unwrap()),
            [vec!["item one"], vec!["item one"], vec![]]
        );
        // Not a candidate for its own feed.
        let own = store.near_candidates(a, 0, looked_up.clone(), any).await;
        assert!(titles(own.unwrap()).iter().all(Vec::is_empty));
        // The filter sees both titles.
        let none = store.near_candidates(b, 0, looked_up.clone(), |_, c| c != "item one");
        assert!(titles(none.await.unwrap()).iter().all(Vec::is_empty));
        // An item of `b` stored already is not looked up.
        store.record_poll(b, fetched(&["x"])).await.unwrap();
        let found = store.near_candidates(b, 0, looked_up.clone(), any).await;
        assert_eq!(titles(found.unwrap()), [vec![], vec!["item one"], vec![]]);
        // Added on commit.
        store
            .record_poll(a, with_print("two", vec![7], 200))
            .await
            .unwrap();
        let found = store.near_candidates(b, 0, looked_up, any).await;
        assert_eq!(
            titles(found.unwrap()),
            [vec![], vec!["item one"], vec!["item two"]]
        );
    }
}
