//! Projects: create, transfer ownership, delete, role bindings, repository
//! access and its role mapping.

use super::Caller;
use crate::errors::DomainError;
use crate::events::*;
use crate::ids::{ProjectId, RoleId, Subject, UserId};
use crate::permissions::known::{
    ORGANIZATION_PEOPLE_MANAGE, ORGANIZATION_PROJECTS_CREATE, PROJECT_ACCESS_MANAGE, PROJECT_DELETE,
};
use crate::permissions::Scope;
use crate::roles::{RepoAccess, RepoRoleMapping, PROJECT_ADMIN};
use crate::state::UserKind;
use crate::validate;

/// Creates a project owned by `owner` (default: the caller), who also gets a
/// direct `Admin` binding on it. Needs `organization.projects.create`.
pub(super) fn create(
    caller: &Caller,
    project_id: ProjectId,
    name: &str,
    owner: Option<UserId>,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_PROJECTS_CREATE)?;
    validate::name("name", name, validate::MAX_NAME).map_err(|e| DomainError::Invalid(vec![e]))?;
    if caller.org.project_by_name(name).is_some() {
        return Err(DomainError::ProjectNameTaken(name.to_string()));
    }
    if caller.org.projects.contains_key(&project_id) {
        return Err(DomainError::invalid(
            "project_id",
            "id_taken",
            "project id already in use",
        ));
    }
    let owner = owner.or(caller.user).ok_or_else(|| {
        DomainError::invalid(
            "owner",
            "required",
            "the system actor must name the project's owner",
        )
    })?;
    caller.member_grantee(owner)?;
    Ok(vec![
        Event::ProjectCreated(ProjectCreated {
            project_id,
            name: name.to_string(),
            owner,
        }),
        Event::ProjectRoleBound(ProjectRoleBound {
            project_id,
            subject: Subject::User(owner),
            role_id: PROJECT_ADMIN,
        }),
    ])
}

/// Hands a project to another member. Needs `organization.people.manage` or
/// being the current owner; fails with `not_a_member` for an outsider.
pub(super) fn transfer(
    caller: &Caller,
    project: ProjectId,
    to: UserId,
) -> Result<Vec<Event>, DomainError> {
    let p = caller.project(project)?;
    if caller.user != Some(p.owner) {
        caller.require(ORGANIZATION_PEOPLE_MANAGE)?;
    }
    caller.member_grantee(to)?;
    if p.owner == to {
        return Ok(vec![]);
    }
    Ok(vec![Event::ProjectOwnershipTransferred(
        ProjectOwnershipTransferred {
            project_id: project,
            from: p.owner,
            to,
        },
    )])
}

/// Deletes a project; needs `project.delete` on it.
pub(super) fn delete(caller: &Caller, project: ProjectId) -> Result<Vec<Event>, DomainError> {
    caller.project(project)?;
    caller.require_on(project, PROJECT_DELETE)?;
    Ok(vec![Event::ProjectDeleted(ProjectDeleted {
        project_id: project,
    })])
}

/// Binds a project role to a user or group directly (replacing their direct
/// binding). Needs `project.access.manage` on the project; the subject must be
/// in the organization; no escalation.
pub(super) fn bind(
    caller: &Caller,
    project: ProjectId,
    subject: Subject,
    role: RoleId,
) -> Result<Vec<Event>, DomainError> {
    let p = caller.project(project)?;
    caller.require_on(project, PROJECT_ACCESS_MANAGE)?;
    caller.role_in(role, Scope::Project)?;
    let current = match subject {
        Subject::User(u) => {
            caller.member_grantee(u)?;
            p.user_bindings.get(&u)
        }
        Subject::Group(g) => {
            caller.group(g)?;
            p.group_bindings.get(&g)
        }
    };
    if current == Some(&role) {
        return Ok(vec![]);
    }
    caller.may_grant(role, Some(project))?;
    Ok(vec![Event::ProjectRoleBound(ProjectRoleBound {
        project_id: project,
        subject,
        role_id: role,
    })])
}

/// Retracts a direct project binding. A role from any other source is refused
/// with `not_directly_assigned` naming the real sources.
pub(super) fn unbind(
    caller: &Caller,
    project: ProjectId,
    subject: Subject,
) -> Result<Vec<Event>, DomainError> {
    let p = caller.project(project)?;
    caller.require_on(project, PROJECT_ACCESS_MANAGE)?;
    let direct = match subject {
        Subject::User(u) => {
            caller.user(u)?;
            p.user_bindings.get(&u)
        }
        Subject::Group(g) => {
            caller.group(g)?;
            p.group_bindings.get(&g)
        }
    };
    match direct {
        Some(role) => Ok(vec![Event::ProjectRoleUnbound(ProjectRoleUnbound {
            project_id: project,
            subject,
            role_id: *role,
        })]),
        None => Err(DomainError::NotDirectlyAssigned {
            sources: caller.org.subject_project_grants(subject, project),
        }),
    }
}

/// Sets or revokes a user's repository access. Needs `project.access.manage`;
/// the user must be in the organization; the mapped role must be grantable.
pub(super) fn set_repository_access(
    caller: &Caller,
    project: ProjectId,
    user: UserId,
    access: Option<RepoAccess>,
) -> Result<Vec<Event>, DomainError> {
    let p = caller.project(project)?;
    caller.require_on(project, PROJECT_ACCESS_MANAGE)?;
    let u = if access.is_some() {
        caller.member_grantee(user)?
    } else {
        caller
            .org
            .users
            .get(&user)
            .ok_or_else(|| DomainError::NotAMember(user.to_string()))?
    };
    if u.kind == UserKind::ServiceAccount && access.is_some() {
        return Err(DomainError::invalid(
            "user",
            "service_account",
            "service accounts hold roles, not repository access",
        ));
    }
    let current = p.repo_access.get(&user).copied();
    if current == access {
        return Ok(vec![]);
    }
    let event = match (current, access) {
        (None, Some(access)) => Event::RepositoryAccessGranted(RepositoryAccessGranted {
            project_id: project,
            user_id: user,
            access,
        }),
        (Some(from), Some(to)) => Event::RepositoryAccessChanged(RepositoryAccessChanged {
            project_id: project,
            user_id: user,
            from,
            to,
        }),
        (Some(access), None) => Event::RepositoryAccessRevoked(RepositoryAccessRevoked {
            project_id: project,
            user_id: user,
            access,
        }),
        (None, None) => unreachable!("equal, handled above"),
    };
    if let Some(a) = access {
        caller.may_grant(p.repo_mapping.role_for(a), Some(project))?;
    }
    Ok(vec![event])
}

/// Changes which project roles repository access maps to on this project.
/// Needs `project.access.manage`; every role must be a project role the
/// caller could grant.
pub(super) fn set_repository_mapping(
    caller: &Caller,
    project: ProjectId,
    mapping: &RepoRoleMapping,
) -> Result<Vec<Event>, DomainError> {
    let p = caller.project(project)?;
    caller.require_on(project, PROJECT_ACCESS_MANAGE)?;
    for role in mapping.roles() {
        caller.role_in(role, Scope::Project)?;
        caller.may_grant(role, Some(project))?;
    }
    if p.repo_mapping == *mapping {
        return Ok(vec![]);
    }
    Ok(vec![Event::RepositoryRoleMappingChanged(
        RepositoryRoleMappingChanged {
            project_id: project,
            mapping: *mapping,
        },
    )])
}
