//! `[reading_time]`: how the "N min read" estimate is made and shown → [`ReadingTimeConfig`].

use serde::Deserialize;

use super::value::{Bounded, FromToml, Located, Value};

/// Default `[reading_time] words_per_minute` (silent reading of non-fiction, Brysbaert 2019).
pub const DEFAULT_WORDS_PER_MINUTE: u32 = 238;
/// Default `[reading_time] cjk_chars_per_minute`.
pub const DEFAULT_CJK_CHARS_PER_MINUTE: u32 = 500;
/// Default `[reading_time] full_text`.
pub const DEFAULT_FULL_TEXT: FullText = FullText::Auto;
/// Default `[reading_time] summary_words`: content shorter than this looks like a summary.
pub const DEFAULT_SUMMARY_WORDS: u32 = 150;
/// Default `[reading_time] include_full_text`: the feed's own content is served.
pub const DEFAULT_INCLUDE_FULL_TEXT: bool = false;
/// Default `[reading_time] placement`.
pub const DEFAULT_PLACEMENT: Placement = Placement::Description;

/// A reading speed (`words_per_minute`, `cjk_chars_per_minute`, here and in `[[feeds]]`):
/// 1 to 10,000.
pub(super) type Speed = Bounded<1, 10_000>;
/// `[reading_time] summary_words`: 0 to 100,000.
type SummaryWords = Bounded<0, 100_000>;

/// `[reading_time]`: how the "N min read" estimate is made and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadingTimeConfig {
    /// Words per minute for alphabetic scripts.
    pub words_per_minute: u32,
    /// Characters per minute for Han, Hiragana, Katakana and Hangul.
    pub cjk_chars_per_minute: u32,
    /// When to fetch the article page.
    pub full_text: FullText,
    /// With `full_text = "auto"`, content of fewer words than this counts as a summary.
    pub summary_words: u32,
    /// Put the extracted article (sanitised) into the merged feed as the item's content.
    pub include_full_text: bool,
    /// Where people see "N min read".
    pub placement: Placement,
}

impl Default for ReadingTimeConfig {
    fn default() -> Self {
        Self {
            words_per_minute: DEFAULT_WORDS_PER_MINUTE,
            cjk_chars_per_minute: DEFAULT_CJK_CHARS_PER_MINUTE,
            full_text: DEFAULT_FULL_TEXT,
            summary_words: DEFAULT_SUMMARY_WORDS,
            include_full_text: DEFAULT_INCLUDE_FULL_TEXT,
            placement: DEFAULT_PLACEMENT,
        }
    }
}

/// When to fetch the article page to estimate from the whole text (`full_text`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullText {
    /// When the item's content looks like a summary (short, or ends in "…" or "Read more").
    Auto,
    /// For every item with a link.
    Always,
    /// Never: estimate from what the feed carries.
    Never,
}

impl FromToml for FullText {
    type Raw = String;

    fn from_toml(v: &String) -> Result<Self, String> {
        match v.trim() {
            "auto" => Ok(FullText::Auto),
            "always" => Ok(FullText::Always),
            "never" => Ok(FullText::Never),
            _ => Err(format!("{v:?} is not \"auto\", \"always\" or \"never\"")),
        }
    }
}

/// Where "N min read" is shown to people (`placement`); the machine-readable estimate is
/// always there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A paragraph at the start of the description.
    Description,
    /// Appended to the title: "Title (2 min read)".
    Title,
    /// Both.
    Both,
    /// Neither.
    None,
}

impl FromToml for Placement {
    type Raw = String;

    fn from_toml(v: &String) -> Result<Self, String> {
        match v.trim() {
            "description" => Ok(Placement::Description),
            "title" => Ok(Placement::Title),
            "both" => Ok(Placement::Both),
            "none" => Ok(Placement::None),
            _ => Err(format!(
                "{v:?} is not \"description\", \"title\", \"both\" or \"none\""
            )),
        }
    }
}

/// `[reading_time]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReadingTime {
    words_per_minute: Value<i64>,
    cjk_chars_per_minute: Value<i64>,
    full_text: Value<String>,
    summary_words: Value<i64>,
    include_full_text: Option<bool>,
    placement: Value<String>,
}

impl RawReadingTime {
    /// Checks each key, in the order of the struct.
    pub(super) fn validate(self) -> Result<ReadingTimeConfig, Located> {
        Ok(ReadingTimeConfig {
            words_per_minute: Speed::optional(
                "reading_time.words_per_minute",
                self.words_per_minute,
            )?
            .map_or(DEFAULT_WORDS_PER_MINUTE, u32::from),
            cjk_chars_per_minute: Speed::optional(
                "reading_time.cjk_chars_per_minute",
                self.cjk_chars_per_minute,
            )?
            .map_or(DEFAULT_CJK_CHARS_PER_MINUTE, u32::from),
            full_text: FullText::optional("reading_time.full_text", self.full_text)?
                .unwrap_or(DEFAULT_FULL_TEXT),
            summary_words: SummaryWords::optional(
                "reading_time.summary_words",
                self.summary_words,
            )?
            .map_or(DEFAULT_SUMMARY_WORDS, u32::from),
            include_full_text: self.include_full_text.unwrap_or(DEFAULT_INCLUDE_FULL_TEXT),
            placement: Placement::optional("reading_time.placement", self.placement)?
                .unwrap_or(DEFAULT_PLACEMENT),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_are_exact_but_trimmed() {
        let full_text = |s: &str| FullText::from_toml(&s.to_owned());
        assert_eq!(full_text(" never "), Ok(FullText::Never));
        assert_eq!(full_text("always"), Ok(FullText::Always));
        assert_eq!(
            full_text("Auto"),
            Err(r#""Auto" is not "auto", "always" or "never""#.to_owned())
        );
        let placement = |s: &str| Placement::from_toml(&s.to_owned());
        assert_eq!(placement(" none "), Ok(Placement::None));
        assert_eq!(placement("both"), Ok(Placement::Both));
        assert_eq!(
            placement("x"),
            Err(r#""x" is not "description", "title", "both" or "none""#.to_owned())
        );
    }
}
