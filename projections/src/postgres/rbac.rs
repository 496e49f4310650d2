//! The RBAC tables in PostgreSQL (`rbac_tables.sql`): the embedded tables'
//! rows, from the same row changes (`crate::rbac::rows`) and the same
//! access model, which this projection keeps current in memory for checks.

use async_trait::async_trait;
use domain::ids::{OrgId, Subject};
use sqlx::PgConnection;
use uuid::Uuid;

use super::runner::PgProjection;
use crate::access::{EffectiveChange, Scope, SharedAccessModel};
use crate::rbac::rows::{project_key, row_changes, RowChange};
use crate::rbac::{
    apply_chunk, fold_into, last_change_of_each_row, mask_columns, org_id, subject_key, LOCK_CHUNK,
};
use crate::runner::{Decoded, ProjectionError};
use infra::postgres::migrations::Migration;

/// The tables' migrations (component `rbac`).
const MIGRATIONS: &[Migration] = &[(1, "rbac_tables", include_str!("rbac_tables.sql"))];

/// Effective rows per `UNNEST` statement.
const ROWS_PER_STATEMENT: usize = 5_000;

/// The RBAC projection on PostgreSQL (checkpoint name `rbac`): writes the
/// tables and keeps the shared access model current, like
/// [`crate::rbac::RbacProjection`] does on the embedded database.
pub struct PgRbacProjection {
    model: SharedAccessModel,
}

impl PgRbacProjection {
    pub fn new(model: SharedAccessModel) -> Self {
        PgRbacProjection { model }
    }
}

/// A page's rows: each recorded-row change and each effective change with
/// its event's position.
#[derive(Default)]
pub struct RbacRows {
    recorded: Vec<(u64, OrgId, RowChange)>,
    effective: Vec<(u64, EffectiveChange)>,
}

#[async_trait]
impl PgProjection for PgRbacProjection {
    type Rows = RbacRows;

