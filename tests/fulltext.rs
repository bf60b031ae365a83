//! Reading time from the whole article: summary-only feeds whose items link to news-style
//! pages (navigation, sidebars, comments, scripts) on a local server.

use crate::common;

use std::time::Duration;

use common::{Env, item, merged, poll, reading_attr};
use feedmerge::config::Config;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

/// `n` plain words, in sentences.
fn words(n: usize) -> String {
    let pool = [
        "river", "council", "bridge", "people", "morning", "market", "engineer", "stone", "winter",
        "harbour",
    ];
    let mut out = String::new();
    for i in 0..n {
        out.push_str(pool[i % pool.len()]);
        out.push_str(if i % 12 == 11 { ". " } else { " " });
    }
    out
}

/// A news page: the article inside a lot of chrome that must not count.
fn news_page(title: &str, body_html: &str) -> String {
    let chrome = words(120);
    format!(
        r#"<!doctype html><html><head><title>{title} | The Daily</title>
        <script>window.analytics = "{chrome}";</script><style>body {{ margin: 0 }}</style></head><body>
        <header><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a> <a href="/culture">Culture</a></nav></header>
        <aside class="sidebar"><h3>Most read</h3><ul><li><a href="/a">{chrome}</a></li></ul></aside>
        <main><article><h1>{title}</h1>{body_html}</article></main>
        <section class="comments"><h3>Comments</h3><div class="comment">Great read!</div><div class="comment">I disagree.</div></section>
        <footer>© The Daily. <a href="/subscribe">Subscribe</a></footer><script>track();</script></body></html>"#
    )
}

fn paragraphs(text: &str) -> String {
    text.split(". ")
        .filter(|s| !s.trim().is_empty())
        .map(|s| format!("<p>{s}.</p>"))
        .collect()
}

