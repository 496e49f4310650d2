//! SCIM PATCH (RFC 7644 §3.5.2): the operations `add`, `replace` and
//! `remove` applied to a resource's SCIM JSON, which is then read back
//! like a PUT body. Paths are `attr`, `attr.sub`, `attr[filter]` and
//! `attr[filter].sub`; without a path, `add`/`replace` take an object of
//! attributes (Okta's `{"op":"replace","value":{"active":false}}`). Op
//! names are case-insensitive (Azure sends `Replace`).

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{Filter, Known, Op, Path};

/// The PatchOp message's schema.
pub const SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// At most this many operations in one request.
pub const MAX_OPERATIONS: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Replace,
    Remove,
}

/// Applies the PatchOp message `body` to `resource`, all or nothing:
/// `invalidSyntax` for a malformed message, `invalidPath` for a path
/// naming no attribute of `known`, `mutability` for one of `read_only`,
/// `noTarget` for a `remove` without a path or a filter matching nothing
/// to change.
pub fn apply(
    resource: &mut Value,
    body: &Value,
    known: Known,
    read_only: &[&str],
) -> Result<(), ScimError> {
    super::user::require_schema(body, SCHEMA)?;
    let ops = super::filter::member(body, "Operations")
        .and_then(Value::as_array)
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| ScimError::invalid_syntax("Operations must be a non-empty list"))?;
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::new(
            axum::http::StatusCode::BAD_REQUEST,
            Some("tooMany"),
            format!("at most {MAX_OPERATIONS} operations per request"),
        ));
    }
    let mut patched = resource.clone();
    for op in ops {
        let kind = match super::filter::member(op, "op").and_then(Value::as_str) {
            Some(k) if k.eq_ignore_ascii_case("add") => Kind::Add,
            Some(k) if k.eq_ignore_ascii_case("replace") => Kind::Replace,
            Some(k) if k.eq_ignore_ascii_case("remove") => Kind::Remove,
            _ => {
                return Err(ScimError::invalid_syntax(
                    "every operation's op must be add, replace or remove",
                ))
            }
        };
        let value = super::filter::member(op, "value").cloned();
        match super::filter::member(op, "path") {
            None | Some(Value::Null) => {
                if kind == Kind::Remove {
                    return Err(ScimError::no_target("remove needs a path"));
                }
                let Some(Value::Object(attributes)) = value else {
                    return Err(ScimError::invalid_value(
                        "an operation without a path needs an object of attributes as its value",
                    ));
                };
                for (name, v) in attributes {
                    let path = parse_path(&name, known, read_only)?;
                    at_path(&mut patched, &path, kind, Some(v))?;
                }
            }
            Some(Value::String(text)) => {
                let path = parse_path(text, known, read_only)?;
                if kind != Kind::Remove && value.is_none() {
                    return Err(ScimError::invalid_value(format!(
                        "{text}: add and replace need a value"
                    )));
                }
                at_path(&mut patched, &path, kind, value)?;
            }
            Some(_) => return Err(ScimError::invalid_path("path must be a string")),
        }
    }
    *resource = patched;
    Ok(())
}

fn parse_path(text: &str, known: Known, read_only: &[&str]) -> Result<Path, ScimError> {
    let path = Filter::parse_path(text, known).map_err(|e| ScimError::invalid_path(e.0))?;
    if read_only.contains(&path.attr.as_str()) {
        return Err(ScimError::mutability(format!("{text} is read-only")));
    }
    Ok(path)
}

/// The key of `object`'s member named `name` (case-insensitively), or
/// `name` for a new one.
fn key_of(object: &Map<String, Value>, name: &str) -> String {
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_string())
}

fn object_mut(v: &mut Value) -> Result<&mut Map<String, Value>, ScimError> {
    if v.is_null() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut()
        .ok_or_else(|| ScimError::invalid_path("the path goes into a value that is not an object"))
}

