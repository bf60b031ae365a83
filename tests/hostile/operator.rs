//! What reaches the operator and the public: no secrets in outputs, nothing that drives a
//! terminal, a store that notices its file is gone.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use feedmerge::app;
use feedmerge::config::Config;
use feedmerge::terminal;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::common::{Daemon, Env, http_client, text, wait_until};

/// Runs the `feedmerge` binary with `args` after `--config CONFIG`.
async fn feedmerge(config: &Path, args: &[&str]) -> Output {
    feedmerge_logging(config, args, "feedmerge=info").await
}

/// [`feedmerge`] with `RUST_LOG` set to `filter`.
async fn feedmerge_logging(config: &Path, args: &[&str], filter: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_feedmerge"));
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("FEEDMERGE_CONFIG")
        .env("RUST_LOG", filter);
    tokio::task::spawn_blocking(move || command.output().expect("run feedmerge"))
        .await
        .unwrap()
}

/// An address on 127.0.0.1 that nothing listens on (for a daemon started as a process).
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

async fn get(url: &str) -> (u16, String) {
    let r = http_client().get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of the `feedmerge_feed_consecutive_errors` series labelled `feed`.
fn feed_errors(metrics: &str, feed: &str) -> Option<u32> {
    let series = format!("feedmerge_feed_consecutive_errors{{feed=\"{feed}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse().ok())
}

/// An RSS feed without a channel title (so that it is named by its URL), with one item.
const UNTITLED_FEED: &str = r#"<rss version="2.0"><channel><link>https://site.example/</link>
<item><guid>one</guid><title>Story one</title><link>https://site.example/1</link>
<description>Some words to read.</description></item></channel></rss>"#;

/// [`UNTITLED_FEED`] with items whose links and content are relative to the feed's URL: an
/// empty reference or a bare `#fragment` resolved against the URL as configured keeps its
/// userinfo and its query.
const RELATIVE_FEED: &str = r##"<rss version="2.0"><channel><link></link>
<item><guid>one</guid><title>Story one</title><link>https://site.example/1</link>
<description>Some words to read.</description></item>
<item><guid>two</guid><title>Story two</title><link>/two</link>
<description>&lt;a href="?page=2"&gt;next&lt;/a&gt; &lt;a href=""&gt;this&lt;/a&gt; &lt;img src="#i"&gt; &lt;a href="#top"&gt;top&lt;/a&gt;</description></item>
<item><guid>three</guid><title>Story three</title><link>#three</link>
<enclosure url="" type="audio/mpeg" length="1"/><description>Words.</description></item>
</channel></rss>"##;

/// Finding 10: a feed URL's userinfo and secret query values were published in every item's
/// `<source url>`, `/sources.opml`, health items, `/metrics` and logs, and in every link
/// resolved against it.
#[tokio::test(flavor = "multi_thread")]
async fn secrets_in_a_feed_url_reach_no_output_and_no_log() {
    let env = Env::new().await;
    // Up once, then failing: both its items and its health item are shown.
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    Mock::given(method("GET"))
        .and(path("/feed"))
        .respond_with(move |_: &Request| {
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                ResponseTemplate::new(200).set_body_raw(RELATIVE_FEED, "application/rss+xml")
            } else {
                ResponseTemplate::new(500)
            }
        })
        .mount(&env.server)
        .await;
    let port = env.server.address().port();
    let feed_url = format!("http://user:s3cretPW@127.0.0.1:{port}/feed?apikey=SECRET&tag=x");
    let shown_url = format!("http://127.0.0.1:{port}/feed?apikey=REDACTED&tag=x");
    let listen = free_address();
    let config = env.dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"{listen}\"\nshutdown_timeout = \"2s\"\n[storage]\npath = \"feedmerge.db\"\n\
             [poller]\ninterval = \"1s\"\n[reading_time]\nfull_text = \"never\"\n\
             [output]\nhealth_items = true\n[[feeds]]\nurl = \"{feed_url}\"\n"
        ),
    )
    .unwrap();
    let leaks = |what: &str, out: &str| {
        for secret in ["SECRET", "s3cretPW"] {
            assert!(!out.contains(secret), "{secret} in {what}:\n{out}");
        }
    };

    let mut daemon = Command::new(env!("CARGO_BIN_EXE_feedmerge"))
        .args(["--config", config.to_str().unwrap(), "run"])
        .env("RUST_LOG", "feedmerge=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    wait_until(
        "the feed stored, then failing",
        Duration::from_secs(30),
        || async {
            let Ok(r) = http_client().get(format!("{base}/metrics")).send().await else {
                return false;
            };
            let metrics = r.text().await.unwrap();
            let feed = get(&format!("{base}/feed.xml")).await.1;
            metrics.contains("feedmerge_feeds{state=\"failing\"} 1") && feed.contains("Story one")
        },
    )
    .await;
    for page in [
        "/feed.xml",
        "/feed.atom",
        "/feed.json",
        "/",
        "/sources.opml",
        "/metrics",
    ] {
        let (status, body) = get(&format!("{base}{page}")).await;
        assert_eq!(status, 200, "{page}");
        leaks(page, &body);
    }
    let xml = get(&format!("{base}/feed.xml")).await.1;
    assert!(xml.contains("has failed since"), "a health item: {xml}");
    // Relative links are resolved, against the URL without what is secret in it.
    assert!(
        xml.contains(&format!("<link>http://127.0.0.1:{port}/two</link>")),
        "{xml}"
    );
    let metrics = get(&format!("{base}/metrics")).await.1;
    assert!(
        feed_errors(&metrics, &shown_url).is_some_and(|n| n >= 1),
        "{metrics}"
    );
    assert!(
        xml.contains(&format!(
            "<source url=\"{}\">",
            shown_url.replace('&', "&amp;")
        )),
        "{xml}"
    );
    assert!(
        get(&format!("{base}/sources.opml"))
            .await
            .1
            .contains("apikey=REDACTED&amp;tag=x")
    );

    // The shell's builtin: no dependency on procps.
    assert!(
        Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", daemon.id())])
            .status()
            .unwrap()
            .success()
    );
    let log = tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let mut log = String::new();
        daemon
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        daemon.wait().unwrap();
        log
    })
    .await
    .unwrap();
    assert!(
        log.contains("feed refreshed") && log.contains("feed failed"),
        "{log}"
    );
    leaks("the log", &log);

    for args in [
        &["status"][..],
        &["status", "--json"],
        &["check"],
        &["merges"],
        &["poll-once"],
    ] {
        let out = feedmerge(&config, args).await;
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        leaks(&format!("{args:?}"), &text(&out.stdout));
        leaks(&format!("{args:?} (stderr)"), &text(&out.stderr));
    }
    let status = text(&feedmerge(&config, &["status"]).await.stdout);
    assert!(status.contains(&shown_url), "{status}");
    // The owner's backup keeps what the feed needs.
    let backup = text(&feedmerge(&config, &["export-opml"]).await.stdout);
    assert!(backup.contains(&feed_url.replace('&', "&amp;")), "{backup}");
}

