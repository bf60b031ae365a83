//! WebSub, subscriber side: the hubs feeds announce → subscriptions (asked for, verified,
//! renewed, given up when a feed leaves the config) → pushed documents handed to
//! `pipeline::refresh_pushed`, exactly as a poll's, at most one per `[websub] push_spacing`
//! per subscription (see [`Subscriber::admit`]); and, while a feed's subscription is
//! active, its polls slowed to `[websub] poll_interval` (see [`Subscriber::pushed_until`]).
//! Every request to a hub goes through the fetch policy ([`crate::fetch::Fetcher::post_form`]).
//!
//! Publisher side: [`publish`] tells `[websub] hub` when an output's content changed.

pub mod publish;
pub mod signature;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use url::Url;

use crate::config::{Config, MAX_DURATION, ReadingTimeConfig, WebsubConfig};
use crate::fetch::{ErrorChain, Fetched};
use crate::metrics::Metrics;
use crate::model::{FeedId, HubLinks, HubSubscription, SubState};
use crate::pipeline::{self, Context};
use crate::redact::{self, Redacted};
use crate::schedule::Policy;
use crate::scheduler::ScheduledFeed;
use crate::store::Store;
use signature::{SECRET_BYTES, SignatureError, TOKEN_BYTES};

/// The path under `[websub] callback_url` (and on the daemon) where hubs call back:
/// `/websub/<token>`.
pub const CALLBACK_PATH: &str = "websub/";
/// The longest `hub.challenge` echoed: hubs send a few dozen characters.
pub const MAX_CHALLENGE_BYTES: usize = 1024;
/// The shortest lease taken from a hub: one granting none (`hub.lease_seconds=0`) would
/// have the subscription lapse, and be asked for again, at once and without end.
pub const MIN_GRANTED_LEASE: Duration = Duration::from_secs(1);
/// A subscription is renewed once this share of its lease has passed.
pub const RENEW_AT: f64 = 0.8;
/// A subscription the hub has not verified by then counts as failed.
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// The wait before asking again after the first failure or refusal; doubled for each one
/// after it, up to [`MAX_RETRY`].
pub const FIRST_RETRY: Duration = Duration::from_secs(5 * 60);
/// The longest wait before asking a hub again.
pub const MAX_RETRY: Duration = Duration::from_secs(24 * 3600);
/// The longest error kept on a subscription, in characters.
const MAX_ERROR_CHARS: usize = 500;

/// Why a hub's verification of intent was refused (answered 404).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No subscription has this callback.
    #[error("unknown callback")]
    Unknown,
    /// The mode, topic or challenge is not that of a request we made.
    #[error("not a request we made: {0}")]
    NotOurs(&'static str),
}

/// Why a push was refused, as counted in `feedmerge_websub_pushes{result}`.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// No active subscription has this callback.
    #[error("unknown callback")]
    Unknown,
    /// The signature is missing or wrong.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The body is not a feed, or could not be stored.
    #[error("cannot take the pushed document: {0}")]
    Unreadable(String),
    /// The daemon is stopping.
    #[error("not taking pushes now")]
    Stopping,
    /// Another push of the subscription is being read, or one was less than `[websub]
    /// push_spacing` ago: this one is not read, and the feed is polled when the spacing ends.
    #[error("a push came within the spacing of the last one (retry after {}s)", .retry_after.as_secs())]
    TooSoon {
        /// When the next push is read (whole seconds, at least one).
        retry_after: Duration,
    },
}

impl PushError {
    /// The `result` label it is counted under.
    pub fn label(&self) -> &'static str {
        match self {
            PushError::Unknown => "unknown",
            PushError::Signature(SignatureError::Missing) => "unsigned",
            PushError::Signature(SignatureError::Bad) => "bad_signature",
            PushError::Unreadable(_) | PushError::Stopping => "unreadable",
            PushError::TooSoon { .. } => "rate_limited",
        }
    }
}

/// A hub's verification of intent: the query of its GET.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Verification {
    /// `subscribe`, `unsubscribe` or `denied`.
    #[serde(rename = "hub.mode")]
    pub mode: Option<String>,
    /// The topic it is about.
    #[serde(rename = "hub.topic")]
    pub topic: Option<String>,
    /// What to echo.
    #[serde(rename = "hub.challenge")]
    pub challenge: Option<String>,
    /// The lease granted, in seconds.
    #[serde(rename = "hub.lease_seconds")]
    pub lease_seconds: Option<u64>,
    /// Why a subscription was denied.
    #[serde(rename = "hub.reason")]
    pub reason: Option<String>,
}

