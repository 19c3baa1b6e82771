//! Beyond one pass, through the real binary: orphans (status, prune-orphans), the
//! monitoring check (`status --check`), paused policies and protected items.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use snapkeep_sim::{
    BackupType, Endpoint, FaultSpec, Faults, Seed, SeedBackup, SeedSnapshot, SimStatus,
};

use crate::support::{Setup, Sim, temp_dir};

fn ago(hours: i64) -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0) - TimeDelta::hours(hours)
}

fn snap_name(policy: &str, t: DateTime<Utc>) -> String {
    format!("snapkeep-{policy}-{}", t.format("%Y%m%d-%H%M%S"))
}

fn backup_desc(policy: &str, t: DateTime<Utc>) -> String {
    format!("snapkeep:{policy}:{}", t.format("%Y-%m-%dT%H:%M:%SZ"))
}

fn snap(id: u64, server: u64, name: String, hours: i64, status: SimStatus) -> SeedSnapshot {
    SeedSnapshot::new(server, name, ago(hours), status).with_id(id)
}

/// Server 1 and 2 are the policy's, 3 was dropped from it, 4 is empty.
fn seed() -> Seed {
    let c = SimStatus::Completed;
    Seed::empty()
        .server(1, "web-01")
        .server(2, "db-01")
        .server(3, "old-box")
        .server(4, "new-box")
        .add_snapshot(snap(100, 1, snap_name("nightly", ago(2)), 2, c.clone()))
        .add_snapshot(snap(101, 1, snap_name("nightly", ago(120)), 120, c.clone()))
        .add_snapshot(snap(201, 1, snap_name("weekly", ago(240)), 240, c.clone()))
        .add_snapshot(snap(901, 1, snap_name("old", ago(480)), 480, c.clone()))
        .add_snapshot(snap(202, 1, "before-upgrade".into(), 30, c.clone()))
        .add_snapshot(snap(103, 2, snap_name("nightly", ago(2)), 2, c.clone()))
        .add_snapshot(snap(200, 3, snap_name("nightly", ago(72)), 72, c.clone()))
        .add_backup(
            SeedBackup::new(
                1,
                BackupType::Manual,
                backup_desc("paused", ago(240)),
                ago(240),
                c.clone(),
            )
            .with_id(300),
        )
        .add_backup(
            SeedBackup::new(
                2,
                BackupType::Manual,
                backup_desc("gone", ago(1)),
                ago(1),
                SimStatus::InProgress,
            )
            .with_id(301),
        )
        .add_backup(
            SeedBackup::new(
                1,
                BackupType::Automatic,
                backup_desc("gone", ago(5)),
                ago(5),
                c,
            )
            .with_id(302),
        )
}

const POLICIES: &str = r#"
[[policy]]
name = "nightly"
kind = "snapshot"
servers = [1, 2]
schedule = "0 3 * * *"
keep_last = 2
protect = [101, 901]

