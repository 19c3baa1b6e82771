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
    /// Every name exists, but together they select no job.
    #[error("{asked} select no job: {why}")]
    NothingSelected { asked: String, why: String },
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
    if jobs.is_empty() && !(policies.is_empty() && servers.is_empty()) {
        return Err(nothing_selected(config, policies, servers));
    }
    Ok(jobs)
}

/// Why filters that each name something select no job together: what was
/// asked, and what exists.
fn nothing_selected(config: &Config, policies: &[String], servers: &[u64]) -> SelectError {
    let list = |ids: &[u64]| {
        ids.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut asked = Vec::new();
    if !policies.is_empty() {
        asked.push(format!("--policy {}", policies.join(",")));
    }
    if !servers.is_empty() {
        asked.push(format!("--server {}", list(servers)));
    }
    let mut why: Vec<String> = Vec::new();
    for policy in &config.policies {
        let named = policies.contains(&policy.name);
        let covers = servers.iter().any(|s| policy.servers.contains(s));
        if !policies.is_empty() && !named {
            continue;
        }
        if named && !covers {
            why.push(format!(
                "policy {0} does not list server {1}; {0} lists {2}",
                policy.name,
                list(servers),
                list(&policy.servers)
            ));
        } else if !named && covers && !policy.enabled {
            why.push(format!(
                "policy {} (on server {}) is paused (enabled = false)",
                policy.name,
                list(
                    &servers
                        .iter()
                        .copied()
                        .filter(|s| policy.servers.contains(s))
                        .collect::<Vec<_>>()
                )
            ));
        }
    }
    SelectError::NothingSelected {
        asked: asked.join(" "),
        why: why.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
[[policy]]
name = "web"
kind = "snapshot"
servers = [1, 3]
schedule = "0 3 * * *"
keep_last = 2
[[policy]]
name = "db"
kind = "backup"
servers = [2]
schedule = "0 4 * * *"
keep_last = 2
[[policy]]
name = "off"
kind = "backup"
servers = [4]
schedule = "0 4 * * *"
keep_last = 2
enabled = false
"#;

    fn error(policies: &[&str], servers: &[u64]) -> String {
        let config = crate::config::parse_str(CONFIG, "t.toml").unwrap();
        let now = "2025-03-01T12:00:00Z".parse().unwrap();
        let policies: Vec<String> = policies.iter().map(|p| (*p).to_owned()).collect();
        match select_jobs(&config, &policies, servers, false, now) {
            Ok(jobs) => format!("{} job(s)", jobs.len()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn filters_that_select_nothing_say_what_was_asked_and_what_exists() {
        assert_eq!(
            error(&["web"], &[2]),
            "--policy web --server 2 select no job: policy web does not list server 2; web lists 1, 3"
        );
        assert_eq!(
            error(&["web", "db"], &[4]),
            "--policy web,db --server 4 select no job: policy web does not list server 4; web lists 1, 3; policy db does not list server 4; db lists 2"
        );
        assert_eq!(
            error(&[], &[4]),
            "--server 4 select no job: policy off (on server 4) is paused (enabled = false)"
        );
        // What selects something is no error; no filter at all never is.
        assert_eq!(error(&["web", "db"], &[2]), "1 job(s)");
        assert_eq!(error(&["off"], &[]), "1 job(s)");
        assert_eq!(error(&[], &[]), "3 job(s)");
    }
}
