//! The audit log as CSV, streamed row by row from SQLite into any writer.
//!
//! Columns: Semaphore's, in its order — `resource, operation, medium,
//! user_id, username, resource_id, resource_name, ip_address, description,
//! metadata, timestamp` — then rolebook's own: `position, request_id,
//! user_agent`. `timestamp` is RFC 3339 in UTC with microseconds; `metadata`
//! is the entry's JSON; empty cells stand for absent values (no actor id for
//! the system, no ip for the CLI).
//!
//! Rows come out oldest first (log order), the same filters as
//! [`page`](super::page) apply (its `limit` and `cursor` do not), and memory
//! stays constant: one row is held at a time, each filter reads an index that
//! already yields position order, so SQLite never sorts.
//!
//! **Formula injection.** Spreadsheets run a cell that starts with `=`, `+`,
//! `-` or `@` (and some with a leading tab or carriage return) as a formula,
//! so a group named `=HYPERLINK(...)` could act when an auditor opens the
//! export. Every such cell is written with a leading `'`, which spreadsheets
//! show as text and do not evaluate (OWASP's advice). The cell's content is
//! otherwise untouched, and quoting of commas, quotes and newlines is the
//! `csv` crate's (RFC 4180).

use std::fmt::Write as _;
use std::io::Write;

use chrono::format::{Item, StrftimeItems};
use chrono::DateTime;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OptionalExtension};
use uuid::Uuid;

use super::error::AuditError;
use super::query::{explain, AuditFilter, Conditions, COLUMNS, ORG_INDEX};

/// The header row, in order: Semaphore's eleven columns, then rolebook's.
pub const HEADER: [&str; 14] = [
    "resource",
    "operation",
    "medium",
    "user_id",
    "username",
    "resource_id",
    "resource_name",
    "ip_address",
    "description",
    "metadata",
    "timestamp",
    "position",
    "request_id",
    "user_agent",
];

/// Whether a spreadsheet would take a cell starting like this for a formula.
pub fn is_formula_like(cell: &[u8]) -> bool {
    matches!(
        cell.first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// The SQL of an export, or `None` when the time range holds no entry.
fn export_sql(
    conn: &Connection,
    filter: &AuditFilter,
) -> Result<Option<(String, Vec<Value>)>, AuditError> {
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        if from > to {
            return Err(AuditError::InvalidFilter {
                field: "from",
                reason: format!("from ({from}) is after to ({to})"),
            });
        }
    }
    // Only indexes whose equality prefix leaves position order: no sort.
    let index = if filter.actor.is_some() {
        "audit_by_actor"
    } else if filter.resource_type.is_some() && filter.resource_id.is_some() {
        "audit_by_resource"
    } else if filter.operation.is_some() {
        "audit_by_operation"
    } else {
        ORG_INDEX
    };
    let mut c = Conditions::of(filter);
    if filter.from.is_some() || filter.to.is_some() {
        // The positions the time range spans, from its own index: the scan
        // then covers that span only.
        let mut t = Conditions::default();
        t.push("org_id = ?", Some(super::query::org_value(filter.org_id)));
        if let Some(from) = filter.from {
            t.push(
                "occurred_at >= ?",
                Some(Value::Integer(from.timestamp_micros())),
            );
        }
        if let Some(to) = filter.to {
            t.push(
                "occurred_at < ?",
                Some(Value::Integer(to.timestamp_micros())),
            );
        }
        let span: Option<(i64, i64)> = conn
            .query_row(
                &format!(
                    "SELECT MIN(position), MAX(position) FROM audit_log \
                     INDEXED BY audit_by_time WHERE {}",
                    t.sql
                ),
                rusqlite::params_from_iter(t.params),
                |r| Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?)),
            )
            .optional()?
            .and_then(|(lo, hi)| Some((lo?, hi?)));
        let Some((lo, hi)) = span else {
            return Ok(None);
        };
        c.push("position >= ?", Some(Value::Integer(lo)));
        c.push("position <= ?", Some(Value::Integer(hi)));
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_log INDEXED BY {index} WHERE {} ORDER BY position ASC",
        c.sql
    );
    Ok(Some((sql, c.params)))
}

