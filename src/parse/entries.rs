//! The entries a document may bring: a document → the same document with its entries past the
//! first [`MAX_ITEMS_PER_DOCUMENT`] cut out, before feed-rs builds a model of them.

use std::borrow::Cow;

/// The most entries taken from one document: the first ones in document order, as feed readers
/// keep them (feeds list their newest first). The rest are cut out of the document before
/// feed-rs reads it, so they cost a scan, not a model (an 11 MB JSON Feed of 100,000 items
/// took 275 MB). As many as `[storage] max_items_per_feed` keeps by default.
pub const MAX_ITEMS_PER_DOCUMENT: usize = 1000;

/// The most elements taken of any array inside an item of a JSON Feed (`tags`,
/// `attachments`, `authors` or any other): the rest are cut out with the entries past the
/// cap, before serde builds a model of them (4 million tags on one item took 635 MiB).
/// More than any list of an item keeps once normalised.
pub const MAX_JSON_LIST: usize = 1000;

/// The deepest nesting the JSON scan follows: serde_json refuses a document nested deeper than
/// 128, and past this the scan counts brackets only, so that its memory stays bounded.
const MAX_JSON_DEPTH: usize = 128;

/// `doc` with its entries past the first `max` cut out: `<item>`s and `<entry>`s of XML
/// (with their content), elements of a JSON Feed's `items`. Borrowed when it has no more
/// than `max`, which one count of the candidate names shows for nearly every feed.
pub(super) fn first_entries(doc: &[u8], max: usize) -> Cow<'_, [u8]> {
    let first = doc.iter().position(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|i| doc[i] == b'{') {
        // An array of n elements has n - 1 commas: with fewer commas than the smaller cap,
        // no array needs a cut.
        if memchr::memchr_iter(b',', doc)
            .nth(max.min(MAX_JSON_LIST))
            .is_none()
        {
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
/// other entries, at any depth) are left out. Where quick-xml stops reading a document (at a
/// `<!X>`, say), the rest is cut by the names of its tags alone ([`entry_tags`]): such a
/// document goes to repair, which reads on.
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
                let from = match entry {
                    Some((_, Some(from))) => Some(from),
                    _ => entry_tags(doc, at).nth(max.saturating_sub(seen)),
                };
                if let Some(from) = from {
                    dropped.push(from..last_entry_tag_end(doc, from));
                }
                break;
            }
            Ok(_) => {}
        }
    }
    if dropped.is_empty() {
        return Cow::Borrowed(doc);
    }
    Cow::Owned(without(doc, &dropped))
}

/// Where each start tag whose local name is `item` or `entry` begins, from `from` on, judged
/// by the name alone: one inside a comment or CDATA section counts too, so that a cut made by
/// them comes sooner than a reader's would, never later. Linear: each `<` reads its own name.
fn entry_tags(doc: &[u8], from: usize) -> impl Iterator<Item = usize> + '_ {
    memchr::memchr_iter(b'<', &doc[from..])
        .map(move |i| from + i)
        .filter(|&at| is_entry_name(tag_name(&doc[at + 1..])))
}

/// The end of the last tag (start, end or empty) of an `item` or `entry` at or after `from`,
/// found by name alone like [`entry_tags`]; `from` when there is none. What follows it (the
/// end tags of the channel and the root) is kept.
fn last_entry_tag_end(doc: &[u8], from: usize) -> usize {
    let last = memchr::memrchr_iter(b'<', &doc[from..])
        .map(|i| from + i)
        .find(|&at| {
            let rest = &doc[at + 1..];
            is_entry_name(tag_name(rest.strip_prefix(b"/").unwrap_or(rest)))
        });
    last.map_or(from, |at| {
        memchr::memchr(b'>', &doc[at..]).map_or(doc.len(), |end| at + end + 1)
    })
}

/// The name at the start of `rest` (what follows a `<`): its XML name characters.
fn tag_name(rest: &[u8]) -> &[u8] {
    let len = rest
        .iter()
        .position(|&b| {
            !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':') || b >= 0x80)
        })
        .unwrap_or(rest.len());
    &rest[..len]
}

/// Whether a tag name's local part (after any prefix) is `item` or `entry`.
fn is_entry_name(name: &[u8]) -> bool {
    let local = name.rsplit(|&b| b == b':').next().unwrap_or(name);
    matches!(local, b"item" | b"entry")
}

