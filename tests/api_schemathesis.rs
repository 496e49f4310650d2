//! Generated hostile input (issue 23, part 3): schemathesis (pinned in
//! tests/requirements.txt) against `/api/v1/openapi.json` with an Owner's
//! session token, every operation but logging out: no 5xx, every answer
//! matching the document (status codes, content types, bodies, headers),
//! schema-violating requests refused, requests without the token refused.
//! The configuration and the hooks are in tests/schemathesis/ (why each
//! setting is there is written beside it). A bounded run here
//! (`ROLEBOOK_SCHEMATHESIS_EXAMPLES`, 20 per operation); RELIABILITY.md
//! records longer ones.

mod common;

use common::Server;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing() {
    let python = std::env::var("ROLEBOOK_TEST_PYTHON")
        .expect("ROLEBOOK_TEST_PYTHON: run the tests with scripts/test (it installs schemathesis)");
    let s = Server::start();
    let owner = s.owner().await;
    // Resources the generated requests name (tests/schemathesis/schemathesis.toml).
    let (ada, _) = s.invite(&owner, "ada@example.com", None).await;
    let ada = ada["user_id"].as_str().unwrap().to_string();
    s.post(
        "/groups",
        &owner,
        json!({"name": "ops", "description": "operators", "members": [ada]}),
    )
    .await
    .expect(201);
    s.post("/projects", &owner, json!({"name": "web"}))
        .await
        .expect(201);
    s.post(
        "/roles",
        &owner,
        json!({"name": "Deployer", "scope": "project", "description": "ships", "permissions": ["project.view"]}),
    )
    .await
    .expect(201);
    s.post("/service-accounts", &owner, json!({"name": "deployer"}))
        .await
        .expect(201);

    let examples = std::env::var("ROLEBOOK_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "20".into());
    let seed = std::env::var("ROLEBOOK_SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".into());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    let out = std::process::Command::new(python)
        .current_dir(&dir)
        .env("PYTHONPATH", &dir)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("ROLEBOOK_TOKEN", &owner)
        .env("ROLEBOOK_USER", &ada)
        .args(["-m", "schemathesis.cli", "run", "--no-color"])
        .args(["--max-examples", &examples, "--seed", &seed])
        .args(["--phases", "examples,coverage,fuzzing"])
        .arg(format!("{}/api/v1/openapi.json", s.base))
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.rsplit("SUMMARY").next().unwrap_or(&stdout);
    println!("{summary}");
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It did test the API: most operations were reached.
    let tested: usize = summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(tested >= 50, "only {tested} operations tested:\n{summary}");
}
