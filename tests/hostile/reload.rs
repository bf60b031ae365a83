//! Reloads and shutdown: a reload applies, does not restart work and never half-applies; a
//! shutdown keeps to its timeout.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use feedmerge::config::Config;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::common::{Daemon, Env, fixture, wait_until};

/// Log lines of the daemon, captured for this test's thread (the daemon's tasks run on it:
/// `#[tokio::test]` has one thread).
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Log {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let log = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || log.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .matches(needle)
            .count()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Serves the Atom fixture at `/slow.xml` after `delay`.
async fn slow_feed(env: &Env, delay: Duration) -> String {
    Mock::given(method("GET"))
        .and(path("/slow.xml"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("atom_basic.xml"), "application/atom+xml")
                .set_delay(delay),
        )
        .mount(&env.server)
        .await;
    env.url("/slow.xml")
}

/// See: issue 19, finding 18. A reload cancelled the polls in flight and started them again at
/// once: 100 SIGHUPs made 85 requests to one feed in a second, and with a SIGHUP every 3 s a
/// feed that takes 5 s was never stored. Now a burst of reloads is one reload, and a reload
/// leaves the polls of the feeds it keeps alone.
#[tokio::test]
async fn regression_19_reloads_neither_restart_polls_nor_pile_up() {
    let log = Log::default();
    let _capture = log.capture();
    let env = Env::new().await;
    let slow = slow_feed(&env, Duration::from_secs(2)).await;
    let cfg = env.config(std::slice::from_ref(&slow));
    let daemon = Daemon::start(cfg).await;
    wait_until("the first request", Duration::from_secs(10), || {
        let env = &env;
        async move { env.requests_to("/slow.xml").await == 1 }
    })
    .await;

    // A burst, while the poll is in flight: one SIGHUP every 10 ms for half a second.
    for _ in 0..50 {
        daemon.hup();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Then spaced reloads, each applied, until the poll is stored.
    let started = Instant::now();
    while !daemon.text("/feed.xml").await.contains("<item>") {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the feed was never stored while reloading:\n{}",
            log.text()
        );
        daemon.hup();
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(
        env.requests_to("/slow.xml").await,
        1,
        "the poll in flight was started again"
    );
    let reloads = log.count("config reloaded");
    assert!(reloads >= 2, "the spaced reloads applied:\n{}", log.text());
    assert!(
        reloads <= 12,
        "{reloads} reloads for a burst of 50 and a few spaced ones"
    );
    daemon.stop().await;
}

/// See: issue 19, finding 19. A reload that changed `[server] listen` or `[storage] path`
/// half-applied: self links pointed at the new port while the server stayed on the old one.
/// Now it is refused whole, with an error naming the keys, and nothing of it applies.
#[tokio::test]
async fn regression_19_a_reload_that_needs_a_restart_is_refused_whole() {
    let log = Log::default();
    let _capture = log.capture();
    let env = Env::new().await;
    let feed = env.serve("atom_basic.xml").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let write = |listen: &str, db: &str, title: &str| {
        let toml = format!(
            "[server]\nlisten = \"{listen}\"\n[storage]\npath = \"{db}\"\n[reading_time]\nfull_text = \"never\"\n\
             [output]\ntitle = \"{title}\"\n[[feeds]]\nurl = \"{feed}\"\n"
        );
        let file = env.dir.path().join("config.toml");
        std::fs::write(&file, toml).unwrap();
        Config::load(&file).unwrap()
    };
    let cfg = write(&format!("127.0.0.1:{port}"), "a.db", "First");
    let daemon = Daemon::start(cfg).await;
    let self_link = format!("href=\"http://127.0.0.1:{port}/feed.xml\"");
    let first = daemon.text("/feed.xml").await;
    assert!(first.contains(&self_link) && first.contains("<title>First</title>"));

    for (listen, db, keys) in [
        ("127.0.0.1:1", "a.db", "[server] listen"),
        (&*format!("127.0.0.1:{port}"), "b.db", "[storage] path"),
    ] {
        write(listen, db, "Second");
        daemon.hup();
        wait_until("the refusal", Duration::from_secs(10), || {
            let log = &log;
            async move { log.text().contains(keys) }
        })
        .await;
        let xml = daemon.text("/feed.xml").await;
        assert!(xml.contains("<title>First</title>"), "{xml}");
        assert!(xml.contains(&self_link), "{xml}");
    }
    assert!(
        log.text().contains("config reload rejected"),
        "{}",
        log.text()
    );
    assert_eq!(log.count("config reloaded"), 0, "{}", log.text());
    assert!(
        !env.dir.path().join("b.db").exists(),
        "the new database was opened"
    );

    // A reload that changes only what a reload can change applies.
    write(&format!("127.0.0.1:{port}"), "a.db", "Third");
    daemon.hup();
    wait_until("the reload", Duration::from_secs(10), || {
        let daemon = &daemon;
        async move {
            daemon
                .text("/feed.xml")
                .await
                .contains("<title>Third</title>")
        }
    })
    .await;
    daemon.stop().await;
}

/// See: issue 19 (a review of its fix). Shutdown waited for the background tasks without a
/// bound: a client holding a half-sent request on the separate `/metrics` listener kept the
/// daemon from exiting until that connection's head deadline, past `shutdown_timeout`.
#[tokio::test]
async fn regression_19_shutdown_keeps_to_its_timeout() {
    use tokio::io::AsyncWriteExt;
    let env = Env::new().await;
    let feed = env.serve("atom_basic.xml").await;
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let file = env.dir.path().join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nshutdown_timeout = \"1s\"\nheader_timeout = \"30s\"\n\
             metrics = \"{metrics}\"\n[storage]\npath = \"feedmerge.db\"\n[reading_time]\n\
             full_text = \"never\"\n[[feeds]]\nurl = \"{feed}\"\n"
        ),
    )
    .unwrap();
    let cfg = Config::load(&file).unwrap();
    let daemon = Daemon::start(cfg).await;
    daemon.text("/feed.xml").await;
    let mut held = tokio::net::TcpStream::connect(metrics).await.unwrap();
    held.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    daemon.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopping took {:?} with shutdown_timeout = 1s",
        started.elapsed()
    );
    drop(held);
}

