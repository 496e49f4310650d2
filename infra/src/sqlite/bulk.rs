//! Many rows per statement through rusqlite: multi-row `INSERT`s and `IN`
//! lists whose statements stay prepared (a few fixed shapes), for the
//! event store's appends and the projections' bulk writes.

use rusqlite::types::ToSql;
use rusqlite::{Connection, Statement};

/// SQLite's limit on parameters in one statement.
pub const MAX_PARAMETERS: usize = 32_766;

/// Rows per multi-row `INSERT` at most.
pub const ROWS_PER_STATEMENT: usize = 500;

/// Binds one row's values from parameter `at` (1-based) on.
pub fn bind(stmt: &mut Statement, at: usize, values: &[&dyn ToSql]) -> rusqlite::Result<()> {
    for (i, v) in values.iter().enumerate() {
        stmt.raw_bind_parameter(at + i, v)?;
    }
    Ok(())
}

/// Inserts `rows` into `table_and_columns` (`"t (a, b)"`), many per
/// statement, with `suffix` after the values (`""` or an `ON CONFLICT`
/// clause); `bind_row` binds one row's `columns` values from a given
/// parameter index on.
pub fn insert_many<T>(
    conn: &Connection,
    table_and_columns: &str,
    columns: usize,
    suffix: &str,
    rows: &[T],
    mut bind_row: impl FnMut(&mut Statement, usize, &T) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let per_statement = ROWS_PER_STATEMENT.min(MAX_PARAMETERS / columns);
    let row = format!("({})", vec!["?"; columns].join(","));
    let sql = |n: usize| {
        format!(
            "INSERT INTO {table_and_columns} VALUES {}{suffix}",
            vec![row.as_str(); n].join(",")
        )
    };
    let full = sql(per_statement);
    for chunk in rows.chunks(per_statement) {
        let mut stmt = if chunk.len() == per_statement {
            conn.prepare_cached(&full)?
        } else {
            conn.prepare_cached(&sql(chunk.len()))?
        };
        for (i, r) in chunk.iter().enumerate() {
            bind_row(&mut stmt, 1 + i * columns, r)?;
        }
        stmt.raw_execute()?;
    }
    Ok(())
}

/// Runs `select` (a query ending in `IN ` followed by the list this adds)
/// for `keys`, in lists of 1, 2, 4, ... 512 parameters (padded with NULL,
/// which matches nothing), so that a handful of statements stay prepared;
/// calls `each` with every row.
pub fn select_in<K: ToSql>(
    conn: &Connection,
    select: &str,
    keys: &[K],
    mut each: impl FnMut(&rusqlite::Row) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    const MOST: usize = 512;
    for chunk in keys.chunks(MOST) {
        let width = chunk.len().next_power_of_two();
        let sql = format!("{select}({})", vec!["?"; width].join(","));
        let mut stmt = conn.prepare_cached(&sql)?;
        for (i, key) in chunk.iter().enumerate() {
            stmt.raw_bind_parameter(i + 1, key)?;
        }
        for i in chunk.len()..width {
            stmt.raw_bind_parameter(i + 1, rusqlite::types::Null)?;
        }
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
            each(row)?;
        }
    }
    Ok(())
}
