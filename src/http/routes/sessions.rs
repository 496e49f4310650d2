//! Sessions and API tokens: login (temporary passwords must be changed
//! first), password change, logout, API tokens shown once.

use crate::http::json::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use commands::credentials::{CredentialChange, PasswordCheck, TokenKind};
use commands::service::With;
use commands::CommandContext;
use domain::events::{Actor, Medium};
use domain::ids::{TokenId, UserId};
use domain::Command;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::answers::Committed;
use crate::http::auth::{Caller, Origin};
use crate::http::command::{answered, render, render_empty};
use crate::http::params::{OrgPath, TokenPath};
use crate::http::problem::{ApiResult, Problem, ProblemBody};
use crate::http::state::AppState;

/// How long a session lasts.
const SESSION_HOURS: i64 = 12;

/// `POST /sessions`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// An email or username.
    #[schema(example = "admin@localhost")]
    pub(crate) login: String,
    pub(crate) password: String,
}

/// `POST /sessions/password`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// An email or username.
    #[schema(example = "admin@localhost")]
    pub(crate) login: String,
    /// The temporary or current password.
    pub(crate) current_password: String,
    pub(crate) new_password: String,
}

/// A new session.
#[derive(Serialize, ToSchema)]
pub struct Session {
    /// The bearer token (256 random bits).
    pub(crate) token: String,
    #[schema(value_type = String, format = Uuid)]
    pub(crate) user_id: UserId,
    pub(crate) expires_at: DateTime<Utc>,
}

fn invalid_credentials() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "wrong login or password",
    )
}

/// Finds the user behind a login (email or username) and checks the
/// password; an unknown login costs the same argon2id work as a wrong
/// password, so failures do not reveal which logins exist. A deactivated
/// user who gives the right password is told so (403 `user_deactivated`).
async fn authenticate(
    state: &AppState,
    org: domain::ids::OrgId,
    login: &str,
    password: &str,
) -> ApiResult<(UserId, String, PasswordCheck)> {
    let key = login.to_string();
    let found = state
        .service
        .read(org, move |s| {
            s.user_by_email(&key)
                .or_else(|| s.user_by_username(&key))
                .filter(|u| u.kind == domain::state::UserKind::Person)
                .map(|u| (u.id, u.username.clone(), u.active))
        })
        .await?;
    let Some((user, username, active)) = found else {
        let password = password.to_string();
        let _ =
            tokio::task::spawn_blocking(move || commands::secrets::spend_password_check(&password))
                .await;
        return Err(invalid_credentials());
    };
    let check = state
        .service
        .credentials()
        .check_password(user, password)
        .await
        .map_err(Problem::internal)?;
    if !active && check != PasswordCheck::Invalid {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "user_deactivated",
            format!("{username} is deactivated: an administrator must reactivate them"),
        ));
    }
    Ok((user, username, check))
}

/// When a session opened now ends.
fn session_expiry() -> DateTime<Utc> {
    Utc::now() + Duration::hours(SESSION_HOURS)
}

/// Refuses a password sign-in when the organization has switched
/// passwords off for single sign-on: 403 `password_login_disabled`.
async fn passwords_allowed(state: &AppState, org: domain::ids::OrgId) -> ApiResult<()> {
    // From the write side: switched off is off from the change's commit
    // (a sign-in costs an argon2 hash anyway; this is one read more).
    let off = state
        .service
        .read(org, |s| {
            s.settings
                .sso
                .as_ref()
                .is_some_and(|sso| !sso.password_login)
        })
        .await?;
    if off {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "password_login_disabled",
            "this organization signs people in through its identity provider: use /sso/login",
        ));
    }
    Ok(())
}

/// Opens a session for `user`: its token (shown once, stored hashed) and
/// when it ends.
pub(crate) async fn new_session(
    state: &AppState,
    org: domain::ids::OrgId,
    user: UserId,
) -> ApiResult<(String, DateTime<Utc>)> {
    let expires_at = session_expiry();
    let token = state
        .service
        .credentials()
        .issue_token(
            org,
            user,
            TokenId::new(),
            TokenKind::Session,
            Some(expires_at),
        )
        .await
        .map_err(Problem::internal)?;
    Ok((token, expires_at))
}

/// `POST /sessions`: 201 `{token, user_id, expires_at}`; 401
/// `invalid_credentials`; 403 `password_change_required`; 429.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/sessions", tag = "sessions", operation_id = "login",
    summary = "Log in",
    params(OrgPath),
    request_body = Login,
    security(()),
    responses(
        (status = 201, description = "A session", body = Session),
        (status = 401, description = "`invalid_credentials`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`password_change_required`, `password_login_disabled`, `user_deactivated`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    Path(OrgPath { org }): Path<OrgPath>,
    origin: Origin,
    Json(body): Json<Login>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    let org = state.org(&org).await?;
    passwords_allowed(&state, org).await?;
    state.limiter.attempt(&[
        format!("login:{org}:{}", body.login.to_lowercase()),
        format!("ip:{}", origin.ip.unwrap_or_default()),
    ])?;
    let (user, _, check) = authenticate(&state, org, &body.login, &body.password).await?;
    match check {
        PasswordCheck::Invalid => Err(invalid_credentials()),
        PasswordCheck::MustChange => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "password_change_required",
            "this is a temporary password: set your own with POST /sessions/password",
        )),
        PasswordCheck::Valid => {
            let (token, expires_at) = new_session(&state, org, user).await?;
            Ok((
                StatusCode::CREATED,
                Json(Session {
                    token,
                    user_id: user,
                    expires_at,
                }),
            ))
        }
    }
}

