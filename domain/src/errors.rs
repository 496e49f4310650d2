//! Why `decide` refuses a command. Every variant has a stable snake_case
//! `code` (the API's problem+json `code`), and carries what the caller needs
//! to fix it (the missing permission, the real sources of a binding, the
//! projects a user still owns).

use serde::Serialize;

use crate::access::BindingSource;
use crate::ids::ProjectId;
use crate::permissions::Scope;

/// One invalid field of a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub detail: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            code,
            detail: detail.into(),
        }
    }
}

/// A project a user still owns (named in `user_owns_projects`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnedProject {
    pub project_id: ProjectId,
    pub name: String,
}

/// Why a command was refused. Nothing is appended when `decide` returns one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("missing permission {permission}")]
    Forbidden { permission: &'static str },
    #[error("granting {role} needs permissions the caller lacks: {}", missing.join(", "))]
    Escalation {
        role: String,
        missing: Vec<&'static str>,
    },
    #[error("the caller is not an active user of this organization")]
    UnknownActor,
    #[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.detail)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error("the organization already exists")]
    OrgExists,
    #[error("the organization does not exist")]
    OrgNotFound,
    #[error("email {0} is already taken")]
    EmailTaken(String),
    #[error("username {0} is already taken")]
    UsernameTaken(String),
    /// An identity provider's login (SCIM `userName`) already in use.
    #[error("userName {0} is already taken")]
    UserNameTaken(String),
    /// An identity provider's id (SCIM `externalId`) already in use.
    #[error("externalId {0} is already taken")]
    ExternalIdTaken(String),
    #[error("user {0} not found")]
    UserNotFound(String),
    #[error("group {0} not found")]
    GroupNotFound(String),
    #[error("role {0} not found")]
    RoleNotFound(String),
    #[error("project {0} not found")]
    ProjectNotFound(String),
    #[error("token {0} not found")]
    TokenNotFound(String),
    #[error("{what} belongs to the {actual:?} scope, expected {expected:?}")]
    RoleScopeMismatch {
        what: String,
        expected: Scope,
        actual: Scope,
    },
    #[error("unknown permission {0}")]
    UnknownPermission(String),
    #[error("a {scope:?} role named {name} already exists")]
    RoleNameTaken { name: String, scope: Scope },
    #[error("role {0} is predefined and cannot be changed or deleted")]
    RoleIsPredefined(String),
    #[error("role {role} is in use: {}", uses.join("; "))]
    RoleInUse { role: String, uses: Vec<String> },
    #[error("role inheritance would form a cycle: {}", path.join(" -> "))]
    InheritanceCycle { path: Vec<String> },
    #[error("a group named {0} already exists")]
    GroupNameTaken(String),
    #[error("a project named {0} already exists")]
    ProjectNameTaken(String),
    #[error("{0} is not a member of the organization")]
    NotAMember(String),
    #[error("the organization must keep at least one Owner")]
    LastOwner,
    #[error("the role is not directly assigned; it comes from: {}", sources.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "))]
    NotDirectlyAssigned { sources: Vec<BindingSource> },
    #[error("the user owns projects: {}", projects.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "))]
    UserOwnsProjects { projects: Vec<OwnedProject> },
    #[error("the user is already a member of group {0}")]
    AlreadyMember(String),
    #[error("audit streaming is not configured")]
    StreamingNotConfigured,
    #[error("notification target {0} does not exist")]
    NotificationNotFound(String),
    #[error("single sign-on is not configured for this organization")]
    SsoNotConfigured,
    #[error("{0} is deactivated: reactivate them first")]
    UserDeactivated(String),
}

impl DomainError {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        use DomainError::*;
        match self {
            Forbidden { .. } => "forbidden",
            Escalation { .. } => "role_escalation",
            UnknownActor => "unknown_actor",
            Invalid(errors) if errors.len() == 1 => errors[0].code,
            Invalid(_) => "validation_failed",
            OrgExists => "org_exists",
            OrgNotFound => "org_not_found",
            EmailTaken(_) => "email_taken",
            UsernameTaken(_) => "username_taken",
            UserNameTaken(_) => "user_name_taken",
            ExternalIdTaken(_) => "external_id_taken",
            UserNotFound(_) => "user_not_found",
            GroupNotFound(_) => "group_not_found",
            RoleNotFound(_) => "role_not_found",
            ProjectNotFound(_) => "project_not_found",
            TokenNotFound(_) => "token_not_found",
            RoleScopeMismatch { .. } => "role_scope_mismatch",
            UnknownPermission(_) => "unknown_permission",
            RoleNameTaken { .. } => "role_name_taken",
            RoleIsPredefined(_) => "role_is_predefined",
            RoleInUse { .. } => "role_in_use",
            InheritanceCycle { .. } => "role_inheritance_cycle",
            GroupNameTaken(_) => "group_name_taken",
            ProjectNameTaken(_) => "project_name_taken",
            NotAMember(_) => "not_a_member",
            LastOwner => "last_owner",
            NotDirectlyAssigned { .. } => "not_directly_assigned",
            UserOwnsProjects { .. } => "user_owns_projects",
            AlreadyMember(_) => "already_member",
            StreamingNotConfigured => "streaming_not_configured",
            NotificationNotFound(_) => "notification_not_found",
            SsoNotConfigured => "sso_not_configured",
            UserDeactivated(_) => "user_deactivated",
        }
    }

    /// Shorthand for a one-field validation error.
    pub fn invalid(
        field: impl Into<String>,
        code: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        DomainError::Invalid(vec![FieldError::new(field, code, detail)])
    }
}
