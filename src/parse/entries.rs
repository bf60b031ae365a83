//! The entries a document may bring: a document → the same document with its entries past the
//! first [`MAX_ITEMS_PER_DOCUMENT`] cut out, before feed-rs builds a model of them.

use std::borrow::Cow;

/// The most entries taken from one document: the first ones in document order, as feed readers
/// keep them (feeds list their newest first). The rest are cut out of the document before
/// feed-rs reads it, so they cost a scan, not a model (an 11 MB JSON Feed of 100,000 items
/// took 275 MB). As many as `[storage] max_items_per_feed` keeps by default.
pub const MAX_ITEMS_PER_DOCUMENT: usize = 1000;

/// `doc` with its entries past the first `max` cut out: `<item>`s and `<entry>`s of XML
/// (with their content), elements of a JSON Feed's `items`. Borrowed when it has no more
/// than `max`, which one count of the candidate names shows for nearly every feed.
pub(super) fn first_entries(doc: &[u8], max: usize) -> Cow<'_, [u8]> {
    let first = doc.iter().position(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|i| doc[i] == b'{') {
        // Every item is an object: fewer braces than that, fewer items.
        if memchr::memchr_iter(b'{', doc).nth(max).is_none() {
            return Cow::Borrowed(doc);
        }
        return first_json_items(doc, max);
    }
    let candidates = [&b"item"[..], b"entry"]
        .iter()
        .map(|name| memchr::memmem::find_iter(doc, name).count())
        .sum::<usize>();
    if candidates <= max {
        return Cow::Borrowed(doc);
    }
    first_xml_entries(doc, max)
}

/// [`first_entries`] for XML: the byte ranges of the entries past the first `max` (outside
/// other entries, at any depth) are left out. A document quick-xml cannot read to the end is
/// cut where it stopped reading it, if an entry was being left out then.
fn first_xml_entries(doc: &[u8], max: usize) -> Cow<'_, [u8]> {
    use quick_xml::events::Event;

    let is_entry = |name: &str| matches!(name, "item" | "entry");
    let mut reader = quick_xml::Reader::from_reader(doc);
    // Not ours to judge: feed-rs reads what it can.
    reader.config_mut().check_end_names = false;
    let mut depth = 0usize;
    let mut seen = 0usize;
    // The depth of the entry being read, and where it started when it is left out.
    let mut entry: Option<(usize, Option<usize>)> = None;
    let mut dropped: Vec<std::ops::Range<usize>> = Vec::new();
    loop {
        let at = reader.buffer_position() as usize;
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                if entry.is_none() && is_entry(e.local_name().as_ref()) {
                    seen += 1;
                    entry = Some((depth, (seen > max).then_some(at)));
                }
                depth += 1;
            }
            Ok(Event::Empty(e)) => {
                if entry.is_none() && is_entry(e.local_name().as_ref()) {
                    seen += 1;
                    if seen > max {
                        dropped.push(at..reader.buffer_position() as usize);
                    }
                }
            }
            Ok(Event::End(_)) => {
                depth = depth.saturating_sub(1);
                if let Some((d, from)) = entry {
                    if d == depth {
                        entry = None;
                        if let Some(from) = from {
                            dropped.push(from..reader.buffer_position() as usize);
                        }
                    }
                }
            }
            Ok(Event::Eof) => break,
            Err(_) => {
                if let Some((_, Some(from))) = entry {
                    dropped.push(from..doc.len());
                }
                break;
            }
            Ok(_) => {}
        }
    }
    if dropped.is_empty() {
        return Cow::Borrowed(doc);
    }
    let mut out = Vec::with_capacity(doc.len());
    let mut at = 0;
    for r in dropped {
        out.extend_from_slice(&doc[at..r.start]);
        at = r.end;
    }
    out.extend_from_slice(&doc[at..]);
    Cow::Owned(out)
}

