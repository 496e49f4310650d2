//! People: list, invite (all or nothing), remove, organization role,
//! password reset, effective permissions.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use domain::ids::Subject;
use domain::permissions::Scope;
use domain::Command;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{committed, committed_empty, role_ref, RoleBody};
use crate::http::auth::{Bearer, Origin};
use crate::http::problem::{ApiResult, Problem};
use crate::http::resolve;
use crate::http::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    role: Option<String>,
    group: Option<String>,
    q: Option<String>,
    at_least: Option<u64>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /people`: needs `organization.people.view`.
pub async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    Query(query): Query<ListQuery>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Json<Value>> {
    let caller = state.caller(&org, &bearer, origin).await?;
    state.consistent(query.at_least).await?;
    state.require(&caller, "organization.people.view")?;
    let model = state.model.read();
    let Some(o) = model.org(caller.org) else {
        return Ok(Json(json!({"people": []})));
    };
    let s = &o.state;
    let role = query
        .role
        .as_deref()
        .map(|r| resolve::role(s, r, Scope::Organization))
        .transpose()?;
    let group = query
        .group
        .as_deref()
        .map(|g| resolve::group(s, g))
        .transpose()?;
    let q = query.q.map(|q| q.to_lowercase());
    let mut people: Vec<&domain::state::User> = s
        .users
        .values()
        .filter(|u| role.is_none_or(|r| s.org_roles.get(&u.id) == Some(&r)))
        .filter(|u| group.is_none_or(|g| s.groups_of(u.id).contains(&g)))
        .filter(|u| {
            q.as_ref().is_none_or(|q| {
                u.username.to_lowercase().contains(q)
                    || u.email
                        .as_ref()
                        .is_some_and(|e| e.to_lowercase().contains(q))
            })
        })
        .collect();
    let key = |u: &&domain::state::User| format!("{}\u{0}{}", u.username.to_lowercase(), u.id);
    people.sort_by_key(|u| key(u));
    let (people, next_cursor) =
        crate::http::paging::page(people, key, query.limit, query.cursor.as_deref())?;
    let people: Vec<Value> = people
        .into_iter()
        .map(|u| {
            json!({
                "user_id": u.id,
                "email": u.email,
                "username": u.username,
                "kind": u.kind,
                "role": s.org_roles.get(&u.id).map(|r| role_ref(s, *r)),
                "groups": s.groups_of(u.id).iter().map(|g| json!({"group_id": g, "name": s.groups[g].name})).collect::<Vec<_>>(),
                "status": "active",
            })
        })
        .collect();
    Ok(Json(json!({"people": people, "next_cursor": next_cursor})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    email: String,
    username: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    people: Vec<Person>,
    role: Option<String>,
}

/// `POST /people`: 201 `{created: [{user_id, email, username, temporary_password}]}`.
pub async fn invite(
    State(state): State<AppState>,
    Path(org): Path<String>,
    bearer: Bearer,
    origin: Origin,
    Json(body): Json<Invite>,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let role = match body.role {
        Some(r) => Some(
            state
                .resolve(caller.org, move |s| {
                    resolve::role(s, &r, Scope::Organization)
                })
                .await?,
        ),
        None => None,
    };
    let people = body
        .people
        .into_iter()
        .map(|p| (p.email, p.username))
        .collect();
    let (created, position) = state
        .service
        .invite_people(caller.org, people, role, &caller.context())
        .await?;
    Ok(committed(
        StatusCode::CREATED,
        position,
        json!({"created": created}),
    ))
}

/// `DELETE /people/{user}`: 204; 409 `user_owns_projects`, `last_owner`.
pub async fn remove(
    State(state): State<AppState>,
    Path((org, user)): Path<(String, String)>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let user = state
        .resolve(caller.org, move |s| resolve::user(s, &user))
        .await?;
    let outcome = state
        .service
        .remove_user(caller.org, user, &caller.context())
        .await?;
    state.forget_tokens_of(user);
    Ok(committed_empty(outcome.position))
}

/// `PUT /people/{user}/role`: 200; 404 `role_not_found`; 422
/// `role_scope_mismatch`; 409 `last_owner`.
pub async fn assign_role(
    State(state): State<AppState>,
    Path((org, user)): Path<(String, String)>,
    bearer: Bearer,
    origin: Origin,
    Json(body): Json<RoleBody>,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let (user, role) = state
        .resolve(caller.org, move |s| {
            Ok::<_, Problem>((
                resolve::user(s, &user)?,
                resolve::role(s, &body.role, Scope::Organization)?,
            ))
        })
        .await?;
    let outcome = state
        .service
        .execute(
            caller.org,
            Command::AssignOrgRole {
                subject: Subject::User(user),
                role,
            },
            &caller.context(),
        )
        .await?;
    Ok(committed(
        StatusCode::OK,
        outcome.position,
        json!({"user_id": user, "role_id": role}),
    ))
}

/// `DELETE /people/{user}/role`: 200; 409 `not_directly_assigned`.
pub async fn retract_role(
    State(state): State<AppState>,
    Path((org, user)): Path<(String, String)>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let user = state
        .resolve(caller.org, move |s| resolve::user(s, &user))
        .await?;
    let outcome = state
        .service
        .execute(
            caller.org,
            Command::RetractOrgRole {
                subject: Subject::User(user),
            },
            &caller.context(),
        )
        .await?;
    Ok(committed(
        StatusCode::OK,
        outcome.position,
        json!({"user_id": user}),
    ))
}

/// `POST /people/{user}/password-reset`: 201 `{temporary_password}`.
pub async fn reset_password(
    State(state): State<AppState>,
    Path((org, user)): Path<(String, String)>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let user = state
        .resolve(caller.org, move |s| resolve::user(s, &user))
        .await?;
    let (password, position) = state
        .service
        .reset_password(caller.org, user, &caller.context())
        .await?;
    state.forget_tokens_of(user);
    Ok(committed(
        StatusCode::CREATED,
        position,
        json!({"temporary_password": password}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionsQuery {
    project: Option<String>,
    at_least: Option<u64>,
}

/// `GET /people/{user}/permissions`: each permission with its sources. One's
/// own always; others' with `organization.people.view`.
pub async fn permissions(
    State(state): State<AppState>,
    Path((org, user)): Path<(String, String)>,
    Query(query): Query<PermissionsQuery>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Json<Value>> {
    let caller = state.caller(&org, &bearer, origin).await?;
    state.consistent(query.at_least).await?;
    let model = state.model.read();
    let o = model
        .org(caller.org)
        .ok_or_else(|| Problem::not_found("user_not_found", "no such user"))?;
    let user = resolve::user(&o.state, &user)?;
    if user != caller.user
        && !o.check(
            caller.user,
            domain::permissions::Permission::lookup("organization.people.view").unwrap(),
            None,
        )
    {
        return Err(Problem::forbidden("organization.people.view"));
    }
    let project = query
        .project
        .as_deref()
        .map(|p| resolve::project(&o.state, p))
        .transpose()?;
    let granted = o.permissions_of(user, project);
    Ok(Json(json!({"permissions": granted.iter().map(|g| json!({
        "permission": g.permission,
        "sources": g.sources.iter().map(|s| super::access::source_json(&o.state, s)).collect::<Vec<_>>(),
    })).collect::<Vec<_>>()})))
}
