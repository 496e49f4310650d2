//! `rolebook replay ...`: the operator tool (API.md's `replay` rows).
//!
//! - `verify [--org ORG]`: recomputes the hash chain; exit 0 and
//!   `{"ok": true, "streams": n, "events": n}` when intact, else exit 1 with
//!   the report (`first`: stream, version, position and kind of the first
//!   broken link) on stdout;
//! - `state --org ORG --as-of TIME [--user U]`: the access state as of TIME
//!   (events that occurred at or before it), from snapshots;
//! - `snapshot [--org ORG]`: takes the snapshots `state` uses, up to now;
//! - `rebuild [--projection rbac|audit|all]`: rebuilds projections into a
//!   new generation, then switches over; resumes when run again;
//! - `export --out DIR|s3://BUCKET/PREFIX [--org ORG] [--from DATE] [--to
//!   DATE] [--include-today]`: the audit log as Parquet, one object per
//!   organization and finished UTC day, each with its digest; re-running
//!   keeps the days the target holds as the log says (that is how an
//!   interrupted export resumes), `--rewrite` writes them all again (the
//!   same bytes);
//! - `check-export --out ... [same filters]`: recomputes each object's
//!   SHA-256 and compares object, digest and log; exit 1 naming the first
//!   day that differs.
//!
//! Bucket settings: `--endpoint`/`ROLEBOOK_S3_ENDPOINT`,
//! `--region`/`ROLEBOOK_S3_REGION`, `--provider s3|gcs`, the access key id
//! from `--access-key-id`/`ROLEBOOK_S3_ACCESS_KEY_ID` (or
//! `AWS_ACCESS_KEY_ID`) and the secret from the environment only
//! (`ROLEBOOK_S3_SECRET_ACCESS_KEY` or `AWS_SECRET_ACCESS_KEY`), never a flag
//! and never printed.
//!
//! JSON on stdout, progress bars and logs on stderr.

use std::sync::Arc;

use crate::app::{OpenedStore, Storage};
use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use domain::ids::OrgId;
use domain::store::EventStore;
use infra::sqlite::EVENTS_FILE;

#[derive(Debug, Subcommand)]
pub enum ReplayCommand {
    /// Recompute every stream's hash chain (or one organization's) and check
    /// that the log is contiguous; exit 1 naming the first broken link.
    Verify {
        /// Only this organization's stream (name or id).
        #[arg(long)]
        org: Option<String>,
    },
    /// The access state of an organization as of a moment (its events that
    /// occurred at or before it): roles, bindings and effective permissions
    /// with their sources, as JSON. Starts from the latest snapshot before
    /// the moment (checked against the hash chain) and stores the snapshots
    /// it passes on the way.
    State {
        /// The organization's name or id.
        #[arg(long)]
        org: String,
        /// The moment: RFC 3339 (2026-01-31T12:00:00Z) or `now`.
        #[arg(long)]
        as_of: String,
        /// Only this user's permissions (id, username or email).
        #[arg(long)]
        user: Option<String>,
        /// Fold the whole stream, neither reading nor storing snapshots.
        #[arg(long)]
        no_snapshots: bool,
        /// Events between two snapshots of a stream.
        #[arg(long, default_value_t = replay::Snapshots::DEFAULT_INTERVAL)]
        snapshot_every: u64,
    },
    /// Take the snapshots `replay state` starts from, up to now, for one
    /// organization or all.
    Snapshot {
        /// Only this organization (name or id).
        #[arg(long)]
        org: Option<String>,
        /// Events between two snapshots of a stream.
        #[arg(long, default_value_t = replay::Snapshots::DEFAULT_INTERVAL)]
        every: u64,
    },
    /// Rebuild projections from position 0 into a new generation, then
    /// switch over in one transaction (the API keeps answering meanwhile).
    /// Ctrl-C stops after the current page; running again resumes.
    Rebuild {
        /// rbac, audit or all.
        #[arg(long, default_value = "all")]
        projection: String,
        /// Discard an unfinished generation and start from position 0.
        #[arg(long)]
        fresh: bool,
        /// Build up to the head of the log rather than to the live
        /// projection's checkpoint. Only when no `rolebook serve` is running
        /// on this data dir.
        #[arg(long)]
        to_head: bool,
    },
    /// Write the audit log as Parquet, one object per organization and UTC
    /// day (`org=<id>/date=YYYY-MM-DD/audit.parquet`) with a digest beside
    /// it; finished days only unless --include-today. Resumable: running
    /// again keeps every day the target holds as the log says (digest and
    /// object there) and writes the others.
    Export {
        #[command(flatten)]
        args: ExportArgs,
        /// Write every day again, even those the target holds already
        /// (the bytes are the same).
        #[arg(long)]
        rewrite: bool,
    },
    /// Check exported days: each Parquet object's SHA-256 against its
    /// digest, and the digest against the log (rows, positions, chain
    /// hash). Exit 1 when any day differs.
    CheckExport(ExportArgs),
}

