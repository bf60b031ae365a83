//! Fingerprints for near-duplicate detection: an item's title and visible text → word
//! shingles, a MinHash signature cut into LSH bands (to find candidates in an index, not by
//! comparing with every item), and the conservative judgement of whether two items are the
//! same story.
//!
//! The signature is a one-permutation MinHash (Li, Owen, Zhang 2012) with optimal
//! densification (Shrivastava 2017): each shingle is hashed once and kept in one of
//! [`HASHES`] bins if it is the smallest there; empty bins borrow from a bin chosen by a
//! fixed hash. Two texts agree on a bin with probability about their Jaccard similarity, as
//! with [`HASHES`] independent hash functions, for one hash per shingle instead of
//! [`HASHES`].

use std::collections::HashSet;

use xxhash_rust::xxh3::xxh3_64;

use super::words::{for_each_word, words};

/// Words per shingle.
const SHINGLE: usize = 4;
/// MinHash bins (one bit each in a `u64`); split into [`BANDS`] bands of `HASHES / BANDS`
/// rows.
const HASHES: usize = 64;
const _: () = assert!(HASHES == 64 && HASHES % BANDS == 0);
/// LSH bands: two items are candidates when any band matches (about 99 % at similarity 0.7,
/// about 12 % at 0.3).
pub const BANDS: usize = 16;
/// Share of the shorter text's shingles found in the longer one from which the two are one
/// article with something added or cut.
pub const CONTAINMENT: f64 = 0.9;
/// Below this many words a body is too short to compare: title and link decide.
pub const SHORT_WORDS: usize = 50;
/// Title words that mark a separate notice about a story, never the story itself.
const NOTICE_WORDS: &[&str] = &[
    "correction",
    "corrected",
    "update",
    "updated",
    "clarification",
    "retraction",
    "editor's",
];

/// What is indexed per item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// LSH band hashes (empty for short texts).
    pub bands: Vec<u32>,
    /// Hash of the normalised title.
    pub title_key: u32,
}

/// What the judgement compares of one item.
#[derive(Debug, Clone)]
pub struct Doc<'a> {
    /// Plain title.
    pub title: &'a str,
    /// Visible text of the content.
    pub text: &'a str,
    /// The article link.
    pub link: Option<&'a str>,
}

fn lowercase_words(s: &str) -> Vec<String> {
    words(s).into_iter().map(str::to_lowercase).collect()
}

/// The hash of a word's lower-case form, without a string for the common ASCII case (this
/// runs over every word ingested).
fn word_hash(w: &str) -> u64 {
    if w.is_ascii() {
        ascii_word_hash(w)
    } else {
        xxh3_64(w.to_lowercase().as_bytes())
    }
}

/// [`word_hash`] of an ASCII word.
fn ascii_word_hash(w: &str) -> u64 {
    // Up to eight bytes at a time, lower-cased together, read so that a word of `n` bytes
    // gives the same values only with the same bytes (short words overlap their reads); the
    // length, spread over all bits, tells the lengths apart.
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let b = w.as_bytes();
    let n = b.len();
    let mut h = (0xCBF2_9CE4_8422_2325u64 ^ n as u64).wrapping_mul(K);
    let mut take = |x: u64| h = (h ^ ascii_lowercase8(x)).wrapping_mul(K).rotate_left(31);
    let le32 = |at: usize| u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]));
    let le64 = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default());
    match n {
        0 => {}
        1..=3 => take(u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16),
        4..=8 => take(le32(0) | le32(n - 4) << 32),
        _ => {
            let mut at = 0;
            while at + 8 < n {
                take(le64(at));
                at += 8;
            }
            take(le64(n - 8));
        }
    }
    h
}

/// `to_ascii_lowercase` on each of eight ASCII bytes at once: `A`–`Z` gain bit 5.
fn ascii_lowercase8(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Adding to each byte (all below 0x80) sets its high bit when it is at least `A`, or
    // more than `Z`; no carry crosses into the next byte.
    let from_a = x + (0x80 - u64::from(b'A')) * ONES;
    let past_z = x + (0x80 - u64::from(b'Z') - 1) * ONES;
    let upper = from_a & !past_z & HIGH;
    x | upper >> 2
}

fn word_hashes(s: &str) -> Vec<u64> {
    let mut out = Vec::with_capacity(s.len() / 6);
    for_each_word(s, |w, _| out.push(word_hash(w)));
    out
}

