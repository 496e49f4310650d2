//! Operator work killed midway (issue 23, part 1), through the real binary:
//! `replay rebuild` and a Parquet export into an S3-compatible bucket (moto,
//! signed requests), each killed with SIGKILL while it writes (as soon as
//! it has made progress the next run could keep) and run again until it
//! finishes. The result must equal an uninterrupted run's over a copy of
//! the same log:
//!
//! - rebuild, on the embedded store (RBAC and audit) and on PostgreSQL
//!   (the audit view): every table, row for row; the run after each kill
//!   resumed from the checkpoint the killed one reached (never from 0,
//!   never past it); `replay verify` passes;
//! - export: every object, byte for byte (size and SHA-256 as the bucket
//!   holds them), the days written before a kill kept by the next run,
//!   and `check-export` accepting every day.
//!
//! `ROLEBOOK_RELIABILITY_KILLS` (3) sets the kills per tool.

#[path = "../replay/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use infra::object_storage::{BucketSettings, Provider, Target};
use rusqlite::types::Value as SqlValue;
use serde_json::Value;
use support::{logged, Moto};

fn kills() -> usize {
    std::env::var("ROLEBOOK_RELIABILITY_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// `rolebook --data-dir DIR ARGS...` with `env`, not started yet.
fn command(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rolebook"));
    cmd.arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("ROLEBOOK_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Value {
    let out = command(dir, args, env).output().expect("run rolebook");
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Kills `child` with SIGKILL (no chance to clean up) and reaps it.
/// Returns whether it was still running (a kill, not a finished run).
fn kill(mut child: Child) -> bool {
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    running
}

/// Waits until `progressed` or the child exits; panics after 5 minutes.
fn wait_for(child: &mut Child, mut progressed: impl FnMut() -> bool) {
    let started = Instant::now();
    while !progressed() {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no progress in 5 minutes"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `spawn`ed runs and kills each as soon as `progress` has moved
/// past where it started, [`kills`] times; answers where each killed run
/// left it. Fails when a run finished before it could be killed, or a
/// kill left no progress behind.
fn kill_midway(mut spawn: impl FnMut() -> Child, mut progress: impl FnMut() -> u64) -> Vec<u64> {
    let mut reached = Vec::new();
    for _ in 0..kills() {
        let before = progress();
        let mut child = spawn();
        wait_for(&mut child, || progress() > before);
        assert!(
            kill(child),
            "every kill landed midway: run {} finished first",
            reached.len() + 1
        );
        let at = progress();
        assert!(at > before, "the killed run made progress");
        reached.push(at);
    }
    reached
}

/// Where a rebuild's report says its audit generation resumed from.
fn audit_resumed_from(report: &Value) -> Option<u64> {
    report["projections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["projection"] == "audit")
        .and_then(|p| p["resumed_from"].as_u64())
}

/// A copy of a data dir no process is using.
fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Every RBAC and audit table of a read-model database: rows as text,
/// sorted, by table.
fn dump(db: &Path) -> Vec<(String, Vec<String>)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table'
             AND (name LIKE 'rbac_%' OR name = 'audit_log') ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let mut stmt = conn.prepare(&format!("SELECT * FROM {t}")).unwrap();
            let n = stmt.column_count();
            let mut rows: Vec<String> = stmt
                .query_map([], |r| {
                    (0..n)
                        .map(|i| r.get::<_, SqlValue>(i))
                        .collect::<Result<Vec<_>, _>>()
                })
                .unwrap()
                .map(|r| format!("{:?}", r.unwrap()))
                .collect();
            rows.sort();
            (t, rows)
        })
        .collect()
}

/// The checkpoint of the audit projection's generation, as a reader sees
/// it while the rebuild writes (0 while there is none). A read-write
/// connection that waits for locks: after a kill it rolls back the dead
/// writer's hot journal (a read-only one cannot, and fails) and reads what
/// was committed.
fn generation_checkpoint(dir: &Path) -> u64 {
    let path = replay::rebuild::generation_path(dir, replay::rebuild::Which::Audit);
    if !path.exists() {
        return 0;
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.busy_timeout(Duration::from_secs(30)).unwrap();
    // No checkpoints table yet: nothing committed.
    projections::runner::checkpoint(&conn, "audit").unwrap_or(0)
}

fn days(n: u32) -> Vec<String> {
    let first = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    (0..n)
        .map(|i| (first + chrono::Days::new(i.into())).to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_killed_midway_resumes_and_builds_what_an_uninterrupted_one_does() {
    // Long enough for the audit generation to commit several pages (of
    // `projections::runner::BATCH`) before it ends.
    let day_names = days(20);
    let day_refs: Vec<&str> = day_names.iter().map(String::as_str).collect();
    let log = logged(&day_refs, 200_000).await;
    let dir = log.data_dir();
    let whole = tempfile::tempdir().unwrap();
    copy_dir(dir, whole.path());

    let uninterrupted = run(whole.path(), &["replay", "rebuild", "--to-head"], &[]);
    assert_eq!(uninterrupted["interrupted"], false);
    let expected = dump(&whole.path().join("rolebook.db"));
    assert!(expected
        .iter()
        .any(|(t, rows)| t == "audit_log" && rows.len() > 200_000));

    let reached = kill_midway(
        || {
            command(dir, &["replay", "rebuild", "--to-head"], &[])
                .spawn()
                .unwrap()
        },
        || generation_checkpoint(dir),
    );

    let finished = run(dir, &["replay", "rebuild", "--to-head"], &[]);
    assert_eq!(finished["interrupted"], false, "{finished}");
    assert_eq!(
        audit_resumed_from(&finished),
        reached.last().copied(),
        "resumed where the last killed run stopped: {finished}"
    );
    let audit = finished["projections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["projection"] == "audit")
        .unwrap();
    assert_eq!(audit["switched"], true);
    assert_eq!(dump(&dir.join("rolebook.db")), expected);
    assert!(!replay::rebuild::generation_path(dir, replay::rebuild::Which::Audit).exists());
    let verify = run(dir, &["replay", "verify"], &[]);
    assert_eq!(verify["ok"], true, "{verify}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_export_killed_midway_resumes_and_writes_the_same_bytes() {
    let day_names = days(60);
    let day_refs: Vec<&str> = day_names.iter().map(String::as_str).collect();
    let log = logged(&day_refs, 30_000).await;
    let dir = log.data_dir();
    let moto = Moto::start();
    let env = [
        ("ROLEBOOK_S3_ENDPOINT", moto.endpoint()),
        ("ROLEBOOK_S3_ACCESS_KEY_ID", moto.access_key_id.clone()),
        (
            "ROLEBOOK_S3_SECRET_ACCESS_KEY",
            moto.secret_access_key.clone(),
        ),
    ];
    let whole = ["replay", "export", "--out", "s3://audit/whole"];
    let uninterrupted = run(dir, &whole, &env);
    let days_exported = uninterrupted["days"].as_array().unwrap().len();
    assert!(days_exported >= 60, "{uninterrupted}");

    // The test reads the bucket as the export writes it: each day's digest
    // (written last) says the day is done.
    let mut settings = BucketSettings::new(
        Provider::S3,
        "audit",
        "killed",
        &moto.access_key_id,
        &moto.secret_access_key,
    );
    settings.endpoint = Some(moto.endpoint());
    let bucket = Target::bucket(&settings).unwrap();
    let keys: Vec<String> = uninterrupted["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let digest = d["digest"].as_str().unwrap();
            digest
                .strip_prefix("s3://audit/whole/")
                .unwrap()
                .to_string()
        })
        .collect();
    let handle = tokio::runtime::Handle::current();
    let done = || {
        let bucket = bucket.clone();
        let keys = keys.clone();
        tokio::task::block_in_place(|| {
            handle.block_on(async move {
                let mut n: u64 = 0;
                for k in &keys {
                    if bucket.get(k).await.unwrap().is_some() {
                        n += 1;
                    }
                }
                n
            })
        })
    };

    let killed = ["replay", "export", "--out", "s3://audit/killed"];
    let reached = kill_midway(|| command(dir, &killed, &env).spawn().unwrap(), done);
    assert!(*reached.last().unwrap() < days_exported as u64);

    let finished = run(dir, &killed, &env);
    let kept = finished["kept_days"].as_u64().unwrap();
    assert!(
        kept >= *reached.last().unwrap() && kept < days_exported as u64,
        "the days written before the last kill are kept, the rest written: {finished}"
    );
    assert_eq!(finished["days"].as_array().unwrap().len(), days_exported);

    // The same objects, byte for byte, under both prefixes.
    let objects = moto.objects();
    let under = |prefix: &str| {
        objects
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_string(), v.clone())))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (a, b) = (under("whole/"), under("killed/"));
    assert_eq!(a.len(), days_exported * 2);
    assert_eq!(
        a, b,
        "the resumed export wrote what the uninterrupted one did"
    );

    let check = ["replay", "check-export", "--out", "s3://audit/killed"];
    let checked = run(dir, &check, &env);
    assert_eq!(checked["ok"], true, "{checked}");
}

// ---- PostgreSQL ---------------------------------------------------------------

use testkit::postgres::{database_url, TestSchema};

/// The audit view's tables in PostgreSQL, as `replay rebuild` writes them.
const PG_TABLES: &[&str] = &["audit_log", "projection_checkpoints"];

/// A schema beside which a rebuild makes its generations (dropped with it).
fn pg_schema() -> TestSchema {
    TestSchema::new()
        .dropping_beside(&["rebuild_rbac", "rebuild_audit"])
        .create()
}

async fn pg_dump(pool: &sqlx::PgPool, schema: &str) -> Vec<String> {
    let mut out = Vec::new();
    for table in PG_TABLES {
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT t::text FROM {schema}.{table} t"))
                .fetch_all(pool)
                .await
                .unwrap_or_else(|e| panic!("{table}: {e}"));
        out.extend(rows.into_iter().map(|r| format!("{table}: {r}")));
    }
    out.sort();
    out
}

/// The audit generation's checkpoint beside `schema` (0 while there is
/// none).
async fn pg_generation_checkpoint(pool: &sqlx::PgPool, schema: &str) -> u64 {
    sqlx::query_scalar::<_, i64>(&format!(
        "SELECT position FROM {schema}_rebuild_audit.projection_checkpoints WHERE name = 'audit'"
    ))
    .fetch_optional(pool)
    .await
    .ok()
    .flatten()
    .unwrap_or(0) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_on_postgresql_killed_midway_resumes_and_builds_what_an_uninterrupted_one_does() {
    use domain::store::{EventStore, ExpectedVersion};
    // The same events (ids and all) in two schemas: one rebuilt in one go,
    // one killed midway. Enough for four pages of 50,000. The audit view
    // only (the RBAC tables' rebuild is the same runner's, and the
    // embedded test above covers both): each run would build the RBAC
    // generation from 0 again before it.
    let mut w = testkit::Workload::organization("acme", testkit::Size::SMALL, 7);
    w.churn_to(160_000);
    let envelopes = w.envelopes();
    let (whole, killed) = (pg_schema(), pg_schema());
    for schema in [&whole, &killed] {
        let store = infra::postgres::PostgresEventStore::connect_with(
            infra::postgres::PostgresOptions::new(database_url()).in_schema(&schema.name),
        )
        .await
        .unwrap();
        for chunk in envelopes.chunks(5_000) {
            store
                .append(&w.org_id.stream(), ExpectedVersion::Any, chunk.to_vec())
                .await
                .unwrap();
        }
    }
    let pool = sqlx::PgPool::connect(&database_url()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rebuild = ["replay", "rebuild", "--to-head", "--projection", "audit"];

    let env_whole = [("ROLEBOOK_DATABASE_URL", whole.url())];
    let uninterrupted = run(dir.path(), &rebuild, &env_whole);
    assert_eq!(uninterrupted["interrupted"], false, "{uninterrupted}");
    let expected = pg_dump(&pool, &whole.name).await;
    assert!(expected.len() > 160_000);

    let env = [("ROLEBOOK_DATABASE_URL", killed.url())];
    let handle = tokio::runtime::Handle::current();
    let reached = tokio::task::block_in_place(|| {
        kill_midway(
            || command(dir.path(), &rebuild, &env).spawn().unwrap(),
            || handle.block_on(pg_generation_checkpoint(&pool, &killed.name)),
        )
    });

    let finished = run(dir.path(), &rebuild, &env);
    assert_eq!(finished["interrupted"], false, "{finished}");
    assert_eq!(
        audit_resumed_from(&finished),
        reached.last().copied(),
        "resumed where the last killed run stopped: {finished}"
    );
    assert_eq!(pg_dump(&pool, &killed.name).await, expected);
}
