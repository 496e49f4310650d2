//! One delivery: the body a target receives for an audit entry, its
//! signature, and the POST.
//!
//! A webhook receives `{delivery_id, organization, event}` (the audit
//! entry as `GET /audit-logs` shows it; a test send `test: true` instead); a Slack incoming webhook a
//! message, `{text}`. Both carry the headers:
//!
//! - `Rolebook-Delivery`: the event's position (0 for a test send): the
//!   same on every retry, so a receiver drops what it has seen;
//! - `Rolebook-Timestamp`: Unix seconds of this attempt;
//! - `Rolebook-Signature`: `sha256=` and the hex HMAC-SHA256, under the
//!   target's signing secret, of `<timestamp>.<body>`.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use projections::audit::AuditEntry;
use serde_json::json;
use sha2::Sha256;

use domain::notifications::TargetKind;

/// How long one attempt may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The signature header's value for `body` sent at `timestamp`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The body a target of `kind` receives for `entry` (`None`: a test send).
pub fn body(
    kind: TargetKind,
    org: (&str, &str),
    position: u64,
    entry: Option<&AuditEntry>,
) -> Vec<u8> {
    let (org_id, org_name) = org;
    let value = match (kind, entry) {
        (TargetKind::Webhook, Some(e)) => json!({
            "delivery_id": position,
            "organization": {"id": org_id, "name": org_name},
            "event": crate::http::routes::audit::AuditEvent::of(e.clone()),
        }),
        (TargetKind::Webhook, None) => json!({
            "delivery_id": 0,
            "organization": {"id": org_id, "name": org_name},
            "test": true,
        }),
        (TargetKind::Slack, Some(e)) => json!({
            "text": format!(
                "[{org_name}] {} (by {}, {} {}, position {position})",
                e.description,
                e.actor_username,
                e.resource_type.as_str(),
                e.operation.as_str(),
            ),
        }),
        (TargetKind::Slack, None) => json!({
            "text": format!("[{org_name}] rolebook test notification"),
        }),
    };
    serde_json::to_vec(&value).expect("JSON values serialize")
}

/// What one POST gave.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The receiver answered 2xx.
    pub ok: bool,
    pub http_status: Option<u16>,
    /// Why it failed, for the delivery log.
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// POSTs `body` to `url`, signed; never fails: the outcome says what
/// happened.
pub async fn send(
    client: &webhook_client::Client,
    url: &str,
    secret: &str,
    position: u64,
    body: Vec<u8>,
) -> Sent {
    let timestamp = chrono::Utc::now().timestamp();
    let started = Instant::now();
    let result = client
        .post(url)
        .timeout(TIMEOUT)
        .header("content-type", "application/json")
        .header("user-agent", "rolebook-webhooks")
        .header("rolebook-delivery", position.to_string())
        .header("rolebook-timestamp", timestamp.to_string())
        .header("rolebook-signature", signature(secret, timestamp, &body))
        .body(body)
        .send()
        .await;
    let duration_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(r) if r.status().is_success() => Sent {
            ok: true,
            http_status: Some(r.status().as_u16()),
            error: None,
            duration_ms,
        },
        Ok(r) => Sent {
            ok: false,
            http_status: Some(r.status().as_u16()),
            error: Some(format!("the receiver answered {}", r.status())),
            duration_ms,
        },
        Err(e) => Sent {
            ok: false,
            http_status: None,
            error: Some(describe(e)),
            duration_ms,
        },
    }
}

/// The error's text without its URL (whose path may be the secret of a
/// Slack webhook).
fn describe(e: webhook_client::Error) -> String {
    let e = e.without_url();
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = format!("{what}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // `printf '1700000000.{}' | openssl dgst -sha256 -hmac key`
        let s = signature("key", 1_700_000_000, b"{}");
        assert_eq!(
            s,
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        assert_ne!(s, signature("other", 1_700_000_000, b"{}"));
        assert_ne!(s, signature("key", 1_700_000_001, b"{}"));
    }
}
