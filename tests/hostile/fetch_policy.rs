//! The fetch policy: where a feed, its redirects and its article links may make feedmerge
//! connect, judged on the addresses connected to.
//!
//! There is no public network here, so these tests declare 127.0.0.2 public (Linux routes all
//! of 127/8 to loopback) and answer names themselves: `public.test` and `news.test` stand for
//! hosts on the internet (127.0.0.2), `internal.test` for a service inside (127.0.0.1).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use feedmerge::app;
use feedmerge::config::Config;
use feedmerge::fetch::policy::{self, Reach};
use feedmerge::fetch::{
    FetchConfig, FetchError, FetchOutcome, Fetcher, MAX_ARTICLE_BODY, Network, Refusal, Rule,
};
use feedmerge::model::{Failure, PollKind, Validators};
use feedmerge::pipeline::Report;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{self, item, merged, reading_attr, teaser_feed};

/// The address that stands for the internet in these tests.
pub(crate) const PUBLIC: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// The real rules, and 127.0.0.2 public.
fn test_is_public(ip: IpAddr) -> bool {
    ip == IpAddr::V4(PUBLIC) || policy::is_public(ip)
}

/// A resolver that answers from a table: each lookup of a name takes its next answer, and the
/// last answer repeats (a name that answers differently the second time is DNS rebinding).
#[derive(Default)]
pub(crate) struct Names {
    answers: Mutex<HashMap<String, Answers>>,
}

/// The answers for one name, and how many lookups it had.
struct Answers {
    lookups: usize,
    each: Vec<Vec<IpAddr>>,
}

impl Names {
    fn with(self, name: &str, answers: &[&[&str]]) -> Self {
        let each = answers
            .iter()
            .map(|a| a.iter().map(|ip| IpAddr::from_str(ip).unwrap()).collect())
            .collect();
        let answers = Answers { lookups: 0, each };
        self.answers
            .lock()
            .unwrap()
            .insert(name.to_owned(), answers);
        self
    }

    /// The names every test uses.
    pub(crate) fn standard() -> Self {
        Names::default()
            .with("public.test", &[&["127.0.0.2"]])
            .with("news.test", &[&["127.0.0.2"]])
            .with("internal.test", &[&["127.0.0.1"]])
    }

    pub(crate) fn network(self) -> Network {
        Network {
            is_public: test_is_public,
            resolver: Arc::new(self),
        }
    }
}

impl Resolve for Names {
    fn resolve(&self, name: Name) -> Resolving {
        let mut table = self.answers.lock().unwrap();
        let answer = table.get_mut(name.as_str()).map(|a| {
            let answer = a.each[a.lookups.min(a.each.len() - 1)].clone();
            a.lookups += 1;
            answer
        });
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = answer.ok_or_else(|| format!("no such test host {host}"))?;
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// A mock server on `ip`, port `port` (0: any).
pub(crate) async fn server_at(ip: Ipv4Addr, port: u16) -> MockServer {
    let listener = std::net::TcpListener::bind((ip, port)).expect("bind");
    MockServer::builder().listener(listener).start().await
}

/// A TCP server on `addr` that hands every connection to `behave`. Returns the port.
async fn raw_server_at<F, Fut>(addr: (Ipv4Addr, u16), behave: F) -> u16
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(addr).await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(behave(stream));
        }
    });
    port
}

/// The request line's path, after reading the request's head.
async fn request_path(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&head);
    head.split(' ').nth(1).unwrap_or("").to_owned()
}

/// Words of a page that must never be published.
const SECRET: &str = "internal admin console";

fn secret_page() -> String {
    let text = format!("{SECRET} ").repeat(200);
    format!("<html><body><article><h1>Admin</h1><p>{text}</p></article></body></html>")
}

fn article_page(words: usize) -> String {
    let text = "river council bridge people morning ".repeat(words / 5);
    format!("<html><body><article><h1>Story</h1><p>{text}</p></article></body></html>")
}

fn one_item_feed(title: &str) -> Vec<u8> {
    format!(
        r#"<rss version="2.0"><channel><title>Feed</title><item><guid>{title}</guid><title>{title}</title><description>{title}</description></item></channel></rss>"#
    )
    .into_bytes()
}

/// A config polling `feeds`, its database in `dir`; full text on and published.
fn config(dir: &std::path::Path, feeds: &[String], poller: &str) -> Config {
    let mut toml = format!(
        "[poller]\ntimeout = \"5s\"\n{poller}\n[storage]\npath = \"f.db\"\n[reading_time]\nfull_text = \"auto\"\ninclude_full_text = true\n"
    );
    for url in feeds {
        toml.push_str(&format!("[[feeds]]\nurl = \"{url}\"\n"));
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, toml).unwrap();
    Config::load(&path).unwrap()
}

