//! The news page through the daemon, without a browser: narrowed to a tag or a source, with
//! paging that keeps the narrowing, feed links that narrow the feeds the same way, and a 404
//! page for a tag or source the config does not have.

use crate::common;

use common::{Daemon, Env, http_client};

/// An RSS feed titled `title` with `n` dated stories, their titles starting with `prefix`.
fn stories(title: &str, prefix: &str, n: usize) -> Vec<u8> {
    let mut xml = format!(r#"<rss version="2.0"><channel><title>{title}</title>"#);
    for i in 0..n {
        xml.push_str(&format!(
            "<item><guid>{prefix}{i}</guid><title>{prefix} {i}</title><link>https://example.org/{prefix}/{i}</link>\
             <pubDate>{}</pubDate><description>Words of {prefix} {i}.</description></item>",
            (chrono::Utc::now() - chrono::Duration::hours(i as i64 + 1)).to_rfc2822()
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

/// `html`'s attribute values read back as a browser reads them.
fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/").replace("&amp;", "&")
}

/// The `href` of the `<link rel="alternate">` of `media_type`.
fn alternate(html: &str, media_type: &str) -> String {
    let tag = html
        .split("<link rel=\"alternate\" ")
        .find(|l| l.starts_with(&format!("type=\"{media_type}\"")))
        .unwrap_or_else(|| panic!("no {media_type} link in {html}"));
    let href = tag
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    unescape(href)
}

#[tokio::test]
async fn tags_and_sources_narrow_the_page_its_paging_and_its_feeds() {
    let env = Env::new().await;
    env.serve_bytes(
        "/daily",
        stories("Daily", "Local", 35),
        "application/rss+xml",
    )
    .await;
    env.serve_bytes("/wire", stories("Wire", "World", 3), "application/rss+xml")
        .await;
    let feeds = format!(
        "[[feeds]]\nurl = \"{}\"\ntitle = \"Daily Bugle\"\ntags = [\"local\"]\n\
         [[feeds]]\nurl = \"{}\"\ntags = [\"world\"]\n",
        env.url("/daily"),
        env.url("/wire")
    );
    let cfg = env.config_with(&[], &feeds);
    common::poll(&cfg).await;
    let daemon = Daemon::start(cfg).await;

    // The whole page lists the sources and tags, each linked to its page.
    let all = daemon.text("/").await;
    assert_eq!(all.matches("<article").count(), 30);
    assert!(all.contains("World 0") && all.contains("Local 0"), "{all}");
    let wire = "127-0-0-1-wire";
    for link in [
        "/?tag=local\"",
        "/?tag=world\"",
        "/?source=daily-bugle\"",
        &format!("/?source={wire}\""),
    ] {
        assert!(unescape(&all).contains(link), "{link} in {all}");
    }
    assert!(
        unescape(&all).contains(">Daily Bugle</a>") && unescape(&all).contains(">Wire</a>"),
        "the sources by the names they are shown by: {all}"
    );

    // ?tag= shows that tag's stories only; "Show more" keeps the tag.
    let local = daemon.text("/?tag=local").await;
    assert_eq!(local.matches("<article").count(), 30, "{local}");
    assert!(!local.contains("World "), "{local}");
    assert!(local.contains("<strong>Tagged local</strong>"), "{local}");
    assert!(local.contains("aria-current=\"page\">local</a>"), "{local}");
    let more = unescape(
        local
            .split("id=\"more\" class=\"more\" href=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap(),
    );
    assert!(more.starts_with("/?tag=local&before="), "{more}");
    let next = daemon.text(&more).await;
    assert_eq!(next.matches("<article").count(), 5, "{next}");
    assert!(
        next.contains("Local 34") && !next.contains("World "),
        "{next}"
    );

    // Its feed links are the tag's feeds, and they hold the same stories.
    let rss = alternate(&local, "application/rss+xml");
    assert!(rss.ends_with("/feed.xml?tag=local"), "{rss}");
    assert!(alternate(&local, "application/atom+xml").ends_with("/feed.atom?tag=local"));
    assert!(alternate(&local, "application/feed+json").ends_with("/feed.json?tag=local"));
    assert!(
        unescape(&local).contains("/feed.json?tag=local\">JSON Feed</a>"),
        "{local}"
    );
    let feed =
        rss::Channel::read_from(daemon.text("/feed.xml?tag=local").await.as_bytes()).unwrap();
    assert_eq!(feed.items().len(), 35);

    // ?source= shows one feed's stories, and links to its own feeds.
    let from_wire = daemon.text(&format!("/?source={wire}")).await;
    assert_eq!(from_wire.matches("<article").count(), 3, "{from_wire}");
    assert!(!from_wire.contains("Local "), "{from_wire}");
    assert!(
        from_wire.contains("<strong>From Wire</strong>"),
        "{from_wire}"
    );
    assert!(!from_wire.contains("id=\"more\""));
    let rss = alternate(&from_wire, "application/rss+xml");
    assert!(rss.ends_with(&format!("/feed.xml?source={wire}")), "{rss}");
    let feed = rss::Channel::read_from(
        daemon
            .text(&format!("/feed.xml?source={wire}"))
            .await
            .as_bytes(),
    )
    .unwrap();
    let titles: Vec<_> = feed.items().iter().filter_map(|i| i.title()).collect();
    assert_eq!(titles, ["World 0", "World 1", "World 2"]);
    let daily = daemon.text("/?source=daily-bugle&tag=local").await;
    assert_eq!(daily.matches("<article").count(), 30);
    // A source without the tag asked for has no stories, but it is a page.
    let none = http_client()
        .get(daemon.url(&format!("/?source={wire}&tag=local")))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 200);

    // A tag or source the config does not have is a page that says so, not an empty one.
    for path in [
        "/?tag=nope",
        "/?source=nope",
        "/?tag=",
        "/?tag=local&source=nope",
    ] {
        let r = http_client().get(daemon.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
        assert!(r.headers().contains_key("content-security-policy"));
        let body = r.text().await.unwrap();
        assert!(
            body.contains("No such tag or source") && body.contains("All stories"),
            "{body}"
        );
    }
    // A query string longer than any tag, source and cursor is refused.
    let long = format!("/?tag=local&x={}", "y".repeat(4000));
    let r = http_client().get(daemon.url(&long)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    daemon.stop().await;
}

/// What Lighthouse asks of the page and its files: a meta description (for search results),
/// and the stylesheet and script linked by their version, which browsers may then keep for
/// a year without asking again; asked for without it, or by an old one, they are kept for
/// an hour only.
#[tokio::test]
async fn the_page_describes_itself_and_links_its_files_by_version() {
    let env = Env::new().await;
    env.serve_bytes(
        "/daily",
        stories("Daily", "Local", 3),
        "application/rss+xml",
    )
    .await;
    let cfg = env.config(&[env.url("/daily")]);
    common::poll(&cfg).await;
    let daemon = Daemon::start(cfg).await;
    let html = daemon.text("/").await;
    assert!(
        html.contains("<meta name=\"description\" content=\"Merged feed · feedmerge, a merged feed with reading times\">"),
        "{html}"
    );
    for (file, tag) in [
        ("feedmerge.css", "<link rel=\"stylesheet\" href=\""),
        ("feedmerge.js", "<script src=\""),
    ] {
        let href = unescape(
            html.split(tag)
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("no {file} in {html}")),
        );
        assert!(
            href.starts_with(&format!("/static/{file}?v=")) && href.len() > 30,
            "{href}"
        );
        let cache_control = async |url: String| {
            let r = http_client().get(&url).send().await.unwrap();
            assert_eq!(r.status(), 200, "{url}");
            r.headers()["cache-control"].to_str().unwrap().to_owned()
        };
        assert_eq!(
            cache_control(daemon.url(&href)).await,
            "public, immutable, max-age=31536000",
            "{href}"
        );
        for other in [format!("/static/{file}"), format!("/static/{file}?v=0123")] {
            assert_eq!(
                cache_control(daemon.url(&other)).await,
                "public, max-age=3600",
                "{other}"
            );
        }
    }
    daemon.stop().await;
}
