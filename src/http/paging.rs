//! Keyset paging of lists (API.md: `limit`, default 50, at most 1000, and an
//! opaque `cursor`; answers carry `next_cursor`, null at the end). Items are
//! ordered by a unique key; the cursor is the hex of the last key served, so
//! a page never repeats or skips an item even while the list changes.

use super::problem::{ApiResult, Problem};

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

/// One page of `items` (already sorted by `key`) after `cursor`.
pub fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    limit: Option<usize>,
    cursor: Option<&str>,
) -> ApiResult<(Vec<T>, Option<String>)> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(Problem::invalid(
            "limit",
            "invalid_limit",
            format!("limit must be 1 to {MAX_LIMIT}"),
        ));
    }
    let after = cursor
        .map(|c| {
            hex::decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    Problem::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        "invalid_cursor",
                        "malformed cursor",
                    )
                })
        })
        .transpose()?;
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| after.as_ref().is_none_or(|a| key(i) > *a))
        .collect();
    let next = (rest.len() > limit).then(|| hex::encode(key(&rest[limit - 1])));
    rest.truncate(limit);
    Ok((rest, next))
}
