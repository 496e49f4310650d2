//! The HTTP API of API.md on axum: routes, the middleware stack (request
//! ids, tracing spans, body and header limits, security headers
//! ([`security`]), timeouts, panics caught), and
//! problem+json for every error, including the framework's own (unknown
//! route, wrong method, malformed or oversized body).
//!
//! [`api()`] lists every handler once; each carries its `#[utoipa::path]`
//! (path, parameters, bodies, answers, error codes), and `utoipa-axum`
//! builds from that one list both the router and the OpenAPI document
//! ([`openapi`]), so the two cannot disagree.

pub mod answers;
pub mod auth;
pub mod client_addr;
pub mod command;
pub mod idempotency;
pub mod ip_allow_list;
pub mod json;
pub mod openapi;
pub mod paging;
pub mod params;
pub mod problem;
pub mod resolve;
pub mod routes;
pub mod scim;
pub mod security;
pub mod session;
pub mod state;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use problem::Problem;
use routes::{
    access, audit, groups, health, notifications, okta, orgs, people, projects, roles,
    service_accounts, sessions, settings, sso,
};
pub use state::AppState;

/// Bodies over this are refused with 413.
pub const MAX_BODY: usize = 1024 * 1024;
/// Requests taking longer are answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Every route of the API (API.md), in the order of its tables: the router
/// and, from the same declarations, the OpenAPI document. One handler per
/// `routes!`: handlers of one path merge their methods in the router.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::health))
        .routes(routes!(openapi::serve))
        .routes(routes!(orgs::create))
        // Sessions and tokens.
        .routes(routes!(sessions::login))
        .routes(routes!(sessions::change_password))
        .routes(routes!(sessions::logout))
        .routes(routes!(sessions::issue_api_token))
        .routes(routes!(sessions::revoke_api_token))
        // People.
        .routes(routes!(people::list))
        .routes(routes!(people::get))
        .routes(routes!(people::export_csv))
        .routes(routes!(people::invite))
        .routes(routes!(people::remove))
        .routes(routes!(people::deactivate))
        .routes(routes!(people::reactivate))
        .routes(routes!(people::assign_role))
        .routes(routes!(people::retract_role))
        .routes(routes!(people::reset_password))
        .routes(routes!(people::permissions))
        // Service accounts.
        .routes(routes!(service_accounts::list))
        .routes(routes!(service_accounts::get))
        .routes(routes!(service_accounts::create))
        .routes(routes!(service_accounts::change))
        .routes(routes!(service_accounts::remove))
        .routes(routes!(service_accounts::deactivate))
        .routes(routes!(service_accounts::reactivate))
        .routes(routes!(service_accounts::regenerate_token))
        // Groups.
        .routes(routes!(groups::list))
        .routes(routes!(groups::get))
        .routes(routes!(groups::create))
        .routes(routes!(groups::change))
        .routes(routes!(groups::assign_role))
        .routes(routes!(groups::delete))
        // Roles and permissions.
        .routes(routes!(roles::permissions))
        .routes(routes!(roles::list))
        .routes(routes!(roles::get))
        .routes(routes!(roles::create))
        .routes(routes!(roles::change))
        .routes(routes!(roles::delete))
        // Projects.
        .routes(routes!(projects::list))
        .routes(routes!(projects::get))
        .routes(routes!(projects::create))
        .routes(routes!(projects::delete))
        .routes(routes!(projects::transfer))
        .routes(routes!(projects::members))
        .routes(routes!(projects::bind))
        .routes(routes!(projects::unbind))
        .routes(routes!(projects::repository_access))
        .routes(routes!(projects::mapping))
        .routes(routes!(projects::set_mapping))
        // Access queries.
        .routes(routes!(access::check))
        .routes(routes!(access::check_many))
        .routes(routes!(access::who_can))
        // Audit log.
        .routes(routes!(audit::list))
        .routes(routes!(audit::export_csv))
        .routes(routes!(audit::streaming))
        .routes(routes!(audit::set_streaming))
        .routes(routes!(audit::test_streaming))
        .routes(routes!(audit::remove_streaming))
        // Settings.
        .routes(routes!(settings::settings))
        .routes(routes!(settings::change_settings))
        .routes(routes!(settings::workflows))
        .routes(routes!(settings::change_workflows))
        .routes(routes!(settings::init_agent))
        .routes(routes!(settings::set_init_agent))
        .routes(routes!(settings::init_agent_catalog))
        .routes(routes!(settings::ip_allow_list))
        .routes(routes!(settings::set_ip_allow_list))
        // Notifications and audit webhooks.
        .routes(routes!(notifications::list))
        .routes(routes!(notifications::get))
        .routes(routes!(notifications::create))
        .routes(routes!(notifications::change))
        .routes(routes!(notifications::remove))
        .routes(routes!(notifications::test))
        .routes(routes!(notifications::resume))
        .routes(routes!(notifications::deliveries))
        // Okta: SCIM provisioning (the SCIM endpoints: `scim::router`).
        .routes(routes!(okta::scim_settings))
        .routes(routes!(okta::change_scim_settings))
        .routes(routes!(okta::issue_scim_token))
        .routes(routes!(okta::revoke_scim_token))
        // Okta: single sign-on.
        .routes(routes!(sso::get))
        .routes(routes!(sso::set))
        .routes(routes!(sso::remove))
        .routes(routes!(sso::login))
        .routes(routes!(sso::callback))
}

/// Every route of the API, with the middleware stack.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let (app, _) = api().split_for_parts();
    let app = app
        .nest(scim::BASE, scim::router())
        .merge(crate::console::router());
    // Keys are looked at on the API's routes only: an undeclared path or
    // method is answered 404/405 first.
    app.route_layer(middleware::from_fn_with_state(state.clone(), idempotency::layer))
        .route_layer(middleware::from_fn_with_state(state.clone(), session::layer))
        .route_layer(middleware::from_fn_with_state(state.clone(), ip_allow_list::layer))
        .fallback(|| async { Problem::not_found("not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
        })
        // The last layer added is the outermost.
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(CatchPanicLayer::new())
        .layer(middleware::from_fn(problems_everywhere))
        .layer(middleware::from_fn(security::layer))
        .layer(middleware::from_fn_with_state(state.clone(), client_addr::layer))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                // Answers of 5xx are not errors of their own: an internal
                // error is logged with its cause where it happens
                // (`Problem::internal`), and a 503 is expected (the health
                // of a server still catching up, polled every 100 ms by
                // orchestrators, logged an ERROR line per poll).
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Turns the framework's plain-text errors (malformed JSON, wrong content
/// type, oversized body, timeouts, panics) into problem+json with a stable
/// code, keeping their message as the detail.
async fn problems_everywhere(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // Problems, JSON answers of our own (health's 503 `starting`) and the
    // console's pages are left as they are.
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/problem+json")
                || v.as_bytes().starts_with(b"application/json")
                || v.as_bytes().starts_with(b"text/html")
                || v.as_bytes()
                    .starts_with(crate::scim::CONTENT_TYPE.as_bytes())
        });
    if is_json {
        return response;
    }
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let detail = String::from_utf8_lossy(&body).trim().to_string();
    let code = match status {
        StatusCode::BAD_REQUEST => "malformed_body",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let detail = if detail.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        detail
    };
    Problem::new(status, code, detail).into_response()
}
