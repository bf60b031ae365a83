//! Sanitising: HTML as published → HTML safe to put in front of a reader (ammonia): no
//! scripts, event handlers, styles, frames or `javascript:`/`data:` URLs; relative URLs made
//! absolute against the item's base.

use std::collections::HashSet;

use ammonia::{Builder, UrlRelative};
use url::Url;

/// URL schemes allowed in `href` and `src`.
const URL_SCHEMES: &[&str] = &["http", "https", "mailto"];

/// Sanitises `html`, resolving relative URLs against `base` (dropped when there is no base).
pub fn sanitize(html: &str, base: Option<&str>) -> String {
    if html.is_empty() {
        return String::new();
    }
    let mut builder = Builder::default();
    builder
        .url_schemes(URL_SCHEMES.iter().copied().collect::<HashSet<_>>())
        .url_relative(match base.and_then(|b| Url::parse(b).ok()) {
            Some(base) => UrlRelative::RewriteWithBase(base),
            None => UrlRelative::Deny,
        })
        // Comments carry nothing a reader sees, and old IE conditional comments can hide markup.
        .strip_comments(true);
    builder.clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_content_is_removed() {
        let dirty = r#"<p onclick="x()">ok</p><script>alert(1)</script><img src="a.png" onerror="alert(1)">
            <a href="JaVaScRiPt:alert(1)">j</a><a href="&#106;avascript:alert(1)">e</a>
            <iframe src="https://example.com/"></iframe><svg onload="alert(1)"></svg>
            <a href="data:text/html;base64,PHNjcmlwdD4=">d</a><div style="background:url(javascript:alert(1))">s</div>"#;
        let clean = sanitize(dirty, Some("https://example.org/post/"));
        let lower = clean.to_lowercase();
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
            clean.contains("<img src=\"https://example.org/post/a.png\">"),
            "{clean}"
        );
        assert!(clean.contains(">ok</p>"));
    }

    #[test]
    fn relative_urls_become_absolute() {
        let clean = sanitize(
            r#"<a href="../about.html">a</a><img src="/i.png">"#,
            Some("https://example.org/blog/x/"),
        );
        assert!(
            clean.contains(r#"href="https://example.org/blog/about.html""#),
            "{clean}"
        );
        assert!(
            clean.contains(r#"src="https://example.org/i.png""#),
            "{clean}"
        );
    }
}
