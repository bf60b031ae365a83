//! Parsing: the raw bytes of a response → a [`feed_rs::model::Feed`]. RSS 0.90-2.0, Atom 0.3
//! and 1.0, JSON Feed 1.0/1.1. The document is decoded to UTF-8 ([`encoding`]) and parsed
//! strictly; only when that fails (or reads something visibly wrong) is it repaired and
//! parsed again ([`repair`], [`json`]), keeping every entry that can be read. Old dialects
//! are translated into the ones feed-rs reads ([`legacy`]); what feed-rs does not keep of an
//! entry that lacks a title or link is looked up in the document ([`fallbacks`]). At most
//! [`MAX_ITEMS_PER_DOCUMENT`] entries are taken from a document ([`entries`]), and no
//! `xml:base` longer than [`bases::MAX_BASE_BYTES`] ([`bases`]), in every document feed-rs
//! reads, rewritten ones included.

pub mod bases;
pub mod encoding;
pub mod entries;
pub mod fallbacks;
pub mod json;
pub mod legacy;
pub mod repair;

use std::borrow::Cow;

use std::time::Duration;

use feed_rs::model::Feed;
use feed_rs::parser::{self, ParseErrorKind, ParseFeedError};
use url::Url;

pub use entries::MAX_ITEMS_PER_DOCUMENT;

use crate::html::links::{self, Advertised};
use crate::model::{FeedHints, Repair, Repairs};
use crate::redact::Redacted;
use fallbacks::Fallback;

/// A parsed feed, with what feed-rs does not keep.
#[derive(Debug)]
pub struct Parsed {
    /// The feed.
    pub feed: Feed,
    /// The `xml:base` in scope at each entry, in document order (the base of relative URLs in
    /// its content); `None` when the document sets no `xml:base` at all.
    pub entry_bases: Option<Vec<Url>>,
    /// What the document says about how often to poll it.
    pub hints: FeedHints,
    /// What the document offers for each entry beyond what feed-rs keeps, in document order;
    /// `None` when every entry of an XML feed has a title and a link (or the entries could
    /// not be matched). Always read for JSON Feed (images and avatars).
    pub fallbacks: Option<Vec<Fallback>>,
    /// What had to be repaired to read the document.
    pub repairs: Repairs,
}

/// Why a document could not be read as a feed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is empty.
    #[error("empty response body")]
    Empty,
    /// The document is XML or JSON but not a feed (for example an HTML page).
    #[error("not a feed: no <rss>, <feed>, <rdf:RDF> or JSON Feed root")]
    NotAFeed,
    /// The document is an HTML page: a site's address was given for its feed.
    #[error("{}", html_page_message(.advertised))]
    HtmlPage {
        /// The feeds the page advertises ([`crate::html::links`]), in page order: the URLs
        /// to give instead.
        advertised: Vec<Advertised>,
    },
    /// The document is a feed with errors feed-rs could not get past.
    #[error(transparent)]
    Invalid(#[from] ParseFeedError),
}

/// What [`ParseError::HtmlPage`] says: the feeds to use instead, when the page names any.
fn html_page_message(advertised: &[Advertised]) -> String {
    use std::fmt::Write as _;

    if advertised.is_empty() {
        return "not a feed but an HTML page, which advertises no feed".to_owned();
    }
    let mut message = String::from("not a feed but an HTML page; it advertises ");
    for (i, feed) in advertised.iter().enumerate() {
        if i > 0 {
            message.push_str(", ");
        }
        // Invariant: writing to a String cannot fail.
        let _ = write!(message, "{}", Redacted(&feed.url));
        if let Some(title) = &feed.title {
            // Debug quoting escapes quotes and control characters of the publisher's text.
            let _ = write!(message, " ({title:?})");
        }
    }
    message.push_str(if advertised.len() == 1 {
        ": use that URL"
    } else {
        ": use one of these URLs"
    });
    message
}

