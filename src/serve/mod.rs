//! Serving: HTTP requests → the merged feeds from memory. The feeds are rendered and
//! compressed once per change of the data by [`crate::output`]; every request after that is a
//! lookup, answered with strong ETags, `Last-Modified`, 304s, HEAD, gzip and brotli
//! ([`conditional`]). Connections are limited and kept moving by [`LimitedListener`]; paths
//! name outputs as [`query`] reads them; the sources' icons and feedmerge's own come from
//! [`icons`]; what cannot be answered is a [`ServeError`].

pub mod conditional;
pub mod error;
pub mod icons;
pub mod listener;
pub mod query;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use headers::{CacheControl, ContentEncoding, HeaderMapExt, LastModified};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::ServeError;
pub use listener::{LimitedConnection, LimitedListener, Limits, Tracked, TrackedRouter};

use crate::metrics::{self, Metrics};
use crate::model::{Cursor, Health};
use crate::output::{CacheError, Coding, FeedCache, Filters, Output, Rendered, Variant};
use crate::render::{Channel, Format, page};
use crate::store::Store;
use crate::websub::{PushError, Subscriber, Verification};

/// Longest time a request may take before it is answered 503 (shutdown never waits longer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long readers may reuse a copy of a feed before they revalidate.
const FEED_MAX_AGE: Duration = Duration::from_secs(60);
/// How long browsers may reuse the news page's stylesheet and script asked for without
/// their current version (an old page, a hand-typed URL): an hour, since they change only
/// with a release; after it, their ETag makes revalidating cheap.
const STATIC_MAX_AGE: Duration = Duration::from_secs(3600);
/// How long browsers may keep them asked for by the version the page links to
/// (`?v=`, [`page::asset_version`]): a year, never revalidated (`immutable`), since a release
/// that changes one links to another version.
const STATIC_VERSIONED_MAX_AGE: Duration = Duration::from_secs(365 * 86_400);

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
    /// The WebSub subscriptions whose hubs call back at `/websub/<token>` (`None`: no
    /// callbacks are taken).
    pub websub: Option<Subscriber>,
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
            get(|u: Uri, h: HeaderMap| static_file(u, h, page::CSS, "text/css; charset=utf-8")),
        )
        .route(
            "/static/feedmerge.js",
            get(|u: Uri, h: HeaderMap| {
                static_file(u, h, page::JS, "text/javascript; charset=utf-8")
            }),
        )
        .route("/icons/{name}", get(icons::source_icon))
        .route("/favicon.ico", get(icons::favicon_ico))
        .route("/favicon.svg", get(icons::favicon_svg))
        .route("/sources.opml", get(sources_opml))
        .route("/websub/{token}", get(websub_verify).post(websub_push))
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

/// The longest query string the news page reads: its parameters name a configured tag or
/// source and a cursor, all far shorter.
pub const MAX_PAGE_QUERY: usize = 2048;

