//! Workloads for benchmarks and tests: the benchmark organization of the
//! issues (10,000 users, 1,000 projects, 200 groups, 50 custom roles, users
//! in 0-5 groups, project bindings from every source), built by running real
//! commands through `decide`, plus churn to reach a given event count.

use chrono::Utc;
use domain::commands::{NewPerson, RoleSpec};
use domain::events::{Actor, EventMetadata, Medium};
use domain::ids::{GroupId, OrgId, ProjectId, RoleId, Subject, UserId};
use domain::permissions::{Permission, Scope};
use domain::roles::{RepoAccess, CONTRIBUTOR, MEMBER, PROJECT_ADMIN, READER};
use domain::store::NewEvent;
pub mod alloc;
pub mod bench;
pub mod postgres;

use domain::{decide, Command, Event, Organization};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// How big the organization is.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub users: usize,
    pub projects: usize,
    pub groups: usize,
    pub custom_roles: usize,
}

impl Size {
    /// The issues' benchmark organization.
    pub const BENCHMARK: Size = Size {
        users: 10_000,
        projects: 1_000,
        groups: 200,
        custom_roles: 50,
    };
    /// Ten times the benchmark organization (issue 22's scale ×10).
    pub const X10: Size = Size {
        users: 100_000,
        projects: 10_000,
        groups: 2_000,
        custom_roles: 500,
    };
    /// One tenant of the many-tenant instance: 100 people, with projects,
    /// groups and custom roles in the benchmark organization's proportions
    /// (at least one custom role of each scope).
    pub const TENANT: Size = Size {
        users: 100,
        projects: 10,
        groups: 4,
        custom_roles: 2,
    };
    /// The size named `benchmark`, `x10` or `tenant` (for benchmarks'
    /// environment variables).
    pub fn named(name: &str) -> Option<Size> {
        match name {
            "benchmark" => Some(Size::BENCHMARK),
            "x10" => Some(Size::X10),
            "tenant" => Some(Size::TENANT),
            _ => None,
        }
    }
    /// A small one for tests.
    pub const SMALL: Size = Size {
        users: 200,
        projects: 20,
        groups: 10,
        custom_roles: 6,
    };
}

/// A generated organization: its events in stream order, the state they
/// fold into, and its entities for picking commands.
pub struct Workload {
    pub org_id: OrgId,
    pub owner: UserId,
    pub events: Vec<Event>,
    pub state: Organization,
    pub users: Vec<UserId>,
    pub groups: Vec<GroupId>,
    pub projects: Vec<ProjectId>,
    pub org_roles: Vec<RoleId>,
    pub project_roles: Vec<RoleId>,
    rng: StdRng,
}

impl Workload {
    fn run(&mut self, command: Command) {
        let events = decide(&self.state, &command, &Actor::system())
            .unwrap_or_else(|e| panic!("workload command refused: {e} ({command:?})"));
        for e in events {
            self.state.evolve(&e);
            self.events.push(e);
        }
    }

