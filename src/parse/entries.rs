//! The entries a document may bring, and what feed-rs would build of them: a document → the
//! same document with its entries past the first [`MAX_ITEMS_PER_DOCUMENT`] cut out, and the
//! children of every entry bounded ([`MAX_SAME_NAME`], [`MAX_MEDIA_GROUPS`],
//! [`MAX_ELEMENTS_PER_DOCUMENT`]), before feed-rs builds a model of them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

/// The most entries taken from one document: the first ones in document order, as feed readers
/// keep them (feeds list their newest first). The rest are cut out of the document before
/// feed-rs reads it, so they cost a scan, not a model (an 11 MB JSON Feed of 100,000 items
/// took 275 MB). As many as `[storage] max_items_per_feed` keeps by default.
pub const MAX_ITEMS_PER_DOCUMENT: usize = 1000;

/// The most elements of one local name taken from one entry (at any depth in it), and from the
/// feed outside its entries; the rest are cut out with their content. feed-rs builds a model
/// of every `<enclosure>`, `<category>`, `<media:content>` or `<link>` it meets (one RSS item
/// of 835,000 enclosures took 275 MiB), and `normalize` keeps one enclosure, one thumbnail,
/// [`MAX_CATEGORIES`](crate::normalize::MAX_CATEGORIES) categories (32) and
/// [`MAX_AUTHOR_CHARS`](crate::normalize::MAX_AUTHOR_CHARS) characters of authors. Real items
/// carry a few of each: renditions of one video in a `<media:group>` (5 to 10), a gallery's
/// images, a post's tags (rarely past 50), the authors of a paper (only the first ones are
/// shown). Counting per name rather than in all keeps the elements that follow a long list
/// (an item's `<pubDate>` after its 300 tags). Elements feed-rs reads as text or markup, never
/// as a list, are not counted inside: an XHTML `<div>` and the text constructs
/// (`is_text`), so that no article text is cut. It also bounds how deep feed-rs recurses,
/// always through elements of the same names (`media:group` and `media:content` in each
/// other, `itunes:category` in itself): 3,000 nested `<media:group>`s (42 KB) overflowed the
/// stack of the thread that parsed them and aborted the daemon.
pub const MAX_SAME_NAME: usize = 64;

/// The most Media RSS `<media:group>`s of one entry kept as groups: those after it are
/// flattened (their tags removed, their children kept as the entry's). feed-rs copies the
/// entry's thumbnails, credits, texts, title and description into every group that has none
/// of its own, so that groups × thumbnails were built (a 206 KB item of 2,000 of each took
/// 1.1 GB). Real entries have one (YouTube's, a podcast's renditions); what a flattened group
/// held still reaches `normalize`, which keeps the first usable content and thumbnail.
pub const MAX_MEDIA_GROUPS: usize = 1;

/// The most elements taken from one XML document outside XHTML and text (`is_text`),
/// entries' own tags aside: once they are spent, the entry being read is cut with every
/// element after it. [`MAX_SAME_NAME`] bounds one entry, and this all of them: 1000 entries
/// of 64 elements of a dozen names each would otherwise be as many models as one entry of
/// 835,000 enclosures. Real entries carry 10 to 60 elements; this allows 128 on average.
pub const MAX_ELEMENTS_PER_DOCUMENT: usize = 128 * MAX_ITEMS_PER_DOCUMENT;

/// The most elements taken of any array inside an item of a JSON Feed (`tags`,
/// `attachments`, `authors` or any other): the rest are cut out with the entries past the
/// cap, before serde builds a model of them (4 million tags on one item took 635 MiB).
/// More than any list of an item keeps once normalised.
pub const MAX_JSON_LIST: usize = 1000;

/// The most elements taken of all the arrays inside the items of one JSON Feed together: once
/// they are spent, every array inside an item keeps its first element only. [`MAX_JSON_LIST`]
/// bounds one array, and this all of them: 1000 items of 1000 attachments each took 850 MiB.
/// Real items carry a few tags, attachments and authors; this allows 32 per item on average.
pub const MAX_JSON_LIST_ELEMENTS: usize = 32 * MAX_ITEMS_PER_DOCUMENT;

