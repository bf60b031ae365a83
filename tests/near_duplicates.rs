//! One story, one item: near-duplicate detection across feeds, end to end and on a labelled
//! set of pairs (`tests/fixtures/near_duplicates.json`), whose precision and recall are
//! printed.

mod common;

use common::{Env, item, merged, poll};
use feedmerge::normalize::fingerprint::{self, Doc};
use feedmerge::normalize::text;

fn paragraphs(sentences: &[&str]) -> String {
    sentences.iter().map(|s| format!("<p>{s}</p>")).collect()
}

const WIRE: &[&str] = &[
    "The regional council voted on Tuesday evening to rebuild the Old Mill bridge, which has been closed to traffic since a flood damaged two of its piers last autumn.",
    "Engineers told councillors that the structure could not be repaired safely and that a new span, built on the existing abutments, would cost about 14 million euros.",
    "Work is expected to start in the spring and to take eighteen months, during which a temporary footbridge will carry pedestrians and cyclists across the river.",
    "Shop owners on both banks have complained for months that the closure has cut their trade, and several welcomed the decision while asking for a faster timetable.",
    "The mayor said the council had chosen the slower option because it would keep the bridge open to buses once complete and would not need to be revisited in twenty years.",
    "Opposition members criticised the cost and asked why the repairs had not been planned before the flood, when inspections had already found cracks in one of the piers.",
];

