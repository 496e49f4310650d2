//! The RBAC tables written whole from the access model, after a long backlog
//! was folded in memory (`Backlog::Rewrite`): the same rows the
//! event-by-event path leaves, each written once.
//!
//! Written for speed, because a first start or a rebuild writes millions of
//! rows: every table's rows are sorted into primary-key order and inserted
//! many per statement (B-tree pages are filled once, left to right), and the
//! secondary indexes are dropped first and built again at the end by one
//! sort each. All of it inside the caller's transaction: a crash leaves the
//! old tables and the old checkpoint.

use domain::access::{BindingSource, RecordedBinding};
use domain::ids::OrgId;
use domain::state::UserKind;
use infra::sqlite::bulk::{bind, insert_many, ROWS_PER_STATEMENT};
use rusqlite::Transaction;

use super::{
    effective_key, mask_columns, put_role, scope_columns, subject_key, tables, EffectiveChange,
};
use crate::access::{OrgAccess, Scope, SharedAccessModel};
use domain::Organization;

/// The tables holding an organization's rows.
const ORG_TABLES: &[&str] = &[
    "rbac_users",
    "rbac_groups",
    "rbac_group_members",
    "rbac_roles",
    "rbac_role_permissions",
    "rbac_role_inherits",
    "rbac_projects",
    "rbac_role_bindings",
];

/// The secondary indexes, dropped during the rewrite (`tables()` creates
/// them again).
const SECONDARY_INDEXES: &[&str] = &[
    "rbac_group_members_by_user",
    "rbac_role_bindings_by_project",
];

/// Replaces every organization's rows with the model's state. An
/// organization folded since its last recompute is settled on another core
/// while its state's tables are written; the model is locked for writing
/// only that long, and for reading while the effective permissions are
/// written.
pub(crate) fn rewrite_all(tx: &Transaction, model: &SharedAccessModel) -> rusqlite::Result<()> {
    for index in SECONDARY_INDEXES {
        tx.execute_batch(&format!("DROP INDEX IF EXISTS {index}"))?;
    }
    let mut writing = model.write();
    let mut orgs: Vec<OrgId> = writing.orgs.keys().copied().collect();
    orgs.sort();
    for org in &orgs {
        delete_org(tx, *org)?;
        writing
            .settle_org_while(*org, |state| write_state(tx, *org, state))
            .expect("listed")?;
    }
    let reading = parking_lot::RwLockWriteGuard::downgrade(writing);
    for org in &orgs {
        write_effective(tx, *org, reading.org(*org).expect("listed"))?;
    }
    drop(reading);
    for sql in tables() {
        tx.execute_batch(sql)?;
    }
    Ok(())
}

/// Deletes all of one organization's rows.
fn delete_org(tx: &Transaction, org: OrgId) -> rusqlite::Result<()> {
    let org_text = org.to_string();
    for table in ORG_TABLES {
        tx.execute(
            &format!("DELETE FROM {table} WHERE org_id = ?1"),
            [org_text.as_str()],
        )?;
    }
    tx.execute(
        "DELETE FROM rbac_effective_permissions WHERE org_id = ?1",
        [&org.0.as_bytes()[..]],
    )?;
    Ok(())
}

/// A binding row: subject, project ('' for organization scope), source,
/// role, repository access level.
type BindingRow = (String, String, &'static str, String, Option<&'static str>);

