//! Credentials in the data dir's read-model database (SQLite, rusqlite):
//! tables in `sqlite/NNNN_*.sql`, migrated at open (component
//! `credentials` of the file's `schema_version`). One connection, used on
//! blocking threads; commits are durable (`synchronous=FULL`).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use domain::ids::{OrgId, TokenId, UserId};
use infra::sqlite::migrations::{self, Migration};
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension};

use super::store::{CredentialStore, TokenRow};
use super::CredentialsError;

const MIGRATIONS: &[Migration] = &[
    (
        1,
        "credentials",
        include_str!("sqlite/0001_credentials.sql"),
    ),
    (2, "tokens", include_str!("sqlite/0002_tokens.sql")),
    (
        3,
        "scim tokens",
        include_str!("sqlite/0003_scim_tokens.sql"),
    ),
];

pub(crate) struct SqliteCredentials {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteCredentials {
    /// Opens the read-model database at `path` and migrates the tables.
    pub(crate) async fn open(path: &Path) -> Result<Self, CredentialsError> {
        let path = path.to_path_buf();
        let conn = tokio::task::spawn_blocking(move || {
            let conn = infra::readmodel::open(&path).map_err(|source| {
                migrations::MigrationError::Database {
                    file: path.display().to_string(),
                    source,
                }
            })?;
            migrations::migrate(&conn, "credentials", MIGRATIONS)?;
            Ok::<_, CredentialsError>(conn)
        })
        .await
        .map_err(|e| CredentialsError::Task(Arc::new(e)))??;
        Ok(SqliteCredentials {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, CredentialsError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&conn.lock()))
            .await
            .map_err(|e| CredentialsError::Task(Arc::new(e)))?
            .map_err(CredentialsError::from)
    }
}

fn uuid(bytes: &[u8]) -> Option<uuid::Uuid> {
    uuid::Uuid::from_slice(bytes).ok()
}

#[async_trait]
impl CredentialStore for SqliteCredentials {
    async fn put_password(
        &self,
        org: OrgId,
        user: UserId,
        hash: &str,
        must_change: bool,
        now: i64,
    ) -> Result<(), CredentialsError> {
        let hash = hash.to_string();
        self.with(move |conn| {
            conn.prepare_cached(
                "INSERT INTO credentials (user_id, org_id, password_hash, must_change, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash,
                     must_change = excluded.must_change, updated_at = excluded.updated_at",
            )?
            .execute(rusqlite::params![
                user.0.as_bytes().as_slice(),
                org.0.as_bytes().as_slice(),
                hash,
                must_change,
                now
            ])
            .map(drop)
        })
        .await
    }

    async fn delete_password(&self, user: UserId) -> Result<(), CredentialsError> {
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM credentials WHERE user_id = ?1",
                [user.0.as_bytes().as_slice()],
            )
            .map(drop)
        })
        .await
    }

    async fn password(&self, user: UserId) -> Result<Option<(String, bool)>, CredentialsError> {
        self.with(move |conn| {
            conn.prepare_cached(
                "SELECT password_hash, must_change FROM credentials WHERE user_id = ?1",
            )?
            .query_row([user.0.as_bytes().as_slice()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
        })
        .await
    }

    async fn add_token(
        &self,
        org: OrgId,
        user: UserId,
        token_id: TokenId,
        kind: &str,
        token_hash: &[u8],
        now: i64,
        expires_at: Option<i64>,
    ) -> Result<(), CredentialsError> {
        let (kind, token_hash) = (kind.to_string(), token_hash.to_vec());
        self.with(move |conn| {
            conn.prepare_cached(
                "INSERT INTO tokens (token_hash, token_id, user_id, org_id, kind, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(rusqlite::params![
                token_hash,
                token_id.0.as_bytes().as_slice(),
                user.0.as_bytes().as_slice(),
                org.0.as_bytes().as_slice(),
                kind,
                now,
                expires_at
            ])
            .map(drop)
        })
        .await
    }

    async fn find_token(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<TokenRow>, CredentialsError> {
        let token_hash = token_hash.to_vec();
        let row = self
            .with(move |conn| {
                conn.prepare_cached(
                    "SELECT token_id, user_id, org_id, kind, expires_at FROM tokens
                     WHERE token_hash = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                )?
                .query_row(rusqlite::params![token_hash, now], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                    ))
                })
                .optional()
            })
            .await?;
        Ok(row.and_then(|(token, user, org, kind, expires_at)| {
            Some(TokenRow {
                token_id: uuid(&token)?,
                user_id: uuid(&user)?,
                org_id: uuid(&org)?,
                kind,
                expires_at,
            })
        }))
    }

    async fn revoke_token(&self, token_id: TokenId) -> Result<(), CredentialsError> {
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM tokens WHERE token_id = ?1",
                [token_id.0.as_bytes().as_slice()],
            )
            .map(drop)
        })
        .await
    }

    async fn revoke_all_of(&self, user: UserId) -> Result<u64, CredentialsError> {
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM tokens WHERE user_id = ?1",
                [user.0.as_bytes().as_slice()],
            )
            .map(|n| n as u64)
        })
        .await
    }
}
