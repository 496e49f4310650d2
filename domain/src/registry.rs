//! The registry stream: the list of organizations and their unique handles.
//! It lives in its own stream (`registry`) so that creating or renaming an
//! organization checks the name against every other one with optimistic
//! concurrency.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::ids::OrgId;
use crate::store::StreamId;

/// The stream that lists organizations.
pub fn stream() -> StreamId {
    StreamId::new("registry")
}

/// An organization took a name. The name is its handle in URLs, unique
/// across the instance (case-insensitively) until it is renamed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationRegistered {
    pub org_id: OrgId,
    pub name: String,
}

impl OrganizationRegistered {
    pub const EVENT_TYPE: &'static str = "OrganizationRegistered";
    pub const SCHEMA_VERSION: u32 = 1;
}

/// An organization changed its name (appended together with its
/// `OrganizationSettingsChanged`): the new name is its handle from now on
/// and the old one is free.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationRenamed {
    pub org_id: OrgId,
    pub name: String,
}

impl OrganizationRenamed {
    pub const EVENT_TYPE: &'static str = "OrganizationRenamed";
    pub const SCHEMA_VERSION: u32 = 1;
}

/// An event of the registry stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryEvent {
    Registered(OrganizationRegistered),
    Renamed(OrganizationRenamed),
}

impl RegistryEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            RegistryEvent::Registered(_) => OrganizationRegistered::EVENT_TYPE,
            RegistryEvent::Renamed(_) => OrganizationRenamed::EVENT_TYPE,
        }
    }

    pub fn schema_version(&self) -> u32 {
        match self {
            RegistryEvent::Registered(_) => OrganizationRegistered::SCHEMA_VERSION,
            RegistryEvent::Renamed(_) => OrganizationRenamed::SCHEMA_VERSION,
        }
    }

    /// The event's data as stored.
    pub fn to_json(&self) -> String {
        match self {
            RegistryEvent::Registered(e) => serde_json::to_string(e),
            RegistryEvent::Renamed(e) => serde_json::to_string(e),
        }
        .expect("registry events serialize")
    }
}

/// The organizations' current handles, folded from the registry stream.
#[derive(Debug, Clone, Default)]
pub struct Handles {
    /// Lowercased handle → organization.
    by_name: HashMap<String, OrgId>,
    /// `(current name, id)` in registration order.
    orgs: Vec<(String, OrgId)>,
}

impl Handles {
    /// Folds one registry event; an unknown type or undecodable data is an
    /// error naming why.
    pub fn apply(&mut self, event_type: &str, data: &str) -> Result<(), String> {
        match event_type {
            OrganizationRenamed::EVENT_TYPE => {
                let r: OrganizationRenamed =
                    serde_json::from_str(data).map_err(|e| e.to_string())?;
                self.by_name.retain(|_, id| *id != r.org_id);
                self.by_name.insert(r.name.to_lowercase(), r.org_id);
                if let Some(entry) = self.orgs.iter_mut().find(|(_, id)| *id == r.org_id) {
                    entry.0 = r.name;
                }
            }
            OrganizationRegistered::EVENT_TYPE => {
                let r: OrganizationRegistered =
                    serde_json::from_str(data).map_err(|e| e.to_string())?;
                self.by_name.insert(r.name.to_lowercase(), r.org_id);
                self.orgs.push((r.name, r.org_id));
            }
            other => return Err(format!("unknown registry event {other}")),
        }
        Ok(())
    }

    /// The organization named `id_or_name` now (an id, or a current name,
    /// case-insensitively).
    pub fn find(&self, id_or_name: &str) -> Option<OrgId> {
        if let Ok(id) = id_or_name.parse::<OrgId>() {
            return self.orgs.iter().find(|(_, o)| *o == id).map(|(_, o)| *o);
        }
        self.by_name.get(&id_or_name.to_lowercase()).copied()
    }

    /// Who holds the handle `name` (case-insensitively), if anyone.
    pub fn holder(&self, name: &str) -> Option<OrgId> {
        self.by_name.get(&name.to_lowercase()).copied()
    }

    /// Every organization, `(current name, id)` in registration order.
    pub fn all(&self) -> &[(String, OrgId)] {
        &self.orgs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(org: OrgId, name: &str) -> String {
        serde_json::to_string(&OrganizationRegistered {
            org_id: org,
            name: name.into(),
        })
        .unwrap()
    }

    fn renamed(org: OrgId, name: &str) -> String {
        serde_json::to_string(&OrganizationRenamed {
            org_id: org,
            name: name.into(),
        })
        .unwrap()
    }

    #[test]
    fn a_rename_moves_the_handle_and_frees_the_old_one() {
        let (a, b) = (OrgId::new(), OrgId::new());
        let mut h = Handles::default();
        h.apply(
            OrganizationRegistered::EVENT_TYPE,
            &registered(a, "Default"),
        )
        .unwrap();
        h.apply(OrganizationRegistered::EVENT_TYPE, &registered(b, "globex"))
            .unwrap();
        assert_eq!(h.find("default"), Some(a));
        assert_eq!(h.holder("GLOBEX"), Some(b));

        h.apply(OrganizationRenamed::EVENT_TYPE, &renamed(a, "Acme"))
            .unwrap();
        assert_eq!(h.find("acme"), Some(a));
        assert_eq!(h.find("default"), None);
        assert_eq!(h.holder("default"), None);
        assert_eq!(h.find(&a.to_string()), Some(a));
        assert_eq!(
            h.all(),
            [("Acme".to_string(), a), ("globex".to_string(), b)]
        );
        // A change of case keeps the one handle.
        h.apply(OrganizationRenamed::EVENT_TYPE, &renamed(a, "ACME"))
            .unwrap();
        assert_eq!(h.find("acme"), Some(a));
        assert_eq!(h.all()[0].0, "ACME");
    }

    #[test]
    fn unknown_or_undecodable_events_are_errors() {
        let mut h = Handles::default();
        assert!(h.apply("Something", "{}").is_err());
        assert!(h
            .apply(OrganizationRegistered::EVENT_TYPE, "not json")
            .is_err());
        assert!(h.all().is_empty());
    }
}
