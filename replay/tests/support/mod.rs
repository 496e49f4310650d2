//! Set-up for the export and streaming tests: a data dir whose log spans
//! several UTC days (events appended with chosen times, the audit view
//! folded by the real projection runner), python helpers (pyarrow, boto3),
//! and a real S3-compatible server (moto in server mode) on loopback,
//! reached through a proxy the test can take down.
//!
//! Python, pyarrow and moto are required: a test without them fails with a
//! message saying what to install (`.ci/run` installs them).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use domain::events::{Actor, EventMetadata, Medium};
use domain::ids::{OrgId, UserId};
use domain::registry::OrganizationRegistered;
use domain::store::{EventStore, ExpectedVersion, NewEvent};
use infra::SqliteEventStore;
use projections::audit::{self, AuditEntry, AuditFilter, AuditProjection};
use projections::runner::{decode, Runner};
use testkit::{Size, Workload};

pub struct Logged {
    pub dir: tempfile::TempDir,
    pub store: Arc<dyn EventStore>,
    /// The organization with events on every day of `days`.
    pub acme: OrgId,
    /// Another organization, with events on the first day only.
    pub globex: OrgId,
    pub days: Vec<NaiveDate>,
}

impl Logged {
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
    pub fn read_db(&self) -> PathBuf {
        projections::db::path_in(self.dir.path())
    }
}

pub fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Metadata of the `i`th event: actors, media and request details vary
/// (some absent), so nullable columns hold both.
fn metadata(i: usize, at: DateTime<Utc>, user: UserId) -> String {
    let actor = if i.is_multiple_of(3) {
        Actor::system()
    } else {
        Actor::user(user, "alice")
    };
    let medium = [Medium::Api, Medium::Cli, Medium::Scim][i % 3];
    let mut m = EventMetadata::new(actor, medium, at);
    if i.is_multiple_of(2) {
        m.ip = Some(format!("203.0.113.{}", i % 250));
        m.user_agent = Some("curl/8.5 \"quoted\", ünïcode".into());
        m.request_id = Some(format!("req-{i}"));
    }
    serde_json::to_string(&m).unwrap()
}

async fn append_org(
    store: &dyn EventStore,
    name: &str,
    seed: u64,
    total: usize,
    days: &[NaiveDate],
) -> OrgId {
    let mut w = Workload::organization(name, Size::SMALL, seed);
    w.churn_to(total);
    let user = w.owner;
    let n = w.events.len();
    let registry = domain::registry::stream();
    let registered = OrganizationRegistered {
        org_id: w.org_id,
        name: name.to_string(),
    };
    let version = store.stream_version(&registry).await.unwrap();
    store
        .append(
            &registry,
            if version == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(version)
            },
            vec![NewEvent {
                event_id: uuid::Uuid::now_v7(),
                event_type: OrganizationRegistered::EVENT_TYPE.to_string(),
                schema_version: OrganizationRegistered::SCHEMA_VERSION,
                data: serde_json::to_string(&registered).unwrap(),
                metadata: serde_json::to_string(&EventMetadata::new(
                    Actor::system(),
                    Medium::Cli,
                    Utc::now(),
                ))
                .unwrap(),
            }],
        )
        .await
        .unwrap();
    let mut version = 0;
    for (c, chunk) in w.events.chunks(100).enumerate() {
        let events = chunk
            .iter()
            .enumerate()
            .map(|(k, e)| {
                let i = c * 100 + k;
                // Spread over the days in order; within a day, seconds apart.
                let d = days[i * days.len() / n];
                let at = Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap())
                    + chrono::Duration::seconds((i % 80_000) as i64);
                NewEvent {
                    event_id: uuid::Uuid::now_v7(),
                    event_type: e.event_type().to_string(),
                    schema_version: e.schema_version(),
                    data: e.to_json(),
                    metadata: metadata(i, at, user),
                }
            })
            .collect();
        let expected = if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(version)
        };
        version = store
            .append(&w.org_id.stream(), expected, events)
            .await
            .unwrap()
            .stream_version;
    }
    w.org_id
}

/// Appends to `org`'s stream one settings change (its URL) that occurred
/// at `at`, by the system: a dated event for a day the test chooses.
pub async fn append_dated_settings_change(
    store: &dyn EventStore,
    org: OrgId,
    url: &str,
    at: DateTime<Utc>,
) {
    let event =
        domain::Event::OrganizationSettingsChanged(domain::events::OrganizationSettingsChanged {
            name: None,
            url: Some(url.into()),
        });
    let version = store.stream_version(&org.stream()).await.unwrap();
    store
        .append(
            &org.stream(),
            ExpectedVersion::Exact(version),
            vec![NewEvent {
                event_id: uuid::Uuid::now_v7(),
                event_type: event.event_type().to_string(),
                schema_version: event.schema_version(),
                data: event.to_json(),
                metadata: serde_json::to_string(&EventMetadata::new(
                    Actor::system(),
                    Medium::Cli,
                    at,
                ))
                .unwrap(),
            }],
        )
        .await
        .unwrap();
}

/// Folds the log into the audit view, like the server's runner.
pub async fn catch_up_audit(store: &dyn EventStore, db: &Path) {
    let mut runner = Runner::open(AuditProjection::new(), db).unwrap();
    loop {
        let page = store.read_all(runner.position() + 1, 5_000).await.unwrap();
        let Some(last) = page.last().map(|e| e.global_position) else {
            return;
        };
        runner.apply_page(&decode(page).unwrap(), last).unwrap();
    }
}

