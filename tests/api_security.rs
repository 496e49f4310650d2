//! Security, end to end through the real binary (issue 23, part 5):
//!
//! - a removed or deactivated person's sessions and API tokens are refused
//!   on the very next request, on every server of a PostgreSQL pair;
//! - another organization's token is refused (401) on every route that
//!   takes one, the routes read from the OpenAPI document that the router
//!   is built from (`rolebook::http::api`), not listed by hand;
//! - login is rate-limited per account (whatever the address) and per
//!   address (whatever the account), the addresses being loopback aliases
//!   the test's clients bind to;
//! - no password, temporary password, token or bucket secret appears in
//!   the event log, the read models, any file of the data dir, the
//!   server's log output (at debug level) or a Parquet export, after a
//!   scenario that makes every kind of secret;
//! - request headers and bodies are bounded; every answer carries the
//!   security headers.

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use common::{PgSchema, Server, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

const ADMIN_TOKEN: &str = "an-instance-admin-token-for-security-tests";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_and_deactivated_people_are_refused_at_once_on_every_server_of_a_pair() {
    let schema = Arc::new(PgSchema::new().create());
    let url = schema.url();
    let env = [("ROLEBOOK_DATABASE_URL", url.as_str())];
    let a = Server::start_with(&env);
    let b = Server::start_sharing_keys(&env, &a);
    let owner = a.owner().await;
    let mut tokens: Vec<(&str, String, String)> = Vec::new();
    for name in ["bob", "carol"] {
        let (_, _, session) = a.member(&owner, &format!("{name}@example.com"), None).await;
        let api = a
            .post("/api-tokens", &session, json!({"name": name}))
            .await
            .expect(201)
            .body["token"]
            .as_str()
            .unwrap()
            .to_string();
        tokens.push((name, session, api));
    }
    for s in [&a, &b] {
        for (_, session, api) in &tokens {
            s.get("/groups", session).await.expect(200);
            s.get("/groups", api).await.expect(200);
        }
    }
    // Bob removed on A: refused on B (and A) at the very next request.
    a.delete("/people/bob", &owner).await.expect(204);
    for s in [&b, &a] {
        s.get("/groups", &tokens[0].1)
            .await
            .problem(401, "unauthorized");
        s.get("/groups", &tokens[0].2)
            .await
            .problem(401, "unauthorized");
    }
    // Carol deactivated on B: refused on A (and B) at the very next request.
    let owner_b = b
        .call(
            Method::POST,
            "/sessions",
            None,
            Some(json!({"login": "admin@localhost", "password": PASSWORD})),
        )
        .await
        .expect(201)
        .body["token"]
        .as_str()
        .unwrap()
        .to_string();
    b.post("/people/carol/deactivate", &owner_b, json!({}))
        .await
        .expect(200);
    for s in [&a, &b] {
        s.get("/groups", &tokens[1].1)
            .await
            .problem(401, "unauthorized");
        s.get("/groups", &tokens[1].2)
            .await
            .problem(401, "unauthorized");
    }
    // The others are untouched.
    a.get("/groups", &owner).await.expect(200);
    b.get("/groups", &owner_b).await.expect(200);
}

/// A second organization and its Owner's session token.
async fn second_org(s: &Server, name: &str) -> String {
    let r = s
        .send(
            s.client
                .post(s.url("/api/v1/orgs"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&json!({"name": name, "owner_email": format!("boss@{name}.example")})),
        )
        .await
        .expect(201);
    let owner = &r.body["owner"];
    let r = s
        .call(
            Method::POST,
            &format!("/api/v1/orgs/{name}/sessions/password"),
            None,
            Some(json!({
                "login": owner["email"],
                "current_password": owner["temporary_password"],
                "new_password": PASSWORD,
            })),
        )
        .await
        .expect(201);
    r.body["token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organizations_token_is_refused_on_every_route() {
    let s = Server::start_with(&[("ROLEBOOK_ADMIN_TOKEN", ADMIN_TOKEN)]);
    let owner = s.owner().await;
    // One of each resource the paths name, in organization `default`.
    let (alice, _, _) = s.member(&owner, "alice@example.com", None).await;
    let group = s
        .post(
            "/groups",
            &owner,
            json!({"name": "ops", "description": "Ops", "members": [alice]}),
        )
        .await
        .expect(201)
        .body["group_id"]
        .as_str()
        .unwrap_or("ops")
        .to_string();
    s.post("/projects", &owner, json!({"name": "web"}))
        .await
        .expect(201);
    let token_id = s
        .post("/api-tokens", &owner, json!({"name": "ci"}))
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let stranger = second_org(&s, "globex").await;
    s.get("/api/v1/orgs/globex/groups", &stranger)
        .await
        .expect(200);

    let doc = s
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .expect(200)
        .body;
    let value_of = |param: &str| -> String {
        match param {
            "org" => "default".into(),
            "user" => alice.clone(),
            "group" => group.clone(),
            "project" => "web".into(),
            "role" => "Admin".into(),
            "id" => token_id.clone(),
            // Any other parameter: a well-formed id nobody holds.
            _ => "0190f5c8-0000-7000-8000-00000000beef".into(),
        }
    };
    let query_value = |param: &str| -> String {
        match param {
            "user" => alice.clone(),
            "permission" => "organization.view".into(),
            "project" => "web".into(),
            other => panic!("a required query parameter this test does not know: {other}"),
        }
    };
    let head = s.head().await;
    let mut tried = 0;
    let mut public = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            // Public operations (health, the document, login, first
            // password, creating an organization with the admin token)
            // take no organization token.
            let takes_token = op["security"].as_array().is_none_or(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|o| !o.is_empty()))
            });
            if !takes_token || !path.contains("{org}") {
                public.insert(format!("{method} {path}"));
                continue;
            }
            let concrete = path
                .split('/')
                .map(
                    |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(param) => value_of(param),
                        None => segment.to_string(),
                    },
                )
                .collect::<Vec<_>>()
                .join("/");
            // Required query parameters, well-formed: the refusal must be
            // the token's, not the request's shape.
            let query: Vec<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query" && p["required"] == true)
                .map(|p| {
                    let name = p["name"].as_str().unwrap();
                    format!("{name}={}", query_value(name))
                })
                .collect();
            let concrete = if query.is_empty() {
                concrete
            } else {
                format!("{concrete}?{}", query.join("&"))
            };
            let body =
                matches!(method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
            let r = s
                .call(method.clone(), &concrete, Some(&stranger), body)
                .await;
            assert_eq!(
                (r.status, r.code()),
                (401, "unauthorized"),
                "{method} {concrete} with another organization's token: {:?}",
                r.body
            );
            tried += 1;
        }
    }
    assert!(tried >= 50, "only {tried} routes tried");
    assert_eq!(s.head().await, head, "nothing was written");
    println!("{tried} operations refused another organization's token; public: {public:?}");
}

