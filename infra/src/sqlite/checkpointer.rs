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

/// A WAL file larger than this is checkpointed in RESTART mode.
///
/// A PASSIVE checkpoint copies the frames committed when it starts, and
/// the WAL starts over from its beginning only when a checkpoint has
/// copied every frame and no reader still reads from it: under steady
/// writes, new frames always arrive while the PASSIVE checkpoint runs, so
/// the file grew without end (450 MiB for the log in a minute of the HTTP
/// bench; 36 MiB with this). RESTART takes the write lock,
/// copies the few frames the PASSIVE ones left, waits (at most
/// [`RESTART_WAIT`]) for the readers of the WAL to finish, and has the next
/// commit write from the start of the file again: the file keeps its
/// size, so later commits overwrite blocks already allocated (TRUNCATE,
/// which empties the file, made every commit after it grow the file again
/// and tripled the command p99 under load).
pub const RESTART_ABOVE: u64 = 32 << 20;

/// The size a WAL file is cut back to when it starts over from its
/// beginning (`PRAGMA journal_size_limit` of the writers): the blocks up to
/// it stay allocated for the next commits to overwrite.
pub const WAL_SIZE_LIMIT: i64 = 40 << 20;

/// How long a RESTART checkpoint waits for readers (writers wait behind
/// it meanwhile); past it, the next round tries again.
const RESTART_WAIT: Duration = Duration::from_millis(20);

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
                restart_if_above_limit(&conn, Duration::from_secs(5));
                if last {
                    return;
                }
            }
        })
        .ok();
}

/// The WAL file of the database at `path`.
pub fn wal_path(path: &Path) -> std::path::PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    wal.into()
}

/// Starts the WAL of `conn`'s database over from its beginning when it has
/// grown past [`RESTART_ABOVE`]: a RESTART checkpoint that waits at most
/// [`RESTART_WAIT`] for readers, then gives the connection `busy_timeout`
/// back.
pub fn restart_if_above_limit(conn: &Connection, busy_timeout: Duration) {
    let Some(path) = conn.path().filter(|p| !p.is_empty()) else {
        return;
    };
    if !std::fs::metadata(wal_path(Path::new(path))).is_ok_and(|m| m.len() > RESTART_ABOVE) {
        return;
    }
    let _ = conn.busy_timeout(RESTART_WAIT);
    match conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0)) {
        Ok(0) => {}
        Ok(_) => tracing::debug!(
            db = conn.path().unwrap_or_default(),
            "restarting checkpoint busy: readers kept the WAL"
        ),
        Err(e) => tracing::debug!(
            db = conn.path().unwrap_or_default(),
            error = %e,
            "restarting checkpoint skipped"
        ),
    }
    let _ = conn.busy_timeout(busy_timeout);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Steady writes with a reader open most of the time: the WAL stays
    /// near the limit instead of growing with every write.
    #[test]
    fn the_wal_stays_bounded_under_steady_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB);",
            )
            .unwrap();
        let alive = Arc::new(());
        spawn(&path, Arc::downgrade(&alive));
        let reader = Connection::open(&path).unwrap();
        let blob = vec![7u8; 64 * 1024];
        let mut largest = 0;
        // 160 MiB written in 64 KiB rows, 16 per transaction.
        for round in 0..160 {
            let tx = writer.unchecked_transaction().unwrap();
            for i in 0..16 {
                tx.execute(
                    "INSERT OR REPLACE INTO t (k, v) VALUES (?1, ?2)",
                    rusqlite::params![(round * 16 + i) % 512, &blob],
                )
                .unwrap();
            }
            tx.commit().unwrap();
            // A short read between commits, as the read pool's queries.
            let _: i64 = reader
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap();
            largest = largest.max(std::fs::metadata(wal_path(&path)).unwrap().len());
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            largest < 3 * RESTART_ABOVE,
            "the WAL reached {} MiB",
            largest >> 20
        );
    }
}
