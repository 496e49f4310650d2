//! The binary with its event log in PostgreSQL (`--database-url`), on the
//! real server of this machine (`ROLEBOOK_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; each test in a database of
//! its own, dropped afterwards): the API end to end, a restart, two
//! servers on one database, `replay verify` finding an edited event, and a
//! server that cannot be reached.
//!
//! These tests fail (they do not skip) when the server cannot be reached.

mod common;

use common::{rolebook, Server};
use serde_json::{json, Value};
use sqlx::Connection as _;

fn admin_url() -> String {
    std::env::var("ROLEBOOK_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A database of its own, dropped when the test ends.
struct Database {
    name: String,
    url: String,
}

impl Database {
    async fn create() -> Database {
        let name = format!("rb_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(&admin_url())
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {}: {e}", admin_url()));
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create a database");
        let base = admin_url();
        let (prefix, _) = base.rsplit_once('/').expect("a URL with a database");
        Database {
            url: format!("{prefix}/{name}"),
            name,
        }
    }

    async fn connect(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.url)
            .await
            .expect("connect")
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::raw_sql(&sql).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// Bootstrap, login, invitation, a decision with its explanation, the
/// audit log; then a crash and a restart on the same database: the state
/// is what the log in PostgreSQL says, and nothing of it is in the data dir.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_runs_on_a_log_in_postgres_and_survives_a_restart() {
    let db = Database::create().await;
    let s = Server::start_with(&[("ROLEBOOK_DATABASE_URL", db.url.as_str())]);
    assert!(
        !s.dir.path().join("events.db").exists(),
        "the log is not in the data dir"
    );
    let owner = s.owner().await;
    let (alice, _, _) = s.member(&owner, "alice@example.com", None).await;
    let group = s
        .post(
            "/groups",
            &owner,
            json!({"name": "builders", "description": "a group", "members": [alice]}),
        )
        .await
        .expect(201);
    let group_id = group.body["group_id"].as_str().unwrap().to_string();
    let r = s
        .put(
            &format!("/groups/{group_id}/role"),
            &owner,
            json!({"role": "Admin"}),
        )
        .await
        .expect(200);
    let position = r.position();
    let check = s
        .get(
            &format!(
                "/check?user={alice}&permission=organization.people.invite&at_least={position}"
            ),
            &owner,
        )
        .await
        .expect(200);
    assert_eq!(check.body["allowed"], true, "{check:?}");
    let sources: Vec<&Value> = check.body["sources"].as_array().unwrap().iter().collect();
    assert!(
        sources.iter().any(|src| src["via"] == "group"),
        "explained by the group: {sources:?}"
    );
    let entry = s.audit_at(&owner, position).await;
    assert_eq!(
        entry["description"], "Role Admin assigned to group builders",
        "{entry}"
    );

    // What the log holds in PostgreSQL is what the server said.
    let mut conn = db.connect().await;
    let (count, max): (i64, i64) =
        sqlx::query_as("SELECT count(*), COALESCE(max(global_position), 0) FROM events")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!((count as u64, max as u64), (position, position));
    // The read models are there too: the audit view (which answered the
    // entry above) and the RBAC tables, beside their checkpoints.
    let (audited, org_events): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM audit_log),
                (SELECT count(*) FROM events WHERE stream_id LIKE 'org-%')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(audited, org_events, "one audit row per organization event");
    let role: String = sqlx::query_scalar(
        "SELECT r.name FROM rbac_groups g JOIN rbac_roles r
           ON r.org_id = g.org_id AND r.role_id = g.role_id
         WHERE g.name = 'builders'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(role, "Admin");
    let csv = s
        .get("/audit-logs/export.csv?resource_type=Group", &owner)
        .await
        .expect(200)
        .text;
    assert!(
        csv.lines().count() == 3 && csv.contains("Role Admin assigned to group builders"),
        "the CSV export reads the view in PostgreSQL: {csv}"
    );
    // The data dir keeps no RBAC tables (only a copy of the audit view,
    // which the Parquet export of bucket streaming reads).
    let embedded = s.dir.path().join("rolebook.db");
    if embedded.exists() {
        let conn = rusqlite::Connection::open(&embedded).unwrap();
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE 'rbac_%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0, "no RBAC table in the data dir's database");
    }

    // A crash, then a start on the same data dir and database.
    let s = s
        .stop()
        .start(&[("ROLEBOOK_DATABASE_URL", db.url.as_str())]);
    let login = s
        .call(
            reqwest::Method::POST,
            "/sessions",
            None,
            Some(json!({"login": "admin@localhost", "password": common::PASSWORD})),
        )
        .await
        .expect(201);
    let owner = login.body["token"].as_str().unwrap().to_string();
    let check = s
        .get(
            &format!("/check?user={alice}&permission=organization.people.invite"),
            &owner,
        )
        .await
        .expect(200);
    assert_eq!(check.body["allowed"], true, "after the restart: {check:?}");
    let r = s
        .delete(&format!("/groups/{group_id}"), &owner)
        .await
        .expect(204);
    assert_eq!(
        r.position(),
        position + 1,
        "positions go on from the log in PostgreSQL"
    );
}

/// Two `serve` processes (each with its own data dir) on one database take
/// commands for the same organization at once: no lost update, one
/// contiguous stream, the same state on both; a password set through one
/// logs in on the other; each answers checks on the other's writes once
/// `at_least` is reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_share_the_log_and_the_credentials() {
    let db = Database::create().await;
    let env = [("ROLEBOOK_DATABASE_URL", db.url.as_str())];
    let a = Server::start_with(&env);
    let b = Server::start_sharing_keys(&env, &a);
    let owner_a = a.owner().await;
    let login = b
        .call(
            reqwest::Method::POST,
            "/sessions",
            None,
            Some(json!({"login": "admin@localhost", "password": common::PASSWORD})),
        )
        .await
        .expect(201);
    let owner_b = login.body["token"].as_str().unwrap().to_string();

    // A write on A, a check on B.
    let (alice, p) = a.invite(&owner_a, "alice@example.com", None).await;
    let alice = alice["user_id"].as_str().unwrap().to_string();
    let check = b
        .get(
            &format!("/check?user={alice}&permission=organization.view&at_least={p}"),
            &owner_b,
        )
        .await
        .expect(200);
    assert_eq!(
        check.body["allowed"], true,
        "B answers A's write: {check:?}"
    );

    // Both at once on the same organization.
    let (last_a, last_b) = tokio::join!(
        create_groups(&a, &owner_a, "from-a"),
        create_groups(&b, &owner_b, "from-b")
    );
    let last = last_a.max(last_b);
    let mut names = Vec::new();
    for (s, token) in [(&a, &owner_a), (&b, &owner_b)] {
        let r = s
            .get(&format!("/groups?at_least={last}&limit=100"), token)
            .await
            .expect(200);
        let mut listed: Vec<String> = r.body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect();
        listed.sort();
        assert_eq!(
            listed.len(),
            2 * EACH,
            "every group on each server: {listed:?}"
        );
        names.push(listed);
    }
    assert_eq!(names[0], names[1], "both servers hold the same state");

    // One stream, versions contiguous, no event lost.
    let org = a.bootstrap["org_id"].as_str().unwrap();
    let mut conn = db.connect().await;
    let versions: Vec<i64> = sqlx::query_scalar(
        "SELECT stream_version FROM events WHERE stream_id = $1 ORDER BY stream_version",
    )
    .bind(format!("org-{org}"))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        versions,
        (1..=versions.len() as i64).collect::<Vec<_>>(),
        "contiguous versions"
    );
    let created: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = 'GroupCreated'",
    )
    .bind(format!("org-{org}"))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(created as usize, 2 * EACH, "no lost update");
    // One audit view for both: every group creation listed by either
    // server, each organization event's row written once.
    for (s, token) in [(&a, &owner_a), (&b, &owner_b)] {
        let r = s
            .get(
                &format!("/audit-logs?resource_type=Group&action=Added&limit=100&at_least={last}"),
                token,
            )
            .await
            .expect(200);
        assert_eq!(
            r.body["events"].as_array().unwrap().len(),
            2 * EACH,
            "{}",
            r.body
        );
    }
    let (rows, events): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM audit_log WHERE position <= $1),
                (SELECT count(*) FROM events WHERE stream_id LIKE 'org-%' AND global_position <= $1)",
    )
    .bind(last as i64)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(rows, events, "one audit row per organization event");

    // A write on B, a check on A.
    let groups = b.get("/groups?limit=1", &owner_b).await.expect(200);
    let group = groups.body["groups"][0]["group_id"]
        .as_str()
        .unwrap()
        .to_string();
    b.patch(
        &format!("/groups/{group}"),
        &owner_b,
        json!({"add_members": [alice]}),
    )
    .await
    .expect(200);
    let r = b
        .put(
            &format!("/groups/{group}/role"),
            &owner_b,
            json!({"role": "Admin"}),
        )
        .await
        .expect(200);
    let check = a
        .get(
            &format!(
                "/check?user={alice}&permission=organization.people.invite&at_least={}",
                r.position()
            ),
            &owner_a,
        )
        .await
        .expect(200);
    assert_eq!(
        check.body["allowed"], true,
        "A answers B's write: {check:?}"
    );

    // Bucket keys stored through A are there for B (sealed beside the log
    // with the key file both hold).
    let r = a
        .put(
            "/audit-logs/streaming",
            &owner_a,
            json!({"provider": "s3", "bucket": "audit", "region": "us-east-1",
                   "endpoint": "http://127.0.0.1:9", "access_key_id": "AKIDSHARED",
                   "secret_access_key": "shared-secret"}),
        )
        .await
        .expect(200);
    let streaming = b
        .get(
            &format!("/audit-logs/streaming?at_least={}", r.position()),
            &owner_b,
        )
        .await
        .expect(200);
    assert_eq!(streaming.body["access_key_id"], "***", "{}", streaming.body);
    let sealed: String = sqlx::query_scalar("SELECT secret_access_key FROM streaming_credentials")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(sealed.starts_with("v1:") && !sealed.contains("shared-secret"));

    // A third process with key files of its own refuses to start, and
    // says which file to copy.
    let dir = tempfile::tempdir().unwrap();
    let refused = || {
        let out = rolebook(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--database-url",
            &db.url,
        ]);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let stderr = refused();
    assert!(
        stderr.contains("answers.key in this data dir is not the key the other rolebook processes"),
        "{stderr}"
    );
    // With A's answers.key but a streaming.key of its own: refused too,
    // naming that file.
    std::fs::copy(
        a.dir.path().join("answers.key"),
        dir.path().join("answers.key"),
    )
    .unwrap();
    std::fs::remove_file(dir.path().join("streaming.key")).ok();
    let stderr = refused();
    assert!(
        stderr
            .contains("streaming.key in this data dir is not the key the other rolebook processes"),
        "{stderr}"
    );
}

