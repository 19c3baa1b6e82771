//! One rotation job for one (server, policy): the rules of a pass.
//!
//! The order is the safety argument (see design.md):
//! 1. ownership — only items whose name/description we would have written;
//! 2. idempotent slots — an item for this slot, in any status, means no create;
//! 3. failed first — our failed items take room and restore nothing;
//! 4. room — at the cap, delete our oldest item retention would drop next, or
//!    refuse (never leaving the policy without a completed item);
//! 5. create, then wait until `completed`; on failure prune nothing more;
//! 6. prune what retention no longer keeps, oldest first, never the newest.
//!
//! Rule 7 (one pass per server at a time) is the runner's: it hands a job
//! the server's inventory exclusively, and the job keeps it up to date.

use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::api::{ApiError, Client, Status};
use crate::config::{Kind, Policy};
use crate::events::{Action, Detail, Subject, emit};
use crate::inventory::{Item, Poller, WaitError};
use crate::naming;
use crate::retention;

/// Everything one job needs besides the server's items.
pub(crate) struct Job<'a> {
    pub(crate) client: &'a Client,
    pub(crate) poller: &'a Poller,
    pub(crate) policy: &'a Policy,
    /// Every policy of the config: tells "ours, other policy" from "not snapkeep's".
    pub(crate) all_policies: &'a [Policy],
    pub(crate) server_id: u64,
    pub(crate) slot: DateTime<Utc>,
    pub(crate) now: &'a (dyn Fn() -> DateTime<Utc> + Send + Sync),
    pub(crate) dry_run: bool,
}

/// What a job did.
#[derive(Debug, Default, Clone)]
pub(crate) struct JobReport {
    pub(crate) server_name: String,
    pub(crate) created: Option<Item>,
    pub(crate) deleted: Vec<Item>,
    /// The slot already had an item; no create.
    pub(crate) slot_taken: bool,
    /// Dry run: what would be deleted, with the deciding rules.
    pub(crate) would_delete: Vec<(Item, String)>,
    pub(crate) would_create: Option<String>,
    /// What the server holds for this policy when the job ended.
    pub(crate) holdings: Holdings,
}

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
        "server {server_id}{name} is at the VPS.org cap of {cap} {plural}: {total} exist, {foreign} not created by snapkeep and {other} by other snapkeep policies (never deleted here); {reason}. Delete some by hand, or lower keep_* on the other policies"
    )]
    Refused {
        server_id: u64,
        name: String,
        cap: usize,
        plural: &'static str,
        total: usize,
        foreign: usize,
        other: usize,
        reason: &'static str,
    },
    #[error(
        "server {server_id}: VPS.org refused the create because the server is at its cap ({source}), although snapkeep counted room; an item may be hidden from the list. Nothing was deleted for it"
    )]
    ProviderFull {
        server_id: u64,
        #[source]
        source: ApiError,
    },
    #[error("new {kind} #{id} {label}: {source}; pruned nothing")]
    Wait {
        kind: &'static str,
        id: u64,
        label: String,
        #[source]
        source: WaitError,
    },
}

impl JobError {
    /// A short stable label (summaries, metrics).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            JobError::Listing { kind, .. } => kind,
            JobError::Api { source, .. } => source.kind(),
            JobError::Refused { .. } => "refused",
            JobError::ProviderFull { .. } => "provider_full",
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
        }
    }
}

/// Id used in dry runs for the item the job would create.
const PLANNED_ID: u64 = u64::MAX;

