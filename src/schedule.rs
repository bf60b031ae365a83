//! Scheduling policy: the outcome of a poll and the feed's hints → when to poll that feed
//! next, and why. Pure functions; the scheduler sleeps on their answers and the store records
//! them.
//!
//! The policy, in order:
//! 1. Start from the feed's interval (its own, else `[poller] interval`), clamped to
//!    `[poller] min_interval ..= max_interval`.
//! 2. After a success, lengthen it to the longest hint the feed gives — RSS `<ttl>`,
//!    `sy:updatePeriod`/`sy:updateFrequency`, `Cache-Control: max-age` or `Expires` — but never
//!    past `max_interval`. Hints never shorten the interval.
//! 3. After a failure, wait `interval × 2^(errors−1)` up to `max_backoff`, or the server's
//!    `Retry-After` when that is longer.
//! 4. Add a random jitter of up to a tenth of the wait (at most 15 minutes).
//! 5. Move the time past the feed's `skipHours` and `skipDays`.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Datelike, DurationRound, Timelike, Utc};

use crate::model::FeedHints;

/// Jitter is at most this fraction of the wait (1/10)…
const JITTER_DIVISOR: u32 = 10;
/// …and never more than this, so a daily feed does not drift by hours.
const MAX_JITTER: Duration = Duration::from_secs(15 * 60);

/// The limits a feed is scheduled within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The feed's interval, already clamped to `min_interval ..= max_interval`.
    pub interval: Duration,
    /// The longest a hint may stretch the interval to.
    pub max_interval: Duration,
    /// The longest wait after errors.
    pub max_backoff: Duration,
}

/// What decided a feed's next poll time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The configured interval.
    Interval,
    /// RSS `<ttl>`.
    Ttl,
    /// `sy:updatePeriod` / `sy:updateFrequency`.
    UpdatePeriod,
    /// `Cache-Control: max-age` or `Expires`.
    CacheHeaders,
    /// A hint longer than `max_interval` was cut to it.
    MaxInterval,
    /// Moved past `skipHours`.
    SkipHours,
    /// Moved past `skipDays`.
    SkipDays,
    /// Exponential backoff after errors.
    Backoff,
    /// The server's `Retry-After`.
    RetryAfter,
    /// `[websub] poll_interval`: a hub pushes the feed's changes.
    WebSub,
}

impl Reason {
    /// The name stored and shown by `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Interval => "interval",
            Reason::Ttl => "ttl",
            Reason::UpdatePeriod => "sy:updatePeriod",
            Reason::CacheHeaders => "cache headers",
            Reason::MaxInterval => "max_interval",
            Reason::SkipHours => "skipHours",
            Reason::SkipDays => "skipDays",
            Reason::Backoff => "error backoff",
            Reason::RetryAfter => "Retry-After",
            Reason::WebSub => "websub",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When to poll next and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    /// The time.
    pub at: DateTime<Utc>,
    /// What decided it.
    pub reason: Reason,
}

/// The next poll after a successful one (new content or 304). `fresh_for` is what the
/// response's caching headers allow.
pub fn after_success(
    now: DateTime<Utc>,
    policy: &Policy,
    hints: &FeedHints,
    fresh_for: Option<Duration>,
) -> Next {
    let mut wait = policy.interval;
    let mut reason = Reason::Interval;
    for (hint, why) in [
        (hints.ttl, Reason::Ttl),
        (hints.update_period, Reason::UpdatePeriod),
        (fresh_for, Reason::CacheHeaders),
    ] {
        if let Some(hint) = hint.filter(|&h| h > wait) {
            wait = hint;
            reason = why;
        }
    }
    if wait > policy.max_interval {
        wait = policy.max_interval.max(policy.interval);
        reason = Reason::MaxInterval;
    }
    let at = jittered(now, wait);
    skip_forward(at, hints).map_or(Next { at, reason }, |(at, reason)| Next { at, reason })
}

/// The next poll after the `errors`-th failure in a row; `retry_after` is the server's
/// `Retry-After`, honoured up to `max_backoff` (or the interval, if longer).
pub fn after_error(
    now: DateTime<Utc>,
    policy: &Policy,
    errors: u32,
    retry_after: Option<Duration>,
) -> Next {
    let backoff = backoff(policy.interval, errors, policy.max_backoff);
    let cap = policy.max_backoff.max(policy.interval);
    let (wait, reason) = match retry_after.map(|r| r.min(cap)) {
        Some(r) if r > backoff => (r, Reason::RetryAfter),
        _ => (backoff, Reason::Backoff),
    };
    // Retry-After is a floor the server set: jitter only ever adds to it.
    Next {
        at: jittered(now, wait),
        reason,
    }
}

