//! The many-tenant instance (issue 22): 1,000 organizations of 100 people
//! each (`testkit`'s `Size::TENANT`: 10 projects, 4 groups, 2 custom roles
//! each), written into the event store, then the release server started on
//! it and loaded over HTTP from this process:
//!
//! 1. the start: time to listen and to have both projections caught up,
//!    and the server's RSS;
//! 2. the first requests to each cold organization (one the server has not
//!    served since it started): a `GET /check`, then a role change (which
//!    loads the organization's state on the write side), then a second
//!    one, warm;
//! 3. 16 clients, closed loop, each command to a random organization:
//!    commands/s and latency; then `GET /check` the same way, then
//!    `GET /who-can` (the first page; an organization permission or a
//!    project's, half and half);
//! 4. the server's RSS with every organization touched, and its peak.
//!
//! Run: `cargo bench --bench tenants`. Environment:
//! `ROLEBOOK_BENCH_TENANTS` (1000) organizations, `ROLEBOOK_BENCH_SECONDS`
//! (10) per closed-loop figure, `ROLEBOOK_BENCH_CLIENTS` (16),
//! `ROLEBOOK_BENCH_DATABASE_URL` (PostgreSQL instead of the embedded
//! SQLite, in a new schema dropped at the end), `ROLEBOOK_BENCH_DIR` (the
//! data dir's parent), `ROLEBOOK_BENCH_SERVER_LOG` (the server's
//! `RUST_LOG`, `warn`).

use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "http_load/instance.rs"]
mod instance;

use instance::{load_average, Instance};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use testkit::bench::{env_usize, latency_line};
use testkit::{Size, Workload};

#[tokio::main]
async fn main() {
    let count = env_usize("ROLEBOOK_BENCH_TENANTS", 1_000);
    let seconds = env_usize("ROLEBOOK_BENCH_SECONDS", 10) as u64;
    let clients = env_usize("ROLEBOOK_BENCH_CLIENTS", 16);
    println!("# rolebook many-tenant benchmark");
    println!("{}", testkit::bench::machine_line());
    let instance = Instance::new().await;
    println!("storage: {}", instance.describe().await);

    let generating = Instant::now();
    let tenants = Workload::tenants(count, Size::TENANT, 1);
    let events: usize = tenants.iter().map(|w| w.events.len()).sum();
    println!(
        "{count} organizations of {} people ({} projects, {} groups, {} custom roles each): {events} events, generated in {:.1?}",
        Size::TENANT.users,
        Size::TENANT.projects,
        Size::TENANT.groups,
        Size::TENANT.custom_roles,
        generating.elapsed()
    );
    let names: Vec<String> = (0..count).map(|i| format!("tenant-{i}")).collect();
    let loading = Instant::now();
    instance
        .load(
            &names
                .iter()
                .zip(&tenants)
                .map(|(n, w)| (n.as_str(), w))
                .collect::<Vec<_>>(),
        )
        .await;
    let tokens = instance
        .tokens(
            &tenants
                .iter()
                .map(|w| (w.org_id, w.owner))
                .collect::<Vec<_>>(),
        )
        .await;
    println!(
        "written into the event store, with a token per organization, in {:.1?}",
        loading.elapsed()
    );

    let server = instance.serve();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .tcp_nodelay(true)
        .build()
        .unwrap();
    server.report_start(&client).await;
    let address = server.address.clone();
    let org_url = |i: usize| format!("{address}/api/v1/orgs/tenant-{i}");

    // The first request to each cold organization, in a random order.
    println!("{}", load_average());
    let mut order: Vec<usize> = (0..count).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(7));
    let (mut cold, mut warm, mut checks) = (Vec::new(), Vec::new(), Vec::new());
    for &i in &order {
        let auth = format!("Bearer {}", tokens[i]);
        // A read first: the read side holds every organization from the
        // start, so this is the cold organization's first request too.
        let started = Instant::now();
        let r = client
            .get(format!(
                "{}/check?user=user{}&permission=project.view&project=project-{}",
                org_url(i),
                i % 90,
                i % 10
            ))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let _ = r.bytes().await;
        assert!(status.is_success(), "tenant-{i} check: {status}");
        checks.push(started.elapsed());
        for (n, role) in ["custom-1", "Member"].into_iter().enumerate() {
            let started = Instant::now();
            let r = client
                .put(format!("{}/people/user{}/role", org_url(i), 1 + i % 90))
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .body(format!(r#"{{"role": "{role}"}}"#))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let text = r.text().await.unwrap();
            assert!(status.is_success(), "tenant-{i}: {status} {text}");
            if n == 0 {
                cold.push(started.elapsed());
            } else {
                warm.push(started.elapsed());
            }
        }
    }
    for v in [&mut cold, &mut warm, &mut checks] {
        v.sort();
    }
    println!(
        "first command to each of {count} cold organizations (a role change; loads the organization's state): {}",
        latency_line(&cold)
    );
    println!("the second command to each, warm: {}", latency_line(&warm));
    println!(
        "the first request to each, a GET /check (before the commands): {}",
        latency_line(&checks)
    );
    println!(
        "server memory with every organization touched: RSS {} MiB",
        server.memory_mib("VmRSS")
    );

    // Closed loops over random organizations.
    let tokens = Arc::new(tokens);
    for kind in [
        "commands (role changes)",
        "GET /check",
        "GET /who-can (first page)",
    ] {
        server.settle(&client).await;
        println!("{}", load_average());
        let (tokens, address) = (tokens.clone(), address.clone());
        let latencies = instance::closed_loop(
            &client,
            clients,
            Duration::from_secs(seconds),
            move |client, c, i| {
                let mut rng = rand::rngs::StdRng::seed_from_u64((c as u64) << 32 | i);
                let org = rng.gen_range(0..tokens.len());
                let base = format!("{address}/api/v1/orgs/tenant-{org}");
                let request = match kind {
                    "GET /check" => client.get(format!(
                        "{base}/check?user=user{}&permission=project.view&project=project-{}",
                        rng.gen_range(0..99),
                        rng.gen_range(0..10)
                    )),
                    "GET /who-can (first page)" if rng.gen_bool(0.5) => client.get(format!(
                        "{base}/who-can?permission=project.view&project=project-{}",
                        rng.gen_range(0..10)
                    )),
                    "GET /who-can (first page)" => {
                        client.get(format!("{base}/who-can?permission=organization.view"))
                    }
                    _ => client
                        .put(format!("{base}/people/user{}/role", rng.gen_range(0..99)))
                        .header("Content-Type", "application/json")
                        .body(format!(
                            r#"{{"role": "{}"}}"#,
                            ["custom-1", "Member"][rng.gen_range(0..2)]
                        )),
                };
                request.header("Authorization", format!("Bearer {}", tokens[org]))
            },
        )
        .await;
        println!(
            "{clients} clients, closed loop, each request to a random organization, {kind}: {:.0}/s, {}",
            latencies.len() as f64 / seconds as f64,
            latency_line(&latencies)
        );
    }
    println!(
        "server memory: RSS now {} MiB, peak {} MiB; largest WAL files after the start: {}",
        server.memory_mib("VmRSS"),
        server.memory_mib("VmHWM"),
        server.take_wal_peaks()
    );
}