/// The hash of each window of [`SHINGLE`] words (no string per shingle), well mixed: its
/// top bits choose a MinHash bin.
fn shingle_hashes(hashes: &[u64]) -> impl Iterator<Item = u64> + '_ {
    hashes
        .windows(SHINGLE.min(hashes.len().max(1)))
        .map(shingle_hash)
}

fn shingle_hash(words: &[u64]) -> u64 {
    mix(words.iter().fold(0x9E37_79B9_7F4A_7C15u64, |acc, h| {
        (acc.rotate_left(17) ^ h).wrapping_mul(0xFF51_AFD7_ED55_8CCD)
    }))
}

fn shingles(hashes: &[u64]) -> HashSet<u64> {
    shingle_hashes(hashes).collect()
}

/// SplitMix64's finaliser: every input bit reaches every output bit.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn title_words(title: &str) -> Vec<String> {
    lowercase_words(title)
}

/// The fingerprint of an item.
pub fn fingerprint(title: &str, text: &str) -> Fingerprint {
    let mut shingler = Shingler::default();
    for_each_word(text, |w, ascii| shingler.add(w, ascii));
    shingler.finish(title)
}

/// Builds a fingerprint one word at a time, so that it shares the pass over the text with
/// the reading time's word count.
#[derive(Debug)]
pub struct Shingler {
    /// The last `SHINGLE - 1` word hashes, oldest first.
    recent: [u64; SHINGLE - 1],
    words: usize,
    bins: [u64; HASHES],
    filled: u64,
}

impl Default for Shingler {
    fn default() -> Self {
        Shingler {
            recent: [0; SHINGLE - 1],
            words: 0,
            bins: [u64::MAX; HASHES],
            filled: 0,
        }
    }
}

impl Shingler {
    /// Takes the next word of the text; `ascii`: it is ASCII.
    pub fn add(&mut self, word: &str, ascii: bool) {
        let h = if ascii {
            ascii_word_hash(word)
        } else {
            word_hash(word)
        };
        let [a, b, c] = self.recent;
        if self.words >= SHINGLE - 1 {
            bin(
                &mut self.bins,
                &mut self.filled,
                shingle_hash(&[a, b, c, h]),
            );
        }
        // Not `rotate_left`: that is a call to memmove, per word.
        self.recent = [b, c, h];
        self.words += 1;
    }

    /// The fingerprint of the words taken, with `title`.
    pub fn finish(self, title: &str) -> Fingerprint {
        let title_key = xxh3_64(title_words(title).join(" ").as_bytes()) as u32;
        if self.words < SHORT_WORDS {
            return Fingerprint {
                bands: Vec::new(),
                title_key,
            };
        }
        Fingerprint {
            bands: bands(&densify(self.bins, self.filled)),
            title_key,
        }
    }
}

/// LSH bands of a signature.
fn bands(signature: &[u64; HASHES]) -> Vec<u32> {
    const ROWS: usize = HASHES / BANDS;
    signature
        .chunks(ROWS)
        .enumerate()
        .map(|(band, chunk)| {
            // The band's number, then its rows, as bytes (no allocation per band).
            let mut bytes = [0u8; 8 * (ROWS + 1)];
            for (slot, v) in bytes
                .chunks_exact_mut(8)
                .zip(std::iter::once(band as u64).chain(chunk.iter().copied()))
            {
                slot.copy_from_slice(&v.to_le_bytes());
            }
            xxh3_64(&bytes) as u32
        })
        .collect()
}

const BIN_BITS: u32 = HASHES.trailing_zeros();

/// One-permutation MinHash: a shingle hash goes to the bin its top bits name and stays if it
/// is the smallest there (repeats change nothing: a minimum is a minimum). The bins and the
/// densification are fixed, so that stored bands stay comparable between runs.
fn bin(bins: &mut [u64; HASHES], filled: &mut u64, h: u64) {
    let bin = (h >> (64 - BIN_BITS)) as usize;
    bins[bin] = bins[bin].min(h);
    *filled |= 1 << bin;
}

