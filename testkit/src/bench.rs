//! Small helpers the benchmark binaries share.

use std::time::{Duration, Instant};

/// A number from the environment (to shrink a run), or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `p` quantile (0.0 to 1.0) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

/// `p50 …, p99 …, max …` of sorted durations.
pub fn latency_line(sorted: &[Duration]) -> String {
    format!(
        "p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        percentile(sorted, 0.5),
        percentile(sorted, 0.99),
        sorted.last().copied().unwrap_or_default()
    )
}

/// Who issues the benchmarks' commands and from where: an actor drawn from
/// `actors` (one event in ten by the system), an IP, a user agent and a
/// request id, so that audit rows are as wide as a real API's and the
/// actor index has real keys. `i` is the event's index in the log.
pub struct RequestDetails {
    actors: Vec<(domain::ids::UserId, String)>,
    rng: rand::rngs::StdRng,
}

impl RequestDetails {
    /// The first 1,000 users after the Owner of `w` as actors.
    pub fn of(w: &crate::Workload) -> Self {
        use rand::SeedableRng;
        let actors = w
            .users
            .iter()
            .skip(1)
            .take(1_000)
            .map(|u| (*u, w.state.users[u].username.clone()))
            .collect();
        RequestDetails {
            actors,
            rng: rand::rngs::StdRng::seed_from_u64(7),
        }
    }

    /// The users who act (id, username).
    pub fn actors(&self) -> &[(domain::ids::UserId, String)] {
        &self.actors
    }

    /// The metadata of event `i`, issued at `at` through the API.
    pub fn metadata(
        &mut self,
        i: usize,
        at: chrono::DateTime<chrono::Utc>,
    ) -> domain::events::EventMetadata {
        use domain::events::{Actor, EventMetadata, Medium};
        use rand::Rng;
        let actor = if self.actors.is_empty() || self.rng.gen_ratio(1, 10) {
            Actor::system()
        } else {
            let (id, name) = &self.actors[self.rng.gen_range(0..self.actors.len())];
            Actor::user(*id, name.clone())
        };
        let mut meta = EventMetadata::new(actor, Medium::Api, at);
        meta.ip = Some(format!("10.1.{}.{}", i % 200, i % 250));
        meta.user_agent = Some("rolebook-bench/1.0".into());
        meta.request_id = Some(format!("req-{i}"));
        meta
    }
}

/// Lets the disk settle before a timed phase: checkpoints the WAL of the
/// SQLite file at `db` into the file (TRUNCATE) and syncs. A log written
/// just before would otherwise still be copied out of its WAL by the
/// store's checkpointer, and written back by the kernel, on both cores
/// while the phase runs: the cost of creating the log, not of the phase
/// (a projection catching up at a server's start finds the log settled).
pub fn settle(db: &std::path::Path) {
    match rusqlite::Connection::open(db) {
        Ok(conn) => {
            let _ = conn.busy_timeout(Duration::from_secs(60));
            // A checkpoint that finds another one running (the store's
            // checkpointer, finishing) or a reader answers busy rather
            // than failing: try again for a while.
            for attempt in 1..=50 {
                match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    r.get::<_, i64>(0)
                }) {
                    Ok(0) => break,
                    Ok(_) if attempt < 50 => std::thread::sleep(Duration::from_millis(100)),
                    Ok(_) => eprintln!("settle: the checkpoint of {} stayed busy", db.display()),
                    Err(e) => {
                        eprintln!("settle: checkpoint of {} failed: {e}", db.display());
                        break;
                    }
                }
            }
        }
        Err(e) => eprintln!("settle: cannot open {}: {e}", db.display()),
    }
    let _ = std::process::Command::new("sync").status();
}

/// CPU time this process has used (user + system), from /proc/self/stat:
/// on a shared machine it shows what a phase costs apart from waiting.
pub fn cpu_time() -> Duration {
    stat_cpu("/proc/self/stat")
}

/// CPU time of the calling thread.
pub fn thread_cpu_time() -> Duration {
    stat_cpu("/proc/thread-self/stat")
}

fn stat_cpu(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10) // USER_HZ = 100
}

/// The one-minute load average, as /proc/loadavg writes it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}

/// What kind of machine a run is on, measured: the cost of one random
/// memory access over a working set the size of the access model (a
/// pointer chase through 32 MiB), and of faulting in fresh memory (first
/// writes to 256 MiB). Both vary several-fold between machines of the same
/// nominal size (shared caches, nested paging), and every figure that reads
/// memory at random or grows files moves with them, so each benchmark
/// prints this line beside its figures.
pub fn machine_line() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "machine: {cores} cores; random memory access over 32 MiB {:.0} ns; fresh memory {:.2} s/GiB (load average {})",
        random_access_ns(32 << 20),
        fresh_memory_secs_per_gib(256 << 20),
        load_average()
    )
}

/// Nanoseconds per dependent load over a random cycle through `bytes`.
fn random_access_ns(bytes: usize) -> f64 {
    let n = bytes / std::mem::size_of::<usize>();
    // Sattolo's shuffle: one cycle through every slot, so the chase
    // visits the whole working set.
    let mut next: Vec<usize> = (0..n).collect();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for i in (1..n).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let j = (seed % i as u64) as usize;
        next.swap(i, j);
    }
    let steps = 2_000_000;
    let mut at = 0;
    let started = Instant::now();
    for _ in 0..steps {
        at = next[at];
    }
    let took = started.elapsed();
    std::hint::black_box(at);
    took.as_nanos() as f64 / steps as f64
}

/// Seconds per GiB to fault in fresh anonymous memory (one write a page).
/// The block comes from the system allocator whatever the bench's global
/// allocator is (mimalloc, say, maps its own memory in other ways), so the
/// figure describes the machine.
fn fresh_memory_secs_per_gib(bytes: usize) -> f64 {
    use std::alloc::{GlobalAlloc, Layout, System};
    assert!(bytes > 0, "an empty block measures nothing");
    let layout = Layout::from_size_align(bytes, 4096).expect("a page-aligned block");
    let started = Instant::now();
    // SAFETY: the layout has a non-zero size; the block is written only
    // within it, one byte a page, and freed with the same layout.
    #[allow(unsafe_code)]
    unsafe {
        let block = System.alloc(layout);
        assert!(!block.is_null(), "cannot allocate {bytes} bytes");
        for page in (0..bytes).step_by(4096) {
            block.add(page).write_volatile(1);
        }
        let took = started.elapsed();
        System.dealloc(block, layout);
        took.as_secs_f64() / (bytes as f64 / (1u64 << 30) as f64)
    }
}
