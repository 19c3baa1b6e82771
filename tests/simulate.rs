//! `snapkeep simulate`: whole outputs through the real binary, no token,
//! no network.

use crate::support::{Test, temp_dir};

const GFS: &str = r#"
[[policy]]
name = "gfs"
kind = "snapshot"
servers = [12345, 12346]
schedule = "0 * * * *"
keep_last = 2
keep_daily = 2
keep_weekly = 1
"#;

/// `snapkeep simulate --config <config> <args>`: no token, no network.
fn simulate(config: &str, args: &[&str]) -> Test {
    Test::new()
        .no_token()
        .config_file("config.toml", config)
        .args(&["simulate"])
        .args(args)
}

const GFS_3_DAYS: &[&str] = &[
    "--policy",
    "gfs",
    "--days",
    "3",
    "--from",
    "2025-01-06T00:00:00Z",
];

const GFS_TEXT: &str = r#"policy gfs: snapshot every hour (UTC) ("0 * * * *"), keeps 2 last + 2 daily + 1 weekly
simulated on server 12345 alone (items are per server; each of its 2 servers holds the same)
every create succeeding, nothing else on the server: 3 days from 2025-01-06T00:00:00Z
to 2025-01-09T00:00:00Z; times in UTC.

2025-01-06 Mon: 24 created, 21 deleted, holding 3
  deleted 21 made this day (no-rule)
  kept    2025-01-06 23:00 (last, daily, weekly), 2025-01-06 22:00 (last), 2025-01-06 00:00 (daily)

2025-01-07 Tue: 24 created, 24 deleted, holding 3
  deleted 2025-01-06 00:00 (no-rule), 2025-01-06 22:00 (no-rule), 22 made this day (no-rule)
  kept    2025-01-07 23:00 (last, daily, weekly), 2025-01-07 22:00 (last), 2025-01-06 23:00 (daily)

2025-01-08 Wed: 24 created, 24 deleted, holding 3
  deleted 2025-01-06 23:00 (no-rule), 2025-01-07 22:00 (no-rule), 22 made this day (no-rule)
  kept    2025-01-08 23:00 (last, daily, weekly), 2025-01-08 22:00 (last), 2025-01-07 23:00 (daily)

72 slots: 72 created, 69 deleted.
held at most 4 snapshots at once; VPS.org's cap is 5 per server (1 to spare).
at the end, 3 snapshots kept:
  oldest 2025-01-07 23:00, 1d 1h old
  newest 2025-01-08 23:00, 1h old
"#;

#[test]
fn gfs_hourly_day_by_day() {
    simulate(GFS, GFS_3_DAYS).stdout(GFS_TEXT).run();
}

