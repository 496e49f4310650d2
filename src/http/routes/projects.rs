//! Projects: list, create, delete, ownership, members from every source,
//! direct bindings, repository access and its role mapping.
//!
//! `GET /projects` lists the projects on which the caller holds
//! `project.view` (Owners and Admins: all of them, through their
//! organization role); the members and the mapping need
//! `project.access.view` on the project. Changes are authorized by the
//! commands (RBAC.md).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use domain::access::BindingSource;
use domain::ids::{ProjectId, Subject};
use domain::permissions::{Permission, Scope};
use domain::roles::{RepoAccess, RepoRoleMapping};
use domain::{Command, Organization};
use projections::access::OrgAccess;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{committed, committed_empty, role_ref, user_ref, AtLeast, RoleBody};
use crate::http::auth::{Bearer, Caller, Origin};
use crate::http::problem::{ApiResult, Problem};
use crate::http::resolve;
use crate::http::state::AppState;

fn project_json(s: &Organization, id: ProjectId) -> Value {
    let p = &s.projects[&id];
    json!({"project_id": p.id, "name": p.name, "owner": user_ref(s, p.owner)})
}

/// A user who is to hold something on a project: a user id is passed to
/// the command as it is, so that one who is not (or no longer) in the
/// organization is refused with 422 `not_a_member`; a username or email
/// must name a user (404 `user_not_found`).
fn member(s: &Organization, r: &str) -> ApiResult<domain::ids::UserId> {
    match r.strip_prefix("user:").unwrap_or(r).parse() {
        Ok(id) => Ok(id),
        Err(_) => resolve::user(s, r),
    }
}

/// A binding subject: `group:<ref>`, or a user as [`member`] reads it.
fn subject_of(s: &Organization, r: &str) -> ApiResult<Subject> {
    if r.starts_with("group:") {
        return resolve::subject(s, r);
    }
    member(s, r).map(Subject::User)
}

/// 403 naming `permission` unless the caller holds it on `project`.
fn require_on(
    o: &OrgAccess,
    caller: &Caller,
    project: ProjectId,
    permission: &'static str,
) -> ApiResult<()> {
    let p = Permission::lookup(permission).expect("catalog permission");
    if o.check(caller.user, p, Some(project)) {
        Ok(())
    } else {
        Err(Problem::forbidden(permission))
    }
}

