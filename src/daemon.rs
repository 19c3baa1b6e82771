//! The long-running loop: timers, catch-up, signals, reload, shutdown.
//!
//! The scheduling decisions live in the pure [`Timetable`] (time injected,
//! so DST and missed slots are tested without waiting). The loop around it
//! sleeps in steps of at most 60 s and re-reads the wall clock each time,
//! so a suspend/resume or a clock step is noticed; jobs that come due go to
//! the same `runner::run_pass` as `--run-now`. One pass per server at a
//! time: a slot that comes due while its server is still busy is skipped
//! with a log line (the next slot, or a restart, catches up).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::api::Client;
use crate::app::{self, AppError};
use crate::clock::Clock;
use crate::config::{Config, Missed};
use crate::health;
use crate::memory;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::runner::{self, JobSpec};
use crate::schedule::jitter_for;

/// A slot this late is "missed" (daemon down, machine asleep, clock step).
const GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(90);
/// Longest single sleep: the wall clock is re-read at least this often.
const MAX_STEP: Duration = Duration::from_secs(60);

/// A job that is due now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fire {
    pub(crate) job: JobSpec,
    /// True when the slot was missed and this is the one catch-up run.
    pub(crate) catch_up: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    server_id: u64,
    policy: usize,
    /// The next slot this entry fires for.
    slot: Option<DateTime<Utc>>,
    /// `slot` plus this entry's fixed jitter.
    due_at: Option<DateTime<Utc>>,
    jitter: chrono::TimeDelta,
}

/// When each (server, policy) fires next. Pure: every method takes `now`.
#[derive(Debug, Clone)]
pub(crate) struct Timetable {
    entries: Vec<Entry>,
}

impl Timetable {
    /// Builds the table at `now`; also returns the catch-up runs a start
    /// owes: one per (server, policy) with `missed = "run-once"`, for the
    /// latest slot (never one per missed slot). The job itself skips the
    /// create when that slot is already taken.
    pub(crate) fn start(config: &Config, now: DateTime<Utc>) -> (Timetable, Vec<Fire>) {
        let mut entries = Vec::new();
        let mut fires = Vec::new();
        for (index, p) in config.policies.iter().enumerate() {
            for &server_id in &p.servers {
                let jitter = chrono::TimeDelta::from_std(jitter_for(server_id, &p.name, p.jitter))
                    .unwrap_or_default();
                let slot = p.schedule.next_after(now);
                entries.push(Entry {
                    server_id,
                    policy: index,
                    slot,
                    due_at: slot.map(|s| s + jitter),
                    jitter,
                });
                if p.missed == Missed::RunOnce {
                    if let Some(latest) = p.schedule.latest_at_or_before(now) {
                        fires.push(Fire {
                            job: JobSpec {
                                server_id,
                                policy: index,
                                slot: latest,
                            },
                            catch_up: true,
                        });
                    }
                }
            }
        }
        (Timetable { entries }, fires)
    }

    /// Takes every job due at `now` and moves those entries to their next
    /// slot. A due slot later than `GRACE` counts as missed: it runs once for
    /// the latest slot (`run-once`) or not at all (`skip`).
    pub(crate) fn take_due(&mut self, config: &Config, now: DateTime<Utc>) -> Vec<Fire> {
        let mut fires = Vec::new();
        for e in &mut self.entries {
            let Some(due_at) = e.due_at else { continue };
            if due_at > now {
                continue;
            }
            let policy = &config.policies[e.policy];
            let late = now - due_at > GRACE;
            let latest = policy.schedule.latest_at_or_before(now).or(e.slot);
            match (late, policy.missed, latest) {
                (_, _, None) => {}
                (false, _, Some(slot)) => fires.push(Fire {
                    job: JobSpec {
                        server_id: e.server_id,
                        policy: e.policy,
                        slot,
                    },
                    catch_up: slot != e.slot.unwrap_or(slot),
                }),
                (true, Missed::RunOnce, Some(slot)) => fires.push(Fire {
                    job: JobSpec {
                        server_id: e.server_id,
                        policy: e.policy,
                        slot,
                    },
                    catch_up: true,
                }),
                (true, Missed::Skip, Some(slot)) => info!(
                    server_id = e.server_id,
                    policy = %policy.name,
                    slot = %slot.to_rfc3339(),
                    "slot missed (daemon down, asleep, or the clock jumped); missed = \"skip\", so not catching up"
                ),
            }
            e.slot = policy.schedule.next_after(now);
            e.due_at = e.slot.map(|s| s + e.jitter);
        }
        fires
    }

