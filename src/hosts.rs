//! Per-host politeness: URL → a permit to send one request to its host. At most `per_host`
//! requests in flight per host, a minimum spacing between their starts, and a pause for every
//! feed of a host that answered 429 or 503 with `Retry-After`.
//!
//! Hosts on the loopback interface are the operator's own services (rss-bridge, RSSHub, a
//! static folder): only `Retry-After` applies to them, not the in-flight or spacing limits.
//!
//! Feeds wait for their host ([`Hosts::acquire`]); article pages only ask
//! ([`Hosts::try_acquire`]), so that a paused or busy host holds up neither the feeds nor the
//! article pages of other hosts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use url::{Host, Url};

/// The politeness limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostLimits {
    /// Requests in flight per host.
    pub per_host: usize,
    /// Minimum time between the starts of two requests to one host.
    pub spacing: Duration,
}

/// The gates of the hosts that have something to remember: requests in flight or waiting,
/// a spacing still running, a `Retry-After` pause.
#[derive(Debug)]
pub struct Hosts {
    limits: HostLimits,
    gates: Mutex<Gates>,
}

/// The gates by host, and the size at which the idle ones are next swept out. Feed
/// publishers choose the hosts their article links name: without the sweep, every host ever
/// linked would keep a gate for the life of the process.
#[derive(Debug)]
struct Gates {
    by_host: HashMap<String, Arc<Gate>>,
    sweep_at: usize,
}

/// The fewest gates kept before idle ones are swept out.
const SWEEP_AT_LEAST: usize = 256;

#[derive(Debug)]
struct Gate {
    /// `None` for loopback hosts: no limit on requests in flight.
    slots: Option<Arc<Semaphore>>,
    /// Earliest start of the next request, and the end of a Retry-After pause.
    times: Mutex<Times>,
    spacing: Duration,
}

#[derive(Debug, Default)]
struct Times {
    next_start: Option<Instant>,
    paused_until: Option<Instant>,
}

/// Stands in for a pause longer than the clock can represent.
const FAR_FUTURE: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Permission to send one request; dropping it frees the host's slot.
#[derive(Debug)]
pub struct HostPermit {
    _slot: Option<OwnedSemaphorePermit>,
}

/// Why a request to a host may not start now ([`Hosts::try_acquire`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotYet {
    /// Paused by `Retry-After`, or too soon after the last start: not before this instant.
    Until(Instant),
    /// As many requests in flight as `per_host` allows: one may end at any moment.
    Busy,
}

