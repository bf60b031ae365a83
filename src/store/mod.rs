//! Storage: SQLite through rusqlite, in WAL mode. One writer connection and one reader
//! connection, each taken asynchronously and then used inside `spawn_blocking`, so async code
//! never waits on SQLite, a task waiting for a connection holds no thread, and serving never
//! waits for a poll's write. Polls are written in group commits
//! (`feeds::record_poll`); the near-duplicate index lives in memory (`bands`); a third
//! connection copies the log into the database file in a thread of its own (`checkpoint`);
//! upkeep's long reads open a read-only connection of their own for each run
//! (`Store::read_apart`).

mod articles;
pub mod backup;
mod bands;
mod checkpoint;
mod feeds;
mod icons;
mod items;
pub mod migrations;
mod retention;
mod websub;

use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OpenFlags};

pub use articles::{ArticleResult, PendingArticle};
pub use feeds::{FeedChange, FeedCounts, FeedState, FeedStatus, PollRecord, PollResult};
pub use icons::{IconCheck, IconFeed, IconSite, icon_hash};
pub use items::{
    JudgeCopy, Merge, NearCandidate, NearCheck, NearLookup, NearProbe, SaveCounts, Selection,
};
pub use retention::{RetentionPolicy, RetentionReport};

/// How long a connection waits for a lock held by another process (a `render` beside the daemon).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection: more than either connection uses, so that none
/// is compiled again while polls are stored (rusqlite's default keeps 16).
const STATEMENT_CACHE: usize = 32;

/// Mode of a database folder feedmerge creates: the database holds feed URLs, which may carry
/// tokens, so only its owner may look inside.
pub const DIR_MODE: u32 = 0o700;
/// Mode of a database file feedmerge creates; SQLite gives its `-wal` and `-shm` files the
/// same.
pub const FILE_MODE: u32 = 0o600;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file or its folder cannot be opened or created.
    #[error("cannot open database {path}: {reason}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What went wrong, with a hint.
        reason: String,
    },
    /// The database was written by a newer feedmerge.
    #[error(
        "database schema version {found} is newer than this feedmerge supports ({supported}); upgrade feedmerge or point [storage] path at another file"
    )]
    NewerSchema {
        /// `user_version` found in the file.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// The database file was removed, or another file put in its place, while open: what is
    /// written now would be lost, so the store writes nothing more.
    #[error("database file {path} was {what} while feedmerge had it open")]
    FileLost {
        /// The database file.
        path: PathBuf,
        /// `removed` or `replaced by another file`.
        what: &'static str,
    },
    /// A read-only command found no database: nothing has been stored yet.
    #[error("no database at {} yet: start the daemon or run poll-once first", path.display())]
    Missing {
        /// The database file looked for.
        path: PathBuf,
    },
    /// A read-only command found a database written by an older feedmerge, which only a
    /// command that writes may migrate.
    #[error(
        "database schema version {found} is older than this feedmerge's ({supported}); start the daemon or run poll-once to upgrade it"
    )]
    OlderSchema {
        /// `user_version` found in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// A write was asked of a store opened read-only ([`Store::open_read_only`]).
    #[error("database {} is open read-only", path.display())]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// Any other SQLite error.
    #[error("database error: {}", hint(.0))]
    Sqlite(#[from] rusqlite::Error),
    /// The blocking task running the query panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(tokio::task::JoinError),
    /// The writer ended without answering a poll it had taken (it panicked writing the
    /// poll's batch).
    #[error("database task failed: the poll's write was lost")]
    WriteLost,
}

/// A handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    writer: Shared,
    reader: Shared,
    /// Polls waiting to be written together (see [`Store::record_poll`]).
    pending_polls: Arc<feeds::PendingPolls>,
    /// Near-duplicate candidates by LSH band. Locked after a connection, never before.
    bands: Arc<Mutex<bands::BandIndex>>,
    /// Copies the log into the database file after commits.
    checkpointer: Arc<checkpoint::Checkpointer>,
    path: PathBuf,
    /// Bumped by every write that changes what the merged feed shows.
    version: Arc<AtomicU64>,
    /// The writer connection's `PRAGMA data_version` when last checked.
    external: Arc<AtomicI64>,
    /// The file opened: device and inode, to notice it being removed or replaced.
    identity: FileIdentity,
    /// Set once the file is found removed or replaced (to which of the two); writes are
    /// refused from then on.
    lost: Arc<OnceLock<&'static str>>,
    /// Opened by [`Store::open_read_only`]: every write is refused.
    read_only: bool,
}

