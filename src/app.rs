//! Opens what a command needs from the data dir: the event store, the
//! read-model database, and the command service over them.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use commands::{CommandService, Credentials};
use infra::SqliteEventStore;

/// The write side, opened on the embedded SQLite default.
pub async fn open_command_service(data_dir: &Path) -> anyhow::Result<CommandService> {
    let store = SqliteEventStore::open_in_dir(data_dir)
        .await
        .with_context(|| format!("cannot open the event store in {}", data_dir.display()))?;
    let pool = infra::readmodel::open_in_dir(data_dir)
        .await
        .with_context(|| {
            format!(
                "cannot open the read-model database in {}",
                data_dir.display()
            )
        })?;
    let credentials = Credentials::new(pool)
        .await
        .context("cannot prepare the credentials tables")?;
    Ok(CommandService::new(Arc::new(store), credentials))
}
