//! The web console for administrators and auditors, served by `rolebook
//! serve` at `/`: pages rendered on the server (minijinja templates in
//! `templates/`, no JavaScript) that call the HTTP API's handlers in
//! process (the same permission checks, services and answers; never the
//! API over HTTP).
//!
//! - [`session`]: the cookie session (HttpOnly, SameSite=Strict) and the
//!   CSRF token every form carries;
//! - [`sign_in`]: signing in (a temporary password asks for a new one) and
//!   out;
//! - [`people`]: People and Add people;
//! - [`audit`]: Audit Logs (filters, paging, Export as CSV);
//! - [`access`]: the Access explorer (may U do P, now or as of a moment,
//!   and why; who can do P).
//!
//! Every page carries a Content-Security-Policy without script and
//! `form-action 'self'`; a refusal (no permission, another organization's
//! page, a form without its CSRF token) is a page with the API's status and
//! code.

mod access;
mod audit;
mod people;
mod session;
mod sign_in;

use std::sync::LazyLock;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::Environment;
use serde::Serialize;

use crate::http::problem::Problem;
use crate::http::state::AppState;

pub use session::Session;

/// The console pages' policy: their own stylesheet, no script, forms
/// posted only here, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = include_str!("console.css");

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("layout.html", include_str!("templates/layout.html")),
        ("login.html", include_str!("templates/login.html")),
        ("people.html", include_str!("templates/people.html")),
        ("audit.html", include_str!("templates/audit.html")),
        ("refused.html", include_str!("templates/refused.html")),
        ("access.html", include_str!("templates/access.html")),
    ] {
        env.add_template(name, source)
            .expect("the console's templates parse");
    }
    env
});

/// The console's routes (merged beside the API's).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/login") }))
        .route("/console.css", get(stylesheet))
        .route("/login", get(sign_in::form).post(sign_in::submit))
        .route("/logout", post(sign_in::sign_out))
        .route("/orgs/{org}/people", get(people::page).post(people::add))
        .route("/orgs/{org}/audit-logs", get(audit::page))
        .route("/orgs/{org}/audit-logs/export.csv", get(audit::export))
        .route("/orgs/{org}/access", get(access::page))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// A page: `template` rendered with `context`, as `status`.
fn render(status: StatusCode, template: &str, context: impl Serialize) -> Response {
    let html = TEMPLATES
        .get_template(template)
        .and_then(|t| t.render(context));
    match html {
        Ok(html) => {
            let mut response = (status, html).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            );
            response
        }
        Err(e) => {
            Problem::internal(anyhow::anyhow!("the console page {template}: {e:#}")).into_response()
        }
    }
}

/// What a page shows of its signed-in user: the layout's header.
#[derive(Serialize)]
struct Chrome {
    org: String,
    username: String,
    csrf: String,
    page: &'static str,
    can_people: bool,
    can_audit: bool,
}

/// The page for a refusal: the API's status, code and detail.
fn refused(chrome: Option<&Chrome>, problem: Problem) -> Response {
    refused_with(chrome, problem.status, problem.code, &problem.detail)
}

/// [`refused`] from the parts of a problem (one read back from an
/// answer).
fn refused_with(chrome: Option<&Chrome>, status: StatusCode, code: &str, detail: &str) -> Response {
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::UNAUTHORIZED => "Not signed in",
        _ => "Refused",
    };
    render(
        status,
        "refused.html",
        minijinja::context! {
            org => chrome.map(|c| c.org.clone()),
            username => chrome.map(|c| c.username.clone()),
            csrf => chrome.map(|c| c.csrf.clone()),
            can_people => chrome.is_some_and(|c| c.can_people),
            can_audit => chrome.is_some_and(|c| c.can_audit),
            title,
            code,
            detail,
        },
    )
}
