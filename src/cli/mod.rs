//! The command line's own machinery, apart from the commands: which config file a command
//! reads, the logging set-up (colour, the progress bar), and the completions and man page
//! made from the definition of the command line; and the commands that have a module of
//! their own ([`discover`], [`feeds`]: the subscriptions, [`opml`]).

use std::path::{Path, PathBuf};

pub mod discover;
pub mod docs;
pub mod feeds;
pub mod logs;
pub mod opml;

/// The config file in the working directory, used when neither `--config` nor
/// `$FEEDMERGE_CONFIG` names one: a checkout or a folder of its own.
pub const LOCAL_CONFIG: &str = "config.toml";

/// The installed service's config file, used when neither `--config` nor `$FEEDMERGE_CONFIG`
/// names one and the working directory has no [`LOCAL_CONFIG`]: `feedmerge status` typed
/// anywhere reads the service's.
pub const SYSTEM_CONFIG: &str = "/etc/feedmerge/config.toml";

/// The config file a command reads: `given` (`--config`, else `$FEEDMERGE_CONFIG`), else
/// [`LOCAL_CONFIG`] if it exists, else [`SYSTEM_CONFIG`].
pub fn config_path(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        let local = Path::new(LOCAL_CONFIG);
        if local.exists() {
            local.to_owned()
        } else {
            PathBuf::from(SYSTEM_CONFIG)
        }
    })
}
