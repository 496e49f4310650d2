//! The access rules of RBAC.md, in one place: which roles a user holds, from
//! which sources, and the union of their permissions. The command side uses
//! these functions to authorize callers; the read side keeps the same state
//! current and asks the same questions.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::ids::{GroupId, ProjectId, RoleId, Subject, UserId};
use crate::permissions::{Permission, PermissionSet};
use crate::roles::{RepoAccess, OWNER};
use crate::state::{Organization, Project};

/// Where one of a user's roles comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum BindingSource {
    /// Bound to the user (or, for a group subject, to the group) itself.
    Direct { role: RoleId },
    /// Bound to a group the user is in.
    Group { role: RoleId, group: GroupId },
    /// Granted on every project by one of the user's organization roles.
    OrganizationRole { role: RoleId, org_role: RoleId },
    /// Mapped from the user's access to the project's repository.
    Repository { role: RoleId, access: RepoAccess },
}

impl BindingSource {
    /// The role this source grants.
    pub fn role(&self) -> RoleId {
        match *self {
            BindingSource::Direct { role }
            | BindingSource::Group { role, .. }
            | BindingSource::OrganizationRole { role, .. }
            | BindingSource::Repository { role, .. } => role,
        }
    }

    /// `direct`, `group`, `organization_role` or `repository`.
    pub fn via(&self) -> &'static str {
        match self {
            BindingSource::Direct { .. } => "direct",
            BindingSource::Group { .. } => "group",
            BindingSource::OrganizationRole { .. } => "organization_role",
            BindingSource::Repository { .. } => "repository",
        }
    }

    /// A human description using the organization's names.
    pub fn describe(&self, org: &Organization) -> String {
        let role = org.role_name(self.role());
        match *self {
            BindingSource::Direct { .. } => format!("{role} (direct)"),
            BindingSource::Group { group, .. } => {
                let name = org
                    .groups
                    .get(&group)
                    .map(|g| g.name.clone())
                    .unwrap_or_else(|| group.to_string());
                format!("{role} via group {name}")
            }
            BindingSource::OrganizationRole { org_role, .. } => {
                format!("{role} via organization role {}", org.role_name(org_role))
            }
            BindingSource::Repository { access, .. } => {
                format!("{role} via repository access {}", access.as_str())
            }
        }
    }
}

impl std::fmt::Display for BindingSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindingSource::Direct { role } => write!(f, "role {role} directly"),
            BindingSource::Group { role, group } => write!(f, "role {role} via group {group}"),
            BindingSource::OrganizationRole { role, org_role } => {
                write!(f, "role {role} via organization role {org_role}")
            }
            BindingSource::Repository { role, access } => {
                write!(f, "role {role} via repository access {}", access.as_str())
            }
        }
    }
}

impl Organization {
    /// The user's organization roles: the direct one and every group's.
    pub fn org_grants(&self, user: UserId) -> Vec<BindingSource> {
        let mut grants = Vec::new();
        if let Some(role) = self.org_roles.get(&user) {
            grants.push(BindingSource::Direct { role: *role });
        }
        for g in self.groups_of(user) {
            if let Some(role) = self.groups.get(g).and_then(|g| g.role) {
                grants.push(BindingSource::Group { role, group: *g });
            }
        }
        grants
    }

    /// Calls `f` with every organization role the user holds (no allocation).
    fn for_each_org_role(&self, user: UserId, mut f: impl FnMut(RoleId)) {
        if let Some(role) = self.org_roles.get(&user) {
            f(*role);
        }
        for g in self.groups_of(user) {
            if let Some(role) = self.groups.get(g).and_then(|g| g.role) {
                f(role);
            }
        }
    }

    /// Whether the user holds any organization role (repository access counts
    /// only for such users).
    pub fn has_org_role(&self, user: UserId) -> bool {
        let mut any = false;
        self.for_each_org_role(user, |_| any = true);
        any
    }

    /// The user's organization-scope permissions.
    pub fn org_permissions(&self, user: UserId) -> PermissionSet {
        let mut set = PermissionSet::EMPTY;
        self.for_each_org_role(user, |r| set = set.union(self.role_permissions(r)));
        set
    }

    /// Whether the user holds `Owner` from any source.
    pub fn is_owner(&self, user: UserId) -> bool {
        let mut owner = false;
        self.for_each_org_role(user, |r| owner |= r == OWNER);
        owner
    }

