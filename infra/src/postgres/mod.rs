//! The PostgreSQL event store: the shared server deployment, where several
//! rolebook processes append to and follow one log.
//!
//! **Positions never skipped.** With concurrent writers, a position taken
//! early from a sequence can commit after a later one, and a follower of
//! `read_all` that already read past it would never see it. This store
//! avoids that by serializing appends: each append transaction first takes
//! a transaction-scoped advisory lock of its schema
//! (`pg_advisory_xact_lock`), then assigns positions one above the largest
//! stored. The lock is released only after the commit is visible, so
//! positions commit in increasing order and gap-free, exactly as in the
//! SQLite store; a reader needs no snapshot arithmetic. The cost is one
//! append transaction at a time per schema, which the command service's
//! group commit (many commands per transaction) makes up for.
//!
//! **Followers wake on commit.** Each append sends `NOTIFY` with the new
//! head on a channel named after the schema, delivered at commit; every
//! store listens on it (`LISTEN`, reconnecting on its own), so `wait_for`
//! returns as soon as any process commits. A notification lost while the
//! listener reconnects is made up for by reading the head every
//! [`HEAD_POLL`].
//!
//! **Schema.** The tables live in one PostgreSQL schema (the connection's
//! `search_path`, `public` by default, or [`PostgresOptions::schema`]),
//! created and migrated at connect (`migrations.rs`).

mod append;
pub mod migrations;
mod receipts;
pub mod sealing_keys;

use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::hash::Hash;
use domain::store::{
    AppendRequest, AppendResult, EventStore, KeptAnswer, PendingEffect, RecordedEvent, StoreError,
    StoredAnswer, StreamId,
};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection as _, Row as _};
use uuid::Uuid;

use crate::columns::{from_i64, hash_from, to_i64};
use crate::head::Head;

/// How often `wait_for` reads the head itself, in case a notification was
/// lost while the listener reconnected.
pub const HEAD_POLL: Duration = Duration::from_millis(500);

/// How to reach the store.
/// How long a statement waits for a connection of the pool. While the
/// server cannot be reached the pool keeps trying to connect until then:
/// past it the caller gets [`sqlx::Error::PoolTimedOut`] (for the HTTP
/// API, 503 `store_unavailable`) rather than waiting for the request's
/// own timeout. Long enough for a connection to come free under load.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/database?...`
    pub url: String,
    /// The schema holding the tables (created if missing); `None`: the
    /// connection's `search_path` (`public` by default).
    pub schema: Option<String>,
    /// Connections kept open (one of them listens for commits).
    pub max_connections: u32,
    /// Attempts at reaching the server at connect, with backoff (0.5 s,
    /// 1 s, 2 s, ... up to 8 s) between them.
    pub connect_attempts: u32,
}

impl PostgresOptions {
    pub fn new(url: impl Into<String>) -> Self {
        PostgresOptions {
            url: url.into(),
            schema: None,
            max_connections: 10,
            connect_attempts: 6,
        }
    }

    /// In schema `schema` (letters, digits and `_` only).
    pub fn in_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }
}

/// `url` with its password written `***`, for messages.
/// Whether `e` says PostgreSQL could not be reached (rather than refused
/// what was asked): I/O, TLS, the pool timed out or closed, SQLSTATE 08xxx
/// (connection exceptions), 57Pxx (the server shutting down or not yet
/// accepting) or 53300 (too many connections). Trying again later may work.
pub fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            code.starts_with("08") || code.starts_with("57P") || code == "53300"
        }
        _ => false,
    }
}

/// Whether `e` says PostgreSQL's disk is full (SQLSTATE 53100).
pub fn is_disk_full(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("53100"))
}

pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(an unparsable database URL)".to_string(),
    }
}

/// An [`EventStore`] in a PostgreSQL schema (see the module doc).
///
/// Fails with [`StoreError::Backend`] when the server cannot be reached
/// (after retries at connect), refuses the statements, or holds a schema
/// newer than this binary knows; the typed errors
/// ([`StoreError::WrongExpectedVersion`], [`StoreError::DuplicateEventId`],
/// [`StoreError::EmptyAppend`]) are as the port describes.
#[derive(Debug)]
pub struct PostgresEventStore {
    pool: PgPool,
    /// The schema's advisory lock key (`hashtext` of its name).
    lock_key: i32,
    /// The channel commits are announced on.
    channel: String,
    head: Arc<Head>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for PostgresEventStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PostgresEventStore {
    /// Connects to the server at `url`, in the connection's default schema.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(PostgresOptions::new(url)).await
    }

