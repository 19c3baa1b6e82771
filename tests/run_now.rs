//! `--run-now`, `--dry-run`, `--force`: the rotation pass end to end.
//!
//! The summary `--run-now` prints on stdout is the contract: these tests
//! compare it whole (see `support::Test` and `support::Normalize`).

use snapkeep_sim::{BackupType, Endpoint, Faults, Scripted, Seed, SimStatus};

use crate::support::{Daily, Normalize, Setup, Sim, Test, assert_text};

/// `{daily}` is a daily UTC hour far from now (see `support::Daily`).
const DAILY: &str = r#"
[[policy]]
name = "nightly"
kind = "snapshot"
servers = [1]
schedule = "{daily}"
keep_last = 3
"#;

fn ours(daily: &Daily, days_ago: i64) -> String {
    daily.snapshot("nightly", days_ago)
}

fn deletes(sim: &Sim) -> Vec<String> {
    sim.sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect()
}

const FIRST_PASS_ON_AN_EMPTY_LOG: &str = "INFO create server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT} ({T})
";

#[test]
fn first_pass_on_an_empty_server_creates_one_completed_snapshot() {
    let ran = Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .policies(DAILY)
        .args(&["--run-now"])
        .stdout(
            "ok      server 1 (web-01) policy nightly: created #1001 snapkeep-nightly-{SLOT} [{T}]
1 job(s): 1 ok, 0 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
",
        )
        .stderr(FIRST_PASS_ON_AN_EMPTY_LOG)
        .run();
    let sim = ran.sim();
    assert_eq!(sim.snapshot_names(1), vec![ours(&ran.daily, 0)]);
    assert_eq!(sim.sim.snapshots(Some(1))[0].status, SimStatus::Completed);
    assert!(deletes(sim).is_empty());
}

const ROTATION_AT_THE_CAP_DELETES_LOG: &str = "INFO delete server 1 (web-01) policy nightly #1003 snapkeep-nightly-{SLOT-3d}: room: at the cap, retention drops it next
INFO create server 1 (web-01) policy nightly #1006 snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy nightly #1006 snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy nightly #1006 snapkeep-nightly-{SLOT} ({T})
";

