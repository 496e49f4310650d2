//! The RBAC tables in SQL (`tables/*.sql`): users, groups and members, roles
//! with their permissions and inheritance, projects, recorded role bindings
//! with their source, and each user's effective permissions per scope.
//!
//! The projection also keeps the shared in-memory access model current: the
//! model decides which effective permissions changed, and only those rows
//! are written.

use domain::events::Event;
use domain::ids::{OrgId, ProjectId, Subject, UserId};
use domain::permissions::PermissionSet;
use rusqlite::{params, Connection, Transaction};

mod rewrite;
pub mod rows;

pub use rows::{repository_mapping_before, RowChange};

use crate::access::{EffectiveChange, Scope, SharedAccessModel};
use crate::runner::{Decoded, Projection, ProjectionError};
use infra::sqlite::migrations::{self, Migration};

/// The RBAC tables' migrations, one per file of `tables/` (each creates
/// its table and indexes if missing, so that data dirs from before
/// versions were recorded are adopted).
const MIGRATIONS: &[Migration] = &[
    (1, "users", include_str!("tables/users.sql")),
    (2, "groups", include_str!("tables/groups.sql")),
    (3, "group_members", include_str!("tables/group_members.sql")),
    (4, "roles", include_str!("tables/roles.sql")),
    (5, "projects", include_str!("tables/projects.sql")),
    (6, "role_bindings", include_str!("tables/role_bindings.sql")),
    (
        7,
        "effective_permissions",
        include_str!("tables/effective_permissions.sql"),
    ),
];

/// Each table's SQL, to build again the indexes a rewrite drops.
pub(crate) fn tables() -> impl Iterator<Item = &'static str> {
    MIGRATIONS.iter().map(|(_, _, sql)| *sql)
}

/// Events applied to the shared model per write lock, so that queries are
/// never blocked for a whole batch.
pub(crate) const LOCK_CHUNK: usize = 256;

/// The RBAC projection. Fails (stops) on an event of an unknown stream.
pub struct RbacProjection {
    model: SharedAccessModel,
}

impl RbacProjection {
    pub fn new(model: SharedAccessModel) -> Self {
        RbacProjection { model }
    }
}

pub(crate) fn org_id(d: &Decoded) -> Result<OrgId, ProjectionError> {
    OrgId::of_stream(&d.record.stream_id).ok_or_else(|| ProjectionError::Event {
        position: d.record.global_position,
        reason: format!("stream {} is not an organization's", d.record.stream_id),
    })
}

pub(crate) fn subject_key(s: &Subject) -> String {
    s.to_string()
}

impl Projection for RbacProjection {
    fn name(&self) -> &'static str {
        "rbac"
    }

    fn migrate(&mut self, conn: &Connection) -> Result<(), ProjectionError> {
        migrations::migrate(conn, "rbac", MIGRATIONS)?;
        let mut catalog = conn.prepare(
            "INSERT OR REPLACE INTO rbac_permission_catalog (bit, name, scope) VALUES (?1, ?2, ?3)",
        )?;
        for p in domain::permissions::Permission::all() {
            catalog.execute(params![p.index() as i64, p.name(), p.scope().as_str()])?;
        }
        Ok(())
    }

    fn needs_warm_up(&self) -> bool {
        true
    }

    /// Folds the events into the model's state alone (see
    /// [`crate::access::AccessModel::fold`]); [`Projection::warmed`], or the
    /// next `apply` or `rewrite`, recomputes the users' access once.
    fn warm(&mut self, events: &[Decoded]) -> Result<(), ProjectionError> {
        fold_into(&self.model, events)
    }

    fn detached(&self) -> Option<Self> {
        Some(RbacProjection::new(SharedAccessModel::default()))
    }

    /// Swaps the copy's model into the shared one, under one write lock.
    fn adopt(&mut self, copy: Self) {
        let mut theirs = std::mem::take(&mut *copy.model.write());
        std::mem::swap(&mut *self.model.write(), &mut theirs);
    }

    fn warmed(&mut self) -> Result<(), ProjectionError> {
        self.model.write().settle();
        Ok(())
    }

    fn backlog(&self) -> crate::runner::Backlog {
        crate::runner::Backlog::Rewrite
    }

    /// Writes every table of every organization from the model (a long
    /// backlog was folded by `warm`, and is settled here): the same rows the
    /// event-by-event path writes, each once, in key order.
    fn rewrite(&mut self, tx: &Transaction) -> Result<(), ProjectionError> {
        rewrite::rewrite_all(tx, &self.model)?;
        Ok(())
    }

    fn apply(&mut self, tx: &Transaction, events: &[Decoded]) -> Result<(), ProjectionError> {
        let mut changes = Vec::new();
        let mut rows = Vec::new();
        let mut mappings = Vec::with_capacity(LOCK_CHUNK);
        for chunk in events.chunks(LOCK_CHUNK) {
            // The rows are written after the model's lock is released, so
            // SQLite never holds up the queries.
            apply_chunk(&self.model, chunk, &mut mappings, &mut changes)?;
            for (d, mapping) in chunk.iter().zip(&mappings) {
                write_event(tx, org_id(d)?, &d.event, *mapping, &mut rows).map_err(|e| {
                    ProjectionError::Event {
                        position: d.record.global_position,
                        reason: e.to_string(),
                    }
                })?;
            }
        }
        // The effective rows are written once for the whole batch (same
        // transaction, so the same result): each row once, with its last
        // value, in key order (neighbouring rows share B-tree pages).
        write_effective(tx, last_change_of_each_row(changes.iter().map(|(_, c)| c)))?;
        Ok(())
    }
}

