//! What the KurrentDB store keeps in memory beside the log, since KurrentDB
//! has no tables to query: every event id of the store's namespace (to
//! refuse an id stored elsewhere, as the port asks), the answers kept in
//! the last day (by principal and key), and the pending effects not yet
//! cleared. Rebuilt from the log when the store opens and kept up to date
//! by the store's own appends and by its follower (a catch-up
//! subscription), so that every process on one KurrentDB sees the same.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use domain::store::{KeptAnswer, PendingEffect, RecordedEvent, StoredAnswer};
use uuid::Uuid;

use super::envelope::StoredReceipt;

/// Where a stored event is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub stream: String,
    pub version: u64,
    pub position: u64,
}

#[derive(Debug, Default)]
pub struct Index {
    ids: HashMap<Uuid, Place>,
    answers: HashMap<([u8; 32], String), StoredAnswer>,
    /// Pending effects by the position of the event that carries them.
    pending: BTreeMap<u64, Vec<PendingEffect>>,
    /// Effects cleared (possibly before their event was indexed).
    cleared: HashSet<Uuid>,
}

impl Index {
    /// Records an event and what its receipt keeps.
    /// An event seen twice (its append read it back, then the follower
    /// saw it) is indexed once.
    pub fn event(&mut self, e: &RecordedEvent, receipt: Option<&StoredReceipt>) {
        if self.ids.contains_key(&e.event_id) {
            return;
        }
        self.ids.insert(
            e.event_id,
            Place {
                stream: e.stream_id.as_str().to_string(),
                version: e.stream_version,
                position: e.global_position,
            },
        );
        let Some(receipt) = receipt else { return };
        if let Some(answer) = receipt.answer() {
            self.keep(answer, Some(e.global_position), e.recorded_at);
        }
        let effects: Vec<PendingEffect> = receipt
            .effects()
            .into_iter()
            .filter(|eff| !self.cleared.contains(&eff.id))
            .collect();
        if !effects.is_empty() {
            self.pending
                .entry(e.global_position)
                .or_default()
                .extend(effects);
        }
    }

    /// Where event `id` is stored, if it is.
    pub fn place(&self, id: &Uuid) -> Option<&Place> {
        self.ids.get(id)
    }

    /// Keeps an answer unless one is kept for its principal and key (the
    /// first wins); whether it was kept.
    pub fn keep(
        &mut self,
        answer: KeptAnswer,
        position: Option<u64>,
        kept_at: DateTime<Utc>,
    ) -> bool {
        let key = (answer.principal, answer.key);
        if self.answers.contains_key(&key) {
            return false;
        }
        self.answers.insert(
            key,
            StoredAnswer {
                position,
                sealed: answer.sealed,
                kept_at,
            },
        );
        true
    }

    pub fn answer(
        &self,
        principal: &[u8; 32],
        key: &str,
        since: DateTime<Utc>,
    ) -> Option<StoredAnswer> {
        self.answers
            .get(&(*principal, key.to_string()))
            .filter(|a| a.kept_at >= since)
            .cloned()
    }

    /// Forgets the answers kept before `before`; how many.
    pub fn forget(&mut self, before: DateTime<Utc>) -> u64 {
        let n = self.answers.len();
        self.answers.retain(|_, a| a.kept_at >= before);
        (n - self.answers.len()) as u64
    }

    /// The pending effects, oldest first.
    pub fn pending(&self) -> Vec<PendingEffect> {
        self.pending.values().flatten().cloned().collect()
    }

    pub fn clear(&mut self, ids: &[Uuid]) {
        self.cleared.extend(ids.iter().copied());
        for effects in self.pending.values_mut() {
            effects.retain(|e| !ids.contains(&e.id));
        }
        self.pending.retain(|_, effects| !effects.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::hash::GENESIS_HASH;
    use domain::store::{Receipt, StreamId};

    fn event(position: u64) -> RecordedEvent {
        RecordedEvent {
            global_position: position,
            stream_id: StreamId::new("org-1"),
            stream_version: position,
            event_id: Uuid::now_v7(),
            event_type: "T".into(),
            schema_version: 1,
            data: "{}".into(),
            metadata: "{}".into(),
            recorded_at: Utc::now(),
            prev_hash: GENESIS_HASH,
            hash: GENESIS_HASH,
        }
    }

    fn receipt(key: &str, effect: Uuid) -> StoredReceipt {
        StoredReceipt::of(&[&Receipt {
            last_event: 0,
            answer: Some(KeptAnswer {
                principal: [1; 32],
                key: key.into(),
                sealed: vec![9],
            }),
            effects: vec![PendingEffect {
                id: effect,
                payload: "{}".into(),
            }],
        }])
        .unwrap()
    }

    #[test]
    fn receipts_keep_answers_first_wins_and_effects_until_cleared() {
        let mut index = Index::default();
        let (e1, e2) = (Uuid::now_v7(), Uuid::now_v7());
        let first = event(10);
        index.event(&first, Some(&receipt("k", e1)));
        index.event(&first, Some(&receipt("k", e1)));
        index.event(&event(20), Some(&receipt("k", e2)));
        let since = Utc::now() - chrono::Duration::hours(1);
        let kept = index.answer(&[1; 32], "k", since).unwrap();
        assert_eq!(kept.position, Some(10), "the first answer wins");
        assert_eq!(index.place(&first.event_id).map(|p| p.position), Some(10));
        assert_eq!(index.pending().len(), 2);
        index.clear(&[e1]);
        assert_eq!(
            index.pending().iter().map(|e| e.id).collect::<Vec<_>>(),
            [e2]
        );
        // An effect cleared before its event is indexed stays cleared.
        let e3 = Uuid::now_v7();
        index.clear(&[e3]);
        index.event(&event(30), Some(&receipt("other", e3)));
        assert_eq!(index.pending().len(), 1);
        assert!(!index.keep(
            KeptAnswer {
                principal: [1; 32],
                key: "k".into(),
                sealed: vec![]
            },
            None,
            Utc::now()
        ));
        assert_eq!(index.forget(Utc::now() + chrono::Duration::seconds(1)), 2);
        assert_eq!(index.answer(&[1; 32], "k", since), None);
    }
}
