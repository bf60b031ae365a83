//! Logs for the command line: tracing events → lines on stderr, coloured only when a person
//! reads them at a terminal (or when asked to), written above `poll-once`'s progress bar
//! instead of through it.

use std::io::{IsTerminal as _, Write};
use std::sync::Mutex;

use feedmerge::terminal;
use indicatif::ProgressBar;
use tracing_subscriber::EnvFilter;

/// Default log filter when `RUST_LOG` is unset.
pub const DEFAULT_LOG_FILTER: &str = "feedmerge=info,tower_http=warn";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines
    Text,
    /// One JSON object per line, for log shippers
    Json,
}

/// Whether log lines carry colour codes (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Colour {
    /// Only when stderr is a terminal, NO_COLOR is unset and not under systemd's journal
    #[default]
    Auto,
    /// Always, even into a pipe or a file
    Always,
    /// Never
    Never,
}

impl Colour {
    /// Whether this choice colours the log, in the environment of this process.
    pub fn wanted(self) -> bool {
        match self {
            Colour::Always => true,
            Colour::Never => false,
            Colour::Auto => terminal::colour_by_default(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
                std::env::var_os("JOURNAL_STREAM").as_deref(),
            ),
        }
    }
}

/// The progress bar on screen, if any: log lines are written while it is hidden
/// ([`ProgressBar::suspend`]), so that a line never lands in the middle of the bar.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Shows `bar` under the log lines until [`ProgressShown`] is dropped.
pub fn show_progress(bar: &ProgressBar) -> ProgressShown {
    *BAR.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
    ProgressShown(())
}

/// Log lines go straight to stderr again once this is dropped.
#[must_use = "the bar is forgotten when this is dropped"]
pub struct ProgressShown(());

impl Drop for ProgressShown {
    fn drop(&mut self) {
        *BAR.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Installs the global tracing subscriber: `RUST_LOG` (else [`DEFAULT_LOG_FILTER`]) filters,
/// `format` shapes the lines, `colour` decides the colour codes.
pub fn init(format: LogFormat, colour: Colour) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour.wanted());
    // journald stamps every line itself.
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let text = || Stderr { json: false };
    let json = || Stderr { json: true };
    match (format, journald) {
        (LogFormat::Text, false) => fmt.fmt_fields(escaped_fields()).with_writer(text).init(),
        (LogFormat::Text, true) => fmt
            .fmt_fields(escaped_fields())
            .with_writer(text)
            .without_time()
            .init(),
        (LogFormat::Json, false) => fmt.json().with_writer(json).init(),
        (LogFormat::Json, true) => fmt.json().with_writer(json).without_time().init(),
    }
}

/// Stderr for the log. Each event arrives whole, in one call, and is written in one piece,
/// above the progress bar when one is shown. For the JSON log, the characters JSON allows as
/// they are but a terminal acts on (DEL, C1, bidirectional controls) are written as `\uXXXX`
/// too ([`terminal::json`]); serde_json escapes the C0 controls itself.
struct Stderr {
    json: bool,
}

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = match std::str::from_utf8(buf) {
            Ok(text) if self.json => Some(terminal::json(text)),
            _ => None,
        };
        let bytes = text.as_ref().map_or(buf, |t| t.as_bytes());
        let write = || std::io::stderr().lock().write_all(bytes);
        // Cloned out of the lock: the bar's own drawing must not wait on it.
        let bar = BAR.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match bar {
            Some(bar) => bar.suspend(write)?,
            None => write()?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Log fields as tracing-subscriber writes them (`name=value`, the message bare, strings
/// quoted), with every value passed through [`terminal::escape`]: fields carry feed titles
/// and errors, and tracing-subscriber 0.3.23 escapes some control characters of the message
/// and of `?debug` fields, but writes `%display` fields (errors, titles) as they are.
fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    use tracing_subscriber::field::MakeExt as _;
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let value = format!("{value:?}");
        let value = terminal::escape(&value);
        match field.name() {
            "message" => write!(w, "{value}"),
            name => write!(w, "{name}={value}"),
        }
    })
    .delimited(" ")
}
