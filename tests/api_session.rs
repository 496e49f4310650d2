//! End to end over HTTP: the newcomer's session of the README, sessions and
//! tokens, a removed user's token, read-your-writes, and organizations
//! created with the instance admin token.

mod common;

use std::process::{Command, Stdio};

use common::{Server, PASSWORD};
use reqwest::Method;
use serde_json::json;

/// The README's first steps: log in with the temporary password (refused
/// until it is changed), set one's own, invite someone, check what they may
/// do and why.
#[tokio::test]
async fn the_newcomers_session_step_by_step() {
    let s = Server::start();
    assert_eq!(s.bootstrap["org"], "default");
    let (login, temporary) = s.owner_login();
    assert_eq!(login, "admin@localhost");
    assert_eq!(temporary.chars().count(), 20);

    // 1. The temporary password opens no session.
    let r = s
        .call(
            Method::POST,
            "/sessions",
            None,
            Some(json!({"login": login, "password": temporary})),
        )
        .await;
    r.problem(403, "password_change_required");

    // 2. Setting one's own: a wrong current password, a weak new one, then
    //    a good one, which opens a session.
    let change = |current: &str, new: &str| json!({"login": login, "current_password": current, "new_password": new});
    s.call(
        Method::POST,
        "/sessions/password",
        None,
        Some(change("not-it", PASSWORD)),
    )
    .await
    .problem(401, "invalid_credentials");
    let r = s
        .call(
            Method::POST,
            "/sessions/password",
            None,
            Some(change(&temporary, "short")),
        )
        .await
        .problem(422, "weak_password");
    assert_eq!(r.body["errors"][0]["field"], "new_password");
    let r = s
        .call(
            Method::POST,
            "/sessions/password",
            None,
            Some(change(&temporary, PASSWORD)),
        )
        .await
        .expect(201);
    let token = r.body["token"].as_str().unwrap().to_string();
    assert_eq!(r.body["user_id"], s.bootstrap["owner"]["user_id"]);
    assert!(r.body["expires_at"].is_string());
    r.position();

    // Logging in now works, by email or username; a wrong password does not.
    for l in ["admin@localhost", "admin"] {
        s.call(
            Method::POST,
            "/sessions",
            None,
            Some(json!({"login": l, "password": PASSWORD})),
        )
        .await
        .expect(201);
    }
    s.call(
        Method::POST,
        "/sessions",
        None,
        Some(json!({"login": "admin", "password": "Wrong-Password-1"})),
    )
    .await
    .problem(401, "invalid_credentials");
    s.call(
        Method::POST,
        "/sessions",
        None,
        Some(json!({"login": "nobody", "password": PASSWORD})),
    )
    .await
    .problem(401, "invalid_credentials");

    // 3. Invite someone.
    let (created, position) = s.invite(&token, "alice@example.com", None).await;
    assert_eq!(created["username"], "alice");
    assert_eq!(created["email"], "alice@example.com");
    assert_eq!(
        created["temporary_password"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        20
    );

    // 4. What may they do, and why?
    let r = s
        .get(
            &format!("/check?user=alice&permission=organization.view&at_least={position}"),
            &token,
        )
        .await
        .expect(200);
    assert_eq!(r.body["allowed"], true, "{:#}", r.body);
    let sources = r.body["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1, "{:#}", r.body);
    assert_eq!(sources[0]["role"]["name"], "Member");
    assert_eq!(sources[0]["role"]["scope"], "organization");
    assert_eq!(sources[0]["via"], "direct");
    let r = s
        .get(
            "/check?user=alice@example.com&permission=organization.people.manage",
            &token,
        )
        .await
        .expect(200);
    assert_eq!(r.body["allowed"], false);
    assert_eq!(r.body["sources"], json!([]));

    // The newcomer logs in the same way.
    let temp = created["temporary_password"].as_str().unwrap();
    s.call(
        Method::POST,
        "/sessions",
        None,
        Some(json!({"login": "alice", "password": temp})),
    )
    .await
    .problem(403, "password_change_required");
    let alice = s.first_login("alice", temp).await;
    let r = s.get("/people", &alice).await;
    r.problem(403, "forbidden");
}

#[tokio::test]
async fn logout_and_api_tokens() {
    let s = Server::start();
    let owner = s.owner().await;

    let r = s
        .post("/api-tokens", &owner, json!({"name": "ci"}))
        .await
        .expect(201);
    let id = r.body["id"].as_str().unwrap().to_string();
    let api = r.body["token"].as_str().unwrap().to_string();
    r.position();
    s.get("/groups", &api).await.expect(200);
    s.post(
        "/api-tokens",
        &owner,
        json!({"name": "old", "expires_at": "2000-01-01T00:00:00Z"}),
    )
    .await
    .problem(422, "in_the_past");

    s.delete(&format!("/api-tokens/{id}"), &owner)
        .await
        .expect(204)
        .position();
    s.get("/groups", &api).await.problem(401, "unauthorized");
    s.delete(&format!("/api-tokens/{id}"), &owner)
        .await
        .problem(404, "token_not_found");
    s.delete("/api-tokens/not-an-id", &owner)
        .await
        .problem(404, "token_not_found");

    s.delete("/sessions/current", &owner).await.expect(204);
    s.get("/groups", &owner).await.problem(401, "unauthorized");
    s.call(Method::GET, "/groups", None, None)
        .await
        .problem(401, "unauthorized");
    s.call(Method::GET, "/groups", Some("rb_forged"), None)
        .await
        .problem(401, "unauthorized");
}

/// Removal ends the user's sessions and tokens at once: the very next
/// request is refused.
#[tokio::test]
async fn a_removed_users_token_is_refused_on_the_next_request() {
    let s = Server::start();
    let owner = s.owner().await;
    let (_, _, bob) = s.member(&owner, "bob@example.com", None).await;
    let r = s
        .post("/api-tokens", &bob, json!({"name": "bob's"}))
        .await
        .expect(201);
    let bob_api = r.body["token"].as_str().unwrap().to_string();
    s.get("/groups", &bob).await.expect(200);
    s.get("/groups", &bob_api).await.expect(200);
    s.post(
        "/groups",
        &owner,
        json!({"name": "devs", "description": "Developers", "members": ["bob"]}),
    )
    .await
    .expect(201);
    s.post("/projects", &owner, json!({"name": "web"}))
        .await
        .expect(201);
    s.put(
        "/projects/web/members/bob",
        &owner,
        json!({"role": "Reader"}),
    )
    .await
    .expect(200);

    let r = s.delete("/people/bob", &owner).await.expect(204);
    let position = r.position();
    s.get("/groups", &bob).await.problem(401, "unauthorized");
    s.get("/groups", &bob_api)
        .await
        .problem(401, "unauthorized");
    s.post("/groups", &bob, json!({"name": "x", "description": "y"}))
        .await
        .problem(401, "unauthorized");
    s.call(
        Method::POST,
        "/sessions",
        None,
        Some(json!({"login": "bob", "password": PASSWORD})),
    )
    .await
    .problem(401, "invalid_credentials");

    // Every binding and membership went with them; the log says who did it.
    let r = s
        .get(&format!("/groups?at_least={position}"), &owner)
        .await
        .expect(200);
    assert_eq!(r.body["groups"][0]["members"], json!([]));
    let r = s.get("/projects/web/members", &owner).await.expect(200);
    assert_eq!(r.body.as_array().unwrap().len(), 1, "only the owner: {r:?}");
    let e = s.audit_at(&owner, position).await;
    assert_eq!(e["description"], "User bob removed");
    assert_eq!(e["actor"]["username"], "admin");
    assert_eq!(e["action"], "Removed");
}

/// A command's position passed as `at_least` always sees the change.
#[tokio::test]
async fn read_your_writes() {
    let s = Server::start();
    let owner = s.owner().await;
    for i in 0..50 {
        let email = format!("user{i}@example.com");
        let (_, position) = s.invite(&owner, &email, None).await;
        let r = s
            .get(&format!("/people?at_least={position}"), &owner)
            .await
            .expect(200);
        assert!(
            r.body["people"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["email"] == email.as_str()),
            "{email} missing at position {position}"
        );
    }
}

#[tokio::test]
async fn organizations_are_created_with_the_instance_admin_token() {
    let body = json!({"name": "acme", "owner_email": "ada@acme.example", "owner_username": "ada"});

    // No token configured: the route is closed and says how to open it
    // (to a caller with a bearer token; without one it is 401, API.md's
    // answer to a missing token).
    let closed = Server::start();
    closed
        .call(Method::POST, "/api/v1/orgs", None, Some(body.clone()))
        .await
        .problem(401, "unauthorized");
    let r = closed
        .call(
            Method::POST,
            "/api/v1/orgs",
            Some("not-an-admin-token"),
            Some(body.clone()),
        )
        .await
        .problem(403, "forbidden");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("ROLEBOOK_ADMIN_TOKEN"),
        "{r:?}"
    );

    let admin = "an-admin-token-of-32-characters!";
    let s = Server::start_with(&[("ROLEBOOK_ADMIN_TOKEN", admin)]);
    assert!(!s.stderr.lock().unwrap().contains(admin), "token printed");
    s.call(Method::POST, "/api/v1/orgs", None, Some(body.clone()))
        .await
        .problem(401, "unauthorized");
    s.call(
        Method::POST,
        "/api/v1/orgs",
        Some("an-admin-token-of-32-characters?"),
        Some(body.clone()),
    )
    .await
    .problem(401, "unauthorized");
    let r = s
        .call(
            Method::POST,
            "/api/v1/orgs",
            Some(admin),
            Some(body.clone()),
        )
        .await
        .expect(201);
    let org_id = r.body["org_id"].as_str().unwrap().to_string();
    let temporary = r.body["owner"]["temporary_password"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(r.body["owner"]["user_id"].is_string());
    r.position();
    s.call(Method::POST, "/api/v1/orgs", Some(admin), Some(body))
        .await
        .problem(409, "org_exists");

    // Its owner logs in there, by the org's name or id.
    let r = s
        .call(
            Method::POST,
            "/api/v1/orgs/acme/sessions/password",
            None,
            Some(json!({"login": "ada", "current_password": temporary, "new_password": PASSWORD})),
        )
        .await
        .expect(201);
    let ada = r.body["token"].as_str().unwrap().to_string();
    let r = s
        .call(
            Method::GET,
            &format!("/api/v1/orgs/{org_id}/settings"),
            Some(&ada),
            None,
        )
        .await
        .expect(200);
    assert_eq!(r.body["name"], "acme");
    // A token of one organization opens nothing in another.
    s.get("/groups", &ada).await.problem(401, "unauthorized");

    // A short admin token: the server refuses to start, with a reason.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rolebook"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("ROLEBOOK_ADMIN_TOKEN", "short")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ROLEBOOK_ADMIN_TOKEN"));
}

/// `GET /check?as_of=`: the answer at a past moment, rebuilt from the log,
/// also about someone removed since.
#[tokio::test]
async fn check_as_of_a_past_moment() {
    let s = Server::start();
    let token = s.owner().await;
    let (_, position) = s.invite(&token, "carol@example.com", Some("Admin")).await;
    s.get(&format!("/people?at_least={position}"), &token)
        .await
        .expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let while_admin = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let demoted = s
        .put("/people/carol/role", &token, json!({"role": "Member"}))
        .await
        .expect(200);
    let removed = s.delete("/people/carol", &token).await;
    assert_eq!(removed.status, 204);
    let at = |t: chrono::DateTime<chrono::Utc>| {
        t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            .replace('+', "%2B")
    };

    let then = s
        .get(
            &format!(
                "/check?user=carol&permission=organization.people.manage&as_of={}",
                at(while_admin)
            ),
            &token,
        )
        .await
        .expect(200);
    assert_eq!(then.body["allowed"], true, "{}", then.text);
    assert_eq!(then.body["sources"][0]["via"], "direct");
    assert_eq!(then.body["sources"][0]["role"]["name"], "Admin");

    let now = at(chrono::Utc::now());
    let after = s
        .get(
            &format!("/check?user=carol&permission=organization.view&as_of={now}"),
            &token,
        )
        .await;
    after.problem(404, "user_not_found");
    assert!(demoted.position() > 0);
    s.get(
        "/check?user=admin&permission=organization.view&as_of=yesterday",
        &token,
    )
    .await
    .problem(422, "invalid_as_of");
}
