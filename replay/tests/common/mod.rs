//! Shared set-up: a data dir with two organizations whose histories were
//! written by the real command service, and raw access to `events.db` for
//! tampering.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use commands::{CommandContext, CommandService, Credentials};
use domain::commands::NewPerson;
use domain::events::{Actor, Medium};
use domain::hash::Hash;
use domain::ids::{GroupId, OrgId, ProjectId, Subject, UserId};
use domain::roles::{CONTRIBUTOR, READER};
use domain::store::{EventStore, StreamId};
use domain::Command;
use infra::SqliteEventStore;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Arc<dyn EventStore>,
    pub service: CommandService,
    pub acme: OrgId,
    pub globex: OrgId,
}

impl Fixture {
    pub fn events_db(&self) -> PathBuf {
        self.dir.path().join(infra::sqlite::EVENTS_FILE)
    }
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

pub fn system() -> CommandContext {
    CommandContext::new(Actor::system(), Medium::Cli)
}

/// Runs a few commands of every kind in an organization.
pub async fn some_history(service: &CommandService, org: OrgId, tag: &str) {
    let people: Vec<NewPerson> = (0..3)
        .map(|i| NewPerson {
            user_id: UserId::new(),
            email: format!("p{i}@{tag}.example"),
            username: None,
        })
        .collect();
    let users: Vec<UserId> = people.iter().map(|p| p.user_id).collect();
    let ctx = system();
    service
        .execute(org, Command::InvitePeople { people, role: None }, &ctx)
        .await
        .expect("invite");
    let group = GroupId::new();
    service
        .execute(
            org,
            Command::CreateGroup {
                group_id: group,
                name: format!("{tag}-devs"),
                description: "developers".into(),
                members: users[..2].to_vec(),
            },
            &ctx,
        )
        .await
        .expect("group");
    let project = ProjectId::new();
    service
        .execute(
            org,
            Command::CreateProject {
                project_id: project,
                name: format!("{tag}-api"),
                owner: Some(users[0]),
            },
            &ctx,
        )
        .await
        .expect("project");
    service
        .execute(
            org,
            Command::BindProjectRole {
                project,
                subject: Subject::Group(group),
                role: CONTRIBUTOR,
            },
            &ctx,
        )
        .await
        .expect("bind group");
    service
        .execute(
            org,
            Command::BindProjectRole {
                project,
                subject: Subject::User(users[2]),
                role: READER,
            },
            &ctx,
        )
        .await
        .expect("bind user");
}

/// Two organizations created and used through the command service, their
/// commands interleaved in the log.
pub async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn EventStore> = Arc::new(
        SqliteEventStore::open_in_dir(dir.path())
            .await
            .expect("event store"),
    );
    let pool = infra::readmodel::open_in_dir(dir.path()).expect("read-model db");
    let credentials = Credentials::sqlite(&pool).await.expect("credentials");
    let service = CommandService::new(store.clone(), credentials);
    let mut orgs = Vec::new();
    for name in ["acme", "globex"] {
        let created = service
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
        orgs.push(created.org_id);
    }
    some_history(&service, orgs[0], "acme").await;
    some_history(&service, orgs[1], "globex").await;
    some_history(&service, orgs[0], "acme2").await;
    Fixture {
        dir,
        store,
        service,
        acme: orgs[0],
        globex: orgs[1],
    }
}

/// A read-write connection to the event store file, as an attacker with
/// file access would have.
pub fn raw(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    conn
}

/// `(global_position, hash)` of a stream's event at `version`.
pub fn event_at(conn: &rusqlite::Connection, stream: &StreamId, version: u64) -> (u64, Hash) {
    conn.query_row(
        "SELECT global_position, hash FROM events WHERE stream_id = ?1 AND stream_version = ?2",
        rusqlite::params![stream.as_str(), version as i64],
        |r| {
            let p: i64 = r.get(0)?;
            let h: Vec<u8> = r.get(1)?;
            Ok((p as u64, h.as_slice().try_into().unwrap()))
        },
    )
    .unwrap()
}

/// How many events a stream holds.
pub fn stream_len(conn: &rusqlite::Connection, stream: &StreamId) -> u64 {
    conn.query_row(
        "SELECT COUNT(*) FROM events WHERE stream_id = ?1",
        [stream.as_str()],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as u64
}

pub fn total_events(conn: &rusqlite::Connection) -> u64 {
    conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0))
        .unwrap() as u64
}
