//! A copy of the database while the daemon writes (`feedmerge backup FILE`): SQLite's online
//! backup API reads one snapshot of the database through a read-only connection, into a new
//! file beside the destination, which is checked (`PRAGMA integrity_check`) and synced before
//! it is renamed into place.
//!
//! The copy holds a read transaction from its first page to its last, so that it is of one
//! moment: every poll in it whole, whatever the daemon commits meanwhile. In WAL mode a reader
//! never blocks the writer; the daemon's checkpoints only stop short of the snapshot (the log
//! grows a little) until the copy is done. Without that transaction, a commit by the daemon
//! between two steps would make SQLite start the copy over, and a busy daemon would keep it
//! from ever finishing.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use super::{BUSY_TIMEOUT, FILE_MODE, StoreError, hint, open_reader};

/// Pages copied per step of the backup (8 KiB each: 8 MiB). Steps keep each call short;
/// the snapshot, not the step, is what keeps the copy whole.
pub const STEP_PAGES: std::ffi::c_int = 1024;

/// The pause before a step that found the destination or source busy is tried again.
const BUSY_PAUSE: Duration = Duration::from_millis(10);

/// Why a backup failed. Nothing is left at the destination then: the copy under way is
/// removed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The database cannot be read (there is none, it is of another version, …).
    #[error(transparent)]
    Source(#[from] StoreError),
    /// The destination exists and replacing it was not asked for.
    #[error("{} exists already: nothing was written (--force replaces it)", path.display())]
    Exists {
        /// The destination.
        path: PathBuf,
    },
    /// The destination is the database itself.
    #[error("{} is the database itself: back it up into another file", path.display())]
    SameFile {
        /// The destination.
        path: PathBuf,
    },
    /// The copy cannot be created, written, synced or put in place.
    #[error("cannot write the backup {}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed while copying or checking.
    #[error("cannot copy the database into {}: {}", path.display(), hint(source))]
    Copy {
        /// The file being written.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The copy did not pass `PRAGMA integrity_check`.
    #[error("the copy failed its integrity check ({report}); nothing was written to {}", path.display())]
    Corrupt {
        /// The destination.
        path: PathBuf,
        /// The check's first findings.
        report: String,
    },
}

/// What a finished backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupReport {
    /// Size of the copy in bytes.
    pub bytes: u64,
    /// Items in the copy.
    pub items: u64,
}

/// The copy under way, removed unless it was put in place.
struct Scratch {
    path: PathBuf,
    kept: bool,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.kept {
            // SQLite's own files beside it, if a failure left any.
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let mut p = self.path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// Copies the database at `source` into `dest` (see the module's documentation). An existing
/// `dest` is replaced only if `replace`; never the database itself.
///
/// # Errors
/// [`BackupError`] naming the file; `dest` is then left as it was.
pub fn backup(source: &Path, dest: &Path, replace: bool) -> Result<BackupReport, BackupError> {
    let (src, _) = open_reader(source)?;
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| BackupError::Write { path, source }
    };
    match (std::fs::metadata(source), std::fs::metadata(dest)) {
        (Ok(s), Ok(d)) if (s.dev(), s.ino()) == (d.dev(), d.ino()) => {
            return Err(BackupError::SameFile {
                path: dest.to_owned(),
            });
        }
        (_, Ok(_)) if !replace => {
            return Err(BackupError::Exists {
                path: dest.to_owned(),
            });
        }
        _ => {}
    }
    let scratch = Scratch {
        path: scratch_path(dest),
        kept: false,
    };
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(&scratch.path)
        .map_err(write_err(&scratch.path))?;
    let copy_err = |source| BackupError::Copy {
        path: scratch.path.clone(),
        source,
    };
    let mut dst = Connection::open(&scratch.path).map_err(copy_err)?;
    copy(&src, &mut dst, STEP_PAGES, || {}).map_err(copy_err)?;
    drop(src);
    let report = check(&dst).map_err(copy_err)?;
    if report != "ok" {
        return Err(BackupError::Corrupt {
            path: dest.to_owned(),
            report,
        });
    }
    let items: i64 = dst
        .query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0))
        .map_err(copy_err)?;
    dst.close().map_err(|(_, e)| copy_err(e))?;
    let file = File::open(&scratch.path).map_err(write_err(&scratch.path))?;
    file.sync_all().map_err(write_err(&scratch.path))?;
    let bytes = file.metadata().map_err(write_err(&scratch.path))?.len();
    put_in_place(scratch, dest, replace)?;
    Ok(BackupReport {
        bytes,
        items: items.max(0) as u64,
    })
}

/// `.NAME.PID.tmp` beside `dest`: on the same file system, so that it can be renamed into
/// place, and hidden from a listing meanwhile.
fn scratch_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map_or_else(|| "backup".into(), |n| n.to_string_lossy().into_owned());
    dest.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Copies every page of `src`, as of one snapshot, into `dst`, `pages` at a time, calling
