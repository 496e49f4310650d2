//! Errors as `application/problem+json` (RFC 9457) with a stable `code`,
//! and the mapping from the write side's errors to HTTP statuses.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use commands::ServiceError;
use domain::DomainError;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// A problem answer. Build one with [`Problem::new`] and add fields with
/// [`Problem::with`].
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub extra: Map<String, Value>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            code,
            detail: detail.into(),
            extra: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl serde::Serialize) -> Self {
        self.extra.insert(
            key.to_string(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    pub fn not_found(code: &'static str, what: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, code, what)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(permission: &str) -> Self {
        Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("missing permission {permission}"),
        )
        .with("permission", permission)
    }

    pub fn invalid(field: &str, code: &'static str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail.clone()).with(
            "errors",
            [FieldErrorBody {
                field: field.to_string(),
                code: code.to_string(),
                detail,
            }],
        )
    }

    /// 500 `internal`; the error and its sources go to the log, not to
    /// the caller. A database that cannot be reached or is full is not an
    /// internal error: 503 `store_unavailable` or 507 `storage_full` (see
    /// [`storage_fault`]), nothing acknowledged, safe to send again.
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        let error = error.into();
        if let Some(fault) = storage_fault(&error) {
            tracing::warn!(error = format!("{error:#}"), "storage fault");
            return fault;
        }
        tracing::error!(error = format!("{error:#}"), "internal error");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

/// The answer for a failure of the storage underneath, found anywhere in
/// `error`'s chain (also behind the shared sources of the event store's
/// errors): 503 `store_unavailable` when the database cannot be reached
/// (connection refused, closed or killed, the pool timed out, the server
/// shutting down, the file busy), 507 `storage_full` when its disk is
/// full; `None` for anything else.
pub fn storage_fault(error: &anyhow::Error) -> Option<Problem> {
    use std::error::Error;
    let unavailable = || {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the database cannot be reached right now; nothing was changed, send the request again",
        )
    };
    let full = || {
        Problem::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "storage_full",
            "the database's disk is full; nothing was changed, send the request again once space is freed",
        )
    };
    for cause in error.chain() {
        let mut candidates: Vec<&(dyn Error + 'static)> = vec![cause];
        if let Some(shared) = cause.downcast_ref::<std::sync::Arc<dyn Error + Send + Sync>>() {
            candidates.push(shared.as_ref());
        }
        for c in candidates {
            if let Some(e) = c.downcast_ref::<sqlx::Error>() {
                if infra::postgres::is_disk_full(e) {
                    return Some(full());
                }
                if infra::postgres::is_unreachable(e) {
                    return Some(unavailable());
                }
            }
            if let Some(rusqlite::Error::SqliteFailure(f, _)) = c.downcast_ref::<rusqlite::Error>()
            {
                match f.code {
                    rusqlite::ErrorCode::DiskFull => return Some(full()),
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                        return Some(unavailable())
                    }
                    _ => {}
                }
            }
            if let Some(e) = c.downcast_ref::<std::io::Error>() {
                if e.kind() == std::io::ErrorKind::StorageFull {
                    return Some(full());
                }
            }
        }
    }
    None
}

/// An error answer as it is sent (`application/problem+json`, RFC 9457):
/// a stable `code` and, depending on it, more fields (`permission` on 403
/// `forbidden`, `errors` on 422, `sources`, `projects`, `uses`, ...).
#[derive(Serialize, ToSchema)]
pub struct ProblemBody {
    /// `https://rolebook.dev/problems/<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The HTTP status's reason phrase.
    pub title: &'static str,
    pub status: u16,
    /// A stable snake_case identifier of the error.
    #[schema(example = "forbidden")]
    pub code: &'static str,
    /// What went wrong, for people.
    pub detail: String,
    /// On 422: what is wrong with which field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<FieldErrorBody>>)]
    pub errors: Option<Value>,
    /// The fields some codes add.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

/// One invalid field of a 422 answer.
#[derive(Serialize, ToSchema)]
pub struct FieldErrorBody {
    pub field: String,
    pub code: String,
    pub detail: String,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut extra = self.extra;
        let body = ProblemBody {
            type_: format!("https://rolebook.dev/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            code: self.code,
            detail: self.detail,
            errors: extra.remove("errors"),
            extra,
        };
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            serde_json::to_string(&body).unwrap_or_default(),
        )
            .into_response()
    }
}

impl From<DomainError> for Problem {
    fn from(e: DomainError) -> Self {
        use DomainError::*;
        let code = e.code();
        let detail = e.to_string();
        match e {
            Forbidden { permission } => Problem::forbidden(permission),
            Escalation { missing, role } => Problem::new(StatusCode::FORBIDDEN, code, detail)
                .with("role", role)
                .with("missing", missing),
            UnknownActor => Problem::unauthorized(detail),
            Invalid(errors) => {
                let status = if errors.iter().any(|f| f.code == "invalid_credentials") {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                Problem::new(status, code, detail).with("errors", errors)
            }
            OrgNotFound
            | UserNotFound(_)
            | GroupNotFound(_)
            | RoleNotFound(_)
            | ProjectNotFound(_)
            | TokenNotFound(_)
            | StreamingNotConfigured
            | NotificationNotFound(_)
            | SsoNotConfigured => Problem::new(StatusCode::NOT_FOUND, code, detail),
            RoleScopeMismatch { .. } | UnknownPermission(_) | NotAMember(_) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
            }
            NotDirectlyAssigned { sources } => {
                Problem::new(StatusCode::CONFLICT, code, detail).with("sources", sources)
            }
            UserOwnsProjects { projects } => {
                Problem::new(StatusCode::CONFLICT, code, detail).with("projects", projects)
            }
            RoleInUse { uses, .. } => {
                Problem::new(StatusCode::CONFLICT, code, detail).with("uses", uses)
            }
            InheritanceCycle { path } => {
                Problem::new(StatusCode::CONFLICT, code, detail).with("path", path)
            }
            OrgExists
            | EmailTaken(_)
            | UsernameTaken(_)
            | UserNameTaken(_)
            | ExternalIdTaken(_)
            | RoleNameTaken { .. }
            | RoleIsPredefined(_)
            | GroupNameTaken(_)
            | ProjectNameTaken(_)
            | LastOwner
            | AlreadyMember(_)
            | UserDeactivated(_) => Problem::new(StatusCode::CONFLICT, code, detail),
        }
    }
}

impl From<ServiceError> for Problem {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Domain(d) => d.into(),
            ServiceError::Conflict { .. } => Problem::new(
                StatusCode::CONFLICT,
                "concurrent_modification",
                e.to_string(),
            ),
            ServiceError::Stopped => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                e.to_string(),
            ),
            other => Problem::internal(other),
        }
    }
}

impl From<projections::runner::Lagging> for Problem {
    fn from(e: projections::runner::Lagging) -> Self {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "projection_lagging",
            e.to_string(),
        )
        .with("reached", e.reached)
        .with("wanted", e.wanted)
    }
}

pub type ApiResult<T> = Result<T, Problem>;
