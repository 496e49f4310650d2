//! The conformance suite of the `EventStore` port: every backend (SQLite,
//! PostgreSQL, KurrentDB, test doubles) must pass it.
//!
//! Compiled into the library (not `cfg(test)`) so that each backend's own
//! integration tests expand it, one test per check, so that one failure
//! does not hide the others:
//!
//! ```ignore
//! // `fresh` makes an empty store and whatever must live as long as it
//! // (a temporary directory, a database to drop): `(store, guard)`.
//! infra::conformance_tests!(fresh);
//! // Attributes after the factory go on every test (`#[ignore]` for a
//! // backend whose server is not there).
//! ```
//!
//! Every check takes a fresh, empty store and panics with a message naming
//! what went wrong.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use domain::hash::GENESIS_HASH;
use domain::store::{
    first_broken_link, AppendRequest, AppendResult, EventStore, ExpectedVersion, KeptAnswer,
    NewEvent, PendingEffect, Receipt, RecordedEvent, StoreError, StreamId,
};
use uuid::Uuid;

/// Enough to read everything any check writes in one call.
const ALL: usize = 100_000;

/// Expands the conformance suite into one `#[tokio::test]` per check, each
/// on a fresh store from `$fresh`: an `async fn() -> (store, guard)` where
/// the guard keeps what the store needs alive for the test's length.
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:path $(, #[$attr:meta])*) => {
        $crate::conformance_tests!(@each $fresh; [$(#[$attr])*];
            append_to_new_stream,
            append_with_exact_version,
            wrong_expected_version_writes_nothing,
            append_with_any_version,
            positions_increase_across_streams,
            stream_versions_are_contiguous,
            idempotent_reappend_returns_original_positions,
            non_idempotent_reappend_is_duplicate,
            empty_append_is_rejected,
            append_each_isolates_conflicts,
            append_all_is_all_or_nothing,
            read_stream_from_version_and_limit,
            read_all_from_position_and_limit,
            hash_chain_links_every_event,
            wait_for_wakes_on_commit,
            concurrent_optimistic_appends,
            followers_see_every_event_once_in_order,
            data_round_trips_exactly,
            large_batches_append_and_retry_whole,
            receipts_commit_with_their_events,
            receipts_of_a_failed_request_are_not_kept,
            answers_kept_alone_and_forgotten,
        );
    };
    (@each $fresh:path; $attrs:tt; $($check:ident),* $(,)?) => {$(
        $crate::conformance_tests!(@one $fresh; $attrs; $check);
    )*};
    (@one $fresh:path; [$(#[$attr:meta])*]; $check:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attr])*
        async fn $check() {
            let (store, _guard) = $fresh().await;
            $crate::conformance::assert_empty(&store).await;
            $crate::conformance::$check(store).await;
        }
    };
}

/// Panics unless `store` is empty (a factory must hand out fresh stores).
pub async fn assert_empty<S: EventStore>(store: &S) {
    let head = store
        .head_position()
        .await
        .expect("conformance: head_position of a fresh store");
    assert_eq!(
        head, 0,
        "conformance: the factory must return an empty store"
    );
}

// ---------------------------------------------------------------------------
// Helpers

/// A stream name unique to this run.
fn stream(name: &str) -> StreamId {
    StreamId::new(format!("{name}-{}", Uuid::now_v7().simple()))
}

/// An event with a fresh id and small JSON payload naming `tag`.
fn event(tag: &str) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "TestEvent".to_string(),
        schema_version: 1,
        data: format!(r#"{{"tag":"{tag}"}}"#),
        metadata: r#"{"by":"conformance"}"#.to_string(),
    }
}

/// `n` events tagged `tag-1`, `tag-2`, ...
fn events(tag: &str, n: usize) -> Vec<NewEvent> {
    (1..=n).map(|i| event(&format!("{tag}-{i}"))).collect()
}

fn request(stream: &StreamId, expected: ExpectedVersion, events: Vec<NewEvent>) -> AppendRequest {
    AppendRequest {
        stream: stream.clone(),
        expected,
        events,
        receipts: Vec::new(),
    }
}

/// Unwraps a store result, panicking with `what` and the error.
#[track_caller]
fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: unexpected error: {e:?}"),
    }
}

async fn append_ok<S: EventStore>(
    store: &S,
    stream: &StreamId,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> AppendResult {
    let what = format!(
        "append {} events to {stream} expecting {expected:?}",
        events.len()
    );
    ok(store.append(stream, expected, events).await, &what)
}

async fn read_stream_all<S: EventStore>(store: &S, stream: &StreamId) -> Vec<RecordedEvent> {
    ok(
        store.read_stream(stream, 1, ALL).await,
        &format!("read_stream({stream})"),
    )
}

async fn read_everything<S: EventStore>(store: &S) -> Vec<RecordedEvent> {
    ok(store.read_all(0, ALL).await, "read_all(0)")
}

async fn head<S: EventStore>(store: &S) -> u64 {
    ok(store.head_position().await, "head_position")
}

async fn version<S: EventStore>(store: &S, stream: &StreamId) -> u64 {
    ok(
        store.stream_version(stream).await,
        &format!("stream_version({stream})"),
    )
}

fn ids(events: &[RecordedEvent]) -> Vec<Uuid> {
    events.iter().map(|e| e.event_id).collect()
}

fn new_ids(events: &[NewEvent]) -> Vec<Uuid> {
    events.iter().map(|e| e.event_id).collect()
}

fn versions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.stream_version).collect()
}

fn positions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.global_position).collect()
}

#[track_caller]
fn assert_strictly_increasing(values: &[u64], what: &str) {
    for pair in values.windows(2) {
        assert!(
            pair[0] < pair[1],
            "{what}: not strictly increasing: {values:?}"
        );
    }
}

/// Asserts that a stored event is the one appended.
#[track_caller]
fn assert_same_event(stored: &RecordedEvent, sent: &NewEvent, stream: &StreamId) {
    assert_eq!(stored.event_id, sent.event_id, "event id");
    assert_eq!(
        &stored.stream_id, stream,
        "stream of event {}",
        sent.event_id
    );
    assert_eq!(
        stored.event_type, sent.event_type,
        "event_type of {}",
        sent.event_id
    );
    assert_eq!(
        stored.schema_version, sent.schema_version,
        "schema_version of {}",
        sent.event_id
    );
    assert_eq!(
        stored.data, sent.data,
        "data of {} (must be byte for byte)",
        sent.event_id
    );
    assert_eq!(
        stored.metadata, sent.metadata,
        "metadata of {} (must be byte for byte)",
        sent.event_id
    );
}

