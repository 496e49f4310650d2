//! `decide`: turns a command into the events it causes, or refuses it.
//!
//! One file per area (organization, people, groups, roles, projects, tokens),
//! each holding its commands' checks and events side by side. Every command
//! first authorizes the caller against the same state it changes.

mod groups;
mod organization;
mod people;
mod projects;
mod provisioning;
mod roles;
mod settings;
mod tokens;

use crate::commands::Command;
use crate::errors::DomainError;
use crate::events::{Actor, Event};
use crate::ids::{GroupId, ProjectId, RoleId, UserId};
use crate::permissions::{Permission, PermissionSet, Scope};
use crate::roles::OWNER;
use crate::state::Organization;

/// Decides what `command`, issued by `actor`, changes in `state`.
///
/// Fails with the first rule the command breaks; on failure nothing must be
/// appended. An empty `Ok` means the command changes nothing (for example,
/// assigning a role the subject already has).
pub fn decide(
    state: &Organization,
    command: &Command,
    actor: &Actor,
) -> Result<Vec<Event>, DomainError> {
    if let Command::CreateOrganization { .. } = command {
        return organization::create(state, command, actor);
    }
    if !state.exists() {
        return Err(DomainError::OrgNotFound);
    }
    let caller = Caller::new(state, actor)?;
    use Command::*;
    match command {
        CreateOrganization { .. } => unreachable!("handled above"),
        ChangeSettings { name, url } => organization::change_settings(&caller, name, url),
        ChangeWorkflowSettings { change } => settings::change_workflows(&caller, change),
        SetInitAgent { init_agent } => settings::set_init_agent(&caller, init_agent),
        SetIpAllowList { cidrs, from } => settings::set_ip_allow_list(&caller, cidrs, *from),
        ConfigureSso { sso } => settings::configure_sso(&caller, sso),
        RemoveSso => settings::remove_sso(&caller),
        CreateNotificationTarget { target } => settings::create_notification(&caller, target),
        ChangeNotificationTarget { target } => settings::change_notification(&caller, target),
        RemoveNotificationTarget { id } => settings::remove_notification(&caller, *id),
        ConfigureAuditStreaming { target } => organization::configure_streaming(&caller, target),
        RemoveAuditStreaming => organization::remove_streaming(&caller),
        InvitePeople { people, role } => people::invite(&caller, people, *role),
        SetPassword { user } => people::set_password(&caller, *user),
        ResetPassword { user } => people::reset_password(&caller, *user),
        RemoveUser { user } => people::remove(&caller, *user),
        AssignOrgRole { subject, role } => people::assign_org_role(&caller, *subject, *role),
        RetractOrgRole { subject } => people::retract_org_role(&caller, *subject),
        CreateGroup {
            group_id,
            name,
            description,
            members,
        } => groups::create(&caller, *group_id, name, description, members),
        ChangeGroup {
            group,
            name,
            description,
            add_members,
            remove_members,
        } => groups::change(
            &caller,
            *group,
            name,
            description,
            add_members,
            remove_members,
        ),
        DeleteGroup { group } => groups::delete(&caller, *group),
        CreateRole { role_id, spec } => roles::create(&caller, *role_id, spec),
        ChangeRole { role, spec } => roles::change(&caller, *role, spec),
        DeleteRole { role } => roles::delete(&caller, *role),
        CreateProject {
            project_id,
            name,
            owner,
        } => projects::create(&caller, *project_id, name, *owner),
        TransferProject { project, to } => projects::transfer(&caller, *project, *to),
        DeleteProject { project } => projects::delete(&caller, *project),
        BindProjectRole {
            project,
            subject,
            role,
        } => projects::bind(&caller, *project, *subject, *role),
        UnbindProjectRole { project, subject } => projects::unbind(&caller, *project, *subject),
        SetRepositoryAccess {
            project,
            user,
            access,
        } => projects::set_repository_access(&caller, *project, *user, *access),
        SetRepositoryRoleMapping { project, mapping } => {
            projects::set_repository_mapping(&caller, *project, mapping)
        }
        CreateServiceAccount {
            user_id,
            name,
            description,
            role,
            token,
        } => tokens::create_service_account(&caller, *user_id, name, description, *role, *token),
        RegenerateServiceAccountToken {
            service_account,
            token_id,
            expires_at,
        } => tokens::regenerate_service_account_token(
            &caller,
            *service_account,
            *token_id,
            *expires_at,
        ),
        IssueServiceAccountToken {
            service_account,
            token_id,
            expires_at,
        } => tokens::issue_service_account_token(&caller, *service_account, *token_id, *expires_at),
        RevokeServiceAccountToken {
            service_account,
            token_id,
        } => tokens::revoke_service_account_token(&caller, *service_account, *token_id),
        RemoveServiceAccount { service_account } => {
            tokens::remove_service_account(&caller, *service_account)
        }
        ChangeServiceAccount {
            service_account,
            name,
            description,
        } => tokens::change_service_account(&caller, *service_account, name, description),
        DeactivateUser { user } => people::deactivate(&caller, *user),
        ReactivateUser { user, role } => people::reactivate(&caller, *user, *role),
        ProvisionUser {
            user_id,
            email,
            identity,
            active,
        } => provisioning::provision(&caller, *user_id, email, identity, *active),
        ChangeProfile {
            user,
            email,
            identity,
            active,
        } => provisioning::change_profile(&caller, *user, email, identity, *active),
        IssueScimToken { token_id } => provisioning::issue_scim_token(&caller, *token_id),
        RevokeScimToken => provisioning::revoke_scim_token(&caller),
        ChangeScimSettings { default_role } => {
            provisioning::change_scim_settings(&caller, *default_role)
        }
        IssueApiToken {
            token_id,
            name,
            expires_at,
        } => tokens::issue_api_token(&caller, *token_id, name, *expires_at),
        RevokeApiToken { token_id } => tokens::revoke_api_token(&caller, *token_id),
    }
}

