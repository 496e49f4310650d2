//! Access queries: `GET /check` (one), `POST /check` (many, in order),
//! `GET /who-can`. Checking oneself is always allowed; asking about others
//! needs `organization.people.view`.

use crate::http::json::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use domain::ids::{ProjectId, UserId};
use domain::permissions::{known, Permission};
use domain::state::UserKind;
use projections::access::OrgAccess;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AtLeast;
use crate::http::answers::Source;
use crate::http::auth::Caller;
use crate::http::paging;
use crate::http::params::OrgPath;
use crate::http::problem::{ApiResult, Problem, ProblemBody};
use crate::http::resolve;
use crate::http::state::AppState;

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
    if user == caller.user || o.check(caller.user, known::ORGANIZATION_PEOPLE_VIEW, None) {
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

/// `GET /check`'s question.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CheckQuery {
    /// The user asked about (id, username or email).
    user: String,
    /// A permission of the catalog.
    permission: String,
    /// For project permissions: the project (id or name).
    project: Option<String>,
    /// Answer from the state at this instant (RFC 3339), rebuilt from the
    /// log.
    as_of: Option<String>,
    /// Answer once the read side has reached this position.
    at_least: Option<u64>,
}

/// The answer to one check, with every source that grants it.
#[derive(Serialize, ToSchema)]
pub struct CheckAnswer {
    allowed: bool,
    sources: Vec<Source>,
    /// What the user asked about is: `person` or `service_account`.
    #[schema(value_type = String, example = "person")]
    kind: UserKind,
    /// With `as_of`: the instant asked about.
    #[serde(skip_serializing_if = "Option::is_none")]
    as_of: Option<DateTime<Utc>>,
    /// With `as_of`: the position of the last event at that instant.
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<u64>,
}

/// `GET /check`: `{allowed, sources}`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/check", tag = "access", operation_id = "check",
    summary = "May a user do something, and why?",
    params(OrgPath, CheckQuery),
    responses(
        (status = 200, description = "Allowed or not, with the sources", body = CheckAnswer),
        (status = 404, description = "`user_not_found`, `project_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_permission`, `invalid_as_of`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn check(
    State(state): State<AppState>,
    Query(q): Query<CheckQuery>,
    caller: Caller,
) -> ApiResult<Json<CheckAnswer>> {
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
    state.consistent(&caller, q.at_least).await?;
    let model = state.model.read();
    let o = model
        .org(caller.org)
        .ok_or_else(|| Problem::not_found("user_not_found", "no such user"))?;
    let (user, project) = target(o, &q.user, q.project.as_deref())?;
    may_ask_about(o, &caller, user)?;
    let sources = o.explain(user, permission, project);
    Ok(Json(CheckAnswer {
        allowed: !sources.is_empty(),
        sources: Source::all(&o.state, &sources),
        kind: kind_of(&o.state, user),
        as_of: None,
        position: None,
    }))
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
) -> ApiResult<Json<CheckAnswer>> {
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
    Ok(Json(CheckAnswer {
        allowed: !sources.is_empty(),
        sources: Source::all(s, &sources),
        kind: kind_of(s, user),
        as_of: Some(at),
        position: Some(past.position),
    }))
}

/// One question of `POST /check`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OneCheck {
    /// The user asked about (id, username or email).
    user: String,
    /// A permission of the catalog.
    permission: String,
    /// For project permissions: the project (id or name).
    project: Option<String>,
}

/// `POST /check`'s body: at most 1,000 questions.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    checks: Vec<OneCheck>,
}

/// One answer of `POST /check`.
#[derive(Serialize, ToSchema)]
pub struct Allowed {
    allowed: bool,
}

/// `POST /check`'s answers, in the order of the questions.
#[derive(Serialize, ToSchema)]
pub struct CheckResults {
    results: Vec<Allowed>,
}

