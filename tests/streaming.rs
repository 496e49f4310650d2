//! Bucket streaming against a real S3-compatible server on loopback: moto
//! in server mode, which checks every request's SigV4 signature against
//! the IAM user it holds. The bucket is reached through a proxy the test
//! takes down to simulate an outage.
//!
//! Asserts: objects appear under `PREFIX/org=<id>/date=<day>/...` with the
//! bytes the digests describe; a second run has nothing to do and a forced
//! re-export writes no new key; wrong keys give a clear error that is
//! recorded as the run's error and export nothing; while the bucket is down
//! runs fail and are recorded, and the next run catches up every day.

#[path = "../replay/tests/support/mod.rs"]
mod support;

use std::time::Duration;

use domain::events::AuditStreamingConfigured;
use replay::export::{self, BucketSettings, Provider, Selection, Target};
use rolebook::streaming::{self, Credentials, Ledger, RequestPolicy};
use support::{day, logged, Moto, Proxy};

fn config(endpoint: &str, prefix: &str) -> AuditStreamingConfigured {
    AuditStreamingConfigured {
        provider: "s3".into(),
        bucket: "audit".into(),
        region: Some("us-east-1".into()),
        endpoint: Some(endpoint.into()),
        prefix: Some(prefix.into()),
    }
}

