//! `[output]`: the default merged feed → [`OutputConfig`].

use serde::Deserialize;

use super::value::{Bounded, FromToml, Located, NonEmpty, Trimmed, Value};

/// Default `[output] title`.
pub const DEFAULT_OUTPUT_TITLE: &str = "feedmerge";
/// Default `[output] description`.
pub const DEFAULT_OUTPUT_DESCRIPTION: &str = "Merged feed";
/// Default `[output] max_items`: items in the merged feed.
pub const DEFAULT_MAX_ITEMS: usize = 100;
/// Default `[output] health_items`: failing feeds are not reported in the feed.
pub const DEFAULT_HEALTH_ITEMS: bool = false;
/// Upper bound for `[output] max_items`. Large values are for exports and benchmarks (a
/// million items render to a few GB of XML); feeds for readers want a few hundred at most.
pub const MAX_OUTPUT_ITEMS: usize = 10_000_000;

/// `max_items` of `[output]` and `[[outputs]]`: 1 to [`MAX_OUTPUT_ITEMS`].
pub(super) type MaxItems = Bounded<1, { MAX_OUTPUT_ITEMS as u32 }>;

/// `[output]`: the merged feed.
#[derive(Debug, Clone)]
pub struct OutputConfig {
    /// Channel title.
    pub title: String,
    /// Channel description.
    pub description: String,
    /// Items in the merged feed, newest first.
    pub max_items: usize,
    /// Add one item per failing feed to the merged feed.
    pub health_items: bool,
}

/// `[output]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutput {
    title: Value<String>,
    description: Value<String>,
    max_items: Value<i64>,
    health_items: Option<bool>,
}

impl RawOutput {
    /// Checks each key, in the order of the struct.
    pub(super) fn validate(self) -> Result<OutputConfig, Located> {
        Ok(OutputConfig {
            title: NonEmpty::optional("output.title", self.title)?
                .map_or_else(|| DEFAULT_OUTPUT_TITLE.to_owned(), String::from),
            description: Trimmed::optional("output.description", self.description)?
                .map_or_else(|| DEFAULT_OUTPUT_DESCRIPTION.to_owned(), String::from),
            max_items: MaxItems::optional("output.max_items", self.max_items)?
                .map_or(DEFAULT_MAX_ITEMS, usize::from),
            health_items: self.health_items.unwrap_or(DEFAULT_HEALTH_ITEMS),
        })
    }
}
