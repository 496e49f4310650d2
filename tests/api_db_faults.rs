//! Database faults under load (issue 23, part 2), through the real binary
//! on the machine's PostgreSQL: while four clients send commands (each
//! with its own `Idempotency-Key`), every connection of the server to the
//! database is killed (`pg_terminate_backend`), five times. The server
//! reconnects by itself: each answer meanwhile is a success or 503
//! `store_unavailable` (never a 500, never a dropped connection); every
//! command answered 503 succeeds when sent again with its key; every
//! acknowledged command is there; `/api/v1/health` is `ok` again.
//!
//! In a test binary of its own: it kills every other backend of the
//! test database, which no other test of this binary may be using.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{PgSchema, Server};
use parking_lot::Mutex;
use serde_json::{json, Value};

/// One command as sent: the group's name, its key, the answer's status
/// and problem code.
type Answer = (String, String, u16, String);

/// Kills every connection to the test database but the caller's.
fn kill_connections(schema: &PgSchema) {
    schema.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND backend_type = 'client backend'",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_are_503_and_service_resumes_by_itself() {
    let schema = Arc::new(PgSchema::new().create());
    let s = Server::start_with(&[("ROLEBOOK_DATABASE_URL", &schema.url())]);
    let owner = s.owner().await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (http, base, token) = (http.clone(), s.base.clone(), owner.clone());
        let (answers, running) = (answers.clone(), running.clone());
        clients.push(tokio::spawn(async move {
            let mut i = 0;
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                let name = format!("c{c}-g{i}");
                let key = format!("k-{c}-{i}");
                let r = http
                    .post(format!("{base}/api/v1/orgs/default/groups"))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", &key)
                    .json(&json!({"name": name, "description": "under fault", "members": []}))
                    .send()
                    .await
                    .expect("the server answers every request, even while its database is gone");
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                let code = body["code"].as_str().unwrap_or("").to_string();
                answers.lock().push((name, key, status, code));
                i += 1;
            }
        }));
    }
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        kill_connections(&schema);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        c.await.expect("a client");
    }
    let answers = answers.lock().clone();
    let unavailable = answers.iter().filter(|a| a.2 == 503).count();
    for (name, _, status, code) in &answers {
        assert!(
            *status == 201 || (*status == 503 && code == "store_unavailable"),
            "{name}: {status} {code}"
        );
    }

    // Every 503 again with its key: it succeeds once the pool has
    // reconnected (no restart).
    let deadline = Instant::now() + Duration::from_secs(20);
    for (name, key, status, _) in answers.iter().filter(|a| a.2 == 503) {
        loop {
            let r = http
                .post(format!("{}/api/v1/orgs/default/groups", s.base))
                .bearer_auth(&owner)
                .header("Idempotency-Key", key)
                .json(&json!({"name": name, "description": "under fault", "members": []}))
                .send()
                .await
                .unwrap();
            match r.status().as_u16() {
                201 => break,
                503 if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                other => panic!("{name} re-sent after {status}: {other}"),
            }
        }
    }
    // Every command is there, once; health is ok again.
    let head = s.head().await;
    let mut names: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = match &cursor {
            Some(c) => format!("/groups?limit=1000&at_least={head}&cursor={c}"),
            None => format!("/groups?limit=1000&at_least={head}"),
        };
        let r = s.get(&page, &owner).await.expect(200);
        names.extend(
            r.body["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["name"].as_str().unwrap().to_string()),
        );
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    names.sort();
    let mut sent: Vec<String> = answers.iter().map(|a| a.0.clone()).collect();
    sent.sort();
    assert_eq!(names.len(), sent.len(), "as many groups as commands");
    assert!(names == sent, "every command once, nothing else");
    let r = s
        .call(reqwest::Method::GET, "/api/v1/health", None, None)
        .await
        .expect(200);
    assert_eq!(r.body["status"], "ok", "{:?}", r.body);
    println!(
        "{} commands under 5 connection kills: {} answered 503 store_unavailable and succeeded when sent again, none 500",
        answers.len(),
        unavailable
    );
}
