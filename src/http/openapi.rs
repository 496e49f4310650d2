//! `GET /api/v1/openapi.json`: an OpenAPI 3.1 document generated from the
//! same route table the router is built from ([`super::routes`]), so every
//! served route is documented and every documented route is served.
//!
//! It describes paths, methods, path and query parameters, the success
//! status, authentication and the problem+json error shape; request and
//! answer bodies are described in API.md.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{json, Map, Value};

use super::Route;

/// What each path parameter holds.
fn describe_param(name: &str) -> &'static str {
    match name {
        "org" => "the organization's id or name",
        "user" => "a user's id, username or email",
        "group" => "a group's id or name",
        "project" => "a project's id or name",
        "role" => "a role's id or name (by name in ?scope=, organization by default)",
        "subject" => "user:<id>, group:<id>, or a user's id, username or email",
        "id" => "the token's id",
        _ => "an identifier",
    }
}

fn describe_query(name: &str) -> &'static str {
    match name {
        "at_least" => "answer once the read side has reached this position (a command's `position`); 503 projection_lagging after a bounded wait",
        "from" => "entries at or after this instant (RFC 3339)",
        "to" => "entries before this instant (RFC 3339)",
        "actor" => "the acting user (id, username or email)",
        "resource_type" => "Organization, User, Group, Role, Project, ServiceAccount, Settings or AuditStream",
        "resource_id" => "the resource's id",
        "action" => "Added, Removed or Modified",
        "limit" => "entries per page (default 50, at most 1000)",
        "cursor" => "the next_cursor of the previous page",
        "scope" => "organization or project",
        "project" => "a project's id or name",
        "user" => "a user's id, username or email",
        "permission" => "a permission name of the catalog",
        "role" => "an organization role's id or name",
        "group" => "a group's id or name",
        "q" => "a substring of the username or email",
        "as_of" => "answer from the state at this instant (RFC 3339)",
        _ => "",
    }
}

/// `get /api/v1/orgs/{org}/groups/{group}` → `get_orgs_org_groups_group`.
fn operation_id(route: &Route) -> String {
    let mut id = route.method.as_str().to_lowercase();
    for part in route.path.split('/').filter(|p| !p.is_empty()) {
        if part == "api" || part == "v1" {
            continue;
        }
        id.push('_');
        id.extend(part.chars().filter(|c| !matches!(c, '{' | '}')).map(|c| {
            if c.is_ascii_alphanumeric() {
                c
            } else {
                '_'
            }
        }));
    }
    id
}

fn tag(route: &Route) -> &'static str {
    let rest = route.path.strip_prefix("/api/v1/orgs/{org}/");
    match rest.and_then(|r| r.split('/').next()) {
        Some("sessions") | Some("api-tokens") => "sessions",
        Some("people") => "people",
        Some("groups") => "groups",
        Some("roles") | Some("permissions") => "roles",
        Some("projects") => "projects",
        Some("check") | Some("who-can") => "access",
        Some("audit-logs") | Some("settings") => "audit",
        _ => "instance",
    }
}

fn operation(route: &Route) -> Value {
    let mut parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|p| p.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
        .map(|name| {
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": describe_param(name),
                "schema": {"type": "string"},
            })
        })
        .collect();
    parameters.extend(route.query.iter().map(|name| {
        let schema = match *name {
            "at_least" | "limit" => json!({"type": "integer", "minimum": 0}),
            _ => json!({"type": "string"}),
        };
        json!({
            "name": name,
            "in": "query",
            "required": false,
            "description": describe_query(name),
            "schema": schema,
        })
    }));
    let mut responses = Map::new();
    let status = route.status.as_u16().to_string();
    let success = if route.status == axum::http::StatusCode::NO_CONTENT {
        json!({"description": route.status.canonical_reason().unwrap_or("Success")})
    } else if route.path.ends_with(".csv") {
        json!({
            "description": "CSV, header row first",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        })
    } else {
        json!({
            "description": route.status.canonical_reason().unwrap_or("Success"),
            "content": {"application/json": {"schema": {}}},
        })
    };
    responses.insert(status, success);
    responses.insert(
        "default".into(),
        json!({"$ref": "#/components/responses/Problem"}),
    );
    let mut op = json!({
        "operationId": operation_id(route),
        "summary": route.summary,
        "tags": [tag(route)],
        "parameters": parameters,
        "responses": responses,
    });
    if route.public {
        op["security"] = json!([]);
    }
    if matches!(route.method.as_str(), "POST" | "PUT" | "PATCH") {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": {"type": "object"}}},
        });
    }
    op
}

/// The document for a route table.
pub fn document(routes: &[Route]) -> Value {
    let mut paths = Map::new();
    for r in routes {
        let item = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        item[r.method.as_str().to_lowercase()] = operation(r);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "rolebook",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Event-sourced RBAC and audit log for a CI/CD platform organization. \
                Every successful command answers with `position` (also the Rolebook-Position \
                header); every query takes `at_least`. Errors are application/problem+json \
                with a stable `code`.",
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "code", "detail"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "code": {"type": "string"},
                        "detail": {"type": "string"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "field": {"type": "string"},
                                    "code": {"type": "string"},
                                    "detail": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
            "responses": {
                "Problem": {
                    "description": "An error, with a stable code",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"},
                        },
                    },
                },
            },
        },
    })
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| document(&super::routes()).to_string());

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}
