//! Article pages waiting in the database: the items that want theirs (`full_text_status =
//! 'pending'`), per feed, and what fetching one gave (the refined estimate, or a failure).

use std::collections::HashSet;

use rusqlite::{Connection, params};

use super::{Store, StoreError};
use crate::model::{FeedId, NewItem, ReadingTime};

/// An item whose article page waits to be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingArticle {
    /// Row id.
    pub id: i64,
    /// The item's link: the article page.
    pub link: Option<String>,
}

/// What became of one article page ([`Store::record_articles`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ArticleResult {
    /// Extracted: the item's estimate now comes from the article.
    Extracted {
        /// The article's estimate.
        reading_time: ReadingTime,
        /// The article's HTML, when the merged feed carries it (`include_full_text`).
        html: Option<String>,
    },
    /// Failed for good: the estimate stays the content's, and the page is not fetched again.
    Failed,
    /// Not this time (the host asked to come back later, or the round's time ran out): the
    /// page is tried again by a later round, up to `max_attempts` tries in all, then failed.
    Retry {
        /// Tries allowed in all.
        max_attempts: u32,
    },
}

/// Marks the stored items among `items` that want their article page and have never had it
/// tried as waiting for it. Runs in the poll's transaction, after its items are saved; feeds
/// whose items carry their whole content skip it.
pub(super) fn want(tx: &Connection, feed: FeedId, items: &[NewItem]) -> Result<(), StoreError> {
    let mut wanted = items.iter().filter(|i| i.wants_full_text).peekable();
    if wanted.peek().is_none() {
        return Ok(());
    }
    // An item removed by retention has no row: nothing happens.
    let mut mark = tx.prepare_cached(
        "UPDATE items SET full_text_status = 'pending'
         WHERE feed_id = ?1 AND item_key = ?2 AND full_text_status IS NULL",
    )?;
    for item in wanted {
        mark.execute(params![feed.0, item.key.0])?;
    }
    Ok(())
}

