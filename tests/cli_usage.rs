//! The command line itself: `--help`, `schedule --json`, and arguments
//! that name nothing (`--policy`, `--server`, `sim --seed`): exit 2 before
//! any request, saying what exists.

use snapkeep_sim::Seed;

use crate::support::Test;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");

#[test]
fn schedule_json_lists_next_fire_times_with_offsets() {
    Test::new()
        .args(&[
            "schedule",
            "--json",
            "--count",
            "3",
            "--from",
            "2025-03-29T12:00:00Z",
            "--config",
            EXAMPLE,
        ])
        // 03:00 Berlin on the DST day is still 03:00 local, now +02:00.
        .stdout_json(serde_json::json!([
            {
                "policy": "nightly",
                "timezone": "Europe/Berlin",
                "paused": false,
                "next": [
                    "2025-03-30T03:00:00+02:00",
                    "2025-03-31T03:00:00+02:00",
                    "2025-04-01T03:00:00+02:00"
                ]
            },
            {
                "policy": "weekly-backup",
                "timezone": "UTC",
                "paused": false,
                "next": [
                    "2025-03-30T04:30:00+00:00",
                    "2025-04-06T04:30:00+00:00",
                    "2025-04-13T04:30:00+00:00"
                ]
            }
        ]))
        .stderr("")
        .run();
}

const HELP: &str = r#"Keeps rolling sets of VPS.org server snapshots and manual backups.

Without a command, snapkeep runs as a daemon: it fires every policy of the config on its cron
schedule (in the policy's time zone), creates a snapshot or backup, waits until VPS.org reports it
completed, then prunes what the policy's keep_* rules no longer keep. It only ever deletes items it
created itself (recognised by name), and never exceeds the provider's caps (5 snapshots, 10 manual
backups per server).

With --run-now it makes one pass over every (server, policy) and exits: 0 when every job succeeded,
1 when any failed, 2 for a config or usage error, 130 or 143 when SIGINT or SIGTERM stopped it (jobs
under way get daemon.shutdown_timeout, post hooks owed still run). The API token comes from
VPS_API_TOKEN, api.token_file, $CREDENTIALS_DIRECTORY/vps-api-token or api.token (in that order).

New here? `snapkeep demo` shows a rotation against a built-in simulator.

Usage: snapkeep [OPTIONS] [COMMAND]

