//! The projection runner for read models in PostgreSQL: feeds a projection
//! the log, writes each page's rows and the checkpoint in one transaction,
//! follows new events as they commit, and publishes the projection's
//! position for read-your-writes, like the embedded runner
//! (`crate::runner`).
//!
//! **Several processes, one set of tables.** Every rolebook process on the
//! database runs this runner for each projection, because each keeps the
//! projection's in-memory part (the access model, the audit names) current
//! from the log itself. The tables are written once: each transaction first
//! locks the projection's checkpoint row (`INSERT … ON CONFLICT DO UPDATE
//! … RETURNING`), then writes only the rows of the page's events past that
//! checkpoint, and raises it. A process that finds the checkpoint already
//! past its page (a peer wrote it) writes nothing; one that finds it in the
//! middle writes the rest. The rows of an event depend on the event and the
//! state before it only, so whoever writes them writes the same rows.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::store::EventStore;
use sqlx::{PgConnection, PgPool};

use crate::runner::{decode, Decoded, Positions, ProjectionError, BATCH, FOLLOW_PACE};
use infra::postgres::migrations::{self, Migration};

/// The checkpoints table's migrations (component `projection_checkpoints`).
const CHECKPOINT_MIGRATIONS: &[Migration] =
    &[(1, "projection_checkpoints", include_str!("checkpoints.sql"))];

/// A read model in PostgreSQL. `warm` and `prepare` run on a blocking
/// thread (they fold events into memory); `write` in the transaction.
#[async_trait]
pub trait PgProjection: Send + Sync + 'static {
    /// A page's rows, each tagged with its event's position.
    type Rows: Send + Sync + 'static;

    /// The checkpoint's name, the same as the embedded projection's.
    fn name(&self) -> &'static str;

    /// Its component in `schema_version` and its numbered migrations.
    fn migrations(&self) -> (&'static str, &'static [Migration]);

    /// Its tables (what a rebuild's switch replaces; views and indexes are
    /// made again by running the migrations' SQL, which only creates what
    /// is missing).
    fn tables(&self) -> &'static [&'static str];

    /// Rows written once after the migrations, in every start's first
    /// transaction (a catalog). Default: none.
    async fn seed(&self, _conn: &mut PgConnection) -> Result<(), ProjectionError> {
        Ok(())
    }

    /// Folds events already written (up to the checkpoint at start) into
    /// memory, without rows.
    fn warm(&mut self, events: &[Decoded]) -> Result<(), ProjectionError>;

    /// Called once after the warm-up.
    fn warmed(&mut self) -> Result<(), ProjectionError> {
        Ok(())
    }

    /// Folds a page into memory and answers its rows.
    fn prepare(&mut self, events: &[Decoded]) -> Result<Self::Rows, ProjectionError>;

    /// Writes the rows of the events after position `after` (the
    /// checkpoint found locked in this transaction).
    async fn write(
        conn: &mut PgConnection,
        rows: &Self::Rows,
        after: u64,
    ) -> Result<(), ProjectionError>;
}

/// Migrates the checkpoints table and the projection's tables.
pub async fn migrate<P: PgProjection>(
    projection: &P,
    pool: &PgPool,
) -> Result<(), ProjectionError> {
    migrations::migrate(pool, "projection_checkpoints", CHECKPOINT_MIGRATIONS).await?;
    let (component, steps) = projection.migrations();
    migrations::migrate(pool, component, steps).await?;
    let mut conn = pool.acquire().await?;
    projection.seed(&mut conn).await?;
    Ok(())
}

/// The projection's checkpoint (0 if it never ran).
pub async fn checkpoint(pool: &PgPool, name: &str) -> Result<u64, ProjectionError> {
    let position: Option<i64> =
        sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    Ok(position.unwrap_or(0) as u64)
}

/// One projection with its in-memory position (every event up to it is
/// folded; the table's checkpoint may be ahead, written by a peer).
pub struct PgRunner<P: PgProjection> {
    projection: P,
    pool: PgPool,
    position: u64,
    page: usize,
}

