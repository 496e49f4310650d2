//! `replay rebuild`: rebuilds projections from position 0 into a new
//! generation beside the live one, then switches over in one transaction.
//!
//! **Generations.** Each projection is rebuilt into its own SQLite file in the
//! data dir, `rolebook.rebuild-<name>.db`, by the ordinary projection runner
//! ([`Runner`]: each page and its checkpoint in one transaction), so the
//! `Projection` trait needs no change and the live database sees no write
//! until the switch. Interrupted (Ctrl-C, `Options::stop_at`, an error), the next
//! run resumes from the generation's checkpoint (`--fresh` starts over).
//!
//! **Scratch files.** A generation has no readers until the switch, so it
//! is written as a scratch database (`projections::db::open_scratch`: a
//! rollback journal, each page written once, no fsync per commit: faster
//! than WAL). A run marks each generation it writes
//! (`<generation>.writing`, holding the machine's boot id) and, however it
//! ends short of a crash, flushes the file to disk and removes the mark. A
//! run that finds a mark resumes that generation from its checkpoint if
//! only the process died (same boot: SIGKILL, the OOM killer), and starts
//! it over if the machine restarted, since a machine crash may have torn it.
//!
//! **Bulk.** A generation 100,000 events or more behind the head
//! (`runner::BULK_GAP`) is first caught up the projection's own bulk way
//! (`Runner::catch_up_backlog`: the RBAC tables folded in memory and written
//! once, the audit log inserted without its costly indexes), up to the head;
//! then page by page (50,000 events per transaction).
//!
//! **How far.** The generation is built up to the live projection's
//! checkpoint, read again at every page: a `serve` that keeps applying new
//! events to the live tables then continues from exactly where the rebuilt
//! tables stand after the switch, and no event is applied twice or skipped.
//! ([`Target::Head`] builds up to the head instead: only for a data dir no
//! server is using.) A bulk catch-up goes to the head, past a live
//! checkpoint that lags by less than `BULK_GAP`: the switch then waits (up
//! to a minute) for the live runner to get there.
//!
//! **The live runner during the switch.** The switch holds the live
//! database's write lock while it copies (seconds for millions of rows);
//! the live runner's next commit waits for it, up to its connection's busy
//! timeout (30 s in `projections::db::open`).
//!
//! **Switch.** With the generation attached to the live database, one
//! `BEGIN IMMEDIATE` transaction (which holds the live runner's next commit
//! back) catches the generation up to the live checkpoint if it moved, then
//! drops each of the projection's live tables, recreates it from the
//! generation's schema, copies the rows, recreates its indexes and sets the
//! live checkpoint. Readers (WAL) see the old tables until the commit and the
//! new ones after it; a failure rolls everything back. The generation file is
//! deleted afterwards.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::store::{fold_pages, pages_of_all, EventStore, RecordedEvent};
use indicatif::ProgressBar;
use projections::access::SharedAccessModel;
use projections::audit::AuditProjection;
use projections::rbac::RbacProjection;
use projections::runner::{self, Decoded, Projection, ProjectionError, Runner};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::{blocking, ReplayError};

pub mod postgres;

/// Log entries per transaction of a generation. A generation has no readers
/// to keep waiting, and a larger transaction writes each b-tree page it
/// touches once rather than once per page of events.
const PAGE: usize = 50_000;

/// Which projection to rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Which {
    Rbac,
    Audit,
}

impl Which {
    /// `rbac`, `audit` or `all`.
    pub fn parse(s: &str) -> Option<Vec<Which>> {
        match s {
            "rbac" => Some(vec![Which::Rbac]),
            "audit" => Some(vec![Which::Audit]),
            "all" => Some(vec![Which::Rbac, Which::Audit]),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Which::Rbac => "rbac",
            Which::Audit => "audit",
        }
    }
}

/// How far to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Up to the live projection's checkpoint (safe while `serve` runs).
    LiveCheckpoint,
    /// Up to the head of the log; the live checkpoint is set to it. Only for
    /// a data dir that no running server applies projections to.
    Head,
}

