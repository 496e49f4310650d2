//! Notification targets and audit webhooks (`/notifications`): Slack
//! incoming webhooks and generic webhooks that receive the organization's
//! audit events their rules name, signed (`crate::notifications`).
//!
//! Reading needs `organization.notifications.view`; every change
//! `organization.notifications.manage` (the command checks it; the test
//! send and resume check it here). A target's URL and signing secret are
//! kept sealed beside the log, never in it: the log and the answers show
//! the URL's origin only, and the signing secret is shown once, at
//! creation.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use commands::service::With;
use domain::ids::NotificationId;
use domain::notifications::{NotificationTarget, Rule, TargetKind};
use domain::permissions::known;
use domain::{Command, Event, Organization};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AtLeast;
use crate::http::answers::Committed;
use crate::http::auth::Caller;
use crate::http::command::{answered, render};
use crate::http::json::Json;
use crate::http::params::OrgPath;
use crate::http::problem::{ApiResult, Problem, ProblemBody};
use crate::http::state::AppState;
use crate::notifications::{Cursor, Delivery, Notifier};

/// `{org}` and a target's `{id}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TargetPath {
    /// The organization's id or name.
    pub org: String,
    /// The notification target's id.
    pub id: String,
}

fn target_id(id: &str) -> ApiResult<NotificationId> {
    id.parse().map_err(|_| {
        Problem::not_found(
            "notification_not_found",
            format!("{id:?} is not a notification target's id"),
        )
    })
}

/// A rule: the audit events whose resource type and action are both among
/// its lists (an empty or absent list: any).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleItem {
    /// `Organization`, `User`, `Group`, `Role`, `Project`,
    /// `ServiceAccount`, `Settings`, `AuditStream`.
    #[serde(default)]
    #[schema(example = json!(["User", "Role"]))]
    resource_types: Vec<String>,
    /// `Added`, `Removed`, `Modified`.
    #[serde(default)]
    #[schema(example = json!(["Added", "Removed"]))]
    actions: Vec<String>,
}

impl RuleItem {
    fn rule(self) -> Rule {
        Rule {
            resource_types: self.resource_types,
            actions: self.actions,
        }
    }
    fn of(r: &Rule) -> RuleItem {
        RuleItem {
            resource_types: r.resource_types.clone(),
            actions: r.actions.clone(),
        }
    }
}

/// Where delivery stands.
#[derive(Serialize, ToSchema)]
pub struct DeliveryStatus {
    /// The last position delivered (or passed over by the rules).
    position: u64,
    /// Failed attempts in a row since the last delivery.
    failures: u32,
    /// Why delivery is paused (`POST …/resume` resumes it); null: running.
    paused: Option<String>,
}

/// A notification target (its URL and secret are never shown).
#[derive(Serialize, ToSchema)]
pub struct TargetItem {
    #[schema(value_type = String, format = Uuid)]
    id: NotificationId,
    name: String,
    /// `slack` or `webhook`.
    #[schema(value_type = String, example = "webhook")]
    kind: TargetKind,
    /// The URL's origin; the URL itself is kept sealed.
    #[schema(example = "https://hooks.example.com")]
    endpoint: String,
    rules: Vec<RuleItem>,
    /// Null until the delivery task has seen the target.
    delivery: Option<DeliveryStatus>,
}

impl TargetItem {
    fn of(t: &NotificationTarget, cursor: Option<Cursor>) -> TargetItem {
        TargetItem {
            id: t.id,
            name: t.name.clone(),
            kind: t.kind,
            endpoint: t.endpoint.clone(),
            rules: t.rules.iter().map(RuleItem::of).collect(),
            delivery: cursor.map(|c| DeliveryStatus {
                position: c.position,
                failures: c.failures,
                paused: c.paused,
            }),
        }
    }
}

/// The organization's targets.
#[derive(Serialize, ToSchema)]
pub struct TargetList {
    targets: Vec<TargetItem>,
}

fn target_in(s: &Organization, id: NotificationId) -> ApiResult<NotificationTarget> {
    s.settings.notification(id).cloned().ok_or_else(|| {
        Problem::not_found(
            "notification_not_found",
            format!("notification target {id} does not exist"),
        )
    })
}

/// Checks a target's URL and gives its origin, shown in its place.
fn endpoint_of(url: &str) -> ApiResult<String> {
    let bad = |why: &str| {
        Problem::invalid(
            "url",
            "invalid_url",
            format!("url must be an absolute http or https URL of at most 2048 characters: {why}"),
        )
    };
    if url.len() > 2048 {
        return Err(bad("too long"));
    }
    let parsed = webhook_client::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("not http or https"));
    }
    let host = parsed.host_str().ok_or_else(|| bad("no host"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("credentials belong in the signing secret, not the URL"));
    }
    Ok(match parsed.port() {
        Some(p) => format!("{}://{host}:{p}", parsed.scheme()),
        None => format!("{}://{host}", parsed.scheme()),
    })
}