    fn name(&self) -> &'static str {
        "rbac"
    }

    fn migrations(&self) -> (&'static str, &'static [Migration]) {
        ("rbac", MIGRATIONS)
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "rbac_users",
            "rbac_groups",
            "rbac_group_members",
            "rbac_roles",
            "rbac_role_permissions",
            "rbac_role_inherits",
            "rbac_projects",
            "rbac_role_bindings",
            "rbac_effective_permissions",
            "rbac_permission_catalog",
        ]
    }

    async fn seed(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        let all: Vec<_> = domain::permissions::Permission::all().collect();
        sqlx::query(
            "INSERT INTO rbac_permission_catalog (bit, name, scope)
             SELECT * FROM UNNEST($1::int[], $2::text[], $3::text[])
             ON CONFLICT (bit) DO UPDATE SET name = excluded.name, scope = excluded.scope",
        )
        .bind(all.iter().map(|p| p.index() as i32).collect::<Vec<_>>())
        .bind(all.iter().map(|p| p.name()).collect::<Vec<_>>())
        .bind(all.iter().map(|p| p.scope().as_str()).collect::<Vec<_>>())
        .execute(conn)
        .await?;
        Ok(())
    }

    fn warm(&mut self, events: &[Decoded]) -> Result<(), ProjectionError> {
        fold_into(&self.model, events)
    }

    fn warmed(&mut self) -> Result<(), ProjectionError> {
        self.model.write().settle();
        Ok(())
    }

    fn prepare(&mut self, events: &[Decoded]) -> Result<RbacRows, ProjectionError> {
        let mut rows = RbacRows::default();
        let mut mappings = Vec::with_capacity(LOCK_CHUNK);
        let mut row_buffer = Vec::new();
        for chunk in events.chunks(LOCK_CHUNK) {
            apply_chunk(&self.model, chunk, &mut mappings, &mut rows.effective)?;
            for (d, mapping) in chunk.iter().zip(&mappings) {
                let (org, position) = (org_id(d)?, d.record.global_position);
                row_changes(&d.event, *mapping, &mut row_buffer);
                rows.recorded
                    .extend(row_buffer.drain(..).map(|c| (position, org, c)));
            }
        }
        Ok(rows)
    }

    async fn write(
        conn: &mut PgConnection,
        rows: &RbacRows,
        after: u64,
    ) -> Result<(), ProjectionError> {
        // Consecutive changes of one kind (people invited, members added,
        // bindings set) go in one statement each: row by row, a catch-up
        // of the 1,000 organizations' 590,153 events took a minute.
        let mut run: Option<Run> = None;
        for (_, org, change) in rows.recorded.iter().filter(|(p, _, _)| *p > after) {
            let org = org.to_string();
            match batched(&org, change) {
                Some((sql, key, row)) => {
                    if run
                        .as_ref()
                        .is_some_and(|r| r.sql != sql || r.rows.len() >= ROWS_PER_STATEMENT)
                    {
                        write_run(conn, run.take()).await?;
                    }
                    run.get_or_insert_with(|| Run {
                        sql,
                        key,
                        rows: Vec::new(),
                    })
                    .rows
                    .push(row);
                }
                None => {
                    write_run(conn, run.take()).await?;
                    write_change(conn, &org, change).await?;
                }
            }
        }
        write_run(conn, run.take()).await?;
        let effective = last_change_of_each_row(
            rows.effective
                .iter()
                .filter(|(p, _)| *p > after)
                .map(|(_, c)| c),
        );
        let (upserts, deletes): (Vec<_>, Vec<_>) =
            effective.into_iter().partition(|c| c.permissions.is_some());
        for chunk in upserts.chunks(ROWS_PER_STATEMENT) {
            let masks: Vec<(i64, i64)> = chunk
                .iter()
                .map(|c| mask_columns(c.permissions.unwrap_or_default()))
                .collect();
            sqlx::query(
                "INSERT INTO rbac_effective_permissions (org_id, user_id, scope, project_id, mask_lo, mask_hi)
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::smallint[], $4::uuid[], $5::bigint[], $6::bigint[])
                 ON CONFLICT (org_id, user_id, scope, project_id)
                 DO UPDATE SET mask_lo = excluded.mask_lo, mask_hi = excluded.mask_hi",
            )
            .bind(chunk.iter().map(|c| c.org.0).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| c.user.0).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| scope_columns(&c.scope).0).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| scope_columns(&c.scope).1).collect::<Vec<_>>())
            .bind(masks.iter().map(|m| m.0).collect::<Vec<_>>())
            .bind(masks.iter().map(|m| m.1).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        for chunk in deletes.chunks(ROWS_PER_STATEMENT) {
            sqlx::query(
                "DELETE FROM rbac_effective_permissions e
                 USING UNNEST($1::uuid[], $2::uuid[], $3::smallint[], $4::uuid[]) AS d(org_id, user_id, scope, project_id)
                 WHERE e.org_id = d.org_id AND e.user_id = d.user_id AND e.scope = d.scope
                   AND e.project_id = d.project_id",
            )
            .bind(chunk.iter().map(|c| c.org.0).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| c.user.0).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| scope_columns(&c.scope).0).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| scope_columns(&c.scope).1).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// A scope as the table's `scope` and `project_id` columns (the nil UUID
/// unless one project).
fn scope_columns(scope: &Scope) -> (i16, Uuid) {
    match scope {
        Scope::Organization => (0, Uuid::nil()),
        Scope::EveryProject => (1, Uuid::nil()),
        Scope::Project(p) => (2, p.0),
    }
}

/// Consecutive row changes of one kind, for one statement: `sql` takes
/// one text array per column; the first `key` columns are the row's key.
struct Run {
    sql: &'static str,
    key: usize,
    rows: Vec<Vec<Option<String>>>,
}

