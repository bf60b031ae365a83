//! Fetching: a feed URL and its stored validators → [`FetchOutcome`] (the body, or "not
//! modified"); an article link → its page; a source's icon, or the start of its site's page.
//! Conditional GET, decompression, timeouts, redirect
//! and size limits live here, and every request obeys the fetch policy of [`policy`].
//!
//! System proxies (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`) are not used: through a proxy
//! the address connected to is the proxy's, and the policy could not judge where a request
//! really goes.

pub mod policy;

use std::net::IpAddr;
use std::sync::{Arc, Once};
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::redirect;
use url::Url;

use crate::model::{Failure, HubLinks, Validators};
use crate::redact::{self, Redacted};
pub use policy::{Network, Reach, Refusal, Rule};

/// Redirects followed before a request fails.
pub const MAX_REDIRECTS: usize = 5;

/// Largest article page downloaded, counted after decompression (never more than
/// `[poller] max_body`). Article pages are HTML read for their text: a page past this size is
/// a file or a trap, not an article worth extracting.
pub const MAX_ARTICLE_BODY: u64 = 4 * 1024 * 1024;

/// What the client asks for: feeds first, anything as a last resort (some servers label feeds
/// `text/html` or `application/octet-stream`).
const ACCEPT: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5";

/// The validators a response carries.
fn validators_from(headers: &HeaderMap) -> Validators {
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
    /// The WebSub hub and topic the response's `Link:` headers announce (boxed: rarely
    /// any).
    pub links: Box<HubLinks>,
}

/// The hub and topic of the `Link:` headers (RFC 8288) in `headers`, relative references
/// resolved against `base`. Only the first of each counts (a hub is subscribed at one).
fn hub_links(headers: &HeaderMap, base: &Url) -> HubLinks {
    let mut links = HubLinks::default();
    for value in headers.get_all(header::LINK) {
        let Ok(value) = value.to_str() else { continue };
        for (target, rels) in link_values(value) {
            let Ok(url) = base.join(target) else { continue };
            if !matches!(url.scheme(), "http" | "https") {
                continue;
            }
            for rel in rels.split_ascii_whitespace() {
                let slot = match rel.to_ascii_lowercase().as_str() {
                    "hub" => &mut links.hub,
                    "self" => &mut links.topic,
                    _ => continue,
                };
                slot.get_or_insert_with(|| url.clone());
            }
        }
    }
    links
}

/// The `(target, rel)` pairs of one `Link:` header value: `<https://hub.example/>; rel="hub",
/// <https://a.example/feed>; rel=self`. A link without `rel` is skipped.
fn link_values(value: &str) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let target = rest[open + 1..open + close].trim();
        rest = &rest[open + close + 1..];
        // The parameters run to the next link; a comma inside a quoted value does not end
        // them.
        let mut end = rest.len();
        let mut quoted = false;
        for (i, c) in rest.char_indices() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let params = &rest[..end];
        rest = &rest[end..];
        let rel = params.split(';').find_map(|p| {
            let (name, value) = p.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("rel")
                .then(|| value.trim().trim_matches('"'))
        });
        if let Some(rel) = rel {
            found.push((target, rel));
        }
    }
    found
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

