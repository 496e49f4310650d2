//! The address a request comes from: the connection's peer, or, behind a
//! proxy the operator trusts (`--trust-forwarded-for`), the last address in
//! `X-Forwarded-For` (the one that proxy saw). Off by default: a client
//! could otherwise claim any address, past the IP allow list and the login
//! limits. The audit log, the login limiter and the IP allow list all read
//! it from here.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::state::AppState;

/// The request's client address (an extension every request carries once
/// [`layer`] has run; absent only without a socket, in unit tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Sets [`ClientAddr`] on the request.
pub async fn layer(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = state
        .trust_forwarded_for
        .then(|| last_forwarded(&request))
        .flatten();
    if let Some(ip) = forwarded.or(peer) {
        request.extensions_mut().insert(ClientAddr(canonical(ip)));
    }
    next.run(request).await
}

/// The last address of the last `X-Forwarded-For` header, if it reads as
/// one.
fn last_forwarded(request: &Request) -> Option<IpAddr> {
    let value = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .next_back()?
        .to_str()
        .ok()?;
    value.rsplit(',').next()?.trim().parse().ok()
}

/// An IPv4-mapped IPv6 address as its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}
