//! `replay::as_of`: the state at every moment equals the fold of the events
//! that occurred up to it, with and without snapshots; snapshots are
//! checked against the chain and discarded when stale.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::events::{Actor, EventMetadata, Medium};
use domain::ids::OrgId;
use domain::store::{EventStore, ExpectedVersion, NewEvent};
use domain::{Event, Organization};
use infra::SqliteEventStore;
use proptest::prelude::*;
use replay::{as_of, ReplayError, Snapshots};
use testkit::{Size, Workload};

const TINY: Size = Size {
    users: 8,
    projects: 3,
    groups: 3,
    custom_roles: 4,
};

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap()
}

/// A store holding `events` of `org`, the i-th occurring at `times[i]`.
async fn store_with(
    dir: &std::path::Path,
    org: OrgId,
    events: &[Event],
    times: &[DateTime<Utc>],
) -> Arc<dyn EventStore> {
    let store = SqliteEventStore::open_in_dir(dir).await.unwrap();
    let envelopes: Vec<NewEvent> = events
        .iter()
        .zip(times)
        .map(|(e, t)| NewEvent {
            event_id: uuid::Uuid::now_v7(),
            event_type: e.event_type().to_string(),
            schema_version: e.schema_version(),
            data: e.to_json(),
            metadata: serde_json::to_string(&EventMetadata::new(Actor::system(), Medium::Cli, *t))
                .unwrap(),
        })
        .collect();
    for chunk in envelopes.chunks(50) {
        store
            .append(&org.stream(), ExpectedVersion::Any, chunk.to_vec())
            .await
            .unwrap();
    }
    Arc::new(store)
}

/// The states after each group of events sharing a timestamp: `(t, state)`.
fn expected_states(
    events: &[Event],
    times: &[DateTime<Utc>],
) -> Vec<(DateTime<Utc>, Organization)> {
    let mut out: Vec<(DateTime<Utc>, Organization)> = Vec::new();
    let mut state = Organization::new();
    for (i, e) in events.iter().enumerate() {
        state.evolve(e);
        if times.get(i + 1) != Some(&times[i]) {
            out.push((times[i], state.clone()));
        }
    }
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// For random histories (every kind of event, decided by the domain's
    /// rules), the state as of each event's timestamp — and half a second
    /// later, and before the first — is the fold of the events up to it;
    /// from the stream alone and from snapshots taken every `every` events
    /// (asked in an order that leaves snapshots both before and after).
    #[test]
    fn the_state_as_of_any_moment_is_the_fold_of_the_events_up_to_it(
        seed in any::<u64>(),
        steps in 10usize..150,
        every in 2u64..40,
        per_command in 1usize..4,
        shuffle in any::<u64>(),
    ) {
        let mut w = Workload::organization("prop", TINY, seed);
        w.random_history(steps);
        // A command's events share a timestamp: groups of `per_command`.
        let times: Vec<DateTime<Utc>> = (0..w.events.len())
            .map(|i| base() + Duration::seconds((i / per_command) as i64))
            .collect();
        let expected = expected_states(&w.events, &times);
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime();
        rt.block_on(async {
            let store = store_with(dir.path(), w.org_id, &w.events, &times).await;
            let snaps = Snapshots::in_dir(dir.path()).unwrap().with_interval(every);

            let before = as_of(store.as_ref(), Some(&snaps), w.org_id, base() - Duration::seconds(1)).await.unwrap();
            prop_assert_eq!(&before.state, &Organization::new());
            prop_assert_eq!(before.version, 0);
            prop_assert!(!before.state.exists());

            // Without snapshots, then with them in a scrambled order.
            let mut order: Vec<usize> = (0..expected.len()).collect();
            let n = order.len();
            for i in 0..n {
                let j = (shuffle.wrapping_mul(i as u64 + 1).wrapping_add(i as u64 * 7919) % n as u64) as usize;
                order.swap(i, j);
            }
            let in_order: Vec<usize> = (0..n).collect();
            for (pass, snapshots) in [(0, None), (1, Some(&snaps))] {
                for &k in if pass == 0 { &in_order } else { &order } {
                    let (t, state) = &expected[k];
                    for at in [*t, *t + Duration::milliseconds(500)] {
                        let got = as_of(store.as_ref(), snapshots, w.org_id, at).await.unwrap();
                        prop_assert_eq!(&got.state, state, "as of {} (pass {})", at, pass);
                        prop_assert_eq!(got.version, state.version);
                        prop_assert_eq!(got.occurred_at, Some(*t));
                        if snapshots.is_none() {
                            prop_assert!(got.snapshot.is_none());
                            prop_assert_eq!(got.events_folded, state.version);
                        } else if let Some(s) = &got.snapshot {
                            prop_assert!(s.version <= got.version);
                            prop_assert_eq!(got.events_folded, got.version - s.version);
                        }
                    }
                }
            }
            // Snapshots were taken at every multiple of `every` passed.
            let taken = snaps.list(&w.org_id.stream()).await.unwrap();
            let last = expected.last().unwrap().1.version;
            prop_assert_eq!(taken.len() as u64, last / every);
            prop_assert!(taken.iter().all(|s| s.version % every == 0));
            // And the latest state from snapshots is the workload's own.
            let now = as_of(store.as_ref(), Some(&snaps), w.org_id, Utc::now()).await.unwrap();
            prop_assert_eq!(&now.state, &w.state);
            prop_assert!(now.snapshot.is_some() || last < every);
            Ok(())
        })?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_that_goes_back_never_reorders_history() {
    let mut w = Workload::organization("clock", TINY, 7);
    w.random_history(20);
    let n = w.events.len();
    // Event 5 says it occurred an hour after event 6.
    let mut times: Vec<DateTime<Utc>> = (0..n)
        .map(|i| base() + Duration::seconds(i as i64))
        .collect();
    times[5] = base() + Duration::hours(1);
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), w.org_id, &w.events, &times).await;
    let fold = |k: usize| Organization::from_events(&w.events[..k]);

    // As of event 6's time: event 5 has not occurred yet, so the state
    // stops before it (event 6 is not counted out of order).
    let at6 = as_of(store.as_ref(), None, w.org_id, times[6])
        .await
        .unwrap();
    assert_eq!(at6.state, fold(5));
    // Once event 5's time has passed, every event up to then counts.
    let later = as_of(store.as_ref(), None, w.org_id, times[5])
        .await
        .unwrap();
    let upto = times.iter().filter(|t| **t <= times[5]).count();
    assert_eq!(later.state, fold(upto));
}

