//! Configuration: `config.toml` text → `RawConfig` (serde, unknown keys rejected) → validated
//! [`Config`]. Each section is a module that checks its own keys with the value types of
//! `value` (durations, sizes, URLs, numbers in range); every error names the file, the line and
//! the key.

mod dedupe;
pub mod edit;
mod feeds;
mod output;
mod outputs;
mod poller;
mod reading_time;
mod server;
mod storage;
mod value;
mod websub;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

pub use dedupe::{
    DEFAULT_NEAR_DUPLICATES, DEFAULT_NEAR_THRESHOLD, DEFAULT_NEAR_WINDOW, DedupeConfig,
};
pub use feeds::{FeedConfig, canonical_url};
pub use output::{
    DEFAULT_HEALTH_ITEMS, DEFAULT_MAX_ITEMS, DEFAULT_OUTPUT_DESCRIPTION, DEFAULT_OUTPUT_TITLE,
    DEFAULT_TRACKING_PARAMS, MAX_OUTPUT_ITEMS, MAX_TRACKING_PARAMS, OutputConfig,
};
pub use outputs::OutputFilter;
pub use poller::{
    DEFAULT_ALLOW_PRIVATE_REDIRECTS, DEFAULT_CONCURRENCY, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_INTERVAL, DEFAULT_MAX_BACKOFF, DEFAULT_MAX_BODY, DEFAULT_MAX_INTERVAL,
    DEFAULT_MIN_INTERVAL, DEFAULT_PER_HOST, DEFAULT_PER_HOST_SPACING, DEFAULT_TIMEOUT,
    PollerConfig, default_user_agent,
};
pub use reading_time::{
    DEFAULT_CJK_CHARS_PER_MINUTE, DEFAULT_FULL_TEXT, DEFAULT_INCLUDE_FULL_TEXT, DEFAULT_PLACEMENT,
    DEFAULT_SUMMARY_WORDS, DEFAULT_WORDS_PER_MINUTE, FullText, Placement, ReadingTimeConfig,
};
pub use server::{
    DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_METRICS, DEFAULT_SHUTDOWN_TIMEOUT, MetricsEndpoint, ServerConfig,
};
pub use storage::{
    DEFAULT_DB_PATH, DEFAULT_MAX_AGE, DEFAULT_MAX_ITEMS_PER_FEED, DEFAULT_MAX_SIZE, StorageConfig,
};
pub use value::MAX_DURATION;
pub use websub::{
    DEFAULT_WEBSUB_LEASE, DEFAULT_WEBSUB_POLL_INTERVAL, DEFAULT_WEBSUB_PUSH_SPACING,
    MAX_WEBSUB_PUSH_SPACING, MIN_WEBSUB_LEASE, WebsubConfig,
};

use value::Located;

/// The example configuration shipped at the repository root, embedded so that tests and
/// `feedmerge check` can always compare against it.
pub const EXAMPLE: &str = include_str!("../../config.toml");

/// The largest config file read, in bytes: a config of thousands of feeds is a few hundred
/// KB, 100,000 `[[feeds]]` tables with their titles about 10 MB, and `--config /dev/zero`
/// must fail at once instead of filling the memory.
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

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
    /// `[[feeds]]`, in file order; shared with what the outputs keep of them (one copy of
    /// each feed's config however many parts of the daemon hold it).
    pub feeds: Arc<[FeedConfig]>,
    /// `[[outputs]]`: filtered merged feeds beside the default one.
    pub outputs: Vec<OutputFilter>,
    /// `[websub]`.
    pub websub: WebsubConfig,
}

