//! The planning of an append, shared by every event store backend: given
//! the stored state of the batch's streams and which of its event ids are
//! already stored, it decides each request in memory (an idempotent retry
//! with its original result, a conflict or a duplicate id, or new rows with
//! their versions, positions and hash chain links). The backend then writes
//! the rows, the streams' new states and the receipts in its own way.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use domain::hash::{chain_hash, Hash, GENESIS_HASH};
use domain::store::{AppendRequest, AppendResult, KeptAnswer, PendingEffect, StoreError};
use uuid::Uuid;

/// Where a stream stands while the batch is planned.
#[derive(Clone)]
pub(crate) struct StreamState {
    pub(crate) version: u64,
    pub(crate) last_hash: Hash,
    /// Whether this batch appends to it (its `streams` row must be written).
    pub(crate) dirty: bool,
}

/// Where an already stored (or planned, earlier in the batch) event is.
pub(crate) struct Known<'a> {
    pub(crate) stream: Cow<'a, str>,
    pub(crate) version: u64,
    pub(crate) position: u64,
}

/// One event to insert: which request and event it is, and what the store
/// assigned to it.
pub(crate) struct PlannedRow {
    pub(crate) request: usize,
    pub(crate) event: usize,
    pub(crate) position: u64,
    pub(crate) version: u64,
    pub(crate) prev_hash: Hash,
    pub(crate) hash: Hash,
}

/// A batch planned in memory: each request's result and the rows to write.
pub(crate) struct Plan<'a> {
    pub(crate) batch: &'a [AppendRequest],
    pub(crate) streams: HashMap<&'a str, StreamState>,
    pub(crate) known: HashMap<Uuid, Known<'a>>,
    pub(crate) rows: Vec<PlannedRow>,
    pub(crate) next_position: u64,
    pub(crate) recorded_at: DateTime<Utc>,
    /// One result per request planned (with `stop_at_error`, up to and
    /// including the first failing one).
    pub(crate) results: Vec<Result<AppendResult, StoreError>>,
    /// Whether any request failed.
    pub(crate) failed: bool,
}

impl<'a> Plan<'a> {
    /// Plans every request in order, from the stored stream states and the
    /// stored ids (`known`); stops at the first failure if `stop_at_error`.
    pub(crate) fn new(
        batch: &'a [AppendRequest],
        streams: HashMap<&'a str, StreamState>,
        known: HashMap<Uuid, Known<'a>>,
        first_position: u64,
        recorded_at: DateTime<Utc>,
        stop_at_error: bool,
    ) -> Self {
        let events = batch.iter().map(|r| r.events.len()).sum();
        let mut plan = Plan {
            batch,
            streams,
            known,
            rows: Vec::with_capacity(events),
            next_position: first_position,
            recorded_at,
            results: Vec::with_capacity(batch.len()),
            failed: false,
        };
        for (index, request) in batch.iter().enumerate() {
            let result = plan.request(index, request);
            plan.failed |= result.is_err();
            plan.results.push(result);
            if plan.failed && stop_at_error {
                break;
            }
        }
        plan
    }

    /// Decides one request: an idempotent retry (its original result), an
    /// error (nothing planned for it), or new rows.
    fn request(
        &mut self,
        index: usize,
        request: &'a AppendRequest,
    ) -> Result<AppendResult, StoreError> {
        let events = &request.events;
        if events.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        if let Some(outcome) = self.already_stored(request) {
            return outcome;
        }

        let state = self
            .streams
            .entry(request.stream.as_str())
            .or_insert_with(StreamState::empty);
        if !request.expected.matches(state.version) {
            return Err(StoreError::WrongExpectedVersion {
                stream: request.stream.clone(),
                expected: request.expected,
                actual: state.version,
            });
        }
        if events.len() > 1 {
            let mut seen = HashSet::with_capacity(events.len());
            if let Some(dup) = events.iter().find(|e| !seen.insert(e.event_id)) {
                return Err(StoreError::DuplicateEventId {
                    event_id: dup.event_id,
                });
            }
        }

        let first_position = self.next_position;
        for (event_index, event) in events.iter().enumerate() {
            let version = state.version + 1;
            let position = self.next_position;
            let hash = chain_hash(
                &state.last_hash,
                &request.stream,
                version,
                &event.event_id,
                &event.event_type,
                event.schema_version,
                &event.data,
                &event.metadata,
                &self.recorded_at,
            );
            self.rows.push(PlannedRow {
                request: index,
                event: event_index,
                position,
                version,
                prev_hash: state.last_hash,
                hash,
            });
            self.known.insert(
                event.event_id,
                Known {
                    stream: Cow::Borrowed(request.stream.as_str()),
                    version,
                    position,
                },
            );
            state.version = version;
            state.last_hash = hash;
            self.next_position += 1;
        }
        state.dirty = true;
        Ok(AppendResult {
            first_position,
            last_position: self.next_position - 1,
            stream_version: state.version,
        })
    }

