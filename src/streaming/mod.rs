//! Bucket streaming, the server's background task: for each organization with audit
//! streaming configured (`PUT /audit-logs/streaming`), the server exports
//! every finished UTC day to the bucket once, through `replay::export`.
//!
//! - [`credentials`]: the bucket keys, encrypted at rest;
//! - [`ledger`]: the days done per target and the record of each run.
//!
//! **A run** ([`run_org`]) plans the organization's finished days with
//! entries, leaves out those the ledger has for this target, and exports
//! the others oldest first, marking each in the ledger once both its
//! objects are written. It stops at the first failure (the bucket refuses,
//! cannot be reached, the keys are wrong): that day and the later ones stay
//! pending and the next run starts again from them, so downtime of the
//! server or of the bucket loses nothing. A run with nothing to do is not
//! recorded; any other is, with its error.
//!
//! **The task** ([`Streamer::run`]) runs every organization once at start
//! (catching up the days missed while the server was down) and then every
//! `interval`; before each pass it waits for the audit projection to reach
//! the head of the log, so a finished day is exported complete.

pub mod credentials;
pub mod ledger;
pub mod tables;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use domain::events::AuditStreamingConfigured;
use domain::ids::OrgId;
use domain::store::EventStore;
use projections::access::SharedAccessModel;
use projections::runner::Positions;

pub use credentials::Credentials;
pub use ledger::{Ledger, RunRecord};
use replay::export::{
    self, BucketSettings, ExportError, ObjectStorageError, Provider, Selection, Target,
};
pub use tables::Tables;

