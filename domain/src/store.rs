//! The `EventStore` port: what every event-store backend (SQLite, PostgreSQL,
//! KurrentDB) provides, and the envelope types that cross it.
//!
//! The port is storage-agnostic and free of I/O itself; adapters live in the
//! `infra` crate and are all checked by the same conformance suite
//! (`infra::conformance`).

use std::ops::ControlFlow;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::hash::{chain_hash, Hash, GENESIS_HASH};

/// The name of a stream: `org-<uuid>` for an organization, `registry` for the
/// list of organizations.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct StreamId(pub String);

impl StreamId {
    pub fn new(name: impl Into<String>) -> Self {
        StreamId(name.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the writer believes the stream's current version is.
///
/// Stream versions start at 1 for the first event; a stream with no events is
/// at version 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the version is (no concurrency check).
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have exactly this version.
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream currently at `current` (0 = no events) satisfies this.
    pub fn matches(self, current: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current == 0,
            ExpectedVersion::Exact(v) => v == current,
        }
    }
}

/// An event on its way into the store. `data` and `metadata` are JSON text;
/// the store keeps these exact bytes and hashes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub data: String,
    pub metadata: String,
}

/// An event as stored, with its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub global_position: u64,
    pub stream_id: StreamId,
    pub stream_version: u64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub data: String,
    pub metadata: String,
    pub recorded_at: DateTime<Utc>,
    pub prev_hash: Hash,
    pub hash: Hash,
}

impl RecordedEvent {
    /// Recomputes this event's hash from its content and `prev_hash`.
    pub fn computed_hash(&self) -> Hash {
        chain_hash(
            &self.prev_hash,
            &self.stream_id,
            self.stream_version,
            &self.event_id,
            &self.event_type,
            self.schema_version,
            &self.data,
            &self.metadata,
            &self.recorded_at,
        )
    }
}

/// One stream's append inside a batch.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub stream: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    /// What the commands behind these events leave beside them, written in
    /// the same transaction (and not at all if the request fails).
    pub receipts: Vec<Receipt>,
}

impl AppendRequest {
    /// A request with no receipts.
    pub fn new(stream: StreamId, expected: ExpectedVersion, events: Vec<NewEvent>) -> Self {
        AppendRequest {
            stream,
            expected,
            events,
            receipts: Vec::new(),
        }
    }
}

/// What one command leaves beside its events, in their transaction: the
/// answer its caller was given (when the caller sent an `Idempotency-Key`)
/// and the work that must follow the commit (the outbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The index, in the request's `events`, of the command's last event:
    /// the answer is kept with that event's global position.
    pub last_event: usize,
    pub answer: Option<KeptAnswer>,
    pub effects: Vec<PendingEffect>,
}

/// A command's answer, sealed by the caller (the store never sees it in
/// the clear), found again by the caller's principal and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptAnswer {
    /// A hash that names the caller (never a secret itself).
    pub principal: [u8; 32],
    /// The caller's `Idempotency-Key`.
    pub key: String,
    /// The sealed answer.
    pub sealed: Vec<u8>,
}

/// How long a kept answer is found again: a re-send after this is a new
/// command.
pub const ANSWERS_KEPT_FOR: Duration = Duration::from_secs(24 * 3600);

/// A kept answer as found again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    /// The global position of the command's last event, when the answer
    /// was kept with the events ([`Receipt`]); `None` when it was kept on
    /// its own ([`EventStore::keep_answer`]).
    pub position: Option<u64>,
    pub sealed: Vec<u8>,
    pub kept_at: DateTime<Utc>,
}

/// Work that must follow a commit (e.g. a credentials change), kept in the
/// commit's transaction and removed once done, so a crash in between
/// leaves it to be done at the next start. Its payload is opaque to the
/// store and must hold no secret in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEffect {
    pub id: Uuid,
    pub payload: String,
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// Global position of the first appended event.
    pub first_position: u64,
    /// Global position of the last appended event (the consistency token).
    pub last_position: u64,
    /// The stream's version after the append.
    pub stream_version: u64,
}

/// The underlying error of a backend failure (the driver's), shared so
/// that a [`StoreError`] can be handed to every command of a batch.
pub type BackendSource = std::sync::Arc<dyn std::error::Error + Send + Sync>;

