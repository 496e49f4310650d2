//! What single sign-on keeps beside the log: each organization's client
//! secret (sealed) and the sign-ins started and not yet finished (their
//! state's hash, PKCE verifier sealed, nonce). In the data dir's
//! read-model database or the log's PostgreSQL schema
//! (`crate::streaming::Tables`), so that a sign-in started on one server
//! finishes on any other.
//!
//! Every method fails with the database's error, and the secret and the
//! pending sign-in with `StreamingError::Sealed` for a value the key
//! cannot open.

use chrono::Utc;
use domain::ids::OrgId;
use sha2::{Digest, Sha256};

use crate::streaming::tables::{Arg, Ty};
use crate::streaming::{Credentials, StreamingError, Tables};

const MIGRATIONS: &[infra::sqlite::migrations::Migration] =
    &[(1, "sso", include_str!("store/0001_sso.sql"))];
const POSTGRES_MIGRATIONS: &[infra::postgres::migrations::Migration] =
    &[(1, "sso", include_str!("store/postgres.sql"))];

/// How long a started sign-in may take.
pub const PENDING_TTL_MS: i64 = 10 * 60 * 1000;

/// A sign-in started by `GET /sso/login`.
#[derive(Clone)]
pub struct Pending {
    pub verifier: String,
    pub nonce: String,
    pub created_at_ms: i64,
}

/// The tables and the cipher that seals their secrets.
#[derive(Clone)]
pub struct Store {
    tables: Tables,
    sealing: Credentials,
}

fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

impl Store {
    /// Opens (creating) the tables where `tables` says.
    pub async fn open(tables: &Tables, sealing: Credentials) -> Result<Store, StreamingError> {
        tables
            .migrate("sso", MIGRATIONS, POSTGRES_MIGRATIONS)
            .await?;
        Ok(Store {
            tables: tables.clone(),
            sealing,
        })
    }

    /// Stores (or replaces) `org`'s client secret, sealed.
    pub async fn put_client_secret(&self, org: OrgId, secret: &str) -> Result<(), StreamingError> {
        let sealed = self.sealing.seal(org, "sso:client_secret", secret);
        self.tables
            .execute(
                "cannot store the SSO client secret",
                vec![(
                    "INSERT INTO sso_client_secrets (org_id, client_secret, updated_at) \
                     VALUES ($1, $2, $3) ON CONFLICT (org_id) DO UPDATE SET \
                     client_secret = excluded.client_secret, updated_at = excluded.updated_at",
                    vec![
                        Arg::Text(org.to_string()),
                        Arg::Text(sealed),
                        Arg::Text(Utc::now().to_rfc3339()),
                    ],
                )],
            )
            .await
    }

    /// `org`'s client secret, opened; `None` when none is stored.
    pub async fn client_secret(&self, org: OrgId) -> Result<Option<String>, StreamingError> {
        let rows = self
            .tables
            .rows(
                "cannot read the SSO client secret",
                "SELECT client_secret FROM sso_client_secrets WHERE org_id = $1",
                vec![Arg::Text(org.to_string())],
                &[Ty::Text],
            )
            .await?;
        rows.first()
            .map(|r| {
                self.sealing
                    .open_value(org, "sso:client_secret", &r[0].text().unwrap_or_default())
            })
            .transpose()
    }

    /// Forgets `org`'s client secret and pending sign-ins.
    pub async fn forget(&self, org: OrgId) -> Result<(), StreamingError> {
        let id = || vec![Arg::Text(org.to_string())];
        self.tables
            .execute(
                "cannot forget the SSO settings",
                vec![
                    ("DELETE FROM sso_client_secrets WHERE org_id = $1", id()),
                    ("DELETE FROM sso_pending_logins WHERE org_id = $1", id()),
                ],
            )
            .await
    }

    /// Records a started sign-in (and purges those too old to finish).
    pub async fn put_pending(
        &self,
        org: OrgId,
        state: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<(), StreamingError> {
        let now = Utc::now().timestamp_millis();
        let verifier = self.sealing.seal(org, "sso:verifier", verifier);
        self.tables
            .execute(
                "cannot record the sign-in",
                vec![
                    (
                        "DELETE FROM sso_pending_logins WHERE created_at_ms < $1",
                        vec![Arg::Int(now - PENDING_TTL_MS)],
                    ),
                    (
                        "INSERT INTO sso_pending_logins \
                         (state_hash, org_id, verifier, nonce, created_at_ms) \
                         VALUES ($1, $2, $3, $4, $5)",
                        vec![
                            Arg::Text(state_hash(state)),
                            Arg::Text(org.to_string()),
                            Arg::Text(verifier),
                            Arg::Text(nonce.to_string()),
                            Arg::Int(now),
                        ],
                    ),
                ],
            )
            .await
    }

    /// Takes the sign-in `state` started for `org`: at most once, by
    /// whichever callback comes first. `None`: unknown, of another
    /// organization, or already taken.
    pub async fn take_pending(
        &self,
        org: OrgId,
        state: &str,
    ) -> Result<Option<Pending>, StreamingError> {
        let rows = self
            .tables
            .rows(
                "cannot read the sign-in",
                "DELETE FROM sso_pending_logins WHERE state_hash = $1 AND org_id = $2 \
                 RETURNING verifier, nonce, created_at_ms",
                vec![Arg::Text(state_hash(state)), Arg::Text(org.to_string())],
                &[Ty::Text, Ty::Text, Ty::Int],
            )
            .await?;
        rows.first()
            .map(|r| {
                Ok(Pending {
                    verifier: self.sealing.open_value(
                        org,
                        "sso:verifier",
                        &r[0].text().unwrap_or_default(),
                    )?,
                    nonce: r[1].text().unwrap_or_default(),
                    created_at_ms: r[2].int(),
                })
            })
            .transpose()
    }
}
