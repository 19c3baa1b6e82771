//! `simulate` tells the truth: random policies on small fleets, driven day
//! by day through `simulate`'s core (`commands::simulate::play`) and
//! through real passes (`pass::run_pass` against the simulator, on a fixed
//! clock, items completing in milliseconds), must create, delete and
//! refuse the same, in the same order, every day, and leave the same items.
//!
//! Random: 1–3 snapshot policies (keep_last / keep_daily / keep_weekly,
//! daily or weekday schedules) on one or two servers, seeded with manual
//! items, earlier items of the policies, a failed one, and protected ids,
//! often at the cap. `cargo test --lib simulate_tests` runs [`CASES`]; for
//! a longer run: `SNAPKEEP_AGREEMENT_CASES=500 cargo test --release --lib
//! simulate_tests`. A failure prints the smallest case proptest found.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

use super::testkit::{DEFAULTS, at, client, jobs, pass, simulator};
use crate::api::Status;
use crate::commands::simulate::play;
use crate::inventory::Item;
use crate::pass::PassReport;
use snapkeep_sim::{Faults, Seed, SimSnapshot, SimStatus, Simulator};

/// Cases `cargo test` runs (about 15 s in a debug build).
const CASES: u32 = 64;

/// The first day played (a Monday).
const START: &str = "2025-03-03T00:00:00Z";

/// One policy: keep counts and whether it fires on weekdays only.
#[derive(Debug, Clone)]
struct PolicyCase {
    keep_last: u32,
    keep_daily: u32,
    keep_weekly: u32,
    weekdays_only: bool,
    /// On server 1, server 2, or both.
    servers: u8,
}

/// What one server holds before the first day.
#[derive(Debug, Clone)]
struct ServerCase {
    manual: usize,
    /// Per policy: completed items of earlier days.
    earlier: Vec<usize>,
    /// A failed item of the first policy.
    failed: bool,
    /// Protect this many of the earlier items (oldest first).
    protected: usize,
}

#[derive(Debug, Clone)]
struct Case {
    policies: Vec<PolicyCase>,
    servers: Vec<ServerCase>,
    days: u32,
}

fn policy_case() -> impl Strategy<Value = PolicyCase> {
    (0..=3u32, 0..=2u32, 0..=1u32, any::<bool>(), 1..=3u8).prop_map(
        |(keep_last, keep_daily, keep_weekly, weekdays_only, servers)| PolicyCase {
            keep_last: if keep_last + keep_daily + keep_weekly == 0 {
                1
            } else {
                keep_last
            },
            keep_daily,
            keep_weekly,
            weekdays_only,
            servers,
        },
    )
}

fn server_case() -> impl Strategy<Value = ServerCase> {
    (
        0..=3usize,
        prop::collection::vec(0..=3usize, 3),
        any::<bool>(),
        0..=2usize,
    )
        .prop_map(|(manual, earlier, failed, protected)| ServerCase {
            manual,
            earlier,
            failed,
            protected,
        })
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(policy_case(), 1..=3),
        prop::collection::vec(server_case(), 2),
        3..=9u32,
    )
        .prop_map(|(policies, servers, days)| Case {
            policies,
            servers,
            days,
        })
}

/// The hour policy `p` fires at (all before the day's pass at 03:30).
fn hour(p: usize) -> u32 {
    p as u32 + 1
}

fn name(p: usize) -> String {
    format!("p{p}")
}

fn on_server(pc: &PolicyCase, server: u64) -> bool {
    pc.servers & (1 << (server - 1)) != 0
}

/// The simulator's seed: each server's manual, earlier and failed items,
/// at most the cap (5), oldest-day items first.
fn seed(case: &Case) -> Seed {
    let start = at(START);
    let mut seed = Seed::empty().server(1, "web-01").server(2, "db-01");
    for (s, sc) in case.servers.iter().enumerate() {
        let server = s as u64 + 1;
        let mut items: Vec<(String, DateTime<Utc>, SimStatus)> = Vec::new();
        for m in 0..sc.manual {
            let t = start - TimeDelta::days(30 + m as i64);
            items.push((format!("manual-{m}"), t, SimStatus::Completed));
        }
        for (p, pc) in case.policies.iter().enumerate() {
            if !on_server(pc, server) {
                continue;
            }
            for d in 1..=sc.earlier[p] {
                let slot = start - TimeDelta::days(d as i64) + TimeDelta::hours(hour(p).into());
                items.push((label(p, slot), slot, SimStatus::Completed));
            }
        }
        if sc.failed && on_server(&case.policies[0], server) {
            let slot = start - TimeDelta::days(9) + TimeDelta::hours(1);
            items.push((label(0, slot), slot, SimStatus::Failed));
        }
        for (label, t, status) in items.into_iter().take(5) {
            seed = seed.snapshot(server, label, t, status);
        }
    }
    seed
}

fn label(p: usize, slot: DateTime<Utc>) -> String {
    crate::naming::label_for(
        crate::provider::Kind::Snapshot,
        "snapkeep",
        &name(p),
        slot,
        None,
    )
}

/// Ids to protect: on each server, the oldest `protected` items of ours.
fn protected_ids(case: &Case, sim: &Simulator) -> Vec<u64> {
    let mut ids = Vec::new();
    for (s, sc) in case.servers.iter().enumerate() {
        let mut ours: Vec<SimSnapshot> = sim
            .snapshots(Some(s as u64 + 1))
            .into_iter()
            .filter(|i| i.name.starts_with("snapkeep-") && i.status == SimStatus::Completed)
            .collect();
        ours.sort_by_key(|i| i.created_at);
        ids.extend(ours.iter().take(sc.protected).map(|i| i.id));
    }
    ids
}

