//! The simulator's handle: start it on a port, steer it, inspect it, stop it.
//!
//! Tests, `snapkeep demo` and `snapkeep sim` all hold a [`Simulator`]; it owns
//! nothing but an `Arc` to the shared state, so clones can be handed to
//! helper tasks, and everything a test wants to know (state, request log,
//! high-water marks) is read in-process rather than over HTTP. A test can
//! also act as another writer (the user, another tool, a second snapkeep)
//! on the same servers, through the same state rules but without faults or
//! the request log.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::conn::{ConnHandle, KillableListener};
use super::faults::{Fate, Faults, ScriptCursor};
use super::model::{SimBackup, SimServer, SimSnapshot, SimStatus};
use super::record::{RecordedRequest, RequestLog};
use super::routes;
use super::seed::Seed;
use super::shared::{Inner, Shared};
use super::state::{Refusal, World};

/// Everything the simulator needs to start.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The primary account's bearer token (more accounts:
    /// [`Simulator::start_with_accounts`]).
    pub token: String,
    /// How long creates stay `in_progress` and restores keep a server `restoring`.
    pub complete_after: Duration,
    /// What exists at start.
    pub seed: Seed,
    /// Faults injected from the start (change them later with
    /// [`Simulator::set_faults`]).
    pub faults: Faults,
    /// Seed of the RNG that decides which requests get a fault.
    pub rng_seed: u64,
}

impl Default for SimConfig {
    /// Token `sim-token`, 2 s to complete, the docs' example data, no faults.
    fn default() -> Self {
        SimConfig {
            token: "sim-token".to_owned(),
            complete_after: Duration::from_secs(2),
            seed: Seed::docs_example(),
            faults: Faults::none(),
            rng_seed: 0x5eed,
        }
    }
}

/// Another account the simulator serves besides the primary one
/// (`SimConfig::token` and `seed`, named `default`): its own token, its own
/// world (servers and items, ids of its own). Two accounts may have a
/// server with the same id; each token sees only its own.
#[derive(Clone, Debug)]
pub struct SimAccount {
    /// Its name: the request log's `account`, [`Simulator::account`].
    pub name: String,
    /// The bearer token that reaches it.
    pub token: String,
    /// What exists in it at start.
    pub seed: Seed,
}

/// The primary account's name.
pub const PRIMARY_ACCOUNT: &str = "default";

/// A running simulator. Cheap to clone; every clone steers the same server.
///
/// The server runs in a spawned task until [`Simulator::shutdown`] (or until
/// the tokio runtime ends), even if every handle is dropped.
#[derive(Clone)]
pub struct Simulator {
    shared: Arc<Shared>,
    control: Arc<Control>,
    /// The account this handle inspects and steers (its world): 0, the
    /// primary, unless it came from [`Simulator::account`].
    account: usize,
}

