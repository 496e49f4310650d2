//! Projects: list, create, delete, ownership, members from every source,
//! direct bindings, repository access and its role mapping.
//!
//! `GET /projects` lists the projects on which the caller holds
//! `project.view` (Owners and Admins: all of them, through their
//! organization role); the members and the mapping need
//! `project.access.view` on the project. Changes are authorized by the
//! commands (RBAC.md).

use crate::http::json::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use domain::access::BindingSource;
use domain::ids::{ProjectId, Subject, UserId};
use domain::permissions::{known, Permission, Scope};
use domain::roles::{RepoAccess, RepoRoleMapping};
use domain::{Command, Organization};
use projections::access::OrgAccess;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::{AtLeast, RoleBody};
use crate::http::answers::{Committed, GroupRef, RoleRef, UserRef, Via};
use crate::http::auth::Caller;
use crate::http::paging;
use crate::http::params::{MemberPath, OrgPath, ProjectPath, ProjectUserPath};
use crate::http::problem::{ApiResult, Problem, ProblemBody};
use crate::http::resolve;
use crate::http::state::AppState;

/// A project as the API writes it.
#[derive(Serialize, ToSchema)]
pub struct ProjectItem {
    #[schema(value_type = String, format = Uuid)]
    project_id: ProjectId,
    name: String,
    owner: UserRef,
}

impl ProjectItem {
    fn of(s: &Organization, id: ProjectId) -> ProjectItem {
        let p = &s.projects[&id];
        ProjectItem {
            project_id: p.id,
            name: p.name.clone(),
            owner: UserRef::of(s, p.owner),
        }
    }
}

/// The query of a bare-array list: `at_least`, and paging when asked for.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ArrayPage {
    /// Answer once the read side has reached this position.
    at_least: Option<u64>,
    /// Items per page, 1 to 1000. Without `limit` or `cursor`, the whole
    /// list.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The `Rolebook-Next-Cursor` header of the previous page.
    cursor: Option<String>,
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
    permission: Permission,
) -> ApiResult<()> {
    if o.check(caller.user, permission, Some(project)) {
        Ok(())
    } else {
        Err(Problem::forbidden(permission.name()))
    }
}

