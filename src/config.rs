//! Configuration: `config.toml` text → [`RawConfig`] (serde, unknown keys rejected) → validated
//! [`Config`]. Every error names the file, the line and the key.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use url::Url;

/// The example configuration shipped at the repository root, embedded so that tests and
/// `feedmerge check` can always compare against it.
pub const EXAMPLE: &str = include_str!("../config.toml");

/// Default `[server] listen` address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default `[storage] path`, relative to the config file's folder.
pub const DEFAULT_DB_PATH: &str = "data/feedmerge.db";
/// Default `[poller] interval`: how often a feed is polled.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// Default `[poller] min_interval`: the floor no feed interval may go below.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Default `[poller] max_interval`: the longest a feed's hints may stretch its interval.
pub const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Default `[poller] per_host`: requests in flight to one host.
pub const DEFAULT_PER_HOST: usize = 2;
/// Default `[poller] per_host_spacing`: minimum time between two requests' starts to one host.
pub const DEFAULT_PER_HOST_SPACING: Duration = Duration::from_millis(250);
/// Default `[poller] max_backoff`: the longest wait after repeated errors.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);
/// Default `[poller] concurrency`: feeds fetched at once. Each poll under way holds its
/// document (body, then items) until stored: a first import of 5000 feeds peaked 8-10 MB
/// lower with 16 than with 32, at the same speed once the log is copied out of the writer's
/// way (`store::checkpoint`). Remote hosts take at most `per_host` requests each anyway.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default `[poller] timeout`: the whole request, body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `[poller] connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `[poller] max_body`: the largest feed body accepted, counted after decompression.
pub const DEFAULT_MAX_BODY: u64 = 16 * 1024 * 1024;
/// Default `[reading_time] words_per_minute` (silent reading of non-fiction, Brysbaert 2019).
pub const DEFAULT_WORDS_PER_MINUTE: u32 = 238;
/// Default `[reading_time] cjk_chars_per_minute`.
pub const DEFAULT_CJK_CHARS_PER_MINUTE: u32 = 500;
/// Default `[output] title`.
pub const DEFAULT_OUTPUT_TITLE: &str = "feedmerge";
/// Default `[output] max_items`: items in the merged feed.
pub const DEFAULT_MAX_ITEMS: usize = 100;
/// Default `[shutdown] timeout` for in-flight polls and requests to finish.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest duration any key accepts.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
/// The largest config file read, in bytes: a config of thousands of feeds is a few hundred
/// KB, and `--config /dev/zero` must fail at once instead of filling the memory.
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;
/// Upper bound for `[output] max_items`. Large values are for exports and benchmarks (a
/// million items render to a few GB of XML); feeds for readers want a few hundred at most.
pub const MAX_OUTPUT_ITEMS: usize = 10_000_000;

/// The `User-Agent` sent with every request unless `[poller] user_agent` overrides it.
pub fn default_user_agent() -> String {
    format!(
        "feedmerge/{} (feed aggregator; +https://crates.io/crates/feedmerge)",
        env!("CARGO_PKG_VERSION")
    )
}

/// A configuration error. Its message names the file, the line and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_CONFIG_BYTES`] (or never ends, like `/dev/zero`).
    #[error("config file {path} is larger than {limit} bytes: not a feedmerge config")]
    TooLarge {
        /// The config file.
        path: PathBuf,
        /// [`MAX_CONFIG_BYTES`].
        limit: u64,
    },
    /// A key has a bad value, is unknown, or the TOML is malformed.
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// The config file, as given.
        file: String,
        /// 1-based line of the offending key or value.
        line: usize,
        /// What is wrong, starting with the key (`feeds[3].interval: ...`).
        message: String,
    },
}

/// The validated configuration the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file this was loaded from (relative paths are resolved against its folder).
    pub source: PathBuf,
    /// `[server]`.
    pub server: ServerConfig,
    /// `[storage]`.
    pub storage: StorageConfig,
    /// `[poller]`.
    pub poller: PollerConfig,
    /// `[reading_time]`.
    pub reading_time: ReadingTimeConfig,
    /// `[output]`.
    pub output: OutputConfig,
    /// `[dedupe]`.
    pub dedupe: DedupeConfig,
    /// `[[feeds]]`, in file order.
    pub feeds: Vec<FeedConfig>,
    /// `[[outputs]]`: filtered merged feeds beside the default one.
    pub outputs: Vec<OutputFilter>,
}

/// One `[[outputs]]` entry: a merged feed of the items that pass its filters, served at
/// `/PATH.xml`, `/PATH.atom` and `/PATH.json`.
#[derive(Debug, Clone)]
pub struct OutputFilter {
    /// The path without the leading slash or extension (`rust` for `/rust.xml`).
    pub path: String,
    /// Title; the default output's title otherwise.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Only feeds with one of these tags (empty: every feed).
    pub tags: Vec<String>,
    /// Only items whose title or content matches.
    pub include: Option<regex::Regex>,
    /// No items whose title or content matches.
    pub exclude: Option<regex::Regex>,
    /// Only items that take at least this many minutes to read.
    pub min_minutes: Option<u32>,
    /// Only items that take at most this many minutes to read.
    pub max_minutes: Option<u32>,
    /// Items in this output; `[output] max_items` otherwise.
    pub max_items: Option<usize>,
    /// Secret that readers must pass as `?token=` or `Authorization: Bearer`.
    pub token: Option<String>,
}

