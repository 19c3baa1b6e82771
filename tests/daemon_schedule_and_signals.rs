//! The daemon: schedules, catch-up, signals, reload.

use std::time::Duration;

use snapkeep_sim::{Faults, Seed};

use crate::support::Test;

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

/// The pass of slot `{T0+<secs>s}` of [`EVERY_2S`] that created `#<id>`: its
/// summary line (a quiet point: the next fire is over a second away).
fn pass_summary(id: u64, secs: u64, deleted: &str) -> [String; 2] {
    let n = deleted.matches('#').count();
    [
        format!(
            "INFO ok      server 1 (web-01) policy fast: created #{id} snapkeep-fast-{{T0+{secs}s}}{deleted} [{{T}}]"
        ),
        format!(
            "INFO 1 job(s): 1 ok, 0 failed; created 1, deleted {n}; {{N}} API call(s), 0 retried, in {{T}}"
        ),
    ]
}

const THREE_SLOTS: &str = r#"INFO snapkeep daemon started config={DIR}/config.toml policies=1 servers=1
INFO catching up a missed slot (once) slot={T0}
INFO ok      server 1 policy fast: nothing left unfinished for this slot (missed = "skip") [{T}]
INFO 1 job(s): 1 ok, 0 failed; created 0, deleted 0; {N} API call(s), 0 retried, in {T}
INFO create server 1 (web-01) policy fast #1001 snapkeep-fast-{T0+2s}: scheduled slot
INFO wait server 1 (web-01) policy fast #1001 snapkeep-fast-{T0+2s}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy fast #1001 snapkeep-fast-{T0+2s} ({T})
INFO ok      server 1 (web-01) policy fast: created #1001 snapkeep-fast-{T0+2s} [{T}]
INFO 1 job(s): 1 ok, 0 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
INFO create server 1 (web-01) policy fast #1002 snapkeep-fast-{T0+4s}: scheduled slot
INFO wait server 1 (web-01) policy fast #1002 snapkeep-fast-{T0+4s}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy fast #1002 snapkeep-fast-{T0+4s} ({T})
INFO ok      server 1 (web-01) policy fast: created #1002 snapkeep-fast-{T0+4s} [{T}]
INFO 1 job(s): 1 ok, 0 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
INFO create server 1 (web-01) policy fast #1003 snapkeep-fast-{T0+6s}: scheduled slot
INFO wait server 1 (web-01) policy fast #1003 snapkeep-fast-{T0+6s}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy fast #1003 snapkeep-fast-{T0+6s} ({T})
INFO ok      server 1 (web-01) policy fast: created #1003 snapkeep-fast-{T0+6s} [{T}]
INFO 1 job(s): 1 ok, 0 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
INFO SIGTERM: finishing in-flight work, starting nothing new
INFO snapkeep daemon stopped
"#;

#[test]
fn items_appear_per_slot_and_sigterm_exits_0() {
    let mut d = Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .policies(EVERY_2S)
        .start()
        .normalize(|n| n.clock_stamps(2));
    // Three slots, 2 s apart, each its item named by its slot.
    for line in pass_summary(1003, 6, "") {
        d.wait_for(&line);
    }
    let ran = d.stop("TERM", 0, THREE_SLOTS);
    assert!(ran.sim().sim.max_snapshots_seen(1) <= 5);
}

