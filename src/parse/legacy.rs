//! Old and odd dialects → what feed-rs reads: Atom 0.3 → Atom 1.0, RSS 0.90 → RSS 1.0, RSS
//! 2.0 whose elements sit in a default namespace → RSS 2.0 without one, and Atom 1.0 text
//! constructs whose `type` the format does not allow → the nearest allowed type. Each is a
//! rewrite of a well-formed document's events, after which feed-rs reads it as usual.

use std::borrow::Cow;

use quick_xml::Writer;
use quick_xml::XmlVersion;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::{QName, ResolveResult};
use quick_xml::reader::NsReader;

const ATOM03: &str = "http://purl.org/atom/ns#";
const ATOM10: &str = "http://www.w3.org/2005/Atom";
const RSS090: &str = "http://my.netscape.com/rdf/simple/0.9/";
/// What feed-rs calls the RSS namespace (RSS 1.0's).
const RSS10: &str = "http://purl.org/rss/1.0/";

/// A dialect feed-rs reads as an empty feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Atom 0.3 (`<feed version="0.3" xmlns="http://purl.org/atom/ns#">`).
    Atom03,
    /// RSS 0.90 (`<rdf:RDF xmlns="http://my.netscape.com/rdf/simple/0.9/">`).
    Rss090,
    /// RSS 2.0 with a default namespace on `<rss>` or `<channel>`.
    NamespacedRss,
}

/// The dialect of `doc`, judged from its first two start tags; `None` for anything else.
pub fn dialect(doc: &[u8]) -> Option<Dialect> {
    let (root, root_end) = start_tag(doc, 0)?;
    let name = tag_name(root);
    let local = name.rsplit(|&b| b == b':').next().unwrap_or(name);
    let contains = |needle: &str| memchr::memmem::find(root, needle.as_bytes()).is_some();
    match local {
        b"feed" if contains(ATOM03) => Some(Dialect::Atom03),
        b"RDF" if contains(RSS090) => Some(Dialect::Rss090),
        b"rss" => {
            let channel = start_tag(doc, root_end).map(|(tag, _)| tag);
            (default_namespace(root) || channel.is_some_and(default_namespace))
                .then_some(Dialect::NamespacedRss)
        }
        _ => None,
    }
}

/// Rewrites `doc` from `dialect` into what feed-rs reads. `None` when it is not well-formed.
pub fn translate(doc: &[u8], dialect: Dialect) -> Option<Vec<u8>> {
    let mode = match dialect {
        Dialect::Atom03 => Mode::Atom03,
        Dialect::Rss090 => Mode::Rss090,
        Dialect::NamespacedRss => Mode::NamespacedRss,
    };
    rewrite(doc, mode).map(|(out, _)| out)
}

/// Rewrites the Atom 1.0 text constructs of `doc` whose `type` feed-rs rejects (`""`,
/// `"text/plain"`, `"TEXT"`, `"html "`, a base64-encoded title). `None` when nothing needed
/// it (or `doc` is not well-formed).
pub fn atom_text_types(doc: &[u8]) -> Option<Vec<u8>> {
    match rewrite(doc, Mode::Atom10Types)? {
        (out, true) => Some(out),
        (_, false) => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Atom03,
    Atom10Types,
    Rss090,
    NamespacedRss,
}

/// The start tag (between `<` and `>`) of the first element at or after `from`, and where it
/// ends; declarations, comments and doctypes are skipped.
fn start_tag(doc: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let mut i = from;
    loop {
        i += memchr::memchr(b'<', doc.get(i..)?)?;
        let rest = &doc[i..];
        if rest.starts_with(b"<!--") {
            i += memchr::memmem::find(rest, b"-->")? + 3;
        } else if rest.starts_with(b"<?") || rest.starts_with(b"<!") || rest.starts_with(b"</") {
            i += memchr::memchr(b'>', rest)? + 1;
        } else {
            let end = memchr::memchr(b'>', rest)?;
            return Some((&rest[1..end], i + end + 1));
        }
    }
}

fn tag_name(tag: &[u8]) -> &[u8] {
    let end = tag
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'/')
        .unwrap_or(tag.len());
    &tag[..end]
}

/// Whether a start tag declares a default namespace (`xmlns="…"`).
fn default_namespace(tag: &[u8]) -> bool {
    memchr::memmem::find_iter(tag, b"xmlns").any(|at| {
        let after = &tag[at + 5..];
        let before_ok = at == 0 || tag[at - 1].is_ascii_whitespace();
        before_ok
            && after
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(|b| *b == b'=')
    })
}