/// Sets (`add` appends to a list), or removes, `sub` of `target` (the
/// attribute itself when `sub` is `None`).
fn change(target: &mut Map<String, Value>, name: &str, kind: Kind, value: Option<Value>) {
    let key = key_of(target, name);
    match (kind, value) {
        (Kind::Remove, _) | (_, None) => {
            target.remove(&key);
        }
        (Kind::Add, Some(v)) => match (target.get_mut(&key), v) {
            (Some(Value::Array(items)), Value::Array(new)) => {
                for n in new {
                    if !items.contains(&n) {
                        items.push(n);
                    }
                }
            }
            (Some(Value::Array(items)), one) => {
                if !items.contains(&one) {
                    items.push(one);
                }
            }
            (Some(Value::Object(existing)), Value::Object(new)) => existing.extend(new),
            (_, v) => {
                target.insert(key, v);
            }
        },
        (Kind::Replace, Some(v)) => {
            target.insert(key, v);
        }
    }
}

fn at_path(
    resource: &mut Value,
    path: &Path,
    kind: Kind,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let object = object_mut(resource)?;
    let Some(filter) = &path.elements else {
        return match &path.sub {
            None => {
                change(object, &path.attr, kind, value);
                Ok(())
            }
            Some(sub) => {
                let key = key_of(object, &path.attr);
                let attr = object.entry(key).or_insert(Value::Null);
                match attr {
                    // `emails.value`: every element's.
                    Value::Array(items) => {
                        for item in items {
                            change(object_mut(item)?, sub, kind, value.clone());
                        }
                    }
                    other => change(object_mut(other)?, sub, kind, value),
                }
                Ok(())
            }
        };
    };
    let key = key_of(object, &path.attr);
    let items = match object.entry(key).or_insert_with(|| Value::Array(vec![])) {
        Value::Array(items) => items,
        _ => {
            return Err(ScimError::invalid_path(format!(
                "{} is not a list to filter",
                path.attr
            )))
        }
    };
    let matching: Vec<usize> = (0..items.len())
        .filter(|i| filter.matches(&items[*i]))
        .collect();
    if matching.is_empty() {
        // `emails[type eq "work"].value` replaced on a list without a
        // work email: the element is made from the filter's equality.
        return match (kind, equality(filter), value) {
            (Kind::Remove, _, _) => Ok(()),
            (_, Some((attr, v)), Some(value)) => {
                let mut element = Map::new();
                element.insert(attr.to_string(), v.clone());
                match &path.sub {
                    Some(sub) => {
                        element.insert(sub.clone(), value);
                    }
                    None => match value {
                        Value::Object(m) => element.extend(m),
                        _ => return Err(ScimError::invalid_value("the value must be an object")),
                    },
                }
                items.push(Value::Object(element));
                Ok(())
            }
            _ => Err(ScimError::no_target(format!(
                "no element of {} matches the filter",
                path.attr
            ))),
        };
    }
    match &path.sub {
        None if kind == Kind::Remove => {
            let mut i = 0;
            items.retain(|_| {
                let keep = !matching.contains(&i);
                i += 1;
                keep
            });
        }
        None => {
            let Some(Value::Object(m)) = value else {
                return Err(ScimError::invalid_value("the value must be an object"));
            };
            for i in matching {
                object_mut(&mut items[i])?.extend(m.clone());
            }
        }
        Some(sub) => {
            for i in matching {
                change(object_mut(&mut items[i])?, sub, kind, value.clone());
            }
        }
    }
    Ok(())
}

