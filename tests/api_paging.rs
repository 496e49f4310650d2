//! Paging of every list (API.md: `limit`, default 50, at most 1000, and an
//! opaque `cursor`). Lists API.md writes as objects (`/people`, `/groups`,
//! `/who-can`, `/audit-logs`) answer `next_cursor` in the body. Lists it
//! writes as bare arrays (`/roles`, `/projects`,
//! `/projects/{project}/members`) keep the array: without `limit` or
//! `cursor` they answer everything (a client that knows only the array
//! loses nothing); with them, one page, and the next one is announced in
//! `Rolebook-Next-Cursor` and `Link: <...>; rel="next"`, absent on the
//! last page.

mod common;

use common::{Resp, Server};
use serde_json::{json, Value};

/// The next page's relative URL from a `Link` header, checked against
/// `Rolebook-Next-Cursor`.
fn next_link(r: &Resp) -> Option<String> {
    let cursor = r
        .headers
        .get("rolebook-next-cursor")
        .map(|v| v.to_str().unwrap().to_string());
    let link = r
        .headers
        .get("link")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(cursor.is_some(), link.is_some(), "{r:?}");
    let link = link?;
    let url = link
        .strip_prefix('<')
        .and_then(|l| l.strip_suffix(">; rel=\"next\""))
        .unwrap_or_else(|| panic!("Link {link:?}"));
    assert!(
        url.ends_with(&format!("cursor={}", cursor.unwrap())),
        "{url}"
    );
    Some(url.to_string())
}

/// Follows a bare-array list from `first` through its `Link`s; returns
/// every item and the number of pages.
async fn walk_array(s: &Server, token: &str, first: &str, limit: usize) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut url = first.to_string();
    loop {
        let r = s.get(&url, token).await.expect(200);
        let page = r.body.as_array().unwrap().clone();
        assert!(page.len() <= limit, "{url}: {} items", page.len());
        pages += 1;
        items.extend(page);
        match next_link(&r) {
            Some(next) => {
                assert!(next.starts_with("/api/v1/orgs/default/"), "{next}");
                url = next;
            }
            None => return (items, pages),
        }
    }
}

/// Follows an object list through its `next_cursor`s.
async fn walk_object(s: &Server, token: &str, first: &str, field: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut url = first.to_string();
    loop {
        let r = s.get(&url, token).await.expect(200);
        assert!(r.headers.get("rolebook-next-cursor").is_none());
        pages += 1;
        items.extend(r.body[field].as_array().unwrap().clone());
        match r.body["next_cursor"].as_str() {
            Some(c) => url = format!("{first}&cursor={c}"),
            None => {
                assert!(r.body["next_cursor"].is_null(), "{r:?}");
                return (items, pages);
            }
        }
    }
}