/// Output paths that the server itself uses.
const RESERVED_PATHS: &[&str] = &["feed", "static", "metrics", "healthz", "readyz", "sources"];

/// Where `/metrics` is served (`[server] metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsEndpoint {
    /// On the main listener, beside the feeds (`"listener"`, the default).
    Listener,
    /// On a separate address, for example one only Prometheus can reach.
    Separate(SocketAddr),
    /// Not at all (`"off"`).
    Off,
}

/// `[server]`: where the merged feed is served.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Public URL of the server, used for self links.
    pub base_url: Url,
    /// How long in-flight polls and requests get to finish on shutdown.
    pub shutdown_timeout: Duration,
    /// Where `/metrics` is served.
    pub metrics: MetricsEndpoint,
    /// Connections open at once.
    pub max_connections: usize,
    /// A connection without traffic for this long is closed.
    pub idle_timeout: Duration,
    /// A request head must arrive whole within this long (from the accept, or from its first
    /// byte on a kept-alive connection), however it trickles in.
    pub header_timeout: Duration,
}

/// Default `[server] max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default `[server] idle_timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `[server] header_timeout`: a request head is one packet or a few; a client still
/// sending one after this long is trickling it on purpose.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// `[storage]`: the SQLite database.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Database file, absolute.
    pub path: PathBuf,
    /// Items older than this are removed (unless an output still shows them).
    pub max_age: Duration,
    /// Items kept per feed, newest first (unless an output still shows older ones).
    pub max_items_per_feed: usize,
    /// The largest the database file may grow; `None`: as large as the disk allows.
    pub max_size: Option<u64>,
}

/// Default `[storage] max_age`.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(180 * 24 * 3600);
/// Default `[storage] max_items_per_feed`.
pub const DEFAULT_MAX_ITEMS_PER_FEED: usize = 1000;

/// `[poller]`: how feeds are fetched.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    /// Default interval between two polls of a feed.
    pub interval: Duration,
    /// No feed is polled more often than this.
    pub min_interval: Duration,
    /// No hint stretches a feed's interval past this.
    pub max_interval: Duration,
    /// Requests in flight per host.
    pub per_host: usize,
    /// Minimum time between the starts of two requests to one host.
    pub per_host_spacing: Duration,
    /// Longest wait after repeated errors.
    pub max_backoff: Duration,
    /// Feeds fetched at once.
    pub concurrency: usize,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Largest body accepted, after decompression.
    pub max_body: u64,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Let the redirects of a feed whose own URL reached a public address lead anywhere, this
    /// machine and private networks included (judged on the addresses connected to; article
    /// links are not affected). [default: false]
    pub allow_private_redirects: bool,
}

/// When to fetch the article page to estimate from the whole text (`full_text`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullText {
    /// When the item's content looks like a summary (short, or ends in "…" or "Read more").
    Auto,
    /// For every item with a link.
    Always,
    /// Never: estimate from what the feed carries.
    Never,
}

/// Where "N min read" is shown to people (`placement`); the machine-readable estimate is
/// always there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A paragraph at the start of the description.
    Description,
    /// Appended to the title: "Title (2 min read)".
    Title,
    /// Both.
    Both,
    /// Neither.
    None,
}

/// Default `[reading_time] summary_words`: content shorter than this looks like a summary.
pub const DEFAULT_SUMMARY_WORDS: u32 = 150;

/// `[reading_time]`: how the "N min read" estimate is made and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadingTimeConfig {
    /// Words per minute for alphabetic scripts.
    pub words_per_minute: u32,
    /// Characters per minute for Han, Hiragana, Katakana and Hangul.
    pub cjk_chars_per_minute: u32,
    /// When to fetch the article page.
    pub full_text: FullText,
    /// With `full_text = "auto"`, content of fewer words than this counts as a summary.
    pub summary_words: u32,
    /// Put the extracted article (sanitised) into the merged feed as the item's content.
    pub include_full_text: bool,
    /// Where people see "N min read".
    pub placement: Placement,
}

impl Default for ReadingTimeConfig {
    fn default() -> Self {
        Self {
            words_per_minute: DEFAULT_WORDS_PER_MINUTE,
            cjk_chars_per_minute: DEFAULT_CJK_CHARS_PER_MINUTE,
            full_text: FullText::Auto,
            summary_words: DEFAULT_SUMMARY_WORDS,
            include_full_text: false,
            placement: Placement::Description,
        }
    }
}

fn full_text_mode(v: &str) -> Result<FullText, String> {
    match v.trim() {
        "auto" => Ok(FullText::Auto),
        "always" => Ok(FullText::Always),
        "never" => Ok(FullText::Never),
        _ => Err(format!("{v:?} is not \"auto\", \"always\" or \"never\"")),
    }
}

