//! Which config file a command reads (`--config`, `$FEEDMERGE_CONFIG`, `./config.toml`, the
//! service's `/etc/feedmerge/config.toml`), and config errors that name the file, the line and
//! the key whatever the shape of the mistake.

use std::path::Path;
use std::process::{Command, Output};

use super::text;

/// The service's config, read when nothing else names one.
const SYSTEM_CONFIG: &str = "/etc/feedmerge/config.toml";

/// `feedmerge check` in `cwd`, with `$FEEDMERGE_CONFIG` set to `env` (unset if `None`).
fn check_in(cwd: &Path, env: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_feedmerge"));
    command.arg("check").current_dir(cwd);
    match env {
        Some(path) => command.env("FEEDMERGE_CONFIG", path),
        None => command.env_remove("FEEDMERGE_CONFIG"),
    };
    command.output().expect("run feedmerge")
}

/// A config file at `path` with one feed, `url`.
fn write_config(path: &Path, url: &str) {
    std::fs::write(
        path,
        format!("[storage]\npath = \"feedmerge.db\"\n[[feeds]]\nurl = \"{url}\"\n"),
    )
    .unwrap();
}

#[test]
fn commands_find_the_config_in_the_working_directory_else_the_services() {
    let here = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    write_config(
        &here.path().join("config.toml"),
        "https://here.example/feed",
    );
    let named = elsewhere.path().join("named.toml");
    write_config(&named, "https://named.example/feed");

    // ./config.toml when nothing names one.
    let out = check_in(here.path(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("config.toml: ok"), "{stdout}");
    assert!(stdout.contains("https://here.example/feed"), "{stdout}");

    // $FEEDMERGE_CONFIG comes first, ./config.toml or not.
    let out = check_in(here.path(), Some(&named));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("https://named.example/feed"),
        "{}",
        text(&out.stdout)
    );

    // No ./config.toml: the service's config, whether this machine has one or not.
    let out = check_in(elsewhere.path(), None);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    if Path::new(SYSTEM_CONFIG).exists() {
        assert!(said.contains(&format!("{SYSTEM_CONFIG}: ok")), "{said}");
    } else {
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(
            said.contains(&format!("cannot read config file {SYSTEM_CONFIG}")),
            "{said}"
        );
    }
}

#[test]
fn help_states_the_config_default_once() {
    let out = Command::new(env!("CARGO_BIN_EXE_feedmerge"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = text(&out.stdout);
    let start = help.find("--config").expect("--config in the help");
    let option = &help[start..];
    let option = &option[..option.find("\n\n").unwrap_or(option.len())];
    assert_eq!(option.matches("default").count(), 1, "{option}");
    assert!(
        option.contains("$FEEDMERGE_CONFIG")
            && option.contains("./config.toml")
            && option.contains(SYSTEM_CONFIG),
        "{option}"
    );
    assert!(!option.contains("[env:"), "{option}");
}

/// `check` names the file, the line and the key of a value of the wrong type and of a table
/// written where an array of tables belongs; serde's own messages said neither key.
#[test]
fn check_names_the_key_of_a_wrong_type_and_of_a_table_for_an_array() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    for (toml, expected) in [
        (
            "[poller]\ninterval = 30\n",
            ":2: poller.interval: invalid type: integer `30`, expected a string",
        ),
        (
            "[output]\ntitle = \"News\"\n\n[feeds]\nurl = \"https://example.org/feed.xml\"\n",
            ":4: feeds: invalid type: map, expected a sequence (write [[feeds]] before each entry, not [feeds])",
        ),
    ] {
        std::fs::write(&cfg, toml).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_feedmerge"))
            .args(["--config", cfg.to_str().unwrap(), "check"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{toml}");
        assert_eq!(
            text(&out.stderr).trim(),
            format!("error: {}{expected}", cfg.display())
        );
    }
}
