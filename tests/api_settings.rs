//! The organization's settings end to end through the real binary: how
//! workflows run, the initialization agent and the IP allow list, each
//! changed, read back, refused when invalid or unauthorized, visible in the
//! audit log and in `replay state --as-of` before and after; the allow list
//! enforced for clients on other loopback addresses, with its lock-out
//! guard and the forwarded-for flag.

mod common;

use std::net::IpAddr;

use common::{Server, PASSWORD};
use serde_json::{json, Value};

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[tokio::test]
async fn workflow_and_init_agent_settings_are_changed_audited_and_replayed() {
    let s = Server::start();
    let owner = s.owner().await;

    let defaults = s.get("/settings/workflows", &owner).await.expect(200).body;
    assert_eq!(
        defaults,
        json!({"fork_pull_requests": "disabled", "default_queue": "default",
               "job_timeout_minutes": 60, "manual_promotions": true})
    );
    let agent = s.get("/settings/init-agent", &owner).await.expect(200).body;
    assert_eq!(agent["machine_type"], "e1-standard-2");
    let before = now();

    // Every field that breaks a rule is named, and nothing changes.
    let bad = s
        .patch(
            "/settings/workflows",
            &owner,
            json!({"default_queue": "no spaces", "job_timeout_minutes": 0}),
        )
        .await
        .problem(422, "validation_failed");
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["default_queue", "job_timeout_minutes"]);
    s.patch(
        "/settings/workflows",
        &owner,
        json!({"fork_pull_requests": "sometimes"}),
    )
    .await
    .problem(422, "invalid_body");
    assert_eq!(
        s.get("/settings/workflows", &owner).await.expect(200).body,
        defaults
    );

    let changed = s
        .patch(
            "/settings/workflows",
            &owner,
            json!({"fork_pull_requests": "without_secrets", "default_queue": "large-jobs",
                   "job_timeout_minutes": 90}),
        )
        .await
        .expect(200);
    let workflows = json!({"fork_pull_requests": "without_secrets", "default_queue": "large-jobs",
                           "job_timeout_minutes": 90, "manual_promotions": true});
    let at = changed.position();
    let mut answered = changed.body.clone();
    answered.as_object_mut().unwrap().remove("position");
    assert_eq!(answered, workflows);
    let read = s
        .get(&format!("/settings/workflows?at_least={at}"), &owner)
        .await
        .expect(200);
    assert_eq!(read.body, workflows);
    let entry = s.audit_at(&owner, at).await;
    assert_eq!(entry["resource_type"], "Settings");
    let text = entry["description"].as_str().unwrap();
    assert!(
        text.contains("run without secrets") && text.contains("default queue large-jobs"),
        "{text}"
    );

    // The initialization agent, against the catalog the organization reads.
    let options = s
        .get("/settings/init-agent/options", &owner)
        .await
        .expect(200);
    let mac = options.body["cloud"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "a1-standard-4")
        .unwrap()
        .clone();
    assert!(mac["os_images"]
        .as_array()
        .unwrap()
        .contains(&json!("macos-xcode16")));
    s.put(
        "/settings/init-agent",
        &owner,
        json!({"environment": "cloud", "machine_type": "a1-standard-4", "os_image": "ubuntu2204"}),
    )
    .await
    .problem(422, "unknown_os_image");
    s.put(
        "/settings/init-agent",
        &owner,
        json!({"environment": "cloud", "machine_type": "z9-huge"}),
    )
    .await
    .problem(422, "unknown_machine_type");
    s.put(
        "/settings/init-agent",
        &owner,
        json!({"environment": "self_hosted", "machine_type": "s1-builders", "os_image": "ubuntu2204"}),
    )
    .await
    .problem(422, "os_image_not_applicable");
    let set = s
        .put(
            "/settings/init-agent",
            &owner,
            json!({"environment": "cloud", "machine_type": "a1-standard-4", "os_image": "macos-xcode16"}),
        )
        .await
        .expect(200);
    let agent_at = set.position();
    let entry = s.audit_at(&owner, agent_at).await;
    assert!(
        entry["description"]
            .as_str()
            .unwrap()
            .contains("cloud machine a1-standard-4 with macos-xcode16"),
        "{entry}"
    );
    let after = now();

    // A Member reads the catalog but not the settings, and changes nothing.
    let (_, _, member) = s.member(&owner, "mia@example.com", None).await;
    s.get("/settings/init-agent/options", &member)
        .await
        .expect(200);
    s.get("/settings/workflows", &member)
        .await
        .problem(403, "forbidden");
    s.patch(
        "/settings/workflows",
        &member,
        json!({"manual_promotions": false}),
    )
    .await
    .problem(403, "forbidden");
    s.put(
        "/settings/init-agent",
        &member,
        json!({"environment": "self_hosted", "machine_type": "s1-builders"}),
    )
    .await
    .problem(403, "forbidden");

    // The log answers for any moment: before the changes, the defaults;
    // after them, what was set.
    let then = s.settings_as_of(&before);
    assert_eq!(then["workflows"], defaults);
    assert_eq!(then["init_agent"]["machine_type"], "e1-standard-2");
    let later = s.settings_as_of(&after);
    assert_eq!(later["workflows"], workflows);
    assert_eq!(
        later["init_agent"],
        json!({"environment": "cloud", "machine_type": "a1-standard-4", "os_image": "macos-xcode16"})
    );
}

