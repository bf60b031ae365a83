//! Commands beside the daemon's database: the read-only ones (`status`, `render`, `merges`,
//! `export-opml`), which never create or migrate it, and `backup`, which copies it while the
//! daemon writes.

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use common::{Daemon, Env, feedmerge_with_async, files_in, text, wait_until};
use feedmerge::config::Config;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

#[tokio::test(flavor = "multi_thread")]
async fn read_only_commands_create_no_database_and_say_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[storage]\npath = \"data/feedmerge.db\"\n[[feeds]]\nurl = \"http://127.0.0.1:9/feed.xml\"\n",
    )
    .unwrap();
    let db = dir.path().join("data/feedmerge.db");
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["render"],
        &["merges"],
    ] {
        let out = feedmerge_with_async(&config, args).await;
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            text(&out.stderr).trim(),
            format!(
                "error: no database at {} yet: start the daemon or run poll-once first",
                db.display()
            ),
            "{args:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    }
    let out = feedmerge_with_async(&config, &["export-opml"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        files_in(dir.path()),
        ["config.toml"],
        "neither the database nor its folder"
    );

    // An empty file (what the daemon creates just before its first migration) is no
    // database yet either, and stays empty.
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(&db, b"").unwrap();
    let out = feedmerge_with_async(&config, &["status"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no database at"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);
}

/// The schema version of the database at `path`.
fn user_version(path: &Path) -> u32 {
    rusqlite::Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn read_only_commands_never_migrate_and_name_the_version() {
    let env = Env::new().await;
    let cfg = env.config(&[env.serve("rss2_basic.xml").await]);
    common::poll(&cfg).await;
    let db = &cfg.storage.path;
    let current = user_version(db);

    // From an older feedmerge: left as it is, for a command that writes to migrate.
    let set = |v: u32| {
        rusqlite::Connection::open(db)
            .unwrap()
            .pragma_update(None, "user_version", v)
            .unwrap();
    };
    set(current - 1);
    for args in [&["status"][..], &["render"], &["merges"]] {
        let out = feedmerge_with_async(&cfg.source, args).await;
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let expected = format!(
            "error: cannot read database {}: database schema version {} is older than this feedmerge's ({current}); start the daemon or run poll-once to upgrade it",
            db.display(),
            current - 1
        );
        assert_eq!(text(&out.stderr).trim(), expected, "{args:?}");
        assert_eq!(user_version(db), current - 1, "{args:?} migrated it");
    }

    set(current + 1);
    let out = feedmerge_with_async(&cfg.source, &["status"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!(
            "database schema version {} is newer than this feedmerge supports",
            current + 1
        )),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(user_version(db), current + 1);

    set(current);
    let out = feedmerge_with_async(&cfg.source, &["status"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Items in each document a feed of [`Ingesting`] serves.
const ITEMS_PER_POLL: usize = 5;

/// Feeds that change at every request: the n-th document of `/f/K` holds
/// [`ITEMS_PER_POLL`] new items, `K-n-0` to `K-n-4`, each with a few KB of text, so that
/// every poll writes.
#[derive(Default)]
struct Ingesting {
    served: Mutex<HashMap<String, u64>>,
}

impl Respond for Ingesting {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let feed = request.url.path().trim_start_matches("/f/").to_owned();
        let n = {
            let mut served = self.served.lock().unwrap();
            let n = served.entry(feed.clone()).or_default();
            *n += 1;
            *n
        };
        let mut xml = format!("<rss version=\"2.0\"><channel><title>Feed {feed}</title>");
        for i in 0..ITEMS_PER_POLL {
            // Words of their own, so that no item is a near-duplicate of another.
            let body: String = (0..600).map(|w| format!("w{feed}x{n}x{i}x{w} ")).collect();
            xml.push_str(&format!(
                "<item><guid>{feed}-{n}-{i}</guid><title>poll {n} item {i}</title>\
                 <link>https://example.org/{feed}/{n}/{i}</link><description>{body}</description></item>"
            ));
        }
        xml.push_str("</channel></rss>");
        ResponseTemplate::new(200).set_body_raw(xml.into_bytes(), "application/rss+xml")
    }
}

/// How many feeds [`ingesting`] configures.
const FEEDS: usize = 40;

/// A config of [`FEEDS`] feeds polled every second, each poll new items ([`Ingesting`]).
async fn ingesting(env: &Env) -> Config {
    Mock::given(method("GET"))
        .and(path_regex("^/f/[0-9]+$"))
        .respond_with(Ingesting::default())
        .mount(&env.server)
        .await;
    let urls: Vec<String> = (0..FEEDS).map(|k| env.url(&format!("/f/{k}"))).collect();
    env.config_with(
        &urls,
        "[poller]\ninterval = \"1s\"\nper_host = 8\nper_host_spacing = \"0s\"",
    )
}

/// Items stored so far, read through a connection of the test's own; 0 before the daemon
/// has made its tables.
fn stored_items(db: &Path) -> i64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0)))
        .unwrap_or(0)
}

/// A daemon on [`ingesting`]'s feeds, once it has stored every feed's first poll: its
/// config, its database file, and it.
async fn ingesting_daemon(env: &Env) -> (Config, PathBuf, Daemon) {
    let cfg = ingesting(env).await;
    let db = cfg.storage.path.clone();
    let daemon = Daemon::start(cfg.clone()).await;
    wait_until("every feed polled", Duration::from_secs(60), || async {
        stored_items(&db) >= (FEEDS * ITEMS_PER_POLL) as i64
    })
    .await;
    (cfg, db, daemon)
}

#[tokio::test(flavor = "multi_thread")]
async fn read_only_commands_answer_beside_a_daemon_that_writes() {
    let env = Env::new().await;
    let (cfg, db, daemon) = ingesting_daemon(&env).await;

    for _ in 0..3 {
        let out = feedmerge_with_async(&cfg.source, &["status", "--json"]).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let feeds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(feeds.as_array().unwrap().len(), FEEDS);
        assert!(feeds[0]["items"].as_u64().unwrap() >= ITEMS_PER_POLL as u64);

        let out = feedmerge_with_async(&cfg.source, &["render"]).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let ch = rss::Channel::read_from(&out.stdout[..]).expect("RSS on stdout");
        assert!(ch.items().len() >= FEEDS * ITEMS_PER_POLL);

        let out = feedmerge_with_async(&cfg.source, &["merges"]).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
    }

    // The daemon went on writing.
    let before = stored_items(&db);
    wait_until("more polls stored", Duration::from_secs(60), || async {
        stored_items(&db) > before
    })
    .await;
    daemon.stop().await;
}

/// How many items of each poll (feed URL and poll number) the database at `path` holds.
fn items_per_poll(path: &Path) -> HashMap<(String, String), usize> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT f.url, i.guid FROM items i JOIN feeds f ON f.id = i.feed_id")
        .unwrap();
    let mut polls = HashMap::new();
    for row in stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
    {
        let (url, guid) = row.unwrap();
        let poll = guid.rsplit_once('-').unwrap().0.to_owned();
        *polls.entry((url, poll)).or_default() += 1;
    }
    polls
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_while_the_daemon_ingests_is_whole_and_consistent() {
    let env = Env::new().await;
    let (cfg, db, daemon) = ingesting_daemon(&env).await;

    let backups = tempfile::tempdir().unwrap();
    let copy = backups.path().join("feedmerge-backup.db");
    let copy_arg = copy.to_str().unwrap();
    for round in 0..3 {
        let force: &[&str] = if round == 0 { &[] } else { &["--force"] };
        let out =
            feedmerge_with_async(&cfg.source, &[&["backup", copy_arg][..], force].concat()).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).starts_with("backed up "),
            "{}",
            text(&out.stdout)
        );
        let conn = rusqlite::Connection::open(&copy).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        drop(conn);
        let polls = items_per_poll(&copy);
        assert!(
            polls.len() >= FEEDS,
            "every feed's first poll: {}",
            polls.len()
        );
        let torn: Vec<_> = polls
            .iter()
            .filter(|&(_, &n)| n != ITEMS_PER_POLL)
            .collect();
        assert!(torn.is_empty(), "polls copied in part: {torn:?}");
        assert_eq!(
            files_in(backups.path()),
            ["feedmerge-backup.db"],
            "no scratch or journal file left"
        );
    }

    // FILE exists: refused without --force, and left as it was.
    let before = std::fs::read(&copy).unwrap();
    let out = feedmerge_with_async(&cfg.source, &["backup", copy_arg]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "error: {} exists already: nothing was written (--force replaces it)",
            copy.display()
        )
    );
    assert!(std::fs::read(&copy).unwrap() == before);

    // The daemon went on writing.
    let stored = stored_items(&db);
    wait_until("more polls stored", Duration::from_secs(60), || async {
        stored_items(&db) > stored
    })
    .await;
    daemon.stop().await;

    // The copy is a database the daemon starts from.
    let restored = Config::load(&cfg.source).unwrap();
    std::fs::remove_file(&db).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    std::fs::copy(&copy, &db).unwrap();
    let copied = stored_items(&db);
    let out = feedmerge_with_async(&restored.source, &["status", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let feeds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items: u64 = feeds
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["items"].as_u64().unwrap())
        .sum();
    assert_eq!(items as i64, copied);
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_without_a_database_says_so_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[storage]\npath = \"feedmerge.db\"\n").unwrap();
    let out = feedmerge_with_async(
        &config,
        &["backup", dir.path().join("b.db").to_str().unwrap()],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no database at"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(files_in(dir.path()), ["config.toml"]);
}