/// Parses `body`, resolving relative links against `base`. `charset` is the HTTP
/// `Content-Type` charset, used only when the document itself declares no encoding.
///
/// # Errors
/// [`ParseError`] when the bytes are not a feed, or one so broken that no entry of it could
/// be read.
pub fn parse(body: &[u8], charset: Option<&str>, base: &Url) -> Result<Parsed, ParseError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    let (decoded, mut repairs) = encoding::to_utf8(body, charset, base);
    let cut = entries::first_entries(&decoded, MAX_ITEMS_PER_DOCUMENT);
    let mentions = Mentions::of(&cut);
    let bytes = if mentions.base {
        bases::bounded(&cut)
    } else {
        Cow::Borrowed(&*cut)
    };
    let (mut feed, doc, repaired) = match read_document(&bytes, base) {
        Ok(read) => read,
        Err(_) if links::looks_like_html(&decoded) => {
            // Read from the bytes already fetched: what to subscribe to instead, at no
            // further request. Only the first bytes are scanned; a cut character is harmless.
            let head = &decoded[..decoded.len().min(links::MAX_SCAN_BYTES)];
            let advertised = links::advertised(&String::from_utf8_lossy(head), base);
            return Err(ParseError::HtmlPage { advertised });
        }
        Err(e) => return Err(e),
    };
    repairs.extend(repaired);
    // Every document read was cut; this holds the bound should a rewrite ever escape that.
    feed.entries.truncate(MAX_ITEMS_PER_DOCUMENT);
    let is_json = doc.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let fallbacks = if is_json {
        json::extras(&doc)
    } else {
        fallbacks::needed(&feed)
            .then(|| fallbacks::scan(&doc))
            .flatten()
    }
    .filter(|f| f.len() == feed.entries.len());
    // The document read is the one searched unless it was rewritten (or had its bases cut).
    let mentions = if !mentions.base && matches!(doc, Cow::Borrowed(_)) {
        mentions
    } else {
        Mentions::of(&doc)
    };
    let entry_bases = mentions
        .base
        .then(|| entry_bases(&doc, base))
        .flatten()
        .filter(|b| b.len() == feed.entries.len());
    let mut hints = if mentions.hints {
        channel_hints(&doc)
    } else {
        FeedHints::default()
    };
    hints.ttl = feed
        .ttl
        .filter(|&m| m > 0)
        .map(|m| Duration::from_secs(u64::from(m) * 60));
    Ok(Parsed {
        feed,
        entry_bases,
        hints,
        fallbacks,
        repairs,
    })
}

/// Reads `bytes` (UTF-8, its entries cut) strictly, and repaired when that fails or reads
/// something visibly wrong. Returns the feed, the document it was read from and what was
/// repaired. Every document handed to feed-rs has at most [`MAX_ITEMS_PER_DOCUMENT`] entries.
fn read_document<'a>(
    bytes: &'a [u8],
    base: &Url,
) -> Result<(Feed, Cow<'a, [u8]>, Repairs), ParseError> {
    // feed-rs's Parser is built per reading: it is not Send, building it costs nothing, and
    // one that failed inside an entry keeps that entry's state (and panics on the next).
    let parser = || {
        parser::Builder::new()
            .base_uri(Some(base.as_str()))
            // An empty id marks "the feed gave none": feed-rs would otherwise invent one,
            // sometimes a random UUID, and identity is `dedupe`'s job.
            .id_generator(|_, _, _| String::new())
            .build()
    };
    // feed-rs (through quick-xml) panics on some malformed documents, such as an XML
    // declaration in the middle: that is a bad document, not a crash.
    let read = |bytes: &[u8]| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parser().parse(bytes))).unwrap_or(
            Err(ParseFeedError::ParseError(ParseErrorKind::IllegalState {
                position: 0,
                reference: "the XML parser gave up on this document".to_owned(),
            })),
        )
    };
    let json = bytes
        .iter()
        .find(|b| matches!(b, b'<' | b'{'))
        .is_some_and(|b| *b == b'{');
    let mut repairs = Repairs::default();
    let (feed, doc) = match read_strictly(&read, bytes) {
        Ok(found) if json || !repair::suspicious(&found.0, &found.1) => found,
        strict => {
            let recovered = if json {
                json::lenient(bytes).and_then(|(fixed, r)| {
                    let fixed = capped(fixed);
                    let feed = read(&fixed).ok()?;
                    Some((feed, Cow::Owned(fixed), r))
                })
            } else {
                recover(&read, bytes)
            };
            match (recovered, strict) {
                (Some((feed, doc, r)), _) => {
                    repairs.extend(r);
                    (feed, doc)
                }
                // A reading that was only suspicious is better than none.
                (None, Ok(found)) => found,
                (None, Err(e)) => return Err(e),
            }
        }
    };
    Ok((feed, doc, repairs))
}

