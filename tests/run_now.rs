//! `--run-now`, `--dry-run`, `--force`: the rotation pass end to end.

use chrono::{DateTime, TimeDelta, Utc};
use snapkeep_sim::{BackupType, Endpoint, FaultSpec, Faults, Seed, SimStatus};

use crate::support::{Setup, Sim};

const DAILY: &str = r#"
[[policy]]
name = "nightly"
kind = "snapshot"
servers = [1]
schedule = "0 3 * * *"
keep_last = 3
"#;

/// The slot `0 3 * * *` (UTC) gives right now.
fn slot() -> DateTime<Utc> {
    let now = Utc::now();
    let today = now.date_naive().and_hms_opt(3, 0, 0).unwrap().and_utc();
    if today <= now {
        today
    } else {
        today - TimeDelta::days(1)
    }
}

fn ours(days_ago: i64) -> String {
    format!(
        "snapkeep-nightly-{}",
        (slot() - TimeDelta::days(days_ago)).format("%Y%m%d-%H%M%S")
    )
}

fn at(days_ago: i64) -> DateTime<Utc> {
    slot() - TimeDelta::days(days_ago) + TimeDelta::minutes(1)
}

fn deletes(sim: &Sim) -> Vec<String> {
    sim.sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect()
}

#[test]
fn first_pass_on_an_empty_server_creates_one_completed_snapshot() {
    let sim = Sim::start(Seed::empty().server(1, "web-01"));
    let s = Setup::new(&sim, DAILY);
    let run = s.run(&["--run-now"]).expect(0);
    assert_eq!(sim.snapshot_names(1), vec![ours(0)]);
    assert_eq!(sim.sim.snapshots(Some(1))[0].status, SimStatus::Completed);
    assert!(
        run.stdout().contains("1 job(s): 1 ok, 0 failed"),
        "{}",
        run.stdout()
    );
    assert!(run.stderr().contains("create"), "{}", run.stderr());
    assert!(deletes(&sim).is_empty());
}

#[test]
fn rotation_at_the_cap_deletes_our_oldest_and_never_manual() {
    let seed = Seed::empty()
        .server(1, "web-01")
        .snapshot(1, "before-upgrade", at(30), SimStatus::Completed)
        .snapshot(1, "debug", at(20), SimStatus::Completed)
        .snapshot(1, ours(3), at(3), SimStatus::Completed)
        .snapshot(1, ours(2), at(2), SimStatus::Completed)
        .snapshot(1, ours(1), at(1), SimStatus::Completed);
    let sim = Sim::start(seed);
    Setup::new(&sim, DAILY).run(&["--run-now"]).expect(0);
    let names = sim.snapshot_names(1);
    assert_eq!(names, {
        let mut v = vec![
            "before-upgrade".to_owned(),
            "debug".into(),
            ours(2),
            ours(1),
            ours(0),
        ];
        v.sort();
        v
    });
    assert!(sim.sim.max_snapshots_seen(1) <= 5, "never above the cap");
    // Room was made before the create, not after.
    let reqs = sim.sim.requests();
    let del = reqs.iter().position(|r| r.method == "DELETE").unwrap();
    let post = reqs.iter().position(|r| r.method == "POST").unwrap();
    assert!(del < post);
    assert!(
        reqs.iter().all(|r| r.status != 400),
        "no create hit the limit"
    );
}

