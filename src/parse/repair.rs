//! Repair: an ill-formed XML feed → a well-formed document that says what its author meant,
//! and the list of what was repaired. It runs only once a strict parse has failed (or read
//! something visibly wrong, see [`suspicious`]); well-formed feeds never pass through it.
//!
//! One pass over the text, in time and memory linear in its length: bare `&` escaped, HTML
//! entities replaced by their characters, characters XML forbids dropped, undeclared
//! prefixes declared on the root, end tags matched to what is open, raw HTML inside text
//! elements escaped, unterminated CDATA sections ended at their element's end tag, and what
//! is still open at the end closed. Anything before or after the root element is dropped.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use feed_rs::model::Feed;

use crate::model::{Repair, Repairs};

/// A repaired document.
#[derive(Debug)]
pub struct Repaired {
    /// Well-formed XML, UTF-8, without an XML declaration.
    pub xml: String,
    /// What was repaired (possibly nothing: the strict parser rejected the document for
    /// another reason).
    pub repairs: Repairs,
}

/// The namespaces of the prefixes feeds use most, so that an undeclared `dc:creator` or
/// `content:encoded` is read as what it is. Other undeclared prefixes get a URN of their own.
const KNOWN_PREFIXES: &[(&str, &str)] = &[
    ("atom", "http://www.w3.org/2005/Atom"),
    ("content", "http://purl.org/rss/1.0/modules/content/"),
    ("dc", "http://purl.org/dc/elements/1.1/"),
    ("dcterms", "http://purl.org/dc/terms/"),
    ("georss", "http://www.georss.org/georss"),
    ("itunes", "http://www.itunes.com/dtds/podcast-1.0.dtd"),
    ("media", "http://search.yahoo.com/mrss/"),
    ("podcast", "https://podcastindex.org/namespace/1.0"),
    ("rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"),
    ("slash", "http://purl.org/rss/1.0/modules/slash/"),
    ("sy", "http://purl.org/rss/1.0/modules/syndication/"),
    ("wfw", "http://wellformedweb.org/CommentAPI/"),
    ("xhtml", "http://www.w3.org/1999/xhtml"),
];

/// Elements of RSS (and RSS 1.0) that hold text only: markup found inside them is raw HTML
/// that should have been escaped.
const RSS_TEXT_ELEMENTS: &[&str] = &[
    "author",
    "category",
    "comments",
    "copyright",
    "creator",
    "date",
    "description",
    "docs",
    "encoded",
    "generator",
    "guid",
    "language",
    "lastBuildDate",
    "link",
    "managingEditor",
    "pubDate",
    "subject",
    "summary",
    "title",
    "ttl",
    "webMaster",
];

/// Atom elements that hold text only, whatever their attributes.
const ATOM_TEXT_ELEMENTS: &[&str] = &[
    "created",
    "email",
    "icon",
    "id",
    "issued",
    "logo",
    "modified",
    "name",
    "published",
    "updated",
    "uri",
    "url",
];

/// Atom text constructs: text only unless their `type` (or Atom 0.3 `mode`) says XML.
const ATOM_TEXT_CONSTRUCTS: &[&str] = &[
    "content",
    "copyright",
    "info",
    "rights",
    "subtitle",
    "summary",
    "tagline",
    "title",
];

/// Elements whose start or end tag inside a text element means that element was never
/// closed: the text ends there, rather than swallowing the rest of the feed.
const STRUCTURE: &[&str] = &["channel", "entry", "feed", "item", "rss", "RDF"];

/// The deepest nesting kept: a start tag deeper than this is text. Feeds nest a handful of
/// levels (XHTML content a few dozen); the XML reader refuses a document past 65,535.
pub const MAX_DEPTH: usize = 1024;

/// The most prefixes that are not among `KNOWN_PREFIXES` declared on the root for a
/// document that uses them undeclared. quick-xml refuses a document with more than 128
/// namespace bindings in scope, and feed-rs reads an element whose prefix is unknown anyway
/// (in no namespace): past this, they are left undeclared.
pub const MAX_DECLARED_PREFIXES: usize = 32;

/// The longest entity name looked up (the longest HTML entity has 32 characters).
const MAX_ENTITY_NAME: usize = 32;

/// Whether a document the strict parser accepted is not well-formed in a way that it read
/// wrong, so that it must be repaired and read again: a title that kept a reference to an
/// entity XML does not define (`Caf&eacute;`, left as it is) or a control character,
/// or an entry without the content, title or date that an element of the `content:`, `dc:`
/// or `media:` extension has, whose prefix the document never declared (so that the
/// element was read as nothing). Costs a look at the titles, and a search of the document
/// for the prefix of what some entry lacks.
pub fn suspicious(feed: &Feed, doc: &[u8]) -> bool {
    let odd = |s: &str| has_control(s) || has_html_entity(s);
    feed.title.as_ref().is_some_and(|t| odd(&t.content))
        || feed
            .entries
            .iter()
            .any(|e| e.title.as_ref().is_some_and(|t| odd(&t.content)))
        || lost_extension(feed, doc)
}

