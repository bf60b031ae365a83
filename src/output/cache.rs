//! The rendering cache: an output (or a query variant of the default feed) and a format → the
//! rendered document, made once per change of the data and compressed once per coding. The
//! configured outputs are kept as they are (the config bounds them) and render on a path of
//! their own; query variants share a byte budget, least recently used first out, and the
//! variants' worker ([`super::workers`]), so that a flood of variants never holds the
//! configured outputs back. The items' sanitised HTML is shared by all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;
use chrono::Utc;
use hashlink::LruCache;
use tokio::sync::OwnedSemaphorePermit;
use xxhash_rust::xxh3::xxh3_128;

use super::filters::Filters;
use super::rendered::{Coding, Effort, Rendered};
use super::workers::{VARIANT_QUEUE, Workers};
use super::{Output, Outputs, SourceFilter, TagFilter};
use crate::metrics::Metrics;
use crate::model::Cursor;
use crate::opml;
use crate::render::sanitized::SanitizedCache;
use crate::render::{self, Format, page};
use crate::store::{Selection, Store, StoreError};

/// Bytes the renderings of query variants (`/feed.xml?tag=x`) may hold together, compressed
/// copies included: about eight variants of a 100-item feed of long articles, each in every
/// coding. Past it the least recently used go; one rendering larger than the whole budget is
/// still kept, alone.
pub const VARIANT_BUDGET: usize = 8 << 20;

/// A query variant that cannot be rendered now.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// [`VARIANT_QUEUE`] other requests already wait for the variants' worker.
    #[error("{VARIANT_QUEUE} query variants are already waiting to be rendered")]
    Busy,
}

/// What a rendering is cached under, besides its format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Variant {
    /// A configured output (the default feed or an `[[outputs]]` entry), by path.
    Output(String),
    /// The default feed narrowed by query filters (never `Filters::default()`).
    Filtered(Filters),
}

/// Bytes the first pages of the news page narrowed to a tag or a source (`/?tag=local`) may
/// hold together, compressed copies included: a few dozen such pages.
pub const PAGE_BUDGET: usize = 4 << 20;

/// What a cache key holds beyond its own size, charged to the budget with its rendering.
trait HeapSize {
    fn heap_size(&self) -> usize;
}

impl HeapSize for (Filters, Format) {
    fn heap_size(&self) -> usize {
        self.0.heap_size()
    }
}

impl HeapSize for Filters {
    fn heap_size(&self) -> usize {
        Filters::heap_size(self)
    }
}

/// Renderings of query variants, least recently used first, with what each is charged.
#[derive(Debug)]
struct Variants<K: std::hash::Hash + Eq = (Filters, Format)> {
    lru: LruCache<K, (Arc<Rendered>, usize)>,
    bytes: usize,
    budget: usize,
}

impl<K: std::hash::Hash + Eq + HeapSize> Variants<K> {
    fn new(budget: usize) -> Variants<K> {
        Variants {
            lru: LruCache::new_unbounded(),
            bytes: 0,
            budget,
        }
    }

    fn get(&mut self, key: &K) -> Option<Arc<Rendered>> {
        self.lru.get(key).map(|(r, _)| r.clone())
    }

    fn insert(&mut self, key: K, rendered: Arc<Rendered>) {
        let charge = rendered.bytes() + key.heap_size();
        self.bytes += charge;
        if let Some((_, old)) = self.lru.insert(key, (rendered, charge)) {
            self.bytes -= old;
        }
        self.evict();
    }

    /// Counts what `rendered`, the rendering kept under `key`, holds now (after compressing).
    fn recharge(&mut self, key: &K, rendered: &Arc<Rendered>) {
        let heap = key.heap_size();
        if let Some((kept, charge)) = self.lru.peek_mut(key) {
            if Arc::ptr_eq(kept, rendered) {
                let now = rendered.bytes() + heap;
                self.bytes = self.bytes - *charge + now;
                *charge = now;
            }
        }
        self.evict();
    }

