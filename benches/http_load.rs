//! HTTP load figures (issues 4 and 22): the release server on the benchmark
//! organization (10,000 users, 1,000 projects, 200 groups, 50 custom roles,
//! or ten times that),
//! loaded from another process over keep-alive loopback connections:
//!
//! - `GET /check` (`check`): `wrk`, closed loop: requests/s and p99;
//! - commands, role and group changes half and half (`mix`), durable:
//!   - at saturation (`commands`): `wrk`, closed loop: requests/s and p99;
//!   - at fixed offered rates (`open`): this process's open-loop generator
//!     (`open_loop`), latency from each request's scheduled send time;
//! - a write followed at once by a read by the same caller (`pair`), one
//!   pair at a time (light load): the read waits for the write by session
//!   consistency, without `at_least`; latency of the pair, and of each;
//! - beside each open-loop rate, a probe writing and reading its write
//!   back every 20 ms: the read-back's latency is the commit-to-projection
//!   latency under that load;
//! - one client sending one command after another (`single`) on the
//!   benchmark organization and on a fresh one (50 people): project
//!   bindings, group membership, repository access and role changes, each
//!   kind's latency;
//! - who-can (`who-can`): one client, one question after another, the
//!   first page of each answer, organization and project permissions;
//! - 16 clients of the benchmark organization, closed loop, one kind at a
//!   time (`concurrent`, not in the default phases): commands/s and
//!   latency (`ROLEBOOK_BENCH_CLIENTS` changes the 16);
//! - Okta provisioning people over SCIM (`scim`, not in the default
//!   phases): a lookup by `userName` then `POST /Users` per person,
//!   `ROLEBOOK_BENCH_SCIM_USERS` (10,000) people into the fresh
//!   organization, `ROLEBOOK_BENCH_LOAD_IN_FLIGHT` (8) at a time;
//! - the soak (`soak`, not in the default phases): commands at 1,000/s
//!   and checks at 10,000/s at once, open loop, for 10 minutes, minute by
//!   minute with the server's RSS (`soak.rs` names its settings);
//! - the web console (`console`, not in the default phases): the first
//!   page of People and of Audit Logs as a browser with a session cookie
//!   loads them, one after another (`ROLEBOOK_BENCH_CONSOLE_LOADS`, 500,
//!   each): latency and the page's size; with
//!   `ROLEBOOK_BENCH_CHURN_TO=1000000` the organization's log (and so its
//!   audit log) is churned to a million events first;
//! - the server's resident memory under that load.
//!
//! Run: `cargo bench --bench http_load` (needs `wrk`: `apt-get install wrk`).
//! Environment: `ROLEBOOK_BENCH_SECONDS` (10) per figure;
//! `ROLEBOOK_BENCH_PHASES` (`check,commands,open,pair,who-can,single`);
//! `ROLEBOOK_BENCH_KINDS` (all four): the command kinds of the `single` and
//! `concurrent` phases, comma-separated (e.g. `group membership`);
//! `ROLEBOOK_BENCH_SIZE` (`benchmark`; `x10`: 100,000 users, 10,000
//! projects, 2,000 groups, 500 custom roles);
//! `ROLEBOOK_BENCH_LOAD=api`: the organization created empty and loaded
//! through the API, request by request (`through_api`;
//! `ROLEBOOK_BENCH_LOAD_IN_FLIGHT`, 8, requests at a time), as a new user
//! would, instead of written straight into the event store;
//! `ROLEBOOK_BENCH_DATABASE_URL`: run the server on PostgreSQL (log, read
//! models and credentials in a new schema there, dropped at the end)
//! instead of the embedded SQLite;
//! `ROLEBOOK_BENCH_CHECK_CONNECTIONS` (24) and
//! `ROLEBOOK_BENCH_COMMAND_CONNECTIONS` (12): wrk's connections;
//! `ROLEBOOK_BENCH_RATES` (`2000,2500`): the open-loop rates, requests/s;
//! `ROLEBOOK_BENCH_OPEN_CONNECTIONS` (64): the most open-loop requests in
//! flight. The load averages are printed before each figure.
//! `ROLEBOOK_BENCH_SERVER_LOG` (`warn`): the server's `RUST_LOG` (its log
//! goes to stderr); `rolebook::slow=debug` logs slow command batches and
//! group commits with where their time went.