Commands:
  check          Validate the config and print what it does: servers, policies, schedules in words
                 with their next fire time, and what each server may hold at most. Exit 0 valid, 2
                 invalid. No token or network needed
  schedule       Print each policy's next fire times, in its time zone and in UTC
  status         Show what each server holds per policy: ours / in progress / failed / not ours, the
                 newest completed item's age, what the next pass would delete and why, the next fire
                 time, paused policies, protected items, orphans, and STALE when the newest
                 completed item is older than crit_after (default twice the schedule's interval).
                 --check: a monitoring plugin
  prune-orphans  List orphans — items in snapkeep's naming whose policy is no longer configured, or
                 whose server that policy no longer lists, so no pass prunes them — and with --yes
                 delete those that can go. Left and reported: in-progress and protected items, live
                 groups (newest item younger than orphan_grace: maybe another config's;
                 --include-live) and each group's newest completed item (--all). Exit 0 done, 1 a
                 listing or delete failed
  simulate       Play a policy's schedule and keep rules forward (default 90 days) on one server,
                 every create succeeding, with the same code as a real pass; print day by day what
                 is created, kept and deleted (with the rule), the most items held at once against
                 the cap, and the oldest and newest kept at the end. No token or network needed
  demo           Run a rotation against the built-in simulator: no setup, no token, under a minute
  sim            Run the built-in VPS.org API simulator standalone, to try a config without touching
                 real servers
  restore        Restore a server from a snapshot (--snapshot ID) or a backup (--backup ID --server
                 ID). This overwrites all current data on the server and cannot be undone; VPS.org
                 stops the server first. Needs --yes
  completions    Print a shell completion script, e.g. `snapkeep completions bash >
                 /etc/bash_completion.d/snapkeep`
  manpage        Print the man page (roff), generated from these same definitions: `snapkeep manpage
                 | man -l -`
  help           Print this message or the help of the given subcommand(s)

Options:
  -c, --config <PATH>
          Config file (TOML); see config.example.toml for every key
          
          [env: SNAPKEEP_CONFIG=]
          [default: /etc/snapkeep/config.toml]

      --log-format <LOG_FORMAT>
          Log format: `text` for people and journald, `json` (one object per line) for log
          collectors
          
          [env: SNAPKEEP_LOG_FORMAT=]
          [default: text]
          [possible values: text, json]

      --log-level <FILTER>
          Log filter: error, warn, info, debug, trace, or a tracing directive such as
          `snapkeep=debug`
          
          [env: SNAPKEEP_LOG=]
          [default: info]

      --run-now
          Make one pass over every (server, policy) now, then exit (for cron, systemd timers,
          Kubernetes CronJobs)
          
          [env: SNAPKEEP_RUN_NOW=]

      --dry-run
          With --run-now: list and plan, print every create and delete it would make with the
          deciding rule, change nothing
          
          [env: SNAPKEEP_DRY_RUN=]

      --force
          With --run-now: take a fresh slot at the current time instead of the latest scheduled one
          ("snapshot now, before an upgrade")
          
          [env: SNAPKEEP_FORCE=]

      --policy <NAME>
          With --run-now: only these policies (repeatable). A paused one named here is listed as
          PAUSED and does nothing; filters that select no job exit 2
          
          [env: SNAPKEEP_POLICY=]

      --server <ID>
          With --run-now: only these server ids (repeatable)
          
          [env: SNAPKEEP_SERVER=]

  -h, --help
          Print help (see a summary with '-h')

  -V, --version
          Print version
"#;

/// The whole `--help`: every flag explained (`--run-now`, `--dry-run`,
/// `--force`, `--policy`, `--server`, `--config`, `--log-format`) and
/// `SNAPKEEP_CONFIG`.
#[test]
fn version_names_the_time_zone_release_built_in() {
    // `-V` is the short form; `--version` adds the IANA release, so an
    // operator can tell whether a country's new DST rule is known.
    Test::new()
        .args(&["-V"])
        .stdout(concat!("snapkeep ", env!("CARGO_PKG_VERSION"), "\n"))
        .run();
    Test::new()
        .args(&["--version"])
        .stdout(concat!(
            "snapkeep ",
            env!("CARGO_PKG_VERSION"),
            "\ntime zones: IANA 2026f (built in)\n"
        ))
        .run();
}

#[test]
fn help_explains_every_flag() {
    Test::new().args(&["--help"]).stdout(HELP).run();
}

#[test]
fn run_now_filters_that_name_nothing_exit_2_before_any_request() {
    let one = "[[policy]]\nname = \"n\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 2\n";
    for (filter, error) in [
        (
            ["--policy", "nope"],
            "error: --policy nope: no such policy in {DIR}/config.toml; policies: n\n",
        ),
        (
            ["--server", "42"],
            "error: --server 42: no policy in {DIR}/config.toml names this server\n",
        ),
    ] {
        let ran = Test::new()
            .seed(Seed::empty().server(1, "web-01"))
            .policies(one)
            .args(&["--run-now", filter[0], filter[1]])
            .status(2)
            .stderr(error)
            .run();
        assert!(ran.sim().sim.requests().is_empty());
    }
}

#[test]
fn sim_with_an_unreadable_seed_exits_2_naming_it() {
    Test::new()
        .args(&["sim", "--seed", "/nonexistent/seed.toml"])
        .status(2)
        .stderr("error: snapkeep sim: cannot read seed file /nonexistent/seed.toml: No such file or directory (os error 2)\n")
        .run();
}

/// Filters that each name something but together select no job: exit 2,
/// before any request, saying what was asked and what exists.
#[test]
fn run_now_filters_that_select_no_job_exit_2_saying_what_exists() {
    let two = "[[policy]]\nname = \"web\"\nkind = \"snapshot\"\nservers = [1, 3]\nschedule = \"0 3 * * *\"\nkeep_last = 2\n\n[[policy]]\nname = \"db\"\nkind = \"snapshot\"\nservers = [2]\nschedule = \"0 4 * * *\"\nkeep_last = 2\n";
    let ran = Test::new()
        .seed(Seed::empty().server(1, "web-01").server(2, "db-01"))
        .policies(two)
        .args(&["--run-now", "--policy", "web", "--server", "2"])
        .status(2)
        .stderr("error: --policy web --server 2 select no job: policy web does not list server 2; web lists 1, 3\n")
        .run();
    assert!(ran.sim().sim.requests().is_empty());
}
