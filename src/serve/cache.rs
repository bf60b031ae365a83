//! The rendering cache: an output (or a query variant of the default feed) and a format → the
//! rendered document, made once per change of the data and compressed once per coding. The
//! configured outputs are kept as they are (the config bounds them) and render on a path of
//! their own; query variants share a byte budget, least recently used first out, and one
//! worker that renders and compresses them at fast levels, so that a flood of variants takes
//! one core at most and never holds the configured outputs back. The items' sanitised HTML is
//! shared by all.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use hashlink::LruCache;
use xxhash_rust::xxh3::xxh3_128;

use super::query::Filters;
use super::{Coding, Output, Outputs};
use crate::metrics::Metrics;
use crate::model::Cursor;
use crate::render::sanitized::SanitizedCache;
use crate::render::{self, Format, page};
use crate::store::{Selection, Store, StoreError};

/// Brotli quality for the configured outputs: close to the best ratio at a fraction of
/// quality 11's time, and paid once per change of the data.
const BROTLI_QUALITY: i32 = 9;

/// Brotli quality for query variants: a 3.4 MB feed in 27 ms instead of quality 9's 165 ms
/// (to 26 % of its size instead of 11 %), since a stranger chooses how many variants there
/// are.
const VARIANT_BROTLI_QUALITY: i32 = 2;

/// gzip level for query variants: a 3.4 MB feed in 26 ms instead of level 6's 157 ms (to 39 %
/// of its size instead of 33 %).
const VARIANT_GZIP_LEVEL: u32 = 2;

/// Query variants rendered or compressed at once. One: a flood of them then takes one core
/// and leaves the others to the configured outputs and everything else.
pub const VARIANT_WORKERS: usize = 1;

/// Compressions of configured outputs at once. Each is made once per change of the data, but
/// every request for a coding not yet made waits for it: without a limit, each would park a
/// blocking thread on the one compressing (48 requests for `/feed.xml` with brotli right after
/// a change, 47 threads); with it they wait without a thread.
pub const OUTPUT_COMPRESSORS: usize = 2;

/// Requests for a query variant not yet rendered that may wait for the worker. A request
/// past them is answered 503 at once, so that a flood of variants cannot hold connections
/// (and a connection in the middle of a request is never closed for a newcomer); at tens of
/// milliseconds a rendering, the last of them waits well under a second.
pub const VARIANT_QUEUE: usize = 16;

/// Bytes the renderings of query variants (`/feed.xml?tag=x`) may hold together, compressed
/// copies included: about eight variants of a 100-item feed of long articles, each in every
/// coding. Past it the least recently used go; one rendering larger than the whole budget is
/// still kept, alone.
pub const VARIANT_BUDGET: usize = 8 << 20;

/// Bytes counted per kept rendering on top of its bodies: the key, the struct and its hash,
/// the map's slot.
const ENTRY_OVERHEAD: usize = 256;

/// How hard a rendering is compressed, and by whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    /// A configured output or the front page: compressed well, once per change of the data.
    Best,
    /// What a request chose (a query variant, a later page of the news page): compressed
    /// fast, by the variants' worker.
    Fast,
}

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

/// Who renders and compresses on blocking threads: the variants' worker ([`VARIANT_WORKERS`]
/// renderings or compressions at once, at most [`VARIANT_QUEUE`] requests waiting for one)
/// and the configured outputs' compressors ([`OUTPUT_COMPRESSORS`]). A permit goes into the
/// blocking task that does the work: a request that gives up (its client gone, its timeout)
/// frees nothing while its work still runs.
#[derive(Debug)]
struct Workers {
    variants: Arc<Semaphore>,
    places: Semaphore,
    outputs: Arc<Semaphore>,
}

impl Workers {
    fn new() -> Workers {
        Workers {
            variants: Arc::new(Semaphore::new(VARIANT_WORKERS)),
            places: Semaphore::new(VARIANT_QUEUE),
            outputs: Arc::new(Semaphore::new(OUTPUT_COMPRESSORS)),
        }
    }

    /// The variants' worker, if it is free now.
    fn try_variant(&self) -> Option<OwnedSemaphorePermit> {
        self.variants.clone().try_acquire_owned().ok()
    }