/// A document rewritten by a repair or a translation, with its entries past the first
/// [`MAX_ITEMS_PER_DOCUMENT`] cut out and its over-long `xml:base` removed: the rewrite may
/// bring entries or attributes the first pass did not see (a CDATA section ended sooner, a
/// JSON key read as it is written), and every document feed-rs reads passes through
/// [`entries::first_entries`] and [`bases::bounded`].
fn capped(doc: Vec<u8>) -> Vec<u8> {
    let doc = match entries::first_entries(&doc, MAX_ITEMS_PER_DOCUMENT) {
        Cow::Borrowed(_) => doc,
        Cow::Owned(cut) => cut,
    };
    match bases::bounded(&doc) {
        Cow::Borrowed(_) => doc,
        Cow::Owned(bounded) => bounded,
    }
}

/// The document as read by feed-rs, and the bytes it was read from (rewritten when an
/// `<rss>` lacked a usable version, or an old dialect was translated).
type Read<'a> = (Feed, Cow<'a, [u8]>);

/// One strict reading of `bytes`: as they are; an `<rss>` with a missing or unusual version
/// attribute, which feed-rs rejects (feed-rs issue #275) although readers accept it, as RSS
/// 2.0; and a document read as an empty feed, when it is an old dialect, translated.
fn read_strictly<'a>(
    read: &dyn Fn(&[u8]) -> Result<Feed, ParseFeedError>,
    bytes: &'a [u8],
) -> Result<Read<'a>, ParseError> {
    let (feed, doc) = match read(bytes) {
        Err(ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot)) => {
            let fixed = capped(with_rss_version(bytes).ok_or(ParseError::NotAFeed)?);
            (read(&fixed).map_err(classify)?, Cow::Owned(fixed))
        }
        other => (other.map_err(classify)?, Cow::Borrowed(bytes)),
    };
    // Only a feed without entries can be a dialect feed-rs does not know: no other pays.
    if feed.entries.is_empty() {
        if let Some(translated) = legacy::dialect(&doc)
            .and_then(|d| legacy::translate(&doc, d))
            .map(capped)
        {
            if let Ok(feed) = read(&translated) {
                return Ok((feed, Cow::Owned(translated)));
            }
        }
    }
    Ok((feed, doc))
}

/// Reads an XML document the strict parse refused: repaired, and read again; when even the
/// repaired document fails, entry by entry, keeping those that can be read. `None` when it
/// has no feed root or nothing of it can be read.
fn recover(
    read: &dyn Fn(&[u8]) -> Result<Feed, ParseFeedError>,
    bytes: &[u8],
) -> Option<(Feed, Cow<'static, [u8]>, Repairs)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let repaired = repair::repair(text)?;
    let mut repairs = repaired.repairs;
    let mut doc = capped(repaired.xml.into_bytes());
    if let Some(retyped) = legacy::atom_text_types(&doc) {
        repairs.insert(Repair::TextType);
        doc = capped(retyped);
    }
    if let Ok((feed, read_from)) = read_strictly(read, &doc) {
        let read_from = read_from.into_owned();
        return Some((feed, Cow::Owned(read_from), repairs));
    }
    let read_one = |entry: &[u8]| read_strictly(read, entry).ok().map(|(feed, _)| feed);
    let (feed, dropped) = repair::salvage(&read_one, &doc)?;
    if dropped > 0 {
        repairs.insert(Repair::ItemDropped);
    }
    Some((feed, Cow::Owned(doc), repairs))
}