/// Options of a rebuild.
#[derive(Debug, Clone)]
pub struct Options {
    pub target: Target,
    /// Discard an unfinished generation instead of resuming it.
    pub fresh: bool,
    /// Set to stop after the current page (resumable).
    pub stop: Arc<AtomicBool>,
    /// Build only up to this position, then stop without switching (as if
    /// interrupted there): rebuilding in windows.
    pub stop_at: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            target: Target::LiveCheckpoint,
            fresh: false,
            stop: Arc::new(AtomicBool::new(false)),
            stop_at: None,
        }
    }
}

/// What a rebuild did for one projection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rebuilt {
    pub projection: Which,
    /// Where the generation started (its checkpoint when resumed, else 0).
    pub resumed_from: u64,
    /// The position the rebuilt tables stand at.
    pub position: u64,
    /// Events applied by this run (decoded organization events).
    pub events: u64,
    /// Whether the generation replaced the live tables.
    pub switched: bool,
    /// Rows copied into the live tables at the switch.
    pub rows: u64,
    pub switch_ms: f64,
}

/// The outcome of a rebuild.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub projections: Vec<Rebuilt>,
    /// Log entries read (all streams) by this run.
    pub read: u64,
    pub seconds: f64,
    /// `read` per second of the build phase.
    pub events_per_second: f64,
    /// Stopped before the end; running again resumes.
    pub interrupted: bool,
}

/// The generation file of a projection in a data dir.
pub fn generation_path(data_dir: &Path, which: Which) -> PathBuf {
    data_dir.join(format!("rolebook.rebuild-{}.db", which.name()))
}

/// A projection being rebuilt, bound to its generation file.
enum Gen {
    Rbac(Runner<RbacProjection>),
    Audit(Runner<AuditProjection>),
}

impl Gen {
    fn open(which: Which, path: &Path) -> Result<Gen, ProjectionError> {
        Ok(match which {
            Which::Rbac => Gen::Rbac(Runner::open_scratch(
                RbacProjection::new(SharedAccessModel::default()),
                path,
            )?),
            Which::Audit => Gen::Audit(Runner::open_scratch(AuditProjection::new(), path)?),
        })
    }

    fn position(&self) -> u64 {
        match self {
            Gen::Rbac(r) => r.position(),
            Gen::Audit(r) => r.position(),
        }
    }

    /// Catches a long backlog up to the head in bulk, the projection's own
    /// way (`Backlog`: the RBAC tables folded in memory and written once,
    /// the audit log inserted without its costly indexes).
    /// `progress` hears the position of each page read.
    async fn bulk(
        self,
        store: &dyn EventStore,
        progress: &runner::Progress<'_>,
    ) -> Result<Gen, ProjectionError> {
        let gap = runner::BULK_GAP;
        Ok(match self {
            Gen::Rbac(r) => Gen::Rbac(r.catch_up_backlog_reporting(store, gap, progress).await?),
            Gen::Audit(r) => Gen::Audit(r.catch_up_backlog_reporting(store, gap, progress).await?),
        })
    }

    /// Whether a backlog up to `head` is caught up in bulk.
    fn wants_bulk(&self, head: u64) -> bool {
        match self {
            Gen::Rbac(r) => r.wants_bulk(head, runner::BULK_GAP),
            Gen::Audit(r) => r.wants_bulk(head, runner::BULK_GAP),
        }
    }

    /// Applies the events after this generation's position, with `last` as
    /// the new checkpoint.
    fn apply(&mut self, events: &[Decoded], last: u64) -> Result<(), ProjectionError> {
        if last <= self.position() {
            return Ok(());
        }
        let from = self.position();
        let skip = events.partition_point(|d| d.record.global_position <= from);
        match self {
            Gen::Rbac(r) => r.apply_page(&events[skip..], last),
            Gen::Audit(r) => r.apply_page(&events[skip..], last),
        }
    }
}