/// Where and what to export (or check).
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// A directory, or s3://BUCKET/PREFIX.
    #[arg(long)]
    out: String,
    /// Only this organization (name or id); default: all.
    #[arg(long)]
    org: Option<String>,
    /// First UTC day, YYYY-MM-DD (inclusive).
    #[arg(long)]
    from: Option<String>,
    /// Last UTC day, YYYY-MM-DD (inclusive).
    #[arg(long)]
    to: Option<String>,
    /// Also today's (unfinished) day, as it stands now.
    #[arg(long)]
    include_today: bool,
    #[command(flatten)]
    bucket: BucketArgs,
}

/// S3-compatible bucket settings (the secret comes from the environment).
#[derive(Debug, clap::Args)]
pub struct BucketArgs {
    /// s3 (AWS or any S3-compatible endpoint) or gcs (HMAC keys).
    #[arg(long, default_value = "s3")]
    provider: String,
    /// Endpoint URL (https; http only for loopback); default: AWS, or
    /// storage.googleapis.com for gcs.
    #[arg(long, env = "ROLEBOOK_S3_ENDPOINT")]
    endpoint: Option<String>,
    /// Region; default us-east-1 (s3) or auto (gcs).
    #[arg(long, env = "ROLEBOOK_S3_REGION")]
    region: Option<String>,
    /// Access key id (or AWS_ACCESS_KEY_ID).
    #[arg(long, env = "ROLEBOOK_S3_ACCESS_KEY_ID", hide_env_values = true)]
    access_key_id: Option<String>,
}

pub async fn run(storage: &Storage, command: ReplayCommand) -> anyhow::Result<()> {
    match command {
        ReplayCommand::Verify { org } => verify(storage, org.as_deref()).await,
        ReplayCommand::State {
            org,
            as_of,
            user,
            no_snapshots,
            snapshot_every,
        } => {
            let snapshots = (!no_snapshots).then_some(snapshot_every);
            state(storage, &org, &as_of, user.as_deref(), snapshots).await
        }
        ReplayCommand::Snapshot { org, every } => snapshot(storage, org.as_deref(), every).await,
        ReplayCommand::Rebuild {
            projection,
            fresh,
            to_head,
        } => rebuild(storage, &projection, fresh, to_head).await,
        ReplayCommand::Export { args, rewrite } => export(storage, args, rewrite).await,
        ReplayCommand::CheckExport(args) => check_export(storage, args).await,
    }
}

/// Opens the event store of an existing data dir, or PostgreSQL's (never
/// creates an embedded one).
async fn open_store(storage: &Storage) -> anyhow::Result<Arc<dyn EventStore>> {
    Ok(storage.open_store(false).await?.port())
}

async fn resolve_org(store: &dyn EventStore, org: &str) -> anyhow::Result<OrgId> {
    replay::registry::find_org(store, org)
        .await
        .context("cannot read the organization registry")?
        .ok_or_else(|| anyhow!("unknown organization {org:?}"))
}

