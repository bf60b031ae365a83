//! The HTTP server under hostile clients: trickling and silent connections, and query
//! variants, cost bounded time and memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use feedmerge::app;
use feedmerge::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::common::{Env, http_client};

/// The daemon, in this process, on 127.0.0.1:0.
struct Daemon {
    addr: std::net::SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Daemon {
    async fn start(cfg: Config) -> Daemon {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(app::run(cfg, listener, stop.clone().cancelled_owned()));
        Daemon { addr, stop, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the daemon stops")
            .expect("task ran")
            .expect("clean exit");
    }
}

/// GET `url` on a connection of its own; the status, or why there is none.
async fn get_fresh(url: &str) -> Result<u16, String> {
    let r = http_client()
        .get(url)
        .header("connection", "close")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    r.bytes().await.map_err(|e| e.to_string())?;
    Ok(status)
}

/// Waits until the merged feed has items.
async fn wait_for_items(d: &Daemon) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = http_client()
            .get(d.url("/feed.xml"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if body.contains("<item>") {
            return;
        }
        assert!(Instant::now() < deadline, "no items polled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Raises this process's soft limit on open files to its hard limit, and fails clearly if
/// that is still below `needed`.
fn allow_open_files(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
    assert!(
        limit.rlim_cur as u64 >= needed,
        "this test holds about {needed} sockets open, but this process may open only {} files \
         (the hard RLIMIT_NOFILE): raise it (ulimit -Hn) to run it",
        limit.rlim_cur
    );
}

/// What the attacking clients saw.
#[derive(Default)]
struct Attack {
    connected: AtomicUsize,
    closed_by_server: AtomicUsize,
}

/// One attacking client until `stop`: connects, then every `tick` (jittered) sends one more
/// byte of a request head that never ends (`trickle`) or nothing at all; when the server
/// closes the connection, it connects again at its next tick, like a slowloris tool.
async fn attacker(
    addr: std::net::SocketAddr,
    trickle: bool,
    tick: Duration,
    attack: Arc<Attack>,
    stop: CancellationToken,
) {
    let head = b"GET /feed.xml HTTP/1.1\r\nHost: x\r\nX-a: ";
    let jitter = || tick.mul_f64(0.5 + fastrand::f64());
    tokio::select! {
        () = stop.cancelled() => return,
        () = tokio::time::sleep(tick.mul_f64(fastrand::f64())) => {}
    }
    while !stop.is_cancelled() {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            tokio::time::sleep(jitter()).await;
            continue;
        };
        attack.connected.fetch_add(1, Ordering::Relaxed);
        let mut sent = 0;
        loop {
            let mut buf = [0u8; 64];
            tokio::select! {
                () = stop.cancelled() => return,
                // Closed by the server (or an answer, which a head never finished cannot get).
                _ = stream.read(&mut buf) => {
                    attack.closed_by_server.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                () = tokio::time::sleep(jitter()) => {}
            }
            if trickle {
                let byte = head.get(sent).copied().unwrap_or(b'a');
                sent += 1;
                if stream.write_all(&[byte]).await.is_err() {
                    attack.closed_by_server.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(jitter()) => {}
        }
    }
}

/// See: issue #19, finding 4 (slowloris). 1,100 clients trickling a request head one byte
/// every two seconds and 1,100 saying nothing, all reconnecting when closed, against a server
/// of 500 connections: a fresh client's `/healthz` and `/feed.xml` answer within a second
/// throughout. Before the fix, every slot was held by attackers (each trickled byte restarted
/// the idle clock, and the accept loop waited for a slot), and fresh clients waited in the
/// kernel's backlog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_19_slowloris_and_silent_clients_do_not_keep_others_out() {
    const EACH: usize = 1_100;
    const MAX_CONNECTIONS: usize = 500;
    allow_open_files((2 * EACH + MAX_CONNECTIONS + 1_000) as u64);
    let env = Env::new().await;
    let mut cfg = env.config(&[env.serve("rss2_basic.xml").await]);
    cfg.server.max_connections = MAX_CONNECTIONS;
    let d = Daemon::start(cfg).await;
    wait_for_items(&d).await;

    let attack = Arc::new(Attack::default());
    let stop = CancellationToken::new();
    let tick = Duration::from_secs(2);
    let mut attackers = tokio::task::JoinSet::new();
    for i in 0..2 * EACH {
        attackers.spawn(attacker(
            d.addr,
            i % 2 == 0,
            tick,
            attack.clone(),
            stop.clone(),
        ));
    }
    // Every attacker has connected once: the slots are taken.
    let deadline = Instant::now() + Duration::from_secs(20);
    while attack.connected.load(Ordering::Relaxed) < 2 * EACH {
        assert!(Instant::now() < deadline, "the attackers could not connect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let probing = Instant::now();
    let mut probes = 0;
    while probing.elapsed() < Duration::from_secs(10) {
        for path in ["/healthz", "/feed.xml"] {
            let started = Instant::now();
            let answer = tokio::time::timeout(Duration::from_secs(1), get_fresh(&d.url(path)))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "{path} took more than a second, {:.1} s into the attack",
                        probing.elapsed().as_secs_f64()
                    )
                });
            assert_eq!(answer, Ok(200), "{path} after {:?}", started.elapsed());
            probes += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.cancel();
    while attackers.join_next().await.is_some() {}
    let closed = attack.closed_by_server.load(Ordering::Relaxed);
    eprintln!(
        "{probes} probes answered; attackers connected {} times, closed by the server {closed} times",
        attack.connected.load(Ordering::Relaxed)
    );
    // The attack really outnumbered the slots: most attackers were turned away or cut off.
    assert!(closed >= 2 * EACH - MAX_CONNECTIONS, "{closed}");
    d.stop().await;
}
