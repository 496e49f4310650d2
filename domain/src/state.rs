//! The `Organization` aggregate's state and `evolve`, which folds one event
//! into it. `evolve` never fails: events are facts that `decide` already
//! checked; an event that names something unknown (possible only in a
//! hand-edited log) is applied as far as it makes sense.

use std::collections::{BTreeSet, HashMap};

/// A map keyed by ids (UUIDs the service generates): hashed with FxHash,
/// several times cheaper than SipHash for 16-byte keys on the hot paths
/// (folding, access checks, snapshot decoding). Maps keyed by names that
/// clients choose keep the default, collision-resistant hasher.
pub type IdMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::events::*;
use crate::ids::{GroupId, OrgId, ProjectId, RoleId, Subject, TokenId, UserId};
use crate::permissions::{PermissionSet, Scope};
use crate::roles::{predefined_roles, RepoAccess, RepoRoleMapping, Role};

/// A person or a service account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    /// `None` for service accounts.
    pub email: Option<String>,
    pub username: String,
    pub kind: UserKind,
    pub description: String,
    /// False once deactivated: kept, with no role, group, session or token.
    #[serde(default = "active")]
    pub active: bool,
    /// How the organization's identity provider knows this person (SCIM);
    /// `None` for people invited by hand and for service accounts.
    #[serde(default)]
    pub identity: Option<Identity>,
}

impl User {
    /// The login an identity provider knows this user by (SCIM
    /// `userName`): the provisioned one, else the email, else the username.
    pub fn user_name(&self) -> &str {
        match (&self.identity, &self.email) {
            (Some(i), _) => &i.user_name,
            (None, Some(email)) => email,
            (None, None) => &self.username,
        }
    }
}

/// A person as the organization's identity provider keeps them (SCIM's
/// User resource, RFC 7643 4.1): its login and the names rolebook has no
/// use for but gives back.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Identity {
    /// The identity provider's login (`userName`): unique in the
    /// organization, compared case-insensitively.
    pub user_name: String,
    /// The identity provider's own id (`externalId`): unique, compared
    /// exactly.
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
}

/// How the organization's identity provider provisions people (SCIM).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ScimSettings {
    /// The live SCIM token (its secret is kept hashed outside the log).
    pub token: Option<TokenId>,
    /// The organization role provisioned and reactivated people get;
    /// `None`: Member.
    pub default_role: Option<RoleId>,
}

fn active() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserKind {
    Person,
    ServiceAccount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    pub description: String,
    #[serde(deserialize_with = "set_in_one_go")]
    pub members: BTreeSet<UserId>,
    pub role: Option<RoleId>,
}

