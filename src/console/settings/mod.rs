//! Settings: one tab per part of the organization's configuration, each
//! its own module and template (`templates/settings/`): Roles, General,
//! Initialization job, Notifications, IP allow list, Okta. A tab's link is
//! shown to those who may read it; its page and its forms refuse
//! regardless (the API's handlers decide).

pub mod general;
pub mod init_job;
pub mod ip_allow_list;
pub mod notifications;
pub mod okta;
pub mod roles;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;

use super::session::Session;
use super::{render, NavLink};
use crate::http::state::AppState;
use domain::permissions::{known, Permission};

/// The tabs, each with the permission that lets one read it (`None`:
/// every member).
const TABS: &[(&str, &str, &str, Option<Permission>)] = &[
    ("roles", "Roles", "roles", None),
    (
        "general",
        "General",
        "general",
        Some(known::ORGANIZATION_GENERAL_SETTINGS_VIEW),
    ),
    (
        "init_job",
        "Initialization job",
        "init-job",
        Some(known::ORGANIZATION_GENERAL_SETTINGS_VIEW),
    ),
    (
        "notifications",
        "Notifications",
        "notifications",
        Some(known::ORGANIZATION_NOTIFICATIONS_VIEW),
    ),
    (
        "ip_allow_list",
        "IP allow list",
        "ip-allow-list",
        Some(known::ORGANIZATION_IP_ALLOW_LIST_VIEW),
    ),
    ("okta", "Okta", "okta", Some(known::ORGANIZATION_OKTA_VIEW)),
];

/// The tabs `session` may open.
fn tabs(state: &AppState, session: &Session) -> Vec<NavLink> {
    TABS.iter()
        .filter(|(_, _, _, needs)| needs.is_none_or(|p| session.holds(state, p)))
        .map(|(key, label, path, _)| NavLink {
            key,
            label,
            href: session.url(&format!("settings/{path}")),
        })
        .collect()
}

/// `GET /orgs/{org}/settings`: the first tab.
pub async fn index(session: Session) -> Response {
    Redirect::to(&session.url("settings/roles")).into_response()
}

/// A tab's page: `template` (which extends `settings/tabs.html`) with
/// `context`, the layout and the tabs.
fn tab<C: Serialize>(
    state: &AppState,
    session: &Session,
    tab: &'static str,
    status: StatusCode,
    template: &str,
    context: C,
) -> Response {
    render(
        status,
        template,
        minijinja::value::merge_maps([
            minijinja::context! { tabs => tabs(state, session), tab },
            minijinja::Value::from_serialize(context),
            minijinja::Value::from_serialize(session.chrome("settings")),
        ]),
    )
}
