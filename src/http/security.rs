//! What every request is held to and every answer carries, whatever the
//! route (issue 23, part 5):
//!
//! - request headers: at most [`MAX_HEADER_BYTES`] in all (names and
//!   values), else 431 `headers_too_large` before any handler runs (hyper
//!   refuses more than 100 headers with 431 on its own); bodies are bounded
//!   by [`super::MAX_BODY`] and pages by each list's `limit`;
//! - answers: [`SECURITY_HEADERS`], unless the handler set its own value
//!   (answers are JSON, CSV or problems, never pages to frame or sniff,
//!   and may hold secrets shown once, so nothing is cached).
//!
//! HSTS is left to the TLS terminator in front of rolebook (it serves plain
//! HTTP, which browsers do not take HSTS from).

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::Problem;

/// The most bytes of request headers (names and values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Set on every answer whose handler did not set them.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    ("cross-origin-resource-policy", "same-origin"),
];

/// The middleware: refuses oversized headers, then adds
/// [`SECURITY_HEADERS`] to the answer.
pub async fn layer(request: Request, next: Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    let mut response = if size > MAX_HEADER_BYTES {
        Problem::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request's headers hold {size} bytes; at most {MAX_HEADER_BYTES} are read"),
        )
        .into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers
            .entry(HeaderName::from_static(name))
            .or_insert_with(|| HeaderValue::from_static(value));
    }
    response
}
