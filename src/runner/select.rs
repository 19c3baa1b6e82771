//! Which jobs a pass runs: every (server, policy) the command line's filters
//! allow, each for its latest scheduled slot. `--run-now` and `demo` start
//! passes from it; the daemon's timetable decides its own fires.

use chrono::{DateTime, SubsecRound, Utc};

use super::JobSpec;
use crate::config::Config;

/// A `--policy` or `--server` filter that names nothing in the config.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SelectError {
    #[error("--policy {name}: no such policy in {origin}; policies: {known}")]
    NoSuchPolicy {
        name: String,
        origin: String,
        known: String,
    },
    #[error("--server {server}: no policy in {origin} names this server")]
    NoSuchServer { server: u64, origin: String },
}

/// The jobs of one pass: every (server, policy) the filters allow, each for
/// its latest scheduled slot (or a fresh slot at `now` with `force`). A
/// paused policy is selected only when named in `policies`.
pub(crate) fn select_jobs(
    config: &Config,
    policies: &[String],
    servers: &[u64],
    force: bool,
    now: DateTime<Utc>,
) -> Result<Vec<JobSpec>, SelectError> {
    for name in policies {
        if !config.policies.iter().any(|p| &p.name == name) {
            let known: Vec<&str> = config.policies.iter().map(|p| p.name.as_str()).collect();
            return Err(SelectError::NoSuchPolicy {
                name: name.clone(),
                origin: config.origin.clone(),
                known: known.join(", "),
            });
        }
    }
    let all = config.servers();
    for s in servers {
        if !all.contains(s) {
            return Err(SelectError::NoSuchServer {
                server: *s,
                origin: config.origin.clone(),
            });
        }
    }
    let mut jobs = Vec::new();
    for (index, policy) in config.policies.iter().enumerate() {
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