    /// Connects (retrying with backoff while the server cannot be reached),
    /// creates the schema if asked and missing, migrates it, and starts
    /// listening for commits.
    ///
    /// Fails with [`StoreError::Backend`] naming the URL without its
    /// password when the server stays unreachable, the URL or schema name
    /// is invalid, or migrating fails.
    pub async fn connect_with(options: PostgresOptions) -> Result<Self, StoreError> {
        let shown = redacted(&options.url);
        let mut connect = PgConnectOptions::from_str(&options.url).map_err(|e| {
            StoreError::backend(format!("postgres: invalid database URL {shown}"), e)
        })?;
        if let Some(schema) = &options.schema {
            if schema.is_empty()
                || !schema
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(StoreError::backend_without_source(format!(
                    "postgres: invalid schema name {schema:?}: use lowercase letters, digits and _"
                )));
            }
            let mut conn = reach(&connect, &shown, options.connect_attempts).await?;
            sqlx::raw_sql(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&mut conn)
                .await
                .map_err(backend(&format!("creating schema {schema}")))?;
            let _ = conn.close().await;
            connect = connect.options([("search_path", schema.as_str())]);
        } else {
            reach(&connect, &shown, options.connect_attempts)
                .await?
                .close()
                .await
                .ok();
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .min_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(connect)
            .await
            .map_err(|e| StoreError::backend(format!("postgres: connecting to {shown}"), e))?;
        let lock_key: i32 = sqlx::query_scalar("SELECT hashtext(current_schema())")
            .fetch_one(&pool)
            .await
            .map_err(backend("reading the current schema"))?;
        migrations::migrate_event_store(&pool).await?;
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
            .fetch_one(&pool)
            .await
            .map_err(backend("reading the head position"))?;
        let head = Arc::new(Head::new(from_i64(head)));
        let channel = format!("rolebook_events_{:08x}", lock_key as u32);
        let listener = tokio::spawn(listen(pool.clone(), channel.clone(), Arc::downgrade(&head)));
        Ok(PostgresEventStore {
            pool,
            lock_key,
            channel,
            head,
            listener,
        })
    }

    /// The pool (for tests and tools that inspect the tables).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The store's own record of the log, read in one snapshot: the head
    /// position and each stream's version and last hash (what `replay
    /// verify` checks the events against).
    ///
    /// Fails with [`StoreError::Backend`] when the tables cannot be read.
    pub async fn stream_records(&self) -> Result<(u64, Vec<(StreamId, u64, Hash)>), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(backend("beginning a read of the stream records"))?;
        sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(backend("reading the stream records"))?;
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
            .fetch_one(&mut *tx)
            .await
            .map_err(backend("reading the head position"))?;
        let rows = sqlx::query("SELECT stream_id, version, last_hash FROM streams")
            .fetch_all(&mut *tx)
            .await
            .map_err(backend("reading the stream records"))?;
        let get = |e: sqlx::Error| StoreError::backend("postgres: decoding a stream record", e);
        let streams = rows
            .iter()
            .map(|row| {
                Ok((
                    StreamId::new(row.try_get::<String, _>(0).map_err(get)?),
                    from_i64(row.try_get(1).map_err(get)?),
                    hash_from(
                        row.try_get(2).map_err(get)?,
                        "postgres",
                        "streams.last_hash",
                    )?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        tx.commit()
            .await
            .map_err(backend("ending a read of the stream records"))?;
        Ok((from_i64(head), streams))
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.listener.abort();
        self.pool.close().await;
    }
}

/// One connection to the server, retried with backoff (0.5 s, 1 s, 2 s, ...)
/// while it cannot be reached.
async fn reach(
    options: &PgConnectOptions,
    shown: &str,
    attempts: u32,
) -> Result<sqlx::PgConnection, StoreError> {
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        match sqlx::PgConnection::connect_with(options).await {
            Ok(conn) => return Ok(conn),
            Err(e) if attempt < attempts && retryable(&e) => {
                tracing::warn!(url = shown, attempt, error = %e, "PostgreSQL unreachable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(8));
                attempt += 1;
            }
            Err(e) => {
                return Err(StoreError::backend(
                    format!("postgres: cannot reach {shown} (after {attempt} attempts)"),
                    e,
                ))
            }
        }
    }
}

/// Whether a connect error may go away by itself (the server starting or
/// out of reach for a moment), rather than being a wrong setting.
fn retryable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut)
        || matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("57P03"))
}

