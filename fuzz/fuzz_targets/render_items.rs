//! Arbitrary stored items → every renderer: RSS, Atom, JSON Feed and the news page.
//!
//! The store hands the renderers whatever a publisher sent, within the caps of `normalize`;
//! a database edited by hand, or older than a cap, may hold anything. So the items here are
//! built straight from the input, not through the parser: any text in every field (titles,
//! links, authors, categories, HTML content and article HTML, bases, feed titles and URLs),
//! and HTML nested as deep as the input asks. Nothing may panic, and every output must be well
//! formed: the RSS parses back with the `rss` crate and the Atom with `atom_syndication`, each
//! with one entry per item (and one per failing feed); the JSON is JSON with as many items;
//! the page has one card per item and no script but its own; no XML output carries a character
//! XML 1.0 forbids, and no RSS description a `<script`.
//!
//! The input is read as `tests/properties.rs` reads the kept corpus (`items_from_bytes`, the
//! same function there): items separated by byte 0xFE, fields by 0xFF (neither occurs in
//! UTF-8, so a dictionary of HTML and URL pieces stays whole).
#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use feedmerge::config::Placement;
use feedmerge::model::{
    AlsoIn, Cursor, Enclosure, FeedFailure, FullTextOutcome, ItemKey, NewItem, ReadingTime,
    StoredItem, TextSource,
};
use feedmerge::render::{Channel, Format};
use libfuzzer_sys::fuzz_target;
use url::Url;

/// Whether XML 1.0 forbids `c` (surrogates cannot occur in a `str`).
fn forbidden_in_xml(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).single().unwrap()
}

/// The stored items, the failing feeds and the placement of "N min read" that `data` stands
/// for. Kept identical to `items_from_bytes` in `tests/properties.rs`.
fn items_from_bytes(data: &[u8]) -> (Vec<StoredItem>, Vec<FeedFailure>, Placement) {
    let now = now();
    let placement = [
        Placement::Description,
        Placement::Title,
        Placement::Both,
        Placement::None,
    ][data.len() % 4];
    let mut items = Vec::new();
    let mut failing = Vec::new();
    for (n, chunk) in data.split(|&b| b == 0xFE).take(64).enumerate() {
        let fields: Vec<String> = chunk
            .split(|&b| b == 0xFF)
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        let field = |i: usize| fields.get(i).cloned().unwrap_or_default();
        let opt = |i: usize| fields.get(i).filter(|f| !f.is_empty()).cloned();
        let number = |i: usize| -> u64 {
            fields.get(i).map_or(0, |f| {
                f.bytes()
                    .fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(b)))
            })
        };
        // Field 15 asks for nesting: "<tag>" opened `number(16) % 400` times around the content.
        let mut content = field(5);
        if let Some(tag) = opt(15) {
            let depth = (number(16) % 400) as usize;
            let name: String = tag
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(10)
                .collect();
            let name = if name.is_empty() {
                "div".to_owned()
            } else {
                name
            };
            content = format!(
                "{}{content}{}",
                format!("<{name}>").repeat(depth),
                format!("</{name}>").repeat(depth / 2)
            );
        }
        if field(0) == "failing" {
            failing.push(FeedFailure {
                feed_url: field(1),
                feed_title: field(2),
                since: now - chrono::Duration::seconds((number(3) % 1_000_000_000) as i64),
                error: field(4),
            });
            continue;
        }
        let date = now - chrono::Duration::seconds((number(12) % 1_000_000_000) as i64);
        let item = NewItem {
            key: ItemKey(format!("k:{n}:{}", field(0))),
            guid: field(0),
            link: opt(1),
            canonical_link: opt(1),
            title: field(2),
            author: opt(3),
            categories: fields.get(4).map_or_else(Vec::new, |c| {
                c.split('\n')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect()
            }),
            content_html: content,
            content_base: opt(6),
            date: Some(date),
            enclosure: opt(7).map(|url| Enclosure {
                url,
                mime_type: field(8),
                length: number(8),
            }),
            image: opt(9),
            summary: field(10),
            reading_time: ReadingTime {
                minutes: (number(11) % 10_000) as u32 + 1,
                words: (number(11) % 1_000_000) as u32,
                cjk_chars: (number(11) % 1_000) as u32,
                images: (number(11) % 100) as u32,
                source: TextSource::from_name(&field(11)),
            },
            content_hash: number(5) as i64,
            full_text: opt(13).map(|html| FullTextOutcome::Extracted(Some(html))),
            wants_full_text: false,
            fingerprint: None,
            near_duplicate_of: None,
        };
        let feed_url = field(14);
        items.push(StoredItem {
            item,
            cursor: Cursor {
                sort_at: date.timestamp(),
                id: n as i64 + 1,
            },
            also_in: opt(17).map_or_else(Vec::new, |a| {
                a.split('\n')
                    .map(|line| AlsoIn {
                        feed_title: line.to_owned(),
                        link: Some(line.to_owned()),
                    })
                    .collect()
            }),
            feed_title: opt(18).unwrap_or_else(|| feed_url.clone()),
            feed_url,
            first_seen: date,
            date,
            changed_at: now,
        });
    }
    (items, failing, placement)
}

fuzz_target!(|data: &[u8]| {
    let (stored, failing, placement) = items_from_bytes(data);
    let now = now();
    let channel = Channel {
        title: "fuzz".to_owned(),
        description: "merged".to_owned(),
        base_url: Url::parse("http://127.0.0.1:8080/").unwrap(),
        path: "feed".to_owned(),
        placement,
    };
    let entries = stored.len() + failing.len();
    for format in Format::ALL {
        let out = feedmerge::render::render(format, &channel, &stored, &failing, now);
        let bad = |c: char| match format {
            Format::Json => c < ' ',
            _ => forbidden_in_xml(c),
        };
        if let Some(c) = out.chars().find(|&c| bad(c)) {
            panic!("{format:?} output contains {c:?}:\n{out}");
        }
        let n = match format {
            Format::Rss => {
                let back = rss::Channel::read_from(out.as_bytes())
                    .unwrap_or_else(|e| panic!("RSS does not parse back: {e}\n{out}"));
                for item in &back.items {
                    let html = item
                        .description
                        .as_deref()
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    assert!(
                        !html.contains("<script"),
                        "script in RSS description:\n{out}"
                    );
                }
                back.items.len()
            }
            Format::Atom => out
                .parse::<atom_syndication::Feed>()
                .unwrap_or_else(|e| panic!("Atom does not parse back: {e}\n{out}"))
                .entries
                .len(),
            Format::Json => {
                let back: serde_json::Value = serde_json::from_str(&out)
                    .unwrap_or_else(|e| panic!("JSON Feed is not JSON: {e}\n{out}"));
                back["items"].as_array().map_or(0, Vec::len)
            }
        };
        assert_eq!(n, entries, "{format:?} entries lost:\n{out}");
    }
    let page = feedmerge::render::page::Page {
        more_url: Some("/?before=1-2"),
        ..feedmerge::render::page::Page::new(&channel, &stored)
    };
    let page = feedmerge::render::page::render(&page, now, &Default::default());
    let cards = page.matches("<article class=\"card").count();
    assert_eq!(cards, stored.len(), "cards lost:\n{page}");
    assert_eq!(
        page.matches("<script").count(),
        1,
        "a script on the page:\n{page}"
    );
});
