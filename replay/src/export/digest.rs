//! The digest beside each day's Parquet object (`audit.digest.json`): what
//! the object holds and how to check it against the log.
//!
//! ```json
//! {"format": "rolebook.audit-digest/1", "org_id": "...", "date": "2026-01-31",
//!  "rows": 1234, "first_position": 17, "last_position": 9876,
//!  "stream": "org-...", "last_stream_version": 321,
//!  "chain_hash": "<hex: the stream's hash at the day's last event>",
//!  "parquet_key": "org=.../date=2026-01-31/audit.parquet",
//!  "parquet_bytes": 56789, "parquet_sha256": "<hex>"}
//! ```
//!
//! The chain hash ties the day to the log: `rolebook replay verify` proves
//! the chain up to that event, and the digest proves the object was written
//! from it. The digest holds no time of export, so a re-run writes the same
//! bytes.

use chrono::NaiveDate;
use domain::ids::OrgId;
use domain::store::{EventStore, RecordedEvent};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::rows::DayStats;
use super::ExportError;

/// The digest format written in `format`.
pub const FORMAT: &str = "rolebook.audit-digest/1";

/// One day's digest (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub format: String,
    pub org_id: OrgId,
    pub date: NaiveDate,
    pub rows: u64,
    pub first_position: u64,
    pub last_position: u64,
    pub stream: String,
    pub last_stream_version: u64,
    pub chain_hash: String,
    pub parquet_key: String,
    pub parquet_bytes: u64,
    pub parquet_sha256: String,
}

impl Digest {
    /// The JSON written to the target (pretty, fields in a fixed order).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a digest serializes");
        out.push(b'\n');
        out
    }

    /// Reads a digest object. Fails with [`ExportError::Invalid`] for
    /// anything that is not a digest of this format.
    pub fn from_json(bytes: &[u8]) -> Result<Digest, ExportError> {
        let d: Digest = serde_json::from_slice(bytes)
            .map_err(|e| ExportError::Invalid(format!("not an audit digest: {e}")))?;
        if d.format != FORMAT {
            return Err(ExportError::Invalid(format!(
                "unknown digest format {:?} (expected {FORMAT})",
                d.format
            )));
        }
        Ok(d)
    }
}

/// The SHA-256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The event at global position `position`, which must belong to `org`'s
/// stream and carry an intact hash (its own link of the chain).
///
/// Fails with [`ExportError::Invalid`] when there is no such event or it
/// belongs to another stream, and [`ExportError::BrokenChain`] when the
/// event's hash does not match its content.
pub async fn chain_link(
    store: &dyn EventStore,
    org: OrgId,
    position: u64,
) -> Result<RecordedEvent, ExportError> {
    let event = store
        .read_all(position, 1)
        .await?
        .into_iter()
        .next()
        .filter(|e| e.global_position == position)
        .ok_or_else(|| {
            ExportError::Invalid(format!(
                "the audit log names position {position}, which the event store does not hold"
            ))
        })?;
    if event.stream_id != org.stream() {
        return Err(ExportError::Invalid(format!(
            "position {position} belongs to {}, not to {}",
            event.stream_id,
            org.stream()
        )));
    }
    if event.computed_hash() != event.hash {
        return Err(ExportError::BrokenChain {
            stream: event.stream_id.to_string(),
            position,
        });
    }
    Ok(event)
}

/// The digest of an encoded day whose last event is `last`.
pub fn digest_of(
    org: OrgId,
    date: NaiveDate,
    stats: DayStats,
    last: &RecordedEvent,
    parquet_key: &str,
    parquet: &[u8],
) -> Digest {
    Digest {
        format: FORMAT.to_string(),
        org_id: org,
        date,
        rows: stats.rows,
        first_position: stats.first_position,
        last_position: stats.last_position,
        stream: last.stream_id.to_string(),
        last_stream_version: last.stream_version,
        chain_hash: domain::hash::to_hex(&last.hash),
        parquet_key: parquet_key.to_string(),
        parquet_bytes: parquet.len() as u64,
        parquet_sha256: sha256_hex(parquet),
    }
}
