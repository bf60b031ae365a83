//! The value types keys are read into: a TOML string or number → a checked duration, size,
//! URL, number in range or non-blank text, or a message that follows the key and is located at
//! the value.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use url::Url;

/// The longest duration any key accepts.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// An optional key as serde read it, with the span of its value.
pub(super) type Value<T> = Option<Spanned<T>>;

/// Where an optional value is; an absent one (whose default broke a rule) is reported at the
/// start of the file.
pub(super) fn span_of<T>(value: &Value<T>) -> Range<usize> {
    value.as_ref().map_or(0..0, Spanned::span)
}

/// A validation error with the byte span of the value at fault.
pub(super) struct Located {
    /// Where the value is in the config text.
    pub(super) span: Range<usize>,
    /// What is wrong, starting with the key (`feeds[3].interval: ...`).
    pub(super) message: String,
}

impl Located {
    /// `key: why`, located at `span`.
    pub(super) fn at(span: Range<usize>, key: &str, why: impl fmt::Display) -> Self {
        Located {
            span,
            message: format!("{key}: {why}"),
        }
    }
}

/// Which side of a bound a duration must keep to ([`check_bound`]).
#[derive(Debug, Clone, Copy)]
pub(super) enum Side {
    /// At least the bound.
    AtLeast,
    /// At most the bound.
    AtMost,
}

/// `value`, the duration of `key` written at `span`, checked against `bound` (named
/// `bound_name` when it is another key's): `1m is shorter than poller.min_interval (5m)`,
/// `2h is longer than 1h`.
pub(super) fn check_bound(
    (span, key): (Range<usize>, &str),
    value: Duration,
    side: Side,
    bound: Duration,
    bound_name: Option<&str>,
) -> Result<(), Located> {
    let (outside, word) = match side {
        Side::AtLeast => (value < bound, "shorter"),
        Side::AtMost => (value > bound, "longer"),
    };
    if !outside {
        return Ok(());
    }
    let bound = humantime::format_duration(bound);
    let bound = match bound_name {
        Some(name) => format!("{name} ({bound})"),
        None => bound.to_string(),
    };
    let value = humantime::format_duration(value);
    Err(Located::at(
        span,
        key,
        format_args!("{value} is {word} than {bound}"),
    ))
}

/// A type a key's TOML value is checked into.
pub(super) trait FromToml: Sized {
    /// What TOML holds for it: `String`, `i64` or `f64`.
    type Raw;

    /// Checks `raw`. The error says what is wrong, worded to follow the key
    /// (`"5x" is not a duration (...)`).
    fn from_toml(raw: &Self::Raw) -> Result<Self, String>;

    /// An optional key: `None` if absent, else the checked value, or an error naming `key`.
    fn optional(key: &str, value: Value<Self::Raw>) -> Result<Option<Self>, Located> {
        value.map(|v| Self::required(key, &v)).transpose()
    }

    /// A key that is always present (serde has already rejected a table without it).
    fn required(key: &str, value: &Spanned<Self::Raw>) -> Result<Self, Located> {
        Self::from_toml(value.get_ref()).map_err(|why| Located::at(value.span(), key, why))
    }
}

/// A humantime duration (`"90s"`, `"15m"`, `"2h"`, `"7d"`), longer than zero and at most
/// [`MAX_DURATION`].
pub(super) struct Timespan(Duration);

impl FromToml for Timespan {
    type Raw = String;

    fn from_toml(s: &String) -> Result<Self, String> {
        let d = humantime::parse_duration(s.trim())
            .map_err(|_| format!("{s:?} is not a duration (try \"15m\", \"90s\" or \"2h\")"))?;
        if d.is_zero() {
            return Err(format!("{s:?} must be longer than zero"));
        }
        if d > MAX_DURATION {
            return Err(format!("{s:?} is longer than a year"));
        }
        Ok(Timespan(d))
    }
}

impl From<Timespan> for Duration {
    fn from(t: Timespan) -> Self {
        t.0
    }
}

/// A size in bytes, more than zero: `"16MiB"`, `"512KiB"`, `"1GB"`, `"2 kb"` or a plain count.
/// Units are case-insensitive; `k`, `m` and `g` are decimal like `kb`, `mb` and `gb`.
pub(super) struct Size(u64);

impl FromToml for Size {
    type Raw = String;

    fn from_toml(s: &String) -> Result<Self, String> {
        let not_a_size = || format!("{s:?} is not a size (try \"16MiB\")");
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "kib" => 1 << 10,
            "m" | "mb" => 1_000_000,
            "mib" => 1 << 20,
            "g" | "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            _ => return Err(not_a_size()),
        };
        digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(factor))
            .filter(|&n| n > 0)
            .map(Size)
            .ok_or_else(not_a_size)
    }
}

impl From<Size> for u64 {
    fn from(s: Size) -> Self {
        s.0
    }
}

/// An absolute http or https URL with a host.
pub(super) struct HttpUrl(Url);

impl FromToml for HttpUrl {
    type Raw = String;

    fn from_toml(s: &String) -> Result<Self, String> {
        let url = Url::parse(s.trim()).map_err(|e| format!("{s:?} is not a URL ({e})"))?;
        match url.scheme() {
            "http" | "https" if url.host().is_some() => Ok(HttpUrl(url)),
            "http" | "https" => Err(format!("{s:?} has no host")),
            other => Err(format!(
                "{s:?}: only http and https are supported, not {other}"
            )),
        }
    }
}