/// The deepest nesting the JSON scan follows: serde_json refuses a document nested deeper than
/// 128, and past this the scan counts brackets only, so that its memory stays bounded.
const MAX_JSON_DEPTH: usize = 128;

/// `doc` with its entries past the first `max` cut out: `<item>`s and `<entry>`s of XML
/// (with their content), elements of a JSON Feed's `items`; and what is inside its entries
/// bounded as the consts of this module say. Borrowed when nothing needed a cut. A JSON
/// Feed with fewer commas than the smaller cap is borrowed at once; an XML document is
/// scanned whole (the elements of one entry are not known without reading them).
pub(super) fn first_entries(doc: &[u8], max: usize) -> Cow<'_, [u8]> {
    let first = doc.iter().position(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|i| doc[i] == b'{') {
        // An array of n elements has n - 1 commas: with fewer commas than the smaller cap,
        // no array needs a cut, and all the arrays hold at most twice as many elements as
        // there are commas (plus one per level of nesting), fewer than the total allows.
        if memchr::memchr_iter(b',', doc)
            .nth(max.min(MAX_JSON_LIST))
            .is_none()
        {
            return Cow::Borrowed(doc);
        }
        return first_json_items(doc, max);
    }
    bounded_xml(doc, max)
}

/// Whether the elements inside an element of this local name are read by feed-rs as text or
/// markup and never modelled one by one: an XHTML `<div>` (Atom's `type="xhtml"`), and the
/// text constructs of every format it reads (Atom's, RSS `<description>`, `<content:encoded>`,
/// Media RSS and iTunes titles and descriptions). None of them is a container feed-rs walks.
fn is_text(name: &[u8]) -> bool {
    matches!(
        name,
        b"div" | b"title" | b"subtitle" | b"summary" | b"rights" | b"description" | b"encoded"
    )
}

/// What the XML scan knows of an entry being read.
struct Entry {
    /// Its depth (the number of elements open around it).
    depth: usize,
    /// Where its start tag begins.
    from: usize,
    /// How many `group`s it has met.
    groups: usize,
}

