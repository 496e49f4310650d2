//! The command service against the real SQLite store: concurrency, bad
//! input, credentials, and the organization registry.

mod common;

use commands::service::With;
use std::collections::HashSet;

use commands::ServiceError;
use common::*;
use domain::commands::NewPerson;
use domain::ids::{GroupId, OrgId, ProjectId, UserId};
use domain::store::first_broken_link;
use domain::{Command, DomainError, Organization};

async fn all_positions_and_versions(h: &Harness, org: OrgId) -> (Vec<u64>, Vec<u64>) {
    let events = h
        .store
        .read_stream(&org.stream(), 1, 1_000_000)
        .await
        .unwrap();
    assert_eq!(
        first_broken_link(&events, domain::store::genesis(), 0),
        None,
        "hash chain"
    );
    (
        events.iter().map(|e| e.global_position).collect(),
        events.iter().map(|e| e.stream_version).collect(),
    )
}

fn invite(email: &str) -> Command {
    Command::InvitePeople {
        people: vec![NewPerson {
            user_id: UserId::new(),
            email: email.to_string(),
            username: None,
        }],
        role: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commands_on_one_organization_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let h = service_in(dir.path()).await;
    let (org, owner) = org(&h, "one").await;
    let ctx = as_user(owner, "owner");
    let mut tasks = Vec::new();
    for t in 0..16 {
        let service = h.service.clone();
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let mut positions = Vec::new();
            for i in 0..20 {
                let out = service
                    .execute(org, invite(&format!("u{t}-{i}@x.io")), &ctx)
                    .await
                    .unwrap();
                positions.push(out.position);
            }
            positions
        }));
    }
    let mut answered = Vec::new();
    for t in tasks {
        answered.extend(t.await.unwrap());
    }
    let unique: HashSet<_> = answered.iter().collect();
    assert_eq!(unique.len(), 320, "every command got its own position");

    let (state, _) = h.service.state(org).await.unwrap();
    assert_eq!(state.users.len(), 321, "no lost update");
    let (positions, versions) = all_positions_and_versions(&h, org).await;
    assert_eq!(
        versions,
        (1..=positions.len() as u64).collect::<Vec<_>>(),
        "versions contiguous"
    );
    assert_eq!(
        positions.iter().collect::<HashSet<_>>().len(),
        positions.len(),
        "positions unique"
    );
    assert_eq!(positions.len(), 3 + 320 * 2);
    assert_eq!(service_rebuild(&h, org).await, state);
}

