//! The write path of [`super::SqliteEventStore`], on its one read-write
//! rusqlite connection (on a blocking thread). A batch costs a handful of
//! statements however many events it carries:
//!
//! 1. `BEGIN IMMEDIATE` (take SQLite's write lock up front);
//! 2. the highest global position (one index seek);
//! 3. the version and last hash of every stream in the batch (`IN` lists);
//! 4. which of the batch's event ids are already stored (`IN` lists);
//! 5. planning in memory (`crate::plan`): idempotent retries, duplicate
//!    ids, expected versions, versions, positions and the hash chain;
//! 6. multi-row `INSERT`s of the events, the streams and the receipts
//!    (statements kept prepared);
//! 7. `COMMIT`.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::store::{AppendRequest, AppendResult, StoreError};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use uuid::Uuid;

use super::{from_i64, hash_from, to_i64, uuid_from};
use crate::plan::{
    all_empty, all_or_first_error, failed_each, streams_of, EachOutcome, Known, Plan, StreamState,
};
use crate::sqlite::bulk::{bind, insert_many, select_in};

fn backend(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::backend(format!("sqlite: {context}"), e)
}

/// `append_each`: every request checked on its own, the successful ones
/// committed together. A backend failure fails every non-empty request.
pub(super) fn append_each(conn: &mut Connection, batch: &[AppendRequest]) -> EachOutcome {
    match transact(conn, batch, false) {
        Ok(outcome) => outcome,
        Err(error) => failed_each(batch, error),
    }
}

/// `append_all`: all requests or none; the first failing request's error.
pub(super) fn append_all(
    conn: &mut Connection,
    batch: &[AppendRequest],
) -> Result<(Vec<AppendResult>, Option<u64>), StoreError> {
    all_or_first_error(transact(conn, batch, true)?)
}

/// Runs one batch in one transaction. With `all_or_nothing`, planning stops
/// at the first failing request and nothing is written. `Err` only for
/// backend failures (nothing written either: the transaction rolls back
/// when dropped).
fn transact(
    conn: &mut Connection,
    batch: &[AppendRequest],
    all_or_nothing: bool,
) -> Result<EachOutcome, StoreError> {
    if let Some(outcome) = all_empty(batch, all_or_nothing) {
        return Ok(outcome);
    }

    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend("beginning an append"))?;
    let max_position: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(global_position), 0) FROM events")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(backend("reading the head position"))?;
    let streams = load_streams(&tx, batch)?;
    let known = load_known(&tx, batch)?;

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
        tx.rollback().map_err(backend("rolling back an append"))?;
        return Ok((plan.results, None));
    }

    insert_events(&tx, &plan)?;
    upsert_streams(&tx, &plan)?;
    insert_receipts(&tx, &plan)?;
    tx.commit().map_err(backend("committing an append"))?;
    let head = plan.next_position - 1;
    Ok((plan.results, Some(head)))
}

/// The planned rows, many per statement.
fn insert_events(tx: &Transaction, plan: &Plan<'_>) -> Result<(), StoreError> {
    let recorded_at = plan.recorded_at.timestamp_micros();
    insert_many(
        tx,
        "events (global_position, stream_id, stream_version, event_id, event_type, \
         schema_version, data, metadata, recorded_at, prev_hash, hash)",
        11,
        "",
        &plan.rows,
        |stmt, at, row| {
            let request = &plan.batch[row.request];
            let event = &request.events[row.event];
            bind(
                stmt,
                at,
                &[
                    &to_i64(row.position),
                    &request.stream.as_str(),
                    &to_i64(row.version),
                    &event.event_id.as_bytes().as_slice(),
                    &event.event_type.as_str(),
                    &i64::from(event.schema_version),
                    &event.data.as_str(),
                    &event.metadata.as_str(),
                    &recorded_at,
                    &row.prev_hash.as_slice(),
                    &row.hash.as_slice(),
                ],
            )
        },
    )
    .map_err(backend("inserting events"))
}

