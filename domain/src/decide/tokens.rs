//! Service accounts and API tokens. The secrets themselves never reach the
//! domain: only token ids and expiry are events.

use crate::permissions::known::{
    ORGANIZATION_CHANGE_OWNER, ORGANIZATION_PEOPLE_MANAGE, ORGANIZATION_SERVICE_ACCOUNTS_MANAGE,
};
use chrono::{DateTime, Utc};

use super::people::refuse_if_owner_of_projects;
use super::{Caller, Checks, OwnerLoss};
use crate::errors::DomainError;
use crate::events::*;
use crate::ids::{RoleId, Subject, TokenId, UserId};
use crate::permissions::Scope;
use crate::roles::{MEMBER, OWNER};
use crate::state::{User, UserKind};
use crate::validate;

fn service_account<'a>(caller: &Caller<'a>, user: UserId) -> Result<&'a User, DomainError> {
    let u = caller.user(user)?;
    if u.kind != UserKind::ServiceAccount {
        return Err(DomainError::UserNotFound(format!("service account {user}")));
    }
    Ok(u)
}

/// Creates a service account (an API-only user) with an organization role
/// (default `Member`). Needs `organization.service_accounts.manage`.
pub(super) fn create_service_account(
    caller: &Caller,
    user_id: UserId,
    name: &str,
    description: &str,
    role: Option<RoleId>,
    token: Option<(TokenId, Option<DateTime<Utc>>)>,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_SERVICE_ACCOUNTS_MANAGE)?;
    let mut checks = Checks::default();
    checks.check(validate::username("name", name));
    checks.check(validate::text(
        "description",
        description,
        validate::MAX_DESCRIPTION,
    ));
    checks.done()?;
    if caller.org.username_taken(name) {
        return Err(DomainError::UsernameTaken(name.to_string()));
    }
    if caller.org.users.contains_key(&user_id) {
        return Err(DomainError::invalid(
            "user_id",
            "id_taken",
            "user id already in use",
        ));
    }
    let role = role.unwrap_or(MEMBER);
    caller.role_in(role, Scope::Organization)?;
    if role == OWNER {
        caller.require(ORGANIZATION_CHANGE_OWNER)?;
    }
    caller.may_grant(role, None)?;
    let mut events = vec![
        Event::ServiceAccountCreated(ServiceAccountCreated {
            user_id,
            name: name.to_string(),
            description: description.to_string(),
        }),
        Event::OrgRoleAssigned(OrgRoleAssigned {
            subject: Subject::User(user_id),
            role_id: role,
        }),
    ];
    if let Some((token_id, expires_at)) = token {
        refuse_taken_token_id(caller, token_id)?;
        events.push(Event::ServiceAccountTokenIssued(
            ServiceAccountTokenIssued {
                user_id,
                token_id,
                expires_at,
            },
        ));
    }
    Ok(events)
}

fn refuse_taken_token_id(caller: &Caller, token_id: TokenId) -> Result<(), DomainError> {
    if caller.org.tokens.contains_key(&token_id) {
        return Err(DomainError::invalid(
            "token_id",
            "id_taken",
            "token id already in use",
        ));
    }
    Ok(())
}

/// Revokes every token of an active service account, then issues a new
/// one. Needs `organization.service_accounts.manage`.
pub(super) fn regenerate_service_account_token(
    caller: &Caller,
    service_account_id: UserId,
    token_id: TokenId,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_SERVICE_ACCOUNTS_MANAGE)?;
    service_account(caller, service_account_id)?;
    caller.grantee(service_account_id)?;
    refuse_taken_token_id(caller, token_id)?;
    let mut events: Vec<Event> = caller
        .org
        .tokens_of(service_account_id)
        .map(|t| t.id)
        .map(|token_id| {
            Event::ServiceAccountTokenRevoked(ServiceAccountTokenRevoked {
                user_id: service_account_id,
                token_id,
            })
        })
        .collect();
    events.push(Event::ServiceAccountTokenIssued(
        ServiceAccountTokenIssued {
            user_id: service_account_id,
            token_id,
            expires_at,
        },
    ));
    Ok(events)
}

pub(super) fn issue_service_account_token(
    caller: &Caller,
    service_account_id: UserId,
    token_id: TokenId,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_SERVICE_ACCOUNTS_MANAGE)?;
    service_account(caller, service_account_id)?;
    caller.grantee(service_account_id)?;
    refuse_taken_token_id(caller, token_id)?;
    Ok(vec![Event::ServiceAccountTokenIssued(
        ServiceAccountTokenIssued {
            user_id: service_account_id,
            token_id,
            expires_at,
        },
    )])
}

