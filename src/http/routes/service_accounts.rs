//! Service accounts: identities for scripts and CI, with a token instead of
//! a password. List and read need `organization.service_accounts.view`;
//! every change needs `organization.service_accounts.manage` (the command
//! checks it). A service account holds roles and project bindings like a
//! person (its organization role through `PUT /people/{user}/role`), never
//! repository access, and cannot log in with a password. Its token is
//! shown once, stored hashed; regenerating it revokes the old one at once,
//! and so do deactivation and removal.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use commands::credentials::{CredentialChange, TokenKind};
use commands::service::With;
use domain::ids::{OrgId, TokenId, UserId};
use domain::permissions::{known, Scope};
use domain::state::{User, UserKind};
use domain::{Command, Organization};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{AtLeast, Paged, Reactivation};
use crate::http::answers::{Committed, GroupRef, RoleRef};
use crate::http::auth::Caller;
use crate::http::command::render;
use crate::http::json::Json;
use crate::http::params::OrgPath;
use crate::http::problem::{ApiResult, Problem, ProblemBody};
use crate::http::resolve;
use crate::http::state::AppState;

/// `.../service-accounts/{service_account}...`
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ServiceAccountPath {
    /// The service account's id or name.
    pub service_account: String,
}

/// One of a service account's live tokens (never its secret).
#[derive(Serialize, ToSchema)]
pub struct TokenItem {
    #[schema(value_type = String, format = Uuid)]
    id: TokenId,
    /// Null: it never expires.
    expires_at: Option<DateTime<Utc>>,
}

/// A service account as the API writes it.
#[derive(Serialize, ToSchema)]
pub struct ServiceAccountItem {
    #[schema(value_type = String, format = Uuid)]
    user_id: UserId,
    name: String,
    description: String,
    /// Always `service_account`.
    #[schema(value_type = String, example = "service_account")]
    kind: UserKind,
    /// Its direct organization role, if any (none while deactivated).
    role: Option<RoleRef>,
    groups: Vec<GroupRef>,
    /// `active` or `deactivated`.
    #[schema(example = "active")]
    status: &'static str,
    tokens: Vec<TokenItem>,
}

impl ServiceAccountItem {
    fn of(s: &Organization, u: &User) -> ServiceAccountItem {
        let tokens: Vec<TokenItem> = s
            .tokens_of(u.id)
            .map(|t| TokenItem {
                id: t.id,
                expires_at: t.expires_at,
            })
            .collect();
        ServiceAccountItem {
            user_id: u.id,
            name: u.username.clone(),
            description: u.description.clone(),
            kind: u.kind,
            role: s.org_roles.get(&u.id).map(|r| RoleRef::of(s, *r)),
            groups: s
                .groups_of(u.id)
                .iter()
                .map(|g| GroupRef::of(s, *g))
                .collect(),
            status: if u.active { "active" } else { "deactivated" },
            tokens,
        }
    }

    /// The service account `id` as `s` holds it (after a command: still
    /// there unless it was removed).
    fn in_state(s: &Organization, id: UserId) -> Option<ServiceAccountItem> {
        s.users.get(&id).map(|u| ServiceAccountItem::of(s, u))
    }
}

/// A page of service accounts, by name.
#[derive(Serialize, ToSchema)]
pub struct ServiceAccountsPage {
    service_accounts: Vec<ServiceAccountItem>,
    /// The cursor of the next page; null at the end.
    next_cursor: Option<String>,
}

/// The service account a path names: 404 `service_account_not_found` for
/// an unknown one or a person.
fn find(s: &Organization, r: &str) -> ApiResult<UserId> {
    resolve::user(s, r)
        .ok()
        .filter(|id| s.users[id].kind == UserKind::ServiceAccount)
        .ok_or_else(|| {
            Problem::not_found(
                "service_account_not_found",
                format!("service account {r} not found"),
            )
        })
}