/// Whether `s` holds a C0 control character other than tab, line feed and carriage return.
/// Folded over every byte without stopping early, which compiles to a vectorised loop.
fn has_control(s: &str) -> bool {
    s.bytes().fold(false, |found, b| {
        found | (b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r')
    })
}

/// Whether `s` holds `&name;` for an HTML entity other than the five XML predefines.
fn has_html_entity(s: &str) -> bool {
    s.match_indices('&').any(|(at, _)| {
        let rest = &s[at + 1..];
        let len = rest
            .bytes()
            .take(MAX_ENTITY_NAME + 1)
            .take_while(u8::is_ascii_alphanumeric)
            .count();
        rest.as_bytes().get(len) == Some(&b';')
            && !matches!(&rest[..len], "amp" | "lt" | "gt" | "quot" | "apos")
            && html_entity(&rest[..=len]).is_some()
    })
}

/// Whether an RSS entry lacks what an element of an undeclared extension prefix would have
/// given it: content (`content:encoded`), a title or date (`dc:title`, `dc:date`), a title
/// (`media:title`). The document is searched only for the prefixes of what some entry
/// lacks, and for a declaration only when the prefix is used.
fn lost_extension(feed: &Feed, doc: &[u8]) -> bool {
    use feed_rs::model::{Entry, FeedType};
    if !matches!(
        feed.feed_type,
        FeedType::RSS0 | FeedType::RSS1 | FeedType::RSS2
    ) {
        return false;
    }
    fn untitled(e: &Entry) -> bool {
        e.title.as_ref().is_none_or(|t| t.content.trim().is_empty())
    }
    let lacking = |lacks: fn(&Entry) -> bool| feed.entries.iter().any(lacks);
    let undeclared = |prefix: &str| {
        memchr::memmem::find(doc, format!("<{prefix}:").as_bytes()).is_some()
            && memchr::memmem::find(doc, format!("xmlns:{prefix}").as_bytes()).is_none()
    };
    (lacking(|e| e.content.is_none()) && undeclared("content"))
        || (lacking(|e| untitled(e) || e.published.is_none()) && undeclared("dc"))
        || (lacking(untitled) && undeclared("media"))
}

/// Repairs `text` into well-formed XML. `None` when it has no feed root element at all
/// (`<rss>`, `<feed>`, `<rdf:RDF>`): an HTML page, or not markup.
pub fn repair(text: &str) -> Option<Repaired> {
    let r = repaired(text)?;
    let mut xml = r.out;
    if !r.undeclared.is_empty() {
        let mut declarations = String::new();
        for prefix in &r.undeclared {
            let uri = KNOWN_PREFIXES
                .iter()
                .find(|(p, _)| p == prefix)
                .map_or_else(
                    || format!("urn:feedmerge:undeclared:{prefix}"),
                    |(_, u)| (*u).to_owned(),
                );
            declarations.push_str(&format!(" xmlns:{prefix}=\"{uri}\""));
        }
        xml.insert_str(r.declarations_at, &declarations);
    }
    Some(Repaired {
        xml,
        repairs: r.repairs,
    })
}

/// The repairer once it has read `text` to its end; `None` when there is no feed root.
fn repaired(text: &str) -> Option<Repairer<'_>> {
    let mut r = Repairer {
        src: text,
        i: 0,
        out: String::with_capacity(text.len() + text.len() / 16 + 64),
        repairs: Repairs::default(),
        stack: Vec::new(),
        open_names: HashMap::new(),
        open_lower: HashMap::new(),
        searched: 0,
        declared: HashMap::new(),
        undeclared: Vec::new(),
        undeclared_set: HashSet::new(),
        declarations_at: 0,
        atom: false,
        found: Found::default(),
    };
    r.find_root()?;
    r.content();
    r.close_all();
    Some(r)
}

/// An element open in the output.
struct Open {
    /// Shared with [`Repairer::open_names`], and taken by each piece of text read inside it.
    name: Rc<str>,
    /// Markup inside it is text (see [`RSS_TEXT_ELEMENTS`]).
    text_only: bool,
    /// Prefixes it declares.
    declares: Vec<String>,
}

/// Where the next occurrence of a delimiter was found, so that a document with many
/// unterminated constructs is not searched to its end again for each.
#[derive(Default)]
struct Found {
    cdata_end: Option<(usize, Option<usize>)>,
    comment_end: Option<(usize, Option<usize>)>,
    pi_end: Option<(usize, Option<usize>)>,
    decl_close: Option<(usize, Option<usize>)>,
    subset_end: Option<(usize, Option<usize>)>,
}

/// The next `needle` at or after `from`, remembered in `cache` (searched from, found at).
fn find_cached(
    src: &str,
    cache: &mut Option<(usize, Option<usize>)>,
    needle: &str,
    from: usize,
) -> Option<usize> {
    if let Some((searched_from, found)) = *cache {
        if from >= searched_from && found.is_none_or(|f| f >= from) {
            return found;
        }
    }
    let found = memchr::memmem::find(&src.as_bytes()[from..], needle.as_bytes()).map(|p| p + from);
    *cache = Some((from, found));
    found
}

struct Repairer<'a> {
    src: &'a str,
    i: usize,
    out: String,
    repairs: Repairs,
    /// Open elements, at most [`MAX_DEPTH`].
    stack: Vec<Open>,
    /// How many elements of each name are open, and of each name in lower case: an end tag
    /// that names nothing open is known as such without searching the stack (2.5 million of
    /// them under 1000 open elements searched it for 10 s).
    open_names: HashMap<Rc<str>, usize>,
    open_lower: HashMap<String, usize>,
    /// Open elements looked at by searches of the stack: each is then closed, so this stays
    /// below the number of elements opened.
    searched: usize,
    /// Prefixes in scope, with the number of open elements that declare each.
    declared: HashMap<String, usize>,
    /// Prefixes used without a declaration, in order of first use, and as a set.
    undeclared: Vec<String>,
    undeclared_set: HashSet<String>,
    /// Where in `out` the root's declarations for those go (just after its name).
    declarations_at: usize,
    /// The root is Atom's `<feed>`.
    atom: bool,
    found: Found,
}

/// A start tag as read: its name, its attributes (already escaped) and whether it closes
/// itself.
struct Tag {
    name: String,
    attributes: Vec<(String, String)>,
    empty: bool,
}

impl Tag {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || !c.is_ascii()
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':') || !c.is_ascii()
}

/// A valid XML name with at most one colon, not at either end (a valid QName).
fn valid_qname(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_name_start)
        && chars.all(is_name_char)
        && name.matches(':').count() <= 1
        && !name.ends_with(':')
}