    /// Drops the least recently used renderings until the rest fit, keeping the newest.
    fn evict(&mut self) {
        while self.bytes > self.budget && self.lru.len() > 1 {
            if let Some((_, (_, charge))) = self.lru.remove_lru() {
                self.bytes -= charge;
            }
        }
    }
}

/// The merged feeds, each rendered on demand when the store has changed since its last
/// rendering and then served from memory.
#[derive(Debug)]
pub struct FeedCache {
    store: Store,
    /// What to render (replaced by a config reload). Shared, not copied, by each request: it
    /// holds every feed's URL.
    outputs: RwLock<Arc<Outputs>>,
    metrics: Arc<Metrics>,
    /// Renderings of the configured outputs, by path and format.
    current: RwLock<HashMap<(String, Format), Arc<Rendered>>>,
    /// Renderings of query variants, within [`VARIANT_BUDGET`].
    variants: Mutex<Variants>,
    /// The items' sanitised HTML, for every rendering.
    sanitized: Arc<SanitizedCache>,
    /// Held while a configured output renders: one at a time, and never behind a variant.
    rendering: tokio::sync::Mutex<()>,
    /// Who renders query variants and compresses everything.
    workers: Workers,
    /// The first page of the news page, with the store version and the minute it was made
    /// in ("3 minutes ago" must not go stale for long).
    front_page: RwLock<Option<(u64, i64, Arc<Rendered>)>>,
    /// First pages of the news page narrowed by filters, within [`PAGE_BUDGET`]; each is
    /// current for the store version and the minute it was made in.
    pages: Mutex<Variants<Filters>>,
    /// `/sources.opml`, with the store version and the minute it was made in: the feeds' own
    /// titles change with polls that need not change the merged feed.
    sources: tokio::sync::Mutex<Option<(u64, i64, Bytes)>>,
    /// The news page's list of sources, made at most once a minute per config: held while
    /// it is made, so that renderings that find it out of date wait for one making.
    source_list: tokio::sync::Mutex<Option<Arc<SourceList>>>,
}

/// The news page's list of sources: the first [`MAX_NAV_SOURCES`] by the names they are shown
/// by, and how many there are, for one config and the minute it was made in. Reading every
/// feed's name and sorting them took 0.13 s at 100,000 feeds, most of a page's rendering,
/// and the front page is made anew after every change of the store; a name a poll changes
/// shows within a minute.
#[derive(Debug)]
struct SourceList {
    /// The config it was made for. Weak: the list must not keep a config a reload replaced
    /// (the URL of every feed) alive; and while it exists no other config can take its
    /// address.
    outputs: std::sync::Weak<Outputs>,
    minute: i64,
    /// Name and slug of the first sources by name.
    first: Vec<(String, Box<str>)>,
    total: usize,
}

impl SourceList {
    /// The list of `outputs`' sources, named as `names` (URL → name) says, else by URL.
    fn new(outputs: &Arc<Outputs>, minute: i64, names: &HashMap<String, String>) -> SourceList {
        let mut all: Vec<(String, &str)> = outputs
            .sources
            .iter()
            .map(|s| {
                (
                    shown_name(names.get(s.url).map(String::as_str), s.url),
                    s.slug,
                )
            })
            .collect();
        all.sort_by_cached_key(|(name, _)| name.to_lowercase());
        let total = all.len();
        all.truncate(MAX_NAV_SOURCES);
        let first = all
            .into_iter()
            .map(|(name, slug)| (name, slug.into()))
            .collect();
        SourceList {
            outputs: Arc::downgrade(outputs),
            minute,
            first,
            total,
        }
    }
}

/// How a source is shown: by `name` (its configured title, else its own, else its URL) or,
/// unregistered, by its URL `url`; secrets in a URL redacted.
fn shown_name(name: Option<&str>, url: &str) -> String {
    crate::redact::name(name.unwrap_or(url)).into_owned()
}

