//! The `feedmerge` command line: parses arguments, loads the config, sets up logging, and runs
//! the daemon or a one-shot command. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config.
//! Output cut short by its reader (`feedmerge render | head`) is a normal end: exit 0, no
//! message, like ripgrep.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser, Subcommand};
use feedmerge::app;
use feedmerge::config::Config;
use feedmerge::model::{Health, SubState};
use feedmerge::redact::{self, Redacted};
use feedmerge::render::Format;
use feedmerge::store::FeedStatus;
use feedmerge::terminal::{self, Escaped};

use cli::logs::{Colour, LogFormat};

mod cli;

/// Longest cell of the `status` table, in characters: longer ones (a feed's title may be
/// megabytes) are cut with "…". `--json` keeps them whole.
const MAX_CELL_CHARS: usize = 120;

/// Longest note under the `status` table (an error), in characters.
const MAX_NOTE_CHARS: usize = 1000;

/// The largest OPML file `import-opml` reads: an export of thousands of feeds is a few MB.
const MAX_OPML_BYTES: u64 = 64 * 1024 * 1024;

/// Examples shown under `--help`.
const EXAMPLES: &str = "\
Examples:
  feedmerge                                   run the daemon (config: see --config)
  feedmerge --config /etc/feedmerge/config.toml check
  feedmerge poll-once                         poll every feed now and print a summary
  feedmerge render > merged.xml               the merged feed, exactly as served
  feedmerge discover https://example.org/     the feeds a site offers
  feedmerge status --json | jq '.[] | select(.error_count > 0)'
  RUST_LOG=feedmerge=debug feedmerge --log-format json run";

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
    /// Config file [default: $FEEDMERGE_CONFIG, else ./config.toml if there is one, else
    /// /etc/feedmerge/config.toml]
    // The default is said once, above: clap would add the variable and a default of its own.
    #[arg(
        long,
        global = true,
        env = "FEEDMERGE_CONFIG",
        hide_env = true,
        value_name = "PATH"
    )]
    config: Option<PathBuf>,
    /// Log format (logs go to stderr; RUST_LOG filters them)
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Colour in the log (auto: only on a terminal, without NO_COLOR, outside the journal)
    #[arg(long, global = true, value_enum, default_value_t = Colour::Auto)]
    color: Colour,
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
        /// Add the feeds to the config file instead (comments kept; a running daemon
        /// notices)
        #[arg(long)]
        write: bool,
    },
    /// Add a feed to the config file, keeping its comments; a running daemon notices
    Add(cli::feeds::AddArgs),
    /// Remove a feed (by URL or title) from the config file; a running daemon notices
    Remove(cli::feeds::RemoveArgs),
    /// List the configured feeds: title, tags, interval
    Feeds {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Print the configured feeds as OPML, full URLs included (the owner's backup)
    ///
    /// The URLs are written as configured, passwords and tokens included, so that the file
    /// restores every feed: keep it private. /sources.opml on the server lists the same feeds
    /// with userinfo removed and secret-looking query values replaced. Tags become folders; a
    /// feed without a configured title is named by its own title from the database.
    ExportOpml,
    /// Print the completion script for a shell
    ///
    /// bash: feedmerge completions bash > /etc/bash_completion.d/feedmerge;
    /// zsh: feedmerge completions zsh > "${fpath[1]}/_feedmerge";
    /// fish: feedmerge completions fish > ~/.config/fish/completions/feedmerge.fish
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): feedmerge man > /usr/local/share/man/man1/feedmerge.1
    Man,
    /// Copy the database into FILE, safely while the daemon runs (SQLite's online backup)
    ///
    /// The copy is of one moment, checked (PRAGMA integrity_check) and renamed into place
    /// once whole. To restore it: stop the service, copy FILE over [storage] path (removing
    /// the -wal and -shm files beside it), start the service.
    Backup {
        /// Where to write the copy
        file: PathBuf,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
    },
    /// Find the feeds behind an address: the address itself if it is a feed, else the feeds
    /// its page advertises, else the usual paths (/feed, /rss, /atom.xml, …)
    Discover(cli::discover::Args),
    /// Show recent near-duplicate merges (items shown as another feed's story), how similar
    /// and what decided them (title, body, link slug)
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
    // Made from the command line alone: no config is read.
    match cli.command {
        Some(Command::Completions { shell }) => {
            let written = cli::docs::completions(Cli::command(), shell, &mut std::io::stdout());
            return exit_code(written.context("cannot write to stdout"), 1);
        }
        Some(Command::Man) => {
            let written = cli::docs::man(Cli::command(), &mut std::io::stdout());
            return exit_code(written.context("cannot write to stdout"), 1);
        }
        _ => {}
    }
    let config = cli::config_path(cli.config);
    match &cli.command {
        Some(Command::ImportOpml { file, write: true }) => {
            return cli::feeds::import_opml(file, &config);
        }
        Some(Command::Add(args)) => return cli::feeds::add(&config, args),
        Some(Command::Remove(args)) => return cli::feeds::remove(&config, args),
        _ => {}
    }
    if let Some(Command::ImportOpml { file, .. }) = &cli.command {
        // Works before there is a config: the feeds already in one are left out.
        return exit_code(import_opml(file, &config), 2);
    }
    let cfg = match Config::load(&config) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Run);
    match &command {
        Command::Check => return exit_code(check(&cfg, &config), 1),
        Command::Backup { file, force } => return exit_code(backup(&cfg, file, *force), 1),
        Command::Feeds { json } => return cli::feeds::list(&cfg, *json),
        _ => {}
    }
    cli::logs::init(cli.log_format, cli.color);
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
            Command::Discover(args) => cli::discover::run(&cfg, &args).await,
            Command::ExportOpml => cli::opml::export(&cfg).await,
            Command::Check
            | Command::ImportOpml { .. }
            | Command::Completions { .. }
            | Command::Man
            | Command::Backup { .. }
            | Command::Add(_)
            | Command::Remove(_)
            | Command::Feeds { .. } => {
                unreachable!("handled above")
            }
        }
    });
    // Whatever still runs was abandoned on purpose (an article extraction): exit now.
    runtime.shutdown_background();
    exit_code(result, 1)
}

