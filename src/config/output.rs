//! `[output]`: the default merged feed → [`OutputConfig`].

use serde::Deserialize;

use toml::Spanned;

use super::value::{Bounded, FromToml, Located, NonEmpty, Trimmed, Value};

/// Default `[output] title`.
pub const DEFAULT_OUTPUT_TITLE: &str = "feedmerge";
/// Default `[output] description`.
pub const DEFAULT_OUTPUT_DESCRIPTION: &str = "Merged feed";
/// Default `[output] max_items`: items in the merged feed.
pub const DEFAULT_MAX_ITEMS: usize = 100;
/// Default `[output] health_items`: failing feeds are not reported in the feed.
pub const DEFAULT_HEALTH_ITEMS: bool = false;
/// Default `[output] tracking_params`: query parameters that only say where a click came
/// from, removed from the links the outputs publish. Brave's query-string filter (brave-core,
/// `kSimpleQueryStringTrackers`: parameters that identify a user, an email address or one
/// click, from Facebook, Google Ads, Microsoft Ads, Yandex, Twitter, Instagram, Mailchimp,
/// HubSpot, Marketo, Olytics, Vero, Drip, Adobe), Google Analytics' campaign parameters
/// (`utm_*`) and Twitter's `ref_src`. A trailing `*` matches every name it starts; names are
/// compared without regard to case. Canonical links (`dedupe`) leave out the same list,
/// whatever the config says, so that an item's identity never depends on the config.
pub const DEFAULT_TRACKING_PARAMS: &[&str] = &[
    "utm_*",
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "twclid",
    "igshid",
    "mc_cid",
    "mc_eid",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "rb_clickid",
    "s_cid",
    "ref_src",
    "__s",
];
/// The most names `[output] tracking_params` may hold: each link's parameters are compared
/// with each name.
pub const MAX_TRACKING_PARAMS: usize = 256;
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
    /// Query parameters removed from published links: lower-case names, each either exact or
    /// ending in `*` (a prefix). Empty: links as published.
    pub tracking_params: Vec<String>,
}

/// `[output]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutput {
    title: Value<String>,
    description: Value<String>,
    max_items: Value<i64>,
    health_items: Option<bool>,
    tracking_params: Option<Vec<Spanned<String>>>,
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
            tracking_params: match self.tracking_params {
                None => DEFAULT_TRACKING_PARAMS
                    .iter()
                    .map(|&p| p.to_owned())
                    .collect(),
                Some(names) => tracking_params(names)?,
            },
        })
    }
}

/// Checks `[output] tracking_params`: at most [`MAX_TRACKING_PARAMS`] names, none empty, a
/// `*` only at the end and never alone (it would remove every parameter, and many links need
/// theirs). Names come back lower-cased.
fn tracking_params(names: Vec<Spanned<String>>) -> Result<Vec<String>, Located> {
    const KEY: &str = "output.tracking_params";
    if let Some(extra) = names.get(MAX_TRACKING_PARAMS) {
        return Err(Located::at(
            extra.span(),
            KEY,
            format_args!("more than {MAX_TRACKING_PARAMS} names"),
        ));
    }
    names
        .into_iter()
        .map(|name| {
            let n = name.get_ref().trim();
            let bad = |why: &str| Located::at(name.span(), KEY, format_args!("{n:?} {why}"));
            let stem = n.strip_suffix('*').unwrap_or(n);
            if n.is_empty() {
                Err(Located::at(name.span(), KEY, "a name must not be empty"))
            } else if stem.is_empty() {
                Err(bad(
                    "would remove every parameter (name them, or use a prefix such as \"utm_*\")",
                ))
            } else if stem.contains('*') {
                Err(bad("may have a * only at its end"))
            } else {
                Ok(n.to_ascii_lowercase())
            }
        })
        .collect()
}