const GFS_JSON: &str = r#"{
  "policy": "gfs",
  "kind": "snapshot",
  "schedule": "0 * * * *",
  "timezone": "UTC",
  "keeps": "2 last + 2 daily + 1 weekly",
  "paused": false,
  "server_id": 12345,
  "servers": 2,
  "sharing_server": [],
  "from": "2025-01-06T00:00:00Z",
  "to": "2025-01-09T00:00:00Z",
  "days": 3,
  "cap": 5,
  "slots": 72,
  "created": 72,
  "deleted": 69,
  "refused": 0,
  "max_held": 4,
  "room_deletes": 0,
  "timeline": [
    {
      "date": "2025-01-06",
      "created": [
        "2025-01-06T00:00:00Z",
        "2025-01-06T01:00:00Z",
        "2025-01-06T02:00:00Z",
        "2025-01-06T03:00:00Z",
        "2025-01-06T04:00:00Z",
        "2025-01-06T05:00:00Z",
        "2025-01-06T06:00:00Z",
        "2025-01-06T07:00:00Z",
        "2025-01-06T08:00:00Z",
        "2025-01-06T09:00:00Z",
        "2025-01-06T10:00:00Z",
        "2025-01-06T11:00:00Z",
        "2025-01-06T12:00:00Z",
        "2025-01-06T13:00:00Z",
        "2025-01-06T14:00:00Z",
        "2025-01-06T15:00:00Z",
        "2025-01-06T16:00:00Z",
        "2025-01-06T17:00:00Z",
        "2025-01-06T18:00:00Z",
        "2025-01-06T19:00:00Z",
        "2025-01-06T20:00:00Z",
        "2025-01-06T21:00:00Z",
        "2025-01-06T22:00:00Z",
        "2025-01-06T23:00:00Z"
      ],
      "deleted": [
        {
          "slot": "2025-01-06T01:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T02:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T03:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T04:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T05:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T06:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T07:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T08:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T09:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T10:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T11:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T12:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T13:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T14:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T15:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T16:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T17:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T18:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T19:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T20:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T21:00:00Z",
          "rules": [
            "no-rule"
          ]
        }
      ],
      "refused": [],
      "kept": [
        {
          "slot": "2025-01-06T23:00:00Z",
          "rules": [
            "last",
            "daily",
            "weekly"
          ]
        },
        {
          "slot": "2025-01-06T22:00:00Z",
          "rules": [
            "last"
          ]
        },
        {
          "slot": "2025-01-06T00:00:00Z",
          "rules": [
            "daily"
          ]
        }
      ]
    },
    {
      "date": "2025-01-07",
      "created": [
        "2025-01-07T00:00:00Z",
        "2025-01-07T01:00:00Z",
        "2025-01-07T02:00:00Z",
        "2025-01-07T03:00:00Z",
        "2025-01-07T04:00:00Z",
        "2025-01-07T05:00:00Z",
        "2025-01-07T06:00:00Z",
        "2025-01-07T07:00:00Z",
        "2025-01-07T08:00:00Z",
        "2025-01-07T09:00:00Z",
        "2025-01-07T10:00:00Z",
        "2025-01-07T11:00:00Z",
        "2025-01-07T12:00:00Z",
        "2025-01-07T13:00:00Z",
        "2025-01-07T14:00:00Z",
        "2025-01-07T15:00:00Z",
        "2025-01-07T16:00:00Z",
        "2025-01-07T17:00:00Z",
        "2025-01-07T18:00:00Z",
        "2025-01-07T19:00:00Z",
        "2025-01-07T20:00:00Z",
        "2025-01-07T21:00:00Z",
        "2025-01-07T22:00:00Z",
        "2025-01-07T23:00:00Z"
      ],
      "deleted": [
        {
          "slot": "2025-01-06T00:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-06T22:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T00:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T01:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T02:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T03:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T04:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T05:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T06:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T07:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T08:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T09:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T10:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T11:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T12:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T13:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T14:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T15:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T16:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T17:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T18:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T19:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T20:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T21:00:00Z",
          "rules": [
            "no-rule"
          ]
        }
      ],
      "refused": [],
      "kept": [
        {
          "slot": "2025-01-07T23:00:00Z",
          "rules": [
            "last",
            "daily",
            "weekly"
          ]
        },
        {
          "slot": "2025-01-07T22:00:00Z",
          "rules": [
            "last"
          ]
        },
        {
          "slot": "2025-01-06T23:00:00Z",
          "rules": [
            "daily"
          ]
        }
      ]
    },
    {
      "date": "2025-01-08",
      "created": [
        "2025-01-08T00:00:00Z",
        "2025-01-08T01:00:00Z",
        "2025-01-08T02:00:00Z",
        "2025-01-08T03:00:00Z",
        "2025-01-08T04:00:00Z",
        "2025-01-08T05:00:00Z",
        "2025-01-08T06:00:00Z",
        "2025-01-08T07:00:00Z",
        "2025-01-08T08:00:00Z",
        "2025-01-08T09:00:00Z",
        "2025-01-08T10:00:00Z",
        "2025-01-08T11:00:00Z",
        "2025-01-08T12:00:00Z",
        "2025-01-08T13:00:00Z",
        "2025-01-08T14:00:00Z",
        "2025-01-08T15:00:00Z",
        "2025-01-08T16:00:00Z",
        "2025-01-08T17:00:00Z",
        "2025-01-08T18:00:00Z",
        "2025-01-08T19:00:00Z",
        "2025-01-08T20:00:00Z",
        "2025-01-08T21:00:00Z",
        "2025-01-08T22:00:00Z",
        "2025-01-08T23:00:00Z"
      ],
      "deleted": [
        {
          "slot": "2025-01-06T23:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-07T22:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T00:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T01:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T02:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T03:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T04:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T05:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T06:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T07:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T08:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T09:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T10:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T11:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T12:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T13:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T14:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T15:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T16:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T17:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T18:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T19:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T20:00:00Z",
          "rules": [
            "no-rule"
          ]
        },
        {
          "slot": "2025-01-08T21:00:00Z",
          "rules": [
            "no-rule"
          ]
        }
      ],
      "refused": [],
      "kept": [
        {
          "slot": "2025-01-08T23:00:00Z",
          "rules": [
            "last",
            "daily",
            "weekly"
          ]
        },
        {
          "slot": "2025-01-08T22:00:00Z",
          "rules": [
            "last"
          ]
        },
        {
          "slot": "2025-01-07T23:00:00Z",
          "rules": [
            "daily"
          ]
        }
      ]
    }
  ],
  "kept_at_end": [
    {
      "slot": "2025-01-08T23:00:00Z",
      "rules": [
        "last",
        "daily",
        "weekly"
      ]
    },
    {
      "slot": "2025-01-08T22:00:00Z",
      "rules": [
        "last"
      ]
    },
    {
      "slot": "2025-01-07T23:00:00Z",
      "rules": [
        "daily"
      ]
    }
  ],
  "oldest": {
    "slot": "2025-01-07T23:00:00Z",
    "age_seconds": 90000
  },
  "newest": {
    "slot": "2025-01-08T23:00:00Z",
    "age_seconds": 3600
  }
}
"#;

