//! Every table of the data dir is versioned: each component's migrations
//! are recorded in its file's `schema_version`, and a data dir migrated by
//! a newer rolebook is refused at start with a message that says so,
//! leaving the files as they were.

mod common;

use std::process::Command;

use common::Server;

fn versions(db: &std::path::Path) -> Vec<(String, i64)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT component, version FROM schema_version ORDER BY component")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn serve(dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rolebook"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env_remove("ROLEBOOK_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run rolebook serve")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_component_is_versioned_and_a_newer_data_dir_is_refused() {
    let s = Server::start();
    let owner = s.owner().await;
    s.invite(&owner, "carol@example.com", None).await;
    let stopped = s.stop();
    let dir = stopped.dir.path();

    let events = dir.join("events.db");
    let read_model = dir.join("rolebook.db");
    assert_eq!(versions(&events), [("event_store".to_string(), 3)]);
    let components: Vec<String> = versions(&read_model).into_iter().map(|(c, _)| c).collect();
    for expected in [
        "audit",
        "credentials",
        "projection_checkpoints",
        "rbac",
        "streaming_credentials",
    ] {
        assert!(
            components.iter().any(|c| c == expected),
            "{expected} is versioned: {components:?}"
        );
    }

    for (file, component) in [(&read_model, "credentials"), (&events, "event_store")] {
        let before = versions(file);
        rusqlite::Connection::open(file)
            .unwrap()
            .execute(
                "UPDATE schema_version SET version = 99 WHERE component = ?1",
                [component],
            )
            .unwrap();
        let out = serve(dir);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "a newer {component} is refused: {stderr}"
        );
        let last = stderr.lines().last().unwrap_or("");
        assert!(
            last.starts_with("rolebook: ")
                && last.contains(&format!("the {component} tables are at schema version 99"))
                && last.contains("newer than this rolebook knows"),
            "{stderr}"
        );
        let after: Vec<(String, i64)> = versions(file);
        assert!(
            after.iter().any(|(c, v)| c == component && *v == 99),
            "left as it was: {after:?}"
        );
        // Put it back for the next file.
        rusqlite::Connection::open(file)
            .unwrap()
            .execute(
                "UPDATE schema_version SET version = ?2 WHERE component = ?1",
                rusqlite::params![
                    component,
                    before.iter().find(|(c, _)| c == component).unwrap().1
                ],
            )
            .unwrap();
    }
    // Put back, the data dir serves again.
    let s = stopped.start(&[]);
    let r = s
        .call(
            reqwest::Method::POST,
            "/sessions",
            None,
            Some(serde_json::json!({"login": "admin@localhost", "password": common::PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
}
