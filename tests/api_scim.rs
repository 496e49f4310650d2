//! End to end over HTTP: SCIM 2.0 provisioning (RFC 7643 / 7644) as Okta
//! runs it against the real binary — the SCIM token, Okta's own user
//! sequence, profile changes, group push, deletion, discovery — each change
//! visible in `check` and in the audit log with medium `SCIM`; and hostile
//! SCIM input answered with the SCIM Error message and nothing appended.

mod common;

use common::Server;
use reqwest::Method;
use serde_json::{json, Value};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const ADMIN: &str = "an-admin-token-of-32-characters!";

/// A SCIM request under the default organization's SCIM base.
async fn scim(
    s: &Server,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> common::Resp {
    s.call(method, &format!("/scim/v2{path}"), Some(token), body)
        .await
}

/// Panics unless the answer is `status` in `application/scim+json`.
#[track_caller]
fn scim_answer(r: common::Resp, status: u16) -> common::Resp {
    assert_eq!(r.status, status, "unexpected answer: {r:#?}");
    if status != 204 {
        assert_eq!(r.headers["content-type"], "application/scim+json", "{r:#?}");
    }
    r
}

/// Panics unless the answer is the SCIM Error message with `status` and
/// `scim_type` (none: no `scimType`).
#[track_caller]
fn scim_error(r: common::Resp, status: u16, scim_type: Option<&str>) -> common::Resp {
    let r = scim_answer(r, status);
    assert_eq!(r.body["schemas"], json!([ERROR]), "{r:#?}");
    assert_eq!(r.body["status"], status.to_string(), "{r:#?}");
    assert_eq!(r.body["scimType"].as_str(), scim_type, "{r:#?}");
    assert!(!r.body["detail"].as_str().unwrap().is_empty());
    r
}

fn okta_user(user_name: &str, email: &str, external_id: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": true, "value": email, "type": "work"}],
        "displayName": "Ada Lovelace",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "an-okta-password-never-kept",
        "active": true
    })
}

/// `text` percent-encoded for a query.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn filter(f: &str) -> String {
    format!("/Users?filter={}", encode(f))
}

/// Whether `user` holds `permission` (organization scope) once the read
/// side has reached `at_least`.
async fn allowed(s: &Server, token: &str, user: &str, permission: &str, at_least: u64) -> bool {
    s.get(
        &format!("/check?user={user}&permission={permission}&at_least={at_least}"),
        token,
    )
    .await
    .expect(200)
    .body["allowed"]
        .as_bool()
        .unwrap()
}

