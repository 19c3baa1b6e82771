//! What each server holds, fetched economically.
//!
//! A pass lists every snapshot (or manual backup) once — one paginated list
//! for the whole fleet, split by server — instead of one list per server.
//! While jobs wait for new items to complete, one [`Poller`] lists once per
//! poll interval for all of them. Snapshots and backups are folded into one
//! [`Item`] shape so the rotation rules are written once.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};
use tracing::warn;

use crate::api::{ApiError, Backup, BackupType, Client, Keep, Snapshot, Status};
use crate::provider::Kind;

/// A snapshot or a manual backup, as the rotation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) id: u64,
    pub(crate) server_id: u64,
    pub(crate) server_name: String,
    /// The snapshot's name, or the backup's description: what ownership is read from.
    pub(crate) label: String,
    pub(crate) status: Status,
    pub(crate) created_at: DateTime<Utc>,
    /// Bytes stored, from the provider's `size_mb` (see [`mb_to_bytes`]);
    /// `None` while it is not stated (an item in progress, an odd value).
    pub(crate) size_bytes: Option<u64>,
}

/// Bytes in one of VPS.org's `size_mb` megabytes: its sizes are binary
/// (a 5 GiB disk's snapshot is `"size_mb": 5120`).
pub(crate) const BYTES_PER_MB: f64 = 1_048_576.0;

/// `size_mb` in bytes. The lenient decoding already turned a negative or
/// non-finite value into `None`; the cast saturates, so no size panics.
pub(crate) fn mb_to_bytes(size_mb: Option<f64>) -> Option<u64> {
    size_mb
        .filter(|mb| mb.is_finite() && *mb >= 0.0)
        .map(|mb| (mb * BYTES_PER_MB).round() as u64)
}

impl From<Snapshot> for Item {
    fn from(s: Snapshot) -> Item {
        Item {
            id: s.id,
            server_id: s.server.id,
            server_name: s.server.name,
            label: s.name,
            status: s.status,
            created_at: s.created_at,
            size_bytes: mb_to_bytes(s.size_mb),
        }
    }
}

impl From<Backup> for Item {
    fn from(b: Backup) -> Item {
        Item {
            id: b.id,
            server_id: b.server.id,
            server_name: b.server.name,
            label: b.description.unwrap_or_default(),
            status: b.status,
            created_at: b.created_at,
            size_bytes: mb_to_bytes(b.size_mb),
        }
    }
}

/// Lists items of `kind`: only `servers[0]`'s when exactly one server is
/// wanted (one short list), otherwise the whole account's (one list for all).
/// Automatic backups are left out: they do not count toward the manual cap
/// and are never ours.
pub(crate) async fn fetch(
    client: &Client,
    kind: Kind,
    servers: &[u64],
) -> Result<Vec<Item>, ApiError> {
    fetch_where(client, kind, servers, None).await
}

/// Which items to keep, by (server id, item id, label); `None` keeps all.
type KeepItem = Option<Arc<dyn Fn(u64, u64, &str) -> bool + Send + Sync>>;

/// Like [`fetch`], keeping only the items `keep` accepts, page by page.
async fn fetch_where(
    client: &Client,
    kind: Kind,
    servers: &[u64],
    keep: KeepItem,
) -> Result<Vec<Item>, ApiError> {
    let filter = match servers {
        [one] => Some(*one),
        _ => None,
    };
    Ok(match kind {
        Kind::Snapshot => {
            let keep: Keep<Snapshot> = keep.map(|k| {
                Arc::new(move |s: &Snapshot| k(s.server.id, s.id, &s.name))
                    as Arc<dyn Fn(&Snapshot) -> bool + Send + Sync>
            });
            client
                .list_snapshots_where(filter, keep)
                .await?
                .into_iter()
                .map(Item::from)
                .collect()
        }
        Kind::Backup => client
            .list_backups_where(
                filter,
                Some(BackupType::Manual),
                keep.map(|k| {
                    Arc::new(move |b: &Backup| {
                        k(b.server.id, b.id, b.description.as_deref().unwrap_or(""))
                    }) as Arc<dyn Fn(&Backup) -> bool + Send + Sync>
                }),
            )
            .await?
            .into_iter()
            .filter(|b| b.backup_type == BackupType::Manual)
            .map(Item::from)
            .collect(),
    })
}

/// Splits a listing by server, in the listing's order. Each server's list
/// is allocated at its size: a fleet pass keeps them until each server's
/// jobs end, and grown one push at a time most would hold room for twice
/// their items (BENCHMARKS.md, "Memory").
pub(crate) fn by_server(items: Vec<Item>) -> HashMap<u64, Vec<Item>> {
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for item in &items {
        *counts.entry(item.server_id).or_default() += 1;
    }
    let mut out: HashMap<u64, Vec<Item>> = counts
        .into_iter()
        .map(|(server, n)| (server, Vec::with_capacity(n)))
        .collect();
    for item in items {
        out.entry(item.server_id).or_default().push(item);
    }
    out
}

