//! The permission catalog (RBAC.md): 37 organization permissions and 31
//! project permissions, each with a one-line description, and
//! [`PermissionSet`], a bit set over the catalog that makes unions and
//! subset checks a few instructions.

use serde::{Deserialize, Serialize};

/// Where a permission or a role applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Organization,
    Project,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Organization => "organization",
            Scope::Project => "project",
        }
    }

    /// Parses `organization` or `project`.
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "organization" | "org" => Some(Scope::Organization),
            "project" => Some(Scope::Project),
            _ => None,
        }
    }

    /// The `view` permission of this scope, which every role of it holds.
    pub fn view_permission(self) -> Permission {
        match self {
            Scope::Organization => known::ORGANIZATION_VIEW,
            Scope::Project => known::PROJECT_VIEW,
        }
    }
}

/// One entry of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermissionInfo {
    pub name: &'static str,
    pub scope: Scope,
    pub description: &'static str,
}

const fn org(name: &'static str, description: &'static str) -> PermissionInfo {
    PermissionInfo {
        name,
        scope: Scope::Organization,
        description,
    }
}

const fn proj(name: &'static str, description: &'static str) -> PermissionInfo {
    PermissionInfo {
        name,
        scope: Scope::Project,
        description,
    }
}

/// Number of organization permissions; they come first in [`CATALOG`].
pub const ORG_PERMISSION_COUNT: usize = 37;
/// Number of project permissions; they follow the organization ones.
pub const PROJECT_PERMISSION_COUNT: usize = 31;

/// The whole catalog, organization permissions first. The index of an entry
/// is its [`Permission`] number: never reorder, only append.
pub const CATALOG: [PermissionInfo; ORG_PERMISSION_COUNT + PROJECT_PERMISSION_COUNT] = [
    org(
        "organization.view",
        "See the organization and its basic information",
    ),
    org("organization.delete", "Delete the organization"),
    org(
        "organization.change_owner",
        "Assign or change organization Owners",
    ),
    org(
        "organization.contact_support",
        "Contact support on behalf of the organization",
    ),
    org("organization.projects.create", "Create projects"),
    org(
        "organization.activity_monitor.view",
        "See the activity monitor",
    ),
    org(
        "organization.people.view",
        "See the people of the organization",
    ),
    org(
        "organization.people.invite",
        "Invite people to the organization",
    ),
    org(
        "organization.people.manage",
        "Change people's roles, remove people, manage groups",
    ),
    org("organization.okta.view", "See the Okta integration"),
    org("organization.okta.manage", "Configure the Okta integration"),
    org(
        "organization.secrets_policy_settings.view",
        "See the secrets policy",
    ),
    org(
        "organization.secrets_policy_settings.manage",
        "Change the secrets policy",
    ),
    org(
        "organization.audit_logs.view",
        "See and export the audit log",
    ),
    org(
        "organization.audit_logs.manage",
        "Configure audit log streaming",
    ),
    org("organization.groups.view", "See groups and their members"),
    org(
        "organization.groups.manage",
        "Create, change and delete groups",
    ),
    org("organization.custom_roles.view", "See custom roles"),
    org(
        "organization.custom_roles.manage",
        "Create, change and delete custom roles",
    ),
    org(
        "organization.self_hosted_agents.view",
        "See self-hosted agents",
    ),
    org(
        "organization.self_hosted_agents.manage",
        "Register and remove self-hosted agents",
    ),
    org(
        "organization.general_settings.view",
        "See the organization settings",
    ),
    org(
        "organization.general_settings.manage",
        "Change the organization settings",
    ),
    org("organization.secrets.view", "See organization secrets"),
    org(
        "organization.secrets.manage",
        "Create, change and delete organization secrets",
    ),
    org("organization.ip_allow_list.view", "See the IP allow list"),
    org(
        "organization.ip_allow_list.manage",
        "Change the IP allow list",
    ),
    org("organization.notifications.view", "See notifications"),
    org(
        "organization.notifications.manage",
        "Create, change and delete notifications",
    ),
    org(
        "organization.pre_flight_checks.view",
        "See pre-flight checks",
    ),
    org(
        "organization.pre_flight_checks.manage",
        "Change pre-flight checks",
    ),
    org(
        "organization.plans_and_billing.view",
        "See plans and billing",
    ),
    org(
        "organization.plans_and_billing.manage",
        "Change plans and billing",
    ),
    org("organization.dashboards.view", "See dashboards"),
    org(
        "organization.dashboards.manage",
        "Create, change and delete dashboards",
    ),
    org("organization.service_accounts.view", "See service accounts"),
    org(
        "organization.service_accounts.manage",
        "Create, change and remove service accounts and their tokens",
    ),
    proj("project.view", "See the project"),
    proj("project.delete", "Delete the project"),
    proj(
        "project.scheduler.run_manually",
        "Run a scheduled task manually",
    ),
    proj("project.workflow.manage", "Run, rebuild and stop workflows"),
    proj("project.job.rerun", "Rerun jobs"),
    proj("project.job.stop", "Stop jobs"),
    proj("project.job.attach", "Attach to running jobs (SSH debug)"),
    proj("project.artifacts.view", "See and download artifacts"),
    proj("project.artifacts.delete", "Delete artifacts"),
    proj(
        "project.artifacts.view_settings",
        "See artifact retention settings",
    ),
    proj(
        "project.artifacts.modify_settings",
        "Change artifact retention settings",
    ),
    proj("project.access.view", "See who has access to the project"),
    proj(
        "project.access.manage",
        "Change who has access to the project",
    ),
    proj("project.secrets.view", "See project secrets"),
    proj(
        "project.secrets.manage",
        "Create, change and delete project secrets",
    ),
    proj("project.notifications.view", "See project notifications"),
    proj(
        "project.notifications.manage",
        "Change project notifications",
    ),
    proj("project.insights.view", "See project insights"),
    proj("project.insights.manage", "Change project insights"),
    proj("project.flaky_tests.view", "See flaky tests"),
    proj("project.flaky_tests.manage", "Manage flaky tests"),
    proj("project.scheduler.view", "See scheduled tasks"),
    proj(
        "project.scheduler.manage",
        "Create, change and delete scheduled tasks",
    ),
    proj("project.general_settings.view", "See the project settings"),
    proj(
        "project.general_settings.manage",
        "Change the project settings",
    ),
    proj(
        "project.repository_info.view",
        "See the project's repository information",
    ),
    proj(
        "project.repository_info.manage",
        "Change the project's repository information",
    ),
    proj("project.deployment_targets.view", "See deployment targets"),
    proj(
        "project.deployment_targets.manage",
        "Create, change and delete deployment targets",
    ),
    proj(
        "project.pre_flight_checks.view",
        "See project pre-flight checks",
    ),
    proj(
        "project.pre_flight_checks.manage",
        "Change project pre-flight checks",
    ),
];