/// The query plan of an export (`EXPLAIN QUERY PLAN` details), to check that
/// it reads an index and never sorts. Empty when the time range is empty.
pub fn explain_export(conn: &Connection, filter: &AuditFilter) -> Result<Vec<String>, AuditError> {
    match export_sql(conn, filter)? {
        Some((sql, params)) => explain(conn, &sql, params),
        None => Ok(Vec::new()),
    }
}

/// One CSV row being assembled, with reused buffers.
struct RowWriter {
    record: csv::ByteRecord,
    guarded: Vec<u8>,
    scratch: String,
    timestamp: Vec<Item<'static>>,
}

impl RowWriter {
    fn new() -> Self {
        RowWriter {
            record: csv::ByteRecord::with_capacity(1024, HEADER.len()),
            guarded: Vec::new(),
            scratch: String::new(),
            timestamp: StrftimeItems::new("%Y-%m-%dT%H:%M:%S%.6fZ").collect(),
        }
    }

    fn cell(&mut self, bytes: &[u8]) {
        if is_formula_like(bytes) {
            self.guarded.clear();
            self.guarded.push(b'\'');
            self.guarded.extend_from_slice(bytes);
            self.record.push_field(&self.guarded);
        } else {
            self.record.push_field(bytes);
        }
    }

    fn text(&mut self, value: ValueRef) {
        match value {
            ValueRef::Text(t) | ValueRef::Blob(t) => self.cell(t),
            ValueRef::Null => self.record.push_field(b""),
            ValueRef::Integer(i) => {
                self.scratch.clear();
                let _ = write!(self.scratch, "{i}");
                self.record.push_field(self.scratch.as_bytes());
            }
            ValueRef::Real(r) => {
                self.scratch.clear();
                let _ = write!(self.scratch, "{r}");
                self.record.push_field(self.scratch.as_bytes());
            }
        }
    }

    fn uuid(&mut self, position: i64, value: ValueRef) -> Result<(), AuditError> {
        match value {
            ValueRef::Null => self.record.push_field(b""),
            ValueRef::Blob(b) => {
                let id = Uuid::from_slice(b).map_err(|e| AuditError::Corrupt {
                    position: position as u64,
                    reason: format!("actor_id: {e}"),
                })?;
                let mut buf = Uuid::encode_buffer();
                self.record
                    .push_field(id.hyphenated().encode_lower(&mut buf).as_bytes());
            }
            other => self.text(other),
        }
        Ok(())
    }

    fn timestamp(&mut self, position: i64, micros: i64) -> Result<(), AuditError> {
        let at = DateTime::from_timestamp_micros(micros).ok_or_else(|| AuditError::Corrupt {
            position: position as u64,
            reason: "occurred_at out of range".into(),
        })?;
        self.scratch.clear();
        let _ = write!(
            self.scratch,
            "{}",
            at.format_with_items(self.timestamp.iter())
        );
        self.record.push_field(self.scratch.as_bytes());
        Ok(())
    }
}