/// Folds `events` into the model's state alone (see
/// [`crate::access::AccessModel::fold`]), [`LOCK_CHUNK`] events per write
/// lock; a `settle` (or the next apply) recomputes the users' access once.
pub(crate) fn fold_into(
    model: &SharedAccessModel,
    events: &[Decoded],
) -> Result<(), ProjectionError> {
    for chunk in events.chunks(LOCK_CHUNK) {
        let mut model = model.write();
        for d in chunk {
            model.fold(org_id(d)?, &d.event);
        }
    }
    Ok(())
}

/// Applies `chunk` (at most [`LOCK_CHUNK`] events) to the model under one
/// write lock. Sets `mappings` to the one thing the rows of each event need
/// from the state before it (the project's repository mapping, see
/// [`repository_mapping_before`]) and appends to `changes` the effective
/// permissions each event changed, with its position.
pub(crate) fn apply_chunk(
    model: &SharedAccessModel,
    chunk: &[Decoded],
    mappings: &mut Vec<Option<domain::roles::RepoRoleMapping>>,
    changes: &mut Vec<(u64, EffectiveChange)>,
) -> Result<(), ProjectionError> {
    mappings.clear();
    let mut changed = Vec::new();
    let mut model = model.write();
    for d in chunk {
        let org = org_id(d)?;
        mappings.push(repository_mapping_before(
            model.org(org).map(|o| &o.state),
            &d.event,
        ));
        model.apply(org, &d.event, &mut changed);
        let position = d.record.global_position;
        changes.extend(changed.drain(..).map(|c| (position, c)));
    }
    Ok(())
}

/// Each effective row once, with its last value (the changes in event
/// order; a stable sort keeps one row's changes in that order), in the
/// table's key order (neighbouring rows share B-tree pages).
pub(crate) fn last_change_of_each_row<'a>(
    changes: impl Iterator<Item = &'a EffectiveChange>,
) -> Vec<&'a EffectiveChange> {
    let mut changes: Vec<&EffectiveChange> = changes.collect();
    changes.sort_by_key(|c| effective_key(c));
    changes.dedup_by(|next, kept| {
        let same = effective_key(next) == effective_key(kept);
        if same {
            *kept = *next;
        }
        same
    });
    changes
}

/// The primary-key order of `rbac_effective_permissions` (org, user, scope,
/// project: UUID bytes compare like the ids).
pub(crate) fn effective_key(c: &EffectiveChange) -> (OrgId, UserId, u8, Option<ProjectId>) {
    let (rank, project) = match c.scope {
        Scope::Organization => (0, None),
        Scope::EveryProject => (1, None),
        Scope::Project(p) => (2, Some(p)),
    };
    (c.org, c.user, rank, project)
}

/// Writes the last value of each changed row ([`last_change_of_each_row`]).
fn write_effective(tx: &Transaction, last_of_each: Vec<&EffectiveChange>) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO rbac_effective_permissions (org_id, user_id, scope, project_id, mask_lo, mask_hi)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (org_id, user_id, scope, project_id)
         DO UPDATE SET mask_lo = excluded.mask_lo, mask_hi = excluded.mask_hi",
    )?;
    let mut delete = tx.prepare_cached(
        "DELETE FROM rbac_effective_permissions WHERE org_id = ?1 AND user_id = ?2 AND scope = ?3 AND project_id = ?4",
    )?;
    for c in last_of_each {
        let (scope, project) = scope_columns(&c.scope);
        let (org, user) = (c.org.0.as_bytes(), c.user.0.as_bytes());
        match c.permissions {
            Some(set) => {
                let (lo, hi) = mask_columns(set);
                upsert.execute(params![&org[..], &user[..], scope, project, lo, hi])?
            }
            None => delete.execute(params![&org[..], &user[..], scope, project])?,
        };
    }
    Ok(())
}