/// Warm-up needs `&mut P`, which `Runner` does not lend: the projection is
/// warmed before it is bound, as the runner itself does.
fn open_warmed(
    which: Which,
    path: &Path,
    store: &Arc<dyn EventStore>,
    handle: &tokio::runtime::Handle,
) -> Result<Gen, ReplayError> {
    let what = format!("opening {}", path.display());
    let conn = projections::db::open_scratch(path).map_err(ReplayError::db(what))?;
    let checkpoint = runner::checkpoint(&conn, which.name())?;
    drop(conn);
    // Both projections keep names or access in memory: warm them up to
    // the checkpoint, as the runner does at start-up.
    if checkpoint == 0 {
        return Ok(Gen::open(which, path)?);
    }
    let warming = (
        RbacProjection::new(SharedAccessModel::default()),
        AuditProjection::new(),
    );
    let pages = pages_of_all(&**store, 1, Some(checkpoint), runner::BATCH);
    let (rbac, audit) = handle.block_on(fold_pages(
        pages,
        warming,
        |(mut rbac, mut audit), page| async move {
            let decoded = runner::decode(page)?;
            match which {
                Which::Rbac => rbac.warm(&decoded)?,
                Which::Audit => audit.warm(&decoded)?,
            }
            Ok::<_, ReplayError>(ControlFlow::Continue((rbac, audit)))
        },
    ))?;
    Ok(match which {
        Which::Rbac => Gen::Rbac(Runner::open_scratch(rbac, path)?),
        Which::Audit => Gen::Audit(Runner::open_scratch(audit, path)?),
    })
}

/// The live projection's checkpoint (0 if it never ran).
fn live_checkpoint(live: &Path, which: Which) -> Result<u64, ReplayError> {
    let conn = projections::db::open(live)
        .map_err(ReplayError::db(format!("opening {}", live.display())))?;
    Ok(runner::checkpoint(&conn, which.name())?)
}

/// Holds the data dir's rebuild lock while alive (an exclusive SQLite lock
/// on `rolebook.rebuild.lock`, released by the OS if the process dies).
struct Lock {
    _conn: Connection,
}

fn lock(data_dir: &Path) -> Result<Lock, ReplayError> {
    let path = data_dir.join("rolebook.rebuild.lock");
    let what = format!("locking {}", path.display());
    let conn = Connection::open(&path).map_err(ReplayError::db(what.clone()))?;
    conn.busy_timeout(Duration::ZERO)
        .map_err(ReplayError::db(what.clone()))?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(ReplayError::db(what.clone()))?;
    match conn.execute_batch("BEGIN EXCLUSIVE") {
        Ok(()) => Ok(Lock { _conn: conn }),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::DatabaseBusy =>
        {
            Err(ReplayError::Busy(data_dir.display().to_string()))
        }
        Err(e) => Err(ReplayError::db(what)(e)),
    }
}

/// Marks a generation as being written while it lives.
///
/// A generation is a scratch database (`projections::db::open_scratch`: no
/// fsync per commit), which a machine crash can leave damaged, but a
/// process that is killed cannot: its writes are in the kernel's page
/// cache, and SQLite's hot journal rolls back the transaction it was in.
/// While a generation is written, `<generation>.writing` holds the
/// machine's boot id (Linux's `/proc/sys/kernel/random/boot_id`); when the
/// run ends in any way but a crash (finished, interrupted, or failed with
/// an error), the file is flushed to disk and the marker removed. A run
/// that finds a marker resumes the generation from its checkpoint when the
/// machine has not restarted since (the last run was killed, e.g. by
/// SIGKILL or the OOM killer), and starts it over otherwise (or where
/// there is no boot id to compare).
struct Writing {
    path: PathBuf,
    marker: PathBuf,
}

/// What a marker left by a run that did not end cleanly says.
#[derive(Debug, PartialEq, Eq)]
enum LeftBehind {
    /// No marker: the last run ended cleanly (or there was none).
    Nothing,
    /// Same boot: the process died, the machine did not; the generation's
    /// committed pages are intact.
    KilledProcess,
    /// Another boot, or no boot id: the machine may have lost pages.
    MaybeTorn,
}

impl LeftBehind {
    fn of(marker: &Path) -> LeftBehind {
        match std::fs::read_to_string(marker) {
            Err(_) => LeftBehind::Nothing,
            Ok(boot) => match boot_id() {
                Some(now) if !now.is_empty() && boot.trim() == now => LeftBehind::KilledProcess,
                _ => LeftBehind::MaybeTorn,
            },
        }
    }
}

/// This boot of the machine, where the kernel says (Linux); `None`
/// elsewhere.
fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
}

