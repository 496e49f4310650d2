//! Turns decided events into store envelopes: a fresh UUID v7 event id, the
//! event type and schema version, the payload and the metadata as JSON.

use domain::events::{Event, EventMetadata};
use domain::store::NewEvent;
use uuid::Uuid;

/// Wraps one event with the command's metadata.
pub(crate) fn envelope(event: &Event, metadata_json: &str) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event.event_type().to_string(),
        schema_version: event.schema_version(),
        data: event.to_json(),
        metadata: metadata_json.to_string(),
    }
}

/// The metadata JSON shared by every event of one command.
pub(crate) fn metadata_json(metadata: &EventMetadata) -> String {
    serde_json::to_string(metadata).expect("metadata always serializes")
}
