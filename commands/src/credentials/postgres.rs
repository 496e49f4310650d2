//! Credentials in PostgreSQL, beside the event log, so that every rolebook
//! process on the database knows every password and token: tables in
//! `postgres/NNNN_*.sql`, migrated at open (component `credentials` of
//! `schema_version`).

use async_trait::async_trait;
use domain::ids::{OrgId, TokenId, UserId};
use domain::store::StoreError;
use infra::postgres::migrations::{self, Migration};
use sqlx::{PgPool, Row};

use super::store::{CredentialStore, TokenRow};
use super::CredentialsError;

const MIGRATIONS: &[Migration] = &[
    (
        1,
        "credentials",
        include_str!("postgres/0001_credentials.sql"),
    ),
    (
        2,
        "scim tokens",
        include_str!("postgres/0002_scim_tokens.sql"),
    ),
];

pub(crate) struct PostgresCredentials {
    pool: PgPool,
}

impl PostgresCredentials {
    /// Migrates the tables in the pool's schema.
    pub(crate) async fn open(pool: PgPool) -> Result<Self, StoreError> {
        migrations::migrate(&pool, "credentials", MIGRATIONS).await?;
        Ok(PostgresCredentials { pool })
    }
}

#[async_trait]
impl CredentialStore for PostgresCredentials {
    async fn put_password(
        &self,
        org: OrgId,
        user: UserId,
        hash: &str,
        must_change: bool,
        now: i64,
    ) -> Result<(), CredentialsError> {
        sqlx::query(
            "INSERT INTO credentials (user_id, org_id, password_hash, must_change, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash,
                 must_change = excluded.must_change, updated_at = excluded.updated_at",
        )
        .bind(user.0)
        .bind(org.0)
        .bind(hash)
        .bind(must_change)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_password(&self, user: UserId) -> Result<(), CredentialsError> {
        sqlx::query("DELETE FROM credentials WHERE user_id = $1")
            .bind(user.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn password(&self, user: UserId) -> Result<Option<(String, bool)>, CredentialsError> {
        let row =
            sqlx::query("SELECT password_hash, must_change FROM credentials WHERE user_id = $1")
                .bind(user.0)
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
    ) -> Result<(), CredentialsError> {
        sqlx::query(
            "INSERT INTO tokens (token_hash, token_id, user_id, org_id, kind, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT DO NOTHING",
        )
        .bind(token_hash)
        .bind(token_id.0)
        .bind(user.0)
        .bind(org.0)
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
    ) -> Result<Option<TokenRow>, CredentialsError> {
        let row = sqlx::query(
            "SELECT token_id, user_id, org_id, kind, expires_at FROM tokens
             WHERE token_hash = $1 AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(TokenRow {
                token_id: row.try_get(0)?,
                user_id: row.try_get(1)?,
                org_id: row.try_get(2)?,
                kind: row.try_get(3)?,
                expires_at: row.try_get(4)?,
            })
        })
        .transpose()
        .map_err(|e: sqlx::Error| e.into())
    }

    async fn revoke_token(&self, token_id: TokenId) -> Result<(), CredentialsError> {
        sqlx::query("DELETE FROM tokens WHERE token_id = $1")
            .bind(token_id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn revoke_all_of(&self, user: UserId) -> Result<u64, CredentialsError> {
        let done = sqlx::query("DELETE FROM tokens WHERE user_id = $1")
            .bind(user.0)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
