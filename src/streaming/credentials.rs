//! The streaming target's keys, encrypted at rest.
//!
//! They live in table `streaming_credentials` of the read-model database,
//! one row per organization, never in the event log (which only records
//! that streaming was configured). Both the access key id and the secret
//! are sealed with AES-256-GCM under a key kept in `streaming.key` beside
//! the database (32 random bytes, created on first use with mode 0600), a
//! fresh random nonce per value, and the organization and column as
//! associated data (a value copied to another row or column does not
//! open). Stored as `v1:<hex nonce>:<hex ciphertext and tag>`.
//!
//! Rows written in plain text before encryption existed are sealed when the
//! table is opened. Losing the key file makes the stored keys unreadable
//! (configure streaming again); copying the database without it reveals
//! nothing. Nothing here logs or returns a secret except [`Credentials::get`],
//! which the streaming task alone calls.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use domain::ids::OrgId;
use rusqlite::{Connection, OptionalExtension};

use infra::sqlite::migrations::{self, Migration};

use super::tables::{postgres, Tables};
use super::StreamingError;

/// The key file's name, beside the read-model database.
pub const KEY_FILE: &str = "streaming.key";

/// The keys table's migrations (`infra::sqlite::migrations`).
const MIGRATIONS: &[Migration] = &[(
    1,
    "streaming_credentials",
    include_str!("credentials/0001_streaming_credentials.sql"),
)];

/// The same table in PostgreSQL (`infra::postgres::migrations`).
const POSTGRES_MIGRATIONS: &[infra::postgres::migrations::Migration] = &[(
    1,
    "streaming_credentials",
    include_str!("credentials/postgres.sql"),
)];

const SEALED: &str = "v1:";

/// An organization's keys, opened. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .finish()
    }
}

/// The credentials table with its cipher (see the module doc).
///
/// Every method fails with [`StreamingError::Database`] when SQLite fails;
/// [`Credentials::open`] also with [`StreamingError::Io`] for the key file,
/// and [`Credentials::get`] with [`StreamingError::Sealed`] for a value the
/// key cannot open.
#[derive(Clone)]
pub struct Credentials {
    tables: Tables,
    cipher: Aes256Gcm,
}

/// Reads the key file, or creates it (0600) with a new random key.
fn load_or_create_key(path: &Path) -> Result<Key<Aes256Gcm>, StreamingError> {
    let key = infra::keyfile::load_or_create(path)
        .map_err(|e| StreamingError::Sealed(format!("{e:#}")))?;
    Ok(*Key::<Aes256Gcm>::from_slice(&key))
}

impl Credentials {
    /// Opens the table in the read-model database `read_db` (creating it)
    /// with the key file beside it (creating it), and seals any row still in
    /// plain text.
    pub fn open(read_db: &Path) -> Result<Credentials, StreamingError> {
        let key_path = read_db.parent().unwrap_or(Path::new(".")).join(KEY_FILE);
        let key = load_or_create_key(&key_path)?;
        let c = Credentials {
            tables: Tables::Embedded(read_db.to_path_buf()),
            cipher: Aes256Gcm::new(&key),
        };
        migrations::migrate(&c.conn()?, "streaming_credentials", MIGRATIONS)?;
        c.seal_plain_rows()?;
        Ok(c)
    }

    /// Opens the table where `tables` says, sealing with the key in
    /// `key_file` (created if missing). Every process on one PostgreSQL
    /// database must use the same key file: on PostgreSQL this fails, naming
    /// the file to copy, when the key is not the one the others recorded.
    pub async fn open_in(tables: &Tables, key_file: &Path) -> Result<Credentials, StreamingError> {
        match tables {
            Tables::Embedded(db) => {
                let db = db.clone();
                blocking(move || Credentials::open(&db)).await
            }
            Tables::Postgres(pool) => {
                infra::postgres::migrations::migrate(
                    pool,
                    "streaming_credentials",
                    POSTGRES_MIGRATIONS,
                )
                .await?;
                let key = infra::keyfile::load_or_create(key_file)
                    .map_err(|e| StreamingError::Sealed(format!("{e:#}")))?;
                // Every process on the database opens what the others
                // sealed: their key files must be one.
                infra::postgres::sealing_keys::agree(pool, KEY_FILE, &key).await?;
                Ok(Credentials {
                    tables: tables.clone(),
                    cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
                })
            }
        }
    }