    /// Every user who holds `Owner`, directly or through a group.
    pub fn owners(&self) -> BTreeSet<UserId> {
        let mut owners: BTreeSet<UserId> = self
            .org_roles
            .iter()
            .filter(|(u, r)| **r == OWNER && self.users.contains_key(u))
            .map(|(u, _)| *u)
            .collect();
        for g in self.groups.values().filter(|g| g.role == Some(OWNER)) {
            owners.extend(g.members.iter().copied());
        }
        owners
    }

    /// Every role the user holds on a project, with its source.
    pub fn project_grants(&self, user: UserId, project: ProjectId) -> Vec<BindingSource> {
        let mut grants = Vec::new();
        self.for_each_project_grant(user, project, |s| grants.push(s));
        grants
    }

    fn for_each_project_grant(
        &self,
        user: UserId,
        project: ProjectId,
        mut f: impl FnMut(BindingSource),
    ) {
        if !self.projects.contains_key(&project) {
            return;
        }
        self.for_each_bound_grant(user, project, &mut f);
        self.for_each_every_project_grant(user, &mut f);
        if let Some(source) = self.repository_grant(user, project) {
            f(source);
        }
    }

    /// Direct and group bindings on one project.
    fn for_each_bound_grant(
        &self,
        user: UserId,
        project: ProjectId,
        mut f: impl FnMut(BindingSource),
    ) {
        let Some(p) = self.projects.get(&project) else {
            return;
        };
        if let Some(role) = p.user_bindings.get(&user) {
            f(BindingSource::Direct { role: *role });
        }
        for g in self.groups_of(user) {
            if let Some(role) = p.group_bindings.get(g) {
                f(BindingSource::Group {
                    role: *role,
                    group: *g,
                });
            }
        }
    }

    /// Repository access counts only for users with an organization role.
    fn repository_grant(&self, user: UserId, project: ProjectId) -> Option<BindingSource> {
        let p = self.projects.get(&project)?;
        repository_source(p, user, self.has_org_role(user))
    }

    /// The sources bound to one project: direct, group and repository
    /// access, without the every-project ones.
    fn for_each_project_specific_grant(
        &self,
        user: UserId,
        project: ProjectId,
        mut f: impl FnMut(BindingSource),
    ) {
        self.for_each_bound_grant(user, project, &mut f);
        if let Some(source) = self.repository_grant(user, project) {
            f(source);
        }
    }

    /// The project roles the user's organization roles grant on every
    /// project.
    fn for_each_every_project_grant(&self, user: UserId, mut f: impl FnMut(BindingSource)) {
        self.for_each_org_role(user, |org_role| {
            for role in self.mapped_project_roles(org_role) {
                f(BindingSource::OrganizationRole {
                    role: *role,
                    org_role,
                });
            }
        });
    }

    /// The roles the user's organization roles grant on every project, each
    /// with the organization role it comes from.
    pub fn every_project_grants(&self, user: UserId) -> Vec<BindingSource> {
        let mut grants = Vec::new();
        self.for_each_every_project_grant(user, |s| grants.push(s));
        grants
    }

    /// The roles bound to one project for the user (direct, group,
    /// repository), without the every-project ones.
    pub fn project_specific_grants(&self, user: UserId, project: ProjectId) -> Vec<BindingSource> {
        let mut grants = Vec::new();
        if self.projects.contains_key(&project) {
            self.for_each_project_specific_grant(user, project, |s| grants.push(s));
        }
        grants
    }

    /// The permissions the user holds on every project through their
    /// organization roles.
    pub fn every_project_permissions(&self, user: UserId) -> PermissionSet {
        let mut set = PermissionSet::EMPTY;
        self.for_each_every_project_grant(user, |s| {
            set = set.union(self.role_permissions(s.role()))
        });
        set
    }

    /// The permissions the user holds on one project from the sources bound
    /// to it (direct, group, repository), without the every-project ones.
    pub fn project_specific_permissions(&self, user: UserId, project: ProjectId) -> PermissionSet {
        let mut set = PermissionSet::EMPTY;
        self.for_each_project_specific_grant(user, project, |s| {
            set = set.union(self.role_permissions(s.role()))
        });
        set
    }

    /// The user's permissions on a project (project scope only).
    pub fn project_permissions(&self, user: UserId, project: ProjectId) -> PermissionSet {
        let mut set = PermissionSet::EMPTY;
        self.for_each_project_grant(user, project, |s| {
            set = set.union(self.role_permissions(s.role()))
        });
        set
    }

