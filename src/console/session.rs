//! The console's cookie session: the same session token the API's
//! `POST /sessions` gives, kept in an HttpOnly, SameSite=Strict cookie, and
//! resolved to the API's [`Caller`] for the organization of the page (a
//! session of another organization is refused there). Every form carries a
//! CSRF token derived from the session token, compared in constant time.

use axum::extract::{Form, FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::call::{Fields, Refusal};
use super::{Chrome, NavLink};
use crate::http::auth::{Bearer, Caller, Origin};
use crate::http::problem::Problem;
use crate::http::session::SessionPositions;
use crate::http::state::AppState;
use domain::permissions::{known, Permission};
use serde_json::Value;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "rolebook_session";
/// The sign-in form's own CSRF cookie (no session yet).
pub const LOGIN_COOKIE: &str = "rolebook_login";

/// A signed-in user on one organization's pages.
pub struct Session {
    pub caller: Caller,
    pub token: String,
    /// The `{org}` of the page, as written in its URL.
    pub org: String,
    origin: Origin,
    nav: Vec<NavLink>,
    positions: SessionPositions,
}

/// The header's pages, each with the permission that opens it (`None`:
/// every member; the page itself shows what the caller may see).
const PAGES: &[(&str, &str, &str, Option<Permission>)] = &[
    (
        "people",
        "People",
        "people",
        Some(known::ORGANIZATION_PEOPLE_VIEW),
    ),
    (
        "groups",
        "Groups",
        "groups",
        Some(known::ORGANIZATION_GROUPS_VIEW),
    ),
    ("projects", "Projects", "projects", None),
    (
        "audit",
        "Audit Logs",
        "audit-logs",
        Some(known::ORGANIZATION_AUDIT_LOGS_VIEW),
    ),
    ("access", "Access explorer", "access", None),
    ("settings", "Settings", "settings", None),
];

/// A form posted on one of the organization's pages: the session, and the
/// form's fields once its CSRF token (field `csrf`) is checked; the
/// rejection is the sign-in page, or a refusal (403 `csrf_failed`).
pub struct Posted {
    pub session: Session,
    pub fields: Fields,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let Form(pairs) =
            Form::<Vec<(String, String)>>::from_request(Request::from_parts(parts, body), state)
                .await
                .map_err(IntoResponse::into_response)?;
        let fields = Fields(pairs);
        if !session.csrf_ok(&fields.one("csrf")) {
            return Err(session.csrf_refused());
        }
        Ok(Posted { session, fields })
    }
}

/// A page's session: the `{org}` of its path and the session cookie; the
/// rejection is the page to answer instead (the sign-in page, or a
/// refusal).
impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Ok(origin) = Origin::from_request_parts(parts, state).await;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let org = params
            .iter()
            .find(|(name, _)| *name == "org")
            .map(|(_, value)| value.to_string())
            .ok_or_else(|| StatusCode::NOT_FOUND.into_response())?;
        Session::of(state, &org, &parts.headers, origin).await
    }
}

impl Session {
    /// Resolves the session cookie for `org`'s pages; without one (or an
    /// expired one) the answer is the sign-in page, for another
    /// organization a refusal.
    pub async fn of(
        state: &AppState,
        org: &str,
        headers: &HeaderMap,
        origin: Origin,
    ) -> Result<Session, Response> {
        let Some(token) = cookie(headers, COOKIE_NAME) else {
            return Err(to_sign_in(org));
        };
        Session::of_token(state, org, token, origin).await
    }

    /// The session of `token` on `org`'s pages.
    async fn of_token(
        state: &AppState,
        org: &str,
        token: String,
        origin: Origin,
    ) -> Result<Session, Response> {
        match state
            .caller(org, &Bearer(token.clone()), origin.clone())
            .await
        {
            Ok(caller) => {
                let holds = |p| state.model.read().check(caller.org, caller.user, p, None);
                let base = format!("/orgs/{}", super::seg(org));
                let nav = PAGES
                    .iter()
                    .filter(|(_, _, _, needs)| needs.is_none_or(holds))
                    .map(|(key, label, path, _)| NavLink {
                        key,
                        label,
                        href: format!("{base}/{path}"),
                    })
                    .collect();
                Ok(Session {
                    caller,
                    token,
                    org: org.to_string(),
                    origin,
                    nav,
                    positions: state.sessions.clone(),
                })
            }
            Err(p) if p.status == StatusCode::UNAUTHORIZED => {
                // A live session of another organization is not this one's.
                Err(super::refused(
                    None,
                    Problem::new(
                        StatusCode::FORBIDDEN,
                        "not_this_organization",
                        format!("you are not signed in to organization {org}: sign in to it first"),
                    ),
                ))
            }
            Err(p) => Err(super::refused(None, p)),
        }
    }

