//! Settings → IP allow list: the addresses the organization may be used
//! from (`PUT /settings/ip-allow-list`: CIDRs or addresses, one per line;
//! empty: from anywhere). A list that would refuse the address the change
//! comes from is refused (`would_lock_out`), and the page says which
//! address that is.

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::super::call::{lines, request, Fields, Refusal};
use super::super::session::Session;
use super::super::{done, notice, refused, Done};
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
    let got = match request(json!({})) {
        Ok(q) => {
            session
                .answer(
                    api::ip_allow_list(State(state.clone()), Query(q), session.caller.clone())
                        .await,
                )
                .await
        }
        Err(r) => Err(r),
    };
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
    session: Session,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let f = Fields(fields);
    if !session.csrf_ok(&f.one("csrf")) {
        return session.csrf_refused();
    }
    let typed = f.one("cidrs");
    let answered = match request(json!({"cidrs": lines(&typed)})) {
        Ok(b) => {
            session
                .answer(
                    api::set_ip_allow_list(State(state.clone()), session.caller.clone(), Json(b))
                        .await,
                )
                .await
        }
        Err(r) => Err(r),
    };
    match answered {
        Ok(_) => done(&session.url("settings/ip-allow-list"), "saved"),
        Err(r) if r.status == StatusCode::FORBIDDEN => {
            refused(Some(&session.chrome("settings")), r)
        }
        Err(r) => show(&state, &session, Some(typed), Some(r), None).await,
    }
}
