//! Roles: the six predefined ones of RBAC.md (fixed ids, read-only) and the
//! shape of custom roles.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::RoleId;
use crate::permissions::{PermissionSet, Scope};

/// A role as the organization state holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub id: RoleId,
    pub name: String,
    pub scope: Scope,
    pub description: String,
    /// The permissions named on the role itself (always includes the scope's
    /// `view`).
    pub permissions: PermissionSet,
    /// Roles of the same scope whose permissions this one also grants.
    pub inherits: Vec<RoleId>,
    /// For organization roles: the project role granted on every project.
    pub project_role: Option<RoleId>,
    pub predefined: bool,
}

pub const OWNER: RoleId = RoleId(Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001));
pub const ORG_ADMIN: RoleId = RoleId(Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0002));
pub const MEMBER: RoleId = RoleId(Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0003));
pub const PROJECT_ADMIN: RoleId =
    RoleId(Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0011));
pub const CONTRIBUTOR: RoleId = RoleId(Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0012));
pub const READER: RoleId = RoleId(Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0013));

/// The six predefined roles, as RBAC.md's table defines them.
pub fn predefined_roles() -> Vec<Role> {
    let all_org = PermissionSet::all_of(Scope::Organization);
    let all_project = PermissionSet::all_of(Scope::Project);
    let role = |id, name: &str, scope, description: &str, permissions, project_role| Role {
        id,
        name: name.to_string(),
        scope,
        description: description.to_string(),
        permissions,
        inherits: Vec::new(),
        project_role,
        predefined: true,
    };
    vec![
        role(
            OWNER,
            "Owner",
            Scope::Organization,
            "Full control of the organization, including its owners",
            all_org,
            Some(PROJECT_ADMIN),
        ),
        role(
            ORG_ADMIN,
            "Admin",
            Scope::Organization,
            "Manages the organization, its people and every project",
            all_org.difference(PermissionSet::from_names(&[
                "organization.change_owner",
                "organization.custom_roles.manage",
                "organization.delete",
            ])),
            Some(PROJECT_ADMIN),
        ),
        role(
            MEMBER,
            "Member",
            Scope::Organization,
            "Works in the organization and creates projects",
            PermissionSet::from_names(&[
                "organization.view",
                "organization.contact_support",
                "organization.projects.create",
                "organization.activity_monitor.view",
                "organization.groups.view",
                "organization.secrets_policy_settings.view",
                "organization.self_hosted_agents.view",
                "organization.self_hosted_agents.manage",
                "organization.secrets.view",
                "organization.secrets.manage",
                "organization.notifications.view",
                "organization.notifications.manage",
                "organization.dashboards.view",
                "organization.dashboards.manage",
            ]),
            None,
        ),
        role(
            PROJECT_ADMIN,
            "Admin",
            Scope::Project,
            "Full control of the project",
            all_project,
            None,
        ),
        role(
            CONTRIBUTOR,
            "Contributor",
            Scope::Project,
            "Works on the project: runs, reruns and configures it",
            all_project.difference(PermissionSet::from_names(&[
                "project.access.manage",
                "project.deployment_targets.manage",
            ])),
            None,
        ),
        role(
            READER,
            "Reader",
            Scope::Project,
            "Sees the project",
            PermissionSet::from_names(&[
                "project.view",
                "project.access.view",
                "project.notifications.view",
                "project.insights.view",
                "project.flaky_tests.view",
                "project.deployment_targets.view",
                "project.scheduler.view",
                "project.general_settings.view",
                "project.repository_info.view",
                "project.pre_flight_checks.view",
                "project.artifacts.view",
            ]),
            None,
        ),
    ]
}

/// Whether `id` is one of the six predefined roles.
pub fn is_predefined(id: RoleId) -> bool {
    [OWNER, ORG_ADMIN, MEMBER, PROJECT_ADMIN, CONTRIBUTOR, READER].contains(&id)
}

/// Repository access levels of a project's collaborators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepoAccess {
    Read,
    Write,
    Admin,
}

impl RepoAccess {
    /// Parses `admin`/`write`/`read`, also spelled `admin`/`push`/`pull`.
    pub fn parse(s: &str) -> Option<RepoAccess> {
        match s {
            "admin" => Some(RepoAccess::Admin),
            "write" | "push" => Some(RepoAccess::Write),
            "read" | "pull" => Some(RepoAccess::Read),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            RepoAccess::Admin => "admin",
            RepoAccess::Write => "write",
            RepoAccess::Read => "read",
        }
    }
}

/// Which project role each repository access level maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoRoleMapping {
    pub admin: RoleId,
    pub write: RoleId,
    pub read: RoleId,
}

impl Default for RepoRoleMapping {
    /// admin/write/read map to Contributor/Contributor/Reader.
    fn default() -> Self {
        RepoRoleMapping {
            admin: CONTRIBUTOR,
            write: CONTRIBUTOR,
            read: READER,
        }
    }
}

impl RepoRoleMapping {
    pub fn role_for(&self, access: RepoAccess) -> RoleId {
        match access {
            RepoAccess::Admin => self.admin,
            RepoAccess::Write => self.write,
            RepoAccess::Read => self.read,
        }
    }
    pub fn roles(&self) -> [RoleId; 3] {
        [self.admin, self.write, self.read]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_roles_match_rbac_md() {
        let roles = predefined_roles();
        let get = |id| roles.iter().find(|r| r.id == id).unwrap();
        assert_eq!(get(OWNER).permissions.len(), 37);
        assert_eq!(get(ORG_ADMIN).permissions.len(), 34);
        assert_eq!(get(MEMBER).permissions.len(), 14);
        assert_eq!(get(PROJECT_ADMIN).permissions.len(), 31);
        assert_eq!(get(CONTRIBUTOR).permissions.len(), 29);
        assert_eq!(get(READER).permissions.len(), 11);
        assert_eq!(get(OWNER).project_role, Some(PROJECT_ADMIN));
        assert_eq!(get(ORG_ADMIN).project_role, Some(PROJECT_ADMIN));
        assert_eq!(get(MEMBER).project_role, None);
        for r in &roles {
            assert!(
                r.permissions.within(r.scope),
                "{} has permissions outside its scope",
                r.name
            );
            assert!(r.permissions.contains(r.scope.view_permission()));
        }
    }
}