    /// The one question: may `user` do `permission` (on `project` for project
    /// permissions)? Removed or unknown users may do nothing.
    pub fn check(&self, user: UserId, permission: Permission, project: Option<ProjectId>) -> bool {
        if !self.users.contains_key(&user) {
            return false;
        }
        match (permission.scope(), project) {
            (crate::permissions::Scope::Organization, _) => {
                self.org_permissions(user).contains(permission)
            }
            (crate::permissions::Scope::Project, Some(p)) => {
                self.project_permissions(user, p).contains(permission)
            }
            (crate::permissions::Scope::Project, None) => false,
        }
    }

    /// The roles a subject holds on a project from each source. For a group
    /// subject only its own binding counts.
    pub fn subject_project_grants(
        &self,
        subject: Subject,
        project: ProjectId,
    ) -> Vec<BindingSource> {
        match subject {
            Subject::User(u) => self.project_grants(u, project),
            Subject::Group(g) => self
                .projects
                .get(&project)
                .and_then(|p| p.group_bindings.get(&g))
                .map(|role| vec![BindingSource::Direct { role: *role }])
                .unwrap_or_default(),
        }
    }
}

/// The user's repository access on `p` as a source: the rule that it
/// counts only for users with an organization role, in one place.
fn repository_source(p: &Project, user: UserId, has_org_role: bool) -> Option<BindingSource> {
    let access = p.repo_access.get(&user)?;
    has_org_role.then(|| BindingSource::Repository {
        role: p.repo_mapping.role_for(*access),
        access: *access,
    })
}

/// A role binding as it is recorded (the RBAC tables' rows and `replay
/// state`'s list): a subject's organization role, a subject's binding on a
/// project, or a user's repository access with the role the project's
/// mapping gives it. Recorded, not effective: repository access is listed
/// whether or not the user holds an organization role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedBinding {
    pub subject: Subject,
    /// `None` for an organization role.
    pub project: Option<ProjectId>,
    /// [`BindingSource::Direct`] or [`BindingSource::Repository`].
    pub source: BindingSource,
}

