//! `/Users`: people provisioned, looked up, changed, deactivated and
//! removed by the identity provider. A User is a person of the
//! organization (service accounts are not SCIM Users); see
//! `crate::scim::user` for the mapping.

use std::collections::HashMap;
use std::sync::Arc;

use crate::scim::list::ListQuery;
use crate::scim::{patch, user, ScimError};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use domain::ids::UserId;
use domain::state::User;
use domain::{Command, Organization};
use serde_json::Value;

use super::auth::ScimCaller;
use super::body::ScimJson;
use super::{read, run, scim, Resource};
use crate::http::state::AppState;

/// The person `id` names: 404 for anything else (a malformed id, a
/// service account, a removed user).
fn person<'a>(s: &'a Organization, id: &str) -> Result<&'a User, ScimError> {
    id.parse::<UserId>()
        .ok()
        .and_then(|id| s.users.get(&id))
        .filter(|u| user::is_user(u))
        .ok_or_else(|| ScimError::not_found(format!("User {id} not found")))
}

/// The user as the state a command left holds it.
fn rendered(id: UserId, base: String) -> Resource {
    Arc::new(move |s| match s.users.get(&id) {
        Some(u) => user::render(s, u, &base),
        None => Value::Null,
    })
}

/// `GET /Users/{id}`: 200 with the User; 404.
pub async fn get(
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
    caller: ScimCaller,
) -> Result<Response, ScimError> {
    let base = caller.base.clone();
    let resource = read(&state, &caller, move |s| {
        Ok(user::render(s, person(s, &id)?, &base))
    })
    .await?;
    Ok(scim(StatusCode::OK, &resource))
}

/// `GET /Users?filter=…&startIndex=…&count=…`: a `ListResponse` in id
/// order (creation order); an equality on `userName`, `externalId`,
/// `emails.value` or `id` is answered from the organization's indexes.
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    caller: ScimCaller,
) -> Result<Response, ScimError> {
    let q = ListQuery::parse(&query, user::ATTRIBUTES)?;
    let base = caller.base.clone();
    let answer = read(&state, &caller, move |s| {
        let indexed: Option<Vec<&User>> =
            q.filter
                .as_ref()
                .and_then(|f| f.equality())
                .and_then(|(attr, value)| {
                    let found = match attr {
                        "username" => s.user_by_user_name(value),
                        "externalid" => s.user_by_external_id(value),
                        "emails.value" => s.user_by_email(value),
                        "id" => value.parse::<UserId>().ok().and_then(|id| s.users.get(&id)),
                        _ => return None,
                    };
                    Some(found.into_iter().collect())
                });
        let mut candidates = indexed.unwrap_or_else(|| s.users.values().collect());
        candidates.retain(|u| user::is_user(u));
        candidates.sort_by_key(|u| u.id);
        Ok(q.answer(candidates, |u| user::render(s, u, &base)))
    })
    .await?;
    Ok(scim(StatusCode::OK, &answer))
}

/// `POST /Users`: 201 with the User (the organization's default role,
/// no password); 409 `uniqueness` for a login, email or external id in
/// use; 400 `invalidValue`/`invalidSyntax`.
pub async fn create(
    State(state): State<AppState>,
    caller: ScimCaller,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let input = user::parse(&body)?;
    let user_id = UserId::new();
    let command = Command::ProvisionUser {
        user_id,
        email: input.email,
        identity: input.identity,
        active: input.active.unwrap_or(true),
    };
    let location = format!("{}/Users/{user_id}", caller.base);
    let render = rendered(user_id, caller.base.clone());
    run(
        &state,
        &caller,
        command,
        StatusCode::CREATED,
        Some(render),
        Some(location),
    )
    .await
}

/// Replaces the person's profile with `input` (and their activity when
/// given); 200 with the User.
async fn change(
    state: &AppState,
    caller: &ScimCaller,
    user_id: UserId,
    input: user::UserInput,
) -> Result<Response, ScimError> {
    let command = Command::ChangeProfile {
        user: user_id,
        email: input.email,
        identity: input.identity,
        active: input.active,
    };
    let render = rendered(user_id, caller.base.clone());
    run(state, caller, command, StatusCode::OK, Some(render), None).await
}

/// `PUT /Users/{id}`: replaces the profile; `active` deactivates or
/// reactivates (with the default role); 404; 409 `uniqueness`.
pub async fn replace(
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
    caller: ScimCaller,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let user_id = read(&state, &caller, move |s| Ok(person(s, &id)?.id)).await?;
    let input = user::parse(&body)?;
    change(&state, &caller, user_id, input).await
}

/// `PATCH /Users/{id}`: the operations applied to the User as it is,
/// then read back as a PUT would be (`{"op":"replace","value":
/// {"active":false}}` deactivates); 400 `invalidPath`, `noTarget`,
/// `mutability`; 404.
pub async fn patch(
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
    caller: ScimCaller,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let base = caller.base.clone();
    let (user_id, mut resource) = read(&state, &caller, move |s| {
        let u = person(s, &id)?;
        Ok((u.id, user::render(s, u, &base)))
    })
    .await?;
    patch::apply(&mut resource, &body, user::ATTRIBUTES, user::READ_ONLY)?;
    let input = user::parse(&resource)?;
    change(&state, &caller, user_id, input).await
}

/// `DELETE /Users/{id}`: 204; the person's sessions and tokens end at
/// once; 409 while they own projects (the detail names them) or if they
/// are the last Owner; 404.
pub async fn delete(
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
    caller: ScimCaller,
) -> Result<Response, ScimError> {
    let user_id = read(&state, &caller, move |s| Ok(person(s, &id)?.id)).await?;
    let command = Command::RemoveUser { user: user_id };
    run(&state, &caller, command, StatusCode::NO_CONTENT, None, None).await
}