/// Characters XML 1.0 cannot carry at all.
fn is_illegal(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

/// The characters of the HTML entity `name` (with its `;`).
fn html_entity(name: &str) -> Option<String> {
    let &(first, second) = html5ever::data::NAMED_ENTITIES.get(name)?;
    let mut s = String::new();
    s.extend(char::from_u32(first));
    if second != 0 {
        s.extend(char::from_u32(second));
    }
    Some(s)
}

impl Repairer<'_> {
    fn rest(&self) -> &str {
        &self.src[self.i..]
    }

    fn at_end(&self) -> bool {
        self.i >= self.src.len()
    }

    /// Skips what comes before the root element (declaration, comments, doctype, junk) and
    /// opens the root. `None` when there is no feed root.
    fn find_root(&mut self) -> Option<()> {
        loop {
            let next = self.rest().find('<')?;
            if !self.rest()[..next].trim().is_empty() {
                self.repairs.insert(Repair::OutsideRoot);
            }
            self.i += next;
            if self.skip_declaration_or_comment() {
                continue;
            }
            let Some(tag) = self.read_start_tag() else {
                if self.at_end() {
                    // A tag cut off by the end of the document.
                    return None;
                }
                // Not a tag: a stray `<` in the junk.
                self.i += 1;
                continue;
            };
            if matches!(local(&tag.name), "rss" | "RDF" | "feed") {
                self.atom = local(&tag.name) == "feed";
                self.open(tag, true);
                return Some(());
            }
            self.repairs.insert(Repair::OutsideRoot);
        }
    }

    /// At a `<`: skips an XML declaration, processing instruction, comment or doctype, if
    /// that is what starts here.
    fn skip_declaration_or_comment(&mut self) -> bool {
        let rest = self.rest();
        if rest.starts_with("<?") {
            let end = find_cached(self.src, &mut self.found.pi_end, "?>", self.i);
            self.i = end.map_or(self.src.len(), |e| e + 2);
            true
        } else if rest.starts_with("<!--") {
            let end = find_cached(self.src, &mut self.found.comment_end, "-->", self.i + 4);
            self.i = end.map_or(self.src.len(), |e| e + 3);
            true
        } else if rest.starts_with("<!") && !rest.starts_with("<![CDATA[") {
            // A doctype, with or without an internal subset: its entities are not defined
            // in the output (a reference to one is escaped like any unknown entity).
            // The `[` is looked for before the `>` only, and the `]>` through the cache: each
            // of many `<!>` searching the rest of the document would be quadratic.
            let close = find_cached(self.src, &mut self.found.decl_close, ">", self.i);
            let bracket = close.and_then(|c| memchr::memchr(b'[', &self.src.as_bytes()[self.i..c]));
            let end = match (bracket, close) {
                (Some(b), _) => find_cached(self.src, &mut self.found.subset_end, "]>", self.i + b)
                    .map(|e| e + 2),
                (None, Some(c)) => Some(c + 1),
                (None, None) => None,
            };
            self.i = end.unwrap_or(self.src.len());
            true
        } else {
            false
        }
    }

    /// Reads the start tag at `self.i` (a `<` followed by a valid name). Leaves `self.i`
    /// after it; `None` (and `self.i` unchanged) when no valid start tag begins here. A tag
    /// cut off by the end of the document is dropped, and the position moves to the end.
    fn read_start_tag(&mut self) -> Option<Tag> {
        let rest = &self.src[self.i + 1..];
        let name_len = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        let name = &rest[..name_len];
        if !valid_qname(name) {
            return None;
        }
        let mut j = self.i + 1 + name_len;
        let bytes = self.src.as_bytes();
        let mut tag = Tag {
            name: name.to_owned(),
            attributes: Vec::new(),
            empty: false,
        };
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        loop {
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            match bytes.get(j) {
                None => {
                    self.repairs.insert(Repair::Truncated);
                    self.i = self.src.len();
                    return None;
                }
                Some(b'>') => {
                    j += 1;
                    break;
                }
                Some(b'/') if bytes.get(j + 1) == Some(&b'>') => {
                    tag.empty = true;
                    j += 2;
                    break;
                }
                Some(b'<') => {
                    // The tag never ended: take it as ended here.
                    self.repairs.insert(Repair::Attribute);
                    break;
                }
                _ => {}
            }
            let attr_rest = &self.src[j..];
            let attr_len = attr_rest
                .find(|c: char| c.is_whitespace() || matches!(c, '=' | '>' | '/' | '<'))
                .unwrap_or(attr_rest.len());
            if attr_len == 0 {
                // A lone `/`, `=` or quote: skip it.
                self.repairs.insert(Repair::Attribute);
                j += attr_rest.chars().next().map_or(1, char::len_utf8);
                continue;
            }
            let attr_name = &attr_rest[..attr_len];
            j += attr_len;
            let mut k = j;
            while k < bytes.len() && bytes[k].is_ascii_whitespace() {
                k += 1;
            }
            let value: String = if bytes.get(k) == Some(&b'=') {
                k += 1;
                while k < bytes.len() && bytes[k].is_ascii_whitespace() {
                    k += 1;
                }
                match bytes.get(k) {
                    Some(&q @ (b'"' | b'\'')) => {
                        let Some(len) = self.src[k + 1..].find(q as char) else {
                            self.repairs.insert(Repair::Truncated);
                            self.i = self.src.len();
                            return None;
                        };
                        let raw = &self.src[k + 1..k + 1 + len];
                        j = k + 1 + len + 1;
                        raw.to_owned()
                    }
                    _ => {
                        self.repairs.insert(Repair::Attribute);
                        let raw_rest = &self.src[k..];
                        let len = raw_rest
                            .find(|c: char| c.is_whitespace() || c == '>')
                            .unwrap_or(raw_rest.len());
                        j = k + len;
                        raw_rest[..len].to_owned()
                    }
                }
            } else {
                // HTML's `<option selected>`: the name is the value.
                self.repairs.insert(Repair::Attribute);
                attr_name.to_owned()
            };
            if !valid_qname(attr_name) || !seen.insert(attr_name.to_owned()) {
                self.repairs.insert(Repair::Attribute);
                continue;
            }
            if attr_name.starts_with("xmlns:") && value.trim().is_empty() {
                // Undeclaring a prefix is XML 1.1 only.
                self.repairs.insert(Repair::Attribute);
                continue;
            }
            // A value with `"` but no `'` is written between single quotes, its `"` as they
            // are ([`Repairer::open`]): escaped, each would take six bytes (16 MB of them made
            // a 96 MB document for feed-rs to read).
            let single = value.contains('"') && !value.contains('\'');
            let mut escaped = String::with_capacity(value.len());
            escape_into(&mut escaped, &value, !single, &mut self.repairs);
            tag.attributes.push((attr_name.to_owned(), escaped));
        }
        self.i = j;
        Some(tag)
    }

    /// Writes `tag` and opens it (unless it closes itself).
    fn open(&mut self, tag: Tag, root: bool) {
        let declares: Vec<String> = tag
            .attributes
            .iter()
            .filter_map(|(n, _)| n.strip_prefix("xmlns:").map(str::to_owned))
            .collect();
        for p in &declares {
            *self.declared.entry(p.clone()).or_default() += 1;
        }
        self.check_prefix(&tag.name);
        for (n, _) in &tag.attributes {
            if !n.starts_with("xmlns") {
                self.check_prefix(n);
            }
        }
        self.out.push('<');
        self.out.push_str(&tag.name);
        if root {
            self.declarations_at = self.out.len();
        }
        for (n, v) in &tag.attributes {
            // Escaped values hold no raw `"`; those that do hold no `'` (see read_start_tag).
            let quote = if v.contains('"') { '\'' } else { '"' };
            self.out.push(' ');
            self.out.push_str(n);
            self.out.push('=');
            self.out.push(quote);
            self.out.push_str(v);
            self.out.push(quote);
        }
        if tag.empty {
            self.out.push_str("/>");
            for p in &declares {
                self.undeclare(p);
            }
            return;
        }
        self.out.push('>');
        let text_only = self.is_text_only(&tag);
        let name: Rc<str> = tag.name.into();
        *self.open_names.entry(Rc::clone(&name)).or_default() += 1;
        *self
            .open_lower
            .entry(name.to_ascii_lowercase())
            .or_default() += 1;
        self.stack.push(Open {
            name,
            text_only,
            declares,
        });
    }

    fn is_text_only(&self, tag: &Tag) -> bool {
        let name = local(&tag.name);
        if !self.atom {
            // `<link href="…">` is an Atom link written into RSS, not a text link.
            return RSS_TEXT_ELEMENTS.contains(&name) && tag.attribute("href").is_none();
        }
        if ATOM_TEXT_ELEMENTS.contains(&name) {
            return true;
        }
        if !ATOM_TEXT_CONSTRUCTS.contains(&name) {
            return false;
        }
        let lower = |v: Option<&str>| v.map(|v| v.trim().to_ascii_lowercase());
        match (
            lower(tag.attribute("mode")).as_deref(),
            lower(tag.attribute("type")).as_deref(),
        ) {
            (Some("escaped" | "base64"), _) => true,
            (Some(_), _) => false,
            (None, t) => !t.is_some_and(|t| t.contains("xhtml") || t.ends_with("xml")),
        }
    }

    fn check_prefix(&mut self, name: &str) {
        if let Some((prefix, _)) = name.split_once(':') {
            if prefix != "xml"
                && prefix != "xmlns"
                && self.declared.get(prefix).is_none_or(|n| *n == 0)
                && !self.undeclared_set.contains(prefix)
                && (self.undeclared.len() < MAX_DECLARED_PREFIXES
                    || KNOWN_PREFIXES.iter().any(|(p, _)| *p == prefix))
            {
                self.repairs.insert(Repair::UndeclaredPrefix);
                self.undeclared.push(prefix.to_owned());
                self.undeclared_set.insert(prefix.to_owned());
            }
        }
    }

    fn undeclare(&mut self, prefix: &str) {
        if let Some(n) = self.declared.get_mut(prefix) {
            *n = n.saturating_sub(1);
        }
    }

    /// Closes the innermost open element.
    fn close_top(&mut self) {
        let Some(open) = self.stack.pop() else { return };
        fn forget<K: std::borrow::Borrow<str> + std::hash::Hash + Eq>(
            counts: &mut HashMap<K, usize>,
            name: &str,
        ) {
            if let Some(n) = counts.get_mut(name) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(name);
                }
            }
        }
        forget(&mut self.open_names, &open.name);
        forget(&mut self.open_lower, &open.name.to_ascii_lowercase());
        self.out.push_str("</");
        self.out.push_str(&open.name);
        self.out.push('>');
        for p in &open.declares {
            self.undeclare(p);
        }
    }

    fn close_all(&mut self) {
        if !self.stack.is_empty() {
            self.repairs.insert(Repair::Truncated);
        }
        while !self.stack.is_empty() {
            self.close_top();
        }
    }

    /// Handles the end tag `name`: closes the element it names and everything open inside
    /// it; an end tag that names nothing open is dropped.
    fn end_tag(&mut self, name: &str) {
        if self.stack.last().is_some_and(|o| &*o.name == name) {
            self.close_top();
            return;
        }
        self.repairs.insert(Repair::MismatchedTag);
        // The innermost element of that name; else of that name in another case (`</Item>`).
        // The stack is searched only when the counts say the search finds one, and what it
        // looks at is then closed.
        let at = if self.open_names.contains_key(name) {
            self.stack.iter().rposition(|o| &*o.name == name)
        } else if self.open_lower.contains_key(&name.to_ascii_lowercase()) {
            self.stack
                .iter()
                .rposition(|o| o.name.eq_ignore_ascii_case(name))
        } else {
            None
        };
        if let Some(at) = at {
            self.searched += self.stack.len() - at;
            while self.stack.len() > at {
                self.close_top();
            }
        }
    }

    /// Reads the root's content until the root is closed or the text ends.
    fn content(&mut self) {
        while !self.stack.is_empty() && !self.at_end() {
            if self.stack.last().is_some_and(|o| o.text_only) {
                self.text_only_content();
                continue;
            }
            let next = self.rest().find('<').unwrap_or(self.rest().len());
            let text = &self.src[self.i..self.i + next];
            escape_into(&mut self.out, text, false, &mut self.repairs);
            self.i += next;
            if self.at_end() {
                break;
            }
            self.markup();
        }
        // Whatever follows the root is not part of the feed.
        let mut tail = self.rest();
        while let Some(start) = tail.find('<') {
            if !tail[..start].trim().is_empty() {
                break;
            }
            let skip = &tail[start..];
            let end = if skip.starts_with("<!--") {
                skip.find("-->").map(|e| e + 3)
            } else if skip.starts_with("<?") {
                skip.find("?>").map(|e| e + 2)
            } else {
                None
            };
            match end {
                Some(e) => tail = &skip[e..],
                None => break,
            }
        }
        if !tail.trim().is_empty() {
            self.repairs.insert(Repair::OutsideRoot);
        }
        self.i = self.src.len();
    }

    /// At a `<` in element content.
    fn markup(&mut self) {
        if self.rest().starts_with("<![CDATA[") {
            self.cdata(None);
            return;
        }
        if self.skip_declaration_or_comment() {
            return;
        }
        if self.rest().starts_with("</") {
            let rest = &self.src[self.i + 2..];
            let Some(close) = rest.find('>') else {
                self.i = self.src.len();
                return;
            };
            let name = rest[..close].trim().to_owned();
            self.i += 2 + close + 1;
            self.end_tag(&name);
            return;
        }
        if self.stack.len() >= MAX_DEPTH {
            self.repairs.insert(Repair::MarkupInText);
            self.out.push_str("&lt;");
            self.i += 1;
            return;
        }
        match self.read_start_tag() {
            Some(tag) => self.open(tag, false),
            None if self.at_end() => {}
            None => {
                // A `<` that starts no tag: text.
                self.repairs.insert(Repair::MarkupInText);
                self.out.push_str("&lt;");
                self.i += 1;
            }
        }
    }

    /// Inside an element that holds text: everything up to its end tag is text, except a
    /// start or end tag of the feed's structure, which means the element was left open.
    fn text_only_content(&mut self) {
        let name = self
            .stack
            .last()
            .map_or_else(|| Rc::from(""), |o| Rc::clone(&o.name));
        let src = self.src;
        let next = self.rest().find('<').unwrap_or(self.rest().len());
        let text = &self.src[self.i..self.i + next];
        escape_into(&mut self.out, text, false, &mut self.repairs);
        self.i += next;
        if self.at_end() {
            return;
        }
        let rest = &src[self.i..];
        if rest.starts_with("<![CDATA[") {
            self.cdata(Some(&name));
            return;
        }
        if rest.starts_with("<!--") {
            self.skip_declaration_or_comment();
            return;
        }
        let (closing, after) = match rest.strip_prefix("</") {
            Some(after) => (true, after),
            None => (false, &rest[1..]),
        };
        let tag_len = after
            .find(|c: char| !is_name_char(c))
            .unwrap_or(after.len());
        let tag_name = &after[..tag_len];
        if closing && tag_name.eq_ignore_ascii_case(&name) {
            if tag_name != &*name {
                self.repairs.insert(Repair::MismatchedTag);
            }
            let end = after
                .find('>')
                .map_or(self.src.len(), |e| self.i + 2 + e + 1);
            self.i = end;
            self.close_top();
            return;
        }
        let structural = STRUCTURE.contains(&local(tag_name));
        let closes_ancestor = closing && self.open_names.contains_key(tag_name);
        if structural || closes_ancestor {
            // The text element was never closed: it ends here.
            self.repairs.insert(Repair::MismatchedTag);
            self.close_top();
            return;
        }
        self.repairs.insert(Repair::MarkupInText);
        self.out.push_str("&lt;");
        self.i += 1;
    }

    /// At `<![CDATA[`: copies the section as text. A section without its `]]>`, or whose
    /// `]]>` comes only after the end tag of the text element it is in (`within`), ends at
    /// that end tag (or at the end of the document), with any `]` left before it dropped.
    fn cdata(&mut self, within: Option<&str>) {
        let start = self.i + "<![CDATA[".len();
        let end = find_cached(self.src, &mut self.found.cdata_end, "]]>", start);
        let closing_tag = |upto: usize| -> Option<usize> {
            let name = within?;
            let hay = &self.src[start..upto];
            // Compared in place: a name as long as the document, copied for each of many
            // sections, would be quadratic.
            hay.match_indices("</").find_map(|(at, _)| {
                let after = &hay[at + 2..];
                let candidate = after.get(..name.len())?;
                let ends = after[name.len()..].starts_with(|c: char| c == '>' || c.is_whitespace());
                (candidate.eq_ignore_ascii_case(name) && ends).then_some(start + at)
            })
        };
        let (content_end, resume) = match end {
            Some(e) => match closing_tag(e) {
                Some(tag) => (tag, tag),
                None => (e, e + 3),
            },
            None => {
                let tag = closing_tag(self.src.len());
                (tag.unwrap_or(self.src.len()), tag.unwrap_or(self.src.len()))
            }
        };
        if resume != content_end + 3 || end.is_none() {
            self.repairs.insert(Repair::BrokenCdata);
        }
        let mut content = &self.src[start..content_end];
        if resume == content_end {
            content = content.trim_end_matches(']');
        }
        escape_raw(&mut self.out, content, &mut self.repairs);
        self.i = resume;
    }
}

