//! Where the server keeps its tables beside the log (bucket streaming's
//! sealed keys and ledger, the audit webhooks' secrets, cursors and
//! delivery log, single sign-on's pending logins): the data dir's
//! read-model database on the embedded store, or the schema of the log in
//! PostgreSQL, so that every rolebook process on one database reads the
//! same. [`Tables::execute`] and [`Tables::rows`] run one statement text on
//! either: SQLite reads `$1`, `$2`, … as positional parameters, as
//! PostgreSQL does.

use std::path::PathBuf;

use sqlx::Row as _;

use super::StreamingError;

/// The database holding streaming's tables.
#[derive(Debug, Clone)]
pub enum Tables {
    /// The read-model database file (`rolebook.db`).
    Embedded(PathBuf),
    /// The log's PostgreSQL schema.
    Postgres(sqlx::PgPool),
}

/// A statement's parameter.
pub(crate) enum Arg {
    Int(i64),
    Text(String),
    NullInt,
    NullText,
}

/// A column's type, to read it back from either database.
#[derive(Clone, Copy)]
pub(crate) enum Ty {
    Int,
    Text,
    OptInt,
    OptText,
}

#[derive(Debug)]
pub(crate) enum Val {
    Int(Option<i64>),
    Text(Option<String>),
}

impl Val {
    pub(crate) fn int(&self) -> i64 {
        match self {
            Val::Int(i) => i.unwrap_or_default(),
            Val::Text(_) => 0,
        }
    }
    pub(crate) fn opt_int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => *i,
            Val::Text(_) => None,
        }
    }
    pub(crate) fn text(&self) -> Option<String> {
        match self {
            Val::Text(t) => t.clone(),
            Val::Int(_) => None,
        }
    }
}

impl Tables {
    /// Creates or upgrades `component`'s tables: `sqlite` on the embedded
    /// database, `postgres` in the log's schema.
    pub(crate) async fn migrate(
        &self,
        component: &'static str,
        sqlite: &'static [infra::sqlite::migrations::Migration],
        postgres: &'static [infra::postgres::migrations::Migration],
    ) -> Result<(), StreamingError> {
        match self {
            Tables::Embedded(db) => {
                let db = db.clone();
                tokio::task::spawn_blocking(move || {
                    let conn = projections::db::open(&db)
                        .map_err(StreamingError::db("cannot open the tables beside the log"))?;
                    infra::sqlite::migrations::migrate(&conn, component, sqlite)?;
                    Ok::<_, StreamingError>(())
                })
                .await
                .map_err(|e| StreamingError::Task(e.to_string()))?
            }
            Tables::Postgres(pool) => {
                infra::postgres::migrations::migrate(pool, component, postgres).await?;
                Ok(())
            }
        }
    }

    /// Runs `statements` in one transaction; fails with `context` and
    /// the database's error.
    pub(crate) async fn execute(
        &self,
        context: &'static str,
        statements: Vec<(&'static str, Vec<Arg>)>,
    ) -> Result<(), StreamingError> {
        match self {
            Tables::Embedded(db) => {
                let db = db.clone();
                tokio::task::spawn_blocking(move || {
                    let mut conn =
                        projections::db::open(&db).map_err(StreamingError::db(context))?;
                    conn.pragma_update(None, "secure_delete", true)
                        .map_err(StreamingError::db(context))?;
                    let tx = conn.transaction().map_err(StreamingError::db(context))?;
                    for (sql, args) in statements {
                        tx.execute(
                            sql,
                            rusqlite::params_from_iter(args.iter().map(sqlite_value)),
                        )
                        .map_err(StreamingError::db(context))?;
                    }
                    tx.commit().map_err(StreamingError::db(context))
                })
                .await
                .map_err(|e| StreamingError::Task(e.to_string()))?
            }
            Tables::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(postgres(context))?;
                for (sql, args) in statements {
                    bind(sqlx::query(sql), args)
                        .execute(&mut *tx)
                        .await
                        .map_err(postgres(context))?;
                }
                tx.commit().await.map_err(postgres(context))
            }
        }
    }

    /// The rows `sql` selects, each column read as `types` says.
    pub(crate) async fn rows(
        &self,
        context: &'static str,
        sql: &'static str,
        args: Vec<Arg>,
        types: &'static [Ty],
    ) -> Result<Vec<Vec<Val>>, StreamingError> {
        match self {
            Tables::Embedded(db) => {
                let db = db.clone();
                tokio::task::spawn_blocking(move || {
                    let conn = projections::db::open(&db).map_err(StreamingError::db(context))?;
                    let mut stmt = conn.prepare(sql).map_err(StreamingError::db(context))?;
                    let rows = stmt
                        .query_map(
                            rusqlite::params_from_iter(args.iter().map(sqlite_value)),
                            |r| {
                                types
                                    .iter()
                                    .enumerate()
                                    .map(|(i, t)| {
                                        Ok(match t {
                                            Ty::Int | Ty::OptInt => Val::Int(r.get(i)?),
                                            Ty::Text | Ty::OptText => Val::Text(r.get(i)?),
                                        })
                                    })
                                    .collect::<rusqlite::Result<Vec<Val>>>()
                            },
                        )
                        .map_err(StreamingError::db(context))?;
                    rows.collect::<Result<Vec<_>, _>>()
                        .map_err(StreamingError::db(context))
                })
                .await
                .map_err(|e| StreamingError::Task(e.to_string()))?
            }
            Tables::Postgres(pool) => {
                let rows = bind(sqlx::query(sql), args)
                    .fetch_all(pool)
                    .await
                    .map_err(postgres(context))?;
                rows.iter()
                    .map(|r| {
                        types
                            .iter()
                            .enumerate()
                            .map(|(i, t)| {
                                Ok(match t {
                                    Ty::Int => Val::Int(Some(r.try_get::<i64, _>(i)?)),
                                    Ty::OptInt => Val::Int(r.try_get::<Option<i64>, _>(i)?),
                                    Ty::Text => Val::Text(Some(r.try_get::<String, _>(i)?)),
                                    Ty::OptText => Val::Text(r.try_get::<Option<String>, _>(i)?),
                                })
                            })
                            .collect::<Result<Vec<Val>, sqlx::Error>>()
                            .map_err(postgres(context))
                    })
                    .collect()
            }
        }
    }
}

fn sqlite_value(a: &Arg) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match a {
        Arg::Int(i) => Value::Integer(*i),
        Arg::Text(t) => Value::Text(t.clone()),
        Arg::NullInt | Arg::NullText => Value::Null,
    }
}

fn bind(
    mut q: sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments> {
    for a in args {
        q = match a {
            Arg::Int(i) => q.bind(i),
            Arg::Text(t) => q.bind(t),
            Arg::NullInt => q.bind(None::<i64>),
            Arg::NullText => q.bind(None::<String>),
        };
    }
    q
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
    claim_pass_of(tables, 3).await
}

/// [`claim_pass`] for the background task of lock class `class` (3:
/// bucket streaming, 4: audit webhooks).
pub async fn claim_pass_of(
    tables: &Tables,
    class: i32,
) -> Result<Option<Option<sqlx::Transaction<'static, sqlx::Postgres>>>, super::StreamingError> {
    let Tables::Postgres(pool) = tables else {
        return Ok(Some(None));
    };
    let mut tx = pool
        .begin()
        .await
        .map_err(postgres("cannot claim the streaming pass"))?;
    let claimed: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, hashtext(current_schema()))")
            .bind(class)
            .fetch_one(&mut *tx)
            .await
            .map_err(postgres("cannot claim the streaming pass"))?;
    Ok(claimed.then_some(Some(tx)))
}
