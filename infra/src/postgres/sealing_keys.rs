//! The key files every rolebook process on one database must share.
//!
//! A server seals what it keeps beside the log with keys from files in its
//! data dir (`answers.key`: the kept answers of idempotent commands;
//! `streaming.key`: the bucket keys of audit streaming). Processes on one
//! PostgreSQL database read each other's sealed rows, so they must hold the
//! same files. The first process records each key's fingerprint (a SHA-256
//! of the key, from which the key cannot be found) in `sealing_keys`; a
//! process with another key refuses to start and says which file to copy.

use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::backend;
use domain::store::StoreError;

/// The fingerprint of the key `name`: hex SHA-256 of a fixed label, the
/// name and the key.
pub fn fingerprint(name: &str, key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"rolebook sealing key v1\0");
    h.update(name.as_bytes());
    h.update(b"\0");
    h.update(key);
    hex::encode(h.finalize())
}

/// Records the fingerprint of key file `name` if none is recorded, or
/// checks that `key` is the recorded one.
///
/// Fails with [`StoreError::Backend`] when the database fails, and with a
/// message naming the file to copy when `key` differs from the others'.
pub async fn agree(pool: &PgPool, name: &str, key: &[u8; 32]) -> Result<(), StoreError> {
    let mine = fingerprint(name, key);
    let recorded: String = sqlx::query_scalar(
        "INSERT INTO sealing_keys (name, fingerprint) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET name = excluded.name
         RETURNING fingerprint",
    )
    .bind(name)
    .bind(&mine)
    .fetch_one(pool)
    .await
    .map_err(backend("recording the sealing keys"))?;
    if recorded != mine {
        return Err(StoreError::backend_without_source(format!(
            "{name} in this data dir is not the key the other rolebook processes on this \
             database seal with: copy {name} from the data dir of one of them into this one \
             (every process on one database needs the same {name}), then start again"
        )));
    }
    Ok(())
}
