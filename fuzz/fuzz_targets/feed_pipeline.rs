//! Bytes → parse → normalize → identify → stored items → RSS, Atom and JSON Feed.
//!
//! Nothing may panic, and every output must be well formed: the RSS parses back with the
//! `rss` crate with one item per stored item, the Atom parses back with `atom_syndication`,
//! the JSON is JSON, and no output carries a character XML 1.0 forbids.
#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use feedmerge::config::Placement;
use feedmerge::model::{AlsoIn, Cursor, StoredItem};
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

fuzz_target!(|data: &[u8]| {
    let base = Url::parse("https://example.org/feeds/feed.xml").unwrap();
    let Ok(parsed) = feedmerge::parse::parse(data, None, &base) else {
        return;
    };
    let now = now();
    let (meta, items) = feedmerge::normalize::normalize(parsed, &base, now, &Default::default());
    let items = feedmerge::dedupe::identify(items);
    let feed_title = meta.title.unwrap_or_else(|| base.to_string());
    let stored: Vec<StoredItem> = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let date = item.date.unwrap_or(now);
            StoredItem {
                cursor: Cursor {
                    sort_at: date.timestamp(),
                    id: i as i64 + 1,
                },
                // Every other item is "also in" a feed named by the input.
                also_in: if i % 2 == 1 {
                    vec![AlsoIn {
                        feed_title: feed_title.clone(),
                        link: item.link.clone(),
                    }]
                } else {
                    Vec::new()
                },
                feed_url: base.to_string(),
                feed_title: feed_title.clone(),
                first_seen: now,
                date,
                changed_at: now,
                item,
            }
        })
        .collect();
    let channel = Channel {
        title: "fuzz".to_owned(),
        description: "merged".to_owned(),
        base_url: Url::parse("http://127.0.0.1:8080/").unwrap(),
        path: "feed".to_owned(),
        // Every placement of "N min read", chosen by the input's length.
        placement: [
            Placement::Description,
            Placement::Title,
            Placement::Both,
            Placement::None,
        ][data.len() % 4],
    };
    for format in Format::ALL {
        let out = feedmerge::render::render(format, &channel, &stored, &[], now);
        // XML 1.0 forbids these characters; JSON allows U+FFFE and U+FFFF but no raw C0 control.
        let bad = |c: char| match format {
            Format::Json => c < ' ',
            _ => forbidden_in_xml(c),
        };
        if let Some(c) = out.chars().find(|&c| bad(c)) {
            panic!("{format:?} output contains {c:?}:\n{out}");
        }
        match format {
            Format::Rss => {
                let back = rss::Channel::read_from(out.as_bytes())
                    .unwrap_or_else(|e| panic!("RSS does not parse back: {e}\n{out}"));
                assert_eq!(back.items.len(), stored.len(), "RSS items lost:\n{out}");
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
            }
            Format::Atom => {
                let back = out
                    .parse::<atom_syndication::Feed>()
                    .unwrap_or_else(|e| panic!("Atom does not parse back: {e}\n{out}"));
                assert_eq!(
                    back.entries.len(),
                    stored.len(),
                    "Atom entries lost:\n{out}"
                );
            }
            Format::Json => {
                let back: serde_json::Value = serde_json::from_str(&out)
                    .unwrap_or_else(|e| panic!("JSON Feed is not JSON: {e}\n{out}"));
                let n = back["items"].as_array().map_or(0, Vec::len);
                assert_eq!(n, stored.len(), "JSON items lost:\n{out}");
            }
        }
    }
});
