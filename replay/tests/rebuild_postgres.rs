//! `replay rebuild` of the read models in PostgreSQL, on the machine's real
//! server (`ROLEBOOK_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`), each test in a schema of its
//! own: interrupted, it leaves the live tables alone and resumes; finished,
//! it replaces damaged live tables with what a fresh build gives, and a
//! server's runner that kept running goes on from the switched checkpoint.
//!
//! These tests fail (they do not skip) when the server cannot be reached.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use testkit::postgres::{database_url as url, TestSchema as Schema};

use domain::store::{EventStore, ExpectedVersion};
use infra::postgres::{PostgresEventStore, PostgresOptions};
use projections::access::SharedAccessModel;
use projections::postgres::{PgAuditProjection, PgProjection, PgRbacProjection, PgRunner};
use replay::rebuild::{postgres, Options, Which};
use sqlx::PgPool;
use testkit::{Size, Workload};

const SMALL: Size = Size {
    users: 60,
    projects: 8,
    groups: 6,
    custom_roles: 4,
};

/// A store in `schema` (created if missing) on the test server.
async fn open_store(schema: &Schema) -> PostgresEventStore {
    PostgresEventStore::connect_with(PostgresOptions::new(url()).in_schema(&schema.name))
        .await
        .unwrap_or_else(|e| panic!("cannot open a store on {}: {e:#?}", url()))
}

const TABLES: &[&str] = &[
    "audit_log",
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
    "rbac_effective_permission_names",
    "projection_checkpoints",
];

/// Whether `w`'s state leaves a row in every table [`dump`] reads (a
/// random history may delete every group, or every role that inherits).
fn fills_every_table(w: &Workload) -> bool {
    let s = &w.state;
    s.groups.values().any(|g| !g.members.is_empty())
        && s.roles.values().any(|r| !r.inherits.is_empty())
        && !s.projects.is_empty()
}

/// The first random history, from `seed` on, of `first` steps and then
/// `then` more that fills every table after each part; with the number of
/// events of the first part.
fn history(name: &str, seed: u64, first: usize, then: usize) -> (Workload, usize) {
    (seed..seed + 50)
        .find_map(|seed| {
            let mut w = Workload::organization(name, SMALL, seed);
            w.random_history(first);
            let before = w.events.len();
            if !fills_every_table(&w) {
                return None;
            }
            w.random_history(then);
            fills_every_table(&w).then_some((w, before))
        })
        .expect("a history that fills every table within 50 seeds")
}

/// Every row of every read-model table and view, as text, sorted.
async fn dump(pool: &PgPool) -> Vec<String> {
    let mut out = Vec::new();
    for table in TABLES {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM {table} t"))
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        assert!(!rows.is_empty(), "{table} is empty");
        out.extend(rows.into_iter().map(|r| format!("{table}: {r}")));
    }
    out.sort();
    out
}

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

