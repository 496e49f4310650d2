//! The access state of an organization as data: roles, recorded bindings
//! and every user's effective permissions with their sources, computed with
//! the domain's access rules (the same ones the command side and the access
//! model use). For `replay state`, and for callers that hold a state from
//! [`crate::as_of`] (`check` and `explain` answer the API's questions on it).
//!
//! Effective permissions come in the three scopes of the RBAC read model:
//! `organization`, `every_project` (project roles that organization roles
//! grant on every project) and per project (direct, group and repository
//! sources bound to that project). On a project a user holds
//! `every_project` ∪ that project's.

use std::collections::{BTreeMap, BTreeSet};

use domain::access::{BindingSource, RecordedBinding};
use domain::ids::{GroupId, ProjectId, RoleId, UserId};
use domain::permissions::{Permission, PermissionSet, Scope};
use domain::roles::RepoAccess;
use domain::state::UserKind;
use domain::Organization;
use serde::Serialize;

/// May `user` do `permission` (on `project` for project permissions) in
/// `state`? The domain's rule, as `GET /check` answers it.
pub fn check(
    state: &Organization,
    user: UserId,
    permission: Permission,
    project: Option<ProjectId>,
) -> bool {
    state.check(user, permission, project)
}

/// Every source that grants `permission` to `user` (empty when denied), as
/// the access model's `explain` answers it.
pub fn explain(
    state: &Organization,
    user: UserId,
    permission: Permission,
    project: Option<ProjectId>,
) -> Vec<BindingSource> {
    state.explain(user, permission, project)
}

/// A role named by id and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleRef {
    pub role_id: RoleId,
    pub name: String,
    pub scope: Scope,
}

/// A group named by id and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupRef {
    pub group_id: GroupId,
    pub name: String,
}

/// A source as API.md writes it: `{role, via, group?, organization_role?,
/// access?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub role: RoleRef,
    pub via: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_role: Option<RoleRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<RepoAccess>,
}

/// A permission with every source that grants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Granted {
    pub permission: Permission,
    pub sources: Vec<Source>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleView {
    pub role_id: RoleId,
    pub name: String,
    pub scope: Scope,
    pub description: String,
    pub predefined: bool,
    /// The permissions named on the role itself.
    pub permissions: PermissionSet,
    /// Including everything it inherits.
    pub effective_permissions: PermissionSet,
    pub inherits: Vec<RoleId>,
    /// For organization roles: the project roles granted on every project.
    pub project_roles: Vec<RoleId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserView {
    pub user_id: UserId,
    pub username: String,
    pub email: Option<String>,
    pub kind: UserKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupView {
    pub group_id: GroupId,
    pub name: String,
    pub role: Option<RoleRef>,
    pub members: Vec<UserId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectView {
    pub project_id: ProjectId,
    pub name: String,
    pub owner: UserId,
}

/// A recorded role binding (as the RBAC tables keep them): a subject's own
/// organization role, a direct project binding, or a repository access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Binding {
    /// `user:<id>` or `group:<id>`.
    pub subject: String,
    /// `organization` or `project`.
    pub scope: Scope,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    pub role: RoleRef,
    /// `direct` or `repository`.
    pub source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<RepoAccess>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectPermissions {
    pub project_id: ProjectId,
    pub name: String,
    pub permissions: Vec<Granted>,
}

/// One user's effective permissions with their sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserPermissions {
    pub user_id: UserId,
    pub username: String,
    pub organization: Vec<Granted>,
    /// Granted on every project by organization roles.
    pub every_project: Vec<Granted>,
    /// Granted on one project by direct, group or repository sources.
    pub projects: Vec<ProjectPermissions>,
}

/// The whole access state of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessState {
    /// The organization's settings at that moment.
    pub settings: SettingsView,
    pub roles: Vec<RoleView>,
    pub users: Vec<UserView>,
    pub groups: Vec<GroupView>,
    pub projects: Vec<ProjectView>,
    pub bindings: Vec<Binding>,
    /// Every user's effective permissions, by username.
    pub permissions: Vec<UserPermissions>,
}

/// The organization's name, URL and settings sections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingsView {
    pub name: String,
    pub url: Option<String>,
    #[serde(flatten)]
    pub sections: domain::state::OrgSettings,
}

fn role_ref(state: &Organization, role: RoleId) -> RoleRef {
    match state.roles.get(&role) {
        Some(r) => RoleRef {
            role_id: r.id,
            name: r.name.clone(),
            scope: r.scope,
        },
        // A role deleted while still referenced (only in a hand-edited log).
        None => RoleRef {
            role_id: role,
            name: role.to_string(),
            scope: Scope::Project,
        },
    }
}

fn source(state: &Organization, s: &BindingSource) -> Source {
    let mut out = Source {
        role: role_ref(state, s.role()),
        via: s.via(),
        group: None,
        organization_role: None,
        access: None,
    };
    match *s {
        BindingSource::Group { group, .. } => {
            out.group = Some(GroupRef {
                group_id: group,
                name: state
                    .groups
                    .get(&group)
                    .map(|g| g.name.clone())
                    .unwrap_or_else(|| group.to_string()),
            })
        }
        BindingSource::OrganizationRole { org_role, .. } => {
            out.organization_role = Some(role_ref(state, org_role))
        }
        BindingSource::Repository { access, .. } => out.access = Some(access),
        BindingSource::Direct { .. } => {}
    }
    out
}