const RELOADS: &str = r#"INFO snapkeep daemon started config={DIR}/config.toml policies=1 servers=1
INFO catching up a missed slot (once) slot={T0}
INFO ok      server 1 policy fast: nothing left unfinished for this slot (missed = "skip") [{T}]
INFO 1 job(s): 1 ok, 0 failed; created 0, deleted 0; {N} API call(s), 0 retried, in {T}
INFO create server 1 (web-01) policy fast #1001 snapkeep-fast-{T0+2s}: scheduled slot
INFO wait server 1 (web-01) policy fast #1001 snapkeep-fast-{T0+2s}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy fast #1001 snapkeep-fast-{T0+2s} ({T})
INFO ok      server 1 (web-01) policy fast: created #1001 snapkeep-fast-{T0+2s} [{T}]
INFO 1 job(s): 1 ok, 0 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
INFO create server 1 (web-01) policy fast #1002 snapkeep-fast-{T0+4s}: scheduled slot
INFO wait server 1 (web-01) policy fast #1002 snapkeep-fast-{T0+4s}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy fast #1002 snapkeep-fast-{T0+4s} ({T})
INFO ok      server 1 (web-01) policy fast: created #1002 snapkeep-fast-{T0+4s} [{T}]
INFO 1 job(s): 1 ok, 0 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
INFO create server 1 (web-01) policy fast #1003 snapkeep-fast-{T0+6s}: scheduled slot
INFO wait server 1 (web-01) policy fast #1003 snapkeep-fast-{T0+6s}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy fast #1003 snapkeep-fast-{T0+6s} ({T})
INFO ok      server 1 (web-01) policy fast: created #1003 snapkeep-fast-{T0+6s} [{T}]
INFO 1 job(s): 1 ok, 0 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
ERROR SIGHUP: the new config was rejected, keeping the old one running: {DIR}/config.toml:20:13: invalid type: string "three", expected i64
INFO create server 1 (web-01) policy fast #1004 snapkeep-fast-{T0+8s}: scheduled slot
INFO wait server 1 (web-01) policy fast #1004 snapkeep-fast-{T0+8s}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy fast #1004 snapkeep-fast-{T0+8s} ({T})
INFO delete server 1 (web-01) policy fast #1001 snapkeep-fast-{T0+2s}: retention: no-rule
INFO ok      server 1 (web-01) policy fast: created #1004 snapkeep-fast-{T0+8s}; deleted #1001 snapkeep-fast-{T0+2s} [{T}]
INFO 1 job(s): 1 ok, 0 failed; created 1, deleted 1; {N} API call(s), 0 retried, in {T}
INFO SIGHUP: config reloaded; in-flight passes finish with the old one config={DIR}/config.toml policies=1
INFO create server 1 (web-01) policy fast #1005 snapkeep-fast-{T0+10s}: scheduled slot
INFO wait server 1 (web-01) policy fast #1005 snapkeep-fast-{T0+10s}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy fast #1005 snapkeep-fast-{T0+10s} ({T})
INFO delete server 1 (web-01) policy fast #1002 snapkeep-fast-{T0+4s}: retention: no-rule
INFO delete server 1 (web-01) policy fast #1003 snapkeep-fast-{T0+6s}: retention: no-rule
INFO delete server 1 (web-01) policy fast #1004 snapkeep-fast-{T0+8s}: retention: no-rule
INFO ok      server 1 (web-01) policy fast: created #1005 snapkeep-fast-{T0+10s}; deleted #1002 snapkeep-fast-{T0+4s}; deleted #1003 snapkeep-fast-{T0+6s}; deleted #1004 snapkeep-fast-{T0+8s} [{T}]
INFO 1 job(s): 1 ok, 0 failed; created 1, deleted 3; {N} API call(s), 0 retried, in {T}
INFO SIGTERM: finishing in-flight work, starting nothing new
INFO snapkeep daemon stopped
"#;

#[test]
fn sighup_applies_a_changed_keep_last_and_rejects_a_broken_file() {
    let mut d = Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .policies(EVERY_2S)
        .start()
        .normalize(|n| n.clock_stamps(2));
    let config = d.ran.setup().config.clone();
    let good = std::fs::read_to_string(&config).unwrap();
    for line in pass_summary(1003, 6, "") {
        d.wait_for(&line);
    }

    // A broken file: the old config keeps running (and creating).
    std::fs::write(
        &config,
        good.replace("keep_last = 3", "keep_last = \"three\""),
    )
    .unwrap();
    d.signal("HUP");
    d.wait_for("ERROR SIGHUP: the new config was rejected, keeping the old one running: {DIR}/config.toml:20:13: invalid type: string \"three\", expected i64");
    for line in pass_summary(1004, 8, "; deleted #1001 snapkeep-fast-{T0+2s}") {
        d.wait_for(&line);
    }

    // A good change: keep_last 1 takes effect at the next slot.
    std::fs::write(&config, good.replace("keep_last = 3", "keep_last = 1")).unwrap();
    d.signal("HUP");
    d.wait_for("INFO SIGHUP: config reloaded; in-flight passes finish with the old one config={DIR}/config.toml policies=1");
    let deleted = "; deleted #1002 snapkeep-fast-{T0+4s}; deleted #1003 snapkeep-fast-{T0+6s}; deleted #1004 snapkeep-fast-{T0+8s}";
    for line in pass_summary(1005, 10, deleted) {
        d.wait_for(&line);
    }
    let ran = d.stop("TERM", 0, RELOADS);
    assert_eq!(ran.sim().snapshot_names(1).len(), 1);
}

const CUT_OFF_WAIT: &str = "INFO snapkeep daemon started config={DIR}/config.toml policies=1 servers=1
INFO catching up a missed slot (once) slot={SLOT}
INFO create server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO SIGTERM: finishing in-flight work, starting nothing new
WARN in-flight passes did not finish within shutdown_timeout; stopping them (the next start finishes their slots) timeout=2s
INFO snapkeep daemon stopped
";

