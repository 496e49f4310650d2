//! Access queries: `GET /check` (one), `POST /check` (many, in order),
//! `GET /who-can`. Checking oneself is always allowed; asking about others
//! needs `organization.people.view`.

use axum::extract::{Path, Query, State};
use axum::Json;
use domain::access::BindingSource;
use domain::ids::{ProjectId, UserId};
use domain::permissions::Permission;
use domain::Organization;
use projections::access::OrgAccess;
use serde::Deserialize;
use serde_json::{json, Value};

use super::AtLeast;
use crate::http::auth::{Bearer, Caller, Origin};
use crate::http::problem::{ApiResult, Problem};
use crate::http::resolve;
use crate::http::state::AppState;

/// A source as API.md writes it: `{role, via, group?}`.
pub fn source_json(state: &Organization, s: &BindingSource) -> Value {
    let role = state.roles.get(&s.role());
    let mut v = json!({
        "role": role.map(|r| json!({"role_id": r.id, "name": r.name, "scope": r.scope})),
        "via": s.via(),
    });
    match s {
        BindingSource::Group { group, .. } => {
            v["group"] =
                json!({"group_id": group, "name": state.groups.get(group).map(|g| g.name.clone())});
        }
        BindingSource::OrganizationRole { org_role, .. } => {
            v["organization_role"] =
                json!({"role_id": org_role, "name": state.role_name(*org_role)});
        }
        BindingSource::Repository { access, .. } => v["access"] = json!(access),
        BindingSource::Direct { .. } => {}
    }
    v
}

fn permission(name: &str) -> ApiResult<Permission> {
    Permission::lookup(name).ok_or_else(|| {
        Problem::invalid(
            "permission",
            "unknown_permission",
            format!("unknown permission {name}"),
        )
    })
}

fn may_ask_about(o: &OrgAccess, caller: &Caller, user: UserId) -> ApiResult<()> {
    if user == caller.user
        || o.check(
            caller.user,
            Permission::lookup("organization.people.view").unwrap(),
            None,
        )
    {
        Ok(())
    } else {
        Err(Problem::forbidden("organization.people.view"))
    }
}

fn target(
    o: &OrgAccess,
    user: &str,
    project: Option<&str>,
) -> ApiResult<(UserId, Option<ProjectId>)> {
    let user = resolve::user(&o.state, user)?;
    let project = project.map(|p| resolve::project(&o.state, p)).transpose()?;
    Ok((user, project))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckQuery {
    user: String,
    permission: String,
    project: Option<String>,
    as_of: Option<String>,
    at_least: Option<u64>,
}

/// `GET /check`: `{allowed, sources}`.
pub async fn check(
    State(state): State<AppState>,
    Path(org): Path<String>,
    Query(q): Query<CheckQuery>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Json<Value>> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let permission = permission(&q.permission)?;
    if let Some(at) = &q.as_of {
        return check_as_of(
            &state,
            &caller,
            at,
            &q.user,
            permission,
            q.project.as_deref(),
        )
        .await;
    }
    state.consistent(q.at_least).await?;
    let model = state.model.read();
    let o = model
        .org(caller.org)
        .ok_or_else(|| Problem::not_found("user_not_found", "no such user"))?;
    let (user, project) = target(o, &q.user, q.project.as_deref())?;
    may_ask_about(o, &caller, user)?;
    let sources = o.explain(user, permission, project);
    Ok(Json(json!({
        "allowed": !sources.is_empty(),
        "sources": sources.iter().map(|s| source_json(&o.state, s)).collect::<Vec<_>>(),
    })))
}

/// `GET /check?as_of=`: the answer from the state at that moment, rebuilt
/// from the log (from the nearest verified snapshot). The user and project
/// are resolved in that past state, so someone removed since can still be
/// asked about; asking about others needs `organization.people.view` now.
async fn check_as_of(
    state: &AppState,
    caller: &Caller,
    at: &str,
    user: &str,
    permission: Permission,
    project: Option<&str>,
) -> ApiResult<Json<Value>> {
    let at = chrono::DateTime::parse_from_rfc3339(at)
        .map_err(|e| {
            Problem::invalid(
                "as_of",
                "invalid_as_of",
                format!("as_of must be an RFC 3339 time: {e}"),
            )
        })?
        .with_timezone(&chrono::Utc);
    let past = replay::as_of(
        &**state.service.store(),
        state.snapshots.as_ref(),
        caller.org,
        at,
    )
    .await
    .map_err(Problem::internal)?;
    let s = &past.state;
    let user = resolve::user(s, user)?;
    let project = project.map(|p| resolve::project(s, p)).transpose()?;
    {
        let model = state.model.read();
        let now = model
            .org(caller.org)
            .ok_or_else(|| Problem::not_found("org_not_found", "no such organization"))?;
        may_ask_about(now, caller, user)?;
    }
    let sources = replay::access::explain(s, user, permission, project);
    Ok(Json(json!({
        "allowed": !sources.is_empty(),
        "sources": sources.iter().map(|src| source_json(s, src)).collect::<Vec<_>>(),
        "as_of": at,
        "position": past.position,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneCheck {
    user: String,
    permission: String,
    project: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    checks: Vec<OneCheck>,
}

/// `POST /check`: `{results: [{allowed}]}` in order (at most 1,000 checks).
pub async fn check_many(
    State(state): State<AppState>,
    Path(org): Path<String>,
    Query(q): Query<AtLeast>,
    bearer: Bearer,
    origin: Origin,
    Json(body): Json<Checks>,
) -> ApiResult<Json<Value>> {
    let caller = state.caller(&org, &bearer, origin).await?;
    if body.checks.len() > 1000 {
        return Err(Problem::invalid(
            "checks",
            "too_many",
            "at most 1000 checks per request",
        ));
    }
    state.consistent(q.at_least).await?;
    let model = state.model.read();
    let o = model
        .org(caller.org)
        .ok_or_else(|| Problem::not_found("user_not_found", "no such user"))?;
    let mut results = Vec::with_capacity(body.checks.len());
    for c in &body.checks {
        let permission = permission(&c.permission)?;
        let (user, project) = target(o, &c.user, c.project.as_deref())?;
        may_ask_about(o, &caller, user)?;
        results.push(json!({"allowed": o.check(user, permission, project)}));
    }
    Ok(Json(json!({"results": results})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhoCanQuery {
    permission: String,
    project: Option<String>,
    at_least: Option<u64>,
}

/// `GET /who-can`: `{users: [{user_id, sources}]}`; needs
/// `organization.people.view`.
pub async fn who_can(
    State(state): State<AppState>,
    Path(org): Path<String>,
    Query(q): Query<WhoCanQuery>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Json<Value>> {
    let caller = state.caller(&org, &bearer, origin).await?;
    state.consistent(q.at_least).await?;
    state.require(&caller, "organization.people.view")?;
    let permission = permission(&q.permission)?;
    let model = state.model.read();
    let o = model
        .org(caller.org)
        .ok_or_else(|| Problem::not_found("org_not_found", "no such organization"))?;
    let project = q
        .project
        .as_deref()
        .map(|p| resolve::project(&o.state, p))
        .transpose()?;
    let users: Vec<Value> = o
        .who_can(permission, project)
        .iter()
        .map(|h| {
            json!({
                "user_id": h.user_id,
                "username": o.state.username(h.user_id),
                "sources": h.sources.iter().map(|s| source_json(&o.state, s)).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({"users": users})))
}
