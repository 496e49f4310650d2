//! Session consistency (read-your-writes by default): the server remembers,
//! per bearer token, the position of the last command that token's caller
//! was answered, and every read by the same token waits until the read
//! model has reached it (at most the consistency wait, then 503
//! `projection_lagging`, as with `at_least`). Like a database's session
//! consistency level: a caller always sees its own writes; other callers'
//! reads do not wait for them (they pass `at_least` to see a write they
//! were told about).
//!
//! The floor is kept in memory, for the tokens seen lately (at most
//! [`MOST_TOKENS`]; past it, the oldest floors are forgotten and those
//! callers read as if they had written nothing, which is still correct
//! with `at_least`). A command is recognized by its `Rolebook-Position`
//! header, whatever route answered it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use super::state::AppState;

/// Tokens whose floor is kept at most.
pub const MOST_TOKENS: usize = 100_000;

/// The last position answered to each token (by the SHA-256 of the token:
/// the secret itself is not kept).
#[derive(Clone, Default)]
pub struct SessionPositions {
    floors: Arc<Mutex<Floors>>,
}

#[derive(Default)]
struct Floors {
    by_token: HashMap<[u8; 32], (u64, u64)>,
    /// Increases with every record: the order tokens were last seen in.
    clock: u64,
}

fn key(bearer: &str) -> [u8; 32] {
    Sha256::digest(bearer.as_bytes()).into()
}

impl SessionPositions {
    /// The position the token's reads must see (0: none).
    pub fn floor(&self, bearer: &str) -> u64 {
        self.floors
            .lock()
            .by_token
            .get(&key(bearer))
            .map_or(0, |(position, _)| *position)
    }

    /// Raises the token's floor to `position`.
    pub fn record(&self, bearer: &str, position: u64) {
        let mut floors = self.floors.lock();
        floors.clock += 1;
        let now = floors.clock;
        if floors.by_token.len() >= MOST_TOKENS && !floors.by_token.contains_key(&key(bearer)) {
            // Forget the older half.
            let mut seen: Vec<u64> = floors.by_token.values().map(|(_, at)| *at).collect();
            let middle = seen.len() / 2;
            let (_, cut, _) = seen.select_nth_unstable(middle);
            let cut = *cut;
            floors.by_token.retain(|_, (_, at)| *at > cut);
        }
        let entry = floors.by_token.entry(key(bearer)).or_insert((0, now));
        entry.0 = entry.0.max(position);
        entry.1 = now;
    }
}

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Remembers the position of every successful command answered to a
/// bearer token.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let token = bearer(request.headers()).map(str::to_string);
    let response = next.run(request).await;
    if let Some(token) = token {
        if response.status().is_success() {
            let position = response
                .headers()
                .get("rolebook-position")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if let Some(position) = position {
                state.sessions.record(&token, position);
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_rise_per_token_and_the_oldest_are_forgotten_past_the_bound() {
        let s = SessionPositions::default();
        s.record("a", 5);
        s.record("a", 3);
        s.record("b", 9);
        assert_eq!((s.floor("a"), s.floor("b"), s.floor("c")), (5, 9, 0));
        for i in 0..MOST_TOKENS {
            s.record(&format!("t{i}"), 1);
        }
        assert!(s.floors.lock().by_token.len() <= MOST_TOKENS);
        assert_eq!(s.floor("a"), 0, "the oldest were forgotten");
        assert_eq!(
            s.floor(&format!("t{}", MOST_TOKENS - 1)),
            1,
            "the newest kept"
        );
    }
}