/// Finding 20: feeds that differ only in the query shared one series, and every series was
/// gone after a reload or a restart until its feed was polled again. Each failing feed has a
/// series of its own from the stored state; a feed that polls fine has none.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_have_one_series_per_failing_feed_from_the_start_and_across_reloads() {
    let env = Env::new().await;
    Mock::given(path("/bridge"))
        .and(query_param("bridge", "Healthy"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(UNTITLED_FEED, "application/rss+xml"))
        .mount(&env.server)
        .await;
    Mock::given(path("/bridge"))
        .and(query_param("bridge", "Broken"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&env.server)
        .await;
    let (healthy, broken) = (
        env.url("/bridge?action=display&bridge=Healthy&format=Atom"),
        env.url("/bridge?action=display&bridge=Broken&format=Atom"),
    );
    // Polled once at start, then not for an hour: whatever /metrics shows after that comes
    // from the stored state.
    let cfg = env.config_with(
        &[healthy.clone(), broken.clone()],
        "[poller]\ninterval = \"1h\"",
    );
    let daemon = Daemon::start(cfg.clone()).await;
    wait_until("both feeds polled", Duration::from_secs(30), || async {
        let m = daemon.text("/metrics").await;
        m.contains("feedmerge_polls_total{result=\"ok\"} 1") && feed_errors(&m, &broken) == Some(1)
    })
    .await;

    // With room for one waiting reload, the third is taken only once the first is done.
    for _ in 0..3 {
        daemon.reload().await;
    }
    let m = daemon.text("/metrics").await;
    assert_eq!(feed_errors(&m, &healthy), None, "after a reload:\n{m}");
    assert_eq!(feed_errors(&m, &broken), Some(1), "after a reload:\n{m}");
    daemon.stop().await;

    let requests = env.server.received_requests().await.unwrap().len();
    let daemon = Daemon::start(cfg).await;
    let m = daemon.text("/metrics").await;
    assert_eq!(feed_errors(&m, &healthy), None, "after a restart:\n{m}");
    assert_eq!(feed_errors(&m, &broken), Some(1), "after a restart:\n{m}");
    daemon.stop().await;
    assert_eq!(
        env.server.received_requests().await.unwrap().len(),
        requests,
        "shown from the stored state, not from new polls"
    );
}

/// Finding 9: `feedmerge status` panicked ("Formatting argument out of range") on a feed
/// title longer than 65,535 characters.
#[tokio::test(flavor = "multi_thread")]
async fn status_survives_a_megabyte_feed_title() {
    let env = Env::new().await;
    let title = "T".repeat(1 << 20);
    env.serve_bytes(
        "/long",
        format!(
            "<rss version=\"2.0\"><channel><title>{title}</title><item><guid>1</guid><title>x</title></item></channel></rss>"
        )
        .into_bytes(),
        "application/rss+xml",
    )
    .await;
    let cfg = env.config(&[env.url("/long")]);
    crate::common::poll(&cfg).await;

    let out = feedmerge(&cfg.source, &["status"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.lines().all(|l| l.chars().count() < 400),
        "cells are cut"
    );
    assert!(table.contains("TTT…"), "{table}");

    // --json keeps what is stored, whole (normalising may cap a title; the table must not
    // depend on it).
    let stored: String = rusqlite::Connection::open(&cfg.storage.path)
        .unwrap()
        .query_row("SELECT title FROM feeds", [], |r| r.get(0))
        .unwrap();
    let out = feedmerge(&cfg.source, &["status", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["title"].as_str(), Some(stored.as_str()));
}

/// No character in `out` would act on a terminal (line breaks aside).
fn assert_printable(what: &str, out: &str) {
    let bad: Vec<char> = out
        .chars()
        .filter(|&c| terminal::is_unsafe(c) && c != '\n')
        .collect();
    assert!(bad.is_empty(), "{what} prints {bad:?}:\n{out}");
}

/// What a hostile feed or OPML file puts in a string: set the window title, clear the
/// screen, a one-character CSI, and a right-to-left override.
const EVIL: &str = "\u{1b}]0;owned\u{7}\u{1b}[2J\u{9b}31m\u{202E}gnp.exe";

/// Finding 12: an OPML title with escape sequences was written into the generated TOML and
/// printed raw by `check`; titles from feeds reached `status`, `merges` and the log the same
/// way.
#[tokio::test(flavor = "multi_thread")]
async fn remote_strings_reach_no_terminal_raw() {
    let env = Env::new().await;
    // A feed's own title: stored, and the name of its polls in the log.
    env.serve_bytes(
        "/bad.json",
        serde_json::to_vec(&serde_json::json!({
            "version": "https://jsonfeed.org/version/1.1",
            "title": EVIL,
            "items": [{"id": "1", "title": EVIL, "content_text": "text"}],
        }))
        .unwrap(),
        "application/feed+json",
    )
    .await;
    let bad = env.url("/bad.json");
    let opml = env.dir.path().join("evil.opml");
    let escaped_title: String = EVIL
        .chars()
        .map(|c| match c {
            '\u{1b}' | '\u{7}' | '\u{9b}' | '\u{202E}' => format!("&#{};", u32::from(c)),
            c => c.to_string(),
        })
        .collect();
    std::fs::write(
        &opml,
        format!(
            "<opml version=\"2.0\"><body><outline text=\"{escaped_title}\" xmlUrl=\"{bad}\"/></body></opml>"
        ),
    )
    .unwrap();

    // import-opml: the TOML it prints is safe and reads back to the same title.
    let config = env.dir.path().join("config.toml");
    let out = feedmerge(&config, &["import-opml", opml.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let toml = text(&out.stdout);
    assert_printable("import-opml", &toml);
    assert_printable("import-opml (stderr)", &text(&out.stderr));
    std::fs::write(
        &config,
        format!(
            "[storage]\npath = \"feedmerge.db\"\n[reading_time]\nfull_text = \"never\"\n{toml}"
        ),
    )
    .unwrap();
    let cfg = Config::load(&config).unwrap();
    assert_eq!(cfg.feeds[0].title.as_deref(), Some(EVIL));

    let out = feedmerge(&config, &["check"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_printable("check", &text(&out.stdout));
    assert!(
        text(&out.stdout).contains("\\u{1b}]0;owned"),
        "{}",
        text(&out.stdout)
    );

    // The text log and the JSON log of polls named by the feed's own title (from the second
    // poll on: the first knows only the host). Normalising the title dropped its C0 and C1
    // controls; the right-to-left override is left for the log to escape.
    for _ in 0..2 {
        let out = feedmerge(&config, &["poll-once"]).await;
        let log = text(&out.stderr);
        assert!(log.contains("feed refreshed"), "{log}");
        assert_printable("the text log", &log);
    }
    let out = feedmerge_logging(
        &config,
        &["--log-format", "json", "poll-once"],
        "feedmerge=debug",
    )
    .await;
    let log = text(&out.stderr);
    assert_printable("the JSON log", &log);
    let refreshed = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == "feed refreshed")
        .unwrap_or_else(|| panic!("no poll in the JSON log:\n{log}"));
    assert_eq!(
        refreshed["span"]["feed"].as_str(),
        Some("]0;owned[2J31m\u{202E}gnp.exe"),
        "the JSON log carries the name whole: {refreshed}"
    );

    for args in [&["status"][..], &["status", "--json"]] {
        let out = feedmerge(&config, args).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_printable(&format!("{args:?}"), &text(&out.stdout));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&feedmerge(&config, &["status", "--json"]).await.stdout).unwrap();
    assert_eq!(
        json[0]["title"].as_str(),
        Some(EVIL),
        "--json reads back whole"
    );
}

/// Finding 12, `merges`: feed titles (from the config, so from an OPML file) and item titles
/// (a right-to-left override passes the title normalisation) of near-duplicate stories.
#[tokio::test(flavor = "multi_thread")]
async fn merges_print_nothing_that_drives_a_terminal() {
    let env = Env::new().await;
    let story: String = [
        "The regional council voted on Tuesday evening to rebuild the Old Mill bridge, which has been closed to traffic since a flood damaged two of its piers last autumn.",
        "Engineers told councillors that the structure could not be repaired safely and that a new span, built on the existing abutments, would cost about 14 million euros.",
        "Work is expected to start in the spring and to take eighteen months, during which a temporary footbridge will carry pedestrians and cyclists across the river.",
        "Shop owners on both banks have complained for months that the closure has cut their trade, and several welcomed the decision while asking for a faster timetable.",
    ]
    .iter()
    .map(|s| format!("<p>{s}</p>"))
    .collect();
    for (name, guid) in [("a", "wire-1"), ("b", "city-1")] {
        env.serve_bytes(
            &format!("/{name}"),
            format!(
                "<rss version=\"2.0\"><channel><title>{name}</title><item><guid>{guid}</guid>\
                 <title>Bridge \u{202E}vote</title><link>https://{guid}.example.org/s</link>\
                 <description><![CDATA[{story}]]></description></item></channel></rss>"
            )
            .into_bytes(),
            "application/rss+xml",
        )
        .await;
    }
    let toml_title = "\\u001B]0;owned\\u0007\\u009B2J";
    let config = env.dir.path().join("config.toml");
    let feeds = |n: usize| {
        let mut t = String::from(
            "[storage]\npath = \"feedmerge.db\"\n[reading_time]\nfull_text = \"never\"\n",
        );
        for name in &["a", "b"][..n] {
            t.push_str(&format!(
                "[[feeds]]\nurl = \"{}\"\ntitle = \"{name}{toml_title}\"\n",
                env.url(&format!("/{name}"))
            ));
        }
        t
    };
    // The first feed has the story first.
    std::fs::write(&config, feeds(1)).unwrap();
    assert!(feedmerge(&config, &["poll-once"]).await.status.success());
    std::fs::write(&config, feeds(2)).unwrap();
    assert!(feedmerge(&config, &["poll-once"]).await.status.success());
    for args in [&["merges"][..], &["merges", "--json"]] {
        let out = feedmerge(&config, args).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.contains("owned"), "a merge is listed: {stdout}");
        assert_printable(&format!("{args:?}"), &stdout);
    }
}

/// Starts the daemon on a database in a temporary folder; returns it with the database path.
async fn daemon_on_a_database() -> (Env, Daemon, std::path::PathBuf) {
    let env = Env::new().await;
    let cfg = env.config(&[env.serve("rss2_basic.xml").await]);
    let db = cfg.storage.path.clone();
    let daemon = Daemon::start(cfg).await;
    wait_until("ready", Duration::from_secs(30), || async {
        get(&daemon.url("/readyz")).await.0 == 200
    })
    .await;
    (env, daemon, db)
}

/// After the file is gone: `/readyz` answers 503 until the daemon has stopped, and it stops
/// by itself, with an error naming the file, within a few seconds.
async fn stops_for_its_lost_file(daemon: Daemon, db: &Path, what: &str) {
    // The daemon may stop between two requests; while it answers, it is not ready.
    if let Ok(r) = http_client().get(daemon.url("/readyz")).send().await {
        assert_eq!(r.status().as_u16(), 503, "ready on a lost file");
    }
    let result = daemon.exited(Duration::from_secs(15)).await;
    let e = format!("{:#}", result.expect_err("an error, for a non-zero exit"));
    assert!(
        e.contains(&db.display().to_string()) && e.contains(what),
        "{e}"
    );
}

/// Finding 11: the database file deleted while running went unnoticed; the daemon stayed
/// ready and wrote into the deleted file, and the next start had an empty database.
#[tokio::test(flavor = "multi_thread")]
async fn a_removed_database_file_stops_the_daemon() {
    let (_env, daemon, db) = daemon_on_a_database().await;
    std::fs::remove_file(&db).unwrap();
    stops_for_its_lost_file(daemon, &db, "was removed").await;
}

/// Finding 11, replaced: the file renamed away and a new one put in its place.
#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_database_file_stops_the_daemon() {
    let (_env, daemon, db) = daemon_on_a_database().await;
    // The log and index files go with it (the daemon keeps them open), as a whole database
    // moved away would: left at their names, the new database would open on the running
    // one's log.
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", db.display()));
        if file.exists() {
            std::fs::rename(&file, format!("{}.old", file.display())).unwrap();
        }
    }
    drop(feedmerge::store::Store::open(&db).unwrap());
    stops_for_its_lost_file(daemon, &db, "was replaced by another file").await;
}

/// See: issue 19, "no size limit on any field". An error quotes what a server sent: a
/// redirect to a 100 KB `Location` that is no URL made a 100 KB error, stored on the feed,
/// logged, and published in health items.
#[tokio::test(flavor = "multi_thread")]
async fn regression_19_a_feeds_error_is_stored_short() {
    let env = Env::new().await;
    let location = format!("http://[{}", "x".repeat(100_000));
    Mock::given(method("GET"))
        .and(path("/big-error.xml"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", location.as_str()))
        .mount(&env.server)
        .await;
    let cfg = env.config(&[env.url("/big-error.xml")]);
    crate::common::poll(&cfg).await;
    let feeds = app::status(&cfg).await.unwrap();
    let error = feeds[0].last_error.as_deref().expect("the feed failed");
    assert!(error.contains("xxxx"), "{error}");
    assert!(
        error.chars().count() <= feedmerge::pipeline::MAX_ERROR_CHARS + 1,
        "{} characters",
        error.chars().count()
    );
}
