//! Atom 1.0 (atom_syndication): the merged entries with `<source>` naming the original feed
//! and `<feedmerge:readingTime>`.

use std::collections::BTreeMap;

use atom_syndication::extension::Extension;
use atom_syndication::{Category, Content, Entry as AtomEntry, Feed, Link, Person, Source, Text};
use chrono::{DateTime, Utc};

use super::{Channel, Entry, Format, NAMESPACE, PREFIX, reading_attrs, xml_text};

/// Renders `entries` (newest first) as an Atom 1.0 document.
pub fn render(channel: &Channel, entries: &[Entry<'_>], updated: DateTime<Utc>) -> String {
    let self_url = channel.self_url(Format::Atom);
    let feed = Feed {
        title: Text::plain(xml_text(&channel.title)),
        // The feed's own address is its identity: stable, and unique per output.
        id: self_url.clone(),
        updated: updated.fixed_offset(),
        // Atom requires an author on the feed when an entry has none.
        authors: vec![Person {
            name: xml_text(&channel.title),
            ..Default::default()
        }],
        subtitle: Some(Text::plain(xml_text(&channel.description))).filter(|t| !t.value.is_empty()),
        generator: Some(atom_syndication::Generator {
            value: "feedmerge".to_owned(),
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            ..Default::default()
        }),
        links: vec![
            Link {
                href: self_url,
                rel: "self".to_owned(),
                mime_type: Some("application/atom+xml".to_owned()),
                ..Default::default()
            },
            Link {
                href: channel.base_url.to_string(),
                rel: "alternate".to_owned(),
                mime_type: Some("text/html".to_owned()),
                ..Default::default()
            },
        ]
        .into_iter()
        .chain(channel.hub.iter().map(|hub| Link {
            href: hub.to_string(),
            rel: "hub".to_owned(),
            ..Default::default()
        }))
        .collect(),
        namespaces: BTreeMap::from([(PREFIX.to_owned(), NAMESPACE.to_owned())]),
        entries: entries.iter().map(entry).collect(),
        ..Default::default()
    };
    feed.to_string()
}

fn entry(e: &Entry<'_>) -> AtomEntry {
    let mut links = Vec::new();
    if let Some(link) = &e.link {
        links.push(Link {
            href: xml_text(link),
            rel: "alternate".to_owned(),
            ..Default::default()
        });
    }
    if let Some(enc) = e.enclosure {
        links.push(Link {
            href: xml_text(&enc.url),
            rel: "enclosure".to_owned(),
            mime_type: Some(xml_text(&enc.mime_type)),
            length: (enc.length > 0).then(|| enc.length.to_string()),
            ..Default::default()
        });
    }
    let mut extensions = BTreeMap::new();
    if let Some(rt) = &e.reading {
        let estimate = Extension {
            name: format!("{PREFIX}:readingTime"),
            attrs: reading_attrs(rt)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            ..Default::default()
        };
        extensions.insert(
            PREFIX.to_owned(),
            BTreeMap::from([("readingTime".to_owned(), vec![estimate])]),
        );
    }
    AtomEntry {
        // Atom requires a title; an item without one gets its summary's start.
        title: Text::plain(xml_text(if e.title.is_empty() {
            &e.summary
        } else {
            &e.title
        })),
        id: e.id.clone(),
        updated: e.updated.fixed_offset(),
        published: Some(e.date.fixed_offset()),
        authors: e
            .author
            .map(|a| Person {
                name: xml_text(a),
                ..Default::default()
            })
            .into_iter()
            .collect(),
        categories: e
            .categories
            .iter()
            .map(|c| xml_text(c))
            .filter(|c| !c.trim().is_empty())
            .map(|term| Category {
                term,
                ..Default::default()
            })
            .collect(),
        links,
        content: Some(Content {
            value: Some(xml_text(&e.html)),
            content_type: Some("html".to_owned()),
            ..Default::default()
        }),
        source: Some(Source {
            title: Text::plain(xml_text(&e.source_title)),
            id: xml_text(&e.source_url),
            updated: e.updated.fixed_offset(),
            links: vec![Link {
                href: xml_text(&e.source_url),
                rel: "self".to_owned(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        extensions,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::entries;
    use super::super::tests::{channel, stored};
    use super::*;
    use crate::config::Placement;

    #[test]
    fn round_trips_through_feed_rs() {
        let items = [stored("Hello <b>", "<p>Body</p><script>x()</script>")];
        let xml = render(
            &channel(),
            &entries(&items, &[], Placement::Description),
            Utc::now(),
        );
        let parsed = feed_rs::parser::parse(xml.as_bytes()).expect("valid Atom");
        assert_eq!(parsed.entries.len(), 1);
        let e = &parsed.entries[0];
        assert_eq!(e.title.as_ref().unwrap().content, "Hello <b>");
        assert!(e.id.starts_with("urn:feedmerge:"), "{}", e.id);
        let body = e.content.as_ref().unwrap().body.as_deref().unwrap();
        assert!(body.starts_with("<p>2 min read</p><p>Body</p>"), "{body}");
        assert!(!body.contains("script"));
        assert_eq!(e.authors[0].name.as_deref(), Some("Ann"));
        assert!(
            xml.contains(r#"<feedmerge:readingTime"#) && xml.contains(r#"minutes="2""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<link href="http://127.0.0.1:8080/feed.atom" rel="self""#),
            "{xml}"
        );
        assert!(xml.contains("<source>"), "{xml}");
    }
}