/// `/`: the news page, narrowed by `?tag=`, `?source=` and `?min_minutes=`, from `?before=`
/// on. A tag or source the config does not have is a 404 page, not an empty one.
async fn news_page(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ServeError> {
    let query = uri.query();
    if query.is_some_and(|q| q.len() > MAX_PAGE_QUERY) {
        return Err(ServeError::QueryTooLong);
    }
    let before = match query::before(query) {
        Some(param) => Some(Cursor::from_param(&param).ok_or(ServeError::BadCursor)?),
        None => None,
    };
    let outputs = state.feed.outputs();
    let filters = Filters {
        // A page has its own size.
        limit: None,
        ..Filters::parse(query, &outputs)?
    };
    if filters.names_unknown() {
        let base = outputs.default.channel.base_url.path().to_owned();
        return Ok(page_headers(
            ServeError::NoSuchPage { home: base }.into_response(),
        ));
    }
    let page = state
        .feed
        .page(&filters, before)
        .await
        .map_err(ServeError::Page)?;
    let before_bytes = page.bytes();
    // Even a failed answer carries the page's policy headers.
    let response = respond(
        &state.feed,
        page.clone(),
        "text/html; charset=utf-8",
        &headers,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response);
    if page.bytes() != before_bytes {
        state.feed.page_compressed(&filters, &page);
    }
    Ok(page_headers(response))
}

/// `response` with the news page's policy headers: its Content-Security-Policy, no sniffing,
/// no referrer, revalidated on every visit.
fn page_headers(mut response: Response) -> Response {
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
    h.typed_insert(CacheControl::new().with_no_cache());
    response
}

/// A file built into the binary, with a strong ETag of its contents; kept for a year when
/// asked for by its current version.
async fn static_file(
    uri: Uri,
    headers: HeaderMap,
    body: &'static str,
    content_type: &'static str,
) -> Response {
    let version = page::asset_version(body);
    let versioned = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.strip_prefix("v=") == Some(&version)));
    let etag = conditional::etag(Coding::Identity, &version);
    let fresh = conditional::none_match(&headers, &[&etag]).unwrap_or(false);
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
    h.typed_insert(conditional::typed_etag(&etag));
    h.typed_insert(if versioned {
        CacheControl::new()
            .with_public()
            .with_max_age(STATIC_VERSIONED_MAX_AGE)
            .with_immutable()
    } else {
        CacheControl::new()
            .with_public()
            .with_max_age(STATIC_MAX_AGE)
    });
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

async fn sources_opml(State(state): State<Arc<AppState>>) -> Result<Response, ServeError> {
    let opml = state
        .feed
        .sources_opml()
        .await
        .map_err(ServeError::Database)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/x-opml; charset=utf-8"),
        )],
        opml,
    )
        .into_response())
}

/// A hub's verification of intent: the challenge echoed for a request we made, 404 for
/// anything else.
async fn websub_verify(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    Query(verification): Query<Verification>,
) -> Response {
    let Some(websub) = &state.websub else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match websub.verify(&token, &verification).await {
        Ok(challenge) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            challenge,
        )
            .into_response(),
        Err(e) => {
            tracing::debug!(error = %e, "WebSub verification refused");
            StatusCode::NOT_FOUND.into_response()
        }
    }
}

