//! What bucket streaming has done, in the read-model database:
//!
//! - `audit_stream_days`: the days exported to a target (one row per
//!   organization, target and day, with the rows, last position and SHA-256
//!   written), so each finished day goes out once per target and a new
//!   target gets the whole history;
//! - `audit_stream_runs`: every run that had work or failed (start, end,
//!   days, objects, bytes, error), newest last; `GET /audit-logs/streaming`
//!   shows the last one.
//!
//! A target is named by its fingerprint `endpoint|bucket|prefix` (no keys).

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use domain::ids::OrgId;
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use infra::sqlite::migrations::{self, Migration};

use super::StreamingError;
use replay::export::DayExport;

/// The ledger's migrations (`infra::sqlite::migrations`).
const MIGRATIONS: &[Migration] = &[(1, "ledger", include_str!("ledger/0001_ledger.sql"))];

/// One streaming run: when, what it wrote, and why it stopped if it failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Days written in full (Parquet object and digest).
    pub days: u64,
    pub objects: u64,
    pub bytes: u64,
    /// `None` when the run wrote every pending day.
    pub error: Option<String>,
    /// The target, `s3://bucket/prefix` (no keys).
    pub target: String,
}

/// The ledger tables (see the module doc). Every method fails with
/// [`StreamingError::Database`] when SQLite fails.
pub struct Ledger {
    conn: Connection,
}

impl Ledger {
    /// Opens (and creates) the tables in the read-model database `read_db`.
    pub fn open(read_db: &Path) -> Result<Ledger, StreamingError> {
        let conn = projections::db::open(read_db)
            .map_err(StreamingError::db("cannot open the streaming ledger"))?;
        migrations::migrate(&conn, "streaming_ledger", MIGRATIONS)?;
        Ok(Ledger { conn })
    }

    /// The days of `org` already exported to `target`.
    pub fn done_days(
        &self,
        org: OrgId,
        target: &str,
    ) -> Result<HashSet<NaiveDate>, StreamingError> {
        let mut stmt = self
            .conn
            .prepare("SELECT day FROM audit_stream_days WHERE org_id = ?1 AND target = ?2")
            .map_err(StreamingError::db("cannot read the streaming ledger"))?;
        let days = stmt
            .query_map((org.to_string(), target), |r| r.get::<_, String>(0))
            .map_err(StreamingError::db("cannot read the streaming ledger"))?
            .filter_map(|d| d.ok()?.parse().ok())
            .collect();
        Ok(days)
    }

    /// Records that `day` was exported to `target`.
    pub fn mark_done(&self, target: &str, day: &DayExport) -> Result<(), StreamingError> {
        self.conn
            .execute(
                "INSERT INTO audit_stream_days VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (org_id, target, day) DO UPDATE SET rows = excluded.rows,
                     last_position = excluded.last_position,
                     parquet_sha256 = excluded.parquet_sha256, exported_at = excluded.exported_at",
                (
                    day.org_id.to_string(),
                    target,
                    day.date.to_string(),
                    day.rows as i64,
                    day.last_position as i64,
                    &day.parquet_sha256,
                    Utc::now().to_rfc3339(),
                ),
            )
            .map_err(StreamingError::db("cannot write the streaming ledger"))?;
        Ok(())
    }

    /// Appends a run of `org`.
    pub fn record_run(&self, org: OrgId, run: &RunRecord) -> Result<(), StreamingError> {
        self.conn
            .execute(
                "INSERT INTO audit_stream_runs
                     (org_id, target, started_at, finished_at, days, objects, bytes, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                (
                    org.to_string(),
                    &run.target,
                    run.started_at.to_rfc3339(),
                    run.finished_at.to_rfc3339(),
                    run.days as i64,
                    run.objects as i64,
                    run.bytes as i64,
                    run.error.as_deref(),
                ),
            )
            .map_err(StreamingError::db("cannot write the streaming ledger"))?;
        Ok(())
    }

    /// `org`'s last `limit` runs, newest first.
    pub fn runs(&self, org: OrgId, limit: usize) -> Result<Vec<RunRecord>, StreamingError> {
        runs(&self.conn, org, limit)
    }

    /// `org`'s last run, if any.
    pub fn last_run(&self, org: OrgId) -> Result<Option<RunRecord>, StreamingError> {
        Ok(self.runs(org, 1)?.into_iter().next())
    }
}

/// `org`'s last run, read with a connection of the read-model database's
/// pool (`None` when the ledger does not exist yet or holds no run).
/// Blocking: call it on a blocking thread.
pub fn last_run_on(
    reads: &infra::sqlite::ReadPool,
    org: OrgId,
) -> Result<Option<RunRecord>, StreamingError> {
    let conn = reads
        .take()
        .map_err(StreamingError::db("cannot open the streaming ledger"))?;
    let exists: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_stream_runs'",
            (),
            |r| r.get(0),
        )
        .optional()
        .map_err(StreamingError::db("cannot read the streaming ledger"))?;
    if exists.is_none() {
        return Ok(None);
    }
    runs(&conn, org, 1).map(|runs| runs.into_iter().next())
}

/// `org`'s last `limit` runs, newest first.
fn runs(conn: &Connection, org: OrgId, limit: usize) -> Result<Vec<RunRecord>, StreamingError> {
    let mut stmt = conn
        .prepare(
            "SELECT started_at, finished_at, days, objects, bytes, error, target
                 FROM audit_stream_runs WHERE org_id = ?1 ORDER BY id DESC LIMIT ?2",
        )
        .map_err(StreamingError::db("cannot read the streaming ledger"))?;
    let time = |s: String| {
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    };
    let rows = stmt
        .query_map((org.to_string(), limit as i64), |r| {
            Ok(RunRecord {
                started_at: time(r.get(0)?),
                finished_at: time(r.get(1)?),
                days: r.get::<_, i64>(2)? as u64,
                objects: r.get::<_, i64>(3)? as u64,
                bytes: r.get::<_, i64>(4)? as u64,
                error: r.get(5)?,
                target: r.get(6)?,
            })
        })
        .map_err(StreamingError::db("cannot read the streaming ledger"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StreamingError::db("cannot read the streaming ledger"))
}
