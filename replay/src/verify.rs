//! `replay verify`: recomputes the hash chain of every stream (or of one) and
//! checks the log's contiguity, naming the first broken link of each stream.
//!
//! Checked, event by event, in global order (or, for one stream, in version
//! order):
//!
//! - versions run 1, 2, ... n in each stream, with no gap, repeat or
//!   reordering (`unexpected_version`), and global positions strictly
//!   increase (`out_of_order`); with gap-free positions (the SQLite store
//!   assigns them so) a missing global position is listed in
//!   `missing_positions`;
//! - each event's `prev_hash` is its predecessor's `hash`
//!   (`prev_hash_mismatch`) and its `hash` is the SHA-256 of its content
//!   (`hash_mismatch`);
//! - no event id appears twice (`duplicate_event_id`);
//! - against what the store recorded for each stream (its version and last
//!   hash, when the backend exposes them: [`Recorded`]): no event past the
//!   recorded end (`unrecorded_event`), the last event is the recorded one
//!   (`tail_mismatch`), no recorded event is missing at the end
//!   (`truncated`), no stream without a record (`unknown_stream`) and no
//!   record without events (`missing_stream`).
//!
//! Only a stream's first broken link is reported: after it, the chain means
//! nothing. The check is bounded by the head position read when it starts,
//! so appends committed meanwhile are not mistaken for tampering.
//!
//! Limits: a chain has no outside anchor, so someone who rewrites the events
//! *and* recomputes every later hash *and* the store's stream records cannot
//! be detected from the database alone.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use domain::hash::{to_hex, Hash, GENESIS_HASH};
use domain::store::{
    fold_pages, pages_of_all, pages_of_stream, EventStore, RecordedEvent, StreamId,
};
use indicatif::ProgressBar;
use rusqlite::OpenFlags;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use uuid::Uuid;

use crate::ReplayError;

/// Events read per page.
const PAGE: usize = 10_000;

/// At most this many missing global positions are listed (all are counted).
const MISSING_LISTED: usize = 100;

/// What the store recorded for a stream: the version and hash of its last
/// event (SQLite's `streams` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHead {
    pub version: u64,
    pub last_hash: Hash,
}

/// The store's own record of the log, read in one transaction: the head
/// position and every stream's head.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub head_position: u64,
    pub streams: HashMap<StreamId, StreamHead>,
}

/// Reads the head position and the `streams` table of an SQLite event store
/// file, read-only and in one read transaction (a consistent pair).
pub fn sqlite_recorded(events_db: &Path) -> Result<Recorded, ReplayError> {
    let what = format!("reading the stream records of {}", events_db.display());
    let mut conn = rusqlite::Connection::open_with_flags(
        events_db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(ReplayError::db(what.clone()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(ReplayError::db(what.clone()))?;
    let tx = conn.transaction().map_err(ReplayError::db(what.clone()))?;
    let head: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(global_position), 0) FROM events",
            [],
            |r| r.get(0),
        )
        .map_err(ReplayError::db(what.clone()))?;
    let mut streams = HashMap::new();
    {
        let mut stmt = tx
            .prepare("SELECT stream_id, version, last_hash FROM streams")
            .map_err(ReplayError::db(what.clone()))?;
        let mut rows = stmt.query([]).map_err(ReplayError::db(what.clone()))?;
        while let Some(row) = rows.next().map_err(ReplayError::db(what.clone()))? {
            let stream: String = row.get(0).map_err(ReplayError::db(what.clone()))?;
            let version: i64 = row.get(1).map_err(ReplayError::db(what.clone()))?;
            let hash: Vec<u8> = row.get(2).map_err(ReplayError::db(what.clone()))?;
            let last_hash: Hash = hash.as_slice().try_into().unwrap_or([0xff; 32]);
            streams.insert(
                StreamId(stream),
                StreamHead {
                    version: u64::try_from(version).unwrap_or(0),
                    last_hash,
                },
            );
        }
    }
    Ok(Recorded {
        head_position: u64::try_from(head).unwrap_or(0),
        streams,
    })
}

/// What to verify and against what.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Only this stream (in version order); `None`: the whole log in global
    /// order.
    pub stream: Option<StreamId>,
    /// The store's record of streams, checked against the events; `None`
    /// when the backend has none to offer.
    pub recorded: Option<Recorded>,
    /// Global positions have no gaps (the SQLite store assigns them so): a
    /// missing one is reported. Only for the whole log.
    pub gap_free_positions: bool,
    /// Segments the whole log is checked in, in parallel (`None`: two per
    /// core, for logs of 100,000 events or more).
    pub segments: Option<u64>,
}

