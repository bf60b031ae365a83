//! Feed documents: every cost a publisher controls is linear and bounded. Each test serves a
//! generated document from 127.0.0.1, polls it into a real database, renders what is stored,
//! and counts: sizes, elements, items (never times). `bench/hostile.sh` measures the same
//! attacks at full size on the release binary.

use feedmerge::app;
use feedmerge::fulltext::extract;
use feedmerge::html::nesting::MAX_DEPTH;
use feedmerge::normalize::{
    MAX_AUTHOR_CHARS, MAX_CATEGORIES, MAX_CATEGORY_CHARS, MAX_TITLE_CHARS, MAX_URL_BYTES,
};
use feedmerge::parse::{self, MAX_ITEMS_PER_DOCUMENT};
use feedmerge::render::Format;

use crate::common::{Env, merged, merged_xml, poll};

/// An RSS document with `items` (whole `<item>` elements) and a channel titled `title`.
fn rss(title: &str, items: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\
         <channel><title>{title}</title><link>http://127.0.0.1/</link>{items}</channel></rss>"
    )
    .into_bytes()
}

/// Every rendering of the merged feed, as text: RSS, Atom, JSON Feed and the news page.
async fn every_rendering(cfg: &feedmerge::config::Config) -> Vec<String> {
    let mut out = Vec::new();
    for format in Format::ALL {
        let bytes = app::render(cfg, format).await.expect("render");
        out.push(String::from_utf8(bytes).expect("UTF-8 output"));
    }
    let store = feedmerge::store::Store::open(&cfg.storage.path).expect("store opens");
    let items = store
        .merged_items(feedmerge::store::Selection::newest(
            feedmerge::render::page::PAGE_SIZE,
        ))
        .await
        .expect("items");
    drop(store);
    let channel = feedmerge::render::Channel {
        title: "t".into(),
        description: "d".into(),
        base_url: url::Url::parse("http://127.0.0.1/").unwrap(),
        path: "feed".into(),
        placement: feedmerge::config::Placement::Description,
        hub: None,
    };
    out.push(feedmerge::render::page::render(
        &feedmerge::render::page::Page::new(&channel, &items),
        chrono::Utc::now(),
        &Default::default(),
    ));
    out
}

/// Finding 7: a long channel title was copied into every item's `<source>` and every card (a
/// 1 MB title made `/feed.xml` 100 MB); authors, links, enclosure URLs and categories had no
/// cap either. Every stored field is capped now, so every rendering is bounded.
#[tokio::test]
async fn regression_19_every_field_a_publisher_controls_is_capped() {
    // See: issue #19, finding 7
    let env = Env::new().await;
    // 100 items of five 25 KB fields (under the 16 MiB a poll downloads; past every cap).
    const FIELD: usize = 25_000;
    const { assert!(FIELD > MAX_URL_BYTES) };
    let long = |c: &str| c.repeat(FIELD);
    let items: String = (0..100)
        .map(|n| {
            format!(
                "<item><guid>{n}</guid><title>{title}</title><link>http://127.0.0.1/{n}/{link}</link>\
                 <dc:creator>{author}</dc:creator><category>{category}</category>\
                 <enclosure url=\"http://127.0.0.1/{n}/{link}.mp3\" type=\"audio/mpeg\" length=\"1\"/>\
                 <description>short</description></item>",
                title = long("t"),
                link = long("l"),
                author = long("a"),
                category = long("c"),
            )
        })
        .collect();
    env.serve_bytes(
        "/feed.xml",
        rss(&"T".repeat(200_000), &items),
        "application/rss+xml",
    )
    .await;
    let cfg = env.config(&[env.url("/feed.xml")]);
    assert_eq!(poll(&cfg).await.failed, 0);

    let channel = merged(&cfg).await;
    assert_eq!(channel.items().len(), 100);
    for item in channel.items() {
        let source = item.source().expect("a source");
        assert!(source.title().unwrap_or("").chars().count() <= MAX_TITLE_CHARS + 1);
        assert!(item.title().unwrap_or("").chars().count() <= MAX_TITLE_CHARS + 1);
        assert_eq!(item.link(), None, "an over-long link is dropped, not cut");
        assert_eq!(item.enclosure(), None, "so is an over-long enclosure URL");
        let author = item.dublin_core_ext().map(|dc| dc.creators().join(""));
        assert!(author.unwrap_or_default().chars().count() <= MAX_AUTHOR_CHARS + 1);
        for c in item.categories() {
            assert!(c.name().chars().count() <= MAX_CATEGORY_CHARS + 1);
        }
    }
    // 100 items, each a few kilobytes at most: not the 200 KB title and 25 KB fields times 100
    // (the old code made each rendering tens of megabytes).
    for out in every_rendering(&cfg).await {
        assert!(out.len() < 1_000_000, "a rendering of {} bytes", out.len());
    }
}