struct Control {
    stop: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Simulator {
    /// Binds `listen` (`127.0.0.1:0` picks a free port) and serves the API
    /// from a spawned task. Fails if the port cannot be bound or the seed is
    /// inconsistent (`InvalidInput`, with the seed's message).
    pub async fn start(listen: SocketAddr, config: SimConfig) -> io::Result<Simulator> {
        Simulator::start_with_accounts(listen, config, Vec::new()).await
    }

    /// [`Simulator::start`], serving `more` accounts besides the primary
    /// one, each its own world. Fails (`InvalidInput`) on a seed that is
    /// inconsistent, or two accounts with one name or one token.
    pub async fn start_with_accounts(
        listen: SocketAddr,
        config: SimConfig,
        more: Vec<SimAccount>,
    ) -> io::Result<Simulator> {
        let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
        let mut accounts = vec![(PRIMARY_ACCOUNT.to_owned(), config.token.clone())];
        let mut worlds = vec![
            World::new(&config.seed, Utc::now(), config.complete_after)
                .map_err(|e| invalid(e.to_string()))?,
        ];
        for a in more {
            if accounts.iter().any(|(n, t)| *n == a.name || *t == a.token) {
                return Err(invalid(format!(
                    "simulator account {:?}: its name or token is another account's",
                    a.name
                )));
            }
            let world = World::new(&a.seed, Utc::now(), config.complete_after)
                .map_err(|e| invalid(format!("account {}: {e}", a.name)))?;
            accounts.push((a.name, a.token));
            worlds.push(world);
        }
        warn_unknown_keys(&config.faults);
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(
            accounts,
            addr,
            Inner {
                worlds,
                active: 0,
                faults: config.faults,
                scripts: ScriptCursor::default(),
                rng: fastrand::Rng::with_seed(config.rng_seed),
                log: RequestLog::new(),
            },
        ));
        let app =
            routes::router(Arc::clone(&shared)).into_make_service_with_connect_info::<ConnHandle>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stopped = async move {
                if stop_rx.await.is_err() {
                    // Every handle dropped without shutdown: keep serving.
                    std::future::pending::<()>().await;
                }
            };
            if let Err(e) = axum::serve(KillableListener(listener), app)
                .with_graceful_shutdown(stopped)
                .await
            {
                tracing::error!(%addr, error = %e, "VPS.org simulator stopped with an error");
            }
        });
        tracing::info!(%addr, "VPS.org simulator listening");
        Ok(Simulator {
            shared,
            control: Arc::new(Control {
                stop: Mutex::new(Some(stop_tx)),
                task: Mutex::new(Some(task)),
            }),
            account: 0,
        })
    }

    /// A handle on account `name` (same server, same faults and request
    /// log): what it inspects and steers is that account's world, its
    /// [`Simulator::token`] that account's. `None` for an unknown name.
    pub fn account(&self, name: &str) -> Option<Simulator> {
        let account = self.shared.accounts.iter().position(|(n, _)| n == name)?;
        Some(Simulator {
            account,
            ..self.clone()
        })
    }

    /// The names of the accounts served, the primary first.
    pub fn account_names(&self) -> Vec<String> {
        self.shared
            .accounts
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// This handle's account's name.
    pub fn account_name(&self) -> &str {
        &self.shared.accounts[self.account].0
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The API base, e.g. `http://127.0.0.1:41234/api/v1` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.shared.addr)
    }

    /// The bearer token of this handle's account (the primary's unless it
    /// came from [`Simulator::account`]).
    pub fn token(&self) -> &str {
        &self.shared.accounts[self.account].1
    }

    /// Every recorded API request, oldest first (at most the record limit).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().log.snapshot()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.lock().log.clear();
    }

    /// Keeps at most `limit` requests (default
    /// [`DEFAULT_RECORD_LIMIT`](super::DEFAULT_RECORD_LIMIT)), dropping the
    /// oldest; 0 records nothing.
    pub fn set_record_limit(&self, limit: usize) {
        self.shared.lock().log.set_limit(limit);
    }

    /// How many requests were dropped from the log to respect its limit.
    pub fn requests_dropped(&self) -> u64 {
        self.shared.lock().log.dropped()
    }

    /// Replaces every fault; applies to requests that arrive from now on
    /// (scripts count requests from now on: see [`Faults::scripts`]).
    pub fn set_faults(&self, faults: Faults) {
        warn_unknown_keys(&faults);
        self.shared.lock().set_faults(faults);
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.shared.lock().faults.clone()
    }

    /// Servers and whether they are restoring, by id.
    pub fn servers(&self) -> Vec<SimServer> {
        self.shared.lock().worlds[self.account].servers()
    }

    /// Snapshots (of one server, or all), by id, statuses as of now: the
    /// real state, however far lists lag behind it (`list_lag`).
    pub fn snapshots(&self, server_id: Option<u64>) -> Vec<SimSnapshot> {
        let inner = self.shared.lock();
        inner.worlds[self.account]
            .snapshots(server_id)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Backups (of one server, or all), by id, statuses as of now: the real
    /// state, however far lists lag behind it (`list_lag`).
    pub fn backups(&self, server_id: Option<u64>) -> Vec<SimBackup> {
        let inner = self.shared.lock();
        inner.worlds[self.account]
            .backups(server_id, None)
            .into_iter()
            .cloned()
            .collect()
    }

    /// The most snapshots `server_id` ever had at once (seed included).
    pub fn max_snapshots_seen(&self, server_id: u64) -> usize {
        self.shared.lock().worlds[self.account].max_snapshots_seen(server_id)
    }

    /// The most manual backups `server_id` ever had at once (seed included).
    pub fn max_manual_backups_seen(&self, server_id: u64) -> usize {
        self.shared.lock().worlds[self.account].max_manual_backups_seen(server_id)
    }

    /// Forces a snapshot's status (e.g. to `failed`); `false` if no such id.
    /// A forced status is final: the item no longer completes by itself.
    pub fn set_snapshot_status(&self, id: u64, status: SimStatus) -> bool {
        self.shared.lock().worlds[self.account].set_snapshot_status(id, status)
    }

    /// Forces a backup's status; `false` if no such id.
    pub fn set_backup_status(&self, id: u64, status: SimStatus) -> bool {
        self.shared.lock().worlds[self.account].set_backup_status(id, status)
    }

    /// Creates a snapshot as another writer would (the user in the panel,
    /// another tool, a second snapkeep): same rules as `POST /snapshots/`
    /// (404 for an unknown server, 400 at the cap, next free id, lagging
    /// lists hide it for `list_lag`) but no faults and no request log, and
    /// `name` is not validated. `status` `InProgress` completes after
    /// `complete_after` like any create (`stuck_in_progress`/`fail_creates`
    /// do not apply); any other status is set at once and kept for good.
    /// Returns the new id.
    pub fn create_snapshot_as_other(
        &self,
        server_id: u64,
        name: impl Into<String>,
        status: SimStatus,
    ) -> Result<u64, SimRefusal> {
        let mut inner = self.shared.lock();
        let created = inner.worlds[self.account].create_snapshot(
            server_id,
            name.into(),
            String::new(),
            Fate::Complete,
            Instant::now(),
            Utc::now(),
        )?;
        if status != SimStatus::InProgress {
            inner.worlds[self.account].set_snapshot_status(created.id, status);
        }
        Ok(created.id)
    }

    /// Creates a manual backup as another writer would (see
    /// [`Simulator::create_snapshot_as_other`]; the cap is the manual-backup
    /// one). Returns the new id.
    pub fn create_backup_as_other(
        &self,
        server_id: u64,
        description: impl Into<String>,
        status: SimStatus,
    ) -> Result<u64, SimRefusal> {
        let mut inner = self.shared.lock();
        let created = inner.worlds[self.account].create_backup(
            server_id,
            description.into(),
            Fate::Complete,
            Instant::now(),
            Utc::now(),
        )?;
        if status != SimStatus::InProgress {
            inner.worlds[self.account].set_backup_status(created.id, status);
        }
        Ok(created.id)
    }

    /// Deletes a snapshot as another writer would: same effect as `DELETE
    /// /snapshots/{id}/` (lagging lists keep showing it for `list_lag`) but
    /// no faults and no request log. `false` if no such id.
    pub fn delete_snapshot_directly(&self, id: u64) -> bool {
        self.shared.lock().worlds[self.account]
            .delete_snapshot(id, Instant::now())
            .is_ok()
    }

    /// Deletes a backup (manual or automatic) as another writer would (see
    /// [`Simulator::delete_snapshot_directly`]). `false` if no such id.
    pub fn delete_backup_directly(&self, id: u64) -> bool {
        self.shared.lock().worlds[self.account]
            .delete_backup(id, Instant::now())
            .is_ok()
    }

    /// Stops accepting connections, lets requests in flight finish (up to
    /// 2 s), then stops the server task. Other clones become inert.
    pub async fn shutdown(self) {
        let stop = self
            .control
            .stop
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        let task = self
            .control
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut task) = task {
            let finished = tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_ok();
            if !finished {
                task.abort();
            }
        }
        tracing::info!(addr = %self.shared.addr, "VPS.org simulator stopped");
    }
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.shared.addr)
            .finish_non_exhaustive()
    }
}

/// Why a write as another writer was refused: what the API would have
/// answered (404 unknown server, 400 cap reached), so a test can tell a full
/// server from a typo.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status} {detail}")]
pub struct SimRefusal {
    /// The HTTP status the API would have sent.
    pub status: u16,
    /// DRF's `detail` text.
    pub detail: String,
}

impl From<Refusal> for SimRefusal {
    fn from(r: Refusal) -> Self {
        SimRefusal {
            status: r.status.as_u16(),
            detail: r.detail,
        }
    }
}

fn warn_unknown_keys(faults: &Faults) {
    for key in faults.unknown_endpoint_keys() {
        tracing::warn!(key, "simulator fault key names no endpoint and is ignored");
    }
}
