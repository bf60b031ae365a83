//! Autodiscovery: `feedmerge discover URL` given a feed, a page that advertises feeds, a page
//! that advertises none (the usual paths tried in order), and nothing at all; its requests
//! under the fetch policy and its bound on a page; and the `status` hint for a configured
//! address that is a page.

use std::path::PathBuf;

use feedmerge::discover::{self, DiscoverError, How};
use feedmerge::html::links::MAX_SCAN_BYTES;
use url::Url;

use crate::common::{Env, feedmerge_with, fixture, text};
use crate::hostile::fetch_policy::{Names, PUBLIC, fetcher, server_at};

/// A config with no feeds, in `env`'s folder.
fn config(env: &Env) -> PathBuf {
    env.config(&[]);
    env.dir.path().join("config.toml")
}

/// A found feed as `--json` shows it: (url, format, how, title).
type Found = (String, String, String, Option<String>);

/// `discover URL --json`, which must succeed: the feeds found, and the skipped ones as
/// "URL: reason".
fn discovered(env: &Env, url: &str) -> (Vec<Found>, Vec<String>) {
    let out = feedmerge_with(&config(env), &["discover", url, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let feeds = json["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["url"].as_str().unwrap().to_owned(),
                f["format"].as_str().unwrap().to_owned(),
                f["how"].as_str().unwrap().to_owned(),
                f["title"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let skipped = json["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}: {}",
                s["url"].as_str().unwrap(),
                s["reason"].as_str().unwrap()
            )
        })
        .collect();
    (feeds, skipped)
}

/// A page whose `<head>` holds `head`.
fn page(head: &str) -> Vec<u8> {
    format!(
        "<!DOCTYPE html>\n<html><head><title>A site</title>{head}</head>\
         <body><h1>Welcome</h1><a href=\"/podcast/feed\">podcast</a></body></html>"
    )
    .into_bytes()
}

/// The paths the feed server was asked for, in order.
async fn requested(env: &Env) -> Vec<String> {
    env.server
        .received_requests()
        .await
        .expect("requests are recorded")
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect()
}

#[tokio::test]
async fn an_address_that_is_a_feed_is_that_feed() {
    let env = Env::new().await;
    let url = env.serve("rss2_basic.xml").await;
    let out = feedmerge_with(&config(&env), &["discover", &url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{url}  rss  given  Basic RSS\n"));
    assert_eq!(requested(&env).await, ["/rss2_basic.xml"]);
}

#[tokio::test]
async fn a_page_with_a_relative_link_leads_to_its_feed() {
    let env = Env::new().await;
    env.serve_bytes(
        "/blog/",
        page(r#"<link rel="alternate" type="application/atom+xml" title="Posts" href="../atom.xml">"#),
        "text/html",
    )
    .await;
    env.serve_bytes(
        "/atom.xml",
        fixture("atom_basic.xml"),
        "application/atom+xml",
    )
    .await;
    let (feeds, _) = discovered(&env, &env.url("/blog/"));
    assert_eq!(
        feeds,
        [(
            env.url("/atom.xml"),
            "atom".into(),
            "advertised".into(),
            Some("Posts".into())
        )]
    );
}

/// Every advertised feed is listed, in page order, with the page's title for it (else its
/// own); one that is not a feed is named apart, and no usual path is tried.
#[tokio::test]
async fn a_page_offering_several_feeds_lists_them_all_in_order() {
    let env = Env::new().await;
    env.serve_bytes(
        "/",
        page(
            r#"<link rel="alternate" type="application/rss+xml" title="All posts" href="/rss2_basic.xml">
               <link rel="alternate" type="application/rss+xml" title="Gone" href="/missing.xml">
               <link rel="alternate" type="application/feed+json" href="/json_basic.json">
               <link rel="alternate feed" type="application/atom+xml" title="Comments" href="/atom_basic.xml">"#,
        ),
        "text/html",
    )
    .await;
    for name in ["rss2_basic.xml", "json_basic.json", "atom_basic.xml"] {
        env.serve(name).await;
    }
    let (feeds, skipped) = discovered(&env, &env.url("/"));
    let got: Vec<_> = feeds
        .iter()
        .map(|(u, f, h, t)| (u.as_str(), f.as_str(), h.as_str(), t.as_deref()))
        .collect();
    let json_title = serde_json::from_slice::<serde_json::Value>(&fixture("json_basic.json"))
        .unwrap()["title"]
        .as_str()
        .map(str::to_owned);
    assert_eq!(
        got,
        [
            (
                env.url("/rss2_basic.xml").as_str(),
                "rss",
                "advertised",
                Some("All posts")
            ),
            (
                env.url("/json_basic.json").as_str(),
                "json",
                "advertised",
                json_title.as_deref()
            ),
            (
                env.url("/atom_basic.xml").as_str(),
                "atom",
                "advertised",
                Some("Comments")
            ),
        ]
    );
    assert_eq!(
        skipped,
        [format!(
            "{}: unexpected status 404 from {}",
            env.url("/missing.xml"),
            env.url("/missing.xml")
        )]
    );
    // As lines: one a feed, the skipped one on stderr.
    let out = feedmerge_with(&config(&env), &["discover", &env.url("/")]);
    assert_eq!(
        text(&out.stdout).lines().next(),
        Some(format!("{}  rss  advertised  All posts", env.url("/rss2_basic.xml")).as_str())
    );
    assert_eq!(text(&out.stdout).lines().count(), 3);
    assert!(
        text(&out.stderr).contains(&format!(
            "skipped {}: unexpected status 404",
            env.url("/missing.xml")
        )),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        requested(&env).await[..5],
        [
            "/",
            "/rss2_basic.xml",
            "/missing.xml",
            "/json_basic.json",
            "/atom_basic.xml"
        ]
    );
}

#[tokio::test]
async fn links_resolve_against_the_pages_base_href() {
    let env = Env::new().await;
    env.serve_bytes(
        "/about/team.html",
        page(r#"<base href="/feeds/"><link rel=alternate type=application/rss+xml href=main.xml>"#),
        "text/html",
    )
    .await;
    env.serve_bytes(
        "/feeds/main.xml",
        fixture("rss2_basic.xml"),
        "application/rss+xml",
    )
    .await;
    let (feeds, _) = discovered(&env, &env.url("/about/team.html"));
    assert_eq!(feeds.len(), 1, "{feeds:?}");
    assert_eq!(feeds[0].0, env.url("/feeds/main.xml"));
    assert_eq!(feeds[0].3.as_deref(), Some("Basic RSS"));
}

/// A page that advertises nothing: the usual paths are tried one at a time, in order, and
/// the first that is a feed ends the search (`/atom.xml` answers one too, and is not asked).
#[tokio::test]
async fn without_links_the_usual_paths_are_tried_in_order_up_to_the_first_feed() {
    let env = Env::new().await;
    env.serve_bytes("/", page(""), "text/html").await;
    // A page at /feed is not a feed: the next name is tried.
    env.serve_bytes("/feed", page(""), "text/html").await;
    env.serve_bytes("/rss", fixture("rss2_basic.xml"), "application/rss+xml")
        .await;
    env.serve_bytes(
        "/atom.xml",
        fixture("atom_basic.xml"),
        "application/atom+xml",
    )
    .await;
    let (feeds, _) = discovered(&env, &env.url("/"));
    assert_eq!(
        feeds,
        [(
            env.url("/rss"),
            "rss".into(),
            "usual-path".into(),
            Some("Basic RSS".into())
        )]
    );
    assert_eq!(requested(&env).await, ["/", "/feed", "/rss"]);
}

#[tokio::test]
async fn nothing_found_is_an_error_that_names_the_address_and_the_tries() {
    let env = Env::new().await;
    env.serve_bytes("/", page(""), "text/html").await;
    let out = feedmerge_with(&config(&env), &["discover", &env.url("/")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr).lines().last().unwrap(),
        format!(
            "error: {} is an HTML page that advertises no feed, and none of /feed, /rss, \
             /atom.xml, /feed.xml, /rss.xml, /index.xml, /feed.json, /atom, /blog/feed is one",
            env.url("/")
        )
    );
    assert_eq!(requested(&env).await.len(), 10);
}

/// Only the first `MAX_SCAN_BYTES` of a page are read: a link past them is not seen (the
/// usual paths are tried instead), one just before them is.
#[tokio::test]
async fn a_huge_page_is_read_only_up_to_the_bound() {
    let env = Env::new().await;
    let link = r#"<link rel="alternate" type="application/rss+xml" href="/rss2_basic.xml">"#;
    let padding = format!("<!-- {} -->", "x".repeat(MAX_SCAN_BYTES));
    env.serve_bytes("/late", page(&format!("{padding}{link}")), "text/html")
        .await;
    let early = format!("<!-- {} -->", "x".repeat(MAX_SCAN_BYTES - 1000));
    env.serve_bytes("/early", page(&format!("{early}{link}")), "text/html")
        .await;
    env.serve("rss2_basic.xml").await;

    let out = feedmerge_with(&config(&env), &["discover", &env.url("/late")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("is an HTML page that advertises no feed"),
        "{}",
        text(&out.stderr)
    );
    let (feeds, _) = discovered(&env, &env.url("/early"));
    assert_eq!(feeds[0].0, env.url("/rss2_basic.xml"));
}

/// A page on a public address that advertises a feed inside the network: the feed is
/// refused as a feed's redirect there would be, and never asked for; on the site's own
/// server it is fetched.
#[tokio::test]
async fn an_advertised_feed_inside_the_network_is_refused() {
    let site = server_at(PUBLIC, 0).await;
    let inside = server_at(std::net::Ipv4Addr::LOCALHOST, 0).await;
    let site_port = site.address().port();
    let inside_port = inside.address().port();
    let inside_feed = format!("http://internal.test:{inside_port}/feed.xml");
    for server in [&site, &inside] {
        wiremock::Mock::given(wiremock::matchers::path("/feed.xml"))
            .respond_with(
                wiremock::ResponseTemplate::new(200)
                    .set_body_raw(fixture("rss2_basic.xml"), "application/rss+xml"),
            )
            .mount(server)
            .await;
    }
    wiremock::Mock::given(wiremock::matchers::path("/"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_raw(
            page(&format!(
                r#"<link rel="alternate" type="application/rss+xml" href="{inside_feed}">"#
            )),
            "text/html",
        ))
        .mount(&site)
        .await;
    wiremock::Mock::given(wiremock::matchers::path("/own"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_raw(
            page(r#"<link rel="alternate" type="application/rss+xml" href="/feed.xml">"#),
            "text/html",
        ))
        .mount(&site)
        .await;

    let fetcher = fetcher(Names::standard().network());
    let given = Url::parse(&format!("http://public.test:{site_port}/")).unwrap();
    let e = discover::discover(&fetcher, &given).await.unwrap_err();
    let DiscoverError::AdvertisedUnreadable { skipped, .. } = &e else {
        panic!("{e}");
    };
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0].reason.starts_with(&format!(
            "refused to fetch {inside_feed}: internal.test resolves only to non-public addresses"
        )),
        "{e}"
    );
    assert!(inside.received_requests().await.unwrap().is_empty());

    let own = given.join("/own").unwrap();
    let found = discover::discover(&fetcher, &own).await.unwrap();
    assert_eq!(found.feeds[0].url, given.join("/feed.xml").unwrap());
    assert_eq!(found.feeds[0].how, How::Advertised);
}

/// A site's address configured as a feed: its poll fails, and `status` names the feed the
/// page advertises, read from the page fetched (no other request).
#[tokio::test]
async fn status_names_the_feed_a_configured_page_advertises() {
    let env = Env::new().await;
    env.serve_bytes(
        "/",
        page(r#"<link rel="alternate" type="application/rss+xml" title="Example blog" href="/feed.xml">"#),
        "text/html",
    )
    .await;
    env.config(&[env.url("/")]);
    let config = env.dir.path().join("config.toml");
    let out = feedmerge_with(&config, &["poll-once"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = feedmerge_with(&config, &["status"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = text(&out.stdout);
    assert!(
        status.contains(&format!(
            "{}: cannot parse {}: not a feed but an HTML page; it advertises {} (\"Example blog\"): use that URL",
            env.url("/"),
            env.url("/"),
            env.url("/feed.xml")
        )),
        "{status}"
    );
    assert_eq!(requested(&env).await, ["/"]);
}
