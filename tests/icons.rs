//! Source icons end to end: fetched once per site from the places a site keeps one (the
//! feed's declared icon, the home page's `<link rel="icon">`, `/favicon.ico`, in that
//! order), refused when not an image or too large, not asked again after a failure, and
//! served by feedmerge itself at `/icons/NAME` with long cache headers; feedmerge's own icon
//! at `/favicon.ico`.

use crate::common;

use common::{Daemon, Env, http_client};
use feedmerge::icons::MAX_ICON_BYTES;
use feedmerge::store::icon_hash;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A PNG's first bytes, then `tag`: as much of a PNG as the type check reads, and a
/// different icon for each tag.
fn png(tag: &str) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend_from_slice(tag.as_bytes());
    bytes
}

/// An RSS feed of the site at `site` (its home page) with one story, declaring `icon` as
/// its image if given.
fn feed(site: &str, icon: Option<&str>) -> Vec<u8> {
    let image = icon.map_or_else(String::new, |url| {
        format!("<image><url>{url}</url><title>Site</title><link>{site}</link></image>")
    });
    format!(
        r#"<rss version="2.0"><channel><title>Site</title><link>{site}</link>{image}
           <item><guid>1</guid><title>Bridge opens</title><link>{site}story</link>
           <description>The bridge opened.</description></item></channel></rss>"#
    )
    .into_bytes()
}

/// Serves `body` at `path_` on `server` as `content_type`.
async fn serve(server: &MockServer, path_: &str, body: Vec<u8>, content_type: &str) {
    Mock::given(method("GET"))
        .and(path(path_))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, content_type))
        .mount(server)
        .await;
}

/// How many requests for `path_` `server` received.
async fn asked(server: &MockServer, path_: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == path_)
        .count()
}

