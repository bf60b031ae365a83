//! Full text: an article page → its main content (readability-style extraction with
//! dom_smoothie), and the rule that decides when an item's own content is only a summary.

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

/// Elements dom_smoothie parses at most, which bounds the work one hostile page can cause.
const MAX_ELEMENTS: usize = 50_000;

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

/// Decodes an HTML page: the HTTP charset, else a `<meta charset>` near the top, else UTF-8
/// (invalid bytes replaced).
pub fn decode(bytes: &[u8], http_charset: Option<&str>) -> String {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]).to_ascii_lowercase();
    let meta = head.find("charset=").map(|i| {
        head[i + 8..]
            .trim_start_matches(['"', '\''])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'))
            .collect::<String>()
    });
    let encoding = http_charset
        .map(str::to_owned)
        .or(meta)
        .and_then(|label| encoding_rs::Encoding::for_label(label.trim().as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    encoding.decode(bytes).0.into_owned()
}

/// The main content of an HTML page as HTML, or `None` when none can be found.
pub fn extract(page: &str, url: &str) -> Option<String> {
    let cfg = dom_smoothie::Config {
        max_elements_to_parse: MAX_ELEMENTS,
        ..Default::default()
    };
    let mut readability = dom_smoothie::Readability::new(page, Some(url), Some(cfg)).ok()?;
    let article = readability.parse().ok()?;
    let content = article.content.to_string();
    (!article.text_content.trim().is_empty()).then_some(content)
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

    #[test]
    fn pages_decode_by_header_meta_or_utf8() {
        let latin1 = b"<html><head><meta charset=\"iso-8859-1\"></head><body>caf\xe9</body></html>";
        assert!(decode(latin1, None).contains("café"));
        assert!(decode(b"caf\xc3\xa9", None).contains("café"));
        assert!(decode(b"caf\xe9", Some("windows-1252")).contains("café"));
    }

    #[test]
    fn extracts_the_article_not_the_chrome() {
        let body = "<p>The council voted on Tuesday to rebuild the old bridge over the river, a decision that had been delayed for years while engineers studied the foundations and the cost grew.</p>".repeat(6);
        let page = format!(
            r#"<html><head><title>Bridge</title></head><body>
            <nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>
            <aside class="sidebar">Trending: celebrity gossip, lottery numbers</aside>
            <article><h1>Bridge to be rebuilt</h1>{body}</article>
            <footer>Copyright the paper. Subscribe now!</footer><script>track()</script></body></html>"#
        );
        let content = extract(&page, "https://example.org/news/bridge").expect("an article");
        assert!(content.contains("rebuild the old bridge"));
        assert!(
            !content.contains("celebrity gossip")
                && !content.contains("Subscribe now")
                && !content.contains("track()")
        );
    }
}