/// Reads a set written as a list and builds it in one go: `BTreeSet`'s
/// `FromIterator` sorts the list (linear for the sorted lists a set
/// serializes to) and builds the tree bottom-up, where serde's own
/// `Deserialize` inserts member by member (group members dominate the
/// decoding of a snapshot, `replay::snapshots`). Repeated members collapse
/// to one, as with inserts.
fn set_in_one_go<'de, D, T>(d: D) -> Result<BTreeSet<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Ord,
{
    Vec::<T>::deserialize(d).map(BTreeSet::from_iter)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub owner: UserId,
    /// Direct bindings of users.
    pub user_bindings: IdMap<UserId, RoleId>,
    /// Bindings of groups (a group source for the group's members).
    pub group_bindings: IdMap<GroupId, RoleId>,
    pub repo_access: IdMap<UserId, RepoAccess>,
    pub repo_mapping: RepoRoleMapping,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// One organization, as folded from its stream.
///
/// Serializes with every field, the private indexes included, so that a
/// deserialized copy (a snapshot) is equal to the state it was taken from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Organization {
    pub id: Option<OrgId>,
    pub name: String,
    pub url: Option<String>,
    /// The stream version of the last event folded in (0: nothing yet).
    pub version: u64,
    pub users: IdMap<UserId, User>,
    emails: HashMap<String, UserId>,
    usernames: HashMap<String, UserId>,
    /// The identity providers' logins of provisioned people (by `key`).
    user_names: HashMap<String, UserId>,
    /// The identity providers' ids of provisioned people (exact).
    external_ids: HashMap<String, UserId>,
    /// Each user's direct organization role.
    pub org_roles: IdMap<UserId, RoleId>,
    pub groups: IdMap<GroupId, Group>,
    group_names: HashMap<String, GroupId>,
    /// The groups each user is in.
    pub user_groups: IdMap<UserId, Vec<GroupId>>,
    pub roles: IdMap<RoleId, Role>,
    #[serde(with = "entries")]
    role_names: HashMap<(Scope, String), RoleId>,
    /// Each role's permissions including everything it inherits.
    effective: IdMap<RoleId, PermissionSet>,
    /// For each organization role, the project roles it grants on every
    /// project (its own and those of the roles it inherits).
    mapped: IdMap<RoleId, Vec<RoleId>>,
    pub projects: IdMap<ProjectId, Project>,
    project_names: HashMap<String, ProjectId>,
    /// The projects where each user has a direct binding or repository
    /// access: a command about one user visits these, not every project.
    user_projects: IdMap<UserId, BTreeSet<ProjectId>>,
    /// The projects where each group is bound.
    group_projects: IdMap<GroupId, BTreeSet<ProjectId>>,
    /// The projects each user owns.
    owned_projects: IdMap<UserId, BTreeSet<ProjectId>>,
    /// The live tokens of each user: ending a user's tokens visits these,
    /// not every token of the organization.
    user_tokens: IdMap<UserId, BTreeSet<TokenId>>,
    pub tokens: IdMap<TokenId, Token>,
    pub audit_streaming: Option<AuditStreamingConfigured>,
    pub scim: ScimSettings,
    pub settings: OrgSettings,
}

/// The settings sections beyond the name and URL (`crate::settings`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OrgSettings {
    pub workflows: crate::settings::WorkflowSettings,
    pub init_agent: crate::settings::InitAgent,
    /// Empty: requests from anywhere.
    pub ip_allow_list: Vec<crate::settings::Cidr>,
    /// Single sign-on; `None`: passwords only.
    pub sso: Option<crate::settings::SsoSettings>,
    /// Where audit events are sent, in the order they were added.
    pub notifications: Vec<crate::notifications::NotificationTarget>,
}

impl OrgSettings {
    pub fn notification(
        &self,
        id: crate::ids::NotificationId,
    ) -> Option<&crate::notifications::NotificationTarget> {
        self.notifications.iter().find(|t| t.id == id)
    }
}

