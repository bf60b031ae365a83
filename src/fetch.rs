//! Fetching: a feed URL and its stored validators → [`FetchOutcome`] (the body, or "not
//! modified"). Conditional GET, decompression, timeouts, redirect and size limits live here.

use std::sync::Once;
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::redirect;
use url::Url;

/// Redirects followed before a request fails.
pub const MAX_REDIRECTS: usize = 5;

/// What the client asks for: feeds first, anything as a last resort (some servers label feeds
/// `text/html` or `application/octet-stream`).
const ACCEPT: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5";

/// HTTP cache validators kept between polls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// The `ETag` the server sent last.
    pub etag: Option<String>,
    /// The `Last-Modified` the server sent last.
    pub last_modified: Option<String>,
}

impl Validators {
    fn from_headers(headers: &HeaderMap) -> Self {
        let get = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Validators {
            etag: get(header::ETAG),
            last_modified: get(header::LAST_MODIFIED),
        }
    }

    /// Keeps each validator of `newer` that is present, else the current one: a 304 may carry
    /// fresh validators or none at all.
    pub fn merge(&self, newer: Validators) -> Validators {
        Validators {
            etag: newer.etag.or_else(|| self.etag.clone()),
            last_modified: newer.last_modified.or_else(|| self.last_modified.clone()),
        }
    }
}

/// What the response's caching headers say about how soon to ask again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheHint {
    /// `Cache-Control: max-age`, else `Expires` minus `Date`; `None` with `no-cache`/`no-store`.
    pub fresh_for: Option<Duration>,
}

impl CacheHint {
    fn from_headers(headers: &HeaderMap) -> Self {
        let get = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        let mut max_age = None;
        if let Some(cc) = get(header::CACHE_CONTROL) {
            for directive in cc.split(',').map(|d| d.trim().to_ascii_lowercase()) {
                if directive == "no-cache" || directive == "no-store" {
                    return CacheHint::default();
                }
                if let Some(v) = directive.strip_prefix("max-age=") {
                    max_age = v
                        .trim_matches('"')
                        .parse::<u64>()
                        .ok()
                        .map(Duration::from_secs);
                }
            }
        }
        let expires = || {
            let expires = httpdate::parse_http_date(get(header::EXPIRES)?).ok()?;
            let date = get(header::DATE)
                .and_then(|d| httpdate::parse_http_date(d).ok())
                .unwrap_or_else(std::time::SystemTime::now);
            expires.duration_since(date).ok()
        };
        CacheHint {
            fresh_for: max_age.or_else(expires),
        }
    }
}

/// A successful download.
#[derive(Debug)]
pub struct Fetched {
    /// The URL the body came from, after redirects.
    pub url: Url,
    /// HTTP status (2xx).
    pub status: u16,
    /// The body, decompressed, at most `max_body` bytes.
    pub body: Vec<u8>,
    /// The `charset` parameter of `Content-Type`, if any.
    pub charset: Option<String>,
    /// The media type of `Content-Type` (`text/html`), lower case, if any.
    pub content_type: Option<String>,
    /// Validators to send next time.
    pub validators: Validators,
    /// Caching headers.
    pub cache: CacheHint,
    /// Where the feed now lives, when every redirect on the way was permanent (301, 308).
    pub moved_to: Option<Url>,
}

/// The result of a conditional GET.
#[derive(Debug)]
pub enum FetchOutcome {
    /// New content.
    Fetched(Fetched),
    /// 304: nothing changed since the validators were issued.
    NotModified {
        /// Validators merged with the ones the 304 carried.
        validators: Validators,
        /// Caching headers of the 304.
        cache: CacheHint,
        /// As for [`Fetched::moved_to`].
        moved_to: Option<Url>,
    },
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with a status other than 2xx or 304.
    #[error("unexpected status {status} from {url}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// The URL that answered.
        url: Url,
        /// `Retry-After`, as a wait from now, when the server sent one.
        retry_after: Option<Duration>,
    },
    /// The body grew past the limit (counted after decompression).
    #[error("body of {url} is larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: Url,
        /// `[poller] max_body`.
        limit: u64,
    },
    /// The request did not complete in time.
    #[error("timed out fetching {url}")]
    Timeout {
        /// The URL.
        url: Url,
    },
    /// A redirect that is not followed: too many, or to a scheme other than http(s).
    #[error("redirect refused for {url}: {reason}")]
    Redirect {
        /// The URL that redirected.
        url: Url,
        /// Why it was not followed.
        reason: String,
    },
    /// Anything else: DNS, connection, TLS, a broken body.
    #[error("cannot fetch {url}: {reason}")]
    Other {
        /// The URL.
        url: Url,
        /// The error chain, flattened to one line.
        reason: String,
    },
}