#[test]
fn rotation_at_the_cap_deletes_our_oldest_and_never_manual() {
    let t = Test::new();
    let d = t.daily.clone();
    let seed = Seed::empty()
        .server(1, "web-01")
        .snapshot(1, "before-upgrade", d.at(30), SimStatus::Completed)
        .snapshot(1, "debug", d.at(20), SimStatus::Completed);
    let seed = d.with_snapshots(seed, 1, "nightly", &[3, 2, 1]);
    let ran = t
        .seed(seed)
        .policies(DAILY)
        .args(&["--run-now"])
        .stdout(
            "ok      server 1 (web-01) policy nightly: created #1006 snapkeep-nightly-{SLOT}; deleted #1003 snapkeep-nightly-{SLOT-3d} [{T}]
1 job(s): 1 ok, 0 failed; created 1, deleted 1; {N} API call(s), 0 retried, in {T}
",
        )
        .stderr(ROTATION_AT_THE_CAP_DELETES_LOG)
        .run();
    let sim = ran.sim();
    let names = sim.snapshot_names(1);
    assert_eq!(names, {
        let mut v = vec![
            "before-upgrade".to_owned(),
            "debug".into(),
            ours(&d, 2),
            ours(&d, 1),
            ours(&d, 0),
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

const KEEP_LAST_BELOW_WHAT_EXISTS_LOG: &str = "INFO create server 1 (web-01) policy nightly #1005 snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy nightly #1005 snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy nightly #1005 snapkeep-nightly-{SLOT} ({T})
INFO delete server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT-4d}: retention: no-rule
INFO delete server 1 (web-01) policy nightly #1002 snapkeep-nightly-{SLOT-3d}: retention: no-rule
INFO delete server 1 (web-01) policy nightly #1003 snapkeep-nightly-{SLOT-2d}: retention: no-rule
";

#[test]
fn keep_last_below_what_exists_prunes_oldest_after_create() {
    let t = Test::new();
    let d = t.daily.clone();
    let seed = d.with_snapshots(
        Seed::empty().server(1, "web-01"),
        1,
        "nightly",
        &[4, 3, 2, 1],
    );
    let ran = t
        .seed(seed)
        .policies(&DAILY.replace("keep_last = 3", "keep_last = 2"))
        .args(&["--run-now"])
        .stdout(
            "ok      server 1 (web-01) policy nightly: created #1005 snapkeep-nightly-{SLOT}; deleted #1001 snapkeep-nightly-{SLOT-4d}; deleted #1002 snapkeep-nightly-{SLOT-3d}; deleted #1003 snapkeep-nightly-{SLOT-2d} [{T}]
1 job(s): 1 ok, 0 failed; created 1, deleted 3; {N} API call(s), 0 retried, in {T}
",
        )
        // Each deletion is logged with its reason: no keep rule wants it.
        .stderr(KEEP_LAST_BELOW_WHAT_EXISTS_LOG)
        .run();
    let sim = ran.sim();
    let mut want = vec![ours(&d, 1), ours(&d, 0)];
    want.sort();
    assert_eq!(sim.snapshot_names(1), want);
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

const SERVER_FULL_OF_MANUAL_SNAPSHOTS_LOG: &str = "ERROR refuse server 1 (legacy-01) policy nightly: server 1 (legacy-01) is at the VPS.org cap of 5 snapshots: nothing of this policy's, 0 protected, 5 not created by snapkeep and 0 by other snapkeep policies (never deleted here). Delete some by hand, or lower keep_* on the other policies
";

#[test]
fn server_full_of_manual_snapshots_is_refused_and_nothing_deleted() {
    let t = Test::new();
    let mut seed = Seed::empty().server(1, "legacy-01");
    for i in 0..5 {
        seed = seed.snapshot(
            1,
            format!("manual-{i}"),
            t.daily.at(10 + i),
            SimStatus::Completed,
        );
    }
    let ran = t
        .seed(seed)
        .policies(DAILY)
        .args(&["--run-now"])
        .status(1)
        .stdout(
            "FAILED  server 1 (legacy-01) policy nightly (refused): server 1 (legacy-01) is at the VPS.org cap of 5 snapshots: nothing of this policy's, 0 protected, 5 not created by snapkeep and 0 by other snapkeep policies (never deleted here). Delete some by hand, or lower keep_* on the other policies [{T}]
1 job(s): 0 ok, 1 failed; created 0, deleted 0; {N} API call(s), 0 retried, in {T}
",
        )
        .stderr(SERVER_FULL_OF_MANUAL_SNAPSHOTS_LOG)
        .run();
    assert!(deletes(ran.sim()).is_empty());
    assert_eq!(ran.sim().count(&["POST"]), 0);
}

const STUCK_IN_PROGRESS_TIMES_OUT_LOG: &str = "INFO create server 1 (web-01) policy nightly #1004 snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy nightly #1004 snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 1s)
ERROR fail server 1 (web-01) policy nightly #1004 snapkeep-nightly-{SLOT}: new snapshot #1004 snapkeep-nightly-{SLOT}: still not completed after 1s (wait_timeout); pruned nothing ({T})
";

#[test]
fn stuck_in_progress_times_out_and_prunes_nothing() {
    let t = Test::new();
    let d = t.daily.clone();
    let seed = d.with_snapshots(Seed::empty().server(1, "web-01"), 1, "nightly", &[3, 2, 1]);
    let policies = format!(
        "[defaults]\npoll_interval = \"100ms\"\nwait_timeout = \"1s\"\n{}",
        DAILY.replace("keep_last = 3", "keep_last = 1")
    );
    let ran = t
        .seed(seed)
        .faults(Faults::none().with_stuck_in_progress())
        .policies(&policies)
        .args(&["--run-now"])
        .status(1)
        .stdout(
            "FAILED  server 1 (web-01) policy nightly (wait_timeout): new snapshot #1004 snapkeep-nightly-{SLOT}: still not completed after 1s (wait_timeout); pruned nothing [before that: created #1004 snapkeep-nightly-{SLOT}] [{T}]
1 job(s): 0 ok, 1 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
",
        )
        .stderr(STUCK_IN_PROGRESS_TIMES_OUT_LOG)
        .run();
    let sim = ran.sim();
    assert!(
        deletes(sim).is_empty(),
        "nothing pruned after a failed wait"
    );
    assert_eq!(sim.snapshot_names(1).len(), 4);
}

const FAILED_ITEM_OF_OURS_IS_LOG: &str = "INFO delete server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT-1d}: failed: takes room and restores nothing
INFO create server 1 (web-01) policy nightly #1003 snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy nightly #1003 snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy nightly #1003 snapkeep-nightly-{SLOT} ({T})
";

#[test]
fn failed_item_of_ours_is_cleaned_up_first() {
    let t = Test::new();
    let d = t.daily.clone();
    let seed = Seed::empty()
        .server(1, "web-01")
        .snapshot(1, ours(&d, 1), d.at(1), SimStatus::Failed)
        .snapshot(1, "manual-failed", d.at(1), SimStatus::Failed);
    let ran = t
        .seed(seed)
        .policies(DAILY)
        .args(&["--run-now"])
        .stdout(
            "ok      server 1 (web-01) policy nightly: created #1003 snapkeep-nightly-{SLOT}; deleted #1001 snapkeep-nightly-{SLOT-1d} [{T}]
1 job(s): 1 ok, 0 failed; created 1, deleted 1; {N} API call(s), 0 retried, in {T}
",
        )
        .stderr(FAILED_ITEM_OF_OURS_IS_LOG)
        .run();
    let mut want = vec!["manual-failed".to_owned(), ours(&d, 0)];
    want.sort();
    assert_eq!(
        ran.sim().snapshot_names(1),
        want,
        "our failed one went, the manual one stays"
    );
}

const BACKUP_POLICY_LEAVES_AUTOMATIC_AND_LOG: &str = "INFO create server 1 (web-01) policy daily-backup #5006 snapkeep:daily-backup:{SLOT} rotated by snapkeep: scheduled slot
INFO wait server 1 (web-01) policy daily-backup #5006 snapkeep:daily-backup:{SLOT} rotated by snapkeep: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy daily-backup #5006 snapkeep:daily-backup:{SLOT} rotated by snapkeep ({T})
INFO delete server 1 (web-01) policy daily-backup #5004 snapkeep:daily-backup:{SLOT-2d}: retention: no-rule
INFO delete server 1 (web-01) policy daily-backup #5005 snapkeep:daily-backup:{SLOT-1d}: retention: no-rule
";

#[test]
fn backup_policy_leaves_automatic_and_users_manual_backups_alone() {
    let t = Test::new();
    let d = t.daily.clone();
    let marker = |days: i64| d.backup_marker("daily-backup", days);
    let seed = Seed::empty()
        .server(1, "web-01")
        .backup(
            1,
            BackupType::Automatic,
            "Automatic daily backup",
            d.at(2),
            SimStatus::Completed,
        )
        .backup(
            1,
            BackupType::Automatic,
            "Automatic daily backup",
            d.at(1),
            SimStatus::Completed,
        )
        .backup(
            1,
            BackupType::Manual,
            "Pre-update backup",
            d.at(9),
            SimStatus::Completed,
        )
        .backup(
            1,
            BackupType::Manual,
            marker(2),
            d.at(2),
            SimStatus::Completed,
        )
        .backup(
            1,
            BackupType::Manual,
            marker(1),
            d.at(1),
            SimStatus::Completed,
        );
    let policy = r#"
[[policy]]
name = "daily-backup"
kind = "backup"
servers = [1]
schedule = "{daily}"
keep_last = 1
description = "rotated by snapkeep"
"#;
    let ran = t
        .seed(seed)
        .policies(policy)
        .args(&["--run-now"])
        .stdout(
            "ok      server 1 (web-01) policy daily-backup: created #5006 snapkeep:daily-backup:{SLOT} rotated by snapkeep; deleted #5004 snapkeep:daily-backup:{SLOT-2d}; deleted #5005 snapkeep:daily-backup:{SLOT-1d} [{T}]
1 job(s): 1 ok, 0 failed; created 1, deleted 2; {N} API call(s), 0 retried, in {T}
",
        )
        .stderr(BACKUP_POLICY_LEAVES_AUTOMATIC_AND_LOG)
        .run();
    let mut descs: Vec<String> = ran
        .sim()
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

/// What `--run-now` prints for the forty servers: each creates one item
/// (ids in the order the creates landed: `{NEW}`) and deletes its older one.
fn forty_servers_stdout() -> String {
    let mut out: String = (1..=40)
        .map(|id| {
            format!(
                "ok      server {id} (srv-{id:02}) policy nightly: created #{{NEW}} snapkeep-nightly-{{SLOT}}; deleted #{} snapkeep-nightly-{{SLOT-1d}} [{{T}}]\n",
                1000 + 2 * id
            )
        })
        .collect();
    out.push_str(
        "40 job(s): 40 ok, 0 failed; created 40, deleted 40; {N} API call(s), 0 retried, in {T}\n",
    );
    out
}

/// The log of [`forty_servers_stdout`], in server order.
fn forty_servers_log() -> String {
    (1..=40)
        .map(|id| {
            format!(
                "INFO create server {id} (srv-{id:02}) policy nightly #{{NEW}} snapkeep-nightly-{{SLOT}}: scheduled slot
INFO wait server {id} (srv-{id:02}) policy nightly #{{NEW}} snapkeep-nightly-{{SLOT}}: until completed (poll every 100ms, give up after 20s)
INFO completed server {id} (srv-{id:02}) policy nightly #{{NEW}} snapkeep-nightly-{{SLOT}} ({{T}})
INFO delete server {id} (srv-{id:02}) policy nightly #{} snapkeep-nightly-{{SLOT-1d}}: retention: no-rule
",
                1000 + 2 * id
            )
        })
        .collect()
}

#[test]
fn forty_servers_with_page_size_three_cost_a_bounded_number_of_calls() {
    let mut t = Test::new();
    let d = t.daily.clone();
    let mut seed = Seed::empty();
    for id in 1..=40 {
        seed = seed.server(id, format!("srv-{id:02}"));
        seed = seed.snapshot(id, format!("manual-{id}"), d.at(5), SimStatus::Completed);
        seed = d.with_snapshots(seed, id, "nightly", &[1]);
    }
    // The seed's ids are 1001 to 1080; creates land in an order of their own.
    for new in 1081..=1120 {
        t = t.literal(format!("#{new} "), "#{NEW} ");
    }
    let servers: Vec<String> = (1..=40).map(|i| i.to_string()).collect();
    let policy = DAILY
        .replace(
            "servers = [1]",
            &format!("servers = [{}]", servers.join(", ")),
        )
        .replace("keep_last = 3", "keep_last = 1");
    let ran = t
        .seed(seed)
        .faults(Faults::none().with_page_size(3))
        .policies(&policy)
        .normalize(Normalize::jobs_concurrently)
        .args(&["--run-now"])
        .stdout(&forty_servers_stdout())
        .stderr(&forty_servers_log())
        .run();
    let sim = ran.sim();
    for id in 1..=40 {
        let mut want = vec![format!("manual-{id}"), ours(&d, 0)];
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
    assert!(listings < 15, "{listings} listings for 40 servers");
}

const DRY_RUN_SENDS_NOTHING_MUTATING_LOG: &str =
    "INFO create server 1 (web-01) policy nightly: scheduled slot snapkeep-nightly-{SLOT}
INFO delete server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT-3d}: retention: no-rule
INFO delete server 1 (web-01) policy nightly #1002 snapkeep-nightly-{SLOT-2d}: retention: no-rule
";

#[test]
fn dry_run_sends_nothing_mutating_and_prints_the_plan() {
    let t = Test::new();
    let d = t.daily.clone();
    let seed = d.with_snapshots(Seed::empty().server(1, "web-01"), 1, "nightly", &[3, 2, 1]);
    let ran = t
        .seed(seed)
        .policies(&DAILY.replace("keep_last = 3", "keep_last = 2"))
        .args(&["--run-now", "--dry-run"])
        .stdout(
            "ok      server 1 (web-01) policy nightly: would create snapkeep-nightly-{SLOT}; would delete #1001 snapkeep-nightly-{SLOT-3d} (retention: no-rule); would delete #1002 snapkeep-nightly-{SLOT-2d} (retention: no-rule) [{T}]
DRY RUN — nothing was changed. 1 job(s): 1 ok, 0 failed; would create 1, would delete 2; {N} API call(s), 0 retried, in {T}
",
        )
        .stderr(DRY_RUN_SENDS_NOTHING_MUTATING_LOG)
        .run();
    let sim = ran.sim();
    assert_eq!(sim.count(&["POST", "DELETE", "PUT", "PATCH"]), 0);
    assert_eq!(sim.snapshot_names(1).len(), 3);
}

#[test]
fn bad_config_exits_2_naming_the_line() {
    // The lines of the policy table and of the typo, as `Setup` writes them.
    let sim = Sim::start(Seed::empty().server(1, "web-01"));
    let bad = DAILY.replace("keep_last = 3", "keep_lats = 3");
    let text = std::fs::read_to_string(&Setup::new(&sim, &bad).config).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let (table, typo) = (line_of("[[policy]]"), line_of("keep_lats"));
    let ran = Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .policies(&bad)
        .args(&["--run-now"])
        .status(2)
        .stderr(&format!(
            "error: {{DIR}}/config.toml:{table}:1: policy.nightly: keeps nothing: set at least one of keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly (> 0 or -1) or keep_within*
{{DIR}}/config.toml:{typo}:1: policy.nightly.keep_lats: unknown key `keep_lats`; did you mean `keep_last`?
"
        ))
        .run();
    assert!(
        ran.sim().sim.requests().is_empty(),
        "no API call with a bad config"
    );
}

const TWO_RUNS_IN_ONE_PERIOD_LOG: &str = "INFO create server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT} ({T})
";

const FORCED_LOG: &str = "INFO create server 1 (web-01) policy nightly #1002 {FORCED}: scheduled slot
INFO wait server 1 (web-01) policy nightly #1002 {FORCED}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy nightly #1002 {FORCED} ({T})
";
const SLOT_TAKEN_LOG: &str = "INFO skip server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: slot {SLOT} already has this item (completed); not creating another
";

#[test]
fn two_runs_in_one_period_create_one_item_and_force_a_second() {
    let ran = Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .policies(DAILY)
        .args(&["--run-now"])
        .stdout(
            "ok      server 1 (web-01) policy nightly: created #1001 snapkeep-nightly-{SLOT} [{T}]
1 job(s): 1 ok, 0 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
",
        )
        .stderr(TWO_RUNS_IN_ONE_PERIOD_LOG)
        .run();
    ran.again(
        &["--run-now"],
        0,
        "ok      server 1 (web-01) policy nightly: slot already taken, nothing created [{T}]
1 job(s): 1 ok, 0 failed; created 0, deleted 0; {N} API call(s), 0 retried, in {T}
",
        SLOT_TAKEN_LOG,
    );
    let sim = ran.sim();
    assert_eq!(sim.snapshot_names(1), vec![ours(&ran.daily, 0)]);
    // --force names its item after the moment it runs, not the slot.
    let forced = ran.setup().run(&["--run-now", "--force"]).expect(0);
    let names = sim.snapshot_names(1);
    assert_eq!(names.len(), 2, "{names:?}");
    let new = names.iter().find(|n| **n != ours(&ran.daily, 0)).unwrap();
    let normalize = ran.normalize.clone().literal(new.as_str(), "{FORCED}");
    assert_text(
        "stdout",
        "ok      server 1 (web-01) policy nightly: created #1002 {FORCED} [{T}]
1 job(s): 1 ok, 0 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
",
        &normalize.apply(&forced.stdout()),
    );
    assert_text(
        "stderr",
        FORCED_LOG,
        &normalize.log().apply(&forced.stderr()),
    );
}

/// Five servers of one policy, each with its items of 2 and 1 days ago
/// (ids 1001 to 1010, two a server), `keep_last = 2`; `{daily}` is the
/// test's schedule. New items get ids 1011 on in the order their creates
/// land, which is timing: `#{NEW}`.
fn five_servers(t: Test) -> Test {
    let mut seed = Seed::empty();
    for id in 1..=5 {
        seed = seed.server(id, format!("srv-{id}"));
        seed = t.daily.with_snapshots(seed, id, "nightly", &[2, 1]);
    }
    let mut t = t.seed(seed).policies(
        &DAILY
            .replace("servers = [1]", "servers = [1, 2, 3, 4, 5]")
            .replace("keep_last = 3", "keep_last = 2"),
    );
    for new in 1011..=1015 {
        t = t.literal(format!("#{new} "), "#{NEW} ");
    }
    t.normalize(Normalize::jobs_concurrently)
}

/// How many creates each of servers 1 to 5 was sent.
fn creates_per_server(sim: &Sim) -> Vec<usize> {
    let posts: Vec<Option<u64>> = sim
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.server_id)
        .collect();
    (1..=5)
        .map(|id| posts.iter().filter(|s| **s == Some(id)).count())
        .collect()
}

/// Every server of [`five_servers`] holds exactly its items of yesterday
/// and of this slot.
fn assert_one_item_per_slot(sim: &Sim, daily: &Daily) {
    for id in 1..=5 {
        let mut want = vec![ours(daily, 1), ours(daily, 0)];
        want.sort();
        assert_eq!(
            sim.snapshot_names(id),
            want,
            "server {id}: exactly one item per slot"
        );
    }
}

const RETRIED_AND_LOST_STDOUT: &str = "ok      server 1 (srv-1) policy nightly: created #{NEW} snapkeep-nightly-{SLOT}; deleted #1001 snapkeep-nightly-{SLOT-2d} [{T}]
ok      server 2 (srv-2) policy nightly: adopted #{NEW} snapkeep-nightly-{SLOT} (made by another writer or by a create whose answer was lost); deleted #1003 snapkeep-nightly-{SLOT-2d} [{T}]
ok      server 3 (srv-3) policy nightly: adopted #{NEW} snapkeep-nightly-{SLOT} (made by another writer or by a create whose answer was lost); deleted #1005 snapkeep-nightly-{SLOT-2d} [{T}]
ok      server 4 (srv-4) policy nightly: created #{NEW} snapkeep-nightly-{SLOT}; deleted #1007 snapkeep-nightly-{SLOT-2d} [{T}]
ok      server 5 (srv-5) policy nightly: created #{NEW} snapkeep-nightly-{SLOT}; deleted #1009 snapkeep-nightly-{SLOT-2d} [{T}]
5 job(s): 5 ok, 0 failed; created 3, deleted 5; {N} API call(s), 4 retried, in {T}
";
/// Lines naming no server come first, sorted (`Normalize::jobs_concurrently`):
/// the client's retries of the deletes (they name an id) and of the listing.
/// A 502-504 page (the simulator's nginx's) has CRLF line ends, and an error
/// quotes it as it came: `\r`.
const RETRIED_AND_LOST_LOG: &str = "WARN API call failed, retrying endpoint=\"snapshots.delete (id 1007)\" attempt=1 wait_ms={MS} error=snapshots.delete (id 1007): VPS.org server error (504: <html>\r
<head><title>504 Gateway Timeout</title></head>\r
<body>\r
<center><h1>504 Gateway Timeout</h1></center>\r
<hr><center>nginx</center>\r
</body>\r
</html>)
WARN API call failed, retrying endpoint=\"snapshots.delete (id 1009)\" attempt=1 wait_ms={MS} error=snapshots.delete (id 1009): could not reach the VPS.org API (transport error: client error (SendRequest): connection closed before message completed)
WARN API call failed, retrying endpoint=\"snapshots.list\" attempt=1 wait_ms={MS} error=snapshots.list: VPS.org server error (503: <html>\r
<head><title>503 Service Unavailable</title></head>\r
<body>\r
<center><h1>503 Service Unavailable</h1></center>\r
<hr><center>nginx</center>\r
</body>\r
</html>)
WARN API call failed, retrying endpoint=\"snapshots.create (server 1)\" attempt=1 wait_ms={MS} error=snapshots.create (server 1): rate limited (429)
INFO create server 1 (srv-1) policy nightly #{NEW} snapkeep-nightly-{SLOT}: scheduled slot ({T})
INFO wait server 1 (srv-1) policy nightly #{NEW} snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (srv-1) policy nightly #{NEW} snapkeep-nightly-{SLOT} ({T})
INFO delete server 1 (srv-1) policy nightly #1001 snapkeep-nightly-{SLOT-2d}: retention: no-rule
WARN wait server 2 (srv-2) policy nightly: create of snapkeep-nightly-{SLOT} may have landed (snapshots.create (server 2): could not reach the VPS.org API (transport error: client error (SendRequest): connection closed before message completed)); looking for it in the provider's lists for up to 300ms (api.list_lag) before sending it again
INFO skip server 2 (srv-2) policy nightly #{NEW} snapkeep-nightly-{SLOT}: found the slot's item in the provider's list; adopting it instead of creating another
INFO wait server 2 (srv-2) policy nightly #{NEW} snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 2 (srv-2) policy nightly #{NEW} snapkeep-nightly-{SLOT} ({T})
INFO delete server 2 (srv-2) policy nightly #1003 snapkeep-nightly-{SLOT-2d}: retention: no-rule
WARN wait server 3 (srv-3) policy nightly: create of snapkeep-nightly-{SLOT} may have landed (snapshots.create (server 3): VPS.org server error (502: <html>\r
<head><title>502 Bad Gateway</title></head>\r
<body>\r
<center><h1>502 Bad Gateway</h1></center>\r
<hr><center>nginx</center>\r
</body>\r
</html>)); looking for it in the provider's lists for up to 300ms (api.list_lag) before sending it again
INFO skip server 3 (srv-3) policy nightly #{NEW} snapkeep-nightly-{SLOT}: found the slot's item in the provider's list; adopting it instead of creating another
INFO wait server 3 (srv-3) policy nightly #{NEW} snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 3 (srv-3) policy nightly #{NEW} snapkeep-nightly-{SLOT} ({T})
INFO delete server 3 (srv-3) policy nightly #1005 snapkeep-nightly-{SLOT-2d}: retention: no-rule
INFO create server 4 (srv-4) policy nightly #{NEW} snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 4 (srv-4) policy nightly #{NEW} snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 4 (srv-4) policy nightly #{NEW} snapkeep-nightly-{SLOT} ({T})
INFO delete server 4 (srv-4) policy nightly #1007 snapkeep-nightly-{SLOT-2d}: retention: no-rule ({T})
INFO create server 5 (srv-5) policy nightly #{NEW} snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 5 (srv-5) policy nightly #{NEW} snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 5 (srv-5) policy nightly #{NEW} snapkeep-nightly-{SLOT} ({T})
INFO delete server 5 (srv-5) policy nightly #1009 snapkeep-nightly-{SLOT-2d}: retention: no-rule ({T})
";

/// 5xx and 429s the client retries, and creates that landed but whose
/// answer did not: each server's job meets its own scripted fault (one
/// pass, so its output is fixed whatever order the jobs run in). The first
/// listing is answered 503 and retried; server 1's create 429 and retried;
/// server 2's create lands but its answer is lost and server 3's is
/// answered 502 after it landed, so each job looks for it (`list_lag`),
/// finds it and adopts it, sending no second create; server 4's delete is
/// answered 504 and retried, server 5's lands with its answer lost and its
/// retry's 404 says it is done. One pass: exactly one item per slot.
#[test]
fn retried_5xx_and_429s_and_lost_answers_converge_in_one_pass_without_duplicates() {
    let rate_limited = Scripted::RateLimit {
        retry_after_secs: 0,
    };
    let faults = Faults::none()
        .with_endpoint_script(Endpoint::SnapshotsList, [Scripted::Error(503)])
        .with_script(Endpoint::SnapshotsCreate, 1, [rate_limited])
        .with_script(Endpoint::SnapshotsCreate, 2, [Scripted::LostResponse])
        .with_script(Endpoint::SnapshotsCreate, 3, [Scripted::AppliedError(502)])
        .with_script(Endpoint::SnapshotsDelete, 4, [Scripted::Error(504)])
        .with_script(Endpoint::SnapshotsDelete, 5, [Scripted::LostResponse]);
    let ran = five_servers(Test::new())
        .faults(faults)
        .api("requests_per_second = 0\nmax_retries = 2\nlist_lag = \"300ms\"\n")
        .args(&["--run-now"])
        .stdout(RETRIED_AND_LOST_STDOUT)
        .stderr(RETRIED_AND_LOST_LOG)
        .run();
    assert_one_item_per_slot(ran.sim(), &ran.daily);
    assert_eq!(
        creates_per_server(ran.sim()),
        [2, 1, 1, 1, 1],
        "the 429 sent again; no landed create sent twice"
    );
}

const RESENT_STDOUT: &str = "ok      server 1 (srv-1) policy nightly: created #{NEW} snapkeep-nightly-{SLOT}; deleted #1001 snapkeep-nightly-{SLOT-2d} [{T}]
ok      server 2 (srv-2) policy nightly: created #{NEW} snapkeep-nightly-{SLOT}; deleted #1003 snapkeep-nightly-{SLOT-2d} [{T}]
ok      server 3 (srv-3) policy nightly: created #{NEW} snapkeep-nightly-{SLOT}; deleted #1005 snapkeep-nightly-{SLOT-2d} [{T}]
ok      server 4 (srv-4) policy nightly: created #{NEW} snapkeep-nightly-{SLOT}; deleted #1007 snapkeep-nightly-{SLOT-2d} [{T}]
ok      server 5 (srv-5) policy nightly: adopted #{NEW} snapkeep-nightly-{SLOT} (made by another writer or by a create whose answer was lost); deleted #1009 snapkeep-nightly-{SLOT-2d} [{T}]
5 job(s): 5 ok, 0 failed; created 4, deleted 5; {N} API call(s), 1 retried, in {T}
";

/// The warning of a create answered with Django's 500 page on `server`.
const MAY_HAVE_LANDED_500: &str = "WARN wait server {S} (srv-{S}) policy nightly: create of snapkeep-nightly-{SLOT} may have landed (snapshots.create (server {S}): VPS.org server error (500: <!doctype html>
<html lang=\"en\">
<head>
  <title>Server Error (500)</title>
</head>
<body>
  <h1>Server Error (500)</h1><p></p>
</body>
</html>)); looking for it in the provider's lists for up to 200ms (api.list_lag) before sending it again
";

