//! `replay rebuild` for read models in PostgreSQL (`--database-url`): the
//! same contract as the embedded rebuild (`super`): built beside the live
//! tables, resumable, switched over in one transaction while servers keep
//! answering.
//!
//! **Generation.** Each projection is rebuilt by the PostgreSQL runner
//! (`projections::postgres::PgRunner`, each page and its checkpoint in one
//! transaction) into a schema of its own beside the live one,
//! `<live schema>_rebuild_<name>`, with its own checkpoint: an interrupted
//! run resumes from it, `--fresh` drops the schema and starts over.
//!
//! **Switch.** One transaction on the live schema locks the live
//! checkpoint row (the lock every server's write takes first, so their
//! projections wait), catches the generation up to that checkpoint if the
//! servers moved it meanwhile, drops each live table, moves the
//! generation's table into the live schema (`ALTER TABLE … SET SCHEMA`:
//! no copy, its indexes move with it), makes the views again and sets the
//! live checkpoint to the generation's position. Readers see the old
//! tables until the commit and the new ones after it; servers then find
//! the checkpoint at or past their next page and write only what follows.
//! The generation's schema is dropped afterwards.
//!
//! Building to the head rather than to the live checkpoint is harmless
//! here (`--to-head` changes nothing): rows past the live checkpoint are
//! the rows the servers would write, and the checkpoint says they are.

use std::sync::atomic::Ordering;
use std::time::Instant;

use domain::store::EventStore;
use indicatif::ProgressBar;
use projections::access::SharedAccessModel;
use projections::postgres::runner::{lock_checkpoint, save_checkpoint};
use projections::postgres::{PgAuditProjection, PgProjection, PgRbacProjection, PgRunner};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor as _, PgPool};

use super::{Options, Rebuilt, Report, Which};
use crate::ReplayError;

/// Log entries per transaction of a generation.
const PAGE: usize = 50_000;

/// The generation schema of `which` beside `live`.
pub fn generation_schema(live: &str, which: Which) -> String {
    format!("{live}_rebuild_{}", which.name())
}

fn postgres(context: &str) -> impl FnOnce(sqlx::Error) -> ReplayError + '_ {
    move |e| ReplayError::Invalid(format!("{context}: {e}"))
}

/// Rebuilds `which` in the live pool's schema (the log's `store` is read
/// for the events), showing the events applied on `bar`.
///
/// Fails when the store or the database fails, or when an event cannot be
/// applied (the generation stays at the page before it, for the next run
/// to resume).
pub async fn rebuild(
    store: &dyn EventStore,
    live: &PgPool,
    which: &[Which],
    options: Options,
    bar: &ProgressBar,
) -> Result<Report, ReplayError> {
    let live_schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(live)
        .await
        .map_err(postgres("reading the live schema"))?;
    let started = Instant::now();
    let head = store.head_position().await?;
    bar.set_length(head * which.len() as u64);
    let mut projections = Vec::new();
    let mut read = 0;
    let mut interrupted = false;
    for w in which {
        let gen_schema = generation_schema(&live_schema, *w);
        let gen = generation_pool(live, &gen_schema, options.fresh).await?;
        let rebuilt = match w {
            Which::Rbac => {
                let projection = PgRbacProjection::new(SharedAccessModel::default());
                build(store, live, &gen, projection, *w, &options, bar).await?
            }
            Which::Audit => {
                build(
                    store,
                    live,
                    &gen,
                    PgAuditProjection::new(),
                    *w,
                    &options,
                    bar,
                )
                .await?
            }
        };
        read += rebuilt.events;
        interrupted |= !rebuilt.switched;
        gen.close().await;
        if rebuilt.switched {
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {gen_schema} CASCADE"))
                .execute(live)
                .await
                .map_err(postgres("dropping the generation"))?;
        }
        projections.push(rebuilt);
        if interrupted {
            break;
        }
    }
    bar.finish();
    let seconds = started.elapsed().as_secs_f64();
    Ok(Report {
        projections,
        read,
        seconds,
        events_per_second: if seconds > 0.0 {
            read as f64 / seconds
        } else {
            0.0
        },
        interrupted,
    })
}

/// A pool on the generation's schema (created; dropped first if `fresh`).
async fn generation_pool(live: &PgPool, schema: &str, fresh: bool) -> Result<PgPool, ReplayError> {
    if fresh {
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(live)
            .await
            .map_err(postgres("dropping the old generation"))?;
    }
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(live)
        .await
        .map_err(postgres("creating the generation's schema"))?;
    let options = (*live.connect_options())
        .clone()
        .options([("search_path", schema)]);
    PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .map_err(postgres("connecting to the generation's schema"))
}

