//! Whether an item's own content is only a summary, so that its article page is wanted: too
//! few words for the settings, or an ending like a teaser's ("Read more", "…").

use crate::config::{FullText, ReadingTimeConfig};
use crate::model::{NewItem, TextSource};

/// Endings that mark a teaser rather than a whole article (compared in lower case).
const TEASER_ENDINGS: &[&str] = &[
    "…",
    "...",
    "[…]",
    "[...]",
    "read more",
    "continue reading",
    "read the full story",
    "more »",
];

/// Whether `item`'s article page should be fetched under `cfg`: it has a web link, and
/// `always`, or `auto` and its content looks like a summary (fewer than `summary_words`
/// words, or it ends like a teaser).
pub fn wanted(item: &NewItem, visible_text: &str, cfg: &ReadingTimeConfig) -> bool {
    let has_link = item
        .link
        .as_deref()
        .is_some_and(|l| l.starts_with("http://") || l.starts_with("https://"));
    if !has_link {
        return false;
    }
    match cfg.full_text {
        FullText::Never => false,
        FullText::Always => true,
        FullText::Auto => {
            let rt = &item.reading_time;
            let short = rt.words + rt.cjk_chars / 2 < cfg.summary_words;
            // Only the end matters: lower-case the last few dozen characters, not the article.
            let text = visible_text.trim_end();
            let start = text.char_indices().rev().nth(40).map_or(0, |(i, _)| i);
            let tail = text[start..].to_lowercase();
            short
                || rt.source == TextSource::None
                || TEASER_ENDINGS.iter().any(|e| tail.ends_with(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ReadingTime;

    fn item(words: u32, link: Option<&str>) -> NewItem {
        NewItem {
            link: link.map(Into::into),
            title: "t".into(),
            reading_time: ReadingTime {
                minutes: 1,
                words,
                source: TextSource::Summary,
                ..ReadingTime::default()
            },
            ..NewItem::default()
        }
    }

    #[test]
    fn summaries_are_short_or_end_like_teasers() {
        let auto = ReadingTimeConfig::default();
        let link = Some("https://example.org/a");
        assert!(wanted(&item(40, link), "A short teaser.", &auto));
        assert!(!wanted(&item(400, link), "A whole story.", &auto));
        assert!(wanted(&item(400, link), "A long teaser… Read more", &auto));
        assert!(wanted(&item(400, link), "and then […]", &auto));
        assert!(!wanted(&item(40, None), "no link", &auto));
        assert!(!wanted(&item(40, Some("mailto:a@example.org")), "x", &auto));
        let never = ReadingTimeConfig {
            full_text: FullText::Never,
            ..auto
        };
        assert!(!wanted(&item(40, link), "short", &never));
        let always = ReadingTimeConfig {
            full_text: FullText::Always,
            ..auto
        };
        assert!(wanted(&item(4000, link), "long", &always));
    }
}
