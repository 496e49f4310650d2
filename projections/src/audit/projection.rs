//! The audit projection: one `audit_log` row per organization event, written
//! by the projection runner in the same transaction as its checkpoint.

use infra::sqlite::migrations::{self, Migration};
use std::sync::LazyLock;

use domain::events::EventMetadata;
use rusqlite::{Connection, Transaction};

use super::entry::{describe, metadata_json};
use super::keys;
use super::names::Names;
use crate::runner::{Decoded, Projection, ProjectionError};

/// The schema of the audit-log view.
pub const SCHEMA: &str = include_str!("audit_log.sql");

/// The audit view's migrations.
const MIGRATIONS: &[Migration] = &[(1, "audit_log", SCHEMA)];

/// The columns of one row, in the order `insert_rows` binds them.
const COLUMNS: &str = "org_id, position, occurred_at, actor_id, actor_username, \
    resource_type, operation, resource_id, resource_name, description, medium, ip, \
    user_agent, request_id, metadata, actor_key, resource_key";

/// Values bound per row.
const PER_ROW: usize = 17;

/// Rows per execution of the multi-row insert of a long page.
const ROWS_PER_INSERT: usize = 64;

/// The one-row and the multi-row `INSERT`, written once.
static INSERT_ONE: LazyLock<String> = LazyLock::new(|| insert_sql(1));
static INSERT_MANY: LazyLock<String> = LazyLock::new(|| insert_sql(ROWS_PER_INSERT));