/// Polls every feed of `cfg` once, as `poll-once` does (article pages included), through
/// `network`.
async fn poll_through(cfg: &Config, network: Network) -> Vec<Report> {
    let mut reports = Vec::new();
    app::poll_once_through(cfg, network, |_, r| {
        reports.push(r.expect("polled").clone());
    })
    .await
    .expect("poll-once runs");
    reports
}

/// A fetcher with the default limits (16 MiB bodies, 10 s), through `network`.
pub(crate) fn fetcher(network: Network) -> Fetcher {
    Fetcher::new(&FetchConfig {
        user_agent: "feedmerge-test".into(),
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        max_body: 16 * 1024 * 1024,
        allow_private_redirects: false,
        network,
    })
    .unwrap()
}

fn html(t: Option<&str>) -> bool {
    t.is_none_or(|t| t == "text/html")
}

/// Why the article at `url` of the feed at `feed_url` was not fetched.
async fn article_error(fetcher: &Fetcher, url: &Url, feed_url: &Url) -> FetchError {
    match fetcher.fetch_article(url, feed_url, html).await {
        Ok(page) => panic!("{} was fetched ({} bytes)", page.url, page.body.len()),
        Err(e) => e,
    }
}

// See: issue #19, finding 1.
#[tokio::test]
async fn regression_19_article_links_into_the_local_network_are_not_fetched() {
    // The feed is the operator's own, on this machine; its items link to an admin service on
    // another port, by address and by name. Real rules, real resolver.
    let env = common::Env::new().await;
    let admin = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(secret_page(), "text/html"))
        .mount(&admin)
        .await;
    let admin_port = admin.address().port();
    env.serve_bytes("/story", article_page(700).into_bytes(), "text/html")
        .await;
    env.serve_bytes(
        "/feed",
        teaser_feed(&[
            (
                "by-address",
                format!("http://127.0.0.1:{admin_port}/internal/admin"),
            ),
            (
                "by-name",
                format!("http://localhost:{admin_port}/internal/admin"),
            ),
            ("own", env.url("/story")),
        ]),
        "application/rss+xml",
    )
    .await;
    let cfg = config(env.dir.path(), &[env.url("/feed")], "");
    assert_eq!(common::poll(&cfg).await.items_new, 3);

    assert_eq!(
        admin.received_requests().await.unwrap().len(),
        0,
        "the admin service was asked"
    );
    let xml = common::merged_xml(&cfg).await;
    assert!(!xml.contains(SECRET), "{xml}");
    let ch = merged(&cfg).await;
    for title in ["by-address", "by-name"] {
        let it = item(&ch, title);
        assert_eq!(reading_attr(it, "source"), "summary", "{title}");
        assert_eq!(
            reading_attr(it, "words"),
            "8",
            "{title}: the summary's words"
        );
    }
    // An article on the feed's own scheme, host and port is the operator's choice too.
    assert_eq!(reading_attr(item(&ch, "own"), "source"), "full");
}

// See: issue #19, finding 2.
#[tokio::test]
async fn regression_19_a_public_feed_may_not_redirect_into_the_local_network() {
    let internal = server_at(Ipv4Addr::LOCALHOST, 0).await;
    let internal_port = internal.address().port();
    internal_feed(&internal).await;
    let public = server_at(PUBLIC, 0).await;
    let public_port = public.address().port();
    redirect(
        &public,
        "/by-name",
        &format!("http://internal.test:{internal_port}/feed"),
    )
    .await;
    redirect(
        &public,
        "/by-address",
        &format!("http://127.0.0.1:{internal_port}/feed"),
    )
    .await;
    let feeds = ["/by-name", "/by-address"].map(|p| format!("http://public.test:{public_port}{p}"));

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &feeds, "");
    let mut reports = poll_through(&cfg, Names::standard().network()).await;
    reports.sort_by_key(|r| r.error.clone());
    let errors: Vec<String> = reports
        .iter()
        .map(|r| r.error.clone().unwrap_or_default())
        .collect();
    assert!(
        reports.iter().all(|r| r.kind == PollKind::Failed),
        "{errors:?}"
    );
    assert!(
        reports.iter().all(|r| r.failure == Some(Failure::Refused)),
        "{errors:?}"
    );
    assert_eq!(
        errors,
        [
            format!(
                "refused to fetch http://127.0.0.1:{internal_port}/feed: 127.0.0.1 is not a public address ({})",
                Rule::PublicFeedRedirect
            ),
            format!(
                "refused to fetch http://internal.test:{internal_port}/feed: internal.test resolves only to non-public addresses ({})",
                Rule::PublicFeedRedirect
            ),
        ]
    );
    assert!(errors[0].contains("allow_private_redirects = true"));
    assert_eq!(internal.received_requests().await.unwrap().len(), 0);
    assert!(common::titles(&merged(&cfg).await).is_empty());

    // The operator may let feeds redirect anywhere.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &feeds, "allow_private_redirects = true");
    let reports = poll_through(&cfg, Names::standard().network()).await;
    assert!(
        reports.iter().all(|r| r.kind == PollKind::Fetched),
        "{reports:?}"
    );
    assert_eq!(
        common::titles(&merged(&cfg).await),
        ["Internal", "Internal"]
    );
}