impl Writing {
    /// Starts writing the generation at `path`, removing it first when
    /// `fresh` or when the machine may have crashed while the last run
    /// wrote it.
    fn begin(path: &Path, fresh: bool) -> Result<Writing, ReplayError> {
        let marker = marker_path(path);
        let left = LeftBehind::of(&marker);
        if !fresh && path.exists() {
            match left {
                LeftBehind::Nothing => {}
                LeftBehind::KilledProcess => tracing::warn!(
                    generation = %path.display(),
                    "the last rebuild writing this generation was killed; resuming from its checkpoint"
                ),
                LeftBehind::MaybeTorn => tracing::warn!(
                    generation = %path.display(),
                    "the last rebuild writing this generation did not end cleanly and the machine restarted since (a crash?); starting it over"
                ),
            }
        }
        if fresh || left == LeftBehind::MaybeTorn {
            remove_generation(path)?;
        }
        std::fs::write(&marker, boot_id().unwrap_or_default()).map_err(|source| {
            ReplayError::Io {
                context: format!("creating {}", marker.display()),
                source,
            }
        })?;
        Ok(Writing {
            path: path.to_path_buf(),
            marker,
        })
    }
}

impl Drop for Writing {
    /// Runs after the generation's connection is gone (see `rebuild`):
    /// what it wrote reaches the disk before the marker goes.
    fn drop(&mut self) {
        let synced = match std::fs::File::open(&self.path) {
            Ok(file) => file.sync_all().is_ok(),
            // Switched over and removed.
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        };
        if synced {
            let _ = std::fs::remove_file(&self.marker);
        }
    }
}

fn marker_path(generation: &Path) -> PathBuf {
    PathBuf::from(format!("{}.writing", generation.display()))
}

/// Removes a generation's files (its marker last).
fn remove_generation(path: &Path) -> Result<(), ReplayError> {
    let marker = marker_path(path);
    let files = ["", "-journal", "-wal", "-shm"]
        .map(|suffix| PathBuf::from(format!("{}{suffix}", path.display())));
    for file in files.iter().chain([&marker]) {
        match std::fs::remove_file(file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ReplayError::Io {
                    context: format!("removing {}", file.display()),
                    source,
                })
            }
        }
    }
    Ok(())
}

/// Rebuilds `which` projections of the data dir (event store `store`,
/// read-model database `rolebook.db`): each catches a long backlog up in
/// bulk on its own, then the rest is read once for all of them.
/// `bar` shows the entries read, with their rate.
///
/// Fails when the store or a database cannot be read or written, when an
/// event cannot be applied (the generation stays at the page before it),
/// when another rebuild holds the lock, or when a resumed generation is
/// ahead of the live checkpoint (`--fresh` starts over).
pub async fn rebuild(
    store: Arc<dyn EventStore>,
    data_dir: &Path,
    which: &[Which],
    options: Options,
    bar: &ProgressBar,
) -> Result<Report, ReplayError> {
    let _lock = lock(data_dir)?;
    let live = projections::db::path_in(data_dir);
    // The markers are declared first, so that they are dropped after the
    // generations' connections.
    let (_writing, gens) = open_generations(&store, data_dir, which, &options).await?;

    let head = store.head_position().await?;
    let target_of = |w: Which| -> Result<u64, ReplayError> {
        match options.target {
            Target::Head => Ok(head),
            Target::LiveCheckpoint => live_checkpoint(&live, w),
        }
    };
    let mut targets = gens
        .iter()
        .map(|(w, _, _)| target_of(*w))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let (gens, bulk_read) = bulk_catch_up(&store, gens, &targets, head, &options, bar).await?;
    let mut built = Built {
        read: bulk_read,
        applied: gens.iter().map(|(_, g, r)| g.position() - r).collect(),
        gens,
        interrupted: false,
    };
    follow(&store, &mut built, &mut targets, &target_of, &options, bar).await?;
    let seconds = started.elapsed().as_secs_f64();
    let projections = switch_all(
        &store,
        data_dir,
        &live,
        built.gens,
        &built.applied,
        built.interrupted,
        &options,
    )
    .await?;
    bar.finish();
    Ok(Report {
        projections,
        read: built.read,
        seconds,
        events_per_second: if seconds > 0.0 {
            built.read as f64 / seconds
        } else {
            0.0
        },
        interrupted: built.interrupted,
    })
}

/// A generation being built: what it rebuilds, its writer, and the
/// position it resumed from.
type Generation = (Which, Gen, u64);

/// The generations as the paged catch-up leaves them.
struct Built {
    gens: Vec<Generation>,
    /// Log entries read in all.
    read: u64,
    /// Entries applied to each generation.
    applied: Vec<u64>,
    /// Stopped before its targets (Ctrl-C, `stop_at`): nothing switches.
    interrupted: bool,
}

