//! `Json`: axum's extractor and answer, except that a request body must be
//! a JSON object. Every body of API.md is one, and serde would otherwise
//! fill a struct from a JSON array, field by field (`[]` is a valid empty
//! `PATCH /settings`): such a body is 422 `invalid_body`.

use axum::body::Bytes;
use axum::extract::{FromRequest, OptionalFromRequest, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Serialize;

use super::problem::Problem;

/// A JSON body (an object) or answer.
pub struct Json<T>(pub T);

/// Whether the request says its body is JSON (`application/json` or a
/// `+json` type), as axum's `Json` asks.
fn is_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .is_some_and(|e| {
            e == "application/json" || (e.starts_with("application/") && e.ends_with("+json"))
        })
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        if !is_json(&request) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Expected request with `Content-Type: application/json`",
            )
            .into_response());
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let is_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if !is_object && serde_json::from_slice::<IgnoredAny>(&bytes).is_ok() {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                "the body must be a JSON object",
            )
            .into_response());
        }
        axum::Json::<T>::from_bytes(&bytes)
            .map(|axum::Json(value)| Json(value))
            .map_err(IntoResponse::into_response)
    }
}

/// An optional body (`Option<Json<T>>`): none when the request has no
/// body and no content type; otherwise it must be a JSON object as above.
impl<T: DeserializeOwned, S: Send + Sync> OptionalFromRequest<S> for Json<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, Response> {
        let no_type = request.headers().get(header::CONTENT_TYPE).is_none();
        let no_length = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_none_or(|l| l.as_bytes() == b"0");
        if no_type && no_length {
            return Ok(None);
        }
        <Json<T> as FromRequest<S>>::from_request(request, state)
            .await
            .map(Some)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}
