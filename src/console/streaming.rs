//! Configure Streaming: where the audit log is streamed (AWS S3 or Google
//! Cloud Storage: region, bucket, prefix, keys) and the last run's result
//! (`GET /audit-logs/streaming`). Test connection writes and reads back a
//! test object with the keys typed (`POST /audit-logs/streaming/test`);
//! saving tests first and saves only a target that passed (`PUT
//! /audit-logs/streaming`). The keys are never shown again.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::call::{latest, request, Refusal};
use super::session::{Posted, Session};
use super::{done, notice, refused, render, Done};
use crate::http::json::Json;
use crate::http::routes::audit as api;
use crate::http::state::AppState;
use domain::permissions::known;

/// What the page shows besides the stored target.
#[derive(Default)]
struct Shown {
    /// The form as typed (without the secret), when it is shown again.
    typed: Option<Value>,
    tested: Option<Value>,
    error: Option<Refusal>,
    notice: Option<&'static str>,
}

async fn show(state: &AppState, session: &Session, shown: Shown) -> Response {
    let chrome = session.chrome("audit");
    let got = session
        .answer(api::streaming(State(state.clone()), latest(), session.caller.clone()).await)
        .await;
    let current = match got {
        Ok(t) => Some(t),
        Err(r) if r.code == "streaming_not_configured" => None,
        Err(r) => return refused(Some(&chrome), r),
    };
    let form = shown
        .typed
        .or_else(|| current.clone())
        .unwrap_or_else(|| json!({"provider": "s3"}));
    let status = shown.error.as_ref().map_or(StatusCode::OK, |r| r.status);
    render(
        status,
        "streaming.html",
        minijinja::context! {
            current,
            form,
            tested => shown.tested,
            error => shown.error.map(|r| r.detail),
            notice => shown.notice,
            can_manage => session.holds(state, known::ORGANIZATION_AUDIT_LOGS_MANAGE),
            ..minijinja::Value::from_serialize(&chrome),
        },
    )
}

/// `GET /orgs/{org}/audit-logs/streaming`: the target and its last run
/// (needs `organization.audit_logs.view`).
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

/// `POST /orgs/{org}/audit-logs/streaming`: the button pressed
/// (`intent`): Test connection (`test`), Test and save (`save`) or Remove
/// (`remove`).
pub async fn save(
    State(state): State<AppState>,
    Posted { session, fields: f }: Posted,
) -> Response {
    let back = session.url("audit-logs/streaming");
    let intent = f.one("intent");
    if intent == "remove" {
        let removed = session
            .answer(api::remove_streaming(State(state.clone()), session.caller.clone()).await)
            .await;
        return match removed {
            Ok(_) => done(&back, "streaming_removed"),
            Err(r) => refused(Some(&session.chrome("audit")), r),
        };
    }
    let body = json!({
        "provider": f.one("provider"),
        "bucket": f.one("bucket").trim(),
        "region": f.opt("region"),
        "endpoint": f.opt("endpoint"),
        "prefix": f.opt("prefix"),
        "access_key_id": f.one("access_key_id").trim(),
        "secret_access_key": f.one("secret_access_key"),
    });
    let mut typed = body.clone();
    typed["access_key_id"] = Value::Null;
    typed["secret_access_key"] = Value::Null;
    let tested = match request(body.clone()) {
        Ok(b) => {
            session
                .answer(
                    api::test_streaming(State(state.clone()), session.caller.clone(), Json(b))
                        .await,
                )
                .await
        }
        Err(r) => Err(r),
    };
    let shown = match tested {
        Err(r) if r.status == StatusCode::FORBIDDEN => {
            return refused(Some(&session.chrome("audit")), r)
        }
        Err(r) => Shown {
            typed: Some(typed),
            error: Some(r),
            ..Shown::default()
        },
        Ok(t) if intent != "save" => Shown {
            typed: Some(typed),
            tested: Some(t),
            ..Shown::default()
        },
        Ok(_) => {
            let saved = match request(body) {
                Ok(b) => {
                    session
                        .answer(
                            api::set_streaming(
                                State(state.clone()),
                                session.caller.clone(),
                                Json(b),
                            )
                            .await,
                        )
                        .await
                }
                Err(r) => Err(r),
            };
            match saved {
                Ok(_) => return done(&back, "saved"),
                Err(r) => Shown {
                    typed: Some(typed),
                    error: Some(r),
                    ..Shown::default()
                },
            }
        }
    };
    show(&state, &session, shown).await
}