/// The `INSERT` of `rows` rows. A row already written is ignored: two
/// runners (the server and a CLI export catching up) may apply the same
/// page, and the rows are the same.
///
/// Long pages insert [`ROWS_PER_INSERT`] rows per execution: the
/// statement's cursors stay open from one row to the next, so the rows
/// (appended in position order) and the indexes that grow at their end
/// (by organization, by time) are written without a descent from the
/// root of each b-tree per row.
fn insert_sql(rows: usize) -> String {
    let mut sql = format!("INSERT INTO audit_log ({COLUMNS}) VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..PER_ROW {
            if c > 0 {
                sql.push_str(", ");
            }
            let _ = std::fmt::Write::write_fmt(&mut sql, format_args!("?{}", r * PER_ROW + c + 1));
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (position) DO NOTHING");
    sql
}

/// Folds the log into the `audit_log` table (checkpoint name `audit`).
///
/// Keeps a [`Names`] registry in memory, so it needs warming up with the
/// events before its checkpoint. `apply` fails (and the runner stops the
/// projection at that event) when an event is outside an organization's
/// stream, when its metadata is not valid `EventMetadata` JSON, or when
/// SQLite fails. After a failed `apply` the registry may be ahead of the
/// table: drop the projection and open a new one (the runner does).
#[derive(Debug, Default)]
pub struct AuditProjection {
    names: Names,
}

impl AuditProjection {
    pub fn new() -> Self {
        AuditProjection::default()
    }

    /// The names registry as of the last applied (or warmed) event.
    pub fn names(&self) -> &Names {
        &self.names
    }
}

pub(crate) fn event_error(position: u64, reason: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Event {
        position,
        reason: reason.to_string(),
    }
}

impl Projection for AuditProjection {
    fn name(&self) -> &'static str {
        "audit"
    }

    /// A view of an older shape is dropped with its checkpoint, and the
    /// runner writes it again from the log: one written before `actor_key`
    /// and `resource_key` existed (its indexes led by the organization's
    /// blob), or before `position` became the rowid (primary key
    /// `(org_id, position)`).
    fn migrate(&mut self, conn: &Connection) -> Result<(), ProjectionError> {
        // No columns at all: no table yet.
        let (columns, has_keys, position_is_rowid): (i64, bool, bool) = conn.query_row(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE name = 'resource_key') > 0, \
                    COUNT(*) FILTER (WHERE pk > 0) = 1 \
                    AND COUNT(*) FILTER (WHERE name = 'position' AND pk = 1) = 1 \
             FROM pragma_table_info('audit_log')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        if columns > 0 && !(has_keys && position_is_rowid) {
            tracing::warn!("the audit view has an older shape: writing it again from the log");
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch("DROP TABLE audit_log")?;
            crate::runner::forget_checkpoint(&tx, self.name())?;
            tx.commit()?;
        }
        migrations::migrate(conn, "audit", MIGRATIONS)?;
        // The indexes a bulk catch-up drops, if the process died before it
        // built them again (`after_backlog`).
        conn.execute_batch(SCHEMA)?;
        Ok(())
    }

    fn needs_warm_up(&self) -> bool {
        true
    }

    fn detached(&self) -> Option<Self> {
        Some(AuditProjection::new())
    }

    fn adopt(&mut self, copy: Self) {
        self.names = copy.names;
    }

    fn backlog(&self) -> crate::runner::Backlog {
        crate::runner::Backlog::Indexed
    }

    /// A long backlog is inserted without the actor and resource indexes
    /// (each insert would touch a random page of both); they are built again
    /// afterwards by sorting, which is much cheaper. `migrate` rebuilds them
    /// at the next start if the process dies in between.
    fn before_backlog(&mut self, conn: &Connection) -> Result<(), ProjectionError> {
        conn.execute_batch(
            "DROP INDEX IF EXISTS audit_by_actor; DROP INDEX IF EXISTS audit_by_resource;",
        )?;
        Ok(())
    }

    fn after_backlog(&mut self, conn: &Connection) -> Result<(), ProjectionError> {
        conn.execute_batch(SCHEMA)?;
        Ok(())
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

    /// Long pages (a backlog) are written on two cores: one thread
    /// describes the events (names, metadata) in order while this one
    /// inserts the rows described before.
    fn apply(&mut self, tx: &Transaction, events: &[Decoded]) -> Result<(), ProjectionError> {
        let mut insert = tx.prepare_cached(&INSERT_ONE)?;
        if events.len() < PIPELINE_FROM {
            for d in events {
                let row = describe_row(&mut self.names, d)?;
                insert_rows(&mut insert, std::slice::from_ref(&row))?;
            }
            return Ok(());
        }
        let mut insert_many = tx.prepare_cached(&INSERT_MANY)?;
        let names = &mut self.names;
        std::thread::scope(|scope| {
            let (rows, described) = std::sync::mpsc::sync_channel(4);
            let describing = scope.spawn(move || {
                for chunk in events.chunks(PIPELINE_CHUNK) {
                    let batch: Result<Vec<Row>, ProjectionError> =
                        chunk.iter().map(|d| describe_row(names, d)).collect();
                    let failed = batch.is_err();
                    if rows.send(batch).is_err() || failed {
                        return;
                    }
                }
            });
            let inserted = (|| {
                for batch in described {
                    let batch = batch?;
                    let mut many = batch.chunks_exact(ROWS_PER_INSERT);
                    for rows in &mut many {
                        insert_rows(&mut insert_many, rows)?;
                    }
                    for row in many.remainder() {
                        insert_rows(&mut insert, std::slice::from_ref(row))?;
                    }
                }
                Ok(())
            })();
            // On an insert error the channel closes and the describing
            // thread stops at its next send.
            describing.join().expect("describing audit rows");
            inserted
        })
    }
}

/// Pages at least this long are described and inserted on two threads.
const PIPELINE_FROM: usize = 2_048;

/// Rows handed from the describing thread to the inserting one at a time.
const PIPELINE_CHUNK: usize = 512;

/// One `audit_log` row, ready to insert.
pub(crate) struct Row {
    pub(crate) org: domain::ids::OrgId,
    pub(crate) position: i64,
    pub(crate) actor_key: Option<i64>,
    pub(crate) resource_key: i64,
    pub(crate) meta: EventMetadata,
    pub(crate) described: super::entry::Described,
    pub(crate) metadata: String,
}

/// Describes one event as its audit row, then records the names it
/// introduces (so that a removal still names what went).
pub(crate) fn describe_row(names: &mut Names, d: &Decoded) -> Result<Row, ProjectionError> {
    let record = &d.record;
    let position = record.global_position;
    let org = domain::ids::OrgId::of_stream(&record.stream_id).ok_or_else(|| {
        event_error(
            position,
            format!("{} is not an organization stream", record.stream_id),
        )
    })?;
    let meta: EventMetadata = serde_json::from_str(&record.metadata)
        .map_err(|e| event_error(position, format!("event metadata: {e}")))?;
    let described = describe(names.org_or_empty(org), org, &d.event);
    let metadata = metadata_json(record, &d.event, &meta);
    let position_i64 =
        i64::try_from(position).map_err(|_| event_error(position, "position beyond 2^63"))?;
    names.apply(org, &d.event);
    let actor_key = meta.actor.user_id.map(|u| keys::actor_key(org, u));
    let resource_key = keys::resource_key(org, described.resource_type, &described.resource_id);
    Ok(Row {
        org,
        position: position_i64,
        actor_key,
        resource_key,
        meta,
        described,
        metadata,
    })
}

/// Binds `rows` to `insert` (prepared for that many rows) and runs it.
fn insert_rows(
    insert: &mut rusqlite::CachedStatement,
    rows: &[Row],
) -> Result<(), ProjectionError> {
    for (r, row) in rows.iter().enumerate() {
        let (meta, described) = (&row.meta, &row.described);
        let first = r * PER_ROW + 1;
        let values: [&dyn rusqlite::ToSql; PER_ROW] = [
            &row.org.0.as_bytes().as_slice(),
            &row.position,
            &meta.occurred_at.timestamp_micros(),
            &meta
                .actor
                .user_id
                .as_ref()
                .map(|u| u.0.as_bytes().as_slice()),
            &meta.actor.username,
            &described.resource_type.as_str(),
            &described.operation.as_str(),
            &described.resource_id,
            &described.resource_name,
            &described.description,
            &meta.medium.as_str(),
            &meta.ip,
            &meta.user_agent,
            &meta.request_id,
            &row.metadata,
            &row.actor_key,
            &row.resource_key,
        ];
        for (c, value) in values.iter().enumerate() {
            insert.raw_bind_parameter(first + c, value)?;
        }
    }
    insert.raw_execute()?;
    Ok(())
}
