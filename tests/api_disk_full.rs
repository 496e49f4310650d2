//! A full disk under load (issue 23, part 2), through the real binary on
//! the embedded SQLite store: the data dir is on a small filesystem made
//! for the test (a 48 MiB tmpfs), filled by a ballast file to within a
//! few hundred KiB while four clients create groups, each command with its
//! own `Idempotency-Key`. While the disk is full every answer is a
//! success or 507 `storage_full` (503 `store_unavailable` while a file
//! stays locked), never a 500; nothing is half-written: once the ballast
//! is deleted, every refused command sent again with its key succeeds,
//! every command is in the log once and nothing else, the read models
//! catch up by themselves (health `ok`), and `replay verify` passes.
//!
//! Mounting needs root (CAP_SYS_ADMIN), as CI has: the test fails, it
//! does not skip, without it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Server;
use serde_json::{json, Value};

/// A tmpfs of `size` mounted on a directory of its own; unmounted on
/// drop.
struct SmallDisk {
    at: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let at = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at.path())
            .output()
            .expect("mount(8)");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs for the data dir and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { at }
    }

    fn path(&self) -> &Path {
        self.at.path()
    }

    /// Bytes free, as df says.
    fn free(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(self.path())
            .output()
            .expect("df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df's answer")
    }

    /// A ballast file leaving `left` bytes free.
    fn fill_leaving(&self, left: u64) -> PathBuf {
        let ballast = self.path().join("ballast");
        let size = self.free().saturating_sub(left);
        let out = Command::new("fallocate")
            .args(["-l", &size.to_string()])
            .arg(&ballast)
            .output()
            .expect("fallocate(1)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ballast
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.at.path()).status();
    }
}

/// One command as sent: the group's name, its key, the answer's status
/// and problem code.
type Answer = (String, String, u16, String);

async fn create_group(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
    key: &str,
) -> (u16, String) {
    let r = http
        .post(format!("{base}/api/v1/orgs/default/groups"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({"name": name, "description": "on a full disk", "members": []}))
        .send()
        .await
        .expect("the server answers every request, even on a full disk");
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or("").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_507_nothing_half_written_and_service_resumes_when_space_is_freed() {
    let disk = SmallDisk::mount("48m");
    let s = Server::start_in_dir(tempfile::tempdir_in(disk.path()).unwrap(), &[]);
    let owner = s.owner().await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    // Some commands while there is room.
    for i in 0..20 {
        let (status, _) = create_group(
            &http,
            &s.base,
            &owner,
            &format!("before-{i}"),
            &format!("kb-{i}"),
        )
        .await;
        assert_eq!(status, 201);
    }
    let mut answers: Vec<Answer> = (0..20)
        .map(|i| (format!("before-{i}"), format!("kb-{i}"), 201, String::new()))
        .collect();

    let ballast = disk.fill_leaving(384 * 1024);
    let sent: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let full = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (http, base, token) = (http.clone(), s.base.clone(), owner.clone());
        let (sent, full) = (sent.clone(), full.clone());
        clients.push(tokio::spawn(async move {
            let mut refused_since: Option<Instant> = None;
            for i in 0.. {
                let (name, key) = (format!("c{c}-g{i}"), format!("k-{c}-{i}"));
                let (status, code) = create_group(&http, &base, &token, &name, &key).await;
                sent.lock().unwrap().push((name, key, status, code));
                if status != 201 {
                    full.store(true, Ordering::Relaxed);
                    let since = *refused_since.get_or_insert_with(Instant::now);
                    // Keep knocking for a while on the full disk.
                    if since.elapsed() > Duration::from_secs(2) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                assert!(i < 20_000, "the disk never filled up");
            }
        }));
    }
    for c in clients {
        c.await.expect("a client");
    }
    assert!(full.load(Ordering::Relaxed));
    let during = sent.lock().unwrap().clone();
    let full_answers = during.iter().filter(|a| a.2 == 507).count();
    for (name, _, status, code) in &during {
        assert!(
            *status == 201
                || (*status == 507 && code == "storage_full")
                || (*status == 503 && code == "store_unavailable"),
            "{name}: {status} {code}"
        );
    }
    assert!(
        full_answers > 0,
        "some commands met the full disk: {during:?}"
    );
    // Health answers while the disk is full (the read models say why they
    // are behind, if they are).
    let r = s
        .call(reqwest::Method::GET, "/api/v1/health", None, None)
        .await;
    assert!(
        r.status == 200,
        "health on a full disk: {} {:?}",
        r.status,
        r.body
    );

    // Space freed: every refused command again with its key succeeds.
    std::fs::remove_file(&ballast).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    for (name, key, status, _) in during.iter().filter(|a| a.2 != 201) {
        loop {
            let (again, code) = create_group(&http, &s.base, &owner, name, key).await;
            match again {
                201 => break,
                503 | 507 if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                other => panic!("{name} re-sent after {status}: {other} {code}"),
            }
        }
    }
    answers.extend(during);

    // Every command once, nothing else; the read models caught up.
    let names = s.group_names(&owner).await;
    let mut expected: Vec<String> = answers.iter().map(|a| a.0.clone()).collect();
    expected.sort();
    assert_eq!(names.len(), expected.len(), "as many groups as commands");
    assert!(names == expected, "every command once, nothing else");
    let health = loop {
        let r = s
            .call(reqwest::Method::GET, "/api/v1/health", None, None)
            .await
            .expect(200);
        if r.body["status"] == "ok" || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(health.body["status"], "ok", "{:?}", health.body);
    let verify = common::rolebook(&[
        "--data-dir",
        s.dir.path().to_str().unwrap(),
        "replay",
        "verify",
    ]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    assert!(
        !s.stderr.lock().unwrap().contains("panicked"),
        "{}",
        s.stderr.lock().unwrap()
    );
    let redone = s
        .stderr
        .lock()
        .unwrap()
        .matches("cannot write a page of the read models")
        .count();
    println!(
        "{} commands on a disk filled up: {} answered 507 storage_full, all succeeded once space was freed; the read models tried a page again {} times",
        answers.len(),
        full_answers,
        redone
    );
}
