//! The judgement of whether two items are one story: their titles ([`super::title`]),
//! texts (word 4-grams, or the words of short texts, numbers in one style) and link slugs.
//! Conservative: a false merge hides news, a missed one only shows a copy.

use std::collections::HashSet;

use xxhash_rust::xxh3::xxh3_64;

use super::fingerprint::{SHORT_WORDS, shared, shingles, sorted_set, word_hash};
use super::numbers;
use super::title::{Title, Titles, compare_titles};
use crate::model::{Evidence, Verdict};
use crate::words::words;

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

/// Share of the shorter text's shingles found in the longer one from which the two are one
/// article with something added or cut.
pub const CONTAINMENT: f64 = 0.9;

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

#[cfg(test)]
mod tests {
    use super::super::fingerprint::tests::story;
    use super::*;

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
}
