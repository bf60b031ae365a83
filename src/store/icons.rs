//! Source icons: one row per site (its origin), with the icon's bytes, media type and
//! content hash, the validators of where it came from, and when it is checked next; and the
//! site whose icon each feed shows. The merged selection reads each item's icon hash with it.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, params};

use super::{Store, StoreError, from_secs, to_secs};
use crate::model::{FeedId, Validators};

/// What the icon worker reads of a feed to find its source's icon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IconFeed {
    /// The feed's configured URL.
    pub url: String,
    /// The feed's site (its home page), when it names one.
    pub site_link: Option<String>,
    /// The icon the feed declares, when it does.
    pub icon_url: Option<String>,
}

/// A site's icon as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IconSite {
    /// Where the icon came from.
    pub source_url: Option<String>,
    /// The validators that URL sent.
    pub validators: Validators,
    /// The icon's content hash, its name under `/icons/`; `None` while there is none.
    pub hash: Option<String>,
    /// When the site is checked next.
    pub next_check: DateTime<Utc>,
    /// Checks in a row that found no icon.
    pub failures: u32,
}

/// What a check of a site's icon found ([`Store::record_icon`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IconCheck {
    /// An icon, new or changed.
    Fetched {
        /// Where it came from.
        source_url: String,
        /// Its media type, as sniffed.
        content_type: String,
        /// Its bytes.
        data: Vec<u8>,
        /// The validators to send next time.
        validators: Validators,
    },
    /// The stored icon is still current (304).
    NotModified {
        /// The validators, merged with the 304's.
        validators: Validators,
    },
    /// No icon found this time: an icon stored before stays.
    Failed {
        /// Why, for the log and the row.
        error: String,
    },
}

/// The name an icon is served by: the hex xxh3 hash of its bytes, so that the URL changes
/// whenever the icon does.
pub fn icon_hash(data: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(data))
}

impl Store {
    /// What the icon worker needs of `feed`; `None` when it is not registered.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn icon_feed(&self, feed: FeedId) -> Result<Option<IconFeed>, StoreError> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached("SELECT url, site_link, icon_url FROM feeds WHERE id = ?1")?
                .query_row([feed.0], |r| {
                    Ok(IconFeed {
                        url: r.get(0)?,
                        site_link: r.get(1)?,
                        icon_url: r.get(2)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    /// The icon stored for `site`, if the site was ever checked.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn icon_site(&self, site: String) -> Result<Option<IconSite>, StoreError> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT source_url, etag, last_modified, hash, next_check_at, failures
                     FROM icons WHERE site = ?1",
                )?
                .query_row([site], |r| {
                    Ok(IconSite {
                        source_url: r.get(0)?,
                        validators: Validators {
                            etag: r.get(1)?,
                            last_modified: r.get(2)?,
                        },
                        hash: r.get(3)?,
                        next_check: from_secs(r.get(4)?),
                        failures: r.get(5)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    /// Makes `feed` show the icon of `site`. When that changes what the merged feed's page
    /// shows, it renders anew.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn set_icon_site(&self, feed: FeedId, site: String) -> Result<(), StoreError> {
        let changed = self
            .write(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "UPDATE feeds SET icon_site = ?2 WHERE id = ?1 AND icon_site IS NOT ?2",
                    )?
                    .execute(params![feed.0, site])?)
            })
            .await?;
        if changed > 0 {
            self.bump();
        }
        Ok(())
    }

    /// Records what a check of `site`'s icon found at `now`, and when to check it next. A new
    /// icon (other bytes) renders the merged feed's page anew.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn record_icon(
        &self,
        site: String,
        check: IconCheck,
        now: DateTime<Utc>,
        next_check: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (now, next) = (to_secs(now), to_secs(next_check));
        let changed = self
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO icons (site, checked_at, next_check_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (site) DO NOTHING",
                )?
                .execute(params![site, now, next])?;
                match check {
                    IconCheck::Fetched {
                        source_url,
                        content_type,
                        data,
                        validators,
                    } => {
                        let hash = icon_hash(&data);
                        let old: Option<String> = conn
                            .prepare_cached("SELECT hash FROM icons WHERE site = ?1")?
                            .query_row([&site], |r| r.get(0))?;
                        conn.prepare_cached(
                            "UPDATE icons SET source_url = ?2, hash = ?3, content_type = ?4,
                                data = ?5, etag = ?6, last_modified = ?7, fetched_at = ?8,
                                checked_at = ?8, next_check_at = ?9, failures = 0,
                                last_error = NULL
                             WHERE site = ?1",
                        )?
                        .execute(params![
                            site,
                            source_url,
                            hash,
                            content_type,
                            data,
                            validators.etag,
                            validators.last_modified,
                            now,
                            next
                        ])?;
                        Ok(old.as_deref() != Some(hash.as_str()))
                    }
                    IconCheck::NotModified { validators } => {
                        conn.prepare_cached(
                            "UPDATE icons SET etag = ?2, last_modified = ?3, checked_at = ?4,
                                next_check_at = ?5, failures = 0, last_error = NULL
                             WHERE site = ?1",
                        )?
                        .execute(params![
                            site,
                            validators.etag,
                            validators.last_modified,
                            now,
                            next
                        ])?;
                        Ok(false)
                    }
                    IconCheck::Failed { error } => {
                        conn.prepare_cached(
                            "UPDATE icons SET checked_at = ?2, next_check_at = ?3,
                                failures = failures + 1, last_error = ?4
                             WHERE site = ?1",
                        )?
                        .execute(params![site, now, next, error])?;
                        Ok(false)
                    }
                }
            })
            .await?;
        if changed {
            self.bump();
        }
        Ok(())
    }

