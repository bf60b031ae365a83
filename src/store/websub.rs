//! WebSub rows: the hub each feed announces and our subscription there
//! ([`HubSubscription`]), read back whole at start.

use rusqlite::{OptionalExtension, params};
use url::Url;

use super::{Store, StoreError, from_secs, to_secs};
use crate::model::{FeedId, HubSubscription, SubState};

/// Stored as [`SubState::as_str`].
impl rusqlite::ToSql for SubState {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
    }
}

impl rusqlite::types::FromSql for SubState {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let name = value.as_str()?;
        SubState::from_name(name).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(
                format!("unknown subscription state {name:?}").into(),
            )
        })
    }
}

fn url_column(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Url> {
    let text: String = r.get(i)?;
    Url::parse(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

impl Store {
    /// Every feed's hub and subscription.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn hub_subscriptions(&self) -> Result<Vec<HubSubscription>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT feed_id, hub, topic, state, token, secret, expires_at, renew_at,
                    failures, last_error FROM websub",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(HubSubscription {
                    feed: FeedId(r.get(0)?),
                    hub: url_column(r, 1)?,
                    topic: url_column(r, 2)?,
                    state: r.get(3)?,
                    token: r.get(4)?,
                    secret: r.get(5)?,
                    expires_at: r.get::<_, Option<i64>>(6)?.map(from_secs),
                    renew_at: r.get::<_, Option<i64>>(7)?.map(from_secs),
                    failures: r.get(8)?,
                    last_error: r.get(9)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Stores `sub`, replacing what its feed had.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn save_hub_subscription(&self, sub: &HubSubscription) -> Result<(), StoreError> {
        let sub = sub.clone();
        let now = to_secs(chrono::Utc::now());
        self.write(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO websub (feed_id, hub, topic, state, token, secret,
                    expires_at, renew_at, failures, last_error, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    sub.feed.0,
                    sub.hub.as_str(),
                    sub.topic.as_str(),
                    sub.state,
                    sub.token,
                    sub.secret,
                    sub.expires_at.map(to_secs),
                    sub.renew_at.map(to_secs),
                    sub.failures,
                    sub.last_error,
                    now,
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Forgets the subscription of `feed`.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn delete_hub_subscription(&self, feed: FeedId) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute("DELETE FROM websub WHERE feed_id = ?1", [feed.0])?;
            Ok(())
        })
        .await
    }

    /// The id of the feed configured at `url`, if it has a row.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn feed_id(&self, url: &Url) -> Result<Option<FeedId>, StoreError> {
        let url = url.to_string();
        self.read(move |conn| {
            Ok(conn
                .query_row("SELECT id FROM feeds WHERE url = ?1", [url], |r| {
                    r.get(0).map(FeedId)
                })
                .optional()?)
        })
        .await
    }
}
