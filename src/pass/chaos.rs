//! Randomized fault schedules at the pass level: invariants no single
//! example can establish.
//!
//! Each schedule is drawn from one seed: a random fleet (foreign and manual
//! items, our items from earlier slots, failed and unknown-status items, a
//! slot left half done, policies sharing servers near the cap) × random
//! faults (5xx before or after the work, 429 with odd `Retry-After`, lost
//! answers, lagging lists, shifting pages, lying counts, undecodable items,
//! creates that fail) × how it runs (one pass, two instances at once, or a
//! pass dropped at a random await point and a fresh one started as after a
//! restart). Then the faults stop and two clean passes converge. After every
//! schedule the invariants are checked; a failure names its seed.
//!
//! `cargo test --lib chaos` runs [`CI_SCHEDULES`]; for a long run:
//! `SNAPKEEP_CHAOS_SCHEDULES=10000 cargo test --release --lib chaos -- --nocapture`
//! (`SNAPKEEP_CHAOS_SEED=N` starts at seed N; with `SNAPKEEP_CHAOS_SCHEDULES=1`
//! it replays one).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use fastrand::Rng;

use super::testkit::{at, client, config, jobs, pass, simulator};
use crate::config::Config;
use crate::naming;
use crate::pass::PassReport;
use crate::provider::Kind;
use snapkeep_sim::{BackupType, Endpoint, FaultSpec, Faults, Seed, SimStatus, Simulator, junk};

/// Schedules `cargo test` runs (a few hundred; the long run is above).
const CI_SCHEDULES: u64 = 240;
/// Schedules run at once (each has its own simulator).
const PARALLEL: usize = 8;

