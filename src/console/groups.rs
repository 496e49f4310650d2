//! Groups: the organization's groups with their role and members (`GET
//! /groups`), Create group (name, description, members: `POST /groups`),
//! and a group's page: Modify group (rename, describe, add and remove
//! members: `PATCH /groups/{group}`) and Modify role (`PUT
//! /groups/{group}/role`).

use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::call::{lines, request, Fields, Refusal};
use super::person::role_names;
use super::session::Session;
use super::{done, notice, refused, render, seg, Done};
use crate::http::json::Json;
use crate::http::params::GroupPath;
use crate::http::routes::groups as api;
use crate::http::state::AppState;
use domain::permissions::{known, Scope};

/// `{org}` and `{group}` of a group's page.
#[derive(Deserialize)]
pub struct GroupPage {
    #[allow(dead_code)]
    org: String,
    group: String,
}

/// `GET /orgs/{org}/groups`'s query: the page of the list.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    cursor: Option<String>,
    done: Option<String>,
}

async fn list(
    state: &AppState,
    session: &Session,
    cursor: Option<String>,
    error: Option<Refusal>,
    notice: Option<&'static str>,
) -> Response {
    let chrome = session.chrome("groups");
    let listed = match request(json!({"limit": 100, "cursor": cursor})) {
        Ok(q) => {
            session
                .answer(api::list(State(state.clone()), Query(q), session.caller.clone()).await)
                .await
        }
        Err(r) => Err(r),
    };
    let page = match listed {
        Ok(page) => page,
        Err(r) => return refused(Some(&chrome), r),
    };
    let status = error.as_ref().map_or(StatusCode::OK, |r| r.status);
    render(
        status,
        "groups.html",
        minijinja::context! {
            groups => page["groups"].clone(),
            next_cursor => page["next_cursor"].clone(),
            can_manage => session.holds(state, known::ORGANIZATION_GROUPS_MANAGE),
            error => error.map(|r| r.detail),
            notice,
            ..minijinja::Value::from_serialize(&chrome),
        },
    )
}

/// `GET /orgs/{org}/groups`: the groups (needs `organization.groups.view`).
pub async fn page(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
    session: Session,
) -> Response {
    let shown = notice(&Done { done: q.done });
    list(&state, &session, q.cursor, None, shown).await
}

/// Create group as posted.
#[derive(Deserialize)]
pub struct NewGroup {
    csrf: String,
    name: String,
    #[serde(default)]
    description: String,
    /// Usernames or emails, one per line.
    #[serde(default)]
    members: String,
}

/// `POST /orgs/{org}/groups`: creates the group, then shows it.
pub async fn create(
    State(state): State<AppState>,
    session: Session,
    Form(f): Form<NewGroup>,
) -> Response {
    if !session.csrf_ok(&f.csrf) {
        return session.csrf_refused();
    }
    let body = json!({"name": f.name, "description": f.description, "members": lines(&f.members)});
    let answered = match request(body) {
        Ok(body) => {
            session
                .answer(api::create(State(state.clone()), session.caller.clone(), Json(body)).await)
                .await
        }
        Err(r) => Err(r),
    };
    match answered {
        Ok(group) => {
            let id = group["group_id"].as_str().unwrap_or_default();
            done(
                &session.url(&format!("groups/{}", seg(id))),
                "group_created",
            )
        }
        Err(r) if r.status == StatusCode::FORBIDDEN => refused(Some(&session.chrome("groups")), r),
        Err(r) => list(&state, &session, None, Some(r), None).await,
    }
}

async fn show(
    state: &AppState,
    session: &Session,
    group: &str,
    error: Option<Refusal>,
    notice: Option<&'static str>,
) -> Response {
    let chrome = session.chrome("groups");
    let got = api::get(
        State(state.clone()),
        Path(GroupPath {
            group: group.to_string(),
        }),
        Query(crate::http::routes::AtLeast { at_least: None }),
        session.caller.clone(),
    )
    .await;
    let group: Value = match session.answer(got).await {
        Ok(g) => g,
        Err(r) => return refused(Some(&chrome), r),
    };
    let status = error.as_ref().map_or(StatusCode::OK, |r| r.status);
    render(
        status,
        "group.html",
        minijinja::context! {
            group,
            roles => role_names(state, session, Scope::Organization),
            can_manage => session.holds(state, known::ORGANIZATION_GROUPS_MANAGE),
            error => error.map(|r| r.detail),
            notice,
            ..minijinja::Value::from_serialize(&chrome),
        },
    )
}

/// `GET /orgs/{org}/groups/{group}`: the group, Modify group and Modify
/// role.
pub async fn group(
    State(state): State<AppState>,
    Path(p): Path<GroupPage>,
    Query(q): Query<Done>,
    session: Session,
) -> Response {
    show(&state, &session, &p.group, None, notice(&q)).await
}

/// After a form of the group's page: back to it with `ok`, or the page
/// with why.
async fn outcome(
    state: &AppState,
    session: &Session,
    p: &GroupPage,
    answered: Result<Value, Refusal>,
    ok: &str,
) -> Response {
    match answered {
        Ok(_) => done(&session.url(&format!("groups/{}", seg(&p.group))), ok),
        Err(r) if r.status == StatusCode::FORBIDDEN => refused(Some(&session.chrome("groups")), r),
        Err(r) => show(state, session, &p.group, Some(r), None).await,
    }
}

/// `POST /orgs/{org}/groups/{group}/members`: Modify group: its name and
/// description, the members to add (one per line) and the ones whose
/// `remove` box is checked.
pub async fn members(
    State(state): State<AppState>,
    Path(p): Path<GroupPage>,
    session: Session,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let f = Fields(fields);
    if !session.csrf_ok(&f.one("csrf")) {
        return session.csrf_refused();
    }
    let body = json!({
        "name": f.opt("name"),
        "description": f.opt("description"),
        "add_members": lines(&f.one("add_members")),
        "remove_members": f.all("remove"),
    });
    let path = Path(GroupPath {
        group: p.group.clone(),
    });
    let answered = match request(body) {
        Ok(body) => {
            session
                .answer(
                    api::change(
                        State(state.clone()),
                        path,
                        session.caller.clone(),
                        Json(body),
                    )
                    .await,
                )
                .await
        }
        Err(r) => Err(r),
    };
    outcome(&state, &session, &p, answered, "members_changed").await
}

/// Modify role as posted.
#[derive(Deserialize)]
pub struct RoleForm {
    csrf: String,
    role: String,
}

/// `POST /orgs/{org}/groups/{group}/role`: Modify role.
pub async fn role(
    State(state): State<AppState>,
    Path(p): Path<GroupPage>,
    session: Session,
    Form(f): Form<RoleForm>,
) -> Response {
    if !session.csrf_ok(&f.csrf) {
        return session.csrf_refused();
    }
    let path = Path(GroupPath {
        group: p.group.clone(),
    });
    let answered = match request(json!({"role": f.role})) {
        Ok(body) => {
            session
                .answer(
                    api::assign_role(
                        State(state.clone()),
                        path,
                        session.caller.clone(),
                        Json(body),
                    )
                    .await,
                )
                .await
        }
        Err(r) => Err(r),
    };
    outcome(&state, &session, &p, answered, "group_role_changed").await
}
