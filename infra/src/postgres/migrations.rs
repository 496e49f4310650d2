//! The event store's tables in PostgreSQL, owned here and versioned: each
//! migration in `migrations/NNNN_name.sql` runs once, in order, and table
//! `schema_version` records how far a schema has come (one row per
//! component, so that the read models can keep theirs beside it).
//!
//! Migrations run at connect in one transaction under an advisory lock, so
//! that several rolebook processes starting at once migrate once. A schema
//! migrated by a newer rolebook (a version this binary does not know) is
//! refused with a message that says so; nothing is changed.

use domain::store::StoreError;
use sqlx::PgPool;

use super::backend;

/// This component's row in `schema_version`.
const COMPONENT: &str = "event_store";

/// Every migration, in order: (version, name, SQL).
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "events", include_str!("migrations/0001_events.sql")),
    (2, "receipts", include_str!("migrations/0002_receipts.sql")),
];

/// The advisory lock class of migrations (the key is the schema's).
const MIGRATION_LOCK: i32 = 2;

/// The version this binary brings a schema to.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |(v, _, _)| *v)
}

/// Brings the pool's schema to [`latest`]; returns the version it was at.
///
/// Fails with [`StoreError::Backend`] when a migration fails (nothing of it
/// stays) or when the schema is newer than this binary knows.
pub(super) async fn migrate(pool: &PgPool, lock_key: i32) -> Result<i32, StoreError> {
    let mut tx = pool
        .begin()
        .await
        .map_err(backend("beginning migrations"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(MIGRATION_LOCK)
        .bind(lock_key)
        .execute(&mut *tx)
        .await
        .map_err(backend("waiting for the migration lock"))?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_version (
             component TEXT PRIMARY KEY,
             version   INTEGER NOT NULL
         )",
    )
    .execute(&mut *tx)
    .await
    .map_err(backend("creating schema_version"))?;
    let found: Option<i32> =
        sqlx::query_scalar("SELECT version FROM schema_version WHERE component = $1")
            .bind(COMPONENT)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend("reading schema_version"))?;
    let found = found.unwrap_or(0);
    if found > latest() {
        return Err(StoreError::backend_without_source(format!(
            "postgres: the event store's schema is at version {found}, newer than this \
             rolebook knows ({}): run a rolebook at least as new as the one that migrated it",
            latest()
        )));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > found) {
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(backend(&format!("migration {version} ({name})")))?;
        tracing::info!(version, name, "event store schema migrated");
    }
    sqlx::query(
        "INSERT INTO schema_version (component, version) VALUES ($1, $2)
         ON CONFLICT (component) DO UPDATE SET version = excluded.version",
    )
    .bind(COMPONENT)
    .bind(latest())
    .execute(&mut *tx)
    .await
    .map_err(backend("recording schema_version"))?;
    tx.commit()
        .await
        .map_err(backend("committing migrations"))?;
    Ok(found)
}
