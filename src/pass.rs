//! A pass over many (server, policy) jobs — the one code path that
//! `--run-now` and the daemon share.
//!
//! It lists each kind once for the whole fleet, gives every server its own
//! task (the policies of one server run one after another, because they
//! share the provider's cap), shares one completion poller per kind, and
//! never lets one failed job stop the others.
//!
//! Servers are not limited to `max_concurrency` *tasks*: a task spends most
//! of its life waiting for an item to complete, and holding a slot while
//! waiting would serialise a fleet into batches (1000 servers, 4 at a time,
//! each waiting minutes). What `max_concurrency` bounds is what the provider
//! feels — requests in flight — and the client's shared limiter enforces
//! that for every task at once. A task waits small: the job's API calls run
//! out of line (`job::out_of_line`, figures in BENCHMARKS.md), and the
//! completion poller keeps only the items someone waits for.
//!
//! A pass can be told to stop ([`Stop`], `--run-now` on SIGINT/SIGTERM) in
//! two steps: *finish* (start no new job; a server task reports the jobs it
//! did not start as interrupted) and *abort* (cut off the tasks still
//! running). Cutting off drops a task's job future, and dropping it is what
//! thaws: `hooks::HookRun` kills a running hook's process group and runs an
//! owed post hook (`SNAPKEEP_RESULT=aborted`) in its `Drop`, and the task
//! counts as ended only after that drop — so when `run_pass` returns, every
//! thaw owed has run. Each job's outcome is recorded as it ends, so a cut-off
//! task's finished jobs keep their real outcome; only the job it was in is
//! reported as cut off, and the rest as not started.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::api::{CallStats, Client};
use crate::clock::Clock;
use crate::config::{Clients, Config};
use crate::events::{Action, Event, Subject};
use crate::inventory::{self, Item, Poller, PollerHandle};
use crate::job::{Job, JobError, JobReport};
use crate::provider::Kind;

mod select;

#[cfg(test)]
mod testkit;

#[cfg(test)]
mod rule_tests;

#[cfg(test)]
mod chaos;

#[cfg(test)]
mod account_tests;

#[cfg(test)]
mod simulate_tests;
pub(crate) use select::{SelectError, select_jobs};

/// One scheduled unit of work: a policy on a server, for a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobSpec {
    pub(crate) server_id: u64,
    /// Index into `config.policies`.
    pub(crate) policy: usize,
    pub(crate) slot: DateTime<Utc>,
    /// Only finish what an interrupted pass started for this slot (wait for
    /// its item, prune); never create.
    pub(crate) resume_only: bool,
    /// The daemon fires this because the slot was missed (down, asleep, a
    /// clock jump): its one catch-up run. Said in the log; changes nothing.
    pub(crate) catch_up: bool,
    /// 0 for the scheduled fire; n for the n-th retry of the slot after a
    /// failure (`daemon::retry`).
    pub(crate) attempt: u32,
    /// When a retry's window closes (set on retries: `daemon::retry`).
    pub(crate) retry_until: Option<DateTime<Utc>>,
}

impl JobSpec {
    /// A regular job: create the slot's item if it does not exist.
    pub(crate) fn new(server_id: u64, policy: usize, slot: DateTime<Utc>) -> JobSpec {
        JobSpec {
            server_id,
            policy,
            slot,
            resume_only: false,
            catch_up: false,
            attempt: 0,
            retry_until: None,
        }
    }
}

/// API calls one pass made (its own, also while other passes run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ApiUse {
    pub(crate) calls: u64,
    pub(crate) retries: u64,
}

impl ApiUse {
    fn of(stats: &CallStats) -> ApiUse {
        ApiUse {
            calls: stats.total(),
            retries: stats.retries(),
        }
    }
}

/// How a job ended: what it did, and the error that stopped it, if any.
#[derive(Debug)]
pub(crate) struct JobOutcome {
    pub(crate) spec: JobSpec,
    /// As the provider names it (empty when nothing on the server showed it).
    pub(crate) server_name: String,
    pub(crate) policy_name: String,
    /// Kept also when the job failed: the deletions it made still happened.
    pub(crate) report: JobReport,
    pub(crate) error: Option<JobError>,
    pub(crate) duration: Duration,
}

