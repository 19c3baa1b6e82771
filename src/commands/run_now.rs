//! `snapkeep --run-now`: one pass over every (server, policy), then exit.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};

use crate::api::Client;
use crate::app::AppError;
use crate::cli::Cli;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::notify::Notifier;
use crate::runner::{self, JobSpec};

pub(crate) async fn run(config: Arc<Config>, client: Client, cli: &Cli) -> Result<u8, AppError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let jobs = select_jobs(&config, &cli.policies, &cli.servers, cli.force, clock.now())?;
    let notifier = Notifier::new(&config.notify);
    let started = notifier
        .clone()
        .map(|n| tokio::spawn(async move { n.pass_started().await }));
    let report = runner::run_pass(
        Arc::clone(&config),
        client.clone(),
        clock,
        jobs,
        runner::PassOptions {
            dry_run: cli.dry_run,
            ..runner::PassOptions::default()
        },
    )
    .await;
    print!("{}", runner::summary(&report, cli.dry_run));
    if let Some(n) = notifier {
        // Bounded: a notification never holds up the exit for long.
        let deliver = async {
            if let Some(start) = started {
                let _ = start.await;
            }
            n.pass_finished(&report).await;
        };
        if tokio::time::timeout(n.timeout() * 2, deliver)
            .await
            .is_err()
        {
            tracing::warn!("notifications did not finish within notify.timeout; exiting anyway");
        }
    }
    Ok(if report.failed() > 0 { 1 } else { 0 })
}

/// The jobs of one pass: every (server, policy) the filters allow, each for
/// its latest scheduled slot (or a fresh slot at `now` with `force`).
pub(crate) fn select_jobs(
    config: &Config,
    policies: &[String],
    servers: &[u64],
    force: bool,
    now: DateTime<Utc>,
) -> Result<Vec<JobSpec>, AppError> {
    for name in policies {
        if !config.policies.iter().any(|p| &p.name == name) {
            let known: Vec<&str> = config.policies.iter().map(|p| p.name.as_str()).collect();
            return Err(AppError::Usage(format!(
                "--policy {name}: no such policy in {}; policies: {}",
                config.origin,
                known.join(", ")
            )));
        }
    }
    let all = config.servers();
    for s in servers {
        if !all.contains(s) {
            return Err(AppError::Usage(format!(
                "--server {s}: no policy in {} names this server",
                config.origin
            )));
        }
    }
    let mut jobs = Vec::new();
    for (index, policy) in config.policies.iter().enumerate() {
        // A paused policy runs only when named with --policy.
        if !policy.selected_for_run_now(policies) {
            continue;
        }
        let slot = if force {
            Some(now.trunc_subsecs(0))
        } else {
            policy.schedule.latest_at_or_before(now)
        };
        let Some(slot) = slot else {
            tracing::warn!(policy = %policy.name, "schedule has not fired yet; nothing to do for this policy");
            continue;
        };
        for server_id in &policy.servers {
            if servers.is_empty() || servers.contains(server_id) {
                jobs.push(JobSpec::new(*server_id, index, slot));
            }
        }
    }
    Ok(jobs)
}
