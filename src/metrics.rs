//! Metrics: what the poller and the server did → Prometheus/OpenMetrics text for `/metrics`
//! (prometheus-client). Counters and histograms are updated where things happen; the feed
//! states are read from the store at scrape time.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::model::{Failure, Health, PollKind};
use crate::redact;

/// `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

/// A feed's label, shared by the series and the lookup by URL (one string per feed, and
/// the URL's own when redacting changes nothing, which is the rule).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FeedLabel {
    feed: Arc<str>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    path: String,
    status: u16,
}

/// The labels of the per-feed series: one per configured feed, by its URL as configured.
#[derive(Debug, Default)]
struct FeedLabels(HashMap<Arc<str>, FeedLabel>);

impl FeedLabels {
    /// Each feed's URL without userinfo and with secret values replaced (`redact`), the rest
    /// of the query kept: rss-bridge and RSSHub feeds differ only there. Two feeds that differ
    /// only in a secret would share a label; the later ones get ` (2)`, ` (3)`… in config
    /// order, so that each keeps a series of its own.
    fn new<'a>(urls: impl IntoIterator<Item = &'a url::Url>) -> Self {
        let mut labels = HashMap::new();
        let mut taken: HashMap<String, usize> = HashMap::new();
        for url in urls {
            let shown = redact::url(url).to_string();
            let n = taken.entry(shown.clone()).or_default();
            *n += 1;
            let key: Arc<str> = url.as_str().into();
            let feed = match *n {
                1 if shown == url.as_str() => key.clone(),
                1 => shown.into(),
                n => format!("{shown} ({n})").into(),
            };
            labels.insert(key, FeedLabel { feed });
        }
        FeedLabels(labels)
    }
}

