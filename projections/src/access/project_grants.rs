//! One user's permissions on single projects, with a filter that answers
//! most "not on this project" questions from the user's own entry.

use domain::ids::ProjectId;
use domain::permissions::PermissionSet;
use rustc_hash::FxHashMap;

/// The non-empty permission sets a user holds on single projects (direct,
/// group and repository sources), keyed by project.
///
/// Beside the map it keeps a 256-bit filter: bit `b` is set when a held
/// project's id ends in the byte `b`. The filter sits in the user's entry of
/// the access model, which `check` has just read, while the map's table is
/// another allocation (another cache miss, the costliest step of a check).
/// A project whose bit is clear is not held, so most projects a user holds
/// nothing on are answered without reading the map (a user holding 26
/// projects leaves about 90% of the bits clear). The filter is always
/// exactly the bits of the projects held: `remove` recomputes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectGrants {
    filter: [u64; 4],
    sets: FxHashMap<ProjectId, PermissionSet>,
}

/// The filter's word and bit for `project` (the last byte of its UUID,
/// random in both v4 and v7 ids).
fn bit(project: &ProjectId) -> (usize, u64) {
    let b = project.0.as_bytes()[15];
    (usize::from(b >> 6), 1u64 << (b & 63))
}

/// The filter of exactly `projects`.
fn filter_of<'a>(projects: impl Iterator<Item = &'a ProjectId>) -> [u64; 4] {
    let mut filter = [0; 4];
    for p in projects {
        let (word, mask) = bit(p);
        filter[word] |= mask;
    }
    filter
}

impl ProjectGrants {
    /// Whether the filter lets `project` through (it may be held).
    #[inline]
    fn may_hold(&self, project: &ProjectId) -> bool {
        let (word, mask) = bit(project);
        self.filter[word] & mask != 0
    }

    /// The set held on `project`, if any.
    #[inline]
    pub fn get(&self, project: &ProjectId) -> Option<&PermissionSet> {
        if !self.may_hold(project) {
            return None;
        }
        self.sets.get(project)
    }

    pub fn contains_key(&self, project: &ProjectId) -> bool {
        self.get(project).is_some()
    }

    /// Holds `set` on `project`; answers the set held before.
    pub fn insert(&mut self, project: ProjectId, set: PermissionSet) -> Option<PermissionSet> {
        let (word, mask) = bit(&project);
        self.filter[word] |= mask;
        self.sets.insert(project, set)
    }

    /// Holds nothing on `project` any more; answers the set held before.
    pub fn remove(&mut self, project: &ProjectId) -> Option<PermissionSet> {
        let removed = self.sets.remove(project)?;
        self.filter = filter_of(self.sets.keys());
        Some(removed)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ProjectId, &PermissionSet)> {
        self.sets.iter()
    }

    pub fn keys(&self) -> impl Iterator<Item = &ProjectId> {
        self.sets.keys()
    }

    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

impl From<FxHashMap<ProjectId, PermissionSet>> for ProjectGrants {
    fn from(sets: FxHashMap<ProjectId, PermissionSet>) -> Self {
        let filter = filter_of(sets.keys());
        ProjectGrants { filter, sets }
    }
}

impl<'a> IntoIterator for &'a ProjectGrants {
    type Item = (&'a ProjectId, &'a PermissionSet);
    type IntoIter = std::collections::hash_map::Iter<'a, ProjectId, PermissionSet>;

    fn into_iter(self) -> Self::IntoIter {
        self.sets.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn project(n: u128) -> ProjectId {
        ProjectId(uuid::Uuid::from_u128(n))
    }

    proptest! {
        /// After any sequence of inserts and removes, every lookup answers
        /// what a plain map answers (the filter never hides a held project).
        #[test]
        fn answers_like_a_map(ops in proptest::collection::vec((any::<bool>(), 0u128..600), 0..300)) {
            let mut grants = ProjectGrants::default();
            let mut plain: FxHashMap<ProjectId, PermissionSet> = FxHashMap::default();
            for (insert, n) in ops {
                // Ids 0-599 share their last byte in threes: collisions in the filter.
                let (p, set) = (project(n), PermissionSet::from_bits(n + 1));
                if insert {
                    prop_assert_eq!(grants.insert(p, set), plain.insert(p, set));
                } else {
                    prop_assert_eq!(grants.remove(&p), plain.remove(&p));
                }
                prop_assert_eq!(grants.len(), plain.len());
            }
            for n in 0..600 {
                let p = project(n);
                prop_assert_eq!(grants.get(&p), plain.get(&p));
            }
            prop_assert_eq!(&grants, &ProjectGrants::from(plain));
        }
    }

    #[test]
    fn a_clear_bit_answers_without_the_map() {
        let set = PermissionSet::from_bits(1);
        let mut grants = ProjectGrants::default();
        grants.insert(project(0x01), set);
        grants.insert(project(0x0101), set); // same last byte as 0x01
        assert!(
            grants.may_hold(&project(0x0201)),
            "a shared bit lets it through"
        );
        assert_eq!(grants.get(&project(0x0201)), None, "and the map says no");
        assert!(!grants.may_hold(&project(0x02)));
        grants.remove(&project(0x01));
        assert!(grants.may_hold(&project(0x0101)), "still held");
        grants.remove(&project(0x0101));
        assert_eq!(grants.filter, [0; 4], "nothing held, no bit set");
    }
}
