//! The audit log end to end on real SQLite files: real commands through the
//! command service, the audit projection through the runner, then queries,
//! keyset paging, the chosen indexes and the CSV export.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use commands::{CommandContext, CommandService, Credentials};
use domain::commands::{NewPerson, RoleSpec, StreamingTarget};
use domain::events::{Actor, EventMetadata, Medium};
use domain::ids::{GroupId, OrgId, ProjectId, RoleId, Subject, TokenId, UserId};
use domain::permissions::Scope;
use domain::roles::{RepoAccess, RepoRoleMapping, CONTRIBUTOR, ORG_ADMIN, PROJECT_ADMIN, READER};
use domain::store::{EventStore, ExpectedVersion, NewEvent};
use domain::{Command, Event};
use infra::SqliteEventStore;
use projections::audit::{
    self, AuditEntry, AuditFilter, AuditProjection, Operation, ResourceType, HEADER,
};
use projections::runner::{self, Projection, Runner};
use testkit::{Size, Workload};

// ---- harness ----------------------------------------------------------------

struct Harness {
    service: CommandService,
    store: Arc<dyn EventStore>,
}

async fn service_in(dir: &Path) -> Harness {
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

fn ctx(actor: Actor) -> CommandContext {
    let mut c = CommandContext::new(actor, Medium::Api);
    c.ip = Some("203.0.113.7".into());
    c.user_agent = Some("rolebook-tests/1.0".into());
    c.request_id = Some("req-42".into());
    c
}

/// Catches the audit projection up with the store the way a process does at
/// start: warm the names up to the checkpoint, then apply pages of `page`.
async fn catch_up(store: &dyn EventStore, db: &Path, page: usize, until: Option<u64>) {
    let mut projection = AuditProjection::new();
    let checkpoint = {
        let conn = projections::db::open(db).unwrap();
        projection.migrate(&conn).unwrap();
        runner::checkpoint(&conn, projection.name()).unwrap()
    };
    let mut from = 1;
    while from <= checkpoint {
        let events = store.read_all(from, page).await.unwrap();
        let Some(last) = events.last().map(|e| e.global_position) else {
            break;
        };
        let events = events
            .into_iter()
            .filter(|e| e.global_position <= checkpoint)
            .collect();
        projection.warm(&runner::decode(events).unwrap()).unwrap();
        from = last + 1;
    }
    let mut runner = Runner::open(projection, db).unwrap();
    loop {
        let mut events = store.read_all(runner.position() + 1, page).await.unwrap();
        if let Some(until) = until {
            events.retain(|e| e.global_position <= until);
        }
        let Some(last) = events.last().map(|e| e.global_position) else {
            return;
        };
        let decoded = runner::decode(events).unwrap();
        runner.apply_page(&decoded, last).unwrap();
    }
}

/// Every entry of a filter, paging through with `limit`, checking the
/// pages' order as it goes.
fn all_pages(conn: &rusqlite::Connection, filter: &AuditFilter, limit: usize) -> Vec<AuditEntry> {
    let mut filter = filter.clone();
    filter.limit = limit;
    filter.cursor = None;
    let mut out: Vec<AuditEntry> = Vec::new();
    loop {
        let page = audit::page(conn, &filter).unwrap();
        assert!(page.entries.len() <= limit);
        if page.next_cursor.is_some() {
            assert_eq!(page.entries.len(), limit, "only the last page is short");
        }
        out.extend(page.entries);
        match page.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => break,
        }
    }
    for w in out.windows(2) {
        assert!(w[0].position > w[1].position, "newest first, no duplicates");
    }
    out
}

/// Pages through `filter` with `limit` and asserts it yields exactly the
/// entries of `everything` that `keep` picks (there must be some), newest
/// first; returns their positions.
fn assert_pages_match(
    conn: &rusqlite::Connection,
    everything: &[AuditEntry],
    filter: &AuditFilter,
    keep: &dyn Fn(&AuditEntry) -> bool,
    limit: usize,
    label: &str,
) -> Vec<u64> {
    let want: Vec<u64> = everything
        .iter()
        .filter(|e| keep(e))
        .map(|e| e.position)
        .collect();
    assert!(!want.is_empty(), "{label}: the data has matches");
    let got: Vec<u64> = all_pages(conn, filter, limit)
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(got, want, "{label}");
    want
}

// ---- every event kind -------------------------------------------------------

/// What one event's entry must say.
struct Expect {
    resource_type: ResourceType,
    operation: Operation,
    resource_id: String,
    resource_name: String,
    description: String,
}

fn e(
    resource_type: ResourceType,
    operation: Operation,
    id: &dyn std::fmt::Display,
    name: &str,
    description: &str,
) -> Expect {
    Expect {
        resource_type,
        operation,
        resource_id: id.to_string(),
        resource_name: name.to_string(),
        description: description.to_string(),
    }
}

