//! `/Groups`: groups pushed by the identity provider, as ordinary
//! rolebook groups (organization role Member when created; the role an
//! administrator gives a group reaches its members). Members are SCIM
//! Users (people of the organization) by `id`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::scim::list::ListQuery;
use crate::scim::{group, patch, user, ScimError};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use domain::ids::{GroupId, UserId};
use domain::state::Group;
use domain::{Command, Organization};
use serde_json::Value;

use super::auth::ScimCaller;
use super::body::ScimJson;
use super::{read, run, scim, Resource};
use crate::http::state::AppState;

/// The group `id` names: 404 for anything else.
fn find<'a>(s: &'a Organization, id: &str) -> Result<&'a Group, ScimError> {
    id.parse::<GroupId>()
        .ok()
        .and_then(|id| s.groups.get(&id))
        .ok_or_else(|| ScimError::not_found(format!("Group {id} not found")))
}

/// The members a request names, as people of the organization: 400
/// `invalidValue` naming the first that is not one.
fn members(s: &Organization, ids: &[String]) -> Result<BTreeSet<UserId>, ScimError> {
    ids.iter()
        .map(|id| {
            id.parse::<UserId>()
                .ok()
                .filter(|u| s.users.get(u).is_some_and(user::is_user))
                .ok_or_else(|| {
                    ScimError::invalid_value(format!(
                        "member {id} is not a User of this organization"
                    ))
                })
        })
        .collect()
}

/// The group as the state a command left holds it.
fn rendered(id: GroupId, base: String) -> Resource {
    Arc::new(move |s| match s.groups.get(&id) {
        Some(g) => group::render(s, g, &base),
        None => Value::Null,
    })
}

/// `GET /Groups/{id}`: 200 with the Group (`excludedAttributes=members`
/// leaves them out); 404.
pub async fn get(
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    caller: ScimCaller,
) -> Result<Response, ScimError> {
    let shape = crate::scim::list::Shape::of(&query);
    let base = caller.base.clone();
    let resource = read(&state, &caller, move |s| {
        Ok(group::render(s, find(s, &id)?, &base))
    })
    .await?;
    Ok(scim(StatusCode::OK, &shape.apply(resource)))
}

/// `GET /Groups?filter=…`: a `ListResponse` in id order; `displayName
/// eq` and `id eq` are answered from the organization's indexes.
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    caller: ScimCaller,
) -> Result<Response, ScimError> {
    let q = ListQuery::parse(&query, group::ATTRIBUTES)?;
    let base = caller.base.clone();
    let answer = read(&state, &caller, move |s| {
        let indexed: Option<Vec<&Group>> =
            q.filter
                .as_ref()
                .and_then(|f| f.equality())
                .and_then(|(attr, value)| {
                    let found = match attr {
                        "displayname" => s.group_by_name(value),
                        "id" => value
                            .parse::<GroupId>()
                            .ok()
                            .and_then(|id| s.groups.get(&id)),
                        _ => return None,
                    };
                    Some(found.into_iter().collect())
                });
        let mut candidates = indexed.unwrap_or_else(|| s.groups.values().collect());
        candidates.sort_by_key(|g| g.id);
        Ok(q.answer(candidates, |g| group::render(s, g, &base)))
    })
    .await?;
    Ok(scim(StatusCode::OK, &answer))
}

/// `POST /Groups`: 201 with the Group; 409 `uniqueness` for a name in
/// use; 400 `invalidValue` for a member who is not a User here.
pub async fn create(
    State(state): State<AppState>,
    caller: ScimCaller,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let input = group::parse(&body)?;
    let ids = input.members.clone();
    let members = read(&state, &caller, move |s| members(s, &ids)).await?;
    let group_id = GroupId::new();
    let command = Command::CreateGroup {
        group_id,
        name: input.display_name,
        description: group::DESCRIPTION.to_string(),
        members: members.into_iter().collect(),
    };
    let location = format!("{}/Groups/{group_id}", caller.base);
    let render = rendered(group_id, caller.base.clone());
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

/// Makes the group `id` what `input` describes: renamed if its name
/// differs, members added and removed; 200 with the Group.
async fn change(
    state: &AppState,
    caller: &ScimCaller,
    id: GroupId,
    input: group::GroupInput,
) -> Result<Response, ScimError> {
    let command = read(state, caller, move |s| {
        let g = find(s, &id.to_string())?;
        let wanted = members(s, &input.members)?;
        Ok(Command::ChangeGroup {
            group: id,
            name: (input.display_name != g.name).then_some(input.display_name),
            description: None,
            add_members: wanted.difference(&g.members).copied().collect(),
            remove_members: g.members.difference(&wanted).copied().collect(),
        })
    })
    .await?;
    let render = rendered(id, caller.base.clone());
    run(state, caller, command, StatusCode::OK, Some(render), None).await
}

/// `PUT /Groups/{id}`: its name and exactly these members; 404; 409
/// `uniqueness`.
pub async fn replace(
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
    caller: ScimCaller,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let group_id = read(&state, &caller, move |s| Ok(find(s, &id)?.id)).await?;
    let input = group::parse(&body)?;
    change(&state, &caller, group_id, input).await
}

/// `PATCH /Groups/{id}`: members added (`add` `members`) and removed
/// (`remove` `members[value eq "…"]`), renamed (`replace`
/// `displayName`); 400 `invalidPath`, `noTarget`; 404.
pub async fn patch(
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
    caller: ScimCaller,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let base = caller.base.clone();
    let (group_id, mut resource) = read(&state, &caller, move |s| {
        let g = find(s, &id)?;
        Ok((g.id, group::render(s, g, &base)))
    })
    .await?;
    patch::apply(&mut resource, &body, group::ATTRIBUTES, group::READ_ONLY)?;
    let input = group::parse(&resource)?;
    change(&state, &caller, group_id, input).await
}

/// `DELETE /Groups/{id}`: 204 (its members lose the roles it gave them);
/// 409 if it holds the last Owner role; 404.
pub async fn delete(
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
    caller: ScimCaller,
) -> Result<Response, ScimError> {
    let group_id = read(&state, &caller, move |s| Ok(find(s, &id)?.id)).await?;
    let command = Command::DeleteGroup { group: group_id };
    run(&state, &caller, command, StatusCode::NO_CONTENT, None, None).await
}
