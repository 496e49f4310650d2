//! Credentials: password hashes and bearer tokens, in the read-model
//! database, never in the event log.
//!
//! The tables are in `credentials.sql` and `tokens.sql` beside this module.

use chrono::{DateTime, Utc};
use domain::ids::{OrgId, TokenId, UserId};
use sqlx::{Row, SqlitePool};

use crate::secrets;

mod effects;

pub use effects::{CredentialChange, EffectError};

/// What a bearer token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Session,
    Api,
    ServiceAccount,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Api => "api",
            TokenKind::ServiceAccount => "service_account",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "session" => Some(TokenKind::Session),
            "api" => Some(TokenKind::Api),
            "service_account" => Some(TokenKind::ServiceAccount),
            _ => None,
        }
    }
}

/// A live token, as found by its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub token_id: TokenId,
    pub user_id: UserId,
    pub org_id: OrgId,
    pub kind: TokenKind,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    /// Right password, chosen by the user.
    Valid,
    /// Right password, but temporary: it must be changed first.
    MustChange,
    /// Wrong password, or no password for this user.
    Invalid,
}

/// Why a credentials operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("credentials database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The credentials table and the tokens table.
#[derive(Clone)]
pub struct Credentials {
    pool: SqlitePool,
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

impl Credentials {
    /// Creates the tables if missing. Fails if the database is unreachable.
    pub async fn new(pool: SqlitePool) -> Result<Self, CredentialsError> {
        sqlx::raw_sql(include_str!("credentials.sql"))
            .execute(&pool)
            .await?;
        sqlx::raw_sql(include_str!("tokens.sql"))
            .execute(&pool)
            .await?;
        Ok(Credentials { pool })
    }

    /// Stores an argon2id hash for a user; `must_change` marks a temporary
    /// password. Replaces any previous one.
    pub async fn put_password(
        &self,
        org: OrgId,
        user: UserId,
        password_hash: &str,
        must_change: bool,
    ) -> Result<(), CredentialsError> {
        sqlx::query(
            "INSERT INTO credentials (user_id, org_id, password_hash, must_change, updated_at)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash,
                 must_change = excluded.must_change, updated_at = excluded.updated_at",
        )
        .bind(user.0.as_bytes().as_slice())
        .bind(org.0.as_bytes().as_slice())
        .bind(password_hash)
        .bind(must_change)
        .bind(micros(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets a user's password (an aborted invitation, a removed user).
    pub async fn delete_password(&self, user: UserId) -> Result<(), CredentialsError> {
        sqlx::query("DELETE FROM credentials WHERE user_id = ?")
            .bind(user.0.as_bytes().as_slice())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Checks a password against the stored hash (argon2id verification runs
    /// on a blocking thread).
    pub async fn check_password(
        &self,
        user: UserId,
        password: &str,
    ) -> Result<PasswordCheck, CredentialsError> {
        let row =
            sqlx::query("SELECT password_hash, must_change FROM credentials WHERE user_id = ?")
                .bind(user.0.as_bytes().as_slice())
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else {
            return Ok(PasswordCheck::Invalid);
        };
        let hash: String = row.get(0);
        let must_change: bool = row.get(1);
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || secrets::verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        Ok(match (ok, must_change) {
            (false, _) => PasswordCheck::Invalid,
            (true, true) => PasswordCheck::MustChange,
            (true, false) => PasswordCheck::Valid,
        })
    }

    /// Stores a new token's hash and returns the secret (shown once).
    pub async fn issue_token(
        &self,
        org: OrgId,
        user: UserId,
        token_id: TokenId,
        kind: TokenKind,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<String, CredentialsError> {
        let secret = secrets::new_token();
        self.add_token(
            org,
            user,
            token_id,
            kind,
            &secrets::token_hash(&secret),
            expires_at,
        )
        .await?;
        Ok(secret)
    }

    /// Stores a token by the hash of its secret; a token already stored
    /// under this id is kept as it is.
    pub async fn add_token(
        &self,
        org: OrgId,
        user: UserId,
        token_id: TokenId,
        kind: TokenKind,
        token_hash: &[u8],
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), CredentialsError> {
        sqlx::query(
            "INSERT INTO tokens (token_hash, token_id, user_id, org_id, kind, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(token_hash)
        .bind(token_id.0.as_bytes().as_slice())
        .bind(user.0.as_bytes().as_slice())
        .bind(org.0.as_bytes().as_slice())
        .bind(kind.as_str())
        .bind(micros(Utc::now()))
        .bind(expires_at.map(micros))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Finds a token by its secret; expired tokens are not found.
    pub async fn resolve_token(
        &self,
        secret: &str,
    ) -> Result<Option<TokenRecord>, CredentialsError> {
        let row = sqlx::query(
            "SELECT token_id, user_id, org_id, kind, expires_at FROM tokens
             WHERE token_hash = ? AND (expires_at IS NULL OR expires_at > ?)",
        )
        .bind(secrets::token_hash(secret))
        .bind(micros(Utc::now()))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|row| {
            let uuid = |i: usize| uuid::Uuid::from_slice(row.get::<&[u8], _>(i)).ok();
            Some(TokenRecord {
                token_id: TokenId(uuid(0)?),
                user_id: UserId(uuid(1)?),
                org_id: OrgId(uuid(2)?),
                kind: TokenKind::parse(row.get(3))?,
                expires_at: row
                    .get::<Option<i64>, _>(4)
                    .and_then(DateTime::<Utc>::from_timestamp_micros),
            })
        }))
    }

    /// Revokes one token by id.
    pub async fn revoke_token(&self, token_id: TokenId) -> Result<(), CredentialsError> {
        sqlx::query("DELETE FROM tokens WHERE token_id = ?")
            .bind(token_id.0.as_bytes().as_slice())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every session and token of a user at once (removal).
    pub async fn revoke_all_of(&self, user: UserId) -> Result<u64, CredentialsError> {
        let done = sqlx::query("DELETE FROM tokens WHERE user_id = ?")
            .bind(user.0.as_bytes().as_slice())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
