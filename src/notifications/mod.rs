//! Audit webhooks, the server's background task: every notification target
//! (`/notifications`) receives the organization's audit events its rules
//! name, in the log's order, at least once.
//!
//! - [`store`]: the targets' URLs and signing secrets (sealed), their
//!   cursors and the delivery log, beside the log;
//! - [`delivery`]: the body, its HMAC-SHA256 signature and the POST.
//!
//! **A pass** ([`Notifier::pass`]) visits each target of each organization
//! (from the access model): it reads the audit entries after the target's
//! cursor from the audit view, moves the cursor over those its rules do
//! not want, and POSTs the first it wants. Delivered: the cursor moves past
//! it and the next goes at once. Failed: the attempt is logged, the
//! target waits `backoff · 2^(failures-1)` (at most [`MAX_BACKOFF`]) and
//! the same event goes again, with the same delivery id; after
//! `max_failures` failures in a row the target is paused, saying why,
//! until `POST /notifications/{id}/resume`. Nothing is skipped: the cursor
//! only moves past an event once it is delivered (or not wanted), and it is
//! stored, so a restart resumes where the last server stopped. On
//! PostgreSQL one server at a time runs a pass (an advisory lock).

pub mod delivery;
pub mod store;

use std::path::PathBuf;
use std::time::Duration;

use domain::ids::OrgId;
use domain::notifications::NotificationTarget;
use projections::access::SharedAccessModel;

pub use store::{Attempt, Cursor, Delivery, Store};

use crate::streaming::{tables, StreamingError};

/// The longest wait between two attempts at one event.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Entries read from the audit view at a time.
const BATCH: usize = 200;

/// How delivery retries.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The wait after the first failure; doubled after each next one.
    pub backoff: Duration,
    /// Failures in a row after which a target is paused.
    pub max_failures: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            backoff: Duration::from_secs(1),
            max_failures: 12,
        }
    }
}

impl RetryPolicy {
    /// The wait after `failures` failures in a row.
    pub fn wait(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(20);
        self.backoff.saturating_mul(factor).min(MAX_BACKOFF)
    }
}

/// The delivery task.
pub struct Notifier {
    pub store: Store,
    pub model: SharedAccessModel,
    /// The audit view the entries are read from (the data dir's database:
    /// the embedded view, or the copy a server on PostgreSQL keeps).
    pub read_db: PathBuf,
    /// Time between two passes when nothing is due.
    pub interval: Duration,
    pub policy: RetryPolicy,
    pub client: webhook_client::Client,
}

