//! The write path of [`super::SqliteEventStore`].
//!
//! A batch costs a handful of statements however many events it carries,
//! because sqlx-sqlite pays a round trip to its worker thread per statement:
//!
//! 1. `BEGIN IMMEDIATE` (take SQLite's write lock up front);
//! 2. the highest global position (one index seek);
//! 3. the version and last hash of every stream in the batch (one `IN` query);
//! 4. which of the batch's event ids are already stored (one `IN` query);
//! 5. planning in memory: idempotent retries, duplicate ids, expected
//!    versions, versions, positions and the hash chain;
//! 6. multi-row `INSERT`s of the events, one multi-row upsert of `streams`;
//! 7. `COMMIT`.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::hash::GENESIS_HASH;
use domain::store::{AppendRequest, AppendResult, StoreError};
// `join(a, b)` polls `a` first: when `a` runs a statement, that hands it to
// the SQLite worker thread, and `b` then runs on this thread meanwhile.
use futures::future::join;
use sqlx::sqlite::SqliteConnection;
use sqlx::{QueryBuilder, Row as _, Sqlite, SqlitePool};
use uuid::Uuid;

use super::{backend, from_i64, hash_from, to_i64, uuid_from};
use crate::plan::{Known, Plan, PlannedRow, StreamState};

/// Events per multi-row `INSERT` (11 bind parameters each; SQLite allows 32766).
const INSERT_CHUNK: usize = 500;

/// Bind parameters per `IN (...)` lookup or streams upsert statement.
const LOOKUP_CHUNK: usize = 10_000;

/// Up to this many `IN` parameters the statement is kept prepared: the few
/// short shapes (one stream, a few ids) recur on every small append.
const PERSISTENT_LOOKUP: usize = 16;

/// Per-request results, and the new head position if anything was written.
pub(super) type EachOutcome = (Vec<Result<AppendResult, StoreError>>, Option<u64>);

/// `append_each`: every request checked on its own, the successful ones
/// committed together. A backend failure fails every non-empty request.
pub(super) async fn append_each(pool: &SqlitePool, batch: &[AppendRequest]) -> EachOutcome {
    match transact(pool, batch, false).await {
        Ok(outcome) => outcome,
        Err(error) => {
            let results = batch
                .iter()
                .map(|r| {
                    if r.events.is_empty() {
                        Err(StoreError::EmptyAppend)
                    } else {
                        Err(error.clone())
                    }
                })
                .collect();
            (results, None)
        }
    }
}

/// `append_all`: all requests or none; the first failing request's error.
pub(super) async fn append_all(
    pool: &SqlitePool,
    batch: &[AppendRequest],
) -> Result<(Vec<AppendResult>, Option<u64>), StoreError> {
    let (results, head) = transact(pool, batch, true).await?;
    let results = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok((results, head))
}

/// Runs one batch in one transaction. With `all_or_nothing`, planning stops
/// at the first failing request and the transaction is rolled back, so the
/// results then end with that request's error and nothing was written.
/// `Err` only for backend failures (nothing written either).
async fn transact(
    pool: &SqlitePool,
    batch: &[AppendRequest],
    all_or_nothing: bool,
) -> Result<EachOutcome, StoreError> {
    if batch.iter().all(|r| r.events.is_empty()) {
        let mut results: Vec<_> = batch.iter().map(|_| Err(StoreError::EmptyAppend)).collect();
        if all_or_nothing {
            results.truncate(1);
        }
        return Ok((results, None));
    }

    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(backend("beginning an append"))?;

    let max_position: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
            .fetch_one(&mut *tx)
            .await
            .map_err(backend("reading the head position"))?;
    let streams = load_streams(&mut tx, batch).await?;

    let now = Utc::now();
    // Stored as microseconds and hashed as microseconds: truncate first so the
    // value handed back on reads is exactly the one hashed.
    let recorded_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let first_position = from_i64(max_position) + 1;
    let plan_with = |streams, known| {
        Plan::new(
            batch,
            streams,
            known,
            first_position,
            recorded_at,
            all_or_nothing,
        )
    };

    // Usually none of the ids is stored yet: plan (and hash) on this thread
    // as if so while SQLite looks the ids up on its worker thread, and plan
    // again only if some turn out to be stored.
    let (known, optimistic) = join(load_known(&mut tx, batch), async {
        plan_with(streams.clone(), HashMap::new())
    })
    .await;
    let known = known?;
    let plan = if known.is_empty() {
        optimistic
    } else {
        plan_with(streams, known)
    };

    if plan.failed && all_or_nothing || plan.rows.is_empty() {
        // A failed all-or-nothing batch, or only conflicts and idempotent
        // retries: nothing to write.
        tx.rollback()
            .await
            .map_err(backend("rolling back an append"))?;
        return Ok((plan.results, None));
    }

    plan.insert_events(&mut tx).await?;
    plan.upsert_streams(&mut tx).await?;
    plan.insert_receipts(&mut tx).await?;
    tx.commit().await.map_err(backend("committing an append"))?;
    let head = plan.next_position - 1;
    Ok((plan.results, Some(head)))
}

