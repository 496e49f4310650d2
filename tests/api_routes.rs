//! End to end over HTTP: every route's success case and the error codes
//! API.md lists for it, and each rule of RBAC.md with the audit entry it
//! leaves (checked through `GET /audit-logs`).

mod common;

use common::{Resp, Server};
use serde_json::{json, Value};

/// Asserts the audit entry of a command: who, what, on which resource,
/// and the sentence.
#[track_caller]
fn assert_entry(e: &Value, actor: &str, action: &str, resource_type: &str, name: &str, text: &str) {
    assert_eq!(e["actor"]["username"], actor, "{e:#}");
    assert_eq!(e["action"], action, "{e:#}");
    assert_eq!(e["resource_type"], resource_type, "{e:#}");
    assert_eq!(e["resource_name"], name, "{e:#}");
    assert_eq!(e["description"], text, "{e:#}");
    assert_eq!(e["medium"], "API", "{e:#}");
    assert_eq!(e["ip"], "127.0.0.1", "{e:#}");
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v[key].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The member entry of `subject` in a members list.
fn member<'a>(members: &'a Value, subject: &str) -> &'a Value {
    members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["subject"] == subject)
        .unwrap_or_else(|| panic!("{subject} not among {members:#}"))
}

/// `(role name, via)` of a member's roles, sorted.
fn roles_of(m: &Value) -> Vec<(String, String)> {
    let mut r: Vec<(String, String)> = m["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["role"]["name"].as_str().unwrap().to_string(),
                r["source"]["via"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    r.sort();
    r
}

#[tokio::test]
async fn people_routes_and_their_errors() {
    let s = Server::start();
    let owner = s.owner().await;
    let (alice_id, _, alice) = s.member(&owner, "alice@example.com", None).await;

    // Invitation errors: all or nothing.
    let head = s.head().await;
    let r = s
        .post(
            "/people",
            &owner,
            json!({"people": [{"email": "ok@example.com"}, {"email": "not-an-email"}]}),
        )
        .await
        .problem(422, "invalid_email");
    assert!(r.body["errors"].is_array());
    s.post(
        "/people",
        &owner,
        json!({"people": [{"email": "ALICE@example.com"}]}),
    )
    .await
    .problem(409, "email_taken");
    s.post(
        "/people",
        &owner,
        json!({"people": [{"email": "other@example.com", "username": "alice"}]}),
    )
    .await
    .problem(409, "username_taken");
    assert_eq!(s.head().await, head, "a refused invitation appends nothing");
    s.post(
        "/people",
        &alice,
        json!({"people": [{"email": "x@example.com"}]}),
    )
    .await
    .problem(403, "forbidden");

    // Invite with a role; list and filter.
    let r = s
        .post(
            "/people",
            &owner,
            json!({"people": [{"email": "bob@example.com"}, {"email": "carol@example.com", "username": "carol"}], "role": "Admin"}),
        )
        .await
        .expect(201);
    let position = r.position();
    assert_eq!(names(&r.body["created"], "username"), ["bob", "carol"]);
    let r = s
        .get(&format!("/people?role=Admin&at_least={position}"), &owner)
        .await
        .expect(200);
    assert_eq!(names(&r.body["people"], "username"), ["bob", "carol"]);
    assert_eq!(r.body["people"][0]["role"]["name"], "Admin");
    let r = s.get("/people?q=ALI", &owner).await.expect(200);
    assert_eq!(names(&r.body["people"], "user_id"), [alice_id.as_str()]);
    s.get("/people", &alice).await.problem(403, "forbidden");

    // Organization roles.
    s.put("/people/alice/role", &owner, json!({"role": "Nope"}))
        .await
        .problem(404, "role_not_found");
    s.put("/people/alice/role", &owner, json!({"role": "Reader"}))
        .await
        .problem(422, "role_scope_mismatch");
    s.put("/people/admin/role", &owner, json!({"role": "Member"}))
        .await
        .problem(409, "last_owner");
    s.put("/people/alice/role", &alice, json!({"role": "Admin"}))
        .await
        .problem(403, "forbidden");
    let r = s
        .put(
            &format!("/people/{alice_id}/role"),
            &owner,
            json!({"role": "Admin"}),
        )
        .await
        .expect(200);
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "admin",
        "Modified",
        "User",
        "alice",
        "Role Admin assigned to alice",
    );
    assert_eq!(e["resource_id"], alice_id.as_str());

    let r = s.delete("/people/alice/role", &owner).await.expect(200);
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "admin",
        "Modified",
        "User",
        "alice",
        "Role Admin retracted from alice",
    );
    let r = s
        .delete("/people/alice/role", &owner)
        .await
        .problem(409, "not_directly_assigned");
    assert_eq!(r.body["sources"], json!([]));

    // Password reset: one's own, or with people.manage.
    let r = s
        .post("/people/alice/password-reset", &alice, json!({}))
        .await
        .expect(201);
    assert_eq!(
        r.body["temporary_password"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        20
    );
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "alice",
        "Modified",
        "User",
        "alice",
        "Password of alice reset",
    );
    let r = s
        .post("/people/bob/password-reset", &owner, json!({}))
        .await
        .expect(201);
    r.position();

    // Effective permissions: one's own, others' with people.view.
    let r = s.get("/people/admin/permissions", &owner).await.expect(200);
    assert_eq!(r.body["permissions"].as_array().unwrap().len(), 37);

    // Removal.
    s.delete("/people/ghost", &owner)
        .await
        .problem(404, "user_not_found");
    s.delete("/people/admin", &owner)
        .await
        .problem(409, "last_owner");
    let r = s.delete("/people/carol", &owner).await.expect(204);
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "admin",
        "Removed",
        "User",
        "carol",
        "User carol removed",
    );
}