/// Why an append or read failed.
#[derive(Debug, thiserror::Error, Clone)]
pub enum StoreError {
    /// The stream was not at the expected version; nothing was written.
    #[error("stream {stream} is at version {actual}, expected {expected:?}")]
    WrongExpectedVersion {
        stream: StreamId,
        expected: ExpectedVersion,
        actual: u64,
    },
    /// Some event ids of the request are already stored, but not as the exact
    /// same sequence at the same place: not an idempotent retry.
    #[error("event {event_id} already stored elsewhere; not an idempotent retry")]
    DuplicateEventId { event_id: Uuid },
    /// An append request carried no events.
    #[error("an append needs at least one event")]
    EmptyAppend,
    /// The backend failed (I/O, connection, corruption): what was being
    /// done, and the driver's error when there is one (downcast it to tell
    /// a busy database from a full disk).
    #[error("event store backend: {context}")]
    Backend {
        context: String,
        #[source]
        source: Option<BackendSource>,
    },
}

impl StoreError {
    /// A backend failure while doing `context`, caused by `source`.
    pub fn backend(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError::Backend {
            context: context.into(),
            source: Some(std::sync::Arc::new(source)),
        }
    }

    /// A backend failure with no underlying error (a corrupt value).
    pub fn backend_without_source(context: impl Into<String>) -> StoreError {
        StoreError::Backend {
            context: context.into(),
            source: None,
        }
    }
}

/// Errors are equal when they say the same (a backend's source by its
/// message).
impl PartialEq for StoreError {
    fn eq(&self, other: &StoreError) -> bool {
        use StoreError::*;
        match (self, other) {
            (
                WrongExpectedVersion {
                    stream,
                    expected,
                    actual,
                },
                WrongExpectedVersion {
                    stream: s,
                    expected: e,
                    actual: a,
                },
            ) => stream == s && expected == e && actual == a,
            (DuplicateEventId { event_id }, DuplicateEventId { event_id: e }) => event_id == e,
            (EmptyAppend, EmptyAppend) => true,
            (
                Backend { context, source },
                Backend {
                    context: c,
                    source: s,
                },
            ) => {
                context == c
                    && source.as_ref().map(|e| e.to_string()) == s.as_ref().map(|e| e.to_string())
            }
            _ => false,
        }
    }
}

impl Eq for StoreError {}

/// The event-store port. Implementations must be safe for concurrent use.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends every request of the batch in **one transaction**, checking each
    /// request's expected version on its own: a request that conflicts gets
    /// its error and writes nothing, the others commit (group commit).
    /// Re-sending the same event ids at the same place is idempotent and
    /// returns the original positions.
    async fn append_each(&self, batch: Vec<AppendRequest>)
        -> Vec<Result<AppendResult, StoreError>>;

    /// Appends every request of the batch in one transaction, all or nothing:
    /// if any request fails, none is written and the first error is returned.
    async fn append_all(&self, batch: Vec<AppendRequest>) -> Result<Vec<AppendResult>, StoreError>;

    /// Events of one stream with `stream_version >= from_version`, in order,
    /// at most `limit`.
    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Events of all streams with `global_position >= from_position`, in
    /// global order, at most `limit`. Never skips an event that commits later
    /// with a lower position.
    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The current version of a stream (0 if it has no events).
    async fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError>;

    /// The highest global position committed (0 if the store is empty).
    async fn head_position(&self) -> Result<u64, StoreError>;

    /// Waits until an event at `position` or later has committed, or until
    /// `timeout` passes. Returns the head position seen last.
    async fn wait_for(&self, position: u64, timeout: Duration) -> Result<u64, StoreError>;

    /// The answer kept for `(principal, key)` at `since` or later, if any.
    async fn find_answer(
        &self,
        principal: &[u8; 32],
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<StoredAnswer>, StoreError>;

    /// Keeps the answer of a command that appended nothing (a no-op, a
    /// login). Returns `false`, keeping nothing, if an answer for the same
    /// principal and key is already kept (the first one wins).
    async fn keep_answer(&self, answer: KeptAnswer) -> Result<bool, StoreError>;

    /// Forgets the answers kept before `before`; returns how many.
    async fn forget_answers(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// The pending effects of committed commands, oldest first.
    async fn pending_effects(&self) -> Result<Vec<PendingEffect>, StoreError>;

    /// Removes pending effects once they are done (unknown ids are ignored).
    async fn clear_effects(&self, ids: &[Uuid]) -> Result<(), StoreError>;

    /// Appends to one stream (a batch of one).
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        let mut results = self
            .append_each(vec![AppendRequest::new(stream.clone(), expected, events)])
            .await;
        results.pop().unwrap_or(Err(StoreError::EmptyAppend))
    }
}

