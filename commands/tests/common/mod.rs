//! Shared set-up for the command service's tests: a service over a fresh
//! SQLite data dir, and an organization with its Owner.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use commands::{CommandContext, CommandService, Credentials};
use domain::events::{Actor, Medium};
use domain::ids::{OrgId, UserId};
use domain::store::EventStore;
use infra::SqliteEventStore;

pub struct Harness {
    pub service: CommandService,
    pub store: Arc<dyn EventStore>,
}

pub async fn service_in(dir: &Path) -> Harness {
    let store: Arc<dyn EventStore> = Arc::new(
        SqliteEventStore::open_in_dir(dir)
            .await
            .expect("event store"),
    );
    let pool = infra::readmodel::open_in_dir(dir).expect("read-model db");
    let credentials = Credentials::sqlite(&pool).await.expect("credentials");
    Harness {
        service: CommandService::new(store.clone(), credentials),
        store,
    }
}

pub fn system() -> CommandContext {
    CommandContext::new(Actor::system(), Medium::Cli)
}

pub fn as_user(user: UserId, username: &str) -> CommandContext {
    CommandContext::new(Actor::user(user, username), Medium::Api)
}

/// Creates an organization; returns its id and its Owner's id.
pub async fn org(h: &Harness, name: &str) -> (OrgId, UserId) {
    let created = h
        .service
        .create_organization(
            name,
            None,
            &format!("owner@{name}.example"),
            Some("owner".into()),
            &system(),
            None,
        )
        .await
        .expect("create organization");
    (created.org_id, created.owner.user_id)
}