impl FeedCache {
    /// A cache over `store`, rendering `outputs`.
    pub fn new(store: Store, outputs: Outputs, metrics: Arc<Metrics>) -> Self {
        FeedCache::with_budget(store, outputs, metrics, VARIANT_BUDGET)
    }

    /// [`FeedCache::new`] with `variant_budget` bytes for query variants.
    pub fn with_budget(
        store: Store,
        outputs: Outputs,
        metrics: Arc<Metrics>,
        variant_budget: usize,
    ) -> Self {
        FeedCache {
            store,
            outputs: RwLock::new(Arc::new(outputs)),
            metrics,
            current: RwLock::new(HashMap::new()),
            variants: Mutex::new(Variants::new(variant_budget)),
            sanitized: Arc::new(SanitizedCache::default()),
            front_page: RwLock::new(None),
            pages: Mutex::new(Variants::new(PAGE_BUDGET)),
            sources: tokio::sync::Mutex::new(None),
            source_list: tokio::sync::Mutex::new(None),
            rendering: tokio::sync::Mutex::new(()),
            workers: Workers::new(),
        }
    }

    /// Renders `outputs` from now on (after a config reload).
    pub fn reconfigure(&self, outputs: Outputs) {
        {
            let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
            current.retain(|(path, _), _| {
                *path == outputs.default.channel.path || outputs.filtered.contains_key(path)
            });
        }
        // Variants name tags of the old config.
        let mut variants = self.lock_variants();
        *variants = Variants::new(variants.budget);
        drop(variants);
        *self.lock_pages() = Variants::new(PAGE_BUDGET);
        *self.outputs.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(outputs);
        // A new version, so that a rendering already under way with the old settings is not
        // served as current.
        self.store.bump();
    }

    /// What is configured now.
    pub fn outputs(&self) -> Arc<Outputs> {
        self.outputs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The cache of sanitised item HTML that every rendering uses.
    pub fn sanitized(&self) -> &SanitizedCache {
        &self.sanitized
    }

    /// Bytes the renderings of query variants hold now.
    pub fn variant_bytes(&self) -> usize {
        self.lock_variants().bytes
    }

    fn lock_variants(&self) -> std::sync::MutexGuard<'_, Variants> {
        // A poisoned lock only means a request panicked between two map operations, which
        // leave the map whole.
        self.variants.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_pages(&self) -> std::sync::MutexGuard<'_, Variants<Filters>> {
        // As for the variants: a panic between two map operations leaves the map whole.
        self.pages.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last rendering of `variant` in `format`, whatever its version.
    fn last(&self, variant: &Variant, format: Format) -> Option<Arc<Rendered>> {
        match variant {
            Variant::Output(path) => {
                // A poisoned lock only means a reader panicked while cloning an Arc: the data
                // is intact.
                let guard = self.current.read().unwrap_or_else(|p| p.into_inner());
                guard.get(&(path.clone(), format)).cloned()
            }
            Variant::Filtered(filters) => self.lock_variants().get(&(filters.clone(), format)),
        }
    }

    fn keep(&self, variant: Variant, format: Format, rendered: Arc<Rendered>) {
        match variant {
            Variant::Output(path) => {
                let mut cache = self.current.write().unwrap_or_else(|p| p.into_inner());
                cache.insert((path, format), rendered);
            }
            Variant::Filtered(filters) => self.lock_variants().insert((filters, format), rendered),
        }
    }

    /// Counts the compressed copies `rendered` (kept under `variant`) has made since it was
    /// kept, so that they stay within the budget.
    pub fn compressed(&self, variant: &Variant, format: Format, rendered: &Arc<Rendered>) {
        if let Variant::Filtered(filters) = variant {
            self.lock_variants()
                .recharge(&(filters.clone(), format), rendered);
        }
    }

    /// The default merged feed in `format`.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn current(&self, format: Format) -> Result<Arc<Rendered>, StoreError> {
        let outputs = self.outputs();
        let variant = Variant::Output(outputs.default.channel.path.clone());
        self.rendered_output(&variant, format, || outputs.default.clone())
            .await
    }

