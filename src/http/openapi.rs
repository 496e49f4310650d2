//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document that `utoipa`
//! collects from the handlers' `#[utoipa::path]` annotations through
//! [`super::api`], the same list the router is built from, so every served
//! route is documented and every documented route is served.
//!
//! The annotations say what is particular to a route (parameters, bodies,
//! answers, its own error codes). [`complete`] adds what API.md's
//! conventions give every route alike: the bearer scheme, 401 and 403 on
//! authenticated routes, 404 `org_not_found` under `/orgs/{org}`, the
//! body errors (400, 413, 415, 422) where a body is read, 503
//! `projection_lagging` where `at_least` is read, `Idempotency-Key` and
//! `Rolebook-Position` on commands. Error responses name their stable
//! codes in their description, each written `` `code` `` (and nothing
//! else is written so there), and list them in `x-problem-codes`.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{json, Map, Value};

/// The problem+json answer of one status naming `codes`.
fn problem(description: String) -> Value {
    json!({
        "description": description,
        "content": {
            "application/problem+json": {
                "schema": {"$ref": "#/components/schemas/ProblemBody"},
            },
        },
    })
}

/// Adds `` `code` ``: `why` to the answer of `status`, creating it if
/// the annotation did not list that status.
fn add_problem(responses: &mut Map<String, Value>, status: &str, code: &str, why: &str) {
    let mention = format!("`{code}`");
    match responses.get_mut(status) {
        Some(r) => {
            let d = r["description"].as_str().unwrap_or_default().to_string();
            if !d.contains(&mention) {
                r["description"] = json!(format!("{d}; {mention}: {why}"));
            }
        }
        None => {
            responses.insert(status.to_string(), problem(format!("{mention}: {why}")));
        }
    }
}

/// Adds to one operation what API.md's conventions give it.
fn complete_operation(path: &str, method: &str, op: &mut Value) {
    let public = op["security"]
        .as_array()
        .is_some_and(|s| s.iter().all(|r| r.as_object().is_some_and(Map::is_empty)));
    if public {
        op["security"] = json!([]);
    }
    let reads_at_least = op["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["name"] == "at_least"));
    let has_body = op.get("requestBody").is_some();
    // Every method but GET goes through the Idempotency-Key layer; the
    // commands (an answer with `position`, or a 204 that appended) also
    // answer Rolebook-Position and may meet a concurrent writer.
    let idempotent = method != "get";
    let command = op["responses"].as_object().is_some_and(|rs| {
        rs.iter().any(|(status, r)| {
            let committed = r["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .is_some_and(|s| s.starts_with("#/components/schemas/Committed_"));
            committed || (status == "204" && !path.ends_with("/sessions/current"))
        })
    });
    let responses = op["responses"].as_object_mut().expect("responses");

    if !public {
        add_problem(responses, "401", "unauthorized", "no valid bearer token");
        add_problem(
            responses,
            "403",
            "forbidden",
            "a permission is missing (named in field permission)",
        );
    }
    if path.starts_with("/api/v1/orgs/{org}") {
        add_problem(responses, "404", "org_not_found", "no such organization");
    }
    if has_body {
        add_problem(responses, "400", "malformed_body", "the body is not JSON");
        add_problem(responses, "413", "body_too_large", "the body is over 1 MiB");
        add_problem(
            responses,
            "415",
            "unsupported_media_type",
            "the body is not application/json",
        );
        add_problem(
            responses,
            "422",
            "invalid_body",
            "a field is missing, unknown or of the wrong type",
        );
    }
    if reads_at_least {
        add_problem(
            responses,
            "422",
            "invalid_at_least",
            "at_least is past the log's head or out of the int64 range",
        );
        add_problem(
            responses,
            "503",
            "projection_lagging",
            "the read side did not reach at_least in time",
        );
    }
    if !public {
        add_problem(
            responses,
            "503",
            "projection_lagging",
            "just after a start, the access model did not catch up with the log in time",
        );
    }
    if idempotent {
        add_problem(
            responses,
            "400",
            "invalid_idempotency_key",
            "Idempotency-Key is not 1 to 255 visible ASCII characters",
        );
        add_problem(
            responses,
            "422",
            "idempotency_key_reused",
            "this Idempotency-Key came with another request",
        );
    }
    if command {
        add_problem(
            responses,
            "409",
            "concurrent_modification",
            "the organization kept changing; try again",
        );
        let position = json!({
            "description": "The global position of the command's last event: pass it as `at_least`",
            "schema": {"type": "integer", "minimum": 0},
        });
        for (status, answer) in responses.iter_mut() {
            if status.starts_with('2') {
                answer["headers"]["Rolebook-Position"] = position.clone();
            }
        }
    }
    if idempotent {
        let mut params = op["parameters"]
            .as_array_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        params.push(json!({
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "description": "The same key and body within 24 h get the first answer again (`Idempotent-Replayed: true`) and append nothing",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]{1,255}$"},
        }));
        op["parameters"] = json!(params);
    }
    let responses = op["responses"].as_object_mut().expect("responses");
    responses.insert(
        "default".into(),
        problem("`timeout` (408), `internal` (500), `shutting_down` (503), `store_unavailable` (503: the database cannot be reached; nothing was changed, send again), `storage_full` (507: the database's disk is full; nothing was changed)".into()),
    );
    for (status, r) in responses.iter_mut() {
        if !status.starts_with('2') {
            let codes = codes_of(r["description"].as_str().unwrap_or_default());
            r["x-problem-codes"] = json!(codes);
        }
    }
}

/// The codes a description names: its `` `code` `` spans.
fn codes_of(description: &str) -> Vec<&str> {
    description.split('`').skip(1).step_by(2).collect()
}

/// Adds the conventions shared by every route to the document `utoipa`
/// collected, and its description.
pub fn complete(doc: &mut Value) {
    doc["openapi"] = json!("3.1.0");
    doc["info"] = json!({
        "title": "rolebook",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "Event-sourced RBAC and audit log for a CI/CD platform organization. \
            Every successful command answers with `position` (also the Rolebook-Position \
            header); every query takes `at_least`. Consistency: session consistency by \
            default: a read waits until the read side has reached the last command answered \
            to the same bearer token (read-your-writes, at most 5 s, then 503 \
            `projection_lagging`); `at_least` raises that floor, for instance to see a write \
            another caller was told about; reads by other tokens do not wait. Errors are application/problem+json \
            with a stable `code`; each error answer below names its codes. Lists: `GET \
            /people`, `/groups`, `/who-can` and `/audit-logs` are paged by default (`limit` \
            50, at most 1000) and answer `next_cursor`; `GET /roles`, `/projects` and \
            `/projects/{project}/members` keep API.md's bare arrays: they are paged only \
            when `limit` or `cursor` is given, and then announce the next page in the \
            `Rolebook-Next-Cursor` and `Link: <...>; rel=\"next\"` headers. `GET \
            /permissions` and `/people/{user}/permissions` are bounded by the catalog \
            (68 permissions) and not paged.",
    });
    doc["security"] = json!([{"bearer": []}]);
    doc["components"]["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer"},
    });
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            complete_operation(path, method, op);
        }
    }
}

/// The whole document.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(super::api().into_openapi()).expect("serializable");
    complete(&mut doc);
    doc
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| document().to_string());

/// `GET /api/v1/openapi.json`.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "instance", operation_id = "openapi",
    summary = "This OpenAPI document",
    security(()),
    responses(
        (status = 200, description = "OpenAPI 3.1", body = Object, content_type = "application/json"),
    )
)]
pub async fn serve() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}
