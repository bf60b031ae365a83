//! OPML subscription lists: OPML bytes → [`Subscriptions`] (feeds with the union of their
//! folders as tags, site outlines still to be discovered, outlines left out), which
//! [`to_toml`] turns into `[[feeds]]` tables for `config.toml`; and configured feeds → an OPML
//! 2.0 document with their tags as folders ([`export`]).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
use quick_xml::XmlVersion;
use quick_xml::escape::EscapeError;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesDecl, BytesStart, BytesText, Event};
use quick_xml::reader::Reader;
use quick_xml::writer::Writer;
use url::Url;

use crate::config::FeedConfig;
use crate::terminal;

/// How many leading bytes are searched for the `<?xml … encoding="…"?>` declaration.
const DECLARATION_SNIFF_LEN: usize = 1024;
/// How many skipped outlines a [`OpmlError::NoFeeds`] message lists by URL before "and N more".
const SKIPPED_SHOWN: usize = 3;
/// How many characters of a non-XML file a [`OpmlError::NotOpml`] message quotes.
const SNIPPET_CHARS: usize = 40;
/// Spaces per nesting level in an [`export`]ed document.
const EXPORT_INDENT: usize = 2;

/// The most `<outline>` elements a file may hold: an export of thousands of feeds holds
/// thousands; a file with more is refused ([`OpmlError::TooLarge`]).
pub const MAX_OUTLINES: usize = 100_000;
/// How deep elements may nest, `<opml>` and `<body>` included: readers' folders nest a few
/// levels.
pub const MAX_DEPTH: usize = 64;
/// The longest value of an outline attribute that is read (`xmlUrl`, `htmlUrl`, `title`,
/// `text`, `category`) and of the `<head>` title, in bytes.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;
/// The most tags one feed may gather from its folders and `category` attributes.
pub const MAX_TAGS: usize = 256;
/// Why a site outline (an `htmlUrl` without an `xmlUrl`) is among [`parse_with_skipped`]'s
/// skipped outlines: its feed is still to be found.
pub const SITE_ONLY: &str = "only a site address (htmlUrl); run: feedmerge add URL";

/// One feed found in an OPML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlFeed {
    /// The outline's `xmlUrl`: absolute, http or https (a `feed:` URL unwrapped).
    pub url: Url,
    /// The outline's `title`, else its `text`, trimmed; `None` if both are blank or merely repeat
    /// the URL (then the feed's own title is the better name). Of a feed listed twice, the
    /// first name given.
    pub title: Option<String>,
    /// Names of the enclosing folders, outermost first, then the parts of the `category`
    /// attribute; trimmed, without blanks or repeats. A feed listed in several folders (as
    /// Feedly and Inoreader export it) has the tags of all, in document order.
    pub tags: Vec<String>,
}

/// A site outline: an `htmlUrl` without an `xmlUrl` (and nothing inside it), whose feed is
/// still to be discovered the way `feedmerge add` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageOutline {
    /// The outline's `htmlUrl`: absolute, http or https.
    pub url: Url,
    /// The outline's `title`, else its `text`, as for [`OpmlFeed::title`].
    pub title: Option<String>,
    /// The tags its feed would get, as for [`OpmlFeed::tags`].
    pub tags: Vec<String>,
}

/// An outline that [`parse`] left out because it gives no usable URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedOutline {
    /// The `xmlUrl` as written (trimmed); for a site outline, its `htmlUrl`.
    pub url: String,
    /// Why it was left out, for example `relative URL`, or [`SITE_ONLY`].
    pub reason: String,
}

/// Everything [`read`] found in an OPML file, each list in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscriptions {
    /// The feeds, each URL once.
    pub feeds: Vec<OpmlFeed>,
    /// Site outlines, each URL once: their feeds are to be discovered.
    pub pages: Vec<PageOutline>,
    /// Outlines left out, and why.
    pub skipped: Vec<SkippedOutline>,
}

/// Why an OPML file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OpmlError {
    /// The bytes are not valid in the file's encoding (its BOM, else its XML declaration, else
    /// UTF-8).
    #[error("cannot decode OPML file as {encoding}: invalid byte sequence at line {line}")]
    Encoding {
        /// The encoding's name, like `UTF-8` or `windows-1252`.
        encoding: &'static str,
        /// 1-based line of the first invalid sequence.
        line: usize,
    },
    /// The file is not OPML: empty, not XML, or XML with another root element.
    #[error("not an OPML file: {found}")]
    NotOpml {
        /// What was found instead, like `the root element is <rss>`.
        found: String,
    },
    /// The file is OPML but its XML is malformed.
    #[error("malformed OPML at line {line}: {message}")]
    Xml {
        /// 1-based line where the problem was noticed.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The file goes past a limit: [`MAX_OUTLINES`], [`MAX_DEPTH`], [`MAX_VALUE_BYTES`] or
    /// [`MAX_TAGS`].
    #[error("OPML file too large at line {line}: {limit}")]
    TooLarge {
        /// 1-based line where the limit was passed.
        line: usize,
        /// Which limit, like `more than 100000 outlines`.
        limit: String,
    },
    /// No outline has a usable `xmlUrl` ([`parse`]), or, for [`read`], a usable `htmlUrl`
    /// either.
    #[error("{}", no_feeds_message(.skipped))]
    NoFeeds {
        /// Outlines left out (empty if there were none).
        skipped: Vec<SkippedOutline>,
    },
}

/// Reads every feed outline (an `<outline>` with an `xmlUrl` attribute, at any depth) from OPML
/// bytes, in document order. A URL listed twice is kept once, where it first appears, with the
/// tags of every listing; outlines whose `xmlUrl` is not an absolute http(s) URL (or a `feed:`
/// URL around one) are left out (see [`parse_with_skipped`]).
///
/// # Errors
/// [`OpmlError::Encoding`] if the bytes cannot be decoded, [`OpmlError::NotOpml`] if they are
/// not an OPML document, [`OpmlError::Xml`] if the XML is malformed, [`OpmlError::TooLarge`]
/// past a limit, and [`OpmlError::NoFeeds`] if no outline has a usable `xmlUrl`.
pub fn parse(bytes: &[u8]) -> Result<Vec<OpmlFeed>, OpmlError> {
    parse_with_skipped(bytes).map(|(feeds, _)| feeds)
}

/// [`parse`], also returning the outlines that were left out and why, so that an import can
/// tell the user about them: site outlines ([`Subscriptions::pages`]) come last among them,
/// with the reason [`SITE_ONLY`].
///
/// # Errors
/// As [`parse`].
pub fn parse_with_skipped(bytes: &[u8]) -> Result<(Vec<OpmlFeed>, Vec<SkippedOutline>), OpmlError> {
    let found = read_document(bytes)?;
    let mut skipped = found.skipped;
    skipped.extend(found.pages.into_iter().map(|page| SkippedOutline {
        url: page.url.into(),
        reason: SITE_ONLY.to_owned(),
    }));
    if found.feeds.is_empty() {
        return Err(OpmlError::NoFeeds { skipped });
    }
    Ok((found.feeds, skipped))
}

/// Everything in OPML bytes: the feeds as [`parse`] reads them, the site outlines whose feeds
/// are to be discovered, and the outlines left out.
///
/// Folders become tags, except a wrapper that stands for the exporter's account rather than a
/// folder of the user's: RSSOwl's sets (`rssowl:isSet="true"`), a top-level outline named like
/// the account of a Thunderbird export (`<title>Thunderbird OPML Export - NAME</title>`), and
/// the folder Thunderbird makes for each feed, named like the feed. An outline with an empty
/// `xmlUrl` and outlines inside it is a folder.
///
/// # Errors
/// As [`parse`], with [`OpmlError::NoFeeds`] only when there are neither feeds nor sites.
pub fn read(bytes: &[u8]) -> Result<Subscriptions, OpmlError> {
    let found = read_document(bytes)?;
    if found.feeds.is_empty() && found.pages.is_empty() {
        return Err(OpmlError::NoFeeds {
            skipped: found.skipped,
        });
    }
    Ok(found)
}

