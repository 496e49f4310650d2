//! Encodes one organization-day of audit entries as a Parquet object in
//! memory.
//!
//! **Layout.** zstd (level 1) on every column; row groups of up to
//! [`ROW_GROUP_ROWS`] rows (readers fetch and decode a row group at a time,
//! and a day rarely has more); dictionary encoding for the repetitive
//! columns (ids, names, types, medium, ip, user agent) and plain encoding for
//! the columns that are unique per row (position, time, description,
//! metadata, request id), where a dictionary only costs time; statistics
//! per page, so readers can skip by position, time, actor or resource (none
//! for the free-text columns, whose min/max prune nothing). The writer's
//! `created_by` is fixed, so the same rows always give the same bytes (and
//! the same SHA-256): a re-run rewrites an identical object.
//!
//! **Three threads.** The day is cut into chunks of one batch; two threads
//! read alternate chunks from SQLite (each on its own connection) while the
//! Parquet encoder (and zstd) runs on the calling thread and takes the
//! chunks in order. Batches cross bounded channels, so memory stays at a
//! few batches plus the encoded object.
//!
//! **Order.** Chunks are ranges of positions (the table's rowid), read by
//! scanning the table when the day's rows make up at least half of the
//! positions in their span, else through `audit_by_org` (a day of one
//! organization among many is not read by scanning the others' rows), see
//! [`Access::for_span`]. Either way they come in log order; the encoder
//! checks that positions increase and add up to the day's count and span,
//! and a day that does not changed while it was read (a rebuild switched
//! over) and fails.

use std::sync::mpsc;

use arrow_array::cast::AsArray;
use arrow_array::RecordBatch;
use chrono::NaiveDate;
use domain::ids::OrgId;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rusqlite::Connection;

use super::rows::{self, Access, DayStats};
use super::ExportError;

/// The most rows in one row group.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Record batches waiting between each reading thread and the encoder.
const IN_FLIGHT: usize = 2;

/// Threads reading the audit view side by side (SQLite's row decoding is
/// the slower half of an export; encoding the other).
const READERS: usize = 2;

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
    // Free text: min/max prune nothing and cost a comparison per value.
    for column in [
        "description",
        "metadata",
        "user_agent",
        "request_id",
        "resource_name",
    ] {
        b = b.set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
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
/// and encodes them as one Parquet object. `span` is the day's
/// [`rows::day_stats`] (read once by the caller). `on_batch` is told the
/// rows of each batch as it is encoded (for progress bars).
///
/// Fails with [`ExportError::Database`] / [`ExportError::Corrupt`] when the
/// audit log cannot be read and [`ExportError::Parquet`] /
/// [`ExportError::Arrow`] when encoding fails, [`ExportError::Invalid`] when
/// the day's rows changed while they were read.
pub fn encode_day(
    read_db: &std::path::Path,
    org: OrgId,
    day: NaiveDate,
    span: DayStats,
    on_batch: &dyn Fn(u64),
) -> Result<Encoded, ExportError> {
    let chunks = rows::chunks(span.first_position, span.last_position);
    let access = Access::for_span(span);
    // Reader k reads chunks k, k + READERS, ... and sends one message per
    // chunk (`None`: no row in it), so the encoder takes them in order.
    let channels: Vec<_> = (0..READERS)
        .map(|_| mpsc::sync_channel::<Option<RecordBatch>>(IN_FLIGHT))
        .collect();
    let (senders, receivers): (Vec<_>, Vec<_>) = channels.into_iter().unzip();
    std::thread::scope(|scope| {
        let readers: Vec<_> = senders
            .into_iter()
            .enumerate()
            .map(|(k, tx)| {
                let mine: Vec<(u64, u64)> =
                    chunks.iter().copied().skip(k).step_by(READERS).collect();
                scope.spawn(move || -> Result<(), ExportError> {
                    let conn = open(read_db)?;
                    for range in mine {
                        let mut batch = None;
                        rows::read_range(&conn, org, day, range, access, |b| {
                            batch = Some(b);
                            Ok(())
                        })?;
                        // The encoder hung up: it failed or gave up, and
                        // says why.
                        if tx.send(batch).is_err() {
                            return Ok(());
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        let mut writer = ArrowWriter::try_new(
            Vec::with_capacity(1 << 20),
            rows::schema(),
            Some(properties()),
        )?;
        let mut stats = DayStats::default();
        let mut in_order = true;
        let mut encode = || -> Result<(), ExportError> {
            for i in 0..chunks.len() {
                // A reader that stopped early failed: its error comes below.
                let Ok(batch) = receivers[i % READERS].recv() else {
                    return Ok(());
                };
                let Some(batch) = batch else { continue };
                let positions = batch
                    .column(1)
                    .as_primitive::<arrow_array::types::Int64Type>();
                for p in positions.values().iter().map(|p| *p as u64) {
                    if stats.rows > 0 && p <= stats.last_position {
                        in_order = false;
                        return Ok(());
                    }
                    if stats.rows == 0 {
                        stats.first_position = p;
                    }
                    stats.rows += 1;
                    stats.last_position = p;
                }
                writer.write(&batch)?;
                on_batch(batch.num_rows() as u64);
            }
            Ok(())
        };
        let encoded = encode();
        drop(receivers);
        for reader in readers {
            reader
                .join()
                .map_err(|_| ExportError::Invalid("an audit log reader panicked".into()))??;
        }
        encoded?;
        if !in_order || stats != span {
            return Err(ExportError::Invalid(format!(
                "the audit log of {day} changed while it was exported: run again"
            )));
        }
        let parquet = writer.into_inner()?;
        Ok(Encoded { parquet, stats })
    })
}

/// A read-only connection to the read-model database.
pub fn open(read_db: &std::path::Path) -> Result<Connection, ExportError> {
    if !read_db.is_file() {
        return Err(ExportError::Invalid(format!(
            "no read-model database at {}",
            read_db.display()
        )));
    }
    projections::db::open_read_only(read_db).map_err(ExportError::db("cannot open the audit log"))
}
