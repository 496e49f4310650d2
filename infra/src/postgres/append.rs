//! The write path of [`super::PostgresEventStore`]: one transaction per
//! batch, a handful of statements however many events it carries.
//!
//! 1. `pg_advisory_xact_lock` on the schema's key: one append at a time,
//!    so positions commit in order (see the module doc of `postgres`);
//! 2. the highest global position;
//! 3. the version and last hash of every stream in the batch (`= ANY`);
//! 4. which of the batch's event ids are already stored (`= ANY`);
//! 5. planning in memory (`crate::plan`);
//! 6. the events, the streams and the receipts, each kind in one
//!    `INSERT ... SELECT FROM UNNEST` of column arrays;
//! 7. `NOTIFY` with the new head (delivered at commit), `COMMIT`.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::store::{AppendRequest, AppendResult, StoreError};
use sqlx::{PgConnection, Row as _};
use uuid::Uuid;

use super::{backend, Writer};
use crate::columns::{from_i64, hash_from, to_i64};
use crate::plan::{
    all_empty, all_or_first_error, failed_each, streams_of, EachOutcome, Known, Plan, StreamState,
};

/// The advisory lock class of appends (the key is the schema's).
const APPEND_LOCK: i32 = 1;

/// `append_each`: every request checked on its own, the successful ones
/// committed together. A backend failure fails every non-empty request.
pub(super) async fn append_each(writer: Writer, batch: &[AppendRequest]) -> EachOutcome {
    match transact(&writer, batch, false).await {
        Ok(outcome) => outcome,
        Err(error) => failed_each(batch, error),
    }
}

/// `append_all`: all requests or none; the first failing request's error.
pub(super) async fn append_all(
    writer: Writer,
    batch: &[AppendRequest],
) -> Result<(Vec<AppendResult>, Option<u64>), StoreError> {
    all_or_first_error(transact(&writer, batch, true).await?)
}

