//! The daemon: schedules, catch-up, signals, reload.

use std::time::Duration;

use snapkeep_sim::{Faults, Seed, SimConfig};

use crate::support::{Daily, Setup, Sim};

const EVERY_2S: &str = r#"
[daemon]
shutdown_timeout = "5s"

[[policy]]
name = "fast"
kind = "snapshot"
servers = [1]
schedule = "*/2 * * * * *"
missed = "skip"
keep_last = 3
"#;

fn ours(sim: &Sim) -> Vec<String> {
    sim.snapshot_names(1)
        .into_iter()
        .filter(|n| n.starts_with("snapkeep-fast-"))
        .collect()
}

#[test]
fn items_appear_per_slot_and_sigterm_exits_0() {
    let sim = Sim::start(Seed::empty().server(1, "web-01"));
    let s = Setup::new(&sim, EVERY_2S);
    let mut d = s.spawn_daemon(&[]);
    assert!(
        d.wait_until(Duration::from_secs(15), || ours(&sim).len() >= 3),
        "{}",
        d.log()
    );
    // Slots are 2 s apart and named by slot.
    let names = ours(&sim);
    let secs: Vec<i64> = names
        .iter()
        .map(|n| n[n.len() - 6..].parse::<i64>().unwrap())
        .collect();
    assert!(secs.iter().all(|s| s % 2 == 0), "{names:?}");
    d.signal("TERM");
    let (code, _) = d
        .wait_exit(Duration::from_secs(10))
        .expect("exits after SIGTERM");
    assert_eq!(code, 0, "{}", d.log());
    assert!(sim.sim.max_snapshots_seen(1) <= 5);
}

#[test]
fn sighup_applies_a_changed_keep_last_and_rejects_a_broken_file() {
    let sim = Sim::start(Seed::empty().server(1, "web-01"));
    let s = Setup::new(&sim, EVERY_2S);
    let good = std::fs::read_to_string(&s.config).unwrap();
    let d = s.spawn_daemon(&[]);
    assert!(
        d.wait_until(Duration::from_secs(15), || ours(&sim).len() >= 3),
        "{}",
        d.log()
    );

    // A broken file: the old config keeps running.
    s.write(&good.replace("keep_last = 3", "keep_last = \"three\""));
    d.signal("HUP");
    assert!(
        d.wait_until(Duration::from_secs(5), || d
            .log()
            .contains("keeping the old one")),
        "{}",
        d.log()
    );
    let before = sim
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert!(
        d.wait_until(Duration::from_secs(6), || sim
            .sim
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count()
            > before),
        "still creating after a rejected reload\n{}",
        d.log()
    );

    // A good change: keep_last 1 takes effect.
    s.write(&good.replace("keep_last = 3", "keep_last = 1"));
    d.signal("HUP");
    assert!(
        d.wait_until(Duration::from_secs(5), || d
            .log()
            .contains("config reloaded")),
        "{}",
        d.log()
    );
    assert!(
        d.wait_until(Duration::from_secs(10), || ours(&sim).len() <= 2),
        "keep_last = 1 after reload: {:?}\n{}",
        ours(&sim),
        d.log()
    );
}

#[test]
fn sigterm_during_a_wait_exits_0_within_shutdown_timeout() {
    let sim = Sim::start(Seed::empty().server(1, "web-01"));
    sim.faults(Faults::none().with_stuck_in_progress());
    let s = Setup::new(
        &sim,
        &EVERY_2S.replace("shutdown_timeout = \"5s\"", "shutdown_timeout = \"2s\""),
    );
    let mut d = s.spawn_daemon(&[]);
    assert!(
        d.wait_until(Duration::from_secs(10), || d.log().contains("wait ")),
        "{}",
        d.log()
    );
    d.signal("TERM");
    let (code, took) = d.wait_exit(Duration::from_secs(10)).expect("exits");
    assert_eq!(code, 0, "{}", d.log());
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert!(d.log().contains("shutdown_timeout"), "{}", d.log());
}

/// Two daily policies; `{daily}` is an hour far from now (`support::Daily`),
/// so the slot a start catches up on is known and cannot change mid-test.
const DAILY_TWO_POLICIES: &str = r#"
[[policy]]
name = "a"
kind = "snapshot"
servers = [1]
schedule = "{daily}"
keep_last = 2

[[policy]]
name = "b"
kind = "backup"
servers = [1]
schedule = "{daily}"
keep_last = 2
"#;