    /// The current rendering of `variant` in `format`, made now from `output()` if the data
    /// changed since the last one (so that a request served from the cache builds nothing).
    ///
    /// # Errors
    /// When the store cannot be read, or `variant` is a query variant that would wait behind
    /// [`VARIANT_QUEUE`] others ([`CacheError::Busy`]).
    pub async fn rendered(
        &self,
        variant: &Variant,
        format: Format,
        output: impl FnOnce() -> Output,
    ) -> Result<Arc<Rendered>, CacheError> {
        match variant {
            Variant::Output(_) => Ok(self.rendered_output(variant, format, output).await?),
            Variant::Filtered(_) => self.rendered_variant(variant, format, output).await,
        }
    }

    /// [`FeedCache::rendered`] for a configured output: one rendering at a time among them.
    /// While one runs, other requests get the previous rendering (one change behind) instead
    /// of queueing behind it; only the very first waits.
    async fn rendered_output(
        &self,
        variant: &Variant,
        format: Format,
        output: impl FnOnce() -> Output,
    ) -> Result<Arc<Rendered>, StoreError> {
        let version = self.store.version();
        if let Some(r) = self.last(variant, format).filter(|r| r.version == version) {
            return Ok(r);
        }
        let _rendering = match self.rendering.try_lock() {
            Ok(guard) => guard,
            Err(_) => match self.last(variant, format) {
                Some(previous) => return Ok(previous),
                None => self.rendering.lock().await,
            },
        };
        self.render(variant, format, output, Effort::Best, None)
            .await
    }

    /// [`FeedCache::rendered`] for a query variant, by the variants' worker. While it is busy,
    /// a request gets the variant's previous rendering if there is one, else waits in a
    /// bounded queue.
    async fn rendered_variant(
        &self,
        variant: &Variant,
        format: Format,
        output: impl FnOnce() -> Output,
    ) -> Result<Arc<Rendered>, CacheError> {
        let version = self.store.version();
        if let Some(r) = self.last(variant, format).filter(|r| r.version == version) {
            return Ok(r);
        }
        let worker = match self.workers.try_variant() {
            Some(worker) => worker,
            None => match self.last(variant, format) {
                Some(previous) => return Ok(previous),
                None => self.workers.variant().await.ok_or(CacheError::Busy)?,
            },
        };
        Ok(self
            .render(variant, format, output, Effort::Fast, Some(worker))
            .await?)
    }

