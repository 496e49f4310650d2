//! Path and body references to users, groups, roles, projects and binding
//! subjects, resolved against an organization's state: `{user}` is an id,
//! username or email; the others an id or a name. Unknown: 404 with the
//! stable code of the kind (`user_not_found`, `role_not_found`, ...).

use domain::ids::{GroupId, ProjectId, RoleId, Subject, UserId};
use domain::permissions::Scope;
use domain::Organization;

use super::problem::{ApiResult, Problem};

pub fn user(state: &Organization, r: &str) -> ApiResult<UserId> {
    let found = match r.parse::<UserId>() {
        Ok(id) if state.users.contains_key(&id) => Some(id),
        _ => state
            .user_by_username(r)
            .or_else(|| state.user_by_email(r))
            .map(|u| u.id),
    };
    found.ok_or_else(|| Problem::not_found("user_not_found", format!("user {r} not found")))
}

pub fn group(state: &Organization, r: &str) -> ApiResult<GroupId> {
    let found = match r.parse::<GroupId>() {
        Ok(id) if state.groups.contains_key(&id) => Some(id),
        _ => state.group_by_name(r).map(|g| g.id),
    };
    found.ok_or_else(|| Problem::not_found("group_not_found", format!("group {r} not found")))
}

pub fn project(state: &Organization, r: &str) -> ApiResult<ProjectId> {
    let found = match r.parse::<ProjectId>() {
        Ok(id) if state.projects.contains_key(&id) => Some(id),
        _ => state.project_by_name(r).map(|p| p.id),
    };
    found.ok_or_else(|| Problem::not_found("project_not_found", format!("project {r} not found")))
}

/// A role by id (any scope, checked by the command) or by name in `scope`.
pub fn role(state: &Organization, r: &str, scope: Scope) -> ApiResult<RoleId> {
    let found = match r.parse::<RoleId>() {
        Ok(id) if state.roles.contains_key(&id) => Some(id),
        _ => state
            .role_by_name(scope, r)
            .map(|role| role.id)
            .or_else(|| {
                // Named in the other scope: let the command say scope mismatch.
                let other = match scope {
                    Scope::Organization => Scope::Project,
                    Scope::Project => Scope::Organization,
                };
                state.role_by_name(other, r).map(|role| role.id)
            }),
    };
    found.ok_or_else(|| Problem::not_found("role_not_found", format!("role {r} not found")))
}

/// `user:<id>`, `group:<id>`, or a bare user reference.
pub fn subject(state: &Organization, r: &str) -> ApiResult<Subject> {
    if let Some(g) = r.strip_prefix("group:") {
        return group(state, g).map(Subject::Group);
    }
    user(state, r.strip_prefix("user:").unwrap_or(r)).map(Subject::User)
}