/// The `src` of each source icon `<img>` on the page, as a browser reads it.
fn icon_srcs(html: &str) -> Vec<String> {
    html.split("<img class=\"source-icon\" src=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].replace("&#x2f;", "/"))
        .collect()
}

#[tokio::test]
async fn a_declared_icon_is_fetched_once_and_served_from_here() {
    let env = Env::new().await;
    let site = env.url("/");
    let logo = env.url("/logo.png");
    env.serve_bytes("/feed.xml", feed(&site, Some(&logo)), "application/rss+xml")
        .await;
    // Labelled as anything: the bytes say what it is.
    env.serve_bytes("/logo.png", png("logo"), "application/octet-stream")
        .await;
    let cfg = env.config(&[env.url("/feed.xml")]);
    common::poll(&cfg).await;
    // A second poll finds the icon current: the site is not asked again for a week.
    common::poll(&cfg).await;
    assert_eq!(asked(&env.server, "/logo.png").await, 1);
    assert_eq!(
        asked(&env.server, "/").await,
        0,
        "the declared icon comes first"
    );
    assert_eq!(asked(&env.server, "/favicon.ico").await, 0);

    let daemon = Daemon::start(cfg).await;
    let html = daemon.text("/").await;
    let name = icon_hash(&png("logo"));
    assert_eq!(icon_srcs(&html), [format!("/icons/{name}")], "{html}");
    assert!(!html.contains("logo.png"), "never hot-linked: {html}");

    let client = http_client();
    let icon = client
        .get(daemon.url(&format!("/icons/{name}")))
        .send()
        .await
        .unwrap();
    assert_eq!(icon.status(), 200);
    let header = |name: &str| {
        icon.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header("content-type"), "image/png");
    assert_eq!(header("x-content-type-options"), "nosniff");
    let cache = header("cache-control");
    for directive in ["public", "max-age=604800", "immutable"] {
        assert!(cache.contains(directive), "{cache}");
    }
    let etag = header("etag");
    assert_eq!(etag, format!("\"{name}\""));
    assert_eq!(icon.bytes().await.unwrap(), png("logo"));
    let again = client
        .get(daemon.url(&format!("/icons/{name}")))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    for unknown in [
        "/icons/0123456789abcdef",
        "/icons/..%2Ffeed.xml",
        "/icons/x",
    ] {
        let r = client.get(daemon.url(unknown)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{unknown}");
    }
    daemon.stop().await;
}

#[tokio::test]
async fn without_a_declared_icon_the_home_page_then_favicon_ico() {
    // Site A names its icon on its home page (and has a /favicon.ico too, never asked).
    let env = Env::new().await;
    let a = &env.server;
    serve(
        a,
        "/feed.xml",
        feed(&env.url("/"), None),
        "application/rss+xml",
    )
    .await;
    let home = r#"<!doctype html><html><head><title>A</title>
        <link rel="apple-touch-icon" href="/touch.png">
        <link rel="icon" href="/static/mark.png"></head><body>News</body></html>"#;
    serve(a, "/", home.as_bytes().to_vec(), "text/html; charset=utf-8").await;
    serve(a, "/static/mark.png", png("mark"), "image/png").await;
    serve(a, "/touch.png", png("touch"), "image/png").await;
    serve(a, "/favicon.ico", png("a-favicon"), "image/x-icon").await;
    // Site B names none: its /favicon.ico it is.
    let b = MockServer::start().await;
    let b_site = format!("{}/", b.uri());
    serve(&b, "/feed.xml", feed(&b_site, None), "application/rss+xml").await;
    let plain = b"<!doctype html><html><head><title>B</title></head></html>".to_vec();
    serve(&b, "/", plain, "text/html").await;
    let ico = b"\0\0\x01\0\x01\0\x10\x10\0\0\x01\0\x20\0".to_vec();
    serve(&b, "/favicon.ico", ico.clone(), "image/vnd.microsoft.icon").await;

    let cfg = env.config(&[env.url("/feed.xml"), format!("{}/feed.xml", b.uri())]);
    common::poll(&cfg).await;
    assert_eq!(asked(a, "/").await, 1);
    assert_eq!(asked(a, "/static/mark.png").await, 1);
    assert_eq!(asked(a, "/touch.png").await, 0, "rel=icon first");
    assert_eq!(asked(a, "/favicon.ico").await, 0, "the page's icon first");
    assert_eq!(asked(&b, "/favicon.ico").await, 1);

    let daemon = Daemon::start(cfg).await;
    let mut srcs = icon_srcs(&daemon.text("/").await);
    srcs.sort();
    let mut expected = [
        format!("/icons/{}", icon_hash(&png("mark"))),
        format!("/icons/{}", icon_hash(&ico)),
    ];
    expected.sort();
    assert_eq!(srcs, expected);
    let ico_url = daemon.url(&format!("/icons/{}", icon_hash(&ico)));
    let r = http_client().get(ico_url).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "image/x-icon");
    daemon.stop().await;
}

/// A declared icon too large, a page icon that is an HTML page, and no /favicon.ico: no
/// icon, and the site is not asked again on the next poll; the card keeps its initial.
#[tokio::test]
async fn non_images_and_oversize_icons_are_refused_and_a_failing_site_waits() {
    let env = Env::new().await;
    let big = {
        let mut bytes = png("big");
        bytes.resize(MAX_ICON_BYTES as usize + 1, 0);
        bytes
    };
    let feed_doc = feed(&env.url("/"), Some(&env.url("/big.png")));
    env.serve_bytes("/feed.xml", feed_doc, "application/rss+xml")
        .await;
    env.serve_bytes("/big.png", big, "image/png").await;
    let home = r#"<html><head><link rel="icon" href="/icon"></head></html>"#;
    env.serve_bytes("/", home.as_bytes().to_vec(), "text/html")
        .await;
    // An error page labelled as an image.
    let page = b"<!doctype html><html><title>Not found</title></html>".to_vec();
    env.serve_bytes("/icon", page, "image/png").await;
    // /favicon.ico: the mock server's 404.

    let cfg = env.config(&[env.url("/feed.xml")]);
    common::poll(&cfg).await;
    common::poll(&cfg).await;
    assert_eq!(asked(&env.server, "/feed.xml").await, 2);
    for tried in ["/big.png", "/", "/icon", "/favicon.ico"] {
        assert_eq!(asked(&env.server, tried).await, 1, "{tried}");
    }
    let daemon = Daemon::start(cfg).await;
    let html = daemon.text("/").await;
    assert!(icon_srcs(&html).is_empty(), "{html}");
    assert!(
        html.contains(r#"<span class="source-icon" aria-hidden="true">S</span>"#),
        "{html}"
    );
    daemon.stop().await;
}

#[tokio::test]
async fn feedmerge_serves_its_own_icon() {
    let env = Env::new().await;
    let daemon = Daemon::start(env.config(&[])).await;
    let client = http_client();
    let ico = client.get(daemon.url("/favicon.ico")).send().await.unwrap();
    assert_eq!(ico.status(), 200);
    assert_eq!(ico.headers()["content-type"], "image/x-icon");
    assert!(ico.bytes().await.unwrap().starts_with(b"\0\0\x01\0"));
    let svg = client.get(daemon.url("/favicon.svg")).send().await.unwrap();
    assert_eq!(svg.status(), 200);
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let policy = svg.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert!(svg.text().await.unwrap().starts_with("<svg"));
    let html = daemon.text("/").await.replace("&#x2f;", "/");
    assert!(
        html.contains(r#"<link rel="icon" href="/favicon.ico" sizes="32x32">"#),
        "{html}"
    );
    daemon.stop().await;
}

/// An icon is fetched where an article link may lead: an icon the feed declares on another
/// server of this machine is not asked for (the icon at the feed's own server is taken).
#[tokio::test]
async fn a_declared_icon_obeys_the_fetch_policy() {
    let env = Env::new().await;
    let elsewhere = MockServer::start().await;
    serve(&elsewhere, "/logo.png", png("elsewhere"), "image/png").await;
    let declared = format!("{}/logo.png", elsewhere.uri());
    let doc = feed(&env.url("/"), Some(&declared));
    env.serve_bytes("/feed.xml", doc, "application/rss+xml")
        .await;
    env.serve_bytes("/favicon.ico", png("own"), "image/png")
        .await;
    let cfg = env.config(&[env.url("/feed.xml")]);
    common::poll(&cfg).await;
    assert_eq!(asked(&elsewhere, "/logo.png").await, 0);
    let daemon = Daemon::start(cfg).await;
    let html = daemon.text("/").await;
    assert_eq!(
        icon_srcs(&html),
        [format!("/icons/{}", icon_hash(&png("own")))]
    );
    daemon.stop().await;
}

/// When a site's icon is due again, it is asked for conditionally: a 304 keeps the icon,
/// and a changed icon gets a new name, so that the immutable old one is never served stale.
#[tokio::test]
async fn a_due_icon_is_asked_for_conditionally_and_a_new_one_gets_a_new_name() {
    let env = Env::new().await;
    let logo = env.url("/logo.png");
    env.serve_bytes(
        "/feed.xml",
        feed(&env.url("/"), Some(&logo)),
        "application/rss+xml",
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/logo.png"))
        .and(wiremock::matchers::header("if-none-match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&env.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/logo.png"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", "\"v1\"")
                .set_body_raw(png("v1"), "image/png"),
        )
        .up_to_n_times(1)
        .mount(&env.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/logo.png"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(png("v2"), "image/png"))
        .mount(&env.server)
        .await;
    let cfg = env.config(&[env.url("/feed.xml")]);
    let db = env.dir.path().join("feedmerge.db");
    // What a week does: the icon is due.
    let due = || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute("UPDATE icons SET next_check_at = 0", [])
            .unwrap();
    };
    let page = |cfg| async move {
        let daemon = Daemon::start(cfg).await;
        let srcs = icon_srcs(&daemon.text("/").await);
        daemon.stop().await;
        srcs
    };
    common::poll(&cfg).await;
    let v1 = vec![format!("/icons/{}", icon_hash(&png("v1")))];
    assert_eq!(page(cfg.clone()).await, v1);
    due();
    common::poll(&cfg).await;
    assert_eq!(asked(&env.server, "/logo.png").await, 2);
    assert_eq!(page(cfg.clone()).await, v1, "304: the same icon");
    due();
    common::poll(&cfg).await;
    assert_eq!(asked(&env.server, "/logo.png").await, 3);
    let v2 = vec![format!("/icons/{}", icon_hash(&png("v2")))];
    assert_eq!(page(cfg).await, v2);
}