/// What a text construct becomes.
struct TextType {
    /// The Atom 1.0 type to write (`None`: keep the attribute as it is).
    new_type: Option<&'static str>,
    /// The content is base64: decode it.
    base64: bool,
}

/// An Atom 0.3 text construct: `type` is a MIME type (text/plain by default) and `mode` says
/// how it is written (xml by default, escaped or base64).
fn atom03_type(mime: Option<&str>, mode: Option<&str>) -> TextType {
    let mime = mime.unwrap_or("text/plain").trim().to_ascii_lowercase();
    let mode = mode.unwrap_or("xml").trim().to_ascii_lowercase();
    let html = mime.contains("html");
    let textual = html || mime.starts_with("text/") || mime.contains("xml");
    match mode.as_str() {
        "base64" if !textual => TextType {
            new_type: None,
            base64: false,
        },
        "base64" | "escaped" => TextType {
            new_type: Some(if html { "html" } else { "text" }),
            base64: mode == "base64",
        },
        _ => TextType {
            new_type: Some(if html { "xhtml" } else { "text" }),
            base64: false,
        },
    }
}

/// An Atom 1.0 text construct (or `content`) with the `type` it was given: what to make of a
/// type feed-rs rejects. `None` when feed-rs reads it as it is.
fn atom10_type(value: &str, content: bool) -> Option<TextType> {
    let v = value.trim().to_ascii_lowercase();
    let set = |t: &'static str| {
        Some(TextType {
            new_type: Some(t),
            base64: false,
        })
    };
    let decode = || {
        Some(TextType {
            new_type: Some("text"),
            base64: true,
        })
    };
    match v.as_str() {
        "text" | "html" | "xhtml" if v == value => None,
        "text" | "html" | "xhtml" => set(match v.as_str() {
            "text" => "text",
            "html" => "html",
            _ => "xhtml",
        }),
        "" | "plain" | "text/plain" => set("text"),
        "text/html" if v == value => None,
        "text/html" => set("html"),
        "application/xhtml+xml" => set("xhtml"),
        "base64" => decode(),
        // Content may be any MIME type; feed-rs reads those it can parse.
        _ if content && v.contains('/') && v == value => None,
        v if v.starts_with("text/") => set("text"),
        v if v.ends_with("+xml") || v.ends_with("/xml") => set("xhtml"),
        // A non-text MIME type means base64, as for Atom content.
        v if v.contains('/') => decode(),
        _ => set("text"),
    }
}

/// Decodes base64 (standard or URL-safe alphabet, padding optional, whitespace ignored).
fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in text.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            b if b.is_ascii_whitespace() => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Base64 that decodes to text: UTF-8 without control characters other than whitespace.
fn base64_text(text: &str) -> Option<String> {
    let decoded = String::from_utf8(base64(text)?).ok()?;
    (!decoded.is_empty()
        && !decoded
            .chars()
            .any(|c| c.is_control() && !c.is_whitespace()))
    .then_some(decoded)
}

/// Atom 0.3 element names that changed in 1.0. `created` has no counterpart (1.0's
/// `published` is 0.3's `issued`) and stays as it is, unread.
fn atom03_rename(local: &str) -> Option<&'static str> {
    Some(match local {
        "issued" => "published",
        "modified" => "updated",
        "tagline" => "subtitle",
        "copyright" => "rights",
        "url" => "uri",
        _ => return None,
    })
}

fn is_text_construct(mode: Mode, local: &str) -> bool {
    match mode {
        Mode::Atom03 => matches!(
            local,
            "title" | "tagline" | "copyright" | "summary" | "content" | "info"
        ),
        Mode::Atom10Types => matches!(
            local,
            "title" | "subtitle" | "summary" | "rights" | "content"
        ),
        _ => false,
    }
}

/// `name` with its local part replaced.
fn renamed(name: QName<'_>, local: &str) -> String {
    match name.prefix() {
        Some(p) => format!("{}:{local}", p.as_ref()),
        None => local.to_owned(),
    }
}