/// The subscriptions to hubs and the work around them. Cheap to clone; one per daemon,
/// kept across reloads.
#[derive(Debug, Clone)]
pub struct Subscriber {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
    /// Wakes the loop of [`Subscriber::run`] when there may be work.
    wake: Notify,
    /// Bumped whenever a feed's [`Subscriber::poll_by`] may have changed (its lease, or a poll owed).
    changed: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct State {
    settings: WebsubConfig,
    /// `[poller] max_body`.
    max_body: u64,
    /// The poll context in force, for pushes and requests to hubs.
    ctx: Weak<Context>,
    subs: HashMap<FeedId, HubSubscription>,
    tokens: HashMap<String, FeedId>,
    /// The configured feeds.
    configured: std::collections::HashSet<FeedId>,
    /// What a push needs of each configured feed that has a subscription (or announced a
    /// hub): a handful, where the configured feeds may be 100,000.
    followed: HashMap<FeedId, Followed>,
    /// Subscriptions whose request is being sent, so that the loop does not send it twice.
    sending: std::collections::HashSet<FeedId>,
    /// The pushes of each configured feed's subscription, as [`Subscriber::admit`] spaces them.
    spacing: HashMap<FeedId, Spacing>,
}

/// One subscription's pushes, spaced: at most one read at a time, and none within `[websub]
/// push_spacing` of the start of the last one read.
#[derive(Debug, Clone, Copy, Default)]
struct Spacing {
    /// When the next push may be read.
    until: Option<DateTime<Utc>>,
    /// Whether a push is being read (its [`PushSlot`] is alive).
    reading: bool,
    /// When the feed is to be polled for the pushes refused: the end of the spacing the first
    /// of them came in. Settled by the first poll that starts then or later
    /// ([`Subscriber::poll_starts`]), which starts after every push refused so far.
    catch_up: Option<DateTime<Utc>>,
}

/// The one push of a subscription being read ([`Subscriber::admit`]); the next is admitted
/// once this is dropped and the spacing has passed.
#[derive(Debug)]
pub struct PushSlot {
    inner: Arc<Inner>,
    token: String,
    feed: FeedId,
}

impl Drop for PushSlot {
    fn drop(&mut self) {
        let mut state = locked(&self.inner.state);
        if let Some(spacing) = state.spacing.get_mut(&self.feed) {
            spacing.reading = false;
        }
    }
}

/// What [`Subscriber::run`] does next.
#[derive(Debug, Default)]
struct Due {
    /// Requests to send.
    requests: Vec<Request>,
    /// Subscriptions changed, to store first.
    changed: Vec<HubSubscription>,
}

/// A configured feed, as a push needs it.
#[derive(Debug, Clone)]
struct Followed {
    url: Url,
    policy: Policy,
    reading: ReadingTimeConfig,
}

/// A request to send to a hub.
#[derive(Debug)]
struct Request {
    feed: FeedId,
    hub: Url,
    topic: Url,
    token: String,
    secret: Option<String>,
    mode: &'static str,
    /// The feed whose document announced the hub (the fetch policy judges the hub by it).
    feed_url: Url,
}

fn locked(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // A panic while holding the lock leaves plain data behind, still consistent enough to go on.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn after(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(wait.min(MAX_DURATION)).unwrap_or(chrono::Duration::zero())
}

/// The wait before asking again after `failures` failures in a row.
fn retry_wait(failures: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(MAX_RETRY)
}

/// The wait before `until`, as a `Retry-After` counts it: in whole seconds, rounded up (a
/// hub that waits exactly that long is not early), at least one.
fn retry_after(now: DateTime<Utc>, until: DateTime<Utc>) -> Duration {
    let nanos = (until - now).to_std().map_or(0, |d| d.as_nanos());
    let secs = u64::try_from(nanos.div_ceil(1_000_000_000)).unwrap_or(u64::MAX);
    Duration::from_secs(secs.max(1))
}

impl State {
    /// The active subscription of the callback `token`.
    fn active(&self, token: &str) -> Option<&HubSubscription> {
        self.tokens
            .get(token)
            .and_then(|feed| self.subs.get(feed))
            .filter(|s| s.state == SubState::Active)
    }

    /// See [`Subscriber::poll_by`].
    fn poll_by(&self, feed: FeedId, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let sub = self.subs.get(&feed)?;
        let lease_end = sub.expires_at.filter(|&e| e > now)?;
        if sub.state != SubState::Active {
            return None;
        }
        let catch_up = self.spacing.get(&feed).and_then(|s| s.catch_up);
        Some(catch_up.map_or(lease_end, |c| c.min(lease_end)))
    }