/// [`read`] without the check that something was found.
fn read_document(bytes: &[u8]) -> Result<Subscriptions, OpmlError> {
    let text = decode(bytes)?;
    let first = text.trim_start();
    if first.is_empty() {
        return Err(not_opml("the file is empty"));
    }
    if !first.starts_with('<') {
        let snippet: String = first
            .chars()
            .take_while(|&c| c != '\n')
            .take(SNIPPET_CHARS)
            .collect();
        return Err(not_opml(format!(
            "it starts with {snippet:?}, not with XML markup"
        )));
    }

    let mut reader = Reader::from_str(&text);
    let mut open: Vec<Frame> = Vec::new();
    let mut root_seen = false;
    let mut found = Found::default();
    let mut exporter = Exporter::default();
    let mut outlines = 0usize;
    // The `<head>` title while it is read, and how deep it is open.
    let mut head_title: Option<(String, usize)> = None;
    let too_large = |at: u64, limit: String| OpmlError::TooLarge {
        line: line_at(&text, at),
        limit,
    };
    loop {
        let at = reader.buffer_position();
        let event = reader.read_event().map_err(|e| OpmlError::Xml {
            line: line_at(&text, reader.error_position()),
            message: e.to_string(),
        })?;
        let (start, empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) if head_title.is_some() => {
                if let Some((title, _)) = &mut head_title {
                    push_text(title, &event);
                    if title.len() > MAX_VALUE_BYTES {
                        return Err(too_large(
                            at,
                            format!("the <title> in <head> is longer than {MAX_VALUE_BYTES} bytes"),
                        ));
                    }
                }
                continue;
            }
            Event::End(_) => {
                if let Some(frame) = open.pop() {
                    if head_title
                        .as_ref()
                        .is_some_and(|(_, depth)| *depth == open.len())
                    {
                        let (title, _) = head_title.take().unwrap_or_default();
                        exporter.read_title(&title);
                    }
                    if let Some(outline) = frame.leaf.filter(|_| !frame.has_outlines) {
                        found.add_leaf(&outline, &open);
                    }
                }
                if open.is_empty() {
                    // The root is closed: whatever follows is not part of the subscription list.
                    break;
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = start.name();
        let local = name.local_name();
        if !root_seen {
            root_seen = true;
            if !local.as_ref().eq_ignore_ascii_case("opml") {
                return Err(not_opml(format!("the root element is <{}>", name.as_ref())));
            }
            exporter.read_root(&start);
        }
        let parent = open.last_mut();
        let in_body = parent
            .as_ref()
            .is_some_and(|p| p.name.eq_ignore_ascii_case("body"));
        let in_head = parent
            .as_ref()
            .is_some_and(|p| p.name.eq_ignore_ascii_case("head"));
        let mut frame = Frame {
            name: name.as_ref().to_owned(),
            folder: None,
            leaf: None,
            has_outlines: false,
        };
        if local.as_ref().eq_ignore_ascii_case("outline") {
            if let Some(parent) = parent {
                parent.has_outlines = true;
            }
            outlines += 1;
            if outlines > MAX_OUTLINES {
                return Err(too_large(at, format!("more than {MAX_OUTLINES} outlines")));
            }
            let outline = Outline::read(&start).map_err(|e| match e {
                ReadError::Xml(message) => OpmlError::Xml {
                    line: line_at(&text, at),
                    message,
                },
                ReadError::TooLarge(limit) => too_large(at, limit),
            })?;
            match outline.xml_url.as_deref().map(str::trim) {
                Some(raw) if !raw.is_empty() => found
                    .add_feed(raw, &outline, &open, &exporter)
                    .map_err(|limit| too_large(at, limit))?,
                _ if empty => found.add_leaf(&outline, &open),
                // A folder, or a site if nothing turns out inside it.
                _ => {
                    frame.folder = exporter.folder(&outline, in_body);
                    frame.leaf = Some(outline);
                }
            }
        } else if in_head && local.as_ref().eq_ignore_ascii_case("title") && !empty {
            head_title = Some((String::new(), open.len()));
        }
        if !empty {
            if open.len() >= MAX_DEPTH {
                return Err(too_large(
                    at,
                    format!("elements nest more than {MAX_DEPTH} deep"),
                ));
            }
            open.push(frame);
        }
    }

    if !root_seen {
        return Err(not_opml("it contains no XML element"));
    }
    if let Some(unclosed) = open.last() {
        return Err(OpmlError::Xml {
            line: line_at(&text, u64::MAX),
            message: format!("the file ends before <{}> is closed", unclosed.name),
        });
    }
    Ok(found.into_subscriptions())
}

/// Appends the text of `event` (text, CDATA, or a character or predefined entity reference)
/// to `out`; other references are left out.
fn push_text(out: &mut String, event: &Event<'_>) {
    match event {
        Event::Text(t) => out.push_str(&t.xml10_content()),
        Event::CData(c) => out.push_str(&c.xml10_content()),
        Event::GeneralRef(r) => match r.resolve_char_ref() {
            Ok(Some(c)) => out.push(c),
            _ => out.push_str(quick_xml::escape::resolve_predefined_entity(r).unwrap_or("")),
        },
        _ => {}
    }
}

/// `[[feeds]]` tables for `feeds` (keys `url`, `title`, `tags`), ready to append to
/// `config.toml`: the text starts with a blank line and a comment saying where it came from.
/// Empty `feeds` give an empty string.
///
/// The caller must leave out feeds whose URL is already configured: `config.toml` rejects a URL
/// listed twice.
pub fn to_toml(feeds: &[OpmlFeed]) -> String {
    if feeds.is_empty() {
        return String::new();
    }
    let count = match feeds.len() {
        1 => "1 feed".to_owned(),
        n => format!("{n} feeds"),
    };
    let mut out = format!("\n# {count} imported from OPML by feedmerge.\n");
    for feed in feeds {
        out.push_str("\n[[feeds]]\nurl = ");
        out.push_str(&toml_string(feed.url.as_str()));
        // `config.toml` rejects a blank title, so a blank one is left out rather than written.
        if let Some(title) = feed.title.as_deref().filter(|t| !t.trim().is_empty()) {
            out.push_str("\ntitle = ");
            out.push_str(&toml_string(title));
        }
        if !feed.tags.is_empty() {
            out.push_str("\ntags = ");
            let tags: Vec<String> = feed.tags.iter().map(|t| toml_string(t)).collect();
            out.push('[');
            out.push_str(&tags.join(", "));
            out.push(']');
        }
        out.push('\n');
    }
    out
}

/// Which URLs [`export`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urls {
    /// As configured, credentials and tokens included: the owner's backup
    /// (`feedmerge export-opml`).
    Full,
    /// Without userinfo and with secret query values replaced (see [`crate::redact`]): for
    /// anyone else (`/sources.opml`).
    Redacted,
}

/// An OPML 2.0 document titled `title` that lists `feeds`: the untagged feeds at the top
/// level, then each tag as a folder (`<outline text="tag" title="tag">`, in the order the tags
/// first appear) holding its feeds in order, a feed with two tags in both. A feed is
/// `<outline type="rss" text=".." title=".." xmlUrl=".."/>`, named by its configured title,
/// else by its own title in `own_titles` (by URL as configured; see
/// [`crate::store::Store::own_titles`]), else by its URL (as `text` only, which OPML
/// requires); the URLs as `urls` says.
///
/// [`read`] reads it back to the same URLs and tags, with the name as title; titles come back
/// trimmed, and intervals are not exported (OPML has no attribute for them).
pub fn export(
    title: &str,
    feeds: &[FeedConfig],
    own_titles: &HashMap<String, String>,
    urls: Urls,
) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', EXPORT_INDENT);
    let outlines: Vec<BytesStart<'static>> = feeds
        .iter()
        .map(|f| outline(f, own_titles.get(f.url.as_str()), urls))
        .collect();
    // Folders in the order their tags first appear, each with its feeds in order.
    let mut folders: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut folder_of: HashMap<&str, usize> = HashMap::new();
    let mut untagged = Vec::new();
    for (i, feed) in feeds.iter().enumerate() {
        if feed.tags.is_empty() {
            untagged.push(i);
        }
        for tag in &feed.tags {
            let folder = *folder_of.entry(tag.as_str()).or_insert_with(|| {
                folders.push((tag.as_str(), Vec::new()));
                folders.len() - 1
            });
            // A tag listed twice on one feed lists the feed once.
            if folders[folder].1.last() != Some(&i) {
                folders[folder].1.push(i);
            }
        }
    }
    let body = Body {
        folders: &folders,
        untagged: &untagged,
        outlines: &outlines,
    };
    // Invariant: writing into a Vec cannot fail.
    write_export(&mut writer, title, &body).expect("writing to memory cannot fail");
    // Invariant: the writer copies `&str` input and ASCII markup only.
    let mut xml = String::from_utf8(writer.into_inner()).expect("the writer emits UTF-8");
    xml.push('\n');
    xml
}

