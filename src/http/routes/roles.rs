//! Roles and the permission catalog.
//!
//! Reading them (`GET /permissions`, `GET /roles`) needs a valid token of the
//! organization and nothing more: every member sees which roles exist and
//! what they grant, as Semaphore shows roles to everyone who can be given
//! one. Creating, changing and deleting custom roles needs
//! `organization.custom_roles.manage` (checked by the command).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use domain::commands::RoleSpec;
use domain::ids::RoleId;
use domain::permissions::{Permission, Scope, CATALOG};
use domain::roles::Role;
use domain::{Command, Organization};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{committed, committed_empty, role_ref};
use crate::http::auth::{Bearer, Origin};
use crate::http::problem::{ApiResult, Problem};
use crate::http::resolve;
use crate::http::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeQuery {
    scope: Option<String>,
    at_least: Option<u64>,
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

/// `GET /permissions`: the catalog `[{name, scope, description}]`.
pub async fn permissions(
    State(state): State<AppState>,
    Path(org): Path<String>,
    Query(q): Query<ScopeQuery>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Json<Value>> {
    state.caller(&org, &bearer, origin).await?;
    let scope = scope(q.scope.as_deref())?;
    let list: Vec<Value> = CATALOG
        .iter()
        .filter(|p| scope.is_none_or(|s| p.scope == s))
        .map(|p| json!({"name": p.name, "scope": p.scope, "description": p.description}))
        .collect();
    Ok(Json(Value::Array(list)))
}

/// A role as the API writes it: `permissions` are the ones named on the
/// role itself, `effective_permissions` include what it inherits.
fn role_json(s: &Organization, r: &Role) -> Value {
    let names = |set: domain::permissions::PermissionSet| -> Vec<&'static str> {
        set.iter().map(Permission::name).collect()
    };
    json!({
        "role_id": r.id,
        "name": r.name,
        "scope": r.scope,
        "description": r.description,
        "predefined": r.predefined,
        "permissions": names(r.permissions),
        "effective_permissions": names(s.role_permissions(r.id)),
        "inherits": r.inherits.iter().map(|i| role_ref(s, *i)).collect::<Vec<_>>(),
        "project_role": r.project_role.map(|p| role_ref(s, p)),
    })
}

/// `GET /roles`: `[{role_id, name, scope, predefined, permissions, ...}]`,
/// organization roles first, predefined (in RBAC.md's order) before custom
/// (by name).
pub async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    Query(q): Query<ScopeQuery>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Json<Value>> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let scope = scope(q.scope.as_deref())?;
    state.consistent(q.at_least).await?;
    let model = state.model.read();
    let Some(o) = model.org(caller.org) else {
        return Ok(Json(json!([])));
    };
    let s = &o.state;
    let mut roles: Vec<&Role> = s
        .roles
        .values()
        .filter(|r| scope.is_none_or(|sc| r.scope == sc))
        .collect();
    // Predefined roles keep RBAC.md's order (their fixed ids follow it).
    roles.sort_by(|a, b| {
        (a.scope, !a.predefined)
            .cmp(&(b.scope, !b.predefined))
            .then_with(|| {
                if a.predefined && b.predefined {
                    a.id.cmp(&b.id)
                } else {
                    a.name.to_lowercase().cmp(&b.name.to_lowercase())
                }
            })
    });
    Ok(Json(Value::Array(
        roles.into_iter().map(|r| role_json(s, r)).collect(),
    )))
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    name: String,
    scope: Scope,
    #[serde(default)]
    description: String,
    #[serde(default)]
    permissions: Vec<String>,
    /// Roles of the same scope whose permissions this one also grants.
    #[serde(default)]
    inherits: Vec<String>,
    /// For organization roles: the project role granted on every project.
    project_role: Option<String>,
}

impl RoleBody {
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

async fn answer(
    state: &AppState,
    org: domain::ids::OrgId,
    role: RoleId,
    status: StatusCode,
    position: u64,
) -> ApiResult<Response> {
    let body = state
        .service
        .read(org, move |s| s.roles.get(&role).map(|r| role_json(s, r)))
        .await?
        .unwrap_or_else(|| json!({"role_id": role}));
    Ok(committed(status, position, body))
}

/// `POST /roles`: 201 with the custom role; 422 `unknown_permission`,
/// `role_scope_mismatch`; 409 `role_name_taken`.
pub async fn create(
    State(state): State<AppState>,
    Path(org): Path<String>,
    bearer: Bearer,
    origin: Origin,
    Json(body): Json<RoleBody>,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let spec = state
        .resolve(caller.org, move |s| body.clone().spec(s))
        .await?;
    let role_id = RoleId::new();
    let outcome = state
        .service
        .execute(
            caller.org,
            Command::CreateRole { role_id, spec },
            &caller.context(),
        )
        .await?;
    answer(
        &state,
        caller.org,
        role_id,
        StatusCode::CREATED,
        outcome.position,
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRefQuery {
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
pub async fn change(
    State(state): State<AppState>,
    Path((org, role)): Path<(String, String)>,
    Query(q): Query<RoleRefQuery>,
    bearer: Bearer,
    origin: Origin,
    Json(body): Json<RoleBody>,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let role = role_of(&state, caller.org, role, &q).await?;
    let spec = state
        .resolve(caller.org, move |s| body.clone().spec(s))
        .await?;
    let outcome = state
        .service
        .execute(
            caller.org,
            Command::ChangeRole { role, spec },
            &caller.context(),
        )
        .await?;
    answer(&state, caller.org, role, StatusCode::OK, outcome.position).await
}

/// `DELETE /roles/{role}`: 204; 409 `role_is_predefined`, `role_in_use`
/// (+ `uses`).
pub async fn delete(
    State(state): State<AppState>,
    Path((org, role)): Path<(String, String)>,
    Query(q): Query<RoleRefQuery>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let role = role_of(&state, caller.org, role, &q).await?;
    let outcome = state
        .service
        .execute(caller.org, Command::DeleteRole { role }, &caller.context())
        .await?;
    Ok(committed_empty(outcome.position))
}
