//! The soak (issue 23, part 6; RELIABILITY.md): commands (the `mix` of role
//! and group changes) and `GET /check` (random users, permissions and
//! projects) offered at fixed rates at the same time, open loop, minute
//! after minute: each minute's rates served, answers other than 2xx, p99s
//! and the server's resident memory. The last minute's RSS is compared with
//! the first's (after warm-up): a leak shows as growth.
//!
//! `ROLEBOOK_BENCH_SOAK_MINUTES` (10), `ROLEBOOK_BENCH_SOAK_COMMANDS`
//! (1,000/s), `ROLEBOOK_BENCH_SOAK_CHECKS` (10,000/s).

use std::time::Duration;

use super::instance::Server;
use super::{env_u32, mix, open_loop};

/// What the soak saw: per minute, the commands' and the checks' reports
/// and the RSS at its end.
pub struct Minute {
    pub commands: open_loop::Report,
    pub checks: open_loop::Report,
    pub rss_mib: u64,
}

/// A check of a random user, permission and (mostly) project, as the
/// `check` phase's wrk script asks.
fn check_path(i: u64, users: usize, projects: usize) -> String {
    const PROJECT: &[&str] = &[
        "project.view",
        "project.job.rerun",
        "project.access.manage",
        "project.delete",
        "project.secrets.view",
    ];
    const ORG: &[&str] = &[
        "organization.view",
        "organization.people.manage",
        "organization.secrets.view",
    ];
    // A cheap mix of i (the generator's sequence number) as the randomness.
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    let user = h as usize % (users - 1);
    if h % 10 < 7 {
        format!(
            "/check?user=user{user}&permission={}&project=project-{}",
            PROJECT[(h >> 20) as usize % PROJECT.len()],
            (h >> 30) as usize % projects
        )
    } else {
        format!(
            "/check?user=user{user}&permission={}",
            ORG[(h >> 20) as usize % ORG.len()]
        )
    }
}

/// Runs the soak: commands with `command_token`, checks with
/// `check_token` (another caller's: a caller's reads wait for its own
/// commands, session consistency, and the checks are not the commands').
pub async fn run(
    server: &Server,
    base: &str,
    (command_token, check_token): (&str, &str),
    users: usize,
    projects: usize,
) -> Vec<Minute> {
    let minutes = env_u32("ROLEBOOK_BENCH_SOAK_MINUTES", 10);
    let command_rate = f64::from(env_u32("ROLEBOOK_BENCH_SOAK_COMMANDS", 1_000));
    let check_rate = f64::from(env_u32("ROLEBOOK_BENCH_SOAK_CHECKS", 10_000));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let auth = format!("Bearer {command_token}");
    let check_auth = format!("Bearer {check_token}");
    let mut out = Vec::new();
    for minute in 0..minutes {
        // The first minute starts with a 5 s warm-up (not measured).
        let warm_up = Duration::from_secs(if minute == 0 { 5 } else { 0 });
        let commands = open_loop::run(
            &client,
            command_rate,
            warm_up,
            Duration::from_secs(60),
            64,
            |client, i| {
                let c = mix::command(u64::from(minute) << 32 | i);
                client
                    .request(c.method, format!("{base}{}", c.path))
                    .header("Authorization", &auth)
                    .header("Content-Type", "application/json")
                    .body(c.body)
            },
        );
        let checks = open_loop::run(
            &client,
            check_rate,
            warm_up,
            Duration::from_secs(60),
            128,
            |client, i| {
                client
                    .get(format!(
                        "{base}{}",
                        check_path(u64::from(minute) << 32 | i, users, projects)
                    ))
                    .header("Authorization", &check_auth)
            },
        );
        let (commands, checks) = tokio::join!(commands, checks);
        let m = Minute {
            commands,
            checks,
            rss_mib: server.memory_mib("VmRSS"),
        };
        println!(
            "soak minute {}: RSS {} MiB\n  commands: {}\n  checks: {}",
            minute + 1,
            m.rss_mib,
            m.commands.line(),
            m.checks.line()
        );
        out.push(m);
    }
    out
}