    /// The earliest moment something comes due.
    pub(crate) fn next_due(&self) -> Option<DateTime<Utc>> {
        self.entries.iter().filter_map(|e| e.due_at).min()
    }
}

/// Runs until SIGTERM/SIGINT. SIGHUP re-reads the config.
pub(crate) async fn run(
    path: PathBuf,
    config: Config,
    client: Client,
    clock: Arc<dyn Clock>,
) -> Result<u8, AppError> {
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| AppError::Runtime(format!("cannot watch SIGTERM: {e}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| AppError::Runtime(format!("cannot watch SIGINT: {e}")))?;
    let mut hup = signal(SignalKind::hangup())
        .map_err(|e| AppError::Runtime(format!("cannot watch SIGHUP: {e}")))?;

    let mut config = Arc::new(config);
    let mut client = client;
    let (mut table, startup) = Timetable::start(&config, clock.now());
    let busy: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let metrics = Arc::new(Metrics::new());
    if let Some(listen) = config.metrics.listen {
        match health::serve(listen, Arc::clone(&metrics), Arc::clone(client.stats())).await {
            Ok(addr) => {
                info!(%addr, "metrics at http://{addr}/metrics, health at /healthz and /readyz")
            }
            Err(e) => {
                return Err(AppError::Runtime(format!(
                    "cannot listen on metrics.listen {listen}: {e}"
                )));
            }
        }
    }
    let mut hooks = Hooks {
        metrics: Arc::clone(&metrics),
        notifier: Notifier::new(&config.notify),
    };
    let mut passes: JoinSet<()> = JoinSet::new();
    let watchdog = watchdog_interval();

    info!(
        config = %config.origin,
        policies = config.policies.len(),
        servers = config.servers().len(),
        "snapkeep daemon started"
    );
    // The config parser's working memory is free now; give it back.
    memory::release_free_memory();
    notify(&[sd_notify::NotifyState::Ready]);
    start_pass(
        &mut passes,
        &busy,
        &config,
        &client,
        &clock,
        &hooks,
        startup,
    );

    loop {
        let now = clock.now();
        let due = table.take_due(&config, now);
        metrics.tick();
        start_pass(&mut passes, &busy, &config, &client, &clock, &hooks, due);
        if watchdog.is_some() {
            notify(&[sd_notify::NotifyState::Watchdog]);
        }
        let mut step = table
            .next_due()
            .and_then(|d| (d - clock.now()).to_std().ok())
            .unwrap_or(Duration::ZERO)
            .min(MAX_STEP);
        if let Some(w) = watchdog {
            step = step.min(w);
        }
        if table.next_due().is_none() {
            step = watchdog.unwrap_or(MAX_STEP).min(MAX_STEP);
        }
        // Never spin: even a due-now entry waits a little (it was just taken).
        let step = step.max(Duration::from_millis(50));
        tokio::select! {
            _ = tokio::time::sleep(step) => {}
            Some(_) = passes.join_next(), if !passes.is_empty() => {}
            _ = term.recv() => { info!("SIGTERM: finishing in-flight work, starting nothing new"); break; }
            _ = int.recv() => { info!("SIGINT: finishing in-flight work, starting nothing new"); break; }
            _ = hup.recv() => {
                // Whatever came due while we slept belongs to the old table: start it first.
                let due = table.take_due(&config, clock.now());
                start_pass(&mut passes, &busy, &config, &client, &clock, &hooks, due);
                match sd_notify::NotifyState::monotonic_usec_now() {
                    Ok(stamp) => notify(&[sd_notify::NotifyState::Reloading, stamp]),
                    Err(_) => notify(&[sd_notify::NotifyState::Reloading]),
                }
                match reload(&path, Arc::clone(client.stats())) {
                    Ok((new_config, new_client)) => {
                        info!(config = %new_config.origin, policies = new_config.policies.len(), "SIGHUP: config reloaded; in-flight passes finish with the old one");
                        if new_config.metrics.listen != config.metrics.listen {
                            warn!("metrics.listen changed; the new address takes effect after a restart");
                        }
                        hooks.notifier = Notifier::new(&new_config.notify);
                        config = Arc::new(new_config);
                        client = new_client;
                        table = Timetable::start(&config, clock.now()).0;
                        memory::release_free_memory();
                    }
                    Err(e) => error!("SIGHUP: the new config was rejected, keeping the old one running: {e}"),
                }
                notify(&[sd_notify::NotifyState::Ready]);
            }
        }
    }

    notify(&[sd_notify::NotifyState::Stopping]);
    let grace = config.daemon.shutdown_timeout;
    let drained =
        tokio::time::timeout(grace, async { while passes.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        warn!(
            timeout = ?grace,
            "in-flight passes did not finish within shutdown_timeout; stopping them (the next start finishes their slots)"
        );
        passes.abort_all();
    }
    info!("snapkeep daemon stopped");
    Ok(0)
}

fn reload(
    path: &std::path::Path,
    stats: Arc<crate::api::CallStats>,
) -> Result<(Config, Client), AppError> {
    let config = app::load_config(path)?;
    let client = app::client_for(&config, stats)?;
    Ok((config, client))
}

/// What happens around every pass: metrics and notifications.
#[derive(Clone)]
struct Hooks {
    metrics: Arc<Metrics>,
    notifier: Option<Notifier>,
}

/// Starts one pass for the fires whose servers are idle; skips the others.
fn start_pass(
    passes: &mut JoinSet<()>,
    busy: &Arc<Mutex<HashSet<u64>>>,
    config: &Arc<Config>,
    client: &Client,
    clock: &Arc<dyn Clock>,
    hooks: &Hooks,
    fires: Vec<Fire>,
) {
    if fires.is_empty() {
        return;
    }
    let mut jobs = Vec::new();
    {
        let mut busy_now = busy.lock().expect("busy lock");
        let mut claimed = HashSet::new();
        for f in fires {
            let policy = &config.policies[f.job.policy];
            if busy_now.contains(&f.job.server_id) {
                warn!(
                    server_id = f.job.server_id,
                    policy = %policy.name,
                    slot = %f.job.slot.to_rfc3339(),
                    "skip: the previous pass for this server is still running"
                );
                continue;
            }
            if f.catch_up {
                info!(server_id = f.job.server_id, policy = %policy.name, slot = %f.job.slot.to_rfc3339(), "catching up a missed slot (once)");
            }
            claimed.insert(f.job.server_id);
            jobs.push(f.job);
        }
        busy_now.extend(claimed);
    }
    if jobs.is_empty() {
        return;
    }
    let servers: Vec<u64> = jobs.iter().map(|j| j.server_id).collect();
    let (config, client, clock, busy, hooks) = (
        Arc::clone(config),
        client.clone(),
        Arc::clone(clock),
        Arc::clone(busy),
        hooks.clone(),
    );
    passes.spawn(async move {
        if let Some(n) = hooks.notifier.clone() {
            tokio::spawn(async move { n.pass_started().await });
        }
        let before = runner::ApiUse::of(&client);
        let clock_for_metrics = Arc::clone(&clock);
        let report = runner::run_pass(config, client.clone(), clock, jobs, false).await;
        for line in
            runner::summary(&report, runner::ApiUse::of(&client).since(before), false).lines()
        {
            info!("{line}");
        }
        hooks
            .metrics
            .record_pass(&report, clock_now_unix(&*clock_for_metrics));
        {
            let mut busy = busy.lock().expect("busy lock");
            for s in servers {
                busy.remove(&s);
            }
        }
        // A fleet's pass leaves tens of MB of freed heap behind; the daemon
        // should not keep it until the next one.
        if let Some(n) = hooks.notifier {
            tokio::spawn(async move { n.pass_finished(&report).await });
        } else {
            drop(report);
        }
        memory::release_free_memory();
    });
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
mod tests;