[[policy]]
name = "paused"
kind = "backup"
servers = [1]
schedule = "0 4 * * *"
keep_last = 1
enabled = false
"#;

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn status_lists_orphans_paused_policies_and_protected_items() {
    let sim = Sim::start(seed());
    let s = Setup::new(&sim, POLICIES);
    let report = json(&s.run(&["status", "--json"]).expect(0).stdout());
    let orphans: Vec<(u64, u64, &str, &str, bool)> = report["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["server_id"].as_u64().unwrap(),
                o["id"].as_u64().unwrap(),
                o["kind"].as_str().unwrap(),
                o["reason"].as_str().unwrap(),
                o["protected"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        orphans,
        vec![
            (
                1,
                201,
                "snapshot",
                "no snapshot policy \"weekly\" with prefix \"snapkeep\" is configured",
                false
            ),
            (
                1,
                901,
                "snapshot",
                "no snapshot policy \"old\" with prefix \"snapkeep\" is configured",
                true
            ),
            (
                2,
                301,
                "backup",
                "no backup policy \"gone\" with prefix \"snapkeep\" is configured",
                false
            ),
            (
                3,
                200,
                "snapshot",
                "policy \"nightly\" no longer lists server 3",
                false
            ),
        ]
    );
    let pairs = report["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 3);
    let nightly1 = &pairs[0];
    let protected: Vec<u64> = nightly1["protected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    assert_eq!(protected, vec![101, 901], "901 is also an orphan");
    assert_eq!(nightly1["health"], "ok");
    assert_eq!(nightly1["would_delete"], serde_json::json!([]));
    let paused = &pairs[2];
    assert_eq!(
        (paused["policy"].as_str(), paused["paused"].as_bool()),
        (Some("paused"), Some(true))
    );
    assert_eq!(paused["health"], "paused");
    assert_eq!(paused["stale"], false, "10 days old but paused");

    let table = s.run(&["status"]).expect(0).stdout();
    for want in [
        "1 PAUSED: enabled = false; not fired, nothing pruned",
        "protected on server 1 policy nightly (never deleted):\n  #101 snapkeep-nightly-",
        "4 orphans (our naming, but no configured policy prunes them; see snapkeep prune-orphans):\n  server 1 (web-01):\n    snapshot #201 snapkeep-weekly-",
        "  server 3 (old-box):\n    snapshot #200 snapkeep-nightly-",
        "(completed, protected)",
        "shared cap (the oldest of the policy's own goes to make room):\n  nightly (2 last) holds 1 on web-01: 4 snapshots there are not this policy's (1 protected)\n",
    ] {
        assert!(table.contains(want), "{want}\n---\n{table}");
    }
    assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
    assert_eq!(sim.count(&["POST", "DELETE"]), 0, "status changes nothing");
}

#[test]
fn prune_orphans_lists_then_deletes_exactly_the_orphans() {
    let sim = Sim::start(seed());
    let s = Setup::new(&sim, POLICIES);
    // Each group here holds one item: its newest completed (201), a live
    // one (200, 3 days old: within the default week of orphan_grace), a
    // protected one (901) and one in progress (301).
    let listed = s.run(&["prune-orphans"]).expect(0).stdout();
    assert!(listed.starts_with("4 orphans"), "{listed}");
    assert!(
        listed.ends_with(
            "nothing deleted: run again with --yes to delete the 0 that can go (4 stay)\nleft on purpose: 1 in live groups (newest younger than orphan_grace; --include-live); 1 newest completed of their group (--all)\n"
        ),
        "{listed}"
    );
    let out = s.run(&["prune-orphans", "--yes"]).expect(0).stdout();
    assert!(out.contains("0 deleted, 4 left, 0 failed\n"), "{out}");
    assert_eq!(
        sim.count(&["POST", "DELETE"]),
        0,
        "by default a lone item is its group's last restore point"
    );

    let run = s.run(&["prune-orphans", "--yes", "--all"]).expect(0);
    let out = run.stdout();
    assert!(out.contains("snapshot #201 snapkeep-weekly-"), "{out}");
    assert!(out.contains("1 deleted, 3 left, 0 failed\n"), "{out}");
    assert!(out.contains("(completed): left: protected"), "{out}");
    assert!(
        out.contains("(completed): left: live (--include-live deletes it)\n      policy \"nightly\" no longer lists server 3\n      live: possibly another config's or a renamed policy's; newest 3d old\n"),
        "{out}"
    );
    assert!(
        out.contains("(in_progress): left: in_progress (run again once it is done)"),
        "{out}"
    );
    assert!(run.stderr().contains("delete"), "{}", run.stderr());
    let run = s
        .run(&["prune-orphans", "--yes", "--all", "--include-live"])
        .expect(0);
    assert!(run.stdout().contains("1 deleted, 2 left, 0 failed\n"));
    let mut deleted: Vec<String> = sim
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect();
    deleted.sort();
    assert_eq!(
        deleted,
        vec!["/api/v1/snapshots/200/", "/api/v1/snapshots/201/"]
    );
    let ids = |server| -> Vec<u64> {
        let mut v: Vec<u64> = sim
            .sim
            .snapshots(Some(server))
            .iter()
            .map(|s| s.id)
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(1), vec![100, 101, 202, 901]);
    assert!(ids(3).is_empty());
    assert_eq!(
        sim.sim.backups(None).len(),
        3,
        "in-progress and automatic stay"
    );

    // Again: what is left stays, and says why; JSON for scripts.
    let again = json(
        &s.run(&[
            "prune-orphans",
            "--yes",
            "--all",
            "--include-live",
            "--json",
        ])
        .expect(0)
        .stdout(),
    );
    let verdicts: Vec<(u64, &str)> = again["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["id"].as_u64().unwrap(), o["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        verdicts,
        vec![(901, "left_protected"), (301, "left_in_progress")]
    );
}

#[test]
fn prune_orphans_exits_1_when_a_delete_fails() {
    let sim = Sim::start(seed());
    sim.faults(Faults::none().with_endpoint(
        Endpoint::SnapshotsDelete,
        FaultSpec::none().with_errors(1.0, 500),
    ));
    let s = Setup::with_api(&sim, "requests_per_second = 0\nmax_retries = 0\n", POLICIES);
    let out = s
        .run(&["prune-orphans", "--yes", "--all", "--include-live"])
        .expect(1)
        .stdout();
    assert!(out.contains(": FAILED: "), "{out}");
    assert!(out.ends_with("0 deleted, 2 left, 2 failed\n"), "{out}");
}

#[test]
fn check_is_ok_warning_critical_by_the_thresholds() {
    let sim = Sim::start(seed());
    let s = Setup::new(&sim, POLICIES);
    let ok = s.run(&["status", "--check"]).expect(0).stdout();
    let first = ok.lines().next().unwrap();
    assert!(
        first.starts_with(
            "SNAPKEEP OK - 2 of 2 (server, policy) pairs have a recent completed item; 1 paused | 'nightly@1'="
        ),
        "{ok}"
    );
    // Forgotten orphans only: 201 (past orphan_grace); not 901
    // (protected), nor 200 and 301 (live groups, maybe another config's).
    assert!(first.ends_with(" orphans=1;;;0;"), "{ok}");
    assert!(
        ok.contains(
            "\nPAUSED paused on 1 (web-01): paused (enabled = false); newest backup 10d old\n"
        ),
        "{ok}"
    );

    // The newest is 2 hours old: past a 1h warn_after, not a 3h crit_after.
    let warn = POLICIES.replace(
        "keep_last = 2\n",
        "keep_last = 2\nwarn_after = \"1h\"\ncrit_after = \"3h\"\n",
    );
    s.write(
        &std::fs::read_to_string(&s.config)
            .unwrap()
            .replace(POLICIES, &warn),
    );
    let out = s.run(&["status", "--check"]).expect(1).stdout();
    assert!(
        out.starts_with("SNAPKEEP WARNING - nightly on 1 (web-01): newest snapshot 2h old, over warn_after 1h; nightly on 2 (db-01): newest snapshot 2h old, over warn_after 1h | "),
        "{out}"
    );

    // A server with nothing completed is CRITICAL, and named first.
    let crit = POLICIES.replace("servers = [1, 2]", "servers = [1, 2, 4]");
    s.write(
        &std::fs::read_to_string(&s.config)
            .unwrap()
            .replace(&warn, &crit),
    );
    let out = s.run(&["status", "--check"]).expect(2).stdout();
    assert!(
        out.starts_with("SNAPKEEP CRITICAL - nightly on 4: no completed snapshot | "),
        "{out}"
    );
    assert!(
        out.contains("\nCRITICAL nightly on 4: no completed snapshot\n"),
        "{out}"
    );
}

#[test]
fn check_says_unknown_for_config_token_and_api_errors() {
    // A config error: 3, not 2.
    let dir = temp_dir();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[[policy]]\nname = \"a\"\nkind = \"snapshots\"\nservers = [1]\nschedule = \"@daily\"\nkeep_last = 1\n",
    )
    .unwrap();
    let sim = Sim::start(seed());
    let s = Setup::new(&sim, POLICIES);
    let run = s
        .run(&["status", "--check", "--config", bad.to_str().unwrap()])
        .expect(3);
    assert!(
        run.stdout().starts_with(&format!(
            "SNAPKEEP UNKNOWN - {}:3:8: policy.kind: ",
            bad.display()
        )),
        "{}",
        run.stdout()
    );
    let missing = s
        .run(&[
            "status",
            "--check",
            "--config",
            "/nonexistent/snapkeep.toml",
        ])
        .expect(3);
    assert!(
        missing
            .stdout()
            .starts_with("SNAPKEEP UNKNOWN - cannot read config file")
    );

    // No token anywhere: 3.
    let no_token = crate::support::Run(
        s.cmd()
            .env_remove("VPS_API_TOKEN")
            .args(["status", "--check"])
            .output()
            .unwrap(),
    )
    .expect(3);
    assert!(
        no_token.stdout().starts_with("SNAPKEEP UNKNOWN - "),
        "{}",
        no_token.stdout()
    );

    // A wrong token (401): 3, and the token is not printed.
    let wrong = crate::support::Run(
        s.cmd()
            .env("VPS_API_TOKEN", "wrong-token-abcdef")
            .args(["status", "--check"])
            .output()
            .unwrap(),
    )
    .expect(3);
    assert!(
        wrong
            .stdout()
            .starts_with("SNAPKEEP UNKNOWN - cannot list snapshots: "),
        "{}",
        wrong.stdout()
    );
    assert!(!wrong.stdout().contains("wrong-token-abcdef"));

    // Nobody listening: 3.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = temp_dir().join("down.toml");
    std::fs::write(
        &down,
        format!(
            "[api]\nbase_url = \"http://127.0.0.1:{port}/api/v1\"\nmax_retries = 0\n{POLICIES}"
        ),
    )
    .unwrap();
    let out = s
        .run(&["status", "--check", "--config", down.to_str().unwrap()])
        .expect(3)
        .stdout();
    assert!(
        out.starts_with("SNAPKEEP UNKNOWN - cannot list snapshots: "),
        "{out}"
    );
}

/// The new commands, with trace logs and every error path: the token
/// appears nowhere.
#[test]
fn the_token_never_appears_in_the_new_commands() {
    let sim = Sim::start(seed());
    sim.faults(Faults::none().with_endpoint(
        Endpoint::SnapshotsDelete,
        FaultSpec::none().with_errors(1.0, 500),
    ));
    let s = Setup::with_api(&sim, "requests_per_second = 0\nmax_retries = 0\n", POLICIES);
    let canary = sim.sim.token().to_owned();
    for args in [
        &["status", "--check", "--log-level", "trace"][..],
        &["status", "--json", "--log-level", "trace"],
        &["prune-orphans", "--yes", "--all", "--log-level", "trace"],
        &[
            "prune-orphans",
            "--yes",
            "--all",
            "--include-live",
            "--log-format",
            "json",
            "--log-level",
            "trace",
        ],
    ] {
        let run = s.run(args);
        assert!(
            !run.stdout().contains(&canary) && !run.stderr().contains(&canary),
            "token leaked by {args:?}"
        );
    }
}
