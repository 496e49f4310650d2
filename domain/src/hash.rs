//! The per-stream SHA-256 hash chain.
//!
//! `hash = SHA-256(prev_hash || canonical bytes of the event)`, where the
//! canonical bytes are every envelope field except the global position (which
//! some backends assign only at commit), each length-prefixed so that no two
//! different events share an encoding. `data` and `metadata` are hashed as the
//! exact JSON text the store keeps.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::store::StreamId;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The `prev_hash` of a stream's first event.
pub const GENESIS_HASH: Hash = [0u8; 32];

fn put(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

/// Computes one link of the chain.
#[allow(clippy::too_many_arguments)]
pub fn chain_hash(
    prev_hash: &Hash,
    stream_id: &StreamId,
    stream_version: u64,
    event_id: &Uuid,
    event_type: &str,
    schema_version: u32,
    data: &str,
    metadata: &str,
    recorded_at: &DateTime<Utc>,
) -> Hash {
    let mut h = Sha256::new();
    h.update(prev_hash);
    put(&mut h, stream_id.as_str().as_bytes());
    h.update(stream_version.to_be_bytes());
    h.update(event_id.as_bytes());
    put(&mut h, event_type.as_bytes());
    h.update(schema_version.to_be_bytes());
    put(&mut h, data.as_bytes());
    put(&mut h, metadata.as_bytes());
    h.update(recorded_at.timestamp_micros().to_be_bytes());
    h.finalize().into()
}

/// Lower-case hex of a hash.
pub fn to_hex(hash: &Hash) -> String {
    hex::encode(hash)
}
