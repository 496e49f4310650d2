//! People: the organization's users with their role, groups and status
//! (the API's `GET /people`, its filters and paging), and Add people
//! (`POST /people`: several emails, a role; each temporary password shown
//! once on the page that answers).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use domain::permissions::{known, Scope};
use serde::Deserialize;
use serde_json::{json, Value};

use super::call::{filled, request};
use super::session::{Posted, Session};
use super::{notice, refused, render, role_names, Done};
use crate::http::json::Json;
use crate::http::routes::people::{self as api, Invite, ListQuery, Person};
use crate::http::state::AppState;

/// The People page, with what Add people created (`created`) or why it
/// was refused (`error`).
async fn show(
    state: &AppState,
    session: &Session,
    query: ListQuery,
    search: Option<String>,
    created: Option<Value>,
    error: Option<(StatusCode, String)>,
    notice: Option<&'static str>,
) -> Response {
    let listed = api::list(State(state.clone()), Query(query), session.caller.clone()).await;
    let Json(page) = match listed {
        Ok(page) => page,
        Err(p) => return refused(Some(&session.chrome("people")), p),
    };
    let roles = role_names(state, session, Scope::Organization);
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
            notice,
            q => search,
            ..minijinja::Value::from_serialize(session.chrome("people")),
        },
    )
}

/// `GET /orgs/{org}/people`: the People page (needs
/// `organization.people.view`, like `GET /people`).
pub async fn page(
    State(state): State<AppState>,
    Query(query): Query<PeopleQuery>,
    session: Session,
) -> Response {
    let notice = notice(&Done { done: query.done });
    let search = filled(&query.q);
    let list = match request(json!({"cursor": query.cursor, "q": search})) {
        Ok(q) => q,
        Err(r) => return refused(Some(&session.chrome("people")), r),
    };
    show(&state, &session, list, search, None, None, notice).await
}

/// `GET /orgs/{org}/people`'s query: a search, the page, and what a
/// command before did.
#[derive(Deserialize, Default)]
pub struct PeopleQuery {
    q: Option<String>,
    cursor: Option<String>,
    done: Option<String>,
}

/// The people typed in Add people: one per line, an email optionally
/// followed by a username (`ann@example.com ann`); several emails on a
/// line (separated by spaces or commas) are several people. A word
/// without `@` names the person of the email before it.
fn people_of(typed: &str) -> Vec<Person> {
    let mut people: Vec<Person> = vec![];
    for word in typed
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
    {
        match people.last_mut() {
            Some(last) if !word.contains('@') && last.username.is_none() => {
                last.username = Some(word.to_string())
            }
            _ => people.push(Person {
                email: word.to_string(),
                username: None,
            }),
        }
    }
    people
}

/// `POST /orgs/{org}/people`: Add people: every one at once (all or
/// nothing), then the People page with their temporary passwords.
pub async fn add(State(state): State<AppState>, Posted { session, fields: f }: Posted) -> Response {
    let invite = Invite {
        people: people_of(&f.one("emails")),
        role: f.opt("role"),
    };
    let answered = session
        .answer(api::invite(State(state.clone()), session.caller.clone(), Json(invite)).await)
        .await;
    let (created, error) = match answered {
        Ok(body) => (Some(body["created"].clone()), None),
        Err(r) => (None, Some((r.status, r.detail))),
    };
    // The list as it stands after the invitation.
    let session = match session.refreshed(&state).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    show(
        &state,
        &session,
        ListQuery::default(),
        None,
        created,
        error,
        None,
    )
    .await
}
