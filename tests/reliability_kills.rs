//! Kill -9 under load (issue 23, part 1), through the real binary, on the
//! backend the tests run on (SQLite; PostgreSQL in `scripts/test`'s second
//! pass). Four clients send commands, each with its own `Idempotency-Key`
//! (groups created with a member, and every third command an Admin role
//! given to the client's last group); the server is killed with SIGKILL at
//! a random moment and restarted; every command whose answer never came is
//! sent again with the same key and body, as API.md tells a client to, and
//! must get its command's answer (never `group_name_taken` for its own
//! success); a few answered ones are sent again and must get the same
//! answer. At the end:
//!
//! - every command is applied exactly once (one group per name, with the
//!   id its answer gave, one audit entry per group created; nothing else);
//! - `replay verify` passes;
//! - `check` answers what a pure fold of the log (`replay state`) says,
//!   for every user and a set of permissions, and the groups are the
//!   fold's;
//! - after `replay rebuild`, the audit view and the groups read the same.
//!
//! `ROLEBOOK_RELIABILITY_KILLS` (3) sets the number of kills (RELIABILITY.md
//! records the long runs); `ROLEBOOK_RELIABILITY_SEED` the random moments.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use common::Server;
use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};

const CLIENTS: usize = 4;
const PERMISSIONS: &[&str] = &[
    "organization.view",
    "organization.people.manage",
    "organization.groups.manage",
    "organization.custom_roles.manage",
];

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One command as a client sent it, and the answer it got (if any).
#[derive(Clone, Debug)]
struct Sent {
    key: String,
    method: Method,
    path: String,
    body: Value,
    /// The 2xx status and body of the first answer that reached the client.
    answer: Option<(u16, Value)>,
}

