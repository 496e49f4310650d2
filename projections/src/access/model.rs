//! The access model's state and its incremental update.
//!
//! For each organization it keeps the domain's `Organization` (folded by the
//! domain's own `evolve`) and, per user, the permissions that answer `check`
//! in a few hash lookups: organization scope, every project (from
//! organization roles), and each project where a direct, group or
//! repository source applies. An event recomputes only the users it can
//! affect, with the domain's access rules, and reports what changed so the
//! SQL read model can write just that.

use domain::events::Event;
use domain::ids::{GroupId, OrgId, ProjectId, RoleId, Subject, UserId};
use domain::permissions::PermissionSet;
use domain::Organization;
use rustc_hash::{FxHashMap, FxHashSet};

use super::project_grants::ProjectGrants;

/// One user's permissions, precomputed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserAccess {
    pub org: PermissionSet,
    /// Granted on every project by organization roles.
    pub every_project: PermissionSet,
    /// Granted on one project by direct, group or repository sources
    /// (non-empty sets only).
    pub projects: ProjectGrants,
}

/// Where a user's permissions changed (for the SQL read model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Organization,
    EveryProject,
    Project(ProjectId),
}

/// A changed row of the effective permissions: `None` removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveChange {
    pub org: OrgId,
    pub user: UserId,
    pub scope: Scope,
    pub permissions: Option<PermissionSet>,
}

/// The scopes of some users that one event can change, so that only those
/// are recomputed (a full recompute costs one lookup per group of the user
/// on every project where one of their sources applies).
#[derive(Debug, Default)]
struct Partial {
    /// The users' organization roles changed: organization and every-project
    /// scopes, and the projects where they have repository access (which
    /// counts only for users with an organization role).
    org_roles: bool,
    /// Projects whose specific sources changed for the users.
    projects: Vec<ProjectId>,
}

/// What [`OrgAccess::apply`] reads before it folds an event.
struct Before {
    /// Users a deletion reaches.
    users: Vec<UserId>,
    /// Every role's fingerprint, before a role edit.
    roles: Option<FxHashMap<RoleId, (PermissionSet, Vec<RoleId>)>>,
}

/// The users an event can change.
#[derive(Debug, Default)]
struct Reach {
    /// Recomputed whole.
    whole: Vec<UserId>,
    /// Recomputed in the scopes `partial` names only.
    partial_users: Vec<UserId>,
    partial: Partial,
}

/// One organization in the model.
#[derive(Debug, Default)]
pub struct OrgAccess {
    pub state: Organization,
    pub users: FxHashMap<UserId, UserAccess>,
    /// Users who hold something on every project (for `who_can`).
    pub(super) every_project_users: FxHashSet<UserId>,
}

impl OrgAccess {
    fn new() -> Self {
        OrgAccess {
            state: Organization::new(),
            ..Default::default()
        }
    }

    /// The projects whose specific sources may apply to `user`.
    fn relevant_projects(&self, user: UserId) -> FxHashSet<ProjectId> {
        let s = &self.state;
        let mut projects: FxHashSet<ProjectId> = s.projects_of_user(user).iter().copied().collect();
        for g in s.groups_of(user) {
            projects.extend(s.projects_of_group(*g).iter().copied());
        }
        projects
    }

    /// Computes a user's access from the state (the domain's rules).
    fn compute(&self, user: UserId) -> UserAccess {
        let s = &self.state;
        let mut access = UserAccess {
            org: s.org_permissions(user),
            every_project: s.every_project_permissions(user),
            projects: ProjectGrants::default(),
        };
        for p in self.relevant_projects(user) {
            let set = s.project_specific_permissions(user, p);
            if !set.is_empty() {
                access.projects.insert(p, set);
            }
        }
        access
    }

