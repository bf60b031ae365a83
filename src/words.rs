//! Words of plain text, by Unicode word boundaries (UAX #29), with a fast path for ASCII.
//!
//! Every new item's words are counted (reading time), and a news item's are split out as well
//! (near-duplicate fingerprint), so this runs over every byte that is ingested. The general
//! segmenter looks up each character's word-break class in a table; most text is ASCII, where
//! the classes are five byte ranges, and where words can be counted without being found one by
//! one ([`count_words`]). All paths give the same words ([`for_each_word`] is checked against
//! `unicode_words`, [`count_words`] against [`for_each_word`], by property tests).

use unicode_segmentation::UnicodeSegmentation;

/// Calls `f` with each word of `text`, and whether the word is ASCII (known without a look
/// for most words): the UAX #29 word segments that contain a letter or a digit, as
/// `unicode_segmentation`'s `unicode_words` yields them.
pub fn for_each_word<'a>(text: &'a str, mut f: impl FnMut(&'a str, bool)) {
    for_each_piece(text, |piece, ascii| {
        if ascii {
            ascii_words(piece, &mut f);
        } else {
            for w in piece.unicode_words() {
                f(w, w.is_ascii());
            }
        }
    });
}

/// [`for_each_word`] for those that only count the ASCII words: the words of the text's
/// ASCII stretches are counted, not passed to `f`, and the count is returned; `f` gets the
/// others (some of them ASCII words next to non-ASCII ones), with whether each is ASCII.
/// The count and `f`'s words together are exactly [`for_each_word`]'s words.
///
/// Counting needs no word's end: eight bytes at a time, it counts where a run of joining
/// bytes (letters, digits, `_`) starts, and takes off the bridges that join two runs (`a.b`,
/// `1,2`, `don't`) and the runs of underscores only.
pub fn count_words<'a>(text: &'a str, mut f: impl FnMut(&'a str, bool)) -> u64 {
    let mut ascii = 0;
    for_each_piece(text, |piece, only_ascii| {
        if only_ascii {
            ascii += ascii_count(piece.as_bytes());
        } else {
            for w in piece.unicode_words() {
                f(w, w.is_ascii());
            }
        }
    });
    ascii
}

/// Cuts `text` into pieces that no word spans, in order, each with whether it is to be
/// segmented by the ASCII rules (it is ASCII and every cut next to it is at ASCII whitespace
/// or an end of the text).
fn for_each_piece<'a>(text: &'a str, mut piece: impl FnMut(&'a str, bool)) {
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
        piece(&text[at..start], true);
        piece(&text[start..end], false);
        at = end;
    }
    piece(&text[at..], true);
}

