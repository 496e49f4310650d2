//! Answers kept for re-sent commands (`Idempotency-Key`).
//!
//! A command sent with an `Idempotency-Key` has its answer rendered on the
//! organization's worker right after the command takes effect, sealed, and
//! written by the event store in the same transaction as the command's
//! events ([`domain::store::Receipt`]). A re-send of the same request then
//! gets the same answer after any crash, and a command that committed is
//! never decided twice.
//!
//! Answers may carry secrets (temporary passwords, session and API tokens),
//! so nothing is stored in the clear: each answer is sealed with
//! AES-256-GCM under a key derived (HMAC-SHA256) from the server's key file
//! *and* the request itself (its `Authorization` header, method, path, body
//! and key). The stored answer opens only for a re-send of the same request
//! by the same caller; a copy of the database, with or without the key
//! file, does not reveal it to anyone who lacks the caller's credentials.
//! A request that differs opens nothing: that is how a reused key is told
//! apart from a re-send.

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use domain::store::{KeptAnswer, StoredAnswer};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The server's secret for sealing answers: 32 random bytes kept in a key
/// file (mode 0600) beside the databases.
#[derive(Clone)]
pub struct AnswerKey([u8; 32]);

impl AnswerKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        AnswerKey(bytes)
    }
}

impl std::fmt::Debug for AnswerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnswerKey(***)")
    }
}

/// What a command's caller is told.
///
/// A command's answer (`whole: None`) is rendered before its commit: its
/// `body` is a JSON object without `position`, which is added when the
/// answer is given, from the commit. An answer kept after the fact (a
/// command that appended nothing: a login, a no-op) is kept `whole`, as
/// it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whole: Option<Whole>,
}

/// The headers of an answer kept as it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Whole {
    pub content_type: Option<String>,
    /// Its `Rolebook-Position` header.
    pub position: Option<u64>,
}

impl Answer {
    /// A committed command's answer with a JSON body.
    pub fn json(status: u16, body: &impl Serialize) -> Answer {
        Answer {
            status,
            body: Some(serde_json::to_string(body).expect("answers serialize")),
            whole: None,
        }
    }

    /// A committed command's answer without a body.
    pub fn empty(status: u16) -> Answer {
        Answer {
            status,
            body: None,
            whole: None,
        }
    }
}

/// A request's claim on its `Idempotency-Key`: who sent it, the key, and
/// the key that seals its answer (derived from the request; never stored).
#[derive(Clone)]
pub struct Idempotency {
    principal: [u8; 32],
    key: String,
    seal_key: [u8; 32],
}

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// What a request is, for deriving its claim.
pub struct RequestParts<'a> {
    /// The `Authorization` header's bytes (empty when absent).
    pub authorization: &'a [u8],
    pub method: &'a str,
    /// The path and query.
    pub uri: &'a str,
    pub body: &'a [u8],
    /// The `Idempotency-Key`.
    pub key: &'a str,
}

impl Idempotency {
    /// The claim of a request: its principal is a hash of its
    /// `Authorization` header; its sealing key an HMAC, under the server's
    /// key, of everything the request says.
    pub fn of(server: &AnswerKey, request: &RequestParts<'_>) -> Idempotency {
        let principal: [u8; 32] = Sha256::new()
            .chain_update(b"rolebook principal\0")
            .chain_update(request.authorization)
            .finalize()
            .into();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&server.0).expect("any key length");
        for part in [
            b"rolebook answer".as_slice(),
            request.authorization,
            request.method.as_bytes(),
            request.uri.as_bytes(),
            request.key.as_bytes(),
            request.body,
        ] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        Idempotency {
            principal,
            key: request.key.to_string(),
            seal_key: mac.finalize().into_bytes().into(),
        }
    }

    pub fn principal(&self) -> &[u8; 32] {
        &self.principal
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The row identity the seal is bound to (a sealed answer moved to
    /// another principal or key does not open).
    fn aad(&self) -> Vec<u8> {
        let mut aad = self.principal.to_vec();
        aad.extend_from_slice(self.key.as_bytes());
        aad
    }

    /// Seals an answer for the store.
    pub fn seal(&self, answer: &Answer) -> KeptAnswer {
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.seal_key));
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let plain = serde_json::to_vec(answer).expect("answers serialize");
        let aad = self.aad();
        let mut sealed = nonce.to_vec();
        sealed.extend(
            cipher
                .encrypt(
                    &nonce,
                    Payload {
                        msg: &plain,
                        aad: &aad,
                    },
                )
                .expect("AES-GCM seals any length an answer has"),
        );
        KeptAnswer {
            principal: self.principal,
            key: self.key.clone(),
            sealed,
        }
    }

    /// Opens a stored answer: `None` if this request is not the one that
    /// sealed it (another body, path or caller under the same key).
    pub fn open(&self, stored: &StoredAnswer) -> Option<Answer> {
        if stored.sealed.len() < 12 {
            return None;
        }
        let (nonce, ciphertext) = stored.sealed.split_at(12);
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.seal_key));
        let aad = self.aad();
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .ok()?;
        serde_json::from_slice(&plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(body: &'a [u8], authorization: &'a [u8]) -> RequestParts<'a> {
        RequestParts {
            authorization,
            method: "POST",
            uri: "/api/v1/orgs/acme/groups",
            body,
            key: "k-1",
        }
    }

    fn stored(kept: KeptAnswer, position: Option<u64>) -> StoredAnswer {
        StoredAnswer {
            position,
            sealed: kept.sealed,
            kept_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn the_same_request_opens_its_answer_and_no_other_does() {
        let server = AnswerKey::new([7; 32]);
        let claim = Idempotency::of(&server, &parts(b"{\"name\":\"ops\"}", b"Bearer secret-1"));
        let answer = Answer::json(201, &serde_json::json!({"token": "s3cr3t-token"}));
        let kept = claim.seal(&answer);
        assert!(
            !kept
                .sealed
                .windows(b"s3cr3t-token".len())
                .any(|w| w == b"s3cr3t-token"),
            "the sealed answer must not hold the secret in the clear"
        );
        let again = Idempotency::of(&server, &parts(b"{\"name\":\"ops\"}", b"Bearer secret-1"));
        let opened = again.open(&stored(kept.clone(), Some(42))).expect("opens");
        assert_eq!(opened, answer);

        let other_body =
            Idempotency::of(&server, &parts(b"{\"name\":\"dev\"}", b"Bearer secret-1"));
        assert!(other_body.open(&stored(kept.clone(), None)).is_none());
        let other_caller =
            Idempotency::of(&server, &parts(b"{\"name\":\"ops\"}", b"Bearer secret-2"));
        assert_ne!(other_caller.principal(), claim.principal());
        assert!(other_caller.open(&stored(kept.clone(), None)).is_none());
        let other_server = Idempotency::of(
            &AnswerKey::new([8; 32]),
            &parts(b"{\"name\":\"ops\"}", b"Bearer secret-1"),
        );
        assert!(other_server.open(&stored(kept, None)).is_none());
    }

    #[test]
    fn parts_are_length_prefixed() {
        // Moving a byte from one part to the next is another request.
        let server = AnswerKey::new([1; 32]);
        let a = Idempotency::of(&server, &parts(b"xy", b"ab"));
        let b = Idempotency::of(
            &server,
            &RequestParts {
                authorization: b"abx",
                ..parts(b"y", b"")
            },
        );
        assert_ne!(a.seal_key, b.seal_key);
    }
}
