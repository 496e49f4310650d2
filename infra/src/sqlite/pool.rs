//! A pool of read-only rusqlite connections to one SQLite file, used on
//! tokio's blocking threads: the event store's reads and the read-model
//! queries. Connections are opened when first needed and kept for the next
//! read (at most `idle`); in WAL mode every read sees the last commit,
//! whatever connection it gets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::Connection;

/// How a pool opens a connection.
pub type Open = fn(&Path) -> rusqlite::Result<Connection>;

/// The pool (cheap to clone: clones share it).
#[derive(Clone)]
pub struct ReadPool {
    path: Arc<PathBuf>,
    open: Open,
    max_idle: usize,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl std::fmt::Debug for ReadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadPool")
            .field("path", &self.path)
            .field("max_idle", &self.max_idle)
            .finish_non_exhaustive()
    }
}

/// A connection of a [`ReadPool`], back in the pool when dropped.
pub struct Pooled {
    conn: Option<Connection>,
    pool: ReadPool,
}

impl std::ops::Deref for Pooled {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("held until dropped")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut idle = self.pool.idle.lock();
        if idle.len() < self.pool.max_idle {
            idle.extend(self.conn.take());
        }
    }
}

impl ReadPool {
    /// A pool over `path` that opens connections with `open` and keeps at
    /// most `max_idle` of them.
    pub fn new(path: &Path, open: Open, max_idle: usize) -> Self {
        ReadPool {
            path: Arc::new(path.to_path_buf()),
            open,
            max_idle,
            idle: Arc::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A connection for a blocking read: an idle one, or a new one.
    /// Blocking: call it on a blocking thread.
    pub fn take(&self) -> rusqlite::Result<Pooled> {
        let idle = self.idle.lock().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => (self.open)(&self.path)?,
        };
        Ok(Pooled {
            conn: Some(conn),
            pool: self.clone(),
        })
    }

    /// Runs `read` with a connection on a blocking thread. A panic in it
    /// resumes in the caller.
    pub async fn run<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> T + Send + 'static,
    ) -> rusqlite::Result<T> {
        let pool = self.clone();
        match tokio::task::spawn_blocking(move || pool.take().map(|conn| read(&conn))).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a read was cancelled (the runtime is shutting down): {e}"),
        }
    }
}