/// The exit code of a command that ended with `result`, the error printed (with its causes)
/// when there is one. A reader that stopped reading (`| head`) is no failure: the output it
/// wanted was written, and the rest is not wanted.
fn exit_code(result: anyhow::Result<()>, failure: u8) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(failure)
        }
    }
}

/// Whether `e` comes from writing to a pipe whose reader has gone. Rust ignores SIGPIPE, so
/// such a write fails with `EPIPE` instead of ending the process.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
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
    // A progress bar on a terminal, with the log lines written above it; nothing when piped.
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(cfg.feeds.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} feeds {msg}")
                .expect("a valid template")
                .progress_chars("##-"),
        );
        // Drawn at once, so that it is there before the first feed's log line.
        bar.tick();
        bar
    });
    let shown = bar.as_ref().map(cli::logs::show_progress);
    let mut failures = Vec::new();
    let summary = app::poll_once(cfg, |feed, report| {
        let error = match report {
            Some(r) if r.kind.is_error() => r.error.clone(),
            Some(_) => None,
            None => Some("the result could not be stored".to_owned()),
        };
        if let Some(e) = error {
            failures.push(format!("  {}: {}", Redacted(&feed.url), Escaped(&e)));
        }
        if let Some(bar) = &bar {
            if !failures.is_empty() {
                bar.set_message(format!("({} failed)", failures.len()));
            }
            bar.inc(1);
        }
    })
    .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    drop(shown);
    // The failures together at the end, where they are read, not scattered among the log.
    if !failures.is_empty() {
        let mut err = std::io::stderr().lock();
        writeln!(err, "{} feed(s) failed:", failures.len())?;
        for line in &failures {
            writeln!(err, "{line}")?;
        }
    }
    writeln!(std::io::stdout().lock(), "{summary}")?;
    // Failed feeds are part of a normal run; results that could not be stored are not.
    if summary.not_stored > 0 {
        anyhow::bail!(
            "{} poll results could not be stored in the database (see the log)",
            summary.not_stored
        );
    }
    Ok(())
}

/// `feedmerge backup FILE`: the copy, then one line saying what it holds.
fn backup(cfg: &Config, file: &Path, force: bool) -> anyhow::Result<()> {
    let report = app::backup(cfg, file, force)?;
    writeln!(
        std::io::stdout().lock(),
        "backed up {} items ({:.1} MB) to {}",
        report.items,
        report.bytes as f64 / 1e6,
        file.display()
    )?;
    Ok(())
}