/// Asserts a typed `WrongExpectedVersion`.
#[track_caller]
fn assert_wrong_version<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    stream: &StreamId,
    expected: ExpectedVersion,
    actual: u64,
    what: &str,
) {
    match result {
        Err(StoreError::WrongExpectedVersion {
            stream: s,
            expected: e,
            actual: a,
        }) => {
            assert_eq!(&s, stream, "{what}: the conflict names the wrong stream");
            assert_eq!(
                e, expected,
                "{what}: the conflict reports the wrong expected version"
            );
            assert_eq!(
                a, actual,
                "{what}: the conflict reports the wrong actual version"
            );
        }
        other => {
            panic!("{what}: expected WrongExpectedVersion {{ actual: {actual} }}, got {other:?}")
        }
    }
}

/// Asserts a `DuplicateEventId` naming one of `candidates`.
#[track_caller]
fn assert_duplicate<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    candidates: &[Uuid],
    what: &str,
) {
    match result {
        Err(StoreError::DuplicateEventId { event_id }) => assert!(
            candidates.contains(&event_id),
            "{what}: DuplicateEventId names {event_id}, not an id of the request"
        ),
        other => panic!("{what}: expected DuplicateEventId, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Checks

/// `NoStream` creates a stream; versions start at 1; the result's positions
/// are those of the stored events; a second `NoStream` conflicts.
pub async fn append_to_new_stream<S: EventStore>(store: S) {
    let s = stream("new");
    assert_eq!(
        version(&store, &s).await,
        0,
        "a stream without events is at version 0"
    );
    assert!(
        read_stream_all(&store, &s).await.is_empty(),
        "a new stream reads empty"
    );

    let sent = events("new", 3);
    let r = append_ok(&store, &s, ExpectedVersion::NoStream, sent.clone()).await;
    assert_eq!(
        r.stream_version, 3,
        "version after appending 3 events to a new stream"
    );
    assert!(
        r.first_position >= 1,
        "positions start at 1, got {}",
        r.first_position
    );
    assert!(
        r.last_position >= r.first_position + 2,
        "3 events need 3 positions: {r:?}"
    );
    assert_eq!(
        version(&store, &s).await,
        3,
        "stream_version after the append"
    );
    assert_eq!(
        head(&store).await,
        r.last_position,
        "head_position after the append"
    );

    let stored = read_stream_all(&store, &s).await;
    assert_eq!(stored.len(), 3, "events read back");
    for (stored, sent) in stored.iter().zip(&sent) {
        assert_same_event(stored, sent, &s);
    }
    assert_eq!(versions(&stored), vec![1, 2, 3], "versions of a new stream");
    assert_eq!(
        stored[0].global_position, r.first_position,
        "first_position is the first event's"
    );
    assert_eq!(
        stored[2].global_position, r.last_position,
        "last_position is the last event's"
    );
    assert_strictly_increasing(&positions(&stored), "positions within one append");

    let again = store
        .append(&s, ExpectedVersion::NoStream, events("again", 1))
        .await;
    assert_wrong_version(
        again,
        &s,
        ExpectedVersion::NoStream,
        3,
        "NoStream on an existing stream",
    );
    assert_eq!(version(&store, &s).await, 3, "a conflict writes nothing");
}

/// `Exact(v)` succeeds when the stream is at `v` (`Exact(0)` on a new stream).
pub async fn append_with_exact_version<S: EventStore>(store: S) {
    let s = stream("exact");
    let r = append_ok(&store, &s, ExpectedVersion::Exact(0), events("a", 1)).await;
    assert_eq!(r.stream_version, 1, "Exact(0) on a new stream");
    let r = append_ok(&store, &s, ExpectedVersion::Exact(1), events("b", 2)).await;
    assert_eq!(r.stream_version, 3, "Exact(1) with 2 events");
    let r = append_ok(&store, &s, ExpectedVersion::Exact(3), events("c", 1)).await;
    assert_eq!(r.stream_version, 4, "Exact(3) with 1 event");
    assert_eq!(version(&store, &s).await, 4, "stream_version");
    assert_eq!(
        versions(&read_stream_all(&store, &s).await),
        vec![1, 2, 3, 4],
        "versions"
    );
}

/// A wrong expected version is a typed conflict with the actual version, and
/// writes nothing at all.
pub async fn wrong_expected_version_writes_nothing<S: EventStore>(store: S) {
    let s = stream("conflict");
    let original = events("original", 2);
    append_ok(&store, &s, ExpectedVersion::NoStream, original.clone()).await;
    let head_before = head(&store).await;

    let rejected = events("rejected", 2);
    for expected in [
        ExpectedVersion::Exact(1),
        ExpectedVersion::Exact(5),
        ExpectedVersion::Exact(0),
        ExpectedVersion::NoStream,
    ] {
        let result = store.append(&s, expected, rejected.clone()).await;
        assert_wrong_version(
            result,
            &s,
            expected,
            2,
            &format!("{expected:?} on a stream at 2"),
        );
    }
    let empty = stream("still-empty");
    let result = store
        .append(&empty, ExpectedVersion::Exact(3), rejected.clone())
        .await;
    assert_wrong_version(
        result,
        &empty,
        ExpectedVersion::Exact(3),
        0,
        "Exact(3) on a new stream",
    );

    assert_eq!(
        head(&store).await,
        head_before,
        "conflicts must not move the head"
    );
    assert_eq!(
        version(&store, &s).await,
        2,
        "conflicts must not change the version"
    );
    assert_eq!(
        version(&store, &empty).await,
        0,
        "a conflict must not create the stream"
    );
    assert_eq!(
        ids(&read_stream_all(&store, &s).await),
        new_ids(&original),
        "stream content after conflicts"
    );
    assert_eq!(
        ids(&read_everything(&store).await),
        new_ids(&original),
        "read_all after conflicts"
    );

    // Not even the ids were kept: the same events now append normally.
    let r = append_ok(&store, &s, ExpectedVersion::Exact(2), rejected.clone()).await;
    assert_eq!(r.stream_version, 4, "retry with the right version");
}

/// `Any` appends whatever the version.
pub async fn append_with_any_version<S: EventStore>(store: S) {
    let s = stream("any");
    let r = append_ok(&store, &s, ExpectedVersion::Any, events("a", 2)).await;
    assert_eq!(r.stream_version, 2, "Any on a new stream");
    let r = append_ok(&store, &s, ExpectedVersion::Any, events("b", 1)).await;
    assert_eq!(r.stream_version, 3, "Any on an existing stream");
    assert_eq!(
        versions(&read_stream_all(&store, &s).await),
        vec![1, 2, 3],
        "versions"
    );
}

/// Global positions are unique and strictly increasing across streams, in
/// commit order, and each result spans exactly its events.
pub async fn positions_increase_across_streams<S: EventStore>(store: S) {
    let streams = [stream("p-a"), stream("p-b"), stream("p-c")];
    let mut last = 0;
    let mut appended: Vec<(AppendResult, Vec<Uuid>)> = Vec::new();
    for i in 0..12 {
        let s = &streams[i % 3];
        let sent = events(&format!("p{i}"), 1 + i % 4);
        let r = append_ok(&store, s, ExpectedVersion::Any, sent.clone()).await;
        assert!(
            r.first_position > last,
            "append {i}: first_position {} not above {last}",
            r.first_position
        );
        assert!(r.last_position >= r.first_position, "append {i}: {r:?}");
        last = r.last_position;
        appended.push((r, new_ids(&sent)));
    }
    let all = read_everything(&store).await;
    let total: usize = appended.iter().map(|(_, ids)| ids.len()).sum();
    assert_eq!(all.len(), total, "read_all returns every event");
    assert_strictly_increasing(&positions(&all), "read_all positions");
    let unique: HashSet<u64> = positions(&all).into_iter().collect();
    assert_eq!(unique.len(), total, "positions are unique");
    assert_eq!(head(&store).await, last, "head is the last position");

    let by_id: HashMap<Uuid, u64> = all
        .iter()
        .map(|e| (e.event_id, e.global_position))
        .collect();
    for (r, sent) in &appended {
        let stored: Vec<u64> = sent.iter().map(|id| by_id[id]).collect();
        assert_eq!(stored[0], r.first_position, "first_position of {r:?}");
        assert_eq!(
            *stored.last().unwrap(),
            r.last_position,
            "last_position of {r:?}"
        );
        assert_strictly_increasing(&stored, "positions within one append");
    }
}

/// Each stream's versions run 1, 2, 3, ... with no gap, whatever the
/// batching, and results report the version after each append.
pub async fn stream_versions_are_contiguous<S: EventStore>(store: S) {
    let s = stream("versions");
    let other = stream("versions-other");
    let mut expected_version = 0;
    for (i, n) in [1usize, 3, 2, 5, 1].into_iter().enumerate() {
        let r = append_ok(
            &store,
            &s,
            ExpectedVersion::Exact(expected_version),
            events(&format!("v{i}"), n),
        )
        .await;
        expected_version += n as u64;
        assert_eq!(
            r.stream_version, expected_version,
            "version after append {i}"
        );
        append_ok(&store, &other, ExpectedVersion::Any, events("noise", 1)).await;
    }
    let stored = read_stream_all(&store, &s).await;
    assert_eq!(
        versions(&stored),
        (1..=expected_version).collect::<Vec<_>>(),
        "versions of the stream"
    );
    assert_strictly_increasing(&positions(&stored), "positions within a stream");
    assert_eq!(
        versions(&read_stream_all(&store, &other).await),
        vec![1, 2, 3, 4, 5],
        "other stream"
    );
}

/// Re-sending the same event ids in the same order to the same stream returns
/// the original result and writes nothing, whatever the expected version, in
/// a single append, a batch, or twice within one batch.
pub async fn idempotent_reappend_returns_original_positions<S: EventStore>(store: S) {
    let s = stream("idem");
    let sent = events("idem", 3);
    let original = append_ok(&store, &s, ExpectedVersion::NoStream, sent.clone()).await;
    let head_before = head(&store).await;

    for expected in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Any,
        ExpectedVersion::Exact(0),
        ExpectedVersion::Exact(3),
        ExpectedVersion::Exact(42),
    ] {
        let again = store.append(&s, expected, sent.clone()).await;
        assert_eq!(
            again,
            Ok(original),
            "retry with {expected:?} returns the original result"
        );
    }
    assert_eq!(
        head(&store).await,
        head_before,
        "retries must not move the head"
    );
    assert_eq!(
        version(&store, &s).await,
        3,
        "retries must not change the version"
    );
    assert_eq!(
        read_everything(&store).await.len(),
        3,
        "retries must write nothing"
    );

    // Still idempotent after the stream moved on.
    let later = append_ok(&store, &s, ExpectedVersion::Exact(3), events("later", 2)).await;
    let again = store
        .append(&s, ExpectedVersion::Exact(3), sent.clone())
        .await;
    assert_eq!(again, Ok(original), "retry after later appends");

    // Inside batches, next to new work.
    let t = stream("idem-other");
    let results = store
        .append_each(vec![
            request(&s, ExpectedVersion::NoStream, sent.clone()),
            request(&t, ExpectedVersion::NoStream, events("t", 1)),
        ])
        .await;
    assert_eq!(results[0], Ok(original), "retry inside append_each");
    let t_result = ok(results[1].clone(), "new request beside a retry");
    assert_eq!(t_result.stream_version, 1, "new request beside a retry");
    let results = ok(
        store
            .append_all(vec![request(&s, ExpectedVersion::Any, sent.clone())])
            .await,
        "retry inside append_all",
    );
    assert_eq!(results, vec![original], "retry inside append_all");

    // The same request twice in one batch is written once.
    let u = stream("idem-twice");
    let twice = events("twice", 2);
    let results = store
        .append_each(vec![
            request(&u, ExpectedVersion::NoStream, twice.clone()),
            request(&u, ExpectedVersion::NoStream, twice.clone()),
        ])
        .await;
    let first = ok(
        results[0].clone(),
        "first of a request sent twice in a batch",
    );
    assert_eq!(
        results[1],
        Ok(first),
        "second copy in the same batch is an idempotent retry"
    );
    assert_eq!(
        version(&store, &u).await,
        2,
        "a request sent twice in a batch is written once"
    );

    assert_eq!(
        version(&store, &s).await,
        later.stream_version,
        "s unchanged by retries"
    );
    assert_eq!(
        read_everything(&store).await.len(),
        3 + 2 + 1 + 2,
        "events stored after all the retries"
    );
}

/// Stored ids sent again in another arrangement (a non-consecutive subset, a
/// different order, mixed with new ids, to another stream, or twice in one
/// request) are `DuplicateEventId`, and nothing of that request is written.
pub async fn non_idempotent_reappend_is_duplicate<S: EventStore>(store: S) {
    let s = stream("dup");
    let sent = events("dup", 3);
    let (a, b, c) = (sent[0].clone(), sent[1].clone(), sent[2].clone());
    append_ok(&store, &s, ExpectedVersion::NoStream, sent.clone()).await;
    let head_before = head(&store).await;
    let d = event("d");
    let other = stream("dup-other");

    let cases: Vec<(&str, &StreamId, Vec<NewEvent>)> = vec![
        (
            "non-consecutive subset [a, c]",
            &s,
            vec![a.clone(), c.clone()],
        ),
        ("different order [b, a]", &s, vec![b.clone(), a.clone()]),
        (
            "reversed [c, b, a]",
            &s,
            vec![c.clone(), b.clone(), a.clone()],
        ),
        (
            "superset [a, b, c, d]",
            &s,
            vec![a.clone(), b.clone(), c.clone(), d.clone()],
        ),
        ("new id first [d, a]", &s, vec![d.clone(), a.clone()]),
        ("same ids, other stream", &other, sent.clone()),
        ("one stored id, other stream", &other, vec![b.clone()]),
    ];
    for (what, target, request_events) in cases {
        let candidates = new_ids(&request_events);
        let result = store
            .append(target, ExpectedVersion::Any, request_events)
            .await;
        assert_duplicate(result, &candidates, what);
    }
    let twice = event("twice");
    let result = store
        .append(
            &other,
            ExpectedVersion::Any,
            vec![twice.clone(), twice.clone()],
        )
        .await;
    assert_duplicate(
        result,
        &[twice.event_id],
        "the same id twice in one request",
    );

    assert_eq!(
        head(&store).await,
        head_before,
        "duplicates must not move the head"
    );
    assert_eq!(
        version(&store, &other).await,
        0,
        "duplicates must not create a stream"
    );
    assert_eq!(
        ids(&read_everything(&store).await),
        new_ids(&sent),
        "duplicates must write nothing"
    );

    // d was never stored.
    let r = append_ok(&store, &s, ExpectedVersion::Exact(3), vec![d]).await;
    assert_eq!(
        r.stream_version, 4,
        "an id from a rejected request appends later"
    );
}

/// A request without events is `EmptyAppend`, alone or in a batch.
pub async fn empty_append_is_rejected<S: EventStore>(store: S) {
    let s = stream("empty");
    let result = store.append(&s, ExpectedVersion::Any, Vec::new()).await;
    assert_eq!(
        result,
        Err(StoreError::EmptyAppend),
        "append with no events"
    );

    assert!(
        store.append_each(Vec::new()).await.is_empty(),
        "append_each of no requests"
    );
    assert_eq!(
        store.append_all(Vec::new()).await,
        Ok(Vec::new()),
        "append_all of no requests"
    );

    let t = stream("empty-neighbour");
    let results = store
        .append_each(vec![
            request(&s, ExpectedVersion::Any, Vec::new()),
            request(&t, ExpectedVersion::NoStream, events("t", 1)),
        ])
        .await;
    assert_eq!(results.len(), 2, "one result per request");
    assert_eq!(
        results[0],
        Err(StoreError::EmptyAppend),
        "empty request in append_each"
    );
    assert!(
        results[1].is_ok(),
        "the other request commits: {:?}",
        results[1]
    );

    let u = stream("empty-all");
    let result = store
        .append_all(vec![
            request(&u, ExpectedVersion::NoStream, events("u", 2)),
            request(&s, ExpectedVersion::Any, Vec::new()),
        ])
        .await;
    assert_eq!(
        result,
        Err(StoreError::EmptyAppend),
        "empty request in append_all"
    );
    assert_eq!(
        version(&store, &u).await,
        0,
        "append_all with an empty request writes nothing"
    );
    assert_eq!(
        version(&store, &s).await,
        0,
        "an empty append creates no stream"
    );
    assert_eq!(
        read_everything(&store).await.len(),
        1,
        "only the non-empty request was stored"
    );
}

/// In `append_each`, a conflicting request gets its error and writes nothing
/// while the others commit, including two requests to the same stream.
pub async fn append_each_isolates_conflicts<S: EventStore>(store: S) {
    let a = stream("each-a");
    let b = stream("each-b");
    let c = stream("each-c");
    append_ok(&store, &a, ExpectedVersion::NoStream, events("a0", 2)).await;
    let b_before = events("b0", 1);
    append_ok(&store, &b, ExpectedVersion::NoStream, b_before.clone()).await;

    let a1 = events("a1", 2);
    let b1 = events("b1", 1);
    let c1 = events("c1", 3);
    let a2 = events("a2", 1);
    let results = store
        .append_each(vec![
            request(&a, ExpectedVersion::Exact(2), a1.clone()),
            request(&b, ExpectedVersion::Exact(5), b1.clone()),
            request(&c, ExpectedVersion::NoStream, c1.clone()),
            // Sees the first request's events.
            request(&a, ExpectedVersion::Exact(4), a2.clone()),
            // Sees them too: conflicts.
            request(&a, ExpectedVersion::Exact(2), events("a3", 1)),
        ])
        .await;
    assert_eq!(results.len(), 5, "one result per request");
    let r0 = ok(results[0].clone(), "request 0 (a, Exact(2))");
    assert_wrong_version(
        results[1].clone(),
        &b,
        ExpectedVersion::Exact(5),
        1,
        "request 1 (b, Exact(5))",
    );
    let r2 = ok(results[2].clone(), "request 2 (c, NoStream)");
    let r3 = ok(results[3].clone(), "request 3 (a again, Exact(4))");
    assert_wrong_version(
        results[4].clone(),
        &a,
        ExpectedVersion::Exact(2),
        5,
        "request 4 (a, stale Exact(2))",
    );
    assert_eq!(
        (r0.stream_version, r2.stream_version, r3.stream_version),
        (4, 3, 5),
        "versions"
    );
    assert!(
        r0.last_position < r2.first_position && r2.last_position < r3.first_position,
        "positions follow the batch order: {r0:?} {r2:?} {r3:?}"
    );

    assert_eq!(
        ids(&read_stream_all(&store, &b).await),
        new_ids(&b_before),
        "b untouched"
    );
    let a_events = read_stream_all(&store, &a).await;
    assert_eq!(versions(&a_events), vec![1, 2, 3, 4, 5], "a's versions");
    assert_eq!(
        ids(&a_events[2..]),
        [new_ids(&a1), new_ids(&a2)].concat(),
        "a's new events"
    );
    assert_eq!(
        first_broken_link(&a_events, GENESIS_HASH, 0),
        None,
        "a's chain across one batch"
    );
    assert_eq!(
        ids(&read_stream_all(&store, &c).await),
        new_ids(&c1),
        "c's events"
    );
    assert_eq!(
        read_everything(&store).await.len(),
        3 + 2 + 3 + 1,
        "events stored"
    );
}

/// `append_all` with one failing request writes nothing at all and returns
/// the first failing request's error; without failures it writes everything.
pub async fn append_all_is_all_or_nothing<S: EventStore>(store: S) {
    let a = stream("all-a");
    let b = stream("all-b");
    let c = stream("all-c");
    append_ok(&store, &a, ExpectedVersion::NoStream, events("a0", 2)).await;
    append_ok(&store, &b, ExpectedVersion::NoStream, events("b0", 1)).await;
    let head_before = head(&store).await;

    let result = store
        .append_all(vec![
            request(&a, ExpectedVersion::Exact(2), events("a1", 2)),
            request(&b, ExpectedVersion::Exact(5), events("b1", 1)),
            request(&c, ExpectedVersion::NoStream, events("c1", 1)),
            request(&c, ExpectedVersion::Exact(9), events("c2", 1)),
        ])
        .await;
    assert_wrong_version(
        result,
        &b,
        ExpectedVersion::Exact(5),
        1,
        "append_all returns the first error",
    );
    assert_eq!(
        head(&store).await,
        head_before,
        "a failed append_all must not move the head"
    );
    assert_eq!(
        version(&store, &a).await,
        2,
        "a failed append_all writes nothing to a"
    );
    assert_eq!(
        version(&store, &c).await,
        0,
        "a failed append_all writes nothing to c"
    );
    assert_eq!(
        read_everything(&store).await.len(),
        3,
        "a failed append_all writes nothing"
    );

    let stored = events("a0", 1);
    let result = store
        .append_all(vec![
            request(&c, ExpectedVersion::NoStream, events("c1", 1)),
            request(&a, ExpectedVersion::Any, [stored.clone(), stored].concat()),
        ])
        .await;
    assert!(
        matches!(result, Err(StoreError::DuplicateEventId { .. })),
        "append_all with a duplicate id: {result:?}"
    );
    assert_eq!(
        version(&store, &c).await,
        0,
        "a failed append_all writes nothing to c"
    );

    let results = ok(
        store
            .append_all(vec![
                request(&a, ExpectedVersion::Exact(2), events("a1", 2)),
                request(&b, ExpectedVersion::Exact(1), events("b1", 1)),
                request(&c, ExpectedVersion::NoStream, events("c1", 1)),
                request(&c, ExpectedVersion::Exact(1), events("c2", 1)),
            ])
            .await,
        "append_all without conflicts",
    );
    let got: Vec<u64> = results.iter().map(|r| r.stream_version).collect();
    assert_eq!(got, vec![4, 2, 1, 2], "versions after append_all");
    assert_eq!(
        read_everything(&store).await.len(),
        3 + 5,
        "append_all writes everything"
    );
}

/// `read_stream` starts at `from_version`, returns at most `limit`, in order.
pub async fn read_stream_from_version_and_limit<S: EventStore>(store: S) {
    let s = stream("read");
    let other = stream("read-other");
    for i in 0..10 {
        append_ok(
            &store,
            &s,
            ExpectedVersion::Exact(i),
            events(&format!("r{i}"), 1),
        )
        .await;
        if i % 2 == 0 {
            append_ok(&store, &other, ExpectedVersion::Any, events("o", 1)).await;
        }
    }
    let cases: [(u64, usize, Vec<u64>); 8] = [
        (1, ALL, (1..=10).collect()),
        (0, ALL, (1..=10).collect()),
        (4, 3, vec![4, 5, 6]),
        (0, 2, vec![1, 2]),
        (10, 5, vec![10]),
        (9, 100, vec![9, 10]),
        (11, 5, vec![]),
        (1, 0, vec![]),
    ];
    for (from, limit, want) in cases {
        let got = ok(store.read_stream(&s, from, limit).await, "read_stream");
        assert_eq!(
            versions(&got),
            want,
            "read_stream(from_version {from}, limit {limit})"
        );
        assert!(
            got.iter().all(|e| e.stream_id == s),
            "read_stream returns only that stream"
        );
    }
    let unknown = ok(
        store.read_stream(&stream("nothing"), 1, ALL).await,
        "read_stream",
    );
    assert!(unknown.is_empty(), "read_stream of an unknown stream");
}

/// `read_all` starts at `from_position`, returns at most `limit`, in global
/// order across streams; paging with a small limit sees every event once.
pub async fn read_all_from_position_and_limit<S: EventStore>(store: S) {
    let streams = [stream("ra-a"), stream("ra-b"), stream("ra-c")];
    let mut sent = Vec::new();
    for i in 0..9 {
        let batch = events(&format!("ra{i}"), 1 + i % 2);
        sent.extend(new_ids(&batch));
        append_ok(&store, &streams[i % 3], ExpectedVersion::Any, batch).await;
    }
    let all = read_everything(&store).await;
    assert_eq!(
        ids(&all),
        sent,
        "read_all returns every event in commit order"
    );
    let ps = positions(&all);
    assert_strictly_increasing(&ps, "read_all positions");

    let from_one = ok(store.read_all(1, ALL).await, "read_all(1)");
    assert_eq!(positions(&from_one), ps, "read_all(1) is read_all(0)");
    let window = ok(store.read_all(ps[4], 3).await, "read_all window");
    assert_eq!(
        positions(&window),
        ps[4..7].to_vec(),
        "read_all(from position of the 5th, limit 3)"
    );
    let between = ok(store.read_all(ps[2] + 1, 1).await, "read_all between");
    assert_eq!(
        positions(&between),
        vec![ps[3]],
        "read_all from just past an event"
    );
    let tail = ok(
        store.read_all(ps[ps.len() - 1] + 1, 10).await,
        "read_all past head",
    );
    assert!(tail.is_empty(), "read_all past the head is empty");
    let none = ok(store.read_all(0, 0).await, "read_all limit 0");
    assert!(none.is_empty(), "read_all with limit 0 is empty");

    let mut paged = Vec::new();
    let mut from = 0;
    loop {
        let page = ok(store.read_all(from, 4).await, "read_all page");
        assert!(page.len() <= 4, "read_all returned more than its limit");
        let Some(last) = page.last() else { break };
        from = last.global_position + 1;
        paged.extend(page);
    }
    assert_eq!(ids(&paged), sent, "paging through read_all");
}

/// Every event's `prev_hash` is its predecessor's `hash` (genesis for the
/// first), every `hash` recomputes, and tampering is detected.
pub async fn hash_chain_links_every_event<S: EventStore>(store: S) {
    let a = stream("chain-a");
    let b = stream("chain-b");
    append_ok(&store, &a, ExpectedVersion::NoStream, events("a", 3)).await;
    append_ok(&store, &b, ExpectedVersion::NoStream, events("b", 1)).await;
    let results = store
        .append_each(vec![
            request(&a, ExpectedVersion::Exact(3), events("a2", 2)),
            request(&b, ExpectedVersion::Exact(1), events("b2", 2)),
            request(&a, ExpectedVersion::Exact(5), events("a3", 1)),
        ])
        .await;
    for r in results {
        ok(r, "append_each for the chain");
    }
    append_ok(&store, &a, ExpectedVersion::Any, events("a4", 1)).await;

    for s in [&a, &b] {
        let stored = read_stream_all(&store, s).await;
        assert_eq!(
            stored[0].prev_hash, GENESIS_HASH,
            "{s}: the first event links to genesis"
        );
        for pair in stored.windows(2) {
            assert_eq!(
                pair[1].prev_hash, pair[0].hash,
                "{s}: version {} must link to version {}",
                pair[1].stream_version, pair[0].stream_version
            );
        }
        for e in &stored {
            assert_eq!(
                e.computed_hash(),
                e.hash,
                "{s}: hash of version {}",
                e.stream_version
            );
        }
        assert_eq!(
            first_broken_link(&stored, GENESIS_HASH, 0),
            None,
            "{s}: first_broken_link"
        );

        let mut tampered = stored.clone();
        tampered[1].data.push(' ');
        assert_eq!(
            first_broken_link(&tampered, GENESIS_HASH, 0),
            Some(2),
            "{s}: tampering is detected"
        );
    }
    for e in read_everything(&store).await {
        assert_eq!(
            e.computed_hash(),
            e.hash,
            "read_all: hash of {}@{}",
            e.stream_id,
            e.stream_version
        );
    }
}

/// `wait_for` returns at once when the position is reached, times out with
/// the old head when it is not, and wakes when another task commits.
pub async fn wait_for_wakes_on_commit<S: EventStore>(store: S) {
    let store = Arc::new(store);
    let s = stream("wait");
    let r = append_ok(&*store, &s, ExpectedVersion::NoStream, events("w", 2)).await;

    let started = Instant::now();
    let seen = ok(
        store
            .wait_for(r.last_position, Duration::from_secs(10))
            .await,
        "wait_for reached",
    );
    assert!(
        seen >= r.last_position,
        "wait_for returns a head at or past the position: {seen}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "wait_for of a reached position must not wait"
    );
    let seen = ok(
        store.wait_for(0, Duration::from_secs(10)).await,
        "wait_for(0)",
    );
    assert!(seen >= r.last_position, "wait_for(0) returns the head");

    let started = Instant::now();
    let timeout = Duration::from_millis(200);
    let seen = ok(
        store.wait_for(r.last_position + 1, timeout).await,
        "wait_for timing out",
    );
    assert_eq!(
        seen, r.last_position,
        "wait_for timing out returns the old head"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "wait_for returned before its timeout"
    );

    let waiter = {
        let store = Arc::clone(&store);
        let target = r.last_position + 1;
        tokio::spawn(async move {
            let started = Instant::now();
            let seen = store.wait_for(target, Duration::from_secs(20)).await;
            (seen, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let next = append_ok(&*store, &s, ExpectedVersion::Exact(2), events("w2", 1)).await;
    let (seen, waited) = waiter.await.expect("the waiting task panicked");
    let seen = ok(seen, "wait_for woken by a commit");
    assert!(
        seen >= next.last_position,
        "the woken waiter sees the new head: {seen}"
    );
    assert!(
        waited < Duration::from_secs(10),
        "wait_for was not woken by the commit ({waited:?})"
    );
}

/// 16 tasks append 50 events each to one stream with optimistic retries:
/// every event lands exactly once, versions 1..=800, positions unique.
pub async fn concurrent_optimistic_appends<S: EventStore>(store: S) {
    const TASKS: usize = 16;
    const PER_TASK: usize = 50;
    let store = Arc::new(store);
    let s = stream("race");
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = Arc::clone(&store);
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            let mut conflicts = 0u64;
            for i in 0..PER_TASK {
                let e = event(&format!("task{task}-{i}"));
                loop {
                    let current = store
                        .stream_version(&s)
                        .await
                        .expect("stream_version under contention");
                    match store
                        .append(&s, ExpectedVersion::Exact(current), vec![e.clone()])
                        .await
                    {
                        Ok(_) => break,
                        Err(StoreError::WrongExpectedVersion { .. }) => {
                            conflicts += 1;
                            tokio::task::yield_now().await;
                        }
                        Err(other) => panic!("task {task}: append failed: {other:?}"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for handle in handles {
        conflicts += handle.await.expect("an appending task panicked");
    }
    let total = (TASKS * PER_TASK) as u64;
    assert_eq!(
        version(&*store, &s).await,
        total,
        "final version ({conflicts} conflicts retried)"
    );
    let stored = read_stream_all(&*store, &s).await;
    assert_eq!(
        versions(&stored),
        (1..=total).collect::<Vec<_>>(),
        "versions are contiguous"
    );
    let unique_positions: HashSet<u64> = positions(&stored).into_iter().collect();
    assert_eq!(unique_positions.len(), stored.len(), "positions are unique");
    assert_strictly_increasing(&positions(&stored), "positions follow versions");
    let unique_ids: HashSet<Uuid> = ids(&stored).into_iter().collect();
    assert_eq!(
        unique_ids.len(),
        stored.len(),
        "every event landed exactly once"
    );
    assert_eq!(
        first_broken_link(&stored, GENESIS_HASH, 0),
        None,
        "chain under contention"
    );
}

/// Many writers append to their own streams at once while a follower
/// pages through `read_all` from where it stopped, waking with `wait_for`:
/// the follower sees every event exactly once, in strictly increasing
/// position order, with no gap (an event that commits late with a lower
/// position must not be skipped). Backends whose writers can commit out of
/// position order test that case with delays of their own as well.
pub async fn followers_see_every_event_once_in_order<S: EventStore>(store: S) {
    const WRITERS: usize = 8;
    const APPENDS: usize = 40;
    let store = Arc::new(store);
    let total = (WRITERS * APPENDS * 2) as u64;
    let follower = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let mut seen: Vec<RecordedEvent> = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while (seen.len() as u64) < total {
                assert!(
                    Instant::now() < deadline,
                    "the follower saw {} of {total} events in 60 s",
                    seen.len()
                );
                let from = seen.last().map_or(1, |e| e.global_position + 1);
                let page = ok(store.read_all(from, 7).await, "read_all while following");
                if page.is_empty() {
                    ok(
                        store.wait_for(from, Duration::from_millis(200)).await,
                        "wait_for while following",
                    );
                }
                seen.extend(page);
            }
            seen
        })
    };
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = Arc::clone(&store);
        writers.push(tokio::spawn(async move {
            let s = stream(&format!("follow-{w}"));
            for i in 0..APPENDS {
                let expected = if i == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(2 * i as u64)
                };
                ok(
                    store
                        .append(&s, expected, events(&format!("w{w}-{i}"), 2))
                        .await,
                    "append while followed",
                );
                if i % 3 == w % 3 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for w in writers {
        w.await.expect("a writer panicked");
    }
    let seen = tokio::time::timeout(Duration::from_secs(90), follower)
        .await
        .expect("the follower finished")
        .expect("the follower panicked");
    assert_eq!(
        positions(&seen),
        (1..=total).collect::<Vec<_>>(),
        "the follower saw every position once, in order, with no gap"
    );
    let unique: HashSet<Uuid> = ids(&seen).into_iter().collect();
    assert_eq!(unique.len() as u64, total, "every event once");
    assert_eq!(
        ids(&seen),
        ids(&read_everything(&*store).await),
        "the follower saw what read_all reads afterwards"
    );
}

/// `data`, `metadata`, `event_type` and `schema_version` come back exactly as
/// sent: unicode, quotes, escapes, newlines, odd JSON formatting, large
/// payloads; `recorded_at` is the commit time.
pub async fn data_round_trips_exactly<S: EventStore>(store: S) {
    let s = stream("bytes");
    let started = Utc::now();
    let big = format!(r#"{{"blob":"{}"}}"#, "xyz→é".repeat(40_000));
    let payloads: Vec<(&str, u32, String, String)> = vec![
        (
            "Unicode",
            1,
            r#"{"name":"Zoë Ångström","cjk":"日本語","emoji":"🚀👩‍💻","rtl":"مرحبا"}"#.to_string(),
            r#"{"actor":"Łukasz"}"#.to_string(),
        ),
        (
            "Quotes",
            2,
            r#"{"said":"he said \"hi\" and 'bye'","backslash":"C:\\path\\x","u":"\u0000\u001f\u2028"}"#.to_string(),
            "{}".to_string(),
        ),
        (
            "Whitespace",
            3,
            "{\n  \"multi\": \"line\\nvalue\",\n\t\"tab\":\t1 ,\r\n  \"sp\" :  [ 1 , 2 ]\n}\n".to_string(),
            "  {\"trailing\":true}  ".to_string(),
        ),
        (
            "Numbers",
            u32::MAX,
            r#"{"b":1.0e10,"a":-0.0,"big":123456789012345678901234567890,"dup":1,"dup":2}"#.to_string(),
            r#"{"z":1,"a":2}"#.to_string(),
        ),
        ("Large", 0, big, r#"{"size":"large"}"#.to_string()),
        ("Événement·type", 7, "[]".to_string(), "null".to_string()),
    ];
    let sent: Vec<NewEvent> = payloads
        .into_iter()
        .map(|(event_type, schema_version, data, metadata)| NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event_type.to_string(),
            schema_version,
            data,
            metadata,
        })
        .collect();
    append_ok(&store, &s, ExpectedVersion::NoStream, sent.clone()).await;
    let finished = Utc::now();

    let by_stream = read_stream_all(&store, &s).await;
    let by_all = read_everything(&store).await;
    assert_eq!(by_stream.len(), sent.len(), "events read back");
    assert_eq!(
        by_stream, by_all,
        "read_stream and read_all return the same envelopes"
    );
    for (stored, sent) in by_stream.iter().zip(&sent) {
        assert_same_event(stored, sent, &s);
        let slack = chrono::Duration::seconds(5);
        assert!(
            stored.recorded_at >= started - slack && stored.recorded_at <= finished + slack,
            "recorded_at {} is not the commit time",
            stored.recorded_at
        );
        assert_eq!(
            stored.computed_hash(),
            stored.hash,
            "hash of {}",
            stored.event_type
        );
    }
}

/// A large batch (one request of 1,234 events and 250 small requests to
/// distinct streams) commits whole with contiguous versions and intact
/// chains, and re-sending it is an idempotent retry of every request.
pub async fn large_batches_append_and_retry_whole<S: EventStore>(store: S) {
    let big = stream("large");
    let mut batch = vec![request(
        &big,
        ExpectedVersion::NoStream,
        events("big", 1_234),
    )];
    let small: Vec<StreamId> = (0..250).map(|i| stream(&format!("small{i}"))).collect();
    for s in &small {
        batch.push(request(s, ExpectedVersion::NoStream, events("small", 2)));
    }
    let results: Vec<AppendResult> = store
        .append_each(batch.clone())
        .await
        .into_iter()
        .enumerate()
        .map(|(i, r)| ok(r, &format!("request {i} of a large batch")))
        .collect();
    assert_eq!(
        results[0].stream_version, 1_234,
        "version of the large request"
    );
    assert!(
        results[1..].iter().all(|r| r.stream_version == 2),
        "versions of the small requests"
    );
    for pair in results.windows(2) {
        assert!(
            pair[0].last_position < pair[1].first_position,
            "positions follow the batch order"
        );
    }
    let total = 1_234 + 250 * 2;
    let head_after = head(&store).await;
    assert_eq!(
        head_after,
        results[results.len() - 1].last_position,
        "head after a large batch"
    );

    let stored = read_stream_all(&store, &big).await;
    assert_eq!(
        versions(&stored),
        (1..=1_234).collect::<Vec<_>>(),
        "versions of the large request"
    );
    assert_eq!(
        ids(&stored),
        new_ids(&batch[0].events),
        "events of the large request"
    );
    assert_eq!(
        first_broken_link(&stored, GENESIS_HASH, 0),
        None,
        "chain of the large request"
    );
    let all = read_everything(&store).await;
    assert_eq!(all.len(), total, "read_all after a large batch");
    assert_strictly_increasing(&positions(&all), "read_all positions after a large batch");
    for s in small.iter().step_by(50) {
        let events = read_stream_all(&store, s).await;
        assert_eq!(
            first_broken_link(&events, GENESIS_HASH, 0),
            None,
            "chain of {s}"
        );
    }

    let again = store.append_each(batch).await;
    let again: Vec<AppendResult> = again
        .into_iter()
        .enumerate()
        .map(|(i, r)| ok(r, &format!("retry of request {i} of a large batch")))
        .collect();
    assert_eq!(
        again, results,
        "re-sending a large batch returns the original results"
    );
    assert_eq!(
        head(&store).await,
        head_after,
        "re-sending a large batch writes nothing"
    );
}

// ---------------------------------------------------------------------------
// Receipts: kept answers and pending effects

fn receipt(last_event: usize, principal: u8, key: &str, effects: &[&str]) -> Receipt {
    Receipt {
        last_event,
        answer: Some(KeptAnswer {
            principal: [principal; 32],
            key: key.to_string(),
            sealed: format!("sealed {key}").into_bytes(),
        }),
        effects: effects
            .iter()
            .map(|p| PendingEffect {
                id: Uuid::now_v7(),
                payload: p.to_string(),
            })
            .collect(),
    }
}

/// Two commands in one request: each answer is kept at its own last
/// event's position, the effects are pending in order, and a retry of the
/// same request keeps nothing twice.
pub async fn receipts_commit_with_their_events<S: EventStore>(store: S) {
    let s = stream("receipts");
    let mut request = request(&s, ExpectedVersion::NoStream, events("r", 3));
    request.receipts = vec![
        receipt(0, 1, "first", &["effect-a"]),
        receipt(2, 1, "second", &["effect-b", "effect-c"]),
    ];
    let results = store.append_each(vec![request.clone()]).await;
    let appended = results[0].clone().expect("append with receipts");
    let since = Utc::now() - chrono::Duration::hours(1);
    let first = store
        .find_answer(&[1; 32], "first", since)
        .await
        .expect("find_answer")
        .expect("the first command's answer is kept");
    assert_eq!(first.position, Some(appended.first_position));
    assert_eq!(first.sealed, b"sealed first".to_vec());
    let second = store
        .find_answer(&[1; 32], "second", since)
        .await
        .expect("find_answer")
        .expect("the second command's answer is kept");
    assert_eq!(second.position, Some(appended.last_position));
    assert!(
        store
            .find_answer(&[2; 32], "first", since)
            .await
            .expect("find_answer")
            .is_none(),
        "another principal's key is another key"
    );

    // An idempotent retry: same positions, nothing kept twice.
    let again = store.append_each(vec![request]).await;
    assert_eq!(again[0].clone().expect("retry"), appended);
    let pending = store.pending_effects().await.expect("pending_effects");
    let payloads: Vec<&str> = pending.iter().map(|e| e.payload.as_str()).collect();
    assert_eq!(payloads, ["effect-a", "effect-b", "effect-c"]);

    let ids: Vec<Uuid> = pending.iter().take(2).map(|e| e.id).collect();
    store.clear_effects(&ids).await.expect("clear_effects");
    store
        .clear_effects(&[Uuid::now_v7()])
        .await
        .expect("clearing an unknown id is not an error");
    let left = store.pending_effects().await.expect("pending_effects");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].payload, "effect-c");
}

/// A request that conflicts leaves no receipt; the one beside it in the
/// same batch keeps its own.
pub async fn receipts_of_a_failed_request_are_not_kept<S: EventStore>(store: S) {
    let (a, b) = (stream("receipt-ok"), stream("receipt-conflict"));
    let mut ok = request(&a, ExpectedVersion::NoStream, events("ok", 1));
    ok.receipts = vec![receipt(0, 3, "ok", &["ok-effect"])];
    let mut conflict = request(&b, ExpectedVersion::Exact(7), events("no", 1));
    conflict.receipts = vec![receipt(0, 3, "conflict", &["conflict-effect"])];
    let results = store.append_each(vec![ok, conflict]).await;
    assert!(results[0].is_ok());
    assert!(matches!(
        results[1],
        Err(StoreError::WrongExpectedVersion { .. })
    ));
    let since = Utc::now() - chrono::Duration::hours(1);
    assert!(store
        .find_answer(&[3; 32], "ok", since)
        .await
        .expect("find_answer")
        .is_some());
    assert!(
        store
            .find_answer(&[3; 32], "conflict", since)
            .await
            .expect("find_answer")
            .is_none(),
        "a failed request keeps no answer"
    );
    let pending = store.pending_effects().await.expect("pending_effects");
    let payloads: Vec<&str> = pending.iter().map(|e| e.payload.as_str()).collect();
    assert_eq!(payloads, ["ok-effect"], "a failed request leaves no effect");

    // All or nothing: a failed batch keeps no receipt of any request.
    let c = stream("receipt-all");
    let mut first = request(&c, ExpectedVersion::NoStream, events("all", 1));
    first.receipts = vec![receipt(0, 4, "all", &[])];
    let bad = request(&b, ExpectedVersion::Exact(9), events("bad", 1));
    assert!(store.append_all(vec![first, bad]).await.is_err());
    assert!(store
        .find_answer(&[4; 32], "all", since)
        .await
        .expect("find_answer")
        .is_none());
}

/// An answer kept on its own has no position; the first one wins; answers
/// older than the cut are forgotten and not found.
pub async fn answers_kept_alone_and_forgotten<S: EventStore>(store: S) {
    let answer = |sealed: &str| KeptAnswer {
        principal: [5; 32],
        key: "alone".to_string(),
        sealed: sealed.as_bytes().to_vec(),
    };
    assert!(store.keep_answer(answer("one")).await.expect("keep_answer"));
    assert!(
        !store.keep_answer(answer("two")).await.expect("keep_answer"),
        "the first answer wins"
    );
    let since = Utc::now() - chrono::Duration::hours(1);
    let found = store
        .find_answer(&[5; 32], "alone", since)
        .await
        .expect("find_answer")
        .expect("kept");
    assert_eq!(found.position, None);
    assert_eq!(found.sealed, b"one".to_vec());
    assert!(
        store
            .find_answer(&[5; 32], "alone", Utc::now() + chrono::Duration::seconds(5))
            .await
            .expect("find_answer")
            .is_none(),
        "an answer kept before `since` is not found"
    );
    let forgotten = store
        .forget_answers(Utc::now() + chrono::Duration::seconds(5))
        .await
        .expect("forget_answers");
    assert_eq!(forgotten, 1);
    assert!(store
        .find_answer(&[5; 32], "alone", since)
        .await
        .expect("find_answer")
        .is_none());
}