async fn verify(storage: &Storage, org: Option<&str>) -> anyhow::Result<()> {
    let opened = storage.open_store(false).await?;
    let store = opened.port();
    let stream = match org {
        Some(org) => Some(resolve_org(store.as_ref(), org).await?.stream()),
        None => None,
    };
    let options = match &opened {
        OpenedStore::Sqlite(_) => {
            replay::VerifyOptions::sqlite(&storage.data_dir.join(EVENTS_FILE), stream)?
        }
        // KurrentDB keeps no record of the streams beside the events, and
        // its positions have gaps: the chain is checked from the events.
        OpenedStore::Kurrent(..) => replay::VerifyOptions {
            stream,
            recorded: None,
            gap_free_positions: false,
            segments: None,
        },
        OpenedStore::Postgres(pg) => {
            let (head_position, streams) = pg
                .stream_records()
                .await
                .context("cannot read the store's record of the streams")?;
            replay::VerifyOptions {
                stream,
                recorded: Some(replay::verify::Recorded {
                    head_position,
                    streams: streams
                        .into_iter()
                        .map(|(id, version, last_hash)| {
                            (id, replay::verify::StreamHead { version, last_hash })
                        })
                        .collect(),
                }),
                gap_free_positions: true,
                segments: None,
            }
        }
    };
    let bar = replay::progress::events_bar(0, "verifying");
    let started = std::time::Instant::now();
    let report = replay::verify(store, options, &bar).await?;
    tracing::info!(
        events = report.events,
        seconds = started.elapsed().as_secs_f64(),
        "verified"
    );
    println!("{}", serde_json::to_string(&report)?);
    match &report.first {
        None if report.ok => Ok(()),
        Some(first) => bail!(
            "the log is broken: {} version {}{}: {}",
            first.stream,
            first.version,
            first
                .position
                .map(|p| format!(" (position {p})"))
                .unwrap_or_default(),
            first.detail
        ),
        None => bail!(
            "the log is broken: {} global positions are missing (first {:?})",
            report.missing_position_count,
            report.missing_positions.first()
        ),
    }
}

async fn state(
    storage: &Storage,
    org: &str,
    at: &str,
    user: Option<&str>,
    snapshot_every: Option<u64>,
) -> anyhow::Result<()> {
    let data_dir = storage.data_dir.as_path();
    let at = parse_time(at)?;
    let store = open_store(storage).await?;
    let org_id = resolve_org(store.as_ref(), org).await?;
    let snapshots = match snapshot_every {
        // One answer per process: decoded snapshots are not worth keeping.
        Some(every) => Some(
            replay::Snapshots::in_dir(data_dir)?
                .with_interval(every)
                .with_cache(0),
        ),
        None => None,
    };
    let total = store.stream_version(&org_id.stream()).await?;
    let bar = replay::progress::events_bar(total, "replaying");
    let found =
        replay::asof::as_of_with_progress(store.as_ref(), snapshots.as_ref(), org_id, at, &bar)
            .await?;
    bar.finish_and_clear();
    tracing::info!(
        version = found.version,
        folded = found.events_folded,
        snapshot = ?found.snapshot.as_ref().map(|s| s.version),
        "state rebuilt"
    );
    let s = &found.state;
    let mut out = serde_json::json!({
        "org_id": org_id,
        "name": s.name,
        "as_of": at,
        "exists": s.exists(),
        "version": found.version,
        "position": found.position,
        "hash": domain::hash::to_hex(&found.hash),
        "occurred_at": found.occurred_at,
        "replay": {
            "snapshot": found.snapshot.as_ref().map(|m| serde_json::json!({
                "version": m.version,
                "position": m.position,
            })),
            "events_folded": found.events_folded,
            "snapshots_written": found.snapshots_written,
            "snapshots_discarded": found.snapshots_discarded,
        },
    });
    let extra = match user {
        Some(u) => {
            let user_id = resolve_user(s, u).ok_or_else(|| {
                anyhow!("no user {u:?} in {org} as of {at} (give an id to ask about a user that did not exist then)")
            })?;
            serde_json::json!({
                "user": replay::access::user_view(s, user_id),
                "permissions": replay::access::permissions_of(s, user_id),
            })
        }
        None => serde_json::to_value(replay::access::access_state(s))?,
    };
    if let (Some(out), serde_json::Value::Object(extra)) = (out.as_object_mut(), extra) {
        out.extend(extra);
    }
    println!("{out}");
    Ok(())
}