/// Which file a path named when the store opened it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    fn of(meta: &std::fs::Metadata) -> Self {
        FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it.
    ///
    /// # Errors
    /// [`StoreError::Open`] naming the path when the file or folder is unusable,
    /// [`StoreError::NewerSchema`] for a database from a newer version.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |reason: String| StoreError::Open {
            path: path.to_owned(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Only folders created here get the mode; an existing one is the owner's choice.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir)
                .map_err(|e| open_err(format!("cannot create folder {}: {e}", dir.display())))?;
        }
        // Created before SQLite opens it, which would use 0644 less the umask.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(open_err(format!("cannot create the file: {e}"))),
        }
        let mut writer = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        let identity = std::fs::metadata(path)
            .map(|m| FileIdentity::of(&m))
            .map_err(|e| open_err(e.to_string()))?;
        configure(&writer).map_err(|e| open_err(hint(&e)))?;
        migrations::migrate(&mut writer).map_err(|e| match e {
            StoreError::Sqlite(e) => open_err(hint(&e)),
            other => other,
        })?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_err(e.to_string()))?;
        reader.busy_timeout(BUSY_TIMEOUT)?;
        reader.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let data_version: i64 = writer.pragma_query_value(None, "data_version", |r| r.get(0))?;
        let writer = Arc::new(tokio::sync::Mutex::new(writer));
        let reader = Arc::new(tokio::sync::Mutex::new(reader));
        let checkpointer = checkpoint::Checkpointer::start(
            path,
            (Arc::downgrade(&writer), Arc::downgrade(&reader)),
            checkpoint::Limits::DEFAULT,
        )
        .map_err(open_err)?;
        Ok(Store {
            writer,
            reader,
            pending_polls: Arc::default(),
            bands: Arc::default(),
            checkpointer: Arc::new(checkpointer),
            path: path.to_owned(),
            version: Arc::new(AtomicU64::new(1)),
            external: Arc::new(AtomicI64::new(data_version)),
            identity,
            lost: Arc::default(),
            read_only: false,
        })
    }

    /// Opens the database at `path` for reading only, for the commands that only show what
    /// is stored (`status`, `render`, `merges`): nothing is created, migrated or written
    /// (`SQLITE_OPEN_READ_ONLY`, and every write method answers [`StoreError::ReadOnly`]).
    /// In WAL mode it reads beside a running daemon without blocking it, and sees every poll
    /// committed before each read.
    ///
    /// # Errors
    /// [`StoreError::Missing`] when there is no database at `path` (or an empty file, which
    /// the daemon creates before its first migration), [`StoreError::OlderSchema`] and
    /// [`StoreError::NewerSchema`] for a database of another version, [`StoreError::Open`]
    /// naming the path when it cannot be read.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let (reader, identity) = open_reader(path)?;
        let data_version: i64 = reader.pragma_query_value(None, "data_version", |r| r.get(0))?;
        // No writer: every write is refused before it would need one; the slot holds the
        // reader, so that the fields stay what they are for a writable store.
        let reader = Arc::new(tokio::sync::Mutex::new(reader));
        Ok(Store {
            writer: reader.clone(),
            reader,
            pending_polls: Arc::default(),
            bands: Arc::default(),
            checkpointer: Arc::new(checkpoint::Checkpointer::idle()),
            path: path.to_owned(),
            version: Arc::new(AtomicU64::new(1)),
            external: Arc::new(AtomicI64::new(data_version)),
            identity,
            lost: Arc::default(),
            read_only: true,
        })
    }

    /// Whether the store was opened by [`Store::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Checks that the path still names the file opened. Once it does not (removed, or
    /// another file in its place), every later write fails with the same error: SQLite would
    /// go on writing into the file it holds open, and what it wrote would be gone with it.
    ///
    /// # Errors
    /// [`StoreError::FileLost`] naming the path.
    pub fn check_file(&self) -> Result<(), StoreError> {
        self.refuse_if_lost()?;
        let what = match std::fs::metadata(&self.path) {
            Ok(meta) if FileIdentity::of(&meta) == self.identity => return Ok(()),
            Ok(_) => "replaced by another file",
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "removed",
            // Unreadable for another reason (a folder's permissions changed): the file may
            // well be there; not a reason to stop.
            Err(_) => return Ok(()),
        };
        // The first finding stands: a file removed, then created anew, was removed.
        let what = *self.lost.get_or_init(|| what);
        Err(StoreError::FileLost {
            path: self.path.clone(),
            what,
        })
    }

    /// [`StoreError::ReadOnly`] for a read-only store, else [`Store::refuse_if_lost`]: what
    /// every write checks first.
    fn refuse_writes(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
            });
        }
        self.refuse_if_lost()
    }

    /// [`StoreError::FileLost`] once [`Store::check_file`] found the file gone.
    fn refuse_if_lost(&self) -> Result<(), StoreError> {
        match self.lost.get() {
            Some(&what) => Err(StoreError::FileLost {
                path: self.path.clone(),
                what,
            }),
            None => Ok(()),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A number that changes whenever the merged feed's content may have changed.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Marks the data as changed, so that the next request renders the merged feed anew.
    pub fn bump(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// Holds the writer connection until the returned guard is dropped: every write waits
    /// meanwhile, and polls queue (to be written together once it is free). For tests that
    /// need polls to reach the writer in a given order.
    pub async fn hold_writer(&self) -> WriterHeld {
        WriterHeld {
            _guard: self.writer.clone().lock_owned().await,
        }
    }

    /// Runs `f` on the writer connection in a blocking thread.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.refuse_writes()?;
        let checkpointer = self.checkpointer.clone();
        run_blocking(self.writer.clone(), move |conn| {
            checkpointer.writing(conn, f)
        })
        .await
    }

    /// Runs `f` on the reader connection in a blocking thread.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        run_blocking(self.reader.clone(), f).await
    }

    /// Runs `f` in a blocking thread on a read-only connection opened for it and closed
    /// after: for upkeep's long reads (retention's check scans an index of every item), which
    /// on the one reader connection would make every request wait behind them. Opening one
    /// costs about a millisecond and keeps no page cache between runs.
    async fn read_apart<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.refuse_if_lost()?;
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            // The path could name another file by now, or none: never read another, and say
            // what happened to this one.
            let mut conn = match open_reader(&store.path) {
                Ok((conn, identity)) if identity == store.identity => conn,
                Ok(_) | Err(StoreError::Missing { .. }) => {
                    store.check_file()?;
                    // Replaced and back again between the two looks: the next run will tell.
                    return Err(StoreError::FileLost {
                        path: store.path.clone(),
                        what: "replaced by another file",
                    });
                }
                Err(e) => return Err(e),
            };
            f(&mut conn)
        })
        .await
        .map_err(StoreError::Task)?
    }

    /// Notices writes made by other processes (a `feedmerge poll-once` beside the daemon) and
    /// bumps [`Store::version`] if there were any since the last call. SQLite's `data_version`
    /// on the writer connection changes only when another connection commits.
    ///
    /// # Errors
    /// When the database cannot be queried.
    pub async fn notice_external_writes(&self) -> Result<bool, StoreError> {
        let last_seen = self.external.clone();
        let changed = self
            .write(move |c| {
                let now: i64 = c.pragma_query_value(None, "data_version", |r| r.get(0))?;
                Ok(last_seen.swap(now, Ordering::AcqRel) != now)
            })
            .await?;
        if changed {
            self.bump();
        }
        Ok(changed)
    }

    /// Caps the database file at about `bytes` (`[storage] max_size`); `None` lifts the cap.
    /// Writes beyond it fail like a full disk, and succeed again once there is room.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn set_max_size(&self, bytes: Option<u64>) -> Result<(), StoreError> {
        self.write(move |c| {
            let page: i64 = c.pragma_query_value(None, "page_size", |r| r.get(0))?;
            // SQLite's own ceiling when there is no cap.
            let pages: i64 = bytes.map_or(4_294_967_294, |b| {
                (b / page.max(512) as u64).clamp(1, 4_294_967_294) as i64
            });
            c.pragma_update(None, "max_page_count", pages)?;
            Ok(())
        })
        .await
    }

    /// Checks that the database answers and that its file is still there (for health
    /// checks).
    ///
    /// # Errors
    /// When the database cannot be queried, or [`Store::check_file`] fails.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.check_file()?;
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }
}

