//! The feeds a web page advertises: its `<link rel="alternate">` (and `rel="feed"`) elements
//! of a feed's media type, their `href` resolved against the page URL and the page's
//! `<base href>`, in page order, with their `title`. The page is read by html5ever's
//! tokenizer, as a browser reads it (entities, unquoted attributes, upper case), up to
//! [`MAX_SCAN_BYTES`]: linear, and bounded whatever the page.

use url::Url;

use crate::model::FeedFormat;

/// Bytes of a page read for the feeds it advertises. `<link>` elements belong in `<head>`,
/// which comes first and is rarely more than a few tens of KiB even on pages that inline
/// their styles and scripts; what lies past this is not looked at.
pub const MAX_SCAN_BYTES: usize = 512 * 1024;

/// Feeds taken from one page, the first ones in page order. Sites offer a handful (posts,
/// comments, a few categories); a page with more is listing, not advertising.
pub const MAX_ADVERTISED: usize = 16;

/// Longest advertised title kept, in characters (cut with "…").
pub const MAX_TITLE_CHARS: usize = 200;

/// A feed a page advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertised {
    /// Its address, absolute, http or https.
    pub url: Url,
    /// The `title` attribute, whitespace collapsed; `None` when absent or blank.
    pub title: Option<String>,
    /// The format its `type` attribute names; `None` for a `rel="feed"` without one.
    pub format: Option<FeedFormat>,
}

/// The feeds `html`, the page at `page`, advertises: in page order, each URL once, at most
/// [`MAX_ADVERTISED`], from the first [`MAX_SCAN_BYTES`] of the page.
pub fn advertised(html: &str, page: &Url) -> Vec<Advertised> {
    // Duplicates are removed after resolving, so the raw list is bounded more loosely.
    let (links, base) = super::head::read(html, page, MAX_SCAN_BYTES, 4 * MAX_ADVERTISED, |a| {
        let rel_feed = a.rel_has("feed");
        if !rel_feed && !a.rel_has("alternate") {
            return None;
        }
        Some(Link {
            format: format_of(a.get("type"), rel_feed)?,
            href: a.get("href")?.to_owned(),
            title: a.get("title").map(str::to_owned),
        })
    });
    let mut feeds: Vec<Advertised> = Vec::new();
    for link in links {
        let Some(url) = super::head::resolve(&base, &link.href) else {
            continue;
        };
        if feeds.iter().any(|f| f.url == url) {
            continue;
        }
        feeds.push(Advertised {
            url,
            title: link.title.as_deref().and_then(clean_title),
            format: link.format,
        });
        if feeds.len() == MAX_ADVERTISED {
            break;
        }
    }
    feeds
}

/// Whether `doc` is an HTML page rather than a broken feed: after a byte order mark,
/// whitespace, comments and an XML declaration, it opens with a doctype or an element that
/// only HTML has at the top.
pub fn looks_like_html(doc: &[u8]) -> bool {
    let mut rest = doc.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(doc);
    loop {
        rest = rest.trim_ascii_start();
        let skip_to =
            |rest: &[u8], end: &[u8]| memchr::memmem::find(rest, end).map(|at| at + end.len());
        if rest.starts_with(b"<!--") {
            match skip_to(rest, b"-->") {
                Some(at) => rest = &rest[at..],
                None => return false,
            }
        } else if rest.starts_with(b"<?") {
            match skip_to(rest, b"?>") {
                Some(at) => rest = &rest[at..],
                None => return false,
            }
        } else {
            break;
        }
    }
    const OPENINGS: [&[u8]; 6] = [
        b"<!doctype html",
        b"<html",
        b"<head",
        b"<body",
        b"<meta",
        b"<title",
    ];
    OPENINGS.iter().any(|o| {
        rest.get(..o.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(o))
            // `<html>`, `<html lang=…>`, not `<htmlfoo>`.
            && rest
                .get(o.len())
                .is_none_or(|c| !c.is_ascii_alphanumeric())
    })
}

/// The format a `type` attribute names, if it is a feed's: `Some(None)` when `rel="feed"`
/// names none.
fn format_of(media_type: Option<&str>, rel_feed: bool) -> Option<Option<FeedFormat>> {
    let Some(media_type) = media_type else {
        return rel_feed.then_some(None);
    };
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/rss+xml" | "application/rdf+xml" => Some(Some(FeedFormat::Rss)),
        "application/atom+xml" | "application/x.atom+xml" | "application/x-atom+xml" => {
            Some(Some(FeedFormat::Atom))
        }
        "application/feed+json" | "application/json" => Some(Some(FeedFormat::Json)),
        "" if rel_feed => Some(None),
        _ => None,
    }
}

/// A title attribute, whitespace collapsed and cut at [`MAX_TITLE_CHARS`]; `None` if blank.
fn clean_title(title: &str) -> Option<String> {
    let mut out = String::new();
    for (i, word) in title.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        return None;
    }
    if let Some((cut, _)) = out.char_indices().nth(MAX_TITLE_CHARS) {
        out.truncate(cut);
        out.push('…');
    }
    Some(out)
}