/// The log of the pass, `{500 on S}` standing for [`MAY_HAVE_LANDED_500`].
const RESENT_LOG: &str = "INFO create server 1 (srv-1) policy nightly #{NEW} snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 1 (srv-1) policy nightly #{NEW} snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (srv-1) policy nightly #{NEW} snapkeep-nightly-{SLOT} ({T})
INFO delete server 1 (srv-1) policy nightly #1001 snapkeep-nightly-{SLOT-2d}: retention: no-rule
{500 on 2}INFO create server 2 (srv-2) policy nightly: create of snapkeep-nightly-{SLOT}: not in the provider's lists 200ms after an unknown outcome, so it was not applied; sending it again (resend 1 of at most 8, api.max_retries)
INFO create server 2 (srv-2) policy nightly #{NEW} snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 2 (srv-2) policy nightly #{NEW} snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 2 (srv-2) policy nightly #{NEW} snapkeep-nightly-{SLOT} ({T})
INFO delete server 2 (srv-2) policy nightly #1003 snapkeep-nightly-{SLOT-2d}: retention: no-rule
{500 on 3}INFO create server 3 (srv-3) policy nightly: create of snapkeep-nightly-{SLOT}: not in the provider's lists 200ms after an unknown outcome, so it was not applied; sending it again (resend 1 of at most 8, api.max_retries)
{500 on 3}INFO create server 3 (srv-3) policy nightly: create of snapkeep-nightly-{SLOT}: not in the provider's lists 200ms after an unknown outcome, so it was not applied; sending it again (resend 2 of at most 8, api.max_retries)
INFO create server 3 (srv-3) policy nightly #{NEW} snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 3 (srv-3) policy nightly #{NEW} snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 3 (srv-3) policy nightly #{NEW} snapkeep-nightly-{SLOT} ({T})
INFO delete server 3 (srv-3) policy nightly #1005 snapkeep-nightly-{SLOT-2d}: retention: no-rule
{500 on 4}INFO create server 4 (srv-4) policy nightly: create of snapkeep-nightly-{SLOT}: not in the provider's lists 200ms after an unknown outcome, so it was not applied; sending it again (resend 1 of at most 8, api.max_retries)
WARN API call failed, retrying endpoint=\"snapshots.create (server 4)\" attempt=1 wait_ms={MS} error=snapshots.create (server 4): rate limited (429)
INFO create server 4 (srv-4) policy nightly #{NEW} snapkeep-nightly-{SLOT}: scheduled slot ({T})
INFO wait server 4 (srv-4) policy nightly #{NEW} snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 4 (srv-4) policy nightly #{NEW} snapkeep-nightly-{SLOT} ({T})
INFO delete server 4 (srv-4) policy nightly #1007 snapkeep-nightly-{SLOT-2d}: retention: no-rule
{500 on 5}INFO create server 5 (srv-5) policy nightly: create of snapkeep-nightly-{SLOT}: not in the provider's lists 200ms after an unknown outcome, so it was not applied; sending it again (resend 1 of at most 8, api.max_retries)
{500 on 5}INFO skip server 5 (srv-5) policy nightly #{NEW} snapkeep-nightly-{SLOT}: found the slot's item in the provider's list; adopting it instead of creating another
INFO wait server 5 (srv-5) policy nightly #{NEW} snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 5 (srv-5) policy nightly #{NEW} snapkeep-nightly-{SLOT} ({T})
INFO delete server 5 (srv-5) policy nightly #1009 snapkeep-nightly-{SLOT-2d}: retention: no-rule
";

