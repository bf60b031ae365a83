//! `[[outputs]]`: filtered merged feeds beside the default one → [`OutputFilter`]s.

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use super::output::MaxItems;
use super::value::{Bounded, FromToml, Located, NonEmpty, Trimmed, Value};

/// Output paths that the server itself uses.
const RESERVED_PATHS: &[&str] = &["feed", "static", "metrics", "healthz", "readyz", "sources"];
/// The most memory one `include` or `exclude` pattern may compile to (a tenth of the regex
/// crate's default), which bounds what the patterns of a config can cost.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// The shortest `token` accepted, in bytes: shorter ones are guessable.
const MIN_TOKEN_LEN: usize = 16;

/// `min_minutes` and `max_minutes`: 0 to 10,000.
type Minutes = Bounded<0, 10_000>;

/// One `[[outputs]]` entry: a merged feed of the items that pass its filters, served at
/// `/PATH.xml`, `/PATH.atom` and `/PATH.json`.
#[derive(Debug, Clone)]
pub struct OutputFilter {
    /// The path without the leading slash or extension (`rust` for `/rust.xml`).
    pub path: String,
    /// Title; the default output's title otherwise.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Only feeds with one of these tags (empty: every feed).
    pub tags: Vec<String>,
    /// Only items whose title or visible text matches (markup removed, entities decoded).
    pub include: Option<Regex>,
    /// No items whose title or visible text matches.
    pub exclude: Option<Regex>,
    /// Only items that take at least this many minutes to read.
    pub min_minutes: Option<u32>,
    /// Only items that take at most this many minutes to read.
    pub max_minutes: Option<u32>,
    /// Items in this output; `[output] max_items` otherwise.
    pub max_items: Option<usize>,
    /// Secret that readers must pass as `?token=` or `Authorization: Bearer`.
    pub token: Option<String>,
}

/// An `[[outputs]] path`: `/name` or `/a/b`, letters, digits, `-` and `_`, not a path the
/// server uses itself. Held without the leading slash.
struct OutputPath(String);

impl FromToml for OutputPath {
    type Raw = String;

    fn from_toml(v: &String) -> Result<Self, String> {
        let p = v.trim().trim_start_matches('/');
        let ok_part = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !p.split('/').all(ok_part) {
            return Err(format!(
                "{v:?} is not a path like \"/rust\" (letters, digits, - and _)"
            ));
        }
        if RESERVED_PATHS.contains(&p.split('/').next().unwrap_or("")) {
            return Err(format!("{v:?} is used by feedmerge itself"));
        }
        Ok(OutputPath(p.to_owned()))
    }
}

/// A regular expression for `include` or `exclude`, within [`REGEX_SIZE_LIMIT`].
struct Pattern(Regex);

impl FromToml for Pattern {
    type Raw = String;

    fn from_toml(v: &String) -> Result<Self, String> {
        regex::RegexBuilder::new(v)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(Pattern)
            .map_err(|e| format!("{v:?} is not a regular expression: {e}"))
    }
}

/// A `token`: not blank, trimmed, at least [`MIN_TOKEN_LEN`] bytes.
struct Token(String);

impl FromToml for Token {
    type Raw = String;

    fn from_toml(v: &String) -> Result<Self, String> {
        let t = String::from(NonEmpty::from_toml(v)?);
        if t.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "is too short to be a secret (use {MIN_TOKEN_LEN} characters or more)"
            ));
        }
        Ok(Token(t))
    }
}

/// One `[[outputs]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutputFilter {
    path: Spanned<String>,
    title: Value<String>,
    description: Value<String>,
    #[serde(default)]
    tags: Vec<String>,
    include: Value<String>,
    exclude: Value<String>,
    min_minutes: Value<i64>,
    max_minutes: Value<i64>,
    max_items: Value<i64>,
    token: Value<String>,
}

/// Checks every entry in file order; no path may be used twice.
pub(super) fn validate(raw: Vec<RawOutputFilter>) -> Result<Vec<OutputFilter>, Located> {
    let mut outputs: Vec<OutputFilter> = Vec::with_capacity(raw.len());
    for (i, o) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("outputs[{i}].{k}");
        let OutputPath(path) = OutputPath::required(&key("path"), &o.path)?;
        if outputs.iter().any(|p| p.path == path) {
            return Err(Located::at(
                o.path.span(),
                &key("path"),
                format_args!("\"/{path}\" is used twice"),
            ));
        }
        outputs.push(OutputFilter {
            path,
            title: NonEmpty::optional(&key("title"), o.title)?.map(String::from),
            description: Trimmed::optional(&key("description"), o.description)?.map(String::from),
            tags: o.tags,
            include: Pattern::optional(&key("include"), o.include)?.map(|p| p.0),
            exclude: Pattern::optional(&key("exclude"), o.exclude)?.map(|p| p.0),
            min_minutes: Minutes::optional(&key("min_minutes"), o.min_minutes)?.map(u32::from),
            max_minutes: Minutes::optional(&key("max_minutes"), o.max_minutes)?.map(u32::from),
            max_items: MaxItems::optional(&key("max_items"), o.max_items)?.map(usize::from),
            token: Token::optional(&key("token"), o.token)?.map(|t| t.0),
        });
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths() {
        let path = |s: &str| OutputPath::from_toml(&s.to_owned()).map(|p| p.0);
        assert_eq!(path(" /a/b-c_1 "), Ok("a/b-c_1".to_owned()));
        assert_eq!(path("rust"), Ok("rust".to_owned()));
        assert_eq!(path("/metricsx"), Ok("metricsx".to_owned()));
        for bad in ["/", "", "/a//b", "/x.xml", "/a b", "/é"] {
            assert_eq!(
                path(bad),
                Err(format!(
                    "{bad:?} is not a path like \"/rust\" (letters, digits, - and _)"
                ))
            );
        }
        for reserved in ["/feed", "/feed/x", "/sources", "/static"] {
            assert_eq!(
                path(reserved),
                Err(format!("{reserved:?} is used by feedmerge itself"))
            );
        }
    }

    #[test]
    fn patterns_and_tokens() {
        let pattern = |s: &str| Pattern::from_toml(&s.to_owned()).map(|p| p.0);
        assert!(pattern("(?i)cargo").unwrap().is_match("CARGO"));
        assert!(
            pattern("(")
                .unwrap_err()
                .starts_with("\"(\" is not a regular expression: ")
        );
        // Within the syntax, past the size limit.
        assert!(pattern("a{99999}{99999}").is_err());
        let token = |s: &str| Token::from_toml(&s.to_owned()).map(|t| t.0);
        assert_eq!(
            token("  0123456789abcdef "),
            Ok("0123456789abcdef".to_owned())
        );
        assert_eq!(
            token("0123456789abcde "),
            Err("is too short to be a secret (use 16 characters or more)".to_owned())
        );
        assert_eq!(token(" "), Err("must not be empty".to_owned()));
    }
}
