//! Reading broken documents: what a publisher's broken (or built to hurt) feed costs once it
//! takes the repair path, and what of it is kept.

use std::time::Duration;

use crate::common::{Env, merged, poll, titles};

/// Generous: a linear repair of these documents takes a few seconds even in a debug build on a
/// busy machine; a quadratic one takes hours.
const LIVENESS: Duration = Duration::from_secs(120);

/// A feed with the three good items around `broken`, an item that stays broken after repair.
fn feed_around(broken: &str) -> String {
    let item = |n: u32| {
        format!(
            "<item><title>Good item {n}</title><link>https://example.org/good/{n}</link></item>"
        )
    };
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>{}{}{broken}{}</channel></rss>",
        item(1),
        item(2),
        item(3)
    )
}

/// One item whose `xml:base` no URL parser accepts: feed-rs refuses the whole document for
/// it. The other items are read one by one and kept, and the feed says an item was left out.
#[tokio::test]
async fn an_item_broken_beyond_repair_does_not_take_its_feed_down() {
    let env = Env::new().await;
    let body = feed_around(
        "<item xml:base=\"http://[::1\"><title>Broken base</title><link>x</link></item>",
    );
    env.serve_bytes("/f.xml", body.into_bytes(), "application/rss+xml")
        .await;
    let cfg = env.config(&[env.url("/f.xml")]);
    let summary = poll(&cfg).await;
    assert_eq!(summary.failed, 0, "the feed failed as a whole");
    let mut got = titles(&merged(&cfg).await);
    got.sort();
    assert_eq!(got, ["Good item 1", "Good item 2", "Good item 3"]);
    let status = feedmerge::app::status(&cfg).await.unwrap();
    assert_eq!(
        status[0].repairs.to_names(),
        "item_dropped",
        "{:?}",
        status[0]
    );
}

/// The entities of a document's DTD are never expanded, on the repair path either: a
/// billion-laughs DTD in a feed that also needs repair yields its item with the reference
/// left as text.
#[tokio::test]
async fn repair_expands_no_dtd_entity() {
    let env = Env::new().await;
    let mut dtd = String::from("<!DOCTYPE rss [<!ENTITY lol0 \"lol\">");
    for n in 1..10 {
        let refs = format!("&lol{};", n - 1).repeat(10);
        dtd.push_str(&format!("<!ENTITY lol{n} \"{refs}\">"));
    }
    dtd.push_str("]>");
    let body = format!(
        "{dtd}<rss version=\"2.0\"><channel><title>Q&A</title><item><title>Laughs &lol9; here</title><link>https://example.org/lol</link></item></channel></rss>"
    );
    env.serve_bytes("/f.xml", body.into_bytes(), "application/rss+xml")
        .await;
    let cfg = env.config(&[env.url("/f.xml")]);
    poll(&cfg).await;
    let got = titles(&merged(&cfg).await);
    assert_eq!(got, ["Laughs &lol9; here"]);
}

/// Shapes that make a naive repair quadratic: 200,000 text elements each holding a CDATA
/// section that never ends (each would search the rest of the document for a `]]>` that is
/// not there), then 100,000 elements left open and 100,000 end tags that match none of them
/// (each would search the whole stack, past what the XML reader accepts). The poll finishes
/// and keeps the item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repairing_a_hostile_document_costs_one_pass() {
    let env = Env::new().await;
    let n = 100_000;
    let body = format!(
        "<rss version=\"2.0\"><channel><title>t</title><item><title>Survivor &amp; co</title><link>https://example.org/s</link></item><x>{}</x><x>{}{}</x></channel></rss>",
        "<description><![CDATA[x]</description>".repeat(2 * n),
        "<a>".repeat(n),
        "</nothing>".repeat(n),
    );
    env.serve_bytes("/f.xml", body.into_bytes(), "application/rss+xml")
        .await;
    let cfg = env.config(&[env.url("/f.xml")]);
    // The poll runs on a runtime of its own: a repair that never ends must fail the test,
    // not hold it (a runtime waits for its blocking tasks when it shuts down).
    let (done, finished) = std::sync::mpsc::channel();
    let poll_cfg = cfg.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let _ = done.send(runtime.block_on(poll(&poll_cfg)));
    });
    let summary = tokio::task::spawn_blocking(move || finished.recv_timeout(LIVENESS))
        .await
        .unwrap()
        .expect("the poll is still repairing");
    assert_eq!(summary.failed, 0);
    assert_eq!(titles(&merged(&cfg).await), ["Survivor & co"]);
    let status = feedmerge::app::status(&cfg).await.unwrap();
    assert!(
        !status[0].repairs.is_empty(),
        "recorded as repaired: {:?}",
        status[0]
    );
}

/// Review of issue 19: per-token repair work that grew with something the publisher grows.
/// 1.5 million empty declarations `<!>` each searched the rest of the document for a `[`;
/// a text element with a 3 MB name copied it for each of 500,000 stray `<` in it, and
/// lowered it for each CDATA section; 200,000 distinct undeclared prefixes were each looked
/// up in a list of those seen (and all declared on the root, which quick-xml then refuses).
/// Each document is parsed within the liveness limit (minutes to hours before), and its item is kept.
#[test]
fn regression_19_repair_work_per_token_is_bounded() {
    // See: issue #19, review finding 5
    let item = "<item><guid>0</guid><title>Survivor &amp; co &amp co</title></item>";
    let rss = |body: &str| {
        format!("<rss version=\"2.0\"><channel><title>t</title>{item}{body}</channel></rss>")
    };
    let long_name = format!("{}:title", "p".repeat(3_000_000));
    let docs = [
        ("declarations", rss(&"<!>".repeat(1_500_000))),
        (
            "long name",
            rss(&format!(
                "<{long_name}>{}{}</{long_name}>",
                "<x".repeat(500_000),
                "<![CDATA[x]]>".repeat(1000)
            )),
        ),
        (
            "prefixes",
            rss(&(0..1_000_000)
                .map(|n| format!("<p{n}:a/>"))
                .collect::<String>()),
        ),
    ];
    let base = url::Url::parse("http://127.0.0.1/feed").unwrap();
    for (name, doc) in docs {
        let (done, finished) = std::sync::mpsc::channel();
        let base = base.clone();
        // A thread of its own: a parse that never ends fails the test instead of holding it.
        std::thread::spawn(move || {
            let _ = done.send(
                feedmerge::parse::parse(doc.as_bytes(), None, &base).map(|p| p.feed.entries.len()),
            );
        });
        let entries = finished
            .recv_timeout(LIVENESS)
            .unwrap_or_else(|_| panic!("{name}: still repairing after {LIVENESS:?}"));
        assert_eq!(entries.ok(), Some(1), "{name}");
    }
}