/// Every metric feedmerge exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    polls: Family<ResultLabel, Counter>,
    poll_duration: Histogram,
    items_new: Counter,
    items_updated: Counter,
    fetched_bytes: Counter,
    feed_errors: Family<FeedLabel, Gauge>,
    feed_labels: RwLock<FeedLabels>,
    feeds: Family<StateLabel, Gauge>,
    feeds_repaired: Gauge,
    requests: Family<RequestLabels, Counter>,
    render_duration: Histogram,
    websub_pushes: Family<ResultLabel, Counter>,
    websub_requests: Family<WebsubRequestLabels, Counter>,
    websub_pings: Family<ResultLabel, Counter>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebsubRequestLabels {
    mode: String,
    result: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("feedmerge");
        let m = Metrics {
            polls: Family::default(),
            poll_duration: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            items_new: Counter::default(),
            items_updated: Counter::default(),
            fetched_bytes: Counter::default(),
            feed_errors: Family::default(),
            feed_labels: RwLock::default(),
            feeds: Family::default(),
            feeds_repaired: Gauge::default(),
            requests: Family::default(),
            render_duration: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            websub_pushes: Family::default(),
            websub_requests: Family::default(),
            websub_pings: Family::default(),
            registry: Registry::default(),
        };
        registry.register("polls", "Feed polls by result", m.polls.clone());
        registry.register_with_unit(
            "poll_duration",
            "Time of one feed poll, waits for the host included",
            Unit::Seconds,
            m.poll_duration.clone(),
        );
        registry.register(
            "items_stored",
            "Items stored for the first time",
            m.items_new.clone(),
        );
        registry.register(
            "items_updated",
            "Stored items whose content changed",
            m.items_updated.clone(),
        );
        registry.register_with_unit(
            "fetched",
            "Feed bodies downloaded, after decompression",
            Unit::Bytes,
            m.fetched_bytes.clone(),
        );
        registry.register(
            "feed_consecutive_errors",
            "Failed polls in a row, per feed",
            m.feed_errors.clone(),
        );
        registry.register("feeds", "Configured feeds by state", m.feeds.clone());
        registry.register(
            "feeds_repaired",
            "Configured feeds whose last document had to be repaired to be read",
            m.feeds_repaired.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests served by route and status",
            m.requests.clone(),
        );
        registry.register_with_unit(
            "render_duration",
            "Time to render the merged feed after a change",
            Unit::Seconds,
            m.render_duration.clone(),
        );
        registry.register(
            "websub_pushes",
            "WebSub content distribution requests received, by result (accepted, or why refused)",
            m.websub_pushes.clone(),
        );
        registry.register(
            "websub_requests",
            "WebSub subscription requests sent to hubs, by mode and result",
            m.websub_requests.clone(),
        );
        registry.register(
            "websub_pings",
            "WebSub publish notifications sent to the configured hub, by result",
            m.websub_pings.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Counts one poll of `feed` that came to `kind`, by why it failed when it did
    /// (`result="timeout"`), else by its kind (`ok`, `not_modified`, `gone`).
    /// `feed` has a `feed_consecutive_errors` series only while configured (see
    /// [`Metrics::set_feeds`]): a poll that ends after a reload removed its feed adds none.
    pub fn poll(
        &self,
        feed: &url::Url,
        kind: PollKind,
        failure: Option<Failure>,
        elapsed: Duration,
        consecutive_errors: u32,
    ) {
        let result = failure.map_or(kind.as_str(), Failure::as_str);
        self.polls
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .inc();
        self.poll_duration.observe(elapsed.as_secs_f64());
        let labels = self.feed_labels.read().unwrap_or_else(|p| p.into_inner());
        if let Some(label) = labels.0.get(feed.as_str()) {
            self.feed_errors
                .get_or_create(label)
                .set(i64::from(consecutive_errors));
        }
    }

    /// Counts stored items and downloaded bytes.
    pub fn stored(&self, new: usize, updated: usize, bytes: usize) {
        self.items_new.inc_by(new as u64);
        self.items_updated.inc_by(updated as u64);
        self.fetched_bytes.inc_by(bytes as u64);
    }

    /// Makes the per-feed series those of `feeds`, the configured feeds with their stored
    /// consecutive errors, in config order: at start-up and after each reload, so that every
    /// feed has its series before it is polled again. A feed that has a series keeps the
    /// value its last poll set, which is at least as new; series of feeds no longer
    /// configured go.
    pub fn set_feeds<'a>(&self, feeds: impl IntoIterator<Item = (&'a url::Url, u32)> + Clone) {
        let new = FeedLabels::new(feeds.clone().into_iter().map(|(url, _)| url));
        let kept: HashSet<&FeedLabel> = new.0.values().collect();
        let mut labels = self.feed_labels.write().unwrap_or_else(|p| p.into_inner());
        for old in labels.0.values().filter(|l| !kept.contains(l)) {
            self.feed_errors.remove(old);
        }
        for (url, errors) in feeds {
            if let Some(label) = new.0.get(url.as_str()) {
                if self.feed_errors.get(label).is_none() {
                    self.feed_errors.get_or_create(label).set(i64::from(errors));
                }
            }
        }
        *labels = new;
    }

    /// Sets the number of feeds of `health` (`feedmerge_feeds{state="failing"}`).
    pub fn feeds_in_state(&self, health: Health, n: usize) {
        self.feeds
            .get_or_create(&StateLabel {
                state: health.as_str().to_owned(),
            })
            .set(n as i64);
    }

    /// Sets the number of feeds whose last document had to be repaired.
    pub fn feeds_repaired(&self, n: usize) {
        self.feeds_repaired.set(n as i64);
    }

    /// Counts one HTTP request served.
    pub fn request(&self, path: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                path: path.to_owned(),
                status,
            })
            .inc();
    }

    /// Counts one WebSub push received: `accepted`, or why it was refused (`unknown`,
    /// `rate_limited`, `unsigned`, `bad_signature`, `too_large`, `unreadable`).
    pub fn websub_push(&self, result: &str) {
        self.websub_pushes
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .inc();
    }

    /// Counts one subscription request (`mode` subscribe or unsubscribe) sent to a hub:
    /// `ok` when the hub took it, else `failed`.
    pub fn websub_request(&self, mode: &str, ok: bool) {
        self.websub_requests
            .get_or_create(&WebsubRequestLabels {
                mode: mode.to_owned(),
                result: if ok { "ok" } else { "failed" }.to_owned(),
            })
            .inc();
    }

    /// Counts one publish notification sent to the configured hub: `ok` or `failed`.
    pub fn websub_ping(&self, ok: bool) {
        self.websub_pings
            .get_or_create(&ResultLabel {
                result: if ok { "ok" } else { "failed" }.to_owned(),
            })
            .inc();
    }

    /// Records the time of one rendering.
    pub fn rendered(&self, elapsed: Duration) {
        self.render_duration.observe(elapsed.as_secs_f64());
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("write to String");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn counters_show_in_the_text() {
        let m = Metrics::default();
        let (f, g) = (
            url("https://example.org/f"),
            url("https://user:pw@example.org/g?token=secret&tag=x#frag"),
        );
        m.set_feeds([(&f, 0), (&g, 0)]);
        m.poll(&f, PollKind::Fetched, None, Duration::from_millis(20), 0);
        let timeout = Some(Failure::Timeout);
        m.poll(&g, PollKind::Failed, timeout, Duration::from_secs(30), 3);
        m.stored(5, 1, 1000);
        m.request("/feed.xml", 200);
        m.feeds_in_state(Health::Failing, 1);
        m.feeds_repaired(2);
        let text = m.encode();
        for line in [
            "feedmerge_polls_total{result=\"ok\"} 1",
            "feedmerge_polls_total{result=\"timeout\"} 1",
            "feedmerge_items_stored_total 5",
            "feedmerge_items_updated_total 1",
            "feedmerge_fetched_bytes_total 1000",
            "feedmerge_feed_consecutive_errors{feed=\"https://example.org/f\"} 0",
            "feedmerge_feed_consecutive_errors{feed=\"https://example.org/g?token=REDACTED&tag=x#frag\"} 3",
            "feedmerge_http_requests_total{path=\"/feed.xml\",status=\"200\"} 1",
            "feedmerge_feeds{state=\"failing\"} 1",
            "feedmerge_feeds_repaired 2",
            "feedmerge_poll_duration_seconds_count 2",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        assert!(!text.contains("secret") && !text.contains("pw@"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    /// Feeds that differ only in the query, or only in a secret, have a series each, from
    /// the stored state before any poll, and keep it across a reload.
    #[test]
    fn every_configured_feed_has_a_series_of_its_own() {
        let m = Metrics::default();
        let feeds = [
            url("https://bridge.example/?action=display&bridge=A"),
            url("https://bridge.example/?action=display&bridge=B"),
            url("https://h.example/f?key=one"),
            url("https://h.example/f?key=two"),
            url("https://h.example/never-polled"),
        ];
        m.set_feeds(feeds.iter().zip([0, 0, 0, 0, 7]));
        let status = Some(Failure::HttpStatus);
        m.poll(&feeds[0], PollKind::Fetched, None, Duration::ZERO, 0);
        m.poll(&feeds[1], PollKind::Failed, status, Duration::ZERO, 4);
        m.poll(&feeds[3], PollKind::Failed, status, Duration::ZERO, 2);
        let text = m.encode();
        for line in [
            "{feed=\"https://bridge.example/?action=display&bridge=A\"} 0",
            "{feed=\"https://bridge.example/?action=display&bridge=B\"} 4",
            "{feed=\"https://h.example/f?key=REDACTED\"} 0",
            "{feed=\"https://h.example/f?key=REDACTED (2)\"} 2",
            "{feed=\"https://h.example/never-polled\"} 7",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }

        // A reload: one feed gone, one new with stored errors; the others keep what their
        // polls set. A poll of the removed feed that ends late adds nothing.
        let added = url("https://h.example/added");
        m.set_feeds(feeds[1..4].iter().map(|u| (u, 0)).chain([(&added, 5)]));
        m.poll(&feeds[0], PollKind::Fetched, None, Duration::ZERO, 0);
        let text = m.encode();
        assert!(!text.contains("bridge=A"), "{text}");
        assert!(!text.contains("never-polled"), "{text}");
        for line in [
            "{feed=\"https://bridge.example/?action=display&bridge=B\"} 4",
            "{feed=\"https://h.example/f?key=REDACTED (2)\"} 2",
            "{feed=\"https://h.example/added\"} 5",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}