/// Creates answered 500 that did nothing: each job looks for its create
/// for `list_lag`, does not find it, and sends it again, so one pass makes
/// every slot's item and exits 0. Each server has its own script: server 1
/// none; server 2 one 500; server 3 two; server 4 a 500, then its resend
/// answered 429 and retried by the client; server 5 a 500, then its resend
/// landed but answered 500 too, found and adopted rather than sent a third
/// time.
#[test]
fn creates_answered_500_and_not_applied_are_sent_again_and_one_pass_makes_every_slots_item() {
    let e500 = Scripted::Error(500);
    let rate_limited = Scripted::RateLimit {
        retry_after_secs: 0,
    };
    let faults = Faults::none()
        .with_script(Endpoint::SnapshotsCreate, 2, [e500])
        .with_script(Endpoint::SnapshotsCreate, 3, [e500, e500])
        .with_script(Endpoint::SnapshotsCreate, 4, [e500, rate_limited])
        .with_script(
            Endpoint::SnapshotsCreate,
            5,
            [e500, Scripted::AppliedError(500)],
        );
    let log = (2..=5).fold(RESENT_LOG.to_owned(), |log, s| {
        let warning = MAY_HAVE_LANDED_500.replace("{S}", &s.to_string());
        log.replace(&format!("{{500 on {s}}}"), &warning)
    });
    let ran = five_servers(Test::new())
        .faults(faults)
        .api("requests_per_second = 0\nmax_retries = 8\nlist_lag = \"200ms\"\n")
        .args(&["--run-now"])
        .stdout(RESENT_STDOUT)
        .stderr(&log)
        .run();
    assert_one_item_per_slot(ran.sim(), &ran.daily);
    assert_eq!(
        creates_per_server(ran.sim()),
        [1, 2, 3, 3, 2],
        "each 500 and the 429 sent again; the create that landed not"
    );
}

