//! Serving: HTTP requests → the merged feed from memory. The feed is rendered and compressed
//! once per change of the data ([`FeedCache`]); every request after that is a lookup, with
//! strong ETags, `Last-Modified`, 304s, HEAD, gzip and brotli.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use xxhash_rust::xxh3::xxh3_128;

use crate::metrics::{self, Metrics};
use crate::model::Cursor;
use crate::render::{self, Channel, Format, page};
use crate::store::{Selection, Store, StoreError};

/// Longest time a request may take before it is answered 503 (shutdown never waits longer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// `Cache-Control` of the feeds: readers may reuse a copy for a minute, then revalidate.
const FEED_CACHE_CONTROL: &str = "public, max-age=60";
/// Brotli quality for the cached feed: close to the best ratio at a fraction of quality 11's
/// time, and paid once per change of the data.
const BROTLI_QUALITY: i32 = 9;

/// One rendering of the merged feed, in each encoding we serve.
#[derive(Debug)]
pub struct Rendered {
    /// The store version it was rendered from.
    pub version: u64,
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

/// Most cached renderings of query variants (`/feed.xml?tag=x`) kept at once.
const MAX_CACHED_VARIANTS: usize = 256;

/// The merged feeds, each rendered on demand when the store has changed since its last
/// rendering and then served from memory.
#[derive(Debug)]
pub struct FeedCache {
    store: Store,
    /// What to render (replaced by a config reload). Shared, not copied, by each request: it
    /// holds every feed's URL.
    outputs: RwLock<Arc<Outputs>>,
    metrics: Arc<Metrics>,
    /// Renderings by output key (path, plus the query for variants) and format.
    current: RwLock<HashMap<(String, Format), Arc<Rendered>>>,
    rendering: tokio::sync::Mutex<()>,
    /// The first page of the news page, with the store version and the minute it was made
    /// in ("3 minutes ago" must not go stale for long).
    front_page: RwLock<Option<(u64, i64, Arc<Rendered>)>>,
}

impl FeedCache {
    /// A cache over `store`, rendering `outputs`.
    pub fn new(store: Store, outputs: Outputs, metrics: Arc<Metrics>) -> Self {
        FeedCache {
            store,
            outputs: RwLock::new(Arc::new(outputs)),
            metrics,
            current: RwLock::new(HashMap::new()),
            front_page: RwLock::new(None),
            rendering: tokio::sync::Mutex::new(()),
        }
    }

    /// Renders `outputs` from now on (after a config reload).
    pub fn reconfigure(&self, outputs: Outputs) {
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

    /// The last rendering of `key` in `format`, whatever its version.
    fn last(&self, key: &str, format: Format) -> Option<Arc<Rendered>> {
        // A poisoned lock only means a reader panicked while cloning an Arc: the data is intact.
        let guard = self.current.read().unwrap_or_else(|p| p.into_inner());
        guard.get(&(key.to_owned(), format)).cloned()
    }

    /// The default merged feed in `format`.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn current(&self, format: Format) -> Result<Arc<Rendered>, StoreError> {
        let output = self
            .outputs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .default
            .clone();
        self.rendered(&output.channel.path.clone(), &output, format)
            .await
    }

    /// The current rendering of `output` (cached under `key`) in `format`, made now if the
    /// data changed since the last one.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn rendered(
        &self,
        key: &str,
        output: &Output,
        format: Format,
    ) -> Result<Arc<Rendered>, StoreError> {
        let version = self.store.version();
        let fresh = |r: Option<Arc<Rendered>>| r.filter(|r| r.version == version);
        if let Some(r) = fresh(self.last(key, format)) {
            return Ok(r);
        }
        // One rendering at a time. While it runs, other requests get the previous rendering
        // (one change behind) instead of queueing behind it; only the very first waits.
        let _rendering = match self.rendering.try_lock() {
            Ok(guard) => guard,
            Err(_) => match self.last(key, format) {
                Some(previous) => return Ok(previous),
                None => self.rendering.lock().await,
            },
        };
        if let Some(r) = fresh(self.last(key, format)) {
            return Ok(r);
        }
        let started = std::time::Instant::now();
        let items = self.store.merged_items(output.selection.clone()).await?;
        let failing = if output.health_items {
            self.store.failing_feeds().await?
        } else {
            Vec::new()
        };
        let previous = self.last(key, format);
        let channel = output.channel.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            let now = Utc::now();
            let xml = render::render(format, &channel, &items, &failing, now);
            let hash = format!("{:032x}", xxh3_128(xml.as_bytes()));
            // Last-Modified moves only when the bytes change, and then strictly forward, so
            // that If-Modified-Since never hides a change. The first rendering after a start
            // uses the newest item change, which is the same across restarts.
            let last_modified = match previous {
                Some(p) if p.hash == hash => p.last_modified,
                Some(p) => now.max(p.last_modified + chrono::Duration::seconds(1)),
                None => items.iter().map(|i| i.changed_at).max().unwrap_or(now),
            };
            let rendered = Rendered::new(version, xml.into_bytes(), hash, last_modified);
            drop((items, failing));
            crate::memory::trim();
            rendered
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?;
        self.metrics.rendered(started.elapsed());
        let rendered = Arc::new(rendered);
        let mut cache = self.current.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED_VARIANTS {
            // Variants are cheap to make again; a bounded cache matters more.
            cache.retain(|_, r| r.version == version);
        }
        cache.insert((key.to_owned(), format), rendered.clone());
        Ok(rendered)
    }
}

