//! What bucket streaming has done, in the read-model database (or beside
//! the log in PostgreSQL, see [`Tables`]):
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
use rusqlite::Connection;
use serde::Serialize;

use infra::sqlite::migrations::{self, Migration};

use super::tables::{postgres, Tables};
use super::StreamingError;
use replay::export::DayExport;

/// The ledger's migrations (`infra::sqlite::migrations`).
const MIGRATIONS: &[Migration] = &[(1, "ledger", include_str!("ledger/0001_ledger.sql"))];

/// The same tables in PostgreSQL (`infra::postgres::migrations`).
const POSTGRES_MIGRATIONS: &[infra::postgres::migrations::Migration] =
    &[(1, "ledger", include_str!("ledger/postgres.sql"))];

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

/// The ledger tables (see the module doc), in the embedded database or
/// in PostgreSQL ([`Tables`]). Every method fails with
/// [`StreamingError::Database`] or [`StreamingError::Postgres`] when the
/// database fails; the embedded one's work runs on a blocking thread.
#[derive(Debug, Clone)]
pub struct Ledger {
    tables: Tables,
}

impl Ledger {
    /// Opens (and creates) the tables in the read-model database `read_db`.
    pub fn open(read_db: &Path) -> Result<Ledger, StreamingError> {
        let conn = embedded(read_db)?;
        migrations::migrate(&conn, "streaming_ledger", MIGRATIONS)?;
        Ok(Ledger::on(Tables::Embedded(read_db.to_path_buf())))
    }

    /// Opens (and creates) the tables where `tables` says.
    pub async fn open_in(tables: &Tables) -> Result<Ledger, StreamingError> {
        match tables {
            Tables::Embedded(db) => {
                let db = db.clone();
                blocking(move || Ledger::open(&db)).await
            }
            Tables::Postgres(pool) => {
                infra::postgres::migrations::migrate(pool, "streaming_ledger", POSTGRES_MIGRATIONS)
                    .await?;
                Ok(Ledger::on(tables.clone()))
            }
        }
    }

    /// The ledger in `tables`, already migrated ([`Ledger::open_in`] ran).
    pub fn on(tables: Tables) -> Ledger {
        Ledger { tables }
    }

    /// Where the ledger is.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The days of `org` already exported to `target`.
    pub async fn done_days(
        &self,
        org: OrgId,
        target: &str,
    ) -> Result<HashSet<NaiveDate>, StreamingError> {
        let days: Vec<String> = match &self.tables {
            Tables::Embedded(db) => {
                let (db, target) = (db.clone(), target.to_string());
                blocking(move || {
                    let conn = embedded(&db)?;
                    let mut stmt = conn
                        .prepare(
                            "SELECT day FROM audit_stream_days WHERE org_id = ?1 AND target = ?2",
                        )
                        .map_err(StreamingError::db("cannot read the streaming ledger"))?;
                    let days = stmt
                        .query_map((org.to_string(), target), |r| r.get::<_, String>(0))
                        .map_err(StreamingError::db("cannot read the streaming ledger"))?
                        .collect::<Result<_, _>>()
                        .map_err(StreamingError::db("cannot read the streaming ledger"))?;
                    Ok(days)
                })
                .await?
            }
            Tables::Postgres(pool) => sqlx::query_scalar(
                "SELECT day FROM audit_stream_days WHERE org_id = $1 AND target = $2",
            )
            .bind(org.to_string())
            .bind(target)
            .fetch_all(pool)
            .await
            .map_err(postgres("cannot read the streaming ledger"))?,
        };
        Ok(days.into_iter().filter_map(|d| d.parse().ok()).collect())
    }

