//! `GET /api/v1/health`: the store's head position and each projection's.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::problem::{ApiResult, Problem};
use crate::http::state::AppState;

/// The server's health.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when a projection failed.
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
        (status = 200, description = "Positions", body = Health),
    )
)]
pub async fn health(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    let head = state
        .service
        .store()
        .head_position()
        .await
        .map_err(Problem::internal)?;
    let mut projections = BTreeMap::new();
    let mut status = "ok";
    for (name, s) in state.positions.all() {
        if s.failed.is_some() {
            status = "degraded";
        }
        projections.insert(name.to_string(), s.position);
    }
    Ok(Json(Health {
        status,
        position: head,
        projections,
    }))
}
