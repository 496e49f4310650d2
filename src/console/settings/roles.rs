//! Settings → Roles: the organization's and projects' roles; a role's
//! permissions as checkboxes of the catalog (read-only for predefined
//! roles and for those who may not manage custom roles), with what it
//! inherits; New Role with a search box over the permissions (the search
//! is a button of the same form, so what is checked stays checked); a
//! custom role's inheritance and, for an organization role, the project
//! role it grants on every project (`POST /roles`, `PUT /roles/{role}`,
//! `DELETE /roles/{role}`).

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::super::call::{request, Fields, Refusal};
use super::super::session::{Posted, Session};
use super::super::{done, notice, refused, seg, Done};
use super::tab;
use crate::http::json::Json;
use crate::http::params::RolePath;
use crate::http::routes::roles as api;
use crate::http::state::AppState;
use domain::permissions::known;

/// `{org}`, `{scope}` and `{role}` of a role's page.
#[derive(Deserialize)]
pub struct RolePage {
    #[allow(dead_code)]
    org: String,
    scope: String,
    role: String,
}

/// `GET /orgs/{org}/settings/roles`'s query: `new` opens New Role for a
/// scope.
#[derive(Deserialize, Default)]
pub struct RolesQuery {
    new: Option<String>,
    done: Option<String>,
}

async fn roles_of(state: &AppState, session: &Session, scope: &str) -> Result<Value, Refusal> {
    let q = request(json!({"scope": scope}))?;
    let answered = api::list(
        State(state.clone()),
        Query(q),
        Uri::from_static("/"),
        session.caller.clone(),
    )
    .await;
    session.answer(answered).await
}

async fn catalog(state: &AppState, session: &Session, scope: &str) -> Result<Value, Refusal> {
    let q = request(json!({"scope": scope}))?;
    session
        .answer(api::permissions(State(state.clone()), Query(q), session.caller.clone()).await)
        .await
}

/// The role form as shown: the definition (`role`: null for New Role), the
/// catalog's permissions the search keeps (every checked one stays), the
/// roles it may inherit and the project roles it may map to.
struct Editor {
    scope: String,
    role: Value,
    search: String,
    error: Option<Refusal>,
    notice: Option<&'static str>,
}

async fn show(state: &AppState, session: &Session, e: Editor) -> Response {
    let chrome = session.chrome("settings");
    let loaded = async {
        let catalog = catalog(state, session, &e.scope).await?;
        let same_scope = roles_of(state, session, &e.scope).await?;
        let project_roles = roles_of(state, session, "project").await?;
        Ok::<_, Refusal>((catalog, same_scope, project_roles))
    };
    let (catalog, same_scope, project_roles) = match loaded.await {
        Ok(l) => l,
        Err(r) => return refused(Some(&chrome), r),
    };
    let named = |field: &str| -> Vec<String> {
        e.role[field]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect()
    };
    let (own, effective) = (named("permissions"), named("effective_permissions"));
    let needle = e.search.trim().to_lowercase();
    // Every role of a scope holds its view permission.
    let view = match e.scope.as_str() {
        "project" => "project.view",
        _ => "organization.view",
    };
    let permissions: Vec<Value> = catalog
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let name = p["name"].as_str()?;
            let description = p["description"].as_str().unwrap_or("");
            let always = name == view;
            let checked = always || own.iter().any(|o| o == name);
            let found = needle.is_empty()
                || name.to_lowercase().contains(&needle)
                || description.to_lowercase().contains(&needle);
            (checked || found).then(|| {
                json!({
                    "name": name,
                    "description": description,
                    "checked": checked,
                    "always": always,
                    "inherited": !checked && effective.iter().any(|o| o == name),
                })
            })
        })
        .collect();
    let inherited: Vec<String> = e.role["inherits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["role_id"].as_str().map(str::to_string))
        .collect();
    let predefined = e.role["predefined"].as_bool().unwrap_or(false);
    let editable = !predefined && session.holds(state, known::ORGANIZATION_CUSTOM_ROLES_MANAGE);
    let status = e.error.as_ref().map_or(StatusCode::OK, |r| r.status);
    tab(
        state,
        session,
        "roles",
        status,
        "settings/role.html",
        minijinja::context! {
            scope => e.scope,
            role => e.role,
            is_new => e.role["role_id"].is_null(),
            permissions,
            search => e.search,
            inheritable => same_scope,
            inherited,
            project_roles,
            editable,
            error => e.error.map(|r| r.detail),
            notice => e.notice,
        },
    )
}

/// `GET /orgs/{org}/settings/roles`: every role, by scope; with `?new=`
/// the New Role form.
pub async fn page(
    State(state): State<AppState>,
    Query(q): Query<RolesQuery>,
    session: Session,
) -> Response {
    if let Some(scope) = q.new.filter(|s| s == "organization" || s == "project") {
        let role = json!({"scope": scope, "permissions": [], "predefined": false});
        let editor = Editor {
            scope,
            role,
            search: String::new(),
            error: None,
            notice: None,
        };
        return show(&state, &session, editor).await;
    }
    let chrome = session.chrome("settings");
    let listed = async {
        Ok::<_, Refusal>((
            roles_of(&state, &session, "organization").await?,
            roles_of(&state, &session, "project").await?,
        ))
    };
    let (organization, project) = match listed.await {
        Ok(l) => l,
        Err(r) => return refused(Some(&chrome), r),
    };
    tab(
        &state,
        &session,
        "roles",
        StatusCode::OK,
        "settings/roles.html",
        minijinja::context! {
            organization,
            project,
            can_manage => session.holds(&state, known::ORGANIZATION_CUSTOM_ROLES_MANAGE),
            notice => notice(&Done { done: q.done }),
        },
    )
}

