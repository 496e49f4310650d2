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
mod call;
mod groups;
mod people;
mod person;
mod projects;
mod session;
mod settings;
mod sign_in;
mod streaming;

use std::sync::LazyLock;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::Environment;
use serde::Serialize;

use crate::http::problem::Problem;
use crate::http::state::AppState;

pub use session::{Posted, Session};

/// The console pages' policy: their own stylesheet, no script, forms
/// posted only here, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = include_str!("console.css");

/// Every template, by name (`settings/…` are the Settings tabs).
macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_str!(concat!("templates/", $name)))),*]
    };
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in templates![
        "layout.html",
        "login.html",
        "continue.html",
        "people.html",
        "person.html",
        "groups.html",
        "group.html",
        "projects.html",
        "project.html",
        "audit.html",
        "streaming.html",
        "refused.html",
        "access.html",
        "settings/tabs.html",
        "settings/roles.html",
        "settings/role.html",
        "settings/general.html",
        "settings/init_job.html",
        "settings/notifications.html",
        "settings/ip_allow_list.html",
        "settings/okta.html",
    ] {
        env.add_template(name, source)
            .expect("the console's templates parse");
    }
    env
});

/// The console's routes (merged beside the API's).
pub fn router() -> Router<AppState> {
    let settings = "/orgs/{org}/settings";
    Router::new()
        .route("/", get(|| async { Redirect::to("/login") }))
        .route("/console.css", get(stylesheet))
        .route("/login", get(sign_in::form).post(sign_in::submit))
        .route("/logout", post(sign_in::sign_out))
        .route("/orgs/{org}/sso", get(sign_in::sso_start))
        .route("/orgs/{org}/sso/callback", get(sign_in::sso_callback))
        .route("/orgs/{org}/people", get(people::page).post(people::add))
        .route("/orgs/{org}/people/{user}", get(person::page))
        .route("/orgs/{org}/people/{user}/role", post(person::change_role))
        .route(
            "/orgs/{org}/people/{user}/password-reset",
            post(person::reset_password),
        )
        .route("/orgs/{org}/people/{user}/remove", post(person::remove))
        .route("/orgs/{org}/groups", get(groups::page).post(groups::create))
        .route("/orgs/{org}/groups/{group}", get(groups::group))
        .route("/orgs/{org}/groups/{group}/members", post(groups::members))
        .route("/orgs/{org}/groups/{group}/role", post(groups::role))
        .route("/orgs/{org}/projects", get(projects::page))
        .route("/orgs/{org}/projects/{project}", get(projects::project))
        .route(
            "/orgs/{org}/projects/{project}/owner",
            post(projects::transfer),
        )
        .route(
            "/orgs/{org}/projects/{project}/members",
            post(projects::bind),
        )
        .route(
            "/orgs/{org}/projects/{project}/retract",
            post(projects::retract),
        )
        .route("/orgs/{org}/audit-logs", get(audit::page))
        .route("/orgs/{org}/audit-logs/export.csv", get(audit::export))
        .route(
            "/orgs/{org}/audit-logs/streaming",
            get(streaming::page).post(streaming::save),
        )
        .route("/orgs/{org}/access", get(access::page))
        .route(settings, get(settings::index))
        .route(
            &format!("{settings}/roles"),
            get(settings::roles::page).post(settings::roles::create),
        )
        .route(
            &format!("{settings}/roles/{{scope}}/{{role}}"),
            get(settings::roles::role).post(settings::roles::change),
        )
        .route(
            &format!("{settings}/general"),
            get(settings::general::page).post(settings::general::save),
        )
        .route(
            &format!("{settings}/init-job"),
            get(settings::init_job::page).post(settings::init_job::save),
        )
        .route(
            &format!("{settings}/notifications"),
            get(settings::notifications::page).post(settings::notifications::act),
        )
        .route(
            &format!("{settings}/ip-allow-list"),
            get(settings::ip_allow_list::page).post(settings::ip_allow_list::save),
        )
        .route(
            &format!("{settings}/okta"),
            get(settings::okta::page).post(settings::okta::act),
        )
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

/// A link of the header's navigation.
#[derive(Serialize, Clone)]
struct NavLink {
    key: &'static str,
    label: &'static str,
    href: String,
}

/// What a page shows of its signed-in user: the layout's header.
#[derive(Serialize)]
struct Chrome {
    org: String,
    username: String,
    csrf: String,
    page: &'static str,
    /// The pages the caller may open.
    nav: Vec<NavLink>,
}

/// The page for a refusal: the API's status, code and detail.
fn refused(chrome: Option<&Chrome>, refusal: impl Into<call::Refusal>) -> Response {
    let r = refusal.into();
    let title = match r.status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::UNAUTHORIZED => "Not signed in",
        _ => "Refused",
    };
    render(
        r.status,
        "refused.html",
        minijinja::context! {
            title,
            code => r.code,
            detail => r.detail,
            ..chrome_context(chrome),
        },
    )
}

/// The layout's part of a page's context (nothing when signed out).
fn chrome_context(chrome: Option<&Chrome>) -> minijinja::Value {
    chrome
        .map(minijinja::Value::from_serialize)
        .unwrap_or_else(|| minijinja::context! {})
}

/// After a form's command: back to `to` showing the notice `ok` when it
/// was done; the refusal page when the caller may not do it; otherwise
/// the form's page again saying why (`again`).
async fn after<F, Fut>(
    session: &Session,
    answered: Result<serde_json::Value, call::Refusal>,
    to: &str,
    ok: &str,
    again: F,
) -> Response
where
    F: FnOnce(call::Refusal) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    match answered {
        Ok(_) => done(to, ok),
        Err(r) if r.status == StatusCode::FORBIDDEN => refused(Some(&session.chrome("")), r),
        Err(r) => again(r).await,
    }
}

/// After a command: back to `to` (a page of this console), which shows
/// the outcome `done` (one of the page's fixed notices).
fn done(to: &str, done: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}done={done}")).into_response()
}

/// The organization's roles of `scope`, by name.
fn role_names(
    state: &AppState,
    session: &Session,
    scope: domain::permissions::Scope,
) -> Vec<String> {
    let model = state.model.read();
    let mut roles: Vec<String> = model
        .org(session.caller.org)
        .map(|o| {
            o.state
                .roles
                .values()
                .filter(|r| r.scope == scope)
                .map(|r| r.name.clone())
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    roles
}

/// The `?done=` of a page a command sent the browser back to.
#[derive(serde::Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

/// The notice for a page's `?done=`: one of a fixed set (never text from
/// the URL).
fn notice(q: &Done) -> Option<&'static str> {
    Some(match q.done.as_deref()? {
        "role_changed" => "Role changed.",
        "removed" => "Removed.",
        "group_created" => "Group created.",
        "members_changed" => "Members changed.",
        "group_role_changed" => "The group's role changed.",
        "owner_transferred" => "Ownership transferred.",
        "role_bound" => "Role assigned on the project.",
        "retracted" => "Role retracted.",
        "role_created" => "Role created.",
        "role_saved" => "Role saved.",
        "role_deleted" => "Role deleted.",
        "saved" => "Saved.",
        "notification_removed" => "Notification removed.",
        "notification_resumed" => "Notification resumed.",
        "sso_removed" => "Single sign-on removed: passwords work again.",
        "scim_revoked" => "SCIM token revoked.",
        "streaming_removed" => "Streaming removed; its keys deleted.",
        _ => return None,
    })
}

/// What a path segment keeps as it is (RFC 3986's unreserved characters).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A path segment, percent-encoded.
fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}
