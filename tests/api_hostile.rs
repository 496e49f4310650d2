//! End to end over HTTP: hostile input gets a clear 4xx and appends
//! nothing; names are stored literally; the CSV export defuses formulas;
//! and the OpenAPI document matches the routes served, one to one.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Server;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};

/// Sends raw bytes and returns the status line of the answer.
fn raw(s: &Server, request: &[u8]) -> String {
    let address = s.base.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).to_string();
    text.lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn malformed_oversized_and_mistyped_bodies() {
    let s = Server::start();
    let owner = s.owner().await;
    let head = s.head().await;
    let post_raw = |body: Vec<u8>, content_type: &'static str| {
        s.client
            .post(s.url("/groups"))
            .bearer_auth(&owner)
            .header(CONTENT_TYPE, content_type)
            .body(body)
    };

    // Malformed JSON: 400 malformed_body.
    for body in [&b"{not json"[..], b"", b"{\"name\": \"a\",", b"\xff\xfe"] {
        s.send(post_raw(body.to_vec(), "application/json"))
            .await
            .problem(400, "malformed_body");
    }
    // Deep nesting stops at the parser's recursion limit.
    let deep = format!(
        "{{\"name\": {}1{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let r = s
        .send(post_raw(deep.into_bytes(), "application/json"))
        .await;
    assert!(matches!(r.status, 400 | 422), "{r:?}");
    assert!(
        r.code() == "malformed_body" || r.code() == "invalid_body",
        "{r:?}"
    );

    // Over 1 MiB: 413.
    let big = json!({"name": "x".repeat(1_100_000), "description": "d"}).to_string();
    s.send(post_raw(big.into_bytes(), "application/json"))
        .await
        .problem(413, "body_too_large");

    // Not JSON at all.
    s.send(post_raw(
        b"name=x".to_vec(),
        "application/x-www-form-urlencoded",
    ))
    .await
    .problem(415, "unsupported_media_type");

    // Wrong types and unknown fields: 422.
    for body in [
        json!({"name": 5, "description": "d"}),
        json!({"name": "x", "description": ["d"]}),
        json!({"name": "x", "description": "d", "members": "alice"}),
        json!({"name": "x", "description": "d", "role": "Owner"}),
        json!({"name": "x"}),
        json!([1, 2, 3]),
        json!(null),
    ] {
        s.post("/groups", &owner, body)
            .await
            .problem(422, "invalid_body");
    }
    s.put(
        "/projects/x/repository-access/admin",
        &owner,
        json!({"access": 1}),
    )
    .await
    .problem(422, "invalid_body");

    // Bad values: 422 with the field.
    let r = s
        .post(
            "/groups",
            &owner,
            json!({"name": "n".repeat(101), "description": "d"}),
        )
        .await
        .problem(422, "too_long");
    assert_eq!(r.body["errors"][0]["field"], "name");
    s.post(
        "/groups",
        &owner,
        json!({"name": "a\u{0}b", "description": "d"}),
    )
    .await
    .problem(422, "invalid_characters");

    // Unknown or mistyped query parameters: 400.
    s.get("/people?admin=true", &owner)
        .await
        .problem(400, "malformed_body");
    s.get("/people?at_least=-1", &owner)
        .await
        .problem(400, "malformed_body");
    s.get("/audit-logs?limit=many", &owner)
        .await
        .problem(400, "malformed_body");

    // Unknown routes and methods.
    s.get("/nothing-here", &owner)
        .await
        .problem(404, "not_found");
    s.call(Method::PATCH, "/people", Some(&owner), None)
        .await
        .problem(405, "method_not_allowed");

    assert_eq!(s.head().await, head, "hostile bodies appended something");
}

