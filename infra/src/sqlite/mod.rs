//! The embedded SQLite event store: one file, WAL, zero setup.
//!
//! Writes go through a single dedicated connection (SQLite has one writer at
//! a time anyway), each batch in one `BEGIN IMMEDIATE` transaction with
//! multi-row inserts; reads go through a separate pool of read-only
//! connections, which WAL lets run alongside the writer. The schema lives in
//! `migrations/*.sql` beside this file, numbered, and is migrated at open
//! (`migrations.rs`).

mod append;
pub mod checkpointer;
pub mod migrations;
pub mod pool;
mod reader;
mod receipts;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::hash::Hash;
use domain::store::{
    AppendRequest, AppendResult, EventStore, KeptAnswer, PendingEffect, RecordedEvent, StoreError,
    StoredAnswer, StreamId,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use uuid::Uuid;

/// The file name [`SqliteEventStore::open_in_dir`] uses.
pub const EVENTS_FILE: &str = "events.db";

pub use pool::{Pooled, ReadPool};

pub(crate) use crate::columns::{from_i64, to_i64};
use crate::head::Head;

/// How long a connection waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an append may queue for the single writer connection.
const WRITER_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(300);

/// Read-only connections kept for `read_stream`/`read_all`/...
const READERS: u32 = 4;

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
    writer: SqlitePool,
    reader: SqlitePool,
    /// The highest committed global position, for [`EventStore::wait_for`].
    head: Arc<Head>,
    /// Event pages are read through rusqlite (see `reader`).
    pages: reader::Reader,
    /// Keeps the checkpoint thread running while the store lives.
    _checkpoints: Arc<()>,
}

impl SqliteEventStore {
    /// Opens (creating if missing) the event store in the file at `path`,
    /// switches it to WAL and applies the schema.
    ///
    /// Fails with [`StoreError::Backend`] if the file cannot be created or
    /// opened as a SQLite database, or the schema cannot be applied.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let base = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(false);

        let writer_options = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            // 64 MiB of page cache: the indexes of a large store stay hot.
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "MEMORY")
            // Events are ~0.5 KiB: 8 KiB pages mean fewer B-tree pages to
            // touch per batch (faster appends than 4 KiB). Takes effect
            // only when the file is created.
            .page_size(8192)
            // Checkpoints run off the commit path (see `checkpointer`).
            .pragma("wal_autocheckpoint", "0");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(WRITER_ACQUIRE_TIMEOUT)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(writer_options)
            .await
            .map_err(backend(&format!("opening {}", path.display())))?;

        let file = path.to_path_buf();
        tokio::task::spawn_blocking(move || -> Result<i32, StoreError> {
            let opening = |e| StoreError::backend(format!("sqlite: opening {}", file.display()), e);
            let conn = rusqlite::Connection::open(&file).map_err(opening)?;
            conn.busy_timeout(BUSY_TIMEOUT).map_err(opening)?;
            migrations::migrate(&conn, "event_store", MIGRATIONS)
                .map_err(|e| StoreError::backend("sqlite: migrating the event store's tables", e))
        })
        .await
        .map_err(|e| StoreError::backend("sqlite: migration task", e))??;

        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
            .fetch_one(&writer)
            .await
            .map_err(backend("reading the head position"))?;

        // Readers open after the writer has created the file and switched it
        // to WAL, so read-only connections find the -wal/-shm files in place.
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(base.read_only(true))
            .await
            .map_err(backend(&format!("opening {} for reading", path.display())))?;

        let checkpoints = Arc::new(());
        checkpointer::spawn(path, Arc::downgrade(&checkpoints));
        Ok(SqliteEventStore {
            writer,
            reader,
            _checkpoints: checkpoints,
            pages: reader::Reader::new(path),
            head: Arc::new(Head::new(from_i64(head))),
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

    /// Closes both pools, waiting for connections in use to be returned.
    /// Appends or reads after this fail with [`StoreError::Backend`].
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Runs a write on its own task: once started, an append completes (and
    /// wakes `wait_for` callers) even if the caller stops waiting for it, so
    /// a commit never goes unannounced. A panic in the write path resumes in
    /// the caller.
    async fn write<T, Fut>(&self, write: impl FnOnce(SqlitePool) -> Fut) -> Result<T, StoreError>
    where
        T: Send + 'static,
        Fut: Future<Output = (T, Option<u64>)> + Send + 'static,
    {
        let head = Arc::clone(&self.head);
        let write = write(self.writer.clone());
        let task = tokio::spawn(async move {
            let (outcome, new_head) = write.await;
            if let Some(position) = new_head {
                head.advance(position);
            }
            outcome
        });
        match task.await {
            Ok(outcome) => Ok(outcome),
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
            .write(|writer| async move { append::append_each(&writer, &batch).await })
            .await;
        outcome.unwrap_or_else(|e| vec![Err(e); requests])
    }

    async fn append_all(&self, batch: Vec<AppendRequest>) -> Result<Vec<AppendResult>, StoreError> {
        self.write(|writer| async move {
            match append::append_all(&writer, &batch).await {
                Ok((results, head)) => (Ok(results), head),
                Err(e) => (Err(e), None),
            }
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
        self.pages.read_stream(stream, from_version, limit).await
    }

    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.pages.read_all(from_position, limit).await
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM streams WHERE stream_id = ?")
                .bind(stream.as_str())
                .fetch_optional(&self.reader)
                .await
                .map_err(backend(&format!("reading the version of {stream}")))?;
        Ok(version.map_or(0, from_i64))
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
            .fetch_one(&self.reader)
            .await
            .map_err(backend("reading the head position"))?;
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
        receipts::find_answer(&self.reader, principal, key, since).await
    }

    async fn keep_answer(&self, answer: KeptAnswer) -> Result<bool, StoreError> {
        receipts::keep_answer(&self.writer, &answer).await
    }

    async fn forget_answers(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        receipts::forget_answers(&self.writer, before).await
    }

    async fn pending_effects(&self) -> Result<Vec<PendingEffect>, StoreError> {
        receipts::pending_effects(&self.reader).await
    }

    async fn clear_effects(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        receipts::clear_effects(&self.writer, ids).await
    }

    async fn wait_for(&self, position: u64, timeout: Duration) -> Result<u64, StoreError> {
        Ok(self.head.wait_for(position, timeout).await)
    }
}

/// Maps a sqlx error to [`StoreError::Backend`], saying what was being done.
pub(crate) fn backend(context: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| StoreError::backend(format!("sqlite: {context}"), e)
}

/// Reads a 32-byte hash column.
pub(crate) fn hash_from(bytes: &[u8], column: &str) -> Result<Hash, StoreError> {
    crate::columns::hash_from(bytes, "sqlite", column)
}

/// Reads a 16-byte event id column.
pub(crate) fn uuid_from(bytes: &[u8]) -> Result<Uuid, StoreError> {
    crate::columns::uuid_from(bytes, "sqlite")
}
