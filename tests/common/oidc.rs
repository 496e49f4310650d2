//! A real OpenID Connect provider for the tests: `tests/oidc/provider.mjs`
//! (panva's oidc-provider) run with the machine's Node.js on loopback.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

pub const CLIENT_ID: &str = "rolebook";
pub const CLIENT_SECRET: &str = "oidc-client-secret-for-the-tests-0123";

/// The provider process, killed on drop.
pub struct Provider {
    child: Child,
    pub issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    /// Starts the provider with one client whose redirect URIs are
    /// `redirects`.
    pub fn start(redirects: &[String]) -> Provider {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "the OpenID provider is not installed: run `npm ci --prefix tests/oidc` \
             (scripts/test does)"
        );
        let clients = json!([{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                              "redirect_uris": redirects}]);
        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .env("OIDC_CLIENTS", clients.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run node (Node.js 20) for the OpenID provider");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let started: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the provider did not start: {line:?}"));
        Provider {
            child,
            issuer: started["issuer"].as_str().unwrap().to_string(),
        }
    }

    /// Starts the provider with the default organization of `s` as its
    /// client (`s`'s SSO callbacks, the API's and the console's, as the
    /// redirect URIs).
    pub fn for_server(s: &super::Server) -> Provider {
        let org = s.bootstrap["org_id"].as_str().unwrap();
        Provider::start(&[
            format!("{}/api/v1/orgs/{org}/sso/callback", s.base),
            format!("{}/orgs/{org}/sso/callback", s.base),
        ])
    }

    /// The body of `PUT /okta/sso` for this provider.
    pub fn settings(&self) -> Value {
        json!({"issuer": self.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    }

    /// Makes the provider alter the ID tokens it gives from now on.
    pub async fn mode(&self, mode: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}/__test/mode", self.issuer))
            .json(&json!({ "mode": mode }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
}
