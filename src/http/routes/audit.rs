//! The audit log (`GET /audit-logs`, `GET /audit-logs/export.csv`) and its
//! streaming target (`/audit-logs/streaming`).
//!
//! Reading the log and the streaming target needs
//! `organization.audit_logs.view`; changing the target needs
//! `organization.audit_logs.manage` (checked by the command).
//!
//! Audit queries wait for the `audit` projection (and the access model,
//! which answers the permission check) when `at_least` is given, and run on
//! a blocking thread over a read-only rusqlite connection.

use std::io;

use crate::http::json::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::commands::StreamingTarget;
use domain::ids::UserId;
use domain::permissions::known;
use domain::Command;
use infra::object_storage::{BucketSettings, ObjectStorageError, Provider, Target};
use projections::audit::{self, AuditEntry, AuditError, AuditFilter, Operation, ResourceType};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AtLeast;
use crate::http::answers::Committed;
use crate::http::auth::Caller;
use crate::http::params::OrgPath;
use crate::http::problem::{ApiResult, Problem, ProblemBody};
use crate::http::resolve;
use crate::http::state::AppState;

/// The audit log's filters and paging.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    from: Option<String>,
    /// Entries before this instant (RFC 3339).
    #[param(format = DateTime)]
    to: Option<String>,
    /// The acting user (id, username or email).
    actor: Option<String>,
    /// `Organization`, `User`, `Group`, `Role`, `Project`,
    /// `ServiceAccount`, `Settings` or `AuditStream`.
    resource_type: Option<String>,
    /// The resource's id.
    resource_id: Option<String>,
    /// `Added`, `Removed` or `Modified`.
    action: Option<String>,
    /// Entries per page: 1 to 1000 (default 50); ignored by the CSV export.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The `next_cursor` of the previous page; ignored by the CSV export.
    cursor: Option<String>,
    /// Answer once the audit log has reached this position.
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
    state.reached(caller, "audit", q.at_least).await?;
    // Permissions (and actor names) come from the access model: it too must
    // have seen what the caller saw.
    state.consistent(caller, q.at_least).await?;
    state.require(caller, known::ORGANIZATION_AUDIT_LOGS_VIEW)?;
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
    // Checked also for the CSV export, which ignores it: a bad value is
    // the caller's mistake either way.
    f.limit = crate::http::paging::limit(q.limit.or(Some(audit::DEFAULT_LIMIT)))?;
    if let Some(c) = &q.cursor {
        audit::decode_cursor(c).map_err(audit_problem)?;
    }
    f.cursor = q.cursor;
    Ok(f)
}

/// Who acted: a user (id null when the system itself acted).
#[derive(Serialize, ToSchema)]
pub struct AuditActor {
    #[schema(value_type = Option<String>, format = Uuid)]
    user_id: Option<UserId>,
    username: String,
}

/// One entry of the audit log.
#[derive(Serialize, ToSchema)]
pub struct AuditEvent {
    /// The event's global position: unique, the log's order.
    position: u64,
    occurred_at: DateTime<Utc>,
    actor: AuditActor,
    /// `Added`, `Removed` or `Modified`.
    #[schema(value_type = String, example = "Modified")]
    action: Operation,
    /// `Organization`, `User`, `Group`, `Role`, `Project`,
    /// `ServiceAccount`, `Settings` or `AuditStream`.
    #[schema(value_type = String, example = "User")]
    resource_type: ResourceType,
    resource_id: String,
    resource_name: String,
    description: String,
    /// `API`, `CLI` or `SCIM`.
    medium: String,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    /// The event's payload with `event_type` and `correlation_id`.
    metadata: serde_json::Value,
}

impl AuditEvent {
    pub fn of(e: AuditEntry) -> AuditEvent {
        AuditEvent {
            position: e.position,
            occurred_at: e.occurred_at,
            actor: AuditActor {
                user_id: e.actor_id,
                username: e.actor_username,
            },
            action: e.operation,
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            resource_name: e.resource_name,
            description: e.description,
            medium: e.medium,
            ip: e.ip,
            user_agent: e.user_agent,
            request_id: e.request_id,
            metadata: e.metadata,
        }
    }
}

