//! The audit log (`GET /audit-logs`, `GET /audit-logs/export.csv`), its
//! streaming target (`/audit-logs/streaming`) and the organization's
//! settings (`/settings`).
//!
//! Reading the log and the streaming target needs
//! `organization.audit_logs.view`; changing the target needs
//! `organization.audit_logs.manage` (checked by the command). Settings are
//! read with `organization.view` (every role has it) and changed with
//! `organization.general_settings.manage` (checked by the command).
//!
//! Audit queries wait for the `audit` projection (and the access model,
//! which answers the permission check) when `at_least` is given, and run on
//! a blocking thread over a read-only rusqlite connection.

use std::io;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use domain::commands::StreamingTarget;
use domain::ids::{OrgId, UserId};
use domain::Command;
use projections::audit::{self, AuditEntry, AuditError, AuditFilter, Operation, ResourceType};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{committed, committed_empty, AtLeast};
use crate::http::auth::{Bearer, Caller, Origin};
use crate::http::problem::{ApiResult, Problem};
use crate::http::resolve;
use crate::http::state::{AppState, CONSISTENCY_WAIT};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    from: Option<String>,
    to: Option<String>,
    actor: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    action: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
    at_least: Option<u64>,
}

fn instant(field: &str, value: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Problem::invalid(
                field,
                "invalid_time",
                format!("{field} {value:?}: expected RFC 3339, e.g. 2026-01-31T12:00:00Z"),
            )
        })
}

fn audit_problem(e: AuditError) -> Problem {
    match &e {
        AuditError::InvalidCursor(_) => Problem::invalid("cursor", e.code(), e.to_string()),
        AuditError::InvalidFilter { field, .. } => Problem::invalid(field, e.code(), e.to_string()),
        _ => Problem::internal(e),
    }
}

/// Authorizes the caller, waits for the audit projection and turns the
/// query into a filter.
async fn filter(state: &AppState, caller: &Caller, q: AuditQuery) -> ApiResult<AuditFilter> {
    if let Some(position) = q.at_least {
        state
            .positions
            .wait("audit", position, CONSISTENCY_WAIT)
            .await?;
    }
    // Permissions (and actor names) come from the access model: it too must
    // have seen what the caller saw.
    state.consistent(q.at_least).await?;
    state.require(caller, "organization.audit_logs.view")?;
    let mut f = AuditFilter::new(caller.org);
    f.from = q.from.as_deref().map(|v| instant("from", v)).transpose()?;
    f.to = q.to.as_deref().map(|v| instant("to", v)).transpose()?;
    if let (Some(from), Some(to)) = (f.from, f.to) {
        if from > to {
            return Err(Problem::invalid(
                "from",
                "invalid_filter",
                format!("from ({from}) is after to ({to})"),
            ));
        }
    }
    f.actor = match q.actor {
        // An id names the actor even after they were removed.
        Some(a) => Some(match a.parse::<UserId>() {
            Ok(id) => id,
            Err(_) => {
                let model = state.model.read();
                let o = model
                    .org(caller.org)
                    .ok_or_else(|| Problem::not_found("user_not_found", "no such user"))?;
                resolve::user(&o.state, &a)?
            }
        }),
        None => None,
    };
    f.resource_type = q
        .resource_type
        .map(|t| {
            ResourceType::ALL
                .into_iter()
                .find(|r| r.as_str().eq_ignore_ascii_case(&t))
                .ok_or_else(|| {
                    Problem::invalid(
                        "resource_type",
                        "invalid_resource_type",
                        format!(
                            "resource_type {t:?}: expected one of {}",
                            ResourceType::ALL.map(|r| r.as_str()).join(", ")
                        ),
                    )
                })
        })
        .transpose()?;
    f.resource_id = q.resource_id;
    f.operation = q
        .action
        .map(|a| {
            Operation::ALL
                .into_iter()
                .find(|o| o.as_str().eq_ignore_ascii_case(&a))
                .ok_or_else(|| {
                    Problem::invalid(
                        "action",
                        "invalid_action",
                        format!("action {a:?}: expected Added, Removed or Modified"),
                    )
                })
        })
        .transpose()?;
    f.limit = q.limit.unwrap_or(audit::DEFAULT_LIMIT);
    if let Some(c) = &q.cursor {
        audit::decode_cursor(c).map_err(audit_problem)?;
    }
    f.cursor = q.cursor;
    Ok(f)
}

fn entry_json(e: &AuditEntry) -> Value {
    json!({
        "position": e.position,
        "occurred_at": e.occurred_at,
        "actor": {"user_id": e.actor_id, "username": e.actor_username},
        "action": e.operation,
        "resource_type": e.resource_type,
        "resource_id": e.resource_id,
        "resource_name": e.resource_name,
        "description": e.description,
        "medium": e.medium,
        "ip": e.ip,
        "user_agent": e.user_agent,
        "request_id": e.request_id,
        "metadata": e.metadata,
    })
}