/// Sends `sent` with its key; `Some((status, body))` if an answer came.
async fn send(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    sent: &Sent,
) -> Option<(u16, Value)> {
    let r = client
        .request(
            sent.method.clone(),
            format!("{base}/api/v1/orgs/default{}", sent.path),
        )
        .bearer_auth(token)
        .header("Idempotency-Key", &sent.key)
        .json(&sent.body)
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    let text = r.text().await.ok()?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// The command `i` of client `c` in round `round`.
fn command(round: usize, c: usize, i: usize, members: &[String]) -> Sent {
    let group = format!("r{round}-c{c}-g{}", i - i % 3);
    let key = format!("k-{round}-{c}-{i}");
    if i % 3 == 2 {
        Sent {
            key,
            method: Method::PUT,
            path: format!("/groups/{group}/role"),
            body: json!({"role": "Admin"}),
            answer: None,
        }
    } else if i.is_multiple_of(3) {
        Sent {
            key,
            method: Method::POST,
            path: "/groups".into(),
            body: json!({"name": group, "description": "made under fire", "members": [members[(c + i) % members.len()]]}),
            answer: None,
        }
    } else {
        // A second member for the same group.
        Sent {
            key,
            method: Method::PATCH,
            path: format!("/groups/{group}"),
            body: json!({"add_members": [members[(c + i + 1) % members.len()]]}),
            answer: None,
        }
    }
}

/// Every audit entry, newest first.
async fn whole_audit(s: &Server, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/audit-logs?limit=1000&cursor={c}"),
            None => "/audit-logs?limit=1000".to_string(),
        };
        let r = s.get(&path, token).await.expect(200);
        out.extend(r.body["events"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

/// Every group: name -> (id, sorted members, role name).
async fn whole_groups(s: &Server, token: &str) -> BTreeMap<String, (String, Vec<String>, String)> {
    let mut out = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/groups?limit=1000&cursor={c}"),
            None => "/groups?limit=1000".to_string(),
        };
        let r = s.get(&path, token).await.expect(200);
        for g in r.body["groups"].as_array().unwrap() {
            let mut members: Vec<String> = g["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    m["user_id"]
                        .as_str()
                        .unwrap_or_else(|| m.as_str().unwrap())
                        .to_string()
                })
                .collect();
            members.sort();
            let role = g["role"]["name"].as_str().unwrap_or("").to_string();
            out.insert(
                g["name"].as_str().unwrap().to_string(),
                (g["group_id"].as_str().unwrap().to_string(), members, role),
            );
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

/// Runs the binary's CLI on a server's data (`dir`, `env`).
fn cli(dir: &std::path::Path, env: Vec<(String, String)>, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rolebook"))
        .envs(env)
        .env("RUST_LOG", "warn")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run rolebook")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_commands_survive_kill_9_exactly_once() {
    let kills = env_number("ROLEBOOK_RELIABILITY_KILLS", 3) as usize;
    let mut rng = rand::rngs::StdRng::seed_from_u64(env_number("ROLEBOOK_RELIABILITY_SEED", 23));
    let mut server = Server::start();
    let owner = server.owner().await;
    let mut members = Vec::new();
    for i in 0..3 {
        let (created, _) = server
            .invite(&owner, &format!("m{i}@acme.example"), None)
            .await;
        members.push(created["user_id"].as_str().unwrap().to_string());
    }
    let members = Arc::new(members);
    let ledger: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut resent = 0usize;

    for round in 0..kills {
        let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            let (http, base, token) = (http.clone(), server.base.clone(), owner.clone());
            let (ledger, members, running) = (ledger.clone(), members.clone(), running.clone());
            clients.push(tokio::spawn(async move {
                let mut i = 0;
                while running.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut sent = command(round, c, i, &members);
                    let answer = send(&http, &base, &token, &sent).await;
                    let lost = answer.is_none();
                    if let Some((status, body)) = &answer {
                        assert!(
                            (200..300).contains(status),
                            "{} {} answered {status}: {body}",
                            sent.method,
                            sent.path
                        );
                    }
                    sent.answer = answer;
                    ledger.lock().push(sent);
                    if lost {
                        // The server is gone: this client's next commands
                        // wait for the restart (they name its groups).
                        return;
                    }
                    i += 1;
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(300..1200))).await;
        let stopped = server.stop(); // SIGKILL
        running.store(false, std::sync::atomic::Ordering::Relaxed);
        for c in clients {
            c.await.expect("a client");
        }
        server = stopped.start(&[]);

        // Every unanswered command again, with its key: its own answer.
        let unanswered: Vec<usize> = {
            let l = ledger.lock();
            (0..l.len()).filter(|i| l[*i].answer.is_none()).collect()
        };
        for i in unanswered {
            let sent = ledger.lock()[i].clone();
            let answer = send(&http, &server.base, &owner, &sent)
                .await
                .expect("the restarted server answers");
            assert!(
                (200..300).contains(&answer.0),
                "re-sent {} {} with its key answered {}: {} (round {round})",
                sent.method,
                sent.path,
                answer.0,
                answer.1
            );
            ledger.lock()[i].answer = Some(answer);
            resent += 1;
        }
        // A few answered ones again: the first answer, whole.
        let answered: Vec<Sent> = ledger.lock().iter().rev().take(3).cloned().collect();
        for sent in answered {
            let again = send(&http, &server.base, &owner, &sent).await.unwrap();
            assert_eq!(Some(again), sent.answer, "{} given again", sent.key);
        }
    }

    let ledger = ledger.lock().clone();
    let acknowledged_before_kills = ledger.len() - resent;
    let head = server.head().await;
    // One group per created name, with the id its answer gave, and nothing else.
    let groups = whole_groups(&server, &owner).await;
    let mut created: HashMap<String, String> = HashMap::new();
    for s in ledger.iter().filter(|s| s.method == Method::POST) {
        let (_, body) = s.answer.as_ref().unwrap();
        created.insert(
            s.body["name"].as_str().unwrap().to_string(),
            body["group_id"].as_str().unwrap().to_string(),
        );
    }
    assert_eq!(groups.len(), created.len(), "no group more, none less");
    for (name, id) in &created {
        assert_eq!(groups.get(name).map(|g| &g.0), Some(id), "group {name}");
    }
    for s in ledger.iter().filter(|s| s.method == Method::PATCH) {
        let group = s.path.trim_start_matches("/groups/");
        let added = s.body["add_members"][0].as_str().unwrap();
        assert!(
            groups[group].1.iter().any(|m| m == added),
            "{added} in {group}"
        );
    }
    for s in ledger.iter().filter(|s| s.method == Method::PUT) {
        let group = s
            .path
            .trim_start_matches("/groups/")
            .trim_end_matches("/role");
        assert_eq!(groups[group].2, "Admin", "{group}'s role");
    }
    // One audit entry per group created: no command applied twice.
    let audit = whole_audit(&server, &owner).await;
    let mut added: HashMap<String, usize> = HashMap::new();
    for e in audit
        .iter()
        .filter(|e| e["resource_type"] == "Group" && e["action"] == "Added")
    {
        *added
            .entry(e["resource_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(added.len(), created.len());
    assert!(
        added.values().all(|n| *n == 1),
        "a group created twice: {added:?}"
    );

    // The hash chain holds.
    let out = cli(server.dir.path(), server.cli_env(), &["replay", "verify"]);
    assert!(out.status.success(), "replay verify: {out:?}");
    // `check` answers what a pure fold of the log says.
    let far = "2999-01-01T00:00:00Z";
    let out = cli(
        server.dir.path(),
        server.cli_env(),
        &["replay", "state", "--org", "default", "--as-of", far],
    );
    assert!(out.status.success(), "replay state: {out:?}");
    let fold: Value = serde_json::from_slice(&out.stdout).unwrap();
    let folded_groups: BTreeMap<String, String> = fold["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap().to_string(),
                g["group_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let served: BTreeMap<String, String> = groups
        .iter()
        .map(|(n, g)| (n.clone(), g.0.clone()))
        .collect();
    assert_eq!(folded_groups, served, "the groups are the fold's");
    let mut checked = 0;
    for user in fold["permissions"].as_array().unwrap() {
        let id = user["user_id"].as_str().unwrap();
        let held: Vec<&str> = user["organization"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["permission"].as_str().unwrap())
            .collect();
        for p in PERMISSIONS {
            let r = server
                .get(
                    &format!("/check?user={id}&permission={p}&at_least={head}"),
                    &owner,
                )
                .await
                .expect(200);
            assert_eq!(
                r.body["allowed"],
                held.contains(p),
                "check {id} {p} against the fold"
            );
            checked += 1;
        }
    }

    // A rebuild of the read models (server stopped) reads the same.
    let stopped = server.stop();
    let out = cli(
        stopped.dir.path(),
        stopped.cli_env(),
        &["replay", "rebuild"],
    );
    assert!(out.status.success(), "replay rebuild: {out:?}");
    let server = stopped.start(&[]);
    let head_after = server.head().await;
    assert_eq!(head_after, head, "a rebuild appends nothing");
    server
        .get(&format!("/audit-logs?limit=1&at_least={head}"), &owner)
        .await
        .expect(200);
    assert_eq!(
        whole_audit(&server, &owner).await,
        audit,
        "the audit view after a rebuild"
    );
    assert_eq!(
        whole_groups(&server, &owner).await,
        groups,
        "the groups after a rebuild"
    );
    println!(
        "kills: {kills}; commands: {} ({acknowledged_before_kills} answered before their kill, {resent} answered on re-send with their key, 0 lost, 0 doubled); checks against the fold: {checked}",
        ledger.len()
    );
}