async fn internal_feed(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/feed"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(one_item_feed("Internal"), "application/rss+xml"),
        )
        .mount(server)
        .await;
}

async fn redirect(server: &MockServer, from: &str, to: &str) {
    Mock::given(method("GET"))
        .and(path(from))
        .respond_with(ResponseTemplate::new(302).insert_header("location", to))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_feed_on_a_private_address_may_redirect_within_the_private_network() {
    let internal = server_at(Ipv4Addr::LOCALHOST, 0).await;
    internal_feed(&internal).await;
    let old = server_at(Ipv4Addr::LOCALHOST, 0).await;
    let to = format!("http://internal.test:{}/feed", internal.address().port());
    redirect(&old, "/old", &to).await;

    let dir = tempfile::tempdir().unwrap();
    let feed = format!("http://127.0.0.1:{}/old", old.address().port());
    let cfg = config(dir.path(), &[feed], "");
    let reports = poll_through(&cfg, Names::standard().network()).await;
    assert_eq!(reports[0].kind, PollKind::Fetched, "{:?}", reports[0].error);
    assert_eq!(common::titles(&merged(&cfg).await), ["Internal"]);

    // The feed's address is read from the connection its answer came over, new or pooled:
    // three polls over one kept-alive connection follow the redirect each time.
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    let port = raw_server_at((Ipv4Addr::LOCALHOST, 0), move |mut stream| {
        count.fetch_add(1, Ordering::SeqCst);
        let to = to.clone();
        async move {
            while !request_path(&mut stream).await.is_empty() {
                let answer =
                    format!("HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\n\r\n");
                if stream.write_all(answer.as_bytes()).await.is_err() {
                    break;
                }
            }
        }
    })
    .await;
    let fetcher = fetcher(Names::standard().network());
    let url = Url::parse(&format!("http://127.0.0.1:{port}/old")).unwrap();
    for _ in 0..3 {
        let fetched = fetcher.fetch(&url, &Validators::default()).await;
        assert!(
            matches!(fetched, Ok(FetchOutcome::Fetched(_))),
            "{fetched:?}"
        );
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

// See: issue #19, findings 1 and 2.
#[tokio::test]
async fn regression_19_an_article_redirect_into_the_local_network_is_refused() {
    let admin = server_at(Ipv4Addr::LOCALHOST, 0).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(secret_page(), "text/html"))
        .mount(&admin)
        .await;
    let admin_port = admin.address().port();
    // The articles live on a public host other than the feed's.
    let news = server_at(PUBLIC, 0).await;
    let news_port = news.address().port();
    redirect(
        &news,
        "/by-name",
        &format!("http://internal.test:{admin_port}/admin"),
    )
    .await;
    redirect(
        &news,
        "/by-address",
        &format!("http://127.0.0.1:{admin_port}/admin"),
    )
    .await;
    redirect(&news, "/moved", "/story").await;
    Mock::given(method("GET"))
        .and(path("/story"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(article_page(700), "text/html"))
        .mount(&news)
        .await;
    let feed = server_at(PUBLIC, 0).await;
    let links = ["by-name", "by-address", "moved"]
        .map(|p| (p, format!("http://news.test:{news_port}/{p}")));
    Mock::given(method("GET"))
        .and(path("/feed"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(teaser_feed(&links), "application/rss+xml"),
        )
        .mount(&feed)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let feed_url = format!("http://public.test:{}/feed", feed.address().port());
    let cfg = config(dir.path(), &[feed_url], "");
    let reports = poll_through(&cfg, Names::standard().network()).await;
    assert_eq!(reports[0].items_new, 3, "{:?}", reports[0].error);

    assert_eq!(admin.received_requests().await.unwrap().len(), 0);
    let ch = merged(&cfg).await;
    assert_eq!(reading_attr(item(&ch, "by-name"), "source"), "summary");
    assert_eq!(reading_attr(item(&ch, "by-address"), "source"), "summary");
    // A redirect that stays public is followed.
    assert_eq!(reading_attr(item(&ch, "moved"), "source"), "full");
}

/// A public server and a private one on the same port, so that one name can lead to either;
/// returns the port and the private server's connection count. The public one redirects
/// `/a` to `/b` and closes the connection (the next hop resolves the name again) and serves
/// an article at `/b`.
async fn twin_servers() -> (u16, Arc<AtomicUsize>) {
    let private_connections = Arc::new(AtomicUsize::new(0));
    let count = private_connections.clone();
    let port = raw_server_at((Ipv4Addr::LOCALHOST, 0), move |mut stream| {
        count.fetch_add(1, Ordering::SeqCst);
        async move {
            request_path(&mut stream).await;
            let page = secret_page();
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    })
    .await;
    raw_server_at((PUBLIC, port), |mut stream| async move {
        let answer = match request_path(&mut stream).await.as_str() {
            "/a" => "HTTP/1.1 302 Found\r\nlocation: /b\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
            _ => {
                let page = article_page(100);
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                )
            }
        };
        let _ = stream.write_all(answer.as_bytes()).await;
    })
    .await;
    (port, private_connections)
}

// See: issue #19, finding 2 (DNS rebinding).
#[tokio::test]
async fn regression_19_a_rebinding_name_never_reaches_the_private_address() {
    let feed_url = Url::parse("http://public.test/feed").unwrap();

    // Public at the first lookup, private at the next (the redirect's hop).
    let (port, private) = twin_servers().await;
    let names = Names::standard().with("rebind.test", &[&["127.0.0.2"], &["127.0.0.1"]]);
    let fetcher = fetcher(names.network());
    let url = Url::parse(&format!("http://rebind.test:{port}/a")).unwrap();
    let err = article_error(&fetcher, &url, &feed_url).await;
    match &err {
        FetchError::Refused { url, reason, rule } => {
            assert_eq!(url.path(), "/b");
            assert_eq!(
                *reason,
                Refusal::NonPublicName {
                    host: "rebind.test".into()
                }
            );
            assert_eq!(*rule, Rule::Article);
        }
        other => panic!("not refused: {other}"),
    }
    assert_eq!(private.load(Ordering::SeqCst), 0);

    // Both at once, the private address first: only the public one is connected to.
    let (port, private) = twin_servers().await;
    let names = Names::standard().with("rebind.test", &[&["127.0.0.1", "127.0.0.2"]]);
    let fetcher = self::fetcher(names.network());
    let url = Url::parse(&format!("http://rebind.test:{port}/a")).unwrap();
    let page = fetcher.fetch_article(&url, &feed_url, html).await.unwrap();
    let text = String::from_utf8(page.body).unwrap();
    assert!(text.contains("river council") && !text.contains(SECRET));
    assert_eq!(private.load(Ordering::SeqCst), 0);
}

// See: issue #19, finding 17.
#[tokio::test]
async fn regression_19_a_non_html_article_is_not_downloaded() {
    // 50 MB of audio behind an article link: the server writes until the client hangs up.
    // Its send buffer is small, so what it manages to send is what the client read (plus the
    // client's receive buffer), not what the kernel would queue.
    const SIZE: u64 = 50 * 1000 * 1000;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(16 * 1024).unwrap();
    socket.bind((Ipv4Addr::LOCALHOST, 0).into()).unwrap();
    let listener = socket.listen(8).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        request_path(&mut stream).await;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: audio/mpeg\r\ncontent-length: {SIZE}\r\n\r\n"
        );
        let mut sent = 0;
        if stream.write_all(head.as_bytes()).await.is_ok() {
            let chunk = vec![0u8; 16 * 1024];
            while sent < SIZE && stream.write_all(&chunk).await.is_ok() {
                sent += chunk.len() as u64;
            }
        }
        sent
    });
    let feed_url = Url::parse(&format!("http://127.0.0.1:{port}/feed")).unwrap();
    let url = Url::parse(&format!("http://127.0.0.1:{port}/episode.mp3")).unwrap();
    // The server stands for a public host: the article is allowed, only its media type is not.
    let everything_public = Network {
        is_public: |_| true,
        ..Network::default()
    };
    let err = article_error(&fetcher(everything_public), &url, &feed_url).await;
    assert!(
        matches!(&err, FetchError::MediaType { content_type: Some(t), .. } if t == "audio/mpeg"),
        "{err}"
    );
    // The connection is closed at once: the server stops writing (liveness, not speed).
    let sent = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server is still sending")
        .unwrap();
    // What the socket buffers took before the client hung up, not the file.
    assert!(sent < 1024 * 1024, "{sent} bytes sent");
}

#[tokio::test]
async fn article_pages_have_their_own_body_limit() {
    let server = MockServer::start().await;
    let big = vec![b'a'; MAX_ARTICLE_BODY as usize + 1];
    for p in ["/page", "/feed"] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_raw(big.clone(), "text/html"))
            .mount(&server)
            .await;
    }
    let fetcher = fetcher(Network::default());
    let feed_url = Url::parse(&format!("{}/feed", server.uri())).unwrap();
    let page = Url::parse(&format!("{}/page", server.uri())).unwrap();
    // A feed of that size is within `max_body` (and its poll shows its server is private, so
    // its own articles may be fetched from there).
    let fetched = fetcher
        .fetch(&feed_url, &Validators::default())
        .await
        .unwrap();
    assert!(matches!(fetched, FetchOutcome::Fetched(f) if f.body.len() == big.len()));
    let err = article_error(&fetcher, &page, &feed_url).await;
    assert!(
        matches!(err, FetchError::TooLarge { limit, .. } if limit == MAX_ARTICLE_BODY),
        "{err}"
    );
}