/// Issues the default organization's SCIM token as `owner`.
async fn scim_token(s: &Server, owner: &str) -> String {
    let r = s
        .post("/okta/scim-token", owner, json!({}))
        .await
        .expect(201);
    assert!(r.body["base_url"].as_str().unwrap().ends_with("/scim/v2"));
    r.body["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn okta_provisions_deactivates_and_reactivates_a_person() {
    let s = Server::start();
    let owner = s.owner().await;
    let token = scim_token(&s, &owner).await;

    // Okta's sequence: look up by userName (none), create, look up (one).
    let lookup = filter(r#"userName eq "ada@okta.example""#);
    let r = scim_answer(scim(&s, Method::GET, &lookup, &token, None).await, 200);
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(r.body["Resources"], json!([]));
    let r = scim(
        &s,
        Method::POST,
        "/Users",
        &token,
        Some(okta_user("ada@okta.example", "ada@acme.example", "00u1")),
    )
    .await;
    let r = scim_answer(r, 201);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["userName"], "ada@okta.example");
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["externalId"], "00u1");
    assert_eq!(r.body["name"]["givenName"], "Ada");
    assert_eq!(r.body["emails"][0]["value"], "ada@acme.example");
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert!(!r.text.contains("an-okta-password"), "{}", r.text);
    assert!(r.headers["location"]
        .to_str()
        .unwrap()
        .ends_with(&format!("/scim/v2/Users/{id}")));
    let created = r.position();
    let r = scim_answer(scim(&s, Method::GET, &lookup, &token, None).await, 200);
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["itemsPerPage"], 1);
    assert_eq!(r.body["startIndex"], 1);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());
    // A Member, by the organization's default, with no password to log in with.
    assert!(allowed(&s, &owner, &id, "organization.view", created).await);
    assert!(!allowed(&s, &owner, &id, "organization.people.manage", created).await);
    s.call(
        Method::POST,
        "/sessions",
        None,
        Some(json!({"login": "ada@acme.example", "password": common::PASSWORD})),
    )
    .await
    .problem(401, "invalid_credentials");
    // The audit log says who: the SCIM actor, through SCIM.
    let entry = s.audit_at(&owner, created).await;
    assert_eq!(entry["medium"], "SCIM", "{entry}");
    assert_eq!(entry["actor"]["username"], "scim", "{entry}");

    // Deactivation by PATCH: kept, every role gone at once.
    let deactivate =
        json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]});
    let r = scim_answer(
        scim(
            &s,
            Method::PATCH,
            &format!("/Users/{id}"),
            &token,
            Some(deactivate),
        )
        .await,
        200,
    );
    assert_eq!(r.body["active"], false);
    let at = r.position();
    assert!(!allowed(&s, &owner, &id, "organization.view", at).await);
    let r = s
        .get(&format!("/people/{id}?at_least={at}"), &owner)
        .await
        .expect(200);
    assert_eq!(r.body["status"], "deactivated", "{}", r.text);
    // Reactivation gives back the default role.
    let reactivate = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": true}]});
    let r = scim_answer(
        scim(
            &s,
            Method::PATCH,
            &format!("/Users/{id}"),
            &token,
            Some(reactivate),
        )
        .await,
        200,
    );
    assert_eq!(r.body["active"], true);
    assert!(allowed(&s, &owner, &id, "organization.view", r.position()).await);

    // The same person again: 409 uniqueness, by userName or by email.
    let again = okta_user("ada@okta.example", "other@acme.example", "00u2");
    scim_error(
        scim(&s, Method::POST, "/Users", &token, Some(again)).await,
        409,
        Some("uniqueness"),
    );
    let same_email = okta_user("ada2@okta.example", "ADA@acme.example", "00u3");
    scim_error(
        scim(&s, Method::POST, "/Users", &token, Some(same_email)).await,
        409,
        Some("uniqueness"),
    );
    // Unknown ids: 404 with the Error message.
    scim_error(
        scim(
            &s,
            Method::GET,
            "/Users/0192e4c0-0000-7000-8000-000000000000",
            &token,
            None,
        )
        .await,
        404,
        None,
    );
    scim_error(
        scim(&s, Method::GET, "/Users/not-an-id", &token, None).await,
        404,
        None,
    );
}

