//! `snapkeep check`: a config described in words (schedules, keeps, caps,
//! hooks, pauses, alerts) or refused naming the line; no token, no API.

use crate::support::{Test, berlin_nightly_alerts};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");

#[test]
fn check_validates_the_example_config_without_a_token() {
    Test::new()
        .no_token()
        .args(&["check", "--config", EXAMPLE])
        .stdout(&format!(
            "{{ROOT}}/config.example.toml: valid — 2 policies, 2 servers
API: https://admin.vps.org/api/v1

Policies:
  nightly — snapshot at 03:00 every day (Europe/Berlin)
      schedule \"0 3 * * *\" in Europe/Berlin; next: {{NEXT}}
      keeps: 3 last, 2 weekly (at most 5 per server; the newest completed is always kept)
      servers: 12345, 12346
      alerts (status --check): {} without a new completed item
  weekly-backup — backup at 04:30 on Sunday (UTC)
      schedule \"30 4 * * 0\" in UTC; next: {{NEXT}}
      keeps: 4 weekly, 6 monthly (at most 10 per server; the newest completed is always kept)
      servers: 12345
      alerts (status --check): warning after 10d 12h, critical after 14d without a new completed item

At most, per server (VPS.org caps: 5 snapshots, 10 manual backups):
  server 12345: 5/5 snapshots (nightly 5); 10/10 manual backups (weekly-backup 10)
  server 12346: 5/5 snapshots (nightly 5)
",
            berlin_nightly_alerts()
        ))
        .stderr("")
        .run();
}

#[test]
fn check_describes_pause_protect_hooks_and_shared_caps() {
    Test::new()
        .no_token()
        .config_file(
            "two.toml",
            r#"
[api]
base_url = "http://127.0.0.1:9/api/v1"

[[policy]]
name = "hourly"
kind = "snapshot"
servers = [7, 8]
schedule = "0 * * * *"
keep_last = 2
keep_daily = 1
protect = [801, 7]
pre_hook = ["fsfreeze", "--freeze", "/"]
post_hook = ["fsfreeze", "--unfreeze", "/"]
hook_timeout = "90s"
warn_after = "3h"
crit_after = "1d"

[[policy]]
name = "weekly"
kind = "backup"
servers = [7]
schedule = "30 4 * * 0"
keep_weekly = 4
enabled = false
"#,
        )
        .args(&["check"])
        .stdout(
            r#"{DIR}/two.toml: valid — 2 policies, 2 servers
API: http://127.0.0.1:9/api/v1

Policies:
  hourly — snapshot every hour (UTC)
      schedule "0 * * * *" in UTC; next: {NEXT}
      keeps: 2 last, 1 daily (at most 3 per server; the newest completed is always kept)
      servers: 7, 8
      protects: #7, #801 (never deleted)
      hooks: pre ["fsfreeze", "--freeze", "/"], post ["fsfreeze", "--unfreeze", "/"] (timeout 1m 30s; on pre failure: abort; post after the create is accepted)
      alerts (status --check): warning after 3h, critical after 1d without a new completed item
  weekly — backup at 04:30 on Sunday (UTC)
      schedule "30 4 * * 0" in UTC; next: {NEXT}
      keeps: 4 weekly (at most 4 per server; the newest completed is always kept)
      servers: 7
      PAUSED (enabled = false): not fired, nothing pruned; its items still count toward the cap
      alerts (status --check): warning after 10d 12h, critical after 14d without a new completed item

At most, per server (VPS.org caps: 5 snapshots, 10 manual backups):
  server 7: 3/5 snapshots (hourly 3); 4/10 manual backups (weekly 4)
  server 8: 3/5 snapshots (hourly 3)
"#,
        )
        .stderr("")
        .run();
}

#[test]
fn check_rejects_a_bad_cron_field_with_exit_2() {
    Test::new()
        .config_file(
            "bad.toml",
            "[[policy]]\nname = \"a\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * 8\"\nkeep_last = 1\n",
        )
        .args(&["check"])
        .status(2)
        .stderr("error: {DIR}/bad.toml:5:12: policy.schedule: \"0 3 * * 8\": field 5 (day-of-week) \"8\": must be 0-7 or SUN-SAT (0 and 7 are Sunday)\n")
        .run();
}

#[test]
fn missing_config_file_says_what_to_do() {
    Test::new()
        .args(&["check", "--config", "/nonexistent/snapkeep.toml"])
        .status(2)
        .stderr("error: cannot read config file /nonexistent/snapkeep.toml: No such file or directory (os error 2) (pass another with --config or SNAPKEEP_CONFIG; `snapkeep --help` shows the default)\n")
        .run();
}

/// A schedule with no fire time in the next five years (31 February) is a
/// config problem: `check` exits 2 naming the policy and the line, and the
/// daemon would refuse the file the same way.
#[test]
fn check_refuses_a_schedule_that_never_fires() {
    Test::new()
        .config_file(
            "never.toml",
            "[[policy]]\nname = \"leap\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 29 2 *\"\nkeep_last = 2\n\n[[policy]]\nname = \"never\"\nkind = \"snapshot\"\nservers = [2]\nschedule = \"0 3 31 2 *\"\nkeep_last = 2\n",
        )
        .args(&["check"])
        .status(2)
        .stderr("error: {DIR}/never.toml:12:12: policy.never.schedule: \"0 3 31 2 *\" has no fire time in the next 5 years, so the policy would never run: a date that does not exist (31 February, 31 April)? Fix day-of-month or month\n")
        .run();
}