/// `POST /check`: `{results: [{allowed}]}` in order (at most 1,000 checks).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/check", tag = "access", operation_id = "check_many",
    summary = "Many checks, answered in order",
    params(OrgPath, AtLeast),
    request_body = Checks,
    responses(
        (status = 200, description = "One answer per check, in order", body = CheckResults),
        (status = 404, description = "`user_not_found`, `project_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_permission`, `too_many`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn check_many(
    State(state): State<AppState>,
    Query(q): Query<AtLeast>,
    caller: Caller,
    Json(body): Json<Checks>,
) -> ApiResult<Json<CheckResults>> {
    if body.checks.len() > 1000 {
        return Err(Problem::invalid(
            "checks",
            "too_many",
            "at most 1000 checks per request",
        ));
    }
    state.consistent(&caller, q.at_least).await?;
    let model = state.model.read();
    let o = model
        .org(caller.org)
        .ok_or_else(|| Problem::not_found("user_not_found", "no such user"))?;
    let mut results = Vec::with_capacity(body.checks.len());
    for c in &body.checks {
        let permission = permission(&c.permission)?;
        let (user, project) = target(o, &c.user, c.project.as_deref())?;
        may_ask_about(o, &caller, user)?;
        results.push(Allowed {
            allowed: o.check(user, permission, project),
        });
    }
    Ok(Json(CheckResults { results }))
}

/// `GET /who-can`'s question and paging.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WhoCanQuery {
    /// A permission of the catalog.
    permission: String,
    /// For project permissions: the project (id or name).
    project: Option<String>,
    /// Answer once the read side has reached this position.
    at_least: Option<u64>,
    /// Users per page: 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A holder of the permission, with every source of it.
#[derive(Serialize, ToSchema)]
pub struct Holder {
    #[schema(value_type = String, format = Uuid)]
    user_id: UserId,
    username: String,
    /// `person` or `service_account`.
    #[schema(value_type = String, example = "person")]
    kind: UserKind,
    sources: Vec<Source>,
}

/// What a user is (a person unless the state says otherwise).
fn kind_of(s: &domain::Organization, user: UserId) -> UserKind {
    s.users.get(&user).map_or(UserKind::Person, |u| u.kind)
}

/// A page of the holders of a permission, by user id.
#[derive(Serialize, ToSchema)]
pub struct WhoCanPage {
    users: Vec<Holder>,
    /// The cursor of the next page; null at the end.
    next_cursor: Option<String>,
}

/// `GET /who-can`: `{users: [{user_id, sources}], next_cursor}` (paged,
/// by user id); needs `organization.people.view`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/who-can", tag = "access", operation_id = "who_can",
    summary = "Who holds a permission, and through what (paged)",
    params(OrgPath, WhoCanQuery),
    responses(
        (status = 200, description = "A page of holders", body = WhoCanPage),
        (status = 400, description = "`invalid_cursor`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`project_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_permission`, `invalid_limit`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn who_can(
    State(state): State<AppState>,
    Query(q): Query<WhoCanQuery>,
    caller: Caller,
) -> ApiResult<Json<WhoCanPage>> {
    state.consistent(&caller, q.at_least).await?;
    state.require(&caller, known::ORGANIZATION_PEOPLE_VIEW)?;
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
    // Holders come by user id: the keyset key (the cursor names the last
    // user id served).
    let limit = paging::limit(q.limit)?;
    let after = paging::after(q.cursor.as_deref())?
        .map(|id| id.parse::<UserId>().map_err(|_| paging::invalid_cursor()))
        .transpose()?;
    let (holders, more) = o.who_can_page(permission, project, after, limit);
    let next_cursor = more
        .then(|| holders.last())
        .flatten()
        .map(|h| paging::cursor(&h.user_id.to_string()));
    Ok(Json(WhoCanPage {
        users: holders
            .iter()
            .map(|h| Holder {
                user_id: h.user_id,
                username: o.state.username(h.user_id),
                kind: kind_of(&o.state, h.user_id),
                sources: Source::all(&o.state, &h.sources),
            })
            .collect(),
        next_cursor,
    }))
}