/// Why waiting for an item ended without `completed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WaitError {
    #[error("ended {0:?} instead of completed")]
    Failed(String),
    #[error("disappeared from the provider's list while we waited")]
    Vanished,
    #[error("still not completed after {0:?} (wait_timeout)")]
    TimedOut(Duration),
}

/// How long an item must be missing from lists (and for at least three
/// listings in a row) before it counts as gone: lists lag behind creates.
const LIST_LAG_ALLOWANCE: Duration = Duration::from_secs(60);

/// What a waiter looks for on a server.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Want {
    /// An item we know by id (waiting for it to complete).
    Id(u64),
    /// An item we may have created but never heard back about.
    Label(String),
}

impl Want {
    fn matches(&self, id: u64, label: &str) -> bool {
        match self {
            Want::Id(want) => *want == id,
            Want::Label(want) => want == label,
        }
    }
}

/// One published listing: the items someone waits for, sorted by id (each
/// id once: listings de-duplicate), or why listing failed. A sorted vector,
/// not a map: it is the listing's own allocation, sorted in place, where a
/// map by id was a second copy of thousands of items while it was built.
type Listing = Arc<Polled>;

/// One poll: the items it kept, and when its listing started (a listing
/// that started before an item was made cannot show it).
struct Polled {
    started: tokio::time::Instant,
    items: Result<Vec<Item>, String>,
}

/// Shared completion watcher: one list per interval serves every waiter.
pub(crate) struct Poller {
    client: Client,
    kind: Kind,
    interval: Duration,
    /// Longest a listing waits for queued creates and deletes to drain.
    max_defer: Duration,
    /// Server → what is waited for on it (one entry per waiter).
    waiting: Mutex<BTreeMap<u64, Vec<Want>>>,
    wake: Notify,
    tx: watch::Sender<Listing>,
}

