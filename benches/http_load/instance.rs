//! A rolebook instance for the HTTP benches: its storage (a temporary data
//! dir, and with `ROLEBOOK_BENCH_DATABASE_URL` a PostgreSQL schema of its
//! own, dropped at the end), generated organizations written straight into
//! its event store, session tokens, and the release server started on it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::ids::{OrgId, TokenId, UserId};
use domain::store::{EventStore, ExpectedVersion, NewEvent};
use sqlx::Connection as _;
use testkit::Workload;

/// Where the instance keeps its log, read models and credentials.
pub enum Backend {
    /// The embedded default: everything in the data dir.
    Sqlite,
    /// The log, read models and credentials in `schema` of the database
    /// at `url`; the data dir keeps the keys.
    Postgres { url: String, schema: String },
}

pub struct Instance {
    pub dir: tempfile::TempDir,
    pub backend: Backend,
}

impl Instance {
    /// A new instance: a data dir under `ROLEBOOK_BENCH_DIR` (the current
    /// dir by default), on PostgreSQL when `ROLEBOOK_BENCH_DATABASE_URL`
    /// is set (a new schema `bench_…` there).
    pub async fn new() -> Instance {
        let dir = tempfile::tempdir_in(
            std::env::var("ROLEBOOK_BENCH_DIR").unwrap_or_else(|_| ".".into()),
        )
        .unwrap();
        let backend = match std::env::var("ROLEBOOK_BENCH_DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
                sql(&url, &format!("CREATE SCHEMA {schema}")).await;
                Backend::Postgres { url, schema }
            }
            _ => Backend::Sqlite,
        };
        Instance { dir, backend }
    }

    /// `sqlite` or `PostgreSQL <version> (schema …)`, for the report.
    pub async fn describe(&self) -> String {
        match &self.backend {
            Backend::Sqlite => "SQLite (embedded, the data dir)".into(),
            Backend::Postgres { url, schema } => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                let version: String = sqlx::query_scalar("SHOW server_version")
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
                format!("PostgreSQL {version} on {url}, schema {schema}")
            }
        }
    }

    /// The server's `--database-url`: the database with the schema as its
    /// `search_path`.
    fn server_url(&self) -> Option<String> {
        match &self.backend {
            Backend::Sqlite => None,
            Backend::Postgres { url, schema } => {
                let separator = if url.contains('?') { '&' } else { '?' };
                Some(format!(
                    "{url}{separator}options=-c%20search_path%3D{schema}"
                ))
            }
        }
    }

    async fn store(&self) -> Arc<dyn EventStore> {
        match &self.backend {
            Backend::Sqlite => Arc::new(
                infra::SqliteEventStore::open_in_dir(self.dir.path())
                    .await
                    .unwrap(),
            ),
            Backend::Postgres { url, schema } => Arc::new(
                infra::postgres::PostgresEventStore::connect_with(
                    infra::postgres::PostgresOptions::new(url).in_schema(schema),
                )
                .await
                .unwrap(),
            ),
        }
    }

    /// Writes each organization's events into its stream and registers
    /// it under `name` (the registry event the API's commands append).
    pub async fn load(&self, orgs: &[(&str, &Workload)]) {
        let store = self.store().await;
        let registrations: Vec<NewEvent> = orgs
            .iter()
            .map(|(name, w)| NewEvent {
                event_id: uuid::Uuid::now_v7(),
                event_type: domain::registry::OrganizationRegistered::EVENT_TYPE.into(),
                schema_version: 1,
                data: serde_json::to_string(&domain::registry::OrganizationRegistered {
                    org_id: w.org_id,
                    name: name.to_string(),
                })
                .unwrap(),
                metadata: "{}".into(),
            })
            .collect();
        store
            .append(
                &domain::registry::stream(),
                ExpectedVersion::Any,
                registrations,
            )
            .await
            .unwrap();
        for (_, w) in orgs {
            for (i, chunk) in w.envelopes().chunks(5_000).enumerate() {
                let expected = if i == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Any
                };
                store
                    .append(&w.org_id.stream(), expected, chunk.to_vec())
                    .await
                    .unwrap();
            }
        }
        drop(store);
        // The log settled into its file, as a server finds a log written
        // long before (not a WAL of the whole load, which the server's
        // first minutes would count).
        if let Backend::Sqlite = self.backend {
            testkit::bench::settle(&self.dir.path().join(infra::sqlite::EVENTS_FILE));
        }
    }

    /// A session token for each `(org, user)`, in the instance's
    /// credentials store.
    pub async fn tokens(&self, callers: &[(OrgId, UserId)]) -> Vec<String> {
        let credentials = match &self.backend {
            Backend::Sqlite => {
                let read_db = infra::readmodel::open_in_dir(self.dir.path()).unwrap();
                commands::Credentials::sqlite(&read_db).await.unwrap()
            }
            Backend::Postgres { .. } => {
                let url = self.server_url().unwrap();
                let pool = sqlx::PgPool::connect(&url).await.unwrap();
                commands::Credentials::postgres(pool).await.unwrap()
            }
        };
        let mut tokens = Vec::with_capacity(callers.len());
        for (org, user) in callers {
            tokens.push(
                credentials
                    .issue_token(
                        *org,
                        *user,
                        TokenId::new(),
                        commands::credentials::TokenKind::Session,
                        None,
                    )
                    .await
                    .unwrap(),
            );
        }
        tokens
    }

    /// Starts the release server on the instance and waits until it
    /// listens (not until its projections have caught up: see
    /// [`Server::settle`]).
    pub fn serve(&self) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rolebook"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(self.dir.path())
            .env(
                "RUST_LOG",
                std::env::var("ROLEBOOK_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env_remove("ROLEBOOK_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(url) = self.server_url() {
            command.arg("--database-url").arg(url);
        }
        let started = Instant::now();
        let mut child = command.spawn().unwrap();
        let pid = child.id();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let address = loop {
            line.clear();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "the server stopped before listening"
            );
            if let Some(rest) = line.trim().strip_prefix("rolebook listening on ") {
                break rest.to_string();
            }
            eprintln!("server: {}", line.trim_end());
        };
        let listening_after = started.elapsed();
        // The server's log, passed on to this process's stderr.
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                eprintln!("server: {line}");
            }
        });
        // The largest size each WAL file of the data dir reaches, sampled
        // every 50 ms while the server runs.
        let wal_peak = Arc::new(parking_lot::Mutex::new(BTreeMap::<String, u64>::new()));
        {
            let (dir, peak) = (self.dir.path().to_path_buf(), wal_peak.clone());
            std::thread::spawn(move || loop {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    return;
                };
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().to_string();
                    if name.ends_with("-wal") {
                        let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                        let mut peak = peak.lock();
                        let max = peak.entry(name).or_default();
                        *max = (*max).max(len);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            });
        }
        Server {
            child,
            pid,
            address,
            listening_after,
            wal_peak,
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Backend::Postgres { url, schema } = &self.backend {
            let (url, statement) = (
                url.clone(),
                format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            );
            // On a thread of its own: the caller may be inside a runtime.
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(sql(&url, &statement))
            })
            .join();
        }
    }
}