/// Follows the channel and raises the head on every notification, until
/// the store is gone.
async fn listen(pool: PgPool, channel: String, head: Weak<Head>) {
    loop {
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(&channel).await?;
            loop {
                let notification = listener.recv().await?;
                let Some(head) = head.upgrade() else {
                    return Ok::<(), sqlx::Error>(());
                };
                if let Ok(position) = notification.payload().parse::<u64>() {
                    head.advance(position);
                }
            }
        };
        match listening.await {
            Ok(()) => return,
            Err(e) => {
                if head.strong_count() == 0 || pool.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "postgres: listening for commits failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[async_trait]
impl EventStore for PostgresEventStore {
    async fn append_each(
        &self,
        batch: Vec<AppendRequest>,
    ) -> Vec<Result<AppendResult, StoreError>> {
        let requests = batch.len();
        let outcome = self
            .write(move |store| async move { append::append_each(store, &batch).await })
            .await;
        outcome.unwrap_or_else(|e| vec![Err(e); requests])
    }

    async fn append_all(&self, batch: Vec<AppendRequest>) -> Result<Vec<AppendResult>, StoreError> {
        self.write(move |store| async move {
            match append::append_all(store, &batch).await {
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
        let rows = sqlx::query(include_str!("queries/read_stream.sql"))
            .bind(stream.as_str())
            .bind(to_i64(from_version))
            .bind(to_i64(limit as u64))
            .fetch_all(&self.pool)
            .await
            .map_err(backend(&format!("reading {stream}")))?;
        rows.iter().map(recorded).collect()
    }

    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(include_str!("queries/read_all.sql"))
            .bind(to_i64(from_position))
            .bind(to_i64(limit as u64))
            .fetch_all(&self.pool)
            .await
            .map_err(backend("reading the log"))?;
        rows.iter().map(recorded).collect()
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM streams WHERE stream_id = $1")
                .bind(stream.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend(&format!("reading the version of {stream}")))?;
        Ok(version.map_or(0, from_i64))
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
            .fetch_one(&self.pool)
            .await
            .map_err(backend("reading the head position"))?;
        let head = from_i64(head);
        self.head.advance(head);
        Ok(head)
    }

    async fn wait_for(&self, position: u64, timeout: Duration) -> Result<u64, StoreError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let seen = self.head.wait_for(position, left.min(HEAD_POLL)).await;
            if seen >= position || left <= HEAD_POLL {
                return Ok(seen);
            }
            // No notification in a while: ask (one may have been lost).
            if self.head_position().await? >= position {
                return Ok(self.head.get());
            }
        }
    }

    async fn find_answer(
        &self,
        principal: &[u8; 32],
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        receipts::find_answer(&self.pool, principal, key, since).await
    }

    async fn keep_answer(&self, answer: KeptAnswer) -> Result<bool, StoreError> {
        receipts::keep_answer(&self.pool, &answer).await
    }

    async fn forget_answers(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        receipts::forget_answers(&self.pool, before).await
    }

    async fn pending_effects(&self) -> Result<Vec<PendingEffect>, StoreError> {
        receipts::pending_effects(&self.pool).await
    }

    async fn clear_effects(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        receipts::clear_effects(&self.pool, ids).await
    }
}

impl PostgresEventStore {
    /// Runs a write on its own task: once started, an append completes (and
    /// raises the head) even if the caller stops waiting for it. A panic in
    /// the write path resumes in the caller.
    async fn write<T, F, Fut>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Writer) -> Fut,
        Fut: std::future::Future<Output = (T, Option<u64>)> + Send + 'static,
    {
        let head = Arc::clone(&self.head);
        let write = write(Writer {
            pool: self.pool.clone(),
            lock_key: self.lock_key,
            channel: self.channel.clone(),
        });
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
            Err(e) => Err(StoreError::backend("postgres: append task", e)),
        }
    }
}

/// What an append needs: the pool, the schema's lock key and channel.
pub(crate) struct Writer {
    pool: PgPool,
    lock_key: i32,
    channel: String,
}

/// A row of `events` as a [`RecordedEvent`].
fn recorded(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let get = |e: sqlx::Error| StoreError::backend("postgres: decoding an event", e);
    let recorded_at: i64 = row.try_get(8).map_err(get)?;
    Ok(RecordedEvent {
        global_position: from_i64(row.try_get(0).map_err(get)?),
        stream_id: StreamId::new(row.try_get::<String, _>(1).map_err(get)?),
        stream_version: from_i64(row.try_get(2).map_err(get)?),
        event_id: row.try_get(3).map_err(get)?,
        event_type: row.try_get(4).map_err(get)?,
        schema_version: u32::try_from(row.try_get::<i64, _>(5).map_err(get)?).unwrap_or(0),
        data: row.try_get(6).map_err(get)?,
        metadata: row.try_get(7).map_err(get)?,
        recorded_at: DateTime::from_timestamp_micros(recorded_at).ok_or_else(|| {
            StoreError::backend_without_source(format!(
                "postgres: corrupt recorded_at {recorded_at}"
            ))
        })?,
        prev_hash: hash_from(row.try_get(9).map_err(get)?, "postgres", "prev_hash")?,
        hash: hash_from(row.try_get(10).map_err(get)?, "postgres", "hash")?,
    })
}

/// Maps a sqlx error to [`StoreError::Backend`], saying what was being done.
pub(crate) fn backend(context: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| StoreError::backend(format!("postgres: {context}"), e)
}