/// A client whose requests leave from `ip` (a loopback address).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn status_from(s: &Server, client: &reqwest::Client, token: &str) -> (u16, Value) {
    let r = s
        .send(client.get(s.url("/people")).bearer_auth(token))
        .await;
    (r.status, r.body)
}

#[tokio::test]
async fn the_ip_allow_list_refuses_other_addresses_and_cannot_lock_out_its_author() {
    let s = Server::start();
    let owner = s.owner().await;
    let (here, there) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    let before = now();

    // A list that would refuse the address the change comes from.
    let put = |client: &reqwest::Client, cidrs: Value| {
        s.send(
            client
                .put(s.url("/settings/ip-allow-list"))
                .bearer_auth(&owner)
                .json(&json!({ "cidrs": cidrs })),
        )
    };
    let refused = put(&here, json!(["127.0.0.3/32", "10.0.0.0/8"])).await;
    let refused = refused.problem(422, "would_lock_out");
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("127.0.0.2"),
        "{refused:?}"
    );
    put(&here, json!(["127.0.0.300/32"]))
        .await
        .problem(422, "invalid_cidr");
    assert_eq!(status_from(&s, &there, &owner).await.0, 200);

    let set = put(&here, json!(["127.0.0.2", "10.1.2.3/8"]))
        .await
        .expect(200);
    assert_eq!(set.body["cidrs"], json!(["127.0.0.2/32", "10.0.0.0/8"]));
    let at = set.position();
    // The read side applies the list: wait for it, then every request from
    // elsewhere is refused, a login included; from the listed address they
    // go through.
    let read = s
        .send(
            here.get(s.url(&format!("/settings/ip-allow-list?at_least={at}")))
                .bearer_auth(&owner),
        )
        .await
        .expect(200);
    assert_eq!(read.body["your_address"], "127.0.0.2");
    let (status, body) = status_from(&s, &there, &owner).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("ip_not_allowed"))
    );
    assert!(body["detail"].as_str().unwrap().contains("127.0.0.3"));
    assert_eq!(status_from(&s, &here, &owner).await.0, 200);
    let (login, _) = s.owner_login();
    let body = json!({"login": login, "password": PASSWORD});
    let r = s.send(there.post(s.url("/sessions")).json(&body)).await;
    r.problem(403, "ip_not_allowed");
    s.send(here.post(s.url("/sessions")).json(&body))
        .await
        .expect(201);
    // Routes outside any organization are not the list's to refuse.
    let health = s.send(there.get(s.url("/api/v1/health"))).await;
    assert_eq!(health.status, 200);

    let log = s
        .send(
            here.get(s.url(&format!("/audit-logs?at_least={at}&resource_type=Settings")))
                .bearer_auth(&owner),
        )
        .await
        .expect(200);
    let entry = log.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["position"] == at)
        .unwrap()
        .clone();
    assert_eq!(
        entry["description"],
        "IP allow list of organization default set to 127.0.0.2/32, 10.0.0.0/8"
    );
    assert_eq!(entry["ip"], "127.0.0.2");
    let after = now();

    // Cleared from the listed address: everyone is let in again.
    let cleared = put(&here, json!([])).await.expect(200);
    s.send(
        here.get(s.url(&format!(
            "/settings/ip-allow-list?at_least={}",
            cleared.position()
        )))
        .bearer_auth(&owner),
    )
    .await
    .expect(200);
    assert_eq!(status_from(&s, &there, &owner).await.0, 200);

    assert_eq!(s.settings_as_of(&before)["ip_allow_list"], json!([]));
    assert_eq!(
        s.settings_as_of(&after)["ip_allow_list"],
        json!(["127.0.0.2/32", "10.0.0.0/8"])
    );
}

#[tokio::test]
async fn forwarded_for_is_believed_only_when_the_operator_says_so() {
    for trusted in [false, true] {
        let env: &[(&str, &str)] = if trusted {
            &[("ROLEBOOK_TRUST_FORWARDED_FOR", "true")]
        } else {
            &[]
        };
        let s = Server::start_with(env);
        let owner = s.owner().await;
        let from_proxy = |forwarded: &str| {
            s.client
                .put(s.url("/settings/ip-allow-list"))
                .bearer_auth(&owner)
                .header("x-forwarded-for", forwarded)
        };
        // Behind a trusted proxy the last forwarded address is the
        // client's; otherwise the header is the client's own claim and the
        // peer (127.0.0.1) counts.
        let r = s
            .send(
                from_proxy("203.0.113.9, 198.51.100.7")
                    .json(&json!({"cidrs": ["198.51.100.0/24"]})),
            )
            .await;
        if trusted {
            let at = r.expect(200).position();
            let read = s
                .send(
                    s.client
                        .get(s.url(&format!("/settings/ip-allow-list?at_least={at}")))
                        .bearer_auth(&owner)
                        .header("x-forwarded-for", "198.51.100.8"),
                )
                .await
                .expect(200);
            assert_eq!(read.body["your_address"], "198.51.100.8");
            let elsewhere = s
                .send(
                    s.client
                        .get(s.url("/people"))
                        .bearer_auth(&owner)
                        .header("x-forwarded-for", "198.51.100.8, 192.0.2.1"),
                )
                .await;
            elsewhere.problem(403, "ip_not_allowed");
        } else {
            r.problem(422, "would_lock_out");
        }
    }
}
