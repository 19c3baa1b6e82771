//! The one integration test binary (one link step): every test runs the real
//! `snapkeep` binary against the embedded VPS.org simulator on a loopback port.

mod support;

/// The source's module layers: no import circle, no use of a higher layer.
mod architecture;
/// The release profiles in Cargo.toml (bench measures what dist ships).
mod build_profiles;
/// `--help`, `schedule`, and arguments that name nothing (exit 2).
mod cli_usage;
/// Shell completions and the man page, whole, against tests/golden/.
mod completions_and_man_page;
/// `check`: a config described in words, or refused naming the line.
mod config_check;
/// The daemon's HTTP endpoints: /metrics, /healthz, /readyz, /status.json, /.
mod daemon_endpoints;
/// The daemon: slots fired on schedule, catch-up, retries, SIGHUP, SIGTERM, SIGKILL.
mod daemon_schedule_and_signals;
/// deploy/: Prometheus rules, Grafana dashboard, Kubernetes sidecar.
mod deploy_files;
/// `--log-format json`: the audit log, a JSON object a line.
mod json_log;
/// Notifications to real receivers: webhook, ping, Slack, ntfy, email.
mod notifications;
/// Two configs on one account: prune-orphans leaves the other's live items.
mod orphans_of_another_config;
/// `--run-now`, `--dry-run`, `--force`: the rotation pass end to end.
mod run_now;
/// `--run-now` stopped by SIGINT/SIGTERM: thaw, report, exit 130/143.
mod run_now_interrupted;
/// `simulate`: a policy played forward, as text, JSON and an HTML calendar.
mod simulate;
/// `status` (table, JSON) on a fleet with orphans, pauses and protected
/// items; `status --check`; `prune-orphans`.
mod status_and_prune_orphans;
/// `status`: the model and the table against the simulator's items.
mod status_report;
/// The token never shown: not in outputs, errors, a hook's environment or /proc.
mod token_secrecy;
