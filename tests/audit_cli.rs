//! `rolebook audit export` end to end: the real binary over a temp data dir.

use std::path::Path;
use std::process::{Command, Output};

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

const HEADER: &str = "resource,operation,medium,user_id,username,resource_id,resource_name,\
ip_address,description,metadata,timestamp,position,request_id,user_agent";

#[test]
fn org_create_then_export_prints_the_header_and_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let created = rolebook(
        dir.path(),
        &[
            "org",
            "create",
            "--name",
            "acme",
            "--owner-email",
            "ada@acme.example",
            "--owner-username",
            "ada",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let org_id = created["org_id"].as_str().unwrap().to_string();
    let owner_id = created["owner"]["user_id"].as_str().unwrap().to_string();

    for org in ["acme", "ACME", org_id.as_str()] {
        let out = rolebook(dir.path(), &["audit", "export", "--org", org]);
        assert!(out.status.success(), "{org}: {}", stderr(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.lines().next(), Some(HEADER), "header first");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let summary: Vec<(&str, &str, &str, &str)> =
            rows.iter().map(|r| (&r[0], &r[1], &r[5], &r[8])).collect();
        assert_eq!(
            summary,
            vec![
                (
                    "Organization",
                    "Added",
                    org_id.as_str(),
                    "Organization acme created"
                ),
                (
                    "User",
                    "Added",
                    owner_id.as_str(),
                    "User ada invited (ada@acme.example)"
                ),
                (
                    "User",
                    "Modified",
                    owner_id.as_str(),
                    "Role Owner assigned to ada"
                ),
            ]
        );
        for r in &rows {
            assert_eq!(&r[2], "CLI");
            assert_eq!(&r[3], "", "the system has no user id");
            assert_eq!(&r[4], "system");
            assert!(r[10].ends_with('Z'));
        }
    }

    // A time range before the organization existed: the header alone.
    let out = rolebook(
        dir.path(),
        &[
            "audit",
            "export",
            "--org",
            "acme",
            "--from",
            "2000-01-01",
            "--to",
            "2000-01-02",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim_end(), HEADER);
    // A range that holds today.
    let out = rolebook(
        dir.path(),
        &[
            "audit",
            "export",
            "--org",
            "acme",
            "--from",
            "2000-01-01T00:00:00Z",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 4);
}

#[test]
fn unknown_organization_and_bad_dates_exit_1_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let created = rolebook(
        dir.path(),
        &[
            "org",
            "create",
            "--name",
            "acme",
            "--owner-email",
            "ada@acme.example",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));

    let cases: [(&[&str], &str); 4] = [
        (
            &["audit", "export", "--org", "nope"],
            "unknown organization \"nope\"",
        ),
        (
            &["audit", "export", "--org", "acme", "--from", "yesterday"],
            "invalid date \"yesterday\" for --from",
        ),
        (
            &["audit", "export", "--org", "acme", "--to", "2026-02-30"],
            "invalid date \"2026-02-30\" for --to",
        ),
        (
            &[
                "audit",
                "export",
                "--org",
                "acme",
                "--from",
                "2026-02-01",
                "--to",
                "2026-01-01",
            ],
            "--from",
        ),
    ];
    for (args, message) in cases {
        let out = rolebook(dir.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
        let err = stderr(&out);
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err}"
        );
        assert!(err.contains(message), "{args:?}: {err}");
    }
}
