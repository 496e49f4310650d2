//! The KurrentDB event store against the shared conformance suite, on the
//! server `KURRENTDB_URL` names (e.g.
//! `KURRENTDB_URL=esdb://127.0.0.1:2113?tls=false cargo test -p
//! rolebook-infra --test kurrentdb_conformance`), each test in a namespace
//! of its own. No KurrentDB server can be installed on the machines this
//! project is built on: without `KURRENTDB_URL` every test here reports
//! itself ignored, which is to say not run (not passed).

use infra::KurrentDbEventStore;

async fn fresh() -> (KurrentDbEventStore, ()) {
    let url = std::env::var("KURRENTDB_URL").expect("KURRENTDB_URL");
    let namespace = format!("conformance-{}", uuid::Uuid::now_v7().simple());
    let store = KurrentDbEventStore::connect(&url, &namespace)
        .await
        .unwrap_or_else(|e| panic!("cannot open a store on {url}: {e:#?}"));
    (store, ())
}

infra::conformance_tests!(fresh, #[cfg_attr(not(kurrentdb), ignore = "not run: KURRENTDB_URL is not set (no KurrentDB server here)")]);

/// A URL that names no server is a clear error after the retries, naming
/// the URL without its password (runs everywhere: nothing listens there).
#[tokio::test]
async fn an_unreachable_server_is_a_one_line_error_without_the_password() {
    let started = std::time::Instant::now();
    let url = "esdb://admin:s3cret@127.0.0.1:1?tls=false";
    let err = match KurrentDbEventStore::connect(url, "nowhere").await {
        Ok(_) => panic!("connected to nothing"),
        Err(e) => e.to_string(),
    };
    assert!(!err.contains("s3cret"), "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}
