//! A server that starts over a log its access model has not read yet
//! (events appended while it was down) holds authenticated requests until
//! the model has caught up with the log as it stood at start: no request is
//! denied, or granted, from an older state of the organization.

mod common;

use common::Server;
use domain::events::OrganizationSettingsChanged;
use domain::ids::OrgId;
use domain::store::{EventStore, ExpectedVersion};
use domain::Event;

/// Events appended while the server is down: enough that reading them at
/// start takes far longer than the first request after it.
const WHILE_DOWN: usize = 30_000;

async fn append_settings_changes(store: &dyn EventStore, org: OrgId, n: usize) {
    let event = Event::OrganizationSettingsChanged(OrganizationSettingsChanged {
        name: None,
        url: Some("https://ci.example".into()),
    });
    let batch = vec![event; 1_000];
    let mut version = store.stream_version(&org.stream()).await.unwrap();
    for _ in 0..n.div_ceil(batch.len()) {
        version = store
            .append(
                &org.stream(),
                ExpectedVersion::Exact(version),
                testkit::envelopes(&batch),
            )
            .await
            .unwrap()
            .stream_version;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_right_after_a_start_wait_for_the_access_model() {
    let s = Server::start();
    let owner = s.owner().await;
    let org: OrgId = s.bootstrap["org_id"].as_str().unwrap().parse().unwrap();
    s.get("/audit-logs?limit=1", &owner).await.expect(200);
    let stopped = s.stop();
    {
        let store = infra::SqliteEventStore::open_in_dir(stopped.dir.path())
            .await
            .unwrap();
        append_settings_changes(&store, org, WHILE_DOWN).await;
    }
    let s = stopped.start(&[]);

    // Until the projections have caught up with the log as it stood at
    // start, the server says so (and is not healthy).
    let starting = s
        .call(reqwest::Method::GET, "/api/v1/health", None, None)
        .await
        .problem(503, "starting");
    let head = starting.body["position"].as_u64().unwrap();
    let behind = ["rbac", "audit"]
        .iter()
        .any(|p| starting.body["projections"][p].as_u64().unwrap() < head);
    assert!(
        behind,
        "starting while a projection is behind: {}",
        starting.body
    );

    // The very first request is answered (not 503 projection_lagging: the
    // model caught up within the bounded wait) and only once the model
    // has read the whole log as it stood at start, which the health route
    // then shows. Without the gate it is answered at once, from the model
    // as of the last checkpoint (here position 5).
    s.get("/audit-logs?limit=1", &owner).await.expect(200);
    let health = loop {
        let health = s
            .call(reqwest::Method::GET, "/api/v1/health", None, None)
            .await;
        if health.code() != "starting" {
            break health.expect(200);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(health.body["status"], "ok");
    let head = health.body["position"].as_u64().unwrap();
    assert!(head as usize > WHILE_DOWN, "{}", health.body);
    assert_eq!(
        health.body["projections"]["rbac"].as_u64(),
        Some(head),
        "{}",
        health.body
    );
}

/// A data dir that cannot be made (under a regular file: even root cannot
/// write there): `serve` stops at once with one line naming the path, and
/// the path stays a file.
#[test]
fn an_unwritable_data_dir_is_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "a file").unwrap();
    let data_dir = file.join("data");
    let out = common::rolebook(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with("rolebook: ") && lines[0].contains(&data_dir.display().to_string()),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "a file");
}
