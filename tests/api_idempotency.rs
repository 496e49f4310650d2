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
