//! What the in-process rotation tests share: the real client, poller, job
//! and pass, driven against the in-process simulator on loopback with a
//! fixed clock, and quick settings so a whole pass takes milliseconds.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::api::{ApiToken, CallStats, Client, ClientSettings};
use crate::clock::{Clock, FixedClock};
use crate::config::{self, Config};
use crate::pass::{self, JobSpec, PassOptions, PassReport};
use snapkeep_sim::{Endpoint, FaultSpec, Faults, Seed, SimConfig, SimStatus, Simulator};

/// How long simulated creates take.
pub(crate) const COMPLETE_AFTER: Duration = Duration::from_millis(30);

/// How long the test client looks for a create whose outcome is unknown
/// before it sends it again (`api.list_lag`).
pub(crate) const LIST_LAG: Duration = Duration::from_millis(300);

/// Policies get these waits unless a test says otherwise.
pub(crate) const DEFAULTS: &str =
    "[defaults]\npoll_interval = \"10ms\"\nwait_timeout = \"600ms\"\n\n";

pub(crate) fn at(s: &str) -> DateTime<Utc> {
    s.parse()
        .unwrap_or_else(|e| panic!("bad test time {s:?}: {e}"))
}

pub(crate) async fn simulator(seed: Seed, faults: Faults, rng_seed: u64) -> Simulator {
    Simulator::start(
        "127.0.0.1:0".parse().expect("loopback"),
        SimConfig {
            complete_after: COMPLETE_AFTER,
            seed,
            faults,
            rng_seed,
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator starts")
}

/// A client with production logic and test-sized waits.
pub(crate) fn client(sim: &Simulator) -> Client {
    let mut s = ClientSettings::new(sim.base_url(), ApiToken::new(sim.token()));
    s.timeout = Duration::from_secs(5);
    s.connect_timeout = Duration::from_secs(2);
    s.min_backoff = Duration::from_millis(1);
    s.max_backoff = Duration::from_millis(5);
    s.max_retries = 6;
    s.retry_deadline = Duration::from_secs(3);
    s.list_lag = LIST_LAG;
    s.requests_per_second = 0.0;
    s.max_concurrency = 4;
    Client::with_stats(s, Arc::new(CallStats::default())).expect("client builds")
}

/// The test client with some settings changed (`max_retries`, `list_lag`…).
pub(crate) fn client_with(sim: &Simulator, change: impl FnOnce(&mut ClientSettings)) -> Client {
    let mut settings = client(sim).settings().clone();
    change(&mut settings);
    Client::with_stats(settings, Arc::new(CallStats::default())).expect("client builds")
}

/// Server 1 ("web-01") alone, with `spec` as the snapshot creates' faults.
pub(crate) async fn web01_with_create_faults(spec: FaultSpec, rng_seed: u64) -> Simulator {
    simulator(
        Seed::empty().server(1, "web-01"),
        Faults::none().with_endpoint(Endpoint::SnapshotsCreate, spec),
        rng_seed,
    )
    .await
}

/// Parses policies (prefixed with [`DEFAULTS`]).
pub(crate) fn config(policies: &str) -> Arc<Config> {
    let text = format!("{DEFAULTS}{policies}");
    Arc::new(config::parse_str(&text, "test.toml").unwrap_or_else(|e| panic!("{e}\n{text}")))
}

/// Every (server, policy) of `config` for its latest slot at `now`.
pub(crate) fn jobs(config: &Config, now: DateTime<Utc>) -> Vec<JobSpec> {
    crate::pass::select_jobs(config, &[], &[], false, now).expect("jobs")
}

/// One real pass at the fixed time `now`.
pub(crate) async fn pass(
    config: &Arc<Config>,
    client: &Client,
    now: DateTime<Utc>,
    jobs: Vec<JobSpec>,
) -> PassReport {
    let clock: Arc<dyn Clock> = Arc::new(FixedClock(now));
    pass::run_pass(
        Arc::clone(config),
        client.clone().into(),
        clock,
        jobs,
        PassOptions::default(),
    )
    .await
}

/// The time most tests run at: ten seconds into the 2025-02-01 03:00 slot.
pub(crate) const NOW: &str = "2025-02-01T03:00:10Z";

/// The policy most tests rotate: daily at 03:00 on server 1, keeping 3.
pub(crate) const NIGHTLY: &str = "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 3\n";

/// One real pass of every job of `config` at [`NOW`].
pub(crate) async fn pass_now(config: &Arc<Config>, client: &Client) -> PassReport {
    let now = at(NOW);
    pass(config, client, now, jobs(config, now)).await
}

/// Server 1 ("web-01") with a completed "nightly" snapshot for each slot.
pub(crate) fn web01_with_nightly(slots: &[&str]) -> Seed {
    slots
        .iter()
        .fold(Seed::empty().server(1, "web-01"), |seed, slot| {
            seed.ours(1, "nightly", slot, SimStatus::Completed)
        })
}

/// Seeds with snapshots named as `policy` names them.
pub(crate) trait SeedOurs {
    /// A snapshot of `policy` for `slot` on `server`, created at the slot.
    fn ours(self, server: u64, policy: &str, slot: &str, status: SimStatus) -> Seed;
}

impl SeedOurs for Seed {
    fn ours(self, server: u64, policy: &str, slot: &str, status: SimStatus) -> Seed {
        self.snapshot(server, snap(policy, slot), at(slot), status)
    }
}

/// The snapshot name a policy writes for `slot`.
pub(crate) fn snap(policy: &str, slot: &str) -> String {
    crate::naming::label_for(
        crate::provider::Kind::Snapshot,
        "snapkeep",
        policy,
        at(slot),
        None,
    )
}

/// Names of the snapshots on `server`, sorted.
pub(crate) fn names(sim: &Simulator, server: u64) -> Vec<String> {
    let mut v: Vec<String> = sim
        .snapshots(Some(server))
        .into_iter()
        .map(|s| s.name)
        .collect();
    v.sort();
    v
}

/// (method, path) of every request the simulator answered, in order.
pub(crate) fn calls(sim: &Simulator) -> Vec<(String, String)> {
    sim.requests()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect()
}
