//! HTML → visible text: what a reader sees, for titles and for the reading-time estimate.
//! Entities decoded, script/style dropped, no tree built. The HTML feeds carry is read by a
//! scanner for its common subset (`markup`); anything else by html5ever's tokenizer. Both
//! feed the same `Walk`.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

use crate::html::markup;

/// The visible text of an HTML fragment and the images it shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visible {
    /// Text with tags removed and entities decoded; block boundaries become spaces.
    pub text: String,
    /// `<img>` elements.
    pub images: u32,
    /// The first `<img>` with a `src`, as written.
    pub first_image: Option<FirstImage>,
}

/// The first image of an HTML fragment, its attributes as written (URLs maybe relative).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirstImage {
    /// `src`.
    pub src: String,
    /// `width`, when it is a number of pixels.
    pub width: Option<u32>,
    /// `height`, when it is a number of pixels.
    pub height: Option<u32>,
    /// `srcset`, when at most [`MAX_SRCSET_BYTES`].
    pub srcset: Option<String>,
    /// `title`.
    pub title: Option<String>,
    /// `alt`.
    pub alt: Option<String>,
    /// Where the `<figcaption>` of the `<figure>` it is in lies in [`Visible::text`].
    pub caption: Option<std::ops::Range<usize>>,
}

/// The longest `srcset` attribute read, in bytes: a few dozen sizes.
pub const MAX_SRCSET_BYTES: usize = 16 * 1024;

/// Extracts the visible text and image count of `html`.
pub fn visible(html: &str) -> Visible {
    if !html.contains(['<', '&']) {
        return Visible {
            text: html.to_owned(),
            ..Visible::default()
        };
    }
    let mut walk = Walk::new(html);
    if markup::scan(html, &mut walk).is_some() {
        return walk.into_visible();
    }
    visible_with_html5ever(html)
}

/// [`visible`] through html5ever's tokenizer, which reads any HTML as a browser would.
pub(super) fn visible_with_html5ever(html: &str) -> Visible {
    let sink = Sink(RefCell::new(Walk::new(html)));
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    // The sink never asks the tokenizer to pause for a script, so one feed consumes everything.
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink.0.into_inner().visible
}

/// Plain text of an HTML or text title: tags removed, entities decoded, whitespace collapsed.
pub fn plain_title(title: &str) -> String {
    // Without markup or references the visible text is the title itself: no copy of it.
    if !title.contains(['<', '&']) {
        return collapse_whitespace(title);
    }
    collapse_whitespace(&visible(title).text)
}

/// The longest plain-text summary kept, in characters.
pub const MAX_SUMMARY_CHARS: usize = 400;

/// The first `words` words of `text`, whitespace collapsed, with "…" when cut; never longer
/// than [`MAX_SUMMARY_CHARS`] (cut at a character boundary).
pub fn summary(text: &str, words: usize) -> String {
    let mut out = String::new();
    let mut chars = 0;
    let mut cut = false;
    for (i, word) in text.split_whitespace().enumerate() {
        let word_chars = word.chars().count();
        if i == words || chars + word_chars > MAX_SUMMARY_CHARS {
            cut = true;
            break;
        }
        if !out.is_empty() {
            out.push(' ');
            chars += 1;
        }
        out.push_str(word);
        chars += word_chars;
    }
    if out.is_empty() && cut {
        out = text.trim().chars().take(MAX_SUMMARY_CHARS).collect();
    }
    if cut {
        out.push('…');
    }
    out
}

