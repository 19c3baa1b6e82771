//! Beyond one pass, through the real binary: orphans (status, prune-orphans), the
//! monitoring check (`status --check`), paused policies and protected items.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use snapkeep_sim::{
    BackupType, Endpoint, FaultSpec, Faults, Seed, SeedBackup, SeedSnapshot, SimStatus,
};

use crate::support::Test;

/// The moment the seed is made (whole seconds): its items are hours older.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// The hours before [`now`] the seed's items were made.
const HOURS: &[i64] = &[1, 2, 5, 30, 72, 120, 240, 480];

/// A test of [`seed`] made at `now`: its times (as names and markers hold
/// them) become `{-2h}`, `{-120h}`, …, the ages in seconds `{2h}`, …
fn test(now: DateTime<Utc>) -> Test {
    let mut t = Test::new().seed(seed(now)).policies(POLICIES);
    for h in HOURS {
        let at = now - TimeDelta::hours(*h);
        t = t
            .literal(at.format("%Y%m%d-%H%M%S"), &format!("{{-{h}h}}"))
            .literal(at.format("%Y-%m-%dT%H:%M:%SZ"), &format!("{{-{h}h}}"));
        // An age in `status --check`'s perfdata: `'nightly@1'=7200s;`, up
        // to a minute later than the seed.
        for late in 0..60 {
            t = t.literal(format!("={}s;", h * 3600 + late), &format!("={{{h}h}}s;"));
        }
    }
    t.normalize(|n| {
        n.json_field("newest_age_seconds", "{AGE}")
            .json_field("group_age_seconds", "{AGE}")
    })
}

fn snap_name(policy: &str, t: DateTime<Utc>) -> String {
    format!("snapkeep-{policy}-{}", t.format("%Y%m%d-%H%M%S"))
}

fn backup_desc(policy: &str, t: DateTime<Utc>) -> String {
    format!("snapkeep:{policy}:{}", t.format("%Y-%m-%dT%H:%M:%SZ"))
}