/// A scope as the table's `scope` and `project_id` columns.
fn scope_columns(scope: &Scope) -> (i64, &[u8]) {
    match scope {
        Scope::Organization => (0, &[]),
        Scope::EveryProject => (1, &[]),
        Scope::Project(p) => (2, p.0.as_bytes()),
    }
}

/// A permission set as the table's two 64-bit columns.
pub fn mask_columns(set: PermissionSet) -> (i64, i64) {
    let bits = set.bits();
    (bits as u64 as i64, (bits >> 64) as u64 as i64)
}

/// The set stored in the table's two 64-bit columns.
pub fn mask_set(lo: i64, hi: i64) -> PermissionSet {
    PermissionSet::from_bits((lo as u64 as u128) | ((hi as u64 as u128) << 64))
}

pub(crate) fn put_role(
    tx: &Transaction,
    org: &str,
    role: &domain::roles::Role,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO rbac_roles (org_id, role_id, name, scope, description, predefined, project_role_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (org_id, role_id) DO UPDATE SET name = excluded.name, description = excluded.description,
             project_role_id = excluded.project_role_id",
    )?
    .execute(params![
        org,
        role.id.to_string(),
        role.name,
        role.scope.as_str(),
        role.description,
        role.predefined,
        role.project_role.map(|r| r.to_string())
    ])?;
    let id = role.id.to_string();
    tx.prepare_cached("DELETE FROM rbac_role_permissions WHERE org_id = ?1 AND role_id = ?2")?
        .execute(params![org, id])?;
    tx.prepare_cached("DELETE FROM rbac_role_inherits WHERE org_id = ?1 AND role_id = ?2")?
        .execute(params![org, id])?;
    let mut perm = tx.prepare_cached(
        "INSERT INTO rbac_role_permissions (org_id, role_id, permission) VALUES (?1, ?2, ?3)",
    )?;
    for p in role.permissions.iter() {
        perm.execute(params![org, id, p.name()])?;
    }
    let mut inherit = tx.prepare_cached(
        "INSERT INTO rbac_role_inherits (org_id, role_id, inherits_id) VALUES (?1, ?2, ?3)",
    )?;
    for r in &role.inherits {
        inherit.execute(params![org, id, r.to_string()])?;
    }
    Ok(())
}

/// Writes the recorded rows one event changes ([`rows::row_changes`]).
/// `mapping_before` is the project's repository mapping before a
/// repository-access event.
fn write_event(
    tx: &Transaction,
    org: OrgId,
    event: &Event,
    mapping_before: Option<domain::roles::RepoRoleMapping>,
    changes: &mut Vec<RowChange>,
) -> rusqlite::Result<()> {
    changes.clear();
    rows::row_changes(event, mapping_before, changes);
    let o = org.to_string();
    for change in changes.drain(..) {
        write_change(tx, &o, change)?;
    }
    Ok(())
}

