//! Provisioning by the organization's identity provider (SCIM): people
//! created and changed from their identity, the SCIM token, and the role
//! provisioned people get.

use std::collections::HashSet;

use super::people::{deactivate, free_username, reactivate, require_person};
use super::{Caller, Checks};
use crate::errors::DomainError;
use crate::events::*;
use crate::ids::{RoleId, Subject, TokenId, UserId};
use crate::permissions::known::{
    ORGANIZATION_CHANGE_OWNER, ORGANIZATION_OKTA_MANAGE, ORGANIZATION_PEOPLE_INVITE,
    ORGANIZATION_PEOPLE_MANAGE,
};
use crate::permissions::Scope;
use crate::roles::OWNER;
use crate::state::{Identity, Organization, UserKind};
use crate::validate;

/// At most this many characters in a login, an external id or a name.
pub const MAX_IDENTITY_FIELD: usize = 256;

/// Checks an identity's fields and the email: each field's own error.
fn check_profile(email: &str, identity: &Identity) -> Result<(), DomainError> {
    let mut checks = Checks::default();
    checks.check(validate::email("email", email));
    checks.check(validate::name(
        "userName",
        &identity.user_name,
        MAX_IDENTITY_FIELD,
    ));
    for (field, value) in [
        ("externalId", &identity.external_id),
        ("name.givenName", &identity.given_name),
        ("name.familyName", &identity.family_name),
    ] {
        if let Some(v) = value {
            checks.check(validate::name(field, v, MAX_IDENTITY_FIELD));
        }
    }
    checks.done()
}

/// Fails with `user_name_taken`, `email_taken` or `external_id_taken` if
/// another user than `me` holds the login, the email or the external id.
fn check_unique(
    org: &Organization,
    me: Option<UserId>,
    email: &str,
    identity: &Identity,
) -> Result<(), DomainError> {
    let other = |u: Option<&crate::state::User>| u.is_some_and(|u| Some(u.id) != me);
    if other(org.user_by_user_name(&identity.user_name)) {
        return Err(DomainError::UserNameTaken(identity.user_name.clone()));
    }
    if other(org.user_by_email(email)) {
        return Err(DomainError::EmailTaken(email.to_string()));
    }
    if let Some(external) = &identity.external_id {
        if other(org.user_by_external_id(external)) {
            return Err(DomainError::ExternalIdTaken(external.clone()));
        }
    }
    Ok(())
}

/// Provisions a person (see [`Command::ProvisionUser`](crate::Command)).
/// Needs `organization.people.invite`; the default role follows the
/// role-granting rules.
pub(super) fn provision(
    caller: &Caller,
    user_id: UserId,
    email: &str,
    identity: &Identity,
    active: bool,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_PEOPLE_INVITE)?;
    check_profile(email, identity)?;
    let org = caller.org;
    if org.users.contains_key(&user_id) {
        return Err(DomainError::invalid(
            "user_id",
            "id_taken",
            "user id already in use",
        ));
    }
    check_unique(org, None, email, identity)?;
    let role = org.default_role();
    if active {
        if role == OWNER {
            caller.require(ORGANIZATION_CHANGE_OWNER)?;
        }
        caller.may_grant(role, None)?;
    }
    let username = free_username(org, email, &mut HashSet::new());
    let mut events = vec![Event::UserProvisioned(UserProvisioned {
        user_id,
        email: email.to_string(),
        username: username.clone(),
        identity: identity.clone(),
    })];
    events.push(if active {
        Event::OrgRoleAssigned(OrgRoleAssigned {
            subject: Subject::User(user_id),
            role_id: role,
        })
    } else {
        Event::UserDeactivated(UserDeactivated {
            user_id,
            username,
            kind: UserKind::Person,
        })
    });
    Ok(events)
}

/// Replaces a person's profile and, with `active`, deactivates or
/// reactivates them (see [`Command::ChangeProfile`](crate::Command)).
/// Needs `organization.people.manage`. Changes nothing when the profile
/// and the activity are as asked.
pub(super) fn change_profile(
    caller: &Caller,
    user: UserId,
    email: &str,
    identity: &Identity,
    active: Option<bool>,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_PEOPLE_MANAGE)?;
    let u = caller.user(user)?;
    require_person(u, "service accounts are not provisioned")?;
    check_profile(email, identity)?;
    check_unique(caller.org, Some(user), email, identity)?;
    let mut events = Vec::new();
    if u.email.as_deref() != Some(email) || u.identity.as_ref() != Some(identity) {
        events.push(Event::UserProfileChanged(UserProfileChanged {
            user_id: user,
            username: u.username.clone(),
            email: email.to_string(),
            identity: identity.clone(),
        }));
    }
    match active {
        Some(false) if u.active => events.extend(deactivate(caller, user)?),
        Some(true) if !u.active => {
            events.extend(reactivate(caller, user, Some(caller.org.default_role()))?)
        }
        _ => {}
    }
    Ok(events)
}

/// Issues the SCIM token, revoking the previous one. Needs
/// `organization.okta.manage`.
pub(super) fn issue_scim_token(
    caller: &Caller,
    token_id: TokenId,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_OKTA_MANAGE)?;
    let mut events = Vec::new();
    if let Some(old) = caller.org.scim.token {
        events.push(Event::ScimTokenRevoked(ScimTokenRevoked { token_id: old }));
    }
    events.push(Event::ScimTokenIssued(ScimTokenIssued { token_id }));
    Ok(events)
}

/// Revokes the SCIM token, if there is one. Needs `organization.okta.manage`.
pub(super) fn revoke_scim_token(caller: &Caller) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_OKTA_MANAGE)?;
    Ok(caller
        .org
        .scim
        .token
        .map(|token_id| Event::ScimTokenRevoked(ScimTokenRevoked { token_id }))
        .into_iter()
        .collect())
}

/// Names the role provisioned people get. Needs `organization.okta.manage`;
/// the role follows the role-granting rules (Owner needs
/// `organization.change_owner`).
pub(super) fn change_scim_settings(
    caller: &Caller,
    default_role: RoleId,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_OKTA_MANAGE)?;
    caller.role_in(default_role, Scope::Organization)?;
    if default_role == OWNER {
        caller.require(ORGANIZATION_CHANGE_OWNER)?;
    }
    caller.may_grant(default_role, None)?;
    if caller.org.scim.default_role == Some(default_role) {
        return Ok(vec![]);
    }
    Ok(vec![Event::ScimSettingsChanged(ScimSettingsChanged {
        default_role,
    })])
}