/// Server 1 and 2 are the policy's, 3 was dropped from it, 4 is empty.
fn seed(now: DateTime<Utc>) -> Seed {
    let ago = |hours: i64| now - TimeDelta::hours(hours);
    let snap = |id: u64, server: u64, name: String, hours: i64, status: SimStatus| {
        SeedSnapshot::new(server, name, ago(hours), status).with_id(id)
    };
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
schedule = "{daily}"
keep_last = 2
protect = [101, 901]

[[policy]]
name = "paused"
kind = "backup"
servers = [1]
schedule = "{daily}"
keep_last = 1
enabled = false
"#;

const STATUS_JSON: &str = r#"{
  "pairs": [
    {
      "account": "default",
      "server_id": 1,
      "server_name": "web-01",
      "policy": "nightly",
      "kind": "snapshot",
      "ours": {
        "completed": 2,
        "in_progress": 0,
        "failed": 0,
        "unknown": 0,
        "not_ours": 3,
        "protected": 1,
        "can_hold": 1,
        "shortfall": 1,
        "stored_bytes": 11906580480,
        "without_size": 0
      },
      "newest_completed": "{-2h}",
      "newest_age_seconds": {AGE},
      "next_fire": "{SLOT+1d}",
      "paused": false,
      "health": "ok",
      "warn_after_seconds": 129600,
      "crit_after_seconds": 172800,
      "stale": false,
      "would_delete": [],
      "protected": [
        {
          "id": 101,
          "name": "snapkeep-nightly-{-120h}",
          "status": "completed"
        },
        {
          "id": 901,
          "name": "snapkeep-old-{-480h}",
          "status": "completed"
        }
      ],
      "shared_cap": "nightly (2 last) holds 1 on web-01: 4 snapshots there are not this policy's (1 protected)",
      "retry": null
    },
    {
      "account": "default",
      "server_id": 2,
      "server_name": "db-01",
      "policy": "nightly",
      "kind": "snapshot",
      "ours": {
        "completed": 1,
        "in_progress": 0,
        "failed": 0,
        "unknown": 0,
        "not_ours": 0,
        "protected": 0,
        "can_hold": 2,
        "shortfall": 0,
        "stored_bytes": 6627000320,
        "without_size": 0
      },
      "newest_completed": "{-2h}",
      "newest_age_seconds": {AGE},
      "next_fire": "{SLOT+1d}",
      "paused": false,
      "health": "ok",
      "warn_after_seconds": 129600,
      "crit_after_seconds": 172800,
      "stale": false,
      "would_delete": [],
      "protected": [],
      "shared_cap": null,
      "retry": null
    },
    {
      "account": "default",
      "server_id": 1,
      "server_name": "web-01",
      "policy": "paused",
      "kind": "backup",
      "ours": {
        "completed": 1,
        "in_progress": 0,
        "failed": 0,
        "unknown": 0,
        "not_ours": 0,
        "protected": 0,
        "can_hold": 1,
        "shortfall": 0,
        "stored_bytes": 7400849408,
        "without_size": 0
      },
      "newest_completed": "{-240h}",
      "newest_age_seconds": {AGE},
      "next_fire": "{SLOT+1d}",
      "paused": true,
      "health": "paused",
      "warn_after_seconds": 129600,
      "crit_after_seconds": 172800,
      "stale": false,
      "would_delete": [],
      "protected": [],
      "shared_cap": null,
      "retry": null
    }
  ],
  "orphans": [
    {
      "account": "default",
      "server_id": 1,
      "server_name": "web-01",
      "kind": "snapshot",
      "id": 201,
      "name": "snapkeep-weekly-{-240h}",
      "status": "completed",
      "policy": "weekly",
      "slot": "{-240h}",
      "reason": "no snapshot policy \"weekly\" with prefix \"snapkeep\" is configured",
      "protected": false,
      "live": false,
      "group_age_seconds": {AGE},
      "newest_completed": true
    },
    {
      "account": "default",
      "server_id": 1,
      "server_name": "web-01",
      "kind": "snapshot",
      "id": 901,
      "name": "snapkeep-old-{-480h}",
      "status": "completed",
      "policy": "old",
      "slot": "{-480h}",
      "reason": "no snapshot policy \"old\" with prefix \"snapkeep\" is configured",
      "protected": true,
      "live": false,
      "group_age_seconds": {AGE},
      "newest_completed": true
    },
    {
      "account": "default",
      "server_id": 2,
      "server_name": "db-01",
      "kind": "backup",
      "id": 301,
      "name": "snapkeep:gone:{-1h}",
      "status": "in_progress",
      "policy": "gone",
      "slot": "{-1h}",
      "reason": "no backup policy \"gone\" with prefix \"snapkeep\" is configured",
      "protected": false,
      "live": true,
      "group_age_seconds": {AGE},
      "newest_completed": false
    },
    {
      "account": "default",
      "server_id": 3,
      "server_name": "old-box",
      "kind": "snapshot",
      "id": 200,
      "name": "snapkeep-nightly-{-72h}",
      "status": "completed",
      "policy": "nightly",
      "slot": "{-72h}",
      "reason": "policy \"nightly\" no longer lists server 3",
      "protected": false,
      "live": true,
      "group_age_seconds": {AGE},
      "newest_completed": true
    }
  ],
  "stored": [
    {
      "account": "default",
      "bytes": 25934430208,
      "without_size": 0,
      "servers": [
        {
          "server_id": 1,
          "server_name": "web-01",
          "bytes": 19307429888,
          "without_size": 0
        },
        {
          "server_id": 2,
          "server_name": "db-01",
          "bytes": 6627000320,
          "without_size": 0
        }
      ]
    }
  ]
}
"#;
const STATUS_TABLE: &str = r#"SERVER             POLICY         KIND OURS RUN FAIL NOT NEWEST  NEXT             PRUNE  STATE
1 web-01           nightly        snap    2   0    0   3     2h  {SLOT+1d}      0  ok
2 db-01            nightly        snap    1   0    0   0     2h  {SLOT+1d}      0  ok
1 web-01           paused         bkp     1   0    0   0    10d  {SLOT+1d}      0  PAUSED

1 PAUSED: enabled = false; not fired, nothing pruned

protected on server 1 policy nightly (never deleted):
  #101 snapkeep-nightly-{-120h} (completed)
  #901 snapkeep-old-{-480h} (completed)