    /// The variants' worker, once it is free, unless too many wait for it already.
    async fn variant(&self) -> Result<OwnedSemaphorePermit, CacheError> {
        if let Some(permit) = self.try_variant() {
            return Ok(permit);
        }
        let _place = self.places.try_acquire().map_err(|_| CacheError::Busy)?;
        // Invariant: the semaphore is never closed.
        Ok(self
            .variants
            .clone()
            .acquire_owned()
            .await
            .expect("never closed"))
    }

    /// The body of `rendered` in `coding`, or in the coding it is served in instead: made
    /// once and kept, off the async threads, by a bounded number of them. What a request
    /// chose ([`Effort::Fast`]) is compressed by the variants' worker; while too many wait for
    /// it, the body goes out uncompressed rather than not at all.
    ///
    /// # Errors
    /// When the compressing task panicked.
    async fn body(
        &self,
        rendered: &Arc<Rendered>,
        coding: Coding,
    ) -> Result<(Coding, Bytes), tokio::task::JoinError> {
        if let Some(body) = rendered.ready_body(coding) {
            return Ok((coding, body));
        }
        let worker = match rendered.effort {
            // Invariant: the semaphore is never closed.
            Effort::Best => (self.outputs.clone().acquire_owned().await).expect("never closed"),
            Effort::Fast => match self.variant().await {
                Ok(worker) => worker,
                Err(_) => return Ok((Coding::Identity, rendered.identity.clone())),
            },
        };
        // Made while this request waited its turn.
        if let Some(body) = rendered.ready_body(coding) {
            return Ok((coding, body));
        }
        let r = rendered.clone();
        let body = tokio::task::spawn_blocking(move || {
            let _worker = worker;
            r.body(coding)
        })
        .await?;
        Ok((coding, body))
    }
}

/// One rendering of the merged feed, in each encoding we serve.
#[derive(Debug)]
pub struct Rendered {
    /// The store version it was rendered from.
    pub version: u64,
    /// How hard it is compressed.
    pub effort: Effort,
    /// The XML.
    pub identity: Bytes,
    /// The XML, gzip-compressed, made on the first request that accepts gzip.
    gzip: OnceLock<Bytes>,
    /// The XML, brotli-compressed, made on the first request that accepts brotli.
    br: OnceLock<Bytes>,
    /// Hash of the XML, the base of the ETags.
    pub hash: String,
    /// The newest change among the items, to the second.
    pub last_modified: DateTime<Utc>,
}

impl Rendered {
    fn new(
        version: u64,
        effort: Effort,
        xml: Vec<u8>,
        hash: String,
        last_modified: DateTime<Utc>,
    ) -> Rendered {
        Rendered {
            version,
            effort,
            hash,
            identity: Bytes::from(xml),
            gzip: OnceLock::new(),
            br: OnceLock::new(),
            // HTTP dates have whole seconds; comparing If-Modified-Since needs the same.
            last_modified: DateTime::from_timestamp(last_modified.timestamp(), 0)
                .unwrap_or(last_modified),
        }
    }

    /// The body in `coding` if it is ready (always for identity).
    pub(super) fn ready_body(&self, coding: Coding) -> Option<Bytes> {
        match coding {
            Coding::Identity => Some(self.identity.clone()),
            Coding::Gzip => self.gzip.get().cloned(),
            Coding::Br => self.br.get().cloned(),
        }
    }

    /// The body in `coding`, compressed once and kept (call it off the async threads: brotli
    /// takes tens of milliseconds on a large feed).
    fn body(&self, coding: Coding) -> Bytes {
        let (level, quality) = match self.effort {
            Effort::Best => (flate2::Compression::default(), BROTLI_QUALITY),
            Effort::Fast => (
                flate2::Compression::new(VARIANT_GZIP_LEVEL),
                VARIANT_BROTLI_QUALITY,
            ),
        };
        match coding {
            Coding::Identity => self.identity.clone(),
            Coding::Gzip => self
                .gzip
                .get_or_init(|| gzip(&self.identity, level))
                .clone(),
            Coding::Br => self
                .br
                .get_or_init(|| brotli(&self.identity, quality))
                .clone(),
        }
    }

