//! Credentials changes that follow a command, kept in the command's commit
//! as pending effects (the event store's outbox) and applied once it has
//! committed; a crash in between leaves them to [`Credentials::apply_pending`]
//! at the next start. Every change is idempotent, so applying one twice is
//! harmless. No change carries a secret: passwords as argon2id hashes,
//! tokens as SHA-256 hashes.

use chrono::{DateTime, Utc};
use domain::ids::{OrgId, TokenId, UserId};
use domain::store::{EventStore, PendingEffect, StoreError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Credentials, CredentialsError, TokenKind};

/// One credentials change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum CredentialChange {
    /// Stores a user's argon2id password hash (temporary: `must_change`).
    SetPassword {
        org: OrgId,
        user: UserId,
        hash: String,
        must_change: bool,
    },
    /// Forgets a user's password.
    ForgetPassword { user: UserId },
    /// Stores a token by the SHA-256 hash of its secret.
    AddToken {
        org: OrgId,
        user: UserId,
        token_id: TokenId,
        kind: TokenKind,
        /// Hex of the SHA-256 of the secret.
        token_hash: String,
        expires_at: Option<DateTime<Utc>>,
    },
    /// Revokes one token.
    RevokeToken { token_id: TokenId },
    /// Ends every session and token of a user.
    RevokeAllOf { user: UserId },
}

impl CredentialChange {
    /// As a pending effect, with a fresh id.
    pub fn pending(&self) -> PendingEffect {
        PendingEffect {
            id: Uuid::now_v7(),
            payload: serde_json::to_string(self).expect("credentials changes serialize"),
        }
    }
}

/// Why pending effects could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum EffectError {
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("pending effect {id} is not a credentials change: {source}")]
    Unreadable {
        id: Uuid,
        #[source]
        source: serde_json::Error,
    },
}

impl Credentials {
    /// Applies one change (idempotent).
    pub async fn apply(&self, change: &CredentialChange) -> Result<(), CredentialsError> {
        match change {
            CredentialChange::SetPassword {
                org,
                user,
                hash,
                must_change,
            } => self.put_password(*org, *user, hash, *must_change).await,
            CredentialChange::ForgetPassword { user } => self.delete_password(*user).await,
            CredentialChange::AddToken {
                org,
                user,
                token_id,
                kind,
                token_hash,
                expires_at,
            } => {
                let hash = hex::decode(token_hash).unwrap_or_default();
                self.add_token(*org, *user, *token_id, *kind, &hash, *expires_at)
                    .await
            }
            CredentialChange::RevokeToken { token_id } => self.revoke_token(*token_id).await,
            CredentialChange::RevokeAllOf { user } => self.revoke_all_of(*user).await.map(|_| ()),
        }
    }

    /// Applies the effects a commit left, in order, then removes them from
    /// the store's outbox.
    pub async fn apply_effects(
        &self,
        store: &dyn EventStore,
        effects: &[PendingEffect],
    ) -> Result<(), EffectError> {
        for effect in effects {
            let change: CredentialChange =
                serde_json::from_str(&effect.payload).map_err(|source| {
                    EffectError::Unreadable {
                        id: effect.id,
                        source,
                    }
                })?;
            self.apply(&change).await?;
        }
        let ids: Vec<Uuid> = effects.iter().map(|e| e.id).collect();
        store.clear_effects(&ids).await?;
        Ok(())
    }

    /// Applies whatever a crash left in the store's outbox; returns how
    /// many effects were done. Run at start, before serving.
    pub async fn apply_pending(&self, store: &dyn EventStore) -> Result<usize, EffectError> {
        let pending = store.pending_effects().await?;
        self.apply_effects(store, &pending).await?;
        Ok(pending.len())
    }
}
