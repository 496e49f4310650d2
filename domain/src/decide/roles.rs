//! Custom roles: create, change, delete. All need
//! `organization.custom_roles.manage`; predefined roles are read-only.

use crate::permissions::known::ORGANIZATION_CUSTOM_ROLES_MANAGE;
use std::collections::BTreeSet;

use super::{Caller, Checks};
use crate::commands::RoleSpec;
use crate::errors::DomainError;
use crate::events::*;
use crate::ids::RoleId;
use crate::permissions::{Permission, PermissionSet, Scope};
use crate::roles::is_predefined;
use crate::state::Organization;
use crate::validate;

/// Checks a spec and turns it into a definition: permissions known and of the
/// role's scope (the scope's `view` added), inherited roles of the same scope,
/// a project role only on organization roles.
fn definition(
    caller: &Caller,
    spec: &RoleSpec,
    this: Option<RoleId>,
) -> Result<CustomRoleDefinition, DomainError> {
    let mut checks = Checks::default();
    checks.check(validate::name("name", &spec.name, validate::MAX_NAME));
    checks.check(validate::text(
        "description",
        &spec.description,
        validate::MAX_DESCRIPTION,
    ));
    checks.done()?;
    if let Some(existing) = caller.org.role_by_name(spec.scope, &spec.name) {
        if Some(existing.id) != this {
            return Err(DomainError::RoleNameTaken {
                name: spec.name.clone(),
                scope: spec.scope,
            });
        }
    }
    let mut permissions = PermissionSet::EMPTY;
    for name in &spec.permissions {
        let p =
            Permission::lookup(name).ok_or_else(|| DomainError::UnknownPermission(name.clone()))?;
        if p.scope() != spec.scope {
            return Err(DomainError::RoleScopeMismatch {
                what: format!("permission {name}"),
                expected: spec.scope,
                actual: p.scope(),
            });
        }
        permissions.insert(p);
    }
    permissions.insert(spec.scope.view_permission());
    let mut inherits = Vec::new();
    for r in &spec.inherits {
        caller.role_in(*r, spec.scope)?;
        if !inherits.contains(r) {
            inherits.push(*r);
        }
    }
    if let Some(pr) = spec.project_role {
        if spec.scope != Scope::Organization {
            return Err(DomainError::invalid(
                "project_role",
                "role_scope_mismatch",
                "only organization roles grant a project role on every project",
            ));
        }
        caller.role_in(pr, Scope::Project)?;
    }
    Ok(CustomRoleDefinition {
        name: spec.name.trim().to_string(),
        scope: spec.scope,
        description: spec.description.clone(),
        permissions,
        inherits,
        project_role: spec.project_role,
    })
}

/// Creates a custom role.
pub(super) fn create(
    caller: &Caller,
    role_id: RoleId,
    spec: &RoleSpec,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_CUSTOM_ROLES_MANAGE)?;
    if caller.org.roles.contains_key(&role_id) {
        return Err(DomainError::invalid(
            "role_id",
            "id_taken",
            "role id already in use",
        ));
    }
    let definition = definition(caller, spec, None)?;
    Ok(vec![Event::CustomRoleCreated(CustomRoleCreated {
        role_id,
        definition,
    })])
}

/// Changes a custom role (its scope stays). Refused for predefined roles, for
/// inheritance cycles, and when the caller does not hold what the changed
/// role would grant to its holders (no escalation).
pub(super) fn change(
    caller: &Caller,
    role: RoleId,
    spec: &RoleSpec,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_CUSTOM_ROLES_MANAGE)?;
    let existing = caller
        .org
        .roles
        .get(&role)
        .ok_or_else(|| DomainError::RoleNotFound(role.to_string()))?;
    if existing.predefined {
        return Err(DomainError::RoleIsPredefined(existing.name.clone()));
    }
    if spec.scope != existing.scope {
        return Err(DomainError::RoleScopeMismatch {
            what: format!("role {}", existing.name),
            expected: existing.scope,
            actual: spec.scope,
        });
    }
    let definition = definition(caller, spec, Some(role))?;
    if let Some(path) = cycle_through(caller.org, role, &definition.inherits) {
        return Err(DomainError::InheritanceCycle {
            path: path.into_iter().map(|r| caller.org.role_name(r)).collect(),
        });
    }
    if !caller.is_owner() {
        let mut granted = definition.permissions;
        // An organization role also grants its project roles (its own and
        // those of the roles it inherits) on every project.
        let mut on_every_project = PermissionSet::EMPTY;
        if let Some(pr) = &definition.project_role {
            on_every_project = on_every_project.union(caller.org.role_permissions(*pr));
        }
        for r in &definition.inherits {
            granted = granted.union(caller.org.role_permissions(*r));
            for pr in caller.org.mapped_project_roles(*r) {
                on_every_project = on_every_project.union(caller.org.role_permissions(*pr));
            }
        }
        let held = match existing.scope {
            Scope::Organization => caller.org_permissions(),
            Scope::Project => caller.every_project_permissions(),
        };
        let mut missing: Vec<&'static str> =
            granted.difference(held).iter().map(|p| p.name()).collect();
        missing.extend(
            on_every_project
                .difference(caller.every_project_permissions())
                .iter()
                .map(|p| p.name()),
        );
        if !missing.is_empty() {
            return Err(DomainError::Escalation {
                role: existing.name.clone(),
                missing,
            });
        }
    }
    let unchanged = existing.name == definition.name
        && existing.description == definition.description
        && existing.permissions == definition.permissions
        && existing.inherits == definition.inherits
        && existing.project_role == definition.project_role;
    if unchanged {
        return Ok(vec![]);
    }
    Ok(vec![Event::CustomRoleChanged(CustomRoleChanged {
        role_id: role,
        definition,
    })])
}

