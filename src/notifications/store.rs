//! What audit webhooks keep beside the log: each target's URL and signing
//! secret (sealed), where its delivery stands (its cursor), and the log of
//! every attempt. In the data dir's read-model database, or in the log's
//! PostgreSQL schema so that every server on one database shares them
//! (`crate::streaming::Tables`). Each statement is written once: SQLite
//! reads `$1`, `$2`, … as positional parameters, as PostgreSQL does.
//!
//! Every method fails with the database's error (`StreamingError::Database`
//! or `::Postgres`), and [`Store::secret`] with `StreamingError::Sealed`
//! for a value the key cannot open.

use chrono::Utc;
use domain::ids::{NotificationId, OrgId};

use crate::streaming::tables::{Arg, Ty};
use crate::streaming::{Credentials, StreamingError, Tables};

const MIGRATIONS: &[infra::sqlite::migrations::Migration] = &[(
    1,
    "notifications",
    include_str!("store/0001_notifications.sql"),
)];
const POSTGRES_MIGRATIONS: &[infra::postgres::migrations::Migration] =
    &[(1, "notifications", include_str!("store/postgres.sql"))];

/// Where a target's delivery stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The last position delivered or passed over.
    pub position: u64,
    /// Failed attempts in a row since the last delivery.
    pub failures: u32,
    /// Unix milliseconds before which no attempt is made.
    pub next_attempt_at: i64,
    /// Why delivery is paused; `None`: running.
    pub paused: Option<String>,
}

/// One attempt (or test send) as the delivery log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    /// Orders the log; the page cursor.
    #[serde(skip)]
    pub id: i64,
    /// The audit event's position (its delivery id); 0 for a test send.
    pub position: u64,
    /// 1 for the first attempt at this position.
    pub attempt: u32,
    pub at: String,
    /// `delivered`, `failed`, `test_delivered` or `test_failed`.
    pub outcome: String,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// An attempt's result, to record.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub position: u64,
    pub attempt: u32,
    pub outcome: &'static str,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// The tables and the cipher that seals the secrets.
#[derive(Clone)]
pub struct Store {
    tables: Tables,
    sealing: Credentials,
}

impl Store {
    /// Opens (creating) the tables where `tables` says; the secrets are
    /// sealed with `sealing`'s key.
    pub async fn open(tables: &Tables, sealing: Credentials) -> Result<Store, StreamingError> {
        tables
            .migrate("notifications", MIGRATIONS, POSTGRES_MIGRATIONS)
            .await?;
        Ok(Store {
            tables: tables.clone(),
            sealing,
        })
    }

    /// Stores (or replaces) `target`'s URL and signing secret, sealed.
    pub async fn put_secret(
        &self,
        org: OrgId,
        target: NotificationId,
        url: &str,
        secret: &str,
    ) -> Result<(), StreamingError> {
        let url = self.sealing.seal(org, &format!("{target}:url"), url);
        let secret = self.sealing.seal(org, &format!("{target}:secret"), secret);
        self.tables.execute(
            "cannot store the notification target's secrets",
            vec![(
                "INSERT INTO notification_secrets (target_id, org_id, url, signing_secret, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (target_id) DO UPDATE SET url = excluded.url, \
                     signing_secret = excluded.signing_secret, updated_at = excluded.updated_at",
                vec![
                    Arg::Text(target.to_string()),
                    Arg::Text(org.to_string()),
                    Arg::Text(url),
                    Arg::Text(secret),
                    Arg::Text(Utc::now().to_rfc3339()),
                ],
            )],
        )
        .await
    }

    /// Replaces `target`'s URL, keeping its signing secret; false when no
    /// secret is stored (nothing changed).
    pub async fn replace_url(
        &self,
        org: OrgId,
        target: NotificationId,
        url: &str,
    ) -> Result<bool, StreamingError> {
        let Some((_, secret)) = self.secret(org, target).await? else {
            return Ok(false);
        };
        self.put_secret(org, target, url, &secret).await?;
        Ok(true)
    }