/// The writer connection, held by [`Store::hold_writer`] until dropped.
pub struct WriterHeld {
    _guard: tokio::sync::OwnedMutexGuard<Connection>,
}

impl std::fmt::Debug for WriterHeld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriterHeld")
    }
}

/// A read-only connection to the existing feedmerge database at `path`, of this build's
/// schema version, and the file it opened ([`Store::open_read_only`] says which errors).
fn open_reader(path: &Path) -> Result<(Connection, FileIdentity), StoreError> {
    let open_err = |reason: String| StoreError::Open {
        path: path.to_owned(),
        reason,
    };
    let missing = || StoreError::Missing {
        path: path.to_owned(),
    };
    let identity = match std::fs::metadata(path) {
        Ok(meta) => FileIdentity::of(&meta),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => return Err(open_err(e.to_string())),
    };
    let reader = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| open_err(hint(&e)))?;
    reader
        .busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| open_err(hint(&e)))?;
    reader.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let (found, tables) = reader
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version),
                    (SELECT COUNT(*) FROM sqlite_schema)",
            [],
            |r| Ok((r.get::<_, u32>(0)?, r.get::<_, i64>(1)?)),
        )
        .map_err(|e| open_err(hint(&e)))?;
    let supported = migrations::SCHEMA_VERSION;
    match found {
        0 if tables == 0 => Err(missing()),
        0 => Err(open_err("the file is not a feedmerge database".to_owned())),
        v if v > supported => Err(StoreError::NewerSchema { found, supported }),
        v if v < supported => Err(StoreError::OlderSchema { found, supported }),
        _ => Ok((reader, identity)),
    }
}