/// Opens (or resumes) every generation, each with its `.writing` mark.
async fn open_generations(
    store: &Arc<dyn EventStore>,
    data_dir: &Path,
    which: &[Which],
    options: &Options,
) -> Result<(Vec<Writing>, Vec<Generation>), ReplayError> {
    let handle = tokio::runtime::Handle::current();
    let mut writing: Vec<Writing> = Vec::new();
    let mut gens: Vec<Generation> = Vec::new();
    for w in which {
        let path = generation_path(data_dir, *w);
        writing.push(Writing::begin(&path, options.fresh)?);
        let (store, handle, path2) = (store.clone(), handle.clone(), path.clone());
        let w2 = *w;
        let gen = blocking(move || open_warmed(w2, &path2, &store, &handle)).await?;
        let resumed = gen.position();
        tracing::info!(projection = w.name(), resumed, "generation opened");
        gens.push((*w, gen, resumed));
    }
    Ok((writing, gens))
}

/// Catches each generation that is a long way from `head` up in bulk, up
/// to the head (past a live checkpoint that lags a little: the switch then
/// waits for the live runner to get there), each on its own task reading
/// the log at its own pace (read once for both, the RBAC fold would go at
/// the pace of the audit inserts and its tables could only be written
/// after them). Returns the generations and the most entries one read.
async fn bulk_catch_up(
    store: &Arc<dyn EventStore>,
    gens: Vec<Generation>,
    targets: &[u64],
    head: u64,
    options: &Options,
    bar: &ProgressBar,
) -> Result<(Vec<Generation>, u64), ReplayError> {
    let stopping = options.stop.load(Ordering::Relaxed) || options.stop_at.is_some();
    let bulk: Vec<bool> = gens
        .iter()
        .enumerate()
        .map(|(i, (_, gen, _))| {
            // Past a live checkpoint only when the live runner is near the
            // head (following it), so that the switch does not wait for
            // nothing.
            let live_follows = options.target == Target::Head
                || head.saturating_sub(targets[i]) < runner::BULK_GAP;
            !stopping && live_follows && targets[i] > gen.position() && gen.wants_bulk(head)
        })
        .collect();
    // The bar follows the pages read during a bulk catch-up too (a long
    // log takes minutes there). When two read side by side it shows the
    // one behind: the rebuild is done when both are.
    if bulk.iter().any(|b| *b) {
        bar.set_length(head);
        bar.set_position(gens.iter().map(|(_, g, _)| g.position()).min().unwrap_or(0));
    }
    let reached = Arc::new(Reached::new(
        gens.iter()
            .zip(&bulk)
            .map(|((_, g, _), bulk)| bulk.then(|| g.position())),
    ));
    let mut tasks = Vec::new();
    for (i, ((w, gen, resumed), bulk)) in gens.into_iter().zip(bulk).enumerate() {
        let store = store.clone();
        let bar = bar.clone();
        let reached = reached.clone();
        tasks.push(tokio::spawn(async move {
            let before = gen.position();
            let progress = |position| raise(&bar, reached.report(i, position));
            let gen = if bulk {
                gen.bulk(store.as_ref(), &progress).await?
            } else {
                gen
            };
            Ok::<_, ReplayError>((w, gen, resumed, before))
        }));
    }
    let mut gens = Vec::new();
    let mut bulk_read = 0;
    for task in tasks {
        let (w, gen, resumed, before) = match task.await {
            Ok(done) => done?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => return Err(ReplayError::Invalid(format!("rebuild task: {e}"))),
        };
        if gen.position() > before {
            tracing::info!(
                projection = w.name(),
                from = before,
                to = gen.position(),
                "bulk catch-up"
            );
        }
        bulk_read = bulk_read.max(gen.position() - before);
        gens.push((w, gen, resumed));
    }
    Ok((gens, bulk_read))
}

