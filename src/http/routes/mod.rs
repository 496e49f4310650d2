//! One file per group of routes of API.md; each handler is thin: it
//! authenticates, resolves references, and calls the command service or the
//! read side.

pub mod access;
pub mod audit;
pub mod groups;
pub mod health;
pub mod orgs;
pub mod people;
pub mod projects;
pub mod roles;
pub mod sessions;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::ids::{RoleId, UserId};
use domain::Organization;
use serde::Deserialize;
use serde_json::{json, Value};

/// The query of a read that takes nothing but `at_least`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtLeast {
    pub at_least: Option<u64>,
}

/// The body that names a role: `{role}` (people, groups, project members).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    pub role: String,
}

/// A role inside another object: `{role_id, name, scope}` (name and scope
/// null for a role that no longer exists).
pub fn role_ref(s: &Organization, role: RoleId) -> Value {
    match s.roles.get(&role) {
        Some(r) => json!({"role_id": r.id, "name": r.name, "scope": r.scope}),
        None => json!({"role_id": role, "name": null, "scope": null}),
    }
}

/// A user inside another object: `{user_id, username}`.
pub fn user_ref(s: &Organization, user: UserId) -> Value {
    json!({"user_id": user, "username": s.username(user)})
}

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
