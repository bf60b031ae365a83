//! Managing the subscriptions without an editor, through the binary: `add`, `remove`,
//! `feeds` and `import-opml --write` edit the config file in place (every other byte kept,
//! validated, atomic, its mode kept), and a running daemon picks the change up by itself.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use feedmerge::config::Config;

use crate::common::{
    Daemon, Env, feedmerge_with, feedmerge_with_async, files_in, text, wait_until,
};

/// Asserts that `out` is a success, showing its stderr otherwise.
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A copy of the shipped `config.toml` in a folder of its own, with mode 0640.
fn shipped_config() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let original = feedmerge::config::EXAMPLE.to_owned();
    std::fs::write(&config, &original).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();
    (dir, config, original)
}

#[test]
fn add_keeps_every_other_byte_the_mode_and_no_file_behind() {
    let (dir, config, original) = shipped_config();
    let out = feedmerge_with(
        &config,
        &[
            "add",
            "https://example.org/blog/feed.xml",
            "--no-discover",
            "--title",
            "Example",
            "--tags",
            "news, tech",
            "--interval",
            "2h",
        ],
    );
    let stdout = ok(&out);
    assert!(
        stdout.contains("added https://example.org/blog/feed.xml to"),
        "{stdout}"
    );
    assert!(stdout.contains("notices the change within 2s"), "{stdout}");
    let edited = std::fs::read_to_string(&config).unwrap();
    // The new table after the last feed, before the comments of the section that follows.
    let at = original.find("\n[dedupe]").unwrap();
    let table = "\n[[feeds]]\nurl = \"https://example.org/blog/feed.xml\"\ntitle = \"Example\"\ninterval = \"2h\"\ntags = [\"news\", \"tech\"]\n";
    assert_eq!(
        edited,
        format!("{}{table}{}", &original[..at], &original[at..])
    );
    let mode = std::fs::metadata(&config).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
    assert_eq!(files_in(dir.path()), ["config.toml"]);
    let cfg = Config::load(&config).unwrap();
    assert_eq!(cfg.feeds.len(), 4);
    assert_eq!(cfg.feeds[3].tags, ["news", "tech"]);
    assert_eq!(cfg.feeds[3].interval, Some(Duration::from_secs(7200)));
}

#[test]
fn add_refuses_a_feed_configured_already_in_another_form() {
    let (dir, config, original) = shipped_config();
    for form in [
        "https://blog.rust-lang.org/feed.xml",
        "HTTPS://Blog.Rust-Lang.org:443/feed.xml#latest",
    ] {
        let out = feedmerge_with(&config, &["add", form]);
        assert_eq!(out.status.code(), Some(2), "{form}: {}", text(&out.stdout));
        assert!(
            text(&out.stderr).contains("https://blog.rust-lang.org/feed.xml (\"Rust Blog\") is in")
                && text(&out.stderr).contains("already"),
            "{}",
            text(&out.stderr)
        );
    }
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
    assert_eq!(files_in(dir.path()), ["config.toml"]);
}

