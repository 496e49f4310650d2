//! One audit-log entry per event: what was touched (resource type, id and
//! name), how (added, removed, modified), a sentence for humans, and who did
//! it through what (actor, medium, ip, user agent, request id).
//!
//! Everything here is a pure function of the event, its envelope and the
//! names registry, so a rebuild from the log yields the same entries.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use domain::events::{Event, EventMetadata};
use domain::ids::{OrgId, Subject, UserId};
use domain::notifications::TargetKind;
use domain::settings::{AgentEnvironment, ForkPolicy};

fn kind(k: TargetKind) -> &'static str {
    match k {
        TargetKind::Slack => "Slack",
        TargetKind::Webhook => "webhook",
    }
}
use domain::store::RecordedEvent;
use serde::{Deserialize, Serialize};

use super::error::AuditError;
use super::names::{Names, OrgNames};

/// What kind of thing an entry is about. Serialized (and stored) as the
/// variant's exact name: `Organization`, `User`, `Group`, `Role`, `Project`,
/// `ServiceAccount`, `Settings`, `AuditStream`. Parsing any other word fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ResourceType {
    Organization,
    User,
    Group,
    Role,
    Project,
    ServiceAccount,
    Settings,
    AuditStream,
}

impl ResourceType {
    /// Every resource type, in declaration order.
    pub const ALL: [ResourceType; 8] = [
        ResourceType::Organization,
        ResourceType::User,
        ResourceType::Group,
        ResourceType::Role,
        ResourceType::Project,
        ResourceType::ServiceAccount,
        ResourceType::Settings,
        ResourceType::AuditStream,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Organization => "Organization",
            ResourceType::User => "User",
            ResourceType::Group => "Group",
            ResourceType::Role => "Role",
            ResourceType::Project => "Project",
            ResourceType::ServiceAccount => "ServiceAccount",
            ResourceType::Settings => "Settings",
            ResourceType::AuditStream => "AuditStream",
        }
    }
}

impl std::fmt::Display for ResourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ResourceType {
    type Err = UnknownWord;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResourceType::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownWord(s.to_string()))
    }
}

/// What happened to the resource. Serialized (and stored) as `Added`,
/// `Removed` or `Modified`. Parsing any other word fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Operation {
    Added,
    Removed,
    Modified,
}

impl Operation {
    pub const ALL: [Operation; 3] = [Operation::Added, Operation::Removed, Operation::Modified];

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Added => "Added",
            Operation::Removed => "Removed",
            Operation::Modified => "Modified",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Operation {
    type Err = UnknownWord;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operation::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| UnknownWord(s.to_string()))
    }
}

/// A resource type or operation that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownWord(pub String);

/// One audit-log entry: an event as auditors read it.
///
/// Built by [`audit_entry`] (which fails only for an event outside an
/// organization's stream) and read back by [`page`](super::page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub org_id: OrgId,
    /// The event's global position: unique, and the order of the log.
    pub position: u64,
    pub occurred_at: DateTime<Utc>,
    /// `None` when the system itself acted (`rolebook org create`).
    pub actor_id: Option<UserId>,
    /// Copied from the event, so it stays after the actor is removed.
    pub actor_username: String,
    pub resource_type: ResourceType,
    pub operation: Operation,
    pub resource_id: String,
    pub resource_name: String,
    pub description: String,
    /// `API`, `CLI` or `SCIM`.
    pub medium: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// The event's payload with `event_type` and `correlation_id` added.
    pub metadata: serde_json::Value,
}

/// The part of an entry computed from the event and the names: what was
/// touched and the sentence describing it. Never fails: an unknown id is
/// shown as the id itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub resource_type: ResourceType,
    pub operation: Operation,
    pub resource_id: String,
    pub resource_name: String,
    pub description: String,
}