/// A map whose keys are not strings, (de)serialized as a list of
/// `[key, value]` pairs (JSON objects only have string keys).
mod entries {
    use std::collections::HashMap;
    use std::hash::{BuildHasher, Hash};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K, V, H, S>(map: &HashMap<K, V, H>, s: S) -> Result<S::Ok, S::Error>
    where
        K: Serialize,
        V: Serialize,
        S: Serializer,
    {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, H, D>(d: D) -> Result<HashMap<K, V, H>, D::Error>
    where
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
        H: BuildHasher + Default,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// Names are compared case-insensitively.
pub(crate) fn key(name: &str) -> String {
    name.trim().to_lowercase()
}

impl Organization {
    /// An organization with nothing but the predefined roles.
    pub fn new() -> Self {
        let mut org = Organization::default();
        for role in predefined_roles() {
            org.insert_role(role);
        }
        org.recompute_effective();
        org
    }

    /// Folds a sequence of events into a fresh state.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut org = Organization::new();
        for e in events {
            org.evolve(e);
        }
        org
    }

    pub fn exists(&self) -> bool {
        self.id.is_some()
    }

    // ---- lookups -----------------------------------------------------------

    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        self.emails
            .get(&key(email))
            .and_then(|id| self.users.get(id))
    }
    pub fn user_by_username(&self, username: &str) -> Option<&User> {
        self.usernames
            .get(&key(username))
            .and_then(|id| self.users.get(id))
    }
    /// The user an identity provider knows by `user_name` (SCIM
    /// `userName`, see [`User::user_name`]), compared case-insensitively.
    pub fn user_by_user_name(&self, user_name: &str) -> Option<&User> {
        let k = key(user_name);
        if let Some(u) = self.user_names.get(&k).and_then(|id| self.users.get(id)) {
            return Some(u);
        }
        self.emails
            .get(&k)
            .and_then(|id| self.users.get(id))
            .filter(|u| u.identity.is_none())
    }
    /// The provisioned user with this `externalId` (exact).
    pub fn user_by_external_id(&self, external_id: &str) -> Option<&User> {
        self.external_ids
            .get(external_id)
            .and_then(|id| self.users.get(id))
    }
    /// The organization role provisioned and reactivated people get.
    pub fn default_role(&self) -> RoleId {
        self.scim.default_role.unwrap_or(crate::roles::MEMBER)
    }
    pub fn username_taken(&self, username: &str) -> bool {
        self.usernames.contains_key(&key(username))
    }
    pub fn group_by_name(&self, name: &str) -> Option<&Group> {
        self.group_names
            .get(&key(name))
            .and_then(|id| self.groups.get(id))
    }
    pub fn role_by_name(&self, scope: Scope, name: &str) -> Option<&Role> {
        self.role_names
            .get(&(scope, key(name)))
            .and_then(|id| self.roles.get(id))
    }
    pub fn project_by_name(&self, name: &str) -> Option<&Project> {
        self.project_names
            .get(&key(name))
            .and_then(|id| self.projects.get(id))
    }
    /// A role's permissions including inherited ones (empty if unknown).
    pub fn role_permissions(&self, role: RoleId) -> PermissionSet {
        self.effective.get(&role).copied().unwrap_or_default()
    }
    /// The project roles an organization role grants on every project.
    pub fn mapped_project_roles(&self, org_role: RoleId) -> &[RoleId] {
        self.mapped.get(&org_role).map(Vec::as_slice).unwrap_or(&[])
    }
    pub fn role_name(&self, role: RoleId) -> String {
        self.roles
            .get(&role)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| role.to_string())
    }
    pub fn username(&self, user: UserId) -> String {
        self.users
            .get(&user)
            .map(|u| u.username.clone())
            .unwrap_or_else(|| user.to_string())
    }
    pub fn groups_of(&self, user: UserId) -> &[GroupId] {
        self.user_groups
            .get(&user)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
    /// Projects owned by `user`, sorted by name.
    pub fn projects_owned_by(&self, user: UserId) -> Vec<&Project> {
        let mut owned: Vec<&Project> = self.projects_in(self.owned_projects.get(&user)).collect();
        owned.sort_by(|a, b| a.name.cmp(&b.name));
        owned
    }
    /// The projects where `user` has a direct binding or repository access.
    pub fn projects_of_user(&self, user: UserId) -> &BTreeSet<ProjectId> {
        self.user_projects.get(&user).unwrap_or(&NO_PROJECTS)
    }
    /// The live tokens of `user`, in id order.
    pub fn tokens_of(&self, user: UserId) -> impl Iterator<Item = &Token> {
        self.user_tokens
            .get(&user)
            .into_iter()
            .flatten()
            .filter_map(|t| self.tokens.get(t))
    }
    /// The projects where `group` is bound.
    pub fn projects_of_group(&self, group: GroupId) -> &BTreeSet<ProjectId> {
        self.group_projects.get(&group).unwrap_or(&NO_PROJECTS)
    }
    /// Every group bound on some project, with those projects.
    pub fn bound_groups(&self) -> impl Iterator<Item = (GroupId, &BTreeSet<ProjectId>)> {
        self.group_projects.iter().map(|(g, ps)| (*g, ps))
    }
    /// The group's project bindings: each project it is bound on, with the
    /// role (in no particular order).
    pub fn group_bindings_of(&self, group: GroupId) -> impl Iterator<Item = (&Project, RoleId)> {
        self.projects_in(self.group_projects.get(&group))
            .filter_map(move |p| p.group_bindings.get(&group).map(|r| (p, *r)))
    }
    fn projects_in<'a>(
        &'a self,
        ids: Option<&'a BTreeSet<ProjectId>>,
    ) -> impl Iterator<Item = &'a Project> + 'a {
        ids.into_iter()
            .flatten()
            .filter_map(|p| self.projects.get(p))
    }

    // ---- evolve ------------------------------------------------------------

    /// Folds one event into the state and advances the version.
    pub fn evolve(&mut self, event: &Event) {
        self.version += 1;
        match event {
            Event::OrganizationCreated(e) => {
                self.id = Some(e.org_id);
                self.name = e.name.clone();
                self.url = e.url.clone();
            }
            Event::OrganizationSettingsChanged(e) => {
                if let Some(name) = &e.name {
                    self.name = name.clone();
                }
                if let Some(url) = &e.url {
                    self.url = Some(url.clone());
                }
            }
            Event::WorkflowSettingsChanged(e) => self.settings.workflows = e.workflows.clone(),
            Event::InitAgentChanged(e) => self.settings.init_agent = e.init_agent.clone(),
            Event::IpAllowListChanged(e) => self.settings.ip_allow_list = e.cidrs.clone(),
            Event::SsoConfigured(e) => self.settings.sso = Some(e.sso.clone()),
            Event::SsoRemoved(_) => self.settings.sso = None,
            Event::NotificationTargetCreated(e) => {
                self.settings.notifications.push(e.target.clone())
            }
            Event::NotificationTargetChanged(e) => {
                if let Some(t) = self
                    .settings
                    .notifications
                    .iter_mut()
                    .find(|t| t.id == e.target.id)
                {
                    *t = e.target.clone();
                }
            }
            Event::NotificationTargetRemoved(e) => {
                self.settings.notifications.retain(|t| t.id != e.id)
            }
            Event::UserInvited(e) => self.insert_person(e.user_id, &e.email, &e.username, None),
            Event::UserProvisioned(e) => {
                self.insert_person(e.user_id, &e.email, &e.username, Some(e.identity.clone()))
            }
            Event::UserProfileChanged(e) => {
                if let Some(mut user) = self.users.remove(&e.user_id) {
                    self.forget_names_of(&user);
                    user.email = Some(e.email.clone());
                    user.username = e.username.clone();
                    user.identity = Some(e.identity.clone());
                    self.insert_user(user);
                }
            }
            Event::ScimTokenIssued(e) => self.scim.token = Some(e.token_id),
            Event::ScimTokenRevoked(e) => {
                if self.scim.token == Some(e.token_id) {
                    self.scim.token = None;
                }
            }
            Event::ScimSettingsChanged(e) => self.scim.default_role = Some(e.default_role),
            Event::UserPasswordSet(_) | Event::UserPasswordReset(_) => {}
            Event::UserRemoved(UserRemoved { user_id, .. })
            | Event::ServiceAccountRemoved(ServiceAccountRemoved { user_id, .. }) => {
                self.remove_user(*user_id)
            }
            Event::OrgRoleAssigned(e) => match e.subject {
                Subject::User(u) => {
                    self.org_roles.insert(u, e.role_id);
                }
                Subject::Group(g) => {
                    if let Some(group) = self.groups.get_mut(&g) {
                        group.role = Some(e.role_id);
                    }
                }
            },
            Event::OrgRoleRetracted(e) => match e.subject {
                Subject::User(u) => {
                    self.org_roles.remove(&u);
                }
                Subject::Group(g) => {
                    if let Some(group) = self.groups.get_mut(&g) {
                        group.role = None;
                    }
                }
            },
            Event::GroupCreated(e) => {
                self.group_names.insert(key(&e.name), e.group_id);
                self.groups.insert(
                    e.group_id,
                    Group {
                        id: e.group_id,
                        name: e.name.clone(),
                        description: e.description.clone(),
                        members: BTreeSet::new(),
                        role: Some(e.role_id),
                    },
                );
                for m in &e.members {
                    self.add_member(e.group_id, *m);
                }
            }
            Event::GroupChanged(e) => {
                if let Some(group) = self.groups.get_mut(&e.group_id) {
                    if let Some(name) = &e.name {
                        self.group_names.remove(&key(&group.name));
                        self.group_names.insert(key(name), e.group_id);
                        group.name = name.clone();
                    }
                    if let Some(description) = &e.description {
                        group.description = description.clone();
                    }
                }
            }
            Event::GroupMemberAdded(e) => self.add_member(e.group_id, e.user_id),
            Event::GroupMemberRemoved(e) => self.remove_member(e.group_id, e.user_id),
            Event::GroupDeleted(e) => {
                if let Some(group) = self.groups.remove(&e.group_id) {
                    self.group_names.remove(&key(&group.name));
                    for m in group.members {
                        if let Some(gs) = self.user_groups.get_mut(&m) {
                            gs.retain(|g| *g != e.group_id);
                        }
                    }
                    for p in self.group_projects.remove(&e.group_id).unwrap_or_default() {
                        if let Some(p) = self.projects.get_mut(&p) {
                            p.group_bindings.remove(&e.group_id);
                        }
                    }
                }
            }
            Event::CustomRoleCreated(e) => {
                self.insert_role(e.definition.to_role(e.role_id));
                self.recompute_effective();
            }
            Event::CustomRoleChanged(e) => {
                if let Some(old) = self.roles.get(&e.role_id) {
                    self.role_names.remove(&(old.scope, key(&old.name)));
                    // A role's scope never changes.
                    let role = Role {
                        scope: old.scope,
                        ..e.definition.to_role(e.role_id)
                    };
                    self.insert_role(role);
                    self.recompute_effective();
                }
            }
            Event::CustomRoleDeleted(e) => {
                if let Some(old) = self.roles.remove(&e.role_id) {
                    self.role_names.remove(&(old.scope, key(&old.name)));
                    self.recompute_effective();
                }
            }
            Event::ProjectCreated(e) => {
                self.project_names.insert(key(&e.name), e.project_id);
                index_insert(&mut self.owned_projects, e.owner, e.project_id);
                self.projects.insert(
                    e.project_id,
                    Project {
                        id: e.project_id,
                        name: e.name.clone(),
                        owner: e.owner,
                        user_bindings: IdMap::default(),
                        group_bindings: IdMap::default(),
                        repo_access: IdMap::default(),
                        repo_mapping: RepoRoleMapping::default(),
                    },
                );
            }
            Event::ProjectOwnershipTransferred(e) => {
                if let Some(p) = self.projects.get_mut(&e.project_id) {
                    index_remove(&mut self.owned_projects, p.owner, p.id);
                    index_insert(&mut self.owned_projects, e.to, p.id);
                    p.owner = e.to;
                }
            }
            Event::ProjectDeleted(e) => {
                if let Some(p) = self.projects.remove(&e.project_id) {
                    self.project_names.remove(&key(&p.name));
                    index_remove(&mut self.owned_projects, p.owner, p.id);
                    for u in p.user_bindings.keys().chain(p.repo_access.keys()) {
                        index_remove(&mut self.user_projects, *u, p.id);
                    }
                    for g in p.group_bindings.keys() {
                        index_remove(&mut self.group_projects, *g, p.id);
                    }
                }
            }
            Event::ProjectRoleBound(e) => {
                if let Some(p) = self.projects.get_mut(&e.project_id) {
                    match e.subject {
                        Subject::User(u) => {
                            p.user_bindings.insert(u, e.role_id);
                            index_insert(&mut self.user_projects, u, p.id);
                        }
                        Subject::Group(g) => {
                            p.group_bindings.insert(g, e.role_id);
                            index_insert(&mut self.group_projects, g, p.id);
                        }
                    };
                }
            }
            Event::ProjectRoleUnbound(e) => {
                if let Some(p) = self.projects.get_mut(&e.project_id) {
                    match e.subject {
                        Subject::User(u) => {
                            p.user_bindings.remove(&u);
                            if !p.repo_access.contains_key(&u) {
                                index_remove(&mut self.user_projects, u, p.id);
                            }
                        }
                        Subject::Group(g) => {
                            p.group_bindings.remove(&g);
                            index_remove(&mut self.group_projects, g, p.id);
                        }
                    };
                }
            }
            Event::RepositoryAccessGranted(RepositoryAccessGranted {
                project_id,
                user_id,
                access,
            })
            | Event::RepositoryAccessChanged(RepositoryAccessChanged {
                project_id,
                user_id,
                to: access,
                ..
            }) => {
                if let Some(p) = self.projects.get_mut(project_id) {
                    p.repo_access.insert(*user_id, *access);
                    index_insert(&mut self.user_projects, *user_id, p.id);
                }
            }
            Event::RepositoryAccessRevoked(e) => {
                if let Some(p) = self.projects.get_mut(&e.project_id) {
                    p.repo_access.remove(&e.user_id);
                    if !p.user_bindings.contains_key(&e.user_id) {
                        index_remove(&mut self.user_projects, e.user_id, p.id);
                    }
                }
            }
            Event::RepositoryRoleMappingChanged(e) => {
                if let Some(p) = self.projects.get_mut(&e.project_id) {
                    p.repo_mapping = e.mapping;
                }
            }
            Event::ServiceAccountCreated(e) => self.insert_user(User {
                id: e.user_id,
                email: None,
                username: e.name.clone(),
                kind: UserKind::ServiceAccount,
                description: e.description.clone(),
                active: true,
                identity: None,
            }),
            Event::ServiceAccountChanged(e) => {
                if let Some(u) = self.users.get_mut(&e.user_id) {
                    if let Some(name) = &e.name {
                        self.usernames.remove(&key(&u.username));
                        self.usernames.insert(key(name), e.user_id);
                        u.username = name.clone();
                    }
                    if let Some(description) = &e.description {
                        u.description = description.clone();
                    }
                }
            }
            Event::UserDeactivated(e) => {
                if let Some(u) = self.users.get_mut(&e.user_id) {
                    u.active = false;
                }
                self.drop_tokens_of(e.user_id);
            }
            Event::UserReactivated(e) => {
                if let Some(u) = self.users.get_mut(&e.user_id) {
                    u.active = true;
                }
            }
            Event::ServiceAccountTokenIssued(e) => self.insert_token(Token {
                id: e.token_id,
                user_id: e.user_id,
                name: "service account token".to_string(),
                expires_at: e.expires_at,
            }),
            Event::ApiTokenIssued(e) => self.insert_token(Token {
                id: e.token_id,
                user_id: e.user_id,
                name: e.name.clone(),
                expires_at: e.expires_at,
            }),
            Event::ServiceAccountTokenRevoked(ServiceAccountTokenRevoked { token_id, .. })
            | Event::ApiTokenRevoked(ApiTokenRevoked { token_id, .. }) => {
                if let Some(t) = self.tokens.remove(token_id) {
                    index_remove(&mut self.user_tokens, t.user_id, t.id);
                }
            }
            Event::AuditStreamingConfigured(e) => self.audit_streaming = Some(e.clone()),
            Event::AuditStreamingRemoved(_) => self.audit_streaming = None,
        }
    }

    /// A person, invited (no identity) or provisioned.
    fn insert_person(
        &mut self,
        id: UserId,
        email: &str,
        username: &str,
        identity: Option<Identity>,
    ) {
        self.insert_user(User {
            id,
            email: Some(email.to_string()),
            username: username.to_string(),
            kind: UserKind::Person,
            description: String::new(),
            active: true,
            identity,
        })
    }

    fn insert_user(&mut self, user: User) {
        if let Some(email) = &user.email {
            self.emails.insert(key(email), user.id);
        }
        self.usernames.insert(key(&user.username), user.id);
        if let Some(identity) = &user.identity {
            self.user_names.insert(key(&identity.user_name), user.id);
            if let Some(external) = &identity.external_id {
                self.external_ids.insert(external.clone(), user.id);
            }
        }
        self.users.insert(user.id, user);
    }

    /// Takes a user's email, username and identity out of the indexes.
    fn forget_names_of(&mut self, user: &User) {
        if let Some(email) = &user.email {
            self.emails.remove(&key(email));
        }
        self.usernames.remove(&key(&user.username));
        if let Some(identity) = &user.identity {
            self.user_names.remove(&key(&identity.user_name));
            if let Some(external) = &identity.external_id {
                self.external_ids.remove(external);
            }
        }
    }

    /// Removal retracts every binding from every source, every group
    /// membership and every token.
    fn remove_user(&mut self, user_id: UserId) {
        if let Some(user) = self.users.remove(&user_id) {
            self.forget_names_of(&user);
        }
        self.org_roles.remove(&user_id);
        for g in self.user_groups.remove(&user_id).unwrap_or_default() {
            if let Some(group) = self.groups.get_mut(&g) {
                group.members.remove(&user_id);
            }
        }
        for p in self.user_projects.remove(&user_id).unwrap_or_default() {
            if let Some(p) = self.projects.get_mut(&p) {
                p.user_bindings.remove(&user_id);
                p.repo_access.remove(&user_id);
            }
        }
        self.drop_tokens_of(user_id);
    }

    fn insert_token(&mut self, token: Token) {
        index_insert(&mut self.user_tokens, token.user_id, token.id);
        self.tokens.insert(token.id, token);
    }

    /// Ends every token of a user (removal, deactivation).
    fn drop_tokens_of(&mut self, user: UserId) {
        for t in self.user_tokens.remove(&user).unwrap_or_default() {
            self.tokens.remove(&t);
        }
    }

    fn add_member(&mut self, group: GroupId, user: UserId) {
        if let Some(g) = self.groups.get_mut(&group) {
            if g.members.insert(user) {
                self.user_groups.entry(user).or_default().push(group);
            }
        }
    }

    fn remove_member(&mut self, group: GroupId, user: UserId) {
        if let Some(g) = self.groups.get_mut(&group) {
            g.members.remove(&user);
        }
        if let Some(gs) = self.user_groups.get_mut(&user) {
            gs.retain(|g| *g != group);
        }
    }

    fn insert_role(&mut self, role: Role) {
        self.role_names
            .insert((role.scope, key(&role.name)), role.id);
        self.roles.insert(role.id, role);
    }

    /// Recomputes every role's inherited permissions (a few dozen roles; runs
    /// only when a role changes).
    fn recompute_effective(&mut self) {
        let mut effective = IdMap::with_capacity_and_hasher(self.roles.len(), Default::default());
        let mut mapped = IdMap::default();
        for id in self.roles.keys() {
            let mut set = PermissionSet::EMPTY;
            let mut project_roles = Vec::new();
            let mut seen = BTreeSet::new();
            let mut stack = vec![*id];
            while let Some(r) = stack.pop() {
                if !seen.insert(r) {
                    continue;
                }
                if let Some(role) = self.roles.get(&r) {
                    set = set.union(role.permissions);
                    stack.extend(role.inherits.iter().copied());
                    if let Some(pr) = role.project_role {
                        if !project_roles.contains(&pr) {
                            project_roles.push(pr);
                        }
                    }
                }
            }
            effective.insert(*id, set);
            if !project_roles.is_empty() {
                mapped.insert(*id, project_roles);
            }
        }
        self.effective = effective;
        self.mapped = mapped;
    }
}

