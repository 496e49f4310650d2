//! The highest committed global position as every backend keeps it in
//! memory, for [`domain::store::EventStore::wait_for`]: raised after each
//! commit this process makes and whenever the backend hears of (or reads)
//! a newer one, never lowered.

use std::time::Duration;

use tokio::sync::watch;

/// The head and the callers waiting for it to move.
#[derive(Debug)]
pub(crate) struct Head(watch::Sender<u64>);

impl Head {
    pub(crate) fn new(position: u64) -> Self {
        Head(watch::Sender::new(position))
    }

    /// Raises the head (appends finishing out of order must not move it
    /// back) and wakes the callers waiting for it.
    pub(crate) fn advance(&self, position: u64) {
        self.0.send_if_modified(|head| {
            if position > *head {
                *head = position;
                true
            } else {
                false
            }
        });
    }

    pub(crate) fn get(&self) -> u64 {
        *self.0.borrow()
    }

    /// Waits until the head reaches `position` or `timeout` passes; returns
    /// the head seen last.
    pub(crate) async fn wait_for(&self, position: u64, timeout: Duration) -> u64 {
        let mut rx = self.0.subscribe();
        // Subscribing before the check means no commit can slip in between.
        let reached = tokio::time::timeout(timeout, async {
            rx.wait_for(|head| *head >= position)
                .await
                .map(|head| *head)
        })
        .await;
        match reached {
            Ok(Ok(head)) => head,
            // Timed out, or (cannot happen while `self` lives) the sender is gone.
            Ok(Err(_)) | Err(_) => *rx.borrow(),
        }
    }
}
