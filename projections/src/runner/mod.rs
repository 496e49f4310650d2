//! The projection runner: feeds each projection the log from its checkpoint,
//! applying every batch and the new checkpoint in one transaction (exactly
//! once, also across a crash), follows new events as they commit, and
//! publishes each projection's position for read-your-writes.
//!
//! A projection that fails on an event stops there: its status names the
//! event's position and the reason, and it never skips the event.

mod positions;

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use domain::store::{fold_pages, pages_of_all, EventStore, RecordedEvent, StoreError};
use domain::Event;
use infra::sqlite::migrations::{self, Migration, MigrationError};
use rusqlite::{Connection, OptionalExtension, Transaction};

pub use positions::{Lagging, Positions, ProjectionStatus, StartGate};

/// Events read and applied per transaction. Large, because a catching-up
/// projection pays its commit (the WAL pages its indexes dirtied, and their
/// checkpoint) per transaction, not per event; a projection that keeps up
/// sees small pages anyway.
pub const BATCH: usize = 25_000;

/// A decoded event with its envelope.
pub struct Decoded {
    pub record: RecordedEvent,
    pub event: Event,
}

/// Why a projection stopped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProjectionError {
    #[error("event at position {position} cannot be applied: {reason}")]
    Event { position: u64, reason: String },
    /// The read-model database failed (shared: a status keeps it too).
    #[error("read-model database")]
    Database(#[source] Arc<rusqlite::Error>),
    /// The PostgreSQL read models' database failed.
    #[error("read-model database (PostgreSQL)")]
    Postgres(#[source] Arc<sqlx::Error>),
    /// A task of the projection died (a panic, or the runtime stopping).
    #[error("{0} task")]
    Task(&'static str, #[source] Arc<tokio::task::JoinError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The read-model database's tables could not be migrated, or are
    /// newer than this binary knows.
    #[error(transparent)]
    Schema(Arc<MigrationError>),
}

impl ProjectionError {
    /// Whether the failure is the storage's rather than the projection's:
    /// the database could not be reached (a connection closed or killed,
    /// the pool timed out, the server shutting down or restarting), or
    /// its disk is full, or SQLite's file stayed locked.
    /// Trying again later may work: the checkpoint is where the last
    /// committed page left it.
    pub fn is_transient(&self) -> bool {
        match self {
            ProjectionError::Postgres(e) => {
                infra::postgres::is_unreachable(e) || infra::postgres::is_disk_full(e)
            }
            ProjectionError::Database(e) => matches!(
                e.sqlite_error_code(),
                Some(
                    rusqlite::ErrorCode::DiskFull
                        | rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                )
            ),
            ProjectionError::Store(StoreError::Backend {
                source: Some(source),
                ..
            }) => source
                .downcast_ref::<sqlx::Error>()
                .is_some_and(infra::postgres::is_unreachable),
            _ => false,
        }
    }
}

impl From<MigrationError> for ProjectionError {
    fn from(e: MigrationError) -> Self {
        ProjectionError::Schema(Arc::new(e))
    }
}

/// The checkpoints table's migrations.
const CHECKPOINT_MIGRATIONS: &[Migration] =
    &[(1, "projection_checkpoints", include_str!("checkpoints.sql"))];

/// Brings the checkpoints table up to date (see `infra::sqlite::migrations`).
pub fn migrate_checkpoints(conn: &Connection) -> Result<(), ProjectionError> {
    migrations::migrate(conn, "projection_checkpoints", CHECKPOINT_MIGRATIONS)?;
    Ok(())
}

/// Whether `conn`'s file has the checkpoints table yet.
fn has_checkpoints(conn: &Connection) -> Result<bool, ProjectionError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'projection_checkpoints'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

impl From<rusqlite::Error> for ProjectionError {
    fn from(e: rusqlite::Error) -> Self {
        ProjectionError::Database(Arc::new(e))
    }
}

/// A read model fed by the log. Its methods run on a blocking thread.
pub trait Projection: Send + 'static {
    /// The checkpoint's name (stable: renaming it rebuilds the projection).
    fn name(&self) -> &'static str;

    /// Brings its tables up to date (its numbered migrations, through
    /// `infra::sqlite::migrations`).
    fn migrate(&mut self, conn: &Connection) -> Result<(), ProjectionError>;

    /// Brings in-memory state (if the projection keeps any) up to the
    /// checkpoint without writing: called with the events up to the
    /// checkpoint at start-up.
    fn warm(&mut self, _events: &[Decoded]) -> Result<(), ProjectionError> {
        Ok(())
    }

    /// Called once after the last [`Projection::warm`] of a warm-up or a
    /// bulk fold: state that warming leaves half-done (recomputed once at
    /// the end rather than after every event) is finished here.
    fn warmed(&mut self) -> Result<(), ProjectionError> {
        Ok(())
    }

    /// Whether [`Projection::warm`] needs the events before the checkpoint.
    fn needs_warm_up(&self) -> bool {
        false
    }

    /// Applies a batch (global order) inside `tx`; the runner stores the
    /// checkpoint in the same transaction and commits.
    fn apply(&mut self, tx: &Transaction, events: &[Decoded]) -> Result<(), ProjectionError>;

    /// How the projection catches up when it is at least [`BULK_GAP`]
    /// events behind (first start, rebuild, long downtime).
    fn backlog(&self) -> Backlog {
        Backlog::Pages
    }

    /// [`Backlog::Rewrite`]: after [`Projection::warm`] has folded the whole
    /// backlog in memory, writes every table from that state inside `tx`
    /// (and finishes what [`Projection::warmed`] would: it is not called).
    fn rewrite(&mut self, _tx: &Transaction) -> Result<(), ProjectionError> {
        Ok(())
    }

    /// [`Backlog::Indexed`]: before applying the backlog page by page (drop
    /// the indexes that make each insert expensive).
    fn before_backlog(&mut self, _conn: &Connection) -> Result<(), ProjectionError> {
        Ok(())
    }

    /// [`Backlog::Indexed`]: after the backlog (build those indexes again;
    /// `migrate` also does at every start, so a crash in between heals).
    fn after_backlog(&mut self, _conn: &Connection) -> Result<(), ProjectionError> {
        Ok(())
    }

    /// A projection like this one with in-memory state of its own, empty
    /// (to be warmed). When a page cannot be committed for the storage's
    /// reasons (a full disk: [`ProjectionError::is_transient`]), the page's
    /// in-memory part may be half done in this one: the runner writes the
    /// page again with a detached copy warmed up to the checkpoint, then
    /// hands its state over ([`Projection::adopt`]). `None` (the default):
    /// the projection stops on such a failure instead.
    fn detached(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }

    /// Takes over the in-memory state of `copy`, a [`Projection::detached`]
    /// copy that wrote the page this one could not (readers see the swap
    /// at once).
    fn adopt(&mut self, _copy: Self)
    where
        Self: Sized,
    {
    }
}

/// The shortest time between two transactions of a projection following
/// a busy log (commits arriving while it writes the last ones). Each
/// transaction rewrites every page it touches into the read-model
/// database's WAL (the same hot index pages again and again), so following
/// each of hundreds of group commits per second with its own transaction
/// wrote megabytes per second, on the disk whose fsyncs make commands
/// durable. A lone commit on a quiet log is applied at once: the pace
/// applies only while commits keep coming. At 20 ms a read-back under
/// 2,000 commands/s waited 21 ms at the median and 31 ms at p99; at 10 ms,
/// 10 and 29 ms, with the same command latencies (BENCHMARKS.md).
pub const FOLLOW_PACE: Duration = Duration::from_millis(10);

/// A projection this far behind the log catches up in bulk.
pub const BULK_GAP: u64 = 100_000;

/// How a projection catches up a long backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backlog {
    /// Page by page, like when following.
    Pages,
    /// Page by page, with [`Projection::before_backlog`] and
    /// [`Projection::after_backlog`] around it.
    Indexed,
    /// Fold everything in memory, then write all tables and the checkpoint
    /// in one transaction ([`Projection::rewrite`]): exactly once, and each
    /// row written once however often it changed.
    Rewrite,
}