shared cap (the oldest of the policy's own goes to make room):
  nightly (2 last) holds 1 on web-01: 4 snapshots there are not this policy's (1 protected)

stored (our completed items, from VPS.org's size_mb):
  SERVER             POLICY         KIND ITEMS       STORED
  1 web-01           nightly        snap     2     11.1 GiB
  1 web-01           paused         bkp      1      6.9 GiB
  1 web-01           server total            3     18.0 GiB
  2 db-01            nightly        snap     1      6.2 GiB
  2 db-01            server total            1      6.2 GiB
  account default    total                   4     24.2 GiB

4 orphans (our naming, but no configured policy prunes them; see snapkeep prune-orphans):
  server 1 (web-01):
    snapshot #201 snapkeep-weekly-{-240h} (completed)
      no snapshot policy "weekly" with prefix "snapkeep" is configured
    snapshot #901 snapkeep-old-{-480h} (completed, protected)
      no snapshot policy "old" with prefix "snapkeep" is configured
  server 2 (db-01):
    backup #301 snapkeep:gone:{-1h} (in_progress)
      no backup policy "gone" with prefix "snapkeep" is configured
      live: possibly another config's or a renamed policy's; newest 1h old
  server 3 (old-box):
    snapshot #200 snapkeep-nightly-{-72h} (completed)
      policy "nightly" no longer lists server 3
      live: possibly another config's or a renamed policy's; newest 3d old
"#;

#[test]
fn status_lists_orphans_paused_policies_and_protected_items() {
    let ran = test(now())
        .args(&["status", "--json"])
        .stdout(STATUS_JSON)
        .run();
    let table = ran.again(&["status"], 0, STATUS_TABLE, "").stdout();
    assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
    assert_eq!(
        ran.sim().count(&["POST", "DELETE"]),
        0,
        "status changes nothing"
    );
}

const LISTED: &str = r#"4 orphans (our naming, but no configured policy prunes them):
  server 1 (web-01):
    snapshot #201 snapkeep-weekly-{-240h} (completed): left: its group's newest completed (--all deletes it)
      no snapshot policy "weekly" with prefix "snapkeep" is configured
    snapshot #901 snapkeep-old-{-480h} (completed): left: protected
      no snapshot policy "old" with prefix "snapkeep" is configured
  server 2 (db-01):
    backup #301 snapkeep:gone:{-1h} (in_progress): left: in_progress (run again once it is done)
      no backup policy "gone" with prefix "snapkeep" is configured
      live: possibly another config's or a renamed policy's; newest 1h old
  server 3 (old-box):
    snapshot #200 snapkeep-nightly-{-72h} (completed): left: live (--include-live deletes it)
      policy "nightly" no longer lists server 3
      live: possibly another config's or a renamed policy's; newest 3d old
nothing deleted: run again with --yes to delete the 0 that can go (4 stay)
left on purpose: 1 in live groups (newest younger than orphan_grace; --include-live); 1 newest completed of their group (--all)
"#;
const NOTHING_GOES: &str = r#"4 orphans (our naming, but no configured policy prunes them):
  server 1 (web-01):
    snapshot #201 snapkeep-weekly-{-240h} (completed): left: its group's newest completed (--all deletes it)
      no snapshot policy "weekly" with prefix "snapkeep" is configured
    snapshot #901 snapkeep-old-{-480h} (completed): left: protected
      no snapshot policy "old" with prefix "snapkeep" is configured
  server 2 (db-01):
    backup #301 snapkeep:gone:{-1h} (in_progress): left: in_progress (run again once it is done)
      no backup policy "gone" with prefix "snapkeep" is configured
      live: possibly another config's or a renamed policy's; newest 1h old
  server 3 (old-box):
    snapshot #200 snapkeep-nightly-{-72h} (completed): left: live (--include-live deletes it)
      policy "nightly" no longer lists server 3
      live: possibly another config's or a renamed policy's; newest 3d old
0 deleted, 4 left, 0 failed
left on purpose: 1 in live groups (newest younger than orphan_grace; --include-live); 1 newest completed of their group (--all)
"#;
const ALL: &str = r#"4 orphans (our naming, but no configured policy prunes them):
  server 1 (web-01):
    snapshot #201 snapkeep-weekly-{-240h} (completed): deleted
      no snapshot policy "weekly" with prefix "snapkeep" is configured
    snapshot #901 snapkeep-old-{-480h} (completed): left: protected
      no snapshot policy "old" with prefix "snapkeep" is configured
  server 2 (db-01):
    backup #301 snapkeep:gone:{-1h} (in_progress): left: in_progress (run again once it is done)
      no backup policy "gone" with prefix "snapkeep" is configured
      live: possibly another config's or a renamed policy's; newest 1h old
  server 3 (old-box):
    snapshot #200 snapkeep-nightly-{-72h} (completed): left: live (--include-live deletes it)
      policy "nightly" no longer lists server 3
      live: possibly another config's or a renamed policy's; newest 3d old
1 deleted, 3 left, 0 failed
left on purpose: 1 in live groups (newest younger than orphan_grace; --include-live)
"#;
const ALL_LOG: &str = r#"INFO delete server 1 (web-01) policy weekly #201 snapkeep-weekly-{-240h}: orphan: no snapshot policy "weekly" with prefix "snapkeep" is configured
"#;
const INCLUDE_LIVE: &str = r#"3 orphans (our naming, but no configured policy prunes them):
  server 1 (web-01):
    snapshot #901 snapkeep-old-{-480h} (completed): left: protected
      no snapshot policy "old" with prefix "snapkeep" is configured
  server 2 (db-01):
    backup #301 snapkeep:gone:{-1h} (in_progress): left: in_progress (run again once it is done)
      no backup policy "gone" with prefix "snapkeep" is configured
      live: possibly another config's or a renamed policy's; newest 1h old
  server 3 (old-box):
    snapshot #200 snapkeep-nightly-{-72h} (completed): deleted
      policy "nightly" no longer lists server 3
      live: possibly another config's or a renamed policy's; newest 3d old
1 deleted, 2 left, 0 failed
"#;
const INCLUDE_LIVE_LOG: &str = r#"INFO delete server 3 (old-box) policy nightly #200 snapkeep-nightly-{-72h}: orphan: policy "nightly" no longer lists server 3
"#;
const LEFT_JSON: &str = r#"{
  "orphans": [
    {
      "account": "default",
      "group_age_seconds": {AGE},
      "id": 901,
      "kind": "snapshot",
      "live": false,
      "name": "snapkeep-old-{-480h}",
      "newest_completed": true,
      "policy": "old",
      "protected": true,
      "reason": "no snapshot policy \"old\" with prefix \"snapkeep\" is configured",
      "server_id": 1,
      "server_name": "web-01",
      "slot": "{-480h}",
      "status": "completed",
      "verdict": "left_protected"
    },
    {
      "account": "default",
      "group_age_seconds": {AGE},
      "id": 301,
      "kind": "backup",
      "live": true,
      "name": "snapkeep:gone:{-1h}",
      "newest_completed": false,
      "policy": "gone",
      "protected": false,
      "reason": "no backup policy \"gone\" with prefix \"snapkeep\" is configured",
      "server_id": 2,
      "server_name": "db-01",
      "slot": "{-1h}",
      "status": "in_progress",
      "verdict": "left_in_progress"
    }
  ]
}
"#;

#[test]
fn prune_orphans_lists_then_deletes_exactly_the_orphans() {
    // Each group here holds one item: its newest completed (201), a live
    // one (200, 3 days old: within the default week of orphan_grace), a
    // protected one (901) and one in progress (301).
    let ran = test(now()).args(&["prune-orphans"]).stdout(LISTED).run();
    ran.again(&["prune-orphans", "--yes"], 0, NOTHING_GOES, "");
    let sim = ran.sim();
    assert_eq!(
        sim.count(&["POST", "DELETE"]),
        0,
        "by default a lone item is its group's last restore point"
    );
    ran.again(&["prune-orphans", "--yes", "--all"], 0, ALL, ALL_LOG);
    ran.again(
        &["prune-orphans", "--yes", "--all", "--include-live"],
        0,
        INCLUDE_LIVE,
        INCLUDE_LIVE_LOG,
    );
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
    assert_eq!(sim.snapshot_ids(1), vec![100, 101, 202, 901]);
    assert!(sim.snapshot_ids(3).is_empty());
    assert_eq!(
        sim.sim.backups(None).len(),
        3,
        "in-progress and automatic stay"
    );
    // Again: what is left stays, and says why; JSON for scripts.
    let args = [
        "prune-orphans",
        "--yes",
        "--all",
        "--include-live",
        "--json",
    ];
    ran.again(&args, 0, LEFT_JSON, "");
}

const DELETES_FAIL_LOG: &str = r#"ERROR fail server 1 (web-01) policy weekly #201 snapkeep-weekly-{-240h}: orphan: no snapshot policy "weekly" with prefix "snapkeep" is configured: snapshots.delete (id 201): VPS.org server error (500: <!doctype html>
<html lang="en">
<head>
  <title>Server Error (500)</title>
</head>
<body>
  <h1>Server Error (500)</h1><p></p>
</body>
</html>)
ERROR fail server 3 (old-box) policy nightly #200 snapkeep-nightly-{-72h}: orphan: policy "nightly" no longer lists server 3: snapshots.delete (id 200): VPS.org server error (500: <!doctype html>
<html lang="en">
<head>
  <title>Server Error (500)</title>
