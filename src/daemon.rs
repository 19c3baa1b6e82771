//! The long-running loop: timers, catch-up, signals, reload, shutdown.
//!
//! The scheduling decisions live in the pure [`Timetable`] (time injected,
//! so DST and missed slots are tested without waiting). The loop around it
//! sleeps in steps of at most 60 s and re-reads the wall clock each time,
//! so a suspend/resume or a clock step is noticed; jobs that come due go to
//! the same `pass::run_pass` as `--run-now`.
//!
//! One pass per server at a time, and no fire dropped silently: a fire for
//! a server with work under way waits in that server's queue and starts as
//! soon as that server's own jobs end (not the whole pass). A queued fire
//! that a newer slot of the same policy overtakes, or that a shutdown or a
//! reload leaves without a policy, is counted
//! (`snapkeep_skipped_fires_total`) and notified. Signals reach the loop as
//! [`Control`] messages, so tests drive reload and shutdown in-process.
//!
//! Every slot gets its restore point: a job that failed is fired again for
//! the same slot while the slot's retry window is open ([`retry`]); its
//! failure is notified once, when no retry is left.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::api::CallStats;
use crate::clock::Clock;
use crate::config::StartError;
use crate::config::{Clients, Config};
use crate::health;
use crate::memory;
use crate::metrics::{Metrics, RetryState};
use crate::notify::Notifier;
use crate::pass::{self, JobSpec, PassOptions, PassReport, ServerDone};
use crate::status::{Board, Inventories, Listing};

mod retry;
mod timetable;
use timetable::DropReason;
pub(crate) use timetable::Timetable;

/// Longest single sleep: the wall clock is re-read at least this often.
const MAX_STEP: Duration = Duration::from_secs(60);

/// What stops the daemon from running at all (a pass's failures never do).
#[derive(Debug, thiserror::Error)]
pub(crate) enum DaemonError {
    #[error("cannot listen on metrics.listen {listen}: {source}")]
    Listen {
        listen: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// What the outside world asks of a running daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// SIGHUP: re-read the config.
    Reload,
    /// SIGTERM / SIGINT: finish in-flight work, start nothing new, exit.
    Shutdown,
}

/// How the daemon runs a pass: with the API [`Client`] in production
/// (`pass::run_pass`), with a stand-in in the loop's tests, which then
/// run on tokio's paused clock — the loop decides *when* and *what* fires;
/// the pass is tested on its own.
pub(crate) trait Passes: Clone + Send + Sync + 'static {
    /// The API call counters (for `/metrics`, carried over a reload).
    fn stats(&self) -> &Arc<CallStats>;

    /// Runs one pass of `jobs` (see `pass::run_pass`).
    fn run(
        &self,
        config: Arc<Config>,
        clock: Arc<dyn Clock>,
        jobs: Vec<JobSpec>,
        options: PassOptions,
    ) -> impl Future<Output = PassReport> + Send;

    /// Sets `snapkeep_orphans{kind}` from an account-wide listing, judging
    /// orphan groups' grace at `now`, and publishes the listing on `board`
    /// for the status page.
    fn count_orphans(
        &self,
        config: Arc<Config>,
        metrics: Arc<Metrics>,
        board: Arc<Board>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = ()> + Send;
}

impl Passes for Clients {
    fn stats(&self) -> &Arc<CallStats> {
        Clients::stats(self)
    }

    fn run(
        &self,
        config: Arc<Config>,
        clock: Arc<dyn Clock>,
        jobs: Vec<JobSpec>,
        options: PassOptions,
    ) -> impl Future<Output = PassReport> + Send {
        pass::run_pass(config, self.clone(), clock, jobs, options)
    }