/// The position of the first byte of `b` that is not ASCII, 32 bytes at a time.
fn first_non_ascii(b: &[u8]) -> Option<usize> {
    let mut at = 0;
    // The bytes of a fixed-size chunk OR-ed together: vector instructions, no branch per byte.
    for chunk in b.chunks_exact(32) {
        if chunk.iter().fold(0, |all, c| all | c) >= 0x80 {
            break;
        }
        at += 32;
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

/// How many words [`ascii_words`] finds in `b` (ASCII), eight bytes at a time: the runs of
/// joining bytes (a joining byte after one that does not join starts one), less the bridges
/// (each joins the run before it to the run after it: both sides join, so a bridge is never
/// next to another), less the runs of underscores only. The last two are rare, and looked at
/// only in the eight bytes that may hold one. The bytes before and after `b` count as not
/// joining.
fn ascii_count(b: &[u8]) -> u64 {
    // Counted apart: a bridge at the end of a chunk comes before the start it takes back.
    let (mut starts_seen, mut bridges_seen, mut underscores_only) = (0, 0, 0);
    // This chunk and the one before it, with their joining bytes.
    let (mut x, mut x_before) = (load8(b, 0), 0);
    let (mut joins, mut joins_before) = (joining(x), 0);
    let mut at = 0;
    while at < b.len() {
        let x_next = load8(b, at + 8);
        let joins_next = joining(x_next);
        // Whether each byte's previous and next byte join.
        let joins_prev = (joins << 8) | (joins_before >> 56);
        let joins_after = (joins >> 8) | (joins_next << 56);
        let starts = joins & !joins_prev;
        starts_seen += u64::from(starts.count_ones());
        // Bridges are among the bytes from `'` to `;` (with digits and `()*+-/`) that do
        // not join, between two that do.
        if within(x, b'\'', b';') & !joins & joins_prev & joins_after != 0 {
            let prev = (x << 8) | (x_before >> 56);
            let after = (x >> 8) | (x_next << 56);
            bridges_seen += u64::from(bridging(prev, x, after).count_ones());
        }
        let mut underscores = starts & within(x, b'_', b'_');
        while underscores != 0 {
            let start = at + byte_index(underscores);
            let end = b[start..]
                .iter()
                .position(|&c| c != b'_')
                .map_or(b.len(), |p| start + p);
            if !b.get(end).is_some_and(u8::is_ascii_alphanumeric) {
                underscores_only += 1;
            }
            underscores &= underscores - 1;
        }
        (x_before, x, joins_before, joins) = (x, x_next, joins, joins_next);
        at += 8;
    }
    starts_seen - bridges_seen - underscores_only
}

/// The high bit of each byte of `mid` that bridges its previous byte (the same byte of
/// `before`) and its next (of `after`): [`bridges`] eight bytes at a time.
fn bridging(before: u64, mid: u64, after: u64) -> u64 {
    let letter = |x: u64| within(x | (0x20 * ONES), b'a', b'z');
    let digit = |x: u64| within(x, b'0', b'9');
    let letters = letter(before) & letter(after);
    let digits = digit(before) & digit(after);
    let is = |c: u8| within(mid, c, c);
    (is(b':') & letters)
        | ((is(b'.') | is(b'\'')) & (letters | digits))
        | ((is(b',') | is(b';')) & digits)
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
    within(x | (0x20 * ONES), b'a', b'z') | within(x, b'0', b'9') | within(x, b'_', b'_')
}

/// The high bit of each byte of `x` (eight ASCII bytes) that is from `lo` to `hi`.
fn within(x: u64, lo: u8, hi: u8) -> u64 {
    // Adding to each byte (all below 0x80) sets its high bit when it is at least `lo`, or
    // more than `hi`; no carry crosses into the next byte.
    (x + (0x80 - u64::from(lo)) * ONES) & !(x + (0x7F - u64::from(hi)) * ONES) & HIGH
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

    /// [`count_words`]'s ASCII count and the words it passes on, against [`for_each_word`]'s
    /// words.
    fn counted_apart(text: &str) -> (u64, Vec<&str>) {
        let mut others = Vec::new();
        let ascii = count_words(text, |w, _| others.push(w));
        (ascii, others)
    }

    #[test]
    fn ascii_counts_take_off_bridges_and_underscore_runs() {
        let cases = [
            "Don't stop: 3.5 or 1,000; e.g. a_b __ _x x_ ab:cd 1:2 a.1 1.a",
            "end. 'quoted' trailing' ... ___ __a a__ _1_ '_' x'",
            // Bridges and underscore runs across the eight-byte reads.
            "1234567.9 abcdefg'h abcdefgh'ij x______y ab______ _______a _______ ________",
            "a.b.c.d.e.f.g.h.i 1,2;3.4,5 a:b:c a;b a,b 1:2 1'2",
            "",
            "_",
            "a",
            ".a.",
        ];
        for text in cases {
            assert_eq!(
                counted_apart(text),
                (words(text).len() as u64, vec![]),
                "{text:?}"
            );
        }
    }

    /// The ASCII bytes that matter to [`ascii_count`]: the joining ones, the bridges, and
    /// some that break.
    const ASCII_ALPHABET: &[char] = &[
        'a', 'Z', '0', '9', '_', '.', ',', ';', ':', '\'', ' ', '-', '\n', '\0', '@', '`', '/',
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn ascii_counts_are_the_words_found(chars in prop::collection::vec(select(ASCII_ALPHABET), 0..70)) {
            let text: String = chars.into_iter().collect();
            prop_assert_eq!(counted_apart(&text), (words(&text).len() as u64, vec![]), "{:?}", text);
        }

        #[test]
        fn counted_and_passed_on_are_the_words(chars in prop::collection::vec(select(ALPHABET), 0..70)) {
            let text: String = chars.into_iter().collect();
            let (ascii, others) = counted_apart(&text);
            let all = words(&text);
            prop_assert_eq!(ascii + others.len() as u64, all.len() as u64, "{:?}", text);
            // What is passed on is the words of the non-ASCII pieces, in order.
            let mut rest = all.iter();
            prop_assert!(others.iter().all(|w| rest.any(|a| std::ptr::eq(*a, *w))), "{:?}", text);
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
