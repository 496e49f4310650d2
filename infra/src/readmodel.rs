//! The read-model database: one SQLite file in the data dir (`rolebook.db`)
//! holding the credentials and the projections' tables. Separate from the
//! event log's file so that projection writes never queue behind appends.
//! Reached through rusqlite only; `projections::db` opens the projections'
//! connections to it, the credentials open their own.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

/// The file name of the read-model database inside the data dir.
pub const FILE_NAME: &str = "rolebook.db";

/// The page size a new read-model file gets (SQLite's default is 4 KiB;
/// `projections::db` says why larger). An existing file keeps its own.
pub const PAGE_SIZE: u32 = 16_384;

/// Creates (if missing) the data dir and its read-model database, in WAL
/// mode with [`PAGE_SIZE`] pages; returns the file's path. Fails if the
/// directory cannot be created or the file cannot be opened.
pub fn open_in_dir(data_dir: &Path) -> rusqlite::Result<PathBuf> {
    std::fs::create_dir_all(data_dir).map_err(|e| {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!("cannot create {}: {e}", data_dir.display())),
        )
    })?;
    let path = data_dir.join(FILE_NAME);
    open(&path)?;
    Ok(path)
}

/// A read-write connection to a read-model database file (creating it):
/// WAL, durable commits, foreign keys on.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Before WAL: the page size of a file created here.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_size(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_new_file_gets_the_larger_pages_and_an_old_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = open_in_dir(dir.path()).unwrap();
        assert_eq!(page_size(&open(&path).unwrap()), i64::from(PAGE_SIZE));

        // A file created with SQLite's default pages (an earlier version)
        // opens as it is: the page size of a WAL file cannot change.
        let old = dir.path().join("old.db");
        let conn = Connection::open(&old).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        drop(conn);
        assert_eq!(page_size(&open(&old).unwrap()), 4096);
    }
}
