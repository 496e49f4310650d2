//! Groups: list, create (role `Member`), change (name, description,
//! members), organization role, delete. Changes need
//! `organization.people.manage` (the command checks it); the list needs
//! `organization.groups.view`.

use crate::http::json::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use domain::ids::{GroupId, Subject, UserId};
use domain::permissions::{known, Scope};
use domain::{Command, Organization};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{AtLeast, Paged, RoleBody};
use crate::http::answers::{Committed, RoleRef, UserRef};
use crate::http::auth::Caller;
use crate::http::params::{GroupPath, OrgPath};
use crate::http::problem::{ApiResult, Problem, ProblemBody};
use crate::http::resolve;
use crate::http::state::AppState;

/// A group as the API writes it.
#[derive(Serialize, ToSchema)]
pub struct GroupItem {
    #[schema(value_type = String, format = Uuid)]
    group_id: GroupId,
    name: String,
    description: String,
    /// Its organization role (`Member` when created).
    role: Option<RoleRef>,
    members: Vec<UserRef>,
}

impl GroupItem {
    fn of(s: &Organization, id: GroupId) -> GroupItem {
        let g = &s.groups[&id];
        GroupItem {
            group_id: g.id,
            name: g.name.clone(),
            description: g.description.clone(),
            role: g.role.map(|r| RoleRef::of(s, r)),
            members: g.members.iter().map(|u| UserRef::of(s, *u)).collect(),
        }
    }
}

/// A page of groups, by name.
#[derive(Serialize, ToSchema)]
pub struct GroupsPage {
    groups: Vec<GroupItem>,
    /// The cursor of the next page; null at the end.
    next_cursor: Option<String>,
}

fn users(s: &Organization, refs: &[String]) -> ApiResult<Vec<UserId>> {
    refs.iter().map(|r| resolve::user(s, r)).collect()
}

/// Runs a command about `group` and answers `status` with the group as
/// the command left it (or only its id if it is gone) and the position.
async fn group_command(
    state: &AppState,
    caller: &Caller,
    command: Command,
    group: GroupId,
    status: StatusCode,
) -> ApiResult<Response> {
    state
        .command(caller, command, status, move |s| {
            if s.groups.contains_key(&group) {
                json!(GroupItem::of(s, group))
            } else {
                json!({"group_id": group})
            }
        })
        .await
}

