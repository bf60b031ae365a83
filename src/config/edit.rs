//! Edits of the config file in place, for `feedmerge add`, `remove` and `import-opml
//! --write`: `[[feeds]]` tables appended or removed while every comment and the layout of the
//! rest stay as written (toml_edit); the edited text is validated as the daemon would load it
//! and written atomically (a file beside it, synced, renamed over it).
//!
//! A comment directly above a `[[feeds]]` header belongs to that feed and goes with it, except
//! when it is the only comment above the first feed: that one introduces the list and stays.
//! Comments set apart by a blank line stay too.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};
use url::Url;

use super::{Config, ConfigError, read_text};

/// Permissions of the new file while it is written, before it takes the original's: nobody
/// else reads a config (it may hold feed tokens) half-written.
const SCRATCH_MODE: u32 = 0o600;

/// Why the config file was not edited. Whatever the error, the file is as it was.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file cannot be read, or is not a valid config as it is: it is not edited until it
    /// loads.
    #[error(transparent)]
    Load(#[from] ConfigError),
    /// `feeds` is written in a form that is not rewritten (an inline array, `feeds = [...]`).
    #[error(
        "{}: feeds is written as an inline array; write each feed as a [[feeds]] table to edit it with feedmerge",
        path.display()
    )]
    Unsupported {
        /// The config file.
        path: PathBuf,
    },
    /// The edited config would not load; nothing was written.
    #[error("the edit would make {} invalid, so it was not written", path.display())]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// What the loader says of the edited text.
        #[source]
        source: ConfigError,
    },
    /// The file changed between reading and writing (another edit); nothing was written.
    #[error("{} changed while it was being edited; nothing was written: try again", path.display())]
    Changed {
        /// The config file.
        path: PathBuf,
    },
    /// The new file cannot be written, synced or renamed into place.
    #[error("cannot write config file {}", path.display())]
    Write {
        /// The config file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
}

/// A feed to append: the keys its `[[feeds]]` table is written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFeed {
    /// `url`.
    pub url: Url,
    /// `title`, when given.
    pub title: Option<String>,
    /// `tags`, written when not empty.
    pub tags: Vec<String>,
    /// `interval`, written as a duration string (`"2h"`), when given.
    pub interval: Option<Duration>,
}

impl NewFeed {
    /// A feed at `url` with nothing else set.
    pub fn new(url: Url) -> Self {
        NewFeed {
            url,
            title: None,
            tags: Vec::new(),
            interval: None,
        }
    }
}

/// A config file being edited: read and validated by [`ConfigEdit::open`], changed in memory,
/// written by [`ConfigEdit::save`].
#[derive(Debug)]
pub struct ConfigEdit {
    /// The config file as given: messages and relative paths follow it.
    path: PathBuf,
    /// The text read, to notice another edit before writing.
    original: String,
    /// The document being edited.
    document: DocumentMut,
    /// The config as read.
    config: Config,
}

impl ConfigEdit {
    /// Reads the config file at `path`, which must load as it is.
    ///
    /// # Errors
    /// [`EditError::Load`] when it cannot be read or is not a valid config.
    pub fn open(path: &Path) -> Result<Self, EditError> {
        let original = read_text(path)?;
        let config = Config::parse(&original, path)?;
        // Cannot fail where Config::parse did not: both read TOML 1.1 with the same parser.
        let document = original.parse::<DocumentMut>().map_err(|e| {
            EditError::Load(ConfigError::Invalid {
                file: path.display().to_string(),
                line: 1,
                message: e.message().to_owned(),
            })
        })?;
        Ok(ConfigEdit {
            path: path.to_owned(),
            original,
            document,
            config,
        })
    }

    /// The config as read, before any edit.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The edited text.
    pub fn text(&self) -> String {
        self.document.to_string()
    }

    /// Appends a `[[feeds]]` table for `feed` after the last one, or at the end of the file
    /// when there is none.
    ///
    /// # Errors
    /// [`EditError::Unsupported`] when `feeds` is not written as `[[feeds]]` tables.
    pub fn append_feed(&mut self, feed: &NewFeed) -> Result<(), EditError> {
        let mut table = Table::new();
        table.insert("url", value(feed.url.as_str()));
        if let Some(title) = &feed.title {
            table.insert("title", value(title.as_str()));
        }
        if let Some(interval) = feed.interval {
            table.insert(
                "interval",
                value(humantime::format_duration(interval).to_string()),
            );
        }
        if !feed.tags.is_empty() {
            table.insert("tags", value(feed.tags.iter().collect::<Array>()));
        }
        let blank_line_before = !self.document.as_table().is_empty();
        if blank_line_before {
            table.decor_mut().set_prefix("\n");
        }
        let path = self.path.clone();
        match self.document.as_table_mut().get_mut("feeds") {
            None => {
                let mut feeds = ArrayOfTables::new();
                feeds.push(table);
                self.document
                    .as_table_mut()
                    .insert("feeds", Item::ArrayOfTables(feeds));
            }
            // A table without a position of its own is written after the one before it
            // in the array: after the last feed, before whatever follows it in the file.
            Some(Item::ArrayOfTables(feeds)) => feeds.push(table),
            Some(_) => return Err(EditError::Unsupported { path }),
        }
        Ok(())
    }

