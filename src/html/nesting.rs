//! Bounding HTML nesting before a tree is built: HTML → the same HTML with the tags of
//! elements nested deeper than [`MAX_DEPTH`] removed and their text kept ("flattened, not
//! dropped"). html5ever's tree builder walks its stack of open elements for most tags, so
//! a document nested 100,000 deep costs it time quadratic in the depth; this pass is linear,
//! and the tree builders after it (the sanitiser, the article extractor) see at most
//! [`MAX_DEPTH`] open elements.
//!
//! The depth is counted on the tokens, as a tree builder would count it without its error
//! recovery: a start tag opens an element (void elements open none), an end tag closes the
//! nearest open element of its name and everything opened inside it, and the end tags HTML
//! lets authors leave out (`<li>`, `<p>`, `<td>`, …) are implied where the next tag makes them
//! certain; a formatting element (`<b>`, `<font>`, …) closed by another element's end tag
//! still counts, since the tree builder reopens it at the next tag or text. Where it differs
//! from a browser it counts deeper, never shallower, so real pages (a few dozen levels) are
//! left as they are.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

use super::markup;

/// The deepest nesting kept. Chrome's HTML parser stops nesting at 512; the content of feeds
/// and the article pages behind them rarely pass 40 levels. 128 leaves room for both while
/// bounding what every later tag costs a tree builder.
pub const MAX_DEPTH: usize = 128;

/// `html` with the elements nested deeper than [`MAX_DEPTH`] flattened: their start and end
/// tags removed, their text kept. Borrowed, unchanged, when nothing is that deep.
pub fn flatten(html: &str) -> Cow<'_, str> {
    flatten_at(html, MAX_DEPTH)
}

/// [`flatten`] with another depth.
pub fn flatten_at(html: &str, max_depth: usize) -> Cow<'_, str> {
    // Fewer tags than the limit cannot nest deeper than it: one fast count, no tokenizing.
    if memchr::memchr_iter(b'<', html.as_bytes())
        .nth(max_depth)
        .is_none()
    {
        return Cow::Borrowed(html);
    }
    // The common subset of HTML, read by the fast scanner: the document is copied without
    // the byte ranges of the tags dropped.
    let mut spans = Spans {
        nesting: Nesting::new(max_depth),
        dropped: Vec::new(),
    };
    if markup::scan(html, &mut spans).is_some() {
        if spans.dropped.is_empty() {
            return Cow::Borrowed(html);
        }
        let mut out = String::with_capacity(html.len());
        let mut at = 0;
        for span in spans.dropped {
            out.push_str(&html[at..span.start]);
            at = span.end;
        }
        out.push_str(&html[at..]);
        return Cow::Owned(out);
    }
    // Anything else: html5ever's tokenizer reads it as a browser would, and the tokens kept
    // are written out again.
    let sink = Rewrite(RefCell::new(Rewritten {
        nesting: Nesting::new(max_depth),
        out: String::with_capacity(html.len()),
        raw: None,
        dropped: false,
    }));
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    // The sink never asks the tokenizer to pause for a script, so one feed consumes everything.
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let rewritten = tokenizer.sink.0.into_inner();
    if rewritten.dropped {
        Cow::Owned(rewritten.out)
    } else {
        Cow::Borrowed(html)
    }
}

/// The open elements, as names, and how many of each name are open (so that an end tag with
/// no open element of its name costs one lookup, not a walk down the stack); and the
/// formatting elements closed by another element's end tag, which the tree builder reopens
/// at the next tag or text (HTML's "reconstruct the active formatting elements"), so they
/// still count as depth.
struct Nesting {
    max_depth: usize,
    stack: Vec<Open>,
    open: HashMap<Box<str>, usize>,
    /// Closed formatting elements, by name: their attributes' hashes, most recent last (some
    /// may be stale: see `pending_count`).
    pending: HashMap<Box<str>, Vec<u64>>,
    /// Closed formatting elements by (name, attributes): at most 3, as the tree builder keeps
    /// at most 3 identical ones (the "Noah's Ark" clause).
    pending_count: HashMap<(Box<str>, u64), usize>,
    /// All of `pending_count`'s counts, added up.
    pending_total: usize,
}

/// An open element.
struct Open {
    name: Box<str>,
    /// Its attributes' hash, for a formatting element that was kept.
    formatting: Option<u64>,
}

impl Nesting {
    fn new(max_depth: usize) -> Nesting {
        Nesting {
            max_depth,
            stack: Vec::new(),
            open: HashMap::new(),
            pending: HashMap::new(),
            pending_count: HashMap::new(),
            pending_total: 0,
        }
    }

    /// How deep the next element would be.
    fn depth(&self) -> usize {
        self.stack.len() + self.pending_total
    }