/// `[dedupe]`: near-duplicate detection across feeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DedupeConfig {
    /// Show items of different feeds with nearly the same text once.
    pub near_duplicates: bool,
    /// Text similarity (Jaccard of word 4-grams, 0–1) from which two items are one story.
    pub threshold: f64,
    /// A new item is compared with the items of the other feeds first seen this recently.
    pub window: Duration,
}

/// Default `[dedupe] threshold`.
pub const DEFAULT_NEAR_THRESHOLD: f64 = 0.7;
/// Default `[dedupe] window`.
pub const DEFAULT_NEAR_WINDOW: Duration = Duration::from_secs(72 * 3600);

/// `[output]`: the merged feed.
#[derive(Debug, Clone)]
pub struct OutputConfig {
    /// Channel title.
    pub title: String,
    /// Channel description.
    pub description: String,
    /// Items in the merged feed, newest first.
    pub max_items: usize,
    /// Add one item per failing feed to the merged feed.
    pub health_items: bool,
}

/// One `[[feeds]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// The feed's URL (http or https).
    pub url: Url,
    /// Title override; the feed's own title is used otherwise.
    pub title: Option<String>,
    /// Interval override.
    pub interval: Option<Duration>,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// `full_text` override.
    pub full_text: Option<FullText>,
    /// `words_per_minute` override (for a feed in another language, say).
    pub words_per_minute: Option<u32>,
    /// `cjk_chars_per_minute` override.
    pub cjk_chars_per_minute: Option<u32>,
}

impl Config {
    /// Reads and validates the config file at `path`.
    ///
    /// # Errors
    /// [`ConfigError::Read`] if the file cannot be read or is not UTF-8,
    /// [`ConfigError::TooLarge`] past [`MAX_CONFIG_BYTES`], [`ConfigError::Invalid`] if it is
    /// not a valid configuration.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let read_err = |source| ConfigError::Read {
            path: path.to_owned(),
            source,
        };
        let bytes = read_limited(path, MAX_CONFIG_BYTES).map_err(|e| match e {
            LimitedReadError::Io(e) => read_err(e),
            LimitedReadError::TooLarge => ConfigError::TooLarge {
                path: path.to_owned(),
                limit: MAX_CONFIG_BYTES,
            },
        })?;
        let text = String::from_utf8(bytes)
            .map_err(|e| read_err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        Self::parse(&text, path)
    }

    /// Validates config text as if it were read from `path`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the line and key at fault.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let err = |span: std::ops::Range<usize>, message: String| ConfigError::Invalid {
            file: file.clone(),
            line: line_of(text, span.start),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            err(span, e.message().trim_end().to_owned())
        })?;
        let base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        raw.validate(base_dir)
            .map_err(|Located { span, message }| err(span, message))
            .map(|mut cfg| {
                cfg.source = path.to_owned();
                cfg
            })
    }
}

/// Why [`read_limited`] gave up.
#[derive(Debug)]
enum LimitedReadError {
    /// The file could not be opened or read.
    Io(std::io::Error),
    /// It has more bytes than the limit.
    TooLarge,
}

/// The bytes of the file at `path`, or [`LimitedReadError::TooLarge`] once more than `limit`
/// were read: never more than `limit + 1` bytes are read, whatever the file is (a FIFO, a
/// device, a file that grows).
fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, LimitedReadError> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(LimitedReadError::Io)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(LimitedReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(LimitedReadError::TooLarge);
    }
    Ok(bytes)
}

fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A validation error with the byte span of the value at fault.
struct Located {
    span: std::ops::Range<usize>,
    message: String,
}

