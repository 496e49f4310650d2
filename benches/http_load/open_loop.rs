//! An open-loop load generator: requests are sent at a fixed offered rate,
//! whatever the server's answers do, and each request's latency is measured
//! from the moment it was *scheduled* to be sent (no coordinated omission:
//! a server stall delays every request scheduled during it, and each of
//! them counts the whole wait).
//!
//! At most `connections` requests are in flight (keep-alive connections of
//! one client); a request scheduled while all of them are busy waits for
//! one, and that wait is part of its latency.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// What one fixed-rate run measured.
pub struct Report {
    /// Requests per second offered.
    pub offered: f64,
    /// Requests scheduled in the measured window (after the warm-up).
    pub measured: usize,
    /// Answers per second in the measured window (successful or not).
    pub served: f64,
    /// Answers by status (0: the request failed without an answer).
    pub statuses: BTreeMap<u16, usize>,
    /// Latencies from the scheduled send time, sorted.
    pub latencies: Vec<Duration>,
    /// Latencies from the moment the request began to be sent (it had its
    /// connection and the generator was running), sorted: the server's and
    /// the network's part, without the generator's own delays and the wait
    /// for a free connection. Diagnostic only: the figure is `latencies`.
    pub service: Vec<Duration>,
}

impl Report {
    /// The `p` quantile (0.0 to 1.0) of the latencies.
    pub fn quantile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        testkit::bench::percentile(&self.latencies, p)
    }

    /// Answers that were not 2xx.
    pub fn errors(&self) -> usize {
        self.statuses
            .iter()
            .filter(|(s, _)| !(200..300).contains(*s))
            .map(|(_, n)| n)
            .sum()
    }

    /// One line: offered and served rate, quantiles, max, errors; then the
    /// same quantiles from the send time.
    pub fn line(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let q = |sorted: &[Duration], p: f64| {
            if sorted.is_empty() {
                0.0
            } else {
                ms(testkit::bench::percentile(sorted, p))
            }
        };
        format!(
            "offered {:.0}/s, served {:.0}/s ({} requests) | p50 {:.2} ms | p90 {:.2} ms | p99 {:.2} ms | p99.9 {:.2} ms | max {:.2} ms | non-2xx {} {:?}\n  (from the send time: p50 {:.2} ms | p99 {:.2} ms | p99.9 {:.2} ms | max {:.2} ms)",
            self.offered,
            self.served,
            self.measured,
            ms(self.quantile(0.50)),
            ms(self.quantile(0.90)),
            ms(self.quantile(0.99)),
            ms(self.quantile(0.999)),
            ms(self.latencies.last().copied().unwrap_or_default()),
            self.errors(),
            self.statuses,
            q(&self.service, 0.50),
            q(&self.service, 0.99),
            q(&self.service, 0.999),
            ms(self.service.last().copied().unwrap_or_default()),
        )
    }
}

/// Sends `request(i)` for i = 0, 1, ... at `rate` per second for `warm_up`
/// (not measured) and then `duration` (measured), with at most
/// `connections` in flight; waits for every answer.
pub async fn run(
    client: &reqwest::Client,
    rate: f64,
    warm_up: Duration,
    duration: Duration,
    connections: usize,
    request: impl Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder,
) -> Report {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let warm = (warm_up.as_secs_f64() * rate) as u64;
    let total = warm + (duration.as_secs_f64() * rate) as u64;
    let slots = Arc::new(Semaphore::new(connections));
    let mut tasks = JoinSet::new();
    let start = Instant::now() + Duration::from_millis(10);
    for i in 0..total {
        let scheduled = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let send = request(client, i);
        let slots = slots.clone();
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await.expect("never closed");
            let sending = Instant::now();
            let status = match send.send().await {
                // The whole body is read, so the connection is reused.
                Ok(answer) => {
                    let status = answer.status().as_u16();
                    match answer.bytes().await {
                        Ok(_) => status,
                        Err(_) => 0,
                    }
                }
                Err(_) => 0,
            };
            let done = Instant::now();
            let service = done.duration_since(sending);
            (i, status, done.duration_since(scheduled), service, done)
        });
    }
    let measured_from = start + interval.mul_f64(warm as f64);
    let mut statuses = BTreeMap::new();
    let mut latencies = Vec::with_capacity((total - warm) as usize);
    let mut service = Vec::with_capacity((total - warm) as usize);
    let mut last_answer = measured_from;
    while let Some(done) = tasks.join_next().await {
        let (i, status, latency, served_in, at) = done.expect("request task");
        if i < warm {
            continue;
        }
        *statuses.entry(status).or_insert(0) += 1;
        latencies.push(latency);
        service.push(served_in);
        last_answer = last_answer.max(at);
    }
    latencies.sort_unstable();
    service.sort_unstable();
    let measured = latencies.len();
    Report {
        offered: rate,
        measured,
        served: measured as f64 / last_answer.duration_since(measured_from).as_secs_f64(),
        statuses,
        latencies,
        service,
    }
}
