//! Signing in to the console with a password (through the API's
//! `POST /sessions`; a temporary password asks for a new one, through
//! `POST /sessions/password`), and signing out (`DELETE /sessions/current`).
//! The sign-in form carries a CSRF token of its own, kept in a cookie of
//! the form's path (there is no session yet).

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::call;
use super::session::{self, cookie, csrf_failed, same, set_cookie, with_cookie, Session};
use super::{refused, render};
use crate::http::auth::Origin;
use crate::http::json::Json;
use crate::http::params::OrgPath;
use crate::http::routes::sessions::{self as api, Login, PasswordChange};
use crate::http::routes::sso::{self, CallbackQuery};
use crate::http::state::AppState;
use domain::ids::OrgId;

/// `GET /login`'s query.
#[derive(Deserialize)]
pub struct FormQuery {
    org: Option<String>,
}

/// What the sign-in page shows.
struct Shown<'a> {
    org: &'a str,
    login: &'a str,
    error: Option<String>,
    must_change: bool,
}

/// Whether `org` (a name or id) has single sign-on set up.
async fn has_sso(state: &AppState, org: &str) -> bool {
    let Ok(id) = state.org(org).await else {
        return false;
    };
    let model = state.model.read();
    model
        .org(id)
        .is_some_and(|o| o.state.settings.sso.is_some())
}

async fn page(state: &AppState, status: StatusCode, shown: Shown<'_>) -> Response {
    let csrf = commands::secrets::new_token()[..32].to_string();
    let sso_url = (!shown.org.is_empty() && has_sso(state, shown.org).await)
        .then(|| format!("/orgs/{}/sso", super::seg(shown.org)));
    let response = render(
        status,
        "login.html",
        minijinja::context! {
            login_csrf => csrf,
            org_field => shown.org,
            login => shown.login,
            error => shown.error,
            must_change => shown.must_change,
            sso_url => sso_url,
        },
    );
    with_cookie(
        response,
        set_cookie(state, session::LOGIN_COOKIE, Some(&csrf), "/login"),
    )
}

/// `GET /login`: the sign-in form.
pub async fn form(State(state): State<AppState>, Query(q): Query<FormQuery>) -> Response {
    let org = q.org.unwrap_or_else(|| "default".to_string());
    page(
        &state,
        StatusCode::OK,
        Shown {
            org: &org,
            login: "",
            error: None,
            must_change: false,
        },
    )
    .await
}

/// The sign-in form as posted.
#[derive(Deserialize)]
pub struct SignIn {
    csrf: String,
    org: String,
    login: String,
    password: String,
    #[serde(default)]
    new_password: Option<String>,
}

/// `POST /login`: signs in and goes to People; a temporary password shows
/// the form again asking for a new one; a refusal shows the form with why.
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    origin: Origin,
    Form(f): Form<SignIn>,
) -> Response {
    let expected = cookie(&headers, session::LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same(&f.csrf, &expected) {
        return refused(None, csrf_failed());
    }
    let path = Path(OrgPath { org: f.org.clone() });
    let answered = match f.new_password.filter(|p| !p.is_empty()) {
        Some(new_password) => {
            let change = PasswordChange {
                login: f.login.clone(),
                current_password: f.password,
                new_password,
            };
            call::answer(
                api::change_password(State(state.clone()), path, origin, Json(change)).await,
            )
            .await
        }
        None => {
            let login = Login {
                login: f.login.clone(),
                password: f.password,
            };
            call::answer(api::login(State(state.clone()), path, origin, Json(login)).await).await
        }
    };
    let (status, body) = match answered.0 {
        Ok(body) => (StatusCode::CREATED, body),
        Err(r) => (r.status, r.body),
    };
    if let Some(token) = body["token"].as_str().filter(|_| status.is_success()) {
        let to = format!("/orgs/{}/people", super::seg(&f.org));
        return with_cookie(
            Redirect::to(&to).into_response(),
            set_cookie(&state, session::COOKIE_NAME, Some(token), "/"),
        );
    }
    let code = body["code"].as_str().unwrap_or("refused");
    let must_change = code == "password_change_required";
    let error = if must_change {
        "This is a temporary password: enter it again with a new password of your own.".to_string()
    } else {
        body["detail"]
            .as_str()
            .unwrap_or("sign-in refused")
            .to_string()
    };
    page(
        &state,
        if must_change { StatusCode::OK } else { status },
        Shown {
            org: &f.org,
            login: &f.login,
            error: Some(error),
            must_change,
        },
    )
    .await
}

/// The sign-out form as posted.
#[derive(Deserialize)]
pub struct SignOut {
    csrf: String,
    org: String,
}

/// `POST /logout`: ends the session (its token stops working at once).
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    origin: Origin,
    Form(f): Form<SignOut>,
) -> Response {
    let session = match Session::of(&state, &f.org, &headers, origin).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    if !session.csrf_ok(&f.csrf) {
        return session.csrf_refused();
    }
    if let Err(p) = api::logout(State(state.clone()), session.caller.clone()).await {
        return refused(Some(&session.chrome("")), p);
    }
    with_cookie(
        session::to_sign_in(&f.org),
        set_cookie(&state, session::COOKIE_NAME, None, "/"),
    )
}

