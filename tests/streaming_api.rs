//! Bucket streaming through the real server: `PUT /audit-logs/streaming`
//! stores the keys encrypted (never in the database in clear, the key file
//! 0600), the server's streaming task exports the finished days it missed
//! while it was down to a real S3-compatible server (moto, signed requests)
//! and `GET /audit-logs/streaming` shows the last run; wrong keys show as a
//! failed run with a clear error.

#[path = "../replay/tests/support/mod.rs"]
mod support;

mod common;

use std::time::{Duration, Instant};

use chrono::Utc;
use common::Server;
use domain::ids::OrgId;
use serde_json::{json, Value};
use support::Moto;

/// Polls `GET /audit-logs/streaming` until `last_run` satisfies `done`.
async fn wait_for_run(s: &Server, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let r = s.get("/audit-logs/streaming", token).await.expect(200);
        if done(&r.body["last_run"]) {
            return r.body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no such run within 60 s: {}\n{}",
            r.body,
            s.stderr.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_streams_missed_days_and_shows_the_last_run() {
    let moto = Moto::start();
    let s = Server::start();
    let owner = s.owner().await;
    let org: OrgId = s.bootstrap["org_id"].as_str().unwrap().parse().unwrap();
    let target = json!({
        "provider": "s3", "bucket": "audit", "region": "us-east-1",
        "endpoint": moto.endpoint(), "prefix": "stream",
        "access_key_id": moto.access_key_id, "secret_access_key": moto.secret_access_key,
    });
    let r = s
        .put("/audit-logs/streaming", &owner, target.clone())
        .await
        .expect(200);
    assert_eq!(r.body["last_run"], Value::Null);
    assert!(!r.text.contains(&moto.secret_access_key));

    // The server is down while a day passes: an event of yesterday is in
    // the log when it comes back.
    let stopped = s.stop();
    let yesterday = Utc::now().date_naive().pred_opt().unwrap();
    {
        let store = infra::SqliteEventStore::open_in_dir(stopped.dir.path())
            .await
            .unwrap();
        let at = yesterday.and_hms_opt(12, 0, 0).unwrap().and_utc();
        support::append_dated_settings_change(&store, org, "https://ci.example", at).await;
    }
    let s = stopped.start(&[("ROLEBOOK_STREAMING_INTERVAL", "1")]);

    // At start the streaming task catches up yesterday.
    let body = wait_for_run(&s, &owner, |run| !run.is_null()).await;
    let run = &body["last_run"];
    assert_eq!(run["ok"], json!(true), "{body}");
    assert_eq!(run["error"], Value::Null);
    assert_eq!(run["days"], json!(1));
    assert_eq!(run["objects"], json!(2));
    assert_eq!(body["secret_access_key"], json!("***"));
    let objects = moto.objects();
    let day = yesterday.format("%Y-%m-%d");
    let keys: Vec<&String> = objects.keys().collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    for name in ["audit.parquet", "audit.digest.json"] {
        assert!(
            objects.contains_key(&format!("stream/org={org}/date={day}/{name}")),
            "{keys:?}"
        );
    }
    assert_eq!(
        run["bytes"].as_u64().unwrap(),
        objects
            .values()
            .map(|o| o["size"].as_u64().unwrap())
            .sum::<u64>()
    );

    // The keys are sealed at rest; the key file is the owner's alone.
    let dir = s.dir.path();
    for file in ["rolebook.db", "rolebook.db-wal"] {
        let bytes = std::fs::read(dir.join(file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&moto.secret_access_key),
            "{file} holds the secret"
        );
        assert!(
            !text.contains(&moto.access_key_id),
            "{file} holds the key id"
        );
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(dir.join("streaming.key")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
    }
    assert!(!s.stderr.lock().unwrap().contains(&moto.secret_access_key));

    // Wrong keys for a new prefix: the run fails, and says why.
    let mut wrong = target.clone();
    wrong["prefix"] = json!("stream2");
    wrong["secret_access_key"] = json!("not-the-secret-key");
    s.put("/audit-logs/streaming", &owner, wrong)
        .await
        .expect(200);
    let body = wait_for_run(&s, &owner, |run| run["ok"] == json!(false)).await;
    let error = body["last_run"]["error"].as_str().unwrap();
    assert!(
        error.contains("SignatureDoesNotMatch") || error.contains("403"),
        "{error}"
    );
    assert!(error.contains("s3://audit/stream2/"), "{error}");
    assert!(!body.to_string().contains("not-the-secret-key"));
    assert_eq!(moto.objects().len(), 2);
}

/// `POST /audit-logs/streaming/test`: a bucket and keys tried before they
/// are saved: the right keys write and read back a test object; wrong keys,
/// a missing bucket and a refused endpoint are 422
/// `streaming_connection_failed` saying why; a Member is refused; nothing
/// is saved or logged either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_is_tested_before_it_is_saved() {
    let moto = Moto::start();
    let s = Server::start();
    let owner = s.owner().await;
    let head = s.head().await;
    let target = |secret: &str, bucket: &str| {
        json!({
            "provider": "s3", "bucket": bucket, "region": "us-east-1",
            "endpoint": moto.endpoint(), "prefix": "probe",
            "access_key_id": moto.access_key_id, "secret_access_key": secret,
        })
    };
    let ok = s
        .post(
            "/audit-logs/streaming/test",
            &owner,
            target(&moto.secret_access_key, "audit"),
        )
        .await
        .expect(200);
    assert_eq!(
        ok.body["object"],
        "s3://audit/probe/rolebook-connection-test.txt"
    );
    assert!(moto
        .objects()
        .contains_key("probe/rolebook-connection-test.txt"));

    for (body, why) in [
        (target("not-the-secret", "audit"), "wrong keys"),
        (
            target(&moto.secret_access_key, "no-such-bucket"),
            "no bucket",
        ),
    ] {
        let r = s
            .post("/audit-logs/streaming/test", &owner, body)
            .await
            .expect(422);
        assert_eq!(r.body["code"], "streaming_connection_failed", "{why}");
        assert!(!r.text.contains(&moto.secret_access_key), "{why}");
    }
    let mut remote_http = target(&moto.secret_access_key, "audit");
    remote_http["endpoint"] = json!("http://example.com");
    let r = s
        .post("/audit-logs/streaming/test", &owner, remote_http)
        .await
        .expect(422);
    assert!(
        r.body["detail"].as_str().unwrap().contains("https"),
        "{}",
        r.body
    );

    let (_, _, member) = s.member(&owner, "mia@example.com", None).await;
    s.post(
        "/audit-logs/streaming/test",
        &member,
        target(&moto.secret_access_key, "audit"),
    )
    .await
    .expect(403);

    // Nothing saved, nothing logged but the Member's invitation.
    s.get("/audit-logs/streaming", &owner).await.expect(404);
    let logged = s.audit(&owner, head, "resource_type=AuditStream").await;
    assert!(logged.is_empty(), "{logged:?}");
}