/// Why a fetch failed. URLs are shown redacted (no userinfo, no secret query values): these
/// messages are stored on the feed and published in health items.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with a status other than 2xx or 304.
    #[error("unexpected status {status} from {}", Redacted(.url))]
    Status {
        /// HTTP status code.
        status: u16,
        /// The URL that answered.
        url: Url,
        /// `Retry-After`, as a wait from now, when the server sent one.
        retry_after: Option<Duration>,
    },
    /// The body grew past the limit (counted after decompression).
    #[error("body of {} is larger than {limit} bytes", Redacted(.url))]
    TooLarge {
        /// The URL.
        url: Url,
        /// `[poller] max_body`, or [`MAX_ARTICLE_BODY`] for an article.
        limit: u64,
    },
    /// The request did not complete in time.
    #[error("timed out fetching {}", Redacted(.url))]
    Timeout {
        /// The URL.
        url: Url,
    },
    /// A redirect that is not followed: too many, or to a scheme other than http(s).
    #[error("redirect refused for {}: {reason}", Redacted(.url))]
    Redirect {
        /// The URL that redirected.
        url: Url,
        /// Why it was not followed.
        reason: String,
    },
    /// The fetch policy does not let this request connect where its URL leads.
    #[error("refused to fetch {}: {reason} ({rule})", Redacted(.url))]
    Refused {
        /// The URL not fetched (a redirect's target, for a redirect).
        url: Url,
        /// What is wrong with where it leads.
        reason: Refusal,
        /// The rule that refused it.
        rule: Rule,
    },
    /// The response's media type is not one the caller reads; its body was not downloaded.
    #[error("{} is {}, not a media type read here", Redacted(.url), .content_type.as_deref().unwrap_or("of no stated media type"))]
    MediaType {
        /// The URL.
        url: Url,
        /// The media type of `Content-Type`, lower case.
        content_type: Option<String>,
    },
    /// Anything else: DNS, connection, TLS, a broken body. The message names the URL; what
    /// went wrong is the source ([`ErrorChain`] shows both).
    #[error("cannot fetch {}", Redacted(.url))]
    Other {
        /// The URL.
        url: Url,
        /// reqwest's error, without its URL (unredacted, and in the message already).
        #[source]
        source: reqwest::Error,
    },
}