async fn snapshotted(
    every: u64,
) -> (
    tempfile::TempDir,
    Workload,
    Arc<dyn EventStore>,
    Snapshots,
    Vec<DateTime<Utc>>,
) {
    let mut w = Workload::organization("snap", TINY, 11);
    w.random_history(60);
    let times: Vec<DateTime<Utc>> = (0..w.events.len())
        .map(|i| base() + Duration::seconds(i as i64))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), w.org_id, &w.events, &times).await;
    let snaps = Snapshots::in_dir(dir.path()).unwrap().with_interval(every);
    // Passing the whole stream takes every snapshot.
    let all = as_of(store.as_ref(), Some(&snaps), w.org_id, Utc::now())
        .await
        .unwrap();
    assert_eq!(all.snapshots_written, w.events.len() as u64 / every);
    (dir, w, store, snaps, times)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_serves_later_moments_and_only_the_events_after_it_are_folded() {
    let (_dir, w, store, snaps, times) = snapshotted(10).await;
    let got = as_of(store.as_ref(), Some(&snaps), w.org_id, times[24])
        .await
        .unwrap();
    let s = got.snapshot.as_ref().expect("a snapshot is used");
    assert_eq!((s.version, got.version, got.events_folded), (20, 25, 5));
    assert_eq!(got.state, Organization::from_events(&w.events[..25]));
    assert_eq!(got.snapshots_written, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_that_no_longer_matches_the_chain_is_discarded_with_the_later_ones() {
    let (dir, w, store, snaps, times) = snapshotted(10).await;
    let stream = w.org_id.stream();
    // The snapshot at version 40 claims another hash for its event.
    let db = rusqlite::Connection::open(projections::db::path_in(dir.path())).unwrap();
    db.execute(
        "UPDATE snapshots SET hash = zeroblob(32) WHERE stream_id = ?1 AND version = 40",
        [stream.as_str()],
    )
    .unwrap();
    let before = snaps.list(&stream).await.unwrap().len() as u64;
    let got = as_of(store.as_ref(), Some(&snaps), w.org_id, times[44])
        .await
        .unwrap();
    assert_eq!(got.state, Organization::from_events(&w.events[..45]));
    assert_eq!(got.snapshot.as_ref().map(|s| s.version), Some(30));
    // 40 and every later one were discarded; 40 was taken again.
    assert_eq!(got.snapshots_discarded, before - 3);
    assert_eq!(got.snapshots_written, 1);
    let versions: Vec<u64> = snaps
        .list(&stream)
        .await
        .unwrap()
        .iter()
        .map(|s| s.version)
        .collect();
    assert_eq!(versions, vec![10, 20, 30, 40]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_of_another_format_or_undecodable_are_ignored() {
    let (dir, w, store, snaps, times) = snapshotted(10).await;
    let stream = w.org_id.stream();
    let db = rusqlite::Connection::open(projections::db::path_in(dir.path())).unwrap();
    db.execute(
        "UPDATE snapshots SET format = 999 WHERE stream_id = ?1 AND version = 40",
        [stream.as_str()],
    )
    .unwrap();
    db.execute(
        "UPDATE snapshots SET state = x'7b7d' WHERE stream_id = ?1 AND version = 30",
        [stream.as_str()],
    )
    .unwrap();
    let got = as_of(store.as_ref(), Some(&snaps), w.org_id, times[44])
        .await
        .unwrap();
    assert_eq!(got.state, Organization::from_events(&w.events[..45]));
    assert_eq!(got.snapshot.as_ref().map(|s| s.version), Some(20));
    assert_eq!(got.snapshots_discarded, 1, "the undecodable one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_event_fails_the_replay_instead_of_answering() {
    let (dir, w, store, snaps, times) = snapshotted(10).await;
    let stream = w.org_id.stream();
    let log = rusqlite::Connection::open(dir.path().join("events.db")).unwrap();
    log.execute(
        "UPDATE events SET metadata = replace(metadata, 'system', 'mallory') WHERE stream_id = ?1 AND stream_version = 23",
        [stream.as_str()],
    )
    .unwrap();
    // Before the edit: answered from the snapshot at 20.
    let fine = as_of(store.as_ref(), Some(&snaps), w.org_id, times[21])
        .await
        .unwrap();
    assert_eq!(fine.version, 22);
    // Past it: refused, naming the link.
    let err = as_of(store.as_ref(), Some(&snaps), w.org_id, times[25])
        .await
        .unwrap_err();
    match err {
        ReplayError::BrokenChain {
            stream: s, version, ..
        } => {
            assert_eq!((s, version), (stream.clone(), 23));
        }
        other => panic!("expected a broken chain, got {other}"),
    }
    // A snapshot taken before the edit still vouches for its own event
    // (whose hash the edit did not touch): it answers with the history as
    // it was; `replay verify` is what reports the edit.
    let now = as_of(store.as_ref(), Some(&snaps), w.org_id, Utc::now())
        .await
        .unwrap();
    assert_eq!(now.state, w.state);
    assert_eq!(
        now.snapshot.as_ref().map(|s| s.version),
        Some(w.events.len() as u64 / 10 * 10)
    );
}

#[test]
fn a_snapshot_round_trips_to_an_equal_state() {
    let mut w = Workload::organization("rt", Size::SMALL, 3);
    w.random_history(300);
    let bytes = replay::snapshots::encode(&mut w.state);
    let back = replay::snapshots::decode(&bytes).unwrap();
    assert_eq!(back, w.state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_stream_is_folded_page_by_page_in_parallel() {
    let mut w = Workload::organization("long", Size::SMALL, 13);
    w.churn_to(12_500);
    let times: Vec<DateTime<Utc>> = (0..w.events.len())
        .map(|i| base() + Duration::seconds(i as i64))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), w.org_id, &w.events, &times).await;
    let snaps = Snapshots::in_dir(dir.path()).unwrap().with_interval(3_000);
    // Page boundaries (from the stream alone: 1,000 then 4,000 then 10,000
    // events; after a snapshot: 1,000 each) and snapshot boundaries, from
    // the stream alone and from snapshots (at versions 3,000, 6,000, 9,000
    // and 12,000; event i is version i + 1: 6,999 fills exactly one page
    // after the snapshot at 6,000, 7,000 starts a second, 8,998 is the last
    // event before the next snapshot).
    for i in [
        0, 998, 999, 1_000, 4_999, 5_000, 5_001, 6_999, 7_000, 8_998, 9_000, 12_499,
    ] {
        let expected = Organization::from_events(&w.events[..=i]);
        for snapshots in [None, Some(&snaps)] {
            let got = as_of(store.as_ref(), snapshots, w.org_id, times[i])
                .await
                .unwrap();
            assert_eq!(got.version, i as u64 + 1);
            assert!(got.state == expected, "as of event {i}");
        }
    }
    assert_eq!(snaps.list(&w.org_id.stream()).await.unwrap().len(), 4);
}