/// A page of the audit log, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    events: Vec<AuditEvent>,
    /// The cursor of the next page; null at the end.
    next_cursor: Option<String>,
}

/// `GET /audit-logs`: newest first, `{events: [...], next_cursor}`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/audit-logs", tag = "audit", operation_id = "audit_log",
    summary = "The audit log, newest first (paged)",
    params(OrgPath, AuditQuery),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 404, description = "`user_not_found` (actor)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_time`, `invalid_filter`, `invalid_resource_type`, `invalid_action`, `invalid_cursor`, `invalid_limit`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
    caller: Caller,
) -> ApiResult<Json<AuditPage>> {
    let filter = filter(&state, &caller, q).await?;
    let page = match &state.audit_postgres {
        Some(pool) => projections::postgres::audit::page(pool, &filter)
            .await
            .map_err(audit_problem)?,
        None => state
            .reads
            .run(move |conn| audit::page(conn, &filter))
            .await
            .map_err(Problem::internal)?
            .map_err(audit_problem)?,
    };
    Ok(Json(AuditPage {
        events: page.entries.into_iter().map(AuditEvent::of).collect(),
        next_cursor: page.next_cursor,
    }))
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
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/audit-logs/export.csv", tag = "audit", operation_id = "audit_log_csv",
    summary = "The audit log as CSV, oldest first, streamed",
    params(OrgPath, AuditQuery),
    responses(
        (status = 200, description = "CSV, header row first; cells that a spreadsheet would run are quoted with a leading `'`", body = String, content_type = "text/csv"),
        (status = 404, description = "`user_not_found` (actor)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_time`, `invalid_filter`, `invalid_resource_type`, `invalid_action`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn export_csv(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
    caller: Caller,
) -> ApiResult<Response> {
    let filter = filter(&state, &caller, q).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Vec<u8>>>(4);
    if let Some(pool) = &state.audit_postgres {
        export_from_postgres(pool.clone(), filter, tx).await?;
        return Ok(csv_response(rx));
    }
    let reads = state.reads.clone();
    let (opened, ready) = tokio::sync::oneshot::channel::<rusqlite::Result<()>>();
    tokio::task::spawn_blocking(move || {
        // Fail before the 200 goes out if the log cannot be read at all.
        let conn = match reads.take().and_then(|c| {
            c.prepare("SELECT 1 FROM audit_log LIMIT 0")?;
            Ok(c)
        }) {
            Ok(c) => {
                let _ = opened.send(Ok(()));
                c
            }
            Err(e) => {
                let _ = opened.send(Err(e));
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
    Ok(csv_response(rx))
}

/// Streams the PostgreSQL view's export into `tx`: the first chunk is read
/// before the 200 goes out (a view that cannot be read is a 500, not a cut
/// file), the rest on a task.
async fn export_from_postgres(
    pool: sqlx::PgPool,
    filter: audit::AuditFilter,
    tx: tokio::sync::mpsc::Sender<io::Result<Vec<u8>>>,
) -> ApiResult<()> {
    let mut export = projections::postgres::CsvExport::new(pool, filter).map_err(audit_problem)?;
    let first = export.next_chunk().await.map_err(Problem::internal)?;
    tokio::spawn(async move {
        let mut chunk = first;
        loop {
            let Some(bytes) = chunk else {
                tracing::debug!(rows = export.rows(), "audit log exported");
                return;
            };
            if tx.send(Ok(bytes)).await.is_err() {
                tracing::debug!("audit export: client went away");
                return;
            }
            chunk = match export.next_chunk().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "audit export failed mid-stream");
                    let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
                    return;
                }
            };
        }
    });
    Ok(())
}

/// The CSV answer streaming `rx`'s chunks.
fn csv_response(rx: tokio::sync::mpsc::Receiver<io::Result<Vec<u8>>>) -> Response {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (
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
        .into_response()
}

// ---- streaming target ------------------------------------------------------

/// The audit streaming target, its secrets never returned.
#[derive(Serialize, ToSchema)]
pub struct Streaming {
    /// `s3` or `gcs`.
    #[schema(example = "s3")]
    provider: String,
    bucket: String,
    region: Option<String>,
    endpoint: Option<String>,
    prefix: Option<String>,
    /// `"***"` when stored.
    #[schema(example = "***")]
    access_key_id: Option<&'static str>,
    /// `"***"` when stored.
    #[schema(example = "***")]
    secret_access_key: Option<&'static str>,
    /// The last streaming run that had work or failed (null before any).
    last_run: Option<LastRun>,
}

/// One run of the bucket streaming: when, what it wrote, and why it
/// stopped short (`error`, null when every pending day was written).
#[derive(Serialize, ToSchema)]
pub struct LastRun {
    started_at: chrono::DateTime<chrono::Utc>,
    finished_at: chrono::DateTime<chrono::Utc>,
    /// Whether every pending day was written.
    ok: bool,
    /// Days written in full (Parquet object and digest).
    days: u64,
    objects: u64,
    bytes: u64,
    error: Option<String>,
}

impl From<&crate::streaming::RunRecord> for LastRun {
    fn from(r: &crate::streaming::RunRecord) -> LastRun {
        LastRun {
            started_at: r.started_at,
            finished_at: r.finished_at,
            ok: r.error.is_none(),
            days: r.days,
            objects: r.objects,
            bytes: r.bytes,
            error: r.error.clone(),
        }
    }
}

impl Streaming {
    fn of(
        target: StreamingTarget,
        secrets_stored: bool,
        last_run: Option<&crate::streaming::RunRecord>,
    ) -> Streaming {
        let masked = secrets_stored.then_some("***");
        Streaming {
            provider: target.provider,
            bucket: target.bucket,
            region: target.region,
            endpoint: target.endpoint,
            prefix: target.prefix,
            access_key_id: masked,
            secret_access_key: masked,
            last_run: last_run.map(LastRun::from),
        }
    }
}

/// `GET /audit-logs/streaming`: the target with its secrets written
/// `"***"` and `last_run` (the last streaming run that had work or failed,
/// or null); 404 `streaming_not_configured` when there is none.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/audit-logs/streaming", tag = "audit", operation_id = "audit_streaming",
    summary = "The audit streaming target (secrets masked)",
    params(OrgPath, AtLeast),
    responses(
        (status = 200, description = "The target", body = Streaming),
        (status = 404, description = "`streaming_not_configured`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn streaming(
    State(state): State<AppState>,
    Query(q): Query<AtLeast>,
    caller: Caller,
) -> ApiResult<Json<Streaming>> {
    state.consistent(&caller, q.at_least).await?;
    state.require(&caller, known::ORGANIZATION_AUDIT_LOGS_VIEW)?;
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
    let keys = &state.streaming_keys;
    let org = caller.org;
    let stored = keys.stored(org).await.map_err(Problem::internal)?;
    let last_run = crate::streaming::Ledger::on(keys.tables().clone())
        .last_run(org)
        .await
        .map_err(Problem::internal)?;
    Ok(Json(Streaming::of(target, stored, last_run.as_ref())))
}

/// `PUT /audit-logs/streaming`'s body: the target and its keys.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamingBody {
    /// `s3` or `gcs`.
    #[schema(example = "s3")]
    provider: String,
    bucket: String,
    region: Option<String>,
    endpoint: Option<String>,
    access_key_id: String,
    secret_access_key: String,
    prefix: Option<String>,
}

pub(crate) fn secret_field(field: &str, value: &str) -> ApiResult<()> {
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
#[utoipa::path(
    put, path = "/api/v1/orgs/{org}/audit-logs/streaming", tag = "audit", operation_id = "set_audit_streaming",
    summary = "Set the audit streaming target",
    params(OrgPath),
    request_body = StreamingBody,
    responses(
        (status = 200, description = "The target (secrets masked)", body = Committed<Streaming>),
        (status = 422, description = "`invalid_secret`, `invalid_provider`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn set_streaming(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<StreamingBody>,
) -> ApiResult<Response> {
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
    let command = Command::ConfigureAuditStreaming {
        target: target.clone(),
    };
    let shown = target;
    let response = state
        .command(&caller, command, StatusCode::OK, move |_| {
            Streaming::of(shown.clone(), true, None)
        })
        .await?;
    // The keys are not part of the event (the log is immutable and
    // exported): they are kept beside it, sealed (`crate::streaming::
    // credentials`: AES-256-GCM, key file `streaming.key` in the data dir).
    let (keys, org) = (state.streaming_keys.clone(), caller.org);
    let (key_id, secret) = (body.access_key_id, body.secret_access_key);
    keys.put(org, &key_id, &secret)
        .await
        .map_err(Problem::internal)?;
    Ok(response)
}

/// What a connection test found.
#[derive(Serialize, ToSchema)]
pub struct StreamingTest {
    /// The object written and read back (`s3://bucket/prefix/…`).
    object: String,
    duration_ms: u64,
}

/// `POST /audit-logs/streaming/test`: tries a target before it is saved:
/// writes a small object with the keys given and reads it back (one
/// attempt, 10 s at most); nothing is stored or logged. 200; 422
/// `streaming_connection_failed` saying why, `invalid_provider`,
/// `invalid_secret`.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/audit-logs/streaming/test", tag = "audit", operation_id = "test_audit_streaming",
    summary = "Test a streaming target's bucket and keys before saving them",
    params(OrgPath),
    request_body = StreamingBody,
    responses(
        (status = 200, description = "The bucket took and gave back a test object", body = StreamingTest),
        (status = 403, description = "`forbidden`: needs organization.audit_logs.manage", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`streaming_connection_failed` (with why), `invalid_provider`, `invalid_secret`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn test_streaming(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<StreamingBody>,
) -> ApiResult<Json<StreamingTest>> {
    state.require(&caller, known::ORGANIZATION_AUDIT_LOGS_MANAGE)?;
    secret_field("access_key_id", &body.access_key_id)?;
    secret_field("secret_access_key", &body.secret_access_key)?;
    let provider = Provider::parse(&body.provider).ok_or_else(|| {
        Problem::invalid("provider", "invalid_provider", "provider must be s3 or gcs")
    })?;
    let mut settings = BucketSettings::new(
        provider,
        &body.bucket,
        body.prefix.as_deref().unwrap_or(""),
        &body.access_key_id,
        &body.secret_access_key,
    );
    settings.region = body.region;
    settings.endpoint = body.endpoint;
    settings.timeout = std::time::Duration::from_secs(10);
    settings.max_retries = 0;
    let failed = |e: ObjectStorageError| {
        Problem::invalid("bucket", "streaming_connection_failed", e.to_string())
    };
    let started = std::time::Instant::now();
    let object = Target::bucket(&settings)
        .map_err(failed)?
        .probe()
        .await
        .map_err(failed)?;
    Ok(Json(StreamingTest {
        object,
        duration_ms: started.elapsed().as_millis() as u64,
    }))
}

/// `DELETE /audit-logs/streaming`: 204; the stored keys are deleted too;
/// 404 `streaming_not_configured`.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org}/audit-logs/streaming", tag = "audit", operation_id = "remove_audit_streaming",
    summary = "Remove the audit streaming target",
    params(OrgPath),
    responses(
        (status = 204, description = "Removed; `Rolebook-Position` header"),
        (status = 404, description = "`streaming_not_configured`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn remove_streaming(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Response> {
    let response = state
        .command_empty(&caller, Command::RemoveAuditStreaming)
        .await?;
    let (keys, org) = (state.streaming_keys.clone(), caller.org);
    keys.delete(org).await.map_err(Problem::internal)?;
    Ok(response)
}
