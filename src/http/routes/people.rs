//! People: list, invite (all or nothing), remove, deactivate and
//! reactivate, organization role, password reset, effective permissions.

use crate::http::json::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use commands::CreatedUser;
use domain::ids::{RoleId, Subject, UserId};
use domain::permissions::{known, Scope};
use domain::state::UserKind;
use domain::Command;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{AtLeast, Reactivation, RoleBody};
use crate::http::answers::{Committed, GroupRef, RoleRef, Source};
use crate::http::auth::Caller;
use crate::http::command::answered;
use crate::http::params::{OrgPath, UserPath};
use crate::http::problem::{ApiResult, Problem, ProblemBody};
use crate::http::resolve;
use crate::http::state::AppState;
use commands::service::Renderer;
use commands::Answer;

/// `GET /people`'s filters and paging.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only holders of this organization role (id or name), directly.
    role: Option<String>,
    /// Only members of this group (id or name).
    group: Option<String>,
    /// A substring of the username or email, case-insensitive.
    q: Option<String>,
    /// Answer once the read side has reached this position.
    at_least: Option<u64>,
    /// Items per page: 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `GET /people/export.csv`'s filters: those of `GET /people`, not paged
/// (the export is whole).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Only holders of this organization role (id or name), directly.
    role: Option<String>,
    /// Only members of this group (id or name).
    group: Option<String>,
    /// A substring of the username or email, case-insensitive.
    q: Option<String>,
    /// Answer once the read side has reached this position.
    at_least: Option<u64>,
}

impl From<ExportQuery> for ListQuery {
    fn from(e: ExportQuery) -> ListQuery {
        ListQuery {
            role: e.role,
            group: e.group,
            q: e.q,
            at_least: e.at_least,
            limit: None,
            cursor: None,
        }
    }
}

/// A person as `GET /people` writes them.
#[derive(Serialize, ToSchema)]
pub struct PersonItem {
    #[schema(value_type = String, format = Uuid)]
    user_id: UserId,
    /// Null for service accounts.
    email: Option<String>,
    username: String,
    /// `person` or `service_account`.
    #[schema(value_type = String, example = "person")]
    kind: UserKind,
    /// The organization role bound to the user directly, if any.
    role: Option<RoleRef>,
    groups: Vec<GroupRef>,
    /// `active` or `deactivated`.
    #[schema(example = "active")]
    status: &'static str,
}

/// The people `query`'s filters select, in no order (`GET /people` pages
/// them by [`key`]).
fn matching<'s>(
    s: &'s domain::Organization,
    query: &ListQuery,
) -> ApiResult<Vec<&'s domain::state::User>> {
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
    let q = query.q.as_ref().map(|q| q.to_lowercase());
    let people: Vec<&domain::state::User> = s
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
    Ok(people)
}

/// [`matching`], by username (the CSV export's order).
fn matching_in_order<'s>(
    s: &'s domain::Organization,
    query: &ListQuery,
) -> ApiResult<Vec<&'s domain::state::User>> {
    let mut people = matching(s, query)?;
    people.sort_by_cached_key(key);
    Ok(people)
}

/// The paging key of a person: username, then id.
fn key(u: &&domain::state::User) -> String {
    format!("{}\u{0}{}", u.username.to_lowercase(), u.id)
}

/// The columns of the people CSV export.
pub const CSV_HEADER: [&str; 7] = [
    "user_id", "username", "email", "kind", "role", "groups", "status",
];

