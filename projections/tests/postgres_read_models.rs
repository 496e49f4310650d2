//! The read models in PostgreSQL on the machine's real server
//! (`ROLEBOOK_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`), each test in a schema of its
//! own: the RBAC tables agree with a naive recompute and hold the same rows
//! as the embedded tables; two processes' runners on one schema write each
//! event's rows once; the audit view answers every filter's pages and CSV
//! export byte for byte like the embedded view.
//!
//! These tests fail (they do not skip) when the server cannot be reached.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use testkit::postgres::{database_url as url, TestSchema as Schema};

use chrono::{Duration, Utc};
use domain::events::Event;
use domain::ids::{ProjectId, UserId};
use domain::permissions::{Permission, PermissionSet, Scope};
use domain::store::{EventStore, ExpectedVersion, NewEvent};
use infra::postgres::{PostgresEventStore, PostgresOptions};
use projections::access::SharedAccessModel;
use projections::audit::{self, AuditFilter, AuditProjection, Operation, ResourceType};
use projections::postgres::{PgAuditProjection, PgProjection, PgRbacProjection, PgRunner};
use projections::rbac::RbacProjection;
use projections::runner::{decode, Projection, Runner};
use sqlx::{PgPool, Row as _};
use testkit::{Size, Workload};
use uuid::Uuid;

const TINY: Size = Size {
    users: 24,
    projects: 5,
    groups: 4,
    custom_roles: 4,
};

/// A store in `schema` (created if missing) on the test server.
async fn open_store(schema: &Schema) -> PostgresEventStore {
    PostgresEventStore::connect_with(PostgresOptions::new(url()).in_schema(&schema.name))
        .await
        .unwrap_or_else(|e| panic!("cannot open a store on {}: {e:#?}", url()))
}

/// Five users of the workload who still exist, to act in the metadata.
fn actors(w: &Workload) -> Vec<(UserId, String)> {
    w.users
        .iter()
        .filter_map(|u| w.state.users.get(u).map(|s| (*u, s.username.clone())))
        .take(5)
        .collect()
}

/// The workload's events with API metadata: five actors and the system,
/// ips, request ids, and times spread over three days (so that every audit
/// filter has something to narrow).
fn envelopes(w: &Workload) -> Vec<NewEvent> {
    use domain::events::{Actor, EventMetadata, Medium};
    let actors = actors(w);
    let start = Utc::now() - Duration::days(3);
    let step = Duration::days(3) / w.events.len().max(1) as i32;
    w.events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let actor = match actors.get(i % 6) {
                Some((id, name)) => Actor::user(*id, name.clone()),
                None => Actor::system(),
            };
            let mut meta = EventMetadata::new(actor, Medium::Api, start + step * i as i32);
            meta.ip = Some(format!("10.1.{}.{}", i % 200, i % 250));
            meta.user_agent = Some("=cmd|' /C calc'!A0".into());
            meta.request_id = Some(format!("req-{i}"));
            NewEvent {
                event_id: Uuid::now_v7(),
                event_type: e.event_type().to_string(),
                schema_version: e.schema_version(),
                data: e.to_json(),
                metadata: serde_json::to_string(&meta).unwrap(),
            }
        })
        .collect()
}

/// The same log in an embedded store (in `dir`) and in PostgreSQL.
async fn both_stores(
    dir: &Path,
    schema: &Schema,
    w: &Workload,
) -> (infra::SqliteEventStore, PostgresEventStore) {
    let events = envelopes(w);
    let sqlite = infra::SqliteEventStore::open_in_dir(dir).await.unwrap();
    sqlite
        .append(
            &w.org_id.stream(),
            ExpectedVersion::NoStream,
            events.clone(),
        )
        .await
        .unwrap();
    let pg = open_store(schema).await;
    pg.append(&w.org_id.stream(), ExpectedVersion::NoStream, events)
        .await
        .unwrap();
    (sqlite, pg)
}

