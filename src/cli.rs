//! Command-line definitions. Every flag has `--help` text and an env var;
//! nothing here touches the network or the clock.

use std::path::PathBuf;
use std::sync::LazyLock;

use clap::{Args, Parser, Subcommand};

use crate::config::DEFAULT_CONFIG_PATH;
/// `--log-format`'s values; defined beside the logging it selects (a lower
/// layer, see ARCHITECTURE.md's layers), named here as part of the CLI.
pub use crate::telemetry::LogFormat;

/// `--version` also names the time zone database built in: a DST rule a
/// country changed after that release is unknown to this binary.
static LONG_VERSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{}\ntime zones: IANA {} (built in)",
        env!("CARGO_PKG_VERSION"),
        crate::zone::database_release()
    )
});

/// Keeps rolling sets of VPS.org server snapshots and manual backups.
///
/// Without a command, snapkeep runs as a daemon: it fires every policy of the
/// config on its cron schedule (in the policy's time zone), creates a
/// snapshot or backup, waits until VPS.org reports it completed, then prunes
/// what the policy's keep_* rules no longer keep. It only ever deletes items
/// it created itself (recognised by name), and never exceeds the provider's
/// caps (5 snapshots, 10 manual backups per server).
///
/// With --run-now it makes one pass over every (server, policy) and exits:
/// 0 when every job succeeded, 1 when any failed, 2 for a config or usage
/// error, 130 or 143 when SIGINT or SIGTERM stopped it (jobs under way get
/// daemon.shutdown_timeout, post hooks owed still run). The API token comes from VPS_API_TOKEN, api.token_file,
/// $CREDENTIALS_DIRECTORY/vps-api-token or api.token (in that order).
///
/// New here? `snapkeep demo` shows a rotation against a built-in simulator.
#[derive(Debug, Parser)]
#[command(name = "snapkeep", version, long_version = LONG_VERSION.as_str(), max_term_width = 100)]
pub struct Cli {
    /// Config file (TOML); see config.example.toml for every key.
    #[arg(short, long, global = true, env = "SNAPKEEP_CONFIG", default_value = DEFAULT_CONFIG_PATH, value_name = "PATH")]
    pub config: PathBuf,

