//! Icons served by feedmerge itself: the sources' icons from the store at `/icons/NAME`
//! (NAME is the hash of the icon's bytes, so a URL names one icon for ever and is cached as
//! immutable), and feedmerge's own at `/favicon.ico` and `/favicon.svg`, built into the
//! binary. The news page never links to an icon on a source's server.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use headers::{CacheControl, HeaderMapExt};

use super::{AppState, ServeError, conditional};
use crate::icons::sniff::IconType;
use crate::output::Coding;

/// feedmerge's own icon, 32 × 32 PNG in an ICO, served at `/favicon.ico`.
pub const FAVICON_ICO: &[u8] = include_bytes!("assets/favicon.ico");
/// feedmerge's own icon as SVG, served at `/favicon.svg`.
pub const FAVICON_SVG: &[u8] = include_bytes!("assets/favicon.svg");

/// How long browsers keep a source's icon: its URL changes when it does, so for as long
/// as the icon is checked anew ([`crate::icons::RECHECK`]), without revalidating.
pub const ICON_MAX_AGE: Duration = crate::icons::RECHECK;

/// How long browsers keep feedmerge's own icon before they revalidate: a day, since its URL
/// stays the same across releases.
pub const FAVICON_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The Content-Security-Policy of every SVG served: opened on its own (not as an `<img>`,
/// where it never runs one), it may run no script and load nothing; only its own inline
/// styles apply.
pub const SVG_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'";

/// Length of an icon's name: a 64-bit hash in hex.
const NAME_LEN: usize = 16;

/// `/icons/NAME`: a source's icon, as stored.
pub async fn source_icon(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ServeError> {
    if name.len() != NAME_LEN || !name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(ServeError::NotFound);
    }
    let (content_type, data) = state
        .store
        .icon(name.clone())
        .await
        .map_err(ServeError::Database)?
        .ok_or(ServeError::NotFound)?;
    let kind = IconType::from_media_type(&content_type).ok_or(ServeError::NotFound)?;
    let cache = CacheControl::new()
        .with_public()
        .with_max_age(ICON_MAX_AGE)
        .with_immutable();
    Ok(answer(&headers, data, kind, &name, cache))
}

/// `/favicon.ico`: feedmerge's own icon.
pub async fn favicon_ico(headers: HeaderMap) -> Response {
    builtin(&headers, FAVICON_ICO, IconType::Ico)
}

/// `/favicon.svg`: feedmerge's own icon, drawn at any size.
pub async fn favicon_svg(headers: HeaderMap) -> Response {
    builtin(&headers, FAVICON_SVG, IconType::Svg)
}

fn builtin(headers: &HeaderMap, body: &'static [u8], kind: IconType) -> Response {
    let hash = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(body));
    let cache = CacheControl::new()
        .with_public()
        .with_max_age(FAVICON_MAX_AGE);
    answer(headers, body, kind, &hash, cache)
}

/// An image of `kind` with the strong ETag of `hash`: 304 when the client's copy is
/// current; never sniffed by the browser as anything else, and an SVG never scripted.
fn answer(
    headers: &HeaderMap,
    body: impl Into<axum::body::Body>,
    kind: IconType,
    hash: &str,
    cache: CacheControl,
) -> Response {
    let etag = conditional::etag(Coding::Identity, hash);
    let mut r = if conditional::none_match(headers, &[&etag]).unwrap_or(false) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(body.into());
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(kind.media_type()),
        );
        r
    };
    let h = r.headers_mut();
    h.typed_insert(conditional::typed_etag(&etag));
    h.typed_insert(cache);
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if kind == IconType::Svg {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(SVG_POLICY),
        );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::icons::sniff::sniff;

    /// The icons built in are what they are served as.
    #[test]
    fn the_builtin_icons_are_images_of_their_type() {
        assert_eq!(sniff(FAVICON_ICO), Some(IconType::Ico));
        assert_eq!(sniff(FAVICON_SVG), Some(IconType::Svg));
        assert!(FAVICON_ICO.len() < 4096 && FAVICON_SVG.len() < 1024);
    }
}