/// Fills the empty bins of a signature.
fn densify(bins: [u64; HASHES], filled: u64) -> [u64; HASHES] {
    if filled == 0 {
        return bins;
    }
    // Optimal densification: an empty bin takes the value of the first filled bin in its
    // own fixed pseudo-random sequence of bins, so two texts that leave the same bin empty
    // borrow from the same place.
    let mut out = bins;
    for (i, slot) in out.iter_mut().enumerate() {
        if filled & (1 << i) != 0 {
            continue;
        }
        let mut probe = mix(i as u64 ^ 0xD6E8_FEB8_6659_FD93);
        let mut from = None;
        for _ in 0..256 {
            let j = (probe >> (64 - BIN_BITS)) as usize;
            if filled & (1 << j) != 0 {
                from = Some(j);
                break;
            }
            probe = mix(probe);
        }
        // After 256 misses (never, in practice: at least one bin is filled), the next filled
        // bin to the right.
        let j = from.unwrap_or_else(|| {
            (i + filled.rotate_right(i as u32).trailing_zeros() as usize) % HASHES
        });
        *slot = bins[j];
    }
    out
}

fn jaccard<T: std::hash::Hash + Eq>(a: &HashSet<T>, b: &HashSet<T>) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    a.intersection(b).count() as f64 / a.union(b).count() as f64
}

/// The last meaningful segment of a link's path (`bridge-reopens` of
/// `https://x.example/2024/05/bridge-reopens.html` or of `.../bridge-reopens/amp`).
fn slug(link: &str) -> Option<String> {
    let url = url::Url::parse(link).ok()?;
    let segments: Vec<&str> = url
        .path_segments()?
        .filter(|s| !s.is_empty() && *s != "amp")
        .collect();
    let last = segments.last()?;
    let stem = last
        .trim_end_matches(".html")
        .trim_end_matches(".htm")
        .trim_end_matches(".amp");
    (!stem.is_empty()).then(|| stem.to_lowercase())
}

/// Whether `a` and `b` are the same story, and how similar their texts are. Conservative: a
/// false merge hides news, a missed one only shows a copy. Titles must nearly match, with the
/// same numbers (day 3 is not day 4) and no correction notice on one side only; then long
/// texts must be highly similar (short texts more so), and texts too short to compare need
/// the same title and the same link slug.
pub fn judge(a: &Doc<'_>, b: &Doc<'_>, threshold: f64) -> Option<f64> {
    if !titles_compatible(a.title, b.title) {
        return None;
    }
    let (ta, tb) = (title_words(a.title), title_words(b.title));
    let (wa, wb) = (word_hashes(a.text), word_hashes(b.text));
    let shortest = wa.len().min(wb.len());
    if shortest < SHORT_WORDS {
        let same_slug = match (a.link.and_then(slug), b.link.and_then(slug)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        };
        return (ta == tb && same_slug).then_some(1.0);
    }
    let (sa, sb) = (shingles(&wa), shingles(&wb));
    let similarity = jaccard(&sa, &sb);
    // Shorter texts need a higher bar: a shared paragraph weighs more in them.
    let bar = if shortest < 150 {
        (threshold + 0.1).min(0.95)
    } else {
        threshold
    };
    if similarity >= bar {
        return Some(similarity);
    }
    // One text inside the other, all but a few phrases: the same article with a dateline,
    // a byline, a newsletter footer or a related-links box added or cut. (A follow-up that
    // repeats the background paragraphs shares about half, far below this.)
    let containment = sa.intersection(&sb).count() as f64 / sa.len().min(sb.len()).max(1) as f64;
    (containment >= CONTAINMENT).then_some(containment)
}