async fn sql(url: &str, statement: &str) {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {url}: {e}"));
    sqlx::raw_sql(statement)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// The running release server.
pub struct Server {
    child: Child,
    pub pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// From the spawn to "listening".
    pub listening_after: Duration,
    wal_peak: Arc<parking_lot::Mutex<BTreeMap<String, u64>>>,
}

impl Server {
    /// A field of `/proc/PID/status` in MiB (`VmRSS` now, `VmHWM` peak).
    pub fn memory_mib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    }

    /// `name size, ...` of the largest WAL files since the last call.
    pub fn take_wal_peaks(&self) -> String {
        let peaks = std::mem::take(&mut *self.wal_peak.lock());
        let sizes: Vec<String> = peaks
            .iter()
            .map(|(name, len)| format!("{name} {:.1} MiB", *len as f64 / (1 << 20) as f64))
            .collect();
        if sizes.is_empty() {
            "none (no WAL files in the data dir)".into()
        } else {
            sizes.join(", ")
        }
    }

    /// Waits until both projections have caught up with the log, then a
    /// second more, so one figure's backlog does not weigh on the next.
    /// Answers the log's head position.
    pub async fn settle(&self, client: &reqwest::Client) -> u64 {
        let started = Instant::now();
        loop {
            let health: serde_json::Value = client
                .get(format!("{}/api/v1/health", self.address))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if health["projections"]["rbac"] == health["position"]
                && health["projections"]["audit"] == health["position"]
            {
                tokio::time::sleep(Duration::from_secs(1)).await;
                return health["position"].as_u64().unwrap_or(0);
            }
            assert!(
                started.elapsed() < Duration::from_secs(1800),
                "projections never caught up: {health}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the end of the start (both projections caught up with
    /// the log), then prints how long it took, the RSS and the largest
    /// WAL files of the start.
    pub async fn report_start(&self, client: &reqwest::Client) {
        let started = Instant::now();
        self.settle(client).await;
        println!(
            "server listening after {:.1?}, ready (projections caught up) after {:.1?} with a second of rest; RSS {} MiB; largest WAL files during the start: {}",
            self.listening_after,
            started.elapsed() + self.listening_after,
            self.memory_mib("VmRSS"),
            self.take_wal_peaks()
        );
    }
}

/// `clients` clients, each sending the request `next(client, c, i)` builds
/// (`c` the client's number, `i` its requests so far) as soon as its last
/// one is answered, for `duration`; every answer must be a success.
/// Answers the latencies, sorted.
pub async fn closed_loop<F>(
    client: &reqwest::Client,
    clients: usize,
    duration: Duration,
    next: F,
) -> Vec<Duration>
where
    F: Fn(&reqwest::Client, usize, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let next = Arc::new(next);
    let deadline = Instant::now() + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let (client, next) = (client.clone(), next.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut i = 0;
            while Instant::now() < deadline {
                let request = next(&client, c, i).build().unwrap();
                i += 1;
                let what = format!("{} {}", request.method(), request.url());
                let started = Instant::now();
                let answer = client.execute(request).await.unwrap();
                let status = answer.status();
                let _ = answer.bytes().await;
                assert!(status.is_success(), "{what}: {status}");
                latencies.push(started.elapsed());
            }
            latencies
        });
    }
    let mut latencies: Vec<Duration> = tasks.join_all().await.concat();
    latencies.sort();
    latencies
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The machine's load averages (1, 5, 15 minutes), as `uptime` shows them:
/// other work on the same cores weighs on every figure.
pub fn load_average() -> String {
    let avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let avg: Vec<&str> = avg.split_whitespace().take(3).collect();
    format!("load average: {}", avg.join(", "))
}
