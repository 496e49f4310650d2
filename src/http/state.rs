//! What every handler shares: the command service (write side), the access
//! model and projection positions (read side), the read-model database for
//! audit queries, and small caches for organization names and tokens.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use commands::credentials::TokenRecord;
use commands::CommandService;
use domain::ids::{OrgId, UserId};
use parking_lot::RwLock;
use projections::access::SharedAccessModel;
use projections::runner::{Positions, StartGate};

use super::auth::Caller;
use super::problem::{ApiResult, Problem};

/// How long a query waits for `at_least` before answering 503.
pub const CONSISTENCY_WAIT: Duration = Duration::from_secs(5);
/// How long a resolved `{org}` handle is trusted without asking the
/// registry again: a rename through this process forgets it at once, one
/// through another process is seen within this time.
pub const ORG_HANDLE_TTL: Duration = Duration::from_secs(2);

/// What every handler is given: the services and caches above. Cheap to
/// clone.
#[derive(Clone)]
pub struct AppState {
    pub service: CommandService,
    pub model: SharedAccessModel,
    pub positions: Positions,
    /// The read-model database's read-only connections, for the queries
    /// that read it (audit, the streaming ledger).
    pub reads: infra::sqlite::ReadPool,
    /// The audit view in PostgreSQL (the log is there); `None`: the
    /// embedded view, read through `reads`.
    pub audit_postgres: Option<sqlx::PgPool>,
    pub limiter: super::auth::LoginLimiter,
    pub idempotency: super::idempotency::KeyLocks,
    /// Snapshots for `as_of` queries (their decoded-state cache makes
    /// repeated questions about one period fast).
    pub snapshots: Option<replay::Snapshots>,
    /// The instance admin token (`ROLEBOOK_ADMIN_TOKEN`): opens
    /// `POST /api/v1/orgs`. `None`: that route is closed.
    pub admin_token: Option<Arc<str>>,
    /// Closed until the access model has caught up with the log as it
    /// stood at start: authenticated requests wait at it (see
    /// [`AppState::caught_up_since_start`]).
    pub start_gate: Arc<StartGate>,
    /// The log's head when the server started, and the projections that
    /// must reach it before the server is healthy.
    pub start: (u64, Vec<&'static str>),
    /// The server's key for sealing kept answers (`answers.key`).
    pub answer_key: commands::AnswerKey,
    /// Each token's last command position (session consistency).
    pub sessions: super::session::SessionPositions,
    /// The bucket keys of audit streaming, sealed at rest.
    pub streaming_keys: Arc<crate::streaming::Credentials>,
    /// Whether the client address is the last of `X-Forwarded-For`
    /// (behind a proxy the operator trusts; `super::client_addr`).
    pub trust_forwarded_for: bool,
    /// The audit webhooks' secrets, cursors and delivery log.
    pub notifications: crate::notifications::Store,
    /// Single sign-on: its stores and the providers' cached metadata.
    pub sso: crate::sso::Sso,
    /// This server's URL as browsers and identity providers reach it
    /// (`--public-url`): the base of SSO redirect URIs.
    pub public_url: String,
    /// The client webhook deliveries (and test sends) go through.
    pub webhook_client: webhook_client::Client,
    orgs: Arc<RwLock<HashMap<String, (OrgId, Instant)>>>,
    /// Live tokens by secret; `None` when other servers share the
    /// credentials ([`AppState::shared_with_other_servers`]).
    tokens: Option<Arc<RwLock<HashMap<String, TokenRecord>>>>,
}

/// What the server keeps beside the log for its dealings with the outside:
/// the bucket keys of audit streaming, the audit webhooks' store and single
/// sign-on's.
pub struct Integrations {
    pub streaming_keys: crate::streaming::Credentials,
    pub notifications: crate::notifications::Store,
    pub sso: crate::sso::Sso,
    /// The client outbound requests (webhooks, the identity provider) go
    /// through.
    pub client: webhook_client::Client,
}

impl AppState {
    pub fn new(
        service: CommandService,
        model: SharedAccessModel,
        positions: Positions,
        read_db: PathBuf,
        answer_key: commands::AnswerKey,
        integrations: Integrations,
    ) -> Self {
        let Integrations {
            streaming_keys,
            notifications,
            sso,
            client,
        } = integrations;
        AppState {
            service,
            model,
            positions,
            reads: projections::db::read_pool(&read_db),
            audit_postgres: None,

            limiter: super::auth::LoginLimiter::new(20, Duration::from_secs(300)),
            idempotency: Default::default(),
            snapshots: None,
            admin_token: None,
            start_gate: Arc::new(StartGate::open()),
            start: (0, Vec::new()),
            answer_key,
            streaming_keys: Arc::new(streaming_keys),
            sessions: Default::default(),
            trust_forwarded_for: false,
            notifications,
            sso,
            public_url: String::new(),
            webhook_client: client,
            orgs: Arc::default(),
            tokens: Some(Arc::default()),
        }
    }