    /// Renders `variant` from `output()` unless a request before it just did, and keeps it;
    /// `worker`, if any, is held until the rendering is done, even if the caller is gone.
    async fn render(
        &self,
        variant: &Variant,
        format: Format,
        output: impl FnOnce() -> Output,
        effort: Effort,
        worker: Option<OwnedSemaphorePermit>,
    ) -> Result<Arc<Rendered>, StoreError> {
        let version = self.store.version();
        if let Some(r) = self.last(variant, format).filter(|r| r.version == version) {
            return Ok(r);
        }
        let started = std::time::Instant::now();
        let Output {
            channel,
            selection,
            health_items,
            ..
        } = output();
        let tracking_params = self.outputs().tracking_params.clone();
        let mut items = self.store.merged_items(selection).await?;
        let failing = if health_items {
            self.store.failing_feeds().await?
        } else {
            Vec::new()
        };
        let previous = self.last(variant, format);
        let sanitized = self.sanitized.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            let _worker = worker;
            let now = Utc::now();
            sanitized.begin(version);
            super::strip_tracking(&mut items, &tracking_params);
            let xml = render::render_cached(format, &channel, &items, &failing, now, &sanitized);
            let hash = format!("{:032x}", xxh3_128(xml.as_bytes()));
            // Last-Modified moves only when the bytes change, and then strictly forward, so
            // that If-Modified-Since never hides a change. The first rendering after a start
            // uses the newest item change, which is the same across restarts.
            let last_modified = match previous {
                Some(p) if p.hash == hash => p.last_modified,
                Some(p) => now.max(p.last_modified + chrono::Duration::seconds(1)),
                None => items.iter().map(|i| i.changed_at).max().unwrap_or(now),
            };
            let rendered = Rendered::new(version, effort, xml.into_bytes(), hash, last_modified);
            drop((items, failing));
            crate::memory::trim();
            rendered
        })
        .await
        .map_err(StoreError::Task)?;
        self.metrics.rendered(started.elapsed());
        let rendered = Arc::new(rendered);
        self.keep(variant.clone(), format, rendered.clone());
        Ok(rendered)
    }

    /// The body of `rendered` in `coding`, or in the coding it is served in instead; see
    /// [`super::workers`].
    ///
    /// # Errors
    /// When the compressing task panicked.
    pub async fn body(
        &self,
        rendered: &Arc<Rendered>,
        coding: Coding,
    ) -> Result<(Coding, Bytes), tokio::task::JoinError> {
        self.workers.body(rendered, coding).await
    }

    /// The configured feeds as OPML for anyone to read (`/sources.opml`): tags as folders,
    /// each feed named by its configured title, else by its own stored title, else by its
    /// URL; URLs redacted ([`opml::Urls::Redacted`]). Made again at most once a minute, and
    /// when the data or the config changed; one request makes it while the others wait.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn sources_opml(&self) -> Result<Bytes, StoreError> {
        let mut sources = self.sources.lock().await;
        let version = self.store.version();
        let minute = Utc::now().timestamp() / 60;
        if let Some((v, m, opml)) = &*sources {
            if (*v, *m) == (version, minute) {
                return Ok(opml.clone());
            }
        }
        let own_titles = self.store.own_titles().await?;
        let outputs = self.outputs();
        let opml = Bytes::from(opml::export(
            &outputs.default.channel.title,
            &outputs.feeds,
            &own_titles,
            opml::Urls::Redacted,
        ));
        *sources = Some((version, minute, opml.clone()));
        Ok(opml)
    }

    /// One page of the news page narrowed by `filters` (their `limit` aside): the newest
    /// stories, or those after `before`.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn page(
        &self,
        filters: &Filters,
        before: Option<Cursor>,
    ) -> Result<Arc<Rendered>, StoreError> {
        let version = self.store.version();
        let now = Utc::now();
        let minute = now.timestamp() / 60;
        let current =
            |r: &Arc<Rendered>| r.version == version && r.last_modified.timestamp() / 60 == minute;
        if before.is_none() {
            let cached = if filters.is_default() {
                self.front_page
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
                    .filter(|(v, m, _)| *v == version && *m == minute)
                    .map(|(_, _, page)| page)
            } else {
                self.lock_pages().get(filters).filter(current)
            };
            if let Some(page) = cached {
                return Ok(page);
            }
        }
        let outputs = self.outputs();
        let output = filters.apply(&outputs);
        let channel = output.channel;
        let mut items = self
            .store
            .merged_items(Selection {
                limit: page::PAGE_SIZE + 1,
                before,
                ..output.selection
            })
            .await?;
        let list = self.source_list(&outputs, minute).await?;
        // The source this page is narrowed to, named even when the list leaves it out.
        let current = match &filters.source {
            SourceFilter::Source(slug) => match list.first.iter().find(|(_, s)| **s == **slug) {
                Some((name, _)) => Some(name.clone()),
                None => match outputs.sources.get(slug) {
                    Some(source) => Some(shown_name(
                        self.store.feed_name(source.url).await?.as_deref(),
                        source.url,
                    )),
                    None => None,
                },
            },
            SourceFilter::All | SourceFilter::Unknown => None,
        };
        let nav = nav(&outputs, filters, &list, current);
        let more = (items.len() > page::PAGE_SIZE).then(|| {
            items.truncate(page::PAGE_SIZE);
            let path = channel.base_url.path().to_owned();
            let query = filters.query();
            let and = if query.is_empty() { "" } else { "&" };
            items
                .last()
                .map(|i| format!("{path}?{query}{and}before={}", i.cursor.to_param()))
        });
        let more = more.flatten();
        super::strip_tracking(&mut items, &outputs.tracking_params);
        let sanitized = self.sanitized.clone();
        // The stories are sanitised here when the feeds have not been rendered since they
        // changed: work for a blocking thread, as for the feeds.
        let html = tokio::task::spawn_blocking(move || {
            let page = page::Page {
                more_url: more.as_deref(),
                first: before.is_none(),
                nav: Some(&nav),
                ..page::Page::new(&channel, &items)
            };
            sanitized.begin(version);
            page::render(&page, now, &sanitized)
        })
        .await
        .map_err(StoreError::Task)?;
        let hash = format!("{:032x}", xxh3_128(html.as_bytes()));
        // Later pages are made per request, each cursor its own: compressed like variants.
        let effort = if before.is_none() {
            Effort::Best
        } else {
            Effort::Fast
        };
        let rendered = Arc::new(Rendered::new(version, effort, html.into_bytes(), hash, now));
        if before.is_none() {
            if filters.is_default() {
                *self.front_page.write().unwrap_or_else(|p| p.into_inner()) =
                    Some((version, minute, rendered.clone()));
            } else {
                self.lock_pages().insert(filters.clone(), rendered.clone());
            }
        }
        Ok(rendered)
    }

    /// The news page's list of sources for `outputs` in `minute`: the one made earlier in
    /// that minute for the same config, else a new one (every feed's name read, and sorted
    /// in a blocking thread).
    async fn source_list(
        &self,
        outputs: &Arc<Outputs>,
        minute: i64,
    ) -> Result<Arc<SourceList>, StoreError> {
        let mut cached = self.source_list.lock().await;
        if let Some(list) = cached.as_ref().filter(|l| {
            l.minute == minute && std::ptr::eq(l.outputs.as_ptr(), Arc::as_ptr(outputs))
        }) {
            return Ok(list.clone());
        }
        let names = self.store.feed_names().await?;
        let outputs = outputs.clone();
        let list = tokio::task::spawn_blocking(move || {
            Arc::new(SourceList::new(&outputs, minute, &names))
        })
        .await
        .map_err(StoreError::Task)?;
        *cached = Some(list.clone());
        Ok(list)
    }

    /// Counts the compressed copies a narrowed first page (`rendered`, for `filters`) has
    /// made, so that they stay within [`PAGE_BUDGET`].
    pub fn page_compressed(&self, filters: &Filters, rendered: &Arc<Rendered>) {
        if !filters.is_default() {
            self.lock_pages().recharge(filters, rendered);
        }
    }
}

