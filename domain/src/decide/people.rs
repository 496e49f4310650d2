//! People: invitations, passwords, removal and organization roles.

use crate::permissions::known::{
    ORGANIZATION_CHANGE_OWNER, ORGANIZATION_PEOPLE_INVITE, ORGANIZATION_PEOPLE_MANAGE,
    ORGANIZATION_SERVICE_ACCOUNTS_MANAGE,
};
use std::collections::HashSet;

use super::{Caller, Checks, OwnerLoss};
use crate::access::BindingSource;
use crate::commands::NewPerson;
use crate::errors::{DomainError, FieldError, OwnedProject};
use crate::events::*;
use crate::ids::{RoleId, Subject, UserId};
use crate::permissions::Scope;
use crate::roles::{MEMBER, OWNER};
use crate::state::{User, UserKind};
use crate::validate;

/// At most this many people per invitation.
pub const MAX_INVITES: usize = 1_000;

/// Invites people, all or nothing. Needs `organization.people.invite`; the
/// role (default `Member`) follows the role-granting rules.
pub(super) fn invite(
    caller: &Caller,
    people: &[NewPerson],
    role: Option<RoleId>,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_PEOPLE_INVITE)?;
    let role = role.unwrap_or(MEMBER);
    caller.role_in(role, Scope::Organization)?;
    if role == OWNER {
        caller.require(ORGANIZATION_CHANGE_OWNER)?;
    }
    caller.may_grant(role, None)?;
    if people.is_empty() || people.len() > MAX_INVITES {
        return Err(DomainError::invalid(
            "people",
            "invalid_count",
            format!("invite 1 to {MAX_INVITES} people at a time"),
        ));
    }
    let mut checks = Checks::default();
    for (i, p) in people.iter().enumerate() {
        checks.check(validate::email(&format!("people[{i}].email"), &p.email));
        if let Some(u) = &p.username {
            checks.check(validate::username(&format!("people[{i}].username"), u));
        }
    }
    checks.done()?;

    let org = caller.org;
    let mut emails = HashSet::new();
    let mut usernames: HashSet<String> = HashSet::new();
    let mut ids = HashSet::new();
    let mut events = Vec::with_capacity(people.len() * 2);
    for p in people {
        let email_key = p.email.to_lowercase();
        if org.user_by_email(&p.email).is_some() || !emails.insert(email_key) {
            return Err(DomainError::EmailTaken(p.email.clone()));
        }
        if org.users.contains_key(&p.user_id) || !ids.insert(p.user_id) {
            return Err(DomainError::invalid(
                "user_id",
                "id_taken",
                "user id already in use",
            ));
        }
        let username = match &p.username {
            Some(u) => {
                if org.username_taken(u) || !usernames.insert(u.to_lowercase()) {
                    return Err(DomainError::UsernameTaken(u.clone()));
                }
                u.clone()
            }
            None => free_username(org, &p.email, &mut usernames),
        };
        events.push(Event::UserInvited(UserInvited {
            user_id: p.user_id,
            email: p.email.clone(),
            username,
        }));
        events.push(Event::OrgRoleAssigned(OrgRoleAssigned {
            subject: Subject::User(p.user_id),
            role_id: role,
        }));
    }
    Ok(events)
}

/// A username inferred from `email`'s local part, made unique in `org`
/// and among `taken` (lowercase; the chosen one is added).
pub(super) fn free_username(
    org: &crate::state::Organization,
    email: &str,
    taken: &mut HashSet<String>,
) -> String {
    let base = validate::username_from_email(email);
    let mut candidate = base.clone();
    let mut n = 2;
    while org.username_taken(&candidate) || taken.contains(&candidate.to_lowercase()) {
        candidate = format!("{base}{n}");
        n += 1;
    }
    taken.insert(candidate.to_lowercase());
    candidate
}

/// Fails with `service_account` (saying `why`) unless `u` is a person.
pub(super) fn require_person(u: &User, why: &str) -> Result<(), DomainError> {
    if u.kind != UserKind::Person {
        return Err(DomainError::invalid("user", "service_account", why));
    }
    Ok(())
}

/// Records that a user set their own password. Only that user may.
pub(super) fn set_password(caller: &Caller, user: UserId) -> Result<Vec<Event>, DomainError> {
    let u = caller.grantee(user)?;
    if !caller.is_system() && caller.user != Some(user) {
        return Err(DomainError::Forbidden {
            permission: "organization.people.manage",
        });
    }
    require_person(u, "service accounts have tokens, not passwords")?;
    Ok(vec![Event::UserPasswordSet(UserPasswordSet {
        user_id: user,
    })])
}

