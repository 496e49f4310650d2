//! The names the audit log writes into its descriptions: per organization,
//! user id -> username, group -> name, role -> name (predefined roles
//! included), project -> name, API token -> name, and the organization's own
//! name and streaming target.
//!
//! The registry is updated by each event *after* the event's entry is
//! described, so an entry for a removal still names what was removed; the
//! removed name is then dropped, which keeps the registry as small as the
//! organizations' current state.

use std::sync::OnceLock;

use domain::events::Event;
use domain::ids::{GroupId, OrgId, ProjectId, RoleId, TokenId, UserId};
use rustc_hash::FxHashMap;

/// The six predefined roles' names, shared by every organization.
fn predefined() -> &'static FxHashMap<RoleId, String> {
    static NAMES: OnceLock<FxHashMap<RoleId, String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        domain::roles::predefined_roles()
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect()
    })
}

/// The names of every organization seen so far, keyed by organization.
///
/// Never fails: an id it does not know simply has no name (descriptions then
/// show the id).
#[derive(Debug, Default, Clone)]
pub struct Names {
    orgs: FxHashMap<OrgId, OrgNames>,
}

impl Names {
    pub fn new() -> Self {
        Names::default()
    }

    /// One organization's names, if any event of it was applied.
    pub fn org(&self, org: OrgId) -> Option<&OrgNames> {
        self.orgs.get(&org)
    }

    /// One organization's names, or an empty registry (which still knows the
    /// predefined roles).
    pub fn org_or_empty(&self, org: OrgId) -> &OrgNames {
        static EMPTY: OnceLock<OrgNames> = OnceLock::new();
        self.orgs
            .get(&org)
            .unwrap_or_else(|| EMPTY.get_or_init(OrgNames::default))
    }

    /// Records the names an event introduces, changes or removes. Call it
    /// after describing the event.
    pub fn apply(&mut self, org: OrgId, event: &Event) {
        self.orgs.entry(org).or_default().apply(event);
    }

    /// How many organizations it knows.
    pub fn len(&self) -> usize {
        self.orgs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.orgs.is_empty()
    }
}

/// One organization's names. Lookups return `None` for an unknown id.
#[derive(Debug, Default, Clone)]
pub struct OrgNames {
    name: String,
    users: FxHashMap<UserId, String>,
    groups: FxHashMap<GroupId, String>,
    roles: FxHashMap<RoleId, String>,
    projects: FxHashMap<ProjectId, String>,
    /// API tokens: their owner and name (service-account tokens have none).
    tokens: FxHashMap<TokenId, (UserId, String)>,
    /// The configured audit streaming target, as `provider bucket`.
    streaming: Option<(String, String)>,
}

impl OrgNames {
    /// The organization's name (empty before `OrganizationCreated`).
    pub fn organization(&self) -> &str {
        &self.name
    }
    /// A person's username or a service account's name.
    pub fn user(&self, id: UserId) -> Option<&str> {
        self.users.get(&id).map(String::as_str)
    }
    pub fn group(&self, id: GroupId) -> Option<&str> {
        self.groups.get(&id).map(String::as_str)
    }
    /// A custom role of this organization or a predefined role.
    pub fn role(&self, id: RoleId) -> Option<&str> {
        self.roles
            .get(&id)
            .or_else(|| predefined().get(&id))
            .map(String::as_str)
    }
    pub fn project(&self, id: ProjectId) -> Option<&str> {
        self.projects.get(&id).map(String::as_str)
    }
    /// An API token's name.
    pub fn token(&self, id: TokenId) -> Option<&str> {
        self.tokens.get(&id).map(|(_, n)| n.as_str())
    }
    /// The current audit streaming target: `(provider, bucket)`.
    pub fn streaming(&self) -> Option<(&str, &str)> {
        self.streaming
            .as_ref()
            .map(|(p, b)| (p.as_str(), b.as_str()))
    }

