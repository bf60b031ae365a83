//! Copying the write-ahead log into the database file, in a thread of its own.
//!
//! By default SQLite does it inside the commit that takes the log past 1000 pages: the
//! writer, and with it every poll waiting for its group commit, stops while pages are read
//! back from the log, written to the database and synced. Here the writer only appends, and
//! a connection of the checkpointer's own copies what has been committed (a passive
//! checkpoint: it never blocks the writer or a reader), a moment after the commits that woke
//! it. A first import of 1000 feeds, medians of 5 side by side: 2.70 -> 2.54 s wall with 32
//! feeds at once, 2.42 -> 2.20 s with 16.
//!
//! The log starts over from its beginning only in a transaction that begins after a complete
//! copy, which a steady stream of commits never leaves room for. SQLite's answer is the
//! writer's automatic checkpoint: inside a commit, it syncs the log, copies what is left and
//! syncs the database file, and the next commit cuts the log file back, every poll waiting
//! meanwhile. Here the checkpointer does it: once the log is long, it syncs the database file,
//! then holds the writer between two transactions (and the reader between two reads, if it
//! can within a few milliseconds) for a last copy of the few pages committed since (a read of
//! upkeep's, on a connection of its own, may still stop it short: the next copy tries again); the
//! writer's next transaction starts the log over. The log file is cut back when the store is
//! idle. The writer keeps an automatic checkpoint at a far larger size, in case this thread
//! falls far behind.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::Guarded;

/// How long commits may gather after the one that woke the checkpointer: a page that many of
/// them change is copied once, and a daemon that stores a poll every few seconds syncs its
/// database about as often as SQLite's own schedule would.
const GATHER: Duration = Duration::from_millis(250);

/// Tries, a millisecond apart, to take the reader for the last copy before the log starts
/// over (with the writer held meanwhile).
const READER_TRIES: usize = 20;

/// The writer's own automatic checkpoint (pages of log, 8 KiB each: 512 MiB): a safety net,
/// for a checkpointer that fell far behind.
pub(super) const WRITER_AUTOCHECKPOINT: i64 = 65_536;

/// When the checkpointer makes the log start over, and cuts its file back.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Pages of log after which the log is made to start over.
    pub restart_at: i64,
    /// Bytes of log file left as they are when the store is idle; a larger file is cut back
    /// to nothing.
    pub keep_bytes: u64,
}

impl Limits {
    /// 16,384 pages of 8 KiB (128 MiB) before the log starts over; 32 MiB of file kept.
    pub(super) const DEFAULT: Limits = Limits {
        restart_at: 16_384,
        keep_bytes: 32 << 20,
    };
}

/// The checkpointer thread, woken by writes through [`Checkpointer::writing`]; stops (after a
/// last checkpoint) when dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    signal: Arc<Signal>,
    thread: Option<JoinHandle<()>>,
}

/// What the writer tells the checkpointer thread. Flags rather than messages: only the first
/// commit after a copy starts wakes the thread (a system call, and a switch to that thread
/// in the middle of the writer's work); the commits while it gathers only find the flag set.
#[derive(Debug, Default)]
struct Signal {
    /// Commits since the last copy started.
    pending: AtomicBool,
    /// The store is closing: copy what is pending now, then stop.
    closing: AtomicBool,
    /// Times the writer woke the thread.
    wakeups: AtomicU64,
    /// Times the thread made the log start over.
    restarts: AtomicU64,
}

/// What the checkpointer thread works with.
struct Copier {
    conn: Connection,
    /// The database file, synced before the writer is held.
    file: File,
    /// The log file, for its size.
    log: PathBuf,
    /// The store's connections, held for the last copy before the log starts over. Weak: the
    /// store owns the checkpointer.
    writer: Weak<Guarded>,
    reader: Weak<Guarded>,
    limits: Limits,
}

