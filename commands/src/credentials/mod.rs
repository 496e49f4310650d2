//! Credentials: password hashes and bearer tokens, never in the event log:
//! in the data dir's read-model database (`sqlite`), or in PostgreSQL
//! beside the log (`postgres`) so that every process on it shares them.
//! Each database's tables are in `.sql` files beside its module.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::ids::{OrgId, TokenId, UserId};
use sqlx::PgPool;

use crate::secrets;

mod effects;
mod postgres;
mod sqlite;
mod store;

use store::CredentialStore;

pub use effects::{CredentialChange, EffectError};

/// What a bearer token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Session,
    Api,
    ServiceAccount,
    /// The organization's SCIM token, for its identity provider (kept
    /// under [`domain::ids::scim_identity`]).
    Scim,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Api => "api",
            TokenKind::ServiceAccount => "service_account",
            TokenKind::Scim => "scim",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "session" => Some(TokenKind::Session),
            "api" => Some(TokenKind::Api),
            "service_account" => Some(TokenKind::ServiceAccount),
            "scim" => Some(TokenKind::Scim),
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
    #[error("credentials database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The PostgreSQL tables could not be migrated (or are newer than
    /// this binary knows).
    #[error("credentials tables: {0}")]
    Schema(#[from] domain::store::StoreError),
    /// The SQLite tables could not be migrated (or are newer than this
    /// binary knows).
    #[error(transparent)]
    Migration(#[from] infra::sqlite::migrations::MigrationError),
    #[error("credentials task: {0}")]
    Task(std::sync::Arc<tokio::task::JoinError>),
}

/// The credentials table and the tokens table.
#[derive(Clone)]
pub struct Credentials {
    store: Arc<dyn CredentialStore>,
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

impl Credentials {
    /// In the read-model database at `read_db` (SQLite); migrates the
    /// tables. Fails if the file cannot be opened or its tables are newer
    /// than this binary.
    pub async fn sqlite(read_db: &std::path::Path) -> Result<Self, CredentialsError> {
        Ok(Credentials {
            store: Arc::new(sqlite::SqliteCredentials::open(read_db).await?),
        })
    }

    /// In PostgreSQL (the pool's schema); migrates the tables. Fails if the
    /// database is unreachable or its tables are newer than this binary.
    pub async fn postgres(pool: PgPool) -> Result<Self, CredentialsError> {
        Ok(Credentials {
            store: Arc::new(postgres::PostgresCredentials::open(pool).await?),
        })
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
        self.store
            .put_password(org, user, password_hash, must_change, micros(Utc::now()))
            .await?;
        Ok(())
    }

    /// Forgets a user's password (an aborted invitation, a removed user).
    pub async fn delete_password(&self, user: UserId) -> Result<(), CredentialsError> {
        self.store.delete_password(user).await
    }

    /// Checks a password against the stored hash (the verification runs on
    /// a blocking thread).
    pub async fn check_password(
        &self,
        user: UserId,
        password: &str,
    ) -> Result<PasswordCheck, CredentialsError> {
        let found = self.store.password(user).await?;
        let password = password.to_string();
        let Some((hash, must_change)) = found else {
            // No password (a provisioned user, a service account): as long
            // as a wrong one, so the timing does not tell.
            let _ =
                tokio::task::spawn_blocking(move || secrets::spend_password_check(&password)).await;
            return Ok(PasswordCheck::Invalid);
        };
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
        self.store
            .add_token(
                org,
                user,
                token_id,
                kind.as_str(),
                token_hash,
                micros(Utc::now()),
                expires_at.map(micros),
            )
            .await?;
        Ok(())
    }

    /// Finds a token by its secret; expired tokens are not found.
    pub async fn resolve_token(
        &self,
        secret: &str,
    ) -> Result<Option<TokenRecord>, CredentialsError> {
        let row = self
            .store
            .find_token(&secrets::token_hash(secret), micros(Utc::now()))
            .await?;
        Ok(row.and_then(|row| {
            Some(TokenRecord {
                token_id: TokenId(row.token_id),
                user_id: UserId(row.user_id),
                org_id: OrgId(row.org_id),
                kind: TokenKind::parse(&row.kind)?,
                expires_at: row
                    .expires_at
                    .and_then(DateTime::<Utc>::from_timestamp_micros),
            })
        }))
    }

    /// Revokes one token by id.
    pub async fn revoke_token(&self, token_id: TokenId) -> Result<(), CredentialsError> {
        self.store.revoke_token(token_id).await
    }

    /// Ends every session and token of a user at once (removal).
    pub async fn revoke_all_of(&self, user: UserId) -> Result<u64, CredentialsError> {
        self.store.revoke_all_of(user).await
    }
}