impl FeedCache {
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
        let rendered = Arc::new(Rendered::new(version, html.into_bytes(), hash, now));
        if before.is_none() {
            *self.front_page.write().unwrap_or_else(|p| p.into_inner()) =
                Some((version, minute, rendered.clone()));
        }
        Ok(rendered)
    }
}

impl Rendered {
    fn new(version: u64, xml: Vec<u8>, hash: String, last_modified: DateTime<Utc>) -> Rendered {
        Rendered {
            version,
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
    fn ready_body(&self, coding: Coding) -> Option<Bytes> {
        match coding {
            Coding::Identity => Some(self.identity.clone()),
            Coding::Gzip => self.gzip.get().cloned(),
            Coding::Br => self.br.get().cloned(),
        }
    }

    /// The body in `coding`, compressed once and kept (call it off the async threads: brotli
    /// takes tens of milliseconds on a large feed).
    fn body(&self, coding: Coding) -> Bytes {
        match coding {
            Coding::Identity => self.identity.clone(),
            Coding::Gzip => self.gzip.get_or_init(|| gzip(&self.identity)).clone(),
            Coding::Br => self.br.get_or_init(|| brotli(&self.identity)).clone(),
        }
    }
}

fn gzip(data: &[u8]) -> Bytes {
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::default(),
    );
    // Writing to a Vec cannot fail.
    gz.write_all(data).expect("write to memory");
    Bytes::from(gz.finish().expect("write to memory"))
}

fn brotli(data: &[u8]) -> Bytes {
    let params = brotli::enc::BrotliEncoderParams {
        quality: BROTLI_QUALITY,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(data.len() / 5);
    // Reading from a slice and writing to a Vec cannot fail.
    brotli::BrotliCompress(&mut &data[..], &mut out, &params).expect("write to memory");
    Bytes::from(out)
}

/// Shared state of the HTTP handlers.
#[derive(Debug)]
pub struct AppState {
    /// The merged feed.
    pub feed: FeedCache,
    /// The database, for readiness and feed counts.
    pub store: Store,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Set once the schedule is loaded; `/readyz` answers 200 only then.
    pub ready: AtomicBool,
}

/// The HTTP routes. `/metrics` is included when `with_metrics` is set.
pub fn router(state: Arc<AppState>, with_metrics: bool) -> Router {
    let mut routes = Router::new()
        .route("/feed.xml", get(|s, q, h| feed(s, q, h, Format::Rss)))
        .route("/feed.atom", get(|s, q, h| feed(s, q, h, Format::Atom)))
        .route("/feed.json", get(|s, q, h| feed(s, q, h, Format::Json)))
        .route("/", get(news_page))
        .route(
            "/static/feedmerge.css",
            get(|h: HeaderMap| static_file(h, page::CSS, "text/css; charset=utf-8")),
        )
        .route(
            "/static/feedmerge.js",
            get(|h: HeaderMap| static_file(h, page::JS, "text/javascript; charset=utf-8")),
        )
        .route("/sources.opml", get(sources_opml))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if with_metrics {
        routes = routes.route("/metrics", get(metrics));
    }
    routes
        .fallback(get(filtered_feed))
        .layer(middleware::from_fn_with_state(state.clone(), count_request))
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let path = req
                .extensions()
                .get::<MatchedPath>()
                .map_or(req.uri().path(), MatchedPath::as_str);
            tracing::debug_span!("http_request", method = %req.method(), path)
        }))
}

/// A router with only `/metrics`, for `[server] metrics = "ADDR"`.
pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

#[derive(serde::Deserialize)]
struct PageQuery {
    before: Option<String>,
}

