//! Versioned tables in PostgreSQL: each component that keeps tables in the
//! schema (the event store here, the credentials in `commands`) owns its
//! numbered migrations (`NNNN_name.sql` beside its module) and runs them
//! through [`migrate`]; each runs once, in order, and table
//! `schema_version` records how far each component has come (one row per
//! component).
//!
//! Migrations run in one transaction under an advisory lock of the schema,
//! so that several rolebook processes starting at once migrate once.
//! Tables migrated by a newer rolebook (a version this binary does not
//! know) are refused with a message that says so; nothing is changed.

use domain::store::StoreError;
use sqlx::{Executor as _, PgPool};

use super::backend;

/// One migration: its version (1, 2, ...), name and SQL.
pub type Migration = (i32, &'static str, &'static str);

/// The event store's row in `schema_version`.
const EVENT_STORE: &str = "event_store";

/// The event store's migrations, in order.
const MIGRATIONS: &[Migration] = &[
    (1, "events", include_str!("migrations/0001_events.sql")),
    (2, "receipts", include_str!("migrations/0002_receipts.sql")),
    (
        3,
        "sealing_keys",
        include_str!("migrations/0003_sealing_keys.sql"),
    ),
];

/// The advisory lock class of migrations (the key is the schema's).
const MIGRATION_LOCK: i32 = 2;

/// The version this binary brings the event store's tables to.
pub fn latest() -> i32 {
    latest_of(MIGRATIONS)
}

fn latest_of(migrations: &[Migration]) -> i32 {
    migrations.last().map_or(0, |(v, _, _)| *v)
}

/// Brings the event store's tables in the pool's schema to [`latest`].
pub(super) async fn migrate_event_store(pool: &PgPool) -> Result<i32, StoreError> {
    migrate(pool, EVENT_STORE, MIGRATIONS).await
}

/// Brings `component`'s tables in the pool's schema to the last of its
/// `migrations`; returns the version they were at.
///
/// Fails with [`StoreError::Backend`] when a migration fails (nothing of it
/// stays) or when the schema holds a version newer than this binary knows.
pub async fn migrate(
    pool: &PgPool,
    component: &str,
    migrations: &[Migration],
) -> Result<i32, StoreError> {
    let latest = latest_of(migrations);
    let mut tx = pool
        .begin()
        .await
        .map_err(backend("beginning migrations"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(backend("waiting for the migration lock"))?;
    (&mut *tx)
        .execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 component TEXT PRIMARY KEY,
                 version   INTEGER NOT NULL
             )",
        )
        .await
        .map_err(backend("creating schema_version"))?;
    let found: Option<i32> =
        sqlx::query_scalar("SELECT version FROM schema_version WHERE component = $1")
            .bind(component)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend("reading schema_version"))?;
    let found = found.unwrap_or(0);
    if found > latest {
        return Err(StoreError::backend_without_source(format!(
            "postgres: the {component} tables are at schema version {found}, newer than this \
             rolebook knows ({latest}): run a rolebook at least as new as the one that \
             migrated them"
        )));
    }
    for (version, name, sql) in migrations.iter().filter(|(v, _, _)| *v > found) {
        // A `&str` without arguments runs as a simple query: several
        // statements in one.
        (&mut *tx).execute(*sql).await.map_err(backend(&format!(
            "{component} migration {version} ({name})"
        )))?;
        tracing::info!(component, version, name, "schema migrated");
    }
    sqlx::query(
        "INSERT INTO schema_version (component, version) VALUES ($1, $2)
         ON CONFLICT (component) DO UPDATE SET version = excluded.version",
    )
    .bind(component)
    .bind(latest)
    .execute(&mut *tx)
    .await
    .map_err(backend("recording schema_version"))?;
    tx.commit()
        .await
        .map_err(backend("committing migrations"))?;
    Ok(found)
}