    /// See [`Subscriber::poll_starts`].
    fn poll_starts(&mut self, feed: FeedId, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if let Some(spacing) = self.spacing.get_mut(&feed)
            && spacing.catch_up.is_some_and(|c| c <= now)
        {
            spacing.catch_up = None;
        }
        self.poll_by(feed, now)
    }

    /// Takes the push slot of the subscription of `token` at `now` (see
    /// [`Subscriber::admit`]): its feed; else why not, and whether a poll is owed now that
    /// was not before.
    fn take_slot(&mut self, token: &str, now: DateTime<Utc>) -> Result<FeedId, (PushError, bool)> {
        let feed = self.active(token).ok_or((PushError::Unknown, false))?.feed;
        // A feed a reload removed, not yet unsubscribed: refused before its body is read, as
        // `take_push` would refuse it after.
        if !self.followed.contains_key(&feed) {
            return Err((PushError::Unknown, false));
        }
        let push_spacing = self.settings.push_spacing;
        let spacing = self.spacing.entry(feed).or_default();
        let until = spacing.until.filter(|&u| u > now);
        if spacing.reading || until.is_some() {
            let until = until.unwrap_or(now);
            // A poll owed already starts after this push too: it is not moved, and the
            // scheduler is told once per spacing, not once per push.
            let owed = spacing.catch_up.is_none();
            if owed {
                spacing.catch_up = Some(until);
            }
            let retry_after = retry_after(now, until);
            return Err((PushError::TooSoon { retry_after }, owed));
        }
        spacing.reading = true;
        spacing.until = Some(after(now, push_spacing));
        Ok(feed)
    }
}

fn short(error: &str) -> String {
    let error = redact::text(error);
    error.chars().take(MAX_ERROR_CHARS).collect()
}

impl Subscriber {
    /// The subscriber of the subscriptions stored in `store`.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn load(
        store: Store,
        metrics: Arc<Metrics>,
    ) -> Result<Self, crate::store::StoreError> {
        let mut state = State::default();
        for sub in store.hub_subscriptions().await? {
            if let Some(token) = &sub.token {
                state.tokens.insert(token.clone(), sub.feed);
            }
            state.subs.insert(sub.feed, sub);
        }
        Ok(Subscriber {
            inner: Arc::new(Inner {
                store,
                metrics,
                state: Mutex::new(state),
                wake: Notify::new(),
                changed: watch::Sender::new(0),
            }),
        })
    }

    /// Puts a config in force: its `[websub]` settings, its feeds (subscriptions of the
    /// others are ended) and its poll context.
    pub fn configure(&self, cfg: &Config, feeds: &[ScheduledFeed], ctx: &Arc<Context>) {
        let mut state = locked(&self.inner.state);
        state.settings = cfg.websub.clone();
        state.max_body = cfg.poller.max_body;
        let State {
            configured,
            followed,
            subs,
            spacing,
            ..
        } = &mut *state;
        *configured = feeds.iter().map(|f| f.state.id).collect();
        *followed = feeds
            .iter()
            .filter(|f| subs.contains_key(&f.state.id))
            .map(|f| {
                let followed = Followed {
                    url: f.state.url.clone(),
                    policy: f.policy,
                    reading: f.reading,
                };
                (f.state.id, followed)
            })
            .collect();
        spacing.retain(|feed, _| configured.contains(feed));
        state.ctx = Arc::downgrade(ctx);
        drop(state);
        self.inner.wake.notify_one();
    }

    /// Until when the hub pushes the changes of `feed`: the end of its active lease, `None`
    /// when it has no active subscription.
    pub fn pushed_until(&self, feed: FeedId) -> Option<DateTime<Utc>> {
        let state = locked(&self.inner.state);
        let sub = state.subs.get(&feed)?;
        let until = sub.expires_at?;
        (sub.state == SubState::Active && until > Utc::now()).then_some(until)
    }

    /// When `feed` is to be polled at the latest while a hub pushes its changes: the end of
    /// its active lease, or sooner the end of a push spacing in which a push was refused;
    /// `None` when it has no active subscription.
    pub fn poll_by(&self, feed: FeedId) -> Option<DateTime<Utc>> {
        locked(&self.inner.state).poll_by(feed, Utc::now())
    }

    /// [`Subscriber::poll_by`] for a poll of `feed` that starts now: a poll owed for refused
    /// pushes that is due by now is this one, and is settled.
    pub fn poll_starts(&self, feed: FeedId) -> Option<DateTime<Utc>> {
        let now = Utc::now();
        locked(&self.inner.state).poll_starts(feed, now)
    }

