//! The events of an organization's stream: one type per change, the metadata
//! every event carries (who, when, through what), and the upcasting hook that
//! reads old shapes without ever rewriting the store.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::ids::{GroupId, OrgId, ProjectId, RoleId, Subject, TokenId, UserId};
use crate::permissions::{PermissionSet, Scope};
use crate::roles::{RepoAccess, RepoRoleMapping};

/// Who caused an event. The username is copied in so that the audit log
/// keeps it after the user is removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `None` for the system itself (bootstrap, the instance admin's CLI).
    pub user_id: Option<UserId>,
    pub username: String,
}

impl Actor {
    /// The instance itself: `rolebook org create`, the first-run bootstrap.
    pub fn system() -> Actor {
        Actor {
            user_id: None,
            username: "system".to_string(),
        }
    }
    pub fn user(user_id: UserId, username: impl Into<String>) -> Actor {
        Actor {
            user_id: Some(user_id),
            username: username.into(),
        }
    }
}

/// Through what a command arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Medium {
    #[default]
    #[serde(rename = "API")]
    Api,
    #[serde(rename = "CLI")]
    Cli,
    #[serde(rename = "SCIM")]
    Scim,
    /// A sign-in through the organization's identity provider.
    #[serde(rename = "SSO")]
    Sso,
}

impl Medium {
    pub fn as_str(self) -> &'static str {
        match self {
            Medium::Api => "API",
            Medium::Cli => "CLI",
            Medium::Scim => "SCIM",
            Medium::Sso => "SSO",
        }
    }
}

/// The metadata stored with every event (the envelope's `metadata`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    pub actor: Actor,
    pub occurred_at: DateTime<Utc>,
    pub medium: Medium,
    /// The command that caused this event; shared by all its events.
    pub correlation_id: Uuid,
    /// The event or command this one follows from, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl EventMetadata {
    /// Metadata for a command issued now by `actor` through `medium`.
    pub fn new(actor: Actor, medium: Medium, occurred_at: DateTime<Utc>) -> Self {
        EventMetadata {
            actor,
            occurred_at,
            medium,
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            request_id: None,
            ip: None,
            user_agent: None,
        }
    }
}

// ---- event payloads -------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationCreated {
    pub org_id: OrgId,
    pub name: String,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationSettingsChanged {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// How the organization's workflows run, whole, after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowSettingsChanged {
    pub workflows: crate::settings::WorkflowSettings,
}

/// Where initialization jobs run, whole, after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitAgentChanged {
    pub init_agent: crate::settings::InitAgent,
}

/// The networks the organization's requests may come from, whole, after
/// the change (empty: anywhere).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpAllowListChanged {
    pub cidrs: Vec<crate::settings::Cidr>,
}

/// A notification target added (its URL and secret are kept sealed
/// beside the log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationTargetCreated {
    pub target: crate::notifications::NotificationTarget,
}

/// A notification target, whole, after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationTargetChanged {
    pub target: crate::notifications::NotificationTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationTargetRemoved {
    pub id: crate::ids::NotificationId,
    pub name: String,
}

/// Single sign-on set (its client secret is kept sealed beside the log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoConfigured {
    pub sso: crate::settings::SsoSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoRemoved {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInvited {
    pub user_id: UserId,
    pub email: String,
    pub username: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPasswordSet {
    pub user_id: UserId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPasswordReset {
    pub user_id: UserId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRemoved {
    pub user_id: UserId,
    pub username: String,
}

/// A person provisioned by the organization's identity provider (SCIM):
/// no password (they sign in through the identity provider); the same
/// command's next event gives their organization role, or deactivates
/// them if they arrive inactive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProvisioned {
    pub user_id: UserId,
    pub email: String,
    pub username: String,
    pub identity: crate::state::Identity,
}

/// A person's profile as the identity provider changed it: the whole
/// profile after the change (email, login, external id, names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfileChanged {
    pub user_id: UserId,
    pub username: String,
    pub email: String,
    pub identity: crate::state::Identity,
}

/// A SCIM token issued for the organization's identity provider (its
/// secret is kept hashed outside the log); it replaces the previous one,
/// whose revocation is the same command's event before this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimTokenIssued {
    pub token_id: TokenId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimTokenRevoked {
    pub token_id: TokenId,
}

/// The organization role provisioned and reactivated people get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimSettingsChanged {
    pub default_role: RoleId,
}

/// A person or service account deactivated: kept in the organization (and
/// as owner of their projects), with no role from any source, no group, no
/// session and no token. The same command's events before this one retract
/// each role, so the audit log names every source that went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDeactivated {
    pub user_id: UserId,
    pub username: String,
    /// A person or a service account (the audit log's resource type).
    pub kind: crate::state::UserKind,
}

