//! Parquet export of the audit log (issue 5, part 4): one object per
//! organization and UTC day, `org=<id>/date=YYYY-MM-DD/audit.parquet`, with
//! a digest beside it (`audit.digest.json`) that ties the object to the
//! log's hash chain.
//!
//! - [`rows`]: the Arrow schema and the day's rows read from the audit view;
//! - [`writer`]: the Parquet encoding (zstd, 128k-row groups);
//! - [`digest`]: the digest and the chain link it names;
//! - [`target`]: the objects' keys in a directory or an S3-compatible bucket
//!   (`infra::object_storage`);
//! - [`plan`]: which days (finished ones, within a range); resuming is
//!   running again (a day whose digest is in the target and matches the
//!   log is kept, the others written);
//! - [`check`]: recomputes an object's SHA-256 and compares the object, its
//!   digest and the log.
//!
//! [`export`] writes a [`Selection`] of days; [`export_day`] writes one (the
//! bucket streaming of [`crate::streaming`] calls it day by day).

pub mod check;
pub mod digest;
pub mod plan;
pub mod rows;
pub mod target;
pub mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use domain::ids::OrgId;
use domain::store::{EventStore, StoreError};
use indicatif::ProgressBar;
use serde::Serialize;

pub use check::{check, check_day, CheckReport, DayCheck};
pub use digest::Digest;
pub use infra::object_storage::ObjectStorageError;
pub use plan::{plan, Selection};
pub use target::{BucketSettings, Provider, Target};

/// Why an export (or a check) could not be carried out. A check that finds
/// a changed object reports it in its [`CheckReport`]; it is not an error.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// A row of the audit view does not fit its column.
    #[error("audit entry at position {position} cannot be exported: {reason}")]
    Corrupt { position: u64, reason: String },
    #[error("Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("Arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The event a day ends with does not match its own hash.
    #[error(
        "the hash chain of {stream} is broken at position {position}: run `rolebook replay verify`"
    )]
    BrokenChain { stream: String, position: u64 },
    /// The target cannot be set up, or refused or could not be reached
    /// (after retries).
    #[error(transparent)]
    Storage(#[from] infra::object_storage::ObjectStorageError),
    #[error(transparent)]
    Replay(#[from] crate::ReplayError),
    #[error("{0}")]
    Invalid(String),
}

impl ExportError {
    pub(crate) fn db(context: &'static str) -> impl Fn(rusqlite::Error) -> ExportError + Copy {
        move |source| ExportError::Database { context, source }
    }
}

/// One day written: where, and what it holds.
#[derive(Debug, Clone, Serialize)]
pub struct DayExport {
    pub org_id: OrgId,
    pub date: NaiveDate,
    pub rows: u64,
    pub first_position: u64,
    pub last_position: u64,
    pub parquet: String,
    pub digest: String,
    pub parquet_sha256: String,
    /// Bytes written: the Parquet object and the digest (0 when kept).
    pub bytes: u64,
    /// The target held this day already, as the log says it should be
    /// (an earlier run wrote it): it was kept, not written again.
    pub kept: bool,
}

/// What [`export`] did.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub target: String,
    pub days: Vec<DayExport>,
    /// Objects written (a kept day's are not counted).
    pub objects: u64,
    /// Days the target held already and were kept (a resumed export).
    pub kept_days: u64,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// Runs blocking export work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ExportError> + Send + 'static,
) -> Result<T, ExportError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(ExportError::Invalid(format!("export task: {e}"))),
    }
}

/// Writes `org`'s day `date` to `target`: the Parquet object first, then its
/// digest (so a digest never names an object that is not there). `None`
/// when the day has no entries. `progress` is advanced by the rows encoded.
///
/// Fails with any [`ExportError`]; what was written before the failure
/// stays, and writing the day again replaces it.
pub async fn export_day(
    store: &dyn EventStore,
    read_db: &Path,
    target: &Target,
    org: OrgId,
    date: NaiveDate,
    progress: &ProgressBar,
) -> Result<Option<DayExport>, ExportError> {
    let db = read_db.to_path_buf();
    let span = blocking(move || rows::day_stats(&writer::open(&db)?, org, date)).await?;
    export_span(store, read_db, target, org, date, span, progress).await
}

