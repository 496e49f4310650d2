//! A schema of its own on the machine's PostgreSQL, for the tests of the
//! PostgreSQL backend: the server at `ROLEBOOK_TEST_DATABASE_URL` (by
//! default `postgres://postgres@127.0.0.1:5432/test`). The tests fail, not
//! skip, when it cannot be reached. Whoever opens a store in the schema
//! creates it (or [`TestSchema::create`]); it is dropped, with the schemas
//! named beside it, when the handle goes.

/// The test database's URL.
pub fn database_url() -> String {
    std::env::var("ROLEBOOK_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A schema named `t_<uuid v7>`, dropped with [`Drop`].
pub struct TestSchema {
    pub name: String,
    beside: Vec<String>,
}

impl Default for TestSchema {
    fn default() -> Self {
        Self::new()
    }
}

impl TestSchema {
    /// A new name (the schema is not created yet).
    pub fn new() -> TestSchema {
        TestSchema {
            name: format!("t_{}", uuid::Uuid::now_v7().simple()),
            beside: Vec::new(),
        }
    }

    /// Drops `<name>_<suffix>` too, for each suffix (a rebuild's
    /// generations).
    pub fn dropping_beside(mut self, suffixes: &[&str]) -> TestSchema {
        self.beside
            .extend(suffixes.iter().map(|s| format!("{}_{s}", self.name)));
        self
    }

    /// Creates the schema now.
    pub fn create(self) -> TestSchema {
        run(format!("CREATE SCHEMA {}", self.name));
        self
    }

    /// The database's URL with this schema as the connections'
    /// `search_path` (a server's `--database-url`).
    pub fn url(&self) -> String {
        let base = database_url();
        let separator = if base.contains('?') { '&' } else { '?' };
        format!("{base}{separator}options=-c%20search_path%3D{}", self.name)
    }

    /// Runs `sql` in the schema; panics naming the statement if it fails.
    pub fn execute(&self, sql: &str) {
        run(format!("SET search_path TO {}; {sql}", self.name));
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let sql: String = std::iter::once(&self.name)
            .chain(&self.beside)
            .map(|s| format!("DROP SCHEMA IF EXISTS {s} CASCADE;"))
            .collect();
        // Not while unwinding from a failed test: the failure is the news.
        let _ = std::panic::catch_unwind(|| run(sql));
    }
}

/// Runs `sql` on the test database, on a thread of its own (the caller
/// may be inside an async runtime).
fn run(sql: String) {
    std::thread::spawn(move || {
        use sqlx::Connection as _;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the PostgreSQL helper");
        runtime.block_on(async {
            let url = database_url();
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {url}: {e}"));
            sqlx::raw_sql(&sql)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        })
    })
    .join()
    .expect("the PostgreSQL helper");
}