/// A client whose connections come from `ip` (a loopback alias).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn login(s: &Server, from: &reqwest::Client, login: &str, password: &str) -> (u16, Value) {
    let r = from
        .post(s.url("/sessions"))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_rate_limited_per_account_and_per_address() {
    let s = Server::start();
    let owner = s.owner().await;
    s.member(&owner, "bob@example.com", None).await;
    s.member(&owner, "carol@example.com", None).await;
    s.member(&owner, "dave@example.com", None).await;

    // Per account: 20 wrong guesses at bob's password from one address;
    // then even the right one is refused, from any address.
    let one = client_from("127.0.0.11");
    for _ in 0..20 {
        let (status, body) = login(&s, &one, "bob", "not-the-password").await;
        assert_eq!(status, 401, "{body}");
    }
    for from in ["127.0.0.11", "127.0.0.12"] {
        let (status, body) = login(&s, &client_from(from), "bob", PASSWORD).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (429, Some("too_many_attempts")),
            "{from}: {body}"
        );
        assert!(body["retry_after_seconds"].as_u64().unwrap() >= 1);
    }
    // Per address: 20 guesses at 20 different accounts from one address;
    // then that address is refused for anyone, others are not.
    let spray = client_from("127.0.0.13");
    for i in 0..20 {
        let (status, _) = login(&s, &spray, &format!("nobody{i}"), "guess").await;
        assert_eq!(status, 401);
    }
    let (status, body) = login(&s, &spray, "carol", PASSWORD).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_attempts")),
        "{body}"
    );
    let (status, body) = login(&s, &client_from("127.0.0.14"), "carol", PASSWORD).await;
    assert_eq!(status, 201, "carol from elsewhere: {body}");
    let (status, body) = login(&s, &client_from("127.0.0.15"), "dave", PASSWORD).await;
    assert_eq!(status, 201, "dave: {body}");
}

