//! Loads an organization through the HTTP API, request by request, as a
//! new user would (issue 22 measured commands on an organization loaded
//! this way): the people, custom roles, organization roles, groups,
//! projects and project bindings of a generated workload's final state,
//! by name, with a number of requests in flight. The organization itself
//! must exist, empty, with the caller as its Owner.

use std::time::{Duration, Instant};

use domain::ids::UserId;
use domain::permissions::Scope;
use domain::roles::{RepoAccess, MEMBER};
use futures::StreamExt;
use testkit::Workload;

/// One request of the load.
struct Request {
    method: reqwest::Method,
    path: String,
    body: serde_json::Value,
}

fn put(path: String, body: serde_json::Value) -> Request {
    Request {
        method: reqwest::Method::PUT,
        path,
        body,
    }
}

fn post(path: &str, body: serde_json::Value) -> Request {
    Request {
        method: reqwest::Method::POST,
        path: path.to_string(),
        body,
    }
}

/// Loads `w`'s content into the organization at `base`
/// (`…/api/v1/orgs/NAME`), `in_flight` requests at a time, stage after
/// stage (each stage needs the ones before). Prints each stage's count
/// and time; panics on any refused request.
pub async fn load(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    w: &Workload,
    in_flight: usize,
) {
    let s = &w.state;
    let username = |u: &UserId| s.users[u].username.clone();
    let role = |r| s.roles[r].name.clone();
    let started = Instant::now();

    let people: Vec<_> = w.users[1..]
        .chunks(100)
        .map(|chunk| {
            let people: Vec<_> = chunk
                .iter()
                .map(|u| serde_json::json!({ "email": s.users[u].email }))
                .collect();
            post("/people", serde_json::json!({ "people": people }))
        })
        .collect();
    let mut custom: Vec<_> = s.roles.values().filter(|r| !r.predefined).collect();
    // Inherited roles first (the generator's inherit only predefined ones,
    // but a role must exist before another names it).
    custom.sort_by_key(|r| (!r.inherits.is_empty(), r.name.clone()));
    let roles: Vec<_> = custom
        .iter()
        .map(|r| {
            post(
                "/roles",
                serde_json::json!({
                    "name": r.name,
                    "scope": match r.scope {
                        Scope::Organization => "organization",
                        Scope::Project => "project",
                    },
                    "description": r.description,
                    "permissions": r.permissions.iter().map(|p| p.name()).collect::<Vec<_>>(),
                    "inherits": r.inherits.iter().map(role).collect::<Vec<_>>(),
                    "project_role": r.project_role.as_ref().map(role),
                }),
            )
        })
        .collect();
    let org_roles: Vec<_> = s
        .org_roles
        .iter()
        .filter(|(u, r)| **r != MEMBER && **u != w.owner)
        .map(|(u, r)| {
            put(
                format!("/people/{}/role", username(u)),
                serde_json::json!({ "role": role(r) }),
            )
        })
        .collect();
    let groups: Vec<_> = s
        .groups
        .values()
        .map(|g| {
            post(
                "/groups",
                serde_json::json!({
                    "name": g.name,
                    "description": g.description,
                    "members": g.members.iter().map(username).collect::<Vec<_>>(),
                }),
            )
        })
        .collect();
    let projects: Vec<_> = s
        .projects
        .values()
        .map(|p| {
            post(
                "/projects",
                serde_json::json!({ "name": p.name, "owner": username(&p.owner) }),
            )
        })
        .collect();
    let mut bindings = Vec::new();
    for p in s.projects.values() {
        for (u, r) in &p.user_bindings {
            bindings.push(put(
                format!("/projects/{}/members/{}", p.name, username(u)),
                serde_json::json!({ "role": role(r) }),
            ));
        }
        for (g, r) in &p.group_bindings {
            bindings.push(put(
                format!("/projects/{}/members/group:{}", p.name, s.groups[g].name),
                serde_json::json!({ "role": role(r) }),
            ));
        }
        for (u, access) in &p.repo_access {
            bindings.push(put(
                format!("/projects/{}/repository-access/{}", p.name, username(u)),
                serde_json::json!({ "access": match access {
                    RepoAccess::Read => "read",
                    RepoAccess::Write => "write",
                    RepoAccess::Admin => "admin",
                } }),
            ));
        }
    }
    let mut total = 0;
    for (stage, requests) in [
        ("people invited (100 per request)", people),
        ("custom roles", roles),
        ("organization roles", org_roles),
        ("groups with their members", groups),
        ("projects", projects),
        ("project bindings and repository access", bindings),
    ] {
        let at = Instant::now();
        let n = requests.len();
        total += n;
        run(client, base, auth, requests, in_flight).await;
        println!(
            "  through the API: {n} requests, {stage}, in {:.1?}",
            at.elapsed()
        );
    }
    println!(
        "  through the API: {total} requests in {:.1?} ({in_flight} in flight)",
        started.elapsed()
    );
}

async fn run(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    requests: Vec<Request>,
    in_flight: usize,
) {
    futures::stream::iter(requests)
        .for_each_concurrent(in_flight, |r| async move {
            let answer = client
                .request(r.method.clone(), format!("{base}{}", r.path))
                .header("Authorization", auth)
                .timeout(Duration::from_secs(600))
                .json(&r.body)
                .send()
                .await
                .unwrap();
            let status = answer.status();
            let text = answer.text().await.unwrap_or_default();
            assert!(
                status.is_success(),
                "{} {}: {status} {text}",
                r.method,
                r.path
            );
        })
        .await;
}
