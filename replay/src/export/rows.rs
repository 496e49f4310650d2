//! The audit entries of one organization and UTC day as Arrow record
//! batches, read straight from the `audit_log` view (projections'
//! `audit/audit_log.sql`), oldest first.
//!
//! **Columns** (the audit view's fields, in its order, typed):
//!
//! | column | Arrow type | null |
//! |---|---|---|
//! | `org_id` | Utf8 (UUID) | no |
//! | `position` | Int64 (the global position) | no |
//! | `occurred_at` | Timestamp(µs, "UTC") | no |
//! | `actor_id` | Utf8 (UUID) | yes: the system acted |
//! | `actor_username`, `resource_type`, `operation`, `resource_id`, `resource_name`, `description`, `medium` | Utf8 | no |
//! | `ip`, `user_agent`, `request_id` | Utf8 | yes |
//! | `metadata` | Utf8, JSON text (field metadata `rolebook.content: json`) | no |
//!
//! **Reading.** The day's positions come from `audit_by_time`; then a range
//! of positions (the table's rowid) is read either by scanning the table
//! itself or through `audit_by_org`, see [`Access`]. Both are in log order;
//! SQLite never sorts. Rows are copied into Arrow builders column by
//! column; nothing is parsed (the metadata stays text).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow_array::builder::{Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;
use domain::ids::OrgId;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};
use uuid::Uuid;

use super::ExportError;

const READING: &str = "cannot read the audit log";

/// Rows per record batch handed to the Parquet writer.
pub const BATCH_ROWS: usize = 16_384;

/// The Parquet/Arrow schema of an audit object (see the module doc).
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
            let json = HashMap::from([("rolebook.content".to_string(), "json".to_string())]);
            Arc::new(Schema::new(vec![
                text("org_id", false),
                Field::new("position", DataType::Int64, false),
                Field::new(
                    "occurred_at",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    false,
                ),
                text("actor_id", true),
                text("actor_username", false),
                text("resource_type", false),
                text("operation", false),
                text("resource_id", false),
                text("resource_name", false),
                text("description", false),
                text("medium", false),
                text("ip", true),
                text("user_agent", true),
                text("request_id", true),
                text("metadata", false).with_metadata(json),
            ]))
        })
        .clone()
}

/// Microseconds since the epoch of a day's first instant (UTC).
pub fn day_start_micros(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_micros()
}

/// The UTC day of an instant in microseconds since the epoch.
pub fn day_of_micros(micros: i64) -> Option<NaiveDate> {
    chrono::DateTime::from_timestamp_micros(micros).map(|t| t.date_naive())
}

/// What a day's rows add up to: count and first/last global positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayStats {
    pub rows: u64,
    pub first_position: u64,
    pub last_position: u64,
}

/// The span of positions of `org`'s entries on `day`, from `audit_by_time`
/// (covering: no table reads), with the number of entries in it.
pub fn day_stats(conn: &Connection, org: OrgId, day: NaiveDate) -> Result<DayStats, ExportError> {
    let start = day_start_micros(day);
    let end = day_start_micros(day.succ_opt().unwrap_or(day));
    let (rows, lo, hi): (i64, Option<i64>, Option<i64>) = conn
        .query_row(
            "SELECT COUNT(*), MIN(position), MAX(position) FROM audit_log \
             INDEXED BY audit_by_time \
             WHERE org_id = ?1 AND occurred_at >= ?2 AND occurred_at < ?3",
            (org.0.as_bytes().as_slice(), start, end),
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(ExportError::db(READING))?;
    Ok(DayStats {
        rows: rows as u64,
        first_position: lo.unwrap_or(0) as u64,
        last_position: hi.unwrap_or(0) as u64,
    })
}

/// The UTC days on which `org` has entries, from `from` to `to` inclusive
/// (either open), oldest first: one index seek per day found.
pub fn days_with_entries(
    conn: &Connection,
    org: OrgId,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<NaiveDate>, ExportError> {
    let mut stmt = conn
        .prepare(
            "SELECT occurred_at FROM audit_log INDEXED BY audit_by_time \
             WHERE org_id = ?1 AND occurred_at >= ?2 ORDER BY occurred_at LIMIT 1",
        )
        .map_err(ExportError::db(READING))?;
    let mut days = Vec::new();
    let mut at = from.map(day_start_micros).unwrap_or(i64::MIN);
    loop {
        let next: Option<i64> = stmt
            .query_row((org.0.as_bytes().as_slice(), at), |r| r.get(0))
            .optional()
            .map_err(ExportError::db(READING))?;
        let Some(day) = next.and_then(day_of_micros) else {
            return Ok(days);
        };
        if to.is_some_and(|to| day > to) {
            return Ok(days);
        }
        days.push(day);
        match day.succ_opt() {
            Some(next) => at = day_start_micros(next),
            None => return Ok(days),
        }
    }
}

/// Column builders of one record batch.
struct Builders {
    org_id: StringBuilder,
    position: Int64Builder,
    occurred_at: TimestampMicrosecondBuilder,
    actor_id: StringBuilder,
    text: Vec<StringBuilder>,
    optional: Vec<StringBuilder>,
    metadata: StringBuilder,
    len: usize,
}

impl Builders {
    fn new() -> Self {
        let strings = |n: usize, bytes: usize| {
            (0..n)
                .map(|_| StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * bytes))
                .collect()
        };
        Builders {
            org_id: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 36),
            position: Int64Builder::with_capacity(BATCH_ROWS),
            occurred_at: TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS)
                .with_timezone("UTC"),
            actor_id: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 36),
            // actor_username, resource_type, operation, resource_id,
            // resource_name, description, medium
            text: strings(7, 24),
            // ip, user_agent, request_id
            optional: strings(3, 16),
            metadata: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 256),
            len: 0,
        }
    }

    fn finish(&mut self) -> Result<RecordBatch, ExportError> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(15);
        columns.push(Arc::new(self.org_id.finish()));
        columns.push(Arc::new(self.position.finish()));
        columns.push(Arc::new(self.occurred_at.finish()));
        columns.push(Arc::new(self.actor_id.finish()));
        for b in &mut self.text {
            columns.push(Arc::new(b.finish()));
        }
        for b in &mut self.optional {
            columns.push(Arc::new(b.finish()));
        }
        columns.push(Arc::new(self.metadata.finish()));
        self.len = 0;
        Ok(RecordBatch::try_new(schema(), columns)?)
    }
}