/// Why a kind could not be listed: the message and the API error's kind.
type ListingError = (String, &'static str);

#[derive(Debug, Default)]
pub(crate) struct PassReport {
    pub(crate) outcomes: Vec<JobOutcome>,
    pub(crate) duration: Duration,
    /// The API calls this pass made.
    pub(crate) api: ApiUse,
}

impl PassReport {
    pub(crate) fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.error.is_some()).count()
    }

    /// Jobs of paused policies: nothing done (see `JobReport::paused`).
    pub(crate) fn paused(&self) -> usize {
        self.outcomes.iter().filter(|o| o.report.paused).count()
    }

    /// The failed jobs that failed because the pass was stopped (not
    /// started or cut off); counted in [`PassReport::failed`] too.
    pub(crate) fn interrupted(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.error, Some(JobError::Interrupted { .. })))
            .count()
    }
}

/// How a pass runs besides its jobs.
#[derive(Debug, Default, Clone)]
pub(crate) struct PassOptions {
    pub(crate) dry_run: bool,
    /// Told each server's id as soon as that server's jobs are over (the
    /// daemon frees the server for queued fires then, not at the pass's end).
    pub(crate) server_done: Option<ServerDone>,
    /// Asks the pass to stop early (`--run-now` on a signal); `None`: never.
    pub(crate) stop: Option<Stop>,
}

/// How far a pass has been asked to stop; each step includes the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum StopLevel {
    Run,
    /// Start no new job; jobs under way go on.
    Finish,
    /// Cut off the jobs under way too.
    Abort,
}

/// The pass's side of a stop request: see [`stop_channel`].
#[derive(Debug, Clone)]
pub(crate) struct Stop(watch::Receiver<StopLevel>);

/// The side that stops a pass: [`StopSender::finish`], then
/// [`StopSender::abort`] (the caller decides when: a timeout, a second
/// signal). Dropping it stops nothing.
#[derive(Debug)]
pub(crate) struct StopSender(watch::Sender<StopLevel>);

/// A new stop request, not yet made.
pub(crate) fn stop_channel() -> (StopSender, Stop) {
    let (tx, rx) = watch::channel(StopLevel::Run);
    (StopSender(tx), Stop(rx))
}

impl StopSender {
    /// Start no new job.
    pub(crate) fn finish(&self) {
        self.raise(StopLevel::Finish);
    }

    /// Cut off the jobs under way (implies `finish`).
    pub(crate) fn abort(&self) {
        self.raise(StopLevel::Abort);
    }

    fn raise(&self, to: StopLevel) {
        self.0.send_if_modified(|level| {
            let raised = *level < to;
            if raised {
                *level = to;
            }
            raised
        });
    }
}

impl Stop {
    /// Whether new jobs may no longer start.
    pub(crate) fn finishing(&self) -> bool {
        *self.0.borrow() >= StopLevel::Finish
    }

    /// Resolves once the level is at least `level`; never, if the sender is
    /// dropped before.
    async fn reached(&self, level: StopLevel) {
        let mut rx = self.0.clone();
        if rx.wait_for(|l| *l >= level).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Resolves once new jobs may no longer start.
    pub(crate) async fn stopping(&self) {
        self.reached(StopLevel::Finish).await;
    }
}

/// Resolves when `stop` asks to cut off the jobs under way; never without one.
async fn aborted(stop: Option<&Stop>) {
    match stop {
        Some(stop) => stop.reached(StopLevel::Abort).await,
        None => std::future::pending().await,
    }
}

/// Called with a server's account and id when its jobs in this pass are over.
#[derive(Clone)]
pub(crate) struct ServerDone(pub(crate) Arc<ServerDoneFn>);

/// What [`ServerDone`] calls: (account, server id).
pub(crate) type ServerDoneFn = dyn Fn(&str, u64) + Send + Sync;

impl std::fmt::Debug for ServerDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerDone(..)")
    }
}

