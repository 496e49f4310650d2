//! The SCIM User resource (RFC 7643 §4.1) of a rolebook person: rendered
//! from the organization's state and read from a request body.
//!
//! Mapping: `id` is the user's id; `userName` the identity provider's
//! login (an invited person's email until they are provisioned);
//! `emails` the person's one email (`work`, primary), taken on input from
//! the primary email, else the `work` one, else the first, else
//! `userName` if it is an email; `name.givenName`/`familyName` and
//! `externalId` are kept as given; `displayName` is the rolebook username
//! (read-only, inferred from the email); `active` is whether the person is
//! active; `groups` (read-only) their groups. A `password` is never read
//! or stored: provisioned people sign in through the identity provider.

use domain::state::{Identity, User, UserKind};
use domain::Organization;
use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::filter::{member, Known};

/// The User resource's core schema.
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// The attributes filters and PATCH paths may name (lower-case).
pub const ATTRIBUTES: Known = &[
    ("id", ""),
    ("externalid", ""),
    ("username", ""),
    ("displayname", ""),
    ("active", ""),
    ("name", ""),
    ("name", "givenname"),
    ("name", "familyname"),
    ("name", "formatted"),
    ("emails", ""),
    ("emails", "value"),
    ("emails", "type"),
    ("emails", "primary"),
    ("emails", "display"),
    ("groups", ""),
    ("groups", "value"),
    ("groups", "display"),
    ("meta", ""),
    ("meta", "resourcetype"),
    ("meta", "location"),
];

/// Attributes no request may change.
pub const READ_ONLY: &[&str] = &["id", "meta", "groups", "displayname"];

/// `u` as a SCIM User; `base` is the SCIM base URL (for `location`).
pub fn render(org: &Organization, u: &User, base: &str) -> Value {
    let identity = u.identity.clone().unwrap_or_default();
    let mut name = Map::new();
    if let Some(g) = &identity.given_name {
        name.insert("givenName".into(), json!(g));
    }
    if let Some(f) = &identity.family_name {
        name.insert("familyName".into(), json!(f));
    }
    let formatted: Vec<&str> = [&identity.given_name, &identity.family_name]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    if !formatted.is_empty() {
        name.insert("formatted".into(), json!(formatted.join(" ")));
    }
    let mut groups: Vec<Value> = org
        .groups_of(u.id)
        .iter()
        .filter_map(|g| org.groups.get(g))
        .map(|g| {
            json!({
                "value": g.id.to_string(),
                "display": g.name,
                "$ref": format!("{base}/Groups/{}", g.id),
            })
        })
        .collect();
    groups.sort_by(|a, b| a["display"].as_str().cmp(&b["display"].as_str()));
    let mut resource = json!({
        "schemas": [SCHEMA],
        "id": u.id.to_string(),
        "userName": u.user_name(),
        "displayName": u.username,
        "active": u.active,
        "emails": u.email.iter().map(|e| json!({"value": e, "type": "work", "primary": true})).collect::<Vec<_>>(),
        "groups": groups,
        "meta": {
            "resourceType": "User",
            "location": format!("{base}/Users/{}", u.id),
        },
    });
    if !name.is_empty() {
        resource["name"] = Value::Object(name);
    }
    if let Some(x) = &identity.external_id {
        resource["externalId"] = json!(x);
    }
    resource
}

/// Whether `u` is a SCIM User (people are; service accounts are not).
pub fn is_user(u: &User) -> bool {
    u.kind == UserKind::Person
}

/// A person as a request describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInput {
    pub email: String,
    pub identity: Identity,
    /// `None`: not given.
    pub active: Option<bool>,
}

/// Fails with `invalidSyntax` unless `body` is an object whose `schemas`
/// list `schema`.
pub fn require_schema(body: &Value, schema: &str) -> Result<(), ScimError> {
    let Some(object) = body.as_object() else {
        return Err(ScimError::invalid_syntax("the body must be a JSON object"));
    };
    let listed = object
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|v| v.as_str().is_some_and(|v| v.eq_ignore_ascii_case(schema)))
        });
    if !listed {
        return Err(ScimError::invalid_syntax(format!(
            "schemas must list {schema}"
        )));
    }
    Ok(())
}

/// An optional string attribute: absent or null is `None`; another type
/// is `invalidValue`.
pub fn optional_string(
    object: &Value,
    name: &str,
    label: &str,
) -> Result<Option<String>, ScimError> {
    match member(object, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ScimError::invalid_value(format!(
            "{label} must be a string"
        ))),
    }
}