const A_MISSING_SERVER_FAILS_ITS_LOG: &str = "INFO create server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT} ({T})
ERROR fail server 999 policy nightly: create of snapkeep-nightly-{SLOT}: snapshots.create (server 999): not found (404: Server not found.)
";

#[test]
fn a_missing_server_fails_its_job_but_not_the_others() {
    let ran = Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .policies(&DAILY.replace("servers = [1]", "servers = [1, 999]"))
        .normalize(Normalize::jobs_concurrently)
        .args(&["--run-now"])
        .status(1)
        .stdout(
            "ok      server 1 (web-01) policy nightly: created #1001 snapkeep-nightly-{SLOT} [{T}]
FAILED  server 999 policy nightly (not_found): create failed: snapshots.create (server 999): not found (404: Server not found.) [{T}]
2 job(s): 1 ok, 1 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
",
        )
        .stderr(A_MISSING_SERVER_FAILS_ITS_LOG)
        .run();
    assert_eq!(ran.sim().snapshot_names(1), vec![ours(&ran.daily, 0)]);
}

const A_PAUSED_POLICY_NAMED_ON_LOG: &str = "INFO skip server 1 (web-01) policy nightly: paused (enabled = false): nothing created, nothing pruned
";

const WEEKLY_RUNS_LOG: &str = "INFO skip server 1 (web-01) policy nightly: paused (enabled = false): nothing created, nothing pruned
INFO create server 1 (web-01) policy weekly #5001 snapkeep:weekly:{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy weekly #5001 snapkeep:weekly:{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy weekly #5001 snapkeep:weekly:{SLOT} ({T})
";

