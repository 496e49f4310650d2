//! Oracle: for random event histories, the in-memory access model, the SQL
//! effective-permission tables and a naive recompute from scratch (the
//! domain's `check` on a state folded from nothing) agree on every
//! (user, permission, project) triple; and a projection that dies in the
//! middle of a batch resumes into exactly what a fresh rebuild gives.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use domain::events::Event;
use domain::ids::{OrgId, ProjectId, UserId};
use domain::permissions::{Permission, PermissionSet};
use domain::store::{EventStore, ExpectedVersion};
use domain::Organization;
use infra::SqliteEventStore;
use projections::access::{AccessModel, SharedAccessModel};
use projections::rbac::RbacProjection;
use projections::runner::{decode, Decoded, Projection, ProjectionError, Runner};
use proptest::prelude::*;
use rusqlite::Transaction;
use testkit::{Size, Workload};

const TINY: Size = Size {
    users: 24,
    projects: 5,
    groups: 4,
    custom_roles: 4,
};

async fn store_with(dir: &Path, w: &Workload) -> SqliteEventStore {
    let store = SqliteEventStore::open_in_dir(dir).await.unwrap();
    store
        .append(&w.org_id.stream(), ExpectedVersion::NoStream, w.envelopes())
        .await
        .unwrap();
    store
}

/// Applies the whole log to a projection, in pages of `page` events.
async fn catch_up<P: Projection>(
    runner: &mut Runner<P>,
    store: &dyn EventStore,
    page: usize,
) -> Result<(), ProjectionError> {
    loop {
        let events = store.read_all(runner.position() + 1, page).await.unwrap();
        let Some(last) = events.last().map(|e| e.global_position) else {
            return Ok(());
        };
        let decoded = decode(events)?;
        runner.apply_page(&decoded, last)?;
    }
}

/// Effective rows by (user, scope, project), as the oracle reads them.
type Effective = HashMap<(String, String, String), PermissionSet>;