/// Why streaming could not even run (a failed export is recorded in the
/// run, not returned).
#[derive(Debug, thiserror::Error)]
pub enum StreamingError {
    #[error("{context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A stored key cannot be decrypted (another key file, or tampering).
    #[error("{0}")]
    Sealed(String),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("streaming task: {0}")]
    Task(String),
    /// The tables could not be migrated, or are newer than this binary.
    #[error(transparent)]
    Schema(#[from] infra::sqlite::migrations::MigrationError),
    /// PostgreSQL failed (the tables beside the log).
    #[error("{context}: {source}")]
    Postgres {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// The PostgreSQL tables could not be migrated.
    #[error(transparent)]
    PostgresSchema(#[from] domain::store::StoreError),
}

impl StreamingError {
    pub(crate) fn db(context: &'static str) -> impl Fn(rusqlite::Error) -> StreamingError + Copy {
        move |source| StreamingError::Database { context, source }
    }
}

/// How requests to the bucket behave.
#[derive(Debug, Clone, Copy)]
pub struct RequestPolicy {
    pub timeout: Duration,
    pub max_retries: usize,
}

impl Default for RequestPolicy {
    fn default() -> Self {
        RequestPolicy {
            timeout: Duration::from_secs(60),
            max_retries: 3,
        }
    }
}

/// The ledger's name for a target: endpoint, bucket and prefix (no keys).
pub fn fingerprint(config: &AuditStreamingConfigured) -> String {
    format!(
        "{}|{}|{}|{}",
        config.provider,
        config.endpoint.as_deref().unwrap_or(""),
        config.bucket,
        config.prefix.as_deref().unwrap_or("").trim_matches('/')
    )
}

/// The bucket of a streaming configuration with its keys.
pub fn target_of(
    config: &AuditStreamingConfigured,
    keys: &credentials::Keys,
    policy: RequestPolicy,
) -> Result<Target, ExportError> {
    let provider = Provider::parse(&config.provider).ok_or_else(|| {
        ObjectStorageError::InvalidTarget(format!("unknown provider {:?}", config.provider))
    })?;
    let mut s = BucketSettings::new(
        provider,
        &config.bucket,
        config.prefix.as_deref().unwrap_or(""),
        &keys.access_key_id,
        &keys.secret_access_key,
    );
    s.region = config.region.clone();
    s.endpoint = config.endpoint.clone();
    s.timeout = policy.timeout;
    s.max_retries = policy.max_retries;
    Ok(Target::bucket(&s)?)
}

/// Where a streaming run reads and writes: the audit view the Parquet
/// export reads (the data dir's read-model database), the sealed keys and
/// the ledger (beside it, or beside the log in PostgreSQL).
#[derive(Clone)]
pub struct Stores {
    pub read_db: PathBuf,
    pub credentials: Credentials,
    pub ledger: Ledger,
}

impl Stores {
    /// All of it in the read-model database `read_db`.
    pub fn embedded(read_db: &std::path::Path) -> Result<Stores, StreamingError> {
        Ok(Stores {
            read_db: read_db.to_path_buf(),
            credentials: Credentials::open(read_db)?,
            ledger: Ledger::open(read_db)?,
        })
    }
}

/// One streaming run for `org`: exports each finished day not yet in the
/// ledger for this target, records the days and the run. `None` when there
/// was nothing to do.
///
/// A run that cannot reach the bucket records the error in the ledger
/// (the next pass retries); fails itself only when the ledger or the audit
/// view cannot be read or written.
pub async fn run_org(
    store: Arc<dyn EventStore>,
    stores: &Stores,
    org: OrgId,
    config: &AuditStreamingConfigured,
    today: NaiveDate,
    policy: RequestPolicy,
) -> Result<Option<RunRecord>, StreamingError> {
    let started_at = Utc::now();
    let fp = fingerprint(config);
    let read_db = stores.read_db.as_path();
    let ledger = &stores.ledger;
    let done = ledger.done_days(org, &fp).await?;
    let keys = stores.credentials.get(org).await;
    let mut run = RunRecord {
        started_at,
        finished_at: started_at,
        days: 0,
        objects: 0,
        bytes: 0,
        error: None,
        target: format!(
            "s3://{}/{}",
            config.bucket,
            config.prefix.as_deref().unwrap_or("").trim_matches('/')
        ),
    };
    let target = match keys {
        Ok(Some(keys)) => target_of(config, &keys, policy).map_err(|e| e.to_string()),
        Ok(None) => Err("no credentials are stored for this target (PUT it again)".to_string()),
        Err(e) => Err(e.to_string()),
    };
    let pending: Vec<(OrgId, NaiveDate)> = {
        let mut selection = Selection::finished_days(vec![org]);
        selection.today = today;
        let db = read_db.to_path_buf();
        let planned = tokio::task::spawn_blocking(move || {
            export::plan(&export::writer::open(&db)?, &selection)
        })
        .await
        .map_err(|e| StreamingError::Task(e.to_string()))??;
        planned
            .into_iter()
            .filter(|(_, d)| !done.contains(d))
            .collect()
    };
    match target {
        _ if pending.is_empty() => return Ok(None),
        Err(e) => run.error = Some(e),
        Ok(target) => {
            let bar = replay::progress::hidden();
            for (org, day) in pending {
                match export::export_day(store.as_ref(), read_db, &target, org, day, &bar).await {
                    Ok(Some(done)) => {
                        ledger.mark_done(&fp, &done).await?;
                        run.days += 1;
                        run.objects += 2;
                        run.bytes += done.bytes;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        run.error = Some(format!("{day}: {e}"));
                        break;
                    }
                }
            }
        }
    }
    run.finished_at = Utc::now();
    ledger.record_run(org, &run).await?;
    Ok(Some(run))
}

/// The server's streaming task (see the module doc).
pub struct Streamer {
    pub store: Arc<dyn EventStore>,
    pub stores: Stores,
    pub model: SharedAccessModel,
    /// Where the access model (`rbac`) has reached.
    pub positions: Positions,
    /// Where the audit view the export reads (`audit`, in
    /// `stores.read_db`) has reached: `positions` on the embedded store;
    /// with PostgreSQL, the data dir's copy of the view kept for export.
    pub export_positions: Positions,
    /// Time between two passes.
    pub interval: Duration,
    pub policy: RequestPolicy,
}

impl Streamer {
    /// Organizations with streaming configured, from the access model.
    fn configured(&self) -> Vec<(OrgId, AuditStreamingConfigured)> {
        let model = self.model.read();
        let mut all: Vec<_> = model
            .orgs
            .iter()
            .filter_map(|(id, o)| o.state.audit_streaming.clone().map(|c| (*id, c)))
            .collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }

    /// One pass over every configured organization.
    pub async fn pass(&self) {
        let head = match self.store.head_position().await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "audit streaming: cannot read the log's head");
                return;
            }
        };
        // The access model says who streams; the audit view must hold every
        // event up to now before a finished day is exported.
        for (projection, positions) in
            [("rbac", &self.positions), ("audit", &self.export_positions)]
        {
            if let Err(lag) = positions
                .wait(projection, head, Duration::from_secs(60))
                .await
            {
                tracing::warn!(
                    projection,
                    reached = lag.reached,
                    wanted = lag.wanted,
                    "audit streaming: projection behind the log, pass skipped"
                );
                return;
            }
        }
        let _claim = match tables::claim_pass(self.stores.ledger.tables()).await {
            Ok(Some(claim)) => claim,
            Ok(None) => {
                tracing::debug!("audit streaming: another process is streaming, pass skipped");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "audit streaming: pass skipped");
                return;
            }
        };
        let today = Utc::now().date_naive();
        for (org, config) in self.configured() {
            match run_org(
                self.store.clone(),
                &self.stores,
                org,
                &config,
                today,
                self.policy,
            )
            .await
            {
                Ok(Some(run)) if run.error.is_none() => tracing::info!(
                    %org, days = run.days, objects = run.objects, bytes = run.bytes,
                    "audit streaming: days exported"
                ),
                Ok(Some(run)) => tracing::warn!(
                    %org, days = run.days, error = run.error.as_deref().unwrap_or(""),
                    "audit streaming: run failed (the next run retries)"
                ),
                Ok(None) => tracing::debug!(%org, "audit streaming: nothing to export"),
                Err(e) => tracing::error!(%org, error = %e, "audit streaming: cannot run"),
            }
        }
    }

    /// Runs a pass now and then every `interval`, until `stop` turns true.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = self.pass() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}