    /// Takes a start tag; whether it is kept.
    fn start<'a>(
        &mut self,
        name: &str,
        self_closing: bool,
        attrs: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> bool {
        if is_void(name) {
            // They hold nothing: no deeper than their parent, which is kept or not.
            return true;
        }
        if self_closing && (self.is_open("svg") || self.is_open("math")) {
            // `<path/>` closes itself in SVG and MathML (in HTML the slash means nothing).
            return self.depth() < self.max_depth;
        }
        if name == "a" {
            // A new link closes the one left open first: the tree builder keeps one at most.
            self.forget_pending("a");
        }
        self.close_implied(name);
        let kept = self.depth() < self.max_depth;
        let formatting = (kept && is_formatting(name)).then(|| attributes_hash(attrs));
        let name: Box<str> = name.into();
        *self.open.entry(name.clone()).or_default() += 1;
        self.stack.push(Open { name, formatting });
        kept
    }

    /// Takes an end tag; whether it is kept. It closes the nearest open element of its name
    /// and everything inside it; with none open it closes a formatting element of its name
    /// left open before, if any, and is kept either way (a parser ignores a stray end tag at
    /// the cost of one walk of at most [`MAX_DEPTH`] elements).
    fn end(&mut self, name: &str) -> bool {
        if !self.is_open(name) {
            self.forget_one_pending(name);
            return true;
        }
        while let Some(top) = self.pop() {
            if &*top.name == name {
                return self.depth() < self.max_depth;
            }
            // Closed by another element's end tag: reopened by the tree builder.
            if let Some(attrs) = top.formatting {
                self.add_pending(top.name, attrs);
            }
        }
        true
    }

    fn is_open(&self, name: &str) -> bool {
        self.open.get(name).is_some_and(|&n| n > 0)
    }

    fn top(&self) -> Option<&str> {
        self.stack.last().map(|o| &*o.name)
    }

    fn pop(&mut self) -> Option<Open> {
        let top = self.stack.pop()?;
        if let Some(n) = self.open.get_mut(&top.name) {
            *n -= 1;
        }
        Some(top)
    }

    fn add_pending(&mut self, name: Box<str>, attrs: u64) {
        let count = self.pending_count.entry((name.clone(), attrs)).or_default();
        if *count == 3 {
            // The oldest identical one leaves the list: the count stays at 3.
            return;
        }
        *count += 1;
        self.pending_total += 1;
        self.pending.entry(name).or_default().push(attrs);
    }

    /// The most recent closed formatting element named `name` is ended for good.
    fn forget_one_pending(&mut self, name: &str) {
        let Some(list) = self.pending.get_mut(name) else {
            return;
        };
        while let Some(attrs) = list.pop() {
            if let Some(count) = self.pending_count.get_mut(&(name.into(), attrs)) {
                if *count > 0 {
                    *count -= 1;
                    self.pending_total -= 1;
                    return;
                }
            }
        }
    }

    fn forget_pending(&mut self, name: &str) {
        while self.pending.get(name).is_some_and(|l| !l.is_empty()) {
            self.forget_one_pending(name);
        }
    }

    /// The end tags a start tag implies, where the open element on top makes them certain:
    /// a block closes an open `<p>`, `<li>` an `<li>`, a cell a cell, and so on.
    fn close_implied(&mut self, name: &str) {
        if self.top() == Some("p") && closes_p(name) {
            self.pop();
        }
        let closes: &[&str] = match name {
            "li" => &["li"],
            "dt" | "dd" => &["dt", "dd"],
            "option" | "optgroup" => &["option"],
            "td" | "th" => &["td", "th"],
            "tr" => &["td", "th", "tr"],
            "tbody" | "thead" | "tfoot" => &["td", "th", "tr", "tbody", "thead", "tfoot"],
            _ => &[],
        };
        while self.top().is_some_and(|t| closes.contains(&t)) {
            self.pop();
        }
    }
}

/// The formatting elements of HTML's tree builder: reopened after an end tag closed them.
fn is_formatting(name: &str) -> bool {
    matches!(
        name,
        "a" | "b"
            | "big"
            | "code"
            | "em"
            | "font"
            | "i"
            | "nobr"
            | "s"
            | "small"
            | "strike"
            | "strong"
            | "tt"
            | "u"
    )
}

/// A hash of a set of attributes (their order does not matter, as for the tree builder).
fn attributes_hash<'a>(attrs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    attrs.fold(0u64, |sum, (name, value)| {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(name.as_bytes());
        h.update(&[0xFF]);
        h.update(value.as_bytes());
        sum.wrapping_add(h.digest())
    })
}

