//! `Idempotency-Key` on commands: the same key and body from the same caller
//! within 24 hours get the first answer again (with `Idempotent-Replayed:
//! true`) and append nothing; the same key with a different body is refused
//! with 422 `idempotency_key_reused`. Concurrent requests with one key wait
//! for each other. Only successful answers are kept: a refused command
//! appended nothing, so trying it again is harmless.
//!
//! The answers live in the read-model database (`idempotency.sql`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rusqlite::OptionalExtension;
use sha2::{Digest, Sha256};

use super::problem::Problem;
use super::state::AppState;
use super::MAX_BODY;

/// How long a key is remembered.
const KEEP_MICROS: i64 = 24 * 3600 * 1_000_000;

/// The lock of one (caller, key) in flight.
type KeyLock = Arc<tokio::sync::Mutex<()>>;

/// (caller, key) -> its lock.
type KeyLockMap = HashMap<(Vec<u8>, String), KeyLock>;

/// One lock per (caller, key) in flight.
#[derive(Clone, Default)]
pub struct KeyLocks(Arc<parking_lot::Mutex<KeyLockMap>>);

/// A kept answer, with the hash of the request that got it.
struct Stored {
    request_hash: Vec<u8>,
    status: u16,
    position: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

fn open(db: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = projections::db::open(db)?;
    conn.execute_batch(include_str!("idempotency.sql"))?;
    Ok(conn)
}

async fn find(db: PathBuf, principal: Vec<u8>, key: String) -> Result<Option<Stored>, Problem> {
    tokio::task::spawn_blocking(move || {
        let conn = open(&db)?;
        let now = chrono::Utc::now().timestamp_micros();
        conn.execute(
            "DELETE FROM idempotency_keys WHERE created_at < ?1",
            [now - KEEP_MICROS],
        )?;
        conn.query_row(
            "SELECT request_hash, status, position, content_type, body FROM idempotency_keys
             WHERE principal = ?1 AND key = ?2",
            rusqlite::params![principal, key],
            |r| {
                Ok(Stored {
                    request_hash: r.get(0)?,
                    status: r.get::<_, i64>(1)? as u16,
                    position: r.get(2)?,
                    content_type: r.get(3)?,
                    body: r.get(4)?,
                })
            },
        )
        .optional()
    })
    .await
    .map_err(Problem::internal)?
    .map_err(Problem::internal)
}

async fn keep(db: PathBuf, principal: Vec<u8>, key: String, stored: Stored) -> Result<(), Problem> {
    tokio::task::spawn_blocking(move || {
        open(&db)?.execute(
            "INSERT OR REPLACE INTO idempotency_keys
             (principal, key, request_hash, status, position, content_type, body, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            rusqlite::params![
                principal,
                key,
                stored.request_hash,
                stored.status as i64,
                stored.position,
                stored.content_type,
                stored.body,
                chrono::Utc::now().timestamp_micros()
            ],
        )
    })
    .await
    .map_err(Problem::internal)?
    .map_err(Problem::internal)?;
    Ok(())
}

fn replay(stored: Stored) -> Response {
    let mut response = Response::new(Body::from(stored.body));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    if let Some(ct) = stored
        .content_type
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    if let Some(p) = stored.position.and_then(|p| HeaderValue::from_str(&p).ok()) {
        headers.insert("rolebook-position", p);
    }
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// The middleware.
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
    let principal: Vec<u8> = Sha256::digest(
        request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes())
            .unwrap_or_default(),
    )
    .to_vec();
    let (parts, body) = request.into_parts();
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
    let mut h = Sha256::new();
    h.update(parts.method.as_str());
    h.update([0]);
    h.update(parts.uri.to_string());
    h.update([0]);
    h.update(&bytes);
    let request_hash = h.finalize().to_vec();

    let lock = state
        .idempotency
        .0
        .lock()
        .entry((principal.clone(), key.clone()))
        .or_default()
        .clone();
    let _held = lock.lock().await;
    let db = state.read_db.clone();
    let outcome = async {
        if let Some(stored) = find(db.clone(), principal.clone(), key.clone()).await? {
            if stored.request_hash != request_hash {
                return Ok(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with a different request",
                )
                .into_response());
            }
            return Ok(replay(stored));
        }
        let response = next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
        if !response.status().is_success() {
            return Ok(response);
        }
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
            .await
            .map_err(Problem::internal)?;
        let header = |name| {
            parts
                .headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        keep(
            db,
            principal.clone(),
            key.clone(),
            Stored {
                request_hash,
                status: parts.status.as_u16(),
                position: header("rolebook-position"),
                content_type: header(header::CONTENT_TYPE.as_str()),
                body: body.to_vec(),
            },
        )
        .await?;
        Ok::<Response, Problem>(Response::from_parts(parts, Body::from(body)))
    }
    .await;
    drop(_held);
    state.idempotency.0.lock().remove(&(principal, key));
    outcome.unwrap_or_else(IntoResponse::into_response)
}
