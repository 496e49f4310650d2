//! Single sign-on end to end against a real OpenID Connect provider
//! (panva's oidc-provider, `tests/oidc/provider.mjs`, run with the
//! machine's Node.js on loopback): the real binary sends the person to the
//! provider, the provider signs them in and sends them back, and rolebook
//! opens a session. Refused: a tampered token, a wrong audience, an
//! expired token, a replayed state, an unknown email, a deactivated
//! person; accepted: a token signed with a key the provider published
//! since (rotation). Just-in-time creation and switching passwords off.

mod common;

use std::collections::BTreeMap;

use common::oidc::{Provider, CLIENT_ID, CLIENT_SECRET};
use common::{Server, PASSWORD};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{json, Value};

/// A browser's part: from `/sso/login` through the provider's redirects
/// (keeping its cookies) to the URL the provider sends back to rolebook.
async fn callback_url(s: &Server, hint: &str) -> String {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = browser
        .get(s.url(&format!("/sso/login?login_hint={hint}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let mut next = r.headers()[LOCATION].to_str().unwrap().to_string();
    let origin = {
        let u = reqwest::Url::parse(&next).unwrap();
        format!("{}://{}", u.scheme(), u.host_str().unwrap()) + &format!(":{}", u.port().unwrap())
    };
    let mut cookies: BTreeMap<String, String> = BTreeMap::new();
    for _ in 0..10 {
        if next.starts_with(&s.base) {
            return next;
        }
        let url = if next.starts_with('/') {
            format!("{origin}{next}")
        } else {
            next.clone()
        };
        let jar: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let r = browser
            .get(&url)
            .header(COOKIE, jar.join("; "))
            .send()
            .await
            .unwrap();
        for c in r.headers().get_all(SET_COOKIE) {
            let pair = c.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            cookies.insert(k.to_string(), v.to_string());
        }
        assert!(r.status().is_redirection(), "{url}: {}", r.status());
        next = r.headers()[LOCATION].to_str().unwrap().to_string();
    }
    panic!("the provider never sent the browser back");
}

/// Signs `hint` in: the callback's answer.
async fn sign_in(s: &Server, hint: &str) -> common::Resp {
    let url = callback_url(s, hint).await;
    s.send(s.client.get(url)).await
}

#[tokio::test]
async fn sign_in_through_a_real_openid_provider_and_every_refusal() {
    let s = Server::start();
    let owner = s.owner().await;
    let org = s.get("/settings", &owner).await.expect(200).body["org_id"]
        .as_str()
        .unwrap()
        .to_string();
    let redirect = format!("{}/api/v1/orgs/{org}/sso/callback", s.base);
    let provider = Provider::start(std::slice::from_ref(&redirect));
    let before = chrono::Utc::now().to_rfc3339();

    // Not configured yet; then bad settings are refused.
    s.send(s.client.get(s.url("/sso/login")))
        .await
        .problem(404, "sso_not_configured");
    let sso = |issuer: &str| json!({"issuer": issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
    s.put("/okta/sso", &owner, sso("http://idp.example.com"))
        .await
        .problem(422, "invalid_issuer");
    s.put("/okta/sso", &owner, sso("http://127.0.0.1:9"))
        .await
        .problem(422, "sso_discovery_failed");
    let set = s
        .put("/okta/sso", &owner, sso(&provider.issuer))
        .await
        .expect(200);
    assert_eq!(set.body["client_secret"], "***");
    assert_eq!(set.body["redirect_uri"], redirect);
    let entry = s.audit_at(&owner, set.position()).await;
    assert!(
        entry["description"]
            .as_str()
            .unwrap()
            .contains("Single sign-on of organization default set"),
        "{entry}"
    );

    // The Owner signs in through the provider and the session works.
    let url = callback_url(&s, "admin@localhost").await;
    let session = s.send(s.client.get(&url)).await.expect(201);
    assert_eq!(session.body["created"], false);
    let token = session.body["token"].as_str().unwrap();
    s.get("/people", token).await.expect(200);
    // The same answer from the provider again: its state was used.
    s.send(s.client.get(&url))
        .await
        .problem(401, "sso_state_unknown");

    // Someone the organization does not know.
    let r = sign_in(&s, "stranger@example.com")
        .await
        .problem(403, "sso_unknown_user");
    assert!(r.body["detail"]
        .as_str()
        .unwrap()
        .contains("stranger@example.com"));

    // A deactivated person.
    let (bob, _) = s.invite(&owner, "bob@example.com", None).await;
    s.post(
        &format!("/people/{}/deactivate", bob["user_id"].as_str().unwrap()),
        &owner,
        json!({}),
    )
    .await
    .expect(200);
    sign_in(&s, "bob@example.com")
        .await
        .problem(403, "user_deactivated");

    // Tokens the provider's answer was tampered with, or that were signed
    // for another audience, or that have expired.
    for (mode, why) in [
        ("tamper", "Signature verification failed"),
        ("wrong_aud", "audience"),
        ("expired", "Expired"),
    ] {
        provider.mode(mode).await;
        let r = sign_in(&s, "admin@localhost")
            .await
            .problem(401, "sso_token_invalid");
        let detail = r.body["detail"].as_str().unwrap();
        assert!(detail.contains(why), "{mode}: {detail}");
    }
    // The provider rotates its signing key: rolebook fetches the new JWKS.
    provider.mode("rotate").await;
    sign_in(&s, "admin@localhost").await.expect(201);
    provider.mode("normal").await;

    // Just-in-time creation, with the SCIM default role, as the identity
    // provider; then passwords switched off.
    let mut jit = sso(&provider.issuer);
    jit["jit_provisioning"] = json!(true);
    s.put("/okta/sso", &owner, jit.clone()).await.expect(200);
    let created = sign_in(&s, "newcomer@example.com").await.expect(201);
    assert_eq!(created.body["created"], true);
    let who = created.body["user_id"].as_str().unwrap().to_string();
    let newcomer = created.body["token"].as_str().unwrap().to_string();
    let me = s
        .get(&format!("/people/{who}/permissions"), &newcomer)
        .await
        .expect(200);
    assert!(me.body.to_string().contains("organization.view"), "{me:?}");
    let provisioned = s
        .audit(&owner, s.head().await, &format!("resource_id={who}"))
        .await;
    let added = provisioned.iter().find(|e| e["action"] == "Added").unwrap();
    assert_eq!(
        (added["actor"]["username"].clone(), added["medium"].clone()),
        (json!("sso"), json!("SSO"))
    );

    jit["password_login"] = json!(false);
    s.put("/okta/sso", &owner, jit).await.expect(200);
    let (login, _) = s.owner_login();
    s.call(
        reqwest::Method::POST,
        "/sessions",
        None,
        Some(json!({"login": login, "password": PASSWORD})),
    )
    .await
    .problem(403, "password_login_disabled");
    let after = chrono::Utc::now().to_rfc3339();

    // The settings as of any moment; the client secret nowhere in the
    // clear.
    assert_eq!(s.settings_as_of(&before)["sso"], Value::Null);
    let then = s.settings_as_of(&after)["sso"].clone();
    assert_eq!(then["issuer"], provider.issuer);
    assert_eq!(then["password_login"], false);
    assert!(!then.to_string().contains(CLIENT_SECRET));
    let got = s.get("/okta/sso", &owner).await.expect(200);
    assert!(!got.text.contains(CLIENT_SECRET));

    // Removed: passwords work again.
    s.delete("/okta/sso", &owner).await.expect(204);
    s.call(
        reqwest::Method::POST,
        "/sessions",
        None,
        Some(json!({"login": login, "password": PASSWORD})),
    )
    .await
    .expect(201);
}