static NO_PROJECTS: BTreeSet<ProjectId> = BTreeSet::new();

/// Adds `value` to `key`'s entry of an index (projects or tokens by user
/// or group).
fn index_insert<K: std::hash::Hash + Eq, V: Ord>(
    index: &mut IdMap<K, BTreeSet<V>>,
    key: K,
    value: V,
) {
    index.entry(key).or_default().insert(value);
}

/// Removes `value` from `key`'s entry of an index, and the entry once it
/// is empty (so that equal states have equal indexes).
fn index_remove<K: std::hash::Hash + Eq, V: Ord>(
    index: &mut IdMap<K, BTreeSet<V>>,
    key: K,
    value: V,
) {
    if let Some(ps) = index.get_mut(&key) {
        ps.remove(&value);
        if ps.is_empty() {
            index.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group's members read back from any list: out of order and with a
    /// member twice, the set is the same as inserting them one by one.
    #[test]
    fn group_members_are_read_as_a_set_from_any_list() {
        let (a, b, c) = (UserId::new(), UserId::new(), UserId::new());
        let json = serde_json::json!({
            "id": GroupId::new(),
            "name": "ops",
            "description": "",
            "members": [c, a, b, a],
            "role": null,
        });
        let group: Group = serde_json::from_value(json).unwrap();
        assert_eq!(group.members, BTreeSet::from([a, b, c]));
        let again: Group = serde_json::from_str(&serde_json::to_string(&group).unwrap()).unwrap();
        assert_eq!(again, group);
    }
}
