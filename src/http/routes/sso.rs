//! Okta single sign-on (OpenID Connect): its settings (`/okta/sso`: the
//! issuer, the client id and secret, just-in-time creation, whether
//! passwords still work) and the sign-in itself (`/sso/login`, which sends
//! the person to the provider, and `/sso/callback`, where the provider
//! sends them back and a session opens). The flow is `crate::sso`.
//!
//! Reading the settings needs `organization.okta.view`; changing them
//! `organization.okta.manage` (the command checks it). The sign-in routes
//! take no bearer token.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::events::{Actor, Medium};
use domain::ids::{OrgId, UserId};
use domain::permissions::known;
use domain::settings::SsoSettings;
use domain::state::Identity;
use domain::{Command, Organization};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::sessions::new_session;
use super::AtLeast;
use crate::http::answers::Committed;
use crate::http::auth::{Caller, Origin};
use crate::http::json::Json;
use crate::http::params::OrgPath;
use crate::http::problem::{ApiResult, Problem, ProblemBody};
use crate::http::state::AppState;
use crate::sso::SsoError;

impl From<SsoError> for Problem {
    fn from(e: SsoError) -> Problem {
        let status = match &e {
            SsoError::NotConfigured => StatusCode::NOT_FOUND,
            SsoError::Provider(_) => StatusCode::BAD_GATEWAY,
            SsoError::StateUnknown
            | SsoError::StateExpired
            | SsoError::Denied(_)
            | SsoError::Token(_) => StatusCode::UNAUTHORIZED,
            SsoError::Store(_) => return Problem::internal(e),
        };
        Problem::new(status, e.code(), e.to_string())
    }
}

/// Where the provider sends people back for `org`: registered at the
/// provider as the client's redirect URI.
pub fn redirect_uri(state: &AppState, org: OrgId) -> String {
    format!(
        "{}/api/v1/orgs/{org}/sso/callback",
        state.public_url.trim_end_matches('/')
    )
}

/// The organization's single sign-on (the client secret is never shown).
#[derive(Serialize, ToSchema)]
pub struct SsoItem {
    /// The provider's issuer URL (its discovery document is
    /// `<issuer>/.well-known/openid-configuration`).
    #[schema(example = "https://acme.okta.com")]
    issuer: String,
    client_id: String,
    /// Always `"***"`: the secret is kept sealed.
    #[schema(example = "***")]
    client_secret: &'static str,
    /// Whether a person the provider signs in and rolebook does not know is
    /// created (with the SCIM default role) instead of refused.
    jit_provisioning: bool,
    /// Whether people may still sign in with a password.
    password_login: bool,
    /// The redirect URI to register at the provider.
    redirect_uri: String,
    /// Where to send people to sign in.
    login_url: String,
}

fn sso_of(state: &AppState, org: OrgId, s: &Organization) -> ApiResult<SsoItem> {
    let sso = s.settings.sso.as_ref().ok_or_else(|| {
        Problem::not_found(
            "sso_not_configured",
            "single sign-on is not configured for this organization",
        )
    })?;
    Ok(SsoItem {
        issuer: sso.issuer.clone(),
        client_id: sso.client_id.clone(),
        client_secret: "***",
        jit_provisioning: sso.jit_provisioning,
        password_login: sso.password_login,
        redirect_uri: redirect_uri(state, org),
        login_url: format!("/api/v1/orgs/{org}/sso/login"),
    })
}

/// `GET /okta/sso`; 404 `sso_not_configured`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/okta/sso", tag = "okta", operation_id = "get_sso",
    summary = "Single sign-on: issuer, client, just-in-time creation, password sign-in",
    params(OrgPath, AtLeast),
    responses(
        (status = 200, description = "The SSO settings", body = SsoItem),
        (status = 403, description = "`forbidden`: needs organization.okta.view", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`sso_not_configured`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Query(q): Query<AtLeast>,
    caller: Caller,
) -> ApiResult<Json<SsoItem>> {
    state.consistent(&caller, q.at_least).await?;
    state.require(&caller, known::ORGANIZATION_OKTA_VIEW)?;
    state
        .read_model(caller.org, |s| sso_of(&state, caller.org, s))
        .map(Json)
}

/// `PUT /okta/sso`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoBody {
    /// `https://…` (plain `http` only on loopback, for tests).
    #[schema(example = "https://acme.okta.com")]
    issuer: String,
    client_id: String,
    /// Kept sealed beside the log, never shown again.
    client_secret: String,
    /// Create people the provider signs in and rolebook does not know
    /// (default false: refused).
    #[serde(default)]
    jit_provisioning: bool,
    /// Let people sign in with a password too (default true).
    #[serde(default = "yes")]
    password_login: bool,
}