/// Runs `jobs` (any order) and returns one outcome per job, sorted by
/// account (in the config's order), server, then policy — every job, also
/// those whose server task panicked. Each account's jobs run as a pass of
/// their own on that account's client (its listings, its poller, its
/// limiter), all at once: one account's outage or 401 fails only its jobs,
/// and server 7 of one account is not server 7 of another.
pub(crate) async fn run_pass(
    config: Arc<Config>,
    clients: Clients,
    clock: Arc<dyn Clock>,
    jobs: Vec<JobSpec>,
    options: PassOptions,
) -> PassReport {
    let started = Instant::now();
    let mut by_account: BTreeMap<usize, Vec<JobSpec>> = BTreeMap::new();
    for job in jobs {
        let account = &config.policies[job.policy].account;
        let index = config
            .accounts
            .iter()
            .position(|a| &a.name == account)
            .unwrap_or(usize::MAX);
        by_account.entry(index).or_default().push(job);
    }
    let mut passes = JoinSet::new();
    // What each account's pass was given: a pass that ended abnormally
    // still has its jobs in the report (rule 8).
    let mut given: HashMap<tokio::task::Id, Vec<JobSpec>> = HashMap::new();
    let mut report = PassReport::default();
    for (index, jobs) in by_account {
        let account = config.accounts.get(index).map(|a| a.name.clone());
        let Some((account, client)) =
            account.and_then(|a| clients.get(&a).cloned().map(|c| (a, c)))
        else {
            // Config and clients come from one load: never happens. Said,
            // not panicked on.
            report.outcomes.extend(panicked(
                &config,
                &jobs,
                "no API client for this job's account",
            ));
            continue;
        };
        let task = passes.spawn(run_account(
            Arc::clone(&config),
            account,
            client,
            Arc::clone(&clock),
            jobs.clone(),
            options.clone(),
        ));
        given.insert(task.id(), jobs);
    }
    while let Some(joined) = passes.join_next_with_id().await {
        match joined {
            Ok((_, part)) => {
                report.outcomes.extend(part.outcomes);
                report.api.calls += part.api.calls;
                report.api.retries += part.api.retries;
            }
            // A server task's panic is caught inside it; should the account
            // pass itself end abnormally, its jobs are reported as failed.
            Err(e) => {
                let message = panic_message(&e);
                tracing::error!(error = %message, "an account's pass ended abnormally; its jobs are reported as failed");
                let jobs = given.remove(&e.id()).unwrap_or_default();
                report.outcomes.extend(panicked(&config, &jobs, &message));
            }
        }
    }
    let account_index = |o: &JobOutcome| {
        let account = &config.policies[o.spec.policy].account;
        config.accounts.iter().position(|a| &a.name == account)
    };
    report
        .outcomes
        .sort_by_key(|o| (account_index(o), o.spec.server_id, o.spec.policy));
    report.duration = started.elapsed();
    report
}

/// One account's share of a pass: `run_pass` for the jobs whose policies
/// are in `account`, on its client.
async fn run_account(
    config: Arc<Config>,
    account: String,
    client: Client,
    clock: Arc<dyn Clock>,
    jobs: Vec<JobSpec>,
    options: PassOptions,
) -> PassReport {
    let started = Instant::now();
    let pass_stats = Arc::new(CallStats::default());
    let client = client.counting_into(Arc::clone(&pass_stats));
    let dry_run = options.dry_run;
    let mut by_server: BTreeMap<u64, Vec<JobSpec>> = BTreeMap::new();
    for job in jobs {
        by_server.entry(job.server_id).or_default().push(job);
    }
    for list in by_server.values_mut() {
        list.sort_by_key(|j| j.policy);
    }

    // One listing per kind for the whole pass.
    // The handles keep the pollers running until the pass ends.
    let Some((mut inventories, poller_handles)) =
        list_kinds(&config, &client, &by_server, options.stop.as_ref()).await
    else {
        let outcomes = by_server
            .into_values()
            .flatten()
            .map(|spec| interrupted(&config, spec, String::new(), false))
            .collect();
        return PassReport {
            outcomes,
            duration: started.elapsed(),
            api: ApiUse::of(&pass_stats),
        };
    };
    let pollers: Arc<HashMap<Kind, Arc<Poller>>> = Arc::new(
        poller_handles
            .iter()
            .map(|(k, h)| (*k, Arc::clone(h.poller())))
            .collect(),
    );

    let mut tasks = JoinSet::new();
    // What each task was given, so a panicked or cut-off task's jobs are
    // still reported. (Shared with the task, not copied: a fleet has thousands.)
    let mut given: HashMap<tokio::task::Id, Arc<[JobSpec]>> = HashMap::new();
    let control = Arc::new(PassControl {
        stop: options.stop.clone(),
        ended: Mutex::new(Vec::new()),
    });
    for (server_id, specs) in by_server {
        // Each server's items move into its task (a fleet's inventory is
        // held once, not once in the listing and again in the tasks).
        let items = take_items(&mut inventories, server_id);
        let specs: Arc<[JobSpec]> = specs.into();
        let task = tasks.spawn(
            ServerTask {
                config: Arc::clone(&config),
                client: client.clone(),
                clock: Arc::clone(&clock),
                pollers: Arc::clone(&pollers),
                specs: Arc::clone(&specs),
                items,
                dry_run,
                control: Arc::clone(&control),
            }
            .run(),
        );
        given.insert(task.id(), specs);
    }
    let mut lost = join_servers(&account, tasks, given, &config, &control, &options).await;
    let mut outcomes = control.take();
    outcomes.append(&mut lost);
    outcomes.sort_by_key(|o| (o.spec.server_id, o.spec.policy));
    drop(pollers);
    for ((endpoint, status), n) in client.stats().snapshot() {
        tracing::debug!(
            endpoint = endpoint.as_str(),
            status,
            calls = n,
            "API calls so far"
        );
    }
    PassReport {
        outcomes,
        duration: started.elapsed(),
        api: ApiUse::of(&pass_stats),
    }
}