    /// [`Subscriber::poll_by`] of every feed a hub pushes the changes of now: one entry per
    /// subscription, not per feed.
    pub fn polls_by(&self) -> HashMap<FeedId, DateTime<Utc>> {
        let state = locked(&self.inner.state);
        let now = Utc::now();
        state
            .subs
            .keys()
            .filter_map(|&feed| Some((feed, state.poll_by(feed, now)?)))
            .collect()
    }

    /// The largest push taken, in bytes: `[poller] max_body`, as for a fetched feed.
    pub fn max_body(&self) -> usize {
        usize::try_from(locked(&self.inner.state).max_body).unwrap_or(usize::MAX)
    }

    /// Admits a push to the callback `token` for reading, before any of its body is read:
    /// its subscription's one slot, when the subscription is active, no other push of it is
    /// being read and the last one admitted was `[websub] push_spacing` ago or more. A push
    /// refused for its spacing has the feed polled when the spacing ends
    /// ([`Subscriber::poll_by`]), so what it carried is not lost. A refusal is counted in
    /// `feedmerge_websub_pushes`.
    ///
    /// # Errors
    /// [`PushError::Unknown`] for a callback that takes no pushes, [`PushError::TooSoon`]
    /// within the spacing.
    pub fn admit(&self, token: &str) -> Result<PushSlot, PushError> {
        let result = self.take_slot(token);
        if let Err(e) = &result {
            self.inner.metrics.websub_push(e.label());
        }
        result
    }

    fn take_slot(&self, token: &str) -> Result<PushSlot, PushError> {
        let taken = locked(&self.inner.state).take_slot(token, Utc::now());
        match taken {
            Ok(feed) => Ok(PushSlot {
                inner: self.inner.clone(),
                token: token.to_owned(),
                feed,
            }),
            Err((e, owed)) => {
                if owed {
                    self.bump();
                }
                Err(e)
            }
        }
    }

    /// How often a feed with an active subscription is polled.
    pub fn poll_interval(&self) -> Duration {
        locked(&self.inner.state).settings.poll_interval
    }