    /// Recomputes `user` and reports the differences.
    fn refresh(&mut self, org: OrgId, user: UserId, changes: &mut Vec<EffectiveChange>) {
        let new = if self.state.users.contains_key(&user) {
            Some(self.compute(user))
        } else {
            None
        };
        let old = match &new {
            Some(n) => self.users.insert(user, n.clone()),
            None => self.users.remove(&user),
        }
        .unwrap_or_default();
        let new = new.unwrap_or_default();
        self.index_every_project(user, new.every_project);
        let mut change = |scope, before: PermissionSet, after: PermissionSet| {
            if before != after {
                changes.push(EffectiveChange {
                    org,
                    user,
                    scope,
                    permissions: (!after.is_empty()).then_some(after),
                });
            }
        };
        change(Scope::Organization, old.org, new.org);
        change(Scope::EveryProject, old.every_project, new.every_project);
        for (p, before) in &old.projects {
            change(
                Scope::Project(*p),
                *before,
                new.projects.get(p).copied().unwrap_or_default(),
            );
        }
        for (p, after) in &new.projects {
            if !old.projects.contains_key(p) {
                change(Scope::Project(*p), PermissionSet::EMPTY, *after);
            }
        }
    }

    /// Recomputes only the scopes of `user` that `partial` names, and reports
    /// the differences: the same result as [`OrgAccess::refresh`] when the
    /// event could change nothing else.
    fn refresh_partial(
        &mut self,
        org: OrgId,
        user: UserId,
        partial: &Partial,
        changes: &mut Vec<EffectiveChange>,
    ) {
        let s = &self.state;
        let access = match self.users.get_mut(&user) {
            Some(access) if s.users.contains_key(&user) => access,
            _ => return self.refresh(org, user, changes),
        };
        let mut change = |scope, before: PermissionSet, after: PermissionSet| {
            if before != after {
                changes.push(EffectiveChange {
                    org,
                    user,
                    scope,
                    permissions: (!after.is_empty()).then_some(after),
                });
            }
        };
        let mut repository = Vec::new();
        if partial.org_roles {
            let after = s.org_permissions(user);
            change(Scope::Organization, access.org, after);
            access.org = after;
            let after = s.every_project_permissions(user);
            change(Scope::EveryProject, access.every_project, after);
            access.every_project = after;
            if after.is_empty() {
                self.every_project_users.remove(&user);
            } else {
                self.every_project_users.insert(user);
            }
            repository.extend(s.projects_depending_on_org_role(user, s.projects_of_user(user)));
        }
        for p in partial.projects.iter().chain(&repository) {
            let after = s.project_specific_permissions(user, *p);
            let before = access.projects.get(p).copied().unwrap_or_default();
            if before != after {
                if after.is_empty() {
                    access.projects.remove(p);
                } else {
                    access.projects.insert(*p, after);
                }
                change(Scope::Project(*p), before, after);
            }
        }
    }

    fn index_every_project(&mut self, user: UserId, every_project: PermissionSet) {
        if every_project.is_empty() {
            self.every_project_users.remove(&user);
        } else {
            self.every_project_users.insert(user);
        }
    }

    fn members(&self, group: GroupId) -> Vec<UserId> {
        self.state
            .groups
            .get(&group)
            .map(|g| g.members.iter().copied().collect())
            .unwrap_or_default()
    }

    fn subject_users(&self, subject: Subject) -> Vec<UserId> {
        match subject {
            Subject::User(u) => vec![u],
            Subject::Group(g) => self.members(g),
        }
    }

    /// Folds one event into the state alone: the users' access stays as it
    /// was until [`OrgAccess::recompute_all`]. For
    /// long backlogs, where recomputing after every event costs far more
    /// than recomputing everyone once at the end.
    fn fold(&mut self, event: &Event) {
        self.state.evolve(event);
    }

    /// Recomputes every user's access from the state: the same
    /// model as folding every event with [`OrgAccess::apply`].
    fn recompute_all(&mut self) {
        let users: Vec<UserId> = self.state.users.keys().copied().collect();
        let computed = EveryUser::new(self).compute_many(&users);
        self.install(computed);
    }

