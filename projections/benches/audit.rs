//! The audit log's figures on a log of 1,000,000 events: the benchmark
//! organization (10,000 users, 1,000 projects, 200 groups, 50 custom roles)
//! churned to 1,000,000 events, appended to a SQLite event store. Each event
//! carries an actor drawn from 1,000 people (one in ten by the system) and
//! a time 30 s after the previous one (about a year in all).
//!
//! - catch-up: the audit projection from position 0 to the head, through the
//!   runner (read a page, decode, apply, commit with the checkpoint), once in
//!   the runner's pages of 5,000 events (the server) and once in pages of
//!   50,000 (`rolebook audit export`; `ROLEBOOK_BENCH_PAGE` changes it), with
//!   the CPU time spent, since wall time on a shared machine includes waiting;
//! - first page (limit 50) of a filter by actor: median and p99 over 200
//!   random actors; other filters for reference;
//! - CSV export of every row into `io::sink()`: rows/s, and the growth of
//!   peak RSS (VmHWM) and of the Rust heap's peak during the export, in a
//!   fresh child process so earlier phases do not hide it.
//!
//! Run: `cargo bench -p rolebook-projections --bench audit`
//! (`ROLEBOOK_BENCH_EVENTS` shrinks it for a smoke run; `ROLEBOOK_BENCH_DIR`
//! moves the temp files, default ".").

use std::path::Path;
use testkit::bench::{cpu_time, env_usize, load_average, percentile, thread_cpu_time};

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use domain::ids::UserId;
use domain::store::{EventStore, ExpectedVersion, NewEvent};
use infra::SqliteEventStore;
use projections::audit::{self, AuditFilter, AuditProjection, Operation, ResourceType};
use projections::runner::{decode, Runner, BATCH};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use testkit::{Size, Workload};

#[global_allocator]
static ALLOC: testkit::alloc::Counting = testkit::alloc::Counting;

const MIB: f64 = 1024.0 * 1024.0;

/// A field of /proc/self/status in KiB (VmHWM: peak resident set).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The environment variable that turns this binary into the export child.
const CHILD: &str = "ROLEBOOK_AUDIT_BENCH_EXPORT";

fn main() {
    if let Ok(args) = std::env::var(CHILD) {
        export_child(&args);
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

/// Measures the export alone in a fresh process: `<db path>|<org id>`.
fn export_child(args: &str) {
    let (db, org) = args.split_once('|').expect("db|org");
    let org = org.parse().expect("org id");
    let conn = projections::db::open_read_only(Path::new(db)).unwrap();
    let filter = AuditFilter::new(org);
    let hwm_before = status_kib("VmHWM");
    let heap_before = testkit::alloc::live();
    testkit::alloc::reset_peak();
    let started = Instant::now();
    let rows = audit::export(&conn, &filter, std::io::sink()).unwrap();
    let took = started.elapsed();
    let hwm_after = status_kib("VmHWM");
    let heap_peak = testkit::alloc::peak() - heap_before;
    println!(
        "CSV export: {rows} rows into io::sink() in {took:.2?} = {:.0} rows/s",
        rows as f64 / took.as_secs_f64()
    );
    println!(
        "  memory during the export: peak RSS (VmHWM) {:.1} MiB -> {:.1} MiB (+{:.1} MiB, bounded by SQLite's page cache of 32 MiB); Rust heap peak +{:.1} KiB",
        hwm_before as f64 / 1024.0,
        hwm_after as f64 / 1024.0,
        (hwm_after.saturating_sub(hwm_before)) as f64 / 1024.0,
        heap_peak as f64 / 1024.0
    );
}

fn child_export(db: &Path, org: domain::ids::OrgId) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD, format!("{}|{org}", db.display()))
        .output()
        .expect("export child");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "export child failed");
}

/// Runs the audit projection from position 0 to the head in pages of
/// `page_size`, through the runner; prints events/s and CPU time.
async fn catch_up(store: &SqliteEventStore, db: &Path, page_size: usize) {
    let mut runner = Runner::open(AuditProjection::new(), db).unwrap();
    let cpu_before = cpu_time();
    let thread_before = thread_cpu_time();
    let started = Instant::now();
    let mut reading = Duration::ZERO;
    let mut applying = Duration::ZERO;
    // The runner's own path: a long backlog goes in without the actor and
    // resource indexes, which are built afterwards.
    let t = Instant::now();
    runner = runner
        .catch_up_backlog(store, projections::runner::BULK_GAP)
        .await
        .unwrap();
    applying += t.elapsed();
    loop {
        let t = Instant::now();
        let page = store
            .read_all(runner.position() + 1, page_size)
            .await
            .unwrap();
        let Some(last) = page.last().map(|e| e.global_position) else {
            break;
        };
        let decoded = decode(page).unwrap();
        reading += t.elapsed();
        let t = Instant::now();
        runner.apply_page(&decoded, last).unwrap();
        applying += t.elapsed();
    }
    let took = started.elapsed();
    let cpu = cpu_time() - cpu_before;
    let thread_cpu = thread_cpu_time() - thread_before;
    let applied = runner.position();
    let rate = applied as f64 / took.as_secs_f64();
    println!(
        "catch-up, pages of {page_size}: {applied} events in {took:.2?} = {rate:.0} events/s (read + decode {reading:.2?}, apply + commit {applying:.2?}); target >= 100,000 events/s: {}",
        if rate >= 100_000.0 { "met" } else { "MISSED" }
    );
    println!(
        "  CPU time: process {cpu:.2?} = {:.0} events per CPU-second; decode + apply + commit (one thread) {thread_cpu:.2?} (load average {})",
        applied as f64 / cpu.as_secs_f64(),
        load_average()
    );
    let size = std::fs::metadata(db).map(|m| m.len()).unwrap_or(0);
    println!("  read-model file: {:.0} MiB", size as f64 / MIB);
}

