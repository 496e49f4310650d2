//! Periodic snapshots of organization states, in the read-model database's
//! `snapshots` table (`snapshots.sql` beside this file), so that the state
//! as of a moment is a snapshot plus a few thousand events rather than the
//! whole stream.
//!
//! A snapshot is taken every [`Snapshots::interval`] events of a stream (at
//! versions that are multiples of it, so concurrent writers agree), records
//! the version, global position and chain hash of its last event, and is
//! trusted only while the event at that version still has that hash.
//!
//! `FORMAT` names the encoding: `domain::Organization` in postcard (a
//! compact binary serde format: ids as 16 bytes; about 2.5 times smaller and
//! 3 times faster to decode than JSON for the benchmark organization), its
//! private indexes included, so a decoded snapshot equals the folded state;
//! the projects in a second part, decoded on another core.
//! Bump it whenever `Organization` or `evolve` change meaning: rows of
//! another format are ignored and replaced.
//!
//! Decoded snapshots are also kept in memory (the last few used, see
//! [`Snapshots::with_cache`]): a long-running caller (the HTTP API) then pays
//! a copy of the state instead of a decode.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use domain::hash::Hash;
use domain::ids::ProjectId;
use domain::state::Project;
use domain::store::StreamId;
use domain::Organization;
use rusqlite::{params, Connection, OptionalExtension};

use crate::{blocking, ReplayError};

/// The schema of the `snapshots` table.
pub const SCHEMA: &str = include_str!("snapshots.sql");

/// The snapshots table's migrations (`infra::sqlite::migrations`).
const MIGRATIONS: &[infra::sqlite::migrations::Migration] = &[(1, "snapshots", SCHEMA)];

/// The encoding and shape of the `state` column written by this build.
pub const FORMAT: i64 = 7;

/// Where a snapshot stands in its stream.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotMeta {
    pub stream: StreamId,
    /// The stream version of the last event folded in.
    pub version: u64,
    /// That event's global position.
    pub position: u64,
    /// That event's chain hash.
    #[serde(serialize_with = "hex_hash")]
    pub hash: Hash,
    /// The latest `occurred_at` among the events folded in.
    pub max_occurred_at: DateTime<Utc>,
}

fn hex_hash<S: serde::Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&domain::hash::to_hex(h))
}

/// Encodes a state as this build's [`FORMAT`]: the projects (the larger
/// half of a big organization) apart from the rest, so that the two halves
/// decode on two cores. `state` is left as it was.
pub fn encode(state: &mut Organization) -> Vec<u8> {
    let projects = std::mem::take(&mut state.projects);
    let rest = postcard::to_stdvec(&*state);
    let projects_bytes = postcard::to_stdvec(&projects);
    state.projects = projects;
    let rest = rest.expect("an organization's state always serializes");
    let projects_bytes = projects_bytes.expect("projects always serialize");
    let mut out = Vec::with_capacity(8 + rest.len() + projects_bytes.len());
    out.extend_from_slice(&(rest.len() as u64).to_le_bytes());
    out.extend_from_slice(&rest);
    out.extend_from_slice(&projects_bytes);
    out
}

/// Decodes a state of this build's [`FORMAT`], both halves in parallel.
pub fn decode(bytes: &[u8]) -> Result<Organization, String> {
    let (len, body) = bytes
        .split_first_chunk::<8>()
        .ok_or_else(|| "a snapshot shorter than its header".to_string())?;
    let len = usize::try_from(u64::from_le_bytes(*len)).unwrap_or(usize::MAX);
    if len > body.len() {
        return Err(format!(
            "a snapshot of {} bytes announcing {len}",
            bytes.len()
        ));
    }
    let (rest, projects) = body.split_at(len);
    let (state, projects) = std::thread::scope(|scope| {
        let projects = scope
            .spawn(|| postcard::from_bytes::<domain::state::IdMap<ProjectId, Project>>(projects));
        let state = postcard::from_bytes::<Organization>(rest);
        (
            state,
            projects
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p)),
        )
    });
    let mut state = state.map_err(|e| e.to_string())?;
    state.projects = projects.map_err(|e| e.to_string())?;
    Ok(state)
}

/// The snapshots table of one read-model database. Cheap to clone.
#[derive(Clone)]
pub struct Snapshots {
    inner: Arc<Inner>,
    every: u64,
    write: bool,
}

struct Inner {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// The decoded snapshots used last, newest at the back.
    cache: Mutex<VecDeque<Cached>>,
    cache_size: Mutex<usize>,
}

