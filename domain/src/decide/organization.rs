//! Organization-wide commands: creation, settings, audit streaming.

use super::{Caller, Checks};
use crate::commands::{Command, StreamingTarget};
use crate::errors::DomainError;
use crate::events::*;
use crate::ids::Subject;
use crate::permissions::known::{
    ORGANIZATION_AUDIT_LOGS_MANAGE, ORGANIZATION_GENERAL_SETTINGS_MANAGE,
};
use crate::roles::OWNER;
use crate::state::Organization;
use crate::validate;

/// Creates the organization with its first Owner. Only the system actor (the
/// instance admin) may; fails with `org_exists` on an existing stream.
pub(super) fn create(
    state: &Organization,
    command: &Command,
    actor: &Actor,
) -> Result<Vec<Event>, DomainError> {
    let Command::CreateOrganization {
        org_id,
        name,
        url,
        owner,
    } = command
    else {
        unreachable!("called for CreateOrganization only")
    };
    if actor.user_id.is_some() {
        return Err(DomainError::Forbidden {
            permission: "instance.organizations.create",
        });
    }
    if state.exists() {
        return Err(DomainError::OrgExists);
    }
    let mut checks = Checks::default();
    checks.check(org_name(name));
    if let Some(url) = url {
        checks.check(validate::url("url", url));
    }
    checks.check(validate::email("owner_email", &owner.email));
    if let Some(u) = &owner.username {
        checks.check(validate::username("owner_username", u));
    }
    checks.done()?;
    let username = owner
        .username
        .clone()
        .unwrap_or_else(|| validate::username_from_email(&owner.email));
    Ok(vec![
        Event::OrganizationCreated(OrganizationCreated {
            org_id: *org_id,
            name: name.clone(),
            url: url.clone(),
        }),
        Event::UserInvited(UserInvited {
            user_id: owner.user_id,
            email: owner.email.clone(),
            username,
        }),
        Event::OrgRoleAssigned(OrgRoleAssigned {
            subject: Subject::User(owner.user_id),
            role_id: OWNER,
        }),
    ])
}

/// An organization's name appears in URLs: like a username (letters, digits,
/// `.`, `_`, `-`), 1 to 100 characters.
pub fn org_name(name: &str) -> Result<(), crate::errors::FieldError> {
    validate::username("name", name).map_err(|mut e| {
        e.code = "invalid_name";
        e.detail =
            format!("{name:?}: an organization name has 1 to 100 letters, digits, '.', '_' or '-'");
        e
    })
}

/// Changes the name or URL; needs `organization.general_settings.manage`.
pub(super) fn change_settings(
    caller: &Caller,
    name: &Option<String>,
    url: &Option<String>,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_GENERAL_SETTINGS_MANAGE)?;
    let mut checks = Checks::default();
    if let Some(n) = name {
        checks.check(org_name(n));
    }
    if let Some(u) = url {
        checks.check(validate::url("url", u));
    }
    checks.done()?;
    let name = name.clone().filter(|n| *n != caller.org.name);
    let url = url.clone().filter(|u| Some(u) != caller.org.url.as_ref());
    if name.is_none() && url.is_none() {
        return Ok(vec![]);
    }
    Ok(vec![Event::OrganizationSettingsChanged(
        OrganizationSettingsChanged { name, url },
    )])
}

/// Configures audit streaming; needs `organization.audit_logs.manage`.
pub(super) fn configure_streaming(
    caller: &Caller,
    target: &StreamingTarget,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_AUDIT_LOGS_MANAGE)?;
    let mut checks = Checks::default();
    if !matches!(target.provider.as_str(), "s3" | "gcs") {
        checks.check(Err(crate::errors::FieldError::new(
            "provider",
            "invalid_provider",
            "provider must be s3 or gcs",
        )));
    }
    checks.check(validate::name("bucket", &target.bucket, 255));
    if let Some(e) = &target.endpoint {
        checks.check(validate::url("endpoint", e));
    }
    if let Some(r) = &target.region {
        checks.check(validate::name("region", r, 64));
    }
    if let Some(p) = &target.prefix {
        checks.check(validate::text("prefix", p, 512));
    }
    checks.done()?;
    Ok(vec![Event::AuditStreamingConfigured(
        AuditStreamingConfigured {
            provider: target.provider.clone(),
            bucket: target.bucket.clone(),
            region: target.region.clone(),
            endpoint: target.endpoint.clone(),
            prefix: target.prefix.clone(),
        },
    )])
}

/// Removes audit streaming; fails with `streaming_not_configured` if none.
pub(super) fn remove_streaming(caller: &Caller) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_AUDIT_LOGS_MANAGE)?;
    if caller.org.audit_streaming.is_none() {
        return Err(DomainError::StreamingNotConfigured);
    }
    Ok(vec![Event::AuditStreamingRemoved(AuditStreamingRemoved {})])
}
