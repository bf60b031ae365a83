//! The daemon over real TCP: `app::run` on 127.0.0.1:0 with feeds on a local server, its
//! merged feed fetched with ETags, 304s, HEAD and compression, and its shutdown.

use crate::common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{Daemon, Env, fixture, http_client as client};
use feedmerge::app;
use reqwest::StatusCode;

/// GET /feed.xml with `headers`.
async fn fetch(d: &Daemon, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client().get(d.url("/feed.xml"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.expect("daemon answers")
}

#[tokio::test]
async fn serves_the_merged_feed_with_validators_and_compression() {
    let env = Env::new().await;
    let cfg = env.config(&[
        env.serve("rss2_basic.xml").await,
        env.serve("atom_basic.xml").await,
    ]);
    let d = Daemon::start(cfg.clone()).await;
    d.wait_for_items(5).await;
    let c = client();

    let r = fetch(&d, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/rss+xml; charset=utf-8");
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong ETag: {etag}"
    );
    let last_modified = h["last-modified"].to_str().unwrap().to_owned();
    assert!(httpdate::parse_http_date(&last_modified).is_ok());
    assert!(h.get("content-encoding").is_none());
    let identity = r.bytes().await.unwrap();
    assert_eq!(
        identity,
        app::render(&cfg, feedmerge::render::Format::Rss)
            .await
            .unwrap(),
        "`render` prints exactly what is served"
    );

    // Rendered once per change: the same ETag again.
    let again = fetch(&d, &[]).await;
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);

    let r = fetch(&d, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    assert!(r.bytes().await.unwrap().is_empty());

    let r = fetch(&d, &[("if-none-match", "\"something-else\"")]).await;
    assert_eq!(r.status(), StatusCode::OK);

    let r = fetch(&d, &[("if-modified-since", &last_modified)]).await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = fetch(
        &d,
        &[("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    let r = fetch(&d, &[("accept-encoding", "gzip")]).await;
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_eq!(r.headers()["vary"], "accept-encoding");
    let gz_etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(gz_etag, etag, "each encoding has its own strong ETag");
    let mut xml = Vec::new();
    flate2::read::GzDecoder::new(&r.bytes().await.unwrap()[..])
        .read_to_end(&mut xml)
        .unwrap();
    assert_eq!(xml, identity);
    let r = fetch(
        &d,
        &[("accept-encoding", "gzip"), ("if-none-match", &gz_etag)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    let r = fetch(&d, &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(r.headers()["content-encoding"], "br");
    let mut xml = Vec::new();
    brotli::Decompressor::new(&r.bytes().await.unwrap()[..], 4096)
        .read_to_end(&mut xml)
        .unwrap();
    assert_eq!(xml, identity);

    let r = c.head(d.url("/feed.xml")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    assert!(r.bytes().await.unwrap().is_empty());

    let r = c.get(d.url("/sources.opml")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "text/x-opml; charset=utf-8");
    let sources = feedmerge::opml::parse(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(sources.len(), 2);

    let r = c.get(d.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    d.stop().await;
}

#[tokio::test]
async fn writes_by_another_process_reach_the_served_feed() {
    let env = Env::new().await;
    env.serve_bytes("/feed", fixture("atom_basic.xml"), "application/atom+xml")
        .await;
    let cfg = env.config(&[env.url("/feed")]);
    let d = Daemon::start(cfg.clone()).await;
    d.wait_for_items(2).await;
    let before = fetch(&d, &[]).await.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_owned();
    // The feed grows; `feedmerge poll-once` picks it up, on the same database, beside the
    // daemon (whose own next poll is half an hour away).
    env.server.reset().await;
    env.serve_bytes("/feed", fixture("rss2_basic.xml"), "application/rss+xml")
        .await;
    let summary = app::poll_once(&cfg, |_, _| {}).await.unwrap();
    assert_eq!(summary.items_new, 3);
    d.wait_for_items(5).await;
    // Last-Modified moved forward, even within the same second: a reader that only sends
    // If-Modified-Since must not get a 304 for the changed feed.
    let r = fetch(&d, &[("if-modified-since", &before)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let after = r.headers()["last-modified"].to_str().unwrap().to_owned();
    assert!(
        httpdate::parse_http_date(&after).unwrap() > httpdate::parse_http_date(&before).unwrap()
    );
    d.stop().await;
}

#[tokio::test]
async fn without_network_it_starts_and_serves_a_valid_empty_feed() {
    let env = Env::new().await;
    // Nothing listens on a port we bound and released.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let cfg = env.config(&[format!("http://{closed}/feed.xml")]);
    let d = Daemon::start(cfg.clone()).await;
    let ch = d.wait_for_items(0).await;
    assert_eq!(ch.items().len(), 0);
    assert_eq!(ch.title(), "feedmerge");

    // The failure is recorded on the feed.
    let deadline = Instant::now() + Duration::from_secs(20);
    let store = feedmerge::store::Store::open(&cfg.storage.path).unwrap();
    loop {
        let feed = feedmerge::model::Subscription {
            url: cfg.feeds[0].url.clone(),
            title: None,
        };
        let state = store.feed_statuses(&[feed]).await.unwrap().remove(0);
        if state.error_count > 0 {
            assert!(state.last_error.unwrap().contains(&closed.to_string()));
            break;
        }
        assert!(Instant::now() < deadline, "no failure recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.stop().await;
}

#[tokio::test]
async fn a_slow_feed_does_not_delay_shutdown_past_its_limit() {
    let env = Env::new().await;
    env.serve_bytes("/ok", fixture("rss2_basic.xml"), "application/rss+xml")
        .await;
    wiremock::Mock::given(wiremock::matchers::path("/slow"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
        .mount(&env.server)
        .await;
    let cfg = env.config(&[env.url("/ok"), env.url("/slow")]);
    let d = Daemon::start(cfg).await;
    d.wait_for_items(3).await;
    // `shutdown` allows 20 s; the in-flight fetch must be cancelled, not awaited for 10 minutes.
    d.stop().await;
}

/// `/feed.atom` and `/feed.json` carry the same items as `/feed.xml`, read back by an
/// independent parser, with the same validators, 304s and compression.
#[tokio::test]
async fn every_format_serves_the_same_items() {
    let env = Env::new().await;
    let cfg = env.config(&[
        env.serve("rss2_basic.xml").await,
        env.serve("json_basic.json").await,
    ]);
    let d = Daemon::start(cfg.clone()).await;
    d.wait_for_items(5).await;
    let c = client();
    let mut titles_by_format = Vec::new();
    for (path, content_type) in [
        ("/feed.xml", "application/rss+xml; charset=utf-8"),
        ("/feed.atom", "application/atom+xml; charset=utf-8"),
        ("/feed.json", "application/feed+json; charset=utf-8"),
    ] {
        let r = c.get(d.url(path)).send().await.unwrap();
        assert_eq!(r.headers()["content-type"], content_type);
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        let body = r.bytes().await.unwrap();
        let parsed = feed_rs::parser::parse(&body[..]).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut titles: Vec<String> = parsed
            .entries
            .iter()
            .map(|e| e.title.as_ref().unwrap().content.clone())
            .collect();
        titles.sort();
        titles_by_format.push(titles);
        let r = c
            .get(d.url(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{path}");
        let r = c
            .get(d.url(path))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-encoding"], "gzip", "{path}");
        assert_eq!(
            app::render(&cfg, format_of(path)).await.unwrap(),
            body,
            "{path}: `render --format` prints what is served"
        );
    }
    assert_eq!(titles_by_format[0].len(), 5);
    assert_eq!(titles_by_format[0], titles_by_format[1]);
    assert_eq!(titles_by_format[0], titles_by_format[2]);
    d.stop().await;
}

fn format_of(path: &str) -> feedmerge::render::Format {
    match path {
        "/feed.atom" => feedmerge::render::Format::Atom,
        "/feed.json" => feedmerge::render::Format::Json,
        _ => feedmerge::render::Format::Rss,
    }
}

/// `[[outputs]]` select exactly what their filters say; query parameters filter the default
/// feed; a token-protected output is indistinguishable from a missing one without its token.
#[tokio::test]
async fn filtered_outputs_and_tokens() {
    let env = Env::new().await;
    let rust = env.serve("rss2_basic.xml").await; // 3 items: "First post", "Podcast episode one", "A longer read"
    let long = env.serve("article_1500.xml").await; // 7 min read
    let other = env.serve("atom_basic.xml").await; // 2 items
    let toml = format!(
        r#"[server]
listen = "127.0.0.1:0"
[storage]
path = "f.db"
[[feeds]]
url = "{rust}"
tags = ["rust", "tech"]
[[feeds]]
url = "{long}"
tags = ["longreads"]
[[feeds]]
url = "{other}"
[[outputs]]
path = "/rust"
title = "Rust only"
tags = ["rust"]
exclude = "(?i)podcast"
[[outputs]]
path = "/long"
min_minutes = 5
[[outputs]]
path = "/private/atom"
include = "Atom entry"
token = "0123456789abcdef0123"
max_items = 1
"#
    );
    let path = env.dir.path().join("config.toml");
    std::fs::write(&path, toml).unwrap();
    let cfg = feedmerge::config::Config::load(&path).unwrap();
    common::poll(&cfg).await;
    let d = Daemon::start(cfg).await;
    let titles = |body: &[u8]| -> Vec<String> {
        let mut t: Vec<String> = rss::Channel::read_from(body)
            .unwrap()
            .items()
            .iter()
            .map(|i| i.title().unwrap().to_owned())
            .collect();
        t.sort();
        t
    };
    let get = |p: &'static str| {
        let url = d.url(p);
        async move { client().get(url).send().await.unwrap() }
    };

    let r = get("/rust.xml").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        titles(&r.bytes().await.unwrap()),
        ["A longer read", "First post"]
    );
    let r = get("/rust.atom").await;
    assert_eq!(
        r.headers()["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let r = get("/long.json").await;
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert_eq!(v["items"][0]["_feedmerge"]["reading_minutes"], 7);

    // Query parameters on the default feed.
    assert_eq!(
        titles(&get("/feed.xml?tag=tech").await.bytes().await.unwrap()).len(),
        3
    );
    assert_eq!(
        titles(&get("/feed.xml?tag=nothing").await.bytes().await.unwrap()).len(),
        0
    );
    assert_eq!(
        titles(&get("/feed.xml?min_minutes=5").await.bytes().await.unwrap()),
        ["Fifteen hundred words"]
    );
    assert_eq!(
        titles(&get("/feed.xml?limit=2").await.bytes().await.unwrap()).len(),
        2
    );
    assert_eq!(
        titles(&get("/feed.xml").await.bytes().await.unwrap()).len(),
        6
    );

    // The token: absent or wrong looks exactly like a path that does not exist.
    let missing = get("/nothing-here.xml").await;
    let (status, body) = (missing.status(), missing.bytes().await.unwrap());
    for p in [
        "/private/atom.xml",
        "/private/atom.xml?token=wrong",
        "/private/atom.xml?token=0123456789abcdef012",
    ] {
        let r = get(p).await;
        assert_eq!(
            (r.status(), r.bytes().await.unwrap()),
            (status, body.clone()),
            "{p}"
        );
    }
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = get("/private/atom.xml?token=0123456789abcdef0123").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(titles(&r.bytes().await.unwrap()).len(), 1, "max_items = 1");
    let r = client()
        .get(d.url("/private/atom.json"))
        .header("authorization", "Bearer 0123456789abcdef0123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    d.stop().await;
}

/// See: issue #19 ("never sanitise or render the same stored content twice for two request
/// variants"). Every format of the default feed, query variants and an `[[outputs]]` entry
/// that show the same items sanitise each item's HTML once: the daemon's renderings share one
/// cache of sanitised HTML, which counts each content it had to sanitise.
#[tokio::test]
async fn regression_19_variants_sanitise_each_item_once() {
    use std::collections::HashMap;
    use std::sync::Arc;

    use feedmerge::output::{FeedCache, Filters, Output, Outputs, Variant};
    use feedmerge::render::{Channel, Format};
    use feedmerge::store::{Selection, Store};

    let env = Env::new().await;
    let rust = env.serve("rss2_basic.xml").await; // 3 items
    let cfg = env.config(&[rust.clone(), env.serve("atom_basic.xml").await]); // + 2
    common::poll(&cfg).await;
    let output = |path: &str, selection: Selection| Output {
        channel: Channel {
            title: "t".into(),
            description: "d".into(),
            base_url: cfg.server.base_url.clone(),
            path: path.into(),
            placement: cfg.reading_time.placement,
            hub: None,
        },
        selection,
        health_items: false,
        token: None,
    };
    let outputs = Outputs {
        default: output("feed", Selection::newest(100)),
        filtered: HashMap::from([("all".to_owned(), output("all", Selection::newest(50)))]),
        tags: HashMap::from([("rust".to_owned(), vec![rust])]),
        sources: Default::default(),
        feeds: Vec::new().into(),
        tracking_params: Default::default(),
    };
    let store = Store::open(&cfg.storage.path).unwrap();
    let cache = FeedCache::new(store, outputs.clone(), Arc::default());

    let first = cache.current(Format::Rss).await.unwrap();
    let items = rss::Channel::read_from(&first.identity[..])
        .unwrap()
        .items()
        .len();
    assert_eq!(items, 5);
    assert_eq!(cache.sanitized().sanitised(), 5, "one run per item");
    for format in Format::ALL {
        cache.current(format).await.unwrap();
        for query in [
            "limit=2",
            "tag=rust",
            "tag=rust&min_minutes=1",
            "limit=4&tag=nope",
        ] {
            let filters = Filters::parse(Some(query), &outputs).unwrap();
            let variant = Variant::Filtered(filters.clone());
            cache
                .rendered(&variant, format, || filters.apply(&outputs))
                .await
                .unwrap();
        }
        let all = Variant::Output("all".into());
        cache
            .rendered(&all, format, || outputs.filtered["all"].clone())
            .await
            .unwrap();
    }
    assert_eq!(
        cache.sanitized().sanitised(),
        5,
        "3 formats x 6 renderings sanitised nothing again"
    );
}

/// Every format publishes item links without tracking parameters (`[output]
/// tracking_params`, on by default), the rest of the link as the feed had it; the guids stay
/// what they were, since readers know items by them; `tracking_params = []` publishes links
/// as they came, after a reload.
#[tokio::test]
async fn published_links_leave_out_tracking_parameters() {
    let env = Env::new().await;
    let feed = br#"<rss version="2.0"><channel><title>T</title>
        <item><guid>story-1</guid><title>One</title><link>https://news.example/story?utm_source=x&amp;id=3</link></item>
        <item><title>Two</title><link>https://news.example/other?p=1&amp;fbclid=y#c</link></item>
        </channel></rss>"#;
    env.serve_bytes("/feed.xml", feed.to_vec(), "application/rss+xml")
        .await;
    let cfg = env.config(&[env.url("/feed.xml")]);
    let d = Daemon::start(cfg).await;
    d.wait_for_items(2).await;
    // (path, [(title, link, id)]) for every format.
    let published = || async {
        let mut all = Vec::new();
        for path in ["/feed.xml", "/feed.atom", "/feed.json"] {
            let body = client().get(d.url(path)).send().await.unwrap().bytes();
            let parsed = feed_rs::parser::parse(&body.await.unwrap()[..]).unwrap();
            let mut entries: Vec<(String, String, String)> = parsed
                .entries
                .iter()
                .map(|e| {
                    let title = e.title.as_ref().unwrap().content.clone();
                    (title, e.links[0].href.clone(), e.id.clone())
                })
                .collect();
            entries.sort();
            all.push((path, entries));
        }
        all
    };
    let cleaned = published().await;
    for (path, entries) in &cleaned {
        let links: Vec<&str> = entries.iter().map(|e| e.1.as_str()).collect();
        assert_eq!(
            links,
            [
                "https://news.example/story?id=3",
                "https://news.example/other?p=1#c"
            ],
            "{path}"
        );
    }
    let page = d.text("/").await;
    assert!(
        page.contains("story?id=3") && !page.contains("utm_source") && !page.contains("fbclid"),
        "{page}"
    );

    env.config_with(&[env.url("/feed.xml")], "tracking_params = []");
    d.reload().await;
    common::wait_until("links as published", Duration::from_secs(30), || async {
        d.text("/feed.xml").await.contains("utm_source=x")
    })
    .await;
    let as_published = published().await;
    for ((path, before), (_, after)) in cleaned.iter().zip(&as_published) {
        let links: Vec<&str> = after.iter().map(|e| e.1.as_str()).collect();
        assert_eq!(
            links,
            [
                "https://news.example/story?utm_source=x&id=3",
                "https://news.example/other?p=1&fbclid=y#c"
            ],
            "{path}"
        );
        let ids = |entries: &[(String, String, String)]| -> Vec<String> {
            entries.iter().map(|e| e.2.clone()).collect()
        };
        assert_eq!(ids(before), ids(after), "{path}: the guids do not change");
    }
    d.stop().await;
}