/// Collapses every run of whitespace to one space, trims the ends, and drops control
/// characters (which XML cannot carry).
pub fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
        } else if !c.is_control() {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

/// What the visible text keeps of a stream of tokens, whichever tokenizer reads the HTML.
#[derive(Debug)]
pub(super) struct Walk {
    visible: Visible,
    /// Inside an element whose text is not shown (`<script>`, `<style>`, `<template>`, an
    /// element with `hidden` or `display: none`): its name and how deep its own name nests.
    hidden: Option<(String, u32)>,
    /// `<figure>` elements open.
    figures: u32,
    /// Where the `<figcaption>` being read started in the text.
    caption_start: Option<usize>,
    /// The first `<figcaption>` of the outermost `<figure>` open.
    figure_caption: Option<std::ops::Range<usize>>,
    /// That `<figure>` holds the first image.
    figure_has_first_image: bool,
}

impl Walk {
    pub(super) fn new(html: &str) -> Walk {
        // The text is never longer than the markup it comes from (but for a few entities
        // that decode longer than they are written): one allocation, no regrowth.
        Walk {
            visible: Visible {
                text: String::with_capacity(html.len()),
                ..Visible::default()
            },
            hidden: None,
            figures: 0,
            caption_start: None,
            figure_caption: None,
            figure_has_first_image: false,
        }
    }

    pub(super) fn into_visible(self) -> Visible {
        self.visible
    }

    /// Character data.
    fn push_text(&mut self, text: &str) {
        if self.hidden.is_none() {
            self.visible.text.push_str(text);
        }
    }

    /// A start or end tag: `name` in lower case, `attrs` as (lower-case name, decoded value)
    /// with no name twice. Returns how the tokenizer must read the element's content when it
    /// is not markup (`<script>`, `<style>`, …); its text is hidden.
    fn push_tag<'a>(
        &mut self,
        kind: TagKind,
        name: &str,
        self_closing: bool,
        attrs: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    ) -> Option<RawKind> {
        if let Some((hidden, depth)) = &mut self.hidden {
            if name == hidden {
                match kind {
                    TagKind::StartTag if !self_closing => *depth += 1,
                    TagKind::EndTag if *depth == 0 => self.hidden = None,
                    TagKind::EndTag => *depth -= 1,
                    TagKind::StartTag => {}
                }
            }
            return None;
        }
        let text = &mut self.visible.text;
        if !is_inline(name) && !text.ends_with(' ') {
            text.push(' ');
        }
        if !self_closing {
            self.figure(kind, name);
        }
        if kind == TagKind::StartTag && !self_closing {
            let raw = match name {
                "script" => Some(RawKind::ScriptData),
                "style" | "noscript" | "iframe" | "noembed" | "noframes" | "xmp" => {
                    Some(RawKind::Rawtext)
                }
                "template" | "svg" | "math" => None,
                _ if is_hidden(attrs.clone()) && !is_void(name) => None,
                _ => return self.image(kind, name, attrs),
            };
            self.hidden = Some((name.to_owned(), 0));
            return raw;
        }
        self.image(kind, name, attrs)
    }

    /// Follows `<figure>` and `<figcaption>`: the caption of the figure that holds the first
    /// image is that image's.
    fn figure(&mut self, kind: TagKind, name: &str) {
        let at = self.visible.text.len();
        match (kind, name) {
            (TagKind::StartTag, "figure") => {
                if self.figures == 0 {
                    self.figure_caption = None;
                    self.figure_has_first_image = false;
                }
                self.figures += 1;
            }
            (TagKind::EndTag, "figure") if self.figures > 0 => {
                self.figures -= 1;
                if self.figures == 0 && self.figure_has_first_image {
                    if let Some(first) = &mut self.visible.first_image {
                        first.caption = self.figure_caption.take();
                    }
                    self.figure_has_first_image = false;
                }
            }
            (TagKind::StartTag, "figcaption") if self.figures > 0 => {
                self.caption_start = Some(at);
            }
            (TagKind::EndTag, "figcaption") => {
                if let Some(start) = self.caption_start.take() {
                    self.figure_caption.get_or_insert(start..at);
                }
            }
            _ => {}
        }
    }

    fn image<'a>(
        &mut self,
        kind: TagKind,
        name: &str,
        attrs: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Option<RawKind> {
        if kind == TagKind::StartTag && name == "img" {
            self.visible.images += 1;
            if self.visible.first_image.is_none() {
                let mut first = FirstImage::default();
                let pixels = |v: &str| v.trim().trim_end_matches("px").parse::<u32>().ok();
                let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
                for (name, value) in attrs {
                    match name {
                        "src" => first.src = value.trim().to_owned(),
                        "width" => first.width = pixels(value),
                        "height" => first.height = pixels(value),
                        "srcset" if value.len() <= MAX_SRCSET_BYTES => first.srcset = text(value),
                        "title" => first.title = text(value),
                        "alt" => first.alt = text(value),
                        _ => {}
                    }
                }
                if !first.src.is_empty() {
                    self.visible.first_image = Some(first);
                    self.figure_has_first_image = self.figures > 0;
                }
            }
        }
        None
    }
}

