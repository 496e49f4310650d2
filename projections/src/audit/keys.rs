//! The integer keys that lead the audit view's actor and resource indexes.
//!
//! A bulk catch-up builds `audit_by_actor` and `audit_by_resource` by
//! sorting a million rows after the pass, and SQLite sorts keys led by an
//! integer about twice as fast as keys led by the organization's 16-byte
//! blob and the resource's text id (same machine, 1,000,000 rows: 1.9 s
//! against 3.2 s for the actor index, 1.8 s against 4.0 s for the resource
//! index; BENCHMARKS.md). So each row carries two hashes of what it is
//! filtered by:
//!
//! - `actor_key`: the organization and the actor's user id, 63 bits;
//! - `resource_key`: 15 bits of the organization, 8 bits naming the
//!   resource type exactly, 40 bits of the resource id. Every key of one
//!   organization and type lies in [`resource_type_range`], so a filter by
//!   type alone is one range of the index.
//!
//! A query matches the key and then the real columns (`query::Conditions`),
//! so two subjects sharing a key cost a few extra rows read, never a wrong
//! answer. The keys are stored: these functions must never change (a new
//! function needs the view rebuilt, as `projection::migrate` does for a view
//! without the columns).

use domain::ids::{OrgId, UserId};

use super::entry::ResourceType;

/// The key of an actor's entries in `audit_by_actor`.
pub fn actor_key(org: OrgId, actor: UserId) -> i64 {
    (hash(&[org.0.as_bytes(), actor.0.as_bytes()]) >> 1) as i64
}

/// The key of a resource's entries in `audit_by_resource`.
pub fn resource_key(org: OrgId, resource_type: ResourceType, resource_id: &str) -> i64 {
    let id = hash(&[org.0.as_bytes(), resource_id.as_bytes()]) & ((1 << ID_BITS) - 1);
    (type_prefix(org, resource_type) | id) as i64
}

/// The keys of every resource of one type in one organization: `start..end`.
pub fn resource_type_range(org: OrgId, resource_type: ResourceType) -> (i64, i64) {
    let start = type_prefix(org, resource_type);
    (start as i64, (start + (1 << ID_BITS)) as i64)
}

/// Bits of the resource id's hash at the bottom of a resource key.
const ID_BITS: u32 = 40;
/// Bits of the resource type's code above them.
const TYPE_BITS: u32 = 8;

/// The organization's 15 bits and the type's code, shifted into place. The
/// top bit stays 0, so keys are positive and one type's range never wraps.
fn type_prefix(org: OrgId, resource_type: ResourceType) -> u64 {
    let org_bits = hash(&[org.0.as_bytes()]) >> (64 - (63 - ID_BITS - TYPE_BITS));
    (org_bits << (ID_BITS + TYPE_BITS)) | (type_code(resource_type) << ID_BITS)
}

/// A fixed code per type (not the declaration order: adding a type must
/// not move the others).
fn type_code(t: ResourceType) -> u64 {
    match t {
        ResourceType::Organization => 1,
        ResourceType::User => 2,
        ResourceType::Group => 3,
        ResourceType::Role => 4,
        ResourceType::Project => 5,
        ResourceType::ServiceAccount => 6,
        ResourceType::Settings => 7,
        ResourceType::AuditStream => 8,
    }
}

/// FNV-1a over the parts (each followed by a separator byte), then the
/// SplitMix64 finalizer so that every output bit depends on every input
/// byte. Stable across platforms and Rust versions, unlike `std`'s hasher.
fn hash(parts: &[&[u8]]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for part in parts {
        for &b in *part {
            h = (h ^ u64::from(b)).wrapping_mul(PRIME);
        }
        h = (h ^ 0xff).wrapping_mul(PRIME);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn org(n: u128) -> OrgId {
        OrgId(Uuid::from_u128(n))
    }

    #[test]
    fn keys_are_pinned_because_they_are_stored() {
        // A change here means every stored key is wrong: the view must be
        // rebuilt (see the module doc) before such a change can land.
        let o = org(0x0192_0000_0000_7000_8000_0000_0000_0001);
        let u = UserId(Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_0002));
        assert_eq!(actor_key(o, u), 8_361_976_847_859_759_598);
        assert_eq!(
            resource_key(o, ResourceType::Project, "0192-project"),
            701_441_937_926_238_165
        );
    }

    #[test]
    fn resource_keys_fall_in_their_types_range_and_no_other() {
        for n in 0..200u128 {
            let o = org(n * 7919 + 1);
            for t in ResourceType::ALL {
                for id in ["a", "b", &format!("{n}-{t:?}")] {
                    let key = resource_key(o, t, id);
                    assert!(key >= 0);
                    for other in ResourceType::ALL {
                        let (start, end) = resource_type_range(o, other);
                        assert!(start >= 0 && end > start);
                        assert_eq!(
                            (start..end).contains(&key),
                            other == t,
                            "{t:?} {id} against {other:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn keys_tell_organizations_and_subjects_apart() {
        let (a, b) = (org(1), org(2));
        let u = UserId(Uuid::from_u128(3));
        let v = UserId(Uuid::from_u128(4));
        assert_ne!(actor_key(a, u), actor_key(b, u));
        assert_ne!(actor_key(a, u), actor_key(a, v));
        assert!(actor_key(a, u) >= 0);
        assert_ne!(
            resource_key(a, ResourceType::User, "x"),
            resource_key(a, ResourceType::User, "y")
        );
        assert_ne!(
            resource_key(a, ResourceType::User, "x"),
            resource_key(a, ResourceType::Group, "x")
        );
        // 10,000 user ids of one organization: no two share a key.
        let keys: std::collections::HashSet<i64> = (0..10_000u128)
            .map(|n| actor_key(a, UserId(Uuid::from_u128(n << 64 | n))))
            .collect();
        assert_eq!(keys.len(), 10_000);
    }
}
