//! One task per organization: it owns the organization's state, decides
//! queued commands one after another against the state each previous one
//! left, and appends all their events with one expected version.
//!
//! Catching up is optimistic: the expected version proves that an accepted
//! command was decided on the current state (another writer's append makes
//! it a conflict: reload, decide again, a bounded number of times), and a
//! refusal or a no-op is only reported once that append, or (in a batch
//! that appends nothing) a check of the stream's version, proves the state
//! current, so no command is accepted, refused or skipped on a stale state,
//! and the hot path does not read the stream before every batch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::events::{Event, EventMetadata};
use domain::ids::OrgId;
use domain::store::{
    pages_of_stream, AppendRequest, EventStore, ExpectedVersion, PendingEffect, Receipt, StoreError,
};
use domain::{decide, Command, DomainError, Organization};
use futures::TryStreamExt;
use tokio::sync::{mpsc, oneshot};

use super::committer::CommitJob;
use super::envelope::{envelope, metadata_json};
use super::{receipt, Outcome, ServiceError};
use crate::answers::{Answer, Idempotency};

/// How many times a batch is decided again after a version conflict.
pub(crate) const MAX_ATTEMPTS: usize = 8;
/// The most commands decided together.
const MAX_BATCH: usize = 256;
/// Events read per page when loading or catching up.
const PAGE: usize = 10_000;
/// A batch whose oldest command waited longer than this for its outcome
/// is logged (debug, target `rolebook::slow`) with where the time went.
const SLOW: Duration = Duration::from_millis(20);

/// A queued command, where to send its outcome, and what to read from the
/// state once it has taken effect.
pub(crate) struct Job {
    pub command: Command,
    pub metadata: EventMetadata,
    pub reply: oneshot::Sender<Result<Outcome, ServiceError>>,
    /// When it was queued (for the slow-batch log).
    pub queued: Instant,
    /// Asked of the state right after the command succeeds (committed, or a
    /// confirmed no-op), before its outcome is sent; dropped unasked if the
    /// command fails.
    pub then: Option<Then>,
    /// Renders the caller's answer from the state right after this command's
    /// events, before the commit (again if the batch is decided again).
    pub render: Option<super::Render>,
    /// With it, the rendered answer is sealed and kept with the events.
    pub idempotency: Option<Idempotency>,
    /// Work that must follow the commit, kept in its transaction.
    pub effects: Vec<PendingEffect>,
}

/// A job's events and answer, or why it was refused.
type Decided = Result<(Vec<Event>, Option<Answer>), DomainError>;

/// A question about the state, answered on the worker.
pub(crate) type Question = Box<dyn FnOnce(Result<&Organization, ServiceError>) + Send>;

/// A question asked of the state a successful command left.
pub(crate) type Then = Box<dyn FnOnce(&Organization) + Send>;

pub(crate) enum Msg {
    Execute(Box<Job>),
    /// A copy of the current state (after catching up).
    Snapshot(oneshot::Sender<Result<(Organization, u64), ServiceError>>),
    /// A question answered from the current state (after catching up).
    Read(Question),
}

/// The state of one organization and the global position of its last event.
struct Loaded {
    state: Organization,
    position: u64,
}

/// Folds the stream's events after `loaded.state.version` into the state.
async fn catch_up(
    store: &dyn EventStore,
    org: OrgId,
    loaded: &mut Loaded,
) -> Result<(), ServiceError> {
    let stream = org.stream();
    let from = loaded.state.version + 1;
    let mut pages = std::pin::pin!(pages_of_stream(store, &stream, from, PAGE));
    while let Some(events) = pages.try_next().await? {
        for e in &events {
            let event = Event::decode(&e.event_type, e.schema_version, &e.data).map_err(|err| {
                ServiceError::Corrupt {
                    at: format!("{} version {}", stream, e.stream_version),
                    reason: err.to_string(),
                }
            })?;
            loaded.state.evolve(&event);
            loaded.position = e.global_position;
        }
    }
    Ok(())
}

/// Rebuilds an organization's state from its whole stream.
pub async fn load(store: &dyn EventStore, org: OrgId) -> Result<(Organization, u64), ServiceError> {
    let mut loaded = Loaded {
        state: Organization::new(),
        position: 0,
    };
    catch_up(store, org, &mut loaded).await?;
    Ok((loaded.state, loaded.position))
}