fn feed(title: &str, items: &[(&str, &str, String)]) -> Vec<u8> {
    let mut xml = format!(r#"<rss version="2.0"><channel><title>{title}</title>"#);
    for (guid, item_title, body) in items {
        xml.push_str(&format!(
            "<item><guid>{guid}</guid><title>{item_title}</title><link>https://{guid}.example.org/story</link>\
             <description><![CDATA[{body}]]></description></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

#[tokio::test]
async fn a_republished_story_is_shown_once_and_names_the_other_source() {
    let env = Env::new().await;
    let story = paragraphs(WIRE);
    let republished = format!(
        "<p>LONDON (Wire) —</p>{story}<p>This article originally appeared on the Wire service. Follow us for more local news.</p>"
    );
    let mut follow_up: Vec<&str> = WIRE[2..].to_vec();
    follow_up.insert(0, "A day after the vote, the council published the tender for the new Old Mill bridge and said three firms had already asked for the plans.");
    env.serve_bytes(
        "/a",
        feed(
            "Wire",
            &[("wire-1", "Council votes to rebuild Old Mill bridge", story)],
        ),
        "application/rss+xml",
    )
    .await;
    env.serve_bytes(
        "/b",
        feed(
            "City News",
            &[
                (
                    "city-1",
                    "Council votes to rebuild the Old Mill bridge",
                    republished,
                ),
                ("city-2", "Old Mill bridge: day 2", paragraphs(&follow_up)),
            ],
        ),
        "application/rss+xml",
    )
    .await;
    // The wire had it first.
    poll(&env.config(&[env.url("/a")])).await;
    let cfg = env.config(&[env.url("/a"), env.url("/b")]);
    assert_eq!(poll(&cfg).await.items_new, 2);
    let ch = merged(&cfg).await;
    let titles: Vec<&str> = ch.items().iter().map(|i| i.title().unwrap()).collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    let story = item(&ch, "Council votes to rebuild Old Mill bridge");
    assert_eq!(story.source().unwrap().title(), Some("Wire"));
    assert!(
        story
            .description()
            .unwrap()
            .ends_with("<p>Also in: City News</p>"),
        "{:?}",
        story.description()
    );
    item(&ch, "Old Mill bridge: day 2"); // a follow-up is its own story

    let merges = feedmerge::app::recent_merges(&cfg, 10).await.unwrap();
    assert_eq!(merges.len(), 1);
    assert_eq!(
        (merges[0].copy_feed.as_str(), merges[0].story_feed.as_str()),
        ("City News", "Wire")
    );
    assert!(merges[0].similarity > 0.7, "{}", merges[0].similarity);

    // Turned off, every copy is shown.
    let env2 = Env::new().await;
    for (p, body) in ["/a", "/b"].iter().zip([env.url("/a"), env.url("/b")]) {
        let bytes = common::http_client()
            .get(&body)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        env2.serve_bytes(p, bytes.to_vec(), "application/rss+xml")
            .await;
    }
    let off = env2.config_with(
        &[env2.url("/a"), env2.url("/b")],
        "[dedupe]\nnear_duplicates = false",
    );
    poll(&off).await;
    assert_eq!(merged(&off).await.items().len(), 3);
    // Nothing is fingerprinted while it is off; every new item is while it is on.
    assert_eq!(fingerprints(&off), 0);
    assert_eq!(fingerprints(&cfg), 3);
}

/// Rows of the near-duplicate index's table.
fn fingerprints(cfg: &feedmerge::config::Config) -> i64 {
    rusqlite::Connection::open(&cfg.storage.path)
        .unwrap()
        .query_row("SELECT count(*) FROM item_fingerprints", [], |r| r.get(0))
        .unwrap()
}

#[derive(serde::Deserialize)]
struct Set {
    pairs: Vec<Pair>,
}

#[derive(serde::Deserialize)]
struct Pair {
    id: String,
    label: String,
    kind: String,
    /// `tune` or `heldout` (`near_duplicates_wide.json` only).
    #[serde(default)]
    split: Option<String>,
    a: Side,
    b: Side,
}

#[derive(serde::Deserialize)]
struct Side {
    title: String,
    link: String,
    body: String,
}

fn labelled(name: &str) -> Vec<Pair> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let set: Set = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    set.pairs
}

/// How the judgement (and the index before it) did on some labelled pairs.
#[derive(Debug, Default)]
struct Score {
    merged: usize,
    missed: usize,
    false_merges: usize,
    kept_apart: usize,
    /// True copies that share no band and no title key: the index would not propose them.
    unproposed: usize,
    wrong: Vec<String>,
}

impl Score {
    fn of<'a>(pairs: impl IntoIterator<Item = &'a Pair>) -> Score {
        let mut s = Score::default();
        for p in pairs {
            let (ta, tb) = (text::visible(&p.a.body).text, text::visible(&p.b.body).text);
            let a = Doc {
                title: &p.a.title,
                text: &ta,
                link: Some(&p.a.link),
            };
            let b = Doc {
                title: &p.b.title,
                text: &tb,
                link: Some(&p.b.link),
            };
            let verdict = fingerprint::judge(&a, &b, feedmerge::config::DEFAULT_NEAR_THRESHOLD);
            // The judgement does not depend on which side came first.
            assert_eq!(
                verdict.is_some(),
                fingerprint::judge(&b, &a, feedmerge::config::DEFAULT_NEAR_THRESHOLD).is_some(),
                "{} is judged differently the other way round",
                p.id
            );
            let duplicate = p.label == "duplicate";
            match (duplicate, &verdict) {
                (true, Some(_)) => s.merged += 1,
                (false, Some(v)) => {
                    s.false_merges += 1;
                    s.wrong
                        .push(format!("false merge {} ({}) on {v:?}", p.id, p.kind));
                }
                (true, None) => {
                    s.missed += 1;
                    s.wrong.push(format!("missed {} ({})", p.id, p.kind));
                }
                (false, None) => s.kept_apart += 1,
            }
            if duplicate {
                let (fa, fb) = (
                    fingerprint::fingerprint(&p.a.title, &ta),
                    fingerprint::fingerprint(&p.b.title, &tb),
                );
                if fa.title_key != fb.title_key && !fa.bands.iter().any(|x| fb.bands.contains(x)) {
                    s.unproposed += 1;
                    s.wrong.push(format!("not proposed {} ({})", p.id, p.kind));
                }
            }
        }
        s
    }

    fn precision(&self) -> f64 {
        self.merged as f64 / (self.merged + self.false_merges).max(1) as f64
    }

    fn recall(&self) -> f64 {
        self.merged as f64 / (self.merged + self.missed).max(1) as f64
    }

    fn print(&self, what: &str) {
        println!(
            "near duplicates, {what}: precision {:.3}, recall {:.3} ({} merged, {} missed, {} false merges, {} kept apart; {} copies the index would not propose)",
            self.precision(),
            self.recall(),
            self.merged,
            self.missed,
            self.false_merges,
            self.kept_apart,
            self.unproposed,
        );
        for w in &self.wrong {
            println!("  {w}");
        }
    }
}

#[test]
fn precision_and_recall_on_the_labelled_pairs() {
    let pairs = labelled("near_duplicates.json");
    assert!(pairs.len() >= 60);
    let score = Score::of(&pairs);
    score.print(&format!("{} labelled pairs", pairs.len()));
    assert_eq!(
        score.false_merges, 0,
        "a false merge hides news: {:?}",
        score.wrong
    );
    assert!(
        score.recall() >= 0.9,
        "recall {:.3}: {:?}",
        score.recall(),
        score.wrong
    );
}

/// The tuning part of the wide set: what the thresholds were chosen on.
#[test]
fn precision_and_recall_on_the_wide_set_tuning_part() {
    let pairs = labelled("near_duplicates_wide.json");
    let tune: Vec<&Pair> = pairs
        .iter()
        .filter(|p| p.split.as_deref() == Some("tune"))
        .collect();
    let score = Score::of(tune.iter().copied());
    score.print(&format!("wide set, tuning part ({} pairs)", tune.len()));
    assert_eq!(
        score.false_merges, 0,
        "a false merge hides news: {:?}",
        score.wrong
    );
    assert!(
        score.recall() >= 0.95,
        "recall {:.3}: {:?}",
        score.recall(),
        score.wrong
    );
}

/// The held-out part of the wide set: stories the thresholds were never tuned on. Its
/// precision and recall are the figures to quote.
#[test]
fn precision_and_recall_on_the_wide_set_held_out_part() {
    let pairs = labelled("near_duplicates_wide.json");
    let held_out: Vec<&Pair> = pairs
        .iter()
        .filter(|p| p.split.as_deref() == Some("heldout"))
        .collect();
    assert!(pairs.len() >= 200 && held_out.len() >= 60);
    let score = Score::of(held_out.iter().copied());
    score.print(&format!(
        "wide set, held-out part ({} pairs)",
        held_out.len()
    ));
    assert_eq!(
        score.false_merges, 0,
        "a false merge hides news: {:?}",
        score.wrong
    );
    assert!(
        score.recall() >= 0.95,
        "recall {:.3}: {:?}",
        score.recall(),
        score.wrong
    );
}