/// [`first_entries`] for XML, in one pass of quick-xml's reader: the byte ranges of what is
/// cut (entries past the first `max` outside other entries, at any depth; elements past
/// [`MAX_SAME_NAME`] of their name in their entry or outside entries; everything after
/// [`MAX_ELEMENTS_PER_DOCUMENT`]) and the tags of the groups past [`MAX_MEDIA_GROUPS`]
/// (flattened) are left out. Where
/// quick-xml stops reading a document (at a `<!X>`, say), feed-rs stops too, and the rest is
/// cut by the names of its entries' tags alone ([`entry_tags`]): such a document goes to
/// repair, which reads on, and what repair writes is scanned again.
fn bounded_xml(doc: &[u8], max: usize) -> Cow<'_, [u8]> {
    use quick_xml::events::Event;

    let mut reader = quick_xml::Reader::from_reader(doc);
    // Not ours to judge: feed-rs reads what it can.
    reader.config_mut().check_end_names = false;
    let mut depth = 0usize;
    let mut seen = 0usize;
    let mut entry: Option<Entry> = None;
    // The depth and start of an element being cut with its content, and whether it is an
    // entry: nothing inside it is looked at.
    let mut cutting: Option<(usize, usize, bool)> = None;
    // Whether each open element is flattened: its end tag goes too.
    let mut flattened: Vec<bool> = Vec::new();
    // The depth of the text or markup being read, inside which nothing is counted.
    let mut text: Option<usize> = None;
    // Counts of local names in the entry being read and outside entries. Each name counted
    // is an element kept, so the maps hold no more than MAX_ELEMENTS_PER_DOCUMENT names.
    let mut in_entry: HashMap<&[u8], usize> = HashMap::new();
    let mut outside: HashMap<&[u8], usize> = HashMap::new();
    let mut elements = 0usize;
    let mut dropped: Vec<Range<usize>> = Vec::new();
    loop {
        let at = reader.buffer_position() as usize;
        let event = reader.read_event();
        let end = reader.buffer_position() as usize;
        let empty = match event {
            Ok(Event::Start(_)) => false,
            Ok(Event::Empty(_)) => true,
            Ok(Event::End(_)) => {
                let Some(d) = depth.checked_sub(1) else {
                    continue;
                };
                depth = d;
                match cutting {
                    Some((cut_depth, from, _)) if cut_depth == depth => {
                        dropped.push(from..end);
                        cutting = None;
                    }
                    Some(_) => {}
                    None => {
                        if flattened.pop() == Some(true) {
                            dropped.push(at..end);
                        }
                        if text == Some(depth) {
                            text = None;
                        }
                        if entry.as_ref().is_some_and(|en| en.depth == depth) {
                            entry = None;
                        }
                    }
                }
                continue;
            }
            Ok(Event::Eof) => break,
            Err(_) => {
                let from = match (&cutting, &entry) {
                    (Some((_, from, true)), _) => Some(*from),
                    _ if elements > MAX_ELEMENTS_PER_DOCUMENT => match &entry {
                        Some(en) => Some(en.from),
                        None => entry_tags(doc, at).next(),
                    },
                    _ => entry_tags(doc, at).nth(max.saturating_sub(seen)),
                };
                if let Some(from) = from {
                    while dropped.last().is_some_and(|r| r.start >= from) {
                        dropped.pop();
                    }
                    dropped.push(from..last_entry_tag_end(doc, from));
                }
                break;
            }
            Ok(_) => continue,
        };
        // A start tag, or an empty element: what it opens is kept, cut or flattened.
        let level = depth;
        if !empty {
            depth += 1;
        }
        if cutting.is_some() {
            continue;
        }
        let name = local_name(&doc[at..end]);
        // The element (or the entry around it) to cut: its depth, where it starts, whether
        // it is an entry.
        let mut cut: Option<(usize, usize, bool)> = None;
        let mut flatten = false;
        if entry.is_none() && is_entry_name(name) {
            seen += 1;
            if seen > max || elements > MAX_ELEMENTS_PER_DOCUMENT {
                cut = Some((level, at, true));
            } else if !empty {
                entry = Some(Entry {
                    depth: level,
                    from: at,
                    groups: 0,
                });
                in_entry.clear();
            }
        } else if text.is_none() {
            elements += 1;
            let counts = if entry.is_some() {
                &mut in_entry
            } else {
                &mut outside
            };
            if elements > MAX_ELEMENTS_PER_DOCUMENT {
                cut = Some(match entry.take() {
                    // The entry being read goes whole, with what was cut or flattened in it.
                    Some(en) => {
                        while dropped.last().is_some_and(|r| r.start >= en.from) {
                            dropped.pop();
                        }
                        flattened.truncate(en.depth);
                        (en.depth, en.from, true)
                    }
                    None => (level, at, false),
                });
            } else if counts.get(name).copied().unwrap_or(0) >= MAX_SAME_NAME {
                elements -= 1;
                cut = Some((level, at, false));
            } else {
                *counts.entry(name).or_insert(0) += 1;
                if let Some(en) = entry.as_mut().filter(|_| name == b"group") {
                    en.groups += 1;
                    flatten = en.groups > MAX_MEDIA_GROUPS;
                }
            }
        }
        match cut {
            Some((d, from, _)) if empty && d == level => dropped.push(from..end),
            Some(c) => cutting = Some(c),
            None => {
                if flatten {
                    dropped.push(at..end);
                }
                if !empty {
                    flattened.push(flatten);
                    if text.is_none() && is_text(name) {
                        text = Some(level);
                    }
                }
            }
        }
    }
    if dropped.is_empty() {
        return Cow::Borrowed(doc);
    }
    Cow::Owned(without(doc, &dropped))
}

