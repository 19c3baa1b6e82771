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
//! that for every task at once. Tasks are kept small (about 1.4 KB each):
//! a job's creates and deletes wait for the limiter's admission before
//! their request state is allocated, and the completion poller keeps only
//! the items someone waits for.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use crate::api::Client;
use crate::clock::Clock;
use crate::config::{Config, Kind};
use crate::events::{Action, Detail, Subject, emit};
use crate::inventory::{self, Item, Poller, PollerHandle};
use crate::rotation::{Job, JobError, JobReport};

/// One scheduled unit of work: a policy on a server, for a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobSpec {
    pub(crate) server_id: u64,
    /// Index into `config.policies`.
    pub(crate) policy: usize,
    pub(crate) slot: DateTime<Utc>,
}

/// API calls a pass made (a difference of the client's counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ApiUse {
    pub(crate) calls: u64,
    pub(crate) retries: u64,
}

impl ApiUse {
    pub(crate) fn of(client: &Client) -> ApiUse {
        ApiUse {
            calls: client.stats().total(),
            retries: client.stats().retries(),
        }
    }

    pub(crate) fn since(self, before: ApiUse) -> ApiUse {
        ApiUse {
            calls: self.calls - before.calls,
            retries: self.retries - before.retries,
        }
    }
}

/// How a job ended.
#[derive(Debug)]
pub(crate) struct JobOutcome {
    pub(crate) spec: JobSpec,
    /// As the provider names it (empty when nothing on the server showed it).
    pub(crate) server_name: String,
    pub(crate) policy_name: String,
    pub(crate) result: Result<JobReport, JobError>,
    pub(crate) duration: Duration,
}

/// Why a kind could not be listed: the message and the API error's kind.
type ListingError = (String, &'static str);

#[derive(Debug, Default)]
pub(crate) struct PassReport {
    pub(crate) outcomes: Vec<JobOutcome>,
    pub(crate) duration: Duration,
}

impl PassReport {
    pub(crate) fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.result.is_err()).count()
    }
}

/// Runs `jobs` (any order) and returns one outcome per job, sorted by server then policy.
pub(crate) async fn run_pass(
    config: Arc<Config>,
    client: Client,
    clock: Arc<dyn Clock>,
    jobs: Vec<JobSpec>,
    dry_run: bool,
) -> PassReport {
    let started = Instant::now();
    let mut by_server: BTreeMap<u64, Vec<JobSpec>> = BTreeMap::new();
    for job in jobs {
        by_server.entry(job.server_id).or_default().push(job);
    }
    for list in by_server.values_mut() {
        list.sort_by_key(|j| j.policy);
    }

    // One listing per kind for the whole pass.
    let mut inventories: HashMap<Kind, Result<HashMap<u64, Vec<Item>>, ListingError>> =
        HashMap::new();
    let mut pollers: HashMap<Kind, PollerHandle> = HashMap::new();
    for kind in [Kind::Snapshot, Kind::Backup] {
        let servers: Vec<u64> = by_server
            .iter()
            .filter(|(_, js)| js.iter().any(|j| config.policies[j.policy].kind == kind))
            .map(|(s, _)| *s)
            .collect();
        if servers.is_empty() {
            continue;
        }
        let listed = inventory::fetch(&client, kind, &servers)
            .await
            .map(inventory::by_server)
            .map_err(|e| (format!("listing {} failed: {e}", kind.plural()), e.kind()));
        inventories.insert(kind, listed);
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
        pollers.insert(
            kind,
            Poller::start(client.clone(), kind, interval, max_defer),
        );
    }
    let pollers: Arc<HashMap<Kind, Arc<Poller>>> = Arc::new(
        pollers
            .iter()
            .map(|(k, h)| (*k, Arc::clone(h.poller())))
            .collect(),
    );

    let mut tasks = JoinSet::new();
    for (server_id, mut specs) in by_server {
        // Each server's items move into its task (a fleet's inventory is
        // held once, not once in the listing and again in the tasks).
        let mut items: ServerItems = Vec::with_capacity(inventories.len());
        for (kind, inv) in &mut inventories {
            items.push((
                *kind,
                match inv {
                    Ok(map) => Ok(map.remove(&server_id).unwrap_or_default()),
                    Err(e) => Err(e.clone()),
                },
            ));
        }
        specs.shrink_to_fit();
        tasks.spawn(run_server(
            Arc::clone(&config),
            client.clone(),
            Arc::clone(&clock),
            Arc::clone(&pollers),
            specs,
            items,
            dry_run,
        ));
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(mut o) => outcomes.append(&mut o),
            Err(e) => {
                tracing::error!(error = %e, "a server's task panicked; its jobs are lost from the report")
            }
        }
    }
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
    }
}