async fn run() {
    let total_events = env_usize("ROLEBOOK_BENCH_EVENTS", 1_000_000);
    let dir =
        tempfile::tempdir_in(std::env::var("ROLEBOOK_BENCH_DIR").unwrap_or_else(|_| ".".into()))
            .unwrap();
    println!("# rolebook audit log benchmark");
    println!("{}", testkit::bench::machine_line());

    // ---- the log ---------------------------------------------------------------
    let started = Instant::now();
    let mut w = Workload::organization("bench", Size::BENCHMARK, 1);
    let base_events = w.events.len();
    w.churn_to(total_events);
    let org = w.org_id;
    let mut details = testkit::bench::RequestDetails::of(&w);
    let actors: Vec<(UserId, String)> = details.actors().to_vec();
    println!(
        "workload: benchmark organization = {base_events} events, churned to {} events (generated in {:.1?})",
        w.events.len(),
        started.elapsed()
    );

    let store = SqliteEventStore::open_in_dir(dir.path()).await.unwrap();
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let started = Instant::now();
    let mut version = 0u64;
    for chunk in w.events.chunks(1_000) {
        let envelopes: Vec<NewEvent> = chunk
            .iter()
            .enumerate()
            .map(|(k, e)| {
                let i = version as i64 + k as i64;
                let at = start + chrono::Duration::seconds(30 * i);
                let meta = details.metadata(i as usize, at);
                NewEvent {
                    event_id: uuid::Uuid::now_v7(),
                    event_type: e.event_type().to_string(),
                    schema_version: e.schema_version(),
                    data: e.to_json(),
                    metadata: serde_json::to_string(&meta).unwrap(),
                }
            })
            .collect();
        let expected = if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(version)
        };
        version = store
            .append(&org.stream(), expected, envelopes)
            .await
            .expect("append")
            .stream_version;
    }
    let projects: Vec<String> = w.projects.iter().map(|p| p.to_string()).collect();
    drop(w);
    println!(
        "log: {version} events appended in {:.1?}",
        started.elapsed()
    );

    testkit::bench::settle(&dir.path().join(infra::sqlite::EVENTS_FILE));

    // ---- catch-up ---------------------------------------------------------------
    // Twice from position 0, into separate read-model files: with the
    // runner's page size (what the server does), then with larger pages
    // (what `rolebook audit export` does).
    let mut db = dir.path().join("readmodel-batch.db");
    for (page_size, file) in [
        (BATCH, "readmodel-batch.db"),
        (
            env_usize("ROLEBOOK_BENCH_PAGE", 50_000),
            "readmodel-large-pages.db",
        ),
    ] {
        db = dir.path().join(file);
        catch_up(&store, &db, page_size).await;
    }

    // ---- queries -------------------------------------------------------------------
    let conn = projections::db::open_read_only(&db).unwrap();
    let time = |label: &str, filters: Vec<AuditFilter>| {
        let mut timings = Vec::with_capacity(filters.len());
        let mut rows = 0;
        for f in &filters {
            let t = Instant::now();
            let page = audit::page(&conn, f).unwrap();
            timings.push(t.elapsed());
            rows += page.entries.len();
        }
        timings.sort();
        println!(
            "first page (limit 50), {label}: median {:.2?}, p99 {:.2?} over {} queries ({:.1} entries per page)",
            percentile(&timings, 0.5),
            percentile(&timings, 0.99),
            filters.len(),
            rows as f64 / filters.len() as f64
        );
        percentile(&timings, 0.5)
    };
    let base = AuditFilter::new(org);
    let by_actor: Vec<AuditFilter> = (0..200)
        .map(|_| AuditFilter {
            actor: Some(actors[rng.gen_range(0..actors.len())].0),
            ..base.clone()
        })
        .collect();
    let median = time("by actor (200 random actors)", by_actor);
    println!(
        "  target < 10 ms: {}",
        if median < Duration::from_millis(10) {
            "met"
        } else {
            "MISSED"
        }
    );
    time("no filter", vec![base.clone(); 50]);
    time(
        "by project (type + id, 100 random projects)",
        (0..100)
            .map(|_| AuditFilter {
                resource_type: Some(ResourceType::Project),
                resource_id: Some(projects[rng.gen_range(0..projects.len())].clone()),
                ..base.clone()
            })
            .collect(),
    );
    time(
        "by operation Added",
        vec![
            AuditFilter {
                operation: Some(Operation::Added),
                ..base.clone()
            };
            50
        ],
    );
    let span = (version as i64) * 30;
    time(
        "one day's time range (100 random days)",
        (0..100)
            .map(|_| {
                let from = start + chrono::Duration::seconds(rng.gen_range(0..span - 86_400));
                AuditFilter {
                    from: Some(from),
                    to: Some(from + chrono::Duration::days(1)),
                    ..base.clone()
                }
            })
            .collect(),
    );
    time(
        "resource type Group alone (top-k over its index entries)",
        vec![
            AuditFilter {
                resource_type: Some(ResourceType::Group),
                ..base.clone()
            };
            10
        ],
    );
    let deep = audit::encode_cursor(version / 2);
    time(
        "by actor from a cursor in the middle",
        (0..200)
            .map(|_| AuditFilter {
                actor: Some(actors[rng.gen_range(0..actors.len())].0),
                cursor: Some(deep.clone()),
                ..base.clone()
            })
            .collect(),
    );
    drop(conn);

    // ---- CSV export ---------------------------------------------------------------
    child_export(&db, org);
    store.close().await;
}