/// The statement, key length and text columns of a change that is
/// written together with its neighbours of the same kind; `None` for the
/// rarer kinds, written one by one ([`write_change`]).
fn batched(org: &str, change: &RowChange) -> Option<(&'static str, usize, Vec<Option<String>>)> {
    let o = Some(org.to_string());
    let text = |s: &str| Some(s.to_string());
    Some(match change {
        RowChange::PutUser {
            user,
            username,
            email,
            kind,
        } => (
            "INSERT INTO rbac_users (org_id, user_id, username, email, kind)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
             ON CONFLICT (org_id, user_id) DO UPDATE SET username = excluded.username,
                 email = excluded.email, kind = excluded.kind",
            2,
            vec![o, Some(user.to_string()), text(username), email.clone(), text(kind)],
        ),
        RowChange::AddMember { group, user } => (
            "INSERT INTO rbac_group_members (org_id, group_id, user_id)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[])
             ON CONFLICT DO NOTHING",
            3,
            vec![o, Some(group.to_string()), Some(user.to_string())],
        ),
        RowChange::RemoveMember { group, user } => (
            "DELETE FROM rbac_group_members m
             USING UNNEST($1::text[], $2::text[], $3::text[]) AS d(org_id, group_id, user_id)
             WHERE m.org_id = d.org_id AND m.group_id = d.group_id AND m.user_id = d.user_id",
            3,
            vec![o, Some(group.to_string()), Some(user.to_string())],
        ),
        RowChange::PutBinding {
            subject,
            project,
            source,
            role,
            access,
        } => (
            "INSERT INTO rbac_role_bindings (org_id, subject, project_id, source, role_id, access)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
             ON CONFLICT (org_id, subject, project_id, source)
             DO UPDATE SET role_id = excluded.role_id, access = excluded.access",
            4,
            vec![
                o,
                Some(subject_key(subject)),
                Some(project_key(*project)),
                text(source),
                Some(role.to_string()),
                access.map(str::to_string),
            ],
        ),
        RowChange::DeleteBinding {
            subject,
            project,
            source,
        } => (
            "DELETE FROM rbac_role_bindings b
             USING UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS d(org_id, subject, project_id, source)
             WHERE b.org_id = d.org_id AND b.subject = d.subject AND b.project_id = d.project_id
               AND b.source = d.source",
            4,
            vec![
                o,
                Some(subject_key(subject)),
                Some(project_key(*project)),
                text(source),
            ],
        ),
        _ => return None,
    })
}

/// Writes a run in one statement. Of changes to one key, the last one
/// is kept, as writing them one by one would leave it (an upsert may not
/// touch a row twice in one statement).
async fn write_run(conn: &mut PgConnection, run: Option<Run>) -> Result<(), sqlx::Error> {
    let Some(run) = run else {
        return Ok(());
    };
    let mut seen = std::collections::HashSet::new();
    let mut rows: Vec<Vec<Option<String>>> = run
        .rows
        .into_iter()
        .rev()
        .filter(|row| seen.insert(row[..run.key].to_vec()))
        .collect();
    rows.reverse();
    let mut q = sqlx::query(run.sql);
    for column in 0..rows[0].len() {
        q = q.bind(
            rows.iter()
                .map(|row| row[column].clone())
                .collect::<Vec<_>>(),
        );
    }
    q.execute(conn).await?;
    Ok(())
}

/// Runs `sql` with text parameters `binds` (`None` binds NULL).
async fn exec(
    conn: &mut PgConnection,
    sql: &'static str,
    binds: &[Option<&str>],
) -> Result<(), sqlx::Error> {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.execute(conn).await?;
    Ok(())
}

