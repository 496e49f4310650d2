//! The organization's settings, as the seed's settings pages list them:
//! name and URL (`/settings`), how workflows run (`/settings/workflows`),
//! where initialization jobs run (`/settings/init-agent`, checked against
//! `/settings/init-agent/options`) and the IP allow list
//! (`/settings/ip-allow-list`, enforced by `crate::http::ip_allow_list`).
//!
//! The name and URL are read with `organization.view` (every role has it),
//! the init-agent catalog too; the workflows and the init agent with
//! `organization.general_settings.view`, the allow list with
//! `organization.ip_allow_list.view`. Every change is a command that checks
//! the matching `.manage` permission.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use domain::ids::OrgId;
use domain::permissions::known;
use domain::settings::{
    init_agent_options, AgentEnvironment, ForkPolicy, InitAgent, WorkflowSettings,
    WorkflowSettingsChange, SELF_HOSTED_PREFIX,
};
use domain::Command;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AtLeast;
use crate::http::answers::Committed;
use crate::http::auth::Caller;
use crate::http::command::{answered, render};
use crate::http::json::Json;
use crate::http::params::OrgPath;
use crate::http::problem::{ApiResult, Problem, ProblemBody};
use crate::http::state::AppState;

/// The organization's settings.
#[derive(Serialize, ToSchema)]
pub struct Settings {
    #[schema(value_type = String, format = Uuid)]
    org_id: OrgId,
    /// Its name, which is also its handle in URLs.
    name: String,
    url: Option<String>,
}

impl Settings {
    fn of(org: OrgId, s: &domain::Organization) -> Settings {
        Settings {
            org_id: org,
            name: s.name.clone(),
            url: s.url.clone(),
        }
    }
}

/// `GET /settings`: `{org_id, name, url}`; needs `organization.view`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/settings", tag = "settings", operation_id = "settings",
    summary = "The organization's name and URL",
    params(OrgPath, AtLeast),
    responses(
        (status = 200, description = "The settings", body = Settings),
    )
)]
pub async fn settings(
    State(state): State<AppState>,
    Query(q): Query<AtLeast>,
    caller: Caller,
) -> ApiResult<Json<Settings>> {
    state.consistent(&caller, q.at_least).await?;
    state.require(&caller, known::ORGANIZATION_VIEW)?;
    let model = state.model.read();
    let o = model
        .org(caller.org)
        .ok_or_else(|| Problem::not_found("org_not_found", "no such organization"))?;
    Ok(Json(Settings::of(caller.org, &o.state)))
}

/// `PATCH /settings`'s body: what changes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    /// A new name: also the new handle in URLs (the old one stops
    /// resolving), unique across the instance.
    name: Option<String>,
    url: Option<String>,
}