impl Plan<'_> {
    /// Inserts the planned rows with multi-row `INSERT`s, building each
    /// statement while SQLite runs the previous one.
    async fn insert_events(&self, tx: &mut SqliteConnection) -> Result<(), StoreError> {
        let mut chunks = self.rows.chunks(INSERT_CHUNK);
        let mut next = chunks.next().map(|chunk| self.insert_statement(chunk));
        while let Some((mut statement, persistent)) = next.take() {
            let execute = statement.build().persistent(persistent).execute(&mut *tx);
            let (result, following) = join(execute, async {
                chunks.next().map(|chunk| self.insert_statement(chunk))
            })
            .await;
            result.map_err(backend("inserting events"))?;
            next = following;
        }
        Ok(())
    }

    /// One multi-row `INSERT` for `chunk`, and whether to keep it prepared
    /// (full chunks all share one SQL text).
    fn insert_statement<'s>(&'s self, chunk: &'s [PlannedRow]) -> (QueryBuilder<'s, Sqlite>, bool) {
        let recorded_at = self.recorded_at.timestamp_micros();
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO events (global_position, stream_id, stream_version, event_id, event_type, \
             schema_version, data, metadata, recorded_at, prev_hash, hash) ",
        );
        qb.push_values(chunk, |mut row, planned| {
            let request = &self.batch[planned.request];
            let event = &request.events[planned.event];
            row.push_bind(to_i64(planned.position))
                .push_bind(request.stream.as_str())
                .push_bind(to_i64(planned.version))
                .push_bind(event.event_id.as_bytes().as_slice())
                .push_bind(event.event_type.as_str())
                .push_bind(i64::from(event.schema_version))
                .push_bind(event.data.as_str())
                .push_bind(event.metadata.as_str())
                .push_bind(recorded_at)
                .push_bind(planned.prev_hash.as_slice())
                .push_bind(planned.hash.as_slice());
        });
        (
            qb,
            chunk.len() == INSERT_CHUNK || chunk.len() <= PERSISTENT_LOOKUP,
        )
    }

    /// Writes the receipts of every request that succeeded: its commands'
    /// kept answers (at their last event's position) and pending effects,
    /// each kind in multi-row `INSERT`s. An idempotent retry's receipts
    /// are already there: ignored.
    async fn insert_receipts(&self, tx: &mut SqliteConnection) -> Result<(), StoreError> {
        let kept_at = Utc::now().timestamp_micros();
        let answers = self.answers();
        for chunk in answers.chunks(LOOKUP_CHUNK / 5) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO kept_answers (principal, key, position, sealed, kept_at) ",
            );
            qb.push_values(chunk, |mut row, (answer, position)| {
                row.push_bind(answer.principal.as_slice())
                    .push_bind(answer.key.as_str())
                    .push_bind(to_i64(*position))
                    .push_bind(answer.sealed.as_slice())
                    .push_bind(kept_at);
            });
            qb.push(" ON CONFLICT (principal, key) DO NOTHING");
            qb.build()
                .persistent(chunk.len() <= PERSISTENT_LOOKUP)
                .execute(&mut *tx)
                .await
                .map_err(backend("keeping answers"))?;
        }
        let effects = self.effects();
        for chunk in effects.chunks(LOOKUP_CHUNK / 2) {
            let mut qb =
                QueryBuilder::<Sqlite>::new("INSERT INTO pending_effects (effect_id, payload) ");
            qb.push_values(chunk, |mut row, effect| {
                row.push_bind(effect.id.as_bytes().as_slice())
                    .push_bind(effect.payload.as_str());
            });
            qb.push(" ON CONFLICT (effect_id) DO NOTHING");
            qb.build()
                .persistent(chunk.len() <= PERSISTENT_LOOKUP)
                .execute(&mut *tx)
                .await
                .map_err(backend("keeping pending effects"))?;
        }
        Ok(())
    }

    /// Writes the new version and last hash of every stream appended to.
    async fn upsert_streams(&self, tx: &mut SqliteConnection) -> Result<(), StoreError> {
        let dirty = self.dirty_streams();
        for chunk in dirty.chunks(LOOKUP_CHUNK / 3) {
            let mut qb =
                QueryBuilder::<Sqlite>::new("INSERT INTO streams (stream_id, version, last_hash) ");
            qb.push_values(chunk, |mut row, (name, state)| {
                row.push_bind(*name)
                    .push_bind(to_i64(state.version))
                    .push_bind(state.last_hash.as_slice());
            });
            qb.push(
                " ON CONFLICT (stream_id) DO UPDATE \
                 SET version = excluded.version, last_hash = excluded.last_hash",
            );
            qb.build()
                .persistent(chunk.len() <= PERSISTENT_LOOKUP)
                .execute(&mut *tx)
                .await
                .map_err(backend("updating streams"))?;
        }
        Ok(())
    }
}