    fn count_orphans(
        &self,
        config: Arc<Config>,
        metrics: Arc<Metrics>,
        board: Arc<Board>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = ()> + Send {
        let clients = self.clone();
        async move { count_orphans(config, &clients, &metrics, &board, now).await }
    }
}

/// The daemon proper: `controls` carries reload and shutdown requests,
/// `reload` builds the new config and passes counting into the given
/// (carried-over) API counters; shutdown also happens when `controls` closes.
/// `metrics` is what `/metrics` shows (given, so tests can read it).
pub(crate) async fn run_loop<P: Passes>(
    config: Config,
    client: P,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    mut controls: mpsc::Receiver<Control>,
    reload: impl Fn(Arc<CallStats>) -> Result<(Config, P), StartError>,
) -> Result<(), DaemonError> {
    let board = Arc::new(Board::default());
    if let Some(listen) = config.metrics.listen {
        let stats = Arc::clone(Passes::stats(&client));
        match health::serve(listen, Arc::clone(&metrics), stats, Arc::clone(&board)).await {
            Ok(addr) => {
                info!(%addr, "metrics at http://{addr}/metrics, health at /healthz and /readyz")
            }
            Err(e) => return Err(DaemonError::Listen { listen, source: e }),
        }
    }
    let mut daemon = Daemon::start(config, client, clock, metrics, board);
    loop {
        daemon.fire_what_is_due();
        let step = daemon.step();
        let fleet = &mut daemon.fleet;
        tokio::select! {
            _ = tokio::time::sleep(step) => {}
            Some((pass, server)) = fleet.done.1.recv() => {
                fleet.server_done(pass, server, &daemon.config, &daemon.client, &daemon.clock);
            }
            Some(joined) = fleet.passes.join_next_with_id(), if !fleet.passes.is_empty() => {
                fleet.pass_ended(joined, &daemon.config, &daemon.client, &daemon.clock);
            }
            control = controls.recv() => match control {
                None | Some(Control::Shutdown) => break,
                Some(Control::Reload) => daemon.reload(&reload),
            }
        }
    }
    daemon.shut_down().await;
    Ok(())
}

/// The loop's state between two wake-ups: the config and passes in force,
/// the timetable and the fleet of passes under way.
struct Daemon<P: Passes> {
    config: Arc<Config>,
    client: P,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    table: Timetable,
    fleet: Fleet,
    watchdog: Option<Duration>,
}

impl<P: Passes> Daemon<P> {
    /// Builds the timetable, says "ready" and fires the start-up catch-up.
    fn start(
        config: Config,
        client: P,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        board: Arc<Board>,
    ) -> Self {
        let config = Arc::new(config);
        let (table, startup) = Timetable::start(&config, clock.now());
        let fleet = Fleet {
            passes: JoinSet::new(),
            retries: Vec::new(),
            pass_servers: HashMap::new(),
            busy: HashMap::new(),
            next_pass: 0,
            queued: BTreeMap::new(),
            effects: PassEffects {
                metrics: Arc::clone(&metrics),
                notifier: Notifier::for_daemon(&config.notify, &metrics, None),
                board,
            },
            done: mpsc::unbounded_channel(),
        };
        info!(
            config = %config.origin,
            policies = config.policies.len(),
            servers = config.servers().len(),
            "snapkeep daemon started"
        );
        // The config parser's working memory is free now; give it back.
        memory::release_free_memory();
        notify(&[sd_notify::NotifyState::Ready]);
        metrics.retain_pairs(&config);
        let mut daemon = Daemon {
            config,
            client,
            clock,
            metrics,
            table,
            fleet,
            watchdog: watchdog_interval(),
        };
        daemon.fire(startup);
        daemon
    }

    fn fire(&mut self, due: Vec<JobSpec>) {
        self.fleet
            .fire(&self.config, &self.client, &self.clock, due);
    }

    /// Fires what the timetable and the retries have due, lists the account
    /// for the status page when that is owed, and pets the watchdog.
    fn fire_what_is_due(&mut self) {
        let now = self.clock.now();
        let mut due = self.table.take_due(&self.config, now);
        due.extend(self.fleet.take_due_retries(now));
        self.metrics.tick();
        self.fire(due);
        let board = &self.fleet.effects.board;
        if board.owed() && self.metrics.orphan_scan_due(ACCOUNT_LISTING_EVERY) {
            board.take_owed();
            let (c, m, b) = (
                self.client.clone(),
                Arc::clone(&self.metrics),
                Arc::clone(board),
            );
            let (config, now) = (Arc::clone(&self.config), self.clock.now());
            tokio::spawn(async move { c.count_orphans(config, m, b, now).await });
        }
        if self.watchdog.is_some() {
            notify(&[sd_notify::NotifyState::Watchdog]);
        }
    }

