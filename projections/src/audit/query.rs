//! Auditors' queries over `audit_log`: filters (time range, actor, resource,
//! operation), newest first, with keyset paging on the global position.
//!
//! Each filter reads its own index (see `audit_log.sql`), chosen explicitly
//! with `INDEXED BY` so the plan does not depend on table statistics:
//!
//! | filter present (first match wins) | index | rows come out |
//! |---|---|---|
//! | actor | `audit_by_actor` | in position order |
//! | resource id (with its type) | `audit_by_resource` | in position order |
//! | resource id alone | `audit_by_resource` over all types | top-k of the matches |
//! | operation | `audit_by_operation` | in position order |
//! | time range | `audit_by_time` | top-k of the range |
//! | resource type alone | `audit_by_resource` | top-k of the type |
//! | none | `audit_by_org` | in position order |
//!
//! "In position order" reads `limit + 1` index entries past the cursor.
//! "Top-k" scans the matching entries of the index only (covering: no table
//! reads) keeping the best `limit + 1` positions, then fetches those rows; it
//! costs about a microsecond per matching entry, so a range of a million
//! entries takes some hundreds of milliseconds.

use chrono::{DateTime, Utc};
use domain::ids::{OrgId, UserId};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Row};
use uuid::Uuid;

use super::entry::{AuditEntry, Operation, ResourceType};
use super::error::AuditError;
use super::keys;

/// Entries per page unless the filter says otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// The most entries one page holds; larger limits are lowered to it.
pub const MAX_LIMIT: usize = 1_000;

/// The index of an organization's entries: `(org_id, position)` (the
/// rowid, implicitly last).
pub(crate) const ORG_INDEX: &str = "audit_by_org";

/// What an auditor asks for: one organization's entries, optionally
/// narrowed. `from` is inclusive and `to` exclusive. `limit` is clamped to
/// `1..=MAX_LIMIT`; `cursor` is a page's `next_cursor`.
///
/// [`page`] fails with [`AuditError::InvalidFilter`] when `from` is after
/// `to`, and with [`AuditError::InvalidCursor`] for a cursor it did not hand
/// out.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditFilter {
    pub org_id: OrgId,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub actor: Option<UserId>,
    pub resource_type: Option<ResourceType>,
    pub resource_id: Option<String>,
    pub operation: Option<Operation>,
    pub limit: usize,
    pub cursor: Option<String>,
}

impl AuditFilter {
    /// Everything of `org_id`, newest first, [`DEFAULT_LIMIT`] per page.
    pub fn new(org_id: OrgId) -> Self {
        AuditFilter {
            org_id,
            from: None,
            to: None,
            actor: None,
            resource_type: None,
            resource_id: None,
            operation: None,
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }

    /// The page size actually used.
    pub fn effective_limit(&self) -> usize {
        self.limit.clamp(1, MAX_LIMIT)
    }

    fn validate(&self) -> Result<(), AuditError> {
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if from > to {
                return Err(AuditError::InvalidFilter {
                    field: "from",
                    reason: format!("from ({from}) is after to ({to})"),
                });
            }
        }
        Ok(())
    }
}

/// One page of entries, newest first. `next_cursor` is set when older
/// entries remain; pass it back as the filter's `cursor` for the next page.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// The cursor that continues after (below) `position`: opaque to clients.
pub fn encode_cursor(position: u64) -> String {
    format!("{position:016x}")
}

/// Reads a cursor back. Fails with [`AuditError::InvalidCursor`] unless it is
/// exactly what [`encode_cursor`] produces.
pub fn decode_cursor(cursor: &str) -> Result<u64, AuditError> {
    let bad = || AuditError::InvalidCursor(cursor.chars().take(64).collect());
    if cursor.len() != 16
        || !cursor
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(bad());
    }
    let position = u64::from_str_radix(cursor, 16).map_err(|_| bad())?;
    if position == 0 || position > i64::MAX as u64 {
        return Err(bad());
    }
    Ok(position)
}

/// The columns every reader selects, in [`read_entry`]'s order.
pub(crate) const COLUMNS: &str = "org_id, position, occurred_at, actor_id, actor_username, \
    resource_type, operation, resource_id, resource_name, description, medium, ip, user_agent, \
    request_id, metadata";

/// A WHERE clause under construction, with its parameters in order.
#[derive(Default)]
pub(crate) struct Conditions {
    pub sql: String,
    pub params: Vec<Value>,
}

