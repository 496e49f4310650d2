//! Authentication: bearer tokens (sessions, API tokens, service-account
//! tokens), resolved to the calling user of one organization, and the login
//! rate limiter.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use domain::events::{Actor, Medium};
use domain::ids::{OrgId, UserId};
use domain::permissions::Permission;
use parking_lot::Mutex;

use super::problem::{ApiResult, Problem};
use super::state::AppState;

/// The bearer token of a request. Missing or malformed: 401.
pub struct Bearer(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Problem::unauthorized("missing Authorization: Bearer <token>"))?;
        let token = value
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Problem::unauthorized("the Authorization header must be Bearer <token>")
            })?;
        Ok(Bearer(token.to_string()))
    }
}

/// Where a request comes from, for the audit log, and its claim on an
/// `Idempotency-Key` (set by the idempotency layer).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub idempotency: Option<commands::Idempotency>,
}

impl Origin {
    /// The command context of a request from here: `actor` through `medium`.
    pub fn context(&self, actor: Actor, medium: Medium) -> commands::CommandContext {
        let mut ctx = commands::CommandContext::new(actor, medium);
        ctx.ip = self.ip.clone();
        ctx.user_agent = self.user_agent.clone();
        ctx.request_id = self.request_id.clone();
        ctx.idempotency = self.idempotency.clone();
        ctx
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(512).collect::<String>())
        };
        let ip = parts
            .extensions
            .get::<super::client_addr::ClientAddr>()
            .map(|c| c.0.to_string());
        Ok(Origin {
            ip,
            user_agent: header("user-agent"),
            request_id: header("x-request-id"),
            idempotency: parts.extensions.get::<commands::Idempotency>().cloned(),
        })
    }
}

/// The authenticated caller of an organization's route (`{org}` in the
/// path): 401 without a live token of that organization, 404
/// `org_not_found`, 503 `projection_lagging` just after a start (see
/// [`AppState::caller`]).
#[derive(Debug, Clone)]
pub struct Caller {
    pub org: OrgId,
    pub user: UserId,
    /// The token the caller presented.
    pub token_id: domain::ids::TokenId,
    pub username: String,
    pub origin: Origin,
    /// The position of this token's last command: its reads wait for it
    /// (session consistency, `super::session`).
    pub session_floor: u64,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let bearer = Bearer::from_request_parts(parts, state).await?;
        let Ok(origin) = Origin::from_request_parts(parts, state).await;
        // Percent-decoded, as `Path` gives it.
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| Problem::not_found("org_not_found", "no such organization"))?;
        let org = params
            .iter()
            .find(|(name, _)| *name == "org")
            .map(|(_, value)| value.to_string())
            .ok_or_else(|| {
                Problem::internal(anyhow::anyhow!(
                    "a route of an organization without {{org}}"
                ))
            })?;
        state.caller(&org, &bearer, origin).await
    }
}

impl Caller {
    /// The command context: who, through the API, from where.
    pub fn context(&self) -> commands::CommandContext {
        self.origin
            .context(Actor::user(self.user, self.username.clone()), Medium::Api)
    }
}

impl AppState {
    /// Resolves the token to a user of `org`: 401 unless the token is live,
    /// belongs to this organization and its user is still in it and active
    /// (deactivation also revokes every token at once).
    pub async fn caller(&self, org: &str, bearer: &Bearer, origin: Origin) -> ApiResult<Caller> {
        let org = self.org(org).await?;
        let token = self
            .token(&bearer.0)
            .await?
            .filter(|t| t.org_id == org)
            .ok_or_else(|| Problem::unauthorized("invalid or expired token"))?;
        self.caught_up_since_start().await?;
        // The read model answers almost always; a user it has not seen yet
        // (invited a moment ago) is looked up on the write side.
        let known = self.model.read().org(org).and_then(|o| {
            o.state
                .users
                .get(&token.user_id)
                .filter(|u| u.active)
                .map(|u| u.username.clone())
        });
        let username = match known {
            Some(name) => name,
            None => self
                .service
                .read(org, move |s| {
                    s.users
                        .get(&token.user_id)
                        .filter(|u| u.active)
                        .map(|u| u.username.clone())
                })
                .await?
                .ok_or_else(|| Problem::unauthorized("invalid or expired token"))?,
        };
        Ok(Caller {
            org,
            user: token.user_id,
            token_id: token.token_id,
            username,
            origin,
            session_floor: self.sessions.floor(&bearer.0),
        })
    }

    /// Answers 403 naming the permission unless the caller holds it.
    pub fn require(&self, caller: &Caller, permission: Permission) -> ApiResult<()> {
        if self
            .model
            .read()
            .check(caller.org, caller.user, permission, None)
        {
            Ok(())
        } else {
            Err(Problem::forbidden(permission.name()))
        }
    }
}

/// Login attempts per login and per client address: at most `limit` in a
/// sliding `window`; past it, 429 until the window frees up.
#[derive(Clone)]
pub struct LoginLimiter {
    limit: usize,
    window: Duration,
    attempts: Arc<Mutex<HashMap<String, Vec<Instant>>>>,
}

impl LoginLimiter {
    pub fn new(limit: usize, window: Duration) -> Self {
        LoginLimiter {
            limit,
            window,
            attempts: Arc::default(),
        }
    }

    /// Records an attempt under every key; refuses if any key is over.
    pub fn attempt(&self, keys: &[String]) -> ApiResult<()> {
        let now = Instant::now();
        let mut attempts = self.attempts.lock();
        if attempts.len() > 50_000 {
            attempts.retain(|_, v| v.last().is_some_and(|t| now - *t < self.window));
        }
        let mut wait = None;
        for key in keys {
            let seen = attempts.entry(key.clone()).or_default();
            seen.retain(|t| now - *t < self.window);
            if seen.len() >= self.limit {
                wait = Some(self.window - (now - seen[0]));
            }
        }
        if let Some(wait) = wait {
            return Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many login attempts; try again later",
            )
            .with("retry_after_seconds", wait.as_secs().max(1)));
        }
        for key in keys {
            attempts.entry(key.clone()).or_default().push(now);
        }
        Ok(())
    }
}
