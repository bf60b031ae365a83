//! Conformance: the feeds of `tests/fixtures/conformance/<class>/`, served over loopback,
//! polled into a real database and read back from the merged feed, compared item by item with
//! what a liberal reader finds in them (each class's `manifest.toml`).
//!
//! Each class has its own test; `whole_corpus` polls every class at once and prints the table
//! (`cargo test --test integration conformance:: -- --nocapture`). The goals: at least 99 % of the titled
//! entries come out with the right title and absolute link, no feed that has items yields
//! none, and a feed is recorded as repaired exactly when its manifest says it needed repair.

use crate::common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use common::{Env, poll};
use feedmerge::render::Format;
use rss::validation::Validate;

/// The classes, each a folder of `tests/fixtures/conformance`.
const CLASSES: &[&str] = &[
    "rss2",
    "rss09x",
    "rss1",
    "atom10",
    "json",
    "atom03",
    "rss090",
    "rss2_namespaced",
    "titles",
    "illformed",
    "encodings",
    "json_lenient",
    "links",
];

/// The share of titled entries that must come out right.
const GOAL: f64 = 0.99;

#[derive(serde::Deserialize)]
struct Manifest {
    feeds: Vec<Case>,
}

/// One feed of a class, with what a liberal reader finds in it.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    file: String,
    /// The document is not what its format says it is: it must be recorded as repaired.
    #[serde(default)]
    repaired: bool,
    /// Every item's plain-text title and absolute link; `{server}` is the test server.
    items: Vec<(String, String)>,
}

fn folder(class: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/conformance")
        .join(class)
}

fn manifest(class: &str) -> Manifest {
    let path = folder(class).join("manifest.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// How one class came out.
#[derive(Default)]
struct Outcome {
    class: String,
    feeds: usize,
    entries: usize,
    agreeing: usize,
    /// What went wrong, one line each.
    misses: Vec<String>,
    /// Feeds with items that yielded none.
    empty: Vec<String>,
    /// Feeds recorded as repaired when they should not be, or not when they should.
    repair_mismatches: Vec<String>,
}

/// Serves every feed of `classes`, polls them once into one database and compares the merged
/// feed with the manifests.
async fn run(classes: &[&str]) -> Vec<Outcome> {
    let env = Env::new().await;
    let server = env.server.uri();
    let mut urls = Vec::new();
    let mut cases = Vec::new();
    for class in classes {
        for case in manifest(class).feeds {
            let body = std::fs::read(folder(class).join(&case.file))
                .unwrap_or_else(|e| panic!("{class}/{}: {e}", case.file));
            // No charset: whatever the document needs to be read must come from itself.
            let content_type = match case.file.rsplit('.').next() {
                Some("json") => "application/feed+json",
                Some("rdf") => "application/rdf+xml",
                _ => "application/xml",
            };
            let path = format!("/{class}/{}", case.file);
            env.serve_bytes(&path, body, content_type).await;
            let url = env.url(&path);
            urls.push(url.clone());
            cases.push((class.to_string(), url, case));
        }
    }
    // Near-duplicate merging is its own feature: here every item must show as itself.
    let cfg = env.config_with(&urls, "[dedupe]\nnear_duplicates = false\n");
    poll(&cfg).await;

    let channel = common::merged(&cfg).await;
    {
        // A length of 0 says "unknown" (the RSS Board's profile; the W3C validator accepts
        // it), which the rss crate's validator does not allow: set those aside.
        let mut checked = channel.clone();
        for enclosure in checked
            .items
            .iter_mut()
            .filter_map(|i| i.enclosure.as_mut())
        {
            if enclosure.length == "0" {
                enclosure.length = "1".to_owned();
            }
        }
        checked
            .validate()
            .unwrap_or_else(|e| panic!("the merged RSS breaks the RSS 2.0 rules: {e}"));
    }
    // The other outputs must stay readable whatever came in.
    let atom = feedmerge::app::render(&cfg, Format::Atom).await.unwrap();
    atom_syndication::Feed::read_from(&atom[..]).expect("the merged Atom feed is Atom");
    let json = feedmerge::app::render(&cfg, Format::Json).await.unwrap();
    serde_json::from_slice::<serde_json::Value>(&json).expect("the merged JSON Feed is JSON");

    let mut by_feed: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for item in channel.items() {
        let Some(source) = item.source() else {
            continue;
        };
        by_feed.entry(source.url().to_owned()).or_default().push((
            item.title().unwrap_or_default().to_owned(),
            item.link().unwrap_or_default().to_owned(),
        ));
    }
    let statuses: HashMap<String, bool> = feedmerge::app::status(&cfg)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.url, !s.repairs.is_empty()))
        .collect();

    let mut outcomes: Vec<Outcome> = classes
        .iter()
        .map(|c| Outcome {
            class: c.to_string(),
            ..Outcome::default()
        })
        .collect();
    for (class, url, case) in cases {
        let out = outcomes.iter_mut().find(|o| o.class == class).unwrap();
        out.feeds += 1;
        let got = by_feed.get(&url).map(Vec::as_slice).unwrap_or_default();
        let name = format!("{class}/{}", case.file);
        if got.is_empty() && !case.items.is_empty() {
            out.empty.push(name.clone());
        }
        for (title, link) in &case.items {
            let link = link.replace("{server}", &server);
            out.entries += 1;
            if got.iter().any(|(t, l)| t == title && *l == link) {
                out.agreeing += 1;
            } else {
                let near = got
                    .iter()
                    .find(|(t, l)| t == title || *l == link)
                    .map_or_else(|| "nothing like it".to_owned(), |g| format!("got {g:?}"));
                out.misses
                    .push(format!("{name}: {title:?} {link} — {near}"));
            }
        }
        let repaired = statuses.get(&url).copied().unwrap_or(false);
        if repaired != case.repaired {
            out.repair_mismatches.push(format!(
                "{name}: recorded as {}repaired",
                if repaired { "" } else { "not " }
            ));
        }
    }
    outcomes
}