#[tokio::test]
async fn groups_routes_and_their_errors() {
    let s = Server::start();
    let owner = s.owner().await;
    let (alice_id, _, _) = s.member(&owner, "alice@example.com", None).await;
    let (bob_id, _, bob) = s.member(&owner, "bob@example.com", None).await;

    // Groups: create, change and delete need organization.people.manage.
    let r = s
        .post(
            "/groups",
            &bob,
            json!({"name": "devs", "description": "Developers"}),
        )
        .await
        .problem(403, "forbidden");
    assert_eq!(r.body["permission"], "organization.people.manage");

    let r = s
        .post(
            "/groups",
            &owner,
            json!({"name": "devs", "description": "Developers", "members": ["alice"]}),
        )
        .await
        .expect(201);
    let devs = r.body["group_id"].as_str().unwrap().to_string();
    assert_eq!(r.body["role"]["name"], "Member");
    assert_eq!(r.body["members"][0]["user_id"], alice_id.as_str());
    let position = r.position();
    let e = s.audit_at(&owner, position).await;
    assert_entry(
        &e,
        "admin",
        "Added",
        "Group",
        "devs",
        "Group devs created with 1 member",
    );
    assert_eq!(e["resource_id"], devs.as_str());

    s.post(
        "/groups",
        &owner,
        json!({"name": "DEVS", "description": "again"}),
    )
    .await
    .problem(409, "group_name_taken");
    s.post(
        "/groups",
        &owner,
        json!({"name": "ops", "description": "Ops", "members": ["nobody"]}),
    )
    .await
    .problem(404, "user_not_found");
    s.post("/groups", &owner, json!({"name": "ops", "description": ""}))
        .await
        .problem(422, "empty");

    // Anyone with groups.view lists them (Member has it).
    let r = s
        .get(&format!("/groups?at_least={position}"), &bob)
        .await
        .expect(200);
    assert_eq!(names(&r.body["groups"], "name"), ["devs"]);
    assert_eq!(r.body["groups"][0]["description"], "Developers");

    // Change: members and description.
    s.patch("/groups/devs", &owner, json!({"add_members": ["ghost"]}))
        .await
        .problem(404, "user_not_found");
    s.patch("/groups/nope", &owner, json!({"description": "x"}))
        .await
        .problem(404, "group_not_found");
    let r = s
        .patch(
            &format!("/groups/{devs}"),
            &owner,
            json!({"add_members": ["bob@example.com"], "description": "All developers"}),
        )
        .await
        .expect(200);
    let mut members = names(&r.body["members"], "user_id");
    members.sort();
    let mut expected = vec![alice_id.clone(), bob_id.clone()];
    expected.sort();
    assert_eq!(members, expected);
    let events = s
        .audit(&owner, r.position(), "resource_type=Group&action=Modified")
        .await;
    let texts: Vec<&str> = events
        .iter()
        .map(|e| e["description"].as_str().unwrap())
        .collect();
    assert!(
        texts.contains(&"Description of group devs changed"),
        "{texts:?}"
    );
    assert!(texts.contains(&"User bob added to group devs"), "{texts:?}");

    // Role.
    s.put("/groups/devs/role", &owner, json!({"role": "Nope"}))
        .await
        .problem(404, "role_not_found");
    s.put("/groups/devs/role", &owner, json!({"role": "Contributor"}))
        .await
        .problem(422, "role_scope_mismatch");
    let r = s
        .put("/groups/devs/role", &owner, json!({"role": "Admin"}))
        .await
        .expect(200);
    assert_eq!(r.body["role"]["name"], "Admin");
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "admin",
        "Modified",
        "Group",
        "devs",
        "Role Admin assigned to group devs",
    );
    // Bob now holds Admin through the group.
    let r = s
        .get(
            &format!(
                "/check?user=bob&permission=organization.people.manage&at_least={}",
                r.position()
            ),
            &owner,
        )
        .await
        .expect(200);
    assert_eq!(r.body["allowed"], true);
    assert_eq!(r.body["sources"][0]["via"], "group");
    assert_eq!(r.body["sources"][0]["group"]["name"], "devs");

    // Rename, then delete.
    let r = s
        .patch(
            "/groups/devs",
            &owner,
            json!({"name": "engineers", "remove_members": ["alice"]}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["name"], "engineers");
    assert_eq!(names(&r.body["members"], "user_id"), [bob_id.as_str()]);
    let r = s.delete("/groups/engineers", &owner).await.expect(204);
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "admin",
        "Removed",
        "Group",
        "engineers",
        "Group engineers deleted",
    );
    let r = s
        .get(&format!("/groups?at_least={}", r.position()), &owner)
        .await
        .expect(200);
    assert_eq!(r.body["groups"], json!([]));
    let r = s
        .get(
            "/check?user=bob&permission=organization.people.manage",
            &owner,
        )
        .await
        .expect(200);
    assert_eq!(r.body["allowed"], false);
}

