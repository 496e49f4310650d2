//! The questions the access model answers: `check` (the hot path),
//! `explain`, `who_can` and `permissions_of`. The sources come from the
//! domain's access rules over the same state, so an explanation always
//! matches the decision.

use domain::access::BindingSource;
use domain::ids::{OrgId, ProjectId, UserId};
use domain::permissions::{Permission, Scope};
use serde::Serialize;

use super::model::{AccessModel, OrgAccess};

/// Who may do something, and through which sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    pub user_id: UserId,
    pub sources: Vec<BindingSource>,
}

/// A permission with every source that grants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Granted {
    pub permission: Permission,
    pub sources: Vec<BindingSource>,
}

impl OrgAccess {
    /// May `user` do `permission` (on `project` for project permissions)?
    #[inline]
    pub fn check(&self, user: UserId, permission: Permission, project: Option<ProjectId>) -> bool {
        let Some(u) = self.users.get(&user) else {
            return false;
        };
        match permission.scope() {
            Scope::Organization => u.org.contains(permission),
            Scope::Project => match project {
                Some(p) if self.state.projects.contains_key(&p) => {
                    u.every_project.contains(permission)
                        || u.projects.get(&p).is_some_and(|s| s.contains(permission))
                }
                _ => false,
            },
        }
    }

    /// Every path that grants `permission` to `user`; empty when denied.
    pub fn explain(
        &self,
        user: UserId,
        permission: Permission,
        project: Option<ProjectId>,
    ) -> Vec<BindingSource> {
        if !self.check(user, permission, project) {
            return Vec::new();
        }
        self.state.explain(user, permission, project)
    }

    /// The users who may do `permission` (on `project`), each with sources,
    /// ordered by user id.
    pub fn who_can(&self, permission: Permission, project: Option<ProjectId>) -> Vec<Holder> {
        self.who_can_page(permission, project, None, usize::MAX).0
    }

    /// One page of [`OrgAccess::who_can`]: the first `limit` holders whose
    /// ids come after `after`, and whether more follow.
    ///
    /// Only the page's holders are sorted and explained, so the first page
    /// of a permission everyone holds costs one pass over the users (a
    /// bit test each), not a sort and an explanation of every user (80 ms
    /// at p99 on the ×10 organization before; BENCHMARKS.md).
    pub fn who_can_page(
        &self,
        permission: Permission,
        project: Option<ProjectId>,
        after: Option<UserId>,
        limit: usize,
    ) -> (Vec<Holder>, bool) {
        let later = |u: &UserId| after.is_none_or(|a| *u > a);
        let mut users: Vec<UserId> = match (permission.scope(), project) {
            (Scope::Organization, _) => self
                .users
                .iter()
                .filter(|(u, access)| access.org.contains(permission) && later(u))
                .map(|(u, _)| *u)
                .collect(),
            (Scope::Project, Some(p)) => {
                let mut users = self.project_candidates(p);
                users.retain(later);
                users.sort_unstable();
                users.dedup();
                users.retain(|u| self.check(*u, permission, project));
                users
            }
            (Scope::Project, None) => Vec::new(),
        };
        let more = users.len() > limit;
        if more {
            users.select_nth_unstable(limit);
            users.truncate(limit);
        }
        users.sort_unstable();
        let holders = users
            .into_iter()
            .map(|u| Holder {
                user_id: u,
                sources: self.explain(u, permission, project),
            })
            .collect();
        (holders, more)
    }

    /// Every user who may hold something on `project` (a superset, in any
    /// order, with repeats): those with permissions on every project, and
    /// those of the project's own sources (direct, group and repository
    /// bindings), rather than every user of the organization.
    fn project_candidates(&self, project: ProjectId) -> Vec<UserId> {
        let mut users: Vec<UserId> = self.every_project_users.iter().copied().collect();
        users.extend(self.state.users_bound_to(project));
        users
    }

    /// The user's permissions at organization scope (no project) or on a
    /// project, each with its sources, in catalog order.
    pub fn permissions_of(&self, user: UserId, project: Option<ProjectId>) -> Vec<Granted> {
        if !self.users.contains_key(&user) {
            return Vec::new();
        }
        let grants = match project {
            None => self.state.org_grants(user),
            Some(p) if self.state.projects.contains_key(&p) => self.state.project_grants(user, p),
            Some(_) => return Vec::new(),
        };
        let scope = if project.is_some() {
            Scope::Project
        } else {
            Scope::Organization
        };
        self.state
            .permissions_with_sources(scope, &grants)
            .into_iter()
            .map(|(permission, sources)| Granted {
                permission,
                sources,
            })
            .collect()
    }
}
impl AccessModel {
    /// `check` across organizations: false for an unknown organization.
    #[inline]
    pub fn check(
        &self,
        org: OrgId,
        user: UserId,
        permission: Permission,
        project: Option<ProjectId>,
    ) -> bool {
        self.orgs
            .get(&org)
            .is_some_and(|o| o.check(user, permission, project))
    }
}
