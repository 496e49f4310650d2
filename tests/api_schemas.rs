//! The OpenAPI document's answer schemas are the real ones: answers of
//! every list and query, and of commands, validated against the success
//! schema their operation documents (types, required fields, and no field
//! the schema does not name).

mod common;

use common::{Resp, Server};
use reqwest::Method;
use serde_json::{json, Map, Value};

/// A small JSON Schema checker for what utoipa writes: `$ref`, `allOf`,
/// `oneOf`, `type` (one or several), `properties`, `required`,
/// `additionalProperties` and `items`. Returns what does not match.
struct Checker<'a> {
    doc: &'a Value,
}

impl Checker<'_> {
    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        match schema["$ref"].as_str() {
            Some(r) => {
                let name = r.trim_start_matches("#/components/schemas/");
                let found = &self.doc["components"]["schemas"][name];
                assert!(found.is_object(), "dangling $ref {r}");
                self.resolve(found)
            }
            None => schema,
        }
    }

    /// The properties and required fields of an object schema, through
    /// `allOf`.
    fn shape(&self, schema: &Value, props: &mut Map<String, Value>, required: &mut Vec<String>) {
        let schema = self.resolve(schema);
        for part in schema["allOf"].as_array().into_iter().flatten() {
            self.shape(part, props, required);
        }
        if let Some(p) = schema["properties"].as_object() {
            props.extend(p.clone());
        }
        for r in schema["required"].as_array().into_iter().flatten() {
            required.push(r.as_str().unwrap().to_string());
        }
    }

    fn type_ok(t: &str, v: &Value) -> bool {
        match t {
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "string" => v.is_string(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            other => panic!("unknown type {other}"),
        }
    }

    fn check(&self, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if let Some(branches) = schema["oneOf"].as_array() {
            let fits = branches.iter().any(|b| {
                let mut e = Vec::new();
                self.check(b, v, at, &mut e);
                e.is_empty()
            });
            if !fits {
                errors.push(format!("{at}: {v} fits no branch of {schema}"));
            }
            return;
        }
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() && !types.iter().any(|t| Self::type_ok(t, v)) {
            errors.push(format!("{at}: {v} is not {types:?}"));
            return;
        }
        if let Some(items) = schema.get("items") {
            for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                self.check(items, item, &format!("{at}[{i}]"), errors);
            }
        }
        let (mut props, mut required) = (Map::new(), Vec::new());
        self.shape(schema, &mut props, &mut required);
        let Some(obj) = v.as_object() else {
            return;
        };
        if props.is_empty() && schema.get("allOf").is_none() {
            if let Some(extra) = schema.get("additionalProperties") {
                for (k, value) in obj {
                    self.check(extra, value, &format!("{at}.{k}"), errors);
                }
            }
            return;
        }
        for r in &required {
            if !obj.contains_key(r) {
                errors.push(format!("{at}: required field {r} is missing"));
            }
        }
        for (k, value) in obj {
            match props.get(k) {
                Some(p) => self.check(p, value, &format!("{at}.{k}"), errors),
                None => errors.push(format!("{at}: field {k} is not in the schema")),
            }
        }
    }
}

/// Checks `r` against the success schema of `method path` (a template
/// path of the document).
#[track_caller]
fn conforms(doc: &Value, method: &str, path: &str, r: &Resp) {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} undocumented");
    let answer = &op["responses"][r.status.to_string()];
    let schema = &answer["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path}: no schema for {}",
        r.status
    );
    let mut errors = Vec::new();
    Checker { doc }.check(schema, &r.body, "$", &mut errors);
    assert!(
        errors.is_empty(),
        "{method} {path}: {errors:#?}\n{}",
        r.body
    );
}

/// The body a handler accepted matches the request body its operation
/// documents (so the document cannot drift from what the server takes).
fn request_conforms(doc: &Value, method: &str, path: &str, body: &Value) {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} undocumented");
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path}: no request body schema"
    );
    let mut errors = Vec::new();
    Checker { doc }.check(schema, body, "$", &mut errors);
    assert!(
        errors.is_empty(),
        "{method} {path}: the accepted body does not match the documented one: {errors:#?}\n{body}"
    );
}