/// One pass over `doc`'s events, rewriting what `mode` changes. Returns the new document
/// and whether anything changed; `None` when `doc` is not well-formed.
fn rewrite(doc: &[u8], mode: Mode) -> Option<(Vec<u8>, bool)> {
    let text = std::str::from_utf8(doc).ok()?;
    let mut reader = NsReader::from_str(text);
    let mut out = Writer::new(Vec::with_capacity(doc.len() + doc.len() / 8));
    let mut changed = false;
    // Depth of the text construct being copied as it is (its children are content, not
    // feed elements), 0 when outside one.
    let mut inside_text = 0usize;
    let target: &str = match mode {
        Mode::Atom03 => ATOM03,
        Mode::Atom10Types => ATOM10,
        Mode::Rss090 => RSS090,
        Mode::NamespacedRss => "",
    };
    loop {
        let (ns, event) = reader.read_resolved_event().ok()?;
        let in_target = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == target);
        let (e, empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(e) => {
                inside_text = inside_text.saturating_sub(1);
                let rename = in_target && mode == Mode::Atom03 && inside_text == 0;
                let e = match rename
                    .then(|| atom03_rename(e.local_name().as_ref()))
                    .flatten()
                {
                    Some(new) => BytesEnd::new(renamed(e.name(), new)),
                    None => e,
                };
                out.write_event(Event::End(e)).ok()?;
                continue;
            }
            Event::Eof => break,
            other => {
                out.write_event(other).ok()?;
                continue;
            }
        };
        if inside_text > 0 {
            // Content of a text construct: copied as it is.
            inside_text += usize::from(!empty);
            out.write_event(if empty {
                Event::Empty(e)
            } else {
                Event::Start(e)
            })
            .ok()?;
            continue;
        }
        let local = e.local_name().as_ref().to_owned();
        let mut start = BytesStart::new(e.name().as_ref().to_owned());
        let new_name = (in_target && mode == Mode::Atom03)
            .then(|| atom03_rename(&local))
            .flatten();
        if let Some(new) = new_name {
            start = BytesStart::new(renamed(e.name(), new));
            changed = true;
        }
        let text_construct = in_target && is_text_construct(mode, &local);
        let attr = |name: &str| -> Option<String> {
            e.attributes()
                .flatten()
                .find(|a| a.key.as_ref() == name)
                .and_then(|a| {
                    a.normalized_value(XmlVersion::Implicit1_0)
                        .ok()
                        .map(Cow::into_owned)
                })
        };
        let kind = if !text_construct {
            None
        } else if mode == Mode::Atom03 {
            Some(atom03_type(
                attr("type").as_deref(),
                attr("mode").as_deref(),
            ))
        } else {
            attr("type").and_then(|t| atom10_type(&t, local == "content"))
        };
        let retyped = kind.as_ref().is_some_and(|k| k.new_type.is_some());
        for a in e.attributes().flatten() {
            let key = a.key.as_ref();
            if retyped && (key == "type" || key == "mode") {
                continue;
            }
            let namespace = key == "xmlns" || key.starts_with("xmlns:");
            let value: &str = &a.value;
            let replacement = match mode {
                Mode::Atom03 if namespace && value == ATOM03 => Some(ATOM10),
                Mode::Rss090 if namespace && value == RSS090 => Some(RSS10),
                Mode::NamespacedRss
                    if key == "xmlns" && matches!(local.as_str(), "rss" | "channel") =>
                {
                    // Dropped: the elements are then in no namespace, which is RSS 2.0's.
                    changed = true;
                    continue;
                }
                _ => None,
            };
            match replacement {
                Some(uri) => {
                    changed = true;
                    start.push_attribute(Attribute {
                        key: a.key,
                        value: Cow::Borrowed(uri),
                    });
                }
                None => start.push_attribute(Attribute {
                    key: a.key,
                    value: a.value,
                }),
            }
        }
        let Some(kind) = kind else {
            out.write_event(if empty {
                Event::Empty(start)
            } else {
                Event::Start(start)
            })
            .ok()?;
            continue;
        };
        if let Some(t) = kind.new_type {
            start.push_attribute(("type", t));
            changed = true;
        }
        if empty {
            out.write_event(Event::Empty(start)).ok()?;
        } else if !kind.base64 {
            out.write_event(Event::Start(start)).ok()?;
            inside_text = 1;
        } else {
            // Base64: the whole content is text, decoded when it decodes to text.
            let end_name = e.name().as_ref().to_owned();
            let raw = reader.read_text(QName(&end_name)).ok()?;
            let raw = raw.html_content();
            let encoded = quick_xml::escape::unescape(&raw)
                .map(Cow::into_owned)
                .unwrap_or_else(|_| raw.clone().into_owned());
            let decoded = base64_text(&encoded).unwrap_or(encoded);
            out.write_event(Event::Start(start)).ok()?;
            out.write_event(Event::Text(BytesText::new(&decoded)))
                .ok()?;
            let end = match new_name {
                Some(new) => BytesEnd::new(renamed(e.name(), new)),
                None => BytesEnd::new(end_name),
            };
            out.write_event(Event::End(end)).ok()?;
        }
    }
    Some((out.into_inner(), changed))
}