async fn news_page(
    State(state): State<Arc<AppState>>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let before = match query.before.as_deref().map(Cursor::from_param) {
        Some(None) => return (StatusCode::BAD_REQUEST, "bad ?before= value\n").into_response(),
        Some(cursor) => cursor,
        None => None,
    };
    let mut response = match state.feed.page(before).await {
        Ok(page) => respond(page, "text/html; charset=utf-8", &headers).await,
        Err(e) => {
            tracing::error!(error = %e, "cannot render the news page");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the news page is unavailable; see the server log\n",
            )
                .into_response();
        }
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(page::CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A file built into the binary, with a strong ETag of its contents.
async fn static_file(
    headers: HeaderMap,
    body: &'static str,
    content_type: &'static str,
) -> Response {
    let etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(body.as_bytes()));
    let fresh = none_match_exact(&headers, &etag);
    let mut r = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        )
            .into_response()
    };
    let h = r.headers_mut();
    // Invariant: a hex number in quotes is a valid header value.
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex ETag"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Whether `If-None-Match` names `etag` (or `*`).
fn none_match_exact(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag
        })
}

async fn sources_opml(State(state): State<Arc<AppState>>) -> Response {
    let opml = state.feed.outputs().sources_opml.clone();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/x-opml; charset=utf-8"),
        )],
        opml,
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the schedule is loaded and the database answers.
async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, &'static str) {
    if !state.ready.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting\n");
    }
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    match state.store.feed_counts().await {
        Ok(counts) => {
            for (name, n) in [
                ("ok", counts.ok),
                ("failing", counts.failing),
                ("gone", counts.gone),
                ("new", counts.new),
            ] {
                state.metrics.feeds_in_state(name, n);
            }
            state.metrics.feeds_repaired(counts.repaired);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count feeds"),
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// Counts every response by route and status.
async fn count_request(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    state.metrics.request(&path, response.status().as_u16());
    response
}

/// A content coding we serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Identity,
    Gzip,
    Br,
}

impl Coding {
    /// Picks the best coding `accept_encoding` allows: brotli, then gzip, then none.
    fn negotiate(headers: &HeaderMap) -> Coding {
        // Each coding: named and accepted (Some(true)), named and refused with q=0
        // (Some(false)), or not named (None, then `*` decides).
        let (mut gzip, mut br, mut any) = (None, None, false);
        for value in headers.get_all(header::ACCEPT_ENCODING) {
            let Ok(value) = value.to_str() else { continue };
            for part in value.split(',') {
                let mut params = part.split(';');
                let name = params.next().unwrap_or("").trim().to_ascii_lowercase();
                let refused = params.any(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                match name.as_str() {
                    "br" => br = Some(!refused),
                    "gzip" | "x-gzip" => gzip = Some(!refused),
                    "*" => any = !refused,
                    _ => {}
                }
            }
        }
        if br.unwrap_or(any) {
            Coding::Br
        } else if gzip.unwrap_or(any) {
            Coding::Gzip
        } else {
            Coding::Identity
        }
    }

    /// Strong ETags differ per representation, so each coding has its own.
    fn etag(self, hash: &str) -> String {
        match self {
            Coding::Identity => format!("\"{hash}\""),
            Coding::Gzip => format!("\"{hash}-gz\""),
            Coding::Br => format!("\"{hash}-br\""),
        }
    }
}

/// Whether `If-None-Match` names the current content in any coding (or is `*`).
fn none_match(headers: &HeaderMap, hash: &str) -> Option<bool> {
    let values: Vec<&str> = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return None;
    }
    let current = [Coding::Identity, Coding::Gzip, Coding::Br].map(|c| c.etag(hash));
    Some(values.iter().flat_map(|v| v.split(',')).any(|tag| {
        let tag = tag.trim();
        // If-None-Match uses the weak comparison (RFC 9110 §13.1.2): a W/ prefix is ignored.
        tag == "*"
            || current
                .iter()
                .any(|c| tag.strip_prefix("W/").unwrap_or(tag) == c)
    }))
}

fn not_modified_since(headers: &HeaderMap, last_modified: DateTime<Utc>) -> bool {
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| DateTime::<Utc>::from(since) >= last_modified)
}

/// Filters a reader may add to the default feed: `?tag=`, `?min_minutes=`, `?limit=`.
#[derive(Debug, Default, serde::Deserialize)]
struct FeedQuery {
    tag: Option<String>,
    min_minutes: Option<u32>,
    limit: Option<usize>,
}