    /// Builds the organization through `decide` (every rule checked).
    pub fn organization(name: &str, size: Size, seed: u64) -> Workload {
        let org_id = OrgId::new();
        let owner = UserId::new();
        let mut w = Workload {
            org_id,
            owner,
            events: Vec::new(),
            state: Organization::new(),
            users: vec![owner],
            groups: Vec::new(),
            projects: Vec::new(),
            org_roles: Vec::new(),
            project_roles: vec![PROJECT_ADMIN, CONTRIBUTOR, READER],
            rng: StdRng::seed_from_u64(seed),
        };
        w.run(Command::CreateOrganization {
            org_id,
            name: name.to_string(),
            url: None,
            owner: NewPerson {
                user_id: owner,
                email: format!("owner@{name}.example"),
                username: Some("owner".into()),
            },
        });
        // People, invited in batches of 1,000 as Members.
        let mut n = 0;
        while n < size.users - 1 {
            let batch = (size.users - 1 - n).min(1_000);
            let people: Vec<NewPerson> = (n..n + batch)
                .map(|i| NewPerson {
                    user_id: UserId::new(),
                    email: format!("user{i}@{name}.example"),
                    username: None,
                })
                .collect();
            w.users.extend(people.iter().map(|p| p.user_id));
            w.run(Command::InvitePeople { people, role: None });
            n += batch;
        }
        // Custom roles: half project roles (some inheriting Reader), half
        // organization roles (some granting a project role everywhere).
        let project_perms: Vec<&str> = Permission::all()
            .filter(|p| p.scope() == Scope::Project)
            .map(|p| p.name())
            .collect();
        let org_perms: Vec<&str> = domain::roles::predefined_roles()
            .into_iter()
            .find(|r| r.id == MEMBER)
            .unwrap()
            .permissions
            .iter()
            .map(|p| p.name())
            .collect();
        for i in 0..size.custom_roles {
            let role_id = RoleId::new();
            let project = i % 2 == 0;
            let perms: Vec<String> = if project {
                project_perms
                    .choose_multiple(&mut w.rng, 6)
                    .map(|s| s.to_string())
                    .collect()
            } else {
                org_perms
                    .choose_multiple(&mut w.rng, 5)
                    .map(|s| s.to_string())
                    .collect()
            };
            w.run(Command::CreateRole {
                role_id,
                spec: RoleSpec {
                    name: format!("custom-{i}"),
                    scope: if project {
                        Scope::Project
                    } else {
                        Scope::Organization
                    },
                    description: "generated".into(),
                    permissions: perms,
                    inherits: if project && i % 4 == 0 {
                        vec![READER]
                    } else {
                        vec![]
                    },
                    project_role: if !project && i % 3 == 0 {
                        Some(READER)
                    } else {
                        None
                    },
                },
            });
            if project {
                w.project_roles.push(role_id);
            } else {
                w.org_roles.push(role_id);
            }
        }
        // Some users get a custom organization role directly.
        for k in 0..size.users / 20 {
            let user = w.users[1 + (k * 7) % (size.users - 1)];
            let role = w.org_roles[k % w.org_roles.len().max(1)];
            w.run(Command::AssignOrgRole {
                subject: Subject::User(user),
                role,
            });
        }
        // Groups, then memberships: each user in 0 to 5 groups.
        for i in 0..size.groups {
            let group_id = GroupId::new();
            w.groups.push(group_id);
            w.run(Command::CreateGroup {
                group_id,
                name: format!("group-{i}"),
                description: format!("generated group {i}"),
                members: vec![],
            });
        }
        let mut members: Vec<Vec<UserId>> = vec![Vec::new(); size.groups];
        for u in w.users.clone() {
            let k = w.rng.gen_range(0..=5usize.min(size.groups));
            for g in rand::seq::index::sample(&mut w.rng, size.groups, k) {
                members[g].push(u);
            }
        }
        for (g, m) in members.into_iter().enumerate() {
            for chunk in m.chunks(500) {
                w.run(Command::ChangeGroup {
                    group: w.groups[g],
                    name: None,
                    description: None,
                    add_members: chunk.to_vec(),
                    remove_members: vec![],
                });
            }
        }
        // Projects with bindings from every source: direct users, groups,
        // repository access (organization roles map on their own).
        for i in 0..size.projects {
            let project_id = ProjectId::new();
            w.projects.push(project_id);
            let owner = w.users[w.rng.gen_range(0..w.users.len())];
            w.run(Command::CreateProject {
                project_id,
                name: format!("project-{i}"),
                owner: Some(owner),
            });
            for _ in 0..8 {
                let user = w.users[w.rng.gen_range(0..w.users.len())];
                let role = *w.project_roles.choose(&mut w.rng).unwrap();
                w.run(Command::BindProjectRole {
                    project: project_id,
                    subject: Subject::User(user),
                    role,
                });
            }
            for _ in 0..2 {
                let group = *w.groups.choose(&mut w.rng).unwrap();
                let role = *w.project_roles.choose(&mut w.rng).unwrap();
                w.run(Command::BindProjectRole {
                    project: project_id,
                    subject: Subject::Group(group),
                    role,
                });
            }
            for _ in 0..6 {
                let user = w.users[w.rng.gen_range(0..w.users.len())];
                let access =
                    [RepoAccess::Read, RepoAccess::Write, RepoAccess::Admin][w.rng.gen_range(0..3)];
                w.run(Command::SetRepositoryAccess {
                    project: project_id,
                    user,
                    access: Some(access),
                });
            }
        }
        w
    }

