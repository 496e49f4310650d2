//! Audit Logs: the organization's audit log newest first, with the API's
//! filters (time, actor, resource, action) and paging (`GET /audit-logs`),
//! and Export as CSV (`GET /audit-logs/export.csv`, streamed as the API
//! streams it). Needs `organization.audit_logs.view`.

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::session::Session;
use super::{refused, render};
use crate::http::auth::Origin;
use crate::http::json::Json;
use crate::http::params::OrgPath;
use crate::http::routes::audit::{self as api, AuditQuery};
use crate::http::state::AppState;

const RESOURCE_TYPES: &[&str] = domain::notifications::RESOURCE_TYPES;
const ACTIONS: &[&str] = domain::notifications::ACTIONS;

/// `GET /orgs/{org}/audit-logs`: a page of the audit log.
pub async fn page(
    State(state): State<AppState>,
    Path(OrgPath { org }): Path<OrgPath>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    origin: Origin,
) -> Response {
    let session = match Session::of(&state, &org, &headers, origin).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let chrome = session.chrome("audit");
    // Empty fields of the filter form mean "any".
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str::<Vec<(String, String)>>(raw.as_deref().unwrap_or(""))
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, v): &(String, String)| !v.is_empty())
            .collect();
    let invalid = |e: &dyn std::fmt::Display| {
        refused(
            Some(&chrome),
            crate::http::problem::Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                e.to_string(),
            ),
        )
    };
    let q: AuditQuery = match serde_urlencoded::to_string(&pairs)
        .map_err(|e| e.to_string())
        .and_then(|qs| serde_urlencoded::from_str(&qs).map_err(|e| e.to_string()))
    {
        Ok(q) => q,
        Err(e) => return invalid(&e),
    };
    // The filters (not the cursor): the form's values, the export link's
    // and the next page's query.
    let filters: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != "cursor").collect();
    let shown: serde_json::Map<String, Value> = filters
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let query = serde_urlencoded::to_string(&filters).unwrap_or_default();
    let listed = api::list(State(state.clone()), Query(q), session.caller.clone()).await;
    let (events, next_cursor, error, status) = match listed {
        Ok(Json(page)) => {
            let page = serde_json::to_value(&page).unwrap_or(Value::Null);
            (
                page["events"].clone(),
                page["next_cursor"].clone(),
                None,
                StatusCode::OK,
            )
        }
        // Bad filters: the form again, with why.
        Err(p) if p.status.is_client_error() && p.status != StatusCode::FORBIDDEN => {
            (Value::Array(vec![]), Value::Null, Some(p.detail), p.status)
        }
        Err(p) => return refused(Some(&chrome), p),
    };
    render(
        status,
        "audit.html",
        minijinja::context! {
            events,
            next_cursor,
            error,
            q => shown,
            query,
            resource_types => RESOURCE_TYPES,
            actions => ACTIONS,
            ..minijinja::Value::from_serialize(&chrome),
        },
    )
}

/// `GET /orgs/{org}/audit-logs/export.csv`: the filtered log as CSV.
pub async fn export(
    State(state): State<AppState>,
    Path(OrgPath { org }): Path<OrgPath>,
    Query(q): Query<AuditQuery>,
    headers: HeaderMap,
    origin: Origin,
) -> Response {
    let session = match Session::of(&state, &org, &headers, origin).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    match api::export_csv(State(state.clone()), Query(q), session.caller.clone()).await {
        Ok(response) => response.into_response(),
        Err(p) => refused(Some(&session.chrome("audit")), p),
    }
}