/// A `<link>` of a feed type, as written.
struct Link {
    href: String,
    title: Option<String>,
    format: Option<FeedFormat>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("https://example.org/blog/post.html").unwrap()
    }

    fn urls(html: &str) -> Vec<String> {
        advertised(html, &page())
            .into_iter()
            .map(|a| a.url.to_string())
            .collect()
    }

    #[test]
    fn alternate_links_of_feed_types_in_page_order_with_titles() {
        let html = r#"<!DOCTYPE html><html><head>
            <link rel="stylesheet" href="/s.css">
            <link rel="alternate" type="application/atom+xml" title=" Posts  (Atom) " href="/atom.xml">
            <link rel="alternate" type="text/html" hreflang="fr" href="/fr/">
            <link rel="alternate" type="application/rss+xml; charset=utf-8" title="Comments" href="comments.rss">
            <link rel="alternate" type="application/feed+json" href="https://feeds.example.net/j.json">
            </head><body></body></html>"#;
        let found = advertised(html, &page());
        assert_eq!(
            found,
            vec![
                Advertised {
                    url: Url::parse("https://example.org/atom.xml").unwrap(),
                    title: Some("Posts (Atom)".into()),
                    format: Some(FeedFormat::Atom),
                },
                Advertised {
                    url: Url::parse("https://example.org/blog/comments.rss").unwrap(),
                    title: Some("Comments".into()),
                    format: Some(FeedFormat::Rss),
                },
                Advertised {
                    url: Url::parse("https://feeds.example.net/j.json").unwrap(),
                    title: None,
                    format: Some(FeedFormat::Json),
                },
            ]
        );
    }

    #[test]
    fn rel_tokens_and_case() {
        let html = r#"<LINK REL="Alternate Home" TYPE="Application/RSS+XML" HREF="/a">
            <link rel="alternate stylesheet" type="text/css" href="/b">
            <link rel="feed" href="/c">
            <link rel="feed" type="text/html" href="/d">
            <link rel="alternativ" type="application/rss+xml" href="/e">
            <link rel=" feed	alternate " type="application/atom+xml" href="/f">
            <link type="application/rss+xml" href="/g">"#;
        let found = advertised(html, &page());
        let got: Vec<_> = found
            .iter()
            .map(|a| (a.url.path().to_owned(), a.format))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/a".to_owned(), Some(FeedFormat::Rss)),
                ("/c".to_owned(), None),
                ("/f".to_owned(), Some(FeedFormat::Atom)),
            ]
        );
    }

    #[test]
    fn entity_encoded_hrefs_and_titles_and_attributes_without_quotes() {
        let html = "<link rel=alternate type=application/rss+xml href=/feed?a=1&amp;b=2 \
                    title=Caf&eacute;&#x2F;News>\
                    <link rel='alternate' type='application/atom+xml' href='/x&#63;y=1'>";
        let found = advertised(html, &page());
        assert_eq!(found[0].url.as_str(), "https://example.org/feed?a=1&b=2");
        assert_eq!(found[0].title.as_deref(), Some("Café/News"));
        assert_eq!(found[1].url.as_str(), "https://example.org/x?y=1");
    }

    #[test]
    fn base_href_applies_to_every_link_and_is_relative_to_the_page() {
        let html = r#"<link rel="alternate" type="application/rss+xml" href="feed.xml">
            <base href="/site/"><base href="/ignored/">
            <link rel="alternate" type="application/atom+xml" href="atom.xml">"#;
        assert_eq!(
            urls(html),
            [
                "https://example.org/site/feed.xml",
                "https://example.org/site/atom.xml"
            ]
        );
    }

    #[test]
    fn only_http_urls_each_once_and_bounded() {
        let mut html = String::from(
            r#"<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
            <link rel="alternate" type="application/rss+xml" href="ftp://example.org/f">
            <link rel="alternate" type="application/rss+xml" href="/f">
            <link rel="alternate" type="application/rss+xml" href="https://example.org/f">"#,
        );
        assert_eq!(urls(&html), ["https://example.org/f"]);
        for i in 0..100 {
            html.push_str(&format!(
                r#"<link rel="alternate" type="application/rss+xml" href="/f{i}">"#
            ));
        }
        let found = urls(&html);
        assert_eq!(found.len(), MAX_ADVERTISED);
        assert_eq!(found[1], "https://example.org/f0");
    }

    #[test]
    fn links_in_scripts_and_past_the_bound_are_not_read() {
        let link = r#"<link rel="alternate" type="application/rss+xml" href="/late">"#;
        let html = format!("<script>document.write('{link}')</script><title>{link}</title>");
        assert!(urls(&html).is_empty());
        let html = format!("<html>{}{link}", " ".repeat(MAX_SCAN_BYTES));
        assert!(urls(&html).is_empty());
        let html = format!("<html>{}{link}", " ".repeat(MAX_SCAN_BYTES - 200));
        assert_eq!(urls(&html), ["https://example.org/late"]);
    }

    #[test]
    fn long_titles_are_cut() {
        let html = format!(
            r#"<link rel="alternate" type="application/rss+xml" href="/f" title="{}">"#,
            "é".repeat(1000)
        );
        let title = advertised(&html, &page())[0].title.clone().unwrap();
        assert_eq!(title.chars().count(), MAX_TITLE_CHARS + 1);
        assert!(title.ends_with('…'));
    }

    #[test]
    fn html_is_told_from_feeds() {
        for page in [
            &b"<!DOCTYPE html><html>"[..],
            b"\xEF\xBB\xBF\n  <!doctype HTML>",
            b"<!-- generated --><html lang=en>",
            b"<?xml version=\"1.0\"?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0//EN\">",
            b"<HEAD><title>x</title>",
        ] {
            assert!(looks_like_html(page), "{}", String::from_utf8_lossy(page));
        }
        for doc in [
            &b"<?xml version=\"1.0\"?><rss version=\"2.0\">"[..],
            b"<feed xmlns=\"http://www.w3.org/2005/Atom\">",
            b"{\"version\": \"https://jsonfeed.org/version/1.1\"}",
            b"<htmlfeed>",
            b"<!-- never closed <html>",
            b"",
        ] {
            assert!(!looks_like_html(doc), "{}", String::from_utf8_lossy(doc));
        }
    }
}