/// `GET /projects/{project}`: one project (by id or name), as `GET
/// /projects` lists it; 404 `project_not_found`; needs `project.view` on
/// it (403 naming it).
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/projects/{project}", tag = "projects", operation_id = "get_project",
    summary = "One project",
    params(OrgPath, ProjectPath, AtLeast),
    responses(
        (status = 200, description = "The project", body = ProjectItem),
        (status = 404, description = "`project_not_found`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Path(ProjectPath { project }): Path<ProjectPath>,
    Query(q): Query<AtLeast>,
    caller: Caller,
) -> ApiResult<Json<ProjectItem>> {
    state.consistent(&caller, q.at_least).await?;
    let model = state.model.read();
    let o = model
        .org(caller.org)
        .ok_or_else(|| Problem::not_found("org_not_found", "no such organization"))?;
    let id = resolve::project(&o.state, &project)?;
    if !o.check(caller.user, known::PROJECT_VIEW, Some(id)) {
        return Err(Problem::forbidden(known::PROJECT_VIEW.name()));
    }
    Ok(Json(ProjectItem::of(&o.state, id)))
}

/// `GET /projects`: `[{project_id, name, owner}]` by name, the projects the
/// caller may view. A bare array as API.md writes it: paged only when
/// `limit` or `cursor` is given, the next cursor in headers.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/projects", tag = "projects", operation_id = "list_projects",
    summary = "List the projects the caller may view (paged on request: next cursor in headers)",
    params(OrgPath, ArrayPage),
    responses(
        (status = 200, description = "The projects, or one page of them", body = Vec<ProjectItem>,
            headers(
                ("Rolebook-Next-Cursor" = String, description = "The cursor of the next page (paged requests only; absent on the last page)"),
                ("Link" = String, description = "`<url>; rel=\"next\"`: the next page (paged requests only; absent on the last page)"),
            )),
        (status = 400, description = "`invalid_cursor`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_limit`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ArrayPage>,
    uri: Uri,
    caller: Caller,
) -> ApiResult<(HeaderMap, Json<Vec<ProjectItem>>)> {
    state.consistent(&caller, q.at_least).await?;
    let model = state.model.read();
    let Some(o) = model.org(caller.org) else {
        return Ok((HeaderMap::new(), Json(vec![])));
    };
    let view = known::PROJECT_VIEW;
    let s = &o.state;
    let key = |p: &&domain::state::Project| format!("{}\u{0}{}", p.name.to_lowercase(), p.id);
    let mut projects: Vec<&domain::state::Project> = s
        .projects
        .values()
        .filter(|p| o.check(caller.user, view, Some(p.id)))
        .collect();
    projects.sort_by_cached_key(key);
    let (projects, next) = paging::page_if_asked(projects, key, q.limit, q.cursor.as_deref())?;
    Ok((
        paging::next_page_headers(&uri, next.as_deref()),
        Json(projects.iter().map(|p| ProjectItem::of(s, p.id)).collect()),
    ))
}

/// `POST /projects`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    name: String,
    /// The owner (id, username or email); the caller by default.
    owner: Option<String>,
}

/// `POST /projects`: 201 `{project_id, name, owner}`; the owner (the caller
/// by default) also gets `Admin` on it; 409 `project_name_taken`.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/projects", tag = "projects", operation_id = "create_project",
    summary = "Create a project",
    params(OrgPath),
    request_body = NewProject,
    responses(
        (status = 201, description = "The project", body = Committed<ProjectItem>),
        (status = 404, description = "`user_not_found` (owner)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`project_name_taken`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`not_a_member`, `invalid_name`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewProject>,
) -> ApiResult<Response> {
    let owner = match body.owner {
        Some(o) => Some(state.resolve(caller.org, move |s| member(s, &o)).await?),
        None => None,
    };
    let project_id = ProjectId::new();
    let command = Command::CreateProject {
        project_id,
        name: body.name,
        owner,
    };
    state
        .command(&caller, command, StatusCode::CREATED, move |s| {
            project_answer(s, project_id)
        })
        .await
}

fn project_answer(s: &Organization, project: ProjectId) -> Value {
    if s.projects.contains_key(&project) {
        json!(ProjectItem::of(s, project))
    } else {
        json!({"project_id": project})
    }
}

async fn project_of(state: &AppState, caller: &Caller, project: String) -> ApiResult<ProjectId> {
    state
        .service
        .read(caller.org, move |s| resolve::project(s, &project))
        .await?
}

/// `DELETE /projects/{project}`: 204; needs `project.delete` on it.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org}/projects/{project}", tag = "projects", operation_id = "delete_project",
    summary = "Delete a project",
    params(OrgPath, ProjectPath),
    responses(
        (status = 204, description = "Deleted; `Rolebook-Position` header"),
        (status = 404, description = "`project_not_found`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Path(ProjectPath { project, .. }): Path<ProjectPath>,
    caller: Caller,
) -> ApiResult<Response> {
    let project = project_of(&state, &caller, project).await?;
    state
        .command_empty(&caller, Command::DeleteProject { project })
        .await
}

/// `PUT /projects/{project}/owner`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerBody {
    /// The new owner (id, username or email).
    user: String,
}

/// `PUT /projects/{project}/owner`: 200 with the project; 422 `not_a_member`
/// for a user id not in the organization (404 `user_not_found` for a
/// username or email that names nobody).
#[utoipa::path(
    put, path = "/api/v1/orgs/{org}/projects/{project}/owner", tag = "projects", operation_id = "transfer_project",
    summary = "Transfer a project's ownership",
    params(OrgPath, ProjectPath),
    request_body = OwnerBody,
    responses(
        (status = 200, description = "The project", body = Committed<ProjectItem>),
        (status = 404, description = "`project_not_found`, `user_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`not_a_member`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn transfer(
    State(state): State<AppState>,
    Path(ProjectPath { project, .. }): Path<ProjectPath>,
    caller: Caller,
    Json(body): Json<OwnerBody>,
) -> ApiResult<Response> {
    let (project, to) = state
        .resolve(caller.org, move |s| {
            Ok::<_, Problem>((resolve::project(s, &project)?, member(s, &body.user)?))
        })
        .await?;
    state
        .command(
            &caller,
            Command::TransferProject { project, to },
            StatusCode::OK,
            move |s| project_answer(s, project),
        )
        .await
}

/// One role of a member with its source.
#[derive(Serialize, ToSchema)]
pub struct MemberRole {
    role: RoleRef,
    source: Via,
}

impl MemberRole {
    fn of(s: &Organization, source: &BindingSource) -> MemberRole {
        MemberRole {
            role: RoleRef::of(s, source.role()),
            source: Via::of(s, source),
        }
    }
}

/// A member of a project: a user (with `user`) or a group with a binding
/// (with `group`), and each role they hold on it with its source.
#[derive(Serialize, ToSchema)]
pub struct MemberItem {
    /// `user:<id>` or `group:<id>`.
    #[schema(example = "user:0190f5b2-8c4e-7d3a-9b1e-2f4a6c8d0e1f")]
    subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<UserRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<GroupRef>,
    roles: Vec<MemberRole>,
}

/// `GET /projects/{project}/members`: `[{subject, roles: [{role, source}]}]`
/// from every source (direct, group, organization role, repository): users
/// first (by username), then groups with a binding (by name). Needs
/// `project.access.view` on the project. A bare array as API.md writes it:
/// paged only when `limit` or `cursor` is given, the next cursor in
/// headers.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/projects/{project}/members", tag = "projects", operation_id = "project_members",
    summary = "A project's members, each role with its source (paged on request: next cursor in headers)",
    params(OrgPath, ProjectPath, ArrayPage),
    responses(
        (status = 200, description = "The members, or one page of them", body = Vec<MemberItem>,
            headers(
                ("Rolebook-Next-Cursor" = String, description = "The cursor of the next page (paged requests only; absent on the last page)"),
                ("Link" = String, description = "`<url>; rel=\"next\"`: the next page (paged requests only; absent on the last page)"),
            )),
        (status = 400, description = "`invalid_cursor`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`project_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_limit`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn members(
    State(state): State<AppState>,
    Path(ProjectPath { project, .. }): Path<ProjectPath>,
    Query(q): Query<ArrayPage>,
    uri: Uri,
    caller: Caller,
) -> ApiResult<(HeaderMap, Json<Vec<MemberItem>>)> {
    state.consistent(&caller, q.at_least).await?;
    let model = state.model.read();
    let o = model
        .org(caller.org)
        .ok_or_else(|| Problem::not_found("project_not_found", "no such project"))?;
    let s = &o.state;
    let project = resolve::project(s, &project)?;
    require_on(o, &caller, project, known::PROJECT_ACCESS_VIEW)?;
    // Members as (keyset key, subject): users by username, then groups
    // with a binding by name.
    let mut members: Vec<(String, Subject)> = s
        .users
        .values()
        .filter(|u| !s.project_grants(u.id, project).is_empty())
        .map(|u| (format!("0{}\u{0}{}", u.username, u.id), Subject::User(u.id)))
        .collect();
    let p = &s.projects[&project];
    members.extend(
        p.group_bindings
            .keys()
            .filter_map(|g| s.groups.get(g))
            .map(|g| {
                (
                    format!("1{}\u{0}{}", g.name.to_lowercase(), g.id),
                    Subject::Group(g.id),
                )
            }),
    );
    members.sort_by(|a, b| a.0.cmp(&b.0));
    let (members, next) =
        paging::page_if_asked(members, |m| m.0.clone(), q.limit, q.cursor.as_deref())?;
    let out = members
        .into_iter()
        .map(|(_, subject)| match subject {
            Subject::User(u) => MemberItem {
                subject: subject.to_string(),
                user: Some(UserRef::of(s, u)),
                group: None,
                roles: s
                    .project_grants(u, project)
                    .iter()
                    .map(|g| MemberRole::of(s, g))
                    .collect(),
            },
            Subject::Group(g) => MemberItem {
                subject: subject.to_string(),
                user: None,
                group: Some(GroupRef::of(s, g)),
                roles: vec![MemberRole::of(
                    s,
                    &BindingSource::Direct {
                        role: p.group_bindings[&g],
                    },
                )],
            },
        })
        .collect();
    Ok((paging::next_page_headers(&uri, next.as_deref()), Json(out)))
}

/// A direct project binding after a command.
#[derive(Serialize, ToSchema)]
pub struct Binding {
    #[schema(value_type = String, format = Uuid)]
    project_id: ProjectId,
    /// `user:<id>` or `group:<id>`.
    subject: String,
    /// The role bound.
    role: Option<RoleRef>,
}

/// A direct project binding that was retracted.
#[derive(Serialize, ToSchema)]
pub struct Unbound {
    #[schema(value_type = String, format = Uuid)]
    project_id: ProjectId,
    /// `user:<id>` or `group:<id>`.
    subject: String,
}

/// `PUT /projects/{project}/members/{subject}`: binds a project role
/// directly (replacing the subject's direct binding); 200; 422
/// `role_scope_mismatch`, `not_a_member`.
#[utoipa::path(
    put, path = "/api/v1/orgs/{org}/projects/{project}/members/{subject}", tag = "projects", operation_id = "bind_project_role",
    summary = "Bind a project role directly",
    params(OrgPath, MemberPath),
    request_body = RoleBody,
    responses(
        (status = 200, description = "The direct binding", body = Committed<Binding>),
        (status = 403, description = "`role_escalation`: the role grants what the caller lacks (with fields role and missing)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`project_not_found`, `user_not_found`, `group_not_found`, `role_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`role_scope_mismatch`, `not_a_member`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn bind(
    State(state): State<AppState>,
    Path(MemberPath {
        project, subject, ..
    }): Path<MemberPath>,
    caller: Caller,
    Json(body): Json<RoleBody>,
) -> ApiResult<Response> {
    let (project, subject, role) = state
        .resolve(caller.org, move |s| {
            Ok::<_, Problem>((
                resolve::project(s, &project)?,
                subject_of(s, &subject)?,
                resolve::role(s, &body.role, Scope::Project)?,
            ))
        })
        .await?;
    let command = Command::BindProjectRole {
        project,
        subject,
        role,
    };
    state
        .command(&caller, command, StatusCode::OK, move |s| Binding {
            project_id: project,
            subject: subject.to_string(),
            role: s.roles.contains_key(&role).then(|| RoleRef::of(s, role)),
        })
        .await
}

/// `DELETE /projects/{project}/members/{subject}`: retracts the direct
/// binding; 200; 409 `not_directly_assigned` with the actual `sources`.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org}/projects/{project}/members/{subject}", tag = "projects", operation_id = "unbind_project_role",
    summary = "Retract a direct project binding",
    params(OrgPath, MemberPath),
    responses(
        (status = 200, description = "Retracted", body = Committed<Unbound>),
        (status = 404, description = "`project_not_found`, `user_not_found`, `group_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`not_directly_assigned` (with the actual sources in field sources)", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn unbind(
    State(state): State<AppState>,
    Path(MemberPath {
        project, subject, ..
    }): Path<MemberPath>,
    caller: Caller,
) -> ApiResult<Response> {
    let (project, subject) = state
        .resolve(caller.org, move |s| {
            Ok::<_, Problem>((
                resolve::project(s, &project)?,
                resolve::subject(s, &subject)?,
            ))
        })
        .await?;
    state
        .command(
            &caller,
            Command::UnbindProjectRole { project, subject },
            StatusCode::OK,
            move |_| Unbound {
                project_id: project,
                subject: subject.to_string(),
            },
        )
        .await
}

/// `PUT /projects/{project}/repository-access/{user}`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessBody {
    /// `admin`, `write`, `read` (also `push`, `pull`) or `none` to revoke.
    #[schema(example = "write")]
    access: String,
}

/// A user's repository access after a command.
#[derive(Serialize, ToSchema)]
pub struct AccessSet {
    #[schema(value_type = String, format = Uuid)]
    project_id: ProjectId,
    #[schema(value_type = String, format = Uuid)]
    user_id: UserId,
    /// `admin`, `write`, `read` or `none`.
    access: &'static str,
}

/// `PUT /projects/{project}/repository-access/{user}`: `admin|write|read`
/// (also `push|pull`) or `none` to revoke; 200; 422 `invalid_access`.
#[utoipa::path(
    put, path = "/api/v1/orgs/{org}/projects/{project}/repository-access/{user}", tag = "projects", operation_id = "set_repository_access",
    summary = "Set or revoke a user's repository access",
    params(OrgPath, ProjectUserPath),
    request_body = AccessBody,
    responses(
        (status = 200, description = "The access", body = Committed<AccessSet>),
        (status = 404, description = "`project_not_found`, `user_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_access`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn repository_access(
    State(state): State<AppState>,
    Path(ProjectUserPath { project, user, .. }): Path<ProjectUserPath>,
    caller: Caller,
    Json(body): Json<AccessBody>,
) -> ApiResult<Response> {
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
    let command = Command::SetRepositoryAccess {
        project,
        user,
        access,
    };
    state
        .command(&caller, command, StatusCode::OK, move |_| AccessSet {
            project_id: project,
            user_id: user,
            access: access.map_or("none", RepoAccess::as_str),
        })
        .await
}

/// The project role each repository access grants.
#[derive(Serialize, ToSchema)]
pub struct Mapping {
    admin: RoleRef,
    write: RoleRef,
    read: RoleRef,
}

impl Mapping {
    fn of(s: &Organization, m: &RepoRoleMapping) -> Mapping {
        Mapping {
            admin: RoleRef::of(s, m.admin),
            write: RoleRef::of(s, m.write),
            read: RoleRef::of(s, m.read),
        }
    }
}

/// `GET /projects/{project}/repository-role-mapping`: `{admin, write,
/// read}`, each a role; needs `project.access.view` on the project.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/projects/{project}/repository-role-mapping", tag = "projects", operation_id = "repository_role_mapping",
    summary = "The project role of each repository access",
    params(OrgPath, ProjectPath, AtLeast),
    responses(
        (status = 200, description = "The mapping", body = Mapping),
        (status = 404, description = "`project_not_found`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn mapping(
    State(state): State<AppState>,
    Path(ProjectPath { project, .. }): Path<ProjectPath>,
    Query(q): Query<AtLeast>,
    caller: Caller,
) -> ApiResult<Json<Mapping>> {
    state.consistent(&caller, q.at_least).await?;
    let model = state.model.read();
    let o = model
        .org(caller.org)
        .ok_or_else(|| Problem::not_found("project_not_found", "no such project"))?;
    let project = resolve::project(&o.state, &project)?;
    require_on(o, &caller, project, known::PROJECT_ACCESS_VIEW)?;
    Ok(Json(Mapping::of(
        &o.state,
        &o.state.projects[&project].repo_mapping,
    )))
}

/// `PUT /projects/{project}/repository-role-mapping`'s body: a project
/// role (id or name) for each access.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingBody {
    #[schema(example = "Admin")]
    admin: String,
    #[schema(example = "Contributor")]
    write: String,
    #[schema(example = "Reader")]
    read: String,
}

/// `PUT /projects/{project}/repository-role-mapping`: `{admin, write,
/// read}` project roles; 200 with the mapping.
#[utoipa::path(
    put, path = "/api/v1/orgs/{org}/projects/{project}/repository-role-mapping", tag = "projects", operation_id = "set_repository_role_mapping",
    summary = "Change the repository role mapping",
    params(OrgPath, ProjectPath),
    request_body = MappingBody,
    responses(
        (status = 200, description = "The mapping", body = Committed<Mapping>),
        (status = 404, description = "`project_not_found`, `role_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`role_scope_mismatch`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn set_mapping(
    State(state): State<AppState>,
    Path(ProjectPath { project, .. }): Path<ProjectPath>,
    caller: Caller,
    Json(body): Json<MappingBody>,
) -> ApiResult<Response> {
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
    state
        .command(
            &caller,
            Command::SetRepositoryRoleMapping { project, mapping },
            StatusCode::OK,
            move |s| Mapping::of(s, &mapping),
        )
        .await
}
