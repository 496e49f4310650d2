//! Group commit within one organization: commands for the same
//! organization that arrive together are decided together and committed in
//! one append (one transaction, one fsync of the log), not one append each.
//! The store is wrapped to count the append requests it receives.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use commands::{CommandService, Credentials};
use common::*;
use domain::ids::ProjectId;
use domain::store::{
    AppendRequest, AppendResult, EventStore, KeptAnswer, PendingEffect, RecordedEvent, StoreError,
    StoredAnswer, StreamId,
};
use domain::Command;
use uuid::Uuid;

/// An event store that counts the requests appended to each stream.
struct Counting {
    inner: Arc<dyn EventStore>,
    /// Append requests (one per stream per transaction) received.
    requests: AtomicUsize,
    /// Transactions (calls of `append_each` / `append_all`).
    transactions: AtomicUsize,
}

#[async_trait]
impl EventStore for Counting {
    async fn append_each(
        &self,
        batch: Vec<AppendRequest>,
    ) -> Vec<Result<AppendResult, StoreError>> {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(batch.len(), Ordering::Relaxed);
        self.inner.append_each(batch).await
    }
    async fn append_all(&self, batch: Vec<AppendRequest>) -> Result<Vec<AppendResult>, StoreError> {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(batch.len(), Ordering::Relaxed);
        self.inner.append_all(batch).await
    }
    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream, from_version, limit).await
    }
    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(from_position, limit).await
    }
    async fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
        self.inner.stream_version(stream).await
    }
    async fn head_position(&self) -> Result<u64, StoreError> {
        self.inner.head_position().await
    }
    async fn wait_for(&self, position: u64, timeout: Duration) -> Result<u64, StoreError> {
        self.inner.wait_for(position, timeout).await
    }
    async fn find_answer(
        &self,
        principal: &[u8; 32],
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        self.inner.find_answer(principal, key, since).await
    }
    async fn keep_answer(&self, answer: KeptAnswer) -> Result<bool, StoreError> {
        self.inner.keep_answer(answer).await
    }
    async fn forget_answers(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.forget_answers(before).await
    }
    async fn pending_effects(&self) -> Result<Vec<PendingEffect>, StoreError> {
        self.inner.pending_effects().await
    }
    async fn clear_effects(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        self.inner.clear_effects(ids).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_of_one_organization_arriving_together_share_one_append() {
    let dir = tempfile::tempdir().unwrap();
    let plain = service_in(dir.path()).await;
    let (org, owner) = common::org(&plain, "busy").await;
    drop(plain);
    let counting = Arc::new(Counting {
        inner: Arc::new(
            infra::SqliteEventStore::open_in_dir(dir.path())
                .await
                .unwrap(),
        ),
        requests: AtomicUsize::new(0),
        transactions: AtomicUsize::new(0),
    });
    let pool = infra::readmodel::open_in_dir(dir.path()).unwrap();
    let service = CommandService::new(counting.clone(), Credentials::sqlite(&pool).await.unwrap());
    let ctx = as_user(owner, "owner");
    // The organization's state is loaded before the burst, so the burst
    // queues behind nothing but itself.
    service.state(org).await.unwrap();
    let before = counting.requests.load(Ordering::Relaxed);
    let transactions_before = counting.transactions.load(Ordering::Relaxed);

    const COMMANDS: usize = 200;
    let tasks: Vec<_> = (0..COMMANDS)
        .map(|i| {
            let (service, ctx) = (service.clone(), ctx.clone());
            tokio::spawn(async move {
                service
                    .execute(
                        org,
                        Command::CreateProject {
                            project_id: ProjectId::new(),
                            name: format!("p{i}"),
                            owner: None,
                        },
                        &ctx,
                    )
                    .await
                    .unwrap()
                    .position
            })
        })
        .collect();
    let mut positions = Vec::new();
    for t in tasks {
        positions.push(t.await.unwrap());
    }
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(positions.len(), COMMANDS, "every command appended once");
    let appends = counting.requests.load(Ordering::Relaxed) - before;
    assert!(
        appends * 4 <= COMMANDS,
        "{COMMANDS} commands of one organization took {appends} appends"
    );
    let transactions = counting.transactions.load(Ordering::Relaxed) - transactions_before;
    assert!(
        transactions <= appends,
        "{transactions} transactions (one fsync each) for {appends} appends"
    );
    let (state, _) = service.state(org).await.unwrap();
    assert_eq!(state.projects.len(), COMMANDS);
}
