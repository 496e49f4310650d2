//! The Access explorer, for auditors: may user U do P (on project X), now
//! or at a chosen past moment, and through which sources (the API's `GET
//! /check`, with `as_of`); and who holds P (`GET /who-can`). The answers
//! are the API's, computed by its handlers; and what a user may do, every
//! permission with its sources (`GET /people/{user}/permissions`).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::call::{request, Refusal};
use super::session::Session;
use super::{refused, render};
use crate::http::auth::Origin;
use crate::http::json::Json;
use crate::http::params::OrgPath;
use crate::http::routes::access as api;
use crate::http::routes::people;
use crate::http::state::AppState;

/// The explorer's two questions, as its forms send them.
#[derive(Deserialize, Serialize, Default)]
pub struct Questions {
    user: Option<String>,
    permission: Option<String>,
    project: Option<String>,
    as_of: Option<String>,
    who_can: Option<String>,
    who_project: Option<String>,
    /// Whose effective permissions to list.
    effective_of: Option<String>,
    effective_project: Option<String>,
}

fn present(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.trim().is_empty())
}

/// `GET /orgs/{org}/access`: the explorer, with the answers to what it
/// was asked.
pub async fn page(
    State(state): State<AppState>,
    Path(OrgPath { org }): Path<OrgPath>,
    Query(q): Query<Questions>,
    headers: HeaderMap,
    origin: Origin,
) -> Response {
    let session = match Session::of(&state, &org, &headers, origin).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let chrome = session.chrome("access");
    let mut check = None;
    let mut check_error = None;
    if let (Some(user), Some(permission)) = (present(&q.user), present(&q.permission)) {
        let asked = json!({"user": user, "permission": permission,
            "project": present(&q.project), "as_of": present(&q.as_of)});
        let answer = match request(asked) {
            Ok(query) => api::check(State(state.clone()), Query(query), session.caller.clone())
                .await
                .map_err(Refusal::from),
            Err(p) => Err(p),
        };
        match answer {
            Ok(Json(a)) => check = Some(serde_json::to_value(&a).unwrap_or(Value::Null)),
            Err(p) if p.status == StatusCode::FORBIDDEN => return refused(Some(&chrome), p),
            Err(p) => check_error = Some(p.detail),
        }
    }
    let mut holders = None;
    let mut who_error = None;
    if let Some(permission) = present(&q.who_can) {
        let asked =
            json!({"permission": permission, "project": present(&q.who_project), "limit": 1000});
        let answer = match request(asked) {
            Ok(query) => api::who_can(State(state.clone()), Query(query), session.caller.clone())
                .await
                .map_err(Refusal::from),
            Err(p) => Err(p),
        };
        match answer {
            Ok(Json(page)) => {
                holders = Some(serde_json::to_value(&page).unwrap_or(Value::Null)["users"].clone())
            }
            Err(p) if p.status == StatusCode::FORBIDDEN => return refused(Some(&chrome), p),
            Err(p) => who_error = Some(p.detail),
        }
    }
    let mut effective = None;
    let mut effective_error = None;
    if let Some(user) = present(&q.effective_of) {
        let asked = json!({"project": present(&q.effective_project)});
        let answer = match request(asked) {
            Ok(query) => people::permissions(
                State(state.clone()),
                Path(crate::http::params::UserPath { user }),
                Query(query),
                session.caller.clone(),
            )
            .await
            .map_err(Refusal::from),
            Err(p) => Err(p),
        };
        match answer {
            Ok(Json(p)) => {
                effective =
                    Some(serde_json::to_value(&p).unwrap_or(Value::Null)["permissions"].clone())
            }
            Err(p) if p.status == StatusCode::FORBIDDEN => return refused(Some(&chrome), p),
            Err(p) => effective_error = Some(p.detail),
        }
    }
    let permissions: Vec<&str> = domain::permissions::CATALOG
        .iter()
        .map(|p| p.name)
        .collect();
    render(
        StatusCode::OK,
        "access.html",
        minijinja::context! {
            q => &q,
            permissions,
            check,
            check_error,
            holders,
            who_error,
            effective,
            effective_error,
            ..minijinja::Value::from_serialize(&chrome),
        },
    )
}
