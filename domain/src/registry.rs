//! The registry stream: the list of organizations and their unique handles.
//! It lives in its own stream (`registry`) so that creating an organization
//! checks the name against every other one with optimistic concurrency.

use serde::{Deserialize, Serialize};

use crate::ids::OrgId;
use crate::store::StreamId;

/// The stream that lists organizations.
pub fn stream() -> StreamId {
    StreamId::new("registry")
}

/// An organization took a name. The name is its handle in URLs; it never
/// changes (settings may change the display name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationRegistered {
    pub org_id: OrgId,
    pub name: String,
}

impl OrganizationRegistered {
    pub const EVENT_TYPE: &'static str = "OrganizationRegistered";
    pub const SCHEMA_VERSION: u32 = 1;
}
