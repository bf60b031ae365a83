//! Article pages: a feed's poll never waits on them, and what they cost is bounded.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use feedmerge::app;
use feedmerge::config::Config;
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{Daemon, poll, reading_attr, teaser_feed, wait_until};

/// `n` plain words, in sentences.
fn words(n: usize) -> String {
    let pool = ["river", "council", "bridge", "people", "morning", "market"];
    let mut out = String::new();
    for i in 0..n {
        out.push_str(pool[i % pool.len()]);
        out.push_str(if i % 12 == 11 { ". " } else { " " });
    }
    out
}

/// An article page of `n` words inside some chrome.
fn article_page(n: usize) -> String {
    format!(
        "<!doctype html><html><head><title>Story</title></head><body><nav><a href=\"/\">Home</a></nav>\
         <article><h1>Story</h1><p>{}</p></article><footer>The Daily</footer></body></html>",
        words(n)
    )
}

/// A feed whose one item, `title`, is long enough not to look like a summary: no article page
/// is wanted.
fn whole_story(title: &str) -> Vec<u8> {
    format!(
        r#"<rss version="2.0"><channel><title>Whole</title><item><guid>{title}</guid><title>{title}</title><description>{}</description></item></channel></rss>"#,
        words(400)
    )
    .into_bytes()
}

async fn serve(server: &MockServer, p: &str, body: Vec<u8>, content_type: &str, delay: Duration) {
    Mock::given(method("GET"))
        .and(path(p))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(body, content_type)
                .set_delay(delay),
        )
        .mount(server)
        .await;
}

/// A config of `feeds` with `[poller]` settings `poller`, article pages fetched when the
/// content is a summary, the database in `dir`.
fn config(dir: &Path, poller: &str, feeds: &[String]) -> Config {
    let mut toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"f.db\"\n[poller]\n{poller}\n\
         [reading_time]\nfull_text = \"auto\"\n[output]\nmax_items = 1000\n"
    );
    for url in feeds {
        toml.push_str(&format!("[[feeds]]\nurl = \"{url}\"\n"));
    }
    let file = dir.join("config.toml");
    std::fs::write(&file, toml).unwrap();
    Config::load(&file).unwrap()
}

/// How each item's estimate was made, by title: `full` once its article page is in.
fn sources(ch: &rss::Channel) -> Vec<(String, String)> {
    ch.items()
        .iter()
        .map(|i| (i.title().unwrap().to_owned(), reading_attr(i, "source")))
        .collect()
}