/// `a == b`, in a `const fn`.
const fn same_str(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The permissions the code names (checked against the catalog when it
/// compiles).
pub mod known {
    use super::Permission;

    macro_rules! known {
        ($($constant:ident = $name:literal;)*) => {
            $(
                #[doc = concat!("`", $name, "`")]
                pub const $constant: Permission = Permission::named($name);
            )*
        };
    }

    known! {
        ORGANIZATION_VIEW = "organization.view";
        ORGANIZATION_CHANGE_OWNER = "organization.change_owner";
        ORGANIZATION_PEOPLE_VIEW = "organization.people.view";
        ORGANIZATION_PEOPLE_INVITE = "organization.people.invite";
        ORGANIZATION_PEOPLE_MANAGE = "organization.people.manage";
        ORGANIZATION_GROUPS_VIEW = "organization.groups.view";
        ORGANIZATION_GROUPS_MANAGE = "organization.groups.manage";
        ORGANIZATION_CUSTOM_ROLES_MANAGE = "organization.custom_roles.manage";
        ORGANIZATION_SERVICE_ACCOUNTS_VIEW = "organization.service_accounts.view";
        ORGANIZATION_SERVICE_ACCOUNTS_MANAGE = "organization.service_accounts.manage";
        ORGANIZATION_PROJECTS_CREATE = "organization.projects.create";
        ORGANIZATION_AUDIT_LOGS_VIEW = "organization.audit_logs.view";
        ORGANIZATION_AUDIT_LOGS_MANAGE = "organization.audit_logs.manage";
        ORGANIZATION_GENERAL_SETTINGS_VIEW = "organization.general_settings.view";
        ORGANIZATION_GENERAL_SETTINGS_MANAGE = "organization.general_settings.manage";
        ORGANIZATION_IP_ALLOW_LIST_VIEW = "organization.ip_allow_list.view";
        ORGANIZATION_IP_ALLOW_LIST_MANAGE = "organization.ip_allow_list.manage";
        ORGANIZATION_NOTIFICATIONS_VIEW = "organization.notifications.view";
        ORGANIZATION_NOTIFICATIONS_MANAGE = "organization.notifications.manage";
        ORGANIZATION_OKTA_VIEW = "organization.okta.view";
        ORGANIZATION_OKTA_MANAGE = "organization.okta.manage";
        PROJECT_VIEW = "project.view";
        PROJECT_DELETE = "project.delete";
        PROJECT_ACCESS_VIEW = "project.access.view";
        PROJECT_ACCESS_MANAGE = "project.access.manage";
    }
}

/// A permission: an index into [`CATALOG`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission(u8);

impl Permission {
    /// The permission named `name`, found at compile time when used in a
    /// constant (a name not in the catalog does not compile).
    pub const fn named(name: &str) -> Permission {
        let mut i = 0;
        while i < CATALOG.len() {
            if same_str(CATALOG[i].name, name) {
                return Permission(i as u8);
            }
            i += 1;
        }
        panic!("not a permission of the catalog")
    }

    /// Finds a permission by its full name (`project.job.rerun`).
    pub fn lookup(name: &str) -> Option<Permission> {
        CATALOG
            .iter()
            .position(|p| p.name == name)
            .map(|i| Permission(i as u8))
    }

    /// All permissions, in catalog order.
    pub fn all() -> impl Iterator<Item = Permission> {
        (0..CATALOG.len() as u8).map(Permission)
    }

    pub fn info(self) -> &'static PermissionInfo {
        &CATALOG[self.0 as usize]
    }
    pub fn name(self) -> &'static str {
        self.info().name
    }
    pub fn scope(self) -> Scope {
        self.info().scope
    }
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Permission::lookup(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown permission {name}")))
    }
}