/// `GET /audit-logs`: newest first, `{events: [...], next_cursor}`.
pub async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    Query(q): Query<AuditQuery>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Json<Value>> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let filter = filter(&state, &caller, q).await?;
    let db = state.read_db.clone();
    let page = tokio::task::spawn_blocking(move || {
        let conn = projections::db::open_read_only(&db).map_err(Problem::internal)?;
        audit::page(&conn, &filter).map_err(audit_problem)
    })
    .await
    .map_err(Problem::internal)??;
    Ok(Json(json!({
        "events": page.entries.iter().map(entry_json).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    })))
}

/// An `io::Write` that hands each chunk (the CSV writer's 64 KiB buffer) to
/// the response body. When the client goes away, writes fail with
/// `BrokenPipe` and the export stops.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<io::Result<Vec<u8>>>,
}

impl io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .blocking_send(Ok(buf.to_vec()))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `GET /audit-logs/export.csv`: the same filters (`limit` and `cursor`
/// ignored), oldest first, `text/csv` streamed from a blocking thread
/// through a bounded channel, so memory stays constant whatever the size.
pub async fn export_csv(
    State(state): State<AppState>,
    Path(org): Path<String>,
    Query(q): Query<AuditQuery>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let filter = filter(&state, &caller, q).await?;
    let db = state.read_db.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Vec<u8>>>(4);
    let (opened, ready) = tokio::sync::oneshot::channel::<Result<(), String>>();
    tokio::task::spawn_blocking(move || {
        // Fail before the 200 goes out if the log cannot be read at all.
        let conn = match projections::db::open_read_only(&db).and_then(|c| {
            c.prepare("SELECT 1 FROM audit_log LIMIT 0")?;
            Ok(c)
        }) {
            Ok(c) => {
                let _ = opened.send(Ok(()));
                c
            }
            Err(e) => {
                let _ = opened.send(Err(e.to_string()));
                return;
            }
        };
        let out = ChannelWriter { tx: tx.clone() };
        match audit::export(&conn, &filter, out) {
            Ok(rows) => tracing::debug!(rows, "audit log exported"),
            Err(e) if e.is_broken_pipe() => tracing::debug!("audit export: client went away"),
            Err(e) => {
                tracing::error!(error = %e, "audit export failed mid-stream");
                // Ends the body with an error: the client sees a cut answer,
                // never a silently short file.
                let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
            }
        }
    });
    ready
        .await
        .map_err(Problem::internal)?
        .map_err(Problem::internal)?;
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit-log.csv\"",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

// ---- streaming target ------------------------------------------------------

/// The streaming target's keys are not part of the event (the log is
/// immutable and exported): they live in table `streaming_credentials` of
/// the read-model database, encrypted at rest (`replay::streaming::
/// credentials`: AES-256-GCM, key file `streaming.key` in the data dir).
mod credentials {
    use std::path::Path;

    use domain::ids::OrgId;
    use replay::streaming::{Credentials, StreamingError};

    pub fn put(db: &Path, org: OrgId, key_id: &str, secret: &str) -> Result<(), StreamingError> {
        Credentials::open(db)?.put(org, key_id, secret)
    }

    pub fn delete(db: &Path, org: OrgId) -> Result<(), StreamingError> {
        Credentials::open(db)?.delete(org)
    }

    pub fn stored(db: &Path, org: OrgId) -> Result<bool, StreamingError> {
        Credentials::open(db)?.stored(org)
    }
}

async fn blocking<T: Send + 'static, E: std::fmt::Display + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(Problem::internal)?
        .map_err(Problem::internal)
}

fn streaming_json(
    target: &StreamingTarget,
    secrets_stored: bool,
    last_run: Option<&replay::streaming::RunRecord>,
) -> Value {
    let masked = if secrets_stored {
        json!("***")
    } else {
        Value::Null
    };
    json!({
        "provider": target.provider,
        "bucket": target.bucket,
        "region": target.region,
        "endpoint": target.endpoint,
        "prefix": target.prefix,
        "access_key_id": masked,
        "secret_access_key": masked,
        "last_run": last_run.map(|r| json!({
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "ok": r.error.is_none(),
            "days": r.days,
            "objects": r.objects,
            "bytes": r.bytes,
            "error": r.error,
        })),
    })
}

/// `GET /audit-logs/streaming`: the target with its secrets written
/// `"***"` and `last_run` (the last streaming run that had work or failed:
/// `{started_at, finished_at, ok, days, objects, bytes, error}`, or null);
/// 404 `streaming_not_configured` when there is none.
pub async fn streaming(
    State(state): State<AppState>,
    Path(org): Path<String>,
    Query(q): Query<AtLeast>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Json<Value>> {
    let caller = state.caller(&org, &bearer, origin).await?;
    state.consistent(q.at_least).await?;
    state.require(&caller, "organization.audit_logs.view")?;
    let target = {
        let model = state.model.read();
        model
            .org(caller.org)
            .and_then(|o| o.state.audit_streaming.clone())
    };
    let Some(t) = target else {
        return Err(Problem::not_found(
            "streaming_not_configured",
            "audit streaming is not configured",
        ));
    };
    let target = StreamingTarget {
        provider: t.provider,
        bucket: t.bucket,
        region: t.region,
        endpoint: t.endpoint,
        prefix: t.prefix,
    };
    let db = state.read_db.clone();
    let org = caller.org;
    let (stored, last_run) = blocking(move || {
        let stored = credentials::stored(&db, org)?;
        let last_run = replay::streaming::ledger::last_run(&db, org)?;
        Ok::<_, replay::streaming::StreamingError>((stored, last_run))
    })
    .await?;
    Ok(Json(streaming_json(&target, stored, last_run.as_ref())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamingBody {
    provider: String,
    bucket: String,
    region: Option<String>,
    endpoint: Option<String>,
    access_key_id: String,
    secret_access_key: String,
    prefix: Option<String>,
}

fn secret_field(field: &str, value: &str) -> ApiResult<()> {
    if value.trim().is_empty() || value.len() > 1024 || value.chars().any(char::is_control) {
        return Err(Problem::invalid(
            field,
            "invalid_secret",
            format!("{field} must be 1 to 1024 bytes without control characters"),
        ));
    }
    Ok(())
}

/// `PUT /audit-logs/streaming`: sets the target (the event holds no
/// secret; the keys are stored beside the log); 200 with the secrets
/// written `"***"`.
pub async fn set_streaming(
    State(state): State<AppState>,
    Path(org): Path<String>,
    bearer: Bearer,
    origin: Origin,
    Json(body): Json<StreamingBody>,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    secret_field("access_key_id", &body.access_key_id)?;
    secret_field("secret_access_key", &body.secret_access_key)?;
    let target = StreamingTarget {
        provider: body.provider,
        bucket: body.bucket,
        region: body.region,
        endpoint: body.endpoint,
        prefix: body.prefix,
    };
    // The command authorizes and validates first: nobody without
    // `organization.audit_logs.manage` can overwrite stored keys.
    let outcome = state
        .service
        .execute(
            caller.org,
            Command::ConfigureAuditStreaming {
                target: target.clone(),
            },
            &caller.context(),
        )
        .await?;
    let (db, org) = (state.read_db.clone(), caller.org);
    let (key_id, secret) = (body.access_key_id, body.secret_access_key);
    blocking(move || credentials::put(&db, org, &key_id, &secret)).await?;
    Ok(committed(
        StatusCode::OK,
        outcome.position,
        streaming_json(&target, true, None),
    ))
}

/// `DELETE /audit-logs/streaming`: 204; the stored keys are deleted too;
/// 404 `streaming_not_configured`.
pub async fn remove_streaming(
    State(state): State<AppState>,
    Path(org): Path<String>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let outcome = state
        .service
        .execute(caller.org, Command::RemoveAuditStreaming, &caller.context())
        .await?;
    let (db, org) = (state.read_db.clone(), caller.org);
    blocking(move || credentials::delete(&db, org)).await?;
    Ok(committed_empty(outcome.position))
}

// ---- settings --------------------------------------------------------------

fn settings_json(org: OrgId, s: &domain::Organization) -> Value {
    json!({"org_id": org, "name": s.name, "url": s.url})
}

/// `GET /settings`: `{org_id, name, url}`; needs `organization.view`.
pub async fn settings(
    State(state): State<AppState>,
    Path(org): Path<String>,
    Query(q): Query<AtLeast>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Json<Value>> {
    let caller = state.caller(&org, &bearer, origin).await?;
    state.consistent(q.at_least).await?;
    state.require(&caller, "organization.view")?;
    let model = state.model.read();
    let o = model
        .org(caller.org)
        .ok_or_else(|| Problem::not_found("org_not_found", "no such organization"))?;
    Ok(Json(settings_json(caller.org, &o.state)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    name: Option<String>,
    url: Option<String>,
}

/// `PATCH /settings`: `{name?, url?}`; 200 with the settings. The
/// organization stays addressable in URLs by the name it was created with
/// (and its id).
pub async fn change_settings(
    State(state): State<AppState>,
    Path(org): Path<String>,
    bearer: Bearer,
    origin: Origin,
    Json(body): Json<SettingsBody>,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let outcome = state
        .service
        .execute(
            caller.org,
            Command::ChangeSettings {
                name: body.name,
                url: body.url,
            },
            &caller.context(),
        )
        .await?;
    let org = caller.org;
    let body = state
        .service
        .read(org, move |s| settings_json(org, s))
        .await?;
    Ok(committed(StatusCode::OK, outcome.position, body))
}