/// A user by id, username or email in a state; an id is accepted even if
/// the state does not hold that user (not yet invited, or removed).
fn resolve_user(state: &domain::Organization, user: &str) -> Option<domain::ids::UserId> {
    if let Ok(id) = user.parse::<domain::ids::UserId>() {
        return Some(id);
    }
    state
        .user_by_username(user)
        .or_else(|| state.user_by_email(user))
        .map(|u| u.id)
}

async fn snapshot(storage: &Storage, org: Option<&str>, every: u64) -> anyhow::Result<()> {
    let data_dir = storage.data_dir.as_path();
    let store = open_store(storage).await?;
    let orgs = match org {
        Some(org) => vec![resolve_org(store.as_ref(), org).await?],
        None => replay::registry::organizations(store.as_ref())
            .await?
            .into_iter()
            .map(|(_, id)| id)
            .collect(),
    };
    let snapshots = replay::Snapshots::in_dir(data_dir)?
        .with_interval(every)
        .with_cache(0);
    let mut report = Vec::new();
    for org_id in orgs {
        let total = store.stream_version(&org_id.stream()).await?;
        let bar = replay::progress::events_bar(total, "snapshotting");
        let found = replay::asof::as_of_with_progress(
            store.as_ref(),
            Some(&snapshots),
            org_id,
            DateTime::<Utc>::MAX_UTC,
            &bar,
        )
        .await?;
        bar.finish_and_clear();
        report.push(serde_json::json!({
            "org_id": org_id,
            "version": found.version,
            "snapshots": snapshots.list(&org_id.stream()).await?.len(),
            "snapshots_written": found.snapshots_written,
            "snapshots_discarded": found.snapshots_discarded,
        }));
    }
    println!(
        "{}",
        serde_json::json!({ "every": every, "organizations": report })
    );
    Ok(())
}

async fn rebuild(
    storage: &Storage,
    projection: &str,
    fresh: bool,
    to_head: bool,
) -> anyhow::Result<()> {
    let data_dir = storage.data_dir.as_path();
    use replay::rebuild::{Options, Target, Which};
    let which = Which::parse(projection)
        .ok_or_else(|| anyhow!("unknown projection {projection:?}: expected rbac, audit or all"))?;
    let opened = storage.open_store(false).await?;
    let options = Options {
        target: if to_head {
            Target::Head
        } else {
            Target::LiveCheckpoint
        },
        fresh,
        ..Options::default()
    };
    // Ctrl-C: finish the page in flight (its checkpoint commits with it).
    let stop = options.stop.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("rolebook: stopping after the current page (run again to resume)");
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let bar = replay::progress::events_bar(0, "rebuilding");
    let report = match &opened {
        // The read models are beside the log.
        crate::app::OpenedStore::Postgres(pg) => {
            replay::rebuild::postgres::rebuild(&**pg, pg.pool(), &which, options, &bar).await
        }
        crate::app::OpenedStore::Kurrent(kurrent, Some(pool)) => {
            replay::rebuild::postgres::rebuild(&**kurrent, pool, &which, options, &bar).await
        }
        crate::app::OpenedStore::Sqlite(_) | crate::app::OpenedStore::Kurrent(_, None) => {
            replay::rebuild::rebuild(opened.port(), data_dir, &which, options, &bar).await
        }
    };
    watcher.abort();
    let report = report?;
    println!("{}", serde_json::to_string(&report)?);
    if report.interrupted {
        let at: Vec<String> = report
            .projections
            .iter()
            .map(|p| format!("{} at position {}", p.projection.name(), p.position))
            .collect();
        bail!("interrupted ({}): run it again to resume", at.join(", "));
    }
    Ok(())
}

/// Reads `--as-of`: RFC 3339 (`2026-01-31T12:00:00Z`) or `now`.
fn parse_time(value: &str) -> anyhow::Result<DateTime<Utc>> {
    if value == "now" {
        return Ok(Utc::now());
    }
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            anyhow!("invalid time {value:?} for --as-of: expected RFC 3339 (2026-01-31T12:00:00Z) or `now`")
        })
}

fn parse_day(flag: &str, value: Option<&str>) -> anyhow::Result<Option<chrono::NaiveDate>> {
    value
        .map(|v| {
            chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| anyhow!("invalid date {v:?} for {flag}: expected YYYY-MM-DD (UTC)"))
        })
        .transpose()
}

