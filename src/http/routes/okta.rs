//! The Okta integration's provisioning side: the organization's SCIM
//! token and the role provisioned people get. Reading needs
//! `organization.okta.view`; every change `organization.okta.manage` (the
//! command checks it). The SCIM endpoints themselves are in
//! `crate::http::scim`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use commands::credentials::{CredentialChange, TokenKind};
use commands::service::With;
use domain::ids::{scim_identity, TokenId};
use domain::permissions::{known, Scope};
use domain::{Command, Organization};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AtLeast;
use crate::http::answers::{Committed, RoleRef};
use crate::http::auth::Caller;
use crate::http::command::render;
use crate::http::json::Json;
use crate::http::params::OrgPath;
use crate::http::problem::{ApiResult, ProblemBody};
use crate::http::resolve;
use crate::http::state::AppState;

/// The organization's SCIM provisioning as the API writes it.
#[derive(Serialize, ToSchema)]
pub struct ScimSettingsItem {
    /// Where the identity provider sends SCIM requests (relative to the
    /// server).
    #[schema(example = "/api/v1/orgs/0192e4c0-0000-7000-8000-000000000000/scim/v2")]
    base_url: String,
    /// The live SCIM token's id (never its secret); null: none.
    #[schema(value_type = Option<String>, format = Uuid)]
    token_id: Option<TokenId>,
    /// The organization role provisioned and reactivated people get.
    default_role: RoleRef,
}

impl ScimSettingsItem {
    fn of(s: &Organization) -> ScimSettingsItem {
        ScimSettingsItem {
            base_url: format!(
                "/api/v1/orgs/{}/scim/v2",
                s.id.map(|id| id.to_string()).unwrap_or_default()
            ),
            token_id: s.scim.token,
            default_role: RoleRef::of(s, s.default_role()),
        }
    }
}

/// `GET /okta/scim`: the SCIM base URL, whether a token is live, and the
/// default role.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/okta/scim", tag = "okta", operation_id = "get_scim_settings",
    summary = "SCIM provisioning: base URL, token, default role",
    params(OrgPath, AtLeast),
    responses(
        (status = 200, description = "The SCIM settings", body = ScimSettingsItem),
        (status = 403, description = "`forbidden`: needs organization.okta.view", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn scim_settings(
    State(state): State<AppState>,
    Query(q): Query<AtLeast>,
    caller: Caller,
) -> ApiResult<Json<ScimSettingsItem>> {
    state.consistent(&caller, q.at_least).await?;
    state.require(&caller, known::ORGANIZATION_OKTA_VIEW)?;
    state
        .read_model(caller.org, |s| Ok(ScimSettingsItem::of(s)))
        .map(Json)
}

/// `PATCH /okta/scim`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScimSettingsChange {
    /// The organization role (id or name) provisioned people get.
    #[schema(example = "Member")]
    default_role: String,
}

/// `PATCH /okta/scim`: names the role provisioned and reactivated people
/// get; 200 with the settings.
#[utoipa::path(
    patch, path = "/api/v1/orgs/{org}/okta/scim", tag = "okta", operation_id = "change_scim_settings",
    summary = "Name the role provisioned people get",
    params(OrgPath),
    request_body = ScimSettingsChange,
    responses(
        (status = 200, description = "The SCIM settings", body = Committed<ScimSettingsItem>),
        (status = 403, description = "`forbidden`, `role_escalation`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`role_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`role_scope_mismatch`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn change_scim_settings(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<ScimSettingsChange>,
) -> ApiResult<Response> {
    let role = body.default_role;
    let default_role = state
        .resolve(caller.org, move |s| {
            resolve::role(s, &role, Scope::Organization)
        })
        .await?;
    let command = Command::ChangeScimSettings { default_role };
    state
        .command(&caller, command, StatusCode::OK, ScimSettingsItem::of)
        .await
}

/// A new SCIM token, its secret shown once.
#[derive(Serialize, ToSchema)]
pub struct ScimToken {
    #[schema(value_type = String, format = Uuid)]
    token_id: TokenId,
    /// The bearer token (256 random bits) to give the identity provider:
    /// shown once, stored hashed.
    token: String,
    #[schema(example = "/api/v1/orgs/0192e4c0-0000-7000-8000-000000000000/scim/v2")]
    base_url: String,
}

/// `POST /okta/scim-token`: 201 with the new token (shown once); the
/// previous one stops working at once.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/okta/scim-token", tag = "okta", operation_id = "issue_scim_token",
    summary = "Issue the SCIM token (shown once), replacing the previous one",
    params(OrgPath),
    responses(
        (status = 201, description = "The token, shown once", body = Committed<ScimToken>),
        (status = 403, description = "`forbidden`: needs organization.okta.manage", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn issue_scim_token(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Response> {
    let token_id = TokenId::new();
    let token = commands::secrets::new_token();
    let stored = CredentialChange::AddToken {
        org: caller.org,
        user: scim_identity(caller.org),
        token_id,
        kind: TokenKind::Scim,
        token_hash: hex::encode(commands::secrets::token_hash(&token)),
        expires_at: None,
    };
    let with = With {
        render: Some(render(StatusCode::CREATED, move |s| ScimToken {
            token_id,
            token: token.clone(),
            base_url: ScimSettingsItem::of(s).base_url,
        })),
        // Stored after the command's own change, which revokes the
        // previous token (`commands::service::ends_credentials_of`).
        effects: vec![stored],
    };
    state
        .command_with(&caller, Command::IssueScimToken { token_id }, with)
        .await
}

/// `DELETE /okta/scim-token`: 204; the SCIM token stops working at once
/// (none: nothing changes).
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org}/okta/scim-token", tag = "okta", operation_id = "revoke_scim_token",
    summary = "Revoke the SCIM token",
    params(OrgPath),
    responses(
        (status = 204, description = "Revoked; `Rolebook-Position` header"),
        (status = 403, description = "`forbidden`: needs organization.okta.manage", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_scim_token(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Response> {
    state.command_empty(&caller, Command::RevokeScimToken).await
}