/// Finding 8: categories were de-duplicated with `Vec::contains` (100,000 categories on one
/// item cost 8.4 s per poll) and all kept. They are de-duplicated by hash now, and the first
/// [`MAX_CATEGORIES`] distinct ones kept; the parser hands no more than
/// [`parse::entries::MAX_SAME_NAME`] of them to feed-rs.
#[tokio::test]
async fn regression_19_categories_are_deduplicated_linearly_and_capped() {
    // See: issue #19, finding 8
    let env = Env::new().await;
    // Repeats first (each costs a lookup), then 20,000 distinct ones.
    const { assert!(parse::entries::MAX_SAME_NAME >= MAX_CATEGORIES + 20) };
    let categories: String = (0..20)
        .map(|_| "<category>same</category>".to_owned())
        .chain((0..20_000).map(|n| format!("<category>c{n}</category>")))
        .collect();
    let item = format!("<item><guid>1</guid><title>one</title>{categories}</item>");
    env.serve_bytes(
        "/feed.xml",
        rss("Many categories", &item),
        "application/rss+xml",
    )
    .await;
    let cfg = env.config(&[env.url("/feed.xml")]);
    assert_eq!(poll(&cfg).await.failed, 0);
    let channel = merged(&cfg).await;
    let names: Vec<&str> = channel.items()[0]
        .categories()
        .iter()
        .map(|c| c.name())
        .collect();
    assert_eq!(names.len(), MAX_CATEGORIES);
    assert_eq!(
        &names[..3],
        ["same", "c0", "c1"],
        "the first, in document order"
    );
}

/// Finding 21: every entry of a document was taken (an 11 MB JSON Feed of 100,000 items
/// peaked at 275 MB). The first [`MAX_ITEMS_PER_DOCUMENT`] in document order are kept, and
/// the rest are cut out before feed-rs builds a model of them.
#[tokio::test]
async fn regression_19_only_the_first_items_of_a_document_are_taken() {
    // See: issue #19, finding 21
    let env = Env::new().await;
    let n = MAX_ITEMS_PER_DOCUMENT * 3;
    let json = serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Many items",
        "items": (0..n).map(|i| serde_json::json!({
            "id": i.to_string(), "title": format!("Item {i}"), "content_text": "x",
        })).collect::<Vec<_>>(),
    });
    let body = serde_json::to_vec(&json).unwrap();
    let rss_items: String = (0..n)
        .map(|i| format!("<item><guid>{i}</guid><title>Item {i}</title></item>"))
        .collect();
    let xml = rss("Many items", &rss_items);
    let base = url::Url::parse("http://127.0.0.1/feed").unwrap();
    for doc in [&body, &xml] {
        let parsed = parse::parse(doc, None, &base).expect("a feed");
        assert_eq!(
            parsed.feed.entries.len(),
            MAX_ITEMS_PER_DOCUMENT,
            "the model is bounded"
        );
    }

    env.serve_bytes("/feed.json", body, "application/feed+json")
        .await;
    // Retention would keep no more than 1000 either: this config lets it keep everything.
    let path = env.dir.path().join("config.toml");
    let toml = format!(
        "[storage]\npath = \"feedmerge.db\"\nmax_items_per_feed = 1000000\n\
         [reading_time]\nfull_text = \"never\"\n[output]\nmax_items = 1000000\n\
         [[feeds]]\nurl = \"{}\"\n",
        env.url("/feed.json")
    );
    std::fs::write(&path, toml).unwrap();
    let cfg = feedmerge::config::Config::load(&path).expect("a valid config");
    assert_eq!(poll(&cfg).await.failed, 0);
    let titles = crate::common::titles(&merged(&cfg).await);
    assert_eq!(titles.len(), MAX_ITEMS_PER_DOCUMENT);
    let mut expected: Vec<String> = (0..MAX_ITEMS_PER_DOCUMENT)
        .map(|i| format!("Item {i}"))
        .collect();
    let mut got = titles.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "the first ones in document order");
}