fn table(outcomes: &[Outcome]) -> String {
    let mut text = format!(
        "{:<16} {:>5} {:>7} {:>7} {:>7}  {}\n",
        "class", "feeds", "entries", "agree", "share", "feeds yielding nothing"
    );
    let (mut entries, mut agreeing) = (0, 0);
    for o in outcomes {
        entries += o.entries;
        agreeing += o.agreeing;
        let _ = writeln!(
            text,
            "{:<16} {:>5} {:>7} {:>7} {:>6.1}%  {}",
            o.class,
            o.feeds,
            o.entries,
            o.agreeing,
            share(o.agreeing, o.entries) * 100.0,
            o.empty.len()
        );
    }
    let _ = writeln!(
        text,
        "{:<16} {:>5} {:>7} {:>7} {:>6.1}%",
        "all",
        outcomes.iter().map(|o| o.feeds).sum::<usize>(),
        entries,
        agreeing,
        share(agreeing, entries) * 100.0
    );
    for o in outcomes {
        for line in o.misses.iter().chain(&o.repair_mismatches) {
            let _ = writeln!(text, "  {line}");
        }
    }
    text
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// Runs one class and asserts the goals on it.
async fn class(name: &str) {
    let outcomes = run(&[name]).await;
    let report = table(&outcomes);
    println!("{report}");
    let o = &outcomes[0];
    assert!(o.entries > 0, "{name}: the manifest lists no entries");
    assert!(
        o.empty.is_empty(),
        "feeds with items yielded none:\n{report}"
    );
    assert!(
        share(o.agreeing, o.entries) >= GOAL,
        "fewer than {:.0} % of the entries agree:\n{report}",
        GOAL * 100.0
    );
    assert!(
        o.repair_mismatches.is_empty(),
        "repairs recorded wrongly:\n{report}"
    );
}

#[tokio::test]
async fn rss2() {
    class("rss2").await;
}

#[tokio::test]
async fn rss09x() {
    class("rss09x").await;
}

#[tokio::test]
async fn rss1() {
    class("rss1").await;
}

#[tokio::test]
async fn atom10() {
    class("atom10").await;
}

#[tokio::test]
async fn json() {
    class("json").await;
}

#[tokio::test]
async fn atom03() {
    class("atom03").await;
}

#[tokio::test]
async fn rss090() {
    class("rss090").await;
}

#[tokio::test]
async fn rss2_namespaced() {
    class("rss2_namespaced").await;
}

#[tokio::test]
async fn titles() {
    class("titles").await;
}

#[tokio::test]
async fn illformed() {
    class("illformed").await;
}

#[tokio::test]
async fn encodings() {
    class("encodings").await;
}

#[tokio::test]
async fn json_lenient() {
    class("json_lenient").await;
}

#[tokio::test]
async fn links() {
    class("links").await;
}

/// Every class at once, in one database: the table, and the goal over the whole corpus.
#[tokio::test]
async fn whole_corpus() {
    let mut on_disk: Vec<String> = std::fs::read_dir(folder(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CLASSES.iter().map(|c| c.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "every class folder has a test, and only those"
    );

    let outcomes = run(CLASSES).await;
    let report = table(&outcomes);
    println!("{report}");
    let entries: usize = outcomes.iter().map(|o| o.entries).sum();
    let agreeing: usize = outcomes.iter().map(|o| o.agreeing).sum();
    assert!(
        share(agreeing, entries) >= GOAL,
        "fewer than {:.0} % of the corpus's entries agree:\n{report}",
        GOAL * 100.0
    );
    assert!(
        outcomes.iter().all(|o| o.empty.is_empty()),
        "feeds with items yielded none:\n{report}"
    );
}

/// A repaired feed shows in `status` and in `/metrics` until its publisher fixes it: the next
/// well-formed document clears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repairs_show_until_the_feed_is_fixed() {
    let env = Env::new().await;
    let doc = |title: &str| {
        format!(
            "<rss version=\"2.0\"><channel><title>t</title><item><title>{title}</title><link>https://example.org/qa</link></item></channel></rss>"
        )
        .into_bytes()
    };
    env.serve_bytes("/f.xml", doc("Q&A"), "application/xml")
        .await;
    let url = env.url("/f.xml");
    let cfg = env.config(std::slice::from_ref(&url));
    poll(&cfg).await;

    let status = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedmerge"))
            .arg("--config")
            .arg(env.dir.path().join("config.toml"))
            .arg("status")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let shown = status();
    assert!(
        shown.contains(&format!("{url}: read after repairs: bare & escaped")),
        "{shown}"
    );
    let metrics = || async {
        let daemon = common::Daemon::start(cfg.clone()).await;
        let text = daemon.text("/metrics").await;
        daemon.stop().await;
        text
    };
    let text = metrics().await;
    assert!(text.contains("\nfeedmerge_feeds_repaired 1\n"), "{text}");

    env.server.reset().await;
    env.serve_bytes("/f.xml", doc("Q&amp;A"), "application/xml")
        .await;
    poll(&cfg).await;
    assert!(!status().contains("repairs"), "{}", status());
    let text = metrics().await;
    assert!(text.contains("\nfeedmerge_feeds_repaired 0\n"), "{text}");
}

/// Every prefix of every corpus document (a download cut short anywhere), and each with
/// markup characters and NULs sprinkled in, is read or refused without a panic.
#[test]
fn every_cut_of_the_corpus_is_read_or_refused() {
    let url = url::Url::parse("http://127.0.0.1:1/class/feed.xml").unwrap();
    let mut documents = 0;
    for class in CLASSES {
        for case in manifest(class).feeds {
            let body = std::fs::read(folder(class).join(&case.file)).unwrap();
            let mut mangled = body.clone();
            for (n, b) in mangled.iter_mut().enumerate().step_by(29) {
                *b = [b'<', b'&', b'>', b'"', 0, b']'][n % 6];
            }
            let cuts = (0..body.len()).step_by(11).map(|cut| &body[..cut]);
            for doc in cuts.chain([&mangled[..]]) {
                let _ = feedmerge::parse::parse(doc, None, &url);
                documents += 1;
            }
        }
    }
    assert!(documents > 3000, "{documents}");
}