/// `GET /people/export.csv`: everyone the filters of `GET /people` select
/// (`role`, `group`, `q`; not paged), by username, as CSV with a header
/// row; groups are `;`-separated; a cell a spreadsheet would run as a
/// formula is written with a leading `'`. Needs `organization.people.view`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/people/export.csv", tag = "people", operation_id = "export_people_csv",
    summary = "People as CSV, by username",
    params(OrgPath, ExportQuery),
    responses(
        (status = 200, description = "CSV, header row first", body = String, content_type = "text/csv"),
        (status = 404, description = "`role_not_found`, `group_not_found`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn export_csv(
    State(state): State<AppState>,
    Query(query): Query<ExportQuery>,
    caller: Caller,
) -> ApiResult<Response> {
    let query = ListQuery::from(query);
    state.consistent(&caller, query.at_least).await?;
    state.require(&caller, known::ORGANIZATION_PEOPLE_VIEW)?;
    let body = state.read_model(caller.org, |s| {
        let mut out = csv::Writer::from_writer(Vec::new());
        let cell = |text: String| {
            if projections::audit::is_formula_like(text.as_bytes()) {
                format!("'{text}")
            } else {
                text
            }
        };
        out.write_record(CSV_HEADER).map_err(Problem::internal)?;
        for u in matching_in_order(s, &query)? {
            let item = PersonItem::of(s, u);
            let groups: Vec<String> = item.groups.iter().filter_map(|g| g.name.clone()).collect();
            out.write_record([
                item.user_id.to_string(),
                cell(item.username),
                cell(item.email.unwrap_or_default()),
                match item.kind {
                    UserKind::Person => "person".to_string(),
                    UserKind::ServiceAccount => "service_account".to_string(),
                },
                cell(item.role.and_then(|r| r.name).unwrap_or_default()),
                cell(groups.join(";")),
                item.status.to_string(),
            ])
            .map_err(Problem::internal)?;
        }
        out.into_inner()
            .map_err(|e| Problem::internal(anyhow::anyhow!("{e}")))
    })?;
    Ok((
        StatusCode::OK,
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"people.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

impl PersonItem {
    fn of(s: &domain::Organization, u: &domain::state::User) -> PersonItem {
        PersonItem {
            user_id: u.id,
            email: u.email.clone(),
            username: u.username.clone(),
            kind: u.kind,
            role: s.org_roles.get(&u.id).map(|r| RoleRef::of(s, *r)),
            groups: s
                .groups_of(u.id)
                .iter()
                .map(|g| GroupRef::of(s, *g))
                .collect(),
            status: if u.active { "active" } else { "deactivated" },
        }
    }
}

/// A page of people, by username.
#[derive(Serialize, ToSchema)]
pub struct PeoplePage {
    people: Vec<PersonItem>,
    /// The cursor of the next page; null at the end.
    next_cursor: Option<String>,
}

/// `GET /people/{user}`: one person (by id, username or email), as `GET
/// /people` lists them; 404 `user_not_found`; needs
/// `organization.people.view`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/people/{user}", tag = "people", operation_id = "get_person",
    summary = "One person",
    params(OrgPath, UserPath, AtLeast),
    responses(
        (status = 200, description = "The person", body = PersonItem),
        (status = 404, description = "`user_not_found`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Path(UserPath { user }): Path<UserPath>,
    Query(q): Query<AtLeast>,
    caller: Caller,
) -> ApiResult<Json<PersonItem>> {
    state.consistent(&caller, q.at_least).await?;
    state.require(&caller, known::ORGANIZATION_PEOPLE_VIEW)?;
    state
        .read_model(caller.org, move |s| {
            let id = resolve::user(s, &user)?;
            Ok(PersonItem::of(s, &s.users[&id]))
        })
        .map(Json)
}

/// `GET /people`: needs `organization.people.view`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/people", tag = "people", operation_id = "list_people",
    summary = "List people (paged, by username)",
    params(OrgPath, ListQuery),
    responses(
        (status = 200, description = "A page of people", body = PeoplePage),
        (status = 400, description = "`invalid_cursor`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`role_not_found`, `group_not_found` (filters)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_limit`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
    caller: Caller,
) -> ApiResult<Json<PeoplePage>> {
    state.consistent(&caller, query.at_least).await?;
    state.require(&caller, known::ORGANIZATION_PEOPLE_VIEW)?;
    let model = state.model.read();
    let Some(o) = model.org(caller.org) else {
        return Ok(Json(PeoplePage {
            people: vec![],
            next_cursor: None,
        }));
    };
    let s = &o.state;
    let people = matching(s, &query)?;
    let (people, next_cursor) =
        crate::http::paging::smallest(people, key, query.limit, query.cursor.as_deref())?;
    let people = people.into_iter().map(|u| PersonItem::of(s, u)).collect();
    Ok(Json(PeoplePage {
        people,
        next_cursor,
    }))
}

/// One person to invite.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Person {
    #[schema(example = "ada@example.com")]
    pub(crate) email: String,
    /// Derived from the email when absent.
    pub(crate) username: Option<String>,
}

/// `POST /people`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    pub(crate) people: Vec<Person>,
    /// Their organization role (id or name); `Member` when absent.
    pub(crate) role: Option<String>,
}

/// A new user with the temporary password shown once.
#[derive(Serialize, ToSchema)]
pub struct CreatedPerson {
    #[schema(value_type = String, format = Uuid)]
    user_id: UserId,
    email: String,
    username: String,
    /// Must be changed at first login (`POST /sessions/password`).
    temporary_password: String,
}

impl From<CreatedUser> for CreatedPerson {
    fn from(u: CreatedUser) -> Self {
        CreatedPerson {
            user_id: u.user_id,
            email: u.email,
            username: u.username,
            temporary_password: u.temporary_password,
        }
    }
}

/// `POST /people`'s answer.
#[derive(Serialize, ToSchema)]
pub struct Invited {
    created: Vec<CreatedPerson>,
}

/// `POST /people`: 201 `{created: [{user_id, email, username, temporary_password}]}`.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/people", tag = "people", operation_id = "invite_people",
    summary = "Invite people (all or nothing)",
    params(OrgPath),
    request_body = Invite,
    responses(
        (status = 201, description = "Everyone was invited", body = Committed<Invited>),
        (status = 404, description = "`role_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`, `username_taken`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_email`, `invalid_username`, `role_scope_mismatch`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<Invite>,
) -> ApiResult<Response> {
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
    let answer: Renderer<Vec<CreatedUser>> = Box::new(|created| {
        Answer::json(
            StatusCode::CREATED.as_u16(),
            &Invited {
                created: created.iter().cloned().map(CreatedPerson::from).collect(),
            },
        )
    });
    let (_, outcome) = state
        .service
        .invite_people(caller.org, people, role, &caller.context(), Some(answer))
        .await?;
    Ok(answered(&outcome))
}

/// `DELETE /people/{user}`: 204; 409 `user_owns_projects`, `last_owner`.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org}/people/{user}", tag = "people", operation_id = "remove_person",
    summary = "Remove a user (their tokens die at once)",
    params(OrgPath, UserPath),
    responses(
        (status = 204, description = "Removed; `Rolebook-Position` header"),
        (status = 404, description = "`user_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`user_owns_projects` (with field projects), `last_owner`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    Path(UserPath { user, .. }): Path<UserPath>,
    caller: Caller,
) -> ApiResult<Response> {
    let user = state
        .resolve(caller.org, move |s| resolve::user(s, &user))
        .await?;
    state
        .command_empty(&caller, Command::RemoveUser { user })
        .await
}

/// `POST /people/{user}/deactivate`: 200 with the user as it left them:
/// every role from every source retracted (each in the audit log), every
/// group left, every session and token ended at once; their projects stay
/// theirs. 409 `last_owner`. Again on a deactivated user: 200, nothing
/// changes.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/people/{user}/deactivate", tag = "people", operation_id = "deactivate_person",
    summary = "Deactivate a user (roles retracted, sessions and tokens ended)",
    params(OrgPath, UserPath),
    responses(
        (status = 200, description = "The user", body = Committed<PersonItem>),
        (status = 403, description = "`forbidden`: needs organization.people.manage (organization.service_accounts.manage for a service account)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`user_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`last_owner`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn deactivate(
    State(state): State<AppState>,
    Path(UserPath { user, .. }): Path<UserPath>,
    caller: Caller,
) -> ApiResult<Response> {
    let user = state
        .resolve(caller.org, move |s| resolve::user(s, &user))
        .await?;
    state
        .command(
            &caller,
            Command::DeactivateUser { user },
            StatusCode::OK,
            move |s| s.users.get(&user).map(|u| PersonItem::of(s, u)),
        )
        .await
}

/// `POST /people/{user}/reactivate`: 200 with the user, active again with
/// `role` (default `Member`); their password is the one they had.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/people/{user}/reactivate", tag = "people", operation_id = "reactivate_person",
    summary = "Reactivate a user with an organization role",
    params(OrgPath, UserPath),
    request_body(content = Option<Reactivation>, description = "Optional"),
    responses(
        (status = 200, description = "The user", body = Committed<PersonItem>),
        (status = 403, description = "`forbidden`, `role_escalation`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`user_not_found`, `role_not_found`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn reactivate(
    State(state): State<AppState>,
    Path(UserPath { user, .. }): Path<UserPath>,
    caller: Caller,
    body: Option<Json<Reactivation>>,
) -> ApiResult<Response> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let (user, role) = state
        .resolve(caller.org, move |s| {
            Ok((resolve::user(s, &user)?, body.role_in(s)?))
        })
        .await?;
    state
        .command(
            &caller,
            Command::ReactivateUser { user, role },
            StatusCode::OK,
            move |s| s.users.get(&user).map(|u| PersonItem::of(s, u)),
        )
        .await
}

/// A user's organization role changed.
#[derive(Serialize, ToSchema)]
pub struct RoleAssigned {
    #[schema(value_type = String, format = Uuid)]
    user_id: UserId,
    #[schema(value_type = String, format = Uuid)]
    role_id: RoleId,
}

/// `PUT /people/{user}/role`: 200; 404 `role_not_found`; 422
/// `role_scope_mismatch`; 409 `last_owner`.
#[utoipa::path(
    put, path = "/api/v1/orgs/{org}/people/{user}/role", tag = "people", operation_id = "assign_person_role",
    summary = "Assign a user's organization role",
    params(OrgPath, UserPath),
    request_body = RoleBody,
    responses(
        (status = 200, description = "Assigned", body = Committed<RoleAssigned>),
        (status = 403, description = "`role_escalation`: the role grants what the caller lacks (with fields role and missing)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`role_not_found`, `user_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`last_owner`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`role_scope_mismatch`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn assign_role(
    State(state): State<AppState>,
    Path(UserPath { user, .. }): Path<UserPath>,
    caller: Caller,
    Json(body): Json<RoleBody>,
) -> ApiResult<Response> {
    let (user, role) = state
        .resolve(caller.org, move |s| {
            Ok::<_, Problem>((
                resolve::user(s, &user)?,
                resolve::role(s, &body.role, Scope::Organization)?,
            ))
        })
        .await?;
    let command = Command::AssignOrgRole {
        subject: Subject::User(user),
        role,
    };
    state
        .command(&caller, command, StatusCode::OK, move |_| RoleAssigned {
            user_id: user,
            role_id: role,
        })
        .await
}

/// A user whose direct organization role was retracted.
#[derive(Serialize, ToSchema)]
pub struct RoleRetracted {
    #[schema(value_type = String, format = Uuid)]
    user_id: UserId,
}

/// `DELETE /people/{user}/role`: 200; 409 `not_directly_assigned`.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org}/people/{user}/role", tag = "people", operation_id = "retract_person_role",
    summary = "Retract a user's direct organization role",
    params(OrgPath, UserPath),
    responses(
        (status = 200, description = "Retracted", body = Committed<RoleRetracted>),
        (status = 404, description = "`user_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`not_directly_assigned` (with field sources), `last_owner`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn retract_role(
    State(state): State<AppState>,
    Path(UserPath { user, .. }): Path<UserPath>,
    caller: Caller,
) -> ApiResult<Response> {
    let user = state
        .resolve(caller.org, move |s| resolve::user(s, &user))
        .await?;
    let command = Command::RetractOrgRole {
        subject: Subject::User(user),
    };
    state
        .command(&caller, command, StatusCode::OK, move |_| RoleRetracted {
            user_id: user,
        })
        .await
}

/// A new temporary password, shown once.
#[derive(Serialize, ToSchema)]
pub struct PasswordReset {
    temporary_password: String,
}

/// `POST /people/{user}/password-reset`: 201 `{temporary_password}`.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/people/{user}/password-reset", tag = "people", operation_id = "reset_password",
    summary = "Issue a new temporary password (the user's tokens die)",
    params(OrgPath, UserPath),
    responses(
        (status = 201, description = "The temporary password, shown once", body = Committed<PasswordReset>),
        (status = 404, description = "`user_not_found`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn reset_password(
    State(state): State<AppState>,
    Path(UserPath { user, .. }): Path<UserPath>,
    caller: Caller,
) -> ApiResult<Response> {
    let user = state
        .resolve(caller.org, move |s| resolve::user(s, &user))
        .await?;
    let answer: Renderer<String> = Box::new(|password| {
        Answer::json(
            StatusCode::CREATED.as_u16(),
            &PasswordReset {
                temporary_password: password.clone(),
            },
        )
    });
    let (_, outcome) = state
        .service
        .reset_password(caller.org, user, &caller.context(), Some(answer))
        .await?;
    state.forget_tokens_of(user);
    Ok(answered(&outcome))
}

/// `GET /people/{user}/permissions`'s query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PermissionsQuery {
    /// Include the permissions on this project (id or name).
    project: Option<String>,
    /// Answer once the read side has reached this position.
    at_least: Option<u64>,
}

/// One permission a user holds, with every source of it.
#[derive(Serialize, ToSchema)]
pub struct GrantedPermission {
    #[schema(example = "organization.people.view")]
    permission: &'static str,
    sources: Vec<Source>,
}

/// A user's permissions (at most the catalog's 68: not paged).
#[derive(Serialize, ToSchema)]
pub struct Permissions {
    permissions: Vec<GrantedPermission>,
}

/// `GET /people/{user}/permissions`: each permission with its sources. One's
/// own always; others' with `organization.people.view`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/people/{user}/permissions", tag = "people", operation_id = "person_permissions",
    summary = "A user's permissions with their sources",
    params(OrgPath, UserPath, PermissionsQuery),
    responses(
        (status = 200, description = "Every permission held, with its sources", body = Permissions),
        (status = 404, description = "`user_not_found`, `project_not_found`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn permissions(
    State(state): State<AppState>,
    Path(UserPath { user, .. }): Path<UserPath>,
    Query(query): Query<PermissionsQuery>,
    caller: Caller,
) -> ApiResult<Json<Permissions>> {
    state.consistent(&caller, query.at_least).await?;
    let model = state.model.read();
    let o = model
        .org(caller.org)
        .ok_or_else(|| Problem::not_found("user_not_found", "no such user"))?;
    let user = resolve::user(&o.state, &user)?;
    if user != caller.user && !o.check(caller.user, known::ORGANIZATION_PEOPLE_VIEW, None) {
        return Err(Problem::forbidden("organization.people.view"));
    }
    let project = query
        .project
        .as_deref()
        .map(|p| resolve::project(&o.state, p))
        .transpose()?;
    let granted = o.permissions_of(user, project);
    Ok(Json(Permissions {
        permissions: granted
            .iter()
            .map(|g| GrantedPermission {
                permission: g.permission.name(),
                sources: Source::all(&o.state, &g.sources),
            })
            .collect(),
    }))
}
