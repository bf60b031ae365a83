//! Headlines as near-duplicate detection compares them: without the prefixes outlets add,
//! a site name after `|`, case, punctuation and number style; the hash a title is indexed
//! by; and whether two titles keep their items apart whatever the texts say.

use std::collections::HashSet;

use xxhash_rust::xxh3::xxh3_64;

use super::numbers;
use crate::words::words;

fn jaccard<T: std::hash::Hash + Eq>(a: &HashSet<T>, b: &HashSet<T>) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    a.intersection(b).count() as f64 / a.union(b).count() as f64
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
pub(super) struct Title {
    /// Its words after [`bare_title`], lower-cased, numbers in one style.
    tokens: Vec<String>,
    /// It announces a correction or a similar notice.
    notice: bool,
}

impl Title {
    pub(super) fn of(title: &str) -> Title {
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
pub(super) enum Titles {
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

pub(super) fn compare_titles(a: &Title, b: &Title) -> Titles {
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

/// The hash a title is indexed by: two titles that [`judge`](fn@super::judge) finds the same share it.
pub(super) fn title_key(title: &str) -> u32 {
    xxh3_64(Title::of(title).tokens.join(" ").as_bytes()) as u32
}

/// The title part of [`judge`](fn@super::judge), cheap enough to filter candidates before their text is
/// read: false when the titles alone keep two items apart (the same headline with other
/// numbers, or a correction notice on one side only).
pub fn titles_compatible(a: &str, b: &str) -> bool {
    compare_titles(&Title::of(a), &Title::of(b)) != Titles::Apart
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
