//! Each projection's position, published for consistency tokens: a query
//! may wait until a projection has reached a command's position.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
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

    /// Marks the projection failed (stopped, or trying a page again), with
    /// why: health answers `degraded`.
    pub(crate) fn fail(&self, name: &'static str, error: &dyn std::fmt::Display) {
        self.sender(name)
            .send_modify(|s| s.failed = Some(error.to_string()));
    }

    /// Clears the failure: the page the projection was trying again is
    /// written.
    pub(crate) fn recover(&self, name: &'static str) {
        self.sender(name).send_modify(|s| s.failed = None);
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

    /// Where `projection` stands now (0 before it has started).
    pub fn position(&self, projection: &str) -> u64 {
        self.inner
            .lock()
            .get(projection)
            .map_or(0, |s| s.borrow().position)
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

/// What a process must not answer from its in-memory model before the
/// model has caught up with the log as it stood when the process started.
///
/// At start the access model is folded from the log's beginning: until it
/// reaches the head it holds an older state of the organizations, in which
/// a user invited since holds nothing and a permission revoked since is
/// still granted. The server's authenticated requests pass this gate
/// before the model answers them. Once passed it stays open: from then on
/// the model only follows new commits, which `at_least` waits for.
#[derive(Debug)]
pub struct StartGate {
    projection: &'static str,
    head: u64,
    open: AtomicBool,
}

impl StartGate {
    /// A gate that opens once `projection` has applied `head` (the log's
    /// head position when the process started).
    pub fn at(projection: &'static str, head: u64) -> Self {
        StartGate {
            projection,
            head,
            open: AtomicBool::new(head == 0),
        }
    }

    /// A gate that is open from the start (nothing to catch up with).
    pub fn open() -> Self {
        StartGate::at("", 0)
    }

    /// Returns at once when open; else waits up to `timeout` for the
    /// projection to reach the head, and fails with [`Lagging`] if it does
    /// not (or stopped on an error).
    pub async fn pass(&self, positions: &Positions, timeout: Duration) -> Result<(), Lagging> {
        if self.open.load(Ordering::Acquire) {
            return Ok(());
        }
        positions.wait(self.projection, self.head, timeout).await?;
        self.open.store(true, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_start_gate_opens_once_the_projection_reaches_the_head_and_stays_open() {
        let positions = Positions::default();
        let gate = StartGate::at("rbac", 3);
        positions.advance("rbac", 2);
        let lagging = gate
            .pass(&positions, Duration::from_millis(20))
            .await
            .unwrap_err();
        assert_eq!((lagging.reached, lagging.wanted), (2, 3));

        // Reached while a caller waits: the caller passes.
        let waiting = gate.pass(&positions, Duration::from_secs(5));
        let advancing = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            positions.advance("rbac", 3);
        };
        let (passed, ()) = tokio::join!(waiting, advancing);
        assert_eq!(passed, Ok(()));

        // Open for good, whatever another projection's name says.
        let other = Positions::default();
        assert_eq!(gate.pass(&other, Duration::ZERO).await, Ok(()));
        assert_eq!(StartGate::open().pass(&other, Duration::ZERO).await, Ok(()));
    }
}