    /// The memory it holds: every body made so far, and its bookkeeping.
    pub fn bytes(&self) -> usize {
        self.identity.len()
            + self.gzip.get().map_or(0, Bytes::len)
            + self.br.get().map_or(0, Bytes::len)
            + self.hash.len()
            + ENTRY_OVERHEAD
    }
}

fn gzip(data: &[u8], level: flate2::Compression) -> Bytes {
    let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 4), level);
    // Writing to a Vec cannot fail.
    gz.write_all(data).expect("write to memory");
    Bytes::from(gz.finish().expect("write to memory"))
}

fn brotli(data: &[u8], quality: i32) -> Bytes {
    let params = brotli::enc::BrotliEncoderParams {
        quality,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(data.len() / 5);
    // Reading from a slice and writing to a Vec cannot fail.
    brotli::BrotliCompress(&mut &data[..], &mut out, &params).expect("write to memory");
    Bytes::from(out)
}

/// What a rendering is cached under, besides its format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Variant {
    /// A configured output (the default feed or an `[[outputs]]` entry), by path.
    Output(String),
    /// The default feed narrowed by query filters (never `Filters::default()`).
    Filtered(Filters),
}

/// Renderings of query variants, least recently used first, with what each is charged.
#[derive(Debug)]
struct Variants {
    lru: LruCache<(Filters, Format), (Arc<Rendered>, usize)>,
    bytes: usize,
    budget: usize,
}

impl Variants {
    fn new(budget: usize) -> Variants {
        Variants {
            lru: LruCache::new_unbounded(),
            bytes: 0,
            budget,
        }
    }

    fn get(&mut self, key: &(Filters, Format)) -> Option<Arc<Rendered>> {
        self.lru.get(key).map(|(r, _)| r.clone())
    }

    fn insert(&mut self, key: (Filters, Format), rendered: Arc<Rendered>) {
        let charge = rendered.bytes() + key.0.heap_size();
        self.bytes += charge;
        if let Some((_, old)) = self.lru.insert(key, (rendered, charge)) {
            self.bytes -= old;
        }
        self.evict();
    }

    /// Counts what `rendered`, the rendering kept under `key`, holds now (after compressing).
    fn recharge(&mut self, key: &(Filters, Format), rendered: &Arc<Rendered>) {
        let heap = key.0.heap_size();
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
                None => self.workers.variant().await?,
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
        let items = self.store.merged_items(selection).await?;
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
    /// [`Workers::body`].
    ///
    /// # Errors
    /// When the compressing task panicked.
    pub(super) async fn body(
        &self,
        rendered: &Arc<Rendered>,
        coding: Coding,
    ) -> Result<(Coding, Bytes), tokio::task::JoinError> {
        self.workers.body(rendered, coding).await
    }

    /// One page of the news page: the newest stories, or those after `before`.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn page(&self, before: Option<Cursor>) -> Result<Arc<Rendered>, StoreError> {
        let version = self.store.version();
        let now = Utc::now();
        let minute = now.timestamp() / 60;
        if before.is_none() {
            let cached = self
                .front_page
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if let Some((v, m, page)) = cached.filter(|(v, m, _)| *v == version && *m == minute) {
                debug_assert_eq!((v, m), (version, minute));
                return Ok(page);
            }
        }
        let channel = self.outputs().default.channel.clone();
        let mut items = self
            .store
            .merged_items(Selection {
                limit: page::PAGE_SIZE + 1,
                before,
                ..Selection::default()
            })
            .await?;
        let more = (items.len() > page::PAGE_SIZE).then(|| {
            items.truncate(page::PAGE_SIZE);
            let path = channel.base_url.path().to_owned();
            items
                .last()
                .map(|i| format!("{path}?before={}", i.cursor.to_param()))
        });
        let html = page::render(&channel, &items, more.flatten().as_deref(), now);
        let hash = format!("{:032x}", xxh3_128(html.as_bytes()));
        // Later pages are made per request, each cursor its own: compressed like variants.
        let effort = if before.is_none() {
            Effort::Best
        } else {
            Effort::Fast
        };
        let rendered = Arc::new(Rendered::new(version, effort, html.into_bytes(), hash, now));
        if before.is_none() {
            *self.front_page.write().unwrap_or_else(|p| p.into_inner()) =
                Some((version, minute, rendered.clone()));
        }
        Ok(rendered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::query::TagFilter;

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
            min_minutes: None,
            limit: Some(limit),
        };
        (filters, Format::Rss)
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

    /// Text that compresses about as a feed does: words, not one byte repeated.
    fn text(seed: u64, bytes: usize) -> Vec<u8> {
        let words = [
            "feed ", "reading ", "minutes ", "article ", "<p>", "</p>\n", "the ",
        ];
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut out = Vec::with_capacity(bytes + 16);
        while out.len() < bytes {
            out.extend_from_slice(words[rng.usize(..words.len())].as_bytes());
            out.extend_from_slice(rng.u32(..100_000).to_string().as_bytes());
        }
        out
    }

    fn unbrotli(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &body[..], &mut out).expect("valid brotli");
        out
    }

