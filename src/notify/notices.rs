//! What a pass means to people: the report and what the notifier
//! remembers → events (`failed`, `recovered`, `stale`, `refused`,
//! `succeeded`; `fire_skipped` comes from the daemon's queue).
//!
//! Pure and separate from delivery, so "is this worth telling, and once?"
//! is tested without a receiver. The memory is what makes an event say
//! something new: `recovered` only after a `failed`, `stale` once until the
//! pair is fresh again, `refused` once per slot (its retries are refused
//! too). The daemon keeps it across passes and reloads; `--run-now` starts
//! with none, so it never says `recovered`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{Config, NotifyEvent};
use crate::pass::PassReport;
use crate::provider::Kind;

/// One thing to tell, about one (server, policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notice {
    pub(crate) what: NotifyEvent,
    pub(crate) server_id: u64,
    /// As the provider names it; empty when unknown.
    pub(crate) server_name: String,
    pub(crate) policy: String,
    /// The policy's kind, when the config has the policy.
    pub(crate) kind: Option<Kind>,
    pub(crate) slot: Option<DateTime<Utc>>,
    /// How many tries the slot had (`failed`).
    pub(crate) tries: u32,
    /// `failed`, `refused`: the job's error; `fire_skipped`: why.
    pub(crate) error: Option<String>,
    /// The error's kind (`refused`, `outcome_unknown`, …).
    pub(crate) reason: Option<&'static str>,
    /// `stale`: the newest completed item's slot and the threshold passed.
    pub(crate) newest: Option<DateTime<Utc>>,
    pub(crate) crit_after: Option<Duration>,
    /// When it was judged.
    pub(crate) at: DateTime<Utc>,
    /// The server's account, said only when the config has several
    /// (`Notifier::pass_finished`).
    pub(crate) account: Option<String>,
}

impl Notice {
    fn new(
        what: NotifyEvent,
        server_id: u64,
        server_name: &str,
        policy: &str,
        at: DateTime<Utc>,
    ) -> Notice {
        Notice {
            what,
            server_id,
            server_name: server_name.to_owned(),
            policy: policy.to_owned(),
            kind: None,
            slot: None,
            tries: 0,
            error: None,
            reason: None,
            newest: None,
            crit_after: None,
            at,
            account: None,
        }
    }
}

/// (server id, policy name).
type Pair = (u64, String);

/// What earlier passes told, so each event is said once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Memory {
    /// Pairs whose latest slot was told `failed` (until a success).
    failing: BTreeSet<Pair>,
    /// Pairs told `stale` (until their newest item is fresh again).
    stale: BTreeSet<Pair>,
    /// Slots told `refused`.
    refused: BTreeSet<(u64, String, DateTime<Utc>)>,
    /// Each pair's newest completed item, as its latest good job saw it,
    /// and its server's name.
    newest: BTreeMap<Pair, (DateTime<Utc>, String)>,
}

/// The events of a finished pass at `now`. `retrying` holds the (server,
/// policy index) pairs the daemon fires again for the same slot: their
/// failures are not final, so not `failed` yet. `config` is the one the
/// pass ran with (its policy indices).
pub(crate) fn from_pass(
    report: &PassReport,
    retrying: &HashSet<(u64, usize)>,
    config: &Config,
    now: DateTime<Utc>,
    memory: &mut Memory,
) -> Vec<Notice> {
    let mut out = Vec::new();
    for o in &report.outcomes {
        if o.report.paused {
            continue;
        }
        let pair = (o.spec.server_id, o.policy_name.clone());
        let kind = config
            .policies
            .get(o.spec.policy)
            .filter(|p| p.name == o.policy_name)
            .map(|p| p.kind);
        let event = |what| Notice {
            kind,
            slot: Some(o.spec.slot),
            tries: o.spec.attempt.saturating_add(1),
            ..Notice::new(what, o.spec.server_id, &o.server_name, &o.policy_name, now)
        };
        let slot_key = (o.spec.server_id, o.policy_name.clone(), o.spec.slot);
        match &o.error {
            Some(e) => {
                let told = || Some(e.to_string());
                if e.kind() == "refused" && memory.refused.insert(slot_key.clone()) {
                    out.push(Notice {
                        error: told(),
                        reason: Some(e.kind()),
                        ..event(NotifyEvent::Refused)
                    });
                }
                if !retrying.contains(&(o.spec.server_id, o.spec.policy)) {
                    memory.refused.remove(&slot_key);
                    memory.failing.insert(pair);
                    out.push(Notice {
                        error: told(),
                        reason: Some(e.kind()),
                        ..event(NotifyEvent::Failed)
                    });
                }
            }
            // A resume that found nothing to finish made no restore point.
            None if o.report.nothing_to_resume => {}
            None => {
                memory.refused.remove(&slot_key);
                if let Some(newest) = o.report.holdings.newest_completed {
                    memory
                        .newest
                        .insert(pair.clone(), (newest, o.server_name.clone()));
                }
                out.push(event(NotifyEvent::Succeeded));
                if memory.failing.remove(&pair) {
                    out.push(event(NotifyEvent::Recovered));
                }
            }
        }
    }
    out.extend(stale(config, now, memory));
    out
}