/// Elements that have no content and no end tag.
fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "basefont"
            | "bgsound"
            | "br"
            | "col"
            | "embed"
            | "frame"
            | "hr"
            | "img"
            | "input"
            | "keygen"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// Start tags that close an open `<p>` (HTML's "close a p element" for blocks).
fn closes_p(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "center"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "dd"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hgroup"
            | "li"
            | "main"
            | "menu"
            | "nav"
            | "ol"
            | "p"
            | "pre"
            | "section"
            | "summary"
            | "table"
            | "ul"
    )
}

/// How the content of an element is tokenized when it is not markup, as the tree builder
/// sets it (and as `text::Walk` reads it).
pub(crate) fn raw_kind(name: &str) -> Option<RawKind> {
    match name {
        "script" => Some(RawKind::ScriptData),
        "style" | "noscript" | "iframe" | "noembed" | "noframes" | "xmp" => Some(RawKind::Rawtext),
        "title" | "textarea" => Some(RawKind::Rcdata),
        _ => None,
    }
}

/// The fast scanner's reader: which tags' byte ranges to leave out.
struct Spans {
    nesting: Nesting,
    dropped: Vec<Range<usize>>,
}

impl markup::Tokens for Spans {
    fn text(&mut self, _text: &str) {}

    fn tag<'a>(
        &mut self,
        kind: TagKind,
        name: &str,
        self_closing: bool,
        attrs: impl Iterator<Item = (&'a str, &'a str)> + Clone,
        span: Range<usize>,
    ) -> Option<RawKind> {
        let kept = match kind {
            TagKind::StartTag => self.nesting.start(name, self_closing, attrs),
            TagKind::EndTag => self.nesting.end(name),
        };
        if !kept {
            self.dropped.push(span);
        }
        if kind == TagKind::StartTag && !self_closing {
            return match raw_kind(name) {
                // Raw text whose element is dropped becomes text, which must then be escaped:
                // html5ever's turn. (The scanner also leaves scripts and RCDATA to html5ever.)
                Some(RawKind::Rawtext) if kept => Some(RawKind::Rawtext),
                Some(_) => Some(RawKind::ScriptData),
                None => None,
            };
        }
        None
    }
}

/// html5ever's tokens, written out again without the dropped tags.
struct Rewrite(RefCell<Rewritten>);

struct Rewritten {
    nesting: Nesting,
    out: String,
    /// Inside a kept raw-text element: its text is written as it came.
    raw: Option<RawKind>,
    dropped: bool,
}