/// Reads the log once for every generation, page by page, and applies it
/// to each up to its target (a live checkpoint's keeps moving while `serve`
/// runs); stops early on `options.stop` or `stop_at`.
async fn follow(
    store: &Arc<dyn EventStore>,
    built: &mut Built,
    targets: &mut [u64],
    target_of: &dyn Fn(Which) -> Result<u64, ReplayError>,
    options: &Options,
    bar: &ProgressBar,
) -> Result<(), ReplayError> {
    let start = built
        .gens
        .iter()
        .map(|(_, g, _)| g.position())
        .min()
        .unwrap_or(0);
    bar.set_length(targets.iter().copied().max().unwrap_or(0));
    bar.set_position(start);
    let mut from = start + 1;
    loop {
        if options.target == Target::LiveCheckpoint {
            for (i, (w, _, _)) in built.gens.iter().enumerate() {
                targets[i] = target_of(*w)?;
            }
        }
        let goal = targets.iter().copied().max().unwrap_or(0);
        bar.set_length(goal);
        if from > goal {
            return Ok(());
        }
        let goal = match options.stop_at {
            Some(at) if at < from => {
                built.interrupted = true;
                return Ok(());
            }
            Some(at) => goal.min(at),
            None => goal,
        };
        if options.stop.load(Ordering::Relaxed) {
            built.interrupted = true;
            return Ok(());
        }
        let targets = targets.to_vec();
        let targets = &targets;
        let pages = pages_of_all(&**store, from, Some(goal), PAGE);
        let (_, reached) = fold_pages(pages, (&mut *built, None), |(built, _), page| async move {
            if options.stop.load(Ordering::Relaxed) {
                built.interrupted = true;
                return Ok(ControlFlow::Break((built, None)));
            }
            let last = apply_to_all(built, targets, page).await?;
            bar.set_position(last);
            Ok::<_, ReplayError>(ControlFlow::Continue((built, Some(last))))
        })
        .await?;
        match reached {
            // The log ends before the goal, or the rebuild was stopped.
            None => return Ok(()),
            Some(last) => from = last + 1,
        }
    }
}

/// Applies one page of the log to every generation, each up to its target;
/// returns the page's last position.
async fn apply_to_all(
    built: &mut Built,
    targets: &[u64],
    page: Vec<RecordedEvent>,
) -> Result<u64, ReplayError> {
    let last = page.last().map_or(0, |e| e.global_position);
    built.read += page.len() as u64;
    let mut moved = std::mem::take(&mut built.gens);
    let targets = targets.to_vec();
    let (mut back, counts) = blocking(move || {
        let decoded = runner::decode(page)?;
        let mut counts = Vec::with_capacity(moved.len());
        for (i, (_, gen, _)) in moved.iter_mut().enumerate() {
            let until = last.min(targets[i]);
            let end = decoded.partition_point(|d| d.record.global_position <= until);
            let before = decoded.partition_point(|d| d.record.global_position <= gen.position());
            gen.apply(&decoded[..end], until)?;
            counts.push(end.saturating_sub(before) as u64);
        }
        Ok((moved, counts))
    })
    .await?;
    std::mem::swap(&mut built.gens, &mut back);
    for (a, c) in built.applied.iter_mut().zip(counts) {
        *a += c;
    }
    Ok(last)
}

/// Switches each finished generation over (none when `interrupted`) and
/// reports every one.
async fn switch_all(
    store: &Arc<dyn EventStore>,
    data_dir: &Path,
    live: &Path,
    gens: Vec<Generation>,
    applied: &[u64],
    interrupted: bool,
    options: &Options,
) -> Result<Vec<Rebuilt>, ReplayError> {
    let handle = tokio::runtime::Handle::current();
    let mut out = Vec::new();
    for (i, (w, gen, resumed)) in gens.into_iter().enumerate() {
        let mut rebuilt = Rebuilt {
            projection: w,
            resumed_from: resumed,
            position: gen.position(),
            events: applied[i],
            switched: false,
            rows: 0,
            switch_ms: 0.0,
        };
        if !interrupted {
            let path = generation_path(data_dir, w);
            let (store, handle, live) = (store.clone(), handle.clone(), live.to_path_buf());
            let target = options.target;
            let started = Instant::now();
            let (position, rows) =
                blocking(move || switch(gen, w, &path, &live, target, &store, &handle)).await?;
            rebuilt.position = position;
            rebuilt.rows = rows;
            rebuilt.switched = true;
            rebuilt.switch_ms = started.elapsed().as_secs_f64() * 1e3;
            remove_generation(&generation_path(data_dir, w))?;
            tracing::info!(projection = w.name(), position, rows, "switched over");
        }
        out.push(rebuilt);
    }
    Ok(out)
}