    /// Changes whenever a feed's [`Subscriber::poll_by`] may have changed (its lease, or a poll owed).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    fn bump(&self) {
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Takes in the hub and topic `feed` (configured at `feed_url`, polled with `policy` and
    /// `reading`) announces in its last document or its headers. A new hub (or topic)
    /// replaces the one recorded, and is subscribed to when subscribing is on.
    pub async fn announced(
        &self,
        feed: FeedId,
        feed_url: &Url,
        (policy, reading): (Policy, ReadingTimeConfig),
        links: &HubLinks,
    ) {
        let Some(hub) = links.hub.clone() else { return };
        let topic = links.topic.clone().unwrap_or_else(|| feed_url.clone());
        let sub = {
            let mut state = locked(&self.inner.state);
            // A feed a reload removed while it was polled is not followed again.
            if state.configured.contains(&feed) {
                let followed = Followed {
                    url: feed_url.clone(),
                    policy,
                    reading,
                };
                state.followed.insert(feed, followed);
            }
            if let Some(old) = state.subs.get(&feed) {
                if old.hub == hub && old.topic == topic {
                    return;
                }
                if let Some(token) = &old.token {
                    let token = token.clone();
                    state.tokens.remove(&token);
                }
            }
            info!(feed_url = %Redacted(feed_url), hub = %Redacted(&hub), "feed announces a WebSub hub");
            let sub = HubSubscription {
                feed,
                hub,
                topic,
                state: SubState::Announced,
                token: None,
                secret: None,
                expires_at: None,
                renew_at: None,
                failures: 0,
                last_error: None,
            };
            state.subs.insert(feed, sub.clone());
            sub
        };
        self.save(&sub).await;
        self.bump();
        self.inner.wake.notify_one();
    }

    async fn save(&self, sub: &HubSubscription) {
        if let Err(e) = self.inner.store.save_hub_subscription(sub).await {
            warn!(error = %ErrorChain(&e), "cannot store a WebSub subscription");
        }
    }

    /// Answers a hub's verification of intent for the callback `token`: the challenge to
    /// echo for a subscription or unsubscription we asked for, with the topic we asked for;
    /// an empty answer for a denial of one.
    ///
    /// # Errors
    /// [`VerifyError`] for anything else: the hub is answered 404.
    pub async fn verify(&self, token: &str, v: &Verification) -> Result<String, VerifyError> {
        let now = Utc::now();
        let (mode, topic) = (
            v.mode.as_deref().unwrap_or_default(),
            v.topic.as_deref().unwrap_or_default(),
        );
        let (sub, answer, gone) = {
            let mut state = locked(&self.inner.state);
            let requested_lease = state.settings.lease;
            let feed = *state.tokens.get(token).ok_or(VerifyError::Unknown)?;
            let sub = state.subs.get_mut(&feed).ok_or(VerifyError::Unknown)?;
            if Url::parse(topic).ok().as_ref() != Some(&sub.topic) {
                return Err(VerifyError::NotOurs("another topic"));
            }
            let challenge = || {
                v.challenge
                    .clone()
                    .filter(|c| !c.is_empty() && c.len() <= MAX_CHALLENGE_BYTES)
                    .ok_or(VerifyError::NotOurs("no challenge, or one too long"))
            };
            match (mode, sub.state) {
                // Active: only while a renewal is in flight (its `renew_at` moved to the
                // lease's end when it was sent); a verification nobody asked for would extend
                // the lease, and write, at the hub's will.
                ("subscribe", SubState::Pending) | ("subscribe", SubState::Active)
                    if sub.state == SubState::Pending || sub.renew_at == sub.expires_at =>
                {
                    let challenge = challenge()?;
                    let lease = v
                        .lease_seconds
                        .map_or(requested_lease, Duration::from_secs)
                        .clamp(MIN_GRANTED_LEASE, MAX_DURATION);
                    sub.state = SubState::Active;
                    sub.expires_at = Some(after(now, lease));
                    sub.renew_at = Some(after(now, lease.mul_f64(RENEW_AT)));
                    sub.failures = 0;
                    sub.last_error = None;
                    info!(hub = %Redacted(&sub.hub), topic = %Redacted(&sub.topic), lease_s = lease.as_secs(), "WebSub subscription verified");
                    (sub.clone(), challenge, false)
                }
                ("unsubscribe", SubState::Unsubscribing) => {
                    let challenge = challenge()?;
                    let sub = sub.clone();
                    state.subs.remove(&feed);
                    state.tokens.remove(token);
                    (sub, challenge, true)
                }
                ("denied", SubState::Pending | SubState::Active) => {
                    sub.failures = sub.failures.saturating_add(1);
                    sub.state = SubState::Denied;
                    sub.expires_at = None;
                    sub.renew_at = Some(after(now, retry_wait(sub.failures)));
                    sub.last_error = Some(short(&format!(
                        "the hub denied the subscription{}",
                        v.reason
                            .as_deref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    )));
                    warn!(hub = %Redacted(&sub.hub), topic = %Redacted(&sub.topic), "WebSub subscription denied");
                    (sub.clone(), String::new(), false)
                }
                _ => return Err(VerifyError::NotOurs("no such request pending")),
            }
        };
        if gone {
            if let Err(e) = self.inner.store.delete_hub_subscription(sub.feed).await {
                warn!(error = %ErrorChain(&e), "cannot forget a WebSub subscription");
            }
        } else {
            self.save(&sub).await;
        }
        self.bump();
        self.inner.wake.notify_one();
        Ok(answer)
    }

    /// Takes a push admitted in `slot` ([`Subscriber::admit`]): checks its `X-Hub-Signature`
    /// (`signature`) against the subscription's secret, then hands the body to the same
    /// processing as a poll's document. Returns the items stored for the first time. Counted
    /// in `feedmerge_websub_pushes`, accepted or not. The slot is released when it is done.
    ///
    /// # Errors
    /// [`PushError`]: the hub is answered 4xx.
    pub async fn push(
        &self,
        slot: PushSlot,
        signature: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<usize, PushError> {
        let result = self
            .take_push(&slot.token, signature, content_type, body)
            .await;
        drop(slot);
        let label = result
            .as_ref()
            .map_or_else(PushError::label, |_| "accepted");
        self.inner.metrics.websub_push(label);
        result
    }

    async fn take_push(
        &self,
        token: &str,
        signature: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<usize, PushError> {
        let (sub, ctx, feed) = {
            let state = locked(&self.inner.state);
            let sub = state.active(token).ok_or(PushError::Unknown)?;
            let feed = state.followed.get(&sub.feed).ok_or(PushError::Unknown)?;
            (sub.clone(), state.ctx.upgrade(), feed.clone())
        };
        // An active subscription was asked for with a secret; one without (a database edited
        // by hand) takes nothing rather than checking against an empty key.
        let secret = sub.secret.as_deref().ok_or(PushError::Unknown)?;
        signature::verify(signature, secret, &body)?;
        let ctx = ctx.ok_or(PushError::Stopping)?;
        let charset = content_type.and_then(|ct| {
            ct.split(';').skip(1).find_map(|p| {
                let (name, value) = p.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("charset")
                    .then(|| value.trim().trim_matches('"').to_owned())
            })
        });
        let pushed = Fetched {
            // Relative links resolve against the topic, where the document lives.
            url: sub.topic.clone(),
            status: 200,
            body,
            charset,
            content_type: content_type
                .and_then(|ct| ct.split(';').next())
                .map(|ct| ct.trim().to_ascii_lowercase()),
            validators: Default::default(),
            cache: Default::default(),
            moved_to: None,
            links: Box::default(),
        };
        let report = pipeline::refresh_pushed(
            &ctx,
            (sub.feed, &feed.url),
            &feed.policy,
            &feed.reading,
            pushed,
        )
        .await
        .map_err(|e| PushError::Unreadable(short(&ErrorChain(&e).to_string())))?;
        debug!(feed_url = %Redacted(&feed.url), items_new = report, "WebSub push taken");
        Ok(report)
    }

    /// Subscribes, renews, retries and unsubscribes as the subscriptions come due, until
    /// `cancel`.
    pub async fn run(self, cancel: CancellationToken) {
        loop {
            let (due, next) = self.due(Utc::now());
            // Stored before the requests go out (a hub may verify before it answers), and
            // in order with what their answers change.
            for sub in &due.changed {
                self.save(sub).await;
            }
            for request in due.requests {
                self.send(request).await;
            }
            let wait = next.map_or(MAX_RETRY, |at| {
                (at - Utc::now()).to_std().unwrap_or(Duration::ZERO)
            });
            tokio::select! {
                () = cancel.cancelled() => return,
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
            }
        }
    }

    /// The requests due at `now` (their subscriptions marked as asked for) with the
    /// subscriptions changed, and when the next one comes due.
    fn due(&self, now: DateTime<Utc>) -> (Due, Option<DateTime<Utc>>) {
        let mut guard = locked(&self.inner.state);
        let state = &mut *guard;
        let callback = state.settings.callback_url.clone();
        let mut requests = Vec::new();
        let mut next: Option<DateTime<Utc>> = None;
        let mut changed = Vec::new();
        let mut expired = false;
        for sub in state.subs.values_mut() {
            if state.sending.contains(&sub.feed) {
                continue;
            }
            let configured = state.followed.get(&sub.feed);
            // A lease that ended without a renewal.
            if sub.state == SubState::Active && sub.expires_at.is_some_and(|e| e <= now) {
                warn!(hub = %Redacted(&sub.hub), topic = %Redacted(&sub.topic), "WebSub lease ended: polling at the usual interval");
                sub.state = SubState::Expired;
                sub.renew_at = None;
                changed.push(sub.clone());
                expired = true;
            }
            // A request the hub never verified.
            if sub.state == SubState::Pending && sub.renew_at.is_some_and(|r| r <= now) {
                sub.failures = sub.failures.saturating_add(1);
                sub.state = SubState::Failed;
                sub.renew_at = Some(after(now, retry_wait(sub.failures)));
                sub.last_error = Some("the hub did not verify the subscription".to_owned());
                changed.push(sub.clone());
            }
            let due = sub.renew_at.is_none_or(|r| r <= now);
            let request = match (configured, &callback, sub.state) {
                (None, _, SubState::Active | SubState::Pending) => Some("unsubscribe"),
                (Some(_), Some(_), SubState::Announced | SubState::Expired) => Some("subscribe"),
                (Some(_), Some(_), SubState::Active | SubState::Failed | SubState::Denied)
                    if due =>
                {
                    Some("subscribe")
                }
                _ => None,
            };
            if let Some(mode) = request {
                let renewal = sub.state == SubState::Active && mode == "subscribe";
                // A new subscription gets a new callback and secret; a renewal keeps them, so
                // that pushes signed meanwhile still verify.
                if !renewal && mode == "subscribe" || sub.token.is_none() {
                    if let Some(old) = sub.token.take() {
                        state.tokens.remove(&old);
                    }
                    let token = signature::random_hex(TOKEN_BYTES);
                    state.tokens.insert(token.clone(), sub.feed);
                    sub.token = Some(token);
                    sub.secret = Some(signature::random_hex(SECRET_BYTES));
                }
                if mode == "unsubscribe" {
                    sub.state = SubState::Unsubscribing;
                    sub.renew_at = None;
                } else if renewal {
                    // Still active until its lease ends; the verification extends it.
                    sub.renew_at = sub.expires_at;
                } else {
                    sub.state = SubState::Pending;
                    sub.renew_at = Some(after(now, VERIFY_TIMEOUT));
                }
                let feed_url = configured.map_or_else(|| sub.topic.clone(), |f| f.url.clone());
                requests.push(Request {
                    feed: sub.feed,
                    hub: sub.hub.clone(),
                    topic: sub.topic.clone(),
                    token: sub.token.clone().unwrap_or_default(),
                    secret: sub.secret.clone().filter(|_| mode == "subscribe"),
                    mode,
                    feed_url,
                });
                changed.push(sub.clone());
            }
            for at in [
                sub.renew_at,
                sub.expires_at.filter(|_| sub.state == SubState::Active),
            ]
            .into_iter()
            .flatten()
            {
                if configured.is_some() && callback.is_some() || sub.state == SubState::Active {
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
            }
        }
        for r in &requests {
            state.sending.insert(r.feed);
        }
        drop(guard);
        if expired {
            self.bump();
        }
        (Due { requests, changed }, next)
    }

    /// Sends one request to its hub; a failure is recorded on the subscription, which is
    /// asked for again after a backoff.
    async fn send(&self, r: Request) {
        let (fetcher, lease, callback) = {
            let state = locked(&self.inner.state);
            (
                state.ctx.upgrade().map(|c| c.fetcher.clone()),
                state.settings.lease,
                state.settings.callback_url.clone(),
            )
        };
        let result = match (fetcher, callback) {
            (Some(fetcher), Some(base)) => {
                let callback = callback_url(&base, &r.token);
                let lease = lease.as_secs().to_string();
                let mut form = vec![
                    ("hub.mode", r.mode),
                    ("hub.topic", r.topic.as_str()),
                    ("hub.callback", callback.as_str()),
                ];
                if let Some(secret) = &r.secret {
                    form.push(("hub.lease_seconds", lease.as_str()));
                    form.push(("hub.secret", secret.as_str()));
                }
                fetcher
                    .post_form(&r.hub, &form, Some(&r.feed_url))
                    .await
                    .map(|_| ())
                    .map_err(|e| short(&ErrorChain(&e).to_string()))
            }
            _ => Err("subscribing is off ([websub] callback_url is not set)".to_owned()),
        };
        self.inner.metrics.websub_request(r.mode, result.is_ok());
        let changed = {
            let mut state = locked(&self.inner.state);
            state.sending.remove(&r.feed);
            let Some(sub) = state.subs.get_mut(&r.feed) else {
                return;
            };
            match &result {
                Ok(()) => {
                    debug!(hub = %Redacted(&r.hub), mode = r.mode, "WebSub request accepted");
                    None
                }
                Err(error) => {
                    warn!(hub = %Redacted(&r.hub), topic = %Redacted(&r.topic), mode = r.mode, error = %error, "WebSub request failed");
                    if r.mode == "unsubscribe" {
                        // Nothing more to do for a feed we no longer follow: its lease lapses.
                        let token = sub.token.clone();
                        state.subs.remove(&r.feed);
                        if let Some(token) = token {
                            state.tokens.remove(&token);
                        }
                        Some(None)
                    } else {
                        sub.failures = sub.failures.saturating_add(1);
                        sub.last_error = Some(error.clone());
                        sub.renew_at = Some(after(Utc::now(), retry_wait(sub.failures)));
                        // A renewal that failed leaves the lease running; it is tried again
                        // before it ends, else the subscription lapses.
                        if sub.state == SubState::Active {
                            let end = sub.expires_at.unwrap_or_else(Utc::now);
                            sub.renew_at = sub.renew_at.map(|r| r.min(end));
                        } else {
                            sub.state = SubState::Failed;
                        }
                        Some(Some(sub.clone()))
                    }
                }
            }
        };
        match changed {
            Some(Some(sub)) => self.save(&sub).await,
            Some(None) => {
                if let Err(e) = self.inner.store.delete_hub_subscription(r.feed).await {
                    warn!(error = %ErrorChain(&e), "cannot forget a WebSub subscription");
                }
            }
            None => {}
        }
        self.bump();
    }
}

/// The callback URL of the subscription with `token`, under `base` (`[websub]
/// callback_url`).
pub fn callback_url(base: &Url, token: &str) -> Url {
    // Invariant: `base` is an http(s) URL ending in `/` (config), and the token is hex.
    base.join(&format!("{CALLBACK_PATH}{token}"))
        .expect("a hex path joins an http URL")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPACING: Duration = Duration::from_secs(60);

    /// A state with one active subscription (feed 1, callback `t`) leased for a day.
    fn state(now: DateTime<Utc>) -> State {
        let feed = FeedId(1);
        let url = Url::parse("https://example.org/feed.xml").unwrap();
        let sub = HubSubscription {
            feed,
            hub: Url::parse("https://hub.example/").unwrap(),
            topic: url,
            state: SubState::Active,
            token: Some("t".into()),
            secret: Some("s".into()),
            expires_at: Some(now + chrono::TimeDelta::days(1)),
            renew_at: None,
            failures: 0,
            last_error: None,
        };
        let mut state = State::default();
        state.settings.push_spacing = SPACING;
        state.tokens.insert("t".into(), feed);
        let hour = Duration::from_secs(3600);
        let followed = Followed {
            url: sub.topic.clone(),
            policy: Policy {
                interval: hour,
                max_interval: hour,
                max_backoff: hour,
            },
            reading: ReadingTimeConfig::default(),
        };
        state.subs.insert(feed, sub);
        state.configured.insert(feed);
        state.followed.insert(feed, followed);
        state
    }

    fn secs(n: i64) -> chrono::TimeDelta {
        chrono::TimeDelta::seconds(n)
    }

    fn too_soon(taken: Result<FeedId, (PushError, bool)>) -> (u64, bool) {
        match taken {
            Err((PushError::TooSoon { retry_after }, owed)) => (retry_after.as_secs(), owed),
            other => panic!("not refused for its spacing: {other:?}"),
        }
    }

    #[test]
    fn one_push_per_spacing_and_a_poll_when_it_ends_if_one_was_refused() {
        let now = Utc::now();
        let mut state = state(now);
        let lease_end = now + chrono::TimeDelta::days(1);
        assert!(matches!(
            state.take_slot("u", now),
            Err((PushError::Unknown, false))
        ));
        assert_eq!(state.take_slot("t", now).unwrap(), FeedId(1));
        // While it is read (its slot not yet dropped), however late: one at a time.
        assert_eq!(too_soon(state.take_slot("t", now + secs(90))), (1, true));
        let mut state = self::state(now);
        assert_eq!(state.take_slot("t", now).unwrap(), FeedId(1));
        // Read: what dropping its slot does.
        state.spacing.get_mut(&FeedId(1)).unwrap().reading = false;
        assert_eq!(state.poll_by(FeedId(1), now), Some(lease_end));
        // Refused within the spacing: the feed is owed a poll when it ends, asked for once.
        assert_eq!(too_soon(state.take_slot("t", now + secs(10))), (50, true));
        assert_eq!(too_soon(state.take_slot("t", now + secs(59))), (1, false));
        let end = now + secs(60);
        assert_eq!(state.poll_by(FeedId(1), now + secs(59)), Some(end));
        // A poll that starts earlier does not settle it; one that starts then does.
        assert_eq!(state.poll_starts(FeedId(1), now + secs(30)), Some(end));
        assert_eq!(state.poll_starts(FeedId(1), end), Some(lease_end));
        assert_eq!(state.poll_by(FeedId(1), end), Some(lease_end));
        // After the spacing, the next push is read.
        assert_eq!(state.take_slot("t", end).unwrap(), FeedId(1));
    }

    /// A push for a feed a reload removed (its subscription not yet ended) is refused before
    /// its body is read, and leaves nothing behind.
    #[test]
    fn a_push_for_a_feed_no_longer_configured_is_refused_unread() {
        let now = Utc::now();
        let mut state = state(now);
        state.configured.clear();
        state.followed.clear();
        assert!(matches!(
            state.take_slot("t", now),
            Err((PushError::Unknown, false))
        ));
        assert!(state.spacing.is_empty());
    }

    /// Retry-After is rounded up to the second: a hub that waits that long is not early.
    #[test]
    fn retry_after_rounds_up() {
        let now = Utc::now();
        let wait = |d: chrono::TimeDelta| retry_after(now, now + d).as_secs();
        assert_eq!(wait(secs(2) + chrono::TimeDelta::microseconds(400)), 3);
        assert_eq!(wait(chrono::TimeDelta::milliseconds(10_500)), 11);
        assert_eq!(wait(secs(2)), 2);
        assert_eq!(wait(secs(-5)), 1);
    }

    #[test]
    fn a_poll_owed_is_no_earlier_than_the_lease_end_and_only_while_active() {
        let now = Utc::now();
        let mut state = state(now);
        let lease_end = now + secs(30);
        state.subs.get_mut(&FeedId(1)).unwrap().expires_at = Some(lease_end);
        state.take_slot("t", now).unwrap();
        too_soon(state.take_slot("t", now + secs(1)));
        assert_eq!(state.poll_by(FeedId(1), now), Some(lease_end));
        state.subs.get_mut(&FeedId(1)).unwrap().state = SubState::Expired;
        assert_eq!(state.poll_by(FeedId(1), now), None);
    }
}
