//! The write side's figures (issue 2), on the benchmark organization
//! (10,000 users, 1,000 projects, 200 groups, 50 custom roles), durable
//! SQLite (WAL, synchronous=FULL):
//!
//! - raw store: events/s appended in batches of 1,000;
//! - cold start: events/s to rebuild the state from 1,000,000 events, and the
//!   state's memory (a counting allocator);
//! - `decide`: median and p99 per command;
//! - command service: commands/s with 32 concurrent submitters across
//!   organizations (role, group and project changes), latency percentiles;
//!   commands that hash a password measured apart.
//!
//! Run: `cargo bench -p rolebook-commands --bench write_side`
//! (`ROLEBOOK_BENCH_EVENTS`, `ROLEBOOK_BENCH_SECONDS` shrink it for a smoke run).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::bench::{env_usize, percentile};

use commands::{CommandContext, CommandService, Credentials};
use domain::events::{Actor, Medium};
use domain::ids::Subject;
use domain::store::EventStore;
use domain::{decide, Command};
use infra::SqliteEventStore;
use testkit::{Size, Workload};

#[global_allocator]
static ALLOC: testkit::alloc::Counting = testkit::alloc::Counting;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let total_events = env_usize("ROLEBOOK_BENCH_EVENTS", 1_000_000);
    let seconds = env_usize("ROLEBOOK_BENCH_SECONDS", 10) as u64;
    let dir =
        tempfile::tempdir_in(std::env::var("ROLEBOOK_BENCH_DIR").unwrap_or_else(|_| ".".into()))
            .unwrap();
    println!("# rolebook write side benchmark");
    println!("{}", testkit::bench::machine_line());

    // ---- the benchmark organization, then churn to the event count --------
    let started = Instant::now();
    let mut big = Workload::organization("bench", Size::BENCHMARK, 1);
    let base_events = big.events.len();
    big.churn_to(total_events);
    println!(
        "workload: benchmark organization = {base_events} events, churned to {} events (generated in {:.1?})",
        big.events.len(),
        started.elapsed()
    );

    // ---- raw store ---------------------------------------------------------
    let store = SqliteEventStore::open(&dir.path().join("raw.db"))
        .await
        .unwrap();
    let took = common::append_workload(&store, big.org_id.stream(), &big, 1_000).await;
    println!(
        "raw store append: {} events in batches of 1,000 in {:.2?} = {:.0} events/s (durable)",
        big.events.len(),
        took,
        big.events.len() as f64 / took.as_secs_f64()
    );

    // ---- cold start ----------------------------------------------------------
    let before = testkit::alloc::live();
    let started = Instant::now();
    let (state, _) = commands::service::load(&store, big.org_id).await.unwrap();
    let took = started.elapsed();
    let bytes = testkit::alloc::live() - before;
    assert_eq!(
        state, big.state,
        "the rebuilt state equals the generated one"
    );
    println!(
        "cold start: {} events folded in {:.2?} = {:.0} events/s; state holds {:.1} MiB",
        state.version,
        took,
        state.version as f64 / took.as_secs_f64(),
        bytes as f64 / (1024.0 * 1024.0)
    );
    drop(store);

    // ---- decide ----------------------------------------------------------------
    let owner = Actor::user(big.owner, "owner");
    let mut commands = Vec::new();
    for i in 0..30_000 {
        let cmd = match i % 3 {
            0 => Command::AssignOrgRole {
                subject: Subject::User(big.some_user()),
                role: big.some_org_role(),
            },
            1 => Command::BindProjectRole {
                project: big.some_project(),
                subject: Subject::User(big.some_user()),
                role: big.some_project_role(),
            },
            _ => Command::ChangeGroup {
                group: big.some_group(),
                name: None,
                description: None,
                add_members: vec![big.some_user()],
                remove_members: vec![],
            },
        };
        commands.push(cmd);
    }
    let mut timings = Vec::with_capacity(commands.len());
    for cmd in &commands {
        let t = Instant::now();
        let out = decide(&state, cmd, &owner);
        timings.push(t.elapsed());
        std::hint::black_box(out.ok());
    }
    timings.sort();
    println!(
        "decide (assign org role / bind project role / add group member, as an Owner): median {:.2?}, p99 {:.2?}, max {:.2?}",
        percentile(&timings, 0.5),
        percentile(&timings, 0.99),
        timings.last().unwrap()
    );
    drop(state);
    drop(big);

    // ---- command service -------------------------------------------------------
    let orgs = env_usize("ROLEBOOK_BENCH_ORGS", 8);
    let store: Arc<dyn EventStore> =
        Arc::new(SqliteEventStore::open_in_dir(dir.path()).await.unwrap());
    let pool = infra::readmodel::open_in_dir(dir.path()).unwrap();
    let service = CommandService::new(store.clone(), Credentials::sqlite(&pool).await.unwrap());
    let mut workloads = Vec::new();
    for i in 0..orgs {
        let w = Workload::organization(&format!("org{i}"), Size::BENCHMARK, 100 + i as u64);
        common::append_workload(&*store, w.org_id.stream(), &w, 5_000).await;
        service.state(w.org_id).await.unwrap(); // warm: the worker holds the state
        workloads.push(w);
    }
    println!("command service: {orgs} benchmark organizations loaded");
    common::command_service(&service, &mut workloads, seconds).await;
    let submitters = common::SUBMITTERS;

    // ---- commands that hash a password, apart ---------------------------------
    let invites = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds.min(5));
    let mut tasks = Vec::new();
    for s in 0..submitters {
        let w = &workloads[s % orgs];
        let (org, owner) = (w.org_id, w.owner);
        let service = service.clone();
        let invites = invites.clone();
        tasks.push(tokio::spawn(async move {
            let ctx = CommandContext::new(Actor::user(owner, "owner"), Medium::Api);
            let mut i = 0;
            while Instant::now() < deadline {
                service
                    .invite_people(
                        org,
                        vec![(format!("new{s}-{i}@bench.io"), None)],
                        None,
                        &ctx,
                        None,
                    )
                    .await
                    .expect("invite");
                invites.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    let started = Instant::now();
    for t in tasks {
        t.await.unwrap();
    }
    println!(
        "invitations (argon2id hash each, measured apart): {} in {:.2?} = {:.0} commands/s",
        invites.load(Ordering::Relaxed),
        started.elapsed(),
        invites.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
    );
}