#[test]
fn gfs_json_is_the_same_simulation() {
    simulate(GFS, GFS_3_DAYS)
        .args(&["--json"])
        .stdout(GFS_JSON)
        .run();
}

const WEEKLY: &str = r#"
[[policy]]
name = "weekly"
kind = "backup"
servers = [7]
schedule = "0 4 * * 0"
timezone = "Europe/Berlin"
keep_last = 10
"#;

const WEEKLY_TEXT: &str = r#"policy weekly: backup at 04:00 on Sunday (Europe/Berlin) ("0 4 * * 0"), keeps 10 last
simulated on server 7 alone
every create succeeding, nothing else on the server: 90 days from 2025-01-01T00:00:00Z
to 2025-04-01T00:00:00Z; times in Europe/Berlin.

2025-01-05 Sun: 1 created, 0 deleted, holding 1
  kept    2025-01-05 04:00 (last)

2025-01-12 Sun: 1 created, 0 deleted, holding 2
  kept    2025-01-12 04:00 (last), 2025-01-05 04:00 (last)

2025-01-19 Sun: 1 created, 0 deleted, holding 3
  kept    2025-01-19 04:00 (last), 2025-01-12 04:00 (last), 2025-01-05 04:00 (last)

2025-01-26 Sun: 1 created, 0 deleted, holding 4
  kept    2025-01-26 04:00 (last), 2025-01-19 04:00 (last), 2025-01-12 04:00 (last),
          2025-01-05 04:00 (last)

2025-02-02 Sun: 1 created, 0 deleted, holding 5
  kept    2025-02-02 04:00 (last), 2025-01-26 04:00 (last), 2025-01-19 04:00 (last),
          2025-01-12 04:00 (last), 2025-01-05 04:00 (last)

2025-02-09 Sun: 1 created, 0 deleted, holding 6
  kept    2025-02-09 04:00 (last), 2025-02-02 04:00 (last), 2025-01-26 04:00 (last),
          2025-01-19 04:00 (last), 2025-01-12 04:00 (last), 2025-01-05 04:00 (last)

