//! WebSub, publisher side: the outputs' current renderings → a `hub.mode=publish`
//! notification to `[websub] hub` for each output URL whose content changed since the last
//! one the hub was told of. Changes are looked for at most every [`PUBLISH_CHECK`], so a
//! burst of polls makes one notification, and a poll that changed nothing makes none.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use url::Url;

use crate::fetch::{ErrorChain, Fetcher};
use crate::metrics::Metrics;
use crate::output::Variant;
use crate::redact::Redacted;
use crate::render::Format;
use crate::serve::AppState;

/// How often the data is looked at for a change to announce: changes within it are told
/// to the hub together.
pub const PUBLISH_CHECK: Duration = Duration::from_secs(1);
/// Attempts to notify the hub of one change in a row; the outputs not told are tried again
/// after [`retry_wait`], with the changes since.
pub const PING_ATTEMPTS: u32 = 5;
/// The longest wait before trying again to tell a hub that keeps failing.
pub const MAX_PUBLISH_RETRY: Duration = Duration::from_secs(60 * 60);
/// The wait after the first failed attempt; doubled after each one.
pub const FIRST_PING_RETRY: Duration = Duration::from_secs(1);

/// The wait after `failures` rounds in a row in which the hub was not told everything:
/// [`FIRST_PING_RETRY`] doubled for each, up to [`MAX_PUBLISH_RETRY`].
pub fn retry_wait(failures: u32) -> Duration {
    FIRST_PING_RETRY
        .saturating_mul(1 << failures.min(16))
        .min(MAX_PUBLISH_RETRY)
}

/// What a round of telling the hub came to.
struct Round {
    /// Every rendering reflected the version looked at.
    current: bool,
    /// The hub took every notification due.
    told_all: bool,
}

/// What the publisher reads and tells.
#[derive(Debug, Clone)]
pub struct Publisher {
    /// The hub (`[websub] hub`).
    pub hub: Url,
    /// The server's state: the outputs, their renderings, and the store whose version
    /// says when the data changed.
    pub state: Arc<AppState>,
    /// The HTTP client of the polls (the fetch policy).
    pub fetcher: Fetcher,
    /// Counts the notifications (`feedmerge_websub_pings`).
    pub metrics: Arc<Metrics>,
}

impl Publisher {
    /// Notifies the hub of each change of an output's content until `cancel`.
    pub async fn run(self, cancel: CancellationToken) {
        info!(hub = %Redacted(&self.hub), "outputs announce a WebSub hub, notified of each change");
        // What the hub was last told each URL holds: the hash of its rendering.
        let mut told: HashMap<String, String> = HashMap::new();
        let mut seen = None;
        // Rounds in a row that left an output untold, and when to try again.
        let mut failures = 0;
        let mut not_before = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(PUBLISH_CHECK) => {}
            }
            let version = self.state.store.version();
            if seen == Some(version) || tokio::time::Instant::now() < not_before {
                continue;
            }
            let round = self.publish_changes(version, &mut told, &cancel).await;
            if round.told_all {
                failures = 0;
                if round.current {
                    seen = Some(version);
                }
            } else {
                // Untold outputs are told with the next round, changed or not.
                failures += 1;
                not_before = tokio::time::Instant::now() + retry_wait(failures);
            }
        }
    }

    /// Tells the hub of each announced output whose rendering changed since it was last told;
    /// whether every rendering reflects `version` (a rendering under way elsewhere may still
    /// be older), and whether the hub took every notification.
    async fn publish_changes(
        &self,
        version: u64,
        told: &mut HashMap<String, String>,
        cancel: &CancellationToken,
    ) -> Round {
        let outputs = self.state.feed.outputs();
        let announced = std::iter::once((outputs.default.channel.path.clone(), &outputs.default))
            .chain(outputs.filtered.iter().map(|(name, o)| (name.clone(), o)))
            .filter(|(_, o)| o.channel.hub.is_some());
        let mut current = true;
        let mut told_all = true;
        for (name, output) in announced {
            let variant = Variant::Output(name);
            for format in [Format::Rss, Format::Atom, Format::Json] {
                let rendered = match self
                    .state
                    .feed
                    .rendered(&variant, format, || output.clone())
                    .await
                {
                    Ok(rendered) => rendered,
                    Err(e) => {
                        warn!(error = %ErrorChain(&e), "cannot render an output to announce");
                        current = false;
                        continue;
                    }
                };
                current &= rendered.version >= version;
                let url = output.channel.self_url(format);
                if told.get(&url) == Some(&rendered.hash) {
                    continue;
                }
                if self.ping(&url, cancel).await {
                    told.insert(url, rendered.hash.clone());
                } else {
                    told_all = false;
                }
            }
        }
        Round { current, told_all }
    }

    /// Sends `hub.mode=publish&hub.url=URL`, retried with backoff; `true` when the hub took
    /// it.
    async fn ping(&self, url: &str, cancel: &CancellationToken) -> bool {
        let mut wait = FIRST_PING_RETRY;
        for attempt in 1..=PING_ATTEMPTS {
            let form = [("hub.mode", "publish"), ("hub.url", url)];
            let result = self.fetcher.post_form(&self.hub, &form, None).await;
            self.metrics.websub_ping(result.is_ok());
            match result {
                Ok(_) => {
                    debug!(hub = %Redacted(&self.hub), url, "hub notified");
                    return true;
                }
                Err(e) if attempt < PING_ATTEMPTS => {
                    debug!(hub = %Redacted(&self.hub), url, attempt, error = %ErrorChain(&e), "hub notification failed; retrying");
                }
                Err(e) => {
                    warn!(hub = %Redacted(&self.hub), url, error = %ErrorChain(&e), "hub notification failed; it is tried again later");
                    return false;
                }
            }
            tokio::select! {
                () = cancel.cancelled() => return false,
                () = tokio::time::sleep(wait) => {}
            }
            wait = wait.saturating_mul(2);
        }
        false
    }
}
