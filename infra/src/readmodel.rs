//! The read-model database: one SQLite file in the data dir (`rolebook.db`)
//! holding the credentials and the projections' tables. Separate from the
//! event log's file so that projection writes never queue behind appends.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

/// The file name of the read-model database inside the data dir.
pub const FILE_NAME: &str = "rolebook.db";

/// The page size a new read-model file gets (SQLite's default is 4 KiB;
/// `projections::db` says why larger). An existing file keeps its own.
pub const PAGE_SIZE: u32 = 16_384;

/// Opens (creating if missing) the read-model database: WAL, durable commits.
/// Fails if the directory cannot be created or the file cannot be opened.
pub async fn open_in_dir(data_dir: &Path) -> Result<SqlitePool, sqlx::Error> {
    std::fs::create_dir_all(data_dir).map_err(sqlx::Error::Io)?;
    open(&data_dir.join(FILE_NAME)).await
}

/// Opens (creating if missing) a read-model database file.
pub async fn open(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .create_if_missing(true)
        .page_size(PAGE_SIZE)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn page_size(pool: &SqlitePool) -> i64 {
        sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_new_file_gets_the_larger_pages_and_an_old_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let pool = open_in_dir(dir.path()).await.unwrap();
        assert_eq!(page_size(&pool).await, i64::from(PAGE_SIZE));
        pool.close().await;

        // A file created with SQLite's default pages (an earlier version)
        // opens as it is: the page size of a WAL file cannot change.
        let old = dir.path().join("old.db");
        let conn = rusqlite::Connection::open(&old).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        drop(conn);
        let pool = open(&old).await.unwrap();
        assert_eq!(page_size(&pool).await, 4096);
    }
}