/// A hub's push: stored like a poll's document when the callback is one of an active
/// subscription, outside its push spacing, and the signature holds; a 4xx otherwise. Either
/// way counted.
async fn websub_push(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let Some(websub) = &state.websub else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Nothing of a body is read for a callback that takes none, nor for a push within the
    // spacing of the last one (or beside one being read): neither whoever knows no token
    // nor a hub pushing as often as it likes costs memory or parsing.
    let slot = match websub.admit(&token) {
        Ok(slot) => slot,
        Err(e) => return push_refused(e),
    };
    // Bounded like a fetched feed.
    let Ok(body) = axum::body::to_bytes(body, websub.max_body()).await else {
        state.metrics.websub_push("too_large");
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signature = text("x-hub-signature");
    match websub
        .push(slot, signature, text("content-type"), Vec::from(body))
        .await
    {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => push_refused(e),
    }
}

/// The answer to a push refused (already counted).
fn push_refused(e: PushError) -> Response {
    // At debug only: whoever sends them chooses how many.
    tracing::debug!(error = %e, reason = e.label(), "WebSub push refused");
    match e {
        // A hub drops a subscription answered 410 Gone.
        PushError::Unknown => StatusCode::GONE.into_response(),
        PushError::Signature(_) => StatusCode::FORBIDDEN.into_response(),
        PushError::Unreadable(_) => StatusCode::BAD_REQUEST.into_response(),
        PushError::Stopping => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        PushError::TooSoon { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after.as_secs().to_string())],
        )
            .into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the schedule is loaded and the database answers.
async fn readyz(State(state): State<Arc<AppState>>) -> Result<&'static str, ServeError> {
    if !state.ready.load(Ordering::Acquire) {
        return Err(ServeError::Starting);
    }
    state.store.ping().await.map_err(ServeError::Database)?;
    Ok("ready\n")
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

/// `/feed.xml`, `/feed.atom`, `/feed.json`, with the filters of the query if any.
async fn feed(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    format: Format,
) -> Result<Response, ServeError> {
    let outputs = state.feed.outputs();
    let filters = Filters::parse(uri.query(), &outputs)?;
    if filters.is_default() {
        let variant = Variant::Output(outputs.default.channel.path.clone());
        let links = hub_links(&outputs.default.channel, format);
        let response = serve_output(&state, &variant, format, &headers, || {
            outputs.default.clone()
        })
        .await?;
        return Ok(with_links(response, links));
    }
    // A query's variant is no topic of the hub's: it announces none.
    let variant = Variant::Filtered(filters.clone());
    serve_output(&state, &variant, format, &headers, || {
        filters.apply(&outputs)
    })
    .await
}

/// The `Link:` header value of an output that announces a WebSub hub: the hub and the topic
/// (the output's own URL in `format`), as the spec asks publishers to send.
fn hub_links(channel: &Channel, format: Format) -> Option<HeaderValue> {
    let hub = channel.hub.as_ref()?;
    let value = format!(
        "<{hub}>; rel=\"hub\", <{}>; rel=\"self\"",
        channel.self_url(format)
    );
    HeaderValue::from_str(&value).ok()
}

/// `response` with the `Link:` header `links`, if any.
fn with_links(mut response: Response, links: Option<HeaderValue>) -> Response {
    if let Some(links) = links {
        response.headers_mut().insert(header::LINK, links);
    }
    response
}

/// `/PATH.xml`, `/PATH.atom`, `/PATH.json` of an `[[outputs]]` entry. An output with a token
/// answers 404, exactly as a path that does not exist, unless the request carries the token.
async fn filtered_feed(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ServeError> {
    let (name, format) = query::output_path(uri.path()).ok_or(ServeError::NotFound)?;
    let outputs = state.feed.outputs();
    let output = outputs.filtered.get(name).ok_or(ServeError::NotFound)?;
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
            return Err(ServeError::NotFound);
        }
    }
    let variant = Variant::Output(name.to_owned());
    let links = hub_links(&output.channel, format);
    let response = serve_output(&state, &variant, format, &headers, || output.clone()).await?;
    Ok(with_links(response, links))
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
) -> Result<Response, ServeError> {
    let rendered = match state.feed.rendered(variant, format, output).await {
        Ok(rendered) => rendered,
        Err(CacheError::Busy) => {
            return Err(ServeError::Busy {
                variant: variant.clone(),
            });
        }
        Err(source) => {
            return Err(ServeError::Feed {
                variant: variant.clone(),
                source,
            });
        }
    };
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

/// Answers with `rendered` (of `feed`) as `content_type`: 304 when the client's copy is
/// current, else the body in the best coding the client accepts, with validators.
async fn respond(
    feed: &FeedCache,
    rendered: Arc<Rendered>,
    content_type: &'static str,
    headers: &HeaderMap,
) -> Result<Response, ServeError> {
    let mut coding = conditional::negotiate(headers);
    let current =
        [Coding::Identity, Coding::Gzip, Coding::Br].map(|c| conditional::etag(c, &rendered.hash));
    // If-None-Match, when present, decides alone (RFC 9110 §13.2.2).
    let fresh = conditional::none_match(headers, &current.each_ref().map(String::as_str))
        .unwrap_or_else(|| conditional::not_modified_since(headers, rendered.last_modified.into()));

    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let (served, body) = feed
            .body(&rendered, coding)
            .await
            .map_err(ServeError::Compress)?;
        coding = served;
        let mut r = body.into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        match coding {
            Coding::Identity => {}
            Coding::Gzip => r.headers_mut().typed_insert(ContentEncoding::gzip()),
            Coding::Br => r.headers_mut().typed_insert(ContentEncoding::brotli()),
        }
        r
    };
    let etag = match coding {
        Coding::Identity => &current[0],
        Coding::Gzip => &current[1],
        Coding::Br => &current[2],
    };
    let h = response.headers_mut();
    h.typed_insert(conditional::typed_etag(etag));
    h.typed_insert(LastModified::from(std::time::SystemTime::from(
        rendered.last_modified,
    )));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.typed_insert(CacheControl::new().with_public().with_max_age(FEED_MAX_AGE));
    Ok(response)
}
