//! Opens what a command needs: the event store (the data dir's SQLite file,
//! PostgreSQL with `--database-url`, or KurrentDB with
//! `--event-store-url`), the credentials and read models (in the data dir's
//! read-model database, or in PostgreSQL with `--database-url`), and the
//! command service over them.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use commands::{CommandService, Credentials};
use domain::store::EventStore;
use infra::postgres::{redacted, PostgresEventStore};
use infra::sqlite::EVENTS_FILE;
use infra::{KurrentDbEventStore, SqliteEventStore};

/// Where a command's data lives.
#[derive(Debug, Clone)]
pub struct Storage {
    /// The read-model database, the key files and snapshots; the log too
    /// unless `database_url` is set.
    pub data_dir: PathBuf,
    /// `postgres://…`: the log in PostgreSQL; with `event_store`, the read
    /// models and credentials only.
    pub database_url: Option<String>,
    /// A KurrentDB URL and the namespace of rolebook's streams there: the
    /// log in KurrentDB.
    pub event_store: Option<(String, String)>,
}

/// The event store as opened, for the commands that need more than the
/// port (verify reads the backend's own record of the streams).
pub enum OpenedStore {
    Sqlite(Arc<SqliteEventStore>),
    Postgres(Arc<PostgresEventStore>),
    /// The log in KurrentDB, and the PostgreSQL pool of the read models
    /// when `--database-url` is given (else they are in the data dir).
    Kurrent(Arc<KurrentDbEventStore>, Option<sqlx::PgPool>),
}

impl OpenedStore {
    pub fn port(&self) -> Arc<dyn EventStore> {
        match self {
            OpenedStore::Sqlite(s) => s.clone(),
            OpenedStore::Postgres(s) => s.clone(),
            OpenedStore::Kurrent(s, _) => s.clone(),
        }
    }

    /// The PostgreSQL pool the read models and credentials live in, if any.
    pub fn read_models_pool(&self) -> Option<&sqlx::PgPool> {
        match self {
            OpenedStore::Postgres(pg) => Some(pg.pool()),
            OpenedStore::Kurrent(_, pool) => pool.as_ref(),
            OpenedStore::Sqlite(_) => None,
        }
    }
}

/// `url` as a PostgreSQL URL, or a message saying what one looks like.
fn postgres_url(url: &str) -> anyhow::Result<&str> {
    if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        bail!(
            "--database-url {}: expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
            redacted(url)
        );
    }
    Ok(url)
}

/// Opens the PostgreSQL database at `url` (its tables migrated).
async fn open_postgres(url: &str) -> anyhow::Result<PostgresEventStore> {
    PostgresEventStore::connect(postgres_url(url)?)
        .await
        .with_context(|| format!("cannot open the database at {}", redacted(url)))
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
        if let Some((url, namespace)) = &self.event_store {
            let store = KurrentDbEventStore::connect(url, namespace)
                .await
                .with_context(|| {
                    format!(
                        "cannot open the event store at {}",
                        infra::kurrentdb::redacted(url)
                    )
                })?;
            // The read models' database: its log tables stay empty.
            let pool = match &self.database_url {
                Some(url) => Some(open_postgres(url).await?.pool().clone()),
                None => None,
            };
            return Ok(OpenedStore::Kurrent(Arc::new(store), pool));
        }
        match &self.database_url {
            Some(url) => Ok(OpenedStore::Postgres(Arc::new(open_postgres(url).await?))),
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
        let postgres = opened.read_models_pool().cloned();
        let credentials = match &postgres {
            // In the shared database, so that every process shares them.
            Some(pool) => Credentials::postgres(pool.clone()).await,
            None => {
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
