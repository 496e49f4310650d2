//! Provisioning people over SCIM as Okta does (issue 17): for each
//! person, a lookup by `userName` (none found), then `POST /Users`, with a
//! number of people in flight. The organization's SCIM token is issued by
//! its Owner first.

use std::time::{Duration, Instant};

use futures::StreamExt;

/// Provisions `count` people into the organization at `base`
/// (`…/api/v1/orgs/NAME`), `in_flight` at a time; answers each person's
/// latency (lookup and create), sorted, and the whole time. Panics on any
/// refused request.
pub async fn provision(
    client: &reqwest::Client,
    base: &str,
    owner_auth: &str,
    count: usize,
    in_flight: usize,
) -> (Vec<Duration>, Duration) {
    let r = client
        .post(format!("{base}/okta/scim-token"))
        .header("Authorization", owner_auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "SCIM token");
    let body: serde_json::Value = r.json().await.unwrap();
    let auth = format!("Bearer {}", body["token"].as_str().unwrap());
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures::stream::iter(0..count)
        .map(|i| {
            let (client, auth) = (client.clone(), auth.clone());
            let users = format!("{base}/scim/v2/Users");
            async move {
                let login = format!("scim{i}@okta.example");
                let began = Instant::now();
                let lookup = client
                    .get(&users)
                    .query(&[("filter", format!("userName eq \"{login}\""))])
                    .header("Authorization", &auth)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(lookup.status(), 200, "lookup");
                let found: serde_json::Value = lookup.json().await.unwrap();
                assert_eq!(found["totalResults"], 0, "{login} already there");
                let created = client
                    .post(&users)
                    .header("Authorization", &auth)
                    .header("Content-Type", "application/scim+json")
                    .body(
                        serde_json::json!({
                            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                            "userName": login,
                            "name": {"givenName": "Scim", "familyName": format!("Person {i}")},
                            "emails": [{"primary": true, "value": format!("scim{i}@acme.example"), "type": "work"}],
                            "externalId": format!("00u{i}"),
                            "active": true
                        })
                        .to_string(),
                    )
                    .send()
                    .await
                    .unwrap();
                let status = created.status();
                let text = created.text().await.unwrap();
                assert_eq!(status, 201, "{text}");
                began.elapsed()
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let took = started.elapsed();
    latencies.sort();
    (latencies, took)
}