impl VerifyOptions {
    /// For the SQLite store in `events_db`: gap-free positions and its
    /// stream records.
    pub fn sqlite(events_db: &Path, stream: Option<StreamId>) -> Result<Self, ReplayError> {
        Ok(VerifyOptions {
            stream,
            recorded: Some(sqlite_recorded(events_db)?),
            gap_free_positions: true,
            segments: None,
        })
    }
}

/// Why a link is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The event's content does not hash to its stored `hash` (edited).
    HashMismatch,
    /// The event's `prev_hash` is not its predecessor's `hash` (an event
    /// before it was removed, inserted or replaced).
    PrevHashMismatch,
    /// The stream's next version is not the one found here (removed,
    /// repeated or reordered events).
    UnexpectedVersion,
    /// Global positions do not increase with the stream's versions.
    OutOfOrder,
    /// An event id appears a second time.
    DuplicateEventId,
    /// An event past the end the store recorded for the stream.
    UnrecordedEvent,
    /// The stream's last event is not the one the store recorded.
    TailMismatch,
    /// The store recorded more events than the log holds.
    Truncated,
    /// Events of a stream the store has no record of.
    UnknownStream,
    /// A stream the store recorded, without any event.
    MissingStream,
}

/// The first broken link of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    pub stream: StreamId,
    /// The first version that is not as it should be.
    pub version: u64,
    /// The global position of the stored event where the chain breaks;
    /// `None` when that event is missing at the end of the stream.
    pub position: Option<u64>,
    pub kind: BreakKind,
    pub detail: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Every chain intact and the log contiguous.
    pub ok: bool,
    /// Streams seen.
    pub streams: u64,
    /// Events checked.
    pub events: u64,
    /// The earliest broken link (by global position).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<Break>,
    /// The first broken link of each broken stream, by global position.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub broken: Vec<Break>,
    /// Global positions missing from the log (gap-free stores only); the
    /// first 100.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_positions: Vec<u64>,
    /// How many global positions are missing.
    #[serde(skip_serializing_if = "is_zero")]
    pub missing_position_count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Below this many events the log is checked as one segment.
const MIN_SEGMENT: u64 = 50_000;

/// Verifies the log (or one stream) read through `store`; `bar` shows the
/// events checked. Fails only when the store cannot be read; a broken chain
/// is a report with `ok: false`.
///
/// The whole log is checked in segments of global positions, one per core
/// (two per core: reading and hashing overlap), each on its own connection;
/// the segments' chains are then linked at their seams, so the report is
/// the one a single pass in global order gives.
pub async fn verify(
    store: Arc<dyn EventStore>,
    options: VerifyOptions,
    bar: &ProgressBar,
) -> Result<Report, ReplayError> {
    let head = match &options.recorded {
        Some(r) => r.head_position,
        None => store.head_position().await?,
    };
    let total = match (&options.stream, &options.recorded) {
        (Some(s), Some(r)) => r.streams.get(s).map_or(0, |h| h.version),
        (Some(s), None) => store.stream_version(s).await?,
        (None, _) => head,
    };
    bar.set_length(total);
    let options = Arc::new(options);

    let segments = if options.stream.is_some() {
        vec![(1, head)]
    } else {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let count = options
            .segments
            .unwrap_or((2 * cores).min(head / MIN_SEGMENT))
            .max(1);
        let size = head.div_ceil(count).max(1);
        (0..count)
            .map(|k| (k * size + 1, ((k + 1) * size).min(head)))
            .filter(|(from, to)| from <= to)
            .collect::<Vec<_>>()
    };
    let segments = if segments.is_empty() {
        vec![(1, head)]
    } else {
        segments
    };
    let tasks: Vec<_> = segments
        .iter()
        .enumerate()
        .map(|(k, (from, to))| {
            let checker = Checker::new(options.clone(), k == 0, *from, *to);
            tokio::spawn(check_segment(store.clone(), checker, bar.clone()))
        })
        .collect();
    let mut checked = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(result) => checked.push(result?),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => return Err(ReplayError::Invalid(format!("verify task: {e}"))),
        }
    }
    let report = merge(store.as_ref(), &options, checked, head).await?;
    bar.finish();
    Ok(report)
}