impl Poller {
    /// Starts the polling task; it stops when the returned handle is dropped.
    /// It lists at most once per `interval` while anyone waits, and, while
    /// creates and deletes queue for the API, defers the listing until the
    /// queue drains, for at most `max_defer`.
    pub(crate) fn start(
        client: Client,
        kind: Kind,
        interval: Duration,
        max_defer: Duration,
    ) -> PollerHandle {
        let (tx, _) = watch::channel(Arc::new(Polled {
            started: tokio::time::Instant::now(),
            items: Ok(Vec::new()),
        }));
        let poller = Arc::new(Poller {
            client,
            kind,
            interval,
            max_defer,
            waiting: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
            tx,
        });
        let task = tokio::spawn(Arc::clone(&poller).drive());
        PollerHandle { poller, task }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Vec<Want>>> {
        // The map stays consistent whatever panicked while holding it.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn drive(self: Arc<Self>) {
        loop {
            loop {
                let notified = self.wake.notified();
                if !self.waiting().is_empty() {
                    break;
                }
                notified.await;
            }
            tokio::time::sleep(self.interval).await;
            // Queued creates and deletes will take the whole request budget
            // for a while, and a completion seen now could not be acted on
            // before them (its deletes would queue behind): a listing now
            // costs a fleet's worth of pages and gains nothing. Wait for the
            // queue to drain, but never so long that waits time out.
            let _ = tokio::time::timeout(self.max_defer, self.client.drained()).await;
            let servers: Vec<u64> = self.waiting().keys().copied().collect();
            if servers.is_empty() {
                continue;
            }
            // Only what is waited for (also by waiters that come while the
            // listing runs), kept page by page: a poll never holds a fleet's
            // whole listing, only the items someone waits for.
            let me = Arc::clone(&self);
            let keep: KeepItem = Some(Arc::new(move |server_id, id, label: &str| {
                me.is_waited(server_id, id, label)
            }));
            let started = tokio::time::Instant::now();
            let listing = match fetch_where(&self.client, self.kind, &servers, keep).await {
                Ok(mut items) => {
                    items.sort_unstable_by_key(|i| i.id);
                    items.shrink_to_fit();
                    Ok(items)
                }
                Err(e) => {
                    warn!(kind = self.kind.as_str(), error = %e, "listing while waiting for completion failed; will try again");
                    Err(e.to_string())
                }
            };
            self.tx.send_replace(Arc::new(Polled {
                started,
                items: listing,
            }));
        }
    }

    fn is_waited(&self, server_id: u64, id: u64, label: &str) -> bool {
        self.waiting()
            .get(&server_id)
            .is_some_and(|wants| wants.iter().any(|w| w.matches(id, label)))
    }

    /// Waits until item `id` on `server_id` is `completed`, for at most
    /// `timeout`. A status nobody documented is waited out like
    /// `in_progress`: it is neither done nor failed.
    pub(crate) async fn wait_for(
        &self,
        server_id: u64,
        id: u64,
        timeout: Duration,
    ) -> Result<Option<u64>, WaitError> {
        let mut rx = self.tx.subscribe();
        rx.mark_unchanged();
        let _registration = Registration::new(self, server_id, Want::Id(id));
        let allowance = LIST_LAG_ALLOWANCE.min(timeout);
        let waited = async {
            let mut missing_since: Option<(tokio::time::Instant, u32)> = None;
            loop {
                if rx.changed().await.is_err() {
                    return Err(WaitError::Vanished);
                }
                let listing = rx.borrow_and_update().clone();
                let Ok(items) = listing.items.as_ref() else {
                    continue;
                };
                let item = items
                    .binary_search_by_key(&id, |i| i.id)
                    .ok()
                    .map(|at| &items[at]);
                match item.filter(|i| i.server_id == server_id) {
                    Some(item) => {
                        missing_since = None;
                        match &item.status {
                            Status::Completed => return Ok(item.size_bytes),
                            Status::Failed => {
                                return Err(WaitError::Failed(item.status.as_str().to_owned()));
                            }
                            Status::InProgress | Status::Other(_) => {}
                        }
                    }
                    // A just-created item may lag in a list: gone only when
                    // missing for a while and for several listings in a row.
                    None => {
                        let (since, misses) =
                            missing_since.get_or_insert((tokio::time::Instant::now(), 0));
                        *misses += 1;
                        if *misses >= 3 && since.elapsed() >= allowance {
                            return Err(WaitError::Vanished);
                        }
                    }
                }
            }
        };
        tokio::time::timeout(timeout, waited)
            .await
            .unwrap_or(Err(WaitError::TimedOut(timeout)))
    }

    /// Looks for an item labelled `label` on `server_id` in the listings the
    /// poller makes anyway: a create whose answer was lost may have landed,
    /// and lists may show it only `lag` later (`api.list_lag`). `None` once
    /// a listing that started `lag` after this call came back without it —
    /// measured by listings, not the clock alone, so a poll deferred behind
    /// a fleet's queued work never makes a landed create look absent — or
    /// when no such listing came within `give_up`.
    pub(crate) async fn find(
        &self,
        server_id: u64,
        label: &str,
        lag: Duration,
        give_up: Duration,
    ) -> Option<Item> {
        let mut rx = self.tx.subscribe();
        rx.mark_unchanged();
        let _registration = Registration::new(self, server_id, Want::Label(label.to_owned()));
        let conclusive_from = tokio::time::Instant::now() + lag;
        let found = async {
            loop {
                if rx.changed().await.is_err() {
                    return None;
                }
                let listing = rx.borrow_and_update().clone();
                if let Ok(items) = listing.items.as_ref() {
                    // Of several (an old duplicate), the lowest id: the one
                    // every instance keeps.
                    if let Some(item) = items
                        .iter()
                        .filter(|i| i.server_id == server_id && i.label == label)
                        .min_by_key(|i| i.id)
                    {
                        return Some(item.clone());
                    }
                    if listing.started >= conclusive_from {
                        return None;
                    }
                }
            }
        };
        tokio::time::timeout(give_up.max(lag), found)
            .await
            .ok()
            .flatten()
    }
}

/// Keeps a server and a want in the poller's list while someone waits on it.
struct Registration<'a> {
    poller: &'a Poller,
    server_id: u64,
    want: Want,
}

impl<'a> Registration<'a> {
    fn new(poller: &'a Poller, server_id: u64, want: Want) -> Self {
        poller
            .waiting()
            .entry(server_id)
            .or_default()
            .push(want.clone());
        poller.wake.notify_one();
        Registration {
            poller,
            server_id,
            want,
        }
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut waiting = self.poller.waiting();
        if let Some(wants) = waiting.get_mut(&self.server_id) {
            if let Some(at) = wants.iter().position(|w| *w == self.want) {
                wants.swap_remove(at);
            }
            if wants.is_empty() {
                waiting.remove(&self.server_id);
            }
        }
    }
}

/// Owns the polling task.
pub(crate) struct PollerHandle {
    poller: Arc<Poller>,
    task: tokio::task::JoinHandle<()>,
}

impl PollerHandle {
    pub(crate) fn poller(&self) -> &Arc<Poller> {
        &self.poller
    }
}

impl Drop for PollerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