/// Starts the worker of one organization.
pub(crate) fn spawn(
    org: OrgId,
    store: Arc<dyn EventStore>,
    committer: mpsc::Sender<CommitJob>,
) -> mpsc::Sender<Msg> {
    let (tx, mut rx) = mpsc::channel::<Msg>(1024);
    tokio::spawn(async move {
        let mut loaded: Option<Loaded> = None;
        let mut pending: Vec<Job> = Vec::new();
        while let Some(msg) = rx.recv().await {
            let mut next = Some(msg);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Execute(job) => pending.push(*job),
                    Msg::Snapshot(reply) => {
                        // Commands queued before the snapshot go first.
                        run_batch(org, &*store, &committer, &mut loaded, &mut pending).await;
                        let result = ensure(&*store, org, &mut loaded)
                            .await
                            .map(|l| (l.state.clone(), l.position));
                        let _ = reply.send(result);
                    }
                    Msg::Read(question) => {
                        run_batch(org, &*store, &committer, &mut loaded, &mut pending).await;
                        match ensure(&*store, org, &mut loaded).await {
                            Ok(l) => question(Ok(&l.state)),
                            Err(e) => question(Err(e)),
                        }
                    }
                }
                if pending.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            run_batch(org, &*store, &committer, &mut loaded, &mut pending).await;
        }
    });
    tx
}

/// Loads the state if needed (it is kept current by the worker's own
/// appends and by conflicts).
async fn loaded_state<'a>(
    store: &dyn EventStore,
    org: OrgId,
    loaded: &'a mut Option<Loaded>,
) -> Result<&'a mut Loaded, ServiceError> {
    if loaded.is_none() {
        return ensure(store, org, loaded).await;
    }
    Ok(loaded.as_mut().expect("checked"))
}

/// Loads the state if needed and catches it up with the store.
async fn ensure<'a>(
    store: &dyn EventStore,
    org: OrgId,
    loaded: &'a mut Option<Loaded>,
) -> Result<&'a mut Loaded, ServiceError> {
    let l = match loaded {
        Some(l) => l,
        None => loaded.insert(Loaded {
            state: Organization::new(),
            position: 0,
        }),
    };
    if let Err(e) = catch_up(store, org, l).await {
        *loaded = None;
        return Err(e);
    }
    Ok(loaded.as_mut().expect("just loaded"))
}