    /// `None` if none of the request's ids is stored (or planned). Otherwise
    /// the original result if the request is exactly a run of that stream's
    /// events, consecutive and in order; else `DuplicateEventId`.
    fn already_stored(&self, request: &AppendRequest) -> Option<Result<AppendResult, StoreError>> {
        let first = &request.events[0];
        let Some(origin) = self.known.get(&first.event_id) else {
            return request
                .events
                .iter()
                .find(|e| self.known.contains_key(&e.event_id))
                .map(|e| {
                    Err(StoreError::DuplicateEventId {
                        event_id: e.event_id,
                    })
                });
        };
        let mut last = origin;
        for (offset, event) in request.events.iter().enumerate() {
            match self.known.get(&event.event_id) {
                Some(k)
                    if k.stream == request.stream.as_str()
                        && k.version == origin.version + offset as u64 =>
                {
                    last = k;
                }
                _ => {
                    return Some(Err(StoreError::DuplicateEventId {
                        event_id: event.event_id,
                    }))
                }
            }
        }
        Some(Ok(AppendResult {
            first_position: origin.position,
            last_position: last.position,
            stream_version: last.version,
        }))
    }
}

impl<'a> Plan<'a> {
    /// The streams the plan appends to, with their new version and last
    /// hash.
    pub(crate) fn dirty_streams(&self) -> Vec<(&'a str, &StreamState)> {
        self.streams
            .iter()
            .filter(|(_, s)| s.dirty)
            .map(|(name, s)| (*name, s))
            .collect()
    }

    /// The receipts of every request that succeeded, each with its
    /// request's result. An idempotent retry's are listed too: writers
    /// ignore what is already kept.
    fn written_receipts(
        &self,
    ) -> impl Iterator<Item = (&'a domain::store::Receipt, AppendResult)> + '_ {
        self.batch
            .iter()
            .zip(&self.results)
            .filter_map(|(request, result)| result.as_ref().ok().map(|r| (request, *r)))
            .flat_map(|(request, result)| request.receipts.iter().map(move |rc| (rc, result)))
    }

    /// The answers to keep, each with the global position of its command's
    /// last event.
    pub(crate) fn answers(&self) -> Vec<(&'a KeptAnswer, u64)> {
        self.written_receipts()
            .filter_map(|(receipt, result)| {
                let position = result.first_position + receipt.last_event as u64;
                receipt.answer.as_ref().map(|answer| (answer, position))
            })
            .collect()
    }

    /// The pending effects to keep.
    pub(crate) fn effects(&self) -> Vec<&'a PendingEffect> {
        self.written_receipts()
            .flat_map(|(receipt, _)| receipt.effects.iter())
            .collect()
    }
}

impl StreamState {
    /// A stream with no events yet.
    pub(crate) fn empty() -> Self {
        StreamState {
            version: 0,
            last_hash: GENESIS_HASH,
            dirty: false,
        }
    }
}

/// Per-request results, and the new head position if anything was written.
pub(crate) type EachOutcome = (Vec<Result<AppendResult, StoreError>>, Option<u64>);

/// The outcome of a batch with no events at all (`None` if it has some):
/// every request `EmptyAppend` (only the first with `all_or_nothing`).
pub(crate) fn all_empty(batch: &[AppendRequest], all_or_nothing: bool) -> Option<EachOutcome> {
    if !batch.iter().all(|r| r.events.is_empty()) {
        return None;
    }
    let mut results: Vec<_> = batch.iter().map(|_| Err(StoreError::EmptyAppend)).collect();
    if all_or_nothing {
        results.truncate(1);
    }
    Some((results, None))
}

/// `append_each`'s outcome when the backend failed: every non-empty
/// request fails with `error`.
pub(crate) fn failed_each(batch: &[AppendRequest], error: StoreError) -> EachOutcome {
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

/// `append_all`'s answer from a batch planned all or nothing: the results,
/// or the first failing request's error.
pub(crate) fn all_or_first_error(
    outcome: EachOutcome,
) -> Result<(Vec<AppendResult>, Option<u64>), StoreError> {
    let (results, head) = outcome;
    Ok((results.into_iter().collect::<Result<Vec<_>, _>>()?, head))
}

/// The names of the streams the batch appends to, sorted, and each as a
/// stream with no events yet (what a backend then updates from its rows).
pub(crate) fn streams_of(batch: &[AppendRequest]) -> (Vec<&str>, HashMap<&str, StreamState>) {
    let mut names: Vec<&str> = batch
        .iter()
        .filter(|r| !r.events.is_empty())
        .map(|r| r.stream.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    let streams = names.iter().map(|n| (*n, StreamState::empty())).collect();
    (names, streams)
}
