//! Roles and the permission catalog.
//!
//! Reading them (`GET /permissions`, `GET /roles`) needs a valid token of the
//! organization and nothing more: every member sees which roles exist and
//! what they grant, as Semaphore shows roles to everyone who can be given
//! one. Creating, changing and deleting custom roles needs
//! `organization.custom_roles.manage` (checked by the command).

use crate::http::json::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use domain::commands::RoleSpec;
use domain::ids::RoleId;
use domain::permissions::{Permission, Scope, CATALOG};
use domain::roles::Role;
use domain::{Command, Organization};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::http::answers::{Committed, RoleRef};
use crate::http::auth::Caller;
use crate::http::paging;
use crate::http::params::{OrgPath, RolePath};
use crate::http::problem::{ApiResult, Problem, ProblemBody};
use crate::http::resolve;
use crate::http::state::AppState;

/// `GET /permissions`'s query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ScopeQuery {
    /// `organization` or `project` (422 `invalid_scope`).
    scope: Option<String>,
    /// Answer once the read side has reached this position.
    at_least: Option<u64>,
}

/// `GET /roles`'s query: a scope, and paging when asked for.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RolesQuery {
    /// `organization` or `project` (422 `invalid_scope`).
    scope: Option<String>,
    /// Answer once the read side has reached this position.
    at_least: Option<u64>,
    /// Roles per page, 1 to 1000. Without `limit` or `cursor`, every role.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The `Rolebook-Next-Cursor` header of the previous page.
    cursor: Option<String>,
}

/// `scope=organization|project`, or 422 `invalid_scope`.
fn scope(s: Option<&str>) -> ApiResult<Option<Scope>> {
    s.map(|s| {
        Scope::parse(s).ok_or_else(|| {
            Problem::invalid(
                "scope",
                "invalid_scope",
                format!("scope {s:?}: expected organization or project"),
            )
        })
    })
    .transpose()
}

/// A permission of the catalog.
#[derive(Serialize, ToSchema)]
pub struct CatalogEntry {
    #[schema(example = "organization.people.view")]
    name: &'static str,
    /// `organization` or `project`.
    #[schema(value_type = String, example = "organization")]
    scope: Scope,
    description: &'static str,
}

/// `GET /permissions`: the catalog `[{name, scope, description}]` (fixed
/// by the code, 68 entries: not paged).
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/permissions", tag = "roles", operation_id = "permission_catalog",
    summary = "The permission catalog",
    params(OrgPath, ScopeQuery),
    responses(
        (status = 200, description = "Every permission of the scope", body = Vec<CatalogEntry>),
        (status = 422, description = "`invalid_scope`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn permissions(
    State(state): State<AppState>,
    Query(q): Query<ScopeQuery>,
    caller: Caller,
) -> ApiResult<Json<Vec<CatalogEntry>>> {
    let scope = scope(q.scope.as_deref())?;
    state.consistent(&caller, q.at_least).await?;
    Ok(Json(
        CATALOG
            .iter()
            .filter(|p| scope.is_none_or(|s| p.scope == s))
            .map(|p| CatalogEntry {
                name: p.name,
                scope: p.scope,
                description: p.description,
            })
            .collect(),
    ))
}

/// A role as the API writes it: `permissions` are the ones named on the
/// role itself, `effective_permissions` include what it inherits.
#[derive(Serialize, ToSchema)]
pub struct RoleItem {
    #[schema(value_type = String, format = Uuid)]
    role_id: RoleId,
    name: String,
    /// `organization` or `project`.
    #[schema(value_type = String, example = "organization")]
    scope: Scope,
    description: String,
    predefined: bool,
    permissions: Vec<&'static str>,
    effective_permissions: Vec<&'static str>,
    /// Roles of the same scope whose permissions this one also grants.
    inherits: Vec<RoleRef>,
    /// For organization roles: the project role granted on every project.
    project_role: Option<RoleRef>,
}

impl RoleItem {
    fn of(s: &Organization, r: &Role) -> RoleItem {
        let names = |set: domain::permissions::PermissionSet| -> Vec<&'static str> {
            set.iter().map(Permission::name).collect()
        };
        RoleItem {
            role_id: r.id,
            name: r.name.clone(),
            scope: r.scope,
            description: r.description.clone(),
            predefined: r.predefined,
            permissions: names(r.permissions),
            effective_permissions: names(s.role_permissions(r.id)),
            inherits: r.inherits.iter().map(|i| RoleRef::of(s, *i)).collect(),
            project_role: r.project_role.map(|p| RoleRef::of(s, p)),
        }
    }
}