    /// The many-tenant instance: `count` organizations of `size`, named
    /// `tenant-0`, `tenant-1`, …, each from its own seed.
    pub fn tenants(count: usize, size: Size, seed: u64) -> Vec<Workload> {
        (0..count)
            .map(|i| Workload::organization(&format!("tenant-{i}"), size, seed + i as u64))
            .collect()
    }

    /// Appends valid churn (project bindings changing hands, organization
    /// roles switching) until the stream holds `total` events. These events
    /// are generated directly rather than through `decide`: each is valid by
    /// construction (existing subjects, roles of the right scope).
    pub fn churn_to(&mut self, total: usize) {
        while self.events.len() < total {
            let project = self.projects[self.rng.gen_range(0..self.projects.len())];
            let user = self.users[1 + self.rng.gen_range(0..self.users.len() - 1)];
            let event = match self.rng.gen_range(0..4) {
                0 | 1 => Event::ProjectRoleBound(domain::events::ProjectRoleBound {
                    project_id: project,
                    subject: Subject::User(user),
                    role_id: *self.project_roles.choose(&mut self.rng).unwrap(),
                }),
                2 => Event::OrgRoleAssigned(domain::events::OrgRoleAssigned {
                    subject: Subject::User(user),
                    role_id: if self.rng.gen_bool(0.5) {
                        MEMBER
                    } else {
                        *self.org_roles.choose(&mut self.rng).unwrap_or(&MEMBER)
                    },
                }),
                _ => Event::GroupMemberAdded(domain::events::GroupMemberAdded {
                    group_id: *self.groups.choose(&mut self.rng).unwrap(),
                    user_id: user,
                }),
            };
            self.state.evolve(&event);
            self.events.push(event);
        }
    }

    /// The events as store envelopes (the system as actor).
    pub fn envelopes(&self) -> Vec<NewEvent> {
        envelopes(&self.events)
    }

    /// A random user other than the owner.
    pub fn some_user(&mut self) -> UserId {
        self.users[1 + self.rng.gen_range(0..self.users.len() - 1)]
    }
    pub fn some_project(&mut self) -> ProjectId {
        self.projects[self.rng.gen_range(0..self.projects.len())]
    }
    pub fn some_group(&mut self) -> GroupId {
        self.groups[self.rng.gen_range(0..self.groups.len())]
    }
    pub fn some_project_role(&mut self) -> RoleId {
        *self.project_roles.choose(&mut self.rng).unwrap()
    }
    pub fn some_org_role(&mut self) -> RoleId {
        *self.org_roles.choose(&mut self.rng).unwrap_or(&MEMBER)
    }
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }
}