/// Review of finding 21: the cap was bypassed by documents that pass through a rewrite. Past a
/// `<!X>` quick-xml refuses, nothing was cut and repair read on (130,000 items stored from a
/// 16 MiB feed, 352 MB); a JSON Feed whose key was written `"it\u0065ms"` was not cut
/// (150,000 items, 395 MB); nor was a second `items` (serde keeps the last), nor the items a
/// repair brought out of a CDATA section it ended at its element's end tag. Each feed stores
/// the first [`MAX_ITEMS_PER_DOCUMENT`] of its items now.
#[tokio::test]
async fn regression_19_no_rewrite_of_a_document_escapes_the_entry_cap() {
    // See: issue #19, review finding 4
    let env = Env::new().await;
    let n = MAX_ITEMS_PER_DOCUMENT * 3;
    let rss_items = |feed: &str| -> String {
        (0..n)
            .map(|i| format!("<item><guid>{i}</guid><title>{feed} {i}</title></item>"))
            .collect()
    };
    let json_items = |feed: &str| -> String {
        (0..n)
            .map(|i| format!(r#"{{"id":"{i}","title":"{feed} {i}","content_text":"x"}}"#))
            .collect::<Vec<_>>()
            .join(",")
    };
    let bang = format!(
        "<rss version=\"2.0\"><channel><title>t</title><!X>{}</channel></rss>",
        rss_items("bang")
    );
    let cdata = format!(
        "<rss version=\"2.0\"><channel><title>t</title><item><guid>c</guid><title>Caf&eacute;</title>\
         <description><![CDATA[x</description></item>{}<item><description>]]></description></item></channel></rss>",
        rss_items("cdata")
    );
    let escaped = format!(
        r#"{{"version":"https://jsonfeed.org/version/1.1","title":"t","it\u0065ms":[{}]}}"#,
        json_items("escaped")
    );
    let twice = format!(
        r#"{{"version":"https://jsonfeed.org/version/1.1","title":"t","items":[],"items":[{}]}}"#,
        json_items("twice")
    );
    let docs = [
        ("bang", bang, "application/rss+xml"),
        ("cdata", cdata, "application/rss+xml"),
        ("escaped", escaped, "application/feed+json"),
        ("twice", twice, "application/feed+json"),
    ];
    let mut toml = "[storage]\npath = \"feedmerge.db\"\nmax_items_per_feed = 1000000\n\
                    [reading_time]\nfull_text = \"never\"\n[output]\nmax_items = 1000000\n"
        .to_owned();
    for (name, body, content_type) in docs {
        let path = format!("/{name}");
        env.serve_bytes(&path, body.into_bytes(), content_type)
            .await;
        toml.push_str(&format!("[[feeds]]\nurl = \"{}\"\n", env.url(&path)));
    }
    let path = env.dir.path().join("config.toml");
    std::fs::write(&path, toml).unwrap();
    let cfg = feedmerge::config::Config::load(&path).expect("a valid config");
    assert_eq!(poll(&cfg).await.failed, 0);
    let titles = crate::common::titles(&merged(&cfg).await);
    for feed in ["bang", "cdata", "escaped", "twice"] {
        let stored = titles
            .iter()
            .filter(|t| t.starts_with(&format!("{feed} ")))
            .count();
        assert!(
            (MAX_ITEMS_PER_DOCUMENT - 1..=MAX_ITEMS_PER_DOCUMENT).contains(&stored),
            "{feed}: {stored} items stored"
        );
    }
}

/// Findings 6 and 14: deeply nested HTML made every tree builder quadratic (one item nested
/// 50,000 deep took 7–8 s per rendering; an article page of 45,000 nested `<div>`s 62 s of
/// extraction). Nesting past `nesting::MAX_DEPTH` is flattened first: the tags go, the text
/// stays.
#[tokio::test]
async fn regression_19_deep_nesting_is_flattened_before_a_tree_is_built() {
    // See: issue #19, findings 6 and 14
    let env = Env::new().await;
    let depth = 5_000;
    let nested = format!(
        "{}deep text{}",
        "<div>".repeat(depth),
        "</div>".repeat(depth)
    );
    let item = format!(
        "<item><guid>1</guid><title>deep</title><description><![CDATA[{nested}]]></description></item>"
    );
    env.serve_bytes("/feed.xml", rss("Deep", &item), "application/rss+xml")
        .await;
    let cfg = env.config(&[env.url("/feed.xml")]);
    assert_eq!(poll(&cfg).await.failed, 0);
    let xml = merged_xml(&cfg).await;
    assert!(xml.contains("deep text"), "flattened, not dropped");
    for out in every_rendering(&cfg).await.iter().take(3) {
        let opened = out.matches("<div>").count() + out.matches("&lt;div&gt;").count();
        assert!(opened <= MAX_DEPTH, "{opened} <div>s rendered");
    }

    // The article extractor reads the same way.
    let page = format!(
        "<html><body>{}<p>{}</p>{}</body></html>",
        "<div>".repeat(depth),
        "An article that is long enough to be found by the extractor. ".repeat(30),
        "</div>".repeat(depth)
    );
    let article = extract::extract(&page, "http://127.0.0.1/a").expect("the article is found");
    assert!(article.contains("long enough to be found"));
    assert!(article.matches("<div").count() <= MAX_DEPTH);
}

/// Review of issue 19: what feed-rs built of an item's Media RSS was not bounded. 3,000
/// nested `<media:group>`s (42 KB) overflowed the stack of the thread that parsed them and
/// aborted the daemon; 2,000 thumbnails and 2,000 groups on one item (206 KB) made 4 million
/// thumbnails (1.1 GB), since feed-rs copies an item's thumbnails into every group without
/// its own. Both feeds are stored now, each item with an enclosure.
#[tokio::test]
async fn regression_19_media_rss_cannot_abort_or_multiply() {
    // See: issue #19, review of the parser (Media RSS)
    let env = Env::new().await;
    let media = |body: String| {
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\" xmlns:media=\"http://search.yahoo.com/mrss/\">\
             <channel><title>Media</title><link>http://127.0.0.1/</link><item><guid>1</guid><title>media</title>\
             <media:content url=\"http://127.0.0.1/first.mp4\" type=\"video/mp4\"/>{body}</item></channel></rss>"
        )
        .into_bytes()
    };
    let nested = media(format!(
        "{}{}",
        "<media:group>".repeat(3_000),
        "</media:group>".repeat(3_000)
    ));
    let copied = media(format!(
        "{}{}",
        "<media:thumbnail url=\"http://127.0.0.1/t.jpg\"/>".repeat(2_000),
        "<media:group><media:content url=\"http://127.0.0.1/g.mp4\"/></media:group>".repeat(2_000)
    ));
    env.serve_bytes("/nested.xml", nested, "application/rss+xml")
        .await;
    env.serve_bytes("/copied.xml", copied, "application/rss+xml")
        .await;
    let cfg = env.config(&[env.url("/nested.xml"), env.url("/copied.xml")]);
    let summary = poll(&cfg).await;
    assert_eq!(summary.failed, 0);
    let channel = merged(&cfg).await;
    assert_eq!(channel.items().len(), 2);
    for item in channel.items() {
        // feed-rs orders an item's media objects its own way: either content is its first.
        let enclosure = item.enclosure().expect("an enclosure");
        assert!(
            ["http://127.0.0.1/first.mp4", "http://127.0.0.1/g.mp4"].contains(&enclosure.url()),
            "{}",
            enclosure.url()
        );
    }
}

/// Finding 15: a 15 KB gzipped page of 5 million `<a>` elements took the process to 600 MB,
/// since the extractor's element limit applied to the tree after it was built. The page is
/// cut before its 50,001st start tag now: what the extractor is given is bounded.
#[test]
fn regression_19_article_pages_are_cut_before_parsing() {
    // See: issue #19, finding 15
    let links = format!(
        "<html><body><p>{}</p></body></html>",
        "<a>x</a>".repeat(1_000_000)
    );
    // The extracted article holds no more elements than were read.
    let article = extract::extract(&links, "http://127.0.0.1/a").unwrap_or_default();
    assert!(article.matches("<a").count() <= extract::MAX_ELEMENTS);
    let decoded = extract::decode(&vec![b'x'; 4 * extract::MAX_PAGE_BYTES], None);
    assert!(decoded.len() <= extract::MAX_PAGE_BYTES);
}
