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

use crate::api::{ApiError, Backup, BackupType, Client, Snapshot, Status};
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
    let filter = match servers {
        [one] => Some(*one),
        _ => None,
    };
    Ok(match kind {
        Kind::Snapshot => client
            .list_snapshots(filter)
            .await?
            .into_iter()
            .map(Item::from)
            .collect(),
        Kind::Backup => client
            .list_backups(filter, Some(BackupType::Manual))
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

/// One published listing: item id → item, or why listing failed.
type Listing = Arc<Result<HashMap<u64, Item>, String>>;

/// Shared completion watcher: one list per interval serves every waiter.
pub(crate) struct Poller {
    client: Client,
    kind: Kind,
    interval: Duration,
    waiting: Mutex<BTreeMap<u64, usize>>,
    wake: Notify,
    tx: watch::Sender<Listing>,
}

impl Poller {
    /// Starts the polling task; it stops when the returned handle is dropped.
    pub(crate) fn start(client: Client, kind: Kind, interval: Duration) -> PollerHandle {
        let (tx, _) = watch::channel(Arc::new(Ok(HashMap::new())));
        let poller = Arc::new(Poller {
            client,
            kind,
            interval,
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
            let listing = match fetch(&self.client, self.kind, &servers).await {
                Ok(items) => Ok(items.into_iter().map(|i| (i.id, i)).collect()),
                Err(e) => {
                    warn!(kind = self.kind.as_str(), error = %e, "listing while waiting for completion failed; will try again");
                    Err(e.to_string())
                }
            };
            self.tx.send_replace(Arc::new(listing));
        }
    }

    /// Waits until item `id` on `server_id` is `completed`, for at most `timeout`.
    pub(crate) async fn wait_for(
        &self,
        server_id: u64,
        id: u64,
        timeout: Duration,
    ) -> Result<Item, WaitError> {
        let mut rx = self.tx.subscribe();
        rx.mark_unchanged();
        let _registration = Registration::new(self, server_id);
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
                    Some(item) => {
                        misses = 0;
                        match &item.status {
                            Status::Completed => return Ok(item.clone()),
                            Status::Failed => {
                                return Err(WaitError::Failed(item.status.as_str().to_owned()));
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

/// Keeps a server in the poller's list while someone waits on it.
struct Registration<'a> {
    poller: &'a Poller,
    server_id: u64,
}

impl<'a> Registration<'a> {
    fn new(poller: &'a Poller, server_id: u64) -> Self {
        *poller
            .waiting
            .lock()
            .expect("poller lock")
            .entry(server_id)
            .or_default() += 1;
        poller.wake.notify_one();
        Registration { poller, server_id }
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut waiting = self.poller.waiting.lock().expect("poller lock");
        if let Some(n) = waiting.get_mut(&self.server_id) {
            *n -= 1;
            if *n == 0 {
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