/// Maps an event with its envelope and metadata to its audit entry, naming
/// things as `names` knew them *before* this event (update `names` after).
///
/// Fails with [`AuditError::NotAnOrganizationStream`] if the event is not in
/// an `org-<uuid>` stream.
pub fn audit_entry(
    names: &Names,
    record: &RecordedEvent,
    event: &Event,
    meta: &EventMetadata,
) -> Result<AuditEntry, AuditError> {
    let org_id = OrgId::of_stream(&record.stream_id)
        .ok_or_else(|| AuditError::NotAnOrganizationStream(record.stream_id.to_string()))?;
    let d = describe(names.org_or_empty(org_id), org_id, event);
    let metadata_text = metadata_json(record, event, meta);
    let metadata = serde_json::from_str(&metadata_text).map_err(|e| AuditError::Corrupt {
        position: record.global_position,
        reason: format!("event payload is not a JSON object: {e}"),
    })?;
    Ok(AuditEntry {
        org_id,
        position: record.global_position,
        occurred_at: meta.occurred_at,
        actor_id: meta.actor.user_id,
        actor_username: meta.actor.username.clone(),
        resource_type: d.resource_type,
        operation: d.operation,
        resource_id: d.resource_id,
        resource_name: d.resource_name,
        description: d.description,
        medium: meta.medium.as_str().to_string(),
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        request_id: meta.request_id.clone(),
        metadata,
    })
}

/// The entry's `metadata` as JSON text: the event's payload (in its current
/// shape) with `event_type` and `correlation_id` in front. Events hold no
/// secrets, so neither does this.
pub fn metadata_json(record: &RecordedEvent, event: &Event, meta: &EventMetadata) -> String {
    // The stored payload is the current shape unless it was upcast.
    let payload: Cow<str> = if record.schema_version == event.schema_version() {
        Cow::Borrowed(&record.data)
    } else {
        Cow::Owned(event.to_json())
    };
    let mut out = String::with_capacity(payload.len() + 96);
    out.push_str("{\"event_type\":\"");
    out.push_str(event.event_type());
    out.push_str("\",\"correlation_id\":\"");
    let _ = write!(out, "{}", meta.correlation_id);
    out.push('"');
    match payload.trim_start().strip_prefix('{') {
        Some(rest) if rest.trim_start().starts_with('}') => out.push('}'),
        Some(rest) => {
            out.push(',');
            out.push_str(rest);
        }
        // Payloads are structs, always objects; keep anything else whole.
        None => {
            out.push_str(",\"payload\":");
            out.push_str(&payload);
            out.push('}');
        }
    }
    out
}

/// A name, or the id when the name is unknown.
fn named<'a>(name: Option<&'a str>, id: &dyn std::fmt::Display) -> Cow<'a, str> {
    match name {
        Some(n) => Cow::Borrowed(n),
        None => Cow::Owned(id.to_string()),
    }
}

/// How a subject reads in a sentence: `alice` or `group ops`.
fn subject_words(names: &OrgNames, subject: Subject) -> String {
    match subject {
        Subject::User(u) => named(names.user(u), &u).into_owned(),
        Subject::Group(g) => format!("group {}", named(names.group(g), &g)),
    }
}

