//! rolebook's operator tool (DESIGN.md, "Replay"): replays streams to verify
//! the log, to show the access state as of a past moment, and to rebuild the
//! projections.
//!
//! - [`verify`]: recomputes every stream's hash chain and checks the log's
//!   contiguity (versions 1..n, increasing global positions, no duplicates,
//!   tails matching what the store recorded); names the first broken link;
//! - [`asof`]: the organization's state as of a moment (events that occurred
//!   at or before it), from periodic [`snapshots`] checked against the chain;
//!   [`access`] turns such a state into roles, bindings and effective
//!   permissions with their sources;
//! - [`rebuild`]: rebuilds projections from position 0 into a new generation
//!   beside the live one, then switches over in one transaction; resumable;
//! - [`registry`]: organizations by name or id, read from the log;
//! - [`export`]: the audit log as Parquet, one object per organization and
//!   UTC day with a digest tied to the hash chain, into a directory or an
//!   S3-compatible bucket (`infra::object_storage`), and the check of such
//!   objects (the server's bucket streaming, `rolebook::streaming`, exports
//!   day by day through it).
//!
//! Long work reports progress through an [`indicatif::ProgressBar`] (see
//! [`progress`]), which the CLI draws on stderr.

pub mod access;
pub mod asof;
pub mod export;
pub mod progress;
pub mod rebuild;
pub mod registry;
pub mod snapshots;
pub mod verify;

pub use asof::{as_of, AsOf};
pub use snapshots::Snapshots;
pub use verify::{verify, Report, VerifyOptions};

use domain::store::{StoreError, StreamId};

/// Why a replay operation failed (a broken chain found by [`verify`] is a
/// report, not an error).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{context}: {source}")]
    Database {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Projection(#[from] projections::runner::ProjectionError),
    /// An event of the stream cannot be read back as an organization event.
    #[error("{stream} version {version} (position {position}) cannot be read: {reason}")]
    Undecodable {
        stream: StreamId,
        version: u64,
        position: u64,
        reason: String,
    },
    /// The hash chain does not hold where a replay needed it: the state
    /// cannot be trusted. `rolebook replay verify` says more.
    #[error(
        "the hash chain of {stream} is broken at version {version} (position {position}): {reason}"
    )]
    BrokenChain {
        stream: StreamId,
        version: u64,
        position: u64,
        reason: String,
    },
    /// Another rebuild holds the lock.
    #[error("another `replay rebuild` is running on {0}")]
    Busy(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl ReplayError {
    pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> ReplayError {
        let context = context.into();
        move |source| ReplayError::Database { context, source }
    }
}

/// Runs blocking work (SQLite, hashing, folding) off the async runtime's
/// worker threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ReplayError> + Send + 'static,
) -> Result<T, ReplayError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(ReplayError::Invalid(format!("replay task: {e}"))),
    }
}
