//! Extraction: an article page → its main content (readability-style, with dom_smoothie).
//! What one page costs is bounded before any tree is built: its size, its elements, its
//! nesting.

use crate::html::nesting;

/// The most of an article page that is read, in bytes (before decoding, and again after).
/// Article pages are 50–500 KB of HTML, most of it before the end of the article; the
/// extractor's tree costs about 20 times the text it holds.
pub const MAX_PAGE_BYTES: usize = 2 * 1024 * 1024;

/// Start tags read of an article page, at most: the page is cut before the next one. Real
/// pages have 1,000–10,000 elements; the extractor's tree costs a few hundred bytes for each
/// (a 15 KB gzipped page of 5 million `<a>` elements took 600 MB).
pub const MAX_ELEMENTS: usize = 50_000;

/// Decodes an HTML page: the HTTP charset, else a `<meta charset>` near the top, else UTF-8
/// (invalid bytes replaced).
pub fn decode(bytes: &[u8], http_charset: Option<&str>) -> String {
    // A character cut at the end decodes to U+FFFD: the end is cut off anyway.
    let bytes = &bytes[..bytes.len().min(MAX_PAGE_BYTES)];
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

/// The main content of an HTML page as HTML, or `None` when none can be found. Only the
/// first [`MAX_PAGE_BYTES`] and [`MAX_ELEMENTS`] of the page are read, and its nesting is
/// flattened below `nesting::MAX_DEPTH`, before any tree is built: the work and memory are
/// linear in what is read, and bounded.
pub fn extract(page: &str, url: &str) -> Option<String> {
    let page = nesting::flatten(bounded(page));
    let cfg = dom_smoothie::Config {
        // Never reached after `bounded` (which counts more start tags than elements are
        // built); kept as the extractor's own guard.
        max_elements_to_parse: MAX_ELEMENTS + 16,
        ..Default::default()
    };
    let mut readability = dom_smoothie::Readability::new(&*page, Some(url), Some(cfg)).ok()?;
    let article = readability.parse().ok()?;
    let content = article.content.to_string();
    (!article.text_content.trim().is_empty()).then_some(content)
}

/// `page` up to its [`MAX_PAGE_BYTES`]-th byte or before its ([`MAX_ELEMENTS`] + 1)-th start
/// tag, whichever comes first. Every `<` followed by a letter counts (also in scripts and
/// comments): never fewer than the elements a parser builds.
fn bounded(page: &str) -> &str {
    let mut end = page.len().min(MAX_PAGE_BYTES);
    while !page.is_char_boundary(end) {
        end -= 1;
    }
    let b = page.as_bytes();
    let mut starts = memchr::memchr_iter(b'<', &b[..end])
        .filter(|&i| b.get(i + 1).is_some_and(u8::is_ascii_alphabetic));
    if let Some(cut) = starts.nth(MAX_ELEMENTS) {
        end = cut;
    }
    &page[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_cut_before_parsing() {
        let links = "<a>".repeat(5_000_000);
        let cut = bounded(&links);
        assert_eq!(cut.matches("<a>").count(), MAX_ELEMENTS);
        let text = "é".repeat(MAX_PAGE_BYTES);
        let cut = bounded(&text);
        assert!(cut.len() <= MAX_PAGE_BYTES && cut.len() > MAX_PAGE_BYTES - 2);
        let small = "<p>a</p>".repeat(100);
        assert_eq!(bounded(&small), small);
        assert!(decode(&vec![b'a'; 3 * MAX_PAGE_BYTES], None).len() == MAX_PAGE_BYTES);
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
