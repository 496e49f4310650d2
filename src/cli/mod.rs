//! The command line (API.md's command-line table): one file per command
//! group, each parsing its arguments and running its effect.

mod audit;
mod org;
mod replay;
mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    match cli.command {
        Command::Serve(args) => serve::run(&cli.data_dir, args).await,
        Command::Org { command } => org::run(&cli.data_dir, command).await,
        Command::Audit { command } => audit::run(&cli.data_dir, command).await,
        Command::Replay { command } => replay::run(&cli.data_dir, command).await,
    }
}