/// What a document mentions that needs a second XML pass, found by one search of its bytes:
/// most documents mention none of it, and pay that search only (it was six: 0.10 s of CPU
/// for the 147 MB of the benchmark corpus, against 0.03 s).
#[derive(Debug, Clone, Copy)]
struct Mentions {
    /// `xml:base` ([`bases::bounded`], [`entry_bases`]).
    base: bool,
    /// The name of an element [`channel_hints`] reads.
    hints: bool,
}

impl Mentions {
    fn of(bytes: &[u8]) -> Mentions {
        static NAMES: std::sync::OnceLock<regex::bytes::Regex> = std::sync::OnceLock::new();
        // Invariant: the pattern is a fixed, valid one.
        let names = NAMES.get_or_init(|| {
            regex::bytes::Regex::new("xml:base|updatePeriod|updateFrequency|skipHours|skipDays")
                .expect("a valid pattern")
        });
        let mut found = Mentions {
            base: false,
            hints: false,
        };
        for m in names.find_iter(bytes) {
            if m.as_bytes() == b"xml:base" {
                found.base = true;
            } else {
                found.hints = true;
            }
            if found.base && found.hints {
                break;
            }
        }
        found
    }
}

/// Reads `sy:updatePeriod`/`sy:updateFrequency`, `<skipHours>` and `<skipDays>`, which feed-rs
/// does not keep. Called only for documents that contain one of the names ([`Mentions`]).
fn channel_hints(bytes: &[u8]) -> FeedHints {
    use quick_xml::events::Event;

    let mut hints = FeedHints::default();
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut period: Option<u64> = None;
    let mut frequency: u64 = 1;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => path.push(e.local_name().as_ref().to_owned()),
            Ok(Event::End(_)) => {
                path.pop();
            }
            Ok(Event::Text(t)) => {
                // Hint values are plain words and numbers: no entities to decode.
                let text = t.trim();
                let parent = path
                    .len()
                    .checked_sub(2)
                    .and_then(|i| path.get(i))
                    .map(String::as_str);
                match (parent, path.last().map(String::as_str)) {
                    (_, Some("updatePeriod")) => {
                        period = match text {
                            "hourly" => Some(3600),
                            "daily" => Some(86_400),
                            "weekly" => Some(7 * 86_400),
                            "monthly" => Some(30 * 86_400),
                            "yearly" => Some(365 * 86_400),
                            _ => period,
                        }
                    }
                    (_, Some("updateFrequency")) => {
                        frequency = text.parse().ok().filter(|&f| f > 0).unwrap_or(1);
                    }
                    (Some("skipHours"), Some("hour")) => {
                        // RSS says 0-23; 24 is seen in the wild for midnight.
                        if let Ok(h) = text.parse::<u32>() {
                            hints.skip_hours |= 1 << (h % 24);
                        }
                    }
                    (Some("skipDays"), Some("day")) => {
                        let days = [
                            "monday",
                            "tuesday",
                            "wednesday",
                            "thursday",
                            "friday",
                            "saturday",
                            "sunday",
                        ];
                        if let Some(d) = days.iter().position(|d| d.eq_ignore_ascii_case(text)) {
                            hints.skip_days |= 1 << d;
                        }
                    }
                    _ => {}
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        buf.clear();
    }
    hints.update_period = period.map(|p| Duration::from_secs(p / frequency));
    hints
}

/// The `xml:base` in scope at each `<entry>` or `<item>` (not inside another), in document
/// order. feed-rs applies xml:base to links but does not say which base applies to an
/// entry's HTML content, where relative `src` and `href` must resolve against it too. Called
/// only for documents that mention `xml:base` (rare: [`Mentions`]). An element shares its parent's base
/// unless it sets one, within [`bases::MAX_BASE_DEPTH`]: linear, whatever the nesting.
fn entry_bases(bytes: &[u8], doc_url: &Url) -> Option<Vec<Url>> {
    use quick_xml::events::Event;
    use std::rc::Rc;

    let mut reader = quick_xml::Reader::from_reader(bytes);
    let root = Rc::new(doc_url.clone());
    let mut stack: Vec<Rc<Url>> = Vec::new();
    let mut bases = Vec::new();
    // The depth of the entry being read (its content holds no entries of the feed).
    let mut entry: Option<usize> = None;
    let mut buf = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buf).ok()?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let parent = stack.last().unwrap_or(&root);
                let own = (stack.len() <= bases::MAX_BASE_DEPTH)
                    .then(|| {
                        e.attributes()
                            .flatten()
                            .find(|a| a.key.as_ref() == "xml:base")
                    })
                    .flatten()
                    .and_then(|a| parent.join(&a.value).ok())
                    // Only http(s) bases: anything else (javascript:, data:) is ignored.
                    .filter(|u| matches!(u.scheme(), "http" | "https"));
                let base = own.map_or_else(|| Rc::clone(parent), Rc::new);
                if entry.is_none() && matches!(e.local_name().as_ref(), "entry" | "item") {
                    bases.push(Url::clone(&base));
                    if matches!(event, Event::Start(_)) {
                        entry = Some(stack.len());
                    }
                }
                if matches!(event, Event::Start(_)) {
                    stack.push(base);
                }
            }
            Event::End(_) => {
                stack.pop();
                if entry == Some(stack.len()) {
                    entry = None;
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Some(bases)
}

fn classify(e: ParseFeedError) -> ParseError {
    match e {
        ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot) => ParseError::NotAFeed,
        e => ParseError::Invalid(e),
    }
}

