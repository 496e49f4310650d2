//! One test per rule of RBAC.md's "Rules that commands enforce", with the
//! refusals: every refusal asserts the exact `DomainError`, every success the
//! exact events. A small harness (`World`) decides commands against an
//! organization and folds the events it gets back into it, so each caller's
//! permissions come from the same state the commands change.

use domain::access::BindingSource;
use domain::commands::{Command, NewPerson, RoleSpec};
use domain::errors::{DomainError, FieldError, OwnedProject};
use domain::events::*;
use domain::ids::{GroupId, OrgId, ProjectId, RoleId, Subject, TokenId, UserId};
use domain::permissions::{Permission, PermissionSet, Scope, CATALOG};
use domain::roles::{
    RepoAccess, RepoRoleMapping, CONTRIBUTOR, MEMBER, ORG_ADMIN, OWNER, PROJECT_ADMIN, READER,
};
use domain::{decide, Organization};

// ---- harness ---------------------------------------------------------------

/// An organization created by the system actor, with `owner` as its Owner.
struct World {
    org: Organization,
    owner: UserId,
}

impl World {
    fn new() -> World {
        let owner = UserId::new();
        let mut org = Organization::new();
        let create = Command::CreateOrganization {
            org_id: OrgId::new(),
            name: "acme".into(),
            url: None,
            owner: NewPerson {
                user_id: owner,
                email: "owner@acme.test".into(),
                username: None,
            },
        };
        for e in decide(&org, &create, &Actor::system()).expect("organization created") {
            org.evolve(&e);
        }
        World { org, owner }
    }

    /// The actor a user acts as.
    fn actor(&self, user: UserId) -> Actor {
        Actor::user(user, self.org.username(user))
    }

    /// Decides `command` as `actor`; on success folds every event in.
    fn exec_as(&mut self, actor: &Actor, command: Command) -> Result<Vec<Event>, DomainError> {
        let before = self.org.clone();
        let result = decide(&self.org, &command, actor);
        match &result {
            Ok(events) => {
                for e in events {
                    self.org.evolve(e);
                }
            }
            Err(_) => assert_eq!(self.org, before, "a refused command changes nothing"),
        }
        result
    }

    /// Decides `command` as `user`; on success folds every event in.
    fn exec(&mut self, user: UserId, command: Command) -> Result<Vec<Event>, DomainError> {
        let actor = self.actor(user);
        self.exec_as(&actor, command)
    }

    /// Decides `command` as the system actor.
    fn system(&mut self, command: Command) -> Result<Vec<Event>, DomainError> {
        self.exec_as(&Actor::system(), command)
    }

    /// The Owner invites `email` with `role`.
    fn invite(&mut self, email: &str, role: RoleId) -> UserId {
        let user_id = UserId::new();
        self.exec(
            self.owner,
            Command::InvitePeople {
                people: vec![person(user_id, email)],
                role: Some(role),
            },
        )
        .expect("invited");
        user_id
    }

    /// `by` creates a project (and owns it).
    fn project(&mut self, by: UserId, name: &str) -> ProjectId {
        let project_id = ProjectId::new();
        self.exec(
            by,
            Command::CreateProject {
                project_id,
                name: name.into(),
                owner: None,
            },
        )
        .expect("project created");
        project_id
    }

    /// The Owner creates a group (role `Member`).
    fn group(&mut self, name: &str, members: &[UserId]) -> GroupId {
        let group_id = GroupId::new();
        self.exec(self.owner, create_group(group_id, name, members))
            .expect("group created");
        group_id
    }

    /// The Owner creates a custom role.
    fn role(&mut self, spec: RoleSpec) -> RoleId {
        let role_id = RoleId::new();
        self.exec(self.owner, Command::CreateRole { role_id, spec })
            .expect("role created");
        role_id
    }

    /// The Owner binds `role` to `subject` on `project`.
    fn bind(&mut self, project: ProjectId, subject: Subject, role: RoleId) {
        self.exec(self.owner, bind(project, subject, role))
            .expect("bound");
    }

    /// The Owner assigns an organization role.
    fn assign(&mut self, subject: Subject, role: RoleId) {
        self.exec(self.owner, Command::AssignOrgRole { subject, role })
            .expect("assigned");
    }

    /// The Owner sets a user's repository access.
    fn repo(&mut self, project: ProjectId, user: UserId, access: Option<RepoAccess>) {
        self.exec(
            self.owner,
            Command::SetRepositoryAccess {
                project,
                user,
                access,
            },
        )
        .expect("repository access set");
    }

    fn can(&self, user: UserId, permission: &str, project: Option<ProjectId>) -> bool {
        self.org.check(user, perm(permission), project)
    }
}

fn person(user_id: UserId, email: &str) -> NewPerson {
    NewPerson {
        user_id,
        email: email.into(),
        username: None,
    }
}

fn perm(name: &str) -> Permission {
    Permission::lookup(name).unwrap_or_else(|| panic!("{name} is not in the catalog"))
}

fn spec(name: &str, scope: Scope, permissions: &[&str]) -> RoleSpec {
    RoleSpec {
        name: name.into(),
        scope,
        description: String::new(),
        permissions: permissions.iter().map(|p| p.to_string()).collect(),
        inherits: vec![],
        project_role: None,
    }
}

/// The names of a predefined role's permissions plus `extra`, minus `without`.
fn names_of(org: &Organization, role: RoleId, extra: &[&str], without: &[&str]) -> Vec<String> {
    org.role_permissions(role)
        .iter()
        .map(|p| p.name())
        .chain(extra.iter().copied())
        .filter(|n| !without.contains(n))
        .map(str::to_string)
        .collect()
}

/// Catalog names of `scope`, in catalog order, except `except`.
fn catalog_except(scope: Scope, except: &[&str]) -> Vec<&'static str> {
    CATALOG
        .iter()
        .filter(|p| p.scope == scope && !except.contains(&p.name))
        .map(|p| p.name)
        .collect()
}

fn create_group(group_id: GroupId, name: &str, members: &[UserId]) -> Command {
    Command::CreateGroup {
        group_id,
        name: name.into(),
        description: format!("the {name} team"),
        members: members.to_vec(),
    }
}

fn change_members(group: GroupId, add: &[UserId], remove: &[UserId]) -> Command {
    Command::ChangeGroup {
        group,
        name: None,
        description: None,
        add_members: add.to_vec(),
        remove_members: remove.to_vec(),
    }
}

fn bind(project: ProjectId, subject: Subject, role: RoleId) -> Command {
    Command::BindProjectRole {
        project,
        subject,
        role,
    }
}

fn bound(project_id: ProjectId, subject: Subject, role_id: RoleId) -> Vec<Event> {
    vec![Event::ProjectRoleBound(ProjectRoleBound {
        project_id,
        subject,
        role_id,
    })]
}

fn assigned(subject: Subject, role_id: RoleId) -> Vec<Event> {
    vec![Event::OrgRoleAssigned(OrgRoleAssigned { subject, role_id })]
}

fn forbidden(permission: &'static str) -> Result<Vec<Event>, DomainError> {
    Err(DomainError::Forbidden { permission })
}

fn invalid(field: &str, code: &'static str, detail: &str) -> Result<Vec<Event>, DomainError> {
    Err(DomainError::invalid(field, code, detail))
}

const PEOPLE_MANAGE: &str = "organization.people.manage";
const CHANGE_OWNER: &str = "organization.change_owner";
const ACCESS_MANAGE: &str = "project.access.manage";

// ---- organization roles: people.manage, change_owner -------------------------

#[test]
fn changing_an_organization_role_needs_people_manage() {
    let mut w = World::new();
    let member = w.invite("member@acme.test", MEMBER);
    let admin = w.invite("admin@acme.test", ORG_ADMIN);
    let u = w.invite("u@acme.test", MEMBER);

    assert_eq!(
        w.exec(
            member,
            Command::AssignOrgRole {
                subject: Subject::User(u),
                role: ORG_ADMIN
            }
        ),
        forbidden(PEOPLE_MANAGE)
    );
    assert_eq!(
        w.exec(
            member,
            Command::RetractOrgRole {
                subject: Subject::User(u)
            }
        ),
        forbidden(PEOPLE_MANAGE)
    );

    // An Admin holds people.manage and everything Admin grants.
    assert_eq!(
        w.exec(
            admin,
            Command::AssignOrgRole {
                subject: Subject::User(u),
                role: ORG_ADMIN
            }
        ),
        Ok(assigned(Subject::User(u), ORG_ADMIN))
    );
    // Assigning the role the subject already has changes nothing.
    assert_eq!(
        w.exec(
            admin,
            Command::AssignOrgRole {
                subject: Subject::User(u),
                role: ORG_ADMIN
            }
        ),
        Ok(vec![])
    );
    assert_eq!(
        w.exec(
            admin,
            Command::RetractOrgRole {
                subject: Subject::User(u)
            }
        ),
        Ok(vec![Event::OrgRoleRetracted(OrgRoleRetracted {
            subject: Subject::User(u),
            role_id: ORG_ADMIN
        })])
    );
    assert!(w.org.org_grants(u).is_empty());
}

#[test]
fn assigning_owner_needs_change_owner() {
    let mut w = World::new();
    let admin = w.invite("admin@acme.test", ORG_ADMIN);
    let u = w.invite("u@acme.test", MEMBER);
    let g = w.group("ops", &[u]);

    assert_eq!(
        w.exec(
            admin,
            Command::AssignOrgRole {
                subject: Subject::User(u),
                role: OWNER
            }
        ),
        forbidden(CHANGE_OWNER)
    );
    assert_eq!(
        w.exec(
            admin,
            Command::AssignOrgRole {
                subject: Subject::Group(g),
                role: OWNER
            }
        ),
        forbidden(CHANGE_OWNER)
    );
    assert_eq!(
        w.exec(
            admin,
            Command::InvitePeople {
                people: vec![person(UserId::new(), "new@acme.test")],
                role: Some(OWNER)
            }
        ),
        forbidden(CHANGE_OWNER)
    );

    let owner = w.owner;
    assert_eq!(
        w.exec(
            owner,
            Command::AssignOrgRole {
                subject: Subject::User(u),
                role: OWNER
            }
        ),
        Ok(assigned(Subject::User(u), OWNER))
    );
    assert!(w.org.is_owner(u));
}

#[test]
fn changing_an_owner_needs_change_owner() {
    let mut w = World::new();
    let admin = w.invite("admin@acme.test", ORG_ADMIN);
    let second = w.invite("second@acme.test", OWNER);

    assert_eq!(
        w.exec(
            admin,
            Command::AssignOrgRole {
                subject: Subject::User(second),
                role: MEMBER
            }
        ),
        forbidden(CHANGE_OWNER)
    );
    assert_eq!(
        w.exec(
            admin,
            Command::RetractOrgRole {
                subject: Subject::User(second)
            }
        ),
        forbidden(CHANGE_OWNER)
    );
    assert_eq!(
        w.exec(admin, Command::RemoveUser { user: second }),
        forbidden(CHANGE_OWNER)
    );
    assert!(w.org.is_owner(second));

    // An Owner may demote another Owner.
    let owner = w.owner;
    assert_eq!(
        w.exec(
            owner,
            Command::AssignOrgRole {
                subject: Subject::User(second),
                role: MEMBER
            }
        ),
        Ok(assigned(Subject::User(second), MEMBER))
    );
    assert!(!w.org.is_owner(second));
}

// ---- project bindings: project.access.manage ---------------------------------