#[tokio::test]
async fn profiles_filters_and_pages() {
    let s = Server::start();
    let owner = s.owner().await;
    let token = scim_token(&s, &owner).await;
    let mut ids = Vec::new();
    for (i, name) in ["bo", "cy", "di"].iter().enumerate() {
        let body = okta_user(
            &format!("{name}@okta.example"),
            &format!("{name}@acme.example"),
            &format!("00u{i}"),
        );
        let r = scim_answer(
            scim(&s, Method::POST, "/Users", &token, Some(body)).await,
            201,
        );
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    // The filters Okta and others send, and logic.
    let cases = [
        (r#"externalId eq "00u1""#, vec![1]),
        (
            r#"emails[type eq "work"].value eq "DI@acme.example""#,
            vec![2],
        ),
        (
            r#"userName eq "bo@okta.example" or userName eq "cy@okta.example""#,
            vec![0, 1],
        ),
        (r#"userName sw "c" and active eq true"#, vec![1]),
        (r#"not (userName co "okta")"#, vec![3]),
    ];
    for (f, expected) in cases {
        let r = scim_answer(scim(&s, Method::GET, &filter(f), &token, None).await, 200);
        let got: Vec<&str> = r.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap())
            .collect();
        // Index 3: the Owner, an invited person, whose login is their email.
        let owner_id = |got: &[&str]| got.iter().all(|g| !ids.contains(&g.to_string()));
        if expected == vec![3] {
            assert_eq!(got.len(), 1, "{f}: {got:?}");
            assert!(owner_id(&got), "{f}: {got:?}");
        } else {
            let want: Vec<&str> = expected.iter().map(|i| ids[*i].as_str()).collect();
            assert_eq!(got, want, "{f}");
        }
        assert_eq!(r.body["totalResults"], got.len(), "{f}");
    }
    // Pages: stable (creation) order, 1-based.
    let all = scim_answer(scim(&s, Method::GET, "/Users", &token, None).await, 200);
    assert_eq!(all.body["totalResults"], 4);
    let order: Vec<Value> = all.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].clone())
        .collect();
    let r = scim_answer(
        scim(&s, Method::GET, "/Users?startIndex=2&count=2", &token, None).await,
        200,
    );
    assert_eq!(r.body["totalResults"], 4);
    assert_eq!(r.body["itemsPerPage"], 2);
    assert_eq!(r.body["startIndex"], 2);
    let page: Vec<Value> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].clone())
        .collect();
    assert_eq!(page, order[1..3]);

    // PUT replaces the profile; the new email and login find them.
    let mut body = okta_user("bo.new@okta.example", "bo@new.example", "00u9");
    body["name"] = json!({"givenName": "Bo"});
    let r = scim_answer(
        scim(
            &s,
            Method::PUT,
            &format!("/Users/{}", ids[0]),
            &token,
            Some(body),
        )
        .await,
        200,
    );
    assert_eq!(r.body["emails"][0]["value"], "bo@new.example");
    assert_eq!(
        r.body["name"],
        json!({"givenName": "Bo", "formatted": "Bo"})
    );
    let r = scim_answer(
        scim(
            &s,
            Method::GET,
            &filter(r#"userName eq "bo@okta.example""#),
            &token,
            None,
        )
        .await,
        200,
    );
    assert_eq!(r.body["totalResults"], 0);
    let r = scim_answer(
        scim(
            &s,
            Method::GET,
            &filter(r#"externalId eq "00u9""#),
            &token,
            None,
        )
        .await,
        200,
    );
    assert_eq!(r.body["Resources"][0]["id"], ids[0].as_str());
    // PATCH on a value path: the work email.
    let change = json!({"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "cy@new.example"},
        {"op": "add", "path": "name.familyName", "value": "Young"}
    ]});
    let r = scim_answer(
        scim(
            &s,
            Method::PATCH,
            &format!("/Users/{}", ids[1]),
            &token,
            Some(change),
        )
        .await,
        200,
    );
    assert_eq!(r.body["emails"][0]["value"], "cy@new.example");
    assert_eq!(r.body["name"]["familyName"], "Young");
    let at = r.position();
    let r = s
        .get(&format!("/people/{}?at_least={at}", ids[1]), &owner)
        .await
        .expect(200);
    assert_eq!(r.body["email"], "cy@new.example");
}

