//! Shared test helpers: fixture files, a local feed server (wiremock on 127.0.0.1), a config
//! with its database in a temporary folder, and readers for the merged feed.

use std::path::PathBuf;

use feedmerge::app::{self, PollSummary};
use feedmerge::config::Config;
use feedmerge::render::Format;
use tempfile::TempDir;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The bytes of `tests/fixtures/NAME`.
pub fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// A feed server and a scratch folder holding the config and database.
pub struct Env {
    pub dir: TempDir,
    pub server: MockServer,
}

impl Env {
    /// How many requests the feed server has had for the path `p`.
    pub async fn requests_to(&self, p: &str) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == p)
            .count()
    }

    pub async fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
            server: MockServer::start().await,
        }
    }

    /// Absolute URL of `path` on the feed server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.uri())
    }

    /// Serves `body` at `path` with `content_type`, for any number of requests.
    pub async fn serve_bytes(&self, path_: &str, body: Vec<u8>, content_type: &str) {
        Mock::given(method("GET"))
            .and(path(path_))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, content_type))
            .mount(&self.server)
            .await;
    }

    /// Serves the fixture `name` at `/name`.
    pub async fn serve(&self, name: &str) -> String {
        let content_type = if name.ends_with(".json") {
            "application/feed+json"
        } else {
            "application/xml"
        };
        self.serve_bytes(&format!("/{name}"), fixture(name), content_type)
            .await;
        self.url(&format!("/{name}"))
    }

    /// A config polling `feed_urls`, with `extra` TOML appended before the feeds.
    pub fn config_with(&self, feed_urls: &[String], extra: &str) -> Config {
        // Article pages are not fetched unless a test asks: the fixtures link to hosts that do
        // not exist here.
        let mut toml = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"feedmerge.db\"\n[reading_time]\nfull_text = \"never\"\n[output]\nmax_items = 1000000\n{extra}\n"
        );
        for url in feed_urls {
            toml.push_str(&format!("[[feeds]]\nurl = \"{url}\"\n"));
        }
        let path = self.dir.path().join("config.toml");
        std::fs::write(&path, toml).expect("write config");
        Config::load(&path).expect("test config is valid")
    }

    pub fn config(&self, feed_urls: &[String]) -> Config {
        self.config_with(feed_urls, "")
    }
}

/// Polls every feed of `cfg` once.
pub async fn poll(cfg: &Config) -> PollSummary {
    app::poll_once(cfg, |_, _| {})
        .await
        .expect("poll-once runs")
}

/// The merged feed as served, as text.
pub async fn merged_xml(cfg: &Config) -> String {
    String::from_utf8(app::render(cfg, Format::Rss).await.expect("render")).expect("UTF-8 output")
}

/// The merged feed as served, parsed back with the rss crate (which also proves it is XML).
pub async fn merged(cfg: &Config) -> rss::Channel {
    let xml = merged_xml(cfg).await;
    rss::Channel::read_from(xml.as_bytes())
        .unwrap_or_else(|e| panic!("merged feed is not RSS: {e}\n{xml}"))
}

/// Titles of the merged feed's items, in order.
pub fn titles(ch: &rss::Channel) -> Vec<String> {
    ch.items()
        .iter()
        .map(|i| i.title().unwrap_or("").to_owned())
        .collect()
}

/// The merged item titled `title`.
pub fn item<'a>(ch: &'a rss::Channel, title: &str) -> &'a rss::Item {
    ch.items()
        .iter()
        .find(|i| i.title() == Some(title))
        .unwrap_or_else(|| panic!("no item {title:?} in {:?}", titles(ch)))
}

/// An attribute of an item's `<feedmerge:readingTime>` element.
pub fn reading_attr(item: &rss::Item, attr: &str) -> String {
    let ext = item
        .extensions()
        .get("feedmerge")
        .and_then(|m| m.values().next())
        .and_then(|v| v.first())
        .unwrap_or_else(|| panic!("no feedmerge extension on {:?}", item.title()));
    ext.attrs()
        .get(attr)
        .cloned()
        .unwrap_or_else(|| panic!("no {attr} on readingTime"))
}

/// An HTTP client for talking to the daemon. It leaves compressed bodies alone, so a test sees
/// exactly what was sent.
pub fn http_client() -> reqwest::Client {
    // reqwest is built without a default TLS provider; the daemon installs ring at start-up.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .build()
        .expect("HTTP client")
}

/// A TCP server on 127.0.0.1 that hands every connection to `behave`, for servers that break
/// HTTP in ways a mock server will not. Returns its base URL.
pub async fn raw_server<F, Fut>(behave: F) -> String
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(behave(stream));
        }
    });
    format!("http://{addr}")
}