/// What a schedule looked like, for the figures at the end.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    passes: u64,
    jobs: u64,
    failed_jobs: u64,
    deletes: u64,
    /// Jobs of the first clean pass excused from liveness (see
    /// [`check_liveness`]).
    liveness_excused: u64,
    /// Of those: a keeper stuck in progress / unknown status, a server full
    /// of what the policy may not delete, a storm-made keeper that failed.
    excused_stuck: u64,
    excused_full: u64,
    excused_storm_failed: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_fault_schedules_keep_every_invariant() {
    let count = env_u64("SNAPKEEP_CHAOS_SCHEDULES").unwrap_or(CI_SCHEDULES);
    let first = env_u64("SNAPKEEP_CHAOS_SEED").unwrap_or(0);
    let permits = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    for seed in first..first + count {
        let permits = Arc::clone(&permits);
        tasks.spawn(async move {
            let _p = permits.acquire_owned().await.expect("open");
            (seed, schedule(seed).await)
        });
    }
    let mut failures = Vec::new();
    let mut total = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((_, Ok(t))) => {
                total.passes += t.passes;
                total.jobs += t.jobs;
                total.failed_jobs += t.failed_jobs;
                total.deletes += t.deletes;
                total.liveness_excused += t.liveness_excused;
                total.excused_stuck += t.excused_stuck;
                total.excused_full += t.excused_full;
                total.excused_storm_failed += t.excused_storm_failed;
            }
            Ok((seed, Err(violations))) => failures.push((seed, violations)),
            Err(e) => failures.push((u64::MAX, vec![format!("schedule task died: {e}")])),
        }
    }
    failures.sort();
    println!(
        "chaos: {count} schedules from seed {first}: {} passes, {} jobs ({} failed honestly), {} deletes, {} job(s) excused from liveness ({} a stuck slot item, {} a server full of what the policy may not delete, {} a storm-made item that failed), {} schedule(s) violated an invariant",
        total.passes,
        total.jobs,
        total.failed_jobs,
        total.deletes,
        total.liveness_excused,
        total.excused_stuck,
        total.excused_full,
        total.excused_storm_failed,
        failures.len()
    );
    if !failures.is_empty() {
        let text: Vec<String> = failures
            .iter()
            .map(|(seed, v)| format!("seed {seed}:\n  {}", v.join("\n  ")))
            .collect();
        panic!(
            "{} schedule(s) broke an invariant; replay one with SNAPKEEP_CHAOS_SEED=<seed> SNAPKEEP_CHAOS_SCHEDULES=1 cargo test --lib chaos -- --nocapture\n{}",
            failures.len(),
            text.join("\n")
        );
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// The fixed "now" of every schedule (retention and slots read it).
fn now() -> DateTime<Utc> {
    at("2025-03-10T12:00:30Z")
}

const POLICY_A: &str = "hourly";
const POLICY_B: &str = "daily";
const POLICY_C: &str = "nightly-backup";

/// A random world: the simulator's seed, the config, and the ids that are
/// not ours (which must survive).
struct World {
    seed: Seed,
    config: Arc<Config>,
    /// The config's text (protect lists are added once ids are known).
    text: String,
    servers: Vec<u64>,
}

/// Another config on the same account: its policy's items are orphans to
/// this config, made within `orphan_grace` (live), and must survive
/// `prune-orphans --yes`.
const OTHER_CONFIG: &str = "othercfg";
/// A policy removed long ago: its items are orphans past the grace.
const RETIRED: &str = "retired";

fn world(rng: &mut Rng, hook_log: &str) -> World {
    let n = rng.u64(1..=4);
    let servers: Vec<u64> = (1..=n).collect();
    let text = policies(rng, &servers, hook_log);
    let config = config(&text);
    let mut seed = Seed::empty();
    for &server in &servers {
        seed = seed_server(rng, seed, server, &config);
    }
    World {
        seed,
        config,
        text,
        servers,
    }
}

/// The config's policies: hourly "a" on every server, sometimes daily "b"
/// (with hooks) on some, sometimes backups "c" (sometimes paused).
fn policies(rng: &mut Rng, servers: &[u64], hook_log: &str) -> String {
    let a_keep = if rng.bool() {
        format!("keep_last = {}", rng.u32(2..=3))
    } else {
        format!("keep_last = 1\nkeep_daily = {}", rng.u32(2..=3))
    };
    let b_servers: Vec<u64> = servers.iter().copied().filter(|_| rng.bool()).collect();
    let b_keep = rng.u32(1..=2);
    let c_servers: Vec<u64> = servers
        .iter()
        .copied()
        .filter(|_| rng.u8(0..3) == 0)
        .collect();
    let list = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
    let mut text = format!(
        "[[policy]]\nname = \"{POLICY_A}\"\nkind = \"snapshot\"\nservers = [{}]\nschedule = \"0 * * * *\"\n{a_keep}\n",
        list(servers)
    );
    let with_b = format!(
        "{text}\n[[policy]]\nname = \"{POLICY_B}\"\nkind = \"snapshot\"\nservers = [{}]\nschedule = \"0 3 * * *\"\nkeep_last = {b_keep}\n",
        list(&b_servers)
    );
    if !b_servers.is_empty()
        && crate::config::parse_str(&format!("{}{with_b}", super::testkit::DEFAULTS), "t").is_ok()
    {
        text = with_b;
        // Hooks around daily's creates: a post hook exactly once after
        // every pre hook, whatever happens to the pass.
        if rng.bool() {
            text.push_str(&format!(
                "pre_hook = [\"sh\", \"-c\", \"echo pre $SNAPKEEP_SERVER_ID >> {hook_log}\"]\n\
                 post_hook = [\"sh\", \"-c\", \"echo post $SNAPKEEP_SERVER_ID >> {hook_log}\"]\n"
            ));
        }
    }
    if !c_servers.is_empty() {
        text.push_str(&format!(
            "\n[[policy]]\nname = \"{POLICY_C}\"\nkind = \"backup\"\nservers = [{}]\nschedule = \"0 3 * * *\"\nkeep_last = {}\n",
            list(&c_servers),
            rng.u32(2..=4)
        ));
        // Paused: named on the command line or queued before a reload, it
        // still creates and prunes nothing.
        if rng.u8(0..5) == 0 {
            text.push_str("enabled = false\n");
        }
    }
    text
}

/// What `server` holds at the start: manual items, other configs' and a
/// retired policy's orphans, earlier items of our policies (some failed or
/// in a status nobody documented), a slot a stopped pass left, backups.
fn seed_server(rng: &mut Rng, mut seed: Seed, server: u64, config: &Config) -> Seed {
    let now = now();
    seed = seed.server(server, format!("srv-{server}"));
    let mut snapshots = 0;
    let mut add = |seed: Seed, name: String, time: DateTime<Utc>, status: SimStatus| {
        if snapshots >= 5 {
            return seed;
        }
        snapshots += 1;
        seed.snapshot(server, name, time, status)
    };
    for i in 0..rng.u8(0..=2) {
        seed = add(
            seed,
            format!("manual-{i}"),
            now - TimeDelta::days(30),
            SimStatus::Completed,
        );
    }
    // Another config's live items, and a retired policy's old ones.
    if rng.u8(0..3) == 0 {
        for hours in 1..=rng.i64(1..=2) {
            let slot = now - TimeDelta::hours(hours);
            seed = add(
                seed,
                orphan_label(OTHER_CONFIG, slot),
                slot,
                SimStatus::Completed,
            );
        }
    }
    if rng.u8(0..3) == 0 {
        for days in [40, 41] {
            let slot = now - TimeDelta::days(days);
            seed = add(
                seed,
                orphan_label(RETIRED, slot),
                slot,
                SimStatus::Completed,
            );
        }
    }
    for policy in &config.policies {
        if policy.kind != Kind::Snapshot || !policy.servers.contains(&server) {
            continue;
        }
        let latest = policy.schedule.latest_at_or_before(now).expect("fired");
        let step = if policy.name == POLICY_A {
            TimeDelta::hours(1)
        } else {
            TimeDelta::days(1)
        };
        for back in 1..=rng.i64(0..=3) {
            let slot = latest - step * back as i32;
            let status = match rng.u8(0..10) {
                0 => SimStatus::Failed,
                1 => SimStatus::from(if rng.bool() { "pending" } else { "error" }),
                _ => SimStatus::Completed,
            };
            seed = add(seed, label(policy, slot), slot, status);
        }
        // A slot a stopped pass left: in progress, done, or twice.
        match rng.u8(0..8) {
            0 => seed = add(seed, label(policy, latest), latest, SimStatus::InProgress),
            1 => seed = add(seed, label(policy, latest), latest, SimStatus::Completed),
            2 => {
                seed = add(seed, label(policy, latest), latest, SimStatus::Completed);
                seed = add(seed, label(policy, latest), latest, SimStatus::Completed);
            }
            _ => {}
        }
    }
    for i in 0..rng.u8(0..=2) {
        seed = seed.backup(
            server,
            BackupType::Automatic,
            format!("auto {i}"),
            now - TimeDelta::days(i64::from(i) + 1),
            SimStatus::Completed,
        );
    }
    for i in 0..rng.u8(0..=2) {
        seed = seed.backup(
            server,
            BackupType::Manual,
            format!("before upgrade {i}"),
            now - TimeDelta::days(40),
            SimStatus::Completed,
        );
    }
    seed
}

/// A snapshot name in our format for a policy this config does not have.
fn orphan_label(policy: &str, slot: DateTime<Utc>) -> String {
    naming::label_for(Kind::Snapshot, "snapkeep", policy, slot, None)
}

/// Adds `protect = [id]` to some policies: one random item of theirs (any
/// server) each, as an operator protects a restore point.
fn protect_some(rng: &mut Rng, text: &str, config: &Config, sim: &Simulator) -> String {
    let items = sample(sim);
    let mut text = text.to_owned();
    for policy in &config.policies {
        if rng.u8(0..3) != 0 {
            continue;
        }
        let theirs: Vec<u64> = items
            .iter()
            .filter(|(_, _, s)| owner(config, s).is_some_and(|(p, _)| p == policy.name))
            .map(|(_, id, _)| *id)
            .collect();
        if theirs.is_empty() {
            continue;
        }
        let id = theirs[rng.usize(0..theirs.len())];
        let at = format!("name = \"{}\"\n", policy.name);
        text = text.replacen(&at, &format!("{at}protect = [{id}]\n"), 1);
    }
    text
}

fn label(policy: &crate::config::Policy, slot: DateTime<Utc>) -> String {
    naming::label_for(
        policy.kind,
        &policy.prefix,
        &policy.name,
        slot,
        policy.description.as_deref(),
    )
}

fn faults(rng: &mut Rng, servers: &[u64]) -> Faults {
    let pick = |rng: &mut Rng, v: &[f64]| v[rng.usize(0..v.len())];
    let mut global = FaultSpec::none()
        .with_errors(
            pick(rng, &[0.0, 0.0, 0.05, 0.15]),
            [500, 502, 503][rng.usize(0..3)],
        )
        .with_rate_limit(pick(rng, &[0.0, 0.0, 0.05, 0.15]), 0);
    if rng.u8(0..4) == 0 {
        let raw = [
            "-5",
            "soon",
            "0",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "10000000000000000000",
        ];
        global = global.with_retry_after_raw(raw[rng.usize(0..raw.len())]);
    }
    let write = |rng: &mut Rng, g: &FaultSpec| {
        g.clone()
            .with_lost_responses(pick(rng, &[0.0, 0.2, 0.5]))
            .with_applied_errors(pick(rng, &[0.0, 0.0, 0.2]), 502)
    };
    let mut f = Faults::none()
        .with_global(global.clone())
        .with_endpoint(Endpoint::SnapshotsCreate, write(rng, &global))
        .with_endpoint(Endpoint::BackupsCreate, write(rng, &global))
        .with_endpoint(Endpoint::SnapshotsDelete, write(rng, &global))
        .with_endpoint(Endpoint::BackupsDelete, write(rng, &global))
        .with_list_lag(Duration::from_millis([0, 0, 30, 80][rng.usize(0..4)]))
        .with_page_size([0, 1, 2, 3, 50][rng.usize(0..5)])
        .with_page_shift(pick(rng, &[0.0, 0.0, 0.3]));
    if rng.u8(0..4) == 0 {
        f = f.with_junk_items([
            junk::deleted_server_snapshot(9_000_001),
            junk::deleted_server_backup(9_000_002),
            junk::missing_fields(9_000_003),
        ]);
    }
    if rng.u8(0..6) == 0 {
        f = f.with_count_inflation(5_000_000);
    }
    if rng.u8(0..4) == 0 {
        let failing: Vec<u64> = servers.iter().copied().filter(|_| rng.bool()).collect();
        f = f.with_fail_creates().with_only_servers(failing);
    }
    f
}

/// One item as the monitor saw it.
#[derive(Debug, Clone)]
struct Seen {
    server: u64,
    kind: Kind,
    label: String,
    completed: bool,
    failed: bool,
    unknown: bool,
}

/// Everything the monitor learned while the schedule ran.
#[derive(Debug, Default)]
struct Watch {
    /// Every id ever seen, with its item.
    items: HashMap<(Kind, u64), Seen>,
    violations: Vec<String>,
}

/// (kind, server, policy, slot).
type SlotKey = (Kind, u64, String, DateTime<Utc>);

/// (kind, server, policy) → the newest completed item of ours (slot, id).
type Newest = BTreeMap<(Kind, u64, String), (DateTime<Utc>, u64)>;

impl Seen {
    fn new(server: u64, kind: Kind, label: String, status: &SimStatus) -> Seen {
        Seen {
            server,
            kind,
            label,
            completed: *status == SimStatus::Completed,
            failed: *status == SimStatus::Failed,
            unknown: matches!(status, SimStatus::Other(_)),
        }
    }
}

fn sample(sim: &Simulator) -> Vec<(Kind, u64, Seen)> {
    let snapshots = sim.snapshots(None).into_iter().map(|s| {
        let seen = Seen::new(s.server_id, Kind::Snapshot, s.name, &s.status);
        (Kind::Snapshot, s.id, seen)
    });
    let backups = sim
        .backups(None)
        .into_iter()
        .filter(|b| b.backup_type == BackupType::Manual)
        .map(|b| {
            let seen = Seen::new(b.server_id, Kind::Backup, b.description, &b.status);
            (Kind::Backup, b.id, seen)
        });
    snapshots.chain(backups).collect()
}

fn owner(config: &Config, seen: &Seen) -> Option<(String, DateTime<Utc>)> {
    config.policies.iter().find_map(|p| {
        (p.kind == seen.kind)
            .then(|| naming::owned_slot(p.kind, &p.prefix, &p.name, &seen.label))
            .flatten()
            .map(|slot| (p.name.clone(), slot))
    })
}

fn newest(config: &Config, items: &[(Kind, u64, Seen)]) -> Newest {
    let mut out: Newest = BTreeMap::new();
    for (kind, id, seen) in items {
        if !seen.completed {
            continue;
        }
        if let Some((policy, slot)) = owner(config, seen) {
            let key = (*kind, seen.server, policy);
            let cand = (slot, *id);
            match out.get(&key) {
                Some(&(s, i)) if (s, std::cmp::Reverse(i)) >= (slot, std::cmp::Reverse(*id)) => {}
                _ => {
                    out.insert(key, cand);
                }
            }
        }
    }
    out
}

/// Watches the simulator's state every millisecond: a policy's newest
/// completed item may disappear only once another completed item of that
/// policy, for the same slot or a later one, exists.
fn monitor(
    sim: Simulator,
    config: Arc<Config>,
    watch: Arc<Mutex<Watch>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut before: Newest = BTreeMap::new();
        loop {
            let items = sample(&sim);
            let now_newest = newest(&config, &items);
            {
                let mut w = watch.lock().expect("watch");
                for (kind, id, seen) in &items {
                    w.items.entry((*kind, *id)).or_insert_with(|| seen.clone());
                }
                for (key, (slot, id)) in &before {
                    let still = items.iter().any(|(k, i, _)| k == &key.0 && i == id);
                    let successor = now_newest
                        .get(key)
                        .is_some_and(|(s, i)| s >= slot && i != id);
                    if !still && !successor {
                        w.violations.push(format!(
                        "{} #{id} (newest completed of {} on server {}) was deleted before a successor completed",
                        key.0, key.2, key.1
                    ));
                    }
                }
            }
            before = now_newest;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
}

/// Checks what a finished pass says against the simulator.
fn check_pass(
    config: &Config,
    sim: &Simulator,
    report: &PassReport,
    expected_jobs: usize,
    out: &mut Vec<String>,
) {
    if report.outcomes.len() != expected_jobs {
        out.push(format!(
            "{} job(s) in the report, {expected_jobs} started",
            report.outcomes.len()
        ));
    }
    let items = sample(sim);
    // Whether the server holds the job's slot item, completed.
    let slot_done = |o: &crate::pass::JobOutcome| {
        let policy = &config.policies[o.spec.policy];
        items.iter().any(|(k, _, s)| {
            *k == policy.kind
                && s.server == o.spec.server_id
                && s.completed
                && naming::owned_slot(policy.kind, &policy.prefix, &policy.name, &s.label)
                    == Some(o.spec.slot)
        })
    };
    for o in &report.outcomes {
        let policy = &config.policies[o.spec.policy];
        if let Some(e) = &o.error {
            if e.kind() == "panic" {
                out.push(format!("a task panicked: {e}"));
            }
            continue;
        }
        if o.report.nothing_to_resume || o.report.paused {
            continue;
        }
        if !slot_done(o) {
            out.push(format!(
                "server {} policy {} reported ok without a completed item for slot {}",
                o.spec.server_id,
                policy.name,
                o.spec.slot.to_rfc3339()
            ));
        }
    }
    let summary = crate::pass::summary(report, false);
    let exit = crate::commands::run_now::exit_code(report);
    // A paused policy's job beside others that ran is exit 1 too.
    let says_not_clean = !summary.contains(" 0 failed") || report.paused() > 0;
    if (exit != 0) != says_not_clean {
        out.push(format!("exit code {exit} but the summary says:\n{summary}"));
    }
    // Independently of the report: a running policy's slot without its
    // completed item on the server means the exit code is not 0.
    let missing = report
        .outcomes
        .iter()
        .any(|o| config.policies[o.spec.policy].enabled && !o.spec.resume_only && !slot_done(o));
    if missing && exit == 0 {
        out.push(format!(
            "exit code 0 while a slot has no completed item on the server:\n{summary}"
        ));
    }
}

/// Hooks: per server, every pre hook in the log is followed by its post
/// hook — also when a pass was dropped mid-way. (A post hook with no pre
/// line before it is one whose pre hook was cut off before it wrote.)
fn check_hooks(log: &str, out: &mut Vec<String>) {
    let Ok(text) = std::fs::read_to_string(log) else {
        return; // no hooks in this world, or none ran
    };
    let mut open: BTreeMap<String, i64> = BTreeMap::new();
    for line in text.lines() {
        let Some((phase, server)) = line.split_once(' ') else {
            out.push(format!("hook log line {line:?}"));
            continue;
        };
        let n = open.entry(server.to_owned()).or_default();
        // A post with no pre open: a pre hook cut off before it wrote its
        // line (its post hook runs all the same).
        *n = if phase == "pre" {
            *n + 1
        } else {
            (*n - 1).max(0)
        };
    }
    for (server, n) in open {
        if n != 0 {
            out.push(format!(
                "server {server}: {n} pre hook(s) without their post hook"
            ));
        }
    }
}

/// Liveness once the faults have stopped: every job of `report` made or
/// found its slot's completed item. Excused, and counted: a refusal where
/// the server really holds nothing this policy may delete but its newest
/// completed item; a slot whose keeper (its lowest id) is stuck in
/// progress or in a status nobody documented (it cannot complete; the job
/// says so); and a keeper made during the storm that then failed (a fault's
/// doing: the next try, a daemon retry, deletes it and makes the slot's
/// item). Returns how many were excused for each of the three.
fn check_liveness(
    config: &Config,
    sim: &Simulator,
    report: &PassReport,
    made_in_the_storm: &BTreeSet<(Kind, u64)>,
    out: &mut Vec<String>,
) -> [u64; 3] {
    let items = sample(sim);
    let mut excused = [0; 3];
    for o in &report.outcomes {
        let Some(e) = &o.error else { continue };
        let policy = &config.policies[o.spec.policy];
        let here: Vec<&(Kind, u64, Seen)> = items
            .iter()
            .filter(|(k, _, s)| *k == policy.kind && s.server == o.spec.server_id)
            .collect();
        let mine =
            |s: &Seen| naming::owned_slot(policy.kind, &policy.prefix, &policy.name, &s.label);
        let keeper = here
            .iter()
            .filter(|(_, _, s)| !s.failed && mine(s) == Some(o.spec.slot))
            .min_by_key(|(_, id, _)| *id);
        let stuck = keeper.is_some_and(|(_, _, s)| !s.completed);
        // Only completed items of ours can make room (in progress and
        // unknown-status ones are never deleted while so).
        let deletable = here
            .iter()
            .filter(|(_, id, s)| {
                mine(s).is_some() && s.completed && !config.is_protected(*id, policy.kind)
            })
            .count();
        let full = e.kind() == "refused" && here.len() >= policy.kind.cap() && deletable <= 1;
        let storm_item_failed = matches!(
            e,
            crate::job::JobError::Wait { id, source: crate::inventory::WaitError::Failed(_), .. }
                if made_in_the_storm.contains(&(policy.kind, *id))
        );
        if stuck || full || storm_item_failed {
            excused[if stuck {
                0
            } else if full {
                1
            } else {
                2
            }] += 1;
            continue;
        }
        out.push(format!(
            "liveness: server {} policy {} has no completed item for slot {} one pass after the faults stopped: {e}",
            o.spec.server_id,
            policy.name,
            o.spec.slot.to_rfc3339()
        ));
    }
    excused
}

/// Runs one schedule; the violations it found, if any.
async fn schedule(seed: u64) -> Result<Tally, Vec<String>> {
    let mut rng = Rng::with_seed(seed);
    let dir = std::env::temp_dir().join(format!("snapkeep-chaos-{}-{seed}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let hook_log = dir.join("hooks.log").display().to_string();
    let World {
        seed: world_seed,
        config,
        text,
        servers,
    } = world(&mut rng, &hook_log);
    let storm = faults(&mut rng, &servers);
    let sim = simulator(world_seed, storm, seed).await;
    let config = super::testkit::config(&protect_some(&mut rng, &text, &config, &sim));
    let protected: BTreeSet<u64> = config
        .policies
        .iter()
        .flat_map(|p| p.protect.iter().copied())
        .collect();
    // Items of paused policies and another config's live ones: never deleted.
    let untouchable: BTreeSet<(Kind, u64)> = sample(&sim)
        .into_iter()
        .filter(|(_, id, s)| {
            protected.contains(id)
                || owner(&config, s)
                    .is_some_and(|(p, _)| !config.policies.iter().any(|q| q.name == p && q.enabled))
                || s.label.starts_with(&format!("snapkeep-{OTHER_CONFIG}-"))
        })
        .map(|(k, i, _)| (k, i))
        .collect();
    let watch = Arc::new(Mutex::new(Watch::default()));
    // Foreign items must all survive: what is not any policy's at the start.
    let foreign: BTreeSet<(Kind, u64)> = sample(&sim)
        .into_iter()
        .filter(|(_, _, s)| owner(&config, s).is_none())
        .map(|(k, i, _)| (k, i))
        .collect();
    let watcher = monitor(sim.clone(), Arc::clone(&config), Arc::clone(&watch));
    let now = now();
    let all = all_jobs(&config, now);
    let mut violations = Vec::new();
    let mut tally = Tally::default();

    storm_passes(&mut rng, &config, &sim, &all, &mut violations, &mut tally).await;

    // The storm is over: two clean passes converge. Liveness: after the
    // first, every (server, policy) holds its slot's completed item.
    let made_in_the_storm: BTreeSet<(Kind, u64)> =
        sample(&sim).into_iter().map(|(k, i, _)| (k, i)).collect();
    sim.set_faults(Faults::none());
    // An operator cleans up orphans between passes: another config's live
    // items must survive it.
    let pruned = prune_orphans(&config, &sim, now, &mut violations).await;
    let mut last = PassReport::default();
    for round in 0..2 {
        last = pass(&config, &client(&sim), now, all.clone()).await;
        check_pass(&config, &sim, &last, all.len(), &mut violations);
        if round == 0 {
            let [stuck, full, failed] =
                check_liveness(&config, &sim, &last, &made_in_the_storm, &mut violations);
            tally.excused_stuck += stuck;
            tally.excused_full += full;
            tally.excused_storm_failed += failed;
            tally.liveness_excused += stuck + full + failed;
        }
        record(&last, &mut tally);
    }
    // One more sample after everything settled.
    tokio::time::sleep(Duration::from_millis(3)).await;
    watcher.abort();
    let _ = watcher.await;

    let items = sample(&sim);
    check_survivors(&items, &foreign, &untouchable, &pruned, &mut violations);
    check_hooks(&hook_log, &mut violations);
    let _ = std::fs::remove_dir_all(&dir);
    check_one_item_per_slot(&config, &sim, &items, &protected, &last, &mut violations);
    for &server in &servers {
        if sim.max_snapshots_seen(server) > 5 || sim.max_manual_backups_seen(server) > 10 {
            violations.push(format!("server {server} went over the cap"));
        }
    }
    tally.deletes = check_deletes(&config, &sim, &watch, &pruned, &protected, &mut violations);
    sim.shutdown().await;
    if violations.is_empty() {
        Ok(tally)
    } else {
        Err(violations)
    }
}

/// Every job of the config at `now`, paused policies' too, as
/// `--run-now --policy` naming them or a fire queued before the reload that
/// paused them would run them.
fn all_jobs(config: &Config, now: DateTime<Utc>) -> Vec<crate::pass::JobSpec> {
    let mut all = jobs(config, now);
    for (index, p) in config
        .policies
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.enabled)
    {
        if let Some(slot) = p.schedule.latest_at_or_before(now) {
            for &server in &p.servers {
                all.push(crate::pass::JobSpec::new(server, index, slot));
            }
        }
    }
    all
}

/// Counts a pass in the tally.
fn record(r: &PassReport, tally: &mut Tally) {
    tally.passes += 1;
    tally.jobs += r.outcomes.len() as u64;
    tally.failed_jobs += r.failed() as u64;
}

/// The passes under the storm: one, two instances at once, or one dropped
/// at a random await point and then a fresh start.
async fn storm_passes(
    rng: &mut Rng,
    config: &Arc<Config>,
    sim: &Simulator,
    all: &[crate::pass::JobSpec],
    violations: &mut Vec<String>,
    tally: &mut Tally,
) {
    let now = now();
    match rng.u8(0..3) {
        // One pass.
        0 => {
            let r = pass(config, &client(sim), now, all.to_vec()).await;
            check_pass(config, sim, &r, all.len(), violations);
            record(&r, tally);
        }
        // Two instances at once, each with its own client.
        1 => {
            let (a, b) = (client(sim), client(sim));
            let (ra, rb) = tokio::join!(
                pass(config, &a, now, all.to_vec()),
                pass(config, &b, now, all.to_vec())
            );
            for r in [&ra, &rb] {
                check_pass(config, sim, r, all.len(), violations);
                record(r, tally);
            }
        }
        // A crash: the pass is dropped wherever it is, then a fresh start.
        _ => {
            let cut = Duration::from_millis(rng.u64(0..250));
            let _ = tokio::time::timeout(cut, pass(config, &client(sim), now, all.to_vec())).await;
            let r = pass(config, &client(sim), now, all.to_vec()).await;
            check_pass(config, sim, &r, all.len(), violations);
            record(&r, tally);
        }
    }
}

/// An operator cleans up orphans between passes (another config's live
/// items must survive it): the ids `prune-orphans --yes` deleted.
async fn prune_orphans(
    config: &Config,
    sim: &Simulator,
    now: DateTime<Utc>,
    violations: &mut Vec<String>,
) -> BTreeSet<u64> {
    let args = crate::cli::PruneOrphansArgs {
        yes: true,
        include_live: false,
        all: false,
        servers: Vec::new(),
        policies: Vec::new(),
        json: false,
    };
    match crate::commands::prune_orphans::prune(config, &client(sim), &args, now).await {
        Ok(lines) => lines
            .iter()
            .filter(|l| l.verdict == crate::commands::prune_orphans::Verdict::Deleted)
            .map(|l| l.orphan.id)
            .collect(),
        Err(e) => {
            violations.push(format!("prune-orphans failed with no faults: {e}"));
            BTreeSet::new()
        }
    }
}

/// What was there at the start and not a running policy's own is still
/// there (unless `prune-orphans` deleted it).
fn check_survivors(
    items: &[(Kind, u64, Seen)],
    foreign: &BTreeSet<(Kind, u64)>,
    untouchable: &BTreeSet<(Kind, u64)>,
    pruned: &BTreeSet<u64>,
    violations: &mut Vec<String>,
) {
    for (kind, id) in foreign {
        if !items.iter().any(|(k, i, _)| k == kind && i == id) && !pruned.contains(id) {
            violations.push(format!("{kind} #{id}, not snapkeep's, was deleted"));
        }
    }
    for (kind, id) in untouchable {
        if !items.iter().any(|(k, i, _)| k == kind && i == id) {
            violations.push(format!(
                "{kind} #{id} (protected, a paused policy's, or another config's live item) was deleted"
            ));
        }
    }
}

/// At most one item per slot once converged. A slot whose keeper (the
/// lowest id that has not failed) never completes — stuck in progress, a
/// status nobody documented — cannot converge: its job must say so.
fn check_one_item_per_slot(
    config: &Config,
    sim: &Simulator,
    items: &[(Kind, u64, Seen)],
    protected: &BTreeSet<u64>,
    last: &PassReport,
    violations: &mut Vec<String>,
) {
    let mut per_slot: BTreeMap<SlotKey, usize> = BTreeMap::new();
    for (kind, id, s) in items {
        // A protected second item is left alone on purpose.
        if s.unknown || protected.contains(id) {
            continue;
        }
        if let Some((policy, slot)) = owner(config, s) {
            *per_slot.entry((*kind, s.server, policy, slot)).or_default() += 1;
        }
    }
    for ((kind, server, policy, slot), n) in per_slot {
        let keeper_done = items
            .iter()
            .filter(|(k, _, s)| {
                *k == kind
                    && s.server == server
                    && !s.failed
                    && owner(config, s).is_some_and(|(p, t)| p == policy && t == slot)
            })
            .min_by_key(|(_, id, _)| *id)
            .is_some_and(|(_, _, s)| s.completed);
        if n > 1 && !keeper_done {
            let reported_ok = last.outcomes.iter().any(|o| {
                o.spec.server_id == server
                    && config.policies[o.spec.policy].name == policy
                    && o.spec.slot == slot
                    && o.error.is_none()
            });
            if reported_ok {
                violations.push(format!(
                    "server {server} policy {policy}: slot {} reported ok while its item is not completed",
                    slot.to_rfc3339()
                ));
            }
            continue;
        }
        if n > 1 {
            let which: Vec<String> = match kind {
                Kind::Snapshot => sim
                    .snapshots(Some(server))
                    .into_iter()
                    .map(|s| format!("#{} {} {}", s.id, s.name, s.status))
                    .collect(),
                Kind::Backup => sim
                    .backups(Some(server))
                    .into_iter()
                    .map(|b| format!("#{} {} {}", b.id, b.description, b.status))
                    .collect(),
            };
            violations.push(format!(
                "{n} {kind}s for server {server} policy {policy} slot {} after converging: {}",
                slot.to_rfc3339(),
                which.join(", ")
            ));
        }
    }
}

/// Every delete the simulator answered: never an item not snapkeep's,
/// never another policy's, a paused one's or a protected id. How many.
fn check_deletes(
    config: &Config,
    sim: &Simulator,
    watch: &Mutex<Watch>,
    pruned: &BTreeSet<u64>,
    protected: &BTreeSet<u64>,
    violations: &mut Vec<String>,
) -> u64 {
    let deleted: Vec<u64> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE" && r.status == 204)
        .filter_map(|r| {
            r.path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .and_then(|id| id.parse().ok())
        })
        .collect();
    let count = deleted.len() as u64;
    {
        let w = watch.lock().expect("watch");
        for id in deleted {
            if pruned.contains(&id) {
                continue;
            }
            let theirs = [Kind::Snapshot, Kind::Backup].iter().any(|k| {
                w.items
                    .get(&(*k, id))
                    .is_some_and(|s| owner(config, s).is_none())
            });
            if theirs {
                violations.push(format!("#{id}, not snapkeep's, was deleted"));
            }
            // A pass deletes only the deleting policy's own: an enabled
            // policy that lists the server, never a protected id.
            let not_own = [Kind::Snapshot, Kind::Backup].iter().any(|k| {
                w.items.get(&(*k, id)).is_some_and(|s| {
                    owner(config, s).is_some_and(|(p, _)| {
                        !config.policies.iter().any(|q| {
                            q.name == p
                                && q.kind == *k
                                && q.enabled
                                && q.servers.contains(&s.server)
                        })
                    })
                })
            });
            if not_own || protected.contains(&id) {
                violations.push(format!(
                    "#{id} was deleted by a pass but was not a running policy's own deletable item"
                ));
            }
        }
        violations.extend(w.violations.iter().cloned());
    }
    count
}

/// What a pass costs under light faults, against the same pass without:
/// printed (`-- --nocapture`), and held within twice the clean cost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_per_bound_under_five_percent_5xx_and_429() {
    const SERVERS: u64 = 40;
    let mut seed = Seed::empty();
    for server in 1..=SERVERS {
        seed = seed.server(server, format!("srv-{server}"));
        for d in ["2025-03-08T03:00:00Z", "2025-03-09T03:00:00Z"] {
            seed = seed.snapshot(server, snap_name(d), at(d), SimStatus::Completed);
        }
    }
    let servers: Vec<String> = (1..=SERVERS).map(|s| s.to_string()).collect();
    let config = config(&format!(
        "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [{}]\nschedule = \"0 3 * * *\"\nkeep_last = 2\n",
        servers.join(", ")
    ));
    let mut figures = Vec::new();
    for (what, faults) in [
        ("no faults", Faults::none()),
        (
            "5% 5xx + 5% 429",
            Faults::none().with_global(
                FaultSpec::none()
                    .with_errors(0.05, 503)
                    .with_rate_limit(0.05, 0),
            ),
        ),
        (
            "30% of creates lost (applied, answer lost)",
            Faults::none().with_endpoint(
                Endpoint::SnapshotsCreate,
                FaultSpec::none().with_lost_responses(0.3),
            ),
        ),
        (
            "30% of creates 500 (not applied)",
            Faults::none().with_endpoint(
                Endpoint::SnapshotsCreate,
                FaultSpec::none().with_errors(0.3, 500),
            ),
        ),
    ] {
        let sim = simulator(seed.clone(), faults.with_page_size(50), 77).await;
        // list_lag twice the poll interval, as the defaults have it (30 s
        // and 15 s): a lookup costs about two polls, shared by every waiter.
        let client = super::testkit::client_with(&sim, |s| s.list_lag = Duration::from_millis(20));
        let report = pass(&config, &client, now(), jobs(&config, now())).await;
        let retried = report.api.retries;
        let log = sim.requests();
        let posts = log.iter().filter(|r| r.method == "POST").count();
        let deletes = log.iter().filter(|r| r.method == "DELETE").count();
        let lists = log.iter().filter(|r| r.method == "GET").count();
        // The lower bound: one listing of ceil(items / 50) pages, one create
        // and one delete per server.
        let bound = (SERVERS * 2).div_ceil(50) + 2 * SERVERS;
        figures.push((
            what,
            log.len(),
            bound,
            report.failed(),
            posts,
            deletes,
            lists,
            retried,
        ));
        sim.shutdown().await;
    }
    for (what, calls, bound, failed, posts, deletes, lists, retried) in &figures {
        // Where the calls beyond the bound go: the client's retries of a
        // call (429, 5xx on GET/DELETE), creates sent again after list_lag,
        // and completion polls (GETs beyond the first listing).
        let resent = posts.saturating_sub(SERVERS as usize);
        let polls = lists.saturating_sub((SERVERS * 2).div_ceil(50) as usize);
        println!(
            "{what}: {calls} calls ({posts} POST, {deletes} DELETE, {lists} GET) for a bound of {bound}: calls/bound = {:.3}; beyond it: {retried} retried by the client, {resent} POST(s) beyond one per server, {polls} GET(s) beyond the first listing (completion polls and lookups); {failed} job(s) failed",
            *calls as f64 / *bound as f64
        );
    }
    let clean = figures[0].1 as f64;
    assert!(figures[1].1 as f64 <= 2.0 * clean, "{figures:?}");
}

fn snap_name(slot: &str) -> String {
    super::testkit::snap("nightly", slot)
}
