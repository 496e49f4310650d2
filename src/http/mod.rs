//! The HTTP API of API.md on axum: routes, the middleware stack (request
//! ids, tracing spans, body limit, timeouts, panics caught), and
//! problem+json for every error, including the framework's own (unknown
//! route, wrong method, malformed or oversized body).

pub mod auth;
pub mod problem;
pub mod resolve;
pub mod routes;
pub mod state;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use problem::Problem;
use routes::{access, health, people, sessions};
pub use state::AppState;

/// Bodies over this are refused with 413.
pub const MAX_BODY: usize = 1024 * 1024;
/// Requests taking longer are answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Every route of the API.
pub fn router(state: AppState) -> Router {
    let org = Router::new()
        .route("/sessions", post(sessions::login))
        .route("/sessions/password", post(sessions::change_password))
        .route("/sessions/current", delete(sessions::logout))
        .route("/api-tokens", post(sessions::issue_api_token))
        .route("/api-tokens/{id}", delete(sessions::revoke_api_token))
        .route("/people", get(people::list).post(people::invite))
        .route("/people/{user}", delete(people::remove))
        .route(
            "/people/{user}/role",
            put(people::assign_role).delete(people::retract_role),
        )
        .route(
            "/people/{user}/password-reset",
            post(people::reset_password),
        )
        .route("/people/{user}/permissions", get(people::permissions))
        .route("/check", get(access::check).post(access::check_many))
        .route("/who-can", get(access::who_can));
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/api/v1/health", get(health::health))
        .nest("/api/v1/orgs/{org}", org)
        .fallback(|| async { Problem::not_found("not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
        })
        // The last layer added is the outermost.
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(CatchPanicLayer::new())
        .layer(middleware::from_fn(problems_everywhere))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
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
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
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
