//! One story, one item: near-duplicate detection across feeds, end to end (copies polled at
//! once, "Also in" links, `feedmerge merges`) and on labelled pairs
//! (`tests/fixtures/near_duplicates.json`, and the tuning and held-out parts of
//! `near_duplicates_wide.json`), whose precision and recall are printed.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::{Env, item, merged, poll, wait_until};

/// How long a step of a forced interleaving may take: a bug means waiting for ever.
const WAIT: Duration = Duration::from_secs(60);
use feedmerge::app;
use feedmerge::config::Config;
use feedmerge::dedupe::{self, Doc, fingerprint};
use feedmerge::normalize::text;
use feedmerge::scheduler::ScheduledFeed;
use feedmerge::store::Store;
use tokio_util::sync::CancellationToken;

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
            "<item><guid>{guid}</guid><title>{item_title}</title><link>https://{guid}.example.org/the-story</link>\
             <description><![CDATA[{body}]]></description></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

#[tokio::test]
async fn a_republished_story_is_shown_once_and_links_the_other_source() {
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
    // The other source is named and linked to its copy, in every format and on the page.
    assert!(
        story.description().unwrap().ends_with(
            r#"<p>Also in: <a href="https://city-1.example.org/the-story">City News</a></p>"#
        ),
        "{:?}",
        story.description()
    );
    let json: serde_json::Value = serde_json::from_slice(
        &app::render(&cfg, feedmerge::render::Format::Json)
            .await
            .unwrap(),
    )
    .unwrap();
    let shown = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["title"] == "Council votes to rebuild Old Mill bridge")
        .unwrap();
    assert_eq!(
        shown["_feedmerge"]["also_in"],
        serde_json::json!([{"feed_title": "City News", "url": "https://city-1.example.org/the-story"}])
    );
    let store = app::open_store(&cfg).await.unwrap();
    let items = store
        .merged_items(feedmerge::store::Selection::newest(10))
        .await
        .unwrap();
    let channel = feedmerge::render::Channel {
        title: "Merged".into(),
        description: String::new(),
        base_url: url::Url::parse("http://127.0.0.1:8080/").unwrap(),
        path: "feed".into(),
        placement: feedmerge::config::Placement::Description,
        hub: None,
    };
    let page = feedmerge::render::page::render(
        &feedmerge::render::page::Page::new(&channel, &items),
        chrono::Utc::now(),
        &Default::default(),
    );
    assert!(
        page.contains(r#"<p class="also-in">Also in: <a href="https:&#x2f;&#x2f;city-1.example.org&#x2f;the-story">City News</a></p>"#),
        "{page}"
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

/// `feed` with every item dated `date`.
fn dated_feed(
    title: &str,
    items: &[(&str, &str, String)],
    date: chrono::DateTime<chrono::Utc>,
) -> Vec<u8> {
    let xml = String::from_utf8(feed(title, items)).unwrap();
    xml.replace(
        "<item>",
        &format!("<item><pubDate>{}</pubDate>", date.to_rfc2822()),
    )
    .into_bytes()
}

/// Only news is compared: the same story in two feeds under two links is one story when it is
/// dated within the window, and two when it is older (a first poll's back catalogue), which
/// is neither fingerprinted nor indexed.
#[tokio::test]
async fn only_news_is_compared() {
    let env = Env::new().await;
    let now = chrono::Utc::now();
    let story = paragraphs(WIRE);
    let copy = format!("{story}<p>This article originally appeared on the Wire service.</p>");
    for (path, name, guid, title, body, date) in [
        (
            "/old-a",
            "Wire",
            "old-a",
            "Council votes to rebuild Old Mill bridge",
            &story,
            now - chrono::Duration::days(7),
        ),
        (
            "/old-b",
            "City News",
            "old-b",
            "Council votes to rebuild the Old Mill bridge",
            &copy,
            now - chrono::Duration::days(7),
        ),
        (
            "/new-a",
            "Wire",
            "new-a",
            "Old Mill bridge: council picks the slower option",
            &story,
            now - chrono::Duration::hours(1),
        ),
        (
            "/new-b",
            "City News",
            "new-b",
            "Old Mill bridge: the council picks the slower option",
            &copy,
            now - chrono::Duration::hours(1),
        ),
    ] {
        let bytes = dated_feed(name, &[(guid, title, body.clone())], date);
        env.serve_bytes(path, bytes, "application/rss+xml").await;
    }
    let old = env.config(&[env.url("/old-a"), env.url("/old-b")]);
    assert_eq!(poll(&old).await.items_new, 2);
    let titles = |ch: &rss::Channel| {
        let mut t: Vec<String> = ch
            .items()
            .iter()
            .map(|i| i.title().unwrap().to_owned())
            .collect();
        t.sort();
        t
    };
    assert_eq!(
        titles(&merged(&old).await),
        [
            "Council votes to rebuild Old Mill bridge",
            "Council votes to rebuild the Old Mill bridge"
        ],
        "week-old copies are not compared"
    );
    assert_eq!(fingerprints(&old), 0, "old items add nothing to the index");

    // The wire has it first.
    let wire_first = env.config(&[env.url("/old-a"), env.url("/old-b"), env.url("/new-a")]);
    assert_eq!(poll(&wire_first).await.items_new, 1);
    let all = env.config(&[
        env.url("/old-a"),
        env.url("/old-b"),
        env.url("/new-a"),
        env.url("/new-b"),
    ]);
    assert_eq!(poll(&all).await.items_new, 1);
    let ch = merged(&all).await;
    assert_eq!(titles(&ch).len(), 3, "{:?}", titles(&ch));
    let shown = item(&ch, "Old Mill bridge: council picks the slower option");
    assert!(
        shown.description().unwrap().ends_with(
            r#"<p>Also in: <a href="https://new-b.example.org/the-story">City News</a></p>"#
        ),
        "{:?}",
        shown.description()
    );
    assert_eq!(fingerprints(&all), 2, "only the news is fingerprinted");
}

/// Items shown in the merged feed, and for each near-duplicate the item it was shown as:
/// `(id, title, story_of)` of every stored item, in commit order.
fn stored(cfg: &Config) -> Vec<(i64, String, Option<i64>)> {
    let conn = rusqlite::Connection::open(&cfg.storage.path).unwrap();
    let mut stmt = conn
        .prepare("SELECT id, title, story_of FROM items ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Starts one poll of `feed` through the pipeline, as the scheduler would.
fn start_poll(
    ctx: &Arc<feedmerge::pipeline::Context>,
    mut feed: ScheduledFeed,
) -> tokio::task::JoinHandle<()> {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let report = feedmerge::pipeline::refresh_feed(
            &ctx,
            &mut feed.state,
            &feed.policy,
            &feed.reading,
            &CancellationToken::new(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(report.error, None);
    })
}

/// Two feeds carry the same story (the same title and text, other links). Both polls look
/// for candidates before either is written, forced by holding the writer: the copy written
/// second is still found, whether the two are written one after the other or in one group
/// commit, and the story is shown once, from the feed written first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_21_copies_that_look_at_once_still_merge() {
    // See: issue #21, "No race"
    for together in [false, true] {
        let env = Env::new().await;
        let story = paragraphs(WIRE);
        let copy = format!("<p>By City News staff</p>{story}");
        let title = "Council votes to rebuild Old Mill bridge";
        env.serve_bytes(
            "/a",
            feed("Wire", &[("wire-1", title, story)]),
            "application/rss+xml",
        )
        .await;
        env.serve_bytes(
            "/b",
            feed("City News", &[("city-1", title, copy)]),
            "application/rss+xml",
        )
        .await;
        let other = paragraphs(&WIRE[..1]);
        env.serve_bytes(
            "/c",
            feed("Other", &[("other-1", "Unrelated", other)]),
            "application/rss+xml",
        )
        .await;
        let cfg = env.config(&[env.url("/a"), env.url("/b"), env.url("/c")]);
        let store: Store = app::open_store(&cfg).await.unwrap();
        let mut feeds = app::scheduled_feeds(&cfg, &store).await.unwrap();
        let ctx = Arc::new(
            app::context(
                &cfg,
                store.clone(),
                Arc::new(feedmerge::metrics::Metrics::default()),
            )
            .unwrap(),
        );
        let (c, b, a) = (
            feeds.pop().unwrap(),
            feeds.pop().unwrap(),
            feeds.pop().unwrap(),
        );

        let held = store.hold_writer().await;
        let mut polls = Vec::new();
        let mut taken = 0;
        if together {
            // Another feed's poll is taken first, so that both copies queue behind it and
            // are written in the next group commit.
            polls.push(start_poll(&ctx, c));
            taken = 1;
            wait_until("the first poll taken", WAIT, || async {
                store.polls_waiting() == (0, 1)
            })
            .await;
        }
        polls.push(start_poll(&ctx, a));
        if !together {
            // One copy taken by the writer, the other left queued: two commits.
            wait_until("one copy taken", WAIT, || async {
                store.polls_waiting() == (0, 1)
            })
            .await;
            taken = 1;
        }
        polls.push(start_poll(&ctx, b));
        // Both copies have looked for candidates (an empty index) and wait for the writer.
        wait_until("both copies queued", WAIT, || async {
            store.polls_waiting() == (if together { 2 } else { 1 }, taken)
        })
        .await;
        drop(held);
        for poll in polls {
            poll.await.unwrap();
        }

        let rows = stored(&cfg);
        let copies: Vec<_> = rows.iter().filter(|(_, t, _)| t == title).collect();
        assert_eq!(copies.len(), 2, "{rows:?}");
        assert_eq!(
            copies[0].2, None,
            "the first written is the story: {rows:?}"
        );
        assert_eq!(
            copies[1].2,
            Some(copies[0].0),
            "together: {together}, {rows:?}"
        );
        let ch = merged(&cfg).await;
        let titles: Vec<&str> = ch.items().iter().map(|i| i.title().unwrap()).collect();
        assert_eq!(
            titles.iter().filter(|t| **t == title).count(),
            1,
            "{titles:?}"
        );
        let merges = app::recent_merges(&cfg, 10).await.unwrap();
        assert_eq!(merges.len(), 1, "{merges:?}");
    }
}

/// Many feeds carry copies of the same few stories (bylines, footers and title prefixes
/// vary), all polled at once: each story is shown once, and every copy points at the copy
/// committed first, as an import one poll at a time gives. Several runs, since the order in
/// which the polls finish differs each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_from_many_feeds_polled_at_once_are_one_story_each() {
    const FEEDS: usize = 24;
    const RUNS: usize = 4;
    let wide = labelled("near_duplicates_wide.json");
    // Five stories of the wide set, as first published.
    let mut stories: Vec<&Side> = Vec::new();
    for p in &wide {
        if p.label == "duplicate"
            && p.a.body.len() > 1500
            && !stories.iter().any(|s| s.title == p.a.title)
        {
            stories.push(&p.a);
        }
        if stories.len() == 5 {
            break;
        }
    }
    let prefixes = ["", "Breaking: ", "UPDATE: ", "", "Exclusive: "];
    for run in 0..RUNS {
        let env = Env::new().await;
        let mut urls = Vec::new();
        for f in 0..FEEDS {
            let items: Vec<(String, String, String)> = stories
                .iter()
                .enumerate()
                .map(|(s, story)| {
                    let guid = format!("f{f}-s{s}");
                    let title = format!("{}{}", prefixes[(f + s) % prefixes.len()], story.title);
                    let body = format!(
                        "<p>By the staff of feed {f}</p>{}<p>Follow feed {f} for more.</p>",
                        story.body
                    );
                    (guid, title, body)
                })
                .collect();
            let items: Vec<(&str, &str, String)> = items
                .iter()
                .map(|(g, t, b)| (g.as_str(), t.as_str(), b.clone()))
                .collect();
            let path = format!("/f{f}");
            env.serve_bytes(
                &path,
                feed(&format!("Feed {f}"), &items),
                "application/rss+xml",
            )
            .await;
            urls.push(env.url(&path));
        }
        let cfg = env.config_with(&urls, "[poller]\nconcurrency = 32");
        let summary = poll(&cfg).await;
        assert_eq!(summary.items_new, FEEDS * stories.len());

        let rows = stored(&cfg);
        for story in &stories {
            let copies: Vec<_> = rows
                .iter()
                .filter(|(_, t, _)| t.ends_with(&story.title))
                .collect();
            assert_eq!(copies.len(), FEEDS);
            let first = copies[0].0;
            assert_eq!(copies[0].2, None, "run {run}: {copies:?}");
            assert!(
                copies[1..].iter().all(|(_, _, of)| *of == Some(first)),
                "run {run}: {copies:?}"
            );
        }
        assert_eq!(merged(&cfg).await.items().len(), stories.len(), "run {run}");
    }
}

/// `feedmerge merges` says what decided each merge: the same headline and text, or the text
/// alone under a reworded headline; a merge stored before the evidence was recorded says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_say_what_decided_each_merge() {
    let env = Env::new().await;
    let bridge = paragraphs(WIRE);
    // Another story: the first of the wide set, as first published.
    let other = labelled("near_duplicates_wide.json")[0].a.body.clone();
    env.serve_bytes(
        "/a",
        feed(
            "Wire",
            &[
                (
                    "wire-1",
                    "Council votes to rebuild Old Mill bridge",
                    bridge.clone(),
                ),
                (
                    "wire-2",
                    "Dockworkers at Brenmouth port walk out over automation plans",
                    other.clone(),
                ),
            ],
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
                    "UPDATE: Council votes to rebuild Old Mill bridge",
                    bridge,
                ),
                (
                    "city-2",
                    "Brenmouth port at a standstill as dockers strike",
                    other,
                ),
            ],
        ),
        "application/rss+xml",
    )
    .await;
    poll(&env.config(&[env.url("/a")])).await;
    let cfg = env.config(&[env.url("/a"), env.url("/b")]);
    poll(&cfg).await;

    let config = env.dir.path().join("config.toml");
    let merges = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedmerge"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let lines = merges(&["merges"]);
    let line = |title: &str| -> String {
        lines
            .lines()
            .find(|l| l.contains(title))
            .unwrap_or_else(|| panic!("no merge of {title:?}: {lines}"))
            .to_owned()
    };
    // The feeds' links all end in /the-story: the same slug.
    assert!(
        line("UPDATE: Council votes").contains("  by title+body+slug  "),
        "{lines}"
    );
    assert!(
        line("at a standstill").contains("  by body+slug  "),
        "{lines}"
    );
    let json: serde_json::Value = serde_json::from_str(&merges(&["merges", "--json"])).unwrap();
    let evidence: Vec<&serde_json::Value> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["evidence"])
        .collect();
    assert!(evidence.contains(&&serde_json::json!({"title": true, "body": true, "slug": true})));
    assert!(evidence.contains(&&serde_json::json!({"title": false, "body": true, "slug": true})));

    rusqlite::Connection::open(&cfg.storage.path)
        .unwrap()
        .execute("UPDATE items SET merge_evidence = NULL", [])
        .unwrap();
    assert!(merges(&["merges"]).contains("  by not recorded  "));
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
            let verdict = dedupe::judge(&a, &b, feedmerge::config::DEFAULT_NEAR_THRESHOLD);
            // The judgement does not depend on which side came first.
            assert_eq!(
                verdict.is_some(),
                dedupe::judge(&b, &a, feedmerge::config::DEFAULT_NEAR_THRESHOLD).is_some(),
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
