//! Where bucket streaming keeps its tables (the sealed keys and the
//! ledger): the data dir's read-model database on the embedded store, or
//! the schema of the log in PostgreSQL, so that every rolebook process on
//! one database reads the same keys and the same record of what went out.

use std::path::PathBuf;

/// The database holding streaming's tables.
#[derive(Debug, Clone)]
pub enum Tables {
    /// The read-model database file (`rolebook.db`).
    Embedded(PathBuf),
    /// The log's PostgreSQL schema.
    Postgres(sqlx::PgPool),
}

/// A PostgreSQL failure, with what was being done.
pub(crate) fn postgres(context: &'static str) -> impl Fn(sqlx::Error) -> super::StreamingError {
    move |source| super::StreamingError::Postgres { context, source }
}

/// Claims the streaming pass for this process when the tables are in
/// PostgreSQL: several processes on one database would otherwise export
/// the same days at once. The claim is a transaction-scoped advisory lock
/// of the schema, held by the returned transaction until it is dropped (a
/// rollback: nothing is written through it). `None`: another process is
/// streaming now; on the embedded database there is one process and no
/// claim is needed (`Some(None)`).
pub async fn claim_pass(
    tables: &Tables,
) -> Result<Option<Option<sqlx::Transaction<'static, sqlx::Postgres>>>, super::StreamingError> {
    let Tables::Postgres(pool) = tables else {
        return Ok(Some(None));
    };
    let mut tx = pool
        .begin()
        .await
        .map_err(postgres("cannot claim the streaming pass"))?;
    let claimed: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(3, hashtext(current_schema()))")
            .fetch_one(&mut *tx)
            .await
            .map_err(postgres("cannot claim the streaming pass"))?;
    Ok(claimed.then_some(Some(tx)))
}
