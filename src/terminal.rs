//! Text for a terminal: strings that came from outside (feed titles, errors, OPML titles) →
//! the same text with every character that a terminal would act on escaped visibly, so that
//! printing them can neither move the cursor, recolour, retitle the window, nor reorder
//! what is shown.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt;

/// Whether `c` would act on a terminal instead of being shown: the C0 and C1 control
/// characters and DEL (ESC starts every escape sequence, and U+009B is a one-character CSI
/// for some terminals), and the bidirectional formatting characters, which reorder the text
/// around them ("Trojan Source").
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{61C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every [`is_unsafe`] character written as a Rust escape (`\u{1b}`, `\n`, `\t`),
/// and the backslash before such an escape left as it is: for a person reading, not for
/// parsing back.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON text (as `serde_json` writes it) with the [`is_unsafe`] characters that JSON allows
/// unescaped (DEL, C1, bidirectional formatting) written as `\uXXXX`. They can only occur
/// inside strings, where the escape reads back as the same character.
pub fn json(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            // serde_json escapes C0 controls inside strings; a line break is its own layout.
            '\n' => out.push(c),
            c if is_unsafe(c) => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Shows a string through [`escape`]: `%Escaped(title)` in a log field, `{}` in a format.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

/// Whether text written to stderr may carry colour codes when nobody asked either way
/// (`--color auto`): only for a person at a terminal. Not into a file or a pipe
/// (`stderr_is_terminal` false), not when `NO_COLOR` is set to anything but the empty string
/// (<https://no-color.org>), and not under systemd, which sets `JOURNAL_STREAM` for a
/// service whose stderr goes to the journal: the journal would keep the codes as text.
pub fn colour_by_default(
    stderr_is_terminal: bool,
    no_color: Option<&OsStr>,
    journal_stream: Option<&OsStr>,
) -> bool {
    stderr_is_terminal && no_color.is_none_or(OsStr::is_empty) && journal_stream.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_escaped_the_rest_is_left() {
        assert_eq!(
            escape("a\u{1b}[31mred\u{7}\u{9b}2J\u{7f}\tb\nc\u{202E}d"),
            "a\\u{1b}[31mred\\u{7}\\u{9b}2J\\u{7f}\\tb\\nc\\u{202e}d"
        );
        for s in ["plain", "日本語 é ü", "back\\slash", ""] {
            assert!(matches!(escape(s), Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn json_reads_back_to_the_same_string() {
        let value = "x\u{1b}y\u{7f}z\u{85}\u{202E}w\nv";
        let text = serde_json::to_string_pretty(&[value]).unwrap();
        let safe = json(&text);
        assert!(!safe.chars().any(|c| is_unsafe(c) && c != '\n'), "{safe}");
        let back: Vec<String> = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, [value]);
    }

    #[test]
    fn colour_only_for_a_terminal_without_no_color_or_the_journal() {
        let set = Some(OsStr::new("1"));
        assert!(colour_by_default(true, None, None));
        assert!(!colour_by_default(false, None, None));
        assert!(!colour_by_default(true, set, None));
        // An empty NO_COLOR is as good as unset.
        assert!(colour_by_default(true, Some(OsStr::new("")), None));
        assert!(!colour_by_default(true, None, Some(OsStr::new("8:1234"))));
    }
}
