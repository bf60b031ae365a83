//! Words of plain text, by Unicode word boundaries (UAX #29), with a fast path for ASCII.
//!
//! Every new item's text is split into words twice (reading time, near-duplicate
//! fingerprint), so this runs over every byte that is ingested. The general segmenter looks
//! up each character's word-break class in a table; most text is ASCII, where the classes
//! are five byte ranges. Both paths give the same words ([`for_each_word`] is checked against
//! `unicode_words` by a property test).

use unicode_segmentation::UnicodeSegmentation;

/// Calls `f` with each word of `text`, and whether the word is ASCII (known without a look
/// for most words): the UAX #29 word segments that contain a letter or a digit, as
/// `unicode_segmentation`'s `unicode_words` yields them.
pub fn for_each_word<'a>(text: &'a str, mut f: impl FnMut(&'a str, bool)) {
    // No word spans ASCII whitespace (UAX #29 breaks on both sides of it, and a combining
    // mark after it attaches to it, not to the next word), so the text can be cut there and
    // each piece segmented on its own: a piece with a non-ASCII character by the general
    // rules, the ASCII text between such pieces by hand, in one go.
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(found) = first_non_ascii(&bytes[at..]).map(|p| at + p) {
        let start = bytes[at..found]
            .iter()
            .rposition(u8::is_ascii_whitespace)
            .map_or(at, |p| at + p + 1);
        let end = bytes[found..]
            .iter()
            .position(u8::is_ascii_whitespace)
            .map_or(bytes.len(), |p| found + p);
        // Cut next to ASCII bytes: always at character boundaries.
        ascii_words(&text[at..start], &mut f);
        for w in text[start..end].unicode_words() {
            f(w, w.is_ascii());
        }
        at = end;
    }
    ascii_words(&text[at..], &mut f);
}

/// The position of the first byte of `b` that is not ASCII, eight bytes at a time.
fn first_non_ascii(b: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(chunk) = b.get(at..at + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        if x & 0x8080_8080_8080_8080 != 0 {
            break;
        }
        at += 8;
    }
    b[at..].iter().position(|c| !c.is_ascii()).map(|p| at + p)
}

/// The words of `text` (see [`for_each_word`]).
pub fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for_each_word(text, |w, _| out.push(w));
    out
}