/// Rewrites the `<rss ...>` start tag to carry `version="2.0"`; `None` when there is no such tag.
fn with_rss_version(bytes: &[u8]) -> Option<Vec<u8>> {
    let start = bytes
        .windows(5)
        .position(|w| w.starts_with(b"<rss") && (w[4].is_ascii_whitespace() || w[4] == b'>'))?;
    let tag_end = start + bytes[start..].iter().position(|&b| b == b'>')?;
    let tag = &bytes[start + 4..tag_end];
    let mut out = Vec::with_capacity(bytes.len() + 16);
    out.extend_from_slice(&bytes[..start]);
    out.extend_from_slice(b"<rss version=\"2.0\"");
    out.extend_from_slice(&without_version_attr(tag));
    out.extend_from_slice(&bytes[tag_end..]);
    Some(out)
}

/// Removes a `version="..."` (or single-quoted) attribute from the inside of a start tag.
fn without_version_attr(tag: &[u8]) -> Vec<u8> {
    let Some(at) = tag
        .windows(8)
        .position(|w| w == b"version=")
        .filter(|&i| i == 0 || tag[i - 1].is_ascii_whitespace())
    else {
        return tag.to_vec();
    };
    let value_start = at + 8;
    let Some(&quote) = tag.get(value_start).filter(|q| matches!(q, b'"' | b'\'')) else {
        return tag.to_vec();
    };
    let value_end = tag[value_start + 1..]
        .iter()
        .position(|&b| b == quote)
        .map_or(tag.len(), |i| value_start + 1 + i + 1);
    [&tag[..at], &tag[value_end..]].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://example.org/feed.xml").unwrap()
    }

    /// feed-rs reads a document without keeping a copy of it (vendor/feed-rs/PATCHED.md): 4 MB
    /// of comments, which it reads past one event at a time, cost no more than a few of them.
    #[test]
    fn feed_rs_holds_no_copy_of_the_document() {
        use std::fmt::Write;
        let mut xml = String::from("<rss version='2.0'><channel><title>t</title>");
        let comment = format!("<!-- {} -->", "x".repeat(1000));
        for i in 0..20 {
            write!(xml, "<item><title>{i}</title><link>/{i}</link></item>").unwrap();
            for _ in 0..200 {
                xml.push_str(&comment);
            }
        }
        xml.push_str("</channel></rss>");
        // The count sees what this thread allocates.
        let (_, counted) = crate::allocations::peak_during(|| vec![0u8; 1 << 20]);
        assert!(counted >= 1 << 20, "the test allocator is not counting");
        let (parsed, held) =
            crate::allocations::peak_during(|| parse(xml.as_bytes(), None, &base()));
        assert_eq!(parsed.unwrap().feed.entries.len(), 20);
        assert!(
            held < 256 * 1024,
            "parsing {} bytes held {held} bytes at its peak",
            xml.len()
        );
    }

    #[test]
    fn rss_without_version_is_read_as_rss2() {
        let xml = b"<rss><channel><title>t</title><item><title>a</title><link>/a</link></item></channel></rss>";
        let feed = parse(xml, None, &base()).unwrap().feed;
        assert_eq!(feed.entries.len(), 1);
        assert_eq!(feed.entries[0].links[0].href, "https://example.org/a");
        assert_eq!(feed.entries[0].id, "", "no invented id");
    }

    #[test]
    fn unusual_rss_versions_are_read() {
        for v in ["2.01", "0.90", "3"] {
            let xml = format!(
                "<rss version='{v}' xmlns:dc=\"x\"><channel><title>t</title><item><title>a</title></item></channel></rss>"
            );
            assert_eq!(
                parse(xml.as_bytes(), None, &base())
                    .unwrap()
                    .feed
                    .entries
                    .len(),
                1,
                "{v}"
            );
        }
    }

    #[test]
    fn entry_bases_follow_nested_xml_base() {
        let xml = br#"<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://example.org/blog/"><title>t</title>
            <entry><id>1</id><title>a</title></entry>
            <entry xml:base="../other/"><id>2</id><title>b</title></entry></feed>"#;
        let bases: Vec<String> = parse(xml, None, &base())
            .unwrap()
            .entry_bases
            .unwrap()
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(
            bases,
            ["https://example.org/blog/", "https://example.org/other/"]
        );
        let plain = b"<rss version='2.0'><channel><item><title>a</title></item></channel></rss>";
        assert!(parse(plain, None, &base()).unwrap().entry_bases.is_none());
    }

    #[test]
    fn polling_hints_are_read() {
        let xml = br#"<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel>
            <title>t</title><ttl>90</ttl><sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>
            <skipHours><hour>0</hour><hour>23</hour><hour>24</hour></skipHours>
            <skipDays><day>Saturday</day><day>sunday</day></skipDays></channel></rss>"#;
        let h = parse(xml, None, &base()).unwrap().hints;
        assert_eq!(h.ttl, Some(Duration::from_secs(90 * 60)));
        assert_eq!(h.update_period, Some(Duration::from_secs(6 * 3600)));
        assert_eq!(h.skip_hours, 1 | (1 << 23));
        assert_eq!(h.skip_days, (1 << 5) | (1 << 6));
        let plain = b"<rss version='2.0'><channel><title>t</title></channel></rss>";
        assert_eq!(
            parse(plain, None, &base()).unwrap().hints,
            FeedHints::default()
        );
    }

    /// Found by fuzzing: feed-rs's own decoder panicked on both.
    #[test]
    fn long_declarations_and_misplaced_ones() {
        let long = b"<?xml version=\"1.0\"   encoding=\"windows-1251\"   standalone=\"no\"   ?>\
<rss version=\"2.0\"><channel><title>t</title><item><guid>1</guid><title>\xcf\xf0\xe8\xe2\xe5\xf2</title></item></channel></rss>";
        let feed = parse(long, None, &base()).unwrap().feed;
        assert_eq!(feed.entries[0].title.as_ref().unwrap().content, "Привет");
        let misplaced =
            b"<?xml version=\"1.0\"?><rss version=\"2.0\"><?xml encoding=\"latin1\"?></rss>";
        assert!(parse(misplaced, None, &base()).is_err());
    }

    #[test]
    fn html_and_empty_bodies_are_clear_errors() {
        let html = b"<!DOCTYPE html><html><head><title>x</title></head><body>hi</body></html>";
        let e = parse(html, None, &base()).unwrap_err();
        assert!(
            matches!(&e, ParseError::HtmlPage { advertised } if advertised.is_empty()),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "not a feed but an HTML page, which advertises no feed"
        );
        assert!(matches!(
            parse(b"  \n", None, &base()),
            Err(ParseError::Empty)
        ));
        assert!(matches!(
            parse(b"hello", None, &base()),
            Err(ParseError::NotAFeed)
        ));
    }

    /// A site's address polled as a feed: the error names the feeds its page advertises,
    /// read from the bytes fetched, so that `status` says which URL to use.
    #[test]
    fn an_html_page_names_the_feeds_it_advertises() {
        let page = Url::parse("https://example.org/blog/").unwrap();
        let one = br#"<!DOCTYPE html><html><head><title>Blog</title>
            <link rel="alternate" type="application/rss+xml" title="Example blog" href="/feed.xml?key=s3cret">
            </head><body><p>Hello</p></body></html>"#;
        assert_eq!(
            parse(one, None, &page).unwrap_err().to_string(),
            "not a feed but an HTML page; it advertises \
             https://example.org/feed.xml?key=REDACTED (\"Example blog\"): use that URL"
        );
        let two = br#"<html><link rel=alternate type=application/atom+xml href=atom.xml>
            <link rel=alternate type=application/feed+json href=/f.json title='Say "hi"'>"#;
        assert_eq!(
            parse(two, None, &page).unwrap_err().to_string(),
            "not a feed but an HTML page; it advertises https://example.org/blog/atom.xml, \
             https://example.org/f.json (\"Say \\\"hi\\\"\"): use one of these URLs"
        );
    }

    #[test]
    fn undeclared_latin1_uses_the_http_charset() {
        let mut xml = b"<rss version=\"2.0\"><channel><title>t</title><item><title>Cr".to_vec();
        xml.push(0xE8); // è in ISO-8859-1
        xml.extend_from_slice(b"me</title></item></channel></rss>");
        let feed = parse(&xml, Some("iso-8859-1"), &base()).unwrap().feed;
        assert_eq!(feed.entries[0].title.as_ref().unwrap().content, "Crème");
        let feed = parse(&xml, None, &base()).unwrap().feed;
        assert_eq!(feed.entries[0].title.as_ref().unwrap().content, "Crème");
    }

    /// Review of issue 19: a document rewritten by repair or by the lenient JSON reading was
    /// read whole, past the cut: behind a `<!X>` (quick-xml refuses it, repair reads on), in
    /// a CDATA section that repair ends at its element's end tag, and in the second of two
    /// `items` (serde_json keeps the last). What feed-rs is handed, before the last guard in
    /// [`parse`], holds no more than the cap.
    #[test]
    fn regression_19_every_document_read_is_cut() {
        // See: issue #19, review finding 4
        let n = MAX_ITEMS_PER_DOCUMENT + 200;
        let items: String = (0..n)
            .map(|n| format!("<item><guid>{n}</guid><title>Item {n}</title></item>"))
            .collect();
        let rss = |head: &str, items: &str| {
            format!("<rss version='2.0'><channel><title>t</title>{head}{items}</channel></rss>")
                .into_bytes()
        };
        let bang = rss("<!X>", &items);
        let cdata = rss(
            "",
            &format!(
                "<item><title>Caf&eacute;</title><description><![CDATA[x</description></item>\
                 {items}<item><description>]]></description></item>"
            ),
        );
        let json_items = |n: usize| {
            (0..n)
                .map(|n| format!(r#"{{"id":"{n}","title":"Item {n}"}}"#))
                .collect::<Vec<_>>()
                .join(",")
        };
        let json_twice = format!(
            r#"{{"version":"https://jsonfeed.org/version/1.1","title":"t","items":[{}],"items":[{}]}}"#,
            json_items(1),
            json_items(n)
        )
        .into_bytes();
        for (name, doc) in [("bang", bang), ("cdata", cdata), ("json_twice", json_twice)] {
            let cut = entries::first_entries(&doc, MAX_ITEMS_PER_DOCUMENT);
            assert!(
                feed_rs::parser::parse(&*cut).map_or(true, |f| f.entries.len() < 3),
                "{name}: the strict reading fails or sees no more than two entries"
            );
            let (feed, _, _) = read_document(&cut, &base()).unwrap();
            assert_eq!(feed.entries.len(), MAX_ITEMS_PER_DOCUMENT, "{name}");
            assert_eq!(feed.entries.len(), MAX_ITEMS_PER_DOCUMENT);
        }
    }

    /// The children of an entry are cut in every document feed-rs reads: past a `<!X>`
    /// quick-xml refuses, the first scan stops (feed-rs stops there too) and repair reads
    /// on, so what repair writes is cut again ([`capped`]), as translations are.
    #[test]
    fn regression_19_every_document_read_has_its_entries_children_cut() {
        // See: issue #19, hostile-feed benchmark (enclosures_dense)
        let enclosures =
            "<enclosure url='https://example.org/a.mp3' type='audio/mpeg' length='1'/>"
                .repeat(entries::MAX_SAME_NAME * 10);
        let bang = format!(
            "<rss version='2.0'><channel><title>t</title><!X><item><guid>1</guid>{enclosures}</item></channel></rss>"
        );
        let cut = entries::first_entries(bang.as_bytes(), MAX_ITEMS_PER_DOCUMENT);
        assert!(
            feed_rs::parser::parse(&*cut).is_err(),
            "the strict reading fails"
        );
        let (feed, _, _) = read_document(&cut, &base()).unwrap();
        let enclosures: usize = feed.entries[0].media.iter().map(|m| m.content.len()).sum();
        assert_eq!(enclosures, entries::MAX_SAME_NAME);
    }

    /// A 1 MB `xml:base` on the root was copied by feed-rs for every child of the channel
    /// (3,000 children: 3 GB copied; a 16 MiB document holds 4 million) and by
    /// `entry_bases` for every element. It is removed before either reads the document: the
    /// links resolve against the feed's URL.
    #[test]
    fn regression_19_an_over_long_xml_base_is_not_copied_per_element() {
        // See: issue #19, review (other paths through parse)
        let doc = format!(
            "<rss version=\"2.0\" xml:base=\"https://example.org/{}/\"><channel><title>t</title>\
             <item><guid>1</guid><link>a</link></item>{}</channel></rss>",
            "b".repeat(1_000_000),
            "<x/>".repeat(3_000)
        );
        let parsed = parse(doc.as_bytes(), None, &base()).unwrap();
        assert_eq!(
            parsed.feed.entries[0].links[0].href,
            "https://example.org/a"
        );
        assert!(parsed.entry_bases.is_none(), "no base left to scan for");
    }
}
