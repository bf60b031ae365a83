//! Metrics: what the poller and the server did → Prometheus/OpenMetrics text for `/metrics`
//! (prometheus-client). Counters and histograms are updated where things happen; the feed
//! states are read from the store at scrape time.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::model::{Failure, FeedId, Health, PollKind};
use crate::redact;

/// `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

/// A feed's label: its URL as configured, without userinfo and with secret values replaced
/// (`redact`), the rest of the query kept (rss-bridge and RSSHub feeds differ only there).
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

/// The per-feed series: one for each configured feed that is failing. Held per configured
/// feed: its id alone (a daemon of 100,000 feeds holds 100,000 of them), and a label only
/// for the feeds whose label is not their URL and for those failing.
#[derive(Debug, Default)]
struct FeedSeries {
    /// The configured feeds.
    configured: HashSet<FeedId>,
    /// The labels that are not the feed's URL: a secret redacted, or a number added.
    renamed: HashMap<FeedId, Arc<str>>,
    /// The feeds that have a series, with its label.
    failing: HashMap<FeedId, FeedLabel>,
}

impl FeedSeries {
    /// The series of `feed` (at `url`) set to `errors`; none at 0.
    fn set(
        &mut self,
        family: &Family<FeedLabel, Gauge>,
        feed: FeedId,
        url: &url::Url,
        errors: u32,
    ) {
        if errors == 0 {
            if let Some(label) = self.failing.remove(&feed) {
                family.remove(&label);
            }
            return;
        }
        let renamed = &self.renamed;
        let label = self.failing.entry(feed).or_insert_with(|| FeedLabel {
            feed: renamed
                .get(&feed)
                .cloned()
                .unwrap_or_else(|| url.as_str().into()),
        });
        family.get_or_create(label).set(i64::from(errors));
    }
}