#[tokio::test]
async fn every_list_pages_and_bare_arrays_keep_their_shape() {
    let s = Server::start();
    let owner = s.owner().await;
    let mut last = 0;
    for name in ["delta", "alpha", "echo", "charlie", "bravo"] {
        last = s
            .post("/projects", &owner, json!({"name": name}))
            .await
            .expect(201)
            .position();
    }
    for name in ["Zeta", "eta", "Theta"] {
        let role = json!({"name": name, "scope": "project", "permissions": ["project.view"]});
        last = s.post("/roles", &owner, role).await.expect(201).position();
    }
    let (alice, _) = s.invite(&owner, "alice@example.com", None).await;
    let (bob, _) = s.invite(&owner, "bob@example.com", None).await;
    for (who, role) in [(&alice, "Reader"), (&bob, "Theta")] {
        let path = format!(
            "/projects/alpha/members/{}",
            who["user_id"].as_str().unwrap()
        );
        last = s
            .put(&path, &owner, json!({"role": role}))
            .await
            .expect(200)
            .position();
    }
    s.post(
        "/groups",
        &owner,
        json!({"name": "ops", "description": "on call", "members": []}),
    )
    .await
    .expect(201);
    let r = s
        .post(
            "/groups",
            &owner,
            json!({"name": "devs", "description": "developers", "members": []}),
        )
        .await
        .expect(201);
    last = last.max(r.position());
    let last = s
        .put(
            "/projects/alpha/members/group:devs",
            &owner,
            json!({"role": "Contributor"}),
        )
        .await
        .expect(200)
        .position()
        .max(last);

    // Bare arrays: without limit or cursor, the whole list and no header.
    for (path, count) in [
        (format!("/projects?at_least={last}"), 5),
        (format!("/roles?at_least={last}"), 9),
        (format!("/roles?at_least={last}&scope=project"), 6),
        (format!("/projects/alpha/members?at_least={last}"), 4),
    ] {
        let r = s.get(&path, &owner).await.expect(200);
        let all = r.body.as_array().unwrap().clone();
        assert_eq!(all.len(), count, "{path}: {all:?}");
        assert!(next_link(&r).is_none(), "{path}");
        // Paged: the same items in the same order, page by page.
        for limit in [1, 2, 4, 1000] {
            let (paged, pages) =
                walk_array(&s, &owner, &format!("{path}&limit={limit}"), limit).await;
            assert_eq!(paged, all, "{path} limit {limit}");
            assert_eq!(pages, count.div_ceil(limit), "{path} limit {limit}");
        }
    }
    // The order of each list is kept by its pages.
    let (projects, _) = walk_array(&s, &owner, "/projects?limit=2", 2).await;
    let names: Vec<&str> = projects
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "bravo", "charlie", "delta", "echo"]);
    let (roles, _) = walk_array(&s, &owner, "/roles?scope=project&limit=4", 4).await;
    let names: Vec<&str> = roles.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["Admin", "Contributor", "Reader", "eta", "Theta", "Zeta"]
    );
    let (members, _) = walk_array(&s, &owner, "/projects/alpha/members?limit=3", 3).await;
    let subjects: Vec<&str> = members
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert!(
        subjects[..3].iter().all(|s| s.starts_with("user:")),
        "{subjects:?}"
    );
    assert!(subjects[3].starts_with("group:"), "{subjects:?}");
    // A page after the last item is empty, and says so.
    let r = s.get("/projects?limit=5", &owner).await.expect(200);
    assert!(next_link(&r).is_none());

    // Object lists: next_cursor in the body.
    let r = s
        .get(&format!("/people?at_least={last}"), &owner)
        .await
        .expect(200);
    assert_eq!(r.body["people"].as_array().unwrap().len(), 3);
    assert!(r.body["next_cursor"].is_null());
    let (people, pages) = walk_object(&s, &owner, "/people?limit=1", "people").await;
    assert_eq!((people.len(), pages), (3, 3));
    let (groups, pages) = walk_object(&s, &owner, "/groups?limit=1", "groups").await;
    assert_eq!((groups.len(), pages), (2, 2));
    let r = s
        .get("/who-can?permission=organization.view", &owner)
        .await
        .expect(200);
    let all = r.body["users"].as_array().unwrap().clone();
    assert_eq!(all.len(), 3);
    assert!(r.body["next_cursor"].is_null());
    let (holders, pages) = walk_object(
        &s,
        &owner,
        "/who-can?permission=organization.view&limit=2",
        "users",
    )
    .await;
    assert_eq!(holders, all);
    assert_eq!(pages, 2);
    let (holders, _) = walk_object(
        &s,
        &owner,
        "/who-can?permission=project.view&project=alpha&limit=1",
        "users",
    )
    .await;
    assert_eq!(holders.len(), 3, "the owner, alice, bob: {holders:?}");

    // Bad limits and cursors, on every list.
    for path in [
        "/projects",
        "/roles",
        "/projects/alpha/members",
        "/people",
        "/groups",
        "/who-can?permission=organization.view",
    ] {
        let sep = if path.contains('?') { '&' } else { '?' };
        for limit in ["0", "1001"] {
            s.get(&format!("{path}{sep}limit={limit}"), &owner)
                .await
                .problem(422, "invalid_limit");
        }
        s.get(&format!("{path}{sep}cursor=not-hex"), &owner)
            .await
            .problem(400, "invalid_cursor");
        // Not a number: the query is refused as a whole.
        let r = s.get(&format!("{path}{sep}limit=many"), &owner).await;
        assert_eq!(r.status, 400, "{path}: {r:?}");
    }
}
