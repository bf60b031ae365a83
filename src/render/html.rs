//! Sanitising: HTML as published → HTML safe to put in front of a reader (ammonia): no
//! scripts, event handlers, styles, frames or `javascript:`/`data:` URLs; relative URLs made
//! absolute against the item's base. Nesting deeper than `html::nesting::MAX_DEPTH` is
//! flattened first.

use std::collections::HashSet;

use ammonia::{Builder, UrlRelative};
use url::Url;

use crate::html::nesting;

/// URL schemes allowed in `href` and `src`.
const URL_SCHEMES: &[&str] = &["http", "https", "mailto"];

/// An HTML sanitiser. Building the policy costs more than cleaning a short summary, so one
/// sanitiser serves a whole rendering.
pub struct Sanitizer {
    builder: Builder<'static>,
}

impl Default for Sanitizer {
    fn default() -> Self {
        let mut builder = Builder::default();
        builder
            .url_schemes(URL_SCHEMES.iter().copied().collect::<HashSet<_>>())
            // Comments carry nothing a reader sees, and old IE conditional comments can hide markup.
            .strip_comments(true)
            // A story's images load as they scroll into view, on the news page and in readers
            // alike: a long article's pictures cost nothing until they are read.
            .set_tag_attribute_value("img", "loading", "lazy")
            // `cite` holds a URL that ammonia does not check (found by property testing).
            .rm_tag_attributes("blockquote", &["cite"])
            .rm_tag_attributes("del", &["cite"])
            .rm_tag_attributes("ins", &["cite"])
            .rm_tag_attributes("q", &["cite"]);
        Sanitizer { builder }
    }
}

impl Sanitizer {
    /// Sanitises `html`, resolving relative URLs against `base` (dropping them when there is
    /// no usable base).
    pub fn clean(&mut self, html: &str, base: Option<&str>) -> String {
        if html.is_empty() {
            return String::new();
        }
        // Only an http(s) base: ammonia checks schemes before it rewrites relative URLs, so a
        // `javascript:` base would otherwise produce `javascript:` links.
        let base = base
            .and_then(|b| Url::parse(b).ok())
            .filter(|b| matches!(b.scheme(), "http" | "https"));
        self.builder.url_relative(match base {
            Some(base) => UrlRelative::RewriteWithBase(base),
            None => UrlRelative::Deny,
        });
        // ammonia builds a tree with html5ever, whose cost grows with the square of the
        // nesting: a bounded depth keeps it linear in the length.
        self.builder.clean(&nesting::flatten(html)).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sanitize(html: &str, base: Option<&str>) -> String {
        Sanitizer::default().clean(html, base)
    }

    #[test]
    fn active_content_is_removed() {
        let dirty = r#"<p onclick="x()">ok</p><script>alert(1)</script><img src="a.png" onerror="alert(1)">
            <a href="JaVaScRiPt:alert(1)">j</a><a href="&#106;avascript:alert(1)">e</a>
            <iframe src="https://example.com/"></iframe><svg onload="alert(1)"></svg>
            <a href="data:text/html;base64,PHNjcmlwdD4=">d</a><div style="background:url(javascript:alert(1))">s</div>"#;
        let clean = sanitize(dirty, Some("https://example.org/post/"));
        let lower = clean.to_lowercase();
        let quoted = sanitize(
            r#"<blockquote cite="javascript:alert(1)">q</blockquote><q cite="data:x">y</q>"#,
            None,
        );
        assert!(!quoted.contains("cite="), "{quoted}");
        for bad in [
            "<script",
            "onerror",
            "onclick",
            "onload",
            "javascript:",
            "<iframe",
            "<svg",
            "data:",
            "style=",
        ] {
            assert!(!lower.contains(bad), "{bad} in {clean}");
        }
        assert!(
            clean.contains("<img src=\"https://example.org/post/a.png\" loading=\"lazy\">"),
            "{clean}"
        );
        assert!(clean.contains(">ok</p>"));
    }

    #[test]
    fn relative_urls_become_absolute_per_item() {
        let mut s = Sanitizer::default();
        let html = r#"<a href="../about.html">a</a><img src="/i.png">"#;
        let one = s.clean(html, Some("https://example.org/blog/x/"));
        assert!(
            one.contains(r#"href="https://example.org/blog/about.html""#),
            "{one}"
        );
        assert!(one.contains(r#"src="https://example.org/i.png""#), "{one}");
        let two = s.clean(html, Some("https://example.net/a/b/"));
        assert!(
            two.contains(r#"href="https://example.net/a/about.html""#),
            "{two}"
        );
        let none = s.clean(html, None);
        assert!(!none.contains("href=") && !none.contains("src="), "{none}");
        // A stored base that is not http(s) is not used.
        let script = s.clean(
            r#"<a href="?q">x</a>"#,
            Some("javascript://x/%0aalert(1)//"),
        );
        assert!(!script.to_lowercase().contains("javascript"), "{script}");
    }
}