type Value<T> = Option<Spanned<T>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    poller: RawPoller,
    #[serde(default)]
    reading_time: RawReadingTime,
    #[serde(default)]
    output: RawOutput,
    #[serde(default)]
    dedupe: RawDedupe,
    #[serde(default)]
    feeds: Vec<RawFeed>,
    #[serde(default)]
    outputs: Vec<RawOutputFilter>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutputFilter {
    path: Spanned<String>,
    title: Value<String>,
    description: Value<String>,
    #[serde(default)]
    tags: Vec<String>,
    include: Value<String>,
    exclude: Value<String>,
    min_minutes: Value<i64>,
    max_minutes: Value<i64>,
    max_items: Value<i64>,
    token: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Value<String>,
    base_url: Value<String>,
    shutdown_timeout: Value<String>,
    metrics: Value<String>,
    max_connections: Value<i64>,
    idle_timeout: Value<String>,
    header_timeout: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    path: Value<String>,
    max_age: Value<String>,
    max_items_per_feed: Value<i64>,
    max_size: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPoller {
    interval: Value<String>,
    min_interval: Value<String>,
    max_interval: Value<String>,
    max_backoff: Value<String>,
    concurrency: Value<i64>,
    per_host: Value<i64>,
    per_host_spacing: Value<String>,
    timeout: Value<String>,
    connect_timeout: Value<String>,
    max_body: Value<String>,
    user_agent: Value<String>,
    allow_private_redirects: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReadingTime {
    words_per_minute: Value<i64>,
    cjk_chars_per_minute: Value<i64>,
    full_text: Value<String>,
    summary_words: Value<i64>,
    include_full_text: Option<bool>,
    placement: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDedupe {
    near_duplicates: Option<bool>,
    threshold: Value<f64>,
    window: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    title: Value<String>,
    description: Value<String>,
    max_items: Value<i64>,
    health_items: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    url: Spanned<String>,
    title: Value<String>,
    interval: Value<String>,
    #[serde(default)]
    tags: Vec<String>,
    full_text: Value<String>,
    words_per_minute: Value<i64>,
    cjk_chars_per_minute: Value<i64>,
}

/// Validates one optional value: `None` gives `default`, otherwise `check` decides, and its
/// error is prefixed with the key and located at the value.
fn field<T, U>(
    key: &str,
    value: Value<T>,
    default: impl FnOnce() -> U,
    check: impl FnOnce(&T) -> Result<U, String>,
) -> Result<U, Located>
where
    T: fmt::Debug,
{
    match value {
        None => Ok(default()),
        Some(v) => check(v.get_ref()).map_err(|why| Located {
            span: v.span(),
            message: format!("{key}: {why}"),
        }),
    }
}

/// [`field`] for string values, whose checks take `&str`.
fn text_field<U>(
    key: &str,
    value: Value<String>,
    default: impl FnOnce() -> U,
    check: impl FnOnce(&str) -> Result<U, String>,
) -> Result<U, Located> {
    field(key, value, default, |s: &String| check(s))
}

fn duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|_| format!("{s:?} is not a duration (try \"15m\", \"90s\" or \"2h\")"))?;
    if d.is_zero() {
        return Err(format!("{s:?} must be longer than zero"));
    }
    if d > MAX_DURATION {
        return Err(format!("{s:?} is longer than a year"));
    }
    Ok(d)
}

/// Parses sizes like `"16MiB"`, `"512KiB"`, `"1GB"` or a plain byte count.
fn size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return Err(format!("{s:?} is not a size (try \"16MiB\")")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{s:?} is not a size (try \"16MiB\")"))
}

fn in_range(lo: i64, hi: i64) -> impl Fn(&i64) -> Result<i64, String> {
    move |&n| {
        if (lo..=hi).contains(&n) {
            Ok(n)
        } else {
            Err(format!("{n} is out of range ({lo} to {hi})"))
        }
    }
}

fn http_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s.trim()).map_err(|e| format!("{s:?} is not a URL ({e})"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err(format!("{s:?} has no host")),
        other => Err(format!(
            "{s:?}: only http and https are supported, not {other}"
        )),
    }
}

fn non_empty(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(t.to_owned())
    }
}