/// `POST /sessions/password`: replaces the (temporary) password and opens a
/// session; 401 `invalid_credentials`; 422 `weak_password`.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/sessions/password", tag = "sessions", operation_id = "change_password",
    summary = "Set one's own password and log in",
    params(OrgPath),
    request_body = PasswordChange,
    security(()),
    responses(
        (status = 201, description = "A session", body = Committed<Session>),
        (status = 401, description = "`invalid_credentials`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`weak_password`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    Path(OrgPath { org }): Path<OrgPath>,
    origin: Origin,
    Json(body): Json<PasswordChange>,
) -> ApiResult<Response> {
    let org = state.org(&org).await?;
    passwords_allowed(&state, org).await?;
    state.limiter.attempt(&[
        format!("login:{org}:{}", body.login.to_lowercase()),
        format!("ip:{}", origin.ip.clone().unwrap_or_default()),
    ])?;
    let (user, username, check) =
        authenticate(&state, org, &body.login, &body.current_password).await?;
    if check == PasswordCheck::Invalid {
        return Err(invalid_credentials());
    }
    let mut ctx = CommandContext::new(Actor::user(user, username), Medium::Api);
    ctx.ip = origin.ip;
    ctx.user_agent = origin.user_agent;
    ctx.request_id = origin.request_id;
    ctx.idempotency = origin.idempotency;
    // The session is opened with the change (in its transaction), so the
    // answer kept for a re-send holds a token that works.
    let (token, expires_at) = (commands::secrets::new_token(), session_expiry());
    let session = CredentialChange::AddToken {
        org,
        user,
        token_id: TokenId::new(),
        kind: TokenKind::Session,
        token_hash: hex::encode(commands::secrets::token_hash(&token)),
        expires_at: Some(expires_at),
    };
    let with = With {
        render: Some(render(StatusCode::CREATED, move |_| Session {
            token: token.clone(),
            user_id: user,
            expires_at,
        })),
        effects: vec![session],
    };
    let outcome = state
        .service
        .change_password(
            org,
            user,
            &body.current_password,
            &body.new_password,
            &ctx,
            with,
        )
        .await?;
    Ok(answered(&outcome))
}

/// `DELETE /sessions/current`: ends the caller's session.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org}/sessions/current", tag = "sessions", operation_id = "logout",
    summary = "Log out",
    params(OrgPath),
    responses(
        (status = 204, description = "The token is dead"),
    )
)]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    state
        .service
        .credentials()
        .revoke_token(caller.token_id)
        .await
        .map_err(Problem::internal)?;
    state.forget_token(caller.token_id);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api-tokens`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiToken {
    name: String,
    /// When it stops working (in the future; 422 `in_the_past`); never
    /// when absent.
    expires_at: Option<DateTime<Utc>>,
}

/// A new API token, its secret shown once.
#[derive(Serialize, ToSchema)]
pub struct IssuedToken {
    #[schema(value_type = String, format = Uuid)]
    id: TokenId,
    token: String,
}

/// `POST /api-tokens`: 201 `{id, token}`, the secret shown once.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/api-tokens", tag = "sessions", operation_id = "issue_api_token",
    summary = "Issue an API token (shown once)",
    params(OrgPath),
    request_body = NewApiToken,
    responses(
        (status = 201, description = "The token, shown once", body = Committed<IssuedToken>),
        (status = 422, description = "`in_the_past`, `invalid_name`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn issue_api_token(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewApiToken>,
) -> ApiResult<Response> {
    if body.expires_at.is_some_and(|e| e <= Utc::now()) {
        return Err(Problem::invalid(
            "expires_at",
            "in_the_past",
            "expires_at must be in the future",
        ));
    }
    let token_id = TokenId::new();
    // The token is stored with the command (in its transaction), so the
    // answer kept for a re-send holds a token that works.
    let token = commands::secrets::new_token();
    let stored = CredentialChange::AddToken {
        org: caller.org,
        user: caller.user,
        token_id,
        kind: TokenKind::Api,
        token_hash: hex::encode(commands::secrets::token_hash(&token)),
        expires_at: body.expires_at,
    };
    let command = Command::IssueApiToken {
        token_id,
        name: body.name,
        expires_at: body.expires_at,
    };
    let with = With {
        render: Some(render(StatusCode::CREATED, move |_| IssuedToken {
            id: token_id,
            token: token.clone(),
        })),
        effects: vec![stored],
    };
    state.command_with(&caller, command, with).await
}

/// `DELETE /api-tokens/{id}`: 204; 404 for an unknown token.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org}/api-tokens/{id}", tag = "sessions", operation_id = "revoke_api_token",
    summary = "Revoke an API token",
    params(OrgPath, TokenPath),
    responses(
        (status = 204, description = "Revoked; `Rolebook-Position` header"),
        (status = 404, description = "`token_not_found`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_api_token(
    State(state): State<AppState>,
    Path(TokenPath { id, .. }): Path<TokenPath>,
    caller: Caller,
) -> ApiResult<Response> {
    let token_id: TokenId = id
        .parse()
        .map_err(|_| Problem::not_found("token_not_found", format!("token {id} not found")))?;
    let with = With {
        render: Some(render_empty()),
        effects: vec![CredentialChange::RevokeToken { token_id }],
    };
    let response = state
        .command_with(&caller, Command::RevokeApiToken { token_id }, with)
        .await?;
    state.forget_token(token_id);
    Ok(response)
}
