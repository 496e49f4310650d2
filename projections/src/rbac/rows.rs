//! What one event changes in the recorded RBAC tables (users, groups and
//! members, roles, projects, role bindings), as row changes that each
//! backend writes in its own SQL: SQLite here (`mod.rs`), PostgreSQL in
//! `crate::postgres::rbac`. The effective permissions come from the access
//! model (`EffectiveChange`), not from here.
//!
//! Pure: the event, and for repository-access events the project's mapping
//! before the event, decide the rows.

use domain::events::Event;
use domain::events::{UserProfileChanged, UserProvisioned};
use domain::ids::{GroupId, ProjectId, RoleId, Subject, UserId};
use domain::roles::{predefined_roles, RepoRoleMapping, Role};

/// Where a recorded binding comes from (`rbac_role_bindings.source`).
pub const DIRECT: &str = "direct";
pub const REPOSITORY: &str = "repository";

/// One change to the recorded tables of an organization.
#[derive(Debug, Clone, PartialEq)]
pub enum RowChange {
    /// The role's row replaced, with its permissions and inherited roles.
    PutRole(Role),
    /// The role's row, permissions and inherited roles removed.
    DeleteRole(RoleId),
    /// A person (`email` set) or a service account (`email` none).
    PutUser {
        user: UserId,
        username: String,
        email: Option<String>,
        kind: &'static str,
    },
    /// The user's row, group memberships and own bindings removed.
    DeleteUser(UserId),
    PutGroup {
        group: GroupId,
        name: String,
        description: String,
        role: RoleId,
    },
    /// Name and description, each only when given.
    ChangeGroup {
        group: GroupId,
        name: Option<String>,
        description: Option<String>,
    },
    /// The group's organization role column.
    SetGroupRole {
        group: GroupId,
        role: Option<RoleId>,
    },
    /// The group's row, members and bindings removed.
    DeleteGroup(GroupId),
    AddMember {
        group: GroupId,
        user: UserId,
    },
    RemoveMember {
        group: GroupId,
        user: UserId,
    },
    PutProject {
        project: ProjectId,
        name: String,
        owner: UserId,
    },
    SetOwner {
        project: ProjectId,
        owner: UserId,
    },
    /// The project's row and every binding on it removed.
    DeleteProject(ProjectId),
    /// A binding replaced: on the organization (`project` none) or a
    /// project, from `source` ([`DIRECT`] or [`REPOSITORY`], the latter
    /// with its access level).
    PutBinding {
        subject: Subject,
        project: Option<ProjectId>,
        source: &'static str,
        role: RoleId,
        access: Option<&'static str>,
    },
    DeleteBinding {
        subject: Subject,
        project: Option<ProjectId>,
        source: &'static str,
    },
    /// The repository bindings of `access` on the project now map to
    /// `role`.
    RemapRepository {
        project: ProjectId,
        access: &'static str,
        role: RoleId,
    },
}

