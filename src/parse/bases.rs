//! `xml:base` a reader can afford: a document → the same document without the `xml:base`
//! attributes longer than [`MAX_BASE_BYTES`] or deeper than [`MAX_BASE_DEPTH`], before
//! feed-rs reads it.
//!
//! feed-rs gives every element it walks a copy of the base in scope: a 1 MB base over the
//! 3,000 children of a channel cost 3 GB of copying (0.47 s), over the 4 million of a 16 MiB
//! document it would cost minutes. A base no longer than a URL we store bounds that copy. It
//! also keeps the joined base of every nested element that sets one: 60,000 nested 2 KB bases
//! took it to 256 MiB.

use std::borrow::Cow;
use std::ops::Range;

/// The longest `xml:base` value kept, in bytes: the longest URL stored (normalize's
/// `MAX_URL_BYTES`) is no longer, and real bases are a site's address. A longer one is
/// removed, so that the base around it applies.
pub const MAX_BASE_BYTES: usize = 2048;

/// The deepest element whose `xml:base` is kept (the root is at depth 0): entries sit one or
/// two levels down (`rss`/`channel`/`item`, `feed`/`entry`), and content a few more. Deeper
/// ones are removed, so that nesting does not multiply joined URLs.
pub const MAX_BASE_DEPTH: usize = 16;

/// `doc` without its `xml:base` attributes longer than [`MAX_BASE_BYTES`] or deeper than
/// [`MAX_BASE_DEPTH`]; borrowed when it has none (most documents never mention `xml:base`: one search shows it). Where quick-xml
/// stops reading the document, what follows is left as it is (feed-rs, with the same reader,
/// stops there too).
pub fn bounded(doc: &[u8]) -> Cow<'_, [u8]> {
    use quick_xml::events::Event;

    if memchr::memmem::find(doc, b"xml:base").is_none() {
        return Cow::Borrowed(doc);
    }
    let offset = |part: &[u8]| (part.as_ptr() as usize).checked_sub(doc.as_ptr() as usize);
    let mut reader = quick_xml::Reader::from_reader(doc);
    reader.config_mut().check_end_names = false;
    let mut dropped: Vec<Range<usize>> = Vec::new();
    let mut depth = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(event @ (Event::Start(_) | Event::Empty(_))) => {
                let (Event::Start(ref e) | Event::Empty(ref e)) = event else {
                    continue;
                };
                let deep = depth > MAX_BASE_DEPTH;
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                }
                for a in e.attributes().with_checks(false).flatten() {
                    if a.key.as_ref() != "xml:base" || (a.value.len() <= MAX_BASE_BYTES && !deep) {
                        continue;
                    }
                    // Both borrow from `doc` (the reader reads a slice): their places in it
                    // give the attribute's bytes, up to and with the closing quote.
                    let (Cow::Borrowed(value), Some(start)) =
                        (&a.value, offset(a.key.as_ref().as_bytes()))
                    else {
                        continue;
                    };
                    let Some(end) = offset(value.as_bytes()).map(|v| v + value.len() + 1) else {
                        continue;
                    };
                    if end <= doc.len() && start < end {
                        dropped.push(start..end);
                    }
                }
            }
            Ok(Event::Eof) | Err(_) => break,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bases_are_removed_and_short_ones_kept() {
        let long = "b".repeat(MAX_BASE_BYTES);
        let doc = format!(
            "<feed xmlns='http://www.w3.org/2005/Atom' xml:base=\"https://example.org/{long}/\">\
             <entry xml:base='https://example.org/e/'><id>1</id></entry><x xml:base='/{long}'/></feed>"
        );
        let out = bounded(doc.as_bytes());
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "<feed xmlns='http://www.w3.org/2005/Atom' ><entry xml:base='https://example.org/e/'><id>1</id></entry><x /></feed>"
        );
        let plain = b"<rss version='2.0'><channel/></rss>";
        assert!(matches!(bounded(plain), Cow::Borrowed(_)));
    }

    #[test]
    fn deep_bases_are_removed() {
        let n = MAX_BASE_DEPTH + 10;
        let doc = format!(
            "<feed xml:base='a/'>{}{}</feed>",
            "<x xml:base='c/'>".repeat(n),
            "</x>".repeat(n)
        );
        let out = bounded(doc.as_bytes());
        let out = std::str::from_utf8(&out).unwrap();
        assert_eq!(
            out.matches("xml:base").count(),
            MAX_BASE_DEPTH + 1,
            "the root's and 16 more"
        );
        assert_eq!(out.matches("<x").count(), n);
    }
}