/// A command to send: method, path, documented path, bearer token, body
/// and the status it must get.
type Sent<'a> = (Method, &'a str, String, Option<&'a str>, Value, u16);

/// A server, its OpenAPI document, the Owner's token and a member's id.
async fn documented_server(env: &[(&str, &str)]) -> (Server, Value, String, String) {
    let s = Server::start_with(env);
    let doc = s
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .expect(200)
        .body;
    let owner = s.owner().await;
    let (alice, _, _) = s.member(&owner, "alice@example.com", None).await;
    (s, doc, owner, alice)
}

/// A path of the document under `/api/v1/orgs/{org}`.
fn org(path: &str) -> String {
    format!("/api/v1/orgs/{{org}}{path}")
}

#[tokio::test]
async fn accepted_request_bodies_match_their_documented_schemas() {
    const ADMIN: &str = "admin-token-for-the-body-checks";
    let (s, doc, owner, alice) = documented_server(&[("ROLEBOOK_ADMIN_TOKEN", ADMIN)]).await;
    let mut checked = std::collections::BTreeSet::new();
    let commands: Vec<(Method, &str, &str, Value, u16)> = vec![
        (
            Method::POST,
            "/groups",
            "/groups",
            json!({"name": "devs", "description": "developers", "members": [alice]}),
            201,
        ),
        (
            Method::PUT,
            "/groups/devs/role",
            "/groups/{group}/role",
            json!({"role": "Member"}),
            200,
        ),
        (
            Method::PATCH,
            "/groups/devs",
            "/groups/{group}",
            json!({"description": "the developers"}),
            200,
        ),
        (
            Method::POST,
            "/projects",
            "/projects",
            json!({"name": "web"}),
            201,
        ),
        (
            Method::POST,
            "/roles",
            "/roles",
            json!({"name": "Deployer", "scope": "project", "description": "ships", "permissions": ["project.view"], "inherits": ["Reader"]}),
            201,
        ),
        (
            Method::PUT,
            "/roles/Deployer?scope=project",
            "/roles/{role}",
            json!({"name": "Deployer", "scope": "project", "description": "ships code", "permissions": ["project.view"]}),
            200,
        ),
        (
            Method::PUT,
            "/projects/web/members/group:devs",
            "/projects/{project}/members/{subject}",
            json!({"role": "Deployer"}),
            200,
        ),
        (
            Method::PUT,
            "/people/alice/role",
            "/people/{user}/role",
            json!({"role": "Admin"}),
            200,
        ),
        (
            Method::POST,
            "/people",
            "/people",
            json!({"people": [{"email": "bob@example.com"}]}),
            201,
        ),
        (
            Method::POST,
            "/api-tokens",
            "/api-tokens",
            json!({"name": "ci"}),
            201,
        ),
        (
            Method::PATCH,
            "/settings",
            "/settings",
            json!({"url": "https://example.com"}),
            200,
        ),
        (
            Method::POST,
            "/service-accounts",
            "/service-accounts",
            json!({"name": "robot", "description": "builds", "role": "Member",
                "token_expires_at": "2099-01-01T00:00:00Z"}),
            201,
        ),
        (
            Method::PATCH,
            "/service-accounts/robot",
            "/service-accounts/{service_account}",
            json!({"name": "builder", "description": "builds and ships"}),
            200,
        ),
        (
            Method::POST,
            "/service-accounts/builder/regenerate-token",
            "/service-accounts/{service_account}/regenerate-token",
            json!({"expires_at": "2099-01-01T00:00:00Z"}),
            201,
        ),
        (
            Method::POST,
            "/service-accounts/builder/reactivate",
            "/service-accounts/{service_account}/reactivate",
            json!({"role": "Member"}),
            200,
        ),
        (
            Method::POST,
            "/people/alice/reactivate",
            "/people/{user}/reactivate",
            json!({"role": "Admin"}),
            200,
        ),
        (
            Method::PATCH,
            "/okta/scim",
            "/okta/scim",
            json!({"default_role": "Member"}),
            200,
        ),
        (
            Method::PATCH,
            "/settings/workflows",
            "/settings/workflows",
            json!({"fork_pull_requests": "without_secrets", "job_timeout_minutes": 30}),
            200,
        ),
        (
            Method::PUT,
            "/settings/init-agent",
            "/settings/init-agent",
            json!({"environment": "cloud", "machine_type": "e1-standard-4", "os_image": "ubuntu2404"}),
            200,
        ),
        (
            Method::PUT,
            "/settings/ip-allow-list",
            "/settings/ip-allow-list",
            json!({"cidrs": ["127.0.0.0/8", "::1"]}),
            200,
        ),
        (
            Method::POST,
            "/notifications",
            "/notifications",
            json!({"name": "siem", "kind": "webhook", "url": "http://127.0.0.1:9/hook",
                "rules": [{"resource_types": ["User"], "actions": ["Added"]}]}),
            201,
        ),
    ];
    // The commands of other callers: the instance admin, a person
    // logging in.
    let (carol, _) = s.invite(&owner, "carol@example.com", None).await;
    let (login, _) = s.owner_login();
    let repository_access = format!("/projects/web/repository-access/{alice}");
    let provider = common::oidc::Provider::for_server(&s);
    let hook = s
        .post(
            "/notifications",
            &owner,
            json!({"name": "slack", "kind": "slack", "url": "http://127.0.0.1:9/x", "rules": [{}]}),
        )
        .await
        .expect(201);
    conforms(&doc, "post", &org("/notifications"), &hook);
    let hook = format!("/notifications/{}", hook.body["id"].as_str().unwrap());
    let others: Vec<Sent> = vec![
        (
            Method::POST,
            "/api/v1/orgs",
            "/api/v1/orgs".into(),
            Some(ADMIN),
            json!({"name": "second", "owner_email": "root@second.io", "owner_username": "root"}),
            201,
        ),
        (
            Method::POST,
            "/sessions",
            org("/sessions"),
            None,
            json!({"login": login, "password": common::PASSWORD}),
            201,
        ),
        (
            Method::POST,
            "/sessions/password",
            org("/sessions/password"),
            None,
            json!({"login": "carol@example.com", "current_password": carol["temporary_password"],
                "new_password": common::PASSWORD}),
            201,
        ),
        (
            Method::POST,
            "/check",
            org("/check"),
            Some(owner.as_str()),
            json!({"checks": [{"user": alice, "permission": "organization.view", "project": "web"}]}),
            200,
        ),
        (
            Method::PUT,
            "/okta/sso",
            org("/okta/sso"),
            Some(owner.as_str()),
            provider.settings(),
            200,
        ),
        (
            Method::PATCH,
            &hook,
            org("/notifications/{id}"),
            Some(owner.as_str()),
            json!({"name": "slack-ops", "url": "http://127.0.0.1:9/y", "rules": [{"actions": ["Removed"]}]}),
            200,
        ),
        (
            Method::PUT,
            &repository_access,
            org("/projects/{project}/repository-access/{user}"),
            Some(owner.as_str()),
            json!({"access": "write"}),
            200,
        ),
        (
            Method::PUT,
            "/projects/web/repository-role-mapping",
            org("/projects/{project}/repository-role-mapping"),
            Some(owner.as_str()),
            json!({"admin": "Admin", "write": "Contributor", "read": "Reader"}),
            200,
        ),
        (
            Method::PUT,
            "/audit-logs/streaming",
            org("/audit-logs/streaming"),
            Some(owner.as_str()),
            json!({"provider": "s3", "bucket": "audit", "region": "us-east-1", "endpoint": "http://127.0.0.1:9",
                "access_key_id": "AKID", "secret_access_key": "secret", "prefix": "rolebook/"}),
            200,
        ),
        // A connection test of a bucket nobody listens at: the body is
        // taken, the bucket refuses.
        (
            Method::POST,
            "/audit-logs/streaming/test",
            org("/audit-logs/streaming/test"),
            Some(owner.as_str()),
            json!({"provider": "s3", "bucket": "audit", "region": "us-east-1", "endpoint": "http://127.0.0.1:9",
                "access_key_id": "AKID", "secret_access_key": "secret", "prefix": "rolebook/"}),
            422,
        ),
        (
            Method::PUT,
            "/projects/web/owner",
            org("/projects/{project}/owner"),
            Some(owner.as_str()),
            json!({"user": alice}),
            200,
        ),
    ];
    let commands = commands
        .into_iter()
        .map(|(m, path, documented, body, status)| {
            (m, path, org(documented), Some(owner.as_str()), body, status)
        })
        .chain(others);
    for (method, path, documented, token, body, status) in commands {
        s.call(method.clone(), path, token, Some(body.clone()))
            .await
            .expect(status);
        let method = method.as_str().to_lowercase();
        request_conforms(&doc, &method, &documented, &body);
        checked.insert(format!("{method} {documented}"));
    }

    // That was every operation the document gives a request body.
    let mut with_body = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("requestBody").is_some() {
                with_body.insert(format!("{method} {path}"));
            }
        }
    }
    let missed: Vec<_> = with_body.difference(&checked).collect();
    assert!(missed.is_empty(), "request bodies not checked: {missed:?}");
}

