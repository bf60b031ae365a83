//! Retention: removes items that are too old or beyond a feed's cap, never one an output
//! still shows, and remembers their identities so that they do not come back as new while
//! their feed still lists them (`items::save` forgets them once it stops).

use std::time::Duration;

use rusqlite::params;

use super::{Store, StoreError, json_list};

/// Pages returned to the file system per cleanup (4 KiB each: 64 MiB).
const VACUUM_PAGES: u32 = 16_384;

/// The limits of a cleanup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Items first seen and published longer ago than this go.
    pub max_age: Duration,
    /// Items beyond this many per feed (newest first) go.
    pub max_items_per_feed: usize,
    /// Row ids an output shows now: kept whatever the limits say.
    pub keep: Vec<i64>,
}

/// What a cleanup did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Items removed.
    pub removed: usize,
}

impl Store {
    /// Removes what `policy` allows, in one transaction, then gives free pages back to the
    /// file system.
    ///
    /// # Errors
    /// SQLite errors; nothing is removed then.
    pub async fn apply_retention(
        &self,
        policy: RetentionPolicy,
    ) -> Result<RetentionReport, StoreError> {
        self.write(move |conn| {
            let now = chrono::Utc::now().timestamp();
            let cutoff = now - policy.max_age.as_secs() as i64;
            let keep = json_list(&policy.keep);
            let tx = conn.transaction()?;
            let removed = {
                let mut doomed = tx.prepare(
                    "WITH ranked AS (
                        SELECT id, feed_id, item_key, canonical_link, sort_at, first_seen_at,
                               ROW_NUMBER() OVER (PARTITION BY feed_id ORDER BY sort_at DESC, id DESC) AS rank
                        FROM items)
                     SELECT id, feed_id, item_key, canonical_link FROM ranked
                     WHERE (rank > ?1 OR (first_seen_at < ?2 AND sort_at < ?2))
                       AND id NOT IN (SELECT value FROM json_each(?3))",
                )?;
                let rows: Vec<(i64, i64, String, Option<String>)> = doomed
                    .query_map(params![policy.max_items_per_feed as i64, cutoff, keep], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })?
                    .collect::<Result<_, _>>()?;
                let mut remember = tx.prepare_cached(
                    "INSERT INTO removed_items (feed_id, item_key, canonical_link, seen_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (feed_id, item_key) DO UPDATE SET seen_at = excluded.seen_at",
                )?;
                let mut delete = tx.prepare_cached("DELETE FROM items WHERE id = ?1")?;
                for (id, feed, key, link) in &rows {
                    remember.execute(params![feed, key, link, now])?;
                    delete.execute([id])?;
                }
                rows.len()
            };
            tx.commit()?;
            if removed > 0 {
                // Only does something in a database created with auto_vacuum = INCREMENTAL.
                conn.execute_batch(&format!("PRAGMA incremental_vacuum({VACUUM_PAGES})"))?;
            }
            Ok(RetentionReport { removed })
        })
        .await
    }
}
