//! Rendering: stored items → the merged feed as RSS 2.0 XML (rss crate). Each item's
//! description starts with "N min read"; the estimate is also written in the feedmerge
//! namespace for machines.

pub mod html;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rss::extension::Extension;
use rss::extension::dublincore::DublinCoreExtension;
use url::Url;
use xxhash_rust::xxh3::Xxh3;

use crate::model::{FeedFailure, StoredItem, TextSource};

/// The XML namespace of feedmerge's own elements.
pub const NAMESPACE: &str = "urn:feedmerge:ns:1";
/// Prefix bound to [`NAMESPACE`] in the output.
pub const PREFIX: &str = "feedmerge";
const DC_NAMESPACE: &str = "http://purl.org/dc/elements/1.1/";
const ATOM_NAMESPACE: &str = "http://www.w3.org/2005/Atom";

/// What the merged feed says about itself.
#[derive(Debug, Clone)]
pub struct Channel {
    /// `<title>`.
    pub title: String,
    /// `<description>`.
    pub description: String,
    /// Public base URL of the server: the channel link, and the base of the self link.
    pub base_url: Url,
}

/// Path of the RSS feed, relative to the base URL.
pub const RSS_PATH: &str = "feed.xml";

/// "N min read", as shown to people.
pub fn reading_label(minutes: u32) -> String {
    format!("{minutes} min read")
}

/// Renders `items` (newest first) as an RSS 2.0 document, preceded by one item per feed in
/// `failing` (the health items).
pub fn rss(
    channel: &Channel,
    items: &[StoredItem],
    failing: &[FeedFailure],
    now: DateTime<Utc>,
) -> String {
    let self_url = channel
        .base_url
        .join(RSS_PATH)
        .map_or_else(|_| channel.base_url.to_string(), |u| u.to_string());
    let mut namespaces = BTreeMap::new();
    namespaces.insert("dc".to_owned(), DC_NAMESPACE.to_owned());
    namespaces.insert("atom".to_owned(), ATOM_NAMESPACE.to_owned());
    namespaces.insert(PREFIX.to_owned(), NAMESPACE.to_owned());

    let last_build = items.iter().map(|i| i.changed_at).max().unwrap_or(now);
    let channel = rss::Channel {
        title: xml_text(&channel.title),
        link: channel.base_url.to_string(),
        description: xml_text(&channel.description),
        generator: Some(format!("feedmerge {}", env!("CARGO_PKG_VERSION"))),
        docs: Some("https://www.rssboard.org/rss-specification".to_owned()),
        last_build_date: Some(last_build.to_rfc2822()),
        namespaces,
        atom_ext: Some(rss::extension::atom::AtomExtension {
            links: vec![rss::extension::atom::Link {
                href: self_url,
                rel: "self".to_owned(),
                mime_type: Some("application/rss+xml".to_owned()),
                ..Default::default()
            }],
        }),
        items: {
            // Health items take their place by date among the others: newest first.
            let mut sanitizer = html::Sanitizer::default();
            let mut all: Vec<(DateTime<Utc>, rss::Item)> = items
                .iter()
                .map(|i| (i.date, item(i, &mut sanitizer)))
                .chain(failing.iter().map(|f| (f.since, health_item(f))))
                .collect();
            all.sort_by_key(|(date, _)| std::cmp::Reverse(*date));
            all.into_iter().map(|(_, i)| i).collect()
        },
        ..Default::default()
    };
    channel.to_string()
}

