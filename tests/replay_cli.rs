//! `rolebook replay ...` end to end: the real binary over a temp data dir,
//! the log tampered with directly in `events.db`.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn rolebook(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rolebook"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run rolebook")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", o.stdout))
}

/// Creates an organization through the CLI; returns its id.
fn create_org(dir: &Path, name: &str) -> String {
    let out = rolebook(
        dir,
        &[
            "org",
            "create",
            "--name",
            name,
            "--owner-email",
            &format!("ada@{name}.example"),
            "--owner-username",
            "ada",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    json(&out)["org_id"].as_str().unwrap().to_string()
}

fn events_db(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("events.db")).unwrap()
}

fn position_of(conn: &rusqlite::Connection, stream: &str, version: i64) -> u64 {
    conn.query_row(
        "SELECT global_position FROM events WHERE stream_id = ?1 AND stream_version = ?2",
        rusqlite::params![stream, version],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as u64
}

#[test]
fn verify_passes_an_intact_log_and_names_the_first_broken_link() {
    let dir = tempfile::tempdir().unwrap();
    let acme = create_org(dir.path(), "acme");
    let globex = create_org(dir.path(), "globex");
    let conn = events_db(dir.path());
    let total: i64 = conn
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();

    let ok = rolebook(dir.path(), &["replay", "verify"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_eq!(
        json(&ok),
        serde_json::json!({"ok": true, "streams": 3, "events": total})
    );
    let one = rolebook(dir.path(), &["replay", "verify", "--org", "acme"]);
    assert!(one.status.success(), "{}", stderr(&one));
    assert_eq!(json(&one)["streams"], 1);

    // Edit globex's second event in place.
    let stream = format!("org-{globex}");
    let position = position_of(&conn, &stream, 2);
    conn.execute(
        "UPDATE events SET data = replace(data, 'ada', 'eve') WHERE stream_id = ?1 AND stream_version = 2",
        [stream.as_str()],
    )
    .unwrap();

    let broken = rolebook(dir.path(), &["replay", "verify"]);
    assert_eq!(broken.status.code(), Some(1), "{}", stderr(&broken));
    let report = json(&broken);
    assert_eq!(report["ok"], false);
    assert_eq!(report["first"]["stream"], stream.as_str());
    assert_eq!(report["first"]["version"], 2);
    assert_eq!(report["first"]["position"], position);
    assert_eq!(report["first"]["kind"], "hash_mismatch");
    assert!(
        stderr(&broken).contains(&format!("{stream} version 2 (position {position})")),
        "{}",
        stderr(&broken)
    );

    // The other organization alone is still intact; this one is not.
    let acme_only = rolebook(dir.path(), &["replay", "verify", "--org", &acme]);
    assert!(acme_only.status.success(), "{}", stderr(&acme_only));
    let globex_only = rolebook(dir.path(), &["replay", "verify", "--org", "globex"]);
    assert_eq!(globex_only.status.code(), Some(1));
    assert_eq!(json(&globex_only)["first"]["position"], position);
}

#[test]
fn verify_names_a_removed_event_and_its_missing_position() {
    let dir = tempfile::tempdir().unwrap();
    let acme = create_org(dir.path(), "acme");
    create_org(dir.path(), "globex");
    let conn = events_db(dir.path());
    let stream = format!("org-{acme}");
    let removed = position_of(&conn, &stream, 2);
    let next = position_of(&conn, &stream, 3);
    conn.execute(
        "DELETE FROM events WHERE stream_id = ?1 AND stream_version = 2",
        [stream.as_str()],
    )
    .unwrap();
    let out = rolebook(dir.path(), &["replay", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["first"]["stream"], stream.as_str());
    assert_eq!(report["first"]["version"], 2);
    assert_eq!(report["first"]["position"], next);
    assert_eq!(report["first"]["kind"], "unexpected_version");
    assert_eq!(report["missing_positions"], serde_json::json!([removed]));
}

#[test]
fn verify_refuses_a_data_dir_without_a_log_and_an_unknown_org() {
    let dir = tempfile::tempdir().unwrap();
    let out = rolebook(dir.path(), &["replay", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no event store"), "{}", stderr(&out));
    assert!(
        !dir.path().join("events.db").exists(),
        "verify creates nothing"
    );
    create_org(dir.path(), "acme");
    let out = rolebook(dir.path(), &["replay", "verify", "--org", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown organization"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn state_shows_the_access_state_as_of_a_moment_and_one_users_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let acme = create_org(dir.path(), "acme");
    create_org(dir.path(), "globex");

    let now = rolebook(
        dir.path(),
        &["replay", "state", "--org", "acme", "--as-of", "now"],
    );
    assert!(now.status.success(), "{}", stderr(&now));
    let now = json(&now);
    assert_eq!(now["org_id"], acme.as_str());
    assert_eq!(now["exists"], true);
    assert_eq!(now["name"], "acme");
    assert_eq!(now["version"], 3, "created, owner invited, Owner assigned");
    let roles: Vec<&str> = now["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        roles.contains(&"Owner") && roles.contains(&"Reader"),
        "{roles:?}"
    );
    assert_eq!(now["users"][0]["username"], "ada");
    let binding = &now["bindings"][0];
    assert_eq!(binding["role"]["name"], "Owner");
    assert_eq!(binding["source"], "direct");
    let ada = &now["permissions"][0];
    assert_eq!(ada["username"], "ada");
    assert_eq!(ada["organization"].as_array().unwrap().len(), 37);
    assert_eq!(
        ada["organization"][0]["sources"][0]["via"], "direct",
        "{ada}"
    );
    assert_eq!(
        ada["every_project"][0]["sources"][0]["via"],
        "organization_role"
    );

    // One user.
    let one = rolebook(
        dir.path(),
        &[
            "replay", "state", "--org", &acme, "--as-of", "now", "--user", "ada",
        ],
    );
    assert!(one.status.success(), "{}", stderr(&one));
    let one = json(&one);
    assert_eq!(one["user"]["username"], "ada");
    assert_eq!(one["permissions"], *ada);
    assert!(one.get("roles").is_none());

    // Just before the organization was created, it did not exist.
    let created: chrono::DateTime<chrono::Utc> =
        now["occurred_at"].as_str().unwrap().parse().unwrap();
    let before = (created - chrono::Duration::microseconds(1)).to_rfc3339();
    let out = rolebook(
        dir.path(),
        &["replay", "state", "--org", "acme", "--as-of", &before],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = json(&out);
    assert_eq!(out["exists"], false);
    assert_eq!(out["version"], 0);
    assert_eq!(out["users"], serde_json::json!([]));

    // Without snapshots the answer is the same.
    let plain = rolebook(
        dir.path(),
        &[
            "replay",
            "state",
            "--org",
            "acme",
            "--as-of",
            &created.to_rfc3339(),
            "--no-snapshots",
        ],
    );
    assert!(plain.status.success(), "{}", stderr(&plain));
    let plain = json(&plain);
    assert_eq!(plain["permissions"], now["permissions"]);
    assert_eq!(plain["replay"]["snapshot"], Value::Null);

    // Errors say what to fix.
    let bad = rolebook(
        dir.path(),
        &["replay", "state", "--org", "acme", "--as-of", "yesterday"],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("RFC 3339"), "{}", stderr(&bad));
    let nobody = rolebook(
        dir.path(),
        &[
            "replay", "state", "--org", "acme", "--as-of", "now", "--user", "zed",
        ],
    );
    assert_eq!(nobody.status.code(), Some(1));
    assert!(stderr(&nobody).contains("no user"), "{}", stderr(&nobody));
}

#[test]
fn snapshot_takes_the_snapshots_state_starts_from() {
    let dir = tempfile::tempdir().unwrap();
    create_org(dir.path(), "acme");
    create_org(dir.path(), "globex");
    let out = rolebook(dir.path(), &["replay", "snapshot", "--every", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = json(&out);
    let orgs = out["organizations"].as_array().unwrap();
    assert_eq!(orgs.len(), 2);
    assert!(orgs
        .iter()
        .all(|o| o["snapshots"] == 1 && o["version"] == 3));
    let state = rolebook(
        dir.path(),
        &[
            "replay",
            "state",
            "--org",
            "globex",
            "--as-of",
            "now",
            "--snapshot-every",
            "2",
        ],
    );
    assert!(state.status.success(), "{}", stderr(&state));
    let state = json(&state);
    assert_eq!(state["replay"]["snapshot"]["version"], 2);
    assert_eq!(state["replay"]["events_folded"], 1);
}

#[test]
fn rebuild_switches_the_projections_over_at_the_live_checkpoint_or_the_head() {
    let dir = tempfile::tempdir().unwrap();
    create_org(dir.path(), "acme");
    create_org(dir.path(), "globex");
    // The audit projection catches up with the log on export.
    let export = rolebook(dir.path(), &["audit", "export", "--org", "acme"]);
    assert!(export.status.success(), "{}", stderr(&export));
    let head: i64 = events_db(dir.path())
        .query_row("SELECT MAX(global_position) FROM events", [], |r| r.get(0))
        .unwrap();

    let out = rolebook(dir.path(), &["replay", "rebuild"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["interrupted"], false);
    let by_name = |name: &str| {
        report["projections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["projection"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("audit")["position"], head);
    assert_eq!(by_name("audit")["switched"], true);
    // No server ever ran the RBAC projection: its live checkpoint is 0.
    assert_eq!(by_name("rbac")["position"], 0);

    let out = rolebook(
        dir.path(),
        &["replay", "rebuild", "--projection", "rbac", "--to-head"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["projections"][0]["position"], head);
    let db = rusqlite::Connection::open(dir.path().join("rolebook.db")).unwrap();
    let users: i64 = db
        .query_row("SELECT COUNT(*) FROM rbac_users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(users, 2);
    let audit: i64 = db
        .query_row("SELECT COUNT(*) FROM audit_log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(audit, 6, "three events per organization");
    assert!(!dir.path().join("rolebook.rebuild-rbac.db").exists());

    let bad = rolebook(dir.path(), &["replay", "rebuild", "--projection", "nope"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("rbac, audit or all"),
        "{}",
        stderr(&bad)
    );
}