/// The definition a role form posts, as the API's body; and the role as
/// the form shows it again.
fn definition(scope: &str, f: &Fields) -> (Value, Value) {
    let permissions = f.all("permission");
    let inherits = f.all("inherits");
    let project_role = (scope == "organization")
        .then(|| f.opt("project_role"))
        .flatten();
    let body = json!({
        "name": f.one("name").trim(),
        "scope": scope,
        "description": f.one("description").trim(),
        "permissions": permissions,
        "inherits": inherits,
        "project_role": project_role,
    });
    let shown = json!({
        "name": f.one("name"),
        "scope": scope,
        "description": f.one("description"),
        "permissions": permissions,
        "inherits": inherits.iter().map(|i| json!({"role_id": i})).collect::<Vec<_>>(),
        "project_role": project_role.map(|p| json!({"name": p})),
        "predefined": false,
    });
    (body, shown)
}

/// `POST /orgs/{org}/settings/roles`: New Role's Search (the form again,
/// filtered, checks kept) or Create role.
pub async fn create(
    State(state): State<AppState>,
    Posted { session, fields: f }: Posted,
) -> Response {
    let scope = f.one("scope");
    let (body, shown) = definition(&scope, &f);
    let mut editor = Editor {
        scope: scope.clone(),
        role: shown,
        search: f.one("search"),
        error: None,
        notice: None,
    };
    if f.one("intent") != "create" {
        return show(&state, &session, editor).await;
    }
    let created = match request(body) {
        Ok(b) => {
            session
                .answer(api::create(State(state.clone()), session.caller.clone(), Json(b)).await)
                .await
        }
        Err(r) => Err(r),
    };
    match created {
        Ok(role) => {
            let id = role["role_id"].as_str().unwrap_or_default();
            done(
                &session.url(&format!("settings/roles/{scope}/{}", seg(id))),
                "role_created",
            )
        }
        Err(r) if r.status == StatusCode::FORBIDDEN => {
            refused(Some(&session.chrome("settings")), r)
        }
        Err(r) => {
            editor.error = Some(r);
            show(&state, &session, editor).await
        }
    }
}

/// `GET /orgs/{org}/settings/roles/{scope}/{role}`: the role.
pub async fn role(
    State(state): State<AppState>,
    Path(p): Path<RolePage>,
    Query(q): Query<Done>,
    session: Session,
) -> Response {
    let got = match request(json!({"scope": p.scope})) {
        Ok(query) => {
            session
                .answer(
                    api::get(
                        State(state.clone()),
                        Path(RolePath {
                            role: p.role.clone(),
                        }),
                        Query(query),
                        session.caller.clone(),
                    )
                    .await,
                )
                .await
        }
        Err(r) => Err(r),
    };
    match got {
        Ok(role) => {
            let editor = Editor {
                scope: p.scope,
                role,
                search: String::new(),
                error: None,
                notice: notice(&q),
            };
            show(&state, &session, editor).await
        }
        Err(r) => refused(Some(&session.chrome("settings")), r),
    }
}

/// `POST /orgs/{org}/settings/roles/{scope}/{role}`: Search, Save role or
/// Delete role.
pub async fn change(
    State(state): State<AppState>,
    Path(p): Path<RolePage>,
    Posted { session, fields: f }: Posted,
) -> Response {
    let (body, mut shown) = definition(&p.scope, &f);
    shown["role_id"] = Value::String(p.role.clone());
    let path = || {
        Path(RolePath {
            role: p.role.clone(),
        })
    };
    let intent = f.one("intent");
    let answered = match intent.as_str() {
        "save" => match (request(json!({"scope": p.scope})), request(body)) {
            (Ok(q), Ok(b)) => session
                .answer(
                    api::change(
                        State(state.clone()),
                        path(),
                        Query(q),
                        session.caller.clone(),
                        Json(b),
                    )
                    .await,
                )
                .await
                .map(Some),
            (Err(r), _) | (_, Err(r)) => Err(r),
        },
        "delete" => match request(json!({"scope": p.scope})) {
            Ok(q) => session
                .answer(
                    api::delete(
                        State(state.clone()),
                        path(),
                        Query(q),
                        session.caller.clone(),
                    )
                    .await,
                )
                .await
                .map(Some),
            Err(r) => Err(r),
        },
        _ => Ok(None),
    };
    match answered {
        Ok(Some(_)) if intent == "delete" => done(&session.url("settings/roles"), "role_deleted"),
        Ok(Some(_)) => done(
            &session.url(&format!(
                "settings/roles/{}/{}",
                seg(&p.scope),
                seg(&p.role)
            )),
            "role_saved",
        ),
        Err(r) if r.status == StatusCode::FORBIDDEN => {
            refused(Some(&session.chrome("settings")), r)
        }
        outcome => {
            let editor = Editor {
                scope: p.scope,
                role: shown,
                search: f.one("search"),
                error: outcome.err(),
                notice: None,
            };
            show(&state, &session, editor).await
        }
    }
}