/// Steps `runner` to the end of the log.
async fn to_the_end<P: PgProjection>(
    mut runner: PgRunner<P>,
    store: &dyn EventStore,
) -> PgRunner<P> {
    loop {
        let before = runner.position();
        let (next, reached) = runner.step(store).await.unwrap();
        runner = next;
        if reached == before {
            return runner;
        }
    }
}

/// Applies the whole log to an embedded projection, `page` events a time.
async fn embedded<P: Projection>(projection: P, db: &Path, store: &dyn EventStore, page: usize) {
    let mut runner = Runner::open(projection, db).unwrap();
    loop {
        let events = store.read_all(runner.position() + 1, page).await.unwrap();
        let Some(last) = events.last().map(|e| e.global_position) else {
            return;
        };
        runner.apply_page(&decode(events).unwrap(), last).unwrap();
    }
}

/// The recorded tables and their columns, in the order both dumps read.
const RECORDED: &[(&str, &str)] = &[
    ("rbac_users", "org_id, user_id, username, email, kind"),
    (
        "rbac_groups",
        "org_id, group_id, name, description, role_id",
    ),
    ("rbac_group_members", "org_id, group_id, user_id"),
    (
        "rbac_roles",
        "org_id, role_id, name, scope, description, predefined, project_role_id",
    ),
    ("rbac_role_permissions", "org_id, role_id, permission"),
    ("rbac_role_inherits", "org_id, role_id, inherits_id"),
    ("rbac_projects", "org_id, project_id, name, owner_id"),
    (
        "rbac_role_bindings",
        "org_id, subject, project_id, source, role_id, access",
    ),
];

/// Every RBAC row of the embedded tables as text, sorted; effective rows
/// as `user|scope|project|lo|hi` with hex ids.
fn embedded_dump(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut out = Vec::new();
    let mut read = |table: &str, sql: &str| {
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| {
                        r.get::<_, Option<String>>(i)
                            .unwrap()
                            .unwrap_or("NULL".into())
                    })
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .map(|r| format!("{table}: {}", r.unwrap()));
        out.extend(rows);
    };
    for (table, columns) in RECORDED {
        let cast: Vec<String> = columns
            .split(", ")
            .map(|c| format!("CAST({c} AS TEXT)"))
            .collect();
        read(table, &format!("SELECT {} FROM {table}", cast.join(", ")));
    }
    read(
        "rbac_effective_permissions",
        "SELECT lower(hex(user_id)), CAST(scope AS TEXT), lower(hex(project_id)), \
         CAST(mask_lo AS TEXT), CAST(mask_hi AS TEXT) FROM rbac_effective_permissions",
    );
    out.sort();
    out
}

/// [`embedded_dump`] of the PostgreSQL tables.
async fn postgres_dump(pool: &PgPool) -> Vec<String> {
    let mut out = Vec::new();
    let mut queries: Vec<(String, String)> = RECORDED
        .iter()
        .map(|(table, columns)| {
            let cast: Vec<String> = columns
                .split(", ")
                .map(|c| match c {
                    "predefined" => "predefined::int::text".to_string(),
                    c => format!("{c}::text"),
                })
                .collect();
            (
                table.to_string(),
                format!("SELECT {} FROM {table}", cast.join(", ")),
            )
        })
        .collect();
    queries.push((
        "rbac_effective_permissions".into(),
        "SELECT replace(user_id::text, '-', ''), scope::text, \
         CASE WHEN scope = 2 THEN replace(project_id::text, '-', '') ELSE '' END, \
         mask_lo::text, mask_hi::text FROM rbac_effective_permissions"
            .into(),
    ));
    for (table, sql) in queries {
        let rows = sqlx::query(&sql).fetch_all(pool).await.unwrap();
        for row in rows {
            let cells: Vec<String> = (0..row.len())
                .map(|i| {
                    row.try_get::<Option<String>, _>(i)
                        .unwrap()
                        .unwrap_or("NULL".into())
                })
                .collect();
            out.push(format!("{table}: {}", cells.join("|")));
        }
    }
    out.sort();
    out
}