/// Appends `text` (character data as written in the document) to `out` as well-formed
/// character data: references kept when valid, HTML entities replaced by their
/// characters, any other `&` escaped, forbidden characters dropped.
fn escape_into(out: &mut String, text: &str, attribute: bool, repairs: &mut Repairs) {
    let mut rest = text;
    while let Some(at) = rest.find(|c: char| matches!(c, '&' | '<' | '>' | '"') || is_illegal(c)) {
        out.push_str(&rest[..at]);
        let c = rest[at..].chars().next().unwrap_or('&');
        rest = &rest[at + c.len_utf8()..];
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '"' => out.push('"'),
            '&' => rest = reference(out, rest, repairs),
            c => illegal(out, c, repairs),
        }
    }
    out.push_str(rest);
}

/// Appends CDATA content (no references in it) as character data.
fn escape_raw(out: &mut String, text: &str, repairs: &mut Repairs) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if is_illegal(c) => illegal(out, c, repairs),
            c => out.push(c),
        }
    }
}

/// A character XML forbids: form feed and vertical tab read as the spaces they are meant
/// to be, the others are dropped.
fn illegal(out: &mut String, c: char, repairs: &mut Repairs) {
    repairs.insert(Repair::IllegalCharacter);
    if matches!(c, '\u{B}' | '\u{C}') {
        out.push(' ');
    }
}

