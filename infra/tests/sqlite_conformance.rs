//! The SQLite event store against the shared conformance suite, plus what only
//! a file-backed store has: surviving a reopen.

use domain::hash::GENESIS_HASH;
use domain::store::{first_broken_link, EventStore, ExpectedVersion, NewEvent, StreamId};
use infra::sqlite::EVENTS_FILE;
use infra::SqliteEventStore;
use uuid::Uuid;

fn event(tag: &str) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "Tested".to_string(),
        schema_version: 1,
        data: format!(r#"{{"tag":"{tag}"}}"#),
        metadata: "{}".to_string(),
    }
}

/// A fresh store in its own temporary directory (the guard).
async fn fresh() -> (SqliteEventStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteEventStore::open_in_dir(dir.path())
        .await
        .expect("open a fresh store");
    (store, dir)
}

infra::conformance_tests!(fresh);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_keeps_events_positions_and_the_chain() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = StreamId::new("org-reopen");
    let other = StreamId::new("registry");

    let (first, before) = {
        let store = SqliteEventStore::open_in_dir(dir.path())
            .await
            .expect("open");
        let first = store
            .append(&s, ExpectedVersion::NoStream, vec![event("a"), event("b")])
            .await
            .expect("append");
        store
            .append(&other, ExpectedVersion::NoStream, vec![event("r")])
            .await
            .expect("append");
        let before = store.read_all(0, 100).await.expect("read_all");
        store.close().await;
        (first, before)
    };
    assert!(
        dir.path().join(EVENTS_FILE).exists(),
        "the store lives in {EVENTS_FILE}"
    );

    let store = SqliteEventStore::open_in_dir(dir.path())
        .await
        .expect("reopen");
    assert_eq!(
        store.read_all(0, 100).await.expect("read_all"),
        before,
        "events survive a reopen"
    );
    assert_eq!(
        store.head_position().await.expect("head"),
        3,
        "head after reopen"
    );
    assert_eq!(
        store.stream_version(&s).await.expect("version"),
        2,
        "version after reopen"
    );
    assert_eq!(
        store
            .wait_for(3, std::time::Duration::from_millis(10))
            .await
            .expect("wait_for"),
        3,
        "wait_for knows the head after reopen"
    );

    let again = store
        .append(
            &s,
            ExpectedVersion::NoStream,
            before[..2].iter().map(to_new).collect(),
        )
        .await;
    assert_eq!(again, Ok(first), "idempotent retry across a reopen");

    let next = store
        .append(&s, ExpectedVersion::Exact(2), vec![event("c")])
        .await
        .expect("append after reopen");
    assert_eq!(next.first_position, 4, "positions continue after reopen");
    assert_eq!(next.stream_version, 3, "versions continue after reopen");

    let stream = store.read_stream(&s, 1, 100).await.expect("read_stream");
    assert_eq!(
        stream[2].prev_hash, stream[1].hash,
        "the chain continues across the reopen"
    );
    assert_eq!(
        first_broken_link(&stream, GENESIS_HASH, 0),
        None,
        "chain intact"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_fails_cleanly_on_a_non_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("not-a-db");
    std::fs::write(
        &path,
        b"this is not a sqlite file, just some text that is long enough",
    )
    .expect("write");
    let result = SqliteEventStore::open(&path).await;
    assert!(
        matches!(result, Err(domain::store::StoreError::Backend { .. })),
        "opening a non-database is a backend error: {result:?}"
    );
    // The driver's error is kept as the source: a caller can tell what
    // failed (here SQLite's "file is not a database").
    let Err(domain::store::StoreError::Backend {
        source: Some(source),
        ..
    }) = result
    else {
        panic!("a backend error with its source")
    };
    let driver = source
        .downcast_ref::<rusqlite::Error>()
        .expect("the source is the driver's error");
    assert!(driver.to_string().contains("not a database"), "{driver}");
}

fn to_new(e: &domain::store::RecordedEvent) -> NewEvent {
    NewEvent {
        event_id: e.event_id,
        event_type: e.event_type.clone(),
        schema_version: e.schema_version,
        data: e.data.clone(),
        metadata: e.metadata.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_whose_caller_gives_up_still_commits_and_wakes_waiters() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteEventStore::open_in_dir(dir.path())
        .await
        .expect("open");
    let s = StreamId::new("org-abandoned");
    let sent = vec![event("a")];
    {
        let append = store.append(&s, ExpectedVersion::NoStream, sent.clone());
        tokio::select! {
            biased;
            _ = append => panic!("the append finished on its first poll"),
            _ = std::future::ready(()) => {}
        }
    }
    let head = store
        .wait_for(1, std::time::Duration::from_secs(10))
        .await
        .expect("wait_for");
    assert_eq!(
        head, 1,
        "the abandoned append committed and woke the waiter"
    );
    let stored = store.read_stream(&s, 1, 10).await.expect("read_stream");
    assert_eq!(stored.len(), 1, "the abandoned append's event is stored");
    assert_eq!(stored[0].event_id, sent[0].event_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_reads_as_pages_up_to_a_bound_and_ends_after_a_short_page() {
    use domain::store::{pages_of_all, pages_of_stream};
    use futures::TryStreamExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteEventStore::open_in_dir(dir.path()).await.unwrap();
    let (a, b) = (StreamId::new("pages-a"), StreamId::new("pages-b"));
    for i in 0..25 {
        let stream = if i % 2 == 0 { &a } else { &b };
        store
            .append(stream, ExpectedVersion::Any, vec![event(&i.to_string())])
            .await
            .unwrap();
    }
    let sizes = |pages: Vec<Vec<domain::store::RecordedEvent>>| {
        pages.iter().map(Vec::len).collect::<Vec<_>>()
    };
    let all: Vec<_> = pages_of_all(&store, 1, None, 10)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(sizes(all.clone()), [10, 10, 5]);
    let positions: Vec<u64> = all.iter().flatten().map(|e| e.global_position).collect();
    assert_eq!(positions, (1..=25).collect::<Vec<_>>());
    let bounded: Vec<_> = pages_of_all(&store, 3, Some(17), 10)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(sizes(bounded.clone()), [10, 5]);
    assert_eq!(bounded.last().unwrap().last().unwrap().global_position, 17);
    let exact: Vec<_> = pages_of_all(&store, 1, Some(20), 10)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        sizes(exact),
        [10, 10],
        "a bound on a page's end reads no more"
    );
    let none: Vec<_> = pages_of_all(&store, 26, None, 10)
        .try_collect()
        .await
        .unwrap();
    assert!(none.is_empty());
    let of_a: Vec<_> = pages_of_stream(&store, &a, 2, 5)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(sizes(of_a.clone()), [5, 5, 2]);
    let versions: Vec<u64> = of_a.iter().flatten().map(|e| e.stream_version).collect();
    assert_eq!(versions, (2..=13).collect::<Vec<_>>());
}