fn item(stored: &StoredItem, sanitizer: &mut html::Sanitizer) -> rss::Item {
    let it = &stored.item;
    let rt = &it.reading_time;
    let mut description = format!("<p>{}</p>", reading_label(rt.minutes));
    description.push_str(&sanitizer.clean(&it.content_html, it.content_base.as_deref()));

    let mut estimate = Extension {
        name: format!("{PREFIX}:readingTime"),
        value: None,
        ..Default::default()
    };
    for (k, v) in [
        ("minutes", rt.minutes.to_string()),
        ("words", rt.words.to_string()),
        ("cjkChars", rt.cjk_chars.to_string()),
        ("images", rt.images.to_string()),
        ("source", rt.source.as_str().to_owned()),
    ] {
        estimate.attrs.insert(k.to_owned(), v);
    }
    if rt.source == TextSource::Summary {
        estimate.value = Some("estimated from the summary".to_owned());
    }
    let mut extensions = BTreeMap::new();
    extensions.insert(
        PREFIX.to_owned(),
        BTreeMap::from([(format!("{PREFIX}:readingTime"), vec![estimate])]),
    );

    rss::Item {
        title: Some(xml_text(&it.title)).filter(|t| !t.is_empty()),
        link: it.link.as_deref().map(xml_text),
        description: Some(xml_text(&description)),
        guid: Some(rss::Guid {
            value: output_guid(&stored.feed_url, &it.key.0),
            permalink: false,
        }),
        pub_date: Some(stored.date.to_rfc2822()),
        categories: it
            .categories
            .iter()
            .map(|c| rss::Category {
                name: xml_text(c),
                domain: None,
            })
            .collect(),
        enclosure: it.enclosure.as_ref().map(|e| rss::Enclosure {
            url: xml_text(&e.url),
            length: e.length.to_string(),
            mime_type: xml_text(&e.mime_type),
        }),
        source: Some(rss::Source {
            url: xml_text(&stored.feed_url),
            title: Some(xml_text(&stored.feed_title)),
        }),
        dublin_core_ext: it.author.as_deref().map(|a| DublinCoreExtension {
            creators: vec![xml_text(a)],
            ..Default::default()
        }),
        extensions,
        ..Default::default()
    }
}

/// An item that says a feed is failing, so that a subscriber sees it in the reader. Its guid
/// is stable for one run of failures; a later outage is a new item.
fn health_item(f: &FeedFailure) -> rss::Item {
    let since = f.since.format("%Y-%m-%d %H:%M UTC");
    let description = format!(
        "<p>feedmerge has not been able to update <a href=\"{url}\">{title}</a> since {since}.</p><p>Last error: {error}</p>",
        url = crate::normalize::escape_html(&f.feed_url),
        title = crate::normalize::escape_html(&f.feed_title),
        error = crate::normalize::escape_html(&f.error),
    );
    rss::Item {
        title: Some(xml_text(&format!(
            "Feed {} has failed since {since}",
            f.feed_title
        ))),
        link: Some(xml_text(&f.feed_url)),
        description: Some(xml_text(&description)),
        guid: Some(rss::Guid {
            value: output_guid(&f.feed_url, &format!("health:{}", f.since.timestamp())),
            permalink: false,
        }),
        pub_date: Some(f.since.to_rfc2822()),
        source: Some(rss::Source {
            url: xml_text(&f.feed_url),
            title: Some(xml_text(&f.feed_title)),
        }),
        ..Default::default()
    }
}

/// The merged feed's guid for an item: unique across feeds (two feeds may both use guid "1"),
/// stable across polls and restarts.
pub fn output_guid(feed_url: &str, key: &str) -> String {
    let mut h = Xxh3::new();
    h.update(feed_url.as_bytes());
    h.update(&[0xFF]);
    h.update(key.as_bytes());
    format!("urn:feedmerge:{:032x}", h.digest128())
}

