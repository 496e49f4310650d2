//! `GET /api/v1/health`: the store's head position and each projection's.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};

use crate::http::problem::{ApiResult, Problem};
use crate::http::state::AppState;

pub async fn health(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let head = state
        .service
        .store()
        .head_position()
        .await
        .map_err(Problem::internal)?;
    let mut projections = Map::new();
    let mut status = "ok";
    for (name, s) in state.positions.all() {
        if s.failed.is_some() {
            status = "degraded";
        }
        projections.insert(name.to_string(), json!(s.position));
    }
    Ok(Json(
        json!({"status": status, "position": head, "projections": projections}),
    ))
}
