//! `explain` gives exactly the paths that grant a permission, for each
//! source of RBAC.md, and each retraction path takes exactly its source away
//! (incrementally: the model is updated event by event, never rebuilt).

use domain::access::BindingSource::{self, *};
use domain::commands::{NewPerson, RoleSpec};
use domain::events::Actor;
use domain::ids::{GroupId, OrgId, ProjectId, RoleId, Subject, UserId};
use domain::permissions::{Permission, Scope};
use domain::roles::{
    RepoAccess, RepoRoleMapping, CONTRIBUTOR, MEMBER, ORG_ADMIN, PROJECT_ADMIN, READER,
};
use domain::{decide, Command, Organization};
use projections::access::AccessModel;

struct World {
    org: OrgId,
    owner: UserId,
    model: AccessModel,
    state: Organization,
}

fn p(name: &str) -> Permission {
    Permission::lookup(name).unwrap()
}

impl World {
    fn new() -> World {
        let org = OrgId::new();
        let owner = UserId::new();
        let mut w = World {
            org,
            owner,
            model: AccessModel::new(),
            state: Organization::new(),
        };
        w.run_as(
            None,
            Command::CreateOrganization {
                org_id: org,
                name: "acme".into(),
                url: None,
                owner: NewPerson {
                    user_id: owner,
                    email: "owner@acme.io".into(),
                    username: Some("owner".into()),
                },
            },
        );
        w
    }

    fn run_as(&mut self, actor: Option<UserId>, command: Command) {
        let actor = match actor {
            Some(u) => Actor::user(u, "x"),
            None => Actor::system(),
        };
        let events =
            decide(&self.state, &command, &actor).unwrap_or_else(|e| panic!("{e}: {command:?}"));
        let mut changes = Vec::new();
        for e in events {
            self.state.evolve(&e);
            self.model.apply(self.org, &e, &mut changes);
        }
    }

    fn run(&mut self, command: Command) {
        self.run_as(Some(self.owner), command)
    }

    fn invite(&mut self, name: &str, role: RoleId) -> UserId {
        let id = UserId::new();
        self.run(Command::InvitePeople {
            people: vec![NewPerson {
                user_id: id,
                email: format!("{name}@acme.io"),
                username: Some(name.into()),
            }],
            role: Some(role),
        });
        id
    }

    fn project(&mut self, name: &str) -> ProjectId {
        let id = ProjectId::new();
        self.run(Command::CreateProject {
            project_id: id,
            name: name.into(),
            owner: None,
        });
        id
    }

    fn group(&mut self, name: &str, members: Vec<UserId>) -> GroupId {
        let id = GroupId::new();
        self.run(Command::CreateGroup {
            group_id: id,
            name: name.into(),
            description: "a group".into(),
            members,
        });
        id
    }

    fn explain(
        &self,
        user: UserId,
        permission: &str,
        project: Option<ProjectId>,
    ) -> Vec<BindingSource> {
        self.model
            .org(self.org)
            .unwrap()
            .explain(user, p(permission), project)
    }

    fn check(&self, user: UserId, permission: &str, project: Option<ProjectId>) -> bool {
        let answer = self.model.check(self.org, user, p(permission), project);
        assert_eq!(
            answer,
            self.state.check(user, p(permission), project),
            "model and domain disagree"
        );
        answer
    }
}

#[test]
fn direct_organization_role() {
    let mut w = World::new();
    let alice = w.invite("alice", MEMBER);
    assert_eq!(
        w.explain(alice, "organization.secrets.view", None),
        vec![Direct { role: MEMBER }]
    );
    assert!(w
        .explain(alice, "organization.people.manage", None)
        .is_empty());
    w.run(Command::AssignOrgRole {
        subject: Subject::User(alice),
        role: ORG_ADMIN,
    });
    assert_eq!(
        w.explain(alice, "organization.people.manage", None),
        vec![Direct { role: ORG_ADMIN }]
    );
    w.run(Command::RetractOrgRole {
        subject: Subject::User(alice),
    });
    assert!(w.explain(alice, "organization.view", None).is_empty());
    assert!(!w.check(alice, "organization.view", None));
}

