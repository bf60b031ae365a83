//! RSS 2.0 (rss crate): the merged entries as `<item>`s with `dc:creator`, `<source>`,
//! `<enclosure>`, and `<feedmerge:readingTime>`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rss::extension::Extension;
use rss::extension::dublincore::DublinCoreExtension;

use super::{Channel, Entry, Format, NAMESPACE, PREFIX, reading_attrs, xml_text};
use crate::model::TextSource;

const DC_NAMESPACE: &str = "http://purl.org/dc/elements/1.1/";
const ATOM_NAMESPACE: &str = "http://www.w3.org/2005/Atom";

/// Renders `entries` (newest first) as an RSS 2.0 document.
pub fn render(channel: &Channel, entries: &[Entry<'_>], updated: DateTime<Utc>) -> String {
    let mut namespaces = BTreeMap::new();
    namespaces.insert("dc".to_owned(), DC_NAMESPACE.to_owned());
    namespaces.insert("atom".to_owned(), ATOM_NAMESPACE.to_owned());
    namespaces.insert(PREFIX.to_owned(), NAMESPACE.to_owned());
    let doc = rss::Channel {
        title: xml_text(&channel.title),
        link: channel.base_url.to_string(),
        description: xml_text(&channel.description),
        generator: Some(format!("feedmerge {}", env!("CARGO_PKG_VERSION"))),
        docs: Some("https://www.rssboard.org/rss-specification".to_owned()),
        last_build_date: Some(updated.to_rfc2822()),
        namespaces,
        atom_ext: Some(rss::extension::atom::AtomExtension {
            links: std::iter::once(rss::extension::atom::Link {
                href: channel.self_url(Format::Rss),
                rel: "self".to_owned(),
                mime_type: Some("application/rss+xml".to_owned()),
                ..Default::default()
            })
            // WebSub: subscribers find the hub beside the self link (the topic).
            .chain(channel.hub.iter().map(|hub| rss::extension::atom::Link {
                href: hub.to_string(),
                rel: "hub".to_owned(),
                ..Default::default()
            }))
            .collect(),
        }),
        items: entries.iter().map(item).collect(),
        ..Default::default()
    };
    doc.to_string()
}

fn item(e: &Entry<'_>) -> rss::Item {
    let mut extensions = BTreeMap::new();
    if let Some(rt) = &e.reading {
        let mut estimate = Extension {
            name: format!("{PREFIX}:readingTime"),
            ..Default::default()
        };
        for (k, v) in reading_attrs(rt) {
            estimate.attrs.insert(k.to_owned(), v);
        }
        if rt.source == TextSource::Summary {
            estimate.value = Some("estimated from the summary".to_owned());
        }
        extensions.insert(
            PREFIX.to_owned(),
            BTreeMap::from([(format!("{PREFIX}:readingTime"), vec![estimate])]),
        );
    }
    rss::Item {
        title: Some(xml_text(&e.title)).filter(|t| !t.is_empty()),
        link: e.link.as_deref().map(xml_text),
        description: Some(xml_text(&e.html)),
        guid: Some(rss::Guid {
            value: e.id.clone(),
            permalink: false,
        }),
        pub_date: Some(e.date.to_rfc2822()),
        categories: e
            .categories
            .iter()
            .map(|c| rss::Category {
                name: xml_text(c),
                domain: None,
            })
            .filter(|c| !c.name.trim().is_empty())
            .collect(),
        enclosure: e.enclosure.map(|enc| rss::Enclosure {
            url: xml_text(&enc.url),
            length: enc.length.to_string(),
            mime_type: xml_text(&enc.mime_type),
        }),
        source: Some(rss::Source {
            url: xml_text(&e.source_url),
            title: Some(xml_text(&e.source_title)),
        }),
        dublin_core_ext: e.author.map(|a| DublinCoreExtension {
            creators: vec![xml_text(a)],
            ..Default::default()
        }),
        extensions,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{channel, stored};
    use super::super::{NAMESPACE, entries};
    use super::*;
    use crate::config::Placement;
    use crate::model::FeedFailure;

    fn rss(
        channel: &Channel,
        items: &[crate::model::StoredItem],
        failing: &[FeedFailure],
        now: DateTime<Utc>,
    ) -> String {
        render(
            channel,
            &entries(items, failing, Placement::Description),
            now,
        )
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
