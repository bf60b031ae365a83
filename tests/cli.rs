//! The `feedmerge` binary as users and scripts run it: exit codes, messages, `check`,
//! `poll-once`, `render`, and `run` stopped by SIGTERM.

use crate::common;

mod config;
mod docs;
mod logs;
mod opml;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Env, http_client, text};

fn feedmerge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_feedmerge"))
        .args(args)
        .env_remove("FEEDMERGE_CONFIG")
        .output()
        .expect("run feedmerge")
}

#[test]
fn check_accepts_the_shipped_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let out = feedmerge(&["--config", root.to_str().unwrap(), "check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("3 feed(s)"), "{stdout}");
    assert!(
        stdout.contains("https://blog.rust-lang.org/feed.xml"),
        "{stdout}"
    );
}

/// `check` said ok to a config listening on 0.0.0.0 without `base_url`, whose feeds then
/// published `http://0.0.0.0:PORT/` links; it now warns, and lists tags and outputs.
#[test]
fn check_warns_about_links_readers_cannot_reach_and_lists_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[server]\nlisten = \"0.0.0.0:8080\"\n[[feeds]]\nurl = \"https://example.org/a\"\ntags = [\"local\"]\n\
         [[outputs]]\npath = \"local\"\ntags = [\"local\"]\n",
    )
    .unwrap();
    let out = feedmerge(&["--config", cfg.to_str().unwrap(), "check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout
            .contains("warning: server.base_url: links in the feeds point to http://0.0.0.0:8080/"),
        "{stdout}"
    );
    assert!(
        stdout.contains("https://example.org/a  every 30m  [local]"),
        "{stdout}"
    );
    assert!(stdout.contains("2 output(s):"), "{stdout}");
    assert!(
        stdout.contains("http://0.0.0.0:8080/local.xml  tags [local]"),
        "{stdout}"
    );

    std::fs::write(
        &cfg,
        "[server]\nlisten = \"0.0.0.0:8080\"\nbase_url = \"https://feeds.example.org/\"\n",
    )
    .unwrap();
    let out = feedmerge(&["--config", cfg.to_str().unwrap(), "check"]);
    assert!(
        !text(&out.stdout).contains("warning"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn check_names_file_line_and_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "[poller]\ninterval = \"30m\"\n\n[[feeds]]\nurl = \"https://example.org/a\"\ninterval = \"5x\"\n").unwrap();
    let out = feedmerge(&["--config", cfg.to_str().unwrap(), "check"]);
    assert_eq!(out.status.code(), Some(2));
    let expected = format!(
        "{}:6: feeds[0].interval: \"5x\" is not a duration",
        cfg.display()
    );
    assert!(
        text(&out.stderr).contains(&expected),
        "{}",
        text(&out.stderr)
    );

    std::fs::write(&cfg, "[output]\nmax_itemz = 3\n").unwrap();
    let out = feedmerge(&["--config", cfg.to_str().unwrap(), "check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(":2: output.max_itemz: unknown key"),
        "{}",
        text(&out.stderr)
    );

    let out = feedmerge(&[
        "--config",
        dir.path().join("missing.toml").to_str().unwrap(),
        "check",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot read config file"),
        "{}",
        text(&out.stderr)
    );

    assert_eq!(feedmerge(&["no-such-command"]).status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn poll_once_then_render_prints_the_merged_feed() {
    let env = Env::new().await;
    let cfg = env.config(&[env.serve("rss2_basic.xml").await, env.url("/missing")]);
    let path = cfg.source.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_feedmerge"))
            .arg("poll-once")
            .env("FEEDMERGE_CONFIG", &path) // the documented fallback for --config
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "a failed feed is not a failed run: {}",
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout).trim(),
        "feeds: 1 ok, 0 not modified, 1 failed; items: 3 new, 0 updated"
    );
    assert!(
        text(&out.stderr).contains("unexpected status 404"),
        "{}",
        text(&out.stderr)
    );

    let path = cfg.source.clone();
    let out = tokio::task::spawn_blocking(move || {
        feedmerge(&["--config", path.to_str().unwrap(), "render"])
    })
    .await
    .unwrap();
    assert!(out.status.success());
    let ch = rss::Channel::read_from(&out.stdout[..]).expect("RSS on stdout");
    assert_eq!(ch.items().len(), 3);
    assert!(
        ch.items()[0]
            .description()
            .unwrap()
            .contains(" min read</p>")
    );
    assert!(
        cfg.storage.path.exists(),
        "database created where the config says"
    );
}

/// A write end of a pipe whose read end is closed already: every write to it fails with
/// `EPIPE` at once, as it does once `head` has read its lines and gone.
fn closed_pipe() -> Stdio {
    use std::os::fd::{FromRawFd as _, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: pipe(2) just opened both, and nothing else owns them.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Stdio::from(write)
}

// See: issue 22 (`feedmerge render | head` exited 1 with "cannot write to stdout"; `print!`
// panicked).
#[test]
fn regression_22_output_into_a_closed_pipe_ends_quietly_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[storage]\npath = \"feedmerge.db\"\n[[feeds]]\nurl = \"http://127.0.0.1:9/feed.xml\"\n",
    )
    .unwrap();
    // The read-only commands need a database to read.
    drop(feedmerge::store::Store::open(&dir.path().join("feedmerge.db")).unwrap());
    for command in [
        &["render"][..],
        &["render", "--format", "json"],
        &["status"],
        &["status", "--json"],
        &["merges"],
        &["check"],
        &["export-opml"],
        &["completions", "bash"],
        &["man"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_feedmerge"))
            .args(["--config", cfg.to_str().unwrap()])
            .args(command)
            .env_remove("FEEDMERGE_CONFIG")
            .stdout(closed_pipe())
            .output()
            .expect("run feedmerge");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{command:?}: {}",
            text(&out.stderr)
        );
        assert!(
            !text(&out.stderr).contains("error") && !text(&out.stderr).contains("panicked"),
            "{command:?}: {}",
            text(&out.stderr)
        );
    }
    // Any other failure to write is still one: a full disk.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_feedmerge"))
        .args(["--config", cfg.to_str().unwrap(), "render"])
        .stdout(Stdio::from(full))
        .output()
        .expect("run feedmerge");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cannot write to stdout"),
        "{}",
        text(&out.stderr)
    );
}

/// Sends `signal` (TERM, HUP) with the shell's builtin `kill`: no dependency on procps.
fn signal(pid: u32, signal: &str) {
    let status = Command::new("sh")
        .args(["-c", &format!("kill -{signal} {pid}")])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Fetches the daemon's feed until `done` accepts it.
async fn wait_for_feed(
    url: &str,
    what: &str,
    done: impl Fn(&rss::Channel) -> bool,
) -> rss::Channel {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http_client().get(url).send().await {
            if let Ok(ch) = rss::Channel::read_from(&r.bytes().await.unwrap()[..]) {
                if done(&ch) {
                    return ch;
                }
            }
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The daemon under a real signal sequence: start, poll, SIGHUP with a changed config, SIGHUP
/// with a broken one, SIGTERM during a slow poll.
#[tokio::test(flavor = "multi_thread")]
async fn run_reloads_on_sighup_and_stops_cleanly_on_sigterm() {
    let env = Env::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let atom = env.serve("atom_basic.xml").await;
    let json = env.serve("json_basic.json").await;
    wiremock::Mock::given(wiremock::matchers::path("/slow"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
        .mount(&env.server)
        .await;
    let listen = format!("127.0.0.1:{port}");
    let cfg = env.config(std::slice::from_ref(&atom));
    let write_config = |feeds: &[&str], title: &str| {
        let mut toml = format!(
            "[server]\nlisten = \"{listen}\"\nshutdown_timeout = \"2s\"\n[storage]\npath = \"feedmerge.db\"\n[output]\ntitle = \"{title}\"\n"
        );
        for f in feeds {
            toml.push_str(&format!("[[feeds]]\nurl = \"{f}\"\n"));
        }
        std::fs::write(&cfg.source, toml).unwrap();
    };
    write_config(&[&atom], "First");

    let mut child = Command::new(env!("CARGO_BIN_EXE_feedmerge"))
        .args(["--config", cfg.source.to_str().unwrap()]) // `run` is the default command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://{listen}/feed.xml");
    wait_for_feed(&url, "the first feed", |ch| ch.items().len() == 2).await;

    // Reload: the Atom feed is replaced by the JSON feed and a slow one; the title changes.
    let slow = env.url("/slow");
    write_config(&[&json, &slow], "Second");
    signal(child.id(), "HUP");
    let ch = wait_for_feed(&url, "the reloaded config", |ch| {
        ch.title() == "Second"
            && ch
                .items()
                .iter()
                .all(|i| i.title().unwrap().contains("JSON"))
            && ch.items().len() == 2
    })
    .await;
    assert_eq!(
        ch.items().len(),
        2,
        "the removed feed's items left the output"
    );

    // A broken config is refused; the running one stays.
    std::fs::write(&cfg.source, "[output]\nmax_items = \"many\"\n").unwrap();
    signal(child.id(), "HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ch = wait_for_feed(&url, "the feed after a bad reload", |_| true).await;
    assert_eq!(ch.title(), "Second");

    // SIGTERM while /slow is in flight: the daemon exits 0 within its shutdown bound.
    signal(child.id(), "TERM");
    let out = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    for expected in [
        "feed refreshed",
        "config reloaded",
        "config reload rejected",
        "stopped",
    ] {
        assert!(log.contains(expected), "no {expected:?} in the log:\n{log}");
    }
    let db = rusqlite::Connection::open(&cfg.storage.path).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn opml_import_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[[feeds]]\nurl = \"https://example.org/known.xml\"\ntitle = \"Known\"\n",
    )
    .unwrap();
    let opml = dir.path().join("subscriptions.opml");
    std::fs::write(
        &opml,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>Mine</title></head><body>
  <outline text="News" title="News">
    <outline text="World">
      <outline type="rss" text="A &amp; B" xmlUrl="https://example.org/ab.xml?x=1&amp;y=2"/>
    </outline>
    <outline type="rss" text="Known" xmlURL="https://example.org/known.xml"/>
  </outline>
  <outline type="rss" text="Relative" xmlUrl="feed.xml"/>
</body></opml>"#,
    )
    .unwrap();
    let out = feedmerge(&[
        "--config",
        config.to_str().unwrap(),
        "import-opml",
        opml.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let toml = text(&out.stdout);
    assert!(
        text(&out.stderr).contains("1 feed(s) to add; 1 already in"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("1 outline(s) skipped"));
    // Appending the output keeps the config valid and adds the new feed with its folders as tags.
    let mut combined = std::fs::read_to_string(&config).unwrap();
    combined.push_str(&toml);
    std::fs::write(&config, &combined).unwrap();
    let cfg = feedmerge::config::Config::load(&config).expect("the appended config is valid");
    assert_eq!(cfg.feeds.len(), 2);
    assert_eq!(
        cfg.feeds[1].url.as_str(),
        "https://example.org/ab.xml?x=1&y=2"
    );
    assert_eq!(cfg.feeds[1].title.as_deref(), Some("A & B"));
    assert_eq!(cfg.feeds[1].tags, ["News", "World"]);

    let out = feedmerge(&["--config", config.to_str().unwrap(), "export-opml"]);
    assert!(out.status.success());
    let feeds = feedmerge::opml::parse(&out.stdout).unwrap();
    let urls: Vec<&str> = feeds.iter().map(|f| f.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "https://example.org/known.xml",
            "https://example.org/ab.xml?x=1&y=2"
        ]
    );

    let bad = dir.path().join("bad.opml");
    std::fs::write(&bad, "<rss version=\"2.0\"/>").unwrap();
    let out = feedmerge(&[
        "--config",
        config.to_str().unwrap(),
        "import-opml",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not an OPML file"),
        "{}",
        text(&out.stderr)
    );
}

/// `--config /dev/zero` was read without limit (6.9 GB in 3 s): the config is read up to
/// MAX_CONFIG_BYTES, then refused with exit 2, naming the file and the limit.
#[test]
fn a_config_file_past_the_size_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("config.toml");
    let limit = feedmerge::config::MAX_CONFIG_BYTES;
    std::fs::write(&big, vec![b'#'; limit as usize + 1]).unwrap();
    for path in [Path::new("/dev/zero"), big.as_path()] {
        let started = Instant::now();
        let out = feedmerge(&["--config", path.to_str().unwrap(), "check"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stderr).trim(),
            format!(
                "error: config file {} is larger than {limit} bytes: not a feedmerge config",
                path.display()
            )
        );
        // A liveness bound, far above the milliseconds it takes.
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}

/// export-opml writes the owner's backup, secrets included, and says so.
#[test]
fn export_opml_help_says_the_urls_are_whole() {
    let out = feedmerge(&["export-opml", "--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    assert!(
        help.contains("full URLs included") && help.contains("passwords and tokens included"),
        "{help}"
    );
}
