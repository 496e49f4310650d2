//! The read path: read-only rusqlite connections ([`super::ReadPool`]) on
//! tokio's blocking threads, which WAL lets run alongside the writer; every
//! read sees the last commit.

use std::path::Path;
use std::time::Duration;

use chrono::DateTime;
use domain::store::{RecordedEvent, StoreError, StreamId};
use rusqlite::{Connection, OpenFlags, Row};

use crate::columns::to_i64;

/// Most idle connections kept.
const IDLE: usize = 4;

/// Event pages read through a pool of read-only connections.
///
/// Fails with [`StoreError::Backend`] when the file cannot be opened or a
/// stored value is not what the schema promises.
#[derive(Debug, Clone)]
pub(crate) struct Reader {
    pool: super::ReadPool,
}

/// A read-only connection to the event store's file.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

fn backend(context: &str, e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::backend(format!("sqlite: {context}"), e)
}

impl Reader {
    pub(crate) fn new(path: &Path) -> Self {
        Reader {
            pool: super::ReadPool::new(path, connect, IDLE),
        }
    }

    /// Runs `f` with a connection on a blocking thread.
    pub(crate) async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let path = self.pool.path().display().to_string();
        self.pool
            .run(f)
            .await
            .map_err(|e| backend(&format!("opening {path} for reading"), e))?
    }

    pub(crate) async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let stream = stream.clone();
        self.with(move |conn| {
            query(
                conn,
                include_str!("queries/read_stream.sql"),
                rusqlite::params![stream.as_str(), to_i64(from_version), to_i64(limit as u64)],
                limit,
            )
        })
        .await
    }

    pub(crate) async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.with(move |conn| {
            query(
                conn,
                include_str!("queries/read_all.sql"),
                rusqlite::params![to_i64(from_position), to_i64(limit as u64)],
                limit,
            )
        })
        .await
    }
}

fn query(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(|e| backend("preparing a read", e))?;
    let mut rows = stmt
        .query(params)
        .map_err(|e| backend("reading events", e))?;
    let mut events = Vec::with_capacity(limit.min(10_000));
    while let Some(row) = rows.next().map_err(|e| backend("reading events", e))? {
        events.push(decode(row).map_err(|e| backend("decoding an event", e))?);
    }
    Ok(events)
}

fn corrupt(what: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnName(format!("corrupt {what}"))
}

/// One `events` row, in the column order of `queries/*.sql`.
fn decode(row: &Row) -> Result<RecordedEvent, rusqlite::Error> {
    let position: i64 = row.get(0)?;
    let version: i64 = row.get(2)?;
    let event_id = row.get_ref(3)?.as_blob()?;
    let schema_version: i64 = row.get(5)?;
    let recorded_at: i64 = row.get(8)?;
    let prev_hash = row.get_ref(9)?.as_blob()?;
    let hash = row.get_ref(10)?.as_blob()?;
    Ok(RecordedEvent {
        global_position: u64::try_from(position).map_err(|_| corrupt("global_position"))?,
        stream_id: StreamId(row.get(1)?),
        stream_version: u64::try_from(version).map_err(|_| corrupt("stream_version"))?,
        event_id: uuid::Uuid::from_slice(event_id).map_err(|_| corrupt("event_id"))?,
        event_type: row.get(4)?,
        schema_version: u32::try_from(schema_version).map_err(|_| corrupt("schema_version"))?,
        data: row.get(6)?,
        metadata: row.get(7)?,
        recorded_at: DateTime::from_timestamp_micros(recorded_at)
            .ok_or_else(|| corrupt("recorded_at"))?,
        prev_hash: prev_hash.try_into().map_err(|_| corrupt("prev_hash"))?,
        hash: hash.try_into().map_err(|_| corrupt("hash"))?,
    })
}