/// A connection, taken by one task at a time: asynchronously by `run_blocking`, in a blocking
/// thread by the poll writer (`feeds::drain`) and, for a moment before the log starts over,
/// by the checkpointer.
type Shared = Arc<Guarded>;

/// A connection behind its lock.
type Guarded = tokio::sync::Mutex<Connection>;

/// Takes `conn`, then runs `f` on it in a blocking thread. The wait for the connection is
/// asynchronous: were it taken inside the thread, every task queued behind the writer would
/// park a thread of its own (a first import of 5000 feeds ran 28 threads, each with its stack
/// and share of the allocator's free lists), and a read could wait for a free thread behind
/// them.
async fn run_blocking<T, F>(conn: Shared, f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
{
    let mut conn = conn.lock_owned().await;
    tokio::task::spawn_blocking(move || f(&mut conn))
        .await
        .map_err(StoreError::Task)?
}

/// A list as a JSON array, the one way a query takes a list (`IN (SELECT value FROM
/// json_each(?))`): one statement, cached, whatever the list's length.
fn json_list<T: serde::Serialize>(values: &[T]) -> String {
    // Numbers and strings always serialise.
    serde_json::to_string(values).unwrap_or_else(|_| "[]".to_owned())
}

/// Locks the poll queue or the band index, poisoned or not: the queue is only pushed to and
/// taken whole, and the index only changes in whole merges, so a panic cannot leave either
/// half-changed. (A connection's lock does not poison: after a query that panicked mid-way,
/// SQLite has rolled back whatever it had open, and the connection is sound.)
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Settings of the writer connection (the read-only reader needs none of them).
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // 8 KiB pages: an article (a few KB of HTML) mostly fits in its row's page, and the log
    // takes half as many frames (two writes each) for the same bytes: a first import of 1000
    // feeds spends about a tenth less time in the kernel. Set before anything is written, like
    // the next.
    conn.pragma_update(None, "page_size", 8192)?;
    // Lets retention give free pages back to the file system (PRAGMA incremental_vacuum).
    // It takes effect only in a new, empty database, which is when this first runs.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    // WAL: readers never block the writer. NORMAL: a commit survives a process crash; only a
    // power loss may lose the last transactions, never corrupt the file.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Statement journals (a statement that changes several rows) and temporary b-trees stay
    // in memory instead of spilling to a temporary file.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // The log is copied into the database file, and made to start over, by `checkpoint`; the
    // writer does it itself only if that cannot. The writer leaves the log file's size alone
    // (SQLite's default): `checkpoint` cuts it back when the store is idle.
    conn.pragma_update(
        None,
        "wal_autocheckpoint",
        checkpoint::WRITER_AUTOCHECKPOINT,
    )?;
    Ok(())
}