/// The caller of a command, with their permissions computed from the state
/// the command will change. The system actor (instance admin) holds every
/// permission.
pub(crate) struct Caller<'a> {
    pub org: &'a Organization,
    /// `None` for the system actor.
    pub user: Option<UserId>,
}

impl<'a> Caller<'a> {
    fn new(org: &'a Organization, actor: &Actor) -> Result<Self, DomainError> {
        match actor.user_id {
            None => Ok(Caller { org, user: None }),
            Some(u) if org.users.get(&u).is_some_and(|u| u.active) => {
                Ok(Caller { org, user: Some(u) })
            }
            Some(_) => Err(DomainError::UnknownActor),
        }
    }

    pub fn is_system(&self) -> bool {
        self.user.is_none()
    }

    /// Whether the caller acts as an Owner (the system does).
    pub fn is_owner(&self) -> bool {
        self.user.is_none_or(|u| self.org.is_owner(u))
    }

    pub fn org_permissions(&self) -> PermissionSet {
        match self.user {
            None => PermissionSet::all_of(Scope::Organization),
            Some(u) => self.org.org_permissions(u),
        }
    }

    pub fn project_permissions(&self, project: ProjectId) -> PermissionSet {
        match self.user {
            None => PermissionSet::all_of(Scope::Project),
            Some(u) => self.org.project_permissions(u, project),
        }
    }

    pub fn holds(&self, permission: Permission) -> bool {
        self.org_permissions().contains(permission)
    }

    /// Fails with `forbidden` naming the permission unless the caller holds it.
    pub fn require(&self, permission: Permission) -> Result<(), DomainError> {
        if self.holds(permission) {
            Ok(())
        } else {
            Err(DomainError::Forbidden {
                permission: permission.name(),
            })
        }
    }

    /// Fails with `forbidden` unless the caller holds `permission` on
    /// `project`.
    pub fn require_on(
        &self,
        project: ProjectId,
        permission: Permission,
    ) -> Result<(), DomainError> {
        if self.project_permissions(project).contains(permission) {
            Ok(())
        } else {
            Err(DomainError::Forbidden {
                permission: permission.name(),
            })
        }
    }

    /// The permissions the caller holds on every project through their
    /// organization roles.
    fn every_project_permissions(&self) -> PermissionSet {
        match self.user {
            None => PermissionSet::all_of(Scope::Project),
            Some(u) => {
                let mut set = PermissionSet::EMPTY;
                for grant in self.org.org_grants(u) {
                    for pr in self.org.mapped_project_roles(grant.role()) {
                        set = set.union(self.org.role_permissions(*pr));
                    }
                }
                set
            }
        }
    }

