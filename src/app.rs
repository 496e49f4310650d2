//! Opens what a command needs: the event store (the data dir's SQLite file,
//! or PostgreSQL with `--database-url`), the credentials (in the read-model
//! database of the data dir, or beside the log in PostgreSQL), and the
//! command service over them.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use commands::{CommandService, Credentials};
use domain::store::EventStore;
use infra::postgres::{redacted, PostgresEventStore};
use infra::sqlite::EVENTS_FILE;
use infra::SqliteEventStore;

/// Where a command's data lives.
#[derive(Debug, Clone)]
pub struct Storage {
    /// The read-model database, the key files and snapshots; the log too
    /// unless `database_url` is set.
    pub data_dir: PathBuf,
    /// `postgres://…`: the log in PostgreSQL.
    pub database_url: Option<String>,
}

/// The event store as opened, for the commands that need more than the
/// port (verify reads the backend's own record of the streams).
pub enum OpenedStore {
    Sqlite(Arc<SqliteEventStore>),
    Postgres(Arc<PostgresEventStore>),
}

impl OpenedStore {
    pub fn port(&self) -> Arc<dyn EventStore> {
        match self {
            OpenedStore::Sqlite(s) => s.clone(),
            OpenedStore::Postgres(s) => s.clone(),
        }
    }
}

/// The write side, and where the read models live.
pub struct OpenedService {
    pub service: CommandService,
    /// The log's PostgreSQL pool: the read models are in its schema.
    /// `None`: the embedded read-model database of the data dir.
    pub postgres: Option<sqlx::PgPool>,
}

impl Storage {
    /// Opens the event store. With `create`, an embedded one is created
    /// if missing; without, a data dir that has none is an error (the
    /// operator tools never start an empty log).
    ///
    /// Fails with a message naming the file, or the URL without its
    /// password (after retries while the server cannot be reached).
    pub async fn open_store(&self, create: bool) -> anyhow::Result<OpenedStore> {
        match &self.database_url {
            Some(url) => {
                if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
                    bail!(
                        "--database-url {}: expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
                        redacted(url)
                    );
                }
                let store = PostgresEventStore::connect(url)
                    .await
                    .with_context(|| format!("cannot open the event store at {}", redacted(url)))?;
                Ok(OpenedStore::Postgres(Arc::new(store)))
            }
            None => {
                let path = self.data_dir.join(EVENTS_FILE);
                if !create && !path.is_file() {
                    bail!("no event store at {}", path.display());
                }
                let store = if create {
                    SqliteEventStore::open_in_dir(&self.data_dir).await
                } else {
                    SqliteEventStore::open(&path).await
                }
                .with_context(|| format!("cannot open the event store {}", path.display()))?;
                Ok(OpenedStore::Sqlite(Arc::new(store)))
            }
        }
    }

    /// The write side over the event store (created if missing) and the
    /// data dir's read-model database.
    pub async fn open_command_service(&self) -> anyhow::Result<CommandService> {
        Ok(self.open_service().await?.service)
    }

    /// [`Storage::open_command_service`], with the PostgreSQL pool when
    /// the log is there (its read models are too).
    pub async fn open_service(&self) -> anyhow::Result<OpenedService> {
        let opened = self.open_store(true).await?;
        let postgres = match &opened {
            OpenedStore::Postgres(pg) => Some(pg.pool().clone()),
            OpenedStore::Sqlite(_) => None,
        };
        let credentials = match &opened {
            // Beside the log, so that every process on it shares them.
            OpenedStore::Postgres(pg) => Credentials::postgres(pg.pool().clone()).await,
            OpenedStore::Sqlite(_) => {
                let read_db = infra::readmodel::open_in_dir(&self.data_dir).with_context(|| {
                    format!(
                        "cannot open the read-model database in {}",
                        self.data_dir.display()
                    )
                })?;
                Credentials::sqlite(&read_db).await
            }
        }
        .context("cannot prepare the credentials tables")?;
        Ok(OpenedService {
            service: CommandService::new(opened.port(), credentials),
            postgres,
        })
    }
}
