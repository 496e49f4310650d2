//! Credentials in the data dir's read-model database (SQLite): tables in
//! `sqlite/NNNN_*.sql`, migrated at open (component `credentials` of the
//! file's `schema_version`).

use async_trait::async_trait;
use domain::ids::{OrgId, TokenId, UserId};
use sqlx::{Row, SqlitePool};

use infra::sqlite::migrations::{self, Migration};

use super::store::{CredentialStore, TokenRow};
use super::CredentialsError;

pub(crate) struct SqliteCredentials {
    pool: SqlitePool,
}

const MIGRATIONS: &[Migration] = &[
    (
        1,
        "credentials",
        include_str!("sqlite/0001_credentials.sql"),
    ),
    (2, "tokens", include_str!("sqlite/0002_tokens.sql")),
];

impl SqliteCredentials {
    /// Migrates the tables in the pool's file.
    pub(crate) async fn open(pool: SqlitePool) -> Result<Self, CredentialsError> {
        let file = pool.connect_options().get_filename().to_path_buf();
        tokio::task::spawn_blocking(move || {
            migrations::migrate_file(&file, "credentials", MIGRATIONS)
        })
        .await
        .map_err(|e| CredentialsError::Task(std::sync::Arc::new(e)))??;
        Ok(SqliteCredentials { pool })
    }
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
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO credentials (user_id, org_id, password_hash, must_change, updated_at)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash,
                 must_change = excluded.must_change, updated_at = excluded.updated_at",
        )
        .bind(user.0.as_bytes().as_slice())
        .bind(org.0.as_bytes().as_slice())
        .bind(hash)
        .bind(must_change)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_password(&self, user: UserId) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM credentials WHERE user_id = ?")
            .bind(user.0.as_bytes().as_slice())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn password(&self, user: UserId) -> Result<Option<(String, bool)>, sqlx::Error> {
        let row =
            sqlx::query("SELECT password_hash, must_change FROM credentials WHERE user_id = ?")
                .bind(user.0.as_bytes().as_slice())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
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
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO tokens (token_hash, token_id, user_id, org_id, kind, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(token_hash)
        .bind(token_id.0.as_bytes().as_slice())
        .bind(user.0.as_bytes().as_slice())
        .bind(org.0.as_bytes().as_slice())
        .bind(kind)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_token(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<TokenRow>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT token_id, user_id, org_id, kind, expires_at FROM tokens
             WHERE token_hash = ? AND (expires_at IS NULL OR expires_at > ?)",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|row| {
            let uuid = |i: usize| uuid::Uuid::from_slice(row.get::<&[u8], _>(i)).ok();
            Some(TokenRow {
                token_id: uuid(0)?,
                user_id: uuid(1)?,
                org_id: uuid(2)?,
                kind: row.get(3),
                expires_at: row.get(4),
            })
        }))
    }

    async fn revoke_token(&self, token_id: TokenId) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM tokens WHERE token_id = ?")
            .bind(token_id.0.as_bytes().as_slice())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn revoke_all_of(&self, user: UserId) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM tokens WHERE user_id = ?")
            .bind(user.0.as_bytes().as_slice())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