use std::process::Command;
use std::time::{Duration, Instant};

#[path = "http_load/console.rs"]
mod console;
#[path = "http_load/instance.rs"]
mod instance;
#[path = "http_load/mix.rs"]
mod mix;
#[path = "http_load/open_loop.rs"]
mod open_loop;
#[path = "http_load/scim.rs"]
mod scim;
#[path = "http_load/single.rs"]
mod single;
#[path = "http_load/soak.rs"]
mod soak;
#[path = "http_load/through_api.rs"]
mod through_api;

use instance::{load_average, Instance};
use testkit::{Size, Workload};

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn wrk(url: &str, script: &std::path::Path, seconds: u64, connections: u32) -> String {
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(url)
        .output()
        .expect("wrk is installed (apt-get install wrk)");
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn summary(label: &str, out: &str) {
    let rps = out
        .lines()
        .find(|l| l.starts_with("Requests/sec"))
        .unwrap_or("Requests/sec: ?");
    let p50 = out
        .lines()
        .find(|l| l.trim_start().starts_with("50%"))
        .unwrap_or("50% ?");
    let p99 = out
        .lines()
        .find(|l| l.trim_start().starts_with("99%"))
        .unwrap_or("99% ?");
    let errors = out
        .lines()
        .filter(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
        .collect::<Vec<_>>();
    println!(
        "{label}: {} | p50 {} | p99 {} {:?}",
        rps.trim(),
        p50.trim(),
        p99.trim(),
        errors
    );
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("ROLEBOOK_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let size_name = std::env::var("ROLEBOOK_BENCH_SIZE").unwrap_or_else(|_| "benchmark".into());
    let size = Size::named(&size_name)
        .unwrap_or_else(|| panic!("ROLEBOOK_BENCH_SIZE={size_name}: expected benchmark or x10"));
    println!("# rolebook HTTP load benchmark");
    println!("{}", testkit::bench::machine_line());
    let instance = Instance::new().await;
    println!("storage: {}", instance.describe().await);

    // The organization under load, registered as "bench", and a fresh,
    // small one beside it ("fresh") for the single-client phase.
    let generating = Instant::now();
    let mut w = Workload::organization("bench", size, 1);
    // A long log (the console phase's audit log): churned to this many
    // events.
    if let Some(total) = std::env::var("ROLEBOOK_BENCH_CHURN_TO")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        w.churn_to(total);
    }
    let fresh = Workload::organization("fresh", single::FRESH, 2);
    println!(
        "organization ({size_name}: {} users, {} projects, {} groups, {} custom roles): {} events, generated in {:.1?}",
        size.users,
        size.projects,
        size.groups,
        size.custom_roles,
        w.events.len(),
        generating.elapsed()
    );
    // Written straight into the store, or (`ROLEBOOK_BENCH_LOAD=api`)
    // created empty and loaded through the API once the server is up.
    let through_api = std::env::var("ROLEBOOK_BENCH_LOAD").as_deref() == Ok("api");
    let empty = Workload::organization(
        "bench",
        Size {
            users: 1,
            projects: 0,
            groups: 0,
            custom_roles: 0,
        },
        1,
    );
    let bench = if through_api { &empty } else { &w };
    let loading = Instant::now();
    instance.load(&[("bench", bench), ("fresh", &fresh)]).await;
    println!("written into the event store in {:.1?}", loading.elapsed());
    // The bench's token, the probe's own (its reads wait for its own
    // writes only) and the fresh organization's.
    let tokens = instance
        .tokens(&[
            (bench.org_id, bench.owner),
            (bench.org_id, bench.owner),
            (fresh.org_id, fresh.owner),
        ])
        .await;
    let (token, probe_token, fresh_token) = (&tokens[0], &tokens[1], &tokens[2]);

    let server = instance.serve();
    let address = server.address.clone();
    let client = reqwest::Client::new();
    server.report_start(&client).await;

    let base = format!("{address}/api/v1/orgs/bench");
    if through_api {
        let in_flight = env_u32("ROLEBOOK_BENCH_LOAD_IN_FLIGHT", 8) as usize;
        let loading = Instant::now();
        through_api::load(&client, &base, &format!("Bearer {token}"), &w, in_flight).await;
        let head = server.settle(&client).await;
        println!(
            "organization loaded through the API in {:.1?} (the log's head now at {head}); RSS {} MiB; largest WAL files meanwhile: {}",
            loading.elapsed(),
            server.memory_mib("VmRSS"),
            server.take_wal_peaks()
        );
    }
    let phases = std::env::var("ROLEBOOK_BENCH_PHASES")
        .unwrap_or_else(|_| "check,commands,open,pair,who-can,single".into());
    let phase = |name: &str| phases.split(',').any(|p| p.trim() == name);

    // GET /check on random users, permissions and projects.
    let mut peak_after_checks = 0;
    if phase("check") {
        let check = instance.dir.path().join("check.lua");
        std::fs::write(
            &check,
            format!(
                r#"
local perms = {{"project.view", "project.job.rerun", "project.access.manage", "project.delete", "project.secrets.view"}}
local org_perms = {{"organization.view", "organization.people.manage", "organization.secrets.view"}}
request = function()
  local u = "user" .. math.random(0, {last_user})
  local path
  if math.random() < 0.7 then
    path = "/api/v1/orgs/bench/check?user=" .. u .. "&permission=" .. perms[math.random(#perms)] .. "&project=project-" .. math.random(0, {last_project})
  else
    path = "/api/v1/orgs/bench/check?user=" .. u .. "&permission=" .. org_perms[math.random(#org_perms)]
  end
  return wrk.format("GET", path, {{["Authorization"] = "Bearer {token}"}})
end
"#,
                last_user = size.users - 2,
                last_project = size.projects - 1,
            ),
        )
        .unwrap();
        let check_connections = env_u32("ROLEBOOK_BENCH_CHECK_CONNECTIONS", 24);
        println!("{}", load_average());
        let out = wrk(&base, &check, seconds, check_connections);
        summary(
            &format!("GET /check, wrk closed loop ({check_connections} connections)"),
            &out,
        );
        peak_after_checks = server.memory_mib("VmHWM");
    }

    // Commands at saturation: wrk, closed loop (each connection sends its
    // next command when the last is answered).
    if phase("commands") {
        server.settle(&client).await;
        let cmd = instance.dir.path().join("command.lua");
        std::fs::write(&cmd, mix::wrk_script(token)).unwrap();
        let command_connections = env_u32("ROLEBOOK_BENCH_COMMAND_CONNECTIONS", 12);
        println!("{}", load_average());
        let out = wrk(&base, &cmd, seconds, command_connections);
        summary(
            &format!(
                "commands (role and group changes), wrk closed loop ({command_connections} connections)"
            ),
            &out,
        );
    }

    // Commands at fixed offered rates, open loop: latency from each
    // request's scheduled send time.
    if phase("open") {
        let rates = std::env::var("ROLEBOOK_BENCH_RATES").unwrap_or_else(|_| "2000,2500".into());
        let connections = env_u32("ROLEBOOK_BENCH_OPEN_CONNECTIONS", 64) as usize;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .tcp_nodelay(true)
            .build()
            .unwrap();
        let auth = format!("Bearer {token}");
        for rate in rates
            .split(',')
            .filter_map(|r| r.trim().parse::<f64>().ok())
        {
            server.settle(&client).await;
            println!("{}", load_average());
            // Beside the load, a probe writes and then reads its write
            // back (session consistency) every 20 ms: the read's time is
            // the commit-to-projection latency under this load (plus one
            // read, about a millisecond).
            let probing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
            let probe = tokio::spawn(probe(
                client.clone(),
                base.clone(),
                format!("Bearer {probe_token}"),
                probing.clone(),
            ));
            let report = open_loop::run(
                &client,
                rate,
                Duration::from_secs(2),
                Duration::from_secs(seconds),
                connections,
                |client, i| {
                    let c = mix::command(i);
                    client
                        .request(c.method, format!("{base}{}", c.path))
                        .header("Authorization", &auth)
                        .header("Content-Type", "application/json")
                        .body(c.body)
                },
            )
            .await;
            probing.store(false, std::sync::atomic::Ordering::Relaxed);
            let (writes, reads) = probe.await.unwrap();
            println!(
                "commands (role and group changes), open loop ({connections} connections): {}",
                report.line()
            );
            println!(
                "  probe beside the load, a write then its read-back every 20 ms: {} pairs, write p50 {:.2?} p99 {:.2?}; read-back (commit to projection) p50 {:.2?} p99 {:.2?} max {:.2?}",
                reads.len(),
                testkit::bench::percentile(&writes, 0.5),
                testkit::bench::percentile(&writes, 0.99),
                testkit::bench::percentile(&reads, 0.5),
                testkit::bench::percentile(&reads, 0.99),
                reads.last().copied().unwrap_or_default()
            );
        }
    }
    // A write and at once a read by the same caller, one pair at a time.
    if phase("pair") {
        server.settle(&client).await;
        println!("{}", load_average());
        let auth = format!("Bearer {token}");
        let (mut pairs, mut writes, mut reads) = (Vec::new(), Vec::new(), Vec::new());
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut i = 0u64;
        while Instant::now() < deadline {
            let c = mix::command(i);
            let started = Instant::now();
            let written = client
                .request(c.method, format!("{base}{}", c.path))
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .body(c.body)
                .send()
                .await
                .unwrap();
            assert!(written.status().is_success(), "{}", written.status());
            let _ = written.bytes().await;
            let wrote = started.elapsed();
            let read = client
                .get(format!("{base}/groups?limit=1"))
                .header("Authorization", &auth)
                .send()
                .await
                .unwrap();
            assert!(read.status().is_success(), "{}", read.status());
            let _ = read.bytes().await;
            let pair = started.elapsed();
            pairs.push(pair);
            writes.push(wrote);
            reads.push(pair - wrote);
            i += 1;
        }
        for v in [&mut pairs, &mut writes, &mut reads] {
            v.sort();
        }
        println!(
            "write then read by the same caller (session consistency), one pair at a time: {} pairs, p50 {:.2?}, p99 {:.2?}, max {:.2?} (the write: p50 {:.2?}, p99 {:.2?}; the read: p50 {:.2?}, p99 {:.2?})",
            pairs.len(),
            testkit::bench::percentile(&pairs, 0.5),
            testkit::bench::percentile(&pairs, 0.99),
            pairs.last().copied().unwrap_or_default(),
            testkit::bench::percentile(&writes, 0.5),
            testkit::bench::percentile(&writes, 0.99),
            testkit::bench::percentile(&reads, 0.5),
            testkit::bench::percentile(&reads, 0.99),
        );
    }
    // Who can: one client, one question after another, the first page
    // (50 holders) of each answer.
    if phase("who-can") {
        server.settle(&client).await;
        println!("{}", load_average());
        let auth = format!("Bearer {token}");
        for (what, project_permission) in [
            ("organization permissions", false),
            ("project permissions", true),
        ] {
            let mut latencies = Vec::new();
            let mut holders = 0usize;
            for i in 0..500u64 {
                let path = if project_permission {
                    format!(
                        "/who-can?permission={}&project=project-{}",
                        [
                            "project.view",
                            "project.job.rerun",
                            "project.access.manage",
                            "project.delete"
                        ][i as usize % 4],
                        (i * 7919) % size.projects as u64
                    )
                } else {
                    format!(
                        "/who-can?permission={}",
                        [
                            "organization.view",
                            "organization.people.manage",
                            "organization.secrets.view",
                            "organization.audit_logs.view"
                        ][i as usize % 4]
                    )
                };
                let started = Instant::now();
                let r = client
                    .get(format!("{base}{path}"))
                    .header("Authorization", &auth)
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let page: serde_json::Value = r.json().await.unwrap();
                latencies.push(started.elapsed());
                assert!(status.is_success(), "{path}: {status} {page}");
                holders += page["users"].as_array().map_or(0, Vec::len);
            }
            latencies.sort();
            println!(
                "who-can, first page, {what}: {} questions ({:.1} holders per page), p50 {:.2?}, p99 {:.2?}, max {:.2?}",
                latencies.len(),
                holders as f64 / latencies.len() as f64,
                testkit::bench::percentile(&latencies, 0.5),
                testkit::bench::percentile(&latencies, 0.99),
                latencies.last().copied().unwrap_or_default()
            );
        }
    }
    // The console's first pages, as a browser loads them.
    if phase("console") {
        server.settle(&client).await;
        console::run(
            &client,
            &address,
            token,
            testkit::bench::env_usize("ROLEBOOK_BENCH_CONSOLE_LOADS", 500),
        )
        .await;
    }
    // One client, one command after another, on the benchmark
    // organization and on a fresh one: each kind's latency.
    if phase("single") {
        for (org, token, size) in [
            ("bench", token, size),
            ("fresh", fresh_token, single::FRESH),
        ] {
            server.settle(&client).await;
            let base = format!("{address}/api/v1/orgs/{org}");
            let auth = format!("Bearer {token}");
            for kind in single::kinds() {
                let mut latencies = Vec::new();
                for i in 0..single::EACH {
                    let c = single::command(kind, i, &size);
                    let started = Instant::now();
                    let r = client
                        .request(c.method, format!("{base}{}", c.path))
                        .header("Authorization", &auth)
                        .header("Content-Type", "application/json")
                        .body(c.body)
                        .send()
                        .await
                        .unwrap();
                    let status = r.status();
                    let text = r.text().await.unwrap();
                    assert!(status.is_success(), "{kind} {status}: {text}");
                    latencies.push(started.elapsed());
                }
                latencies.sort();
                println!(
                    "single client, {org} organization, {kind}: {} commands, p50 {:.2?}, p99 {:.2?}",
                    latencies.len(),
                    testkit::bench::percentile(&latencies, 0.5),
                    testkit::bench::percentile(&latencies, 0.99)
                );
            }
        }
    }
    // 16 clients of one organization, closed loop (each sends its next
    // command when the last is answered), one kind at a time.
    if phase("concurrent") {
        let clients = env_u32("ROLEBOOK_BENCH_CLIENTS", 16) as usize;
        for kind in single::kinds() {
            server.settle(&client).await;
            let (base, auth) = (base.clone(), format!("Bearer {token}"));
            let latencies = instance::closed_loop(
                &client,
                clients,
                Duration::from_secs(seconds),
                move |client, c, i| {
                    // Each client its own users and projects: commands
                    // that change something every time.
                    let r = single::command(kind, c as u64 * 1_000_000 + i, &size);
                    client
                        .request(r.method, format!("{base}{}", r.path))
                        .header("Authorization", &auth)
                        .header("Content-Type", "application/json")
                        .body(r.body)
                },
            )
            .await;
            println!(
                "{clients} clients of one organization, closed loop, {kind}: {:.0} commands/s, {}",
                latencies.len() as f64 / seconds as f64,
                testkit::bench::latency_line(&latencies)
            );
        }
    }
    // Okta provisioning the fresh organization's people over SCIM (lookup,
    // then create), `ROLEBOOK_BENCH_SCIM_USERS` (10,000) of them.
    if phase("scim") {
        server.settle(&client).await;
        let count = env_u32("ROLEBOOK_BENCH_SCIM_USERS", 10_000) as usize;
        let in_flight = env_u32("ROLEBOOK_BENCH_LOAD_IN_FLIGHT", 8) as usize;
        let base = format!("{address}/api/v1/orgs/fresh");
        let (latencies, took) = scim::provision(
            &client,
            &base,
            &format!("Bearer {fresh_token}"),
            count,
            in_flight,
        )
        .await;
        println!(
            "SCIM provisioning (lookup by userName, then POST /Users), {in_flight} in flight: {count} people in {took:.1?} ({:.0} people/s), per person {}",
            count as f64 / took.as_secs_f64(),
            testkit::bench::latency_line(&latencies)
        );
    }
    if phase("soak") {
        server.settle(&client).await;
        println!("{}", load_average());
        let minutes = soak::run(
            &server,
            &base,
            (token, probe_token),
            size.users,
            size.projects,
        )
        .await;
        if let (Some(first), Some(last)) = (minutes.first(), minutes.last()) {
            let non_2xx = |r: &open_loop::Report| -> usize {
                r.statuses
                    .iter()
                    .filter(|(s, _)| !(200..300).contains(*s))
                    .map(|(_, n)| n)
                    .sum()
            };
            let worst = |f: fn(&soak::Minute) -> &open_loop::Report| {
                minutes
                    .iter()
                    .map(|m| f(m).quantile(0.99))
                    .max()
                    .unwrap_or_default()
            };
            println!(
                "soak, {} minutes: non-2xx {} commands, {} checks; worst minute's p99: commands {:.2?}, checks {:.2?}; RSS after the first minute {} MiB, after the last {} MiB ({:+.1}%)",
                minutes.len(),
                minutes.iter().map(|m| non_2xx(&m.commands)).sum::<usize>(),
                minutes.iter().map(|m| non_2xx(&m.checks)).sum::<usize>(),
                worst(|m| &m.commands),
                worst(|m| &m.checks),
                first.rss_mib,
                last.rss_mib,
                (last.rss_mib as f64 / first.rss_mib as f64 - 1.0) * 100.0
            );
        }
    }
    println!(
        "server memory: RSS now {} MiB, peak {} MiB (peak after the check load {} MiB)",
        server.memory_mib("VmRSS"),
        server.memory_mib("VmHWM"),
        peak_after_checks
    );
    println!(
        "largest WAL files under the load (after the start): {}",
        server.take_wal_peaks()
    );
}

/// Writes, then reads the write back, every 20 ms until `running` is
/// cleared; answers the writes' and the reads' latencies, sorted.
async fn probe(
    client: reqwest::Client,
    base: String,
    auth: String,
    running: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (Vec<Duration>, Vec<Duration>) {
    let (mut writes, mut reads) = (Vec::new(), Vec::new());
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut i = 1u64 << 40;
    while running.load(std::sync::atomic::Ordering::Relaxed) {
        tick.tick().await;
        let c = mix::command(i);
        i += 1;
        let started = Instant::now();
        let written = client
            .request(c.method, format!("{base}{}", c.path))
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .body(c.body)
            .send()
            .await
            .unwrap();
        if !written.status().is_success() {
            continue;
        }
        let _ = written.bytes().await;
        writes.push(started.elapsed());
        let read_at = Instant::now();
        let read = client
            .get(format!("{base}/groups?limit=1"))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap();
        assert!(read.status().is_success(), "{}", read.status());
        let _ = read.bytes().await;
        reads.push(read_at.elapsed());
    }
    writes.sort();
    reads.sort();
    (writes, reads)
}
