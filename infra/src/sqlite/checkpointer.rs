//! WAL checkpoints off the commit path.
//!
//! By default SQLite checkpoints inside the commit that crosses 1,000 WAL
//! pages: that commit then copies the pages into the database file and
//! fsyncs it, and every append queued behind it waits (a command latency
//! tail under load). The store turns automatic checkpoints off on
//! its writer and runs a PASSIVE checkpoint from this task on its own
//! connection instead, which never blocks appends or reads.
//!
//! The projections use it too while they catch up a long backlog (their
//! read-model database, `projections::runner`).

use std::path::Path;
use std::sync::Weak;
use std::time::Duration;

use rusqlite::Connection;

/// How often the WAL is checkpointed.
const EVERY: Duration = Duration::from_millis(250);

/// Checkpoints the WAL of the SQLite file at `path` every [`EVERY`] until
/// `alive` is dropped, then once more (so that what was written before the
/// drop reaches the database file without a commit paying for it).
pub fn spawn(path: &Path, alive: Weak<()>) {
    let path = path.to_path_buf();
    std::thread::Builder::new()
        .name("rolebook-wal-checkpoint".into())
        .spawn(move || {
            let Ok(conn) = Connection::open(&path) else {
                tracing::warn!(path = %path.display(), "cannot open the database for checkpoints; SQLite will checkpoint on commit");
                return;
            };
            let _ = conn.busy_timeout(Duration::from_secs(5));
            loop {
                std::thread::sleep(EVERY);
                let last = alive.upgrade().is_none();
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::debug!(error = %e, "passive checkpoint skipped");
                }
                if last {
                    return;
                }
            }
        })
        .ok();
}
