//! `[storage]`: the SQLite database and how long items stay in it → [`StorageConfig`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::value::{Bounded, FromToml, Located, NonEmpty, Size, Timespan, Value};

/// Default `[storage] path`, relative to the config file's folder.
pub const DEFAULT_DB_PATH: &str = "data/feedmerge.db";
/// Default `[storage] max_age`.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(180 * 24 * 3600);
/// Default `[storage] max_items_per_feed`.
pub const DEFAULT_MAX_ITEMS_PER_FEED: usize = 1000;
/// Default `[storage] max_size`: no limit but the disk's.
pub const DEFAULT_MAX_SIZE: Option<u64> = None;

/// `[storage] max_items_per_feed`: 1 to ten million.
type ItemsPerFeed = Bounded<1, 10_000_000>;

/// `[storage]`: the SQLite database.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Database file, absolute.
    pub path: PathBuf,
    /// Items older than this are removed (unless an output still shows them).
    pub max_age: Duration,
    /// Items kept per feed, newest first (unless an output still shows older ones).
    pub max_items_per_feed: usize,
    /// The largest the database file may grow; `None`: as large as the disk allows.
    pub max_size: Option<u64>,
}

/// `[storage]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStorage {
    path: Value<String>,
    max_age: Value<String>,
    max_items_per_feed: Value<i64>,
    max_size: Value<String>,
}

impl RawStorage {
    /// Checks each key, in the order of the struct; a relative `path` is taken relative to
    /// `base_dir`, the config file's folder.
    pub(super) fn validate(self, base_dir: &Path) -> Result<StorageConfig, Located> {
        let path = NonEmpty::optional("storage.path", self.path)?.map_or_else(
            || PathBuf::from(DEFAULT_DB_PATH),
            |p| String::from(p).into(),
        );
        Ok(StorageConfig {
            path: base_dir.join(path),
            max_age: Timespan::optional("storage.max_age", self.max_age)?
                .map_or(DEFAULT_MAX_AGE, Duration::from),
            max_items_per_feed: ItemsPerFeed::optional(
                "storage.max_items_per_feed",
                self.max_items_per_feed,
            )?
            .map_or(DEFAULT_MAX_ITEMS_PER_FEED, usize::from),
            max_size: Size::optional("storage.max_size", self.max_size)?
                .map_or(DEFAULT_MAX_SIZE, |s| Some(s.into())),
        })
    }
}
