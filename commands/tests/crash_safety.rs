//! Crash safety: a writer process killed (SIGKILL) in the middle of appending
//! leaves each command either whole or absent, and the log still verifies.
//!
//! The test re-runs its own binary as the writer (`crash_writer_child`, which
//! does nothing unless `ROLEBOOK_CRASH_DIR` is set) and kills it at random
//! moments.

mod common;

use std::collections::HashMap;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use common::*;
use domain::commands::NewPerson;
use domain::ids::{OrgId, UserId};
use domain::store::{first_broken_link, genesis};
use domain::{Command, EventMetadata};

const PEOPLE_PER_COMMAND: usize = 250;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_writer_child() {
    let Ok(dir) = std::env::var("ROLEBOOK_CRASH_DIR") else {
        return; // Only runs as the child of `killed_writer_leaves_whole_commands_only`.
    };
    let org: OrgId = std::env::var("ROLEBOOK_CRASH_ORG")
        .unwrap()
        .parse()
        .unwrap();
    let owner: UserId = std::env::var("ROLEBOOK_CRASH_OWNER")
        .unwrap()
        .parse()
        .unwrap();
    let h = service_in(std::path::Path::new(&dir)).await;
    let ctx = as_user(owner, "owner");
    let mut tasks = Vec::new();
    for t in 0..4 {
        let service = h.service.clone();
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0.. {
                let people = (0..PEOPLE_PER_COMMAND)
                    .map(|i| NewPerson {
                        user_id: UserId::new(),
                        email: format!("{}-{t}-{round}-{i}@crash.io", std::process::id()),
                        username: None,
                    })
                    .collect();
                service
                    .execute(org, Command::InvitePeople { people, role: None }, &ctx)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_writer_leaves_whole_commands_only() {
    if std::env::var("ROLEBOOK_CRASH_DIR").is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (org, owner) = {
        let h = service_in(dir.path()).await;
        org(&h, "crash").await
    };
    let exe = std::env::current_exe().unwrap();
    for (round, delay_ms) in [150u64, 420, 730, 260].into_iter().enumerate() {
        let h = service_in(dir.path()).await;
        let before = h.store.head_position().await.unwrap();
        drop(h);
        let mut child = Process::new(&exe)
            .args([
                "--exact",
                "crash_writer_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("ROLEBOOK_CRASH_DIR", dir.path())
            .env("ROLEBOOK_CRASH_ORG", org.to_string())
            .env("ROLEBOOK_CRASH_OWNER", owner.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the child is appending, then kill it mid-stream.
        let h = service_in(dir.path()).await;
        let started = Instant::now();
        while h.store.head_position().await.unwrap() == before {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "round {round}: the writer never appended"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        child.kill().unwrap(); // SIGKILL: no chance to finish a transaction
        child.wait().unwrap();
        drop(h);
    }

    let h = service_in(dir.path()).await;
    let events = h
        .store
        .read_stream(&org.stream(), 1, 10_000_000)
        .await
        .unwrap();
    assert_eq!(
        first_broken_link(&events, genesis(), 0),
        None,
        "hash chain verifies"
    );
    let versions: Vec<u64> = events.iter().map(|e| e.stream_version).collect();
    assert_eq!(versions, (1..=events.len() as u64).collect::<Vec<_>>());
    let mut per_command: HashMap<uuid::Uuid, usize> = HashMap::new();
    for e in events.iter().skip(3) {
        let m: EventMetadata = serde_json::from_str(&e.metadata).unwrap();
        *per_command.entry(m.correlation_id).or_default() += 1;
    }
    assert!(
        per_command.len() >= 4,
        "each round committed something: {}",
        per_command.len()
    );
    for (command, n) in per_command {
        assert_eq!(n, PEOPLE_PER_COMMAND * 2, "command {command} is partial");
    }
    // And the state rebuilt from what survived is usable.
    let (state, _) = h.service.state(org).await.unwrap();
    assert_eq!(state.users.len(), 1 + (events.len() - 3) / 2);
}