/// Sources shown in the news page's list; more would make every page heavy.
pub const MAX_NAV_SOURCES: usize = 200;

/// The news page's navigation for a page narrowed by `filters`: the sources of `list` and
/// each tag, linked to its page; `current` is the name of the source the page is narrowed
/// to, which stays in the list, after the others, when the list leaves it out.
fn nav(
    outputs: &Outputs,
    filters: &Filters,
    list: &SourceList,
    current: Option<String>,
) -> page::Nav {
    let base = outputs.default.channel.base_url.path();
    let href = |key: &str, value: &str| {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(key, value)
            .finish();
        format!("{base}?{query}")
    };
    let current_slug = match &filters.source {
        SourceFilter::Source(slug) => Some(slug.as_str()),
        SourceFilter::All | SourceFilter::Unknown => None,
    };
    let mut sources: Vec<page::NavLink> = list
        .first
        .iter()
        .map(|(name, slug)| page::NavLink {
            name: name.clone(),
            href: href("source", slug),
            current: current_slug == Some(&**slug),
        })
        .collect();
    let more_sources = list.total.saturating_sub(MAX_NAV_SOURCES);
    if let (Some(slug), Some(name)) = (current_slug, &current)
        && !sources.iter().any(|l| l.current)
    {
        sources.push(page::NavLink {
            name: name.clone(),
            href: href("source", slug),
            current: true,
        });
    }
    let mut tags: Vec<page::NavLink> = outputs
        .tags
        .keys()
        .map(|t| page::NavLink {
            name: t.clone(),
            href: href("tag", t),
            current: filters.tag == TagFilter::Tag(t.clone()),
        })
        .collect();
    tags.sort_by_cached_key(|l| l.name.to_lowercase());
    let source = current;
    let tag = match &filters.tag {
        TagFilter::Tag(t) => Some(t.as_str()),
        TagFilter::All | TagFilter::Unknown => None,
    };
    let heading = match (source, tag) {
        (Some(s), Some(t)) => Some(format!("From {s}, tagged {t}")),
        (Some(s), None) => Some(format!("From {s}")),
        (None, Some(t)) => Some(format!("Tagged {t}")),
        (None, None) => filters
            .min_minutes
            .map(|m| format!("At least {m} min read")),
    };
    page::Nav {
        sources,
        more_sources,
        tags,
        heading,
        all_url: base.to_owned(),
        feed_query: filters.query(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::filters::TagFilter;

    fn rendering(bytes: usize) -> Arc<Rendered> {
        Arc::new(Rendered::new(
            1,
            Effort::Fast,
            vec![b'x'; bytes],
            "0".repeat(32),
            Utc::now(),
        ))
    }

    fn key(limit: usize) -> (Filters, Format) {
        let filters = Filters {
            tag: TagFilter::Unknown,
            source: crate::output::SourceFilter::All,
            min_minutes: None,
            limit: Some(limit),
        };
        (filters, Format::Rss)
    }

    /// The news page lists the first sources by the names they are shown by, counts the
    /// rest, and keeps the one a page is narrowed to, after the others, when it is not among
    /// them.
    #[test]
    fn the_source_list_holds_the_first_sources_by_name_and_the_current_one() {
        use std::fmt::Write;
        let mut text = String::new();
        for i in 0..250 {
            write!(
                text,
                "[[feeds]]\nurl = \"https://s{i:03}.example/feed\"\n\n"
            )
            .unwrap();
        }
        let cfg = crate::config::Config::parse(&text, std::path::Path::new("c.toml")).unwrap();
        let outputs = Arc::new(Outputs::from_config(&cfg));
        // Named feeds go by their names, whatever their case; the others by their URLs.
        let names: HashMap<String, String> = [
            ("https://s249.example/feed", "aardvark"),
            ("https://s000.example/feed", "Zebra"),
        ]
        .map(|(url, name)| (url.to_owned(), name.to_owned()))
        .into();
        let list = SourceList::new(&outputs, 0, &names);
        assert_eq!(list.total, 250);
        assert_eq!(list.first.len(), MAX_NAV_SOURCES);
        assert_eq!(list.first[0].0, "aardvark");
        assert_eq!(list.first[1].0, "https://s001.example/feed");
        assert!(
            list.first
                .windows(2)
                .all(|w| w[0].0.to_lowercase() <= w[1].0.to_lowercase())
        );
        let zebra = outputs
            .sources
            .iter()
            .find(|s| s.url == "https://s000.example/feed")
            .unwrap()
            .slug
            .to_owned();
        assert!(list.first.iter().all(|(_, slug)| **slug != *zebra));

        let filters = Filters {
            source: SourceFilter::Source(zebra.clone()),
            ..Filters::default()
        };
        let shown = nav(&outputs, &filters, &list, Some("Zebra".to_owned()));
        assert_eq!(shown.more_sources, 50);
        assert_eq!(shown.sources.len(), MAX_NAV_SOURCES + 1);
        let last = shown.sources.last().unwrap();
        assert!(last.current && last.name == "Zebra", "{last:?}");
        assert!(
            last.href.ends_with(&format!("?source={zebra}")),
            "{}",
            last.href
        );
        assert_eq!(shown.sources.iter().filter(|l| l.current).count(), 1);
        assert_eq!(shown.heading.as_deref(), Some("From Zebra"));

        // Among the first, the current source is marked where it stands, not added again.
        let second = list.first[1].1.to_string();
        let filters = Filters {
            source: SourceFilter::Source(second),
            ..Filters::default()
        };
        let name = list.first[1].0.clone();
        let shown = nav(&outputs, &filters, &list, Some(name));
        assert_eq!(shown.sources.len(), MAX_NAV_SOURCES);
        assert!(shown.sources[1].current);
    }

    /// The list of sources is made once a minute per config: a name changed within the
    /// minute shows in the next one, and a new config gets a list of its own at once.
    #[tokio::test]
    async fn the_source_list_is_made_once_a_minute_per_config() {
        use crate::model::Subscription;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let url = url::Url::parse("https://a.example/feed").unwrap();
        store
            .sync_feeds(&[Subscription::new(url.clone())])
            .await
            .unwrap();
        let text = format!("[[feeds]]\nurl = \"{url}\"\n");
        let cfg = crate::config::Config::parse(&text, std::path::Path::new("c.toml")).unwrap();
        let cache = FeedCache::new(
            store.clone(),
            Outputs::from_config(&cfg),
            Arc::new(Metrics::default()),
        );
        let outputs = cache.outputs();
        let first = cache.source_list(&outputs, 7).await.unwrap();
        assert_eq!(first.first[0].0, url.as_str());

        let renamed = Subscription {
            url: url.clone(),
            title: Some("Renamed".to_owned()),
        };
        store.sync_feeds(&[renamed]).await.unwrap();
        let again = cache.source_list(&outputs, 7).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again), "made again within the minute");
        let next = cache.source_list(&outputs, 8).await.unwrap();
        assert_eq!(next.first[0].0, "Renamed");

        cache.reconfigure(Outputs::from_config(&cfg));
        let reloaded = cache.source_list(&cache.outputs(), 8).await.unwrap();
        assert!(!Arc::ptr_eq(&next, &reloaded), "kept across a reload");
    }

    #[test]
    fn variants_stay_within_the_budget_least_recently_used_out() {
        let one = rendering(1000).bytes();
        let mut v = Variants::new(3 * one);
        for limit in 1..=3 {
            v.insert(key(limit), rendering(1000));
        }
        assert_eq!(v.bytes, 3 * one);
        // 1 is used again, so 2 is the least recently used when 4 comes.
        assert!(v.get(&key(1)).is_some());
        v.insert(key(4), rendering(1000));
        assert!(v.get(&key(2)).is_none());
        assert!(v.get(&key(1)).is_some() && v.get(&key(4)).is_some());
        assert!(v.bytes <= 3 * one);
        // The same key again replaces, and is charged once.
        v.insert(key(4), rendering(1000));
        assert_eq!(v.bytes, 3 * one);
        // Larger than the whole budget: kept, alone.
        v.insert(key(5), rendering(10 * one));
        assert_eq!(v.lru.len(), 1);
        assert!(v.get(&key(5)).is_some());
    }

    #[test]
    fn compressed_copies_count_against_the_budget() {
        let mut v = Variants::new(usize::MAX);
        let r = Arc::new(Rendered::new(
            1,
            Effort::Fast,
            (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect(),
            "0".repeat(32),
            Utc::now(),
        ));
        v.insert(key(1), r.clone());
        let before = v.bytes;
        r.body(Coding::Gzip);
        v.recharge(&key(1), &r);
        assert_eq!(v.bytes, r.bytes());
        assert!(v.bytes > before);
        // A rendering that is no longer the one kept is not counted.
        let stale = rendering(10);
        v.recharge(&key(1), &stale);
        assert_eq!(v.bytes, r.bytes());
    }
}