    /// Log format: `text` for people and journald, `json` (one object per line) for log collectors.
    #[arg(long, global = true, env = "SNAPKEEP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter: error, warn, info, debug, trace, or a tracing directive such as `snapkeep=debug`.
    #[arg(
        long,
        global = true,
        env = "SNAPKEEP_LOG",
        default_value = "info",
        value_name = "FILTER"
    )]
    pub log_level: String,

    /// Make one pass over every (server, policy) now, then exit (for cron, systemd timers, Kubernetes CronJobs).
    #[arg(long, env = "SNAPKEEP_RUN_NOW")]
    pub run_now: bool,

    /// With --run-now: list and plan, print every create and delete it would make with the deciding rule, change nothing.
    #[arg(long, requires = "run_now", env = "SNAPKEEP_DRY_RUN")]
    pub dry_run: bool,

    /// With --run-now: take a fresh slot at the current time instead of the latest scheduled one ("snapshot now, before an upgrade").
    #[arg(long, requires = "run_now", env = "SNAPKEEP_FORCE")]
    pub force: bool,

    /// With --run-now: only these policies (repeatable). A paused one named here is listed as PAUSED and does
    /// nothing; filters that select no job exit 2.
    #[arg(
        long = "policy",
        value_name = "NAME",
        requires = "run_now",
        env = "SNAPKEEP_POLICY",
        value_delimiter = ','
    )]
    pub policies: Vec<String>,

    /// With --run-now: only these server ids (repeatable).
    #[arg(
        long = "server",
        value_name = "ID",
        requires = "run_now",
        env = "SNAPKEEP_SERVER",
        value_delimiter = ','
    )]
    pub servers: Vec<u64>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the config and print what it does: servers, policies, schedules in words with their
    /// next fire time, and what each server may hold at most. Exit 0 valid, 2 invalid. No token or network needed.
    Check,
    /// Print each policy's next fire times, in its time zone and in UTC.
    Schedule(ScheduleArgs),
    /// Show what each server holds per policy: ours / in progress / failed / not ours, the newest
    /// completed item's age, what the next pass would delete and why, the next fire time, paused
    /// policies, protected items, orphans, and STALE when the newest completed item is older than
    /// crit_after (default twice the schedule's interval). --check: a monitoring plugin.
    Status(StatusArgs),
    /// List orphans — items in snapkeep's naming whose policy is no longer configured, or whose server
    /// that policy no longer lists, so no pass prunes them — and with --yes delete those that can go.
    /// Left and reported: in-progress and protected items, live groups (newest item younger than
    /// orphan_grace: maybe another config's; --include-live) and each group's newest completed
    /// item (--all). Exit 0 done, 1 a listing or delete failed.
    PruneOrphans(PruneOrphansArgs),
    /// Play a policy's schedule and keep rules forward (default 90 days) on one server, every create
    /// succeeding, with the same code as a real pass; print day by day what is created, kept and deleted
    /// (with the rule), the most items held at once against the cap, and the oldest and newest kept
    /// at the end. No token or network needed.
    Simulate(SimulateArgs),
    /// Run a rotation against the built-in simulator: no setup, no token, under a minute.
    Demo(DemoArgs),
    /// Run the built-in VPS.org API simulator standalone, to try a config without touching real servers.
    Sim(snapkeep_sim::SimOptions),
    /// Restore a server from a snapshot (--snapshot ID) or a backup (--backup ID --server ID).
    /// This overwrites all current data on the server and cannot be undone; VPS.org stops the
    /// server first. Needs --yes.
    Restore(RestoreArgs),
    /// Print a shell completion script, e.g. `snapkeep completions bash > /etc/bash_completion.d/snapkeep`.
    Completions(CompletionsArgs),
    /// Print the man page (roff), generated from these same definitions: `snapkeep manpage | man -l -`.
    Manpage,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The snapshot to restore (its server is restored).
    #[arg(
        long,
        value_name = "ID",
        required_unless_present = "backup",
        conflicts_with = "backup"
    )]
    pub snapshot: Option<u64>,
    /// The backup to restore; needs --server.
    #[arg(long, value_name = "ID", requires = "server")]
    pub backup: Option<u64>,
    /// The server to restore the backup onto (the backup must belong to it).
    #[arg(long, value_name = "ID")]
    pub server: Option<u64>,
    /// Confirm: all current data on the server is overwritten.
    #[arg(long)]
    pub yes: bool,
    /// The account the item is in (a name from the config's [[account]]
    /// tables); needed when the config has several.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// How many fire times per policy.
    #[arg(long, default_value_t = 5, env = "SNAPKEEP_SCHEDULE_COUNT")]
    pub count: usize,
    /// Start from this instant (RFC 3339, e.g. 2025-03-30T00:00:00+01:00) instead of now.
    #[arg(long, value_name = "RFC3339", env = "SNAPKEEP_SCHEDULE_FROM")]
    pub from: Option<String>,
    /// Print JSON: [{"policy", "timezone", "next": [RFC 3339 with offset, ...]}].
    #[arg(long, env = "SNAPKEEP_SCHEDULE_JSON")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON ({"pairs": one object per server and policy, "orphans": [...]}) instead of a table.
    #[arg(long, env = "SNAPKEEP_STATUS_JSON")]
    pub json: bool,
    /// Behave as a monitoring plugin (Nagios/Icinga/Sensu): first line `SNAPKEEP OK|WARNING|CRITICAL|UNKNOWN - ...`
    /// with perfdata, exit 0/1/2/3. Judged per policy by warn_after/crit_after; a config, token or API error is UNKNOWN.
    #[arg(long, conflicts_with = "json", env = "SNAPKEEP_STATUS_CHECK")]
    pub check: bool,
}

