//! How API.md writes things inside other answers: a role `{role_id, name,
//! scope}`, a user `{user_id, username}`, a group `{group_id, name}`, the
//! source of a grant, and a command's answer with its `position`. Each is
//! a typed struct, so the OpenAPI document's schemas are the ones the
//! handlers serialize.

use domain::access::BindingSource;
use domain::ids::{GroupId, RoleId, UserId};
use domain::permissions::Scope;
use domain::roles::RepoAccess;
use domain::Organization;
use serde::Serialize;
use utoipa::ToSchema;

/// A role inside another object (name and scope null for a role that no
/// longer exists).
#[derive(Serialize, ToSchema)]
pub struct RoleRef {
    #[schema(value_type = String, format = Uuid)]
    pub role_id: RoleId,
    pub name: Option<String>,
    /// `organization` or `project`.
    #[schema(value_type = Option<String>, example = "organization")]
    pub scope: Option<Scope>,
}

impl RoleRef {
    pub fn of(s: &Organization, role: RoleId) -> RoleRef {
        match s.roles.get(&role) {
            Some(r) => RoleRef {
                role_id: r.id,
                name: Some(r.name.clone()),
                scope: Some(r.scope),
            },
            None => RoleRef {
                role_id: role,
                name: None,
                scope: None,
            },
        }
    }
}

/// A user inside another object.
#[derive(Serialize, ToSchema)]
pub struct UserRef {
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
    pub username: String,
}

impl UserRef {
    pub fn of(s: &Organization, user: UserId) -> UserRef {
        UserRef {
            user_id: user,
            username: s.username(user),
        }
    }
}

/// A group inside another object (name null for a group that no longer
/// exists).
#[derive(Serialize, ToSchema)]
pub struct GroupRef {
    #[schema(value_type = String, format = Uuid)]
    pub group_id: GroupId,
    pub name: Option<String>,
}

impl GroupRef {
    pub fn of(s: &Organization, group: GroupId) -> GroupRef {
        GroupRef {
            group_id: group,
            name: s.groups.get(&group).map(|g| g.name.clone()),
        }
    }
}

/// An organization role that grants a project role on every project.
#[derive(Serialize, ToSchema)]
pub struct OrgRoleRef {
    #[schema(value_type = String, format = Uuid)]
    pub role_id: RoleId,
    pub name: String,
}

/// Where a grant comes from, without the role it grants.
#[derive(Serialize, ToSchema)]
pub struct Via {
    /// `direct`, `group`, `organization_role` or `repository`.
    #[schema(example = "group")]
    pub via: &'static str,
    /// For `via: group`: the group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupRef>,
    /// For `via: organization_role`: the organization role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_role: Option<OrgRoleRef>,
    /// For `via: repository`: `admin`, `write` or `read`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "write")]
    pub access: Option<RepoAccess>,
}

impl Via {
    pub fn of(s: &Organization, source: &BindingSource) -> Via {
        let mut via = Via {
            via: source.via(),
            group: None,
            organization_role: None,
            access: None,
        };
        match source {
            BindingSource::Group { group, .. } => via.group = Some(GroupRef::of(s, *group)),
            BindingSource::OrganizationRole { org_role, .. } => {
                via.organization_role = Some(OrgRoleRef {
                    role_id: *org_role,
                    name: s.role_name(*org_role),
                })
            }
            BindingSource::Repository { access, .. } => via.access = Some(*access),
            BindingSource::Direct { .. } => {}
        }
        via
    }
}

/// A source of a permission: `{role, via, group?, organization_role?,
/// access?}` (role null for a role that no longer exists).
#[derive(Serialize, ToSchema)]
pub struct Source {
    pub role: Option<RoleRef>,
    #[serde(flatten)]
    pub via: Via,
}

impl Source {
    pub fn of(s: &Organization, source: &BindingSource) -> Source {
        Source {
            role: s
                .roles
                .contains_key(&source.role())
                .then(|| RoleRef::of(s, source.role())),
            via: Via::of(s, source),
        }
    }

    pub fn all(s: &Organization, sources: &[BindingSource]) -> Vec<Source> {
        sources.iter().map(|src| Source::of(s, src)).collect()
    }
}

/// A successful command's answer: its body and `position`, the global
/// position of its last event (also the `Rolebook-Position` header), to
/// pass as `at_least` to a later query.
#[derive(Serialize, ToSchema)]
pub struct Committed<T> {
    #[serde(flatten)]
    pub body: T,
    /// The global position of the command's last event.
    pub position: u64,
}
