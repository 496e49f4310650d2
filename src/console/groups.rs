//! Groups: the organization's groups with their role and members (`GET
//! /groups`), Create group (name, description, members: `POST /groups`),
//! and a group's page: Modify group (rename, describe, add and remove
//! members: `PATCH /groups/{group}`) and Modify role (`PUT
//! /groups/{group}/role`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::call::{latest, lines, request, Refusal};
use super::session::{Posted, Session};
use super::{after, notice, refused, render, role_names, seg, Done};
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

/// `POST /orgs/{org}/groups`: Create group (name, description, members
/// one per line), then the group's page.
pub async fn create(
    State(state): State<AppState>,
    Posted { session, fields: f }: Posted,
) -> Response {
    let answered = async {
        let body = request(json!({
            "name": f.one("name"),
            "description": f.one("description"),
            "members": lines(&f.one("members")),
        }))?;
        let caller = session.caller.clone();
        session
            .answer(api::create(State(state.clone()), caller, Json(body)).await)
            .await
    }
    .await;
    let id = answered
        .as_ref()
        .ok()
        .and_then(|g| g["group_id"].as_str())
        .unwrap_or_default()
        .to_string();
    let to = session.url(&format!("groups/{}", seg(&id)));
    after(&session, answered, &to, "group_created", |r| {
        list(&state, &session, None, Some(r), None)
    })
    .await
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
        latest(),
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

/// `POST /orgs/{org}/groups/{group}/members`: Modify group: its name and
/// description, the members to add (one per line) and the ones whose
/// `remove` box is checked.
pub async fn members(
    State(state): State<AppState>,
    Path(p): Path<GroupPage>,
    Posted { session, fields: f }: Posted,
) -> Response {
    let answered = async {
        let body = request(json!({
            "name": f.opt("name"),
            "description": f.opt("description"),
            "add_members": lines(&f.one("add_members")),
            "remove_members": f.all("remove"),
        }))?;
        let path = Path(GroupPath {
            group: p.group.clone(),
        });
        let caller = session.caller.clone();
        session
            .answer(api::change(State(state.clone()), path, caller, Json(body)).await)
            .await
    }
    .await;
    let to = session.url(&format!("groups/{}", seg(&p.group)));
    after(&session, answered, &to, "members_changed", |r| {
        show(&state, &session, &p.group, Some(r), None)
    })
    .await
}

/// `POST /orgs/{org}/groups/{group}/role`: Modify role.
pub async fn role(
    State(state): State<AppState>,
    Path(p): Path<GroupPage>,
    Posted { session, fields: f }: Posted,
) -> Response {
    let answered = async {
        let body = request(json!({"role": f.one("role")}))?;
        let path = Path(GroupPath {
            group: p.group.clone(),
        });
        let caller = session.caller.clone();
        session
            .answer(api::assign_role(State(state.clone()), path, caller, Json(body)).await)
            .await
    }
    .await;
    let to = session.url(&format!("groups/{}", seg(&p.group)));
    after(&session, answered, &to, "group_role_changed", |r| {
        show(&state, &session, &p.group, Some(r), None)
    })
    .await
}