/// Waits for every server task of `account`; tells `options.server_done`
/// of each server as its task ends; cuts the tasks off when the pass is told to
/// abort. The outcomes of jobs whose task did not end them (cut off, or a
/// panic); the others are in `control`.
async fn join_servers(
    account: &str,
    mut tasks: JoinSet<()>,
    mut given: HashMap<tokio::task::Id, Arc<[JobSpec]>>,
    config: &Config,
    control: &PassControl,
    options: &PassOptions,
) -> Vec<JobOutcome> {
    let mut lost = Vec::new();
    let mut cut_off = false;
    loop {
        let joined = tokio::select! {
            joined = tasks.join_next_with_id() => match joined {
                Some(joined) => joined,
                None => break,
            },
            () = aborted(options.stop.as_ref()), if !cut_off => {
                tracing::warn!(
                    servers = tasks.len(),
                    "cutting off the jobs still under way; a post hook they owe runs first"
                );
                cut_off = true;
                tasks.abort_all();
                continue;
            }
        };
        let id = match joined {
            Ok((id, ())) => id,
            Err(e) => {
                let id = e.id();
                if let Some(specs) = given.get(&id) {
                    lost.extend(lost_jobs(config, control, specs, &e, cut_off));
                }
                id
            }
        };
        if let (Some(done), Some(spec)) =
            (&options.server_done, given.get(&id).and_then(|s| s.first()))
        {
            (done.0)(account, spec.server_id);
        }
        given.remove(&id);
    }
    lost
}

/// Each kind's listing of the pass's servers (or why it failed) and a
/// completion poller per kind listed (running while its handle lives);
/// `None` when the pass was cut off while listing.
async fn list_kinds(
    config: &Config,
    client: &Client,
    by_server: &BTreeMap<u64, Vec<JobSpec>>,
    stop: Option<&Stop>,
) -> Option<(Listings, HashMap<Kind, PollerHandle>)> {
    let mut inventories: Listings = HashMap::new();
    let mut pollers: HashMap<Kind, PollerHandle> = HashMap::new();
    for kind in Kind::ALL {
        let servers: Vec<u64> = by_server
            .iter()
            .filter(|(_, js)| js.iter().any(|j| config.policies[j.policy].kind == kind))
            .map(|(s, _)| *s)
            .collect();
        if servers.is_empty() {
            continue;
        }
        let fetched = tokio::select! {
            fetched = inventory::fetch(client, kind, &servers) => fetched,
            () = aborted(stop) => {
                tracing::warn!("the pass was stopped while listing {}; no job ran", kind.plural());
                return None;
            }
        };
        let listed = fetched
            .map(inventory::by_server)
            .map_err(|e| (format!("listing {} failed: {e}", kind.plural()), e.kind()));
        inventories.insert(kind, listed);
        pollers.insert(kind, start_poller(config, client, kind));
    }
    Some((inventories, pollers))
}