async fn service_rebuild(h: &Harness, org: OrgId) -> Organization {
    commands::service::load(&*h.store, org).await.unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commands_across_organizations_share_commits_without_mixing() {
    let dir = tempfile::tempdir().unwrap();
    let h = service_in(dir.path()).await;
    let mut orgs = Vec::new();
    for i in 0..8 {
        orgs.push(org(&h, &format!("org{i}")).await);
    }
    let mut tasks = Vec::new();
    for (i, (org, owner)) in orgs.iter().copied().enumerate() {
        for t in 0..4 {
            let service = h.service.clone();
            let ctx = as_user(owner, "owner");
            tasks.push(tokio::spawn(async move {
                for k in 0..15 {
                    let cmd = Command::CreateProject {
                        project_id: ProjectId::new(),
                        name: format!("p{i}-{t}-{k}"),
                        owner: None,
                    };
                    service.execute(org, cmd, &ctx).await.unwrap();
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut all_positions = HashSet::new();
    for (org, _) in &orgs {
        let (state, _) = h.service.state(*org).await.unwrap();
        assert_eq!(state.projects.len(), 60);
        assert!(state.projects.values().all(|p| p.name.starts_with(&format!(
            "p{}-",
            orgs.iter().position(|o| o.0 == *org).unwrap()
        ))));
        let (positions, versions) = all_positions_and_versions(&h, *org).await;
        assert_eq!(versions, (1..=positions.len() as u64).collect::<Vec<_>>());
        for p in positions {
            assert!(all_positions.insert(p), "position {p} used twice");
        }
        assert_eq!(service_rebuild(&h, *org).await, state);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_clear_error_and_nothing_appended() {
    let dir = tempfile::tempdir().unwrap();
    let h = service_in(dir.path()).await;
    let (org, owner) = org(&h, "strict").await;
    let ctx = as_user(owner, "owner");
    let head = h.store.head_position().await.unwrap();

    let cases: Vec<(Command, &str)> = vec![
        (invite("not-an-email"), "invalid_email"),
        (invite("a@b@c"), "invalid_email"),
        (
            Command::CreateGroup {
                group_id: GroupId::new(),
                name: "".into(),
                description: "d".into(),
                members: vec![],
            },
            "empty",
        ),
        (
            Command::CreateGroup {
                group_id: GroupId::new(),
                name: "x".repeat(101),
                description: "d".into(),
                members: vec![],
            },
            "too_long",
        ),
        (
            Command::CreateRole {
                role_id: domain::ids::RoleId::new(),
                spec: domain::commands::RoleSpec {
                    name: "r".into(),
                    scope: domain::permissions::Scope::Project,
                    description: "".into(),
                    permissions: vec!["project.teleport".into()],
                    inherits: vec![],
                    project_role: None,
                },
            },
            "unknown_permission",
        ),
        (
            Command::AssignOrgRole {
                subject: domain::ids::Subject::User(owner),
                role: domain::ids::RoleId::new(),
            },
            "role_not_found",
        ),
        (
            Command::CreateProject {
                project_id: ProjectId::new(),
                name: "p".repeat(5000),
                owner: None,
            },
            "too_long",
        ),
    ];
    for (command, code) in cases {
        match h.service.execute(org, command.clone(), &ctx).await {
            Err(ServiceError::Domain(e)) => assert_eq!(e.code(), code, "{command:?}"),
            other => panic!("{command:?}: expected {code}, got {other:?}"),
        }
    }
    assert_eq!(
        h.store.head_position().await.unwrap(),
        head,
        "nothing appended"
    );

    // The service's own invitation path refuses before hashing or storing.
    let err = h
        .service
        .invite_people(
            org,
            vec![("ok@x.io".into(), None), ("broken".into(), None)],
            None,
            &ctx,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::Domain(DomainError::Invalid(ref f)) if f[0].field == "people[1].email"),
        "{err:?}"
    );
    assert_eq!(
        h.store.head_position().await.unwrap(),
        head,
        "all or nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_names_are_unique_across_the_instance() {
    let dir = tempfile::tempdir().unwrap();
    let h = service_in(dir.path()).await;
    let (first, _) = org(&h, "acme").await;
    let err = h
        .service
        .create_organization("ACME", None, "b@x.io", None, &system(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::Domain(DomainError::OrgExists)),
        "{err:?}"
    );
    assert_eq!(h.service.find_org("acme").await.unwrap(), Some(first));
    assert_eq!(
        h.service.find_org(&first.to_string()).await.unwrap(),
        Some(first)
    );

    // A second process (a new service over the same files) sees the name.
    let h2 = service_in(dir.path()).await;
    let err = h2
        .service
        .create_organization("acme", None, "c@x.io", None, &system(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Domain(DomainError::OrgExists)));
}

/// A rename moves the organization's handle atomically with its settings
/// event; another organization's name is refused; two processes racing
/// for one name get it once; the workers catch up with the rename.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renaming_moves_the_handle_and_keeps_names_unique() {
    let dir = tempfile::tempdir().unwrap();
    let h = service_in(dir.path()).await;
    let (first, owner) = org(&h, "first").await;
    let (second, owner2) = org(&h, "second").await;
    let ctx = as_user(owner, "owner");
    let rename = |name: &str| (Some(name.to_string()), None::<String>);

    let (name, url) = rename("Second");
    let err = h
        .service
        .change_settings(first, name, url, &ctx, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::Domain(DomainError::OrgExists)),
        "{err:?}"
    );
    let (name, url) = rename("acme");
    let out = h
        .service
        .change_settings(first, name, url, &ctx, None)
        .await
        .unwrap();
    assert_eq!(out.events.len(), 1);
    assert_eq!(h.service.find_org("acme").await.unwrap(), Some(first));
    assert_eq!(h.service.find_org("first").await.unwrap(), None);
    // The worker, which did not append the rename, decides on the new
    // state: its next command commits after it.
    let next = h
        .service
        .execute(first, invite("a@x.io"), &ctx)
        .await
        .unwrap();
    assert!(next.position > out.position);
    let (state, _) = h.service.state(first).await.unwrap();
    assert_eq!(state.name, "acme");
    // The old name is free; a URL change leaves the handle alone.
    h.service
        .create_organization("first", None, "f@x.io", None, &system(), None)
        .await
        .unwrap();
    h.service
        .change_settings(first, None, Some("https://acme.example".into()), &ctx, None)
        .await
        .unwrap();
    assert_eq!(h.service.find_org("acme").await.unwrap(), Some(first));

    // Two processes rename two organizations to one name at once.
    let h2 = service_in(dir.path()).await;
    let ctx2 = as_user(owner2, "owner");
    let (a, b) = tokio::join!(
        h.service
            .change_settings(first, Some("taken".into()), None, &ctx, None),
        h2.service
            .change_settings(second, Some("TAKEN".into()), None, &ctx2, None),
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} {b:?}"
    );
    let loser = if a.is_ok() { b } else { a };
    assert!(matches!(
        loser,
        Err(ServiceError::Domain(DomainError::OrgExists))
    ));
    let winner = if h.service.find_org("taken").await.unwrap() == Some(first) {
        first
    } else {
        second
    };
    assert_eq!(h2.service.find_org("taken").await.unwrap(), Some(winner));
    let orgs = h2.service.organizations().await.unwrap();
    assert_eq!(orgs.iter().filter(|(n, _)| n == "taken").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_are_argon2id_hashed_temporary_first_and_never_in_the_log() {
    use commands::credentials::PasswordCheck;
    let dir = tempfile::tempdir().unwrap();
    let h = service_in(dir.path()).await;
    let created = h
        .service
        .create_organization("pw", None, "root@pw.io", None, &system(), None)
        .await
        .unwrap();
    let (org, owner) = (created.org_id, created.owner.user_id);
    let temp = created.owner.temporary_password.clone();
    assert_eq!(temp.len(), 20);
    let creds = h.service.credentials();
    assert_eq!(
        creds.check_password(owner, &temp).await.unwrap(),
        PasswordCheck::MustChange
    );
    assert_eq!(
        creds.check_password(owner, "wrong").await.unwrap(),
        PasswordCheck::Invalid
    );

    let ctx = as_user(owner, "root");
    let weak = h
        .service
        .change_password(org, owner, &temp, "short", &ctx, With::default())
        .await
        .unwrap_err();
    assert!(
        matches!(weak, ServiceError::Domain(ref e) if e.code() == "weak_password"),
        "{weak:?}"
    );
    let wrong = h
        .service
        .change_password(
            org,
            owner,
            "not it",
            "A much better passphrase",
            &ctx,
            With::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(wrong, ServiceError::Domain(ref e) if e.code() == "invalid_credentials"));
    h.service
        .change_password(
            org,
            owner,
            &temp,
            "A much better passphrase",
            &ctx,
            With::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        creds
            .check_password(owner, "A much better passphrase")
            .await
            .unwrap(),
        PasswordCheck::Valid
    );

    let (invited, _) = h
        .service
        .invite_people(org, vec![("bob@pw.io".into(), None)], None, &ctx, None)
        .await
        .unwrap();
    let bob = &invited[0];
    assert_eq!(bob.username, "bob");
    let (reset, _) = h
        .service
        .reset_password(org, bob.user_id, &ctx, None)
        .await
        .unwrap();
    assert_ne!(reset, bob.temporary_password);
    assert_eq!(
        creds
            .check_password(bob.user_id, &bob.temporary_password)
            .await
            .unwrap(),
        PasswordCheck::Invalid
    );
    assert_eq!(
        creds.check_password(bob.user_id, &reset).await.unwrap(),
        PasswordCheck::MustChange
    );

    // Tokens die with their user.
    let token = creds
        .issue_token(
            org,
            bob.user_id,
            domain::ids::TokenId::new(),
            commands::credentials::TokenKind::Api,
            None,
        )
        .await
        .unwrap();
    assert!(creds.resolve_token(&token).await.unwrap().is_some());
    h.service
        .execute(org, Command::RemoveUser { user: bob.user_id }, &ctx)
        .await
        .unwrap();
    assert!(creds.resolve_token(&token).await.unwrap().is_none());

    // No secret, nor any hash of one, is in the event log.
    let events = h.store.read_all(0, 10_000).await.unwrap();
    for e in &events {
        for secret in [
            &temp,
            &reset,
            &bob.temporary_password,
            &token,
            &"A much better passphrase".to_string(),
        ] {
            assert!(!e.data.contains(secret.as_str()) && !e.metadata.contains(secret.as_str()));
        }
        assert!(!e.data.contains("argon2"), "{}", e.data);
    }
    assert!(events.iter().any(|e| e.event_type == "UserPasswordReset"));
    assert!(events.iter().any(|e| e.event_type == "UserPasswordSet"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart_and_metadata_names_the_actor() {
    let dir = tempfile::tempdir().unwrap();
    let (org, owner, before) = {
        let h = service_in(dir.path()).await;
        let (org, owner) = org(&h, "durable").await;
        let mut ctx = as_user(owner, "owner");
        ctx.request_id = Some("req-42".into());
        ctx.ip = Some("10.1.2.3".into());
        h.service
            .execute(org, invite("carol@x.io"), &ctx)
            .await
            .unwrap();
        (org, owner, h.service.state(org).await.unwrap().0)
    };
    let h = service_in(dir.path()).await;
    let (after, _) = h.service.state(org).await.unwrap();
    assert_eq!(after, before);
    let events = h.store.read_stream(&org.stream(), 1, 100).await.unwrap();
    let last: domain::EventMetadata =
        serde_json::from_str(&events.last().unwrap().metadata).unwrap();
    assert_eq!(last.actor.user_id, Some(owner));
    assert_eq!(last.request_id.as_deref(), Some("req-42"));
    assert_eq!(last.ip.as_deref(), Some("10.1.2.3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_store_never_act_on_stale_state() {
    let dir = tempfile::tempdir().unwrap();
    let a = service_in(dir.path()).await;
    let (org, owner) = org(&a, "shared").await;
    let ctx = as_user(owner, "owner");
    a.service.state(org).await.unwrap(); // a's worker holds the state now
    let b = service_in(dir.path()).await; // a second process on the same files

    // b invites dave; a has never seen him. a must not refuse a command about
    // him on its stale state: the refusal is checked against the store.
    let dave = UserId::new();
    b.service
        .execute(
            org,
            Command::InvitePeople {
                people: vec![NewPerson {
                    user_id: dave,
                    email: "dave@x.io".into(),
                    username: None,
                }],
                role: None,
            },
            &ctx,
        )
        .await
        .unwrap();
    let group = GroupId::new();
    a.service
        .execute(
            org,
            Command::CreateGroup {
                group_id: group,
                name: "ops".into(),
                description: "operators".into(),
                members: vec![dave],
            },
            &ctx,
        )
        .await
        .expect("a catches up instead of refusing");

    // An accepted command decided on a stale state conflicts and is decided
    // again: b's project name is taken by a's project created meanwhile.
    a.service
        .execute(
            org,
            Command::CreateProject {
                project_id: ProjectId::new(),
                name: "web".into(),
                owner: None,
            },
            &ctx,
        )
        .await
        .unwrap();
    let err = b
        .service
        .execute(
            org,
            Command::CreateProject {
                project_id: ProjectId::new(),
                name: "web".into(),
                owner: None,
            },
            &ctx,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::Domain(DomainError::ProjectNameTaken(_))),
        "{err:?}"
    );

    // A command that is a no-op on a's stale state is not: b made dave an
    // Admin, so a's "make dave a Member" must still happen.
    let dave_role = |role| Command::AssignOrgRole {
        subject: domain::ids::Subject::User(dave),
        role,
    };
    a.service
        .execute(org, dave_role(domain::roles::MEMBER), &ctx)
        .await
        .unwrap();
    b.service
        .execute(org, dave_role(domain::roles::ORG_ADMIN), &ctx)
        .await
        .unwrap();
    let out = a
        .service
        .execute(org, dave_role(domain::roles::MEMBER), &ctx)
        .await
        .unwrap();
    assert_eq!(out.events.len(), 1, "decided again on the current state");

    // The same, with the stale no-op batched beside a command that appends:
    // that append's conflict sends the whole batch to be decided again.
    b.service
        .execute(org, dave_role(domain::roles::ORG_ADMIN), &ctx)
        .await
        .unwrap();
    let (noop, appends) = tokio::join!(
        a.service
            .execute(org, dave_role(domain::roles::MEMBER), &ctx),
        a.service.execute(
            org,
            Command::CreateProject {
                project_id: ProjectId::new(),
                name: "api".into(),
                owner: None,
            },
            &ctx,
        )
    );
    assert_eq!(
        noop.unwrap().events.len(),
        1,
        "decided again on the current state"
    );
    assert!(!appends.unwrap().events.is_empty());

    let (sa, _) = a.service.state(org).await.unwrap();
    let (sb, _) = b.service.state(org).await.unwrap();
    assert_eq!(sa, sb);
    assert_eq!(sa.org_roles[&dave], domain::roles::MEMBER);
    assert_eq!(sa.projects.len(), 2);
    assert!(sa.groups[&group].members.contains(&dave));
    let (_, versions) = all_positions_and_versions(&a, org).await;
    assert_eq!(versions, (1..=versions.len() as u64).collect::<Vec<_>>());
}