#[derive(Debug, Default, Args)]
pub struct PruneOrphansArgs {
    /// Delete the listed orphans that can go (without it, nothing is deleted): completed or failed,
    /// not protected, past orphan_grace, not their group's newest completed item.
    #[arg(long)]
    pub yes: bool,
    /// Also delete orphans of live groups — a (prefix, policy, server) whose newest item is younger
    /// than [defaults] orphan_grace (7d), which may be another config's or a renamed policy's.
    #[arg(long)]
    pub include_live: bool,
    /// Also delete each group's newest completed item (by default it stays as its last restore point).
    #[arg(long)]
    pub all: bool,
    /// Only orphans on these server ids (repeatable, or a comma list).
    #[arg(long = "server", value_name = "ID", value_delimiter = ',')]
    pub servers: Vec<u64>,
    /// Only orphans whose name carries this policy name (repeatable, or a comma list).
    #[arg(long = "policy", value_name = "NAME", value_delimiter = ',')]
    pub policies: Vec<String>,
    /// Print JSON: {"orphans": [{server_id, kind, id, name, status, policy, slot, reason, protected,
    /// live, group_age_seconds, newest_completed, verdict}]}.
    #[arg(long, env = "SNAPKEEP_PRUNE_ORPHANS_JSON")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The policy to simulate. Give it more than once (with --html) to compare policies side by
    /// side.
    #[arg(
        long = "policy",
        value_name = "NAME",
        required = true,
        env = "SNAPKEEP_SIMULATE_POLICY"
    )]
    pub policies: Vec<String>,
    /// How many days to play forward (1 to 3660).
    #[arg(long, default_value_t = 90, env = "SNAPKEEP_SIMULATE_DAYS")]
    pub days: u32,
    /// Start at this instant (RFC 3339, e.g. 2025-03-30T00:00:00+01:00) instead of now.
    #[arg(long, value_name = "RFC3339", env = "SNAPKEEP_SIMULATE_FROM")]
    pub from: Option<String>,
    /// Print the same as one JSON document.
    #[arg(long, env = "SNAPKEEP_SIMULATE_JSON")]
    pub json: bool,
    /// Write the simulation as a self-contained HTML page to FILE instead: a calendar, one column
    /// per day, one mark per item held, coloured by the rule that keeps it, the provider's cap as
    /// a line (no script, no network; opens in any browser).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "json",
        env = "SNAPKEEP_SIMULATE_HTML"
    )]
    pub html: Option<std::path::PathBuf>,
    /// Estimate storage with every item this size (VPS.org's size_mb): the peak and steady size per server.
    #[arg(long, value_name = "MB", env = "SNAPKEEP_SIMULATE_SIZE_MB", value_parser = size_mb)]
    pub size_mb: Option<f64>,
}

/// `--size-mb`: a positive number of megabytes, at most a petabyte's worth.
fn size_mb(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(mb) if mb.is_finite() && mb > 0.0 && mb <= 1e9 => Ok(mb),
        _ => Err(format!(
            "{text:?} is not a size in MB: use a positive number, e.g. 5120"
        )),
    }
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many daily slots to play through.
    #[arg(long, default_value_t = 3, env = "SNAPKEEP_DEMO_SLOTS")]
    pub slots: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn dry_run_needs_run_now() {
        assert!(Cli::try_parse_from(["snapkeep", "--dry-run"]).is_err());
        let cli = Cli::try_parse_from([
            "snapkeep",
            "--run-now",
            "--dry-run",
            "--policy",
            "a",
            "--server",
            "1,2",
        ])
        .unwrap();
        assert!(cli.dry_run);
        assert_eq!(cli.servers, vec![1, 2]);
    }
}