    /// See: issue #19 (review of the server, 9). What a request chose is compressed by the
    /// variants' one worker: while it is busy, VARIANT_QUEUE requests wait for it and the
    /// next gets its body uncompressed at once; the waiting ones are then compressed one by
    /// one. Before the fix, every request compressed on a blocking thread of its own.
    #[tokio::test]
    async fn regression_19_variants_are_compressed_by_one_worker() {
        let workers = Arc::new(Workers::new());
        let busy = workers.try_variant().expect("the worker is free");
        assert!(workers.try_variant().is_none());
        let mut waiting = tokio::task::JoinSet::new();
        let mut originals = Vec::new();
        for i in 0..VARIANT_QUEUE {
            let data = text(i as u64, 64 << 10);
            originals.push(data.clone());
            let r = Arc::new(Rendered::new(
                1,
                Effort::Fast,
                data,
                "0".repeat(32),
                Utc::now(),
            ));
            let workers = workers.clone();
            waiting.spawn(async move { (i, workers.body(&r, Coding::Br).await.unwrap()) });
        }
        // Until every waiting request has its place (a second at most).
        for _ in 0..1_000 {
            if workers.places.available_permits() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let late = Arc::new(Rendered::new(
            1,
            Effort::Fast,
            text(99, 64 << 10),
            "0".repeat(32),
            Utc::now(),
        ));
        let (coding, body) = workers.body(&late, Coding::Br).await.unwrap();
        assert_eq!(coding, Coding::Identity, "no wait beyond the queue");
        assert_eq!(body, late.identity);
        assert!(late.ready_body(Coding::Br).is_none());
        assert!(
            waiting.try_join_next().is_none(),
            "the queue waits for the worker"
        );

        drop(busy);
        while let Some(done) = waiting.join_next().await {
            let (i, (coding, body)) = done.unwrap();
            assert_eq!(coding, Coding::Br);
            assert_eq!(unbrotli(&body), originals[i]);
        }
    }

    /// The configured outputs' requests for a coding not yet made wait for one of
    /// OUTPUT_COMPRESSORS without a thread, and all get the one body made.
    #[tokio::test]
    async fn output_compressions_are_made_once_by_a_bounded_number() {
        let workers = Arc::new(Workers::new());
        let held: Vec<_> = (0..OUTPUT_COMPRESSORS)
            .map(|_| workers.outputs.clone().try_acquire_owned().unwrap())
            .collect();
        let r = Arc::new(Rendered::new(
            1,
            Effort::Best,
            text(1, 64 << 10),
            "0".repeat(32),
            Utc::now(),
        ));
        let mut waiting = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let (workers, r) = (workers.clone(), r.clone());
            waiting.spawn(async move { workers.body(&r, Coding::Gzip).await.unwrap() });
        }
        tokio::task::yield_now().await;
        assert!(r.ready_body(Coding::Gzip).is_none());
        drop(held);
        let made = r.body(Coding::Gzip);
        while let Some(done) = waiting.join_next().await {
            assert_eq!(done.unwrap(), (Coding::Gzip, made.clone()));
        }
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