#[test]
fn group_organization_role_and_its_retraction_paths() {
    let mut w = World::new();
    let bob = w.invite("bob", MEMBER);
    let ops = w.group("ops", vec![bob]);
    assert_eq!(
        w.explain(bob, "organization.view", None),
        vec![
            Direct { role: MEMBER },
            Group {
                role: MEMBER,
                group: ops
            }
        ]
    );
    // Changing the group's role changes the source.
    w.run(Command::AssignOrgRole {
        subject: Subject::Group(ops),
        role: ORG_ADMIN,
    });
    assert_eq!(
        w.explain(bob, "organization.people.manage", None),
        vec![Group {
            role: ORG_ADMIN,
            group: ops
        }]
    );
    // Leaving the group takes it away.
    w.run(Command::ChangeGroup {
        group: ops,
        name: None,
        description: None,
        add_members: vec![],
        remove_members: vec![bob],
    });
    assert!(w
        .explain(bob, "organization.people.manage", None)
        .is_empty());
    // Joining again, then deleting the group, takes it away too.
    w.run(Command::ChangeGroup {
        group: ops,
        name: None,
        description: None,
        add_members: vec![bob],
        remove_members: vec![],
    });
    assert!(w.check(bob, "organization.people.manage", None));
    w.run(Command::DeleteGroup { group: ops });
    assert!(!w.check(bob, "organization.people.manage", None));
    assert_eq!(
        w.explain(bob, "organization.view", None),
        vec![Direct { role: MEMBER }]
    );
}

#[test]
fn project_sources_direct_group_organization_role_repository() {
    let mut w = World::new();
    let web = w.project("web");
    let carol = w.invite("carol", MEMBER);
    let admin = w.invite("dave", ORG_ADMIN);
    let devs = w.group("devs", vec![carol]);

    // organization role: Admin grants project Admin everywhere
    assert_eq!(
        w.explain(admin, "project.delete", Some(web)),
        vec![OrganizationRole {
            role: PROJECT_ADMIN,
            org_role: ORG_ADMIN
        }]
    );
    assert!(w.explain(carol, "project.view", Some(web)).is_empty());

    // direct
    w.run(Command::BindProjectRole {
        project: web,
        subject: Subject::User(carol),
        role: READER,
    });
    assert_eq!(
        w.explain(carol, "project.view", Some(web)),
        vec![Direct { role: READER }]
    );
    // group
    w.run(Command::BindProjectRole {
        project: web,
        subject: Subject::Group(devs),
        role: CONTRIBUTOR,
    });
    assert_eq!(
        w.explain(carol, "project.view", Some(web)),
        vec![
            Direct { role: READER },
            Group {
                role: CONTRIBUTOR,
                group: devs
            }
        ]
    );
    assert_eq!(
        w.explain(carol, "project.job.rerun", Some(web)),
        vec![Group {
            role: CONTRIBUTOR,
            group: devs
        }]
    );
    // repository
    w.run(Command::SetRepositoryAccess {
        project: web,
        user: carol,
        access: Some(RepoAccess::Admin),
    });
    assert_eq!(
        w.explain(carol, "project.job.rerun", Some(web)),
        vec![
            Group {
                role: CONTRIBUTOR,
                group: devs
            },
            Repository {
                role: CONTRIBUTOR,
                access: RepoAccess::Admin
            }
        ]
    );

    // Retraction paths, one at a time.
    w.run(Command::UnbindProjectRole {
        project: web,
        subject: Subject::User(carol),
    });
    assert_eq!(
        w.explain(carol, "project.view", Some(web)),
        vec![
            Group {
                role: CONTRIBUTOR,
                group: devs
            },
            Repository {
                role: CONTRIBUTOR,
                access: RepoAccess::Admin
            }
        ]
    );
    w.run(Command::UnbindProjectRole {
        project: web,
        subject: Subject::Group(devs),
    });
    assert_eq!(
        w.explain(carol, "project.job.rerun", Some(web)),
        vec![Repository {
            role: CONTRIBUTOR,
            access: RepoAccess::Admin
        }]
    );
    // The mapping changes what repository access grants.
    w.run(Command::SetRepositoryRoleMapping {
        project: web,
        mapping: RepoRoleMapping {
            admin: READER,
            write: READER,
            read: READER,
        },
    });
    assert!(w.explain(carol, "project.job.rerun", Some(web)).is_empty());
    assert_eq!(
        w.explain(carol, "project.view", Some(web)),
        vec![Repository {
            role: READER,
            access: RepoAccess::Admin
        }]
    );
    // Repository access counts only with an organization role (carol's
    // group gives her one too, so she leaves it first).
    w.run(Command::ChangeGroup {
        group: devs,
        name: None,
        description: None,
        add_members: vec![],
        remove_members: vec![carol],
    });
    assert!(w.check(carol, "project.view", Some(web)));
    w.run(Command::RetractOrgRole {
        subject: Subject::User(carol),
    });
    assert!(w.explain(carol, "project.view", Some(web)).is_empty());
    w.run(Command::AssignOrgRole {
        subject: Subject::User(carol),
        role: MEMBER,
    });
    assert!(w.check(carol, "project.view", Some(web)));
    w.run(Command::SetRepositoryAccess {
        project: web,
        user: carol,
        access: None,
    });
    assert!(!w.check(carol, "project.view", Some(web)));

    // The organization role source goes when the organization role changes.
    w.run(Command::AssignOrgRole {
        subject: Subject::User(admin),
        role: MEMBER,
    });
    assert!(w.explain(admin, "project.delete", Some(web)).is_empty());
}

