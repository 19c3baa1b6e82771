//! `snapkeep status`: the JSON model and the table (STALE, what the next
//! pass would delete, what is stored), against the simulator's items.

use snapkeep_sim::{Seed, SeedSnapshot, SimStatus};

use crate::support::Test;

const STATUS_JSON: &str = r#"{
  "pairs": [
    {
      "server_id": 1,
      "server_name": "web-01",
      "policy": "daily",
      "kind": "snapshot",
      "ours": {
        "completed": 2,
        "in_progress": 0,
        "failed": 0,
        "unknown": 0,
        "not_ours": 1,
        "protected": 0,
        "can_hold": 1,
        "shortfall": 0,
        "stored_bytes": 8589934592,
        "without_size": 0
      },
      "newest_completed": "{SLOT-5d}",
      "newest_age_seconds": {AGE},
      "next_fire": "{SLOT+1d}",
      "paused": false,
      "health": "critical",
      "warn_after_seconds": 129600,
      "crit_after_seconds": 172800,
      "stale": true,
      "would_delete": [
        {
          "id": 1002,
          "name": "snapkeep-daily-{SLOT-6d}",
          "reasons": [
            "no-rule"
          ]
        }
      ],
      "protected": [],
      "shared_cap": null,
      "retry": null
    },
    {
      "server_id": 2,
      "server_name": "db-01",
      "policy": "daily",
      "kind": "snapshot",
      "ours": {
        "completed": 1,
        "in_progress": 0,
        "failed": 0,
        "unknown": 0,
        "not_ours": 0,
        "protected": 0,
        "can_hold": 1,
        "shortfall": 0,
        "stored_bytes": 536870912,
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
    }
  ],
  "orphans": [],
  "stored": [
    {
      "account": "default",
      "bytes": 9126805504,
      "without_size": 0,
      "servers": [
        {
          "server_id": 1,
          "server_name": "web-01",
          "bytes": 8589934592,
          "without_size": 0
        },
        {
          "server_id": 2,
          "server_name": "db-01",
          "bytes": 536870912,
          "without_size": 0
        }
      ]
    }
  ]
}
"#;
const STATUS_TABLE: &str =
    "SERVER             POLICY         KIND OURS RUN FAIL NOT NEWEST  NEXT             PRUNE  STATE
1 web-01           daily          snap    2   0    0   1     5d  {SLOT+1d}      1  STALE
2 db-01            daily          snap    1   0    0   0    12h  {SLOT+1d}      0  ok

1 STALE: newest completed item older than crit_after (default 2 × the schedule's interval), or none

next pass on server 1 policy daily would delete:
  #1002 snapkeep-daily-{SLOT-6d} (no-rule)

stored (our completed items, from VPS.org's size_mb):
  SERVER             POLICY         KIND ITEMS       STORED
  1 web-01           daily          snap     2      8.0 GiB
  1 web-01           server total            2      8.0 GiB
  2 db-01            daily          snap     1    512.0 MiB
  2 db-01            server total            1    512.0 MiB
  account default    total                   3      8.5 GiB
";

#[test]
fn status_json_matches_the_simulator_and_flags_stale() {
    let t = Test::new();
    let daily = t.daily.clone();
    let slot_days_ago = |d: i64| (daily.snapshot("daily", d), daily.slot(d));
    let (old1, t1) = slot_days_ago(5);
    let (old2, t2) = slot_days_ago(6);
    let (fresh, t3) = slot_days_ago(0);
    let seed = Seed::empty()
        .server(1, "web-01")
        .server(2, "db-01")
        .add_snapshot(SeedSnapshot::new(1, old1, t1, SimStatus::Completed).with_size_mb(5120))
        .add_snapshot(SeedSnapshot::new(1, old2, t2, SimStatus::Completed).with_size_mb(3072))
        .add_snapshot(SeedSnapshot::new(1, "manual", t2, SimStatus::Completed).with_size_mb(99_999))
        .add_snapshot(SeedSnapshot::new(2, fresh, t3, SimStatus::Completed).with_size_mb(512));
    let ran = t
        .seed(seed)
        .policies("[[policy]]\nname = \"daily\"\nkind = \"snapshot\"\nservers = [1, 2]\nschedule = \"{daily}\"\nkeep_last = 1\n")
        .normalize(|n| n.json_field("newest_age_seconds", "{AGE}"))
        .args(&["status", "--json"])
        .stdout(STATUS_JSON)
        .run();
    // The table fits 100 columns and says STALE.
    let table = ran.again(&["status"], 0, STATUS_TABLE, "").stdout();
    assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
    assert_eq!(
        ran.sim().count(&["POST", "DELETE"]),
        0,
        "status changes nothing"
    );
}