    /// Removes the `index`-th `[[feeds]]` table (in file order, as in [`Config::feeds`]) with
    /// the comment directly above it; comments that belong to the list or to a group of
    /// feeds pass to what follows (see the module's documentation).
    ///
    /// # Errors
    /// [`EditError::Unsupported`] when `feeds` is not written as `[[feeds]]` tables.
    ///
    /// # Panics
    /// When there is no such feed.
    pub fn remove_feed(&mut self, index: usize) -> Result<(), EditError> {
        let root = self.document.as_table_mut();
        let Some(Item::ArrayOfTables(feeds)) = root.get_mut("feeds") else {
            return Err(EditError::Unsupported {
                path: self.path.clone(),
            });
        };
        let removed = feeds.remove(index);
        if feeds.is_empty() {
            root.remove("feeds");
        }
        let prefix = removed
            .decor()
            .prefix()
            .and_then(|p| p.as_str())
            .unwrap_or("");
        let (before, _own) = split_own_comment(prefix);
        // The only comment above the first feed introduces the list: it stays.
        let kept = if index == 0 && !has_comment(before) {
            prefix
        } else {
            before
        };
        if !has_comment(kept) {
            return Ok(());
        }
        let position = removed.position().unwrap_or(isize::MAX);
        match next_table(root, position) {
            Some(next) => pass_comment(next, kept),
            None => {
                let trailing = self.document.trailing().as_str().unwrap_or("");
                let trailing = format!("{kept}{trailing}");
                self.document.set_trailing(trailing);
            }
        }
        Ok(())
    }

    /// Validates the edited text as the daemon would load it and writes it over the file,
    /// atomically and with the file's permissions and owner; returns the new config.
    ///
    /// # Errors
    /// [`EditError::Invalid`] when the edited config would not load, [`EditError::Changed`]
    /// when the file changed since it was read, [`EditError::Write`] when it cannot be
    /// written; the file is then as it was.
    pub fn save(self) -> Result<Config, EditError> {
        let text = self.text();
        let config = Config::parse(&text, &self.path).map_err(|source| EditError::Invalid {
            path: self.path.clone(),
            source,
        })?;
        if read_text(&self.path)? != self.original {
            return Err(EditError::Changed { path: self.path });
        }
        write_atomically(&self.path, text.as_bytes()).map_err(|source| EditError::Write {
            path: self.path.clone(),
            source,
        })?;
        Ok(config)
    }
}

/// Whether `text` (a table's prefix) holds a comment.
fn has_comment(text: &str) -> bool {
    text.lines().any(|l| l.trim_start().starts_with('#'))
}

/// `prefix` (what comes before a table's header) as what comes before the comment directly
/// above the header, and that comment (its lines with no blank line between them and the
/// header).
fn split_own_comment(prefix: &str) -> (&str, &str) {
    let mut start = prefix.len();
    for line in prefix.split_inclusive('\n').rev() {
        if !line.trim_start().starts_with('#') {
            break;
        }
        start -= line.len();
    }
    prefix.split_at(start)
}

/// Puts `kept` (comments that stay) before `table`'s header, in place of the blank lines
/// there, or before its own comment.
fn pass_comment(table: &mut Table, kept: &str) {
    let prefix = table
        .decor()
        .prefix()
        .and_then(|p| p.as_str())
        .unwrap_or("");
    let prefix = if prefix.trim().is_empty() {
        kept.to_owned()
    } else {
        format!("{kept}{prefix}")
    };
    table.decor_mut().set_prefix(prefix);
}

/// The top-level table, or table of an array, that is written first after `position`.
fn next_table(root: &mut Table, position: isize) -> Option<&mut Table> {
    root.iter_mut()
        .flat_map(|(_, item)| -> Box<dyn Iterator<Item = &mut Table>> {
            match item {
                Item::Table(t) => Box::new(std::iter::once(t)),
                Item::ArrayOfTables(a) => Box::new(a.iter_mut()),
                _ => Box::new(std::iter::empty()),
            }
        })
        .filter(|t| t.position().is_some_and(|p| p > position))
        .min_by_key(|t| t.position())
}