/// Removes what XML 1.0 cannot carry: control characters other than tab, newline and carriage
/// return, and the non-characters U+FFFE and U+FFFF.
pub fn xml_text(s: &str) -> String {
    s.chars()
        .filter(|&c| !matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ItemKey, NewItem, ReadingTime};

    fn stored(title: &str, content: &str) -> StoredItem {
        let t = Utc::now();
        StoredItem {
            item: NewItem {
                key: ItemKey("g:1".into()),
                guid: "1".into(),
                link: Some("https://example.org/a".into()),
                canonical_link: Some("https://example.org/a".into()),
                title: title.into(),
                author: Some("Ann".into()),
                categories: vec!["x".into()],
                content_html: content.into(),
                content_base: Some("https://example.org/".into()),
                date: Some(t),
                enclosure: None,
                image: None,
                summary: String::new(),
                reading_time: ReadingTime {
                    minutes: 2,
                    words: 313,
                    cjk_chars: 0,
                    images: 0,
                    source: TextSource::Content,
                },
                content_hash: 0,
            },
            cursor: crate::model::Cursor {
                sort_at: t.timestamp(),
                id: 1,
            },
            feed_url: "https://example.org/feed.xml".into(),
            feed_title: "Example".into(),
            first_seen: t,
            date: t,
            changed_at: t,
        }
    }

    fn channel() -> Channel {
        Channel {
            title: "Merged".into(),
            description: "d".into(),
            base_url: Url::parse("http://127.0.0.1:8080/").unwrap(),
        }
    }

    #[test]
    fn items_carry_reading_time_source_and_creator() {
        let xml = rss(
            &channel(),
            &[stored("Hello", "<p>Body</p>")],
            &[],
            Utc::now(),
        );
        assert!(
            xml.contains("<description><![CDATA[<p>2 min read</p><p>Body</p>]]></description>")
                || xml.contains("&lt;p&gt;2 min read&lt;/p&gt;&lt;p&gt;Body&lt;/p&gt;"),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<source url="https://example.org/feed.xml">Example</source>"#),
            "{xml}"
        );
        assert!(xml.contains("<dc:creator>Ann</dc:creator>"), "{xml}");
        assert!(xml.contains(r#"<feedmerge:readingTime cjkChars="0" images="0" minutes="2" source="content" words="313">"#), "{xml}");
        assert!(xml.contains(&format!(r#"xmlns:feedmerge="{NAMESPACE}""#)));
        assert!(xml.contains(r#"<atom:link href="http://127.0.0.1:8080/feed.xml" rel="self" type="application/rss+xml"/>"#), "{xml}");
        let back = rss::Channel::read_from(xml.as_bytes()).unwrap();
        assert_eq!(back.items.len(), 1);
        assert_eq!(back.items[0].title.as_deref(), Some("Hello"));
    }

    #[test]
    fn failing_feeds_become_health_items() {
        let since = Utc::now() - chrono::Duration::hours(3);
        let failing = FeedFailure {
            feed_url: "https://example.org/broken.xml".into(),
            feed_title: "Broken <b>".into(),
            since,
            error: "unexpected status 500 from https://example.org/broken.xml".into(),
        };
        let xml = rss(
            &channel(),
            &[stored("Hello", "")],
            std::slice::from_ref(&failing),
            Utc::now(),
        );
        let ch = rss::Channel::read_from(xml.as_bytes()).unwrap();
        assert_eq!(ch.items.len(), 2);
        // Newest first: the item of now, then the outage of three hours ago.
        assert_eq!(ch.items[0].title.as_deref(), Some("Hello"));
        let health = &ch.items[1];
        assert!(
            health
                .title
                .as_deref()
                .unwrap()
                .starts_with("Feed Broken <b> has failed since ")
        );
        assert!(
            health
                .description
                .as_deref()
                .unwrap()
                .contains("Broken &lt;b&gt;")
        );
        assert!(
            health
                .description
                .as_deref()
                .unwrap()
                .contains("unexpected status 500")
        );
        let again = rss(&channel(), &[], &[failing], Utc::now());
        let again = rss::Channel::read_from(again.as_bytes()).unwrap();
        assert_eq!(again.items[0].guid, health.guid, "stable for one outage");
    }

    #[test]
    fn control_characters_never_reach_the_xml() {
        let xml = rss(
            &channel(),
            &[stored("a\u{1}b\u{1B}c", "x\u{0}y")],
            &[],
            Utc::now(),
        );
        assert!(!xml.contains(['\u{0}', '\u{1}', '\u{1B}']));
        assert!(xml.contains("<title>abc</title>"));
    }
}
