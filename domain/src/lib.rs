//! rolebook's pure model. No I/O, no async runtime: everything here is a
//! function of its inputs, so the command side, the read side and the replay
//! tool all share one implementation of the access rules.
//!
//! - [`ids`], [`permissions`], [`roles`]: the vocabulary;
//! - [`events`]: what happened; [`commands`]: what callers ask for;
//! - [`state`]: the `Organization` aggregate and `evolve`;
//! - [`decide()`]: the rules that commands enforce;
//! - [`access`]: who holds which role from which source;
//! - [`store`], [`hash`]: the event-store port and its hash chain.

pub mod access;
pub mod commands;
pub mod decide;
pub mod errors;
pub mod events;
pub mod hash;
pub mod ids;
pub mod notifications;
pub mod permissions;
pub mod registry;
pub mod roles;
pub mod settings;
pub mod state;
pub mod store;
pub mod validate;

pub use commands::Command;
pub use decide::decide;
pub use errors::DomainError;
pub use events::{Actor, Event, EventMetadata, Medium};
pub use state::Organization;