const POLICY: RequestPolicy = RequestPolicy {
    timeout: Duration::from_secs(10),
    max_retries: 1,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_each_finished_day_once_to_a_real_bucket() {
    let moto = Moto::start();
    let log = logged(&["2026-03-01", "2026-03-02", "2026-03-03"], 600).await;
    let db = log.read_db();
    let stores = streaming::Stores::embedded(&db).unwrap();
    let today = day("2026-03-03"); // the last day is not finished yet
    let creds = Credentials::open(&db).unwrap();
    let cfg = config(&moto.endpoint(), "rolebook/acme");

    // Wrong secret: moto refuses the signature; the run records why.
    creds
        .put(log.acme, &moto.access_key_id, "not-the-secret")
        .await
        .unwrap();
    let run = streaming::run_org(log.store.clone(), &stores, log.acme, &cfg, today, POLICY)
        .await
        .unwrap()
        .expect("a run with pending days is recorded");
    let error = run.error.clone().expect("wrong keys fail the run");
    assert!(
        error.contains("SignatureDoesNotMatch") || error.contains("403"),
        "{error}"
    );
    assert!(error.contains("s3://audit/rolebook/acme/org="), "{error}");
    assert!(!error.contains("not-the-secret"));
    assert_eq!((run.days, run.objects), (0, 0));
    let ledger = Ledger::open(&db).unwrap();
    assert_eq!(ledger.last_run(log.acme).await.unwrap(), Some(run));
    assert!(moto.objects().is_empty());

    // Right keys: both finished days go out, under the prefix.
    creds
        .put(log.acme, &moto.access_key_id, &moto.secret_access_key)
        .await
        .unwrap();
    let run = streaming::run_org(log.store.clone(), &stores, log.acme, &cfg, today, POLICY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.error, None);
    assert_eq!((run.days, run.objects), (2, 4));
    let objects = moto.objects();
    let mut keys: Vec<&String> = objects.keys().collect();
    keys.sort();
    let org = log.acme;
    assert_eq!(
        keys,
        vec![
            &format!("rolebook/acme/org={org}/date=2026-03-01/audit.digest.json"),
            &format!("rolebook/acme/org={org}/date=2026-03-01/audit.parquet"),
            &format!("rolebook/acme/org={org}/date=2026-03-02/audit.digest.json"),
            &format!("rolebook/acme/org={org}/date=2026-03-02/audit.parquet"),
        ]
    );
    assert_eq!(
        run.bytes,
        objects
            .values()
            .map(|o| o["size"].as_u64().unwrap())
            .sum::<u64>()
    );
    // What is in the bucket is what the digests describe, and the check
    // through the bucket agrees with the log.
    for date in ["2026-03-01", "2026-03-02"] {
        let digest: serde_json::Value = {
            let t = bucket(&moto, "rolebook/acme");
            let bytes = t
                .get(&export::target::digest_key(org, day(date)))
                .await
                .unwrap()
                .unwrap();
            serde_json::from_slice(&bytes).unwrap()
        };
        let parquet = &objects[&format!("rolebook/acme/org={org}/date={date}/audit.parquet")];
        assert_eq!(parquet["sha256"], digest["parquet_sha256"]);
    }
    let mut sel = Selection::finished_days(vec![org]);
    sel.today = today;
    let check = export::check(
        log.store.clone(),
        &db,
        &bucket(&moto, "rolebook/acme"),
        &sel,
    )
    .await
    .unwrap();
    assert!(check.ok, "{check:?}");
    assert_eq!(check.checked, 2);

    // A second run has nothing to do and records nothing.
    let again = streaming::run_org(log.store.clone(), &stores, log.acme, &cfg, today, POLICY)
        .await
        .unwrap();
    assert_eq!(again, None);
    assert_eq!(ledger.runs(log.acme, 10).await.unwrap().len(), 2);
    // A forced re-export writes the same keys with the same bytes.
    export::export(
        log.store.clone(),
        &db,
        &bucket(&moto, "rolebook/acme"),
        &sel,
        &replay::progress::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(moto.objects(), objects);

    // The next day finishes: only it goes out.
    let run = streaming::run_org(
        log.store.clone(),
        &stores,
        log.acme,
        &cfg,
        day("2026-03-04"),
        POLICY,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!((run.days, run.error.as_deref()), (1, None));
    assert_eq!(moto.objects().len(), 6);
}

/// The test's own client for the bucket, with the user's keys.
fn bucket(moto: &Moto, prefix: &str) -> Target {
    let mut s = BucketSettings::new(
        Provider::S3,
        "audit",
        prefix,
        &moto.access_key_id,
        &moto.secret_access_key,
    );
    s.endpoint = Some(moto.endpoint());
    Target::bucket(&s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_while_the_bucket_is_down() {
    let moto = Moto::start();
    let mut proxy = Proxy::start(moto.port).await;
    let log = logged(
        &["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"],
        800,
    )
    .await;
    let db = log.read_db();
    let stores = streaming::Stores::embedded(&db).unwrap();
    let cfg = config(&proxy.endpoint(), "");
    Credentials::open(&db)
        .unwrap()
        .put(log.globex, &moto.access_key_id, &moto.secret_access_key)
        .await
        .unwrap();
    Credentials::open(&db)
        .unwrap()
        .put(log.acme, &moto.access_key_id, &moto.secret_access_key)
        .await
        .unwrap();

    // Day 1 goes out while the bucket is up.
    let run = |today: &str| {
        streaming::run_org(
            log.store.clone(),
            &stores,
            log.acme,
            &cfg,
            day(today),
            POLICY,
        )
    };
    let first = run("2026-03-02").await.unwrap().unwrap();
    assert_eq!((first.days, first.error.as_deref()), (1, None));

    // The bucket goes down for two days: both runs fail and are recorded.
    proxy.down().await;
    for today in ["2026-03-03", "2026-03-04"] {
        let failed = run(today).await.unwrap().unwrap();
        assert_eq!(failed.days, 0);
        let error = failed.error.expect("the bucket is unreachable");
        assert!(
            error.starts_with("2026-03-02: cannot write or read s3://audit/org="),
            "{error}"
        );
        assert_eq!(
            Ledger::open(&db)
                .unwrap()
                .last_run(log.acme)
                .await
                .unwrap()
                .unwrap()
                .error,
            Some(error)
        );
    }

    // Back up: the next run catches up every missed day.
    proxy.up().await;
    let caught_up = run("2026-03-05").await.unwrap().unwrap();
    assert_eq!((caught_up.days, caught_up.error.as_deref()), (3, None));
    let objects = moto.objects();
    for date in ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"] {
        for name in ["audit.parquet", "audit.digest.json"] {
            let key = format!("org={}/date={date}/{name}", log.acme);
            assert!(objects.contains_key(&key), "{key} missing");
        }
    }
    assert_eq!(objects.len(), 8);
    let runs = Ledger::open(&db).unwrap().runs(log.acme, 10).await.unwrap();
    assert_eq!(runs.len(), 4);
    assert_eq!(runs.iter().filter(|r| r.error.is_some()).count(), 2);
    // globex was not configured for this run: its day is not there.
    assert!(!objects.keys().any(|k| k.contains(&log.globex.to_string())));
}

/// A PostgreSQL schema of its own on the machine's server with a log's
/// tables in it (the streaming tables live beside a log: its
/// `sealing_keys` record the key files' fingerprints), and a pool on it.
async fn schema_with_a_log() -> (testkit::postgres::TestSchema, sqlx::PgPool) {
    let schema = testkit::postgres::TestSchema::new();
    infra::postgres::PostgresEventStore::connect_with(
        infra::postgres::PostgresOptions::new(testkit::postgres::database_url())
            .in_schema(&schema.name),
    )
    .await
    .unwrap();
    let pool = sqlx::PgPool::connect(&schema.url()).await.unwrap();
    (schema, pool)
}

/// With the log in PostgreSQL, the sealed keys and the ledger are there
/// too: a second process (same key file) reads the keys the first stored
/// and finds the days it exported done; another key file is refused;
/// one process streams at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_ledger_live_beside_a_log_in_postgres() {
    let moto = Moto::start();
    let log = logged(&["2026-03-01", "2026-03-02", "2026-03-03"], 300).await;
    let (schema, pool) = schema_with_a_log().await;
    let tables = streaming::Tables::Postgres(pool.clone());
    let key_file = log.data_dir().join("streaming.key");
    let process = |key_file: std::path::PathBuf| {
        let (tables, read_db) = (tables.clone(), log.read_db());
        async move {
            streaming::Stores {
                read_db,
                credentials: Credentials::open_in(&tables, &key_file).await.unwrap(),
                ledger: Ledger::open_in(&tables).await.unwrap(),
            }
        }
    };
    let first = process(key_file.clone()).await;
    first
        .credentials
        .put(log.acme, &moto.access_key_id, &moto.secret_access_key)
        .await
        .unwrap();
    let cfg = config(&moto.endpoint(), "pg");
    let today = day("2026-03-03");
    let run = streaming::run_org(log.store.clone(), &first, log.acme, &cfg, today, POLICY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((run.days, run.error.as_deref()), (2, None));
    assert_eq!(moto.objects().len(), 4);

    let second = process(key_file.clone()).await;
    assert_eq!(
        second
            .credentials
            .get(log.acme)
            .await
            .unwrap()
            .unwrap()
            .secret_access_key,
        moto.secret_access_key
    );
    assert_eq!(second.ledger.last_run(log.acme).await.unwrap(), Some(run));
    let again = streaming::run_org(log.store.clone(), &second, log.acme, &cfg, today, POLICY)
        .await
        .unwrap();
    assert_eq!(again, None, "the days the first process exported are done");
    let sealed: String = sqlx::query_scalar("SELECT secret_access_key FROM streaming_credentials")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(sealed.starts_with("v1:") && !sealed.contains(&moto.secret_access_key));

    // A process with another key file is refused as it opens them, and
    // told which file to copy.
    let other_key = log.data_dir().join("other.key");
    match Credentials::open_in(&tables, &other_key).await {
        Err(e) => assert!(
            e.to_string().contains(
                "streaming.key in this data dir is not the key the other rolebook processes"
            ),
            "{e}"
        ),
        Ok(_) => panic!("another key file opened the keys"),
    }

    let claim = streaming::tables::claim_pass(&tables).await.unwrap();
    assert!(matches!(claim, Some(Some(_))), "the first pass is claimed");
    assert!(
        streaming::tables::claim_pass(&tables)
            .await
            .unwrap()
            .is_none(),
        "a second process skips its pass meanwhile"
    );
    // The pass ends (its transaction rolled back here and now: a dropped
    // one is rolled back whenever its connection is next used).
    claim.unwrap().unwrap().rollback().await.unwrap();
    assert!(streaming::tables::claim_pass(&tables)
        .await
        .unwrap()
        .is_some());
    pool.close().await;
    drop(schema);
}
