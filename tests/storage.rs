//! Storage guarantees: retention bounds the database without touching what outputs show or
//! letting removed items come back; start-up errors name the database and what to do.

use crate::common;

use common::{Env, merged, poll};
use feedmerge::config::Config;

/// A feed listing `count` items starting at `first`, each with a few KB of text.
fn window(first: usize, count: usize) -> Vec<u8> {
    let body = "<p>".to_owned() + &"Lorem ipsum dolor sit amet consectetur. ".repeat(80) + "</p>";
    let mut xml = String::from(r#"<rss version="2.0"><channel><title>Rotating</title>"#);
    for i in first..first + count {
        xml.push_str(&format!(
            "<item><guid>n{i}</guid><title>Item {i}</title><link>https://example.org/n/{i}</link>\
             <pubDate>{}</pubDate><description><![CDATA[{body}]]></description></item>",
            (chrono::Utc::now() - chrono::Duration::days(400) + chrono::Duration::hours(i as i64))
                .to_rfc2822()
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

fn config(env: &Env, storage: &str, max_items: usize) -> Config {
    let path = env.dir.path().join("config.toml");
    let toml = format!(
        "[storage]\npath = \"f.db\"\n{storage}\n[reading_time]\nfull_text = \"never\"\n[output]\nmax_items = {max_items}\n[[feeds]]\nurl = \"{}\"\n",
        env.url("/feed")
    );
    std::fs::write(&path, toml).unwrap();
    Config::load(&path).unwrap()
}

/// Pages in use, read through the WAL.
fn used_pages(cfg: &Config) -> i64 {
    let db = rusqlite::Connection::open(&cfg.storage.path).unwrap();
    let pages: i64 = db.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
    let free: i64 = db
        .query_row("PRAGMA freelist_count", [], |r| r.get(0))
        .unwrap();
    pages - free
}

fn item_count(cfg: &Config) -> i64 {
    let db = rusqlite::Connection::open(&cfg.storage.path).unwrap();
    db.query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn retention_bounds_the_database_in_steady_state() {
    let env = Env::new().await;
    let cfg = config(&env, "max_items_per_feed = 40", 20);
    let mut sizes = Vec::new();
    for round in 0..40 {
        env.server.reset().await;
        env.serve_bytes("/feed", window(round * 20, 20), "application/rss+xml")
            .await;
        let s = poll(&cfg).await; // poll-once also runs retention
        assert_eq!(s.items_new, 20, "round {round}");
        sizes.push(used_pages(&cfg));
        assert!(
            item_count(&cfg) <= 40,
            "round {round}: {} items",
            item_count(&cfg)
        );
    }
    println!("pages in use by round: {sizes:?}");
    let (early, late) = (sizes[10], sizes[39]);
    assert!(
        late <= early + early / 5,
        "the database keeps growing: {early} pages at round 10, {late} at round 39"
    );
    // The merged feed still shows its 20 newest items.
    let ch = merged(&cfg).await;
    assert_eq!(ch.items().len(), 20);
    assert_eq!(ch.items()[0].title(), Some("Item 799"));

    // Items removed while their feed still lists them do not come back as new.
    env.server.reset().await;
    env.serve_bytes("/feed", window(1000, 60), "application/rss+xml")
        .await;
    assert_eq!(poll(&cfg).await.items_new, 60);
    assert_eq!(item_count(&cfg), 40, "20 over the cap removed");
    for _ in 0..3 {
        assert_eq!(
            poll(&cfg).await.items_new,
            0,
            "removed items stay removed while listed"
        );
    }
}

/// `poll-once` runs retention only when it stored something: a poll of unchanged feeds (all
/// 304, the common case from cron) reads nothing but the feeds' rows.
#[tokio::test]
async fn poll_once_cleans_up_after_storing_something_only() {
    let env = Env::new().await;
    env.serve_bytes("/feed", window(0, 30), "application/rss+xml")
        .await;
    assert_eq!(poll(&config(&env, "", 5)).await.items_new, 30);
    assert_eq!(item_count(&config(&env, "", 5)), 30);
    // A tighter cap, and nothing new: nothing is removed yet.
    let tight = config(&env, "max_items_per_feed = 10", 5);
    assert_eq!(poll(&tight).await.items_new, 0);
    assert_eq!(item_count(&tight), 30);
    // Something new: retention applies the cap.
    env.server.reset().await;
    env.serve_bytes("/feed", window(30, 1), "application/rss+xml")
        .await;
    assert_eq!(poll(&tight).await.items_new, 1);
    assert_eq!(item_count(&tight), 10);
}

/// Retention first asks whether anything is over a limit: only then does it work out what
/// the outputs show (which reads them all).
#[tokio::test]
async fn retention_is_due_only_when_an_item_is_over_a_limit() {
    use feedmerge::store::{RetentionPolicy, Store};
    use std::time::Duration;

    let env = Env::new().await;
    env.serve_bytes("/feed", window(0, 30), "application/rss+xml")
        .await;
    let cfg = config(&env, "", 5);
    poll(&cfg).await;
    let store = Store::open(&cfg.storage.path).unwrap();
    let policy = |max_items_per_feed| RetentionPolicy {
        max_age: Duration::from_secs(30 * 86_400),
        max_items_per_feed,
    };
    // Published 400 days ago but first seen now: not old.
    assert!(!store.retention_due(policy(30)).await.unwrap());
    assert!(store.retention_due(policy(29)).await.unwrap());
    let db = rusqlite::Connection::open(&cfg.storage.path).unwrap();
    db.execute(
        "UPDATE items SET first_seen_at = 0 WHERE title = 'Item 3'",
        [],
    )
    .unwrap();
    assert!(store.retention_due(policy(30)).await.unwrap());
}

#[tokio::test]
async fn retention_never_removes_what_an_output_shows() {
    let env = Env::new().await;
    // Everything is over a year old and the cap is 5 per feed, but the merged feed shows 30.
    let cfg = config(&env, "max_items_per_feed = 5\nmax_age = \"30d\"", 30);
    env.serve_bytes("/feed", window(0, 50), "application/rss+xml")
        .await;
    poll(&cfg).await;
    assert_eq!(
        item_count(&cfg),
        30,
        "the 30 shown are kept, the 20 others removed"
    );
    let ch = merged(&cfg).await;
    assert_eq!(ch.items().len(), 30);
    assert_eq!(ch.items()[29].title(), Some("Item 20"));
}

#[tokio::test]
async fn start_up_errors_name_the_database_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    // A database from a newer feedmerge.
    let newer = dir.path().join("newer.db");
    {
        let db = rusqlite::Connection::open(&newer).unwrap();
        db.pragma_update(None, "user_version", 999).unwrap();
    }
    let e = feedmerge::store::Store::open(&newer)
        .unwrap_err()
        .to_string();
    assert!(e.contains("schema version 999 is newer"), "{e}");

    // A file that is not a database.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![0x42u8; 8192]).unwrap();
    let e = feedmerge::store::Store::open(&junk)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(junk.to_str().unwrap()) && e.contains("not a feedmerge database"),
        "{e}"
    );

    // A folder that cannot be created (a file stands where it should be).
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"").unwrap();
    let e = feedmerge::store::Store::open(&blocker.join("data/f.db"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot create folder") && e.contains("blocker"),
        "{e}"
    );
}

/// A full disk (simulated with `[storage] max_size`): the poll fails with a clear error,
/// nothing stored is lost, serving continues, and the next poll with room stores the items.
#[tokio::test]
async fn a_full_disk_loses_nothing_and_polling_resumes() {
    let env = Env::new().await;
    env.serve_bytes(
        "/small",
        common::fixture("atom_basic.xml"),
        "application/atom+xml",
    )
    .await;
    env.serve_bytes("/big", window(0, 300), "application/rss+xml")
        .await;
    let write = |max_size: &str| {
        let path = env.dir.path().join("config.toml");
        std::fs::write(
            &path,
            format!(
                "[storage]\npath = \"f.db\"\n{max_size}\n[reading_time]\nfull_text = \"never\"\n[output]\nmax_items = 1000\n\
                 [[feeds]]\nurl = \"{}\"\n[[feeds]]\nurl = \"{}\"\n",
                env.url("/small"),
                env.url("/big")
            ),
        )
        .unwrap();
        Config::load(&path).unwrap()
    };
    let cfg = write("max_size = \"256KiB\"");
    let mut errors = Vec::new();
    let summary = feedmerge::app::poll_once(&cfg, |feed, report| {
        if report.is_none() {
            errors.push(feed.url.to_string());
        }
    })
    .await
    .unwrap();
    assert_eq!(summary.not_stored, 1, "{summary}");
    assert_eq!(errors, [env.url("/big")]);
    // The small feed's items are stored and served; the database is sound.
    let ch = merged(&cfg).await;
    assert_eq!(ch.items().len(), 2);
    let db = rusqlite::Connection::open(&cfg.storage.path).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");

    // With room again, the next poll stores the big feed too.
    let cfg = write("");
    let summary = poll(&cfg).await;
    assert_eq!(
        (summary.not_stored, summary.items_new),
        (0, 300),
        "{summary}"
    );
    assert_eq!(merged(&cfg).await.items().len(), 302);
}
