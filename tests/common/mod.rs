//! Shared helpers of the HTTP end-to-end tests: start the real binary on a
//! free port over a temporary data dir, read its bootstrap line, and call
//! the API with reqwest.
//!
//! With `ROLEBOOK_TEST_BACKEND=postgres` every server gets a PostgreSQL
//! schema of its own on the test server (`ROLEBOOK_TEST_DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`) through
//! `--database-url`, kept across a restart and dropped when the last
//! handle goes: `scripts/test` runs the HTTP suites a second time so.

#![allow(dead_code)]

pub mod oidc;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

/// A password that passes the strength rules.
pub const PASSWORD: &str = "Correct-Horse-42";

/// A running `rolebook serve`, killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub client: reqwest::Client,
    /// The bootstrap line printed on stdout.
    pub bootstrap: Value,
    /// Everything the server wrote on stderr so far.
    pub stderr: Arc<Mutex<String>>,
    pub dir: tempfile::TempDir,
    /// The server's PostgreSQL schema (`ROLEBOOK_TEST_BACKEND=postgres`).
    pub schema: Option<Arc<PgSchema>>,
}

/// A PostgreSQL schema for one test server (and its restarts), dropped
/// when the last handle goes.
pub use testkit::postgres::TestSchema as PgSchema;

/// A new schema when the tests run on PostgreSQL, else `None`.
fn schema_for_tests() -> Option<Arc<PgSchema>> {
    (std::env::var("ROLEBOOK_TEST_BACKEND").as_deref() == Ok("postgres"))
        .then(|| Arc::new(PgSchema::new().create()))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stopped server's data dir, to start again.
pub struct Stopped {
    pub dir: tempfile::TempDir,
    pub bootstrap: Value,
    pub schema: Option<Arc<PgSchema>>,
}

impl Stopped {
    /// Starts a server on the same data dir (no bootstrap line then: the
    /// store is not empty) with `env`.
    pub fn start(self, env: &[(&str, &str)]) -> Server {
        Server::start_on(self.dir, env, Some(self.bootstrap), self.schema)
    }

    /// The environment a CLI run on this server's data needs (its
    /// `ROLEBOOK_DATABASE_URL` on PostgreSQL).
    pub fn cli_env(&self) -> Vec<(String, String)> {
        cli_env(&self.schema)
    }
}

fn cli_env(schema: &Option<Arc<PgSchema>>) -> Vec<(String, String)> {
    schema
        .iter()
        .map(|s| ("ROLEBOOK_DATABASE_URL".to_string(), s.url()))
        .collect()
}

/// One answer: status, headers, the body as JSON (Null if not JSON) and as
/// text.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// The problem's `code` (empty when there is none).
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The command's position, from the body and the header (which must
    /// agree).
    pub fn position(&self) -> u64 {
        let header: u64 = self
            .headers
            .get("rolebook-position")
            .unwrap_or_else(|| panic!("no Rolebook-Position header: {self:?}"))
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        if let Some(p) = self.body["position"].as_u64() {
            assert_eq!(p, header, "position field and header differ");
        }
        header
    }

    /// Panics with the whole answer unless the status is `status`.
    #[track_caller]
    pub fn expect(self, status: u16) -> Resp {
        assert_eq!(self.status, status, "unexpected answer: {self:#?}");
        self
    }

    /// Panics unless this is a problem+json answer with `status` and `code`.
    #[track_caller]
    pub fn problem(self, status: u16, code: &str) -> Resp {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer: {self:#?}"
        );
        let ct = self
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(
            ct.starts_with("application/problem+json"),
            "not problem+json: {ct}"
        );
        self
    }
}

impl Server {
    /// Starts a server with no admin token.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts a server with extra environment variables.
    pub fn start_with(env: &[(&str, &str)]) -> Server {
        Server::start_in(tempfile::tempdir().expect("temp dir"), env, None)
    }

    /// Starts a server on the data dir `dir` (on SQLite: a test that needs
    /// the data dir somewhere in particular, e.g. on a small filesystem).
    pub fn start_in_dir(dir: tempfile::TempDir, env: &[(&str, &str)]) -> Server {
        Server::start_on(dir, env, None, None)
    }

