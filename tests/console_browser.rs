//! The web console in a real browser: headless Chromium (the machine's,
//! driven by playwright-core from tests/browser/console.mjs) clicks through
//! signing in (a temporary password asks for a new one), People and Add
//! people, Audit Logs with a filter and the CSV export, the Access explorer
//! (now and as of a past moment; who can), signing out; and is
//! refused a forged form, another organization's page and pages the
//! signed-in Member may not open. Then the API says what the clicks did.
//! Screenshots of each page are kept in `target/console-screenshots/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, PASSWORD};
use serde_json::{json, Value};

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

#[tokio::test]
async fn the_console_clicked_through_in_chromium() {
    let s = Server::start_with(&[("ROLEBOOK_ADMIN_TOKEN", ADMIN)]);
    s.send(
        s.client
            .post(s.url("/api/v1/orgs"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": "other", "owner_email": "boss@other.example"})),
    )
    .await
    .expect(201);
    let (login, temporary) = s.owner_login();
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
        .env("TEMPORARY", &temporary)
        .env("PASSWORD", PASSWORD)
        .env("OTHER_ORG", "other")
        .env("SHOTS", &shots)
        .env("CHROMIUM", chromium())
        .output()
        .expect("run node (Node.js 20)");
    assert!(
        run.status.success(),
        "the browser run failed:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let seen: Value = serde_json::from_slice(&run.stdout).unwrap();

    // What the API answers after the clicks: the two people added, the
    // forged one not; the Member's chosen password works; the export held
    // the invitations.
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
    let people = s
        .get(&format!("/people?at_least={head}"), &owner)
        .await
        .expect(200);
    let emails: Vec<&str> = people.body["people"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["email"].as_str())
        .collect();
    assert!(emails.contains(&"ann@example.com") && emails.contains(&"bob@example.com"));
    assert!(!emails.contains(&"mallory@example.com"), "{emails:?}");
    s.call(
        reqwest::Method::POST,
        "/sessions",
        None,
        Some(json!({"login": "ann@example.com", "password": PASSWORD})),
    )
    .await
    .expect(201);
    let csv = seen["csv"].as_str().unwrap();
    assert!(csv.starts_with("Timestamp") || csv.lines().next().is_some_and(|h| h.contains(',')));
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
        "access-explorer",
        "access-who-can",
        "other-organization",
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