/// Decides and commits the pending jobs; answers each of them.
async fn run_batch(
    org: OrgId,
    store: &dyn EventStore,
    committer: &mpsc::Sender<CommitJob>,
    loaded: &mut Option<Loaded>,
    pending: &mut Vec<Job>,
) {
    if pending.is_empty() {
        return;
    }
    let jobs: Vec<Job> = std::mem::take(pending);
    let started = Instant::now();
    let oldest = jobs.iter().map(|j| j.queued).min().unwrap_or(started);
    for attempt in 1..=MAX_ATTEMPTS {
        let l = match loaded_state(store, org, loaded).await {
            Ok(l) => l,
            Err(e) => return fail_all(jobs, e),
        };
        let base_version = l.state.version;
        // Decide each job against the state the previous ones left.
        let mut decided: Vec<Decided> = Vec::with_capacity(jobs.len());
        let mut receipts: Vec<Receipt> = Vec::new();
        let mut new_events = Vec::new();
        for job in &jobs {
            match decide(&l.state, &job.command, &job.metadata.actor) {
                Ok(events) => {
                    let meta = metadata_json(&job.metadata);
                    for e in &events {
                        l.state.evolve(e);
                        new_events.push(envelope(e, &meta));
                    }
                    let answer = job.render.as_ref().map(|render| render(&l.state));
                    if !events.is_empty() && (job.idempotency.is_some() || !job.effects.is_empty())
                    {
                        receipts.push(receipt(
                            &job.idempotency,
                            new_events.len() - 1,
                            answer.as_ref(),
                            job.effects.clone(),
                        ));
                    }
                    decided.push(Ok((events, answer)));
                }
                Err(e) => decided.push(Err(e)),
            }
        }
        // Refusals and no-ops append nothing. In a batch that appends, the
        // append's expected version proves the state they were decided on
        // too (a conflict decides the whole batch again); a batch of only
        // refusals and no-ops is confirmed against the store instead. If
        // another writer moved the stream, the state was stale; reload and
        // decide again.
        if new_events.is_empty() {
            match store.stream_version(&org.stream()).await {
                Ok(v) if v == base_version => {}
                Ok(_) if attempt < MAX_ATTEMPTS => {
                    *loaded = None;
                    continue;
                }
                Ok(_) => {
                    *loaded = None;
                    return fail_all(
                        jobs,
                        ServiceError::Conflict {
                            attempts: MAX_ATTEMPTS,
                        },
                    );
                }
                Err(e) => {
                    *loaded = None;
                    return fail_all(jobs, e.into());
                }
            }
        }
        if new_events.is_empty() {
            let position = l.position;
            for (job, result) in jobs.into_iter().zip(decided) {
                let outcome = result
                    .map_err(ServiceError::Domain)
                    .map(|(events, answer)| Outcome {
                        position,
                        events,
                        answer,
                        answer_kept: false,
                    });
                answer_job(job, outcome, &l.state);
            }
            return;
        }
        let expected = if base_version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(base_version)
        };
        let (reply, answer) = oneshot::channel();
        let events = new_events.len();
        let request = AppendRequest {
            stream: org.stream(),
            expected,
            events: new_events,
            receipts,
        };
        let sent = Instant::now();
        let committed = match committer.send(CommitJob { request, reply }).await {
            Ok(()) => answer
                .await
                .unwrap_or_else(|_| Err(StoreError::backend_without_source("committer stopped"))),
            Err(_) => Err(StoreError::backend_without_source("committer stopped")),
        };
        let done = Instant::now();
        if done - oldest > SLOW {
            tracing::debug!(
                target: "rolebook::slow",
                %org,
                commands = jobs.len(),
                events,
                attempt,
                queued_ms = ms(started - oldest),
                decide_ms = ms(sent - started),
                commit_ms = ms(done - sent),
                "slow command batch"
            );
        }
        match committed {
            Ok(result) => {
                l.position = result.last_position;
                let mut position = result.first_position;
                let mut last = l.position;
                for (job, result) in jobs.into_iter().zip(decided) {
                    let kept = job.idempotency.is_some();
                    let outcome = result
                        .map_err(ServiceError::Domain)
                        .map(|(events, answer)| {
                            let appended = !events.is_empty();
                            if appended {
                                position += events.len() as u64;
                                last = position - 1;
                            }
                            Outcome {
                                position: last,
                                events,
                                answer_kept: kept && appended && answer.is_some(),
                                answer,
                            }
                        });
                    answer_job(job, outcome, &l.state);
                }
                return;
            }
            Err(StoreError::WrongExpectedVersion { .. }) if attempt < MAX_ATTEMPTS => {
                // Someone else (another process on the same log) appended:
                // the speculative state is wrong. Wait a random while,
                // longer at each attempt, so that two writers that keep
                // colliding fall out of step.
                tracing::debug!(%org, attempt, "version conflict; reloading and deciding again");
                *loaded = None;
                tokio::time::sleep(conflict_backoff(attempt)).await;
            }
            Err(e) => {
                *loaded = None;
                let err = match e {
                    StoreError::WrongExpectedVersion { .. } => ServiceError::Conflict {
                        attempts: MAX_ATTEMPTS,
                    },
                    other => ServiceError::Store(other),
                };
                return fail_all(jobs, err);
            }
        }
    }
}

/// A random wait before attempt `attempt + 1` after a conflict: up to
/// 1 ms, 2 ms, 4 ms, ... (64 ms at most).
fn conflict_backoff(attempt: usize) -> Duration {
    use rand::Rng;
    let ceiling = 1_000u64 << attempt.min(6);
    Duration::from_micros(rand::thread_rng().gen_range(0..=ceiling))
}

/// Sends a job its outcome; a successful one first has its question
/// answered from `state` (the state the batch left, as committed).
fn answer_job(job: Job, answer: Result<Outcome, ServiceError>, state: &Organization) {
    if answer.is_ok() {
        if let Some(then) = job.then {
            then(state);
        }
    }
    let _ = job.reply.send(answer);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn fail_all(jobs: Vec<Job>, err: ServiceError) {
    for job in jobs {
        let _ = job.reply.send(Err(err.clone()));
    }
}
