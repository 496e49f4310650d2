//! Organizations by name or id, read from the `registry` stream (the same
//! list the command service keeps), so the replay tool needs no write side.

use domain::ids::OrgId;
use domain::registry::{self, OrganizationRegistered};
use domain::store::EventStore;

use crate::ReplayError;

/// Every registered organization, `(name, id)` in registration order.
pub async fn organizations(store: &dyn EventStore) -> Result<Vec<(String, OrgId)>, ReplayError> {
    let stream = registry::stream();
    let mut all = Vec::new();
    let mut from = 1;
    loop {
        let page = store.read_stream(&stream, from, 10_000).await?;
        let Some(last) = page.last().map(|e| e.stream_version) else {
            return Ok(all);
        };
        for e in page {
            let r: OrganizationRegistered =
                serde_json::from_str(&e.data).map_err(|err| ReplayError::Undecodable {
                    stream: e.stream_id.clone(),
                    version: e.stream_version,
                    position: e.global_position,
                    reason: err.to_string(),
                })?;
            all.push((r.name, r.org_id));
        }
        from = last + 1;
    }
}

/// Finds an organization by id or (case-insensitive) name.
pub async fn find_org(
    store: &dyn EventStore,
    id_or_name: &str,
) -> Result<Option<OrgId>, ReplayError> {
    let all = organizations(store).await?;
    if let Ok(id) = id_or_name.parse::<OrgId>() {
        return Ok(all.iter().find(|(_, o)| *o == id).map(|(_, o)| *o));
    }
    let wanted = id_or_name.to_lowercase();
    Ok(all
        .iter()
        .find(|(n, _)| n.to_lowercase() == wanted)
        .map(|(_, o)| *o))
}
