//! Groups: list, create (role `Member`), change (name, description,
//! members), organization role, delete. Changes need
//! `organization.people.manage` (the command checks it); the list needs
//! `organization.groups.view`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use domain::ids::{GroupId, Subject, UserId};
use domain::permissions::Scope;
use domain::{Command, Organization};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{committed, committed_empty, role_ref, user_ref, RoleBody};
use crate::http::auth::{Bearer, Origin};
use crate::http::problem::{ApiResult, Problem};
use crate::http::resolve;
use crate::http::state::AppState;

/// A group as the API writes it.
fn group_json(s: &Organization, id: GroupId) -> Value {
    let g = &s.groups[&id];
    json!({
        "group_id": g.id,
        "name": g.name,
        "description": g.description,
        "role": g.role.map(|r| role_ref(s, r)),
        "members": g.members.iter().map(|u| user_ref(s, *u)).collect::<Vec<_>>(),
    })
}

fn users(s: &Organization, refs: &[String]) -> ApiResult<Vec<UserId>> {
    refs.iter().map(|r| resolve::user(s, r)).collect()
}

/// `GET /groups`: `{groups: [{group_id, name, description, role, members}]}`,
/// by name.
pub async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    Query(q): Query<ListQuery>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Json<Value>> {
    let caller = state.caller(&org, &bearer, origin).await?;
    state.consistent(q.at_least).await?;
    state.require(&caller, "organization.groups.view")?;
    let model = state.model.read();
    let Some(o) = model.org(caller.org) else {
        return Ok(Json(json!({"groups": []})));
    };
    let s = &o.state;
    let key = |g: &&domain::state::Group| format!("{}\u{0}{}", g.name.to_lowercase(), g.id);
    let mut groups: Vec<&domain::state::Group> = s.groups.values().collect();
    groups.sort_by_key(|g| key(g));
    let (groups, next_cursor) =
        crate::http::paging::page(groups, key, q.limit, q.cursor.as_deref())?;
    let groups: Vec<Value> = groups.iter().map(|g| group_json(s, g.id)).collect();
    Ok(Json(
        json!({ "groups": groups, "next_cursor": next_cursor }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    at_least: Option<u64>,
    limit: Option<usize>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    name: String,
    description: String,
    #[serde(default)]
    members: Vec<String>,
}

/// `POST /groups`: 201 with the group (role `Member`); 409
/// `group_name_taken`; 404 `user_not_found` for an unknown member.
pub async fn create(
    State(state): State<AppState>,
    Path(org): Path<String>,
    bearer: Bearer,
    origin: Origin,
    Json(body): Json<NewGroup>,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let refs = body.members;
    let members = state.resolve(caller.org, move |s| users(s, &refs)).await?;
    let group_id = GroupId::new();
    let outcome = state
        .service
        .execute(
            caller.org,
            Command::CreateGroup {
                group_id,
                name: body.name,
                description: body.description,
                members,
            },
            &caller.context(),
        )
        .await?;
    let body = state
        .service
        .read(caller.org, move |s| {
            s.groups
                .contains_key(&group_id)
                .then(|| group_json(s, group_id))
        })
        .await?
        .unwrap_or_else(|| json!({"group_id": group_id}));
    Ok(committed(StatusCode::CREATED, outcome.position, body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupChange {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    add_members: Vec<String>,
    #[serde(default)]
    remove_members: Vec<String>,
}

/// `PATCH /groups/{group}`: 200 with the group; 404 `user_not_found`,
/// `group_not_found`; 409 `group_name_taken`.
pub async fn change(
    State(state): State<AppState>,
    Path((org, group)): Path<(String, String)>,
    bearer: Bearer,
    origin: Origin,
    Json(body): Json<GroupChange>,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let (add, remove) = (body.add_members, body.remove_members);
    let (group, add_members, remove_members) = state
        .resolve(caller.org, move |s| {
            Ok::<_, Problem>((
                resolve::group(s, &group)?,
                users(s, &add)?,
                users(s, &remove)?,
            ))
        })
        .await?;
    let outcome = state
        .service
        .execute(
            caller.org,
            Command::ChangeGroup {
                group,
                name: body.name,
                description: body.description,
                add_members,
                remove_members,
            },
            &caller.context(),
        )
        .await?;
    let body = state
        .service
        .read(caller.org, move |s| {
            s.groups.contains_key(&group).then(|| group_json(s, group))
        })
        .await?
        .unwrap_or_else(|| json!({"group_id": group}));
    Ok(committed(StatusCode::OK, outcome.position, body))
}

/// `PUT /groups/{group}/role`: the group's organization role (replacing
/// the current one); 200; 404 `role_not_found`; 422 `role_scope_mismatch`.
pub async fn assign_role(
    State(state): State<AppState>,
    Path((org, group)): Path<(String, String)>,
    bearer: Bearer,
    origin: Origin,
    Json(body): Json<RoleBody>,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let (group, role) = state
        .resolve(caller.org, move |s| {
            Ok::<_, Problem>((
                resolve::group(s, &group)?,
                resolve::role(s, &body.role, Scope::Organization)?,
            ))
        })
        .await?;
    let outcome = state
        .service
        .execute(
            caller.org,
            Command::AssignOrgRole {
                subject: Subject::Group(group),
                role,
            },
            &caller.context(),
        )
        .await?;
    let body = state
        .service
        .read(caller.org, move |s| {
            s.groups.contains_key(&group).then(|| group_json(s, group))
        })
        .await?
        .unwrap_or_else(|| json!({"group_id": group}));
    Ok(committed(StatusCode::OK, outcome.position, body))
}

/// `DELETE /groups/{group}`: 204; members lose the group's roles.
pub async fn delete(
    State(state): State<AppState>,
    Path((org, group)): Path<(String, String)>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let group = state
        .resolve(caller.org, move |s| resolve::group(s, &group))
        .await?;
    let outcome = state
        .service
        .execute(
            caller.org,
            Command::DeleteGroup { group },
            &caller.context(),
        )
        .await?;
    Ok(committed_empty(outcome.position))
}