impl TokenSink for Rewrite {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut w = self.0.borrow_mut();
        match token {
            Token::CharacterTokens(text) => match w.raw {
                Some(RawKind::Rawtext | RawKind::ScriptData) => w.out.push_str(&text),
                _ => super::escape_into(&mut w.out, &text),
            },
            Token::TagToken(tag) => {
                w.raw = None;
                let kept = match tag.kind {
                    TagKind::StartTag => {
                        let attrs = tag.attrs.iter().map(|a| (&*a.name.local, &*a.value));
                        w.nesting.start(&tag.name, tag.self_closing, attrs)
                    }
                    TagKind::EndTag => w.nesting.end(&tag.name),
                };
                if !kept {
                    w.dropped = true;
                } else {
                    let out = &mut w.out;
                    out.push('<');
                    if tag.kind == TagKind::EndTag {
                        out.push('/');
                    }
                    out.push_str(&tag.name);
                    if tag.kind == TagKind::StartTag {
                        for a in &tag.attrs {
                            out.push(' ');
                            out.push_str(&a.name.local);
                            out.push_str("=\"");
                            super::escape_into(out, &a.value);
                            out.push('"');
                        }
                        if tag.self_closing {
                            out.push('/');
                        }
                    }
                    out.push('>');
                }
                if tag.kind == TagKind::StartTag && !tag.self_closing {
                    if let Some(raw) = raw_kind(&tag.name) {
                        // The tokenizer reads the content as the tree builder would; a dropped
                        // element's content is then plain (escaped) text.
                        w.raw = kept.then_some(raw);
                        return TokenSinkResult::RawData(raw);
                    }
                }
            }
            Token::DoctypeToken(d) => {
                if let Some(name) = d.name {
                    w.out.push_str("<!DOCTYPE ");
                    w.out.push_str(&name);
                    w.out.push('>');
                }
            }
            // Comments carry nothing a reader sees; a NUL is dropped by every tree builder.
            Token::CommentToken(_)
            | Token::NullCharacterToken
            | Token::EOFToken
            | Token::ParseError(_) => {}
        }
        TokenSinkResult::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize, tag: &str) -> String {
        format!(
            "{}x{}",
            format!("<{tag}>").repeat(depth),
            format!("</{tag}>").repeat(depth)
        )
    }

    #[test]
    fn shallow_documents_are_borrowed() {
        let html = "<p>a <b>b</b> <a href=x>c</a></p>".repeat(100);
        assert!(matches!(flatten(&html), Cow::Borrowed(_)));
        let odd = "<script>if (a < b) {}</script><p>x".repeat(100);
        assert!(matches!(flatten(&odd), Cow::Borrowed(_)));
    }

    #[test]
    fn deep_documents_are_flattened_not_dropped() {
        for html in [
            nested(10_000, "div"),
            format!("<!DOCTYPE html>{}", nested(10_000, "div")),
            nested(10_000, "span"),
        ] {
            let flat = flatten(&html);
            assert!(flat.contains('x'), "the text is kept");
            let opened = flat.matches("<div>").count() + flat.matches("<span>").count();
            assert_eq!(opened, MAX_DEPTH);
            let closed = flat.matches("</div>").count() + flat.matches("</span>").count();
            assert_eq!(closed, MAX_DEPTH);
        }
    }

    #[test]
    fn text_and_attributes_survive_the_slow_path() {
        // A doctype sends it to html5ever's tokenizer, which writes the tokens out again.
        let html = format!(
            "<!DOCTYPE html><a href=\"?a=1&amp;b=&quot;2&quot;\">x &lt; y &amp; z</a><style>p > a {{}}</style>{}{}",
            "<div>".repeat(200),
            "</div>".repeat(200)
        );
        let flat = flatten_at(&html, 300);
        assert!(matches!(flat, Cow::Borrowed(_)), "nothing that deep");
        let flat = flatten_at(&html, 100);
        assert!(
            flat.contains("<a href=\"?a=1&amp;b=&quot;2&quot;\">x &lt; y &amp; z</a>"),
            "{flat}"
        );
        assert!(flat.contains("<style>p > a {}</style>"), "{flat}");
        assert_eq!(flat.matches("<div>").count(), 100);
    }

    #[test]
    fn omitted_end_tags_do_not_count_as_depth() {
        let list = format!("<ul>{}</ul>", "<li>item".repeat(1000));
        assert!(matches!(flatten(&list), Cow::Borrowed(_)));
        let paragraphs = "<p>one<p>two<div>three</div>".repeat(500);
        assert!(matches!(flatten(&paragraphs), Cow::Borrowed(_)));
        let table = format!("<table>{}</table>", "<tr><td>a<td>b".repeat(500));
        assert!(matches!(flatten(&table), Cow::Borrowed(_)));
    }

    #[test]
    fn mismatched_end_tags_close_what_they_name() {
        // Unclosed <b>s inside closed <div>s: each </div> closes its <b> too.
        let html = "<div><b>x</div>".repeat(1000);
        assert!(matches!(flatten(&html), Cow::Borrowed(_)));
        // Stray end tags close nothing.
        let stray = format!("{}{}", "</i>".repeat(10_000), nested(200, "div"));
        let flat = flatten(&stray);
        assert_eq!(flat.matches("<div>").count(), MAX_DEPTH);
    }

    #[test]
    fn formatting_elements_reopened_by_the_parser_count_as_depth() {
        // Closed by `</p>`, reopened by the tree builder at the next text, 120 at a time:
        // without counting them, each round would nest 120 deeper.
        let round: String = (0..120).map(|k| format!("<b id={k}>")).collect();
        let html = format!("<p>{round}</p>x").repeat(800);
        let flat = flatten(&html);
        let kept = flat.matches("<b ").count();
        assert!(
            kept < 2 * MAX_DEPTH,
            "{kept} of 96,000 formatting elements kept"
        );
        assert!(flat.matches('x').count() == 800, "the text stays");
        // Sloppy but common: the tree builder keeps at most 3 identical ones, and one link.
        let bold = "<p><b>x</p>".repeat(1000);
        assert!(matches!(flatten(&bold), Cow::Borrowed(_)));
        let links: String = (0..1000)
            .map(|k| format!("<p><a href=/{k}>x</p>"))
            .collect();
        assert!(matches!(flatten(&links), Cow::Borrowed(_)));
        // Closed by their own end tags, they are gone.
        let closed: String = (0..1000)
            .map(|k| format!("<p><i class=c{k}>x</p></i>"))
            .collect();
        assert!(matches!(flatten(&closed), Cow::Borrowed(_)));
    }

    #[test]
    fn flattened_raw_text_stays_text() {
        let html = format!("{}<xmp><b>bold?</b></xmp>", "<div>".repeat(MAX_DEPTH));
        let flat = flatten(&html);
        assert!(!flat.contains("<xmp>") && !flat.contains("<b>"), "{flat}");
        assert!(flat.contains("&lt;b&gt;bold?&lt;/b&gt;"), "{flat}");
    }
}
