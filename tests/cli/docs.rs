//! `feedmerge completions SHELL` and `feedmerge man`: made from the command line's
//! definition, without a config, naming every subcommand.

use std::process::Command;

use super::text;

/// The subcommands a user can type, as `--help` lists them.
fn subcommands() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_feedmerge"))
        .arg("--help")
        .output()
        .unwrap();
    let help = text(&out.stdout);
    let list = &help[help.find("Commands:\n").unwrap()..help.find("\nOptions:").unwrap()];
    let names: Vec<String> = list
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|&name| name != "help")
        .map(str::to_owned)
        .collect();
    assert!(names.len() >= 10, "{help}");
    names
}

/// `feedmerge ARGS` run in an empty folder, with no config anywhere it would look: stdout.
fn run_without_config(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_feedmerge"))
        .args(args)
        .current_dir(dir.path())
        .env("FEEDMERGE_CONFIG", dir.path().join("absent.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn completions_for_bash_zsh_and_fish_know_every_subcommand() {
    let names = subcommands();
    for (shell, start) in [
        ("bash", "_feedmerge()"),
        ("zsh", "#compdef feedmerge"),
        ("fish", "complete -c feedmerge"),
    ] {
        let script = run_without_config(&["completions", shell]);
        assert!(script.contains(start), "{shell}: {script}");
        for name in &names {
            assert!(script.contains(name.as_str()), "{shell}: no {name}");
        }
        // Global options too (fish writes `-l color`).
        assert!(script.contains("color"), "{shell}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_feedmerge"))
        .args(["completions", "cmd.exe"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_page_is_roff_naming_every_subcommand() {
    let page = run_without_config(&["man"]);
    assert!(page.contains(".TH feedmerge 1"), "{page}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(page.contains(section), "no {section}: {page}");
    }
    // roff writes a hyphen as `\-`.
    let roff = page.replace("\\-", "-");
    for name in subcommands() {
        assert!(
            roff.contains(&format!("feedmerge-{name}")),
            "no {name}: {page}"
        );
    }
    assert!(roff.contains("--config"), "{page}");
}