/// Reads a request's head (up to the blank line) so the client starts waiting for the answer.
pub async fn read_request(stream: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => buf.push(byte[0]),
            _ => return,
        }
    }
}

/// The daemon, in this process: `app::run_with_reload` on a loopback listener, with handles to
/// stop it (what SIGTERM does) and to ask for a reload (what SIGHUP does).
pub struct Daemon {
    /// The address it serves on.
    pub addr: std::net::SocketAddr,
    stop: tokio_util::sync::CancellationToken,
    reload: tokio::sync::mpsc::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Daemon {
    /// Starts the daemon of `cfg` on 127.0.0.1, on a port of its own.
    pub async fn start(cfg: Config) -> Daemon {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        Daemon::start_on(cfg, listener)
    }

    /// Starts the daemon of `cfg` on `listener`.
    pub fn start_on(cfg: Config, listener: tokio::net::TcpListener) -> Daemon {
        let addr = listener.local_addr().expect("address");
        let stop = tokio_util::sync::CancellationToken::new();
        let (reload, reloads) = tokio::sync::mpsc::channel(1);
        let task = tokio::spawn(app::run_with_reload(
            cfg,
            listener,
            stop.clone().cancelled_owned(),
            reloads,
        ));
        Daemon {
            addr,
            stop,
            reload,
            task,
        }
    }

    /// The absolute URL of `path` on the daemon.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Asks for a reload, as one SIGHUP does: dropped when one is already queued.
    pub fn hup(&self) {
        let _ = self.reload.try_send(());
    }

    /// The body of `path` as text, whatever the status.
    pub async fn text(&self, path: &str) -> String {
        http_client()
            .get(self.url(path))
            .send()
            .await
            .expect("the daemon answers")
            .text()
            .await
            .expect("a body")
    }

    /// Asks for a reload and waits until there is room for it in the queue (one waits while
    /// another is applied), so that three in a row are all taken.
    pub async fn reload(&self) {
        self.reload
            .send(())
            .await
            .expect("the daemon takes reloads");
    }

    /// Waits (at most `limit`) for the daemon to stop by itself, and returns how it ended.
    pub async fn exited(self, limit: std::time::Duration) -> anyhow::Result<()> {
        tokio::time::timeout(limit, self.task)
            .await
            .expect("the daemon stops by itself")
            .expect("its task ran")
    }

    /// `/feed.xml` as served now.
    pub async fn feed(&self) -> rss::Channel {
        rss::Channel::read_from(self.text("/feed.xml").await.as_bytes())
            .expect("valid RSS at every moment")
    }

    /// `/feed.xml` once it has at least `n` items (the first poll runs in the background).
    pub async fn wait_for_items(&self, n: usize) -> rss::Channel {
        let limit = std::time::Duration::from_secs(30);
        wait_until(&format!("{n} items in /feed.xml"), limit, || async {
            self.feed().await.items().len() >= n
        })
        .await;
        self.feed().await
    }

    /// Stops the daemon as SIGTERM does and waits (at most 30 s) for its clean exit.
    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(30), self.task)
            .await
            .expect("the daemon stops")
            .expect("its task ran")
            .expect("a clean exit");
    }
}

/// Waits until `check` holds, checking every 50 ms, for at most `limit`; panics naming `what`
/// otherwise. The limit is a liveness bound (the bug it catches means waiting for ever), so it
/// is generous.
pub async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    limit: std::time::Duration,
    mut check: impl FnMut() -> F,
) {
    let deadline = std::time::Instant::now() + limit;
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {limit:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A summary-only RSS feed: one teaser per `(guid, link)`, titled after the guid, so that
/// its items want their article pages.
pub fn teaser_feed<S: AsRef<str>>(items: &[(S, String)]) -> Vec<u8> {
    let mut xml = String::from(r#"<rss version="2.0"><channel><title>Teasers</title>"#);
    for (id, link) in items {
        let id = id.as_ref();
        xml.push_str(&format!(
            "<item><guid>{id}</guid><title>{id}</title><link>{link}</link>\
             <description>The first lines of the story… Read more</description></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

/// Runs the `feedmerge` binary with `args` after `--config CONFIG`: its stdin not a terminal,
/// `$FEEDMERGE_CONFIG` unset, no colour.
pub fn feedmerge_with(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_feedmerge"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("FEEDMERGE_CONFIG")
        .env("NO_COLOR", "1")
        .output()
        .expect("run feedmerge")
}

/// [`feedmerge_with`], off the async runtime's thread.
pub async fn feedmerge_with_async(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    let config = config.to_owned();
    let args: Vec<String> = args.iter().map(|&a| a.to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        feedmerge_with(&config, &args)
    })
    .await
    .unwrap()
}

/// Bytes a command printed, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The names of the files in `dir`, sorted.
pub fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