/// Writes one organization's users, groups and members, roles, projects
/// and recorded bindings from its state (tables emptied for them).
fn write_state(tx: &Transaction, org: OrgId, s: &Organization) -> rusqlite::Result<()> {
    if !s.exists() {
        return Ok(());
    }
    let org_text = org.to_string();
    let org_key = org_text.as_str();
    let mut users: Vec<_> = s.users.values().collect();
    users.sort_unstable_by_key(|u| u.id);
    insert_many(
        tx,
        "rbac_users (org_id, user_id, username, email, kind)",
        5,
        "",
        &users,
        |stmt, at, u| {
            let kind = match u.kind {
                UserKind::Person => "person",
                UserKind::ServiceAccount => "service_account",
            };
            bind(
                stmt,
                at,
                &[&org_key, &u.id.to_string(), &u.username, &u.email, &kind],
            )
        },
    )?;

    let mut groups: Vec<_> = s.groups.values().collect();
    groups.sort_unstable_by_key(|g| g.id);
    insert_many(
        tx,
        "rbac_groups (org_id, group_id, name, description, role_id)",
        5,
        "",
        &groups,
        |stmt, at, g| {
            let role = g.role.map(|r| r.to_string());
            bind(
                stmt,
                at,
                &[&org_key, &g.id.to_string(), &g.name, &g.description, &role],
            )
        },
    )?;
    // Groups by id, each group's members by id: primary-key order.
    let members: Vec<(String, String)> = groups
        .iter()
        .flat_map(|g| {
            let group = g.id.to_string();
            g.members
                .iter()
                .map(move |m| (group.clone(), m.to_string()))
        })
        .collect();
    insert_many(
        tx,
        "rbac_group_members (org_id, group_id, user_id)",
        3,
        "",
        &members,
        |stmt, at, (g, u)| bind(stmt, at, &[&org_key, g, u]),
    )?;

    let mut roles: Vec<_> = s.roles.values().collect();
    roles.sort_unstable_by_key(|r| r.id);
    for r in roles {
        put_role(tx, org_key, r)?;
    }

    let mut projects: Vec<_> = s.projects.values().collect();
    projects.sort_unstable_by_key(|p| p.id);
    insert_many(
        tx,
        "rbac_projects (org_id, project_id, name, owner_id)",
        4,
        "",
        &projects,
        |stmt, at, p| {
            bind(
                stmt,
                at,
                &[&org_key, &p.id.to_string(), &p.name, &p.owner.to_string()],
            )
        },
    )?;
    let mut bindings: Vec<BindingRow> = s.recorded_bindings().map(binding_row).collect();
    bindings.sort_unstable_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
    insert_many(
        tx,
        "rbac_role_bindings (org_id, subject, project_id, source, role_id, access)",
        6,
        "",
        &bindings,
        |stmt, at, (subject, project, source, role, level)| {
            bind(stmt, at, &[&org_key, subject, project, source, role, level])
        },
    )?;
    Ok(())
}

/// Writes one organization's effective permissions from its users' access:
/// users by id, each user's rows in scope and project order (the primary
/// key's), so the rows stream into the table without a sort of them all.
fn write_effective(tx: &Transaction, org: OrgId, access: &OrgAccess) -> rusqlite::Result<()> {
    let mut users: Vec<_> = access.users.iter().collect();
    users.sort_unstable_by_key(|(u, _)| **u);
    let rows = users.into_iter().flat_map(|(user, a)| {
        let mut projects: Vec<_> = a.projects.iter().map(|(p, set)| (*p, *set)).collect();
        projects.sort_unstable_by_key(|(p, _)| *p);
        [
            (Scope::Organization, a.org),
            (Scope::EveryProject, a.every_project),
        ]
        .into_iter()
        .chain(
            projects
                .into_iter()
                .map(|(p, set)| (Scope::Project(p), set)),
        )
        .filter(|(_, set)| !set.is_empty())
        .map(move |(scope, set)| EffectiveChange {
            org,
            user: *user,
            scope,
            permissions: Some(set),
        })
    });
    let mut chunk = Vec::with_capacity(ROWS_PER_STATEMENT);
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        chunk.clear();
        chunk.extend(rows.by_ref().take(ROWS_PER_STATEMENT));
        debug_assert!(chunk.is_sorted_by_key(effective_key));
        insert_many(
            tx,
            "rbac_effective_permissions (org_id, user_id, scope, project_id, mask_lo, mask_hi)",
            6,
            "",
            &chunk,
            |stmt, at, c| {
                let (scope, project) = scope_columns(&c.scope);
                let (lo, hi) = mask_columns(c.permissions.unwrap_or_default());
                bind(
                    stmt,
                    at,
                    &[
                        &&c.org.0.as_bytes()[..],
                        &&c.user.0.as_bytes()[..],
                        &scope,
                        &project,
                        &lo,
                        &hi,
                    ],
                )
            },
        )?;
    }
    Ok(())
}

fn binding_row(b: RecordedBinding) -> BindingRow {
    let access = match b.source {
        BindingSource::Repository { access, .. } => Some(access.as_str()),
        _ => None,
    };
    (
        subject_key(&b.subject),
        b.project.map(|p| p.to_string()).unwrap_or_default(),
        b.source.via(),
        b.source.role().to_string(),
        access,
    )
}
