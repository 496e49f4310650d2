//! The SCIM Group resource (RFC 7643 §4.2) of a rolebook group: `id` the
//! group's id, `displayName` its name, `members` its people (each `value`
//! a User's `id`). A group pushed by the identity provider is an ordinary
//! rolebook group (organization role Member when created): the role an
//! administrator gives it reaches its members.

use domain::state::Group;
use domain::Organization;
use serde_json::{json, Value};

use super::error::ScimError;
use super::filter::{member, Known};
use super::user::{optional_string, require_schema};

/// The Group resource's core schema.
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// The description a pushed group gets (rolebook groups have one).
pub const DESCRIPTION: &str = "Pushed by the identity provider (SCIM)";

/// The attributes filters and PATCH paths may name (lower-case).
pub const ATTRIBUTES: Known = &[
    ("id", ""),
    ("externalid", ""),
    ("displayname", ""),
    ("members", ""),
    ("members", "value"),
    ("members", "display"),
    ("members", "type"),
    ("members", "$ref"),
    ("meta", ""),
    ("meta", "resourcetype"),
    ("meta", "location"),
];

/// Attributes no request may change.
pub const READ_ONLY: &[&str] = &["id", "meta"];

/// `g` as a SCIM Group, its members by username; `base` is the SCIM base URL.
pub fn render(org: &Organization, g: &Group, base: &str) -> Value {
    let mut members: Vec<(&str, String)> = g
        .members
        .iter()
        .map(|m| {
            (
                org.users.get(m).map(|u| u.username.as_str()).unwrap_or(""),
                m.to_string(),
            )
        })
        .collect();
    members.sort();
    json!({
        "schemas": [SCHEMA],
        "id": g.id.to_string(),
        "displayName": g.name,
        "members": members.into_iter().map(|(name, id)| json!({
            "value": id,
            "display": name,
            "type": "User",
            "$ref": format!("{base}/Users/{id}"),
        })).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Group",
            "location": format!("{base}/Groups/{}", g.id),
        },
    })
}

/// A group as a request describes it: its name and its members' ids (as
/// given; the handler resolves them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInput {
    pub display_name: String,
    pub members: Vec<String>,
}

/// Reads a Group from a request body (or a patched resource).
pub fn parse(body: &Value) -> Result<GroupInput, ScimError> {
    require_schema(body, SCHEMA)?;
    let display_name = optional_string(body, "displayName", "displayName")?
        .ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
    let members = match member(body, "members") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items
            .iter()
            .map(|m| {
                optional_string(m, "value", "members.value")?
                    .ok_or_else(|| ScimError::invalid_value("every member needs a value"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ScimError::invalid_value("members must be a list")),
    };
    Ok(GroupInput {
        display_name,
        members,
    })
}
