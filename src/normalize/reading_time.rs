//! Reading time: visible text and image count → "N min read" ([`ReadingTime`]). Words by Unicode
//! word boundaries (UAX #29, [`crate::words`]); Han, Hiragana, Katakana and Hangul counted per
//! character.

use crate::config::ReadingTimeConfig;
use crate::model::{ReadingTime, TextSource};
use crate::words::count_words;

/// Seconds added for the first image; each next one takes a second less, down to
/// [`MIN_IMAGE_SECONDS`] from the tenth image on (Medium's rule, widely copied).
pub const FIRST_IMAGE_SECONDS: u64 = 12;
/// Seconds added for the tenth image and every one after it.
pub const MIN_IMAGE_SECONDS: u64 = 3;

/// Estimates how long `text` (with `images` images) takes to read.
pub fn estimate(
    text: &str,
    images: u32,
    source: TextSource,
    cfg: &ReadingTimeConfig,
) -> ReadingTime {
    let (words, cjk_chars) = count(text);
    from_counts(WordCount { words, cjk_chars }, images, source, cfg)
}

/// [`estimate`] from words already counted.
pub fn from_counts(
    counted: WordCount,
    images: u32,
    source: TextSource,
    cfg: &ReadingTimeConfig,
) -> ReadingTime {
    let WordCount { words, cjk_chars } = counted;
    let image_seconds: u64 = (0..u64::from(images))
        .map(|i| FIRST_IMAGE_SECONDS.saturating_sub(i).max(MIN_IMAGE_SECONDS))
        .sum();
    // minutes = words/wpm + cjk/cpm + image_seconds/60, computed exactly over a common
    // denominator so that 2.0 minutes is 2, not 3 after a rounding error.
    let wpm = u64::from(cfg.words_per_minute.max(1));
    let cpm = u64::from(cfg.cjk_chars_per_minute.max(1));
    let denominator = wpm * cpm * 60;
    let numerator =
        u64::from(words) * cpm * 60 + u64::from(cjk_chars) * wpm * 60 + image_seconds * wpm * cpm;
    let minutes = numerator.div_ceil(denominator).max(1);
    ReadingTime {
        minutes: u32::try_from(minutes).unwrap_or(u32::MAX),
        words,
        cjk_chars,
        images,
        source,
    }
}

/// Counts (words, CJK characters). A word made only of CJK characters counts as characters; a
/// word mixing them (`東京2024`) counts its CJK characters and one word for the rest.
pub fn count(text: &str) -> (u32, u32) {
    let counted = WordCount::of(text);
    (counted.words, counted.cjk_chars)
}

/// Words and CJK characters counted one word at a time (see [`count`]), so that the count
/// can share a pass over the text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WordCount {
    /// Words outside CJK scripts.
    pub words: u32,
    /// Han, Hiragana, Katakana and Hangul characters.
    pub cjk_chars: u32,
}

impl WordCount {
    /// The words and CJK characters of `text` (see [`count`]). The ASCII stretches' words
    /// are counted without being found one by one ([`count_words`]).
    pub fn of(text: &str) -> Self {
        let mut counted = Self::default();
        let ascii = count_words(text, |word, ascii| counted.add(word, ascii));
        counted.words = counted
            .words
            .saturating_add(u32::try_from(ascii).unwrap_or(u32::MAX));
        counted
    }

    /// Counts one word; `ascii`: it is ASCII.
    pub fn add(&mut self, word: &str, ascii: bool) {
        if ascii {
            self.words = self.words.saturating_add(1);
            return;
        }
        let mut word_cjk = 0u32;
        let mut other = false;
        for c in word.chars() {
            if is_cjk(c) {
                word_cjk += 1;
            } else if c.is_alphanumeric() {
                other = true;
            }
        }
        self.cjk_chars = self.cjk_chars.saturating_add(word_cjk);
        if other || word_cjk == 0 {
            self.words = self.words.saturating_add(1);
        }
    }
}

/// Han (CJK ideographs and extensions), Hiragana, Katakana and Hangul.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x309F       // Hiragana
        | 0x30A0..=0x30FF     // Katakana
        | 0x31F0..=0x31FF     // Katakana phonetic extensions
        | 0xFF66..=0xFF9D     // half-width Katakana
        | 0x3400..=0x4DBF     // CJK extension A
        | 0x4E00..=0x9FFF     // CJK unified ideographs
        | 0xF900..=0xFAFF     // CJK compatibility ideographs
        | 0x20000..=0x3FFFF   // CJK extensions B and later
        | 0x1100..=0x11FF     // Hangul Jamo
        | 0x3130..=0x318F     // Hangul compatibility Jamo
        | 0xAC00..=0xD7AF     // Hangul syllables
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(text: &str, images: u32) -> u32 {
        estimate(
            text,
            images,
            TextSource::Content,
            &ReadingTimeConfig::default(),
        )
        .minutes
    }

    fn words(n: usize) -> String {
        vec!["word"; n].join(" ")
    }

    #[test]
    fn minutes_are_rounded_up_and_at_least_one() {
        assert_eq!(minutes("", 0), 1);
        assert_eq!(minutes(&words(238), 0), 1);
        assert_eq!(minutes(&words(239), 0), 2);
        assert_eq!(minutes(&words(313), 0), 2);
        assert_eq!(minutes(&words(1500), 0), 7);
    }

    #[test]
    fn images_add_twelve_seconds_down_to_three() {
        // 10 images: 12+11+...+3 = 75 s; 12 images: 75 + 3 + 3 = 81 s.
        let cfg = ReadingTimeConfig {
            words_per_minute: 60,
            cjk_chars_per_minute: 60,
            ..ReadingTimeConfig::default()
        };
        let secs = |n| estimate("", n, TextSource::Content, &cfg);
        assert_eq!(secs(10).minutes, 2);
        // 45 words at 60 wpm = 45 s; + 10 images = 120 s exactly = 2 min.
        assert_eq!(
            estimate(&words(45), 10, TextSource::Content, &cfg).minutes,
            2
        );
        assert_eq!(
            estimate(&words(46), 10, TextSource::Content, &cfg).minutes,
            3
        );
        // 39 words + 12 images = 39 + 81 = 120 s.
        assert_eq!(
            estimate(&words(39), 12, TextSource::Content, &cfg).minutes,
            2
        );
        assert_eq!(
            estimate(&words(40), 12, TextSource::Content, &cfg).minutes,
            3
        );
    }

    #[test]
    fn cjk_is_counted_per_character() {
        assert_eq!(count("日本語のニュース"), (0, 8));
        assert_eq!(count("한국어 문장"), (0, 5));
        assert_eq!(count("東京2024 and Don't stop"), (4, 2));
        let han = "字".repeat(1000);
        assert_eq!(minutes(&han, 0), 2);
        assert_eq!(minutes(&"字".repeat(1001), 0), 3);
    }
}
