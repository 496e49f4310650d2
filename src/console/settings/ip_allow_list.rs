//! Settings → IP allow list: the addresses the organization may be used
//! from (`PUT /settings/ip-allow-list`: CIDRs or addresses, one per line;
//! empty: from anywhere). A list that would refuse the address the change
//! comes from is refused (`would_lock_out`), and the page says which
//! address that is.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::super::call::{latest, lines, request, Refusal};
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
    typed: Option<String>,
    error: Option<Refusal>,
    notice: Option<&'static str>,
) -> Response {
    let got = session
        .answer(api::ip_allow_list(State(state.clone()), latest(), session.caller.clone()).await)
        .await;
    let list = match got {
        Ok(l) => l,
        Err(r) => return refused(Some(&session.chrome("settings")), r),
    };
    let text = typed.unwrap_or_else(|| {
        list["cidrs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    });
    let status = error.as_ref().map_or(StatusCode::OK, |r| r.status);
    tab(
        state,
        session,
        "ip_allow_list",
        status,
        "settings/ip_allow_list.html",
        minijinja::context! {
            list,
            text,
            can_manage => session.holds(state, known::ORGANIZATION_IP_ALLOW_LIST_MANAGE),
            error => error.map(|r| r.detail),
            notice,
        },
    )
}

/// `GET /orgs/{org}/settings/ip-allow-list`.
pub async fn page(
    State(state): State<AppState>,
    Query(q): Query<Done>,
    session: Session,
) -> Response {
    show(&state, &session, None, None, notice(&q)).await
}

/// `POST /orgs/{org}/settings/ip-allow-list`: the list as typed.
pub async fn save(
    State(state): State<AppState>,
    Posted { session, fields: f }: Posted,
) -> Response {
    let typed = f.one("cidrs");
    let answered = async {
        let body = request(json!({"cidrs": lines(&typed)}))?;
        let caller = session.caller.clone();
        session
            .answer(api::set_ip_allow_list(State(state.clone()), caller, Json(body)).await)
            .await
    }
    .await;
    let to = session.url("settings/ip-allow-list");
    after(&session, answered, &to, "saved", |r| {
        show(&state, &session, Some(typed.clone()), Some(r), None)
    })
    .await
}
