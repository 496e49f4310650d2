//! Renaming an organization (`PATCH /settings {name}`) moves its URL
//! handle: the new name resolves at once, the old one answers 404
//! `org_not_found`, the id keeps working, and the name stays unique across
//! organizations (409 `org_exists`). The registry survives a restart of the
//! tools: the replay CLI finds the organization by its new name only.

mod common;

use common::Server;
use reqwest::Method;
use serde_json::json;

const ADMIN: &str = "an-admin-token-of-32-characters!";

#[tokio::test]
async fn renaming_an_organization_moves_its_handle() {
    let s = Server::start_with(&[("ROLEBOOK_ADMIN_TOKEN", ADMIN)]);
    let owner = s.owner().await;
    let org_id = s.get("/settings", &owner).await.expect(200).body["org_id"]
        .as_str()
        .unwrap()
        .to_string();
    // A second organization holds the name "globex".
    s.call(
        Method::POST,
        "/api/v1/orgs",
        Some(ADMIN),
        Some(json!({"name": "globex", "owner_email": "g@globex.example"})),
    )
    .await
    .expect(201);

    // Another organization's name, in any case: 409, nothing changes.
    for taken in ["globex", "GloBex"] {
        s.patch("/settings", &owner, json!({"name": taken}))
            .await
            .problem(409, "org_exists");
    }
    s.get("/settings", &owner).await.expect(200);

    // The rename answers with the new name and position.
    let r = s
        .patch("/settings", &owner, json!({"name": "acme"}))
        .await
        .expect(200);
    assert_eq!(r.body["name"], "acme");
    let position = r.position();

    // At once: the new name resolves (for reads and commands), the old one
    // does not, the id still does.
    let acme = |path: &str| format!("/api/v1/orgs/acme{path}");
    let r = s
        .get(&acme(&format!("/settings?at_least={position}")), &owner)
        .await
        .expect(200);
    assert_eq!(r.body["name"], "acme");
    assert_eq!(r.body["org_id"], org_id.as_str());
    s.get("/settings", &owner)
        .await
        .problem(404, "org_not_found");
    s.post("/groups", &owner, json!({"name": "x", "description": "y"}))
        .await
        .problem(404, "org_not_found");
    s.get("/api/v1/orgs/ACME/settings", &owner)
        .await
        .expect(200);
    s.get(&format!("/api/v1/orgs/{org_id}/settings"), &owner)
        .await
        .expect(200);
    s.post(
        &acme("/groups"),
        &owner,
        json!({"name": "ops", "description": "on call"}),
    )
    .await
    .expect(201);
    // Logging in goes through the new name too.
    let (login, _) = s.owner_login();
    s.call(
        Method::POST,
        &acme("/sessions"),
        None,
        Some(json!({"login": login, "password": common::PASSWORD})),
    )
    .await
    .expect(201);
    s.call(
        Method::POST,
        "/sessions",
        None,
        Some(json!({"login": login, "password": common::PASSWORD})),
    )
    .await
    .problem(404, "org_not_found");

    // A change of case keeps the handle; the old name is free again and a
    // new organization may take it.
    let r = s
        .patch(&acme("/settings"), &owner, json!({"name": "Acme"}))
        .await
        .expect(200);
    assert_eq!(r.body["name"], "Acme");
    s.get(&acme("/settings"), &owner).await.expect(200);
    s.call(
        Method::POST,
        "/api/v1/orgs",
        Some(ADMIN),
        Some(json!({"name": "default", "owner_email": "d@default.example"})),
    )
    .await
    .expect(201);
    s.call(
        Method::POST,
        "/api/v1/orgs",
        Some(ADMIN),
        Some(json!({"name": "acme", "owner_email": "a@acme.example"})),
    )
    .await
    .problem(409, "org_exists");
    // The new "default" is another organization: the token of Acme's
    // owner does not open it.
    let r = s.get("/settings", &owner).await;
    assert!(matches!(r.status, 401 | 403), "{r:?}");

    // A URL change alone does not touch the handle.
    s.patch(
        &acme("/settings"),
        &owner,
        json!({"url": "https://acme.example"}),
    )
    .await
    .expect(200);
    s.get(&acme("/settings"), &owner).await.expect(200);

    // The operator tools read the same registry: the organization is found
    // by its new name.
    let tool = |org: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_rolebook"))
            .envs(s.cli_env())
            .arg("--data-dir")
            .arg(s.dir.path())
            .args(["replay", "verify", "--org", org])
            .output()
            .unwrap()
    };
    let out = tool("acme");
    assert!(out.status.success(), "{out:?}");
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["ok"], true);
    assert!(!tool("no-such-org").status.success());
}
