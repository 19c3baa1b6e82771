//! The simulated provider's state and its rules: caps, lifecycles, restores.
//!
//! Everything here is synchronous and takes the time as an argument, so the
//! rules (5 snapshots and 10 manual backups per server, `in_progress` turning
//! `completed` after `complete_after`, a restoring server refusing another
//! restore) are decided in one place, under one lock, without I/O. Lifecycles
//! are settled lazily: each request first moves every item whose time has
//! come, so no background task is needed.
//!
//! Lists may lag behind this real state (`Faults::list_lag`): every item
//! remembers when it was created, and deleted items are kept aside with the
//! time of their deletion, so a list can be served as of "a while ago" while
//! caps, deletes and restores keep deciding on the real state.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;

use super::faults::Fate;
use super::model::{BackupType, SimBackup, SimServer, SimSnapshot, SimStatus};
use super::seed::{Seed, SeedError, whole_seconds};

/// At most this many snapshots per server, whatever their status.
pub const SNAPSHOT_CAP: usize = 5;
/// At most this many manual backups per server, whatever their status.
pub const MANUAL_BACKUP_CAP: usize = 10;
/// Automatic backups the seed gives no `expires_at` expire this long after creation.
const AUTOMATIC_RETENTION: TimeDelta = TimeDelta::days(31);
/// First ids handed out when the seed has none of its own.
const FIRST_SNAPSHOT_ID: u64 = 1001;
const FIRST_BACKUP_ID: u64 = 5001;

/// An API error answer: status plus DRF's `{"detail": ...}` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) detail: String,
}

impl Refusal {
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            detail: detail.into(),
        }
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Refusal {
            status: StatusCode::NOT_FOUND,
            detail: detail.into(),
        }
    }
}

struct Server {
    name: String,
    restoring_until: Option<Instant>,
}

/// An item plus the transition still ahead of it, if any.
struct Tracked<T> {
    value: T,
    /// When it leaves `in_progress`, and into what.
    due: Option<(Instant, Fate)>,
    /// When it was created while running; `None` for seeded items, which
    /// lagging lists never hide.
    born: Option<Instant>,
}

/// Whether an item born at `born` shows in a list lagging `lag` at `now`.
fn born_visible(born: Option<Instant>, now: Instant, lag: Duration) -> bool {
    born.is_none_or(|born| now.saturating_duration_since(born) >= lag)
}

/// Whether an item deleted at `gone` still shows in a list lagging `lag` at `now`.
fn gone_visible(gone: Instant, now: Instant, lag: Duration) -> bool {
    now.saturating_duration_since(gone) < lag
}

/// The whole simulated provider.
pub(crate) struct World {
    complete_after: Duration,
    servers: BTreeMap<u64, Server>,
    snapshots: BTreeMap<u64, Tracked<SimSnapshot>>,
    backups: BTreeMap<u64, Tracked<SimBackup>>,
    snapshots_by_server: HashMap<u64, BTreeSet<u64>>,
    backups_by_server: HashMap<u64, BTreeSet<u64>>,
    next_snapshot_id: u64,
    next_backup_id: u64,
    /// Items with a transition ahead, and servers being restored: the only
    /// things `settle` has to look at.
    pending_snapshots: BTreeSet<u64>,
    pending_backups: BTreeSet<u64>,
    restoring: BTreeSet<u64>,
    max_snapshots: HashMap<u64, usize>,
    max_manual_backups: HashMap<u64, usize>,
    /// Deleted items with the time of their deletion, oldest first, for
    /// lagging lists; forgotten once older than the lag in force.
    gone_snapshots: VecDeque<(Instant, SimSnapshot)>,
    gone_backups: VecDeque<(Instant, SimBackup)>,
}

