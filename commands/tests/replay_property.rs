//! Property: for random sequences of valid and invalid commands from random
//! callers, the state rebuilt from the store equals the live state, and every
//! stream's hash chain verifies.

mod common;

use common::*;
use domain::commands::{NewPerson, RoleSpec};
use domain::ids::{GroupId, ProjectId, RoleId, Subject, UserId};
use domain::permissions::Scope;
use domain::roles::{RepoAccess, CONTRIBUTOR, MEMBER, ORG_ADMIN, OWNER, PROJECT_ADMIN, READER};
use domain::store::{first_broken_link, genesis};
use domain::{Command, Organization};
use proptest::prelude::*;

/// A command in terms of indexes into what exists at the time it runs, so
/// that shrinking keeps sequences meaningful.
#[derive(Debug, Clone)]
enum Op {
    Invite(u8, u8),
    AssignRole(u8, u8, u8),
    RetractRole(u8, u8),
    CreateGroup(u8, u8),
    AddMember(u8, u8, u8),
    RemoveMember(u8, u8, u8),
    GroupRole(u8, u8, u8),
    DeleteGroup(u8, u8),
    CreateProject(u8, u8),
    Bind(u8, u8, u8, u8, bool),
    Unbind(u8, u8, u8, bool),
    RepoAccess(u8, u8, u8, u8),
    Transfer(u8, u8, u8),
    RemoveUser(u8, u8),
    CreateRole(u8, u8, bool),
    DeleteRole(u8, u8),
    DeleteProject(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    let b = any::<u8>;
    prop_oneof![
        3 => (b(), b()).prop_map(|(a, r)| Op::Invite(a, r)),
        2 => (b(), b(), b()).prop_map(|(a, u, r)| Op::AssignRole(a, u, r)),
        1 => (b(), b()).prop_map(|(a, u)| Op::RetractRole(a, u)),
        2 => (b(), b()).prop_map(|(a, m)| Op::CreateGroup(a, m)),
        2 => (b(), b(), b()).prop_map(|(a, g, u)| Op::AddMember(a, g, u)),
        1 => (b(), b(), b()).prop_map(|(a, g, u)| Op::RemoveMember(a, g, u)),
        1 => (b(), b(), b()).prop_map(|(a, g, r)| Op::GroupRole(a, g, r)),
        1 => (b(), b()).prop_map(|(a, g)| Op::DeleteGroup(a, g)),
        2 => (b(), b()).prop_map(|(a, o)| Op::CreateProject(a, o)),
        3 => (b(), b(), b(), b(), any::<bool>()).prop_map(|(a, p, s, r, g)| Op::Bind(a, p, s, r, g)),
        1 => (b(), b(), b(), any::<bool>()).prop_map(|(a, p, s, g)| Op::Unbind(a, p, s, g)),
        2 => (b(), b(), b(), b()).prop_map(|(a, p, u, x)| Op::RepoAccess(a, p, u, x)),
        1 => (b(), b(), b()).prop_map(|(a, p, u)| Op::Transfer(a, p, u)),
        1 => (b(), b()).prop_map(|(a, u)| Op::RemoveUser(a, u)),
        1 => (b(), b(), any::<bool>()).prop_map(|(a, n, org)| Op::CreateRole(a, n, org)),
        1 => (b(), b()).prop_map(|(a, r)| Op::DeleteRole(a, r)),
        1 => (b(), b()).prop_map(|(a, p)| Op::DeleteProject(a, p)),
    ]
}

fn pick<T: Copy>(items: &[T], i: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[i as usize % items.len()])
}