/// Reads one segment (global positions `from..=to`, or the whole stream)
/// and checks it; the next page is read while the last one is hashed.
async fn check_segment(
    store: Arc<dyn EventStore>,
    checker: Checker,
    bar: ProgressBar,
) -> Result<Checker, ReplayError> {
    let to = checker.to;
    let stream = checker.options.stream.clone();
    let work = move |mut checker: Checker, mut page: Vec<RecordedEvent>| {
        let bar = bar.clone();
        async move {
            // Appends committed after the check started are not part of
            // it, nor are the next segment's events.
            page.retain(|e| e.global_position <= to);
            let task = tokio::task::spawn_blocking(move || {
                for e in &page {
                    checker.check(e);
                }
                bar.inc(page.len() as u64);
                checker
            });
            join(task).await.map(ControlFlow::Continue)
        }
    };
    match &stream {
        Some(s) => fold_pages(pages_of_stream(&*store, s, 1, PAGE), checker, work).await,
        None => {
            let from = checker.from;
            fold_pages(pages_of_all(&*store, from, Some(to), PAGE), checker, work).await
        }
    }
}

async fn join(task: tokio::task::JoinHandle<Checker>) -> Result<Checker, ReplayError> {
    match task.await {
        Ok(c) => Ok(c),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(ReplayError::Invalid(format!("verify task: {e}"))),
    }
}

/// The first event of a stream in a segment other than the first: its link
/// to the previous segment is checked when the segments are merged.
struct Seam {
    version: u64,
    prev_hash: Hash,
    position: u64,
}

/// Where a stream's chain stands within a segment.
struct Link {
    seam: Option<Seam>,
    version: u64,
    hash: Hash,
    position: u64,
    /// The stream's first broken link in this segment.
    broken: Option<Break>,
}

/// Checks the events of one segment of the log in global order (or of one
/// stream in version order).
struct Checker {
    options: Arc<VerifyOptions>,
    /// The first segment: streams start at the genesis hash.
    first: bool,
    from: u64,
    to: u64,
    streams: FxHashMap<StreamId, Link>,
    /// Event ids seen, with their positions.
    ids: FxHashMap<Uuid, u64>,
    last_position: u64,
    events: u64,
    missing: Vec<u64>,
    missing_count: u64,
}

impl Checker {
    fn new(options: Arc<VerifyOptions>, first: bool, from: u64, to: u64) -> Self {
        Checker {
            options,
            first,
            from,
            to,
            streams: FxHashMap::default(),
            ids: FxHashMap::default(),
            last_position: from.saturating_sub(1),
            events: 0,
            missing: Vec::new(),
            missing_count: 0,
        }
    }

    fn note_missing(&mut self, range: std::ops::Range<u64>) {
        for p in range {
            if self.missing.len() < MISSING_LISTED {
                self.missing.push(p);
            }
            self.missing_count += 1;
        }
    }