#[test]
fn sigterm_during_a_wait_exits_0_within_shutdown_timeout() {
    let mut d = Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .faults(Faults::none().with_stuck_in_progress())
        .policies(
            "[daemon]\nshutdown_timeout = \"2s\"\n\n[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"{daily}\"\nkeep_last = 3\n",
        )
        .start();
    d.wait_for("INFO wait server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)");
    let (_, took) = d.stop_timed("TERM", 0, "", CUT_OFF_WAIT);
    assert!(took < Duration::from_secs(4), "took {took:?}");
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

const ONE_CATCH_UP: &str = "INFO snapkeep daemon started config={DIR}/config.toml policies=2 servers=1
INFO catching up a missed slot (once) slot={SLOT}
INFO catching up a missed slot (once) slot={SLOT}
INFO create server 1 (web-01) policy a #1001 snapkeep-a-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy a #1001 snapkeep-a-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy a #1001 snapkeep-a-{SLOT} ({T})
INFO create server 1 (web-01) policy b #5001 snapkeep:b:{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy b #5001 snapkeep:b:{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy b #5001 snapkeep:b:{SLOT} ({T})
INFO ok      server 1 (web-01) policy a: created #1001 snapkeep-a-{SLOT} [{T}]
INFO ok      server 1 (web-01) policy b: created #5001 snapkeep:b:{SLOT} [{T}]
INFO 2 job(s): 2 ok, 0 failed; created 2, deleted 0; {N} API call(s), 0 retried, in {T}
INFO SIGTERM: finishing in-flight work, starting nothing new
INFO snapkeep daemon stopped
";

#[test]
fn a_start_with_missed_slots_runs_exactly_one_catch_up_per_policy() {
    let mut d = Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .policies(DAILY_TWO_POLICIES)
        .start();
    d.wait_for(
        "INFO 2 job(s): 2 ok, 0 failed; created 2, deleted 0; {N} API call(s), 0 retried, in {T}",
    );
    // Time for a second catch-up, were there one.
    std::thread::sleep(Duration::from_millis(800));
    let ran = d.stop("TERM", 0, ONE_CATCH_UP);
    assert_eq!(ran.sim().count(&["POST"]), 2, "one create per policy");
}

const KILLED: &str = "INFO snapkeep daemon started config={DIR}/config.toml policies=2 servers=1
INFO catching up a missed slot (once) slot={SLOT}
INFO catching up a missed slot (once) slot={SLOT}
INFO create server 1 (web-01) policy a #1001 snapkeep-a-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy a #1001 snapkeep-a-{SLOT}: until completed (poll every 100ms, give up after 20s)
";
const RESTARTED: &str = "INFO snapkeep daemon started config={DIR}/config.toml policies=2 servers=1
INFO catching up a missed slot (once) slot={SLOT}
INFO catching up a missed slot (once) slot={SLOT}
INFO skip server 1 (web-01) policy a #1001 snapkeep-a-{SLOT}: slot {SLOT} already has this item (in_progress); not creating another
INFO wait server 1 (web-01) policy a #1001 snapkeep-a-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy a #1001 snapkeep-a-{SLOT} ({T})
INFO create server 1 (web-01) policy b #5001 snapkeep:b:{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy b #5001 snapkeep:b:{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy b #5001 snapkeep:b:{SLOT} ({T})
INFO ok      server 1 (web-01) policy a: slot already taken, nothing created [{T}]
INFO ok      server 1 (web-01) policy b: created #5001 snapkeep:b:{SLOT} [{T}]
INFO 2 job(s): 2 ok, 0 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
INFO SIGTERM: finishing in-flight work, starting nothing new
INFO snapkeep daemon stopped
";

#[test]
fn sigkill_mid_pass_then_restart_creates_no_duplicate() {
    let mut d = Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .complete_after(Duration::from_secs(3))
        .policies(DAILY_TWO_POLICIES)
        .start();
    // Killed while waiting for the first item to complete.
    d.wait_for("INFO wait server 1 (web-01) policy a #1001 snapkeep-a-{SLOT}: until completed (poll every 100ms, give up after 20s)");
    let ran = d.stop("KILL", -1, KILLED);
    let mut d = ran.start();
    d.wait_for(
        "INFO 2 job(s): 2 ok, 0 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}",
    );
    let ran = d.stop("TERM", 0, RESTARTED);
    let snapshot_posts = ran
        .sim()
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("snapshots"))
        .count();
    assert_eq!(snapshot_posts, 1, "no duplicate for the slot");
}