#[test]
fn an_edit_that_would_make_the_config_invalid_writes_nothing() {
    let (dir, config, original) = shipped_config();
    // The shipped config's [poller] min_interval is 5m.
    let out = feedmerge_with(
        &config,
        &[
            "add",
            "https://example.org/f.xml",
            "--no-discover",
            "--interval",
            "1m",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("invalid, so it was not written")
            && stderr.contains("feeds[3].interval: 1m is shorter than poller.min_interval"),
        "{stderr}"
    );
    // Nor is an invalid config edited: it is refused as the daemon refuses it.
    let broken = original.replace("max_items = 100", "max_items = \"many\"");
    std::fs::write(&config, &broken).unwrap();
    let out = feedmerge_with(&config, &["add", "https://example.org/f.xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("output.max_items"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), broken);
    let out = feedmerge_with(&config, &["remove", "Rust Blog"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), broken);
    assert_eq!(files_in(dir.path()), ["config.toml"]);
}

#[test]
fn remove_by_url_or_title_and_never_a_guess() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let original = "\
[output]
title = \"x\"

# Work
[[feeds]]
url = \"https://a.example/feed\"
title = \"Same\"

[[feeds]]
url = \"https://b.example/feed\"
title = \"Same\"

# Rust's own
[[feeds]]
url = \"https://blog.rust-lang.org/feed.xml\"
title = \"Rust Blog\"

[[feeds]]
url = \"https://c.example/feed\"
";
    std::fs::write(&config, original).unwrap();

    // A title of two feeds: both listed, nothing removed.
    let out = feedmerge_with(&config, &["remove", "Same"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: 2 feeds in {} are titled \"Same\"; remove one by its URL:\n  https://a.example/feed\n  https://b.example/feed\n",
            config.display()
        )
    );
    // Nothing matching: the closest named.
    let out = feedmerge_with(&config, &["remove", "rust blgo"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("has the URL or title \"rust blgo\"; the closest:\n  https://blog.rust-lang.org/feed.xml (\"Rust Blog\")\n"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);

    // By title: the feed goes with the comment directly above it.
    let out = feedmerge_with(&config, &["remove", "Rust Blog"]);
    assert!(ok(&out).contains("removed https://blog.rust-lang.org/feed.xml (\"Rust Blog\")"));
    let after_title = original.replace(
        "# Rust's own\n[[feeds]]\nurl = \"https://blog.rust-lang.org/feed.xml\"\ntitle = \"Rust Blog\"\n\n",
        "",
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), after_title);
    // By URL, written another way.
    ok(&feedmerge_with(
        &config,
        &["remove", "HTTPS://B.example:443/feed"],
    ));
    let after_url = after_title.replace(
        "[[feeds]]\nurl = \"https://b.example/feed\"\ntitle = \"Same\"\n\n",
        "",
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), after_url);
    // Now one feed is titled "Same".
    ok(&feedmerge_with(&config, &["remove", "Same"]));
    let cfg = Config::load(&config).unwrap();
    let urls: Vec<&str> = cfg.feeds.iter().map(|f| f.url.as_str()).collect();
    assert_eq!(urls, ["https://c.example/feed"]);
    let left = std::fs::read_to_string(&config).unwrap();
    assert!(
        left.contains("# Work\n"),
        "the group's comment stays:\n{left}"
    );
    assert_eq!(files_in(dir.path()), ["config.toml"]);
}

#[test]
fn import_opml_write_adds_only_the_feeds_not_configured() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let original = "# my feeds\n[[feeds]]\nurl = \"https://example.org/known.xml\"\ntitle = \"Known\"\n\n# the end\n";
    std::fs::write(&config, original).unwrap();
    let opml = dir.path().join("subscriptions.opml");
    std::fs::write(
        &opml,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>Mine</title></head><body>
  <outline text="News" title="News">
    <outline type="rss" text="A &amp; B" xmlUrl="https://example.org/ab.xml?x=1&amp;y=2"/>
    <outline type="rss" text="Known" xmlUrl="HTTPS://EXAMPLE.org/known.xml"/>
  </outline>
  <outline type="rss" text="Relative" xmlUrl="feed.xml"/>
</body></opml>"#,
    )
    .unwrap();
    let out = feedmerge_with(&config, &["import-opml", opml.to_str().unwrap(), "--write"]);
    let stdout = ok(&out);
    assert!(
        stdout.starts_with(&format!(
            "1 feed(s) added to {}; 1 already there; 1 outline(s) skipped\n",
            config.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("  added https://example.org/ab.xml?x=1&y=2\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  already there: https://example.org/known.xml\n"),
        "{stdout}"
    );
    assert!(stdout.contains("  skipped \"feed.xml\""), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        original.replace(
            "\n# the end\n",
            "\n[[feeds]]\nurl = \"https://example.org/ab.xml?x=1&y=2\"\ntitle = \"A & B\"\ntags = [\"News\"]\n\n# the end\n"
        )
    );
    // Again: nothing new, nothing written.
    let stdout = ok(&feedmerge_with(
        &config,
        &["import-opml", opml.to_str().unwrap(), "--write"],
    ));
    assert!(stdout.starts_with("0 feed(s) added"), "{stdout}");
    assert_eq!(Config::load(&config).unwrap().feeds.len(), 2);
    assert_eq!(files_in(dir.path()), ["config.toml", "subscriptions.opml"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn feeds_lists_titles_from_the_config_then_the_database_never_creating_it() {
    let env = Env::new().await;
    let untitled = env.serve("rss2_basic.xml").await;
    let cfg = env.config(std::slice::from_ref(&untitled));
    let mut text_cfg = std::fs::read_to_string(&cfg.source).unwrap();
    text_cfg.push_str(
        "[[feeds]]\nurl = \"https://example.org/f.xml\"\ntitle = \"Mine\"\ntags = [\"a\", \"b\"]\ninterval = \"2h\"\n",
    );
    std::fs::write(&cfg.source, text_cfg).unwrap();
    let cfg = Config::load(&cfg.source).unwrap();
    let db = env.dir.path().join("feedmerge.db");

    let out = feedmerge_with_async(&cfg.source, &["feeds"]).await;
    let table = ok(&out);
    assert!(!db.exists(), "a read-only command created the database");
    assert!(
        text(&out.stderr).contains("no database at"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        table,
        format!(
            "TITLE  TAGS  INTERVAL  URL\n-            30m       {untitled}\nMine   a, b  2h        https://example.org/f.xml\n"
        )
    );

    crate::common::poll(&cfg).await;
    let out = feedmerge_with_async(&cfg.source, &["feeds", "--json"]).await;
    let listed: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(listed[0]["url"], untitled.as_str());
    assert!(
        listed[0]["title"].as_str().is_some_and(|t| !t.is_empty()),
        "the feed's own title, as stored: {listed}"
    );
    assert_eq!(listed[1]["title"], "Mine");
    assert_eq!(listed[1]["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(listed[1]["interval"], "2h");
}

/// `feedmerge add` against a running daemon: the daemon polls the new feed and serves its
/// items without being signalled; `feedmerge remove`: it stops polling the feed, whose items
/// leave the merged feed.
#[tokio::test(flavor = "multi_thread")]
async fn a_running_daemon_picks_up_add_and_remove_by_itself() {
    let env = Env::new().await;
    let first = env.serve("atom_basic.xml").await;
    let added = env.serve("rss2_basic.xml").await;
    // Polled every second, so that a removed feed would be polled again at once.
    let cfg = env.config_with(
        std::slice::from_ref(&first),
        "[poller]\ninterval = \"1s\"\nmin_interval = \"1s\"",
    );
    let daemon = Daemon::start(cfg.clone()).await;
    let before = daemon.wait_for_items(1).await.items().len();
    assert_eq!(env.requests_to("/rss2_basic.xml").await, 0);

    ok(&feedmerge_with_async(&cfg.source, &["add", &added]).await);
    let source_of = |ch: &rss::Channel, url: &str| {
        ch.items()
            .iter()
            .filter(|i| i.source().is_some_and(|s| s.url() == url))
            .count()
    };
    wait_until(
        "the added feed's items in /feed.xml",
        Duration::from_secs(30),
        || async { source_of(&daemon.feed().await, &added) > 0 },
    )
    .await;
    assert!(daemon.feed().await.items().len() > before);

    ok(&feedmerge_with_async(&cfg.source, &["remove", &added]).await);
    wait_until(
        "the removed feed's items gone from /feed.xml",
        Duration::from_secs(30),
        || async { source_of(&daemon.feed().await, &added) == 0 },
    )
    .await;
    let polled = env.requests_to("/rss2_basic.xml").await;
    // The feed left stays at every poll of the other one, once a second.
    let first_polls = env.requests_to("/atom_basic.xml").await;
    wait_until(
        "two more polls of the feed that stays",
        Duration::from_secs(30),
        || async { env.requests_to("/atom_basic.xml").await >= first_polls + 2 },
    )
    .await;
    assert_eq!(
        env.requests_to("/rss2_basic.xml").await,
        polled,
        "the removed feed is still polled"
    );
    assert_eq!(daemon.feed().await.items().len(), before);
    daemon.stop().await;
}

/// A site's page that advertises `links` (`(title, path)`).
fn site_page(links: &[(&str, &str)]) -> Vec<u8> {
    let links: String = links
        .iter()
        .map(|(title, href)| {
            format!(
                r#"<link rel="alternate" type="application/rss+xml" title="{title}" href="{href}">"#
            )
        })
        .collect();
    format!("<!doctype html><html><head><title>A site</title>{links}</head><body>Hi</body></html>")
        .into_bytes()
}

/// `add` given a site's address adds the feed its page advertises, not the page; of several,
/// it adds none without a choice (stdin not a terminal), and all with `--all`, each named as
/// the page names it.
#[tokio::test]
async fn add_finds_the_feed_behind_a_sites_address() {
    let env = Env::new().await;
    let feed = env.serve("rss2_basic.xml").await;
    env.serve("atom_basic.xml").await;
    env.serve_bytes(
        "/blog/",
        site_page(&[("Posts", "/rss2_basic.xml")]),
        "text/html",
    )
    .await;
    env.serve_bytes(
        "/news/",
        site_page(&[
            ("Posts", "/rss2_basic.xml"),
            ("Comments", "/atom_basic.xml"),
        ]),
        "text/html",
    )
    .await;
    let config = env.config_with(&[], "").source;

    let out = ok(&feedmerge_with_async(&config, &["add", &env.url("/blog/")]).await);
    assert!(out.contains(&format!("added {feed}")), "{out}");
    let cfg = Config::load(&config).unwrap();
    let urls: Vec<String> = cfg.feeds.iter().map(|f| f.url.to_string()).collect();
    assert_eq!(urls, std::slice::from_ref(&feed));
    // One feed is named by its own title as it polls, not by the page's name for the link.
    assert_eq!(cfg.feeds[0].title, None);

    // The page's first feed is configured now; two offered: a choice is needed.
    ok(&feedmerge_with_async(&config, &["remove", &feed]).await);
    let out = feedmerge_with_async(&config, &["add", &env.url("/news/")]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("offers 2 feeds")
            && stderr.contains("Comments")
            && stderr.contains("--all"),
        "{stderr}"
    );
    assert!(Config::load(&config).unwrap().feeds.is_empty());

    ok(&feedmerge_with_async(&config, &["add", &env.url("/news/"), "--all"]).await);
    let titles: Vec<(String, Option<String>)> = Config::load(&config)
        .unwrap()
        .feeds
        .iter()
        .map(|f| (f.url.to_string(), f.title.clone()))
        .collect();
    assert_eq!(
        titles,
        [
            (feed, Some("Posts".to_owned())),
            (env.url("/atom_basic.xml"), Some("Comments".to_owned())),
        ]
    );

    // A site with no feed at all: nothing is written, and the error says what was tried.
    env.serve_bytes("/empty/", site_page(&[]), "text/html")
        .await;
    let before = std::fs::read_to_string(&config).unwrap();
    let out = feedmerge_with_async(&config, &["add", &env.url("/empty/")]).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no feed to add at"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
}

/// `import-opml --write` finds the feed of an outline that gives only its site (`htmlUrl`),
/// with the outline's folder as its tag.
#[tokio::test]
async fn import_opml_write_discovers_the_feeds_of_sites() {
    let env = Env::new().await;
    let feed = env.serve("rss2_basic.xml").await;
    env.serve_bytes(
        "/blog/",
        site_page(&[("Posts", "/rss2_basic.xml")]),
        "text/html",
    )
    .await;
    let config = env.config_with(&[], "").source;
    let opml = env.dir.path().join("subs.opml");
    std::fs::write(
        &opml,
        format!(
            r#"<?xml version="1.0"?><opml version="2.0"><head><title>Mine</title></head><body>
<outline text="Local"><outline text="A blog" htmlUrl="{}"/></outline></body></opml>"#,
            env.url("/blog/")
        ),
    )
    .unwrap();
    let out = ok(&feedmerge_with_async(
        &config,
        &["import-opml", opml.to_str().unwrap(), "--write"],
    )
    .await);
    assert!(out.contains("found"), "{out}");
    let cfg = Config::load(&config).unwrap();
    assert_eq!(cfg.feeds.len(), 1, "{out}");
    assert_eq!(cfg.feeds[0].url.to_string(), feed);
    assert_eq!(cfg.feeds[0].title.as_deref(), Some("A blog"));
    assert_eq!(cfg.feeds[0].tags, ["Local"]);
}
