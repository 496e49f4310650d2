//! Projects: the projects the caller may see with their owners (`GET
//! /projects`), and a project's page: Transfer ownership (`PUT
//! /projects/{project}/owner`), its members with every role and the
//! source of each (`GET /projects/{project}/members`), Assign a project
//! role (`PUT …/members/{subject}`) and Retract one (`DELETE
//! …/members/{subject}`): a role that does not come from a direct
//! assignment is explained, naming the source that must change.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::call::{latest, request, Refusal};
use super::session::{Posted, Session};
use super::{after, notice, refused, render, role_names, seg, Done};
use crate::http::json::Json;
use crate::http::params::{MemberPath, ProjectPath};
use crate::http::routes::projects as api;
use crate::http::state::AppState;
use domain::permissions::{known, Scope};

/// `{org}` and `{project}` of a project's page.
#[derive(Deserialize)]
pub struct ProjectPage {
    #[allow(dead_code)]
    org: String,
    project: String,
}

fn uri() -> Uri {
    Uri::from_static("/")
}

/// `GET /orgs/{org}/projects`: every project the caller may see.
pub async fn page(State(state): State<AppState>, session: Session) -> Response {
    let chrome = session.chrome("projects");
    let listed = match request(json!({})) {
        Ok(q) => {
            session
                .answer(
                    api::list(
                        State(state.clone()),
                        Query(q),
                        uri(),
                        session.caller.clone(),
                    )
                    .await,
                )
                .await
        }
        Err(r) => Err(r),
    };
    match listed {
        Ok(projects) => render(
            StatusCode::OK,
            "projects.html",
            minijinja::context! {
                projects,
                ..minijinja::Value::from_serialize(&chrome),
            },
        ),
        Err(r) => refused(Some(&chrome), r),
    }
}

/// Why a role of a member cannot be retracted here, and where to change
/// it: a sentence per source that is not a direct assignment.
fn explain(org: &str, source: &Value) -> Option<Value> {
    let (text, href) = match source["via"].as_str()? {
        "direct" => return None,
        "group" => (
            format!(
                "through the group {}: remove them from the group or change the group's project role",
                source["group"]["name"].as_str().unwrap_or("?")
            ),
            format!("/orgs/{org}/groups/{}", source["group"]["group_id"].as_str().unwrap_or("")),
        ),
        "organization_role" => (
            format!(
                "through the organization role {}, which grants this role on every project: change their organization role or the role's project mapping",
                source["organization_role"]["name"].as_str().unwrap_or("?")
            ),
            format!("/orgs/{org}/settings/roles"),
        ),
        "repository" => (
            format!(
                "through their {} access to the project's repository: change it at the repository or the project's repository role mapping",
                source["access"].as_str().unwrap_or("?")
            ),
            String::new(),
        ),
        other => (format!("through {other}"), String::new()),
    };
    Some(json!({"text": text, "href": href}))
}

/// The members as the page shows them: each role with its source and,
/// when not direct, what to change instead.
fn members_shown(org: &str, members: Value) -> Vec<Value> {
    let mut shown = vec![];
    for m in members.as_array().into_iter().flatten() {
        let name = m["user"]["username"]
            .as_str()
            .map(str::to_string)
            .or_else(|| m["group"]["name"].as_str().map(|g| format!("group {g}")))
            .unwrap_or_else(|| m["subject"].as_str().unwrap_or("").to_string());
        let roles: Vec<Value> = m["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                json!({
                    "role": r["role"]["name"],
                    "via": r["source"]["via"],
                    "direct": r["source"]["via"] == "direct",
                    "why": explain(org, &r["source"]),
                })
            })
            .collect();
        shown.push(json!({"subject": m["subject"], "name": name, "roles": roles}));
    }
    shown
}