/// A deactivated user active again; the same command's next event gives
/// them their organization role back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserReactivated {
    pub user_id: UserId,
    pub username: String,
    pub kind: crate::state::UserKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRoleAssigned {
    pub subject: Subject,
    pub role_id: RoleId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRoleRetracted {
    pub subject: Subject,
    pub role_id: RoleId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCreated {
    pub group_id: GroupId,
    pub name: String,
    pub description: String,
    pub members: Vec<UserId>,
    /// The group's organization role (`Member` when created).
    pub role_id: RoleId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupChanged {
    pub group_id: GroupId,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMemberAdded {
    pub group_id: GroupId,
    pub user_id: UserId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMemberRemoved {
    pub group_id: GroupId,
    pub user_id: UserId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDeleted {
    pub group_id: GroupId,
}

/// The definition of a custom role, as created or changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomRoleDefinition {
    pub name: String,
    pub scope: Scope,
    pub description: String,
    pub permissions: PermissionSet,
    #[serde(default)]
    pub inherits: Vec<RoleId>,
    #[serde(default)]
    pub project_role: Option<RoleId>,
}

impl CustomRoleDefinition {
    /// The custom role this definition describes, under `id`.
    pub fn to_role(&self, id: crate::ids::RoleId) -> crate::roles::Role {
        crate::roles::Role {
            id,
            name: self.name.clone(),
            scope: self.scope,
            description: self.description.clone(),
            permissions: self.permissions,
            inherits: self.inherits.clone(),
            project_role: self.project_role,
            predefined: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomRoleCreated {
    pub role_id: RoleId,
    #[serde(flatten)]
    pub definition: CustomRoleDefinition,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomRoleChanged {
    pub role_id: RoleId,
    #[serde(flatten)]
    pub definition: CustomRoleDefinition,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomRoleDeleted {
    pub role_id: RoleId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectCreated {
    pub project_id: ProjectId,
    pub name: String,
    pub owner: UserId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectOwnershipTransferred {
    pub project_id: ProjectId,
    pub from: UserId,
    pub to: UserId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectDeleted {
    pub project_id: ProjectId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRoleBound {
    pub project_id: ProjectId,
    pub subject: Subject,
    pub role_id: RoleId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRoleUnbound {
    pub project_id: ProjectId,
    pub subject: Subject,
    pub role_id: RoleId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryAccessGranted {
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub access: RepoAccess,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryAccessChanged {
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub from: RepoAccess,
    pub to: RepoAccess,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryAccessRevoked {
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub access: RepoAccess,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryRoleMappingChanged {
    pub project_id: ProjectId,
    pub mapping: RepoRoleMapping,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccountCreated {
    pub user_id: UserId,
    pub name: String,
    pub description: String,
}

/// A service account renamed or described anew (`None`: unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccountChanged {
    pub user_id: UserId,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccountTokenIssued {
    pub user_id: UserId,
    pub token_id: TokenId,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccountTokenRevoked {
    pub user_id: UserId,
    pub token_id: TokenId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccountRemoved {
    pub user_id: UserId,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenIssued {
    pub user_id: UserId,
    pub token_id: TokenId,
    pub name: String,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenRevoked {
    pub user_id: UserId,
    pub token_id: TokenId,
}

/// Where the audit log is streamed. The secret key is never part of it: it
/// is kept encrypted outside the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditStreamingConfigured {
    pub provider: String,
    pub bucket: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditStreamingRemoved {}

macro_rules! events {
    ($($variant:ident => $version:literal),* $(,)?) => {
        /// One change to an organization. The envelope's `event_type` is the
        /// variant's name and `data` is its payload as JSON.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Event {
            $($variant($variant),)*
        }

        impl Event {
            /// The name stored as the envelope's `event_type`.
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(Event::$variant(_) => stringify!($variant),)*
                }
            }

            /// The current schema version of this event type.
            pub fn schema_version(&self) -> u32 {
                match self {
                    $(Event::$variant(_) => $version,)*
                }
            }

            /// The payload as JSON text.
            pub fn to_json(&self) -> String {
                match self {
                    $(Event::$variant(e) => serde_json::to_string(e),)*
                }
                .expect("event payloads always serialize")
            }

            /// Every event type with its current schema version.
            pub fn types() -> &'static [(&'static str, u32)] {
                &[$((stringify!($variant), $version),)*]
            }

            fn from_current(event_type: &str, data: Value) -> Result<Event, DecodeError> {
                let bad = |e: serde_json::Error| DecodeError::Malformed {
                    event_type: event_type.to_string(),
                    reason: e.to_string(),
                };
                match event_type {
                    $(stringify!($variant) => serde_json::from_value(data).map(Event::$variant).map_err(bad),)*
                    other => Err(DecodeError::UnknownType(other.to_string())),
                }
            }

            fn from_current_str(event_type: &str, data: &str) -> Result<Event, DecodeError> {
                let bad = |e: serde_json::Error| DecodeError::Malformed {
                    event_type: event_type.to_string(),
                    reason: e.to_string(),
                };
                match event_type {
                    $(stringify!($variant) => serde_json::from_str(data).map(Event::$variant).map_err(bad),)*
                    other => Err(DecodeError::UnknownType(other.to_string())),
                }
            }

            fn current_version(event_type: &str) -> Option<u32> {
                match event_type {
                    $(stringify!($variant) => Some($version),)*
                    _ => None,
                }
            }
        }
    };
}

events! {
    OrganizationCreated => 1,
    OrganizationSettingsChanged => 1,
    WorkflowSettingsChanged => 1,
    InitAgentChanged => 1,
    IpAllowListChanged => 1,
    NotificationTargetCreated => 1,
    NotificationTargetChanged => 1,
    NotificationTargetRemoved => 1,
    SsoConfigured => 1,
    SsoRemoved => 1,
    UserInvited => 1,
    UserPasswordSet => 1,
    UserPasswordReset => 1,
    UserRemoved => 1,
    UserDeactivated => 1,
    UserReactivated => 1,
    UserProvisioned => 1,
    UserProfileChanged => 1,
    ScimTokenIssued => 1,
    ScimTokenRevoked => 1,
    ScimSettingsChanged => 1,
    OrgRoleAssigned => 2,
    OrgRoleRetracted => 2,
    GroupCreated => 1,
    GroupChanged => 1,
    GroupMemberAdded => 1,
    GroupMemberRemoved => 1,
    GroupDeleted => 1,
    CustomRoleCreated => 1,
    CustomRoleChanged => 1,
    CustomRoleDeleted => 1,
    ProjectCreated => 1,
    ProjectOwnershipTransferred => 1,
    ProjectDeleted => 1,
    ProjectRoleBound => 1,
    ProjectRoleUnbound => 1,
    RepositoryAccessGranted => 1,
    RepositoryAccessChanged => 1,
    RepositoryAccessRevoked => 1,
    RepositoryRoleMappingChanged => 1,
    ServiceAccountCreated => 1,
    ServiceAccountChanged => 1,
    ServiceAccountTokenIssued => 1,
    ServiceAccountTokenRevoked => 1,
    ServiceAccountRemoved => 1,
    ApiTokenIssued => 1,
    ApiTokenRevoked => 1,
    AuditStreamingConfigured => 1,
    AuditStreamingRemoved => 1,
}

/// Why a stored event could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {0}")]
    UnknownType(String),
    #[error("{event_type} has schema version {version}, newer than this build knows ({known})")]
    FutureVersion {
        event_type: String,
        version: u32,
        known: u32,
    },
    #[error("malformed {event_type}: {reason}")]
    Malformed { event_type: String, reason: String },
}

impl Event {
    /// Reads a stored event: upcasts old schema versions to the current shape,
    /// then decodes it.
    pub fn decode(event_type: &str, schema_version: u32, data: &str) -> Result<Event, DecodeError> {
        let known = Event::current_version(event_type)
            .ok_or_else(|| DecodeError::UnknownType(event_type.to_string()))?;
        if schema_version > known {
            return Err(DecodeError::FutureVersion {
                event_type: event_type.to_string(),
                version: schema_version,
                known,
            });
        }
        if schema_version == known {
            return Event::from_current_str(event_type, data);
        }
        let value: Value = serde_json::from_str(data).map_err(|e| DecodeError::Malformed {
            event_type: event_type.to_string(),
            reason: e.to_string(),
        })?;
        let value = upcast(event_type, schema_version, value);
        Event::from_current(event_type, value)
    }
}

/// The upcasting hook: turns an old shape into the current one, one version
/// step at a time. Add a match arm whenever an event's shape changes and bump
/// its version in `events!`.
pub fn upcast(event_type: &str, mut version: u32, mut data: Value) -> Value {
    loop {
        match (event_type, version) {
            // v1 of the organization role events named only users:
            // `{user_id, role_id}`. v2 names a subject (user or group).
            ("OrgRoleAssigned" | "OrgRoleRetracted", 1) => {
                if let Value::Object(map) = &mut data {
                    if let Some(user_id) = map.remove("user_id") {
                        map.insert(
                            "subject".into(),
                            serde_json::json!({"type": "user", "id": user_id}),
                        );
                    }
                }
                version = 2;
            }
            _ => return data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_json() {
        let e = Event::OrgRoleAssigned(OrgRoleAssigned {
            subject: Subject::Group(GroupId::new()),
            role_id: crate::roles::MEMBER,
        });
        let back = Event::decode(e.event_type(), e.schema_version(), &e.to_json()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn v1_org_role_assignment_is_upcast_to_a_user_subject() {
        let user = UserId::new();
        let v1 = format!(
            r#"{{"user_id":"{}","role_id":"{}"}}"#,
            user,
            crate::roles::MEMBER
        );
        let e = Event::decode("OrgRoleAssigned", 1, &v1).unwrap();
        assert_eq!(
            e,
            Event::OrgRoleAssigned(OrgRoleAssigned {
                subject: Subject::User(user),
                role_id: crate::roles::MEMBER
            })
        );
    }

    #[test]
    fn unknown_and_future_shapes_are_refused() {
        assert_eq!(
            Event::decode("Nope", 1, "{}"),
            Err(DecodeError::UnknownType("Nope".into()))
        );
        assert!(matches!(
            Event::decode("GroupDeleted", 9, "{}"),
            Err(DecodeError::FutureVersion {
                version: 9,
                known: 1,
                ..
            })
        ));
        assert!(matches!(
            Event::decode("GroupDeleted", 1, "{}"),
            Err(DecodeError::Malformed { .. })
        ));
    }
}