impl markup::Tokens for Walk {
    fn text(&mut self, text: &str) {
        self.push_text(text);
    }

    fn tag<'a>(
        &mut self,
        kind: TagKind,
        name: &str,
        self_closing: bool,
        attrs: impl Iterator<Item = (&'a str, &'a str)> + Clone,
        _span: std::ops::Range<usize>,
    ) -> Option<RawKind> {
        self.push_tag(kind, name, self_closing, attrs)
    }
}

/// Void elements have no end tag, so they never open a hidden region.
fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "source"
            | "track"
            | "wbr"
    )
}

/// An element a reader does not see: `hidden`, `aria-hidden="true"`, or an inline style of
/// `display: none` / `visibility: hidden`.
fn is_hidden<'a>(mut attrs: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
    attrs.any(|(name, value)| match name {
        "hidden" => true,
        "aria-hidden" => value.trim().eq_ignore_ascii_case("true"),
        "style" => {
            let compact: String = value
                .chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| c.to_ascii_lowercase())
                .collect();
            compact.contains("display:none") || compact.contains("visibility:hidden")
        }
        _ => false,
    })
}

/// Elements that do not break a word: `re<b>ad</b>` is one word.
fn is_inline(name: &str) -> bool {
    matches!(
        name,
        "a" | "abbr"
            | "b"
            | "bdi"
            | "bdo"
            | "cite"
            | "code"
            | "data"
            | "del"
            | "dfn"
            | "em"
            | "font"
            | "i"
            | "ins"
            | "kbd"
            | "mark"
            | "q"
            | "s"
            | "samp"
            | "small"
            | "span"
            | "strong"
            | "sub"
            | "sup"
            | "time"
            | "u"
            | "var"
    )
}

