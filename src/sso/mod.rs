//! Single sign-on over OpenID Connect (Okta, or any certified provider),
//! through the `openidconnect` crate: the authorization code flow with
//! PKCE, state and nonce.
//!
//! - [`Sso::begin`] (`GET /sso/login`): discovers the provider (cached for
//!   [`METADATA_TTL`]), records the sign-in (state, PKCE verifier, nonce:
//!   [`store`]) and gives the provider's authorization URL.
//! - [`Sso::finish`] (`GET /sso/callback`): takes the sign-in by its state
//!   (once: a replayed state is refused), exchanges the code with the
//!   client secret and the PKCE verifier, and verifies the ID token: its
//!   signature against the provider's JWKS (on a key it does not know, the
//!   JWKS is fetched again once: key rotation), `iss`, `aud`, `exp` and
//!   `nonce`. It gives the verified email; the HTTP handler finds (or, for
//!   organizations that allow it, creates) the person and opens a session.
//!
//! Every refusal is an [`SsoError`] with a stable code.

pub mod store;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::ids::OrgId;
use domain::settings::SsoSettings;
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    SignatureVerificationError, TokenResponse as _,
};
use parking_lot::Mutex;

pub use store::Store;

use crate::streaming::StreamingError;

/// How long a provider's discovery document (and its JWKS) is trusted.
pub const METADATA_TTL: Duration = Duration::from_secs(600);

/// Why a sign-in was refused.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("single sign-on is not configured for this organization")]
    NotConfigured,
    #[error("the identity provider cannot be used: {0}")]
    Provider(String),
    #[error("unknown or already used sign-in state: start again at /sso/login")]
    StateUnknown,
    #[error("this sign-in was started more than ten minutes ago: start again at /sso/login")]
    StateExpired,
    #[error("the identity provider refused the sign-in: {0}")]
    Denied(String),
    #[error("the ID token is not valid: {0}")]
    Token(String),
    #[error(transparent)]
    Store(#[from] StreamingError),
}

impl SsoError {
    pub fn code(&self) -> &'static str {
        match self {
            SsoError::NotConfigured => "sso_not_configured",
            SsoError::Provider(_) => "sso_provider_unavailable",
            SsoError::StateUnknown => "sso_state_unknown",
            SsoError::StateExpired => "sso_state_expired",
            SsoError::Denied(_) => "sso_denied",
            SsoError::Token(_) => "sso_token_invalid",
            SsoError::Store(_) => "internal",
        }
    }
}

/// The sign-in flow with its stores and caches. Cheap to clone.
#[derive(Clone)]
pub struct Sso {
    pub store: Store,
    http: Http,
    metadata: Arc<Mutex<HashMap<String, (CoreProviderMetadata, Instant)>>>,
}

/// The `openidconnect` HTTP client: the server's outbound client (rustls,
/// no redirects followed).
#[derive(Clone)]
struct Http(webhook_client::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = webhook_client::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut out = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                out = out.header(name, value);
            }
            let body = response.bytes().await?.to_vec();
            Ok(out.body(body).expect("a response rebuilt from a valid one"))
        })
    }
}

fn provider(e: impl std::fmt::Display) -> SsoError {
    SsoError::Provider(e.to_string())
}

impl Sso {
    pub fn new(store: Store, client: webhook_client::Client) -> Sso {
        Sso {
            store,
            http: Http(client),
            metadata: Arc::default(),
        }
    }

    /// Checks that `issuer` is an OpenID provider rolebook can use (its
    /// discovery document and JWKS), for `PUT /okta/sso`.
    pub async fn check_issuer(&self, issuer: &str) -> Result<(), SsoError> {
        self.discover(issuer, true).await.map(|_| ())
    }

    async fn discover(&self, issuer: &str, fresh: bool) -> Result<CoreProviderMetadata, SsoError> {
        if !fresh {
            if let Some((m, at)) = self.metadata.lock().get(issuer) {
                if at.elapsed() < METADATA_TTL {
                    return Ok(m.clone());
                }
            }
        }
        let url = IssuerUrl::new(issuer.to_string()).map_err(provider)?;
        let m = CoreProviderMetadata::discover_async(url, &self.http)
            .await
            .map_err(|e| SsoError::Provider(chain(&e)))?;
        self.metadata
            .lock()
            .insert(issuer.to_string(), (m.clone(), Instant::now()));
        Ok(m)
    }

    /// Starts a sign-in: the provider's authorization URL to send the
    /// person to. `redirect` is this organization's callback URL.
    pub async fn begin(
        &self,
        org: OrgId,
        settings: &SsoSettings,
        redirect: &str,
        login_hint: Option<&str>,
    ) -> Result<String, SsoError> {
        let metadata = self.discover(&settings.issuer, false).await?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(settings.client_id.clone()),
            None,
        )
        .set_redirect_uri(RedirectUrl::new(redirect.to_string()).map_err(provider)?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_string()))
            .set_pkce_challenge(challenge);
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_string());
        }
        let (url, state, nonce) = request.url();
        self.store
            .put_pending(org, state.secret(), verifier.secret(), nonce.secret())
            .await?;
        Ok(url.to_string())
    }

    /// Finishes a sign-in: the verified email of the person the provider
    /// signed in.
    pub async fn finish(
        &self,
        org: OrgId,
        settings: &SsoSettings,
        redirect: &str,
        code: &str,
        state: &str,
    ) -> Result<String, SsoError> {
        let pending = self
            .store
            .take_pending(org, state)
            .await?
            .ok_or(SsoError::StateUnknown)?;
        if chrono::Utc::now().timestamp_millis() - pending.created_at_ms > store::PENDING_TTL_MS {
            return Err(SsoError::StateExpired);
        }
        let secret = self
            .store
            .client_secret(org)
            .await?
            .ok_or(SsoError::NotConfigured)?;
        let client_of = |metadata: CoreProviderMetadata| {
            Ok::<_, SsoError>(
                CoreClient::from_provider_metadata(
                    metadata,
                    ClientId::new(settings.client_id.clone()),
                    Some(ClientSecret::new(secret.clone())),
                )
                .set_redirect_uri(RedirectUrl::new(redirect.to_string()).map_err(provider)?),
            )
        };
        let client = client_of(self.discover(&settings.issuer, false).await?)?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(provider)?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| SsoError::Denied(chain(&e)))?;
        let id_token = token
            .id_token()
            .ok_or_else(|| SsoError::Token("the provider sent no ID token".into()))?;
        let nonce = Nonce::new(pending.nonce);
        let verifier = client.id_token_verifier();
        let first = id_token.claims(&verifier, &nonce).cloned();
        let claims = match first {
            Ok(claims) => claims,
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // Signed with a key published since the JWKS was fetched.
                let client = client_of(self.discover(&settings.issuer, true).await?)?;
                let verifier = client.id_token_verifier();
                id_token
                    .claims(&verifier, &nonce)
                    .cloned()
                    .map_err(|e| SsoError::Token(chain(&e)))?
            }
            Err(e) => return Err(SsoError::Token(chain(&e))),
        };
        if claims.email_verified() == Some(false) {
            return Err(SsoError::Token(
                "the provider says the email is not verified".into(),
            ));
        }
        let email = claims
            .email()
            .ok_or_else(|| SsoError::Token("the ID token has no email claim".into()))?;
        Ok(email.to_string())
    }
}

/// An error with its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.chars().take(500).collect()
}