/// The daemon reloads its config file when it changes, without a signal, through the same
/// reload as SIGHUP: a file that does not load keeps the running config and is logged once,
/// however long it stays; the next valid file applies.
#[tokio::test]
async fn a_changed_config_file_is_reloaded_once_per_change_without_a_signal() {
    let log = Log::default();
    let _capture = log.capture();
    let env = Env::new().await;
    let feed = env.serve("atom_basic.xml").await;
    let cfg = env.config(std::slice::from_ref(&feed));
    let text = std::fs::read_to_string(&cfg.source).unwrap();
    std::fs::write(
        &cfg.source,
        text.replace("[output]\n", "[output]\ntitle = \"First\"\n"),
    )
    .unwrap();
    let cfg = Config::load(&cfg.source).unwrap();
    let daemon = Daemon::start(cfg.clone()).await;
    assert!(
        daemon
            .text("/feed.xml")
            .await
            .contains("<title>First</title>")
    );
    let original = std::fs::read_to_string(&cfg.source).unwrap();

    std::fs::write(
        &cfg.source,
        original.replace("title = \"First\"", "title = 1"),
    )
    .unwrap();
    wait_until("the refusal", Duration::from_secs(10), || {
        let log = &log;
        async move { log.text().contains("config reload rejected") }
    })
    .await;
    // The broken file stays for a few looks: still one refusal.
    tokio::time::sleep(3 * feedmerge::daemon::CONFIG_CHECK).await;
    assert!(
        daemon
            .text("/feed.xml")
            .await
            .contains("<title>First</title>")
    );

    std::fs::write(&cfg.source, original.replace("First", "Second")).unwrap();
    wait_until("the new title", Duration::from_secs(10), || {
        let daemon = &daemon;
        async move {
            daemon
                .text("/feed.xml")
                .await
                .contains("<title>Second</title>")
        }
    })
    .await;
    assert_eq!(log.count("config reload rejected"), 1, "{}", log.text());
    assert_eq!(log.count("config reloaded"), 1, "{}", log.text());
    daemon.stop().await;
}