/// An error and its causes on one line, `: ` between them, as anyhow's `{:#}` shows them:
/// how errors are stored on a feed and logged.
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl FetchError {
    /// The HTTP status behind the error, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The kind of failure, for metrics.
    pub fn kind(&self) -> Failure {
        match self {
            FetchError::Status { .. } => Failure::HttpStatus,
            FetchError::TooLarge { .. } => Failure::TooLarge,
            FetchError::Timeout { .. } => Failure::Timeout,
            FetchError::Redirect { .. } => Failure::Redirect,
            FetchError::Refused { .. } => Failure::Refused,
            FetchError::MediaType { .. } => Failure::MediaType,
            FetchError::Other { .. } => Failure::Network,
        }
    }

    /// How long the server asked us to wait (429 or 503 with `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        self.asked_to_wait().map(|(_, wait)| wait)
    }

    /// The server that asked to be left alone, and for how long: a 429 or 503 with
    /// `Retry-After`, from the URL that answered (after redirects), which is the host to
    /// pause, not the one first asked (a redirect to a server that answers 429 must not stop
    /// every feed of the host that redirected).
    pub fn asked_to_wait(&self) -> Option<(&Url, Duration)> {
        match self {
            FetchError::Status {
                status: 429 | 503,
                retry_after: Some(wait),
                url,
            } => Some((url, *wait)),
            _ => None,
        }
    }

    fn from_reqwest(url: &Url, e: reqwest::Error) -> Self {
        if e.is_timeout() {
            return FetchError::Timeout { url: url.clone() };
        }
        FetchError::Other {
            url: url.clone(),
            // The URL is in our own message already, redacted.
            source: e.without_url(),
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
    /// Let a feed on a public address redirect anywhere, this machine and private networks
    /// included (`[poller] allow_private_redirects`).
    pub allow_private_redirects: bool,
    /// What counts as public and how names resolve: [`Network::default`] but in tests.
    pub network: Network,
}

/// What a request is for; it decides where each hop may connect ([`policy`]).
#[derive(Debug, Clone, Copy)]
enum Purpose<'a> {
    /// A feed; `first` is where its first request may connect.
    Feed {
        /// [`Reach::Anywhere`] for the configured URL itself.
        first: Reach,
        /// The rule that refuses the first request.
        rule: Rule,
    },
    /// An article link of the feed at `feed_url`.
    Article { feed_url: &'a Url },
    /// The icon of the feed at `feed_url`'s source, or its site's home page.
    Icon { feed_url: &'a Url },
}

/// What becomes of a body longer than its limit.
#[derive(Debug, Clone, Copy)]
enum Overflow {
    /// The fetch fails ([`FetchError::TooLarge`]).
    Refuse,
    /// The body read so far is kept: for pages of which only the start is looked at.
    Cut,
}

/// An HTTP client for feeds and article pages, which obeys the fetch policy. Cheap to clone;
/// share one per process.
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// Connects wherever a name resolves: configured feeds, their redirects when the feed is
    /// not on a public address, articles on their feed's own server.
    anywhere: reqwest::Client,
    /// Connects to public addresses only ([`policy::PublicOnly`] resolves its names).
    public: reqwest::Client,
    is_public: fn(IpAddr) -> bool,
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
    /// Builds the clients.
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised.
    pub fn new(cfg: &FetchConfig) -> Result<Self, FetchError> {
        install_crypto_provider();
        let build = |resolver: Arc<dyn reqwest::dns::Resolve>| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
            reqwest::Client::builder()
                .user_agent(cfg.user_agent.clone())
                .default_headers(headers)
                .timeout(cfg.timeout)
                .connect_timeout(cfg.connect_timeout)
                // Redirects are followed by hand, to tell permanent moves from temporary ones
                // and to judge every hop.
                .redirect(redirect::Policy::none())
                // The address connected to must be the one judged (see the module doc).
                .no_proxy()
                .dns_resolver(resolver)
                .gzip(true)
                .brotli(true)
                .deflate(true)
                .build()
                .map_err(|e| {
                    let url = Url::parse("http://localhost/").expect("static URL");
                    FetchError::from_reqwest(&url, e)
                })
        };
        let network = &cfg.network;
        Ok(Fetcher {
            anywhere: build(network.resolver.clone())?,
            public: build(Arc::new(policy::PublicOnly {
                inner: network.resolver.clone(),
                is_public: network.is_public,
            }))?,
            is_public: network.is_public,
            max_body: cfg.max_body,
            timeout: cfg.timeout,
            allow_private_redirects: cfg.allow_private_redirects,
        })
    }

    /// Fetches the feed configured at `url`: [`Fetcher::fetch_feed`] of a feed that has not
    /// moved.
    ///
    /// # Errors
    /// As [`Fetcher::fetch_feed`].
    pub async fn fetch(
        &self,
        url: &Url,
        validators: &Validators,
    ) -> Result<FetchOutcome, FetchError> {
        self.fetch_feed(url, url, validators).await
    }

    /// Fetches the feed configured at `configured` from `url` (where a remembered permanent
    /// redirect says it moved, else the same URL), conditionally when `validators` has any,
    /// following up to [`MAX_REDIRECTS`] redirects, all within the configured timeout. The
    /// configured URL may lead anywhere; a moved one is a redirect remembered, and leads only
    /// where [`policy::named_reach`] of the configured URL allows, since what the redirect's
    /// target resolved to when it was learned says nothing about its next answer. Redirects
    /// lead only to public addresses when the first request reached a public one.
    /// `allow_private_redirects` lifts both.
    ///
    /// # Errors
    /// [`FetchError`] for a non-2xx status, a body over the limit, a timeout, a refused
    /// redirect, or a network error.
    pub async fn fetch_feed(
        &self,
        url: &Url,
        configured: &Url,
        validators: &Validators,
    ) -> Result<FetchOutcome, FetchError> {
        let first = if url == configured || self.allow_private_redirects {
            Reach::Anywhere
        } else {
            policy::named_reach(configured, self.is_public)
        };
        self.fetch_first(url, validators, first, Rule::PublicFeedRedirect)
            .await
    }

    /// Fetches the document at `url`, a feed found through the site address `given` (the
    /// page there advertised it, or it is one of the usual paths), unconditionally. Its first
    /// request connects where [`policy::discovered_reach`] allows, its redirects as a feed's.
    /// `given` itself is fetched with [`Fetcher::fetch`], as a configured feed.
    ///
    /// # Errors
    /// As [`Fetcher::fetch_feed`]; a 304 is a [`FetchError::Status`] (nothing conditional was
    /// asked).
    pub async fn fetch_discovered(&self, url: &Url, given: &Url) -> Result<Fetched, FetchError> {
        let first =
            policy::discovered_reach(url, given, self.is_public, self.allow_private_redirects);
        match self
            .fetch_first(url, &Validators::default(), first, Rule::Discovered)
            .await?
        {
            FetchOutcome::Fetched(fetched) => Ok(fetched),
            FetchOutcome::NotModified { .. } => Err(FetchError::Status {
                status: 304,
                url: url.clone(),
                retry_after: None,
            }),
        }
    }

    /// A feed's fetch whose first request connects where `first` allows (refused under
    /// `rule`), and its redirects where that connection decides.
    async fn fetch_first(
        &self,
        url: &Url,
        validators: &Validators,
        first: Reach,
        rule: Rule,
    ) -> Result<FetchOutcome, FetchError> {
        let fetch = async {
            let purpose = Purpose::Feed { first, rule };
            let (response, url, moved_to) = self.follow(url, validators, purpose).await?;
            let status = response.status();
            if status == reqwest::StatusCode::NOT_MODIFIED {
                let headers = response.headers();
                return Ok(FetchOutcome::NotModified {
                    validators: validators.merge(validators_from(headers)),
                    cache: CacheHint::from_headers(headers),
                    moved_to,
                });
            }
            let fetched = Self::read(
                response,
                url,
                moved_to,
                self.max_body,
                Overflow::Refuse,
                |_| true,
            )
            .await?;
            Ok(FetchOutcome::Fetched(fetched))
        };
        match tokio::time::timeout(self.timeout, fetch).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout { url: url.clone() }),
        }
    }

    /// Fetches the article page at `url`, an item link of the feed at `feed_url`, within the
    /// configured timeout. Every hop, redirects included, connects only to public addresses
    /// unless it is on the feed's own scheme, host and port. The media type of the answer is
    /// shown to `accepts` (`None` when the server states none) before the body is read: a
    /// refused one is never downloaded. The body is limited to [`MAX_ARTICLE_BODY`].
    ///
    /// # Errors
    /// [`FetchError::Refused`] when the policy does not allow a hop,
    /// [`FetchError::MediaType`] when `accepts` refuses the media type, else as
    /// [`Fetcher::fetch`] (a 304 is a [`FetchError::Status`]: nothing conditional was asked).
    pub async fn fetch_article(
        &self,
        url: &Url,
        feed_url: &Url,
        accepts: impl Fn(Option<&str>) -> bool,
    ) -> Result<Fetched, FetchError> {
        let fetch = async {
            let purpose = Purpose::Article { feed_url };
            let (response, url, moved_to) =
                self.follow(url, &Validators::default(), purpose).await?;
            let limit = self.max_body.min(MAX_ARTICLE_BODY);
            Self::read(response, url, moved_to, limit, Overflow::Refuse, accepts).await
        };
        match tokio::time::timeout(self.timeout, fetch).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout { url: url.clone() }),
        }
    }

    /// Fetches the icon at `url` for the source of the feed at `feed_url`, conditionally when
    /// `validators` has any, within the configured timeout: where an article link may lead
    /// (public addresses, or the feed's own scheme, host and port), redirects included. Any
    /// media type is read (the caller looks at the bytes themselves); a body over `limit`
    /// bytes (never more than `[poller] max_body`) fails.
    ///
    /// # Errors
    /// As [`Fetcher::fetch_article`], under [`Rule::Icon`].
    pub async fn fetch_icon(
        &self,
        url: &Url,
        feed_url: &Url,
        validators: &Validators,
        limit: u64,
    ) -> Result<FetchOutcome, FetchError> {
        let fetch = async {
            let purpose = Purpose::Icon { feed_url };
            let (response, url, moved_to) = self.follow(url, validators, purpose).await?;
            if response.status() == reqwest::StatusCode::NOT_MODIFIED {
                let headers = response.headers();
                return Ok(FetchOutcome::NotModified {
                    validators: validators.merge(validators_from(headers)),
                    cache: CacheHint::from_headers(headers),
                    moved_to,
                });
            }
            let limit = self.max_body.min(limit);
            let fetched =
                Self::read(response, url, moved_to, limit, Overflow::Refuse, |_| true).await?;
            Ok(FetchOutcome::Fetched(fetched))
        };
        match tokio::time::timeout(self.timeout, fetch).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout { url: url.clone() }),
        }
    }

    /// Fetches the first `limit` bytes of the HTML page at `url`, the site of the feed at
    /// `feed_url`, to read the icons it names: as [`Fetcher::fetch_icon`] goes, an HTML page
    /// only (its media type checked before the body is read), the rest left unread.
    ///
    /// # Errors
    /// As [`Fetcher::fetch_article`], under [`Rule::Icon`].
    pub async fn fetch_site_page(
        &self,
        url: &Url,
        feed_url: &Url,
        limit: u64,
    ) -> Result<Fetched, FetchError> {
        let fetch = async {
            let purpose = Purpose::Icon { feed_url };
            let (response, url, moved_to) =
                self.follow(url, &Validators::default(), purpose).await?;
            let html = |t: Option<&str>| {
                t.is_none_or(|t| matches!(t, "text/html" | "application/xhtml+xml"))
            };
            Self::read(response, url, moved_to, limit, Overflow::Cut, html).await
        };
        match tokio::time::timeout(self.timeout, fetch).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout { url: url.clone() }),
        }
    }

    /// Sends the request for `start` and follows its redirects, each hop on the client the
    /// policy allows for `purpose`. Returns the last response (not a redirect), its URL, and
    /// where the resource moved if every redirect was permanent.
    async fn follow(
        &self,
        start: &Url,
        validators: &Validators,
        purpose: Purpose<'_>,
    ) -> Result<(reqwest::Response, Url, Option<Url>), FetchError> {
        let mut url = start.clone();
        // The last URL reached through permanent redirects only.
        let mut moved_to: Option<Url> = None;
        let mut permanent_so_far = true;
        // Where a feed's redirects may go: decided by its first connection.
        let mut feed_redirects = Reach::Anywhere;
        let mut hops = 0;
        loop {
            let (reach, rule) = match purpose {
                Purpose::Feed { first, rule } if hops == 0 => (first, rule),
                Purpose::Feed { .. } => (feed_redirects, Rule::PublicFeedRedirect),
                Purpose::Article { feed_url } => (
                    policy::article_reach(&url, feed_url, self.is_public),
                    Rule::Article,
                ),
                // The same reach as an article's: the site named it, not the operator.
                Purpose::Icon { feed_url } => (
                    policy::article_reach(&url, feed_url, self.is_public),
                    Rule::Icon,
                ),
            };
            let response = self.send(&url, validators, reach, rule).await?;
            if matches!(purpose, Purpose::Feed { .. }) && hops == 0 {
                // The address of the connection this answer came over, pooled or new. Unknown
                // (never over plain TCP or TLS) counts as public: the stricter choice.
                let public = response
                    .remote_addr()
                    .is_none_or(|a| (self.is_public)(a.ip()));
                feed_redirects = policy::feed_redirect_reach(public, self.allow_private_redirects);
            }
            let status = response.status();
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok());
            let (true, Some(location)) = (status.is_redirection(), location) else {
                return Ok((response, url, moved_to));
            };
            let refuse = |reason: String| FetchError::Redirect {
                url: url.clone(),
                reason,
            };
            if hops == MAX_REDIRECTS {
                return Err(refuse(format!("more than {MAX_REDIRECTS} redirects")));
            }
            let next = url.join(location.trim()).map_err(|e| {
                refuse(format!(
                    "bad Location {:?}: {e}",
                    redact::url_text(location)
                ))
            })?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(refuse(format!("unsupported scheme {}", next.scheme())));
            }
            permanent_so_far &= matches!(status.as_u16(), 301 | 308);
            if permanent_so_far {
                moved_to = Some(next.clone());
            }
            url = next;
            hops += 1;
        }
    }

    /// Sends one GET for `url` on the client `reach` allows.
    async fn send(
        &self,
        url: &Url,
        validators: &Validators,
        reach: Reach,
        rule: Rule,
    ) -> Result<reqwest::Response, FetchError> {
        let client = self.client_for(url, reach, rule)?;
        let mut request = client.get(url.clone());
        if let Some(etag) = &validators.etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &validators.last_modified {
            request = request.header(header::IF_MODIFIED_SINCE, lm);
        }
        request
            .send()
            .await
            .map_err(|e| self.send_error(url, e, rule))
    }

    /// Reads a final response: a 2xx whose media type `accepts`, with a body of at most
    /// `limit` bytes after decompression (past it, as `overflow` says).
    async fn read(
        mut response: reqwest::Response,
        url: Url,
        moved_to: Option<Url>,
        limit: u64,
        overflow: Overflow,
        accepts: impl Fn(Option<&str>) -> bool,
    ) -> Result<Fetched, FetchError> {
        let status = response.status();
        let headers = response.headers();
        if !status.is_success() {
            return Err(FetchError::Status {
                status: status.as_u16(),
                retry_after: retry_after(headers),
                url,
            });
        }
        let validators = validators_from(headers);
        let cache = CacheHint::from_headers(headers);
        let links = Box::new(hub_links(headers, &url));
        let content_type_header = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let charset = content_type_header.and_then(charset_of);
        let content_type = content_type_header
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty());
        if !accepts(content_type.as_deref()) {
            // Dropping the response unread closes the connection: the body stays on the
            // server.
            return Err(FetchError::MediaType { url, content_type });
        }

        // Count decompressed bytes as they arrive: Content-Length describes the wire size and may
        // be absent or false, and a compressed bomb must stop at the limit, not after it. It
        // sizes the buffer when it is given (an uncompressed answer): no regrowth, no slack.
        let expected = response.content_length().unwrap_or(0).min(limit);
        let mut body = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::from_reqwest(&url, e))?
        {
            if (body.len() + chunk.len()) as u64 > limit {
                if let Overflow::Cut = overflow {
                    let room = usize::try_from(limit).unwrap_or(usize::MAX) - body.len();
                    body.extend_from_slice(&chunk[..room]);
                    // Dropping the response closes the connection: the rest stays unread.
                    break;
                }
                return Err(FetchError::TooLarge { url, limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            url,
            status: status.as_u16(),
            body,
            charset,
            content_type,
            validators,
            cache,
            moved_to,
            links,
        })
    }

    /// POSTs `form` (`application/x-www-form-urlencoded`) to the WebSub hub at `hub`, within
    /// the configured timeout, and returns the status of a 2xx answer; redirects are not
    /// followed. A hub announced by the feed at `announced_by` connects where an article
    /// link of that feed may ([`policy::article_reach`]); one the operator configured
    /// (`None`) anywhere.
    ///
    /// # Errors
    /// [`FetchError::Refused`] when the policy does not allow the hub's address,
    /// [`FetchError::Status`] for an answer other than 2xx, else a network error or timeout.
    pub async fn post_form(
        &self,
        hub: &Url,
        form: &[(&str, &str)],
        announced_by: Option<&Url>,
    ) -> Result<u16, FetchError> {
        let reach = announced_by.map_or(Reach::Anywhere, |feed_url| {
            policy::article_reach(hub, feed_url, self.is_public)
        });
        let client = self.client_for(hub, reach, Rule::Hub)?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let send = client
            .post(hub.clone())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send();
        let response = match tokio::time::timeout(self.timeout, send).await {
            Err(_) => return Err(FetchError::Timeout { url: hub.clone() }),
            Ok(Err(e)) => return Err(self.send_error(hub, e, Rule::Hub)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                status: status.as_u16(),
                retry_after: retry_after(response.headers()),
                url: hub.clone(),
            });
        }
        Ok(status.as_u16())
    }

    /// The client that connects where `reach` allows, after judging what can be judged of
    /// `url` before connecting.
    fn client_for(
        &self,
        url: &Url,
        reach: Reach,
        rule: Rule,
    ) -> Result<&reqwest::Client, FetchError> {
        match reach {
            Reach::Anywhere => Ok(&self.anywhere),
            Reach::Public => {
                // IP-address hosts never reach the resolver that judges names.
                policy::check_public_url(url, self.is_public).map_err(|reason| {
                    FetchError::Refused {
                        url: url.clone(),
                        reason,
                        rule,
                    }
                })?;
                Ok(&self.public)
            }
        }
    }

    /// A failed request's error: the policy's refusal when the resolver refused it.
    fn send_error(&self, url: &Url, e: reqwest::Error, rule: Rule) -> FetchError {
        match refusal_in(&e) {
            Some(reason) => FetchError::Refused {
                url: url.clone(),
                reason,
                rule,
            },
            None => FetchError::from_reqwest(url, e),
        }
    }
}