async fn merges(cfg: &Config, limit: usize, json: bool) -> anyhow::Result<()> {
    let mut merges = app::recent_merges(cfg, limit).await?;
    // A feed without a title is named by its URL.
    for m in &mut merges {
        m.copy_feed = redact::name(&m.copy_feed).into_owned();
        m.story_feed = redact::name(&m.story_feed).into_owned();
    }
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&merges)?;
        writeln!(out, "{}", terminal::json(&text))?;
        return Ok(());
    }
    for m in &merges {
        // Merges made before the evidence was recorded have none.
        let evidence = m.evidence.map_or_else(
            || "not recorded".to_owned(),
            |e| e.names().replace(',', "+"),
        );
        writeln!(
            out,
            "{}  similarity {:.2}  by {evidence}  \"{}\" ({}) is shown as \"{}\" ({})",
            m.at.format("%Y-%m-%d %H:%M"),
            m.similarity,
            Escaped(&m.copy_title),
            Escaped(&m.copy_feed),
            Escaped(&m.story_title),
            Escaped(&m.story_feed)
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
    let feeds: Vec<FeedStatus> = app::status(cfg).await?.into_iter().map(shown).collect();
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&feeds)?;
        writeln!(out, "{}", terminal::json(&text))?;
        return Ok(());
    }
    out.write_all(status_table(&feeds, chrono::Utc::now()).as_bytes())?;
    Ok(())
}

/// A feed's status as it may be shown: URLs redacted (they may carry tokens), in the error
/// too.
fn shown(mut f: FeedStatus) -> FeedStatus {
    fn url(u: &str) -> String {
        redact::url_text(u).into_owned()
    }
    f.url = url(&f.url);
    f.moved_to = f.moved_to.as_deref().map(url);
    f.last_error = f.last_error.map(|e| redact::text(&e).into_owned());
    f.hub = f.hub.as_deref().map(url);
    f.websub_error = f.websub_error.map(|e| redact::text(&e).into_owned());
    f
}

