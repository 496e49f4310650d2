//! Quick append-throughput check of the SQLite event store (not a benchmark
//! suite: one run, wall-clock numbers).
//!
//! ```text
//! cargo run --release -p rolebook-infra --example append_throughput [BATCHES] [BATCH_SIZE] [DIR]
//! ```
//!
//! Defaults: 200 batches of 1,000 events of ~300 bytes of JSON each, in a
//! temporary directory (DIR: put the file on the disk you want to measure).
//! Three shapes are measured on fresh stores:
//!
//! - one request of BATCH_SIZE events per batch (`append_each`),
//! - BATCH_SIZE/10 requests of 10 events to distinct streams per batch
//!   (group commit of many commands),
//! - 8 tasks appending single events concurrently (latency bound: one
//!   durable commit per append).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use domain::store::{AppendRequest, EventStore, ExpectedVersion, NewEvent, StreamId};
use infra::SqliteEventStore;
use uuid::Uuid;

/// A ~300-byte JSON payload, like a role-grant event.
fn payload(i: usize) -> String {
    format!(
        concat!(
            r#"{{"org_id":"0191d4c2-6f1e-7a3b-9c0d-4e5f6a7b8c9d","member_id":"user-{:08}","#,
            r#""role":"deployer","scope":{{"project":"payments-api","environment":"production"}},"#,
            r#""granted_by":"admin-00000042","reason":"on-call rotation for week {}","#,
            r#""expires_at":"2026-01-31T23:59:59Z","labels":["ci","cd","release"]}}"#
        ),
        i,
        i % 52
    )
}

fn event(i: usize) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "RoleGranted".to_string(),
        schema_version: 1,
        data: payload(i),
        metadata: r#"{"correlation_id":"c-1","actor":"admin-00000042"}"#.to_string(),
    }
}

fn report(shape: &str, events: usize, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{shape:<48} {events:>8} events in {secs:>7.3} s = {:>9.0} events/s",
        events as f64 / secs
    );
}

async fn open(root: &Path, name: &str) -> SqliteEventStore {
    SqliteEventStore::open_in_dir(&root.join(name))
        .await
        .expect("open store")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let batches: usize = args.next().map_or(200, |a| a.parse().expect("BATCHES"));
    let batch_size: usize = args
        .next()
        .map_or(1_000, |a| a.parse().expect("BATCH_SIZE"));
    let temp = tempfile::tempdir().expect("temp dir");
    let root: PathBuf = args
        .next()
        .map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    let bytes = event(0).data.len() + event(0).metadata.len();
    println!("{batches} batches x {batch_size} events, ~{bytes} bytes of JSON each, synchronous=FULL, in {}", root.display());

    // Shape 1: one big request per batch.
    let store = open(&root, "one-request").await;
    let streams: Vec<StreamId> = (0..10).map(|i| StreamId::new(format!("org-{i}"))).collect();
    let prepared: Vec<Vec<AppendRequest>> = (0..batches)
        .map(|b| {
            vec![AppendRequest {
                stream: streams[b % streams.len()].clone(),
                expected: ExpectedVersion::Any,
                events: (0..batch_size).map(|i| event(b * batch_size + i)).collect(),
                receipts: Vec::new(),
            }]
        })
        .collect();
    let started = Instant::now();
    for batch in prepared {
        for result in store.append_each(batch).await {
            result.expect("append");
        }
    }
    report(
        "1 request x BATCH_SIZE events per batch",
        batches * batch_size,
        started,
    );
    assert_eq!(
        store.head_position().await.unwrap(),
        (batches * batch_size) as u64
    );
    store.close().await;

    // Shape 2: many small requests per batch (group commit).
    let store = open(&root, "many-requests").await;
    let per_request = 10;
    let requests = (batch_size / per_request).max(1);
    let prepared: Vec<Vec<AppendRequest>> = (0..batches)
        .map(|b| {
            (0..requests)
                .map(|r| AppendRequest {
                    stream: StreamId::new(format!("org-{}", (b * requests + r) % 5_000)),
                    expected: ExpectedVersion::Any,
                    events: (0..per_request).map(event).collect(),
                    receipts: Vec::new(),
                })
                .collect()
        })
        .collect();
    let started = Instant::now();
    for batch in prepared {
        for result in store.append_each(batch).await {
            result.expect("append");
        }
    }
    report(
        &format!("{requests} requests x {per_request} events per batch"),
        batches * requests * per_request,
        started,
    );
    store.close().await;

    // Shape 3: single-event appends from concurrent tasks.
    let store = Arc::new(open(&root, "single").await);
    let tasks = 8;
    let per_task = 250;
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let s = StreamId::new(format!("org-{t}"));
                for i in 0..per_task {
                    store
                        .append(&s, ExpectedVersion::Any, vec![event(i)])
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("task");
    }
    report(
        &format!("{tasks} tasks x single-event appends (1 commit each)"),
        tasks * per_task,
        started,
    );
    store.close().await;
}