/// `between` after each step but the last.
fn copy(
    src: &Connection,
    dst: &mut Connection,
    pages: std::ffi::c_int,
    mut between: impl FnMut(),
) -> rusqlite::Result<()> {
    // The snapshot: a read transaction begins at its first read and lasts until the end.
    src.execute_batch("BEGIN")?;
    src.query_row("SELECT COUNT(*) FROM sqlite_schema", [], |_| Ok(()))?;
    let backup = Backup::new(src, dst)?;
    let mut busy_since = None;
    loop {
        match backup.step(pages)? {
            StepResult::Done => break,
            StepResult::More => {
                busy_since = None;
                between();
            }
            // Only a lock on the scratch file, which nobody else opens, or a read lock the
            // snapshot already holds: both pass; bounded all the same.
            _ => {
                let since = *busy_since.get_or_insert_with(Instant::now);
                if since.elapsed() > BUSY_TIMEOUT {
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                        Some("the database stayed locked".to_owned()),
                    ));
                }
                std::thread::sleep(BUSY_PAUSE);
            }
        }
    }
    drop(backup);
    src.execute_batch("COMMIT")
}

/// `PRAGMA integrity_check` of `conn`: `ok`, or its first findings.
fn check(conn: &Connection) -> rusqlite::Result<String> {
    let mut stmt = conn.prepare("PRAGMA integrity_check(10)")?;
    let findings = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(findings.join("; "))
}

/// Renames the finished copy to `dest`. Without `replace`, by a hard link, which fails if
/// `dest` exists (were it created since the check at the start), then the scratch name
/// removed; the directory is synced, so that the name survives a power loss.
fn put_in_place(mut scratch: Scratch, dest: &Path, replace: bool) -> Result<(), BackupError> {
    let placed = if replace {
        std::fs::rename(&scratch.path, dest)
    } else {
        std::fs::hard_link(&scratch.path, dest)
    };
    match placed {
        Ok(()) => scratch.kept = replace,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(BackupError::Exists {
                path: dest.to_owned(),
            });
        }
        Err(source) => {
            return Err(BackupError::Write {
                path: dest.to_owned(),
                source,
            });
        }
    }
    // The link's scratch name goes (in `Drop`); `dest` stays.
    drop(scratch);
    let dir = dest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| BackupError::Write {
            path: dir.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_checked_placed_and_never_overwrites_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("f.db");
        drop(super::super::Store::open(&db).unwrap());
        let dest = dir.path().join("copy.db");
        let report = backup(&db, &dest, false).unwrap();
        assert_eq!(report.items, 0);
        assert_eq!(report.bytes, std::fs::metadata(&dest).unwrap().len());
        let v: u32 = Connection::open(&dest)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, super::super::migrations::SCHEMA_VERSION);

        std::fs::write(&dest, b"mine").unwrap();
        assert!(matches!(
            backup(&db, &dest, false),
            Err(BackupError::Exists { .. })
        ));
        assert_eq!(std::fs::read(&dest).unwrap(), b"mine");
        backup(&db, &dest, true).unwrap();
        assert_ne!(std::fs::read(&dest).unwrap(), b"mine");
        assert!(matches!(
            backup(&db, &db, true),
            Err(BackupError::SameFile { .. })
        ));
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.starts_with("f.db"))
            .collect();
        names.sort();
        assert_eq!(names, ["copy.db"], "no scratch file left");
    }

    /// Commits by another connection between the steps neither make the copy start over
    /// (which, under a steady stream of commits, would never end) nor reach it: the copy is
    /// of the moment it began.
    #[test]
    fn the_copy_is_of_one_moment_while_another_connection_commits() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("f.db");
        drop(super::super::Store::open(&db).unwrap());
        let writer = Connection::open(&db).unwrap();
        writer
            .execute_batch("CREATE TABLE t (n INTEGER, pad BLOB)")
            .unwrap();
        for n in 0..200 {
            writer
                .execute("INSERT INTO t VALUES (?1, zeroblob(4000))", [n])
                .unwrap();
        }
        let (src, _) = open_reader(&db).unwrap();
        let mut dst = Connection::open(dir.path().join("copy.db")).unwrap();
        let mut steps = 0;
        copy(&src, &mut dst, 1, || {
            steps += 1;
            // Bounded, so that a copy that starts over at every commit ends, wrongly.
            if steps < 2_000 {
                writer
                    .execute("INSERT INTO t VALUES (-1, zeroblob(4000))", [])
                    .unwrap();
            }
        })
        .unwrap();
        let rows: i64 = dst
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 200);
        assert!(steps < 2_000, "started over: {steps} steps");
    }
}