/// [`first_entries`] for JSON: the elements of a top-level `"items"` array past the first
/// `max`, and of any array inside an item past the first [`MAX_JSON_LIST`], are left out, by
/// one scan that follows strings and nesting. A key is compared as JSON reads it
/// (`"it\u0065ms"` is `items`), and every `items` array is cut, since a reader may take
/// either of two. A document that ends inside an array loses its tail (serde_json rejects it
/// either way).
fn first_json_items(doc: &[u8], max: usize) -> Cow<'_, [u8]> {
    /// An open array or object, within [`MAX_JSON_DEPTH`].
    struct Open {
        /// The most elements kept, for an array that is cut.
        limit: Option<usize>,
        elements: usize,
        element_open: bool,
        cut_from: Option<usize>,
    }
    let mut open: Vec<Open> = Vec::new();
    let mut depth = 0usize;
    let mut at = 0;
    // At depth 1: whether the next string is a key, and whether the last key read is "items".
    let mut expect_key = false;
    let mut items_key = false;
    // The depth of the items array being read, if one is.
    let mut items_depth: Option<usize> = None;
    // How many open arrays are being cut: what is inside those is cut with them.
    let mut cutting = 0usize;
    let mut dropped: Vec<std::ops::Range<usize>> = Vec::new();
    // A value starts in the innermost open container: it counts as one of its elements.
    let value_starts = |open: &mut Vec<Open>, depth: usize| {
        if let Some(o) = open.last_mut().filter(|_| depth <= MAX_JSON_DEPTH) {
            if !o.element_open {
                o.element_open = true;
                o.elements += 1;
            }
        }
    };
    while at < doc.len() {
        let b = doc[at];
        match b {
            b'"' => {
                let start = at + 1;
                at = start;
                let mut escaped = false;
                while at < doc.len() && doc[at] != b'"' {
                    escaped |= doc[at] == b'\\';
                    at += if doc[at] == b'\\' { 2 } else { 1 };
                }
                if depth == 1 && expect_key {
                    let raw = &doc[start..at.min(doc.len())];
                    items_key = raw == b"items" || (escaped && json_key(doc, start, at) == "items");
                    expect_key = false;
                } else {
                    value_starts(&mut open, depth);
                }
            }
            b'{' | b'[' => {
                value_starts(&mut open, depth);
                depth += 1;
                if depth == 1 {
                    expect_key = true;
                }
                let limit = if b != b'[' || cutting > 0 {
                    None
                } else if depth == 2 && items_key {
                    items_depth = Some(depth);
                    Some(max)
                } else if items_depth.is_some() {
                    Some(MAX_JSON_LIST)
                } else {
                    None
                };
                if depth <= MAX_JSON_DEPTH {
                    open.push(Open {
                        limit,
                        elements: 0,
                        element_open: false,
                        cut_from: None,
                    });
                }
            }
            b'}' | b']' => {
                if depth <= MAX_JSON_DEPTH {
                    if let Some(from) = open.pop().and_then(|o| o.cut_from) {
                        dropped.push(from..at);
                        cutting -= 1;
                    }
                }
                if items_depth == Some(depth) {
                    items_depth = None;
                }
                if depth == 2 {
                    items_key = false;
                }
                depth = depth.saturating_sub(1);
            }
            b',' => {
                if depth == 1 {
                    expect_key = true;
                }
                if let Some(o) = open.last_mut().filter(|_| depth <= MAX_JSON_DEPTH) {
                    o.element_open = false;
                    if o.limit == Some(o.elements) && o.cut_from.is_none() {
                        o.cut_from = Some(at);
                        cutting += 1;
                    }
                }
            }
            c if c.is_ascii_whitespace() || c == b':' => {}
            // Numbers, true, false, null.
            _ => value_starts(&mut open, depth),
        }
        at += 1;
    }
    // Cut to the end from the outermost array still being cut (what is inside goes with it).
    if let Some(from) = open.iter().find_map(|o| o.cut_from) {
        dropped.push(from..doc.len());
    }
    if dropped.is_empty() {
        return Cow::Borrowed(doc);
    }
    // Inner arrays close (and are recorded) before the arrays around them: in document order,
    // no range overlaps another, since nothing inside a cut is cut again.
    dropped.sort_by_key(|r| r.start);
    Cow::Owned(without(doc, &dropped))
}

/// The key between the quotes at `start - 1` and `end`, unescaped; empty when it is not a
/// valid JSON string. Each key is read once, so this stays linear.
fn json_key(doc: &[u8], start: usize, end: usize) -> String {
    doc.get(start - 1..=end)
        .and_then(|quoted| serde_json::from_slice(quoted).ok())
        .unwrap_or_default()
}

