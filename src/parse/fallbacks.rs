//! Fallbacks: what an entry says that feed-rs does not keep, for an entry that lacks a title
//! or a link: its `dc:title`, an RSS `<link href="…"/>` written the Atom way, an Atom
//! `<link>` that holds its URL as text, and an RSS `<guid>` that is the permalink. The
//! document is scanned only when some entry needs one. For JSON Feed, the item's `image` and
//! its authors' avatars (`json::extras`).

use feed_rs::model::{Entry, Feed};
use quick_xml::XmlVersion;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

const DUBLIN_CORE: &str = "http://purl.org/dc/elements/1.1/";
const ATOM: &str = "http://www.w3.org/2005/Atom";

/// What the document offers for one entry when feed-rs found no title or link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fallback {
    /// `dc:title`, as text (HTML in it, like in an RSS title).
    pub title: Option<String>,
    /// A link: `href` of an RSS `<link>`, the text of an Atom `<link>`, else the `<guid>`
    /// when it is an absolute http(s) URL not marked `isPermaLink="false"`.
    pub link: Option<String>,
    /// A JSON Feed item's `image`, as written.
    pub image: Option<String>,
    /// A JSON Feed item's authors' `avatar`s, as written: (name, avatar).
    pub avatars: Vec<(String, String)>,
}

/// Whether `e` has a link to the article (no `rel`, or `rel="alternate"` in any case).
pub fn has_alternate(e: &Entry) -> bool {
    e.links.iter().any(|l| {
        l.rel
            .as_deref()
            .is_none_or(|r| r.trim().eq_ignore_ascii_case("alternate"))
    })
}

/// Whether some entry lacks a title (none of its own, none in Media RSS) or a link.
pub fn needed(feed: &Feed) -> bool {
    feed.entries.iter().any(|e| {
        let titled = e
            .title
            .as_ref()
            .is_some_and(|t| !t.content.trim().is_empty())
            || e.media.iter().any(|m| m.title.is_some());
        !titled || !has_alternate(e)
    })
}

/// One [`Fallback`] per `<item>` or `<entry>` of `doc`, in document order; `None` when `doc`
/// cannot be read to its end.
pub fn scan(doc: &[u8]) -> Option<Vec<Fallback>> {
    let text = std::str::from_utf8(doc).ok()?;
    let mut reader = NsReader::from_str(text);
    let mut found = Vec::new();
    // Depth of the element being read, and the depth of the entry it is in (0: none).
    let (mut depth, mut entry_depth) = (0usize, 0usize);
    let mut current = Fallback::default();
    let mut guid: Option<String> = None;
    loop {
        let (ns, event) = reader.read_resolved_event().ok()?;
        let dublin_core = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == DUBLIN_CORE);
        let atom = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == ATOM);
        let (e, empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                if depth == entry_depth && entry_depth > 0 {
                    if current.link.is_none() {
                        current.link = guid.take();
                    }
                    found.push(std::mem::take(&mut current));
                    guid = None;
                    entry_depth = 0;
                }
                depth = depth.saturating_sub(1);
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        if !empty {
            depth += 1;
        }
        let local = e.local_name();
        let local = local.as_ref();
        if entry_depth == 0 {
            if matches!(local, "item" | "entry") {
                if empty {
                    found.push(Fallback::default());
                } else {
                    entry_depth = depth;
                }
            }
            continue;
        }
        // Only the entry's own children.
        if depth != entry_depth + usize::from(!empty) {
            continue;
        }
        let attr = |name: &str| {
            e.attributes()
                .flatten()
                .find(|a| a.key.as_ref() == name)
                .and_then(|a| {
                    a.normalized_value(XmlVersion::Implicit1_0)
                        .ok()
                        .map(|v| v.trim().to_owned())
                })
        };
        let element_text = |reader: &mut NsReader<&[u8]>| -> Option<String> {
            if empty {
                return None;
            }
            let end = e.to_end().into_owned();
            let raw = reader.read_text(end.name()).ok()?;
            let text = quick_xml::escape::unescape(&raw).ok()?.trim().to_owned();
            Some(text).filter(|t| !t.is_empty())
        };
        match local {
            "title" if dublin_core && current.title.is_none() => {
                current.title = element_text(&mut reader);
                depth -= usize::from(!empty);
            }
            "link" if !dublin_core && current.link.is_none() => {
                let rel_ok = attr("rel").is_none_or(|r| r.eq_ignore_ascii_case("alternate"));
                match attr("href") {
                    Some(href) if !atom && rel_ok && !href.is_empty() => {
                        current.link = Some(href);
                    }
                    None if atom => {
                        current.link = element_text(&mut reader);
                        depth -= usize::from(!empty);
                    }
                    _ => {}
                }
            }
            "guid" if !atom && !dublin_core => {
                let permalink =
                    attr("isPermaLink").is_none_or(|p| !p.eq_ignore_ascii_case("false"));
                let text = element_text(&mut reader);
                depth -= usize::from(!empty);
                guid = text.filter(|g| {
                    permalink
                        && url::Url::parse(g).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
                });
            }
            _ => {}
        }
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_links_feed_rs_does_not_keep() {
        let doc = br#"<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
            <item><dc:title>Only &amp; dc</dc:title><link href="https://example.org/a"/></item>
            <item><title>t</title><guid>https://example.org/b</guid></item>
            <item><guid isPermaLink="false">https://example.org/c</guid><guid>x</guid></item>
            <item><guid>not-a-url</guid><media:x xmlns:media="m"><dc:title>nested</dc:title></media:x></item>
            <item/></channel></rss>"#;
        let found = scan(doc).unwrap();
        assert_eq!(
            found,
            [
                Fallback {
                    title: Some("Only & dc".into()),
                    link: Some("https://example.org/a".into()),
                    ..Fallback::default()
                },
                Fallback {
                    title: None,
                    link: Some("https://example.org/b".into()),
                    ..Fallback::default()
                },
                Fallback::default(),
                Fallback::default(),
                Fallback::default(),
            ]
        );
        let atom = br#"<a:feed xmlns:a="http://www.w3.org/2005/Atom"><a:entry><a:link>https://example.com/t</a:link></a:entry></a:feed>"#;
        assert_eq!(
            scan(atom).unwrap()[0].link.as_deref(),
            Some("https://example.com/t")
        );
    }
}
