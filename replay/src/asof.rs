//! The state of an organization as of a past moment.
//!
//! **Which clock.** A moment is compared with each event's
//! `metadata.occurred_at` — when the command was issued, the timestamp the
//! audit log shows — not with the store's `recorded_at` (when the batch
//! committed, microseconds to seconds later, and a property of the store
//! rather than of the organization). An auditor who sees an entry at 14:03
//! and asks for the state as of 14:03 gets a state that includes it.
//!
//! **Which events.** The state as of `T` folds the stream's longest prefix
//! whose events all occurred at or before `T`: folding stops at the first
//! event that occurred after `T`. With timestamps that never go back along a
//! stream this is exactly "every event with `occurred_at <= T`"; where they
//! do go back (commands decided in another order than their clocks read, a
//! clock step), an event is counted only once everything before it in the
//! stream is, so the answer is always a state the organization really was
//! in, never a reordering of its history.
//!
//! **Snapshots.** With [`Snapshots`], folding starts from the latest
//! snapshot whose events all occurred at or before `T`, after checking it
//! against the chain (the event at its version must still have its hash;
//! a snapshot that fails is discarded with every later one of the stream),
//! and stores the snapshots it passes on the way. Every event folded is
//! checked against the chain too: a broken link fails the replay
//! ([`ReplayError::BrokenChain`]) rather than answer from a tampered log.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::hash::{Hash, GENESIS_HASH};
use domain::ids::OrgId;
use domain::store::{EventStore, RecordedEvent, StreamId};
use domain::{Event, Organization};
use indicatif::ProgressBar;

use crate::snapshots::{self, SnapshotMeta, Snapshots};
use crate::{blocking, ReplayError};

/// Events read per page when folding from the start of the stream (no
/// usable snapshot): the first page is small, then pages grow fourfold up
/// to `PAGE`.
const PAGE: usize = 10_000;
const FIRST_PAGE: usize = 1_000;
/// Events read per page after a snapshot: the fold ends within a snapshot
/// interval, somewhere the log does not say in advance, so the pages stay
/// this small (each read while the one before is folded) instead of
/// growing: at most this many events are read and checked past the moment
/// asked for (with pages of 10,000, an answer 5,000 events after its
/// snapshot read and hashed twice the events it needed).
const AFTER_SNAPSHOT_PAGE: usize = 1_000;

/// An organization's state as of a moment, and where in its stream that is.
#[derive(Debug, Clone)]
pub struct AsOf {
    pub org: OrgId,
    /// The moment asked for.
    pub at: DateTime<Utc>,
    /// The state after the last event folded (`Organization::new()`, with
    /// `exists() == false`, before the organization was created).
    pub state: Organization,
    /// The stream version of the last event folded (0: none).
    pub version: u64,
    /// Its global position (0: none).
    pub position: u64,
    /// Its chain hash (the genesis hash when none).
    pub hash: Hash,
    /// When it occurred.
    pub occurred_at: Option<DateTime<Utc>>,
    /// The snapshot the fold started from, if any.
    pub snapshot: Option<SnapshotMeta>,
    /// Events folded after the snapshot (or from the start).
    pub events_folded: u64,
    /// Snapshots stored on the way.
    pub snapshots_written: u64,
    /// Snapshots found stale (no longer matching the chain) and deleted.
    pub snapshots_discarded: u64,
}

/// The state of `org` as of `at` (see the module docs for which events
/// count), from the latest usable snapshot when `snapshots` is given.
///
/// Fails when the store cannot be read, when an event to fold does not link
/// into the hash chain ([`ReplayError::BrokenChain`]) or cannot be decoded,
/// or when the snapshots table cannot be read or written.
pub async fn as_of(
    store: &dyn EventStore,
    snapshots: Option<&Snapshots>,
    org: OrgId,
    at: DateTime<Utc>,
) -> Result<AsOf, ReplayError> {
    as_of_with_progress(store, snapshots, org, at, &crate::progress::hidden()).await
}

