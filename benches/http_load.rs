//! HTTP load figures (issue 4): the release server on the benchmark
//! organization (10,000 users, 1,000 projects, 200 groups, 50 custom roles),
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
//! - 16 clients of the benchmark organization, closed loop, one kind at a
//!   time (`concurrent`, not in the default phases): commands/s and
//!   latency (`ROLEBOOK_BENCH_CLIENTS` changes the 16);
//! - the server's resident memory under that load.
//!
//! Run: `cargo bench --bench http_load` (needs `wrk`: `apt-get install wrk`).
//! Environment: `ROLEBOOK_BENCH_SECONDS` (10) per figure;
//! `ROLEBOOK_BENCH_PHASES` (`check,commands,open,pair,single`);
//! `ROLEBOOK_BENCH_CHECK_CONNECTIONS` (24) and
//! `ROLEBOOK_BENCH_COMMAND_CONNECTIONS` (12): wrk's connections;
//! `ROLEBOOK_BENCH_RATES` (`2000,2500`): the open-loop rates, requests/s;
//! `ROLEBOOK_BENCH_OPEN_CONNECTIONS` (64): the most open-loop requests in
//! flight. The load averages are printed before each figure.
//! `ROLEBOOK_BENCH_SERVER_LOG` (`warn`): the server's `RUST_LOG` (its log
//! goes to stderr); `rolebook::slow=debug` logs slow command batches and
//! group commits with where their time went.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "http_load/mix.rs"]
mod mix;
#[path = "http_load/open_loop.rs"]
mod open_loop;
#[path = "http_load/single.rs"]
mod single;