impl Job<'_> {
    fn owned(&self, item: &Item) -> Option<DateTime<Utc>> {
        naming::owned_slot(
            self.policy.kind,
            &self.policy.prefix,
            &self.policy.name,
            &item.label,
        )
    }

    fn subject<'s>(&'s self, server_name: &'s str) -> Subject<'s> {
        Subject {
            server_id: self.server_id,
            server_name,
            policy: &self.policy.name,
        }
    }

    /// Runs the job against `items`, the server's current inventory of this
    /// kind, which it keeps in step with every create and delete.
    ///
    /// A fleet pass keeps one of these futures per server alive for the
    /// whole pass, mostly waiting, so the API calls inside are boxed and
    /// admitted (`create`, `delete`): an inline HTTP call would make every
    /// job as big as the biggest call, kilobytes per server.
    pub(crate) async fn run(&self, items: &mut Vec<Item>) -> Result<JobReport, JobError> {
        let mut report = JobReport {
            server_name: items
                .iter()
                .map(|i| i.server_name.clone())
                .find(|n| !n.is_empty())
                .unwrap_or_default(),
            ..JobReport::default()
        };
        let kind = self.policy.kind;

        // Rule 3: our failed items go first.
        let failed: Vec<Item> = items
            .iter()
            .filter(|i| i.status == Status::Failed && self.owned(i).is_some())
            .cloned()
            .collect();
        for item in failed {
            self.delete(
                items,
                &item,
                "failed: takes room and restores nothing",
                &mut report,
            )
            .await?;
        }

        // Rule 2: is the slot taken?
        let label = naming::label_for(
            kind,
            &self.policy.prefix,
            &self.policy.name,
            self.slot,
            self.policy.description.as_deref(),
        );
        // Items are referred to, not cloned, across waits: a fleet pass holds
        // thousands of jobs waiting at once.
        let existing = items.iter().position(|i| self.owned(i) == Some(self.slot));
        if let Some(at) = existing {
            let existing = &items[at];
            report.slot_taken = true;
            emit(
                Action::Skip,
                self.subject(&report.server_name),
                Detail {
                    item_id: Some(existing.id),
                    item_name: &existing.label,
                    reason: &format!(
                        "slot {} already has this item ({}); not creating another",
                        self.slot.to_rfc3339(),
                        existing.status.as_str()
                    ),
                    ..Detail::default()
                },
            );
            if existing.status == Status::InProgress && !self.dry_run {
                self.wait(existing, &report.server_name).await?;
                items[at].status = Status::Completed;
            }
        } else {
            // Rule 4: room.
            self.make_room(items, &mut report).await?;
            // Rule 5: create, then wait.
            if self.dry_run {
                emit(
                    Action::Create,
                    self.subject(&report.server_name),
                    Detail {
                        item_name: &label,
                        reason: "scheduled slot",
                        outcome: "dry-run",
                        ..Detail::default()
                    },
                );
                report.would_create = Some(label.clone());
                items.push(Item {
                    id: PLANNED_ID,
                    server_id: self.server_id,
                    server_name: report.server_name.clone(),
                    label: label.clone(),
                    status: Status::Completed,
                    created_at: self.slot,
                });
            } else {
                let created = self.create(&label, &report.server_name).await?;
                if report.server_name.is_empty() {
                    report.server_name = created.server_name.clone();
                }
                items.push(created);
                let at = items.len() - 1;
                self.wait(&items[at], &report.server_name).await?;
                items[at].status = Status::Completed;
                report.created = Some(items[at].clone());
            }
        }

        // Rule 6: prune. (The plan is dropped before the deletes: a fleet
        // has thousands of jobs queued for them at once.)
        let mut deletes: Vec<(Item, String)> = retention::plan(
            &retention_view(self.policy, items),
            &retention_policy(self.policy),
            (self.now)(),
        )
        .iter()
        .filter(|d| !d.keep && d.id != PLANNED_ID)
        .filter_map(|d| {
            let item = items.iter().find(|i| i.id == d.id)?.clone();
            Some((item, rules_text(&d.reasons)))
        })
        .collect();
        deletes.shrink_to_fit();
        deletes.sort_by_key(|(i, _)| (self.owned(i), i.id));
        for (item, why) in deletes {
            self.delete(items, &item, &format!("retention: {why}"), &mut report)
                .await?;
        }
        items.retain(|i| i.id != PLANNED_ID);
        report.holdings = holdings(self.policy, items);
        Ok(report)
    }

    /// Rule 4. Counts everything on the server toward the cap (any status,
    /// anyone's); deletes only our items that retention would drop next.
    async fn make_room(
        &self,
        items: &mut Vec<Item>,
        report: &mut JobReport,
    ) -> Result<(), JobError> {
        let cap = self.policy.kind.cap();
        while items.len() >= cap {
            let victim = retention::next_to_drop(
                &retention_view(self.policy, items),
                &retention_policy(self.policy),
                (self.now)(),
                self.slot,
            );
            let Some(victim) = victim.and_then(|id| items.iter().find(|i| i.id == id).cloned())
            else {
                let ours = items.iter().filter(|i| self.owned(i).is_some()).count();
                let other = items
                    .iter()
                    .filter(|i| self.owned(i).is_none() && self.owned_by_other_policy(i))
                    .count();
                let reason = if ours == 0 {
                    "nothing of this policy's can go"
                } else {
                    "deleting more of this policy's would leave it without a completed item"
                };
                let err = JobError::Refused {
                    server_id: self.server_id,
                    name: if report.server_name.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", report.server_name)
                    },
                    cap,
                    plural: self.policy.kind.plural(),
                    total: items.len(),
                    foreign: items.len() - ours - other,
                    other,
                    reason,
                };
                emit(
                    Action::Refuse,
                    self.subject(&report.server_name),
                    Detail {
                        reason: &err.to_string(),
                        outcome: "error",
                        ..Detail::default()
                    },
                );
                return Err(err);
            };
            self.delete(
                items,
                &victim,
                "room: at the cap, retention drops it next",
                report,
            )
            .await?;
        }
        Ok(())
    }

    fn owned_by_other_policy(&self, item: &Item) -> bool {
        self.all_policies.iter().any(|p| {
            p.kind == self.policy.kind
                && p.name != self.policy.name
                && naming::owned_slot(p.kind, &p.prefix, &p.name, &item.label).is_some()
        })
    }

    /// Waits for the client's admission (small), then runs the create boxed.
    async fn create(&self, label: &str, server_name: &str) -> Result<Item, JobError> {
        let _turn = self.client.admit().await;
        Box::pin(self.create_admitted(label, server_name)).await
    }

    async fn create_admitted(&self, label: &str, server_name: &str) -> Result<Item, JobError> {
        let started = Instant::now();
        let result = match self.policy.kind {
            Kind::Snapshot => self
                .client
                .create_snapshot(self.server_id, label, self.policy.description.as_deref())
                .await
                .map(Item::from),
            Kind::Backup => self
                .client
                .create_backup(self.server_id, label)
                .await
                .map(Item::from),
        };
        match result {
            Ok(item) => {
                emit(
                    Action::Create,
                    self.subject(if server_name.is_empty() {
                        &item.server_name
                    } else {
                        server_name
                    }),
                    Detail {
                        item_id: Some(item.id),
                        item_name: label,
                        reason: "scheduled slot",
                        duration: Some(started.elapsed()),
                        ..Detail::default()
                    },
                );
                Ok(item)
            }
            Err(source) => {
                emit(
                    Action::Fail,
                    self.subject(server_name),
                    Detail {
                        item_name: label,
                        reason: &source.to_string(),
                        outcome: "error",
                        duration: Some(started.elapsed()),
                        ..Detail::default()
                    },
                );
                if source.is_limit_reached() {
                    return Err(JobError::ProviderFull {
                        server_id: self.server_id,
                        source,
                    });
                }
                Err(JobError::Api {
                    action: "create",
                    source,
                })
            }
        }
    }

    /// Waits until `item` is completed.
    async fn wait(&self, item: &Item, server_name: &str) -> Result<(), JobError> {
        let started = Instant::now();
        emit(
            Action::Wait,
            self.subject(server_name),
            Detail {
                item_id: Some(item.id),
                item_name: &item.label,
                reason: &format!(
                    "until completed (poll every {:?}, give up after {:?})",
                    self.policy.poll_interval, self.policy.wait_timeout
                ),
                ..Detail::default()
            },
        );
        match self
            .poller
            .wait_for(self.server_id, item.id, self.policy.wait_timeout)
            .await
        {
            Ok(()) => {
                emit(
                    Action::Completed,
                    self.subject(server_name),
                    Detail {
                        item_id: Some(item.id),
                        item_name: &item.label,
                        duration: Some(started.elapsed()),
                        ..Detail::default()
                    },
                );
                Ok(())
            }
            Err(source) => {
                let err = JobError::Wait {
                    kind: self.policy.kind.as_str(),
                    id: item.id,
                    label: item.label.clone(),
                    source,
                };
                emit(
                    Action::Fail,
                    self.subject(server_name),
                    Detail {
                        item_id: Some(item.id),
                        item_name: &item.label,
                        reason: &err.to_string(),
                        outcome: "error",
                        duration: Some(started.elapsed()),
                    },
                );
                Err(err)
            }
        }
    }

    /// Waits for the client's admission (small), then runs the delete boxed.
    async fn delete(
        &self,
        items: &mut Vec<Item>,
        item: &Item,
        reason: &str,
        report: &mut JobReport,
    ) -> Result<(), JobError> {
        let _turn = self.client.admit().await;
        Box::pin(self.delete_admitted(items, item, reason, report)).await
    }

    async fn delete_admitted(
        &self,
        items: &mut Vec<Item>,
        item: &Item,
        reason: &str,
        report: &mut JobReport,
    ) -> Result<(), JobError> {
        let started = Instant::now();
        let subject = Subject {
            server_id: self.server_id,
            server_name: &report.server_name,
            policy: &self.policy.name,
        };
        // A dry run deletes nothing but reports the same event and bookkeeping.
        let result = match (self.dry_run, self.policy.kind) {
            (true, _) => Ok(()),
            (false, Kind::Snapshot) => self.client.delete_snapshot(item.id).await,
            (false, Kind::Backup) => self.client.delete_backup(item.id).await,
        };
        match result {
            // Someone else removed it first: the goal (it is gone) holds.
            Ok(()) | Err(ApiError::NotFound { .. }) => {
                emit(
                    Action::Delete,
                    subject,
                    Detail {
                        item_id: Some(item.id),
                        item_name: &item.label,
                        reason,
                        outcome: if self.dry_run { "dry-run" } else { "" },
                        duration: (!self.dry_run).then(|| started.elapsed()),
                    },
                );
                items.retain(|i| i.id != item.id);
                if self.dry_run {
                    report.would_delete.push((item.clone(), reason.to_owned()));
                } else {
                    report.deleted.push(item.clone());
                }
                Ok(())
            }
            Err(source) => {
                emit(
                    Action::Fail,
                    subject,
                    Detail {
                        item_id: Some(item.id),
                        item_name: &item.label,
                        reason: &source.to_string(),
                        outcome: "error",
                        duration: Some(started.elapsed()),
                    },
                );
                Err(JobError::Api {
                    action: "delete",
                    source,
                })
            }
        }
    }
}