#[tokio::test]
async fn names_are_stored_literally_and_csv_formulas_are_defused() {
    let s = Server::start();
    let owner = s.owner().await;
    let sql = [
        "x'); DROP TABLE audit_log; --",
        "Robert\"); DELETE FROM events WHERE (\"1\"=\"1",
        "' OR '1'='1",
    ];
    let mut last = 0;
    for name in sql
        .iter()
        .chain(&["=cmd|' /C calc'!A0", "+1", "@SUM(A1)", "-2", "=cmd"])
    {
        let r = s
            .post(
                "/groups",
                &owner,
                json!({"name": name, "description": name}),
            )
            .await
            .expect(201);
        assert_eq!(r.body["name"], *name);
        last = r.position();
    }
    let r = s
        .get(&format!("/groups?at_least={last}"), &owner)
        .await
        .expect(200);
    let stored: BTreeSet<String> = r.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_string())
        .collect();
    for name in sql {
        assert!(
            stored.contains(name),
            "{name} not stored literally: {stored:?}"
        );
        let r = s
            .get(
                &format!(
                    "/check?user={}&permission=organization.view",
                    urlencode(name)
                ),
                &owner,
            )
            .await;
        r.problem(404, "user_not_found");
    }
    // The audit log still answers, with the names as given.
    let events = s.audit(&owner, last, "resource_type=Group").await;
    assert_eq!(events.len(), 8);
    assert!(events.iter().any(|e| e["resource_name"] == sql[0]));
    let r = s
        .get(
            &format!("/audit-logs?resource_id={}", urlencode(sql[2])),
            &owner,
        )
        .await
        .expect(200);
    assert_eq!(r.body["events"], json!([]));
    let r = s
        .get(&format!("/people?q={}", urlencode(sql[2])), &owner)
        .await
        .expect(200);
    assert_eq!(r.body["people"], json!([]));

    // In the export, cells a spreadsheet would run start with a quote.
    let r = s
        .get(
            &format!("/audit-logs/export.csv?resource_type=Group&at_least={last}"),
            &owner,
        )
        .await
        .expect(200);
    let mut reader = csv::Reader::from_reader(r.text.as_bytes());
    let names: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[6].to_string())
        .collect();
    for (given, written) in [
        ("=cmd", "'=cmd"),
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1", "'+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-2", "'-2"),
    ] {
        assert!(names.contains(&written.to_string()), "{given}: {names:?}");
        assert!(!names.contains(&given.to_string()), "{given} left as is");
    }
    assert!(names.contains(&sql[0].to_string()));
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn path_traversal_and_header_injection() {
    let s = Server::start();
    let owner = s.owner().await;
    let head = s.head().await;

    // Ids that try to leave their segment name nothing.
    s.delete("/people/..%2F..%2Fetc", &owner)
        .await
        .problem(404, "user_not_found");
    s.get("/people/..%2F..%2Fetc%2Fpasswd/permissions", &owner)
        .await
        .problem(404, "user_not_found");
    s.patch("/groups/..%2F..", &owner, json!({"description": "x"}))
        .await
        .problem(404, "group_not_found");
    s.get("/projects/..%5C..%5Cwindows/members", &owner)
        .await
        .problem(404, "project_not_found");
    s.call(
        Method::GET,
        "/api/v1/orgs/..%2Fdefault/groups",
        Some(&owner),
        None,
    )
    .await
    .problem(404, "org_not_found");

    // A header value with bytes outside visible ASCII is no token.
    let mut bad = HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap();
    bad.set_sensitive(true);
    let r = s
        .send(
            s.client
                .post(s.url("/groups"))
                .header(AUTHORIZATION, bad)
                .json(&json!({"name": "x", "description": "y"})),
        )
        .await;
    r.problem(401, "unauthorized");
    // Two schemes, or a token with a forged suffix.
    for value in [
        format!("Bearer {owner}, Bearer {owner}"),
        format!("Basic {owner}"),
        format!("Bearer {owner}%0d%0aX-Admin: 1"),
    ] {
        let r = s
            .send(
                s.client
                    .post(s.url("/groups"))
                    .header(AUTHORIZATION, value)
                    .json(&json!({"name": "x", "description": "y"})),
            )
            .await;
        r.problem(401, "unauthorized");
    }
    // A CRLF sequence in the path is no route and injects no header.
    let r = s
        .call(
            Method::GET,
            "/groups%0D%0ASet-Cookie:%20a=b",
            Some(&owner),
            None,
        )
        .await
        .problem(404, "not_found");
    assert!(r.headers.get("set-cookie").is_none());

    // Raw requests with CR inside a header value or a folded header are
    // refused by the HTTP parser itself (400) before any handler runs.
    let body = r#"{"name":"injected","description":"y"}"#;
    for header in [
        "User-Agent: x\rX-Injected: 1\r\n",
        "User-Agent: x\r\n folded: 1\r\n",
    ] {
        let request = format!(
            "POST /api/v1/orgs/default/groups HTTP/1.1\r\nHost: localhost\r\n\
             Authorization: Bearer {owner}\r\nContent-Type: application/json\r\n{header}\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let status = raw(&s, request.as_bytes());
        assert!(status.starts_with("HTTP/1.1 400"), "{header:?}: {status}");
    }
    assert_eq!(s.head().await, head, "hostile requests appended something");
    let r = s.get("/groups", &owner).await.expect(200);
    assert_eq!(r.body["groups"], json!([]));
}

/// Every route API.md lists, as (method, path).
const API_MD: &[(&str, &str)] = &[
    ("POST", "/api/v1/orgs"),
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/sessions"),
    ("POST", "/sessions/password"),
    ("DELETE", "/sessions/current"),
    ("POST", "/api-tokens"),
    ("DELETE", "/api-tokens/{id}"),
    ("GET", "/people"),
    ("POST", "/people"),
    ("DELETE", "/people/{user}"),
    ("PUT", "/people/{user}/role"),
    ("DELETE", "/people/{user}/role"),
    ("POST", "/people/{user}/password-reset"),
    ("GET", "/people/{user}/permissions"),
    ("GET", "/groups"),
    ("POST", "/groups"),
    ("PATCH", "/groups/{group}"),
    ("PUT", "/groups/{group}/role"),
    ("DELETE", "/groups/{group}"),
    ("GET", "/permissions"),
    ("GET", "/roles"),
    ("POST", "/roles"),
    ("PUT", "/roles/{role}"),
    ("DELETE", "/roles/{role}"),
    ("GET", "/projects"),
    ("POST", "/projects"),
    ("DELETE", "/projects/{project}"),
    ("PUT", "/projects/{project}/owner"),
    ("GET", "/projects/{project}/members"),
    ("PUT", "/projects/{project}/members/{subject}"),
    ("DELETE", "/projects/{project}/members/{subject}"),
    ("PUT", "/projects/{project}/repository-access/{user}"),
    ("GET", "/projects/{project}/repository-role-mapping"),
    ("PUT", "/projects/{project}/repository-role-mapping"),
    ("GET", "/check"),
    ("POST", "/check"),
    ("GET", "/who-can"),
    ("GET", "/audit-logs"),
    ("GET", "/audit-logs/export.csv"),
    ("GET", "/audit-logs/streaming"),
    ("PUT", "/audit-logs/streaming"),
    ("DELETE", "/audit-logs/streaming"),
    ("GET", "/settings"),
    ("PATCH", "/settings"),
];

/// The routes added beyond API.md (issue 18: one item of each list, the
/// people CSV export; issue 17: service accounts, deactivation), as
/// (method, path).
const BEYOND_API_MD: &[(&str, &str)] = &[
    ("GET", "/people/{user}"),
    ("GET", "/people/export.csv"),
    ("GET", "/groups/{group}"),
    ("GET", "/roles/{role}"),
    ("GET", "/projects/{project}"),
    ("POST", "/people/{user}/deactivate"),
    ("POST", "/people/{user}/reactivate"),
    ("GET", "/service-accounts"),
    ("POST", "/service-accounts"),
    ("GET", "/service-accounts/{service_account}"),
    ("PATCH", "/service-accounts/{service_account}"),
    ("DELETE", "/service-accounts/{service_account}"),
    ("POST", "/service-accounts/{service_account}/deactivate"),
    ("POST", "/service-accounts/{service_account}/reactivate"),
    (
        "POST",
        "/service-accounts/{service_account}/regenerate-token",
    ),
    ("GET", "/okta/scim"),
    ("PATCH", "/okta/scim"),
    ("POST", "/okta/scim-token"),
    ("DELETE", "/okta/scim-token"),
    ("GET", "/settings/workflows"),
    ("PATCH", "/settings/workflows"),
    ("GET", "/settings/init-agent"),
    ("PUT", "/settings/init-agent"),
    ("GET", "/settings/init-agent/options"),
    ("GET", "/settings/ip-allow-list"),
    ("PUT", "/settings/ip-allow-list"),
    ("GET", "/notifications"),
    ("POST", "/notifications"),
    ("GET", "/notifications/{id}"),
    ("PATCH", "/notifications/{id}"),
    ("DELETE", "/notifications/{id}"),
    ("POST", "/notifications/{id}/test"),
    // Issue 25: the console's Configure Streaming tests a target first.
    ("POST", "/audit-logs/streaming/test"),
    ("POST", "/notifications/{id}/resume"),
    ("GET", "/notifications/{id}/deliveries"),
    ("GET", "/okta/sso"),
    ("PUT", "/okta/sso"),
    ("DELETE", "/okta/sso"),
    ("GET", "/sso/login"),
    ("GET", "/sso/callback"),
];

/// The error codes API.md lists per route, as (method, path, status, code).
const API_MD_CODES: &[(&str, &str, &str, &str)] = &[
    ("POST", "/api/v1/orgs", "409", "org_exists"),
    ("POST", "/sessions", "401", "invalid_credentials"),
    ("POST", "/sessions", "403", "password_change_required"),
    ("POST", "/sessions/password", "401", "invalid_credentials"),
    ("POST", "/sessions/password", "422", "weak_password"),
    ("DELETE", "/api-tokens/{id}", "404", "token_not_found"),
    ("POST", "/people", "422", "invalid_email"),
    ("POST", "/people", "409", "email_taken"),
    ("POST", "/people", "409", "username_taken"),
    ("DELETE", "/people/{user}", "409", "user_owns_projects"),
    ("DELETE", "/people/{user}", "409", "last_owner"),
    ("PUT", "/people/{user}/role", "404", "role_not_found"),
    ("PUT", "/people/{user}/role", "422", "role_scope_mismatch"),
    ("PUT", "/people/{user}/role", "409", "last_owner"),
    (
        "DELETE",
        "/people/{user}/role",
        "409",
        "not_directly_assigned",
    ),
    ("POST", "/groups", "409", "group_name_taken"),
    ("PATCH", "/groups/{group}", "404", "user_not_found"),
    ("POST", "/roles", "422", "unknown_permission"),
    ("POST", "/roles", "422", "role_scope_mismatch"),
    ("POST", "/roles", "409", "role_name_taken"),
    ("PUT", "/roles/{role}", "409", "role_is_predefined"),
    ("DELETE", "/roles/{role}", "409", "role_is_predefined"),
    ("DELETE", "/roles/{role}", "409", "role_in_use"),
    ("POST", "/projects", "409", "project_name_taken"),
    ("PUT", "/projects/{project}/owner", "422", "not_a_member"),
    (
        "PUT",
        "/projects/{project}/members/{subject}",
        "422",
        "role_scope_mismatch",
    ),
    (
        "DELETE",
        "/projects/{project}/members/{subject}",
        "409",
        "not_directly_assigned",
    ),
    // Renaming moves the handle, which stays unique.
    ("PATCH", "/settings", "409", "org_exists"),
];

/// The routes that read a JSON body (API.md's body column).
const WITH_BODY: &[(&str, &str)] = &[
    ("POST", "/api/v1/orgs"),
    ("POST", "/sessions"),
    ("POST", "/sessions/password"),
    ("POST", "/api-tokens"),
    ("POST", "/people"),
    ("PUT", "/people/{user}/role"),
    ("POST", "/groups"),
    ("PATCH", "/groups/{group}"),
    ("PUT", "/groups/{group}/role"),
    ("POST", "/roles"),
    ("PUT", "/roles/{role}"),
    ("POST", "/projects"),
    ("PUT", "/projects/{project}/owner"),
    ("PUT", "/projects/{project}/members/{subject}"),
    ("PUT", "/projects/{project}/repository-access/{user}"),
    ("PUT", "/projects/{project}/repository-role-mapping"),
    ("POST", "/check"),
    ("PUT", "/audit-logs/streaming"),
    ("POST", "/audit-logs/streaming/test"),
    ("PATCH", "/settings"),
    // Beyond API.md.
    ("POST", "/people/{user}/reactivate"),
    ("POST", "/service-accounts"),
    ("PATCH", "/service-accounts/{service_account}"),
    ("POST", "/service-accounts/{service_account}/reactivate"),
    (
        "POST",
        "/service-accounts/{service_account}/regenerate-token",
    ),
    ("PATCH", "/okta/scim"),
    ("PATCH", "/settings/workflows"),
    ("PUT", "/settings/init-agent"),
    ("PUT", "/settings/ip-allow-list"),
    ("POST", "/notifications"),
    ("PATCH", "/notifications/{id}"),
    ("PUT", "/okta/sso"),
];

/// The routes without a bearer token.
const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/sessions"),
    ("POST", "/sessions/password"),
    ("GET", "/sso/login"),
    ("GET", "/sso/callback"),
];

