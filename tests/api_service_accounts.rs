//! End to end over HTTP: service accounts (create with a token shown once,
//! work with it, rename, regenerate the token, deactivate, reactivate,
//! remove), what they may and may not hold, and deactivating a person.

mod common;

use common::{Server, PASSWORD};
use reqwest::Method;
use serde_json::json;

/// Whether `user` holds `permission` (organization scope), once the read
/// side has reached `at_least`.
async fn allowed(s: &Server, token: &str, user: &str, permission: &str, at_least: u64) -> bool {
    let r = s
        .get(
            &format!("/check?user={user}&permission={permission}&at_least={at_least}"),
            token,
        )
        .await
        .expect(200);
    r.body["allowed"].as_bool().unwrap()
}

#[tokio::test]
async fn a_service_account_lives_by_its_token() {
    let s = Server::start();
    let owner = s.owner().await;

    // Created with a role; its token is shown once and works at once.
    let r = s
        .post(
            "/service-accounts",
            &owner,
            json!({"name": "deployer", "description": "deploys", "role": "Admin"}),
        )
        .await
        .expect(201);
    let sa = r.body["service_account"]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(r.body["service_account"]["kind"], "service_account");
    assert_eq!(r.body["service_account"]["status"], "active");
    assert_eq!(r.body["service_account"]["role"]["name"], "Admin");
    assert_eq!(
        r.body["service_account"]["tokens"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let first = r.body["token"].as_str().unwrap().to_string();
    assert!(first.starts_with("rb_"));
    let created_at = r.position();
    s.get(&format!("/groups?at_least={created_at}"), &first)
        .await
        .expect(200);
    // The same name again is taken, like any username.
    s.post("/service-accounts", &owner, json!({"name": "Deployer"}))
        .await
        .problem(409, "username_taken");

    // It is listed and readable by name, never with a secret.
    let r = s.get("/service-accounts", &owner).await.expect(200);
    let listed = &r.body["service_accounts"];
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(!r.text.contains(&first));
    s.get("/service-accounts/deployer", &owner)
        .await
        .expect(200);
    s.get("/service-accounts/admin", &owner)
        .await
        .problem(404, "service_account_not_found");
    // It appears in check and who-can as what it is.
    assert!(allowed(&s, &owner, &sa, "organization.people.manage", created_at).await);
    let r = s
        .get(
            &format!("/check?user={sa}&permission=organization.view"),
            &owner,
        )
        .await
        .expect(200);
    assert_eq!(r.body["kind"], "service_account");
    let r = s
        .get("/who-can?permission=organization.people.manage", &owner)
        .await
        .expect(200);
    let kinds: Vec<(&str, &str)> = r.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["username"].as_str().unwrap(), h["kind"].as_str().unwrap()))
        .collect();
    assert!(
        kinds.contains(&("deployer", "service_account")),
        "{kinds:?}"
    );
    assert!(kinds.contains(&("admin", "person")), "{kinds:?}");
    let r = s
        .get(&format!("/people/{sa}?at_least={created_at}"), &owner)
        .await
        .expect(200);
    assert_eq!(r.body["kind"], "service_account");

    // It cannot log in with a password, nor get repository access.
    s.call(
        Method::POST,
        "/sessions",
        None,
        Some(json!({"login": "deployer", "password": PASSWORD})),
    )
    .await
    .problem(401, "invalid_credentials");
    s.post("/projects", &owner, json!({"name": "web"}))
        .await
        .expect(201);
    s.put(
        &format!("/projects/web/repository-access/{sa}"),
        &owner,
        json!({"access": "write"}),
    )
    .await
    .problem(422, "service_account");
    // A project binding it may hold.
    s.put(
        &format!("/projects/web/members/user:{sa}"),
        &owner,
        json!({"role": "Reader"}),
    )
    .await
    .expect(200);

    // Renamed; a rename onto a taken name is refused.
    let r = s
        .patch(
            "/service-accounts/deployer",
            &owner,
            json!({"name": "releaser", "description": "releases"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["name"], "releaser");
    assert_eq!(r.body["description"], "releases");
    s.patch(
        "/service-accounts/releaser",
        &owner,
        json!({"name": "admin"}),
    )
    .await
    .problem(409, "username_taken");
    let audit = s.audit_at(&owner, r.position()).await;
    assert_eq!(audit["resource_type"], "ServiceAccount");
    assert_eq!(audit["action"], "Modified");

    // A regenerated token works and the old one is refused at once.
    let r = s
        .post(
            "/service-accounts/releaser/regenerate-token",
            &owner,
            json!({}),
        )
        .await
        .expect(201);
    let second = r.body["token"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    s.get("/groups", &first).await.problem(401, "unauthorized");
    s.get(&format!("/groups?at_least={}", r.position()), &second)
        .await
        .expect(200);
    // Also with no body at all.
    let r = s
        .call(
            Method::POST,
            "/service-accounts/releaser/regenerate-token",
            Some(&owner),
            None,
        )
        .await
        .expect(201);
    let third = r.body["token"].as_str().unwrap().to_string();
    s.get("/groups", &second).await.problem(401, "unauthorized");

    // Deactivated: refused on its next request, every role gone, the
    // audit log names each source that went.
    let r = s
        .call(
            Method::POST,
            "/service-accounts/releaser/deactivate",
            Some(&owner),
            None,
        )
        .await
        .expect(200);
    assert_eq!(r.body["status"], "deactivated");
    assert!(r.body["role"].is_null());
    assert_eq!(r.body["tokens"].as_array().unwrap().len(), 0);
    let deactivated_at = r.position();
    s.get("/groups", &third).await.problem(401, "unauthorized");
    assert!(!allowed(&s, &owner, &sa, "organization.view", deactivated_at).await);
    let r = s
        .get(
            &format!(
                "/check?user={sa}&permission=project.view&project=web&at_least={deactivated_at}"
            ),
            &owner,
        )
        .await
        .expect(200);
    assert_eq!(r.body["allowed"], false);
    let entries = s.audit(&owner, deactivated_at, "").await;
    let descriptions: Vec<&str> = entries
        .iter()
        .take(3)
        .map(|e| e["description"].as_str().unwrap())
        .collect();
    assert_eq!(descriptions[0], "Service account releaser deactivated");
    assert!(
        descriptions[1..].iter().any(|d| d.contains("Reader")),
        "{descriptions:?}"
    );
    assert!(
        descriptions[1..].iter().any(|d| d.contains("Admin")),
        "{descriptions:?}"
    );
    // Nothing can be given to it while it is deactivated.
    s.put(
        &format!("/people/{sa}/role"),
        &owner,
        json!({"role": "Member"}),
    )
    .await
    .problem(409, "user_deactivated");
    s.post(
        "/service-accounts/releaser/regenerate-token",
        &owner,
        json!({}),
    )
    .await
    .problem(409, "user_deactivated");

    // Reactivated as Member, with a new token.
    let r = s
        .post("/service-accounts/releaser/reactivate", &owner, json!({}))
        .await
        .expect(200);
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["role"]["name"], "Member");
    let r = s
        .post(
            "/service-accounts/releaser/regenerate-token",
            &owner,
            json!({}),
        )
        .await
        .expect(201);
    let fourth = r.body["token"].as_str().unwrap().to_string();
    assert!(allowed(&s, &owner, &sa, "organization.view", r.position()).await);
    assert!(!allowed(&s, &owner, &sa, "organization.people.manage", r.position()).await);

    // Removed: its token dies with it.
    s.delete("/service-accounts/releaser", &owner)
        .await
        .expect(204);
    s.get("/groups", &fourth).await.problem(401, "unauthorized");
    s.get("/service-accounts/releaser", &owner)
        .await
        .problem(404, "service_account_not_found");
}

/// The service-account routes are guarded by their permissions: a Member
/// holds neither `.view` nor `.manage`.
#[tokio::test]
async fn service_accounts_need_their_permissions() {
    let s = Server::start();
    let owner = s.owner().await;
    let (_, _, member) = s.member(&owner, "bob@example.com", None).await;
    s.get("/service-accounts", &member)
        .await
        .problem(403, "forbidden");
    s.post("/service-accounts", &member, json!({"name": "bot"}))
        .await
        .problem(403, "forbidden");
    s.post(
        "/service-accounts",
        &owner,
        json!({"name": "bot", "token_expires_at": "2001-01-01T00:00:00Z"}),
    )
    .await
    .problem(422, "in_the_past");
    s.post(
        "/service-accounts",
        &owner,
        json!({"name": "bot", "colour": "red"}),
    )
    .await
    .expect(422);
    // Nothing was created by any of these.
    let r = s.get("/service-accounts", &owner).await.expect(200);
    assert_eq!(r.body["service_accounts"].as_array().unwrap().len(), 0);
}

/// A deactivated person keeps their projects, cannot log in (told so once
/// the password is right) and their session ends at once; the last Owner
/// cannot be deactivated.
#[tokio::test]
async fn a_deactivated_person_keeps_projects_and_loses_access() {
    let s = Server::start();
    let owner = s.owner().await;
    let (alice, _, alice_token) = s.member(&owner, "alice@example.com", Some("Admin")).await;
    s.post("/projects", &alice_token, json!({"name": "api"}))
        .await
        .expect(201);
    s.post(
        "/groups",
        &owner,
        json!({"name": "ops", "description": "ops", "members": [alice]}),
    )
    .await
    .expect(201);

    let r = s
        .call(
            Method::POST,
            &format!("/people/{alice}/deactivate"),
            Some(&owner),
            None,
        )
        .await
        .expect(200);
    assert_eq!(r.body["status"], "deactivated");
    assert!(r.body["groups"].as_array().unwrap().is_empty());
    let at = r.position();
    s.get("/groups", &alice_token)
        .await
        .problem(401, "unauthorized");
    s.call(
        Method::POST,
        "/sessions",
        None,
        Some(json!({"login": "alice@example.com", "password": PASSWORD})),
    )
    .await
    .problem(403, "user_deactivated");
    // Her project stays hers; she holds nothing on it.
    let r = s
        .get(&format!("/projects/api?at_least={at}"), &owner)
        .await
        .expect(200);
    assert_eq!(r.body["owner"]["user_id"], alice.as_str());
    assert!(!allowed(&s, &owner, &alice, "organization.view", at).await);
    // Deactivating again changes nothing; removing her is refused while
    // she owns the project.
    s.call(
        Method::POST,
        &format!("/people/{alice}/deactivate"),
        Some(&owner),
        None,
    )
    .await
    .expect(200);
    s.delete(&format!("/people/{alice}"), &owner)
        .await
        .problem(409, "user_owns_projects");

    // Reactivated: Member again, and she can log in.
    let r = s
        .post(&format!("/people/{alice}/reactivate"), &owner, json!({}))
        .await
        .expect(200);
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["role"]["name"], "Member");
    s.call(
        Method::POST,
        "/sessions",
        None,
        Some(json!({"login": "alice@example.com", "password": PASSWORD})),
    )
    .await
    .expect(201);

    // The last Owner stays.
    let owner_id = s.bootstrap["owner"]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    s.call(
        Method::POST,
        &format!("/people/{owner_id}/deactivate"),
        Some(&owner),
        None,
    )
    .await
    .problem(409, "last_owner");
}