impl Conditions {
    pub fn push(&mut self, condition: &str, value: Option<Value>) {
        if !self.sql.is_empty() {
            self.sql.push_str(" AND ");
        }
        self.sql.push_str(condition);
        self.params.extend(value);
    }

    /// The filter's own conditions (not the cursor). The actor and the
    /// resource are matched on their keys (`audit/keys.rs`, which lead
    /// `audit_by_actor` and `audit_by_resource`) and then on the columns
    /// themselves, since two subjects may share a key. A resource type is
    /// exact in its key, so a type alone is one range of keys and needs no
    /// column check (that keeps its top-k inside the index).
    pub fn of(filter: &AuditFilter) -> Conditions {
        let org = filter.org_id;
        let mut c = Conditions::default();
        c.push("org_id = ?", Some(org_value(org)));
        if let Some(a) = filter.actor {
            c.push(
                "actor_key = ?",
                Some(Value::Integer(keys::actor_key(org, a))),
            );
            c.push("actor_id = ?", Some(Value::Blob(a.0.as_bytes().to_vec())));
        }
        match (filter.resource_type, &filter.resource_id) {
            (Some(t), Some(id)) => {
                c.push(
                    "resource_key = ?",
                    Some(Value::Integer(keys::resource_key(org, t, id))),
                );
                c.push("resource_type = ?", Some(Value::Text(t.as_str().into())));
            }
            (None, Some(id)) => {
                let placeholders = vec!["?"; ResourceType::ALL.len()].join(", ");
                c.push(&format!("resource_key IN ({placeholders})"), None);
                c.params.extend(
                    ResourceType::ALL
                        .iter()
                        .map(|&t| Value::Integer(keys::resource_key(org, t, id))),
                );
            }
            (Some(t), None) => {
                let (start, end) = keys::resource_type_range(org, t);
                c.push("resource_key >= ?", Some(Value::Integer(start)));
                c.push("resource_key < ?", Some(Value::Integer(end)));
            }
            (None, None) => {}
        }
        if let Some(id) = &filter.resource_id {
            c.push("resource_id = ?", Some(Value::Text(id.clone())));
        }
        if let Some(o) = filter.operation {
            c.push("operation = ?", Some(Value::Text(o.as_str().into())));
        }
        if let Some(from) = filter.from {
            c.push(
                "occurred_at >= ?",
                Some(Value::Integer(from.timestamp_micros())),
            );
        }
        if let Some(to) = filter.to {
            c.push(
                "occurred_at < ?",
                Some(Value::Integer(to.timestamp_micros())),
            );
        }
        c
    }
}

pub(crate) fn org_value(org: OrgId) -> Value {
    Value::Blob(org.0.as_bytes().to_vec())
}

/// How [`page`] reads a filter: the index, and whether it yields position
/// order by itself.
struct Plan {
    index: &'static str,
    ordered: bool,
}

fn plan(f: &AuditFilter) -> Plan {
    let p = |index, ordered| Plan { index, ordered };
    if f.actor.is_some() {
        p("audit_by_actor", true)
    } else if f.resource_id.is_some() {
        p("audit_by_resource", f.resource_type.is_some())
    } else if f.operation.is_some() {
        p("audit_by_operation", true)
    } else if f.from.is_some() || f.to.is_some() {
        p("audit_by_time", false)
    } else if f.resource_type.is_some() {
        p("audit_by_resource", false)
    } else {
        p(ORG_INDEX, true)
    }
}

/// The SQL [`page`] runs for a filter, with its parameters.
fn page_sql(filter: &AuditFilter) -> Result<(String, Vec<Value>), AuditError> {
    filter.validate()?;
    let before = filter.cursor.as_deref().map(decode_cursor).transpose()?;
    let plan = plan(filter);
    let mut c = Conditions::of(filter);
    if let Some(b) = before {
        c.push("position < ?", Some(Value::Integer(b as i64)));
    }
    let fetch = (filter.effective_limit() + 1) as i64;
    let index = plan.index;
    let sql = if plan.ordered {
        format!(
            "SELECT {COLUMNS} FROM audit_log INDEXED BY {index} WHERE {} \
             ORDER BY position DESC LIMIT ?",
            c.sql
        )
    } else {
        // Top-k positions from the index alone, then their rows by rowid
        // (the positions are the organization's: the index checked it).
        format!(
            "SELECT {COLUMNS} FROM audit_log NOT INDEXED WHERE position IN \
             (SELECT position FROM audit_log INDEXED BY {index} WHERE {} \
              ORDER BY position DESC LIMIT ?) \
             ORDER BY position DESC",
            c.sql
        )
    };
    c.params.push(Value::Integer(fetch));
    Ok((sql, c.params))
}