impl Organization {
    /// Every recorded binding, in no particular order.
    pub fn recorded_bindings(&self) -> impl Iterator<Item = RecordedBinding> + '_ {
        let org_roles = self
            .org_roles
            .iter()
            .filter(|(u, _)| self.users.contains_key(u))
            .map(|(u, role)| RecordedBinding {
                subject: Subject::User(*u),
                project: None,
                source: BindingSource::Direct { role: *role },
            });
        let group_roles = self.groups.values().filter_map(|g| {
            g.role.map(|role| RecordedBinding {
                subject: Subject::Group(g.id),
                project: None,
                source: BindingSource::Direct { role },
            })
        });
        let projects = self.projects.values().flat_map(|p| {
            let project = Some(p.id);
            let users = p
                .user_bindings
                .iter()
                .map(move |(u, role)| RecordedBinding {
                    subject: Subject::User(*u),
                    project,
                    source: BindingSource::Direct { role: *role },
                });
            let groups = p
                .group_bindings
                .iter()
                .map(move |(g, role)| RecordedBinding {
                    subject: Subject::Group(*g),
                    project,
                    source: BindingSource::Direct { role: *role },
                });
            let repository = p
                .repo_access
                .iter()
                .map(move |(u, access)| RecordedBinding {
                    subject: Subject::User(*u),
                    project,
                    source: BindingSource::Repository {
                        role: p.repo_mapping.role_for(*access),
                        access: *access,
                    },
                });
            users.chain(groups).chain(repository)
        });
        org_roles.chain(group_roles).chain(projects)
    }

    /// Every source that grants `permission` to `user` (on `project` for
    /// project permissions): empty when the user may not do it.
    pub fn explain(
        &self,
        user: UserId,
        permission: Permission,
        project: Option<ProjectId>,
    ) -> Vec<BindingSource> {
        if !self.users.contains_key(&user) {
            return Vec::new();
        }
        let grants = match (permission.scope(), project) {
            (crate::permissions::Scope::Organization, _) => self.org_grants(user),
            (crate::permissions::Scope::Project, Some(p)) => self.project_grants(user, p),
            (crate::permissions::Scope::Project, None) => return Vec::new(),
        };
        grants
            .into_iter()
            .filter(|g| self.role_permissions(g.role()).contains(permission))
            .collect()
    }

    /// The permissions of `scope` that `grants` give, each with the grants
    /// that give it, in catalog order.
    pub fn permissions_with_sources(
        &self,
        scope: crate::permissions::Scope,
        grants: &[BindingSource],
    ) -> Vec<(Permission, Vec<BindingSource>)> {
        if grants.is_empty() {
            return Vec::new();
        }
        Permission::all()
            .filter(|p| p.scope() == scope)
            .filter_map(|permission| {
                let sources: Vec<BindingSource> = grants
                    .iter()
                    .filter(|g| self.role_permissions(g.role()).contains(permission))
                    .copied()
                    .collect();
                (!sources.is_empty()).then_some((permission, sources))
            })
            .collect()
    }

    /// The users a source bound to `project` may reach (direct binding,
    /// repository access, members of a bound group), with repeats; the
    /// every-project grants are not included.
    pub fn users_bound_to(&self, project: ProjectId) -> Vec<UserId> {
        let Some(p) = self.projects.get(&project) else {
            return Vec::new();
        };
        let mut users: Vec<UserId> = p
            .user_bindings
            .keys()
            .chain(p.repo_access.keys())
            .copied()
            .collect();
        for g in p.group_bindings.keys() {
            if let Some(group) = self.groups.get(g) {
                users.extend(group.members.iter().copied());
            }
        }
        users
    }

    /// The users who hold one of `roles` from any source (organization
    /// role, group role, project binding of them or their groups, or
    /// repository access mapped to it), whether or not it counts: a
    /// superset of those whose access a change of these roles can change.
    pub fn users_holding(&self, roles: &impl Fn(RoleId) -> bool) -> rustc_hash::FxHashSet<UserId> {
        let mut users: rustc_hash::FxHashSet<UserId> = self
            .org_roles
            .iter()
            .filter(|(_, r)| roles(**r))
            .map(|(u, _)| *u)
            .collect();
        for g in self.groups.values() {
            let group_role = g.role.is_some_and(roles);
            let bound = self.group_bindings_of(g.id).any(|(_, r)| roles(r));
            if group_role || bound {
                users.extend(g.members.iter().copied());
            }
        }
        for p in self.projects.values() {
            users.extend(
                p.user_bindings
                    .iter()
                    .filter(|(_, r)| roles(**r))
                    .map(|(u, _)| *u),
            );
            if p.repo_mapping.roles().iter().any(|r| roles(*r)) {
                users.extend(p.repo_access.keys().copied());
            }
        }
        users
    }

    /// Of `projects`, those where the user's permissions depend on whether
    /// they hold an organization role (repository access counts only then).
    pub fn projects_depending_on_org_role<'a>(
        &'a self,
        user: UserId,
        projects: impl IntoIterator<Item = &'a ProjectId> + 'a,
    ) -> impl Iterator<Item = ProjectId> + 'a {
        projects.into_iter().copied().filter(move |p| {
            self.projects
                .get(p)
                .is_some_and(|p| p.repo_access.contains_key(&user))
        })
    }

    /// Calls `f` with the permissions the user's own sources (their direct
    /// binding and their repository access, which counts only with an
    /// organization role) grant on each of `projects` that has them; the
    /// group and every-project sources are not included. For computing many
    /// projects at once: the organization roles are looked up once.
    pub fn for_each_own_project_permissions<'a>(
        &self,
        user: UserId,
        projects: impl IntoIterator<Item = &'a ProjectId>,
        mut f: impl FnMut(ProjectId, PermissionSet),
    ) {
        let repository_counts = self.has_org_role(user);
        for id in projects {
            let Some(p) = self.projects.get(id) else {
                continue;
            };
            let mut set = PermissionSet::EMPTY;
            if let Some(role) = p.user_bindings.get(&user) {
                set = set.union(self.role_permissions(*role));
            }
            if let Some(source) = repository_source(p, user, repository_counts) {
                set = set.union(self.role_permissions(source.role()));
            }
            if !set.is_empty() {
                f(*id, set);
            }
        }
    }

    /// The permissions a group's binding on each of `projects` grants its
    /// members (non-empty ones only).
    pub fn group_project_permissions<'a>(
        &self,
        group: GroupId,
        projects: impl IntoIterator<Item = &'a ProjectId>,
    ) -> Vec<(ProjectId, PermissionSet)> {
        projects
            .into_iter()
            .filter_map(|p| {
                let role = self.projects.get(p)?.group_bindings.get(&group)?;
                let set = self.role_permissions(*role);
                (!set.is_empty()).then_some((*p, set))
            })
            .collect()
    }
}