    /// Where the keys are stored.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    fn conn(&self) -> Result<Connection, StreamingError> {
        let Tables::Embedded(db) = &self.tables else {
            unreachable!(
                "the embedded table's connection is asked for only on the embedded database"
            )
        };
        let conn = projections::db::open(db)
            .map_err(StreamingError::db("cannot open the credentials table"))?;
        // Replaced and deleted values are overwritten, not left in free pages.
        conn.pragma_update(None, "secure_delete", true)
            .map_err(StreamingError::db("cannot open the credentials table"))?;
        Ok(conn)
    }

    /// Seals `plain` for `org`'s `column` (also the notification targets'
    /// URLs and signing secrets, `crate::notifications::secrets`).
    pub(crate) fn seal(&self, org: OrgId, column: &str, plain: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = format!("{org}:{column}");
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM seals any short value");
        format!("{SEALED}{}:{}", hex::encode(nonce), hex::encode(sealed))
    }

    /// Opens what [`Credentials::seal`] sealed for `org`'s `column`.
    pub(crate) fn open_value(
        &self,
        org: OrgId,
        column: &str,
        stored: &str,
    ) -> Result<String, StreamingError> {
        let bad = || {
            StreamingError::Sealed(format!(
                "the stored {column} of {org} cannot be decrypted with {KEY_FILE} (configure streaming again)"
            ))
        };
        let rest = stored.strip_prefix(SEALED).ok_or_else(bad)?;
        let (nonce, sealed) = rest.split_once(':').ok_or_else(bad)?;
        let nonce = hex::decode(nonce).map_err(|_| bad())?;
        let sealed = hex::decode(sealed).map_err(|_| bad())?;
        if nonce.len() != 12 {
            return Err(bad());
        }
        let aad = format!("{org}:{column}");
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| bad())?;
        String::from_utf8(plain).map_err(|_| bad())
    }

    /// Seals rows written in plain text (before encryption at rest).
    fn seal_plain_rows(&self) -> Result<(), StreamingError> {
        let conn = self.conn()?;
        let plain: Vec<(String, String, String)> = {
            let mut stmt = conn
                .prepare(
                    "SELECT org_id, access_key_id, secret_access_key FROM streaming_credentials \
                     WHERE access_key_id NOT LIKE 'v1:%' OR secret_access_key NOT LIKE 'v1:%'",
                )
                .map_err(StreamingError::db("cannot read the credentials table"))?;
            let rows = stmt
                .query_map((), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(StreamingError::db("cannot read the credentials table"))?;
            rows.collect::<Result<_, _>>()
                .map_err(StreamingError::db("cannot read the credentials table"))?
        };
        for (org, key_id, secret) in plain {
            let Ok(org_id) = org.parse::<OrgId>() else {
                continue;
            };
            let key_id = if key_id.starts_with(SEALED) {
                key_id
            } else {
                self.seal(org_id, "access_key_id", &key_id)
            };
            let secret = if secret.starts_with(SEALED) {
                secret
            } else {
                self.seal(org_id, "secret_access_key", &secret)
            };
            conn.execute(
                "UPDATE streaming_credentials SET access_key_id = ?2, secret_access_key = ?3 \
                 WHERE org_id = ?1",
                (org, key_id, secret),
            )
            .map_err(StreamingError::db("cannot seal the stored credentials"))?;
        }
        Ok(())
    }

    /// Stores (or replaces) `org`'s keys, sealed.
    pub async fn put(
        &self,
        org: OrgId,
        access_key_id: &str,
        secret: &str,
    ) -> Result<(), StreamingError> {
        let key_id = self.seal(org, "access_key_id", access_key_id);
        let secret = self.seal(org, "secret_access_key", secret);
        let now = chrono::Utc::now().to_rfc3339();
        match &self.tables {
            Tables::Embedded(_) => {
                let this = self.clone();
                blocking(move || {
                    this.conn()?
                        .execute(
                            "INSERT INTO streaming_credentials (org_id, access_key_id, secret_access_key, updated_at)
                             VALUES (?1, ?2, ?3, ?4)
                             ON CONFLICT (org_id) DO UPDATE SET access_key_id = excluded.access_key_id,
                                 secret_access_key = excluded.secret_access_key, updated_at = excluded.updated_at",
                            (org.to_string(), key_id, secret, now),
                        )
                        .map_err(StreamingError::db("cannot store the credentials"))?;
                    Ok(())
                })
                .await
            }
            Tables::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO streaming_credentials (org_id, access_key_id, secret_access_key, updated_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (org_id) DO UPDATE SET access_key_id = excluded.access_key_id,
                         secret_access_key = excluded.secret_access_key, updated_at = excluded.updated_at",
                )
                .bind(org.to_string())
                .bind(key_id)
                .bind(secret)
                .bind(now)
                .execute(pool)
                .await
                .map_err(postgres("cannot store the credentials"))?;
                Ok(())
            }
        }
    }

    /// Deletes `org`'s keys (nothing when there are none).
    pub async fn delete(&self, org: OrgId) -> Result<(), StreamingError> {
        match &self.tables {
            Tables::Embedded(_) => {
                let this = self.clone();
                blocking(move || {
                    this.conn()?
                        .execute(
                            "DELETE FROM streaming_credentials WHERE org_id = ?1",
                            (org.to_string(),),
                        )
                        .map_err(StreamingError::db("cannot delete the credentials"))?;
                    Ok(())
                })
                .await
            }
            Tables::Postgres(pool) => {
                sqlx::query("DELETE FROM streaming_credentials WHERE org_id = $1")
                    .bind(org.to_string())
                    .execute(pool)
                    .await
                    .map_err(postgres("cannot delete the credentials"))?;
                Ok(())
            }
        }
    }

    /// Whether keys are stored for `org`.
    pub async fn stored(&self, org: OrgId) -> Result<bool, StreamingError> {
        Ok(self.sealed(org).await?.is_some())
    }

    /// `org`'s keys, opened; `None` when none are stored.
    pub async fn get(&self, org: OrgId) -> Result<Option<Keys>, StreamingError> {
        let Some((key_id, secret)) = self.sealed(org).await? else {
            return Ok(None);
        };
        Ok(Some(Keys {
            access_key_id: self.open_value(org, "access_key_id", &key_id)?,
            secret_access_key: self.open_value(org, "secret_access_key", &secret)?,
        }))
    }

    /// `org`'s stored (sealed) key id and secret.
    async fn sealed(&self, org: OrgId) -> Result<Option<(String, String)>, StreamingError> {
        match &self.tables {
            Tables::Embedded(_) => {
                let this = self.clone();
                blocking(move || {
                    this.conn()?
                        .query_row(
                            "SELECT access_key_id, secret_access_key FROM streaming_credentials WHERE org_id = ?1",
                            (org.to_string(),),
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()
                        .map_err(StreamingError::db("cannot read the credentials table"))
                })
                .await
            }
            Tables::Postgres(pool) => sqlx::query_as(
                "SELECT access_key_id, secret_access_key FROM streaming_credentials WHERE org_id = $1",
            )
            .bind(org.to_string())
            .fetch_optional(pool)
            .await
            .map_err(postgres("cannot read the credentials table")),
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StreamingError> + Send + 'static,
) -> Result<T, StreamingError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StreamingError::Task(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn keys_are_sealed_at_rest_and_open_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("rolebook.db");
        let org = OrgId::new();
        let c = Credentials::open(&db).unwrap();
        c.put(org, "AKIDEXAMPLE", "wJalrXUtnFEMI-secret")
            .await
            .unwrap();
        let key = dir.path().join(KEY_FILE);
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let raw = std::fs::read(&db).unwrap();
        let wal = std::fs::read(dir.path().join("rolebook.db-wal")).unwrap_or_default();
        for bytes in [&raw, &wal] {
            let text = String::from_utf8_lossy(bytes);
            assert!(!text.contains("wJalrXUtnFEMI-secret"));
            assert!(!text.contains("AKIDEXAMPLE"));
        }
        assert!(c.stored(org).await.unwrap());
        let keys = Credentials::open(&db)
            .unwrap()
            .get(org)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(keys.secret_access_key, "wJalrXUtnFEMI-secret");
        assert_eq!(keys.access_key_id, "AKIDEXAMPLE");
        assert!(!format!("{keys:?}").contains("secret-"));
        // Another key file does not open them.
        std::fs::remove_file(&key).unwrap();
        let other = Credentials::open(&db).unwrap();
        assert!(matches!(
            other.get(org).await,
            Err(StreamingError::Sealed(_))
        ));
        other.delete(org).await.unwrap();
        assert!(!other.stored(org).await.unwrap());
    }

    #[tokio::test]
    async fn plain_rows_from_before_are_sealed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("rolebook.db");
        let org = OrgId::new();
        {
            let conn = projections::db::open(&db).unwrap();
            migrations::migrate(&conn, "streaming_credentials", MIGRATIONS).unwrap();
            conn.execute(
                "INSERT INTO streaming_credentials VALUES (?1, 'AKIDPLAIN', 'plain-secret', 'then')",
                (org.to_string(),),
            )
            .unwrap();
        }
        let c = Credentials::open(&db).unwrap();
        let conn = projections::db::open(&db).unwrap();
        let stored: String = conn
            .query_row(
                "SELECT secret_access_key FROM streaming_credentials",
                (),
                |r| r.get(0),
            )
            .unwrap();
        assert!(stored.starts_with("v1:"));
        assert_eq!(
            c.get(org).await.unwrap().unwrap().secret_access_key,
            "plain-secret"
        );
    }
}