/// Records a password reset: needs `organization.people.manage` or being that
/// user.
pub(super) fn reset_password(caller: &Caller, user: UserId) -> Result<Vec<Event>, DomainError> {
    if caller.user != Some(user) {
        caller.require(ORGANIZATION_PEOPLE_MANAGE)?;
    }
    let u = caller.grantee(user)?;
    require_person(u, "service accounts have tokens, not passwords")?;
    Ok(vec![Event::UserPasswordReset(UserPasswordReset {
        user_id: user,
    })])
}

/// Fails with `user_owns_projects` (listing them) if the user owns any.
pub(super) fn refuse_if_owner_of_projects(
    caller: &Caller,
    user: UserId,
) -> Result<(), DomainError> {
    let owned = caller.org.projects_owned_by(user);
    if owned.is_empty() {
        return Ok(());
    }
    Err(DomainError::UserOwnsProjects {
        projects: owned
            .into_iter()
            .map(|p| OwnedProject {
                project_id: p.id,
                name: p.name.clone(),
            })
            .collect(),
    })
}

/// Removes a person. Needs `organization.people.manage` (and
/// `organization.change_owner` to remove an Owner); refused while they own
/// projects or if they are the last Owner.
pub(super) fn remove(caller: &Caller, user: UserId) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_PEOPLE_MANAGE)?;
    let u = caller.user(user)?;
    require_person(u, "remove service accounts through their own command")?;
    if caller.org.is_owner(user) {
        caller.require(ORGANIZATION_CHANGE_OWNER)?;
        OwnerLoss {
            removed: Some(user),
            ..Default::default()
        }
        .check(caller.org)?;
    }
    refuse_if_owner_of_projects(caller, user)?;
    Ok(vec![Event::UserRemoved(UserRemoved {
        user_id: user,
        username: u.username.clone(),
    })])
}

/// Fails with `forbidden` unless the caller may manage `user`: people need
/// `organization.people.manage`, service accounts
/// `organization.service_accounts.manage`.
pub(super) fn require_manager_of(caller: &Caller, user: &User) -> Result<(), DomainError> {
    caller.require(match user.kind {
        UserKind::Person => ORGANIZATION_PEOPLE_MANAGE,
        UserKind::ServiceAccount => ORGANIZATION_SERVICE_ACCOUNTS_MANAGE,
    })
}

/// Deactivates a person or a service account (see
/// [`Command::DeactivateUser`](crate::Command::DeactivateUser)): retracts
/// their direct organization role, takes them out of every group, unbinds
/// every direct project binding and revokes every repository access, each
/// as its own event, then records the deactivation. Their projects stay
/// theirs. Deactivating an Owner needs `organization.change_owner` and
/// must leave an Owner. Deactivating a deactivated user changes nothing.
pub(super) fn deactivate(caller: &Caller, user: UserId) -> Result<Vec<Event>, DomainError> {
    let u = caller.user(user)?;
    require_manager_of(caller, u)?;
    if !u.active {
        return Ok(vec![]);
    }
    let org = caller.org;
    if org.is_owner(user) {
        caller.require(ORGANIZATION_CHANGE_OWNER)?;
        OwnerLoss {
            removed: Some(user),
            ..Default::default()
        }
        .check(org)?;
    }
    let mut events = Vec::new();
    if let Some(role) = org.org_roles.get(&user) {
        events.push(Event::OrgRoleRetracted(OrgRoleRetracted {
            subject: Subject::User(user),
            role_id: *role,
        }));
    }
    let mut groups: Vec<_> = org
        .groups_of(user)
        .iter()
        .filter_map(|g| org.groups.get(g))
        .collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    events.extend(groups.into_iter().map(|g| {
        Event::GroupMemberRemoved(GroupMemberRemoved {
            group_id: g.id,
            user_id: user,
        })
    }));
    let mut projects: Vec<_> = org
        .projects_of_user(user)
        .iter()
        .filter_map(|p| org.projects.get(p))
        .collect();
    projects.sort_by(|a, b| a.name.cmp(&b.name));
    for p in projects {
        if let Some(role) = p.user_bindings.get(&user) {
            events.push(Event::ProjectRoleUnbound(ProjectRoleUnbound {
                project_id: p.id,
                subject: Subject::User(user),
                role_id: *role,
            }));
        }
        if let Some(access) = p.repo_access.get(&user) {
            events.push(Event::RepositoryAccessRevoked(RepositoryAccessRevoked {
                project_id: p.id,
                user_id: user,
                access: *access,
            }));
        }
    }
    events.push(Event::UserDeactivated(UserDeactivated {
        user_id: user,
        username: u.username.clone(),
        kind: u.kind,
    }));
    Ok(events)
}