impl Workload {
    /// Runs `steps` random commands (role, group, binding, repository,
    /// mapping, custom-role, project, deactivation and removal changes) from random
    /// callers through `decide`; refused ones leave no events. For oracle
    /// tests: every kind of event, in odd orders.
    pub fn random_history(&mut self, steps: usize) {
        use domain::roles::RepoRoleMapping;
        for step in 0..steps {
            let state = &self.state;
            let mut users: Vec<UserId> = state.users.keys().copied().collect();
            users.sort();
            let mut groups: Vec<GroupId> = state.groups.keys().copied().collect();
            groups.sort();
            let mut projects: Vec<ProjectId> = state.projects.keys().copied().collect();
            projects.sort();
            let mut roles: Vec<&domain::roles::Role> = state.roles.values().collect();
            roles.sort_by_key(|r| r.id);
            let org_roles: Vec<RoleId> = roles
                .iter()
                .filter(|r| r.scope == Scope::Organization)
                .map(|r| r.id)
                .collect();
            let project_roles: Vec<RoleId> = roles
                .iter()
                .filter(|r| r.scope == Scope::Project)
                .map(|r| r.id)
                .collect();
            let custom: Vec<RoleId> = roles
                .iter()
                .filter(|r| !r.predefined)
                .map(|r| r.id)
                .collect();
            let rng = &mut self.rng;
            let user = |rng: &mut StdRng| users[rng.gen_range(0..users.len())];
            let caller = if rng.gen_bool(0.8) {
                self.owner
            } else {
                user(rng)
            };
            let subject = |rng: &mut StdRng| {
                if !groups.is_empty() && rng.gen_bool(0.3) {
                    Subject::Group(groups[rng.gen_range(0..groups.len())])
                } else {
                    Subject::User(users[rng.gen_range(0..users.len())])
                }
            };
            let command = match rng.gen_range(0..21) {
                0 => Command::InvitePeople {
                    people: vec![NewPerson {
                        user_id: UserId::new(),
                        email: format!("r{step}@random.example"),
                        username: None,
                    }],
                    role: Some(*org_roles.choose(rng).unwrap()),
                },
                1 => Command::AssignOrgRole {
                    subject: subject(rng),
                    role: *org_roles.choose(rng).unwrap(),
                },
                2 => Command::RetractOrgRole {
                    subject: subject(rng),
                },
                3 => Command::CreateGroup {
                    group_id: GroupId::new(),
                    name: format!("rg{step}"),
                    description: "random".into(),
                    members: vec![user(rng), user(rng)]
                        .into_iter()
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect(),
                },
                4 | 5 if !groups.is_empty() => {
                    let add = rng.gen_bool(0.6);
                    Command::ChangeGroup {
                        group: groups[rng.gen_range(0..groups.len())],
                        name: None,
                        description: None,
                        add_members: if add { vec![user(rng)] } else { vec![] },
                        remove_members: if add { vec![] } else { vec![user(rng)] },
                    }
                }
                6 if !groups.is_empty() => Command::DeleteGroup {
                    group: groups[rng.gen_range(0..groups.len())],
                },
                7 | 8 if !projects.is_empty() => Command::BindProjectRole {
                    project: projects[rng.gen_range(0..projects.len())],
                    subject: subject(rng),
                    role: *project_roles.choose(rng).unwrap(),
                },
                9 if !projects.is_empty() => Command::UnbindProjectRole {
                    project: projects[rng.gen_range(0..projects.len())],
                    subject: subject(rng),
                },
                10 if !projects.is_empty() => Command::SetRepositoryAccess {
                    project: projects[rng.gen_range(0..projects.len())],
                    user: user(rng),
                    access: [
                        None,
                        Some(RepoAccess::Read),
                        Some(RepoAccess::Write),
                        Some(RepoAccess::Admin),
                    ][rng.gen_range(0..4)],
                },
                11 if !projects.is_empty() => Command::SetRepositoryRoleMapping {
                    project: projects[rng.gen_range(0..projects.len())],
                    mapping: RepoRoleMapping {
                        admin: *project_roles.choose(rng).unwrap(),
                        write: *project_roles.choose(rng).unwrap(),
                        read: *project_roles.choose(rng).unwrap(),
                    },
                },
                12 => {
                    let org = rng.gen_bool(0.5);
                    let scope = if org {
                        Scope::Organization
                    } else {
                        Scope::Project
                    };
                    let pool: Vec<&str> = Permission::all()
                        .filter(|p| p.scope() == scope)
                        .map(|p| p.name())
                        .collect();
                    let same_scope: Vec<RoleId> = if org {
                        org_roles.clone()
                    } else {
                        project_roles.clone()
                    };
                    Command::CreateRole {
                        role_id: RoleId::new(),
                        spec: RoleSpec {
                            name: format!("rr{step}"),
                            scope,
                            description: String::new(),
                            permissions: pool
                                .choose_multiple(rng, 4)
                                .map(|s| s.to_string())
                                .collect(),
                            inherits: if rng.gen_bool(0.3) {
                                vec![*same_scope.choose(rng).unwrap()]
                            } else {
                                vec![]
                            },
                            project_role: if org && rng.gen_bool(0.5) {
                                Some(*project_roles.choose(rng).unwrap())
                            } else {
                                None
                            },
                        },
                    }
                }
                13 if !custom.is_empty() => {
                    let id = *custom.choose(rng).unwrap();
                    let role = state.roles[&id].clone();
                    let pool: Vec<&str> = Permission::all()
                        .filter(|p| p.scope() == role.scope)
                        .map(|p| p.name())
                        .collect();
                    let same_scope: Vec<RoleId> = roles
                        .iter()
                        .filter(|r| r.scope == role.scope && r.id != id)
                        .map(|r| r.id)
                        .collect();
                    Command::ChangeRole {
                        role: id,
                        spec: RoleSpec {
                            name: role.name.clone(),
                            scope: role.scope,
                            description: role.description.clone(),
                            permissions: pool
                                .choose_multiple(rng, 5)
                                .map(|s| s.to_string())
                                .collect(),
                            inherits: if rng.gen_bool(0.4) {
                                same_scope.choose(rng).into_iter().copied().collect()
                            } else {
                                vec![]
                            },
                            project_role: if role.scope == Scope::Organization && rng.gen_bool(0.5)
                            {
                                Some(*project_roles.choose(rng).unwrap())
                            } else {
                                None
                            },
                        },
                    }
                }
                14 if !custom.is_empty() => Command::DeleteRole {
                    role: *custom.choose(rng).unwrap(),
                },
                15 => Command::CreateProject {
                    project_id: ProjectId::new(),
                    name: format!("rp{step}"),
                    owner: Some(user(rng)),
                },
                16 if !projects.is_empty() && rng.gen_bool(0.3) => Command::DeleteProject {
                    project: projects[rng.gen_range(0..projects.len())],
                },
                17 => Command::DeactivateUser { user: user(rng) },
                18 => Command::ReactivateUser {
                    user: user(rng),
                    role: rng.gen_bool(0.5).then(|| *org_roles.choose(rng).unwrap()),
                },
                19 => Command::ProvisionUser {
                    user_id: UserId::new(),
                    email: format!("p{step}@random.example"),
                    identity: domain::state::Identity {
                        user_name: format!("p{step}@idp.example"),
                        external_id: rng.gen_bool(0.5).then(|| format!("00u{step}")),
                        given_name: Some("Random".into()),
                        family_name: None,
                    },
                    active: rng.gen_bool(0.8),
                },
                20 => {
                    let u = user(rng);
                    Command::ChangeProfile {
                        user: u,
                        email: format!("c{step}@random.example"),
                        identity: domain::state::Identity {
                            user_name: format!("c{step}@idp.example"),
                            external_id: None,
                            given_name: None,
                            family_name: Some("Changed".into()),
                        },
                        active: [None, Some(true), Some(false)][rng.gen_range(0..3)],
                    }
                }
                _ => {
                    let u = user(rng);
                    if u == self.owner || rng.gen_bool(0.5) {
                        continue;
                    }
                    if let Some(p) = projects.iter().find(|p| state.projects[*p].owner == u) {
                        Command::TransferProject {
                            project: *p,
                            to: self.owner,
                        }
                    } else {
                        Command::RemoveUser { user: u }
                    }
                }
            };
            let actor = Actor::user(caller, state.username(caller));
            if let Ok(events) = decide(&self.state, &command, &actor) {
                for e in events {
                    self.state.evolve(&e);
                    self.events.push(e);
                }
            }
        }
    }
}

