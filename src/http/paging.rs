//! Keyset paging of lists (API.md: `limit`, default 50, at most 1000, and an
//! opaque `cursor`; answers carry `next_cursor`, null at the end). Items are
//! ordered by a unique key; the cursor is the hex of the last key served, so
//! a page never repeats or skips an item even while the list changes.
//!
//! Lists that API.md writes as a bare JSON array (`GET /roles`,
//! `/projects`, `/projects/{project}/members`) keep that body: they are
//! paged only when the client asks (`limit` or `cursor` given; without
//! them the whole list, as before, so a client that knows only the array
//! never loses items silently), and the next page is announced in headers:
//! `Rolebook-Next-Cursor: <cursor>` and `Link: <url>; rel="next"` (RFC
//! 8288), both absent on the last page.

use axum::http::{HeaderMap, HeaderValue, Uri};

use super::problem::{ApiResult, Problem};

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

/// The header that carries a bare-array list's next cursor.
pub const NEXT_CURSOR_HEADER: &str = "rolebook-next-cursor";

/// `limit` checked: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
pub fn limit(limit: Option<usize>) -> ApiResult<usize> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(Problem::invalid(
            "limit",
            "invalid_limit",
            format!("limit must be 1 to {MAX_LIMIT}"),
        ));
    }
    Ok(limit)
}

/// The key a cursor names (the last key served), or 400 `invalid_cursor`.
pub fn after(cursor: Option<&str>) -> ApiResult<Option<String>> {
    cursor
        .map(|c| {
            hex::decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(invalid_cursor)
        })
        .transpose()
}

/// The cursor of a page whose last key is `key`.
pub fn cursor(key: &str) -> String {
    hex::encode(key)
}

/// 400 `invalid_cursor`.
pub fn invalid_cursor() -> Problem {
    Problem::new(
        axum::http::StatusCode::BAD_REQUEST,
        "invalid_cursor",
        "malformed cursor",
    )
}

/// One page of `items` (already sorted by `key`) after `cursor`.
pub fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    limit: Option<usize>,
    cursor: Option<&str>,
) -> ApiResult<(Vec<T>, Option<String>)> {
    let limit = self::limit(limit)?;
    let after = after(cursor)?;
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| after.as_ref().is_none_or(|a| key(i) > *a))
        .collect();
    let next = (rest.len() > limit).then(|| self::cursor(&key(&rest[limit - 1])));
    rest.truncate(limit);
    Ok((rest, next))
}

/// One page of `items` in any order: the `limit` smallest keys after
/// `cursor`, in order, as [`page`] gives them from a sorted list; each key
/// is computed once and only the page is sorted (a first page of 50 out
/// of 10,000 costs one pass, not a sort of the 10,000).
pub fn smallest<T>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> String,
    limit: Option<usize>,
    cursor: Option<&str>,
) -> ApiResult<(Vec<T>, Option<String>)> {
    let limit = self::limit(limit)?;
    let after = after(cursor)?;
    let mut keyed: Vec<(String, T)> = items
        .into_iter()
        .map(|i| (key(&i), i))
        .filter(|(k, _)| after.as_ref().is_none_or(|a| k > a))
        .collect();
    let more = keyed.len() > limit;
    if more {
        // The `limit` smallest before index `limit`, in no order.
        keyed.select_nth_unstable_by(limit, |a, b| a.0.cmp(&b.0));
        keyed.truncate(limit);
    }
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let next = more.then(|| self::cursor(&keyed[limit - 1].0));
    Ok((keyed.into_iter().map(|(_, i)| i).collect(), next))
}

/// A bare-array list: the whole of `items` unless the client asked for a
/// page (`limit` or `cursor`), then [`page`].
pub fn page_if_asked<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    limit: Option<usize>,
    cursor: Option<&str>,
) -> ApiResult<(Vec<T>, Option<String>)> {
    if limit.is_none() && cursor.is_none() {
        return Ok((items, None));
    }
    page(items, key, limit, cursor)
}

/// The headers announcing the next page of a bare-array list requested at
/// `uri`: `Rolebook-Next-Cursor` and a `Link` to the same query with the
/// new cursor. Empty at the end.
pub fn next_page_headers(uri: &Uri, next: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let Some(next) = next else {
        return headers;
    };
    // The cursor is hex: it needs no escaping, and neither does the rest
    // of the query, which is passed on as the client sent it.
    let mut query: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("cursor="))
        .collect();
    let cursor = format!("cursor={next}");
    query.push(&cursor);
    let link = format!("<{}?{}>; rel=\"next\"", uri.path(), query.join("&"));
    if let (Ok(cursor), Ok(link)) = (HeaderValue::from_str(next), HeaderValue::from_str(&link)) {
        headers.insert(NEXT_CURSOR_HEADER, cursor);
        headers.insert(axum::http::header::LINK, link);
    }
    headers
}

#[cfg(test)]
mod tests {
    /// `smallest` over a list in any order gives the pages `page` gives
    /// over the sorted list, cursor for cursor.
    #[test]
    fn smallest_pages_as_page_does_over_the_sorted_list() {
        let items: Vec<u32> = (0..1000).map(|i| (i * 7919) % 1000).collect();
        let key = |i: &u32| format!("{i:04}");
        let mut sorted = items.clone();
        sorted.sort();
        for limit in [1, 7, 50, 999, 1000] {
            let (mut a, mut b) = (None::<String>, None::<String>);
            let mut pages = 0;
            loop {
                let (pa, na) = super::page(sorted.clone(), key, Some(limit), a.as_deref()).unwrap();
                let (pb, nb) =
                    super::smallest(items.clone(), key, Some(limit), b.as_deref()).unwrap();
                assert_eq!(pa, pb, "limit {limit}");
                assert_eq!(na, nb, "limit {limit}");
                pages += 1;
                if na.is_none() {
                    break;
                }
                (a, b) = (na, nb);
            }
            assert_eq!(pages, 1000_usize.div_ceil(limit), "limit {limit}");
        }
    }
}
