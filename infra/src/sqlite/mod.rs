//! The embedded SQLite event store: one file, WAL, zero setup, through
//! rusqlite only.
//!
//! Writes go through a single read-write connection (SQLite has one writer
//! at a time anyway), each batch in one `BEGIN IMMEDIATE` transaction with
//! multi-row inserts, on a blocking thread; reads go through a pool of
//! read-only connections ([`ReadPool`]), which WAL lets run alongside the
//! writer. The schema lives in `migrations/*.sql` beside this file,
//! numbered, and is migrated at open (`migrations.rs`).

mod append;
pub mod bulk;
pub mod checkpointer;
pub mod migrations;
pub mod pool;
mod reader;
mod receipts;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::hash::Hash;
use domain::store::{
    AppendRequest, AppendResult, EventStore, KeptAnswer, PendingEffect, RecordedEvent, StoreError,
    StoredAnswer, StreamId,
};
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension};
use uuid::Uuid;

/// The file name [`SqliteEventStore::open_in_dir`] uses.
pub const EVENTS_FILE: &str = "events.db";

pub use pool::{Pooled, ReadPool};

pub(crate) use crate::columns::{from_i64, to_i64};
use crate::head::Head;

/// How long a connection waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The event store's tables, migrated at open (`migrations`): each file
/// beside this module, in order.
const MIGRATIONS: &[migrations::Migration] = &[
    (1, "events", include_str!("migrations/0001_events.sql")),
    (2, "streams", include_str!("migrations/0002_streams.sql")),
    (3, "receipts", include_str!("migrations/0003_receipts.sql")),
];

/// An [`EventStore`] kept in one SQLite file (WAL journal, `synchronous=FULL`,
/// so a returned append has reached the disk).
///
/// Appends from any number of tasks are serialized through one writer
/// connection; each batch is one transaction. Reads use a separate pool of
/// read-only connections and never block the writer.
///
/// Fails with [`StoreError::Backend`] when the file cannot be opened or
/// created, is not a SQLite database, is locked by another process for longer
/// than the busy timeout, or the disk fails; the typed errors
/// ([`StoreError::WrongExpectedVersion`], [`StoreError::DuplicateEventId`],
/// [`StoreError::EmptyAppend`]) are as the port describes.
#[derive(Debug)]
pub struct SqliteEventStore {
    /// The one read-write connection; `None` once closed.
    writer: Arc<Mutex<Option<Connection>>>,
    path: PathBuf,
    /// The highest committed global position, for [`EventStore::wait_for`].
    head: Arc<Head>,
    /// Read-only connections.
    reader: reader::Reader,
    /// Keeps the checkpoint thread running while the store lives.
    _checkpoints: Arc<()>,
}

/// The writer connection, configured: WAL, `synchronous=FULL`, 8 KiB pages
/// for a new file (events are ~0.5 KiB: fewer B-tree pages to touch per
/// batch than with 4 KiB), 64 MiB of page cache (the indexes of a large
/// store stay hot), checkpoints off the commit path (`checkpointer`).
fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Takes effect only before the file's first table (a new file).
    conn.pragma_update(None, "page_size", 8192)?;
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", checkpointer::WAL_SIZE_LIMIT)?;
    conn.pragma_update(None, "foreign_keys", false)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteEventStore {
    /// Opens (creating if missing) the event store in the file at `path`,
    /// switches it to WAL and migrates its tables.
    ///
    /// Fails with [`StoreError::Backend`] if the file cannot be created or
    /// opened as a SQLite database, or its tables cannot be migrated (or
    /// are newer than this binary knows).
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let file = path.to_path_buf();
        let (writer, head) = tokio::task::spawn_blocking(move || {
            let opening = |e| StoreError::backend(format!("sqlite: opening {}", file.display()), e);
            let conn = open_writer(&file).map_err(opening)?;
            migrations::migrate(&conn, "event_store", MIGRATIONS).map_err(|e| {
                StoreError::backend("sqlite: migrating the event store's tables", e)
            })?;
            let head: i64 = conn
                .query_row(
                    "SELECT COALESCE(MAX(global_position), 0) FROM events",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| StoreError::backend("sqlite: reading the head position", e))?;
            Ok::<_, StoreError>((conn, head))
        })
        .await
        .map_err(|e| StoreError::backend("sqlite: opening task", e))??;

        // Readers open after the writer has created the file and switched it
        // to WAL, so read-only connections find the -wal/-shm files in place.
        let checkpoints = Arc::new(());
        checkpointer::spawn(path, Arc::downgrade(&checkpoints));
        Ok(SqliteEventStore {
            writer: Arc::new(Mutex::new(Some(writer))),
            path: path.to_path_buf(),
            head: Arc::new(Head::new(from_i64(head))),
            reader: reader::Reader::new(path),
            _checkpoints: checkpoints,
        })
    }

    /// Opens (creating if missing) the store in `data_dir`/[`EVENTS_FILE`],
    /// creating `data_dir` too.
    ///
    /// Fails with [`StoreError::Backend`] if the directory cannot be created,
    /// or as [`SqliteEventStore::open`].
    pub async fn open_in_dir(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::backend(format!("creating {}", data_dir.display()), e))?;
        Self::open(&data_dir.join(EVENTS_FILE)).await
    }

    /// Closes the writer, waiting for an append in progress to finish.
    /// Appends after this fail with [`StoreError::Backend`].
    pub async fn close(&self) {
        let writer = self.writer.clone();
        let _ = tokio::task::spawn_blocking(move || drop(writer.lock().take())).await;
    }

    /// Runs `write` with the writer connection on a blocking thread: once
    /// started, it completes (and raises the head) even if the caller
    /// stops waiting for it, so a commit never goes unannounced. A panic in
    /// the write path resumes in the caller.
    async fn write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&mut Connection) -> (T, Option<u64>) + Send + 'static,
    ) -> Result<T, StoreError> {
        let (writer, head) = (self.writer.clone(), self.head.clone());
        let path = self.path.clone();
        let task = tokio::task::spawn_blocking(move || {
            let mut guard = writer.lock();
            let conn = guard.as_mut().ok_or_else(|| {
                StoreError::backend_without_source(format!("sqlite: {} is closed", path.display()))
            })?;
            let (outcome, new_head) = write(conn);
            if let Some(position) = new_head {
                head.advance(position);
            }
            Ok(outcome)
        });
        match task.await {
            Ok(outcome) => outcome,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(StoreError::backend("sqlite: append task", e)),
        }
    }
}