/// After a `&` (`rest` follows it): appends the reference or its repair, returns what
/// follows it.
fn reference<'a>(out: &mut String, rest: &'a str, repairs: &mut Repairs) -> &'a str {
    if let Some(num) = rest.strip_prefix('#') {
        let (digits, radix) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16),
            None => (num, 10),
        };
        let len = digits
            .bytes()
            .take_while(|b| {
                if radix == 16 {
                    b.is_ascii_hexdigit()
                } else {
                    b.is_ascii_digit()
                }
            })
            .count();
        if len > 0 && digits.as_bytes().get(len) == Some(&b';') {
            let after = &digits[len + 1..];
            match u32::from_str_radix(&digits[..len], radix)
                .ok()
                .and_then(char::from_u32)
            {
                Some(c) if !is_illegal(c) => {
                    out.push_str("&#");
                    out.push_str(&rest[1..rest.len() - after.len()]);
                }
                Some(c) => illegal(out, c, repairs),
                None => repairs.insert(Repair::IllegalCharacter),
            }
            return after;
        }
    } else {
        let len = rest
            .bytes()
            .take(MAX_ENTITY_NAME + 1)
            .take_while(u8::is_ascii_alphanumeric)
            .count();
        if len > 0 && rest.as_bytes().get(len) == Some(&b';') {
            let name = &rest[..len];
            let after = &rest[len + 1..];
            if matches!(name, "amp" | "lt" | "gt" | "quot" | "apos") {
                out.push('&');
                out.push_str(name);
                out.push(';');
                return after;
            }
            if let Some(chars) = html_entity(&rest[..=len]) {
                repairs.insert(Repair::HtmlEntity);
                escape_raw(out, &chars, repairs);
                return after;
            }
        }
    }
    repairs.insert(Repair::BareAmpersand);
    out.push_str("&amp;");
    rest
}

