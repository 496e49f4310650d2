//! Who calls a SCIM route: the organization's identity provider, holding
//! the organization's SCIM token (`POST /okta/scim-token`). Anything else
//! (no token, a person's token, another organization's SCIM token, a
//! revoked one) is 401 with the SCIM Error message.

use crate::scim::ScimError;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header;
use axum::http::request::Parts;
use commands::credentials::TokenKind;
use domain::events::{Actor, Medium};
use domain::ids::OrgId;

use crate::http::auth::Origin;
use crate::http::state::AppState;

/// The actor every SCIM change is recorded under (medium `SCIM`).
pub const ACTOR: &str = "scim";

/// An authenticated SCIM request of one organization.
pub struct ScimCaller {
    pub org: OrgId,
    pub origin: Origin,
    /// The SCIM base path of this organization, as the request named it
    /// (for `location` and `Location`).
    pub base: String,
}

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ScimError> {
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ScimError::unauthorized("missing Authorization: Bearer <SCIM token>"))?
            .to_string();
        let Ok(origin) = Origin::from_request_parts(parts, state).await;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ScimError::not_found("no such organization"))?;
        let handle = params
            .iter()
            .find(|(name, _)| *name == "org")
            .map(|(_, value)| value.to_string())
            .ok_or_else(|| ScimError::not_found("no such organization"))?;
        let org = state
            .org(&handle)
            .await
            .map_err(|p| ScimError::new(p.status, None, p.detail))?;
        let token = state
            .token(&secret)
            .await
            .map_err(|p| ScimError::new(p.status, None, p.detail))?;
        if !token.is_some_and(|t| t.kind == TokenKind::Scim && t.org_id == org) {
            return Err(ScimError::unauthorized(
                "not this organization's SCIM token (or revoked)",
            ));
        }
        Ok(ScimCaller {
            org,
            origin,
            base: format!("/api/v1/orgs/{handle}/scim/v2"),
        })
    }
}

impl ScimCaller {
    /// The command context: the SCIM actor, through SCIM, from where.
    pub fn context(&self) -> commands::CommandContext {
        let actor = Actor {
            user_id: None,
            username: ACTOR.to_string(),
        };
        self.origin.context(actor, Medium::Scim)
    }
}