impl World {
    /// Builds the world from a seed; `started` anchors seed ages.
    pub(crate) fn new(
        seed: &Seed,
        started: DateTime<Utc>,
        complete_after: Duration,
    ) -> Result<World, SeedError> {
        seed.check("given in code")?;
        let mut world = World {
            complete_after,
            servers: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            backups: BTreeMap::new(),
            snapshots_by_server: HashMap::new(),
            backups_by_server: HashMap::new(),
            next_snapshot_id: seed
                .snapshots
                .iter()
                .filter_map(|s| s.id)
                .max()
                .map_or(FIRST_SNAPSHOT_ID, |m| m + 1),
            next_backup_id: seed
                .backups
                .iter()
                .filter_map(|b| b.id)
                .max()
                .map_or(FIRST_BACKUP_ID, |m| m + 1),
            pending_snapshots: BTreeSet::new(),
            pending_backups: BTreeSet::new(),
            restoring: BTreeSet::new(),
            max_snapshots: HashMap::new(),
            max_manual_backups: HashMap::new(),
            gone_snapshots: VecDeque::new(),
            gone_backups: VecDeque::new(),
        };
        for s in &seed.servers {
            world.servers.insert(
                s.id,
                Server {
                    name: s.name.clone(),
                    restoring_until: None,
                },
            );
        }
        for s in &seed.snapshots {
            let id = s.id.unwrap_or_else(|| world.take_snapshot_id());
            let size_mb = s
                .size_mb
                .or_else(|| (s.status == SimStatus::Completed).then(|| made_up_size(id)));
            let value = SimSnapshot {
                id,
                server_id: s.server_id,
                server_name: world.servers[&s.server_id].name.clone(),
                name: s.name.clone(),
                status: s.status.clone(),
                size_mb,
                created_at: s.created.resolve(started),
                description: s.description.clone(),
            };
            world.insert_snapshot(value, None, None);
        }
        for b in &seed.backups {
            let id = b.id.unwrap_or_else(|| world.take_backup_id());
            let created_at = b.created.resolve(started);
            let size_mb = b
                .size_mb
                .or_else(|| (b.status == SimStatus::Completed).then(|| made_up_size(id)));
            let expires_at = b.expires_at.or_else(|| match b.backup_type {
                BackupType::Manual => None,
                BackupType::Automatic => created_at.checked_add_signed(AUTOMATIC_RETENTION),
            });
            let value = SimBackup {
                id,
                server_id: b.server_id,
                server_name: world.servers[&b.server_id].name.clone(),
                backup_type: b.backup_type,
                status: b.status.clone(),
                size_mb,
                created_at,
                expires_at,
                description: b.description.clone(),
            };
            world.insert_backup(value, None, None);
        }
        Ok(world)
    }

    fn take_snapshot_id(&mut self) -> u64 {
        let id = self.next_snapshot_id;
        self.next_snapshot_id += 1;
        id
    }

    fn take_backup_id(&mut self) -> u64 {
        let id = self.next_backup_id;
        self.next_backup_id += 1;
        id
    }

    fn insert_snapshot(
        &mut self,
        value: SimSnapshot,
        due: Option<(Instant, Fate)>,
        born: Option<Instant>,
    ) {
        let (id, server_id) = (value.id, value.server_id);
        if due.is_some() {
            self.pending_snapshots.insert(id);
        }
        self.snapshots.insert(id, Tracked { value, due, born });
        let on_server = self.snapshots_by_server.entry(server_id).or_default();
        on_server.insert(id);
        let count = on_server.len();
        let max = self.max_snapshots.entry(server_id).or_default();
        *max = (*max).max(count);
    }

    fn insert_backup(
        &mut self,
        value: SimBackup,
        due: Option<(Instant, Fate)>,
        born: Option<Instant>,
    ) {
        let (id, server_id) = (value.id, value.server_id);
        if due.is_some() {
            self.pending_backups.insert(id);
        }
        self.backups.insert(id, Tracked { value, due, born });
        self.backups_by_server
            .entry(server_id)
            .or_default()
            .insert(id);
        let count = self.manual_backups_on(server_id);
        let max = self.max_manual_backups.entry(server_id).or_default();
        *max = (*max).max(count);
    }