</head>
<body>
  <h1>Server Error (500)</h1><p></p>
</body>
</html>)
"#;
const DELETES_FAIL: &str = r#"4 orphans (our naming, but no configured policy prunes them):
  server 1 (web-01):
    snapshot #201 snapkeep-weekly-{-240h} (completed): FAILED: snapshots.delete (id 201): VPS.org server error (500: <!doctype html>
<html lang="en">
<head>
  <title>Server Error (500)</title>
</head>
<body>
  <h1>Server Error (500)</h1><p></p>
</body>
</html>)
      no snapshot policy "weekly" with prefix "snapkeep" is configured
    snapshot #901 snapkeep-old-{-480h} (completed): left: protected
      no snapshot policy "old" with prefix "snapkeep" is configured
  server 2 (db-01):
    backup #301 snapkeep:gone:{-1h} (in_progress): left: in_progress (run again once it is done)
      no backup policy "gone" with prefix "snapkeep" is configured
      live: possibly another config's or a renamed policy's; newest 1h old
  server 3 (old-box):
    snapshot #200 snapkeep-nightly-{-72h} (completed): FAILED: snapshots.delete (id 200): VPS.org server error (500: <!doctype html>
<html lang="en">
<head>
  <title>Server Error (500)</title>
</head>
<body>
  <h1>Server Error (500)</h1><p></p>
