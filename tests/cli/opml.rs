//! `feedmerge import-opml FILE` and `feedmerge export-opml` through the binary, on exports
//! written in the styles of other readers (`tests/fixtures/opml/`), and `/sources.opml`.

use std::path::Path;

use super::{feedmerge, text};

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