use domain::ids::TokenId;
use domain::store::{EventStore, ExpectedVersion};
use testkit::{Size, Workload};

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

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
    let dir =
        tempfile::tempdir_in(std::env::var("ROLEBOOK_BENCH_DIR").unwrap_or_else(|_| ".".into()))
            .unwrap();
    println!("# rolebook HTTP load benchmark");
    println!("{}", testkit::bench::machine_line());

    // The benchmark organization, registered under the name "bench".
    let w = Workload::organization("bench", Size::BENCHMARK, 1);
    {
        let store = infra::SqliteEventStore::open_in_dir(dir.path())
            .await
            .unwrap();
        let registered = domain::registry::OrganizationRegistered {
            org_id: w.org_id,
            name: "bench".into(),
        };
        let registry_event = domain::store::NewEvent {
            event_id: uuid::Uuid::now_v7(),
            event_type: domain::registry::OrganizationRegistered::EVENT_TYPE.into(),
            schema_version: 1,
            data: serde_json::to_string(&registered).unwrap(),
            metadata: "{}".into(),
        };
        store
            .append(
                &domain::registry::stream(),
                ExpectedVersion::NoStream,
                vec![registry_event],
            )
            .await
            .unwrap();
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
    // A fresh, small organization beside it ("fresh": 50 people, 10
    // projects, 5 groups, 2 custom roles), for the single-client phase.
    let fresh = Workload::organization(
        "fresh",
        Size {
            users: 50,
            projects: 10,
            groups: 5,
            custom_roles: 2,
        },
        2,
    );
    {
        let store = infra::SqliteEventStore::open_in_dir(dir.path())
            .await
            .unwrap();
        let registered = domain::registry::OrganizationRegistered {
            org_id: fresh.org_id,
            name: "fresh".into(),
        };
        store
            .append(
                &domain::registry::stream(),
                ExpectedVersion::Any,
                vec![domain::store::NewEvent {
                    event_id: uuid::Uuid::now_v7(),
                    event_type: domain::registry::OrganizationRegistered::EVENT_TYPE.into(),
                    schema_version: 1,
                    data: serde_json::to_string(&registered).unwrap(),
                    metadata: "{}".into(),
                }],
            )
            .await
            .unwrap();
        store
            .append(
                &fresh.org_id.stream(),
                ExpectedVersion::NoStream,
                fresh.envelopes(),
            )
            .await
            .unwrap();
    }
    let pool = infra::readmodel::open_in_dir(dir.path()).unwrap();
    let creds = commands::Credentials::sqlite(&pool).await.unwrap();
    let token = creds
        .issue_token(
            w.org_id,
            w.owner,
            TokenId::new(),
            commands::credentials::TokenKind::Session,
            None,
        )
        .await
        .unwrap();
    // The probe's own token: its reads wait for its own writes only.
    let probe_token = creds
        .issue_token(
            w.org_id,
            w.owner,
            TokenId::new(),
            commands::credentials::TokenKind::Session,
            None,
        )
        .await
        .unwrap();
    let fresh_token = creds
        .issue_token(
            fresh.org_id,
            fresh.owner,
            TokenId::new(),
            commands::credentials::TokenKind::Session,
            None,
        )
        .await
        .unwrap();
    println!("organization: {} events", w.events.len());

    // The release server (cargo builds it for benches).
    let mut server = Command::new(env!("CARGO_BIN_EXE_rolebook"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env(
            "RUST_LOG",
            std::env::var("ROLEBOOK_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = server.id();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    let address = loop {
        line.clear();
        stderr.read_line(&mut line).unwrap();
        if let Some(rest) = line.trim().strip_prefix("rolebook listening on ") {
            break rest.to_string();
        }
    };
    // The server's log, passed on to this process's stderr.
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            eprintln!("server: {line}");
        }
    });
    // The largest size each WAL file of the data dir reaches, sampled
    // every 50 ms while the server runs.
    let wal_peak = std::sync::Arc::new(parking_lot::Mutex::new(std::collections::BTreeMap::<
        String,
        u64,
    >::new()));
    {
        let (dir, peak) = (dir.path().to_path_buf(), wal_peak.clone());
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
    let client = reqwest::Client::new();
    let started = Instant::now();
    settle(&client, &address).await;
    println!(
        "server ready (projections caught up in {:.1?}, with a second of rest); RSS {} MiB; largest WAL files during the start: {}",
        started.elapsed(),
        rss_kib(pid, "VmRSS") / 1024,
        wal_sizes(&std::mem::take(&mut *wal_peak.lock()))
    );

    let base = format!("{address}/api/v1/orgs/bench");
    let phases = std::env::var("ROLEBOOK_BENCH_PHASES")
        .unwrap_or_else(|_| "check,commands,open,pair,single".into());
    let phase = |name: &str| phases.split(',').any(|p| p.trim() == name);

    // GET /check on random users, permissions and projects.
    let mut peak_after_checks = 0;
    if phase("check") {
        let check = dir.path().join("check.lua");
        std::fs::write(
            &check,
            format!(
                r#"
local perms = {{"project.view", "project.job.rerun", "project.access.manage", "project.delete", "project.secrets.view"}}
local org_perms = {{"organization.view", "organization.people.manage", "organization.secrets.view"}}
request = function()
  local u = "user" .. math.random(0, 9998)
  local path
  if math.random() < 0.7 then
    path = "/api/v1/orgs/bench/check?user=" .. u .. "&permission=" .. perms[math.random(#perms)] .. "&project=project-" .. math.random(0, 999)
  else
    path = "/api/v1/orgs/bench/check?user=" .. u .. "&permission=" .. org_perms[math.random(#org_perms)]
  end
  return wrk.format("GET", path, {{["Authorization"] = "Bearer {token}"}})
end
"#
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
        peak_after_checks = rss_kib(pid, "VmHWM");
    }

    // Commands at saturation: wrk, closed loop (each connection sends its
    // next command when the last is answered).
    if phase("commands") {
        settle(&client, &address).await;
        let cmd = dir.path().join("command.lua");
        std::fs::write(&cmd, mix::wrk_script(&token)).unwrap();
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
            settle(&client, &address).await;
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
        settle(&client, &address).await;
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
    // One client, one command after another, on the benchmark
    // organization and on a fresh one: each kind's latency.
    if phase("single") {
        for (org, token, size) in [
            ("bench", &token, Size::BENCHMARK),
            (
                "fresh",
                &fresh_token,
                Size {
                    users: 50,
                    projects: 10,
                    groups: 5,
                    custom_roles: 2,
                },
            ),
        ] {
            settle(&client, &address).await;
            let base = format!("{address}/api/v1/orgs/{org}");
            let auth = format!("Bearer {token}");
            for kind in single::KINDS {
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
        let clients = env_u32("ROLEBOOK_BENCH_CLIENTS", 16) as u64;
        for kind in single::KINDS {
            settle(&client, &address).await;
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let mut tasks = tokio::task::JoinSet::new();
            for c in 0..clients {
                let (client, base, auth) =
                    (client.clone(), base.clone(), format!("Bearer {token}"));
                tasks.spawn(async move {
                    let mut latencies = Vec::new();
                    // Each client its own users and projects: commands
                    // that change something every time.
                    let mut i = c * 1_000_000;
                    while Instant::now() < deadline {
                        let r = single::command(kind, i, &Size::BENCHMARK);
                        i += 1;
                        let started = Instant::now();
                        let answer = client
                            .request(r.method, format!("{base}{}", r.path))
                            .header("Authorization", &auth)
                            .header("Content-Type", "application/json")
                            .body(r.body)
                            .send()
                            .await
                            .unwrap();
                        let status = answer.status();
                        let _ = answer.bytes().await;
                        assert!(status.is_success(), "{kind}: {status}");
                        latencies.push(started.elapsed());
                    }
                    latencies
                });
            }
            let mut latencies: Vec<Duration> = tasks.join_all().await.concat();
            latencies.sort();
            println!(
                "{clients} clients of one organization, closed loop, {kind}: {:.0} commands/s, p50 {:.2?}, p99 {:.2?}, max {:.2?}",
                latencies.len() as f64 / seconds as f64,
                testkit::bench::percentile(&latencies, 0.5),
                testkit::bench::percentile(&latencies, 0.99),
                latencies.last().copied().unwrap_or_default()
            );
        }
    }
    println!(
        "server memory: RSS now {} MiB, peak {} MiB (peak after the check load {} MiB)",
        rss_kib(pid, "VmRSS") / 1024,
        rss_kib(pid, "VmHWM") / 1024,
        peak_after_checks / 1024
    );
    println!(
        "largest WAL files under the load (after the start): {}",
        wal_sizes(&wal_peak.lock())
    );
    let _ = server.kill();
    let _ = server.wait();
}

/// `name size, ...` of the WAL files sampled.
fn wal_sizes(peaks: &std::collections::BTreeMap<String, u64>) -> String {
    let sizes: Vec<String> = peaks
        .iter()
        .map(|(name, len)| format!("{name} {:.1} MiB", *len as f64 / (1 << 20) as f64))
        .collect();
    sizes.join(", ")
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

/// Waits until both projections have caught up with the log, then a
/// second more, so one figure's backlog does not weigh on the next.
async fn settle(client: &reqwest::Client, address: &str) {
    let started = Instant::now();
    loop {
        let health: serde_json::Value = client
            .get(format!("{address}/api/v1/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if health["projections"]["rbac"] == health["position"]
            && health["projections"]["audit"] == health["position"]
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "projections never caught up: {health}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The machine's load averages (1, 5, 15 minutes), as `uptime` shows them:
/// other work on the same cores weighs on every figure.
fn load_average() -> String {
    let avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let avg: Vec<&str> = avg.split_whitespace().take(3).collect();
    format!("load average: {}", avg.join(", "))
}
