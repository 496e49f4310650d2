//! rolebook's adapters: the event-store backends behind `domain::store::EventStore`
//! and the conformance suite every backend must pass.

pub mod conformance;
pub mod keyfile;
pub mod object_storage;
pub mod readmodel;
pub mod sqlite;

pub use sqlite::SqliteEventStore;
