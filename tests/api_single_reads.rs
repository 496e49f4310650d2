//! `GET /people/{user}`, `/groups/{group}`, `/roles/{role}` and
//! `/projects/{project}`: found (right after the caller's own write, by id
//! and by name), not found (404 with the stable code), not permitted (403
//! naming the permission), another organization (401) or none (404).

mod common;

use common::Server;
use serde_json::json;

const ADMIN_TOKEN: &str = "an-instance-admin-token-for-tests";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_item_reads_find_refuse_and_say_why() {
    let s = Server::start_with(&[("ROLEBOOK_ADMIN_TOKEN", ADMIN_TOKEN)]);
    let owner = s.owner().await;
    let (alice, alice_name, alice_token) = s.member(&owner, "alice@example.com", None).await;
    let group = s
        .post(
            "/groups",
            &owner,
            json!({"name": "builders", "description": "they build", "members": [alice]}),
        )
        .await
        .expect(201);
    let group_id = group.body["group_id"].as_str().unwrap().to_string();
    let project = s
        .post("/projects", &owner, json!({"name": "rocket"}))
        .await
        .expect(201);
    let project_id = project.body["project_id"].as_str().unwrap().to_string();

    // Found, at once after the caller's own writes, by id and by name.
    for path in [
        format!("/groups/{group_id}"),
        "/groups/builders".to_string(),
    ] {
        let r = s.get(&path, &owner).await.expect(200);
        assert_eq!(r.body["name"], "builders", "{path}");
        assert_eq!(r.body["members"][0]["user_id"], alice.as_str(), "{path}");
    }
    for path in [
        format!("/people/{alice}"),
        format!("/people/{alice_name}"),
        "/people/alice@example.com".to_string(),
    ] {
        let r = s.get(&path, &owner).await.expect(200);
        assert_eq!(r.body["user_id"], alice.as_str(), "{path}");
        assert_eq!(r.body["groups"][0]["name"], "builders", "{path}");
        assert_eq!(r.body["role"]["name"], "Member", "{path}");
    }
    let admin = s.get("/roles/Admin", &owner).await.expect(200);
    assert_eq!(admin.body["scope"], "organization");
    let reader = s
        .get("/roles/Reader?scope=project", &owner)
        .await
        .expect(200);
    assert_eq!(reader.body["scope"], "project");
    let by_id = s
        .get(
            &format!("/roles/{}", reader.body["role_id"].as_str().unwrap()),
            &owner,
        )
        .await
        .expect(200);
    assert_eq!(by_id.body["name"], "Reader");
    for path in [
        format!("/projects/{project_id}"),
        "/projects/rocket".to_string(),
    ] {
        let r = s.get(&path, &owner).await.expect(200);
        assert_eq!(r.body["project_id"], project_id.as_str(), "{path}");
    }

    // Not found, each with its code.
    s.get("/groups/nobody", &owner)
        .await
        .problem(404, "group_not_found");
    s.get("/people/nobody@example.com", &owner)
        .await
        .problem(404, "user_not_found");
    s.get("/roles/Nothing", &owner)
        .await
        .problem(404, "role_not_found");
    s.get("/projects/nothing", &owner)
        .await
        .problem(404, "project_not_found");
    s.get("/roles/Admin?scope=everywhere", &owner)
        .await
        .problem(422, "invalid_scope");

    // Not permitted: a Member may see groups and roles, not people, nor a
    // project nobody gave them.
    s.get(&format!("/groups/{group_id}"), &alice_token)
        .await
        .expect(200);
    s.get("/roles/Admin", &alice_token).await.expect(200);
    let r = s
        .get(&format!("/people/{alice}"), &alice_token)
        .await
        .problem(403, "forbidden");
    assert_eq!(r.body["permission"], "organization.people.view");
    let r = s
        .get(&format!("/projects/{project_id}"), &alice_token)
        .await
        .problem(403, "forbidden");
    assert_eq!(r.body["permission"], "project.view");

    // Another organization: this token is not one of its tokens (401);
    // an organization that does not exist: 404.
    s.send(
        s.client
            .post(s.url("/api/v1/orgs"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "other", "owner_email": "boss@other.example"})),
    )
    .await
    .expect(201);
    let other = |path: &str| format!("/api/v1/orgs/other{path}");
    for path in [
        format!("/groups/{group_id}"),
        format!("/people/{alice}"),
        "/roles/Admin".to_string(),
        format!("/projects/{project_id}"),
    ] {
        assert_eq!(s.get(&other(&path), &owner).await.status, 401, "{path}");
        s.get(&format!("/api/v1/orgs/nowhere{path}"), &owner)
            .await
            .problem(404, "org_not_found");
    }
}

/// `GET /people/export.csv`: a header row, then everyone the filters
/// select by username; groups `;`-separated; a cell that would run as a
/// formula starts with `'`; a Member may not export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_export_as_csv() {
    let s = Server::start();
    let owner = s.owner().await;
    let (bob, _, bob_token) = s.member(&owner, "bob@example.com", None).await;
    s.invite(&owner, "carol@example.com", Some("Admin")).await;
    for name in ["=SUM(A1)", "ops"] {
        s.post(
            "/groups",
            &owner,
            json!({"name": name, "description": "g", "members": [bob]}),
        )
        .await
        .expect(201);
    }
    let r = s.get("/people/export.csv", &owner).await.expect(200);
    let ct = r.headers["content-type"].to_str().unwrap();
    assert!(ct.starts_with("text/csv"), "{ct}");
    let mut reader = csv::Reader::from_reader(r.text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["user_id", "username", "email", "kind", "role", "groups", "status"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let emails: Vec<&str> = rows.iter().map(|r| &r[2]).collect();
    assert_eq!(
        emails,
        ["admin@localhost", "bob@example.com", "carol@example.com"],
        "everyone, by username"
    );
    let bob_row = &rows[1];
    assert_eq!(&bob_row[0], bob.as_str());
    assert_eq!(&bob_row[4], "Member");
    assert_eq!(
        &bob_row[5], "'=SUM(A1);ops",
        "formula-like cells are defused"
    );

    let admins = s
        .get("/people/export.csv?role=Admin", &owner)
        .await
        .expect(200);
    let count = csv::Reader::from_reader(admins.text.as_bytes())
        .records()
        .count();
    assert_eq!(count, 1, "the role filter applies: {}", admins.text);

    let r = s
        .get("/people/export.csv", &bob_token)
        .await
        .problem(403, "forbidden");
    assert_eq!(r.body["permission"], "organization.people.view");
}