/// Lists API.md writes as bare arrays: paged on request, the next cursor
/// in headers.
const ARRAY_LISTS: &[&str] = &["/roles", "/projects", "/projects/{project}/members"];

/// Lists API.md writes as objects: `next_cursor` in the body.
const OBJECT_LISTS: &[&str] = &["/people", "/groups", "/who-can", "/audit-logs"];

fn full_path(p: &str) -> String {
    if p.starts_with("/api/") {
        p.to_string()
    } else {
        format!("/api/v1/orgs/{{org}}{p}")
    }
}

/// The `code`s an error answer lists in `x-problem-codes` (each also
/// written `` `code` `` in its description).
fn codes(response: &Value) -> Vec<String> {
    let listed: Vec<String> = response["x-problem-codes"]
        .as_array()
        .map(|cs| cs.iter().map(|c| c.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    let d = response["description"].as_str().unwrap_or("");
    for c in &listed {
        assert!(
            !c.is_empty() && c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
            "not a code: {c:?}"
        );
        assert!(d.contains(&format!("`{c}`")), "{c} not in {d:?}");
    }
    listed
}

/// Whether `schema` is a schema: a `$ref` into the components, or an
/// inline one with a type or a composition.
fn is_schema(doc: &Value, schema: &Value) -> bool {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return doc["components"]["schemas"][name].is_object();
    }
    ["type", "allOf", "oneOf", "properties", "items"]
        .iter()
        .any(|k| schema.get(*k).is_some())
}

/// Every operation of the document describes its success answer with a
/// schema (204 aside), its request body with one where API.md has a body,
/// and names the error codes API.md lists for it, the conventions' codes
/// (401/403 on authenticated routes, 404 `org_not_found`, 400
/// `malformed_body` where a body is read, 503 `projection_lagging` where
/// `at_least` is read) and the paging of lists.
#[tokio::test]
async fn openapi_describes_bodies_answers_and_error_codes() {
    let s = Server::start();
    let doc = s
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .expect(200)
        .body;
    let op = |method: &str, path: &str| -> Value {
        doc["paths"][full_path(path)][method.to_lowercase()].clone()
    };
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, o) in item.as_object().unwrap() {
            let what = format!("{method} {path}");
            let responses = o["responses"].as_object().unwrap();
            // A success, or the redirect of a sign-in (`/sso/login`).
            let success: Vec<(&String, &Value)> = responses
                .iter()
                .filter(|(k, _)| k.starts_with('2') || *k == "303")
                .collect();
            assert_eq!(success.len(), 1, "{what}: one success answer");
            let (status, answer) = success[0];
            if status != "204" && status != "303" {
                let content = answer["content"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{what}: no content"));
                assert!(!content.is_empty(), "{what}: no content");
                for (media, c) in content {
                    assert!(
                        is_schema(&doc, &c["schema"]),
                        "{what} {media}: no schema: {c}"
                    );
                }
            }
            // Error answers are problem+json with their codes named.
            for (status, r) in responses
                .iter()
                .filter(|(k, _)| !k.starts_with('2') && *k != "303")
            {
                assert!(
                    r["content"]["application/problem+json"]["schema"]["$ref"]
                        .as_str()
                        .is_some_and(|r| r.ends_with("/ProblemBody")),
                    "{what} {status}: not a problem"
                );
                assert!(!codes(r).is_empty(), "{what} {status}: names no code: {r}");
            }
            assert!(
                responses.contains_key("default"),
                "{what}: no default answer"
            );
            let has_body = o.get("requestBody").is_some();
            let listed = WITH_BODY
                .iter()
                .any(|(m, p)| m.eq_ignore_ascii_case(method) && full_path(p) == *path);
            assert_eq!(
                has_body, listed,
                "{what}: request body documented {has_body}, in API.md {listed}"
            );
            if has_body {
                assert!(
                    is_schema(
                        &doc,
                        &o["requestBody"]["content"]["application/json"]["schema"]
                    ),
                    "{what}: request body without a schema"
                );
                assert!(
                    codes(&o["responses"]["400"]).contains(&"malformed_body".to_string()),
                    "{what}"
                );
                assert!(
                    codes(&o["responses"]["413"]).contains(&"body_too_large".to_string()),
                    "{what}"
                );
            }
            let public = PUBLIC
                .iter()
                .any(|(m, p)| m.eq_ignore_ascii_case(method) && full_path(p) == *path);
            if public {
                assert_eq!(
                    o["security"],
                    json!([]),
                    "{what}: public route needs no token"
                );
            } else {
                assert!(
                    o.get("security").is_none(),
                    "{what}: the bearer scheme applies"
                );
                assert!(
                    codes(&o["responses"]["401"]).contains(&"unauthorized".to_string()),
                    "{what}"
                );
                assert!(
                    codes(&o["responses"]["403"]).contains(&"forbidden".to_string()),
                    "{what}"
                );
            }
            if path.starts_with("/api/v1/orgs/{org}") {
                assert!(
                    codes(&o["responses"]["404"]).contains(&"org_not_found".to_string()),
                    "{what}"
                );
            }
            let params: Vec<&str> = o["parameters"]
                .as_array()
                .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
                .unwrap_or_default();
            for name in path
                .split('/')
                .filter_map(|p| p.strip_prefix('{')?.strip_suffix('}'))
            {
                assert!(
                    params.contains(&name),
                    "{what}: path parameter {name} undocumented"
                );
            }
            if params.contains(&"at_least") {
                assert!(
                    codes(&o["responses"]["503"]).contains(&"projection_lagging".to_string()),
                    "{what}"
                );
            }
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (method, path, status, code) in API_MD_CODES {
        let o = op(method, path);
        assert!(
            codes(&o["responses"][*status]).contains(&code.to_string()),
            "{method} {path}: {status} {code} undocumented: {}",
            o["responses"]
        );
    }
    // Paging: every list takes limit and cursor; the object lists answer
    // next_cursor, the bare arrays announce the next page in headers.
    for path in ARRAY_LISTS.iter().chain(OBJECT_LISTS) {
        let o = op("GET", path);
        let params: Vec<&str> = o["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(
            params.contains(&"limit") && params.contains(&"cursor"),
            "GET {path}: {params:?}"
        );
    }
    for path in ARRAY_LISTS {
        let headers = &op("GET", path)["responses"]["200"]["headers"];
        assert!(
            headers["Rolebook-Next-Cursor"].is_object(),
            "GET {path}: {headers}"
        );
        assert!(headers["Link"].is_object(), "GET {path}: {headers}");
    }
    // Commands say where their position is; queries by POST do not.
    let r = &op("POST", "/groups")["responses"]["201"];
    assert!(r["headers"]["Rolebook-Position"].is_object(), "{r}");
    let r = &op("DELETE", "/groups/{group}")["responses"]["204"];
    assert!(r["headers"]["Rolebook-Position"].is_object(), "{r}");
    let check = op("POST", "/check");
    assert!(check["responses"]["200"]["headers"].is_null(), "{check}");
    assert!(!codes(&check["responses"]["409"]).contains(&"concurrent_modification".to_string()));
}

/// The OpenAPI document lists exactly API.md's routes (and the reads
/// added beyond it), and the server
/// serves exactly the documented methods on each documented path.
#[tokio::test]
async fn openapi_matches_the_routes_one_to_one() {
    let s = Server::start();
    let r = s
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .expect(200);
    let doc = r.body;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["summary"].is_string(), "{method} {path}");
            operation_ids.insert(op["operationId"].as_str().unwrap().to_string());
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    assert_eq!(
        operation_ids.len(),
        documented.len(),
        "operationIds must be unique"
    );
    let expected: BTreeSet<(String, String)> = API_MD
        .iter()
        .chain(BEYOND_API_MD)
        .map(|(m, p)| {
            let full = if p.starts_with("/api/") {
                p.to_string()
            } else {
                format!("/api/v1/orgs/{{org}}{p}")
            };
            (m.to_string(), full)
        })
        .collect();
    assert_eq!(
        documented, expected,
        "the document differs from API.md and the reads added beyond it"
    );

    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        let concrete: String = path
            .split('/')
            .map(|seg| match seg {
                "{org}" => "default",
                s if s.starts_with('{') => "x",
                s => s,
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let r = s.call(m, &concrete, None, None).await;
            let served =
                !(r.status == 405 || (r.status == 404 && r.body["detail"] == "no such route"));
            let listed = documented.contains(&(method.to_string(), path.clone()));
            assert_eq!(
                served, listed,
                "{method} {concrete}: served {served}, documented {listed}: {r:?}"
            );
        }
    }
}

/// What the hostile-input run found, each through the real binary: a JSON
/// array where an object is expected, a missing bearer on organization
/// creation, `at_least` past int64 or past the log's head.
#[tokio::test]
async fn contract_breaks_the_hostile_run_found_stay_fixed() {
    let s = Server::start();
    let owner = s.owner().await;
    let head = s.head().await;

    // A JSON array is not a body: 422 and nothing written.
    for body in [json!([]), json!(["renamed", "https://x.example"]), json!(7)] {
        s.patch("/settings", &owner, body)
            .await
            .problem(422, "invalid_body");
    }
    assert_eq!(s.head().await, head, "a refused body appended something");
    let settings = s.get("/settings", &owner).await.expect(200);
    assert_eq!(settings.body["name"], "default");

    // Found by schemathesis (tests/api_schemathesis.rs): a page size of 0
    // on the audit log and its export (which ignores it) is refused as
    // documented; the people export is not paged, so paging parameters
    // are unknown there; optional bodies may be left out.
    for path in ["/audit-logs?limit=0", "/audit-logs/export.csv?limit=0"] {
        s.get(path, &owner).await.problem(422, "invalid_limit");
    }
    for path in ["/people/export.csv?limit=1", "/people/export.csv?cursor=00"] {
        let r = s.get(path, &owner).await;
        assert_eq!(r.status, 400, "{path}: {r:?}");
    }
    let doc = s
        .call(reqwest::Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .expect(200);
    for path in [
        "/api/v1/orgs/{org}/people/{user}/reactivate",
        "/api/v1/orgs/{org}/service-accounts/{service_account}/reactivate",
        "/api/v1/orgs/{org}/service-accounts/{service_account}/regenerate-token",
    ] {
        let body = &doc.body["paths"][path]["post"]["requestBody"];
        assert!(body.is_object(), "{path} documents its body");
        assert_ne!(body["required"], true, "{path}: the body is optional");
    }
    let key = &doc.body["paths"]["/api/v1/orgs/{org}/groups"]["post"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .unwrap()["schema"];
    assert_eq!(
        key["pattern"], "^[!-~]{1,255}$",
        "visible ASCII, as the server checks"
    );

    // No Authorization: 401, whether or not the route is open.
    s.call(
        reqwest::Method::POST,
        "/api/v1/orgs",
        None,
        Some(json!({"name": "acme", "owner_email": "a@acme.io"})),
    )
    .await
    .problem(401, "unauthorized");
    s.call(
        reqwest::Method::POST,
        "/api/v1/orgs",
        Some("some-bearer-token-of-nobody"),
        Some(json!({"name": "acme", "owner_email": "a@acme.io"})),
    )
    .await
    .problem(403, "forbidden");

    // at_least past int64, or past the log's head: 422 at once, on the
    // RBAC reads and the audit reads alike; the head itself is fine.
    for path in ["/groups", "/audit-logs"] {
        s.get(&format!("{path}?at_least=9223372036854775808"), &owner)
            .await
            .problem(422, "invalid_at_least");
        let past = s
            .get(&format!("{path}?at_least={}", head + 1_000_000), &owner)
            .await
            .problem(422, "invalid_at_least");
        assert_eq!(past.body["head"], head, "{past:?}");
        s.get(&format!("{path}?at_least={head}"), &owner)
            .await
            .expect(200);
    }
}
