//! Checks exported days against their digests and the log
//! (`rolebook replay check-export`).
//!
//! For each day: the Parquet object's SHA-256 and size are recomputed and
//! compared with the digest; the object is read back (footer row count and
//! its `position` column: count, first, last, increasing) and compared with
//! the digest; the digest is compared with the audit view (rows, first and
//! last positions of that organization-day) and with the event store (the
//! event at the last position belongs to the organization's stream, its hash
//! is intact and equals the digest's chain hash). Any difference is a
//! problem of that day; a changed byte in the object is always one (its
//! SHA-256 changes).

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use chrono::NaiveDate;
use domain::ids::OrgId;
use domain::store::EventStore;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use serde::Serialize;

use super::digest::{self, Digest};
use super::rows::{self, DayStats};
use super::target::{self, Target};
use super::{blocking, plan, writer, ExportError, Selection};

/// The outcome for one day: `ok` when `problems` is empty.
#[derive(Debug, Clone, Serialize)]
pub struct DayCheck {
    pub org_id: OrgId,
    pub date: NaiveDate,
    pub ok: bool,
    pub rows: u64,
    pub parquet: String,
    pub problems: Vec<String>,
}

/// The outcome of a check: `ok` when every day is.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub ok: bool,
    pub checked: usize,
    pub failed: usize,
    pub days: Vec<DayCheck>,
}

/// What the object's own content says: footer rows and the position column.
fn read_back(parquet: Vec<u8>) -> Result<(i64, DayStats, bool), String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(parquet))
        .map_err(|e| format!("not a readable Parquet object: {e}"))?;
    let footer_rows = builder.metadata().file_metadata().num_rows();
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["position"]);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| format!("cannot read the Parquet object: {e}"))?;
    let mut stats = DayStats::default();
    let mut increasing = true;
    for batch in reader {
        let batch = batch.map_err(|e| format!("cannot read the Parquet object: {e}"))?;
        let positions = batch
            .column(0)
            .as_primitive_opt::<Int64Type>()
            .ok_or("the position column is not Int64")?;
        for p in positions.values().iter().map(|p| *p as u64) {
            if stats.rows == 0 {
                stats.first_position = p;
            } else if p <= stats.last_position {
                increasing = false;
            }
            stats.rows += 1;
            stats.last_position = p;
        }
    }
    Ok((footer_rows, stats, increasing))
}

fn compare(
    problems: &mut Vec<String>,
    what: &str,
    found: impl std::fmt::Display,
    digest: impl std::fmt::Display,
) {
    if found.to_string() != digest.to_string() {
        problems.push(format!("{what} is {found}, the digest says {digest}"));
    }
}

/// Checks one day (see the module doc). Fails only when the target, the
/// audit view or the event store cannot be read at all; a missing or
/// changed object is a problem in the returned [`DayCheck`].
pub async fn check_day(
    store: &dyn EventStore,
    read_db: &Path,
    target: &Target,
    org: OrgId,
    date: NaiveDate,
) -> Result<DayCheck, ExportError> {
    let parquet_key = target::parquet_key(org, date);
    let mut day = DayCheck {
        org_id: org,
        date,
        ok: false,
        rows: 0,
        parquet: target.describe(&parquet_key),
        problems: Vec::new(),
    };
    let db = read_db.to_path_buf();
    let log = blocking(move || rows::day_stats(&writer::open(&db)?, org, date)).await?;
    let digest = match target.get(&target::digest_key(org, date)).await? {
        None => {
            day.problems.push(format!(
                "no digest at {}",
                target.describe(&target::digest_key(org, date))
            ));
            None
        }
        Some(bytes) => match Digest::from_json(&bytes) {
            Ok(d) => Some(d),
            Err(e) => {
                day.problems.push(e.to_string());
                None
            }
        },
    };
    let parquet = target.get(&parquet_key).await?;
    let Some(parquet) = parquet else {
        day.problems
            .push(format!("no Parquet object at {}", day.parquet));
        return Ok(day);
    };
    let Some(d) = digest else {
        return Ok(day);
    };
    let p = &mut day.problems;
    if d.org_id != org || d.date != date || d.parquet_key != parquet_key {
        p.push(format!(
            "the digest describes {} of {} ({}), not this day",
            d.date, d.org_id, d.parquet_key
        ));
    }
    // The object against its digest.
    compare(
        p,
        "the Parquet object's SHA-256",
        digest::sha256_hex(&parquet),
        &d.parquet_sha256,
    );
    compare(
        p,
        "the Parquet object's size",
        parquet.len(),
        d.parquet_bytes,
    );
    match blocking(move || Ok(read_back(parquet))).await? {
        Ok((footer_rows, content, increasing)) => {
            compare(p, "the Parquet footer's row count", footer_rows, d.rows);
            compare(p, "the object's row count", content.rows, d.rows);
            compare(
                p,
                "the object's first position",
                content.first_position,
                d.first_position,
            );
            compare(
                p,
                "the object's last position",
                content.last_position,
                d.last_position,
            );
            if !increasing {
                p.push("the object's positions are not in increasing order".into());
            }
        }
        Err(e) => p.push(e),
    }
    // The digest against the log.
    compare(p, "the audit log's row count for the day", log.rows, d.rows);
    compare(
        p,
        "the audit log's first position for the day",
        log.first_position,
        d.first_position,
    );
    compare(
        p,
        "the audit log's last position for the day",
        log.last_position,
        d.last_position,
    );
    match digest::chain_link(store, org, d.last_position).await {
        Ok(event) => {
            compare(
                p,
                "the chain hash at the last position",
                domain::hash::to_hex(&event.hash),
                &d.chain_hash,
            );
            compare(
                p,
                "the stream version at the last position",
                event.stream_version,
                d.last_stream_version,
            );
        }
        Err(e) => p.push(e.to_string()),
    }
    day.rows = d.rows;
    day.ok = day.problems.is_empty();
    Ok(day)
}

/// Checks every day of `selection` that the log has entries for.
pub async fn check(
    store: Arc<dyn EventStore>,
    read_db: &Path,
    target: &Target,
    selection: &Selection,
) -> Result<CheckReport, ExportError> {
    let db = read_db.to_path_buf();
    let sel = selection.clone();
    let days = blocking(move || plan::plan(&writer::open(&db)?, &sel)).await?;
    let mut report = CheckReport {
        ok: true,
        checked: 0,
        failed: 0,
        days: Vec::with_capacity(days.len()),
    };
    for (org, date) in days {
        let day = check_day(store.as_ref(), read_db, target, org, date).await?;
        report.checked += 1;
        if !day.ok {
            report.ok = false;
            report.failed += 1;
        }
        report.days.push(day);
    }
    Ok(report)
}