/// `events` as store envelopes, issued now by the system through the CLI.
pub fn envelopes(events: &[Event]) -> Vec<NewEvent> {
    let meta = serde_json::to_string(&EventMetadata::new(
        Actor::system(),
        Medium::Cli,
        Utc::now(),
    ))
    .unwrap();
    events
        .iter()
        .map(|e| NewEvent {
            event_id: uuid::Uuid::now_v7(),
            event_type: e.event_type().to_string(),
            schema_version: e.schema_version(),
            data: e.to_json(),
            metadata: meta.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The many-tenant instance: distinct organizations of the size asked,
    /// each with its own people and a custom role of each scope.
    #[test]
    fn tenants_are_distinct_organizations_of_the_size_asked() {
        let tenants = Workload::tenants(3, Size::TENANT, 1);
        assert_eq!(tenants.len(), 3);
        for (i, w) in tenants.iter().enumerate() {
            assert_eq!(w.state.users.len(), Size::TENANT.users);
            assert_eq!(w.state.projects.len(), Size::TENANT.projects);
            assert_eq!(w.state.groups.len(), Size::TENANT.groups);
            assert_eq!(w.org_roles.len(), 1, "tenant-{i}");
            assert_eq!(w.project_roles.len(), 3 + 1, "tenant-{i}");
            assert_eq!(w.state.name, format!("tenant-{i}"));
        }
        assert_ne!(tenants[0].org_id, tenants[1].org_id);
        assert_ne!(tenants[0].users[1], tenants[1].users[1]);
    }

    #[test]
    fn sizes_are_named() {
        assert_eq!(Size::named("x10").map(|s| s.users), Some(100_000));
        assert_eq!(Size::named("benchmark").map(|s| s.projects), Some(1_000));
        assert!(Size::named("huge").is_none());
    }
}
