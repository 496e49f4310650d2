//! The PostgreSQL event store against the shared conformance suite, on the
//! real server of this machine (`ROLEBOOK_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`), each test in a schema of its
//! own that is dropped afterwards; plus what only a server with concurrent
//! writers has: late commits, several stores on one schema, migrations.
//!
//! These tests fail (they do not skip) when the server cannot be reached.

use std::sync::Arc;
use std::time::Duration;
use testkit::postgres::{database_url as url, TestSchema as Schema};

use domain::store::{EventStore, ExpectedVersion, NewEvent, RecordedEvent, StreamId};
use infra::postgres::{PostgresEventStore, PostgresOptions};
use uuid::Uuid;

/// A store in `schema` (created if missing) on the test server.
async fn open_store(schema: &Schema) -> PostgresEventStore {
    PostgresEventStore::connect_with(PostgresOptions::new(url()).in_schema(&schema.name))
        .await
        .unwrap_or_else(|e| panic!("cannot open a store on {}: {e:#?}", url()))
}

async fn fresh() -> (PostgresEventStore, Schema) {
    let schema = Schema::new();
    (open_store(&schema).await, schema)
}

infra::conformance_tests!(fresh);

fn event(tag: &str) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "Tested".to_string(),
        schema_version: 1,
        data: format!(r#"{{"tag":"{tag}"}}"#),
        metadata: "{}".to_string(),
    }
}

/// Many writers whose transactions each sleep a random while between
/// writing their events and committing (a trigger on `events`), with two
/// followers paging through `read_all`: each follower sees every event
/// exactly once, in position order, with no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_commits_are_never_skipped() {
    const WRITERS: usize = 12;
    const APPENDS: usize = 15;
    let (store, schema) = fresh().await;
    schema.execute(
        "CREATE FUNCTION delay_commit() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM pg_sleep(random() * 0.02); RETURN NULL; END $$;
             CREATE TRIGGER delay_commit AFTER INSERT ON events
                 FOR EACH STATEMENT EXECUTE FUNCTION delay_commit();",
    );
    let store = Arc::new(store);
    let total = (WRITERS * APPENDS) as u64;
    let follow = |store: Arc<PostgresEventStore>| {
        tokio::spawn(async move {
            let mut seen: Vec<RecordedEvent> = Vec::new();
            let started = std::time::Instant::now();
            while (seen.len() as u64) < total {
                assert!(
                    started.elapsed() < Duration::from_secs(120),
                    "follower stuck"
                );
                let from = seen.last().map_or(1, |e| e.global_position + 1);
                let page = store.read_all(from, 5).await.expect("read_all");
                if page.is_empty() {
                    store
                        .wait_for(from, Duration::from_millis(300))
                        .await
                        .expect("wait_for");
                }
                seen.extend(page);
            }
            seen
        })
    };
    // One follower on this store, one on another store of the same schema
    // (woken by NOTIFY from the first one's commits).
    let other = Arc::new(open_store(&schema).await);
    let followers = [follow(store.clone()), follow(other.clone())];
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let s = StreamId::new(format!("late-{w}"));
            for i in 0..APPENDS {
                store
                    .append(
                        &s,
                        ExpectedVersion::Exact(i as u64),
                        vec![event(&format!("{w}-{i}"))],
                    )
                    .await
                    .expect("append");
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
    for follower in followers {
        let seen = follower.await.expect("follower");
        let positions: Vec<u64> = seen.iter().map(|e| e.global_position).collect();
        assert_eq!(
            positions,
            (1..=total).collect::<Vec<_>>(),
            "every position once, in order"
        );
        let mut ids: Vec<Uuid> = seen.iter().map(|e| e.event_id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len() as u64, total, "every event once");
    }
}

/// Two stores (two processes' worth) on one schema append to one stream
/// with optimistic concurrency: no lost update, contiguous versions, and
/// each sees the other's commits through `wait_for`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_schema_share_one_log() {
    let (a, schema) = fresh().await;
    let b = open_store(&schema).await;
    let s = StreamId::new("org-shared");
    let first = a
        .append(&s, ExpectedVersion::NoStream, vec![event("a1")])
        .await
        .expect("a appends");
    let seen = b
        .wait_for(first.last_position, Duration::from_secs(5))
        .await
        .expect("b waits");
    assert!(seen >= first.last_position, "b heard a's commit");
    let stale = b
        .append(&s, ExpectedVersion::NoStream, vec![event("b-stale")])
        .await;
    assert!(
        matches!(
            stale,
            Err(domain::store::StoreError::WrongExpectedVersion { actual: 1, .. })
        ),
        "b's stale append is refused: {stale:?}"
    );
    b.append(&s, ExpectedVersion::Exact(1), vec![event("b2")])
        .await
        .expect("b appends after a");
    let events = a.read_stream(&s, 1, 10).await.expect("a reads");
    let versions: Vec<u64> = events.iter().map(|e| e.stream_version).collect();
    assert_eq!(versions, vec![1, 2]);
    assert_eq!(
        domain::store::first_broken_link(&events, domain::hash::GENESIS_HASH, 0),
        None,
        "one chain across both stores"
    );
}

/// A schema migrated by a newer rolebook is refused with a message that
/// says so, and left as it was; an up-to-date one opens again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let (store, schema) = fresh().await;
    store.close().await;
    drop(store);
    open_store(&schema).await.close().await;
    let newer = infra::postgres::migrations::latest() + 1;
    schema.execute(&format!(
        "UPDATE schema_version SET version = {newer} WHERE component = 'event_store'"
    ));
    let refused =
        PostgresEventStore::connect_with(PostgresOptions::new(url()).in_schema(&schema.name))
            .await
            .expect_err("a newer schema is refused");
    let message = format!("{refused}");
    assert!(
        message.contains(&format!("version {newer}")) && message.contains("newer"),
        "{message}"
    );
}

/// An unreachable server: the error names the URL without its password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_named_without_its_password() {
    // A port nothing listens on: retried once, then the error.
    let url = "postgres://rolebook:s3cret-pw@127.0.0.1:1/nothing";
    let mut options = PostgresOptions::new(url);
    options.connect_attempts = 2;
    let error = PostgresEventStore::connect_with(options)
        .await
        .expect_err("nothing listens on port 1");
    let message = format!("{error}");
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(!message.contains("s3cret-pw"), "{message}");
}