/// A new HTTP client for deliveries (no redirects: a receiver answers for
/// itself).
pub fn client() -> webhook_client::Client {
    webhook_client::Client::builder()
        .redirect(webhook_client::redirect::Policy::none())
        .timeout(delivery::TIMEOUT)
        .build()
        .expect("the webhook client builds")
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Notifier {
    /// Every organization's targets, from the access model.
    fn targets(&self) -> Vec<(OrgId, String, NotificationTarget)> {
        let model = self.model.read();
        let mut all = vec![];
        for (id, o) in &model.orgs {
            for t in &o.state.settings.notifications {
                all.push((*id, o.state.name.clone(), t.clone()));
            }
        }
        all.sort_by_key(|(org, _, t)| (*org, t.id));
        all
    }

    /// One pass over every target; each delivers what is due.
    pub async fn pass(&self) -> Result<(), StreamingError> {
        let Some(_claim) = tables::claim_pass_of(self.store.tables(), 4).await? else {
            return Ok(());
        };
        for (org, org_name, target) in self.targets() {
            if let Err(e) = self.run_target(org, &org_name, &target).await {
                tracing::warn!(%org, target = %target.id, "audit webhook: {e:#}");
            }
        }
        Ok(())
    }

    /// Delivers what is due to one target, until it fails or has nothing
    /// left.
    async fn run_target(
        &self,
        org: OrgId,
        org_name: &str,
        target: &NotificationTarget,
    ) -> Result<(), StreamingError> {
        let Some(mut cursor) = self.store.cursor(target.id).await? else {
            // Created a moment ago: the handler starts its cursor.
            return Ok(());
        };
        if cursor.paused.is_some() || cursor.next_attempt_at > now_ms() {
            return Ok(());
        }
        // Opened once something is to be sent (most passes send nothing).
        let mut opened: Option<(String, String)> = None;
        let org_id = org.to_string();
        loop {
            let db = self.read_db.clone();
            let after = cursor.position;
            let entries = tokio::task::spawn_blocking(move || {
                let conn = projections::db::open(&db)?;
                Ok::<_, anyhow::Error>(projections::audit::since(&conn, org, after, BATCH)?)
            })
            .await
            .map_err(|e| StreamingError::Task(e.to_string()))?
            .map_err(|e| StreamingError::Task(format!("cannot read the audit view: {e:#}")))?;
            let Some(last) = entries.last().map(|e| e.position) else {
                return Ok(());
            };
            let wanted = entries
                .iter()
                .find(|e| target.wants(e.resource_type.as_str(), e.operation.as_str()));
            let Some(entry) = wanted else {
                self.store.pass_over(target.id, last).await?;
                cursor.position = last;
                continue;
            };
            if entry.position > cursor.position + 1 {
                // The entries before it are not wanted.
                self.store.pass_over(target.id, entry.position - 1).await?;
            }
            if opened.is_none() {
                opened = self.store.secret(org, target.id).await?;
            }
            let Some((url, secret)) = &opened else {
                self.store
                    .pause(
                        target.id,
                        "no URL is stored for this target (the server stopped while it was being \
                         set): set its url again with PATCH, then resume it",
                    )
                    .await?;
                return Ok(());
            };
            let body = delivery::body(
                target.kind,
                (&org_id, org_name),
                entry.position,
                Some(entry),
            );
            let sent = delivery::send(&self.client, url, secret, entry.position, body).await;
            let attempt = Attempt {
                position: entry.position,
                attempt: cursor.failures + 1,
                outcome: if sent.ok { "delivered" } else { "failed" },
                http_status: sent.http_status,
                error: sent.error.clone(),
                duration_ms: sent.duration_ms,
            };
            if sent.ok {
                self.store.record(target.id, &attempt, 0, None).await?;
                cursor.position = entry.position;
                cursor.failures = 0;
                continue;
            }
            let failures = attempt.attempt;
            let paused = (failures >= self.policy.max_failures).then(|| {
                format!(
                    "paused after {failures} failed attempts in a row at position {}: {}",
                    entry.position,
                    sent.error.as_deref().unwrap_or("failed")
                )
            });
            let next = now_ms() + self.policy.wait(failures).as_millis() as i64;
            self.store.record(target.id, &attempt, next, paused).await?;
            return Ok(());
        }
    }

    /// Sends a test notification to a target now; logged, the cursor left
    /// alone.
    pub async fn test(
        store: &Store,
        client: &webhook_client::Client,
        org: (OrgId, &str),
        target: &NotificationTarget,
    ) -> Result<Option<delivery::Sent>, StreamingError> {
        let Some((url, secret)) = store.secret(org.0, target.id).await? else {
            return Ok(None);
        };
        let body = delivery::body(target.kind, (&org.0.to_string(), org.1), 0, None);
        let sent = delivery::send(client, &url, &secret, 0, body).await;
        let attempt = Attempt {
            position: 0,
            attempt: 1,
            outcome: if sent.ok {
                "test_delivered"
            } else {
                "test_failed"
            },
            http_status: sent.http_status,
            error: sent.error.clone(),
            duration_ms: sent.duration_ms,
        };
        store.record(target.id, &attempt, 0, None).await?;
        Ok(Some(sent))
    }

    /// Runs a pass every `interval` until `stop`.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                r = self.pass() => if let Err(e) = r {
                    tracing::warn!("audit webhooks: {e:#}");
                },
                _ = stop.wait_for(|s| *s) => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            backoff: Duration::from_millis(100),
            max_failures: 5,
        };
        assert_eq!(p.wait(1), Duration::from_millis(100));
        assert_eq!(p.wait(2), Duration::from_millis(200));
        assert_eq!(p.wait(4), Duration::from_millis(800));
        assert_eq!(p.wait(40), MAX_BACKOFF);
    }
}