#[tokio::test]
async fn roles_permissions_and_their_errors() {
    let s = Server::start();
    let owner = s.owner().await;
    let (_, _, alice) = s.member(&owner, "alice@example.com", Some("Admin")).await;
    let (_, _, bob) = s.member(&owner, "bob@example.com", None).await;

    // The catalog and the roles need a valid token only.
    let r = s.get("/permissions", &bob).await.expect(200);
    assert_eq!(r.body.as_array().unwrap().len(), 68);
    assert!(r.body[0]["description"].is_string());
    let r = s.get("/permissions?scope=project", &bob).await.expect(200);
    assert_eq!(r.body.as_array().unwrap().len(), 31);
    assert!(names(&r.body, "scope").iter().all(|s| s == "project"));
    s.get("/permissions?scope=galaxy", &bob)
        .await
        .problem(422, "invalid_scope");
    s.call(reqwest::Method::GET, "/permissions", None, None)
        .await
        .problem(401, "unauthorized");
    let r = s.get("/roles", &bob).await.expect(200);
    assert_eq!(
        names(&r.body, "name"),
        ["Owner", "Admin", "Member", "Admin", "Contributor", "Reader"]
    );
    assert!(r.body[0]["predefined"].as_bool().unwrap());
    assert_eq!(r.body[0]["permissions"].as_array().unwrap().len(), 37);
    let r = s.get("/roles?scope=project", &bob).await.expect(200);
    assert_eq!(names(&r.body, "name"), ["Admin", "Contributor", "Reader"]);

    // Custom roles need organization.custom_roles.manage (Admin lacks it).
    let auditor = json!({
        "name": "Auditor",
        "scope": "organization",
        "description": "Reads the audit log",
        "permissions": ["organization.audit_logs.view"],
    });
    let r = s
        .post("/roles", &alice, auditor.clone())
        .await
        .problem(403, "forbidden");
    assert_eq!(r.body["permission"], "organization.custom_roles.manage");
    let r = s.post("/roles", &owner, auditor.clone()).await.expect(201);
    let auditor_id = r.body["role_id"].as_str().unwrap().to_string();
    assert_eq!(r.body["predefined"], false);
    let mut perms: Vec<String> = r.body["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    perms.sort();
    assert_eq!(perms, ["organization.audit_logs.view", "organization.view"]);
    let e = s.audit_at(&owner, r.position()).await;
    assert_eq!(e["resource_type"], "Role");
    assert_eq!(e["action"], "Added");
    assert_eq!(e["resource_name"], "Auditor");
    assert_eq!(e["actor"]["username"], "admin");
    assert!(
        e["description"].as_str().unwrap().contains("Auditor"),
        "{e:#}"
    );

    s.post("/roles", &owner, auditor.clone())
        .await
        .problem(409, "role_name_taken");
    s.post(
        "/roles",
        &owner,
        json!({"name": "X", "scope": "organization", "description": "", "permissions": ["organization.teleport"]}),
    )
    .await
    .problem(422, "unknown_permission");
    s.post(
        "/roles",
        &owner,
        json!({"name": "X", "scope": "organization", "description": "", "permissions": ["project.view"]}),
    )
    .await
    .problem(422, "role_scope_mismatch");
    // A project role of the same name is another role.
    let r = s
        .post(
            "/roles",
            &owner,
            json!({"name": "Auditor", "scope": "project", "description": "", "permissions": ["project.insights.view"]}),
        )
        .await
        .expect(201);
    let project_auditor = r.body["role_id"].as_str().unwrap().to_string();

    // Change: by name (organization scope by default, or ?scope=).
    let r = s
        .put(
            "/roles/Auditor",
            &owner,
            json!({"name": "Auditor", "scope": "organization", "description": "Audits", "permissions": ["organization.audit_logs.view", "organization.audit_logs.manage"]}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["role_id"], auditor_id.as_str());
    assert_eq!(r.body["permissions"].as_array().unwrap().len(), 3);
    let r = s
        .put(
            "/roles/Auditor?scope=project",
            &owner,
            json!({"name": "Auditor", "scope": "project", "description": "Project audits", "permissions": []}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["role_id"], project_auditor.as_str());
    s.put("/roles/Owner", &owner, auditor.clone())
        .await
        .problem(409, "role_is_predefined");
    s.put("/roles/Nope", &owner, auditor.clone())
        .await
        .problem(404, "role_not_found");

    // Delete: not predefined, not in use.
    s.delete("/roles/Owner", &owner)
        .await
        .problem(409, "role_is_predefined");
    s.put("/people/bob/role", &owner, json!({"role": "Auditor"}))
        .await
        .expect(200);
    let r = s
        .delete("/roles/Auditor", &owner)
        .await
        .problem(409, "role_in_use");
    assert!(r.body["uses"].is_array(), "{r:?}");
    s.put("/people/bob/role", &owner, json!({"role": "Member"}))
        .await
        .expect(200);
    let r = s
        .delete(&format!("/roles/{auditor_id}"), &owner)
        .await
        .expect(204);
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "admin",
        "Removed",
        "Role",
        "Auditor",
        "Role Auditor deleted",
    );
    let r = s
        .delete("/roles/Auditor?scope=project", &owner)
        .await
        .expect(204);
    let r = s
        .get(&format!("/roles?at_least={}", r.position()), &bob)
        .await
        .expect(200);
    assert_eq!(r.body.as_array().unwrap().len(), 6);

    // An organization role may grant a project role on every project.
    let r = s
        .post(
            "/roles",
            &owner,
            json!({"name": "Deployer", "scope": "organization", "description": "", "permissions": [], "project_role": "Contributor"}),
        )
        .await
        .expect(201);
    assert_eq!(r.body["project_role"]["name"], "Contributor");
    s.post("/projects", &owner, json!({"name": "web"}))
        .await
        .expect(201);
    let r = s
        .put("/people/bob/role", &owner, json!({"role": "Deployer"}))
        .await
        .expect(200);
    let r = s
        .get(
            &format!(
                "/check?user=bob&permission=project.job.rerun&project=web&at_least={}",
                r.position()
            ),
            &owner,
        )
        .await
        .expect(200);
    assert_eq!(r.body["allowed"], true);
    assert_eq!(r.body["sources"][0]["via"], "organization_role");
    assert_eq!(
        r.body["sources"][0]["organization_role"]["name"],
        "Deployer"
    );
    assert_eq!(r.body["sources"][0]["role"]["name"], "Contributor");
    // A project role granted that way is in use.
    let r = s
        .post(
            "/roles",
            &owner,
            json!({"name": "Runner", "scope": "project", "description": "", "permissions": ["project.job.rerun"]}),
        )
        .await
        .expect(201);
    let runner = r.body["role_id"].as_str().unwrap().to_string();
    s.put(
        "/roles/Deployer",
        &owner,
        json!({"name": "Deployer", "scope": "organization", "description": "", "permissions": [], "project_role": runner}),
    )
    .await
    .expect(200);
    s.delete("/roles/Runner?scope=project", &owner)
        .await
        .problem(409, "role_in_use");

    // Inheritance, without cycles; an inherited role is in use.
    s.post(
        "/roles",
        &owner,
        json!({"name": "Base", "scope": "organization", "description": "", "permissions": ["organization.dashboards.view"]}),
    )
    .await
    .expect(201);
    let r = s
        .post(
            "/roles",
            &owner,
            json!({"name": "Derived", "scope": "organization", "description": "", "permissions": [], "inherits": ["Base"]}),
        )
        .await
        .expect(201);
    assert_eq!(r.body["inherits"][0]["name"], "Base");
    assert!(r.body["effective_permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("organization.dashboards.view")));
    s.delete("/roles/Base", &owner)
        .await
        .problem(409, "role_in_use");
    s.put(
        "/roles/Base",
        &owner,
        json!({"name": "Base", "scope": "organization", "description": "", "permissions": [], "inherits": ["Derived"]}),
    )
    .await
    .problem(409, "role_inheritance_cycle");
    s.post(
        "/roles",
        &owner,
        json!({"name": "Odd", "scope": "organization", "description": "", "permissions": [], "inherits": ["Reader"]}),
    )
    .await
    .problem(422, "role_scope_mismatch");
}

#[tokio::test]
async fn projects_members_and_their_errors() {
    let s = Server::start();
    let owner = s.owner().await;
    let (alice_id, _, alice) = s.member(&owner, "alice@example.com", None).await;
    let (bob_id, _, bob) = s.member(&owner, "bob@example.com", None).await;
    let (created, _) = s.invite(&owner, "carol@example.com", None).await;
    let carol_id = created["user_id"].as_str().unwrap().to_string();
    let r = s
        .post(
            "/groups",
            &owner,
            json!({"name": "devs", "description": "Developers", "members": ["bob"]}),
        )
        .await
        .expect(201);
    let devs = r.body["group_id"].as_str().unwrap().to_string();

    // Create (the owner is the caller by default).
    let r = s
        .post("/projects", &owner, json!({"name": "web"}))
        .await
        .expect(201);
    let web = r.body["project_id"].as_str().unwrap().to_string();
    assert_eq!(r.body["owner"]["username"], "admin");
    let e = s.audit_at(&owner, r.position() - 1).await;
    assert_entry(
        &e,
        "admin",
        "Added",
        "Project",
        "web",
        "Project web created, owned by admin",
    );
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "admin",
        "Modified",
        "Project",
        "web",
        "Role Admin assigned to admin on project web",
    );
    s.post("/projects", &owner, json!({"name": "WEB"}))
        .await
        .problem(409, "project_name_taken");
    let r = s
        .post(
            "/projects",
            &alice,
            json!({"name": "api", "owner": "alice"}),
        )
        .await
        .expect(201);
    assert_eq!(r.body["owner"]["user_id"], alice_id.as_str());

    // Lists: the projects one may view.
    let r = s
        .get(&format!("/projects?at_least={}", r.position()), &owner)
        .await
        .expect(200);
    assert_eq!(names(&r.body, "name"), ["api", "web"]);
    let r = s.get("/projects", &bob).await.expect(200);
    assert_eq!(r.body, json!([]));

    // Direct bindings need project.access.manage on the project.
    let r = s
        .put(
            "/projects/web/members/alice",
            &bob,
            json!({"role": "Reader"}),
        )
        .await
        .problem(403, "forbidden");
    assert_eq!(r.body["permission"], "project.access.manage");
    let r = s
        .put(
            "/projects/web/members/alice",
            &owner,
            json!({"role": "Contributor"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["role"]["name"], "Contributor");
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "admin",
        "Modified",
        "Project",
        "web",
        "Role Contributor assigned to alice on project web",
    );
    // One direct binding per subject: assigning again replaces it.
    let r = s
        .put(
            "/projects/web/members/alice",
            &owner,
            json!({"role": "Reader"}),
        )
        .await
        .expect(200);
    let r = s
        .get(
            &format!("/projects/web/members?at_least={}", r.position()),
            &owner,
        )
        .await
        .expect(200);
    assert_eq!(
        roles_of(member(&r.body, &format!("user:{alice_id}"))),
        [("Reader".to_string(), "direct".to_string())]
    );
    s.put(
        "/projects/web/members/alice",
        &owner,
        json!({"role": "Contributor"}),
    )
    .await
    .expect(200);
    s.put(
        "/projects/web/members/alice",
        &owner,
        json!({"role": "Member"}),
    )
    .await
    .problem(422, "role_scope_mismatch");
    s.put(
        "/projects/web/members/ghost",
        &owner,
        json!({"role": "Reader"}),
    )
    .await
    .problem(404, "user_not_found");
    s.put(
        "/projects/nope/members/alice",
        &owner,
        json!({"role": "Reader"}),
    )
    .await
    .problem(404, "project_not_found");
    let r = s
        .put(
            &format!("/projects/web/members/group:{devs}"),
            &owner,
            json!({"role": "Reader"}),
        )
        .await
        .expect(200);
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "admin",
        "Modified",
        "Project",
        "web",
        "Role Reader assigned to group devs on project web",
    );

    // Repository access (only counts for users with an organization role).
    s.put(
        "/projects/web/repository-access/carol",
        &owner,
        json!({"access": "root"}),
    )
    .await
    .problem(422, "invalid_access");
    let r = s
        .put(
            "/projects/web/repository-access/carol",
            &owner,
            json!({"access": "write"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["access"], "write");
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "admin",
        "Modified",
        "Project",
        "web",
        "Repository access write granted to carol on project web",
    );

    // Members from every source.
    let r = s
        .get(
            &format!("/projects/{web}/members?at_least={}", r.position()),
            &owner,
        )
        .await
        .expect(200);
    let m = &r.body;
    assert_eq!(
        roles_of(member(m, &format!("user:{alice_id}"))),
        [("Contributor".to_string(), "direct".to_string())]
    );
    assert_eq!(
        roles_of(member(m, &format!("user:{bob_id}"))),
        [("Reader".to_string(), "group".to_string())]
    );
    assert_eq!(
        member(m, &format!("user:{bob_id}"))["roles"][0]["source"]["group"]["name"],
        "devs"
    );
    assert_eq!(
        roles_of(member(m, &format!("user:{carol_id}"))),
        [("Contributor".to_string(), "repository".to_string())]
    );
    let admin_id = s.bootstrap["owner"]["user_id"].as_str().unwrap();
    assert_eq!(
        roles_of(member(m, &format!("user:{admin_id}"))),
        [
            ("Admin".to_string(), "direct".to_string()),
            ("Admin".to_string(), "organization_role".to_string())
        ]
    );
    assert_eq!(
        roles_of(member(m, &format!("group:{devs}"))),
        [("Reader".to_string(), "direct".to_string())]
    );
    // The access queries see the same sources.
    let r = s
        .get("/who-can?permission=project.view&project=web", &owner)
        .await
        .expect(200);
    let mut who = names(&r.body["users"], "username");
    who.sort();
    assert_eq!(who, ["admin", "alice", "bob", "carol"]);
    let r = s
        .post(
            "/check",
            &owner,
            json!({"checks": [
                {"user": "bob", "permission": "project.view", "project": "web"},
                {"user": "bob", "permission": "project.access.manage", "project": "web"},
                {"user": "carol", "permission": "project.job.rerun", "project": "web"},
            ]}),
        )
        .await
        .expect(200);
    assert_eq!(
        r.body["results"],
        json!([{"allowed": true}, {"allowed": false}, {"allowed": true}])
    );
    let r = s
        .get("/people/carol/permissions?project=web", &owner)
        .await
        .expect(200);
    let granted = r.body["permissions"].as_array().unwrap();
    assert_eq!(granted.len(), 29, "Contributor's permissions");
    assert_eq!(granted[0]["sources"][0]["via"], "repository");
    assert_eq!(granted[0]["sources"][0]["access"], "write");

    // Members need project.access.view; bob (Reader via devs) has it.
    s.get("/projects/web/members", &bob).await.expect(200);
    s.get("/projects/api/members", &bob)
        .await
        .problem(403, "forbidden");
    let r = s.get("/projects", &bob).await.expect(200);
    assert_eq!(names(&r.body, "name"), ["web"]);

    // Only direct bindings are retracted; the error names the real sources.
    let head = s.head().await;
    let r = s
        .delete("/projects/web/members/bob", &owner)
        .await
        .problem(409, "not_directly_assigned");
    assert_eq!(r.body["sources"][0]["via"], "group", "{r:?}");
    assert_eq!(r.body["sources"][0]["group"], devs.as_str(), "{r:?}");
    s.delete("/projects/web/members/carol", &owner)
        .await
        .problem(409, "not_directly_assigned");
    assert_eq!(s.head().await, head, "refusals append nothing");
    let r = s
        .delete(&format!("/projects/web/members/user:{alice_id}"), &owner)
        .await
        .expect(200);
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "admin",
        "Modified",
        "Project",
        "web",
        "Role Contributor retracted from alice on project web",
    );

    // Repository role mapping.
    let r = s
        .get("/projects/web/repository-role-mapping", &owner)
        .await
        .expect(200);
    assert_eq!(
        (
            &r.body["admin"]["name"],
            &r.body["write"]["name"],
            &r.body["read"]["name"]
        ),
        (
            &json!("Contributor"),
            &json!("Contributor"),
            &json!("Reader")
        )
    );
    s.put(
        "/projects/web/repository-role-mapping",
        &owner,
        json!({"admin": "Member", "write": "Contributor", "read": "Reader"}),
    )
    .await
    .problem(422, "role_scope_mismatch");
    let r = s
        .put(
            "/projects/web/repository-role-mapping",
            &owner,
            json!({"admin": "Admin", "write": "Contributor", "read": "Reader"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["admin"]["name"], "Admin");
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "admin",
        "Modified",
        "Project",
        "web",
        "Repository role mapping of project web set to admin: Admin, write: Contributor, read: Reader",
    );
    s.put(
        "/projects/web/repository-access/carol",
        &owner,
        json!({"access": "none"}),
    )
    .await
    .expect(200);

    // Ownership: to a member; by the owner or with people.manage.
    let r = s
        .put("/projects/web/owner", &bob, json!({"user": "bob"}))
        .await
        .problem(403, "forbidden");
    assert_eq!(r.body["permission"], "organization.people.manage");
    s.put("/projects/web/owner", &owner, json!({"user": "ghost"}))
        .await
        .problem(404, "user_not_found");
    let r = s
        .put("/projects/web/owner", &owner, json!({"user": "alice"}))
        .await
        .expect(200);
    assert_eq!(r.body["owner"]["username"], "alice");
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "admin",
        "Modified",
        "Project",
        "web",
        "Project web transferred from admin to alice",
    );

    // A user who owns projects is not removed; the error lists them.
    let r = s
        .delete("/people/alice", &owner)
        .await
        .problem(409, "user_owns_projects");
    let mut owned = names(&r.body["projects"], "name");
    owned.sort();
    assert_eq!(owned, ["api", "web"]);

    // Once removed, a user id is no member: no project role, no ownership.
    let r = s
        .delete(&format!("/people/{carol_id}"), &owner)
        .await
        .expect(204);
    r.position();
    s.put(
        &format!("/projects/web/members/user:{carol_id}"),
        &owner,
        json!({"role": "Reader"}),
    )
    .await
    .problem(422, "not_a_member");
    s.put("/projects/web/owner", &owner, json!({"user": carol_id}))
        .await
        .problem(422, "not_a_member");

    // Delete needs project.delete on it.
    s.delete("/projects/web", &bob)
        .await
        .problem(403, "forbidden");
    let r = s.delete("/projects/web", &owner).await.expect(204);
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "admin",
        "Removed",
        "Project",
        "web",
        "Project web deleted",
    );
    s.delete("/projects/web", &owner)
        .await
        .problem(404, "project_not_found");
    let r = s
        .get(&format!("/projects?at_least={}", r.position()), &owner)
        .await
        .expect(200);
    assert_eq!(names(&r.body, "name"), ["api"]);
}

/// RBAC.md's rules, each through HTTP: refused without appending anything,
/// or accepted with the audit entry it describes.
#[tokio::test]
async fn rbac_rules_through_http() {
    let s = Server::start();
    let owner = s.owner().await;
    let (_, _, alice) = s.member(&owner, "alice@example.com", Some("Admin")).await;
    let (_, _, bob) = s.member(&owner, "bob@example.com", None).await;
    let head = s.head().await;
    let refused = |r: Resp, permission: &str| {
        let r = r.problem(403, "forbidden");
        assert_eq!(r.body["permission"], permission, "{r:?}");
    };

    // Changing anyone's organization role needs people.manage; assigning
    // Owner, or changing an Owner, needs change_owner.
    refused(
        s.put("/people/alice/role", &bob, json!({"role": "Member"}))
            .await,
        "organization.people.manage",
    );
    refused(
        s.put("/people/bob/role", &alice, json!({"role": "Owner"}))
            .await,
        "organization.change_owner",
    );
    refused(
        s.put("/people/admin/role", &alice, json!({"role": "Member"}))
            .await,
        "organization.change_owner",
    );
    // Inviting needs people.invite.
    refused(
        s.post(
            "/people",
            &bob,
            json!({"people": [{"email": "x@example.com"}]}),
        )
        .await,
        "organization.people.invite",
    );
    // Resetting someone else's password needs people.manage.
    refused(
        s.post("/people/alice/password-reset", &bob, json!({}))
            .await,
        "organization.people.manage",
    );
    // Custom roles need custom_roles.manage.
    refused(
        s.post(
            "/roles",
            &alice,
            json!({"name": "R", "scope": "project", "description": "", "permissions": []}),
        )
        .await,
        "organization.custom_roles.manage",
    );
    // Settings need general_settings.manage.
    refused(
        s.patch("/settings", &bob, json!({"url": "https://example.com"}))
            .await,
        "organization.general_settings.manage",
    );
    // The audit log needs audit_logs.view.
    refused(
        s.get("/audit-logs", &bob).await,
        "organization.audit_logs.view",
    );
    // The last Owner stays.
    s.delete("/people/admin/role", &owner)
        .await
        .problem(409, "last_owner");
    assert_eq!(s.head().await, head, "refusals append nothing");

    // No escalation: an Admin cannot grant a role with permissions they lack.
    let r = s
        .post(
            "/roles",
            &owner,
            json!({"name": "Role maker", "scope": "organization", "description": "", "permissions": ["organization.custom_roles.manage"]}),
        )
        .await
        .expect(201);
    let head = r.position();
    let r = s
        .put("/people/bob/role", &alice, json!({"role": "Role maker"}))
        .await
        .problem(403, "role_escalation");
    assert_eq!(
        r.body["missing"],
        json!(["organization.custom_roles.manage"])
    );
    assert_eq!(s.head().await, head);
    // An Owner can; the entry names actor, resource and role.
    let r = s
        .put("/people/bob/role", &owner, json!({"role": "Role maker"}))
        .await
        .expect(200);
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "admin",
        "Modified",
        "User",
        "bob",
        "Role Role maker assigned to bob",
    );
    // Admin alice hands Owner over? No; the Owner does, then steps down.
    let r = s
        .put("/people/alice/role", &owner, json!({"role": "Owner"}))
        .await
        .expect(200);
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "admin",
        "Modified",
        "User",
        "alice",
        "Role Owner assigned to alice",
    );
    let r = s
        .put("/people/admin/role", &alice, json!({"role": "Member"}))
        .await
        .expect(200);
    let e = s.audit_at(&alice, r.position()).await;
    assert_entry(
        &e,
        "alice",
        "Modified",
        "User",
        "admin",
        "Role Member assigned to admin",
    );

    // Settings: the new name shows, the entry says what changed.
    let r = s
        .patch(
            "/settings",
            &alice,
            json!({"url": "https://ci.example.com"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["url"], "https://ci.example.com");
    let e = s.audit_at(&alice, r.position()).await;
    assert_entry(
        &e,
        "alice",
        "Modified",
        "Settings",
        "default",
        "URL of organization default set to https://ci.example.com",
    );
    let r = s
        .get(&format!("/settings?at_least={}", r.position()), &bob)
        .await
        .expect(200);
    assert_eq!(r.body["name"], "default");
    assert_eq!(r.body["url"], "https://ci.example.com");
    s.patch("/settings", &alice, json!({"name": "not a valid name"}))
        .await
        .problem(422, "invalid_name");
    // A new name shows in the settings and becomes the organization's
    // handle (tests/api_org_rename.rs); the id keeps working.
    let r = s
        .patch("/settings", &alice, json!({"name": "acme"}))
        .await
        .expect(200);
    assert_eq!(r.body["name"], "acme");
    let position = r.position();
    let log = s
        .get(
            &format!("/api/v1/orgs/acme/audit-logs?at_least={position}&limit=1000"),
            &alice,
        )
        .await
        .expect(200);
    let e = log.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["position"] == position)
        .unwrap()
        .clone();
    assert_entry(
        &e,
        "alice",
        "Modified",
        "Settings",
        "acme",
        "Organization default renamed to acme",
    );
    let org_id = r.body["org_id"].as_str().unwrap().to_string();
    let r = s
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/orgs/{org_id}/settings?at_least={}", r.position()),
            Some(&bob),
            None,
        )
        .await
        .expect(200);
    assert_eq!(r.body["name"], "acme");
    s.get("/settings", &bob).await.problem(404, "org_not_found");
    s.get("/api/v1/orgs/acme/settings", &bob).await.expect(200);
}