/// Runs one batch in one transaction. With `all_or_nothing`, planning stops
/// at the first failing request and nothing is written. `Err` only for
/// backend failures (nothing written either: the transaction rolls back
/// when dropped).
async fn transact(
    writer: &Writer,
    batch: &[AppendRequest],
    all_or_nothing: bool,
) -> Result<EachOutcome, StoreError> {
    if let Some(outcome) = all_empty(batch, all_or_nothing) {
        return Ok(outcome);
    }

    let mut tx = writer
        .pool
        .begin()
        .await
        .map_err(backend("beginning an append"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(APPEND_LOCK)
        .bind(writer.lock_key)
        .execute(&mut *tx)
        .await
        .map_err(backend("waiting for the append lock"))?;
    let max_position: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
            .fetch_one(&mut *tx)
            .await
            .map_err(backend("reading the head position"))?;
    let streams = load_streams(&mut tx, batch).await?;
    let known = load_known(&mut tx, batch).await?;

    let now = Utc::now();
    // Stored as microseconds and hashed as microseconds: truncate first so
    // the value handed back on reads is exactly the one hashed.
    let recorded_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let plan = Plan::new(
        batch,
        streams,
        known,
        from_i64(max_position) + 1,
        recorded_at,
        all_or_nothing,
    );
    if plan.failed && all_or_nothing || plan.rows.is_empty() {
        // A failed all-or-nothing batch, or only conflicts and idempotent
        // retries: nothing to write.
        tx.rollback()
            .await
            .map_err(backend("rolling back an append"))?;
        return Ok((plan.results, None));
    }

    insert_events(&mut tx, &plan).await?;
    upsert_streams(&mut tx, &plan).await?;
    insert_receipts(&mut tx, &plan).await?;
    let head = plan.next_position - 1;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(&writer.channel)
        .bind(head.to_string())
        .execute(&mut *tx)
        .await
        .map_err(backend("announcing an append"))?;
    tx.commit().await.map_err(backend("committing an append"))?;
    Ok((plan.results, Some(head)))
}

/// The planned rows, one array per column.
async fn insert_events(tx: &mut PgConnection, plan: &Plan<'_>) -> Result<(), StoreError> {
    let n = plan.rows.len();
    let mut positions = Vec::with_capacity(n);
    let mut streams = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut schema_versions = Vec::with_capacity(n);
    let mut data = Vec::with_capacity(n);
    let mut metadata = Vec::with_capacity(n);
    let mut prev_hashes = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    for row in &plan.rows {
        let request = &plan.batch[row.request];
        let event = &request.events[row.event];
        positions.push(to_i64(row.position));
        streams.push(request.stream.as_str());
        versions.push(to_i64(row.version));
        ids.push(event.event_id);
        types.push(event.event_type.as_str());
        schema_versions.push(i64::from(event.schema_version));
        data.push(event.data.as_str());
        metadata.push(event.metadata.as_str());
        prev_hashes.push(row.prev_hash.as_slice());
        hashes.push(row.hash.as_slice());
    }
    let recorded_at = vec![plan.recorded_at.timestamp_micros(); n];
    sqlx::query(include_str!("queries/insert_events.sql"))
        .bind(positions)
        .bind(streams)
        .bind(versions)
        .bind(ids)
        .bind(types)
        .bind(schema_versions)
        .bind(data)
        .bind(metadata)
        .bind(recorded_at)
        .bind(prev_hashes)
        .bind(hashes)
        .execute(&mut *tx)
        .await
        .map_err(backend("inserting events"))?;
    Ok(())
}

/// The new version and last hash of every stream appended to.
async fn upsert_streams(tx: &mut PgConnection, plan: &Plan<'_>) -> Result<(), StoreError> {
    let dirty = plan.dirty_streams();
    let names: Vec<&str> = dirty.iter().map(|(name, _)| *name).collect();
    let versions: Vec<i64> = dirty.iter().map(|(_, s)| to_i64(s.version)).collect();
    let hashes: Vec<&[u8]> = dirty.iter().map(|(_, s)| s.last_hash.as_slice()).collect();
    sqlx::query(include_str!("queries/upsert_streams.sql"))
        .bind(names)
        .bind(versions)
        .bind(hashes)
        .execute(&mut *tx)
        .await
        .map_err(backend("updating streams"))?;
    Ok(())
}

/// The kept answers and pending effects of the requests that succeeded.
async fn insert_receipts(tx: &mut PgConnection, plan: &Plan<'_>) -> Result<(), StoreError> {
    let answers = plan.answers();
    if !answers.is_empty() {
        let principals: Vec<&[u8]> = answers
            .iter()
            .map(|(a, _)| a.principal.as_slice())
            .collect();
        let keys: Vec<&str> = answers.iter().map(|(a, _)| a.key.as_str()).collect();
        let positions: Vec<i64> = answers.iter().map(|(_, p)| to_i64(*p)).collect();
        let sealed: Vec<&[u8]> = answers.iter().map(|(a, _)| a.sealed.as_slice()).collect();
        sqlx::query(include_str!("queries/insert_answers.sql"))
            .bind(principals)
            .bind(keys)
            .bind(positions)
            .bind(sealed)
            .bind(Utc::now().timestamp_micros())
            .execute(&mut *tx)
            .await
            .map_err(backend("keeping answers"))?;
    }
    let effects = plan.effects();
    if !effects.is_empty() {
        let ids: Vec<Uuid> = effects.iter().map(|e| e.id).collect();
        let payloads: Vec<&str> = effects.iter().map(|e| e.payload.as_str()).collect();
        sqlx::query(include_str!("queries/insert_effects.sql"))
            .bind(ids)
            .bind(payloads)
            .execute(&mut *tx)
            .await
            .map_err(backend("keeping pending effects"))?;
    }
    Ok(())
}

/// The stored version and last hash of every stream the batch appends to.
async fn load_streams<'a>(
    tx: &mut PgConnection,
    batch: &'a [AppendRequest],
) -> Result<HashMap<&'a str, StreamState>, StoreError> {
    // Streams without a row have no events yet.
    let (names, mut streams) = streams_of(batch);
    let rows = sqlx::query(
        "SELECT stream_id, version, last_hash FROM streams WHERE stream_id = ANY($1::TEXT[])",
    )
    .bind(&names)
    .fetch_all(&mut *tx)
    .await
    .map_err(backend("reading stream versions"))?;
    for row in rows {
        let name: &str = row.try_get(0).map_err(decode_error)?;
        let version: i64 = row.try_get(1).map_err(decode_error)?;
        let last_hash: &[u8] = row.try_get(2).map_err(decode_error)?;
        if let Some(state) = streams.get_mut(name) {
            state.version = from_i64(version);
            state.last_hash = hash_from(last_hash, "postgres", "streams.last_hash")?;
        }
    }
    Ok(streams)
}

/// Where each of the batch's event ids is stored, for those that are.
async fn load_known<'a>(
    tx: &mut PgConnection,
    batch: &'a [AppendRequest],
) -> Result<HashMap<Uuid, Known<'a>>, StoreError> {
    let ids: Vec<Uuid> = batch
        .iter()
        .flat_map(|r| r.events.iter().map(|e| e.event_id))
        .collect();
    let rows = sqlx::query(
        "SELECT event_id, stream_id, stream_version, global_position
         FROM events WHERE event_id = ANY($1::UUID[])",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await
    .map_err(backend("looking up event ids"))?;
    let mut known = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: Uuid = row.try_get(0).map_err(decode_error)?;
        let stream: String = row.try_get(1).map_err(decode_error)?;
        let version: i64 = row.try_get(2).map_err(decode_error)?;
        let position: i64 = row.try_get(3).map_err(decode_error)?;
        known.insert(
            id,
            Known {
                stream: Cow::Owned(stream),
                version: from_i64(version),
                position: from_i64(position),
            },
        );
    }
    Ok(known)
}

fn decode_error(e: sqlx::Error) -> StoreError {
    StoreError::backend("postgres: decoding a row", e)
}