impl RawConfig {
    fn validate(self, base_dir: &Path) -> Result<Config, Located> {
        let s = self.server;
        let listen: SocketAddr = text_field("server.listen", s.listen, default_listen, |v| {
            v.trim()
                .parse()
                .map_err(|_| format!("{v:?} is not an address like \"127.0.0.1:8080\""))
        })?;
        let base_url = text_field(
            "server.base_url",
            s.base_url,
            || base_url_for(listen),
            http_url,
        )?;
        let shutdown_timeout = text_field(
            "server.shutdown_timeout",
            s.shutdown_timeout,
            || DEFAULT_SHUTDOWN_TIMEOUT,
            duration,
        )?;

        let metrics = text_field(
            "server.metrics",
            s.metrics,
            || MetricsEndpoint::Listener,
            |v| match v.trim() {
                "listener" => Ok(MetricsEndpoint::Listener),
                "off" => Ok(MetricsEndpoint::Off),
                other => other.parse().map(MetricsEndpoint::Separate).map_err(|_| {
                    format!(
                        "{v:?} is not \"listener\", \"off\" or an address like \"127.0.0.1:9100\""
                    )
                }),
            },
        )?;

        let max_connections = field(
            "server.max_connections",
            s.max_connections,
            || DEFAULT_MAX_CONNECTIONS as i64,
            in_range(1, 1_000_000),
        )? as usize;
        let idle_timeout = text_field(
            "server.idle_timeout",
            s.idle_timeout,
            || DEFAULT_IDLE_TIMEOUT,
            duration,
        )?;
        let header_timeout = text_field(
            "server.header_timeout",
            s.header_timeout,
            || DEFAULT_HEADER_TIMEOUT,
            duration,
        )?;

        let path = text_field(
            "storage.path",
            self.storage.path,
            || PathBuf::from(DEFAULT_DB_PATH),
            |v| non_empty(v).map(PathBuf::from),
        )?;

        let max_age = text_field(
            "storage.max_age",
            self.storage.max_age,
            || DEFAULT_MAX_AGE,
            duration,
        )?;
        let max_items_per_feed = field(
            "storage.max_items_per_feed",
            self.storage.max_items_per_feed,
            || DEFAULT_MAX_ITEMS_PER_FEED as i64,
            in_range(1, 10_000_000),
        )? as usize;

        let max_size = text_field(
            "storage.max_size",
            self.storage.max_size,
            || None,
            |v| size(v).map(Some),
        )?;

        let p = self.poller;
        let interval = text_field("poller.interval", p.interval, || DEFAULT_INTERVAL, duration)?;
        let min_interval_span = p.min_interval.as_ref().map(|v| v.span());
        let min_interval = text_field(
            "poller.min_interval",
            p.min_interval,
            || DEFAULT_MIN_INTERVAL.min(interval),
            duration,
        )?;
        if min_interval > interval {
            return Err(Located {
                span: min_interval_span.unwrap_or(0..0),
                message: format!(
                    "poller.min_interval: {} is longer than poller.interval ({})",
                    humantime::format_duration(min_interval),
                    humantime::format_duration(interval)
                ),
            });
        }
        let max_interval_span = p.max_interval.as_ref().map(|v| v.span());
        let max_interval = text_field(
            "poller.max_interval",
            p.max_interval,
            || DEFAULT_MAX_INTERVAL.max(interval),
            duration,
        )?;
        if max_interval < interval {
            return Err(Located {
                span: max_interval_span.unwrap_or(0..0),
                message: format!(
                    "poller.max_interval: {} is shorter than poller.interval ({})",
                    humantime::format_duration(max_interval),
                    humantime::format_duration(interval)
                ),
            });
        }
        let poller = PollerConfig {
            interval,
            min_interval,
            max_interval,
            per_host: field(
                "poller.per_host",
                p.per_host,
                || DEFAULT_PER_HOST as i64,
                in_range(1, 64),
            )? as usize,
            per_host_spacing: text_field(
                "poller.per_host_spacing",
                p.per_host_spacing,
                || DEFAULT_PER_HOST_SPACING,
                |v| {
                    // Zero is allowed here: it turns the spacing off.
                    humantime::parse_duration(v.trim())
                        .map_err(|_| format!("{v:?} is not a duration (try \"250ms\" or \"1s\")"))
                },
            )?,
            max_backoff: text_field(
                "poller.max_backoff",
                p.max_backoff,
                || DEFAULT_MAX_BACKOFF,
                duration,
            )?,
            concurrency: field(
                "poller.concurrency",
                p.concurrency,
                || DEFAULT_CONCURRENCY as i64,
                in_range(1, 1024),
            )? as usize,
            timeout: text_field("poller.timeout", p.timeout, || DEFAULT_TIMEOUT, duration)?,
            connect_timeout: text_field(
                "poller.connect_timeout",
                p.connect_timeout,
                || DEFAULT_CONNECT_TIMEOUT,
                duration,
            )?,
            max_body: text_field("poller.max_body", p.max_body, || DEFAULT_MAX_BODY, size)?,
            user_agent: text_field(
                "poller.user_agent",
                p.user_agent,
                default_user_agent,
                non_empty,
            )?,
            allow_private_redirects: p.allow_private_redirects.unwrap_or(false),
        };

        let r = self.reading_time;
        let reading_time = ReadingTimeConfig {
            words_per_minute: field(
                "reading_time.words_per_minute",
                r.words_per_minute,
                || DEFAULT_WORDS_PER_MINUTE.into(),
                in_range(1, 10_000),
            )? as u32,
            cjk_chars_per_minute: field(
                "reading_time.cjk_chars_per_minute",
                r.cjk_chars_per_minute,
                || DEFAULT_CJK_CHARS_PER_MINUTE.into(),
                in_range(1, 10_000),
            )? as u32,
            full_text: text_field(
                "reading_time.full_text",
                r.full_text,
                || FullText::Auto,
                full_text_mode,
            )?,
            summary_words: field(
                "reading_time.summary_words",
                r.summary_words,
                || DEFAULT_SUMMARY_WORDS.into(),
                in_range(0, 100_000),
            )? as u32,
            include_full_text: r.include_full_text.unwrap_or(false),
            placement: text_field(
                "reading_time.placement",
                r.placement,
                || Placement::Description,
                |v| match v.trim() {
                    "description" => Ok(Placement::Description),
                    "title" => Ok(Placement::Title),
                    "both" => Ok(Placement::Both),
                    "none" => Ok(Placement::None),
                    _ => Err(format!(
                        "{v:?} is not \"description\", \"title\", \"both\" or \"none\""
                    )),
                },
            )?,
        };

        let o = self.output;
        let output = OutputConfig {
            title: text_field(
                "output.title",
                o.title,
                || DEFAULT_OUTPUT_TITLE.to_owned(),
                non_empty,
            )?,
            description: text_field(
                "output.description",
                o.description,
                || "Merged feed".to_owned(),
                |v| Ok(v.trim().to_owned()),
            )?,
            max_items: field(
                "output.max_items",
                o.max_items,
                || DEFAULT_MAX_ITEMS as i64,
                in_range(1, MAX_OUTPUT_ITEMS as i64),
            )? as usize,
            health_items: o.health_items.unwrap_or(false),
        };

        let mut seen = HashSet::new();
        let mut feeds = Vec::with_capacity(self.feeds.len());
        for (i, f) in self.feeds.into_iter().enumerate() {
            let url_span = f.url.span();
            let url = http_url(f.url.get_ref()).map_err(|why| Located {
                span: url_span.clone(),
                message: format!("feeds[{i}].url: {why}"),
            })?;
            if !seen.insert(url.clone()) {
                return Err(Located {
                    span: url_span,
                    message: format!("feeds[{i}].url: {:?} is listed twice", url.as_str()),
                });
            }
            let interval_key = format!("feeds[{i}].interval");
            let interval_span = f.interval.as_ref().map(|v| v.span());
            let feed_interval = text_field(
                &interval_key,
                f.interval,
                || None,
                |v| duration(v).map(Some),
            )?;
            if let Some(d) = feed_interval.filter(|&d| d < min_interval) {
                return Err(Located {
                    span: interval_span.unwrap_or(0..0),
                    message: format!(
                        "{interval_key}: {} is shorter than poller.min_interval ({})",
                        humantime::format_duration(d),
                        humantime::format_duration(min_interval)
                    ),
                });
            }
            feeds.push(FeedConfig {
                url,
                title: text_field(
                    &format!("feeds[{i}].title"),
                    f.title,
                    || None,
                    |v| non_empty(v).map(Some),
                )?,
                interval: feed_interval,
                tags: f.tags,
                full_text: text_field(
                    &format!("feeds[{i}].full_text"),
                    f.full_text,
                    || None,
                    |v| full_text_mode(v).map(Some),
                )?,
                words_per_minute: field(
                    &format!("feeds[{i}].words_per_minute"),
                    f.words_per_minute,
                    || None,
                    |v| in_range(1, 10_000)(v).map(|n| Some(n as u32)),
                )?,
                cjk_chars_per_minute: field(
                    &format!("feeds[{i}].cjk_chars_per_minute"),
                    f.cjk_chars_per_minute,
                    || None,
                    |v| in_range(1, 10_000)(v).map(|n| Some(n as u32)),
                )?,
            });
        }

        let d = self.dedupe;
        let dedupe = DedupeConfig {
            near_duplicates: d.near_duplicates.unwrap_or(true),
            threshold: field(
                "dedupe.threshold",
                d.threshold,
                || DEFAULT_NEAR_THRESHOLD,
                |&t| {
                    if (0.3..=1.0).contains(&t) {
                        Ok(t)
                    } else {
                        Err(format!("{t} is out of range (0.3 to 1.0)"))
                    }
                },
            )?,
            window: text_field("dedupe.window", d.window, || DEFAULT_NEAR_WINDOW, duration)?,
        };

        let mut outputs: Vec<OutputFilter> = Vec::with_capacity(self.outputs.len());
        for (i, o) in self.outputs.into_iter().enumerate() {
            let key = |k: &str| format!("outputs[{i}].{k}");
            let path_span = o.path.span();
            let path = output_path(o.path.get_ref()).map_err(|why| Located {
                span: path_span.clone(),
                message: format!("{}: {why}", key("path")),
            })?;
            if outputs.iter().any(|p| p.path == path) {
                return Err(Located {
                    span: path_span,
                    message: format!("{}: \"/{path}\" is used twice", key("path")),
                });
            }
            let minutes = |v: &i64| in_range(0, 10_000)(v).map(|n| Some(n as u32));
            let regex = |v: &str| {
                regex::RegexBuilder::new(v)
                    .size_limit(1 << 20)
                    .build()
                    .map(Some)
                    .map_err(|e| format!("{v:?} is not a regular expression: {e}"))
            };
            outputs.push(OutputFilter {
                path,
                title: text_field(&key("title"), o.title, || None, |v| non_empty(v).map(Some))?,
                description: text_field(
                    &key("description"),
                    o.description,
                    || None,
                    |v| Ok(Some(v.trim().to_owned())),
                )?,
                tags: o.tags,
                include: text_field(&key("include"), o.include, || None, regex)?,
                exclude: text_field(&key("exclude"), o.exclude, || None, regex)?,
                min_minutes: field(&key("min_minutes"), o.min_minutes, || None, minutes)?,
                max_minutes: field(&key("max_minutes"), o.max_minutes, || None, minutes)?,
                max_items: field(
                    &key("max_items"),
                    o.max_items,
                    || None,
                    |v| in_range(1, MAX_OUTPUT_ITEMS as i64)(v).map(|n| Some(n as usize)),
                )?,
                token: text_field(
                    &key("token"),
                    o.token,
                    || None,
                    |v| {
                        let t = non_empty(v)?;
                        if t.len() < 16 {
                            return Err("is too short to be a secret (use 16 characters or more)"
                                .to_owned());
                        }
                        Ok(Some(t))
                    },
                )?,
            });
        }

        Ok(Config {
            source: PathBuf::new(),
            server: ServerConfig {
                listen,
                base_url,
                shutdown_timeout,
                metrics,
                max_connections,
                idle_timeout,
                header_timeout,
            },
            storage: StorageConfig {
                path: base_dir.join(path),
                max_age,
                max_items_per_feed,
                max_size,
            },
            poller,
            reading_time,
            output,
            dedupe,
            feeds,
            outputs,
        })
    }
}