#[test]
fn custom_roles_inheritance_and_edits_update_holders() {
    let mut w = World::new();
    let web = w.project("web");
    let erin = w.invite("erin", MEMBER);
    let triage = RoleId::new();
    w.run(Command::CreateRole {
        role_id: triage,
        spec: RoleSpec {
            name: "Triage".into(),
            scope: Scope::Project,
            description: "".into(),
            permissions: vec!["project.flaky_tests.manage".into()],
            inherits: vec![READER],
            project_role: None,
        },
    });
    w.run(Command::BindProjectRole {
        project: web,
        subject: Subject::User(erin),
        role: triage,
    });
    assert_eq!(
        w.explain(erin, "project.artifacts.view", Some(web)),
        vec![Direct { role: triage }]
    );
    assert!(w.check(erin, "project.flaky_tests.manage", Some(web)));
    // Editing the role (dropping the inheritance) changes erin at once.
    w.run(Command::ChangeRole {
        role: triage,
        spec: RoleSpec {
            name: "Triage".into(),
            scope: Scope::Project,
            description: "".into(),
            permissions: vec!["project.flaky_tests.manage".into()],
            inherits: vec![],
            project_role: None,
        },
    });
    assert!(!w.check(erin, "project.artifacts.view", Some(web)));
    assert!(w.check(erin, "project.flaky_tests.manage", Some(web)));

    // An organization role granting a project role on every project.
    let auditor = RoleId::new();
    w.run(Command::CreateRole {
        role_id: auditor,
        spec: RoleSpec {
            name: "Auditor".into(),
            scope: Scope::Organization,
            description: "".into(),
            permissions: vec!["organization.audit_logs.view".into()],
            inherits: vec![],
            project_role: Some(READER),
        },
    });
    let frank = w.invite("frank", auditor);
    let api = w.project("api");
    assert_eq!(
        w.explain(frank, "project.view", Some(api)),
        vec![OrganizationRole {
            role: READER,
            org_role: auditor
        }]
    );
    // Deleting the project: nobody has anything on it.
    w.run(Command::DeleteProject { project: api });
    assert!(!w.check(frank, "project.view", Some(api)));
    assert!(w
        .model
        .org(w.org)
        .unwrap()
        .who_can(p("project.view"), Some(api))
        .is_empty());
}

#[test]
fn removal_takes_every_source_away_and_who_can_lists_sources() {
    let mut w = World::new();
    let web = w.project("web");
    let gina = w.invite("gina", MEMBER);
    let qa = w.group("qa", vec![gina]);
    w.run(Command::BindProjectRole {
        project: web,
        subject: Subject::Group(qa),
        role: READER,
    });
    w.run(Command::SetRepositoryAccess {
        project: web,
        user: gina,
        access: Some(RepoAccess::Read),
    });
    let holders = w
        .model
        .org(w.org)
        .unwrap()
        .who_can(p("project.view"), Some(web));
    let gina_holder = holders.iter().find(|h| h.user_id == gina).unwrap();
    assert_eq!(
        gina_holder.sources,
        vec![
            Group {
                role: READER,
                group: qa
            },
            Repository {
                role: READER,
                access: RepoAccess::Read
            }
        ]
    );
    // The owner created the project: direct Admin, plus Owner's mapping.
    let owner_holder = holders.iter().find(|h| h.user_id == w.owner).unwrap();
    assert_eq!(
        owner_holder.sources,
        vec![
            Direct {
                role: PROJECT_ADMIN
            },
            OrganizationRole {
                role: PROJECT_ADMIN,
                org_role: domain::roles::OWNER
            }
        ]
    );
    assert_eq!(holders.len(), 2);

    w.run(Command::RemoveUser { user: gina });
    assert!(!w.check(gina, "project.view", Some(web)));
    assert!(!w.check(gina, "organization.view", None));
    assert!(w
        .model
        .org(w.org)
        .unwrap()
        .permissions_of(gina, None)
        .is_empty());
    let holders = w
        .model
        .org(w.org)
        .unwrap()
        .who_can(p("project.view"), Some(web));
    assert_eq!(
        holders.iter().map(|h| h.user_id).collect::<Vec<_>>(),
        vec![w.owner]
    );
}

#[test]
fn permissions_of_lists_each_permission_with_its_sources() {
    let mut w = World::new();
    let web = w.project("web");
    let hank = w.invite("hank", MEMBER);
    w.run(Command::BindProjectRole {
        project: web,
        subject: Subject::User(hank),
        role: READER,
    });
    let granted = w.model.org(w.org).unwrap().permissions_of(hank, Some(web));
    assert_eq!(granted.len(), 11, "Reader's 11 permissions");
    assert!(granted
        .iter()
        .all(|g| g.sources == vec![Direct { role: READER }]));
    let org = w.model.org(w.org).unwrap().permissions_of(hank, None);
    assert_eq!(org.len(), 14, "Member's 14 permissions");
}
