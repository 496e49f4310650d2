//! A SCIM request's JSON body, in `application/scim+json` or
//! `application/json` (or no content type, as some clients send): a body
//! over the server's limit is 413 and malformed JSON 400 `invalidSyntax`,
//! both as the SCIM Error message.

use crate::scim::ScimError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde_json::Value;

/// The body as JSON.
pub struct ScimJson(pub Value);

impl<S: Send + Sync> FromRequest<S> for ScimJson {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ScimError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            let status = e.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ScimError::new(
                    status,
                    None,
                    format!("the body is larger than {} bytes", crate::http::MAX_BODY),
                )
            } else {
                ScimError::invalid_syntax(e.body_text())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(ScimJson)
            .map_err(|e| ScimError::invalid_syntax(format!("the body is not JSON: {e}")))
    }
}
