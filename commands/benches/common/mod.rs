//! What the write-side benches share: appending a workload in batches,
//! and the command service under 32 concurrent submitters.

use std::sync::Arc;
use std::time::{Duration, Instant};

use commands::{CommandContext, CommandService};
use domain::events::{Actor, Medium};
use domain::ids::Subject;
use domain::store::{AppendRequest, EventStore, ExpectedVersion, StreamId};
use domain::Command;
use testkit::bench::percentile;
use testkit::Workload;

/// Appends `workload`'s events to `stream` in batches of `batch`; returns
/// how long it took.
pub async fn append_workload(
    store: &dyn EventStore,
    stream: StreamId,
    workload: &Workload,
    batch: usize,
) -> Duration {
    let envelopes = workload.envelopes();
    let started = Instant::now();
    let mut version = 0u64;
    for chunk in envelopes.chunks(batch) {
        let expected = if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(version)
        };
        let mut results = store
            .append_each(vec![AppendRequest::new(
                stream.clone(),
                expected,
                chunk.to_vec(),
            )])
            .await;
        version = results.remove(0).expect("append").stream_version;
    }
    started.elapsed()
}

/// Submitters at once.
pub const SUBMITTERS: usize = 32;

/// Runs [`SUBMITTERS`] tasks, each sending its organization's owner's
/// commands (org role, project binding, group member changes) one after
/// the other for `seconds`; prints commands/s and latency percentiles.
pub async fn command_service(service: &CommandService, workloads: &mut [Workload], seconds: u64) {
    let orgs = workloads.len();
    let start = Arc::new(tokio::sync::Barrier::new(SUBMITTERS + 1));
    let mut tasks = Vec::new();
    for s in 0..SUBMITTERS {
        let w = &mut workloads[s % orgs];
        let (org, owner) = (w.org_id, w.owner);
        let picks: Vec<Command> = (0..100_000)
            .map(|i| match i % 3 {
                0 => Command::AssignOrgRole {
                    subject: Subject::User(w.some_user()),
                    role: w.some_org_role(),
                },
                1 => Command::BindProjectRole {
                    project: w.some_project(),
                    subject: Subject::Group(w.some_group()),
                    role: w.some_project_role(),
                },
                _ => Command::ChangeGroup {
                    group: w.some_group(),
                    name: None,
                    description: None,
                    add_members: vec![w.some_user()],
                    remove_members: vec![],
                },
            })
            .collect();
        let service = service.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            let ctx = CommandContext::new(Actor::user(owner, "owner"), Medium::Api);
            let mut latencies = Vec::new();
            start.wait().await;
            let deadline = Instant::now() + Duration::from_secs(seconds);
            for cmd in picks {
                if Instant::now() >= deadline {
                    break;
                }
                let t = Instant::now();
                service.execute(org, cmd, &ctx).await.expect("command");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    start.wait().await;
    let started = Instant::now();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let took = started.elapsed();
    latencies.sort();
    println!(
        "command service: {} commands by {SUBMITTERS} submitters over {orgs} organizations in {:.2?} = {:.0} commands/s; latency median {:.2?}, p99 {:.2?}",
        latencies.len(),
        took,
        latencies.len() as f64 / took.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
}
