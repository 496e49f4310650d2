//! What a SCIM client reads before it provisions (RFC 7644 §4):
//! `ServiceProviderConfig`, `ResourceTypes` and `Schemas`, describing what
//! this server does (PATCH and filters yes; bulk, sort, ETags and password
//! changes no; bearer-token authentication).

use serde_json::{json, Value};

use super::list::MAX_COUNT;
use super::{group, user};

/// `ServiceProviderConfig`; `base` is the SCIM base URL.
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/rolebook/rolebook#scim",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_COUNT},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "The organization's SCIM token (POST /api/v1/orgs/{org}/okta/scim-token), as Authorization: Bearer <token>",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

/// The resource types, `User` and `Group`.
pub fn resource_types(base: &str) -> Vec<Value> {
    [("User", "/Users", user::SCHEMA), ("Group", "/Groups", group::SCHEMA)]
        .into_iter()
        .map(|(name, endpoint, schema)| {
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
                "id": name,
                "name": name,
                "endpoint": endpoint,
                "schema": schema,
                "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{name}")},
            })
        })
        .collect()
}

fn attribute(
    name: &str,
    kind: &str,
    multi: bool,
    required: bool,
    mutability: &str,
    unique: &str,
) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": multi,
        "required": required,
        "caseExact": false,
        "mutability": mutability,
        "returned": "default",
        "uniqueness": unique,
    })
}

fn complex(name: &str, multi: bool, mutability: &str, subs: Vec<Value>) -> Value {
    let mut a = attribute(name, "complex", multi, false, mutability, "none");
    a["subAttributes"] = Value::Array(subs);
    a
}

/// The schemas of `User` and `Group`, with the attributes this server
/// reads and writes.
pub fn schemas(base: &str) -> Vec<Value> {
    let rw = "readWrite";
    let ro = "readOnly";
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": user::SCHEMA,
        "name": "User",
        "description": "A person of the organization",
        "attributes": [
            attribute("userName", "string", false, true, rw, "server"),
            complex("name", false, rw, vec![
                attribute("givenName", "string", false, false, rw, "none"),
                attribute("familyName", "string", false, false, rw, "none"),
                attribute("formatted", "string", false, false, ro, "none"),
            ]),
            attribute("displayName", "string", false, false, ro, "none"),
            attribute("active", "boolean", false, false, rw, "none"),
            complex("emails", true, rw, vec![
                attribute("value", "string", false, true, rw, "server"),
                attribute("type", "string", false, false, rw, "none"),
                attribute("primary", "boolean", false, false, rw, "none"),
            ]),
            complex("groups", true, ro, vec![
                attribute("value", "string", false, false, ro, "none"),
                attribute("display", "string", false, false, ro, "none"),
            ]),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", user::SCHEMA)},
    });
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": group::SCHEMA,
        "name": "Group",
        "description": "A group of the organization's people",
        "attributes": [
            attribute("displayName", "string", false, true, rw, "server"),
            complex("members", true, rw, vec![
                attribute("value", "string", false, true, rw, "none"),
                attribute("display", "string", false, false, ro, "none"),
                attribute("type", "string", false, false, ro, "none"),
            ]),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", group::SCHEMA)},
    });
    vec![user, group]
}