fn person(username: &str) -> (UserId, NewPerson) {
    let id = UserId::new();
    (
        id,
        NewPerson {
            user_id: id,
            email: format!("{username}@acme.example"),
            username: Some(username.to_string()),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_kind_has_its_entry() {
    use Operation::*;
    use ResourceType as R;
    let dir = tempfile::tempdir().unwrap();
    let h = service_in(dir.path()).await;
    let created = h
        .service
        .create_organization(
            "acme",
            None,
            "owner@acme.example",
            Some("owner".into()),
            &CommandContext::new(Actor::system(), Medium::Cli),
            None,
        )
        .await
        .unwrap();
    let org = created.org_id;
    let owner = created.owner.user_id;
    let mut expected = vec![
        e(
            R::Organization,
            Added,
            &org,
            "acme",
            "Organization acme created",
        ),
        e(
            R::User,
            Added,
            &owner,
            "owner",
            "User owner invited (owner@acme.example)",
        ),
        e(
            R::User,
            Modified,
            &owner,
            "owner",
            "Role Owner assigned to owner",
        ),
    ];
    let as_owner = ctx(Actor::user(owner, "owner"));
    let run = |ctx: CommandContext, command: Command| {
        let service = h.service.clone();
        async move {
            let out = service.execute(org, command, &ctx).await.unwrap();
            assert!(!out.events.is_empty(), "the command changed something");
        }
    };

    run(
        as_owner.clone(),
        Command::ChangeSettings {
            name: None,
            url: Some("https://acme.example".into()),
        },
    )
    .await;
    expected.push(e(
        R::Settings,
        Modified,
        &org,
        "acme",
        "URL of organization acme set to https://acme.example",
    ));

    let (alice, p_alice) = person("alice");
    let (bob, p_bob) = person("bob");
    let (carol, p_carol) = person("carol");
    run(
        as_owner.clone(),
        Command::InvitePeople {
            people: vec![p_alice, p_bob, p_carol],
            role: None,
        },
    )
    .await;
    for (id, n) in [(alice, "alice"), (bob, "bob"), (carol, "carol")] {
        expected.push(e(
            R::User,
            Added,
            &id,
            n,
            &format!("User {n} invited ({n}@acme.example)"),
        ));
        expected.push(e(
            R::User,
            Modified,
            &id,
            n,
            &format!("Role Member assigned to {n}"),
        ));
    }

    let as_alice = ctx(Actor::user(alice, "alice"));
    run(as_alice.clone(), Command::SetPassword { user: alice }).await;
    expected.push(e(
        R::User,
        Modified,
        &alice,
        "alice",
        "Password of alice changed",
    ));
    run(as_owner.clone(), Command::ResetPassword { user: alice }).await;
    expected.push(e(
        R::User,
        Modified,
        &alice,
        "alice",
        "Password of alice reset",
    ));
    run(
        as_owner.clone(),
        Command::AssignOrgRole {
            subject: Subject::User(alice),
            role: ORG_ADMIN,
        },
    )
    .await;
    expected.push(e(
        R::User,
        Modified,
        &alice,
        "alice",
        "Role Admin assigned to alice",
    ));

    let ops = GroupId::new();
    run(
        as_owner.clone(),
        Command::CreateGroup {
            group_id: ops,
            name: "ops".into(),
            description: "operations".into(),
            members: vec![bob],
        },
    )
    .await;
    expected.push(e(
        R::Group,
        Added,
        &ops,
        "ops",
        "Group ops created with 1 member",
    ));
    run(
        as_owner.clone(),
        Command::AssignOrgRole {
            subject: Subject::Group(ops),
            role: ORG_ADMIN,
        },
    )
    .await;
    expected.push(e(
        R::Group,
        Modified,
        &ops,
        "ops",
        "Role Admin assigned to group ops",
    ));
    run(
        as_owner.clone(),
        Command::RetractOrgRole {
            subject: Subject::Group(ops),
        },
    )
    .await;
    expected.push(e(
        R::Group,
        Modified,
        &ops,
        "ops",
        "Role Admin retracted from group ops",
    ));
    run(
        as_owner.clone(),
        Command::ChangeGroup {
            group: ops,
            name: Some("operators".into()),
            description: None,
            add_members: vec![carol],
            remove_members: vec![bob],
        },
    )
    .await;
    expected.push(e(
        R::Group,
        Modified,
        &ops,
        "operators",
        "Group ops renamed to operators",
    ));
    expected.push(e(
        R::Group,
        Modified,
        &ops,
        "operators",
        "User carol added to group operators",
    ));
    expected.push(e(
        R::Group,
        Modified,
        &ops,
        "operators",
        "User bob removed from group operators",
    ));

    let deployer_role = RoleId::new();
    let spec = |name: &str| RoleSpec {
        name: name.into(),
        scope: Scope::Project,
        description: "deploys".into(),
        permissions: vec!["project.view".into()],
        inherits: vec![],
        project_role: None,
    };
    run(
        as_owner.clone(),
        Command::CreateRole {
            role_id: deployer_role,
            spec: spec("Deployer"),
        },
    )
    .await;
    expected.push(e(
        R::Role,
        Added,
        &deployer_role,
        "Deployer",
        "Project role Deployer created",
    ));
    run(
        as_owner.clone(),
        Command::ChangeRole {
            role: deployer_role,
            spec: spec("Releaser"),
        },
    )
    .await;
    expected.push(e(
        R::Role,
        Modified,
        &deployer_role,
        "Releaser",
        "Role Deployer changed and renamed to Releaser",
    ));

    let web = ProjectId::new();
    run(
        as_owner.clone(),
        Command::CreateProject {
            project_id: web,
            name: "web".into(),
            owner: Some(alice),
        },
    )
    .await;
    expected.push(e(
        R::Project,
        Added,
        &web,
        "web",
        "Project web created, owned by alice",
    ));
    expected.push(e(
        R::Project,
        Modified,
        &web,
        "web",
        "Role Admin assigned to alice on project web",
    ));
    run(
        as_owner.clone(),
        Command::BindProjectRole {
            project: web,
            subject: Subject::Group(ops),
            role: deployer_role,
        },
    )
    .await;
    expected.push(e(
        R::Project,
        Modified,
        &web,
        "web",
        "Role Releaser assigned to group operators on project web",
    ));
    run(
        as_owner.clone(),
        Command::UnbindProjectRole {
            project: web,
            subject: Subject::Group(ops),
        },
    )
    .await;
    expected.push(e(
        R::Project,
        Modified,
        &web,
        "web",
        "Role Releaser retracted from group operators on project web",
    ));
    for (access, text) in [
        (
            Some(RepoAccess::Read),
            "Repository access read granted to carol on project web",
        ),
        (
            Some(RepoAccess::Admin),
            "Repository access of carol on project web changed from read to admin",
        ),
        (
            None,
            "Repository access admin of carol on project web revoked",
        ),
    ] {
        run(
            as_owner.clone(),
            Command::SetRepositoryAccess {
                project: web,
                user: carol,
                access,
            },
        )
        .await;
        expected.push(e(R::Project, Modified, &web, "web", text));
    }
    run(
        as_owner.clone(),
        Command::SetRepositoryRoleMapping {
            project: web,
            mapping: RepoRoleMapping {
                admin: PROJECT_ADMIN,
                write: CONTRIBUTOR,
                read: READER,
            },
        },
    )
    .await;
    expected.push(e(
        R::Project,
        Modified,
        &web,
        "web",
        "Repository role mapping of project web set to admin: Admin, write: Contributor, read: Reader",
    ));
    run(
        as_owner.clone(),
        Command::TransferProject {
            project: web,
            to: bob,
        },
    )
    .await;
    expected.push(e(
        R::Project,
        Modified,
        &web,
        "web",
        "Project web transferred from alice to bob",
    ));
    run(
        as_owner.clone(),
        Command::DeleteRole {
            role: deployer_role,
        },
    )
    .await;
    expected.push(e(
        R::Role,
        Removed,
        &deployer_role,
        "Releaser",
        "Role Releaser deleted",
    ));

    let sa = UserId::new();
    run(
        as_owner.clone(),
        Command::CreateServiceAccount {
            user_id: sa,
            name: "deployer".into(),
            description: "deploys\nto production".into(),
            role: None,
            token: None,
        },
    )
    .await;
    expected.push(e(
        R::ServiceAccount,
        Added,
        &sa,
        "deployer",
        "Service account deployer created",
    ));
    expected.push(e(
        R::User,
        Modified,
        &sa,
        "deployer",
        "Role Member assigned to deployer",
    ));
    let sa_token = TokenId::new();
    let expires = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    run(
        as_owner.clone(),
        Command::IssueServiceAccountToken {
            service_account: sa,
            token_id: sa_token,
            expires_at: Some(expires),
        },
    )
    .await;
    expected.push(e(
        R::ServiceAccount,
        Modified,
        &sa,
        "deployer",
        &format!(
            "Token {sa_token} issued to service account deployer, expiring 2027-01-01T00:00:00Z"
        ),
    ));
    run(
        as_owner.clone(),
        Command::RevokeServiceAccountToken {
            service_account: sa,
            token_id: sa_token,
        },
    )
    .await;
    expected.push(e(
        R::ServiceAccount,
        Modified,
        &sa,
        "deployer",
        &format!("Token {sa_token} of service account deployer revoked"),
    ));
    run(
        as_owner.clone(),
        Command::ChangeServiceAccount {
            service_account: sa,
            name: Some("releaser".into()),
            description: None,
        },
    )
    .await;
    expected.push(e(
        R::ServiceAccount,
        Modified,
        &sa,
        "releaser",
        "Service account deployer renamed to releaser",
    ));
    run(
        as_owner.clone(),
        Command::ChangeServiceAccount {
            service_account: sa,
            name: Some("deployer".into()),
            description: Some("deploys".into()),
        },
    )
    .await;
    expected.push(e(
        R::ServiceAccount,
        Modified,
        &sa,
        "deployer",
        "Service account releaser renamed to deployer, description changed",
    ));
    run(as_owner.clone(), Command::DeactivateUser { user: sa }).await;
    expected.push(e(
        R::User,
        Modified,
        &sa,
        "deployer",
        "Role Member retracted from deployer",
    ));
    expected.push(e(
        R::ServiceAccount,
        Modified,
        &sa,
        "deployer",
        "Service account deployer deactivated",
    ));
    run(
        as_owner.clone(),
        Command::ReactivateUser {
            user: sa,
            role: None,
        },
    )
    .await;
    expected.push(e(
        R::ServiceAccount,
        Modified,
        &sa,
        "deployer",
        "Service account deployer reactivated",
    ));
    expected.push(e(
        R::User,
        Modified,
        &sa,
        "deployer",
        "Role Member assigned to deployer",
    ));
    run(
        as_owner.clone(),
        Command::RemoveServiceAccount {
            service_account: sa,
        },
    )
    .await;
    expected.push(e(
        R::ServiceAccount,
        Removed,
        &sa,
        "deployer",
        "Service account deployer removed",
    ));

    // Provisioning by the identity provider: the SCIM token and the
    // default role, then a person provisioned and their profile changed.
    let scim_token = TokenId::new();
    run(
        as_owner.clone(),
        Command::IssueScimToken {
            token_id: scim_token,
        },
    )
    .await;
    expected.push(e(
        R::Settings,
        Added,
        &scim_token,
        "acme",
        "SCIM token issued for organization acme",
    ));
    run(
        as_owner.clone(),
        Command::ChangeScimSettings {
            default_role: ORG_ADMIN,
        },
    )
    .await;
    expected.push(e(
        R::Settings,
        Modified,
        &org,
        "acme",
        "Provisioned people of organization acme now get role Admin",
    ));
    let mut as_scim = CommandContext::new(
        Actor {
            user_id: None,
            username: "scim".into(),
        },
        Medium::Scim,
    );
    as_scim.ip = Some("203.0.113.9".into());
    let ada = UserId::new();
    let identity = |user_name: &str| domain::state::Identity {
        user_name: user_name.into(),
        external_id: Some("00u1".into()),
        given_name: Some("Ada".into()),
        family_name: None,
    };
    run(
        as_scim.clone(),
        Command::ProvisionUser {
            user_id: ada,
            email: "ada@acme.example".into(),
            identity: identity("ada@okta.example"),
            active: true,
        },
    )
    .await;
    expected.push(e(
        R::User,
        Added,
        &ada,
        "ada",
        "User ada provisioned (ada@acme.example, identity provider login ada@okta.example)",
    ));
    expected.push(e(
        R::User,
        Modified,
        &ada,
        "ada",
        "Role Admin assigned to ada",
    ));
    run(
        as_scim.clone(),
        Command::ChangeProfile {
            user: ada,
            email: "ada@new.example".into(),
            identity: identity("ada.l@okta.example"),
            active: None,
        },
    )
    .await;
    expected.push(e(
        R::User,
        Modified,
        &ada,
        "ada",
        "Profile of ada changed (ada@new.example, identity provider login ada.l@okta.example)",
    ));
    run(as_owner.clone(), Command::RevokeScimToken).await;
    expected.push(e(
        R::Settings,
        Removed,
        &scim_token,
        "acme",
        "SCIM token of organization acme revoked",
    ));

    let api_token = TokenId::new();
    run(
        as_alice.clone(),
        Command::IssueApiToken {
            token_id: api_token,
            name: "ci".into(),
            expires_at: None,
        },
    )
    .await;
    expected.push(e(
        R::User,
        Modified,
        &alice,
        "alice",
        "API token ci issued to alice",
    ));
    let alice_acted_at = expected.len(); // index of alice's last own action + 1
    run(
        as_owner.clone(),
        Command::RevokeApiToken {
            token_id: api_token,
        },
    )
    .await;
    expected.push(e(
        R::User,
        Modified,
        &alice,
        "alice",
        "API token ci of alice revoked",
    ));

    run(
        as_owner.clone(),
        Command::ConfigureAuditStreaming {
            target: StreamingTarget {
                provider: "s3".into(),
                bucket: "audit-bucket".into(),
                region: Some("eu-west-1".into()),
                endpoint: None,
                prefix: None,
            },
        },
    )
    .await;
    expected.push(e(
        R::AuditStream,
        Added,
        &org,
        "audit-bucket",
        "Audit log streaming to s3 bucket audit-bucket configured",
    ));
    run(as_owner.clone(), Command::RemoveAuditStreaming).await;
    expected.push(e(
        R::AuditStream,
        Removed,
        &org,
        "audit-bucket",
        "Audit log streaming to s3 bucket audit-bucket removed",
    ));

    run(as_owner.clone(), Command::RemoveUser { user: alice }).await;
    expected.push(e(R::User, Removed, &alice, "alice", "User alice removed"));
    run(
        as_owner.clone(),
        Command::RetractOrgRole {
            subject: Subject::User(carol),
        },
    )
    .await;
    expected.push(e(
        R::User,
        Modified,
        &carol,
        "carol",
        "Role Member retracted from carol",
    ));
    run(as_owner.clone(), Command::DeleteProject { project: web }).await;
    expected.push(e(R::Project, Removed, &web, "web", "Project web deleted"));
    run(as_owner.clone(), Command::DeleteGroup { group: ops }).await;
    expected.push(e(
        R::Group,
        Removed,
        &ops,
        "operators",
        "Group operators deleted",
    ));
    run(
        as_owner.clone(),
        Command::ChangeWorkflowSettings {
            change: domain::settings::WorkflowSettingsChange {
                default_queue: Some("big".into()),
                ..Default::default()
            },
        },
    )
    .await;
    expected.push(e(
        R::Settings,
        Modified,
        &org,
        "acme",
        "Workflows of organization acme: pull requests from forks do not run, default queue big, job timeout 60 min, manual promotions allowed",
    ));
    run(
        as_owner.clone(),
        Command::SetInitAgent {
            init_agent: domain::settings::InitAgent {
                environment: domain::settings::AgentEnvironment::SelfHosted,
                machine_type: "s1-builders".into(),
                os_image: None,
            },
        },
    )
    .await;
    expected.push(e(
        R::Settings,
        Modified,
        &org,
        "acme",
        "Initialization jobs of organization acme now run on self-hosted agent type s1-builders",
    ));
    run(
        as_owner.clone(),
        Command::SetIpAllowList {
            cidrs: vec!["10.0.0.0/8".into()],
            from: None,
        },
    )
    .await;
    expected.push(e(
        R::Settings,
        Modified,
        &org,
        "acme",
        "IP allow list of organization acme set to 10.0.0.0/8",
    ));
    let sso = domain::settings::SsoSettings {
        issuer: "https://acme.okta.com".into(),
        client_id: "rolebook".into(),
        jit_provisioning: false,
        password_login: true,
    };
    run(as_owner.clone(), Command::ConfigureSso { sso }).await;
    expected.push(e(
        R::Settings,
        Modified,
        &org,
        "acme",
        "Single sign-on of organization acme set: issuer https://acme.okta.com, client rolebook; unknown people refused unless known; passwords still accepted",
    ));
    run(as_owner.clone(), Command::RemoveSso).await;
    expected.push(e(
        R::Settings,
        Removed,
        &org,
        "acme",
        "Single sign-on of organization acme removed",
    ));
    let hook = domain::notifications::NotificationTarget {
        id: domain::ids::NotificationId::new(),
        name: "siem".into(),
        kind: domain::notifications::TargetKind::Webhook,
        endpoint: "https://siem.example.com".into(),
        rules: vec![domain::notifications::Rule::default()],
    };
    run(
        as_owner.clone(),
        Command::CreateNotificationTarget {
            target: hook.clone(),
        },
    )
    .await;
    expected.push(e(
        R::Settings,
        Added,
        &hook.id,
        "siem",
        "Notification target siem added: webhook to https://siem.example.com",
    ));
    let renamed = domain::notifications::NotificationTarget {
        name: "siem-2".into(),
        ..hook.clone()
    };
    run(
        as_owner.clone(),
        Command::ChangeNotificationTarget { target: renamed },
    )
    .await;
    expected.push(e(
        R::Settings,
        Modified,
        &hook.id,
        "siem-2",
        "Notification target siem-2 changed: webhook to https://siem.example.com, 1 rule(s)",
    ));
    run(
        as_owner.clone(),
        Command::RemoveNotificationTarget { id: hook.id },
    )
    .await;
    expected.push(e(
        R::Settings,
        Removed,
        &hook.id,
        "siem-2",
        "Notification target siem-2 removed",
    ));
    run(
        as_owner.clone(),
        Command::ChangeSettings {
            name: Some("acme-corp".into()),
            url: None,
        },
    )
    .await;
    expected.push(e(
        R::Settings,
        Modified,
        &org,
        "acme-corp",
        "Organization acme renamed to acme-corp",
    ));

    // Project in two halves: the second run warms its names from the log.
    let db = projections::db::path_in(dir.path());
    let head = h.store.head_position().await.unwrap();
    catch_up(h.store.as_ref(), &db, 7, Some(head / 2)).await;
    catch_up(h.store.as_ref(), &db, 7, None).await;

    let conn = projections::db::open_read_only(&db).unwrap();
    let mut entries = all_pages(&conn, &AuditFilter::new(org), 1_000);
    entries.reverse();
    let recorded = h.store.read_stream(&org.stream(), 1, 10_000).await.unwrap();
    assert_eq!(entries.len(), recorded.len(), "one entry per event");
    assert_eq!(entries.len(), expected.len());
    for ((entry, want), rec) in entries.iter().zip(&expected).zip(&recorded) {
        let what = format!("{} at {}", rec.event_type, rec.global_position);
        assert_eq!(entry.position, rec.global_position, "{what}");
        assert_eq!(entry.org_id, org);
        assert_eq!(entry.resource_type, want.resource_type, "{what}");
        assert_eq!(entry.operation, want.operation, "{what}");
        assert_eq!(entry.resource_id, want.resource_id, "{what}");
        assert_eq!(entry.resource_name, want.resource_name, "{what}");
        assert_eq!(entry.description, want.description, "{what}");
        let meta: EventMetadata = serde_json::from_str(&rec.metadata).unwrap();
        assert_eq!(entry.metadata["event_type"], rec.event_type.as_str());
        assert_eq!(
            entry.metadata["correlation_id"],
            meta.correlation_id.to_string(),
            "{what}"
        );
        // The payload's fields are all there.
        let payload: serde_json::Value = serde_json::from_str(&rec.data).unwrap();
        for (k, v) in payload.as_object().unwrap() {
            assert_eq!(&entry.metadata[k], v, "{what}: {k}");
        }
        assert_eq!(
            entry.occurred_at.timestamp_micros(),
            meta.occurred_at.timestamp_micros()
        );
        assert_eq!(entry.actor_id, meta.actor.user_id);
        assert_eq!(entry.actor_username, meta.actor.username);
        assert_eq!(entry.medium, meta.medium.as_str());
        assert_eq!(entry.ip, meta.ip);
        assert_eq!(entry.user_agent, meta.user_agent);
        assert_eq!(entry.request_id, meta.request_id);
    }
    // Every event kind was covered.
    let kinds: BTreeSet<&str> = recorded.iter().map(|r| r.event_type.as_str()).collect();
    let all: BTreeSet<&str> = Event::types().iter().map(|(t, _)| *t).collect();
    assert_eq!(kinds, all, "the scenario produces every event kind");

    // The system's entries and the API's metadata.
    assert_eq!(entries[0].actor_id, None);
    assert_eq!(entries[0].actor_username, "system");
    assert_eq!(entries[0].medium, "CLI");
    assert_eq!(entries[3].medium, "API");
    assert_eq!(entries[3].ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(entries[3].request_id.as_deref(), Some("req-42"));

    // Alice's actions keep her name after she is removed, and filtering by
    // her still finds them.
    let mut by_alice = AuditFilter::new(org);
    by_alice.actor = Some(alice);
    let hers = all_pages(&conn, &by_alice, 2);
    assert_eq!(hers.len(), 2, "set password, issue API token");
    assert!(hers.iter().all(|e| e.actor_username == "alice"));
    assert_eq!(hers[0].position, entries[alice_acted_at - 1].position);
    assert_eq!(
        entries.last().unwrap().resource_name,
        "acme-corp",
        "the last entry is the rename"
    );

    // The pure mapping agrees with what the projection stored.
    let decoded = runner::decode(recorded.clone()).unwrap();
    let mut names = audit::Names::new();
    for (d, stored) in decoded.iter().zip(&entries) {
        let meta: EventMetadata = serde_json::from_str(&d.record.metadata).unwrap();
        let mut entry = audit::audit_entry(&names, &d.record, &d.event, &meta).unwrap();
        entry.occurred_at = stored.occurred_at; // stored with microseconds
        assert_eq!(&entry, stored);
        names.apply(org, &d.event);
    }
}

// ---- filters, paging, indexes -----------------------------------------------

/// A generated organization whose events carry varied actors and times (one
/// minute apart), appended straight to the store; plus a second small
/// organization that must never show up in the first one's answers.
async fn generated(dir: &Path) -> (OrgId, Vec<UserId>, DateTime<Utc>) {
    let store = SqliteEventStore::open_in_dir(dir).await.unwrap();
    let mut w = Workload::organization("filters", Size::SMALL, 7);
    w.churn_to(3_000);
    let actors: Vec<UserId> = w.users.iter().skip(1).take(6).copied().collect();
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let envelopes: Vec<NewEvent> = w
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let actor = match i % 7 {
                6 => Actor::system(),
                k => {
                    let u = actors[k % actors.len()];
                    Actor::user(u, w.state.users[&u].username.clone())
                }
            };
            let at = start + Duration::minutes(i as i64);
            let mut meta = EventMetadata::new(actor, Medium::Api, at);
            meta.ip = Some(format!("10.0.0.{}", i % 5));
            NewEvent {
                event_id: uuid::Uuid::now_v7(),
                event_type: e.event_type().to_string(),
                schema_version: e.schema_version(),
                data: e.to_json(),
                metadata: serde_json::to_string(&meta).unwrap(),
            }
        })
        .collect();
    for (k, chunk) in envelopes.chunks(1_000).enumerate() {
        let expected = if k == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact((k * 1_000) as u64)
        };
        store
            .append(&w.org_id.stream(), expected, chunk.to_vec())
            .await
            .unwrap();
        // Interleave another organization's events.
        let other = Workload::organization(&format!("other{k}"), tiny(), k as u64);
        store
            .append(
                &other.org_id.stream(),
                ExpectedVersion::NoStream,
                other.envelopes(),
            )
            .await
            .unwrap();
    }
    catch_up(&store, &projections::db::path_in(dir), 500, None).await;
    (w.org_id, actors, start)
}

fn tiny() -> Size {
    Size {
        users: 5,
        projects: 2,
        groups: 2,
        custom_roles: 2,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_keyset_paging() {
    let dir = tempfile::tempdir().unwrap();
    let (org, actors, start) = generated(dir.path()).await;
    let conn = projections::db::open_read_only(&projections::db::path_in(dir.path())).unwrap();

    let everything = all_pages(&conn, &AuditFilter::new(org), 1_000);
    assert_eq!(everything.len(), 3_000);
    assert!(everything.iter().all(|e| e.org_id == org));
    // Any page size walks the same entries: no gaps, no duplicates.
    for limit in [1, 37, 50, 999] {
        let paged = all_pages(&conn, &AuditFilter::new(org), limit);
        assert_eq!(
            paged.iter().map(|e| e.position).collect::<Vec<_>>(),
            everything.iter().map(|e| e.position).collect::<Vec<_>>(),
            "limit {limit}"
        );
    }

    let check = |filter: AuditFilter, keep: &dyn Fn(&AuditEntry) -> bool, label: &str| {
        assert_pages_match(&conn, &everything, &filter, keep, 23, label).len()
    };
    let mut f = AuditFilter::new(org);
    f.actor = Some(actors[2]);
    check(f, &|e| e.actor_id == Some(actors[2]), "actor");

    let from = start + Duration::minutes(500);
    let to = start + Duration::minutes(1_300);
    let mut f = AuditFilter::new(org);
    f.from = Some(from);
    f.to = Some(to);
    let n = check(
        f,
        &|e| e.occurred_at >= from && e.occurred_at < to,
        "time range",
    );
    assert_eq!(n, 800, "from inclusive, to exclusive");
    let mut f = AuditFilter::new(org);
    f.from = Some(from);
    check(f, &|e| e.occurred_at >= from, "from only");

    let project = everything
        .iter()
        .find(|e| e.resource_type == ResourceType::Project)
        .unwrap()
        .resource_id
        .clone();
    let mut f = AuditFilter::new(org);
    f.resource_type = Some(ResourceType::Project);
    f.resource_id = Some(project.clone());
    check(
        f,
        &|e| e.resource_type == ResourceType::Project && e.resource_id == project,
        "resource",
    );
    let mut f = AuditFilter::new(org);
    f.resource_id = Some(project.clone());
    check(f, &|e| e.resource_id == project, "resource id alone");
    let mut f = AuditFilter::new(org);
    f.resource_type = Some(ResourceType::Group);
    check(
        f,
        &|e| e.resource_type == ResourceType::Group,
        "resource type alone",
    );

    let mut f = AuditFilter::new(org);
    f.operation = Some(Operation::Added);
    check(f, &|e| e.operation == Operation::Added, "operation");

    // Combinations.
    let mut f = AuditFilter::new(org);
    f.actor = Some(actors[0]);
    f.from = Some(from);
    f.to = Some(to);
    f.operation = Some(Operation::Modified);
    check(
        f,
        &|e| {
            e.actor_id == Some(actors[0])
                && e.occurred_at >= from
                && e.occurred_at < to
                && e.operation == Operation::Modified
        },
        "actor + time + operation",
    );
    let mut f = AuditFilter::new(org);
    f.operation = Some(Operation::Modified);
    f.resource_type = Some(ResourceType::User);
    check(
        f,
        &|e| e.operation == Operation::Modified && e.resource_type == ResourceType::User,
        "operation + resource type",
    );

    // Limits and errors.
    let mut f = AuditFilter::new(org);
    assert_eq!(
        audit::page(&conn, &f).unwrap().entries.len(),
        50,
        "default limit"
    );
    f.limit = 5_000;
    assert_eq!(
        audit::page(&conn, &f).unwrap().entries.len(),
        1_000,
        "max limit"
    );
    f.limit = 10;
    f.cursor = Some("not a cursor".into());
    let err = audit::page(&conn, &f).unwrap_err();
    assert_eq!(err.code(), "invalid_cursor");
    f.cursor = Some(String::new());
    assert_eq!(audit::page(&conn, &f).unwrap_err().code(), "invalid_cursor");
    let mut f = AuditFilter::new(org);
    f.from = Some(to);
    f.to = Some(from);
    assert_eq!(audit::page(&conn, &f).unwrap_err().code(), "invalid_filter");
    let mut f = AuditFilter::new(OrgId::new());
    f.limit = 10;
    let empty = audit::page(&conn, &f).unwrap();
    assert!(empty.entries.is_empty() && empty.next_cursor.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_filter_reads_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let (org, actors, start) = generated(dir.path()).await;
    let conn = projections::db::open_read_only(&projections::db::path_in(dir.path())).unwrap();
    let base = || {
        let mut f = AuditFilter::new(org);
        f.cursor = Some(audit::encode_cursor(2_000));
        f
    };
    let cases: Vec<(&str, AuditFilter, &str, bool)> = vec![
        ("none", base(), "audit_by_org", true),
        (
            "actor",
            AuditFilter {
                actor: Some(actors[0]),
                ..base()
            },
            "audit_by_actor",
            true,
        ),
        (
            "resource",
            AuditFilter {
                resource_type: Some(ResourceType::Project),
                resource_id: Some("x".into()),
                ..base()
            },
            "audit_by_resource",
            true,
        ),
        (
            "resource id alone",
            AuditFilter {
                resource_id: Some("x".into()),
                ..base()
            },
            "audit_by_resource",
            false,
        ),
        (
            "resource type alone",
            AuditFilter {
                resource_type: Some(ResourceType::Group),
                ..base()
            },
            "audit_by_resource",
            false,
        ),
        (
            "operation",
            AuditFilter {
                operation: Some(Operation::Removed),
                ..base()
            },
            "audit_by_operation",
            true,
        ),
        (
            "time",
            AuditFilter {
                from: Some(start),
                to: Some(start + Duration::days(1)),
                ..base()
            },
            "audit_by_time",
            false,
        ),
    ];
    for (label, filter, index, ordered) in cases {
        let plan = audit::explain_page(&conn, &filter).unwrap().join(" | ");
        assert!(
            plan.contains(&format!("USING COVERING INDEX {index}"))
                || plan.contains(&format!("USING INDEX {index}")),
            "{label}: {plan}"
        );
        assert!(
            !plan.contains("SCAN audit_log"),
            "{label}: no table scan: {plan}"
        );
        if ordered {
            assert!(!plan.contains("TEMP B-TREE"), "{label}: no sort: {plan}");
        }
        // The export never sorts, whatever the filter.
        let export_plan = audit::explain_export(&conn, &filter).unwrap().join(" | ");
        assert!(
            !export_plan.contains("TEMP B-TREE"),
            "{label} export: {export_plan}"
        );
        assert!(
            !export_plan.contains("SCAN audit_log") || export_plan.contains("USING"),
            "{label} export reads an index: {export_plan}"
        );
    }
}

// ---- CSV ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_export_round_trips_and_defuses_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let h = service_in(dir.path()).await;
    let created = h
        .service
        .create_organization(
            "csv-org",
            None,
            "owner@csv.example",
            Some("owner".into()),
            &CommandContext::new(Actor::system(), Medium::Cli),
            None,
        )
        .await
        .unwrap();
    let org = created.org_id;
    let owner = created.owner.user_id;
    let mut c = ctx(Actor::user(owner, "owner"));
    c.user_agent = Some("agent, \"quoted\"\nsecond line".into());
    let tricky = GroupId::new();
    let formula = GroupId::new();
    for (id, name) in [
        (tricky, "ops, \"core\" team"),
        (formula, "=HYPERLINK(\"http://evil.example\",\"x\")"),
    ] {
        h.service
            .execute(
                org,
                Command::CreateGroup {
                    group_id: id,
                    name: name.into(),
                    description: "-1+1".into(),
                    members: vec![owner],
                },
                &c,
            )
            .await
            .unwrap();
    }
    h.service
        .execute(
            org,
            Command::ChangeGroup {
                group: formula,
                name: Some("@SUM(A1:A9)".into()),
                description: None,
                add_members: vec![],
                remove_members: vec![],
            },
            &c,
        )
        .await
        .unwrap();
    let db = projections::db::path_in(dir.path());
    catch_up(h.store.as_ref(), &db, 100, None).await;
    let conn = projections::db::open_read_only(&db).unwrap();

    let mut out = Vec::new();
    let rows = audit::export(&conn, &AuditFilter::new(org), &mut out).unwrap();
    let mut entries = all_pages(&conn, &AuditFilter::new(org), 100);
    entries.reverse(); // the export is oldest first
    assert_eq!(rows as usize, entries.len());
    assert_eq!(rows, 6);

    let mut reader = csv::Reader::from_reader(out.as_slice());
    assert_eq!(
        reader.headers().unwrap(),
        &csv::StringRecord::from(HEADER.to_vec())
    );
    assert_eq!(
        &HEADER[..11],
        [
            "resource",
            "operation",
            "medium",
            "user_id",
            "username",
            "resource_id",
            "resource_name",
            "ip_address",
            "description",
            "metadata",
            "timestamp"
        ],
        "Semaphore's columns first, in its order"
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), entries.len());
    let defused = |s: &str| {
        if audit::is_formula_like(s.as_bytes()) {
            format!("'{s}")
        } else {
            s.to_string()
        }
    };
    for (r, e) in records.iter().zip(&entries) {
        assert_eq!(&r[0], e.resource_type.as_str());
        assert_eq!(&r[1], e.operation.as_str());
        assert_eq!(&r[2], e.medium);
        assert_eq!(r[3], e.actor_id.map(|u| u.to_string()).unwrap_or_default());
        assert_eq!(&r[4], e.actor_username);
        assert_eq!(&r[5], e.resource_id);
        assert_eq!(r[6], defused(&e.resource_name));
        assert_eq!(&r[7], e.ip.as_deref().unwrap_or(""));
        assert_eq!(r[8], defused(&e.description));
        let meta: serde_json::Value = serde_json::from_str(&r[9]).unwrap();
        assert_eq!(meta, e.metadata);
        let at: DateTime<Utc> = DateTime::parse_from_rfc3339(&r[10]).unwrap().into();
        assert_eq!(at, e.occurred_at);
        assert!(r[10].ends_with('Z'), "UTC: {}", &r[10]);
        assert_eq!(r[11].parse::<u64>().unwrap(), e.position);
        assert_eq!(&r[12], e.request_id.as_deref().unwrap_or(""));
        assert_eq!(r[13], defused(e.user_agent.as_deref().unwrap_or("")));
    }
    // Commas, quotes and newlines survive; formulas are defused.
    let tricky_row = records.iter().find(|r| r[5] == tricky.to_string()).unwrap();
    assert_eq!(&tricky_row[6], "ops, \"core\" team");
    assert_eq!(
        &tricky_row[8],
        "Group ops, \"core\" team created with 1 member"
    );
    assert_eq!(&tricky_row[13], "agent, \"quoted\"\nsecond line");
    let formula_rows: Vec<_> = records
        .iter()
        .filter(|r| r[5] == formula.to_string())
        .collect();
    assert_eq!(
        &formula_rows[0][6],
        "'=HYPERLINK(\"http://evil.example\",\"x\")"
    );
    assert_eq!(&formula_rows[1][6], "'@SUM(A1:A9)");
    assert_eq!(
        &formula_rows[1][8],
        "Group =HYPERLINK(\"http://evil.example\",\"x\") renamed to @SUM(A1:A9)"
    );
    assert!(
        !records
            .iter()
            .flat_map(|r| r.iter())
            .any(|cell| audit::is_formula_like(cell.as_bytes())),
        "no cell a spreadsheet would evaluate"
    );

    // The export's filters agree with the query's.
    let mut f = AuditFilter::new(org);
    f.resource_type = Some(ResourceType::Group);
    f.resource_id = Some(formula.to_string());
    let mut out = Vec::new();
    assert_eq!(audit::export(&conn, &f, &mut out).unwrap(), 2);
    let mut f = AuditFilter::new(org);
    f.to = Some(Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap());
    let mut out = Vec::new();
    assert_eq!(audit::export(&conn, &f, &mut out).unwrap(), 0);
    assert_eq!(
        String::from_utf8(out).unwrap().trim_end(),
        HEADER.join(","),
        "an empty export is the header alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_filters_match_page_filters() {
    let dir = tempfile::tempdir().unwrap();
    let (org, actors, start) = generated(dir.path()).await;
    let conn = projections::db::open_read_only(&projections::db::path_in(dir.path())).unwrap();
    let positions_of = |filter: &AuditFilter| -> Vec<u64> {
        let mut out = Vec::new();
        audit::export(&conn, filter, &mut out).unwrap();
        csv::Reader::from_reader(out.as_slice())
            .records()
            .map(|r| r.unwrap()[11].parse().unwrap())
            .collect()
    };
    let filters = vec![
        AuditFilter::new(org),
        AuditFilter {
            actor: Some(actors[1]),
            ..AuditFilter::new(org)
        },
        AuditFilter {
            from: Some(start + Duration::minutes(100)),
            to: Some(start + Duration::minutes(900)),
            ..AuditFilter::new(org)
        },
        AuditFilter {
            operation: Some(Operation::Added),
            to: Some(start + Duration::minutes(2_000)),
            ..AuditFilter::new(org)
        },
        AuditFilter {
            resource_type: Some(ResourceType::Group),
            ..AuditFilter::new(org)
        },
    ];
    for f in filters {
        let mut want: Vec<u64> = all_pages(&conn, &f, 1_000)
            .iter()
            .map(|e| e.position)
            .collect();
        want.reverse();
        let got = positions_of(&f);
        assert!(!got.is_empty());
        assert_eq!(got, want, "{f:?}");
        let unique: HashSet<_> = got.iter().collect();
        assert_eq!(unique.len(), got.len());
    }
}

#[test]
fn words_serialize_exactly() {
    assert_eq!(
        serde_json::to_string(&ResourceType::ServiceAccount).unwrap(),
        "\"ServiceAccount\""
    );
    assert_eq!(
        serde_json::to_string(&ResourceType::AuditStream).unwrap(),
        "\"AuditStream\""
    );
    assert_eq!(
        serde_json::to_string(&Operation::Modified).unwrap(),
        "\"Modified\""
    );
    for t in ResourceType::ALL {
        assert_eq!(t.as_str().parse::<ResourceType>().unwrap(), t);
    }
    assert!("project".parse::<ResourceType>().is_err());
}

/// Every row of `audit_log`, in key order, as text.
fn dump_audit(db: &Path) -> Vec<String> {
    let conn = projections::db::open_read_only(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT hex(org_id), position, occurred_at, hex(actor_id), actor_username, resource_type,
                    operation, resource_id, resource_name, description, medium, ip, user_agent,
                    request_id, metadata
             FROM audit_log ORDER BY org_id, position",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            let mut cols = Vec::new();
            for i in 0..15 {
                let v: rusqlite::types::Value = r.get(i)?;
                cols.push(format!("{v:?}"));
            }
            Ok(cols.join("|"))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// A long page is described on one thread while another inserts: the rows
/// equal those of short pages written on one thread, names included (a
/// removal still names what went).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_pages_write_the_same_rows_as_short_ones() {
    let dir = tempfile::tempdir().unwrap();
    generated(dir.path()).await; // pages of 500: one thread
    let short = dump_audit(&projections::db::path_in(dir.path()));
    let store = SqliteEventStore::open_in_dir(dir.path()).await.unwrap();
    let other = dir.path().join("long.db");
    catch_up(&store, &other, 10_000, None).await; // one page: two threads
    let long = dump_audit(&other);
    assert!(short.len() > 3_000, "{} rows", short.len());
    assert_eq!(long, short);
}

/// The WAL-index header (`<db>-shm`, SQLite's documented wal-index
/// format, native byte order): `mxFrame` (frames in the WAL) at byte 16,
/// `nBackfill` (frames already copied into the database file) at byte 96.
fn wal_frames(db: &Path) -> (u32, u32) {
    let shm = std::fs::read(format!("{}-shm", db.display())).unwrap();
    let word = |at: usize| u32::from_ne_bytes(shm[at..at + 4].try_into().unwrap());
    (word(16), word(96))
}

/// A bulk catch-up leaves no WAL for readers to look pages up in: its
/// frames are in the database file and the WAL is empty when the catch-up
/// returns (readers of a long WAL read the audit view at a quarter of its
/// speed, and one opening the file with no writer reads the whole WAL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_catch_up_leaves_the_wal_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    generated(dir.path()).await;
    let store = SqliteEventStore::open_in_dir(dir.path()).await.unwrap();
    let db = dir.path().join("bulk.db");
    // A gap of one event is enough to take the bulk path here.
    let runner = Runner::open(AuditProjection::new(), &db)
        .unwrap()
        .catch_up_backlog(&store, 1)
        .await
        .unwrap();
    assert!(runner.position() > 3_000);
    // The runner's connection is still open: the WAL is still there,
    // emptied.
    let wal = std::fs::metadata(format!("{}-wal", db.display())).unwrap();
    assert_eq!(wal.len(), 0, "the WAL is truncated");
    let (frames, backfilled) = wal_frames(&db);
    assert_eq!((frames, backfilled), (0, 0), "no frame left to look up");
    let conn = projections::db::open_read_only(&db).unwrap();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM audit_log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows as u64, runner.position(), "every row is in the file");
    drop(runner);
}

/// A bulk catch-up tells its progress (for the operator's bar): positions
/// that only grow, ending at the head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_catch_up_reports_its_progress_up_to_the_head() {
    let dir = tempfile::tempdir().unwrap();
    generated(dir.path()).await;
    let store = SqliteEventStore::open_in_dir(dir.path()).await.unwrap();
    let head = store.head_position().await.unwrap();
    let reports = std::sync::Mutex::new(Vec::new());
    let runner = Runner::open(AuditProjection::new(), &dir.path().join("bulk.db"))
        .unwrap()
        .catch_up_backlog_reporting(&store, 1, &|position| {
            reports.lock().unwrap().push(position)
        })
        .await
        .unwrap();
    assert_eq!(runner.position(), head);
    let reports = reports.into_inner().unwrap();
    assert_eq!(reports.last(), Some(&head), "{reports:?}");
    assert!(reports.windows(2).all(|w| w[0] < w[1]), "{reports:?}");
}

// ---- index keys -----------------------------------------------------------------

/// The actor and resource filters match on integer keys (hashes) and then on
/// the columns: two subjects that share a key, made to here by rewriting
/// one's keys to the other's, still get exactly their own entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subjects_sharing_a_key_still_get_only_their_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (org, actors, _) = generated(dir.path()).await;
    let db = projections::db::path_in(dir.path());
    let conn = projections::db::open(&db).unwrap();
    let everything = all_pages(&conn, &AuditFilter::new(org), 1_000);
    let key_of = |column: &str, filter: &str, value: &dyn rusqlite::ToSql| -> i64 {
        conn.query_row(
            &format!("SELECT {column} FROM audit_log WHERE {filter} = ?1 LIMIT 1"),
            [value],
            |r| r.get(0),
        )
        .unwrap()
    };
    let (a, b) = (actors[0], actors[1]);
    let a_key = key_of("actor_key", "actor_id", &a.0.as_bytes().to_vec());
    let projects: Vec<String> = everything
        .iter()
        .filter(|e| e.resource_type == ResourceType::Project)
        .map(|e| e.resource_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (p, q) = (&projects[0], &projects[1]);
    let p_key = key_of("resource_key", "resource_id", p);
    let group_key: i64 = conn
        .query_row(
            "SELECT resource_key FROM audit_log WHERE org_id = ?1 AND resource_type = 'Group' LIMIT 1",
            [org.0.as_bytes().to_vec()],
            |r| r.get(0),
        )
        .unwrap();
    let changed = conn
        .execute(
            "UPDATE audit_log SET actor_key = ?1 WHERE actor_id = ?2",
            rusqlite::params![a_key, b.0.as_bytes().to_vec()],
        )
        .unwrap();
    assert!(changed > 0);
    assert!(
        conn.execute(
            "UPDATE audit_log SET resource_key = ?1 WHERE resource_id = ?2",
            rusqlite::params![p_key, q],
        )
        .unwrap()
            > 0
    );
    // Another organization's entries inside this organization's range of
    // group keys (as if their 15 bits of organization were the same).
    assert!(
        conn.execute(
            "UPDATE audit_log SET resource_key = ?1 WHERE org_id <> ?2",
            rusqlite::params![group_key, org.0.as_bytes().to_vec()],
        )
        .unwrap()
            > 0
    );

    let check = |filter: AuditFilter, keep: &dyn Fn(&AuditEntry) -> bool, label: &str| {
        let want = assert_pages_match(&conn, &everything, &filter, keep, 17, label);
        let exported = audit::export(&conn, &filter, std::io::sink()).unwrap();
        assert_eq!(exported as usize, want.len(), "{label} export");
    };
    let mut f = AuditFilter::new(org);
    f.actor = Some(a);
    check(f, &|e| e.actor_id == Some(a), "actor");
    let mut f = AuditFilter::new(org);
    f.resource_type = Some(ResourceType::Project);
    f.resource_id = Some(p.clone());
    check(
        f,
        &|e| e.resource_type == ResourceType::Project && &e.resource_id == p,
        "resource",
    );
    let mut f = AuditFilter::new(org);
    f.resource_id = Some(p.clone());
    check(f, &|e| &e.resource_id == p, "resource id alone");
    let mut f = AuditFilter::new(org);
    f.resource_type = Some(ResourceType::Group);
    check(
        f,
        &|e| e.resource_type == ResourceType::Group,
        "resource type alone",
    );
}

/// A read model of an older shape is written again from the log: the view
/// and its checkpoint go, other projections' stay. Older shapes: before the
/// index keys, and with the keys but primary key `(org_id, position)`
/// (before `position` became the rowid).
#[test]
fn a_view_of_an_older_shape_is_written_again() {
    const COLUMNS: &str = "org_id BLOB NOT NULL, position INTEGER NOT NULL,
        occurred_at INTEGER NOT NULL, actor_id BLOB, actor_username TEXT NOT NULL,
        resource_type TEXT NOT NULL, operation TEXT NOT NULL, resource_id TEXT NOT NULL,
        resource_name TEXT NOT NULL, description TEXT NOT NULL, medium TEXT NOT NULL,
        ip TEXT, user_agent TEXT, request_id TEXT, metadata TEXT NOT NULL";
    const ROW: &str = "x'00', 1, 0, NULL, 'system', 'User', 'Added', 'u', 'u', 'added u', 'API', \
        NULL, NULL, NULL, '{}'";
    let shapes = [
        (
            "without index keys",
            format!(
                "CREATE TABLE audit_log ({COLUMNS}, PRIMARY KEY (org_id, position)) STRICT;
                 CREATE INDEX audit_by_actor ON audit_log (org_id, actor_id, position);
                 INSERT INTO audit_log VALUES ({ROW});"
            ),
        ),
        (
            "primary key (org_id, position)",
            format!(
                "CREATE TABLE audit_log ({COLUMNS}, actor_key INTEGER,
                     resource_key INTEGER NOT NULL, PRIMARY KEY (org_id, position)) STRICT;
                 CREATE INDEX audit_by_actor ON audit_log (actor_key, position);
                 INSERT INTO audit_log VALUES ({ROW}, NULL, 5);"
            ),
        ),
    ];
    for (shape, sql) in shapes {
        let dir = tempfile::tempdir().unwrap();
        let db = projections::db::path_in(dir.path());
        {
            let conn = projections::db::open(&db).unwrap();
            conn.execute_batch(&sql).unwrap();
            runner::migrate_checkpoints(&conn).unwrap();
            conn.execute_batch(
                "INSERT INTO projection_checkpoints (name, position) VALUES ('audit', 1), ('rbac', 7)",
            )
            .unwrap();
        }
        let runner = Runner::open(AuditProjection::new(), &db).unwrap();
        assert_eq!(runner.position(), 0, "{shape}: the audit view starts over");
        drop(runner);
        let conn = projections::db::open(&db).unwrap();
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM audit_log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0, "{shape}");
        let actor_index: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'audit_by_actor'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(actor_index.contains("actor_key)"), "{shape}: {actor_index}");
        let primary_key: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('audit_log') WHERE pk > 0")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(primary_key, ["position"], "{shape}");
        assert_eq!(runner::checkpoint(&conn, "rbac").unwrap(), 7, "{shape}");
        // Opening it again keeps what is there.
        conn.execute_batch("INSERT INTO projection_checkpoints (name, position) VALUES ('audit', 3) ON CONFLICT (name) DO UPDATE SET position = 3").unwrap();
        drop(conn);
        assert_eq!(
            Runner::open(AuditProjection::new(), &db)
                .unwrap()
                .position(),
            3,
            "{shape}"
        );
    }
}