impl Checkpointer {
    /// Opens the checkpointer's connection to `path` and starts its thread.
    pub(super) fn start(
        path: &Path,
        (writer, reader): (Weak<Guarded>, Weak<Guarded>),
        limits: Limits,
    ) -> Result<Checkpointer, String> {
        let conn = Connection::open(path).map_err(|e| e.to_string())?;
        // Never waits for a lock (another process's reader or checkpoint): what it finds
        // taken is tried again at the next copy, or the next idle moment.
        conn.busy_timeout(Duration::ZERO)
            .map_err(|e| e.to_string())?;
        let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let copier = Copier {
            conn,
            file,
            log: log_path(path),
            writer,
            reader,
            limits,
        };
        let signal = Arc::new(Signal::default());
        let thread = {
            let signal = signal.clone();
            std::thread::Builder::new()
                .name("feedmerge-checkpoint".to_owned())
                .spawn(move || run(&copier, &signal))
                .map_err(|e| format!("cannot start the checkpoint thread: {e}"))?
        };
        Ok(Checkpointer {
            signal,
            thread: Some(thread),
        })
    }

    /// A checkpointer without a thread, for a store that writes nothing
    /// ([`super::Store::open_read_only`]): a read-only connection copies no log.
    pub(super) fn idle() -> Checkpointer {
        Checkpointer {
            signal: Arc::default(),
            thread: None,
        }
    }

    /// Runs `f` on the writer connection, then wakes the checkpointer if `f` changed any row
    /// (a daemon that only reads, or checks `data_version` every few seconds, copies nothing).
    /// Never waits for the copy.
    pub(super) fn writing<T>(
        &self,
        conn: &mut Connection,
        f: impl FnOnce(&mut Connection) -> T,
    ) -> T {
        let before = conn.total_changes();
        let done = f(conn);
        if conn.total_changes() != before {
            self.wake();
        }
        done
    }

    fn wake(&self) {
        // Set already: the copy to come covers this commit too.
        if !self.signal.pending.swap(true, Ordering::AcqRel) {
            if let Some(thread) = &self.thread {
                self.signal.wakeups.fetch_add(1, Ordering::Relaxed);
                thread.thread().unpark();
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.signal.closing.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            // A panic in the thread was reported when it happened; nothing is left to undo.
            let _ = thread.join();
        }
    }
}

fn run(copier: &Copier, signal: &Signal) {
    let closing = || signal.closing.load(Ordering::Acquire);
    loop {
        // (`park` may also return for no reason: every wait is a loop.)
        while !signal.pending.load(Ordering::Acquire) {
            if closing() {
                return;
            }
            std::thread::park();
        }
        let until = Instant::now() + GATHER;
        while !closing() {
            match until.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => std::thread::park_timeout(left),
                _ => break,
            }
        }
        // Cleared before the copy: a commit from now on wakes the next one.
        signal.pending.store(false, Ordering::Release);
        let Some((log, copied)) = checkpoint(&copier.conn) else {
            continue;
        };
        // (If the log does not start over, the next copy tries again. Not when closing: the
        // store may be closed by a task that holds the writer.)
        let long = log >= copier.limits.restart_at;
        if long && !closing() && copier.start_over() {
            signal.restarts.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if copied == log && !signal.pending.load(Ordering::Acquire) {
            copier.cut_back();
        }
    }
}

/// The write-ahead log of the database at `path`.
fn log_path(path: &Path) -> PathBuf {
    let mut log = path.as_os_str().to_owned();
    log.push("-wal");
    log.into()
}

impl Copier {
    /// The writer and the reader; `None` once the store is gone.
    fn connections(&self) -> Option<(Arc<Guarded>, Arc<Guarded>)> {
        Some((self.writer.upgrade()?, self.reader.upgrade()?))
    }