fn corrupt(position: i64, reason: impl Into<String>) -> ExportError {
    ExportError::Corrupt {
        position: position as u64,
        reason: reason.into(),
    }
}

fn text<'a>(position: i64, column: &str, value: ValueRef<'a>) -> Result<&'a str, ExportError> {
    match value {
        ValueRef::Text(t) => {
            std::str::from_utf8(t).map_err(|_| corrupt(position, format!("{column}: not UTF-8")))
        }
        _ => Err(corrupt(position, format!("{column} is not text"))),
    }
}

fn optional_text<'a>(
    position: i64,
    column: &str,
    value: ValueRef<'a>,
) -> Result<Option<&'a str>, ExportError> {
    match value {
        ValueRef::Null => Ok(None),
        v => text(position, column, v).map(Some),
    }
}

fn append_uuid(
    builder: &mut StringBuilder,
    position: i64,
    column: &str,
    value: ValueRef,
) -> Result<(), ExportError> {
    match value {
        ValueRef::Null => builder.append_null(),
        ValueRef::Blob(b) => {
            let id =
                Uuid::from_slice(b).map_err(|e| corrupt(position, format!("{column}: {e}")))?;
            let mut buf = Uuid::encode_buffer();
            builder.append_value(id.hyphenated().encode_lower(&mut buf));
        }
        _ => return Err(corrupt(position, format!("{column} is not a UUID"))),
    }
    Ok(())
}

/// Reads `org`'s entries of `day` in log order and hands them to `sink` in
/// record batches of up to [`BATCH_ROWS`] rows. Returns what they add up to.
///
/// Fails with [`ExportError::Database`] when SQLite fails,
/// [`ExportError::Corrupt`] for a row that does not fit its column, or with
/// whatever `sink` returns.
pub fn read_day(
    conn: &Connection,
    org: OrgId,
    day: NaiveDate,
    sink: impl FnMut(RecordBatch) -> Result<(), ExportError>,
) -> Result<DayStats, ExportError> {
    let span = day_stats(conn, org, day)?;
    if span.rows == 0 {
        return Ok(DayStats::default());
    }
    read_range(
        conn,
        org,
        day,
        (span.first_position, span.last_position),
        Access::for_span(span),
        sink,
    )
}

/// `first..=last` (positions) cut into ranges of [`BATCH_ROWS`] (so each
/// holds at most one batch), in order. Ranges of a log shared by many
/// organizations may hold fewer rows, or none.
pub fn chunks(first: u64, last: u64) -> Vec<(u64, u64)> {
    let width = BATCH_ROWS as u64;
    (first..=last)
        .step_by(BATCH_ROWS)
        .map(|lo| (lo, (lo + width - 1).min(last)))
        .collect()
}