/// `GET /projects`: `[{project_id, name, owner}]` by name, the projects the
/// caller may view.
pub async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    Query(q): Query<AtLeast>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Json<Value>> {
    let caller = state.caller(&org, &bearer, origin).await?;
    state.consistent(q.at_least).await?;
    let model = state.model.read();
    let Some(o) = model.org(caller.org) else {
        return Ok(Json(json!([])));
    };
    let view = Permission::lookup("project.view").expect("catalog");
    let s = &o.state;
    let mut projects: Vec<&domain::state::Project> = s
        .projects
        .values()
        .filter(|p| o.check(caller.user, view, Some(p.id)))
        .collect();
    projects.sort_by_key(|p| p.name.to_lowercase());
    Ok(Json(Value::Array(
        projects.iter().map(|p| project_json(s, p.id)).collect(),
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    name: String,
    owner: Option<String>,
}

/// `POST /projects`: 201 `{project_id, name, owner}`; the owner (the caller
/// by default) also gets `Admin` on it; 409 `project_name_taken`.
pub async fn create(
    State(state): State<AppState>,
    Path(org): Path<String>,
    bearer: Bearer,
    origin: Origin,
    Json(body): Json<NewProject>,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let owner = match body.owner {
        Some(o) => Some(state.resolve(caller.org, move |s| member(s, &o)).await?),
        None => None,
    };
    let project_id = ProjectId::new();
    let outcome = state
        .service
        .execute(
            caller.org,
            Command::CreateProject {
                project_id,
                name: body.name,
                owner,
            },
            &caller.context(),
        )
        .await?;
    let body = project_answer(&state, &caller, project_id).await?;
    Ok(committed(StatusCode::CREATED, outcome.position, body))
}

async fn project_answer(state: &AppState, caller: &Caller, project: ProjectId) -> ApiResult<Value> {
    Ok(state
        .service
        .read(caller.org, move |s| {
            s.projects
                .contains_key(&project)
                .then(|| project_json(s, project))
        })
        .await?
        .unwrap_or_else(|| json!({"project_id": project})))
}

async fn project_of(state: &AppState, caller: &Caller, project: String) -> ApiResult<ProjectId> {
    state
        .service
        .read(caller.org, move |s| resolve::project(s, &project))
        .await?
}

/// `DELETE /projects/{project}`: 204; needs `project.delete` on it.
pub async fn delete(
    State(state): State<AppState>,
    Path((org, project)): Path<(String, String)>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let project = project_of(&state, &caller, project).await?;
    let outcome = state
        .service
        .execute(
            caller.org,
            Command::DeleteProject { project },
            &caller.context(),
        )
        .await?;
    Ok(committed_empty(outcome.position))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOwner {
    user: String,
}

/// `PUT /projects/{project}/owner`: 200 with the project; 422 `not_a_member`
/// for a user id not in the organization (404 `user_not_found` for a
/// username or email that names nobody).
pub async fn transfer(
    State(state): State<AppState>,
    Path((org, project)): Path<(String, String)>,
    bearer: Bearer,
    origin: Origin,
    Json(body): Json<NewOwner>,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let (project, to) = state
        .resolve(caller.org, move |s| {
            Ok::<_, Problem>((resolve::project(s, &project)?, member(s, &body.user)?))
        })
        .await?;
    let outcome = state
        .service
        .execute(
            caller.org,
            Command::TransferProject { project, to },
            &caller.context(),
        )
        .await?;
    let body = project_answer(&state, &caller, project).await?;
    Ok(committed(StatusCode::OK, outcome.position, body))
}

/// One role of a member with its source: `{role, source: {via, group?,
/// organization_role?, access?}}`.
fn member_role(s: &Organization, source: &BindingSource) -> Value {
    let mut src = super::access::source_json(s, source);
    if let Value::Object(m) = &mut src {
        m.remove("role");
    }
    json!({"role": role_ref(s, source.role()), "source": src})
}

/// `GET /projects/{project}/members`: `[{subject, roles: [{role, source}]}]`
/// from every source (direct, group, organization role, repository): users
/// first (by username), then groups with a binding (by name). Needs
/// `project.access.view` on the project.
pub async fn members(
    State(state): State<AppState>,
    Path((org, project)): Path<(String, String)>,
    Query(q): Query<AtLeast>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Json<Value>> {
    let caller = state.caller(&org, &bearer, origin).await?;
    state.consistent(q.at_least).await?;
    let model = state.model.read();
    let o = model
        .org(caller.org)
        .ok_or_else(|| Problem::not_found("project_not_found", "no such project"))?;
    let s = &o.state;
    let project = resolve::project(s, &project)?;
    require_on(o, &caller, project, "project.access.view")?;
    let mut users: Vec<&domain::state::User> = s.users.values().collect();
    users.sort_by(|a, b| a.username.cmp(&b.username));
    let mut out = Vec::new();
    for u in users {
        let grants = s.project_grants(u.id, project);
        if grants.is_empty() {
            continue;
        }
        out.push(json!({
            "subject": Subject::User(u.id).to_string(),
            "user": user_ref(s, u.id),
            "roles": grants.iter().map(|g| member_role(s, g)).collect::<Vec<_>>(),
        }));
    }
    let p = &s.projects[&project];
    let mut groups: Vec<_> = p
        .group_bindings
        .iter()
        .filter_map(|(g, r)| s.groups.get(g).map(|g| (g, *r)))
        .collect();
    groups.sort_by_key(|(g, _)| g.name.to_lowercase());
    for (g, role) in groups {
        out.push(json!({
            "subject": Subject::Group(g.id).to_string(),
            "group": {"group_id": g.id, "name": g.name},
            "roles": [member_role(s, &BindingSource::Direct { role })],
        }));
    }
    Ok(Json(Value::Array(out)))
}

/// `PUT /projects/{project}/members/{subject}`: binds a project role
/// directly (replacing the subject's direct binding); 200; 422
/// `role_scope_mismatch`, `not_a_member`.
pub async fn bind(
    State(state): State<AppState>,
    Path((org, project, subject)): Path<(String, String, String)>,
    bearer: Bearer,
    origin: Origin,
    Json(body): Json<RoleBody>,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let (project, subject, role) = state
        .resolve(caller.org, move |s| {
            Ok::<_, Problem>((
                resolve::project(s, &project)?,
                subject_of(s, &subject)?,
                resolve::role(s, &body.role, Scope::Project)?,
            ))
        })
        .await?;
    let outcome = state
        .service
        .execute(
            caller.org,
            Command::BindProjectRole {
                project,
                subject,
                role,
            },
            &caller.context(),
        )
        .await?;
    let body = state
        .service
        .read(caller.org, move |s| {
            json!({
                "project_id": project,
                "subject": subject.to_string(),
                "role": s.roles.contains_key(&role).then(|| role_ref(s, role)),
            })
        })
        .await?;
    Ok(committed(StatusCode::OK, outcome.position, body))
}

/// `DELETE /projects/{project}/members/{subject}`: retracts the direct
/// binding; 200; 409 `not_directly_assigned` with the actual `sources`.
pub async fn unbind(
    State(state): State<AppState>,
    Path((org, project, subject)): Path<(String, String, String)>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let (project, subject) = state
        .resolve(caller.org, move |s| {
            Ok::<_, Problem>((
                resolve::project(s, &project)?,
                resolve::subject(s, &subject)?,
            ))
        })
        .await?;
    let outcome = state
        .service
        .execute(
            caller.org,
            Command::UnbindProjectRole { project, subject },
            &caller.context(),
        )
        .await?;
    Ok(committed(
        StatusCode::OK,
        outcome.position,
        json!({"project_id": project, "subject": subject.to_string()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessBody {
    access: String,
}

/// `PUT /projects/{project}/repository-access/{user}`: `admin|write|read`
/// (also `push|pull`) or `none` to revoke; 200; 422 `invalid_access`.
pub async fn repository_access(
    State(state): State<AppState>,
    Path((org, project, user)): Path<(String, String, String)>,
    bearer: Bearer,
    origin: Origin,
    Json(body): Json<AccessBody>,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let access = match body.access.as_str() {
        "none" => None,
        a => Some(RepoAccess::parse(a).ok_or_else(|| {
            Problem::invalid(
                "access",
                "invalid_access",
                format!("access {a:?}: expected admin, write, read or none"),
            )
        })?),
    };
    let (project, user) = state
        .resolve(caller.org, move |s| {
            Ok::<_, Problem>((resolve::project(s, &project)?, resolve::user(s, &user)?))
        })
        .await?;
    let outcome = state
        .service
        .execute(
            caller.org,
            Command::SetRepositoryAccess {
                project,
                user,
                access,
            },
            &caller.context(),
        )
        .await?;
    Ok(committed(
        StatusCode::OK,
        outcome.position,
        json!({
            "project_id": project,
            "user_id": user,
            "access": access.map_or("none", RepoAccess::as_str),
        }),
    ))
}

fn mapping_json(s: &Organization, m: &RepoRoleMapping) -> Value {
    json!({
        "admin": role_ref(s, m.admin),
        "write": role_ref(s, m.write),
        "read": role_ref(s, m.read),
    })
}

/// `GET /projects/{project}/repository-role-mapping`: `{admin, write,
/// read}`, each a role; needs `project.access.view` on the project.
pub async fn mapping(
    State(state): State<AppState>,
    Path((org, project)): Path<(String, String)>,
    Query(q): Query<AtLeast>,
    bearer: Bearer,
    origin: Origin,
) -> ApiResult<Json<Value>> {
    let caller = state.caller(&org, &bearer, origin).await?;
    state.consistent(q.at_least).await?;
    let model = state.model.read();
    let o = model
        .org(caller.org)
        .ok_or_else(|| Problem::not_found("project_not_found", "no such project"))?;
    let project = resolve::project(&o.state, &project)?;
    require_on(o, &caller, project, "project.access.view")?;
    Ok(Json(mapping_json(
        &o.state,
        &o.state.projects[&project].repo_mapping,
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingBody {
    admin: String,
    write: String,
    read: String,
}

/// `PUT /projects/{project}/repository-role-mapping`: `{admin, write,
/// read}` project roles; 200 with the mapping.
pub async fn set_mapping(
    State(state): State<AppState>,
    Path((org, project)): Path<(String, String)>,
    bearer: Bearer,
    origin: Origin,
    Json(body): Json<MappingBody>,
) -> ApiResult<Response> {
    let caller = state.caller(&org, &bearer, origin).await?;
    let (project, mapping) = state
        .resolve(caller.org, move |s| {
            let role = |r: &str| resolve::role(s, r, Scope::Project);
            Ok::<_, Problem>((
                resolve::project(s, &project)?,
                RepoRoleMapping {
                    admin: role(&body.admin)?,
                    write: role(&body.write)?,
                    read: role(&body.read)?,
                },
            ))
        })
        .await?;
    let outcome = state
        .service
        .execute(
            caller.org,
            Command::SetRepositoryRoleMapping { project, mapping },
            &caller.context(),
        )
        .await?;
    let body = state
        .service
        .read(caller.org, move |s| mapping_json(s, &mapping))
        .await?;
    Ok(committed(StatusCode::OK, outcome.position, body))
}