#[tokio::test]
async fn article_links_other_than_http_are_refused() {
    let fetcher = fetcher(Network::default());
    let feed_url = Url::parse("http://127.0.0.1:1/feed").unwrap();
    let err = article_error(
        &fetcher,
        &Url::parse("file:///etc/passwd").unwrap(),
        &feed_url,
    )
    .await;
    assert!(
        matches!(
            &err,
            FetchError::Refused {
                reason: Refusal::Scheme { .. },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        policy::article_reach(&feed_url, &feed_url, policy::is_public),
        Reach::Anywhere
    );
}

/// System proxies are not used: through a proxy the address connected to is the proxy's.
#[tokio::test]
async fn proxies_from_the_environment_are_not_used() {
    let proxied = Arc::new(AtomicUsize::new(0));
    let count = proxied.clone();
    let proxy = raw_server_at((Ipv4Addr::LOCALHOST, 0), move |stream| {
        count.fetch_add(1, Ordering::SeqCst);
        async move { drop(stream) }
    })
    .await;
    let env = common::Env::new().await;
    env.serve_bytes("/feed", one_item_feed("Direct"), "application/rss+xml")
        .await;
    let cfg = config(env.dir.path(), &[env.url("/feed")], "");
    let proxy = format!("http://127.0.0.1:{proxy}");
    // A child process: the environment of this one is shared by every test.
    let config_path = env.dir.path().join("config.toml");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_feedmerge"))
            .arg("--config")
            .arg(config_path)
            .arg("poll-once")
            .env("HTTP_PROXY", &proxy)
            .env("http_proxy", &proxy)
            .env("ALL_PROXY", &proxy)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(proxied.load(Ordering::SeqCst), 0, "the proxy was used");
    assert_eq!(common::titles(&merged(&cfg).await), ["Direct"]);
}

// See: issue #19, finding 2 (DNS rebinding of a feed's own name).
#[tokio::test]
async fn regression_19_a_public_feeds_own_name_cannot_rebind_its_articles_inside() {
    // The feed's name answers public for the feed, then private for its article.
    let (port, private) = twin_servers().await;
    let names = Names::standard().with("news.test", &[&["127.0.0.2"], &["127.0.0.1"]]);
    let fetcher = fetcher(names.network());
    let feed_url = Url::parse(&format!("http://news.test:{port}/b")).unwrap();
    let fetched = fetcher.fetch(&feed_url, &Validators::default()).await;
    assert!(
        matches!(fetched, Ok(FetchOutcome::Fetched(_))),
        "{fetched:?}"
    );
    let article = Url::parse(&format!("http://news.test:{port}/story")).unwrap();
    match article_error(&fetcher, &article, &feed_url).await {
        FetchError::Refused { reason, rule, .. } => {
            assert_eq!(
                reason,
                Refusal::NonPublicName {
                    host: "news.test".into()
                }
            );
            assert_eq!(rule, Rule::Article);
        }
        other => panic!("not refused: {other}"),
    }
    assert_eq!(private.load(Ordering::SeqCst), 0);
}

/// A raw HTTP answer: `body` as `content_type`, and the connection closed (the next request
/// resolves its name again).
fn answer(content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

// See: issue #19, finding 2. A feed whose name answered a private address for one poll got
// its whole server opened to article links: any path the publisher wrote on the feed's
// scheme, host and port was fetched from the private address, and with include_full_text
// published.
#[tokio::test]
async fn regression_19_a_name_that_answered_privately_once_opens_no_article_path() {
    let dir = tempfile::tempdir().unwrap();
    let internal = Arc::new(AtomicUsize::new(0));
    let count = internal.clone();
    let port = raw_server_at((Ipv4Addr::LOCALHOST, 0), move |mut stream| {
        let count = count.clone();
        async move {
            let path = request_path(&mut stream).await;
            let body = if path == "/feed" {
                let link = "/admin/secrets".to_owned();
                answer("application/rss+xml", &teaser_feed(&[("admin", link)]))
            } else {
                count.fetch_add(1, Ordering::SeqCst);
                answer("text/html", secret_page().as_bytes())
            };
            let _ = stream.write_all(&body).await;
        }
    })
    .await;
    // The publisher's name answers this machine, at every lookup.
    let names = Names::standard().with("news.test", &[&["127.0.0.1"]]);
    let feed = format!("http://news.test:{port}/feed");
    let cfg = config(dir.path(), std::slice::from_ref(&feed), "");
    let reports = poll_through(&cfg, names.network()).await;
    assert_eq!(reports[0].kind, PollKind::Fetched, "{reports:?}");
    assert_eq!(
        internal.load(Ordering::SeqCst),
        0,
        "an internal page was fetched"
    );
    let ch = merged(&cfg).await;
    assert_eq!(reading_attr(item(&ch, "admin"), "source"), "summary");
    assert!(!common::merged_xml(&cfg).await.contains(SECRET));
}

// See: issue #19, finding 2. A permanent redirect that was remembered was polled like the
// configured URL, which may connect anywhere: a public feed that moved to a publisher's name
// had every later poll follow that name into the local network.
#[tokio::test]
async fn regression_19_a_remembered_move_is_polled_like_a_redirect() {
    let dir = tempfile::tempdir().unwrap();
    // The old address, on "the internet": moved for good.
    let old = server_at(PUBLIC, 0).await;
    let internal = Arc::new(AtomicUsize::new(0));
    let count = internal.clone();
    // One port, two servers: the publisher's (public) and an internal service (private).
    let port = raw_server_at((Ipv4Addr::LOCALHOST, 0), move |mut stream| {
        count.fetch_add(1, Ordering::SeqCst);
        async move {
            request_path(&mut stream).await;
            let feed = one_item_feed("INTERNAL-ONLY");
            let _ = stream
                .write_all(&answer("application/rss+xml", &feed))
                .await;
        }
    })
    .await;
    raw_server_at((PUBLIC, port), |mut stream| async move {
        request_path(&mut stream).await;
        let feed = one_item_feed("Public");
        let _ = stream
            .write_all(&answer("application/rss+xml", &feed))
            .await;
    })
    .await;
    Mock::given(method("GET"))
        .and(path("/feed"))
        .respond_with(ResponseTemplate::new(301).insert_header(
            "location",
            format!("http://moved.test:{port}/feed").as_str(),
        ))
        .mount(&old)
        .await;
    // The new name answers the public server when the move is learned, then this machine.
    let network = Names::standard()
        .with("moved.test", &[&["127.0.0.2"], &["127.0.0.1"]])
        .network();
    let feed = format!("http://public.test:{}/feed", old.address().port());
    let cfg = config(dir.path(), std::slice::from_ref(&feed), "");
    let first = poll_through(&cfg, network.clone()).await;
    assert_eq!(first[0].kind, PollKind::Fetched, "{first:?}");
    let second = poll_through(&cfg, network).await;
    let error = second[0].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("moved.test resolves only to non-public addresses"),
        "{second:?}"
    );
    assert_eq!(
        internal.load(Ordering::SeqCst),
        0,
        "the internal service was asked"
    );
    let ch = merged(&cfg).await;
    assert!(
        !common::titles(&ch).iter().any(|t| t == "INTERNAL-ONLY"),
        "{:?}",
        common::titles(&ch)
    );
}