/// `host:port` of a URL, the unit politeness applies to.
pub fn key(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

impl Gate {
    /// A gate for a host under `limits`; a `local` (loopback) one has no slots or spacing.
    fn new(local: bool, limits: HostLimits, times: Times) -> Gate {
        Gate {
            slots: (!local).then(|| Arc::new(Semaphore::new(limits.per_host.max(1)))),
            times: Mutex::new(times),
            spacing: if local {
                Duration::ZERO
            } else {
                limits.spacing
            },
        }
    }

    /// Whether the gate remembers nothing a new one would not: nobody holds or waits for it,
    /// no request is in flight, and no spacing or pause is running.
    fn forgettable(self: &Arc<Self>, per_host: usize, now: Instant) -> bool {
        let t = self.times.lock().unwrap_or_else(|p| p.into_inner());
        Arc::strong_count(self) == 1
            && self
                .slots
                .as_ref()
                .is_none_or(|s| s.available_permits() == per_host)
            && [t.next_start, t.paused_until]
                .into_iter()
                .flatten()
                .all(|at| at <= now)
    }
}

impl Hosts {
    /// Gates with `limits`.
    pub fn new(limits: HostLimits) -> Self {
        Hosts {
            limits,
            gates: Mutex::new(Gates {
                by_host: HashMap::new(),
                sweep_at: SWEEP_AT_LEAST,
            }),
        }
    }

    /// Gates with `limits` that keep the `Retry-After` pauses still running here: a reload
    /// that changes the limits must not let a host that asked for a day's pause be asked
    /// again at once. Requests in flight keep the slots of the gates they hold.
    pub fn with_limits(&self, limits: HostLimits) -> Hosts {
        let now = Instant::now();
        let gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        let by_host: HashMap<String, Arc<Gate>> = gates
            .by_host
            .iter()
            .filter_map(|(key, gate)| {
                let t = gate.times.lock().unwrap_or_else(|p| p.into_inner());
                let paused_until = t.paused_until.filter(|&until| until > now)?;
                let times = Times {
                    next_start: None,
                    paused_until: Some(paused_until),
                };
                Some((
                    key.clone(),
                    Arc::new(Gate::new(gate.slots.is_none(), limits, times)),
                ))
            })
            .collect();
        let sweep_at = (by_host.len() * 2).max(SWEEP_AT_LEAST);
        Hosts {
            limits,
            gates: Mutex::new(Gates { by_host, sweep_at }),
        }
    }

    fn gate(&self, url: &Url) -> Arc<Gate> {
        // The map is only touched briefly and never across an await; a poisoned lock still
        // holds a consistent map.
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        let key = key(url);
        if gates.by_host.len() >= gates.sweep_at && !gates.by_host.contains_key(&key) {
            // Amortised: the next sweep waits until the map has doubled again.
            let (per_host, now) = (self.limits.per_host.max(1), Instant::now());
            gates.by_host.retain(|_, g| !g.forgettable(per_host, now));
            gates.sweep_at = (gates.by_host.len() * 2).max(SWEEP_AT_LEAST);
        }
        gates
            .by_host
            .entry(key)
            .or_insert_with(|| Arc::new(Gate::new(is_loopback(url), self.limits, Times::default())))
            .clone()
    }

    /// Waits until a request to `url`'s host may start: a free slot, the spacing since the
    /// last start, and the end of any Retry-After pause.
    pub async fn acquire(&self, url: &Url) -> HostPermit {
        let gate = self.gate(url);
        let slot = match &gate.slots {
            // Invariant: the semaphore is never closed.
            Some(s) => Some(s.clone().acquire_owned().await.expect("semaphore open")),
            None => None,
        };
        loop {
            let wait_until = {
                let mut t = gate.times.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                let ready = [t.next_start, t.paused_until].into_iter().flatten().max();
                match ready.filter(|&r| r > now) {
                    Some(r) => r,
                    None => {
                        t.next_start = Some(now + gate.spacing);
                        break;
                    }
                }
            };
            tokio::time::sleep_until(wait_until).await;
        }
        HostPermit { _slot: slot }
    }

    /// A permit for a request to `url`'s host if one may start now, without waiting. Feeds
    /// waiting in [`Hosts::acquire`] keep their turn: a free slot is theirs first.
    ///
    /// # Errors
    /// [`NotYet`] says until when the host is paused or spaced, or that it is busy.
    pub fn try_acquire(&self, url: &Url) -> Result<HostPermit, NotYet> {
        let gate = self.gate(url);
        let mut t = gate.times.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let Some(ready) = [t.next_start, t.paused_until]
            .into_iter()
            .flatten()
            .max()
            .filter(|&r| r > now)
        {
            return Err(NotYet::Until(ready));
        }
        // A semaphore with waiters has no permit left over: a feed queued in `acquire` is
        // never overtaken here.
        let slot = match &gate.slots {
            Some(s) => Some(s.clone().try_acquire_owned().map_err(|_| NotYet::Busy)?),
            None => None,
        };
        t.next_start = Some(now + gate.spacing);
        Ok(HostPermit { _slot: slot })
    }

    /// Pauses every request to `url`'s host for `wait` (a `Retry-After`).
    pub fn pause(&self, url: &Url, wait: Duration) {
        let gate = self.gate(url);
        let now = Instant::now();
        // Saturate: an absurd Retry-After must not overflow the clock.
        let until = now.checked_add(wait).unwrap_or_else(|| now + FAR_FUTURE);
        let mut t = gate.times.lock().unwrap_or_else(|p| p.into_inner());
        t.paused_until = Some(t.paused_until.map_or(until, |p| p.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Arc<Hosts> {
        Arc::new(Hosts::new(HostLimits {
            per_host: 2,
            spacing: Duration::from_secs(1),
        }))
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn new_limits_keep_the_pauses_still_running() {
        let h = hosts();
        let paused = url("https://paused.example/feed");
        let over = url("https://over.example/feed");
        h.pause(&paused, Duration::from_secs(86_400));
        h.pause(&over, Duration::from_secs(1));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let again = h.with_limits(HostLimits {
            per_host: 4,
            spacing: Duration::ZERO,
        });
        assert!(
            matches!(again.try_acquire(&paused), Err(NotYet::Until(_))),
            "a day's pause survives new limits"
        );
        assert!(again.try_acquire(&over).is_ok(), "an ended pause is gone");
        // The new limits apply: four at once, no spacing.
        let other = url("https://other.example/a");
        let permits: Vec<_> = (0..4).map(|_| again.try_acquire(&other).unwrap()).collect();
        assert_eq!(again.try_acquire(&other).unwrap_err(), NotYet::Busy);
        drop(permits);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_to_one_host_are_spaced_and_bounded() {
        let h = hosts();
        let start = Instant::now();
        let a = h.acquire(&url("https://example.org/a")).await;
        let b = h.acquire(&url("https://example.org/b")).await;
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(1),
            "spacing between starts"
        );
        // Two in flight: a third waits for one to finish, then for the spacing.
        let h2 = h.clone();
        let third = tokio::spawn(async move {
            let _p = h2.acquire(&url("https://example.org/c")).await;
            Instant::now()
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(
            !third.is_finished(),
            "no third request while two are in flight"
        );
        drop(a);
        let started = third.await.unwrap();
        assert_eq!(started - start, Duration::from_secs(6));
        drop(b);
        // Another host is not affected.
        let before = Instant::now();
        let _o = h.acquire(&url("https://example.net/")).await;
        assert_eq!(before.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_pauses_the_whole_host() {
        let h = hosts();
        h.pause(&url("https://example.org/feed1"), Duration::from_secs(120));
        let start = Instant::now();
        let _p = h.acquire(&url("https://example.org/feed2")).await;
        assert_eq!(start.elapsed(), Duration::from_secs(120));
    }

    #[tokio::test(start_paused = true)]
    async fn loopback_is_only_paused_by_retry_after() {
        let h = hosts();
        let start = Instant::now();
        let permits: Vec<_> = acquire_n(&h, "http://127.0.0.1:8000/f", 5).await;
        assert_eq!(permits.len(), 5);
        assert_eq!(start.elapsed(), Duration::ZERO);
        h.pause(&url("http://localhost/x"), Duration::from_secs(3));
        let _p = h.acquire(&url("http://localhost/y")).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn trying_never_waits_and_says_until_when() {
        let h = hosts();
        let a = h.try_acquire(&url("https://example.org/a")).unwrap();
        let start = Instant::now();
        // Spacing first, then the limit of requests in flight.
        assert_eq!(
            h.try_acquire(&url("https://example.org/b")).unwrap_err(),
            NotYet::Until(start + Duration::from_secs(1))
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _b = h.try_acquire(&url("https://example.org/b")).unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            h.try_acquire(&url("https://example.org/c")).unwrap_err(),
            NotYet::Busy
        );
        drop(a);
        assert!(h.try_acquire(&url("https://example.org/c")).is_ok());
        // A pause says when it ends; other hosts go on.
        h.pause(&url("https://example.net/"), Duration::from_secs(86_400));
        assert_eq!(
            h.try_acquire(&url("https://example.net/x")).unwrap_err(),
            NotYet::Until(Instant::now() + Duration::from_secs(86_400))
        );
        assert!(h.try_acquire(&url("http://127.0.0.1:9/x")).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_feed_keeps_its_turn() {
        let h = hosts();
        let a = h.acquire(&url("https://example.org/a")).await;
        let b = h.acquire(&url("https://example.org/b")).await;
        let h2 = h.clone();
        let feed = tokio::spawn(async move { h2.acquire(&url("https://example.org/f")).await });
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(a);
        // The freed slot went to the feed waiting for it.
        assert_eq!(
            h.try_acquire(&url("https://example.org/article"))
                .unwrap_err(),
            NotYet::Busy
        );
        drop((b, feed.await.unwrap()));
    }

    /// Publishers choose the hosts their article links name: the gates of hosts with nothing
    /// to remember go, and a paused or busy host's gate stays.
    #[tokio::test(start_paused = true)]
    async fn gates_of_idle_hosts_do_not_pile_up() {
        let h = hosts();
        h.pause(&url("https://paused.example/"), Duration::from_secs(3600));
        let busy = h.acquire(&url("https://busy.example/")).await;
        for n in 0..10_000 {
            drop(
                h.try_acquire(&url(&format!("https://h{n}.example/")))
                    .unwrap(),
            );
            // Past every spacing: the hosts tried so far have nothing left to remember.
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        assert!(h.len() <= 2 * SWEEP_AT_LEAST, "{} gates", h.len());
        assert!(matches!(
            h.try_acquire(&url("https://paused.example/x")),
            Err(NotYet::Until(_))
        ));
        let _second = h.try_acquire(&url("https://busy.example/")).unwrap();
        assert!(matches!(
            h.try_acquire(&url("https://busy.example/")),
            Err(NotYet::Busy | NotYet::Until(_))
        ));
        drop(busy);
    }

    impl Hosts {
        fn len(&self) -> usize {
            self.gates.lock().unwrap().by_host.len()
        }
    }

    async fn acquire_n(h: &Hosts, u: &str, n: usize) -> Vec<HostPermit> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(h.acquire(&url(u)).await);
        }
        out
    }
}