    /// How long to sleep: until the next fire or retry, at most
    /// [`MAX_STEP`] and the watchdog's interval, and never spinning (a
    /// due-now entry was just taken, so it waits a little).
    fn step(&self) -> Duration {
        let next = match (self.table.next_due(), self.fleet.next_retry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let step = match next {
            Some(at) => (at - self.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(MAX_STEP),
            None => MAX_STEP,
        };
        let step = self.watchdog.map_or(step, |w| step.min(w));
        step.max(Duration::from_millis(50))
    }

    /// SIGHUP: what came due under the old table starts first; a rejected
    /// config keeps the old one running; in-flight passes finish with the
    /// config they started with.
    fn reload(&mut self, reload: &impl Fn(Arc<CallStats>) -> Result<(Config, P), StartError>) {
        let due = self.table.take_due(&self.config, self.clock.now());
        self.fire(due);
        match sd_notify::NotifyState::monotonic_usec_now() {
            Ok(stamp) => notify(&[sd_notify::NotifyState::Reloading, stamp]),
            Err(_) => notify(&[sd_notify::NotifyState::Reloading]),
        }
        // API counters carry over: they only ever grow.
        match reload(Arc::clone(Passes::stats(&self.client))) {
            Ok((new_config, new_client)) => self.take_over(new_config, new_client),
            Err(e) => {
                error!("SIGHUP: the new config was rejected, keeping the old one running: {e}")
            }
        }
        notify(&[sd_notify::NotifyState::Ready]);
    }

    /// Puts a reloaded config in force: the notifier, the timetable (fires
    /// the new config drops are counted), queued fires and retries follow
    /// their policy by name, the metrics drop removed pairs' series.
    fn take_over(&mut self, new_config: Config, new_client: P) {
        info!(config = %new_config.origin, policies = new_config.policies.len(), "SIGHUP: config reloaded; in-flight passes finish with the old one");
        if new_config.metrics.listen != self.config.metrics.listen {
            warn!("metrics.listen changed; the new address takes effect after a restart");
        }
        let fleet = &mut self.fleet;
        fleet.effects.notifier = Notifier::for_daemon(
            &new_config.notify,
            &self.metrics,
            fleet.effects.notifier.as_ref(),
        );
        let (new_table, dropped) = self
            .table
            .reload(&self.config, &new_config, self.clock.now());
        self.table = new_table;
        for d in dropped {
            fleet.dropped_by_reload(d.server_id, &d.policy, d.slot, d.reason);
        }
        fleet.remap_queued(&self.config, &new_config);
        fleet.remap_retries(&self.config, &new_config);
        self.metrics.retain_pairs(&new_config);
        fleet.effects.board.owe();
        self.config = Arc::new(new_config);
        self.client = new_client;
        memory::release_free_memory();
    }

    /// Counts what will not run (queued fires, pending retries), then gives
    /// passes under way `shutdown_timeout` before cutting them off.
    async fn shut_down(mut self) {
        notify(&[sd_notify::NotifyState::Stopping]);
        let fleet = &mut self.fleet;
        let left: Vec<JobSpec> = std::mem::take(&mut fleet.queued)
            .into_values()
            .flatten()
            .collect();
        for f in left {
            fleet.skipped(
                &self.config,
                &f,
                "shutdown while the server was busy; the next start catches up",
            );
        }
        for (at, f) in std::mem::take(&mut fleet.retries) {
            let policy = &self.config.policies[f.policy].name;
            warn!(server_id = f.server_id, policy = %policy, slot = %f.slot.to_rfc3339(), retry_at = %at.to_rfc3339(), "shutdown with a retry of this slot pending; the next start catches up (missed = \"run-once\")");
            fleet.effects.metrics.retry_dropped(f.server_id, policy);
        }
        let grace = self.config.daemon.shutdown_timeout;
        let drained = tokio::time::timeout(grace, async {
            while fleet.passes.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!(
                timeout = ?grace,
                "in-flight passes did not finish within shutdown_timeout; stopping them (the next start finishes their slots)"
            );
            fleet.passes.abort_all();
        }
        info!("snapkeep daemon stopped");
    }
}

/// What happens around every pass: metrics, notifications, and an account
/// listing owed to the status page and the orphan count. (Not a policy's
/// pre/post hooks: those are `hooks::Hooks`, run inside the job.)
#[derive(Clone)]
struct PassEffects {
    metrics: Arc<Metrics>,
    notifier: Option<Notifier>,
    board: Arc<Board>,
}

/// A server as the daemon holds it: (account, server id). Server 7 of one
/// account and server 7 of another are two servers, never busy for each
/// other.
type ServerKey = (String, u64);

/// (pass number, server).
type PassServer = (u64, ServerKey);

/// The passes under way and which servers they hold.
struct Fleet {
    /// Each pass returns the retries it owes (see [`plan_retries`]).
    passes: JoinSet<Vec<Retry>>,
    /// Failed jobs to fire again for their slot, and when.
    retries: Vec<Retry>,
    /// Each pass task's number and the servers it was given (freed when
    /// it ends, also abnormally, if it still holds them).
    pass_servers: HashMap<tokio::task::Id, (u64, Vec<ServerKey>)>,
    /// Servers with jobs under way, and the number of the pass that holds
    /// each: only that pass's end frees it (a late "done" from an earlier
    /// pass must not free a server a newer pass holds).
    busy: HashMap<ServerKey, u64>,
    /// The next pass's number.
    next_pass: u64,
    /// Fires waiting for their server, at most one per (server, policy).
    queued: BTreeMap<ServerKey, Vec<JobSpec>>,
    effects: PassEffects,
    /// (pass, server) whose jobs ended (sent by the runner as each finishes).
    done: (
        mpsc::UnboundedSender<PassServer>,
        mpsc::UnboundedReceiver<PassServer>,
    ),
}

impl Fleet {
    /// Starts a pass for the fires whose servers are idle; queues the others
    /// behind their server's work.
    fn fire<P: Passes>(
        &mut self,
        config: &Arc<Config>,
        client: &P,
        clock: &Arc<dyn Clock>,
        fires: Vec<JobSpec>,
    ) {
        let mut jobs = Vec::new();
        let mut claimed = HashSet::new();
        for f in fires {
            let policy = &config.policies[f.policy];
            let server = (policy.account.clone(), f.server_id);
            if self.busy.contains_key(&server) && !claimed.contains(&server) {
                info!(
                    account = %policy.account,
                    server_id = f.server_id,
                    policy = %policy.name,
                    slot = %f.slot.to_rfc3339(),
                    "the server has work under way; this fire waits for it"
                );
                self.enqueue(config, f);
                continue;
            }
            if f.catch_up {
                info!(account = %policy.account, server_id = f.server_id, policy = %policy.name, slot = %f.slot.to_rfc3339(), "catching up a missed slot (once)");
            }
            claimed.insert(server);
            jobs.push(f);
        }
        if jobs.is_empty() {
            return;
        }
        let pass = self.next_pass;
        self.next_pass += 1;
        self.busy.extend(claimed.iter().map(|s| (s.clone(), pass)));
        let done = self.done.0.clone();
        let (config, client, clock, effects) = (
            Arc::clone(config),
            client.clone(),
            Arc::clone(clock),
            self.effects.clone(),
        );
        let options = PassOptions {
            dry_run: false,
            server_done: Some(ServerDone(Arc::new(move |account, server| {
                let _ = done.send((pass, (account.to_owned(), server)));
            }))),
            ..PassOptions::default()
        };
        let task = self.passes.spawn(async move {
            if let Some(n) = effects.notifier.clone() {
                tokio::spawn(async move { n.pass_started().await });
            }
            let clock_for_metrics = Arc::clone(&clock);
            let report = client.run(Arc::clone(&config), clock, jobs, options).await;
            for line in pass::summary_of(&config, &report, false).lines() {
                info!("{line}");
            }
            effects
                .metrics
                .record_pass(&report, clock_now_unix(&*clock_for_metrics));
            let retries = plan_retries(&config, &report, clock_for_metrics.now(), &effects.metrics);
            let retrying: HashSet<(u64, usize)> = retries
                .iter()
                .map(|(_, spec)| (spec.server_id, spec.policy))
                .collect();
            // The loop lists the account when it is time (ACCOUNT_LISTING_EVERY).
            effects.board.owe();
            // A fleet's pass leaves tens of MB of freed heap behind; the daemon
            // should not keep it until the next one.
            if let Some(n) = effects.notifier {
                let now = clock_for_metrics.now();
                tokio::spawn(
                    async move { n.pass_finished(&report, &retrying, &config, now).await },
                );
            } else {
                drop(report);
            }
            memory::release_free_memory();
            retries
        });
        self.pass_servers
            .insert(task.id(), (pass, claimed.into_iter().collect()));
    }

    /// The retries due at `now`, taken off the list.
    fn take_due_retries(&mut self, now: DateTime<Utc>) -> Vec<JobSpec> {
        let (due, later): (Vec<Retry>, Vec<Retry>) = std::mem::take(&mut self.retries)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.retries = later;
        due.into_iter().map(|(_, spec)| spec).collect()
    }

    /// When the next retry is due.
    fn next_retry(&self) -> Option<DateTime<Utc>> {
        self.retries.iter().map(|(at, _)| *at).min()
    }

    /// After a reload: retries follow their policy by name; a retry whose
    /// policy is gone, paused or no longer lists the server is dropped and
    /// counted as a due fire the reload dropped (same reasons, which no
    /// alert pages on).
    fn remap_retries(&mut self, old: &Config, new: &Config) {
        let mut kept = Vec::new();
        for (at, mut f) in std::mem::take(&mut self.retries) {
            let name = old.policies[f.policy].name.clone();
            let account = &old.policies[f.policy].account;
            match DropReason::after_reload(new, account, f.server_id, &name) {
                Ok(index) => {
                    f.policy = index;
                    kept.push((at, f));
                }
                Err(reason) => {
                    self.effects.metrics.retry_dropped(f.server_id, &name);
                    self.dropped_by_reload(f.server_id, &name, f.slot, reason);
                }
            }
        }
        self.retries = kept;
    }

    /// Queues `f` behind its server's work; a queued fire of the same policy
    /// is overtaken by the newer slot (and counted as skipped).
    fn enqueue(&mut self, config: &Config, f: JobSpec) {
        let key = (config.policies[f.policy].account.clone(), f.server_id);
        let queue = self.queued.entry(key).or_default();
        if let Some(at) = queue.iter().position(|q| q.policy == f.policy) {
            if queue[at].slot >= f.slot {
                return;
            }
            let old = std::mem::replace(&mut queue[at], f);
            self.skipped(
                config,
                &old,
                "overtaken by a newer slot while the server was busy",
            );
        } else {
            queue.push(f);
        }
    }

    /// Pass `pass` is done with `server`: if that pass still holds it, free
    /// it and start what waited for it.
    fn server_done<P: Passes>(
        &mut self,
        pass: u64,
        server: ServerKey,
        config: &Arc<Config>,
        client: &P,
        clock: &Arc<dyn Clock>,
    ) {
        if self.busy.get(&server) != Some(&pass) {
            return;
        }
        self.busy.remove(&server);
        if self.busy.is_empty() {
            // A pass over the whole fleet grew the map; its room (84 KB for
            // 1000 servers) would otherwise stay while the daemon idles.
            self.busy.shrink_to_fit();
        }
        if let Some(waiting) = self.queued.remove(&server) {
            self.fire(config, client, clock, waiting);
        }
    }

    /// A pass task ended; if it panicked, its servers are freed anyway.
    fn pass_ended<P: Passes>(
        &mut self,
        joined: Result<(tokio::task::Id, Vec<Retry>), tokio::task::JoinError>,
        config: &Arc<Config>,
        client: &P,
        clock: &Arc<dyn Clock>,
    ) {
        let id = match joined {
            Ok((id, retries)) => {
                self.retries.extend(retries);
                id
            }
            Err(e) => {
                error!(error = %e, "a pass ended abnormally (a bug); its servers are freed");
                e.id()
            }
        };
        let (pass, servers) = self.pass_servers.remove(&id).unwrap_or_default();
        for server in servers {
            self.server_done(pass, server, config, client, clock);
        }
    }

    /// After a reload: queued fires follow their policy by name; a fire
    /// whose policy the reload paused, or removed from its server, is
    /// dropped and counted (`paused_by_reload`, `removed_by_reload`).
    fn remap_queued(&mut self, old: &Config, new: &Config) {
        let mut dropped = Vec::new();
        for queue in self.queued.values_mut() {
            let mut kept = Vec::new();
            for mut f in queue.drain(..) {
                let name = &old.policies[f.policy].name;
                let account = &old.policies[f.policy].account;
                match DropReason::after_reload(new, account, f.server_id, name) {
                    Ok(index) => {
                        f.policy = index;
                        kept.push(f);
                    }
                    Err(reason) => dropped.push((f.server_id, name.clone(), f.slot, reason)),
                }
            }
            *queue = kept;
        }
        self.queued.retain(|_, q| !q.is_empty());
        for (server, policy, slot, reason) in dropped {
            self.dropped_by_reload(server, &policy, slot, reason);
        }
    }

    /// A due fire (queued, or waiting out its jitter) whose policy a reload
    /// paused or removed: logged and counted under its own reason, which no
    /// alert pages on and which is not notified (the operator did it).
    fn dropped_by_reload(
        &self,
        server: u64,
        policy: &str,
        slot: DateTime<Utc>,
        reason: DropReason,
    ) {
        info!(
            server_id = server,
            policy = %policy,
            slot = %slot.to_rfc3339(),
            reason = reason.as_str(),
            "a due fire dropped: the reload {} its policy on this server",
            if reason == DropReason::PausedByReload { "paused" } else { "removed" }
        );
        self.effects
            .metrics
            .fire_skipped(server, policy, reason.as_str());
    }

    fn skipped(&self, config: &Config, f: &JobSpec, reason: &str) {
        let policy = &config.policies[f.policy].name;
        warn!(
            server_id = f.server_id,
            policy = %policy,
            slot = %f.slot.to_rfc3339(),
            "fire skipped: {reason}"
        );
        let account = config
            .several_accounts()
            .then(|| config.policies[f.policy].account.clone());
        count_skipped(&self.effects, f.server_id, policy, account, reason);
    }
}

/// A job to fire again for its slot, and when.
type Retry = (DateTime<Utc>, JobSpec);

/// After a pass at `now`: the retries its failed jobs are owed (the slot's
/// window still open, [`retry::next_retry`]), each logged with its attempt
/// number and counted; a failed job with none left ends its slot without
/// a restore point (counted, and the only failure of that slot that is
/// notified).
fn plan_retries(
    config: &Config,
    report: &PassReport,
    now: DateTime<Utc>,
    metrics: &Metrics,
) -> Vec<Retry> {
    let mut retries = Vec::new();
    for o in &report.outcomes {
        let Some(policy) = config.policies.get(o.spec.policy) else {
            continue;
        };
        let Some(error) = &o.error else {
            if o.spec.attempt > 0 {
                info!(server_id = o.spec.server_id, policy = %policy.name, slot = %o.spec.slot.to_rfc3339(), attempt = o.spec.attempt, "the slot succeeded on retry {}", o.spec.attempt);
            }
            continue;
        };
        match retry::next_retry(policy, &o.spec, now) {
            Some((at, spec)) => {
                warn!(
                    server_id = spec.server_id,
                    policy = %policy.name,
                    slot = %spec.slot.to_rfc3339(),
                    attempt = spec.attempt,
                    retry_at = %at.to_rfc3339(),
                    reason = error.kind(),
                    "the job failed; retrying its slot at {} (attempt {})",
                    at.to_rfc3339(),
                    spec.attempt
                );
                metrics.retry_planned(
                    RetryState {
                        server_id: spec.server_id,
                        policy: policy.name.clone(),
                        slot: spec.slot,
                        attempt: spec.attempt,
                        at,
                        reason: error.kind().to_owned(),
                    },
                    error.kind(),
                );
                retries.push((at, spec));
            }
            None => {
                error!(
                    server_id = o.spec.server_id,
                    policy = %policy.name,
                    slot = %o.spec.slot.to_rfc3339(),
                    tries = o.spec.attempt + 1,
                    reason = error.kind(),
                    "the slot ends without its restore point: no retry left in its window (retry_window, or the next fire)"
                );
                metrics.slot_failed(o.spec.server_id, &policy.name);
            }
        }
    }
    retries
}

/// How often at most the daemon lists the whole account (one listing per
/// kind), when one is owed — at start, after a pass or a reload, after a
/// failed listing: to count orphans for `snapkeep_orphans` and for the
/// status page (`status::Board`), which serves the latest listing.
const ACCOUNT_LISTING_EVERY: Duration = Duration::from_secs(5 * 60);

/// Sets `snapkeep_orphans{kind}` from a listing of every account: forgotten
/// orphans only (`Orphan::forgotten`: past `orphan_grace`, not protected),
/// so a live group, maybe another config's, never raises it; each
/// account's items judged by its own policies, the counts summed. With
/// `[metrics] listen` set, both kinds are listed (as `snapkeep status`
/// does) and a complete listing goes on `board` for the status page; a
/// failed one is owed again.
async fn count_orphans(
    config: Arc<Config>,
    clients: &Clients,
    metrics: &Metrics,
    board: &Board,
    now: DateTime<Utc>,
) {
    let serve = config.metrics.listen.is_some();
    let mut listings = Vec::new();
    let mut forgotten: HashMap<crate::provider::Kind, usize> = HashMap::new();
    let mut complete = true;
    for (account, client) in clients.iter() {
        let own = config.for_account(account);
        let mut inventories = Inventories::new();
        for kind in crate::provider::Kind::ALL {
            let configured = config.policies.iter().any(|p| p.kind == kind);
            if !configured && !serve {
                continue;
            }
            match crate::inventory::fetch(client, kind, &[]).await {
                Ok(items) => {
                    if configured {
                        let orphans = crate::orphans::find(&own, kind, &items, now);
                        *forgotten.entry(kind).or_default() +=
                            orphans.iter().filter(|o| o.forgotten()).count();
                    }
                    if serve {
                        inventories.insert(kind, crate::inventory::by_server(items));
                    }
                }
                Err(e) => {
                    complete = false;
                    warn!(account, kind = kind.as_str(), error = %e, "could not list the account (orphans, status page); will try again")
                }
            }
        }
        listings.push((account.to_owned(), inventories));
    }
    for (kind, n) in forgotten {
        metrics.set_orphans(kind, n);
    }
    if serve && complete {
        board.publish(Listing {
            config,
            inventories: listings,
            at: now,
        });
    } else if serve {
        board.owe();
    }
    // The account's listing was pages of JSON; give the freed heap back.
    memory::release_free_memory();
}

/// Counts and notifies a fire that will not run (`account`: said when the
/// config has several).
fn count_skipped(
    effects: &PassEffects,
    server: u64,
    policy: &str,
    account: Option<String>,
    reason: &str,
) {
    effects.metrics.fire_skipped(server, policy, reason);
    if let Some(n) = effects.notifier.clone() {
        let (policy, reason) = (policy.to_owned(), reason.to_owned());
        tokio::spawn(async move { n.fire_skipped(server, &policy, account, &reason).await });
    }
}

fn clock_now_unix(clock: &dyn Clock) -> f64 {
    clock.now().timestamp_millis() as f64 / 1000.0
}

/// Half the systemd watchdog interval, when systemd asked for pings.
fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

fn notify(states: &[sd_notify::NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        if let Err(e) = sd_notify::notify(states) {
            warn!("could not notify systemd: {e}");
        }
    }
}

#[cfg(test)]
mod busy_tests;

#[cfg(test)]
mod loop_tests;
