//! The audit-log view in PostgreSQL (`audit_log.sql`): the embedded view's
//! rows, described the same way (`crate::audit`), written by the
//! PostgreSQL runner with the checkpoint, and read by [`page`] and
//! [`CsvExport`] with the same filters, order and cursors.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, QueryBuilder, Row as _};
use uuid::Uuid;

use super::runner::PgProjection;
use crate::audit::projection::{describe_row, event_error, Row};
use crate::audit::{
    decode_cursor, encode_cursor, AuditEntry, AuditError, AuditFilter, AuditPage, Names,
};
use crate::runner::{Decoded, ProjectionError};
use infra::postgres::migrations::Migration;

/// The view's migrations (component `audit`).
const MIGRATIONS: &[Migration] = &[(1, "audit_log", include_str!("audit_log.sql"))];

/// Rows per `INSERT … SELECT FROM UNNEST(…)`.
const ROWS_PER_INSERT: usize = 5_000;

/// Folds the log into PostgreSQL's `audit_log` (checkpoint name `audit`),
/// keeping the names registry in memory like [`crate::audit::AuditProjection`].
#[derive(Debug, Default)]
pub struct PgAuditProjection {
    names: Names,
}

impl PgAuditProjection {
    pub fn new() -> Self {
        Self::default()
    }
}

/// A page's audit rows.
pub struct AuditRows(Vec<Row>);

#[async_trait]
impl PgProjection for PgAuditProjection {
    type Rows = AuditRows;

    fn name(&self) -> &'static str {
        "audit"
    }

    fn migrations(&self) -> (&'static str, &'static [Migration]) {
        ("audit", MIGRATIONS)
    }

    fn tables(&self) -> &'static [&'static str] {
        &["audit_log"]
    }

    fn warm(&mut self, events: &[Decoded]) -> Result<(), ProjectionError> {
        for d in events {
            let org = domain::ids::OrgId::of_stream(&d.record.stream_id).ok_or_else(|| {
                event_error(
                    d.record.global_position,
                    format!("{} is not an organization stream", d.record.stream_id),
                )
            })?;
            self.names.apply(org, &d.event);
        }
        Ok(())
    }

    fn prepare(&mut self, events: &[Decoded]) -> Result<AuditRows, ProjectionError> {
        events
            .iter()
            .map(|d| describe_row(&mut self.names, d))
            .collect::<Result<_, _>>()
            .map(AuditRows)
    }

    async fn write(
        conn: &mut PgConnection,
        rows: &AuditRows,
        after: u64,
    ) -> Result<(), ProjectionError> {
        let fresh: Vec<&Row> = rows
            .0
            .iter()
            .filter(|r| r.position as u64 > after)
            .collect();
        for chunk in fresh.chunks(ROWS_PER_INSERT) {
            insert(conn, chunk).await?;
        }
        Ok(())
    }
}

/// Inserts `rows` in one statement, one array per column.
async fn insert(conn: &mut PgConnection, rows: &[&Row]) -> Result<(), sqlx::Error> {
    fn col<'r, T>(rows: &[&'r Row], f: impl Fn(&'r Row) -> T) -> Vec<T> {
        rows.iter().map(|r| f(r)).collect()
    }
    sqlx::query(
        "INSERT INTO audit_log (position, org_id, occurred_at, actor_id, actor_username,
             resource_type, operation, resource_id, resource_name, description, medium, ip,
             user_agent, request_id, metadata, actor_key, resource_key)
         SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::bigint[], $4::uuid[], $5::text[],
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
             $12::text[], $13::text[], $14::text[], $15::text[], $16::bigint[], $17::bigint[])
         ON CONFLICT (position) DO NOTHING",
    )
    .bind(col(rows, |r| r.position))
    .bind(col(rows, |r| r.org.0))
    .bind(col(rows, |r| r.meta.occurred_at.timestamp_micros()))
    .bind(col(rows, |r| r.meta.actor.user_id.map(|u| u.0)))
    .bind(col(rows, |r| r.meta.actor.username.as_str()))
    .bind(col(rows, |r| r.described.resource_type.as_str()))
    .bind(col(rows, |r| r.described.operation.as_str()))
    .bind(col(rows, |r| r.described.resource_id.as_str()))
    .bind(col(rows, |r| r.described.resource_name.as_str()))
    .bind(col(rows, |r| r.described.description.as_str()))
    .bind(col(rows, |r| r.meta.medium.as_str()))
    .bind(col(rows, |r| r.meta.ip.as_deref()))
    .bind(col(rows, |r| r.meta.user_agent.as_deref()))
    .bind(col(rows, |r| r.meta.request_id.as_deref()))
    .bind(col(rows, |r| r.metadata.as_str()))
    .bind(col(rows, |r| r.actor_key))
    .bind(col(rows, |r| r.resource_key))
    .execute(conn)
    .await?;
    Ok(())
}