pub(super) fn revoke_service_account_token(
    caller: &Caller,
    service_account_id: UserId,
    token_id: TokenId,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_SERVICE_ACCOUNTS_MANAGE)?;
    service_account(caller, service_account_id)?;
    match caller.org.tokens.get(&token_id) {
        Some(t) if t.user_id == service_account_id => Ok(vec![Event::ServiceAccountTokenRevoked(
            ServiceAccountTokenRevoked {
                user_id: service_account_id,
                token_id,
            },
        )]),
        _ => Err(DomainError::TokenNotFound(token_id.to_string())),
    }
}

/// Renames a service account or describes it anew. Needs
/// `organization.service_accounts.manage`; the name follows the usernames'
/// rules and must be free.
pub(super) fn change_service_account(
    caller: &Caller,
    service_account_id: UserId,
    name: &Option<String>,
    description: &Option<String>,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_SERVICE_ACCOUNTS_MANAGE)?;
    let u = service_account(caller, service_account_id)?;
    let mut checks = Checks::default();
    if let Some(name) = name {
        checks.check(validate::username("name", name));
    }
    if let Some(description) = description {
        checks.check(validate::text(
            "description",
            description,
            validate::MAX_DESCRIPTION,
        ));
    }
    checks.done()?;
    let name = name.clone().filter(|n| *n != u.username);
    let description = description.clone().filter(|d| *d != u.description);
    if let Some(name) = &name {
        let taken_by_another = caller
            .org
            .user_by_username(name)
            .is_some_and(|other| other.id != service_account_id);
        if taken_by_another {
            return Err(DomainError::UsernameTaken(name.clone()));
        }
    }
    if name.is_none() && description.is_none() {
        return Ok(vec![]);
    }
    Ok(vec![Event::ServiceAccountChanged(ServiceAccountChanged {
        user_id: service_account_id,
        name,
        description,
    })])
}

/// Removes a service account and its tokens; like removing a person, refused
/// while it owns projects or is the last Owner.
pub(super) fn remove_service_account(
    caller: &Caller,
    service_account_id: UserId,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_SERVICE_ACCOUNTS_MANAGE)?;
    let u = service_account(caller, service_account_id)?;
    if caller.org.is_owner(service_account_id) {
        caller.require(ORGANIZATION_CHANGE_OWNER)?;
        OwnerLoss {
            removed: Some(service_account_id),
            ..Default::default()
        }
        .check(caller.org)?;
    }
    refuse_if_owner_of_projects(caller, service_account_id)?;
    Ok(vec![Event::ServiceAccountRemoved(ServiceAccountRemoved {
        user_id: service_account_id,
        name: u.username.clone(),
    })])
}

/// Issues an API token for the caller (a user, not the system).
pub(super) fn issue_api_token(
    caller: &Caller,
    token_id: TokenId,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Vec<Event>, DomainError> {
    let Some(user) = caller.user else {
        return Err(DomainError::invalid(
            "actor",
            "user_required",
            "API tokens belong to a user",
        ));
    };
    validate::name("name", name, validate::MAX_NAME).map_err(|e| DomainError::Invalid(vec![e]))?;
    if caller.org.tokens.contains_key(&token_id) {
        return Err(DomainError::invalid(
            "token_id",
            "id_taken",
            "token id already in use",
        ));
    }
    Ok(vec![Event::ApiTokenIssued(ApiTokenIssued {
        user_id: user,
        token_id,
        name: name.to_string(),
        expires_at,
    })])
}

/// Revokes an API token: one's own, or anyone's with
/// `organization.people.manage`.
pub(super) fn revoke_api_token(
    caller: &Caller,
    token_id: TokenId,
) -> Result<Vec<Event>, DomainError> {
    let token = caller
        .org
        .tokens
        .get(&token_id)
        .ok_or_else(|| DomainError::TokenNotFound(token_id.to_string()))?;
    if caller.user != Some(token.user_id) {
        caller.require(ORGANIZATION_PEOPLE_MANAGE)?;
    }
    Ok(vec![Event::ApiTokenRevoked(ApiTokenRevoked {
        user_id: token.user_id,
        token_id,
    })])
}
