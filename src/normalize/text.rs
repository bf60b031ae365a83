//! HTML → visible text: what a reader sees, for titles and for the reading-time estimate.
//! Uses html5ever's tokenizer (no tree is built): entities decoded, script/style dropped.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use html5ever::{LocalName, local_name};

/// The visible text of an HTML fragment and the images it shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visible {
    /// Text with tags removed and entities decoded; block boundaries become spaces.
    pub text: String,
    /// `<img>` elements.
    pub images: u32,
    /// The `src` of the first `<img>`, as written (maybe relative).
    pub first_image: Option<String>,
}

/// Extracts the visible text and image count of `html`.
pub fn visible(html: &str) -> Visible {
    if !html.contains(['<', '&']) {
        return Visible {
            text: html.to_owned(),
            ..Visible::default()
        };
    }
    // The text is never longer than the markup it comes from (but for a few entities that
    // decode longer than they are written): one allocation, no regrowth.
    let sink = Sink {
        state: RefCell::new(State {
            visible: Visible {
                text: String::with_capacity(html.len()),
                ..Visible::default()
            },
            hidden: None,
        }),
    };
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    // The sink never asks the tokenizer to pause for a script, so one feed consumes everything.
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink.state.into_inner().visible
}

/// Plain text of an HTML or text title: tags removed, entities decoded, whitespace collapsed.
pub fn plain_title(title: &str) -> String {
    collapse_whitespace(&visible(title).text)
}

/// The longest plain-text summary kept, in characters.
pub const MAX_SUMMARY_CHARS: usize = 400;

/// The first `words` words of `text`, whitespace collapsed, with "…" when cut; never longer
/// than [`MAX_SUMMARY_CHARS`] (cut at a character boundary).
pub fn summary(text: &str, words: usize) -> String {
    let mut out = String::new();
    let mut cut = false;
    for (i, word) in text.split_whitespace().enumerate() {
        if i == words || out.chars().count() + word.chars().count() > MAX_SUMMARY_CHARS {
            cut = true;
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
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

#[derive(Default)]
struct Sink {
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    visible: Visible,
    /// Inside an element whose text is not shown (`<script>`, `<style>`, `<template>`, an
    /// element with `hidden` or `display: none`): its name and how deep its own name nests.
    hidden: Option<(LocalName, u32)>,
}

/// Void elements have no end tag, so they never open a hidden region.
fn is_void(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("area")
            | local_name!("base")
            | local_name!("br")
            | local_name!("col")
            | local_name!("embed")
            | local_name!("hr")
            | local_name!("img")
            | local_name!("input")
            | local_name!("link")
            | local_name!("meta")
            | local_name!("source")
            | local_name!("track")
            | local_name!("wbr")
    )
}

/// An element a reader does not see: `hidden`, `aria-hidden="true"`, or an inline style of
/// `display: none` / `visibility: hidden`.
fn is_hidden(tag: &html5ever::tokenizer::Tag) -> bool {
    tag.attrs.iter().any(|a| match a.name.local {
        local_name!("hidden") => true,
        local_name!("aria-hidden") => a.value.trim().eq_ignore_ascii_case("true"),
        local_name!("style") => {
            let compact: String = a
                .value
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
fn is_inline(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("a")
            | local_name!("abbr")
            | local_name!("b")
            | local_name!("bdi")
            | local_name!("bdo")
            | local_name!("cite")
            | local_name!("code")
            | local_name!("data")
            | local_name!("del")
            | local_name!("dfn")
            | local_name!("em")
            | local_name!("font")
            | local_name!("i")
            | local_name!("ins")
            | local_name!("kbd")
            | local_name!("mark")
            | local_name!("q")
            | local_name!("s")
            | local_name!("samp")
            | local_name!("small")
            | local_name!("span")
            | local_name!("strong")
            | local_name!("sub")
            | local_name!("sup")
            | local_name!("time")
            | local_name!("u")
            | local_name!("var")
    )
}

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut st = self.state.borrow_mut();
        match token {
            Token::CharacterTokens(text) if st.hidden.is_none() => st.visible.text.push_str(&text),
            Token::TagToken(tag) => {
                if let Some((name, depth)) = &mut st.hidden {
                    if tag.name == *name {
                        match tag.kind {
                            TagKind::StartTag if !tag.self_closing => *depth += 1,
                            TagKind::EndTag if *depth == 0 => st.hidden = None,
                            TagKind::EndTag => *depth -= 1,
                            TagKind::StartTag => {}
                        }
                    }
                    return TokenSinkResult::Continue;
                }
                if !is_inline(&tag.name) && !st.visible.text.ends_with(' ') {
                    st.visible.text.push(' ');
                }
                if tag.kind == TagKind::StartTag && !tag.self_closing {
                    let raw = match tag.name {
                        local_name!("script") => Some(RawKind::ScriptData),
                        local_name!("style")
                        | local_name!("noscript")
                        | local_name!("iframe")
                        | local_name!("noembed")
                        | local_name!("noframes")
                        | local_name!("xmp") => Some(RawKind::Rawtext),
                        local_name!("template") | local_name!("svg") | local_name!("math") => {
                            st.hidden = Some((tag.name.clone(), 0));
                            None
                        }
                        _ if is_hidden(&tag) && !is_void(&tag.name) => {
                            st.hidden = Some((tag.name.clone(), 0));
                            return TokenSinkResult::Continue;
                        }
                        _ => None,
                    };
                    if let Some(kind) = raw {
                        st.hidden = Some((tag.name.clone(), 0));
                        return TokenSinkResult::RawData(kind);
                    }
                }
                if tag.kind == TagKind::StartTag && tag.name == local_name!("img") {
                    st.visible.images += 1;
                    if st.visible.first_image.is_none() {
                        st.visible.first_image = tag
                            .attrs
                            .iter()
                            .find(|a| a.name.local == local_name!("src"))
                            .map(|a| a.value.trim().to_owned())
                            .filter(|v| !v.is_empty());
                    }
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
        assert_eq!(v.first_image.as_deref(), Some("a"));
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
