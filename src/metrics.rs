//! Metrics: what the poller and the server did → Prometheus/OpenMetrics text for `/metrics`
//! (prometheus-client). Counters and histograms are updated where things happen; the feed
//! states are read from the store at scrape time.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FeedLabel {
    feed: String,
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

/// A feed URL as a label: without credentials, query or fragment, which may carry secrets
/// (`?token=`) that have no place in a monitoring system.
fn feed_label(url: &url::Url) -> String {
    let mut clean = url.clone();
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.set_query(None);
    clean.set_fragment(None);
    clean.into()
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
    feeds: Family<StateLabel, Gauge>,
    feeds_repaired: Gauge,
    requests: Family<RequestLabels, Counter>,
    render_duration: Histogram,
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
            feeds: Family::default(),
            feeds_repaired: Gauge::default(),
            requests: Family::default(),
            render_duration: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
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
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Counts one poll of `feed` that ended with `result` (`ok`, `not_modified`, `gone`, or an
    /// error kind such as `timeout` or `parse`).
    pub fn poll(&self, feed: &url::Url, result: &str, elapsed: Duration, consecutive_errors: u32) {
        let feed = &feed_label(feed);
        self.polls
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .inc();
        self.poll_duration.observe(elapsed.as_secs_f64());
        self.feed_errors
            .get_or_create(&FeedLabel {
                feed: feed.to_owned(),
            })
            .set(i64::from(consecutive_errors));
    }

    /// Counts stored items and downloaded bytes.
    pub fn stored(&self, new: usize, updated: usize, bytes: usize) {
        self.items_new.inc_by(new as u64);
        self.items_updated.inc_by(updated as u64);
        self.fetched_bytes.inc_by(bytes as u64);
    }

    /// Forgets per-feed series (after a reload removed feeds).
    pub fn clear_feeds(&self) {
        self.feed_errors.clear();
    }

    /// Sets the number of feeds in `state`.
    pub fn feeds_in_state(&self, state: &str, n: usize) {
        self.feeds
            .get_or_create(&StateLabel {
                state: state.to_owned(),
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

    #[test]
    fn counters_show_in_the_text() {
        let m = Metrics::default();
        let url = |s| url::Url::parse(s).unwrap();
        m.poll(
            &url("https://example.org/f"),
            "ok",
            Duration::from_millis(20),
            0,
        );
        m.poll(
            &url("https://user:pw@example.org/g?token=secret#x"),
            "timeout",
            Duration::from_secs(30),
            3,
        );
        m.stored(5, 1, 1000);
        m.request("/feed.xml", 200);
        m.feeds_in_state("failing", 1);
        m.feeds_repaired(2);
        let text = m.encode();
        for line in [
            "feedmerge_polls_total{result=\"ok\"} 1",
            "feedmerge_polls_total{result=\"timeout\"} 1",
            "feedmerge_items_stored_total 5",
            "feedmerge_items_updated_total 1",
            "feedmerge_fetched_bytes_total 1000",
            "feedmerge_feed_consecutive_errors{feed=\"https://example.org/g\"} 3",
            "feedmerge_http_requests_total{path=\"/feed.xml\",status=\"200\"} 1",
            "feedmerge_feeds{state=\"failing\"} 1",
            "feedmerge_feeds_repaired 2",
            "feedmerge_poll_duration_seconds_count 2",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
