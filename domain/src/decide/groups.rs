//! Groups: create, change (name, description, members), delete. All need
//! `organization.people.manage` (RBAC.md); `organization.groups.manage` is
//! accepted as well.

use super::people::require_members;
use super::{Caller, Checks, OwnerLoss};
use crate::errors::DomainError;
use crate::events::*;
use crate::ids::{GroupId, UserId};
use crate::permissions::known::{
    ORGANIZATION_CHANGE_OWNER, ORGANIZATION_GROUPS_MANAGE, ORGANIZATION_PEOPLE_MANAGE,
};
use crate::roles::{MEMBER, OWNER};
use crate::validate;

fn require_group_manager(caller: &Caller) -> Result<(), DomainError> {
    if caller.holds(ORGANIZATION_GROUPS_MANAGE) {
        return Ok(());
    }
    caller.require(ORGANIZATION_PEOPLE_MANAGE)
}

/// Creates a group with role `Member`. Name and description are required;
/// members must already be in the organization.
pub(super) fn create(
    caller: &Caller,
    group_id: GroupId,
    name: &str,
    description: &str,
    members: &[UserId],
) -> Result<Vec<Event>, DomainError> {
    require_group_manager(caller)?;
    let mut checks = Checks::default();
    checks.check(validate::name("name", name, validate::MAX_NAME));
    checks.check(validate::name(
        "description",
        description,
        validate::MAX_DESCRIPTION,
    ));
    checks.done()?;
    if caller.org.group_by_name(name).is_some() {
        return Err(DomainError::GroupNameTaken(name.to_string()));
    }
    if caller.org.groups.contains_key(&group_id) {
        return Err(DomainError::invalid(
            "group_id",
            "id_taken",
            "group id already in use",
        ));
    }
    require_members(caller, "members", members)?;
    if !members.is_empty() {
        caller.may_grant(MEMBER, None)?;
    }
    Ok(vec![Event::GroupCreated(GroupCreated {
        group_id,
        name: name.to_string(),
        description: description.to_string(),
        members: members.to_vec(),
        role_id: MEMBER,
    })])
}

/// Renames, re-describes, adds and removes members. Adding someone already
/// in the group, or removing someone not in it, changes nothing.
pub(super) fn change(
    caller: &Caller,
    group: GroupId,
    name: &Option<String>,
    description: &Option<String>,
    add: &[UserId],
    remove: &[UserId],
) -> Result<Vec<Event>, DomainError> {
    require_group_manager(caller)?;
    let g = caller.group(group)?;
    let mut checks = Checks::default();
    if let Some(n) = name {
        checks.check(validate::name("name", n, validate::MAX_NAME));
    }
    if let Some(d) = description {
        checks.check(validate::name("description", d, validate::MAX_DESCRIPTION));
    }
    checks.done()?;
    if let Some(n) = name {
        if caller
            .org
            .group_by_name(n)
            .is_some_and(|other| other.id != group)
        {
            return Err(DomainError::GroupNameTaken(n.clone()));
        }
    }
    require_members(caller, "add_members", add)?;
    require_members(caller, "remove_members", remove)?;
    if let Some(u) = add.iter().find(|u| remove.contains(u)) {
        return Err(DomainError::invalid(
            "add_members",
            "conflicting_members",
            format!("user {u} is both added and removed"),
        ));
    }
    let leaving: Vec<UserId> = remove
        .iter()
        .copied()
        .filter(|u| g.members.contains(u))
        .collect();
    if g.role == Some(OWNER) && !leaving.is_empty() {
        caller.require(ORGANIZATION_CHANGE_OWNER)?;
        OwnerLoss {
            leave: leaving.iter().map(|u| (group, *u)).collect(),
            ..Default::default()
        }
        .check(caller.org)?;
    }
    let joining: Vec<UserId> = add
        .iter()
        .copied()
        .filter(|u| !g.members.contains(u))
        .collect();
    if g.role == Some(OWNER) && !joining.is_empty() {
        caller.require(ORGANIZATION_CHANGE_OWNER)?;
    }
    if !joining.is_empty() {
        if let Some(role) = g.role {
            caller.may_grant(role, None)?;
        }
        // Joining members also get the group's project bindings.
        let mut bound: Vec<_> = caller.org.group_bindings_of(group).collect();
        bound.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        for (p, role) in bound {
            caller.may_grant(role, Some(p.id))?;
        }
    }

    let mut events = Vec::new();
    let name = name.clone().filter(|n| *n != g.name);
    let description = description.clone().filter(|d| *d != g.description);
    if name.is_some() || description.is_some() {
        events.push(Event::GroupChanged(GroupChanged {
            group_id: group,
            name,
            description,
        }));
    }
    events.extend(joining.into_iter().map(|user_id| {
        Event::GroupMemberAdded(GroupMemberAdded {
            group_id: group,
            user_id,
        })
    }));
    events.extend(leaving.into_iter().map(|user_id| {
        Event::GroupMemberRemoved(GroupMemberRemoved {
            group_id: group,
            user_id,
        })
    }));
    Ok(events)
}

/// Deletes a group: its members lose the group's roles on the organization
/// and on projects. Deleting an Owner group needs `organization.change_owner`
/// and must leave an Owner.
pub(super) fn delete(caller: &Caller, group: GroupId) -> Result<Vec<Event>, DomainError> {
    require_group_manager(caller)?;
    let g = caller.group(group)?;
    if g.role == Some(OWNER) {
        caller.require(ORGANIZATION_CHANGE_OWNER)?;
        OwnerLoss {
            group: Some(group),
            ..Default::default()
        }
        .check(caller.org)?;
    }
    Ok(vec![Event::GroupDeleted(GroupDeleted { group_id: group })])
}