/// The labels of `feeds` (in config order) that are not their URL. Two feeds that differ
/// only in a secret would share a label; the later ones get ` (2)`, ` (3)`… in config
/// order, so that each keeps a series of its own. Only a redacted URL can share its label
/// with another feed (configured URLs differ), so only those are held while counting.
fn renamed<'a, I>(feeds: &I) -> HashMap<FeedId, Arc<str>>
where
    I: IntoIterator<Item = (FeedId, &'a url::Url, u32)> + Clone,
{
    // Each URL is redacted once; those it changes (a handful) are kept for the second pass.
    let redacted: HashMap<FeedId, String> = feeds
        .clone()
        .into_iter()
        .filter_map(|(id, url, _)| {
            let shown = redact::url(url);
            (shown != *url).then(|| (id, shown.to_string()))
        })
        .collect();
    let mut taken: HashMap<&str, usize> = redacted.values().map(|s| (s.as_str(), 0)).collect();
    let mut renamed = HashMap::new();
    for (id, url, _) in feeds.clone() {
        let shown = redacted.get(&id);
        let key = shown.map_or(url.as_str(), String::as_str);
        let Some(n) = taken.get_mut(key) else {
            continue;
        };
        *n += 1;
        let label = match *n {
            1 if shown.is_none() => continue,
            1 => key.to_owned(),
            n => format!("{key} ({n})"),
        };
        renamed.insert(id, label.into());
    }
    renamed
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
    feed_series: Mutex<FeedSeries>,
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
            feed_series: Mutex::default(),
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
            "Failed polls in a row, per failing feed",
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
    /// Counts one poll of `feed` (at `url`) that came to `kind`, by why it failed when it did
    /// (`result="timeout"`), else by its kind (`ok`, `not_modified`, `gone`), and sets its
    /// `feed_consecutive_errors` series: there while it fails, gone when it polls fine. Only
    /// configured feeds have one (see [`Metrics::set_feeds`]): a poll that ends after a
    /// reload removed its feed adds none.
    pub fn poll(
        &self,
        (feed, url): (FeedId, &url::Url),
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
        let mut series = self.feed_series.lock().unwrap_or_else(|p| p.into_inner());
        if series.configured.contains(&feed) {
            series.set(&self.feed_errors, feed, url, consecutive_errors);
        }
    }

    /// Counts stored items and downloaded bytes.
    pub fn stored(&self, new: usize, updated: usize, bytes: usize) {
        self.items_new.inc_by(new as u64);
        self.items_updated.inc_by(updated as u64);
        self.fetched_bytes.inc_by(bytes as u64);
    }

    /// Makes the per-feed series those of `feeds`, the configured feeds (id, URL) with their
    /// stored consecutive errors, in config order: at start-up and after each reload, so that
    /// every failing feed has its series before it is polled again. A feed that has a series
    /// keeps the value its last poll set, which is at least as new; series of feeds no longer
    /// configured go.
    pub fn set_feeds<'a>(
        &self,
        feeds: impl IntoIterator<Item = (FeedId, &'a url::Url, u32)> + Clone,
    ) {
        let renamed = renamed(&feeds);
        let configured: HashSet<FeedId> = feeds.clone().into_iter().map(|(id, ..)| id).collect();
        let mut series = self.feed_series.lock().unwrap_or_else(|p| p.into_inner());
        // Labels that changed (a feed added or removed changed the numbers) are set again.
        let kept: HashMap<FeedId, i64> = std::mem::take(&mut series.failing)
            .into_iter()
            .filter_map(|(id, label)| {
                let value = self.feed_errors.get(&label).map(|g| g.get());
                self.feed_errors.remove(&label);
                configured.contains(&id).then(|| (id, value.unwrap_or(0)))
            })
            .collect();
        *series = FeedSeries {
            configured,
            renamed,
            failing: HashMap::new(),
        };
        for (id, url, errors) in feeds {
            let errors = kept
                .get(&id)
                .map_or(errors, |&v| u32::try_from(v).unwrap_or(errors));
            series.set(&self.feed_errors, id, url, errors);
        }
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
        m.set_feeds([(FeedId(1), &f, 0), (FeedId(2), &g, 0)]);
        m.poll(
            (FeedId(1), &f),
            PollKind::Fetched,
            None,
            Duration::from_millis(20),
            0,
        );
        let timeout = Some(Failure::Timeout);
        m.poll(
            (FeedId(2), &g),
            PollKind::Failed,
            timeout,
            Duration::from_secs(30),
            3,
        );
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
            "feedmerge_feed_consecutive_errors{feed=\"https://example.org/g?token=REDACTED&tag=x#frag\"} 3",
            "feedmerge_http_requests_total{path=\"/feed.xml\",status=\"200\"} 1",
            "feedmerge_feeds{state=\"failing\"} 1",
            "feedmerge_feeds_repaired 2",
            "feedmerge_poll_duration_seconds_count 2",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        assert!(
            !text.contains("example.org/f\""),
            "a feed that polls fine has no series"
        );
        assert!(!text.contains("secret") && !text.contains("pw@"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    /// Failing feeds that differ only in the query, or only in a secret, have a series each,
    /// from the stored state before any poll, and keep it across a reload; a feed's series
    /// goes when it polls fine.
    #[test]
    fn every_failing_configured_feed_has_a_series_of_its_own() {
        let m = Metrics::default();
        let feeds = [
            url("https://bridge.example/?action=display&bridge=A"),
            url("https://bridge.example/?action=display&bridge=B"),
            url("https://h.example/f?key=one"),
            url("https://h.example/f?key=two"),
            url("https://h.example/never-polled"),
            // Its own URL is the first's label: it is told apart too.
            url("https://h.example/f?key=REDACTED"),
        ];
        let id = |i: usize| FeedId(i as i64 + 1);
        let stored = [3, 0, 1, 0, 7, 2];
        m.set_feeds(
            (0..6)
                .map(|i| (id(i), &feeds[i], stored[i]))
                .collect::<Vec<_>>(),
        );
        let status = Some(Failure::HttpStatus);
        let poll = |i: usize, errors| {
            let (kind, failure) = if errors == 0 {
                (PollKind::Fetched, None)
            } else {
                (PollKind::Failed, status)
            };
            m.poll((id(i), &feeds[i]), kind, failure, Duration::ZERO, errors);
        };
        poll(0, 0);
        poll(1, 4);
        poll(3, 2);
        let text = m.encode();
        for line in [
            "{feed=\"https://bridge.example/?action=display&bridge=B\"} 4",
            "{feed=\"https://h.example/f?key=REDACTED\"} 1",
            "{feed=\"https://h.example/f?key=REDACTED (2)\"} 2",
            "{feed=\"https://h.example/f?key=REDACTED (3)\"} 2",
            "{feed=\"https://h.example/never-polled\"} 7",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        assert!(!text.contains("bridge=A"), "polled fine: no series\n{text}");

        // A reload: two feeds gone, one new with stored errors; the others keep what their
        // polls set. A poll of a removed feed that ends late adds nothing.
        let added = url("https://h.example/added");
        let mut reloaded: Vec<_> = (1..4).map(|i| (id(i), &feeds[i], 0)).collect();
        reloaded.push((FeedId(9), &added, 5));
        m.set_feeds(reloaded);
        poll(0, 6);
        let text = m.encode();
        for gone in ["bridge=A", "never-polled", "(3)"] {
            assert!(!text.contains(gone), "{gone} in\n{text}");
        }
        for line in [
            "{feed=\"https://bridge.example/?action=display&bridge=B\"} 4",
            "{feed=\"https://h.example/f?key=REDACTED\"} 1",
            "{feed=\"https://h.example/f?key=REDACTED (2)\"} 2",
            "{feed=\"https://h.example/added\"} 5",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        poll(1, 0);
        assert!(!m.encode().contains("bridge=B"));
    }
}
