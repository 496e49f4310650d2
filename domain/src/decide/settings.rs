//! The settings sections beyond the name and URL: how workflows run, where
//! initialization jobs run and the IP allow list.

use std::net::IpAddr;

use super::{Caller, Checks};
use crate::errors::{DomainError, FieldError};
use crate::events::*;
use crate::ids::NotificationId;
use crate::notifications::{NotificationTarget, MAX_TARGETS};
use crate::permissions::known::{
    ORGANIZATION_AUDIT_LOGS_VIEW, ORGANIZATION_GENERAL_SETTINGS_MANAGE,
    ORGANIZATION_IP_ALLOW_LIST_MANAGE, ORGANIZATION_NOTIFICATIONS_MANAGE, ORGANIZATION_OKTA_MANAGE,
};
use crate::settings::{allows, parse_allow_list, InitAgent, SsoSettings, WorkflowSettingsChange};

/// Changes how workflows run; needs `organization.general_settings.manage`;
/// 422 per field out of bounds. The event holds the whole section.
pub(super) fn change_workflows(
    caller: &Caller,
    change: &WorkflowSettingsChange,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_GENERAL_SETTINGS_MANAGE)?;
    let current = &caller.org.settings.workflows;
    let mut checks = Checks::default();
    let next = checks.extend(current.with(change));
    checks.done()?;
    match next {
        Some(w) if w != *current => Ok(vec![Event::WorkflowSettingsChanged(
            WorkflowSettingsChanged { workflows: w },
        )]),
        _ => Ok(vec![]),
    }
}

/// Sets where initialization jobs run; needs
/// `organization.general_settings.manage`; 422 per field that does not
/// match the catalog.
pub(super) fn set_init_agent(
    caller: &Caller,
    init_agent: &InitAgent,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_GENERAL_SETTINGS_MANAGE)?;
    let mut checks = Checks::default();
    checks.extend(init_agent.validate());
    checks.done()?;
    if *init_agent == caller.org.settings.init_agent {
        return Ok(vec![]);
    }
    Ok(vec![Event::InitAgentChanged(InitAgentChanged {
        init_agent: init_agent.clone(),
    })])
}

/// Sets single sign-on; needs `organization.okta.manage`.
pub(super) fn configure_sso(caller: &Caller, sso: &SsoSettings) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_OKTA_MANAGE)?;
    let mut checks = Checks::default();
    checks.extend(sso.validate());
    checks.done()?;
    if caller.org.settings.sso.as_ref() == Some(sso) {
        return Ok(vec![]);
    }
    Ok(vec![Event::SsoConfigured(SsoConfigured {
        sso: sso.clone(),
    })])
}

/// Removes single sign-on; needs `organization.okta.manage`.
pub(super) fn remove_sso(caller: &Caller) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_OKTA_MANAGE)?;
    if caller.org.settings.sso.is_none() {
        return Err(DomainError::SsoNotConfigured);
    }
    Ok(vec![Event::SsoRemoved(SsoRemoved {})])
}

/// Adds a notification target; needs `organization.notifications.manage`
/// and, since a target receives audit events, `organization.audit_logs.view`
/// (a Member manages notifications but does not read the audit log); names
/// are unique (case-insensitively), at most
/// [`crate::notifications::MAX_TARGETS`] targets.
pub(super) fn create_notification(
    caller: &Caller,
    target: &NotificationTarget,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_NOTIFICATIONS_MANAGE)?;
    caller.require(ORGANIZATION_AUDIT_LOGS_VIEW)?;
    let mut checks = Checks::default();
    checks.extend(target.validate());
    let targets = &caller.org.settings.notifications;
    if targets.len() >= MAX_TARGETS {
        checks.check(Err(FieldError::new(
            "name",
            "too_many_targets",
            format!("an organization has at most {MAX_TARGETS} notification targets"),
        )));
    }
    checks.check(name_free(caller, target));
    checks.done()?;
    Ok(vec![Event::NotificationTargetCreated(
        NotificationTargetCreated {
            target: target.clone(),
        },
    )])
}

fn name_free(caller: &Caller, target: &NotificationTarget) -> Result<(), FieldError> {
    let taken = caller.org.settings.notifications.iter().any(|t| {
        t.id != target.id && t.name.trim().to_lowercase() == target.name.trim().to_lowercase()
    });
    if taken {
        Err(FieldError::new(
            "name",
            "name_taken",
            format!("a notification target is already named {:?}", target.name),
        ))
    } else {
        Ok(())
    }
}

/// Replaces a target's name, endpoint and rules; its kind stays. Needs
/// what creating one does.
pub(super) fn change_notification(
    caller: &Caller,
    target: &NotificationTarget,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_NOTIFICATIONS_MANAGE)?;
    caller.require(ORGANIZATION_AUDIT_LOGS_VIEW)?;
    let Some(current) = caller.org.settings.notification(target.id) else {
        return Err(DomainError::NotificationNotFound(target.id.to_string()));
    };
    let mut checks = Checks::default();
    checks.extend(target.validate());
    checks.check(name_free(caller, target));
    checks.done()?;
    let target = NotificationTarget {
        kind: current.kind,
        ..target.clone()
    };
    if target == *current {
        return Ok(vec![]);
    }
    Ok(vec![Event::NotificationTargetChanged(
        NotificationTargetChanged { target },
    )])
}

pub(super) fn remove_notification(
    caller: &Caller,
    id: NotificationId,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_NOTIFICATIONS_MANAGE)?;
    let Some(t) = caller.org.settings.notification(id) else {
        return Err(DomainError::NotificationNotFound(id.to_string()));
    };
    Ok(vec![Event::NotificationTargetRemoved(
        NotificationTargetRemoved {
            id,
            name: t.name.clone(),
        },
    )])
}

/// Replaces the IP allow list; needs `organization.ip_allow_list.manage`.
/// A list that would refuse the address the change comes from is refused
/// (`would_lock_out`): whoever changes it, the last Owner included, could
/// not undo it from there.
pub(super) fn set_ip_allow_list(
    caller: &Caller,
    cidrs: &[String],
    from: Option<IpAddr>,
) -> Result<Vec<Event>, DomainError> {
    caller.require(ORGANIZATION_IP_ALLOW_LIST_MANAGE)?;
    let mut checks = Checks::default();
    let list = checks.extend(parse_allow_list(cidrs));
    if let (Some(list), Some(from)) = (&list, from) {
        if !allows(list, from) {
            checks.check(Err(FieldError::new(
                "cidrs",
                "would_lock_out",
                format!(
                    "this change comes from {from}, which the new list does not allow: \
                     every request from here, this caller's and the Owners' included, \
                     would be refused and the list could not be changed back; \
                     add {from} (or its network) to the list"
                ),
            )));
        }
    }
    checks.done()?;
    let list = list.unwrap_or_default();
    if list == caller.org.settings.ip_allow_list {
        return Ok(vec![]);
    }
    Ok(vec![Event::IpAllowListChanged(IpAllowListChanged {
        cidrs: list,
    })])
}
