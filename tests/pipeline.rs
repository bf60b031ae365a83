//! End to end through the pipeline: fixture feeds served on 127.0.0.1, polled into a real
//! SQLite file, read back from the merged feed exactly as it is served.

use crate::common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{Env, fixture, item, merged, merged_xml, poll, reading_attr, titles};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, ResponseTemplate};

/// Matches a request whose header `name` is exactly `value` (wiremock's own `header` matcher
/// splits values at commas, which HTTP dates contain).
fn header_is(name: &'static str, value: &'static str) -> impl Fn(&Request) -> bool {
    move |req: &Request| {
        req.headers
            .get(name)
            .is_some_and(|v| v.as_bytes() == value.as_bytes())
    }
}

fn date(item: &rss::Item) -> DateTime<Utc> {
    DateTime::parse_from_rfc2822(item.pub_date().expect("pubDate"))
        .expect("RFC 2822 date")
        .to_utc()
}

fn description(item: &rss::Item) -> &str {
    item.description().expect("description")
}

#[tokio::test]
async fn every_format_is_read() {
    let env = Env::new().await;
    let cases: &[(&str, &[&str])] = &[
        (
            "rss2_basic.xml",
            &["First post", "Podcast episode one", "A longer read"],
        ),
        ("atom_basic.xml", &["First Atom entry", "Second Atom entry"]),
        ("json_basic.json", &["First JSON item", "Second JSON item"]),
        ("rss091.xml", &["Old news one", "Old news two"]),
        ("rss092.xml", &["Ninety two one", "Ninety two two"]),
        ("rss1.rdf", &["RDF item one", "RDF item two"]),
        (
            "rss_no_version.xml",
            &["Versionless one", "Versionless two"],
        ),
    ];
    let mut urls = Vec::new();
    for (name, _) in cases {
        urls.push(env.serve(name).await);
    }
    let cfg = env.config(&urls);
    let summary = poll(&cfg).await;
    assert_eq!(summary.ok, cases.len(), "{summary}");
    assert_eq!(summary.failed, 0);
    let ch = merged(&cfg).await;
    for (_, expected) in cases {
        for title in *expected {
            item(&ch, title);
        }
    }
    assert_eq!(
        ch.items().len(),
        cases.iter().map(|c| c.1.len()).sum::<usize>()
    );

    let first = item(&ch, "First post");
    assert_eq!(first.link(), Some("https://example.org/posts/first-post"));
    assert_eq!(first.dublin_core_ext().unwrap().creators(), ["Jane Doe"]);
    let cats: Vec<&str> = first.categories().iter().map(|c| c.name()).collect();
    assert_eq!(cats, ["Technology", "Rust"]);
    assert_eq!(first.source().unwrap().url(), urls[0]);
    assert_eq!(first.source().unwrap().title(), Some("Basic RSS"));
    assert_eq!(date(first).to_rfc3339(), "2024-01-15T08:30:00+00:00");

    let podcast = item(&ch, "Podcast episode one");
    let enc = podcast.enclosure().expect("enclosure");
    assert_eq!(
        (enc.url(), enc.length(), enc.mime_type()),
        ("https://example.org/media/ep1.mp3", "12345", "audio/mpeg")
    );

    let long = item(&ch, "A longer read");
    assert!(
        description(long).contains("The final paragraph closes the article"),
        "content:encoded preferred"
    );
    assert_eq!(reading_attr(long, "source"), "content");

    let atom = item(&ch, "Second Atom entry");
    assert_eq!(date(atom).to_rfc3339(), "2024-05-02T06:00:00+00:00");
    assert_eq!(atom.dublin_core_ext().unwrap().creators(), ["Bob Example"]);

    // Newest first across all feeds.
    let dates: Vec<_> = ch.items().iter().map(date).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");
}