const RETRYING: &str = r#"INFO metrics at http://{METRICS}/metrics, health at /healthz and /readyz addr={METRICS}
INFO snapkeep daemon started config={DIR}/config.toml policies=1 servers=2
INFO catching up a missed slot (once) slot={SLOT}
INFO catching up a missed slot (once) slot={SLOT}
INFO create server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: scheduled slot
INFO wait server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT}: until completed (poll every 100ms, give up after 20s)
INFO completed server 1 (web-01) policy nightly #1001 snapkeep-nightly-{SLOT} ({T})
ERROR fail server 999 policy nightly: create of snapkeep-nightly-{SLOT}: snapshots.create (server 999): not found (404: Server not found.)
INFO ok      server 1 (web-01) policy nightly: created #1001 snapkeep-nightly-{SLOT} [{T}]
INFO FAILED  server 999 policy nightly (not_found): create failed: snapshots.create (server 999): not found (404: Server not found.) [{T}]
INFO 2 job(s): 1 ok, 1 failed; created 1, deleted 0; {N} API call(s), 0 retried, in {T}
WARN the job failed; retrying its slot at {NOW+1m} (attempt 1) slot={SLOT} attempt=1 retry_at={NOW+1m}
INFO SIGTERM: finishing in-flight work, starting nothing new
WARN shutdown with a retry of this slot pending; the next start catches up (missed = "run-once") slot={SLOT} retry_at={NOW+1m}
INFO snapkeep daemon stopped
"#;
const RETRYING_STATUS: &str =
    "SERVER             POLICY         KIND OURS RUN FAIL NOT NEWEST  NEXT             PRUNE  STATE
1 web-01           nightly        snap    1   0    0   0    12h  {SLOT+1d}      0  ok
999                nightly        snap    0   0    0   0   none  {SLOT+1d}      0  RETRYING

1 STALE: newest completed item older than crit_after (default 2 × the schedule's interval), or none

retrying (the daemon fires the slot again; retry_window):
  server 999 policy nightly: slot {SLOT}, retrying at {NOW+1m}, attempt 1 (last try: not_found)

stored (our completed items, from VPS.org's size_mb):
  SERVER             POLICY         KIND ITEMS       STORED
  1 web-01           nightly        snap     1      5.7 GiB
  1 web-01           server total            1      5.7 GiB
  999                nightly        snap     0          0 B
  999                server total            0          0 B
  account default    total                   1      5.7 GiB
";
const RETRYING_JSON: &str = r#"{
  "pairs": [
    {
      "server_id": 1,
      "server_name": "web-01",
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
        "stored_bytes": 6127878144,
        "without_size": 0
      },
      "newest_completed": "{SLOT}",
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
      "server_id": 999,
      "server_name": "",
      "policy": "nightly",
      "kind": "snapshot",
      "ours": {
        "completed": 0,
        "in_progress": 0,
        "failed": 0,
        "unknown": 0,
        "not_ours": 0,
        "protected": 0,
        "can_hold": 2,
        "shortfall": 0,
        "stored_bytes": 0,
        "without_size": 0
      },
      "newest_completed": null,
      "newest_age_seconds": null,
      "next_fire": "{SLOT+1d}",
      "paused": false,
      "health": "critical",
      "warn_after_seconds": 129600,
      "crit_after_seconds": 172800,
      "stale": true,
      "would_delete": [],
      "protected": [],
      "shared_cap": null,
      "retry": {
        "server_id": 999,
        "policy": "nightly",
        "slot": "{SLOT}",
        "attempt": 1,
        "at": "{NOW+1m}",
        "reason": "not_found"
      }
    }
  ],
  "orphans": [],
  "stored": [
    {
      "account": "default",
      "bytes": 6127878144,
      "without_size": 0,
      "servers": [
        {
          "server_id": 1,
          "server_name": "web-01",
          "bytes": 6127878144,
          "without_size": 0
        },
        {
          "server_id": 999,
          "server_name": "",
          "bytes": 0,
          "without_size": 0
        }
      ]
    }
  ]
}
"#;

/// A failed slot is retried by the daemon, and `snapkeep status` shows it
/// (asked from the daemon's `/retries`).
#[test]
fn a_failed_slot_is_retried_and_status_shows_it() {
    // Server 999 does not exist: its job fails (404) at the start's
    // catch-up, and the slot is retried a minute later (within 1d, before
    // the next fire 12 h away).
    let mut d = Test::new()
        .seed(Seed::empty().server(1, "web-01"))
        .policies(
            "[metrics]\nlisten = \"{metrics}\"\n\n[daemon]\nshutdown_timeout = \"5s\"\n\n\
             [[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1, 999]\nschedule = \"{daily}\"\nkeep_last = 2\nretry_window = \"1d\"\n",
        )
        .start()
        .normalize(|n| n.sort_runs(&["INFO create ", "INFO wait ", "INFO completed ", "ERROR fail "]));
    d.wait_for("WARN the job failed; retrying its slot at {NOW+1m} (attempt 1) slot={SLOT} attempt=1 retry_at={NOW+1m}");
    d.ran.again(&["status"], 0, RETRYING_STATUS, "");
    d.ran.normalize = d
        .ran
        .normalize
        .clone()
        .json_field("newest_age_seconds", "{AGE}");
    d.ran.again(&["status", "--json"], 0, RETRYING_JSON, "");
    d.stop("TERM", 0, RETRYING);
}
