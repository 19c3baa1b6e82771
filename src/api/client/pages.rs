//! Pagination: walking a list to its end, each item once, on the configured
//! origin only.
//!
//! VPS.org pages its lists (DRF style: `count`, `next`, `results`). What is
//! survived here: pages that shift while walked (each id once), a `count` that
//! lies (never trusted for allocation or fan-out), `next` links that loop or
//! point to another host (never followed: the token goes only where the
//! operator configured), items that do not decode (skipped and counted).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use tracing::warn;

use super::{ApiError, Client, Endpoint};
use crate::api::models::{Backup, Snapshot};

impl Client {
    /// A page: in one go when every item reads (the usual case, no copy of
    /// each item), else item by item ([`Client::decode_items`]).
    fn decode_page<T: DeserializeOwned>(
        &self,
        label: &str,
        body: &[u8],
    ) -> Result<Page<T>, ApiError> {
        if let Ok(page) = serde_json::from_slice::<Page<T>>(body) {
            return Ok(page);
        }
        let raw = Self::decode::<RawPage>(label, body)?;
        Ok(Page {
            count: raw.count,
            next: raw.next,
            results: self.decode_items(label, raw.results),
        })
    }

    /// Decodes a page's items one at a time: an item that does not decode
    /// (`"server": null` on a snapshot of a deleted server, a missing field)
    /// is skipped with a warning and counted — it is never ours, so never
    /// deleted, and it must not fail the listing for every job.
    fn decode_items<T: DeserializeOwned>(&self, label: &str, raw: Vec<Box<RawValue>>) -> Vec<T> {
        let mut out = Vec::with_capacity(raw.len());
        for item in raw {
            match serde_json::from_str::<T>(item.get()) {
                Ok(t) => out.push(t),
                Err(e) => {
                    for stats in self.each_stats() {
                        stats.undecodable.fetch_add(1, Ordering::Relaxed);
                    }
                    let id = serde_json::from_str::<IdOnly>(item.get())
                        .ok()
                        .and_then(|i| i.id)
                        .map_or_else(|| "unknown".to_owned(), |v| v.to_string());
                    warn!(endpoint = label, item_id = %id, error = %e, "skipping a list item that cannot be read; it is never treated as ours");
                }
            }
        }
        out
    }

