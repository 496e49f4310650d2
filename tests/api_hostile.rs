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
use serde_json::json;

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

/// The OpenAPI document lists exactly API.md's routes, and the server
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
        .map(|(m, p)| {
            let full = if p.starts_with("/api/") {
                p.to_string()
            } else {
                format!("/api/v1/orgs/{{org}}{p}")
            };
            (m.to_string(), full)
        })
        .collect();
    assert_eq!(documented, expected, "the document differs from API.md");

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
