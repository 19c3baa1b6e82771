//! What stops a job, each with its cause: the API error, the wait's, the
//! hook's message, or the counts of a refusal (`job::rules::Refusal`).
//! `kind` is the short label summaries and metrics use.

use std::time::Duration;

use crate::api::ApiError;
use crate::inventory::WaitError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum JobError {
    /// The pass could not list the servers' items; `kind` is the API error's.
    #[error("{message}")]
    Listing { message: String, kind: &'static str },
    #[error("{action} failed: {source}")]
    Api {
        action: &'static str,
        #[source]
        source: ApiError,
    },
    #[error(
        "server {server_id}{name} is at the VPS.org cap of {cap} {plural}: {ours}, {protected} protected, {foreign} not created by snapkeep and {other} by other snapkeep policies (never deleted here). {advice}"
    )]
    Refused {
        server_id: u64,
        name: String,
        cap: usize,
        plural: &'static str,
        /// What this policy holds there besides its protected items.
        ours: String,
        protected: usize,
        foreign: usize,
        other: usize,
        advice: &'static str,
    },
    #[error(
        "server {server_id}: VPS.org refused the create because the server is at its cap ({source}), although snapkeep counted room and re-listed {rounds} time(s); an item may be hidden from the list. {deleted}"
    )]
    ProviderFull {
        server_id: u64,
        rounds: u32,
        /// What the job deleted before, said plainly.
        deleted: String,
        #[source]
        source: ApiError,
    },
    #[error(
        "server {server_id}: creating {label} may or may not have happened ({source}); it was sent {sent} time(s) and did not show in the provider's lists within {waited:?} (api.list_lag) of any of them, and api.max_retries / api.retry_deadline allow no more; pruned nothing. A retry of the slot or the next pass finds it or creates it"
    )]
    OutcomeUnknown {
        server_id: u64,
        label: String,
        waited: Duration,
        /// How many times the create was sent.
        sent: u32,
        #[source]
        source: ApiError,
    },
    #[error(
        "server {server_id}: its items changed under this job {rounds} times in a row (another writer at work?); pruned nothing, the next pass tries again"
    )]
    Contention { server_id: u64, rounds: u32 },
    #[error("new {kind} #{id} {label}: {source}; pruned nothing")]
    Wait {
        kind: &'static str,
        id: u64,
        label: String,
        #[source]
        source: WaitError,
    },
    /// A hook failed: the pre hook with `on_hook_failure = "abort"` (no
    /// create), or the post hook (after the job's work was done).
    #[error("{message}")]
    Hook { message: String },
    /// The job's task panicked: a bug, reported as a failure, never lost.
    #[error("internal error (a bug; please report it): {message}")]
    Panicked { message: String },
    /// The pass was stopped (`--run-now` got SIGINT or SIGTERM): the job
    /// never started, or it was cut off when `daemon.shutdown_timeout` ran
    /// out (or a second signal came). Set by `pass::run_pass`.
    #[error("{}", if *started {
        "cut off: the pass was stopped (SIGINT/SIGTERM) and this job did not end within daemon.shutdown_timeout; a post hook it owed ran with SNAPKEEP_RESULT=aborted; the next pass finishes its slot"
    } else {
        "not started: the pass was stopped (SIGINT/SIGTERM) before this job's turn; the next pass runs it"
    })]
    Interrupted { started: bool },
}

impl JobError {
    /// A short stable label (summaries, metrics).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            JobError::Listing { kind, .. } => kind,
            JobError::Api { source, .. } => source.kind(),
            JobError::Refused { .. } => "refused",
            JobError::ProviderFull { .. } => "provider_full",
            JobError::OutcomeUnknown { .. } => "outcome_unknown",
            JobError::Contention { .. } => "contention",
            JobError::Wait {
                source: WaitError::TimedOut(_),
                ..
            } => "wait_timeout",
            JobError::Wait {
                source: WaitError::Failed(_),
                ..
            } => "item_failed",
            JobError::Wait {
                source: WaitError::Vanished,
                ..
            } => "item_vanished",
            JobError::Hook { .. } => "hook",
            JobError::Panicked { .. } => "panic",
            JobError::Interrupted { .. } => "interrupted",
        }
    }
}

/// The job's error when VPS.org did not accept the create within the
/// freeze (reason `hook`).
pub(super) fn freeze_over(freeze: Duration) -> JobError {
    JobError::Hook {
        message: format!(
            "VPS.org did not accept the create within max_freeze ({freeze:?}) after the pre hook; the post hook thawed (SNAPKEEP_RESULT=failed) and nothing was sent after it"
        ),
    }
}