2025-02-16 Sun: 1 created, 0 deleted, holding 7
  kept    2025-02-16 04:00 (last), 2025-02-09 04:00 (last), 2025-02-02 04:00 (last),
          2025-01-26 04:00 (last), 2025-01-19 04:00 (last), 2025-01-12 04:00 (last),
          2025-01-05 04:00 (last)

2025-02-23 Sun: 1 created, 0 deleted, holding 8
  kept    2025-02-23 04:00 (last), 2025-02-16 04:00 (last), 2025-02-09 04:00 (last),
          2025-02-02 04:00 (last), 2025-01-26 04:00 (last), 2025-01-19 04:00 (last),
          2025-01-12 04:00 (last), 2025-01-05 04:00 (last)

2025-03-02 Sun: 1 created, 0 deleted, holding 9
  kept    2025-03-02 04:00 (last), 2025-02-23 04:00 (last), 2025-02-16 04:00 (last),
          2025-02-09 04:00 (last), 2025-02-02 04:00 (last), 2025-01-26 04:00 (last),
          2025-01-19 04:00 (last), 2025-01-12 04:00 (last), 2025-01-05 04:00 (last)

2025-03-09 Sun: 1 created, 0 deleted, holding 10
  kept    2025-03-09 04:00 (last), 2025-03-02 04:00 (last), 2025-02-23 04:00 (last),
          2025-02-16 04:00 (last), 2025-02-09 04:00 (last), 2025-02-02 04:00 (last),
          2025-01-26 04:00 (last), 2025-01-19 04:00 (last), 2025-01-12 04:00 (last),
          2025-01-05 04:00 (last)

2025-03-16 Sun: 1 created, 1 deleted, holding 10
  deleted 2025-01-05 04:00 (room)
  kept    2025-03-16 04:00 (last), 2025-03-09 04:00 (last), 2025-03-02 04:00 (last),
          2025-02-23 04:00 (last), 2025-02-16 04:00 (last), 2025-02-09 04:00 (last),
          2025-02-02 04:00 (last), 2025-01-26 04:00 (last), 2025-01-19 04:00 (last),
          2025-01-12 04:00 (last)

2025-03-23 Sun: 1 created, 1 deleted, holding 10
  deleted 2025-01-12 04:00 (room)
  kept    2025-03-23 04:00 (last), 2025-03-16 04:00 (last), 2025-03-09 04:00 (last),
          2025-03-02 04:00 (last), 2025-02-23 04:00 (last), 2025-02-16 04:00 (last),
          2025-02-09 04:00 (last), 2025-02-02 04:00 (last), 2025-01-26 04:00 (last),
          2025-01-19 04:00 (last)

2025-03-30 Sun: 1 created, 1 deleted, holding 10
  deleted 2025-01-19 04:00 (room)
  kept    2025-03-30 04:00 (last), 2025-03-23 04:00 (last), 2025-03-16 04:00 (last),
          2025-03-09 04:00 (last), 2025-03-02 04:00 (last), 2025-02-23 04:00 (last),
          2025-02-16 04:00 (last), 2025-02-09 04:00 (last), 2025-02-02 04:00 (last),
          2025-01-26 04:00 (last)

13 slots: 13 created, 3 deleted.
held at most 10 manual backups at once: VPS.org's cap, so 3 creates first made room.
at the end, 10 manual backups kept:
  oldest 2025-01-26 04:00, 64d 21h old
  newest 2025-03-30 04:00, 1d 22h old
"#;

#[test]
fn a_policy_at_the_cap_says_so_and_the_default_is_90_days() {
    simulate(
        WEEKLY,
        &["--policy", "weekly", "--from", "2025-01-01T00:00:00Z"],
    )
    .stdout(WEEKLY_TEXT)
    .run();
    assert!(WEEKLY_TEXT.lines().all(|l| l.chars().count() <= 100));
}

const UNKNOWN_POLICY: &str =
    "error: --policy nightly: no such policy in {DIR}/config.toml; policies: gfs
";
const NOT_RFC_3339: &str = r#"error: --from "yesterday" is not RFC 3339 (e.g. 2025-03-30T00:00:00+01:00): premature end of input
"#;