/// [`as_of`], advancing `bar` by the events folded.
pub async fn as_of_with_progress(
    store: &dyn EventStore,
    snapshots: Option<&Snapshots>,
    org: OrgId,
    at: DateTime<Utc>,
    bar: &ProgressBar,
) -> Result<AsOf, ReplayError> {
    let stream = org.stream();
    let mut fold = Fold::genesis(stream.clone());
    let mut used = None;
    let mut discarded = 0;
    let mut head_start: Option<(Vec<RecordedEvent>, Vec<Prepared>)> = None;
    if let Some(snaps) = snapshots {
        while let Some(meta) = snaps.latest(&stream, at).await? {
            let version = meta.version;
            let last = match vouch(store, &meta).await? {
                Ok(last) => last,
                Err(reason) => {
                    tracing::warn!(%stream, version, %reason, "stale snapshot discarded with the later ones");
                    discarded += snaps.discard_from(&stream, version).await?;
                    continue;
                }
            };
            // The state is decoded (or copied) while the events after it
            // are read and prepared: only `evolve` waits for both.
            let load = async {
                match snaps.load(&meta).await? {
                    Ok(state) if state.version == version => {
                        // A copy to fold onto (the decoded one may be shared).
                        blocking(move || Ok(Ok(Arc::unwrap_or_clone(state)))).await
                    }
                    Ok(_) => Ok(Err("the snapshot holds another version".to_string())),
                    Err(reason) => Ok(Err(reason)),
                }
            };
            let ahead = async {
                let page = store
                    .read_stream(&stream, version + 1, AFTER_SNAPSHOT_PAGE)
                    .await?;
                blocking(move || {
                    let prepared = prepare_all(&page);
                    Ok((page, prepared))
                })
                .await
            };
            let (loaded, ahead) = tokio::join!(load, ahead);
            match loaded? {
                Ok(state) => {
                    fold = Fold::from_snapshot(&meta, state, occurred_at(&last)?);
                    head_start = Some(ahead?);
                    used = Some(meta);
                    break;
                }
                Err(reason) => {
                    tracing::warn!(%stream, version, %reason, "undecodable snapshot discarded");
                    discarded += u64::from(snaps.discard(&stream, version).await?);
                }
            }
        }
    }
    let every = snapshots.filter(|s| s.writes()).map(Snapshots::interval);
    let mut written = 0;
    let grow = head_start.is_none();
    let (mut page_size, mut next, mut next_prepared) = match head_start {
        Some((page, prepared)) => (AFTER_SNAPSHOT_PAGE, page, Some(prepared)),
        None => (
            FIRST_PAGE,
            store
                .read_stream(&stream, fold.version + 1, FIRST_PAGE)
                .await?,
            None,
        ),
    };
    loop {
        let page = std::mem::take(&mut next);
        let prepared = next_prepared.take();
        let full = page.len() == page_size;
        // Read the next page while this one is folded, unless the fold is
        // bound to stop within this one.
        let ahead = match page.last() {
            Some(last) if full && occurred_at(last).is_ok_and(|t| t <= at) => {
                Some(last.stream_version + 1)
            }
            _ => None,
        };
        if grow {
            page_size = (page_size * 4).min(PAGE);
        }
        let task = tokio::task::spawn_blocking(move || {
            let mut fold = fold;
            let prepared = prepared.unwrap_or_else(|| prepare_all(&page));
            let outcome = fold.page(&page, prepared, at, every);
            (fold, outcome)
        });
        let read_ahead = match ahead {
            Some(from) => Some(store.read_stream(&stream, from, page_size).await),
            None => None,
        };
        let (back, outcome) = match task.await {
            Ok(done) => done,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => return Err(ReplayError::Invalid(format!("replay task: {e}"))),
        };
        fold = back;
        let (stopped, due) = outcome?;
        bar.set_position(fold.folded);
        if let (Some(snaps), false) = (snapshots, due.is_empty()) {
            written += due.len() as u64;
            snaps.save(due).await?;
        }
        if stopped || !full {
            break;
        }
        next = match read_ahead {
            Some(page) => page?,
            None => {
                store
                    .read_stream(&stream, fold.version + 1, page_size)
                    .await?
            }
        };
    }
    Ok(AsOf {
        org,
        at,
        version: fold.version,
        position: fold.position,
        hash: fold.hash,
        occurred_at: fold.last_occurred_at,
        events_folded: fold.folded,
        state: fold.state,
        snapshot: used,
        snapshots_written: written,
        snapshots_discarded: discarded,
    })
}

/// Checks a snapshot against the chain: the event at its version must still
/// be there with its position and hash, and hash to it. Returns that event,
/// or (`Err`) why not.
async fn vouch(
    store: &dyn EventStore,
    meta: &SnapshotMeta,
) -> Result<Result<RecordedEvent, String>, ReplayError> {
    let mut page = store.read_stream(&meta.stream, meta.version, 1).await?;
    let verdict = match page.first() {
        None => Err(format!("the stream no longer has version {}", meta.version)),
        Some(e) if e.stream_version != meta.version => Err(format!(
            "the stream has version {} where version {} was",
            e.stream_version, meta.version
        )),
        Some(e) if e.hash != meta.hash => Err(format!(
            "the event at version {} has hash {}, the snapshot was taken at {}",
            meta.version,
            domain::hash::to_hex(&e.hash),
            domain::hash::to_hex(&meta.hash)
        )),
        Some(e) if e.global_position != meta.position => Err(format!(
            "the event at version {} is at position {}, the snapshot says {}",
            meta.version, e.global_position, meta.position
        )),
        Some(e) if e.computed_hash() != e.hash => Err(format!(
            "the event at version {} does not hash to its stored hash",
            meta.version
        )),
        Some(_) => Ok(page.remove(0)),
    };
    Ok(verdict)
}