/// A set of permissions, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PermissionSet(u128);

impl PermissionSet {
    pub const EMPTY: PermissionSet = PermissionSet(0);

    /// The set as a bit mask: bit n is permission n of [`CATALOG`].
    pub fn bits(self) -> u128 {
        self.0
    }

    /// A set from a bit mask; bits past the catalog are dropped.
    pub fn from_bits(bits: u128) -> PermissionSet {
        PermissionSet(bits & ((1u128 << CATALOG.len()) - 1))
    }

    pub fn contains(self, p: Permission) -> bool {
        self.0 & (1u128 << p.0) != 0
    }
    pub fn insert(&mut self, p: Permission) {
        self.0 |= 1u128 << p.0;
    }
    pub fn union(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 | other.0)
    }
    /// Whether every permission of `self` is in `other`.
    pub fn is_subset(self, other: PermissionSet) -> bool {
        self.0 & !other.0 == 0
    }
    /// The permissions of `self` that are not in `other`.
    pub fn difference(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 & !other.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::all().filter(move |p| self.contains(*p))
    }
    /// Every permission of a scope.
    pub fn all_of(scope: Scope) -> PermissionSet {
        Permission::all().filter(|p| p.scope() == scope).collect()
    }
    /// Builds a set from names; panics on an unknown name (for the predefined
    /// roles, which are checked by tests).
    pub fn from_names(names: &[&str]) -> PermissionSet {
        names
            .iter()
            .map(|n| Permission::lookup(n).unwrap_or_else(|| panic!("unknown permission {n}")))
            .collect()
    }
    /// Whether every permission belongs to `scope`.
    pub fn within(self, scope: Scope) -> bool {
        self.is_subset(PermissionSet::all_of(scope))
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut s = PermissionSet::EMPTY;
        for p in iter {
            s.insert(p);
        }
        s
    }
}

impl Serialize for PermissionSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        // The length up front: binary formats need it.
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for p in self.iter() {
            seq.serialize_element(&p)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for PermissionSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<Permission>::deserialize(d)?;
        Ok(names.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn named_finds_what_lookup_finds() {
        for info in CATALOG.iter() {
            assert_eq!(
                Some(Permission::named(info.name)),
                Permission::lookup(info.name)
            );
        }
        assert_eq!(known::PROJECT_ACCESS_VIEW.name(), "project.access.view");
        assert_eq!(
            known::ORGANIZATION_VIEW,
            Scope::Organization.view_permission()
        );
    }

    use super::*;

    #[test]
    fn catalog_has_37_organization_and_31_project_permissions() {
        let org = CATALOG
            .iter()
            .filter(|p| p.scope == Scope::Organization)
            .count();
        let proj = CATALOG.iter().filter(|p| p.scope == Scope::Project).count();
        assert_eq!((org, proj), (37, 31));
        assert!(CATALOG[..ORG_PERMISSION_COUNT]
            .iter()
            .all(|p| p.name.starts_with("organization.")));
        assert!(CATALOG[ORG_PERMISSION_COUNT..]
            .iter()
            .all(|p| p.name.starts_with("project.")));
    }

    #[test]
    fn names_are_unique_and_described() {
        let mut names: Vec<_> = CATALOG.iter().map(|p| p.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOG.len());
        assert!(CATALOG.iter().all(|p| !p.description.is_empty()));
    }

    #[test]
    fn set_operations() {
        let a = PermissionSet::from_names(&["project.view", "project.job.stop"]);
        let b = PermissionSet::all_of(Scope::Project);
        assert!(a.is_subset(b));
        assert!(!b.is_subset(a));
        assert_eq!(a.len(), 2);
        assert!(a.within(Scope::Project));
        assert!(!a.within(Scope::Organization));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"["project.view","project.job.stop"]"#);
        assert_eq!(serde_json::from_str::<PermissionSet>(&json).unwrap(), a);
        assert!(serde_json::from_str::<PermissionSet>(r#"["project.nope"]"#).is_err());
    }
}