/// Adds a secret an answer showed (`value`, a JSON string) to `secrets`.
fn keep(secrets: &mut Vec<(String, String)>, what: &str, value: &Value) {
    let secret = value.as_str().unwrap_or_else(|| panic!("{what}: {value}"));
    secrets.push((what.to_string(), secret.to_string()));
}

/// Every occurrence of any of `secrets` (as they are, and hex-encoded) in
/// `bytes`, named by `what`.
fn leaks(what: &str, bytes: &[u8], secrets: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (name, secret) in secrets {
        for form in [secret.clone(), hex::encode(secret)] {
            if bytes.windows(form.len()).any(|w| w == form.as_bytes()) {
                found.push(format!("{name} in {what}"));
            }
        }
    }
    found
}

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Every row of every table of the server's PostgreSQL schema, as text.
async fn postgres_rows(schema: &PgSchema) -> Vec<u8> {
    let pool = sqlx::PgPool::connect(&testkit::postgres::database_url())
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
    )
    .bind(&schema.name)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!tables.is_empty());
    let mut out = Vec::new();
    for t in tables {
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT t::text FROM {}.{t} t", schema.name))
                .fetch_all(&pool)
                .await
                .unwrap();
        for r in rows {
            out.extend_from_slice(r.as_bytes());
            out.push(b'\n');
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_kept_in_the_log_the_read_models_the_server_log_or_an_export() {
    let s = Server::start_with(&[("ROLEBOOK_ADMIN_TOKEN", ADMIN_TOKEN), ("RUST_LOG", "debug")]);
    let mut secrets: Vec<(String, String)> = vec![
        ("the owner's temporary password".into(), s.owner_login().1),
        ("the admin token".into(), ADMIN_TOKEN.into()),
        ("a password".into(), PASSWORD.into()),
    ];
    let owner = s.owner().await;
    secrets.push(("a session token".into(), owner.clone()));
    let (created, _) = s.invite(&owner, "bob@example.com", None).await;
    keep(
        &mut secrets,
        "an invitee's temporary password",
        &created["temporary_password"],
    );
    let bob = s
        .first_login(
            "bob@example.com",
            created["temporary_password"].as_str().unwrap(),
        )
        .await;
    secrets.push(("a session token".into(), bob.clone()));
    // Secrets the API shows once, in the order they can be made.
    for (what, token, path, body, field) in [
        (
            "an API token",
            &bob,
            "/api-tokens",
            json!({"name": "laptop"}),
            "token",
        ),
        (
            "a reset temporary password",
            &owner,
            "/people/bob/password-reset",
            json!({}),
            "temporary_password",
        ),
        (
            "a service account token",
            &owner,
            "/service-accounts",
            json!({"name": "deployer", "description": "CI"}),
            "token",
        ),
        (
            "a regenerated service account token",
            &owner,
            "/service-accounts/deployer/regenerate-token",
            json!({}),
            "token",
        ),
        (
            "a SCIM token",
            &owner,
            "/okta/scim-token",
            json!({}),
            "token",
        ),
    ] {
        let r = s.post(path, token, body).await.expect(201);
        keep(&mut secrets, what, &r.body[field]);
    }
    let bucket_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
    s.put(
        "/audit-logs/streaming",
        &owner,
        json!({
            "provider": "s3",
            "bucket": "audit",
            "region": "eu-west-1",
            "endpoint": "http://127.0.0.1:9",
            "access_key_id": "AKIAEXAMPLE",
            "secret_access_key": bucket_secret,
        }),
    )
    .await
    .expect(200);
    secrets.push(("a bucket secret".into(), bucket_secret.into()));
    let second = second_org(&s, "globex").await;
    secrets.push(("a second organization's session token".into(), second));
    // Requests that carry secrets in headers and bodies, failed ones too.
    s.call(
        Method::POST,
        "/sessions",
        None,
        Some(json!({"login": "bob", "password": PASSWORD})),
    )
    .await;
    s.get("/groups", "rb_not-a-token")
        .await
        .problem(401, "unauthorized");
    let head = s.head().await;
    s.get(&format!("/groups?at_least={head}"), &owner)
        .await
        .expect(200);
    s.audit(&owner, head, "").await;

    // A Parquet export of the whole log (today included).
    let export = tempfile::tempdir().unwrap();
    let args = vec![
        "--data-dir".to_string(),
        s.dir.path().display().to_string(),
        "replay".into(),
        "export".into(),
        "--out".into(),
        export.path().display().to_string(),
        "--include-today".into(),
    ];
    let env = s.cli_env();
    let out = {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rolebook"));
        cmd.args(&args).env_remove("ROLEBOOK_DATABASE_URL");
        for (k, v) in &env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parquet = files(export.path());
    assert!(parquet
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "parquet")));

    let mut found = Vec::new();
    for file in files(s.dir.path()).into_iter().chain(parquet) {
        found.extend(leaks(
            &file.display().to_string(),
            &std::fs::read(&file).unwrap(),
            &secrets,
        ));
    }
    if let Some(schema) = &s.schema {
        found.extend(leaks("PostgreSQL", &postgres_rows(schema).await, &secrets));
    }
    let log = s.stderr.lock().unwrap().clone();
    assert!(log.contains("DEBUG"), "the server logged at debug level");
    found.extend(leaks("the server's log", log.as_bytes(), &secrets));
    assert!(found.is_empty(), "secrets kept: {found:#?}");
    println!(
        "{} secrets, {} bytes of server log, every file of the data dir and the export: none found",
        secrets.len(),
        log.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_and_bodies_are_bounded_and_every_answer_carries_the_security_headers() {
    let s = Server::start();
    let owner = s.owner().await;
    let expected = [
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-store"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        ("cross-origin-resource-policy", "same-origin"),
    ];
    let answers = [
        s.get("/groups", &owner).await,
        s.get("/people/export.csv", &owner).await,
        s.call(Method::GET, "/api/v1/health", None, None).await,
        s.call(Method::GET, "/api/v1/openapi.json", None, None)
            .await,
        s.get("/groups", "rb_forged").await,
        s.get("/no/such/route", &owner).await,
        s.get("/groups?limit=5000", &owner).await,
        s.call(
            Method::GET,
            "/api/v1/orgs/default/scim/v2/Users",
            Some("nope"),
            None,
        )
        .await,
    ];
    for r in &answers {
        for (name, value) in expected {
            assert_eq!(
                r.headers.get(name).and_then(|v| v.to_str().ok()),
                Some(value),
                "{name} on a {} answer",
                r.status
            );
        }
    }
    // Pages are bounded.
    assert_eq!(answers[6].status, 422);
    // Headers: 32 KiB in all at most.
    let r = s
        .send(
            s.client
                .get(s.url("/groups"))
                .bearer_auth(&owner)
                .header("x-padding", "a".repeat(40 * 1024)),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (431, "headers_too_large"),
        "{:?}",
        r.body
    );
    // Bodies: 1 MiB at most.
    let r = s
        .send(
            s.client
                .post(s.url("/groups"))
                .bearer_auth(&owner)
                .header("content-type", "application/json")
                .body(format!(
                    "{{\"name\": \"big\", \"description\": \"{}\"}}",
                    "a".repeat(2 * 1024 * 1024)
                )),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (413, "body_too_large"),
        "{:?}",
        r.body
    );
}