/// Running pairs whose newest completed item (as last seen) is older than
/// `crit_after` at `now`: told once, until it is fresh again. A pair no
/// job has seen succeed since the start is not judged here (its failures
/// are told; `status --check` and `SnapkeepPolicyStale` judge it).
fn stale(config: &Config, now: DateTime<Utc>, memory: &mut Memory) -> Vec<Notice> {
    let mut out = Vec::new();
    for policy in config.policies.iter().filter(|p| p.enabled) {
        let Some(crit) = policy.alert_thresholds(now).map(|t| t.crit) else {
            continue;
        };
        for &server in &policy.servers {
            let pair = (server, policy.name.clone());
            let Some((newest, name)) = memory.newest.get(&pair).cloned() else {
                continue;
            };
            let old = chrono::TimeDelta::from_std(crit).is_ok_and(|crit| now - newest > crit);
            if !old {
                memory.stale.remove(&pair);
            } else if memory.stale.insert(pair) {
                out.push(Notice {
                    kind: Some(policy.kind),
                    newest: Some(newest),
                    crit_after: Some(crit),
                    ..Notice::new(NotifyEvent::Stale, server, &name, &policy.name, now)
                });
            }
        }
    }
    out
}

/// A scheduled fire that will not run (the daemon's queue). `account`:
/// the policy's, said when the config has several (server ids repeat
/// across accounts).
pub(crate) fn fire_skipped(
    server_id: u64,
    policy: &str,
    account: Option<String>,
    reason: &str,
    now: DateTime<Utc>,
) -> Notice {
    Notice {
        error: Some(reason.to_owned()),
        account,
        ..Notice::new(NotifyEvent::FireSkipped, server_id, "", policy, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Holdings, JobError, JobReport};
    use crate::pass::{JobOutcome, JobSpec};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    fn config() -> Config {
        crate::config::parse_str(
            "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1, 2]\nschedule = \"0 3 * * *\"\nkeep_last = 3\n",
            "t",
        )
        .expect("valid")
    }

    fn ok(server: u64, slot: &str) -> JobOutcome {
        JobOutcome {
            spec: JobSpec::new(server, 0, at(slot)),
            server_name: format!("web-0{server}"),
            policy_name: "nightly".into(),
            report: JobReport {
                holdings: Holdings {
                    completed: 1,
                    newest_completed: Some(at(slot)),
                    ..Holdings::default()
                },
                ..JobReport::default()
            },
            error: None,
            duration: Duration::ZERO,
        }
    }

    fn failed(server: u64, slot: &str, error: JobError) -> JobOutcome {
        JobOutcome {
            error: Some(error),
            report: JobReport::default(),
            ..ok(server, slot)
        }
    }

    fn refused() -> JobError {
        JobError::Refused {
            server_id: 1,
            name: " (web-01)".into(),
            cap: 5,
            plural: "snapshots",
            ours: "1 snapshot".into(),
            protected: 0,
            foreign: 4,
            other: 0,
            advice: "Delete a manual snapshot.",
        }
    }

    fn pass(outcomes: Vec<JobOutcome>) -> PassReport {
        PassReport {
            outcomes,
            ..PassReport::default()
        }
    }

    /// (event, server) of each event, in order.
    fn told(events: &[Notice]) -> Vec<(&'static str, u64)> {
        events
            .iter()
            .map(|e| (e.what.as_str(), e.server_id))
            .collect()
    }

    #[test]
    fn a_slot_is_failed_once_when_final_refused_once_and_recovered_after_it() {
        let config = config();
        let mut memory = Memory::default();
        let slot = "2025-02-01T03:00:00Z";
        let now = at("2025-02-01T03:10:00Z");
        let retrying = HashSet::from([(1, 0)]);
        // A refused first try that will be retried: refused, not failed.
        let first = from_pass(
            &pass(vec![failed(1, slot, refused()), ok(2, slot)]),
            &retrying,
            &config,
            now,
            &mut memory,
        );
        assert_eq!(told(&first), [("refused", 1), ("succeeded", 2)]);
        assert_eq!(first[0].reason, Some("refused"));
        assert_eq!(first[0].tries, 1);
        // Refused again on the retry: said once per slot.
        let again = from_pass(
            &pass(vec![failed(1, slot, refused())]),
            &retrying,
            &config,
            now,
            &mut memory,
        );
        assert_eq!(told(&again), []);
        // The window closes: failed, with the error.
        let last = from_pass(
            &pass(vec![failed(1, slot, refused())]),
            &HashSet::new(),
            &config,
            now,
            &mut memory,
        );
        assert_eq!(told(&last), [("failed", 1)]);
        assert!(
            last[0]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("cap of 5 snapshots")),
            "{:?}",
            last[0].error
        );
        // The next slot succeeds: succeeded, then recovered (once).
        let next = "2025-02-02T03:00:00Z";
        let back = from_pass(
            &pass(vec![ok(1, next)]),
            &HashSet::new(),
            &config,
            at("2025-02-02T03:05:00Z"),
            &mut memory,
        );
        assert_eq!(told(&back), [("succeeded", 1), ("recovered", 1)]);
        let later = from_pass(
            &pass(vec![ok(1, next)]),
            &HashSet::new(),
            &config,
            at("2025-02-02T03:06:00Z"),
            &mut memory,
        );
        assert_eq!(told(&later), [("succeeded", 1)]);
    }

    #[test]
    fn a_failure_retried_then_good_is_neither_failed_nor_recovered() {
        let config = config();
        let mut memory = Memory::default();
        let slot = "2025-02-01T03:00:00Z";
        let now = at("2025-02-01T03:10:00Z");
        let e = JobError::Contention {
            server_id: 1,
            rounds: 4,
        };
        let first = from_pass(
            &pass(vec![failed(1, slot, e)]),
            &HashSet::from([(1, 0)]),
            &config,
            now,
            &mut memory,
        );
        assert_eq!(told(&first), []);
        let retried = from_pass(
            &pass(vec![ok(1, slot)]),
            &HashSet::new(),
            &config,
            now,
            &mut memory,
        );
        assert_eq!(told(&retried), [("succeeded", 1)]);
    }

    #[test]
    fn stale_is_told_once_past_crit_after_and_again_only_after_fresh() {
        let config = config();
        let mut memory = Memory::default();
        from_pass(
            &pass(vec![ok(1, "2025-02-01T03:00:00Z")]),
            &HashSet::new(),
            &config,
            at("2025-02-01T03:01:00Z"),
            &mut memory,
        );
        let e = || JobError::Contention {
            server_id: 1,
            rounds: 4,
        };
        // Two days and an hour later (crit_after: 2 × a day), still failing.
        let now = at("2025-02-03T04:00:00Z");
        let late = from_pass(
            &pass(vec![failed(1, "2025-02-03T03:00:00Z", e())]),
            &HashSet::new(),
            &config,
            now,
            &mut memory,
        );
        assert_eq!(told(&late), [("failed", 1), ("stale", 1)]);
        let stale = &late[1];
        assert_eq!(
            (stale.newest, stale.crit_after),
            (
                Some(at("2025-02-01T03:00:00Z")),
                Some(Duration::from_secs(2 * 86_400))
            )
        );
        assert_eq!(stale.server_name, "web-01");
        let still = from_pass(
            &pass(vec![failed(1, "2025-02-04T03:00:00Z", e())]),
            &HashSet::new(),
            &config,
            at("2025-02-04T04:00:00Z"),
            &mut memory,
        );
        assert_eq!(told(&still), [("failed", 1)], "stale once");
        // Fresh again, then stale again much later: told again.
        from_pass(
            &pass(vec![ok(1, "2025-02-05T03:00:00Z")]),
            &HashSet::new(),
            &config,
            at("2025-02-05T03:01:00Z"),
            &mut memory,
        );
        let again = from_pass(
            &pass(vec![]),
            &HashSet::new(),
            &config,
            at("2025-02-07T04:00:00Z"),
            &mut memory,
        );
        assert_eq!(told(&again), [("stale", 1)]);
    }

    #[test]
    fn paused_and_nothing_to_resume_tell_nothing() {
        let config = config();
        let mut memory = Memory::default();
        let mut paused = ok(1, "2025-02-01T03:00:00Z");
        paused.report.paused = true;
        let mut resumed = ok(2, "2025-02-01T03:00:00Z");
        resumed.report.nothing_to_resume = true;
        let events = from_pass(
            &pass(vec![paused, resumed]),
            &HashSet::new(),
            &config,
            at("2025-02-01T03:01:00Z"),
            &mut memory,
        );
        assert_eq!(told(&events), []);
    }
}