/// Finding 13: feeds whose article pages live on a host paused for a day by `Retry-After`.
/// Each such poll waited for the host, without a limit, in a global poll slot: two of them
/// held both slots, and no other feed, theirs or any other, was polled again.
#[tokio::test(flavor = "multi_thread")]
async fn regression_19_a_paused_article_host_holds_up_no_poll() {
    // See: issue #19, finding 13.
    let dir = tempfile::tempdir().unwrap();
    let (feeds, pages, other) = (
        MockServer::start().await,
        MockServer::start().await,
        MockServer::start().await,
    );
    // The article host's own feed asks for a day's pause; its pages would answer at once.
    Mock::given(path("/feed"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "86400"))
        .mount(&pages)
        .await;
    Mock::given(path_regex("^/story/"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(article_page(600), "text/html"))
        .mount(&pages)
        .await;
    let mut urls = vec![format!("{}/feed", pages.uri())];
    for f in 0..4 {
        let items: Vec<(String, String)> = (0..2)
            .map(|i| {
                (
                    format!("f{f}-{i}"),
                    format!("{}/story/{f}/{i}", pages.uri()),
                )
            })
            .collect();
        // Slower than the 429, so that the pause is on when their pages are wanted.
        let p = format!("/teasers{f}");
        serve(
            &feeds,
            &p,
            teaser_feed(&items),
            "application/rss+xml",
            Duration::from_millis(1500),
        )
        .await;
        urls.push(format!("{}{p}", feeds.uri()));
    }
    serve(
        &other,
        "/whole",
        whole_story("Elsewhere"),
        "application/rss+xml",
        Duration::ZERO,
    )
    .await;
    urls.push(format!("{}/whole", other.uri()));
    // Two slots, four feeds that link to the paused host, and one that does not.
    let cfg = config(dir.path(), "concurrency = 2", &urls);
    let daemon = Daemon::start(cfg.clone()).await;

    wait_until(
        "every feed polled and stored",
        Duration::from_secs(20),
        || async {
            // The daemon may still be creating the database when the first check runs.
            let Ok(statuses) = app::status(&cfg).await else {
                return false;
            };
            statuses.iter().all(|s| s.last_result.is_some())
                && daemon.feed().await.items().len() == 9
        },
    )
    .await;
    let statuses = app::status(&cfg).await.unwrap();
    for s in &statuses[1..] {
        assert_eq!(
            s.last_result,
            Some(feedmerge::model::PollKind::Fetched),
            "{}",
            s.url
        );
    }
    let ch = daemon.feed().await;
    // The teasers are stored with their summary's estimate; their pages wait for the host.
    for (title, source) in sources(&ch) {
        assert_eq!(source, "summary", "{title}");
    }
    daemon.stop().await;
}

/// Finding 16: a poll fetched its (up to ten) article pages one after another, each with the
/// whole timeout, in its poll slot: ten slow pages made one poll last ten timeouts, and kept
/// its items, and every feed waiting for the slot, out of the merged feed all along.
#[tokio::test(flavor = "multi_thread")]
async fn regression_19_slow_article_pages_do_not_hold_the_poll() {
    // See: issue #19, finding 16.
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    // Each page takes 3 of the 4 seconds a request may take.
    Mock::given(path_regex("^/story/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(article_page(600), "text/html")
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let items: Vec<(String, String)> = (0..10)
        .map(|i| (format!("slow-{i}"), format!("{}/story/{i}", server.uri())))
        .collect();
    serve(
        &server,
        "/teasers",
        teaser_feed(&items),
        "application/rss+xml",
        Duration::ZERO,
    )
    .await;
    serve(
        &server,
        "/whole",
        whole_story("Waiting"),
        "application/rss+xml",
        Duration::ZERO,
    )
    .await;
    let urls = [
        format!("{}/teasers", server.uri()),
        format!("{}/whole", server.uri()),
    ];
    // One slot: the second feed is polled once the first poll gives it up.
    let cfg = config(dir.path(), "concurrency = 1\ntimeout = \"4s\"", &urls);
    let started = Instant::now();
    let daemon = Daemon::start(cfg).await;

    // Ten pages one after another took 30 s; the poll itself takes well under a second.
    wait_until("both feeds stored", Duration::from_secs(10), || async {
        daemon.feed().await.items().len() == 11
    })
    .await;
    let stored = started.elapsed();
    let ch = daemon.feed().await;
    assert!(
        sources(&ch)
            .iter()
            .all(|(t, s)| t == "Waiting" || s == "summary"),
        "stored before any page was in ({stored:?}): {:?}",
        sources(&ch)
    );

    // The pages arrive, and the served feed shows their estimates: 600 words, 3 minutes.
    wait_until(
        "every estimate refined",
        Duration::from_secs(40),
        || async {
            sources(&daemon.feed().await)
                .iter()
                .all(|(t, s)| t == "Waiting" || s == "full")
        },
    )
    .await;
    let ch = daemon.feed().await;
    for item in ch.items().iter().filter(|i| i.title() != Some("Waiting")) {
        assert_eq!(reading_attr(item, "minutes"), "3");
    }
    daemon.stop().await;
}

/// Finding 21 (second half): the pages a poll's cap left were fetched only by a later poll
/// that got a new document; while the feed answered 304, never.
#[tokio::test(flavor = "multi_thread")]
async fn regression_19_pages_left_by_the_cap_are_fetched_while_the_feed_answers_304() {
    // See: issue #19, finding 21.
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    Mock::given(path_regex("^/story/"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(article_page(600), "text/html"))
        .mount(&server)
        .await;
    let items: Vec<(String, String)> = (0..15)
        .map(|i| (format!("s{i}"), format!("{}/story/{i}", server.uri())))
        .collect();
    Mock::given(path("/teasers"))
        .and(header("if-none-match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/teasers"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(teaser_feed(&items), "application/rss+xml")
                .insert_header("etag", "\"v1\""),
        )
        .mount(&server)
        .await;
    let cfg = config(dir.path(), "", &[format!("{}/teasers", server.uri())]);
    let page_requests = || async {
        let requests = server.received_requests().await.unwrap();
        let mut pages: Vec<String> = requests
            .iter()
            .filter(|r| r.url.path().starts_with("/story/"))
            .map(|r| r.url.path().to_owned())
            .collect();
        pages.sort();
        pages
    };
    let full = |ch: &rss::Channel| sources(ch).iter().filter(|(_, s)| s == "full").count();

    // The first poll: 15 teasers stored, the pages of 10 fetched.
    assert_eq!(poll(&cfg).await.items_new, 15);
    assert_eq!(page_requests().await.len(), 10);
    assert_eq!(full(&crate::common::merged(&cfg).await), 10);

    // The feed has not changed: 304. The other 5 pages are fetched now, none twice.
    let second = poll(&cfg).await;
    assert_eq!(second.not_modified, 1);
    let mut pages = page_requests().await;
    assert_eq!(pages.len(), 15, "{pages:?}");
    pages.dedup();
    assert_eq!(pages.len(), 15, "no page twice");
    assert_eq!(full(&crate::common::merged(&cfg).await), 15);
}

/// Finding 14 (shutdown): SIGTERM while an article page was being extracted waited for the
/// extraction (tens of seconds of CPU for a page of deeply nested elements) before exiting.
#[tokio::test(flavor = "multi_thread")]
async fn regression_19_sigterm_does_not_wait_for_an_extraction() {
    // See: issue #19, finding 14.
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    let depth = 40_000;
    let deep = format!(
        "<html><body>{}<p>{}</p>{}</body></html>",
        "<div>".repeat(depth),
        words(300),
        "</div>".repeat(depth)
    );
    serve(
        &server,
        "/deep",
        deep.into_bytes(),
        "text/html",
        Duration::ZERO,
    )
    .await;
    let items = [("deep".to_owned(), format!("{}/deep", server.uri()))];
    serve(
        &server,
        "/teasers",
        teaser_feed(&items),
        "application/rss+xml",
        Duration::ZERO,
    )
    .await;
    config(dir.path(), "", &[format!("{}/teasers", server.uri())]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_feedmerge"))
        .args([
            "--config",
            dir.path().join("config.toml").to_str().unwrap(),
            "run",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let requested = Instant::now() + Duration::from_secs(20);
    while !server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .any(|r| r.url.path() == "/deep")
    {
        if Instant::now() > requested {
            let _ = child.kill();
            panic!("the article page was not requested");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The page is in; its extraction takes far longer than this.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let exited = wait_for_exit(&mut child, Duration::from_secs(5));
    let took = sent.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    let status = exited.unwrap_or_else(|| panic!("still running {took:?} after SIGTERM"));
    assert!(status.success(), "{status}");
}

/// The child's exit status, if it exits within `limit`.
fn wait_for_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}
