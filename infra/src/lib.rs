//! rolebook's adapters: the event-store backends behind `domain::store::EventStore`
//! and the conformance suite every backend must pass.

mod columns;
pub mod conformance;
mod head;
pub mod keyfile;
pub mod kurrentdb;
pub mod object_storage;
mod plan;
pub mod postgres;
pub mod readmodel;
pub mod sqlite;

pub use kurrentdb::KurrentDbEventStore;
pub use postgres::PostgresEventStore;
pub use sqlite::SqliteEventStore;