#[test]
fn keep_last_below_what_exists_prunes_oldest_after_create() {
    let seed = Seed::empty()
        .server(1, "web-01")
        .snapshot(1, ours(4), at(4), SimStatus::Completed)
        .snapshot(1, ours(3), at(3), SimStatus::Completed)
        .snapshot(1, ours(2), at(2), SimStatus::Completed)
        .snapshot(1, ours(1), at(1), SimStatus::Completed);
    let sim = Sim::start(seed);
    let s = Setup::new(&sim, &DAILY.replace("keep_last = 3", "keep_last = 2"));
    let run = s.run(&["--run-now"]).expect(0);
    let mut want = vec![ours(1), ours(0)];
    want.sort();
    assert_eq!(sim.snapshot_names(1), want);
    assert!(
        run.stderr().contains("retention: no-rule") || run.stderr().contains("retention"),
        "{}",
        run.stderr()
    );
    // Pruning happened after the create completed.
    let reqs = sim.sim.requests();
    let post = reqs.iter().position(|r| r.method == "POST").unwrap();
    assert!(
        reqs.iter()
            .enumerate()
            .filter(|(_, r)| r.method == "DELETE")
            .all(|(i, _)| i > post)
    );
}

#[test]
fn server_full_of_manual_snapshots_is_refused_and_nothing_deleted() {
    let mut seed = Seed::empty().server(1, "legacy-01");
    for i in 0..5 {
        seed = seed.snapshot(1, format!("manual-{i}"), at(10 + i), SimStatus::Completed);
    }
    let sim = Sim::start(seed);
    let run = Setup::new(&sim, DAILY).run(&["--run-now"]).expect(1);
    assert!(deletes(&sim).is_empty());
    assert_eq!(sim.count(&["POST"]), 0);
    let out = run.stdout();
    assert!(
        out.contains("server 1 (legacy-01) is at the VPS.org cap of 5 snapshots"),
        "{out}"
    );
    assert!(out.contains("5 not created by snapkeep"), "{out}");
}

#[test]
fn stuck_in_progress_times_out_and_prunes_nothing() {
    let seed = Seed::empty()
        .server(1, "web-01")
        .snapshot(1, ours(3), at(3), SimStatus::Completed)
        .snapshot(1, ours(2), at(2), SimStatus::Completed)
        .snapshot(1, ours(1), at(1), SimStatus::Completed);
    let sim = Sim::start(seed);
    sim.faults(Faults::none().with_stuck_in_progress());
    let policies = format!(
        "[defaults]\npoll_interval = \"100ms\"\nwait_timeout = \"1s\"\n{}",
        DAILY.replace("keep_last = 3", "keep_last = 1")
    );
    let run = Setup::new(&sim, &policies).run(&["--run-now"]).expect(1);
    assert!(
        deletes(&sim).is_empty(),
        "nothing pruned after a failed wait"
    );
    assert!(run.stdout().contains("wait_timeout"), "{}", run.stdout());
    assert_eq!(sim.snapshot_names(1).len(), 4);
}

#[test]
fn failed_item_of_ours_is_cleaned_up_first() {
    let seed = Seed::empty()
        .server(1, "web-01")
        .snapshot(1, ours(1), at(1), SimStatus::Failed)
        .snapshot(1, "manual-failed", at(1), SimStatus::Failed);
    let sim = Sim::start(seed);
    Setup::new(&sim, DAILY).run(&["--run-now"]).expect(0);
    let mut want = vec!["manual-failed".to_owned(), ours(0)];
    want.sort();
    assert_eq!(
        sim.snapshot_names(1),
        want,
        "our failed one went, the manual one stays"
    );
}

