//! `--event-store-url` through the real binary, where it can run without a
//! KurrentDB server (none can be installed here): a server that cannot be
//! reached is retried, then named in one line without its password, and
//! nothing is written to the data dir's log. The adapter itself is checked
//! by `infra/tests/kurrentdb_conformance.rs` whenever `KURRENTDB_URL` is
//! set.

mod common;

use common::rolebook;

#[test]
fn an_unreachable_kurrentdb_is_named_in_one_line_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = rolebook(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--event-store-url",
        "esdb://admin:s3cret-pw@127.0.0.1:1?tls=false",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("rolebook: ") && last.contains("127.0.0.1:1") && last.contains("***"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
    assert!(
        !dir.path().join("events.db").exists(),
        "nothing of the log is in the data dir"
    );
}

#[test]
fn a_url_that_is_not_kurrentdbs_says_what_one_looks_like() {
    let dir = tempfile::tempdir().unwrap();
    let out = rolebook(&[
        "replay",
        "verify",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--event-store-url",
        "http://127.0.0.1:2113",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("not a KurrentDB URL"), "{stderr}");
}
