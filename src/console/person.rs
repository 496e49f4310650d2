//! Edit a person: their role, groups, status and the projects they own;
//! change their organization role (`PUT /people/{user}/role`), reset their
//! password (`POST /people/{user}/password-reset`, the temporary password
//! shown once) and remove them (`DELETE /people/{user}`: refused while they
//! own projects, which the page names with a link to transfer each).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::call::{latest, request, Refusal};
use super::session::{Posted, Session};
use super::{after, notice, refused, render, role_names, seg, Done};
use crate::http::json::Json;
use crate::http::params::UserPath;
use crate::http::routes::people as api;
use crate::http::state::AppState;
use domain::ids::UserId;
use domain::permissions::{known, Scope};

/// `{org}` and `{user}` of a person's page.
#[derive(Deserialize)]
pub struct PersonPath {
    #[allow(dead_code)]
    org: String,
    user: String,
}

/// What the page shows beside the person: a temporary password just
/// made, or why a form was refused.
#[derive(Default)]
struct Outcome {
    temporary_password: Option<String>,
    error: Option<Refusal>,
    notice: Option<&'static str>,
}

async fn show(state: &AppState, session: &Session, user: &str, outcome: Outcome) -> Response {
    let chrome = session.chrome("people");
    let got = api::get(
        State(state.clone()),
        Path(UserPath {
            user: user.to_string(),
        }),
        latest(),
        session.caller.clone(),
    )
    .await;
    let person = match session.answer(got).await {
        Ok(p) => p,
        Err(r) => return refused(Some(&chrome), r),
    };
    // The projects they own (by name), each linking to its owner form.
    let owned: Vec<Value> = {
        let model = state.model.read();
        let id = person["user_id"]
            .as_str()
            .and_then(|s| s.parse::<UserId>().ok());
        match (model.org(session.caller.org), id) {
            (Some(o), Some(id)) => o
                .state
                .projects_owned_by(id)
                .iter()
                .map(|p| json!({"project_id": p.id, "name": p.name}))
                .collect(),
            _ => vec![],
        }
    };
    let (status, error, blocking) = match &outcome.error {
        Some(r) => (r.status, Some(r.detail.clone()), r.body["projects"].clone()),
        None => (StatusCode::OK, None, Value::Null),
    };
    render(
        status,
        "person.html",
        minijinja::context! {
            person,
            owned,
            blocking,
            error,
            notice => outcome.notice,
            temporary_password => outcome.temporary_password,
            roles => role_names(state, session, Scope::Organization),
            can_manage => session.holds(state, known::ORGANIZATION_PEOPLE_MANAGE),
            ..minijinja::Value::from_serialize(&chrome),
        },
    )
}

/// `GET /orgs/{org}/people/{user}`: the person (needs
/// `organization.people.view`).
pub async fn page(
    State(state): State<AppState>,
    Path(p): Path<PersonPath>,
    Query(q): Query<Done>,
    session: Session,
) -> Response {
    let outcome = Outcome {
        notice: notice(&q),
        ..Outcome::default()
    };
    show(&state, &session, &p.user, outcome).await
}

fn user_path(p: &PersonPath) -> Path<UserPath> {
    Path(UserPath {
        user: p.user.clone(),
    })
}

/// `POST /orgs/{org}/people/{user}/role`: Change role.
pub async fn change_role(
    State(state): State<AppState>,
    Path(p): Path<PersonPath>,
    Posted { session, fields: f }: Posted,
) -> Response {
    let answered = async {
        let body = request(json!({"role": f.one("role")}))?;
        let caller = session.caller.clone();
        session
            .answer(api::assign_role(State(state.clone()), user_path(&p), caller, Json(body)).await)
            .await
    }
    .await;
    let to = session.url(&format!("people/{}", seg(&p.user)));
    after(&session, answered, &to, "role_changed", |error| {
        let outcome = Outcome {
            error: Some(error),
            ..Outcome::default()
        };
        show(&state, &session, &p.user, outcome)
    })
    .await
}

/// `POST /orgs/{org}/people/{user}/remove`: Remove (refused, naming the
/// projects with a link to transfer each, while they own some).
pub async fn remove(
    State(state): State<AppState>,
    Path(p): Path<PersonPath>,
    Posted { session, .. }: Posted,
) -> Response {
    let caller = session.caller.clone();
    let answered = session
        .answer(api::remove(State(state.clone()), user_path(&p), caller).await)
        .await;
    after(
        &session,
        answered,
        &session.url("people"),
        "removed",
        |error| {
            let outcome = Outcome {
                error: Some(error),
                ..Outcome::default()
            };
            show(&state, &session, &p.user, outcome)
        },
    )
    .await
}

/// `POST /orgs/{org}/people/{user}/password-reset`: Reset password; the
/// page shows the temporary password once.
pub async fn reset_password(
    State(state): State<AppState>,
    Path(p): Path<PersonPath>,
    Posted { session, .. }: Posted,
) -> Response {
    let caller = session.caller.clone();
    let answered = session
        .answer(api::reset_password(State(state.clone()), user_path(&p), caller).await)
        .await;
    let outcome = match answered {
        Ok(body) => Outcome {
            temporary_password: body["temporary_password"].as_str().map(str::to_string),
            notice: Some("Password reset: give them this temporary password."),
            ..Outcome::default()
        },
        Err(r) if r.status == StatusCode::FORBIDDEN || r.status == StatusCode::NOT_FOUND => {
            return refused(Some(&session.chrome("people")), r)
        }
        Err(r) => Outcome {
            error: Some(r),
            ..Outcome::default()
        },
    };
    let session = match session.refreshed(&state).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    show(&state, &session, &p.user, outcome).await
}