/// How far each bulk catch-up running side by side has read: the bar
/// shows the one behind.
struct Reached(Vec<AtomicU64>);

impl Reached {
    /// One slot per generation, at its position; `None` for one that does
    /// not catch up in bulk (it never reports, so it does not hold the bar
    /// back).
    fn new(positions: impl Iterator<Item = Option<u64>>) -> Reached {
        Reached(
            positions
                .map(|p| AtomicU64::new(p.unwrap_or(u64::MAX)))
                .collect(),
        )
    }

    /// Records that generation `i` has read up to `position`; answers the
    /// position of the one behind.
    fn report(&self, i: usize, position: u64) -> u64 {
        self.0[i].store(position, Ordering::Relaxed);
        self.0
            .iter()
            .map(|r| r.load(Ordering::Relaxed))
            .min()
            .unwrap_or(position)
    }
}

/// Moves the bar to `position` if that is further.
fn raise(bar: &ProgressBar, position: u64) {
    if position > bar.position() {
        bar.set_position(position);
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Brings the generation up to exactly `position`.
fn catch_up(
    gen: &mut Gen,
    position: u64,
    store: &Arc<dyn EventStore>,
    handle: &tokio::runtime::Handle,
) -> Result<(), ReplayError> {
    if gen.position() >= position {
        return Ok(());
    }
    let pages = pages_of_all(&**store, gen.position() + 1, Some(position), runner::BATCH);
    let gen = handle.block_on(fold_pages(pages, gen, |gen, page| async move {
        let last = page.last().map_or(position, |e| e.global_position);
        gen.apply(&runner::decode(page)?, last)?;
        Ok::<_, ReplayError>(ControlFlow::Continue(gen))
    }))?;
    // The log may end before `position` (a checkpoint past the head).
    gen.apply(&[], position)?;
    Ok(())
}

/// Attempts at switching while the live runner keeps moving.
const SWITCH_ATTEMPTS: usize = 1_000;

/// How long the switch waits for a live runner behind a generation built in
/// bulk.
const LIVE_WAIT: Duration = Duration::from_secs(60);

/// Replaces the live tables of `which` with the generation's, in one
/// transaction on the live database. Returns the position they stand at and
/// the rows copied.
fn switch(
    mut gen: Gen,
    which: Which,
    gen_path: &Path,
    live: &Path,
    target: Target,
    store: &Arc<dyn EventStore>,
    handle: &tokio::runtime::Handle,
) -> Result<(u64, u64), ReplayError> {
    let what = |s: &str| format!("switching {} over: {s}", which.name());
    let mut conn = projections::db::open(live).map_err(ReplayError::db(what("opening")))?;
    // The live runner may hold the write lock for a page; wait for it.
    conn.busy_timeout(Duration::from_secs(120))
        .map_err(ReplayError::db(what("busy timeout")))?;
    // The copy is one transaction: keep its pages in memory until the
    // commit rather than spilling them to the WAL on the way (up to 1 GiB).
    conn.pragma_update(None, "cache_size", -1_048_576)
        .map_err(ReplayError::db(what("cache size")))?;
    runner::migrate_checkpoints(&conn)?;
    let deadline = Instant::now() + LIVE_WAIT;
    for _ in 0..SWITCH_ATTEMPTS {
        let live_position = runner::checkpoint(&conn, which.name())?;
        if target == Target::LiveCheckpoint {
            if gen.position() > live_position {
                // Built in bulk past the live runner: wait for it to get there.
                if Instant::now() >= deadline {
                    return Err(ReplayError::Invalid(format!(
                        "the live {} projection is at position {live_position}, behind the rebuilt generation at {}: \
                         is `rolebook serve` running? Without a server, run `replay rebuild --to-head` (the generation is kept)",
                        which.name(),
                        gen.position()
                    )));
                }
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            catch_up(&mut gen, live_position, store, handle)?;
        }
        let position = gen.position();
        conn.execute(
            "ATTACH DATABASE ?1 AS generation",
            [gen_path.display().to_string()],
        )
        .map_err(ReplayError::db(what("attaching the generation")))?;
        let copied = copy_over(&mut conn, which, position, target);
        conn.execute_batch("DETACH DATABASE generation")
            .map_err(ReplayError::db(what("detaching")))?;
        match copied? {
            Some(rows) => return Ok((position, rows)),
            // The live runner applied a page meanwhile: catch up again.
            None => continue,
        }
    }
    Err(ReplayError::Invalid(format!(
        "the live {} projection kept moving: {SWITCH_ATTEMPTS} attempts to switch over failed",
        which.name()
    )))
}

/// The switch's transaction. `None` (nothing changed) when the live
/// checkpoint is no longer `position` once locked.
fn copy_over(
    conn: &mut Connection,
    which: Which,
    position: u64,
    target: Target,
) -> Result<Option<u64>, ReplayError> {
    let what = |s: &str| format!("switching {} over: {s}", which.name());
    // Holds the live runner's next commit back until the end.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(ReplayError::db(what("locking the live database")))?;
    let live_position = tx
        .query_row(
            "SELECT position FROM main.projection_checkpoints WHERE name = ?1",
            [which.name()],
            |r| r.get::<_, i64>(0),
        )
        .optional()
        .map_err(ReplayError::db(what("reading the live checkpoint")))?
        .map_or(0, |p| u64::try_from(p).unwrap_or(0));
    if target == Target::LiveCheckpoint && live_position != position {
        return Ok(None);
    }
    // (type, name, table, sql) of the generation's tables and indexes.
    let objects: Vec<(String, String, String, String)> = {
        let mut stmt = tx
            .prepare(
                "SELECT type, name, tbl_name, sql FROM generation.sqlite_master
                 WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'
                   AND tbl_name NOT IN ('projection_checkpoints', 'schema_version')
                 ORDER BY type = 'index', name",
            )
            .map_err(ReplayError::db(what("reading the generation's schema")))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(ReplayError::db(what("reading the generation's schema")))?;
        rows.collect::<Result<_, _>>()
            .map_err(ReplayError::db(what("reading the generation's schema")))?
    };
    let mut rows = 0u64;
    for (kind, name, _, sql) in &objects {
        if kind != "table" {
            continue;
        }
        let table = quote(name);
        tx.execute_batch(&format!("DROP TABLE IF EXISTS main.{table};"))
            .map_err(ReplayError::db(what(&format!("dropping {name}"))))?;
        tx.execute_batch(sql)
            .map_err(ReplayError::db(what(&format!("creating {name}"))))?;
        // Indexes before the rows: the copy between identical empty tables
        // then transfers b-tree records as they are (SQLite's transfer
        // optimization), about twice as fast as indexing afterwards.
        for (_, index, _, sql) in objects
            .iter()
            .filter(|(k, _, t, _)| k == "index" && t == name)
        {
            tx.execute_batch(sql)
                .map_err(ReplayError::db(what(&format!("indexing {index}"))))?;
        }
        rows += tx
            .execute(
                &format!("INSERT INTO main.{table} SELECT * FROM generation.{table}"),
                [],
            )
            .map_err(ReplayError::db(what(&format!("copying {name}"))))? as u64;
    }
    tx.execute(
        "INSERT INTO main.projection_checkpoints (name, position) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET position = excluded.position",
        params![which.name(), i64::try_from(position).unwrap_or(i64::MAX)],
    )
    .map_err(ReplayError::db(what("setting the checkpoint")))?;
    // The tables now are the generation's: so is their schema version.
    tx.execute(
        "INSERT INTO main.schema_version (component, version)
         SELECT component, version FROM generation.schema_version WHERE component = ?1
         ON CONFLICT (component) DO UPDATE SET version = excluded.version",
        [which.name()],
    )
    .map_err(ReplayError::db(what("setting the schema version")))?;
    tx.commit().map_err(ReplayError::db(what("committing")))?;
    Ok(Some(rows))
}

#[cfg(test)]
mod tests {
    use super::Reached;

    #[test]
    fn the_bar_shows_the_catch_up_behind() {
        let reached = Reached::new([Some(10), Some(10), None].into_iter());
        assert_eq!(reached.report(0, 25_000), 10, "the other is still at 10");
        assert_eq!(reached.report(1, 5_000), 5_000);
        assert_eq!(reached.report(1, 50_000), 25_000);
        assert_eq!(reached.report(0, 60_000), 50_000);
        // The generation that is not in bulk never holds the bar back.
        assert_eq!(reached.report(1, 60_000), 60_000);
    }
}