/// Checks an `[[outputs]] path`: `/name` or `/a/b`, letters, digits, `-` and `_`, not a
/// path the server uses itself. Returns it without the leading slash.
fn output_path(v: &str) -> Result<String, String> {
    let p = v.trim().trim_start_matches('/');
    let ok_part = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !p.split('/').all(ok_part) {
        return Err(format!(
            "{v:?} is not a path like \"/rust\" (letters, digits, - and _)"
        ));
    }
    if RESERVED_PATHS.contains(&p.split('/').next().unwrap_or("")) {
        return Err(format!("{v:?} is used by feedmerge itself"));
    }
    Ok(p.to_owned())
}

fn default_listen() -> SocketAddr {
    // Invariant: the constant is a valid socket address (checked by a unit test).
    DEFAULT_LISTEN.parse().expect("DEFAULT_LISTEN parses")
}

fn base_url_for(listen: SocketAddr) -> Url {
    // Invariant: a socket address always forms a valid http URL.
    Url::parse(&format!("http://{listen}/")).expect("socket address forms a URL")
}

impl FeedConfig {
    /// A feed at `url` with every setting at its default.
    pub fn new(url: Url) -> Self {
        FeedConfig {
            url,
            title: None,
            interval: None,
            tags: Vec::new(),
            full_text: None,
            words_per_minute: None,
            cjk_chars_per_minute: None,
        }
    }

