//! Kept answers and pending effects (`migrations/0003_receipts.sql`):
//! written with the events by the append, read and removed here.

use chrono::{DateTime, Utc};
use domain::store::{KeptAnswer, PendingEffect, StoreError, StoredAnswer};
use rusqlite::{Connection, OptionalExtension};
use uuid::Uuid;

use super::{from_i64, uuid_from};

fn backend(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::backend(format!("sqlite: {context}"), e)
}

pub(super) fn find_answer(
    conn: &Connection,
    principal: &[u8; 32],
    key: &str,
    since: DateTime<Utc>,
) -> Result<Option<StoredAnswer>, StoreError> {
    conn.prepare_cached(
        "SELECT position, sealed, kept_at FROM kept_answers
         WHERE principal = ?1 AND key = ?2 AND kept_at >= ?3",
    )
    .and_then(|mut stmt| {
        stmt.query_row(
            rusqlite::params![principal.as_slice(), key, since.timestamp_micros()],
            |row| {
                let position: Option<i64> = row.get(0)?;
                let kept_at: i64 = row.get(2)?;
                Ok(StoredAnswer {
                    position: position.map(from_i64),
                    sealed: row.get(1)?,
                    kept_at: DateTime::from_timestamp_micros(kept_at).unwrap_or_default(),
                })
            },
        )
        .optional()
    })
    .map_err(backend("reading a kept answer"))
}

pub(super) fn keep_answer(conn: &Connection, answer: &KeptAnswer) -> Result<bool, StoreError> {
    let now = Utc::now().timestamp_micros();
    let kept_for = i64::try_from(domain::store::ANSWERS_KEPT_FOR.as_micros()).unwrap_or(i64::MAX);
    // An expired answer under the same key gives way to the new one.
    let done = conn
        .prepare_cached(
            "INSERT INTO kept_answers (principal, key, position, sealed, kept_at)
             VALUES (?1, ?2, NULL, ?3, ?4)
             ON CONFLICT (principal, key) DO UPDATE
                 SET position = NULL, sealed = excluded.sealed, kept_at = excluded.kept_at
                 WHERE kept_answers.kept_at < ?5",
        )
        .and_then(|mut stmt| {
            stmt.execute(rusqlite::params![
                answer.principal.as_slice(),
                answer.key,
                answer.sealed,
                now,
                now - kept_for
            ])
        })
        .map_err(backend("keeping an answer"))?;
    Ok(done == 1)
}

pub(super) fn forget_answers(conn: &Connection, before: DateTime<Utc>) -> Result<u64, StoreError> {
    let done = conn
        .execute(
            "DELETE FROM kept_answers WHERE kept_at < ?1",
            [before.timestamp_micros()],
        )
        .map_err(backend("forgetting old answers"))?;
    Ok(done as u64)
}

pub(super) fn pending_effects(conn: &Connection) -> Result<Vec<PendingEffect>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT effect_id, payload FROM pending_effects ORDER BY seq")
        .map_err(backend("reading pending effects"))?;
    let rows = stmt
        .query_map([], |row| {
            Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(backend("reading pending effects"))?;
    let mut effects = Vec::new();
    for row in rows {
        let (id, payload) = row.map_err(backend("reading pending effects"))?;
        effects.push(PendingEffect {
            id: uuid_from(&id)?,
            payload,
        });
    }
    Ok(effects)
}

pub(super) fn clear_effects(conn: &Connection, ids: &[Uuid]) -> Result<(), StoreError> {
    // One transaction (one fsync) however many.
    let tx = conn
        .unchecked_transaction()
        .map_err(backend("clearing pending effects"))?;
    {
        let mut stmt = tx
            .prepare_cached("DELETE FROM pending_effects WHERE effect_id = ?1")
            .map_err(backend("clearing pending effects"))?;
        for id in ids {
            stmt.execute([id.as_bytes().as_slice()])
                .map_err(backend("clearing pending effects"))?;
        }
    }
    tx.commit().map_err(backend("clearing pending effects"))
}
