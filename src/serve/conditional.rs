//! Conditional requests and content negotiation: request headers → whether the client's copy
//! is current (`If-None-Match`, `If-Modified-Since`) and which coding it gets
//! (`Accept-Encoding`), and the strong ETag of each representation.

use std::time::SystemTime;

use axum::http::{HeaderMap, header};
use headers::{ETag, Header, IfModifiedSince};

use crate::output::Coding;

/// Picks the best coding `Accept-Encoding` allows: brotli, then gzip, then none.
///
/// Hand-read because the `headers` crate has no typed `Accept-Encoding`; `q` values only
/// matter here as "refused" (`q=0`) or not.
pub fn negotiate(headers: &HeaderMap) -> Coding {
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

/// The strong ETag of the content hashed as `hash` (hex) in `coding`: strong ETags differ per
/// representation, so each coding has its own.
pub fn etag(coding: Coding, hash: &str) -> String {
    match coding {
        Coding::Identity => format!("\"{hash}\""),
        Coding::Gzip => format!("\"{hash}-gz\""),
        Coding::Br => format!("\"{hash}-br\""),
    }
}

/// `tag` (from [`etag`]) as a typed header.
pub fn typed_etag(tag: &str) -> ETag {
    // Invariant: a hex hash in quotes is a valid entity tag.
    tag.parse().expect("hex ETag")
}

/// Whether `If-None-Match` names one of the tags `current` or is `*`; `None` without the
/// header (or with nothing readable in it), when `If-Modified-Since` decides instead (RFC 9110
/// §13.2.2). Tags compare weakly, as the RFC wants for `If-None-Match` (§13.1.2): `W/"x"`
/// names `"x"`.
///
/// Read here rather than with the `headers` crate's `IfNoneMatch`, whose reading differs on
/// hostile input: it honours `*` only alone on one line, lets one line that is not visible
/// ASCII hide the others, and in debug builds panics on a tag with a space inside.
pub fn none_match(headers: &HeaderMap, current: &[&str]) -> Option<bool> {
    let mut values = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .peekable();
    values.peek()?;
    Some(values.flat_map(|v| v.split(',')).any(|tag| {
        let tag = tag.trim();
        tag == "*" || current.contains(&tag.strip_prefix("W/").unwrap_or(tag))
    }))
}

/// Whether `If-Modified-Since` is at or after `last_modified` (whole seconds). Only the
/// first line counts: the crate would refuse a repeated header whole.
pub fn not_modified_since(headers: &HeaderMap, last_modified: SystemTime) -> bool {
    IfModifiedSince::decode(&mut headers.get(header::IF_MODIFIED_SINCE).into_iter())
        .is_ok_and(|since| !since.is_modified(last_modified))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static [u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, axum::http::HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    fn current(hash: &str) -> [String; 3] {
        [Coding::Identity, Coding::Gzip, Coding::Br].map(|c| etag(c, hash))
    }

    #[test]
    fn negotiation_prefers_brotli_and_honours_q_zero() {
        assert_eq!(
            negotiate(&headers(&[("accept-encoding", b"gzip, deflate, br")])),
            Coding::Br
        );
        assert_eq!(
            negotiate(&headers(&[("accept-encoding", b"gzip")])),
            Coding::Gzip
        );
        assert_eq!(
            negotiate(&headers(&[("accept-encoding", b"br;q=0, gzip;q=0.5")])),
            Coding::Gzip
        );
        assert_eq!(negotiate(&headers(&[])), Coding::Identity);
        assert_eq!(
            negotiate(&headers(&[("accept-encoding", b"identity")])),
            Coding::Identity
        );
        assert_eq!(
            negotiate(&headers(&[("accept-encoding", b"*, br;q=0")])),
            Coding::Gzip
        );
        assert_eq!(
            negotiate(&headers(&[("accept-encoding", b"*;q=0, gzip")])),
            Coding::Gzip
        );
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let tags = current("ab");
        let ab = tags.each_ref().map(String::as_str);
        let inm = |v: &'static [u8]| none_match(&headers(&[("if-none-match", v)]), &ab);
        assert_eq!(none_match(&headers(&[]), &ab), None);
        assert_eq!(inm(b"\"x\", W/\"ab-gz\""), Some(true));
        assert_eq!(inm(b"\"abc\""), Some(false));
        assert_eq!(inm(b"*"), Some(true));
        // Unquoted, or with a lowercase weak prefix: not a tag of ours.
        assert_eq!(inm(b"ab"), Some(false));
        assert_eq!(inm(b"w/\"ab\""), Some(false));
        assert_eq!(inm(b""), Some(false));
    }

    #[test]
    fn if_none_match_reads_hostile_headers_as_before() {
        let tags = current("ab");
        let ab = tags.each_ref().map(String::as_str);
        // `*` among tags, or on a line of its own.
        assert_eq!(
            none_match(&headers(&[("if-none-match", b"\"x\", *")]), &ab),
            Some(true)
        );
        assert_eq!(
            none_match(
                &headers(&[("if-none-match", b"\"x\""), ("if-none-match", b"*")]),
                &ab
            ),
            Some(true)
        );
        // A line that is not visible ASCII is skipped; alone, it is no header.
        assert_eq!(
            none_match(
                &headers(&[
                    ("if-none-match", b"\"\xff\""),
                    ("if-none-match", b"\"ab-br\"")
                ]),
                &ab
            ),
            Some(true)
        );
        assert_eq!(
            none_match(&headers(&[("if-none-match", b"\"\xff\"")]), &ab),
            None
        );
        // A tag with a space inside is just not ours.
        assert_eq!(
            none_match(&headers(&[("if-none-match", b"\"a b\", \"ab\"")]), &ab),
            Some(true)
        );
        // Tags on several lines are all read.
        assert_eq!(
            none_match(
                &headers(&[("if-none-match", b"\"x\""), ("if-none-match", b"\"ab\"")]),
                &ab
            ),
            Some(true)
        );
    }

    #[test]
    fn if_modified_since_compares_whole_seconds_and_reads_the_first_line() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let date = httpdate::fmt_http_date(at);
        let earlier = httpdate::fmt_http_date(at - Duration::from_secs(1));
        let with = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(header::IF_MODIFIED_SINCE, v.parse().unwrap());
            }
            not_modified_since(&h, at)
        };
        assert!(with(&[&date]));
        assert!(!with(&[&earlier]));
        assert!(!with(&[]));
        assert!(!with(&["yesterday"]));
        assert!(with(&[&date, &earlier]));
    }
}