    /// Records that `day` was exported to `target`.
    pub async fn mark_done(&self, target: &str, day: &DayExport) -> Result<(), StreamingError> {
        let row = (
            day.org_id.to_string(),
            target.to_string(),
            day.date.to_string(),
            day.rows as i64,
            day.last_position as i64,
            day.parquet_sha256.clone(),
            Utc::now().to_rfc3339(),
        );
        match &self.tables {
            Tables::Embedded(db) => {
                let db = db.clone();
                blocking(move || {
                    embedded(&db)?
                        .execute(
                            "INSERT INTO audit_stream_days VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                             ON CONFLICT (org_id, target, day) DO UPDATE SET rows = excluded.rows,
                                 last_position = excluded.last_position,
                                 parquet_sha256 = excluded.parquet_sha256, exported_at = excluded.exported_at",
                            row,
                        )
                        .map_err(StreamingError::db("cannot write the streaming ledger"))?;
                    Ok(())
                })
                .await
            }
            Tables::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO audit_stream_days VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (org_id, target, day) DO UPDATE SET rows = excluded.rows,
                         last_position = excluded.last_position,
                         parquet_sha256 = excluded.parquet_sha256, exported_at = excluded.exported_at",
                )
                .bind(row.0)
                .bind(row.1)
                .bind(row.2)
                .bind(row.3)
                .bind(row.4)
                .bind(row.5)
                .bind(row.6)
                .execute(pool)
                .await
                .map_err(postgres("cannot write the streaming ledger"))?;
                Ok(())
            }
        }
    }

    /// Appends a run of `org`.
    pub async fn record_run(&self, org: OrgId, run: &RunRecord) -> Result<(), StreamingError> {
        let row = (
            org.to_string(),
            run.target.clone(),
            run.started_at.to_rfc3339(),
            run.finished_at.to_rfc3339(),
            run.days as i64,
            run.objects as i64,
            run.bytes as i64,
            run.error.clone(),
        );
        match &self.tables {
            Tables::Embedded(db) => {
                let db = db.clone();
                blocking(move || {
                    embedded(&db)?
                        .execute(
                            "INSERT INTO audit_stream_runs
                                 (org_id, target, started_at, finished_at, days, objects, bytes, error)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                            row,
                        )
                        .map_err(StreamingError::db("cannot write the streaming ledger"))?;
                    Ok(())
                })
                .await
            }
            Tables::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO audit_stream_runs
                         (org_id, target, started_at, finished_at, days, objects, bytes, error)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(row.0)
                .bind(row.1)
                .bind(row.2)
                .bind(row.3)
                .bind(row.4)
                .bind(row.5)
                .bind(row.6)
                .bind(row.7)
                .execute(pool)
                .await
                .map_err(postgres("cannot write the streaming ledger"))?;
                Ok(())
            }
        }
    }

    /// `org`'s last `limit` runs, newest first.
    pub async fn runs(&self, org: OrgId, limit: usize) -> Result<Vec<RunRecord>, StreamingError> {
        match &self.tables {
            Tables::Embedded(db) => {
                let db = db.clone();
                blocking(move || runs(&embedded(&db)?, org, limit)).await
            }
            Tables::Postgres(pool) => {
                let rows: Vec<RunRow> = sqlx::query_as(
                    "SELECT started_at, finished_at, days, objects, bytes, error, target
                     FROM audit_stream_runs WHERE org_id = $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(org.to_string())
                .bind(limit as i64)
                .fetch_all(pool)
                .await
                .map_err(postgres("cannot read the streaming ledger"))?;
                Ok(rows.into_iter().map(run_record).collect())
            }
        }
    }

    /// `org`'s last run, if any.
    pub async fn last_run(&self, org: OrgId) -> Result<Option<RunRecord>, StreamingError> {
        Ok(self.runs(org, 1).await?.into_iter().next())
    }
}

/// A run as stored: times as RFC 3339 text, counts as integers.
type RunRow = (String, String, i64, i64, i64, Option<String>, String);

fn run_record((started, finished, days, objects, bytes, error, target): RunRow) -> RunRecord {
    let time = |s: String| {
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    };
    RunRecord {
        started_at: time(started),
        finished_at: time(finished),
        days: days as u64,
        objects: objects as u64,
        bytes: bytes as u64,
        error,
        target,
    }
}

fn embedded(read_db: &Path) -> Result<Connection, StreamingError> {
    projections::db::open(read_db).map_err(StreamingError::db("cannot open the streaming ledger"))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StreamingError> + Send + 'static,
) -> Result<T, StreamingError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StreamingError::Task(e.to_string()))?
}

/// `org`'s last `limit` runs, newest first.
fn runs(conn: &Connection, org: OrgId, limit: usize) -> Result<Vec<RunRecord>, StreamingError> {
    let mut stmt = conn
        .prepare(
            "SELECT started_at, finished_at, days, objects, bytes, error, target
                 FROM audit_stream_runs WHERE org_id = ?1 ORDER BY id DESC LIMIT ?2",
        )
        .map_err(StreamingError::db("cannot read the streaming ledger"))?;
    let rows = stmt
        .query_map((org.to_string(), limit as i64), |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .map_err(StreamingError::db("cannot read the streaming ledger"))?;
    rows.map(|r| r.map(run_record))
        .collect::<Result<_, _>>()
        .map_err(StreamingError::db("cannot read the streaming ledger"))
}
