//! The access model: every organization's permissions in memory, kept
//! current by the projection runner, answering `check` in well under a
//! microsecond and `explain`, `who_can`, `permissions_of` with their sources.

mod model;
mod project_grants;
mod queries;

use std::sync::Arc;

pub use model::{AccessModel, EffectiveChange, OrgAccess, Scope, UserAccess};
pub use project_grants::ProjectGrants;
pub use queries::{Granted, Holder};

/// The model shared between the projection that updates it and the queries
/// that read it.
pub type SharedAccessModel = Arc<parking_lot::RwLock<AccessModel>>;