    /// Fetches every page of a list, each page with its own retries, and
    /// returns each item once (by id: a page-number list that changes while
    /// it is walked repeats items).
    ///
    /// Page 1 first. When its `next` link is DRF page-number pagination (the
    /// same URL plus `page=2`) and it gives `count`, the remaining pages are
    /// fetched concurrently (still within the limiter's `max_concurrency` and
    /// rate) in windows of `max_concurrency` pages: a fleet's listing costs
    /// about one round trip per window instead of one per page, and a `count`
    /// that lies (millions on a short list) costs at most one window of
    /// empty pages, because the walk stops at the first page that ends the
    /// list. Any other `next` (a cursor, say) is followed one page at a time.
    /// A list that grew meanwhile is finished by following the last page's
    /// `next`.
    pub(super) async fn list_all<T: DeserializeOwned + Listed + Send + 'static>(
        &self,
        ep: Endpoint,
        label: &str,
        first: Url,
        keep: Keep<T>,
    ) -> Result<Vec<T>, ApiError> {
        let mut seen = std::collections::HashSet::new();
        seen.insert(first.to_string());
        let page = self.get_page(ep, label, first.clone()).await?;
        let per_page = page.results.len() as u64;
        let mut listing = Listing {
            items: Vec::new(),
            ids: HashSet::new(),
        };
        // Reserved up front (doubling would briefly hold the list twice),
        // but never more than a sane amount whatever `count` claims.
        if let (Some(count), None) = (page.count, &keep) {
            listing
                .items
                .reserve(usize::try_from(count.min(MAX_RESERVE)).unwrap_or(0));
        }
        listing.extend(kept(page.results, &keep));
        let mut next = match page.next.filter(|l| !l.is_empty()) {
            Some(link) => Some(self.same_origin(label, &link)?),
            None => None,
        };
        if let (Some(second), Some(count)) = (next.clone(), page.count) {
            let pages = count.div_ceil(per_page.max(1));
            if per_page > 0 && pages >= 2 && is_page_link(&first, &second, 2) {
                let window = self.inner.settings.max_concurrency.max(1) as u64;
                let mut from = 2;
                next = None;
                while from <= pages {
                    let to = (from + window - 1).min(pages);
                    let urls: Vec<Url> = (from..=to).map(|n| with_page(&second, n)).collect();
                    seen.extend(urls.iter().map(Url::to_string));
                    let window_end = self.get_pages(ep, label, urls, &keep, &mut listing).await?;
                    match window_end {
                        // The list ended inside this window.
                        WindowEnd::Ended => break,
                        WindowEnd::Next(link) if to == pages => {
                            // A `next` past the pages counted at the start: the list grew.
                            next = Some(self.same_origin(label, &link)?);
                        }
                        WindowEnd::Next(_) => {}
                    }
                    from = to + 1;
                }
            }
        }
        while let Some(url) = next.take() {
            if !seen.insert(url.to_string()) {
                return Err(ApiError::Decode {
                    endpoint: label.to_owned(),
                    message: format!("pagination loops back to {url}"),
                });
            }
            let page = self.get_page(ep, label, url).await?;
            listing.extend(kept(page.results, &keep));
            if let Some(link) = page.next.filter(|l| !l.is_empty()) {
                next = Some(self.same_origin(label, &link)?);
            }
        }
        Ok(listing.items)
    }

    /// Fetches `urls` (consecutive pages of a page-number list)
    /// concurrently into `listing` (what `keep` keeps); says whether the
    /// list ended within them or where the last one points.
    async fn get_pages<T: DeserializeOwned + Listed + Send + 'static>(
        &self,
        ep: Endpoint,
        label: &str,
        urls: Vec<Url>,
        keep: &Keep<T>,
        listing: &mut Listing<T>,
    ) -> Result<WindowEnd, ApiError> {
        let last = urls.len().saturating_sub(1);
        let mut tasks = tokio::task::JoinSet::new();
        for (index, url) in urls.into_iter().enumerate() {
            let client = self.clone();
            let label = label.to_owned();
            let keep = keep.clone();
            tasks.spawn(async move {
                match client.get_page::<T>(ep, &label, url).await {
                    Ok(page) => {
                        let ended = page.results.is_empty();
                        let items = kept(page.results, &keep);
                        Ok((index, items, page.next.filter(|l| !l.is_empty()), ended))
                    }
                    // Items were deleted since page 1 was counted (or `count` lied).
                    Err(ApiError::NotFound { .. }) => Ok((index, Vec::new(), None, true)),
                    Err(e) => Err(e),
                }
            });
        }
        let mut ended = false;
        let mut last_next = None;
        while let Some(joined) = tasks.join_next().await {
            let (index, results, next, empty) = joined.map_err(|e| ApiError::Transport {
                endpoint: label.to_owned(),
                message: format!("fetching a page failed: {e}"),
                sent: true,
            })??;
            listing.extend(results);
            ended |= empty || (next.is_none() && index < last);
            if index == last {
                match next {
                    Some(link) => last_next = Some(link),
                    None => ended = true,
                }
            }
        }
        Ok(match (ended, last_next) {
            (false, Some(link)) => WindowEnd::Next(link),
            _ => WindowEnd::Ended,
        })
    }

    async fn get_page<T: DeserializeOwned>(
        &self,
        ep: Endpoint,
        label: &str,
        url: Url,
    ) -> Result<Page<T>, ApiError> {
        let mut retry = self.retrier();
        loop {
            let result = self
                .exchange(ep, label, Method::GET, url.clone(), None)
                .await
                .and_then(|(_, body)| self.decode_page::<T>(label, &body));
            match result {
                Ok(page) => return Ok(page),
                Err(e) => self.retry_after_sleep(&mut retry, label, e).await?,
            }
        }
    }

    /// A `next` link is followed only on the configured origin: the token
    /// must never be sent to a host the operator did not configure. One
    /// exception, always upgraded, never downgraded: behind a TLS-terminating
    /// proxy the API builds its links with `http://` on the same host (and
    /// port); such a link is followed over https.
    fn same_origin(&self, label: &str, link: &str) -> Result<Url, ApiError> {
        let mut url = self.inner.base.join(link).map_err(|e| ApiError::Decode {
            endpoint: label.to_owned(),
            message: format!("bad pagination link {link:?}: {e}"),
        })?;
        let base = &self.inner.base;
        let same_port = url.port_or_known_default() == base.port_or_known_default()
            || (url.port().is_none() && base.port().is_none());
        if url.scheme() == "http"
            && base.scheme() == "https"
            && url.host_str() == base.host_str()
            && same_port
        {
            let _ = url.set_scheme("https");
            let _ = url.set_port(base.port());
        }
        if url.scheme() != base.scheme()
            || url.host_str() != base.host_str()
            || url.port_or_known_default() != base.port_or_known_default()
        {
            return Err(ApiError::ForeignLink {
                endpoint: label.to_owned(),
                url: url.to_string(),
            });
        }
        Ok(url)
    }
}

/// Most items a listing reserves room for before it has seen them: `count`
/// is the provider's word, not a fact.
const MAX_RESERVE: u64 = 4096;

/// How a window of concurrently fetched pages ended.
enum WindowEnd {
    /// A page in it was empty, missing or had no `next`.
    Ended,
    /// Its last page points on.
    Next(String),
}

/// What a list item is told apart by.
pub(crate) trait Listed {
    fn id(&self) -> u64;
}

impl Listed for Snapshot {
    fn id(&self) -> u64 {
        self.id
    }
}

impl Listed for Backup {
    fn id(&self) -> u64 {
        self.id
    }
}

