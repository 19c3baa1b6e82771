//! `snapkeep --run-now`: one pass over every (server, policy), then exit.
//! A paused policy named with `--policy` is in the pass but does nothing
//! (the runner's rule), and the exit code says so.
//!
//! SIGINT and SIGTERM stop the pass without leaving a server frozen (Ctrl-C,
//! `systemctl stop`, a Kubernetes Job's pod being deleted). The handlers are
//! installed first thing, so as PID 1 in a container — where a signal with
//! no handler does nothing — they work too. The first signal starts no new
//! job and gives the jobs under way `daemon.shutdown_timeout` to end; then,
//! or at once on a second signal, they are cut off (`pass::Stop`). Cut off
//! or not, every post hook owed runs (`SNAPKEEP_RESULT=aborted`), the summary
//! lists each job that did not run or was cut off as `interrupted`, and the
//! exit code is the shell's for that signal: 130 after SIGINT, 143 after
//! SIGTERM. Later signals change nothing more; SIGKILL stops everything at
//! once, thaw included.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing::warn;

use crate::cli::Cli;
use crate::clock::{Clock, SystemClock};
use crate::config::{Clients, Config};
use crate::error::AppError;
use crate::notify::Notifier;
use crate::pass::{self, StopSender, select_jobs, stop_channel};

pub(crate) async fn run(config: Arc<Config>, clients: Clients, cli: &Cli) -> Result<u8, AppError> {
    let signals = Signals::install()?;
    let (stopper, stop) = stop_channel();
    let first = Arc::new(OnceLock::new());
    let watcher = tokio::spawn(signals.stop_pass(
        stopper,
        config.daemon.shutdown_timeout,
        Arc::clone(&first),
    ));

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let jobs = select_jobs(&config, &cli.policies, &cli.servers, cli.force, clock.now())?;
    let notifier = Notifier::new(&config.notify);
    let started = notifier
        .clone()
        .map(|n| tokio::spawn(async move { n.pass_started().await }));
    let report = pass::run_pass(
        Arc::clone(&config),
        clients,
        clock,
        jobs,
        pass::PassOptions {
            dry_run: cli.dry_run,
            stop: Some(stop.clone()),
            ..pass::PassOptions::default()
        },
    )
    .await;
    print!("{}", pass::summary_of(&config, &report, cli.dry_run));
    if let Some(n) = notifier {
        // Bounded: a notification never holds up the exit for long, and a
        // signal (also one that came during the pass) ends the wait.
        let deliver = async {
            if let Some(start) = started {
                let _ = start.await;
            }
            // One pass: every failure is final here (a scheduler retries it).
            n.pass_finished(&report, &Default::default(), &config, chrono::Utc::now())
                .await;
        };
        tokio::select! {
            delivered = tokio::time::timeout(n.deadline(), deliver) => {
                if delivered.is_err() {
                    warn!("notifications did not finish within 3 × notify.timeout and their retries; exiting anyway");
                }
            }
            () = stop.stopping() => warn!("stopped by a signal: not waiting for notifications"),
        }
    }
    watcher.abort();
    Ok(match first.get() {
        Some(signal) => signal.exit_code(),
        None => exit_code(&report),
    })
}

/// The signals that stop a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interrupt {
    Int,
    Term,
}

impl Interrupt {
    fn name(self) -> &'static str {
        match self {
            Interrupt::Int => "SIGINT",
            Interrupt::Term => "SIGTERM",
        }
    }

    /// 128 + the signal's number, as a shell reports a process it killed.
    fn exit_code(self) -> u8 {
        match self {
            Interrupt::Int => 130,
            Interrupt::Term => 143,
        }
    }
}

/// SIGINT and SIGTERM, watched from the moment they are installed (a
/// signal that comes before anyone waits is kept, not lost).
struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    fn install() -> Result<Signals, AppError> {
        let watch = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| AppError::io(format!("cannot watch {name}"), e))
        };
        Ok(Signals {
            int: watch(SignalKind::interrupt(), "SIGINT")?,
            term: watch(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    async fn next(&mut self) -> Interrupt {
        tokio::select! {
            _ = self.int.recv() => Interrupt::Int,
            _ = self.term.recv() => Interrupt::Term,
        }
    }

    /// The first signal (kept in `first`) stops new jobs; `grace` later, or
    /// at the second signal, the jobs under way are cut off.
    async fn stop_pass(
        mut self,
        stop: StopSender,
        grace: Duration,
        first: Arc<OnceLock<Interrupt>>,
    ) {
        let signal = self.next().await;
        let _ = first.set(signal);
        warn!(
            "{}: starting no new job; jobs under way have daemon.shutdown_timeout ({}) to end, then they are cut off (post hooks owed still run); send it again to cut them off now",
            signal.name(),
            humantime::format_duration(grace)
        );
        stop.finish();
        tokio::select! {
            () = tokio::time::sleep(grace) => warn!(
                "jobs still under way after daemon.shutdown_timeout; cutting them off"
            ),
            again = self.next() => warn!("{} again: cutting off the jobs under way now", again.name()),
        }
        stop.abort();
        loop {
            let again = self.next().await;
            warn!(
                "{}: already stopping; waiting for the post hooks owed (SIGKILL would skip them)",
                again.name()
            );
        }
    }
}

/// 0 when every job did its work; 1 when one failed, or a paused policy
/// named with `--policy` did nothing beside others that ran; 2 when every
/// selected job is paused: nothing was done, as for a usage error — a
/// script that asked for a fresh snapshot before an upgrade must not go
/// on as if it had one.
pub(crate) fn exit_code(report: &pass::PassReport) -> u8 {
    let (failed, paused) = (report.failed(), report.paused());
    if paused > 0 && paused == report.outcomes.len() {
        2
    } else if failed + paused > 0 {
        1
    } else {
        0
    }
}