/// Groups created one after the other on one server.
const EACH: usize = 12;

/// Creates [`EACH`] groups named `prefix-i` through `s`; returns the last
/// position.
async fn create_groups(s: &Server, token: &str, prefix: &str) -> u64 {
    let mut last = 0;
    for i in 0..EACH {
        let r = s
            .post(
                "/groups",
                token,
                json!({"name": format!("{prefix}-{i}"), "description": "a group", "members": []}),
            )
            .await
            .expect(201);
        last = last.max(r.position());
    }
    last
}

/// `replay verify --database-url` checks the chain in PostgreSQL: intact,
/// then an edited event is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_verify_reads_the_log_in_postgres() {
    let db = Database::create().await;
    let s = Server::start_with(&[("ROLEBOOK_DATABASE_URL", db.url.as_str())]);
    let owner = s.owner().await;
    s.invite(&owner, "bob@example.com", None).await;
    let data_dir = s.dir.path().to_str().unwrap().to_string();
    let stopped = s.stop();

    let out = rolebook(&[
        "replay",
        "verify",
        "--data-dir",
        &data_dir,
        "--database-url",
        &db.url,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["events"].as_u64().unwrap() >= 3, "{report}");

    // `replay rebuild` rebuilds the read models in PostgreSQL.
    let mut conn = db.connect().await;
    sqlx::raw_sql("DELETE FROM audit_log; DELETE FROM rbac_users;")
        .execute(&mut conn)
        .await
        .unwrap();
    let out = rolebook(&[
        "replay",
        "rebuild",
        "--projection",
        "all",
        "--data-dir",
        &data_dir,
        "--database-url",
        &db.url,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["interrupted"], false, "{report}");
    let (audited, users): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM audit_log), (SELECT count(*) FROM rbac_users)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(
        audited >= 3 && users == 2,
        "{audited} audit rows, {users} users"
    );

    sqlx::raw_sql("UPDATE events SET data = data || ' ' WHERE global_position = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    let out = rolebook(&[
        "replay",
        "verify",
        "--data-dir",
        &data_dir,
        "--database-url",
        &db.url,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an edited event fails verify");
    assert!(stderr.contains("the log is broken"), "{stderr}");
    let report: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(
        report["first"]["position"], 2,
        "the edited event is named: {report}"
    );
    drop(stopped);
}

/// A database that cannot be reached: `serve` retries, then stops with one
/// line naming the URL without its password.
#[test]
fn an_unreachable_database_is_named_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = rolebook(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--database-url",
        "postgres://rolebook:s3cret-pw@127.0.0.1:1/rolebook",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("rolebook: ") && last.contains("127.0.0.1:1") && last.contains("***"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
}