/// [`export_day`] with the day's [`rows::day_stats`] already read.
async fn export_span(
    store: &dyn EventStore,
    read_db: &Path,
    target: &Target,
    org: OrgId,
    date: NaiveDate,
    span: rows::DayStats,
    progress: &ProgressBar,
) -> Result<Option<DayExport>, ExportError> {
    if span.rows == 0 {
        return Ok(None);
    }
    let db = read_db.to_path_buf();
    let bar = progress.clone();
    let encoded =
        blocking(move || writer::encode_day(&db, org, date, span, &|rows| bar.inc(rows))).await?;
    let last = digest::chain_link(store, org, encoded.stats.last_position).await?;
    let parquet_key = target::parquet_key(org, date);
    let digest_key = target::digest_key(org, date);
    let d = digest::digest_of(
        org,
        date,
        encoded.stats,
        &last,
        &parquet_key,
        &encoded.parquet,
    );
    let digest_json = d.to_json();
    let bytes = (encoded.parquet.len() + digest_json.len()) as u64;
    target.put(&parquet_key, encoded.parquet).await?;
    target.put(&digest_key, digest_json).await?;
    Ok(Some(DayExport::of(d, target, bytes, false)))
}

impl DayExport {
    /// The day a digest describes, in `target`.
    fn of(d: Digest, target: &Target, bytes: u64, kept: bool) -> DayExport {
        DayExport {
            parquet: target.describe(&target::parquet_key(d.org_id, d.date)),
            digest: target.describe(&target::digest_key(d.org_id, d.date)),
            org_id: d.org_id,
            date: d.date,
            rows: d.rows,
            first_position: d.first_position,
            last_position: d.last_position,
            parquet_sha256: d.parquet_sha256,
            bytes,
            kept,
        }
    }
}

/// The day as `target` holds it, if an earlier export wrote it whole from
/// the same log: its digest is there and names `span`'s rows and
/// positions and the chain hash of the log's event at the last one, and
/// its Parquet object is there with the digest's size and SHA-256 (read
/// back: cheaper than encoding and writing it again). The digest is
/// written after the object, so a day whose digest is there was written
/// whole.
async fn kept_day(
    store: &dyn EventStore,
    target: &Target,
    org: OrgId,
    date: NaiveDate,
    span: rows::DayStats,
) -> Result<Option<DayExport>, ExportError> {
    let parquet_key = target::parquet_key(org, date);
    let digest_key = target::digest_key(org, date);
    let Some(bytes) = target.get(&digest_key).await? else {
        return Ok(None);
    };
    let Ok(d) = Digest::from_json(&bytes) else {
        return Ok(None);
    };
    let same_span = (d.org_id, d.date, d.rows, d.first_position, d.last_position)
        == (
            org,
            date,
            span.rows,
            span.first_position,
            span.last_position,
        );
    if !same_span || d.parquet_key != parquet_key {
        return Ok(None);
    }
    let last = digest::chain_link(store, org, span.last_position).await?;
    if d.chain_hash != domain::hash::to_hex(&last.hash) {
        return Ok(None);
    }
    let Some(object) = target.get(&parquet_key).await? else {
        return Ok(None);
    };
    if object.len() as u64 != d.parquet_bytes || digest::sha256_hex(&object) != d.parquet_sha256 {
        return Ok(None);
    }
    Ok(Some(DayExport::of(d, target, 0, true)))
}

/// Writes every day of `selection` to `target`, day after day; the bar
/// counts rows (its length is set to the rows selected). A day the target
/// holds already is kept unless `selection.rewrite` (see [`plan`]), so an
/// interrupted export run again resumes where it stopped.
///
/// Fails at the first day that fails (the days before it are written).
pub async fn export(
    store: Arc<dyn EventStore>,
    read_db: &Path,
    target: &Target,
    selection: &Selection,
    progress: &ProgressBar,
) -> Result<ExportReport, ExportError> {
    let started = Instant::now();
    let db = read_db.to_path_buf();
    let sel = selection.clone();
    // Each day's count and span, read once: the bar's length, and where
    // the readers of the day start and stop.
    let days = blocking(move || {
        let conn = writer::open(&db)?;
        let mut days = Vec::new();
        for (org, day) in plan::plan(&conn, &sel)? {
            days.push((org, day, rows::day_stats(&conn, org, day)?));
        }
        Ok(days)
    })
    .await?;
    progress.set_length(days.iter().map(|(_, _, s)| s.rows).sum());
    let mut report = ExportReport {
        target: target.describe(""),
        days: Vec::with_capacity(days.len()),
        objects: 0,
        kept_days: 0,
        rows: 0,
        bytes: 0,
        seconds: 0.0,
    };
    for (org, day, span) in days {
        progress.set_message(format!("{day}"));
        if span.rows > 0 && !selection.rewrite {
            if let Some(kept) = kept_day(store.as_ref(), target, org, day, span).await? {
                progress.inc(span.rows);
                report.kept_days += 1;
                report.rows += kept.rows;
                report.days.push(kept);
                continue;
            }
        }
        let done = export_span(store.as_ref(), read_db, target, org, day, span, progress).await?;
        if let Some(done) = done {
            report.objects += 2;
            report.rows += done.rows;
            report.bytes += done.bytes;
            report.days.push(done);
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