/// `doc` without the byte ranges of `dropped` (in order, not overlapping).
fn without(doc: &[u8], dropped: &[std::ops::Range<usize>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(doc.len());
    let mut at = 0;
    for r in dropped {
        out.extend_from_slice(&doc[at..r.start]);
        at = r.end;
    }
    out.extend_from_slice(&doc[at..]);
    out
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

    /// The number of entries feed-rs reads from `doc` once it is cut to `max`.
    fn read_after_cut(doc: &[u8], max: usize) -> usize {
        feed_rs::parser::parse(&*first_entries(doc, max)).map_or(0, |f| f.entries.len())
    }

    fn rss_items(n: usize) -> String {
        (0..n)
            .map(|n| format!("<item><guid>{n}</guid><title>Item {n}</title></item>"))
            .collect()
    }

    /// Review of issue 19: past a markup declaration quick-xml refuses (`<!X>`) nothing was
    /// cut, and the repair that such a document goes to kept every entry.
    #[test]
    fn regression_19_a_document_quick_xml_refuses_is_cut_by_tag_names() {
        // See: issue #19, review finding 4
        let entries = |doc: &[u8]| memchr::memmem::find_iter(doc, b"item>").count() / 2;
        let at_start = format!(
            "<rss version='2.0'><channel><title>t</title><!X>{}</channel></rss>",
            rss_items(30)
        );
        let cut = first_entries(at_start.as_bytes(), 10);
        assert_eq!(entries(&cut), 10);
        assert!(
            cut.ends_with(b"</item></channel></rss>"),
            "the end tags are kept"
        );
        // Refused inside a kept entry, and inside one left out, with prefixed names.
        let within = |n: usize| {
            format!(
                "<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' xmlns:r='http://purl.org/rss/1.0/'>\
                 <r:channel><r:title>t</r:title></r:channel>{}<r:item><r:title>x</r:title><!X></r:item>{}</rdf:RDF>",
                (0..n)
                    .map(|k| format!("<r:item><r:title>{k}</r:title></r:item>"))
                    .collect::<String>(),
                (0..30)
                    .map(|k| format!("<r:item><r:title>{k}</r:title></r:item>"))
                    .collect::<String>(),
            )
        };
        for n in [3, 12] {
            let doc = within(n);
            let cut = first_entries(doc.as_bytes(), 10);
            assert_eq!(entries(&cut), 10, "refused after {n} entries");
            assert!(cut.ends_with(b"</r:item></rdf:RDF>"));
        }
    }

    /// Review of issue 19: the key of a JSON Feed's items was compared as written, so
    /// `"it\u0065ms"` was not cut; and only the first of two `items` was, where serde keeps the
    /// last.
    #[test]
    fn regression_19_json_items_are_found_as_json_reads_keys() {
        // See: issue #19, review finding 4
        let items = |n: usize| {
            (0..n)
                .map(|n| format!(r#"{{"id":"{n}","content_text":"x"}}"#))
                .collect::<Vec<_>>()
                .join(",")
        };
        let escaped = format!(
            r#"{{"version":"https://jsonfeed.org/version/1.1","title":"t","it\u0065ms":[{}]}}"#,
            items(30)
        );
        assert_eq!(read_after_cut(escaped.as_bytes(), 10), 10);
        let twice = format!(
            r#"{{"version":"https://jsonfeed.org/version/1.1","items":[{}],"title":"t","items":[{}]}}"#,
            items(1),
            items(30)
        );
        let cut = first_entries(twice.as_bytes(), 10);
        let value: serde_json::Value = serde_json::from_slice(&cut).unwrap();
        assert_eq!(
            value["items"].as_array().unwrap().len(),
            10,
            "the last items kept"
        );
    }

    /// The lists inside a JSON Feed item were read whole: 4 million tags on one item took
    /// 635 MiB, an array of 8 million numbers in an item the lenient reading refuses 317 MiB.
    /// Every array inside an item keeps its first [`MAX_JSON_LIST`] elements now, and those
    /// inside a cut item go with it.
    #[test]
    fn lists_inside_json_items_are_cut() {
        let list =
            |n: usize, f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>().join(",");
        let tags = list(MAX_JSON_LIST + 500, &|n| format!("\"t{n}\""));
        let numbers = format!("[{}]", list(MAX_JSON_LIST * 3, &|n| n.to_string()));
        let doc = format!(
            r#"{{"version":"https://jsonfeed.org/version/1.1","title":"t","items":[{}],"tags":[{tags}]}}"#,
            list(5, &|n| format!(
                r#"{{"id":"{n}","tags":[{tags}],"x":{{"deep":[{numbers},{numbers}]}}}}"#
            ))
        );
        let cut = first_entries(doc.as_bytes(), 3);
        let value: serde_json::Value = serde_json::from_slice(&cut).unwrap();
        let items = value["items"].as_array().unwrap();
        assert_eq!(items.len(), 3);
        for item in items {
            assert_eq!(item["tags"].as_array().unwrap().len(), MAX_JSON_LIST);
            let deep = item["x"]["deep"].as_array().unwrap();
            assert_eq!(deep.len(), 2);
            assert_eq!(deep[1].as_array().unwrap().len(), MAX_JSON_LIST);
        }
        assert_eq!(
            value["tags"].as_array().unwrap().len(),
            MAX_JSON_LIST + 500,
            "outside the items: not an entry's"
        );
        let feed = feed_rs::parser::parse(&*cut).unwrap();
        assert_eq!(feed.entries[0].categories.len(), MAX_JSON_LIST);
    }
}
