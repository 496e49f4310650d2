//! Settings → Notifications: the Slack and webhook targets the audit log
//! is delivered to, with their rules and delivery state (`GET
//! /notifications`); New notification (a name, a kind, the URL, the
//! resource types and actions it wants: `POST /notifications`, its
//! signing secret shown once); Send a test, Resume a paused target,
//! Remove.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::super::call::{latest, request, Refusal};
use super::super::session::{Posted, Session};
use super::super::{done, notice, refused, Done};
use super::tab;
use crate::http::json::Json;
use crate::http::routes::notifications::{self as api, TargetPath};
use crate::http::state::AppState;
use domain::notifications::{ACTIONS, RESOURCE_TYPES};
use domain::permissions::known;

/// What the page shows besides the targets.
#[derive(Default)]
struct Shown {
    created: Option<Value>,
    tested: Option<Value>,
    error: Option<Refusal>,
    notice: Option<&'static str>,
}

async fn show(state: &AppState, session: &Session, shown: Shown) -> Response {
    let got = session
        .answer(api::list(State(state.clone()), latest(), session.caller.clone()).await)
        .await;
    let list = match got {
        Ok(l) => l,
        Err(r) => return refused(Some(&session.chrome("settings")), r),
    };
    let status = shown.error.as_ref().map_or(StatusCode::OK, |r| r.status);
    tab(
        state,
        session,
        "notifications",
        status,
        "settings/notifications.html",
        minijinja::context! {
            targets => list["targets"].clone(),
            resource_types => RESOURCE_TYPES,
            actions => ACTIONS,
            created => shown.created,
            tested => shown.tested,
            can_manage => session.holds(state, known::ORGANIZATION_NOTIFICATIONS_MANAGE),
            error => shown.error.map(|r| r.detail),
            notice => shown.notice,
        },
    )
}

/// `GET /orgs/{org}/settings/notifications`.
pub async fn page(
    State(state): State<AppState>,
    Query(q): Query<Done>,
    session: Session,
) -> Response {
    let shown = Shown {
        notice: notice(&q),
        ..Shown::default()
    };
    show(&state, &session, shown).await
}

/// `POST /orgs/{org}/settings/notifications`: `intent` is `create`, or
/// `test`, `resume` or `remove` of the target `id`.
pub async fn act(State(state): State<AppState>, Posted { session, fields: f }: Posted) -> Response {
    let (st, caller) = (State(state.clone()), session.caller.clone());
    let path = || {
        Path(TargetPath {
            org: session.org.clone(),
            id: f.one("id"),
        })
    };
    let intent = f.one("intent");
    let answered = match intent.as_str() {
        "create" => {
            let body = json!({
                "name": f.one("name").trim(),
                "kind": f.one("kind"),
                "url": f.one("url").trim(),
                "rules": [{"resource_types": f.all("resource_type"), "actions": f.all("action")}],
            });
            match request(body) {
                Ok(b) => session.answer(api::create(st, caller, Json(b)).await).await,
                Err(r) => Err(r),
            }
        }
        "test" => session.answer(api::test(st, path(), caller).await).await,
        "resume" => session.answer(api::resume(st, path(), caller).await).await,
        "remove" => session.answer(api::remove(st, path(), caller).await).await,
        _ => return done(&session.url("settings/notifications"), ""),
    };
    let shown = match answered {
        Ok(_) if intent == "remove" => {
            return done(
                &session.url("settings/notifications"),
                "notification_removed",
            )
        }
        Ok(_) if intent == "resume" => {
            return done(
                &session.url("settings/notifications"),
                "notification_resumed",
            )
        }
        Ok(body) if intent == "test" => Shown {
            tested: Some(body),
            ..Shown::default()
        },
        // The signing secret, shown on this page only.
        Ok(body) => Shown {
            created: Some(body),
            ..Shown::default()
        },
        Err(r) if r.status == StatusCode::FORBIDDEN => {
            return refused(Some(&session.chrome("settings")), r)
        }
        Err(r) => Shown {
            error: Some(r),
            ..Shown::default()
        },
    };
    let session = match session.refreshed(&state).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    show(&state, &session, shown).await
}
