//! Orphans that may be someone else's, through the real binary.
//! Two configs share one simulator account with the default prefix: to
//! each, the other's items look like orphans. `prune-orphans --yes` must
//! leave the other config's live items alone; past `orphan_grace` it deletes
//! all but each group's newest completed item, `--all` those too.

use snapkeep_sim::{Seed, SimStatus};

use crate::support::{Daily, Test};

/// Config A: the fleet's web servers.
const A: &str = r#"
[[policy]]
name = "web"
kind = "snapshot"
servers = [1]
schedule = "{daily}"
keep_last = 3
"#;

/// Config B, on the same account: the database server.
const B: &str = r#"
[[policy]]
name = "db"
kind = "snapshot"
servers = [2]
schedule = "{daily}"
keep_last = 2
"#;

/// Server 1 has A's history; server 2 has what a policy `old` (long
/// removed) left 20, 19 and 18 days ago.
fn seed(d: &Daily) -> Seed {
    let c = SimStatus::Completed;
    Seed::empty()
        .server(1, "web-01")
        .server(2, "db-01")
        .snapshot(1, d.snapshot("web", 2), d.slot(2), c.clone())
        .snapshot(1, d.snapshot("web", 1), d.slot(1), c.clone())
        .snapshot(2, d.snapshot("old", 20), d.slot(20), c.clone())
        .snapshot(2, d.snapshot("old", 19), d.slot(19), c.clone())
        .snapshot(2, d.snapshot("old", 18), d.slot(18), c)
}

const ANOTHER_CONFIGS_LIVE_ITEMS_ARE_LOG: &str = "INFO create server 1 (web-01) policy web #1006 snapkeep-web-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy web #1006 snapkeep-web-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy web #1006 snapkeep-web-{SLOT} ({T})
";

const DELETED_OLD_LOG: &str = r#"INFO delete server 2 (db-01) policy old #1003 snapkeep-old-{SLOT-20d}: orphan: no snapshot policy "old" with prefix "snapkeep" is configured
INFO delete server 2 (db-01) policy old #1004 snapkeep-old-{SLOT-19d}: orphan: no snapshot policy "old" with prefix "snapkeep" is configured
"#;
const DELETED_NEWEST_OLD_LOG: &str = r#"INFO delete server 2 (db-01) policy old #1005 snapkeep-old-{SLOT-18d}: orphan: no snapshot policy "old" with prefix "snapkeep" is configured
"#;
const DELETED_WEB_LOG: &str = r#"INFO delete server 1 (web-01) policy web #1001 snapkeep-web-{SLOT-2d}: orphan: no snapshot policy "web" with prefix "snapkeep" is configured
INFO delete server 1 (web-01) policy web #1002 snapkeep-web-{SLOT-1d}: orphan: no snapshot policy "web" with prefix "snapkeep" is configured
"#;

/// A's pass on server 1.
const A_PASS: &str = "ok      server 1 (web-01) policy web: created #1006 snapkeep-web-{SLOT} [{T}]
1 job(s): 1 ok, 0 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
";

/// B's first `prune-orphans --yes`: web's items are live, old's go but
/// its newest completed.
const SIX_ORPHANS: &str = "6 orphans (our naming, but no configured policy prunes them):
  server 1 (web-01):
    snapshot #1001 snapkeep-web-{SLOT-2d} (completed): left: live (--include-live deletes it)
      no snapshot policy \"web\" with prefix \"snapkeep\" is configured
      live: possibly another config's or a renamed policy's; newest 0m old
    snapshot #1002 snapkeep-web-{SLOT-1d} (completed): left: live (--include-live deletes it)
      no snapshot policy \"web\" with prefix \"snapkeep\" is configured
      live: possibly another config's or a renamed policy's; newest 0m old
    snapshot #1006 snapkeep-web-{SLOT} (completed): left: live (--include-live deletes it)
      no snapshot policy \"web\" with prefix \"snapkeep\" is configured
      live: possibly another config's or a renamed policy's; newest 0m old
  server 2 (db-01):
    snapshot #1003 snapkeep-old-{SLOT-20d} (completed): deleted
      no snapshot policy \"old\" with prefix \"snapkeep\" is configured
    snapshot #1004 snapkeep-old-{SLOT-19d} (completed): deleted
      no snapshot policy \"old\" with prefix \"snapkeep\" is configured
    snapshot #1005 snapkeep-old-{SLOT-18d} (completed): left: its group's newest completed (--all deletes it)
      no snapshot policy \"old\" with prefix \"snapkeep\" is configured
2 deleted, 4 left, 0 failed
left on purpose: 3 in live groups (newest younger than orphan_grace; --include-live); 1 newest completed of their group (--all)
";

