//! Each projection's position, published for consistency tokens: a query
//! may wait until a projection has reached a command's position.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;

/// Where a projection stands.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct ProjectionStatus {
    pub position: u64,
    /// Set when the projection stopped on an error.
    pub failed: Option<String>,
}

/// The projection did not reach the position within the wait.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("projection {projection} is at position {reached}, not yet at {wanted}")]
pub struct Lagging {
    pub projection: String,
    pub reached: u64,
    pub wanted: u64,
}

/// The positions of all projections of this process.
#[derive(Clone, Default)]
pub struct Positions {
    inner: Arc<Mutex<HashMap<&'static str, watch::Sender<ProjectionStatus>>>>,
}

impl Positions {
    fn sender(&self, name: &'static str) -> watch::Sender<ProjectionStatus> {
        self.inner
            .lock()
            .entry(name)
            .or_insert_with(|| watch::Sender::new(ProjectionStatus::default()))
            .clone()
    }

    pub(crate) fn advance(&self, name: &'static str, position: u64) {
        self.sender(name)
            .send_modify(|s| s.position = s.position.max(position));
    }

    pub(crate) fn fail(&self, name: &'static str, error: &dyn std::fmt::Display) {
        self.sender(name)
            .send_modify(|s| s.failed = Some(error.to_string()));
    }

    /// Every projection's status, by name.
    pub fn all(&self) -> Vec<(&'static str, ProjectionStatus)> {
        let mut all: Vec<_> = self
            .inner
            .lock()
            .iter()
            .map(|(n, s)| (*n, s.borrow().clone()))
            .collect();
        all.sort_by_key(|(n, _)| *n);
        all
    }

    /// Waits until `projection` has applied `position`, at most `timeout`.
    pub async fn wait(
        &self,
        projection: &'static str,
        position: u64,
        timeout: Duration,
    ) -> Result<u64, Lagging> {
        let mut rx = self.sender(projection).subscribe();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|s| s.position >= position))
            .await
            .ok()
            .and_then(|r| r.ok().map(|s| s.position));
        match reached {
            Some(p) => Ok(p),
            None => Err(Lagging {
                projection: projection.to_string(),
                reached: rx.borrow().position,
                wanted: position,
            }),
        }
    }
}
