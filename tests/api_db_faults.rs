//! Database faults under load (issue 23, part 2), through the real binary
//! on the machine's PostgreSQL, while four clients send commands (each
//! with its own `Idempotency-Key`):
//!
//! - every connection of the server to the database is killed
//!   (`pg_terminate_backend`), five times;
//! - the PostgreSQL server itself is stopped, for two seconds, and started
//!   again (`pg_ctlcluster`): meanwhile `/api/v1/health` answers 503
//!   `store_unavailable`.
//!
//! The server reconnects by itself: each answer meanwhile is a success or
//! 503 `store_unavailable` (never a 500, never a dropped connection);
//! every command answered 503 succeeds when sent again with its key; every
//! acknowledged command is there once; `/api/v1/health` is `ok` again.
//!
//! In a test binary of its own, its tests one at a time: they kill every
//! other backend of the test database, or stop the server, which no other
//! test may be using.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{PgSchema, Server};
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::process::Command;

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

/// The tests of this binary take turns (each disturbs the whole server).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Four clients creating groups, each command with its own key, until
/// stopped; every answer recorded.
struct Load {
    answers: Arc<Mutex<Vec<Answer>>>,
    running: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(http: &reqwest::Client, s: &Server, owner: &str) -> Load {
        let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
        let running = Arc::new(AtomicBool::new(true));
        let mut clients = Vec::new();
        for c in 0..4 {
            let (http, base, token) = (http.clone(), s.base.clone(), owner.to_string());
            let (answers, running) = (answers.clone(), running.clone());
            clients.push(tokio::spawn(async move {
                let mut i = 0;
                while running.load(Ordering::Relaxed) {
                    let name = format!("c{c}-g{i}");
                    let key = format!("k-{c}-{i}");
                    let r = http
                        .post(format!("{base}/api/v1/orgs/default/groups"))
                        .bearer_auth(&token)
                        .header("Idempotency-Key", &key)
                        .json(&json!({"name": name, "description": "under fault", "members": []}))
                        .send()
                        .await
                        .expect(
                            "the server answers every request, even while its database is gone",
                        );
                    let status = r.status().as_u16();
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    let code = body["code"].as_str().unwrap_or("").to_string();
                    answers.lock().push((name, key, status, code));
                    i += 1;
                    if status == 503 {
                        // As a client would: not in a tight loop.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }));
        }
        Load {
            answers,
            running,
            clients,
        }
    }

    async fn stop(self) -> Vec<Answer> {
        self.running.store(false, Ordering::Relaxed);
        for c in self.clients {
            c.await.expect("a client");
        }
        let answers = self.answers.lock().clone();
        answers
    }
}

/// Every answer a success or 503 `store_unavailable`; every 503 sent again
/// with its key until it succeeds (the server reconnects by itself, no
/// restart); then every command is there once, nothing else, and health
/// is `ok`. Returns how many were 503.
async fn every_command_once(
    http: &reqwest::Client,
    s: &Server,
    owner: &str,
    answers: &[Answer],
) -> usize {
    let unavailable = answers.iter().filter(|a| a.2 == 503).count();
    for (name, _, status, code) in answers {
        assert!(
            *status == 201 || (*status == 503 && code == "store_unavailable"),
            "{name}: {status} {code}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for (name, key, status, _) in answers.iter().filter(|a| a.2 == 503) {
        loop {
            let r = http
                .post(format!("{}/api/v1/orgs/default/groups", s.base))
                .bearer_auth(owner)
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
    let names = s.group_names(owner).await;
    let mut sent: Vec<String> = answers.iter().map(|a| a.0.clone()).collect();
    sent.sort();
    assert_eq!(names.len(), sent.len(), "as many groups as commands");
    assert!(names == sent, "every command once, nothing else");
    let r = s
        .call(reqwest::Method::GET, "/api/v1/health", None, None)
        .await
        .expect(200);
    assert_eq!(r.body["status"], "ok", "{:?}", r.body);
    unavailable
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_are_503_and_service_resumes_by_itself() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let schema = Arc::new(PgSchema::new().create());
    let s = Server::start_with(&[("ROLEBOOK_DATABASE_URL", &schema.url())]);
    let owner = s.owner().await;
    let http = client();
    let load = Load::start(&http, &s, &owner);
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        kill_connections(&schema);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answers = load.stop().await;
    let unavailable = every_command_once(&http, &s, &owner, &answers).await;
    println!(
        "{} commands under 5 connection kills: {} answered 503 store_unavailable and succeeded when sent again, none 500",
        answers.len(),
        unavailable
    );
}

/// The machine's PostgreSQL cluster, through Debian's `pg_ctlcluster`
/// (`.ci/run` starts it the same way).
struct Cluster {
    version: String,
}

impl Cluster {
    fn find() -> Cluster {
        let version = std::fs::read_dir("/etc/postgresql")
            .expect("this test stops and starts the machine's PostgreSQL with pg_ctlcluster: /etc/postgresql is missing")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .next()
            .expect("a cluster under /etc/postgresql");
        Cluster { version }
    }

    fn ctl(&self, action: &str) {
        let mut cmd = Command::new("pg_ctlcluster");
        cmd.args(["--skip-systemctl-redirect", &self.version, "main", action]);
        if action == "stop" {
            cmd.args(["-m", "fast"]);
        }
        let out = cmd.output().expect("pg_ctlcluster");
        assert!(
            out.status.success(),
            "pg_ctlcluster {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the server; it is started again when the answer is dropped
    /// (also when the test fails meanwhile).
    fn stopped(&self) -> Restart<'_> {
        self.ctl("stop");
        Restart(self)
    }
}

struct Restart<'a>(&'a Cluster);

impl Drop for Restart<'_> {
    fn drop(&mut self) {
        self.0.ctl("start");
        let started = Instant::now();
        while !Command::new("pg_isready")
            .args(["-q", "-h", "127.0.0.1", "-p", "5432"])
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "PostgreSQL did not come back"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_postgresql_is_503_while_down_and_service_resumes_by_itself() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let schema = Arc::new(PgSchema::new().create());
    let s = Server::start_with(&[("ROLEBOOK_DATABASE_URL", &schema.url())]);
    let owner = s.owner().await;
    let http = client();
    let cluster = Cluster::find();
    let load = Load::start(&http, &s, &owner);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let down = tokio::task::block_in_place(|| cluster.stopped());
    let r = s
        .call(reqwest::Method::GET, "/api/v1/health", None, None)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (503, "store_unavailable"),
        "health while the database is down: {:?}",
        r.body
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::task::block_in_place(|| drop(down));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answers = load.stop().await;
    let unavailable = every_command_once(&http, &s, &owner, &answers).await;
    assert!(unavailable > 0, "some commands were sent while it was down");
    println!(
        "{} commands across a PostgreSQL restart: {} answered 503 store_unavailable and succeeded when sent again, none 500",
        answers.len(),
        unavailable
    );
}