/// Every user and project that ever existed, plus one of each that never did.
fn everyone_ever(events: &[Event]) -> (BTreeSet<UserId>, BTreeSet<ProjectId>) {
    let mut users = BTreeSet::from([UserId::new()]);
    let mut projects = BTreeSet::from([ProjectId::new()]);
    for e in events {
        match e {
            Event::UserInvited(u) => {
                users.insert(u.user_id);
            }
            Event::ServiceAccountCreated(u) => {
                users.insert(u.user_id);
            }
            Event::ProjectCreated(p) => {
                projects.insert(p.project_id);
            }
            _ => {}
        }
    }
    (users, projects)
}

/// The PostgreSQL effective rows decide every (user, permission, project)
/// as the naive recompute (the domain's `check` on the folded state) does.
async fn agrees_with_the_naive_recompute(pool: &PgPool, w: &Workload, model: &SharedAccessModel) {
    let rows = sqlx::query(
        "SELECT user_id, scope, project_id, mask_lo, mask_hi FROM rbac_effective_permissions \
         WHERE org_id = $1",
    )
    .bind(w.org_id.0)
    .fetch_all(pool)
    .await
    .unwrap();
    let mut effective: HashMap<(Uuid, i16, Uuid), PermissionSet> = HashMap::new();
    for r in rows {
        effective.insert(
            (r.get(0), r.get(1), r.get(2)),
            projections::rbac::mask_set(r.get(3), r.get(4)),
        );
    }
    let projects: BTreeSet<String> =
        sqlx::query_scalar("SELECT project_id FROM rbac_projects WHERE org_id = $1")
            .bind(w.org_id.to_string())
            .fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let get = |user: UserId, scope: i16, project: Uuid| {
        effective
            .get(&(user.0, scope, project))
            .copied()
            .unwrap_or_default()
    };
    let (users, all_projects) = everyone_ever(&w.events);
    let (mut checked, mut allowed) = (0, 0);
    for user in &users {
        for permission in Permission::all() {
            for project in all_projects.iter().map(|p| Some(*p)).chain([None]) {
                let expected = w.state.check(*user, permission, project);
                let in_sql = match (permission.scope(), project) {
                    (Scope::Organization, _) => get(*user, 0, Uuid::nil()).contains(permission),
                    (Scope::Project, Some(p)) => {
                        projects.contains(&p.to_string())
                            && get(*user, 1, Uuid::nil())
                                .union(get(*user, 2, p.0))
                                .contains(permission)
                    }
                    (Scope::Project, None) => false,
                };
                assert_eq!(in_sql, expected, "sql: {user} {permission} {project:?}");
                assert_eq!(
                    model.read().check(w.org_id, *user, permission, project),
                    expected,
                    "model: {user} {permission} {project:?}"
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_tables_in_postgres_agree_with_the_naive_recompute_and_the_embedded_tables() {
    for seed in [3u64, 17, 29] {
        let mut w = Workload::organization("oracle", TINY, seed);
        w.random_history(250);
        // The last seed: churn (the same bindings set again and again, the
        // same members added again) in pages of 1,000, so that runs of one
        // kind written in one statement hold one key several times.
        let page = if seed == 29 {
            w.churn_to(w.events.len() + 400);
            1_000
        } else {
            13
        };
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::new();
        let (sqlite, pg) = both_stores(dir.path(), &schema, &w).await;
        let db = dir.path().join("rolebook.db");
        embedded(RbacProjection::new(Default::default()), &db, &sqlite, 7).await;

        let model = SharedAccessModel::default();
        // Small pages: the events of one command split across transactions.
        let runner = PgRunner::open(PgRbacProjection::new(model.clone()), pg.pool().clone(), &pg)
            .await
            .unwrap()
            .with_page(page);
        let runner = to_the_end(runner, &pg).await;
        assert_eq!(runner.position(), w.events.len() as u64);
        agrees_with_the_naive_recompute(pg.pool(), &w, &model).await;
        let (embedded_rows, postgres_rows) = (embedded_dump(&db), postgres_dump(pg.pool()).await);
        assert!(embedded_rows.len() > 100, "{} rows", embedded_rows.len());
        assert_eq!(postgres_rows, embedded_rows, "seed {seed}");

        // A restarted process warms its model up to the checkpoint from
        // the log and writes nothing again.
        let restarted_model = SharedAccessModel::default();
        let restarted = PgRunner::open(
            PgRbacProjection::new(restarted_model.clone()),
            pg.pool().clone(),
            &pg,
        )
        .await
        .unwrap();
        assert_eq!(restarted.position(), w.events.len() as u64);
        agrees_with_the_naive_recompute(pg.pool(), &w, &restarted_model).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_schema_write_each_event_once() {
    let mut w = Workload::organization("shared", TINY, 5);
    w.random_history(300);
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::new();
    let (sqlite, pg) = both_stores(dir.path(), &schema, &w).await;
    let db = dir.path().join("rolebook.db");
    embedded(RbacProjection::new(Default::default()), &db, &sqlite, 50).await;
    let expected = embedded_dump(&db);
    // A second process: its own store (connections) on the same schema.
    let peer = open_store(&schema).await;
    let end = w.events.len() as u64;
    // One process far behind the other: it started before the other wrote
    // everything, and catches up page by page. The tables never go back to
    // an older state (it writes nothing the other wrote).
    let (model_a, model_b) = (SharedAccessModel::default(), SharedAccessModel::default());
    let mut behind = open(&peer, &model_b, 29).await;
    to_the_end(open(&pg, &model_a, 200).await, &pg).await;
    assert_eq!(postgres_dump(pg.pool()).await, expected);
    while behind.position() < end {
        behind = behind.step(&peer).await.unwrap().0;
        assert_eq!(
            postgres_dump(pg.pool()).await,
            expected,
            "after the late process's page up to {}",
            behind.position()
        );
    }
    agrees_with_the_naive_recompute(pg.pool(), &w, &model_b).await;

    // Both at once, on fresh tables: page boundaries never line up.
    let schema = Schema::new();
    let (_, pg) = both_stores(dir.path().join("again").as_path(), &schema, &w).await;
    let peer = open_store(&schema).await;
    let (model_a, model_b) = (SharedAccessModel::default(), SharedAccessModel::default());
    let (mut a, mut b) = (
        open(&pg, &model_a, 11).await,
        open(&peer, &model_b, 17).await,
    );
    let mut audit_a = PgRunner::open(PgAuditProjection::new(), pg.pool().clone(), &pg)
        .await
        .unwrap()
        .with_page(11);
    let mut audit_b = PgRunner::open(PgAuditProjection::new(), peer.pool().clone(), &peer)
        .await
        .unwrap()
        .with_page(17);
    while a.position() < end || b.position() < end {
        let (ra, rb, rc, rd) = tokio::join!(
            a.step(&pg),
            b.step(&peer),
            audit_a.step(&pg),
            audit_b.step(&peer)
        );
        (a, b, audit_a, audit_b) = (ra.unwrap().0, rb.unwrap().0, rc.unwrap().0, rd.unwrap().0);
    }
    let (audit_a, audit_b) = (
        to_the_end(audit_a, &pg).await,
        to_the_end(audit_b, &peer).await,
    );
    assert_eq!((audit_a.position(), audit_b.position()), (end, end));
    assert_eq!(postgres_dump(pg.pool()).await, expected);
    agrees_with_the_naive_recompute(pg.pool(), &w, &model_a).await;
    agrees_with_the_naive_recompute(pg.pool(), &w, &model_b).await;
    let (rows, distinct, checkpoint): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT position), \
         (SELECT position FROM projection_checkpoints WHERE name = 'audit') FROM audit_log",
    )
    .fetch_one(pg.pool())
    .await
    .unwrap();
    assert_eq!(
        (rows, distinct, checkpoint),
        (end as i64, end as i64, end as i64)
    );
}

/// An RBAC runner of a process on `store`, with its own model.
async fn open(
    store: &PostgresEventStore,
    model: &SharedAccessModel,
    page: usize,
) -> PgRunner<PgRbacProjection> {
    PgRunner::open(
        PgRbacProjection::new(model.clone()),
        store.pool().clone(),
        store,
    )
    .await
    .unwrap()
    .with_page(page)
}

/// Every page of `filter` on both views, cursors followed to the end.
async fn all_pages(
    conn: &rusqlite::Connection,
    pool: &PgPool,
    mut filter: AuditFilter,
) -> Vec<audit::AuditEntry> {
    let mut entries = Vec::new();
    loop {
        let embedded = audit::page(conn, &filter).unwrap();
        let postgres = projections::postgres::audit::page(pool, &filter)
            .await
            .unwrap();
        assert_eq!(postgres, embedded, "{filter:?}");
        entries.extend(embedded.entries);
        match embedded.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => return entries,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_view_in_postgres_answers_like_the_embedded_one() {
    let mut w = Workload::organization("audited", TINY, 9);
    w.random_history(400);
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::new();
    let (sqlite, pg) = both_stores(dir.path(), &schema, &w).await;
    let db = dir.path().join("rolebook.db");
    embedded(AuditProjection::new(), &db, &sqlite, 64).await;
    let runner = PgRunner::open(PgAuditProjection::new(), pg.pool().clone(), &pg)
        .await
        .unwrap()
        .with_page(64);
    to_the_end(runner, &pg).await;

    let conn = projections::db::open_read_only(&db).unwrap();
    let actor = actors(&w)[0].0;
    let project = w.projects[0];
    let middle = Utc::now() - Duration::hours(36);
    let base = AuditFilter::new(w.org_id);
    let filters = [
        AuditFilter {
            limit: 37,
            ..base.clone()
        },
        AuditFilter {
            actor: Some(actor),
            limit: 5,
            ..base.clone()
        },
        AuditFilter {
            resource_type: Some(ResourceType::Group),
            limit: 9,
            ..base.clone()
        },
        AuditFilter {
            resource_type: Some(ResourceType::Project),
            resource_id: Some(project.to_string()),
            ..base.clone()
        },
        AuditFilter {
            resource_id: Some(project.to_string()),
            ..base.clone()
        },
        AuditFilter {
            operation: Some(Operation::Added),
            limit: 20,
            ..base.clone()
        },
        AuditFilter {
            from: Some(middle),
            limit: 50,
            ..base.clone()
        },
        AuditFilter {
            from: Some(middle - Duration::hours(12)),
            to: Some(middle),
            actor: Some(actor),
            ..base.clone()
        },
        AuditFilter::new(domain::ids::OrgId::new()),
    ];
    let mut matched = Vec::new();
    for filter in filters {
        let entries = all_pages(&conn, pg.pool(), filter.clone()).await;
        matched.push(entries.len());

        let mut embedded_csv = Vec::new();
        audit::export(&conn, &filter, &mut embedded_csv).unwrap();
        let mut export =
            projections::postgres::CsvExport::new(pg.pool().clone(), filter.clone()).unwrap();
        let mut postgres_csv = Vec::new();
        while let Some(chunk) = export.next_chunk().await.unwrap() {
            postgres_csv.extend(chunk);
        }
        assert_eq!(
            String::from_utf8(postgres_csv).unwrap(),
            String::from_utf8(embedded_csv).unwrap(),
            "{filter:?}"
        );
        assert_eq!(export.rows() as usize, entries.len());
    }
    assert_eq!(
        matched[0],
        w.events.len(),
        "the unfiltered log is every event"
    );
    assert!(
        matched[1..8].iter().all(|n| *n > 0 && *n < w.events.len()),
        "each filter narrows: {matched:?}"
    );
    assert_eq!(matched[8], 0, "another organization has nothing");

    let backwards = AuditFilter {
        from: Some(middle),
        to: Some(middle - Duration::hours(1)),
        ..base
    };
    let e = projections::postgres::audit::page(pg.pool(), &backwards)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_filter");
}