    /// Other servers share this one's database (PostgreSQL): a token they
    /// revoke (a logout, a removal, a deactivation) must be refused here at
    /// the very next request, so tokens are looked up in the credentials
    /// store at every request (one indexed query) instead of cached.
    pub fn shared_with_other_servers(mut self) -> Self {
        self.tokens = None;
        self
    }

    /// Holds authenticated requests until the RBAC projection has applied
    /// `head`, the log's head position when the server started, and
    /// reports the server `starting` until every one of `projections` has.
    pub fn with_start(mut self, head: u64, projections: Vec<&'static str>) -> Self {
        self.start_gate = Arc::new(StartGate::at("rbac", head));
        self.start = (head, projections);
        self
    }

    /// Waits (at most [`CONSISTENCY_WAIT`]) until the access model has
    /// caught up with the log as it stood at start, or answers 503
    /// `projection_lagging`: until then it would answer from an older
    /// state (denying a user invited since, granting a permission revoked
    /// since).
    pub async fn caught_up_since_start(&self) -> ApiResult<()> {
        self.start_gate
            .pass(&self.positions, CONSISTENCY_WAIT)
            .await?;
        Ok(())
    }

    /// Reads the audit view from PostgreSQL (`Some`: the server's read
    /// models are beside its log there).
    pub fn with_audit_in(mut self, postgres: Option<sqlx::PgPool>) -> Self {
        self.audit_postgres = postgres;
        self
    }

    /// Opens `POST /api/v1/orgs` to callers presenting `token`.
    pub fn with_admin_token(mut self, token: Option<String>) -> Self {
        self.admin_token = token.map(Arc::from);
        self
    }

    /// Resolves `{org}` (id or name) or answers 404 `org_not_found`.
    pub async fn org(&self, id_or_name: &str) -> ApiResult<OrgId> {
        let key = id_or_name.to_lowercase();
        // The read guard is dropped at the end of this statement (the
        // stale branch below takes the write lock).
        let cached = self.orgs.read().get(&key).copied();
        if let Some((id, at)) = cached {
            if at.elapsed() < ORG_HANDLE_TTL {
                return Ok(id);
            }
            // Stale: this request asks the registry again; the others keep
            // the cached answer meanwhile (no stampede on the registry).
            let mut orgs = self.orgs.write();
            match orgs.get_mut(&key) {
                Some(entry) if entry.1.elapsed() >= ORG_HANDLE_TTL => entry.1 = Instant::now(),
                Some(entry) => return Ok(entry.0),
                None => {}
            }
        }
        match self.service.find_org(id_or_name).await? {
            Some(id) => {
                self.orgs.write().insert(key, (id, Instant::now()));
                Ok(id)
            }
            None => {
                self.orgs.write().remove(&key);
                Err(Problem::not_found(
                    "org_not_found",
                    format!("organization {id_or_name} not found"),
                ))
            }
        }
    }

    /// Finds a live token by its secret: in the credentials store, through
    /// a cache when this server is the only one (the cache forgets a token
    /// when it is revoked or its user removed through this process).
    pub async fn token(&self, secret: &str) -> ApiResult<Option<TokenRecord>> {
        if let Some(t) = self
            .tokens
            .as_ref()
            .and_then(|c| c.read().get(secret).cloned())
        {
            if t.expires_at.is_none_or(|e| e > chrono::Utc::now()) {
                return Ok(Some(t));
            }
        }
        let found = self
            .service
            .credentials()
            .resolve_token(secret)
            .await
            .map_err(Problem::internal)?;
        if let (Some(t), Some(cache)) = (&found, &self.tokens) {
            let mut cache = cache.write();
            if cache.len() > 100_000 {
                cache.clear();
            }
            cache.insert(secret.to_string(), t.clone());
        }
        Ok(found)
    }