/// Each kind's listing for the pass, by server, or why it failed.
type Listings = HashMap<Kind, Result<HashMap<u64, Vec<Item>>, ListingError>>;

/// The completion poller of `kind`: as often as its most eager policy
/// asks.
fn start_poller(config: &Config, client: &Client, kind: Kind) -> PollerHandle {
    let of_kind = || config.policies.iter().filter(|p| p.kind == kind);
    let interval = of_kind()
        .map(|p| p.poll_interval)
        .min()
        .unwrap_or(Duration::from_secs(15));
    // A listing deferred while the API is busy (see `Poller::start`)
    // still leaves every wait three quarters of its wait_timeout.
    let max_defer = of_kind()
        .map(|p| p.wait_timeout / 4)
        .min()
        .unwrap_or(Duration::from_secs(60));
    Poller::start(client.clone(), kind, interval, max_defer)
}

/// Moves `server_id`'s items of each kind out of the pass's listings.
fn take_items(inventories: &mut Listings, server_id: u64) -> ServerItems {
    let mut items: ServerItems = Vec::with_capacity(inventories.len());
    for (kind, inv) in inventories {
        items.push((
            *kind,
            match inv {
                Ok(map) => Ok(map.remove(&server_id).unwrap_or_default()),
                Err(e) => Err(e.clone()),
            },
        ));
    }
    items
}

/// The outcomes of a task's jobs that did not end (it panicked, or the pass
/// cut it off): the jobs that ended before keep their own.
fn lost_jobs(
    config: &Config,
    control: &PassControl,
    specs: &[JobSpec],
    e: &tokio::task::JoinError,
    cut_off: bool,
) -> Vec<JobOutcome> {
    let ended = control.ended_on(specs[0].server_id);
    let rest: Vec<JobSpec> = specs
        .iter()
        .filter(|s| !ended.contains(&s.policy))
        .cloned()
        .collect();
    if e.is_cancelled() && cut_off {
        return rest
            .iter()
            .enumerate()
            .map(|(i, spec)| interrupted(config, spec.clone(), String::new(), i == 0))
            .collect();
    }
    let message = panic_message(e);
    tracing::error!(error = %message, "a server's task panicked; its jobs are reported as failed");
    panicked(config, &rest, &message)
}

/// What every server task of a pass shares: the stop request, and the
/// outcome of each job as it ends (so a task cut off or panicking mid-way
/// loses none of the jobs it finished).
/// Every this many ended jobs a pass hands free heap pages back. A fleet's
/// server tasks end one by one, each freeing its place in pages that tasks
/// still under way share, and glibc returns a page only when asked: a
/// 5000-server pass grew by 7 MiB over its second half while its live heap
/// shrank (BENCHMARKS.md, "Memory: the arenas and the thresholds").
const TRIM_EVERY: usize = 256;

#[derive(Debug)]
struct PassControl {
    stop: Option<Stop>,
    ended: Mutex<Vec<JobOutcome>>,
}

impl PassControl {
    fn record(&self, outcome: JobOutcome) {
        let mut ended = self.lock();
        ended.push(outcome);
        let trim = ended.len() % TRIM_EVERY == 0;
        drop(ended);
        if trim {
            crate::memory::release_free_memory();
        }
    }

    /// The policies (indexes) whose jobs on `server` have ended.
    fn ended_on(&self, server: u64) -> HashSet<usize> {
        self.lock()
            .iter()
            .filter(|o| o.spec.server_id == server)
            .map(|o| o.spec.policy)
            .collect()
    }

    fn take(&self) -> Vec<JobOutcome> {
        std::mem::take(&mut *self.lock())
    }

