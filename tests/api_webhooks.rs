//! Audit webhooks end to end: the real binary delivers its audit events to
//! a receiver on loopback that fails when told to. Every event arrives,
//! signed, in the log's order, with its position as the delivery id, none
//! lost across a crash of the server; a target that keeps failing is
//! paused and says why; a test send; the URL and the signing secret never
//! leave their sealed table.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use common::Server;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// The path part of the receiver's URL: a secret like a Slack webhook's.
const HOOK_PATH: &str = "/hook/T0123-secret-path-B0456";

/// What the receiver saw: each request's headers and body and what it
/// answered.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, Bytes, u16)>>>,
    /// Requests to refuse (500) before accepting again.
    fail_next: Arc<AtomicUsize>,
    /// Refuse everything.
    down: Arc<AtomicBool>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let fail = r.down.load(Ordering::SeqCst)
        || r.fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let status = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    };
    r.got.lock().unwrap().push((headers, body, status.as_u16()));
    status
}

impl Receiver {
    /// Starts on a free loopback port; its URL.
    async fn start() -> (Receiver, String) {
        let r = Receiver::default();
        let app = Router::new()
            .route(HOOK_PATH, post(receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{HOOK_PATH}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    /// The accepted deliveries' bodies, in the order they came, each
    /// checked: signature valid under `secret`, delivery header equal to the
    /// body's delivery id.
    fn delivered(&self, secret: &str) -> Vec<Value> {
        let got = self.got.lock().unwrap();
        got.iter()
            .filter(|(_, _, status)| *status == 204)
            .map(|(headers, body, _)| {
                let header = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_string();
                let timestamp = header("rolebook-timestamp");
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
                mac.update(format!("{timestamp}.").as_bytes());
                mac.update(body);
                let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                assert_eq!(header("rolebook-signature"), expected, "a bad signature");
                let value: Value = serde_json::from_slice(body).unwrap();
                // Slack's messages carry the delivery id in the header only.
                if !value["delivery_id"].is_null() {
                    assert_eq!(
                        header("rolebook-delivery"),
                        value["delivery_id"].to_string(),
                        "{value}"
                    );
                }
                value
            })
            .collect()
    }

    fn requests(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

/// Polls `done` every 50 ms for at most 30 s.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const FAST: &[(&str, &str)] = &[
    ("ROLEBOOK_WEBHOOK_INTERVAL_MS", "50"),
    ("ROLEBOOK_WEBHOOK_BACKOFF_MS", "20"),
    ("ROLEBOOK_WEBHOOK_MAX_FAILURES", "1000"),
];

/// The audit positions after `after`, oldest first, once the audit view has
/// reached `at_least`.
async fn positions_after(s: &Server, token: &str, at_least: u64, after: u64) -> Vec<u64> {
    let mut all: Vec<u64> = s
        .audit(token, at_least, "")
        .await
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .filter(|p| *p > after)
        .collect();
    all.sort();
    all
}

#[tokio::test]
async fn every_audit_event_is_delivered_signed_in_order_and_none_is_lost_across_a_crash() {
    let (receiver, url) = Receiver::start().await;
    let s = Server::start_with(FAST);
    let owner = s.owner().await;
    let start = s.head().await;

    // Refused: bad URLs and rules, and a caller without the permission.
    let add = |body: Value| s.post("/notifications", &owner, body);
    add(json!({"name": "x", "kind": "webhook", "url": "ftp://example.com/", "rules": [{}]}))
        .await
        .problem(422, "invalid_url");
    add(json!({"name": "x", "kind": "webhook", "url": url, "rules": [{"resource_types": ["Nothing"]}]}))
        .await
        .problem(422, "unknown_resource_type");
    add(json!({"name": "x", "kind": "webhook", "url": url, "rules": []}))
        .await
        .problem(422, "invalid_rules");

    // The first attempts fail: the same event is sent again until taken.
    receiver.fail_next.store(3, Ordering::SeqCst);
    let created = add(json!({"name": "SIEM", "kind": "webhook", "url": url, "rules": [{}]}))
        .await
        .expect(201);
    let secret = created.body["signing_secret"].as_str().unwrap().to_string();
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["endpoint"], url.trim_end_matches(HOOK_PATH));
    // A Member manages notifications but does not read the audit log: a
    // target would show it to them.
    let (_, _, member) = s.member(&owner, "mo@example.com", None).await;
    let refused = s
        .post(
            "/notifications",
            &member,
            json!({"name": "y", "kind": "webhook", "url": url, "rules": [{}]}),
        )
        .await
        .problem(403, "forbidden");
    assert_eq!(refused.body["permission"], "organization.audit_logs.view");
    for i in 0..5 {
        s.invite(&owner, &format!("p{i}@example.com"), None).await;
    }
    let head = s.head().await;
    let expected = positions_after(&s, &owner, head, start).await;
    assert!(expected.len() >= 7, "{expected:?}");
    wait_until("every event delivered", || {
        receiver.delivered(&secret).len() >= expected.len()
    })
    .await;

    // The receiver goes down; more events happen; the server crashes
    // after a few failed attempts (counted from here: the crash may cut
    // the record of the last one, never of those before it).
    let failed_attempts = || {
        receiver
            .got
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, status)| *status == 500)
            .count()
    };
    let failed_before = failed_attempts();
    receiver.down.store(true, Ordering::SeqCst);
    for i in 5..10 {
        s.invite(&owner, &format!("p{i}@example.com"), None).await;
    }
    let head = s.head().await;
    let expected = positions_after(&s, &owner, head, start).await;
    wait_until("failed attempts while the receiver is down", || {
        failed_attempts() > failed_before + 3
    })
    .await;
    let stopped = s.stop();
    receiver.down.store(false, Ordering::SeqCst);
    let s = stopped.start(FAST);
    wait_until("every event delivered after the restart", || {
        receiver.delivered(&secret).len() >= expected.len()
    })
    .await;

    // Every event once, in order, each as the audit log shows it.
    let delivered = receiver.delivered(&secret);
    let positions: Vec<u64> = delivered
        .iter()
        .map(|d| d["delivery_id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        positions, expected,
        "delivered in the log's order, none lost"
    );
    for d in &delivered {
        assert_eq!(d["event"]["position"], d["delivery_id"]);
        assert_eq!(d["organization"]["name"], "default");
        assert!(d["event"]["description"].as_str().is_some());
    }

    // The delivery log names every attempt, failures with their cause.
    let token = owner;
    let log = s
        .get(
            &format!("/notifications/{id}/deliveries?limit=1000"),
            &token,
        )
        .await
        .expect(200);
    let attempts = log.body["deliveries"].as_array().unwrap();
    let failed: Vec<&Value> = attempts
        .iter()
        .filter(|a| a["outcome"] == "failed")
        .collect();
    assert!(failed.len() >= 4, "{attempts:?}");
    assert!(failed.iter().all(
        |a| a["error"] == "the receiver answered 500 Internal Server Error"
            && a["http_status"] == 500
    ));
    let ok = attempts
        .iter()
        .filter(|a| a["outcome"] == "delivered")
        .count();
    assert_eq!(ok, expected.len());
    let target = s
        .get(&format!("/notifications/{id}"), &token)
        .await
        .expect(200);
    assert_eq!(target.body["delivery"]["position"], json!(expected.last()));
    assert_eq!(target.body["delivery"]["paused"], Value::Null);

    // A test send, signed like the rest, logged, the cursor left alone.
    let before = receiver.requests();
    let test = s
        .post(&format!("/notifications/{id}/test"), &token, json!({}))
        .await
        .expect(200);
    assert_eq!(test.body["delivered"], true, "{test:?}");
    assert_eq!(receiver.requests(), before + 1);
    let last = receiver.delivered(&secret).pop().unwrap();
    assert_eq!(
        (last["test"].clone(), last["delivery_id"].clone()),
        (json!(true), json!(0))
    );

    // The URL's secret path and the signing secret are nowhere in the data
    // dir's files in the clear (the log, the read models, the key file).
    for entry in walk(s.dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        for secret in [secret.as_bytes(), HOOK_PATH.as_bytes()] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "{} holds a secret in the clear",
                entry.display()
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn a_target_that_keeps_failing_is_paused_with_its_reason_and_resumes() {
    let (receiver, url) = Receiver::start().await;
    let s = Server::start_with(&[
        ("ROLEBOOK_WEBHOOK_INTERVAL_MS", "50"),
        ("ROLEBOOK_WEBHOOK_BACKOFF_MS", "20"),
        ("ROLEBOOK_WEBHOOK_MAX_FAILURES", "3"),
    ]);
    let owner = s.owner().await;
    receiver.down.store(true, Ordering::SeqCst);
    let created = s
        .post(
            "/notifications",
            &owner,
            json!({"name": "Slack", "kind": "slack", "url": url,
                   "rules": [{"resource_types": ["User"], "actions": ["Added"]}]}),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap().to_string();
    let secret = created.body["signing_secret"].as_str().unwrap().to_string();
    s.invite(&owner, "ann@example.com", None).await;
    let status = || async {
        s.get(&format!("/notifications/{id}"), &owner)
            .await
            .expect(200)
            .body["delivery"]
            .clone()
    };
    let start = Instant::now();
    let paused = loop {
        let d = status().await;
        if d["paused"].is_string() {
            break d;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never paused: {d}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let why = paused["paused"].as_str().unwrap();
    assert!(
        why.contains("3 failed attempts") && why.contains("answered 500"),
        "{why}"
    );
    assert_eq!(receiver.requests(), 3);
    // Not retried forever: nothing more goes out while paused.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.requests(), 3);

    // Resumed once the receiver is back: the event it stopped at goes out,
    // as a Slack message, and only the events the rule names do.
    receiver.down.store(false, Ordering::SeqCst);
    s.post(&format!("/notifications/{id}/resume"), &owner, json!({}))
        .await
        .expect(200);
    s.invite(&owner, "bea@example.com", None).await;
    wait_until("both invitations delivered", || {
        receiver.delivered(&secret).len() >= 2
    })
    .await;
    let texts: Vec<String> = receiver
        .delivered(&secret)
        .iter()
        .map(|d| d["text"].as_str().unwrap().to_string())
        .collect();
    assert!(texts[0].contains("User ann invited"), "{texts:?}");
    assert!(texts[1].contains("User bea invited"), "{texts:?}");
    assert_eq!(texts.len(), 2, "only the events the rule names: {texts:?}");
}