/// Writes one row change of organization `org` (its id as text): the same
/// rows as the embedded tables' `write_change` (the kinds [`batched`]
/// knows through their statement, one row long).
async fn write_change(
    conn: &mut PgConnection,
    org: &str,
    change: &RowChange,
) -> Result<(), sqlx::Error> {
    let o = Some(org);
    match change {
        RowChange::PutRole(role) => {
            let id = role.id.to_string();
            let project_role = role.project_role.map(|r| r.to_string());
            sqlx::query(
                "INSERT INTO rbac_roles (org_id, role_id, name, scope, description, predefined, project_role_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (org_id, role_id) DO UPDATE SET name = excluded.name,
                     description = excluded.description, project_role_id = excluded.project_role_id",
            )
            .bind(org)
            .bind(&id)
            .bind(&role.name)
            .bind(role.scope.as_str())
            .bind(&role.description)
            .bind(role.predefined)
            .bind(project_role)
            .execute(&mut *conn)
            .await?;
            for table in ["rbac_role_permissions", "rbac_role_inherits"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE org_id = $1 AND role_id = $2"
                ))
                .bind(org)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
            }
            sqlx::query(
                "INSERT INTO rbac_role_permissions (org_id, role_id, permission)
                 SELECT $1, $2, p FROM UNNEST($3::text[]) AS p",
            )
            .bind(org)
            .bind(&id)
            .bind(role.permissions.iter().map(|p| p.name()).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO rbac_role_inherits (org_id, role_id, inherits_id)
                 SELECT $1, $2, r FROM UNNEST($3::text[]) AS r",
            )
            .bind(org)
            .bind(&id)
            .bind(role.inherits.iter().map(|r| r.to_string()).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        RowChange::DeleteRole(role) => {
            let r = role.to_string();
            for sql in [
                "DELETE FROM rbac_roles WHERE org_id = $1 AND role_id = $2",
                "DELETE FROM rbac_role_permissions WHERE org_id = $1 AND role_id = $2",
                "DELETE FROM rbac_role_inherits WHERE org_id = $1 AND role_id = $2",
            ] {
                exec(conn, sql, &[o, Some(&r)]).await?;
            }
        }
        RowChange::DeleteUser(user) => {
            let id = user.to_string();
            exec(conn, "DELETE FROM rbac_users WHERE org_id = $1 AND user_id = $2", &[o, Some(&id)]).await?;
            exec(conn, "DELETE FROM rbac_group_members WHERE org_id = $1 AND user_id = $2", &[o, Some(&id)]).await?;
            exec(
                conn,
                "DELETE FROM rbac_role_bindings WHERE org_id = $1 AND subject = $2",
                &[o, Some(&subject_key(&Subject::User(*user)))],
            )
            .await?;
        }
        RowChange::PutGroup {
            group,
            name,
            description,
            role,
        } => {
            exec(
                conn,
                "INSERT INTO rbac_groups (org_id, group_id, name, description, role_id) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (org_id, group_id) DO UPDATE SET name = excluded.name,
                     description = excluded.description, role_id = excluded.role_id",
                &[o, Some(&group.to_string()), Some(name), Some(description), Some(&role.to_string())],
            )
            .await?
        }
        RowChange::ChangeGroup {
            group,
            name,
            description,
        } => {
            exec(
                conn,
                "UPDATE rbac_groups SET name = COALESCE($3, name), description = COALESCE($4, description)
                 WHERE org_id = $1 AND group_id = $2",
                &[o, Some(&group.to_string()), name.as_deref(), description.as_deref()],
            )
            .await?
        }
        RowChange::SetGroupRole { group, role } => {
            exec(
                conn,
                "UPDATE rbac_groups SET role_id = $3 WHERE org_id = $1 AND group_id = $2",
                &[o, Some(&group.to_string()), role.map(|r| r.to_string()).as_deref()],
            )
            .await?
        }
        RowChange::DeleteGroup(group) => {
            let g = group.to_string();
            exec(conn, "DELETE FROM rbac_groups WHERE org_id = $1 AND group_id = $2", &[o, Some(&g)]).await?;
            exec(conn, "DELETE FROM rbac_group_members WHERE org_id = $1 AND group_id = $2", &[o, Some(&g)]).await?;
            exec(
                conn,
                "DELETE FROM rbac_role_bindings WHERE org_id = $1 AND subject = $2",
                &[o, Some(&subject_key(&Subject::Group(*group)))],
            )
            .await?;
        }
        RowChange::PutProject {
            project,
            name,
            owner,
        } => {
            exec(
                conn,
                "INSERT INTO rbac_projects (org_id, project_id, name, owner_id) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (org_id, project_id) DO UPDATE SET name = excluded.name, owner_id = excluded.owner_id",
                &[o, Some(&project.to_string()), Some(name), Some(&owner.to_string())],
            )
            .await?
        }
        RowChange::SetOwner { project, owner } => {
            exec(
                conn,
                "UPDATE rbac_projects SET owner_id = $3 WHERE org_id = $1 AND project_id = $2",
                &[o, Some(&project.to_string()), Some(&owner.to_string())],
            )
            .await?
        }
        RowChange::DeleteProject(project) => {
            let p = project.to_string();
            exec(conn, "DELETE FROM rbac_projects WHERE org_id = $1 AND project_id = $2", &[o, Some(&p)]).await?;
            exec(conn, "DELETE FROM rbac_role_bindings WHERE org_id = $1 AND project_id = $2", &[o, Some(&p)]).await?;
        }
        RowChange::PutUser { .. }
        | RowChange::AddMember { .. }
        | RowChange::RemoveMember { .. }
        | RowChange::PutBinding { .. }
        | RowChange::DeleteBinding { .. } => {
            let (sql, key, row) = batched(org, change).expect("a kind written in runs");
            write_run(
                conn,
                Some(Run {
                    sql,
                    key,
                    rows: vec![row],
                }),
            )
            .await?
        }
        RowChange::RemapRepository {
            project,
            access,
            role,
        } => {
            exec(
                conn,
                "UPDATE rbac_role_bindings SET role_id = $3
                 WHERE org_id = $1 AND project_id = $2 AND source = 'repository' AND access = $4",
                &[o, Some(&project.to_string()), Some(&role.to_string()), Some(access)],
            )
            .await?
        }
    }
    Ok(())
}