/// The title part of [`judge`], cheap enough to filter candidates before their text is
/// read: nearly the same words, the same numbers, and a correction notice on both sides or
/// neither.
pub fn titles_compatible(a: &str, b: &str) -> bool {
    let (ta, tb) = (title_words(a), title_words(b));
    let (sa, sb): (HashSet<&String>, HashSet<&String>) = (ta.iter().collect(), tb.iter().collect());
    if jaccard(&sa, &sb) < 0.6 {
        return false;
    }
    let numbers = |t: &[String]| -> HashSet<String> {
        t.iter()
            .filter(|w| w.chars().any(|c| c.is_ascii_digit()))
            .cloned()
            .collect()
    };
    let notice = |t: &[String]| t.iter().any(|w| NOTICE_WORDS.contains(&w.as_str()));
    numbers(&ta) == numbers(&tb) && notice(&ta) == notice(&tb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_lowercasing_eight_bytes_at_once_matches_byte_by_byte() {
        let bytes: Vec<u8> = (0..128).collect();
        for chunk in bytes.chunks(8) {
            let x = u64::from_le_bytes(chunk.try_into().unwrap());
            let lower: Vec<u8> = chunk.iter().map(u8::to_ascii_lowercase).collect();
            assert_eq!(
                ascii_lowercase8(x),
                u64::from_le_bytes(lower.try_into().unwrap())
            );
        }
    }

    #[test]
    fn word_hashes_ignore_case_and_nothing_else() {
        assert_eq!(
            word_hash("MiXeD_Case.Words42"),
            word_hash("mixed_case.words42")
        );
        assert_eq!(word_hash("ÉCOLE"), word_hash("école"));
        let distinct = [
            "a",
            "b",
            "ab",
            "ba",
            "a\0",
            "abc",
            "acb",
            "abcd",
            "abdc",
            "abcde",
            "abcdf",
            "abcdefg",
            "abcdefh",
            "abcdefgh",
            "abcdefgi",
            "abcdefghi",
            "abcdefgh\0",
            "abcdefghijklmnop",
            "abcdefghijklmnoq",
            "abcdefghijklmnopq",
            "bbcdefghijklmnopq",
        ];
        let hashes: HashSet<u64> = distinct.iter().map(|w| word_hash(w)).collect();
        assert_eq!(hashes.len(), distinct.len());
    }

    fn story(n: usize, salt: &str) -> String {
        let pool = [
            "council",
            "bridge",
            "river",
            "vote",
            "engineers",
            "budget",
            "repairs",
            "mayor",
            "traffic",
            "spring",
        ];
        (0..n)
            .map(|i| format!("{}{}", pool[(i * 7 + salt.len()) % pool.len()], i % 13))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn doc<'a>(title: &'a str, text: &'a str, link: &'a str) -> Doc<'a> {
        Doc {
            title,
            text,
            link: Some(link),
        }
    }

    #[test]
    fn copies_merge_and_follow_ups_do_not() {
        let body = story(300, "");
        let edited = format!("{body} One more closing sentence was added by the second outlet.");
        let a = doc(
            "Council votes to rebuild bridge",
            &body,
            "https://a.example/bridge",
        );
        let b = doc(
            "Council votes to rebuild the bridge",
            &edited,
            "https://b.example/news/x",
        );
        assert!(judge(&a, &b, 0.7).is_some());
        let day3 = doc("Floods: day 3", &body, "https://a.example/d3");
        let day4 = doc("Floods: day 4", &body, "https://a.example/d4");
        assert!(judge(&day3, &day4, 0.7).is_none(), "different numbers");
        let fix = doc(
            "Correction: council votes to rebuild bridge",
            &body,
            "https://a.example/c",
        );
        assert!(
            judge(&a, &fix, 0.7).is_none(),
            "a correction is its own notice"
        );
        let other: String = (0..300)
            .map(|i| format!("harbour{} ferry{}", i % 17, i % 5))
            .collect::<Vec<_>>()
            .join(" ");
        let template = doc(
            "Council votes to rebuild bridge",
            &other,
            "https://c.example/x",
        );
        assert!(
            judge(&a, &template, 0.7).is_none(),
            "same title, other text"
        );
    }

    #[test]
    fn short_texts_need_title_and_slug() {
        let a = doc(
            "Bridge reopens",
            "Short text.",
            "https://a.example/2024/05/01/bridge-reopens",
        );
        let b = doc(
            "Bridge reopens",
            "Other short text.",
            "https://b.example/news/bridge-reopens.html",
        );
        let c = doc(
            "Bridge reopens",
            "Short text.",
            "https://b.example/news/other-slug",
        );
        assert_eq!(judge(&a, &b, 0.7), Some(1.0));
        assert_eq!(judge(&a, &c, 0.7), None);
    }

    #[test]
    fn similar_texts_share_a_band_and_short_ones_have_none() {
        let body = story(400, "");
        let near = format!("{body} with a short footer about the newsletter");
        let (fa, fb) = (fingerprint("T", &body), fingerprint("T", &near));
        assert_eq!(fa.bands.len(), BANDS);
        assert!(fa.bands.iter().any(|b| fb.bands.contains(b)));
        assert_eq!(fa.title_key, fb.title_key);
        assert!(fingerprint("T", "too short").bands.is_empty());
    }
}