/// The refusal of the public-only resolver behind a failed request, found deep in the chain
/// reqwest and hyper wrap it in.
fn refusal_in(e: &reqwest::Error) -> Option<Refusal> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(refusal) = s.downcast_ref::<Refusal>() {
            return Some(refusal.clone());
        }
        source = s.source();
    }
    None
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
    fn link_headers_name_the_hub_and_the_topic() {
        let base = Url::parse("https://blog.example/feed").unwrap();
        let mut headers = HeaderMap::new();
        headers.append(
            header::LINK,
            HeaderValue::from_static(
                r#"<https://blog.example/>; rel="alternate"; title="a, b", </hub>; rel="hub""#,
            ),
        );
        headers.append(
            header::LINK,
            HeaderValue::from_static(
                "<https://blog.example/feed?x=1>; rel=self, <https://other.example/hub>; rel=\"hub self\"",
            ),
        );
        let links = hub_links(&headers, &base);
        assert_eq!(links.hub.unwrap().as_str(), "https://blog.example/hub");
        assert_eq!(
            links.topic.unwrap().as_str(),
            "https://blog.example/feed?x=1"
        );
        let mut none = HeaderMap::new();
        none.insert(
            header::LINK,
            HeaderValue::from_static("<javascript:alert(1)>; rel=hub, <x>"),
        );
        assert_eq!(hub_links(&none, &base), HubLinks::default());
    }

    /// A reqwest error of a request that could not be built.
    fn reqwest_error() -> reqwest::Error {
        install_crypto_provider();
        reqwest::Client::new()
            .get("http://[bad")
            .build()
            .expect_err("not a URL")
    }

    #[test]
    fn messages_show_urls_redacted() {
        let url = Url::parse("http://user:pw@host.example/feed?apikey=K&tag=a").unwrap();
        let errors = [
            FetchError::Status {
                status: 500,
                url: url.clone(),
                retry_after: None,
            },
            FetchError::TooLarge {
                url: url.clone(),
                limit: 1,
            },
            FetchError::Timeout { url: url.clone() },
            FetchError::Redirect {
                url: url.clone(),
                reason: "more than 5 redirects".into(),
            },
            FetchError::Refused {
                url: url.clone(),
                reason: Refusal::NonPublicName {
                    host: "host.example".into(),
                },
                rule: Rule::Article,
            },
            FetchError::MediaType {
                url: url.clone(),
                content_type: Some("audio/mpeg".into()),
            },
            FetchError::from_reqwest(&url, reqwest_error()),
        ];
        for e in errors {
            let shown = ErrorChain(&e).to_string();
            assert!(
                shown.contains("http://host.example/feed?apikey=REDACTED&tag=a"),
                "{shown}"
            );
            assert!(!shown.contains("pw") && !shown.contains("=K"), "{shown}");
        }
    }

    /// The cause of a network error is kept as its source, and shown after the message.
    #[test]
    fn a_network_error_keeps_its_cause() {
        let url = Url::parse("http://host.example/feed").unwrap();
        let e = FetchError::from_reqwest(&url, reqwest_error());
        assert_eq!(e.to_string(), "cannot fetch http://host.example/feed");
        let cause = std::error::Error::source(&e).expect("a source");
        assert!(cause.downcast_ref::<reqwest::Error>().is_some());
        let shown = ErrorChain(&e).to_string();
        assert!(
            shown.starts_with(&format!("cannot fetch http://host.example/feed: {cause}")),
            "{shown}"
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
