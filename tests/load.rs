//! Under load: readers keep getting whole, valid feeds while the daemon ingests many feeds,
//! and stalled clients cannot take the server's connections away.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Daemon, Env, http_client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::method;
use wiremock::{Mock, Request, Respond, ResponseTemplate};

/// Items per feed.
const ITEMS: usize = 5;
/// Feeds ingested.
const FEEDS: usize = 200;
/// The longest a reader may wait for one response while feeds are ingested.
const READER_WAIT: Duration = Duration::from_secs(10);

/// Each feed: [`ITEMS`] items, named after the feed.
struct Items;

impl Respond for Items {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let feed = req.url.path().trim_start_matches('/');
        let body = "<p>".to_owned() + &"A sentence of the story, one of many. ".repeat(10) + "</p>";
        let mut xml = format!(r#"<rss version="2.0"><channel><title>{feed}</title>"#);
        for i in 0..ITEMS {
            xml.push_str(&format!(
                "<item><guid>{feed}-{i}</guid><title>{feed} {i}</title><link>https://example.org/{feed}/{i}</link>\
                 <description><![CDATA[{body}]]></description></item>"
            ));
        }
        xml.push_str("</channel></rss>");
        ResponseTemplate::new(200).set_body_raw(xml.into_bytes(), "application/rss+xml")
    }
}

/// While 200 feeds are ingested, 8 clients read the merged feed: no error, every response
/// valid, and every feed either absent or complete (a poll's items appear together).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_see_whole_polls_while_feeds_are_ingested() {
    let env = Env::new().await;
    Mock::given(method("GET"))
        .respond_with(Items)
        .mount(&env.server)
        .await;
    let urls: Vec<String> = (0..FEEDS).map(|i| env.url(&format!("/f{i}"))).collect();
    let cfg = env.config(&urls);
    let daemon = Daemon::start(cfg).await;
    let url = daemon.url("/feed.xml");

    let done = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (url, done) = (url.clone(), done.clone());
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let started = Instant::now();
                let r = http_client()
                    .get(&url)
                    .send()
                    .await
                    .expect("the server answers");
                assert_eq!(r.status(), 200);
                let body = r.bytes().await.unwrap();
                latencies.push(started.elapsed());
                let ch = rss::Channel::read_from(&body[..]).expect("a valid feed at every moment");
                let mut per_feed = std::collections::HashMap::<String, usize>::new();
                for item in ch.items() {
                    *per_feed
                        .entry(item.source().unwrap().url().to_owned())
                        .or_default() += 1;
                }
                assert!(
                    per_feed.values().all(|&n| n == ITEMS),
                    "a half-written poll was served: {per_feed:?}"
                );
                if ch.items().len() == FEEDS * ITEMS || Instant::now() > deadline {
                    done.fetch_add(1, Ordering::Relaxed);
                    return (latencies, ch.items().len());
                }
            }
        }));
    }
    let mut all = Vec::new();
    for c in clients {
        let (latencies, last) = c.await.unwrap();
        assert_eq!(last, FEEDS * ITEMS, "every feed ingested");
        all.extend(latencies);
    }
    all.sort();
    let p = |q: f64| all[((all.len() - 1) as f64 * q) as usize];
    println!(
        "{} requests during the ingest of {FEEDS} feeds: p50 {:?}, p99 {:?}, max {:?}",
        all.len(),
        p(0.5),
        p(0.99),
        all[all.len() - 1]
    );
    // Readers never wait for the ingest: the whole ingest takes a second or two, so a
    // response held behind it (a render waiting on the writer) would take that long. This is
    // a liveness bound with a wide margin for a busy machine, not a speed target
    // (`bench/serve.sh` measures speed).
    assert!(
        all[all.len() - 1] < READER_WAIT,
        "a reader waited {:?} during the ingest",
        all[all.len() - 1]
    );
    daemon.stop().await;
}

/// Clients that connect and stall cannot hold every connection slot: with all
/// `max_connections` taken by them, a newcomer is served at once (well before any timeout
/// would free a slot) and the server closes one of the stalled connections for it.
#[tokio::test]
async fn stalled_clients_cannot_starve_the_server() {
    let env = Env::new().await;
    let path = env.dir.path().join("config.toml");
    // Timeouts far beyond the test's wait: only the connection limit can make room.
    std::fs::write(
        &path,
        "[server]\nlisten = \"127.0.0.1:0\"\nmax_connections = 4\nidle_timeout = \"10m\"\nheader_timeout = \"60s\"\n[storage]\npath = \"f.db\"\n",
    )
    .unwrap();
    let cfg = feedmerge::config::Config::load(&path).unwrap();
    let daemon = Daemon::start(cfg).await;
    let addr = daemon.addr;

    // Four clients take every slot: one sends half a request line, three send nothing.
    let mut stalled = Vec::new();
    for i in 0..4 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        if i == 0 {
            s.write_all(b"GET /feed.xml HTTP/1.1\r\nHost: x")
                .await
                .unwrap();
        }
        stalled.push(s);
    }
    // A real reader still gets an answer once the idle ones are closed.
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(20),
        http_client().get(format!("http://{addr}/healthz")).send(),
    )
    .await
    .expect("served while stalled clients held every slot")
    .unwrap();
    assert_eq!(r.status(), 200);
    println!(
        "served after {:?} with every slot taken by stalled clients",
        started.elapsed()
    );
    // The room was made by closing a stalled connection, not by serving a fifth one. A
    // connection closed with the client's bytes unread (the half request line) ends with a
    // reset rather than an end of stream: both are a close; only a timeout is not.
    let mut closed = 0;
    for s in &mut stalled {
        let mut byte = [0u8; 1];
        // Closed: an end of stream, or a reset (the server drops what the client sent).
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(500), s.read(&mut byte)).await
        {
            closed += 1;
        }
    }
    assert!(closed >= 1, "no stalled connection was closed");
    daemon.stop().await;
    drop(stalled);
}