/// A summary-only RSS feed with one item per `(id, title, link)`.
fn teaser_feed(items: &[(&str, &str, String)]) -> Vec<u8> {
    let mut xml = String::from(r#"<rss version="2.0"><channel><title>Teasers</title>"#);
    for (id, title, link) in items {
        xml.push_str(&format!(
            "<item><guid>{id}</guid><title>{title}</title><link>{link}</link>\
             <description>The first lines of the story… Read more</description></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

fn config(env: &Env, feed: &str, reading_time: &str) -> Config {
    let path = env.dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[poller]\ntimeout = \"2s\"\n[storage]\npath = \"f.db\"\n[reading_time]\n{reading_time}\n[[feeds]]\nurl = \"{feed}\"\n"
        ),
    )
    .unwrap();
    Config::load(&path).unwrap()
}

async fn page(env: &Env, p: &str, body: String, content_type: &str) {
    Mock::given(method("GET"))
        .and(path(p))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body.into_bytes(), content_type))
        .mount(&env.server)
        .await;
}

#[tokio::test]
async fn estimates_come_from_the_article_page() {
    let env = Env::new().await;
    page(
        &env,
        "/news/bridge",
        news_page("Bridge to be rebuilt", &paragraphs(&words(700))),
        "text/html; charset=utf-8",
    )
    .await;
    let han: String = "東京の町では春が来て桜が咲きました"
        .chars()
        .cycle()
        .take(1500)
        .collect();
    page(
        &env,
        "/news/tokyo",
        news_page("春", &format!("<p>{han}</p>")),
        "text/html",
    )
    .await;
    let images: String = (1..=12).map(|i| format!("<figure><img src=\"/i/{i}.jpg\" width=\"800\" height=\"600\"><figcaption>Photo {i}</figcaption></figure>")).collect();
    page(
        &env,
        "/news/photos",
        news_page(
            "In pictures",
            &format!("{}{images}", paragraphs(&words(100))),
        ),
        "text/html",
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/news/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&env.server)
        .await;
    page(
        &env,
        "/files/report.pdf",
        "%PDF-1.7 not html".to_owned(),
        "application/pdf",
    )
    .await;

    let feed = teaser_feed(&[
        ("bridge", "Bridge", env.url("/news/bridge")),
        ("tokyo", "Tokyo", env.url("/news/tokyo")),
        ("photos", "Photos", env.url("/news/photos")),
        ("slow", "Slow", env.url("/news/slow")),
        ("pdf", "Report", env.url("/files/report.pdf")),
        ("gone", "Gone", env.url("/news/missing")),
    ]);
    env.serve_bytes("/feed", feed, "application/rss+xml").await;
    let cfg = config(&env, &env.url("/feed"), "full_text = \"auto\"");
    assert_eq!(poll(&cfg).await.items_new, 6);
    let ch = merged(&cfg).await;

    // 700 words of article (plus its headline) at 238 wpm: 3 minutes; the chrome's 120+120
    // words, the comments and the scripts do not count.
    let bridge = item(&ch, "Bridge");
    assert_eq!(reading_attr(bridge, "source"), "full");
    let counted: u32 = reading_attr(bridge, "words").parse().unwrap();
    assert!((700..=710).contains(&counted), "{counted} words");
    assert_eq!(reading_attr(bridge, "minutes"), "3");
    assert!(
        bridge
            .description()
            .unwrap()
            .starts_with("<p>3 min read</p>")
    );

    let tokyo = item(&ch, "Tokyo");
    assert_eq!(reading_attr(tokyo, "source"), "full");
    let cjk: u32 = reading_attr(tokyo, "cjkChars").parse().unwrap();
    assert!((1500..=1502).contains(&cjk), "{cjk}");
    // Characters at 500 a minute: 1500 → 3 minutes (the headline may or may not be kept).
    assert_eq!(
        reading_attr(tokyo, "minutes"),
        cjk.div_ceil(500).to_string()
    );

    let photos = item(&ch, "Photos");
    assert_eq!(reading_attr(photos, "images"), "12");
    assert_eq!(reading_attr(photos, "minutes"), "2"); // ~105 words (26 s) + 12 images (81 s)

    // A timeout, a PDF and a 404 fall back to the summary, and say so.
    for title in ["Slow", "Report", "Gone"] {
        let it = item(&ch, title);
        assert_eq!(reading_attr(it, "source"), "summary", "{title}");
        assert_eq!(reading_attr(it, "minutes"), "1", "{title}");
    }

    // Each article page is fetched once, not on every poll, failures included.
    poll(&cfg).await;
    let requests = env.server.received_requests().await.unwrap();
    for p in [
        "/news/bridge",
        "/news/slow",
        "/files/report.pdf",
        "/news/missing",
    ] {
        assert_eq!(
            requests.iter().filter(|r| r.url.path() == p).count(),
            1,
            "{p}"
        );
    }
    assert_eq!(
        reading_attr(item(&merged(&cfg).await, "Bridge"), "minutes"),
        "3",
        "kept across polls"
    );
}

/// A feed with one teaser, "Story", whose article page at `/a` carries `body`.
async fn one_teaser(body: &str) -> Env {
    let env = Env::new().await;
    page(&env, "/a", news_page("Story", body), "text/html").await;
    env.serve_bytes(
        "/feed",
        teaser_feed(&[("a", "Story", env.url("/a"))]),
        "application/rss+xml",
    )
    .await;
    env
}

#[tokio::test]
async fn full_text_settings() {
    let body = paragraphs(&words(500));
    let env = one_teaser(&body).await;

    // include_full_text puts the article into the feed; placement = "title" moves the label.
    let cfg = config(
        &env,
        &env.url("/feed"),
        "include_full_text = true\nplacement = \"title\"",
    );
    poll(&cfg).await;
    let ch = merged(&cfg).await;
    let it = &ch.items()[0];
    assert_eq!(it.title(), Some("Story (3 min read)"));
    let description = it.description().unwrap();
    assert!(
        description.contains("harbour river council"),
        "{description}"
    );
    assert!(
        !description.contains("Most read") && !description.contains("track()"),
        "{description}"
    );

    // full_text = "never": the summary decides, and no page is fetched.
    let env = one_teaser(&body).await;
    let cfg = config(&env, &env.url("/feed"), "full_text = \"never\"");
    poll(&cfg).await;
    assert_eq!(
        reading_attr(&merged(&cfg).await.items()[0], "source"),
        "summary"
    );
    let fetched = env
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/a")
        .count();
    assert_eq!(fetched, 0);
}

/// A page whose host asks to come back later (429) is tried again by the feed's next polls,
/// three tries in all, and then keeps the summary's estimate; other failures are final at
/// once (above). The pages wait in the database between runs.
#[tokio::test]
async fn a_page_the_host_asks_to_fetch_later_is_tried_three_times() {
    let env = Env::new().await;
    Mock::given(method("GET"))
        .and(path("/busy"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .mount(&env.server)
        .await;
    env.serve_bytes(
        "/feed",
        teaser_feed(&[("busy", "Busy", env.url("/busy"))]),
        "application/rss+xml",
    )
    .await;
    let cfg = config(&env, &env.url("/feed"), "full_text = \"auto\"");
    for _ in 0..4 {
        poll(&cfg).await;
    }
    let tries = env
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/busy")
        .count();
    assert_eq!(tries, 3);
    let ch = merged(&cfg).await;
    assert_eq!(reading_attr(item(&ch, "Busy"), "source"), "summary");
}
