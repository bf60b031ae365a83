//! Fingerprints for near-duplicate detection: an item's title and visible text → word
//! shingles and a MinHash signature cut into LSH bands, so that candidates are found in an
//! index rather than by comparing with every item; plus the hashes [`judge`](fn@super::judge) compares
//! texts by.
//!
//! The signature is a one-permutation MinHash (Li, Owen, Zhang 2012) with optimal
//! densification (Shrivastava 2017): each shingle is hashed once and kept in one of
//! [`HASHES`] bins if it is the smallest there; empty bins borrow from a bin chosen by a
//! fixed hash. Two texts agree on a bin with probability about their Jaccard similarity, as
//! with [`HASHES`] independent hash functions, for one hash per shingle instead of
//! [`HASHES`].
//!
//! Only news is compared ([`is_news`]): an item dated before the window (`[dedupe] window`)
//! gets no fingerprint, so it is neither indexed nor looked up; it is still deduplicated by
//! its identity and canonical link.

use chrono::{DateTime, Utc};
use xxhash_rust::xxh3::xxh3_64;

use super::title::title_key;
use crate::model::Fingerprint;
use crate::words::for_each_word;

/// Words per shingle.
const SHINGLE: usize = 4;
/// MinHash bins (one bit each in a `u64`); split into [`BANDS`] bands of `HASHES / BANDS`
/// rows.
pub const HASHES: usize = 64;
const _: () = assert!(HASHES == 64 && HASHES % BANDS == 0);
/// LSH bands: two items are candidates when any band matches (about 99 % at similarity 0.7,
/// about 12 % at 0.3).
pub const BANDS: usize = 16;
/// Below this many words a body is too short to compare by its word 4-grams (it has no LSH
/// bands either): see [`judge`](fn@super::judge).
pub const SHORT_WORDS: usize = 50;

/// Whether an item is news, the only items compared with other feeds' items: its own date
/// (published, else updated; an undated item counts as dated when first seen, `now`) is at or
/// after `since`, the start of `[dedupe] window`. Wire copies appear within hours of each
/// other; the weeks-old items of a feed's first poll (most of a first import) are not news
/// anyone copies next, and fingerprinting and indexing them would make the index grow with
/// the feeds imported instead of with the news of the window.
pub fn is_news(date: Option<DateTime<Utc>>, now: DateTime<Utc>, since: DateTime<Utc>) -> bool {
    date.unwrap_or(now) >= since
}

/// The hash of a word's lower-case form, without a string for the common ASCII case (this
/// runs over every word ingested).
pub(super) fn word_hash(w: &str) -> u64 {
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

/// The distinct shingle hashes of a text, sorted (compared by a merge, without hashing).
pub(super) fn shingles(hashes: &[u64]) -> Vec<u64> {
    sorted_set(shingle_hashes(hashes).collect())
}

pub(super) fn sorted_set(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v.dedup();
    v
}

/// How many values two sorted sets share.
pub(super) fn shared(a: &[u64], b: &[u64]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// SplitMix64's finaliser: every input bit reaches every output bit.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
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
        let title_key = title_key(title);
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

#[cfg(test)]
pub(super) mod tests {
    use std::collections::HashSet;

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

    /// A text of `n` words from a small pool, for comparisons that need many words.
    pub(in crate::dedupe) fn story(n: usize, salt: &str) -> String {
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