/// Both read models of a server, caught up.
async fn serve(
    store: &PostgresEventStore,
) -> (PgRunner<PgRbacProjection>, PgRunner<PgAuditProjection>) {
    let pool = store.pool().clone();
    let rbac = PgRunner::open(
        PgRbacProjection::new(SharedAccessModel::default()),
        pool.clone(),
        store,
    )
    .await
    .unwrap();
    let audit = PgRunner::open(PgAuditProjection::new(), pool, store)
        .await
        .unwrap();
    (
        to_the_end(rbac, store).await,
        to_the_end(audit, store).await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_resumes_and_switches_in_what_a_fresh_build_gives() {
    let (w, before) = history("rebuilt", 21, 600, 150);
    let mut envelopes = w.envelopes();
    let later = envelopes.split_off(before);
    let schema = Schema::new().dropping_beside(&["rebuild_rbac", "rebuild_audit"]);
    let store = open_store(&schema).await;
    store
        .append(&w.org_id.stream(), ExpectedVersion::NoStream, envelopes)
        .await
        .unwrap();
    let (rbac, audit) = serve(&store).await;
    let pool = store.pool();
    let good = dump(pool).await;

    // Damage: rows lost and rows changed behind the projections' back.
    sqlx::raw_sql(
        "DELETE FROM audit_log WHERE position % 7 = 0;
         UPDATE rbac_roles SET name = 'tampered';
         DELETE FROM rbac_effective_permissions WHERE mask_lo % 3 = 0;",
    )
    .execute(pool)
    .await
    .unwrap();
    let damaged = dump(pool).await;
    assert_ne!(damaged, good);

    // Interrupted halfway: the live tables are left alone.
    let half = w.events.len() as u64 / 2;
    let options = Options {
        stop_at: Some(half),
        ..Options::default()
    };
    let bar = indicatif::ProgressBar::hidden();
    let report = postgres::rebuild(&store, pool, &[Which::Rbac, Which::Audit], options, &bar)
        .await
        .unwrap();
    assert!(report.interrupted, "{report:?}");
    assert!(!report.projections[0].switched);
    assert!(report.projections[0].position >= half);
    assert_eq!(dump(pool).await, damaged, "nothing switched");

    // Run again: resumes from the generation, switches both in.
    let report = postgres::rebuild(
        &store,
        pool,
        &[Which::Rbac, Which::Audit],
        Options::default(),
        &bar,
    )
    .await
    .unwrap();
    assert!(!report.interrupted, "{report:?}");
    let rbac_report = &report.projections[0];
    assert!(
        rbac_report.resumed_from >= half && rbac_report.switched,
        "{rbac_report:?}"
    );
    assert_eq!(report.projections[1].resumed_from, 0, "audit starts now");
    assert_eq!(
        dump(pool).await,
        good,
        "the rebuilt tables are the fresh ones"
    );
    let generations: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE $1",
    )
    .bind(format!("{}_rebuild_%", schema.name))
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(generations, 0, "the generations are dropped");

    // The server's runners, which kept running, go on from the switched
    // checkpoint: new events land once, as a fresh build writes them.
    store
        .append(
            &w.org_id.stream(),
            ExpectedVersion::Exact(before as u64),
            later,
        )
        .await
        .unwrap();
    to_the_end(rbac, &store).await;
    to_the_end(audit, &store).await;
    let after = dump(pool).await;
    assert!(
        after.iter().filter(|r| r.starts_with("audit_log:")).count() == w.events.len(),
        "every new event audited once"
    );
    // What a fresh build of the whole log gives now.
    let options = Options {
        fresh: true,
        ..Options::default()
    };
    postgres::rebuild(&store, pool, &[Which::Rbac, Which::Audit], options, &bar)
        .await
        .unwrap();
    assert_eq!(after, dump(pool).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_rebuild_starts_over_and_ctrl_c_stops_it() {
    let (w, _) = history("fresh", 4, 300, 0);
    let schema = Schema::new().dropping_beside(&["rebuild_rbac", "rebuild_audit"]);
    let store = open_store(&schema).await;
    store
        .append(&w.org_id.stream(), ExpectedVersion::NoStream, w.envelopes())
        .await
        .unwrap();
    serve(&store).await;
    let pool = store.pool();
    let good = dump(pool).await;
    let bar = indicatif::ProgressBar::hidden();

    // Stopped before the first page (Ctrl-C): nothing written anywhere.
    let stop = Arc::new(AtomicBool::new(true));
    let options = Options {
        stop: stop.clone(),
        ..Options::default()
    };
    let report = postgres::rebuild(&store, pool, &[Which::Audit], options, &bar)
        .await
        .unwrap();
    assert!(report.interrupted);
    assert_eq!(report.projections[0].position, 0);
    stop.store(false, Ordering::Relaxed);

    let options = Options {
        fresh: true,
        ..Options::default()
    };
    let report = postgres::rebuild(&store, pool, &[Which::Audit], options, &bar)
        .await
        .unwrap();
    let audit = &report.projections[0];
    assert_eq!(
        (audit.resumed_from, audit.position, audit.switched),
        (0, w.events.len() as u64, true)
    );
    assert_eq!(audit.rows, w.events.len() as u64, "one row per event");
    assert_eq!(dump(pool).await, good);
}
