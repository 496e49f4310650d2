//! `rolebook org create`: creates an organization and its first Owner, and
//! prints `{org_id, owner: {user_id, temporary_password}}` as JSON. Fails
//! (exit 1, one line on stderr) on a taken name or invalid input.

use anyhow::anyhow;

use crate::app::Storage;
use clap::Subcommand;
use commands::{CommandContext, ServiceError};
use domain::events::{Actor, Medium};

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization with its first Owner (who gets a temporary
    /// password, shown once).
    Create {
        /// The organization's name (its handle in URLs): letters, digits, '.', '_', '-'.
        #[arg(long)]
        name: String,
        /// The first Owner's email.
        #[arg(long)]
        owner_email: String,
        /// The first Owner's username (default: from the email).
        #[arg(long)]
        owner_username: Option<String>,
    },
}

pub async fn run(storage: &Storage, command: OrgCommand) -> anyhow::Result<()> {
    match command {
        OrgCommand::Create {
            name,
            owner_email,
            owner_username,
        } => {
            let service = storage.open_command_service().await?;
            let ctx = CommandContext::new(Actor::system(), Medium::Cli);
            let created = service
                .create_organization(&name, None, &owner_email, owner_username, &ctx, None)
                .await
                .map_err(explain)?;
            let out = serde_json::json!({
                "org_id": created.org_id,
                "owner": {
                    "user_id": created.owner.user_id,
                    "username": created.owner.username,
                    "temporary_password": created.owner.temporary_password,
                },
                "position": created.position,
            });
            println!("{out}");
            Ok(())
        }
    }
}

/// A one-line reason that says what to fix.
fn explain(e: ServiceError) -> anyhow::Error {
    match e {
        ServiceError::Domain(d) => anyhow!("{} ({})", d, d.code()),
        other => anyhow!(other),
    }
}