    fn check(&mut self, e: &RecordedEvent) {
        self.events += 1;
        let whole_log = self.options.stream.is_none();
        if whole_log
            && self.options.gap_free_positions
            && e.global_position > self.last_position + 1
        {
            self.note_missing(self.last_position + 1..e.global_position);
        }
        let duplicate_id = self.ids.insert(e.event_id, e.global_position).is_some();
        let global_out_of_order = whole_log && e.global_position <= self.last_position;
        self.last_position = self.last_position.max(e.global_position);
        let head = self
            .options
            .recorded
            .as_ref()
            .map(|r| r.streams.get(&e.stream_id));
        let new = !self.streams.contains_key(&e.stream_id);
        if new {
            // In a later segment the first event's link is checked at the
            // merge; here it stands as the start of the segment's chain.
            let seam = (!self.first).then_some(Seam {
                version: e.stream_version,
                prev_hash: e.prev_hash,
                position: e.global_position,
            });
            self.streams.insert(
                e.stream_id.clone(),
                Link {
                    version: if seam.is_some() {
                        e.stream_version.saturating_sub(1)
                    } else {
                        0
                    },
                    hash: if seam.is_some() {
                        e.prev_hash
                    } else {
                        GENESIS_HASH
                    },
                    position: 0,
                    seam,
                    broken: None,
                },
            );
        }
        let link = self
            .streams
            .get_mut(&e.stream_id)
            .expect("inserted just above");
        if link.broken.is_some() {
            return;
        }
        let expected = link.version + 1;
        let problem = if head == Some(None) {
            Some((
                BreakKind::UnknownStream,
                expected,
                format!("the store has no record of stream {}", e.stream_id),
            ))
        } else if e.stream_version != expected {
            Some((
                BreakKind::UnexpectedVersion,
                expected,
                version_detail(expected, e.stream_version),
            ))
        } else if global_out_of_order || (link.position > 0 && e.global_position <= link.position) {
            Some((
                BreakKind::OutOfOrder,
                link.version.max(1),
                format!(
                    "version {} is at position {}, not after version {} at position {}",
                    e.stream_version, e.global_position, link.version, link.position
                ),
            ))
        } else if e.prev_hash != link.hash {
            Some((
                BreakKind::PrevHashMismatch,
                expected,
                prev_detail(&e.prev_hash, link.version, &link.hash),
            ))
        } else if e.computed_hash() != e.hash {
            Some((
                BreakKind::HashMismatch,
                expected,
                format!(
                    "the content hashes to {}, not to the stored {}",
                    to_hex(&e.computed_hash()),
                    to_hex(&e.hash)
                ),
            ))
        } else if duplicate_id {
            Some((
                BreakKind::DuplicateEventId,
                expected,
                format!("event id {} appears a second time", e.event_id),
            ))
        } else {
            match head.flatten() {
                Some(h) if e.stream_version > h.version => Some((
                    BreakKind::UnrecordedEvent,
                    expected,
                    format!(
                        "the store recorded the stream's end at version {}",
                        h.version
                    ),
                )),
                Some(h) if e.stream_version == h.version && e.hash != h.last_hash => Some((
                    BreakKind::TailMismatch,
                    expected,
                    format!(
                        "the store recorded the last hash {}, found {}",
                        to_hex(&h.last_hash),
                        to_hex(&e.hash)
                    ),
                )),
                _ => None,
            }
        };
        match problem {
            Some((kind, version, detail)) => {
                // An out-of-order pair is reported at its first event.
                let position = if kind == BreakKind::OutOfOrder && link.position > 0 {
                    link.position
                } else {
                    e.global_position
                };
                link.broken = Some(Break {
                    stream: e.stream_id.clone(),
                    version,
                    position: Some(position),
                    kind,
                    detail,
                });
            }
            None => {
                link.version = e.stream_version;
                link.hash = e.hash;
                link.position = e.global_position;
            }
        }
    }
}

fn version_detail(expected: u64, found: u64) -> String {
    if found > expected {
        format!(
            "expected version {expected}, found version {found}: versions {expected}..{} are missing here",
            found - 1
        )
    } else {
        format!("expected version {expected}, found version {found} again")
    }
}

fn prev_detail(prev_hash: &Hash, version: u64, hash: &Hash) -> String {
    format!(
        "prev_hash {} is not the hash of version {version} ({})",
        to_hex(prev_hash),
        to_hex(hash)
    )
}

/// Where a stream's chain stands across the segments merged so far.
struct Merged {
    version: u64,
    hash: Hash,
    broken: bool,
}