</body>
</html>)
      policy "nightly" no longer lists server 3
      live: possibly another config's or a renamed policy's; newest 3d old
0 deleted, 2 left, 2 failed
"#;

#[test]
fn prune_orphans_exits_1_when_a_delete_fails() {
    test(now())
        .faults(Faults::none().with_endpoint(
            Endpoint::SnapshotsDelete,
            FaultSpec::none().with_errors(1.0, 500),
        ))
        .api("requests_per_second = 0\nmax_retries = 0\n")
        .args(&["prune-orphans", "--yes", "--all", "--include-live"])
        .status(1)
        .stdout(DELETES_FAIL)
        .stderr(DELETES_FAIL_LOG)
        .run();
}

const CHECK_OK: &str = "SNAPKEEP OK - 2 of 2 (server, policy) pairs have a recent completed item; 1 paused | 'nightly@1'={2h}s;129600;172800;0; 'nightly@2'={2h}s;129600;172800;0; 'paused@1'={240h}s;129600;172800;0; orphans=1;;;0;
0 critical, 0 warning, 2 ok, 1 paused; 1 orphan
OK nightly on 1 (web-01): newest snapshot 2h old (warn 1d 12h, crit 2d)
OK nightly on 2 (db-01): newest snapshot 2h old (warn 1d 12h, crit 2d)
PAUSED paused on 1 (web-01): paused (enabled = false); newest backup 10d old
1 orphaned item no policy prunes: see snapkeep status, snapkeep prune-orphans
";
const CHECK_WARNING: &str = "SNAPKEEP WARNING - nightly on 1 (web-01): newest snapshot 2h old, over warn_after 1h; nightly on 2 (db-01): newest snapshot 2h old, over warn_after 1h | 'nightly@1'={2h}s;3600;10800;0; 'nightly@2'={2h}s;3600;10800;0; 'paused@1'={240h}s;129600;172800;0; orphans=1;;;0;
0 critical, 2 warning, 0 ok, 1 paused; 1 orphan
WARNING nightly on 1 (web-01): newest snapshot 2h old, over warn_after 1h
WARNING nightly on 2 (db-01): newest snapshot 2h old, over warn_after 1h
PAUSED paused on 1 (web-01): paused (enabled = false); newest backup 10d old
1 orphaned item no policy prunes: see snapkeep status, snapkeep prune-orphans
";
const CHECK_CRITICAL: &str = "SNAPKEEP CRITICAL - nightly on 4: no completed snapshot | 'nightly@1'={2h}s;129600;172800;0; 'nightly@2'={2h}s;129600;172800;0; 'nightly@4'=U;129600;172800;0; 'paused@1'={240h}s;129600;172800;0; orphans=1;;;0;
1 critical, 0 warning, 2 ok, 1 paused; 1 orphan
CRITICAL nightly on 4: no completed snapshot
OK nightly on 1 (web-01): newest snapshot 2h old (warn 1d 12h, crit 2d)
OK nightly on 2 (db-01): newest snapshot 2h old (warn 1d 12h, crit 2d)
PAUSED paused on 1 (web-01): paused (enabled = false); newest backup 10d old
1 orphaned item no policy prunes: see snapkeep status, snapkeep prune-orphans
";

