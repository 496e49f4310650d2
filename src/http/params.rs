//! The path parameters of the routes (API.md: `{user}` is an id, username
//! or email; `{org}`, `{project}`, `{group}` and `{role}` an id or the
//! name), as extractors that also describe themselves in the OpenAPI
//! document, so a handler's parameters and their documentation are one
//! declaration. `{org}` is read by the `Caller` extractor; a route below
//! an organization lists [`OrgPath`] beside its own parameters.

use serde::Deserialize;
use utoipa::IntoParams;

/// `/api/v1/orgs/{org}/...`
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrgPath {
    /// The organization's id or name (its handle: renaming it moves it).
    pub org: String,
}

/// `.../api-tokens/{id}`
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TokenPath {
    /// The API token's id (from `POST /api-tokens`).
    pub id: String,
}

/// `.../people/{user}...`
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// A user's id, username or email.
    pub user: String,
}

/// `.../groups/{group}...`
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct GroupPath {
    /// A group's id or name.
    pub group: String,
}

/// `.../roles/{role}`
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RolePath {
    /// A role's id, or its name in `?scope=` (organization by default).
    pub role: String,
}

/// `.../projects/{project}...`
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    /// A project's id or name.
    pub project: String,
}

/// `.../projects/{project}/members/{subject}`
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MemberPath {
    /// A project's id or name.
    pub project: String,
    /// `user:<id>`, `group:<id or name>`, or a user's id, username or email.
    pub subject: String,
}

/// `.../projects/{project}/repository-access/{user}`
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectUserPath {
    /// A project's id or name.
    pub project: String,
    /// A user's id, username or email.
    pub user: String,
}