    fn snapshots_on(&self, server_id: u64) -> usize {
        self.snapshots_by_server
            .get(&server_id)
            .map_or(0, BTreeSet::len)
    }

    fn manual_backups_on(&self, server_id: u64) -> usize {
        self.backups_by_server.get(&server_id).map_or(0, |ids| {
            ids.iter()
                .filter(|id| self.backups[id].value.backup_type == BackupType::Manual)
                .count()
        })
    }

    /// Moves every item and server whose time has come to its next state.
    pub(crate) fn settle(&mut self, now: Instant) {
        let due_snapshots: Vec<u64> = self
            .pending_snapshots
            .iter()
            .copied()
            .filter(|id| self.snapshots[id].due.is_some_and(|(at, _)| at <= now))
            .collect();
        for id in due_snapshots {
            self.pending_snapshots.remove(&id);
            let item = self
                .snapshots
                .get_mut(&id)
                .expect("pending snapshot exists");
            if let Some((_, fate)) = item.due.take() {
                finish(&mut item.value.status, &mut item.value.size_mb, fate, id);
            }
        }
        let due_backups: Vec<u64> = self
            .pending_backups
            .iter()
            .copied()
            .filter(|id| self.backups[id].due.is_some_and(|(at, _)| at <= now))
            .collect();
        for id in due_backups {
            self.pending_backups.remove(&id);
            let item = self.backups.get_mut(&id).expect("pending backup exists");
            if let Some((_, fate)) = item.due.take() {
                finish(&mut item.value.status, &mut item.value.size_mb, fate, id);
            }
        }
        let done: Vec<u64> = self
            .restoring
            .iter()
            .copied()
            .filter(|id| {
                self.servers[id]
                    .restoring_until
                    .is_none_or(|until| until <= now)
            })
            .collect();
        for id in done {
            self.restoring.remove(&id);
            if let Some(server) = self.servers.get_mut(&id) {
                server.restoring_until = None;
            }
        }
    }

    pub(crate) fn has_server(&self, server_id: u64) -> bool {
        self.servers.contains_key(&server_id)
    }

    pub(crate) fn servers(&self) -> Vec<SimServer> {
        self.servers
            .iter()
            .map(|(id, s)| SimServer {
                id: *id,
                name: s.name.clone(),
                status: server_status(s).to_owned(),
            })
            .collect()
    }

    /// Snapshots, optionally of one server, by id.
    pub(crate) fn snapshots(&self, server_id: Option<u64>) -> Vec<&SimSnapshot> {
        match server_id {
            None => self.snapshots.values().map(|t| &t.value).collect(),
            Some(server_id) => self
                .snapshots_by_server
                .get(&server_id)
                .into_iter()
                .flatten()
                .map(|id| &self.snapshots[id].value)
                .collect(),
        }
    }

    /// Backups, optionally of one server and/or one type, by id.
    pub(crate) fn backups(
        &self,
        server_id: Option<u64>,
        backup_type: Option<BackupType>,
    ) -> Vec<&SimBackup> {
        let all: Vec<&SimBackup> = match server_id {
            None => self.backups.values().map(|t| &t.value).collect(),
            Some(server_id) => self
                .backups_by_server
                .get(&server_id)
                .into_iter()
                .flatten()
                .map(|id| &self.backups[id].value)
                .collect(),
        };
        all.into_iter()
            .filter(|b| backup_type.is_none_or(|t| b.backup_type == t))
            .collect()
    }

