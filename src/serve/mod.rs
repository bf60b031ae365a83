//! Serving: HTTP requests → the merged feed from memory. The feed is rendered and compressed
//! once per change of the data ([`FeedCache`]); every request after that is a lookup, with
//! strong ETags, `Last-Modified`, 304s, HEAD, gzip and brotli. Connections are limited and
//! kept moving by [`LimitedListener`]; query strings are normalised by [`query`].

pub mod cache;
pub mod listener;
pub mod query;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use cache::{CacheError, Effort, FeedCache, Rendered, Variant};
pub use listener::{LimitedConnection, LimitedListener, Limits, Tracked, TrackedRouter};
use query::Filters;

use crate::metrics::{self, Metrics};
use crate::model::{Cursor, Health};
use crate::render::{Channel, Format, page};
use crate::store::{Selection, Store};

/// Longest time a request may take before it is answered 503 (shutdown never waits longer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// `Cache-Control` of the feeds: readers may reuse a copy for a minute, then revalidate.
const FEED_CACHE_CONTROL: &str = "public, max-age=60";
/// `Retry-After` (seconds) of a query variant turned away because too many wait to be
/// rendered: about what those waiting take.
const BUSY_RETRY_AFTER: &str = "1";

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

/// Serves `router` on `listener`; await it, or add `with_graceful_shutdown` first. Each
/// connection gets the router as a [`Tracked`] that tells the listener where the connection is
/// in its request.
pub fn serve(
    listener: LimitedListener,
    router: Router,
) -> axum::serve::Serve<LimitedListener, TrackedRouter, Tracked> {
    axum::serve(listener, TrackedRouter(router))
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
        Ok(page) => respond(&state.feed, page, "text/html; charset=utf-8", &headers).await,
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
            for health in Health::ALL {
                state.metrics.feeds_in_state(health, counts.of(health));
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

/// `/feed.xml`, `/feed.atom`, `/feed.json`, with the filters of the query if any.
async fn feed(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    format: Format,
) -> Response {
    let outputs = state.feed.outputs();
    let filters = match Filters::parse(uri.query(), &outputs) {
        Ok(filters) => filters,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    if filters.is_default() {
        let variant = Variant::Output(outputs.default.channel.path.clone());
        return serve_output(&state, &variant, format, &headers, || {
            outputs.default.clone()
        })
        .await;
    }
    let variant = Variant::Filtered(filters.clone());
    serve_output(&state, &variant, format, &headers, || {
        filters.apply(&outputs)
    })
    .await
}

/// `/PATH.xml`, `/PATH.atom`, `/PATH.json` of an `[[outputs]]` entry. An output with a token
/// answers 404, exactly as a path that does not exist, unless the request carries the token.
async fn filtered_feed(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "not found\n").into_response();
    let Some((name, format)) = query::output_path(uri.path()) else {
        return not_found();
    };
    let outputs = state.feed.outputs();
    let Some(output) = outputs.filtered.get(name) else {
        return not_found();
    };
    if let Some(secret) = &output.token {
        let from_header = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        let presented = query::token(uri.query())
            .or(from_header)
            .unwrap_or_default();
        if !same_secret(&presented, secret) {
            return not_found();
        }
    }
    let variant = Variant::Output(name.to_owned());
    serve_output(&state, &variant, format, &headers, || output.clone()).await
}

/// Compares secrets in time that does not depend on where they differ.
fn same_secret(presented: &str, secret: &str) -> bool {
    let (a, b) = (presented.as_bytes(), secret.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Answers with the current rendering of `variant`, made from `output()` if need be.
async fn serve_output(
    state: &AppState,
    variant: &Variant,
    format: Format,
    headers: &HeaderMap,
    output: impl FnOnce() -> Output,
) -> Response {
    match state.feed.rendered(variant, format, output).await {
        Ok(rendered) => {
            let before = rendered.bytes();
            let response = respond(
                &state.feed,
                rendered.clone(),
                format.content_type(),
                headers,
            )
            .await;
            if rendered.bytes() != before {
                state.feed.compressed(variant, format, &rendered);
            }
            response
        }
        Err(CacheError::Busy) => {
            tracing::debug!(output = ?variant, "query variant turned away: too many waiting");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(BUSY_RETRY_AFTER),
                )],
                "too many feed variants are being rendered; try again shortly\n",
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, output = ?variant, "cannot render a merged feed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the merged feed is unavailable; see the server log\n",
            )
                .into_response()
        }
    }
}

/// Answers with `rendered` (of `feed`) as `content_type`: 304 when the client's copy is
/// current, else the body in the best coding the client accepts, with validators.
async fn respond(
    feed: &FeedCache,
    rendered: Arc<Rendered>,
    content_type: &'static str,
    headers: &HeaderMap,
) -> Response {
    let mut coding = Coding::negotiate(headers);
    let last_modified = httpdate::fmt_http_date(rendered.last_modified.into());
    // If-None-Match, when present, decides alone (RFC 9110 §13.2.2).
    let fresh = none_match(headers, &rendered.hash)
        .unwrap_or_else(|| not_modified_since(headers, rendered.last_modified));

    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = match feed.body(&rendered, coding).await {
            Ok((served, body)) => {
                coding = served;
                body
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot compress the merged feed");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
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
    let etag = coding.etag(&rendered.hash);
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
