//! The HTTP API of API.md on axum: routes, the middleware stack (request
//! ids, tracing spans, body limit, timeouts, panics caught), and
//! problem+json for every error, including the framework's own (unknown
//! route, wrong method, malformed or oversized body).
//!
//! [`routes()`] is the one table of (method, path, summary, handler): the
//! router is built from it and so is the OpenAPI document
//! ([`openapi`]), so the two cannot disagree.

pub mod auth;
pub mod idempotency;
pub mod openapi;
pub mod paging;
pub mod problem;
pub mod resolve;
pub mod routes;
pub mod state;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::handler::Handler;
use axum::http::{header, HeaderName, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use problem::Problem;
use routes::{access, audit, groups, health, orgs, people, projects, roles, sessions};
pub use state::AppState;

/// Bodies over this are refused with 413.
pub const MAX_BODY: usize = 1024 * 1024;
/// Requests taking longer are answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One route of the API: what the router serves and what the OpenAPI
/// document describes, from the same value, so the two cannot disagree.
pub struct Route {
    pub method: Method,
    /// The full path, with `{param}` placeholders.
    pub path: &'static str,
    pub summary: &'static str,
    /// The status of a successful answer.
    pub status: StatusCode,
    /// The query parameters it reads.
    pub query: &'static [&'static str],
    /// Whether the route needs no bearer token.
    pub public: bool,
    handler: MethodRouter<AppState>,
}

impl Route {
    /// `method` on `path`, answering the method's usual success status.
    fn new<H, T>(method: Method, path: &'static str, summary: &'static str, handler: H) -> Route
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a routable method");
        let status = match method {
            Method::POST => StatusCode::CREATED,
            Method::DELETE => StatusCode::NO_CONTENT,
            _ => StatusCode::OK,
        };
        Route {
            method,
            path,
            summary,
            status,
            query: &[],
            public: false,
            handler: axum::routing::on(filter, handler),
        }
    }

    /// The success status when it is not the method's usual one (GET, PUT,
    /// PATCH: 200; POST: 201; DELETE: 204).
    fn status(mut self, status: StatusCode) -> Route {
        self.status = status;
        self
    }

    fn query(mut self, names: &'static [&'static str]) -> Route {
        self.query = names;
        self
    }

    fn public(mut self) -> Route {
        self.public = true;
        self
    }
}

fn get<H: Handler<T, AppState>, T: 'static>(
    path: &'static str,
    summary: &'static str,
    h: H,
) -> Route {
    Route::new(Method::GET, path, summary, h)
}
fn post<H: Handler<T, AppState>, T: 'static>(
    path: &'static str,
    summary: &'static str,
    h: H,
) -> Route {
    Route::new(Method::POST, path, summary, h)
}
fn put<H: Handler<T, AppState>, T: 'static>(
    path: &'static str,
    summary: &'static str,
    h: H,
) -> Route {
    Route::new(Method::PUT, path, summary, h)
}
fn patch<H: Handler<T, AppState>, T: 'static>(
    path: &'static str,
    summary: &'static str,
    h: H,
) -> Route {
    Route::new(Method::PATCH, path, summary, h)
}
fn delete<H: Handler<T, AppState>, T: 'static>(
    path: &'static str,
    summary: &'static str,
    h: H,
) -> Route {
    Route::new(Method::DELETE, path, summary, h)
}

/// An organization's path: `/api/v1/orgs/{org}` + the route's.
macro_rules! org {
    ($path:literal) => {
        concat!("/api/v1/orgs/{org}", $path)
    };
}