impl Config {
    /// Reads and validates the config file at `path`.
    ///
    /// # Errors
    /// [`ConfigError::Read`] if the file cannot be read or is not UTF-8,
    /// [`ConfigError::TooLarge`] past [`MAX_CONFIG_BYTES`], [`ConfigError::Invalid`] if it is
    /// not a valid configuration.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::parse(&read_text(path)?, path)
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
        let syntax = |e: &toml::de::Error, message: String| err(e.span().unwrap_or(0..0), message);
        let document = toml::Deserializer::parse(text)
            .map_err(|e| syntax(&e, e.message().trim_end().to_owned()))?;
        // serde's own messages ("invalid type: integer `30`, expected a string") do not say
        // which key: the path to the value that failed is kept beside them.
        let raw: RawConfig = serde_path_to_error::deserialize(document)
            .map_err(|e| syntax(e.inner(), keyed(e.path(), e.inner().message().trim_end())))?;
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

/// The text of the config file at `path`, read up to [`MAX_CONFIG_BYTES`].
fn read_text(path: &Path) -> Result<String, ConfigError> {
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
    String::from_utf8(bytes)
        .map_err(|e| read_err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
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

/// serde's `message` about the value at `path`, as `key: message` like every other config
/// error: `poller.interval: invalid type: integer `30`, expected a string`. An unknown key is
/// named whole (`server.lisen: unknown key, expected one of ...`), and a table written where
/// an array of tables belongs (`[feeds]` for `[[feeds]]`) says how to write it.
fn keyed(path: &serde_path_to_error::Path, message: &str) -> String {
    use serde_path_to_error::Segment;
    let mut key = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => key.push_str(&format!("[{index}]")),
            // toml::Spanned reads its value through keys of its own.
            Segment::Map { key: k } if k.starts_with("$__serde_spanned_private") => {}
            Segment::Map { key: k } | Segment::Enum { variant: k } => {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(k);
            }
            Segment::Unknown => {}
        }
    }
    let join = |key: &str, name: &str| match key {
        "" => name.to_owned(),
        _ => format!("{key}.{name}"),
    };
    if let Some((name, rest)) = message
        .strip_prefix("unknown field `")
        .and_then(|m| m.split_once('`'))
    {
        // serde_path_to_error has the unknown key in the path already.
        let named = key == name || key.ends_with(&format!(".{name}"));
        let key = if named { key } else { join(&key, name) };
        return format!("{key}: unknown key{rest}");
    }
    let mut message = message.to_owned();
    if message.starts_with("invalid type: map") && message.ends_with("expected a sequence") {
        message.push_str(&format!(
            " (write [[{key}]] before each entry, not [{key}])"
        ));
    }
    match key.as_str() {
        "" => message,
        key => format!("{key}: {message}"),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The whole file as written: each section as its module reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: server::RawServer,
    #[serde(default)]
    storage: storage::RawStorage,
    #[serde(default)]
    poller: poller::RawPoller,
    #[serde(default)]
    reading_time: reading_time::RawReadingTime,
    #[serde(default)]
    output: output::RawOutput,
    #[serde(default)]
    dedupe: dedupe::RawDedupe,
    #[serde(default)]
    feeds: Vec<feeds::RawFeed>,
    #[serde(default)]
    outputs: Vec<outputs::RawOutputFilter>,
    #[serde(default)]
    websub: websub::RawWebsub,
}

impl RawConfig {
    /// Validates section by section; the first error found is reported, so the order of the
    /// sections (feeds need the poller's `min_interval`) decides which of several it is.
    fn validate(self, base_dir: &Path) -> Result<Config, Located> {
        let server = self.server.validate()?;
        let storage = self.storage.validate(base_dir)?;
        let poller = self.poller.validate()?;
        let reading_time = self.reading_time.validate()?;
        let output = self.output.validate()?;
        let feeds = feeds::validate(self.feeds, &poller)?.into();
        let dedupe = self.dedupe.validate()?;
        let outputs = outputs::validate(self.outputs)?;
        let websub = self.websub.validate()?;
        Ok(Config {
            source: PathBuf::new(),
            server,
            storage,
            poller,
            reading_time,
            output,
            dedupe,
            feeds,
            outputs,
            websub,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
        assert_eq!(cfg.server.listen, server::default_listen());
        assert_eq!(
            cfg.storage.path,
            Path::new("/etc/feedmerge/data/feedmerge.db")
        );
        // The example states the defaults it sets.
        assert_eq!(cfg.poller.concurrency, DEFAULT_CONCURRENCY);
        assert!(!cfg.feeds.is_empty());
        assert_eq!(cfg.websub, WebsubConfig::default());
    }

    /// 100,000 feeds, each a `[[feeds]]` table with a URL and a title (7.6 MB), are read
    /// and loaded: the size bound was 4 MiB, which refused them.
    #[test]
    fn a_config_of_100000_feeds_is_read() {
        use std::fmt::Write as _;
        let mut text = String::new();
        for i in 0..100_000 {
            writeln!(
                text,
                "[[feeds]]\nurl = \"https://news{}.example.org/feeds/{i}.xml\"\ntitle = \"News {i}\"",
                i % 1000
            )
            .unwrap();
            writeln!(text, "tags = [\"t{}\"]", i % 7).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, &text).unwrap();
        assert!(text.len() as u64 > 4 * 1024 * 1024);
        let cfg = Config::load(&path).expect("100,000 feeds load");
        assert_eq!(cfg.feeds.len(), 100_000);
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
            e.starts_with(
                "/etc/feedmerge/config.toml:3: server.lisen: unknown key, expected one of `listen`"
            ),
            "{e}"
        );
    }

    #[test]
    fn tracking_params_default_to_the_known_list_and_may_be_emptied() {
        let default = parse("").unwrap().output.tracking_params;
        assert_eq!(default, DEFAULT_TRACKING_PARAMS);
        let none = parse("[output]\ntracking_params = []\n").unwrap();
        assert!(none.output.tracking_params.is_empty());
        let own = parse("[output]\ntracking_params = [\" UTM_*\", \"Ref\"]\n").unwrap();
        assert_eq!(own.output.tracking_params, ["utm_*", "ref"]);
        let e = |names: &str| error(&format!("[output]\ntracking_params = {names}\n"));
        assert_eq!(
            e(r#"["ref", "*"]"#),
            "/etc/feedmerge/config.toml:2: output.tracking_params: \"*\" would remove every parameter (name them, or use a prefix such as \"utm_*\")"
        );
        assert_eq!(
            e(r#"["a*b"]"#),
            "/etc/feedmerge/config.toml:2: output.tracking_params: \"a*b\" may have a * only at its end"
        );
        assert_eq!(
            e(r#"[" "]"#),
            "/etc/feedmerge/config.toml:2: output.tracking_params: a name must not be empty"
        );
        let many = vec!["\"x\""; MAX_TRACKING_PARAMS + 1].join(", ");
        assert!(e(&format!("[{many}]")).ends_with("more than 256 names"));
    }

    /// serde's messages lost the key: `interval = 30` said "invalid type: integer `30`,
    /// expected a string", `[feeds]` said "invalid type: map, expected a sequence".
    #[test]
    fn errors_of_every_shape_name_the_key() {
        assert_eq!(
            error("[server]\nlisten = \"127.0.0.1:1\"\n\n[poller]\ninterval = 30\n"),
            "/etc/feedmerge/config.toml:5: poller.interval: invalid type: integer `30`, expected a string"
        );
        assert_eq!(
            error("[output]\ntitle = \"x\"\n[feeds]\nurl = \"https://a.example/\"\n"),
            "/etc/feedmerge/config.toml:3: feeds: invalid type: map, expected a sequence (write [[feeds]] before each entry, not [feeds])"
        );
        let e = error(
            "[[feeds]]\nurl = \"https://a.example/\"\n[[feeds]]\nurl = \"https://b.example/\"\ntags = \"news\"\n",
        );
        assert_eq!(
            e,
            "/etc/feedmerge/config.toml:5: feeds[1].tags: invalid type: string \"news\", expected a sequence"
        );
        let e = error("[[feeds]]\nurl = \"https://a.example/\"\n[[feeds]]\ntitle = \"B\"\n");
        assert!(
            e.starts_with("/etc/feedmerge/config.toml:3: feeds[1]: missing field `url`"),
            "{e}"
        );
        let e = error("[[outputs]]\npath = \"/x\"\nmin_minutes = \"3\"\n");
        assert!(
            e.starts_with("/etc/feedmerge/config.toml:3: outputs[0].min_minutes: invalid type"),
            "{e}"
        );
        let e = error("[reading_time]\nfull_text = true\n");
        assert!(
            e.starts_with(
                "/etc/feedmerge/config.toml:2: reading_time.full_text: invalid type: boolean `true`"
            ),
            "{e}"
        );
        let e = error("title = \"x\"\n");
        assert!(
            e.starts_with("/etc/feedmerge/config.toml:1: title: unknown key, expected one of"),
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
        // The same feed written another way: case, default port, a fragment.
        let again = "[[feeds]]\nurl = \"https://x.example/f\"\n[[feeds]]\nurl = \"HTTPS://X.example:443/f#top\"\n";
        assert!(
            error(again).contains(":4: feeds[1].url"),
            "{}",
            error(again)
        );
    }

    #[test]
    fn sizes_and_ranges() {
        let max_size = |v: &str| {
            parse(&format!("[storage]\nmax_size = \"{v}\"\n")).map(|c| c.storage.max_size)
        };
        assert_eq!(max_size("16MiB").unwrap(), Some(16 << 20));
        assert_eq!(max_size("2 kb").unwrap(), Some(2000));
        assert_eq!(max_size("100").unwrap(), Some(100));
        assert_eq!(parse("").unwrap().storage.max_size, None);
        assert_eq!(
            error("[poller]\nmax_body = \"lots\"\n"),
            "/etc/feedmerge/config.toml:2: poller.max_body: \"lots\" is not a size (try \"16MiB\")"
        );
        assert!(error("[poller]\nmax_body = \"0\"\n").contains(":2: poller.max_body"));
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
                "config file {} is larger than {MAX_CONFIG_BYTES} bytes: not a feedmerge config",
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