impl From<HttpUrl> for Url {
    fn from(u: HttpUrl) -> Self {
        u.0
    }
}

/// A whole number from `LO` to `HI`. Every bound a key has fits a `u32`.
pub(super) struct Bounded<const LO: u32, const HI: u32>(u32);

impl<const LO: u32, const HI: u32> FromToml for Bounded<LO, HI> {
    type Raw = i64;

    fn from_toml(&n: &i64) -> Result<Self, String> {
        u32::try_from(n)
            .ok()
            .filter(|n| (LO..=HI).contains(n))
            .map(Bounded)
            .ok_or_else(|| format!("{n} is out of range ({LO} to {HI})"))
    }
}

impl<const LO: u32, const HI: u32> From<Bounded<LO, HI>> for u32 {
    fn from(n: Bounded<LO, HI>) -> Self {
        n.0
    }
}

impl<const LO: u32, const HI: u32> From<Bounded<LO, HI>> for usize {
    fn from(n: Bounded<LO, HI>) -> Self {
        // Lossless: usize has at least 32 bits on every target the daemon builds for.
        n.0 as usize
    }
}

/// Text that is not blank, trimmed.
pub(super) struct NonEmpty(String);

impl FromToml for NonEmpty {
    type Raw = String;

    fn from_toml(s: &String) -> Result<Self, String> {
        let t = s.trim();
        if t.is_empty() {
            Err("must not be empty".to_owned())
        } else {
            Ok(NonEmpty(t.to_owned()))
        }
    }
}

impl From<NonEmpty> for String {
    fn from(s: NonEmpty) -> Self {
        s.0
    }
}

/// Any text, trimmed (an empty description is allowed).
pub(super) struct Trimmed(String);

impl FromToml for Trimmed {
    type Raw = String;

    fn from_toml(s: &String) -> Result<Self, String> {
        Ok(Trimmed(s.trim().to_owned()))
    }
}

impl From<Trimmed> for String {
    fn from(s: Trimmed) -> Self {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: FromToml>(raw: impl Into<T::Raw>) -> Result<T, String> {
        T::from_toml(&raw.into())
    }

    #[test]
    fn timespans_are_humantime_within_a_year() {
        let d = |s: &str| check::<Timespan>(s).map(Duration::from);
        assert_eq!(d("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(d(" 15m "), Ok(Duration::from_secs(900)));
        assert_eq!(d("365d"), Ok(MAX_DURATION));
        assert_eq!(
            d("5x"),
            Err(r#""5x" is not a duration (try "15m", "90s" or "2h")"#.to_owned())
        );
        assert_eq!(d("0s"), Err(r#""0s" must be longer than zero"#.to_owned()));
        assert_eq!(d("366d"), Err(r#""366d" is longer than a year"#.to_owned()));
    }

    #[test]
    fn sizes() {
        let size = |s: &str| check::<Size>(s).map(u64::from);
        assert_eq!(size("16MiB"), Ok(16 << 20));
        assert_eq!(size("2 kb"), Ok(2000));
        assert_eq!(size("5m"), Ok(5_000_000));
        assert_eq!(size("1GiB"), Ok(1 << 30));
        assert_eq!(size("100"), Ok(100));
        assert_eq!(size(" 7 B "), Ok(7));
        for bad in [
            "lots",
            "0",
            "",
            "-1",
            "1.5GB",
            "1TiB",
            "18446744073709551615k",
        ] {
            assert_eq!(
                size(bad),
                Err(format!("{bad:?} is not a size (try \"16MiB\")")),
                "{bad}"
            );
        }
        assert_eq!(size("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn http_urls() {
        let url = |s: &str| check::<HttpUrl>(s).map(|u| Url::from(u).to_string());
        assert_eq!(
            url(" https://a.example/x "),
            Ok("https://a.example/x".to_owned())
        );
        assert_eq!(
            url("ftp://a/"),
            Err(r#""ftp://a/": only http and https are supported, not ftp"#.to_owned())
        );
        assert_eq!(
            url("nope"),
            Err(r#""nope" is not a URL (relative URL without a base)"#.to_owned())
        );
        assert_eq!(
            url("http://"),
            Err(r#""http://" is not a URL (empty host)"#.to_owned())
        );
    }

    #[test]
    fn bounded_numbers() {
        let n = |v: i64| check::<Bounded<1, 64>>(v).map(u32::from);
        assert_eq!(n(1), Ok(1));
        assert_eq!(n(64), Ok(64));
        assert_eq!(n(0), Err("0 is out of range (1 to 64)".to_owned()));
        assert_eq!(n(65), Err("65 is out of range (1 to 64)".to_owned()));
        assert_eq!(n(-1), Err("-1 is out of range (1 to 64)".to_owned()));
        assert_eq!(
            n(i64::from(u32::MAX) + 1),
            Err("4294967296 is out of range (1 to 64)".to_owned())
        );
    }

    #[test]
    fn texts_are_trimmed() {
        let non_empty = |s: &str| check::<NonEmpty>(s).map(String::from);
        assert_eq!(non_empty("  a b "), Ok("a b".to_owned()));
        assert_eq!(non_empty(" \t"), Err("must not be empty".to_owned()));
        assert_eq!(check::<Trimmed>(" ").map(String::from), Ok(String::new()));
    }
}