/// An error message with advice for the usual causes.
fn hint(e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode::*;
    let advice = match e.sqlite_error_code() {
        Some(ReadOnly | CannotOpen | PermissionDenied) => {
            " (check that the file and its folder are writable by this user)"
        }
        Some(DatabaseBusy | DatabaseLocked) => " (another process holds a lock on it)",
        Some(NotADatabase | DatabaseCorrupt) => " (the file is not a feedmerge database)",
        Some(DiskFull) => {
            " (the disk, or [storage] max_size, is full: nothing stored is lost; polling resumes when there is room)"
        }
        _ => "",
    };
    format!("{e}{advice}")
}

/// Unix seconds for SQLite.
fn to_secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// Unix seconds from SQLite; out-of-range values read as the epoch.
fn from_secs(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(s, 0).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tasks waiting for a connection hold no thread: with a single blocking thread, a read
    /// still answers while the writer is taken and writes queue behind it.
    #[test]
    fn tasks_waiting_for_the_writer_hold_no_thread() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&dir.path().join("t.db")).unwrap();
            let held = store.writer.clone().lock_owned().await;
            let writes: Vec<_> = (0..4)
                .map(|_| {
                    let store = store.clone();
                    tokio::spawn(async move { store.notice_external_writes().await })
                })
                .collect();
            // Let the writes start and queue.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let read = tokio::time::timeout(Duration::from_secs(10), store.ping()).await;
            assert!(
                matches!(read, Ok(Ok(()))),
                "the read waited behind the writes"
            );
            drop(held);
            for write in writes {
                assert!(!write.await.unwrap().unwrap());
            }
        });
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// The modes are asked for at creation; the umask can only take bits away, so nothing
    /// for group or others is the test (root included: modes hold for it too).
    #[tokio::test]
    async fn a_database_it_creates_is_for_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/deeper/feedmerge.db");
        let store = Store::open(&path).unwrap();
        store.set_max_size(None).await.unwrap();
        for p in [
            path.clone(),
            path.with_extension("db-wal"),
            path.with_extension("db-shm"),
        ] {
            assert_eq!(mode(&p) & 0o077, 0, "{} is {:o}", p.display(), mode(&p));
            assert_eq!(mode(&p) & 0o600, 0o600, "{} is {:o}", p.display(), mode(&p));
        }
        for d in [dir.path().join("new"), dir.path().join("new/deeper")] {
            assert_eq!(mode(&d), DIR_MODE, "{} is {:o}", d.display(), mode(&d));
        }
    }

    #[test]
    fn an_existing_folder_and_file_keep_their_modes() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("shared");
        std::fs::create_dir(&folder).unwrap();
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o750)).unwrap();
        let path = folder.join("feedmerge.db");
        drop(Store::open(&path).unwrap());
        assert_eq!(mode(&folder), 0o750);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        drop(Store::open(&path).unwrap());
        assert_eq!(mode(&path), 0o640);
    }

    #[tokio::test]
    async fn a_removed_or_replaced_file_is_noticed_and_never_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feedmerge.db");
        let store = Store::open(&path).unwrap();
        store.check_file().unwrap();
        store.ping().await.unwrap();
        std::fs::remove_file(&path).unwrap();
        let e = store.ping().await.unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "database file {} was removed while feedmerge had it open",
                path.display()
            )
        );
        // Every write is refused from now on, even once a file is back at the path.
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(
            store.notice_external_writes().await,
            Err(StoreError::FileLost { .. })
        ));

        let other = dir.path().join("other.db");
        let store = Store::open(&other).unwrap();
        std::fs::rename(&other, dir.path().join("moved.db")).unwrap();
        std::fs::write(&other, b"").unwrap();
        let e = store.check_file().unwrap_err();
        assert!(
            e.to_string().contains("was replaced by another file"),
            "{e}"
        );
    }
}
