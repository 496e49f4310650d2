//! `Idempotency-Key`: the same key and body get the first answer and append
//! nothing; another body with the same key is refused; concurrent requests
//! with one key append once.

mod common;

use common::Server;
use serde_json::json;

async fn post_with_key(
    s: &Server,
    token: &str,
    key: &str,
    body: serde_json::Value,
) -> common::Resp {
    s.send(
        s.client
            .post(s.url("/groups"))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn the_same_key_and_body_return_the_first_answer_and_append_nothing() {
    let s = Server::start();
    let token = s.owner().await;
    let body = json!({"name": "ops", "description": "operators", "members": []});
    let first = post_with_key(&s, &token, "key-1", body.clone())
        .await
        .expect(201);
    let head = s.head().await;
    let again = post_with_key(&s, &token, "key-1", body.clone())
        .await
        .expect(201);
    assert_eq!(again.body, first.body, "the first answer, byte for byte");
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.position(), first.position());
    assert_eq!(s.head().await, head, "nothing appended");

    // The same key with another body is refused.
    let other = json!({"name": "ops2", "description": "operators", "members": []});
    post_with_key(&s, &token, "key-1", other)
        .await
        .problem(422, "idempotency_key_reused");
    // Without the key, the same body is a new command (and here a conflict).
    s.post("/groups", &token, body)
        .await
        .problem(409, "group_name_taken");
    // A malformed key is refused before anything runs.
    post_with_key(&s, &token, "bad key with spaces", json!({}))
        .await
        .problem(400, "invalid_idempotency_key");
    assert_eq!(s.head().await, head);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_append_once() {
    let s = Server::start();
    let token = s.owner().await;
    let body = json!({"name": "race", "description": "racing", "members": []});
    let requests = (0..8).map(|_| post_with_key(&s, &token, "race-key", body.clone()));
    let answers = futures::future::join_all(requests).await;
    assert!(answers.iter().all(|a| a.status == 201), "{answers:?}");
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|a| a.body["group_id"].to_string())
        .collect();
    assert_eq!(ids.len(), 1, "one group, answered eight times");
    // Read the list at least as new as the commit (the read model may lag).
    let at_least = answers.iter().map(|a| a.position()).max().unwrap();
    let groups = s
        .get(&format!("/groups?at_least={at_least}"), &token)
        .await
        .expect(200);
    let named = groups.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["name"] == "race")
        .count();
    assert_eq!(named, 1);
}

#[tokio::test]
async fn lists_are_keyset_paged_without_repeats_or_gaps() {
    let s = Server::start();
    let token = s.owner().await;
    let people: Vec<serde_json::Value> = (0..23)
        .map(|i| json!({"email": format!("p{i:02}@x.io")}))
        .collect();
    let invited = s
        .post("/people", &token, json!({"people": people}))
        .await
        .expect(201);
    let at_least = invited.position();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/people?limit=5&at_least={at_least}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = s.get(&path, &token).await.expect(200);
        let names: Vec<String> = page.body["people"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["username"].as_str().unwrap().to_string())
            .collect();
        assert!(names.len() <= 5);
        seen.extend(names);
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 24, "23 invited and the owner, each once");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 24);
    s.get("/people?limit=0", &token)
        .await
        .problem(422, "invalid_limit");
    s.get("/people?limit=1001", &token)
        .await
        .problem(422, "invalid_limit");
    s.get("/people?cursor=zz", &token)
        .await
        .problem(400, "invalid_cursor");
    let groups = s.get("/groups?limit=1", &token).await.expect(200);
    assert!(groups.body["next_cursor"].is_null());
}

/// Sends `method path` with a key (and a bearer token when given).
async fn keyed(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    key: &str,
    body: Option<serde_json::Value>,
) -> common::Resp {
    let mut r = s
        .client
        .request(method, s.url(path))
        .header("idempotency-key", key);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    s.send(r).await
}

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.extend(files(&path));
        } else {
            all.push(path);
        }
    }
    all
}

/// Sends commands with keys and remembers which documented operations
/// ran; each may be sent twice with one key, the second answer then being
/// the first, given again.
struct Commands<'a> {
    s: &'a Server,
    ran: std::collections::BTreeSet<String>,
}