/// When an event occurred (its metadata's `occurred_at`).
pub fn occurred_at(e: &RecordedEvent) -> Result<DateTime<Utc>, ReplayError> {
    #[derive(serde::Deserialize)]
    struct When {
        occurred_at: DateTime<Utc>,
    }
    serde_json::from_str::<When>(&e.metadata)
        .map(|w| w.occurred_at)
        .map_err(|err| ReplayError::Undecodable {
            stream: e.stream_id.clone(),
            version: e.stream_version,
            position: e.global_position,
            reason: format!("metadata: {err}"),
        })
}

/// A fold in progress, with the chain link it stands on.
struct Fold {
    stream: StreamId,
    state: Organization,
    version: u64,
    hash: Hash,
    position: u64,
    max_occurred_at: Option<DateTime<Utc>>,
    last_occurred_at: Option<DateTime<Utc>>,
    folded: u64,
}

impl Fold {
    fn genesis(stream: StreamId) -> Self {
        Fold {
            stream,
            state: Organization::new(),
            version: 0,
            hash: GENESIS_HASH,
            position: 0,
            max_occurred_at: None,
            last_occurred_at: None,
            folded: 0,
        }
    }

    fn from_snapshot(meta: &SnapshotMeta, state: Organization, last: DateTime<Utc>) -> Self {
        Fold {
            stream: meta.stream.clone(),
            state,
            version: meta.version,
            hash: meta.hash,
            position: meta.position,
            max_occurred_at: Some(meta.max_occurred_at),
            last_occurred_at: Some(last),
            folded: 0,
        }
    }

    fn broken(&self, e: &RecordedEvent, reason: String) -> ReplayError {
        ReplayError::BrokenChain {
            stream: self.stream.clone(),
            version: self.version + 1,
            position: e.global_position,
            reason,
        }
    }

    /// Folds the page's events up to the first that occurred after `at`.
    /// Returns whether it stopped there, and the snapshots due (every
    /// `every` versions) encoded.
    #[allow(clippy::type_complexity)]
    fn page(
        &mut self,
        page: &[RecordedEvent],
        prepared: Vec<Prepared>,
        at: DateTime<Utc>,
        every: Option<u64>,
    ) -> Result<(bool, Vec<(SnapshotMeta, Vec<u8>)>), ReplayError> {
        let mut due = Vec::new();
        for (e, p) in page.iter().zip(prepared) {
            let when = p.when?;
            if when > at {
                return Ok((true, due));
            }
            if e.stream_version != self.version + 1 {
                return Err(self.broken(
                    e,
                    format!(
                        "expected version {}, found {}",
                        self.version + 1,
                        e.stream_version
                    ),
                ));
            }
            if e.prev_hash != self.hash {
                return Err(self.broken(e, "prev_hash is not the previous event's hash".into()));
            }
            if !p.hash_ok {
                return Err(self.broken(e, "the event does not hash to its stored hash".into()));
            }
            let event = p.event.map_err(|err| ReplayError::Undecodable {
                stream: e.stream_id.clone(),
                version: e.stream_version,
                position: e.global_position,
                reason: err.to_string(),
            })?;
            self.state.evolve(&event);
            self.version = e.stream_version;
            self.hash = e.hash;
            self.position = e.global_position;
            self.max_occurred_at = Some(self.max_occurred_at.map_or(when, |m| m.max(when)));
            self.last_occurred_at = Some(when);
            self.folded += 1;
            if let Some(every) = every {
                if self.version.is_multiple_of(every) {
                    due.push((
                        SnapshotMeta {
                            stream: self.stream.clone(),
                            version: self.version,
                            position: self.position,
                            hash: self.hash,
                            max_occurred_at: self.max_occurred_at.unwrap_or(when),
                        },
                        snapshots::encode(&mut self.state),
                    ));
                }
            }
        }
        Ok((false, due))
    }
}

/// What can be worked out for each event on its own, before the fold.
struct Prepared {
    when: Result<DateTime<Utc>, ReplayError>,
    hash_ok: bool,
    event: Result<Event, domain::events::DecodeError>,
}

fn prepare(e: &RecordedEvent) -> Prepared {
    Prepared {
        when: occurred_at(e),
        hash_ok: e.computed_hash() == e.hash,
        event: Event::decode(&e.event_type, e.schema_version, &e.data),
    }
}

/// Below this many events a page is prepared on one thread.
const PARALLEL_FROM: usize = 512;

/// Prepares a page's events (hash check, timestamp, decode: most of a
/// fold's work) on every core; only `evolve` must then run in order.
fn prepare_all(page: &[RecordedEvent]) -> Vec<Prepared> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if threads < 2 || page.len() < PARALLEL_FROM {
        return page.iter().map(prepare).collect();
    }
    let chunk = page.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = page
            .chunks(chunk)
            .map(|c| scope.spawn(move || c.iter().map(prepare).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}
