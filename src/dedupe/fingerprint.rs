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

use super::numbers;
use crate::model::{Evidence, Fingerprint, Verdict};
use crate::words::{for_each_word, words};

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
/// Below this many words a body is too short to compare by its word 4-grams (it has no LSH
/// bands either): see [`judge`].
pub const SHORT_WORDS: usize = 50;

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
fn shingles(hashes: &[u64]) -> Vec<u64> {
    sorted_set(shingle_hashes(hashes).collect())
}

fn sorted_set(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v.dedup();
    v
}

/// How many values two sorted sets share.
fn shared(a: &[u64], b: &[u64]) -> usize {
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

fn jaccard<T: std::hash::Hash + Eq>(a: &HashSet<T>, b: &HashSet<T>) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    a.intersection(b).count() as f64 / a.union(b).count() as f64
}

/// The last meaningful segment of a link's path (`bridge-reopens` of
/// `https://x.example/2024/05/bridge-reopens.html` or of `.../bridge-reopens/amp`), when it
/// words the headline.
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
    // Only a slug that words a headline says which story it is: a number, an id or one
    // word ("index", "story", "1") names a different article at each site.
    let worded = stem
        .split(['-', '_', '+'])
        .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2)
        .count()
        >= MIN_SLUG_WORDS;
    worded.then(|| stem.to_lowercase())
}

/// Words (of two letters or more) a link's last path segment needs to count as a slug.
const MIN_SLUG_WORDS: usize = 2;

/// The date a link's path carries, as `yyyymmdd`: `/2024/05/01/`, `/2024-05-01/` or
/// `...-20240501`. Daily items (a forecast, a briefing) keep their slug and change only this.
fn path_date(link: &str) -> Option<u32> {
    let url = url::Url::parse(link).ok()?;
    let numbers: Vec<&str> = url
        .path()
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .collect();
    let date = |y: &str, m: &str, d: &str| -> Option<u32> {
        let (y, m, d): (u32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
        ((1990..2200).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d))
            .then_some(y * 10_000 + m * 100 + d)
    };
    numbers
        .windows(3)
        .find_map(|w| (w[0].len() == 4).then(|| date(w[0], w[1], w[2])).flatten())
        .or_else(|| {
            numbers.iter().find_map(|n| {
                (n.len() == 8)
                    .then(|| date(&n[..4], &n[4..6], &n[6..]))
                    .flatten()
            })
        })
}

/// Both links end in the same slug, and their paths do not carry different dates.
fn same_slug(a: Option<&str>, b: Option<&str>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return false;
    };
    let dates_differ = matches!((path_date(a), path_date(b)), (Some(x), Some(y)) if x != y);
    !dates_differ && slug(a).is_some_and(|s| Some(s) == slug(b))
}

/// Title words that mark a separate notice about a story, never the story itself.
const NOTICE_WORDS: &[&str] = &[
    "correction",
    "corrections",
    "corrected",
    "clarification",
    "retraction",
    "editor's",
];

/// What outlets put before a headline, followed by `:`, `-` or `|` (and, for a wire's later
/// versions, a number: "UPDATE 2-"): the story is the same without it. Longest first.
const TITLE_PREFIXES: &[&str] = &[
    "breaking news",
    "live updates",
    "developing",
    "exclusive",
    "breaking",
    "updated",
    "just in",
    "update",
    "urgent",
    "latest",
    "watch",
    "video",
    "live",
    "new",
];

/// Words of a site name after the last ` | ` of a headline ("… | The Herald"), at most.
const SITE_SUFFIX_WORDS: usize = 4;

