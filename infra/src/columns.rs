//! Stored values back as the port's types, the same way for every backend:
//! positions and versions are signed 64-bit integers in both databases,
//! hashes 32 bytes.

use domain::hash::Hash;
use domain::store::StoreError;
use uuid::Uuid;

/// A position, version or limit as a signed 64-bit integer (values past
/// `i64::MAX` cannot be stored, so they clamp: "from" that far finds nothing).
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A stored (never negative) integer back as `u64`.
pub(crate) fn from_i64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Reads a 32-byte hash column of `backend`'s `column`.
pub(crate) fn hash_from(bytes: &[u8], backend: &str, column: &str) -> Result<Hash, StoreError> {
    bytes.try_into().map_err(|_| {
        StoreError::backend_without_source(format!(
            "{backend}: corrupt {column}: {} bytes, not 32",
            bytes.len()
        ))
    })
}

/// Reads a 16-byte event id column.
pub(crate) fn uuid_from(bytes: &[u8], backend: &str) -> Result<Uuid, StoreError> {
    Uuid::from_slice(bytes).map_err(|_| {
        StoreError::backend_without_source(format!(
            "{backend}: corrupt event_id: {} bytes, not 16",
            bytes.len()
        ))
    })
}
