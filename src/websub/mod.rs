//! WebSub, subscriber side: the hubs feeds announce → subscriptions (asked for, verified,
//! renewed, given up when a feed leaves the config) → pushed documents handed to
//! `pipeline::refresh_pushed`, exactly as a poll's; and, while a feed's subscription is
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
}

impl PushError {
    /// The `result` label it is counted under.
    pub fn label(&self) -> &'static str {
        match self {
            PushError::Unknown => "unknown",
            PushError::Signature(SignatureError::Missing) => "unsigned",
            PushError::Signature(SignatureError::Bad) => "bad_signature",
            PushError::Unreadable(_) | PushError::Stopping => "unreadable",
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
    /// Bumped whenever a feed's [`Subscriber::pushed_until`] may have changed.
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
    /// The configured feeds, by id.
    configured: HashMap<FeedId, Followed>,
    /// Subscriptions whose request is being sent, so that the loop does not send it twice.
    sending: std::collections::HashSet<FeedId>,
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
        state.configured = feeds
            .iter()
            .map(|f| {
                let followed = Followed {
                    url: f.state.url.clone(),
                    policy: f.policy,
                    reading: f.reading,
                };
                (f.state.id, followed)
            })
            .collect();
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

    /// Every feed a hub pushes the changes of now, with the end of its active lease (what
    /// [`Subscriber::pushed_until`] answers for each): one entry per subscription, not per feed.
    pub fn pushed(&self) -> HashMap<FeedId, DateTime<Utc>> {
        let state = locked(&self.inner.state);
        let now = Utc::now();
        state
            .subs
            .iter()
            .filter(|(_, sub)| sub.state == SubState::Active)
            .filter_map(|(feed, sub)| Some((*feed, sub.expires_at.filter(|&e| e > now)?)))
            .collect()
    }

    /// The largest push taken, in bytes: `[poller] max_body`, as for a fetched feed.
    pub fn max_body(&self) -> usize {
        usize::try_from(locked(&self.inner.state).max_body).unwrap_or(usize::MAX)
    }

    /// Whether `token` is the callback of an active subscription, which takes pushes.
    pub fn takes_pushes(&self, token: &str) -> bool {
        let state = locked(&self.inner.state);
        state
            .tokens
            .get(token)
            .and_then(|feed| state.subs.get(feed))
            .is_some_and(|s| s.state == SubState::Active)
    }

    /// How often a feed with an active subscription is polled.
    pub fn poll_interval(&self) -> Duration {
        locked(&self.inner.state).settings.poll_interval
    }

    /// Changes whenever a feed's [`Subscriber::pushed_until`] may have changed.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    fn bump(&self) {
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Takes in the hub and topic `feed` (configured at `feed_url`) announces in its last
    /// document or its headers. A new hub (or topic) replaces the one recorded, and is
    /// subscribed to when subscribing is on.
    pub async fn announced(&self, feed: FeedId, feed_url: &Url, links: &HubLinks) {
        let Some(hub) = links.hub.clone() else { return };
        let topic = links.topic.clone().unwrap_or_else(|| feed_url.clone());
        let sub = {
            let mut state = locked(&self.inner.state);
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

    /// Takes a push to the callback `token`: checks its `X-Hub-Signature` (`signature`)
    /// against the subscription's secret, then hands the body to the same processing as a
    /// poll's document. Returns the items stored for the first time. Counted in
    /// `feedmerge_websub_pushes`, accepted or not.
    ///
    /// # Errors
    /// [`PushError`]: the hub is answered 4xx.
    pub async fn push(
        &self,
        token: &str,
        signature: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<usize, PushError> {
        let result = self.take_push(token, signature, content_type, body).await;
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
            let sub = state
                .tokens
                .get(token)
                .and_then(|feed| state.subs.get(feed))
                .filter(|s| s.state == SubState::Active)
                .ok_or(PushError::Unknown)?;
            let feed = state.configured.get(&sub.feed).ok_or(PushError::Unknown)?;
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
        let report = pipeline::refresh_pushed(&ctx, &feed.url, &feed.policy, &feed.reading, pushed)
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
            let configured = state.configured.get(&sub.feed);
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