/// Makes a deactivated user active again with an organization role
/// (default `Member`), which follows the role-granting rules. Reactivating
/// an active user changes nothing.
pub(super) fn reactivate(
    caller: &Caller,
    user: UserId,
    role: Option<RoleId>,
) -> Result<Vec<Event>, DomainError> {
    let u = caller.user(user)?;
    require_manager_of(caller, u)?;
    if u.active {
        return Ok(vec![]);
    }
    let role = role.unwrap_or(MEMBER);
    caller.role_in(role, Scope::Organization)?;
    if role == OWNER {
        caller.require(ORGANIZATION_CHANGE_OWNER)?;
    }
    caller.may_grant(role, None)?;
    Ok(vec![
        Event::UserReactivated(UserReactivated {
            user_id: user,
            username: u.username.clone(),
            kind: u.kind,
        }),
        Event::OrgRoleAssigned(OrgRoleAssigned {
            subject: Subject::User(user),
            role_id: role,
        }),
    ])
}

/// Assigns the organization role of a user (replacing their direct one) or
/// of a group. Needs `organization.people.manage`; `organization.change_owner`
/// when Owner is given or taken; no escalation; the last Owner stays.
pub(super) fn assign_org_role(
    caller: &Caller,
    subject: Subject,
    role: RoleId,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_PEOPLE_MANAGE)?;
    caller.role_in(role, Scope::Organization)?;
    let current = match subject {
        Subject::User(u) => {
            caller.grantee(u)?;
            caller.org.org_roles.get(&u).copied()
        }
        Subject::Group(g) => caller.group(g)?.role,
    };
    if current == Some(role) {
        return Ok(vec![]);
    }
    if role == OWNER || current == Some(OWNER) {
        caller.require(ORGANIZATION_CHANGE_OWNER)?;
    }
    caller.may_grant(role, None)?;
    if current == Some(OWNER) {
        owner_loss_of(subject).check(caller.org)?;
    }
    Ok(vec![Event::OrgRoleAssigned(OrgRoleAssigned {
        subject,
        role_id: role,
    })])
}

fn owner_loss_of(subject: Subject) -> OwnerLoss {
    match subject {
        Subject::User(u) => OwnerLoss {
            direct: Some(u),
            ..Default::default()
        },
        Subject::Group(g) => OwnerLoss {
            group: Some(g),
            ..Default::default()
        },
    }
}

/// Retracts a subject's direct organization role. A role that comes from a
/// group is refused with `not_directly_assigned` naming the groups.
pub(super) fn retract_org_role(
    caller: &Caller,
    subject: Subject,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_PEOPLE_MANAGE)?;
    let current = match subject {
        Subject::User(u) => {
            caller.user(u)?;
            caller.org.org_roles.get(&u).copied()
        }
        Subject::Group(g) => caller.group(g)?.role,
    };
    let Some(role) = current else {
        let sources: Vec<BindingSource> = match subject {
            Subject::User(u) => caller.org.org_grants(u),
            Subject::Group(_) => vec![],
        };
        return Err(DomainError::NotDirectlyAssigned { sources });
    };
    if role == OWNER {
        caller.require(ORGANIZATION_CHANGE_OWNER)?;
        owner_loss_of(subject).check(caller.org)?;
    }
    Ok(vec![Event::OrgRoleRetracted(OrgRoleRetracted {
        subject,
        role_id: role,
    })])
}

/// Checks that every listed user exists; fails with `user_not_found` naming
/// the first that does not.
pub(super) fn require_members(
    caller: &Caller,
    field: &str,
    users: &[UserId],
) -> Result<(), DomainError> {
    for u in users {
        caller.grantee(*u)?;
    }
    let unique: HashSet<_> = users.iter().collect();
    if unique.len() != users.len() {
        return Err(DomainError::Invalid(vec![FieldError::new(
            field,
            "duplicate",
            "a user is listed twice",
        )]));
    }
    Ok(())
}