#[test]
fn project_bindings_need_access_manage_on_that_project() {
    let mut w = World::new();
    let lead = w.invite("lead@acme.test", MEMBER);
    let reader = w.invite("reader@acme.test", MEMBER);
    let contributor = w.invite("contributor@acme.test", MEMBER);
    let outsider = w.invite("outsider@acme.test", MEMBER);
    let x = w.invite("x@acme.test", MEMBER);
    // `lead` creates `web` and so holds a direct project Admin binding on it.
    let web = w.project(lead, "web");
    let other = w.project(w.owner, "other");
    w.bind(web, Subject::User(reader), READER);
    w.bind(web, Subject::User(contributor), CONTRIBUTOR);

    for caller in [reader, contributor, outsider] {
        assert_eq!(
            w.exec(caller, bind(web, Subject::User(x), READER)),
            forbidden(ACCESS_MANAGE)
        );
        assert_eq!(
            w.exec(
                caller,
                Command::UnbindProjectRole {
                    project: web,
                    subject: Subject::User(reader)
                }
            ),
            forbidden(ACCESS_MANAGE)
        );
    }
    // Project Admin on `web` is no permission on `other`.
    assert_eq!(
        w.exec(lead, bind(other, Subject::User(x), READER)),
        forbidden(ACCESS_MANAGE)
    );

    assert_eq!(
        w.exec(lead, bind(web, Subject::User(x), CONTRIBUTOR)),
        Ok(bound(web, Subject::User(x), CONTRIBUTOR))
    );
    // One binding per (subject, scope, source): binding again replaces it.
    assert_eq!(
        w.exec(lead, bind(web, Subject::User(x), READER)),
        Ok(bound(web, Subject::User(x), READER))
    );
    assert_eq!(
        w.org.project_grants(x, web),
        vec![BindingSource::Direct { role: READER }]
    );
    assert_eq!(
        w.exec(
            lead,
            Command::UnbindProjectRole {
                project: web,
                subject: Subject::User(x)
            }
        ),
        Ok(vec![Event::ProjectRoleUnbound(ProjectRoleUnbound {
            project_id: web,
            subject: Subject::User(x),
            role_id: READER
        })])
    );
}

// ---- no escalation -----------------------------------------------------------

#[test]
fn no_escalation_when_granting_organization_roles() {
    let mut w = World::new();
    let staff = w.role(spec(
        "Staff",
        Scope::Organization,
        &[
            "organization.people.view",
            PEOPLE_MANAGE,
            "organization.contact_support",
        ],
    ));
    // Permissions given out of catalog order: `missing` follows the catalog.
    let billing = w.role(spec(
        "Billing",
        Scope::Organization,
        &[
            "organization.plans_and_billing.manage",
            "organization.okta.view",
            "organization.plans_and_billing.view",
        ],
    ));
    let lead = w.invite("lead@acme.test", staff);
    let u = w.invite("u@acme.test", staff);
    let g = w.group("ops", &[]);

    assert_eq!(
        w.exec(
            lead,
            Command::AssignOrgRole {
                subject: Subject::User(u),
                role: billing
            }
        ),
        Err(DomainError::Escalation {
            role: "Billing".into(),
            missing: vec![
                "organization.okta.view",
                "organization.plans_and_billing.view",
                "organization.plans_and_billing.manage",
            ],
        })
    );
    assert_eq!(
        w.exec(
            lead,
            Command::AssignOrgRole {
                subject: Subject::User(u),
                role: MEMBER
            }
        ),
        Err(DomainError::Escalation {
            role: "Member".into(),
            missing: vec![
                "organization.projects.create",
                "organization.activity_monitor.view",
                "organization.secrets_policy_settings.view",
                "organization.groups.view",
                "organization.self_hosted_agents.view",
                "organization.self_hosted_agents.manage",
                "organization.secrets.view",
                "organization.secrets.manage",
                "organization.notifications.view",
                "organization.notifications.manage",
                "organization.dashboards.view",
                "organization.dashboards.manage",
            ],
        })
    );
    // Admin: its organization permissions the caller lacks, then those of the
    // project Admin role it grants on every project.
    let mut missing = catalog_except(
        Scope::Organization,
        &[
            "organization.view",
            "organization.delete",
            CHANGE_OWNER,
            "organization.contact_support",
            "organization.people.view",
            PEOPLE_MANAGE,
            "organization.custom_roles.manage",
        ],
    );
    missing.extend(catalog_except(Scope::Project, &[]));
    let admin_escalation = Err(DomainError::Escalation {
        role: "Admin".into(),
        missing,
    });
    assert_eq!(
        w.exec(
            lead,
            Command::AssignOrgRole {
                subject: Subject::User(u),
                role: ORG_ADMIN
            }
        ),
        admin_escalation
    );
    assert_eq!(
        w.exec(
            lead,
            Command::AssignOrgRole {
                subject: Subject::Group(g),
                role: ORG_ADMIN
            }
        ),
        admin_escalation
    );

    // A role the caller fully holds may be granted.
    assert_eq!(
        w.exec(
            lead,
            Command::AssignOrgRole {
                subject: Subject::Group(g),
                role: staff
            }
        ),
        Ok(assigned(Subject::Group(g), staff))
    );
}

#[test]
fn no_escalation_when_granting_project_roles() {
    let mut w = World::new();
    let lead_role = w.role(spec(
        "Lead",
        Scope::Project,
        &catalog_except(Scope::Project, &["project.delete"]),
    ));
    let gate_role = w.role(spec("Gatekeeper", Scope::Project, &[ACCESS_MANAGE]));
    let lead = w.invite("lead@acme.test", MEMBER);
    let gate = w.invite("gate@acme.test", MEMBER);
    let u = w.invite("u@acme.test", MEMBER);
    let web = w.project(w.owner, "web");
    w.bind(web, Subject::User(lead), lead_role);
    w.bind(web, Subject::User(gate), gate_role);

    assert_eq!(
        w.exec(lead, bind(web, Subject::User(u), PROJECT_ADMIN)),
        Err(DomainError::Escalation {
            role: "Admin".into(),
            missing: vec!["project.delete"],
        })
    );
    // Reader lists its permissions in another order; `missing` follows the
    // catalog.
    assert_eq!(
        w.exec(gate, bind(web, Subject::User(u), READER)),
        Err(DomainError::Escalation {
            role: "Reader".into(),
            missing: vec![
                "project.artifacts.view",
                "project.access.view",
                "project.notifications.view",
                "project.insights.view",
                "project.flaky_tests.view",
                "project.scheduler.view",
                "project.general_settings.view",
                "project.repository_info.view",
                "project.deployment_targets.view",
                "project.pre_flight_checks.view",
            ],
        })
    );
    // Repository access grants a role too.
    assert_eq!(
        w.exec(
            gate,
            Command::SetRepositoryAccess {
                project: web,
                user: u,
                access: Some(RepoAccess::Read)
            }
        ),
        Err(DomainError::Escalation {
            role: "Reader".into(),
            missing: vec![
                "project.artifacts.view",
                "project.access.view",
                "project.notifications.view",
                "project.insights.view",
                "project.flaky_tests.view",
                "project.scheduler.view",
                "project.general_settings.view",
                "project.repository_info.view",
                "project.deployment_targets.view",
                "project.pre_flight_checks.view",
            ],
        })
    );
    assert_eq!(
        w.exec(
            lead,
            Command::SetRepositoryRoleMapping {
                project: web,
                mapping: RepoRoleMapping {
                    admin: PROJECT_ADMIN,
                    write: CONTRIBUTOR,
                    read: READER
                }
            }
        ),
        Err(DomainError::Escalation {
            role: "Admin".into(),
            missing: vec!["project.delete"],
        })
    );

    // Contributor includes project.delete, which Lead lacks.
    assert_eq!(
        w.exec(lead, bind(web, Subject::User(u), CONTRIBUTOR)),
        Err(DomainError::Escalation {
            role: "Contributor".into(),
            missing: vec!["project.delete"],
        })
    );
    assert_eq!(
        w.exec(lead, bind(web, Subject::User(u), READER)),
        Ok(bound(web, Subject::User(u), READER))
    );
    assert_eq!(
        w.exec(lead, bind(web, Subject::User(gate), lead_role)),
        Ok(bound(web, Subject::User(gate), lead_role))
    );
}

#[test]
fn owners_may_grant_anything() {
    let mut w = World::new();
    let everything = w.role(RoleSpec {
        project_role: Some(PROJECT_ADMIN),
        ..spec(
            "Everything",
            Scope::Organization,
            &catalog_except(Scope::Organization, &[]),
        )
    });
    let u = w.invite("u@acme.test", MEMBER);
    let web = w.project(w.owner, "web");
    let owner = w.owner;
    assert_eq!(
        w.exec(
            owner,
            Command::AssignOrgRole {
                subject: Subject::User(u),
                role: everything
            }
        ),
        Ok(assigned(Subject::User(u), everything))
    );
    assert_eq!(
        w.exec(owner, bind(web, Subject::User(u), PROJECT_ADMIN)),
        Ok(bound(web, Subject::User(u), PROJECT_ADMIN))
    );
    // The system actor acts as an Owner.
    let v = UserId::new();
    assert_eq!(
        w.system(Command::InvitePeople {
            people: vec![person(v, "v@acme.test")],
            role: Some(OWNER)
        }),
        Ok(vec![
            Event::UserInvited(UserInvited {
                user_id: v,
                email: "v@acme.test".into(),
                username: "v".into()
            }),
            Event::OrgRoleAssigned(OrgRoleAssigned {
                subject: Subject::User(v),
                role_id: OWNER
            }),
        ])
    );
}

// ---- at least one Owner ------------------------------------------------------

#[test]
fn the_only_owner_cannot_be_retracted_demoted_or_removed() {
    let mut w = World::new();
    let owner = w.owner;
    let retract = Command::RetractOrgRole {
        subject: Subject::User(owner),
    };
    let demote = Command::AssignOrgRole {
        subject: Subject::User(owner),
        role: ORG_ADMIN,
    };
    let remove = Command::RemoveUser { user: owner };
    for cmd in [retract, demote, remove] {
        assert_eq!(w.exec(owner, cmd.clone()), Err(DomainError::LastOwner));
        assert_eq!(w.system(cmd), Err(DomainError::LastOwner));
    }
    assert_eq!(w.org.owners().into_iter().collect::<Vec<_>>(), vec![owner]);
}

#[test]
fn with_two_owners_one_may_step_down_but_not_the_last() {
    let mut w = World::new();
    let first = w.owner;
    let second = w.invite("second@acme.test", OWNER);
    assert_eq!(
        w.exec(
            second,
            Command::RetractOrgRole {
                subject: Subject::User(first)
            }
        ),
        Ok(vec![Event::OrgRoleRetracted(OrgRoleRetracted {
            subject: Subject::User(first),
            role_id: OWNER
        })])
    );
    assert!(!w.org.is_owner(first));
    assert_eq!(
        w.exec(
            second,
            Command::AssignOrgRole {
                subject: Subject::User(second),
                role: MEMBER
            }
        ),
        Err(DomainError::LastOwner)
    );

    // Back to two Owners: one may be removed, then not the other.
    w.exec(
        second,
        Command::AssignOrgRole {
            subject: Subject::User(first),
            role: OWNER,
        },
    )
    .unwrap();
    assert_eq!(
        w.exec(first, Command::RemoveUser { user: second }),
        Ok(vec![Event::UserRemoved(UserRemoved {
            user_id: second,
            username: "second".into()
        })])
    );
    assert_eq!(
        w.exec(first, Command::RemoveUser { user: first }),
        Err(DomainError::LastOwner)
    );
}