/// The items of a listing so far, each once.
struct Listing<T> {
    items: Vec<T>,
    ids: HashSet<u64>,
}

impl<T: Listed> Listing<T> {
    fn extend(&mut self, items: Vec<T>) {
        for item in items {
            if self.ids.insert(item.id()) {
                self.items.push(item);
            }
        }
    }
}

/// A list page, every item read.
#[derive(serde::Deserialize)]
struct Page<T> {
    #[serde(default)]
    count: Option<u64>,
    #[serde(default)]
    next: Option<String>,
    results: Vec<T>,
}

/// A list page whose items are decoded one by one.
#[derive(serde::Deserialize)]
struct RawPage {
    #[serde(default)]
    count: Option<u64>,
    #[serde(default)]
    next: Option<String>,
    results: Vec<Box<RawValue>>,
}

/// Just enough of an unreadable item to name it in a warning.
#[derive(serde::Deserialize)]
struct IdOnly {
    #[serde(default)]
    id: Option<serde_json::Value>,
}

/// Which items of a list to keep, decided page by page; `None` keeps all.
pub(crate) type Keep<T> = Option<Arc<KeepFn<T>>>;
type KeepFn<T> = dyn Fn(&T) -> bool + Send + Sync;

fn kept<T>(results: Vec<T>, keep: &Keep<T>) -> Vec<T> {
    match keep {
        None => results,
        Some(keep) => results.into_iter().filter(|t| keep(t)).collect(),
    }
}

/// Whether `link` is `first` plus `page={page}`: DRF page-number pagination.
fn is_page_link(first: &Url, link: &Url, page: u64) -> bool {
    let others = |u: &Url| {
        let mut pairs: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        pairs.sort();
        pairs
    };
    let page_value = link
        .query_pairs()
        .filter(|(k, _)| k == "page")
        .map(|(_, v)| v.into_owned())
        .collect::<Vec<_>>();
    link.path() == first.path()
        && page_value == [page.to_string()]
        && first.query_pairs().all(|(k, _)| k != "page")
        && others(first) == others(link)
}

/// `link` with its `page` parameter set to `page`, other parameters as they were.
fn with_page(link: &Url, page: u64) -> Url {
    let pairs: Vec<(String, String)> = link
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "page" {
                page.to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    let mut url = link.clone();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ApiToken;
    use crate::api::client::ClientSettings;

    #[test]
    fn page_links_are_recognised_and_rewritten() {
        let first = Url::parse("http://h/api/v1/snapshots/?server_id=3").unwrap();
        let second = Url::parse("http://h/api/v1/snapshots/?server_id=3&page=2").unwrap();
        assert!(is_page_link(&first, &second, 2));
        assert_eq!(
            with_page(&second, 7).as_str(),
            "http://h/api/v1/snapshots/?server_id=3&page=7"
        );
        let bare = Url::parse("http://h/api/v1/snapshots/").unwrap();
        let page2 = Url::parse("http://h/api/v1/snapshots/?page=2").unwrap();
        assert!(is_page_link(&bare, &page2, 2));
        // A cursor, another filter, another path or another page: followed one by one.
        for other in [
            "http://h/api/v1/snapshots/?cursor=abc",
            "http://h/api/v1/snapshots/?server_id=4&page=2",
            "http://h/api/v1/backups/?server_id=3&page=2",
            "http://h/api/v1/snapshots/?server_id=3&page=3",
        ] {
            assert!(
                !is_page_link(&first, &Url::parse(other).unwrap(), 2),
                "{other}"
            );
        }
    }

    #[test]
    fn next_links_behind_a_tls_proxy_are_upgraded_never_downgraded() {
        let client =
            |base: &str| Client::new(ClientSettings::new(base, ApiToken::new("t"))).unwrap();
        let c = client("https://api.example:8443/api/v1");
        let up = c
            .same_origin("x", "http://api.example:8443/api/v1/snapshots/?page=2")
            .unwrap();
        assert_eq!(
            up.as_str(),
            "https://api.example:8443/api/v1/snapshots/?page=2"
        );
        let d = client("https://api.example/api/v1");
        let up = d
            .same_origin("x", "http://api.example/api/v1/snapshots/?page=2")
            .unwrap();
        assert_eq!(up.as_str(), "https://api.example/api/v1/snapshots/?page=2");
        for foreign in [
            "http://other.example/api/v1/snapshots/?page=2",
            "http://api.example:9000/api/v1/snapshots/?page=2",
            "https://other.example/api/v1/snapshots/?page=2",
        ] {
            assert!(
                matches!(
                    c.same_origin("x", foreign),
                    Err(ApiError::ForeignLink { .. })
                ),
                "{foreign}"
            );
        }
        // An https link from an http (loopback) base is another origin.
        let plain = client("http://127.0.0.1:8080/api/v1");
        assert!(
            plain
                .same_origin("x", "https://127.0.0.1:8080/api/v1/snapshots/?page=2")
                .is_err()
        );
    }
}