#[tokio::test]
async fn pushed_groups_give_their_role_to_their_members() {
    let s = Server::start();
    let owner = s.owner().await;
    let token = scim_token(&s, &owner).await;
    let mut ids = Vec::new();
    for name in ["eve", "fay"] {
        let body = okta_user(
            &format!("{name}@okta.example"),
            &format!("{name}@acme.example"),
            name,
        );
        let r = scim_answer(
            scim(&s, Method::POST, "/Users", &token, Some(body)).await,
            201,
        );
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let (eve, fay) = (ids[0].clone(), ids[1].clone());

    // Group push: created with Eve, given Admin by an administrator.
    let r = scim(
        &s,
        Method::POST,
        "/Groups",
        &token,
        Some(json!({
            "schemas": [GROUP], "displayName": "platform", "members": [{"value": eve}]
        })),
    )
    .await;
    let r = scim_answer(r, 201);
    let group = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["members"][0]["value"], eve.as_str());
    let at = r.position();
    let r = s
        .put(
            &format!("/groups/{group}/role?at_least={at}"),
            &owner,
            json!({"role": "Admin"}),
        )
        .await
        .expect(200);
    let at = r.position();
    assert!(allowed(&s, &owner, &eve, "organization.people.manage", at).await);
    assert!(!allowed(&s, &owner, &fay, "organization.people.manage", at).await);
    let r = scim_answer(
        scim(&s, Method::GET, &format!("/Users/{eve}"), &token, None).await,
        200,
    );
    assert_eq!(r.body["groups"][0]["display"], "platform");

    // Membership changes: Fay in, Eve out, renamed.
    let change = json!({"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": fay}]},
        {"op": "remove", "path": format!("members[value eq \"{eve}\"]")},
        {"op": "replace", "path": "displayName", "value": "platform-team"}
    ]});
    let r = scim_answer(
        scim(
            &s,
            Method::PATCH,
            &format!("/Groups/{group}"),
            &token,
            Some(change),
        )
        .await,
        200,
    );
    assert_eq!(r.body["displayName"], "platform-team");
    let at = r.position();
    assert!(allowed(&s, &owner, &fay, "organization.people.manage", at).await);
    assert!(!allowed(&s, &owner, &eve, "organization.people.manage", at).await);
    // Found by name; members left out on request.
    let path = format!(
        "/Groups?filter={}&excludedAttributes=members",
        encode(r#"displayName eq "Platform-Team""#)
    );
    let r = scim_answer(scim(&s, Method::GET, &path, &token, None).await, 200);
    assert_eq!(r.body["totalResults"], 1);
    assert!(r.body["Resources"][0].get("members").is_none());
    // PUT: exactly these members.
    let r = scim(&s, Method::PUT, &format!("/Groups/{group}"), &token, Some(json!({
        "schemas": [GROUP], "displayName": "platform-team", "members": [{"value": eve}, {"value": fay}]
    })))
    .await;
    let r = scim_answer(r, 200);
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2);
    // A member who is not a User here: 400, nothing changes.
    let r = scim(&s, Method::PUT, &format!("/Groups/{group}"), &token, Some(json!({
        "schemas": [GROUP], "displayName": "platform-team", "members": [{"value": "0192e4c0-0000-7000-8000-000000000000"}]
    })))
    .await;
    scim_error(r, 400, Some("invalidValue"));
    // Deleted: its members lose its role.
    let r = scim_answer(
        scim(
            &s,
            Method::DELETE,
            &format!("/Groups/{group}"),
            &token,
            None,
        )
        .await,
        204,
    );
    let at = r.position();
    assert!(!allowed(&s, &owner, &fay, "organization.people.manage", at).await);
    scim_error(
        scim(&s, Method::GET, &format!("/Groups/{group}"), &token, None).await,
        404,
        None,
    );
}

