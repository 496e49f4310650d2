//! Connections to the read-model database (`rolebook.db` in the data dir),
//! for the projections' writes and the queries over them.
//!
//! Projections write through rusqlite on a blocking thread: a batch is one
//! transaction of many prepared-statement executions. WAL with `synchronous=NORMAL`:
//! a crash may lose the last committed batches, but rows and checkpoint are
//! lost together, so the projection simply applies them again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};

/// WAL pages after which a commit checkpoints (SQLite's default; a
/// projection catching up a long backlog checkpoints from another thread
/// instead, see `runner`).
pub const WAL_AUTOCHECKPOINT: i64 = 1_000;

/// The page size of a read-model file, set when the file is created (an
/// existing file keeps its own; `infra::readmodel` creates it with the
/// same). 16 KiB rather than SQLite's 4 KiB: a bulk catch-up writes four
/// times fewer WAL frames for the same rows, and the kernel zeroes far less
/// of the WAL's new pages (a frame that covers whole memory pages needs
/// none): a faster catch-up (BENCHMARKS.md, "Why the code is as it is").
pub const PAGE_SIZE: i64 = infra::readmodel::PAGE_SIZE as i64;

/// How long a writer of the read models waits for another one.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The turn of the projections of this process that write the read-model
/// file at `path`: one holds it for each transaction while following the
/// log, and for the WAL's restart after it.
///
/// SQLite lets one writer in at a time anyway, but a writer that finds
/// the file locked sleeps in its busy handler (up to 100 ms a try) instead
/// of starting the moment the other commits, and a RESTART checkpoint that
/// finds the other writer inside a transaction cannot start the WAL over
/// (under the many-tenant load it failed for seconds at a time and the WAL
/// reached 96 MiB). Taking turns here makes both waits a lock's handover.
pub fn write_turn(path: &Path) -> Arc<Mutex<()>> {
    static TURNS: LazyLock<Mutex<HashMap<PathBuf, Weak<Mutex<()>>>>> =
        LazyLock::new(Default::default);
    let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mut turns = TURNS.lock();
    turns.retain(|_, turn| turn.strong_count() > 0);
    if let Some(turn) = turns.get(&key).and_then(Weak::upgrade) {
        return turn;
    }
    let turn = Arc::new(Mutex::new(()));
    turns.insert(key, Arc::downgrade(&turn));
    turn
}

/// Opens a read-write connection (creating the file if needed).
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Before WAL: the page size of a file created here (see PAGE_SIZE).
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // SQLite's default checkpoint size, said explicitly: larger WALs make
    // catch-up a little faster but their checkpoints' fsyncs hold up the
    // event store's durable commits on the same disk (the commands' latency
    // tail); long backlogs use the bulk path anyway.
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT)?;
    // A WAL that grew past this (a bulk catch-up) is cut back to it when
    // it starts over (`infra::sqlite::checkpointer`).
    conn.pragma_update(
        None,
        "journal_size_limit",
        infra::sqlite::checkpointer::WAL_SIZE_LIMIT,
    )?;
    Ok(conn)
}

/// Opens a scratch database that one connection writes and nobody reads
/// meanwhile (a rebuild's generation, `replay::rebuild`), for speed: a
/// rollback journal instead of WAL (each page is written once into the
/// file, not into the WAL and then again by a checkpoint; pages new to the
/// file need no journal at all), no fsync per commit, 16 KiB pages.
///
/// A process that dies leaves the file consistent (the journal rolls the
/// last transaction back at the next open); a machine that crashes may
/// not, so whoever writes it must be able to tell (a marker file) and
/// start over.
pub fn open_scratch(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    // Larger pages for a file written in bulk: fewer b-tree pages to split
    // and to cache. Takes effect only when the file is created.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "TRUNCATE")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

/// Opens a read-only connection for queries.
pub fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "cache_size", -32_768)?;
    Ok(conn)
}

/// The read-only connections the server's queries of the read-model
/// database share (at most [`READ_POOL_IDLE`] kept idle).
pub fn read_pool(path: &Path) -> infra::sqlite::ReadPool {
    infra::sqlite::ReadPool::new(path, open_read_only, READ_POOL_IDLE)
}

/// The most idle read-only connections a [`read_pool`] keeps.
pub const READ_POOL_IDLE: usize = 8;

/// The read-model database file in a data dir.
pub fn path_in(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join(infra::readmodel::FILE_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_size(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn files_created_here_get_the_read_models_page_size() {
        let dir = tempfile::tempdir().unwrap();
        let live = open(&dir.path().join("live.db")).unwrap();
        live.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        assert_eq!(page_size(&live), PAGE_SIZE);
        let journal: String = live
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        let scratch = open_scratch(&dir.path().join("scratch.db")).unwrap();
        scratch.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        assert_eq!(page_size(&scratch), PAGE_SIZE);
    }
}