/// UAX #29 on ASCII: letters (ALetter), digits (Numeric) and `_` (ExtendNumLet) join; `:`
/// (MidLetter) joins two letters, `.` and `'` (MidNumLet, Single_Quote) two letters or two
/// digits, `,` and `;` (MidNum) two digits (rules WB5–WB13b). Everything else breaks.
///
/// Runs of joining bytes are found eight bytes at a time: no branch per byte.
fn ascii_words<'a>(piece: &'a str, f: &mut impl FnMut(&'a str, bool)) {
    let b = piece.as_bytes();
    let mut at = 0;
    loop {
        // To the next joining byte; none in the eight bytes past the end.
        loop {
            let joins = joining(load8(b, at));
            if joins != 0 {
                at += byte_index(joins);
                break;
            }
            at += 8;
            if at >= b.len() {
                return;
            }
        }
        let start = at;
        loop {
            loop {
                let breaks = !joining(load8(b, at)) & HIGH;
                if breaks != 0 {
                    at += byte_index(breaks);
                    break;
                }
                at += 8;
            }
            if at + 1 < b.len() && bridges(b[at - 1], b[at], b[at + 1]) {
                at += 1;
            } else {
                break;
            }
        }
        // A segment of underscores only is not a word.
        let word = &piece[start..at];
        if b[start] != b'_' || word.bytes().any(|c| c != b'_') {
            f(word, true);
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = ONES << 7;

/// The eight bytes of `b` from `at`, as many as there are, then zeros.
fn load8(b: &[u8], at: usize) -> u64 {
    let mut chunk = [0; 8];
    match b.get(at..at + 8) {
        Some(eight) => chunk.copy_from_slice(eight),
        None => {
            let tail = b.get(at..).unwrap_or_default();
            chunk[..tail.len()].copy_from_slice(tail);
        }
    }
    u64::from_le_bytes(chunk)
}

/// The high bit of each byte of `x` (eight ASCII bytes) that joins a word: a letter, a digit
/// or `_`.
fn joining(x: u64) -> u64 {
    // Adding to each byte (all below 0x80) sets its high bit when it is at least `lo`, or
    // more than `hi`; no carry crosses into the next byte.
    let within = |x: u64, lo: u8, hi: u8| {
        (x + (0x80 - u64::from(lo)) * ONES) & !(x + (0x7F - u64::from(hi)) * ONES) & HIGH
    };
    within(x | (0x20 * ONES), b'a', b'z') | within(x, b'0', b'9') | within(x, b'_', b'_')
}

/// The index of the lowest byte whose high bit is set in `mask` (not zero).
fn byte_index(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

/// Whether `mid` between `before` and `after` stays inside the word.
fn bridges(before: u8, mid: u8, after: u8) -> bool {
    let letters = before.is_ascii_alphabetic() && after.is_ascii_alphabetic();
    let digits = before.is_ascii_digit() && after.is_ascii_digit();
    match mid {
        b':' => letters,
        b'.' | b'\'' => letters || digits,
        b',' | b';' => digits,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::sample::select;

    use super::*;

    fn split(s: &str) -> Vec<&str> {
        words(s)
    }

    #[test]
    fn ascii_rules() {
        assert_eq!(
            split("Don't stop: 3.5 or 1,000; e.g. a_b __ _x x_ ab:cd 1:2 a.1 1.a"),
            [
                "Don't", "stop", "3.5", "or", "1,000", "e.g", "a_b", "_x", "x_", "ab:cd", "1", "2",
                "a", "1", "1", "a"
            ]
        );
        assert_eq!(
            split("end. 'quoted' trailing' ..."),
            ["end", "quoted", "trailing"]
        );
        assert!(split("  \t\n --- ... ___ ").is_empty());
        // Words and gaps across the eight-byte reads.
        assert_eq!(
            split("internationalization  x__________y 12345678.87654321 abcdefgh"),
            [
                "internationalization",
                "x__________y",
                "12345678.87654321",
                "abcdefgh"
            ]
        );
    }

    #[test]
    fn the_ascii_join_table_is_letters_digits_and_underscore() {
        for c in 0..0x80u8 {
            let x = u64::from_le_bytes([c, b' ', c, 0, 0, 0, 0, c]);
            let expected = if c.is_ascii_alphanumeric() || c == b'_' {
                HIGH & u64::from_le_bytes([0xFF, 0, 0xFF, 0, 0, 0, 0, 0xFF])
            } else {
                0
            };
            assert_eq!(joining(x), expected, "{c:#x}");
        }
    }

    /// Characters from every word-break class that matters next to ASCII: letters, digits,
    /// the joiners, whitespace (ASCII and not, `U+202F` is ExtendNumLet), combining marks,
    /// ZWJ and emoji, CJK, Hangul, Katakana, Hebrew (with its own quote rules).
    const ALPHABET: &[char] = &[
        'a', 'Z', 'q', '0', '7', '_', '.', ',', ';', ':', '\'', '"', '-', '/', '!', '(', ' ', '\t',
        '\n', '\r', '\x0b', '\x0c', 'é', 'ß', '’', '‘', '—', '…', '東', '京', '한', 'カ', 'ー',
        'א', 'ב', '״', '\u{0301}', '\u{200d}', '\u{200b}', '\u{00a0}', '\u{202f}', '\u{3000}',
        '\u{2028}', '\u{0085}', '👍', '\u{fe0f}', '٣', '\u{00ad}',
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn same_words_as_unicode_words(chars in prop::collection::vec(select(ALPHABET), 0..40)) {
            let text: String = chars.into_iter().collect();
            let expected: Vec<&str> = text.unicode_words().collect();
            prop_assert_eq!(words(&text), expected, "{:?}", text);
            for_each_word(&text, |w, ascii| assert_eq!(ascii, w.is_ascii(), "{w:?}"));
        }
    }

    #[test]
    fn non_ascii_pieces_use_the_general_rules() {
        assert_eq!(
            split("naïve café—bar 東京"),
            ["naïve", "café", "bar", "東", "京"]
        );
        assert_eq!(
            split("l’homme don’t"),
            "l’homme don’t".unicode_words().collect::<Vec<_>>()
        );
    }
}
