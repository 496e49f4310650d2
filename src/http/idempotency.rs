//! `Idempotency-Key` on commands: the same key and request from the same
//! caller within 24 hours get the first answer again (with `Idempotent-
//! Replayed: true`) and append nothing, after any crash; the same key with
//! another request is refused with 422 `idempotency_key_reused`.
//! Concurrent requests with one key wait for each other. Only successful
//! answers are kept: a refused command appended nothing, so trying it
//! again is harmless.
//!
//! The answer of a command that appends is rendered before its commit and
//! kept, sealed, in the event store in the same transaction as its events
//! (`commands::answers`); the layer keeps the others (logins, no-ops)
//! itself, sealed the same way, once they are answered. Nothing is kept in
//! the clear: a kept answer opens only for the request that made it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use commands::answers::RequestParts;
use commands::{Answer, Idempotency, Whole};
use domain::store::ANSWERS_KEPT_FOR;

use super::command::{give, AnswerKept};
use super::problem::Problem;
use super::state::AppState;
use super::MAX_BODY;

/// The lock of one (caller, key) in flight.
type KeyLock = Arc<tokio::sync::Mutex<()>>;

/// (caller, key) -> its lock.
type KeyLockMap = HashMap<([u8; 32], String), KeyLock>;

/// One lock per (caller, key) in flight, and when expired answers were
/// last forgotten.
#[derive(Clone, Default)]
pub struct KeyLocks {
    locks: Arc<parking_lot::Mutex<KeyLockMap>>,
    last_sweep: Arc<AtomicI64>,
}

/// Drops the plaintext answers table older versions kept in the read-model
/// database (see `forget_plaintext_answers.sql`).
pub fn forget_plaintext_answers(read_db: &std::path::Path) -> rusqlite::Result<()> {
    let conn = projections::db::open(read_db)?;
    conn.execute_batch(include_str!("forget_plaintext_answers.sql"))?;
    // The dropped pages may still sit in the WAL: write them back and empty it.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

fn kept_since() -> chrono::DateTime<Utc> {
    Utc::now() - chrono::Duration::from_std(ANSWERS_KEPT_FOR).expect("a day fits")
}

/// Forgets expired answers, at most once a minute.
async fn sweep(state: &AppState) {
    let now = Utc::now().timestamp();
    let last = state.idempotency.last_sweep.load(Ordering::Relaxed);
    if now - last < 60
        || state
            .idempotency
            .last_sweep
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    if let Err(e) = state.service.store().forget_answers(kept_since()).await {
        tracing::warn!(error = %e, "cannot forget expired idempotency answers");
    }
}

/// A kept answer given again; `position` is the one kept with the
/// command's events (none for an answer kept whole).
fn replayed(answer: &Answer, position: Option<u64>) -> Response {
    let mut response = give(answer, position.unwrap_or_default());
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// The middleware (on the API's routes only: an undeclared method or path
/// is answered 404/405 before any key is looked at).
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let is_command = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let Some(key) = request.headers().get("idempotency-key").cloned() else {
        return next.run(request).await;
    };
    if !is_command {
        return next.run(request).await;
    }
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => {
            k.to_string()
        }
        _ => {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
            .into_response()
        }
    };
    let (mut parts, body) = request.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "bodies are limited to 1 MiB",
            )
            .into_response()
        }
    };
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default();
    let uri = parts.uri.to_string();
    let claim = Idempotency::of(
        &state.answer_key,
        &RequestParts {
            authorization: &authorization,
            method: parts.method.as_str(),
            uri: &uri,
            body: &bytes,
            key: &key,
        },
    );

    let lock_key = (*claim.principal(), key.clone());
    let lock = state
        .idempotency
        .locks
        .lock()
        .entry(lock_key.clone())
        .or_default()
        .clone();
    let held = lock.lock().await;
    let outcome = async {
        sweep(&state).await;
        let store = state.service.store();
        if let Some(stored) = store
            .find_answer(claim.principal(), &key, kept_since())
            .await
            .map_err(Problem::internal)?
        {
            return Ok(match claim.open(&stored) {
                Some(answer) => replayed(&answer, stored.position),
                None => Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with a different request",
                )
                .into_response(),
            });
        }
        parts.extensions.insert(claim.clone());
        let response = next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
        if !response.status().is_success() || response.extensions().get::<AnswerKept>().is_some() {
            return Ok(response);
        }
        // Appended nothing (a login, a no-op): kept whole, now.
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
            .await
            .map_err(Problem::internal)?;
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let answer = Answer {
            status: parts.status.as_u16(),
            body: (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned()),
            whole: Some(Whole {
                content_type: header(header::CONTENT_TYPE.as_str()),
                position: header("rolebook-position").and_then(|p| p.parse().ok()),
            }),
        };
        store
            .keep_answer(claim.seal(&answer))
            .await
            .map_err(Problem::internal)?;
        Ok::<Response, Problem>(Response::from_parts(parts, Body::from(body)))
    }
    .await;
    drop(held);
    state.idempotency.locks.lock().remove(&lock_key);
    outcome.unwrap_or_else(IntoResponse::into_response)
}
