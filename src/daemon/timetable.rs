//! When each (server, policy) fires next: the daemon's pure schedule
//! keeper. Every method takes `now`, so catch-up after downtime, DST, clock
//! jumps, jitter and reload are tested without waiting (tests beside this
//! file); the loop in `daemon.rs` only sleeps until [`Timetable::next_due`].

use chrono::{DateTime, Utc};
use tracing::info;

use crate::config::{Config, Missed};
use crate::pass::JobSpec;
use crate::schedule::jitter_for;

/// A slot this late is "missed" (daemon down, machine asleep, clock step).
const GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(90);

#[derive(Debug, Clone)]
struct Entry {
    server_id: u64,
    policy: usize,
    /// The next slot this entry fires for.
    slot: Option<DateTime<Utc>>,
    /// `slot` plus this entry's fixed jitter.
    due_at: Option<DateTime<Utc>>,
    jitter: chrono::TimeDelta,
}

/// When each (server, policy) fires next. Pure: every method takes `now`.
#[derive(Debug, Clone)]
pub(crate) struct Timetable {
    entries: Vec<Entry>,
}

impl Timetable {
    /// Builds the table at `now`; also returns the catch-up runs a start
    /// owes: one per (server, policy) with `missed = "run-once"`, for the
    /// latest slot (never one per missed slot). The job itself skips the
    /// create when that slot is already taken.
    pub(crate) fn start(config: &Config, now: DateTime<Utc>) -> (Timetable, Vec<JobSpec>) {
        let mut entries = Vec::new();
        let mut fires = Vec::new();
        for (index, p) in config.policies.iter().enumerate() {
            // A paused policy (`enabled = false`) never fires.
            if !p.enabled {
                continue;
            }
            for &server_id in &p.servers {
                let jitter = chrono::TimeDelta::from_std(jitter_for(server_id, &p.name, p.jitter))
                    .unwrap_or_default();
                let slot = p.schedule.next_after(now);
                entries.push(Entry {
                    server_id,
                    policy: index,
                    slot,
                    due_at: slot.map(|s| s + jitter),
                    jitter,
                });
                if let Some(latest) = p.schedule.latest_at_or_before(now) {
                    // With "skip", a slot a stopped pass left half done is
                    // still finished (its item waited for, its pruning
                    // done); nothing new is created for it.
                    let mut job = JobSpec::new(server_id, index, latest);
                    job.resume_only = p.missed == Missed::Skip;
                    job.catch_up = true;
                    fires.push(job);
                }
            }
        }
        (Timetable { entries }, fires)
    }

    /// Takes every job due at `now` and moves those entries to their next
    /// slot. A due slot later than `GRACE` counts as missed: it runs once for
    /// the latest slot (`run-once`) or not at all (`skip`).
    pub(crate) fn take_due(&mut self, config: &Config, now: DateTime<Utc>) -> Vec<JobSpec> {
        let mut fires = Vec::new();
        for e in &mut self.entries {
            let Some(due_at) = e.due_at else { continue };
            if due_at > now {
                continue;
            }
            let policy = &config.policies[e.policy];
            let late = now - due_at > GRACE;
            let latest = policy.schedule.latest_at_or_before(now).or(e.slot);
            match (late, policy.missed, latest) {
                (_, _, None) => {}
                (false, _, Some(slot)) => fires.push(JobSpec {
                    catch_up: slot != e.slot.unwrap_or(slot),
                    ..JobSpec::new(e.server_id, e.policy, slot)
                }),
                (true, Missed::RunOnce, Some(slot)) => fires.push(JobSpec {
                    catch_up: true,
                    ..JobSpec::new(e.server_id, e.policy, slot)
                }),
                (true, Missed::Skip, Some(slot)) => info!(
                    server_id = e.server_id,
                    policy = %policy.name,
                    slot = %slot.to_rfc3339(),
                    "slot missed (daemon down, asleep, or the clock jumped); missed = \"skip\", so not catching up"
                ),
            }
            e.slot = policy.schedule.next_after(now);
            e.due_at = e.slot.map(|s| s + e.jitter);
        }
        fires
    }

    /// The table for `new` after a reload at `now`, keeping what the old
    /// table owed: a slot that has passed but waits out its jitter still
    /// fires (for the same (server, policy name)), instead of being lost to
    /// the new table's "next slot after now". Such a fire whose policy the
    /// reload paused or removed (or took the server from) is returned as
    /// dropped, so the daemon counts it rather than losing it silently.
    pub(crate) fn reload(
        &self,
        old: &Config,
        new: &Config,
        now: DateTime<Utc>,
    ) -> (Timetable, Vec<Dropped>) {
        let (mut table, _) = Timetable::start(new, now);
        let mut dropped = Vec::new();
        for o in &self.entries {
            let (Some(slot), Some(policy)) = (o.slot, old.policies.get(o.policy)) else {
                continue;
            };
            if slot > now {
                continue;
            }
            if let Err(reason) =
                DropReason::after_reload(new, &policy.account, o.server_id, &policy.name)
            {
                dropped.push(Dropped {
                    server_id: o.server_id,
                    policy: policy.name.clone(),
                    slot,
                    reason,
                });
            }
        }
        for entry in &mut table.entries {
            let name = &new.policies[entry.policy].name;
            let pending = self.entries.iter().find(|o| {
                o.server_id == entry.server_id
                    && old.policies.get(o.policy).is_some_and(|p| &p.name == name)
                    && o.slot.is_some_and(|s| s <= now)
            });
            if let Some(o) = pending {
                entry.slot = o.slot;
                entry.due_at = o.due_at;
            }
        }
        (table, dropped)
    }

    /// The earliest moment something comes due.
    pub(crate) fn next_due(&self) -> Option<DateTime<Utc>> {
        self.entries.iter().filter_map(|e| e.due_at).min()
    }
}

/// Why a reload drops a fire that was due (waiting out its jitter, or
/// queued behind a busy server): the operator's doing, not a fault, so
/// counted under its own `reason` that no alert pages on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// The policy is still there, for that server, but `enabled = false`.
    PausedByReload,
    /// No policy of that name lists that server any more.
    RemovedByReload,
}

impl DropReason {
    /// Where a fire of (`account`, `server`, policy `name`) goes under
    /// `new`: its policy's index, or why it cannot run any more (a policy
    /// moved to another account no longer lists that account's server).
    pub(crate) fn after_reload(
        new: &Config,
        account: &str,
        server: u64,
        name: &str,
    ) -> Result<usize, DropReason> {
        match new
            .policies
            .iter()
            .position(|p| p.name == name && p.account == account && p.servers.contains(&server))
        {
            Some(index) if new.policies[index].enabled => Ok(index),
            Some(_) => Err(DropReason::PausedByReload),
            None => Err(DropReason::RemovedByReload),
        }
    }

    /// The `reason` label of `snapkeep_skipped_fires_total`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DropReason::PausedByReload => "paused_by_reload",
            DropReason::RemovedByReload => "removed_by_reload",
        }
    }
}

/// A due fire a reload dropped (see [`Timetable::reload`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub(crate) server_id: u64,
    pub(crate) policy: String,
    pub(crate) slot: DateTime<Utc>,
    pub(crate) reason: DropReason,
}

#[cfg(test)]
mod tests;