    fn apply(&mut self, event: &Event) {
        match event {
            Event::OrganizationCreated(e) => self.name.clone_from(&e.name),
            Event::OrganizationSettingsChanged(e) => {
                if let Some(n) = &e.name {
                    self.name.clone_from(n);
                }
            }
            Event::UserInvited(e) => {
                self.users.insert(e.user_id, e.username.clone());
            }
            Event::UserProvisioned(e) => {
                self.users.insert(e.user_id, e.username.clone());
            }
            Event::ServiceAccountCreated(e) => {
                self.users.insert(e.user_id, e.name.clone());
            }
            Event::UserRemoved(e) => self.remove_user(e.user_id),
            Event::ServiceAccountRemoved(e) => self.remove_user(e.user_id),
            Event::ServiceAccountChanged(e) => {
                if let Some(n) = &e.name {
                    self.users.insert(e.user_id, n.clone());
                }
            }
            Event::GroupCreated(e) => {
                self.groups.insert(e.group_id, e.name.clone());
            }
            Event::GroupChanged(e) => {
                if let Some(n) = &e.name {
                    self.groups.insert(e.group_id, n.clone());
                }
            }
            Event::GroupDeleted(e) => {
                self.groups.remove(&e.group_id);
            }
            Event::CustomRoleCreated(e) => {
                self.roles.insert(e.role_id, e.definition.name.clone());
            }
            Event::CustomRoleChanged(e) => {
                self.roles.insert(e.role_id, e.definition.name.clone());
            }
            Event::CustomRoleDeleted(e) => {
                self.roles.remove(&e.role_id);
            }
            Event::ProjectCreated(e) => {
                self.projects.insert(e.project_id, e.name.clone());
            }
            Event::ProjectDeleted(e) => {
                self.projects.remove(&e.project_id);
            }
            Event::ApiTokenIssued(e) => {
                self.tokens.insert(e.token_id, (e.user_id, e.name.clone()));
            }
            Event::ApiTokenRevoked(e) => {
                self.tokens.remove(&e.token_id);
            }
            Event::AuditStreamingConfigured(e) => {
                self.streaming = Some((e.provider.clone(), e.bucket.clone()));
            }
            Event::AuditStreamingRemoved(_) => self.streaming = None,
            Event::UserPasswordSet(_)
            | Event::UserPasswordReset(_)
            | Event::OrgRoleAssigned(_)
            | Event::OrgRoleRetracted(_)
            | Event::GroupMemberAdded(_)
            | Event::GroupMemberRemoved(_)
            | Event::ProjectOwnershipTransferred(_)
            | Event::ProjectRoleBound(_)
            | Event::ProjectRoleUnbound(_)
            | Event::RepositoryAccessGranted(_)
            | Event::RepositoryAccessChanged(_)
            | Event::RepositoryAccessRevoked(_)
            | Event::RepositoryRoleMappingChanged(_)
            | Event::ServiceAccountTokenIssued(_)
            | Event::ServiceAccountTokenRevoked(_)
            | Event::UserDeactivated(_)
            | Event::UserReactivated(_)
            | Event::UserProfileChanged(_)
            | Event::ScimTokenIssued(_)
            | Event::ScimTokenRevoked(_)
            | Event::ScimSettingsChanged(_)
            | Event::WorkflowSettingsChanged(_)
            | Event::InitAgentChanged(_)
            | Event::IpAllowListChanged(_)
            | Event::NotificationTargetCreated(_)
            | Event::NotificationTargetChanged(_)
            | Event::NotificationTargetRemoved(_)
            | Event::SsoConfigured(_)
            | Event::SsoRemoved(_) => {}
        }
    }

    fn remove_user(&mut self, user: UserId) {
        self.users.remove(&user);
        // A removed user's tokens end with them (no revocation event).
        if self.tokens.values().any(|(u, _)| *u == user) {
            self.tokens.retain(|_, (u, _)| *u != user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::events::{GroupChanged, GroupCreated, GroupDeleted};
    use domain::roles::{MEMBER, READER};

    #[test]
    fn names_follow_renames_and_removals() {
        let org = OrgId::new();
        let g = GroupId::new();
        let mut names = Names::new();
        assert_eq!(names.org_or_empty(org).role(READER), Some("Reader"));
        names.apply(
            org,
            &Event::GroupCreated(GroupCreated {
                group_id: g,
                name: "ops".into(),
                description: "d".into(),
                members: vec![],
                role_id: MEMBER,
            }),
        );
        assert_eq!(names.org(org).unwrap().group(g), Some("ops"));
        names.apply(
            org,
            &Event::GroupChanged(GroupChanged {
                group_id: g,
                name: Some("operators".into()),
                description: None,
            }),
        );
        assert_eq!(names.org(org).unwrap().group(g), Some("operators"));
        names.apply(org, &Event::GroupDeleted(GroupDeleted { group_id: g }));
        assert_eq!(names.org(org).unwrap().group(g), None);
        assert_eq!(names.org(org).unwrap().role(MEMBER), Some("Member"));
    }
}