/// What [`export`] writes in `<body>`.
struct Body<'a> {
    /// Each tag with the feeds (indexes into `outlines`) it holds.
    folders: &'a [(&'a str, Vec<usize>)],
    /// The feeds without tags.
    untagged: &'a [usize],
    /// Each feed's outline.
    outlines: &'a [BytesStart<'static>],
}

/// Writes [`export`]'s document; quick-xml escapes the text and the attribute values (tabs and
/// line breaks in attributes as character references, which survive a parser's attribute
/// normalisation).
fn write_export(writer: &mut Writer<Vec<u8>>, title: &str, body: &Body<'_>) -> std::io::Result<()> {
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer
        .create_element("opml")
        .with_attribute(("version", "2.0"))
        .write_inner_content(|writer| {
            writer
                .create_element("head")
                .write_inner_content(|writer| {
                    writer
                        .create_element("title")
                        .write_text_content(BytesText::new(&xml_chars(title)))?;
                    Ok(())
                })?;
            writer
                .create_element("body")
                .write_inner_content(|writer| {
                    for &i in body.untagged {
                        writer.write_event(Event::Empty(body.outlines[i].borrow()))?;
                    }
                    for (tag, members) in body.folders {
                        let tag = xml_chars(tag);
                        writer
                            .create_element("outline")
                            .with_attribute(("text", &*tag))
                            .with_attribute(("title", &*tag))
                            .write_inner_content(|writer| {
                                for &i in members {
                                    writer.write_event(Event::Empty(body.outlines[i].borrow()))?;
                                }
                                Ok(())
                            })?;
                    }
                    Ok(())
                })?;
            Ok(())
        })?;
    Ok(())
}

/// The `<outline>` of one feed in [`export`], named by its configured title, else by
/// `own_title`, else by its URL.
fn outline(feed: &FeedConfig, own_title: Option<&String>, urls: Urls) -> BytesStart<'static> {
    let url = match urls {
        Urls::Full => Cow::Borrowed(feed.url.as_str()),
        Urls::Redacted => Cow::Owned(crate::redact::url(&feed.url).into()),
    };
    let title = feed
        .title
        .as_ref()
        .or(own_title)
        .map(|t| xml_chars(t))
        .filter(|t| !t.trim().is_empty());
    let mut outline = BytesStart::new("outline");
    outline.push_attribute(("type", "rss"));
    outline.push_attribute(("text", title.as_deref().unwrap_or(&url)));
    if let Some(title) = &title {
        outline.push_attribute(("title", &**title));
    }
    outline.push_attribute(("xmlUrl", &*url));
    outline
}

/// `s` without the characters XML 1.0 cannot carry at all, not even as character references
/// (the controls other than tab and line breaks, U+FFFE and U+FFFF): the writer escapes markup
/// but passes them through, and a parser would then reject the whole document.
fn xml_chars(s: &str) -> Cow<'_, str> {
    let unfit = |c: char| {
        matches!(
            c,
            '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}'
        )
    };
    if s.contains(unfit) {
        Cow::Owned(s.chars().filter(|&c| !unfit(c)).collect())
    } else {
        Cow::Borrowed(s)
    }
}

/// An element that is still open.
struct Frame {
    /// Its name as written, for the "not closed" error.
    name: String,
    /// The folder name it contributes to the tags of the feeds inside it, if it is a folder.
    folder: Option<String>,
    /// An outline without a feed URL: a site if it has an `htmlUrl` and no outline inside.
    leaf: Option<Outline>,
    /// Whether an `<outline>` was found directly inside it.
    has_outlines: bool,
}

/// What the file says about the program that wrote it, as far as folders are concerned.
#[derive(Default)]
struct Exporter {
    /// Thunderbird (or a program built on it: Betterbird, SeaMonkey) wrote it: its root
    /// declares the `urn:forumzilla:` namespace, or its title reads "BRAND OPML Export - NAME".
    thunderbird: bool,
    /// The account NAME of a Thunderbird export's title.
    account: Option<String>,
}

impl Exporter {
    /// Notes what the root element's attributes say.
    fn read_root(&mut self, root: &BytesStart<'_>) {
        self.thunderbird |= root.attributes().flatten().any(|a| {
            a.key.as_ref().eq_ignore_ascii_case("xmlns:fz") && &*a.value == "urn:forumzilla:"
        });
    }

    /// Notes what the `<head>` title says: Thunderbird titles its exports
    /// "Thunderbird OPML Export - ACCOUNT" (its string `subscribe-OPMLExportFileDialogTitle`,
    /// "%1$S OPML Export - %2$S").
    fn read_title(&mut self, title: &str) {
        let title = title.trim();
        if let Some((brand, account)) = title.split_once(" OPML Export - ") {
            if !brand.is_empty() && !brand.contains(char::is_whitespace) && !account.is_empty() {
                self.thunderbird = true;
                self.account = Some(account.trim().to_owned());
            }
        }
    }

    /// The tag a folder outline gives the feeds inside it: its name, unless it stands for the
    /// exporter's account (`top_level`: directly inside `<body>`).
    fn folder(&self, outline: &Outline, top_level: bool) -> Option<String> {
        if outline.rssowl_set {
            return None;
        }
        let name = outline.name()?;
        if top_level && self.account.as_deref() == Some(name.as_str()) {
            return None;
        }
        Some(name)
    }
}

/// The attributes of an `<outline>` that matter here.
#[derive(Default)]
struct Outline {
    text: Option<String>,
    title: Option<String>,
    xml_url: Option<String>,
    html_url: Option<String>,
    category: Option<String>,
    /// RSSOwl's `rssowl:isSet="true"`: a set of bookmarks, the account level.
    rssowl_set: bool,
}

/// Why an `<outline>`'s attributes could not be read.
enum ReadError {
    /// Malformed: the message says how.
    Xml(String),
    /// A value longer than [`MAX_VALUE_BYTES`]: the message says which.
    TooLarge(String),
}

impl Outline {
    /// Reads the attributes, matching their names in any case: exporters in the wild write
    /// `xmlurl` and `XMLURL` as well as `xmlUrl`. The first of two spellings wins.
    fn read(start: &BytesStart<'_>) -> Result<Self, ReadError> {
        let mut outline = Self::default();
        for attr in start.attributes() {
            let attr =
                attr.map_err(|e| ReadError::Xml(format!("bad attribute in <outline>: {e}")))?;
            let key = attr.key.as_ref();
            if key.eq_ignore_ascii_case("rssowl:isSet") {
                outline.rssowl_set = attr.value.trim() == "true";
                continue;
            }
            let slot = if key.eq_ignore_ascii_case("xmlUrl") {
                &mut outline.xml_url
            } else if key.eq_ignore_ascii_case("htmlUrl") {
                &mut outline.html_url
            } else if key.eq_ignore_ascii_case("title") {
                &mut outline.title
            } else if key.eq_ignore_ascii_case("text") {
                &mut outline.text
            } else if key.eq_ignore_ascii_case("category") {
                &mut outline.category
            } else {
                continue;
            };
            if slot.is_some() {
                continue;
            }
            if attr.value.len() > MAX_VALUE_BYTES {
                return Err(ReadError::TooLarge(format!(
                    "attribute {key} is longer than {MAX_VALUE_BYTES} bytes"
                )));
            }
            // Hand-written and older exports leave `&` in query strings unescaped ("?a=1&b=2");
            // such an `&` is read as itself, as browsers do, instead of failing the whole file.
            let attr = Attribute {
                key: attr.key,
                value: escape_bare_ampersands(&attr.value).into_owned().into(),
            };
            // Only the five predefined entities and character references are resolved: entities
            // declared in a DTD are never expanded (no "billion laughs", no external fetches).
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| {
                    ReadError::Xml(match e {
                        quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(_, entity)) => {
                            format!(
                                "attribute {key} uses the entity &{entity}; (only &amp; &lt; \
                                 &gt; &quot; &apos; and character references are decoded)"
                            )
                        }
                        e => format!("attribute {key}: {e}"),
                    })
                })?;
            *slot = Some(value.into_owned());
        }
        Ok(outline)
    }

    /// The outline's name: `title`, else `text`, trimmed; `None` if both are blank.
    fn name(&self) -> Option<String> {
        [&self.title, &self.text]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .find(|s| !s.is_empty())
            .map(str::to_owned)
    }
}