#[tokio::test]
async fn audit_log_filters_paging_and_streaming() {
    let s = Server::start();
    let owner = s.owner().await;
    let owner_id = s.bootstrap["owner"]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (alice_id, _, alice) = s.member(&owner, "alice@example.com", None).await;
    let mut last = 0;
    for i in 0..5 {
        let r = s
            .post(
                "/groups",
                &owner,
                json!({"name": format!("g{i}"), "description": "d"}),
            )
            .await
            .expect(201);
        last = r.position();
    }

    let all = s.audit(&owner, last, "").await;
    let positions: Vec<u64> = all
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    let mut sorted = positions.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(positions, sorted, "newest first");
    assert_eq!(positions[0], last);
    for key in [
        "position",
        "occurred_at",
        "actor",
        "action",
        "resource_type",
        "resource_id",
        "resource_name",
        "description",
        "ip",
        "user_agent",
        "metadata",
    ] {
        assert!(all[0].get(key).is_some(), "{key} missing: {:#}", all[0]);
    }
    assert_eq!(all[0]["metadata"]["event_type"], "GroupCreated");

    // Filters.
    let groups = s
        .audit(&owner, last, "resource_type=Group&action=Added")
        .await;
    assert_eq!(groups.len(), 5);
    let by_alice = s.audit(&owner, last, &format!("actor={alice_id}")).await;
    assert!(by_alice
        .iter()
        .all(|e| e["actor"]["user_id"] == alice_id.as_str()));
    assert_eq!(by_alice.len(), 1, "her password change: {by_alice:#?}");
    let by_admin = s.audit(&owner, last, "actor=admin").await;
    assert!(by_admin
        .iter()
        .all(|e| e["actor"]["user_id"] == owner_id.as_str()));
    let about_alice = s
        .audit(&owner, last, &format!("resource_id={alice_id}"))
        .await;
    assert!(about_alice.len() >= 2, "{about_alice:#?}");
    let none = s
        .audit(
            &owner,
            last,
            "from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z",
        )
        .await;
    assert!(none.is_empty());
    let now = s.audit(&owner, last, "from=2000-01-01T00:00:00Z").await;
    assert_eq!(now.len(), all.len());
    for (q, code) in [
        ("from=yesterday", "invalid_time"),
        (
            "from=2001-01-01T00:00:00Z&to=2000-01-01T00:00:00Z",
            "invalid_filter",
        ),
        ("resource_type=Spaceship", "invalid_resource_type"),
        ("action=Exploded", "invalid_action"),
        ("cursor=zzz", "invalid_cursor"),
    ] {
        s.get(&format!("/audit-logs?{q}"), &owner)
            .await
            .problem(422, code);
    }
    s.get("/audit-logs?actor=ghost", &owner)
        .await
        .problem(404, "user_not_found");
    s.get("/audit-logs", &alice).await.problem(403, "forbidden");

    // Paging: every entry once, in order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/audit-logs?limit=2&cursor={c}"),
            None => "/audit-logs?limit=2".to_string(),
        };
        let r = s.get(&q, &owner).await.expect(200);
        let events = r.body["events"].as_array().unwrap();
        assert!(events.len() <= 2);
        seen.extend(events.iter().map(|e| e["position"].as_u64().unwrap()));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, positions);

    // CSV export: header first, oldest first, same filters.
    let r = s
        .get(
            &format!("/audit-logs/export.csv?resource_type=Group&at_least={last}"),
            &owner,
        )
        .await
        .expect(200);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let mut reader = csv::Reader::from_reader(r.text.as_bytes());
    assert_eq!(
        reader
            .headers()
            .unwrap()
            .iter()
            .take(11)
            .collect::<Vec<_>>(),
        [
            "resource",
            "operation",
            "medium",
            "user_id",
            "username",
            "resource_id",
            "resource_name",
            "ip_address",
            "description",
            "metadata",
            "timestamp"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(
        rows.iter().map(|r| r[6].to_string()).collect::<Vec<_>>(),
        ["g0", "g1", "g2", "g3", "g4"]
    );
    s.get("/audit-logs/export.csv", &alice)
        .await
        .problem(403, "forbidden");

    // Streaming: secrets are never returned, nor in the log.
    s.get("/audit-logs/streaming", &owner)
        .await
        .problem(404, "streaming_not_configured");
    let target = json!({
        "provider": "s3", "bucket": "audit-bucket", "region": "eu-west-1",
        "access_key_id": "AKIAEXAMPLEKEY", "secret_access_key": "very-secret-value",
    });
    let r = s
        .put("/audit-logs/streaming", &alice, target.clone())
        .await
        .problem(403, "forbidden");
    assert_eq!(r.body["permission"], "organization.audit_logs.manage");
    let mut bad = target.clone();
    bad["provider"] = json!("ftp");
    s.put("/audit-logs/streaming", &owner, bad)
        .await
        .problem(422, "invalid_provider");
    let r = s
        .put("/audit-logs/streaming", &owner, target)
        .await
        .expect(200);
    assert_eq!(r.body["secret_access_key"], "***");
    assert_eq!(r.body["access_key_id"], "***");
    assert!(!r.text.contains("very-secret-value"));
    let position = r.position();
    let r = s
        .get(
            &format!("/audit-logs/streaming?at_least={position}"),
            &owner,
        )
        .await
        .expect(200);
    assert_eq!(r.body["bucket"], "audit-bucket");
    assert_eq!(r.body["secret_access_key"], "***");
    assert!(!r.text.contains("very-secret-value") && !r.text.contains("AKIAEXAMPLEKEY"));
    let e = s.audit_at(&owner, position).await;
    assert_entry(
        &e,
        "admin",
        "Added",
        "AuditStream",
        "audit-bucket",
        "Audit log streaming to s3 bucket audit-bucket configured",
    );
    let r = s
        .get(
            &format!("/audit-logs/export.csv?at_least={position}"),
            &owner,
        )
        .await
        .expect(200);
    assert!(!r.text.contains("very-secret-value") && !r.text.contains("AKIAEXAMPLEKEY"));
    let r = s.delete("/audit-logs/streaming", &owner).await.expect(204);
    let e = s.audit_at(&owner, r.position()).await;
    assert_eq!(e["action"], "Removed");
    s.delete("/audit-logs/streaming", &owner)
        .await
        .problem(404, "streaming_not_configured");
}

/// Repository access grants a role only to users with an organization
/// role; a project's owner hands it over without people.manage.
#[tokio::test]
async fn repository_access_and_ownership_by_the_owner() {
    let s = Server::start();
    let owner = s.owner().await;
    let (dave_id, _, _) = s.member(&owner, "dave@example.com", None).await;
    let (_, _, alice) = s.member(&owner, "alice@example.com", None).await;
    s.post("/projects", &owner, json!({"name": "web"}))
        .await
        .expect(201);
    let r = s
        .put(
            "/projects/web/repository-access/dave",
            &owner,
            json!({"access": "pull"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["access"], "read");
    let check = format!(
        "/check?user=dave&permission=project.view&project=web&at_least={}",
        r.position()
    );
    let r = s.get(&check, &owner).await.expect(200);
    assert_eq!(r.body["allowed"], true);
    assert_eq!(r.body["sources"][0]["via"], "repository");
    assert_eq!(r.body["sources"][0]["role"]["name"], "Reader");

    // Without an organization role, the access grants nothing.
    let r = s.delete("/people/dave/role", &owner).await.expect(200);
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "admin",
        "Modified",
        "User",
        "dave",
        "Role Member retracted from dave",
    );
    let check = format!(
        "/check?user=dave&permission=project.view&project=web&at_least={}",
        r.position()
    );
    let r = s.get(&check, &owner).await.expect(200);
    assert_eq!(r.body["allowed"], false);
    let r = s.get("/projects/web/members", &owner).await.expect(200);
    assert!(r
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["subject"] != format!("user:{dave_id}").as_str()));

    // The owner of a project (a Member) transfers it.
    s.post("/projects", &alice, json!({"name": "api"}))
        .await
        .expect(201);
    let r = s
        .put(
            "/projects/api/owner",
            &alice,
            json!({"user": "dave@example.com"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["owner"]["user_id"], dave_id.as_str());
    let e = s.audit_at(&owner, r.position()).await;
    assert_entry(
        &e,
        "alice",
        "Modified",
        "Project",
        "api",
        "Project api transferred from alice to dave",
    );
    // ... and is no longer its owner.
    s.put("/projects/api/owner", &alice, json!({"user": "alice"}))
        .await
        .problem(403, "forbidden");
}
