//! JSON Feed 1.1 (serde): the merged entries, with the estimate and the source feed in the
//! `_feedmerge` extension object.

use serde::Serialize;

use super::{Channel, Entry, Format};

/// The JSON Feed version this writes.
pub const VERSION: &str = "https://jsonfeed.org/version/1.1";

#[derive(Serialize)]
struct Document<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: String,
    feed_url: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hubs: Vec<Hub>,
    items: Vec<Item<'a>>,
}

/// A JSON Feed `hubs` entry.
#[derive(Serialize)]
struct Hub {
    #[serde(rename = "type")]
    kind: &'static str,
    url: String,
}

#[derive(Serialize)]
struct Item<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    title: &'a str,
    content_html: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    summary: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
    date_published: String,
    date_modified: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<Author<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<Attachment<'a>>,
    #[serde(rename = "_feedmerge")]
    feedmerge: Extension<'a>,
}

#[derive(Serialize)]
struct Author<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Attachment<'a> {
    url: &'a str,
    mime_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_in_bytes: Option<u64>,
}

/// feedmerge's extension object (JSON Feed: keys starting with `_` are extensions).
#[derive(Serialize)]
struct Extension<'a> {
    /// Whole minutes; absent for health items.
    #[serde(skip_serializing_if = "Option::is_none")]
    reading_minutes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    words: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cjk_chars: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    images: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reading_source: Option<&'static str>,
    feed_url: &'a str,
    feed_title: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    also_in: Vec<AlsoIn<'a>>,
}

/// Another feed with the same story, and the link to its copy there.
#[derive(Serialize)]
struct AlsoIn<'a> {
    feed_title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
}

/// Renders `entries` (newest first) as a JSON Feed 1.1 document.
pub fn render(channel: &Channel, entries: &[Entry<'_>]) -> String {
    let doc = Document {
        version: VERSION,
        title: &channel.title,
        home_page_url: channel.base_url.to_string(),
        feed_url: channel.self_url(Format::Json),
        description: &channel.description,
        hubs: channel
            .hub
            .iter()
            .map(|hub| Hub {
                kind: "WebSub",
                url: hub.to_string(),
            })
            .collect(),
        items: entries.iter().map(item).collect(),
    };
    // Serialising these plain structs cannot fail.
    serde_json::to_string(&doc).expect("JSON Feed serialises")
}

fn item<'a>(e: &'a Entry<'a>) -> Item<'a> {
    Item {
        id: &e.id,
        url: e.link.as_deref(),
        title: &e.title,
        content_html: &e.html,
        summary: &e.summary,
        image: e.image,
        date_published: e.date.to_rfc3339(),
        date_modified: e.updated.to_rfc3339(),
        authors: e.author.map(|name| Author { name }).into_iter().collect(),
        tags: e.categories,
        attachments: e
            .enclosure
            .map(|enc| Attachment {
                url: &enc.url,
                mime_type: &enc.mime_type,
                size_in_bytes: (enc.length > 0).then_some(enc.length),
            })
            .into_iter()
            .collect(),
        feedmerge: Extension {
            reading_minutes: e.reading.map(|r| r.minutes),
            words: e.reading.map(|r| r.words),
            cjk_chars: e.reading.map(|r| r.cjk_chars),
            images: e.reading.map(|r| r.images),
            reading_source: e.reading.map(|r| r.source.as_str()),
            feed_url: &e.source_url,
            feed_title: &e.source_title,
            also_in: e
                .also_in
                .iter()
                .map(|a| AlsoIn {
                    feed_title: &a.feed_title,
                    url: a.url.as_deref(),
                })
                .collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::entries;
    use super::super::tests::{channel, stored};
    use super::*;
    use crate::config::Placement;

    #[test]
    fn has_the_required_fields_and_the_extension() {
        let items = [stored("Hello", "<p>Body</p>")];
        let json = render(&channel(), &entries(&items, &[], Placement::Description));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["version"], VERSION);
        assert_eq!(v["title"], "Merged");
        assert_eq!(v["feed_url"], "http://127.0.0.1:8080/feed.json");
        let item = &v["items"][0];
        assert!(item["id"].as_str().unwrap().starts_with("urn:feedmerge:"));
        assert!(
            item["content_html"]
                .as_str()
                .unwrap()
                .starts_with("<p>2 min read</p>")
        );
        assert_eq!(item["_feedmerge"]["reading_minutes"], 2);
        assert_eq!(item["_feedmerge"]["words"], 313);
        assert_eq!(
            item["_feedmerge"]["feed_url"],
            "https://example.org/feed.xml"
        );
        assert_eq!(item["authors"][0]["name"], "Ann");
        let parsed = feed_rs::parser::parse(json.as_bytes()).expect("feed-rs reads it");
        assert_eq!(parsed.entries.len(), 1);
    }
}
