//! Running a command for a caller and giving its answer.
//!
//! A command's answer is rendered on the organization's worker from the
//! state the command left, before the commit, so that with an
//! `Idempotency-Key` it is sealed and kept in the same transaction as the
//! events (see `commands::answers`); [`give`] turns it into the response,
//! and gives a kept answer again the same way.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use commands::service::{Render, With};
use commands::{Answer, Outcome};
use domain::{Command, Organization};
use serde::Serialize;

use super::auth::Caller;
use super::problem::ApiResult;
use super::state::AppState;

/// Marks a response whose answer was kept with the command's events (the
/// idempotency layer keeps the others itself).
#[derive(Clone, Copy)]
pub struct AnswerKept;

/// An answer with a JSON body rendered from the state the command left.
pub fn render<T: Serialize>(
    status: StatusCode,
    body: impl Fn(&Organization) -> T + Send + Sync + 'static,
) -> Render {
    Arc::new(move |s| Answer::json(status.as_u16(), &body(s)))
}

/// An answer without a body (204 with the position header).
pub fn render_empty() -> Render {
    Arc::new(|_| Answer::empty(StatusCode::NO_CONTENT.as_u16()))
}

impl AppState {
    /// Runs `command` for the caller; the answer is `status` with the body
    /// `body` makes from the state the command left, and `position`.
    pub async fn command<T: Serialize>(
        &self,
        caller: &Caller,
        command: Command,
        status: StatusCode,
        body: impl Fn(&Organization) -> T + Send + Sync + 'static,
    ) -> ApiResult<Response> {
        self.command_with(
            caller,
            command,
            With {
                render: Some(render(status, body)),
                effects: Vec::new(),
            },
        )
        .await
    }

    /// Runs `command` for the caller; the answer is 204 with the position.
    pub async fn command_empty(&self, caller: &Caller, command: Command) -> ApiResult<Response> {
        self.command_with(
            caller,
            command,
            With {
                render: Some(render_empty()),
                effects: Vec::new(),
            },
        )
        .await
    }

    /// Runs `command` for the caller with its answer and credentials
    /// changes. A command that ends a user's sessions and tokens also drops
    /// them from this server's token cache.
    pub async fn command_with(
        &self,
        caller: &Caller,
        command: Command,
        with: With,
    ) -> ApiResult<Response> {
        let outcome = self
            .execute(caller.org, command, &caller.context(), with)
            .await?;
        Ok(answered(&outcome))
    }

    /// Runs `command` on `org` with `ctx`'s actor; a command that ends a
    /// user's sessions and tokens also drops them from this server's token
    /// cache.
    pub async fn execute(
        &self,
        org: domain::ids::OrgId,
        command: Command,
        ctx: &commands::CommandContext,
        with: With,
    ) -> Result<Outcome, commands::ServiceError> {
        let ended = commands::service::ends_credentials_of(org, &command);
        let outcome = self.service.execute_with(org, command, ctx, with).await?;
        if let Some(user) = ended {
            self.forget_tokens_of(user);
        }
        Ok(outcome)
    }
}

/// The response of a command that was run with a renderer.
pub fn answered(outcome: &Outcome) -> Response {
    let answer = outcome
        .answer
        .as_ref()
        .expect("commands run through the HTTP API are rendered");
    answered_at(answer, outcome.position, outcome.answer_kept)
}

/// A command's answer at `position`, marked if it was kept with the events.
pub fn answered_at(answer: &Answer, position: u64, kept: bool) -> Response {
    let mut response = give(answer, position);
    if kept {
        response.extensions_mut().insert(AnswerKept);
    }
    response
}

/// An answer as a response. A command's answer: its status, its body
/// with `position` added (the body is a JSON object without it) and the
/// `Rolebook-Position` header. An answer kept whole: as it was given
/// (`position` is not used).
pub fn give(answer: &Answer, position: u64) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let body = answer.body.clone().unwrap_or_default();
    let (body, content_type, position) = match &answer.whole {
        Some(whole) => (body, whole.content_type.clone(), whole.position),
        None if answer.body.is_some() => (
            with_position(&body, position),
            Some("application/json".to_string()),
            Some(position),
        ),
        None => (body, None, Some(position)),
    };
    let mut response = (status, body).into_response();
    response.headers_mut().remove("content-type");
    if let Some(ct) = content_type {
        set(&mut response, "content-type", ct);
    }
    if let Some(p) = position {
        set(&mut response, "rolebook-position", p.to_string());
    }
    response
}

fn set(response: &mut Response, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(name, v);
    }
}

/// `{"a":1}` -> `{"a":1,"position":7}`; `{}` -> `{"position":7}`: the bytes
/// `Committed { body, position }` serializes to.
fn with_position(body: &str, position: u64) -> String {
    let trimmed = body.trim_end();
    match trimmed.strip_suffix('}') {
        Some(open) if open.trim_end().ends_with('{') => format!("{open}\"position\":{position}}}"),
        Some(open) => format!("{open},\"position\":{position}}}"),
        None => body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::answers::Committed;

    #[test]
    fn position_is_added_as_committed_writes_it() {
        #[derive(Serialize)]
        struct Body {
            name: &'static str,
            n: u32,
        }
        let body = Body { name: "ops", n: 2 };
        let expected = serde_json::to_string(&Committed {
            body: Body { name: "ops", n: 2 },
            position: 41,
        })
        .unwrap();
        assert_eq!(
            with_position(&serde_json::to_string(&body).unwrap(), 41),
            expected
        );
        #[derive(Serialize)]
        struct Empty {}
        let expected = serde_json::to_string(&Committed {
            body: Empty {},
            position: 9,
        })
        .unwrap();
        assert_eq!(with_position("{}", 9), expected);
    }
}