/// The columns every reader selects, in [`read_entry`]'s order.
const COLUMNS: &str = "org_id, position, occurred_at, actor_id, actor_username, resource_type, \
    operation, resource_id, resource_name, description, medium, ip, user_agent, request_id, \
    metadata";

/// `SELECT … FROM audit_log WHERE` the filter's own conditions (not the
/// cursor, not the order).
fn select(filter: &AuditFilter) -> QueryBuilder<'static, sqlx::Postgres> {
    let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM audit_log WHERE org_id = "));
    q.push_bind(filter.org_id.0);
    if let Some(a) = filter.actor {
        q.push(" AND actor_id = ").push_bind(a.0);
    }
    if let Some(t) = filter.resource_type {
        q.push(" AND resource_type = ").push_bind(t.as_str());
    }
    if let Some(id) = &filter.resource_id {
        q.push(" AND resource_id = ").push_bind(id.clone());
    }
    if let Some(o) = filter.operation {
        q.push(" AND operation = ").push_bind(o.as_str());
    }
    if let Some(from) = filter.from {
        q.push(" AND occurred_at >= ")
            .push_bind(from.timestamp_micros());
    }
    if let Some(to) = filter.to {
        q.push(" AND occurred_at < ")
            .push_bind(to.timestamp_micros());
    }
    q
}

fn validate(filter: &AuditFilter) -> Result<(), AuditError> {
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        if from > to {
            return Err(AuditError::InvalidFilter {
                field: "from",
                reason: format!("from ({from}) is after to ({to})"),
            });
        }
    }
    Ok(())
}

/// One page of an organization's audit log, newest first: the same answer
/// as [`crate::audit::page`] on the embedded view.
///
/// Fails with [`AuditError::InvalidCursor`], [`AuditError::InvalidFilter`],
/// [`AuditError::Corrupt`] for a row it cannot read back, and
/// [`AuditError::Postgres`] when the server fails.
pub async fn page(pool: &PgPool, filter: &AuditFilter) -> Result<AuditPage, AuditError> {
    validate(filter)?;
    let before = filter.cursor.as_deref().map(decode_cursor).transpose()?;
    let limit = filter.effective_limit();
    let mut q = select(filter);
    if let Some(b) = before {
        q.push(" AND position < ").push_bind(b as i64);
    }
    q.push(" ORDER BY position DESC LIMIT ")
        .push_bind((limit + 1) as i64);
    let rows = q.build().fetch_all(pool).await.map_err(postgres)?;
    let mut entries = rows.iter().map(read_entry).collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if entries.len() > limit {
        entries.truncate(limit);
        entries.last().map(|e| encode_cursor(e.position))
    } else {
        None
    };
    Ok(AuditPage {
        entries,
        next_cursor,
    })
}

fn postgres(e: sqlx::Error) -> AuditError {
    AuditError::Postgres(Box::new(e))
}

fn corrupt(position: u64, reason: impl std::fmt::Display) -> AuditError {
    AuditError::Corrupt {
        position,
        reason: reason.to_string(),
    }
}

/// A raw row selected with [`COLUMNS`].
struct RawRow {
    org_id: Uuid,
    position: i64,
    occurred_at: i64,
    actor_id: Option<Uuid>,
    actor_username: String,
    resource_type: String,
    operation: String,
    resource_id: String,
    resource_name: String,
    description: String,
    medium: String,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    metadata: String,
}

