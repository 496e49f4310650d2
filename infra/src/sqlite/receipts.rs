//! Kept answers and pending effects (`migrations/0003_receipts.sql`): written with
//! the events by the append (`append::Plan::insert_receipts`), read and
//! removed here.

use chrono::{DateTime, Utc};
use domain::store::{KeptAnswer, PendingEffect, StoreError, StoredAnswer};
use sqlx::{QueryBuilder, Row as _, Sqlite, SqlitePool};
use uuid::Uuid;

use super::{backend, from_i64, uuid_from};

pub(super) async fn find_answer(
    pool: &SqlitePool,
    principal: &[u8; 32],
    key: &str,
    since: DateTime<Utc>,
) -> Result<Option<StoredAnswer>, StoreError> {
    let row = sqlx::query(
        "SELECT position, sealed, kept_at FROM kept_answers
         WHERE principal = ? AND key = ? AND kept_at >= ?",
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

pub(super) async fn keep_answer(
    pool: &SqlitePool,
    answer: &KeptAnswer,
) -> Result<bool, StoreError> {
    let now = Utc::now().timestamp_micros();
    // An expired answer under the same key gives way to the new one.
    let done = sqlx::query(
        "INSERT INTO kept_answers (principal, key, position, sealed, kept_at)
         VALUES (?1, ?2, NULL, ?3, ?4)
         ON CONFLICT (principal, key) DO UPDATE
             SET position = NULL, sealed = excluded.sealed, kept_at = excluded.kept_at
             WHERE kept_answers.kept_at < ?5",
    )
    .bind(answer.principal.as_slice())
    .bind(answer.key.as_str())
    .bind(answer.sealed.as_slice())
    .bind(now)
    .bind(now - i64::try_from(domain::store::ANSWERS_KEPT_FOR.as_micros()).unwrap_or(i64::MAX))
    .execute(pool)
    .await
    .map_err(backend("keeping an answer"))?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn forget_answers(
    pool: &SqlitePool,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM kept_answers WHERE kept_at < ?")
        .bind(before.timestamp_micros())
        .execute(pool)
        .await
        .map_err(backend("forgetting old answers"))?;
    Ok(done.rows_affected())
}

pub(super) async fn pending_effects(pool: &SqlitePool) -> Result<Vec<PendingEffect>, StoreError> {
    let rows = sqlx::query("SELECT effect_id, payload FROM pending_effects ORDER BY seq")
        .fetch_all(pool)
        .await
        .map_err(backend("reading pending effects"))?;
    rows.into_iter()
        .map(|row| {
            Ok(PendingEffect {
                id: uuid_from(row.try_get::<&[u8], _>(0).map_err(decode)?)?,
                payload: row.try_get(1).map_err(decode)?,
            })
        })
        .collect()
}

pub(super) async fn clear_effects(pool: &SqlitePool, ids: &[Uuid]) -> Result<(), StoreError> {
    for chunk in ids.chunks(1000) {
        let mut qb =
            QueryBuilder::<Sqlite>::new("DELETE FROM pending_effects WHERE effect_id IN (");
        let mut list = qb.separated(", ");
        for id in chunk {
            list.push_bind(id.as_bytes().as_slice());
        }
        qb.push(")");
        qb.build()
            .execute(pool)
            .await
            .map_err(backend("clearing pending effects"))?;
    }
    Ok(())
}

fn decode(e: sqlx::Error) -> StoreError {
    StoreError::backend("sqlite: decoding a kept answer or effect", e)
}