/// Writes the audit log of `filter.org_id` (narrowed by the filter; `limit`
/// and `cursor` are ignored) to `out` as CSV: the header first, then one row
/// per entry, oldest first. Returns the number of rows written.
///
/// `out` is wrapped in the CSV writer's own buffer and flushed at the end.
/// Fails with [`AuditError::InvalidFilter`] when `from` is after `to`,
/// [`AuditError::Csv`]/[`AuditError::Io`] when writing fails (see
/// [`AuditError::is_broken_pipe`]), [`AuditError::Corrupt`] for an unreadable
/// row and [`AuditError::Database`] when SQLite fails. Rows already written
/// stay written.
pub fn export<W: Write>(
    conn: &Connection,
    filter: &AuditFilter,
    out: W,
) -> Result<u64, AuditError> {
    let mut csv = csv::WriterBuilder::new()
        .buffer_capacity(64 * 1024)
        .from_writer(out);
    csv.write_record(HEADER)?;
    let Some((sql, params)) = export_sql(conn, filter)? else {
        csv.flush()?;
        return Ok(0);
    };
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut w = RowWriter::new();
    let mut count = 0u64;
    // COLUMNS: 0 org_id, 1 position, 2 occurred_at, 3 actor_id,
    // 4 actor_username, 5 resource_type, 6 operation, 7 resource_id,
    // 8 resource_name, 9 description, 10 medium, 11 ip, 12 user_agent,
    // 13 request_id, 14 metadata.
    while let Some(row) = rows.next()? {
        let position: i64 = row.get(1)?;
        w.record.clear();
        w.text(row.get_ref(5)?);
        w.text(row.get_ref(6)?);
        w.text(row.get_ref(10)?);
        w.uuid(position, row.get_ref(3)?)?;
        w.text(row.get_ref(4)?);
        w.text(row.get_ref(7)?);
        w.text(row.get_ref(8)?);
        w.text(row.get_ref(11)?);
        w.text(row.get_ref(9)?);
        w.text(row.get_ref(14)?);
        w.timestamp(position, row.get(2)?)?;
        w.text(ValueRef::Integer(position));
        w.text(row.get_ref(13)?);
        w.text(row.get_ref(12)?);
        csv.write_byte_record(&w.record)?;
        count += 1;
    }
    csv.flush()?;
    Ok(count)
}

/// One entry's cells for [`CsvRows`], as stored (`occurred_at` in
/// microseconds, `actor_id` hyphenated).
pub struct CsvRow<'a> {
    pub position: i64,
    pub occurred_at: i64,
    pub actor_id: Option<&'a str>,
    pub actor_username: &'a str,
    pub resource_type: &'a str,
    pub operation: &'a str,
    pub resource_id: &'a str,
    pub resource_name: &'a str,
    pub description: &'a str,
    pub medium: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub metadata: &'a str,
}

/// The export's CSV written from entries given one by one (the PostgreSQL
/// view's export): the same header, column order, formula guard and
/// timestamp format as [`export`].
pub struct CsvRows<W: Write> {
    csv: csv::Writer<W>,
    w: RowWriter,
}

impl<W: Write> CsvRows<W> {
    pub fn new(out: W) -> Self {
        CsvRows {
            csv: csv::WriterBuilder::new()
                .buffer_capacity(64 * 1024)
                .from_writer(out),
            w: RowWriter::new(),
        }
    }

    pub fn header(&mut self) -> Result<(), AuditError> {
        self.csv.write_record(HEADER)?;
        Ok(())
    }

    pub fn row(&mut self, r: CsvRow) -> Result<(), AuditError> {
        let w = &mut self.w;
        fn opt(v: Option<&str>) -> ValueRef<'_> {
            v.map_or(ValueRef::Null, |t| ValueRef::Text(t.as_bytes()))
        }
        w.record.clear();
        w.cell(r.resource_type.as_bytes());
        w.cell(r.operation.as_bytes());
        w.cell(r.medium.as_bytes());
        w.record.push_field(r.actor_id.unwrap_or("").as_bytes());
        w.cell(r.actor_username.as_bytes());
        w.cell(r.resource_id.as_bytes());
        w.cell(r.resource_name.as_bytes());
        w.text(opt(r.ip));
        w.cell(r.description.as_bytes());
        w.cell(r.metadata.as_bytes());
        w.timestamp(r.position, r.occurred_at)?;
        w.text(ValueRef::Integer(r.position));
        w.text(opt(r.request_id));
        w.text(opt(r.user_agent));
        self.csv.write_byte_record(&w.record)?;
        Ok(())
    }

    /// Flushes and hands back the output.
    pub fn finish(self) -> Result<W, AuditError> {
        self.csv
            .into_inner()
            .map_err(|e| AuditError::Io(std::io::Error::other(e.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_cells() {
        for c in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(is_formula_like(c.as_bytes()), "{c:?}");
        }
        for c in ["", "a=1", "Role Admin", "'=x", " =x"] {
            assert!(!is_formula_like(c.as_bytes()), "{c:?}");
        }
    }
}