/// The local name (after any prefix) of the tag that `tag` starts with (at its `<`).
fn local_name(tag: &[u8]) -> &[u8] {
    let name = tag_name(tag.strip_prefix(b"<").unwrap_or(tag));
    name.rsplit(|&b| b == b':').next().unwrap_or(name)
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
/// `max`, and of any array inside an item past the first [`MAX_JSON_LIST`] (past its first
/// once [`MAX_JSON_LIST_ELEMENTS`] are taken), are left out, by one scan that follows strings
/// and nesting. A key is compared as JSON reads it
/// (`"it\u0065ms"` is `items`), and every `items` array is cut, since a reader may take
/// either of two. A document that ends inside an array loses its tail (serde_json rejects it
/// either way).
fn first_json_items(doc: &[u8], max: usize) -> Cow<'_, [u8]> {
    /// An open array or object, within [`MAX_JSON_DEPTH`].
    struct Open {
        /// The most elements kept, for an array that is cut.
        limit: Option<usize>,
        /// Whether it is an array inside an item, whose elements count against
        /// [`MAX_JSON_LIST_ELEMENTS`].
        listed: bool,
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
    // How many elements of arrays inside items are taken (outside the arrays being cut).
    let mut listed = 0usize;
    // A value starts in the innermost open container: it counts as one of its elements.
    let value_starts = |open: &mut Vec<Open>, depth: usize, listed: &mut usize, cutting: usize| {
        if let Some(o) = open.last_mut().filter(|_| depth <= MAX_JSON_DEPTH) {
            if !o.element_open {
                o.element_open = true;
                o.elements += 1;
                if o.listed && cutting == 0 {
                    *listed += 1;
                }
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
                    value_starts(&mut open, depth, &mut listed, cutting);
                }
            }
            b'{' | b'[' => {
                value_starts(&mut open, depth, &mut listed, cutting);
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
                        listed: limit.is_some() && items_depth != Some(depth),
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
                    let full = o.limit == Some(o.elements)
                        || (o.listed && listed >= MAX_JSON_LIST_ELEMENTS);
                    if full && o.cut_from.is_none() {
                        o.cut_from = Some(at);
                        cutting += 1;
                    }
                }
            }
            c if c.is_ascii_whitespace() || c == b':' => {}
            // Numbers, true, false, null.
            _ => value_starts(&mut open, depth, &mut listed, cutting),
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

    /// The Media RSS namespace, on an RSS root.
    const MEDIA: &str = "xmlns:media=\"http://search.yahoo.com/mrss/\"";

    fn rss_with(head: &str, items: &str) -> String {
        format!("<rss version='2.0' {MEDIA}><channel><title>t</title>{head}{items}</channel></rss>")
    }

    /// feed-rs's model of `doc` once it is cut, read on a thread with the stack of tokio's
    /// blocking pool (2 MiB), where the pipeline parses.
    fn model_after_cut(doc: String) -> feed_rs::model::Feed {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                parse(
                    &first_entries(doc.as_bytes(), MAX_ITEMS_PER_DOCUMENT),
                    None,
                    &base(),
                )
            })
            .unwrap()
            .join()
            .expect("no panic")
            .expect("a feed")
            .feed
    }

    /// Review of issue 19: feed-rs built a model of every child of an entry, and `normalize`
    /// kept a few: one RSS item of 835,000 enclosures (15.9 MiB) took 275 MiB, 500,000
    /// categories 101 MiB. The first [`MAX_SAME_NAME`] of each name are handed to feed-rs
    /// now, in an entry and outside entries, and what follows a long list is kept.
    #[test]
    fn regression_19_children_of_an_entry_are_cut_per_name() {
        // See: issue #19, hostile-feed benchmark (enclosures_dense, categories)
        let n = MAX_SAME_NAME * 20;
        let enclosures: String = (0..n)
            .map(|k| {
                format!(
                    "<enclosure url='https://example.org/{k}.mp3' type='audio/mpeg' length='1'/>"
                )
            })
            .collect();
        let categories: String = (0..n)
            .map(|k| format!("<category>c{k}</category>"))
            .collect();
        let item = format!(
            "<item><guid>1</guid><title>x</title>{enclosures}{categories}\
             <pubDate>Mon, 02 Jan 2023 10:00:00 GMT</pubDate><link>https://example.org/a</link></item>"
        );
        let feed = model_after_cut(rss_with(&categories, &item));
        let e = &feed.entries[0];
        let enclosures: usize = e.media.iter().map(|m| m.content.len()).sum();
        assert_eq!(enclosures, MAX_SAME_NAME);
        assert_eq!(e.categories.len(), MAX_SAME_NAME);
        assert_eq!(
            e.categories[0].term, "c0",
            "the first ones, in document order"
        );
        assert!(e.published.is_some(), "what follows the lists is kept");
        assert_eq!(e.links[0].href, "https://example.org/a");
        assert_eq!(feed.categories.len(), MAX_SAME_NAME, "outside entries too");
        let few = rss_with("", "<item><guid>1</guid><category>a</category></item>");
        assert!(matches!(
            first_entries(few.as_bytes(), MAX_ITEMS_PER_DOCUMENT),
            Cow::Borrowed(_)
        ));
    }

    /// What feed-rs reads as text or markup is not cut: an Atom entry's XHTML content of more
    /// paragraphs than [`MAX_SAME_NAME`], and a summary of unescaped HTML, reach it whole.
    #[test]
    fn text_and_xhtml_are_not_cut() {
        let paragraphs: String = (0..MAX_SAME_NAME * 3)
            .map(|k| format!("<p>p{k}</p>"))
            .collect();
        let atom = format!(
            "<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title><entry><id>1</id><title>x</title>\
             <summary type='html'>{paragraphs}</summary>\
             <content type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'>{paragraphs}</div></content></entry></feed>"
        );
        assert!(matches!(
            first_entries(atom.as_bytes(), MAX_ITEMS_PER_DOCUMENT),
            Cow::Borrowed(_)
        ));
        let feed = model_after_cut(atom);
        let last = format!("p{}", MAX_SAME_NAME * 3 - 1);
        let e = &feed.entries[0];
        assert!(
            e.content
                .as_ref()
                .unwrap()
                .body
                .as_ref()
                .unwrap()
                .contains(&last)
        );
        assert!(e.summary.as_ref().unwrap().content.contains(&last));
    }

    /// Review of issue 19: feed-rs copies an item's Media RSS thumbnails, credits, texts,
    /// title and description into every `<media:group>` that has none, so that a 206 KB item
    /// of 2,000 thumbnails and 2,000 groups built 4 million thumbnails (1.1 GB). Groups past
    /// [`MAX_MEDIA_GROUPS`] are flattened now: their contents are the item's, built once.
    #[test]
    fn regression_19_media_groups_are_not_multiplied() {
        // See: issue #19, review of the parser (Media RSS groups)
        let n = 2_000;
        let item = format!(
            "<item><guid>1</guid><title>x</title>{}{}</item>",
            "<media:thumbnail url='https://example.org/t.jpg'/>".repeat(n),
            (0..n)
                .map(|k| format!(
                    "<media:group><media:content url='https://example.org/{k}.mp4'/></media:group>"
                ))
                .collect::<String>()
        );
        let feed = model_after_cut(rss_with("", &item));
        let e = &feed.entries[0];
        let thumbnails: usize = e.media.iter().map(|m| m.thumbnails.len()).sum();
        let contents: usize = e.media.iter().map(|m| m.content.len()).sum();
        assert!(
            thumbnails <= 2 * MAX_SAME_NAME,
            "{thumbnails} thumbnails built"
        );
        assert_eq!(
            contents, MAX_SAME_NAME,
            "the first contents, grouped or not"
        );
        let urls: Vec<&str> = e
            .media
            .iter()
            .flat_map(|m| &m.content)
            .filter_map(|c| c.url.as_ref())
            .map(|u| u.as_str())
            .collect();
        assert!(
            urls.contains(&"https://example.org/0.mp4")
                && urls.contains(&"https://example.org/1.mp4")
        );
    }

    /// Review of issue 19: feed-rs reads nested Media RSS elements by recursion, and 3,000
    /// nested `<media:group>`s (42 KB) overflowed the stack of the thread that parsed them,
    /// which aborts the daemon. Groups past the first are flattened and no name is nested
    /// more than [`MAX_SAME_NAME`] deep now. XHTML nests as deep as it likes (feed-rs reads it
    /// in a loop).
    #[test]
    fn regression_19_deep_nesting_cannot_overflow_the_stack() {
        // See: issue #19, review of the parser (nesting)
        let n = 3_000;
        for (open, close) in [
            ("<media:group>", "</media:group>"),
            (
                "<media:content url='https://example.org/a.mp4'>",
                "</media:content>",
            ),
        ] {
            let item = format!(
                "<item><guid>1</guid><title>x</title>{}{}</item>",
                open.repeat(n),
                close.repeat(n)
            );
            assert_eq!(model_after_cut(rss_with("", &item)).entries.len(), 1);
        }
        let atom = format!(
            "<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title><entry><id>1</id><title>x</title>\
             <content type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'>{}deep{}</div></content></entry></feed>",
            "<b>".repeat(n),
            "</b>".repeat(n)
        );
        let feed = model_after_cut(atom);
        let body = feed.entries[0]
            .content
            .as_ref()
            .unwrap()
            .body
            .clone()
            .unwrap();
        assert!(body.contains("deep"));
        assert_eq!(body.matches("<b>").count(), n, "XHTML is not cut");
    }

    /// Review of issue 19: a cap per entry alone lets 1000 entries of 64 elements of many
    /// names build as many models as one entry of 835,000 enclosures. The entries of a
    /// document share [`MAX_ELEMENTS_PER_DOCUMENT`]: the entry that would pass it is cut whole,
    /// with those after it.
    #[test]
    fn regression_19_elements_of_all_entries_are_bounded() {
        // See: issue #19, review of the parser (lists spread over entries)
        let lists: String = ["category", "author", "comments"]
            .iter()
            .map(|name| format!("<{name}>x</{name}>").repeat(MAX_SAME_NAME))
            .collect();
        let items: String = (0..MAX_ITEMS_PER_DOCUMENT)
            .map(|k| format!("<item><guid>{k}</guid>{lists}</item>"))
            .collect();
        let feed = model_after_cut(rss_with("", &items));
        let per_entry = 1 + 3 * MAX_SAME_NAME;
        let whole = (MAX_ELEMENTS_PER_DOCUMENT - 3) / per_entry;
        assert_eq!(feed.entries.len(), whole, "the entries that fit");
        for e in &feed.entries {
            assert_eq!(e.categories.len(), MAX_SAME_NAME, "each entry whole");
        }
    }

    /// Review of issue 19: 1000 JSON Feed items of 1000 attachments each (12 MB) took 850 MiB.
    /// The arrays inside items share [`MAX_JSON_LIST_ELEMENTS`].
    #[test]
    fn regression_19_json_lists_of_all_items_are_bounded() {
        // See: issue #19, review of the parser (lists spread over entries)
        let tags = vec!["t"; MAX_JSON_LIST];
        let items: Vec<_> = (0..100)
            .map(|k| serde_json::json!({"id": k.to_string(), "tags": tags}))
            .collect();
        let doc = serde_json::json!({"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": items}).to_string();
        let feed = model_after_cut(doc);
        assert_eq!(feed.entries.len(), 100);
        let tags: usize = feed.entries.iter().map(|e| e.categories.len()).sum();
        assert!(tags <= MAX_JSON_LIST_ELEMENTS + 100, "{tags} tags");
        assert_eq!(feed.entries[0].categories.len(), MAX_JSON_LIST);
        assert_eq!(feed.entries[99].categories.len(), 1);
    }
}