/// `GET /notifications`; needs `organization.notifications.view`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/notifications", tag = "notifications", operation_id = "list_notifications",
    summary = "The notification targets, with where delivery stands",
    params(OrgPath, AtLeast),
    responses(
        (status = 200, description = "The targets", body = TargetList),
        (status = 403, description = "`forbidden`: needs organization.notifications.view", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<AtLeast>,
    caller: Caller,
) -> ApiResult<Json<TargetList>> {
    state.consistent(&caller, q.at_least).await?;
    state.require(&caller, known::ORGANIZATION_NOTIFICATIONS_VIEW)?;
    let targets = state.read_model(caller.org, |s| Ok(s.settings.notifications.clone()))?;
    let mut items = Vec::with_capacity(targets.len());
    for t in &targets {
        let cursor = state
            .notifications
            .cursor(t.id)
            .await
            .map_err(Problem::internal)?;
        items.push(TargetItem::of(t, cursor));
    }
    Ok(Json(TargetList { targets: items }))
}

/// `GET /notifications/{id}`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/notifications/{id}", tag = "notifications", operation_id = "get_notification",
    summary = "One notification target",
    params(TargetPath, AtLeast),
    responses(
        (status = 200, description = "The target", body = TargetItem),
        (status = 404, description = "`notification_not_found`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Path(p): Path<TargetPath>,
    Query(q): Query<AtLeast>,
    caller: Caller,
) -> ApiResult<Json<TargetItem>> {
    state.consistent(&caller, q.at_least).await?;
    state.require(&caller, known::ORGANIZATION_NOTIFICATIONS_VIEW)?;
    let id = target_id(&p.id)?;
    let target = state.read_model(caller.org, |s| target_in(s, id))?;
    let cursor = state
        .notifications
        .cursor(id)
        .await
        .map_err(Problem::internal)?;
    Ok(Json(TargetItem::of(&target, cursor)))
}

/// `POST /notifications`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTarget {
    name: String,
    /// `slack` (a message per event) or `webhook` (the entry as JSON).
    #[schema(value_type = String, example = "webhook")]
    kind: TargetKind,
    /// Where to POST: kept sealed, never shown again.
    #[schema(example = "https://hooks.example.com/rolebook")]
    url: String,
    /// Which events the target receives: `[{}]` for every one.
    rules: Vec<RuleItem>,
}

/// A new target with its signing secret, shown once.
#[derive(Serialize, ToSchema)]
pub struct CreatedTarget {
    #[serde(flatten)]
    target: TargetItem,
    /// The HMAC-SHA256 key of `Rolebook-Signature`: shown once, kept
    /// sealed.
    signing_secret: String,
}

/// `POST /notifications`: 201 with the target and its signing secret
/// (shown once). Delivery starts with the events after the log's head at
/// this moment.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/notifications", tag = "notifications", operation_id = "create_notification",
    summary = "Add a notification target (Slack or webhook)",
    params(OrgPath),
    request_body = NewTarget,
    responses(
        (status = 201, description = "The target and its signing secret, shown once", body = Committed<CreatedTarget>),
        (status = 403, description = "`forbidden`: needs organization.notifications.manage", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_url`, `invalid_rules`, `unknown_resource_type`, `unknown_action`, `name_taken`, `too_many_targets`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewTarget>,
) -> ApiResult<Response> {
    let endpoint = endpoint_of(&body.url)?;
    let target = NotificationTarget {
        id: NotificationId::new(),
        name: body.name,
        kind: body.kind,
        endpoint,
        rules: body.rules.into_iter().map(RuleItem::rule).collect(),
    };
    let id = target.id;
    let secret = commands::secrets::new_token();
    // Stored before the command, so that a target in the log always has
    // them (a failed or replayed command forgets them below).
    let store = state.notifications.clone();
    let head = state
        .service
        .store()
        .head_position()
        .await
        .map_err(Problem::internal)?;
    store
        .put_secret(caller.org, id, &body.url, &secret)
        .await
        .map_err(Problem::internal)?;
    store
        .start(caller.org, id, head)
        .await
        .map_err(Problem::internal)?;
    let command = Command::CreateNotificationTarget {
        target: target.clone(),
    };
    let with = With {
        render: Some(render(StatusCode::CREATED, move |s| CreatedTarget {
            target: TargetItem::of(s.settings.notification(id).unwrap_or(&target), None),
            signing_secret: secret.clone(),
        })),
        effects: Vec::new(),
    };
    let outcome = state
        .execute(caller.org, command, &caller.context(), with)
        .await;
    let created = matches!(&outcome, Ok(o) if o.events.iter().any(
        |e| matches!(e, Event::NotificationTargetCreated(c) if c.target.id == id)));
    if !created {
        store.forget(id).await.map_err(Problem::internal)?;
    }
    Ok(answered(&outcome?))
}

/// `PATCH /notifications/{id}`'s body: what changes (the kind stays).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetChange {
    name: Option<String>,
    /// A new URL (the signing secret stays).
    url: Option<String>,
    rules: Option<Vec<RuleItem>>,
}

/// `PATCH /notifications/{id}`: 200 with the target.
#[utoipa::path(
    patch, path = "/api/v1/orgs/{org}/notifications/{id}", tag = "notifications", operation_id = "change_notification",
    summary = "Change a notification target's name, URL or rules",
    params(TargetPath),
    request_body = TargetChange,
    responses(
        (status = 200, description = "The target", body = Committed<TargetItem>),
        (status = 403, description = "`forbidden`: needs organization.notifications.manage", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`notification_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_url`, `invalid_rules`, `unknown_resource_type`, `unknown_action`, `name_taken`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn change(
    State(state): State<AppState>,
    Path(p): Path<TargetPath>,
    caller: Caller,
    Json(body): Json<TargetChange>,
) -> ApiResult<Response> {
    let id = target_id(&p.id)?;
    let endpoint = body.url.as_deref().map(endpoint_of).transpose()?;
    let current = state.resolve(caller.org, move |s| target_in(s, id)).await?;
    let changed = NotificationTarget {
        name: body.name.unwrap_or(current.name.clone()),
        endpoint: endpoint.unwrap_or(current.endpoint.clone()),
        rules: body
            .rules
            .map(|r| r.into_iter().map(RuleItem::rule).collect())
            .unwrap_or(current.rules.clone()),
        ..current
    };
    // The new URL is stored first and the old one put back if the command
    // is refused: the log never names an endpoint the store does not have.
    let store = state.notifications.clone();
    let before = match &body.url {
        Some(url) => {
            let before = store
                .secret(caller.org, id)
                .await
                .map_err(Problem::internal)?;
            store
                .replace_url(caller.org, id, url)
                .await
                .map_err(Problem::internal)?;
            before
        }
        None => None,
    };
    let command = Command::ChangeNotificationTarget { target: changed };
    let result = state
        .command(&caller, command, StatusCode::OK, move |s| {
            TargetItem::of(
                s.settings.notification(id).expect("changed, not removed"),
                None,
            )
        })
        .await;
    let refused = result.is_err();
    if let (true, Some((old_url, _))) = (refused, before) {
        store
            .replace_url(caller.org, id, &old_url)
            .await
            .map_err(Problem::internal)?;
    }
    result
}

/// `DELETE /notifications/{id}`: 204; its secrets, cursor and delivery log
/// go with it.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{org}/notifications/{id}", tag = "notifications", operation_id = "remove_notification",
    summary = "Remove a notification target",
    params(TargetPath),
    responses(
        (status = 204, description = "Removed; `Rolebook-Position` header"),
        (status = 403, description = "`forbidden`: needs organization.notifications.manage", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`notification_not_found`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    Path(p): Path<TargetPath>,
    caller: Caller,
) -> ApiResult<Response> {
    let id = target_id(&p.id)?;
    let response = state
        .command_empty(&caller, Command::RemoveNotificationTarget { id })
        .await?;
    state
        .notifications
        .forget(id)
        .await
        .map_err(Problem::internal)?;
    Ok(response)
}

/// What a test send gave.
#[derive(Serialize, ToSchema)]
pub struct TestResult {
    /// The receiver answered 2xx.
    delivered: bool,
    http_status: Option<u16>,
    error: Option<String>,
    duration_ms: u64,
}

/// Checks `manage` and finds the target, for the actions that are not
/// commands (test send, resume).
async fn managed_target(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<(NotificationTarget, String)> {
    state.require(caller, known::ORGANIZATION_NOTIFICATIONS_MANAGE)?;
    let id = target_id(id)?;
    state
        .resolve(caller.org, move |s| Ok((target_in(s, id)?, s.name.clone())))
        .await
}

/// `POST /notifications/{id}/test`: sends a test notification now (body
/// `test: true`, delivery id 0) and answers what the receiver did; logged
/// among the deliveries.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/notifications/{id}/test", tag = "notifications", operation_id = "test_notification",
    summary = "Send a test notification",
    params(TargetPath),
    responses(
        (status = 200, description = "What the receiver answered", body = TestResult),
        (status = 403, description = "`forbidden`: needs organization.notifications.manage", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`notification_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`no_url_stored`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn test(
    State(state): State<AppState>,
    Path(p): Path<TargetPath>,
    caller: Caller,
) -> ApiResult<Json<TestResult>> {
    let (target, org_name) = managed_target(&state, &caller, &p.id).await?;
    let sent = Notifier::test(
        &state.notifications,
        &state.webhook_client,
        (caller.org, &org_name),
        &target,
    )
    .await
    .map_err(Problem::internal)?
    .ok_or_else(no_url)?;
    Ok(Json(TestResult {
        delivered: sent.ok,
        http_status: sent.http_status,
        error: sent.error,
        duration_ms: sent.duration_ms,
    }))
}

fn no_url() -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "no_url_stored",
        "no URL is stored for this target: set one with PATCH",
    )
}

/// `POST /notifications/{id}/resume`: a paused target delivers again, from
/// the event it stopped at; 200 with the target.
#[utoipa::path(
    post, path = "/api/v1/orgs/{org}/notifications/{id}/resume", tag = "notifications", operation_id = "resume_notification",
    summary = "Resume a paused notification target",
    params(TargetPath),
    responses(
        (status = 200, description = "The target", body = TargetItem),
        (status = 403, description = "`forbidden`: needs organization.notifications.manage", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`notification_not_found`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn resume(
    State(state): State<AppState>,
    Path(p): Path<TargetPath>,
    caller: Caller,
) -> ApiResult<Json<TargetItem>> {
    let (target, _) = managed_target(&state, &caller, &p.id).await?;
    let store = &state.notifications;
    store.resume(target.id).await.map_err(Problem::internal)?;
    let cursor = store.cursor(target.id).await.map_err(Problem::internal)?;
    Ok(Json(TargetItem::of(&target, cursor)))
}

/// The delivery log's paging.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// Answer once the read side has reached this position (a command's
    /// `position`); 503 `projection_lagging` after a bounded wait.
    at_least: Option<u64>,
    /// Attempts per page: 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// A page of the delivery log, newest first.
#[derive(Serialize, ToSchema)]
pub struct DeliveryPage {
    #[schema(value_type = Vec<Object>)]
    deliveries: Vec<Delivery>,
    /// The next page's cursor; null at the end.
    next_cursor: Option<String>,
}

/// `GET /notifications/{id}/deliveries`: every attempt and test send,
/// newest first (`position`, `attempt`, `at`, `outcome`: `delivered`,
/// `failed`, `test_delivered` or `test_failed`, `http_status`, `error`,
/// `duration_ms`).
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/notifications/{id}/deliveries", tag = "notifications", operation_id = "notification_deliveries",
    summary = "A notification target's delivery log",
    params(TargetPath, DeliveriesQuery),
    responses(
        (status = 200, description = "A page of attempts", body = DeliveryPage),
        (status = 400, description = "`invalid_cursor`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`notification_not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_limit`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    Path(p): Path<TargetPath>,
    Query(q): Query<DeliveriesQuery>,
    caller: Caller,
) -> ApiResult<Json<DeliveryPage>> {
    state.consistent(&caller, q.at_least).await?;
    state.require(&caller, known::ORGANIZATION_NOTIFICATIONS_VIEW)?;
    let id = target_id(&p.id)?;
    state.read_model(caller.org, |s| target_in(s, id))?;
    let limit = crate::http::paging::limit(q.limit.or(Some(50)))?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().ok().filter(|c| *c > 0).ok_or_else(|| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_cursor",
                    "cursor must be a next_cursor this route gave",
                )
            })
        })
        .transpose()?;
    let mut page = state
        .notifications
        .deliveries(id, before, limit + 1)
        .await
        .map_err(Problem::internal)?;
    let next_cursor = if page.len() > limit {
        page.truncate(limit);
        page.last().map(|d| d.id.to_string())
    } else {
        None
    };
    Ok(Json(DeliveryPage {
        deliveries: page,
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::endpoint_of;

    #[test]
    fn only_the_origin_of_a_url_is_shown() {
        assert_eq!(
            endpoint_of("https://hooks.slack.com/services/T0/B0/secret").unwrap(),
            "https://hooks.slack.com"
        );
        assert_eq!(
            endpoint_of("http://127.0.0.1:9000/hook?token=x").unwrap(),
            "http://127.0.0.1:9000"
        );
        assert!(endpoint_of("ftp://example.com/").is_err());
        assert!(endpoint_of("https://user:pw@example.com/").is_err());
        assert!(endpoint_of("not a url").is_err());
    }
}