#[test]
fn check_is_ok_warning_critical_by_the_thresholds() {
    // Forgotten orphans only: 201 (past orphan_grace); not 901
    // (protected), nor 200 and 301 (live groups, maybe another config's).
    let ran = test(now())
        .args(&["status", "--check"])
        .stdout(CHECK_OK)
        .run();
    let setup = ran.setup();
    let config = std::fs::read_to_string(&setup.config).unwrap();

    // The newest is 2 hours old: past a 1h warn_after, not a 3h crit_after.
    let warn = POLICIES.replace(
        "keep_last = 2\n",
        "keep_last = 2\nwarn_after = \"1h\"\ncrit_after = \"3h\"\n",
    );
    setup.write(&config.replace(&ran.daily.policies(POLICIES), &ran.daily.policies(&warn)));
    ran.again(&["status", "--check"], 1, CHECK_WARNING, "");

    // A server with nothing completed is CRITICAL, and named first.
    let crit = POLICIES.replace("servers = [1, 2]", "servers = [1, 2, 4]");
    setup.write(&config.replace(&ran.daily.policies(POLICIES), &ran.daily.policies(&crit)));
    ran.again(&["status", "--check"], 2, CHECK_CRITICAL, "");
}

const UNKNOWN_CONFIG: &str = r#"SNAPKEEP UNKNOWN - {DIR}/config.toml:3:8: policy.kind: "snapshots" is not allowed: use "snapshot" or "backup"
"#;
const UNKNOWN_MISSING: &str = "SNAPKEEP UNKNOWN - cannot read config file /nonexistent/snapkeep.toml: No such file or directory (os error 2) (pass another with --config or SNAPKEEP_CONFIG; `snapkeep --help` shows the default)
";
const UNKNOWN_NO_TOKEN: &str = "SNAPKEEP UNKNOWN - no API token: set the VPS_API_TOKEN environment variable, or api.token_file in the config, or pass a systemd credential named vps-api-token
";
const UNKNOWN_WRONG_TOKEN: &str = "SNAPKEEP UNKNOWN - cannot list snapshots: snapshots.list: VPS.org refused the API token (401: Invalid token.); check VPS_API_TOKEN or api.token_file
";
const UNKNOWN_DOWN: &str = "SNAPKEEP UNKNOWN - cannot list snapshots: snapshots.list: could not reach the VPS.org API (could not connect: client error (Connect): tcp connect error: Connection refused (os error 111))
";