/// `title` without the prefixes of [`TITLE_PREFIXES`] and without a site name after a
/// final ` | `.
fn bare_title(title: &str) -> &str {
    let mut t = title.trim();
    'prefixes: for _ in 0..3 {
        for p in TITLE_PREFIXES {
            let Some(head) = t.get(..p.len()) else {
                continue;
            };
            if !head.eq_ignore_ascii_case(p) {
                continue;
            }
            let rest = t[p.len()..]
                .trim_start()
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start();
            if let Some(rest) = rest.strip_prefix([':', '-', '|', '\u{2013}', '\u{2014}']) {
                t = rest.trim_start();
                continue 'prefixes;
            }
        }
        break;
    }
    if let Some((head, site)) = t.rsplit_once(" | ") {
        if words(site).len() <= SITE_SUFFIX_WORDS && !words(head).is_empty() {
            t = head.trim_end();
        }
    }
    t
}

/// A title as the judgement compares it.
#[derive(Debug)]
struct Title {
    /// Its words after [`bare_title`], lower-cased, numbers in one style.
    tokens: Vec<String>,
    /// It announces a correction or a similar notice.
    notice: bool,
}

impl Title {
    fn of(title: &str) -> Title {
        let notice = words(title)
            .iter()
            .any(|w| NOTICE_WORDS.contains(&numbers::lowercase(w).as_ref()));
        let tokens = numbers::tokens(&words(bare_title(title)))
            .iter()
            .map(|t| t.text().into_owned())
            .collect();
        Title { tokens, notice }
    }

    fn words(&self) -> HashSet<&str> {
        self.tokens
            .iter()
            .filter(|t| !t.starts_with('#'))
            .map(String::as_str)
            .collect()
    }

    fn numbers(&self) -> HashSet<&str> {
        self.tokens
            .iter()
            .filter(|t| t.starts_with('#'))
            .map(String::as_str)
            .collect()
    }
}

/// How two titles compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Titles {
    /// The same words and numbers, in the same order.
    Same,
    /// Nearly the same words, and the numbers of one among those of the other.
    Near,
    /// Different headlines: they say nothing either way.
    Different,
    /// The same headline with other numbers (day 3 and day 4, this month's figures and last
    /// month's), or a correction notice on one side only: never the same story.
    Apart,
}

/// Share of the words (numbers aside) two headlines must have in common to be nearly the
/// same.
const TITLE_NEAR: f64 = 0.6;

fn compare_titles(a: &Title, b: &Title) -> Titles {
    if a.notice != b.notice {
        return Titles::Apart;
    }
    if a.tokens == b.tokens {
        return Titles::Same;
    }
    if jaccard(&a.words(), &b.words()) < TITLE_NEAR {
        return Titles::Different;
    }
    let (na, nb) = (a.numbers(), b.numbers());
    if na.is_subset(&nb) || nb.is_subset(&na) {
        Titles::Near
    } else {
        Titles::Apart
    }
}

/// The hash a title is indexed by: two titles that [`judge`] finds the same share it.
fn title_key(title: &str) -> u32 {
    xxh3_64(Title::of(title).tokens.join(" ").as_bytes()) as u32
}

/// Texts of at least this many words can carry a merge on their own, when the titles were
/// reworded: enough sentences that a shared template or background cannot reach
/// [`BODY_ALONE`].
pub const BODY_ALONE_WORDS: usize = 100;
/// Similarity of word 4-grams from which texts are the same article whatever the titles
/// say: a copy with a few words edited and a line added, not a follow-up that reuses
/// background paragraphs.
pub const BODY_ALONE: f64 = 0.8;
/// Share of their words two short texts (under [`SHORT_WORDS`]) must have in common, with
/// the same title, to be one brief.
pub const SHORT_AGREE: f64 = 0.6;
/// Below this many words a short text says nothing (a title-only item): the title and the
/// link's slug decide.
pub const EMPTY_WORDS: usize = 8;

/// The hashes of a text's words, numbers in one style, for comparing two texts.
fn token_hashes(text: &str) -> Vec<u64> {
    numbers::tokens(&words(text))
        .iter()
        .map(|t| match t {
            numbers::Token::Word(w) if w.is_ascii() => word_hash(w),
            numbers::Token::Word(w) => word_hash(&numbers::lowercase(w)),
            n => xxh3_64(n.text().as_bytes()),
        })
        .collect()
}

