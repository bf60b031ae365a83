//! The icons a web page names for its site: its `<link rel="icon">` (`shortcut icon`) and
//! `<link rel="apple-touch-icon">` elements, their `href` resolved against the page URL and
//! the page's `<base href>`. Read by html5ever's tokenizer, as a browser reads it, from the
//! start of the page only (`<link>` belongs in `<head>`): linear, and bounded whatever the
//! page.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use url::Url;

/// Bytes of a page read for the icons it names: `<head>` comes first, and rarely runs past a
/// few tens of KiB even with inline styles and scripts.
pub const MAX_SCAN_BYTES: usize = 256 * 1024;

/// Icons taken from one page. A site names a handful (sizes, a touch icon); the first few
/// are all a reader of 20-pixel icons could want.
pub const MAX_ICONS: usize = 4;

/// The icons `html`, the page at `page`, names: the `rel="icon"` ones in page order, then
/// the `rel="apple-touch-icon"` ones (larger, made for home screens); each URL once, http
/// and https only, at most [`MAX_ICONS`], from the first [`MAX_SCAN_BYTES`] of the page.
pub fn icons(html: &str, page: &Url) -> Vec<Url> {
    let mut end = html.len().min(MAX_SCAN_BYTES);
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    let sink = Sink(RefCell::new(Found::default()));
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(&html[..end]));
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    // The sink never asks the tokenizer to pause for a script, so one feed consumes everything.
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let found = tokenizer.sink.0.into_inner();
    // HTML's "frozen base URL": the first `<base href>`, itself relative to the page.
    let base = found
        .base
        .and_then(|b| page.join(b.trim()).ok())
        .unwrap_or_else(|| page.clone());
    let mut urls: Vec<Url> = Vec::new();
    for href in found.icons.iter().chain(&found.touch) {
        let Ok(url) = base.join(href.trim()) else {
            continue;
        };
        if matches!(url.scheme(), "http" | "https") && !urls.contains(&url) {
            urls.push(url);
        }
        if urls.len() == MAX_ICONS {
            break;
        }
    }
    urls
}

#[derive(Default)]
struct Found {
    /// `rel="icon"`, as written.
    icons: Vec<String>,
    /// `rel="apple-touch-icon"` (and `-precomposed`), as written.
    touch: Vec<String>,
    base: Option<String>,
}

struct Sink(RefCell<Found>);

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let Token::TagToken(tag) = token else {
            return TokenSinkResult::Continue;
        };
        if tag.kind != TagKind::StartTag {
            return TokenSinkResult::Continue;
        }
        let attr = |name: &str| {
            tag.attrs
                .iter()
                .find(|a| &*a.name.local == name)
                .map(|a| &*a.value)
        };
        let mut found = self.0.borrow_mut();
        match &*tag.name {
            "base" if found.base.is_none() => {
                found.base = attr("href").map(str::to_owned);
            }
            // Bounded before resolving: a page may repeat one link many times.
            "link" if found.icons.len() + found.touch.len() < 4 * MAX_ICONS => {
                let (Some(rel), Some(href)) = (attr("rel"), attr("href")) else {
                    return TokenSinkResult::Continue;
                };
                let has = |name: &str| {
                    rel.split_ascii_whitespace()
                        .any(|t| t.eq_ignore_ascii_case(name))
                };
                if has("icon") {
                    found.icons.push(href.to_owned());
                } else if has("apple-touch-icon") || has("apple-touch-icon-precomposed") {
                    found.touch.push(href.to_owned());
                }
            }
            name if !tag.self_closing => {
                // A `<link>` written in a script's or a comment-like element's text is no link.
                if let Some(raw) = super::nesting::raw_kind(name) {
                    return TokenSinkResult::RawData(raw);
                }
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("https://example.org/blog/").unwrap()
    }

    fn found(html: &str) -> Vec<String> {
        icons(html, &page())
            .into_iter()
            .map(|u| u.to_string())
            .collect()
    }

    #[test]
    fn icons_first_then_touch_icons_resolved_and_once_each() {
        let html = r#"<!doctype html><html><head>
            <link rel="apple-touch-icon" href="/touch.png">
            <LINK REL="Shortcut Icon" HREF=fav.ico>
            <link rel="icon" type="image/svg+xml" href="/icon.svg">
            <link rel="icon" href="fav.ico">
            <link rel="stylesheet" href="/s.css">
            <link rel="icon" href="javascript:alert(1)">
            </head><body></body></html>"#;
        assert_eq!(
            found(html),
            [
                "https://example.org/blog/fav.ico",
                "https://example.org/icon.svg",
                "https://example.org/touch.png"
            ]
        );
    }

    #[test]
    fn base_href_counts_and_scripts_do_not() {
        let html = r#"<head><base href="https://cdn.example/s/">
            <script>document.write('<link rel="icon" href="/evil.png">')</script>
            <link rel="icon" href="i.png"></head>"#;
        assert_eq!(found(html), ["https://cdn.example/s/i.png"]);
    }

    #[test]
    fn only_the_start_of_a_page_is_read_and_few_icons_are_kept() {
        let late = format!(
            "<head>{}</head><link rel=icon href=/late.png>",
            " ".repeat(MAX_SCAN_BYTES)
        );
        assert!(found(&late).is_empty());
        let many: String = (0..100)
            .map(|i| format!("<link rel=icon href=/{i}.png>"))
            .collect();
        assert_eq!(found(&many).len(), MAX_ICONS);
    }
}
