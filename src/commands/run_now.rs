//! `snapkeep --run-now`: one pass over every (server, policy), then exit.
//! A paused policy named with `--policy` is in the pass but does nothing
//! (the runner's rule), and the exit code says so.

use std::sync::Arc;

use crate::api::Client;
use crate::cli::Cli;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::AppError;
use crate::notify::Notifier;
use crate::runner::{self, select_jobs};

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
            // One pass: every failure is final here (a scheduler retries it).
            n.pass_finished(&report, &Default::default()).await;
        };
        if tokio::time::timeout(n.timeout() * 2, deliver)
            .await
            .is_err()
        {
            tracing::warn!("notifications did not finish within notify.timeout; exiting anyway");
        }
    }
    Ok(exit_code(&report))
}

/// 0 when every job did its work; 1 when one failed, or a paused policy
/// named with `--policy` did nothing beside others that ran; 2 when every
/// selected job is paused: nothing was done, as for a usage error — a
/// script that asked for a fresh snapshot before an upgrade must not go
/// on as if it had one.
fn exit_code(report: &runner::PassReport) -> u8 {
    let (failed, paused) = (report.failed(), report.paused());
    if paused > 0 && paused == report.outcomes.len() {
        2
    } else if failed + paused > 0 {
        1
    } else {
        0
    }
}