async fn feed(
    State(state): State<Arc<AppState>>,
    Query(query): Query<FeedQuery>,
    headers: HeaderMap,
    format: Format,
) -> Response {
    let outputs = state.feed.outputs();
    let default = &outputs.default;
    if query.tag.is_none() && query.min_minutes.is_none() && query.limit.is_none() {
        return serve_output(&state, &default.channel.path, default, format, &headers).await;
    }
    let mut output = default.clone();
    if let Some(tag) = &query.tag {
        // An unknown tag selects no feed, hence no items: not every feed.
        output.selection.feeds = Some(outputs.tags.get(tag).cloned().unwrap_or_default());
    }
    output.selection.min_minutes = query.min_minutes;
    if let Some(limit) = query.limit {
        output.selection.limit = limit.clamp(1, output.selection.limit);
    }
    output.health_items = false;
    let key = format!(
        "{}?tag={}&min_minutes={}&limit={}",
        default.channel.path,
        query.tag.as_deref().unwrap_or(""),
        query.min_minutes.map(|m| m.to_string()).unwrap_or_default(),
        output.selection.limit
    );
    serve_output(&state, &key, &output, format, &headers).await
}

/// `/PATH.xml`, `/PATH.atom`, `/PATH.json` of an `[[outputs]]` entry. An output with a token
/// answers 404, exactly as a path that does not exist, unless the request carries the token.
async fn filtered_feed(
    State(state): State<Arc<AppState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "not found\n").into_response();
    let path = uri.path().trim_start_matches('/');
    let Some((name, format)) = path.rsplit_once('.').and_then(|(name, ext)| {
        let format = Format::ALL.into_iter().find(|f| f.extension() == ext)?;
        Some((name, format))
    }) else {
        return not_found();
    };
    let Some(output) = state.feed.outputs().filtered.get(name).cloned() else {
        return not_found();
    };
    if let Some(secret) = &output.token {
        let from_query = uri.query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned())
        });
        let from_header = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        let presented = from_query.or(from_header).unwrap_or_default();
        if !same_secret(&presented, secret) {
            return not_found();
        }
    }
    serve_output(&state, name, &output, format, &headers).await
}

/// Compares secrets in time that does not depend on where they differ.
fn same_secret(presented: &str, secret: &str) -> bool {
    let (a, b) = (presented.as_bytes(), secret.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn serve_output(
    state: &AppState,
    key: &str,
    output: &Output,
    format: Format,
    headers: &HeaderMap,
) -> Response {
    match state.feed.rendered(key, output, format).await {
        Ok(rendered) => respond(rendered, format.content_type(), headers).await,
        Err(e) => {
            tracing::error!(error = %e, output = key, "cannot render a merged feed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the merged feed is unavailable; see the server log\n",
            )
                .into_response()
        }
    }
}

/// Answers with `rendered` as `content_type`: 304 when the client's copy is current, else
/// the body in the best coding the client accepts, with validators.
async fn respond(
    rendered: Arc<Rendered>,
    content_type: &'static str,
    headers: &HeaderMap,
) -> Response {
    let coding = Coding::negotiate(headers);
    let etag = coding.etag(&rendered.hash);
    let last_modified = httpdate::fmt_http_date(rendered.last_modified.into());
    // If-None-Match, when present, decides alone (RFC 9110 §13.2.2).
    let fresh = none_match(headers, &rendered.hash)
        .unwrap_or_else(|| not_modified_since(headers, rendered.last_modified));

    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = match rendered.ready_body(coding) {
            Some(body) => body,
            None => {
                let r = rendered.clone();
                match tokio::task::spawn_blocking(move || r.body(coding)).await {
                    Ok(body) => body,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot compress the merged feed");
                        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                    }
                }
            }
        };
        let mut r = body.into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        match coding {
            Coding::Identity => {}
            Coding::Gzip => {
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            Coding::Br => {
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
            }
        }
        r
    };
    let h = response.headers_mut();
    // Invariants: the ETag is hex in quotes and the date is an HTTP date: both valid header values.
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex ETag"),
    );
    h.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_str(&last_modified).expect("HTTP date"),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(FEED_CACHE_CONTROL),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection of the listener writes several buffers in one call, as the socket does:
    /// hyper then sends a response body without copying it first.
    #[tokio::test]
    async fn connections_write_vectored_like_the_socket() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let inner = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = inner.local_addr().unwrap();
        let mut listener = LimitedListener::new(inner, 4, Duration::from_secs(5));
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut conn, _) = axum::serve::Listener::accept(&mut listener).await;
        assert!(tokio::io::AsyncWrite::is_write_vectored(&conn));
        let bufs = [
            std::io::IoSlice::new(b"HTTP/1.1 200 OK\r\n\r\n"),
            std::io::IoSlice::new(b"body"),
        ];
        let written = conn.write_vectored(&bufs).await.unwrap();
        assert_eq!(written, 23, "both buffers in one call");
        conn.shutdown().await.unwrap();
        let mut got = String::new();
        client.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "HTTP/1.1 200 OK\r\n\r\nbody");
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn negotiation_prefers_brotli_and_honours_q_zero() {
        assert_eq!(
            Coding::negotiate(&headers(&[("accept-encoding", "gzip, deflate, br")])),
            Coding::Br
        );
        assert_eq!(
            Coding::negotiate(&headers(&[("accept-encoding", "gzip")])),
            Coding::Gzip
        );
        assert_eq!(
            Coding::negotiate(&headers(&[("accept-encoding", "br;q=0, gzip;q=0.5")])),
            Coding::Gzip
        );
        assert_eq!(Coding::negotiate(&headers(&[])), Coding::Identity);
        assert_eq!(
            Coding::negotiate(&headers(&[("accept-encoding", "identity")])),
            Coding::Identity
        );
        assert_eq!(
            Coding::negotiate(&headers(&[("accept-encoding", "*, br;q=0")])),
            Coding::Gzip
        );
        assert_eq!(
            Coding::negotiate(&headers(&[("accept-encoding", "*;q=0, gzip")])),
            Coding::Gzip
        );
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        assert_eq!(none_match(&headers(&[]), "ab"), None);
        assert_eq!(
            none_match(&headers(&[("if-none-match", "\"x\", W/\"ab-gz\"")]), "ab"),
            Some(true)
        );
        assert_eq!(
            none_match(&headers(&[("if-none-match", "\"abc\"")]), "ab"),
            Some(false)
        );
        assert_eq!(
            none_match(&headers(&[("if-none-match", "*")]), "ab"),
            Some(true)
        );
    }
}