/// [`first_entries`] for JSON: the elements of the top-level `"items"` array past the first
/// `max` are left out, by one scan that follows strings and nesting. A document that ends
/// inside the array loses its tail (serde_json rejects it either way).
fn first_json_items(doc: &[u8], max: usize) -> Cow<'_, [u8]> {
    let mut depth = 0usize;
    let mut at = 0;
    // At depth 1: whether the next string is a key, and the last key read.
    let mut expect_key = false;
    let mut key: &[u8] = b"";
    // The depth of the items array once it opens; elements seen in it; where the cut starts.
    let mut items_depth: Option<usize> = None;
    let mut elements = 0usize;
    let mut element_open = false;
    let mut cut_from: Option<usize> = None;
    while at < doc.len() {
        let b = doc[at];
        match b {
            b'"' => {
                let start = at + 1;
                at = start;
                while at < doc.len() && doc[at] != b'"' {
                    at += if doc[at] == b'\\' { 2 } else { 1 };
                }
                if depth == 1 && expect_key {
                    key = &doc[start..at.min(doc.len())];
                    expect_key = false;
                }
                if Some(depth) == items_depth && !element_open {
                    element_open = true;
                    elements += 1;
                }
            }
            b'{' | b'[' => {
                if Some(depth) == items_depth && !element_open {
                    element_open = true;
                    elements += 1;
                }
                depth += 1;
                if depth == 1 {
                    expect_key = true;
                } else if depth == 2 && b == b'[' && key == b"items" && items_depth.is_none() {
                    items_depth = Some(2);
                }
            }
            b'}' | b']' => {
                if Some(depth) == items_depth {
                    if let Some(from) = cut_from {
                        let mut out = Vec::with_capacity(doc.len() - (at - from));
                        out.extend_from_slice(&doc[..from]);
                        out.extend_from_slice(&doc[at..]);
                        return Cow::Owned(out);
                    }
                    items_depth = None;
                    // Only the first "items" counts.
                    key = b"";
                }
                depth = depth.saturating_sub(1);
            }
            b',' => {
                if depth == 1 {
                    expect_key = true;
                }
                if Some(depth) == items_depth {
                    element_open = false;
                    if elements == max && cut_from.is_none() {
                        cut_from = Some(at);
                    }
                }
            }
            c if c.is_ascii_whitespace() || c == b':' => {}
            // Numbers, true, false, null.
            _ => {
                if Some(depth) == items_depth && !element_open {
                    element_open = true;
                    elements += 1;
                }
            }
        }
        at += 1;
    }
    match cut_from {
        Some(from) => Cow::Owned(doc[..from].to_vec()),
        None => Cow::Borrowed(doc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;
    use url::Url;

    fn base() -> Url {
        Url::parse("https://example.org/feed").unwrap()
    }

    #[test]
    fn only_the_first_entries_are_read() {
        let rss = format!(
            "<rss version='2.0'><channel><title>t</title>{}<item/><ttl>5</ttl></channel></rss>",
            (0..10)
                .map(|n| format!(
                    "<item><guid>{n}</guid><description><![CDATA[<item>]]></description></item>"
                ))
                .collect::<String>()
        );
        let cut = first_entries(rss.as_bytes(), 3);
        let feed = parse(&cut, None, &base()).unwrap().feed;
        let ids: Vec<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["0", "1", "2"]);
        assert_eq!(feed.ttl, Some(5), "what follows the entries is kept");

        let atom = format!(
            "<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title>{}</feed>",
            (0..10)
                .map(|n| format!("<entry><id>{n}</id><content type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'><entry>x</entry></div></content></entry>"))
                .collect::<String>()
        );
        let cut = first_entries(atom.as_bytes(), 4);
        assert_eq!(parse(&cut, None, &base()).unwrap().feed.entries.len(), 4);
        assert!(matches!(
            first_entries(atom.as_bytes(), 10),
            Cow::Borrowed(_)
        ));

        let json = format!(
            r#"{{"version":"https://jsonfeed.org/version/1.1","title":"[items]","items":[{}],"home_page_url":"https://example.org/"}}"#,
            (0..10)
                .map(|n| format!(r#"{{"id":"{n}","content_text":"a \"quoted\" ], {{ brace\\"}}"#))
                .collect::<Vec<_>>()
                .join(",")
        );
        let cut = first_entries(json.as_bytes(), 2);
        let feed = parse(&cut, None, &base()).unwrap().feed;
        let ids: Vec<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["0", "1"]);
        assert_eq!(feed.links.len(), 1, "what follows the items is kept");
        assert!(matches!(
            first_entries(json.as_bytes(), 10),
            Cow::Borrowed(_)
        ));
    }
}