impl<P: PgProjection> PgRunner<P> {
    /// Migrates, then folds the log up to the checkpoint into memory.
    pub async fn open(
        projection: P,
        pool: PgPool,
        store: &dyn EventStore,
    ) -> Result<Self, ProjectionError> {
        migrate(&projection, &pool).await?;
        let written = checkpoint(&pool, projection.name()).await?;
        let mut runner = PgRunner {
            projection,
            pool,
            position: 0,
            page: BATCH,
        };
        while runner.position < written {
            let mut page = store.read_all(runner.position + 1, BATCH).await?;
            page.retain(|e| e.global_position <= written);
            let Some(last) = page.last().map(|e| e.global_position) else {
                break;
            };
            runner = blocking(move || {
                let decoded = decode(page)?;
                runner.projection.warm(&decoded)?;
                runner.position = last;
                Ok(runner)
            })
            .await?;
        }
        blocking(move || {
            runner.projection.warmed()?;
            Ok(runner)
        })
        .await
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    /// Reads and writes at most `page` events per transaction (default
    /// [`BATCH`]).
    pub fn with_page(mut self, page: usize) -> Self {
        self.page = page.max(1);
        self
    }

    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// Reads the next page after the runner's position and writes it;
    /// answers the position reached (unchanged at the end of the log).
    pub async fn step(self, store: &dyn EventStore) -> Result<(Self, u64), ProjectionError> {
        self.step_until(store, u64::MAX).await
    }

    /// [`PgRunner::step`], reading no event past position `until`.
    pub async fn step_until(
        mut self,
        store: &dyn EventStore,
        until: u64,
    ) -> Result<(Self, u64), ProjectionError> {
        let room = until.saturating_sub(self.position);
        let count = (self.page as u64).min(room) as usize;
        let from = self.position + 1;
        let page = retried("read the log", || async {
            Ok(store.read_all(from, count).await?)
        })
        .await?;
        let Some(last) = page.last().map(|e| e.global_position) else {
            let at = self.position;
            return Ok((self, at));
        };
        let (runner, rows) = blocking(move || {
            let decoded = decode(page)?;
            let rows = self.projection.prepare(&decoded)?;
            Ok((self, rows))
        })
        .await?;
        self = runner;
        // Prepared once (the access model took the page in): only the
        // write is tried again while the database cannot be reached.
        retried("write a page", || self.write(&rows, last)).await?;
        self.position = last;
        Ok((self, last))
    }

    /// Writes `rows` (a page ending at `last`) past the locked checkpoint.
    async fn write(&self, rows: &P::Rows, last: u64) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        let mut tx = self.pool.begin().await?;
        let written = lock_checkpoint(&mut tx, name).await?;
        if written >= last {
            // A peer process wrote this page already.
            tx.rollback().await?;
            return Ok(());
        }
        P::write(&mut tx, rows, written).await?;
        save_checkpoint(&mut tx, name, last).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Follows the log until it is exhausted, then waits for commits;
    /// returns on failure or when `stop` fires.
    pub async fn follow(
        mut self,
        store: &dyn EventStore,
        positions: &Positions,
        stop: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        positions.advance(name, self.position);
        let mut applied_at = tokio::time::Instant::now();
        let mut busy = false;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            if busy {
                tokio::time::sleep_until(applied_at + FOLLOW_PACE).await;
            }
            let before = self.position;
            let (runner, reached) = self.step(store).await?;
            self = runner;
            if reached == before {
                busy = false;
                tokio::select! {
                    _ = store.wait_for(reached + 1, Duration::from_secs(1)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            positions.advance(name, reached);
            applied_at = tokio::time::Instant::now();
            busy = retried("wait for the log", || async {
                Ok(store.wait_for(reached + 1, Duration::ZERO).await?)
            })
            .await?
                > reached;
        }
    }
}

/// Runs `attempt` until it succeeds or fails for a reason other than an
/// unreachable or full database (a killed connection, a restart: see
/// [`ProjectionError::is_transient`]), waiting 100 ms, then twice as long
/// each time, up to 5 s. The projection stays where it was meanwhile.
async fn retried<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, ProjectionError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProjectionError>>,
{
    let mut delay = Duration::from_millis(100);
    loop {
        match attempt().await {
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %crate::runner::with_sources(&e), "cannot {what}: the database is unreachable or full; trying again");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// Locks the projection's checkpoint row for this transaction (creating
/// it at 0) and answers its position.
pub async fn lock_checkpoint(conn: &mut PgConnection, name: &str) -> Result<u64, sqlx::Error> {
    let written: i64 = sqlx::query_scalar(
        "INSERT INTO projection_checkpoints (name, position) VALUES ($1, 0)
         ON CONFLICT (name) DO UPDATE SET name = excluded.name
         RETURNING position",
    )
    .bind(name)
    .fetch_one(conn)
    .await?;
    Ok(written as u64)
}

pub async fn save_checkpoint(
    conn: &mut PgConnection,
    name: &str,
    last: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE projection_checkpoints SET position = $2 WHERE name = $1")
        .bind(name)
        .bind(last as i64)
        .execute(conn)
        .await?;
    Ok(())
}

/// Runs a PostgreSQL projection: opens it, catches up, follows; the
/// status names the failure if it stops.
pub async fn run<P: PgProjection>(
    projection: P,
    pool: PgPool,
    store: Arc<dyn EventStore>,
    positions: Positions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ProjectionError> {
    let name = projection.name();
    let result = async {
        let runner = PgRunner::open(projection, pool, &*store).await?;
        runner.follow(&*store, &positions, &mut stop).await
    }
    .await;
    if let Err(e) = &result {
        let why = crate::runner::with_sources(e);
        tracing::error!(projection = name, error = %why, "projection stopped");
        positions.fail(name, &why);
    }
    result
}

impl From<sqlx::Error> for ProjectionError {
    fn from(e: sqlx::Error) -> Self {
        ProjectionError::Postgres(Arc::new(e))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ProjectionError> + Send + 'static,
) -> Result<T, ProjectionError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ProjectionError::Task("projection", Arc::new(e)))?
}
