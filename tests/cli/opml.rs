//! `feedmerge import-opml FILE` and `feedmerge export-opml` through the binary, on exports
//! written in the styles of other readers (`tests/fixtures/opml/`), and `/sources.opml`.

use std::path::Path;

use super::{common, feedmerge, text};

/// The path of `tests/fixtures/opml/NAME`.
fn fixture_path(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/opml")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

/// The print mode takes `feed:` URLs and the folder written with `xmlUrl=""`, and lists the
/// outlines that give only a site's address as skipped, saying what to run; they were dropped
/// without a word.
#[test]
fn import_lists_sites_as_skipped_and_takes_feed_urls() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let out = feedmerge(&[
        "--config",
        config.to_str().unwrap(),
        "import-opml",
        &fixture_path("hand_edited.opml"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("2 feed(s) to add; 0 already in")
            && stderr.contains("; 3 outline(s) skipped"),
        "{stderr}"
    );
    for line in [
        "  skipped \"https://clara.example.com/blog/\": only a site address (htmlUrl); run: feedmerge add URL",
        "  skipped \"https://dev.example.io/\": only a site address (htmlUrl); run: feedmerge add URL",
        "  skipped \"feed:gopher://old.example.org/1/feed\": unsupported scheme gopher: (only http and https)",
    ] {
        assert!(stderr.lines().any(|l| l == line), "{line:?} in\n{stderr}");
    }
    // The printed tables make a valid config with the feeds and their folder as tag.
    std::fs::write(&config, &out.stdout).unwrap();
    let cfg = feedmerge::config::Config::load(&config).expect("the printed config is valid");
    let feeds: Vec<(&str, &[String])> = cfg
        .feeds
        .iter()
        .map(|f| (f.url.as_str(), f.tags.as_slice()))
        .collect();
    let friends = ["Friends".to_owned()];
    assert_eq!(
        feeds,
        [
            ("http://anna.example.org/notes.xml", &friends[..]),
            ("https://ben.example.net/feed.atom", &friends[..]),
        ]
    );
}

/// A config in `env`'s folder: feed `a` untitled with two tags and a token in its URL, feed
/// `b` titled and untagged, both served by `env`.
fn two_feeds(env: &common::Env) -> feedmerge::config::Config {
    let a = format!("{}?token=SECRET", env.url("/rss2_basic.xml"));
    let b = env.url("/atom_basic.xml");
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"feedmerge.db\"\n\
         [reading_time]\nfull_text = \"never\"\n\
         [[feeds]]\nurl = \"{a}\"\ntags = [\"tech\", \"daily, or/and weekly\"]\n\
         [[feeds]]\nurl = \"{b}\"\ntitle = \"Mine\"\n"
    );
    let path = env.dir.path().join("config.toml");
    std::fs::write(&path, toml).unwrap();
    feedmerge::config::Config::load(&path).unwrap()
}

fn export(config: &Path) -> std::process::Output {
    feedmerge(&["--config", config.to_str().unwrap(), "export-opml"])
}

/// export-opml named an untitled feed by its URL although the feed's own title was stored,
/// and flattened tags into a `category` (which split "a, b" and "a/b"). Now: the stored title,
/// tags as folders, and export → import gives back the same feeds and tags. Without a
/// database it exports all the same, says why titles are missing, and creates none.
#[tokio::test(flavor = "multi_thread")]
async fn export_uses_stored_titles_and_tags_as_folders_and_round_trips() {
    let env = common::Env::new().await;
    env.serve("rss2_basic.xml").await;
    env.serve("atom_basic.xml").await;
    let cfg = two_feeds(&env);
    let config = cfg.source.clone();

    let path = config.clone();
    let before = tokio::task::spawn_blocking(move || export(&path))
        .await
        .unwrap();
    assert!(before.status.success(), "{}", text(&before.stderr));
    assert!(
        text(&before.stderr).contains("no database at")
            && text(&before.stderr).contains("named by their URL"),
        "{}",
        text(&before.stderr)
    );
    assert!(!cfg.storage.path.exists(), "export-opml created a database");
    let untitled = feedmerge::opml::read(&before.stdout).unwrap().feeds;
    let a = untitled.iter().find(|f| f.url == cfg.feeds[0].url).unwrap();
    assert_eq!(a.title, None);

    common::poll(&cfg).await;
    let path = config.clone();
    let out = tokio::task::spawn_blocking(move || export(&path))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let doc = text(&out.stdout);
    assert!(
        doc.contains("<outline text=\"daily, or/and weekly\" title=\"daily, or/and weekly\">"),
        "{doc}"
    );
    let found = feedmerge::opml::read(&out.stdout).unwrap();
    let a = found
        .feeds
        .iter()
        .find(|f| f.url == cfg.feeds[0].url)
        .unwrap();
    assert_eq!(a.title.as_deref(), Some("Basic RSS"), "{doc}");
    assert_eq!(a.tags, ["tech", "daily, or/and weekly"]);
    let b = found
        .feeds
        .iter()
        .find(|f| f.url == cfg.feeds[1].url)
        .unwrap();
    assert_eq!(b.title.as_deref(), Some("Mine"));
    assert!(b.tags.is_empty());

    // Imported into a new config, the export gives back the same feeds and tags.
    let opml = env.dir.path().join("backup.opml");
    std::fs::write(&opml, &out.stdout).unwrap();
    let restored = env.dir.path().join("restored.toml");
    let import = feedmerge(&[
        "--config",
        restored.to_str().unwrap(),
        "import-opml",
        opml.to_str().unwrap(),
    ]);
    assert!(import.status.success(), "{}", text(&import.stderr));
    std::fs::write(&restored, &import.stdout).unwrap();
    let back = feedmerge::config::Config::load(&restored).unwrap();
    let pairs = |c: &feedmerge::config::Config| {
        let mut p: Vec<(String, Vec<String>)> = c
            .feeds
            .iter()
            .map(|f| (f.url.to_string(), f.tags.clone()))
            .collect();
        p.sort();
        p
    };
    assert_eq!(pairs(&back), pairs(&cfg));
}

/// `/sources.opml` names feeds by their stored titles and writes tags as folders too, and
/// still shows no secret.
#[tokio::test(flavor = "multi_thread")]
async fn sources_opml_uses_stored_titles_and_keeps_secrets_out() {
    let env = common::Env::new().await;
    env.serve("rss2_basic.xml").await;
    env.serve("atom_basic.xml").await;
    let cfg = two_feeds(&env);
    let d = common::Daemon::start(cfg.clone()).await;
    // Asked once before the poll, made again after it.
    let _ = d.text("/sources.opml").await;
    d.wait_for_items(5).await;
    let opml = d.text("/sources.opml").await;
    assert!(!opml.contains("SECRET"), "{opml}");
    let found = feedmerge::opml::read(opml.as_bytes()).unwrap();
    let a = &found
        .feeds
        .iter()
        .find(|f| f.url.as_str().contains("rss2_basic.xml"))
        .unwrap();
    assert!(a.url.as_str().ends_with("?token=REDACTED"), "{opml}");
    assert_eq!(a.title.as_deref(), Some("Basic RSS"), "{opml}");
    assert_eq!(a.tags, ["tech", "daily, or/and weekly"]);
    d.stop().await;
}