/// A feed or site found so far, with its tags as a set for merging in linear time.
struct Entry {
    url: Url,
    title: Option<String>,
    tags: Vec<String>,
    tag_set: HashSet<String>,
}

impl Entry {
    /// Adds the tags of one more listing and its name if there was none yet.
    ///
    /// # Errors
    /// When it would have more than [`MAX_TAGS`] tags.
    fn merge<'a>(
        &mut self,
        title: Option<String>,
        tags: impl Iterator<Item = &'a str>,
    ) -> Result<(), String> {
        if self.title.is_none() {
            self.title = title;
        }
        for tag in tags.map(str::trim).filter(|t| !t.is_empty()) {
            if !self.tag_set.contains(tag) {
                if self.tags.len() == MAX_TAGS {
                    return Err(format!("{} has more than {MAX_TAGS} tags", self.url));
                }
                self.tag_set.insert(tag.to_owned());
                self.tags.push(tag.to_owned());
            }
        }
        Ok(())
    }
}

/// Entries by URL, in the order they first appeared.
#[derive(Default)]
struct Entries {
    list: Vec<Entry>,
    index: HashMap<Url, usize>,
}

impl Entries {
    fn add<'a>(
        &mut self,
        url: Url,
        title: Option<String>,
        tags: impl Iterator<Item = &'a str>,
    ) -> Result<(), String> {
        let i = *self.index.entry(url.clone()).or_insert_with(|| {
            self.list.push(Entry {
                url,
                title: None,
                tags: Vec::new(),
                tag_set: HashSet::new(),
            });
            self.list.len() - 1
        });
        self.list[i].merge(title, tags)
    }
}

/// The feeds and sites found so far and the outlines left out.
#[derive(Default)]
struct Found {
    feeds: Entries,
    pages: Entries,
    skipped: Vec<SkippedOutline>,
}

impl Found {
    /// A feed outline with the `xmlUrl` `raw` inside the elements `open`.
    ///
    /// # Errors
    /// When the feed would have more than [`MAX_TAGS`] tags.
    fn add_feed(
        &mut self,
        raw: &str,
        outline: &Outline,
        open: &[Frame],
        exporter: &Exporter,
    ) -> Result<(), String> {
        let url = match feed_url(raw) {
            Ok(url) => url,
            Err(reason) => {
                self.skipped.push(SkippedOutline {
                    url: raw.to_owned(),
                    reason,
                });
                return Ok(());
            }
        };
        let name = outline.name();
        let mut folders: Vec<&str> = open.iter().filter_map(|f| f.folder.as_deref()).collect();
        // Thunderbird keeps each feed in a folder of its own, named like the feed.
        if exporter.thunderbird && folders.last().copied() == name.as_deref() {
            folders.pop();
        }
        let title = name.filter(|t| t != raw && t != url.as_str());
        self.feeds
            .add(url, title, folders.into_iter().chain(categories(outline)))
    }

    /// An outline without a feed URL and without outlines inside it, inside the elements
    /// `open`: a site if it has a usable `htmlUrl`; a skipped outline if it has an unusable one
    /// or an empty `xmlUrl`; else an empty folder, which says nothing.
    fn add_leaf(&mut self, outline: &Outline, open: &[Frame]) {
        let html_url = outline.html_url.as_deref().map(str::trim);
        let Some(raw) = html_url.filter(|u| !u.is_empty()) else {
            if outline.xml_url.is_some() {
                self.skipped.push(SkippedOutline {
                    url: String::new(),
                    reason: "empty xmlUrl".to_owned(),
                });
            }
            return;
        };
        match http_url(raw) {
            Ok(url) => {
                let title = outline.name().filter(|t| t != raw && t != url.as_str());
                let folders = open.iter().filter_map(|f| f.folder.as_deref());
                // A site has at most the tags of its enclosing folders (bounded by
                // MAX_DEPTH) and its categories; past MAX_TAGS the rest are dropped here,
                // as discovery will read the site again anyway.
                let _ = self
                    .pages
                    .add(url, title, folders.chain(categories(outline)));
            }
            Err(reason) => self.skipped.push(SkippedOutline {
                url: raw.to_owned(),
                reason: format!("no xmlUrl, and the htmlUrl is unusable: {reason}"),
            }),
        }
    }

    fn into_subscriptions(self) -> Subscriptions {
        let feeds = self.feeds.list.into_iter();
        let pages = self.pages.list.into_iter();
        Subscriptions {
            feeds: feeds
                .map(|e| OpmlFeed {
                    url: e.url,
                    title: e.title,
                    tags: e.tags,
                })
                .collect(),
            pages: pages
                .map(|e| PageOutline {
                    url: e.url,
                    title: e.title,
                    tags: e.tags,
                })
                .collect(),
            skipped: self.skipped,
        }
    }
}

/// The parts of an outline's `category` attribute: OPML 2.0 categories are comma-separated,
/// slash-delimited paths ("/News/World,/Tech").
fn categories(outline: &Outline) -> impl Iterator<Item = &str> {
    outline.category.iter().flat_map(|c| c.split([',', '/']))
}

/// Checks an `xmlUrl`: it must be an absolute http or https URL, or a `feed:` URL around one.
fn feed_url(raw: &str) -> Result<Url, String> {
    if raw.is_empty() {
        return Err("empty xmlUrl".to_owned());
    }
    // `feed:` is the informal scheme with which sites hand a feed to a reader:
    // `feed://host/path` stands for `http://host/path`, and `feed:https://…` wraps the URL.
    let unwrapped = match raw.get(..5) {
        Some(scheme) if scheme.eq_ignore_ascii_case("feed:") => match raw[5..].strip_prefix("//") {
            Some(rest) => Cow::Owned(format!("http://{rest}")),
            None => Cow::Borrowed(&raw[5..]),
        },
        _ => Cow::Borrowed(raw),
    };
    http_url(&unwrapped)
}

/// Checks a URL: it must be absolute, http or https.
fn http_url(raw: &str) -> Result<Url, String> {
    match Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
        Ok(url) => Err(format!(
            "unsupported scheme {}: (only http and https)",
            url.scheme()
        )),
        Err(url::ParseError::RelativeUrlWithoutBase) => Err("relative URL".to_owned()),
        Err(e) => Err(format!("invalid URL: {e}")),
    }
}

/// `raw` with every `&` that starts no entity or character reference (`&name;`, `&#…;`)
/// escaped as `&amp;`.
fn escape_bare_ampersands(raw: &str) -> Cow<'_, str> {
    if !raw.contains('&') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len() + 8);
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let name_len = after
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '#' | '.' | '-' | '_' | ':')))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with(';') {
            out.push('&');
        } else {
            out.push_str("&amp;");
        }
        rest = after;
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Decodes the file as its BOM says, else as its XML declaration says, else as UTF-8. Older
/// readers exported ISO-8859-1 and windows-1252; the XML parser itself reads only UTF-8.
fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, OpmlError> {
    let (encoding, body) = match Encoding::for_bom(bytes) {
        Some((encoding, bom_len)) => (encoding, &bytes[bom_len..]),
        None => (declared_encoding(bytes).unwrap_or(UTF_8), bytes),
    };
    if encoding == UTF_8 {
        return std::str::from_utf8(body)
            .map(Cow::Borrowed)
            .map_err(|e| OpmlError::Encoding {
                encoding: UTF_8.name(),
                line: line_at_byte(body, e.valid_up_to()),
            });
    }
    let (text, had_errors) = encoding.decode_without_bom_handling(body);
    if had_errors {
        // The decoder marks each invalid sequence with U+FFFD; the first one gives the line.
        let bad = text.find('\u{FFFD}').unwrap_or(text.len());
        return Err(OpmlError::Encoding {
            encoding: encoding.name(),
            line: line_at_byte(text.as_bytes(), bad),
        });
    }
    Ok(text)
}