    /// [`OrgAccess::recompute_all`] on another thread, while `alongside`
    /// runs on this one with the state (which neither changes).
    fn recompute_all_while<R>(&mut self, alongside: impl FnOnce(&Organization) -> R) -> R {
        let users: Vec<UserId> = self.state.users.keys().copied().collect();
        let this = &*self;
        let (computed, result) = std::thread::scope(|scope| {
            let computing = scope.spawn(move || {
                let every = EveryUser::new(this);
                users
                    .iter()
                    .map(|u| (*u, every.compute(*u)))
                    .collect::<Vec<_>>()
            });
            let result = alongside(&this.state);
            (computing.join().expect("computing access"), result)
        });
        self.install(computed);
        result
    }

    /// Replaces every user's access with `computed`.
    fn install(&mut self, computed: Vec<(UserId, UserAccess)>) {
        self.every_project_users = computed
            .iter()
            .filter(|(_, a)| !a.every_project.is_empty())
            .map(|(u, _)| *u)
            .collect();
        self.users = computed.into_iter().collect();
    }

    /// Folds one event and recomputes the users it can affect.
    pub fn apply(&mut self, org: OrgId, event: &Event, changes: &mut Vec<EffectiveChange>) {
        let before = self.before(event);
        self.state.evolve(event);
        let reach = self.reach(event, before);
        self.recompute(org, reach, changes);
    }

    /// What must be read before `event` is folded: the users a deletion
    /// reaches (gone from the state after it) and, for a role edit, every
    /// role's fingerprint.
    fn before(&self, event: &Event) -> Before {
        let users = match event {
            Event::GroupDeleted(e) => self.members(e.group_id),
            Event::ProjectDeleted(e) => self.state.users_bound_to(e.project_id),
            _ => vec![],
        };
        let roles = match event {
            Event::CustomRoleChanged(_) | Event::CustomRoleDeleted(_) => {
                Some(self.role_fingerprint())
            }
            _ => None,
        };
        Before { users, roles }
    }

    /// The users the folded `event` can change: recomputed whole, or only
    /// in the scopes a [`Partial`] names.
    fn reach(&self, event: &Event, before: Before) -> Reach {
        let mut reach = Reach {
            whole: before.users,
            ..Reach::default()
        };
        match event {
            Event::UserInvited(e) => reach.whole.push(e.user_id),
            Event::ServiceAccountCreated(e) => reach.whole.push(e.user_id),
            Event::UserRemoved(domain::events::UserRemoved { user_id, .. })
            | Event::ServiceAccountRemoved(domain::events::ServiceAccountRemoved {
                user_id, ..
            }) => reach.whole.push(*user_id),
            Event::OrgRoleAssigned(domain::events::OrgRoleAssigned { subject, .. })
            | Event::OrgRoleRetracted(domain::events::OrgRoleRetracted { subject, .. }) => {
                reach.partial_users.extend(self.subject_users(*subject));
                reach.partial.org_roles = true;
            }
            Event::GroupCreated(e) => reach.whole.extend(e.members.iter().copied()),
            Event::GroupMemberAdded(domain::events::GroupMemberAdded { group_id, user_id })
            | Event::GroupMemberRemoved(domain::events::GroupMemberRemoved { group_id, user_id }) =>
            {
                reach.partial_users.push(*user_id);
                reach.partial.org_roles = true;
                reach
                    .partial
                    .projects
                    .extend(self.state.projects_of_group(*group_id).iter().copied());
            }
            Event::ProjectRoleBound(domain::events::ProjectRoleBound {
                project_id,
                subject,
                ..
            })
            | Event::ProjectRoleUnbound(domain::events::ProjectRoleUnbound {
                project_id,
                subject,
                ..
            }) => {
                reach.partial_users.extend(self.subject_users(*subject));
                reach.partial.projects.push(*project_id);
            }
            Event::RepositoryAccessGranted(domain::events::RepositoryAccessGranted {
                project_id,
                user_id,
                ..
            })
            | Event::RepositoryAccessChanged(domain::events::RepositoryAccessChanged {
                project_id,
                user_id,
                ..
            })
            | Event::RepositoryAccessRevoked(domain::events::RepositoryAccessRevoked {
                project_id,
                user_id,
                ..
            }) => {
                reach.partial_users.push(*user_id);
                reach.partial.projects.push(*project_id);
            }
            Event::RepositoryRoleMappingChanged(e) => {
                if let Some(p) = self.state.projects.get(&e.project_id) {
                    reach.partial_users.extend(p.repo_access.keys().copied());
                }
                reach.partial.projects.push(e.project_id);
            }
            Event::CustomRoleChanged(_) | Event::CustomRoleDeleted(_) => {
                let roles = self.roles_changed(before.roles.unwrap_or_default());
                reach
                    .whole
                    .extend(self.state.users_holding(&|r| roles.contains(&r)));
            }
            _ => {}
        }
        reach
    }