/// Every route of the API (API.md), in the order of its tables.
#[rustfmt::skip]
pub fn routes() -> Vec<Route> {
    const READ: &[&str] = &["at_least"];
    const AUDIT: &[&str] = &[
        "from", "to", "actor", "resource_type", "resource_id", "action", "limit", "cursor",
        "at_least",
    ];
    vec![
        get("/api/v1/health", "The store's head position and each projection's", health::health).public(),
        get("/api/v1/openapi.json", "This OpenAPI document", openapi::serve).public(),
        post("/api/v1/orgs", "Create an organization and its first Owner (instance admin token)", orgs::create),
        // Sessions and tokens.
        post(org!("/sessions"), "Log in", sessions::login).public(),
        post(org!("/sessions/password"), "Set one's own password and log in", sessions::change_password).public(),
        delete(org!("/sessions/current"), "Log out", sessions::logout),
        post(org!("/api-tokens"), "Issue an API token (shown once)", sessions::issue_api_token),
        delete(org!("/api-tokens/{id}"), "Revoke an API token", sessions::revoke_api_token),
        // People.
        get(org!("/people"), "List people (paged)", people::list).query(&["role", "group", "q", "at_least", "limit", "cursor"]),
        post(org!("/people"), "Invite people (all or nothing)", people::invite),
        delete(org!("/people/{user}"), "Remove a user", people::remove),
        put(org!("/people/{user}/role"), "Assign a user's organization role", people::assign_role),
        delete(org!("/people/{user}/role"), "Retract a user's direct organization role", people::retract_role)
            .status(StatusCode::OK),
        post(org!("/people/{user}/password-reset"), "Issue a new temporary password", people::reset_password),
        get(org!("/people/{user}/permissions"), "A user's permissions with their sources", people::permissions)
            .query(&["project", "at_least"]),
        // Groups.
        get(org!("/groups"), "List groups (paged)", groups::list).query(&["at_least", "limit", "cursor"]),
        post(org!("/groups"), "Create a group (role Member)", groups::create),
        patch(org!("/groups/{group}"), "Rename, describe, add or remove members", groups::change),
        put(org!("/groups/{group}/role"), "Set a group's organization role", groups::assign_role),
        delete(org!("/groups/{group}"), "Delete a group", groups::delete),
        // Roles and permissions.
        get(org!("/permissions"), "The permission catalog", roles::permissions).query(&["scope", "at_least"]),
        get(org!("/roles"), "List roles", roles::list).query(&["scope", "at_least"]),
        post(org!("/roles"), "Create a custom role", roles::create),
        put(org!("/roles/{role}"), "Change a custom role", roles::change).query(&["scope"]),
        delete(org!("/roles/{role}"), "Delete a custom role", roles::delete).query(&["scope"]),
        // Projects.
        get(org!("/projects"), "List the projects the caller may view", projects::list).query(READ),
        post(org!("/projects"), "Create a project", projects::create),
        delete(org!("/projects/{project}"), "Delete a project", projects::delete),
        put(org!("/projects/{project}/owner"), "Transfer a project's ownership", projects::transfer),
        get(org!("/projects/{project}/members"), "A project's members, each role with its source", projects::members)
            .query(READ),
        put(org!("/projects/{project}/members/{subject}"), "Bind a project role directly", projects::bind),
        delete(org!("/projects/{project}/members/{subject}"), "Retract a direct project binding", projects::unbind)
            .status(StatusCode::OK),
        put(org!("/projects/{project}/repository-access/{user}"), "Set or revoke a user's repository access",
            projects::repository_access),
        get(org!("/projects/{project}/repository-role-mapping"), "The project role of each repository access",
            projects::mapping).query(READ),
        put(org!("/projects/{project}/repository-role-mapping"), "Change the repository role mapping",
            projects::set_mapping),
        // Access queries.
        get(org!("/check"), "May a user do something, and why?", access::check)
            .query(&["user", "permission", "project", "as_of", "at_least"]),
        post(org!("/check"), "Many checks, answered in order", access::check_many)
            .status(StatusCode::OK).query(READ),
        get(org!("/who-can"), "Who holds a permission, and through what", access::who_can)
            .query(&["permission", "project", "at_least"]),
        // Audit log and settings.
        get(org!("/audit-logs"), "The audit log, newest first", audit::list).query(AUDIT),
        get(org!("/audit-logs/export.csv"), "The audit log as CSV, oldest first, streamed", audit::export_csv)
            .query(AUDIT),
        get(org!("/audit-logs/streaming"), "The audit streaming target (secrets masked)", audit::streaming)
            .query(READ),
        put(org!("/audit-logs/streaming"), "Set the audit streaming target", audit::set_streaming),
        delete(org!("/audit-logs/streaming"), "Remove the audit streaming target", audit::remove_streaming),
        get(org!("/settings"), "The organization's name and URL", audit::settings).query(READ),
        patch(org!("/settings"), "Change the organization's name or URL", audit::change_settings),
    ]
}

/// Every route of the API, with the middleware stack.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let mut app = Router::new();
    for r in routes() {
        // Routes of one path merge their methods.
        app = app.route(r.path, r.handler);
    }
    app.fallback(|| async { Problem::not_found("not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
        })
        // The last layer added is the outermost.
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(state.clone(), idempotency::layer))
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
