//! A scanner for the HTML that feeds carry: text, tags with well-formed attributes, comments,
//! numeric and `&name;` character references. On what it reads it gives the tokens of
//! html5ever's tokenizer (a property test compares the two) at a fraction of the cost, as it
//! never looks at text one character at a time. Anything else (a `<script>`, a doctype, a
//! reference without its `;`, markup a browser would have to recover from) makes [`scan`]
//! give up, and the caller reads the document with html5ever instead.

use std::borrow::Cow;
use std::ops::Range;

use html5ever::data::{C1_REPLACEMENTS, NAMED_ENTITIES};
use html5ever::tokenizer::TagKind;
use html5ever::tokenizer::states::RawKind;
use memchr::{memchr, memchr2, memmem};

/// What reads the scanner's tokens: the visible text (`normalize::text`), the nesting
/// bound ([`super::nesting`]).
pub(crate) trait Tokens {
    /// Character data, references decoded.
    fn text(&mut self, text: &str);

    /// A start or end tag: `name` in lower case, `attrs` as (lower-case name, decoded value)
    /// with no name twice, `span` its bytes in the document. Returns how the tokenizer must
    /// read the element's content when it is not markup (`<script>`, `<style>`, …).
    fn tag<'a>(
        &mut self,
        kind: TagKind,
        name: &str,
        self_closing: bool,
        attrs: impl Iterator<Item = (&'a str, &'a str)> + Clone,
        span: Range<usize>,
    ) -> Option<RawKind>;
}

/// Feeds the tokens of `html` to `walk`. `None`: `html` is outside what this scanner reads,
/// and `walk` holds part of it.
pub(crate) fn scan(html: &str, walk: &mut impl Tokens) -> Option<()> {
    // html5ever replaces NUL and drops a leading byte order mark.
    if memchr(0, html.as_bytes()).is_some() || html.starts_with('\u{feff}') {
        return None;
    }
    let b = html.as_bytes();
    let mut attrs = Vec::new();
    let mut at = 0;
    loop {
        let next = memchr2(b'<', b'&', &b[at..]).map_or(b.len(), |p| at + p);
        text(walk, &html[at..next]);
        if next == b.len() {
            return Some(());
        }
        if b[next] == b'&' {
            let (decoded, len) = reference(&html[next..])?;
            walk.text(decoded.as_str());
            at = next + len;
            continue;
        }
        at = next + 1;
        let kind = match b.get(at) {
            Some(c) if c.is_ascii_alphabetic() => TagKind::StartTag,
            Some(b'/') if b.get(at + 1).is_some_and(u8::is_ascii_alphabetic) => {
                at += 1;
                TagKind::EndTag
            }
            Some(b'!') if html[at..].starts_with("!--") => {
                at = comment_end(&html[at + 3..]).map(|end| at + 3 + end)?;
                continue;
            }
            // `</>`, `</3`, `<!DOCTYPE`, `<?xml`: html5ever's to read.
            Some(b'/' | b'!' | b'?') => return None,
            // A `<` that starts no tag is text.
            _ => {
                walk.text("<");
                continue;
            }
        };
        let (name, self_closing, end) = tag(html, at, &mut attrs)?;
        let pairs = attrs
            .iter()
            .map(|(n, v): &(Cow<str>, Cow<str>)| (&**n, &**v));
        let opened = next..end;
        match walk.tag(kind, &name, self_closing, pairs, opened) {
            None => at = end,
            // Raw text: nothing in it is markup up to the element's own end tag.
            Some(RawKind::Rawtext) => match raw_text_end(&html[end..], &name) {
                Some(close) => at = end + close,
                None => return Some(()),
            },
            Some(_) => return None,
        }
    }
}

/// Character data, with line breaks normalised (`\r\n` and `\r` are `\n`) as html5ever does
/// before tokenizing.
fn text(walk: &mut impl Tokens, s: &str) {
    if s.contains('\r') {
        walk.text(&newlines(s));
    } else if !s.is_empty() {
        walk.text(s);
    }
}