#[test]
fn an_owner_group_that_is_the_only_source_of_owner_stays() {
    let mut w = World::new();
    let owner = w.owner;
    let m = w.invite("m@acme.test", MEMBER);
    let owners = w.group("owners", &[owner]);
    w.assign(Subject::Group(owners), OWNER);
    // The direct Owner role can go: the group still makes `owner` an Owner.
    assert_eq!(
        w.exec(
            owner,
            Command::RetractOrgRole {
                subject: Subject::User(owner)
            }
        ),
        Ok(vec![Event::OrgRoleRetracted(OrgRoleRetracted {
            subject: Subject::User(owner),
            role_id: OWNER
        })])
    );
    assert_eq!(
        w.org.org_grants(owner),
        vec![BindingSource::Group {
            role: OWNER,
            group: owners
        }]
    );

    for cmd in [
        Command::DeleteGroup { group: owners },
        change_members(owners, &[], &[owner]),
        Command::AssignOrgRole {
            subject: Subject::Group(owners),
            role: MEMBER,
        },
        Command::RetractOrgRole {
            subject: Subject::Group(owners),
        },
        Command::RemoveUser { user: owner },
    ] {
        assert_eq!(w.exec(owner, cmd), Err(DomainError::LastOwner));
    }

    // With a second member in the group, the first may leave.
    assert_eq!(
        w.exec(owner, change_members(owners, &[m], &[])),
        Ok(vec![Event::GroupMemberAdded(GroupMemberAdded {
            group_id: owners,
            user_id: m
        })])
    );
    assert_eq!(
        w.exec(m, change_members(owners, &[], &[owner])),
        Ok(vec![Event::GroupMemberRemoved(GroupMemberRemoved {
            group_id: owners,
            user_id: owner
        })])
    );
    assert_eq!(w.org.owners().into_iter().collect::<Vec<_>>(), vec![m]);
    assert_eq!(
        w.exec(m, change_members(owners, &[], &[m])),
        Err(DomainError::LastOwner)
    );
}

// ---- only direct bindings can be retracted -------------------------------------

#[test]
fn an_organization_role_from_a_group_cannot_be_retracted() {
    let mut w = World::new();
    let owner = w.owner;
    let u = w.invite("u@acme.test", MEMBER);
    let g = w.group("ops", &[u]);
    // The direct role goes; the group's stays.
    assert_eq!(
        w.exec(
            owner,
            Command::RetractOrgRole {
                subject: Subject::User(u)
            }
        ),
        Ok(vec![Event::OrgRoleRetracted(OrgRoleRetracted {
            subject: Subject::User(u),
            role_id: MEMBER
        })])
    );
    assert_eq!(
        w.exec(
            owner,
            Command::RetractOrgRole {
                subject: Subject::User(u)
            }
        ),
        Err(DomainError::NotDirectlyAssigned {
            sources: vec![BindingSource::Group {
                role: MEMBER,
                group: g
            }]
        })
    );
}

#[test]
fn a_project_role_from_a_group_cannot_be_unbound() {
    let mut w = World::new();
    let owner = w.owner;
    let u = w.invite("u@acme.test", MEMBER);
    let g = w.group("ops", &[u]);
    let web = w.project(owner, "web");
    w.bind(web, Subject::Group(g), CONTRIBUTOR);
    assert_eq!(
        w.exec(
            owner,
            Command::UnbindProjectRole {
                project: web,
                subject: Subject::User(u)
            }
        ),
        Err(DomainError::NotDirectlyAssigned {
            sources: vec![BindingSource::Group {
                role: CONTRIBUTOR,
                group: g
            }]
        })
    );
    // The group's own binding is direct for the group.
    assert_eq!(
        w.exec(
            owner,
            Command::UnbindProjectRole {
                project: web,
                subject: Subject::Group(g)
            }
        ),
        Ok(vec![Event::ProjectRoleUnbound(ProjectRoleUnbound {
            project_id: web,
            subject: Subject::Group(g),
            role_id: CONTRIBUTOR
        })])
    );
    assert!(w.org.project_grants(u, web).is_empty());
    assert_eq!(
        w.exec(
            owner,
            Command::UnbindProjectRole {
                project: web,
                subject: Subject::Group(g)
            }
        ),
        Err(DomainError::NotDirectlyAssigned { sources: vec![] })
    );
}

#[test]
fn a_project_role_from_an_organization_role_cannot_be_unbound() {
    let mut w = World::new();
    let owner = w.owner;
    let admin = w.invite("admin@acme.test", ORG_ADMIN);
    let web = w.project(owner, "web");
    assert_eq!(
        w.exec(
            owner,
            Command::UnbindProjectRole {
                project: web,
                subject: Subject::User(admin)
            }
        ),
        Err(DomainError::NotDirectlyAssigned {
            sources: vec![BindingSource::OrganizationRole {
                role: PROJECT_ADMIN,
                org_role: ORG_ADMIN
            }]
        })
    );
    assert!(w.can(admin, "project.delete", Some(web)));
}

#[test]
fn a_project_role_from_repository_access_cannot_be_unbound() {
    let mut w = World::new();
    let owner = w.owner;
    let u = w.invite("u@acme.test", MEMBER);
    let web = w.project(owner, "web");
    w.repo(web, u, Some(RepoAccess::Write));
    assert_eq!(
        w.exec(
            owner,
            Command::UnbindProjectRole {
                project: web,
                subject: Subject::User(u)
            }
        ),
        Err(DomainError::NotDirectlyAssigned {
            sources: vec![BindingSource::Repository {
                role: CONTRIBUTOR,
                access: RepoAccess::Write
            }]
        })
    );
    // Losing the access is how that role goes.
    assert_eq!(
        w.exec(
            owner,
            Command::SetRepositoryAccess {
                project: web,
                user: u,
                access: None
            }
        ),
        Ok(vec![Event::RepositoryAccessRevoked(
            RepositoryAccessRevoked {
                project_id: web,
                user_id: u,
                access: RepoAccess::Write
            }
        )])
    );
    assert!(w.org.project_grants(u, web).is_empty());
}

#[test]
fn not_directly_assigned_names_every_actual_source() {
    let mut w = World::new();
    let owner = w.owner;
    let u = w.invite("u@acme.test", ORG_ADMIN);
    let g = w.group("ops", &[u]);
    let web = w.project(owner, "web");
    w.bind(web, Subject::Group(g), CONTRIBUTOR);
    w.repo(web, u, Some(RepoAccess::Read));
    assert_eq!(
        w.exec(
            owner,
            Command::UnbindProjectRole {
                project: web,
                subject: Subject::User(u)
            }
        ),
        Err(DomainError::NotDirectlyAssigned {
            sources: vec![
                BindingSource::Group {
                    role: CONTRIBUTOR,
                    group: g
                },
                BindingSource::OrganizationRole {
                    role: PROJECT_ADMIN,
                    org_role: ORG_ADMIN
                },
                BindingSource::Repository {
                    role: READER,
                    access: RepoAccess::Read
                },
            ]
        })
    );
}

#[test]
fn unbinding_a_direct_binding_keeps_the_other_sources() {
    let mut w = World::new();
    let owner = w.owner;
    let u = w.invite("u@acme.test", MEMBER);
    let g = w.group("ops", &[u]);
    let web = w.project(owner, "web");
    w.bind(web, Subject::User(u), PROJECT_ADMIN);
    w.bind(web, Subject::Group(g), READER);
    w.repo(web, u, Some(RepoAccess::Admin));
    assert_eq!(
        w.org.project_grants(u, web),
        vec![
            BindingSource::Direct {
                role: PROJECT_ADMIN
            },
            BindingSource::Group {
                role: READER,
                group: g
            },
            BindingSource::Repository {
                role: CONTRIBUTOR,
                access: RepoAccess::Admin
            },
        ]
    );
    assert_eq!(
        w.exec(
            owner,
            Command::UnbindProjectRole {
                project: web,
                subject: Subject::User(u)
            }
        ),
        Ok(vec![Event::ProjectRoleUnbound(ProjectRoleUnbound {
            project_id: web,
            subject: Subject::User(u),
            role_id: PROJECT_ADMIN
        })])
    );
    assert_eq!(
        w.org.project_grants(u, web),
        vec![
            BindingSource::Group {
                role: READER,
                group: g
            },
            BindingSource::Repository {
                role: CONTRIBUTOR,
                access: RepoAccess::Admin
            },
        ]
    );
    assert!(!w.can(u, ACCESS_MANAGE, Some(web)));
    assert!(w.can(u, "project.job.rerun", Some(web)));
}

// ---- project roles only for members ------------------------------------------

#[test]
fn project_roles_are_only_given_to_members() {
    let mut w = World::new();
    let owner = w.owner;
    let gone = w.invite("gone@acme.test", MEMBER);
    let web = w.project(owner, "web");
    w.exec(owner, Command::RemoveUser { user: gone }).unwrap();
    let stranger = UserId::new();

    for u in [gone, stranger] {
        assert_eq!(
            w.exec(owner, bind(web, Subject::User(u), READER)),
            Err(DomainError::NotAMember(u.to_string()))
        );
        assert_eq!(
            w.exec(
                owner,
                Command::SetRepositoryAccess {
                    project: web,
                    user: u,
                    access: Some(RepoAccess::Read)
                }
            ),
            Err(DomainError::NotAMember(u.to_string()))
        );
    }
    let ghost_group = GroupId::new();
    assert_eq!(
        w.exec(owner, bind(web, Subject::Group(ghost_group), READER)),
        Err(DomainError::GroupNotFound(ghost_group.to_string()))
    );
}

#[test]
fn repository_access_counts_only_for_users_with_an_organization_role() {
    let mut w = World::new();
    let owner = w.owner;
    let u = w.invite("u@acme.test", MEMBER);
    let web = w.project(owner, "web");
    w.repo(web, u, Some(RepoAccess::Write));
    assert_eq!(
        w.org.project_grants(u, web),
        vec![BindingSource::Repository {
            role: CONTRIBUTOR,
            access: RepoAccess::Write
        }]
    );
    assert!(w.can(u, "project.job.rerun", Some(web)));

    w.exec(
        owner,
        Command::RetractOrgRole {
            subject: Subject::User(u),
        },
    )
    .unwrap();
    assert!(!w.org.has_org_role(u));
    assert_eq!(w.org.project_grants(u, web), vec![]);
    assert!(!w.can(u, "project.view", Some(web)));

    // A group role is an organization role too.
    let g = w.group("ops", &[u]);
    assert_eq!(
        w.org.project_grants(u, web),
        vec![BindingSource::Repository {
            role: CONTRIBUTOR,
            access: RepoAccess::Write
        }]
    );
    assert_eq!(
        w.org.org_grants(u),
        vec![BindingSource::Group {
            role: MEMBER,
            group: g
        }]
    );
}

// ---- removing a user -----------------------------------------------------------

#[test]
fn removing_a_user_who_owns_projects_is_refused_listing_them() {
    let mut w = World::new();
    let owner = w.owner;
    let m = w.invite("m@acme.test", MEMBER);
    let zeta = w.project(m, "zeta");
    let alpha = w.project(m, "alpha");
    w.project(owner, "beta");
    assert_eq!(
        w.exec(owner, Command::RemoveUser { user: m }),
        Err(DomainError::UserOwnsProjects {
            projects: vec![
                OwnedProject {
                    project_id: alpha,
                    name: "alpha".into()
                },
                OwnedProject {
                    project_id: zeta,
                    name: "zeta".into()
                },
            ]
        })
    );
}