#[tokio::test]
async fn every_encoding_comes_out_right() {
    let env = Env::new().await;
    let cases = [
        ("enc_windows1251.xml", "Привет, мир"),
        ("enc_iso88591.xml", "Café crème à la française"),
        ("enc_shiftjis.xml", "日本語のニュース"),
        ("enc_utf16le_bom.xml", "Grüße aus Köln"),
        ("enc_utf8_bom.xml", "Zürich – Ünïcödé"),
    ];
    for (name, expected) in cases {
        let env_feed = env.serve(name).await;
        let cfg = env.config(&[env_feed]);
        poll(&cfg).await;
        assert_eq!(titles(&merged(&cfg).await), [expected], "{name}");
    }
    // No XML declaration, not UTF-8: the HTTP charset decides.
    env.serve_bytes(
        "/latin1",
        fixture("enc_latin1_undeclared.xml"),
        "application/rss+xml; charset=iso-8859-1",
    )
    .await;
    let cfg = env.config(&[env.url("/latin1")]);
    poll(&cfg).await;
    let ch = merged(&cfg).await;
    assert_eq!(titles(&ch), ["Crème brûlée"]);
    assert!(description(&ch.items()[0]).contains("Une crème brûlée à la française"));
}

#[tokio::test]
async fn relative_links_are_resolved() {
    let env = Env::new().await;
    env.serve("xml_base.xml").await;
    env.serve_bytes(
        "/feeds/relative.xml",
        fixture("relative_links.xml"),
        "application/rss+xml",
    )
    .await;
    let cfg = env.config(&[env.url("/xml_base.xml"), env.url("/feeds/relative.xml")]);
    assert_eq!(poll(&cfg).await.ok, 2);
    let ch = merged(&cfg).await;

    let one = item(&ch, "Post one");
    assert_eq!(one.link(), Some("https://example.org/blog/posts/one.html"));
    assert!(
        description(one).contains(r#"src="https://example.org/blog/img/a.png""#),
        "{}",
        description(one)
    );
    assert!(
        description(one).contains(r#"href="https://example.org/about.html""#),
        "{}",
        description(one)
    );
    let two = item(&ch, "Post two");
    assert_eq!(two.link(), Some("https://example.org/other/two.html"));
    assert!(
        description(two).contains(r#"src="https://example.org/other/img/b.png""#),
        "{}",
        description(two)
    );

    let base = env.url("/feeds/");
    assert_eq!(
        item(&ch, "Root relative link").link(),
        Some(env.url("/posts/1").as_str())
    );
    assert_eq!(
        item(&ch, "Path relative link").link(),
        Some(format!("{base}posts/2").as_str())
    );
}

#[tokio::test]
async fn implausible_dates_become_the_first_seen_time() {
    let env = Env::new().await;
    let cfg = env.config(&[env.serve("dates.xml").await]);
    let before = Utc::now() - chrono::Duration::seconds(1);
    poll(&cfg).await;
    let after = Utc::now() + chrono::Duration::seconds(1);
    let ch = merged(&cfg).await;
    let seen_now = |t: &str| {
        let d = date(item(&ch, t));
        assert!(
            d >= before && d <= after,
            "{t}: {d} is not the first-seen time"
        );
    };
    seen_now("No date");
    seen_now("Far future date");
    seen_now("Ancient date");
    assert_eq!(
        date(item(&ch, "Normal date")).to_rfc3339(),
        "2024-02-20T10:00:00+00:00"
    );
    assert_eq!(
        date(item(&ch, "Offset date")).to_rfc3339(),
        "2024-03-05T08:03:00+00:00"
    );
    // First-seen items are the newest; dated ones follow, newest first.
    assert_eq!(&titles(&ch)[3..], ["Offset date", "Normal date"]);
}

#[tokio::test]
async fn items_without_guid_or_link_keep_their_identity() {
    let env = Env::new().await;
    let cfg = env.config(&[
        env.serve("no_guid.xml").await,
        env.serve("no_link.xml").await,
    ]);
    let first = poll(&cfg).await;
    assert_eq!((first.ok, first.items_new), (2, 4));
    let again = poll(&cfg).await;
    assert_eq!(
        (again.items_new, again.items_updated),
        (0, 0),
        "re-poll stores nothing new"
    );
    let ch = merged(&cfg).await;
    let mut t = titles(&ch);
    t.sort();
    assert_eq!(
        t,
        ["No guid one", "No guid two", "No link one", "No link two"]
    );
    let guids: std::collections::HashSet<_> = ch
        .items()
        .iter()
        .map(|i| i.guid().unwrap().value().to_owned())
        .collect();
    assert_eq!(guids.len(), 4, "every item has its own guid");
}

#[tokio::test]
async fn a_repeated_guid_falls_back_to_guid_and_link() {
    let env = Env::new().await;
    let cfg = env.config(&[env.serve("dup_guid.xml").await]);
    assert_eq!(poll(&cfg).await.items_new, 3);
    assert_eq!(poll(&cfg).await.items_new, 0);
    let mut t = titles(&merged(&cfg).await);
    t.sort();
    assert_eq!(t, ["Same guid A", "Same guid B", "Unique item"]);
}

#[tokio::test]
async fn the_same_story_in_two_feeds_is_shown_once() {
    let env = Env::new().await;
    let a = env.serve("same_story_a.xml").await;
    let b = env.serve("same_story_b.xml").await;
    // Feed A is polled first, so it had the shared story first.
    poll(&env.config(std::slice::from_ref(&a))).await;
    let cfg = env.config(&[a.clone(), b.clone()]);
    let summary = poll(&cfg).await;
    assert_eq!(summary.failed, 0);
    let ch = merged(&cfg).await;
    let mut t = titles(&ch);
    t.sort();
    assert_eq!(
        t,
        ["Only in Feed A", "Only in Feed B", "The story of forty two"]
    );
    let shared = item(&ch, "The story of forty two");
    assert_eq!(
        shared.source().unwrap().url(),
        a,
        "shown from the feed that had it first"
    );

    // Without feed A (once registered, by a poll here as by the daemon's reload), feed B's
    // copy is shown.
    let only_b = env.config(std::slice::from_ref(&b));
    poll(&only_b).await;
    let ch = merged(&only_b).await;
    assert_eq!(
        item(&ch, "The story of forty two").source().unwrap().url(),
        b
    );
}

fn one_item_feed(guid: &str, link: &str, body: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Changing</title>
        <item><guid>{guid}</guid><link>{link}</link><title>Story</title><description>{body}</description></item>
        </channel></rss>"#
    )
    .into_bytes()
}

#[tokio::test]
async fn a_changed_item_is_updated_in_place() {
    let env = Env::new().await;
    let cfg = env.config(&[env.url("/feed")]);
    env.serve_bytes(
        "/feed",
        one_item_feed("g1", "https://example.org/s", "first version"),
        "application/rss+xml",
    )
    .await;
    assert_eq!(poll(&cfg).await.items_new, 1);

    env.server.reset().await;
    env.serve_bytes(
        "/feed",
        one_item_feed("g1", "https://example.org/s", "second version"),
        "application/rss+xml",
    )
    .await;
    let s = poll(&cfg).await;
    assert_eq!((s.items_new, s.items_updated), (0, 1));
    let ch = merged(&cfg).await;
    assert_eq!(ch.items().len(), 1);
    assert!(description(&ch.items()[0]).contains("second version"));

    // The publisher changes its guids but not its links: still the same item.
    env.server.reset().await;
    env.serve_bytes(
        "/feed",
        one_item_feed(
            "new-guid-1",
            "https://example.org/s?utm_source=rss",
            "second version",
        ),
        "application/rss+xml",
    )
    .await;
    let s = poll(&cfg).await;
    assert_eq!(s.items_new, 0);
    assert_eq!(merged(&cfg).await.items().len(), 1);
}

#[tokio::test]
async fn active_content_never_reaches_the_output() {
    let env = Env::new().await;
    let cfg = env.config(&[
        env.serve("xss.xml").await,
        env.serve("xss_atom_xhtml.xml").await,
    ]);
    assert_eq!(poll(&cfg).await.ok, 2);
    let ch = merged(&cfg).await;
    assert_eq!(ch.items().len(), 10);
    for it in ch.items() {
        let d = description(it).to_lowercase();
        for bad in [
            "<script",
            "onerror",
            "onload",
            "onclick",
            "javascript:",
            "<iframe",
            "<svg",
            "data:text/html",
            "style=",
        ] {
            assert!(!d.contains(bad), "{bad} in {:?}: {d}", it.title());
        }
        assert!(
            d.contains("safe-text"),
            "text kept in {:?}: {d}",
            it.title()
        );
    }
    // The title is plain text in an escaped XML element; it cannot carry markup.
    let xml = merged_xml(&cfg).await;
    assert!(!xml.to_lowercase().contains("<script"));
}

#[tokio::test]
async fn entity_bombs_and_external_entities_are_not_expanded() {
    let env = Env::new().await;
    let cfg = env.config(&[
        env.serve("entity_bomb.xml").await,
        env.serve("external_entity.xml").await,
    ]);
    // A hang guard, not a speed test: expansion would take minutes and gigabytes.
    let summary = tokio::time::timeout(Duration::from_secs(60), poll(&cfg))
        .await
        .expect("poll finishes");
    assert_eq!(summary.ok + summary.failed, 2);
    let xml = merged_xml(&cfg).await;
    assert!(!xml.contains("lollollol"), "entities expanded");
    assert!(!xml.contains("root:"), "external entity fetched");
    assert!(xml.len() < 100_000);
}

/// Expects exactly one request for /feed carrying `etag` and the first Last-Modified.
async fn expect_conditional(env: &Env, etag: &'static str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path("/feed"))
        .and(header_is("if-none-match", etag))
        .and(header_is(
            "if-modified-since",
            "Mon, 01 Jan 2024 00:00:00 GMT",
        ))
        .respond_with(response)
        .expect(1)
        .mount(&env.server)
        .await;
}

#[tokio::test]
async fn conditional_get_sends_and_keeps_validators() {
    let env = Env::new().await;
    let cfg = env.config(&[env.url("/feed")]);
    let body = fixture("rss2_basic.xml");
    Mock::given(method("GET"))
        .and(path("/feed"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(body.clone(), "application/rss+xml")
                .insert_header("etag", "\"v1\"")
                .insert_header("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
        )
        .expect(1)
        .mount(&env.server)
        .await;
    assert_eq!(poll(&cfg).await.items_new, 3);
    env.server.verify().await;
    env.server.reset().await;

    // Second poll: both validators sent; the 304 brings a new ETag.
    expect_conditional(
        &env,
        "\"v1\"",
        ResponseTemplate::new(304).insert_header("etag", "\"v2\""),
    )
    .await;
    let s = poll(&cfg).await;
    assert_eq!((s.not_modified, s.failed, s.items_new), (1, 0, 0), "{s}");
    env.server.verify().await;
    env.server.reset().await;

    // Third poll: the ETag from the 304 is used, the old Last-Modified kept.
    expect_conditional(&env, "\"v2\"", ResponseTemplate::new(304)).await;
    assert_eq!(poll(&cfg).await.not_modified, 1);
    env.server.verify().await;
    assert_eq!(
        merged(&cfg).await.items().len(),
        3,
        "items kept across 304s"
    );
}

#[tokio::test]
async fn reading_time_is_estimated_from_the_article() {
    let env = Env::new().await;
    let names = [
        "article_313.xml",
        "article_1500.xml",
        "article_cjk.xml",
        "article_images.xml",
    ];
    let mut urls = Vec::new();
    for n in names {
        urls.push(env.serve(n).await);
    }
    let cfg = env.config(&urls);
    poll(&cfg).await;
    let ch = merged(&cfg).await;
    // (title, minutes, words, cjk characters, images)
    let expected = [
        ("Three hundred thirteen words", 2, 313, 0, 0), // 313 / 238 = 1.3 → 2
        ("Fifteen hundred words", 7, 1500, 0, 0),       // 1500 / 238 = 6.3 → 7
        ("春の町だより", 2, 0, 1000, 0),                // 1000 / 500 = 2.0 → 2
        ("One hundred words and ten images", 2, 100, 0, 10), // 25.2 s + 75 s → 2
    ];
    for (title, minutes, words, cjk, images) in expected {
        let it = item(&ch, title);
        assert!(
            description(it).starts_with(&format!("<p>{minutes} min read</p>")),
            "{title}: {}",
            &description(it)[..40]
        );
        assert_eq!(reading_attr(it, "minutes"), minutes.to_string(), "{title}");
        assert_eq!(reading_attr(it, "words"), words.to_string(), "{title}");
        assert_eq!(reading_attr(it, "cjkChars"), cjk.to_string(), "{title}");
        assert_eq!(reading_attr(it, "images"), images.to_string(), "{title}");
    }
}

#[tokio::test]
async fn a_broken_feed_never_takes_the_others_down() {
    let env = Env::new().await;
    env.serve_bytes("/page", fixture("html_page.html"), "text/html")
        .await;
    Mock::given(method("GET"))
        .and(path("/error"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&env.server)
        .await;
    env.serve_bytes("/empty", Vec::new(), "application/rss+xml")
        .await;
    // A valid feed labelled as HTML is still a feed.
    env.serve_bytes("/mislabelled", fixture("rss2_basic.xml"), "text/html")
        .await;
    let good = env.serve("atom_basic.xml").await;
    let cfg = env.config(&[
        env.url("/page"),
        env.url("/error"),
        env.url("/empty"),
        env.url("/mislabelled"),
        good,
    ]);
    let mut errors = Vec::new();
    let summary = feedmerge::app::poll_once(&cfg, |feed, report| {
        if let Some(e) = report.and_then(|r| r.error.clone()) {
            errors.push((feed.url.path().to_owned(), e));
        }
    })
    .await
    .unwrap();
    assert_eq!((summary.ok, summary.failed), (2, 3), "{summary}");
    errors.sort();
    assert!(errors[0].1.contains("empty response body"), "{errors:?}");
    assert!(errors[1].1.contains("unexpected status 500"), "{errors:?}");
    assert!(errors[2].1.contains("not a feed"), "{errors:?}");
    assert_eq!(merged(&cfg).await.items().len(), 5);

    // A feed that breaks later keeps the items it had.
    env.server.reset().await;
    let cfg = env.config(&[env.url("/atom_basic.xml")]);
    assert_eq!(poll(&cfg).await.failed, 1);
    assert_eq!(merged(&cfg).await.items().len(), 2);
}

#[tokio::test]
async fn fetch_limits_hold() {
    let env = Env::new().await;
    // Redirect chains: five hops are followed, six are refused.
    for i in 0..6 {
        Mock::given(method("GET"))
            .and(path(format!("/hop{i}")))
            .respond_with(
                ResponseTemplate::new(301).insert_header("location", format!("/hop{}", i + 1)),
            )
            .mount(&env.server)
            .await;
    }
    env.serve_bytes("/hop6", fixture("atom_basic.xml"), "application/atom+xml")
        .await;
    // Redirects to other schemes are refused.
    Mock::given(method("GET"))
        .and(path("/to-ftp"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "ftp://127.0.0.1/feed"))
        .mount(&env.server)
        .await;
    // 40 MB of XML that gzips to about 40 KB: the cap counts decompressed bytes.
    let mut bomb = b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>".to_vec();
    bomb.resize(40 << 20, b'a');
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &bomb).unwrap();
    let gz = gz.finish().unwrap();
    assert!(gz.len() < 200_000);
    Mock::given(method("GET"))
        .and(path("/bomb"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(gz, "application/rss+xml")
                .insert_header("content-encoding", "gzip"),
        )
        .mount(&env.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&env.server)
        .await;

    let cfg = env.config_with(
        &[
            env.url("/hop1"),
            env.url("/hop0"),
            env.url("/to-ftp"),
            env.url("/bomb"),
            env.url("/slow"),
        ],
        "[poller]\nmax_body = \"1MiB\"\ntimeout = \"1s\"\n",
    );
    let mut results = Vec::new();
    feedmerge::app::poll_once(&cfg, |feed, report| {
        results.push((
            feed.url.path().to_owned(),
            report.and_then(|r| r.error.clone()),
        ));
    })
    .await
    .unwrap();
    results.sort();
    let error = |p: &str| results.iter().find(|r| r.0 == p).unwrap().1.clone();
    assert_eq!(error("/hop1"), None, "five redirects are followed");
    assert!(
        error("/hop0").unwrap().contains("more than 5 redirects"),
        "{results:?}"
    );
    assert!(
        error("/to-ftp").unwrap().contains("unsupported scheme ftp"),
        "{results:?}"
    );
    assert!(
        error("/bomb")
            .unwrap()
            .contains("larger than 1048576 bytes"),
        "{results:?}"
    );
    assert!(error("/slow").unwrap().contains("timed out"), "{results:?}");

    // Every request said who it is.
    let requests = env.server.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| {
        r.headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ua| ua.starts_with("feedmerge/"))
    }));
}

/// A feed's `xml:base` with a `javascript:` URL must not turn relative links into script.
#[tokio::test]
async fn regression_xml_base_cannot_inject_script() {
    let env = Env::new().await;
    let rss = br#"<rss version="2.0"><channel><title>t</title>
        <item xml:base="javascript://x/%0aalert(document.domain)//"><guid>1</guid><title>A</title>
        <description>&lt;a href="?q"&gt;click&lt;/a&gt;&lt;img src="i.png"&gt;</description></item></channel></rss>"#;
    env.serve_bytes("/feed", rss.to_vec(), "application/rss+xml")
        .await;
    let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>x</id>
        <entry><id>1</id><title>B</title><content type="html" xml:base="javascript:alert(1)//">&lt;a href="p"&gt;x&lt;/a&gt;</content></entry></feed>"#;
    env.serve_bytes("/atom", atom.to_vec(), "application/atom+xml")
        .await;
    let cfg = env.config(&[env.url("/feed"), env.url("/atom")]);
    assert_eq!(poll(&cfg).await.ok, 2);
    let xml = merged_xml(&cfg).await.to_lowercase();
    assert!(!xml.contains("javascript"), "{xml}");
    assert!(
        xml.contains(&env.url("/i.png").to_lowercase()),
        "the feed URL is the base instead: {xml}"
    );
}

/// Atom `type="text"` titles are plain text: markup-like text in them is kept, not parsed.
/// Blank categories and malformed enclosure types never reach the output.
#[tokio::test]
async fn regression_plain_titles_blank_categories_and_bad_mime_types() {
    let env = Env::new().await;
    let atom = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title><id>x</id>
        <entry><id>1</id><title type=\"text\">Why &lt;div&gt; beats &amp;amp;nbsp;</title>
        <category term=\"\u{1}\u{2}\"/><category term=\"real\"/>
        <link rel=\"enclosure\" href=\"https://example.org/a.mp3\" type=\"\"/></entry></feed>";
    env.serve_bytes("/atom", atom.as_bytes().to_vec(), "application/atom+xml")
        .await;
    let cfg = env.config(&[env.url("/atom")]);
    assert_eq!(poll(&cfg).await.ok, 1);
    let ch = merged(&cfg).await; // validates against the RSS 2.0 rules too
    let it = &ch.items()[0];
    assert_eq!(it.title(), Some("Why <div> beats &amp;nbsp;"));
    let cats: Vec<&str> = it.categories().iter().map(|c| c.name()).collect();
    assert_eq!(cats, ["real"]);
    assert_eq!(
        it.enclosure().unwrap().mime_type(),
        "application/octet-stream"
    );
}