/// Appends to `out` the row changes of `event`, in the order they apply.
/// `mapping_before` is the project's repository mapping before a
/// repository-access event (see [`repository_mapping_before`]).
pub fn row_changes(
    event: &Event,
    mapping_before: Option<RepoRoleMapping>,
    out: &mut Vec<RowChange>,
) {
    use RowChange::*;
    match event {
        Event::OrganizationCreated(_) => out.extend(predefined_roles().into_iter().map(PutRole)),
        Event::OrganizationSettingsChanged(_)
        | Event::WorkflowSettingsChanged(_)
        | Event::InitAgentChanged(_)
        | Event::IpAllowListChanged(_)
        | Event::NotificationTargetCreated(_)
        | Event::NotificationTargetChanged(_)
        | Event::NotificationTargetRemoved(_)
        | Event::SsoConfigured(_)
        | Event::SsoRemoved(_)
        | Event::UserPasswordSet(_)
        | Event::UserPasswordReset(_)
        | Event::ServiceAccountTokenIssued(_)
        | Event::ServiceAccountTokenRevoked(_)
        | Event::UserDeactivated(_)
        | Event::UserReactivated(_)
        | Event::ApiTokenIssued(_)
        | Event::ApiTokenRevoked(_)
        | Event::AuditStreamingConfigured(_)
        | Event::AuditStreamingRemoved(_)
        | Event::ScimTokenIssued(_)
        | Event::ScimTokenRevoked(_)
        | Event::ScimSettingsChanged(_) => {}
        Event::UserInvited(e) => out.push(PutUser {
            user: e.user_id,
            username: e.username.clone(),
            email: Some(e.email.clone()),
            kind: "person",
        }),
        Event::UserProvisioned(UserProvisioned {
            user_id,
            username,
            email,
            ..
        })
        | Event::UserProfileChanged(UserProfileChanged {
            user_id,
            username,
            email,
            ..
        }) => out.push(PutUser {
            user: *user_id,
            username: username.clone(),
            email: Some(email.clone()),
            kind: "person",
        }),
        Event::ServiceAccountCreated(e) => out.push(PutUser {
            user: e.user_id,
            username: e.name.clone(),
            email: None,
            kind: "service_account",
        }),
        Event::UserRemoved(e) => out.push(DeleteUser(e.user_id)),
        Event::ServiceAccountRemoved(e) => out.push(DeleteUser(e.user_id)),
        Event::ServiceAccountChanged(e) => {
            if let Some(name) = &e.name {
                out.push(PutUser {
                    user: e.user_id,
                    username: name.clone(),
                    email: None,
                    kind: "service_account",
                });
            }
        }
        Event::OrgRoleAssigned(e) => {
            out.push(PutBinding {
                subject: e.subject,
                project: None,
                source: DIRECT,
                role: e.role_id,
                access: None,
            });
            if let Subject::Group(group) = e.subject {
                out.push(SetGroupRole {
                    group,
                    role: Some(e.role_id),
                });
            }
        }
        Event::OrgRoleRetracted(e) => {
            out.push(DeleteBinding {
                subject: e.subject,
                project: None,
                source: DIRECT,
            });
            if let Subject::Group(group) = e.subject {
                out.push(SetGroupRole { group, role: None });
            }
        }
        Event::GroupCreated(e) => {
            out.push(PutGroup {
                group: e.group_id,
                name: e.name.clone(),
                description: e.description.clone(),
                role: e.role_id,
            });
            out.push(PutBinding {
                subject: Subject::Group(e.group_id),
                project: None,
                source: DIRECT,
                role: e.role_id,
                access: None,
            });
            out.extend(e.members.iter().map(|&user| AddMember {
                group: e.group_id,
                user,
            }));
        }
        Event::GroupChanged(e) => out.push(ChangeGroup {
            group: e.group_id,
            name: e.name.clone(),
            description: e.description.clone(),
        }),
        Event::GroupMemberAdded(e) => out.push(AddMember {
            group: e.group_id,
            user: e.user_id,
        }),
        Event::GroupMemberRemoved(e) => out.push(RemoveMember {
            group: e.group_id,
            user: e.user_id,
        }),
        Event::GroupDeleted(e) => out.push(DeleteGroup(e.group_id)),
        Event::CustomRoleCreated(domain::events::CustomRoleCreated {
            role_id,
            definition,
        })
        | Event::CustomRoleChanged(domain::events::CustomRoleChanged {
            role_id,
            definition,
        }) => out.push(PutRole(definition.to_role(*role_id))),
        Event::CustomRoleDeleted(e) => out.push(DeleteRole(e.role_id)),
        Event::ProjectCreated(e) => out.push(PutProject {
            project: e.project_id,
            name: e.name.clone(),
            owner: e.owner,
        }),
        Event::ProjectOwnershipTransferred(e) => out.push(SetOwner {
            project: e.project_id,
            owner: e.to,
        }),
        Event::ProjectDeleted(e) => out.push(DeleteProject(e.project_id)),
        Event::ProjectRoleBound(e) => out.push(PutBinding {
            subject: e.subject,
            project: Some(e.project_id),
            source: DIRECT,
            role: e.role_id,
            access: None,
        }),
        Event::ProjectRoleUnbound(e) => out.push(DeleteBinding {
            subject: e.subject,
            project: Some(e.project_id),
            source: DIRECT,
        }),
        Event::RepositoryAccessGranted(domain::events::RepositoryAccessGranted {
            project_id,
            user_id,
            access,
        })
        | Event::RepositoryAccessChanged(domain::events::RepositoryAccessChanged {
            project_id,
            user_id,
            to: access,
            ..
        }) => out.push(PutBinding {
            subject: Subject::User(*user_id),
            project: Some(*project_id),
            source: REPOSITORY,
            role: mapping_before.unwrap_or_default().role_for(*access),
            access: Some(access.as_str()),
        }),
        Event::RepositoryAccessRevoked(e) => out.push(DeleteBinding {
            subject: Subject::User(e.user_id),
            project: Some(e.project_id),
            source: REPOSITORY,
        }),
        Event::RepositoryRoleMappingChanged(e) => out.extend(
            [
                ("admin", e.mapping.admin),
                ("write", e.mapping.write),
                ("read", e.mapping.read),
            ]
            .into_iter()
            .map(|(access, role)| RemapRepository {
                project: e.project_id,
                access,
                role,
            }),
        ),
    }
}

/// For repository-access events: the project's mapping before the event
/// (`before` is the organization's state before it).
pub fn repository_mapping_before(
    before: Option<&domain::Organization>,
    event: &Event,
) -> Option<RepoRoleMapping> {
    let project = match event {
        Event::RepositoryAccessGranted(e) => e.project_id,
        Event::RepositoryAccessChanged(e) => e.project_id,
        _ => return None,
    };
    before
        .and_then(|s| s.projects.get(&project))
        .map(|p| p.repo_mapping)
}

/// A project column: the project's id, or `''` for the organization.
pub fn project_key(project: Option<ProjectId>) -> String {
    project.map(|p| p.to_string()).unwrap_or_default()
}