#[test]
fn an_unknown_policy_is_a_usage_error() {
    simulate(GFS, &["--policy", "nightly"])
        .status(2)
        .stderr(UNKNOWN_POLICY)
        .run();
    simulate(GFS, &["--policy", "gfs", "--from", "yesterday"])
        .status(2)
        .stderr(NOT_RFC_3339)
        .run();
}

const SIZE_ZERO: &str = r#"error: invalid value '0' for '--size-mb <MB>': "0" is not a size in MB: use a positive number, e.g. 5120

For more information, try '--help'.
"#;

/// `--size-mb` adds the storage estimate and changes nothing else: the
/// most held at once (4) and what is kept at the end (3), per server and
/// on both servers.
#[test]
fn size_mb_estimates_peak_and_steady_storage() {
    let storage = "storage at 5120 MB a snapshot: peak 20.0 GiB (4 held at once), steady 15.0 GiB (3 kept at the end) per server
  on its 2 servers: peak 40.0 GiB, steady 30.0 GiB
";
    simulate(GFS, GFS_3_DAYS)
        .args(&["--size-mb", "5120"])
        .stdout(&format!("{GFS_TEXT}{storage}"))
        .run();
    let mut sized: serde_json::Value = serde_json::from_str(GFS_JSON).unwrap();
    sized["storage"] = serde_json::json!({
        "size_mb": 5120.0,
        "peak_items": 4,
        "peak_bytes": 21_474_836_480u64,
        "steady_items": 3,
        "steady_bytes": 16_106_127_360u64,
        "servers": 2,
        "all_servers_peak_bytes": 42_949_672_960u64,
        "all_servers_steady_bytes": 32_212_254_720u64,
    });
    simulate(GFS, GFS_3_DAYS)
        .args(&["--size-mb", "5120", "--json"])
        .stdout_json(sized)
        .run();
    simulate(GFS, GFS_3_DAYS)
        .args(&["--size-mb", "0"])
        .status(2)
        .stderr(SIZE_ZERO)
        .run();
}

/// The calendar page's size: the page is the same for the same simulation.
const CALENDAR_KB: usize = 21;
const TWO_POLICIES: &str = "error: --policy given 2 times: several policies are compared side by side with --html FILE; the text and --json show one
";
const HTML_AND_JSON: &str = "error: the argument '--html <FILE>' cannot be used with '--json'

Usage: snapkeep simulate --policy <NAME> --days <DAYS> --from <RFC3339> --html <FILE>

For more information, try '--help'.
";

#[test]
fn html_writes_one_page_with_a_calendar_per_policy() {
    let two = format!(
        "{GFS}{}",
        GFS.replace("\"gfs\"", "\"other\"")
            .replace("snapshot", "backup")
    );
    let week = [
        "--policy",
        "gfs",
        "--policy",
        "other",
        "--days",
        "7",
        "--from",
        "2025-01-06T00:00:00Z",
    ];
    let file = temp_dir().join("calendar.html");
    let html = file.display().to_string();
    simulate(&two, &week)
        .args(&["--html", &html])
        .literal(&html, "{HTML}")
        .stdout(&format!(
            "wrote {{HTML}}: 7 days of gfs and other ({CALENDAR_KB} KB)\n"
        ))
        .run();
    let page = std::fs::read_to_string(&file).unwrap();
    assert_eq!(page.len().div_ceil(1024), CALENDAR_KB, "the size it said");
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert_eq!(page.matches("<svg class=\"calendar\"").count(), 2);
    assert_eq!(page.matches("data-days=\"7\"").count(), 2);
    // Self-contained: no script, nothing fetched.
    for outside in ["<script", "://", " src=", " href=", "@import", "url("] {
        assert!(!page.contains(outside), "{outside} in {page}");
    }

    // Several policies are for the picture; the text shows one.
    simulate(&two, &week).status(2).stderr(TWO_POLICIES).run();
    simulate(&two, &week)
        .args(&["--html", &html, "--json"])
        .status(2)
        .stderr(HTML_AND_JSON)
        .run();
}