fn raw(row: &PgRow) -> Result<RawRow, AuditError> {
    let get = || -> Result<RawRow, sqlx::Error> {
        Ok(RawRow {
            org_id: row.try_get(0)?,
            position: row.try_get(1)?,
            occurred_at: row.try_get(2)?,
            actor_id: row.try_get(3)?,
            actor_username: row.try_get(4)?,
            resource_type: row.try_get(5)?,
            operation: row.try_get(6)?,
            resource_id: row.try_get(7)?,
            resource_name: row.try_get(8)?,
            description: row.try_get(9)?,
            medium: row.try_get(10)?,
            ip: row.try_get(11)?,
            user_agent: row.try_get(12)?,
            request_id: row.try_get(13)?,
            metadata: row.try_get(14)?,
        })
    };
    get().map_err(postgres)
}

fn read_entry(row: &PgRow) -> Result<AuditEntry, AuditError> {
    let r = raw(row)?;
    let position = r.position as u64;
    Ok(AuditEntry {
        org_id: domain::ids::OrgId(r.org_id),
        position,
        occurred_at: chrono::DateTime::from_timestamp_micros(r.occurred_at)
            .ok_or_else(|| corrupt(position, "occurred_at out of range"))?,
        actor_id: r.actor_id.map(domain::ids::UserId),
        actor_username: r.actor_username,
        resource_type: r
            .resource_type
            .parse()
            .map_err(|e| corrupt(position, format!("resource_type: {e}")))?,
        operation: r
            .operation
            .parse()
            .map_err(|e| corrupt(position, format!("operation: {e}")))?,
        resource_id: r.resource_id,
        resource_name: r.resource_name,
        description: r.description,
        medium: r.medium,
        ip: r.ip,
        user_agent: r.user_agent,
        request_id: r.request_id,
        metadata: serde_json::from_str(&r.metadata)
            .map_err(|e| corrupt(position, format!("metadata: {e}")))?,
    })
}

/// Rows read per chunk of a CSV export.
const EXPORT_CHUNK: i64 = 2_000;

/// The audit log of a filter as CSV, oldest first, in chunks: the same
/// bytes as [`crate::audit::export`] on the embedded view (header, columns,
/// formula guard, timestamps). Memory stays at one chunk whatever the size:
/// each [`CsvExport::next_chunk`] reads the next [`EXPORT_CHUNK`] rows by
/// position.
pub struct CsvExport {
    pool: PgPool,
    filter: AuditFilter,
    after: i64,
    header_written: bool,
    done: bool,
    rows: u64,
}

impl CsvExport {
    /// Fails with [`AuditError::InvalidFilter`] when `from` is after `to`.
    pub fn new(pool: PgPool, filter: AuditFilter) -> Result<Self, AuditError> {
        validate(&filter)?;
        Ok(CsvExport {
            pool,
            filter,
            after: 0,
            header_written: false,
            done: false,
            rows: 0,
        })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The next chunk of CSV bytes (the first one starts with the header),
    /// or `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, AuditError> {
        if self.done {
            return Ok(None);
        }
        let mut q = select(&self.filter);
        q.push(" AND position > ").push_bind(self.after);
        q.push(" ORDER BY position ASC LIMIT ")
            .push_bind(EXPORT_CHUNK);
        let rows = q.build().fetch_all(&self.pool).await.map_err(postgres)?;
        self.done = (rows.len() as i64) < EXPORT_CHUNK;
        let mut csv = crate::audit::CsvRows::new(Vec::with_capacity(rows.len() * 512));
        if !self.header_written {
            csv.header()?;
            self.header_written = true;
        }
        for row in &rows {
            let r = raw(row)?;
            let mut ids = Uuid::encode_buffer();
            let actor = r
                .actor_id
                .map(|a| a.hyphenated().encode_lower(&mut ids).to_string());
            csv.row(crate::audit::CsvRow {
                position: r.position,
                occurred_at: r.occurred_at,
                actor_id: actor.as_deref(),
                actor_username: &r.actor_username,
                resource_type: &r.resource_type,
                operation: &r.operation,
                resource_id: &r.resource_id,
                resource_name: &r.resource_name,
                description: &r.description,
                medium: &r.medium,
                ip: r.ip.as_deref(),
                user_agent: r.user_agent.as_deref(),
                request_id: r.request_id.as_deref(),
                metadata: &r.metadata,
            })?;
            self.after = r.position;
            self.rows += 1;
        }
        Ok(Some(csv.finish()?))
    }
}