    /// The roles a role edit changed (from the fingerprints `before` it),
    /// and the organization roles that grant one of them on every project.
    fn roles_changed(
        &self,
        before: FxHashMap<RoleId, (PermissionSet, Vec<RoleId>)>,
    ) -> FxHashSet<RoleId> {
        let after = self.role_fingerprint();
        let changed: FxHashSet<RoleId> = before
            .iter()
            .filter(|(r, f)| after.get(r) != Some(f))
            .map(|(r, _)| *r)
            .chain(after.keys().filter(|r| !before.contains_key(r)).copied())
            .collect();
        let mut roles = changed.clone();
        for r in self.state.roles.values() {
            if self
                .state
                .mapped_project_roles(r.id)
                .iter()
                .any(|m| changed.contains(m))
            {
                roles.insert(r.id);
            }
        }
        roles
    }

    /// Recomputes the users `reach` names and reports the differences.
    fn recompute(&mut self, org: OrgId, mut reach: Reach, changes: &mut Vec<EffectiveChange>) {
        reach.whole.sort();
        reach.whole.dedup();
        for user in reach.whole {
            self.refresh(org, user, changes);
        }
        reach.partial_users.sort();
        reach.partial_users.dedup();
        for user in reach.partial_users {
            self.refresh_partial(org, user, &reach.partial, changes);
        }
    }

    /// Each role's effective permissions and every-project roles, to see
    /// which ones a role edit changed.
    fn role_fingerprint(&self) -> FxHashMap<RoleId, (PermissionSet, Vec<RoleId>)> {
        self.state
            .roles
            .keys()
            .map(|r| {
                (
                    *r,
                    (
                        self.state.role_permissions(*r),
                        self.state.mapped_project_roles(*r).to_vec(),
                    ),
                )
            })
            .collect()
    }
}

/// Every organization's access, kept current event by event
/// ([`AccessModel::apply`]), or folded in bulk ([`AccessModel::fold`]) and
/// then recomputed once ([`AccessModel::settle`]).
#[derive(Debug, Default)]
pub struct AccessModel {
    pub orgs: FxHashMap<OrgId, OrgAccess>,
    /// Organizations folded since their last recompute: their users' access
    /// is older than their state until [`AccessModel::settle`].
    stale: FxHashSet<OrgId>,
}

