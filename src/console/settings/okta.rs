//! Settings → Okta: SCIM provisioning (`/okta/scim`: its base URL, the
//! role people it creates get, the bearer token Okta uses, issued once and
//! revocable) and single sign-on (`/okta/sso`: the issuer, client id and
//! secret, just-in-time creation, whether passwords still work; the
//! redirect URIs to register at Okta).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::super::call::{latest, request, Refusal};
use super::super::session::{Posted, Session};
use super::super::{done, notice, refused, role_names, sign_in, Done};
use super::tab;
use crate::http::json::Json;
use crate::http::routes::{okta as scim_api, sso as sso_api};
use crate::http::state::AppState;
use domain::permissions::{known, Scope};

/// What the page shows besides the settings.
#[derive(Default)]
struct Shown {
    scim_token: Option<Value>,
    error: Option<Refusal>,
    notice: Option<&'static str>,
}

async fn show(state: &AppState, session: &Session, shown: Shown) -> Response {
    let loaded = async {
        let scim = session
            .answer(
                scim_api::scim_settings(State(state.clone()), latest(), session.caller.clone())
                    .await,
            )
            .await?;
        let sso = session
            .answer(sso_api::get(State(state.clone()), latest(), session.caller.clone()).await)
            .await;
        let sso = match sso {
            Ok(s) => Some(s),
            Err(r) if r.code == "sso_not_configured" => None,
            Err(r) => return Err(r),
        };
        Ok::<_, Refusal>((scim, sso))
    };
    let (scim, sso) = match loaded.await {
        Ok(l) => l,
        Err(r) => return refused(Some(&session.chrome("settings")), r),
    };
    let org = session.caller.org;
    let status = shown.error.as_ref().map_or(StatusCode::OK, |r| r.status);
    tab(
        state,
        session,
        "okta",
        status,
        "settings/okta.html",
        minijinja::context! {
            scim,
            sso,
            redirect_uris => [
                sso_api::redirect_uri(state, org),
                sign_in::console_redirect_uri(state, org),
            ],
            roles => role_names(state, session, Scope::Organization),
            scim_token => shown.scim_token,
            can_manage => session.holds(state, known::ORGANIZATION_OKTA_MANAGE),
            error => shown.error.map(|r| r.detail),
            notice => shown.notice,
        },
    )
}

/// `GET /orgs/{org}/settings/okta`.
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

/// `POST /orgs/{org}/settings/okta`: `intent` is `scim_role`,
/// `scim_token` (issued and shown once), `scim_revoke`, `sso` (saved once
/// the issuer's discovery succeeds) or `sso_remove`.
pub async fn act(State(state): State<AppState>, Posted { session, fields: f }: Posted) -> Response {
    let (st, caller) = (State(state.clone()), session.caller.clone());
    let intent = f.one("intent");
    let answered = match intent.as_str() {
        "scim_role" => match request(json!({"default_role": f.one("default_role")})) {
            Ok(b) => {
                session
                    .answer(scim_api::change_scim_settings(st, caller, Json(b)).await)
                    .await
            }
            Err(r) => Err(r),
        },
        "scim_token" => {
            session
                .answer(scim_api::issue_scim_token(st, caller).await)
                .await
        }
        "scim_revoke" => {
            session
                .answer(scim_api::revoke_scim_token(st, caller).await)
                .await
        }
        "sso" => {
            let body = json!({
                "issuer": f.one("issuer").trim(),
                "client_id": f.one("client_id").trim(),
                "client_secret": f.one("client_secret"),
                "jit_provisioning": f.checked("jit_provisioning"),
                "password_login": f.checked("password_login"),
            });
            match request(body) {
                Ok(b) => {
                    session
                        .answer(sso_api::set(st, caller, Json(b)).await)
                        .await
                }
                Err(r) => Err(r),
            }
        }
        "sso_remove" => session.answer(sso_api::remove(st, caller).await).await,
        _ => return done(&session.url("settings/okta"), ""),
    };
    let back = session.url("settings/okta");
    let shown = match answered {
        Ok(token) if intent == "scim_token" => Shown {
            scim_token: Some(token),
            notice: Some("SCIM token issued: copy it into Okta now, it is not shown again."),
            ..Shown::default()
        },
        Ok(_) if intent == "scim_revoke" => return done(&back, "scim_revoked"),
        Ok(_) if intent == "sso_remove" => return done(&back, "sso_removed"),
        Ok(_) => return done(&back, "saved"),
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
