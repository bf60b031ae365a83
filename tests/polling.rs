//! Polite, unbreakable polling against real loopback servers: hints decide the schedule,
//! Retry-After pauses a host, 410 stops a feed, 301/308 are remembered, a restart resumes
//! the schedule, and misbehaving servers cannot hang or flood the poller.

use crate::common;

use std::time::Duration;

use common::{Daemon, Env, fixture, raw_server, read_request};
use feedmerge::app;
use feedmerge::model::PollKind;
use feedmerge::pipeline;
use feedmerge::store::Store;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

/// Waits (at most 20 s) until the daemon running `cfg` has stored a poll of the feed whose
/// URL ends in `suffix`.
async fn until_polled(cfg: &feedmerge::config::Config, suffix: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        // The daemon may still be creating the database when the first check runs.
        let statuses = app::status(cfg).await.unwrap_or_default();
        let feed = statuses.iter().find(|s| s.url.ends_with(suffix));
        if feed.is_some_and(|f| f.last_result.is_some()) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{suffix} was not polled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn rss_with(channel_extra: &str) -> Vec<u8> {
    format!(
        r#"<rss version="2.0"><channel><title>Hinted</title>{channel_extra}
        <item><guid>1</guid><title>One</title><link>https://example.org/1</link></item></channel></rss>"#
    )
    .into_bytes()
}

#[tokio::test]
async fn hints_decide_the_next_poll() {
    let env = Env::new().await;
    env.serve_bytes("/ttl", rss_with("<ttl>180</ttl>"), "application/rss+xml")
        .await;
    Mock::given(method("GET"))
        .and(path("/cached"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(rss_with(""), "application/rss+xml")
                .insert_header("cache-control", "public, max-age=7200"),
        )
        .mount(&env.server)
        .await;
    env.serve_bytes("/plain", rss_with("<ttl>1</ttl>"), "application/rss+xml")
        .await;
    let cfg = env.config(&[env.url("/ttl"), env.url("/cached"), env.url("/plain")]);
    common::poll(&cfg).await;
    let statuses = app::status(&cfg).await.unwrap();
    let reason = |p: &str| {
        let s = statuses.iter().find(|s| s.url.ends_with(p)).unwrap();
        let wait = (s.next_poll_at.unwrap() - s.last_polled_at.unwrap()).num_minutes();
        (s.next_poll_reason.clone().unwrap(), wait)
    };
    let (why, mins) = reason("/ttl");
    assert!(why == "ttl" && (180..=198).contains(&mins), "{why} {mins}");
    let (why, mins) = reason("/cached");
    assert!(
        why == "cache headers" && (120..=132).contains(&mins),
        "{why} {mins}"
    );
    let (why, mins) = reason("/plain");
    assert!(
        why == "interval" && (30..=33).contains(&mins),
        "a 1-minute ttl never shortens: {why} {mins}"
    );
}

#[tokio::test]
async fn retry_after_pauses_every_feed_of_the_host() {
    let env = Env::new().await;
    Mock::given(method("GET"))
        .and(path("/limited"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .mount(&env.server)
        .await;
    env.serve_bytes("/other", fixture("atom_basic.xml"), "application/atom+xml")
        .await;
    let cfg = env.config(&[env.url("/limited"), env.url("/other")]);
    let store = Store::open(&cfg.storage.path).unwrap();
    let mut feeds = app::scheduled_feeds(&cfg, &store).await.unwrap();
    let ctx = app::context(&cfg, store, Default::default()).unwrap();
    let cancel = CancellationToken::new();

    let limited = &mut feeds[0];
    let report = pipeline::refresh_feed(
        &ctx,
        &mut limited.state,
        &limited.policy,
        &limited.reading,
        &cancel,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!((report.kind, report.status), (PollKind::Failed, Some(429)));
    let next = report.next_poll.unwrap();
    assert_eq!(next.reason.as_str(), "Retry-After");
    assert!((next.at - chrono::Utc::now()).num_minutes() >= 59);

    // Another feed of the same host waits for the pause instead of asking.
    let other = &mut feeds[1];
    let waited = tokio::time::timeout(
        Duration::from_millis(1500),
        pipeline::refresh_feed(
            &ctx,
            &mut other.state,
            &other.policy,
            &other.reading,
            &cancel,
        ),
    )
    .await;
    assert!(
        waited.is_err(),
        "the second feed must wait out the Retry-After"
    );
    assert_eq!(
        env.requests_to("/other").await,
        0,
        "no request before Retry-After"
    );
    assert_eq!(env.requests_to("/limited").await, 1);
}

/// See: issue 19 (a review of its fix). A `Retry-After` paused the host that was asked, not
/// the one that answered: a feed that redirected to a server answering 429 with a day's
/// `Retry-After` stopped every other feed of the host it redirected from.
#[tokio::test]
async fn regression_19_retry_after_pauses_the_server_that_answered() {
    let env = Env::new().await;
    let elsewhere = wiremock::MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/limited"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "86400"))
        .mount(&elsewhere)
        .await;
    let limited = format!("{}/limited", elsewhere.uri());
    Mock::given(method("GET"))
        .and(path("/redirect"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", limited.as_str()))
        .mount(&env.server)
        .await;
    env.serve_bytes("/other", fixture("atom_basic.xml"), "application/atom+xml")
        .await;
    let cfg = env.config(&[env.url("/redirect"), env.url("/other")]);
    let store = Store::open(&cfg.storage.path).unwrap();
    let mut feeds = app::scheduled_feeds(&cfg, &store).await.unwrap();
    let ctx = app::context(&cfg, store, Default::default()).unwrap();
    let cancel = CancellationToken::new();

    let redirected = &mut feeds[0];
    let report = pipeline::refresh_feed(
        &ctx,
        &mut redirected.state,
        &redirected.policy,
        &redirected.reading,
        &cancel,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(report.status, Some(429));

    // The host that redirected is not paused: its other feed is polled at once.
    let other = &mut feeds[1];
    let polled = tokio::time::timeout(
        Duration::from_secs(10),
        pipeline::refresh_feed(
            &ctx,
            &mut other.state,
            &other.policy,
            &other.reading,
            &cancel,
        ),
    )
    .await;
    let report = polled.expect("the other feed waited").unwrap().unwrap();
    assert_eq!(report.kind, PollKind::Fetched);
    // The server that answered is.
    let limited = url::Url::parse(&limited).unwrap();
    assert!(ctx.hosts.try_acquire(&limited).is_err(), "not paused");
}

#[tokio::test]
async fn gone_feeds_stop_and_moves_are_remembered() {
    let env = Env::new().await;
    Mock::given(method("GET"))
        .and(path("/gone"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&env.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/old"))
        .respond_with(ResponseTemplate::new(301).insert_header("location", "/new"))
        .mount(&env.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/temporary"))
        .respond_with(ResponseTemplate::new(307).insert_header("location", "/elsewhere"))
        .mount(&env.server)
        .await;
    env.serve_bytes("/new", fixture("rss2_basic.xml"), "application/rss+xml")
        .await;
    env.serve_bytes(
        "/elsewhere",
        fixture("atom_basic.xml"),
        "application/atom+xml",
    )
    .await;
    let cfg = env.config(&[env.url("/gone"), env.url("/old"), env.url("/temporary")]);

    let first = common::poll(&cfg).await;
    assert_eq!((first.ok, first.failed), (2, 1), "{first}");
    let second = common::poll(&cfg).await;
    assert_eq!(second.failed, 1);
    assert_eq!(
        env.requests_to("/old").await,
        1,
        "301 remembered: the old URL is not asked again"
    );
    assert_eq!(env.requests_to("/new").await, 2);
    assert_eq!(
        env.requests_to("/temporary").await,
        2,
        "307 is not remembered"
    );

    let statuses = app::status(&cfg).await.unwrap();
    let gone = statuses.iter().find(|s| s.url.ends_with("/gone")).unwrap();
    assert_eq!(
        (gone.last_result, gone.next_poll_at),
        (Some(PollKind::Gone), None)
    );
    assert!(
        gone.last_error
            .as_deref()
            .unwrap()
            .contains("delete it from the config")
    );
    let old = statuses.iter().find(|s| s.url.ends_with("/old")).unwrap();
    assert_eq!(old.moved_to.as_deref(), Some(env.url("/new").as_str()));

    // The daemon does not poll a gone feed at all: not in the start-up pass that polls a
    // feed it has never seen (were the gone feed due, that pass would have asked it too).
    env.serve_bytes(
        "/added",
        fixture("json_basic.json"),
        "application/feed+json",
    )
    .await;
    let with_added = env.config(&[
        env.url("/gone"),
        env.url("/old"),
        env.url("/temporary"),
        env.url("/added"),
    ]);
    let daemon = Daemon::start(with_added.clone()).await;
    until_polled(&with_added, "/added").await;
    daemon.stop().await;
    assert_eq!(
        env.requests_to("/gone").await,
        2,
        "only the two explicit polls"
    );
}

#[tokio::test]
async fn a_restart_resumes_the_schedule() {
    let env = Env::new().await;
    env.serve_bytes("/polled", fixture("atom_basic.xml"), "application/atom+xml")
        .await;
    env.serve_bytes(
        "/fresh",
        fixture("json_basic.json"),
        "application/feed+json",
    )
    .await;
    let before = env.config(&[env.url("/polled")]);
    common::poll(&before).await;

    // Restart with one more feed: the new one is due now, the other in half an hour.
    let cfg = env.config(&[env.url("/polled"), env.url("/fresh")]);
    let daemon = Daemon::start(cfg.clone()).await;
    // The start-up pass polls the new feed; were the other one due, it would poll it too.
    until_polled(&cfg, "/fresh").await;
    daemon.stop().await;
    assert_eq!(
        env.requests_to("/polled").await,
        1,
        "no poll before its time after a restart"
    );
}

/// Servers that break HTTP: each poll ends within the timeout with the error on the feed, and
/// a good feed beside them is polled as usual.
#[tokio::test]
async fn hostile_servers_cannot_hang_or_flood_the_poller() {
    let env = Env::new().await;
    let good = env.serve("atom_basic.xml").await;
    let silent = raw_server(|mut s| async move {
        read_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(600)).await;
    })
    .await;
    let trickle = raw_server(|mut s| async move {
        read_request(&mut s).await;
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 100000\r\n\r\n").await;
        for _ in 0..600 {
            if s.write_all(b"<").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
    .await;
    let headers_then_hang = raw_server(|mut s| async move {
        read_request(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n")
            .await;
        tokio::time::sleep(Duration::from_secs(600)).await;
    })
    .await;
    let endless = raw_server(|mut s| async move {
        read_request(&mut s).await;
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n\r\n<rss version=\"2.0\"><channel><title>").await;
        let chunk = vec![b'a'; 64 * 1024];
        while s.write_all(&chunk).await.is_ok() {}
    })
    .await;
    let truncated = raw_server(|mut s| async move {
        read_request(&mut s).await;
        let body = fixture("rss2_basic.xml");
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {}\r\n\r\n",
            body.len() + 1000
        );
        let _ = s.write_all(head.as_bytes()).await;
        let _ = s.write_all(&body[..body.len() / 2]).await;
    })
    .await;

    let mut urls = vec![good];
    urls.extend(
        [&silent, &trickle, &headers_then_hang, &endless, &truncated].map(|u| format!("{u}/feed")),
    );
    let cfg = env.config_with(&urls, "[poller]\ntimeout = \"2s\"\nmax_body = \"1MiB\"\n");
    let mut errors = std::collections::HashMap::new();
    let started = std::time::Instant::now();
    let summary = tokio::time::timeout(
        Duration::from_secs(60),
        app::poll_once(&cfg, |feed, report| {
            errors.insert(feed.url.to_string(), report.and_then(|r| r.error.clone()));
        }),
    )
    .await
    .expect("the poll ends")
    .unwrap();
    assert_eq!((summary.ok, summary.failed), (1, 5), "{summary}");
    // A hang guard, not a benchmark: every request is bounded by the 2 s timeout.
    assert!(started.elapsed() < Duration::from_secs(30));
    let error = |u: &str| errors[&format!("{u}/feed")].clone().unwrap_or_default();
    assert!(error(&silent).contains("timed out"), "{}", error(&silent));
    assert!(error(&trickle).contains("timed out"), "{}", error(&trickle));
    assert!(
        error(&headers_then_hang).contains("timed out"),
        "{}",
        error(&headers_then_hang)
    );
    assert!(
        error(&endless).contains("larger than 1048576 bytes"),
        "{}",
        error(&endless)
    );
    assert!(
        error(&truncated).contains("cannot fetch"),
        "{}",
        error(&truncated)
    );
    assert_eq!(
        common::merged(&cfg).await.items().len(),
        2,
        "the good feed's items"
    );
}

/// An absurd `Retry-After` neither crashes the poll nor stops the feed for longer than the
/// backoff cap.
#[tokio::test]
async fn regression_huge_retry_after_is_capped() {
    let env = Env::new().await;
    Mock::given(method("GET"))
        .and(path("/limited"))
        .respond_with(
            ResponseTemplate::new(429).insert_header("retry-after", "18446744073709551615"),
        )
        .mount(&env.server)
        .await;
    let cfg = env.config_with(&[env.url("/limited")], "[poller]\nmax_backoff = \"6h\"\n");
    let summary = common::poll(&cfg).await;
    assert_eq!(summary.failed, 1, "{summary}");
    let status = &app::status(&cfg).await.unwrap()[0];
    let wait = (status.next_poll_at.unwrap() - status.last_polled_at.unwrap()).num_minutes();
    assert_eq!(status.next_poll_reason.as_deref(), Some("Retry-After"));
    assert!((360..=375).contains(&wait), "{wait} minutes");
}