    /// The token forms carry.
    pub fn csrf(&self) -> String {
        csrf_of(&self.token)
    }

    /// Whether `sent` is this session's CSRF token.
    pub fn csrf_ok(&self, sent: &str) -> bool {
        same(sent, &self.csrf())
    }

    /// The refusal of a form without this session's CSRF token: 403
    /// `csrf_failed`.
    pub fn csrf_refused(&self) -> Response {
        super::refused(Some(&self.chrome("")), csrf_failed())
    }

    /// The layout's header for `page`: the links to the pages the caller
    /// may open.
    pub(super) fn chrome(&self, page: &'static str) -> Chrome {
        Chrome {
            org: self.org.clone(),
            username: self.caller.username.clone(),
            csrf: self.csrf(),
            page,
            nav: self.nav.clone(),
        }
    }

    /// This session again after a command: its reads then wait for that
    /// command (the API's session consistency counts from the token's
    /// last command, read when the caller is resolved).
    pub async fn refreshed(self, state: &AppState) -> Result<Session, Response> {
        Session::of_token(state, &self.org, self.token, self.origin).await
    }

    /// What an API handler answered this session's caller (see
    /// [`super::call::answer`]); a command's position becomes this
    /// session's floor, so its next pages read their own writes, as an API
    /// token's reads do.
    pub async fn answer(&self, r: impl IntoResponse) -> Result<Value, Refusal> {
        let (answered, position) = super::call::answer(r).await;
        if let Some(position) = position {
            self.positions.record(&self.token, position);
        }
        answered
    }

    /// The URL of this organization's console page `path` (`people`, …).
    pub fn url(&self, path: &str) -> String {
        format!("/orgs/{}/{path}", super::seg(&self.org))
    }

    /// Whether the caller holds `permission` (to show or hide controls;
    /// the handlers refuse regardless).
    pub fn holds(&self, state: &AppState, permission: Permission) -> bool {
        self.holds_on(state, permission, None)
    }

    /// Whether the caller holds `permission` on `project` (or on the
    /// organization).
    pub fn holds_on(
        &self,
        state: &AppState,
        permission: Permission,
        project: Option<domain::ids::ProjectId>,
    ) -> bool {
        state
            .model
            .read()
            .check(self.caller.org, self.caller.user, permission, project)
    }
}

pub(super) fn csrf_failed() -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        "this form did not come from this console (its CSRF token is missing or wrong): \
         open the page again and resend",
    )
}

/// Whether two tokens are equal, in constant time.
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The CSRF token of a session: unguessable without the session token,
/// which scripts cannot read (HttpOnly).
pub fn csrf_of(token: &str) -> String {
    let digest = Sha256::digest(format!("rolebook-console-csrf:{token}").as_bytes());
    hex::encode(&digest[..16])
}

/// A cookie's value from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` for `name` (HttpOnly, SameSite=Strict, `Secure` when the
/// server's public URL is https); `None` clears it.
pub fn set_cookie(state: &AppState, name: &str, value: Option<&str>, path: &str) -> HeaderValue {
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let text = match value {
        Some(v) => format!("{name}={v}; Path={path}; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{name}=; Path={path}; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&text).expect("cookie values are tokens")
}

/// To the sign-in page for `org`.
pub fn to_sign_in(org: &str) -> Response {
    let org = percent_encoding::utf8_percent_encode(org, percent_encoding::NON_ALPHANUMERIC);
    Redirect::to(&format!("/login?org={org}")).into_response()
}

/// Adds `Set-Cookie` to a response.
pub fn with_cookie(mut response: Response, cookie: HeaderValue) -> Response {
    response.headers_mut().append(SET_COOKIE, cookie);
    response
}
