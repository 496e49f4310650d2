//! One file per group of routes of API.md; each handler is thin: it
//! authenticates, resolves references, and calls the command service or the
//! read side. Each handler carries its `#[utoipa::path]`: its path,
//! parameters, bodies and error codes, from which [`super::api`] builds
//! both the router and the OpenAPI document.

pub mod access;
pub mod audit;
pub mod groups;
pub mod health;
pub mod notifications;
pub mod okta;
pub mod orgs;
pub mod people;
pub mod projects;
pub mod roles;
pub mod service_accounts;
pub mod sessions;
pub mod settings;
pub mod sso;

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// The query of a read that takes nothing but `at_least`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AtLeast {
    /// Answer once the read side has reached this position (a command's
    /// `position`); 503 `projection_lagging` after a bounded wait.
    pub at_least: Option<u64>,
}

/// The query of a paged list: `at_least`, `limit` and `cursor`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Paged {
    /// Answer once the read side has reached this position (a command's
    /// `position`); 503 `projection_lagging` after a bounded wait.
    pub at_least: Option<u64>,
    /// Items per page: 1 to 1000 (422 `invalid_limit`).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The next cursor of the previous page (400 `invalid_cursor`).
    pub cursor: Option<String>,
}

/// The optional body of `POST /people/{user}/reactivate` and
/// `/service-accounts/{id}/reactivate`: the organization role given back.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Reactivation {
    /// The organization role (id or name); `Member` when absent.
    pub role: Option<String>,
}

impl Reactivation {
    /// The role asked for, resolved in `s` (none: the default).
    pub fn role_in(
        &self,
        s: &domain::Organization,
    ) -> crate::http::problem::ApiResult<Option<domain::ids::RoleId>> {
        self.role
            .as_deref()
            .map(|r| crate::http::resolve::role(s, r, domain::permissions::Scope::Organization))
            .transpose()
    }
}

/// The body that names a role: `{role}` (people, groups, project members),
/// by id or name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// A role's id or name.
    #[schema(example = "Admin")]
    pub role: String,
}
