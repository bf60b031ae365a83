//! Outputs: the config → the merged feeds there are to show ([`Outputs`]), and those feeds
//! → their renderings, made once per change of the data and compressed once per coding
//! ([`FeedCache`]). What the server, retention and the `render` command share; HTTP itself is
//! [`crate::serve`]'s.

pub mod cache;
pub mod filters;
pub mod rendered;
pub mod workers;

use std::collections::HashMap;
use std::sync::Arc;

pub use cache::{CacheError, FeedCache, VARIANT_BUDGET, Variant};
pub use filters::{Filters, MAX_MIN_MINUTES, QueryError, SourceFilter, TagFilter};
pub use rendered::{Coding, Effort, Rendered};
pub use workers::{OUTPUT_COMPRESSORS, VARIANT_QUEUE, VARIANT_WORKERS};

use crate::config::{Config, FeedConfig};
use crate::dedupe::TrackingParams;
use crate::model::StoredItem;
use crate::render::Channel;
use crate::store::Selection;

/// The path of the default output, without extension: `/feed.xml`, `/feed.atom`, `/feed.json`.
pub const DEFAULT_OUTPUT_PATH: &str = "feed";

/// The longest a source's slug (`?source=`) is, in characters, before a number that tells
/// two apart.
pub const MAX_SLUG_CHARS: usize = 60;

/// A configured feed as `?source=` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'a> {
    /// Its name in `?source=`: its configured title in lower case with dashes for anything
    /// else (`green-streets-podcast`), or without one its address's host and path
    /// (`example-org-news-rss`); `-2`, `-3`… for the second and third of one name. Made from
    /// the config alone, so that it stays the same however the feed titles itself.
    pub slug: &'a str,
    /// Its configured URL.
    pub url: &'a str,
}

/// The configured feeds by slug, in the config's order: each slug held once, beside the
/// config's own feeds, and found by a binary search (4 bytes per feed of index rather than a
/// map holding every slug and URL a second time: a config of 100,000 feeds is read whole).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    feeds: Arc<[FeedConfig]>,
    /// Each feed's slug, in the config's order.
    slugs: Vec<Box<str>>,
    /// Positions in `slugs`, in the order of their slugs.
    by_slug: Vec<u32>,
}

impl Sources {
    /// Slugs for `feeds` (from the configured title, else the URL), in this order.
    pub fn new(feeds: Arc<[FeedConfig]>) -> Sources {
        let mut slugs = Vec::with_capacity(feeds.len());
        // Taken names, for this loop only: the first free one of `base`, `base-2`… in config
        // order.
        let mut taken = std::collections::HashSet::with_capacity(feeds.len());
        for f in feeds.iter() {
            let base = match &f.title {
                Some(t) => slug(t),
                None => {
                    let host = f.url.host_str().unwrap_or("");
                    slug(&format!(
                        "{}{}",
                        host.trim_start_matches("www."),
                        f.url.path()
                    ))
                }
            };
            let base = if base.is_empty() {
                "feed".to_owned()
            } else {
                base
            };
            let mut name = base.clone();
            let mut n = 1;
            while taken.contains(name.as_str()) {
                n += 1;
                name = format!("{base}-{n}");
            }
            let name: Box<str> = name.into();
            taken.insert(name.clone());
            slugs.push(name);
        }
        drop(taken);
        let mut by_slug: Vec<u32> = (0..slugs.len())
            .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
            .collect();
        by_slug.sort_unstable_by(|&a, &b| slugs[a as usize].cmp(&slugs[b as usize]));
        Sources {
            feeds,
            slugs,
            by_slug,
        }
    }

    /// The source called `slug`.
    pub fn get(&self, slug: &str) -> Option<Source<'_>> {
        let at = self
            .by_slug
            .binary_search_by(|&i| (*self.slugs[i as usize]).cmp(slug))
            .ok()?;
        Some(self.source(self.by_slug[at] as usize))
    }

    /// Every source, in the config's order.
    pub fn iter(&self) -> impl Iterator<Item = Source<'_>> {
        (0..self.slugs.len()).map(|i| self.source(i))
    }

    fn source(&self, i: usize) -> Source<'_> {
        Source {
            slug: &self.slugs[i],
            url: self.feeds[i].url.as_str(),
        }
    }
}