struct Cached {
    meta: SnapshotMeta,
    state: Arc<Organization>,
}

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots")
            .field("path", &self.inner.path)
            .field("every", &self.every)
            .field("write", &self.write)
            .finish()
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_i64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Snapshots {
    /// Events between two snapshots of a stream, unless set otherwise.
    pub const DEFAULT_INTERVAL: u64 = 10_000;

    /// Decoded snapshots kept in memory, unless set otherwise.
    pub const DEFAULT_CACHE: usize = 2;

    /// Opens the snapshots of the read-model database at `path` (creating
    /// the file and the table if needed).
    pub fn open(path: &Path) -> Result<Self, ReplayError> {
        let what = format!("opening the snapshots in {}", path.display());
        let conn = projections::db::open(path).map_err(ReplayError::db(what.clone()))?;
        infra::sqlite::migrations::migrate(&conn, "snapshots", MIGRATIONS)
            .map_err(|e| ReplayError::Invalid(format!("{what}: {e}")))?;
        Ok(Snapshots {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                conn: Mutex::new(conn),
                cache: Mutex::new(VecDeque::new()),
                cache_size: Mutex::new(Self::DEFAULT_CACHE),
            }),
            every: Self::DEFAULT_INTERVAL,
            write: true,
        })
    }

    /// The snapshots of the read-model database in a data dir.
    pub fn in_dir(data_dir: &Path) -> Result<Self, ReplayError> {
        Self::open(&projections::db::path_in(data_dir))
    }

    /// Takes a snapshot every `events` events of a stream (at least 1).
    pub fn with_interval(mut self, events: u64) -> Self {
        self.every = events.max(1);
        self
    }

    /// Whether replays store the snapshots they pass (default: yes); with
    /// `false` existing snapshots are only read (and stale ones still
    /// discarded).
    pub fn writing(mut self, write: bool) -> Self {
        self.write = write;
        self
    }

    /// Keeps the last `states` decoded snapshots in memory (shared by the
    /// clones of this value; 0 keeps none). Each holds a whole organization
    /// state: tens of MiB for a large one.
    pub fn with_cache(self, states: usize) -> Self {
        *self
            .inner
            .cache_size
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = states;
        self
    }

    pub fn interval(&self) -> u64 {
        self.every
    }

    pub fn writes(&self) -> bool {
        self.write
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, ReplayError> + Send + 'static,
    ) -> Result<T, ReplayError> {
        let inner = self.inner.clone();
        blocking(move || {
            let mut conn = inner.conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await
    }

    /// The latest snapshot of `stream` that serves the moment `at` (all its
    /// events occurred at or before `at`), in this build's format.
    pub async fn latest(
        &self,
        stream: &StreamId,
        at: DateTime<Utc>,
    ) -> Result<Option<SnapshotMeta>, ReplayError> {
        let stream = stream.clone();
        self.with(move |conn| {
            conn.prepare_cached(
                "SELECT version, position, hash, max_occurred_at FROM snapshots
                 WHERE stream_id = ?1 AND max_occurred_at <= ?2 AND format = ?3
                 ORDER BY version DESC LIMIT 1",
            )
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![stream.as_str(), at.timestamp_micros(), FORMAT],
                    |r| row(&stream, r),
                )
                .optional()
            })
            .map_err(ReplayError::db("reading a snapshot"))
        })
        .await
    }

    /// The state a snapshot holds, from memory or decoded from the table.
    /// `Ok(Err(reason))` when it is gone or cannot be decoded.
    pub async fn load(
        &self,
        meta: &SnapshotMeta,
    ) -> Result<Result<Arc<Organization>, String>, ReplayError> {
        {
            let mut cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(i) = cache.iter().position(|c| c.meta == *meta) {
                let hit = cache.remove(i).expect("found just above");
                let state = hit.state.clone();
                cache.push_back(hit);
                return Ok(Ok(state));
            }
        }
        let inner = self.inner.clone();
        let wanted = meta.clone();
        blocking(move || {
            let bytes: Option<Vec<u8>> = {
                let conn = inner.conn.lock().unwrap_or_else(|p| p.into_inner());
                conn.prepare_cached(
                    "SELECT state FROM snapshots WHERE stream_id = ?1 AND version = ?2 AND format = ?3",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(
                        params![wanted.stream.as_str(), to_i64(wanted.version), FORMAT],
                        |r| r.get(0),
                    )
                    .optional()
                })
                .map_err(ReplayError::db("reading a snapshot"))?
            };
            let Some(bytes) = bytes else {
                return Ok(Err("the snapshot is gone".to_string()));
            };
            let state = match decode(&bytes) {
                Ok(state) => Arc::new(state),
                Err(reason) => return Ok(Err(reason)),
            };
            let size = *inner.cache_size.lock().unwrap_or_else(|p| p.into_inner());
            if size > 0 {
                let mut cache = inner.cache.lock().unwrap_or_else(|p| p.into_inner());
                while cache.len() >= size {
                    cache.pop_front();
                }
                cache.push_back(Cached {
                    meta: wanted,
                    state: state.clone(),
                });
            }
            Ok(Ok(state))
        })
        .await
    }

    /// Every snapshot of `stream` (any format), oldest first, without states.
    pub async fn list(&self, stream: &StreamId) -> Result<Vec<SnapshotMeta>, ReplayError> {
        let stream = stream.clone();
        self.with(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT version, position, hash, max_occurred_at FROM snapshots
                     WHERE stream_id = ?1 ORDER BY version",
                )
                .map_err(ReplayError::db("listing snapshots"))?;
            let rows = stmt
                .query_map(params![stream.as_str()], |r| row(&stream, r))
                .map_err(ReplayError::db("listing snapshots"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(ReplayError::db("listing snapshots"))
        })
        .await
    }

    /// Stores snapshots (already encoded); one that exists is kept.
    pub async fn save(&self, snapshots: Vec<(SnapshotMeta, Vec<u8>)>) -> Result<(), ReplayError> {
        if snapshots.is_empty() {
            return Ok(());
        }
        self.with(move |conn| {
            let tx = conn
                .transaction()
                .map_err(ReplayError::db("saving snapshots"))?;
            {
                // A row of another format at the same version is replaced.
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO snapshots (stream_id, version, position, hash, max_occurred_at, format, state, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                         ON CONFLICT (stream_id, version) DO UPDATE SET
                             position = excluded.position, hash = excluded.hash,
                             max_occurred_at = excluded.max_occurred_at, format = excluded.format,
                             state = excluded.state, created_at = excluded.created_at
                         WHERE snapshots.format <> excluded.format",
                    )
                    .map_err(ReplayError::db("saving snapshots"))?;
                let now = Utc::now().timestamp_micros();
                for (meta, state) in &snapshots {
                    insert
                        .execute(params![
                            meta.stream.as_str(),
                            to_i64(meta.version),
                            to_i64(meta.position),
                            &meta.hash[..],
                            ceil_micros(meta.max_occurred_at),
                            FORMAT,
                            state,
                            now
                        ])
                        .map_err(ReplayError::db("saving snapshots"))?;
                }
            }
            tx.commit().map_err(ReplayError::db("saving snapshots"))
        })
        .await
    }

    /// Deletes the snapshots of `stream` from `version` on (they fold a
    /// history the log no longer holds); returns how many.
    pub async fn discard_from(&self, stream: &StreamId, version: u64) -> Result<u64, ReplayError> {
        let stream = stream.clone();
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM snapshots WHERE stream_id = ?1 AND version >= ?2",
                params![stream.as_str(), to_i64(version)],
            )
            .map(|n| n as u64)
            .map_err(ReplayError::db("discarding snapshots"))
        })
        .await
    }

    /// Deletes one snapshot (undecodable); returns whether it existed.
    pub async fn discard(&self, stream: &StreamId, version: u64) -> Result<bool, ReplayError> {
        let stream = stream.clone();
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM snapshots WHERE stream_id = ?1 AND version = ?2",
                params![stream.as_str(), to_i64(version)],
            )
            .map(|n| n > 0)
            .map_err(ReplayError::db("discarding a snapshot"))
        })
        .await
    }
}

/// Microseconds since the epoch, rounded up: a snapshot is offered for `at`
/// only if its latest event occurred at or before `at`, also below a
/// microsecond (`at` is compared rounded down).
fn ceil_micros(t: DateTime<Utc>) -> i64 {
    let micros = t.timestamp_micros();
    if !t.timestamp_subsec_nanos().is_multiple_of(1_000) {
        micros.saturating_add(1)
    } else {
        micros
    }
}

fn row(stream: &StreamId, r: &rusqlite::Row) -> rusqlite::Result<SnapshotMeta> {
    let hash: Vec<u8> = r.get(2)?;
    let micros: i64 = r.get(3)?;
    Ok(SnapshotMeta {
        stream: stream.clone(),
        version: from_i64(r.get(0)?),
        position: from_i64(r.get(1)?),
        hash: hash.as_slice().try_into().unwrap_or([0; 32]),
        max_occurred_at: DateTime::from_timestamp_micros(micros).unwrap_or_default(),
    })
}