/// Writes one row change of organization `org` (its id as text).
fn write_change(tx: &Transaction, org: &str, change: RowChange) -> rusqlite::Result<()> {
    match change {
        RowChange::PutRole(role) => put_role(tx, org, &role)?,
        RowChange::DeleteRole(role) => {
            let r = role.to_string();
            for table in ["rbac_roles", "rbac_role_permissions", "rbac_role_inherits"] {
                tx.prepare_cached(&format!(
                    "DELETE FROM {table} WHERE org_id = ?1 AND role_id = ?2"
                ))?
                .execute(params![org, r])?;
            }
        }
        RowChange::PutUser {
            user,
            username,
            email,
            kind,
        } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO rbac_users (org_id, user_id, username, email, kind) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![org, user.to_string(), username, email, kind])?;
        }
        RowChange::DeleteUser(user) => {
            let id = user.to_string();
            tx.prepare_cached("DELETE FROM rbac_users WHERE org_id = ?1 AND user_id = ?2")?
                .execute(params![org, id])?;
            tx.prepare_cached("DELETE FROM rbac_group_members WHERE org_id = ?1 AND user_id = ?2")?
                .execute(params![org, id])?;
            tx.prepare_cached("DELETE FROM rbac_role_bindings WHERE org_id = ?1 AND subject = ?2")?
                .execute(params![org, subject_key(&Subject::User(user))])?;
        }
        RowChange::PutGroup {
            group,
            name,
            description,
            role,
        } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO rbac_groups (org_id, group_id, name, description, role_id) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![org, group.to_string(), name, description, role.to_string()])?;
        }
        RowChange::ChangeGroup {
            group,
            name,
            description,
        } => {
            tx.prepare_cached(
                "UPDATE rbac_groups SET name = COALESCE(?3, name), description = COALESCE(?4, description)
                 WHERE org_id = ?1 AND group_id = ?2",
            )?
            .execute(params![org, group.to_string(), name, description])?;
        }
        RowChange::SetGroupRole { group, role } => {
            tx.prepare_cached(
                "UPDATE rbac_groups SET role_id = ?3 WHERE org_id = ?1 AND group_id = ?2",
            )?
            .execute(params![org, group.to_string(), role.map(|r| r.to_string())])?;
        }
        RowChange::DeleteGroup(group) => {
            let g = group.to_string();
            tx.prepare_cached("DELETE FROM rbac_groups WHERE org_id = ?1 AND group_id = ?2")?
                .execute(params![org, g])?;
            tx.prepare_cached(
                "DELETE FROM rbac_group_members WHERE org_id = ?1 AND group_id = ?2",
            )?
            .execute(params![org, g])?;
            tx.prepare_cached("DELETE FROM rbac_role_bindings WHERE org_id = ?1 AND subject = ?2")?
                .execute(params![org, subject_key(&Subject::Group(group))])?;
        }
        RowChange::AddMember { group, user } => {
            tx.prepare_cached("INSERT OR IGNORE INTO rbac_group_members (org_id, group_id, user_id) VALUES (?1, ?2, ?3)")?
                .execute(params![org, group.to_string(), user.to_string()])?;
        }
        RowChange::RemoveMember { group, user } => {
            tx.prepare_cached("DELETE FROM rbac_group_members WHERE org_id = ?1 AND group_id = ?2 AND user_id = ?3")?
                .execute(params![org, group.to_string(), user.to_string()])?;
        }
        RowChange::PutProject {
            project,
            name,
            owner,
        } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO rbac_projects (org_id, project_id, name, owner_id) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![org, project.to_string(), name, owner.to_string()])?;
        }
        RowChange::SetOwner { project, owner } => {
            tx.prepare_cached(
                "UPDATE rbac_projects SET owner_id = ?3 WHERE org_id = ?1 AND project_id = ?2",
            )?
            .execute(params![org, project.to_string(), owner.to_string()])?;
        }
        RowChange::DeleteProject(project) => {
            let p = project.to_string();
            tx.prepare_cached("DELETE FROM rbac_projects WHERE org_id = ?1 AND project_id = ?2")?
                .execute(params![org, p])?;
            tx.prepare_cached(
                "DELETE FROM rbac_role_bindings WHERE org_id = ?1 AND project_id = ?2",
            )?
            .execute(params![org, p])?;
        }
        RowChange::PutBinding {
            subject,
            project,
            source,
            role,
            access,
        } => {
            tx.prepare_cached(
                "INSERT INTO rbac_role_bindings (org_id, subject, project_id, source, role_id, access)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (org_id, subject, project_id, source) DO UPDATE SET role_id = excluded.role_id, access = excluded.access",
            )?
            .execute(params![
                org,
                subject_key(&subject),
                rows::project_key(project),
                source,
                role.to_string(),
                access
            ])?;
        }
        RowChange::DeleteBinding {
            subject,
            project,
            source,
        } => {
            tx.prepare_cached(
                "DELETE FROM rbac_role_bindings WHERE org_id = ?1 AND subject = ?2 AND project_id = ?3 AND source = ?4",
            )?
            .execute(params![org, subject_key(&subject), rows::project_key(project), source])?;
        }
        RowChange::RemapRepository {
            project,
            access,
            role,
        } => {
            tx.prepare_cached(
                "UPDATE rbac_role_bindings SET role_id = ?3
                 WHERE org_id = ?1 AND project_id = ?2 AND source = 'repository' AND access = ?4",
            )?
            .execute(params![org, project.to_string(), role.to_string(), access])?;
        }
    }
    Ok(())
}