#[tokio::test]
async fn answers_match_their_documented_schemas() {
    let (s, doc, owner, alice) = documented_server(&[]).await;

    let r = s
        .call(Method::GET, "/api/v1/health", None, None)
        .await
        .expect(200);
    conforms(&doc, "get", "/api/v1/health", &r);

    // Commands, with their position.
    let r = s
        .post(
            "/groups",
            &owner,
            json!({"name": "devs", "description": "developers", "members": [alice]}),
        )
        .await
        .expect(201);
    conforms(&doc, "post", &org("/groups"), &r);
    let r = s
        .put("/groups/devs/role", &owner, json!({"role": "Member"}))
        .await
        .expect(200);
    conforms(&doc, "put", &org("/groups/{group}/role"), &r);
    let r = s
        .post("/projects", &owner, json!({"name": "web"}))
        .await
        .expect(201);
    conforms(&doc, "post", &org("/projects"), &r);
    let r = s
        .post(
            "/roles",
            &owner,
            json!({"name": "Deployer", "scope": "project", "description": "ships", "permissions": ["project.view"], "inherits": ["Reader"]}),
        )
        .await
        .expect(201);
    conforms(&doc, "post", &org("/roles"), &r);
    let r = s
        .put(
            "/projects/web/members/group:devs",
            &owner,
            json!({"role": "Deployer"}),
        )
        .await
        .expect(200);
    conforms(
        &doc,
        "put",
        &org("/projects/{project}/members/{subject}"),
        &r,
    );
    let r = s
        .put(
            &format!("/projects/web/repository-access/{alice}"),
            &owner,
            json!({"access": "write"}),
        )
        .await
        .expect(200);
    conforms(
        &doc,
        "put",
        &org("/projects/{project}/repository-access/{user}"),
        &r,
    );
    let r = s
        .put(
            &format!("/people/{alice}/role"),
            &owner,
            json!({"role": "Admin"}),
        )
        .await
        .expect(200);
    conforms(&doc, "put", &org("/people/{user}/role"), &r);
    let r = s
        .post("/api-tokens", &owner, json!({"name": "ci"}))
        .await
        .expect(201);
    conforms(&doc, "post", &org("/api-tokens"), &r);
    let r = s
        .put(
            "/audit-logs/streaming",
            &owner,
            json!({"provider": "s3", "bucket": "logs", "access_key_id": "AK", "secret_access_key": "SK"}),
        )
        .await
        .expect(200);
    conforms(&doc, "put", &org("/audit-logs/streaming"), &r);
    let r = s
        .post("/okta/scim-token", &owner, json!({}))
        .await
        .expect(201);
    conforms(&doc, "post", &org("/okta/scim-token"), &r);
    let r = s
        .patch("/okta/scim", &owner, json!({"default_role": "Member"}))
        .await
        .expect(200);
    conforms(&doc, "patch", &org("/okta/scim"), &r);
    let r = s
        .post(
            "/notifications",
            &owner,
            json!({"name": "siem", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "rules": [{}]}),
        )
        .await
        .expect(201);
    conforms(&doc, "post", &org("/notifications"), &r);
    let hook = format!("/notifications/{}", r.body["id"].as_str().unwrap());
    let provider = common::oidc::Provider::for_server(&s);
    let r = s
        .put("/okta/sso", &owner, provider.settings())
        .await
        .expect(200);
    conforms(&doc, "put", &org("/okta/sso"), &r);
    let r = s
        .post(&format!("{hook}/test"), &owner, json!({}))
        .await
        .expect(200);
    conforms(&doc, "post", &org("/notifications/{id}/test"), &r);
    let r = s
        .post(&format!("{hook}/resume"), &owner, json!({}))
        .await
        .expect(200);
    conforms(&doc, "post", &org("/notifications/{id}/resume"), &r);
    let r = s
        .patch(
            "/settings",
            &owner,
            json!({"url": "https://ci.example.com"}),
        )
        .await
        .expect(200);
    conforms(&doc, "patch", &org("/settings"), &r);
    let last = r.position();

    // Queries.
    for (path, template) in [
        ("/people", "/people"),
        ("/groups", "/groups"),
        ("/permissions", "/permissions"),
        ("/roles", "/roles"),
        ("/projects", "/projects"),
        ("/projects/web/members", "/projects/{project}/members"),
        (
            "/projects/web/repository-role-mapping",
            "/projects/{project}/repository-role-mapping",
        ),
        (
            "/people/admin/permissions?project=web",
            "/people/{user}/permissions",
        ),
        (
            &format!("/check?user={alice}&permission=project.view&project=web") as &str,
            "/check",
        ),
        ("/who-can?permission=project.view&project=web", "/who-can"),
        ("/audit-logs?limit=1000", "/audit-logs"),
        ("/audit-logs/streaming", "/audit-logs/streaming"),
        ("/settings", "/settings"),
        ("/okta/scim", "/okta/scim"),
        ("/settings/workflows", "/settings/workflows"),
        ("/settings/init-agent", "/settings/init-agent"),
        (
            "/settings/init-agent/options",
            "/settings/init-agent/options",
        ),
        ("/settings/ip-allow-list", "/settings/ip-allow-list"),
        ("/notifications", "/notifications"),
        ("/okta/sso", "/okta/sso"),
        (&hook as &str, "/notifications/{id}"),
        (
            &format!("{hook}/deliveries") as &str,
            "/notifications/{id}/deliveries",
        ),
    ] {
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = s
            .get(&format!("{path}{sep}at_least={last}"), &owner)
            .await
            .expect(200);
        conforms(&doc, "get", &org(template), &r);
    }
    let r = s
        .post(
            "/check",
            &owner,
            json!({"checks": [{"user": alice, "permission": "project.view", "project": "web"}]}),
        )
        .await
        .expect(200);
    conforms(&doc, "post", &org("/check"), &r);

    // Errors are the documented problem shape.
    let r = s
        .get("/roles?scope=galaxy", &owner)
        .await
        .problem(422, "invalid_scope");
    let mut errors = Vec::new();
    Checker { doc: &doc }.check(
        &json!({"$ref": "#/components/schemas/ProblemBody"}),
        &r.body,
        "$",
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:#?}");

    // The checker itself refuses what does not fit.
    let checker = Checker { doc: &doc };
    let group = json!({"$ref": "#/components/schemas/GroupItem"});
    let r = s.get("/groups", &owner).await.expect(200);
    let good = r.body["groups"][0].clone();
    let mut errors = Vec::new();
    checker.check(&group, &good, "$", &mut errors);
    assert!(errors.is_empty(), "{errors:#?}");
    for bad in [
        {
            let mut g = good.clone();
            g["surprise"] = json!(1);
            g
        },
        {
            let mut g = good.clone();
            g.as_object_mut().unwrap().remove("name");
            g
        },
        {
            let mut g = good.clone();
            g["members"] = json!("everyone");
            g
        },
        {
            let mut g = good.clone();
            g["role"] = json!({"role_id": 7});
            g
        },
    ] {
        let mut errors = Vec::new();
        checker.check(&group, &bad, "$", &mut errors);
        assert!(!errors.is_empty(), "accepted {bad}");
    }
}
