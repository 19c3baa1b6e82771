//! Django-REST-Framework page-number pagination, and the scrambled order.
//!
//! The docs show only `count` and `results`, but warn that a real deployment
//! may add `next`/`previous`; the simulator always pages so clients are forced
//! to follow `next`. Results come in a stable but meaningless order (the docs'
//! own example is not sorted by time), so clients cannot lean on order.

use std::ops::Range;

use super::state::{Refusal, mix};

/// The `page` query parameter: 1 when absent, `last` allowed, else a
/// positive integer; DRF answers anything else with 404 "Invalid page.".
pub(crate) enum PageParam {
    Number(usize),
    Last,
}

pub(crate) fn page_param(pairs: &[(String, String)]) -> Result<PageParam, Refusal> {
    match pairs.iter().rev().find(|(k, _)| k == "page") {
        None => Ok(PageParam::Number(1)),
        Some((_, v)) if v == "last" => Ok(PageParam::Last),
        Some((_, v)) => match v.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(PageParam::Number(n)),
            _ => Err(invalid_page()),
        },
    }
}

fn invalid_page() -> Refusal {
    Refusal::not_found("Invalid page.")
}

/// Which items of `total` page `param` holds, and the neighbouring page
/// numbers. `page_size` 0 puts everything on page 1.
pub(crate) struct PageSlice {
    pub(crate) range: Range<usize>,
    pub(crate) next: Option<usize>,
    pub(crate) previous: Option<usize>,
}

pub(crate) fn slice(
    total: usize,
    param: PageParam,
    page_size: usize,
) -> Result<PageSlice, Refusal> {
    let size = if page_size == 0 {
        total.max(1)
    } else {
        page_size
    };
    let pages = total.div_ceil(size).max(1);
    let page = match param {
        PageParam::Last => pages,
        PageParam::Number(n) if n <= pages => n,
        PageParam::Number(_) => return Err(invalid_page()),
    };
    let start = (page - 1) * size;
    Ok(PageSlice {
        range: start..(start + size).min(total),
        next: (page < pages).then_some(page + 1),
        previous: (page > 1).then_some(page - 1),
    })
}

/// An absolute link to `page`, keeping the other query parameters as sent
/// (DRF drops `page` for page 1).
pub(crate) fn page_link(host: &str, path: &str, raw_query: &str, page: usize) -> String {
    let mut parts: Vec<String> = raw_query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some("page"))
        .map(str::to_owned)
        .collect();
    if page > 1 {
        parts.push(format!("page={page}"));
    }
    if parts.is_empty() {
        format!("http://{host}{path}")
    } else {
        format!("http://{host}{path}?{}", parts.join("&"))
    }
}

/// Orders items by a hash of their id: stable between calls, unrelated to
/// time or id order.
pub(crate) fn scramble<T>(items: &mut [T], id: impl Fn(&T) -> u64) {
    items.sort_by_key(|item| mix(id(item)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn slices_like_drf() {
        let s = slice(7, PageParam::Number(1), 3).unwrap();
        assert_eq!((s.range, s.next, s.previous), (0..3, Some(2), None));
        let s = slice(7, PageParam::Number(3), 3).unwrap();
        assert_eq!((s.range, s.next, s.previous), (6..7, None, Some(2)));
        let s = slice(7, PageParam::Last, 3).unwrap();
        assert_eq!(s.range, 6..7);
        assert!(slice(7, PageParam::Number(4), 3).is_err());
        let s = slice(0, PageParam::Number(1), 3).unwrap();
        assert_eq!((s.range, s.next), (0..0, None));
        let s = slice(120, PageParam::Number(1), 0).unwrap();
        assert_eq!((s.range, s.next), (0..120, None));
    }

    #[test]
    fn page_param_rejects_garbage() {
        assert!(matches!(page_param(&pairs(&[])), Ok(PageParam::Number(1))));
        assert!(matches!(
            page_param(&pairs(&[("page", "2")])),
            Ok(PageParam::Number(2))
        ));
        assert!(page_param(&pairs(&[("page", "0")])).is_err());
        assert!(page_param(&pairs(&[("page", "two")])).is_err());
    }

    #[test]
    fn links_keep_filters_and_replace_page() {
        assert_eq!(
            page_link(
                "h:1",
                "/api/v1/backups/",
                "server_id=5&page=2&backup_type=manual",
                3
            ),
            "http://h:1/api/v1/backups/?server_id=5&backup_type=manual&page=3"
        );
        assert_eq!(
            page_link("h:1", "/api/v1/backups/", "page=2", 1),
            "http://h:1/api/v1/backups/"
        );
    }

    #[test]
    fn scramble_is_stable_and_not_sorted() {
        let mut ids: Vec<u64> = (1..=20).collect();
        scramble(&mut ids, |id| *id);
        let again = {
            let mut v: Vec<u64> = (1..=20).rev().collect();
            scramble(&mut v, |id| *id);
            v
        };
        assert_eq!(ids, again);
        assert!(ids.windows(2).any(|w| w[0] > w[1]));
        assert!(ids.windows(2).any(|w| w[0] < w[1]));
    }
}