#[tokio::test]
async fn deletion_deactivation_sessions_and_the_token() {
    let s = Server::start();
    let owner = s.owner().await;
    let token = scim_token(&s, &owner).await;
    // An invited person is a SCIM User too (their login is their email);
    // deactivating them ends their session at once.
    let (gil, _, gil_session) = s.member(&owner, "gil@acme.example", None).await;
    let r = scim_answer(
        scim(
            &s,
            Method::GET,
            &filter(r#"userName eq "gil@acme.example""#),
            &token,
            None,
        )
        .await,
        200,
    );
    assert_eq!(r.body["Resources"][0]["id"], gil.as_str());
    s.get("/groups", &gil_session).await.expect(200);
    let r = s
        .post("/projects", &gil_session, json!({"name": "gils-project"}))
        .await
        .expect(201);
    let deactivate = json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "value": {"active": "False"}}]});
    scim_answer(
        scim(
            &s,
            Method::PATCH,
            &format!("/Users/{gil}"),
            &token,
            Some(deactivate),
        )
        .await,
        200,
    );
    s.get("/groups", &gil_session)
        .await
        .problem(401, "unauthorized");
    // They own a project: deactivated yes, deleted no (409 naming it).
    let _ = r;
    let r = scim_error(
        scim(&s, Method::DELETE, &format!("/Users/{gil}"), &token, None).await,
        409,
        None,
    );
    assert!(
        r.body["detail"].as_str().unwrap().contains("gils-project"),
        "{}",
        r.text
    );
    // Someone without projects is deleted: 204, then 404.
    let body = okta_user("hal@okta.example", "hal@acme.example", "hal");
    let r = scim_answer(
        scim(&s, Method::POST, "/Users", &token, Some(body)).await,
        201,
    );
    let hal = r.body["id"].as_str().unwrap().to_string();
    scim_answer(
        scim(&s, Method::DELETE, &format!("/Users/{hal}"), &token, None).await,
        204,
    );
    scim_error(
        scim(&s, Method::GET, &format!("/Users/{hal}"), &token, None).await,
        404,
        None,
    );

    // Discovery, with the same token.
    let r = scim_answer(
        scim(&s, Method::GET, "/ServiceProviderConfig", &token, None).await,
        200,
    );
    assert_eq!(r.body["patch"]["supported"], true);
    assert_eq!(r.body["filter"]["supported"], true);
    let r = scim_answer(
        scim(&s, Method::GET, "/ResourceTypes", &token, None).await,
        200,
    );
    assert_eq!(r.body["totalResults"], 2);
    let r = scim_answer(scim(&s, Method::GET, "/Schemas", &token, None).await, 200);
    assert_eq!(r.body["Resources"][0]["id"], USER);

    // The default role is a setting; the token is replaced, then revoked.
    let r = s.get("/okta/scim", &owner).await.expect(200);
    assert_eq!(r.body["default_role"]["name"], "Member");
    let r = s
        .patch("/okta/scim", &owner, json!({"default_role": "Admin"}))
        .await
        .expect(200);
    assert_eq!(r.body["default_role"]["name"], "Admin");
    let body = okta_user("ivy@okta.example", "ivy@acme.example", "ivy");
    let r = scim_answer(
        scim(&s, Method::POST, "/Users", &token, Some(body)).await,
        201,
    );
    let ivy = r.body["id"].as_str().unwrap().to_string();
    assert!(allowed(&s, &owner, &ivy, "organization.people.manage", r.position()).await);
    let newer = scim_token(&s, &owner).await;
    scim_error(
        scim(&s, Method::GET, "/Users", &token, None).await,
        401,
        None,
    );
    scim_answer(scim(&s, Method::GET, "/Users", &newer, None).await, 200);
    s.delete("/okta/scim-token", &owner).await.expect(204);
    scim_error(
        scim(&s, Method::GET, "/Users", &newer, None).await,
        401,
        None,
    );
    let entries = s
        .audit(&owner, s.head().await, "resource_type=Settings")
        .await;
    let texts: Vec<&str> = entries
        .iter()
        .map(|e| e["description"].as_str().unwrap())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("SCIM token") && t.contains("revoked")),
        "{texts:?}"
    );
}