/// One page of an organization's audit log, newest first.
///
/// Fails with [`AuditError::InvalidCursor`] for a malformed cursor,
/// [`AuditError::InvalidFilter`] when `from` is after `to`,
/// [`AuditError::Corrupt`] for a row it cannot read back, and
/// [`AuditError::Database`] when SQLite fails (for example when the table
/// does not exist yet because the audit projection never ran).
pub fn page(conn: &Connection, filter: &AuditFilter) -> Result<AuditPage, AuditError> {
    let (sql, params) = page_sql(filter)?;
    let limit = filter.effective_limit();
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut entries = Vec::with_capacity(limit + 1);
    while let Some(row) = rows.next()? {
        entries.push(read_entry(row)?);
    }
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

/// Up to `limit` of `org`'s entries after `position`, oldest first: what a
/// reader that follows the log (the audit webhooks) asks for next. Served
/// by `audit_by_org`.
pub fn since(
    conn: &Connection,
    org: OrgId,
    position: u64,
    limit: usize,
) -> Result<Vec<AuditEntry>, AuditError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_log INDEXED BY {ORG_INDEX} \
         WHERE org_id = ? AND position > ? ORDER BY position LIMIT ?"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query((org_value(org), position as i64, limit as i64))?;
    let mut entries = Vec::new();
    while let Some(row) = rows.next()? {
        entries.push(read_entry(row)?);
    }
    Ok(entries)
}

/// The query plan SQLite chooses for a filter's page (`EXPLAIN QUERY PLAN`
/// details, one line per step), to check which index serves it.
pub fn explain_page(conn: &Connection, filter: &AuditFilter) -> Result<Vec<String>, AuditError> {
    let (sql, params) = page_sql(filter)?;
    explain(conn, &sql, params)
}

pub(crate) fn explain(
    conn: &Connection,
    sql: &str,
    params: Vec<Value>,
) -> Result<Vec<String>, AuditError> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
        r.get::<_, String>(3)
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn corrupt(position: u64, reason: impl std::fmt::Display) -> AuditError {
    AuditError::Corrupt {
        position,
        reason: reason.to_string(),
    }
}

fn uuid_of(position: u64, column: &str, value: ValueRef) -> Result<Uuid, AuditError> {
    let bytes = value
        .as_blob()
        .map_err(|_| corrupt(position, format!("{column} is not a blob")))?;
    Uuid::from_slice(bytes).map_err(|e| corrupt(position, format!("{column}: {e}")))
}

/// Reads a row selected with [`COLUMNS`].
pub(crate) fn read_entry(row: &Row) -> Result<AuditEntry, AuditError> {
    let position: i64 = row.get(1)?;
    let position = position as u64;
    let org_id = OrgId(uuid_of(position, "org_id", row.get_ref(0)?)?);
    let micros: i64 = row.get(2)?;
    let occurred_at = DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| corrupt(position, "occurred_at out of range"))?;
    let actor_id = match row.get_ref(3)? {
        ValueRef::Null => None,
        v => Some(UserId(uuid_of(position, "actor_id", v)?)),
    };
    let resource_type: String = row.get(5)?;
    let operation: String = row.get(6)?;
    let metadata: String = row.get(14)?;
    Ok(AuditEntry {
        org_id,
        position,
        occurred_at,
        actor_id,
        actor_username: row.get(4)?,
        resource_type: resource_type
            .parse()
            .map_err(|e| corrupt(position, format!("resource_type: {e}")))?,
        operation: operation
            .parse()
            .map_err(|e| corrupt(position, format!("operation: {e}")))?,
        resource_id: row.get(7)?,
        resource_name: row.get(8)?,
        description: row.get(9)?,
        medium: row.get(10)?,
        ip: row.get(11)?,
        user_agent: row.get(12)?,
        request_id: row.get(13)?,
        metadata: serde_json::from_str(&metadata)
            .map_err(|e| corrupt(position, format!("metadata: {e}")))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        for p in [1u64, 42, 1 << 40, i64::MAX as u64] {
            assert_eq!(decode_cursor(&encode_cursor(p)).unwrap(), p);
        }
        for bad in [
            "",
            "zz",
            "000000000000002A",
            "0000000000000000",
            "8000000000000000",
            "00000000000000001",
            "ééééééééé",
        ] {
            let e = decode_cursor(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_cursor", "{bad:?}");
        }
    }
}
