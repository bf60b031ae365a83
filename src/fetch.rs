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
    /// Validators to send next time.
    pub validators: Validators,
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
    /// Anything else: DNS, connection, TLS, redirects, a broken body.
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

    fn from_reqwest(url: &Url, e: reqwest::Error) -> Self {
        if e.is_timeout() {
            return FetchError::Timeout { url: url.clone() };
        }
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

/// Settings of a [`Fetcher`].
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// `User-Agent` header.
    pub user_agent: String,
    /// Whole-request timeout, body included.
    pub timeout: Duration,
    /// TCP + TLS connection timeout.
    pub connect_timeout: Duration,
    /// Body limit after decompression.
    pub max_body: u64,
}

/// An HTTP client for feeds. Cheap to clone; share one per process.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_body: u64,
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
        let policy = redirect::Policy::custom(|attempt| {
            // `previous` holds every URL requested so far, the original one included.
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if !matches!(attempt.url().scheme(), "http" | "https") {
                let scheme = attempt.url().scheme().to_owned();
                attempt.error(format!("redirect to unsupported scheme {scheme}"))
            } else {
                attempt.follow()
            }
        });
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
        let client = reqwest::Client::builder()
            .user_agent(cfg.user_agent.clone())
            .default_headers(headers)
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            .redirect(policy)
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
        })
    }

    /// Fetches `url`, conditionally when `validators` has any.
    ///
    /// # Errors
    /// [`FetchError`] for a non-2xx status, a body over the limit, a timeout, or a network error.
    pub async fn fetch(
        &self,
        url: &Url,
        validators: &Validators,
    ) -> Result<FetchOutcome, FetchError> {
        let mut request = self.client.get(url.clone());
        if let Some(etag) = &validators.etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &validators.last_modified {
            request = request.header(header::IF_MODIFIED_SINCE, lm);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| FetchError::from_reqwest(url, e))?;
        let status = response.status();
        let fresh = Validators::from_headers(response.headers());
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome::NotModified {
                validators: validators.merge(fresh),
            });
        }
        let final_url = response.url().clone();
        if !status.is_success() {
            return Err(FetchError::Status {
                status: status.as_u16(),
                url: final_url,
            });
        }
        let charset = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(charset_of);

        // Count decompressed bytes as they arrive: Content-Length describes the wire size and may
        // be absent or false, and a compressed bomb must stop at the limit, not after it.
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::from_reqwest(&final_url, e))?
        {
            if (body.len() + chunk.len()) as u64 > self.max_body {
                return Err(FetchError::TooLarge {
                    url: final_url,
                    limit: self.max_body,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchOutcome::Fetched(Fetched {
            url: final_url,
            status: status.as_u16(),
            body,
            charset,
            validators: fresh,
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