/// How [`read_range`] finds a range's rows (positions, the table's rowid).
/// Both give them in log order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Through `audit_by_org` `(org_id, position)`: reads the
    /// organization's rows only, each with a seek into the table.
    Index,
    /// By scanning the table itself over the range (no index pages),
    /// reading the other organizations' rows in it too: for a range that is
    /// mostly the organization's. On a day of one organization both run at
    /// the same speed (BENCHMARKS.md, the replay bench's floors).
    Table,
}

impl Access {
    /// The cheaper access for `span`: the table when the organization's
    /// rows make up at least half of its positions.
    pub fn for_span(span: DayStats) -> Access {
        let width = span.last_position.saturating_sub(span.first_position);
        if width < span.rows.saturating_mul(2) {
            Access::Table
        } else {
            Access::Index
        }
    }
}

/// Like [`read_day`], for the entries of `day` at positions in `range`
/// (inclusive), in that order.
pub fn read_range(
    conn: &Connection,
    org: OrgId,
    day: NaiveDate,
    range: (u64, u64),
    access: Access,
    mut sink: impl FnMut(RecordBatch) -> Result<(), ExportError>,
) -> Result<DayStats, ExportError> {
    let start = day_start_micros(day);
    let end = day_start_micros(day.succ_opt().unwrap_or(day));
    const SELECT: &str = "SELECT org_id, position, occurred_at, actor_id, actor_username, \
        resource_type, operation, resource_id, resource_name, description, medium, ip, \
        user_agent, request_id, metadata FROM audit_log";
    let index = match access {
        Access::Index => "INDEXED BY audit_by_org",
        Access::Table => "NOT INDEXED",
    };
    let sql = format!(
        "{SELECT} {index} WHERE org_id = ?1 AND position >= ?2 AND position <= ?3 \
         AND occurred_at >= ?4 AND occurred_at < ?5 ORDER BY position"
    );
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(ExportError::db(READING))?;
    let mut rows = stmt
        .query((
            org.0.as_bytes().as_slice(),
            range.0 as i64,
            range.1 as i64,
            start,
            end,
        ))
        .map_err(ExportError::db(READING))?;
    let mut b = Builders::new();
    let mut stats = DayStats::default();
    let mut org_buf = Uuid::encode_buffer();
    let org_text: &str = org.0.hyphenated().encode_lower(&mut org_buf);
    while let Some(row) = rows.next().map_err(ExportError::db(READING))? {
        let get = |i: usize| row.get_ref(i);
        let position: i64 = match get(1) {
            Ok(ValueRef::Integer(p)) => p,
            _ => return Err(corrupt(0, "position is not an integer")),
        };
        let micros = match get(2) {
            Ok(ValueRef::Integer(t)) => t,
            _ => return Err(corrupt(position, "occurred_at is not an integer")),
        };
        let cell = |i: usize| get(i).map_err(|e| corrupt(position, e.to_string()));
        // The WHERE clause fixes the organization.
        b.org_id.append_value(org_text);
        b.position.append_value(position);
        b.occurred_at.append_value(micros);
        append_uuid(&mut b.actor_id, position, "actor_id", cell(3)?)?;
        const TEXT: [&str; 7] = [
            "actor_username",
            "resource_type",
            "operation",
            "resource_id",
            "resource_name",
            "description",
            "medium",
        ];
        for (k, name) in TEXT.iter().enumerate() {
            b.text[k].append_value(text(position, name, cell(4 + k)?)?);
        }
        const OPTIONAL: [&str; 3] = ["ip", "user_agent", "request_id"];
        for (k, name) in OPTIONAL.iter().enumerate() {
            b.optional[k].append_option(optional_text(position, name, cell(11 + k)?)?);
        }
        b.metadata
            .append_value(text(position, "metadata", cell(14)?)?);
        b.len += 1;
        if stats.rows == 0 {
            stats.first_position = position as u64;
        }
        stats.rows += 1;
        stats.last_position = position as u64;
        if b.len == BATCH_ROWS {
            sink(b.finish()?)?;
        }
    }
    if b.len > 0 {
        sink(b.finish()?)?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_mostly_of_the_organization_is_scanned_in_the_table() {
        let span = |rows, first_position, last_position| DayStats {
            rows,
            first_position,
            last_position,
        };
        assert_eq!(Access::for_span(span(1, 7, 7)), Access::Table);
        assert_eq!(Access::for_span(span(100, 1, 100)), Access::Table);
        assert_eq!(Access::for_span(span(100, 1, 199)), Access::Table);
        assert_eq!(Access::for_span(span(100, 1, 201)), Access::Index);
        assert_eq!(Access::for_span(span(10, 5, 1_000_000)), Access::Index);
        assert_eq!(Access::for_span(span(0, 0, 0)), Access::Index);
    }
}