    /// No escalation: the caller must already hold every permission `role`
    /// grants (on `project` for project roles; for an organization role also
    /// those of the project roles it grants on every project). Owners may
    /// grant anything.
    pub fn may_grant(&self, role: RoleId, project: Option<ProjectId>) -> Result<(), DomainError> {
        if self.is_owner() {
            return Ok(());
        }
        let Some(r) = self.org.roles.get(&role) else {
            return Err(DomainError::RoleNotFound(role.to_string()));
        };
        let granted = self.org.role_permissions(role);
        let mut missing: Vec<&'static str> = match (r.scope, project) {
            (Scope::Organization, _) => granted
                .difference(self.org_permissions())
                .iter()
                .map(|p| p.name())
                .collect(),
            (Scope::Project, Some(p)) => granted
                .difference(self.project_permissions(p))
                .iter()
                .map(|p| p.name())
                .collect(),
            (Scope::Project, None) => granted
                .difference(self.every_project_permissions())
                .iter()
                .map(|p| p.name())
                .collect(),
        };
        if r.scope == Scope::Organization {
            let every = self.every_project_permissions();
            for pr in self.org.mapped_project_roles(role) {
                for p in self.org.role_permissions(*pr).difference(every).iter() {
                    if !missing.contains(&p.name()) {
                        missing.push(p.name());
                    }
                }
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Escalation {
                role: r.name.clone(),
                missing,
            })
        }
    }

    // ---- lookups that fail with the right error ---------------------------

    pub fn user(&self, user: UserId) -> Result<&'a crate::state::User, DomainError> {
        self.org
            .users
            .get(&user)
            .ok_or_else(|| DomainError::UserNotFound(user.to_string()))
    }

    /// [`Caller::grantee`], failing with `not_a_member` for an unknown
    /// user (the projects' rules).
    pub fn member_grantee(&self, user: UserId) -> Result<&'a crate::state::User, DomainError> {
        if !self.org.users.contains_key(&user) {
            return Err(DomainError::NotAMember(user.to_string()));
        }
        self.grantee(user)
    }

    /// A user who may be given something (a role, a binding, a group, a
    /// project, a password, a token): one that exists and is active.
    pub fn grantee(&self, user: UserId) -> Result<&'a crate::state::User, DomainError> {
        let u = self.user(user)?;
        if !u.active {
            return Err(DomainError::UserDeactivated(u.username.clone()));
        }
        Ok(u)
    }

    pub fn group(&self, group: GroupId) -> Result<&'a crate::state::Group, DomainError> {
        self.org
            .groups
            .get(&group)
            .ok_or_else(|| DomainError::GroupNotFound(group.to_string()))
    }

    pub fn project(&self, project: ProjectId) -> Result<&'a crate::state::Project, DomainError> {
        self.org
            .projects
            .get(&project)
            .ok_or_else(|| DomainError::ProjectNotFound(project.to_string()))
    }

    /// A role that must exist and belong to `scope`.
    pub fn role_in(
        &self,
        role: RoleId,
        scope: Scope,
    ) -> Result<&'a crate::roles::Role, DomainError> {
        let r = self
            .org
            .roles
            .get(&role)
            .ok_or_else(|| DomainError::RoleNotFound(role.to_string()))?;
        if r.scope != scope {
            return Err(DomainError::RoleScopeMismatch {
                what: format!("role {}", r.name),
                expected: scope,
                actual: r.scope,
            });
        }
        Ok(r)
    }
}

/// What a change takes away from the Owners, to check that one remains.
#[derive(Default)]
pub(crate) struct OwnerLoss {
    /// A user loses their direct Owner role.
    pub direct: Option<UserId>,
    /// A group loses its Owner role (role change or deletion).
    pub group: Option<GroupId>,
    /// Users leave a group.
    pub leave: Vec<(GroupId, UserId)>,
    /// A user is removed from the organization.
    pub removed: Option<UserId>,
}

impl OwnerLoss {
    /// Fails with `last_owner` if no Owner would remain after the change.
    pub fn check(&self, org: &Organization) -> Result<(), DomainError> {
        let remains = org.owners().into_iter().any(|u| {
            if Some(u) == self.removed {
                return false;
            }
            let direct = org.org_roles.get(&u) == Some(&OWNER) && self.direct != Some(u);
            direct
                || org.groups_of(u).iter().any(|g| {
                    Some(*g) != self.group
                        && !self.leave.contains(&(*g, u))
                        && org.groups.get(g).and_then(|g| g.role) == Some(OWNER)
                })
        });
        if remains {
            Ok(())
        } else {
            Err(DomainError::LastOwner)
        }
    }
}

/// Collects field errors and fails with all of them at once.
#[derive(Default)]
pub(crate) struct Checks(Vec<crate::errors::FieldError>);

impl Checks {
    pub fn check(&mut self, r: Result<(), crate::errors::FieldError>) {
        if let Err(e) = r {
            self.0.push(e);
        }
    }
    pub fn extend<T>(&mut self, r: Result<T, Vec<crate::errors::FieldError>>) -> Option<T> {
        match r {
            Ok(t) => Some(t),
            Err(e) => {
                self.0.extend(e);
                None
            }
        }
    }
    pub fn done(self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Invalid(self.0))
        }
    }
}