/// The `status` table and the notes under it. Every string from a feed is escaped
/// ([`terminal::escape`]) and cut to [`MAX_CELL_CHARS`] or [`MAX_NOTE_CHARS`].
fn status_table(feeds: &[FeedStatus], now: chrono::DateTime<chrono::Utc>) -> String {
    let mut table = vec![
        [
            "STATE",
            "HTTP",
            "ITEMS",
            "ERRORS",
            "LAST POLL",
            "NEXT POLL",
            "FEED",
        ]
        .map(str::to_owned),
    ];
    let mut notes = Vec::new();
    for f in feeds {
        let health = Health::of(f.last_result);
        // A moved feed that still answers is worth a look of its own.
        let state = match health {
            Health::Ok if f.moved_to.is_some() => "moved",
            _ => health.as_str(),
        };
        let next = match (f.next_poll_at, &f.next_poll_reason) {
            (Some(t), Some(why)) => format!("{} ({why})", relative(t, now)),
            (Some(t), None) => relative(t, now),
            (None, _) if health == Health::Gone => "never".to_owned(),
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
        if health == Health::Gone {
            notes.push(format!("{}: gone (410); remove it from the config", f.url));
        }
        if !f.repairs.is_empty() {
            notes.push(format!("{}: read after repairs: {}", f.url, f.repairs));
        }
        if let (Some(hub), Some(sub)) = (&f.hub, f.websub) {
            let mut note = format!("{}: WebSub {sub} at {hub}", f.url);
            if let Some(until) = f.websub_expires_at.filter(|_| sub == SubState::Active) {
                note.push_str(&format!(", lease ends {}", relative(until, now)));
            }
            if let Some(e) = f
                .websub_error
                .as_deref()
                .filter(|_| sub != SubState::Active)
            {
                note.push_str(&format!(": {e}"));
            }
            notes.push(note);
        }
    }
    let mut text = columns(&table, MAX_CELL_CHARS);
    if !notes.is_empty() {
        text.push('\n');
        for n in notes {
            text.push_str(&cut(&terminal::escape(&n), MAX_NOTE_CHARS));
            text.push('\n');
        }
    }
    text
}

/// `rows` as lines of columns two spaces apart, each column as wide as its widest cell, every
/// cell escaped and cut to `max_chars`. The padding is written out rather than asked of
/// `format!`, whose width stops at 65,535.
fn columns<const N: usize>(rows: &[[String; N]], max_chars: usize) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| cut(&terminal::escape(c), max_chars))
                .collect()
        })
        .collect();
    let mut widths = [0; N];
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in &cells {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(widths) {
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', w - cell.chars().count() + 2));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// `s` cut to at most `max_chars` characters, the last of them "…" when something was cut.
fn cut(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        None => s.to_owned(),
        Some(_) => {
            let keep = s.chars().take(max_chars.saturating_sub(1));
            keep.chain(std::iter::once('…')).collect()
        }
    }
}

/// "5m ago", "just now" or "in 2h 3m", to the minute: a time gone is counted in whole minutes
/// gone (a poll 10 s ago was "just now", not "1m ago"), a time to come is rounded up (a poll
/// due in 10 s is "in 1m", never shown as due already).
fn relative(t: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> String {
    let secs = (t - now).num_seconds();
    let minutes = |m: u64| humantime::format_duration(std::time::Duration::from_secs(m * 60));
    if secs <= 0 {
        match secs.unsigned_abs() / 60 {
            0 => "just now".to_owned(),
            m => format!("{} ago", minutes(m)),
        }
    } else {
        format!("in {}", minutes(secs.unsigned_abs().div_ceil(60)))
    }
}

fn import_opml(file: &Path, config: &Path) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| {
            use std::io::Read as _;
            f.take(MAX_OPML_BYTES + 1).read_to_end(&mut bytes)
        })
        .with_context(|| format!("cannot read {}", file.display()))?;
    if bytes.len() as u64 > MAX_OPML_BYTES {
        anyhow::bail!(
            "{} is larger than {MAX_OPML_BYTES} bytes: not an OPML file",
            file.display()
        );
    }
    let (feeds, skipped) = feedmerge::opml::parse_with_skipped(&bytes)
        .with_context(|| format!("cannot import {}", file.display()))?;
    let known: Vec<url::Url> = if config.exists() {
        match Config::load(config) {
            Ok(cfg) => cfg.feeds.iter().map(|f| f.url.clone()).collect(),
            Err(e) => anyhow::bail!("{e}"),
        }
    } else {
        Vec::new()
    };
    let (already, new): (Vec<_>, Vec<_>) = feeds.into_iter().partition(|f| known.contains(&f.url));
    std::io::stdout()
        .lock()
        .write_all(feedmerge::opml::to_toml(&new).as_bytes())?;
    eprintln!(
        "{} feed(s) to add; {} already in {}; {} outline(s) skipped",
        new.len(),
        already.len(),
        config.display(),
        skipped.len()
    );
    for s in &skipped {
        eprintln!(
            "  skipped \"{}\": {}",
            Escaped(&redact::text(&s.url)),
            Escaped(&s.reason)
        );
    }
    Ok(())
}