/// The wait after `errors` consecutive failures, without jitter.
pub fn backoff(interval: Duration, errors: u32, max_backoff: Duration) -> Duration {
    if errors == 0 {
        return interval;
    }
    let factor = 1u32 << (errors - 1).min(20);
    interval
        .saturating_mul(factor)
        .min(max_backoff.max(interval))
}

/// `now` + `wait` + a random jitter of up to a tenth of the wait (at most [`MAX_JITTER`]);
/// saturates instead of overflowing.
fn jittered(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    let jitter_max = (wait / JITTER_DIVISOR).min(MAX_JITTER);
    let total = wait.saturating_add(jitter_max.mul_f64(fastrand::f64()));
    chrono::Duration::from_std(total)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The first time at or after `at` outside the feed's skipHours and skipDays (UTC, as RSS
/// defines them), with the reason; `None` when `at` is not skipped. A feed that skips every
/// hour or every day is treated as skipping none, rather than never being polled.
fn skip_forward(at: DateTime<Utc>, hints: &FeedHints) -> Option<(DateTime<Utc>, Reason)> {
    const ALL_HOURS: u32 = (1 << 24) - 1;
    const ALL_DAYS: u8 = (1 << 7) - 1;
    let skip_hours = if hints.skip_hours & ALL_HOURS == ALL_HOURS {
        0
    } else {
        hints.skip_hours
    };
    let skip_days = if hints.skip_days & ALL_DAYS == ALL_DAYS {
        0
    } else {
        hints.skip_days
    };
    if skip_hours == 0 && skip_days == 0 {
        return None;
    }
    let mut t = at;
    let mut reason = None;
    // At most a week of hours; the guards above make an allowed hour exist.
    for _ in 0..(24 * 8) {
        let day_skipped = skip_days & (1 << t.weekday().num_days_from_monday()) != 0;
        let hour_skipped = skip_hours & (1 << t.hour()) != 0;
        if !day_skipped && !hour_skipped {
            break;
        }
        reason = Some(if day_skipped {
            Reason::SkipDays
        } else {
            Reason::SkipHours
        });
        t = t.duration_trunc(chrono::Duration::hours(1)).unwrap_or(t) + chrono::Duration::hours(1);
    }
    reason.map(|r| (t, r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const MIN: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    fn policy() -> Policy {
        Policy {
            interval: 30 * MIN,
            max_interval: 24 * HOUR,
            max_backoff: 24 * HOUR,
        }
    }

    /// Seconds from `now` to the next poll, and the reason.
    fn wait(next: Next, now: DateTime<Utc>) -> (i64, &'static str) {
        ((next.at - now).num_seconds(), next.reason.as_str())
    }

    fn within_jitter(secs: i64, base: Duration) -> bool {
        let base = base.as_secs() as i64;
        (base..=base + (base / 10).min(900)).contains(&secs)
    }

    #[test]
    fn errors_back_off_exponentially_up_to_the_cap() {
        let cap = 24 * HOUR;
        let waits: Vec<u64> = (0..5)
            .map(|e| backoff(30 * MIN, e, cap).as_secs() / 60)
            .collect();
        assert_eq!(waits, [30, 30, 60, 120, 240]);
        assert_eq!(backoff(30 * MIN, 40, cap), cap);
        assert_eq!(
            backoff(48 * HOUR, 3, cap),
            48 * HOUR,
            "never below the interval"
        );
    }

    #[test]
    fn hints_lengthen_but_never_shorten() {
        let now = Utc::now();
        let p = policy();
        let none = FeedHints::default();
        let (s, r) = wait(after_success(now, &p, &none, None), now);
        assert!(within_jitter(s, 30 * MIN) && r == "interval", "{s} {r}");

        let ttl = FeedHints {
            ttl: Some(2 * HOUR),
            ..none
        };
        let (s, r) = wait(after_success(now, &p, &ttl, None), now);
        assert!(within_jitter(s, 2 * HOUR) && r == "ttl", "{s} {r}");

        let short = FeedHints {
            ttl: Some(MIN),
            update_period: Some(5 * MIN),
            ..none
        };
        let (s, r) = wait(after_success(now, &p, &short, Some(10 * MIN)), now);
        assert!(within_jitter(s, 30 * MIN) && r == "interval", "{s} {r}");

        let both = FeedHints {
            ttl: Some(HOUR),
            update_period: Some(6 * HOUR),
            ..none
        };
        let (s, r) = wait(after_success(now, &p, &both, Some(3 * HOUR)), now);
        assert!(
            within_jitter(s, 6 * HOUR) && r == "sy:updatePeriod",
            "{s} {r}"
        );

        let (s, r) = wait(after_success(now, &p, &none, Some(4 * HOUR)), now);
        assert!(
            within_jitter(s, 4 * HOUR) && r == "cache headers",
            "{s} {r}"
        );

        let week = FeedHints {
            ttl: Some(7 * 24 * HOUR),
            ..none
        };
        let (s, r) = wait(after_success(now, &p, &week, None), now);
        assert!(
            within_jitter(s, 24 * HOUR) && r == "max_interval",
            "{s} {r}"
        );
    }

    #[test]
    fn retry_after_wins_when_longer_than_the_backoff() {
        let now = Utc::now();
        let p = policy();
        let (s, r) = wait(after_error(now, &p, 1, Some(2 * HOUR)), now);
        assert!(within_jitter(s, 2 * HOUR) && r == "Retry-After", "{s} {r}");
        let (s, r) = wait(after_error(now, &p, 1, Some(MIN)), now);
        assert!(
            within_jitter(s, 30 * MIN) && r == "error backoff",
            "{s} {r}"
        );
        let (s, r) = wait(after_error(now, &p, 1, Some(1000 * HOUR)), now);
        assert!(within_jitter(s, 24 * HOUR) && r == "Retry-After", "{s} {r}");
        let (s, _) = wait(after_error(now, &p, 3, None), now);
        assert!(within_jitter(s, 2 * HOUR), "{s}");
    }

    #[test]
    fn skip_hours_and_days_move_the_poll_forward() {
        // Wednesday 2024-01-03 10:00 UTC.
        let now = Utc.with_ymd_and_hms(2024, 1, 3, 10, 0, 0).unwrap();
        let p = Policy {
            interval: HOUR,
            max_interval: HOUR,
            max_backoff: HOUR,
        };
        // Hours 11..=14 skipped: the poll due around 11:00 moves to 15:00.
        let hints = FeedHints {
            skip_hours: 0b1111 << 11,
            ..FeedHints::default()
        };
        let next = after_success(now, &p, &hints, None);
        assert_eq!(next.at, Utc.with_ymd_and_hms(2024, 1, 3, 15, 0, 0).unwrap());
        assert_eq!(next.reason, Reason::SkipHours);
        // Wednesday (bit 2) skipped: the poll moves to Thursday 00:00.
        let hints = FeedHints {
            skip_days: 1 << 2,
            ..FeedHints::default()
        };
        let next = after_success(now, &p, &hints, None);
        assert_eq!(next.at, Utc.with_ymd_and_hms(2024, 1, 4, 0, 0, 0).unwrap());
        assert_eq!(next.reason, Reason::SkipDays);
        // Every hour skipped: ignored rather than never polling.
        let hints = FeedHints {
            skip_hours: (1 << 24) - 1,
            ..FeedHints::default()
        };
        assert_eq!(
            after_success(now, &p, &hints, None).reason,
            Reason::Interval
        );
    }

    #[test]
    fn huge_waits_saturate() {
        let now = Utc::now();
        let p = Policy {
            interval: Duration::MAX,
            max_interval: Duration::MAX,
            max_backoff: Duration::MAX,
        };
        assert_eq!(
            after_error(now, &p, 3, Some(Duration::MAX)).at,
            DateTime::<Utc>::MAX_UTC
        );
        assert_eq!(
            after_success(now, &p, &FeedHints::default(), None).at,
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn jitter_stays_within_a_tenth() {
        let now = Utc::now();
        for _ in 0..100 {
            let (s, _) = wait(
                after_success(now, &policy(), &FeedHints::default(), None),
                now,
            );
            assert!(within_jitter(s, 30 * MIN), "{s}");
        }
    }
}