/// Turns an op into (caller, command) against the current state. Unknown
/// ids are used on purpose sometimes, to exercise refusals.
fn command(state: &Organization, op: &Op, n: usize) -> Option<(UserId, Command)> {
    let mut users: Vec<UserId> = state.users.keys().copied().collect();
    users.sort();
    let mut groups: Vec<GroupId> = state.groups.keys().copied().collect();
    groups.sort();
    let mut projects: Vec<ProjectId> = state.projects.keys().copied().collect();
    projects.sort();
    let mut org_roles: Vec<RoleId> = state
        .roles
        .values()
        .filter(|r| r.scope == Scope::Organization)
        .map(|r| r.id)
        .collect();
    org_roles.sort();
    let mut project_roles: Vec<RoleId> = state
        .roles
        .values()
        .filter(|r| r.scope == Scope::Project)
        .map(|r| r.id)
        .collect();
    project_roles.sort();
    let mut custom: Vec<RoleId> = state
        .roles
        .values()
        .filter(|r| !r.predefined)
        .map(|r| r.id)
        .collect();
    custom.sort();
    let user = |i: u8| pick(&users, i).unwrap_or_default();
    let caller = |i: u8| pick(&users, i);
    let cmd = match *op {
        Op::Invite(a, r) => (
            caller(a)?,
            Command::InvitePeople {
                people: vec![NewPerson {
                    user_id: UserId::new(),
                    email: if r % 11 == 0 {
                        "broken".into()
                    } else {
                        format!("p{n}@x.io")
                    },
                    username: None,
                }],
                role: Some([MEMBER, MEMBER, ORG_ADMIN, OWNER][r as usize % 4]),
            },
        ),
        Op::AssignRole(a, u, r) => (
            caller(a)?,
            Command::AssignOrgRole {
                subject: Subject::User(user(u)),
                role: pick(&org_roles, r)?,
            },
        ),
        Op::RetractRole(a, u) => (
            caller(a)?,
            Command::RetractOrgRole {
                subject: Subject::User(user(u)),
            },
        ),
        Op::CreateGroup(a, m) => (
            caller(a)?,
            Command::CreateGroup {
                group_id: GroupId::new(),
                name: format!("g{}", m % 6),
                description: "a group".into(),
                members: pick(&users, m).into_iter().collect(),
            },
        ),
        Op::AddMember(a, g, u) | Op::RemoveMember(a, g, u) => (
            caller(a)?,
            Command::ChangeGroup {
                group: pick(&groups, g)?,
                name: None,
                description: None,
                add_members: if matches!(op, Op::AddMember(..)) {
                    vec![user(u)]
                } else {
                    vec![]
                },
                remove_members: if matches!(op, Op::RemoveMember(..)) {
                    vec![user(u)]
                } else {
                    vec![]
                },
            },
        ),
        Op::GroupRole(a, g, r) => (
            caller(a)?,
            Command::AssignOrgRole {
                subject: Subject::Group(pick(&groups, g)?),
                role: pick(&org_roles, r)?,
            },
        ),
        Op::DeleteGroup(a, g) => (
            caller(a)?,
            Command::DeleteGroup {
                group: pick(&groups, g)?,
            },
        ),
        Op::CreateProject(a, o) => (
            caller(a)?,
            Command::CreateProject {
                project_id: ProjectId::new(),
                name: format!("proj{}", o % 8),
                owner: if o % 3 == 0 { Some(user(o)) } else { None },
            },
        ),
        Op::Bind(a, p, s, r, g) => (
            caller(a)?,
            Command::BindProjectRole {
                project: pick(&projects, p)?,
                subject: if g {
                    Subject::Group(pick(&groups, s)?)
                } else {
                    Subject::User(user(s))
                },
                role: pick(&project_roles, r).unwrap_or(CONTRIBUTOR),
            },
        ),
        Op::Unbind(a, p, s, g) => (
            caller(a)?,
            Command::UnbindProjectRole {
                project: pick(&projects, p)?,
                subject: if g {
                    Subject::Group(pick(&groups, s)?)
                } else {
                    Subject::User(user(s))
                },
            },
        ),
        Op::RepoAccess(a, p, u, x) => (
            caller(a)?,
            Command::SetRepositoryAccess {
                project: pick(&projects, p)?,
                user: user(u),
                access: [
                    None,
                    Some(RepoAccess::Read),
                    Some(RepoAccess::Write),
                    Some(RepoAccess::Admin),
                ][x as usize % 4],
            },
        ),
        Op::Transfer(a, p, u) => (
            caller(a)?,
            Command::TransferProject {
                project: pick(&projects, p)?,
                to: user(u),
            },
        ),
        Op::RemoveUser(a, u) => (caller(a)?, Command::RemoveUser { user: user(u) }),
        Op::CreateRole(a, n, org) => (
            caller(a)?,
            Command::CreateRole {
                role_id: RoleId::new(),
                spec: RoleSpec {
                    name: format!("custom{}", n % 5),
                    scope: if org {
                        Scope::Organization
                    } else {
                        Scope::Project
                    },
                    description: String::new(),
                    permissions: if org {
                        vec!["organization.people.manage".into()]
                    } else {
                        vec!["project.access.manage".into(), "project.job.rerun".into()]
                    },
                    inherits: if org { vec![] } else { vec![READER] },
                    project_role: if org && n % 2 == 0 {
                        Some(PROJECT_ADMIN)
                    } else {
                        None
                    },
                },
            },
        ),
        Op::DeleteRole(a, r) => (
            caller(a)?,
            Command::DeleteRole {
                role: pick(&custom, r)?,
            },
        ),
        Op::DeleteProject(a, p) => (
            caller(a)?,
            Command::DeleteProject {
                project: pick(&projects, p)?,
            },
        ),
    };
    Some(cmd)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn rebuilt_state_equals_live_state_and_chain_verifies(ops in prop::collection::vec(op(), 1..60)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let h = service_in(dir.path()).await;
            let (org, _owner) = org(&h, "prop").await;
            let mut accepted = 0;
            for (n, op) in ops.iter().enumerate() {
                let (live, _) = h.service.state(org).await.unwrap();
                let Some((caller, cmd)) = command(&live, op, n) else { continue };
                let ctx = as_user(caller, &live.username(caller));
                if h.service.execute(org, cmd, &ctx).await.is_ok() {
                    accepted += 1;
                }
            }
            let (live, position) = h.service.state(org).await.unwrap();
            let (rebuilt, rebuilt_position) = commands::service::load(&*h.store, org).await.unwrap();
            prop_assert_eq!(&rebuilt, &live);
            prop_assert_eq!(rebuilt_position, position);
            // A fresh process sees the same.
            let h2 = service_in(dir.path()).await;
            prop_assert_eq!(&h2.service.state(org).await.unwrap().0, &live);

            let events = h.store.read_stream(&org.stream(), 1, 100_000).await.unwrap();
            prop_assert_eq!(first_broken_link(&events, genesis(), 0), None);
            prop_assert_eq!(events.len() as u64, live.version);
            prop_assert!(accepted <= ops.len());
            Ok(())
        })?;
    }
}
