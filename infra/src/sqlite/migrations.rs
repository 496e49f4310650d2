//! Versioned tables in a SQLite file: each component that keeps tables in
//! the file (the event store in `events.db`; the credentials, the
//! projections, their checkpoints, the streaming ledger and keys and the
//! snapshots in `rolebook.db`) owns its numbered migrations (`.sql` files
//! beside its module) and runs them through [`migrate`] when it opens the
//! file. Each migration runs once, in order, in one transaction with the
//! update of table `schema_version` (one row per component).
//!
//! The first migration of every component creates its tables with `IF NOT
//! EXISTS`, so a data dir written before versions were recorded is adopted
//! as it is. Tables migrated by a newer rolebook (a version this binary
//! does not know) are refused with a message that says so; nothing is
//! changed.

use rusqlite::{Connection, OptionalExtension};

/// One migration: its version (1, 2, ...), name and SQL.
pub type Migration = (i32, &'static str, &'static str);

/// Why a file's tables could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The file was migrated by a newer rolebook.
    #[error(
        "{file}: the {component} tables are at schema version {found}, newer than this rolebook \
         knows ({latest}): run a rolebook at least as new as the one that migrated them"
    )]
    Newer {
        file: String,
        component: String,
        found: i32,
        latest: i32,
    },
    /// A migration failed (nothing of it stays).
    #[error("{file}: {component} migration {version} ({name}) failed")]
    Failed {
        file: String,
        component: String,
        version: i32,
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// `schema_version` could not be read or written.
    #[error("{file}: schema_version")]
    Database {
        file: String,
        #[source]
        source: rusqlite::Error,
    },
}

/// The version of `migrations`' last.
pub fn latest(migrations: &[Migration]) -> i32 {
    migrations.last().map_or(0, |(v, _, _)| *v)
}

/// Brings `component`'s tables in `conn`'s file to the last of its
/// `migrations`; returns the version they were at. Takes SQLite's write
/// lock for the length of it (other processes wait, up to the busy
/// timeout).
pub fn migrate(
    conn: &Connection,
    component: &str,
    migrations: &[Migration],
) -> Result<i32, MigrationError> {
    let file = conn.path().unwrap_or(":memory:").to_string();
    let database = |source| MigrationError::Database {
        file: file.clone(),
        source,
    };
    let latest = latest(migrations);
    // `Connection::transaction` needs `&mut`; the callers hold shared
    // ones. IMMEDIATE: the write lock up front, so two processes opening
    // the file at once migrate one after the other.
    conn.execute_batch("BEGIN IMMEDIATE").map_err(database)?;
    let outcome = (|| {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 component TEXT PRIMARY KEY,
                 version   INTEGER NOT NULL
             ) STRICT, WITHOUT ROWID",
        )
        .map_err(database)?;
        let found: i32 = conn
            .query_row(
                "SELECT version FROM schema_version WHERE component = ?1",
                [component],
                |r| r.get(0),
            )
            .optional()
            .map_err(database)?
            .unwrap_or(0);
        if found > latest {
            return Err(MigrationError::Newer {
                file: file.clone(),
                component: component.to_string(),
                found,
                latest,
            });
        }
        for (version, name, sql) in migrations.iter().filter(|(v, _, _)| *v > found) {
            conn.execute_batch(sql)
                .map_err(|source| MigrationError::Failed {
                    file: file.clone(),
                    component: component.to_string(),
                    version: *version,
                    name,
                    source,
                })?;
            tracing::info!(file, component, version, name, "schema migrated");
        }
        if found < latest {
            conn.execute(
                "INSERT INTO schema_version (component, version) VALUES (?1, ?2)
                 ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                rusqlite::params![component, latest],
            )
            .map_err(database)?;
        }
        Ok(found)
    })();
    match outcome {
        Ok(found) => {
            conn.execute_batch("COMMIT").map_err(database)?;
            Ok(found)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// [`migrate`] on a connection of its own to the file at `path` (waiting
/// up to 10 s for another process's lock). Blocking.
pub fn migrate_file(
    path: &std::path::Path,
    component: &str,
    migrations: &[Migration],
) -> Result<i32, MigrationError> {
    let database = |source| MigrationError::Database {
        file: path.display().to_string(),
        source,
    };
    let conn = Connection::open(path).map_err(database)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(database)?;
    migrate(&conn, component, migrations)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &[Migration] = &[(1, "t", "CREATE TABLE IF NOT EXISTS t (x INTEGER)")];
    const V2: &[Migration] = &[
        (1, "t", "CREATE TABLE IF NOT EXISTS t (x INTEGER)"),
        (2, "y", "ALTER TABLE t ADD COLUMN y INTEGER"),
    ];

    fn columns(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info('t')")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn migrations_run_once_in_order_and_a_newer_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("f.db")).unwrap();
        // A file written before versions were recorded: adopted as it is.
        conn.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7)")
            .unwrap();
        assert_eq!(migrate(&conn, "c", V1).unwrap(), 0);
        assert_eq!(migrate(&conn, "c", V1).unwrap(), 1, "already there");
        assert_eq!(migrate(&conn, "c", V2).unwrap(), 1);
        assert_eq!(columns(&conn), ["x", "y"]);
        let kept: i64 = conn.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(kept, 7, "rows survive");
        // Another component in the same file has its own version.
        assert_eq!(migrate(&conn, "other", V1).unwrap(), 0);

        let refused = migrate(&conn, "c", V1).unwrap_err();
        assert!(
            matches!(
                refused,
                MigrationError::Newer {
                    found: 2,
                    latest: 1,
                    ..
                }
            ),
            "{refused:?}"
        );
        assert!(refused
            .to_string()
            .contains("newer than this rolebook knows"));
        assert_eq!(columns(&conn), ["x", "y"], "nothing changed");
    }

    #[test]
    fn a_failed_migration_leaves_nothing_of_itself() {
        let conn = Connection::open_in_memory().unwrap();
        let broken: &[Migration] = &[
            (1, "t", "CREATE TABLE t (x INTEGER)"),
            (
                2,
                "bad",
                "CREATE TABLE u (x INTEGER); SELECT * FROM nowhere",
            ),
        ];
        let failed = migrate(&conn, "c", broken).unwrap_err();
        assert!(
            matches!(failed, MigrationError::Failed { version: 2, .. }),
            "{failed:?}"
        );
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('t', 'u', 'schema_version')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0, "the whole transaction rolled back");
    }
}
