//! The log as the conventions want it: colour codes only for a person at a terminal (never
//! into a pipe or the journal, not with `NO_COLOR`, always with `--color always`), and
//! `poll-once`'s progress bar with the log lines above it and the failures summed up after.

use std::io::Read as _;
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::process::{Command, Output, Stdio};

use super::text;
use crate::common::Env;

/// Whether `s` holds an SGR escape sequence (colour, bold, dim): `ESC [ digits/; m`. The
/// progress bar's own sequences (clearing a line, moving the cursor) end otherwise.
fn has_colour(s: &str) -> bool {
    s.split('\u{1b}').skip(1).any(|rest| {
        rest.strip_prefix('[').is_some_and(|params| {
            let end = params.trim_start_matches(|c: char| c.is_ascii_digit() || c == ';');
            end.starts_with('m')
        })
    })
}

/// A pseudo-terminal of 24 rows of 100 columns: (the side feedmerge writes to, the side
/// that reads what it wrote).
fn pty() -> (OwnedFd, OwnedFd) {
    // SAFETY: plain calls on descriptors this function opens and owns; `name` has room for
    // any device path and ptsname_r NUL-terminates it.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0, "posix_openpt");
        let master_fd = OwnedFd::from_raw_fd(master);
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        let slave = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        assert!(slave >= 0, "open the terminal's slave side");
        let size = libc::winsize {
            ws_row: 24,
            ws_col: 100,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        assert_eq!(libc::ioctl(slave, libc::TIOCSWINSZ, &size), 0);
        (OwnedFd::from_raw_fd(slave), master_fd)
    }
}

/// Runs feedmerge with `args` and `env`, its stderr on a terminal (stdout a pipe, as in
/// `feedmerge poll-once > summary`): its output, and everything it showed on the terminal.
fn on_terminal(args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    let (slave, master) = pty();
    let mut command = Command::new(env!("CARGO_BIN_EXE_feedmerge"));
    command
        .args(args)
        .env_remove("FEEDMERGE_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env_remove("JOURNAL_STREAM")
        .env("TERM", "xterm")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(slave));
    let child = command.spawn().expect("run feedmerge");
    // The terminal ends (EIO) once no one holds its slave side: the command's copy goes too.
    drop(command);
    let reader = std::thread::spawn(move || {
        let mut master = std::fs::File::from(master);
        let mut shown = Vec::new();
        let mut chunk = [0; 4096];
        while let Ok(n @ 1..) = master.read(&mut chunk) {
            shown.extend_from_slice(&chunk[..n]);
        }
        text(&shown)
    });
    let out = child.wait_with_output().expect("wait for feedmerge");
    (out, reader.join().unwrap())
}

/// Runs feedmerge with `args` and `env`, stdout and stderr pipes, as tests and scripts do.
fn piped(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_feedmerge"))
        .args(args)
        .env_remove("FEEDMERGE_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env_remove("JOURNAL_STREAM")
        .envs(env.iter().copied())
        .output()
        .expect("run feedmerge")
}

/// `poll-once --color ...` (`extra`) with `env`, on a new database (a feed's failure is
/// logged once, not again while it keeps failing) whose one feed refuses connections: the
/// log has a warning. Its stderr on a terminal or, if `terminal` is false, a pipe.
fn poll_failing(terminal: bool, extra: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[storage]\npath = \"feedmerge.db\"\n[[feeds]]\nurl = \"http://127.0.0.1:9/feed.xml\"\n",
    )
    .unwrap();
    let mut args = vec!["--config", cfg.to_str().unwrap(), "poll-once"];
    args.extend_from_slice(extra);
    if terminal {
        on_terminal(&args, env)
    } else {
        let out = piped(&args, env);
        let log = text(&out.stderr);
        (out, log)
    }
}

#[test]
fn logs_are_coloured_only_on_a_terminal_or_when_asked() {
    // Into a pipe: plain text, unless asked.
    let (out, log) = poll_failing(false, &[], &[]);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("WARN"),
        "a warning for the failing feed: {log}"
    );
    assert!(!has_colour(&log), "{log:?}");
    let (_, log) = poll_failing(false, &["--color", "always"], &[]);
    assert!(has_colour(&log), "{log:?}");
    let (_, log) = poll_failing(false, &["--color", "always"], &[("NO_COLOR", "1")]);
    assert!(
        has_colour(&log),
        "the command line wins over NO_COLOR: {log:?}"
    );

    // On a terminal: coloured, except with NO_COLOR, under the journal, or `--color never`.
    let (out, shown) = poll_failing(true, &[], &[]);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("WARN"), "{shown}");
    assert!(has_colour(&shown), "{shown:?}");
    for (extra, env) in [
        (&[][..], &[("NO_COLOR", "1")][..]),
        (&[], &[("JOURNAL_STREAM", "8:12345")]),
        (&["--color", "never"], &[]),
    ] {
        let (out, shown) = poll_failing(true, extra, env);
        assert!(out.status.success(), "{shown}");
        assert!(shown.contains("WARN"), "{extra:?} {env:?}: {shown}");
        assert!(!has_colour(&shown), "{extra:?} {env:?}: {shown:?}");
    }
    // An empty NO_COLOR counts as unset.
    let (_, shown) = poll_failing(true, &[], &[("NO_COLOR", "")]);
    assert!(has_colour(&shown), "{shown:?}");

    let (out, _) = poll_failing(false, &["--color", "sometimes"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn poll_once_on_a_terminal_keeps_log_lines_above_its_bar() {
    let env = Env::new().await;
    let feeds = [
        env.serve("rss2_basic.xml").await,
        env.serve("atom_basic.xml").await,
        env.serve("json_basic.json").await,
        env.url("/missing"),
    ];
    let cfg = env.config(&feeds);
    let path = cfg.source.to_str().unwrap().to_owned();
    let (out, shown) = tokio::task::spawn_blocking(move || {
        on_terminal(&["--config", &path, "--color", "never", "poll-once"], &[])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{shown}");
    assert_eq!(
        text(&out.stdout).trim(),
        "feeds: 3 ok, 0 not modified, 1 failed; items: 7 new, 0 updated"
    );
    assert!(shown.contains("/4 feeds"), "the bar was shown: {shown:?}");
    let lines: Vec<&str> = shown.lines().collect();
    let refreshed = lines.iter().filter(|l| l.contains("feed refreshed"));
    assert_eq!(refreshed.clone().count(), 3, "{shown}");
    // Each log line has a line of its own: the bar was taken away (`\r`, clear the line)
    // before it was written. What a line shows is what follows its last carriage return.
    for line in refreshed {
        let seen = line.trim_end_matches('\r').rsplit('\r').next().unwrap();
        assert!(!seen.contains(" feeds"), "a log line in the bar: {line:?}");
    }
    // The failures come together after the bar, which is gone by then.
    let tail = &shown[shown
        .rfind("feed(s) failed")
        .expect("a summary of failures")..];
    assert!(tail.starts_with("feed(s) failed:"), "{tail:?}");
    assert!(tail.contains("/missing: unexpected status 404"), "{tail:?}");
    assert!(!tail.contains(" feeds"), "{tail:?}");
}
