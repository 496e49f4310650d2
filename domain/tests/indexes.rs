//! The state's project indexes (the projects of each user, of each group,
//! and owned by each user) that let a command about one user or group visit
//! only its projects: after every event of random histories, each index
//! equals what a walk over every project finds.

use std::collections::{BTreeSet, HashMap, HashSet};

use domain::ids::{GroupId, ProjectId, RoleId, UserId};
use domain::Organization;
use proptest::prelude::*;
use testkit::{Size, Workload};

const TINY: Size = Size {
    users: 24,
    projects: 6,
    groups: 4,
    custom_roles: 4,
};

/// What the indexes must say, found by walking every project.
#[derive(Default)]
struct Walked {
    of_user: HashMap<UserId, BTreeSet<ProjectId>>,
    of_group: HashMap<GroupId, BTreeSet<(ProjectId, RoleId)>>,
    owned: HashMap<UserId, BTreeSet<ProjectId>>,
}

fn walk(org: &Organization) -> Walked {
    let mut w = Walked::default();
    for p in org.projects.values() {
        for u in p.user_bindings.keys().chain(p.repo_access.keys()) {
            w.of_user.entry(*u).or_default().insert(p.id);
        }
        for (g, r) in &p.group_bindings {
            w.of_group.entry(*g).or_default().insert((p.id, *r));
        }
        w.owned.entry(p.owner).or_default().insert(p.id);
    }
    w
}

/// Compares every index with the walk, for every user and group the
/// history has seen (removed ones included: they must have no entry left).
fn assert_indexes(org: &Organization, users: &HashSet<UserId>, groups: &HashSet<GroupId>) {
    let walked = walk(org);
    let empty = BTreeSet::new();
    for u in users {
        assert_eq!(
            org.projects_of_user(*u),
            walked.of_user.get(u).unwrap_or(&empty),
            "projects of user {u}"
        );
        let owned: BTreeSet<ProjectId> = org.projects_owned_by(*u).iter().map(|p| p.id).collect();
        assert_eq!(
            &owned,
            walked.owned.get(u).unwrap_or(&empty),
            "owned by {u}"
        );
        let names: Vec<&str> = org
            .projects_owned_by(*u)
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert!(names.is_sorted(), "owned projects sorted by name");
    }
    // Logins and external ids: each user found by theirs, and a removed
    // or renamed user's old one finds nobody else.
    let people = org
        .users
        .values()
        .filter(|u| u.kind == domain::state::UserKind::Person);
    for u in people {
        assert_eq!(
            org.user_by_user_name(u.user_name()).map(|f| f.id),
            Some(u.id),
            "login of {}",
            u.id
        );
        if let Some(external) = u.identity.as_ref().and_then(|i| i.external_id.as_deref()) {
            assert_eq!(org.user_by_external_id(external).map(|f| f.id), Some(u.id));
        }
    }
    let no_bindings = BTreeSet::new();
    for g in groups {
        let bindings: BTreeSet<(ProjectId, RoleId)> =
            org.group_bindings_of(*g).map(|(p, r)| (p.id, r)).collect();
        let expected = walked.of_group.get(g).unwrap_or(&no_bindings);
        assert_eq!(&bindings, expected, "bindings of group {g}");
        let projects: BTreeSet<ProjectId> = expected.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            org.projects_of_group(*g),
            &projects,
            "projects of group {g}"
        );
    }
    let bound: BTreeSet<GroupId> = org.bound_groups().map(|(g, _)| g).collect();
    let walked_groups: BTreeSet<GroupId> = walked.of_group.keys().copied().collect();
    assert_eq!(bound, walked_groups, "groups with an index entry");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn indexes_equal_a_walk_over_every_project(seed in any::<u64>(), steps in 40usize..160) {
        let mut w = Workload::organization("acme", TINY, seed);
        w.random_history(steps);
        let mut org = Organization::new();
        let (mut users, mut groups) = (HashSet::new(), HashSet::new());
        for e in &w.events {
            org.evolve(e);
            users.extend(org.users.keys().copied());
            groups.extend(org.groups.keys().copied());
            assert_indexes(&org, &users, &groups);
        }
        prop_assert_eq!(&org, &w.state);
    }
}

/// A deleted group's bindings leave every project, and a deleted project
/// leaves every index, whatever the order of the events.
#[test]
fn deletions_leave_no_index_entry() {
    let mut w = Workload::organization("acme", TINY, 7);
    w.random_history(300);
    let deleted_some = w.events.iter().any(|e| {
        matches!(
            e,
            domain::Event::GroupDeleted(_) | domain::Event::ProjectDeleted(_)
        )
    });
    assert!(deleted_some, "the history deletes a group or a project");
    let users: HashSet<UserId> = w.users.iter().copied().collect();
    let groups: HashSet<GroupId> = w.groups.iter().copied().collect();
    assert_indexes(&w.state, &users, &groups);
}

/// The tokens of each user: issued, revoked, regenerated, and ended by
/// deactivation and removal, always what a walk over every token finds.
#[test]
fn tokens_of_each_user_equal_a_walk_over_every_token() {
    use domain::events::Actor;
    use domain::ids::TokenId;
    use domain::{decide, Command};

    let w = Workload::organization("acme", TINY, 3);
    let (alice, bob) = (w.users[1], w.users[2]);
    let robot = UserId::new();
    let owner = Actor::system();
    let as_user = |org: &Organization, u: UserId| Actor::user(u, org.username(u));
    let mut org = w.state.clone();
    let mut users: HashSet<UserId> = org.users.keys().copied().collect();
    users.insert(robot);
    let run = |org: &mut Organization, actor: Actor, command: Command| {
        for e in decide(org, &command, &actor).expect("decided") {
            org.evolve(&e);
            for u in &users {
                let mut walked: Vec<TokenId> = org
                    .tokens
                    .values()
                    .filter(|t| t.user_id == *u)
                    .map(|t| t.id)
                    .collect();
                walked.sort();
                let indexed: Vec<TokenId> = org.tokens_of(*u).map(|t| t.id).collect();
                assert_eq!(indexed, walked, "tokens of {u}");
            }
        }
    };
    let api = |org: &Organization| Command::IssueApiToken {
        token_id: TokenId::new(),
        name: format!("t{}", org.tokens.len()),
        expires_at: None,
    };
    for u in [alice, alice, bob] {
        let actor = as_user(&org, u);
        let command = api(&org);
        run(&mut org, actor, command);
    }
    let first = TokenId::new();
    run(
        &mut org,
        owner.clone(),
        Command::CreateServiceAccount {
            user_id: robot,
            name: "robot".into(),
            description: String::new(),
            role: None,
            token: Some((first, None)),
        },
    );
    run(
        &mut org,
        owner.clone(),
        Command::RegenerateServiceAccountToken {
            service_account: robot,
            token_id: TokenId::new(),
            expires_at: None,
        },
    );
    let alices = org.tokens_of(alice).next().unwrap().id;
    run(
        &mut org,
        owner.clone(),
        Command::RevokeApiToken { token_id: alices },
    );
    run(
        &mut org,
        owner.clone(),
        Command::DeactivateUser { user: alice },
    );
    assert_eq!(org.tokens_of(alice).count(), 0);
    run(
        &mut org,
        owner.clone(),
        Command::RemoveServiceAccount {
            service_account: robot,
        },
    );
    assert_eq!(org.tokens_of(robot).count(), 0);
    assert_eq!(org.tokens_of(bob).count(), 1);
}
