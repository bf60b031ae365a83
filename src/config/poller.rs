//! `[poller]`: how often and how politely feeds are fetched → [`PollerConfig`].

use std::time::Duration;

use serde::Deserialize;

use super::value::{
    Bounded, FromToml, Located, NonEmpty, Side, Size, Timespan, Value, check_bound, span_of,
};

/// Default `[poller] interval`: how often a feed is polled.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// Default `[poller] min_interval`: the floor no feed interval may go below (or `interval`
/// if that is shorter).
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Default `[poller] max_interval`: the longest a feed's hints may stretch its interval (or
/// `interval` if that is longer).
pub const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Default `[poller] per_host`: requests in flight to one host.
pub const DEFAULT_PER_HOST: usize = 2;
/// Default `[poller] per_host_spacing`: minimum time between two requests' starts to one host.
pub const DEFAULT_PER_HOST_SPACING: Duration = Duration::from_millis(250);
/// Default `[poller] max_backoff`: the longest wait after repeated errors.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);
/// Default `[poller] concurrency`: feeds fetched at once. Each poll under way holds its
/// document (body, then items) until stored: a first import of 5000 feeds peaked 8-10 MB
/// lower with 16 than with 32, at the same speed once the log is copied out of the writer's
/// way (`store::checkpoint`). Remote hosts take at most `per_host` requests each anyway.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default `[poller] timeout`: the whole request, body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `[poller] connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `[poller] max_body`: the largest feed body accepted, counted after decompression.
pub const DEFAULT_MAX_BODY: u64 = 16 * 1024 * 1024;
/// Default `[poller] allow_private_redirects`: a feed on a public address cannot redirect
/// into this machine or a private network.
pub const DEFAULT_ALLOW_PRIVATE_REDIRECTS: bool = false;

/// `[poller] per_host`: 1 to 64.
type PerHost = Bounded<1, 64>;
/// `[poller] concurrency`: 1 to 1024.
type Concurrency = Bounded<1, 1024>;

/// The `User-Agent` sent with every request unless `[poller] user_agent` overrides it.
pub fn default_user_agent() -> String {
    format!(
        "feedmerge/{} (feed aggregator; +https://crates.io/crates/feedmerge)",
        env!("CARGO_PKG_VERSION")
    )
}

/// `[poller]`: how feeds are fetched.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    /// Default interval between two polls of a feed.
    pub interval: Duration,
    /// No feed is polled more often than this.
    pub min_interval: Duration,
    /// No hint stretches a feed's interval past this.
    pub max_interval: Duration,
    /// Requests in flight per host.
    pub per_host: usize,
    /// Minimum time between the starts of two requests to one host.
    pub per_host_spacing: Duration,
    /// Longest wait after repeated errors.
    pub max_backoff: Duration,
    /// Feeds fetched at once.
    pub concurrency: usize,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Largest body accepted, after decompression.
    pub max_body: u64,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Let the redirects of a feed whose own URL reached a public address lead anywhere, this
    /// machine and private networks included (judged on the addresses connected to; article
    /// links are not affected). [default: false]
    pub allow_private_redirects: bool,
}

/// `[poller] per_host_spacing`: a humantime duration like [`Timespan`], except that zero is
/// allowed (it turns the spacing off) and there is no upper bound.
struct Spacing(Duration);

impl FromToml for Spacing {
    type Raw = String;

    fn from_toml(v: &String) -> Result<Self, String> {
        humantime::parse_duration(v.trim())
            .map(Spacing)
            .map_err(|_| format!("{v:?} is not a duration (try \"250ms\" or \"1s\")"))
    }
}

/// `[poller]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPoller {
    interval: Value<String>,
    min_interval: Value<String>,
    max_interval: Value<String>,
    max_backoff: Value<String>,
    concurrency: Value<i64>,
    per_host: Value<i64>,
    per_host_spacing: Value<String>,
    timeout: Value<String>,
    connect_timeout: Value<String>,
    max_body: Value<String>,
    user_agent: Value<String>,
    allow_private_redirects: Option<bool>,
}

impl RawPoller {
    /// Checks each key, and that `min_interval <= interval <= max_interval`.
    pub(super) fn validate(self) -> Result<PollerConfig, Located> {
        let interval = Timespan::optional("poller.interval", self.interval)?
            .map_or(DEFAULT_INTERVAL, Duration::from);
        let min_interval_span = span_of(&self.min_interval);
        let min_interval = Timespan::optional("poller.min_interval", self.min_interval)?
            .map_or(DEFAULT_MIN_INTERVAL.min(interval), Duration::from);
        check_bound(
            (min_interval_span, "poller.min_interval"),
            min_interval,
            Side::AtMost,
            interval,
            Some("poller.interval"),
        )?;
        let max_interval_span = span_of(&self.max_interval);
        let max_interval = Timespan::optional("poller.max_interval", self.max_interval)?
            .map_or(DEFAULT_MAX_INTERVAL.max(interval), Duration::from);
        check_bound(
            (max_interval_span, "poller.max_interval"),
            max_interval,
            Side::AtLeast,
            interval,
            Some("poller.interval"),
        )?;
        Ok(PollerConfig {
            interval,
            min_interval,
            max_interval,
            per_host: PerHost::optional("poller.per_host", self.per_host)?
                .map_or(DEFAULT_PER_HOST, usize::from),
            per_host_spacing: Spacing::optional("poller.per_host_spacing", self.per_host_spacing)?
                .map_or(DEFAULT_PER_HOST_SPACING, |s| s.0),
            max_backoff: Timespan::optional("poller.max_backoff", self.max_backoff)?
                .map_or(DEFAULT_MAX_BACKOFF, Duration::from),
            concurrency: Concurrency::optional("poller.concurrency", self.concurrency)?
                .map_or(DEFAULT_CONCURRENCY, usize::from),
            timeout: Timespan::optional("poller.timeout", self.timeout)?
                .map_or(DEFAULT_TIMEOUT, Duration::from),
            connect_timeout: Timespan::optional("poller.connect_timeout", self.connect_timeout)?
                .map_or(DEFAULT_CONNECT_TIMEOUT, Duration::from),
            max_body: Size::optional("poller.max_body", self.max_body)?
                .map_or(DEFAULT_MAX_BODY, u64::from),
            user_agent: NonEmpty::optional("poller.user_agent", self.user_agent)?
                .map_or_else(default_user_agent, String::from),
            allow_private_redirects: self
                .allow_private_redirects
                .unwrap_or(DEFAULT_ALLOW_PRIVATE_REDIRECTS),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spacing_allows_zero_and_has_its_own_hint() {
        let spacing = |s: &str| Spacing::from_toml(&s.to_owned()).map(|s| s.0);
        assert_eq!(spacing("0s"), Ok(Duration::ZERO));
        assert_eq!(spacing(" 5ms "), Ok(Duration::from_millis(5)));
        assert_eq!(
            spacing("100y").map(|d| d > Duration::from_secs(365 * 24 * 3600)),
            Ok(true)
        );
        assert_eq!(
            spacing("x"),
            Err(r#""x" is not a duration (try "250ms" or "1s")"#.to_owned())
        );
    }
}
