//! `POST /api/v1/orgs`: creates an organization and its first Owner.
//!
//! It needs the instance admin token: the value of `ROLEBOOK_ADMIN_TOKEN`
//! in `rolebook serve`'s environment, sent as `Authorization: Bearer`.
//! The token is never printed nor stored; when the variable is unset the
//! route is closed (403 `forbidden`, saying how to open it) and
//! organizations are created with `rolebook org create` on the server.

use crate::http::json::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use commands::service::Renderer;
use commands::{Answer, CommandContext, CreatedUser};
use domain::events::{Actor, Medium};
use domain::ids::{OrgId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::answers::Committed;
use crate::http::auth::{Bearer, Origin};
use crate::http::command::answered_at;
use crate::http::problem::{ApiResult, Problem, ProblemBody};
use crate::http::state::AppState;

/// The permission named when the route is closed or the token is wrong.
const PERMISSION: &str = "instance.organizations.create";

/// `POST /api/v1/orgs`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    /// Its handle in URLs, unique across the instance.
    #[schema(example = "acme")]
    name: String,
    owner_email: String,
    /// Derived from the email when absent.
    owner_username: Option<String>,
}

/// The first Owner of a new organization.
#[derive(Serialize, ToSchema)]
pub struct FirstOwner {
    #[schema(value_type = String, format = Uuid)]
    user_id: UserId,
    username: String,
    email: String,
    /// Must be changed at first login, shown once.
    temporary_password: String,
}

/// A new organization.
#[derive(Serialize, ToSchema)]
pub struct CreatedOrg {
    #[schema(value_type = String, format = Uuid)]
    org_id: OrgId,
    name: String,
    owner: FirstOwner,
}

/// Compares without stopping at the first difference (`subtle`), so the
/// time taken does not tell how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}

/// 201 `{org_id, name, owner: {user_id, username, email,
/// temporary_password}}`; 409 `org_exists`; 401 without the admin token;
/// 403 `forbidden` when the server has none configured.
#[utoipa::path(
    post, path = "/api/v1/orgs", tag = "instance", operation_id = "create_org",
    summary = "Create an organization and its first Owner (instance admin token)",
    request_body = NewOrg,
    responses(
        (status = 201, description = "The organization and its Owner's temporary password", body = Committed<CreatedOrg>),
        (status = 403, description = "`forbidden`: no instance admin token is configured", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`org_exists`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_name`, `invalid_email`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    bearer: Bearer,
    origin: Origin,
    Json(body): Json<NewOrg>,
) -> ApiResult<Response> {
    let Some(admin) = state.admin_token.as_deref() else {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "creating organizations over HTTP is disabled: start `rolebook serve` with \
             ROLEBOOK_ADMIN_TOKEN set and send it as the bearer token, or run \
             `rolebook org create` on the server",
        )
        .with("permission", PERMISSION));
    };
    if !same(bearer.0.as_bytes(), admin.as_bytes()) {
        return Err(Problem::unauthorized("not the instance admin token"));
    }
    let mut ctx = CommandContext::new(Actor::system(), Medium::Api);
    ctx.ip = origin.ip;
    ctx.user_agent = origin.user_agent;
    ctx.request_id = origin.request_id;
    ctx.idempotency = origin.idempotency;
    let name = body.name.clone();
    let answer: Renderer<(OrgId, CreatedUser)> = Box::new(move |(org_id, owner)| {
        Answer::json(
            StatusCode::CREATED.as_u16(),
            &CreatedOrg {
                org_id: *org_id,
                name: name.clone(),
                owner: FirstOwner {
                    user_id: owner.user_id,
                    username: owner.username.clone(),
                    email: owner.email.clone(),
                    temporary_password: owner.temporary_password.clone(),
                },
            },
        )
    });
    let created = state
        .service
        .create_organization(
            &body.name,
            None,
            &body.owner_email,
            body.owner_username,
            &ctx,
            Some(answer),
        )
        .await?;
    let answer = created.answer.as_ref().expect("rendered");
    Ok(answered_at(answer, created.position, created.answer_kept))
}