/// `text` in lower case, each run of other characters than letters and digits one dash, at
/// most [`MAX_SLUG_CHARS`] long.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if out.chars().count() >= MAX_SLUG_CHARS {
            break;
        }
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

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
    /// The configured feeds by slug, for `?source=`.
    pub sources: Sources,
    /// The configured feeds, for `/sources.opml` ([`FeedCache::sources_opml`]).
    pub feeds: Arc<[FeedConfig]>,
    /// Query parameters taken out of the item links every output publishes (`[output]
    /// tracking_params`).
    pub tracking_params: TrackingParams,
}

impl Outputs {
    /// What `cfg` shows: the default merged feed and the `[[outputs]]`.
    pub fn from_config(cfg: &Config) -> Outputs {
        let mut tags: HashMap<String, Vec<String>> = HashMap::new();
        for f in cfg.feeds.iter() {
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
            sources: Sources::new(cfg.feeds.clone()),
            feeds: cfg.feeds.clone(),
            tracking_params: TrackingParams::new(&cfg.output.tracking_params),
        }
    }
}

/// Takes `params` out of the links of `items` as loaded for an output: each item's link and
/// the links to its copies in other feeds ("Also in"). Done here, where items are loaded to be
/// shown, not when they are stored: the stored link stays as its feed published it, so a
/// changed `[output] tracking_params` applies to every item at the next rendering, and
/// nothing an item's identity or guid is made from changes.
pub fn strip_tracking(items: &mut [StoredItem], params: &TrackingParams) {
    if params.is_empty() {
        return;
    }
    let strip = |link: &mut Option<String>| {
        if let Some(l) = link
            && let std::borrow::Cow::Owned(stripped) = params.strip(l)
        {
            *l = stripped;
        }
    };
    for s in items {
        strip(&mut s.item.link);
        for a in &mut s.also_in {
            strip(&mut a.link);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sources of feeds given as (URL, configured title).
    pub(crate) fn sources(feeds: &[(String, Option<String>)]) -> Sources {
        Sources::new(
            feeds
                .iter()
                .map(|(url, title)| FeedConfig {
                    title: title.clone(),
                    ..FeedConfig::new(url::Url::parse(url).unwrap())
                })
                .collect(),
        )
    }

    #[test]
    fn slugs_are_readable_stable_and_unique() {
        let feeds = [
            (
                "https://a.example/podcast.xml".to_owned(),
                Some("Green Streets Podcast".to_owned()),
            ),
            ("https://www.example.org/news/rss".to_owned(), None),
            (
                "https://c.example/".to_owned(),
                Some("Green streets: podcast!".to_owned()),
            ),
            (
                "https://d.example/".to_owned(),
                Some("Ünïcode Ñews".to_owned()),
            ),
            ("https://e.example/".to_owned(), Some("!!!".to_owned())),
            ("https://f.example/".to_owned(), Some("x".repeat(500))),
        ];
        let sources = sources(&feeds);
        let slugs: Vec<&str> = sources.iter().map(|s| s.slug).collect();
        assert_eq!(
            &slugs[..5],
            [
                "green-streets-podcast",
                "example-org-news-rss",
                "green-streets-podcast-2",
                "ünïcode-ñews",
                "feed"
            ]
        );
        assert_eq!(slugs[5].chars().count(), MAX_SLUG_CHARS);
        assert_eq!(
            sources.get("green-streets-podcast-2").map(|s| s.url),
            Some("https://c.example/")
        );
        for s in sources.iter() {
            assert_eq!(sources.get(s.slug), Some(s));
        }
        assert!(sources.get("nothing").is_none());
    }
}