/// The first non-empty environment variable of `names`.
fn env_any(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

/// The export target of `--out`, with the bucket settings for `s3://`.
fn target_of(args: &ExportArgs) -> anyhow::Result<replay::export::Target> {
    use replay::export::{BucketSettings, Provider, Target};
    let settings = if args.out.starts_with("s3://") {
        let b = &args.bucket;
        let provider = Provider::parse(&b.provider)
            .ok_or_else(|| anyhow!("unknown --provider {:?}: expected s3 or gcs", b.provider))?;
        let key_id = b
            .access_key_id
            .clone()
            .or_else(|| env_any(&["AWS_ACCESS_KEY_ID"]))
            .ok_or_else(|| {
                anyhow!("an s3:// target needs ROLEBOOK_S3_ACCESS_KEY_ID (or --access-key-id)")
            })?;
        let secret = env_any(&["ROLEBOOK_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"])
            .ok_or_else(|| {
                anyhow!("an s3:// target needs ROLEBOOK_S3_SECRET_ACCESS_KEY in the environment")
            })?;
        let mut s = BucketSettings::new(provider, "", "", &key_id, &secret);
        s.endpoint = b.endpoint.clone();
        s.region = b.region.clone();
        Some(s)
    } else {
        None
    };
    Ok(Target::parse(&args.out, settings)?)
}

/// The selection of `args`: organizations and days.
async fn selection_of(
    store: &dyn EventStore,
    args: &ExportArgs,
) -> anyhow::Result<replay::export::Selection> {
    let orgs = match &args.org {
        Some(org) => vec![resolve_org(store, org).await?],
        None => replay::registry::organizations(store)
            .await?
            .into_iter()
            .map(|(_, id)| id)
            .collect(),
    };
    let mut selection = replay::export::Selection::finished_days(orgs);
    selection.from = parse_day("--from", args.from.as_deref())?;
    selection.to = parse_day("--to", args.to.as_deref())?;
    selection.include_today = args.include_today;
    if let (Some(f), Some(t)) = (selection.from, selection.to) {
        if f > t {
            bail!("--from ({f}) is after --to ({t})");
        }
    }
    let today = chrono::Utc::now().date_naive();
    if !selection.include_today && selection.to.is_some_and(|to| to >= today) {
        eprintln!(
            "rolebook: today ({today}, UTC) is not finished and is left out; \
             pass --include-today to export it as it stands"
        );
    }
    Ok(selection)
}

async fn export(storage: &Storage, args: ExportArgs, rewrite: bool) -> anyhow::Result<()> {
    let data_dir = storage.data_dir.as_path();
    let target = target_of(&args)?;
    let store = open_store(storage).await?;
    let mut selection = selection_of(store.as_ref(), &args).await?;
    selection.rewrite = rewrite;
    // The export holds every event committed when it started.
    let db = projections::db::path_in(data_dir);
    let applied = super::audit::catch_up(store.clone(), &db).await?;
    tracing::info!(applied, "audit log caught up with the event store");
    let bar = replay::progress::rows_bar(0, "exporting");
    let report = replay::export::export(store, &db, &target, &selection, &bar).await;
    bar.finish_and_clear();
    let report = report?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

async fn check_export(storage: &Storage, args: ExportArgs) -> anyhow::Result<()> {
    let data_dir = storage.data_dir.as_path();
    let target = target_of(&args)?;
    let store = open_store(storage).await?;
    let selection = selection_of(store.as_ref(), &args).await?;
    let db = projections::db::path_in(data_dir);
    super::audit::catch_up(store.clone(), &db).await?;
    let report = replay::export::check(store, &db, &target, &selection).await?;
    println!("{}", serde_json::to_string(&report)?);
    match report.days.iter().find(|d| !d.ok) {
        None => Ok(()),
        Some(day) => bail!(
            "{} of {} day(s) differ; first: {} of {}: {}",
            report.failed,
            report.checked,
            day.date,
            day.org_id,
            day.problems.first().map(String::as_str).unwrap_or("")
        ),
    }
}