    /// A task that panicked while holding the lock left whole outcomes
    /// behind (a push is not interrupted half-way): keep them.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<JobOutcome>> {
        self.ended
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The outcome of a job the pass was stopped around: `started` when it was
/// under way and cut off, else it never started.
fn interrupted(config: &Config, spec: JobSpec, server_name: String, started: bool) -> JobOutcome {
    JobOutcome {
        policy_name: config
            .policies
            .get(spec.policy)
            .map(|p| p.name.clone())
            .unwrap_or_default(),
        spec,
        server_name,
        report: JobReport::default(),
        error: Some(JobError::Interrupted { started }),
        duration: Duration::ZERO,
    }
}

/// The outcomes of jobs whose task panicked: failed, with the panic's text.
fn panicked(config: &Config, specs: &[JobSpec], message: &str) -> Vec<JobOutcome> {
    specs
        .iter()
        .map(|spec| JobOutcome {
            spec: spec.clone(),
            server_name: String::new(),
            policy_name: config
                .policies
                .get(spec.policy)
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            report: JobReport::default(),
            error: Some(JobError::Panicked {
                message: message.to_owned(),
            }),
            duration: Duration::ZERO,
        })
        .collect()
}

fn panic_message(e: &tokio::task::JoinError) -> String {
    if e.is_cancelled() {
        return "the task was cancelled".to_owned();
    }
    // The payload itself is not reachable through a shared reference; the
    // panic hook already printed it with its location.
    format!("a server task panicked ({e})")
}

/// A server's items by kind (at most two kinds: a list beats a map), or why
/// that kind could not be listed.
type ServerItems = Vec<(Kind, Result<Vec<Item>, ListingError>)>;

/// The next job a server task runs: its specs in order, then the second
/// tries of jobs refused for room (with their first try's deletions).
fn next_job(
    specs: &[JobSpec],
    again: &mut [(JobSpec, Vec<Item>)],
    next: &mut usize,
) -> Option<(JobSpec, Option<Vec<Item>>)> {
    let i = *next;
    *next += 1;
    if let Some(spec) = specs.get(i) {
        return Some((spec.clone(), None));
    }
    let (spec, deleted) = again.get_mut(i - specs.len())?;
    Some((spec.clone(), Some(std::mem::take(deleted))))
}

/// The jobs of one server, one after another, each outcome recorded in
/// `control` as it ends; once the pass is stopping, the jobs not yet started
/// are recorded as not started. Spawned as it is ([`ServerTask::run`]): a
/// fleet holds one per server for the whole pass, so its size is memory per
/// server (BENCHMARKS.md, "Memory: what keeps a waiting job small").
struct ServerTask {
    config: Arc<Config>,
    client: Client,
    clock: Arc<dyn Clock>,
    pollers: Arc<HashMap<Kind, Arc<Poller>>>,
    specs: Arc<[JobSpec]>,
    items: ServerItems,
    dry_run: bool,
    control: Arc<PassControl>,
}

impl ServerTask {
    /// Runs the server's jobs in policy order. A job refused for room gets
    /// one more try after the server's other jobs of its kind: another
    /// policy pruning its own may free a place (its first try's deletions
    /// stay in its report).
    // An `async move` block, not an async fn, which would keep `self`
    // twice (BENCHMARKS.md, "Memory: what keeps a waiting job small").
    #[allow(clippy::manual_async_fn)]
    fn run(mut self) -> impl Future<Output = ()> + Send + 'static {
        async move {
            #[cfg(test)]
            if self
                .specs
                .first()
                .is_some_and(|s| s.server_id == PANICKING_SERVER)
            {
                panic!("test: server {PANICKING_SERVER} panics by design");
            }
            let mut server_name = self.server_name();
            // A job refused for room gets one more try after the server's
            // other jobs of its kind: another policy pruning its own may
            // free a place (its first try's deletions stay in its report).
            // Only a refused job's spec and deletions are kept for it
            // (empty: no allocation; every waiting task carries this,
            // BENCHMARKS.md "Memory").
            let mut again: Vec<(JobSpec, Vec<Item>)> = Vec::new();
            let mut next = 0;
            while let Some((spec, first_deleted)) = next_job(&self.specs, &mut again, &mut next) {
                let control = Arc::clone(&self.control);
                if control.stop.as_ref().is_some_and(Stop::finishing) {
                    control.record(interrupted(&self.config, spec, server_name.clone(), false));
                    continue;
                }
                let started = Instant::now();
                let mut report = JobReport {
                    server_name: server_name.clone(),
                    ..JobReport::default()
                };
                let result = self.job(&spec, &mut report).await;
                if server_name.is_empty() {
                    server_name.clone_from(&report.server_name);
                }
                let config = Arc::clone(&self.config);
                let kind = config.policies[spec.policy].kind;
                let same_kind_later = self
                    .specs
                    .get(next..)
                    .unwrap_or_default()
                    .iter()
                    .chain(
                        again
                            .iter()
                            .skip(next.saturating_sub(self.specs.len()))
                            .map(|(s, _)| s),
                    )
                    .any(|s| config.policies[s.policy].kind == kind);
                if matches!(result, Err(JobError::Refused { .. }))
                    && first_deleted.is_none()
                    && same_kind_later
                {
                    again.push((spec, std::mem::take(&mut report.deleted)));
                    continue;
                }
                if let Some(mut deleted) = first_deleted {
                    deleted.append(&mut report.deleted);
                    report.deleted = deleted;
                }
                control.record(JobOutcome {
                    server_name: server_name.clone(),
                    policy_name: config.policies[spec.policy].name.clone(),
                    spec,
                    report,
                    error: result.err(),
                    duration: started.elapsed(),
                });
            }
        }
    }