#[test]
fn check_says_unknown_for_config_token_and_api_errors() {
    let ran = test(now())
        .args(&["status", "--check"])
        .stdout(CHECK_OK)
        .run();
    let setup = ran.setup();
    // A config error: 3, not 2.
    setup.write("[[policy]]\nname = \"a\"\nkind = \"snapshots\"\nservers = [1]\nschedule = \"@daily\"\nkeep_last = 1\n");
    ran.again(&["status", "--check"], 3, UNKNOWN_CONFIG, "");
    let missing = [
        "status",
        "--check",
        "--config",
        "/nonexistent/snapkeep.toml",
    ];
    ran.again(&missing, 3, UNKNOWN_MISSING, "");

    // Nobody listening: 3.
    let port = crate::support::free_port();
    setup.write(&format!(
        "[api]\nbase_url = \"http://127.0.0.1:{port}/api/v1\"\nmax_retries = 0\n{}",
        ran.daily.policies(POLICIES)
    ));
    let down = ran
        .normalize
        .clone()
        .literal(format!("127.0.0.1:{port}"), "127.0.0.1:{DOWN}");
    let run = setup.run(&["status", "--check"]).expect(3);
    crate::support::assert_text("stdout", UNKNOWN_DOWN, &down.apply(&run.stdout()));

    // No token anywhere: 3; a wrong token (401): 3, and the token is not printed.
    setup.write(&format!(
        "[api]\nbase_url = \"{}\"\n{}",
        ran.sim().sim.base_url(),
        ran.daily.policies(POLICIES)
    ));
    let no_token = setup
        .cmd()
        .env_remove("VPS_API_TOKEN")
        .args(["status", "--check"])
        .output()
        .unwrap();
    ran.assert_stdout(&crate::support::Run(no_token).expect(3), UNKNOWN_NO_TOKEN);
    let wrong = setup
        .cmd()
        .env("VPS_API_TOKEN", "wrong-token-abcdef")
        .args(["status", "--check"])
        .output()
        .unwrap();
    ran.assert_stdout(&crate::support::Run(wrong).expect(3), UNKNOWN_WRONG_TOKEN);
}

/// `prune-orphans --yes --all` when every delete is answered 500: the one
/// orphan `--all` deletes fails (`--include-live` would add #200).
const ALL_DELETE_FAILS: &str = r#"4 orphans (our naming, but no configured policy prunes them):
  server 1 (web-01):
    snapshot #201 snapkeep-weekly-{-240h} (completed): FAILED: snapshots.delete (id 201): VPS.org server error (500: <!doctype html>
<html lang="en">
<head>
  <title>Server Error (500)</title>
</head>
<body>
  <h1>Server Error (500)</h1><p></p>
</body>
</html>)
      no snapshot policy "weekly" with prefix "snapkeep" is configured
    snapshot #901 snapkeep-old-{-480h} (completed): left: protected
      no snapshot policy "old" with prefix "snapkeep" is configured
  server 2 (db-01):
    backup #301 snapkeep:gone:{-1h} (in_progress): left: in_progress (run again once it is done)
      no backup policy "gone" with prefix "snapkeep" is configured
      live: possibly another config's or a renamed policy's; newest 1h old
  server 3 (old-box):
    snapshot #200 snapkeep-nightly-{-72h} (completed): left: live (--include-live deletes it)
      policy "nightly" no longer lists server 3
      live: possibly another config's or a renamed policy's; newest 3d old
0 deleted, 3 left, 1 failed
left on purpose: 1 in live groups (newest younger than orphan_grace; --include-live)
"#;

/// The new commands, with trace logs and every error path (each delete
/// answered 500): the token appears nowhere. Stdout is compared whole;
/// stderr is not: at trace level it is the HTTP stack's thousands of lines
/// in an order of its own, and what is checked there is that the token is
/// in none of it.
#[test]
fn the_token_never_appears_in_the_new_commands() {
    let ran = test(now())
        .faults(Faults::none().with_endpoint(
            Endpoint::SnapshotsDelete,
            FaultSpec::none().with_errors(1.0, 500),
        ))
        .api("requests_per_second = 0\nmax_retries = 0\n")
        .prepared();
    let canary = ran.sim().sim.token().to_owned();
    let include_live = [
        "prune-orphans",
        "--yes",
        "--all",
        "--include-live",
        "--log-format",
        "json",
        "--log-level",
        "trace",
    ];
    for (args, status, stdout) in [
        (
            &["status", "--check", "--log-level", "trace"][..],
            0,
            CHECK_OK,
        ),
        (
            &["status", "--json", "--log-level", "trace"],
            0,
            STATUS_JSON,
        ),
        (
            &["prune-orphans", "--yes", "--all", "--log-level", "trace"],
            1,
            ALL_DELETE_FAILS,
        ),
        (&include_live, 1, DELETES_FAIL),
    ] {
        let run = ran.setup().run(args).expect(status);
        ran.assert_stdout(&run, stdout);
        assert!(
            !run.stdout().contains(&canary) && !run.stderr().contains(&canary),
            "token leaked by {args:?}"
        );
        assert!(
            run.stderr().contains("TRACE") || run.stderr().contains("\"level\":\"trace\""),
            "trace logs were on for {args:?}"
        );
    }
}
