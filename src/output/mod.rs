//! Outputs: the config → the merged feeds there are to show ([`Outputs`]), and those feeds
//! → their renderings, made once per change of the data and compressed once per coding
//! ([`FeedCache`]). What the server, retention and the `render` command share; HTTP itself is
//! [`crate::serve`]'s.

pub mod cache;
pub mod filters;
pub mod rendered;
pub mod workers;

use std::collections::HashMap;

pub use cache::{CacheError, FeedCache, VARIANT_BUDGET, Variant};
pub use filters::{Filters, MAX_MIN_MINUTES, QueryError, TagFilter};
pub use rendered::{Coding, Effort, Rendered};
pub use workers::{OUTPUT_COMPRESSORS, VARIANT_QUEUE, VARIANT_WORKERS};

use crate::config::Config;
use crate::opml;
use crate::render::Channel;
use crate::store::Selection;

/// The path of the default output, without extension: `/feed.xml`, `/feed.atom`, `/feed.json`.
pub const DEFAULT_OUTPUT_PATH: &str = "feed";

/// One merged feed: what it says about itself and which items it shows.
#[derive(Debug, Clone)]
pub struct Output {
    /// The channel (title, description, self links).
    pub channel: Channel,
    /// Which items, and how many.
    pub selection: Selection,
    /// One extra item per failing feed.
    pub health_items: bool,
    /// Readers must present this secret (`?token=` or `Authorization: Bearer`).
    pub token: Option<String>,
}

/// Everything the server shows, replaced as a whole by a config reload.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// `/feed.xml`, `/feed.atom`, `/feed.json` and the news page.
    pub default: Output,
    /// `[[outputs]]`, by path (`rust` for `/rust.xml`).
    pub filtered: HashMap<String, Output>,
    /// Feed URLs by tag, for `?tag=` on the default feed.
    pub tags: HashMap<String, Vec<String>>,
    /// The configured feeds as OPML, for `/sources.opml`.
    pub sources_opml: String,
}

impl Outputs {
    /// What `cfg` shows: the default merged feed and the `[[outputs]]`.
    pub fn from_config(cfg: &Config) -> Outputs {
        let mut tags: HashMap<String, Vec<String>> = HashMap::new();
        for f in &cfg.feeds {
            for t in &f.tags {
                tags.entry(t.clone()).or_default().push(f.url.to_string());
            }
        }
        let channel = |path: &str, title: Option<&String>, description: Option<&String>| Channel {
            title: title.unwrap_or(&cfg.output.title).clone(),
            description: description.unwrap_or(&cfg.output.description).clone(),
            base_url: cfg.server.base_url.clone(),
            path: path.to_owned(),
            placement: cfg.reading_time.placement,
            hub: cfg.websub.hub.clone(),
        };
        let filtered = cfg
            .outputs
            .iter()
            .map(|o| {
                let feeds = (!o.tags.is_empty()).then(|| {
                    let mut urls: Vec<String> = o
                        .tags
                        .iter()
                        .flat_map(|t| tags.get(t).cloned().unwrap_or_default())
                        .collect();
                    urls.sort();
                    urls.dedup();
                    urls
                });
                let mut channel = channel(&o.path, o.title.as_ref(), o.description.as_ref());
                // A hub could not read an output that needs a token, and must not learn it.
                if o.token.is_some() {
                    channel.hub = None;
                }
                let output = Output {
                    channel,
                    selection: Selection {
                        limit: o.max_items.unwrap_or(cfg.output.max_items),
                        feeds,
                        min_minutes: o.min_minutes,
                        max_minutes: o.max_minutes,
                        include: o.include.clone(),
                        exclude: o.exclude.clone(),
                        ..Selection::default()
                    },
                    health_items: false,
                    token: o.token.clone(),
                };
                (o.path.clone(), output)
            })
            .collect();
        Outputs {
            default: Output {
                channel: channel(DEFAULT_OUTPUT_PATH, None, None),
                selection: Selection::newest(cfg.output.max_items),
                health_items: cfg.output.health_items,
                token: None,
            },
            filtered,
            tags,
            sources_opml: opml::export(&cfg.output.title, &cfg.feeds, opml::Urls::Redacted),
        }
    }
}