    /// The icon served as `hash`: its media type and bytes.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn icon(&self, hash: String) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT content_type, data FROM icons WHERE hash = ?1 AND data IS NOT NULL
                     LIMIT 1",
                )?
                .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Subscription;

    #[tokio::test]
    async fn an_icon_is_kept_per_site_and_a_failure_keeps_the_last_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let url = url::Url::parse("http://127.0.0.1:9/feed").unwrap();
        let feed = store.sync_feeds(&[Subscription::new(url)]).await.unwrap()[0].id;
        let site = "http://127.0.0.1:9".to_owned();
        assert_eq!(store.icon_site(site.clone()).await.unwrap(), None);
        let now = Utc::now();
        let week = now + chrono::Duration::days(7);
        let v0 = store.version();
        store
            .record_icon(
                site.clone(),
                IconCheck::Fetched {
                    source_url: "http://127.0.0.1:9/favicon.ico".into(),
                    content_type: "image/png".into(),
                    data: b"png".to_vec(),
                    validators: Validators {
                        etag: Some("\"1\"".into()),
                        last_modified: None,
                    },
                },
                now,
                week,
            )
            .await
            .unwrap();
        assert!(store.version() > v0, "a new icon renders anew");
        let hash = icon_hash(b"png");
        let stored = store.icon_site(site.clone()).await.unwrap().unwrap();
        assert_eq!(stored.hash.as_deref(), Some(hash.as_str()));
        assert_eq!(stored.validators.etag.as_deref(), Some("\"1\""));
        assert_eq!(stored.next_check.timestamp(), week.timestamp());
        assert_eq!(
            store.icon(hash.clone()).await.unwrap(),
            Some(("image/png".into(), b"png".to_vec()))
        );

        store
            .record_icon(
                site.clone(),
                IconCheck::Failed {
                    error: "gone".into(),
                },
                now,
                now,
            )
            .await
            .unwrap();
        let failed = store.icon_site(site.clone()).await.unwrap().unwrap();
        assert_eq!((failed.failures, failed.hash), (1, Some(hash.clone())));
        assert!(store.icon(hash).await.unwrap().is_some());

        let v1 = store.version();
        store.set_icon_site(feed, site.clone()).await.unwrap();
        assert!(store.version() > v1);
        let v2 = store.version();
        store.set_icon_site(feed, site).await.unwrap();
        assert_eq!(store.version(), v2, "unchanged: nothing to render");
        assert_eq!(
            store.icon_feed(feed).await.unwrap().unwrap().url,
            "http://127.0.0.1:9/feed"
        );
    }
}
