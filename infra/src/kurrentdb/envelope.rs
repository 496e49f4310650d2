//! A rolebook event as a KurrentDB event, and back.
//!
//! The KurrentDB event carries the rolebook event's id, its type and its
//! data (the exact JSON bytes, sent as bytes so that nothing re-serializes
//! them: the hash covers them). Everything else rides in the event's
//! custom metadata, a JSON [`Envelope`]: rolebook's own metadata (the exact
//! JSON text), the schema version, the recorded time (microseconds, as the
//! hash takes it), the hash chain's `prev_hash` and `hash`, and, on a
//! command's last event, its [`Receipt`] (the sealed answer and the
//! pending effects), so that they are written atomically with the events.
//! `replay verify` recomputes each hash from these fields, as for the
//! other backends.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use domain::hash::Hash;
use domain::store::{KeptAnswer, PendingEffect, Receipt, RecordedEvent, StoreError, StreamId};
use kurrentdb::EventData;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::position;

/// The custom metadata of a rolebook event in KurrentDB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Rolebook's metadata: the exact JSON text it was given.
    pub metadata: String,
    pub schema_version: u32,
    /// Microseconds since the epoch.
    pub recorded_at: i64,
    /// Hex.
    pub prev_hash: String,
    /// Hex.
    pub hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<StoredReceipt>,
}

/// A receipt as stored on its command's last event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReceipt {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<StoredAnswer>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<StoredEffect>,
}

/// A kept answer: the principal (hex), the key, the sealed bytes (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAnswer {
    pub principal: String,
    pub key: String,
    pub sealed: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEffect {
    pub id: Uuid,
    pub payload: String,
}

impl StoredReceipt {
    /// Receipts of one event (a request may end several commands on one
    /// event only if they share it; they are merged).
    pub fn of(receipts: &[&Receipt]) -> Option<StoredReceipt> {
        if receipts.is_empty() {
            return None;
        }
        let answer = receipts.iter().find_map(|r| {
            r.answer.as_ref().map(|a| StoredAnswer {
                principal: hex::encode(a.principal),
                key: a.key.clone(),
                sealed: hex::encode(&a.sealed),
            })
        });
        let effects = receipts
            .iter()
            .flat_map(|r| r.effects.iter())
            .map(|e| StoredEffect {
                id: e.id,
                payload: e.payload.clone(),
            })
            .collect();
        Some(StoredReceipt { answer, effects })
    }

    /// The kept answer, decoded.
    pub fn answer(&self) -> Option<KeptAnswer> {
        let a = self.answer.as_ref()?;
        let principal: [u8; 32] = hex::decode(&a.principal).ok()?.try_into().ok()?;
        Some(KeptAnswer {
            principal,
            key: a.key.clone(),
            sealed: hex::decode(&a.sealed).ok()?,
        })
    }

    pub fn effects(&self) -> Vec<PendingEffect> {
        self.effects
            .iter()
            .map(|e| PendingEffect {
                id: e.id,
                payload: e.payload.clone(),
            })
            .collect()
    }
}

/// What is sent to KurrentDB for one event.
#[allow(clippy::too_many_arguments)]
pub fn encode(
    event_id: Uuid,
    event_type: &str,
    schema_version: u32,
    data: &str,
    metadata: &str,
    recorded_at: DateTime<Utc>,
    prev_hash: &Hash,
    hash: &Hash,
    receipt: Option<StoredReceipt>,
) -> (EventData, Envelope) {
    let envelope = Envelope {
        metadata: metadata.to_string(),
        schema_version,
        recorded_at: recorded_at.timestamp_micros(),
        prev_hash: hex::encode(prev_hash),
        hash: hex::encode(hash),
        receipt,
    };
    let custom = serde_json::to_vec(&envelope).expect("envelopes serialize");
    let event = EventData::binary(event_type, Bytes::copy_from_slice(data.as_bytes()))
        .id(event_id)
        .metadata(Bytes::from(custom));
    (event, envelope)
}

fn hash_of(hex_text: &str, what: &str) -> Result<Hash, StoreError> {
    hex::decode(hex_text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError::backend_without_source(format!("KurrentDB event: bad {what}")))
}