/// `PATCH /settings`: `{name?, url?}`; 200 with the settings; 409
/// `org_exists` when another organization has the name. The name is the
/// organization's handle: from this answer on, `/api/v1/orgs/{new name}`
/// resolves and the old name answers 404 `org_not_found` (no redirect: a
/// freed name may be taken by another organization, and a client must not
/// be sent on to it). The id always resolves.
#[utoipa::path(
    patch, path = "/api/v1/orgs/{org}/settings", tag = "settings", operation_id = "change_settings",
    summary = "Change the organization's name (its URL handle) or URL",
    params(OrgPath),
    request_body = SettingsBody,
    responses(
        (status = 200, description = "The settings; after a rename, `/api/v1/orgs/{new name}` resolves and the old name answers 404 `org_not_found`", body = Committed<Settings>),
        (status = 409, description = "`org_exists`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_name`, `invalid_url`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn change_settings(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<SettingsBody>,
) -> ApiResult<Response> {
    let renamed = body.name.is_some();
    let org = caller.org;
    let render = render(StatusCode::OK, move |s| Settings::of(org, s));
    let outcome = state
        .service
        .change_settings(
            caller.org,
            body.name,
            body.url,
            &caller.context(),
            Some(render),
        )
        .await?;
    if renamed {
        state.forget_org(caller.org);
    }
    Ok(answered(&outcome))
}

// ---- how workflows run ------------------------------------------------------

/// How the organization's workflows run: what the CI services read.
#[derive(Serialize, ToSchema)]
pub struct Workflows {
    /// Pull requests from forks: `disabled` (the default), `without_secrets`
    /// or `with_secrets`.
    #[schema(value_type = String, example = "disabled")]
    fork_pull_requests: ForkPolicy,
    /// The queue of a pipeline that names none: 1 to 100 letters, digits,
    /// `.`, `_` or `-`.
    #[schema(example = "default")]
    default_queue: String,
    /// Jobs are stopped after this many minutes: 1 to 1440.
    #[schema(minimum = 1, maximum = 1440, example = 60)]
    job_timeout_minutes: u32,
    /// Whether promotions may be started by hand.
    manual_promotions: bool,
}

impl Workflows {
    fn of(s: &domain::Organization) -> Workflows {
        let w: &WorkflowSettings = &s.settings.workflows;
        Workflows {
            fork_pull_requests: w.fork_pull_requests,
            default_queue: w.default_queue.clone(),
            job_timeout_minutes: w.job_timeout_minutes,
            manual_promotions: w.manual_promotions,
        }
    }
}

/// `PATCH /settings/workflows`'s body: the fields that change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowsChange {
    /// `disabled`, `without_secrets` or `with_secrets`.
    #[schema(value_type = Option<String>, example = "without_secrets")]
    fork_pull_requests: Option<ForkPolicy>,
    default_queue: Option<String>,
    #[schema(minimum = 1, maximum = 1440)]
    job_timeout_minutes: Option<u32>,
    manual_promotions: Option<bool>,
}