/// The numbers of a text, in one style.
fn number_set(text: &str) -> HashSet<String> {
    numbers::tokens(&words(text))
        .iter()
        .filter(|t| matches!(t, numbers::Token::Number(_)))
        .map(|t| t.text().into_owned())
        .collect()
}

/// Whether `a` and `b` are the same story, and why. Conservative: a false merge hides news,
/// a missed one only shows a copy.
///
/// Titles are compared without the prefixes outlets add ("UPDATE:", "Breaking:",
/// "Exclusive:", "LIVE:"), a site name after `|`, case, punctuation and number style
/// ("fourteen" is "14", "3.1 percent" is "3.1%"). The same headline with other numbers (day 3
/// and day 4), or a correction notice on one side only, is never the same story. Then:
/// - texts too short to compare (under [`SHORT_WORDS`] words) need the same title, the same
///   words ([`SHORT_AGREE`]) and no other numbers, or, when there is no text to speak of,
///   the same link slug without a different date in the path;
/// - with the same or nearly the same title, the texts must be highly similar (`threshold`;
///   0.1 more under 150 words unless the titles are the same), or one contained in the
///   other but for a few phrases (a dateline, a byline, a footer added or cut);
/// - with different titles, the texts alone decide: at least [`BODY_ALONE_WORDS`] words
///   each and [`BODY_ALONE`] similar, or `threshold` similar with the same link slug.
pub fn judge(a: &Doc<'_>, b: &Doc<'_>, threshold: f64) -> Option<Verdict> {
    let titles = compare_titles(&Title::of(a.title), &Title::of(b.title));
    if titles == Titles::Apart {
        return None;
    }
    let slug = same_slug(a.link, b.link);
    let (wa, wb) = (token_hashes(a.text), token_hashes(b.text));
    let shortest = wa.len().min(wb.len());
    if shortest < SHORT_WORDS {
        if titles != Titles::Same {
            return None;
        }
        if shortest < EMPTY_WORDS {
            let evidence = Evidence {
                title: true,
                body: false,
                slug: true,
            };
            return slug.then_some(Verdict {
                similarity: 1.0,
                evidence,
            });
        }
        // Briefs on one template (this month's figures and last month's) differ in their
        // numbers.
        let (na, nb) = (number_set(a.text), number_set(b.text));
        if !(na.is_subset(&nb) || nb.is_subset(&na)) {
            return None;
        }
        let (sa, sb) = (sorted_set(wa), sorted_set(wb));
        let common = shared(&sa, &sb);
        // A teaser and the full article: the teaser's words are in the article.
        let similarity = if sa.len().max(sb.len()) >= SHORT_WORDS * 2 {
            common as f64 / sa.len().min(sb.len()).max(1) as f64
        } else {
            common as f64 / (sa.len() + sb.len() - common).max(1) as f64
        };
        let evidence = Evidence {
            title: true,
            body: true,
            slug,
        };
        return (similarity >= SHORT_AGREE).then_some(Verdict {
            similarity,
            evidence,
        });
    }
    let (sa, sb) = (shingles(&wa), shingles(&wb));
    let shared = shared(&sa, &sb);
    let similarity = shared as f64 / (sa.len() + sb.len() - shared).max(1) as f64;
    let containment = shared as f64 / sa.len().min(sb.len()).max(1) as f64;
    let title_agrees = titles != Titles::Different;
    // Shorter texts need a higher bar, a shared paragraph weighs more in them, unless the
    // headlines are the same.
    let bar = if shortest < 150 && titles != Titles::Same {
        (threshold + 0.1).min(0.95)
    } else {
        threshold
    };
    let verdict = |similarity: f64| {
        Some(Verdict {
            similarity,
            evidence: Evidence {
                title: title_agrees,
                body: true,
                slug,
            },
        })
    };
    if title_agrees || slug {
        if similarity >= bar {
            return verdict(similarity);
        }
        // One text inside the other, all but a few phrases: the same article with a
        // dateline, a byline, a newsletter footer or a related-links box added or cut. (A
        // follow-up that repeats the background paragraphs shares about half, far below
        // this.)
        if title_agrees && containment >= CONTAINMENT {
            return verdict(containment);
        }
    }
    (shortest >= BODY_ALONE_WORDS && similarity >= BODY_ALONE).then(|| verdict(similarity))?
}