    /// Forgets the handles cached for `org` (it was renamed).
    pub fn forget_org(&self, org: OrgId) {
        self.orgs.write().retain(|_, (id, _)| *id != org);
    }

    pub fn forget_token(&self, token_id: domain::ids::TokenId) {
        if let Some(cache) = &self.tokens {
            cache.write().retain(|_, t| t.token_id != token_id);
        }
    }

    pub fn forget_tokens_of(&self, user: UserId) {
        if let Some(cache) = &self.tokens {
            cache.write().retain(|_, t| t.user_id != user);
        }
    }

    /// Resolves references (names, emails, ids) against the read model,
    /// and against the write side's current state when the read model does
    /// not know them yet (created a moment ago): a command never waits for a
    /// commit cycle just to look up an id.
    pub async fn resolve<T: Send + 'static>(
        &self,
        org: OrgId,
        f: impl Fn(&domain::Organization) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        if let Some(Ok(found)) = self.model.read().org(org).map(|o| f(&o.state)) {
            return Ok(found);
        }
        self.service.read(org, move |s| f(s)).await?
    }

    /// Runs `f` on `org`'s state as the read side holds it (a query's
    /// answer); 404 `org_not_found` when it holds none.
    pub fn read_model<T>(
        &self,
        org: OrgId,
        f: impl FnOnce(&domain::Organization) -> ApiResult<T>,
    ) -> ApiResult<T> {
        let model = self.model.read();
        let o = model
            .org(org)
            .ok_or_else(|| Problem::not_found("org_not_found", "no such organization"))?;
        f(&o.state)
    }

    /// Waits until the RBAC projection has reached `at_least` (a command's
    /// position), or answers 503 `projection_lagging`; see
    /// [`AppState::reached`].
    pub async fn consistent(&self, caller: &Caller, at_least: Option<u64>) -> ApiResult<()> {
        self.reached(caller, "rbac", at_least).await
    }

    /// Waits until `projection` has reached both `at_least` and the
    /// caller's own last command (session consistency, `session`), or
    /// answers 503 `projection_lagging` after [`CONSISTENCY_WAIT`]. A
    /// position no command can have answered is 422 `invalid_at_least` at
    /// once: past the int64 range of every store, or past the log's head
    /// (nothing written yet can make the projection reach it).
    pub async fn reached(
        &self,
        caller: &Caller,
        projection: &'static str,
        at_least: Option<u64>,
    ) -> ApiResult<()> {
        self.reached_position(projection, at_least).await?;
        if caller.session_floor > 0 && self.positions.position(projection) < caller.session_floor {
            self.positions
                .wait(projection, caller.session_floor, CONSISTENCY_WAIT)
                .await?;
        }
        Ok(())
    }

    /// Waits until `projection` has reached `at_least` (see
    /// [`AppState::reached`]).
    pub async fn reached_position(
        &self,
        projection: &'static str,
        at_least: Option<u64>,
    ) -> ApiResult<()> {
        let Some(position) = at_least else {
            return Ok(());
        };
        if i64::try_from(position).is_err() {
            return Err(Problem::invalid(
                "at_least",
                "invalid_at_least",
                format!("at_least must be a position from 0 to {}", i64::MAX),
            ));
        }
        if self.positions.position(projection) < position {
            let head = self
                .service
                .store()
                .head_position()
                .await
                .map_err(Problem::internal)?;
            if position > head {
                return Err(Problem::invalid(
                    "at_least",
                    "invalid_at_least",
                    format!("at_least {position} is past the log's head ({head}): no command answered it"),
                )
                .with("head", head));
            }
            self.positions
                .wait(projection, position, CONSISTENCY_WAIT)
                .await?;
        }
        Ok(())
    }
}
