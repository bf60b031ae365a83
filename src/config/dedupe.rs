//! `[dedupe]`: near-duplicate detection across feeds → [`DedupeConfig`].

use std::time::Duration;

use serde::Deserialize;

use super::value::{FromToml, Located, Timespan, Value};

/// Default `[dedupe] near_duplicates`: on.
pub const DEFAULT_NEAR_DUPLICATES: bool = true;
/// Default `[dedupe] threshold`.
pub const DEFAULT_NEAR_THRESHOLD: f64 = 0.7;
/// Default `[dedupe] window`.
pub const DEFAULT_NEAR_WINDOW: Duration = Duration::from_secs(72 * 3600);

/// `[dedupe]`: near-duplicate detection across feeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DedupeConfig {
    /// Show items of different feeds with nearly the same text once.
    pub near_duplicates: bool,
    /// Text similarity (Jaccard of word 4-grams, 0–1) from which two items are one story.
    pub threshold: f64,
    /// A new item dated this recently (news) is compared with the items of the other feeds
    /// first seen this recently; older items are not compared.
    pub window: Duration,
}

/// `[dedupe] threshold`: a similarity from 0.3 to 1.
struct Threshold(f64);

impl FromToml for Threshold {
    type Raw = f64;

    fn from_toml(&t: &f64) -> Result<Self, String> {
        if (0.3..=1.0).contains(&t) {
            Ok(Threshold(t))
        } else {
            Err(format!("{t} is out of range (0.3 to 1.0)"))
        }
    }
}

/// `[dedupe]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDedupe {
    near_duplicates: Option<bool>,
    threshold: Value<f64>,
    window: Value<String>,
}

impl RawDedupe {
    /// Checks each key, in the order of the struct.
    pub(super) fn validate(self) -> Result<DedupeConfig, Located> {
        Ok(DedupeConfig {
            near_duplicates: self.near_duplicates.unwrap_or(DEFAULT_NEAR_DUPLICATES),
            threshold: Threshold::optional("dedupe.threshold", self.threshold)?
                .map_or(DEFAULT_NEAR_THRESHOLD, |t| t.0),
            window: Timespan::optional("dedupe.window", self.window)?
                .map_or(DEFAULT_NEAR_WINDOW, Duration::from),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_range() {
        let t = |v: f64| Threshold::from_toml(&v).map(|t| t.0);
        assert_eq!(t(0.3), Ok(0.3));
        assert_eq!(t(1.0), Ok(1.0));
        assert_eq!(t(0.29), Err("0.29 is out of range (0.3 to 1.0)".to_owned()));
        assert_eq!(t(1.01), Err("1.01 is out of range (0.3 to 1.0)".to_owned()));
        assert_eq!(
            t(f64::NAN),
            Err("NaN is out of range (0.3 to 1.0)".to_owned())
        );
    }
}
