//! `rolebook serve`: runs the HTTP API on the embedded store. On an empty
//! store it first creates organization `default` with Owner
//! `admin@localhost` and prints that Owner's temporary password once (JSON on
//! stdout). Stops gracefully on Ctrl-C / SIGTERM: in-flight requests finish.
//!
//! `ROLEBOOK_ADMIN_TOKEN` (environment only, never a flag, so it does not
//! show in `ps`; at least 16 characters) is the instance admin token that
//! opens `POST /api/v1/orgs`. Unset or empty: that route answers 403 and
//! organizations are created with `rolebook org create`. Nothing about it
//! is printed.
//!
//! Bucket streaming: a background task exports each finished UTC day of
//! every organization with audit streaming configured to its bucket, once,
//! at start (catching up what was missed) and then every
//! `--streaming-interval` seconds (`rolebook::streaming`).

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use commands::CommandContext;
use domain::events::{Actor, Medium};
use projections::access::SharedAccessModel;
use projections::postgres::{PgAuditProjection, PgRbacProjection};
use projections::rbac::RbacProjection;
use projections::runner::Positions;

use crate::app::Storage;
use rolebook::http::{router, AppState};
use rolebook::streaming::{Credentials, Ledger, Stores, Tables};

#[derive(Debug, Args)]
pub struct Serve {
    /// Address to listen on.
    #[arg(long, env = "ROLEBOOK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Seconds between two passes of audit-log bucket streaming.
    #[arg(long, env = "ROLEBOOK_STREAMING_INTERVAL", default_value_t = 300)]
    pub streaming_interval: u64,
    /// Milliseconds between two passes of audit webhook delivery.
    #[arg(long, env = "ROLEBOOK_WEBHOOK_INTERVAL_MS", default_value_t = 1000)]
    pub webhook_interval_ms: u64,
    /// Milliseconds to wait after a webhook delivery's first failure
    /// (doubled after each next one, at most 5 minutes).
    #[arg(long, env = "ROLEBOOK_WEBHOOK_BACKOFF_MS", default_value_t = 1000)]
    pub webhook_backoff_ms: u64,
    /// Failed deliveries in a row after which a target is paused.
    #[arg(long, env = "ROLEBOOK_WEBHOOK_MAX_FAILURES", default_value_t = 12)]
    pub webhook_max_failures: u32,
    /// This server's URL as browsers and identity providers reach it (the
    /// base of SSO redirect URIs); default `http://` and the address it
    /// listens on.
    #[arg(long, env = "ROLEBOOK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Take the client address from the last `X-Forwarded-For` entry (only
    /// behind a reverse proxy that sets it): the address the IP allow
    /// list, the login limits and the audit log see. Off: the peer's.
    #[arg(long, env = "ROLEBOOK_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
}

/// The key file that seals kept idempotency answers, in the data dir.
pub const ANSWER_KEY_FILE: &str = "answers.key";

/// The shortest admin token accepted.
const MIN_ADMIN_TOKEN: usize = 16;

/// Reads `ROLEBOOK_ADMIN_TOKEN`; refuses a short one rather than serve with
/// a guessable token.
fn admin_token() -> anyhow::Result<Option<String>> {
    let token = std::env::var("ROLEBOOK_ADMIN_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    if let Some(t) = &token {
        if t.chars().count() < MIN_ADMIN_TOKEN {
            anyhow::bail!("ROLEBOOK_ADMIN_TOKEN must have at least {MIN_ADMIN_TOKEN} characters");
        }
    }
    Ok(token)
}

