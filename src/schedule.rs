//! Scheduling policy: the outcome of a poll → when to poll that feed next. Pure functions;
//! the scheduler sleeps on their answers and the store records them.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Jitter is at most this fraction of the wait (1/10)…
const JITTER_DIVISOR: u32 = 10;
/// …and never more than this, so a daily feed does not drift by hours.
const MAX_JITTER: Duration = Duration::from_secs(15 * 60);

/// When to poll a feed next: after `interval` when the last poll succeeded; after
/// `interval × 2^(errors-1)`, capped at `max_backoff` (but never below `interval`), when it
/// failed `errors` times in a row. A random jitter of up to a tenth of the wait keeps feeds
/// from polling in lockstep.
pub fn next_poll(
    now: DateTime<Utc>,
    interval: Duration,
    errors: u32,
    max_backoff: Duration,
) -> DateTime<Utc> {
    let wait = backoff(interval, errors, max_backoff);
    let jitter_max = (wait / JITTER_DIVISOR).min(MAX_JITTER);
    let jitter = jitter_max.mul_f64(fastrand::f64());
    now + chrono::Duration::from_std(wait + jitter).unwrap_or(chrono::Duration::MAX)
}

/// The wait before the next poll, without jitter.
pub fn backoff(interval: Duration, errors: u32, max_backoff: Duration) -> Duration {
    if errors == 0 {
        return interval;
    }
    let factor = 1u32 << (errors - 1).min(20);
    interval
        .saturating_mul(factor)
        .min(max_backoff.max(interval))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn errors_back_off_exponentially_up_to_the_cap() {
        let cap = Duration::from_secs(24 * 3600);
        let waits: Vec<u64> = (0..5)
            .map(|e| backoff(30 * MIN, e, cap).as_secs() / 60)
            .collect();
        assert_eq!(waits, [30, 30, 60, 120, 240]);
        assert_eq!(backoff(30 * MIN, 40, cap), cap);
        assert_eq!(
            backoff(48 * 60 * MIN, 3, cap),
            48 * 60 * MIN,
            "never below the interval"
        );
    }

    #[test]
    fn jitter_stays_within_a_tenth() {
        let now = Utc::now();
        for _ in 0..100 {
            let next = next_poll(now, 30 * MIN, 0, MIN);
            let wait = (next - now).num_seconds();
            assert!((1800..=1980).contains(&wait), "{wait}");
        }
    }
}