impl Commands<'_> {
    /// Sends `method path` (documented as `documented`, relative to the
    /// organization unless it starts with `/api/`) with `key`; `twice`
    /// sends it again and checks that the kept answer comes back.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        documented: &str,
        token: Option<&str>,
        key: &str,
        body: Option<serde_json::Value>,
        status: u16,
        twice: bool,
    ) -> common::Resp {
        let documented = if documented.starts_with("/api/") {
            documented.to_string()
        } else {
            format!("/api/v1/orgs/{{org}}{documented}")
        };
        self.ran
            .insert(format!("{} {documented}", method.as_str().to_lowercase()));
        let first = keyed(self.s, method.clone(), path, token, key, body.clone())
            .await
            .expect(status);
        if twice {
            let again = keyed(self.s, method, path, token, key, body).await;
            assert_eq!(again.status, first.status);
            assert_eq!(again.text, first.text, "the kept answer, byte for byte");
            assert_eq!(again.headers["idempotent-replayed"], "true");
        }
        first
    }
}

#[tokio::test]
async fn no_secret_of_a_keyed_command_rests_in_the_data_dir_or_the_log() {
    use reqwest::Method;
    const ADMIN: &str = "admin-token-for-the-secrets-scan";
    let s = Server::start_with(&[("ROLEBOOK_ADMIN_TOKEN", ADMIN)]);
    let doc = s
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .expect(200)
        .body;
    let mut secrets: Vec<String> = vec![ADMIN.to_string(), common::PASSWORD.to_string()];
    let (login, temporary) = s.owner_login();
    secrets.push(temporary.clone());
    let mut c = Commands {
        s: &s,
        ran: Default::default(),
    };

    // Every command of the API, with a key; those that hand out or take a
    // secret sent twice (the second answer is the first, kept and opened
    // again).
    let change =
        json!({"login": login, "current_password": temporary, "new_password": common::PASSWORD});
    let r = c
        .send(
            Method::POST,
            "/sessions/password",
            "/sessions/password",
            None,
            "k-pw",
            Some(change),
            201,
            true,
        )
        .await;
    let token = r.body["token"].as_str().unwrap().to_string();
    secrets.push(token.clone());
    let t = Some(token.as_str());

    let login_body = json!({"login": login, "password": common::PASSWORD});
    let r = c
        .send(
            Method::POST,
            "/sessions",
            "/sessions",
            None,
            "k-login",
            Some(login_body),
            201,
            true,
        )
        .await;
    secrets.push(r.body["token"].as_str().unwrap().to_string());

    let r = c
        .send(
            Method::POST,
            "/api-tokens",
            "/api-tokens",
            t,
            "k-api",
            Some(json!({"name": "ci"})),
            201,
            true,
        )
        .await;
    let api_token = r.body["token"].as_str().unwrap().to_string();
    let api_id = r.body["id"].as_str().unwrap().to_string();
    secrets.push(api_token.clone());
    // The kept answer's token is the one that works.
    s.get("/groups", &api_token).await.expect(200);

    let invite = json!({"people": [{"email": "alice@example.com"}, {"email": "bob@example.com"}]});
    let r = c
        .send(
            Method::POST,
            "/people",
            "/people",
            t,
            "k-invite",
            Some(invite),
            201,
            true,
        )
        .await;
    for created in r.body["created"].as_array().unwrap() {
        secrets.push(created["temporary_password"].as_str().unwrap().to_string());
    }
    let alice = r.body["created"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let bob = r.body["created"][1]["user_id"]
        .as_str()
        .unwrap()
        .to_string();

    let reset = format!("/people/{alice}/password-reset");
    let r = c
        .send(
            Method::POST,
            &reset,
            "/people/{user}/password-reset",
            t,
            "k-reset",
            None,
            201,
            true,
        )
        .await;
    let reset_password = r.body["temporary_password"].as_str().unwrap().to_string();
    secrets.push(reset_password.clone());
    // The kept answer's password is the one in force.
    s.first_login("alice@example.com", &reset_password).await;

    let org = json!({"name": "second", "owner_email": "root@second.io"});
    let r = c
        .send(
            Method::POST,
            "/api/v1/orgs",
            "/api/v1/orgs",
            Some(ADMIN),
            "k-org",
            Some(org),
            201,
            true,
        )
        .await;
    secrets.push(
        r.body["owner"]["temporary_password"]
            .as_str()
            .unwrap()
            .to_string(),
    );

    let bucket_secret = "bucket-secret-key-0123456789abcdef";
    let streaming = json!({"provider": "s3", "bucket": "audit", "region": "us-east-1",
        "endpoint": "http://127.0.0.1:9", "access_key_id": "AKIDSCANTEST0001",
        "secret_access_key": bucket_secret});
    c.send(
        Method::PUT,
        "/audit-logs/streaming",
        "/audit-logs/streaming",
        t,
        "k-stream",
        Some(streaming),
        200,
        true,
    )
    .await;
    secrets.push(bucket_secret.to_string());
    secrets.push("AKIDSCANTEST0001".to_string());
    // A connection test: its keys are used once and kept nowhere.
    let probe_secret = "probe-secret-key-0123456789abcdef";
    let probe = json!({"provider": "s3", "bucket": "audit", "region": "us-east-1",
        "endpoint": "http://127.0.0.1:9", "access_key_id": "AKIDPROBETEST001",
        "secret_access_key": probe_secret});
    c.send(
        Method::POST,
        "/audit-logs/streaming/test",
        "/audit-logs/streaming/test",
        t,
        "k-stream-test",
        Some(probe),
        422,
        false,
    )
    .await;
    secrets.push(probe_secret.to_string());
    secrets.push("AKIDPROBETEST001".to_string());

    // The commands that carry no secret.
    let group = json!({"name": "ops", "description": "operators", "members": [bob]});
    c.send(
        Method::POST,
        "/groups",
        "/groups",
        t,
        "k-group",
        Some(group),
        201,
        true,
    )
    .await;
    c.send(
        Method::PATCH,
        "/groups/ops",
        "/groups/{group}",
        t,
        "k-group-change",
        Some(json!({"description": "the operators"})),
        200,
        false,
    )
    .await;
    c.send(
        Method::PUT,
        "/groups/ops/role",
        "/groups/{group}/role",
        t,
        "k-group-role",
        Some(json!({"role": "Admin"})),
        200,
        false,
    )
    .await;
    c.send(
        Method::PUT,
        &format!("/people/{bob}/role"),
        "/people/{user}/role",
        t,
        "k-role",
        Some(json!({"role": "Admin"})),
        200,
        false,
    )
    .await;
    c.send(
        Method::DELETE,
        &format!("/people/{bob}/role"),
        "/people/{user}/role",
        t,
        "k-unrole",
        None,
        200,
        false,
    )
    .await;
    let role = json!({"name": "Deployer", "scope": "project", "description": "ships", "permissions": ["project.view"]});
    c.send(
        Method::POST,
        "/roles",
        "/roles",
        t,
        "k-new-role",
        Some(role),
        201,
        true,
    )
    .await;
    c.send(Method::PUT, "/roles/Deployer?scope=project", "/roles/{role}", t, "k-change-role",
        Some(json!({"name": "Deployer", "scope": "project", "description": "ships code", "permissions": ["project.view"]})),
        200, false).await;
    c.send(
        Method::POST,
        "/projects",
        "/projects",
        t,
        "k-project",
        Some(json!({"name": "web"})),
        201,
        true,
    )
    .await;
    c.send(
        Method::PUT,
        "/projects/web/members/group:ops",
        "/projects/{project}/members/{subject}",
        t,
        "k-bind",
        Some(json!({"role": "Deployer"})),
        200,
        false,
    )
    .await;
    c.send(
        Method::DELETE,
        "/projects/web/members/group:ops",
        "/projects/{project}/members/{subject}",
        t,
        "k-unbind",
        None,
        200,
        false,
    )
    .await;
    c.send(
        Method::PUT,
        &format!("/projects/web/repository-access/{bob}"),
        "/projects/{project}/repository-access/{user}",
        t,
        "k-repo",
        Some(json!({"access": "write"})),
        200,
        false,
    )
    .await;
    c.send(
        Method::PUT,
        "/projects/web/repository-role-mapping",
        "/projects/{project}/repository-role-mapping",
        t,
        "k-mapping",
        Some(json!({"admin": "Admin", "write": "Contributor", "read": "Reader"})),
        200,
        false,
    )
    .await;
    c.send(
        Method::PUT,
        "/projects/web/owner",
        "/projects/{project}/owner",
        t,
        "k-owner",
        Some(json!({"user": bob})),
        200,
        false,
    )
    .await;
    c.send(
        Method::POST,
        "/check",
        "/check",
        t,
        "k-check",
        Some(json!({"checks": [{"user": bob, "permission": "organization.view"}]})),
        200,
        false,
    )
    .await;
    c.send(
        Method::PATCH,
        "/settings",
        "/settings",
        t,
        "k-settings",
        Some(json!({"url": "https://ci.example"})),
        200,
        true,
    )
    .await;
    // Service accounts: their tokens are secrets like the others.
    let r = c
        .send(
            Method::POST,
            "/service-accounts",
            "/service-accounts",
            t,
            "k-sa",
            Some(json!({"name": "robot", "description": "builds"})),
            201,
            true,
        )
        .await;
    secrets.push(r.body["token"].as_str().unwrap().to_string());
    c.send(
        Method::PATCH,
        "/service-accounts/robot",
        "/service-accounts/{service_account}",
        t,
        "k-sa-change",
        Some(json!({"description": "builds and ships"})),
        200,
        false,
    )
    .await;
    let r = c
        .send(
            Method::POST,
            "/service-accounts/robot/regenerate-token",
            "/service-accounts/{service_account}/regenerate-token",
            t,
            "k-sa-token",
            Some(json!({})),
            201,
            true,
        )
        .await;
    secrets.push(r.body["token"].as_str().unwrap().to_string());
    c.send(
        Method::POST,
        "/service-accounts/robot/deactivate",
        "/service-accounts/{service_account}/deactivate",
        t,
        "k-sa-off",
        None,
        200,
        true,
    )
    .await;
    c.send(
        Method::POST,
        "/service-accounts/robot/reactivate",
        "/service-accounts/{service_account}/reactivate",
        t,
        "k-sa-on",
        Some(json!({})),
        200,
        false,
    )
    .await;
    c.send(
        Method::DELETE,
        "/service-accounts/robot",
        "/service-accounts/{service_account}",
        t,
        "k-sa-drop",
        None,
        204,
        false,
    )
    .await;
    // The SCIM token is a secret too; the default role a setting.
    let r = c
        .send(
            Method::POST,
            "/okta/scim-token",
            "/okta/scim-token",
            t,
            "k-scim-token",
            None,
            201,
            true,
        )
        .await;
    secrets.push(r.body["token"].as_str().unwrap().to_string());
    c.send(
        Method::PATCH,
        "/okta/scim",
        "/okta/scim",
        t,
        "k-scim-role",
        Some(json!({"default_role": "Member"})),
        200,
        false,
    )
    .await;
    c.send(
        Method::DELETE,
        "/okta/scim-token",
        "/okta/scim-token",
        t,
        "k-scim-revoke",
        None,
        204,
        true,
    )
    .await;
    // Single sign-on against a real provider: its client secret is a
    // secret.
    let provider = common::oidc::Provider::for_server(&s);
    c.send(
        Method::PUT,
        "/okta/sso",
        "/okta/sso",
        t,
        "k-sso",
        Some(provider.settings()),
        200,
        true,
    )
    .await;
    secrets.push(common::oidc::CLIENT_SECRET.to_string());
    c.send(
        Method::DELETE,
        "/okta/sso",
        "/okta/sso",
        t,
        "k-sso-remove",
        None,
        204,
        true,
    )
    .await;
    // Settings; a notification target, whose URL (a Slack URL's path is
    // its secret) and signing secret are secrets.
    c.send(
        Method::PATCH,
        "/settings/workflows",
        "/settings/workflows",
        t,
        "k-workflows",
        Some(json!({"default_queue": "big-jobs"})),
        200,
        true,
    )
    .await;
    c.send(
        Method::PUT,
        "/settings/init-agent",
        "/settings/init-agent",
        t,
        "k-init-agent",
        Some(json!({"environment": "self_hosted", "machine_type": "s1-scan"})),
        200,
        true,
    )
    .await;
    c.send(
        Method::PUT,
        "/settings/ip-allow-list",
        "/settings/ip-allow-list",
        t,
        "k-allow-list",
        Some(json!({"cidrs": ["127.0.0.0/8"]})),
        200,
        true,
    )
    .await;
    let hook = json!({"name": "scan", "kind": "slack", "rules": [{}],
        "url": "http://127.0.0.1:9/services/T0SCAN/scan-url-secret-0123"});
    let r = c
        .send(
            Method::POST,
            "/notifications",
            "/notifications",
            t,
            "k-hook",
            Some(hook),
            201,
            true,
        )
        .await;
    secrets.push(r.body["signing_secret"].as_str().unwrap().to_string());
    secrets.push("scan-url-secret-0123".to_string());
    let hook_id = r.body["id"].as_str().unwrap().to_string();
    c.send(
        Method::PATCH,
        &format!("/notifications/{hook_id}"),
        "/notifications/{id}",
        t,
        "k-hook-url",
        Some(json!({"url": "http://127.0.0.1:9/services/T0SCAN/scan-url-secret-4567"})),
        200,
        true,
    )
    .await;
    secrets.push("scan-url-secret-4567".to_string());
    let r = c
        .send(
            Method::POST,
            &format!("/notifications/{hook_id}/test"),
            "/notifications/{id}/test",
            t,
            "k-hook-test",
            None,
            200,
            false,
        )
        .await;
    assert_eq!(r.body["delivered"], false, "{r:?}");
    c.send(
        Method::POST,
        &format!("/notifications/{hook_id}/resume"),
        "/notifications/{id}/resume",
        t,
        "k-hook-resume",
        None,
        200,
        false,
    )
    .await;
    c.send(
        Method::DELETE,
        &format!("/notifications/{hook_id}"),
        "/notifications/{id}",
        t,
        "k-hook-remove",
        None,
        204,
        true,
    )
    .await;
    c.send(
        Method::POST,
        &format!("/people/{bob}/deactivate"),
        "/people/{user}/deactivate",
        t,
        "k-off",
        None,
        200,
        true,
    )
    .await;
    c.send(
        Method::POST,
        &format!("/people/{bob}/reactivate"),
        "/people/{user}/reactivate",
        t,
        "k-on",
        Some(json!({"role": "Member"})),
        200,
        false,
    )
    .await;
    c.send(
        Method::DELETE,
        "/projects/web",
        "/projects/{project}",
        t,
        "k-drop-project",
        None,
        204,
        false,
    )
    .await;
    c.send(
        Method::DELETE,
        "/roles/Deployer?scope=project",
        "/roles/{role}",
        t,
        "k-drop-role",
        None,
        204,
        false,
    )
    .await;
    c.send(
        Method::DELETE,
        "/groups/ops",
        "/groups/{group}",
        t,
        "k-drop-group",
        None,
        204,
        false,
    )
    .await;
    c.send(
        Method::DELETE,
        &format!("/people/{bob}"),
        "/people/{user}",
        t,
        "k-remove",
        None,
        204,
        true,
    )
    .await;
    c.send(
        Method::DELETE,
        "/audit-logs/streaming",
        "/audit-logs/streaming",
        t,
        "k-unstream",
        None,
        204,
        false,
    )
    .await;
    c.send(
        Method::DELETE,
        &format!("/api-tokens/{api_id}"),
        "/api-tokens/{id}",
        t,
        "k-revoke",
        None,
        204,
        true,
    )
    .await;
    s.get("/groups", &api_token)
        .await
        .problem(401, "unauthorized");
    c.send(
        Method::DELETE,
        "/sessions/current",
        "/sessions/current",
        t,
        "k-logout",
        None,
        204,
        false,
    )
    .await;

    // That was every command the document lists.
    let mut commands = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if method != "get" {
                commands.insert(format!("{method} {path}"));
            }
        }
    }
    let missed: Vec<_> = commands.difference(&c.ran).collect();
    assert!(missed.is_empty(), "commands not run with a key: {missed:?}");

    // Stopped as a crash would stop it; then every byte of the data dir
    // (databases, their WAL files, key files) and of the server's log.
    let log = s.stderr.lock().unwrap().clone();
    let stopped = s.stop();
    let mut scanned = 0;
    for path in files(stopped.dir.path()) {
        let bytes = std::fs::read(&path).unwrap();
        scanned += bytes.len();
        for secret in &secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "secret {secret:?} found in the clear in {}",
                path.display()
            );
        }
    }
    assert!(scanned > 0, "the data dir holds the databases");
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "secret {secret:?} in the server's log"
        );
    }
}