/// The permissions of `scope` that `grants` give, each with its sources, in
/// catalog order.
fn granted(state: &Organization, scope: Scope, grants: &[BindingSource]) -> Vec<Granted> {
    state
        .permissions_with_sources(scope, grants)
        .into_iter()
        .map(|(permission, sources)| Granted {
            permission,
            sources: sources.iter().map(|g| source(state, g)).collect(),
        })
        .collect()
}

/// For each user, the projects where a direct, group or repository source
/// may apply.
fn bound_projects(state: &Organization) -> BTreeMap<UserId, BTreeSet<ProjectId>> {
    let mut out: BTreeMap<UserId, BTreeSet<ProjectId>> = BTreeMap::new();
    for p in state.projects.keys() {
        for u in state.users_bound_to(*p) {
            out.entry(u).or_default().insert(*p);
        }
    }
    out
}

fn user_permissions(
    state: &Organization,
    user: UserId,
    projects: Option<&BTreeSet<ProjectId>>,
) -> UserPermissions {
    let exists = state.users.contains_key(&user);
    let org_grants = if exists {
        state.org_grants(user)
    } else {
        Vec::new()
    };
    let every = if exists {
        state.every_project_grants(user)
    } else {
        Vec::new()
    };
    let mut per_project: Vec<ProjectPermissions> = Vec::new();
    if exists {
        for p in projects.into_iter().flatten() {
            let specific = state.project_specific_grants(user, *p);
            let permissions = granted(state, Scope::Project, &specific);
            if !permissions.is_empty() {
                per_project.push(ProjectPermissions {
                    project_id: *p,
                    name: state
                        .projects
                        .get(p)
                        .map(|p| p.name.clone())
                        .unwrap_or_default(),
                    permissions,
                });
            }
        }
    }
    per_project.sort_by(|a, b| a.name.cmp(&b.name).then(a.project_id.cmp(&b.project_id)));
    UserPermissions {
        user_id: user,
        username: state.username(user),
        organization: granted(state, Scope::Organization, &org_grants),
        every_project: granted(state, Scope::Project, &every),
        projects: per_project,
    }
}

/// One user's effective permissions with sources (empty for a user the
/// state does not hold).
pub fn permissions_of(state: &Organization, user: UserId) -> UserPermissions {
    let mut bound = bound_projects(state);
    let projects = bound.remove(&user);
    user_permissions(state, user, projects.as_ref())
}

/// The user's entry, if the state holds them.
pub fn user_view(state: &Organization, user: UserId) -> Option<UserView> {
    state.users.get(&user).map(|u| UserView {
        user_id: u.id,
        username: u.username.clone(),
        email: u.email.clone(),
        kind: u.kind,
    })
}

/// The whole access state, each list in a stable order.
pub fn access_state(state: &Organization) -> AccessState {
    let mut roles: Vec<RoleView> = state
        .roles
        .values()
        .map(|r| RoleView {
            role_id: r.id,
            name: r.name.clone(),
            scope: r.scope,
            description: r.description.clone(),
            predefined: r.predefined,
            permissions: r.permissions,
            effective_permissions: state.role_permissions(r.id),
            inherits: r.inherits.clone(),
            project_roles: state.mapped_project_roles(r.id).to_vec(),
        })
        .collect();
    roles.sort_by(|a, b| {
        (a.scope.as_str(), !a.predefined, &a.name, a.role_id).cmp(&(
            b.scope.as_str(),
            !b.predefined,
            &b.name,
            b.role_id,
        ))
    });

    let mut users: Vec<UserView> = state
        .users
        .keys()
        .filter_map(|u| user_view(state, *u))
        .collect();
    users.sort_by(|a, b| a.username.cmp(&b.username).then(a.user_id.cmp(&b.user_id)));

    let mut groups: Vec<GroupView> = state
        .groups
        .values()
        .map(|g| GroupView {
            group_id: g.id,
            name: g.name.clone(),
            role: g.role.map(|r| role_ref(state, r)),
            members: g.members.iter().copied().collect(),
        })
        .collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name).then(a.group_id.cmp(&b.group_id)));

    let mut projects: Vec<ProjectView> = state
        .projects
        .values()
        .map(|p| ProjectView {
            project_id: p.id,
            name: p.name.clone(),
            owner: p.owner,
        })
        .collect();
    projects.sort_by(|a, b| a.name.cmp(&b.name).then(a.project_id.cmp(&b.project_id)));

    let mut bindings: Vec<Binding> = state
        .recorded_bindings()
        .map(|b| binding(state, b))
        .collect();
    bindings.sort_by(|a, b| {
        (&a.subject, a.project_id, a.source).cmp(&(&b.subject, b.project_id, b.source))
    });

    let mut bound = bound_projects(state);
    let permissions = users
        .iter()
        .map(|u| user_permissions(state, u.user_id, bound.remove(&u.user_id).as_ref()))
        .collect();

    AccessState {
        settings: SettingsView {
            name: state.name.clone(),
            url: state.url.clone(),
            sections: state.settings.clone(),
        },
        roles,
        users,
        groups,
        projects,
        bindings,
        permissions,
    }
}

fn binding(state: &Organization, b: RecordedBinding) -> Binding {
    Binding {
        subject: b.subject.to_string(),
        scope: if b.project.is_some() {
            Scope::Project
        } else {
            Scope::Organization
        },
        project_id: b.project,
        role: role_ref(state, b.source.role()),
        source: b.source.via(),
        access: match b.source {
            BindingSource::Repository { access, .. } => Some(access),
            _ => None,
        },
    }
}