impl Store {
    /// The feeds that have items waiting for their article page.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn pending_article_feeds(&self) -> Result<HashSet<FeedId>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT DISTINCT feed_id FROM items WHERE full_text_status = 'pending'",
            )?;
            let rows = stmt.query_map([], |r| Ok(FeedId(r.get(0)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// At most `limit` items of `feed` waiting for their article page, newest first.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn pending_articles(
        &self,
        feed: FeedId,
        limit: usize,
    ) -> Result<Vec<PendingArticle>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, link FROM items WHERE feed_id = ?1 AND full_text_status = 'pending'
                 ORDER BY sort_at DESC, id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![feed.0, limit as i64], |r| {
                Ok(PendingArticle {
                    id: r.get(0)?,
                    link: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Records what became of article pages, in one transaction, and returns how many items
    /// got an estimate from their article (the merged feed then renders anew). An item that
    /// is gone meanwhile (retention) or no longer waiting is left alone.
    ///
    /// # Errors
    /// SQLite errors; nothing is recorded then.
    pub async fn record_articles(
        &self,
        results: Vec<(i64, ArticleResult)>,
    ) -> Result<usize, StoreError> {
        let now = chrono::Utc::now().timestamp();
        let extracted = self
            .write(move |conn| {
                let tx = conn.transaction()?;
                let mut extracted = 0;
                {
                    // The item's entry changes ("N min read"), so its changed_at does too.
                    let mut ok = tx.prepare_cached(
                        "UPDATE items SET full_text_status = 'ok', reading_minutes = ?2,
                            reading_words = ?3, reading_cjk = ?4, reading_images = ?5,
                            reading_source = ?6, full_text_html = ?7, changed_at = ?8
                         WHERE id = ?1 AND full_text_status = 'pending'",
                    )?;
                    let mut failed = tx.prepare_cached(
                        "UPDATE items SET full_text_status = 'failed'
                         WHERE id = ?1 AND full_text_status = 'pending'",
                    )?;
                    let mut retry = tx.prepare_cached(
                        "UPDATE items SET full_text_attempts = full_text_attempts + 1,
                            full_text_status = CASE WHEN full_text_attempts + 1 >= ?2
                                THEN 'failed' ELSE 'pending' END
                         WHERE id = ?1 AND full_text_status = 'pending'",
                    )?;
                    for (id, result) in &results {
                        match result {
                            ArticleResult::Extracted { reading_time, html } => {
                                let rt = reading_time;
                                extracted += ok.execute(params![
                                    id,
                                    rt.minutes,
                                    rt.words,
                                    rt.cjk_chars,
                                    rt.images,
                                    rt.source.as_str(),
                                    html,
                                    now
                                ])?;
                            }
                            ArticleResult::Failed => {
                                failed.execute([id])?;
                            }
                            ArticleResult::Retry { max_attempts } => {
                                retry.execute(params![id, max_attempts])?;
                            }
                        }
                    }
                }
                tx.commit()?;
                Ok(extracted)
            })
            .await?;
        if extracted > 0 {
            self.bump();
        }
        Ok(extracted)
    }

    /// Takes `feed`'s items off the article queue without trying them (their feed no longer
    /// wants article pages). They stay untried: a later poll that wants them queues them again.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn forget_pending_articles(&self, feed: FeedId) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE items SET full_text_status = NULL
                 WHERE feed_id = ?1 AND full_text_status = 'pending'",
            )?
            .execute([feed.0])?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ItemKey, TextSource};

    fn item(key: &str, wants: bool) -> NewItem {
        NewItem {
            key: ItemKey(key.to_owned()),
            title: key.to_owned(),
            link: Some(format!("https://example.org/{key}")),
            wants_full_text: wants,
            ..NewItem::default()
        }
    }

    /// A store with one feed whose items `a`..`e` are saved; `b`, `c` and `d` want their
    /// article page.
    async fn store() -> (tempfile::TempDir, Store, FeedId) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let url = url::Url::parse("https://example.org/feed").unwrap();
        let feed = store
            .sync_feeds(&[crate::model::Subscription::new(url)])
            .await
            .unwrap()[0]
            .id;
        let items = ["a", "b", "c", "d", "e"].map(|k| item(k, matches!(k, "b" | "c" | "d")));
        save(&store, feed, items.to_vec()).await;
        (dir, store, feed)
    }

    async fn save(store: &Store, feed: FeedId, items: Vec<NewItem>) {
        let record = crate::store::PollRecord::fetched_now(items);
        store.record_poll(feed, record).await.unwrap();
    }

    fn ids(pending: &[PendingArticle]) -> Vec<String> {
        pending
            .iter()
            .map(|p| {
                p.link
                    .clone()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    #[tokio::test]
    async fn pages_wait_until_tried_once_and_retries_are_bounded() {
        let (_dir, store, feed) = store().await;
        assert_eq!(
            store.pending_article_feeds().await.unwrap(),
            HashSet::from([feed])
        );
        let pending = store.pending_articles(feed, 10).await.unwrap();
        let mut keys = ids(&pending);
        keys.sort();
        assert_eq!(keys, ["b", "c", "d"]);
        assert_eq!(store.pending_articles(feed, 2).await.unwrap().len(), 2);

        let id = |k: &str| pending[ids(&pending).iter().position(|p| p == k).unwrap()].id;
        let estimate = ReadingTime {
            minutes: 7,
            words: 1600,
            source: TextSource::Full,
            ..ReadingTime::default()
        };
        let version = store.version();
        let results = vec![
            (
                id("b"),
                ArticleResult::Extracted {
                    reading_time: estimate,
                    html: None,
                },
            ),
            (id("c"), ArticleResult::Failed),
            (id("d"), ArticleResult::Retry { max_attempts: 2 }),
        ];
        assert_eq!(store.record_articles(results.clone()).await.unwrap(), 1);
        assert!(store.version() > version, "the merged feed renders anew");
        assert_eq!(ids(&store.pending_articles(feed, 10).await.unwrap()), ["d"]);
        // Recorded twice, nothing changes: only waiting items are touched.
        assert_eq!(
            store.record_articles(results[..2].to_vec()).await.unwrap(),
            0
        );
        // The second try that may be repeated is the last.
        store
            .record_articles(vec![(id("d"), ArticleResult::Retry { max_attempts: 2 })])
            .await
            .unwrap();
        assert!(store.pending_articles(feed, 10).await.unwrap().is_empty());

        // Seen again, tried items are not queued again; a new one is.
        let again = ["a", "b", "c", "d", "f"].map(|k| item(k, k != "a"));
        save(&store, feed, again.to_vec()).await;
        assert_eq!(ids(&store.pending_articles(feed, 10).await.unwrap()), ["f"]);
        let items = store
            .merged_items(crate::store::Selection::newest(10))
            .await
            .unwrap();
        let b = items.iter().find(|i| i.item.key.0 == "b").unwrap();
        assert_eq!(b.item.reading_time, estimate, "kept across polls");

        store.forget_pending_articles(feed).await.unwrap();
        assert!(store.pending_article_feeds().await.unwrap().is_empty());
    }

    #[test]
    fn waiting_items_are_found_through_their_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrations::migrate(&mut conn).unwrap();
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT id, link FROM items
                 WHERE feed_id = 1 AND full_text_status = 'pending'
                 ORDER BY sort_at DESC, id DESC LIMIT 10",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("items_pending_articles"), "{plan}");
    }
}