    /// Makes the writer's next transaction start the log over; returns whether it will.
    fn start_over(&self) -> bool {
        let started = Instant::now();
        // What the copies wrote reaches the disk now, so that the copy with the writer held
        // has only the pages committed since to write and sync.
        if let Err(e) = self.file.sync_data() {
            tracing::warn!(error = %e, "cannot sync the database file");
            return false;
        }
        let Some((writer, reader)) = self.connections() else {
            return false;
        };
        // Between two of the writer's transactions (it waits for this one copy meanwhile),
        // and if possible between two reads: a read under way may hold on to an older state
        // of the database, which stops the copy short (the next copy tries again); reads that
        // begin after a complete copy read the database file alone. Not queued behind every
        // read waiting for the reader, with the writer held.
        let synced = Instant::now();
        let _writing = writer.blocking_lock();
        let _reading = (0..READER_TRIES).find_map(|_| {
            let guard = reader.try_lock().ok();
            if guard.is_none() {
                std::thread::sleep(Duration::from_millis(1));
            }
            guard
        });
        let held = Instant::now();
        let done = checkpoint(&self.conn);
        tracing::debug!(
            sync_ms = (synced - started).as_millis(),
            wait_ms = (held - synced).as_millis(),
            held_ms = held.elapsed().as_millis(),
            "log made to start over"
        );
        matches!(done, Some((log, copied)) if copied == log)
    }

    /// Cuts the log file back to nothing if it grew past [`Limits::keep_bytes`] (a large
    /// import) and the store is idle: the writer never shortens it, which would hold up a
    /// commit.
    fn cut_back(&self) {
        let size = std::fs::metadata(&self.log).map_or(0, |m| m.len());
        if size <= self.limits.keep_bytes {
            return;
        }
        let Some((writer, reader)) = self.connections() else {
            return;
        };
        // Only if neither is in use; and the connection waits for no lock: this holds up no
        // one.
        let (Ok(_writing), Ok(_reading)) = (writer.try_lock(), reader.try_lock()) else {
            return;
        };
        let busy = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                row.get::<_, i64>(0)
            });
        match busy {
            Ok(0) => tracing::debug!(bytes = size, "log file cut back"),
            // A reader of an older state: the next idle moment will do.
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot cut the log file back"),
        }
    }
}

