//! The `<link>` elements of a web page, read by html5ever's tokenizer as a browser reads
//! them (entities, unquoted attributes, upper case; nothing inside `<script>` or `<style>`),
//! from the start of the page only (`<link>` belongs in `<head>`), with the page's base URL:
//! linear, and bounded whatever the page. [`super::links`] takes the feeds among them,
//! [`super::icons`] the icons.

use std::cell::RefCell;

use html5ever::Attribute;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use url::Url;

/// The attributes of one `<link>` element.
pub(crate) struct Attrs<'a>(&'a [Attribute]);

impl<'a> Attrs<'a> {
    /// The value of the attribute `name` (lower case), if the element has it.
    pub(crate) fn get(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|a| &*a.name.local == name)
            .map(|a| &*a.value)
    }

    /// Whether the `rel` attribute holds the token `name` (compared without case).
    pub(crate) fn rel_has(&self, name: &str) -> bool {
        self.get("rel")
            .unwrap_or("")
            .split_ascii_whitespace()
            .any(|t| t.eq_ignore_ascii_case(name))
    }
}

/// What `pick` takes of the `<link>` elements in the first `max_bytes` of `html` (the page
/// at `page`), in page order, at most `max_kept` of them; and the page's base URL: its first
/// `<base href>`, wherever it stands (HTML's "frozen base URL"), relative to `page`.
pub(crate) fn read<T>(
    html: &str,
    page: &Url,
    max_bytes: usize,
    max_kept: usize,
    pick: impl Fn(&Attrs<'_>) -> Option<T>,
) -> (Vec<T>, Url) {
    let mut end = html.len().min(max_bytes);
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    let sink = Sink {
        found: RefCell::new((Vec::new(), None)),
        max_kept,
        pick,
    };
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(&html[..end]));
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    // The sink never asks the tokenizer to pause for a script, so one feed consumes everything.
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let (kept, base) = tokenizer.sink.found.into_inner();
    let base = base
        .and_then(|b| page.join(b.trim()).ok())
        .unwrap_or_else(|| page.clone());
    (kept, base)
}

/// `href` resolved against `base`, if that makes an http or https URL.
pub(crate) fn resolve(base: &Url, href: &str) -> Option<Url> {
    base.join(href.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
}

struct Sink<T, F> {
    /// What was picked so far, and the first `<base href>`.
    found: RefCell<(Vec<T>, Option<String>)>,
    max_kept: usize,
    pick: F,
}

impl<T, F: Fn(&Attrs<'_>) -> Option<T>> TokenSink for Sink<T, F> {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let Token::TagToken(tag) = token else {
            return TokenSinkResult::Continue;
        };
        if tag.kind != TagKind::StartTag {
            return TokenSinkResult::Continue;
        }
        let attrs = Attrs(&tag.attrs);
        let mut found = self.found.borrow_mut();
        match &*tag.name {
            "base" if found.1.is_none() => {
                found.1 = attrs.get("href").map(str::to_owned);
            }
            // Bounded before resolving: a page may repeat one link many times.
            "link" if found.0.len() < self.max_kept => {
                if let Some(picked) = (self.pick)(&attrs) {
                    found.0.push(picked);
                }
            }
            name if !tag.self_closing => {
                // `<script>`, `<style>`, `<title>`…: their content is not markup, and a
                // `<link>` written in a script's text is no link.
                if let Some(raw) = super::nesting::raw_kind(name) {
                    return TokenSinkResult::RawData(raw);
                }
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}