#[async_trait]
impl EventStore for SqliteEventStore {
    async fn append_each(
        &self,
        batch: Vec<AppendRequest>,
    ) -> Vec<Result<AppendResult, StoreError>> {
        let requests = batch.len();
        let outcome = self
            .write(move |conn| append::append_each(conn, &batch))
            .await;
        outcome.unwrap_or_else(|e| vec![Err(e); requests])
    }

    async fn append_all(&self, batch: Vec<AppendRequest>) -> Result<Vec<AppendResult>, StoreError> {
        self.write(move |conn| match append::append_all(conn, &batch) {
            Ok((results, head)) => (Ok(results), head),
            Err(e) => (Err(e), None),
        })
        .await?
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.reader.read_stream(stream, from_version, limit).await
    }

    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.reader.read_all(from_position, limit).await
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
        let name = stream.to_string();
        let version: Option<i64> = self
            .reader
            .with(move |conn| {
                conn.prepare_cached("SELECT version FROM streams WHERE stream_id = ?1")
                    .and_then(|mut s| s.query_row([&name], |r| r.get(0)).optional())
                    .map_err(|e| {
                        StoreError::backend(format!("sqlite: reading the version of {name}"), e)
                    })
            })
            .await?;
        Ok(version.map_or(0, from_i64))
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let head: i64 = self
            .reader
            .with(|conn| {
                conn.prepare_cached("SELECT COALESCE(MAX(global_position), 0) FROM events")
                    .and_then(|mut s| s.query_row([], |r| r.get(0)))
                    .map_err(|e| StoreError::backend("sqlite: reading the head position", e))
            })
            .await?;
        let head = from_i64(head);
        // Another process may have appended to the same file.
        self.head.advance(head);
        Ok(head)
    }

    async fn find_answer(
        &self,
        principal: &[u8; 32],
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        // A reader's query starts a fresh read of the WAL: it sees every
        // commit, and waits for no append.
        let (principal, key) = (*principal, key.to_string());
        self.reader
            .with(move |conn| receipts::find_answer(conn, &principal, &key, since))
            .await
    }

    async fn keep_answer(&self, answer: KeptAnswer) -> Result<bool, StoreError> {
        self.write(move |conn| (receipts::keep_answer(conn, &answer), None))
            .await?
    }

    async fn forget_answers(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.write(move |conn| (receipts::forget_answers(conn, before), None))
            .await?
    }

    async fn pending_effects(&self) -> Result<Vec<PendingEffect>, StoreError> {
        self.reader.with(receipts::pending_effects).await
    }

    async fn clear_effects(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        let ids = ids.to_vec();
        self.write(move |conn| (receipts::clear_effects(conn, &ids), None))
            .await?
    }

    async fn wait_for(&self, position: u64, timeout: Duration) -> Result<u64, StoreError> {
        Ok(self.head.wait_for(position, timeout).await)
    }
}

/// Reads a 32-byte hash column.
pub(crate) fn hash_from(bytes: &[u8], column: &str) -> Result<Hash, StoreError> {
    crate::columns::hash_from(bytes, "sqlite", column)
}

/// Reads a 16-byte event id column.
pub(crate) fn uuid_from(bytes: &[u8]) -> Result<Uuid, StoreError> {
    crate::columns::uuid_from(bytes, "sqlite")
}