    /// Snapshots as a list lagging `lag` shows them at `now`: the real ones
    /// created at least `lag` ago, plus the ones deleted less than `lag` ago
    /// (as they were then). Ids are unique (ids are never reused); order is
    /// not meaningful.
    pub(crate) fn listed_snapshots(
        &self,
        server_id: Option<u64>,
        now: Instant,
        lag: Duration,
    ) -> Vec<&SimSnapshot> {
        if lag.is_zero() {
            return self.snapshots(server_id);
        }
        let live = self
            .snapshots(server_id)
            .into_iter()
            .filter(|s| born_visible(self.snapshots[&s.id].born, now, lag));
        let gone = self
            .gone_snapshots
            .iter()
            .filter(|(at, s)| {
                gone_visible(*at, now, lag) && server_id.is_none_or(|id| s.server_id == id)
            })
            .map(|(_, s)| s);
        live.chain(gone).collect()
    }

    /// Backups as a list lagging `lag` shows them at `now` (see
    /// [`World::listed_snapshots`]).
    pub(crate) fn listed_backups(
        &self,
        server_id: Option<u64>,
        backup_type: Option<BackupType>,
        now: Instant,
        lag: Duration,
    ) -> Vec<&SimBackup> {
        if lag.is_zero() {
            return self.backups(server_id, backup_type);
        }
        let live = self
            .backups(server_id, backup_type)
            .into_iter()
            .filter(|b| born_visible(self.backups[&b.id].born, now, lag));
        let gone = self
            .gone_backups
            .iter()
            .filter(|(at, b)| {
                gone_visible(*at, now, lag)
                    && server_id.is_none_or(|id| b.server_id == id)
                    && backup_type.is_none_or(|t| b.backup_type == t)
            })
            .map(|(_, b)| b);
        live.chain(gone).collect()
    }

    /// Drops deleted items a list lagging `lag` no longer shows at `now`.
    pub(crate) fn forget_deleted(&mut self, now: Instant, lag: Duration) {
        while self
            .gone_snapshots
            .front()
            .is_some_and(|(at, _)| !gone_visible(*at, now, lag))
        {
            self.gone_snapshots.pop_front();
        }
        while self
            .gone_backups
            .front()
            .is_some_and(|(at, _)| !gone_visible(*at, now, lag))
        {
            self.gone_backups.pop_front();
        }
    }

    pub(crate) fn snapshot_owner(&self, id: u64) -> Option<u64> {
        self.snapshots.get(&id).map(|t| t.value.server_id)
    }

    pub(crate) fn backup_owner(&self, id: u64) -> Option<u64> {
        self.backups.get(&id).map(|t| t.value.server_id)
    }

    fn server_or_404(&self, server_id: u64) -> Result<&Server, Refusal> {
        self.servers
            .get(&server_id)
            .ok_or_else(|| Refusal::not_found("Server not found."))
    }