fn newlines(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// Whitespace between a tag's name and attributes, after the line-break normalisation.
fn is_space(c: u8) -> bool {
    matches!(c, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// Reads the tag whose name starts at `at`: its lower-case name, whether it closes itself
/// (`<br/>`), and where it ends (past the `>`). Its attributes are left in `attrs`.
fn tag<'a>(
    html: &'a str,
    mut at: usize,
    attrs: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>,
) -> Option<(Cow<'a, str>, bool, usize)> {
    let b = html.as_bytes();
    let stops = |c: u8| is_space(c) || c == b'/' || c == b'>';
    let start = at;
    while !stops(*b.get(at)?) {
        at += 1;
    }
    let name = lower(&html[start..at]);
    attrs.clear();
    loop {
        while is_space(*b.get(at)?) {
            at += 1;
        }
        match b[at] {
            b'>' => return Some((name, false, at + 1)),
            b'/' if b.get(at + 1) == Some(&b'>') => return Some((name, true, at + 2)),
            b'/' | b'=' => return None,
            _ => {}
        }
        let start = at;
        while !stops(*b.get(at)?) && b[at] != b'=' {
            if matches!(b[at], b'"' | b'\'' | b'<') {
                return None;
            }
            at += 1;
        }
        let attr = lower(&html[start..at]);
        while is_space(*b.get(at)?) {
            at += 1;
        }
        let value = if b[at] == b'=' {
            at += 1;
            while is_space(*b.get(at)?) {
                at += 1;
            }
            match *b.get(at)? {
                quote @ (b'"' | b'\'') => {
                    let len = memchr(quote, &b[at + 1..])?;
                    let value = attribute_value(&html[at + 1..at + 1 + len])?;
                    at += len + 2;
                    // Another attribute needs a space first.
                    if !stops(*b.get(at)?) {
                        return None;
                    }
                    value
                }
                b'>' => return None,
                _ => {
                    let start = at;
                    while !is_space(*b.get(at)?) && b[at] != b'>' {
                        if matches!(b[at], b'"' | b'\'' | b'<' | b'=' | b'`') {
                            return None;
                        }
                        at += 1;
                    }
                    attribute_value(&html[start..at])?
                }
            }
        } else {
            Cow::Borrowed("")
        };
        // html5ever keeps the first of two attributes with one name.
        if attrs.iter().any(|(n, _)| *n == attr) {
            return None;
        }
        attrs.push((attr, value));
    }
}

fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|c| c.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// An attribute value with its character references decoded (and line breaks normalised in
/// the text around them, not in what they decode to).
fn attribute_value(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.contains(['&', '\r']) {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = memchr(b'&', rest.as_bytes()) {
        out.push_str(&newlines(&rest[..amp]));
        let (decoded, len) = reference(&rest[amp..])?;
        out.push_str(decoded.as_str());
        rest = &rest[amp + len..];
    }
    out.push_str(&newlines(rest));
    Some(Cow::Owned(out))
}

/// What a character reference stands for: at most two characters, as UTF-8.
struct Decoded {
    bytes: [u8; 8],
    len: usize,
}

impl Decoded {
    fn new(chars: impl IntoIterator<Item = char>) -> Decoded {
        let mut d = Decoded {
            bytes: [0; 8],
            len: 0,
        };
        for c in chars {
            d.len += c.encode_utf8(&mut d.bytes[d.len..]).len();
        }
        d
    }

    fn as_str(&self) -> &str {
        // Invariant: `bytes[..len]` holds whole characters.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// The character reference at the start of `s` (which starts with `&`): what it stands for
/// and how many bytes it takes. A `&` that starts no reference stands for itself.
fn reference(s: &str) -> Option<(Decoded, usize)> {
    let b = s.as_bytes();
    let literal = Some((Decoded::new(['&']), 1));
    match b.get(1) {
        Some(b'#') => numeric(b),
        Some(c) if c.is_ascii_alphanumeric() => {
            let len = 1 + b[1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count();
            let name = &s[1..len];
            // A reference that runs to the end of the document: html5ever's to read.
            let after = *b.get(len)?;
            if after == b';' {
                if let Some(&(c1, c2)) = NAMED_ENTITIES.get(&s[1..=len]) {
                    if c1 != 0 {
                        let chars = [c1, c2].into_iter().filter(|&c| c != 0);
                        return Some((Decoded::new(chars.filter_map(char::from_u32)), len + 1));
                    }
                }
            }
            // Without its `;`, a legacy name (`&amp`, `&copy`) is still decoded, by rules that
            // differ in attributes: html5ever's to read. Starting with no name: a plain `&`.
            let legacy =
                (1..=name.len()).any(|n| NAMED_ENTITIES.get(&name[..n]).is_some_and(|m| m.0 != 0));
            if legacy { None } else { literal }
        }
        Some(_) => literal,
        None => None,
    }
}

/// `&#…;` and `&#x…;`, mapped as html5ever maps them (out-of-range values to U+FFFD, the C1
/// controls to their Windows-1252 characters).
fn numeric(b: &[u8]) -> Option<(Decoded, usize)> {
    let (radix, mut at) = match b.get(2) {
        Some(b'x' | b'X') => (16, 3),
        _ => (10, 2),
    };
    let digits_from = at;
    let mut n: u64 = 0;
    while let Some(d) = b.get(at).and_then(|&c| char::from(c).to_digit(radix)) {
        n = n
            .saturating_mul(u64::from(radix))
            .saturating_add(u64::from(d));
        at += 1;
    }
    // No digits (`&#;`) or the end of the document: html5ever's to read.
    let after = *b.get(at)?;
    if at == digits_from {
        return None;
    }
    if after == b';' {
        at += 1;
    }
    let c = match u32::try_from(n).ok().filter(|&n| n <= 0x10_FFFF) {
        None | Some(0 | 0xD800..=0xDFFF) => '\u{fffd}',
        Some(n @ 0x80..=0x9F) => C1_REPLACEMENTS[(n - 0x80) as usize]
            .or_else(|| char::from_u32(n))
            .unwrap_or('\u{fffd}'),
        Some(n) => char::from_u32(n).unwrap_or('\u{fffd}'),
    };
    Some((Decoded::new([c]), at))
}

/// Where the comment whose text starts `s` (after `<!--`) ends, past its `-->`.
fn comment_end(s: &str) -> Option<usize> {
    if s.starts_with('>') {
        return Some(1);
    }
    if s.starts_with("->") {
        return Some(2);
    }
    let end = memmem::find(s.as_bytes(), b"-->")? + 3;
    // `--!>` also closes a comment.
    if memmem::find(&s.as_bytes()[..end], b"--!>").is_some() {
        return None;
    }
    Some(end)
}

/// Where the end tag of the raw-text element `name` starts in `s`: `</name` followed by a
/// space, `/` or `>`, in any case.
fn raw_text_end(s: &str, name: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(p) = memmem::find(&b[from..], b"</").map(|p| from + p) {
        let after = p + 2 + name.len();
        if b.get(p + 2..after)
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
            && b.get(after)
                .is_some_and(|&c| is_space(c) || c == b'/' || c == b'>')
        {
            return Some(p);
        }
        from = p + 2;
    }
    None
}