/// Links the segments' chains at their seams, in order, and checks the
/// streams' ends against the store's records.
async fn merge(
    store: &dyn EventStore,
    options: &VerifyOptions,
    segments: Vec<Checker>,
    head: u64,
) -> Result<Report, ReplayError> {
    let mut streams: FxHashMap<StreamId, Merged> = FxHashMap::default();
    let mut breaks: Vec<Break> = Vec::new();
    let mut missing = Vec::new();
    let mut missing_count = 0;
    let mut events = 0;
    let mut ids: FxHashSet<Uuid> = FxHashSet::default();
    let mut duplicates: Vec<u64> = Vec::new();
    let last = segments.len().saturating_sub(1);
    for (k, mut seg) in segments.into_iter().enumerate() {
        if options.stream.is_none() && options.gap_free_positions && seg.to > seg.last_position {
            seg.note_missing(seg.last_position + 1..seg.to + 1);
        }
        if k == last && options.stream.is_none() && options.gap_free_positions && head > seg.to {
            seg.note_missing(seg.to + 1..head + 1);
        }
        events += seg.events;
        missing_count += seg.missing_count;
        for p in seg.missing {
            if missing.len() < MISSING_LISTED {
                missing.push(p);
            }
        }
        // Event ids already seen in an earlier segment.
        if k > 0 {
            duplicates.extend(
                seg.ids
                    .iter()
                    .filter(|(id, _)| ids.contains(*id))
                    .map(|(_, p)| *p),
            );
        }
        if k < last {
            ids.extend(seg.ids.into_keys());
        }
        let mut names: Vec<StreamId> = seg.streams.keys().cloned().collect();
        names.sort();
        for name in names {
            let link = seg.streams.remove(&name).expect("listed just above");
            let merged = streams.entry(name.clone()).or_insert(Merged {
                version: 0,
                hash: GENESIS_HASH,
                broken: false,
            });
            if merged.broken {
                continue;
            }
            if let Some(seam) = &link.seam {
                let expected = merged.version + 1;
                let problem = if seam.version != expected {
                    Some((
                        BreakKind::UnexpectedVersion,
                        version_detail(expected, seam.version),
                    ))
                } else if seam.prev_hash != merged.hash {
                    Some((
                        BreakKind::PrevHashMismatch,
                        prev_detail(&seam.prev_hash, merged.version, &merged.hash),
                    ))
                } else {
                    None
                };
                // An unknown stream is reported as such wherever it starts.
                let unknown = link
                    .broken
                    .as_ref()
                    .is_some_and(|b| b.kind == BreakKind::UnknownStream);
                if let (Some((kind, detail)), false) = (problem, unknown) {
                    merged.broken = true;
                    breaks.push(Break {
                        stream: name.clone(),
                        version: expected,
                        position: Some(seam.position),
                        kind,
                        detail,
                    });
                    continue;
                }
            }
            if let Some(b) = link.broken {
                merged.broken = true;
                breaks.push(b);
                continue;
            }
            merged.version = link.version;
            merged.hash = link.hash;
        }
    }
    // A duplicate across segments: the later event breaks its stream unless
    // the stream broke earlier.
    for position in duplicates {
        let Some(e) = store.read_all(position, 1).await?.into_iter().next() else {
            continue;
        };
        let dup = Break {
            stream: e.stream_id.clone(),
            version: e.stream_version,
            position: Some(position),
            kind: BreakKind::DuplicateEventId,
            detail: format!("event id {} appears a second time", e.event_id),
        };
        match breaks.iter_mut().find(|b| b.stream == e.stream_id) {
            Some(b) if b.position.is_some_and(|p| p > position) => *b = dup,
            Some(_) => {}
            None => breaks.push(dup),
        }
    }
    if let Some(recorded) = &options.recorded {
        let mut records: Vec<(&StreamId, &StreamHead)> = match &options.stream {
            Some(s) => recorded.streams.get_key_value(s).into_iter().collect(),
            None => recorded.streams.iter().collect(),
        };
        records.sort_by(|a, b| a.0.cmp(b.0));
        for (stream, h) in records {
            match streams.get(stream) {
                None => breaks.push(Break {
                    stream: stream.clone(),
                    version: 1,
                    position: None,
                    kind: BreakKind::MissingStream,
                    detail: format!(
                        "the store recorded {} events, the log holds none",
                        h.version
                    ),
                }),
                Some(m) if !m.broken && m.version < h.version => breaks.push(Break {
                    stream: stream.clone(),
                    version: m.version + 1,
                    position: None,
                    kind: BreakKind::Truncated,
                    detail: format!(
                        "the store recorded version {}, the log ends at version {}",
                        h.version, m.version
                    ),
                }),
                Some(_) => {}
            }
        }
    }
    breaks.sort_by_key(|b| (b.position.unwrap_or(u64::MAX), b.stream.clone()));
    Ok(Report {
        ok: breaks.is_empty() && missing_count == 0,
        streams: streams.len() as u64,
        events,
        first: breaks.first().cloned(),
        broken: breaks,
        missing_positions: missing,
        missing_position_count: missing_count,
    })
}