/// Paused means nothing pruned, nothing created — also when the paused
/// policy is named on the command line (with `--force`, "a snapshot now").
/// Alone it exits 2 (nothing was done); beside a job that ran, 1.
#[test]
fn a_paused_policy_named_on_the_command_line_creates_and_prunes_nothing() {
    let t = Test::new();
    let d = t.daily.clone();
    // At the cap with items keep_last = 1 would prune and room it would make.
    let seed =
        Seed::empty()
            .server(1, "web-01")
            .snapshot(1, ours(&d, 2), d.at(2), SimStatus::Failed);
    let seed = d.with_snapshots(seed, 1, "nightly", &[5, 4, 3, 1]);
    let paused = DAILY.replace("keep_last = 3", "keep_last = 1\nenabled = false")
        + "\n[[policy]]\nname = \"weekly\"\nkind = \"backup\"\nservers = [1]\nschedule = \"{daily}\"\nkeep_last = 1\n";
    let ran = t
        .seed(seed)
        .policies(&paused)
        .args(&["--run-now", "--force", "--policy", "nightly"])
        .status(2)
        .stdout(
            "PAUSED  server 1 (web-01) policy nightly: paused (enabled = false): nothing created, nothing pruned; set enabled = true to run it [{T}]
1 job(s): 0 ok, 0 failed, 1 paused; created 0, deleted 0; {N} API call(s), 0 retried, in {T}
",
        )
        .stderr(A_PAUSED_POLICY_NAMED_ON_LOG)
        .run();
    let sim = ran.sim();
    assert_eq!(sim.count(&["POST", "DELETE"]), 0, "not one change");
    assert_eq!(sim.sim.snapshots(Some(1)).len(), 5);
    ran.again(
        &["--run-now", "--policy", "nightly,weekly"],
        1,
        "PAUSED  server 1 (web-01) policy nightly: paused (enabled = false): nothing created, nothing pruned; set enabled = true to run it [{T}]
ok      server 1 (web-01) policy weekly: created #5001 snapkeep:weekly:{SLOT} [{T}]
2 job(s): 1 ok, 0 failed, 1 paused; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
",
        WEEKLY_RUNS_LOG,
    );
    assert_eq!(sim.count(&["DELETE"]), 0);
    assert_eq!(sim.sim.snapshots(Some(1)).len(), 5);
}
