//! `[websub]`: real time through WebSub hubs, both ways → [`WebsubConfig`]. Subscribing to the
//! hubs feeds announce (on with `callback_url`) and announcing a hub for our own outputs (on
//! with `hub`); both off by default.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::value::{FromToml, HttpUrl, Located, Side, Timespan, Value, check_bound, span_of};

/// Default `[websub] poll_interval`: how often a feed whose hub pushes its changes is still
/// polled, as a safety net against a hub that loses a push.
pub const DEFAULT_WEBSUB_POLL_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Default `[websub] lease`: the subscription length asked of a hub (hubs may grant another);
/// ten days, what most hubs grant at most.
pub const DEFAULT_WEBSUB_LEASE: Duration = Duration::from_secs(10 * 24 * 3600);
/// The shortest `[websub] lease` accepted: a subscription is renewed at 80 % of its lease,
/// and a hub needs time to verify it.
pub const MIN_WEBSUB_LEASE: Duration = Duration::from_secs(60);
/// Default `[websub] push_spacing`: the least time between two pushes read for one
/// subscription. A feed rarely changes more than once a minute; a push refused within the
/// spacing is retried by hubs later (WebSub asks them to retry failed deliveries, within
/// limits of their own), and whatever the hub does the feed is polled when the spacing ends.
/// So a story is held back a minute at most, while a hub (which the feed's publisher may run)
/// makes the daemon read, verify, parse and store at most two documents a minute per feed:
/// one pushed, and one polled when the spacing of a push it refused ends.
pub const DEFAULT_WEBSUB_PUSH_SPACING: Duration = Duration::from_secs(60);
/// The longest `[websub] push_spacing` accepted: a story refused within the spacing waits
/// for its end, and longer would hold it back more than a push is worth.
pub const MAX_WEBSUB_PUSH_SPACING: Duration = Duration::from_secs(3600);

/// `[websub]`: subscribing to feeds' hubs, and the hub announced for the outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebsubConfig {
    /// The public base URL where hubs reach this daemon; each subscription's callback is
    /// `<callback_url>websub/<token>`. `None`: subscribing is off. [default: none]
    pub callback_url: Option<Url>,
    /// How often a feed with an active subscription is still polled.
    pub poll_interval: Duration,
    /// The lease asked of hubs.
    pub lease: Duration,
    /// The least time between two pushes read for one subscription; one sooner is answered
    /// 429 unread, and the feed is polled when the spacing ends.
    pub push_spacing: Duration,
    /// The external hub announced in every output and pinged when an output changes.
    /// `None`: publishing is off. [default: none]
    pub hub: Option<Url>,
}

impl Default for WebsubConfig {
    fn default() -> Self {
        WebsubConfig {
            callback_url: None,
            poll_interval: DEFAULT_WEBSUB_POLL_INTERVAL,
            lease: DEFAULT_WEBSUB_LEASE,
            push_spacing: DEFAULT_WEBSUB_PUSH_SPACING,
            hub: None,
        }
    }
}

/// `[websub]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebsub {
    callback_url: Value<String>,
    poll_interval: Value<String>,
    lease: Value<String>,
    push_spacing: Value<String>,
    hub: Value<String>,
}

impl RawWebsub {
    /// Checks each key; `callback_url` is made a base (ending in `/`) that the callbacks'
    /// paths are joined to, and may carry no query or fragment.
    pub(super) fn validate(self) -> Result<WebsubConfig, Located> {
        let callback_span = span_of(&self.callback_url);
        let callback_url = HttpUrl::optional("websub.callback_url", self.callback_url)?
            .map(Url::from)
            .map(|mut url| {
                if url.query().is_some() || url.fragment().is_some() {
                    return Err(Located::at(
                        callback_span.clone(),
                        "websub.callback_url",
                        "must not have a query or a fragment (hubs add their own query)",
                    ));
                }
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                Ok(url)
            })
            .transpose()?;
        let lease_span = span_of(&self.lease);
        let lease = Timespan::optional("websub.lease", self.lease)?
            .map_or(DEFAULT_WEBSUB_LEASE, Duration::from);
        let lease_key = (lease_span, "websub.lease");
        check_bound(lease_key, lease, Side::AtLeast, MIN_WEBSUB_LEASE, None)?;
        let spacing_span = span_of(&self.push_spacing);
        let push_spacing = Timespan::optional("websub.push_spacing", self.push_spacing)?
            .map_or(DEFAULT_WEBSUB_PUSH_SPACING, Duration::from);
        let spacing_key = (spacing_span, "websub.push_spacing");
        check_bound(
            spacing_key,
            push_spacing,
            Side::AtMost,
            MAX_WEBSUB_PUSH_SPACING,
            None,
        )?;
        Ok(WebsubConfig {
            callback_url,
            poll_interval: Timespan::optional("websub.poll_interval", self.poll_interval)?
                .map_or(DEFAULT_WEBSUB_POLL_INTERVAL, Duration::from),
            lease,
            push_spacing,
            hub: HttpUrl::optional("websub.hub", self.hub)?.map(Url::from),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn parse(text: &str) -> Result<WebsubConfig, String> {
        Config::parse(text, Path::new("/etc/feedmerge/config.toml"))
            .map(|c| c.websub)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn off_by_default() {
        assert_eq!(parse("").unwrap(), WebsubConfig::default());
        assert_eq!(parse("[websub]\n").unwrap(), WebsubConfig::default());
    }

    #[test]
    fn keys_are_validated() {
        let cfg = parse(
            "[websub]\ncallback_url = \"https://news.example/feedmerge\"\npoll_interval = \"12h\"\nlease = \"2d\"\npush_spacing = \"5s\"\nhub = \"https://hub.example/\"\n",
        )
        .unwrap();
        assert_eq!(
            cfg.callback_url.unwrap().as_str(),
            "https://news.example/feedmerge/"
        );
        assert_eq!(cfg.poll_interval, Duration::from_secs(12 * 3600));
        assert_eq!(cfg.lease, Duration::from_secs(2 * 24 * 3600));
        assert_eq!(cfg.push_spacing, Duration::from_secs(5));
        assert_eq!(cfg.hub.unwrap().as_str(), "https://hub.example/");
        let e = parse("[websub]\ncallback_url = \"ftp://x.example/\"\n").unwrap_err();
        assert!(e.contains(":2: websub.callback_url"), "{e}");
        let e = parse("[websub]\ncallback_url = \"https://x.example/?a=b\"\n").unwrap_err();
        assert!(
            e.contains(":2: websub.callback_url: must not have a query"),
            "{e}"
        );
        let e = parse("[websub]\n\nlease = \"10s\"\n").unwrap_err();
        assert!(
            e.contains(":3: websub.lease: 10s is shorter than 1m"),
            "{e}"
        );
        let e = parse("[websub]\npush_spacing = \"2h\"\n").unwrap_err();
        assert!(
            e.contains(":2: websub.push_spacing: 2h is longer than 1h"),
            "{e}"
        );
        let e = parse("[websub]\npush_spacing = \"0s\"\n").unwrap_err();
        assert!(e.contains(":2: websub.push_spacing"), "{e}");
        let e = parse("[websub]\npoll_interval = \"often\"\n").unwrap_err();
        assert!(e.contains(":2: websub.poll_interval"), "{e}");
        let e = parse("[websub]\nhubb = \"x\"\n").unwrap_err();
        assert!(e.contains(":2: websub.hubb: unknown key"), "{e}");
    }
}