fn expiry(at: &Option<DateTime<Utc>>) -> String {
    match at {
        Some(t) => format!(
            ", expiring {}",
            t.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
        None => String::new(),
    }
}

/// The resource type and the word for a user of this kind.
fn user_kind(kind: domain::state::UserKind) -> (ResourceType, &'static str) {
    match kind {
        domain::state::UserKind::Person => (ResourceType::User, "User"),
        domain::state::UserKind::ServiceAccount => {
            (ResourceType::ServiceAccount, "Service account")
        }
    }
}

/// Describes one event of organization `org_id` with the names known before
/// it. Every event kind has an entry; group changes are audited too.
pub fn describe(names: &OrgNames, org_id: OrgId, event: &Event) -> Described {
    use Operation::*;
    use ResourceType as R;
    let d = |resource_type, operation, id: &dyn std::fmt::Display, name: &str, text: String| {
        Described {
            resource_type,
            operation,
            resource_id: id.to_string(),
            resource_name: name.to_string(),
            description: text,
        }
    };
    let user = |u: UserId| named(names.user(u), &u);
    let org_name = names.organization();
    match event {
        Event::OrganizationCreated(e) => d(
            R::Organization,
            Added,
            &e.org_id,
            &e.name,
            format!("Organization {} created", e.name),
        ),
        Event::OrganizationSettingsChanged(e) => {
            let old = org_name;
            let text = match (&e.name, &e.url) {
                (Some(n), Some(u)) => format!("Organization {old} renamed to {n}, URL set to {u}"),
                (Some(n), None) => format!("Organization {old} renamed to {n}"),
                (None, Some(u)) => format!("URL of organization {old} set to {u}"),
                (None, None) => format!("Settings of organization {old} changed"),
            };
            d(
                R::Settings,
                Modified,
                &org_id,
                e.name.as_deref().unwrap_or(old),
                text,
            )
        }
        Event::WorkflowSettingsChanged(e) => {
            let w = &e.workflows;
            let forks = match w.fork_pull_requests {
                ForkPolicy::Disabled => "do not run",
                ForkPolicy::WithoutSecrets => "run without secrets",
                ForkPolicy::WithSecrets => "run with secrets",
            };
            let manual = if w.manual_promotions {
                "allowed"
            } else {
                "not allowed"
            };
            d(
                R::Settings,
                Modified,
                &org_id,
                org_name,
                format!(
                    "Workflows of organization {org_name}: pull requests from forks {forks}, \
                     default queue {}, job timeout {} min, manual promotions {manual}",
                    w.default_queue, w.job_timeout_minutes
                ),
            )
        }
        Event::InitAgentChanged(e) => {
            let a = &e.init_agent;
            let text = match (a.environment, &a.os_image) {
                (AgentEnvironment::Cloud, Some(os)) => {
                    format!("cloud machine {} with {os}", a.machine_type)
                }
                (AgentEnvironment::Cloud, None) => format!("cloud machine {}", a.machine_type),
                (AgentEnvironment::SelfHosted, _) => {
                    format!("self-hosted agent type {}", a.machine_type)
                }
            };
            d(
                R::Settings,
                Modified,
                &org_id,
                org_name,
                format!("Initialization jobs of organization {org_name} now run on {text}"),
            )
        }
        Event::IpAllowListChanged(e) => {
            let text = if e.cidrs.is_empty() {
                format!("IP allow list of organization {org_name} cleared: requests from anywhere")
            } else {
                let list: Vec<String> = e.cidrs.iter().map(|c| c.to_string()).collect();
                format!(
                    "IP allow list of organization {org_name} set to {}",
                    list.join(", ")
                )
            };
            d(R::Settings, Modified, &org_id, org_name, text)
        }
        Event::SsoConfigured(e) => {
            let s = &e.sso;
            let jit = if s.jit_provisioning {
                "created on first sign-in"
            } else {
                "refused unless known"
            };
            let passwords = if s.password_login {
                "still"
            } else {
                "no longer"
            };
            d(
                R::Settings,
                Modified,
                &org_id,
                org_name,
                format!(
                    "Single sign-on of organization {org_name} set: issuer {}, client {}; \
                     unknown people {jit}; passwords {passwords} accepted",
                    s.issuer, s.client_id
                ),
            )
        }
        Event::SsoRemoved(_) => d(
            R::Settings,
            Removed,
            &org_id,
            org_name,
            format!("Single sign-on of organization {org_name} removed"),
        ),
        Event::NotificationTargetCreated(e) => d(
            R::Settings,
            Added,
            &e.target.id,
            &e.target.name,
            format!(
                "Notification target {} added: {} to {}",
                e.target.name,
                kind(e.target.kind),
                e.target.endpoint
            ),
        ),
        Event::NotificationTargetChanged(e) => d(
            R::Settings,
            Modified,
            &e.target.id,
            &e.target.name,
            format!(
                "Notification target {} changed: {} to {}, {} rule(s)",
                e.target.name,
                kind(e.target.kind),
                e.target.endpoint,
                e.target.rules.len()
            ),
        ),
        Event::NotificationTargetRemoved(e) => d(
            R::Settings,
            Removed,
            &e.id,
            &e.name,
            format!("Notification target {} removed", e.name),
        ),
        Event::UserInvited(e) => d(
            R::User,
            Added,
            &e.user_id,
            &e.username,
            format!("User {} invited ({})", e.username, e.email),
        ),
        Event::UserPasswordSet(e) => {
            let n = user(e.user_id);
            d(
                R::User,
                Modified,
                &e.user_id,
                &n,
                format!("Password of {n} changed"),
            )
        }
        Event::UserPasswordReset(e) => {
            let n = user(e.user_id);
            d(
                R::User,
                Modified,
                &e.user_id,
                &n,
                format!("Password of {n} reset"),
            )
        }
        Event::UserRemoved(e) => d(
            R::User,
            Removed,
            &e.user_id,
            &e.username,
            format!("User {} removed", e.username),
        ),
        Event::OrgRoleAssigned(e) => {
            let role = named(names.role(e.role_id), &e.role_id);
            match e.subject {
                Subject::User(u) => {
                    let n = user(u);
                    d(
                        R::User,
                        Modified,
                        &u,
                        &n,
                        format!("Role {role} assigned to {n}"),
                    )
                }
                Subject::Group(g) => {
                    let n = named(names.group(g), &g);
                    d(
                        R::Group,
                        Modified,
                        &g,
                        &n,
                        format!("Role {role} assigned to group {n}"),
                    )
                }
            }
        }
        Event::OrgRoleRetracted(e) => {
            let role = named(names.role(e.role_id), &e.role_id);
            match e.subject {
                Subject::User(u) => {
                    let n = user(u);
                    d(
                        R::User,
                        Modified,
                        &u,
                        &n,
                        format!("Role {role} retracted from {n}"),
                    )
                }
                Subject::Group(g) => {
                    let n = named(names.group(g), &g);
                    d(
                        R::Group,
                        Modified,
                        &g,
                        &n,
                        format!("Role {role} retracted from group {n}"),
                    )
                }
            }
        }
        Event::GroupCreated(e) => {
            let text = match e.members.len() {
                0 => format!("Group {} created", e.name),
                1 => format!("Group {} created with 1 member", e.name),
                n => format!("Group {} created with {n} members", e.name),
            };
            d(R::Group, Added, &e.group_id, &e.name, text)
        }
        Event::GroupChanged(e) => {
            let old = named(names.group(e.group_id), &e.group_id);
            let text = match (&e.name, &e.description) {
                (Some(n), Some(_)) => {
                    format!("Group {old} renamed to {n} and its description changed")
                }
                (Some(n), None) => format!("Group {old} renamed to {n}"),
                (None, Some(_)) => format!("Description of group {old} changed"),
                (None, None) => format!("Group {old} changed"),
            };
            d(
                R::Group,
                Modified,
                &e.group_id,
                e.name.as_deref().unwrap_or(&old),
                text,
            )
        }
        Event::GroupMemberAdded(e) => {
            let g = named(names.group(e.group_id), &e.group_id);
            d(
                R::Group,
                Modified,
                &e.group_id,
                &g,
                format!("User {} added to group {g}", user(e.user_id)),
            )
        }
        Event::GroupMemberRemoved(e) => {
            let g = named(names.group(e.group_id), &e.group_id);
            d(
                R::Group,
                Modified,
                &e.group_id,
                &g,
                format!("User {} removed from group {g}", user(e.user_id)),
            )
        }
        Event::GroupDeleted(e) => {
            let g = named(names.group(e.group_id), &e.group_id);
            d(
                R::Group,
                Removed,
                &e.group_id,
                &g,
                format!("Group {g} deleted"),
            )
        }
        Event::CustomRoleCreated(e) => {
            let def = &e.definition;
            let scope = match def.scope {
                domain::permissions::Scope::Organization => "Organization",
                domain::permissions::Scope::Project => "Project",
            };
            d(
                R::Role,
                Added,
                &e.role_id,
                &def.name,
                format!("{scope} role {} created", def.name),
            )
        }
        Event::CustomRoleChanged(e) => {
            let old = named(names.role(e.role_id), &e.role_id);
            let new = &e.definition.name;
            let text = if *old == **new {
                format!("Role {old} changed")
            } else {
                format!("Role {old} changed and renamed to {new}")
            };
            d(R::Role, Modified, &e.role_id, new, text)
        }
        Event::CustomRoleDeleted(e) => {
            let r = named(names.role(e.role_id), &e.role_id);
            d(
                R::Role,
                Removed,
                &e.role_id,
                &r,
                format!("Role {r} deleted"),
            )
        }
        Event::ProjectCreated(e) => d(
            R::Project,
            Added,
            &e.project_id,
            &e.name,
            format!("Project {} created, owned by {}", e.name, user(e.owner)),
        ),
        Event::ProjectOwnershipTransferred(e) => {
            let p = named(names.project(e.project_id), &e.project_id);
            d(
                R::Project,
                Modified,
                &e.project_id,
                &p,
                format!(
                    "Project {p} transferred from {} to {}",
                    user(e.from),
                    user(e.to)
                ),
            )
        }
        Event::ProjectDeleted(e) => {
            let p = named(names.project(e.project_id), &e.project_id);
            d(
                R::Project,
                Removed,
                &e.project_id,
                &p,
                format!("Project {p} deleted"),
            )
        }
        Event::ProjectRoleBound(e) => {
            let p = named(names.project(e.project_id), &e.project_id);
            let role = named(names.role(e.role_id), &e.role_id);
            d(
                R::Project,
                Modified,
                &e.project_id,
                &p,
                format!(
                    "Role {role} assigned to {} on project {p}",
                    subject_words(names, e.subject)
                ),
            )
        }
        Event::ProjectRoleUnbound(e) => {
            let p = named(names.project(e.project_id), &e.project_id);
            let role = named(names.role(e.role_id), &e.role_id);
            d(
                R::Project,
                Modified,
                &e.project_id,
                &p,
                format!(
                    "Role {role} retracted from {} on project {p}",
                    subject_words(names, e.subject)
                ),
            )
        }
        Event::RepositoryAccessGranted(e) => {
            let p = named(names.project(e.project_id), &e.project_id);
            d(
                R::Project,
                Modified,
                &e.project_id,
                &p,
                format!(
                    "Repository access {} granted to {} on project {p}",
                    e.access.as_str(),
                    user(e.user_id)
                ),
            )
        }
        Event::RepositoryAccessChanged(e) => {
            let p = named(names.project(e.project_id), &e.project_id);
            d(
                R::Project,
                Modified,
                &e.project_id,
                &p,
                format!(
                    "Repository access of {} on project {p} changed from {} to {}",
                    user(e.user_id),
                    e.from.as_str(),
                    e.to.as_str()
                ),
            )
        }
        Event::RepositoryAccessRevoked(e) => {
            let p = named(names.project(e.project_id), &e.project_id);
            d(
                R::Project,
                Modified,
                &e.project_id,
                &p,
                format!(
                    "Repository access {} of {} on project {p} revoked",
                    e.access.as_str(),
                    user(e.user_id)
                ),
            )
        }
        Event::RepositoryRoleMappingChanged(e) => {
            let p = named(names.project(e.project_id), &e.project_id);
            let r = |id| named(names.role(id), &id).into_owned();
            d(
                R::Project,
                Modified,
                &e.project_id,
                &p,
                format!(
                    "Repository role mapping of project {p} set to admin: {}, write: {}, read: {}",
                    r(e.mapping.admin),
                    r(e.mapping.write),
                    r(e.mapping.read)
                ),
            )
        }
        Event::ServiceAccountCreated(e) => d(
            R::ServiceAccount,
            Added,
            &e.user_id,
            &e.name,
            format!("Service account {} created", e.name),
        ),
        Event::ServiceAccountTokenIssued(e) => {
            let n = user(e.user_id);
            d(
                R::ServiceAccount,
                Modified,
                &e.user_id,
                &n,
                format!(
                    "Token {} issued to service account {n}{}",
                    e.token_id,
                    expiry(&e.expires_at)
                ),
            )
        }
        Event::ServiceAccountTokenRevoked(e) => {
            let n = user(e.user_id);
            d(
                R::ServiceAccount,
                Modified,
                &e.user_id,
                &n,
                format!("Token {} of service account {n} revoked", e.token_id),
            )
        }
        Event::ServiceAccountRemoved(e) => d(
            R::ServiceAccount,
            Removed,
            &e.user_id,
            &e.name,
            format!("Service account {} removed", e.name),
        ),
        Event::ServiceAccountChanged(e) => {
            let old = user(e.user_id);
            let text = match (&e.name, &e.description) {
                (Some(n), Some(_)) => {
                    format!("Service account {old} renamed to {n}, description changed")
                }
                (Some(n), None) => format!("Service account {old} renamed to {n}"),
                (None, _) => format!("Description of service account {old} changed"),
            };
            d(
                R::ServiceAccount,
                Modified,
                &e.user_id,
                e.name.as_deref().unwrap_or(&old),
                text,
            )
        }
        Event::UserProvisioned(e) => d(
            R::User,
            Added,
            &e.user_id,
            &e.username,
            format!(
                "User {} provisioned ({}, identity provider login {})",
                e.username, e.email, e.identity.user_name
            ),
        ),
        Event::UserProfileChanged(e) => d(
            R::User,
            Modified,
            &e.user_id,
            &e.username,
            format!(
                "Profile of {} changed ({}, identity provider login {})",
                e.username, e.email, e.identity.user_name
            ),
        ),
        Event::ScimTokenIssued(e) => d(
            R::Settings,
            Added,
            &e.token_id,
            org_name,
            format!("SCIM token issued for organization {org_name}"),
        ),
        Event::ScimTokenRevoked(e) => d(
            R::Settings,
            Removed,
            &e.token_id,
            org_name,
            format!("SCIM token of organization {org_name} revoked"),
        ),
        Event::ScimSettingsChanged(e) => {
            let role = named(names.role(e.default_role), &e.default_role);
            d(
                R::Settings,
                Modified,
                &org_id,
                org_name,
                format!("Provisioned people of organization {org_name} now get role {role}"),
            )
        }
        Event::UserDeactivated(e) => {
            let (resource, what) = user_kind(e.kind);
            d(
                resource,
                Modified,
                &e.user_id,
                &e.username,
                format!("{what} {} deactivated", e.username),
            )
        }
        Event::UserReactivated(e) => {
            let (resource, what) = user_kind(e.kind);
            d(
                resource,
                Modified,
                &e.user_id,
                &e.username,
                format!("{what} {} reactivated", e.username),
            )
        }
        Event::ApiTokenIssued(e) => {
            let n = user(e.user_id);
            d(
                R::User,
                Modified,
                &e.user_id,
                &n,
                format!(
                    "API token {} issued to {n}{}",
                    e.name,
                    expiry(&e.expires_at)
                ),
            )
        }
        Event::ApiTokenRevoked(e) => {
            let n = user(e.user_id);
            let token = named(names.token(e.token_id), &e.token_id);
            d(
                R::User,
                Modified,
                &e.user_id,
                &n,
                format!("API token {token} of {n} revoked"),
            )
        }
        Event::AuditStreamingConfigured(e) => {
            let text = match names.streaming() {
                Some((p, b)) => format!(
                    "Audit log streaming changed from {p} bucket {b} to {} bucket {}",
                    e.provider, e.bucket
                ),
                None => format!(
                    "Audit log streaming to {} bucket {} configured",
                    e.provider, e.bucket
                ),
            };
            d(R::AuditStream, Added, &org_id, &e.bucket, text)
        }
        Event::AuditStreamingRemoved(_) => {
            let (text, bucket) = match names.streaming() {
                Some((p, b)) => (format!("Audit log streaming to {p} bucket {b} removed"), b),
                None => ("Audit log streaming removed".to_string(), ""),
            };
            d(R::AuditStream, Removed, &org_id, bucket, text)
        }
    }
}
