//! Settings → Initialization job: the agent that runs the organization's
//! pipeline initialization (`PUT /settings/init-agent`): a cloud machine
//! type with one of its OS images, or a self-hosted agent type; the
//! choices are the API's catalog (`GET /settings/init-agent/options`).

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
        let current = session
            .answer(api::init_agent(State(state.clone()), latest(), session.caller.clone()).await)
            .await?;
        let options = session
            .answer(api::init_agent_catalog(State(state.clone()), session.caller.clone()).await)
            .await?;
        Ok::<_, Refusal>((current, options))
    };
    let (current, options) = match loaded.await {
        Ok(l) => l,
        Err(r) => return refused(Some(&session.chrome("settings")), r),
    };
    let mut images: Vec<&str> = options["cloud"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["os_images"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    images.sort_unstable();
    images.dedup();
    let status = error.as_ref().map_or(StatusCode::OK, |r| r.status);
    tab(
        state,
        session,
        "init_job",
        status,
        "settings/init_job.html",
        minijinja::context! {
            current,
            options,
            images,
            can_manage => session.holds(state, known::ORGANIZATION_GENERAL_SETTINGS_MANAGE),
            error => error.map(|r| r.detail),
            notice,
        },
    )
}

/// `GET /orgs/{org}/settings/init-job`.
pub async fn page(
    State(state): State<AppState>,
    Query(q): Query<Done>,
    session: Session,
) -> Response {
    show(&state, &session, None, notice(&q)).await
}

/// `POST /orgs/{org}/settings/init-job`: the agent chosen.
pub async fn save(
    State(state): State<AppState>,
    Posted { session, fields: f }: Posted,
) -> Response {
    let answered = async {
        let environment = f.one("environment");
        let body = request(if environment == "self_hosted" {
            json!({"environment": environment, "machine_type": f.one("self_hosted_type").trim()})
        } else {
            json!({"environment": environment, "machine_type": f.one("machine_type"),
                   "os_image": f.opt("os_image")})
        })?;
        let caller = session.caller.clone();
        session
            .answer(api::set_init_agent(State(state.clone()), caller, Json(body)).await)
            .await
    }
    .await;
    let to = session.url("settings/init-job");
    after(&session, answered, &to, "saved", |r| {
        show(&state, &session, Some(r), None)
    })
    .await
}
