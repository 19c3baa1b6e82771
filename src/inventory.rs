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
use crate::config::Kind;

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

/// Which items to keep, by (server id, item id); `None` keeps all.
type KeepItem = Option<Arc<dyn Fn(u64, u64) -> bool + Send + Sync>>;

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
                Arc::new(move |s: &Snapshot| k(s.server.id, s.id))
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
                    Arc::new(move |b: &Backup| k(b.server.id, b.id))
                        as Arc<dyn Fn(&Backup) -> bool + Send + Sync>
                }),
            )
            .await?
            .into_iter()
            .filter(|b| b.backup_type == BackupType::Manual)
            .map(Item::from)
            .collect(),
    })
}

/// Splits a listing by server.
pub(crate) fn by_server(items: Vec<Item>) -> HashMap<u64, Vec<Item>> {
    let mut out: HashMap<u64, Vec<Item>> = HashMap::new();
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

/// One published listing: item id → status (only the items someone waits
/// for), or why listing failed.
type Listing = Arc<Result<HashMap<u64, Status>, String>>;

/// Shared completion watcher: one list per interval serves every waiter.
pub(crate) struct Poller {
    client: Client,
    kind: Kind,
    interval: Duration,
    /// Longest a listing waits for queued creates and deletes to drain.
    max_defer: Duration,
    /// Server → the ids waited for on it (one entry per waiter).
    waiting: Mutex<BTreeMap<u64, Vec<u64>>>,
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
        let (tx, _) = watch::channel(Arc::new(Ok(HashMap::new())));
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

    async fn drive(self: Arc<Self>) {
        loop {
            loop {
                let notified = self.wake.notified();
                if !self.waiting.lock().expect("poller lock").is_empty() {
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
            let servers: Vec<u64> = self
                .waiting
                .lock()
                .expect("poller lock")
                .keys()
                .copied()
                .collect();
            if servers.is_empty() {
                continue;
            }
            // Only what is waited for (also by waiters that come while the
            // listing runs), kept page by page: a poll never holds a fleet's
            // whole listing, only the items someone waits for.
            let me = Arc::clone(&self);
            let keep: KeepItem = Some(Arc::new(move |server_id, id| me.is_waited(server_id, id)));
            let listing = match fetch_where(&self.client, self.kind, &servers, keep).await {
                Ok(items) => Ok(items.into_iter().map(|i| (i.id, i.status)).collect()),
                Err(e) => {
                    warn!(kind = self.kind.as_str(), error = %e, "listing while waiting for completion failed; will try again");
                    Err(e.to_string())
                }
            };
            self.tx.send_replace(Arc::new(listing));
        }
    }

    fn is_waited(&self, server_id: u64, id: u64) -> bool {
        self.waiting
            .lock()
            .expect("poller lock")
            .get(&server_id)
            .is_some_and(|ids| ids.contains(&id))
    }

    /// Waits until item `id` on `server_id` is `completed`, for at most `timeout`.
    pub(crate) async fn wait_for(
        &self,
        server_id: u64,
        id: u64,
        timeout: Duration,
    ) -> Result<(), WaitError> {
        let mut rx = self.tx.subscribe();
        rx.mark_unchanged();
        let _registration = Registration::new(self, server_id, id);
        let mut misses = 0;
        let waited = async {
            loop {
                if rx.changed().await.is_err() {
                    return Err(WaitError::Vanished);
                }
                let listing = rx.borrow_and_update().clone();
                let Ok(items) = listing.as_ref() else {
                    continue;
                };
                match items.get(&id) {
                    Some(status) => {
                        misses = 0;
                        match status {
                            Status::Completed => return Ok(()),
                            Status::Failed => {
                                return Err(WaitError::Failed(status.as_str().to_owned()));
                            }
                            Status::InProgress | Status::Other(_) => {}
                        }
                    }
                    // A just-created item may lag in a list; three misses in a row is gone.
                    None => {
                        misses += 1;
                        if misses >= 3 {
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
}

/// Keeps a server and an item in the poller's list while someone waits on it.
struct Registration<'a> {
    poller: &'a Poller,
    server_id: u64,
    id: u64,
}

impl<'a> Registration<'a> {
    fn new(poller: &'a Poller, server_id: u64, id: u64) -> Self {
        poller
            .waiting
            .lock()
            .expect("poller lock")
            .entry(server_id)
            .or_default()
            .push(id);
        poller.wake.notify_one();
        Registration {
            poller,
            server_id,
            id,
        }
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut waiting = self.poller.waiting.lock().expect("poller lock");
        if let Some(ids) = waiting.get_mut(&self.server_id) {
            if let Some(at) = ids.iter().position(|&i| i == self.id) {
                ids.swap_remove(at);
            }
            if ids.is_empty() {
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