/// The log in global order as a stream of pages of at most `page` events,
/// from `from` up to and including `to` (the head if `None`): the one way
/// to read a range of the log page by page. Ends after a short page (the
/// head as it was then) or at `to`.
pub fn pages_of_all(
    store: &dyn EventStore,
    from: u64,
    to: Option<u64>,
    page: usize,
) -> impl futures::Stream<Item = Result<Vec<RecordedEvent>, StoreError>> + Send + '_ {
    futures::stream::try_unfold(Some(from), move |from| async move {
        let Some(from) = from.filter(|from| to.is_none_or(|to| *from <= to)) else {
            return Ok(None);
        };
        let mut events = store.read_all(from, page).await?;
        let full = events.len() == page;
        if let Some(to) = to {
            events.retain(|e| e.global_position <= to);
        }
        let next = events.last().map(|last| last.global_position + 1);
        Ok(next.map(|next| (events, full.then_some(next))))
    })
}

/// Folds `pages` into `state` with `work`, reading the next page while
/// `work` runs on the current one: the one way the log is read ahead of
/// the work done on it (work that blocks belongs on a blocking thread
/// inside `work`'s future, so that the read makes progress meanwhile).
/// `work` ends the fold early with [`ControlFlow::Break`]; a read error
/// ends it with that error, after the page before it was worked on.
pub async fn fold_pages<S, A, E, W, F>(pages: S, state: A, mut work: W) -> Result<A, E>
where
    S: futures::Stream<Item = Result<Vec<RecordedEvent>, StoreError>>,
    E: From<StoreError>,
    W: FnMut(A, Vec<RecordedEvent>) -> F,
    F: std::future::Future<Output = Result<ControlFlow<A, A>, E>>,
{
    use futures::StreamExt;
    let mut pages = std::pin::pin!(pages);
    let mut state = state;
    let mut next = pages.next().await;
    while let Some(page) = next {
        let page = page?;
        let (following, done) = futures::future::join(pages.next(), work(state, page)).await;
        state = match done? {
            ControlFlow::Continue(state) => state,
            ControlFlow::Break(state) => return Ok(state),
        };
        next = following;
    }
    Ok(state)
}

/// One stream's events in version order as a stream of pages of at most
/// `page` events, from version `from`. Ends after a short page.
pub fn pages_of_stream<'a>(
    store: &'a dyn EventStore,
    stream: &'a StreamId,
    from: u64,
    page: usize,
) -> impl futures::Stream<Item = Result<Vec<RecordedEvent>, StoreError>> + Send + 'a {
    futures::stream::try_unfold(Some(from), move |from| async move {
        let Some(from) = from else {
            return Ok(None);
        };
        let events = store.read_stream(stream, from, page).await?;
        let full = events.len() == page;
        let next = events.last().map(|last| last.stream_version + 1);
        Ok(next.map(|next| (events, full.then_some(next))))
    })
}

/// Checks one stream's events (in version order) against the hash chain:
/// returns the version of the first event whose `prev_hash` or `hash` is wrong,
/// or whose version does not follow its predecessor.
pub fn first_broken_link(
    events: &[RecordedEvent],
    mut prev: Hash,
    mut prev_version: u64,
) -> Option<u64> {
    for e in events {
        if e.stream_version != prev_version + 1
            || e.prev_hash != prev
            || e.computed_hash() != e.hash
        {
            return Some(e.stream_version.max(prev_version + 1));
        }
        prev = e.hash;
        prev_version = e.stream_version;
    }
    None
}

/// The hash a stream starts from.
pub fn genesis() -> Hash {
    GENESIS_HASH
}
