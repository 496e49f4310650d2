//! The PostgreSQL event store's figures (issue 15), on this machine's
//! server (`ROLEBOOK_BENCH_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`), in a schema of its own that
//! is dropped at the end:
//!
//! - raw store: events/s appended in batches of 1,000 (the benchmark
//!   organization churned to `ROLEBOOK_BENCH_EVENTS`, default 300,000);
//! - catch-up: events/s read back through `read_all` in pages of 10,000;
//! - command service: commands/s with 32 concurrent submitters over 8
//!   benchmark organizations (role, group and project changes).
//!
//! Run: `cargo bench -p rolebook-commands --bench postgres`

mod common;

use std::sync::Arc;
use std::time::Instant;

use commands::{CommandService, Credentials};
use domain::store::EventStore;
use infra::postgres::{PostgresEventStore, PostgresOptions};
use sqlx::Connection as _;
use testkit::bench::env_usize;
use testkit::{Size, Workload};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let url = std::env::var("ROLEBOOK_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let total_events = env_usize("ROLEBOOK_BENCH_EVENTS", 300_000);
    let seconds = env_usize("ROLEBOOK_BENCH_SECONDS", 10) as u64;
    let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
    let dir = tempfile::tempdir().unwrap();
    println!("# rolebook PostgreSQL event store benchmark");
    println!("{}", testkit::bench::machine_line());
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .expect("reach PostgreSQL");
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    println!("server: PostgreSQL {version}, synchronous_commit={sync}, schema {schema}");

    let mut big = Workload::organization("bench", Size::BENCHMARK, 1);
    big.churn_to(total_events);
    let store = PostgresEventStore::connect_with(PostgresOptions::new(&url).in_schema(&schema))
        .await
        .expect("open the store");

    // ---- raw store ------------------------------------------------------------
    let took = common::append_workload(&store, big.org_id.stream(), &big, 1_000).await;
    println!(
        "raw store append: {} events in batches of 1,000 in {:.2?} = {:.0} events/s",
        big.events.len(),
        took,
        big.events.len() as f64 / took.as_secs_f64()
    );

    // ---- catch-up reading --------------------------------------------------------
    let started = Instant::now();
    let mut from = 1;
    let mut read = 0usize;
    loop {
        let page = store.read_all(from, 10_000).await.unwrap();
        let Some(last) = page.last() else { break };
        from = last.global_position + 1;
        read += page.len();
    }
    let took = started.elapsed();
    println!(
        "catch-up: {read} events read in pages of 10,000 in {:.2?} = {:.0} events/s",
        took,
        read as f64 / took.as_secs_f64()
    );
    drop(big);

    // ---- command service -------------------------------------------------------------
    let orgs = env_usize("ROLEBOOK_BENCH_ORGS", 8);
    let store: Arc<dyn EventStore> = Arc::new(store);
    let pool = infra::readmodel::open_in_dir(dir.path()).unwrap();
    let service = CommandService::new(store.clone(), Credentials::sqlite(&pool).await.unwrap());
    let mut workloads = Vec::new();
    for i in 0..orgs {
        let w = Workload::organization(&format!("org{i}"), Size::BENCHMARK, 100 + i as u64);
        common::append_workload(&*store, w.org_id.stream(), &w, 5_000).await;
        service.state(w.org_id).await.unwrap();
        workloads.push(w);
    }
    common::command_service(&service, &mut workloads, seconds).await;
    drop(service);
    drop(store);
    sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut conn)
        .await
        .expect("drop the bench schema");
}