/// `GET /settings/workflows`; needs `organization.general_settings.view`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/settings/workflows", tag = "settings", operation_id = "workflow_settings",
    summary = "How the organization's workflows run",
    params(OrgPath, AtLeast),
    responses(
        (status = 200, description = "The workflow settings", body = Workflows),
        (status = 403, description = "`forbidden`: needs organization.general_settings.view", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn workflows(
    State(state): State<AppState>,
    Query(q): Query<AtLeast>,
    caller: Caller,
) -> ApiResult<Json<Workflows>> {
    state.consistent(&caller, q.at_least).await?;
    state.require(&caller, known::ORGANIZATION_GENERAL_SETTINGS_VIEW)?;
    state
        .read_model(caller.org, |s| Ok(Workflows::of(s)))
        .map(Json)
}

/// `PATCH /settings/workflows`: 200 with the whole section; 422 per field.
#[utoipa::path(
    patch, path = "/api/v1/orgs/{org}/settings/workflows", tag = "settings", operation_id = "change_workflow_settings",
    summary = "Change how the organization's workflows run",
    params(OrgPath),
    request_body = WorkflowsChange,
    responses(
        (status = 200, description = "The workflow settings", body = Committed<Workflows>),
        (status = 403, description = "`forbidden`: needs organization.general_settings.manage", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_queue`, `out_of_range`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn change_workflows(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<WorkflowsChange>,
) -> ApiResult<Response> {
    let change = WorkflowSettingsChange {
        fork_pull_requests: body.fork_pull_requests,
        default_queue: body.default_queue,
        job_timeout_minutes: body.job_timeout_minutes,
        manual_promotions: body.manual_promotions,
    };
    let command = Command::ChangeWorkflowSettings { change };
    state
        .command(&caller, command, StatusCode::OK, Workflows::of)
        .await
}

// ---- the initialization agent ------------------------------------------------

/// Where the initialization job of every pipeline runs.
#[derive(Serialize, ToSchema)]
pub struct InitAgentItem {
    /// `cloud` or `self_hosted`.
    #[schema(value_type = String, example = "cloud")]
    environment: AgentEnvironment,
    /// A cloud machine type of `/settings/init-agent/options`, or a
    /// self-hosted agent type (`s1-` and a name).
    #[schema(example = "e1-standard-2")]
    machine_type: String,
    /// The cloud machine type's OS image; absent for self-hosted agents.
    #[schema(example = "ubuntu2204")]
    os_image: Option<String>,
}

impl InitAgentItem {
    fn of(s: &domain::Organization) -> InitAgentItem {
        let a = &s.settings.init_agent;
        InitAgentItem {
            environment: a.environment,
            machine_type: a.machine_type.clone(),
            os_image: a.os_image.clone(),
        }
    }
}

/// `PUT /settings/init-agent`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitAgentBody {
    /// `cloud` or `self_hosted`.
    #[schema(value_type = String, example = "cloud")]
    environment: AgentEnvironment,
    /// A cloud machine type of `/settings/init-agent/options`, or a
    /// self-hosted agent type (`s1-` and a name).
    #[schema(example = "e1-standard-2")]
    machine_type: String,
    /// The cloud machine type's OS image; leave it out for self-hosted
    /// agents.
    #[schema(example = "ubuntu2204")]
    os_image: Option<String>,
}

/// `GET /settings/init-agent`; needs `organization.general_settings.view`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/settings/init-agent", tag = "settings", operation_id = "init_agent",
    summary = "Where initialization jobs run",
    params(OrgPath, AtLeast),
    responses(
        (status = 200, description = "The initialization agent", body = InitAgentItem),
        (status = 403, description = "`forbidden`: needs organization.general_settings.view", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn init_agent(
    State(state): State<AppState>,
    Query(q): Query<AtLeast>,
    caller: Caller,
) -> ApiResult<Json<InitAgentItem>> {
    state.consistent(&caller, q.at_least).await?;
    state.require(&caller, known::ORGANIZATION_GENERAL_SETTINGS_VIEW)?;
    state
        .read_model(caller.org, |s| Ok(InitAgentItem::of(s)))
        .map(Json)
}

/// `PUT /settings/init-agent`: 200; 422 per field the catalog refuses.
#[utoipa::path(
    put, path = "/api/v1/orgs/{org}/settings/init-agent", tag = "settings", operation_id = "set_init_agent",
    summary = "Set where initialization jobs run",
    params(OrgPath),
    request_body = InitAgentBody,
    responses(
        (status = 200, description = "The initialization agent", body = Committed<InitAgentItem>),
        (status = 403, description = "`forbidden`: needs organization.general_settings.manage", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_machine_type`, `unknown_os_image`, `missing_os_image`, `invalid_agent_type`, `os_image_not_applicable`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn set_init_agent(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<InitAgentBody>,
) -> ApiResult<Response> {
    let init_agent = InitAgent {
        environment: body.environment,
        machine_type: body.machine_type,
        os_image: body.os_image,
    };
    let command = Command::SetInitAgent { init_agent };
    state
        .command(&caller, command, StatusCode::OK, InitAgentItem::of)
        .await
}

/// A cloud machine type and the OS images it runs.
#[derive(Serialize, ToSchema)]
pub struct MachineTypeItem {
    #[schema(example = "e1-standard-2")]
    name: &'static str,
    cpus: u32,
    memory_gib: u32,
    os_images: &'static [&'static str],
}

/// What an initialization agent may be.
#[derive(Serialize, ToSchema)]
pub struct InitAgentOptions {
    /// The cloud machine types, each with its OS images.
    cloud: Vec<MachineTypeItem>,
    /// Self-hosted agent types are named this prefix and a name.
    #[schema(example = "s1-")]
    self_hosted_prefix: &'static str,
}

/// `GET /settings/init-agent/options`: the catalog; needs
/// `organization.view`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/settings/init-agent/options", tag = "settings", operation_id = "init_agent_options",
    summary = "The machine types and OS images an initialization agent may use",
    params(OrgPath),
    responses(
        (status = 200, description = "The catalog", body = InitAgentOptions),
    )
)]
pub async fn init_agent_catalog(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<InitAgentOptions>> {
    state.require(&caller, known::ORGANIZATION_VIEW)?;
    Ok(Json(InitAgentOptions {
        cloud: init_agent_options()
            .iter()
            .map(|m| MachineTypeItem {
                name: m.name,
                cpus: m.cpus,
                memory_gib: m.memory_gib,
                os_images: m.os_images,
            })
            .collect(),
        self_hosted_prefix: SELF_HOSTED_PREFIX,
    }))
}

// ---- the IP allow list --------------------------------------------------------

/// The networks the organization's requests may come from.
#[derive(Serialize, ToSchema)]
pub struct IpAllowList {
    /// Normalized networks (`10.0.0.0/8`, `2001:db8::/32`); empty: requests
    /// from anywhere.
    #[schema(example = json!(["10.0.0.0/8"]))]
    cidrs: Vec<String>,
    /// The address this request came from, as the list sees it.
    #[schema(example = "10.1.2.3")]
    your_address: Option<String>,
}

/// `PUT /settings/ip-allow-list`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IpAllowListBody {
    /// IPv4 or IPv6 networks (CIDR) or addresses, at most 200; empty: allow
    /// every address.
    #[schema(example = json!(["10.0.0.0/8", "192.168.1.7"]))]
    cidrs: Vec<String>,
}

fn allow_list(s: &domain::Organization, caller: &Caller) -> IpAllowList {
    IpAllowList {
        cidrs: s
            .settings
            .ip_allow_list
            .iter()
            .map(|c| c.to_string())
            .collect(),
        your_address: caller.origin.ip.clone(),
    }
}

/// `GET /settings/ip-allow-list`; needs `organization.ip_allow_list.view`.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org}/settings/ip-allow-list", tag = "settings", operation_id = "ip_allow_list",
    summary = "The networks the organization's requests may come from",
    params(OrgPath, AtLeast),
    responses(
        (status = 200, description = "The allow list", body = IpAllowList),
        (status = 403, description = "`forbidden`: needs organization.ip_allow_list.view; `ip_not_allowed`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn ip_allow_list(
    State(state): State<AppState>,
    Query(q): Query<AtLeast>,
    caller: Caller,
) -> ApiResult<Json<IpAllowList>> {
    state.consistent(&caller, q.at_least).await?;
    state.require(&caller, known::ORGANIZATION_IP_ALLOW_LIST_VIEW)?;
    state
        .read_model(caller.org, |s| Ok(allow_list(s, &caller)))
        .map(Json)
}

/// `PUT /settings/ip-allow-list`: replaces the list; 422 `would_lock_out`
/// when the list would refuse the address this request comes from.
#[utoipa::path(
    put, path = "/api/v1/orgs/{org}/settings/ip-allow-list", tag = "settings", operation_id = "set_ip_allow_list",
    summary = "Replace the IP allow list",
    params(OrgPath),
    request_body = IpAllowListBody,
    responses(
        (status = 200, description = "The allow list", body = Committed<IpAllowList>),
        (status = 403, description = "`forbidden`: needs organization.ip_allow_list.manage; `ip_not_allowed`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_cidr`, `too_many`, `would_lock_out`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn set_ip_allow_list(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<IpAllowListBody>,
) -> ApiResult<Response> {
    let from = caller.origin.ip.as_deref().and_then(|ip| ip.parse().ok());
    let command = Command::SetIpAllowList {
        cidrs: body.cidrs,
        from,
    };
    let shown = caller.clone();
    state
        .command(&caller, command, StatusCode::OK, move |s| {
            allow_list(s, &shown)
        })
        .await
}