/// If `role` inheriting `inherits` would form a cycle, the path of the cycle
/// (starting and ending at `role`).
fn cycle_through(org: &Organization, role: RoleId, inherits: &[RoleId]) -> Option<Vec<RoleId>> {
    fn walk(
        org: &Organization,
        target: RoleId,
        at: RoleId,
        path: &mut Vec<RoleId>,
        seen: &mut BTreeSet<RoleId>,
    ) -> bool {
        path.push(at);
        if at == target {
            return true;
        }
        if seen.insert(at) {
            if let Some(r) = org.roles.get(&at) {
                for next in &r.inherits {
                    if walk(org, target, *next, path, seen) {
                        return true;
                    }
                }
            }
        }
        path.pop();
        false
    }
    let mut seen = BTreeSet::new();
    for start in inherits {
        let mut path = vec![role];
        if walk(org, role, *start, &mut path, &mut seen) {
            return Some(path);
        }
    }
    None
}

/// Every place a role is used, described for the `role_in_use` error.
fn uses_of(org: &Organization, role: RoleId) -> Vec<String> {
    let mut uses = Vec::new();
    let users = org.org_roles.values().filter(|r| **r == role).count();
    if users > 0 {
        uses.push(format!("assigned to {users} user(s)"));
    }
    for g in org.groups.values().filter(|g| g.role == Some(role)) {
        uses.push(format!("role of group {}", g.name));
    }
    let mut projects: Vec<&str> = org
        .projects
        .values()
        .filter(|p| {
            p.user_bindings
                .values()
                .chain(p.group_bindings.values())
                .any(|r| *r == role)
        })
        .map(|p| p.name.as_str())
        .collect();
    projects.sort();
    for p in projects {
        uses.push(format!("bound on project {p}"));
    }
    let mut mapped: Vec<&str> = org
        .projects
        .values()
        .filter(|p| p.repo_mapping.roles().contains(&role))
        .map(|p| p.name.as_str())
        .collect();
    mapped.sort();
    for p in mapped {
        uses.push(format!("repository mapping of project {p}"));
    }
    let mut others: Vec<_> = org.roles.values().filter(|r| r.id != role).collect();
    others.sort_by(|a, b| a.name.cmp(&b.name));
    for r in others {
        if r.inherits.contains(&role) {
            uses.push(format!("inherited by role {}", r.name));
        }
        if r.project_role == Some(role) {
            uses.push(format!("granted on every project by role {}", r.name));
        }
    }
    uses
}

/// Deletes a custom role; refused while assigned, inherited or mapped to.
pub(super) fn delete(caller: &Caller, role: RoleId) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_CUSTOM_ROLES_MANAGE)?;
    let existing = caller
        .org
        .roles
        .get(&role)
        .ok_or_else(|| DomainError::RoleNotFound(role.to_string()))?;
    if existing.predefined || is_predefined(role) {
        return Err(DomainError::RoleIsPredefined(existing.name.clone()));
    }
    let uses = uses_of(caller.org, role);
    if !uses.is_empty() {
        return Err(DomainError::RoleInUse {
            role: existing.name.clone(),
            uses,
        });
    }
    Ok(vec![Event::CustomRoleDeleted(CustomRoleDeleted {
        role_id: role,
    })])
}