    /// `POST /snapshots/` once the body is valid.
    pub(crate) fn create_snapshot(
        &mut self,
        server_id: u64,
        name: String,
        description: String,
        fate: Fate,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Result<SimSnapshot, Refusal> {
        let server_name = self.server_or_404(server_id)?.name.clone();
        if self.snapshots_on(server_id) >= SNAPSHOT_CAP {
            return Err(Refusal::bad_request(format!(
                "Snapshot limit reached ({SNAPSHOT_CAP} per server). \
                 Delete an existing snapshot first."
            )));
        }
        let value = SimSnapshot {
            id: self.take_snapshot_id(),
            server_id,
            server_name,
            name,
            status: SimStatus::InProgress,
            size_mb: None,
            created_at: whole_seconds(wall),
            description,
        };
        self.insert_snapshot(value.clone(), self.due(fate, now), Some(now));
        Ok(value)
    }

    /// `POST /backups/` once the body is valid.
    pub(crate) fn create_backup(
        &mut self,
        server_id: u64,
        description: String,
        fate: Fate,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Result<SimBackup, Refusal> {
        let server_name = self.server_or_404(server_id)?.name.clone();
        if self.manual_backups_on(server_id) >= MANUAL_BACKUP_CAP {
            return Err(Refusal::bad_request(format!(
                "Manual backup limit reached ({MANUAL_BACKUP_CAP} per server). \
                 Delete an existing manual backup first."
            )));
        }
        let value = SimBackup {
            id: self.take_backup_id(),
            server_id,
            server_name,
            backup_type: BackupType::Manual,
            status: SimStatus::InProgress,
            size_mb: None,
            created_at: whole_seconds(wall),
            expires_at: None,
            description,
        };
        self.insert_backup(value.clone(), self.due(fate, now), Some(now));
        Ok(value)
    }

    fn due(&self, fate: Fate, now: Instant) -> Option<(Instant, Fate)> {
        match fate {
            Fate::Stuck => None,
            Fate::Complete | Fate::Fail => Some((now + self.complete_after, fate)),
        }
    }

    /// `DELETE /snapshots/{id}/` at `now`: returns what was deleted.
    pub(crate) fn delete_snapshot(
        &mut self,
        id: u64,
        now: Instant,
    ) -> Result<SimSnapshot, Refusal> {
        let gone = self
            .snapshots
            .remove(&id)
            .ok_or_else(|| Refusal::not_found("Not found."))?
            .value;
        self.pending_snapshots.remove(&id);
        if let Some(ids) = self.snapshots_by_server.get_mut(&gone.server_id) {
            ids.remove(&id);
        }
        self.gone_snapshots.push_back((now, gone.clone()));
        Ok(gone)
    }

    /// `DELETE /backups/{id}/` at `now`: returns what was deleted. Automatic backups
    /// can be deleted too: the docs do not say the API refuses, and a test
    /// should see the client's mistake in the state rather than a 4xx.
    pub(crate) fn delete_backup(&mut self, id: u64, now: Instant) -> Result<SimBackup, Refusal> {
        let gone = self
            .backups
            .remove(&id)
            .ok_or_else(|| Refusal::not_found("Not found."))?
            .value;
        self.pending_backups.remove(&id);
        if let Some(ids) = self.backups_by_server.get_mut(&gone.server_id) {
            ids.remove(&id);
        }
        self.gone_backups.push_back((now, gone.clone()));
        Ok(gone)
    }

    /// `POST /snapshots/{id}/restore/`.
    pub(crate) fn restore_snapshot(
        &mut self,
        id: u64,
        now: Instant,
    ) -> Result<(SimSnapshot, SimServer), Refusal> {
        let snapshot = self
            .snapshots
            .get(&id)
            .ok_or_else(|| Refusal::not_found("Not found."))?
            .value
            .clone();
        if snapshot.status != SimStatus::Completed {
            return Err(Refusal::bad_request(format!(
                "Snapshot is not ready for restoration (status: {}).",
                snapshot.status
            )));
        }
        let server = self.start_restore(snapshot.server_id, now)?;
        Ok((snapshot, server))
    }

    /// `POST /servers/{id}/restore/` with `{"backup_id": N}`.
    pub(crate) fn restore_backup(
        &mut self,
        server_id: u64,
        backup_id: u64,
        now: Instant,
    ) -> Result<(SimBackup, SimServer), Refusal> {
        self.server_or_404(server_id)?;
        let backup = self
            .backups
            .get(&backup_id)
            .filter(|t| t.value.server_id == server_id)
            .ok_or_else(|| Refusal::not_found("Backup not found for this server."))?
            .value
            .clone();
        if backup.status != SimStatus::Completed {
            return Err(Refusal::bad_request(format!(
                "Backup is not ready for restoration (status: {}).",
                backup.status
            )));
        }
        let server = self.start_restore(server_id, now)?;
        Ok((backup, server))
    }

    fn start_restore(&mut self, server_id: u64, now: Instant) -> Result<SimServer, Refusal> {
        let until = now + self.complete_after;
        let server = self
            .servers
            .get_mut(&server_id)
            .ok_or_else(|| Refusal::not_found("Server not found."))?;
        if server.restoring_until.is_some() {
            return Err(Refusal::bad_request(
                "Server is not in a valid state for restoration.",
            ));
        }
        server.restoring_until = Some(until);
        self.restoring.insert(server_id);
        Ok(SimServer {
            id: server_id,
            name: server.name.clone(),
            status: server_status(server).to_owned(),
        })
    }

    pub(crate) fn max_snapshots_seen(&self, server_id: u64) -> usize {
        self.max_snapshots.get(&server_id).copied().unwrap_or(0)
    }

    pub(crate) fn max_manual_backups_seen(&self, server_id: u64) -> usize {
        self.max_manual_backups
            .get(&server_id)
            .copied()
            .unwrap_or(0)
    }

    /// Forces a snapshot's status (and stops its pending transition).
    pub(crate) fn set_snapshot_status(&mut self, id: u64, status: SimStatus) -> bool {
        let Some(item) = self.snapshots.get_mut(&id) else {
            return false;
        };
        item.due = None;
        self.pending_snapshots.remove(&id);
        set_status(&mut item.value.status, &mut item.value.size_mb, status, id);
        true
    }

    /// Forces a backup's status (and stops its pending transition).
    pub(crate) fn set_backup_status(&mut self, id: u64, status: SimStatus) -> bool {
        let Some(item) = self.backups.get_mut(&id) else {
            return false;
        };
        item.due = None;
        self.pending_backups.remove(&id);
        set_status(&mut item.value.status, &mut item.value.size_mb, status, id);
        true
    }
}

fn server_status(server: &Server) -> &'static str {
    if server.restoring_until.is_some() {
        "restoring"
    } else {
        "running"
    }
}

fn finish(status: &mut SimStatus, size_mb: &mut Option<u64>, fate: Fate, id: u64) {
    let next = match fate {
        Fate::Complete => SimStatus::Completed,
        Fate::Fail => SimStatus::Failed,
        Fate::Stuck => return,
    };
    set_status(status, size_mb, next, id);
}

fn set_status(status: &mut SimStatus, size_mb: &mut Option<u64>, next: SimStatus, id: u64) {
    *size_mb = match next {
        SimStatus::Completed => size_mb.or(Some(made_up_size(id))),
        _ => None,
    };
    *status = next;
}

/// A plausible, stable size for an item that has none.
fn made_up_size(id: u64) -> u64 {
    2048 + mix(id) % 6144
}

/// splitmix64's finaliser: a cheap, well-spread hash of an id.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        World::new(&Seed::docs_example(), Utc::now(), Duration::from_secs(10)).unwrap()
    }

    #[test]
    fn new_ids_continue_above_the_seed() {
        let mut w = world();
        let now = Instant::now();
        let s = w
            .create_snapshot(
                12346,
                "a".into(),
                String::new(),
                Fate::Complete,
                now,
                Utc::now(),
            )
            .unwrap();
        let b = w
            .create_backup(12346, String::new(), Fate::Complete, now, Utc::now())
            .unwrap();
        assert_eq!((s.id, b.id), (802, 502));
    }

    #[test]
    fn lifecycle_follows_the_clock_and_the_fate() {
        let mut w = world();
        let t0 = Instant::now();
        let mk = |w: &mut World, fate| {
            w.create_snapshot(12346, "x".into(), String::new(), fate, t0, Utc::now())
                .unwrap()
                .id
        };
        let (ok, bad, stuck) = (
            mk(&mut w, Fate::Complete),
            mk(&mut w, Fate::Fail),
            mk(&mut w, Fate::Stuck),
        );
        w.settle(t0 + Duration::from_secs(9));
        assert!(
            w.snapshots(Some(12346))
                .iter()
                .all(|s| s.status == SimStatus::InProgress && s.size_mb.is_none())
        );
        w.settle(t0 + Duration::from_secs(10));
        let status = |w: &World, id| w.snapshots.get(&id).unwrap().value.clone();
        assert_eq!(status(&w, ok).status, SimStatus::Completed);
        assert!(status(&w, ok).size_mb.is_some());
        assert_eq!(status(&w, bad).status, SimStatus::Failed);
        assert_eq!(status(&w, bad).size_mb, None);
        assert_eq!(status(&w, stuck).status, SimStatus::InProgress);
        assert!(w.pending_snapshots.is_empty());
    }

    #[test]
    fn caps_count_every_status_and_only_manual_backups() {
        let mut w = world();
        let now = Instant::now();
        // 12345 already has 2 snapshots and 1 manual + 2 automatic backups.
        for _ in 0..3 {
            w.create_snapshot(
                12345,
                "s".into(),
                String::new(),
                Fate::Stuck,
                now,
                Utc::now(),
            )
            .unwrap();
        }
        let err = w
            .create_snapshot(
                12345,
                "s".into(),
                String::new(),
                Fate::Complete,
                now,
                Utc::now(),
            )
            .unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        for _ in 0..9 {
            w.create_backup(12345, String::new(), Fate::Fail, now, Utc::now())
                .unwrap();
        }
        assert!(
            w.create_backup(12345, String::new(), Fate::Complete, now, Utc::now())
                .is_err()
        );
        assert_eq!(w.max_snapshots_seen(12345), 5);
        assert_eq!(w.max_manual_backups_seen(12345), 10);
        w.delete_snapshot(801, now).unwrap();
        assert_eq!(w.max_snapshots_seen(12345), 5);
        assert_eq!(w.snapshots_on(12345), 4);
    }

    #[test]
    fn lagging_lists_hide_the_new_and_keep_the_deleted_until_the_lag_passes() {
        let mut w = world();
        let t0 = Instant::now();
        let lag = Duration::from_secs(3);
        let made = w
            .create_snapshot(
                12345,
                "n".into(),
                String::new(),
                Fate::Stuck,
                t0,
                Utc::now(),
            )
            .unwrap()
            .id;
        w.delete_snapshot(801, t0 + Duration::from_secs(1)).unwrap();
        w.delete_backup(499, t0 + Duration::from_secs(1)).unwrap();
        let listed = |w: &World, at: u64| -> Vec<u64> {
            let mut ids: Vec<u64> = w
                .listed_snapshots(Some(12345), t0 + Duration::from_secs(at), lag)
                .iter()
                .map(|s| s.id)
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(listed(&w, 2), [798, 801]);
        assert_eq!(listed(&w, 3), [798, 801, made]);
        assert_eq!(listed(&w, 4), [798, made]);
        assert_eq!(w.snapshots(Some(12345)).len(), 2);
        assert!(w.listed_snapshots(Some(12346), t0, lag).is_empty());
        let manual = |w: &World, at: u64| {
            w.listed_backups(
                Some(12345),
                Some(BackupType::Manual),
                t0 + Duration::from_secs(at),
                lag,
            )
            .len()
        };
        assert_eq!(manual(&w, 2), 1);
        // No lag: the real state; forgotten deletions do not come back.
        assert_eq!(w.listed_snapshots(Some(12345), t0, Duration::ZERO).len(), 2);
        w.forget_deleted(t0 + Duration::from_secs(4), lag);
        assert!(w.gone_snapshots.is_empty() && w.gone_backups.is_empty());
        assert_eq!(manual(&w, 2), 0);
    }

    #[test]
    fn restore_needs_completed_item_and_idle_server() {
        let mut w = world();
        let t0 = Instant::now();
        let (_, server) = w.restore_snapshot(801, t0).unwrap();
        assert_eq!(server.status, "restoring");
        let err = w.restore_backup(12345, 499, t0).unwrap_err();
        assert_eq!(
            err.detail,
            "Server is not in a valid state for restoration."
        );
        w.settle(t0 + Duration::from_secs(10));
        assert_eq!(w.servers()[0].status, "running");
        w.restore_backup(12345, 499, t0 + Duration::from_secs(10))
            .unwrap();
        assert_eq!(
            w.restore_backup(12346, 499, t0).unwrap_err().status,
            StatusCode::NOT_FOUND
        );
    }
}