fn check(cfg: &Config, path: &Path) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}: ok", path.display())?;
    writeln!(
        out,
        "listen {}, database {}",
        cfg.server.listen,
        cfg.storage.path.display()
    )?;
    writeln!(out, "{} feed(s):", cfg.feeds.len())?;
    for f in cfg.feeds.iter() {
        let interval = humantime::format_duration(f.interval(&cfg.poller));
        let url = Redacted(&f.url);
        let tags = if f.tags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", Escaped(&f.tags.join(", ")))
        };
        // A title may come from an imported OPML file.
        match &f.title {
            Some(title) => writeln!(out, "  {url}  every {interval}{tags}  ({})", Escaped(title))?,
            None => writeln!(out, "  {url}  every {interval}{tags}")?,
        }
    }
    writeln!(out, "{} output(s):", cfg.outputs.len() + 1)?;
    writeln!(out, "  {}feed.xml  every feed", cfg.server.base_url)?;
    for o in &cfg.outputs {
        let only = if o.tags.is_empty() {
            "every feed".to_owned()
        } else {
            format!("tags [{}]", Escaped(&o.tags.join(", ")))
        };
        writeln!(out, "  {}{}.xml  {only}", cfg.server.base_url, o.path)?;
    }
    // Not an error: a config can be right for a reader on this machine.
    if let Some(warning) = cfg.server.base_url_warning() {
        writeln!(out, "warning: {warning}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `status` said "LAST POLL in 1m" for a poll that had just happened, and "1m ago" for
    /// one 10 s ago.
    #[test]
    fn times_gone_are_whole_minutes_gone_and_times_to_come_round_up() {
        let now = chrono::Utc::now();
        let s = chrono::Duration::seconds;
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(now - s(10), now), "just now");
        assert_eq!(relative(now - s(61), now), "1m ago");
        assert_eq!(relative(now - s(3 * 3600 + 125), now), "3h 2m ago");
        assert_eq!(relative(now + s(10), now), "in 1m");
        assert_eq!(relative(now + s(1800), now), "in 30m");
    }

    fn feed(url: &str, title: Option<String>, error: Option<String>) -> FeedStatus {
        FeedStatus {
            url: url.to_owned(),
            title,
            last_result: Some(feedmerge::model::PollKind::Failed),
            last_polled_at: Some(chrono::Utc::now()),
            last_status: Some(500),
            items: 3,
            error_count: 2,
            next_poll_at: None,
            next_poll_reason: None,
            last_error: error,
            moved_to: None,
            repairs: Default::default(),
            ..FeedStatus::default()
        }
    }

    /// `format!("{cell:<w$}")` panicked ("Formatting argument out of range") past a width of
    /// 65,535: a feed could break the operator's command with a long title.
    #[test]
    fn status_table_takes_huge_cells_and_cuts_them() {
        let huge = "T".repeat(1 << 20);
        for n in [65_535, 65_536, 1 << 20] {
            let feeds = [
                feed(
                    "https://a.example/f",
                    Some(huge[..n].to_owned()),
                    Some(huge.clone()),
                ),
                feed("https://b.example/f", None, None),
            ];
            let text = status_table(&feeds, chrono::Utc::now());
            let lines: Vec<&str> = text.lines().collect();
            assert!(
                lines
                    .iter()
                    .all(|l| l.chars().count() < 300 + MAX_NOTE_CHARS),
                "{}",
                lines.iter().map(|l| l.len()).max().unwrap()
            );
            assert!(lines[1].ends_with("TTT…"), "{}", &lines[1][..200]);
            assert!(lines[2].ends_with("https://b.example/f"), "{}", lines[2]);
        }
        // Columns line up: every row's FEED cell starts at the same character.
        let text = status_table(
            &[
                feed("https://a.example/f", Some("日本".to_owned()), None),
                feed("https://b.example/long/path", None, None),
            ],
            chrono::Utc::now(),
        );
        let starts: Vec<usize> = text
            .lines()
            .map(|l| l.chars().collect::<String>().find("https").unwrap_or(0))
            .skip(1)
            .collect();
        assert_eq!(starts[0], starts[1], "{text}");
    }

    #[test]
    fn status_escapes_what_would_drive_a_terminal() {
        let evil = "\u{1b}]0;owned\u{7}\u{1b}[2J\u{9b}31m\u{202E}";
        let text = status_table(
            &[feed(
                "https://a.example/f",
                Some(evil.to_owned()),
                Some(format!("bad {evil}\nsecond line")),
            )],
            chrono::Utc::now(),
        );
        assert!(
            !text.chars().any(|c| terminal::is_unsafe(c) && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains("\\u{1b}]0;owned\\u{7}"), "{text}");
        assert!(text.contains("bad \\u{1b}"), "{text}");
        assert_eq!(text.lines().count(), 4, "one line per note: {text}");
    }

    #[test]
    fn status_notes_each_feeds_hub_and_subscription() {
        let now = chrono::Utc::now();
        let mut active = feed("https://a.example/f", None, None);
        active.hub = Some("https://hub.example/".to_owned());
        active.websub = Some(SubState::Active);
        active.websub_expires_at = Some(now + chrono::Duration::days(9));
        active.websub_error = Some("an old error".to_owned());
        let mut failed = feed("https://b.example/f", None, None);
        failed.hub = Some("https://u:pw@hub.example/?key=s3cret".to_owned());
        failed.websub = Some(SubState::Failed);
        failed.websub_error = Some("unexpected status 400 from https://hub.example/".to_owned());
        let text = status_table(&[shown(active), shown(failed)], now);
        assert!(
            text.contains(
                "https://a.example/f: WebSub active at https://hub.example/, lease ends in 9days\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("https://b.example/f: WebSub failed at https://hub.example/?key=REDACTED: unexpected status 400"),
            "{text}"
        );
    }

    #[test]
    fn cut_keeps_short_text_and_marks_a_cut() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "ab…");
        assert_eq!(cut("日本語です", 4), "日本語…");
        assert_eq!(cut("", 0), "");
    }
}
