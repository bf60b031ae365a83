//! Crash safety: the real binary is killed with SIGKILL at random moments while it ingests
//! many feeds, and restarted. After every kill the database opens, passes
//! `PRAGMA integrity_check`, still holds every item that was served before the kill, and the
//! next poll completes. `cargo test` runs 12 kills; the ignored test runs 60
//! (`cargo test --test integration crash:: -- --ignored`).

use crate::common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::Env;
use feedmerge::config::Config;
use wiremock::matchers::method;
use wiremock::{Mock, Request, Respond, ResponseTemplate};

/// Every request gets a document with 5 more items than the last one, so every poll writes.
struct Growing(AtomicUsize);

impl Respond for Growing {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        let feed = req.url.path().trim_start_matches('/');
        let body =
            "<p>".to_owned() + &"Words that make the story long enough. ".repeat(40) + "</p>";
        let mut xml = format!(r#"<rss version="2.0"><channel><title>{feed}</title>"#);
        for i in n * 5..n * 5 + 20 {
            xml.push_str(&format!(
                "<item><guid>{feed}-{i}</guid><title>{feed} {i}</title><link>https://example.org/{feed}/{i}</link>\
                 <description><![CDATA[{body}]]></description></item>"
            ));
        }
        xml.push_str("</channel></rss>");
        ResponseTemplate::new(200).set_body_raw(xml.into_bytes(), "application/rss+xml")
    }
}

/// The guids of every item the merged feed serves.
async fn served(cfg: &Config) -> HashSet<String> {
    let xml = feedmerge::app::render(cfg, feedmerge::render::Format::Rss)
        .await
        .expect("the database opens");
    let ch = rss::Channel::read_from(&xml[..]).expect("a valid feed");
    ch.items()
        .iter()
        .map(|i| i.guid().unwrap().value().to_owned())
        .collect()
}

fn integrity(cfg: &Config) -> String {
    let db = rusqlite::Connection::open(&cfg.storage.path).unwrap();
    db.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

async fn kill_and_restart(kills: usize) {
    let env = Env::new().await;
    Mock::given(method("GET"))
        .respond_with(Growing(AtomicUsize::new(0)))
        .mount(&env.server)
        .await;
    let urls: Vec<String> = (0..60).map(|i| env.url(&format!("/f{i}"))).collect();
    let cfg = env.config(&urls);
    let path = cfg.source.clone();
    let mut before = HashSet::new();
    let mut killed_mid_run = 0;
    for round in 0..kills {
        let mut child = Command::new(env!("CARGO_BIN_EXE_feedmerge"))
            .arg("--config")
            .arg(&path)
            .arg("poll-once")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = Duration::from_millis(fastrand::u64(5..400));
        tokio::time::sleep(delay).await;
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();

        assert_eq!(
            integrity(&cfg),
            "ok",
            "round {round}: integrity after a kill at {delay:?}"
        );
        let after = served(&cfg).await;
        let lost: Vec<_> = before.difference(&after).take(5).collect();
        assert!(
            lost.is_empty(),
            "round {round}: items lost by a kill at {delay:?}: {lost:?}"
        );
        before = after;
    }
    // The next poll completes, and everything is still there.
    let summary = feedmerge::app::poll_once(&cfg, |_, _| {}).await.unwrap();
    assert_eq!(summary.ok, 60, "{summary}");
    assert_eq!(integrity(&cfg), "ok");
    assert!(served(&cfg).await.is_superset(&before));
    println!(
        "{kills} SIGKILLs ({killed_mid_run} during a poll): database intact after every one, no served item lost"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn survives_sigkill_at_random_moments() {
    kill_and_restart(12).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "long: 60 kills; run with --ignored"]
async fn survives_sixty_sigkills() {
    kill_and_restart(60).await;
}