/// `GET /groups`: `{groups: [{group_id, name, description, role, members}]}`,
/// by name.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/groups", tag = "groups", operation_id = "list_groups",
    summary = "List groups (paged, by name)",
    params(OrgPath, Paged),
    responses(
        (status = 200, description = "A page of groups", body = GroupsPage),
        (status = 400, description = "`invalid_cursor`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_limit`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<Paged>,
    caller: Caller,
) -> ApiResult<Json<GroupsPage>> {
    state.consistent(&caller, q.at_least).await?;
    state.require(&caller, known::ORGANIZATION_GROUPS_VIEW)?;
    let model = state.model.read();
    let Some(o) = model.org(caller.org) else {
        return Ok(Json(GroupsPage {
            groups: vec![],
            next_cursor: None,
        }));
    };
    let s = &o.state;
    let key = |g: &&domain::state::Group| format!("{}\u{0}{}", g.name.to_lowercase(), g.id);
    let (groups, next_cursor) =
        crate::http::paging::smallest(s.groups.values(), key, q.limit, q.cursor.as_deref())?;
    Ok(Json(GroupsPage {
        groups: groups.iter().map(|g| GroupItem::of(s, g.id)).collect(),
        next_cursor,
    }))
}

/// `GET /groups/{group}`: one group (by id or name), as `GET /groups`
/// lists it; 404 `group_not_found`; needs `organization.groups.view`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/groups/{group}", tag = "groups", operation_id = "get_group",
    summary = "One group",
    params(OrgPath, GroupPath, AtLeast),
    responses(
        (status = 200, description = "The group", body = GroupItem),
        (status = 404, description = "`group_not_found`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Path(GroupPath { group }): Path<GroupPath>,
    Query(q): Query<AtLeast>,
    caller: Caller,
) -> ApiResult<Json<GroupItem>> {
    state.consistent(&caller, q.at_least).await?;
    state.require(&caller, known::ORGANIZATION_GROUPS_VIEW)?;
    state
        .read_model(caller.org, move |s| {
            let id = resolve::group(s, &group)?;
            Ok(GroupItem::of(s, id))
        })
        .map(Json)
}

/// `POST /groups`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    name: String,
    description: String,
    /// Users (id, username or email).
    #[serde(default)]
    members: Vec<String>,
}

/// `POST /groups`: 201 with the group (role `Member`); 409
/// `group_name_taken`; 404 `user_not_found` for an unknown member.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/groups", tag = "groups", operation_id = "create_group",
    summary = "Create a group (role Member)",
    params(OrgPath),
    request_body = NewGroup,
    responses(
        (status = 201, description = "The group", body = Committed<GroupItem>),
        (status = 404, description = "`user_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`group_name_taken`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewGroup>,
) -> ApiResult<Response> {
    let refs = body.members;
    let members = state.resolve(caller.org, move |s| users(s, &refs)).await?;
    let group_id = GroupId::new();
    let command = Command::CreateGroup {
        group_id,
        name: body.name,
        description: body.description,
        members,
    };
    group_command(&state, &caller, command, group_id, StatusCode::CREATED).await
}

/// `PATCH /groups/{group}`'s body: what changes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupChange {
    name: Option<String>,
    description: Option<String>,
    /// Users to add (id, username or email).
    #[serde(default)]
    add_members: Vec<String>,
    /// Users to remove (id, username or email).
    #[serde(default)]
    remove_members: Vec<String>,
}

/// `PATCH /groups/{group}`: 200 with the group; 404 `user_not_found`,
/// `group_not_found`; 409 `group_name_taken`.
#[utoipa::path(
    patch, path = "/api/v1/orgs/{org}/groups/{group}", tag = "groups", operation_id = "change_group",
    summary = "Rename, describe, add or remove members",
    params(OrgPath, GroupPath),
    request_body = GroupChange,
    responses(
        (status = 200, description = "The group", body = Committed<GroupItem>),
        (status = 404, description = "`user_not_found`, `group_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`group_name_taken`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn change(
    State(state): State<AppState>,
    Path(GroupPath { group, .. }): Path<GroupPath>,
    caller: Caller,
    Json(body): Json<GroupChange>,
) -> ApiResult<Response> {
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
    let command = Command::ChangeGroup {
        group,
        name: body.name,
        description: body.description,
        add_members,
        remove_members,
    };
    group_command(&state, &caller, command, group, StatusCode::OK).await
}

/// `PUT /groups/{group}/role`: the group's organization role (replacing
/// the current one); 200; 404 `role_not_found`; 422 `role_scope_mismatch`.
#[utoipa::path(
    put, path = "/api/v1/orgs/{org}/groups/{group}/role", tag = "groups", operation_id = "assign_group_role",
    summary = "Set a group's organization role",
    params(OrgPath, GroupPath),
    request_body = RoleBody,
    responses(
        (status = 200, description = "The group", body = Committed<GroupItem>),
        (status = 403, description = "`role_escalation`: the role grants what the caller lacks (with fields role and missing)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`group_not_found`, `role_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`role_scope_mismatch`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn assign_role(
    State(state): State<AppState>,
    Path(GroupPath { group, .. }): Path<GroupPath>,
    caller: Caller,
    Json(body): Json<RoleBody>,
) -> ApiResult<Response> {
    let (group, role) = state
        .resolve(caller.org, move |s| {
            Ok::<_, Problem>((
                resolve::group(s, &group)?,
                resolve::role(s, &body.role, Scope::Organization)?,
            ))
        })
        .await?;
    let command = Command::AssignOrgRole {
        subject: Subject::Group(group),
        role,
    };
    group_command(&state, &caller, command, group, StatusCode::OK).await
}

/// `DELETE /groups/{group}`: 204; members lose the group's roles.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org}/groups/{group}", tag = "groups", operation_id = "delete_group",
    summary = "Delete a group",
    params(OrgPath, GroupPath),
    responses(
        (status = 204, description = "Deleted; `Rolebook-Position` header"),
        (status = 404, description = "`group_not_found`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Path(GroupPath { group, .. }): Path<GroupPath>,
    caller: Caller,
) -> ApiResult<Response> {
    let group = state
        .resolve(caller.org, move |s| resolve::group(s, &group))
        .await?;
    state
        .command_empty(&caller, Command::DeleteGroup { group })
        .await
}
