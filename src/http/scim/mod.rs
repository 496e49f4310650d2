//! The SCIM 2.0 endpoints under `/api/v1/orgs/{org}/scim/v2` (RFC 7644):
//! `Users`, `Groups`, and the discovery documents. Thin handlers: the
//! identity provider's token ([`auth`]), the body ([`body`]), the
//! protocol's pure parts (`crate::scim`), and the command service.
//! Reads come from the write side's state, so that a client reads its own
//! change at once (Okta creates a user, then looks it up). Every change is
//! an ordinary command, recorded with medium `SCIM`.
//!
//! SCIM documents itself (`ServiceProviderConfig`, `ResourceTypes`,
//! `Schemas`), so these routes are not in the OpenAPI document; the routes
//! that manage the SCIM token are (`routes::okta`).

pub mod auth;
pub mod body;
pub mod groups;
pub mod users;

use std::sync::Arc;

use crate::scim::{discovery, ScimError, CONTENT_TYPE};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use commands::answers::Whole;
use commands::service::With;
use commands::{Answer, ServiceError};
use domain::{Command, Organization};
use serde_json::Value;

use crate::http::problem::Problem;
use crate::http::state::AppState;
use auth::ScimCaller;

/// Where the SCIM routes are.
pub const BASE: &str = "/api/v1/orgs/{org}/scim/v2";

/// The SCIM routes, to be nested at [`BASE`]; an unknown SCIM path is 404
/// with the SCIM Error message.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/Users", get(users::list).post(users::create))
        .route(
            "/Users/{id}",
            get(users::get)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route(
            "/Groups/{id}",
            get(groups::get)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/Schemas", get(schemas))
        .fallback(|| async { ScimError::not_found("no such SCIM endpoint") })
}

/// A SCIM answer: `status` with `body` in `application/scim+json`.
pub fn scim(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

/// The write side's errors as SCIM errors.
pub fn refused(e: ServiceError) -> ScimError {
    match e {
        ServiceError::Domain(d) => d.into(),
        other => {
            let p: Problem = other.into();
            ScimError::new(p.status, None, p.detail)
        }
    }
}

/// Answers `question` from the organization's current state (the write
/// side's: a client reads its own change at once).
pub async fn read<T: Send + 'static>(
    state: &AppState,
    caller: &ScimCaller,
    question: impl FnOnce(&Organization) -> Result<T, ScimError> + Send + 'static,
) -> Result<T, ScimError> {
    state
        .service
        .read(caller.org, question)
        .await
        .map_err(refused)?
}

/// A resource rendered from the state a command left.
pub type Resource = Arc<dyn Fn(&Organization) -> Value + Send + Sync>;

/// Runs `command` as the SCIM actor. The answer is `status` with the
/// resource `render` makes from the state the command left (none: no
/// body), `location` as `Location` (a created resource), and
/// `Rolebook-Position`.
pub async fn run(
    state: &AppState,
    caller: &ScimCaller,
    command: Command,
    status: StatusCode,
    render: Option<Resource>,
    location: Option<String>,
) -> Result<Response, ScimError> {
    let answer: commands::service::Render = Arc::new(move |s| Answer {
        status: status.as_u16(),
        body: render.as_ref().map(|r| r(s).to_string()),
        whole: Some(Whole {
            content_type: render.as_ref().map(|_| CONTENT_TYPE.to_string()),
            position: None,
        }),
    });
    let with = With {
        render: Some(answer),
        effects: vec![],
    };
    let outcome = state
        .execute(caller.org, command, &caller.context(), with)
        .await
        .map_err(refused)?;
    let mut response = crate::http::command::answered(&outcome);
    if let Ok(v) = HeaderValue::from_str(&outcome.position.to_string()) {
        response.headers_mut().insert("rolebook-position", v);
    }
    if let Some(Ok(v)) = location.as_deref().map(HeaderValue::from_str) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

async fn service_provider_config(caller: ScimCaller) -> Response {
    scim(
        StatusCode::OK,
        &discovery::service_provider_config(&caller.base),
    )
}

async fn resource_types(caller: ScimCaller) -> Response {
    let types = discovery::resource_types(&caller.base);
    scim(StatusCode::OK, &list_of(types))
}

async fn schemas(caller: ScimCaller) -> Response {
    scim(StatusCode::OK, &list_of(discovery::schemas(&caller.base)))
}

/// Every item on one page.
fn list_of(items: Vec<Value>) -> Value {
    serde_json::json!({
        "schemas": [crate::scim::list::SCHEMA],
        "totalResults": items.len(),
        "startIndex": 1,
        "itemsPerPage": items.len(),
        "Resources": items,
    })
}