/// html5ever's tokens into a [`Walk`].
struct Sink(RefCell<Walk>);

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut walk = self.0.borrow_mut();
        match token {
            Token::CharacterTokens(text) => walk.push_text(&text),
            Token::TagToken(tag) => {
                let attrs = tag.attrs.iter().map(|a| (&*a.name.local, &*a.value));
                if let Some(raw) = walk.push_tag(tag.kind, &tag.name, tag.self_closing, attrs) {
                    return TokenSinkResult::RawData(raw);
                }
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_markup_scripts_and_styles() {
        let v = visible(
            "<p>Hello <b>wor</b>ld</p><script>var x = '<p>no</p>';</script><style>p{}</style><p>Bye&nbsp;&amp;&#33;</p>",
        );
        assert_eq!(collapse_whitespace(&v.text), "Hello world Bye &!");
        assert_eq!(v.images, 0);
    }

    #[test]
    fn hidden_elements_do_not_count() {
        let v = visible(
            r#"<p>one</p><div hidden><div>two</div><p>three</p></div><p>four</p>
            <div style="display: none"><div><div>five</div></div>six</div><span aria-hidden="true">seven</span>
            <pre>eight nine</pre><figure><img src=a><figcaption>ten</figcaption></figure>"#,
        );
        assert_eq!(collapse_whitespace(&v.text), "one four eight nine ten");
        assert_eq!(v.images, 1);
    }

    #[test]
    fn counts_images_and_keeps_the_first() {
        let v = visible("<img alt=x><img src=a><p><IMG SRC=b /></p><picture><img src=c></picture>");
        assert_eq!(v.images, 4);
        assert_eq!(v.first_image.map(|i| i.src).as_deref(), Some("a"));
    }

    #[test]
    fn summary_is_the_first_words() {
        assert_eq!(summary("one two three", 2), "one two…");
        assert_eq!(summary(" one  two ", 5), "one two");
        let long = "x".repeat(2000);
        assert!(summary(&long, 50).chars().count() <= MAX_SUMMARY_CHARS + 1);
    }

    #[test]
    fn whitespace_collapses_and_control_characters_go() {
        assert_eq!(collapse_whitespace("  a \t\n b\u{1}c \u{7f} "), "a bc");
        assert_eq!(collapse_whitespace("\u{1}\u{2}"), "");
    }

    #[test]
    fn titles_become_plain_text() {
        assert_eq!(
            plain_title("  Tom &amp; Jerry\n\t<em>again</em> "),
            "Tom & Jerry again"
        );
        assert_eq!(
            plain_title("<script>alert('t')</script>Headline"),
            "Headline"
        );
        assert_eq!(plain_title("a < b"), "a < b");
        assert_eq!(plain_title("Plain"), "Plain");
    }
}

/// The scanner (`html::markup`) against html5ever's tokenizer, both read through [`Walk`].
#[cfg(test)]
mod scanner_tests {
    use proptest::prelude::*;
    use proptest::sample::select;

    use super::{Visible, Walk, visible_with_html5ever};
    use crate::html::markup::scan;

    fn scanned(html: &str) -> Option<Visible> {
        let mut walk = Walk::new(html);
        scan(html, &mut walk).map(|()| walk.into_visible())
    }

    /// The scanner reads the markup common in feeds, and reads it as html5ever does.
    #[test]
    fn reads_common_feed_markup() {
        let html = "<p class=\"lead\">Caf&eacute; &amp; bar&#8217;s <a href='/x?a=1&b=2'>link</a></p>\r\n\
            <!-- wp:image --><figure><img src=\"a.png?w=1&amp;h=2\" alt=\"\" /></figure>\
            <iframe src=x><p>not shown</P></IFRAME><h2 id=s>Sub&shy;head</h2><br><p>x < y &#x41;</p>";
        let fast = scanned(html).expect("read by the scanner");
        assert_eq!(fast, visible_with_html5ever(html));
        assert_eq!(
            fast.first_image.as_ref().map(|i| i.src.as_str()),
            Some("a.png?w=1&h=2")
        );
        assert!(fast.text.contains("Café & bar’s link"), "{:?}", fast.text);
        assert!(!fast.text.contains("not shown"));
    }

    #[test]
    fn leaves_the_rest_to_html5ever() {
        for html in [
            "<script>if (a < b) {}</script>",
            "<!DOCTYPE html><p>x",
            "<p>x &amp y",
            "<p class=a class=b>",
            "<p>\0</p>",
            "<p unterminated",
            "<!-- no end",
            "&#;",
        ] {
            assert_eq!(scanned(html), None, "{html:?}");
        }
    }

    /// Pieces of HTML, valid and not: tags and attributes of every quoting, references
    /// with and without `;`, comments, raw-text elements, line breaks, stray markup
    /// characters.
    const PIECES: &[&str] = &[
        "<p>",
        "</p>",
        "<b>",
        "</b>",
        "<P CLASS=x>",
        "<br/>",
        "<br />",
        "<img src=a>",
        "<img SRC=\"b&amp;c\" alt='d'>",
        "<img src=e src=f>",
        "<div hidden>",
        "</div>",
        "<div style=\"DISPLAY: none\">",
        "<span aria-hidden=\"true\">",
        "</span>",
        "<iframe>",
        "</iframe>",
        "</IFRAME >",
        "<style>",
        "</style>",
        "<script>",
        "</script>",
        "<svg>",
        "</svg>",
        "<template>",
        "</template>",
        "<a href='x?a=1&b=2'>",
        "</a>",
        "<!-- c -->",
        "<!-->",
        "<!--->",
        "<!-- a --!>",
        "<!DOCTYPE html>",
        "<?x?>",
        "<![CDATA[",
        "&amp;",
        "&amp",
        "&AMP;",
        "&notit;",
        "&notin;",
        "&b=",
        "&#39;",
        "&#x27;",
        "&#X1F600;",
        "&#150;",
        "&#0;",
        "&#99999999;",
        "&#",
        "&",
        "&;",
        "<",
        ">",
        "</",
        "</>",
        "/",
        "=",
        "\"",
        "'",
        "`",
        "!",
        "-",
        "?",
        "#",
        ";",
        "a",
        "word",
        " ",
        "\t",
        "\n",
        "\r\n",
        "\r",
        "é",
        "東",
        "\u{feff}",
        "\0",
        "<p title=\"a\rb\">",
        "<a b c=d e = 'f' g>",
        "<x/y>",
        "<p id=a\"b>",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn reads_as_html5ever_does(pieces in prop::collection::vec(select(PIECES), 0..12)) {
            let html = pieces.concat();
            if let Some(fast) = scanned(&html) {
                prop_assert_eq!(fast, visible_with_html5ever(&html), "{:?}", html);
            }
        }
    }
}
