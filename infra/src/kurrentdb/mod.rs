//! The event store on KurrentDB, for clusters, through the `kurrentdb`
//! client (the maintained continuation of `eventstore`).
//!
//! Each rolebook stream is one KurrentDB stream, named
//! `<namespace>:<stream>` (the namespace, `rolebook` by default, lets
//! several stores share one server, and every conformance check start
//! empty). Appends carry the port's expected version as KurrentDB's
//! expected revision (a wrong one is the port's `WrongExpectedVersion`)
//! and the port's event ids as KurrentDB's, so a re-sent append is
//! idempotent. Global positions are `$all` prepare positions plus one
//! ([`position`]); the hash chain and a command's receipt ride in each
//! event's custom metadata ([`envelope`]). A catch-up subscription to
//! `$all` (filtered to the namespace) wakes `wait_for` and keeps the
//! in-memory [`index`] (event ids, kept answers, pending effects) current
//! for every process on the server.
//!
//! What KurrentDB cannot give, and what this store does instead:
//! - **Appends to several streams are not atomic** (the Rust client has
//!   no multi-stream append). `append_all` checks every request's
//!   expected version and ids first and writes nothing if one fails, then
//!   writes stream after stream; a writer racing between the check and
//!   the writes can leave the first streams written (the command service
//!   uses `append_all` only for an organization's creation or rename with
//!   the registry).
//! - **No index of event ids**: the store reads its namespace's events
//!   once when it opens to know every id (and the answers of the last
//!   day, and the effects not yet cleared), then follows the
//!   subscription.
//! - **Kept answers without events** are each a stream
//!   `<namespace>~answer-<hash of principal and key>` written with
//!   "no stream" (the first one wins); cleared effects are recorded in
//!   `<namespace>~effects`. Neither is in `read_all`.

mod envelope;
mod errors;
mod index;
mod position;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::hash::{chain_hash, Hash, GENESIS_HASH};
use domain::store::{
    AppendRequest, AppendResult, EventStore, ExpectedVersion, KeptAnswer, PendingEffect,
    RecordedEvent, StoreError, StoredAnswer, StreamId,
};
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, EventData, ReadAllOptions, ReadStreamOptions,
    StreamPosition, StreamState, SubscribeToAllOptions, SubscriptionFilter,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use uuid::Uuid;

use envelope::StoredReceipt;
use index::Index;

pub use errors::transient;

/// How many times a connection is tried at start before giving up.
const CONNECT_ATTEMPTS: u32 = 6;
/// Events read per request when the store reads its namespace.
const PAGE: usize = 1_000;
/// How many times an append expecting any version retries a lost race
/// for the stream's tail (the hash chain needs the exact previous event).
const TAIL_RACES: usize = 10;

/// The event store on a KurrentDB server or cluster.
pub struct KurrentDbEventStore {
    client: Client,
    namespace: String,
    index: Arc<Mutex<Index>>,
    known: Arc<Mutex<position::Known>>,
    head: watch::Receiver<u64>,
    head_tx: Arc<watch::Sender<u64>>,
    follower: tokio::task::JoinHandle<()>,
}