/// The retention rules of `policy`, in its time zone, capped at its share.
pub(crate) fn retention_policy(policy: &Policy) -> retention::Policy {
    retention::Policy {
        rules: policy.keep.clone(),
        tz: policy.schedule.timezone(),
        cap: policy.max_kept,
    }
}

/// Items as retention sees them for `policy`: ours when the name says so,
/// dated by the slot in the name (what the operator scheduled), else by
/// `created_at`.
pub(crate) fn retention_view(policy: &Policy, items: &[Item]) -> Vec<retention::Item> {
    items
        .iter()
        .map(|it| {
            let slot = naming::owned_slot(policy.kind, &policy.prefix, &policy.name, &it.label);
            retention::Item {
                id: it.id,
                time: slot.unwrap_or(it.created_at),
                state: match it.status {
                    Status::Completed => retention::State::Completed,
                    Status::InProgress => retention::State::InProgress,
                    Status::Failed => retention::State::Failed,
                    Status::Other(_) => retention::State::Unknown,
                },
                ours: slot.is_some(),
            }
        })
        .collect()
}

/// What a server holds, from one policy's point of view.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Holdings {
    pub(crate) completed: usize,
    pub(crate) in_progress: usize,
    pub(crate) failed: usize,
    /// Ours but in a status we do not know.
    pub(crate) unknown: usize,
    /// Everything on the server this policy did not make (counts toward the cap).
    pub(crate) not_ours: usize,
    /// When the newest completed item of ours was made (its slot).
    #[serde(skip)]
    pub(crate) newest_completed: Option<DateTime<Utc>>,
}

pub(crate) fn holdings(policy: &Policy, items: &[Item]) -> Holdings {
    let mut h = Holdings::default();
    for it in items {
        match naming::owned_slot(policy.kind, &policy.prefix, &policy.name, &it.label) {
            None => h.not_ours += 1,
            Some(slot) => match it.status {
                Status::Completed => {
                    h.completed += 1;
                    h.newest_completed = h.newest_completed.max(Some(slot));
                }
                Status::InProgress => h.in_progress += 1,
                Status::Failed => h.failed += 1,
                Status::Other(_) => h.unknown += 1,
            },
        }
    }
    h
}

fn rules_text(rules: &[retention::Rule]) -> String {
    rules
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
