//! The web console in a real browser: headless Chromium (the machine's,
//! driven by playwright-core from tests/browser/console.mjs) clicks through
//! every workflow of the console: signing in (with a password; a temporary
//! one asks for a new one; and through a real OpenID Connect provider),
//! People, Add people and Edit (change role, reset password, remove:
//! blocked while the person owns a project, with the link to transfer it),
//! Groups (create, modify members, modify role), Projects (owner transfer,
//! members with their sources, a retraction explained), Audit Logs with a
//! filter, the CSV export and Configure Streaming (a connection test
//! against a real S3-compatible server before saving), the Access explorer,
//! Settings (Roles with a new custom role, General, Initialization job,
//! Notifications, IP allow list, Okta) and signing out; and is refused a
//! forged form, another organization's page and the pages the signed-in
//! Member may not open. Then the API says what the clicks did. Screenshots
//! of each page are kept in `target/console-screenshots/`.

#[path = "../replay/tests/support/mod.rs"]
mod support;

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::oidc::{Provider, CLIENT_ID, CLIENT_SECRET};
use common::{Server, PASSWORD};
use serde_json::{json, Value};
use support::Moto;

const ADMIN: &str = "admin-token-for-the-console-test";

fn chromium() -> PathBuf {
    let path = std::env::var("ROLEBOOK_TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "{} is missing: install Chromium (Debian: apt-get install chromium chromium-driver) \
         or set ROLEBOOK_TEST_CHROMIUM",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_clicked_through_in_chromium() {
    let moto = Moto::start();
    let s = Server::start_with(&[("ROLEBOOK_ADMIN_TOKEN", ADMIN)]);
    let provider = Provider::for_server(&s);
    s.send(
        s.client
            .post(s.url("/api/v1/orgs"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": "other", "owner_email": "boss@other.example"})),
    )
    .await
    .expect(201);
    // The Owner's first password is set here (the browser goes through a
    // temporary password with a Member), and a project exists to transfer.
    let (login, temporary) = s.owner_login();
    let owner = s.first_login(&login, &temporary).await;
    s.post("/projects", &owner, json!({"name": "web"}))
        .await
        .expect(201);
    // Someone in six groups: People shows five and "1 more".
    s.invite(&owner, "gina@example.com", None).await;
    for i in 1..=6 {
        s.post(
            "/groups",
            &owner,
            json!({"name": format!("z-team-{i}"), "description": "a team", "members": ["gina"]}),
        )
        .await
        .expect(201);
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let browser = root.join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `npm ci --prefix tests/browser` (scripts/test does)"
    );
    let shots = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"))
        .join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let run = Command::new("node")
        .arg(browser.join("console.mjs"))
        .env("BASE", &s.base)
        .env("LOGIN", &login)
        .env("PASSWORD", PASSWORD)
        .env("OTHER_ORG", "other")
        .env("SHOTS", &shots)
        .env("CHROMIUM", chromium())
        .env("MOTO_ENDPOINT", moto.endpoint())
        .env("MOTO_KEY_ID", &moto.access_key_id)
        .env("MOTO_SECRET", &moto.secret_access_key)
        .env("OIDC_ISSUER", &provider.issuer)
        .env("OIDC_CLIENT_ID", CLIENT_ID)
        .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .expect("run node (Node.js 20)");
    assert!(
        run.status.success(),
        "the browser run failed:\n{}\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
        s.stderr.lock().unwrap()
    );
    let seen: Value = serde_json::from_slice(&run.stdout).unwrap();

    // What the API answers after the clicks.
    let owner = s
        .call(
            reqwest::Method::POST,
            "/sessions",
            None,
            Some(json!({"login": login, "password": PASSWORD})),
        )
        .await
        .expect(201)
        .body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let head = s.head().await;
    let get = |path: String| {
        let (s, owner) = (&s, &owner);
        async move {
            let sep = if path.contains('?') { '&' } else { '?' };
            s.get(&format!("{path}{sep}at_least={head}"), owner)
                .await
                .expect(200)
                .body
        }
    };

    // People: ann and carol (username cc) added, bob removed, the forged
    // one never added; ann's chosen password works.
    let people = get("/people".into()).await;
    let usernames: Vec<&str> = people["people"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["username"].as_str())
        .collect();
    assert!(
        usernames.contains(&"ann") && usernames.contains(&"cc"),
        "{usernames:?}"
    );
    assert!(!usernames.contains(&"bob"), "{usernames:?}");
    assert!(!people.to_string().contains("mallory"));
    s.call(
        reqwest::Method::POST,
        "/sessions",
        None,
        Some(json!({"login": "ann@example.com", "password": PASSWORD})),
    )
    .await
    .expect(201);

    // The group: cc alone, role Admin.
    let groups = get("/groups".into()).await;
    let developers = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "developers")
        .unwrap();
    assert_eq!(developers["name"], "developers");
    assert_eq!(developers["role"]["name"], "Admin");
    let members: Vec<&str> = developers["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["username"].as_str().unwrap())
        .collect();
    assert_eq!(members, ["cc"]);

    // The project: back with admin; the group's binding stays, ann's is
    // gone.
    let web = get("/projects/web".into()).await;
    assert_eq!(web["owner"]["username"], "admin");
    let project_members = get("/projects/web/members".into()).await.to_string();
    assert!(project_members.contains("developers"), "{project_members}");
    assert!(!project_members.contains("\"ann\""), "{project_members}");

    // The custom role as defined in the browser.
    let auditor = get("/roles/Auditor".into()).await;
    let mut own: Vec<&str> = auditor["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    own.sort_unstable();
    assert_eq!(
        own,
        [
            "organization.audit_logs.view",
            "organization.people.view",
            "organization.view"
        ]
    );
    assert_eq!(auditor["project_role"]["name"], "Reader");
    assert_eq!(auditor["inherits"][0]["name"], "Member");

    // The settings.
    assert_eq!(
        get("/settings".into()).await["url"],
        "https://example.com/acme"
    );
    assert_eq!(
        get("/settings/workflows".into()).await["job_timeout_minutes"],
        90
    );
    assert_eq!(
        get("/settings/init-agent".into()).await["machine_type"],
        "s1-my-agents"
    );
    assert_eq!(
        get("/settings/ip-allow-list".into()).await["cidrs"],
        json!([])
    );
    assert_eq!(get("/notifications".into()).await["targets"], json!([]));
    assert!(get("/okta/scim".into()).await["token_id"].is_string());
    assert_eq!(get("/okta/sso".into()).await["issuer"], provider.issuer);
    let scim_token = seen["scim_token"].as_str().unwrap();
    // The SCIM token the console showed works.
    s.call(
        reqwest::Method::GET,
        "/scim/v2/Users",
        Some(scim_token),
        None,
    )
    .await
    .expect(200);

    // Streaming: saved with the keys (never shown), and the connection
    // test's object is in the bucket.
    let streaming = get("/audit-logs/streaming".into()).await;
    assert_eq!(streaming["bucket"], "audit");
    assert_eq!(streaming["secret_access_key"], "***");
    let objects = moto.objects();
    assert!(
        objects.contains_key("console/rolebook-connection-test.txt"),
        "{objects:?}"
    );

    // The export held the invitations.
    let csv = seen["csv"].as_str().unwrap();
    assert!(csv.contains("ann@example.com"), "{csv}");
    let added = s
        .audit(&owner, head, "action=Added&resource_type=User")
        .await;
    assert!(added.iter().any(|e| e["description"]
        .as_str()
        .unwrap()
        .contains("User ann invited")));

    for page in [
        "sign-in",
        "people",
        "add-people",
        "audit-logs",
        "audit-logs-filtered",
        "streaming-tested",
        "streaming",
        "access-explorer",
        "access-who-can",
        "person",
        "group",
        "groups",
        "project",
        "project-retract-explained",
        "remove-blocked",
        "role-predefined",
        "new-role",
        "custom-role",
        "settings-general",
        "settings-init-job",
        "settings-notifications",
        "settings-ip-allow-list",
        "settings-okta",
        "other-organization",
        "sign-in-sso",
        "refused",
    ] {
        let file = shots.join(format!("{page}.png"));
        assert!(
            std::fs::metadata(&file).is_ok_and(|m| m.len() > 1000),
            "no screenshot {}",
            file.display()
        );
    }
}
