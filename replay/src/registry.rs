//! Organizations by name or id, read from the `registry` stream (the same
//! list the command service keeps, folded by [`Handles`]), so the replay
//! tool needs no write side.

use domain::ids::OrgId;
use domain::registry::{self, Handles};
use domain::store::{pages_of_stream, EventStore};
use futures::TryStreamExt;

use crate::ReplayError;

/// The registry's current handles.
async fn handles(store: &dyn EventStore) -> Result<Handles, ReplayError> {
    let stream = registry::stream();
    let mut handles = Handles::default();
    let mut pages = std::pin::pin!(pages_of_stream(store, &stream, 1, 10_000));
    while let Some(page) = pages.try_next().await? {
        for e in page {
            handles
                .apply(&e.event_type, &e.data)
                .map_err(|reason| ReplayError::Undecodable {
                    stream: e.stream_id.clone(),
                    version: e.stream_version,
                    position: e.global_position,
                    reason,
                })?;
        }
    }
    Ok(handles)
}

/// Every registered organization, `(current name, id)` in registration
/// order.
pub async fn organizations(store: &dyn EventStore) -> Result<Vec<(String, OrgId)>, ReplayError> {
    Ok(handles(store).await?.all().to_vec())
}

/// Finds an organization by id or (case-insensitive) current name.
pub async fn find_org(
    store: &dyn EventStore,
    id_or_name: &str,
) -> Result<Option<OrgId>, ReplayError> {
    Ok(handles(store).await?.find(id_or_name))
}