/// The title part of [`judge`], cheap enough to filter candidates before their text is
/// read: false when the titles alone keep two items apart (the same headline with other
/// numbers, or a correction notice on one side only).
pub fn titles_compatible(a: &str, b: &str) -> bool {
    compare_titles(&Title::of(a), &Title::of(b)) != Titles::Apart
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
    fn title_only_items_need_the_same_title_and_slug_and_no_other_date() {
        let a = doc(
            "Bridge reopens",
            "",
            "https://a.example/2024/05/01/bridge-reopens",
        );
        let b = doc(
            "Bridge reopens",
            "",
            "https://b.example/news/bridge-reopens.html",
        );
        let c = doc("Bridge reopens", "", "https://b.example/news/other-slug");
        let next_day = doc(
            "Bridge reopens",
            "",
            "https://a.example/2024/05/02/bridge-reopens",
        );
        let v = judge(&a, &b, 0.7).unwrap();
        assert_eq!(v.similarity, 1.0);
        assert_eq!(v.evidence.names(), "title,slug");
        assert_eq!(judge(&a, &c, 0.7), None);
        assert_eq!(judge(&a, &next_day, 0.7), None, "another day's item");
        assert_eq!(
            path_date("https://x.example/briefing/2024-05-14-morning"),
            Some(20240514)
        );
        assert_eq!(
            path_date("https://x.example/a/ruling-20240312"),
            Some(20240312)
        );
        assert_eq!(path_date("https://x.example/a/2024/99/bridge"), None);
    }

    #[test]
    fn only_a_worded_slug_counts() {
        assert_eq!(
            slug("https://a.example/2024/05/bridge-reopens.html").as_deref(),
            Some("bridge-reopens")
        );
        assert_eq!(
            slug("https://a.example/news/uk-politics-68123456").as_deref(),
            Some("uk-politics-68123456")
        );
        for id in [
            "https://a.example/f123/1",
            "https://a.example/article/68123456",
            "https://a.example/news/story.html",
            "https://a.example/p/a1-b2",
        ] {
            assert_eq!(slug(id), None, "{id}");
        }
        // The same long text at two sites, under other titles, with links that end in the
        // same number: two items of a template, not one story by its slug.
        let body = story(70, "");
        let a = doc("f123 1", &body, "https://example.org/f123/1");
        let b = doc("f128 1", &body, "https://example.org/f128/1");
        assert_eq!(judge(&a, &b, 0.7), None);
    }

    #[test]
    fn short_texts_need_the_same_title_words_and_numbers() {
        let text = "The A614 between Rexham and Ashby reopened on Monday after three weeks of resurfacing work.";
        let brief = doc("A614 reopens", text, "https://a.example/briefs/a614");
        let edited = doc(
            "UPDATE: A614 reopens",
            "The A614 between Rexham and Ashby has reopened after 3 weeks of resurfacing work.",
            "https://b.example/travel/road-news",
        );
        let v = judge(&brief, &edited, 0.7).unwrap();
        assert_eq!(v.evidence.names(), "title,body");
        let other_road = doc(
            "A614 reopens",
            "Church Street in Rexham will be closed until Friday while engineers repair a burst water main.",
            "https://a.example/briefs/a614",
        );
        assert_eq!(
            judge(&brief, &other_road, 0.7),
            None,
            "the same slug, other words"
        );
        let next_month = doc(
            "A614 reopens",
            "The A614 between Rexham and Ashby reopened on Monday after four weeks of resurfacing work.",
            "https://a.example/briefs/a614",
        );
        assert_eq!(judge(&brief, &next_month, 0.7), None, "other numbers");
        // A teaser and the article it opens.
        let long = format!("{text} {}", story(200, ""));
        let article = doc("A614 reopens", &long, "https://c.example/x");
        assert!(judge(&brief, &article, 0.7).is_some());
    }

    #[test]
    fn titles_are_compared_without_prefixes_site_names_and_number_style() {
        let same = [
            ("UPDATE 2-Storm closes ports", "Storm closes ports"),
            ("Breaking: Storm closes ports", "storm closes ports"),
            ("LIVE UPDATES: Storm closes ports", "Storm closes ports"),
            (
                "Exclusive \u{2013} Storm closes ports",
                "Storm closes ports",
            ),
            (
                "Storm closes ports | The Harbour Gazette",
                "Storm closes ports",
            ),
            ("Storm closes fourteen ports", "Storm closes 14 ports"),
            ("Inflation falls to 3.1 percent", "Inflation falls to 3.1%"),
            (
                "Council\u{2019}s budget: \u{201c}no choice\u{201d}",
                "Council's budget - no choice",
            ),
        ];
        for (a, b) in same {
            assert_eq!(
                compare_titles(&Title::of(a), &Title::of(b)),
                Titles::Same,
                "{a} / {b}"
            );
            assert_eq!(title_key(a), title_key(b), "{a} / {b}");
        }
        let apart = [
            ("Floods live: day 3", "Floods live: day 4"),
            ("Third Test, day one: live", "Third Test, day two: live"),
            ("Correction: storm closes ports", "Storm closes ports"),
            (
                "Editor\u{2019}s note: storm closes ports",
                "Storm closes ports",
            ),
        ];
        for (a, b) in apart {
            assert!(!titles_compatible(a, b), "{a} / {b}");
        }
        // A prefix word without its separator is part of the headline; the numbers of a
        // reworded headline say nothing.
        assert_eq!(
            bare_title("Live music returns to the pier"),
            "Live music returns to the pier"
        );
        assert_eq!(bare_title("New York votes"), "New York votes");
        assert!(titles_compatible(
            "Museum reopens after 4-year refit",
            "2,000 queue at museum"
        ));
    }

    #[test]
    fn texts_alone_decide_when_titles_were_reworded() {
        let body = story(300, "");
        let edited = format!("{body} Photo: city of Clearwater.");
        let a = doc(
            "Council approves bike lanes",
            &body,
            "https://a.example/news/bike-lanes",
        );
        let reworded = doc(
            "Main Street bike lanes win vote",
            &edited,
            "https://b.example/x",
        );
        let v = judge(&a, &reworded, 0.7).unwrap();
        assert_eq!(v.evidence.names(), "body");
        // Half the text shared (a follow-up's background) is not enough without the title.
        let half: String = body.split(' ').take(150).collect::<Vec<_>>().join(" ");
        let other: String = (0..150)
            .map(|i| format!("harbour{} ferry{}", i % 17, i % 5))
            .collect::<Vec<_>>()
            .join(" ");
        let follow_up_text = format!("{half} {other}");
        let follow_up = doc(
            "Bike lane works begin",
            &follow_up_text,
            "https://b.example/y",
        );
        assert_eq!(judge(&a, &follow_up, 0.7), None);
        // A short text cannot carry it alone.
        let short = story(80, "");
        let (s1, s2) = (
            doc("Council approves bike lanes", &short, "https://a.example/1"),
            doc(
                "Main Street bike lanes win vote",
                &short,
                "https://b.example/2",
            ),
        );
        assert_eq!(judge(&s1, &s2, 0.7), None);
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