    /// The server's name as the provider lists it (empty when no item says).
    fn server_name(&self) -> String {
        self.items
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .flatten()
            .map(|i| i.server_name.clone())
            .find(|n| !n.is_empty())
            .unwrap_or_default()
    }

    /// One job on the server's items of its kind: nothing when its policy
    /// is paused, the listing's error when that kind could not be listed.
    async fn job(&mut self, spec: &JobSpec, report: &mut JobReport) -> Result<(), JobError> {
        let policy = &self.config.policies[spec.policy];
        let subject = |server_name| Subject {
            account: &policy.account,
            server_id: spec.server_id,
            server_name,
            policy: &policy.name,
        };
        if !policy.enabled {
            // Paused means nothing created and nothing pruned, whoever
            // asked (`--run-now --policy`, a fire from before a reload).
            report.paused = true;
            Event::new(Action::Skip, subject(&report.server_name))
                .reason("paused (enabled = false): nothing created, nothing pruned")
                .emit();
            return Ok(());
        }
        let inventory = self
            .items
            .iter_mut()
            .find(|(kind, _)| *kind == policy.kind)
            .map(|(_, inv)| inv);
        let server_items = match inventory {
            Some(Ok(server_items)) => server_items,
            Some(Err((message, kind))) => {
                Event::new(Action::Fail, subject(""))
                    .reason(message)
                    .failed()
                    .emit();
                return Err(JobError::Listing {
                    message: message.clone(),
                    kind,
                });
            }
            None => {
                return Err(JobError::Panicked {
                    message: format!("{} were not listed", policy.kind.plural()),
                });
            }
        };
        let Some(poller) = self.pollers.get(&policy.kind) else {
            return Err(JobError::Panicked {
                message: format!("no poller for {}", policy.kind.plural()),
            });
        };
        let job = Job {
            client: &self.client,
            poller,
            policy,
            all_policies: &self.config.policies,
            server_id: spec.server_id,
            slot: spec.slot,
            clock: &*self.clock,
            dry_run: self.dry_run,
            resume_only: spec.resume_only,
        };
        job.run(server_items, report).await
    }
}

/// In tests, the task of this server panics (how else would a bug show?).
#[cfg(test)]
pub(crate) const PANICKING_SERVER: u64 = 4242;

/// The human summary: one line per job, then a total.
pub(crate) fn summary(report: &PassReport, dry_run: bool) -> String {
    summary_with(report, dry_run, &|_| None)
}

/// [`summary`] of a pass of `config`: with several accounts, each line
/// names its job's account (`account a server 7 …`).
pub(crate) fn summary_of(config: &Config, report: &PassReport, dry_run: bool) -> String {
    summary_with(report, dry_run, &|o| {
        config
            .several_accounts()
            .then(|| {
                config
                    .policies
                    .get(o.spec.policy)
                    .map(|p| p.account.clone())
            })
            .flatten()
    })
}

