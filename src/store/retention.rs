//! Retention: removes items that are too old or beyond a feed's cap, never one an output
//! still shows, and remembers their identities so that they do not come back as new while
//! their feed still lists them (`items::save` forgets them once it stops).

use std::time::Duration;

use rusqlite::params;

use super::{Store, StoreError, json_list};

/// Pages returned to the file system per cleanup (4 KiB each: 64 MiB).
const VACUUM_PAGES: u32 = 16_384;

/// The limits of a cleanup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Items first seen and published longer ago than this go.
    pub max_age: Duration,
    /// Items beyond this many per feed (newest first) go.
    pub max_items_per_feed: usize,
}

impl RetentionPolicy {
    /// The oldest first-seen and publication time kept, in unix seconds.
    fn cutoff(&self, now: i64) -> i64 {
        now.saturating_sub(i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX))
    }
}

/// Whether some item is over a limit (?1: items per feed, ?2: cutoff). Reads the feed
/// column of the (feed_id, …) index and the old end of items_by_date, not the items.
const DUE: &str = "
    SELECT EXISTS (SELECT 1 FROM items GROUP BY feed_id HAVING COUNT(*) > ?1)
        OR EXISTS (SELECT 1 FROM items WHERE sort_at < ?2 AND first_seen_at < ?2)";

/// The items over a limit (?1: items per feed, ?2: cutoff) that are not among ?3 (JSON
/// list of ids). Only the feeds over the cap are ranked, and only items old by their sort
/// date are read for the age limit: a database within its limits costs two index scans.
const DOOMED: &str = "
    WITH over AS (SELECT feed_id FROM items GROUP BY feed_id HAVING COUNT(*) > ?1),
    ranked AS (
        SELECT id, feed_id, item_key, canonical_link,
               ROW_NUMBER() OVER (PARTITION BY feed_id ORDER BY sort_at DESC, id DESC) AS rank
        FROM items WHERE feed_id IN over),
    doomed AS (
        SELECT id, feed_id, item_key, canonical_link FROM ranked WHERE rank > ?1
        UNION
        SELECT id, feed_id, item_key, canonical_link FROM items
        WHERE sort_at < ?2 AND first_seen_at < ?2)
    SELECT id, feed_id, item_key, canonical_link FROM doomed
    WHERE id NOT IN (SELECT value FROM json_each(?3))";

/// What a cleanup did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Items removed.
    pub removed: usize,
}

impl Store {
    /// Whether [`Store::apply_retention`] would find anything over the limits, before the
    /// items to keep are worked out (which reads what every output shows). It scans an index
    /// of every item (0.1–0.25 s at 2 million), on a connection of its own: requests do not
    /// wait for it, at a start or a reload.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn retention_due(&self, policy: RetentionPolicy) -> Result<bool, StoreError> {
        self.read_apart(move |conn| {
            let cutoff = policy.cutoff(chrono::Utc::now().timestamp());
            let cap = i64::try_from(policy.max_items_per_feed).unwrap_or(i64::MAX);
            Ok(conn
                .prepare_cached(DUE)?
                .query_row(params![cap, cutoff], |r| r.get(0))?)
        })
        .await
    }

    /// Removes what `policy` allows, except the items `keep` (row ids an output shows now),
    /// in one transaction, then gives free pages back to the file system.
    ///
    /// # Errors
    /// SQLite errors; nothing is removed then.
    pub async fn apply_retention(
        &self,
        policy: RetentionPolicy,
        keep: Vec<i64>,
    ) -> Result<RetentionReport, StoreError> {
        self.write(move |conn| {
            let now = chrono::Utc::now().timestamp();
            let cutoff = policy.cutoff(now);
            let cap = i64::try_from(policy.max_items_per_feed).unwrap_or(i64::MAX);
            let keep = json_list(&keep);
            let tx = conn.transaction()?;
            let removed = {
                let mut doomed = tx.prepare_cached(DOOMED)?;
                let rows: Vec<(i64, i64, String, Option<String>)> = doomed
                    .query_map(params![cap, cutoff, keep], |r| {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A day, ten items a feed.
    const POLICY: RetentionPolicy = RetentionPolicy {
        max_age: Duration::from_secs(86_400),
        max_items_per_feed: 10,
    };

    /// Retention's check does not take the reader connection, which every request needs: held
    /// by a long read, the check still answers.
    #[tokio::test]
    async fn the_check_does_not_wait_for_the_reader_connection() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let held = store.reader.clone().lock_owned().await;
        let due = tokio::time::timeout(Duration::from_secs(10), store.retention_due(POLICY)).await;
        assert!(
            matches!(due, Ok(Ok(false))),
            "the check waited for the reader connection: {due:?}"
        );
        drop(held);
    }

    /// The check's own connection reads the store's file or nothing: once the path names
    /// another database, or none, it fails as every write does.
    #[tokio::test]
    async fn the_check_reads_no_other_file_than_the_stores() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = Store::open(&path).unwrap();
        assert!(!store.retention_due(POLICY).await.unwrap());
        let other = dir.path().join("other.db");
        drop(Store::open(&other).unwrap());
        std::fs::rename(&other, &path).unwrap();
        let err = store.retention_due(POLICY).await.unwrap_err();
        assert!(
            matches!(err, StoreError::FileLost { what, .. } if what == "replaced by another file"),
            "{err}"
        );

        let path = dir.path().join("u.db");
        let store = Store::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let err = store.retention_due(POLICY).await.unwrap_err();
        assert!(
            matches!(err, StoreError::FileLost { what, .. } if what == "removed"),
            "{err}"
        );
    }
}