#[test]
fn removal_after_transfer_retracts_every_binding_membership_and_token() {
    let mut w = World::new();
    let owner = w.owner;
    let m = w.invite("m@acme.test", ORG_ADMIN);
    let g = w.group("ops", &[m]);
    let h = w.group("dev", &[m, owner]);
    let alpha = w.project(m, "alpha");
    let beta = w.project(owner, "beta");
    w.bind(beta, Subject::User(m), READER);
    w.bind(beta, Subject::Group(g), CONTRIBUTOR);
    w.repo(beta, m, Some(RepoAccess::Write));
    let token = TokenId::new();
    w.exec(
        m,
        Command::IssueApiToken {
            token_id: token,
            name: "ci".into(),
            expires_at: None,
        },
    )
    .unwrap();

    assert_eq!(
        w.exec(
            owner,
            Command::TransferProject {
                project: alpha,
                to: owner
            }
        ),
        Ok(vec![Event::ProjectOwnershipTransferred(
            ProjectOwnershipTransferred {
                project_id: alpha,
                from: m,
                to: owner
            }
        )])
    );
    assert_eq!(
        w.exec(owner, Command::RemoveUser { user: m }),
        Ok(vec![Event::UserRemoved(UserRemoved {
            user_id: m,
            username: "m".into()
        })])
    );

    let org = &w.org;
    assert!(!org.users.contains_key(&m));
    assert!(org.user_by_email("m@acme.test").is_none());
    assert!(!org.username_taken("m"));
    assert!(!org.org_roles.contains_key(&m));
    assert!(org.org_grants(m).is_empty());
    assert!(org.groups.values().all(|group| !group.members.contains(&m)));
    assert!(org.groups_of(m).is_empty());
    assert_eq!(org.groups[&h].members.iter().collect::<Vec<_>>(), [&owner]);
    for p in [alpha, beta] {
        assert!(!org.projects[&p].user_bindings.contains_key(&m));
        assert!(!org.projects[&p].repo_access.contains_key(&m));
        assert!(org.project_grants(m, p).is_empty());
    }
    assert!(org.tokens.values().all(|t| t.user_id != m));
    assert!(!org.tokens.contains_key(&token));
    // The group's own binding is the group's, not the removed user's.
    assert_eq!(org.projects[&beta].group_bindings[&g], CONTRIBUTOR);
    // The email is free again.
    let again = w.invite("m@acme.test", MEMBER);
    assert_eq!(w.org.username(again), "m");
}

// ---- inviting ------------------------------------------------------------------

#[test]
fn inviting_needs_people_invite() {
    let mut w = World::new();
    let member = w.invite("member@acme.test", MEMBER);
    let admin = w.invite("admin@acme.test", ORG_ADMIN);
    let id = UserId::new();
    let cmd = Command::InvitePeople {
        people: vec![person(id, "new@acme.test")],
        role: None,
    };
    assert_eq!(
        w.exec(member, cmd.clone()),
        forbidden("organization.people.invite")
    );
    assert_eq!(
        w.exec(admin, cmd),
        Ok(vec![
            Event::UserInvited(UserInvited {
                user_id: id,
                email: "new@acme.test".into(),
                username: "new".into()
            }),
            Event::OrgRoleAssigned(OrgRoleAssigned {
                subject: Subject::User(id),
                role_id: MEMBER
            }),
        ])
    );
}

#[test]
fn invitations_refuse_taken_emails_and_usernames() {
    let mut w = World::new();
    let owner = w.owner;
    let invite = |people: Vec<NewPerson>| Command::InvitePeople { people, role: None };
    // Emails are compared case-insensitively.
    assert_eq!(
        w.exec(
            owner,
            invite(vec![person(UserId::new(), "OWNER@acme.test")])
        ),
        Err(DomainError::EmailTaken("OWNER@acme.test".into()))
    );
    assert_eq!(
        w.exec(
            owner,
            invite(vec![
                person(UserId::new(), "a@acme.test"),
                person(UserId::new(), "A@acme.test"),
            ])
        ),
        Err(DomainError::EmailTaken("A@acme.test".into()))
    );
    assert_eq!(
        w.exec(
            owner,
            invite(vec![NewPerson {
                username: Some("Owner".into()),
                ..person(UserId::new(), "x@acme.test")
            }])
        ),
        Err(DomainError::UsernameTaken("Owner".into()))
    );
    assert_eq!(
        w.exec(
            owner,
            invite(vec![
                NewPerson {
                    username: Some("sam".into()),
                    ..person(UserId::new(), "x@acme.test")
                },
                NewPerson {
                    username: Some("sam".into()),
                    ..person(UserId::new(), "y@acme.test")
                },
            ])
        ),
        Err(DomainError::UsernameTaken("sam".into()))
    );
}

#[test]
fn invitations_refuse_malformed_emails() {
    let mut w = World::new();
    let owner = w.owner;
    for (email, why) in [
        ("alice", "missing @"),
        ("@acme.test", "the part before @ must be 1 to 64 characters"),
        ("a@@acme.test", "more than one @"),
        ("a b@acme.test", "invalid characters before @"),
        ("alice@acme..test", "invalid domain"),
        ("alice@", "invalid domain"),
    ] {
        assert_eq!(
            w.exec(
                owner,
                Command::InvitePeople {
                    people: vec![person(UserId::new(), email)],
                    role: None
                }
            ),
            invalid(
                "people[0].email",
                "invalid_email",
                &format!("{email:?} is not a valid email: {why}")
            ),
            "{email}"
        );
    }
}

