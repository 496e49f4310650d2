//! Signing in to the console with a password (through the API's
//! `POST /sessions`; a temporary password asks for a new one, through
//! `POST /sessions/password`), and signing out (`DELETE /sessions/current`).
//! The sign-in form carries a CSRF token of its own, kept in a cookie of
//! the form's path (there is no session yet).

use axum::body::to_bytes;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use super::session::{self, cookie, csrf_failed, same, set_cookie, with_cookie, Session};
use super::{refused, render};
use crate::http::auth::Origin;
use crate::http::json::Json;
use crate::http::params::OrgPath;
use crate::http::routes::sessions::{self as api, Login, PasswordChange};
use crate::http::state::AppState;

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

fn page(state: &AppState, status: StatusCode, shown: Shown) -> Response {
    let csrf = commands::secrets::new_token()[..32].to_string();
    let sso_url = (!shown.org.is_empty()).then(|| {
        format!(
            "/api/v1/orgs/{}/sso/login",
            percent_encoding::utf8_percent_encode(shown.org, percent_encoding::NON_ALPHANUMERIC)
        )
    });
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

/// The token and status of an API answer, or its problem's parts.
async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
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
    let answer = match f.new_password.filter(|p| !p.is_empty()) {
        Some(new_password) => {
            let change = PasswordChange {
                login: f.login.clone(),
                current_password: f.password,
                new_password,
            };
            match api::change_password(State(state.clone()), path, origin, Json(change)).await {
                Ok(response) => read(response).await,
                Err(p) => (
                    p.status,
                    serde_json::json!({"code": p.code, "detail": p.detail}),
                ),
            }
        }
        None => {
            let login = Login {
                login: f.login.clone(),
                password: f.password,
            };
            match api::login(State(state.clone()), path, origin, Json(login)).await {
                Ok((status, Json(s))) => (status, serde_json::json!({"token": s.token})),
                Err(p) => (
                    p.status,
                    serde_json::json!({"code": p.code, "detail": p.detail}),
                ),
            }
        }
    };
    let (status, body) = answer;
    if let Some(token) = body["token"].as_str().filter(|_| status.is_success()) {
        let to = format!(
            "/orgs/{}/people",
            percent_encoding::utf8_percent_encode(&f.org, percent_encoding::NON_ALPHANUMERIC)
        );
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
