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