/// The config's policies (config validation refuses keep counts over
/// the cap: such a case is rejected, as no pass would run).
fn config_text(case: &Case, protect: &[u64]) -> String {
    let mut text = String::new();
    for (p, pc) in case.policies.iter().enumerate() {
        let servers: Vec<&str> = [(1, "1"), (2, "2")]
            .iter()
            .filter(|(s, _)| on_server(pc, *s))
            .map(|(_, s)| *s)
            .collect();
        let dow = if pc.weekdays_only { "1-5" } else { "*" };
        text += &format!(
            "[[policy]]\nname = \"{}\"\nkind = \"snapshot\"\nservers = [{}]\nschedule = \"0 {} * * {dow}\"\n",
            name(p),
            servers.join(", "),
            hour(p)
        );
        for (key, n) in [
            ("keep_last", pc.keep_last),
            ("keep_daily", pc.keep_daily),
            ("keep_weekly", pc.keep_weekly),
        ] {
            if n > 0 {
                text += &format!("{key} = {n}\n");
            }
        }
        if p == 0 && !protect.is_empty() {
            let ids: Vec<String> = protect.iter().map(u64::to_string).collect();
            text += &format!("protect = [{}]\n", ids.join(", "));
        }
    }
    text
}

/// What one job did, as both sides say it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    created: Option<String>,
    deleted: Vec<String>,
    error: Option<&'static str>,
    paused: bool,
}

/// One day: each (server, policy)'s job, and what each server holds after.
#[derive(Debug, PartialEq, Eq)]
struct Day {
    jobs: BTreeMap<(u64, String), Seen>,
    held: BTreeMap<u64, Vec<String>>,
}

fn seen_in_pass(report: &PassReport, sim: &Simulator) -> Day {
    let jobs = report
        .outcomes
        .iter()
        .map(|o| {
            let seen = Seen {
                created: o.report.created.as_ref().map(|c| c.label.clone()),
                deleted: o.report.deleted.iter().map(|d| d.label.clone()).collect(),
                error: o.error.as_ref().map(|e| e.kind()),
                paused: o.report.paused,
            };
            ((o.spec.server_id, o.policy_name.clone()), seen)
        })
        .collect();
    let held = [1, 2]
        .into_iter()
        .map(|s| {
            let mut names: Vec<String> =
                sim.snapshots(Some(s)).into_iter().map(|i| i.name).collect();
            names.sort();
            (s, names)
        })
        .collect();
    Day { jobs, held }
}

fn played(
    config: &crate::config::Config,
    servers: &mut BTreeMap<u64, play::Server>,
    specs: &[crate::pass::JobSpec],
    now: DateTime<Utc>,
) -> Day {
    let mut jobs = BTreeMap::new();
    for (id, server) in servers.iter_mut() {
        let mine: Vec<(usize, DateTime<Utc>)> = specs
            .iter()
            .filter(|j| j.server_id == *id)
            .map(|j| (j.policy, j.slot))
            .collect();
        for p in play::pass(&config.policies, server, &mine, now) {
            let seen = Seen {
                created: p.created.as_ref().map(|c| c.label.clone()),
                deleted: p.deleted.iter().map(|(d, _)| d.label.clone()).collect(),
                error: p.refused.then_some("refused"),
                paused: p.paused,
            };
            jobs.insert((*id, config.policies[p.policy].name.clone()), seen);
        }
    }
    let held = servers
        .iter()
        .map(|(id, s)| {
            let mut names: Vec<String> = s.items.iter().map(|i| i.label.clone()).collect();
            names.sort();
            (*id, names)
        })
        .collect();
    Day { jobs, held }
}

fn item_of(s: SimSnapshot) -> Item {
    Item {
        id: s.id,
        server_id: s.server_id,
        server_name: s.server_name,
        label: s.name,
        status: match s.status {
            SimStatus::Completed => Status::Completed,
            SimStatus::InProgress => Status::InProgress,
            SimStatus::Failed => Status::Failed,
            SimStatus::Other(o) => Status::Other(o),
        },
        created_at: s.created_at,
        size_bytes: None,
    }
}

/// Plays `case` both ways, day by day; the first day they differ fails.
async fn agree(case: Case) -> Result<(), TestCaseError> {
    let sim = simulator(seed(&case), Faults::none(), 7).await;
    let protect = protected_ids(&case, &sim);
    let text = config_text(&case, &protect);
    let Ok(parsed) = crate::config::parse_str(&format!("{DEFAULTS}{text}"), "case.toml") else {
        sim.shutdown().await;
        return Err(TestCaseError::reject("keep counts over the cap"));
    };
    let config = std::sync::Arc::new(parsed);
    let client = client(&sim);
    let mut servers: BTreeMap<u64, play::Server> = [1, 2]
        .into_iter()
        .map(|s| {
            let items = sim.snapshots(Some(s)).into_iter().map(item_of).collect();
            // Ids of their own, which no config protects.
            (s, play::Server::new(s, items).ids_from(s * 1_000_000))
        })
        .collect();
    let mut result = Ok(());
    for day in 0..case.days {
        let now = at(START) + TimeDelta::days(day.into()) + TimeDelta::minutes(210);
        let specs = jobs(&config, now);
        let real = seen_in_pass(&pass(&config, &client, now, specs.clone()).await, &sim);
        let model = played(&config, &mut servers, &specs, now);
        if real != model {
            result = Err(TestCaseError::fail(format!(
                "day {day} ({now}) differs\nconfig:\n{text}\npass:     {real:?}\nsimulate: {model:?}"
            )));
            break;
        }
    }
    sim.shutdown().await;
    result
}

#[test]
fn simulate_and_real_passes_agree_day_by_day() {
    let cases = std::env::var("SNAPKEEP_AGREEMENT_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(CASES);
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let result = runner.run(&case(), |case| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(agree(case))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