#[test]
fn another_configs_live_items_are_never_deleted_and_each_group_keeps_its_newest() {
    let t = Test::new();
    let seed = seed(&t.daily);
    // A's pass: web rotates on server 1 (its newest item is seconds old).
    let ran = t
        .seed(seed)
        .policies(A)
        .args(&["--run-now"])
        .stdout(A_PASS)
        .stderr(ANOTHER_CONFIGS_LIVE_ITEMS_ARE_LOG)
        .run();
    let b = ran.second_config(B);
    // To B, web's items are orphans, but live: left; old's are past the
    // grace: all but the newest completed go.
    ran.again_with(
        &b,
        &["prune-orphans", "--yes"],
        0,
        SIX_ORPHANS,
        DELETED_OLD_LOG,
    );
    assert_eq!(
        ran.sim().snapshot_ids(1),
        vec![1001, 1002, 1006],
        "A's items all stay"
    );
    assert_eq!(ran.sim().snapshot_ids(2), vec![1005]);

    // --all takes the last restore point of a forgotten group; live stays.
    ran.again_with(
        &b,
        &["prune-orphans", "--yes", "--all", "--server", "2"],
        0,
        "1 orphan (our naming, but no configured policy prunes it):
  server 2 (db-01):
    snapshot #1005 snapkeep-old-{SLOT-18d} (completed): deleted
      no snapshot policy \"old\" with prefix \"snapkeep\" is configured
1 deleted, 0 left, 0 failed
",
        DELETED_NEWEST_OLD_LOG,
    );
    ran.again_with(
        &b,
        &["prune-orphans", "--yes", "--all"],
        0,
        "3 orphans (our naming, but no configured policy prunes them):
  server 1 (web-01):
    snapshot #1001 snapkeep-web-{SLOT-2d} (completed): left: live (--include-live deletes it)
      no snapshot policy \"web\" with prefix \"snapkeep\" is configured
      live: possibly another config's or a renamed policy's; newest 0m old
    snapshot #1002 snapkeep-web-{SLOT-1d} (completed): left: live (--include-live deletes it)
      no snapshot policy \"web\" with prefix \"snapkeep\" is configured
      live: possibly another config's or a renamed policy's; newest 0m old
    snapshot #1006 snapkeep-web-{SLOT} (completed): left: live (--include-live deletes it)
      no snapshot policy \"web\" with prefix \"snapkeep\" is configured
      live: possibly another config's or a renamed policy's; newest 0m old
0 deleted, 3 left, 0 failed
left on purpose: 3 in live groups (newest younger than orphan_grace; --include-live)
",
        "",
    );
    assert_eq!(ran.sim().snapshot_ids(1), vec![1001, 1002, 1006]);
    assert!(ran.sim().snapshot_ids(2).is_empty());

    // Asked for by name: --include-live deletes a live group, still
    // keeping its newest completed item without --all.
    ran.again_with(
        &b,
        &["prune-orphans", "--yes", "--include-live", "--policy", "web"],
        0,
        "3 orphans (our naming, but no configured policy prunes them):
  server 1 (web-01):
    snapshot #1001 snapkeep-web-{SLOT-2d} (completed): deleted
      no snapshot policy \"web\" with prefix \"snapkeep\" is configured
      live: possibly another config's or a renamed policy's; newest 0m old
    snapshot #1002 snapkeep-web-{SLOT-1d} (completed): deleted
      no snapshot policy \"web\" with prefix \"snapkeep\" is configured
      live: possibly another config's or a renamed policy's; newest 0m old
    snapshot #1006 snapkeep-web-{SLOT} (completed): left: its group's newest completed (--all deletes it)
      no snapshot policy \"web\" with prefix \"snapkeep\" is configured
      live: possibly another config's or a renamed policy's; newest 0m old
2 deleted, 1 left, 0 failed
left on purpose: 1 newest completed of their group (--all)
",
        DELETED_WEB_LOG,
    );
    assert_eq!(ran.sim().snapshot_ids(1), vec![1006]);
}

const WITH_NO_GRACE_ANOTHER_CONFIGS_LOG: &str = "INFO create server 1 (web-01) policy web #1006 snapkeep-web-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy web #1006 snapkeep-web-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy web #1006 snapkeep-web-{SLOT} ({T})
";

/// `orphan_grace = "0s"`: nothing is live, so the same two configs'
/// items go with `--yes` (all but the newest of each group): the setting
/// is what protects the other config.
#[test]
fn with_no_grace_another_configs_items_are_fair_game() {
    let t = Test::new();
    let seed = seed(&t.daily);
    let ran = t
        .seed(seed)
        .policies(A)
        .args(&["--run-now"])
        .stdout(A_PASS)
        .stderr(WITH_NO_GRACE_ANOTHER_CONFIGS_LOG)
        .run();
    let b = ran.second_config(&format!(
        "[defaults]\npoll_interval = \"100ms\"\norphan_grace = \"0s\"\n{B}"
    ));
    ran.again_with(
        &b,
        &["prune-orphans", "--yes", "--server", "1"],
        0,
        "3 orphans (our naming, but no configured policy prunes them):
  server 1 (web-01):
    snapshot #1001 snapkeep-web-{SLOT-2d} (completed): deleted
      no snapshot policy \"web\" with prefix \"snapkeep\" is configured
    snapshot #1002 snapkeep-web-{SLOT-1d} (completed): deleted
      no snapshot policy \"web\" with prefix \"snapkeep\" is configured
    snapshot #1006 snapkeep-web-{SLOT} (completed): left: its group's newest completed (--all deletes it)
      no snapshot policy \"web\" with prefix \"snapkeep\" is configured
2 deleted, 1 left, 0 failed
left on purpose: 1 newest completed of their group (--all)
",
        DELETED_WEB_LOG,
    );
}