/// The encoding named by an `<?xml … encoding="…"?>` declaration at the start of `bytes`.
fn declared_encoding(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = bytes[..bytes.len().min(DECLARATION_SNIFF_LEN)].trim_ascii_start();
    let declaration = head.strip_prefix(b"<?xml")?;
    let declaration = &declaration[..declaration.windows(2).position(|w| w == b"?>")?];
    let after = declaration.windows(8).position(|w| w == b"encoding")? + 8;
    let value = declaration[after..]
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let (&quote, value) = value.split_first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let label = &value[..value.iter().position(|&b| b == quote)?];
    let encoding = Encoding::for_label(label)?;
    // Without a BOM, a file that says UTF-16 cannot be: its declaration was readable as ASCII.
    if encoding == UTF_16LE || encoding == UTF_16BE {
        Some(UTF_8)
    } else {
        Some(encoding)
    }
}

fn not_opml(found: impl Into<String>) -> OpmlError {
    OpmlError::NotOpml {
        found: found.into(),
    }
}

/// 1-based line of a parser position (a byte offset into `text`, clamped to its end).
fn line_at(text: &str, position: u64) -> usize {
    let offset = usize::try_from(position).unwrap_or(usize::MAX);
    line_at_byte(text.as_bytes(), offset)
}

/// 1-based line of byte `offset` (clamped to the end of `bytes`).
fn line_at_byte(bytes: &[u8], offset: usize) -> usize {
    let offset = offset.min(bytes.len());
    bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

fn no_feeds_message(skipped: &[SkippedOutline]) -> String {
    if skipped.is_empty() {
        return "no feeds in OPML file: no outline has an xmlUrl attribute".to_owned();
    }
    let shown: Vec<String> = skipped
        .iter()
        .take(SKIPPED_SHOWN)
        .map(|s| format!("{:?}: {}", s.url, s.reason))
        .collect();
    let more = match skipped.len().saturating_sub(SKIPPED_SHOWN) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    let outlines = if skipped.len() == 1 {
        "outline was"
    } else {
        "outlines were"
    };
    format!(
        "no feeds in OPML file: {} {outlines} skipped ({}{more})",
        skipped.len(),
        shown.join("; ")
    )
}

/// A TOML basic string: `"` and `\` escaped, and every character a terminal would act on
/// ([`terminal::is_unsafe`]) written as `\uXXXX`, so that the config reads back to the same
/// text and neither printing it nor `feedmerge check` drives a terminal. (The `toml` crate
/// writes C1 controls and bidirectional formatting characters as they are, which TOML
/// allows.)
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            // Every such character is below U+10000: four digits hold it.
            c if terminal::is_unsafe(c) => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Duration;

    /// Shaped like a Feedly/Inoreader/NetNewsWire export, with the quirks seen in the wild.
    const REAL_WORLD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- OPML generated by a feed reader -->
<opml version="1.0">
  <head>
    <title><![CDATA[Subscriptions in Reader & co]]></title>
    <dateCreated>Mon, 01 Jan 2024 00:00:00 GMT</dateCreated>
  </head>
  <body>
    <outline text="Tech" title="Tech">
      <outline text="Rust &amp; Systems" title="Rust &amp; Systems">
        <outline type="rss" text="Rust Blog" title="Rust Blog"
                 xmlUrl="https://blog.rust-lang.org/feed.xml" htmlUrl="https://blog.rust-lang.org/"/>
        <outline type="rss" TEXT="This Week in Rust" XMLURL="https://this-week-in-rust.org/atom.xml"
                 HTMLURL="https://this-week-in-rust.org/" category="/Weekly,Rust &amp; Systems"/>
      </outline>
      <outline type="rss" text="Relative" xmlUrl="/feed.xml"/>
      <outline type="rss" text="Q&amp;A  " title="  " xmlurl=" https://example.com/rss?a=1&amp;b=2 "
               category="/News/World, news ,,/Tech"/>
    </outline>
    <outline text="News" title="News">
      <outline type="rss" text="Rust Blog again" xmlUrl="https://blog.rust-lang.org/feed.xml"/>
      <outline type="rss" text="https://lwn.net/headlines/rss" xmlUrl="https://lwn.net/headlines/rss"/>
      <outline type="rss" text="Gopher" xmlUrl="gopher://gopher.example/1/feed"/>
      <outline text="Empty folder"></outline>
    </outline>
    <outline type="rss" text="top" title="Top &quot;level&quot; &#233;t&#xE9;" xmlUrl="https://top.example/feed"/>
  </body>
</opml>
"#;

    fn feed(url: &str, title: Option<&str>, tags: &[&str]) -> OpmlFeed {
        OpmlFeed {
            url: Url::parse(url).unwrap(),
            title: title.map(str::to_owned),
            tags: tags.iter().map(|&t| t.to_owned()).collect(),
        }
    }

    fn error(bytes: &[u8]) -> String {
        parse(bytes).unwrap_err().to_string()
    }

    #[test]
    fn real_world_export_with_bom() {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend_from_slice(REAL_WORLD.as_bytes());
        let (feeds, skipped) = parse_with_skipped(&bytes).unwrap();
        assert_eq!(
            feeds,
            vec![
                // Listed again under "News": one feed with the tags of both listings.
                feed(
                    "https://blog.rust-lang.org/feed.xml",
                    Some("Rust Blog"),
                    &["Tech", "Rust & Systems", "News"]
                ),
                feed(
                    "https://this-week-in-rust.org/atom.xml",
                    Some("This Week in Rust"),
                    &["Tech", "Rust & Systems", "Weekly"]
                ),
                feed(
                    "https://example.com/rss?a=1&b=2",
                    Some("Q&A"),
                    &["Tech", "News", "World", "news"]
                ),
                feed("https://lwn.net/headlines/rss", None, &["News"]),
                feed("https://top.example/feed", Some("Top \"level\" été"), &[]),
            ]
        );
        assert_eq!(
            skipped,
            vec![
                SkippedOutline {
                    url: "/feed.xml".to_owned(),
                    reason: "relative URL".to_owned()
                },
                SkippedOutline {
                    url: "gopher://gopher.example/1/feed".to_owned(),
                    reason: "unsupported scheme gopher: (only http and https)".to_owned()
                },
            ]
        );
        // Without the BOM the result is the same.
        assert_eq!(parse(REAL_WORLD.as_bytes()).unwrap(), feeds);
    }

    #[test]
    fn rss_html_and_text_are_not_opml() {
        let rss =
            br#"<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>"#;
        assert_eq!(error(rss), "not an OPML file: the root element is <rss>");
        // Not well-formed XML either: the root is judged before the unclosed <meta>.
        let html = b"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Hi</title></head><body><br></body></html>";
        assert_eq!(error(html), "not an OPML file: the root element is <html>");
        assert_eq!(
            error(br#"{"feeds": ["https://a.example/"]}"#),
            r#"not an OPML file: it starts with "{\"feeds\": [\"https://a.example/\"]}", not with XML markup"#
        );
        assert_eq!(error(b" \n"), "not an OPML file: the file is empty");
        assert_eq!(
            error(b"<?xml version=\"1.0\"?>\n<!-- nothing -->\n"),
            "not an OPML file: it contains no XML element"
        );
    }

    #[test]
    fn malformed_xml_names_the_line() {
        let mismatched =
            b"<opml version=\"2.0\">\n<body>\n<outline text=\"a\">\n</body>\n</opml>\n";
        let e = parse(mismatched).unwrap_err();
        assert!(matches!(e, OpmlError::Xml { line: 4, .. }), "{e}");
        assert!(
            e.to_string().starts_with("malformed OPML at line 4: "),
            "{e}"
        );

        let truncated =
            b"<opml version=\"2.0\">\n<body>\n<outline xmlUrl=\"https://a.example/\"/>\n";
        assert_eq!(
            error(truncated),
            "malformed OPML at line 4: the file ends before <body> is closed"
        );

        let bad_attr = b"<opml>\n<body>\n<outline xmlUrl=\"https://a.example/\" xmlUrl=\"https://b.example/\"/>\n</body>\n</opml>";
        assert!(error(bad_attr).starts_with("malformed OPML at line 3: "));
    }

    #[test]
    fn dtd_entities_are_never_expanded() {
        let doc = br#"<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<opml><body>
<outline text="&lol2;" xmlUrl="https://a.example/"/>
</body></opml>"#;
        let e = error(doc);
        assert!(
            e.starts_with("malformed OPML at line 4: attribute text uses the entity &lol2;"),
            "{e}"
        );
    }

    #[test]
    fn bare_ampersands_are_read_as_themselves() {
        let doc = br#"<opml><body>
            <outline text="Q & A &amp; more" xmlUrl="http://legacy.example/rss.php?id=1&format=rss&x=&#49;"/>
            <outline text="a&b=c;" xmlUrl="http://legacy.example/?a=1&b=2;c"/>
        </body></opml>"#;
        assert_eq!(
            parse(doc).unwrap(),
            vec![
                feed(
                    "http://legacy.example/rss.php?id=1&format=rss&x=1",
                    Some("Q & A & more"),
                    &[]
                ),
                feed("http://legacy.example/?a=1&b=2;c", Some("a&b=c;"), &[]),
            ]
        );
        // A well-formed reference to an unknown entity is still an error, not left as text.
        assert!(error(b"<opml><body><outline text=\"a &nbsp; b\" xmlUrl=\"https://a.example/\"/></body></opml>")
            .contains("attribute text uses the entity &nbsp;"));
    }

    #[test]
    fn opml_without_usable_feeds() {
        let folders = b"<opml version=\"2.0\"><head/><body><outline text=\"A\"><outline text=\"B\"/></outline></body></opml>";
        let e = parse(folders).unwrap_err();
        assert!(matches!(&e, OpmlError::NoFeeds { skipped } if skipped.is_empty()));
        assert_eq!(
            e.to_string(),
            "no feeds in OPML file: no outline has an xmlUrl attribute"
        );

        let invalid = br#"<opml><body>
            <outline xmlUrl="feed.xml"/><outline xmlUrl=""/><outline xmlUrl="ftp://x.example/f"/>
            <outline xmlUrl="http://[::1"/><outline xmlUrl="/f"/>
        </body></opml>"#;
        let e = error(invalid);
        assert!(
            e.starts_with(
                "no feeds in OPML file: 5 outlines were skipped (\"feed.xml\": relative URL; \
                 \"\": empty xmlUrl; \"ftp://x.example/f\": unsupported scheme ftp: (only http \
                 and https) and 2 more)"
            ),
            "{e}"
        );
        assert!(error(b"<opml/>").starts_with("no feeds in OPML file"));
    }

    #[test]
    fn declared_legacy_encoding_and_utf16_bom() {
        let mut latin1 =
            b"<?xml version='1.0' encoding='ISO-8859-1'?><opml><body><outline text=\"Caf".to_vec();
        latin1.extend_from_slice(b"\xE9\" xmlUrl=\"https://cafe.example/\"/></body></opml>");
        assert_eq!(parse(&latin1).unwrap()[0].title.as_deref(), Some("Café"));

        let text =
            "<opml><body><outline text=\"日本\" xmlUrl=\"https://jp.example/\"/></body></opml>";
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(parse(&utf16).unwrap()[0].title.as_deref(), Some("日本"));

        let bad =
            b"<opml>\n<body>\n<outline text=\"\xFF\" xmlUrl=\"https://a.example/\"/></body></opml>";
        assert_eq!(
            error(bad),
            "cannot decode OPML file as UTF-8: invalid byte sequence at line 3"
        );
    }

    #[test]
    fn to_toml_round_trips() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            feeds: Vec<Entry>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Entry {
            url: String,
            title: Option<String>,
            #[serde(default)]
            tags: Vec<String>,
        }

        let feeds = vec![
            feed(
                "https://a.example/feed?x=1&y=\"2\"",
                Some(r#"Say "hi" \ C:\path\ 'single' ü 日本"#),
                &["a \"b\"", "back\\slash", "ctrl\u{1}\u{7f}"],
            ),
            feed("https://b.example/", Some("line\nbreak\ttab"), &[]),
            feed("https://c.example/", None, &["only tag"]),
            // What a hostile OPML file may carry: clear the screen, recolour, reorder.
            feed(
                "https://d.example/",
                Some("\u{1b}[2J\u{1b}]0;title\u{7}\u{9b}31mred\u{202E}txt.exe"),
                &["\u{1b}[8m"],
            ),
        ];
        let text = to_toml(&feeds);
        assert!(
            !text.chars().any(|c| terminal::is_unsafe(c) && c != '\n'),
            "{text:?}"
        );
        assert!(
            text.starts_with("\n# 4 feeds imported from OPML by feedmerge.\n"),
            "{text}"
        );
        let back: File = toml::from_str(&text).unwrap();
        assert_eq!(back.feeds.len(), feeds.len());
        for (entry, feed) in back.feeds.iter().zip(&feeds) {
            assert_eq!(entry.url, feed.url.as_str());
            assert_eq!(entry.title, feed.title);
            assert_eq!(entry.tags, feed.tags);
        }

        // Appended to the shipped example, it is still a valid configuration.
        let config = crate::config::Config::parse(
            &format!("{}{}", crate::config::EXAMPLE, text),
            Path::new("config.toml"),
        )
        .unwrap();
        let tail = &config.feeds[config.feeds.len() - feeds.len()..];
        assert_eq!(tail[0].title, feeds[0].title);
        assert_eq!(tail[2].tags, ["only tag"]);
        assert_eq!(tail[3].title, feeds[3].title);

        assert_eq!(to_toml(&[]), "");
    }

    fn no_titles() -> HashMap<String, String> {
        HashMap::new()
    }

    /// export → read gives back the same feeds and tags: tags are written as folders (a feed
    /// with two tags in both), names are the configured title, else the feed's own stored
    /// title, else none. Tags used to be a comma-separated `category`, which split a tag
    /// holding "," or "/", and untitled feeds were named by their URL although their own
    /// title was stored.
    #[test]
    fn export_round_trips_through_read() {
        let configs = vec![
            FeedConfig {
                url: Url::parse("https://a.example/feed?x=1&y=2").unwrap(),
                title: Some("Tom & Jerry's <\"best\"> bits\nsecond line".to_owned()),
                interval: Some(Duration::from_secs(3600)),
                tags: vec!["cartoons".to_owned(), "ü & ß, or/and".to_owned()],
                ..FeedConfig::new(Url::parse("https://a.example/").unwrap())
            },
            FeedConfig::new(Url::parse("http://b.example/rss").unwrap()),
            FeedConfig {
                tags: vec!["ü & ß, or/and".to_owned()],
                ..FeedConfig::new(Url::parse("https://c.example/atom").unwrap())
            },
            FeedConfig {
                title: Some("Configured".to_owned()),
                tags: vec!["news".to_owned(), "cartoons".to_owned()],
                ..FeedConfig::new(Url::parse("https://d.example/").unwrap())
            },
        ];
        let own = HashMap::from([
            (
                "https://c.example/atom".to_owned(),
                "C's own title".to_owned(),
            ),
            // A configured title wins over the feed's own.
            ("https://d.example/".to_owned(), "D's own title".to_owned()),
            (
                "https://elsewhere.example/".to_owned(),
                "not configured".to_owned(),
            ),
        ]);
        let doc = export("My <feeds> & more", &configs, &own, Urls::Full);
        assert!(
            doc.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">")
        );
        assert!(
            doc.contains("<title>My &lt;feeds&gt; &amp; more</title>"),
            "{doc}"
        );
        assert!(
            doc.contains(
                r#"<outline type="rss" text="http://b.example/rss" xmlUrl="http://b.example/rss"/>"#
            ),
            "{doc}"
        );
        assert!(!doc.contains("not configured"), "{doc}");
        let back = read(doc.as_bytes()).unwrap().feeds;
        assert_eq!(back.len(), configs.len(), "{doc}");
        let expected_titles = [
            configs[0].title.clone(),
            None,
            Some("C's own title".to_owned()),
            Some("Configured".to_owned()),
        ];
        for (config, title) in configs.iter().zip(expected_titles) {
            let feed = back.iter().find(|f| f.url == config.url).unwrap();
            assert_eq!(feed.title, title);
            let mut tags = feed.tags.clone();
            let mut expected = config.tags.clone();
            tags.sort();
            expected.sort();
            assert_eq!(tags, expected, "{doc}");
        }
    }

    proptest::proptest! {
        /// Any title and tag is written as TOML that reads back to the same string and holds
        /// nothing a terminal acts on.
        #[test]
        fn any_string_is_written_as_safe_toml(title in "\\PC*|[\\x00-\\x{a0}\\u{2000}-\\u{2070}]*", tag in proptest::prelude::any::<String>()) {
            #[derive(serde::Deserialize)]
            struct File {
                feeds: Vec<Entry>,
            }
            #[derive(serde::Deserialize)]
            struct Entry {
                title: Option<String>,
                tags: Vec<String>,
            }
            let text = to_toml(&[feed("https://a.example/", Some(&title), &[&tag])]);
            proptest::prop_assert!(!text.chars().any(|c| terminal::is_unsafe(c) && c != '\n'), "{:?}", text);
            let back: File = toml::from_str(&text).unwrap();
            let expected = Some(title.clone()).filter(|t| !t.trim().is_empty());
            proptest::prop_assert_eq!(&back.feeds[0].title, &expected);
            proptest::prop_assert_eq!(&back.feeds[0].tags, &vec![tag]);
        }
    }

    #[test]
    fn a_public_export_carries_no_secrets() {
        let configs = [
            FeedConfig::new(Url::parse("https://me:pw@a.example/f?apikey=K&tag=x").unwrap()),
            FeedConfig {
                title: Some("B".to_owned()),
                ..FeedConfig::new(Url::parse("https://b.example/f?token=T").unwrap())
            },
        ];
        let public = export("t", &configs, &no_titles(), Urls::Redacted);
        assert!(
            !public.contains("pw") && !public.contains("=K") && !public.contains("=T"),
            "{public}"
        );
        let back = parse(public.as_bytes()).unwrap();
        assert_eq!(
            back[0].url.as_str(),
            "https://a.example/f?apikey=REDACTED&tag=x"
        );
        assert_eq!(
            back[0].title, None,
            "the URL shown as text is the redacted one"
        );
        assert_eq!(back[1].url.as_str(), "https://b.example/f?token=REDACTED");
        let backup = parse(export("t", &configs, &no_titles(), Urls::Full).as_bytes()).unwrap();
        assert_eq!(backup[0].url, configs[0].url);
    }

    #[test]
    fn export_writes_the_whole_document() {
        let configs = [
            FeedConfig {
                title: Some("Tab\there, \"quoted\" & <new>\nline".to_owned()),
                tags: vec!["a".to_owned(), "b c".to_owned()],
                ..FeedConfig::new(Url::parse("https://a.example/f?x=1&y=2").unwrap())
            },
            FeedConfig::new(Url::parse("http://b.example/rss").unwrap()),
            FeedConfig {
                tags: vec!["b c".to_owned()],
                ..FeedConfig::new(Url::parse("https://c.example/").unwrap())
            },
        ];
        let own = HashMap::from([("https://c.example/".to_owned(), "C & co".to_owned())]);
        assert_eq!(
            export("Mine & yours", &configs, &own, Urls::Full),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <opml version=\"2.0\">\n\
             \x20 <head>\n\
             \x20   <title>Mine &amp; yours</title>\n\
             \x20 </head>\n\
             \x20 <body>\n\
             \x20   <outline type=\"rss\" text=\"http://b.example/rss\" xmlUrl=\"http://b.example/rss\"/>\n\
             \x20   <outline text=\"a\" title=\"a\">\n\
             \x20     <outline type=\"rss\" \
             text=\"Tab&#9;here, &quot;quoted&quot; &amp; &lt;new&gt;&#10;line\" \
             title=\"Tab&#9;here, &quot;quoted&quot; &amp; &lt;new&gt;&#10;line\" \
             xmlUrl=\"https://a.example/f?x=1&amp;y=2\"/>\n\
             \x20   </outline>\n\
             \x20   <outline text=\"b c\" title=\"b c\">\n\
             \x20     <outline type=\"rss\" \
             text=\"Tab&#9;here, &quot;quoted&quot; &amp; &lt;new&gt;&#10;line\" \
             title=\"Tab&#9;here, &quot;quoted&quot; &amp; &lt;new&gt;&#10;line\" \
             xmlUrl=\"https://a.example/f?x=1&amp;y=2\"/>\n\
             \x20     <outline type=\"rss\" text=\"C &amp; co\" title=\"C &amp; co\" \
             xmlUrl=\"https://c.example/\"/>\n\
             \x20   </outline>\n\
             \x20 </body>\n\
             </opml>\n"
        );
        assert_eq!(
            export("Empty", &[], &own, Urls::Full),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n  <head>\n    \
             <title>Empty</title>\n  </head>\n  <body>\n  </body>\n</opml>\n"
        );
    }

    #[test]
    fn export_drops_characters_xml_cannot_carry() {
        let configs = [FeedConfig {
            title: Some("bell\u{7}here".to_owned()),
            ..FeedConfig::new(Url::parse("https://a.example/").unwrap())
        }];
        let back = parse(export("t", &configs, &no_titles(), Urls::Full).as_bytes()).unwrap();
        assert_eq!(back[0].title.as_deref(), Some("bellhere"));
        // The same for a feed's own title, which its publisher chose.
        let untitled = [FeedConfig::new(Url::parse("https://a.example/").unwrap())];
        let own = HashMap::from([("https://a.example/".to_owned(), "own\u{1}title".to_owned())]);
        let back = parse(export("t", &untitled, &own, Urls::Full).as_bytes()).unwrap();
        assert_eq!(back[0].title.as_deref(), Some("owntitle"));
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/opml")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Feedly and Inoreader export a feed once per folder it is in: the first folder won, the
    /// others were lost.
    #[test]
    fn a_feed_in_two_folders_gets_the_tags_of_both() {
        assert_eq!(
            parse(&fixture("feedly.opml")).unwrap(),
            vec![
                feed(
                    "https://tech.example.org/feed/",
                    Some("Example Tech Blog"),
                    &["Tech", "Must Read"]
                ),
                feed(
                    "https://systems.example.net/atom.xml",
                    Some("Systems Weekly"),
                    &["Tech"]
                ),
                feed(
                    "https://gazette.example.com/rss?edition=local&lang=en",
                    Some("Village Gazette"),
                    &["Must Read", "Cooking"]
                ),
            ]
        );
        assert_eq!(
            parse(&fixture("inoreader.opml")).unwrap(),
            vec![
                feed(
                    "https://lab.example.edu/notes.xml",
                    Some("Lab Notes"),
                    &["Science"]
                ),
                feed(
                    "http://stars.example.org/feed",
                    Some("Star Gazing"),
                    &["Science", "Weekend"]
                ),
                feed(
                    "https://unfiled.example.net/index.xml",
                    Some("Unfiled Blog"),
                    &[]
                ),
            ]
        );
    }

    #[test]
    fn netnewswire_export() {
        let found = read(&fixture("netnewswire.opml")).unwrap();
        assert_eq!(
            found.feeds,
            vec![
                feed(
                    "https://daring.example.com/feeds/main",
                    Some("Daring Example"),
                    &[]
                ),
                feed(
                    "https://pie.example.org/feed.json",
                    Some("Pie Recipes"),
                    &["Apple Things"]
                ),
                // An empty htmlUrl beside the xmlUrl changes nothing.
                feed(
                    "https://orchard.example.com/atom",
                    Some("Orchard News"),
                    &["Apple Things"]
                ),
            ]
        );
        assert!(found.pages.is_empty() && found.skipped.is_empty());
    }

    /// Thunderbird keeps each feed in a folder of its own, named like the feed, and titles its
    /// export with the account's name; neither is a folder of the user's.
    #[test]
    fn thunderbird_account_and_feed_folders_are_not_tags() {
        assert_eq!(
            parse(&fixture("thunderbird.opml")).unwrap(),
            vec![
                feed(
                    "https://tech.example.org/feed/",
                    Some("Example Tech Blog"),
                    &["Tech"]
                ),
                feed(
                    "https://kernel.example.org/digest.rss",
                    Some("Kernel Digest"),
                    &["Tech"]
                ),
                feed(
                    "https://gazette.example.com/rss",
                    Some("Village Gazette"),
                    &[]
                ),
            ]
        );

        // One top-level outline named like the account wraps everything.
        let wrapped = |title: &str| {
            format!(
                r#"<opml version="1.0"><head><title>{title}</title></head><body>
                <outline title="Blogs &amp; News Feeds">
                  <outline title="Tech">
                    <outline type="rss" title="A" text="A" xmlUrl="https://a.example/f"/>
                  </outline>
                  <outline type="rss" title="B" text="B" xmlUrl="https://b.example/f"/>
                </outline></body></opml>"#
            )
        };
        let tb = parse(wrapped("Thunderbird OPML Export - Blogs &amp; News Feeds").as_bytes());
        assert_eq!(
            tb.unwrap(),
            vec![
                feed("https://a.example/f", Some("A"), &["Tech"]),
                feed("https://b.example/f", Some("B"), &[]),
            ]
        );
        // In a file from anywhere else, the same outline is a folder like any other.
        let other = parse(wrapped("Blogs &amp; News Feeds").as_bytes()).unwrap();
        assert_eq!(other[0].tags, ["Blogs & News Feeds", "Tech"]);
        assert_eq!(other[1].tags, ["Blogs & News Feeds"]);
    }

    /// RSSOwl wraps each set of bookmarks (its account level) in `rssowl:isSet="true"`.
    #[test]
    fn rssowl_sets_are_not_tags() {
        let doc = br#"<?xml version="1.0"?>
<opml xmlns:rssowl="http://www.rssowl.org" version="1.1">
  <head><title>RSSOwl Subscriptions</title></head>
  <body>
    <outline text="My Feeds" rssowl:isSet="true" rssowl:id="7">
      <outline text="Linux" rssowl:isSet="false" rssowl:id="8">
        <outline type="rss" title="Penguin Post" xmlUrl="https://penguin.example.org/rss" rssowl:id="9"/>
      </outline>
    </outline>
  </body>
</opml>"#;
        assert_eq!(
            parse(doc).unwrap(),
            vec![feed(
                "https://penguin.example.org/rss",
                Some("Penguin Post"),
                &["Linux"]
            )]
        );
    }

    /// `feed:` URLs were refused, a folder written with `xmlUrl=""` lost its children's tag,
    /// and outlines with only an `htmlUrl` were dropped without a word.
    #[test]
    fn feed_urls_empty_xmlurl_folders_and_sites() {
        let found = read(&fixture("hand_edited.opml")).unwrap();
        assert_eq!(
            found.feeds,
            vec![
                feed(
                    "http://anna.example.org/notes.xml",
                    Some("Anna's Notes"),
                    &["Friends"]
                ),
                feed(
                    "https://ben.example.net/feed.atom",
                    Some("Ben Builds"),
                    &["Friends"]
                ),
            ]
        );
        let page = |url: &str, title: &str, tags: &[&str]| PageOutline {
            url: Url::parse(url).unwrap(),
            title: Some(title.to_owned()),
            tags: tags.iter().map(|&t| t.to_owned()).collect(),
        };
        assert_eq!(
            found.pages,
            vec![
                page(
                    "https://clara.example.com/blog/",
                    "Clara Writes",
                    &["Friends"]
                ),
                page("https://dev.example.io/", "Dev's Site", &[]),
            ]
        );
        let gopher = SkippedOutline {
            url: "feed:gopher://old.example.org/1/feed".to_owned(),
            reason: "unsupported scheme gopher: (only http and https)".to_owned(),
        };
        assert_eq!(found.skipped, std::slice::from_ref(&gopher));

        // Callers that know nothing of sites are told about them as skipped outlines.
        let (feeds, skipped) = parse_with_skipped(&fixture("hand_edited.opml")).unwrap();
        assert_eq!(feeds, found.feeds);
        let site = |url: &str| SkippedOutline {
            url: url.to_owned(),
            reason: SITE_ONLY.to_owned(),
        };
        assert_eq!(
            skipped,
            [
                gopher,
                site("https://clara.example.com/blog/"),
                site("https://dev.example.io/")
            ]
        );

        // Only sites: no feeds for `parse`, something to discover for `read`.
        let sites = br#"<opml><body><outline text="S" htmlUrl="https://s.example/"/>
            <outline text="Bad" htmlUrl="/relative"/><outline text="Empty" xmlUrl=""></outline>
            </body></opml>"#;
        assert_eq!(
            error(sites),
            "no feeds in OPML file: 3 outlines were skipped (\"/relative\": no xmlUrl, and the \
             htmlUrl is unusable: relative URL; \"\": empty xmlUrl; \"https://s.example/\": \
             only a site address (htmlUrl); run: feedmerge add URL)"
        );
        assert_eq!(read(sites).unwrap().pages.len(), 1);
        // Upper-case, and a feed: URL listed beside its unwrapped form is one feed.
        let doc = br#"<opml><body><outline xmlUrl="FEED://a.example/f"/>
            <outline xmlUrl="http://a.example/f" category="x"/></body></opml>"#;
        assert_eq!(
            parse(doc).unwrap(),
            vec![feed("http://a.example/f", None, &["x"])]
        );
    }

    /// A file from a stranger is read in linear time and bounded memory: past a limit it is
    /// refused with a message naming the limit and the line.
    #[test]
    fn limits_are_clear_errors() {
        let outlines = "<outline text=\"f\"/>\n".repeat(MAX_OUTLINES + 1);
        let e = error(format!("<opml><body>\n{outlines}</body></opml>").as_bytes());
        assert_eq!(
            e,
            format!(
                "OPML file too large at line {}: more than {MAX_OUTLINES} outlines",
                MAX_OUTLINES + 2
            )
        );

        let deep = "<outline text=\"d\">".repeat(MAX_DEPTH);
        let e = error(format!("<opml><body>{deep}").as_bytes());
        assert_eq!(
            e,
            format!("OPML file too large at line 1: elements nest more than {MAX_DEPTH} deep")
        );

        let long = format!("https://a.example/{}", "x".repeat(MAX_VALUE_BYTES));
        let e =
            error(format!("<opml><body>\n<outline xmlUrl=\"{long}\"/></body></opml>").as_bytes());
        assert_eq!(
            e,
            format!(
                "OPML file too large at line 2: attribute xmlUrl is longer than {MAX_VALUE_BYTES} bytes"
            )
        );
        let title = "t".repeat(MAX_VALUE_BYTES + 1);
        let e = error(format!("<opml><head><title>{title}</title></head></opml>").as_bytes());
        assert!(
            e.ends_with("the <title> in <head> is longer than 16384 bytes"),
            "{e}"
        );

        let tags: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        let doc = format!(
            "<opml><body><outline xmlUrl=\"https://a.example/\" category=\"{}\"/></body></opml>",
            tags.join(",")
        );
        assert_eq!(
            error(doc.as_bytes()),
            format!(
                "OPML file too large at line 1: https://a.example/ has more than {MAX_TAGS} tags"
            )
        );
        // Repeats are no tags: a category of many repeats stays one tag.
        let doc = format!(
            "<opml><body><outline xmlUrl=\"https://a.example/\" category=\"{}\"/></body></opml>",
            "a,".repeat(MAX_VALUE_BYTES / 2 - 1)
        );
        assert_eq!(parse(doc.as_bytes()).unwrap()[0].tags, ["a"]);
    }
}