#[test]
fn backup_policy_leaves_automatic_and_users_manual_backups_alone() {
    let marker = |d: i64| {
        format!(
            "snapkeep:daily-backup:{}",
            (slot() - TimeDelta::days(d)).format("%Y-%m-%dT%H:%M:%SZ")
        )
    };
    let seed = Seed::empty()
        .server(1, "web-01")
        .backup(
            1,
            BackupType::Automatic,
            "Automatic daily backup",
            at(2),
            SimStatus::Completed,
        )
        .backup(
            1,
            BackupType::Automatic,
            "Automatic daily backup",
            at(1),
            SimStatus::Completed,
        )
        .backup(
            1,
            BackupType::Manual,
            "Pre-update backup",
            at(9),
            SimStatus::Completed,
        )
        .backup(
            1,
            BackupType::Manual,
            marker(2),
            at(2),
            SimStatus::Completed,
        )
        .backup(
            1,
            BackupType::Manual,
            marker(1),
            at(1),
            SimStatus::Completed,
        );
    let sim = Sim::start(seed);
    let policy = r#"
[[policy]]
name = "daily-backup"
kind = "backup"
servers = [1]
schedule = "0 3 * * *"
keep_last = 1
description = "rotated by snapkeep"
"#;
    Setup::new(&sim, policy).run(&["--run-now"]).expect(0);
    let mut descs: Vec<String> = sim
        .sim
        .backups(Some(1))
        .into_iter()
        .map(|b| b.description)
        .collect();
    descs.sort();
    let mut want = vec![
        "Automatic daily backup".to_owned(),
        "Automatic daily backup".into(),
        "Pre-update backup".into(),
        format!("{} rotated by snapkeep", marker(0)),
    ];
    want.sort();
    assert_eq!(descs, want);
}

#[test]
fn forty_servers_with_page_size_three_cost_a_bounded_number_of_calls() {
    let mut seed = Seed::empty();
    for id in 1..=40 {
        seed = seed.server(id, format!("srv-{id:02}"));
        seed = seed.snapshot(id, format!("manual-{id}"), at(5), SimStatus::Completed);
        seed = seed.snapshot(id, ours(1), at(1), SimStatus::Completed);
    }
    let sim = Sim::start(seed);
    sim.faults(Faults::none().with_page_size(3));
    let servers: Vec<String> = (1..=40).map(|i| i.to_string()).collect();
    let policy = DAILY
        .replace(
            "servers = [1]",
            &format!("servers = [{}]", servers.join(", ")),
        )
        .replace("keep_last = 3", "keep_last = 1");
    let run = Setup::new(&sim, &policy).run(&["--run-now"]).expect(0);
    for id in 1..=40 {
        let mut want = vec![format!("manual-{id}"), ours(0)];
        want.sort();
        assert_eq!(sim.snapshot_names(id), want, "server {id}");
    }
    let reqs = sim.sim.requests();
    let creates = reqs.iter().filter(|r| r.method == "POST").count();
    let deletes = reqs.iter().filter(|r| r.method == "DELETE").count();
    let gets: Vec<_> = reqs.iter().filter(|r| r.method == "GET").collect();
    // A listing is one walk over the pages; its first page has no `page=` parameter.
    let listings = gets.iter().filter(|r| !r.query.contains("page=")).count();
    let max_items: usize = 40 * 3;
    let pages = max_items.div_ceil(3);
    let polls = listings - 1;
    assert_eq!((creates, deletes), (40, 40));
    assert!(
        reqs.len() <= pages + creates + deletes + pages * polls,
        "{} calls > bound {} (pages {pages}, polls {polls})",
        reqs.len(),
        pages + creates + deletes + pages * polls
    );
    // One listing serves every server: far fewer listings than servers.
    assert!(
        listings < 15,
        "{listings} listings for 40 servers\n{}",
        run.stderr()
    );
}

#[test]
fn dry_run_sends_nothing_mutating_and_prints_the_plan() {
    let seed = Seed::empty()
        .server(1, "web-01")
        .snapshot(1, ours(3), at(3), SimStatus::Completed)
        .snapshot(1, ours(2), at(2), SimStatus::Completed)
        .snapshot(1, ours(1), at(1), SimStatus::Completed);
    let sim = Sim::start(seed);
    let s = Setup::new(&sim, &DAILY.replace("keep_last = 3", "keep_last = 2"));
    let run = s.run(&["--run-now", "--dry-run"]).expect(0);
    assert_eq!(sim.count(&["POST", "DELETE", "PUT", "PATCH"]), 0);
    let out = run.stdout();
    assert!(out.contains(&format!("would create {}", ours(0))), "{out}");
    assert!(
        out.contains("would delete") && out.contains(&ours(3)) && out.contains(&ours(2)),
        "{out}"
    );
    assert!(out.contains("DRY RUN"), "{out}");
    assert_eq!(sim.snapshot_names(1).len(), 3);
}