pub async fn run(storage: &Storage, args: Serve) -> anyhow::Result<()> {
    let data_dir = &storage.data_dir;
    let admin_token = admin_token()?;
    let crate::app::OpenedService { service, postgres } = storage.open_service().await?;
    // Credentials changes a crash left between a commit and its effects.
    let applied = service
        .apply_pending_effects()
        .await
        .context("cannot apply the credentials changes left by the last run")?;
    if applied > 0 {
        tracing::info!(applied, "applied credentials changes left by the last run");
    }
    let answer_key = infra::keyfile::load_or_create(&data_dir.join(ANSWER_KEY_FILE))
        .context("cannot use the key that seals idempotency answers")?;
    if service.organizations().await?.is_empty() {
        let ctx = CommandContext::new(Actor::system(), Medium::Cli);
        let created = service
            .create_organization(
                "default",
                None,
                "admin@localhost",
                Some("admin".into()),
                &ctx,
                None,
            )
            .await
            .context("cannot create the default organization")?;
        println!(
            "{}",
            serde_json::json!({
                "org": "default",
                "org_id": created.org_id,
                "owner": {
                    "user_id": created.owner.user_id,
                    "username": created.owner.username,
                    "login": "admin@localhost",
                    "temporary_password": created.owner.temporary_password,
                },
                "note": "shown once: log in with it and set your own password (POST /api/v1/orgs/default/sessions/password)",
            })
        );
    }

    let db = projections::db::path_in(data_dir);
    rolebook::http::idempotency::forget_plaintext_answers(&db)
        .context("cannot drop the plaintext answers of an older version")?;
    let model = SharedAccessModel::default();
    let positions = Positions::default();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let store = service.store().clone();
    // Authenticated requests wait until the access model has caught up
    // with the log as it is now (see `AppState::caught_up_since_start`).
    let head_at_start = store
        .head_position()
        .await
        .context("cannot read the log's head position")?;
    // The read models: beside the log in PostgreSQL, or in the data dir's
    // embedded database.
    let started = vec!["rbac", "audit"];
    let (rbac, audit) = match &postgres {
        Some(pool) => (
            tokio::spawn(projections::postgres::runner::run(
                PgRbacProjection::new(model.clone()),
                pool.clone(),
                store.clone(),
                positions.clone(),
                stopped.clone(),
            )),
            tokio::spawn(projections::postgres::runner::run(
                PgAuditProjection::new(),
                pool.clone(),
                store.clone(),
                positions.clone(),
                stopped.clone(),
            )),
        ),
        None => (
            tokio::spawn(projections::runner::run(
                RbacProjection::new(model.clone()),
                db.clone(),
                store.clone(),
                positions.clone(),
                stopped.clone(),
            )),
            tokio::spawn(projections::runner::run(
                projections::audit::AuditProjection::new(),
                db.clone(),
                store.clone(),
                positions.clone(),
                stopped.clone(),
            )),
        ),
    };

    // Bucket streaming: its keys and ledger beside the log; the Parquet
    // export reads the audit view of the data dir's database, which a
    // server on PostgreSQL keeps as a copy for it.
    let tables = match &postgres {
        Some(pool) => Tables::Postgres(pool.clone()),
        None => Tables::Embedded(db.clone()),
    };
    let key_file = data_dir.join(rolebook::streaming::credentials::KEY_FILE);
    if let Some(pool) = &postgres {
        // Every process on the database opens what the others sealed (the
        // streaming keys check their own file as they open).
        infra::postgres::sealing_keys::agree(pool, ANSWER_KEY_FILE, &answer_key)
            .await
            .with_context(|| {
                format!(
                    "cannot start with {}",
                    data_dir.join(ANSWER_KEY_FILE).display()
                )
            })?;
    }
    let streaming_keys = Credentials::open_in(&tables, &key_file)
        .await
        .with_context(|| format!("cannot start with {}", key_file.display()))?;
    let ledger = Ledger::open_in(&tables)
        .await
        .context("cannot open the audit streaming ledger")?;
    let (export_positions, export_copy) = match &postgres {
        Some(_) => {
            let copy = Positions::default();
            let task = tokio::spawn(projections::runner::run(
                projections::audit::AuditProjection::new(),
                db.clone(),
                store.clone(),
                copy.clone(),
                stopped.clone(),
            ));
            (copy, Some(task))
        }
        None => (positions.clone(), None),
    };
    let streamer = tokio::spawn(
        rolebook::streaming::Streamer {
            store: store.clone(),
            stores: Stores {
                read_db: db.clone(),
                credentials: streaming_keys.clone(),
                ledger,
            },
            model: model.clone(),
            positions: positions.clone(),
            export_positions,
            interval: std::time::Duration::from_secs(args.streaming_interval.max(1)),
            policy: rolebook::streaming::RequestPolicy::default(),
        }
        .run(stopped.clone()),
    );

    // Audit webhooks: their secrets, cursors and delivery log beside the
    // log; the entries come from the data dir's audit view, like the
    // export's.
    let notifications = rolebook::notifications::Store::open(&tables, streaming_keys.clone())
        .await
        .context("cannot open the audit webhooks' tables")?;
    let webhook_client = rolebook::notifications::client();
    let notifier = tokio::spawn(
        rolebook::notifications::Notifier {
            store: notifications.clone(),
            model: model.clone(),
            read_db: db.clone(),
            interval: std::time::Duration::from_millis(args.webhook_interval_ms.max(10)),
            policy: rolebook::notifications::RetryPolicy {
                backoff: std::time::Duration::from_millis(args.webhook_backoff_ms.max(1)),
                max_failures: args.webhook_max_failures.max(1),
            },
            client: webhook_client.clone(),
        }
        .run(stopped.clone()),
    );

    let sso = rolebook::sso::Sso::new(
        rolebook::sso::Store::open(&tables, streaming_keys.clone())
            .await
            .context("cannot open the single sign-on tables")?,
        webhook_client.clone(),
    );

    let answer_key = commands::AnswerKey::new(answer_key);
    let shared = postgres.is_some();
    let mut state = AppState::new(
        service,
        model,
        positions,
        db,
        answer_key,
        rolebook::http::state::Integrations {
            streaming_keys,
            notifications,
            sso,
            client: webhook_client,
        },
    )
    .with_audit_in(postgres)
    .with_admin_token(admin_token)
    .with_start(head_at_start, started);
    if shared {
        state = state.shared_with_other_servers();
    }
    state.trust_forwarded_for = args.trust_forwarded_for;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    state.public_url = args.public_url.clone().unwrap_or_else(|| {
        format!(
            "http://{}",
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        )
    });
    tracing::info!(address = %listener.local_addr()?, "listening");
    eprintln!("rolebook listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("the HTTP server failed")?;
    let _ = stop.send(true);
    let _ = rbac.await;
    let _ = audit.await;
    let _ = streamer.await;
    let _ = notifier.await;
    if let Some(copy) = export_copy {
        let _ = copy.await;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
