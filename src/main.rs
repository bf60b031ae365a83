//! The `feedmerge` command line: parses arguments, loads the config, sets up logging, and runs
//! the daemon or a one-shot command. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use feedmerge::app;
use feedmerge::config::Config;
use feedmerge::pipeline::Outcome;
use feedmerge::render::Format;
use tracing_subscriber::EnvFilter;

/// Default log filter when `RUST_LOG` is unset.
const DEFAULT_LOG_FILTER: &str = "feedmerge=info,tower_http=warn";

/// Examples shown under `--help`.
const EXAMPLES: &str = "\
Examples:
  feedmerge                                   run the daemon on ./config.toml
  feedmerge --config /etc/feedmerge/config.toml check
  feedmerge poll-once                         poll every feed now and print a summary
  feedmerge render > merged.xml               the merged feed, exactly as served
  feedmerge status --json | jq '.[] | select(.error_count > 0)'
  RUST_LOG=feedmerge=debug feedmerge --log-format json run";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines
    Text,
    /// One JSON object per line, for log shippers
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FeedFormat {
    /// RSS 2.0 (/feed.xml)
    Rss,
    /// Atom 1.0 (/feed.atom)
    Atom,
    /// JSON Feed 1.1 (/feed.json)
    Json,
}

impl From<FeedFormat> for Format {
    fn from(f: FeedFormat) -> Format {
        match f {
            FeedFormat::Rss => Format::Rss,
            FeedFormat::Atom => Format::Atom,
            FeedFormat::Json => Format::Json,
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "feedmerge",
    version,
    about = "Merge many feeds into one, with reading times",
    after_help = EXAMPLES
)]
struct Cli {
    /// Config file [default: $FEEDMERGE_CONFIG, else ./config.toml]
    #[arg(
        long,
        global = true,
        env = "FEEDMERGE_CONFIG",
        default_value = "config.toml"
    )]
    config: PathBuf,
    /// Log format (logs go to stderr; RUST_LOG filters them)
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: poll feeds on schedule and serve the merged feed (the default)
    Run,
    /// Poll every feed once now, store the items, and print a summary
    PollOnce,
    /// Print the merged feed from the database, exactly as served
    Render {
        /// Feed format
        #[arg(long, value_enum, default_value_t = FeedFormat::Rss)]
        format: FeedFormat,
    },
    /// Validate the config and list its feeds
    Check,
    /// Show every feed's polling state: last and next poll, errors, moves
    Status {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Print [[feeds]] TOML for the feeds of an OPML file, to append to the config
    ImportOpml {
        /// The OPML file (as exported by another reader)
        file: PathBuf,
    },
    /// Print the configured feeds as OPML
    ExportOpml,
    /// Show recent near-duplicate merges (items shown as another feed's story) and why
    Merges {
        /// How many
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON instead of lines
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    feedmerge::memory::tune();
    let cli = Cli::parse();
    if let Some(Command::ImportOpml { file }) = &cli.command {
        // Works before there is a config: the feeds already in one are left out.
        return match import_opml(file, &cli.config) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    let cfg = match Config::load(&cli.config) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Run);
    match command {
        Command::Check => return check(&cfg, &cli.config),
        Command::ExportOpml => {
            print!("{}", feedmerge::opml::export(&cfg.output.title, &cfg.feeds));
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Run => run(cfg).await,
            Command::PollOnce => poll_once(&cfg).await,
            Command::Render { format } => render(&cfg, format.into()).await,
            Command::Status { json } => status(&cfg, json).await,
            Command::Merges { limit, json } => merges(&cfg, limit, json).await,
            Command::Check | Command::ExportOpml | Command::ImportOpml { .. } => {
                unreachable!("handled above")
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // journald stamps every line itself.
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    match (format, journald) {
        (LogFormat::Text, false) => fmt.init(),
        (LogFormat::Text, true) => fmt.without_time().init(),
        (LogFormat::Json, false) => fmt.json().init(),
        (LogFormat::Json, true) => fmt.json().without_time().init(),
    }
}

async fn run(cfg: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.server.listen)
        .await
        .with_context(|| format!("cannot listen on {} ([server] listen)", cfg.server.listen))?;
    let reloads = feedmerge::shutdown::reload_signals();
    app::run_with_reload(
        cfg,
        listener,
        feedmerge::shutdown::shutdown_signal(),
        reloads,
    )
    .await
}

async fn poll_once(cfg: &Config) -> anyhow::Result<()> {
    // A progress bar on a terminal; plain lines (failures only) when piped.
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(cfg.feeds.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} feeds {msg}")
                .expect("a valid template")
                .progress_chars("##-"),
        );
        Some(bar)
    } else {
        None
    };
    let mut failed = 0usize;
    let summary = app::poll_once(cfg, |feed, report| {
        let error = match report {
            Some(r) if r.outcome == Outcome::Failed || r.outcome == Outcome::Gone => {
                r.error.clone()
            }
            Some(_) => None,
            None => Some("the result could not be stored".to_owned()),
        };
        if let Some(e) = error {
            failed += 1;
            let line = format!("failed: {}: {e}", feed.url);
            match &bar {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
        if let Some(bar) = &bar {
            bar.set_message(if failed > 0 {
                format!("({failed} failed)")
            } else {
                String::new()
            });
            bar.inc(1);
        }
    })
    .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    println!("{summary}");
    // Failed feeds are part of a normal run; results that could not be stored are not.
    if summary.not_stored > 0 {
        anyhow::bail!(
            "{} poll results could not be stored in the database (see the log)",
            summary.not_stored
        );
    }
    Ok(())
}

async fn merges(cfg: &Config, limit: usize, json: bool) -> anyhow::Result<()> {
    let merges = app::recent_merges(cfg, limit).await?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &merges)?;
        writeln!(out)?;
        return Ok(());
    }
    for m in &merges {
        writeln!(
            out,
            "{}  similarity {:.2}  {:?} ({}) is shown as {:?} ({})",
            m.at.format("%Y-%m-%d %H:%M"),
            m.similarity,
            m.copy_title,
            m.copy_feed,
            m.story_title,
            m.story_feed
        )?;
    }
    if merges.is_empty() {
        writeln!(out, "no near-duplicate merges yet")?;
    }
    Ok(())
}

async fn render(cfg: &Config, format: Format) -> anyhow::Result<()> {
    let xml = app::render(cfg, format).await?;
    let mut out = std::io::stdout().lock();
    out.write_all(&xml)
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}

async fn status(cfg: &Config, json: bool) -> anyhow::Result<()> {
    let feeds = app::status(cfg).await?;
    let now = chrono::Utc::now();
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &feeds)?;
        writeln!(out)?;
        return Ok(());
    }
    let mut table = vec![[
        "STATE".to_owned(),
        "HTTP".to_owned(),
        "ITEMS".to_owned(),
        "ERRORS".to_owned(),
        "LAST POLL".to_owned(),
        "NEXT POLL".to_owned(),
        "FEED".to_owned(),
    ]];
    let mut notes = Vec::new();
    for f in &feeds {
        let state = match f.last_result.as_deref() {
            None => "new",
            Some("gone") => "gone",
            Some("failed") => "failing",
            Some(_) if f.moved_to.is_some() => "moved",
            Some(_) => "ok",
        };
        let next = match (f.next_poll_at, &f.next_poll_reason) {
            (Some(t), Some(why)) => format!("{} ({why})", relative(t, now)),
            (Some(t), None) => relative(t, now),
            (None, _) if state == "gone" => "never".to_owned(),
            (None, _) => "now".to_owned(),
        };
        table.push([
            state.to_owned(),
            f.last_status
                .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            f.items.to_string(),
            f.error_count.to_string(),
            f.last_polled_at
                .map_or_else(|| "never".to_owned(), |t| relative(t, now)),
            next,
            match &f.title {
                Some(t) => format!("{} ({t})", f.url),
                None => f.url.clone(),
            },
        ]);
        if let Some(e) = &f.last_error {
            notes.push(format!("{}: {e}", f.url));
        }
        if let Some(to) = &f.moved_to {
            notes.push(format!(
                "{}: moved permanently to {to}; update the config",
                f.url
            ));
        }
        if state == "gone" {
            notes.push(format!("{}: gone (410); remove it from the config", f.url));
        }
        if !f.repairs.is_empty() {
            notes.push(format!("{}: read after repairs: {}", f.url, f.repairs));
        }
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| {
            table
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &table {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    if !notes.is_empty() {
        writeln!(out)?;
        for n in notes {
            writeln!(out, "{n}")?;
        }
    }
    Ok(())
}

/// "5m ago" or "in 2h 3m", to the minute.
fn relative(t: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> String {
    let secs = (t - now).num_seconds();
    let mins = secs.unsigned_abs().div_ceil(60) * 60;
    let span = humantime::format_duration(std::time::Duration::from_secs(mins.max(60)));
    if secs < 0 {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

fn import_opml(file: &Path, config: &Path) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let (feeds, skipped) = feedmerge::opml::parse_with_skipped(&bytes)
        .with_context(|| format!("cannot import {}", file.display()))?;
    let known: Vec<url::Url> = if config.exists() {
        match Config::load(config) {
            Ok(cfg) => cfg.feeds.into_iter().map(|f| f.url).collect(),
            Err(e) => anyhow::bail!("{e}"),
        }
    } else {
        Vec::new()
    };
    let (already, new): (Vec<_>, Vec<_>) = feeds.into_iter().partition(|f| known.contains(&f.url));
    print!("{}", feedmerge::opml::to_toml(&new));
    eprintln!(
        "{} feed(s) to add; {} already in {}; {} outline(s) skipped",
        new.len(),
        already.len(),
        config.display(),
        skipped.len()
    );
    for s in &skipped {
        eprintln!("  skipped {:?}: {}", s.url, s.reason);
    }
    Ok(ExitCode::SUCCESS)
}

fn check(cfg: &Config, path: &Path) -> ExitCode {
    println!("{}: ok", path.display());
    println!(
        "listen {}, database {}",
        cfg.server.listen,
        cfg.storage.path.display()
    );
    println!("{} feed(s):", cfg.feeds.len());
    for f in &cfg.feeds {
        let interval = humantime::format_duration(f.interval(&cfg.poller));
        match &f.title {
            Some(title) => println!("  {}  every {interval}  ({title})", f.url),
            None => println!("  {}  every {interval}", f.url),
        }
    }
    ExitCode::SUCCESS
}
