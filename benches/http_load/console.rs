//! The console phase: the first page of People and of Audit Logs as an
//! administrator's browser asks for them (the session cookie, HTML), one
//! after another, on the benchmark organization: each page's latency
//! (request sent to the last byte read, over loopback: the server's time
//! and the transfer) and its size with the stylesheet it links; beside
//! each, the same first page through the API (JSON), which the page is
//! built from. `ROLEBOOK_BENCH_CONSOLE_SAVE=DIR` keeps the last page of
//! each in DIR.

use std::time::{Duration, Instant};

/// Loads each page `n` times and prints its figures.
pub async fn run(client: &reqwest::Client, address: &str, token: &str, n: usize) {
    let cookie = format!("rolebook_session={token}");
    let bearer = format!("Bearer {token}");
    let css = client
        .get(format!("{address}/console.css"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    for (what, page, api) in [
        ("People", "/orgs/bench/people", "/api/v1/orgs/bench/people"),
        (
            "Audit Logs",
            "/orgs/bench/audit-logs",
            "/api/v1/orgs/bench/audit-logs",
        ),
    ] {
        for (through, path, header) in [
            ("console", page, ("Cookie", &cookie)),
            ("API", api, ("Authorization", &bearer)),
        ] {
            let mut latencies: Vec<Duration> = Vec::with_capacity(n);
            let mut last = String::new();
            for _ in 0..n {
                let started = Instant::now();
                let r = client
                    .get(format!("{address}{path}"))
                    .header(header.0, header.1)
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let body = r.text().await.unwrap();
                latencies.push(started.elapsed());
                assert!(status.is_success(), "{path}: {status}\n{body}");
                last = body;
            }
            latencies.sort();
            let size = if through == "console" {
                if let Ok(dir) = std::env::var("ROLEBOOK_BENCH_CONSOLE_SAVE") {
                    std::fs::write(format!("{dir}/{}.html", what.replace(' ', "-")), &last)
                        .unwrap();
                }
                format!(
                    "page {:.1} KiB (with its stylesheet {:.1} KiB), {} rows",
                    last.len() as f64 / 1024.0,
                    (last.len() + css) as f64 / 1024.0,
                    last.matches("<tr>").count().saturating_sub(1)
                )
            } else {
                format!("JSON {:.1} KiB", last.len() as f64 / 1024.0)
            };
            println!(
                "{through} {what}, first page: {n} loads; p50 {:.2?}, p95 {:.2?}, p99 {:.2?}, max {:.2?}; {size}",
                testkit::bench::percentile(&latencies, 0.5),
                testkit::bench::percentile(&latencies, 0.95),
                testkit::bench::percentile(&latencies, 0.99),
                latencies.last().copied().unwrap_or_default(),
            );
        }
    }
}
