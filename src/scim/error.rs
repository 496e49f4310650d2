//! SCIM errors (RFC 7644 §3.12): the `Error` message with the status as a
//! string, a `scimType` where the RFC names one, and a detail saying what
//! to fix; `application/scim+json`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::DomainError;
use serde_json::json;

/// The SCIM error message's schema.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The media type of every SCIM answer.
pub const CONTENT_TYPE: &str = "application/scim+json";

/// A refused SCIM request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: StatusCode,
    /// RFC 7644 Table 9: `invalidFilter`, `invalidPath`, `invalidValue`,
    /// `invalidSyntax`, `uniqueness`, `mutability`, `noTarget`,
    /// `tooMany`; `None` where none applies (404, 401, 409 for a rule).
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }
    /// 400 `invalidValue`: a value of the wrong type, missing, or refused.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
    }
    /// 400 `invalidSyntax`: a body that is not the message it should be.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidSyntax"), detail)
    }
    /// 400 `invalidFilter`.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidFilter"), detail)
    }
    /// 400 `invalidPath`: a PATCH path that names no attribute.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidPath"), detail)
    }
    /// 400 `noTarget`: a PATCH path that matched nothing it could change.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("noTarget"), detail)
    }
    /// 400 `mutability`: a change to a read-only attribute.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("mutability"), detail)
    }
    /// 409 `uniqueness`.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, None, detail)
    }
    /// The message's JSON.
    pub fn body(&self) -> serde_json::Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        body
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, CONTENT_TYPE)],
            self.body().to_string(),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        response
    }
}

impl From<DomainError> for ScimError {
    fn from(e: DomainError) -> Self {
        use DomainError::*;
        let detail = match &e {
            Invalid(errors) => errors
                .iter()
                .map(|f| format!("{}: {}", f.field, f.detail))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        match e {
            Invalid(_) | UserDeactivated(_) | NotAMember(_) | RoleScopeMismatch { .. } => {
                ScimError::invalid_value(detail)
            }
            EmailTaken(_) | UsernameTaken(_) | UserNameTaken(_) | ExternalIdTaken(_)
            | GroupNameTaken(_) => ScimError::uniqueness(detail),
            UserNotFound(_) | GroupNotFound(_) | RoleNotFound(_) | OrgNotFound => {
                ScimError::not_found(detail)
            }
            Forbidden { .. } | Escalation { .. } => {
                ScimError::new(StatusCode::FORBIDDEN, None, detail)
            }
            UnknownActor => ScimError::unauthorized(detail),
            _ => ScimError::new(StatusCode::CONFLICT, None, detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_status_as_a_string_and_scim_type() {
        let e: ScimError = DomainError::UserNameTaken("ada@okta".into()).into();
        assert_eq!(e.status, StatusCode::CONFLICT);
        assert_eq!(
            e.body(),
            json!({
                "schemas": [ERROR_SCHEMA],
                "status": "409",
                "scimType": "uniqueness",
                "detail": "userName ada@okta is already taken",
            })
        );
        let e: ScimError = DomainError::UserOwnsProjects { projects: vec![] }.into();
        assert_eq!((e.status, e.scim_type), (StatusCode::CONFLICT, None));
        let e: ScimError =
            DomainError::invalid("email", "invalid_email", "email is not an email").into();
        assert_eq!(e.body()["scimType"], "invalidValue");
        assert_eq!(e.body()["detail"], "email: email is not an email");
    }
}