/// The summary, each job's server prefixed by what `account` says.
fn summary_with(
    report: &PassReport,
    dry_run: bool,
    account: &dyn Fn(&JobOutcome) -> Option<String>,
) -> String {
    let mut out = String::new();
    let (mut created, mut deleted) = (0, 0);
    for o in &report.outcomes {
        let server = match (o.server_name.is_empty(), account(o)) {
            (true, None) => o.spec.server_id.to_string(),
            (false, None) => format!("{} ({})", o.spec.server_id, o.server_name),
            (true, Some(a)) => format!("{} of account {a}", o.spec.server_id),
            (false, Some(a)) => format!("{} ({}) of account {a}", o.spec.server_id, o.server_name),
        };
        let r = &o.report;
        created += usize::from(r.created.is_some()) + usize::from(r.would_create().is_some());
        deleted += r.deleted.len() + r.would_delete().len();
        let line = job_line(o, &server, job_parts(r));
        out.push_str(&line);
        out.push_str(&format!(" [{:.1}s]\n", o.duration.as_secs_f64()));
    }
    let total = report.outcomes.len();
    let failed = report.failed();
    let paused = report.paused();
    let interrupted = match report.interrupted() {
        0 => String::new(),
        n => format!(" ({n} interrupted)"),
    };
    out.push_str(&format!(
        "{}{total} job(s): {} ok, {failed} failed{interrupted}{}; {} {created}, {} {deleted}; {} API call(s), {} retried, in {:.1}s\n",
        if dry_run { "DRY RUN — nothing was changed. " } else { "" },
        total - failed - paused,
        if paused > 0 {
            format!(", {paused} paused")
        } else {
            String::new()
        },
        if dry_run { "would create" } else { "created" },
        if dry_run { "would delete" } else { "deleted" },
        report.api.calls,
        report.api.retries,
        report.duration.as_secs_f64()
    ));
    out
}

/// What one job did, in words: created, adopted, deleted, paused…
fn job_parts(r: &JobReport) -> Vec<String> {
    let mut parts = Vec::new();
    if let Some(c) = &r.created {
        parts.push(format!("created #{} {}", c.id, c.label));
    }
    if let Some(a) = &r.adopted {
        parts.push(format!(
            "adopted #{} {} (made by another writer or by a create whose answer was lost)",
            a.id, a.label
        ));
    }
    if let Some(label) = r.would_create() {
        parts.push(format!("would create {label}"));
    }
    parts.extend(r.would_run_hooks().iter().cloned());
    if let Some(e) = r.crash_consistent() {
        parts.push(format!(
            "pre_hook failed, created anyway (only crash-consistent): {e}"
        ));
    }
    if r.paused {
        parts.push(
            "paused (enabled = false): nothing created, nothing pruned; set enabled = true to run it"
                .to_owned(),
        );
    }
    if r.nothing_to_resume {
        parts.push("nothing left unfinished for this slot (missed = \"skip\")".to_owned());
    }
    if r.slot_taken && r.created.is_none() && r.adopted.is_none() {
        parts.push("slot already taken, nothing created".to_owned());
    }
    for d in &r.deleted {
        parts.push(format!("deleted #{} {}", d.id, d.label));
    }
    for (d, why) in r.would_delete() {
        parts.push(format!("would delete #{} {} ({why})", d.id, d.label));
    }
    let h = &r.holdings;
    if h.shortfall > 0 {
        parts.push(format!(
            "holds at most {} here, {} fewer than its keep rules ask: {} item(s) on the server are not this policy's to delete",
            h.can_hold,
            h.shortfall,
            h.not_ours + h.protected
        ));
    }
    parts
}

/// One job's line of the summary (without its duration).
fn job_line(o: &JobOutcome, server: &str, mut parts: Vec<String>) -> String {
    let r = &o.report;
    match &o.error {
        None if r.paused => format!(
            "PAUSED  server {server} policy {}: {}",
            o.policy_name,
            parts.join("; ")
        ),
        None => {
            if parts.is_empty() {
                parts.push("nothing to do".to_owned());
            }
            format!(
                "ok      server {server} policy {}: {}",
                o.policy_name,
                parts.join("; ")
            )
        }
        Some(e) => {
            let done = if parts.is_empty() {
                String::new()
            } else {
                format!(" [before that: {}]", parts.join("; "))
            };
            format!(
                "FAILED  server {server} policy {} ({}): {e}{done}",
                o.policy_name,
                e.kind()
            )
        }
    }
}