/// Where the provider sends people back to the console for `org`: to
/// register at the provider beside the API's redirect URI.
pub fn console_redirect_uri(state: &AppState, org: OrgId) -> String {
    format!(
        "{}/orgs/{org}/sso/callback",
        state.public_url.trim_end_matches('/')
    )
}

/// `GET /orgs/{org}/sso`'s query.
#[derive(Deserialize)]
pub struct SsoStart {
    login_hint: Option<String>,
}

/// `GET /orgs/{org}/sso`: on to the identity provider's sign-in page,
/// which sends the person back to [`sso_callback`]. A page that goes on
/// by itself rather than a redirect: the sign-in form posts here, and a
/// form's redirect to another origin is what the CSP's `form-action
/// 'self'` forbids.
pub async fn sso_start(
    State(state): State<AppState>,
    Path(OrgPath { org }): Path<OrgPath>,
    Query(q): Query<SsoStart>,
) -> Response {
    let started = async {
        let id = state.org(&org).await?;
        sso::begin(&state, id, q.login_hint, &console_redirect_uri(&state, id)).await
    };
    match started.await {
        Ok(url) => render(
            StatusCode::OK,
            "continue.html",
            minijinja::context! {
                title => "Signing in",
                message => "On to your identity provider…",
                to => url,
            },
        ),
        Err(p) => refused(None, p),
    }
}

/// `GET /orgs/{org}/sso/callback`: where the provider sends the person
/// back: the sign-in verified as the API's callback does, then the
/// session cookie and a page that goes on to People. (The browser arrives
/// here from the provider's site, so a SameSite=Strict cookie set now is
/// only sent from the next navigation this page starts.)
pub async fn sso_callback(
    State(state): State<AppState>,
    Path(OrgPath { org }): Path<OrgPath>,
    Query(q): Query<CallbackQuery>,
    origin: Origin,
) -> Response {
    let finished = async {
        let id = state.org(&org).await?;
        let signed_in =
            sso::finish(&state, id, q, &origin, &console_redirect_uri(&state, id)).await?;
        Ok::<_, crate::http::problem::Problem>((id, signed_in))
    };
    match finished.await {
        Ok((id, signed_in)) => {
            // The organization's pages by its name, as the sign-in form
            // names it (the provider came back to its id).
            let name = state
                .model
                .read()
                .org(id)
                .map(|o| o.state.name.clone())
                .unwrap_or(org);
            let to = format!("/orgs/{}/people", super::seg(&name));
            let message = if signed_in.created {
                "Your account was created."
            } else {
                "Welcome back."
            };
            let page = render(
                StatusCode::OK,
                "continue.html",
                minijinja::context! { title => "Signed in", message, to },
            );
            with_cookie(
                page,
                set_cookie(&state, session::COOKIE_NAME, Some(&signed_in.token), "/"),
            )
        }
        Err(p) => refused(None, p),
    }
}