    /// The effective polling interval of this feed, within `min_interval ..= max_interval`.
    pub fn interval(&self, poller: &PollerConfig) -> Duration {
        self.interval
            .unwrap_or(poller.interval)
            .clamp(poller.min_interval, poller.max_interval)
    }

    /// The reading-time settings for this feed: the global ones with its overrides.
    pub fn reading_time(&self, global: &ReadingTimeConfig) -> ReadingTimeConfig {
        ReadingTimeConfig {
            words_per_minute: self.words_per_minute.unwrap_or(global.words_per_minute),
            cjk_chars_per_minute: self
                .cjk_chars_per_minute
                .unwrap_or(global.cjk_chars_per_minute),
            full_text: self.full_text.unwrap_or(global.full_text),
            ..*global
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/feedmerge/config.toml"))
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn shipped_example_parses() {
        let cfg = parse(EXAMPLE).expect("config.toml at the repository root is valid");
        assert_eq!(cfg.server.listen, default_listen());
        assert_eq!(
            cfg.storage.path,
            Path::new("/etc/feedmerge/data/feedmerge.db")
        );
        // The example states the defaults it sets.
        assert_eq!(cfg.poller.concurrency, DEFAULT_CONCURRENCY);
        assert!(!cfg.feeds.is_empty());
    }

    #[test]
    fn empty_file_gives_documented_defaults() {
        let cfg = parse("").unwrap();
        assert_eq!(cfg.poller.interval, DEFAULT_INTERVAL);
        assert_eq!(cfg.poller.max_body, DEFAULT_MAX_BODY);
        assert_eq!(cfg.poller.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(cfg.output.max_items, DEFAULT_MAX_ITEMS);
        assert_eq!(cfg.reading_time, ReadingTimeConfig::default());
        assert_eq!(cfg.server.base_url.as_str(), "http://127.0.0.1:8080/");
    }

    #[test]
    fn bad_duration_names_file_line_and_key() {
        let text = "[poller]\ninterval = \"30m\"\n\n[[feeds]]\nurl = \"https://a.example/\"\n\n[[feeds]]\nurl = \"https://b.example/\"\ninterval = \"5x\"\n";
        assert_eq!(
            error(text),
            "/etc/feedmerge/config.toml:9: feeds[1].interval: \"5x\" is not a duration (try \"15m\", \"90s\" or \"2h\")"
        );
    }

    #[test]
    fn unknown_key_is_an_error_with_its_line() {
        let e = error("[server]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n");
        assert!(
            e.starts_with("/etc/feedmerge/config.toml:3: unknown field `lisen`"),
            "{e}"
        );
    }

    #[test]
    fn malformed_toml_names_the_line() {
        let e = error("[output]\nmax_items = \n");
        assert!(e.starts_with("/etc/feedmerge/config.toml:2:"), "{e}");
    }

    #[test]
    fn feed_urls_must_be_http_and_unique() {
        assert!(error("[[feeds]]\nurl = \"ftp://x.example/f\"\n").contains("only http and https"));
        let twice =
            "[[feeds]]\nurl = \"https://x.example/f\"\n[[feeds]]\nurl = \"https://x.example/f\"\n";
        assert!(
            error(twice).contains(":4: feeds[1].url"),
            "{}",
            error(twice)
        );
    }

    #[test]
    fn sizes_and_ranges() {
        assert_eq!(size("16MiB"), Ok(16 << 20));
        assert_eq!(size("2 kb"), Ok(2000));
        assert_eq!(size("100"), Ok(100));
        assert!(size("lots").is_err());
        assert!(size("0").is_err());
        assert!(error("[output]\nmax_items = 0\n").contains("output.max_items: 0 is out of range"));
        // The shared ingest benchmark asks for every item at once.
        assert_eq!(
            parse("[output]\nmax_items = 1000000\n")
                .unwrap()
                .output
                .max_items,
            1_000_000
        );
        assert!(error("[poller]\nconcurrency = -1\n").contains(":2: poller.concurrency"));
    }

    #[test]
    fn outputs_are_validated() {
        let cfg = parse(
            "[[outputs]]\npath = \"/rust\"\ntags = [\"rust\"]\ninclude = \"(?i)cargo\"\nmin_minutes = 3\ntoken = \"0123456789abcdef\"\n",
        )
        .unwrap();
        assert_eq!(cfg.outputs[0].path, "rust");
        assert!(cfg.outputs[0].include.as_ref().unwrap().is_match("CARGO"));
        assert!(error("[[outputs]]\npath = \"/feed\"\n").contains(":2: outputs[0].path"));
        assert!(error("[[outputs]]\npath = \"/a b\"\n").contains("outputs[0].path"));
        assert!(
            error("[[outputs]]\npath = \"/x\"\ninclude = \"(\"\n")
                .contains(":3: outputs[0].include")
        );
        assert!(error("[[outputs]]\npath = \"/x\"\ntoken = \"short\"\n").contains("too short"));
        let twice = "[[outputs]]\npath = \"/x\"\n[[outputs]]\npath = \"x\"\n";
        assert!(error(twice).contains("outputs[1].path"));
    }

    #[test]
    fn header_timeout_has_a_default_and_is_a_duration() {
        assert_eq!(
            parse("").unwrap().server.header_timeout,
            DEFAULT_HEADER_TIMEOUT
        );
        assert_eq!(
            parse("[server]\nheader_timeout = \"2s\"\n")
                .unwrap()
                .server
                .header_timeout,
            Duration::from_secs(2)
        );
        assert!(error("[server]\nheader_timeout = \"0s\"\n").contains(":2: server.header_timeout"));
    }

    #[test]
    fn metrics_endpoint() {
        let m =
            |v: &str| parse(&format!("[server]\nmetrics = \"{v}\"\n")).map(|c| c.server.metrics);
        assert_eq!(m("listener").unwrap(), MetricsEndpoint::Listener);
        assert_eq!(m("off").unwrap(), MetricsEndpoint::Off);
        assert_eq!(
            m("127.0.0.1:9100").unwrap(),
            MetricsEndpoint::Separate("127.0.0.1:9100".parse().unwrap())
        );
        assert!(
            m("sometimes")
                .unwrap_err()
                .to_string()
                .contains(":2: server.metrics")
        );
    }

    #[test]
    fn feed_interval_below_floor_is_rejected() {
        let text = "[poller]\nmin_interval = \"10m\"\n[[feeds]]\nurl = \"https://x.example/\"\ninterval = \"1m\"\n";
        assert!(
            error(text).contains(":5: feeds[0].interval: 1m is shorter than poller.min_interval")
        );
    }

    #[test]
    fn relative_storage_path_is_relative_to_the_config_file() {
        let cfg = Config::parse(
            "[storage]\npath = \"db/x.db\"\n",
            Path::new("cfg/config.toml"),
        )
        .unwrap();
        assert_eq!(cfg.storage.path, Path::new("cfg/db/x.db"));
        let cfg = Config::parse(
            "[storage]\npath = \"/var/lib/x.db\"\n",
            Path::new("config.toml"),
        )
        .unwrap();
        assert_eq!(cfg.storage.path, Path::new("/var/lib/x.db"));
    }

    #[test]
    fn a_config_file_is_read_up_to_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        // Exactly at the limit: read whole (and valid: a comment padded out).
        let mut text = String::from("[output]\ntitle = \"x\"\n#");
        text.push_str(&" ".repeat(MAX_CONFIG_BYTES as usize - text.len()));
        std::fs::write(&path, &text).unwrap();
        assert_eq!(Config::load(&path).unwrap().output.title, "x");
        // One byte more is refused, naming the file and the limit.
        text.push(' ');
        std::fs::write(&path, &text).unwrap();
        let e = Config::load(&path).unwrap_err();
        assert!(matches!(e, ConfigError::TooLarge { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "config file {} is larger than 4194304 bytes: not a feedmerge config",
                path.display()
            )
        );
        // A file that never ends.
        let e = Config::load(Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(e, ConfigError::TooLarge { .. }), "{e}");
        // Not UTF-8: a read error, as before.
        std::fs::write(&path, b"title = \"\xFF\"").unwrap();
        assert!(matches!(Config::load(&path), Err(ConfigError::Read { .. })));
    }
}
