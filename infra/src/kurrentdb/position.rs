//! How KurrentDB's numbers map to the port's.
//!
//! - **Stream versions**: rolebook counts from 1 (0: no events),
//!   KurrentDB's revisions from 0, so `version = revision + 1`.
//! - **Global positions**: an event's place in `$all` is a pair of byte
//!   offsets in the server's transaction log, `(commit, prepare)`. Every
//!   event has its own prepare position, and since KurrentDB 20 (no
//!   explicit transactions) `$all`'s order is the order of prepare
//!   positions, so `global position = prepare + 1` is unique and strictly
//!   increasing in `$all`'s order (the `+ 1` keeps 0 for "nothing yet").
//!   Positions are sparse (byte offsets), which the port allows: readers
//!   only compare them. Reading `$all` from a global position needs the
//!   exact `(commit, prepare)` pair of an event, which the store keeps for
//!   the events it has seen ([`Known`]).

use std::collections::BTreeMap;

use domain::store::ExpectedVersion;
use kurrentdb::{CurrentRevision, Position, StreamState};

/// The global position of an event at `position` in `$all`.
pub fn global(position: &Position) -> u64 {
    position.prepare + 1
}

/// The stream version of the event at `revision`.
pub fn version(revision: u64) -> u64 {
    revision + 1
}

/// The revision to read a stream from to get versions `>= from_version`.
pub fn revision_from(from_version: u64) -> u64 {
    from_version.saturating_sub(1)
}

/// KurrentDB's expectation for the port's.
pub fn stream_state(expected: ExpectedVersion) -> StreamState {
    match expected {
        ExpectedVersion::Any => StreamState::Any,
        ExpectedVersion::NoStream | ExpectedVersion::Exact(0) => StreamState::NoStream,
        ExpectedVersion::Exact(v) => StreamState::StreamRevision(v - 1),
    }
}

/// The version a stream is at, from what KurrentDB says it is at.
pub fn current_version(current: &CurrentRevision) -> u64 {
    match current {
        CurrentRevision::NoStream => 0,
        CurrentRevision::Current(revision) => version(*revision),
    }
}

/// The exact `$all` positions of events the store has seen, to read from:
/// bounded, keeping the newest and thinning out the oldest.
#[derive(Debug, Default)]
pub struct Known {
    positions: BTreeMap<u64, Position>,
}

/// At most this many positions are kept.
const KEPT: usize = 100_000;

impl Known {
    pub fn insert(&mut self, position: Position) {
        self.positions.insert(global(&position), position);
        if self.positions.len() > KEPT {
            // Drop every other one of the oldest half.
            let oldest: Vec<u64> = self
                .positions
                .keys()
                .take(KEPT / 2)
                .step_by(2)
                .copied()
                .collect();
            for k in oldest {
                self.positions.remove(&k);
            }
        }
    }

    /// The newest known event strictly before global position `from`:
    /// reading `$all` forwards from it (and skipping it) gives every
    /// event at `from` or later. `None`: read from the start.
    pub fn before(&self, from: u64) -> Option<Position> {
        self.positions.range(..from).next_back().map(|(_, p)| *p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(commit: u64, prepare: u64) -> Position {
        Position { commit, prepare }
    }

    #[test]
    fn versions_and_revisions() {
        assert_eq!(version(0), 1);
        assert_eq!(revision_from(1), 0);
        assert_eq!(revision_from(0), 0);
        assert_eq!(revision_from(7), 6);
        assert_eq!(stream_state(ExpectedVersion::Any), StreamState::Any);
        assert_eq!(
            stream_state(ExpectedVersion::NoStream),
            StreamState::NoStream
        );
        assert_eq!(
            stream_state(ExpectedVersion::Exact(0)),
            StreamState::NoStream
        );
        assert_eq!(
            stream_state(ExpectedVersion::Exact(3)),
            StreamState::StreamRevision(2)
        );
        assert_eq!(current_version(&CurrentRevision::NoStream), 0);
        assert_eq!(current_version(&CurrentRevision::Current(4)), 5);
    }

    #[test]
    fn global_positions_follow_prepare_positions_and_skip_zero() {
        // Three events of one append share a commit position.
        let events = [at(300, 100), at(300, 180), at(300, 250), at(420, 380)];
        let globals: Vec<u64> = events.iter().map(global).collect();
        assert_eq!(globals, [101, 181, 251, 381]);
        assert!(globals.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(global(&at(0, 0)), 1, "the first event of $all is not 0");
    }

    #[test]
    fn reads_start_from_the_newest_known_event_before() {
        let mut known = Known::default();
        assert_eq!(known.before(500), None);
        for p in [at(300, 100), at(300, 180), at(420, 380)] {
            known.insert(p);
        }
        assert_eq!(known.before(181), Some(at(300, 100)));
        assert_eq!(known.before(182), Some(at(300, 180)));
        assert_eq!(known.before(10_000), Some(at(420, 380)));
        assert_eq!(known.before(101), None);
    }

    #[test]
    fn the_index_stays_bounded_and_keeps_the_newest() {
        let mut known = Known::default();
        for i in 0..(KEPT as u64 + 10) {
            known.insert(at(i * 10, i * 10));
        }
        assert!(known.positions.len() <= KEPT);
        let newest = (KEPT as u64 + 9) * 10;
        assert_eq!(known.before(newest + 2), Some(at(newest, newest)));
    }
}