/// The longest run of start tags around an entry that [`salvage`] repeats for each entry:
/// past it, reading entry by entry would cost more than the feed is worth.
pub const MAX_SALVAGE_WRAPPER: usize = 64 * 1024;

/// Reads a well-formed document that feed-rs refuses as a whole one entry at a time: the
/// feed's own elements from the document without its entries, then each entry alone inside
/// the start tags of the elements around it (so that its namespaces and base stay in
/// scope). Returns the feed with every entry that could be read, and how many could not;
/// `None` when not even the feed around the entries can be read. Linear in the document:
/// each entry is read once, with at most [`MAX_SALVAGE_WRAPPER`] bytes around it.
pub fn salvage(read: &dyn Fn(&[u8]) -> Option<Feed>, doc: &[u8]) -> Option<(Feed, usize)> {
    use quick_xml::events::Event;

    let text = std::str::from_utf8(doc).ok()?;
    let mut reader = quick_xml::Reader::from_str(text);
    // The start tags of the open elements, as byte ranges.
    let mut open: Vec<std::ops::Range<usize>> = Vec::new();
    let mut wrapper: Option<Vec<std::ops::Range<usize>>> = None;
    let mut entries: Vec<std::ops::Range<usize>> = Vec::new();
    let mut entry: Option<(usize, usize)> = None;
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().ok()?;
        let after = reader.buffer_position() as usize;
        let is_entry = |name: &str,
                        open: &Vec<std::ops::Range<usize>>,
                        wrapper: &mut Option<Vec<std::ops::Range<usize>>>| {
            if !matches!(local(name), "item" | "entry") {
                return false;
            }
            // Entries at one place only: the first one's.
            wrapper.get_or_insert_with(|| open.clone()) == open
        };
        match event {
            Event::Start(e) => {
                if entry.is_none() && is_entry(e.name().as_ref(), &open, &mut wrapper) {
                    entry = Some((before, open.len()));
                }
                open.push(before..after);
            }
            Event::Empty(e)
                if entry.is_none() && is_entry(e.name().as_ref(), &open, &mut wrapper) =>
            {
                entries.push(before..after);
            }
            Event::End(_) => {
                open.pop();
                if let Some((start, depth)) = entry {
                    if open.len() == depth {
                        entries.push(start..after);
                        entry = None;
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let wrapper = wrapper.unwrap_or_default();
    let head: String = wrapper.iter().map(|r| &text[r.clone()]).collect();
    if head.len() > MAX_SALVAGE_WRAPPER {
        return None;
    }
    let tail: String = wrapper
        .iter()
        .rev()
        .map(|r| {
            let tag = &text[r.start + 1..r.end - 1];
            let name = tag
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap_or_default();
            format!("</{name}>")
        })
        .collect();
    let mut shell = String::with_capacity(text.len());
    let mut last = 0;
    for r in &entries {
        shell.push_str(&text[last..r.start]);
        last = r.end;
    }
    shell.push_str(&text[last..]);
    let mut feed = read(shell.as_bytes())?;
    let mut dropped = 0;
    let mut one = String::new();
    for r in &entries {
        one.clear();
        one.push_str(&head);
        one.push_str(&text[r.clone()]);
        one.push_str(&tail);
        match read(one.as_bytes()) {
            Some(f) if !f.entries.is_empty() => feed.entries.extend(f.entries),
            _ => dropped += 1,
        }
    }
    Some((feed, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(text: &str) -> (String, Vec<Repair>) {
        let r = repair(text).expect("a feed root");
        (r.xml, r.repairs.iter().collect())
    }

    /// The output is well-formed: quick-xml reads it to the end, end names checked.
    fn well_formed(xml: &str) {
        let mut reader = quick_xml::NsReader::from_str(xml);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("{e}: {xml}"),
            }
        }
    }

    #[test]
    fn ampersands_entities_and_characters() {
        let (xml, repairs) = fixed(
            "<rss><channel><title>Q&A &amp; R&D&nbsp;caf&eacute; &#1; &#233; &bogus; \u{7}bell\u{C}ff</title></channel></rss>",
        );
        well_formed(&xml);
        assert_eq!(
            xml,
            "<rss><channel><title>Q&amp;A &amp; R&amp;D\u{a0}café  &#233; &amp;bogus; bell ff</title></channel></rss>"
        );
        assert_eq!(
            repairs,
            [
                Repair::BareAmpersand,
                Repair::HtmlEntity,
                Repair::IllegalCharacter
            ]
        );
    }

    #[test]
    fn junk_around_the_root_is_dropped() {
        let (xml, repairs) = fixed(
            "<br />\n<b>Warning</b>: headers sent<?xml version=\"1.0\"?>\n<!DOCTYPE rss [<!ENTITY x \"y\">]><rss version=\"2.0\"><channel/></rss>\ntrailing junk",
        );
        assert_eq!(xml, "<rss version=\"2.0\"><channel/></rss>");
        assert_eq!(repairs, [Repair::OutsideRoot]);
        assert!(repair("<html><body>not a feed</body></html>").is_none());
    }

    #[test]
    fn undeclared_prefixes_are_declared_on_the_root() {
        let (xml, repairs) = fixed(
            "<rss><channel><item><dc:creator>A</dc:creator><foo:bar x:y=\"1\"/><media:content xmlns:media=\"http://search.yahoo.com/mrss/\"><media:title>t</media:title></media:content></item></channel></rss>",
        );
        well_formed(&xml);
        assert!(xml.starts_with(
            "<rss xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:foo=\"urn:feedmerge:undeclared:foo\" xmlns:x=\"urn:feedmerge:undeclared:x\">"
        ), "{xml}");
        assert!(!xml.contains("xmlns:media=\"http://search.yahoo.com/mrss/\" xmlns"));
        assert_eq!(repairs, [Repair::UndeclaredPrefix]);
    }

    #[test]
    fn end_tags_close_what_is_open() {
        let (xml, repairs) = fixed(
            "<rss><channel><item><title>a</title><foo><bar></foo></Item><item><title>b</title></b></item></channel></rss>",
        );
        well_formed(&xml);
        assert_eq!(
            xml,
            "<rss><channel><item><title>a</title><foo><bar></bar></foo></item><item><title>b</title></item></channel></rss>"
        );
        assert_eq!(repairs, [Repair::MismatchedTag]);
    }

    #[test]
    fn raw_html_in_text_elements_is_text() {
        let (xml, repairs) = fixed(
            "<rss><channel><item><description>a<br>b<p>c</b> d</description><title>t</title></item></channel></rss>",
        );
        well_formed(&xml);
        assert!(
            xml.contains(
                "<description>a&lt;br&gt;b&lt;p&gt;c&lt;/b&gt; d</description><title>t</title>"
            ),
            "{xml}"
        );
        assert_eq!(repairs, [Repair::MarkupInText]);
        // A text element left open ends where the next item starts.
        let (xml, _) = fixed(
            "<rss><channel><item><title>a</item><item><title>b</title></item></channel></rss>",
        );
        assert_eq!(
            xml,
            "<rss><channel><item><title>a</title></item><item><title>b</title></item></channel></rss>"
        );
    }

    #[test]
    fn unterminated_cdata_ends_at_its_elements_end_tag() {
        let (xml, repairs) = fixed(
            "<rss><channel><item><description><![CDATA[<p>x</p>]]</description></item><item><description><![CDATA[<b>y</b>]]></description></item></channel></rss>",
        );
        well_formed(&xml);
        assert!(xml.contains("<description>&lt;p&gt;x&lt;/p&gt;</description></item><item><description>&lt;b&gt;y&lt;/b&gt;</description>"), "{xml}");
        assert_eq!(repairs, [Repair::BrokenCdata]);
    }

    #[test]
    fn a_truncated_document_is_closed() {
        let (xml, repairs) = fixed("<rss><channel><item><title>a</title><description>cut in th");
        well_formed(&xml);
        assert_eq!(
            xml,
            "<rss><channel><item><title>a</title><description>cut in th</description></item></channel></rss>"
        );
        assert_eq!(repairs, [Repair::Truncated]);
        let (xml, _) = fixed("<rss><channel><item><link href=\"x");
        well_formed(&xml);
        // Cut inside the root's own start tag: nothing to read.
        assert!(repair("<?xml version=\"1.0\"?>\n<feed xmlns=\"").is_none());
    }

    #[test]
    fn attributes_are_quoted_and_deduplicated() {
        let (xml, repairs) = fixed(
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><link href=x rel=alternate rel=\"self\" title=\"a<b & c\" hidden/></feed>",
        );
        well_formed(&xml);
        assert!(
            xml.contains(
                "<link href=\"x\" rel=\"alternate\" title=\"a&lt;b &amp; c\" hidden=\"hidden\"/>"
            ),
            "{xml}"
        );
        assert!(repairs.contains(&Repair::Attribute));
    }

    /// Hostile shapes stay linear: many unterminated CDATA sections and comments, and many
    /// end tags that match nothing under a deep stack, each cost one pass (counted by the
    /// output, which holds each input byte at most a few times).
    #[test]
    fn hostile_shapes_cost_one_pass() {
        let n = 20_000;
        let many_cdata = format!(
            "<rss><channel><item><description>{}</description></item></channel></rss>",
            "<![CDATA[x".repeat(n)
        );
        let (xml, _) = fixed(&many_cdata);
        well_formed(&xml);
        let deep = format!("<rss>{}{}</rss>", "<a>".repeat(n), "</nothing>".repeat(n));
        let (xml, _) = fixed(&deep);
        well_formed(&xml);
        assert!(xml.len() < deep.len());
        // Past MAX_DEPTH, start tags are text: the XML reader's own limit is never reached.
        let deeper = "<a>".repeat(70_000);
        let (xml, _) = fixed(&format!("<rss>{deeper}</rss>"));
        well_formed(&xml);
        assert_eq!(xml.matches("<a>").count(), MAX_DEPTH - 1);
    }

    /// Review of issue 19: every end tag that matched nothing searched the whole stack twice
    /// (2.5 million `</x:b>` under 1000 open elements took 9.7 s), and so did every end tag
    /// inside a text element. Counts of the open names answer first now: the stack is searched
    /// only for an element that is then closed, so the elements looked at never outnumber
    /// those opened.
    #[test]
    fn regression_19_end_tags_that_match_nothing_search_no_stack() {
        // See: issue #19, review finding 5
        let open = 1000;
        let n = 20_000;
        let unmatched = format!(
            "<rss><channel><item><title>a & b</title></item>{}{}<X></x></rss>",
            "<x>".repeat(open),
            "</x:b>".repeat(n)
        );
        let in_text = format!(
            "<rss><channel>{}<description>{}</description></channel></rss>",
            "<a>".repeat(open),
            "</x>".repeat(n)
        );
        for doc in [unmatched, in_text] {
            let r = repaired(&doc).unwrap();
            let opened = doc.matches('<').count() - doc.matches("</").count();
            assert!(
                r.searched <= opened,
                "{} looked at, {opened} opened",
                r.searched
            );
        }
        // The counts still find what is open, in another case too.
        let (xml, _) = fixed("<rss><channel><Item><a><b></item><x><y></X></channel></rss>");
        assert_eq!(
            xml,
            "<rss><channel><Item><a><b></b></a></Item><x><y></y></x></channel></rss>"
        );
    }

    /// Undeclared prefixes past [`MAX_DECLARED_PREFIXES`] stay undeclared (quick-xml refuses
    /// more than 128 bindings in scope), and are looked up in a set, not a list.
    #[test]
    fn undeclared_prefixes_are_declared_up_to_a_cap() {
        let doc = format!(
            "<rss version=\"2.0\"><channel><title>t</title>{}<dc:creator>c</dc:creator></channel></rss>",
            (0..1000).map(|n| format!("<p{n}:a/>")).collect::<String>()
        );
        let (xml, _) = fixed(&doc);
        assert_eq!(
            xml.matches(" xmlns:").count(),
            MAX_DECLARED_PREFIXES + 1,
            "and dc"
        );
        assert!(xml.contains("xmlns:dc=\"http://purl.org/dc/elements/1.1/\""));
        let feed = feed_rs::parser::parse(xml.as_bytes()).expect("feed-rs reads it");
        assert_eq!(feed.title.unwrap().content, "t");
    }

    /// An attribute of quotes was written with each `"` as `&quot;`: 16 MB of them made a
    /// 96 MB document (317 MiB at peak for the daemon). Between single quotes they stay as
    /// they are.
    #[test]
    fn quotes_in_attributes_are_not_multiplied() {
        let quotes = "\"".repeat(10_000);
        let doc = format!(
            "<rss><channel><title>a & b</title><item><description x='{quotes}' y=\"it's\" z='both \" and &apos;'>d</description></item></channel></rss>"
        );
        let (xml, _) = fixed(&doc);
        well_formed(&xml);
        assert!(
            xml.len() < doc.len() + 100,
            "{} bytes from {}",
            xml.len(),
            doc.len()
        );
        assert!(xml.contains(&format!("x='{quotes}' y=\"it's\" z='both \" and &apos;'")));
    }

    /// Salvage reads the feed without its entries once, then each entry once inside the
    /// start tags around it; past MAX_SALVAGE_WRAPPER of those it does not start.
    #[test]
    fn salvage_reads_each_entry_once_inside_a_bounded_wrapper() {
        let items: String = (0..100)
            .map(|n| format!("<item><title>{n}</title><link>https://example.org/{n}</link></item>"))
            .collect();
        let doc = format!("<rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>");
        let read_bytes = std::cell::Cell::new(0);
        let read = |b: &[u8]| {
            read_bytes.set(read_bytes.get() + b.len());
            feed_rs::parser::parse(b).ok()
        };
        let (feed, dropped) = salvage(&read, doc.as_bytes()).unwrap();
        assert_eq!((feed.entries.len(), dropped), (100, 0));
        let wrapping = "<rss version=\"2.0\"><channel></channel></rss>".len();
        assert!(
            read_bytes.get() <= 2 * doc.len() + 100 * wrapping,
            "{}",
            read_bytes.get()
        );

        let huge = format!(
            "<rss version=\"2.0\" x=\"{}\"><channel>{items}</channel></rss>",
            "a".repeat(MAX_SALVAGE_WRAPPER)
        );
        read_bytes.set(0);
        assert!(salvage(&read, huge.as_bytes()).is_none());
        assert_eq!(read_bytes.get(), 0);
    }

    #[test]
    fn suspicious_strict_readings() {
        let parse = |xml: &str| feed_rs::parser::parse(xml.as_bytes()).unwrap();
        let entity =
            "<rss version=\"2.0\"><channel><item><title>Caf&eacute;</title></item></channel></rss>";
        assert!(suspicious(&parse(entity), entity.as_bytes()));
        let prefix = "<rss version=\"2.0\"><channel><item><title>a</title><content:encoded>x</content:encoded></item></channel></rss>";
        assert!(suspicious(&parse(prefix), prefix.as_bytes()));
        let fine = "<rss version=\"2.0\" xmlns:content=\"http://purl.org/rss/1.0/modules/content/\"><channel><item><title>Caf&#233; &amp; more</title><content:encoded>x</content:encoded></item></channel></rss>";
        assert!(!suspicious(&parse(fine), fine.as_bytes()));
    }
}