impl AccessModel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one event of `org`'s stream; appends what changed to `changes`.
    // `OrgAccess::new` is not `Default`: its state holds the predefined roles.
    #[allow(clippy::unwrap_or_default)]
    pub fn apply(&mut self, org: OrgId, event: &Event, changes: &mut Vec<EffectiveChange>) {
        let access = self.orgs.entry(org).or_insert_with(OrgAccess::new);
        if self.stale.remove(&org) {
            access.recompute_all();
        }
        access.apply(org, event, changes);
    }

    /// Folds one event of `org`'s stream into its state without updating
    /// the users' access (nothing is reported): a long backlog is folded
    /// this way, then [`AccessModel::settle`] recomputes each organization
    /// once. Until then queries on `org` answer from its access before the
    /// fold; [`AccessModel::apply`] settles `org` first by itself.
    #[allow(clippy::unwrap_or_default)]
    pub fn fold(&mut self, org: OrgId, event: &Event) {
        self.orgs
            .entry(org)
            .or_insert_with(OrgAccess::new)
            .fold(event);
        self.stale.insert(org);
    }

    /// Recomputes the access of every organization folded since its last
    /// recompute.
    pub fn settle(&mut self) {
        for org in std::mem::take(&mut self.stale) {
            if let Some(access) = self.orgs.get_mut(&org) {
                access.recompute_all();
            }
        }
    }

    /// Settles `org` like [`AccessModel::settle`], its users' access
    /// computed on another thread while `alongside` runs on this one with
    /// the organization's state; `None` for an unknown organization.
    pub fn settle_org_while<R>(
        &mut self,
        org: OrgId,
        alongside: impl FnOnce(&Organization) -> R,
    ) -> Option<R> {
        let stale = self.stale.remove(&org);
        let access = self.orgs.get_mut(&org)?;
        Some(if stale {
            access.recompute_all_while(alongside)
        } else {
            alongside(&access.state)
        })
    }

    /// Whether some organization was folded and not yet settled.
    pub fn is_stale(&self) -> bool {
        !self.stale.is_empty()
    }

    pub fn org(&self, org: OrgId) -> Option<&OrgAccess> {
        self.orgs.get(&org)
    }
}

/// Every user's access at once (a recompute of the whole organization):
/// each group's grants on its projects are resolved once, not once per
/// member, and each user's projects are merged from their direct and
/// repository sources and their groups' lists. The same sets as
/// [`OrgAccess::compute`], which follows the domain's rules grant by grant
/// (the oracle tests compare the two on random histories).
struct EveryUser<'a> {
    access: &'a OrgAccess,
    /// Each group's non-empty permissions on each project it is bound to.
    group_grants: FxHashMap<GroupId, Vec<(ProjectId, PermissionSet)>>,
}

impl<'a> EveryUser<'a> {
    fn new(access: &'a OrgAccess) -> Self {
        let s = &access.state;
        let group_grants = s
            .bound_groups()
            .map(|(group, projects)| (group, s.group_project_permissions(group, projects)))
            .collect();
        EveryUser {
            access,
            group_grants,
        }
    }

    /// One user's access: organization and every-project scopes as the
    /// domain computes them; on each project the union of what the domain
    /// gives the user's own sources and their groups' bindings.
    fn compute(&self, user: UserId) -> UserAccess {
        let s = &self.access.state;
        let mut projects: FxHashMap<ProjectId, PermissionSet> = FxHashMap::default();
        let mut grant = |project: ProjectId, set: PermissionSet| {
            if !set.is_empty() {
                let held = projects.entry(project).or_insert(PermissionSet::EMPTY);
                *held = held.union(set);
            }
        };
        s.for_each_own_project_permissions(user, s.projects_of_user(user), &mut grant);
        for g in s.groups_of(user) {
            for (p, set) in self.group_grants.get(g).map_or(&[][..], Vec::as_slice) {
                grant(*p, *set);
            }
        }
        UserAccess {
            org: s.org_permissions(user),
            every_project: s.every_project_permissions(user),
            projects: projects.into(),
        }
    }

    /// [`EveryUser::compute`] for many users, split over the cores when
    /// there are enough of them to pay for the threads.
    fn compute_many(&self, users: &[UserId]) -> Vec<(UserId, UserAccess)> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads < 2 || users.len() < 2_048 {
            return users.iter().map(|u| (*u, self.compute(*u))).collect();
        }
        let chunk = users.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = users
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|u| (*u, self.compute(*u)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|p| p.join().expect("computing access"))
                .collect()
        })
    }
}