async fn show(
    state: &AppState,
    session: &Session,
    project: &str,
    error: Option<(Refusal, Option<String>)>,
    notice: Option<&'static str>,
) -> Response {
    let chrome = session.chrome("projects");
    let path = || {
        Path(ProjectPath {
            project: project.to_string(),
        })
    };
    let got = api::get(
        State(state.clone()),
        path(),
        latest(),
        session.caller.clone(),
    )
    .await;
    let item = match session.answer(got).await {
        Ok(p) => p,
        Err(r) => return refused(Some(&chrome), r),
    };
    let id = item["project_id"]
        .as_str()
        .and_then(|s| s.parse::<domain::ids::ProjectId>().ok());
    // Members need `project.access.view`; without it the page says so.
    let members = match request(json!({})) {
        Ok(q) => {
            session
                .answer(
                    api::members(
                        State(state.clone()),
                        path(),
                        Query(q),
                        uri(),
                        session.caller.clone(),
                    )
                    .await,
                )
                .await
        }
        Err(r) => Err(r),
    };
    let (members, members_refused) = match members {
        Ok(m) => (members_shown(&session.org, m), None),
        Err(r) => (vec![], Some(r.detail)),
    };
    let is_owner = item["owner"]["user_id"].as_str() == Some(&session.caller.user.to_string());
    // A retraction refused: what the member's other sources are, and
    // where each is changed (named as the members list names them).
    let (blocking, status, error) = match error {
        Some((r, subject)) => {
            let why: Vec<Value> = members
                .iter()
                .filter(|m| subject.is_some() && m["subject"].as_str() == subject.as_deref())
                .flat_map(|m| m["roles"].as_array().cloned().unwrap_or_default())
                .filter_map(|r| (!r["why"].is_null()).then(|| r["why"].clone()))
                .collect();
            let detail = if r.code == "not_directly_assigned" {
                "This role is not assigned to them directly, so there is nothing to retract \
                 here: it comes from what is listed below."
                    .to_string()
            } else {
                r.detail
            };
            (why, r.status, Some(detail))
        }
        None => (vec![], StatusCode::OK, None),
    };
    render(
        status,
        "project.html",
        minijinja::context! {
            project => item,
            members,
            members_refused,
            roles => role_names(state, session, Scope::Project),
            can_transfer => is_owner || session.holds(state, known::ORGANIZATION_PEOPLE_MANAGE),
            can_manage => session.holds_on(state, known::PROJECT_ACCESS_MANAGE, id),
            error,
            blocking,
            notice,
            ..minijinja::Value::from_serialize(&chrome),
        },
    )
}

/// `GET /orgs/{org}/projects/{project}`: the project, its owner and
/// members.
pub async fn project(
    State(state): State<AppState>,
    Path(p): Path<ProjectPage>,
    Query(q): Query<Done>,
    session: Session,
) -> Response {
    show(&state, &session, &p.project, None, notice(&q)).await
}

fn project_path(p: &ProjectPage) -> Path<ProjectPath> {
    Path(ProjectPath {
        project: p.project.clone(),
    })
}

fn member_path(p: &ProjectPage, subject: &str) -> Path<MemberPath> {
    Path(MemberPath {
        project: p.project.clone(),
        subject: subject.trim().to_string(),
    })
}

/// `POST /orgs/{org}/projects/{project}/owner`: Transfer ownership.
pub async fn transfer(
    State(state): State<AppState>,
    Path(p): Path<ProjectPage>,
    Posted { session, fields: f }: Posted,
) -> Response {
    let answered = async {
        let body = request(json!({"user": f.one("user").trim()}))?;
        let caller = session.caller.clone();
        session
            .answer(api::transfer(State(state.clone()), project_path(&p), caller, Json(body)).await)
            .await
    }
    .await;
    let to = session.url(&format!("projects/{}", seg(&p.project)));
    after(&session, answered, &to, "owner_transferred", |r| {
        show(&state, &session, &p.project, Some((r, None)), None)
    })
    .await
}

/// `POST /orgs/{org}/projects/{project}/members`: Assign a project role
/// to a user or a group (`group:<name>`).
pub async fn bind(
    State(state): State<AppState>,
    Path(p): Path<ProjectPage>,
    Posted { session, fields: f }: Posted,
) -> Response {
    let answered = async {
        let body = request(json!({"role": f.one("role")}))?;
        let (path, caller) = (member_path(&p, &f.one("subject")), session.caller.clone());
        session
            .answer(api::bind(State(state.clone()), path, caller, Json(body)).await)
            .await
    }
    .await;
    let to = session.url(&format!("projects/{}", seg(&p.project)));
    after(&session, answered, &to, "role_bound", |r| {
        show(&state, &session, &p.project, Some((r, None)), None)
    })
    .await
}

/// `POST /orgs/{org}/projects/{project}/retract`: Retract a member's
/// direct role; a role from elsewhere is refused with its sources shown.
pub async fn retract(
    State(state): State<AppState>,
    Path(p): Path<ProjectPage>,
    Posted { session, fields: f }: Posted,
) -> Response {
    let subject = f.one("subject").trim().to_string();
    let (path, caller) = (member_path(&p, &subject), session.caller.clone());
    let answered = session
        .answer(api::unbind(State(state.clone()), path, caller).await)
        .await;
    let to = session.url(&format!("projects/{}", seg(&p.project)));
    after(&session, answered, &to, "retracted", |r| {
        show(&state, &session, &p.project, Some((r, Some(subject))), None)
    })
    .await
}
