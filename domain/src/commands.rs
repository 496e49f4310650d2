//! The commands `decide` accepts: one variant per thing a caller can ask for.
//! Ids of new entities are chosen by the caller (the command service), so
//! `decide` stays a pure function.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{GroupId, OrgId, ProjectId, RoleId, Subject, TokenId, UserId};
use crate::permissions::Scope;
use crate::roles::{RepoAccess, RepoRoleMapping};

/// A person to invite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPerson {
    pub user_id: UserId,
    pub email: String,
    /// Inferred from the email's local part when absent, made unique.
    pub username: Option<String>,
}

/// A custom role as the caller describes it. Permissions are names, so that
/// an unknown one is reported as such.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSpec {
    pub name: String,
    pub scope: Scope,
    pub description: String,
    pub permissions: Vec<String>,
    #[serde(default)]
    pub inherits: Vec<RoleId>,
    /// For organization roles: the project role granted on every project.
    #[serde(default)]
    pub project_role: Option<RoleId>,
}

/// Audit streaming target (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamingTarget {
    pub provider: String,
    pub bucket: String,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub prefix: Option<String>,
}

/// Everything a caller can ask of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Creates the organization with its first Owner. Only the system actor
    /// (the instance admin) may do it.
    CreateOrganization {
        org_id: OrgId,
        name: String,
        url: Option<String>,
        owner: NewPerson,
    },
    ChangeSettings {
        name: Option<String>,
        url: Option<String>,
    },
    /// Changes how workflows run (fields left `None` keep their value).
    ChangeWorkflowSettings {
        change: crate::settings::WorkflowSettingsChange,
    },
    /// Sets where initialization jobs run.
    SetInitAgent {
        init_agent: crate::settings::InitAgent,
    },
    /// Sets single sign-on.
    ConfigureSso {
        sso: crate::settings::SsoSettings,
    },
    /// Removes single sign-on (passwords work again).
    RemoveSso,
    /// Adds a notification target.
    CreateNotificationTarget {
        target: crate::notifications::NotificationTarget,
    },
    /// Replaces a notification target's name, endpoint and rules (its id and
    /// kind stay).
    ChangeNotificationTarget {
        target: crate::notifications::NotificationTarget,
    },
    RemoveNotificationTarget {
        id: crate::ids::NotificationId,
    },
    /// Replaces the IP allow list (empty: requests from anywhere). `from`,
    /// the address the change comes from, must stay allowed.
    SetIpAllowList {
        cidrs: Vec<String>,
        from: Option<std::net::IpAddr>,
    },
    /// Invites people, all or nothing, with an organization role (`Member`
    /// when absent).
    InvitePeople {
        people: Vec<NewPerson>,
        role: Option<RoleId>,
    },
    /// Records that a user set their own password (after proving the old one).
    SetPassword {
        user: UserId,
    },
    /// Records that a new temporary password was issued.
    ResetPassword {
        user: UserId,
    },
    RemoveUser {
        user: UserId,
    },
    AssignOrgRole {
        subject: Subject,
        role: RoleId,
    },
    RetractOrgRole {
        subject: Subject,
    },
    CreateGroup {
        group_id: GroupId,
        name: String,
        description: String,
        members: Vec<UserId>,
    },
    ChangeGroup {
        group: GroupId,
        name: Option<String>,
        description: Option<String>,
        add_members: Vec<UserId>,
        remove_members: Vec<UserId>,
    },
    DeleteGroup {
        group: GroupId,
    },
    CreateRole {
        role_id: RoleId,
        spec: RoleSpec,
    },
    ChangeRole {
        role: RoleId,
        spec: RoleSpec,
    },
    DeleteRole {
        role: RoleId,
    },
    CreateProject {
        project_id: ProjectId,
        name: String,
        /// Defaults to the caller.
        owner: Option<UserId>,
    },
    TransferProject {
        project: ProjectId,
        to: UserId,
    },
    DeleteProject {
        project: ProjectId,
    },
    BindProjectRole {
        project: ProjectId,
        subject: Subject,
        role: RoleId,
    },
    UnbindProjectRole {
        project: ProjectId,
        subject: Subject,
    },
    /// Sets (or with `None` revokes) a user's repository access.
    SetRepositoryAccess {
        project: ProjectId,
        user: UserId,
        access: Option<RepoAccess>,
    },
    SetRepositoryRoleMapping {
        project: ProjectId,
        mapping: RepoRoleMapping,
    },
    /// Creates a service account with an organization role (default
    /// `Member`) and, when `token` is given, its first token.
    CreateServiceAccount {
        user_id: UserId,
        name: String,
        description: String,
        role: Option<RoleId>,
        token: Option<(TokenId, Option<DateTime<Utc>>)>,
    },
    /// Revokes every token of a service account and issues a new one.
    RegenerateServiceAccountToken {
        service_account: UserId,
        token_id: TokenId,
        expires_at: Option<DateTime<Utc>>,
    },
    IssueServiceAccountToken {
        service_account: UserId,
        token_id: TokenId,
        expires_at: Option<DateTime<Utc>>,
    },
    RevokeServiceAccountToken {
        service_account: UserId,
        token_id: TokenId,
    },
    RemoveServiceAccount {
        service_account: UserId,
    },
    /// Renames or describes anew a service account (`None`: unchanged).
    ChangeServiceAccount {
        service_account: UserId,
        name: Option<String>,
        description: Option<String>,
    },
    /// Deactivates a person or a service account: every role from every
    /// source retracted, every group left, every session and token ended;
    /// the user (and their projects' ownership) kept.
    DeactivateUser {
        user: UserId,
    },
    /// Makes a deactivated user active again with an organization role
    /// (default `Member`).
    ReactivateUser {
        user: UserId,
        role: Option<RoleId>,
    },
    /// Provisions a person from the organization's identity provider
    /// (SCIM): no password; the organization's default role (Member unless
    /// its SCIM settings name another), or deactivated when `active` is
    /// false. The username is inferred from the email, made unique.
    ProvisionUser {
        user_id: UserId,
        email: String,
        identity: crate::state::Identity,
        active: bool,
    },
    /// Replaces a person's profile as the identity provider keeps it, and
    /// (`Some`) deactivates or reactivates them in the same command
    /// (reactivation gives the default role).
    ChangeProfile {
        user: UserId,
        email: String,
        identity: crate::state::Identity,
        active: Option<bool>,
    },
    /// Issues the organization's SCIM token, revoking the previous one.
    IssueScimToken {
        token_id: TokenId,
    },
    /// Revokes the organization's SCIM token (none: changes nothing).
    RevokeScimToken,
    /// Names the organization role provisioned people get.
    ChangeScimSettings {
        default_role: RoleId,
    },
    /// Issues an API token for the caller.
    IssueApiToken {
        token_id: TokenId,
        name: String,
        expires_at: Option<DateTime<Utc>>,
    },
    RevokeApiToken {
        token_id: TokenId,
    },
    ConfigureAuditStreaming {
        target: StreamingTarget,
    },
    RemoveAuditStreaming,
}
