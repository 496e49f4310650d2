//! Settings → General: the organization's name and URL (`PATCH
//! /settings`) and how workflows run (`PATCH /settings/workflows`: fork
//! pull requests, default queue, job timeout, manual promotions). Reading
//! needs `organization.general_settings.view`, saving `.manage`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::super::call::{latest, request, Refusal};
use super::super::session::{Posted, Session};
use super::super::{after, notice, refused, Done};
use super::tab;
use crate::http::json::Json;
use crate::http::routes::settings as api;
use crate::http::state::AppState;
use domain::permissions::known;

async fn show(
    state: &AppState,
    session: &Session,
    error: Option<Refusal>,
    notice: Option<&'static str>,
) -> Response {
    let loaded = async {
        let general = session
            .answer(api::settings(State(state.clone()), latest(), session.caller.clone()).await)
            .await?;
        let workflows = session
            .answer(api::workflows(State(state.clone()), latest(), session.caller.clone()).await)
            .await?;
        Ok::<_, Refusal>((general, workflows))
    };
    let (general, workflows) = match loaded.await {
        Ok(l) => l,
        Err(r) => return refused(Some(&session.chrome("settings")), r),
    };
    let status = error.as_ref().map_or(StatusCode::OK, |r| r.status);
    tab(
        state,
        session,
        "general",
        status,
        "settings/general.html",
        minijinja::context! {
            general,
            workflows,
            fork_policies => ["disabled", "without_secrets", "with_secrets"],
            can_manage => session.holds(state, known::ORGANIZATION_GENERAL_SETTINGS_MANAGE),
            error => error.map(|r| r.detail),
            notice,
        },
    )
}

/// `GET /orgs/{org}/settings/general`.
pub async fn page(
    State(state): State<AppState>,
    Query(q): Query<Done>,
    session: Session,
) -> Response {
    show(&state, &session, None, notice(&q)).await
}

/// `POST /orgs/{org}/settings/general`: the form of `intent`
/// (`organization` or `workflows`) saved.
pub async fn save(
    State(state): State<AppState>,
    Posted { session, fields: f }: Posted,
) -> Response {
    let caller = session.caller.clone();
    let answered = async {
        if f.one("intent") == "workflows" {
            // A number when it is one: the API names what else is wrong.
            let typed = f.one("job_timeout_minutes");
            let minutes: Value = typed
                .trim()
                .parse::<u64>()
                .map_or_else(|_| Value::String(typed.clone()), Value::from);
            let body = request(json!({
                "fork_pull_requests": f.one("fork_pull_requests"),
                "default_queue": f.one("default_queue").trim(),
                "job_timeout_minutes": minutes,
                "manual_promotions": f.checked("manual_promotions"),
            }))?;
            session
                .answer(api::change_workflows(State(state.clone()), caller, Json(body)).await)
                .await
        } else {
            let body = request(json!({"name": f.one("name").trim(), "url": f.opt("url")}))?;
            session
                .answer(api::change_settings(State(state.clone()), caller, Json(body)).await)
                .await
        }
    }
    .await;
    let to = session.url("settings/general");
    after(&session, answered, &to, "saved", |r| {
        show(&state, &session, Some(r), None)
    })
    .await
}