    /// `target`'s URL and signing secret, opened; `None` when none are
    /// stored.
    pub async fn secret(
        &self,
        org: OrgId,
        target: NotificationId,
    ) -> Result<Option<(String, String)>, StreamingError> {
        let rows = self
            .tables
            .rows(
                "cannot read the notification target's secrets",
                "SELECT url, signing_secret FROM notification_secrets WHERE target_id = $1",
                vec![Arg::Text(target.to_string())],
                &[Ty::Text, Ty::Text],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let url = row[0].text().unwrap_or_default();
        let secret = row[1].text().unwrap_or_default();
        Ok(Some((
            self.sealing
                .open_value(org, &format!("{target}:url"), &url)?,
            self.sealing
                .open_value(org, &format!("{target}:secret"), &secret)?,
        )))
    }

    /// Starts `target`'s delivery after `position` (a target's creation);
    /// nothing when it has a cursor already.
    pub async fn start(
        &self,
        org: OrgId,
        target: NotificationId,
        position: u64,
    ) -> Result<(), StreamingError> {
        self.tables.execute(
            "cannot start the notification target's delivery",
            vec![(
                "INSERT INTO notification_cursors (target_id, org_id, position) VALUES ($1, $2, $3) \
                 ON CONFLICT (target_id) DO NOTHING",
                vec![
                    Arg::Text(target.to_string()),
                    Arg::Text(org.to_string()),
                    Arg::Int(position as i64),
                ],
            )],
        )
        .await
    }

    /// Where `target`'s delivery stands; `None` before [`Store::start`].
    pub async fn cursor(&self, target: NotificationId) -> Result<Option<Cursor>, StreamingError> {
        let rows = self
            .tables
            .rows(
                "cannot read the notification cursor",
                "SELECT position, failures, next_attempt_at, paused FROM notification_cursors \
                 WHERE target_id = $1",
                vec![Arg::Text(target.to_string())],
                &[Ty::Int, Ty::Int, Ty::Int, Ty::OptText],
            )
            .await?;
        Ok(rows.first().map(|r| Cursor {
            position: r[0].int() as u64,
            failures: r[1].int() as u32,
            next_attempt_at: r[2].int(),
            paused: r[3].text(),
        }))
    }

    /// Moves the cursor past entries the target's rules do not want.
    pub async fn pass_over(
        &self,
        target: NotificationId,
        position: u64,
    ) -> Result<(), StreamingError> {
        self.tables.execute(
            "cannot advance the notification cursor",
            vec![(
                "UPDATE notification_cursors SET position = $1 WHERE target_id = $2 AND position < $3",
                vec![
                    Arg::Int(position as i64),
                    Arg::Text(target.to_string()),
                    Arg::Int(position as i64),
                ],
            )],
        )
        .await
    }

    /// Records an attempt and moves the cursor: past the position when
    /// delivered; else counts the failure, sets the next attempt and
    /// (`paused`) pauses the target. One transaction.
    pub async fn record(
        &self,
        target: NotificationId,
        attempt: &Attempt,
        next_attempt_at: i64,
        paused: Option<String>,
    ) -> Result<(), StreamingError> {
        let insert = (
            "INSERT INTO notification_deliveries \
             (target_id, position, attempt, at, outcome, http_status, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            vec![
                Arg::Text(target.to_string()),
                Arg::Int(attempt.position as i64),
                Arg::Int(attempt.attempt as i64),
                Arg::Text(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                Arg::Text(attempt.outcome.to_string()),
                attempt
                    .http_status
                    .map(|s| Arg::Int(s as i64))
                    .unwrap_or(Arg::NullInt),
                attempt
                    .error
                    .clone()
                    .map(Arg::Text)
                    .unwrap_or(Arg::NullText),
                Arg::Int(attempt.duration_ms as i64),
            ],
        );
        let update = match attempt.outcome {
            "delivered" => Some((
                "UPDATE notification_cursors SET position = $1, failures = 0, next_attempt_at = 0 \
                 WHERE target_id = $2",
                vec![
                    Arg::Int(attempt.position as i64),
                    Arg::Text(target.to_string()),
                ],
            )),
            "failed" => Some((
                "UPDATE notification_cursors SET failures = $1, next_attempt_at = $2, paused = $3 \
                 WHERE target_id = $4",
                vec![
                    Arg::Int(attempt.attempt as i64),
                    Arg::Int(next_attempt_at),
                    paused.map(Arg::Text).unwrap_or(Arg::NullText),
                    Arg::Text(target.to_string()),
                ],
            )),
            // Test sends leave the cursor alone.
            _ => None,
        };
        let mut statements = vec![insert];
        statements.extend(update);
        self.tables
            .execute("cannot record the delivery", statements)
            .await
    }

    /// Pauses `target` with `why` (a cause other than failed attempts:
    /// no URL stored).
    pub async fn pause(&self, target: NotificationId, why: &str) -> Result<(), StreamingError> {
        self.tables
            .execute(
                "cannot pause the notification target",
                vec![(
                    "UPDATE notification_cursors SET paused = $1 WHERE target_id = $2",
                    vec![Arg::Text(why.to_string()), Arg::Text(target.to_string())],
                )],
            )
            .await
    }

    /// Resumes a paused target from where it stopped, at once.
    pub async fn resume(&self, target: NotificationId) -> Result<(), StreamingError> {
        self.tables
            .execute(
                "cannot resume the notification target",
                vec![(
                "UPDATE notification_cursors SET paused = NULL, failures = 0, next_attempt_at = 0 \
                 WHERE target_id = $1",
                vec![Arg::Text(target.to_string())],
            )],
            )
            .await
    }

    /// Forgets a removed target: its secrets, cursor and delivery log.
    pub async fn forget(&self, target: NotificationId) -> Result<(), StreamingError> {
        let id = || vec![Arg::Text(target.to_string())];
        self.tables
            .execute(
                "cannot forget the notification target",
                vec![
                    (
                        "DELETE FROM notification_secrets WHERE target_id = $1",
                        id(),
                    ),
                    (
                        "DELETE FROM notification_cursors WHERE target_id = $1",
                        id(),
                    ),
                    (
                        "DELETE FROM notification_deliveries WHERE target_id = $1",
                        id(),
                    ),
                ],
            )
            .await
    }

    /// Up to `limit` of `target`'s attempts, newest first, before the
    /// attempt `before` (a page's last id).
    pub async fn deliveries(
        &self,
        target: NotificationId,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StreamingError> {
        let rows = self
            .tables
            .rows(
                "cannot read the delivery log",
                "SELECT id, position, attempt, at, outcome, http_status, error, duration_ms \
                 FROM notification_deliveries WHERE target_id = $1 AND id < $2 \
                 ORDER BY id DESC LIMIT $3",
                vec![
                    Arg::Text(target.to_string()),
                    Arg::Int(before.unwrap_or(i64::MAX)),
                    Arg::Int(limit as i64),
                ],
                &[
                    Ty::Int,
                    Ty::Int,
                    Ty::Int,
                    Ty::Text,
                    Ty::Text,
                    Ty::OptInt,
                    Ty::OptText,
                    Ty::Int,
                ],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Delivery {
                id: r[0].int(),
                position: r[1].int() as u64,
                attempt: r[2].int() as u32,
                at: r[3].text().unwrap_or_default(),
                outcome: r[4].text().unwrap_or_default(),
                http_status: r[5].opt_int().map(|s| s as u16),
                error: r[6].text(),
                duration_ms: r[7].int() as u64,
            })
            .collect())
    }

    /// Where the tables are.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }
}
