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
use tracing_subscriber::EnvFilter;

/// Default log filter when `RUST_LOG` is unset.
const DEFAULT_LOG_FILTER: &str = "feedmerge=info,tower_http=warn";

#[derive(Debug, Parser)]
#[command(
    name = "feedmerge",
    version,
    about = "Merge many feeds into one, with reading times"
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
    Render,
    /// Validate the config and list its feeds
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match Config::load(&cli.config) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Run);
    if let Command::Check = command {
        return check(&cfg, &cli.config);
    }
    init_tracing();
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
            Command::Render => render(&cfg).await,
            Command::Check => unreachable!("handled above"),
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

fn init_tracing() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // journald stamps every line itself.
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        fmt.without_time().init();
    } else {
        fmt.init();
    }
}

async fn run(cfg: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.server.listen)
        .await
        .with_context(|| format!("cannot listen on {} ([server] listen)", cfg.server.listen))?;
    app::run(cfg, listener, feedmerge::shutdown::shutdown_signal()).await
}

async fn poll_once(cfg: &Config) -> anyhow::Result<()> {
    let total = cfg.feeds.len();
    let mut done = 0usize;
    let tty = std::io::stderr().is_terminal();
    let summary = app::poll_once(cfg, |feed, report| {
        done += 1;
        match report {
            Some(r) if r.outcome == Outcome::Failed => {
                eprintln!(
                    "failed: {}: {}",
                    feed.url,
                    r.error.as_deref().unwrap_or("unknown error")
                );
            }
            None => eprintln!("failed: {}: the result could not be stored", feed.url),
            Some(_) if tty => eprint!("\rpolled {done}/{total}"),
            Some(_) => {}
        }
    })
    .await?;
    if tty && total > 0 {
        eprintln!();
    }
    println!("{summary}");
    Ok(())
}

async fn render(cfg: &Config) -> anyhow::Result<()> {
    let xml = app::render(cfg).await?;
    let mut out = std::io::stdout().lock();
    out.write_all(&xml)
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
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
