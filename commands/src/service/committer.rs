//! Group commit: one task owns the store's write path and appends every
//! request waiting for it in a single transaction. Requests for different
//! organizations share the transaction; each keeps its own expected-version
//! check, so a conflict in one never fails or weakens another.

use std::sync::Arc;

use domain::store::{AppendRequest, AppendResult, EventStore, StoreError};
use tokio::sync::{mpsc, oneshot};

/// The most requests one transaction takes.
const MAX_BATCH_REQUESTS: usize = 512;
/// The most events one transaction takes (a single bigger request still goes
/// through alone).
const MAX_BATCH_EVENTS: usize = 20_000;
/// Scheduler turns the committer gives other tasks to join a transaction.
const YIELD_TURNS: usize = 4;
/// A transaction taking longer than this is logged (debug, target
/// `rolebook::slow`).
const SLOW: std::time::Duration = std::time::Duration::from_millis(20);

/// A request waiting for its turn, with the place to send its result.
pub(crate) struct CommitJob {
    pub request: AppendRequest,
    pub reply: oneshot::Sender<Result<AppendResult, StoreError>>,
}

/// A fault for crash tests: with `ROLEBOOK_FAULT_ABORT_AFTER_COMMITS=N`
/// the process aborts right after its N-th commit, before any caller of
/// that commit is answered (a crash between a commit and its answer).
const ABORT_AFTER_COMMITS: &str = "ROLEBOOK_FAULT_ABORT_AFTER_COMMITS";

/// Starts the committer task; it ends when every sender is dropped.
pub(crate) fn spawn(store: Arc<dyn EventStore>) -> mpsc::Sender<CommitJob> {
    let (tx, mut rx) = mpsc::channel::<CommitJob>(4096);
    let abort_after: Option<u64> = std::env::var(ABORT_AFTER_COMMITS)
        .ok()
        .and_then(|n| n.parse().ok());
    let mut commits = 0u64;
    tokio::spawn(async move {
        let mut jobs: Vec<CommitJob> = Vec::new();
        while let Some(first) = rx.recv().await {
            let mut events = first.request.events.len();
            jobs.push(first);
            // Let the workers that were just answered queue their next
            // batches before this transaction closes: a few scheduler turns
            // cost microseconds, a transaction's fsync costs a millisecond.
            let mut idle_turns = 0;
            while jobs.len() < MAX_BATCH_REQUESTS && events < MAX_BATCH_EVENTS {
                match rx.try_recv() {
                    Ok(job) => {
                        events += job.request.events.len();
                        jobs.push(job);
                    }
                    Err(_) if idle_turns < YIELD_TURNS => {
                        idle_turns += 1;
                        tokio::task::yield_now().await;
                    }
                    Err(_) => break,
                }
            }
            let (requests, replies): (Vec<_>, Vec<_>) =
                jobs.drain(..).map(|j| (j.request, j.reply)).unzip();
            let count = requests.len();
            tracing::trace!(requests = count, events, "group commit");
            let started = std::time::Instant::now();
            let results = store.append_each(requests).await;
            let took = started.elapsed();
            if took > SLOW {
                tracing::debug!(
                    target: "rolebook::slow",
                    requests = count,
                    events,
                    append_ms = took.as_secs_f64() * 1000.0,
                    "slow group commit"
                );
            }
            if results.iter().any(Result::is_ok) {
                commits += 1;
                if abort_after == Some(commits) {
                    eprintln!("{ABORT_AFTER_COMMITS}: aborting after commit {commits}");
                    std::process::abort();
                }
            }
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
    });
    tx
}