/// A passive checkpoint: copies what no reader still needs from the log, without waiting.
/// Returns the pages in the log and the pages copied, or `None` if it failed.
fn checkpoint(conn: &Connection) -> Option<(i64, i64)> {
    let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    });
    match done {
        Ok((log, copied)) => {
            tracing::trace!(log, copied, "checkpoint");
            Some((log, copied))
        }
        // The log only grows meanwhile; the next commit wakes this thread again.
        Err(e) => {
            tracing::warn!(error = %e, "checkpoint failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database in WAL mode with a table `t`, in a temporary folder (kept while it lives),
    /// and its writer connection, which never copies the log by itself.
    fn database() -> (tempfile::TempDir, PathBuf, Arc<Guarded>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        (dir, path, Arc::new(Guarded::new(writer)))
    }

    /// The checkpointer, and the reader connection it holds for a moment before the log
    /// starts over.
    fn start(path: &Path, writer: &Arc<Guarded>, limits: Limits) -> (Checkpointer, Arc<Guarded>) {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
        let reader = Arc::new(Guarded::new(
            Connection::open_with_flags(path, flags).unwrap(),
        ));
        let connections = (Arc::downgrade(writer), Arc::downgrade(&reader));
        let checkpointer = Checkpointer::start(path, connections, limits);
        (checkpointer.unwrap(), reader)
    }

    fn rows(writer: &Guarded) -> i64 {
        let count = "SELECT count(*) FROM t";
        writer
            .blocking_lock()
            .query_row(count, [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn writes_reach_the_database_file_while_it_is_open_and_reads_wake_nothing() {
        let (_dir, path, writer) = database();
        let size = || std::fs::metadata(&path).unwrap().len();
        let header = size();
        let (checkpointer, _reader) = start(&path, &writer, Limits::DEFAULT);
        let insert = |c: &mut Connection| c.execute("INSERT INTO t VALUES (zeroblob(300000))", []);

        // Only reading: nothing to copy, no wake-up.
        let count =
            |c: &mut Connection| c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0));
        assert_eq!(
            checkpointer
                .writing(&mut writer.blocking_lock(), count)
                .unwrap(),
            0
        );
        std::thread::sleep(GATHER * 3);
        assert_eq!(size(), header, "the table is still only in the log");

        checkpointer
            .writing(&mut writer.blocking_lock(), insert)
            .unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while size() < 300_000 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(size() >= 300_000, "copied into the database file");

        // Closing copies what was committed since, without waiting for the gathering.
        checkpointer
            .writing(&mut writer.blocking_lock(), insert)
            .unwrap();
        drop(checkpointer);
        assert!(size() >= 600_000);
    }

    #[test]
    fn commits_while_it_gathers_wake_the_thread_once() {
        // Commits within one gathering, as many as fit in half of it (a loaded machine fits
        // fewer); tried again on a fresh database when not even two fit.
        for _attempt in 0..5 {
            let (_dir, path, writer) = database();
            let (checkpointer, _reader) = start(&path, &writer, Limits::DEFAULT);
            let insert = |c: &mut Connection| c.execute("INSERT INTO t VALUES (1)", []);
            let started = Instant::now();
            let mut commits = 0;
            while commits < 50 && started.elapsed() < GATHER / 2 {
                checkpointer
                    .writing(&mut writer.blocking_lock(), insert)
                    .unwrap();
                commits += 1;
            }
            if commits < 2 || started.elapsed() >= GATHER {
                continue;
            }
            assert_eq!(checkpointer.signal.wakeups.load(Ordering::Relaxed), 1);
            // After the copy, the next commit wakes it again.
            std::thread::sleep(GATHER * 3);
            checkpointer
                .writing(&mut writer.blocking_lock(), insert)
                .unwrap();
            assert_eq!(checkpointer.signal.wakeups.load(Ordering::Relaxed), 2);
            return;
        }
        panic!("not two commits within half a gathering in five tries");
    }

    /// Runs `f` in a thread of its own; fails if it has not returned within `limit` (a
    /// thread waiting forever for a lock is left behind).
    fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (done, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(f()));
        result.recv_timeout(limit).expect("still waiting")
    }

    /// Commits back to back for eight gatherings, and until the thread has made the log start
    /// over three times; checks that it did, and returns the commits.
    fn commit_until_the_log_starts_over(
        path: &Path,
        writer: &Guarded,
        checkpointer: &Checkpointer,
    ) -> usize {
        let insert = |c: &mut Connection| c.execute("INSERT INTO t VALUES (zeroblob(4000))", []);
        let restarts = || checkpointer.signal.restarts.load(Ordering::Relaxed);
        let until = Instant::now() + GATHER * 8;
        let mut commits = 0;
        while Instant::now() < until || restarts() < 3 {
            checkpointer
                .writing(&mut writer.blocking_lock(), insert)
                .unwrap();
            commits += 1;
            assert!(
                Instant::now() < until + GATHER * 40,
                "{} restarts",
                restarts()
            );
        }
        // The log's header counts the times it started over.
        let log = std::fs::read(log_path(path)).unwrap();
        let started_over = u32::from_be_bytes(log[12..16].try_into().unwrap());
        assert!(
            started_over >= 3,
            "the log started over {started_over} times"
        );
        // Never cut back (`keep_bytes`): the file is as long as the log ever was, and shorter
        // than all that was written to it, which started over at its beginning. Each commit
        // wrote at least two pages of 4 KiB to it (its row's, and the table's root). (How much
        // shorter depends on how soon the thread got its turn: on a loaded machine, less.)
        let written = commits * 2 * 4096;
        assert!(log.len() < written, "{} of {written} bytes", log.len());
        commits
    }

    const RESTART_SOON: Limits = Limits {
        restart_at: 64,
        keep_bytes: u64::MAX,
    };

    #[test]
    fn a_long_log_starts_over_while_commits_go_on() {
        let (_dir, path, writer) = database();
        let (checkpointer, _reader) = start(&path, &writer, RESTART_SOON);
        let commits = commit_until_the_log_starts_over(&path, &writer, &checkpointer);
        drop(checkpointer);
        assert_eq!(rows(&writer), i64::try_from(commits).unwrap());
    }

    /// A reader taken for long (a rendering, say) neither stops the log from starting over
    /// nor keeps the writer held while the checkpointer waits for it.
    #[test]
    fn a_long_log_starts_over_while_the_reader_is_taken() {
        let (_dir, path, writer) = database();
        let (checkpointer, reader) = start(&path, &writer, RESTART_SOON);
        let _reading = reader.clone().try_lock_owned().unwrap();
        within(Duration::from_secs(30), move || {
            commit_until_the_log_starts_over(&path, &writer, &checkpointer)
        });
    }

    /// A store closed by a task that holds the writer (a write whose future was dropped
    /// holds the last handle to the checkpointer) closes: the last copy does not wait for
    /// the writer to make the log start over.
    #[test]
    fn closing_with_the_writer_taken_does_not_wait_for_it() {
        let (_dir, path, writer) = database();
        let (checkpointer, _reader) = start(
            &path,
            &writer,
            Limits {
                restart_at: 1,
                keep_bytes: u64::MAX,
            },
        );
        let insert = |c: &mut Connection| c.execute("INSERT INTO t VALUES (1)", []);
        let mut held = writer.clone().try_lock_owned().unwrap();
        checkpointer.writing(&mut held, insert).unwrap();
        within(Duration::from_secs(10), move || {
            drop(checkpointer);
            drop(held);
        });
        assert_eq!(rows(&writer), 1);
    }

    /// Cutting the log back needs SQLite's write lock; another process holding it (a
    /// `poll-once` beside the daemon) makes the checkpointer give up at once, not hold the
    /// store's writer while it waits.
    #[test]
    fn cutting_the_log_back_waits_for_no_other_process() {
        let (_dir, path, writer) = database();
        let limits = Limits {
            restart_at: i64::MAX,
            keep_bytes: 100_000,
        };
        let (checkpointer, _reader) = start(&path, &writer, limits);
        let insert = |c: &mut Connection| c.execute("INSERT INTO t VALUES (zeroblob(300000))", []);
        checkpointer
            .writing(&mut writer.blocking_lock(), insert)
            .unwrap();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        // The copy after the gathering is complete, and the store idle: the cut-back is tried.
        std::thread::sleep(GATHER * 2);
        let until = Instant::now() + Duration::from_secs(1);
        let free = loop {
            if writer.try_lock().is_ok() {
                break true;
            }
            if Instant::now() > until {
                break false;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(free, "the writer is held while another process writes");
        other.execute_batch("COMMIT").unwrap();
    }

    #[test]
    fn an_idle_store_cuts_a_long_log_file_back() {
        let (_dir, path, writer) = database();
        let limits = Limits {
            restart_at: i64::MAX,
            keep_bytes: 100_000,
        };
        let (checkpointer, _reader) = start(&path, &writer, limits);
        // One commit, so that no copy can come between its rows.
        let insert = |c: &mut Connection| {
            let row = "INSERT INTO t VALUES (zeroblob(300000));";
            c.execute_batch(&format!("BEGIN; {row} {row} {row} COMMIT;"))
        };
        checkpointer
            .writing(&mut writer.blocking_lock(), insert)
            .unwrap();
        let size = || std::fs::metadata(log_path(&path)).unwrap().len();
        assert!(size() > 900_000);
        // Copied after the gathering; nothing committed since: cut back.
        let until = Instant::now() + Duration::from_secs(10);
        while size() > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(size(), 0);
        assert_eq!(rows(&writer), 3);
        // A short log is left as it is.
        checkpointer
            .writing(&mut writer.blocking_lock(), |c| {
                c.execute("INSERT INTO t VALUES (1)", [])
            })
            .unwrap();
        std::thread::sleep(GATHER * 3);
        assert!(size() > 0);
    }
}
