//! Listing resources (RFC 7644 §3.4.2): `filter`, `startIndex` (1-based),
//! `count`, the `ListResponse` message, and `attributes` /
//! `excludedAttributes` for every answer.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::error::ScimError;
use super::filter::{Filter, Known};

/// The ListResponse message's schema.
pub const SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// Items per page when `count` is not given.
pub const DEFAULT_COUNT: usize = 100;
/// The most items one page holds (`ServiceProviderConfig`'s
/// `filter.maxResults`).
pub const MAX_COUNT: usize = 1_000;
/// The longest filter read.
pub const MAX_FILTER: usize = 4_096;

/// A list request's query.
#[derive(Debug)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: usize,
    pub count: usize,
    pub shape: Shape,
}

/// `attributes` / `excludedAttributes`: which top-level attributes an
/// answer keeps (`schemas` and `id` always).
#[derive(Debug, Default, Clone)]
pub struct Shape {
    only: Option<Vec<String>>,
    without: Vec<String>,
}

fn names(text: &str) -> Vec<String> {
    text.split(',')
        .map(|a| {
            let a = a.trim().to_lowercase();
            let bare = a.rsplit_once(':').map(|(_, b)| b.to_string()).unwrap_or(a);
            bare.split('.').next().unwrap_or_default().to_string()
        })
        .filter(|a| !a.is_empty())
        .collect()
}

impl Shape {
    /// Reads `attributes` and `excludedAttributes` from a query.
    pub fn of(query: &HashMap<String, String>) -> Shape {
        Shape {
            only: param(query, "attributes").map(names),
            without: param(query, "excludedAttributes")
                .map(names)
                .unwrap_or_default(),
        }
    }

    /// Drops the attributes the request does not want.
    pub fn apply(&self, mut resource: Value) -> Value {
        if let Some(object) = resource.as_object_mut() {
            object.retain(|k, _| {
                let k = k.to_lowercase();
                if k == "schemas" || k == "id" {
                    return true;
                }
                let wanted = self.only.as_ref().is_none_or(|only| only.contains(&k));
                wanted && !self.without.contains(&k)
            });
        }
        resource
    }
}

/// A query parameter, its name compared case-insensitively.
fn param<'a>(query: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// An integer parameter; below `min` is `min` (as the RFC says of
/// `startIndex` and `count`); not an integer: `invalidValue`.
fn integer(
    query: &HashMap<String, String>,
    name: &str,
    default: usize,
    min: usize,
) -> Result<usize, ScimError> {
    match param(query, name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map(|n| usize::try_from(n.max(min as i64)).unwrap_or(usize::MAX))
            .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer"))),
    }
}

impl ListQuery {
    /// Reads a list request's query against the resource type's attributes.
    pub fn parse(query: &HashMap<String, String>, known: Known) -> Result<ListQuery, ScimError> {
        let filter = match param(query, "filter") {
            None => None,
            Some(text) if text.len() > MAX_FILTER => {
                return Err(ScimError::invalid_filter(format!(
                    "the filter is longer than {MAX_FILTER} bytes"
                )))
            }
            Some(text) => Some(
                Filter::parse(text, known).map_err(|e| ScimError::invalid_filter(e.to_string()))?,
            ),
        };
        Ok(ListQuery {
            filter,
            start_index: integer(query, "startIndex", 1, 1)?,
            count: integer(query, "count", DEFAULT_COUNT, 0)?.min(MAX_COUNT),
            shape: Shape::of(query),
        })
    }

    /// The page of `matching` (all the resources that match, in their
    /// stable order) as a `ListResponse`.
    pub fn respond(&self, matching: Vec<Value>) -> Value {
        self.respond_with(matching, |r| r)
    }

    /// The `ListResponse` for `candidates` (in their stable order), each
    /// rendered by `render` and kept if it matches the filter; without a
    /// filter only the page's items are rendered.
    pub fn answer<T>(&self, candidates: Vec<T>, render: impl Fn(T) -> Value) -> Value {
        match &self.filter {
            None => self.respond_with(candidates, render),
            Some(f) => self.respond(
                candidates
                    .into_iter()
                    .map(render)
                    .filter(|r| f.matches(r))
                    .collect(),
            ),
        }
    }

    /// Like [`ListQuery::respond`], rendering only the page's items:
    /// `items` are all that match, in their stable order.
    fn respond_with<T>(&self, items: Vec<T>, render: impl Fn(T) -> Value) -> Value {
        let total = items.len();
        let page: Vec<Value> = items
            .into_iter()
            .skip(self.start_index - 1)
            .take(self.count)
            .map(|r| self.shape.apply(render(r)))
            .collect();
        json!({
            "schemas": [SCHEMA],
            "totalResults": total,
            "startIndex": self.start_index,
            "itemsPerPage": page.len(),
            "Resources": page,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::user;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pages_are_one_based_and_counts_clamped() {
        let q = ListQuery::parse(
            &query(&[("startIndex", "0"), ("count", "-3")]),
            user::ATTRIBUTES,
        )
        .unwrap();
        assert_eq!((q.start_index, q.count), (1, 0));
        let answer = q.respond(vec![json!({"id": "a"}), json!({"id": "b"})]);
        assert_eq!(answer["totalResults"], 2);
        assert_eq!(answer["itemsPerPage"], 0);
        let q = ListQuery::parse(
            &query(&[("startIndex", "2"), ("count", "5000")]),
            user::ATTRIBUTES,
        )
        .unwrap();
        assert_eq!(q.count, MAX_COUNT);
        let answer = q.respond(vec![json!({"id": "a"}), json!({"id": "b"})]);
        assert_eq!(answer["Resources"], json!([{"id": "b"}]));
        assert_eq!(answer["startIndex"], 2);
        let bad = ListQuery::parse(&query(&[("count", "ten")]), user::ATTRIBUTES).unwrap_err();
        assert_eq!(bad.scim_type, Some("invalidValue"));
        let bad =
            ListQuery::parse(&query(&[("filter", "userName eq")]), user::ATTRIBUTES).unwrap_err();
        assert_eq!(bad.scim_type, Some("invalidFilter"));
    }

    #[test]
    fn attributes_and_excluded_attributes_shape_the_answer() {
        let r = json!({"schemas": [], "id": "1", "displayName": "ops", "members": [1], "meta": {}});
        let only = Shape::of(&query(&[("attributes", "displayName")]));
        assert_eq!(
            only.apply(r.clone()),
            json!({"schemas": [], "id": "1", "displayName": "ops"})
        );
        let without = Shape::of(&query(&[("excludedAttributes", "members,meta")]));
        assert_eq!(
            without.apply(r),
            json!({"schemas": [], "id": "1", "displayName": "ops"})
        );
    }
}
