//! `GET /api/v1/health`: the store's head position and each projection's.

use std::collections::BTreeMap;

use crate::http::json::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::problem::{ApiResult, Problem, ProblemBody};
use crate::http::state::AppState;

/// The server's health.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when a projection failed. Until every
    /// projection has caught up with the log as it stood at start the
    /// answer is 503 `starting` (problem+json, with `position` and
    /// `projections`).
    #[schema(example = "ok")]
    status: &'static str,
    /// The store's head: the global position of the last event.
    position: u64,
    /// Each projection's position.
    projections: BTreeMap<String, u64>,
}

/// `GET /api/v1/health`.
#[utoipa::path(
    get, path = "/api/v1/health", tag = "instance", operation_id = "health",
    summary = "The store's head position and each projection's",
    security(()),
    responses(
        (status = 200, description = "Positions (`ok` or `degraded`)", body = Health),
        (status = 503, description = "`starting`: a projection has not yet caught up with the log as it stood at start (with fields position and projections); `store_unavailable`: the event store cannot be reached (the server reconnects by itself)", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn health(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    let head = state
        .service
        .store()
        .head_position()
        .await
        .map_err(Problem::internal)?;
    let (start_head, started) = &state.start;
    let mut projections: BTreeMap<String, u64> =
        started.iter().map(|name| (name.to_string(), 0)).collect();
    let mut status = "ok";
    for (name, s) in state.positions.all() {
        if s.failed.is_some() {
            status = "degraded";
        }
        projections.insert(name.to_string(), s.position);
    }
    let starting = started
        .iter()
        .any(|name| state.positions.position(name) < *start_head);
    if starting && status == "ok" {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            format!(
                "the projections are catching up with the log as it stood at start ({start_head})"
            ),
        )
        .with("position", head)
        .with("projections", projections));
    }
    Ok(Json(Health {
        status,
        position: head,
        projections,
    }))
}