impl Drop for KurrentDbEventStore {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

/// `url` without its password, to name it in messages.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// The event that records effects cleared.
#[derive(Serialize, Deserialize)]
struct EffectsCleared {
    ids: Vec<Uuid>,
}

impl KurrentDbEventStore {
    /// Connects to `url` (`esdb://`, `kurrentdb://`, `kdb://`, with
    /// `+discover` for a cluster), retrying with backoff while the server
    /// cannot be reached, and reads the namespace's events once (ids,
    /// answers, pending effects). Fails with a one-line error naming the
    /// URL without its password.
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, StoreError> {
        let settings: ClientSettings = url.parse().map_err(|e| {
            StoreError::backend(format!("{}: not a KurrentDB URL", redacted(url)), e)
        })?;
        let client = Client::new(settings)
            .map_err(|e| StoreError::backend_without_source(format!("{}: {e}", redacted(url))))?;
        let mut delay = Duration::from_millis(250);
        let mut attempt = 1;
        loop {
            match client.server_info().await {
                Ok(_) => break,
                Err(e) if attempt < CONNECT_ATTEMPTS && transient(&e) => {
                    tracing::warn!(url = %redacted(url), attempt, "KurrentDB not reachable yet: {e}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                    attempt += 1;
                }
                Err(e) => {
                    return Err(StoreError::backend(
                        format!(
                            "cannot reach KurrentDB at {} after {attempt} attempts",
                            redacted(url)
                        ),
                        e,
                    ))
                }
            }
        }
        let (head_tx, head) = watch::channel(0);
        let mut store = KurrentDbEventStore {
            client,
            namespace: namespace.to_string(),
            index: Arc::default(),
            known: Arc::default(),
            head,
            head_tx: Arc::new(head_tx),
            follower: tokio::spawn(async {}),
        };
        let from = store.load().await?;
        store.follower = tokio::spawn(follow(
            store.client.clone(),
            store.prefix(),
            from,
            store.index.clone(),
            store.known.clone(),
            store.head_tx.clone(),
        ));
        Ok(store)
    }

    /// `<namespace>:`: the prefix of the store's rolebook streams.
    fn prefix(&self) -> String {
        format!("{}:", self.namespace)
    }

    fn name(&self, stream: &StreamId) -> String {
        format!("{}{}", self.prefix(), stream.as_str())
    }

    fn answer_stream(&self, principal: &[u8; 32], key: &str) -> String {
        let mut h = Sha256::new();
        h.update(principal);
        h.update(key.as_bytes());
        format!("{}~answer-{}", self.namespace, hex::encode(h.finalize()))
    }

    fn effects_stream(&self) -> String {
        format!("{}~effects", self.namespace)
    }

    /// Reads every event of the namespace once (ids, receipts) and every
    /// effect cleared; answers the position the follower starts after.
    async fn load(&self) -> Result<Option<kurrentdb::Position>, StoreError> {
        let cleared = self.read_cleared().await?;
        self.index.lock().clear(&cleared);
        // `read_all` indexes what it reads.
        let mut from = 1;
        loop {
            let page = self.read_all(from, PAGE).await?;
            match page.last() {
                Some(last) if page.len() == PAGE => from = last.global_position + 1,
                _ => break,
            }
        }
        Ok(self.known.lock().before(u64::MAX))
    }

    /// Indexes one event read from the log.
    fn take_in(&self, e: &kurrentdb::RecordedEvent) -> Result<RecordedEvent, StoreError> {
        take_in(&self.prefix(), &self.index, &self.known, &self.head_tx, e)
    }

    async fn read_cleared(&self) -> Result<Vec<Uuid>, StoreError> {
        let events = self.read_raw(&self.effects_stream(), 0, usize::MAX).await?;
        Ok(events
            .iter()
            .filter_map(|e| serde_json::from_slice::<EffectsCleared>(&e.data).ok())
            .flat_map(|c| c.ids)
            .collect())
    }

    /// A stream's KurrentDB events from `revision`, at most `limit`
    /// (none for a stream that does not exist).
    async fn read_raw(
        &self,
        name: &str,
        revision: u64,
        limit: usize,
    ) -> Result<Vec<kurrentdb::RecordedEvent>, StoreError> {
        let options = ReadStreamOptions::default()
            .position(StreamPosition::Position(revision))
            .forwards()
            .max_count(limit);
        let context = || format!("read {name}");
        let mut read = match self.client.read_stream(name.to_string(), &options).await {
            Ok(r) => r,
            Err(kurrentdb::Error::ResourceNotFound) => return Ok(vec![]),
            Err(e) => return Err(errors::backend(e, &context())),
        };
        let mut out = Vec::new();
        loop {
            match read.next().await {
                Ok(Some(e)) => out.extend(e.event),
                Ok(None) | Err(kurrentdb::Error::ResourceNotFound) => return Ok(out),
                Err(e) => return Err(errors::backend(e, &context())),
            }
        }
    }

    /// The stream's version and last hash (0 and the genesis for none).
    async fn tail(&self, stream: &StreamId) -> Result<(u64, Hash), StoreError> {
        let name = self.name(stream);
        let options = ReadStreamOptions::default()
            .position(StreamPosition::End)
            .backwards()
            .max_count(1);
        let mut read = match self.client.read_stream(name.clone(), &options).await {
            Ok(r) => r,
            Err(kurrentdb::Error::ResourceNotFound) => return Ok((0, GENESIS_HASH)),
            Err(e) => return Err(errors::backend(e, &format!("read {name}"))),
        };
        match read.next().await {
            Ok(Some(e)) => {
                let (recorded, _) = envelope::decode(stream.clone(), e.get_original_event())?;
                Ok((recorded.stream_version, recorded.hash))
            }
            Ok(None) | Err(kurrentdb::Error::ResourceNotFound) => Ok((0, GENESIS_HASH)),
            Err(e) => Err(errors::backend(e, &format!("read {name}"))),
        }
    }

    /// Checks a request against what is stored, before anything is written:
    /// an idempotent re-send (its original result), a duplicate id, a wrong
    /// version (`Err`), or the version it appends after (`Ok(None)` with
    /// the tail to chain from).
    async fn check(
        &self,
        request: &AppendRequest,
        planned: &HashMap<String, (u64, Hash)>,
    ) -> Result<Result<AppendResult, (u64, Hash)>, StoreError> {
        let events = &request.events;
        if events.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        let mut seen = std::collections::HashSet::with_capacity(events.len());
        if let Some(dup) = events.iter().find(|e| !seen.insert(e.event_id)) {
            return Err(StoreError::DuplicateEventId {
                event_id: dup.event_id,
            });
        }
        // Ids already stored: the same events at one place of this stream
        // (a re-send: its original result), or a duplicate.
        let places: Vec<Option<index::Place>> = {
            let index = self.index.lock();
            events
                .iter()
                .map(|e| index.place(&e.event_id).cloned())
                .collect()
        };
        if places.iter().any(Option::is_some) {
            let name = request.stream.as_str();
            let first = places[0].as_ref();
            let in_order = first.is_some_and(|f| {
                f.stream == name
                    && places.iter().enumerate().all(|(i, p)| {
                        p.as_ref()
                            .is_some_and(|p| p.stream == name && p.version == f.version + i as u64)
                    })
            });
            if !in_order {
                let dup = events
                    .iter()
                    .zip(&places)
                    .find(|(_, p)| p.is_some())
                    .map(|(e, _)| e.event_id)
                    .expect("one is stored");
                return Err(StoreError::DuplicateEventId { event_id: dup });
            }
            let first = first.expect("in order");
            let last = places.last().and_then(|p| p.clone()).expect("in order");
            return Ok(Ok(AppendResult {
                first_position: first.position,
                last_position: last.position,
                stream_version: last.version,
            }));
        }
        let tail = match planned.get(request.stream.as_str()) {
            Some(t) => *t,
            None => self.tail(&request.stream).await?,
        };
        if !request.expected.matches(tail.0) {
            return Err(StoreError::WrongExpectedVersion {
                stream: request.stream.clone(),
                expected: request.expected,
                actual: tail.0,
            });
        }
        Ok(Err(tail))
    }

    /// Writes one request after `tail`, chaining its hashes; reads its
    /// events back for their positions and indexes them.
    async fn write(
        &self,
        request: &AppendRequest,
        tail: (u64, Hash),
    ) -> Result<AppendResult, StoreError> {
        let name = self.name(&request.stream);
        let recorded_at = DateTime::from_timestamp_micros(Utc::now().timestamp_micros())
            .expect("now is in range");
        let mut prev = tail.1;
        let mut sent: Vec<EventData> = Vec::with_capacity(request.events.len());
        for (i, e) in request.events.iter().enumerate() {
            let version = tail.0 + 1 + i as u64;
            let hash = chain_hash(
                &prev,
                &request.stream,
                version,
                &e.event_id,
                &e.event_type,
                e.schema_version,
                &e.data,
                &e.metadata,
                &recorded_at,
            );
            let receipts: Vec<_> = request
                .receipts
                .iter()
                .filter(|r| r.last_event == i)
                .collect();
            let (data, _) = envelope::encode(
                e.event_id,
                &e.event_type,
                e.schema_version,
                &e.data,
                &e.metadata,
                recorded_at,
                &prev,
                &hash,
                StoredReceipt::of(&receipts),
            );
            sent.push(data);
            prev = hash;
        }
        // The chain was computed after `tail`: the write must land right
        // after it, whatever the request expected.
        let state = position::stream_state(ExpectedVersion::Exact(tail.0));
        let options = AppendToStreamOptions::default().stream_state(state);
        self.client
            .append_to_stream(name.clone(), &options, sent)
            .await
            .map_err(|e| {
                errors::store_error(
                    e,
                    &format!("append to {name}"),
                    &request.stream,
                    request.expected,
                )
            })?;
        let written = self.read_raw(&name, tail.0, request.events.len()).await?;
        let mut recorded = Vec::with_capacity(written.len());
        for e in &written {
            recorded.push(self.take_in(e)?);
        }
        match (recorded.first(), recorded.last()) {
            (Some(first), Some(last)) if recorded.len() == request.events.len() => {
                Ok(AppendResult {
                    first_position: first.global_position,
                    last_position: last.global_position,
                    stream_version: last.stream_version,
                })
            }
            _ => Err(StoreError::backend_without_source(format!(
                "KurrentDB: {name}: the events just appended could not be read back"
            ))),
        }
    }

    /// One request: checked, then written (an append expecting any
    /// version retries a lost race for the tail).
    async fn append_one(&self, request: &AppendRequest) -> Result<AppendResult, StoreError> {
        for _ in 0..TAIL_RACES {
            let tail = match self.check(request, &HashMap::new()).await? {
                Ok(original) => return Ok(original),
                Err(tail) => tail,
            };
            match self.write(request, tail).await {
                Err(StoreError::WrongExpectedVersion { .. })
                    if request.expected == ExpectedVersion::Any => {}
                Err(StoreError::WrongExpectedVersion { stream, actual, .. }) => {
                    return Err(StoreError::WrongExpectedVersion {
                        stream,
                        expected: request.expected,
                        actual,
                    })
                }
                other => return other,
            }
        }
        Err(StoreError::backend_without_source(format!(
            "KurrentDB: {}: lost the race for the stream's tail {TAIL_RACES} times",
            request.stream
        )))
    }

    /// The highest global position of the namespace, read from the server.
    async fn read_head(&self) -> Result<u64, StoreError> {
        let options = ReadAllOptions::default()
            .position(StreamPosition::End)
            .backwards()
            .max_count(1)
            .filter(SubscriptionFilter::on_stream_name().add_prefix(self.prefix()));
        let mut read = self
            .client
            .read_all(&options)
            .await
            .map_err(|e| errors::backend(e, "read $all backwards"))?;
        let found = read
            .next()
            .await
            .map_err(|e| errors::backend(e, "read $all backwards"))?;
        Ok(found.map_or(0, |e| position::global(&e.get_original_event().position)))
    }
}

/// Indexes one event of the namespace read from the log (its id, its
/// receipt, its exact position) and moves the head past it.
fn take_in(
    prefix: &str,
    index: &Mutex<Index>,
    known: &Mutex<position::Known>,
    head: &watch::Sender<u64>,
    e: &kurrentdb::RecordedEvent,
) -> Result<RecordedEvent, StoreError> {
    let stream = StreamId::new(e.stream_id().strip_prefix(prefix).unwrap_or(e.stream_id()));
    let (recorded, envelope) = envelope::decode(stream, e)?;
    index.lock().event(&recorded, envelope.receipt.as_ref());
    known.lock().insert(e.position);
    advance(head, recorded.global_position);
    Ok(recorded)
}

/// Moves the head to `position` if it is past it.
fn advance(head: &watch::Sender<u64>, position: u64) {
    head.send_if_modified(|h| {
        let moved = position > *h;
        *h = (*h).max(position);
        moved
    });
}

/// Follows `$all` (the namespace's streams) after `from`: indexes each
/// event and moves the head, resubscribing with backoff when the
/// subscription drops.
async fn follow(
    client: Client,
    prefix: String,
    mut from: Option<kurrentdb::Position>,
    index: Arc<Mutex<Index>>,
    known: Arc<Mutex<position::Known>>,
    head: Arc<watch::Sender<u64>>,
) {
    let mut delay = Duration::from_millis(100);
    loop {
        let options = SubscribeToAllOptions::default()
            .position(from.map_or(StreamPosition::Start, StreamPosition::Position))
            .filter(SubscriptionFilter::on_stream_name().add_prefix(&prefix));
        let mut subscription = client.subscribe_to_all(&options).await;
        loop {
            match subscription.next().await {
                Ok(e) => {
                    delay = Duration::from_millis(100);
                    let e = e.get_original_event();
                    if let Err(err) = take_in(&prefix, &index, &known, &head, e) {
                        tracing::error!("KurrentDB follower: {err}");
                    }
                    from = Some(e.position);
                }
                Err(e) => {
                    tracing::warn!("KurrentDB subscription dropped: {e}; resubscribing");
                    break;
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

#[async_trait]
impl EventStore for KurrentDbEventStore {
    async fn append_each(
        &self,
        batch: Vec<AppendRequest>,
    ) -> Vec<Result<AppendResult, StoreError>> {
        let mut results = Vec::with_capacity(batch.len());
        for request in &batch {
            results.push(self.append_one(request).await);
        }
        results
    }

    async fn append_all(&self, batch: Vec<AppendRequest>) -> Result<Vec<AppendResult>, StoreError> {
        // Every request checked first (the versions the batch's earlier
        // requests leave, ids across the whole batch): nothing is written
        // if one fails.
        let mut planned: HashMap<String, (u64, Hash)> = HashMap::new();
        let mut ids = std::collections::HashSet::new();
        let mut plan = Vec::with_capacity(batch.len());
        for request in &batch {
            if let Some(dup) = request.events.iter().find(|e| !ids.insert(e.event_id)) {
                return Err(StoreError::DuplicateEventId {
                    event_id: dup.event_id,
                });
            }
            match self.check(request, &planned).await? {
                Ok(original) => plan.push(Ok(original)),
                Err(tail) => {
                    // The hash after this request is known only once it is
                    // written; later requests to the same stream re-read it.
                    planned.insert(
                        request.stream.as_str().to_string(),
                        (tail.0 + request.events.len() as u64, tail.1),
                    );
                    plan.push(Err(tail.0));
                }
            }
        }
        let mut results = Vec::with_capacity(batch.len());
        for (request, planned) in batch.iter().zip(plan) {
            results.push(match planned {
                Ok(original) => original,
                Err(checked) => {
                    // Written only where it was checked: a writer that
                    // came in between makes it a conflict.
                    let tail = self.tail(&request.stream).await?;
                    if tail.0 != checked {
                        return Err(StoreError::WrongExpectedVersion {
                            stream: request.stream.clone(),
                            expected: request.expected,
                            actual: tail.0,
                        });
                    }
                    self.write(request, tail).await?
                }
            });
        }
        Ok(results)
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let raw = self
            .read_raw(
                &self.name(stream),
                position::revision_from(from_version),
                limit,
            )
            .await?;
        raw.iter()
            .map(|e| envelope::decode(stream.clone(), e).map(|(r, _)| r))
            .filter(|r| {
                r.as_ref()
                    .map_or(true, |r| r.stream_version >= from_version)
            })
            .collect()
    }

    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out = Vec::new();
        let mut cursor = from_position.max(1);
        let page = PAGE.max(limit.saturating_add(1)).min(10 * PAGE);
        loop {
            // From the newest event known before the cursor (reads are
            // inclusive: it comes back first, and is skipped).
            let from = self
                .known
                .lock()
                .before(cursor)
                .map_or(StreamPosition::Start, StreamPosition::Position);
            let options = ReadAllOptions::default()
                .position(from)
                .forwards()
                .max_count(page)
                .filter(SubscriptionFilter::on_stream_name().add_prefix(self.prefix()));
            let mut read = self
                .client
                .read_all(&options)
                .await
                .map_err(|e| errors::backend(e, "read $all"))?;
            let (mut n, mut moved) = (0, false);
            while let Some(e) = read
                .next()
                .await
                .map_err(|e| errors::backend(e, "read $all"))?
            {
                n += 1;
                let e = e.get_original_event();
                self.known.lock().insert(e.position);
                if position::global(&e.position) < cursor {
                    continue;
                }
                let recorded = self.take_in(e)?;
                cursor = recorded.global_position + 1;
                moved = true;
                out.push(recorded);
                if out.len() == limit {
                    return Ok(out);
                }
            }
            if n < page || !moved && n <= 1 {
                return Ok(out);
            }
        }
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
        Ok(self.tail(stream).await?.0)
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let head = self.read_head().await?;
        advance(&self.head_tx, head);
        Ok(head)
    }

    async fn wait_for(&self, position: u64, timeout: Duration) -> Result<u64, StoreError> {
        let mut head = self.head.clone();
        let now = *head.borrow();
        if now >= position {
            return Ok(now);
        }
        let reached = tokio::time::timeout(timeout, async {
            head.wait_for(|h| *h >= position).await.map(|h| *h)
        })
        .await;
        match reached {
            Ok(Ok(h)) => Ok(h),
            // Timed out (or the follower is gone): the server's own word.
            _ => self.head_position().await,
        }
    }

    async fn find_answer(
        &self,
        principal: &[u8; 32],
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        if let Some(found) = self.index.lock().answer(principal, key, since) {
            return Ok(Some(found));
        }
        // Kept alone, perhaps by another process.
        let kept = self
            .read_raw(&self.answer_stream(principal, key), 0, 1)
            .await?;
        Ok(kept.first().and_then(|e| {
            let answer: KeptAlone = serde_json::from_slice(&e.data).ok()?;
            let kept_at = DateTime::from_timestamp_micros(answer.kept_at)?;
            let sealed = hex::decode(answer.sealed).ok()?;
            (kept_at >= since).then_some(StoredAnswer {
                position: None,
                sealed,
                kept_at,
            })
        }))
    }

    async fn keep_answer(&self, answer: KeptAnswer) -> Result<bool, StoreError> {
        if self
            .index
            .lock()
            .answer(&answer.principal, &answer.key, DateTime::<Utc>::MIN_UTC)
            .is_some()
        {
            return Ok(false);
        }
        let kept_at = DateTime::from_timestamp_micros(Utc::now().timestamp_micros())
            .expect("now is in range");
        let name = self.answer_stream(&answer.principal, &answer.key);
        let body = KeptAlone {
            sealed: hex::encode(&answer.sealed),
            kept_at: kept_at.timestamp_micros(),
        };
        let event = EventData::binary(
            "AnswerKept",
            serde_json::to_vec(&body).expect("serializes").into(),
        );
        let options = AppendToStreamOptions::default().stream_state(StreamState::NoStream);
        match self
            .client
            .append_to_stream(name.clone(), &options, event)
            .await
        {
            Ok(_) => Ok(self.index.lock().keep(answer, None, kept_at)),
            Err(kurrentdb::Error::WrongExpectedVersion { .. }) => Ok(false),
            Err(e) => Err(errors::backend(e, &format!("append to {name}"))),
        }
    }

    async fn forget_answers(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        // The log keeps them; they are no longer found (and not loaded
        // again: `find_answer` asks for answers kept since a day ago).
        Ok(self.index.lock().forget(before))
    }

    async fn pending_effects(&self) -> Result<Vec<PendingEffect>, StoreError> {
        Ok(self.index.lock().pending())
    }

    async fn clear_effects(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let name = self.effects_stream();
        let body = EffectsCleared { ids: ids.to_vec() };
        let event = EventData::binary(
            "EffectsCleared",
            serde_json::to_vec(&body).expect("serializes").into(),
        );
        self.client
            .append_to_stream(name.clone(), &AppendToStreamOptions::default(), event)
            .await
            .map_err(|e| errors::backend(e, &format!("append to {name}")))?;
        self.index.lock().clear(ids);
        Ok(())
    }
}

/// An answer kept without events, in its own stream.
#[derive(Serialize, Deserialize)]
struct KeptAlone {
    sealed: String,
    kept_at: i64,
}