impl FetchError {
    /// The HTTP status behind the error, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A short name for the kind of failure, for metrics: `http_status`, `too_large`,
    /// `timeout`, `redirect` or `network`.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Status { .. } => "http_status",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Redirect { .. } => "redirect",
            FetchError::Other { .. } => "network",
        }
    }

    /// How long the server asked us to wait (429 or 503 with `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    fn from_reqwest(url: &Url, e: reqwest::Error) -> Self {
        if e.is_timeout() {
            return FetchError::Timeout { url: url.clone() };
        }
        // The URL is in our own message already.
        let e = e.without_url();
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            reason.push_str(": ");
            reason.push_str(&s.to_string());
            source = s.source();
        }
        FetchError::Other {
            url: url.clone(),
            reason,
        }
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Settings of a [`Fetcher`].
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// `User-Agent` header.
    pub user_agent: String,
    /// Whole-request timeout, body and redirects included.
    pub timeout: Duration,
    /// TCP + TLS connection timeout.
    pub connect_timeout: Duration,
    /// Body limit after decompression.
    pub max_body: u64,
    /// Follow redirects from a public address to a loopback, private or link-local one.
    pub allow_private_redirects: bool,
}

/// Whether `url` names this machine or a private network: loopback, RFC 1918 and unique-local
/// ranges, link-local (cloud metadata services live at 169.254.169.254), `localhost`.
/// Host names are judged by name only, not by what they resolve to.
pub fn is_private(url: &Url) -> bool {
    use std::net::IpAddr;
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(ip),
        },
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            return d == "localhost" || d.ends_with(".localhost");
        }
        None => return false,
    };
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
                // 100.64.0.0/10, carrier-grade NAT: not reachable from the internet either.
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xFE00) == 0xFC00 // unique local fc00::/7
                || (first & 0xFFC0) == 0xFE80 // link-local fe80::/10
        }
    }
}

/// Whether a redirect from a feed configured at `start` may lead to `next`: only to http(s),
/// and from a public address not into the local network (SSRF), unless `allow_private`. A
/// feed the operator configured on a private address may redirect within it.
fn redirect_allowed(start: &Url, next: &Url, allow_private: bool) -> Result<(), String> {
    if !matches!(next.scheme(), "http" | "https") {
        return Err(format!("unsupported scheme {}", next.scheme()));
    }
    if !allow_private && !is_private(start) && is_private(next) {
        return Err(format!(
            "redirect to the private address {} (set [poller] allow_private_redirects = true to allow)",
            next.host_str().unwrap_or("")
        ));
    }
    Ok(())
}

/// An HTTP client for feeds. Cheap to clone; share one per process.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_body: u64,
    timeout: Duration,
    allow_private_redirects: bool,
}

fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another part of the process may have installed a provider first; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Fetcher {
    /// Builds the client.
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised.
    pub fn new(cfg: &FetchConfig) -> Result<Self, FetchError> {
        install_crypto_provider();
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
        let client = reqwest::Client::builder()
            .user_agent(cfg.user_agent.clone())
            .default_headers(headers)
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            // Redirects are followed by hand, to tell permanent moves from temporary ones.
            .redirect(redirect::Policy::none())
            .gzip(true)
            .brotli(true)
            .deflate(true)
            .build()
            .map_err(|e| {
                FetchError::from_reqwest(&Url::parse("http://localhost/").expect("static URL"), e)
            })?;
        Ok(Fetcher {
            client,
            max_body: cfg.max_body,
            timeout: cfg.timeout,
            allow_private_redirects: cfg.allow_private_redirects,
        })
    }

    /// Fetches `url`, conditionally when `validators` has any, following up to
    /// [`MAX_REDIRECTS`] redirects, all within the configured timeout.
    ///
    /// # Errors
    /// [`FetchError`] for a non-2xx status, a body over the limit, a timeout, a refused
    /// redirect, or a network error.
    pub async fn fetch(
        &self,
        url: &Url,
        validators: &Validators,
    ) -> Result<FetchOutcome, FetchError> {
        match tokio::time::timeout(self.timeout, self.fetch_following(url, validators)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout { url: url.clone() }),
        }
    }

    async fn fetch_following(
        &self,
        start: &Url,
        validators: &Validators,
    ) -> Result<FetchOutcome, FetchError> {
        let mut url = start.clone();
        // The last URL reached through permanent redirects only.
        let mut moved_to: Option<Url> = None;
        let mut permanent_so_far = true;
        let mut hops = 0;
        let mut response = loop {
            let mut request = self.client.get(url.clone());
            if let Some(etag) = &validators.etag {
                request = request.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &validators.last_modified {
                request = request.header(header::IF_MODIFIED_SINCE, lm);
            }
            let response = request
                .send()
                .await
                .map_err(|e| FetchError::from_reqwest(&url, e))?;
            let status = response.status();
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok());
            let (true, Some(location)) = (status.is_redirection(), location) else {
                break response;
            };
            let refuse = |reason: String| FetchError::Redirect {
                url: url.clone(),
                reason,
            };
            if hops == MAX_REDIRECTS {
                return Err(refuse(format!("more than {MAX_REDIRECTS} redirects")));
            }
            let next = url
                .join(location.trim())
                .map_err(|e| refuse(format!("bad Location {location:?}: {e}")))?;
            redirect_allowed(start, &next, self.allow_private_redirects).map_err(refuse)?;
            permanent_so_far &= matches!(status.as_u16(), 301 | 308);
            if permanent_so_far {
                moved_to = Some(next.clone());
            }
            url = next;
            hops += 1;
        };

        let status = response.status();
        let headers = response.headers();
        let fresh = Validators::from_headers(headers);
        let cache = CacheHint::from_headers(headers);
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome::NotModified {
                validators: validators.merge(fresh),
                cache,
                moved_to,
            });
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                status: status.as_u16(),
                retry_after: retry_after(headers),
                url,
            });
        }
        let content_type_header = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let charset = content_type_header.and_then(charset_of);
        let content_type = content_type_header
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty());

        // Count decompressed bytes as they arrive: Content-Length describes the wire size and may
        // be absent or false, and a compressed bomb must stop at the limit, not after it. It
        // sizes the buffer when it is given (an uncompressed answer): no regrowth, no slack.
        let expected = response.content_length().unwrap_or(0).min(self.max_body);
        let mut body = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::from_reqwest(&url, e))?
        {
            if (body.len() + chunk.len()) as u64 > self.max_body {
                return Err(FetchError::TooLarge {
                    url,
                    limit: self.max_body,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchOutcome::Fetched(Fetched {
            url,
            status: status.as_u16(),
            body,
            charset,
            content_type,
            validators: fresh,
            cache,
            moved_to,
        }))
    }
}

/// Extracts the `charset` parameter of a `Content-Type` value.
fn charset_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_owned())
            .filter(|v| !v.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses() {
        let private = |s: &str| is_private(&Url::parse(s).unwrap());
        for p in [
            "http://127.0.0.1/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost:8080/",
            "http://foo.localhost/",
        ] {
            assert!(private(p), "{p}");
        }
        for p in [
            "https://example.org/",
            "http://8.8.8.8/",
            "http://[2001:db8::1]/",
            "http://172.32.0.1/",
        ] {
            assert!(!private(p), "{p}");
        }
    }

    #[test]
    fn redirects_from_public_feeds_stay_out_of_the_local_network() {
        let url = |s: &str| Url::parse(s).unwrap();
        let public = url("https://news.example.org/feed.xml");
        let metadata = url("http://169.254.169.254/latest/meta-data/");
        let err = redirect_allowed(&public, &metadata, false).unwrap_err();
        assert!(err.contains("private address 169.254.169.254"), "{err}");
        assert!(redirect_allowed(&public, &url("http://localhost:8080/"), false).is_err());
        assert!(
            redirect_allowed(&public, &metadata, true).is_ok(),
            "the operator opted in"
        );
        assert!(redirect_allowed(&public, &url("https://cdn.example.net/f"), false).is_ok());
        // A feed configured on the local network may redirect within it.
        let local = url("http://127.0.0.1:3000/feed");
        assert!(redirect_allowed(&local, &url("http://10.0.0.5/feed"), false).is_ok());
        assert!(
            redirect_allowed(&public, &url("ftp://example.org/f"), true)
                .unwrap_err()
                .contains("scheme ftp")
        );
    }

    #[test]
    fn charset_parameter() {
        assert_eq!(
            charset_of("text/xml; charset=ISO-8859-1").as_deref(),
            Some("ISO-8859-1")
        );
        assert_eq!(
            charset_of("text/xml;CHARSET=\"utf-8\"").as_deref(),
            Some("utf-8")
        );
        assert_eq!(charset_of("application/rss+xml"), None);
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn cache_hints() {
        let hint = |pairs| {
            CacheHint::from_headers(&headers(pairs))
                .fresh_for
                .map(|d| d.as_secs())
        };
        assert_eq!(
            hint(&[("cache-control", "public, max-age=3600")]),
            Some(3600)
        );
        assert_eq!(hint(&[("cache-control", "max-age=3600, no-cache")]), None);
        assert_eq!(hint(&[("cache-control", "no-store")]), None);
        assert_eq!(
            hint(&[
                ("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
                ("expires", "Mon, 01 Jan 2024 02:00:00 GMT")
            ]),
            Some(7200)
        );
        assert_eq!(
            hint(&[("date", "Mon, 01 Jan 2024 00:00:00 GMT"), ("expires", "0")]),
            None
        );
        assert_eq!(hint(&[]), None);
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "120")])),
            Some(Duration::from_secs(120))
        );
        let later =
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(600));
        let d = retry_after(&headers(&[("retry-after", &later)])).unwrap();
        assert!((595..=600).contains(&d.as_secs()), "{d:?}");
        let past = "Mon, 01 Jan 2001 00:00:00 GMT";
        assert_eq!(
            retry_after(&headers(&[("retry-after", past)])),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
    }

    #[test]
    fn validators_from_a_304_replace_only_what_it_carries() {
        let old = Validators {
            etag: Some("\"a\"".into()),
            last_modified: Some("Mon, 01 Jan 2024 00:00:00 GMT".into()),
        };
        let merged = old.merge(Validators {
            etag: Some("\"b\"".into()),
            last_modified: None,
        });
        assert_eq!(merged.etag.as_deref(), Some("\"b\""));
        assert_eq!(merged.last_modified, old.last_modified);
    }
}