#[test]
fn bad_config_exits_2_naming_the_line() {
    let sim = Sim::start(Seed::empty().server(1, "web-01"));
    let s = Setup::new(&sim, &DAILY.replace("keep_last = 3", "keep_lats = 3"));
    let run = s.run(&["--run-now"]).expect(2);
    let err = run.stderr();
    assert!(
        err.contains("config.toml:") && err.contains("keep_lats"),
        "{err}"
    );
    let line = std::fs::read_to_string(&s.config)
        .unwrap()
        .lines()
        .position(|l| l.contains("keep_lats"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!("config.toml:{line}:")),
        "line {line}: {err}"
    );
    assert!(
        sim.sim.requests().is_empty(),
        "no API call with a bad config"
    );
}

#[test]
fn two_runs_in_one_period_create_one_item_and_force_a_second() {
    let sim = Sim::start(Seed::empty().server(1, "web-01"));
    let s = Setup::new(&sim, DAILY);
    s.run(&["--run-now"]).expect(0);
    let second = s.run(&["--run-now"]).expect(0);
    assert_eq!(sim.snapshot_names(1), vec![ours(0)]);
    assert!(
        second.stdout().contains("slot already taken"),
        "{}",
        second.stdout()
    );
    s.run(&["--run-now", "--force"]).expect(0);
    assert_eq!(sim.snapshot_names(1).len(), 2);
}

#[test]
fn faults_5xx_and_429_still_converge_without_duplicates() {
    let mut seed = Seed::empty();
    for id in 1..=5 {
        seed = seed.server(id, format!("srv-{id}"));
        seed = seed.snapshot(id, ours(2), at(2), SimStatus::Completed);
        seed = seed.snapshot(id, ours(1), at(1), SimStatus::Completed);
    }
    let sim = Sim::start(seed);
    sim.faults(
        Faults::none()
            .with_global(
                FaultSpec::none()
                    .with_errors(0.20, 503)
                    .with_rate_limit(0.15, 0),
            )
            .with_endpoint(
                Endpoint::SnapshotsCreate,
                FaultSpec::none()
                    .with_errors(0.2, 502)
                    .with_rate_limit(0.15, 0)
                    .with_lost_responses(0.3),
            ),
    );
    // A 502 on a create may hide a create that landed: the job looks for
    // it until wait_timeout, then fails "outcome unknown" and a later pass
    // converges. Short waits keep the passes quick.
    let policy = DAILY
        .replace("servers = [1]", "servers = [1, 2, 3, 4, 5]")
        .replace("keep_last = 3", "keep_last = 2\nwait_timeout = \"2s\"");
    let s = Setup::with_api(&sim, "requests_per_second = 0\nmax_retries = 8\n", &policy);
    let mut ok = false;
    for _ in 0..10 {
        if s.run(&["--run-now"]).code() == 0 {
            ok = true;
            break;
        }
    }
    assert!(ok, "converged within ten passes");
    for id in 1..=5 {
        let mut want = vec![ours(1), ours(0)];
        want.sort();
        assert_eq!(
            sim.snapshot_names(id),
            want,
            "server {id}: exactly one item per slot"
        );
    }
}

#[test]
fn a_missing_server_fails_its_job_but_not_the_others() {
    let sim = Sim::start(Seed::empty().server(1, "web-01"));
    let run = Setup::new(&sim, &DAILY.replace("servers = [1]", "servers = [1, 999]"))
        .run(&["--run-now"])
        .expect(1);
    assert_eq!(sim.snapshot_names(1), vec![ours(0)]);
    let out = run.stdout();
    assert!(
        out.contains("FAILED  server 999") && out.contains("404"),
        "{out}"
    );
    assert!(out.contains("2 job(s): 1 ok, 1 failed"), "{out}");
}
