//! The IP allow list, enforced on every route of an organization
//! (`/api/v1/orgs/{org}/…`: the API, logins and SCIM alike): when the
//! organization has one, a request from an address outside it is answered
//! 403 `ip_not_allowed` before anything else looks at it. The list is read
//! from the access model (`domain::settings`).

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{RawPathParams, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::client_addr::ClientAddr;
use super::problem::Problem;
use super::state::AppState;

/// Refuses a request of an organization from an address its list does not
/// allow. A route layer: it runs once the route (and so `{org}`) is known.
pub async fn layer(
    State(state): State<AppState>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    request: Request,
    next: Next,
) -> Response {
    let handle = params.ok().and_then(|p| {
        p.iter()
            .find(|(name, _)| *name == "org")
            .map(|(_, v)| v.to_string())
    });
    let Some(handle) = handle else {
        return next.run(request).await;
    };
    // An unknown organization is the handler's 404 to give.
    let Ok(org) = state.org(&handle).await else {
        return next.run(request).await;
    };
    let addr = request.extensions().get::<ClientAddr>().map(|a| a.0);
    let allowed = {
        let model = state.model.read();
        match model.org(org) {
            Some(o) if !o.state.settings.ip_allow_list.is_empty() => {
                addr.is_some_and(|ip| domain::settings::allows(&o.state.settings.ip_allow_list, ip))
            }
            _ => true,
        }
    };
    if allowed {
        next.run(request).await
    } else {
        let from = addr
            .map(|a| a.to_string())
            .unwrap_or_else(|| "an unknown address".into());
        Problem::new(
            axum::http::StatusCode::FORBIDDEN,
            "ip_not_allowed",
            format!("this organization accepts requests only from its IP allow list, and {from} is not on it"),
        )
        .with("address", from)
        .into_response()
    }
}