    /// Starts another server with its own data dir and `env`, beside one
    /// that already bootstrapped the store they share (`bootstrap` is that
    /// one's line: this one prints none).
    pub fn start_beside(env: &[(&str, &str)], bootstrap: Value) -> Server {
        Server::start_in(tempfile::tempdir().expect("temp dir"), env, Some(bootstrap))
    }

    /// [`Server::start_beside`] `other`, with copies of its key files (every
    /// process on one database seals with the same keys).
    pub fn start_sharing_keys(env: &[(&str, &str)], other: &Server) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        for key in ["answers.key", "streaming.key"] {
            std::fs::copy(other.dir.path().join(key), dir.path().join(key)).expect("copy a key");
        }
        Server::start_in(dir, env, Some(other.bootstrap.clone()))
    }

    /// Stops this server (killed, as a crash would), keeping its data dir.
    pub fn stop(mut self) -> Stopped {
        let _ = self.child.kill();
        let _ = self.child.wait();
        Stopped {
            dir: std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir")),
            bootstrap: self.bootstrap.clone(),
            schema: self.schema.take(),
        }
    }

    /// The environment a CLI run on this server's data needs (its
    /// `ROLEBOOK_DATABASE_URL` on PostgreSQL).
    pub fn cli_env(&self) -> Vec<(String, String)> {
        cli_env(&self.schema)
    }

    /// Starts a server on `dir`; `bootstrap` is the line of an earlier start
    /// (`None`: read it from stdout).
    fn start_in(dir: tempfile::TempDir, env: &[(&str, &str)], bootstrap: Option<Value>) -> Server {
        // A test that names its own database keeps it.
        let schema = if env.iter().any(|(k, _)| *k == "ROLEBOOK_DATABASE_URL") {
            None
        } else {
            schema_for_tests()
        };
        Server::start_on(dir, env, bootstrap, schema)
    }

    fn start_on(
        dir: tempfile::TempDir,
        env: &[(&str, &str)],
        bootstrap: Option<Value>,
        schema: Option<Arc<PgSchema>>,
    ) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rolebook"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env_remove("ROLEBOOK_ADMIN_TOKEN")
            .env_remove("ROLEBOOK_LISTEN")
            .env_remove("ROLEBOOK_DATA_DIR")
            .env_remove("ROLEBOOK_DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(schema) = &schema {
            cmd.env("ROLEBOOK_DATABASE_URL", schema.url());
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start rolebook serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let log = Arc::new(Mutex::new(String::new()));
        // The listening line (port 0: the OS picks a free port, the server
        // says which).
        let mut address = None;
        let mut line = String::new();
        while address.is_none() {
            line.clear();
            if stderr.read_line(&mut line).unwrap_or(0) == 0 {
                let mut rest = String::new();
                let _ = stdout.read_to_string(&mut rest);
                panic!(
                    "rolebook serve stopped before listening: {}{line}{rest}",
                    log.lock().unwrap()
                );
            }
            log.lock().unwrap().push_str(&line);
            if let Some(a) = line.trim().strip_prefix("rolebook listening on ") {
                address = Some(a.to_string());
            }
        }
        if schema.is_some() {
            assert!(
                !dir.path().join("events.db").exists(),
                "a server on PostgreSQL keeps no log in its data dir"
            );
        }
        let drain = log.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while stderr.read_line(&mut line).unwrap_or(0) > 0 {
                drain.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let bootstrap = bootstrap.unwrap_or_else(|| {
            let mut first = String::new();
            stdout.read_line(&mut first).expect("bootstrap line");
            serde_json::from_str(&first)
                .unwrap_or_else(|e| panic!("bootstrap line {first:?} is not JSON: {e}"))
        });
        Server {
            child,
            base: address.unwrap(),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .unwrap(),
            bootstrap,
            stderr: log,
            dir,
            schema,
        }
    }

    /// A path under `/api/v1/orgs/default` unless it starts with `/api/`.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("/api/") {
            format!("{}{path}", self.base)
        } else {
            format!("{}/api/v1/orgs/default{path}", self.base)
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Resp {
        let r = request.send().await.expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut r = self.client.request(method, self.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        self.send(r).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }
    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// The bootstrap Owner's login and temporary password.
    pub fn owner_login(&self) -> (String, String) {
        (
            self.bootstrap["owner"]["login"]
                .as_str()
                .unwrap()
                .to_string(),
            self.bootstrap["owner"]["temporary_password"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    }

    /// Sets `login`'s own password (from the temporary one) and returns the
    /// session token.
    pub async fn first_login(&self, login: &str, temporary: &str) -> String {
        let r = self
            .call(
                Method::POST,
                "/sessions/password",
                None,
                Some(json!({"login": login, "current_password": temporary, "new_password": PASSWORD})),
            )
            .await
            .expect(201);
        let token = r.body["token"].as_str().unwrap().to_string();
        // Wait until the read side knows the user, so that reads made with
        // the token see their permissions.
        let user = r.body["user_id"].as_str().unwrap();
        self.get(
            &format!("/people/{user}/permissions?at_least={}", r.position()),
            &token,
        )
        .await
        .expect(200);
        token
    }

    /// The bootstrap Owner's session token (sets their password).
    pub async fn owner(&self) -> String {
        let (login, temporary) = self.owner_login();
        self.first_login(&login, &temporary).await
    }

    /// Invites one person with an organization role (`Member` when `None`);
    /// returns their `created` entry (user_id, username, temporary_password)
    /// and the position.
    pub async fn invite(&self, token: &str, email: &str, role: Option<&str>) -> (Value, u64) {
        let mut body = json!({"people": [{"email": email}]});
        if let Some(r) = role {
            body["role"] = json!(r);
        }
        let r = self.post("/people", token, body).await.expect(201);
        let position = r.position();
        (r.body["created"][0].clone(), position)
    }

    /// Invites someone and logs them in: `(user_id, username, token)`.
    pub async fn member(
        &self,
        token: &str,
        email: &str,
        role: Option<&str>,
    ) -> (String, String, String) {
        let (created, _) = self.invite(token, email, role).await;
        let t = self
            .first_login(email, created["temporary_password"].as_str().unwrap())
            .await;
        (
            created["user_id"].as_str().unwrap().to_string(),
            created["username"].as_str().unwrap().to_string(),
            t,
        )
    }

    /// The audit entries matching `query` (newest first), waiting for the
    /// audit projection to reach `at_least`.
    pub async fn audit(&self, token: &str, at_least: u64, query: &str) -> Vec<Value> {
        let sep = if query.is_empty() { "" } else { "&" };
        let r = self
            .get(
                &format!("/audit-logs?at_least={at_least}&limit=1000{sep}{query}"),
                token,
            )
            .await
            .expect(200);
        r.body["events"].as_array().unwrap().clone()
    }

    /// The newest audit entry at `position` (the command's last event).
    pub async fn audit_at(&self, token: &str, position: u64) -> Value {
        self.audit(token, position, "")
            .await
            .into_iter()
            .find(|e| e["position"] == position)
            .unwrap_or_else(|| panic!("no audit entry at position {position}"))
    }

    /// Every group's name, sorted, as the read side answers once it has
    /// reached the store's head (all pages).
    pub async fn group_names(&self, token: &str) -> Vec<String> {
        let head = self.head().await;
        let mut names: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = match &cursor {
                Some(c) => format!("/groups?limit=1000&at_least={head}&cursor={c}"),
                None => format!("/groups?limit=1000&at_least={head}"),
            };
            let r = self.get(&page, token).await.expect(200);
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
        names
    }

    /// The organization's settings as `replay state --org default --as-of
    /// <at>` gives them (the CLI on this server's data).
    pub fn settings_as_of(&self, at: &str) -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_rolebook"))
            .envs(self.cli_env())
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(["replay", "state", "--org", "default", "--as-of", at])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["settings"].clone()
    }

    /// The head position of the store, from the health route (which
    /// answers 503 `starting` until the projections have caught up).
    pub async fn head(&self) -> u64 {
        let r = self.call(Method::GET, "/api/v1/health", None, None).await;
        assert!(matches!(r.status, 200 | 503), "health: {r:?}");
        r.body["position"].as_u64().unwrap()
    }
}

/// Runs the binary with `args`, on nothing the environment names (no
/// database or event store URL, no data dir): each test says where.
pub fn rolebook(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rolebook"))
        .args(args)
        .env_remove("ROLEBOOK_DATABASE_URL")
        .env_remove("ROLEBOOK_EVENT_STORE_URL")
        .env_remove("ROLEBOOK_DATA_DIR")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run rolebook")
}