/// The new version and last hash of every stream appended to.
fn upsert_streams(tx: &Transaction, plan: &Plan<'_>) -> Result<(), StoreError> {
    insert_many(
        tx,
        "streams (stream_id, version, last_hash)",
        3,
        " ON CONFLICT (stream_id) DO UPDATE \
         SET version = excluded.version, last_hash = excluded.last_hash",
        &plan.dirty_streams(),
        |stmt, at, (name, state)| {
            bind(
                stmt,
                at,
                &[name, &to_i64(state.version), &state.last_hash.as_slice()],
            )
        },
    )
    .map_err(backend("updating streams"))
}

/// The kept answers (at their last event's position) and pending effects
/// of the requests that succeeded; an idempotent retry's are already there.
fn insert_receipts(tx: &Transaction, plan: &Plan<'_>) -> Result<(), StoreError> {
    let kept_at = Utc::now().timestamp_micros();
    insert_many(
        tx,
        "kept_answers (principal, key, position, sealed, kept_at)",
        5,
        " ON CONFLICT (principal, key) DO NOTHING",
        &plan.answers(),
        |stmt, at, (answer, position)| {
            bind(
                stmt,
                at,
                &[
                    &answer.principal.as_slice(),
                    &answer.key.as_str(),
                    &to_i64(*position),
                    &answer.sealed.as_slice(),
                    &kept_at,
                ],
            )
        },
    )
    .map_err(backend("keeping answers"))?;
    insert_many(
        tx,
        "pending_effects (effect_id, payload)",
        2,
        " ON CONFLICT (effect_id) DO NOTHING",
        &plan.effects(),
        |stmt, at, effect| {
            bind(
                stmt,
                at,
                &[&effect.id.as_bytes().as_slice(), &effect.payload.as_str()],
            )
        },
    )
    .map_err(backend("keeping pending effects"))
}

/// The stored version and last hash of every stream the batch appends to.
fn load_streams<'a>(
    tx: &Transaction,
    batch: &'a [AppendRequest],
) -> Result<HashMap<&'a str, StreamState>, StoreError> {
    // Streams without a row have no events yet.
    let (names, mut streams) = streams_of(batch);
    let mut corrupt = None;
    select_in(
        tx,
        "SELECT stream_id, version, last_hash FROM streams WHERE stream_id IN ",
        &names,
        |row| {
            let name: String = row.get(0)?;
            let version: i64 = row.get(1)?;
            let last_hash = row.get_ref(2)?.as_blob()?;
            if let Some(state) = streams.get_mut(name.as_str()) {
                state.version = from_i64(version);
                match hash_from(last_hash, "streams.last_hash") {
                    Ok(hash) => state.last_hash = hash,
                    Err(e) => corrupt = Some(e),
                }
            }
            Ok(())
        },
    )
    .map_err(backend("reading stream versions"))?;
    match corrupt {
        Some(e) => Err(e),
        None => Ok(streams),
    }
}

/// Where each of the batch's event ids is stored, for those that are.
fn load_known<'a>(
    tx: &Transaction,
    batch: &'a [AppendRequest],
) -> Result<HashMap<Uuid, Known<'a>>, StoreError> {
    let ids: Vec<&[u8]> = batch
        .iter()
        .flat_map(|r| r.events.iter().map(|e| e.event_id.as_bytes().as_slice()))
        .collect();
    let mut known = HashMap::new();
    let mut corrupt = None;
    select_in(
        tx,
        "SELECT event_id, stream_id, stream_version, global_position FROM events WHERE event_id IN ",
        &ids,
        |row| {
            match uuid_from(row.get_ref(0)?.as_blob()?) {
                Ok(id) => {
                    known.insert(
                        id,
                        Known {
                            stream: Cow::Owned(row.get(1)?),
                            version: from_i64(row.get(2)?),
                            position: from_i64(row.get(3)?),
                        },
                    );
                }
                Err(e) => corrupt = Some(e),
            }
            Ok(())
        },
    )
    .map_err(backend("looking up event ids"))?;
    match corrupt {
        Some(e) => Err(e),
        None => Ok(known),
    }
}