#[test]
fn a_start_with_missed_slots_runs_exactly_one_catch_up_per_policy() {
    let daily = Daily::now();
    let sim = Sim::start(Seed::empty().server(1, "web-01"));
    let s = Setup::new(&sim, &daily.policies(DAILY_TWO_POLICIES));
    let mut d = s.spawn_daemon(&[]);
    let done = || sim.sim.snapshots(Some(1)).len() == 1 && sim.sim.backups(Some(1)).len() == 1;
    assert!(d.wait_until(Duration::from_secs(10), done), "{}", d.log());
    std::thread::sleep(Duration::from_millis(800));
    let posts = sim
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 2, "one create per policy");
    // Exactly the latest slot, not an earlier missed one.
    assert_eq!(sim.snapshot_names(1), vec![daily.snapshot("a", 0)]);
    let backups: Vec<String> = sim
        .sim
        .backups(Some(1))
        .into_iter()
        .map(|b| b.description)
        .collect();
    assert_eq!(backups, vec![daily.backup_marker("b", 0)]);
    d.signal("TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(10)).unwrap().0, 0);
}

#[test]
fn sigkill_mid_pass_then_restart_creates_no_duplicate() {
    let sim = Sim::with(SimConfig {
        seed: Seed::empty().server(1, "web-01"),
        complete_after: Duration::from_secs(3),
        token: "t0k3n-for-tests".into(),
        ..SimConfig::default()
    });
    let s = Setup::new(&sim, &Daily::now().policies(DAILY_TWO_POLICIES));
    let d = s.spawn_daemon(&[]);
    // Killed while waiting for the first item to complete.
    assert!(
        d.wait_until(Duration::from_secs(10), || sim.sim.snapshots(Some(1)).len()
            == 1),
        "{}",
        d.log()
    );
    d.signal("KILL");
    drop(d);
    let mut d = s.spawn_daemon(&[]);
    let done = || {
        let snaps = sim.sim.snapshots(Some(1));
        snaps.len() == 1
            && snaps[0].status.as_str() == "completed"
            && sim.sim.backups(Some(1)).len() == 1
    };
    assert!(d.wait_until(Duration::from_secs(15), done), "{}", d.log());
    let snapshot_posts = sim
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("snapshots"))
        .count();
    assert_eq!(snapshot_posts, 1, "no duplicate for the slot");
    assert!(d.log().contains("already has this item"), "{}", d.log());
    d.signal("TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(10)).unwrap().0, 0);
}

/// A failed slot is retried by the daemon, and `snapkeep status` shows it
/// (asked from the daemon's `/retries`).
#[test]
fn a_failed_slot_is_retried_and_status_shows_it() {
    let daily = Daily::now();
    let sim = Sim::start(Seed::empty().server(1, "web-01"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    // Server 999 does not exist: its job fails (404) at the start's
    // catch-up, and the slot is retried a minute later (within 1d, before
    // the next fire 12 h away).
    let s = Setup::new(
        &sim,
        &daily.policies(&format!(
            "[metrics]\nlisten = \"127.0.0.1:{port}\"\n\n[daemon]\nshutdown_timeout = \"5s\"\n\n\
             [[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1, 999]\nschedule = \"{{daily}}\"\nkeep_last = 2\nretry_window = \"1d\"\n"
        )),
    );
    let mut d = s.spawn_daemon(&[]);
    assert!(
        d.wait_until(Duration::from_secs(15), || d
            .log()
            .contains("the job failed; retrying its slot at")),
        "{}",
        d.log()
    );
    let status = s.run(&["status"]).expect(0).stdout();
    let row = status
        .lines()
        .find(|l| l.starts_with("999 "))
        .unwrap_or_else(|| panic!("{status}"));
    assert!(row.ends_with("RETRYING"), "{status}");
    let slot = daily.slot(0).format("%m-%d %H:%M UTC").to_string();
    let want = format!(
        "retrying (the daemon fires the slot again; retry_window):\n  server 999 policy nightly: slot {slot}, retrying at "
    );
    assert!(status.contains(&want), "{want}\n---\n{status}");
    assert!(
        status.contains(", attempt 1 (last try: not_found)\n"),
        "{status}"
    );
    let json = s.run(&["status", "--json"]).expect(0).stdout();
    let json: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let retry = &json["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .find(|p| p["server_id"] == 999)
        .expect("server 999")["retry"];
    assert_eq!(
        (retry["attempt"].as_u64(), retry["reason"].as_str()),
        (Some(1), Some("not_found"))
    );
    d.signal("TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(10)).unwrap().0, 0);
}