/// Writes `bytes` over the file at `path` (through a symbolic link, to the file it names) so
/// that readers see the old content or the new, never a part: a new file beside it, with its
/// permissions and owner, synced, then renamed over it, and the rename synced. Nothing is left
/// behind when this fails.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let target = std::fs::canonicalize(path)?;
    let meta = std::fs::metadata(&target)?;
    let dir = target.parent().unwrap_or(Path::new("/"));
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let scratch = Scratch {
        path: dir.join(format!(".{name}.{:016x}.tmp", fastrand::u64(..))),
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(SCRATCH_MODE)
        .open(&scratch.path)?;
    file.write_all(bytes)?;
    let written = file.metadata()?;
    if (written.uid(), written.gid()) != (meta.uid(), meta.gid()) {
        // The daemon may run as another user than the one editing (root editing the
        // service's file): it must still be able to read it.
        std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()))?;
    }
    file.set_permissions(meta.permissions())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&scratch.path, &target)?;
    std::mem::forget(scratch);
    File::open(dir)?.sync_all()
}

/// The file being written, removed unless it was renamed into place.
struct Scratch {
    path: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edited(text: &str, edit: impl FnOnce(&mut ConfigEdit)) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        let mut e = ConfigEdit::open(&path).unwrap();
        edit(&mut e);
        e.text()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    const LIST: &str = "\
# intro to the server
[server]
listen = \"127.0.0.1:1\"  # a port

# The feeds.
[[feeds]]
url = \"https://a.example/f\"

# --- friends ---

# Bob's blog
[[feeds]]
url = \"https://b.example/f\"
title = \"Bob\"

[[feeds]]
url = \"https://c.example/f\"

# after the feeds
[dedupe]
near_duplicates = true
# the end
";

    #[test]
    fn a_feed_is_appended_after_the_last_one_and_nothing_else_changes() {
        let text = edited(LIST, |e| {
            let mut feed = NewFeed::new(url("https://d.example/f"));
            feed.title = Some("D \"quoted\"".to_owned());
            feed.tags = vec!["x".to_owned(), "y z".to_owned()];
            feed.interval = Some(Duration::from_secs(7200));
            e.append_feed(&feed).unwrap();
        });
        let added = "\n[[feeds]]\nurl = \"https://d.example/f\"\ntitle = 'D \"quoted\"'\ninterval = \"2h\"\ntags = [\"x\", \"y z\"]\n";
        let at = LIST.find("\n# after the feeds").unwrap();
        assert_eq!(text, format!("{}{added}{}", &LIST[..at], &LIST[at..]));
    }

    #[test]
    fn a_feed_is_appended_at_the_end_when_there_is_none() {
        let text = edited("# just this\n[output]\ntitle = \"x\"\n", |e| {
            e.append_feed(&NewFeed::new(url("https://d.example/f")))
                .unwrap();
        });
        assert_eq!(
            text,
            "# just this\n[output]\ntitle = \"x\"\n\n[[feeds]]\nurl = \"https://d.example/f\"\n"
        );
        let text = edited("", |e| {
            e.append_feed(&NewFeed::new(url("https://d.example/f")))
                .unwrap();
        });
        assert_eq!(text, "[[feeds]]\nurl = \"https://d.example/f\"\n");
    }

    #[test]
    fn a_removed_feed_takes_its_own_comment_and_leaves_the_others() {
        // Bob's own comment goes; the group's heading stays, before the next feed.
        let text = edited(LIST, |e| e.remove_feed(1).unwrap());
        assert_eq!(
            text,
            LIST.replace(
                "# --- friends ---\n\n# Bob's blog\n[[feeds]]\nurl = \"https://b.example/f\"\ntitle = \"Bob\"\n\n",
                "# --- friends ---\n\n"
            )
        );
        // The list's introduction stays with the feed that becomes first.
        let text = edited(LIST, |e| e.remove_feed(0).unwrap());
        assert_eq!(
            text,
            LIST.replace("[[feeds]]\nurl = \"https://a.example/f\"\n", "")
        );
        // The last feed: nothing of it stays.
        let text = edited(LIST, |e| e.remove_feed(2).unwrap());
        assert_eq!(
            text,
            LIST.replace("\n[[feeds]]\nurl = \"https://c.example/f\"\n", "")
        );
    }

    #[test]
    fn removing_every_feed_keeps_the_comments_that_were_not_theirs() {
        let text = edited(LIST, |e| {
            for _ in 0..3 {
                e.remove_feed(0).unwrap();
            }
        });
        assert!(text.contains("# The feeds.\n"), "{text}");
        assert!(text.contains("# --- friends ---"), "{text}");
        assert!(!text.contains("[[feeds]]"), "{text}");
        assert!(!text.contains("Bob"), "{text}");
        assert!(
            text.ends_with("near_duplicates = true\n# the end\n"),
            "{text}"
        );
        Config::parse(&text, Path::new("config.toml")).unwrap();
    }

    #[test]
    fn an_inline_array_of_feeds_is_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "feeds = [{ url = \"https://a.example/f\" }]\n").unwrap();
        let mut e = ConfigEdit::open(&path).unwrap();
        let err = e
            .append_feed(&NewFeed::new(url("https://d.example/f")))
            .unwrap_err();
        assert!(matches!(err, EditError::Unsupported { .. }), "{err}");
        assert!(matches!(
            e.remove_feed(0),
            Err(EditError::Unsupported { .. })
        ));
    }
}