/// Builds one projection's generation to the head (resuming from its
/// checkpoint), then switches it in unless stopped.
async fn build<P: PgProjection>(
    store: &dyn EventStore,
    live: &PgPool,
    gen: &PgPool,
    projection: P,
    which: Which,
    options: &Options,
    bar: &ProgressBar,
) -> Result<Rebuilt, ReplayError> {
    // The live tables too, where no server has made them yet (a database
    // loaded before any server ran: `--to-head`); the switch replaces them.
    projections::postgres::runner::migrate(&projection, live).await?;
    // Opening migrates the generation and warms up to its checkpoint.
    let mut runner = PgRunner::open(projection, gen.clone(), store)
        .await?
        .with_page(PAGE);
    let resumed_from = runner.position();
    let base = bar.position();
    bar.set_position(base + runner.position());
    let head = store.head_position().await?;
    let limit = options.stop_at.unwrap_or(u64::MAX);
    let mut stopped = false;
    while runner.position() < head {
        if options.stop.load(Ordering::Relaxed) || runner.position() >= limit {
            stopped = true;
            break;
        }
        let (next, reached) = runner.step_until(store, limit).await?;
        runner = next;
        bar.set_position(base + reached);
    }
    bar.set_position(base + head);
    let mut rebuilt = Rebuilt {
        projection: which,
        resumed_from,
        position: runner.position(),
        events: runner.position() - resumed_from,
        switched: false,
        rows: 0,
        switch_ms: 0.0,
    };
    if stopped {
        return Ok(rebuilt);
    }
    let switching = Instant::now();
    let (runner, rows) = switch(store, live, gen, runner).await?;
    rebuilt.position = runner.position();
    rebuilt.events = runner.position() - resumed_from;
    rebuilt.switched = true;
    rebuilt.rows = rows;
    rebuilt.switch_ms = switching.elapsed().as_secs_f64() * 1e3;
    Ok(rebuilt)
}

/// Replaces the live tables with the generation's in one transaction (see
/// the module doc); answers the runner and the rows switched in.
async fn switch<P: PgProjection>(
    store: &dyn EventStore,
    live: &PgPool,
    gen: &PgPool,
    mut runner: PgRunner<P>,
) -> Result<(PgRunner<P>, u64), ReplayError> {
    let gen_schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(gen)
        .await
        .map_err(postgres("reading the generation's schema"))?;
    let name = runner.projection().name();
    let tables = runner.projection().tables();
    let (_, migrations) = runner.projection().migrations();
    let mut tx = live
        .begin()
        .await
        .map_err(postgres("beginning the switch"))?;
    let live_at = lock_checkpoint(&mut tx, name)
        .await
        .map_err(postgres("locking the live checkpoint"))?;
    // Servers moved the live tables on meanwhile: the generation follows
    // (they wait at the lock now).
    while runner.position() < live_at {
        let before = runner.position();
        let (next, reached) = runner.step(store).await?;
        runner = next;
        if reached == before {
            return Err(ReplayError::Invalid(format!(
                "the live {name} tables are at position {live_at}, past the log's head {reached}"
            )));
        }
    }
    let live_schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut *tx)
        .await
        .map_err(postgres("reading the live schema"))?;
    let mut rows = 0u64;
    for table in tables {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {gen_schema}.{table}"))
            .fetch_one(&mut *tx)
            .await
            .map_err(postgres("counting the generation's rows"))?;
        rows += count as u64;
        // CASCADE: the views over the table go too (made again below).
        tx.execute(format!("DROP TABLE IF EXISTS {live_schema}.{table} CASCADE").as_str())
            .await
            .map_err(postgres("dropping a live table"))?;
        tx.execute(format!("ALTER TABLE {gen_schema}.{table} SET SCHEMA {live_schema}").as_str())
            .await
            .map_err(postgres("moving a rebuilt table in"))?;
    }
    for (_, _, sql) in migrations {
        tx.execute(*sql)
            .await
            .map_err(postgres("making the views again"))?;
    }
    save_checkpoint(&mut tx, name, runner.position().max(live_at))
        .await
        .map_err(postgres("setting the live checkpoint"))?;
    tx.commit()
        .await
        .map_err(postgres("committing the switch"))?;
    Ok((runner, rows))
}