/// The order of `GET /roles` as a keyset key: organization roles first,
/// predefined (in RBAC.md's order: their fixed ids follow it) before
/// custom (by name).
fn role_key(r: &&Role) -> String {
    let scope = u8::from(r.scope != Scope::Organization);
    let custom = u8::from(!r.predefined);
    let rank = if r.predefined {
        r.id.to_string()
    } else {
        r.name.to_lowercase()
    };
    format!("{scope}{custom}\u{0}{rank}\u{0}{}", r.id)
}

/// `GET /roles/{role}`'s query: the scope a role name is looked up in.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RoleQuery {
    /// `organization` (default) or `project`: where a name is looked up.
    scope: Option<String>,
    /// Answer once the read side has reached this position.
    at_least: Option<u64>,
}

/// `GET /roles/{role}`: one role (by id, or by name in `scope`), as `GET
/// /roles` lists it; 404 `role_not_found`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/roles/{role}", tag = "roles", operation_id = "get_role",
    summary = "One role",
    params(OrgPath, RolePath, RoleQuery),
    responses(
        (status = 200, description = "The role", body = RoleItem),
        (status = 404, description = "`role_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_scope`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Path(RolePath { role }): Path<RolePath>,
    Query(q): Query<RoleQuery>,
    caller: Caller,
) -> ApiResult<Json<RoleItem>> {
    let scope = scope(q.scope.as_deref())?.unwrap_or(Scope::Organization);
    state.consistent(&caller, q.at_least).await?;
    state
        .read_model(caller.org, move |s| {
            let id = resolve::role(s, &role, scope)?;
            Ok(RoleItem::of(s, &s.roles[&id]))
        })
        .map(Json)
}

/// `GET /roles`: `[{role_id, name, scope, predefined, permissions, ...}]`,
/// organization roles first, predefined (in RBAC.md's order) before custom
/// (by name). A bare array as API.md writes it: paged only when `limit` or
/// `cursor` is given, the next cursor in headers.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/roles", tag = "roles", operation_id = "list_roles",
    summary = "List roles (paged on request: next cursor in headers)",
    params(OrgPath, RolesQuery),
    responses(
        (status = 200, description = "The roles, or one page of them", body = Vec<RoleItem>,
            headers(
                ("Rolebook-Next-Cursor" = String, description = "The cursor of the next page (paged requests only; absent on the last page)"),
                ("Link" = String, description = "`<url>; rel=\"next\"`: the next page (paged requests only; absent on the last page)"),
            )),
        (status = 400, description = "`invalid_cursor`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_scope`, `invalid_limit`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<RolesQuery>,
    uri: Uri,
    caller: Caller,
) -> ApiResult<(HeaderMap, Json<Vec<RoleItem>>)> {
    let scope = scope(q.scope.as_deref())?;
    state.consistent(&caller, q.at_least).await?;
    let model = state.model.read();
    let Some(o) = model.org(caller.org) else {
        return Ok((HeaderMap::new(), Json(vec![])));
    };
    let s = &o.state;
    let mut roles: Vec<&Role> = s
        .roles
        .values()
        .filter(|r| scope.is_none_or(|sc| r.scope == sc))
        .collect();
    roles.sort_by_key(role_key);
    let (roles, next) = paging::page_if_asked(roles, role_key, q.limit, q.cursor.as_deref())?;
    Ok((
        paging::next_page_headers(&uri, next.as_deref()),
        Json(roles.into_iter().map(|r| RoleItem::of(s, r)).collect()),
    ))
}

/// A custom role's definition (`POST /roles`, `PUT /roles/{role}`).
#[derive(Deserialize, Clone, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleDefinition {
    name: String,
    /// `organization` or `project` (kept by `PUT`).
    #[schema(value_type = String, example = "project")]
    scope: Scope,
    #[serde(default)]
    description: String,
    /// Permission names of the catalog.
    #[serde(default)]
    permissions: Vec<String>,
    /// Roles of the same scope whose permissions this one also grants.
    #[serde(default)]
    inherits: Vec<String>,
    /// For organization roles: the project role granted on every project.
    project_role: Option<String>,
}

impl RoleDefinition {
    fn spec(self, s: &Organization) -> ApiResult<RoleSpec> {
        let inherits = self
            .inherits
            .iter()
            .map(|r| resolve::role(s, r, self.scope))
            .collect::<ApiResult<Vec<RoleId>>>()?;
        let project_role = self
            .project_role
            .as_deref()
            .map(|r| resolve::role(s, r, Scope::Project))
            .transpose()?;
        Ok(RoleSpec {
            name: self.name,
            scope: self.scope,
            description: self.description,
            permissions: self.permissions,
            inherits,
            project_role,
        })
    }
}

/// Runs a command about `role` and answers `status` with the role as the
/// command left it (or only its id if it is gone) and the position.
async fn role_command(
    state: &AppState,
    caller: &Caller,
    command: Command,
    role: RoleId,
    status: StatusCode,
) -> ApiResult<Response> {
    state
        .command(caller, command, status, move |s| {
            s.roles
                .get(&role)
                .map(|r| json!(RoleItem::of(s, r)))
                .unwrap_or_else(|| json!({"role_id": role}))
        })
        .await
}

/// `POST /roles`: 201 with the custom role; 422 `unknown_permission`,
/// `role_scope_mismatch`; 409 `role_name_taken`.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/roles", tag = "roles", operation_id = "create_role",
    summary = "Create a custom role",
    params(OrgPath),
    request_body = RoleDefinition,
    responses(
        (status = 201, description = "The custom role", body = Committed<RoleItem>),
        (status = 404, description = "`role_not_found` (inherits, project_role)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`role_name_taken`, `role_inheritance_cycle`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_permission`, `role_scope_mismatch`, `invalid_name`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<RoleDefinition>,
) -> ApiResult<Response> {
    let spec = state
        .resolve(caller.org, move |s| body.clone().spec(s))
        .await?;
    let role_id = RoleId::new();
    let command = Command::CreateRole { role_id, spec };
    role_command(&state, &caller, command, role_id, StatusCode::CREATED).await
}

/// How `{role}` is read when it is a name.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RoleRefQuery {
    /// The scope of a role named by name: `organization` (default) or
    /// `project`.
    scope: Option<String>,
}

/// `{role}` by id, or by name in `?scope=` (organization by default).
async fn role_of(
    state: &AppState,
    org: domain::ids::OrgId,
    role: String,
    q: &RoleRefQuery,
) -> ApiResult<RoleId> {
    let scope = scope(q.scope.as_deref())?.unwrap_or(Scope::Organization);
    state
        .service
        .read(org, move |s| resolve::role(s, &role, scope))
        .await?
}

/// `PUT /roles/{role}`: replaces a custom role's definition (its scope
/// stays); 200; 409 `role_is_predefined`.
#[utoipa::path(
    put, path = "/api/v1/orgs/{org}/roles/{role}", tag = "roles", operation_id = "change_role",
    summary = "Change a custom role",
    params(OrgPath, RolePath, RoleRefQuery),
    request_body = RoleDefinition,
    responses(
        (status = 200, description = "The custom role", body = Committed<RoleItem>),
        (status = 404, description = "`role_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`role_is_predefined`, `role_name_taken`, `role_inheritance_cycle`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_permission`, `role_scope_mismatch`, `invalid_scope`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn change(
    State(state): State<AppState>,
    Path(RolePath { role, .. }): Path<RolePath>,
    Query(q): Query<RoleRefQuery>,
    caller: Caller,
    Json(body): Json<RoleDefinition>,
) -> ApiResult<Response> {
    let role = role_of(&state, caller.org, role, &q).await?;
    let spec = state
        .resolve(caller.org, move |s| body.clone().spec(s))
        .await?;
    let command = Command::ChangeRole { role, spec };
    role_command(&state, &caller, command, role, StatusCode::OK).await
}

/// `DELETE /roles/{role}`: 204; 409 `role_is_predefined`, `role_in_use`
/// (with field uses).
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org}/roles/{role}", tag = "roles", operation_id = "delete_role",
    summary = "Delete a custom role",
    params(OrgPath, RolePath, RoleRefQuery),
    responses(
        (status = 204, description = "Deleted; `Rolebook-Position` header"),
        (status = 404, description = "`role_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`role_is_predefined`, `role_in_use` (with field uses)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_scope`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Path(RolePath { role, .. }): Path<RolePath>,
    Query(q): Query<RoleRefQuery>,
    caller: Caller,
) -> ApiResult<Response> {
    let role = role_of(&state, caller.org, role, &q).await?;
    state
        .command_empty(&caller, Command::DeleteRole { role })
        .await
}
