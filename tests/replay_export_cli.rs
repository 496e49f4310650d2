//! `rolebook replay export` and `replay check-export` end to end: the real
//! binary over a data dir whose log has a finished day, into a directory
//! and into a real S3-compatible server (moto, signed requests).

#[path = "../replay/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output};

use chrono::{NaiveDate, Utc};
use domain::ids::OrgId;
use serde_json::Value;

fn rolebook(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rolebook"));
    cmd.arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("RUST_LOG");
    for var in [
        "ROLEBOOK_S3_ACCESS_KEY_ID",
        "ROLEBOOK_S3_SECRET_ACCESS_KEY",
        "ROLEBOOK_S3_ENDPOINT",
        "ROLEBOOK_S3_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run rolebook")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

/// An organization created by the CLI today, plus one event of `day`
/// appended to its stream (as if it had happened then).
async fn org_with_a_finished_day(dir: &Path, day: NaiveDate) -> OrgId {
    let out = rolebook(
        dir,
        &[
            "org",
            "create",
            "--name",
            "acme",
            "--owner-email",
            "ada@acme.example",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let org: OrgId = json(&out)["org_id"].as_str().unwrap().parse().unwrap();
    let store = infra::SqliteEventStore::open_in_dir(dir).await.unwrap();
    support::append_dated_settings_change(
        &store,
        org,
        "https://ci.acme.example",
        day.and_hms_opt(9, 30, 0).unwrap().and_utc(),
    )
    .await;
    org
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_to_a_directory_then_check_it() {
    let data = tempfile::tempdir().unwrap();
    let day = Utc::now().date_naive() - chrono::Duration::days(3);
    let org = org_with_a_finished_day(data.path(), day).await;
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().to_str().unwrap();

    let run = rolebook(data.path(), &["replay", "export", "--out", out], &[]);
    assert!(run.status.success(), "{}", stderr(&run));
    let report = json(&run);
    // Only the finished day: today's creation events wait.
    let days = report["days"].as_array().unwrap();
    assert_eq!(days.len(), 1, "{report}");
    assert_eq!(days[0]["date"], Value::from(day.to_string()));
    assert_eq!(days[0]["rows"], Value::from(1));
    assert_eq!(report["objects"], Value::from(2));
    let parquet = out_dir
        .path()
        .join(format!("org={org}/date={day}/audit.parquet"));
    assert!(parquet.is_file());

    // `--to` today without `--include-today`: today is left out, and
    // stderr says so and how to include it.
    let today = Utc::now().date_naive().to_string();
    let run = rolebook(
        data.path(),
        &["replay", "export", "--out", out, "--to", &today],
        &[],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(json(&run)["days"].as_array().unwrap().len(), 1);
    let said = stderr(&run);
    assert!(
        said.contains(&format!("today ({today}, UTC) is not finished"))
            && said.contains("--include-today"),
        "{said}"
    );
    let run = rolebook(data.path(), &["replay", "export", "--out", out], &[]);
    assert!(
        !stderr(&run).contains("is not finished"),
        "without --to nothing is said: {}",
        stderr(&run)
    );

    // Today too, when asked; the same day again gives the same bytes.
    let before = std::fs::read(&parquet).unwrap();
    let run = rolebook(
        data.path(),
        &[
            "replay",
            "export",
            "--out",
            out,
            "--org",
            "acme",
            "--include-today",
        ],
        &[],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(json(&run)["days"].as_array().unwrap().len(), 2);
    assert_eq!(std::fs::read(&parquet).unwrap(), before);

    let check = rolebook(data.path(), &["replay", "check-export", "--out", out], &[]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert_eq!(json(&check)["ok"], Value::Bool(true));

    // A changed byte: exit 1, one line naming the day.
    let mut bytes = before.clone();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x20;
    std::fs::write(&parquet, bytes).unwrap();
    let check = rolebook(data.path(), &["replay", "check-export", "--out", out], &[]);
    assert_eq!(check.status.code(), Some(1));
    assert_eq!(json(&check)["ok"], Value::Bool(false));
    let err = stderr(&check);
    assert!(
        err.contains(&day.to_string()) && err.contains("SHA-256"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // Clear one-line errors for bad arguments.
    for (args, says) in [
        (vec!["--from", "2026-13-01"], "invalid date"),
        (
            vec!["--from", "2026-02-02", "--to", "2026-02-01"],
            "is after",
        ),
        (vec!["--org", "nope"], "unknown organization"),
    ] {
        let mut all = vec!["replay", "export", "--out", out];
        all.extend(args);
        let run = rolebook(data.path(), &all, &[]);
        assert!(!run.status.success());
        assert!(stderr(&run).contains(says), "{}", stderr(&run));
    }
    let run = rolebook(
        data.path(),
        &["replay", "export", "--out", "s3://bucket/p"],
        &[],
    );
    assert!(!run.status.success());
    assert!(
        stderr(&run).contains("ROLEBOOK_S3_ACCESS_KEY_ID"),
        "{}",
        stderr(&run)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_to_a_bucket_with_keys_from_the_environment() {
    let moto = support::Moto::start();
    let data = tempfile::tempdir().unwrap();
    let day = Utc::now().date_naive() - chrono::Duration::days(1);
    let org = org_with_a_finished_day(data.path(), day).await;
    let env = [
        ("ROLEBOOK_S3_ENDPOINT", moto.endpoint()),
        ("ROLEBOOK_S3_ACCESS_KEY_ID", moto.access_key_id.clone()),
        (
            "ROLEBOOK_S3_SECRET_ACCESS_KEY",
            moto.secret_access_key.clone(),
        ),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = rolebook(
        data.path(),
        &["replay", "export", "--out", "s3://audit/exports/"],
        &env,
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let text = format!("{}{}", String::from_utf8_lossy(&run.stdout), stderr(&run));
    assert!(!text.contains(&moto.secret_access_key));
    let objects = moto.objects();
    let mut keys: Vec<&String> = objects.keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            &format!("exports/org={org}/date={day}/audit.digest.json"),
            &format!("exports/org={org}/date={day}/audit.parquet"),
        ]
    );
    let check = rolebook(
        data.path(),
        &["replay", "check-export", "--out", "s3://audit/exports"],
        &env,
    );
    assert!(check.status.success(), "{}", stderr(&check));

    // A wrong secret: exit 1, the bucket's refusal on one line, no secret.
    let mut wrong = env.clone();
    wrong[2] = ("ROLEBOOK_S3_SECRET_ACCESS_KEY", "wrong-secret-value");
    let run = rolebook(
        data.path(),
        &["replay", "export", "--out", "s3://audit/exports"],
        &wrong,
    );
    assert!(!run.status.success());
    let err = stderr(&run);
    assert!(
        err.contains("SignatureDoesNotMatch") || err.contains("403"),
        "{err}"
    );
    assert!(!err.contains("wrong-secret-value"));
}
