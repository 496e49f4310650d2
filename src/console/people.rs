//! People: the organization's users with their role, groups and status
//! (the API's `GET /people`, its filters and paging), and Add people
//! (`POST /people`: several emails, a role; each temporary password shown
//! once on the page that answers).

use axum::body::to_bytes;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use domain::permissions::{known, Scope};
use serde::Deserialize;
use serde_json::Value;

use super::session::Session;
use super::{refused, render};
use crate::http::auth::Origin;
use crate::http::json::Json;
use crate::http::params::OrgPath;
use crate::http::routes::people::{self as api, Invite, ListQuery, Person};
use crate::http::state::AppState;

/// The People page, with what Add people created (`created`) or why it
/// was refused (`error`).
async fn show(
    state: &AppState,
    session: &Session,
    query: ListQuery,
    created: Option<Value>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let listed = api::list(State(state.clone()), Query(query), session.caller.clone()).await;
    let Json(page) = match listed {
        Ok(page) => page,
        Err(p) => return refused(Some(&session.chrome("people")), p),
    };
    let roles: Vec<String> = {
        let model = state.model.read();
        let mut roles: Vec<String> = model
            .org(session.caller.org)
            .map(|o| {
                o.state
                    .roles
                    .values()
                    .filter(|r| r.scope == Scope::Organization)
                    .map(|r| r.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        roles.sort();
        roles
    };
    let (status, error) = match error {
        Some((status, e)) => (status, Some(e)),
        None => (StatusCode::OK, None),
    };
    let page = serde_json::to_value(&page).unwrap_or(Value::Null);
    render(
        status,
        "people.html",
        minijinja::context! {
            people => page["people"].clone(),
            next_cursor => page["next_cursor"].clone(),
            can_invite => session.holds(state, known::ORGANIZATION_PEOPLE_INVITE),
            roles,
            created,
            error,
            ..minijinja::Value::from_serialize(session.chrome("people")),
        },
    )
}

/// `GET /orgs/{org}/people`: the People page (needs
/// `organization.people.view`, like `GET /people`).
pub async fn page(
    State(state): State<AppState>,
    Path(OrgPath { org }): Path<OrgPath>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
    origin: Origin,
) -> Response {
    match Session::of(&state, &org, &headers, origin).await {
        Ok(session) => show(&state, &session, query, None, None).await,
        Err(page) => page,
    }
}

/// Add people as posted.
#[derive(Deserialize)]
pub struct AddPeople {
    csrf: String,
    /// One email per line (or separated by commas or spaces).
    emails: String,
    role: Option<String>,
}

/// `POST /orgs/{org}/people`: invites every email at once (all or
/// nothing) and shows the People page with their temporary passwords.
pub async fn add(
    State(state): State<AppState>,
    Path(OrgPath { org }): Path<OrgPath>,
    headers: HeaderMap,
    origin: Origin,
    Form(f): Form<AddPeople>,
) -> Response {
    let session = match Session::of(&state, &org, &headers, origin).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    if !session.csrf_ok(&f.csrf) {
        return session.csrf_refused();
    }
    let people: Vec<Person> = f
        .emails
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|e| !e.is_empty())
        .map(|email| Person {
            email: email.to_string(),
            username: None,
        })
        .collect();
    let invite = Invite {
        people,
        role: f.role.filter(|r| !r.is_empty()),
    };
    let answer = api::invite(State(state.clone()), session.caller.clone(), Json(invite)).await;
    let (created, error) = match answer {
        Ok(response) => {
            let status = response.status();
            let body = to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if status.is_success() {
                (Some(body["created"].clone()), None)
            } else {
                let detail = body["detail"].as_str().unwrap_or("refused").to_string();
                (None, Some((status, detail)))
            }
        }
        Err(p) => (None, Some((p.status, p.detail))),
    };
    // The list as it stands after the invitation (its position read).
    show(&state, &session, ListQuery::default(), created, error).await
}
