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
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
}