/// The stored version and last hash of every stream the batch appends to.
async fn load_streams<'a>(
    tx: &mut SqliteConnection,
    batch: &'a [AppendRequest],
) -> Result<HashMap<&'a str, StreamState>, StoreError> {
    let mut names: Vec<&'a str> = batch
        .iter()
        .filter(|r| !r.events.is_empty())
        .map(|r| r.stream.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();

    // Streams without a row have no events yet.
    let mut streams: HashMap<&'a str, StreamState> = names
        .iter()
        .map(|name| {
            let state = StreamState {
                version: 0,
                last_hash: GENESIS_HASH,
                dirty: false,
            };
            (*name, state)
        })
        .collect();
    for chunk in names.chunks(LOOKUP_CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT stream_id, version, last_hash FROM streams WHERE stream_id IN (",
        );
        let mut list = qb.separated(", ");
        for name in chunk {
            list.push_bind(*name);
        }
        qb.push(")");
        let rows = qb
            .build()
            .persistent(chunk.len() <= PERSISTENT_LOOKUP)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend("reading stream versions"))?;
        for row in rows {
            let name: &str = row.try_get(0).map_err(decode_error)?;
            let version: i64 = row.try_get(1).map_err(decode_error)?;
            let last_hash: &[u8] = row.try_get(2).map_err(decode_error)?;
            if let Some(state) = streams.get_mut(name) {
                state.version = from_i64(version);
                state.last_hash = hash_from(last_hash, "streams.last_hash")?;
            }
        }
    }
    Ok(streams)
}

/// Where each of the batch's event ids is stored, for those that are.
async fn load_known<'a>(
    tx: &mut SqliteConnection,
    batch: &'a [AppendRequest],
) -> Result<HashMap<Uuid, Known<'a>>, StoreError> {
    let ids: Vec<&Uuid> = batch
        .iter()
        .flat_map(|r| r.events.iter().map(|e| &e.event_id))
        .collect();
    let mut known = HashMap::new();
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT event_id, stream_id, stream_version, global_position FROM events WHERE event_id IN (",
        );
        let mut list = qb.separated(", ");
        for id in chunk {
            list.push_bind(id.as_bytes().as_slice());
        }
        qb.push(")");
        let rows = qb
            .build()
            .persistent(chunk.len() <= PERSISTENT_LOOKUP)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend("looking up event ids"))?;
        for row in rows {
            let id = uuid_from(row.try_get::<&[u8], _>(0).map_err(decode_error)?)?;
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
    }
    Ok(known)
}

fn decode_error(e: sqlx::Error) -> StoreError {
    StoreError::backend("sqlite: decoding a row", e)
}