fn yes() -> bool {
    true
}

/// `PUT /okta/sso`: sets single sign-on once the issuer's discovery
/// document and keys can be read; 200 with the settings.
#[utoipa::path(
    put, path = "/api/v1/orgs/{org}/okta/sso", tag = "okta", operation_id = "set_sso",
    summary = "Set single sign-on (OpenID Connect)",
    params(OrgPath),
    request_body = SsoBody,
    responses(
        (status = 200, description = "The SSO settings", body = Committed<SsoItem>),
        (status = 403, description = "`forbidden`: needs organization.okta.manage", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_issuer`, `invalid_client_id`, `invalid_secret`, `sso_discovery_failed`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn set(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<SsoBody>,
) -> ApiResult<Response> {
    state.require(&caller, known::ORGANIZATION_OKTA_MANAGE)?;
    super::audit::secret_field("client_secret", &body.client_secret)?;
    let sso = SsoSettings {
        issuer: body.issuer,
        client_id: body.client_id,
        jit_provisioning: body.jit_provisioning,
        password_login: body.password_login,
    };
    if let Err(errors) = sso.validate() {
        return Err(domain::DomainError::Invalid(errors).into());
    }
    state.sso.check_issuer(&sso.issuer).await.map_err(|e| {
        Problem::invalid(
            "issuer",
            "sso_discovery_failed",
            format!("{}: {e}", sso.issuer),
        )
    })?;
    let org = caller.org;
    let shown = state.clone();
    let response = state
        .command(
            &caller,
            Command::ConfigureSso { sso },
            StatusCode::OK,
            move |s| sso_of(&shown, org, s).ok(),
        )
        .await?;
    // Stored after the command (which checked the permission), like the
    // bucket keys: nobody without it can replace the secret.
    state
        .sso
        .store
        .put_client_secret(org, &body.client_secret)
        .await
        .map_err(Problem::internal)?;
    Ok(response)
}

/// `DELETE /okta/sso`: 204; passwords work again; the client secret is
/// deleted.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org}/okta/sso", tag = "okta", operation_id = "remove_sso",
    summary = "Remove single sign-on",
    params(OrgPath),
    responses(
        (status = 204, description = "Removed; `Rolebook-Position` header"),
        (status = 403, description = "`forbidden`: needs organization.okta.manage", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`sso_not_configured`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn remove(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let response = state.command_empty(&caller, Command::RemoveSso).await?;
    state
        .sso
        .store
        .forget(caller.org)
        .await
        .map_err(Problem::internal)?;
    Ok(response)
}

/// `GET /sso/login`'s query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LoginQuery {
    /// The person's email, passed to the provider as `login_hint`.
    login_hint: Option<String>,
}

/// The organization's SSO settings from the write side: a change counts
/// from its commit.
async fn settings_of(state: &AppState, org: OrgId) -> ApiResult<SsoSettings> {
    state
        .service
        .read(org, |s| s.settings.sso.clone())
        .await?
        .ok_or_else(|| SsoError::NotConfigured.into())
}

/// `GET /sso/login`: 303 to the provider's sign-in page (authorization
/// code flow with PKCE, state and nonce).
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/sso/login", tag = "okta", operation_id = "sso_login",
    summary = "Start signing in through the identity provider",
    params(OrgPath, LoginQuery),
    security(()),
    responses(
        (status = 303, description = "To the provider's sign-in page (`Location`)"),
        (status = 404, description = "`org_not_found`, `sso_not_configured`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 502, description = "`sso_provider_unavailable`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    Path(OrgPath { org }): Path<OrgPath>,
    Query(q): Query<LoginQuery>,
) -> ApiResult<Response> {
    let org = state.org(&org).await?;
    let url = begin(&state, org, q.login_hint, &redirect_uri(&state, org)).await?;
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, url)]).into_response())
}

/// Starts a sign-in for `org` that the provider sends back to
/// `redirect_uri` (the API's callback or the console's): the provider's
/// sign-in URL.
pub async fn begin(
    state: &AppState,
    org: OrgId,
    login_hint: Option<String>,
    redirect_uri: &str,
) -> ApiResult<String> {
    let settings = settings_of(state, org).await?;
    let hint = login_hint.filter(|h| !h.is_empty() && h.len() <= 254);
    Ok(state
        .sso
        .begin(org, &settings, redirect_uri, hint.as_deref())
        .await?)
}

/// `GET /sso/callback`'s query, as the provider sends it.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// The provider's refusal (`access_denied`, …).
    error: Option<String>,
    error_description: Option<String>,
}

/// A session opened by single sign-on.
#[derive(Serialize, ToSchema)]
pub struct SsoSession {
    /// The bearer token (256 random bits): shown once, stored hashed.
    token: String,
    #[schema(value_type = String, format = Uuid)]
    user_id: UserId,
    expires_at: DateTime<Utc>,
    /// Whether this sign-in created the person (just-in-time).
    created: bool,
}

/// `GET /sso/callback`: verifies the provider's answer and opens a session
/// for the person with that email; 201 with the session.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/sso/callback", tag = "okta", operation_id = "sso_callback",
    summary = "Finish signing in through the identity provider",
    params(OrgPath, CallbackQuery),
    security(()),
    responses(
        (status = 201, description = "A session", body = SsoSession),
        (status = 401, description = "`sso_state_unknown` (also a state used before), `sso_state_expired`, `sso_denied`, `sso_token_invalid` (signature, issuer, audience, expiry, nonce)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`sso_unknown_user`, `user_deactivated`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`org_not_found`, `sso_not_configured`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 502, description = "`sso_provider_unavailable`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn callback(
    State(state): State<AppState>,
    Path(OrgPath { org }): Path<OrgPath>,
    Query(q): Query<CallbackQuery>,
    origin: Origin,
) -> ApiResult<(StatusCode, Json<SsoSession>)> {
    let org = state.org(&org).await?;
    let signed_in = finish(&state, org, q, &origin, &redirect_uri(&state, org)).await?;
    Ok((
        StatusCode::CREATED,
        Json(SsoSession {
            token: signed_in.token,
            user_id: signed_in.user,
            expires_at: signed_in.expires_at,
            created: signed_in.created,
        }),
    ))
}

/// A sign-in through the provider, finished: the session opened.
pub struct SignedIn {
    pub token: String,
    pub user: UserId,
    pub expires_at: DateTime<Utc>,
    /// Whether this sign-in created the person (just-in-time).
    pub created: bool,
}

/// Finishes a sign-in the provider sent back to `redirect_uri`: the
/// state taken once, the code exchanged, the ID token verified, then a
/// session for the person with that email (created just in time when the
/// settings allow); the refusals of `GET /sso/callback`.
pub async fn finish(
    state: &AppState,
    org: OrgId,
    q: CallbackQuery,
    origin: &Origin,
    redirect_uri: &str,
) -> ApiResult<SignedIn> {
    let settings = settings_of(state, org).await?;
    if let Some(error) = q.error {
        let why = q.error_description.unwrap_or_default();
        return Err(SsoError::Denied(format!("{error} {why}").trim().to_string()).into());
    }
    let (Some(code), Some(st)) = (q.code, q.state) else {
        return Err(Problem::invalid(
            "code",
            "invalid_callback",
            "the callback needs code and state",
        ));
    };
    let email = state
        .sso
        .finish(org, &settings, redirect_uri, &code, &st)
        .await?;
    let known = state
        .resolve(org, {
            let email = email.clone();
            move |s| Ok(s.user_by_email(&email).map(|u| (u.id, u.active)))
        })
        .await?;
    let (user, created) = match known {
        Some((_, false)) => {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "user_deactivated",
                format!("{email} is deactivated in this organization"),
            ))
        }
        Some((user, true)) => (user, false),
        None if settings.jit_provisioning => (provision(state, org, &email, origin).await?, true),
        None => {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "sso_unknown_user",
                format!(
                    "{email} signed in at the identity provider but is not a member of this \
                     organization (invite or provision them, or allow just-in-time creation)"
                ),
            ))
        }
    };
    let (token, expires_at) = new_session(state, org, user).await?;
    Ok(SignedIn {
        token,
        user,
        expires_at,
        created,
    })
}

/// Creates the person the provider signed in (the SCIM default role), as
/// the identity provider (`sso`, medium `SSO`).
async fn provision(
    state: &AppState,
    org: OrgId,
    email: &str,
    origin: &Origin,
) -> ApiResult<UserId> {
    let user_id = UserId::new();
    let command = Command::ProvisionUser {
        user_id,
        email: email.to_string(),
        identity: Identity {
            user_name: email.to_string(),
            ..Identity::default()
        },
        active: true,
    };
    let ctx = origin.context(
        Actor {
            user_id: None,
            username: "sso".to_string(),
        },
        Medium::Sso,
    );
    state
        .execute(org, command, &ctx, commands::service::With::default())
        .await?;
    Ok(user_id)
}