#[test]
fn inferred_usernames_are_made_unique() {
    let mut w = World::new();
    let owner = w.owner;
    let (a, b, c) = (UserId::new(), UserId::new(), UserId::new());
    let events = w
        .exec(
            owner,
            Command::InvitePeople {
                people: vec![person(a, "alice@a.com"), person(b, "alice@b.com")],
                role: None,
            },
        )
        .unwrap();
    let usernames: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::UserInvited(u) => Some((u.user_id, u.username.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(usernames, [(a, "alice"), (b, "alice2")]);
    assert_eq!(
        w.exec(
            owner,
            Command::InvitePeople {
                people: vec![person(c, "Alice@c.com")],
                role: None
            }
        ),
        Ok(vec![
            Event::UserInvited(UserInvited {
                user_id: c,
                email: "Alice@c.com".into(),
                username: "alice3".into()
            }),
            Event::OrgRoleAssigned(OrgRoleAssigned {
                subject: Subject::User(c),
                role_id: MEMBER
            }),
        ])
    );
}

#[test]
fn invitations_are_all_or_nothing() {
    let mut w = World::new();
    let owner = w.owner;
    let before = w.org.clone();
    let good = person(UserId::new(), "good@acme.test");
    assert_eq!(
        w.exec(
            owner,
            Command::InvitePeople {
                people: vec![
                    good.clone(),
                    person(UserId::new(), "bad"),
                    person(UserId::new(), "worse@"),
                ],
                role: None
            }
        ),
        Err(DomainError::Invalid(vec![
            FieldError::new(
                "people[1].email",
                "invalid_email",
                "\"bad\" is not a valid email: missing @"
            ),
            FieldError::new(
                "people[2].email",
                "invalid_email",
                "\"worse@\" is not a valid email: invalid domain"
            ),
        ]))
    );
    assert_eq!(
        w.exec(
            owner,
            Command::InvitePeople {
                people: vec![good.clone(), person(UserId::new(), "owner@acme.test")],
                role: None
            }
        ),
        Err(DomainError::EmailTaken("owner@acme.test".into()))
    );
    assert_eq!(w.org, before);
    assert!(w.org.user_by_email("good@acme.test").is_none());
    assert_eq!(
        w.exec(
            owner,
            Command::InvitePeople {
                people: vec![],
                role: None
            }
        ),
        invalid(
            "people",
            "invalid_count",
            "invite 1 to 1000 people at a time"
        )
    );
}

// ---- passwords -----------------------------------------------------------------

#[test]
fn resetting_a_password_needs_people_manage_or_being_that_user() {
    let mut w = World::new();
    let member = w.invite("member@acme.test", MEMBER);
    let other = w.invite("other@acme.test", MEMBER);
    let admin = w.invite("admin@acme.test", ORG_ADMIN);
    let reset = |user| Command::ResetPassword { user };
    let done = |user_id| {
        Ok(vec![Event::UserPasswordReset(UserPasswordReset {
            user_id,
        })])
    };

    assert_eq!(w.exec(member, reset(other)), forbidden(PEOPLE_MANAGE));
    assert_eq!(w.exec(member, reset(member)), done(member));
    assert_eq!(w.exec(admin, reset(other)), done(other));
    let stranger = UserId::new();
    assert_eq!(
        w.exec(admin, reset(stranger)),
        Err(DomainError::UserNotFound(stranger.to_string()))
    );
}

// ---- groups --------------------------------------------------------------------

#[test]
fn group_commands_need_people_manage() {
    let mut w = World::new();
    let member = w.invite("member@acme.test", MEMBER);
    let admin = w.invite("admin@acme.test", ORG_ADMIN);
    let g = w.group("ops", &[]);

    assert_eq!(
        w.exec(member, create_group(GroupId::new(), "dev", &[])),
        forbidden(PEOPLE_MANAGE)
    );
    assert_eq!(
        w.exec(member, change_members(g, &[member], &[])),
        forbidden(PEOPLE_MANAGE)
    );
    assert_eq!(
        w.exec(member, Command::DeleteGroup { group: g }),
        forbidden(PEOPLE_MANAGE)
    );

    let dev = GroupId::new();
    assert_eq!(
        w.exec(admin, create_group(dev, "dev", &[member])),
        Ok(vec![Event::GroupCreated(GroupCreated {
            group_id: dev,
            name: "dev".into(),
            description: "the dev team".into(),
            members: vec![member],
            role_id: MEMBER,
        })])
    );
    assert_eq!(w.org.groups[&dev].role, Some(MEMBER));
    assert_eq!(
        w.exec(
            admin,
            Command::ChangeGroup {
                group: dev,
                name: Some("developers".into()),
                description: None,
                add_members: vec![admin],
                remove_members: vec![member],
            }
        ),
        Ok(vec![
            Event::GroupChanged(GroupChanged {
                group_id: dev,
                name: Some("developers".into()),
                description: None
            }),
            Event::GroupMemberAdded(GroupMemberAdded {
                group_id: dev,
                user_id: admin
            }),
            Event::GroupMemberRemoved(GroupMemberRemoved {
                group_id: dev,
                user_id: member
            }),
        ])
    );
    assert_eq!(
        w.exec(admin, Command::DeleteGroup { group: dev }),
        Ok(vec![Event::GroupDeleted(GroupDeleted { group_id: dev })])
    );
    assert!(w.org.groups_of(admin).is_empty());
}

#[test]
fn group_name_and_description_are_required() {
    let mut w = World::new();
    let owner = w.owner;
    let cmd = |name: &str, description: &str| Command::CreateGroup {
        group_id: GroupId::new(),
        name: name.into(),
        description: description.into(),
        members: vec![],
    };
    assert_eq!(
        w.exec(owner, cmd("  ", "the team")),
        invalid("name", "empty", "name must not be empty")
    );
    assert_eq!(
        w.exec(owner, cmd("ops", "")),
        invalid("description", "empty", "description must not be empty")
    );
    let both = w.exec(owner, cmd("", " "));
    assert_eq!(
        both,
        Err(DomainError::Invalid(vec![
            FieldError::new("name", "empty", "name must not be empty"),
            FieldError::new("description", "empty", "description must not be empty"),
        ]))
    );
    assert_eq!(both.unwrap_err().code(), "validation_failed");
    let g = w.group("ops", &[]);
    assert_eq!(
        w.exec(
            owner,
            Command::ChangeGroup {
                group: g,
                name: None,
                description: Some("".into()),
                add_members: vec![],
                remove_members: vec![],
            }
        ),
        invalid("description", "empty", "description must not be empty")
    );
}

#[test]
fn group_names_are_unique() {
    let mut w = World::new();
    let owner = w.owner;
    w.group("ops", &[]);
    let dev = w.group("dev", &[]);
    assert_eq!(
        w.exec(owner, create_group(GroupId::new(), "OPS", &[])),
        Err(DomainError::GroupNameTaken("OPS".into()))
    );
    assert_eq!(
        w.exec(
            owner,
            Command::ChangeGroup {
                group: dev,
                name: Some("Ops".into()),
                description: None,
                add_members: vec![],
                remove_members: vec![],
            }
        ),
        Err(DomainError::GroupNameTaken("Ops".into()))
    );
}

#[test]
fn group_members_must_be_in_the_organization() {
    let mut w = World::new();
    let owner = w.owner;
    let u = w.invite("u@acme.test", MEMBER);
    let stranger = UserId::new();
    assert_eq!(
        w.exec(owner, create_group(GroupId::new(), "ops", &[u, stranger])),
        Err(DomainError::UserNotFound(stranger.to_string()))
    );
    let g = w.group("ops", &[u]);
    assert_eq!(
        w.exec(owner, change_members(g, &[stranger], &[])),
        Err(DomainError::UserNotFound(stranger.to_string()))
    );
    assert_eq!(
        w.exec(owner, change_members(g, &[u], &[])),
        Ok(vec![]),
        "adding a member again changes nothing"
    );
}

#[test]
fn group_members_get_the_groups_project_bindings() {
    let mut w = World::new();
    let owner = w.owner;
    let u = w.invite("u@acme.test", MEMBER);
    let v = w.invite("v@acme.test", MEMBER);
    let g = w.group("ops", &[u]);
    let web = w.project(owner, "web");
    assert_eq!(
        w.exec(owner, bind(web, Subject::Group(g), CONTRIBUTOR)),
        Ok(bound(web, Subject::Group(g), CONTRIBUTOR))
    );
    assert_eq!(
        w.org.project_grants(u, web),
        vec![BindingSource::Group {
            role: CONTRIBUTOR,
            group: g
        }]
    );
    assert!(w.can(u, "project.job.rerun", Some(web)));
    assert!(!w.can(v, "project.view", Some(web)));

    // Joining the group brings the binding; leaving takes it away.
    w.exec(owner, change_members(g, &[v], &[u])).unwrap();
    assert!(w.org.project_grants(u, web).is_empty());
    assert_eq!(
        w.org.project_grants(v, web),
        vec![BindingSource::Group {
            role: CONTRIBUTOR,
            group: g
        }]
    );
    // Deleting the group takes it from everyone.
    w.exec(owner, Command::DeleteGroup { group: g }).unwrap();
    assert!(w.org.project_grants(v, web).is_empty());
}

#[test]
fn group_membership_cannot_escalate() {
    let mut w = World::new();
    let owner = w.owner;
    // Staff manage people and hold what Member grants, nothing on projects.
    let staff_role = w.role(RoleSpec {
        permissions: names_of(&w.org, MEMBER, &[PEOPLE_MANAGE], &[]),
        ..spec("Staff", Scope::Organization, &[])
    });
    let thin_role = w.role(spec("Thin", Scope::Organization, &[PEOPLE_MANAGE]));
    let staff = w.invite("staff@acme.test", staff_role);
    let thin = w.invite("thin@acme.test", thin_role);
    let deployers = w.group("deployers", &[]);
    let web = w.project(owner, "web");
    w.bind(web, Subject::Group(deployers), PROJECT_ADMIN);

    // Joining `deployers` would grant Admin on `web`, which Staff lack.
    assert_eq!(
        w.exec(staff, change_members(deployers, &[staff], &[])),
        Err(DomainError::Escalation {
            role: "Admin".into(),
            missing: catalog_except(Scope::Project, &[]),
        })
    );
    assert!(!w.can(staff, "project.delete", Some(web)));

    // A new group's members get Member, which Thin lacks.
    let missing: Vec<&'static str> = w
        .org
        .role_permissions(MEMBER)
        .iter()
        .filter(|p| p.name() != "organization.view")
        .map(|p| p.name())
        .collect();
    assert_eq!(
        w.exec(thin, create_group(GroupId::new(), "mine", &[thin])),
        Err(DomainError::Escalation {
            role: "Member".into(),
            missing: missing.clone(),
        })
    );
    assert_eq!(
        w.exec(thin, change_members(deployers, &[thin], &[])),
        Err(DomainError::Escalation {
            role: "Member".into(),
            missing,
        })
    );
    // An empty group needs nothing more than people.manage.
    let empty = GroupId::new();
    assert_eq!(
        w.exec(thin, create_group(empty, "empty", &[])),
        Ok(vec![Event::GroupCreated(GroupCreated {
            group_id: empty,
            name: "empty".into(),
            description: "the empty team".into(),
            members: vec![],
            role_id: MEMBER,
        })])
    );
    // Staff may add people to a group whose roles they hold.
    let plain = w.group("plain", &[]);
    assert_eq!(
        w.exec(staff, change_members(plain, &[thin], &[])),
        Ok(vec![Event::GroupMemberAdded(GroupMemberAdded {
            group_id: plain,
            user_id: thin
        })])
    );
}

// ---- custom roles --------------------------------------------------------------

#[test]
fn custom_roles_need_custom_roles_manage() {
    let mut w = World::new();
    let admin = w.invite("admin@acme.test", ORG_ADMIN);
    let ops = w.role(spec("Ops", Scope::Organization, &[]));
    let no = forbidden("organization.custom_roles.manage");
    assert_eq!(
        w.exec(
            admin,
            Command::CreateRole {
                role_id: RoleId::new(),
                spec: spec("Dev", Scope::Project, &[])
            }
        ),
        no
    );
    assert_eq!(
        w.exec(
            admin,
            Command::ChangeRole {
                role: ops,
                spec: spec("Ops2", Scope::Organization, &[])
            }
        ),
        no
    );
    assert_eq!(w.exec(admin, Command::DeleteRole { role: ops }), no);
    let owner = w.owner;
    assert_eq!(
        w.exec(owner, Command::DeleteRole { role: ops }),
        Ok(vec![Event::CustomRoleDeleted(CustomRoleDeleted {
            role_id: ops
        })])
    );
    assert!(!w.org.roles.contains_key(&ops));
}

#[test]
fn role_names_are_unique_per_scope() {
    let mut w = World::new();
    let owner = w.owner;
    w.role(spec("Ops", Scope::Organization, &[]));
    let create = |s: RoleSpec| Command::CreateRole {
        role_id: RoleId::new(),
        spec: s,
    };
    assert_eq!(
        w.exec(owner, create(spec("ops", Scope::Organization, &[]))),
        Err(DomainError::RoleNameTaken {
            name: "ops".into(),
            scope: Scope::Organization
        })
    );
    // Predefined names count.
    assert_eq!(
        w.exec(owner, create(spec("Contributor", Scope::Project, &[]))),
        Err(DomainError::RoleNameTaken {
            name: "Contributor".into(),
            scope: Scope::Project
        })
    );
    // The same name in the other scope is fine.
    let id = RoleId::new();
    assert_eq!(
        w.exec(
            owner,
            Command::CreateRole {
                role_id: id,
                spec: spec("Ops", Scope::Project, &[])
            }
        ),
        Ok(vec![Event::CustomRoleCreated(CustomRoleCreated {
            role_id: id,
            definition: CustomRoleDefinition {
                name: "Ops".into(),
                scope: Scope::Project,
                description: String::new(),
                permissions: PermissionSet::from_names(&["project.view"]),
                inherits: vec![],
                project_role: None,
            }
        })])
    );
    assert_eq!(
        w.org.role_by_name(Scope::Project, "ops").map(|r| r.id),
        Some(id)
    );
    let id = RoleId::new();
    assert_eq!(
        w.exec(
            owner,
            Command::CreateRole {
                role_id: id,
                spec: spec("Contributor", Scope::Organization, &[])
            }
        ),
        Ok(vec![Event::CustomRoleCreated(CustomRoleCreated {
            role_id: id,
            definition: CustomRoleDefinition {
                name: "Contributor".into(),
                scope: Scope::Organization,
                description: String::new(),
                permissions: PermissionSet::from_names(&["organization.view"]),
                inherits: vec![],
                project_role: None,
            }
        })])
    );
}

#[test]
fn role_permissions_must_be_known_and_of_the_roles_scope() {
    let mut w = World::new();
    let owner = w.owner;
    let create = |s: RoleSpec| Command::CreateRole {
        role_id: RoleId::new(),
        spec: s,
    };
    let unknown = w.exec(
        owner,
        create(spec("X", Scope::Organization, &["organization.nope"])),
    );
    assert_eq!(
        unknown,
        Err(DomainError::UnknownPermission("organization.nope".into()))
    );
    assert_eq!(unknown.unwrap_err().code(), "unknown_permission");
    assert_eq!(
        w.exec(
            owner,
            create(spec(
                "X",
                Scope::Organization,
                &["organization.view", "project.view"]
            ))
        ),
        Err(DomainError::RoleScopeMismatch {
            what: "permission project.view".into(),
            expected: Scope::Organization,
            actual: Scope::Project
        })
    );
    assert_eq!(
        w.exec(owner, create(spec("X", Scope::Project, &[PEOPLE_MANAGE]))),
        Err(DomainError::RoleScopeMismatch {
            what: format!("permission {PEOPLE_MANAGE}"),
            expected: Scope::Project,
            actual: Scope::Organization
        })
    );
}

#[test]
fn the_view_permission_of_the_scope_is_always_added() {
    let mut w = World::new();
    let owner = w.owner;
    let (p, o) = (RoleId::new(), RoleId::new());
    assert_eq!(
        w.exec(
            owner,
            Command::CreateRole {
                role_id: p,
                spec: RoleSpec {
                    description: "reruns jobs".into(),
                    ..spec("Rerunner", Scope::Project, &["project.job.rerun"])
                }
            }
        ),
        Ok(vec![Event::CustomRoleCreated(CustomRoleCreated {
            role_id: p,
            definition: CustomRoleDefinition {
                name: "Rerunner".into(),
                scope: Scope::Project,
                description: "reruns jobs".into(),
                permissions: PermissionSet::from_names(&["project.view", "project.job.rerun"]),
                inherits: vec![],
                project_role: None,
            }
        })])
    );
    assert_eq!(
        w.exec(
            owner,
            Command::CreateRole {
                role_id: o,
                spec: spec("Nobody", Scope::Organization, &[])
            }
        ),
        Ok(vec![Event::CustomRoleCreated(CustomRoleCreated {
            role_id: o,
            definition: CustomRoleDefinition {
                name: "Nobody".into(),
                scope: Scope::Organization,
                description: String::new(),
                permissions: PermissionSet::from_names(&["organization.view"]),
                inherits: vec![],
                project_role: None,
            }
        })])
    );
}

#[test]
fn an_organization_role_may_grant_a_project_role_on_every_project() {
    let mut w = World::new();
    let owner = w.owner;
    let ci = w.role(RoleSpec {
        project_role: Some(CONTRIBUTOR),
        ..spec("CI", Scope::Organization, &[])
    });
    let u = w.invite("u@acme.test", ci);
    let web = w.project(owner, "web");
    let api = w.project(owner, "api");
    for p in [web, api] {
        assert_eq!(
            w.org.project_grants(u, p),
            vec![BindingSource::OrganizationRole {
                role: CONTRIBUTOR,
                org_role: ci
            }]
        );
        assert!(w.can(u, "project.job.rerun", Some(p)));
        assert!(!w.can(u, ACCESS_MANAGE, Some(p)));
    }
    // Only organization roles do.
    assert_eq!(
        w.exec(
            owner,
            Command::CreateRole {
                role_id: RoleId::new(),
                spec: RoleSpec {
                    project_role: Some(READER),
                    ..spec("P", Scope::Project, &[])
                }
            }
        ),
        invalid(
            "project_role",
            "role_scope_mismatch",
            "only organization roles grant a project role on every project"
        )
    );
    // And it must name a project role.
    assert_eq!(
        w.exec(
            owner,
            Command::CreateRole {
                role_id: RoleId::new(),
                spec: RoleSpec {
                    project_role: Some(MEMBER),
                    ..spec("O", Scope::Organization, &[])
                }
            }
        ),
        Err(DomainError::RoleScopeMismatch {
            what: "role Member".into(),
            expected: Scope::Project,
            actual: Scope::Organization
        })
    );
}

#[test]
fn roles_inherit_only_roles_of_their_scope() {
    let mut w = World::new();
    let owner = w.owner;
    assert_eq!(
        w.exec(
            owner,
            Command::CreateRole {
                role_id: RoleId::new(),
                spec: RoleSpec {
                    inherits: vec![CONTRIBUTOR],
                    ..spec("X", Scope::Organization, &[])
                }
            }
        ),
        Err(DomainError::RoleScopeMismatch {
            what: "role Contributor".into(),
            expected: Scope::Organization,
            actual: Scope::Project
        })
    );
    let missing = RoleId::new();
    assert_eq!(
        w.exec(
            owner,
            Command::CreateRole {
                role_id: RoleId::new(),
                spec: RoleSpec {
                    inherits: vec![missing],
                    ..spec("X", Scope::Project, &[])
                }
            }
        ),
        Err(DomainError::RoleNotFound(missing.to_string()))
    );
    let deployer = w.role(RoleSpec {
        inherits: vec![READER],
        ..spec(
            "Deployer",
            Scope::Project,
            &["project.deployment_targets.manage"],
        )
    });
    let u = w.invite("u@acme.test", MEMBER);
    let web = w.project(owner, "web");
    w.bind(web, Subject::User(u), deployer);
    assert!(w.can(u, "project.deployment_targets.manage", Some(web)));
    assert!(w.can(u, "project.insights.view", Some(web)), "inherited");
    assert!(!w.can(u, "project.job.rerun", Some(web)));
}

#[test]
fn inheritance_cycles_are_refused() {
    let mut w = World::new();
    let owner = w.owner;
    let a = w.role(spec("A", Scope::Project, &[]));
    let b = w.role(RoleSpec {
        inherits: vec![a],
        ..spec("B", Scope::Project, &[])
    });
    let c = w.role(RoleSpec {
        inherits: vec![b],
        ..spec("C", Scope::Project, &[])
    });
    let cycle = w.exec(
        owner,
        Command::ChangeRole {
            role: a,
            spec: RoleSpec {
                inherits: vec![c],
                ..spec("A", Scope::Project, &[])
            },
        },
    );
    assert_eq!(
        cycle,
        Err(DomainError::InheritanceCycle {
            path: vec!["A".into(), "C".into(), "B".into(), "A".into()]
        })
    );
    assert_eq!(cycle.unwrap_err().code(), "role_inheritance_cycle");
    let own = w.exec(
        owner,
        Command::ChangeRole {
            role: a,
            spec: RoleSpec {
                inherits: vec![a],
                ..spec("A", Scope::Project, &[])
            },
        },
    );
    assert_eq!(
        own,
        Err(DomainError::InheritanceCycle {
            path: vec!["A".into(), "A".into()]
        })
    );
    // No cycle: fine.
    assert!(w
        .exec(
            owner,
            Command::ChangeRole {
                role: a,
                spec: RoleSpec {
                    inherits: vec![READER],
                    ..spec("A", Scope::Project, &[])
                },
            },
        )
        .is_ok());
}

#[test]
fn roles_in_use_cannot_be_deleted() {
    let mut w = World::new();
    let owner = w.owner;
    let delete = |role| Command::DeleteRole { role };
    let in_use = |w: &mut World, role: RoleId, needle: &str| {
        let err = w.exec(owner, delete(role)).unwrap_err();
        assert_eq!(err.code(), "role_in_use");
        let DomainError::RoleInUse { role: name, uses } = &err else {
            panic!("expected role_in_use, got {err:?}")
        };
        assert_eq!(*name, w.org.role_name(role));
        assert!(!uses.is_empty());
        assert!(
            uses.iter().any(|u| u.contains(needle)),
            "{uses:?} should mention {needle}"
        );
    };

    // Assigned to a user.
    let ops = w.role(spec("Ops", Scope::Organization, &[]));
    let u = w.invite("u@acme.test", ops);
    in_use(&mut w, ops, "assigned to 1 user(s)");
    w.assign(Subject::User(u), MEMBER);
    // Role of a group.
    let g = w.group("ops team", &[]);
    w.assign(Subject::Group(g), ops);
    in_use(&mut w, ops, "role of group ops team");
    w.assign(Subject::Group(g), MEMBER);
    assert_eq!(
        w.exec(owner, delete(ops)),
        Ok(vec![Event::CustomRoleDeleted(CustomRoleDeleted {
            role_id: ops
        })])
    );

    // Inherited by another role.
    let base = w.role(spec("Base", Scope::Project, &[]));
    let derived = w.role(RoleSpec {
        inherits: vec![base],
        ..spec("Derived", Scope::Project, &[])
    });
    in_use(&mut w, base, "inherited by role Derived");
    // Mapped to: granted on every project by an organization role.
    let mapper = w.role(RoleSpec {
        project_role: Some(derived),
        ..spec("Mapper", Scope::Organization, &[])
    });
    in_use(&mut w, derived, "granted on every project by role Mapper");
    // Bound on a project; in a repository mapping.
    let web = w.project(owner, "web");
    let bound_role = w.role(spec("Bound", Scope::Project, &[]));
    w.bind(web, Subject::User(u), bound_role);
    in_use(&mut w, bound_role, "bound on project web");
    let mapped_role = w.role(spec("Mapped", Scope::Project, &[]));
    w.exec(
        owner,
        Command::SetRepositoryRoleMapping {
            project: web,
            mapping: RepoRoleMapping {
                admin: PROJECT_ADMIN,
                write: CONTRIBUTOR,
                read: mapped_role,
            },
        },
    )
    .unwrap();
    in_use(&mut w, mapped_role, "repository mapping of project web");

    // Once nothing uses them, they go (mapper first, then what it mapped).
    for role in [mapper, derived, base] {
        assert_eq!(
            w.exec(owner, delete(role)),
            Ok(vec![Event::CustomRoleDeleted(CustomRoleDeleted {
                role_id: role
            })])
        );
    }
}

#[test]
fn predefined_roles_cannot_be_changed_or_deleted() {
    let mut w = World::new();
    let owner = w.owner;
    for (role, name, scope) in [
        (OWNER, "Owner", Scope::Organization),
        (ORG_ADMIN, "Admin", Scope::Organization),
        (MEMBER, "Member", Scope::Organization),
        (PROJECT_ADMIN, "Admin", Scope::Project),
        (CONTRIBUTOR, "Contributor", Scope::Project),
        (READER, "Reader", Scope::Project),
    ] {
        assert_eq!(
            w.exec(
                owner,
                Command::ChangeRole {
                    role,
                    spec: spec(name, scope, &[])
                }
            ),
            Err(DomainError::RoleIsPredefined(name.into()))
        );
        assert_eq!(
            w.exec(owner, Command::DeleteRole { role }),
            Err(DomainError::RoleIsPredefined(name.into()))
        );
    }
}

#[test]
fn changing_a_role_cannot_escalate() {
    let mut w = World::new();
    let owner = w.owner;
    // Role admins manage custom roles and hold what Member grants; nothing on
    // projects.
    let role_admin = w.role(RoleSpec {
        permissions: names_of(
            &w.org,
            MEMBER,
            &[
                "organization.custom_roles.view",
                "organization.custom_roles.manage",
            ],
            &[],
        ),
        ..spec("Role admin", Scope::Organization, &[])
    });
    let ra = w.invite("ra@acme.test", role_admin);
    let helper = w.role(spec("Helper", Scope::Organization, &[]));
    let mapper = w.role(RoleSpec {
        project_role: Some(CONTRIBUTOR),
        ..spec("Mapper", Scope::Organization, &[])
    });
    let web = w.project(owner, "web");
    w.invite("h@acme.test", helper);

    // Adding permissions the caller lacks.
    assert_eq!(
        w.exec(
            ra,
            Command::ChangeRole {
                role: helper,
                spec: spec("Helper", Scope::Organization, &[PEOPLE_MANAGE])
            }
        ),
        Err(DomainError::Escalation {
            role: "Helper".into(),
            missing: vec![PEOPLE_MANAGE]
        })
    );
    // Making it grant project Admin on every project, which the caller lacks.
    assert_eq!(
        w.exec(
            ra,
            Command::ChangeRole {
                role: helper,
                spec: RoleSpec {
                    project_role: Some(PROJECT_ADMIN),
                    ..spec("Helper", Scope::Organization, &[])
                }
            }
        ),
        Err(DomainError::Escalation {
            role: "Helper".into(),
            missing: catalog_except(Scope::Project, &[])
        })
    );
    // Or through inheriting an organization role that does.
    assert_eq!(
        w.exec(
            ra,
            Command::ChangeRole {
                role: helper,
                spec: RoleSpec {
                    inherits: vec![mapper],
                    ..spec("Helper", Scope::Organization, &[])
                }
            }
        ),
        Err(DomainError::Escalation {
            role: "Helper".into(),
            missing: catalog_except(
                Scope::Project,
                &["project.access.manage", "project.deployment_targets.manage"]
            )
        })
    );
    // Nor may the caller widen their own role.
    assert_eq!(
        w.exec(
            ra,
            Command::ChangeRole {
                role: role_admin,
                spec: RoleSpec {
                    permissions: names_of(
                        &w.org,
                        MEMBER,
                        &[
                            "organization.custom_roles.view",
                            "organization.custom_roles.manage"
                        ],
                        &[]
                    ),
                    project_role: Some(READER),
                    ..spec("Role admin", Scope::Organization, &[])
                }
            }
        ),
        Err(DomainError::Escalation {
            role: "Role admin".into(),
            missing: catalog_except(Scope::Project, &[])
                .into_iter()
                .filter(|p| w.org.role_permissions(READER).contains(perm(p)))
                .collect()
        })
    );
    assert!(!w.can(ra, "project.view", Some(web)));

    // What the caller holds may be given.
    assert_eq!(
        w.exec(
            ra,
            Command::ChangeRole {
                role: helper,
                spec: RoleSpec {
                    description: "helps".into(),
                    ..spec(
                        "Helper",
                        Scope::Organization,
                        &["organization.secrets.view"]
                    )
                }
            }
        ),
        Ok(vec![Event::CustomRoleChanged(CustomRoleChanged {
            role_id: helper,
            definition: CustomRoleDefinition {
                name: "Helper".into(),
                scope: Scope::Organization,
                description: "helps".into(),
                permissions: PermissionSet::from_names(&[
                    "organization.view",
                    "organization.secrets.view"
                ]),
                inherits: vec![],
                project_role: None,
            }
        })])
    );
}

// ---- project ownership -----------------------------------------------------------

#[test]
fn project_transfer_needs_people_manage_or_ownership() {
    let mut w = World::new();
    let m = w.invite("m@acme.test", MEMBER);
    let x = w.invite("x@acme.test", MEMBER);
    let admin = w.invite("admin@acme.test", ORG_ADMIN);
    let web = w.project(m, "web");
    let transfer = |to| Command::TransferProject { project: web, to };
    let transferred = |from, to| {
        Ok(vec![Event::ProjectOwnershipTransferred(
            ProjectOwnershipTransferred {
                project_id: web,
                from,
                to,
            },
        )])
    };

    assert_eq!(w.exec(x, transfer(x)), forbidden(PEOPLE_MANAGE));
    assert_eq!(w.exec(m, transfer(x)), transferred(m, x));
    assert_eq!(w.org.projects[&web].owner, x);
    // `m` no longer owns it.
    assert_eq!(w.exec(m, transfer(m)), forbidden(PEOPLE_MANAGE));
    assert_eq!(w.exec(admin, transfer(m)), transferred(x, m));
    assert_eq!(w.exec(admin, transfer(m)), Ok(vec![]));
}

#[test]
fn projects_are_only_transferred_to_members() {
    let mut w = World::new();
    let owner = w.owner;
    let m = w.invite("m@acme.test", MEMBER);
    let gone = w.invite("gone@acme.test", MEMBER);
    let web = w.project(m, "web");
    w.exec(owner, Command::RemoveUser { user: gone }).unwrap();
    for to in [gone, UserId::new()] {
        assert_eq!(
            w.exec(m, Command::TransferProject { project: web, to }),
            Err(DomainError::NotAMember(to.to_string()))
        );
    }
    assert_eq!(
        w.exec(
            owner,
            Command::CreateProject {
                project_id: ProjectId::new(),
                name: "api".into(),
                owner: Some(gone)
            }
        ),
        Err(DomainError::NotAMember(gone.to_string()))
    );
}

// ---- the caller --------------------------------------------------------------------

#[test]
fn a_removed_user_cannot_act() {
    let mut w = World::new();
    let owner = w.owner;
    let admin = w.invite("admin@acme.test", ORG_ADMIN);
    let actor = w.actor(admin);
    w.exec(owner, Command::RemoveUser { user: admin }).unwrap();
    assert_eq!(
        w.exec_as(
            &actor,
            Command::InvitePeople {
                people: vec![person(UserId::new(), "n@acme.test")],
                role: None
            }
        ),
        Err(DomainError::UnknownActor)
    );
    assert_eq!(
        w.exec_as(&actor, Command::ResetPassword { user: admin }),
        Err(DomainError::UnknownActor)
    );
    // Nor can someone who never was a member.
    assert_eq!(
        w.exec_as(
            &Actor::user(UserId::new(), "mallory"),
            Command::CreateProject {
                project_id: ProjectId::new(),
                name: "x".into(),
                owner: None
            }
        ),
        Err(DomainError::UnknownActor)
    );
    // Only the system creates organizations, once.
    let create = |actor: &Actor| {
        decide(
            &w.org,
            &Command::CreateOrganization {
                org_id: OrgId::new(),
                name: "other".into(),
                url: None,
                owner: person(UserId::new(), "o@other.test"),
            },
            actor,
        )
    };
    assert_eq!(
        create(&w.actor(owner)),
        forbidden("instance.organizations.create")
    );
    assert_eq!(create(&Actor::system()), Err(DomainError::OrgExists));
    assert_eq!(
        decide(
            &Organization::new(),
            &Command::RemoveUser { user: owner },
            &Actor::system()
        ),
        Err(DomainError::OrgNotFound)
    );
}

// ---- bad input -------------------------------------------------------------------

#[test]
fn bad_input_is_refused_with_a_clear_error_and_no_events() {
    let mut w = World::new();
    let owner = w.owner;
    let before = w.org.clone();
    let long = "x".repeat(101);

    let too_long = w.exec(owner, create_group(GroupId::new(), &long, &[]));
    assert_eq!(
        too_long,
        invalid("name", "too_long", "name must be at most 100 characters")
    );
    assert_eq!(too_long.unwrap_err().code(), "too_long");
    // 100 characters are fine.
    assert!(decide(
        &w.org,
        &create_group(GroupId::new(), &long[..100], &[]),
        &w.actor(owner)
    )
    .is_ok());
    assert_eq!(
        w.exec(
            owner,
            Command::CreateProject {
                project_id: ProjectId::new(),
                name: " ".into(),
                owner: None
            }
        ),
        invalid("name", "empty", "name must not be empty")
    );
    assert_eq!(
        w.exec(
            owner,
            Command::CreateProject {
                project_id: ProjectId::new(),
                name: "a\nb".into(),
                owner: None
            }
        ),
        invalid(
            "name",
            "invalid_characters",
            "name must not contain control characters"
        )
    );
    assert_eq!(
        w.exec(
            owner,
            Command::CreateRole {
                role_id: RoleId::new(),
                spec: spec("", Scope::Project, &[])
            }
        ),
        invalid("name", "empty", "name must not be empty")
    );
    assert_eq!(
        w.exec(
            owner,
            Command::CreateRole {
                role_id: RoleId::new(),
                spec: spec(&long, Scope::Project, &[])
            }
        ),
        invalid("name", "too_long", "name must be at most 100 characters")
    );
    assert_eq!(
        w.exec(
            owner,
            Command::IssueApiToken {
                token_id: TokenId::new(),
                name: "".into(),
                expires_at: None
            }
        ),
        invalid("name", "empty", "name must not be empty")
    );
    assert_eq!(
        w.exec(
            owner,
            Command::InvitePeople {
                people: vec![NewPerson {
                    username: Some("bad name".into()),
                    ..person(UserId::new(), "ok@acme.test")
                }],
                role: None
            }
        ),
        invalid(
            "people[0].username",
            "invalid_username",
            "\"bad name\": a username may contain only letters, digits, '.', '_' and '-'"
        )
    );
    let bad_email = w.exec(
        owner,
        Command::InvitePeople {
            people: vec![person(UserId::new(), "not-an-email")],
            role: None,
        },
    );
    assert_eq!(
        bad_email,
        invalid(
            "people[0].email",
            "invalid_email",
            "\"not-an-email\" is not a valid email: missing @"
        )
    );
    assert_eq!(bad_email.unwrap_err().code(), "invalid_email");
    assert_eq!(w.org, before, "no event was folded in");
}

// ---- Organization::check ---------------------------------------------------------

#[test]
fn check_is_the_union_of_every_source() {
    let mut w = World::new();
    let owner = w.owner;
    let u = w.invite("u@acme.test", MEMBER);
    let g = w.group("ops", &[u]);
    let audit = w.role(spec(
        "Auditor",
        Scope::Organization,
        &["organization.audit_logs.view"],
    ));
    w.assign(Subject::Group(g), audit);
    let web = w.project(owner, "web");
    let api = w.project(owner, "api");
    w.bind(web, Subject::User(u), READER);
    w.bind(web, Subject::Group(g), CONTRIBUTOR);
    w.repo(api, u, Some(RepoAccess::Read));

    // Organization scope: direct Member and the group's Auditor.
    assert!(w.can(u, "organization.projects.create", None));
    assert!(w.can(u, "organization.audit_logs.view", None));
    assert!(!w.can(u, PEOPLE_MANAGE, None));
    // Project scope: Reader direct and Contributor via the group.
    assert!(w.can(u, "project.access.view", Some(web)));
    assert!(w.can(u, "project.job.rerun", Some(web)));
    assert!(!w.can(u, ACCESS_MANAGE, Some(web)));
    // Each project on its own.
    assert!(w.can(u, "project.view", Some(api)));
    assert!(!w.can(u, "project.job.rerun", Some(api)));
    // A project permission needs a project.
    assert!(!w.can(u, "project.view", None));
    assert_eq!(
        w.org.project_permissions(u, web),
        w.org
            .role_permissions(READER)
            .union(w.org.role_permissions(CONTRIBUTOR))
    );
    // The Owner holds everything, on every project.
    for p in Permission::all() {
        let project = (p.scope() == Scope::Project).then_some(web);
        assert!(w.org.check(owner, p, project), "{p}");
    }
}

#[test]
fn nothing_subtracts() {
    let mut w = World::new();
    let owner = w.owner;
    let admin = w.invite("admin@acme.test", ORG_ADMIN);
    let g = w.group("readers", &[admin]);
    let nobody = w.role(spec("Nobody", Scope::Organization, &[]));
    w.assign(Subject::Group(g), nobody);
    let web = w.project(owner, "web");
    let all_project = PermissionSet::all_of(Scope::Project);
    assert_eq!(w.org.project_permissions(admin, web), all_project);
    let org_before = w.org.org_permissions(admin);

    // Lesser roles from more sources take nothing away.
    w.bind(web, Subject::User(admin), READER);
    w.bind(web, Subject::Group(g), READER);
    w.repo(web, admin, Some(RepoAccess::Read));
    assert_eq!(w.org.project_grants(admin, web).len(), 4);
    assert_eq!(w.org.project_permissions(admin, web), all_project);
    assert_eq!(w.org.org_permissions(admin), org_before);
    assert!(w.can(admin, "project.delete", Some(web)));
    assert!(w.can(admin, PEOPLE_MANAGE, None));

    // A removed user holds nothing, whatever the sources were.
    w.exec(owner, Command::RemoveUser { user: admin }).unwrap();
    for p in Permission::all() {
        assert!(!w.org.check(admin, p, Some(web)), "{p}");
    }
}

// ---- deactivation -----------------------------------------------------------

/// Deactivating retracts every role from every source, each as its own
/// event (so the audit log names them), then records the deactivation; the
/// user's projects stay theirs and nothing is granted to them until they
/// are reactivated, with `Member` unless told otherwise.
#[test]
fn deactivation_retracts_every_source_and_blocks_grants() {
    let mut w = World::new();
    let alice = w.invite("alice@acme.test", ORG_ADMIN);
    let web = w.project(alice, "web");
    let api = w.project(w.owner, "api");
    let ops = w.group("ops", &[alice]);
    w.bind(api, Subject::User(alice), READER);
    w.exec(
        w.owner,
        Command::SetRepositoryAccess {
            project: api,
            user: alice,
            access: Some(RepoAccess::Write),
        },
    )
    .unwrap();

    let events = w
        .exec(w.owner, Command::DeactivateUser { user: alice })
        .unwrap();
    assert_eq!(
        events,
        vec![
            Event::OrgRoleRetracted(OrgRoleRetracted {
                subject: Subject::User(alice),
                role_id: ORG_ADMIN,
            }),
            Event::GroupMemberRemoved(GroupMemberRemoved {
                group_id: ops,
                user_id: alice,
            }),
            Event::ProjectRoleUnbound(ProjectRoleUnbound {
                project_id: api,
                subject: Subject::User(alice),
                role_id: READER,
            }),
            Event::RepositoryAccessRevoked(RepositoryAccessRevoked {
                project_id: api,
                user_id: alice,
                access: RepoAccess::Write,
            }),
            Event::ProjectRoleUnbound(ProjectRoleUnbound {
                project_id: web,
                subject: Subject::User(alice),
                role_id: PROJECT_ADMIN,
            }),
            Event::UserDeactivated(UserDeactivated {
                user_id: alice,
                username: "alice".into(),
                kind: domain::state::UserKind::Person,
            }),
        ]
    );
    assert!(w.org.org_permissions(alice).is_empty());
    assert!(w.org.project_permissions(alice, web).is_empty());
    assert_eq!(w.org.projects[&web].owner, alice);
    // Again: nothing changes.
    assert_eq!(
        w.exec(w.owner, Command::DeactivateUser { user: alice }),
        Ok(vec![])
    );
    // A deactivated user cannot act, and is given nothing.
    assert_eq!(
        w.exec(
            alice,
            Command::CreateProject {
                project_id: ProjectId::new(),
                name: "x".into(),
                owner: None
            }
        ),
        Err(DomainError::UnknownActor)
    );
    let deactivated = Err(DomainError::UserDeactivated("alice".into()));
    assert_eq!(
        w.exec(
            w.owner,
            Command::AssignOrgRole {
                subject: Subject::User(alice),
                role: MEMBER
            }
        ),
        deactivated
    );
    assert_eq!(
        w.exec(w.owner, bind(api, Subject::User(alice), READER)),
        deactivated
    );
    assert_eq!(
        w.exec(w.owner, change_members(ops, &[alice], &[])),
        deactivated
    );
    assert_eq!(
        w.exec(
            w.owner,
            Command::TransferProject {
                project: api,
                to: alice
            }
        ),
        deactivated
    );
    assert_eq!(
        w.exec(w.owner, Command::ResetPassword { user: alice }),
        deactivated
    );

    let events = w
        .exec(
            w.owner,
            Command::ReactivateUser {
                user: alice,
                role: None,
            },
        )
        .unwrap();
    assert_eq!(
        events,
        vec![
            Event::UserReactivated(UserReactivated {
                user_id: alice,
                username: "alice".into(),
                kind: domain::state::UserKind::Person,
            }),
            Event::OrgRoleAssigned(OrgRoleAssigned {
                subject: Subject::User(alice),
                role_id: MEMBER,
            }),
        ]
    );
    assert!(w.org.users[&alice].active);
}

/// Deactivation follows the Owner rules: an Owner needs
/// `organization.change_owner` to deactivate another, and the last Owner
/// stays; deactivating needs `organization.people.manage`.
#[test]
fn deactivation_keeps_an_owner_and_needs_people_manage() {
    let mut w = World::new();
    let owner = w.owner;
    let bob = w.invite("bob@acme.test", MEMBER);
    assert_eq!(
        w.exec(bob, Command::DeactivateUser { user: owner }),
        forbidden("organization.people.manage")
    );
    assert_eq!(
        w.exec(owner, Command::DeactivateUser { user: owner }),
        Err(DomainError::LastOwner)
    );
    let admin = w.invite("admin@acme.test", ORG_ADMIN);
    let carol = w.invite("carol@acme.test", OWNER);
    assert_eq!(
        w.exec(admin, Command::DeactivateUser { user: carol }),
        forbidden("organization.change_owner")
    );
    assert!(w
        .exec(owner, Command::DeactivateUser { user: carol })
        .is_ok());
}

/// A service account: no repository access; its token regenerated revokes
/// every older one; renaming follows the usernames' rules.
#[test]
fn service_accounts_hold_roles_not_repository_access() {
    let mut w = World::new();
    let sa = UserId::new();
    let first = TokenId::new();
    let events = w
        .exec(
            w.owner,
            Command::CreateServiceAccount {
                user_id: sa,
                name: "deployer".into(),
                description: String::new(),
                role: None,
                token: Some((first, None)),
            },
        )
        .unwrap();
    assert_eq!(events.len(), 3);
    let web = w.project(w.owner, "web");
    assert_eq!(
        w.exec(
            w.owner,
            Command::SetRepositoryAccess {
                project: web,
                user: sa,
                access: Some(RepoAccess::Read),
            }
        ),
        invalid(
            "user",
            "service_account",
            "service accounts hold roles, not repository access"
        )
    );
    let second = TokenId::new();
    let events = w
        .exec(
            w.owner,
            Command::RegenerateServiceAccountToken {
                service_account: sa,
                token_id: second,
                expires_at: None,
            },
        )
        .unwrap();
    assert_eq!(
        events,
        vec![
            Event::ServiceAccountTokenRevoked(ServiceAccountTokenRevoked {
                user_id: sa,
                token_id: first,
            }),
            Event::ServiceAccountTokenIssued(ServiceAccountTokenIssued {
                user_id: sa,
                token_id: second,
                expires_at: None,
            }),
        ]
    );
    assert_eq!(
        w.exec(
            w.owner,
            Command::ChangeServiceAccount {
                service_account: sa,
                name: Some("owner".into()),
                description: None,
            }
        ),
        Err(DomainError::UsernameTaken("owner".into()))
    );
    w.exec(
        w.owner,
        Command::ChangeServiceAccount {
            service_account: sa,
            name: Some("releaser".into()),
            description: Some("releases".into()),
        },
    )
    .unwrap();
    assert_eq!(w.org.user_by_username("releaser").map(|u| u.id), Some(sa));
    assert!(w.org.user_by_username("deployer").is_none());
}

// ---- provisioning (SCIM) -----------------------------------------------------

fn identity(user_name: &str, external_id: Option<&str>) -> domain::state::Identity {
    domain::state::Identity {
        user_name: user_name.into(),
        external_id: external_id.map(Into::into),
        given_name: Some("Ada".into()),
        family_name: Some("Lovelace".into()),
    }
}

/// The SCIM actor: the system, through the SCIM medium.
fn provision(
    w: &mut World,
    email: &str,
    id: domain::state::Identity,
    active: bool,
) -> Result<UserId, DomainError> {
    let user_id = UserId::new();
    w.system(Command::ProvisionUser {
        user_id,
        email: email.into(),
        identity: id,
        active,
    })
    .map(|_| user_id)
}

/// A provisioned person gets the default role (Member), no password event,
/// a username from their email; logins, emails and external ids are
/// unique; one arriving inactive holds nothing.
#[test]
fn provisioning_gives_the_default_role_and_keeps_identities_unique() {
    let mut w = World::new();
    let ada = provision(
        &mut w,
        "ada@acme.test",
        identity("ada@okta", Some("00u1")),
        true,
    )
    .unwrap();
    assert_eq!(w.org.org_roles.get(&ada), Some(&MEMBER));
    assert_eq!(w.org.users[&ada].username, "ada");
    assert_eq!(w.org.user_by_user_name("ADA@okta").map(|u| u.id), Some(ada));
    assert_eq!(w.org.user_by_external_id("00u1").map(|u| u.id), Some(ada));
    assert_eq!(
        w.org.user_by_external_id("00U1"),
        None,
        "externalId is exact"
    );

    let taken = provision(&mut w, "other@acme.test", identity("Ada@Okta", None), true);
    assert_eq!(taken, Err(DomainError::UserNameTaken("Ada@Okta".into())));
    let taken = provision(&mut w, "ADA@acme.test", identity("ada2@okta", None), true);
    assert_eq!(taken, Err(DomainError::EmailTaken("ADA@acme.test".into())));
    let taken = provision(
        &mut w,
        "b@acme.test",
        identity("b@okta", Some("00u1")),
        true,
    );
    assert_eq!(taken, Err(DomainError::ExternalIdTaken("00u1".into())));
    // An invited person's email is their login until they are provisioned.
    let owner_login = provision(
        &mut w,
        "x@acme.test",
        identity("owner@acme.test", None),
        true,
    );
    assert_eq!(
        owner_login,
        Err(DomainError::UserNameTaken("owner@acme.test".into()))
    );

    let bad = provision(&mut w, "not-an-email", identity("", None), true).unwrap_err();
    assert!(
        matches!(&bad, DomainError::Invalid(e) if e.len() == 2),
        "{bad:?}"
    );

    let asleep = provision(&mut w, "zed@acme.test", identity("zed@okta", None), false).unwrap();
    assert!(!w.org.users[&asleep].active);
    assert_eq!(w.org.org_roles.get(&asleep), None);

    // A Member cannot provision.
    let ada_actor = w.actor(ada);
    let refused = w.exec_as(
        &ada_actor,
        Command::ProvisionUser {
            user_id: UserId::new(),
            email: "c@acme.test".into(),
            identity: identity("c@okta", None),
            active: true,
        },
    );
    assert_eq!(
        refused,
        Err(DomainError::Forbidden {
            permission: "organization.people.invite"
        })
    );
}

/// A profile change replaces the whole profile (the indexes follow);
/// `active: false` deactivates in the same command (every source
/// retracted), `active: true` gives back the organization's default role.
#[test]
fn profile_changes_deactivate_and_reactivate_with_the_default_role() {
    let mut w = World::new();
    let ada = provision(
        &mut w,
        "ada@acme.test",
        identity("ada@okta", Some("00u1")),
        true,
    )
    .unwrap();
    let ops = w.group("ops", &[ada]);
    let events = w
        .system(Command::ChangeProfile {
            user: ada,
            email: "ada@new.test".into(),
            identity: identity("ada.l@okta", Some("00u9")),
            active: Some(false),
        })
        .unwrap();
    let types: Vec<_> = events.iter().map(Event::event_type).collect();
    assert_eq!(
        types,
        [
            "UserProfileChanged",
            "OrgRoleRetracted",
            "GroupMemberRemoved",
            "UserDeactivated"
        ]
    );
    assert!(!w.org.groups[&ops].members.contains(&ada));
    assert_eq!(w.org.user_by_user_name("ada@okta"), None);
    assert_eq!(w.org.user_by_external_id("00u1"), None);
    assert_eq!(w.org.user_by_email("ada@new.test").map(|u| u.id), Some(ada));
    // The same again changes nothing.
    let again = w.system(Command::ChangeProfile {
        user: ada,
        email: "ada@new.test".into(),
        identity: identity("ada.l@okta", Some("00u9")),
        active: Some(false),
    });
    assert_eq!(again, Ok(vec![]));

    let reader = w.role(spec(
        "Reader org",
        Scope::Organization,
        &["organization.view"],
    ));
    w.exec(
        w.owner,
        Command::ChangeScimSettings {
            default_role: reader,
        },
    )
    .unwrap();
    w.system(Command::ChangeProfile {
        user: ada,
        email: "ada@new.test".into(),
        identity: identity("ada.l@okta", Some("00u9")),
        active: Some(true),
    })
    .unwrap();
    assert!(w.org.users[&ada].active);
    assert_eq!(w.org.org_roles.get(&ada), Some(&reader));
}

/// Issuing the SCIM token revokes the previous one in the same command;
/// only holders of `organization.okta.manage` may; the default role
/// follows the granting rules.
#[test]
fn the_scim_token_replaces_the_previous_one() {
    let mut w = World::new();
    let (first, second) = (TokenId::new(), TokenId::new());
    w.exec(w.owner, Command::IssueScimToken { token_id: first })
        .unwrap();
    let events = w
        .exec(w.owner, Command::IssueScimToken { token_id: second })
        .unwrap();
    assert_eq!(
        events,
        vec![
            Event::ScimTokenRevoked(ScimTokenRevoked { token_id: first }),
            Event::ScimTokenIssued(ScimTokenIssued { token_id: second }),
        ]
    );
    assert_eq!(w.org.scim.token, Some(second));
    let admin = w.invite("admin@acme.test", ORG_ADMIN);
    let member = w.invite("m@acme.test", MEMBER);
    assert_eq!(
        w.exec(member, Command::RevokeScimToken),
        Err(DomainError::Forbidden {
            permission: "organization.okta.manage"
        })
    );
    assert_eq!(
        w.exec(
            member,
            Command::ChangeScimSettings {
                default_role: MEMBER
            }
        ),
        Err(DomainError::Forbidden {
            permission: "organization.okta.manage"
        })
    );
    assert!(w.can(admin, "organization.okta.manage", None));
    assert_eq!(
        w.exec(
            admin,
            Command::ChangeScimSettings {
                default_role: OWNER
            }
        ),
        Err(DomainError::Forbidden {
            permission: "organization.change_owner"
        })
    );
    w.exec(w.owner, Command::RevokeScimToken).unwrap();
    assert_eq!(w.org.scim.token, None);
    assert_eq!(w.exec(w.owner, Command::RevokeScimToken), Ok(vec![]));
}