/// A boolean attribute, also as `"true"`/`"false"` (as some clients send
/// it); absent or null is `None`.
pub fn optional_bool(object: &Value, name: &str) -> Result<Option<bool>, ScimError> {
    match member(object, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(ScimError::invalid_value(format!(
            "{name} must be true or false"
        ))),
    }
}

/// Reads a User from a request body (or a patched resource). The
/// domain checks the values themselves (a well-formed email, lengths).
pub fn parse(body: &Value) -> Result<UserInput, ScimError> {
    require_schema(body, SCHEMA)?;
    let user_name = optional_string(body, "userName", "userName")?
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| ScimError::invalid_value("userName is required"))?;
    let name = match member(body, "name") {
        None | Some(Value::Null) => Value::Null,
        Some(n @ Value::Object(_)) => n.clone(),
        Some(_) => return Err(ScimError::invalid_value("name must be an object")),
    };
    let email = match member(body, "emails") {
        None | Some(Value::Null) => None,
        Some(Value::Array(emails)) => chosen_email(emails)?,
        Some(_) => return Err(ScimError::invalid_value("emails must be a list")),
    };
    let email = match email {
        Some(e) => e,
        None if user_name.contains('@') => user_name.clone(),
        None => {
            return Err(ScimError::invalid_value(
                "a user needs an email: give emails, or a userName that is an email address",
            ))
        }
    };
    Ok(UserInput {
        email,
        identity: Identity {
            user_name,
            external_id: optional_string(body, "externalId", "externalId")?,
            given_name: optional_string(&name, "givenName", "name.givenName")?,
            family_name: optional_string(&name, "familyName", "name.familyName")?,
        },
        active: optional_bool(body, "active")?,
    })
}

/// The primary email, else the `work` one, else the first.
fn chosen_email(emails: &[Value]) -> Result<Option<String>, ScimError> {
    let mut values = Vec::with_capacity(emails.len());
    for e in emails {
        let value = optional_string(e, "value", "emails.value")?
            .ok_or_else(|| ScimError::invalid_value("every email needs a value"))?;
        let primary = optional_bool(e, "primary")?.unwrap_or(false);
        let work = optional_string(e, "type", "emails.type")?
            .is_some_and(|t| t.eq_ignore_ascii_case("work"));
        values.push((value, primary, work));
    }
    let pick = values
        .iter()
        .find(|(_, primary, _)| *primary)
        .or_else(|| values.iter().find(|(_, _, work)| *work))
        .or_else(|| values.first());
    Ok(pick.map(|(v, _, _)| v.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn okta_s_user_is_read_with_its_work_email() {
        let body = json!({
            "schemas": [SCHEMA],
            "userName": "ada@okta.example",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [
                {"primary": false, "value": "ada@home.example", "type": "home"},
                {"value": "ada@acme.example", "type": "work"}
            ],
            "displayName": "Ada Lovelace",
            "locale": "en-US",
            "externalId": "00u1",
            "password": "never-kept",
            "active": true
        });
        let input = parse(&body).unwrap();
        assert_eq!(input.email, "ada@acme.example");
        assert_eq!(input.identity.user_name, "ada@okta.example");
        assert_eq!(input.identity.external_id.as_deref(), Some("00u1"));
        assert_eq!(input.identity.given_name.as_deref(), Some("Ada"));
        assert_eq!(input.active, Some(true));
    }

    #[test]
    fn a_user_without_emails_needs_a_user_name_that_is_one() {
        let ok =
            parse(&json!({"schemas": [SCHEMA], "userName": "bo@acme.example", "active": "False"}))
                .unwrap();
        assert_eq!(
            (ok.email.as_str(), ok.active),
            ("bo@acme.example", Some(false))
        );
        let no = parse(&json!({"schemas": [SCHEMA], "userName": "bo"})).unwrap_err();
        assert_eq!(no.scim_type, Some("invalidValue"));
        let wrong = parse(&json!({"schemas": ["urn:x"], "userName": "bo@a.example"})).unwrap_err();
        assert_eq!(wrong.scim_type, Some("invalidSyntax"));
        let typed = parse(&json!({"schemas": [SCHEMA], "userName": 7})).unwrap_err();
        assert_eq!(typed.scim_type, Some("invalidValue"));
    }
}