/// A KurrentDB event read back, as the port's event (the stream id without
/// the store's namespace prefix), with its envelope.
pub fn decode(
    stream_id: StreamId,
    event: &kurrentdb::RecordedEvent,
) -> Result<(RecordedEvent, Envelope), StoreError> {
    let bad = |what: String| {
        StoreError::backend_without_source(format!("KurrentDB event {}: {what}", event.id))
    };
    let envelope: Envelope = serde_json::from_slice(&event.custom_metadata)
        .map_err(|e| bad(format!("not a rolebook envelope: {e}")))?;
    let data =
        String::from_utf8(event.data.to_vec()).map_err(|_| bad("data is not UTF-8".into()))?;
    let recorded_at = DateTime::from_timestamp_micros(envelope.recorded_at)
        .ok_or_else(|| bad("recorded_at out of range".into()))?;
    let recorded = RecordedEvent {
        global_position: position::global(&event.position),
        stream_id,
        stream_version: position::version(event.revision),
        event_id: event.id,
        event_type: event.event_type.clone(),
        schema_version: envelope.schema_version,
        data,
        metadata: envelope.metadata.clone(),
        recorded_at,
        prev_hash: hash_of(&envelope.prev_hash, "prev_hash")?,
        hash: hash_of(&envelope.hash, "hash")?,
    };
    Ok((recorded, envelope))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::hash::{chain_hash, GENESIS_HASH};

    fn receipt() -> Receipt {
        Receipt {
            last_event: 0,
            answer: Some(KeptAnswer {
                principal: [7; 32],
                key: "k-1".into(),
                sealed: vec![1, 2, 3, 250],
            }),
            effects: vec![PendingEffect {
                id: Uuid::now_v7(),
                payload: r#"{"change":"revoke_all_of"}"#.into(),
            }],
        }
    }

    #[test]
    fn an_envelope_round_trips_with_its_receipt_and_chain_fields() {
        let r = receipt();
        let stored = StoredReceipt::of(&[&r]).unwrap();
        assert_eq!(stored.answer(), r.answer);
        assert_eq!(stored.effects(), r.effects);
        let stream = StreamId::new("org-1");
        let id = Uuid::now_v7();
        let at = DateTime::from_timestamp_micros(1_765_000_000_123_456).unwrap();
        // Key order and spacing that a re-serialization would change.
        let data = r#"{"z":1,  "a":"é"}"#;
        let metadata = r#"{"actor":{"username":"ada"} }"#;
        let hash = chain_hash(
            &GENESIS_HASH,
            &stream,
            1,
            &id,
            "GroupCreated",
            2,
            data,
            metadata,
            &at,
        );
        let (_, envelope) = encode(
            id,
            "GroupCreated",
            2,
            data,
            metadata,
            at,
            &GENESIS_HASH,
            &hash,
            Some(stored.clone()),
        );
        let text = serde_json::to_vec(&envelope).unwrap();
        let back: Envelope = serde_json::from_slice(&text).unwrap();
        assert_eq!(back, envelope);
        assert_eq!(back.receipt, Some(stored));
        assert_eq!(back.metadata, metadata, "metadata kept byte for byte");
        assert_eq!(back.recorded_at, at.timestamp_micros());
        assert_eq!(hash_of(&back.hash, "hash").unwrap(), hash);
        assert_eq!(hash_of(&back.prev_hash, "prev_hash").unwrap(), GENESIS_HASH);
    }

    #[test]
    fn bad_chain_fields_are_backend_errors_naming_them() {
        assert!(
            matches!(hash_of("zz", "hash"), Err(StoreError::Backend { context, .. }) if context.contains("hash"))
        );
        assert!(hash_of(&hex::encode([0u8; 31]), "prev_hash").is_err());
    }

    #[test]
    fn an_event_without_a_receipt_carries_none() {
        assert_eq!(StoredReceipt::of(&[]), None);
        let (_, envelope) = encode(
            Uuid::now_v7(),
            "T",
            1,
            "{}",
            "{}",
            Utc::now(),
            &GENESIS_HASH,
            &GENESIS_HASH,
            None,
        );
        let text = String::from_utf8(serde_json::to_vec(&envelope).unwrap()).unwrap();
        assert!(!text.contains("receipt"), "{text}");
    }
}