/// Decodes a page of the log; fails on the first event it cannot read.
pub fn decode(page: Vec<RecordedEvent>) -> Result<Vec<Decoded>, ProjectionError> {
    page.into_iter()
        .map(|record| {
            let event = if domain::ids::OrgId::of_stream(&record.stream_id).is_some() {
                Event::decode(&record.event_type, record.schema_version, &record.data).map_err(
                    |e| ProjectionError::Event {
                        position: record.global_position,
                        reason: e.to_string(),
                    },
                )?
            } else {
                // Registry events are not organization events; projections
                // that care read them from `record`.
                return Ok(None);
            };
            Ok(Some(Decoded { record, event }))
        })
        .filter_map(Result::transpose)
        .collect()
}

/// Reads a projection's checkpoint (0 if it never ran).
pub fn checkpoint(conn: &Connection, name: &str) -> Result<u64, ProjectionError> {
    if !has_checkpoints(conn)? {
        return Ok(0);
    }
    let position: Option<i64> = conn
        .query_row(
            "SELECT position FROM projection_checkpoints WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    Ok(position.unwrap_or(0) as u64)
}

/// Forgets a projection's checkpoint, so that its runner starts over from
/// the beginning of the log (for a projection that dropped its tables in
/// [`Projection::migrate`]).
pub fn forget_checkpoint(conn: &Connection, name: &str) -> Result<(), ProjectionError> {
    if !has_checkpoints(conn)? {
        return Ok(());
    }
    conn.execute("DELETE FROM projection_checkpoints WHERE name = ?1", [name])?;
    Ok(())
}

fn save_checkpoint(tx: &Transaction, name: &str, position: u64) -> Result<(), ProjectionError> {
    tx.execute(
        "INSERT INTO projection_checkpoints (name, position) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET position = excluded.position",
        rusqlite::params![name, position as i64],
    )?;
    Ok(())
}

/// One projection bound to its database connection.
pub struct Runner<P: Projection> {
    projection: P,
    conn: Connection,
    position: u64,
}

impl<P: Projection> Runner<P> {
    /// Opens the projection on the read-model database: migrates, reads the
    /// checkpoint. Warm-up happens in [`Runner::catch_up`].
    pub fn open(projection: P, db: &std::path::Path) -> Result<Self, ProjectionError> {
        Self::open_on(projection, crate::db::open(db)?)
    }

    /// [`Runner::open`] on a scratch database ([`crate::db::open_scratch`]:
    /// a rebuild's generation).
    pub fn open_scratch(projection: P, db: &std::path::Path) -> Result<Self, ProjectionError> {
        Self::open_on(projection, crate::db::open_scratch(db)?)
    }

    fn open_on(mut projection: P, conn: Connection) -> Result<Self, ProjectionError> {
        migrate_checkpoints(&conn)?;
        projection.migrate(&conn)?;
        let position = checkpoint(&conn, projection.name())?;
        Ok(Runner {
            projection,
            conn,
            position,
        })
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// Catches up a backlog of at least `min_gap` events the projection's
    /// way ([`Backlog`]), up to the store's head. Smaller gaps are left to
    /// the caller's page-by-page loop.
    pub async fn catch_up_backlog(
        self,
        store: &dyn EventStore,
        min_gap: u64,
    ) -> Result<Self, ProjectionError> {
        self.catch_up_backlog_reporting(store, min_gap, &|_| {})
            .await
    }

    /// [`Runner::catch_up_backlog`], telling `progress` the position of
    /// each page of the log as it is handed to the projection (for a
    /// progress bar: a long backlog takes minutes).
    pub async fn catch_up_backlog_reporting(
        self,
        store: &dyn EventStore,
        min_gap: u64,
        progress: &Progress<'_>,
    ) -> Result<Self, ProjectionError> {
        let head = store.head_position().await?;
        if !self.wants_bulk(head, min_gap) {
            return Ok(self);
        }
        let (pages, next) = tokio::sync::mpsc::channel(READ_AHEAD);
        let from = self.position + 1;
        let ((), caught_up) = tokio::join!(
            read_pages(store, from, head, pages, progress),
            self.catch_up_from(next)
        );
        caught_up
    }

    /// Whether a backlog up to `head` is one to catch up in bulk: at least
    /// `min_gap` events, and a projection with a bulk way.
    pub fn wants_bulk(&self, head: u64, min_gap: u64) -> bool {
        head > self.position
            && head - self.position >= min_gap
            && self.projection.backlog() != Backlog::Pages
    }

    /// Moves the WAL's checkpoints off this runner's commits, onto a
    /// thread (`infra::sqlite::checkpointer`) that runs until the answer is
    /// dropped: a commit then never waits for pages to be copied into the
    /// database file and synced. `None` for a database without a WAL (a
    /// scratch database: its pages go straight to the file). For a bulk
    /// catch-up only: a projection following the log checkpoints in its
    /// commits (SQLite's automatic checkpoints), which keeps the WAL small
    /// with two writers taking turns (with the thread's checkpoints the
    /// read models' WAL grew to 1.6 GiB in a minute of the HTTP bench, and
    /// bounding it from the thread cost the read-back latency more).
    fn checkpoint_in_background(&self) -> Result<Option<Arc<()>>, ProjectionError> {
        let journal: String = self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if !journal.eq_ignore_ascii_case("wal") {
            return Ok(None);
        }
        let Some(path) = self.conn.path().map(PathBuf::from) else {
            return Ok(None);
        };
        let alive = Arc::new(());
        self.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        infra::sqlite::checkpointer::spawn(&path, Arc::downgrade(&alive));
        Ok(Some(alive))
    }

    /// Catches up in bulk from the pages that arrive (the log from this
    /// runner's position on, as [`read_pages`] sends it).
    async fn catch_up_from(self, pages: PageReceiver) -> Result<Self, ProjectionError> {
        // Checkpoints of the WAL run on another thread meanwhile.
        let checkpoints = self.checkpoint_in_background()?;
        let wal = checkpoints.is_some();
        let caught_up = self.catch_up_in_bulk(pages).await;
        drop(checkpoints);
        let runner = caught_up?;
        if !wal {
            return Ok(runner);
        }
        blocking(move || {
            // Copy what is left of the backlog into the database file now,
            // before anyone reads it, and empty the WAL (it grew to the
            // size of the backlog, hundreds of MB): a reader that finds a
            // long WAL looks every page up in the WAL's index first (slow
            // reads until a checkpoint), and one that opens the file when
            // no writer has it open reads and checksums the whole WAL to
            // rebuild that index, at every open (a Parquet export opens one
            // connection per day). TRUNCATE waits for readers up to the
            // busy timeout; if they stay, the WAL is left for the next
            // checkpoint.
            let busy: i64 = runner
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            if busy != 0 {
                tracing::debug!("the checkpoint after a bulk catch-up was busy");
            }
            runner
                .conn
                .pragma_update(None, "wal_autocheckpoint", crate::db::WAL_AUTOCHECKPOINT)?;
            Ok(runner)
        })
        .await
    }

    /// [`Runner::catch_up_from`] the projection's way.
    async fn catch_up_in_bulk(mut self, mut pages: PageReceiver) -> Result<Self, ProjectionError> {
        match self.projection.backlog() {
            Backlog::Pages => Ok(self),
            Backlog::Indexed => {
                self = blocking(move || {
                    self.projection.before_backlog(&self.conn)?;
                    Ok(self)
                })
                .await?;
                while let Some(page) = pages.recv().await {
                    let page = page?;
                    self = blocking(move || {
                        self.apply_page(&page.events, page.last)?;
                        Ok(self)
                    })
                    .await?;
                }
                blocking(move || {
                    self.projection.after_backlog(&self.conn)?;
                    Ok(self)
                })
                .await
            }
            Backlog::Rewrite => {
                let reached = self.position;
                let (projection, reached) = warm_from(self.projection, pages, reached).await?;
                self.projection = projection;
                blocking(move || {
                    let tx = self.conn.transaction()?;
                    self.projection.rewrite(&tx)?;
                    save_checkpoint(&tx, self.projection.name(), reached)?;
                    tx.commit()?;
                    self.position = reached;
                    Ok(self)
                })
                .await
            }
        }
    }

    /// Applies one page in one transaction with the new checkpoint.
    pub fn apply_page(
        &mut self,
        events: &[Decoded],
        last_position: u64,
    ) -> Result<(), ProjectionError> {
        let tx = self.conn.transaction()?;
        self.projection.apply(&tx, events)?;
        save_checkpoint(&tx, self.projection.name(), last_position)?;
        tx.commit()?;
        self.position = last_position;
        Ok(())
    }
}

impl<P: Projection> Runner<P> {
    /// Starts the WAL over from its beginning when it has grown past
    /// [`RESTART_ABOVE`](infra::sqlite::checkpointer::RESTART_ABOVE).
    ///
    /// The commits' automatic checkpoints (PASSIVE) copy the WAL into the
    /// file, but the WAL starts over only when a checkpoint finds no other
    /// connection reading it, and the other projection's writer is almost
    /// always inside a transaction under steady load: with 1,000 busy
    /// organizations the read models' WAL reached 327 MiB in a minute. A
    /// RESTART waits (at most 20 ms) for the readers; the caller holds the
    /// file's [`write_turn`](crate::db::write_turn), so no other projection
    /// is inside a transaction (they wait for the turn, never the commands).
    fn keep_wal_bounded(&self) {
        infra::sqlite::checkpointer::restart_if_above_limit(&self.conn, crate::db::BUSY_TIMEOUT);
    }
}

/// Pages read ahead of the projection that consumes them: the next page is
/// read and decoded (on another core) while the last one is applied.
const READ_AHEAD: usize = 2;

/// A decoded page of the log and the position of its last event.
struct Page {
    events: Vec<Decoded>,
    last: u64,
}

/// Pages as [`read_pages`] hands them out.
type PageReceiver = tokio::sync::mpsc::Receiver<Result<Page, ProjectionError>>;
type PageSender = tokio::sync::mpsc::Sender<Result<Page, ProjectionError>>;

/// Told the position of each page of the log a bulk catch-up hands over.
pub type Progress<'a> = dyn Fn(u64) + Sync + 'a;

/// Reads and decodes the log from `from` up to `to` (inclusive) into
/// `pages`; stops at the end of the log, at `to`, at the first error (sent
/// on), or when the consumer has hung up. A page is decoded on a
/// blocking thread while the next one is read, so reading, decoding and
/// applying overlap. `progress` hears the last position of each page
/// handed over.
async fn read_pages(
    store: &dyn EventStore,
    from: u64,
    to: u64,
    pages: PageSender,
    progress: &Progress<'_>,
) {
    let sender = &pages;
    let read = fold_pages(
        pages_of_all(store, from, Some(to), BATCH),
        (),
        move |(), page| async move {
            let Some(last) = page.last().map(|e| e.global_position) else {
                return Ok(ControlFlow::Continue(()));
            };
            let events = tokio::task::spawn_blocking(move || decode(page))
                .await
                .map_err(|e| ProjectionError::Task("decoding", Arc::new(e)))??;
            if sender.send(Ok(Page { events, last })).await.is_err() {
                // The consumer has hung up.
                return Ok(ControlFlow::Break(()));
            }
            progress(last);
            Ok(ControlFlow::Continue(()))
        },
    )
    .await;
    if let Err(e) = read {
        let _ = pages.send(Err(e)).await;
    }
}

/// Warms `projection` with every page that arrives; answers it with the
/// position of the last event it saw (`reached` if none came).
async fn warm_from<P: Projection>(
    mut projection: P,
    mut pages: PageReceiver,
    mut reached: u64,
) -> Result<(P, u64), ProjectionError> {
    while let Some(page) = pages.recv().await {
        let page = page?;
        let last = page.last;
        projection = blocking(move || {
            projection.warm(&page.events)?;
            Ok(projection)
        })
        .await?;
        reached = last;
    }
    Ok((projection, reached))
}

/// Runs a projection until the store is exhausted, then follows it: returns
/// only on failure (the status says where) or when `stop` fires.
pub async fn run<P: Projection>(
    projection: P,
    db: PathBuf,
    store: Arc<dyn EventStore>,
    positions: Positions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ProjectionError> {
    let name = projection.name();
    let result = follow(projection, db, store, positions.clone(), &mut stop).await;
    if let Err(e) = &result {
        let why = with_sources(e);
        tracing::error!(projection = name, error = %why, "projection stopped");
        positions.fail(name, &why);
    }
    result
}

async fn follow<P: Projection>(
    projection: P,
    db: PathBuf,
    store: Arc<dyn EventStore>,
    positions: Positions,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(), ProjectionError> {
    let name = projection.name();
    let turn = crate::db::write_turn(&db);
    let mut runner = blocking(move || Runner::open(projection, &db)).await?;
    // Warm in-memory state up to the checkpoint, without writing.
    if runner.projection.needs_warm_up() && runner.position > 0 {
        let Runner {
            projection,
            conn,
            position,
        } = runner;
        let projection = warm_up(projection, &*store, position).await?;
        runner = Runner {
            projection,
            conn,
            position,
        };
    }
    runner = runner.catch_up_backlog(&*store, BULK_GAP).await?;
    positions.advance(name, runner.position);
    let mut applied_at = tokio::time::Instant::now();
    // Whether commits arrived while the last page was being written.
    let mut busy = false;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        // Under a steady stream of commits, gather them for a moment
        // rather than follow each one with its own transaction.
        if busy {
            tokio::time::sleep_until(applied_at + FOLLOW_PACE).await;
        }
        let page = store.read_all(runner.position + 1, BATCH).await?;
        let Some(last) = page.last().map(|e| e.global_position) else {
            busy = false;
            tokio::select! {
                _ = store.wait_for(runner.position + 1, Duration::from_secs(1)) => {}
                _ = stop.changed() => {}
            }
            continue;
        };
        let decoded = decode(page)?;
        let (applied, decoded, failed) = apply_in_turn(runner, decoded, last, &turn).await?;
        runner = match failed {
            None => applied,
            Some(e) if e.is_transient() => {
                positions.fail(name, &with_sources(&e));
                let redone = redo_page(applied, &*store, decoded, last, &turn, e, stop).await?;
                positions.recover(name);
                redone
            }
            Some(e) => return Err(e),
        };
        positions.advance(name, last);
        applied_at = tokio::time::Instant::now();
        busy = store.wait_for(last + 1, Duration::ZERO).await? > last;
    }
}

/// Warms `projection` with the log up to `to` (without writing), then
/// finishes what warming leaves half done ([`Projection::warmed`]).
async fn warm_up<P: Projection>(
    projection: P,
    store: &dyn EventStore,
    to: u64,
) -> Result<P, ProjectionError> {
    let (pages, next) = tokio::sync::mpsc::channel(READ_AHEAD);
    let ((), warmed) = tokio::join!(
        read_pages(store, 1, to, pages, &|_| {}),
        warm_from(projection, next, 0)
    );
    let (mut projection, _) = warmed?;
    blocking(move || {
        projection.warmed()?;
        Ok(projection)
    })
    .await
}

/// Applies a page and its checkpoint in one transaction, in the read-model
/// file's write turn; answers the runner, the page, and why it failed.
async fn apply_in_turn<P: Projection>(
    mut runner: Runner<P>,
    page: Vec<Decoded>,
    last: u64,
    turn: &Arc<parking_lot::Mutex<()>>,
) -> Result<(Runner<P>, Vec<Decoded>, Option<ProjectionError>), ProjectionError> {
    let turn = turn.clone();
    blocking(move || {
        let _turn = turn.lock();
        let failed = runner.apply_page(&page, last).err();
        if failed.is_none() {
            runner.keep_wal_bounded();
        }
        Ok((runner, page, failed))
    })
    .await
}

/// Writes a page whose transaction failed for the storage's reasons (a
/// full disk, a file that stayed locked: [`ProjectionError::is_transient`])
/// until it commits: every attempt after a wait (200 ms, doubling up to
/// 10 s), made by a [`Projection::detached`] copy warmed up to the
/// checkpoint (the failed attempt may have done part of the page's
/// in-memory work), whose state the projection then adopts. Nothing is
/// applied twice and no page is skipped; positions stay where they were
/// meanwhile, so readers waiting for the page wait.
///
/// Fails with the storage's error when the projection cannot be detached
/// or `stop` fires, and with any other error at once.
async fn redo_page<P: Projection>(
    mut runner: Runner<P>,
    store: &dyn EventStore,
    mut page: Vec<Decoded>,
    last: u64,
    turn: &Arc<parking_lot::Mutex<()>>,
    mut failure: ProjectionError,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<Runner<P>, ProjectionError> {
    let name = runner.projection.name();
    let mut delay = Duration::from_millis(200);
    loop {
        let Some(copy) = runner.projection.detached() else {
            return Err(failure);
        };
        tracing::warn!(projection = name, error = %with_sources(&failure), "cannot write a page of the read models (disk full?); trying again");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return Err(failure),
        }
        delay = (delay * 2).min(Duration::from_secs(10));
        let copy = warm_up(copy, store, runner.position).await?;
        let Runner {
            projection: mut original,
            conn,
            position,
        } = runner;
        let attempt = Runner {
            projection: copy,
            conn,
            position,
        };
        let (attempt, returned, failed) = apply_in_turn(attempt, page, last, turn).await?;
        let Runner {
            projection: copy,
            conn,
            position,
        } = attempt;
        page = returned;
        match failed {
            None => {
                original.adopt(copy);
                tracing::info!(projection = name, "the read models are written again");
                return Ok(Runner {
                    projection: original,
                    conn,
                    position,
                });
            }
            Some(e) if e.is_transient() => {
                failure = e;
                runner = Runner {
                    projection: original,
                    conn,
                    position,
                };
            }
            Some(e) => return Err(e),
        }
    }
}

/// `e` and its sources, `: `-separated.
pub(crate) fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ProjectionError> + Send + 'static,
) -> Result<T, ProjectionError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ProjectionError::Task("projection", Arc::new(e)))?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A projection that writes 64 KiB rows into a table of its own.
    struct Blobs(&'static str);

    impl Projection for Blobs {
        fn name(&self) -> &'static str {
            self.0
        }
        fn migrate(&mut self, conn: &Connection) -> Result<(), ProjectionError> {
            conn.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {} (k INTEGER PRIMARY KEY, v BLOB)",
                self.0
            ))?;
            Ok(())
        }
        fn apply(&mut self, _tx: &Transaction, _events: &[Decoded]) -> Result<(), ProjectionError> {
            Ok(())
        }
    }

    /// A projection following a busy log while queries read the file:
    /// past the limit its WAL starts over (RESTART waits out the readers'
    /// snapshots) instead of growing with every commit. Its commits do not
    /// checkpoint here (`wal_autocheckpoint = 0`), as when the commits'
    /// checkpoints cannot finish: without the restart the WAL reaches the
    /// size of all the writes (96 MiB).
    #[test]
    fn a_follower_starts_its_wal_over_past_the_limit() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rolebook.db");
        let wal = infra::sqlite::checkpointer::wal_path(&path);
        let writer = Runner::open(Blobs("blobs"), &path).unwrap();
        writer
            .conn
            .pragma_update(None, "wal_autocheckpoint", 0)
            .unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let reading = {
            let (path, done) = (path.clone(), done.clone());
            std::thread::spawn(move || {
                let reader = crate::db::open_read_only(&path).unwrap();
                while !done.load(Ordering::Relaxed) {
                    let tx = reader.unchecked_transaction().unwrap();
                    let _: i64 = tx
                        .query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))
                        .unwrap();
                    std::thread::sleep(Duration::from_millis(5));
                    tx.commit().unwrap();
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        let blob = vec![7u8; 64 * 1024];
        let mut largest = 0;
        // 96 MiB in transactions of 1 MiB.
        for round in 0..96 {
            let tx = writer.conn.unchecked_transaction().unwrap();
            for i in 0..16 {
                tx.execute(
                    "INSERT OR REPLACE INTO blobs (k, v) VALUES (?1, ?2)",
                    rusqlite::params![(round * 16 + i) % 256, &blob],
                )
                .unwrap();
            }
            tx.commit().unwrap();
            writer.keep_wal_bounded();
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        }
        done.store(true, Ordering::Relaxed);
        reading.join().unwrap();
        assert!(
            largest < 2 * infra::sqlite::checkpointer::RESTART_ABOVE,
            "the WAL reached {} MiB",
            largest >> 20
        );
    }

    #[test]
    fn one_write_turn_per_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
        let first = crate::db::write_turn(&a);
        assert!(Arc::ptr_eq(&first, &crate::db::write_turn(&a)));
        assert!(!Arc::ptr_eq(&first, &crate::db::write_turn(&b)));
    }
}
