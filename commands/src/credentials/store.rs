//! Where credentials are kept: the port the [`super::Credentials`] service
//! writes through, with one module per database (`sqlite`, `postgres`),
//! each with its tables in `.sql` files beside it. Values cross it as
//! stored: hashes, micros since the epoch.

use async_trait::async_trait;
use domain::ids::{OrgId, TokenId, UserId};
use uuid::Uuid;

use super::CredentialsError;

/// A token row as found by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenRow {
    pub token_id: Uuid,
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub kind: String,
    pub expires_at: Option<i64>,
}

/// The credentials and tokens tables of one database. Every method fails
/// with the driver's error (in [`CredentialsError`]) when the database
/// does.
#[async_trait]
pub(crate) trait CredentialStore: Send + Sync + 'static {
    /// Stores (replaces) a user's password hash.
    async fn put_password(
        &self,
        org: OrgId,
        user: UserId,
        hash: &str,
        must_change: bool,
        now: i64,
    ) -> Result<(), CredentialsError>;

    async fn delete_password(&self, user: UserId) -> Result<(), CredentialsError>;

    /// The user's password hash and whether it must be changed.
    async fn password(&self, user: UserId) -> Result<Option<(String, bool)>, CredentialsError>;

    /// Stores a token; one already stored under this hash or id is kept.
    #[allow(clippy::too_many_arguments)]
    async fn add_token(
        &self,
        org: OrgId,
        user: UserId,
        token_id: TokenId,
        kind: &str,
        token_hash: &[u8],
        now: i64,
        expires_at: Option<i64>,
    ) -> Result<(), CredentialsError>;

    /// The token with this hash, unless it expired before `now`.
    async fn find_token(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<TokenRow>, CredentialsError>;

    async fn revoke_token(&self, token_id: TokenId) -> Result<(), CredentialsError>;

    /// Deletes every token of the user; returns how many.
    async fn revoke_all_of(&self, user: UserId) -> Result<u64, CredentialsError>;
}
