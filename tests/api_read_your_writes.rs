//! Session consistency by default: a caller's read right after its own
//! command sees the command, without `at_least`, every time; another
//! caller's reads do not wait for it.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use serde_json::json;

/// 1,000 writes, each followed at once by a read of the RBAC model or of
/// the audit view by the same caller: every read sees its write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_sees_its_own_writes_at_once_every_time() {
    let s = Server::start();
    let owner = s.owner().await;
    let (_, _, other) = s.member(&owner, "olga@example.com", Some("Admin")).await;
    for i in 0..1_000u32 {
        // Each new group sorts first by name.
        let name = format!("a{:05}", 99_999 - i);
        let created = s
            .post(
                "/groups",
                &owner,
                json!({"name": name, "description": "read your writes", "members": []}),
            )
            .await
            .expect(201);
        let position = created.position();
        if i % 2 == 0 {
            let listed = s.get("/groups?limit=1", &owner).await.expect(200);
            assert_eq!(
                listed.body["groups"][0]["name"], name,
                "write {i}: the caller's next read of the groups sees it"
            );
        } else {
            let audit = s.get("/audit-logs?limit=1", &owner).await.expect(200);
            assert_eq!(
                audit.body["events"][0]["position"], position,
                "write {i}: the caller's next read of the audit log sees it"
            );
        }
        if i % 100 == 0 {
            // Another caller's read answers without waiting for anyone.
            let started = Instant::now();
            s.get("/groups?limit=1", &other).await.expect(200);
            assert!(started.elapsed() < Duration::from_secs(5));
        }
    }
}
