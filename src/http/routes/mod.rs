//! One file per group of routes of API.md; each handler is thin: it
//! authenticates, resolves references, and calls the command service or the
//! read side.

pub mod access;
pub mod health;
pub mod people;
pub mod sessions;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

/// A command's answer: its body (with `position`) and the
/// `Rolebook-Position` header.
pub fn committed(status: StatusCode, position: u64, mut body: Value) -> Response {
    if let Value::Object(map) = &mut body {
        map.insert("position".into(), position.into());
    }
    let mut headers = HeaderMap::new();
    headers.insert("rolebook-position", HeaderValue::from(position));
    (status, headers, Json(body)).into_response()
}

/// A 204 that still carries the position header.
pub fn committed_empty(position: u64) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert("rolebook-position", HeaderValue::from(position));
    (StatusCode::NO_CONTENT, headers).into_response()
}