/// `attr eq value` inside brackets: what a new element must hold.
fn equality(filter: &Filter) -> Option<(&str, &Value)> {
    match filter {
        Filter::Compare {
            path:
                Path {
                    attr,
                    sub: None,
                    elements: None,
                },
            op: Op::Eq,
            value,
        } => Some((attr.as_str(), value)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::{group, user};
    use serde_json::json;

    fn patch(ops: Value) -> Value {
        json!({"schemas": [SCHEMA], "Operations": ops})
    }

    fn resource() -> Value {
        json!({
            "schemas": [user::SCHEMA],
            "id": "1",
            "userName": "ada@okta",
            "active": true,
            "emails": [{"value": "ada@acme.example", "type": "work", "primary": true}],
        })
    }

    #[test]
    fn okta_deactivates_without_a_path_and_azure_with_capitals() {
        let mut r = resource();
        apply(
            &mut r,
            &patch(json!([{"op": "replace", "value": {"active": false}}])),
            user::ATTRIBUTES,
            user::READ_ONLY,
        )
        .unwrap();
        assert_eq!(r["active"], false);
        apply(
            &mut r,
            &patch(json!([{"op": "Replace", "path": "active", "value": "True"}])),
            user::ATTRIBUTES,
            user::READ_ONLY,
        )
        .unwrap();
        assert_eq!(user::parse(&r).unwrap().active, Some(true));
    }

    #[test]
    fn value_paths_change_the_matching_element_or_make_one() {
        let mut r = resource();
        let ops = patch(json!([
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "ada@new.example"},
            {"op": "add", "path": "name.givenName", "value": "Ada"},
            {"op": "replace", "path": "externalId", "value": "00u1"},
        ]));
        apply(&mut r, &ops, user::ATTRIBUTES, user::READ_ONLY).unwrap();
        let input = user::parse(&r).unwrap();
        assert_eq!(input.email, "ada@new.example");
        assert_eq!(input.identity.given_name.as_deref(), Some("Ada"));
        assert_eq!(input.identity.external_id.as_deref(), Some("00u1"));

        let mut bare = json!({"schemas": [user::SCHEMA], "userName": "x@y.example", "emails": []});
        let ops = patch(
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "w@y.example"}]),
        );
        apply(&mut bare, &ops, user::ATTRIBUTES, user::READ_ONLY).unwrap();
        assert_eq!(
            bare["emails"],
            json!([{"type": "work", "value": "w@y.example"}])
        );
    }

    #[test]
    fn group_members_are_added_and_removed_by_filter() {
        let mut g = json!({"schemas": [group::SCHEMA], "id": "g", "displayName": "ops", "members": [{"value": "a"}]});
        let ops = patch(json!([
            {"op": "add", "path": "members", "value": [{"value": "b"}, {"value": "a"}]},
            {"op": "remove", "path": "members[value eq \"a\"]"},
            {"op": "replace", "path": "displayName", "value": "platform"},
        ]));
        apply(&mut g, &ops, group::ATTRIBUTES, group::READ_ONLY).unwrap();
        let input = group::parse(&g).unwrap();
        assert_eq!(input.members, ["b"]);
        assert_eq!(input.display_name, "platform");
    }

    #[test]
    fn bad_patches_say_why_and_change_nothing() {
        let before = resource();
        let cases = [
            (
                patch(json!([{"op": "replace", "path": "nickName", "value": "x"}])),
                "invalidPath",
            ),
            (
                patch(json!([{"op": "replace", "path": "emails[type eq", "value": "x"}])),
                "invalidPath",
            ),
            (patch(json!([{"op": "remove"}])), "noTarget"),
            (
                patch(json!([{"op": "replace", "path": "id", "value": "2"}])),
                "mutability",
            ),
            (
                patch(json!([{"op": "move", "path": "active"}])),
                "invalidSyntax",
            ),
            (patch(json!([])), "invalidSyntax"),
            (
                json!({"Operations": [{"op": "remove", "path": "active"}]}),
                "invalidSyntax",
            ),
            (
                patch(
                    json!([{"op": "replace", "path": "active", "value": false}, {"op": "replace", "path": "bogus", "value": 1}]),
                ),
                "invalidPath",
            ),
        ];
        for (body, scim_type) in cases {
            let mut r = before.clone();
            let e = apply(&mut r, &body, user::ATTRIBUTES, user::READ_ONLY).unwrap_err();
            assert_eq!(e.scim_type, Some(scim_type), "{body}");
            assert_eq!(r, before, "nothing changed by {body}");
        }
    }
}
