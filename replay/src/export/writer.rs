//! Encodes one organization-day of audit entries as a Parquet object in
//! memory.
//!
//! **Layout.** zstd (level 1) on every column; row groups of up to
//! [`ROW_GROUP_ROWS`] rows (readers fetch and decode a row group at a time,
//! and a day rarely has more); dictionary encoding for the repetitive
//! columns (ids, names, types, medium, ip, user agent) and plain encoding for
//! the columns that are unique per row (position, time, description,
//! metadata, request id), where a dictionary only costs time; statistics
//! per page, so readers can skip by position or time. The writer's
//! `created_by` is fixed, so the same rows always give the same bytes (and
//! the same SHA-256): a re-run rewrites an identical object.
//!
//! **Two threads.** SQLite is read on one thread while the Parquet encoder
//! (and zstd) run on the calling one; record batches cross a bounded
//! channel, so memory stays at a few batches plus the encoded object.

use std::sync::mpsc;

use arrow_array::RecordBatch;
use chrono::NaiveDate;
use domain::ids::OrgId;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rusqlite::Connection;

use super::rows::{self, DayStats};
use super::ExportError;

/// The most rows in one row group.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Record batches waiting between the reading and the encoding thread.
const IN_FLIGHT: usize = 4;

/// The `created_by` written in every object (no version: the bytes of an
/// object must not change when the writer library is upgraded needlessly).
const CREATED_BY: &str = "rolebook audit export";

/// The writer's settings (see the module doc).
pub fn properties() -> WriterProperties {
    let plain = [
        "position",
        "occurred_at",
        "description",
        "metadata",
        "request_id",
    ];
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("zstd level 1 exists"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(CREATED_BY.to_string())
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(true);
    for column in plain {
        b = b.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    b.build()
}

/// One encoded object and what it holds.
#[derive(Debug)]
pub struct Encoded {
    pub parquet: Vec<u8>,
    pub stats: DayStats,
}

/// Reads `org`'s entries of `day` from the read-model database at `read_db`
/// and encodes them as one Parquet object. `on_batch` is told the rows of
/// each batch as it is encoded (for progress bars).
///
/// Fails with [`ExportError::Database`] / [`ExportError::Corrupt`] when the
/// audit log cannot be read and [`ExportError::Parquet`] /
/// [`ExportError::Arrow`] when encoding fails.
pub fn encode_day(
    read_db: &std::path::Path,
    org: OrgId,
    day: NaiveDate,
    on_batch: &dyn Fn(u64),
) -> Result<Encoded, ExportError> {
    let (tx, rx) = mpsc::sync_channel::<RecordBatch>(IN_FLIGHT);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || -> Result<DayStats, ExportError> {
            let conn = open(read_db)?;
            rows::read_day(&conn, org, day, |batch| {
                // The encoder hung up: it failed, and says why below.
                tx.send(batch)
                    .map_err(|_| ExportError::Invalid(String::new()))
            })
        });
        let mut writer = ArrowWriter::try_new(
            Vec::with_capacity(1 << 20),
            rows::schema(),
            Some(properties()),
        )?;
        let mut encode = || -> Result<(), ExportError> {
            for batch in rx.iter() {
                writer.write(&batch)?;
                on_batch(batch.num_rows() as u64);
            }
            Ok(())
        };
        let encoded = encode();
        drop(rx);
        let stats = reader
            .join()
            .map_err(|_| ExportError::Invalid("the audit log reader panicked".into()))?;
        encoded?;
        let stats = stats?;
        let parquet = writer.into_inner()?;
        Ok(Encoded { parquet, stats })
    })
}

/// A read-only connection to the read-model database.
pub(crate) fn open(read_db: &std::path::Path) -> Result<Connection, ExportError> {
    if !read_db.is_file() {
        return Err(ExportError::Invalid(format!(
            "no read-model database at {}",
            read_db.display()
        )));
    }
    projections::db::open_read_only(read_db).map_err(ExportError::db("cannot open the audit log"))
}
