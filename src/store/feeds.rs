//! Feed rows: the configured feeds, their HTTP validators and the outcome of each poll.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use url::Url;

use super::items::{self, SaveCounts};
use super::{Store, StoreError, from_secs, to_secs};
use crate::config::FeedConfig;
use crate::fetch::Validators;
use crate::model::{FeedId, FeedMeta, NewItem};

/// What the poller needs to know about a feed between polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedState {
    /// Row id.
    pub id: FeedId,
    /// The configured URL.
    pub url: Url,
    /// Validators for the next conditional GET.
    pub validators: Validators,
    /// Consecutive failed polls.
    pub error_count: u32,
    /// When the next poll is due, if one was scheduled.
    pub next_poll_at: Option<DateTime<Utc>>,
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
}

/// A poll to record.
#[derive(Debug)]
pub struct PollRecord {
    /// When the poll started.
    pub at: DateTime<Utc>,
    /// What came of it.
    pub result: PollResult,
    /// When to poll next.
    pub next_poll_at: DateTime<Utc>,
}

/// The columns [`state_from_row`] reads, in order.
const STATE_COLUMNS: &str = "id, etag, last_modified, error_count, next_poll_at, title, last_error";

fn state_from_row(url: Url, r: &rusqlite::Row<'_>) -> rusqlite::Result<FeedState> {
    Ok(FeedState {
        id: FeedId(r.get(0)?),
        url,
        validators: Validators {
            etag: r.get(1)?,
            last_modified: r.get(2)?,
        },
        error_count: r.get(3)?,
        next_poll_at: r.get::<_, Option<i64>>(4)?.map(from_secs),
        title: r.get(5)?,
        last_error: r.get(6)?,
    })
}

impl Store {
    /// Makes the feeds table match the config: every configured feed gets a row (active), every
    /// other row is deactivated (its items are kept but no longer served). Returns the state of
    /// each configured feed, in config order.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn sync_feeds(&self, feeds: &[FeedConfig]) -> Result<Vec<FeedState>, StoreError> {
        let feeds = feeds.to_vec();
        let now = to_secs(Utc::now());
        let states = self
            .write(move |conn| {
                let tx = conn.transaction()?;
                tx.execute("UPDATE feeds SET active = 0", [])?;
                let mut states = Vec::with_capacity(feeds.len());
                {
                    let mut upsert = tx.prepare(&format!(
                        "INSERT INTO feeds (url, config_title, active, created_at) VALUES (?1, ?2, 1, ?3)
                         ON CONFLICT (url) DO UPDATE SET config_title = excluded.config_title, active = 1
                         RETURNING {STATE_COLUMNS}"
                    ))?;
                    for f in &feeds {
                        let state = upsert.query_row(params![f.url.as_str(), f.title, now], |r| {
                            state_from_row(f.url.clone(), r)
                        })?;
                        states.push(state);
                    }
                }
                tx.commit()?;
                Ok(states)
            })
            .await?;
        self.bump();
        Ok(states)
    }

    /// Records one poll of `feed` in one transaction: its items (new ones inserted, changed ones
    /// updated), validators, status and error count. Returns what changed.
    ///
    /// # Errors
    /// SQLite errors; nothing of the poll is stored then.
    pub async fn record_poll(
        &self,
        feed: FeedId,
        record: PollRecord,
    ) -> Result<SaveCounts, StoreError> {
        let counts = self
            .write(move |conn| {
                let tx = conn.transaction()?;
                let at = to_secs(record.at);
                let next = to_secs(record.next_poll_at);
                let mut counts = SaveCounts::default();
                match record.result {
                    PollResult::Fetched {
                        status,
                        validators,
                        meta,
                        items,
                    } => {
                        counts = items::save(&tx, feed, &items, at)?;
                        tx.execute(
                            "UPDATE feeds SET etag = ?2, last_modified = ?3, last_polled_at = ?4,
                                last_success_at = ?4, last_status = ?5, last_error = NULL,
                                error_count = 0, next_poll_at = ?6,
                                title = COALESCE(?7, title), site_link = COALESCE(?8, site_link)
                             WHERE id = ?1",
                            params![feed.0, validators.etag, validators.last_modified, at, status, next, meta.title, meta.site_link],
                        )?;
                    }
                    PollResult::NotModified { validators } => {
                        tx.execute(
                            "UPDATE feeds SET etag = ?2, last_modified = ?3, last_polled_at = ?4,
                                last_success_at = ?4, last_status = 304, last_error = NULL,
                                error_count = 0, next_poll_at = ?5
                             WHERE id = ?1",
                            params![feed.0, validators.etag, validators.last_modified, at, next],
                        )?;
                    }
                    PollResult::Failed { status, error } => {
                        counts.error_count = tx.query_row(
                            "UPDATE feeds SET last_polled_at = ?2, last_status = ?3, last_error = ?4,
                                error_count = error_count + 1, next_poll_at = ?5
                             WHERE id = ?1 RETURNING error_count",
                            params![feed.0, at, status, error, next],
                            |r| r.get(0),
                        )?;
                    }
                }
                tx.commit()?;
                Ok(counts)
            })
            .await?;
        if counts.new + counts.updated > 0 {
            self.bump();
        }
        Ok(counts)
    }

    /// The stored state of the feed with `url`, if it has a row.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn feed_state(&self, url: &Url) -> Result<Option<FeedState>, StoreError> {
        let url = url.clone();
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {STATE_COLUMNS} FROM feeds WHERE url = ?1"),
                    [url.as_str()],
                    |r| state_from_row(url.clone(), r),
                )
                .optional()?)
        })
        .await
    }
}