/// The listening socket with the server's connection limits: at most `max_connections` open
/// at once (more wait in the kernel's backlog), and a connection that neither sends nor
/// receives a byte for `idle_timeout` is closed, so slow or stalled clients cannot pile up.
#[derive(Debug)]
pub struct LimitedListener {
    inner: tokio::net::TcpListener,
    slots: Arc<tokio::sync::Semaphore>,
    idle_timeout: Duration,
}

impl LimitedListener {
    /// Wraps `inner`.
    pub fn new(
        inner: tokio::net::TcpListener,
        max_connections: usize,
        idle_timeout: Duration,
    ) -> Self {
        LimitedListener {
            inner,
            slots: Arc::new(tokio::sync::Semaphore::new(max_connections.max(1))),
            idle_timeout,
        }
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedConnection;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // Invariant: the semaphore is never closed.
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore open");
        let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        let _ = stream.set_nodelay(true);
        let idle = Box::pin(tokio::time::sleep(self.idle_timeout));
        (
            LimitedConnection {
                stream,
                _slot: slot,
                idle,
                idle_timeout: self.idle_timeout,
            },
            addr,
        )
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that holds one of the listener's slots and closes when idle too long.
#[derive(Debug)]
pub struct LimitedConnection {
    stream: tokio::net::TcpStream,
    _slot: tokio::sync::OwnedSemaphorePermit,
    idle: std::pin::Pin<Box<tokio::time::Sleep>>,
    idle_timeout: Duration,
}

impl LimitedConnection {
    /// Restarts the idle clock after progress; reports a timeout when it ran out while the
    /// stream had nothing to offer.
    fn watch<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        poll: std::task::Poll<std::io::Result<T>>,
    ) -> std::task::Poll<std::io::Result<T>> {
        use std::future::Future as _;
        use std::task::Poll;
        match poll {
            Poll::Ready(r) => {
                let deadline = tokio::time::Instant::now() + self.idle_timeout;
                self.idle.as_mut().reset(deadline);
                Poll::Ready(r)
            }
            Poll::Pending => match self.idle.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(std::io::ErrorKind::TimedOut.into())),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl tokio::io::AsyncRead for LimitedConnection {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let poll = std::pin::Pin::new(&mut self.stream).poll_read(cx, buf);
        self.watch(cx, poll)
    }
}

impl tokio::io::AsyncWrite for LimitedConnection {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let poll = std::pin::Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    // Without these two, hyper copies every response body into its own buffer before
    // writing it (`/feed.xml` uncompressed: 750 KB per request, a quarter of the server's
    // CPU); with them, it hands the body to the socket as it is, headers beside it.
    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let poll = std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
