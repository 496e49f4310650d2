//! The command line (API.md's command-line table): one file per command
//! group, each parsing its arguments and running its effect.

mod audit;
mod org;
mod replay;
mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::app::Storage;

/// rolebook: event-sourced roles, permissions and audit log for a CI/CD
/// organization.
#[derive(Debug, Parser)]
#[command(name = "rolebook", version, about)]
pub struct Cli {
    /// Where the embedded SQLite files live.
    #[arg(
        long,
        global = true,
        env = "ROLEBOOK_DATA_DIR",
        default_value = "./rolebook-data"
    )]
    pub data_dir: PathBuf,
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`: the event log in
    /// PostgreSQL instead of the data dir (the read models stay in the
    /// data dir).
    #[arg(long, global = true, env = "ROLEBOOK_DATABASE_URL")]
    pub database_url: Option<String>,
    /// `esdb://…` (or `kurrentdb://`, `kdb://`, with `+discover` for a
    /// cluster): the log in KurrentDB; the read models and credentials
    /// then live in PostgreSQL with `--database-url`, else in the data dir.
    #[arg(long, global = true, env = "ROLEBOOK_EVENT_STORE_URL")]
    pub event_store_url: Option<String>,
    /// The prefix of rolebook's streams in KurrentDB
    /// (`<namespace>:org-…`), so that several deployments can share one
    /// server.
    #[arg(
        long,
        global = true,
        env = "ROLEBOOK_EVENT_STORE_NAMESPACE",
        default_value = "rolebook"
    )]
    pub event_store_namespace: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (bootstraps organization `default` on an empty store).
    Serve(serve::Serve),
    /// Organizations: create.
    Org {
        #[command(subcommand)]
        command: org::OrgCommand,
    },
    /// The audit log: export as CSV.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// The operator tool: verify the hash chain, the access state as of a
    /// moment, rebuild projections, export the audit log as Parquet and
    /// check such an export.
    Replay {
        #[command(subcommand)]
        command: replay::ReplayCommand,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let storage = Storage {
        data_dir: cli.data_dir,
        database_url: cli.database_url.filter(|url| !url.trim().is_empty()),
        event_store: cli
            .event_store_url
            .filter(|url| !url.trim().is_empty())
            .map(|url| (url, cli.event_store_namespace)),
    };
    match cli.command {
        Command::Serve(args) => serve::run(&storage, args).await,
        Command::Org { command } => org::run(&storage, command).await,
        Command::Audit { command } => audit::run(&storage, command).await,
        Command::Replay { command } => replay::run(&storage, command).await,
    }
}