/// acme: `acme_events` events over `days`; globex: 150 events on the first
/// day. The audit view is caught up.
pub async fn logged(days: &[&str], acme_events: usize) -> Logged {
    let days: Vec<NaiveDate> = days.iter().map(|d| day(d)).collect();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn EventStore> =
        Arc::new(SqliteEventStore::open_in_dir(dir.path()).await.unwrap());
    let acme = append_org(store.as_ref(), "acme", 1, acme_events, &days).await;
    let globex = append_org(store.as_ref(), "globex", 2, 150, &days[..1]).await;
    catch_up_audit(store.as_ref(), &projections::db::path_in(dir.path())).await;
    Logged {
        dir,
        store,
        acme,
        globex,
        days,
    }
}

/// The audit view's entries of `org` on `day`, oldest first (through the
/// view's own paged query).
pub fn audit_view(db: &Path, org: OrgId, day: NaiveDate) -> Vec<AuditEntry> {
    let conn = projections::db::open_read_only(db).unwrap();
    let mut filter = AuditFilter::new(org);
    filter.from = Some(day.and_hms_opt(0, 0, 0).unwrap().and_utc());
    filter.to = Some(
        day.succ_opt()
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc(),
    );
    filter.limit = audit::MAX_LIMIT;
    let mut all = Vec::new();
    loop {
        let page = audit::page(&conn, &filter).unwrap();
        all.extend(page.entries);
        match page.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => break,
        }
    }
    all.reverse();
    all
}

// ---- python -------------------------------------------------------------------

/// The directory of the python helpers (this module is also included by
/// the workspace root's end-to-end tests).
pub fn scripts() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let here = root.join("tests").join("py");
    if here.is_dir() {
        here
    } else {
        root.join("replay").join("tests").join("py")
    }
}

/// The modules the python helpers import.
const MODULES: &str = "pyarrow, moto, boto3";

/// The python interpreter of the tests: `ROLEBOOK_TEST_PYTHON` (set by
/// `scripts/test` to a virtualenv with tests/requirements.txt), else
/// `python3`. Panics (failing the test, never skipping it) unless it has
/// [`MODULES`], naming what to install: the tests install nothing.
pub fn python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let python = std::env::var_os("ROLEBOOK_TEST_PYTHON")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("python3"));
            let found = Command::new(&python)
                .args(["-c", &format!("import {MODULES}")])
                .output()
                .unwrap_or_else(|e| {
                    panic!("{} cannot run: {e} (python3 is required)", python.display())
                });
            assert!(
                found.status.success(),
                "{} lacks {MODULES}: run the tests with `scripts/test`, or `pip install -r \
                 tests/requirements.txt` and set ROLEBOOK_TEST_PYTHON\n{}",
                python.display(),
                String::from_utf8_lossy(&found.stderr).trim()
            );
            python
        })
        .clone()
}

/// Runs `python <script> <args>` (see [`python`]) and parses its stdout as
/// JSON. Panics (failing the test) when python or a module is missing.
pub fn python_json(script: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(python())
        .arg(scripts().join(script))
        .args(args)
        .output()
        .expect("python3 is required for this test (see .ci/run)");
    assert!(
        out.status.success(),
        "python3 {script} failed (is pyarrow/boto3 installed? `pip install pyarrow 'moto[server]'`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the helper prints JSON")
}

// ---- an S3-compatible server ---------------------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// moto in server mode on loopback, with signature checking on, one IAM
/// user allowed `s3:*`, and bucket `audit`. Killed on drop.
///
/// Runs through `py/moto_server.py`, which makes moto check signatures over
/// the path as the client sent it (moto decodes `%3D` first, so every key
/// with `=` failed, boto3's own too); nothing else is changed.
pub struct Moto {
    child: Child,
    pub port: u16,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        // moto.server through a launcher that fixes its signature check of
        // keys with `=` (see py/moto_server.py).
        let child = Command::new(python())
            .arg(scripts().join("moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // The set-up's four requests go unsigned; every later one must be
            // signed with the user's keys.
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "4")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 is required to run moto (see .ci/run)");
        let mut moto = Moto {
            child,
            port,
            access_key_id: String::new(),
            secret_access_key: String::new(),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto exited ({status}): `pip install 'moto[server]'` (see .ci/run)");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto did not start within 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let keys = python_json("s3.py", &["setup", &moto.endpoint()]);
        moto.access_key_id = keys["access_key_id"].as_str().unwrap().to_string();
        moto.secret_access_key = keys["secret_access_key"].as_str().unwrap().to_string();
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every object of bucket `audit`: key -> (size, sha256), read back
    /// with boto3 and the user's keys.
    pub fn objects(&self) -> serde_json::Map<String, serde_json::Value> {
        let v = python_json(
            "s3.py",
            &[
                "list",
                &self.endpoint(),
                &self.access_key_id,
                &self.secret_access_key,
            ],
        );
        v.as_object().unwrap().clone()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy on loopback in front of a server, which the test can take
/// down (the port refuses connections and open ones are cut) and bring
/// back up on the same port.
pub struct Proxy {
    pub port: u16,
    upstream: SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    pub async fn start(upstream_port: u16) -> Proxy {
        let mut p = Proxy {
            port: free_port(),
            upstream: SocketAddr::from(([127, 0, 0, 1], upstream_port)),
            task: None,
        };
        p.up().await;
        p
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the proxy port is free again");
        let upstream = self.upstream;
        self.task = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                connections.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        }));
    }

    /// Stops listening and cuts every open connection.
    pub async fn down(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