/// Restarts `s` to abort right after its next commit, sends `POST path`
/// with `key` (the server dies before answering), and starts it again.
async fn crash_after_commit(
    s: Server,
    token: &str,
    path: &str,
    key: &str,
    body: &serde_json::Value,
) -> Server {
    let s = s
        .stop()
        .start(&[("ROLEBOOK_FAULT_ABORT_AFTER_COMMITS", "1")]);
    let lost = s
        .client
        .post(s.url(path))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await;
    assert!(lost.is_err(), "the server died before answering: {lost:?}");
    s.stop().start(&[])
}

#[tokio::test]
async fn a_command_committed_just_before_a_crash_gets_its_first_answer_after_restart() {
    use reqwest::Method;
    let s = Server::start();
    let token = s.owner().await;
    let group = json!({"name": "ops", "description": "operators", "members": []});
    let s = crash_after_commit(s, &token, "/groups", "crash-1", &group).await;
    let head = s.head().await;
    let again = keyed(
        &s,
        Method::POST,
        "/groups",
        Some(&token),
        "crash-1",
        Some(group.clone()),
    )
    .await
    .expect(201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["name"], "ops");
    assert!(
        again.position() <= head,
        "the answer of the commit before the crash"
    );
    assert_eq!(s.head().await, head, "nothing appended");
    let twice = keyed(
        &s,
        Method::POST,
        "/groups",
        Some(&token),
        "crash-1",
        Some(group),
    )
    .await
    .expect(201);
    assert_eq!(twice.text, again.text);
    let groups = s
        .get(&format!("/groups?at_least={head}"), &token)
        .await
        .expect(200);
    let named: Vec<_> = groups.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["name"] == "ops")
        .collect();
    assert_eq!(named.len(), 1, "one group, not two");
    assert_eq!(named[0]["group_id"], again.body["group_id"]);

    // An invitation committed before a crash: its kept temporary password
    // is in force after the restart (its credentials change was kept in
    // the same transaction and done at start).
    let invite = json!({"people": [{"email": "carol@example.com"}]});
    let s = crash_after_commit(s, &token, "/people", "crash-2", &invite).await;
    let head = s.head().await;
    let again = keyed(
        &s,
        Method::POST,
        "/people",
        Some(&token),
        "crash-2",
        Some(invite),
    )
    .await
    .expect(201);
    assert_eq!(s.head().await, head, "nothing appended");
    let password = again.body["created"][0]["temporary_password"]
        .as_str()
        .unwrap();
    s.first_login("carol@example.com", password).await;
}

#[tokio::test]
async fn an_undeclared_method_is_405_whatever_its_key() {
    let s = Server::start();
    let token = s.owner().await;
    let body = json!({"name": "ops", "description": "operators", "members": []});
    post_with_key(&s, &token, "used-key", body.clone())
        .await
        .expect(201);
    // PATCH /groups is not a route: 405 first, not 422 for the reused key.
    let r = s
        .send(
            s.client
                .patch(s.url("/groups"))
                .bearer_auth(&token)
                .header("idempotency-key", "used-key")
                .json(&body),
        )
        .await;
    r.problem(405, "method_not_allowed");
}
