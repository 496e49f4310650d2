//! Kept answers and pending effects (`migrations/0002_receipts.sql`):
//! written with the events by the append, read and removed here.

use chrono::{DateTime, Utc};
use domain::store::{KeptAnswer, PendingEffect, StoreError, StoredAnswer};
use sqlx::{PgPool, Row as _};
use uuid::Uuid;

use super::backend;
use crate::columns::from_i64;

pub(super) async fn find_answer(
    pool: &PgPool,
    principal: &[u8; 32],
    key: &str,
    since: DateTime<Utc>,
) -> Result<Option<StoredAnswer>, StoreError> {
    let row = sqlx::query(
        "SELECT position, sealed, kept_at FROM kept_answers
         WHERE principal = $1 AND key = $2 AND kept_at >= $3",
    )
    .bind(principal.as_slice())
    .bind(key)
    .bind(since.timestamp_micros())
    .fetch_optional(pool)
    .await
    .map_err(backend("reading a kept answer"))?;
    let Some(row) = row else { return Ok(None) };
    let position: Option<i64> = row.try_get(0).map_err(decode)?;
    let kept_at: i64 = row.try_get(2).map_err(decode)?;
    Ok(Some(StoredAnswer {
        position: position.map(from_i64),
        sealed: row.try_get(1).map_err(decode)?,
        kept_at: DateTime::from_timestamp_micros(kept_at).unwrap_or_default(),
    }))
}

pub(super) async fn keep_answer(pool: &PgPool, answer: &KeptAnswer) -> Result<bool, StoreError> {
    let now = Utc::now().timestamp_micros();
    let kept_for = i64::try_from(domain::store::ANSWERS_KEPT_FOR.as_micros()).unwrap_or(i64::MAX);
    let done = sqlx::query(include_str!("queries/keep_answer.sql"))
        .bind(answer.principal.as_slice())
        .bind(answer.key.as_str())
        .bind(answer.sealed.as_slice())
        .bind(now)
        .bind(now - kept_for)
        .execute(pool)
        .await
        .map_err(backend("keeping an answer"))?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn forget_answers(
    pool: &PgPool,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM kept_answers WHERE kept_at < $1")
        .bind(before.timestamp_micros())
        .execute(pool)
        .await
        .map_err(backend("forgetting old answers"))?;
    Ok(done.rows_affected())
}

pub(super) async fn pending_effects(pool: &PgPool) -> Result<Vec<PendingEffect>, StoreError> {
    let rows = sqlx::query("SELECT effect_id, payload FROM pending_effects ORDER BY seq")
        .fetch_all(pool)
        .await
        .map_err(backend("reading pending effects"))?;
    rows.into_iter()
        .map(|row| {
            Ok(PendingEffect {
                id: row.try_get(0).map_err(decode)?,
                payload: row.try_get(1).map_err(decode)?,
            })
        })
        .collect()
}

pub(super) async fn clear_effects(pool: &PgPool, ids: &[Uuid]) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM pending_effects WHERE effect_id = ANY($1::UUID[])")
        .bind(ids)
        .execute(pool)
        .await
        .map_err(backend("clearing pending effects"))?;
    Ok(())
}

fn decode(e: sqlx::Error) -> StoreError {
    StoreError::backend("postgres: decoding a kept answer or effect", e)
}
