//! `[[feeds]]`: the feeds to poll, each with its own overrides → [`FeedConfig`]s.

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::poller::PollerConfig;
use super::reading_time::{FullText, ReadingTimeConfig, Speed};
use super::value::{
    FromToml, HttpUrl, Located, NonEmpty, Side, Timespan, Value, check_bound, span_of,
};

/// One `[[feeds]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// The feed's URL (http or https).
    pub url: Url,
    /// Title override; the feed's own title is used otherwise.
    pub title: Option<String>,
    /// Interval override.
    pub interval: Option<Duration>,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// `full_text` override.
    pub full_text: Option<FullText>,
    /// `words_per_minute` override (for a feed in another language, say).
    pub words_per_minute: Option<u32>,
    /// `cjk_chars_per_minute` override.
    pub cjk_chars_per_minute: Option<u32>,
}

impl FeedConfig {
    /// A feed at `url` with every setting at its default.
    pub fn new(url: Url) -> Self {
        FeedConfig {
            url,
            title: None,
            interval: None,
            tags: Vec::new(),
            full_text: None,
            words_per_minute: None,
            cjk_chars_per_minute: None,
        }
    }

    /// The effective polling interval of this feed, within `min_interval ..= max_interval`.
    pub fn interval(&self, poller: &PollerConfig) -> Duration {
        self.interval
            .unwrap_or(poller.interval)
            .clamp(poller.min_interval, poller.max_interval)
    }

    /// The reading-time settings for this feed: the global ones with its overrides.
    pub fn reading_time(&self, global: &ReadingTimeConfig) -> ReadingTimeConfig {
        ReadingTimeConfig {
            words_per_minute: self.words_per_minute.unwrap_or(global.words_per_minute),
            cjk_chars_per_minute: self
                .cjk_chars_per_minute
                .unwrap_or(global.cjk_chars_per_minute),
            full_text: self.full_text.unwrap_or(global.full_text),
            ..*global
        }
    }
}

/// The form in which two feed URLs are compared: the same feed is never configured twice.
/// Parsing has already lower-cased the scheme and host, dropped a default port and
/// normalised the path (`https://Example.org:443` is `https://example.org/`); the fragment
/// is dropped too, since it is never sent to the server.
pub fn canonical_url(url: &Url) -> Url {
    let mut url = url.clone();
    url.set_fragment(None);
    url
}

/// One `[[feeds]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFeed {
    url: Spanned<String>,
    title: Value<String>,
    interval: Value<String>,
    #[serde(default)]
    tags: Vec<String>,
    full_text: Value<String>,
    words_per_minute: Value<i64>,
    cjk_chars_per_minute: Value<i64>,
}

/// Checks every entry in file order: no URL may be listed twice, and no interval may be
/// shorter than `poller.min_interval`.
pub(super) fn validate(
    raw: Vec<RawFeed>,
    poller: &PollerConfig,
) -> Result<Vec<FeedConfig>, Located> {
    let mut seen = HashSet::new();
    let mut feeds = Vec::with_capacity(raw.len());
    for (i, f) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("feeds[{i}].{k}");
        let url = Url::from(HttpUrl::required(&key("url"), &f.url)?);
        if !seen.insert(canonical_url(&url)) {
            return Err(Located::at(
                f.url.span(),
                &key("url"),
                format_args!("{:?} is listed twice", url.as_str()),
            ));
        }
        let interval_span = span_of(&f.interval);
        let interval = Timespan::optional(&key("interval"), f.interval)?.map(Duration::from);
        if let Some(d) = interval {
            check_bound(
                (interval_span, &key("interval")),
                d,
                Side::AtLeast,
                poller.min_interval,
                Some("poller.min_interval"),
            )?;
        }
        feeds.push(FeedConfig {
            url,
            title: NonEmpty::optional(&key("title"), f.title)?.map(String::from),
            interval,
            tags: f.tags,
            full_text: FullText::optional(&key("full_text"), f.full_text)?,
            words_per_minute: Speed::optional(&key("words_per_minute"), f.words_per_minute)?
                .map(u32::from),
            cjk_chars_per_minute: Speed::optional(
                &key("cjk_chars_per_minute"),
                f.cjk_chars_per_minute,
            )?
            .map(u32::from),
        });
    }
    Ok(feeds)
}
