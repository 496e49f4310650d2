//! HTTP load figures (issue 4): the release server on the benchmark
//! organization (10,000 users, 1,000 projects, 200 groups, 50 custom roles),
//! loaded by `wrk` (a separate process, keep-alive, loopback):
//!
//! - `GET /check`: requests/s and p99;
//! - commands (`PUT /people/{user}/role`): requests/s and p99, durable;
//! - the server's resident memory under that load.
//!
//! Run: `cargo bench --bench http_load` (needs `wrk`: `apt-get install wrk`).
//! `ROLEBOOK_BENCH_CHECK_CONNECTIONS` (64) and
//! `ROLEBOOK_BENCH_COMMAND_CONNECTIONS` (32) set wrk's connections.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    println!(
        "# rolebook HTTP load benchmark ({} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );

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
    let pool = infra::readmodel::open_in_dir(dir.path()).await.unwrap();
    let creds = commands::Credentials::new(pool).await.unwrap();
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
    println!("organization: {} events", w.events.len());

    // The release server (cargo builds it for benches).
    let mut server = Command::new(env!("CARGO_BIN_EXE_rolebook"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
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
    std::thread::spawn(move || for _ in stderr.lines() {});
    let client = reqwest::Client::new();
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
            started.elapsed() < Duration::from_secs(120),
            "projections never caught up: {health}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "server ready (projections caught up in {:.1?}); RSS {} MiB",
        started.elapsed(),
        rss_kib(pid, "VmRSS") / 1024
    );

    // GET /check on random users, permissions and projects.
    let base = format!("{address}/api/v1/orgs/bench");
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
    let check_connections = env_u32("ROLEBOOK_BENCH_CHECK_CONNECTIONS", 64);
    let out = wrk(&base, &check, seconds, check_connections);
    summary(
        &format!("GET /check ({check_connections} connections)"),
        &out,
    );
    let peak_after_checks = rss_kib(pid, "VmHWM");

    // Commands: organization role changes (durable).
    let cmd = dir.path().join("command.lua");
    std::fs::write(
        &cmd,
        format!(
            r#"
local roles = {{"Member", "custom-1", "custom-3", "custom-5", "custom-7"}}
request = function()
  local u = "user" .. math.random(0, 9998)
  local body = '{{"role": "' .. roles[math.random(#roles)] .. '"}}'
  return wrk.format("PUT", "/api/v1/orgs/bench/people/" .. u .. "/role",
    {{["Authorization"] = "Bearer {token}", ["Content-Type"] = "application/json"}}, body)
end
"#
        ),
    )
    .unwrap();
    let command_connections = env_u32("ROLEBOOK_BENCH_COMMAND_CONNECTIONS", 32);
    let out = wrk(&base, &cmd, seconds, command_connections);
    summary(
        &format!("PUT /people/{{user}}/role ({command_connections} connections)"),
        &out,
    );
    println!(
        "server memory: RSS now {} MiB, peak {} MiB (peak after the check load {} MiB)",
        rss_kib(pid, "VmRSS") / 1024,
        rss_kib(pid, "VmHWM") / 1024,
        peak_after_checks / 1024
    );
    let _ = server.kill();
    let _ = server.wait();
}