#[tokio::test]
async fn hostile_scim_input_is_refused_and_nothing_is_appended() {
    let s = Server::start_with(&[("ROLEBOOK_ADMIN_TOKEN", ADMIN)]);
    let owner = s.owner().await;
    let token = scim_token(&s, &owner).await;
    // Another organization, with its own SCIM token.
    let r = s
        .call(
            Method::POST,
            "/api/v1/orgs",
            Some(ADMIN),
            Some(json!({"name": "globex", "owner_email": "g@globex.example"})),
        )
        .await
        .expect(201);
    let temporary = r.body["owner"]["temporary_password"].as_str().unwrap();
    let r = s
        .call(
            Method::POST,
            "/api/v1/orgs/globex/sessions/password",
            None,
            Some(json!({"login": "g@globex.example", "current_password": temporary, "new_password": common::PASSWORD})),
        )
        .await
        .expect(201);
    let globex_owner = r.body["token"].as_str().unwrap().to_string();
    let r = s
        .call(
            Method::POST,
            "/api/v1/orgs/globex/okta/scim-token",
            Some(&globex_owner),
            Some(json!({})),
        )
        .await
        .expect(201);
    let globex_scim = r.body["token"].as_str().unwrap().to_string();
    let body = okta_user("jo@okta.example", "jo@acme.example", "jo");
    let r = scim_answer(
        scim(&s, Method::POST, "/Users", &token, Some(body)).await,
        201,
    );
    let jo = r.body["id"].as_str().unwrap().to_string();

    let head = s.head().await;
    // Wrong tokens: none, a person's, another organization's.
    let r = s.call(Method::GET, "/scim/v2/Users", None, None).await;
    scim_error(r, 401, None);
    scim_error(
        scim(&s, Method::GET, "/Users", &owner, None).await,
        401,
        None,
    );
    scim_error(
        scim(&s, Method::GET, "/Users", &globex_scim, None).await,
        401,
        None,
    );
    scim_error(
        scim(
            &s,
            Method::POST,
            "/Users",
            &globex_scim,
            Some(okta_user("x@okta.example", "x@acme.example", "x")),
        )
        .await,
        401,
        None,
    );
    scim_error(
        scim(&s, Method::GET, "/Users", "rb_not-a-token", None).await,
        401,
        None,
    );
    // Malformed filters.
    for f in [
        "userName eq",
        "userName eq \"unterminated",
        "nickName eq \"x\"",
        "userName zz \"x\"",
        "((((((((((((((((((((((((((((((((((userName pr))))))))))))))))))))))))))))))))))",
        "emails[type eq \"work\"",
        "userName eq \"a\" and",
    ] {
        scim_error(
            scim(&s, Method::GET, &filter(f), &token, None).await,
            400,
            Some("invalidFilter"),
        );
    }
    scim_error(
        scim(&s, Method::GET, "/Users?count=many", &token, None).await,
        400,
        Some("invalidValue"),
    );
    // Bad bodies.
    let at_jo = format!("/Users/{jo}");
    let bad: Vec<(Method, &str, Value, &str)> = vec![
        (
            Method::POST,
            "/Users",
            json!({"schemas": ["urn:nope"], "userName": "k@acme.example"}),
            "invalidSyntax",
        ),
        (Method::POST, "/Users", json!([1, 2]), "invalidSyntax"),
        (
            Method::POST,
            "/Users",
            json!({"schemas": [USER], "userName": 7}),
            "invalidValue",
        ),
        (
            Method::POST,
            "/Users",
            json!({"schemas": [USER], "userName": "no-email"}),
            "invalidValue",
        ),
        (
            Method::POST,
            "/Users",
            json!({"schemas": [USER], "userName": "k@okta", "emails": [{"value": "not an email"}]}),
            "invalidValue",
        ),
        (
            Method::PATCH,
            &at_jo,
            json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "nickName", "value": "x"}]}),
            "invalidPath",
        ),
        (
            Method::PATCH,
            &at_jo,
            json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "emails[type eq", "value": "x"}]}),
            "invalidPath",
        ),
        (
            Method::PATCH,
            &at_jo,
            json!({"schemas": [PATCH], "Operations": [{"op": "remove"}]}),
            "noTarget",
        ),
        (
            Method::PATCH,
            &at_jo,
            json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "id", "value": "x"}]}),
            "mutability",
        ),
        (
            Method::PATCH,
            &at_jo,
            json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}, {"op": "jump"}]}),
            "invalidSyntax",
        ),
        (
            Method::PATCH,
            &at_jo,
            json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}),
            "invalidSyntax",
        ),
        (
            Method::PUT,
            &at_jo,
            json!({"schemas": [USER], "userName": "jo@okta.example", "active": "maybe"}),
            "invalidValue",
        ),
        (
            Method::POST,
            "/Groups",
            json!({"schemas": [GROUP]}),
            "invalidValue",
        ),
        (
            Method::POST,
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "x", "members": [{"value": jo}, {"value": "nobody"}]}),
            "invalidValue",
        ),
    ];
    for (method, path, body, scim_type) in bad {
        let r = scim(&s, method.clone(), path, &token, Some(body.clone())).await;
        scim_error(r, 400, Some(scim_type));
    }
    // Not JSON, and too large.
    let r = s
        .send(
            s.client
                .post(s.url("/scim/v2/Users"))
                .bearer_auth(&token)
                .header("content-type", "application/scim+json")
                .body("{not json"),
        )
        .await;
    scim_error(r, 400, Some("invalidSyntax"));
    // On a connection of its own: the server answers 413 before reading
    // the rest and closes it.
    let huge = json!({"schemas": [USER], "userName": "big@acme.example", "displayName": "x".repeat(2 * 1024 * 1024)});
    let alone = reqwest::Client::new();
    let r = s
        .send(
            alone
                .post(s.url("/scim/v2/Users"))
                .bearer_auth(&token)
                .json(&huge),
        )
        .await;
    scim_error(r, 413, None);
    // An unknown SCIM endpoint.
    scim_error(
        scim(&s, Method::GET, "/Bulk", &token, None).await,
        404,
        None,
    );

    assert_eq!(s.head().await, head, "a refused request appends nothing");
    // Jo is as created.
    let r = scim_answer(scim(&s, Method::GET, &at_jo, &token, None).await, 200);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["userName"], "jo@okta.example");
}