/// `GET /service-accounts`: a page of service accounts, by name.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/service-accounts", tag = "service accounts", operation_id = "list_service_accounts",
    summary = "List service accounts (paged, by name)",
    params(OrgPath, Paged),
    responses(
        (status = 200, description = "A page of service accounts", body = ServiceAccountsPage),
        (status = 400, description = "`invalid_cursor`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs organization.service_accounts.view", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_limit`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<Paged>,
    caller: Caller,
) -> ApiResult<Json<ServiceAccountsPage>> {
    state.consistent(&caller, q.at_least).await?;
    state.require(&caller, known::ORGANIZATION_SERVICE_ACCOUNTS_VIEW)?;
    state
        .read_model(caller.org, |s| {
            let key = |u: &&User| format!("{}\u{0}{}", u.username.to_lowercase(), u.id);
            let accounts = s
                .users
                .values()
                .filter(|u| u.kind == UserKind::ServiceAccount);
            let (accounts, next_cursor) =
                crate::http::paging::smallest(accounts, key, q.limit, q.cursor.as_deref())?;
            Ok(ServiceAccountsPage {
                service_accounts: accounts
                    .iter()
                    .map(|u| ServiceAccountItem::of(s, u))
                    .collect(),
                next_cursor,
            })
        })
        .map(Json)
}

/// `GET /service-accounts/{service_account}`: one service account.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/service-accounts/{service_account}", tag = "service accounts", operation_id = "get_service_account",
    summary = "One service account",
    params(OrgPath, ServiceAccountPath, AtLeast),
    responses(
        (status = 200, description = "The service account", body = ServiceAccountItem),
        (status = 404, description = "`service_account_not_found`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Path(ServiceAccountPath { service_account }): Path<ServiceAccountPath>,
    Query(q): Query<AtLeast>,
    caller: Caller,
) -> ApiResult<Json<ServiceAccountItem>> {
    state.consistent(&caller, q.at_least).await?;
    state.require(&caller, known::ORGANIZATION_SERVICE_ACCOUNTS_VIEW)?;
    state
        .read_model(caller.org, |s| {
            let id = find(s, &service_account)?;
            Ok(ServiceAccountItem::of(s, &s.users[&id]))
        })
        .map(Json)
}

/// `POST /service-accounts`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewServiceAccount {
    /// Unique among the organization's usernames.
    #[schema(example = "deployer")]
    name: String,
    #[serde(default)]
    description: String,
    /// Its organization role (id or name); `Member` when absent.
    role: Option<String>,
    /// When its token stops working (in the future); never when absent.
    token_expires_at: Option<DateTime<Utc>>,
}

/// A service account with its token's secret, shown once.
#[derive(Serialize, ToSchema)]
pub struct WithToken {
    service_account: ServiceAccountItem,
    /// The bearer token (256 random bits): shown once, stored hashed.
    token: String,
}

/// A new token of a service account, its secret shown once.
#[derive(Serialize, ToSchema)]
pub struct RegeneratedToken {
    #[schema(value_type = String, format = Uuid)]
    id: TokenId,
    token: String,
}

/// The credentials change that stores a new token's hash, and its secret.
fn new_token(
    org: OrgId,
    user: UserId,
    token_id: TokenId,
    expires_at: Option<DateTime<Utc>>,
) -> (CredentialChange, String) {
    let token = commands::secrets::new_token();
    let stored = CredentialChange::AddToken {
        org,
        user,
        token_id,
        kind: TokenKind::ServiceAccount,
        token_hash: hex::encode(commands::secrets::token_hash(&token)),
        expires_at,
    };
    (stored, token)
}

fn refuse_past(expires_at: Option<DateTime<Utc>>, field: &str) -> ApiResult<()> {
    if expires_at.is_some_and(|e| e <= Utc::now()) {
        return Err(Problem::invalid(
            field,
            "in_the_past",
            format!("{field} must be in the future"),
        ));
    }
    Ok(())
}

/// `POST /service-accounts`: 201 with the service account and its token
/// (shown once); 409 `username_taken`.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/service-accounts", tag = "service accounts", operation_id = "create_service_account",
    summary = "Create a service account and its token (shown once)",
    params(OrgPath),
    request_body = NewServiceAccount,
    responses(
        (status = 201, description = "The service account and its token", body = Committed<WithToken>),
        (status = 403, description = "`forbidden`, `role_escalation`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`role_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`username_taken`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_username`, `in_the_past`, `role_scope_mismatch`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewServiceAccount>,
) -> ApiResult<Response> {
    refuse_past(body.token_expires_at, "token_expires_at")?;
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
    let (user_id, token_id) = (UserId::new(), TokenId::new());
    let (stored, token) = new_token(caller.org, user_id, token_id, body.token_expires_at);
    let command = Command::CreateServiceAccount {
        user_id,
        name: body.name,
        description: body.description,
        role,
        token: Some((token_id, body.token_expires_at)),
    };
    let with = With {
        render: Some(render(StatusCode::CREATED, move |s| WithToken {
            service_account: ServiceAccountItem::of(s, &s.users[&user_id]),
            token: token.clone(),
        })),
        effects: vec![stored],
    };
    state.command_with(&caller, command, with).await
}

/// `PATCH /service-accounts/{service_account}`'s body: what changes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountChange {
    name: Option<String>,
    description: Option<String>,
}

/// Resolves the path's service account (against the write side if the
/// read side does not know it yet).
async fn resolve_path(state: &AppState, org: OrgId, r: String) -> ApiResult<UserId> {
    state.resolve(org, move |s| find(s, &r)).await
}

/// Runs a command about a service account and answers 200 with it as the
/// command left it.
async fn account_command(
    state: &AppState,
    caller: &Caller,
    command: Command,
    id: UserId,
) -> ApiResult<Response> {
    state
        .command(caller, command, StatusCode::OK, move |s| {
            ServiceAccountItem::in_state(s, id)
        })
        .await
}

/// `PATCH /service-accounts/{service_account}`: renames it or describes it
/// anew; 200 with it; 409 `username_taken`.
#[utoipa::path(
    patch, path = "/api/v1/orgs/{org}/service-accounts/{service_account}", tag = "service accounts", operation_id = "change_service_account",
    summary = "Rename or describe a service account",
    params(OrgPath, ServiceAccountPath),
    request_body = ServiceAccountChange,
    responses(
        (status = 200, description = "The service account", body = Committed<ServiceAccountItem>),
        (status = 404, description = "`service_account_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`username_taken`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_username`, `too_long`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn change(
    State(state): State<AppState>,
    Path(ServiceAccountPath { service_account }): Path<ServiceAccountPath>,
    caller: Caller,
    Json(body): Json<ServiceAccountChange>,
) -> ApiResult<Response> {
    let id = resolve_path(&state, caller.org, service_account).await?;
    let command = Command::ChangeServiceAccount {
        service_account: id,
        name: body.name,
        description: body.description,
    };
    account_command(&state, &caller, command, id).await
}

/// `DELETE /service-accounts/{service_account}`: 204; its tokens die at
/// once; 409 `user_owns_projects`, `last_owner`.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org}/service-accounts/{service_account}", tag = "service accounts", operation_id = "remove_service_account",
    summary = "Remove a service account (its tokens die at once)",
    params(OrgPath, ServiceAccountPath),
    responses(
        (status = 204, description = "Removed; `Rolebook-Position` header"),
        (status = 404, description = "`service_account_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`user_owns_projects` (with field projects), `last_owner`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    Path(ServiceAccountPath { service_account }): Path<ServiceAccountPath>,
    caller: Caller,
) -> ApiResult<Response> {
    let id = resolve_path(&state, caller.org, service_account).await?;
    let command = Command::RemoveServiceAccount {
        service_account: id,
    };
    state.command_empty(&caller, command).await
}

/// `POST /service-accounts/{service_account}/deactivate`: 200 with it;
/// every role goes, its tokens die at once; 409 `last_owner`.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/service-accounts/{service_account}/deactivate", tag = "service accounts", operation_id = "deactivate_service_account",
    summary = "Deactivate a service account (roles retracted, tokens revoked)",
    params(OrgPath, ServiceAccountPath),
    responses(
        (status = 200, description = "The service account", body = Committed<ServiceAccountItem>),
        (status = 404, description = "`service_account_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`last_owner`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn deactivate(
    State(state): State<AppState>,
    Path(ServiceAccountPath { service_account }): Path<ServiceAccountPath>,
    caller: Caller,
) -> ApiResult<Response> {
    let id = resolve_path(&state, caller.org, service_account).await?;
    account_command(&state, &caller, Command::DeactivateUser { user: id }, id).await
}

/// `POST /service-accounts/{service_account}/reactivate`: 200 with it,
/// holding `role` (default `Member`); it needs a new token
/// (`/regenerate-token`).
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/service-accounts/{service_account}/reactivate", tag = "service accounts", operation_id = "reactivate_service_account",
    summary = "Reactivate a service account with an organization role",
    params(OrgPath, ServiceAccountPath),
    request_body(content = Option<Reactivation>, description = "Optional"),
    responses(
        (status = 200, description = "The service account", body = Committed<ServiceAccountItem>),
        (status = 403, description = "`forbidden`, `role_escalation`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`service_account_not_found`, `role_not_found`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn reactivate(
    State(state): State<AppState>,
    Path(ServiceAccountPath { service_account }): Path<ServiceAccountPath>,
    caller: Caller,
    body: Option<Json<Reactivation>>,
) -> ApiResult<Response> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let (id, role) = state
        .resolve(caller.org, move |s| {
            Ok((find(s, &service_account)?, body.role_in(s)?))
        })
        .await?;
    let command = Command::ReactivateUser { user: id, role };
    account_command(&state, &caller, command, id).await
}

/// `POST /service-accounts/{service_account}/regenerate-token`'s body.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Regeneration {
    /// When the new token stops working (in the future); never when absent.
    expires_at: Option<DateTime<Utc>>,
}

/// `POST /service-accounts/{service_account}/regenerate-token`: 201 with
/// the new token (shown once); every older token is revoked at once; 409
/// `user_deactivated`.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/service-accounts/{service_account}/regenerate-token", tag = "service accounts", operation_id = "regenerate_service_account_token",
    summary = "Replace a service account's tokens with a new one (shown once)",
    params(OrgPath, ServiceAccountPath),
    request_body(content = Option<Regeneration>, description = "Optional"),
    responses(
        (status = 201, description = "The new token, shown once", body = Committed<RegeneratedToken>),
        (status = 404, description = "`service_account_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`user_deactivated`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`in_the_past`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn regenerate_token(
    State(state): State<AppState>,
    Path(ServiceAccountPath { service_account }): Path<ServiceAccountPath>,
    caller: Caller,
    body: Option<Json<Regeneration>>,
) -> ApiResult<Response> {
    let expires_at = body.and_then(|Json(b)| b.expires_at);
    refuse_past(expires_at, "expires_at")?;
    let id = resolve_path(&state, caller.org, service_account).await?;
    let token_id = TokenId::new();
    let (stored, token) = new_token(caller.org, id, token_id, expires_at);
    let command = Command::RegenerateServiceAccountToken {
        service_account: id,
        token_id,
        expires_at,
    };
    let with = With {
        render: Some(render(StatusCode::CREATED, move |_| RegeneratedToken {
            id: token_id,
            token: token.clone(),
        })),
        // Stored after the command's own change, which revokes the older
        // tokens (`commands::service::ends_credentials_of`).
        effects: vec![stored],
    };
    state.command_with(&caller, command, with).await
}