/// A server's items by kind (at most two kinds: a list beats a map), or why
/// that kind could not be listed.
type ServerItems = Vec<(Kind, Result<Vec<Item>, ListingError>)>;

/// The jobs of one server, one after another. Takes its arguments by value
/// and is spawned as it is: a fleet holds one of these per server for the
/// whole pass, so its size is memory per server (the job's big API futures
/// are boxed inside `Job::run` for the same reason).
async fn run_server(
    config: Arc<Config>,
    client: Client,
    clock: Arc<dyn Clock>,
    pollers: Arc<HashMap<Kind, Arc<Poller>>>,
    specs: Vec<JobSpec>,
    mut items: ServerItems,
    dry_run: bool,
) -> Vec<JobOutcome> {
    let now = move || clock.now();
    let mut out = Vec::new();
    let mut server_name = items
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .flatten()
        .map(|i| i.server_name.clone())
        .find(|n| !n.is_empty())
        .unwrap_or_default();
    for spec in specs {
        let policy = &config.policies[spec.policy];
        let started = Instant::now();
        let result = match items
            .iter_mut()
            .find(|(kind, _)| *kind == policy.kind)
            .map(|(_, inv)| inv)
        {
            Some(Ok(server_items)) => {
                let job = Job {
                    client: &client,
                    poller: &pollers[&policy.kind],
                    policy,
                    all_policies: &config.policies,
                    server_id: spec.server_id,
                    slot: spec.slot,
                    now: &now,
                    dry_run,
                };
                job.run(server_items).await
            }
            Some(Err((message, kind))) => {
                emit(
                    Action::Fail,
                    Subject {
                        server_id: spec.server_id,
                        server_name: "",
                        policy: &policy.name,
                    },
                    Detail {
                        reason: message,
                        outcome: "error",
                        ..Detail::default()
                    },
                );
                Err(JobError::Listing {
                    message: message.clone(),
                    kind,
                })
            }
            None => unreachable!("every kind with jobs was listed"),
        };
        if let Ok(r) = &result {
            if server_name.is_empty() {
                server_name.clone_from(&r.server_name);
            }
        }
        out.push(JobOutcome {
            server_name: server_name.clone(),
            policy_name: policy.name.clone(),
            spec,
            result,
            duration: started.elapsed(),
        });
    }
    out
}

/// The human summary: one line per job, then a total.
pub(crate) fn summary(report: &PassReport, api: ApiUse, dry_run: bool) -> String {
    let mut out = String::new();
    let (mut created, mut deleted) = (0, 0);
    for o in &report.outcomes {
        let server = if o.server_name.is_empty() {
            o.spec.server_id.to_string()
        } else {
            format!("{} ({})", o.spec.server_id, o.server_name)
        };
        let line = match &o.result {
            Ok(r) => {
                let mut parts = Vec::new();
                if let Some(c) = &r.created {
                    created += 1;
                    parts.push(format!("created #{} {}", c.id, c.label));
                }
                if let Some(label) = &r.would_create {
                    created += 1;
                    parts.push(format!("would create {label}"));
                }
                if r.slot_taken {
                    parts.push("slot already taken, nothing created".to_owned());
                }
                deleted += r.deleted.len() + r.would_delete.len();
                for d in &r.deleted {
                    parts.push(format!("deleted #{} {}", d.id, d.label));
                }
                for (d, why) in &r.would_delete {
                    parts.push(format!("would delete #{} {} ({why})", d.id, d.label));
                }
                if parts.is_empty() {
                    parts.push("nothing to do".to_owned());
                }
                format!(
                    "ok      server {server} policy {}: {}",
                    o.policy_name,
                    parts.join("; ")
                )
            }
            Err(e) => format!(
                "FAILED  server {server} policy {} ({}): {e}",
                o.policy_name,
                e.kind()
            ),
        };
        out.push_str(&line);
        out.push_str(&format!(" [{:.1}s]\n", o.duration.as_secs_f64()));
    }
    let total = report.outcomes.len();
    let failed = report.failed();
    out.push_str(&format!(
        "{}{total} job(s): {} ok, {failed} failed; {} {created}, {} {deleted}; {} API call(s), {} retried, in {:.1}s\n",
        if dry_run { "DRY RUN — nothing was changed. " } else { "" },
        total - failed,
        if dry_run { "would create" } else { "created" },
        if dry_run { "would delete" } else { "deleted" },
        api.calls,
        api.retries,
        report.duration.as_secs_f64()
    ));
    out
}
