//! `rolebook audit export --org ORG [--from DATE] [--to DATE]`: the audit log
//! of one organization as CSV on stdout (header first, oldest entry first).
//!
//! Before exporting it catches the audit projection up with the event store,
//! so the export holds every event committed when it started. Logs go to
//! stderr; stdout carries the CSV only. Fails (exit 1, one line on stderr)
//! for an unknown organization, a malformed date, or `--from` after `--to`.

use std::path::Path;
use std::sync::Arc;

use crate::app::Storage;
use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use domain::store::{pages_of_all, EventStore};
use futures::TryStreamExt;
use projections::audit::{self, AuditFilter, AuditProjection};
use projections::postgres::{PgAuditProjection, PgRunner};
use projections::runner::{self, Projection, Runner};

/// Events per catch-up transaction. Larger than the runner's page: a commit
/// writes every page the batch dirtied, and the actor and resource indexes
/// dirty about one page per distinct actor and resource, so fewer, larger
/// transactions cost less to commit.
/// A page of 50,000 events holds some tens of MiB while it is applied.
const CATCH_UP_PAGE: usize = 50_000;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write an organization's audit log as CSV on stdout, oldest first.
    Export {
        /// The organization's name or id.
        #[arg(long)]
        org: String,
        /// Entries at or after this moment: YYYY-MM-DD (midnight UTC) or RFC
        /// 3339 (2026-01-31T12:00:00Z).
        #[arg(long)]
        from: Option<String>,
        /// Entries before this moment: YYYY-MM-DD includes that whole day
        /// (UTC); an RFC 3339 time is exclusive.
        #[arg(long)]
        to: Option<String>,
    },
}

pub async fn run(storage: &Storage, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Export { org, from, to } => {
            export(storage, &org, from.as_deref(), to.as_deref()).await
        }
    }
}

/// Reads `--from`/`--to`: a calendar date (UTC) or an RFC 3339 instant. A
/// date given as the end of a range means the end of that day.
fn parse_bound(flag: &str, value: &str, end_of_day: bool) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let day = if end_of_day {
            day.succ_opt()
        } else {
            Some(day)
        };
        if let Some(midnight) = day.and_then(|d| d.and_hms_opt(0, 0, 0)) {
            return Ok(midnight.and_utc());
        }
    }
    bail!(
        "invalid date {value:?} for {flag}: expected YYYY-MM-DD or RFC 3339 (2026-01-31T12:00:00Z)"
    )
}

async fn export(
    storage: &Storage,
    org: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> anyhow::Result<()> {
    let from = from.map(|v| parse_bound("--from", v, false)).transpose()?;
    let to = to.map(|v| parse_bound("--to", v, true)).transpose()?;
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            bail!("--from ({f}) is after --to ({t})");
        }
    }
    let crate::app::OpenedService { service, postgres } = storage.open_service().await?;
    let org_id = service
        .find_org(org)
        .await
        .context("cannot read the organization registry")?
        .ok_or_else(|| anyhow!("unknown organization {org:?}"))?;

    let mut filter = AuditFilter::new(org_id);
    filter.from = from;
    filter.to = to;
    if let Some(pool) = postgres {
        return export_from_postgres(service.store().as_ref(), pool, filter).await;
    }

    let db = projections::db::path_in(&storage.data_dir);
    let applied = catch_up(service.store().clone(), &db).await?;
    tracing::info!(applied, "audit log caught up with the event store");
    tokio::task::block_in_place(|| {
        let conn = projections::db::open_read_only(&db)
            .with_context(|| format!("cannot open {}", db.display()))?;
        match audit::export(&conn, &filter, std::io::stdout().lock()) {
            Ok(rows) => {
                tracing::info!(rows, "audit log exported");
                Ok(())
            }
            // `| head`: the reader has what it wanted.
            Err(e) if e.is_broken_pipe() => Ok(()),
            Err(e) => Err(anyhow!(e).context("audit export failed")),
        }
    })
}

/// The export from the audit view in PostgreSQL, after catching it up with
/// the log (rows a serving process has not written yet are written here;
/// the checkpoint keeps the two from writing any twice).
async fn export_from_postgres(
    store: &dyn EventStore,
    pool: sqlx::PgPool,
    filter: AuditFilter,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut runner = PgRunner::open(PgAuditProjection::new(), pool.clone(), store).await?;
    loop {
        let before = runner.position();
        let (next, reached) = runner.step(store).await?;
        runner = next;
        if reached == before {
            break;
        }
    }
    tracing::info!(
        position = runner.position(),
        "audit log caught up with the event store"
    );
    let mut export = projections::postgres::CsvExport::new(pool, filter)?;
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = export.next_chunk().await? {
        match out.write_all(&chunk) {
            Ok(()) => {}
            // `| head`: the reader has what it wanted.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(anyhow!(e).context("audit export failed")),
        }
    }
    out.flush().ok();
    tracing::info!(rows = export.rows(), "audit log exported");
    Ok(())
}

/// Applies every event the audit projection has not seen yet; returns how
/// many were read. Warms the projection's names up to its checkpoint first.
pub(super) async fn catch_up(store: Arc<dyn EventStore>, db: &Path) -> anyhow::Result<u64> {
    let mut runner = loop {
        let mut projection = AuditProjection::new();
        let checkpoint = tokio::task::block_in_place(|| {
            let conn = projections::db::open(db)
                .with_context(|| format!("cannot open {}", db.display()))?;
            projection.migrate(&conn)?;
            anyhow::Ok(runner::checkpoint(&conn, projection.name())?)
        })?;
        let mut pages = std::pin::pin!(pages_of_all(&*store, 1, Some(checkpoint), CATCH_UP_PAGE));
        while let Some(page) = pages.try_next().await? {
            projection.warm(&runner::decode(page)?)?;
        }
        let runner = tokio::task::block_in_place(|| Runner::open(projection, db))?;
        // Another process may have moved the checkpoint meanwhile: warm again.
        if runner.position() == checkpoint {
            break runner;
        }
    };
    let mut read = 0u64;
    let from = runner.position() + 1;
    let mut pages = std::pin::pin!(pages_of_all(&*store, from, None, CATCH_UP_PAGE));
    while let Some(page) = pages.try_next().await? {
        let last = page.last().map_or(0, |e| e.global_position);
        read += page.len() as u64;
        let decoded = runner::decode(page)?;
        tokio::task::block_in_place(|| runner.apply_page(&decoded, last))?;
        tracing::debug!(position = last, "audit projection");
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_instants() {
        assert_eq!(
            parse_bound("--from", "2026-01-31", false).unwrap(),
            "2026-01-31T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            parse_bound("--to", "2026-01-31", true).unwrap(),
            "2026-02-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            parse_bound("--to", "2026-01-31T12:00:00+02:00", true).unwrap(),
            "2026-01-31T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let e = parse_bound("--from", "yesterday", false).unwrap_err();
        assert!(e.to_string().contains("--from"), "{e}");
    }
}