fn sql_effective(db: &Path, org: OrgId) -> (Effective, HashSet<String>) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT user_id, scope, project_id, mask_lo, mask_hi FROM rbac_effective_permissions WHERE org_id = ?1")
        .unwrap();
    let uuid = |b: Vec<u8>| {
        if b.is_empty() {
            String::new()
        } else {
            uuid::Uuid::from_slice(&b).unwrap().to_string()
        }
    };
    let rows = stmt
        .query_map([&org.0.as_bytes()[..]], |r| {
            let scope = match r.get::<_, i64>(1)? {
                0 => "organization",
                1 => "every_project",
                _ => "project",
            };
            Ok((
                (uuid(r.get(0)?), scope.to_string(), uuid(r.get(2)?)),
                projections::rbac::mask_set(r.get(3)?, r.get(4)?),
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // The readable view agrees with the masks.
    let named: i64 = conn
        .query_row(
            "SELECT count(*) FROM rbac_effective_permission_names WHERE org_hex = lower(hex(?1))",
            [&org.0.as_bytes()[..]],
            |r| r.get(0),
        )
        .unwrap();
    let total: usize = {
        let mut stmt = conn
            .prepare("SELECT mask_lo, mask_hi FROM rbac_effective_permissions WHERE org_id = ?1")
            .unwrap();
        stmt.query_map([&org.0.as_bytes()[..]], |r| {
            Ok(projections::rbac::mask_set(r.get(0)?, r.get(1)?).len())
        })
        .unwrap()
        .map(Result::unwrap)
        .sum()
    };
    assert_eq!(
        named as usize, total,
        "rbac_effective_permission_names lists every bit"
    );
    let mut stmt = conn
        .prepare("SELECT project_id FROM rbac_projects WHERE org_id = ?1")
        .unwrap();
    let projects = stmt
        .query_map([org.to_string()], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (rows, projects)
}

fn sql_check(
    eff: &Effective,
    projects: &HashSet<String>,
    user: UserId,
    permission: Permission,
    project: Option<ProjectId>,
) -> bool {
    let get = |scope: &str, p: &str| {
        eff.get(&(user.to_string(), scope.to_string(), p.to_string()))
            .copied()
            .unwrap_or_default()
    };
    match (permission.scope(), project) {
        (domain::permissions::Scope::Organization, _) => {
            get("organization", "").contains(permission)
        }
        (domain::permissions::Scope::Project, Some(p)) => {
            projects.contains(&p.to_string())
                && get("every_project", "")
                    .union(get("project", &p.to_string()))
                    .contains(permission)
        }
        (domain::permissions::Scope::Project, None) => false,
    }
}

fn everyone_ever(events: &[Event]) -> (BTreeSet<UserId>, BTreeSet<ProjectId>) {
    let mut users = BTreeSet::new();
    let mut projects = BTreeSet::new();
    for e in events {
        match e {
            Event::UserInvited(u) => {
                users.insert(u.user_id);
            }
            Event::ServiceAccountCreated(u) => {
                users.insert(u.user_id);
            }
            Event::UserProvisioned(u) => {
                users.insert(u.user_id);
            }
            Event::ProjectCreated(p) => {
                projects.insert(p.project_id);
            }
            _ => {}
        }
    }
    users.insert(UserId::new()); // someone who never existed
    projects.insert(ProjectId::new());
    (users, projects)
}

fn agree(seed: u64, steps: usize) {
    let mut w = Workload::organization("oracle", TINY, seed);
    w.random_history(steps);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(store_with(dir.path(), &w));
    let model: SharedAccessModel = Arc::new(parking_lot::RwLock::new(AccessModel::new()));
    let db = dir.path().join("rolebook.db");
    let mut runner = Runner::open(RbacProjection::new(model.clone()), &db).unwrap();
    // Small pages: many transactions, events of one command split across them.
    rt.block_on(catch_up(&mut runner, &store, 7)).unwrap();

    let naive = Organization::from_events(&w.events);
    assert_eq!(
        naive, w.state,
        "the workload's live state is the fold of its events"
    );
    let (eff, sql_projects) = sql_effective(&db, w.org_id);
    let (users, projects) = everyone_ever(&w.events);
    let model = model.read();
    // The bulk path: everything folded into the state, then recomputed once.
    let mut folded = AccessModel::new();
    for e in &w.events {
        folded.fold(w.org_id, e);
    }
    assert!(folded.is_stale());
    folded.settle();
    assert!(!folded.is_stale());
    // A warm-up followed by live events: the first part folded, the rest
    // applied one by one (the first apply recomputes the folded part).
    let split = (seed as usize) % (w.events.len() + 1);
    let mut mixed = AccessModel::new();
    let mut discard = Vec::new();
    for e in &w.events[..split] {
        mixed.fold(w.org_id, e);
    }
    for e in &w.events[split..] {
        mixed.apply(w.org_id, e, &mut discard);
    }
    mixed.settle();
    let mut checked = 0;
    let mut allowed = 0;
    for user in &users {
        for permission in Permission::all() {
            for project in projects.iter().map(|p| Some(*p)).chain([None]) {
                let expected = naive.check(*user, permission, project);
                let in_memory = model.check(w.org_id, *user, permission, project);
                let in_sql = sql_check(&eff, &sql_projects, *user, permission, project);
                assert_eq!(
                    folded.check(w.org_id, *user, permission, project),
                    expected,
                    "folded then settled: {user} {permission} {project:?} (seed {seed})"
                );
                assert_eq!(
                    mixed.check(w.org_id, *user, permission, project),
                    expected,
                    "folded up to {split}, then applied: {user} {permission} {project:?} (seed {seed})"
                );
                assert_eq!(
                    in_memory, expected,
                    "model: {user} {permission} {project:?} (seed {seed})"
                );
                assert_eq!(
                    in_sql, expected,
                    "sql: {user} {permission} {project:?} (seed {seed})"
                );
                checked += 1;
                allowed += expected as usize;
            }
        }
    }
    assert!(
        allowed > 0 && allowed < checked,
        "a meaningful mix: {allowed}/{checked}"
    );
    // `who_can` (which reads the model's indexes) answers alike too.
    let holders = |m: &AccessModel, permission, project| -> Vec<UserId> {
        m.org(w.org_id)
            .unwrap()
            .who_can(permission, project)
            .into_iter()
            .map(|h| h.user_id)
            .collect()
    };
    for permission in Permission::all() {
        for project in projects.iter().map(|p| Some(*p)).chain([None]) {
            let live = holders(&model, permission, project);
            assert_eq!(
                holders(&folded, permission, project),
                live,
                "who_can folded"
            );
            assert_eq!(holders(&mixed, permission, project), live, "who_can mixed");
            // The naive recompute: every user, in id order, checked.
            let mut naive_holders: Vec<UserId> = users
                .iter()
                .copied()
                .filter(|u| naive.check(*u, permission, project))
                .collect();
            naive_holders.sort();
            assert_eq!(live, naive_holders, "who_can against the naive recompute");
            // Pages of 3 after the last id served add up to the whole list.
            let org = model.org(w.org_id).unwrap();
            let (mut paged, mut after) = (Vec::new(), None);
            loop {
                let (page, more) = org.who_can_page(permission, project, after, 3);
                assert!(page.len() <= 3);
                after = page.last().map(|h| h.user_id);
                paged.extend(page.into_iter().map(|h| h.user_id));
                if !more {
                    break;
                }
            }
            assert_eq!(paged, live, "who_can in pages of 3");
        }
    }
    // The model's explanation matches its decision.
    let org = model.org(w.org_id).unwrap();
    for user in users.iter().take(8) {
        for permission in Permission::all() {
            let project = projects.iter().next().copied();
            let allowed = org.check(*user, permission, project);
            assert_eq!(!org.explain(*user, permission, project).is_empty(), allowed);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]
    #[test]
    fn model_sql_and_naive_recompute_agree(seed in any::<u64>(), steps in 20usize..300) {
        agree(seed, steps);
    }
}

/// Fails on the `fail_at`-th event it is given, after writing some rows of
/// the batch: the transaction must roll back whole.
struct FailAt {
    inner: RbacProjection,
    seen: usize,
    fail_at: usize,
}

impl Projection for FailAt {
    fn name(&self) -> &'static str {
        "rbac"
    }
    fn migrate(&mut self, conn: &rusqlite::Connection) -> Result<(), ProjectionError> {
        self.inner.migrate(conn)
    }
    fn apply(&mut self, tx: &Transaction, events: &[Decoded]) -> Result<(), ProjectionError> {
        if self.seen + events.len() > self.fail_at {
            let upto = self.fail_at - self.seen;
            self.inner.apply(tx, &events[..upto])?;
            return Err(ProjectionError::Event {
                position: events[upto].record.global_position,
                reason: "injected crash".into(),
            });
        }
        self.seen += events.len();
        self.inner.apply(tx, events)
    }
}

fn dump(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut out = Vec::new();
    for table in [
        "rbac_users",
        "rbac_groups",
        "rbac_group_members",
        "rbac_roles",
        "rbac_role_permissions",
        "rbac_role_inherits",
        "rbac_projects",
        "rbac_role_bindings",
        "rbac_effective_permissions",
        "projection_checkpoints",
    ] {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let n = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                let cols: Vec<String> = (0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect();
                Ok(format!("{table}: {}", cols.join(" | ")))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            !rows.is_empty() || table == "rbac_role_inherits",
            "{table} is empty"
        );
        rows.sort();
        out.extend(rows);
    }
    out
}

/// Opens the RBAC projection as a restarted process would: a new in-memory
/// model warmed up to the checkpoint, wrapped to fail at `fail_at`.
fn restart(
    rt: &tokio::runtime::Runtime,
    store: &dyn EventStore,
    db: &Path,
    fail_at: usize,
) -> Runner<FailAt> {
    let checkpoint =
        projections::runner::checkpoint(&projections::db::open(db).unwrap(), "rbac").unwrap();
    let mut inner = RbacProjection::new(Default::default());
    if checkpoint > 0 {
        inner
            .warm(&decode(rt.block_on(store.read_all(1, checkpoint as usize)).unwrap()).unwrap())
            .unwrap();
    }
    Runner::open(
        FailAt {
            inner,
            seen: checkpoint as usize,
            fail_at,
        },
        db,
    )
    .unwrap()
}

#[test]
fn a_crash_in_the_middle_of_a_batch_resumes_into_a_fresh_rebuild() {
    // A seed whose history leaves a row in every table (the dump checks).
    let mut w = Workload::organization("crashy", TINY, 8);
    w.random_history(400);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(store_with(dir.path(), &w));
    let total = w.events.len();

    // Reference: a fresh rebuild in one go.
    let fresh_db = dir.path().join("fresh.db");
    let mut fresh = Runner::open(RbacProjection::new(Default::default()), &fresh_db).unwrap();
    rt.block_on(catch_up(&mut fresh, &store, 1000)).unwrap();

    // Die in the middle of a batch, twice; each time the whole batch is gone
    // (the checkpoint is at the last page boundary before the failure).
    let db = dir.path().join("crashed.db");
    for fail_at in [total / 3, total / 2] {
        let mut runner = restart(&rt, &store, &db, fail_at);
        let err = rt.block_on(catch_up(&mut runner, &store, 50)).unwrap_err();
        assert!(
            matches!(err, ProjectionError::Event { ref reason, .. } if reason == "injected crash"),
            "{err}"
        );
        let checkpoint =
            projections::runner::checkpoint(&projections::db::open(&db).unwrap(), "rbac").unwrap();
        assert!(
            checkpoint <= fail_at as u64 && checkpoint + 50 > fail_at as u64,
            "checkpoint {checkpoint}, failure at {fail_at}"
        );
    }
    // Restart for real and catch up to the end.
    let mut resumed = restart(&rt, &store, &db, usize::MAX);
    rt.block_on(catch_up(&mut resumed, &store, 64)).unwrap();
    assert_eq!(resumed.position(), total as u64);
    assert_eq!(
        dump(&db),
        dump(&fresh_db),
        "resumed projection equals a fresh rebuild"
    );
}

/// A long backlog is folded in memory and written in one transaction
/// (`Backlog::Rewrite`): the tables equal those of the event-by-event path,
/// and following on from there keeps them equal.
#[test]
fn a_bulk_rewrite_equals_the_event_by_event_tables() {
    let mut w = Workload::organization("bulk", TINY, 11);
    w.random_history(500);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(store_with(dir.path(), &w));

    let paged_db = dir.path().join("paged.db");
    let mut paged = Runner::open(RbacProjection::new(Default::default()), &paged_db).unwrap();
    rt.block_on(catch_up(&mut paged, &store, 97)).unwrap();

    let bulk_db = dir.path().join("bulk.db");
    let bulk_model: SharedAccessModel = Default::default();
    let bulk = Runner::open(RbacProjection::new(bulk_model.clone()), &bulk_db).unwrap();
    let mut bulk = rt.block_on(bulk.catch_up_backlog(&store, 1)).unwrap();
    assert_eq!(bulk.position(), w.events.len() as u64);
    assert_eq!(dump(&bulk_db), dump(&paged_db));
    // The model the queries read is settled by the rewrite: it answers
    // like the event-by-event one.
    assert!(!bulk_model.read().is_stale());
    let (users, projects) = everyone_ever(&w.events);
    for user in &users {
        for permission in Permission::all() {
            for project in projects.iter().map(|p| Some(*p)).chain([None]) {
                assert_eq!(
                    bulk_model
                        .read()
                        .check(w.org_id, *user, permission, project),
                    w.state.check(*user, permission, project),
                    "{user} {permission} {project:?}"
                );
            }
        }
    }

    // More events afterwards, applied event by event on both.
    w.random_history(200);
    let more: Vec<_> = w.envelopes().split_off(bulk.position() as usize);
    assert!(!more.is_empty());
    rt.block_on(store.append(&w.org_id.stream(), ExpectedVersion::Any, more))
        .unwrap();
    rt.block_on(catch_up(&mut paged, &store, 50)).unwrap();
    rt.block_on(catch_up(&mut bulk, &store, 50)).unwrap();
    assert_eq!(dump(&bulk_db), dump(&paged_db));
}
