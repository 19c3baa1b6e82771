//! One rotation job for one (server, policy, slot): the rules of a pass.
//!
//! The order is the safety argument (ARCHITECTURE.md, "The rules of a pass"):
//! 1. ownership — only items whose name/description we would have written;
//! 2. idempotent slots — an item for this slot, in any status, means no
//!    create; several (two instances, a lost answer) converge to the lowest
//!    id once it has completed;
//! 3. failed first — our failed items take room and restore nothing;
//! 4. room — at the cap, delete our oldest item retention would drop next,
//!    never the newest completed one (its successor does not exist yet), or
//!    refuse;
//! 5. create, then wait until `completed`; a create that may have landed is
//!    never sent again blind — it is looked for in the lists the poller
//!    makes anyway; on failure prune nothing more;
//! 6. prune what retention no longer keeps, oldest first, never the newest.
//!
//! Another writer (a second snapkeep, the user) can change the server
//! between our list and our request: a "limit reached" answer or a make-room
//! victim that is already gone re-lists the server and starts the job's
//! rules again (a few rounds at most), adopting the other writer's item for
//! the slot when it is there.
//!
//! Rule 7 (one pass per server at a time) is the pass's: it hands a job
//! the server's inventory exclusively, and the job keeps it up to date.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::api::{ApiError, Client, SendWindow, Status};
use crate::clock::Clock;
use crate::config::{self, Policy};
use crate::events::{Action, Event, Outcome, Subject};
use crate::hooks::{self, HookContext, HookRun, JobResult, PostHookAfter, PreOutcome};
use crate::inventory::{self, Item, Poller, WaitError};
use crate::naming;
use crate::provider::Kind;
use crate::retention;

/// How often one job re-lists its server after another writer got in the
/// way before it gives up (each round follows a concrete conflict).
const MAX_ROUNDS: u32 = 3;

/// Everything one job needs besides the server's items.
#[derive(Clone, Copy)]
pub(crate) struct Job<'a> {
    pub(crate) client: &'a Client,
    pub(crate) poller: &'a Poller,
    pub(crate) policy: &'a Policy,
    /// Every policy of the config: tells "ours, other policy" from "not snapkeep's".
    pub(crate) all_policies: &'a [Policy],
    pub(crate) server_id: u64,
    pub(crate) slot: DateTime<Utc>,
    pub(crate) clock: &'a dyn Clock,
    pub(crate) dry_run: bool,
    /// Finish what an interrupted pass started — the newest slot up to
    /// `slot` with an item of ours in progress: wait for it, prune — but
    /// create nothing.
    pub(crate) resume_only: bool,
}

/// What a job did — also when it failed part way (the deletions it made
/// stay in the report).
#[derive(Debug, Default, Clone)]
pub(crate) struct JobReport {
    pub(crate) server_name: String,
    pub(crate) created: Option<Item>,
    /// The slot's item was made by someone else (another instance) or by a
    /// create whose answer was lost, and this job adopted it. (Boxed: rare,
    /// and every job's report carries the field.)
    pub(crate) adopted: Option<Box<Item>>,
    pub(crate) deleted: Vec<Item>,
    /// The slot already had an item; no create.
    pub(crate) slot_taken: bool,
    /// A resume-only job found nothing under way for its slot.
    pub(crate) nothing_to_resume: bool,
    /// The policy is paused (`enabled = false`): the job did nothing at all
    /// (no create, no prune), also when named on the command line.
    pub(crate) paused: bool,
    /// Dry run: what would be deleted, with the deciding rules.
    pub(crate) would_delete: Vec<(Item, String)>,
    pub(crate) would_create: Option<String>,
    /// Dry run: the hooks that would run, with their variables.
    pub(crate) would_run_hooks: Vec<String>,
    /// The pre hook failed and `on_hook_failure = "continue"`: the item was
    /// created anyway and is only crash-consistent. The hook's error.
    pub(crate) crash_consistent: Option<String>,
    /// The post hook failed (the job fails with reason `hook` after its
    /// pruning). The hook's error.
    pub(crate) post_hook_failed: Option<String>,
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
fn freeze_over(freeze: Duration) -> JobError {
    JobError::Hook {
        message: format!(
            "VPS.org did not accept the create within max_freeze ({freeze:?}) after the pre hook; the post hook thawed (SNAPKEEP_RESULT=failed) and nothing was sent after it"
        ),
    }
}

/// Sleeps until `at`, or forever when there is no such time.
async fn sleep_until_or_never(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Id used in dry runs for the item the job would create.
const PLANNED_ID: u64 = u64::MAX;

/// How a delete ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deleted {
    /// We deleted it (or, in a dry run, would have).
    Now,
    /// It was gone already: someone else deleted it first.
    AlreadyGone,
    /// Protected: not deleted (a guard; no rule should ask for it).
    Kept,
}

/// A create's answer, the hooks still owed after it, and how long it took.
type Bracketed = (Result<Item, ApiError>, Option<Box<HookRun>>, Duration);

/// How one attempt at the slot ended when it did not fail outright.
enum Attempt {
    /// The slot has its item in `items` now (ours, adopted or planned).
    Done,
    /// `items` is fresh (re-listed, or the slot's item found): apply the
    /// rules again.
    Again,
    /// Another writer changed the server: re-list and start over.
    Relist,
    /// The create's outcome was unknown and the item did not show within
    /// `api.list_lag`: send it again (rule 5; not a round of contention).
    Resend,
}

/// A job's state across its attempts at the slot.
#[derive(Default)]
struct Tries {
    /// Ids other writers deleted under us: lists may still show them.
    gone: HashSet<u64>,
    /// Re-lists after another writer got in the way (at most `MAX_ROUNDS`).
    rounds: u32,
    /// Creates sent again after their outcome stayed unknown for
    /// `api.list_lag` (at most `api.max_retries`).
    resends: u32,
    /// When the first create was sent: resends stay within
    /// `api.retry_deadline` of it.
    first_send: Option<tokio::time::Instant>,
}

impl Job<'_> {
    fn owned(&self, item: &Item) -> Option<DateTime<Utc>> {
        naming::owned_slot(
            self.policy.kind,
            &self.policy.prefix,
            &self.policy.name,
            &item.label,
        )
    }

    /// Protected items (by any policy's `protect`) are never deleted, by any rule.
    fn deletable(&self, item: &Item) -> bool {
        !config::protected_by_any(self.all_policies, self.policy.kind, item.id)
    }

    fn is_slot_item(&self, item: &Item) -> bool {
        self.owned(item) == Some(self.slot)
    }

    /// The newest slot up to this job's with an item of ours still in
    /// progress, when this job's own slot has no item.
    fn unfinished_slot(&self, items: &[Item]) -> Option<DateTime<Utc>> {
        if items.iter().any(|i| self.is_slot_item(i)) {
            return None;
        }
        items
            .iter()
            .filter(|i| i.status == Status::InProgress)
            .filter_map(|i| self.owned(i))
            .filter(|slot| *slot < self.slot)
            .max()
    }

    /// Second items for slots other than this job's (which `settle_slot`
    /// settles), each with its slot's keeper: the lowest id that has not
    /// failed, once it has completed. Only what may be deleted: not
    /// protected, not failed (rule 3 takes those), in a known status.
    fn earlier_duplicates(&self, items: &[Item]) -> Vec<(Item, u64)> {
        let mut keepers: std::collections::BTreeMap<DateTime<Utc>, &Item> = Default::default();
        for item in items.iter().filter(|i| i.status != Status::Failed) {
            if let Some(slot) = self.owned(item).filter(|s| *s != self.slot) {
                let keeper = keepers.entry(slot).or_insert(item);
                if item.id < keeper.id {
                    *keeper = item;
                }
            }
        }
        items
            .iter()
            .filter(|i| matches!(i.status, Status::Completed | Status::InProgress))
            .filter(|i| self.deletable(i))
            .filter_map(|i| {
                let keeper = keepers.get(&self.owned(i)?)?;
                (keeper.id != i.id && keeper.status == Status::Completed)
                    .then(|| (i.clone(), keeper.id))
            })
            .collect()
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn hook_context(&self, report: &JobReport) -> HookContext {
        HookContext {
            account: self.policy.account.clone(),
            server_id: self.server_id,
            server_name: report.server_name.clone(),
            policy: self.policy.name.clone(),
            kind: self.policy.kind,
            slot: self.slot,
        }
    }

    /// An audit event about this job on `server_name` (the provider's
    /// name, empty when unknown); see `events::Event`.
    fn audit<'e>(&'e self, action: Action, server_name: &'e str) -> Event<'e> {
        Event::new(
            action,
            Subject {
                account: &self.policy.account,
                server_id: self.server_id,
                server_name,
                policy: &self.policy.name,
            },
        )
    }

    /// Runs the job against `items`, the server's current inventory of this
    /// kind, which it keeps in step with every create and delete. What it
    /// did goes into `report`, also when it fails part way.
    ///
    /// Its API calls go through [`OutOfLine`] (why: that module's doc).
    pub(crate) async fn run(
        &self,
        items: &mut Vec<Item>,
        report: &mut JobReport,
    ) -> Result<(), JobError> {
        if report.server_name.is_empty() {
            report.server_name = items
                .iter()
                .map(|i| i.server_name.clone())
                .find(|n| !n.is_empty())
                .unwrap_or_default();
        }
        let label = naming::label_for(
            self.policy.kind,
            &self.policy.prefix,
            &self.policy.name,
            self.slot,
            self.policy.description.as_deref(),
        );
        if self.resume_only {
            if let Some(slot) = self.unfinished_slot(items) {
                let resumed = Job { slot, ..*self };
                // Boxed because it recurses (once: `resumed` is not resume-only).
                return Box::pin(resumed.run(items, report)).await;
            }
        }
        let mut tries = Tries::default();
        loop {
            match self.attempt(items, &label, &mut tries, report).await? {
                Attempt::Done => break,
                Attempt::Resend => {}
                next @ (Attempt::Relist | Attempt::Again) => {
                    tries.rounds += 1;
                    if tries.rounds > MAX_ROUNDS {
                        return Err(JobError::Contention {
                            server_id: self.server_id,
                            rounds: tries.rounds,
                        });
                    }
                    if matches!(next, Attempt::Relist) {
                        self.relist(items, &tries.gone).await?;
                    }
                }
            }
        }
        if tries.resends > 0 && !self.dry_run {
            self.after_resend(items, &tries.gone, report).await?;
        }
        if self.resume_only && !items.iter().any(|i| self.is_slot_item(i)) {
            // Nothing was under way for this slot: nothing to finish.
            report.nothing_to_resume = true;
            report.holdings = holdings(self.policy, self.all_policies, items);
            return Ok(());
        }

        // Rule 6: prune. (The plan is dropped before the deletes: a fleet
        // has thousands of jobs queued for them at once.)
        let mut deletes: Vec<(Item, String)> = retention::plan(
            &retention_view(self.policy, self.all_policies, items),
            &retention_policy(self.policy),
            self.now(),
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
            self.delete(items, &item, &format!("retention: {why}"), report)
                .await?;
        }
        items.retain(|i| i.id != PLANNED_ID);
        report.holdings = holdings(self.policy, self.all_policies, items);
        let server = match report.server_name.as_str() {
            "" => format!("server {}", self.server_id),
            name => name.to_owned(),
        };
        if let Some(note) = shortfall_note(self.policy, &report.holdings, &server) {
            self.audit(Action::Note, &report.server_name)
                .reason(&note)
                .emit();
        }
        if let Some(message) = &report.post_hook_failed {
            return Err(JobError::Hook {
                message: message.clone(),
            });
        }
        Ok(())
    }

    /// Rules 3, 2, 4 and 5 once, on what the job currently knows.
    async fn attempt(
        &self,
        items: &mut Vec<Item>,
        label: &str,
        tries: &mut Tries,
        report: &mut JobReport,
    ) -> Result<Attempt, JobError> {
        // Rule 3: our failed items go first.
        let failed: Vec<Item> = items
            .iter()
            .filter(|i| i.status == Status::Failed && self.owned(i).is_some() && self.deletable(i))
            .cloned()
            .collect();
        for item in failed {
            self.delete(
                items,
                &item,
                "failed: takes room and restores nothing",
                report,
            )
            .await?;
        }
        // A second item for an earlier slot (a create sent again whose first
        // attempt showed up late, a second instance) restores nothing its
        // slot's item does not: once that one (the lowest id) has completed,
        // the other goes, so the keep rules never count a slot twice.
        for (dup, keeper) in self.earlier_duplicates(items) {
            let why = format!("duplicate: #{keeper} is its slot's item (the lowest id, completed)");
            self.delete(items, &dup, &why, report).await?;
        }

        // Rule 2: the slot's item, if it exists, is the one (and only one).
        if items.iter().any(|i| self.is_slot_item(i)) {
            self.settle_slot(items, report).await?;
            return Ok(Attempt::Done);
        }
        if self.resume_only {
            return Ok(Attempt::Done);
        }

        // Rule 4: room.
        if let Some(next) = self.make_room(items, &mut tries.gone, report).await? {
            return Ok(next);
        }

        // Rule 5: create (then the slot rule waits for it).
        if self.dry_run {
            self.audit(Action::Create, &report.server_name)
                .reason(&format!("scheduled slot {label}"))
                .outcome(Outcome::DryRun)
                .emit();
            if let Some(h) = &self.policy.hooks {
                report.would_run_hooks = hooks::plan(h, &self.hook_context(report));
            }
            report.would_create = Some(label.to_owned());
            items.push(Item {
                id: PLANNED_ID,
                server_id: self.server_id,
                server_name: report.server_name.clone(),
                label: label.to_owned(),
                status: Status::Completed,
                created_at: self.slot,
                size_bytes: None,
            });
            return Ok(Attempt::Done);
        }
        // With hooks, the whole bracket runs out of line (a job waiting for
        // completion does not carry the hooks' futures); so does a create
        // that did not go through. The block ends the create's locals before
        // the wait below, so a waiting job does not hold them (`OutOfLine`'s
        // layout rules).
        tries
            .first_send
            .get_or_insert_with(tokio::time::Instant::now);
        let (id, mut hook_run) = {
            let (created, hook_run, took) = if self.policy.hooks.is_none() {
                let started = Instant::now();
                let created = self.create(label).await;
                (created, None, started.elapsed())
            } else {
                OutOfLine::call(self.create_bracketed(label, report)).await?
            };
            match created {
                Ok(created) => (self.accepted(created, took, items, report), hook_run),
                Err(source) => {
                    drop(hook_run); // its post hook ran when the create failed
                    let rest = self.not_created(source, took, label, items, tries, report);
                    return OutOfLine::call(rest).await;
                }
            }
        };
        let settled = self.settle_slot(items, report).await;
        if let Some(run) = hook_run.as_mut() {
            let result = if settled.is_ok() {
                JobResult::Completed
            } else {
                JobResult::Failed
            };
            if let Err(e) = OutOfLine::call(run.post(result, Some(id))).await {
                report.post_hook_failed = Some(e.to_string());
            }
        }
        settled?;
        Ok(Attempt::Done)
    }

    /// The provider accepted the create: the new item goes into the audit
    /// trail, the report and `items` (where the slot rule finds it). Its id.
    fn accepted(
        &self,
        created: Item,
        took: Duration,
        items: &mut Vec<Item>,
        report: &mut JobReport,
    ) -> u64 {
        if report.server_name.is_empty() {
            report.server_name.clone_from(&created.server_name);
        }
        self.audit(Action::Create, &report.server_name)
            .about(&created)
            .reason("scheduled slot")
            .took(took)
            .emit();
        report.created = Some(created.clone());
        let id = created.id;
        items.push(created);
        id
    }

    /// Rule 5 when the create did not go through: the server was full
    /// (re-list and look again), the create may have landed (look for it
    /// for `api.list_lag`, then send it again within the retry budget), or
    /// it failed.
    async fn not_created(
        &self,
        source: ApiError,
        took: Duration,
        label: &str,
        items: &mut Vec<Item>,
        tries: &mut Tries,
        report: &mut JobReport,
    ) -> Result<Attempt, JobError> {
        let list_lag = self.client.settings().list_lag;
        match source {
            source if source.is_limit_reached() => {
                // Someone else took the room between our list and our
                // create: most likely a second instance creating this very
                // slot. Look again.
                let why = format!(
                    "create of {label} refused, the server is full ({source}); re-listing to see who took the room"
                );
                self.audit(Action::Skip, &report.server_name)
                    .reason(&why)
                    .took(took)
                    .emit();
                if tries.rounds >= MAX_ROUNDS {
                    return Err(self.provider_full(source, tries.rounds, report));
                }
                self.relist(items, &tries.gone).await?;
                if items.iter().any(|i| self.is_slot_item(i)) {
                    return Ok(Attempt::Again);
                }
                if items.len() < self.policy.kind.cap() {
                    // The list shows room the provider does not have: an
                    // item is hidden (lists lag). The other writer's create
                    // for this slot shows up once lists catch up.
                    return match self.look_for(label, list_lag, items, report).await {
                        true => Ok(Attempt::Again),
                        false => Err(self.provider_full(source, tries.rounds, report)),
                    };
                }
                // At the cap again: someone else's item took the room.
                Ok(Attempt::Again)
            }
            source if source.may_have_applied() => {
                let why = format!(
                    "create of {label} may have landed ({source}); looking for it in the provider's lists for up to {list_lag:?} (api.list_lag) before sending it again"
                );
                self.audit(Action::Wait, &report.server_name)
                    .reason(&why)
                    .failed()
                    .took(took)
                    .emit();
                if self.look_for(label, list_lag, items, report).await {
                    return Ok(Attempt::Again);
                }
                if self.may_resend(tries) {
                    tries.resends += 1;
                    let why = format!(
                        "create of {label}: not in the provider's lists {list_lag:?} after an unknown outcome, so it was not applied; sending it again (resend {} of at most {}, api.max_retries)",
                        tries.resends,
                        self.client.settings().max_retries
                    );
                    self.audit(Action::Create, &report.server_name)
                        .reason(&why)
                        .emit();
                    return Ok(Attempt::Resend);
                }
                let err = JobError::OutcomeUnknown {
                    server_id: self.server_id,
                    label: label.to_owned(),
                    waited: list_lag,
                    sent: tries.resends + 1,
                    source,
                };
                self.audit(Action::Fail, &report.server_name)
                    .reason(&err.to_string())
                    .failed()
                    .emit();
                Err(err)
            }
            source => {
                self.audit(Action::Fail, &report.server_name)
                    .reason(&format!("create of {label}: {source}"))
                    .failed()
                    .took(took)
                    .emit();
                Err(JobError::Api {
                    action: "create",
                    source,
                })
            }
        }
    }

    /// The create, bracketed by the hooks: pre before it, post as soon as
    /// the provider accepted it (or, with `post_hook_after = "completed"`,
    /// left to the caller, who gets the `HookRun` back). Once the pre hook
    /// has started the post hook always runs (`HookRun` runs it on drop
    /// too); after a failed create it runs at once, so a frozen filesystem
    /// never waits out the search for a lost answer.
    ///
    /// The freeze is bounded: admission and the create's request turn are
    /// taken *before* the pre hook, so the create goes out the moment the
    /// pre hook is done; if VPS.org has not accepted it within
    /// `max_freeze` after that, the post hook thaws at once and nothing more
    /// is sent. A create already sent whose answer comes later is adopted
    /// (only crash-consistent: the thaw came first).
    async fn create_bracketed(
        &self,
        label: &str,
        report: &mut JobReport,
    ) -> Result<Bracketed, JobError> {
        let _admitted = self.client.admit().await;
        let turn = self.client.request_turn().await;
        let mut hook_run = self
            .policy
            .hooks
            .as_ref()
            .map(|h| Box::new(HookRun::new(h, self.hook_context(report))));
        if let Some(run) = hook_run.as_mut() {
            match run.pre().await {
                PreOutcome::Proceed => {}
                PreOutcome::ProceedCrashConsistent(e) => {
                    report.crash_consistent = Some(e.to_string());
                }
                PreOutcome::Abort(e) => {
                    let post = run.post(JobResult::Aborted, None).await.err();
                    return Err(JobError::Hook {
                        message: match post {
                            None => format!("{e}; no create (on_hook_failure = \"abort\")"),
                            Some(p) => format!(
                                "{e}; no create (on_hook_failure = \"abort\"); and then {p}"
                            ),
                        },
                    });
                }
            }
        }
        let freeze = hook_run.as_ref().and_then(|run| run.max_freeze());
        let window = SendWindow {
            turn: Some(turn),
            send_by: freeze.map(|f| tokio::time::Instant::now() + f),
        };
        let send_by = window.send_by;
        let started = Instant::now();
        let create = self.create_in(label, window);
        tokio::pin!(create);
        let created = tokio::select! {
            created = &mut create => created,
            () = sleep_until_or_never(send_by) => {
                // The freeze is over: thaw now. Nothing more is sent; a
                // create already sent is still answered.
                if let Some(run) = hook_run.as_mut() {
                    if let Err(e) = run.post(JobResult::Failed, None).await {
                        report.post_hook_failed = Some(e.to_string());
                    }
                }
                let created = create.await;
                let freeze = freeze.unwrap_or_default();
                return match created {
                    Ok(item) => {
                        report.crash_consistent = Some(format!(
                            "VPS.org accepted the create only after max_freeze ({freeze:?}); the post hook had thawed first"
                        ));
                        Ok((Ok(item), hook_run, started.elapsed()))
                    }
                    Err(ApiError::SendWindowClosed { .. }) => Err(freeze_over(freeze)),
                    Err(e) => Ok((Err(e), hook_run, started.elapsed())),
                };
            }
        };
        let took = started.elapsed();
        if let Some(run) = hook_run.as_mut() {
            let after_accept = run.post_after() == PostHookAfter::Accepted;
            let post = match &created {
                Ok(item) if after_accept => {
                    run.post(JobResult::Accepted, Some(item.id)).await.err()
                }
                Ok(_) => None,
                Err(_) => run.post(JobResult::Failed, None).await.err(),
            };
            if let Some(e) = post {
                report.post_hook_failed = Some(e.to_string());
            }
        }
        if let (Err(ApiError::SendWindowClosed { .. }), Some(freeze)) = (&created, freeze) {
            // The next try would have come after the freeze: thawed already.
            return Err(freeze_over(freeze));
        }
        Ok((created, hook_run, took))
    }

    /// After a create was sent again: an earlier send may have landed after
    /// all and shown up in the lists since (the item has had its whole wait
    /// to appear). Re-list once and settle the slot again, so the lowest id
    /// is kept and the other deleted in this job rather than the next pass.
    async fn after_resend(
        &self,
        items: &mut Vec<Item>,
        gone: &HashSet<u64>,
        report: &mut JobReport,
    ) -> Result<(), JobError> {
        let ours: Vec<Item> = items
            .iter()
            .filter(|i| self.is_slot_item(i) && i.status == Status::Completed)
            .cloned()
            .collect();
        self.relist(items, gone).await?;
        // A list that still lags must not hide the item this job saw completed.
        for item in ours {
            if !items.iter().any(|i| i.id == item.id) {
                items.push(item);
            }
        }
        self.settle_slot(items, report).await
    }

    /// Whether a create whose outcome stayed unknown may be sent again: as
    /// one more retry of the call, within `api.max_retries` and
    /// `api.retry_deadline` (counted from the first send).
    fn may_resend(&self, tries: &Tries) -> bool {
        let settings = self.client.settings();
        let within_deadline = tries
            .first_send
            .is_none_or(|first| first.elapsed() < settings.retry_deadline);
        tries.resends < settings.max_retries && within_deadline
    }

    fn provider_full(&self, source: ApiError, rounds: u32, report: &JobReport) -> JobError {
        JobError::ProviderFull {
            server_id: self.server_id,
            rounds,
            deleted: if report.deleted.is_empty() {
                "Nothing was deleted for it.".to_owned()
            } else {
                format!(
                    "{} item(s) were deleted to make room before it.",
                    report.deleted.len()
                )
            },
            source,
        }
    }

    /// Looks for the slot's item in the poller's listings for up to `lag`
    /// (`api.list_lag`); when it shows, adopts it (into `report` and
    /// `items`, where the slot rule finds it).
    async fn look_for(
        &self,
        label: &str,
        lag: Duration,
        items: &mut Vec<Item>,
        report: &mut JobReport,
    ) -> bool {
        let Some(found) =
            OutOfLine::call(
                self.poller
                    .find(self.server_id, label, lag, self.policy.wait_timeout),
            )
            .await
        else {
            return false;
        };
        self.audit(Action::Skip, &report.server_name)
            .about(&found)
            .reason("found the slot's item in the provider's list; adopting it instead of creating another")
            .emit();
        report.adopted = Some(Box::new(found.clone()));
        if !items.iter().any(|i| i.id == found.id) {
            items.push(found);
        }
        true
    }

    /// Replaces `items` with a fresh listing of this server (less what
    /// other writers are known to have deleted).
    async fn relist(&self, items: &mut Vec<Item>, gone: &HashSet<u64>) -> Result<(), JobError> {
        let mut fresh = OutOfLine::call(inventory::fetch(
            self.client,
            self.policy.kind,
            &[self.server_id],
        ))
        .await
        .map_err(|source| JobError::Api {
            action: "list",
            source,
        })?;
        fresh.retain(|i| i.server_id == self.server_id && !gone.contains(&i.id));
        *items = fresh;
        Ok(())
    }

    /// Rule 2 once the slot has items: the keeper is the lowest id that has
    /// not failed — every instance picks the same one — and is waited for;
    /// once it has completed, any other item for the slot (a duplicate from
    /// a second instance or a lost answer) is deleted.
    async fn settle_slot(
        &self,
        items: &mut Vec<Item>,
        report: &mut JobReport,
    ) -> Result<(), JobError> {
        // Referred to by position, not cloned, across the wait: a fleet pass
        // holds thousands of jobs waiting at once.
        let Some(at) = items
            .iter()
            .enumerate()
            .filter(|(_, i)| self.is_slot_item(i) && i.status != Status::Failed)
            .min_by_key(|(_, i)| i.id)
            .map(|(at, _)| at)
        else {
            return Ok(());
        };
        let keeper = &items[at];
        let keeper_id = keeper.id;
        let ours_now = report.created.as_ref().is_some_and(|c| c.id == keeper_id)
            || report.adopted.as_ref().is_some_and(|a| a.id == keeper_id);
        if !ours_now && keeper.id != PLANNED_ID {
            report.slot_taken = true;
            self.audit(Action::Skip, &report.server_name)
                .about(keeper)
                .reason(&format!(
                    "slot {} already has this item ({}); not creating another",
                    self.slot.to_rfc3339(),
                    keeper.status.as_str()
                ))
                .emit();
        }
        if keeper.status != Status::Completed {
            if self.dry_run {
                return Ok(());
            }
            // In progress, or a status nobody documented: wait either way.
            // Its size is known only now (`Holdings::stored_bytes`).
            items[at].size_bytes = self.wait(keeper, &report.server_name).await?;
            items[at].status = Status::Completed;
        }
        let duplicates: Vec<Item> = items
            .iter()
            .filter(|i| self.is_slot_item(i) && i.id != keeper_id)
            .cloned()
            .collect();
        for dup in duplicates {
            if !self.deletable(&dup) {
                self.audit(Action::Skip, &report.server_name)
                    .about(&dup)
                    .reason("a second item for this slot, protected (protect = [...]); left alone")
                    .emit();
                continue;
            }
            if let Status::Other(status) = &dup.status {
                let why = format!(
                    "a second item for slot {} in status {status:?}, which is not known to be deletable; left alone",
                    self.slot.to_rfc3339()
                );
                self.audit(Action::Skip, &report.server_name)
                    .about(&dup)
                    .reason(&why)
                    .emit();
                continue;
            }
            self.delete(
                items,
                &dup,
                &format!(
                    "duplicate: #{} is the slot's item (the lowest id, completed)",
                    keeper_id
                ),
                report,
            )
            .await?;
        }
        Ok(())
    }

    /// Rule 4. Counts everything on the server toward the cap (any status,
    /// anyone's); deletes only our items, never our newest completed one:
    /// first what retention would drop next; when the keep rules keep all
    /// of ours, the oldest of ours anyway, because the cap is shared with
    /// what this policy may not delete (`room_victim`). `Some(Relist)` when
    /// the victim was already gone (another writer is at work here).
    async fn make_room(
        &self,
        items: &mut Vec<Item>,
        gone: &mut HashSet<u64>,
        report: &mut JobReport,
    ) -> Result<Option<Attempt>, JobError> {
        let cap = self.policy.kind.cap();
        while items.len() >= cap {
            let victim = room_victim(self.policy, self.all_policies, items, self.now(), self.slot);
            let Some((victim, reason)) = victim.and_then(|(id, reason)| {
                let item = items.iter().find(|i| i.id == id)?.clone();
                Some((item, reason))
            }) else {
                return Err(self.refuse(items, report));
            };
            let reason = reason.text(self.policy, self.all_policies, items);
            match self.delete(items, &victim, &reason, report).await? {
                Deleted::Now => {}
                Deleted::AlreadyGone => {
                    gone.insert(victim.id);
                    return Ok(Some(Attempt::Relist));
                }
                // Retention never picks a protected item; if it ever did,
                // the server would still be full: refuse rather than ask
                // again for the same victim forever.
                Deleted::Kept => return Err(self.refuse(items, report)),
            }
        }
        Ok(None)
    }

    fn refuse(&self, items: &[Item], report: &JobReport) -> JobError {
        let cap = self.policy.kind.cap();
        let owned: Vec<&Item> = items.iter().filter(|i| self.owned(i).is_some()).collect();
        let protected = owned.iter().filter(|i| !self.deletable(i)).count();
        let other = items
            .iter()
            .filter(|i| self.owned(i).is_none() && self.owned_by_other_policy(i))
            .count();
        let completed = owned
            .iter()
            .filter(|i| self.deletable(i) && i.status == Status::Completed)
            .count();
        let unfinished = owned.len() - protected - completed;
        let ours = match (completed, unfinished) {
            (0, 0) => "nothing of this policy's".to_owned(),
            (c, 0) => format!(
                "{c} of this policy's (its newest completed item, kept until a successor has completed)"
            ),
            (c, u) => format!(
                "{} of this policy's ({c} completed: its newest, kept until a successor has completed; {u} in progress or in a status nobody documented: never deleted while so)",
                c + u
            ),
        };
        let advice = if protected > 0 {
            "Delete some by hand, unprotect one, or lower keep_* on the other policies"
        } else {
            "Delete some by hand, or lower keep_* on the other policies"
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
            ours,
            protected,
            foreign: items.len() - owned.len() - other,
            other,
            advice,
        };
        self.audit(Action::Refuse, &report.server_name)
            .reason(&err.to_string())
            .failed()
            .emit();
        err
    }

    fn owned_by_other_policy(&self, item: &Item) -> bool {
        self.all_policies.iter().any(|p| {
            p.kind == self.policy.kind
                && p.name != self.policy.name
                && naming::owned_slot(p.kind, &p.prefix, &p.name, &item.label).is_some()
        })
    }

    /// Creates the slot's item (admitted, out of line).
    async fn create(&self, label: &str) -> Result<Item, ApiError> {
        OutOfLine::admitted(self.client, || self.create_in(label, SendWindow::default())).await
    }

    /// Creates the slot's item within `window` (admission is the caller's).
    async fn create_in(&self, label: &str, window: SendWindow<'_>) -> Result<Item, ApiError> {
        match self.policy.kind {
            Kind::Snapshot => self
                .client
                .create_snapshot_in(
                    window,
                    self.server_id,
                    label,
                    self.policy.description.as_deref(),
                )
                .await
                .map(Item::from),
            Kind::Backup => self
                .client
                .create_backup_in(window, self.server_id, label)
                .await
                .map(Item::from),
        }
    }

    /// Waits until `item` is completed; its size as then listed.
    async fn wait(&self, item: &Item, server_name: &str) -> Result<Option<u64>, JobError> {
        let started = Instant::now();
        self.audit(Action::Wait, server_name)
            .about(item)
            .reason(&format!(
                "until completed (poll every {:?}, give up after {:?})",
                self.policy.poll_interval, self.policy.wait_timeout
            ))
            .emit();
        match self
            .poller
            .wait_for(self.server_id, item.id, self.policy.wait_timeout)
            .await
        {
            Ok(size) => {
                self.audit(Action::Completed, server_name)
                    .about(item)
                    .took(started.elapsed())
                    .emit();
                Ok(size)
            }
            Err(source) => {
                let err = JobError::Wait {
                    kind: self.policy.kind.as_str(),
                    id: item.id,
                    label: item.label.clone(),
                    source,
                };
                self.audit(Action::Fail, server_name)
                    .about(item)
                    .reason(&err.to_string())
                    .failed()
                    .took(started.elapsed())
                    .emit();
                Err(err)
            }
        }
    }

    /// Deletes `item` unless it is protected (admitted, out of line).
    async fn delete(
        &self,
        items: &mut Vec<Item>,
        item: &Item,
        reason: &str,
        report: &mut JobReport,
    ) -> Result<Deleted, JobError> {
        if !self.deletable(item) {
            self.audit(Action::Skip, &report.server_name)
                .about(item)
                .reason(&format!(
                    "{reason}, but protected (protect = [...]): never deleted"
                ))
                .emit();
            return Ok(Deleted::Kept);
        }
        OutOfLine::admitted(self.client, || {
            self.delete_admitted(items, item, reason, report)
        })
        .await
    }

    async fn delete_admitted(
        &self,
        items: &mut Vec<Item>,
        item: &Item,
        reason: &str,
        report: &mut JobReport,
    ) -> Result<Deleted, JobError> {
        let started = Instant::now();
        // A dry run deletes nothing but reports the same event and bookkeeping.
        let result = match (self.dry_run, self.policy.kind) {
            (true, _) => Ok(Deleted::Now),
            (false, Kind::Snapshot) => self
                .client
                .delete_snapshot(item.id)
                .await
                .map(|()| Deleted::Now),
            (false, Kind::Backup) => self
                .client
                .delete_backup(item.id)
                .await
                .map(|()| Deleted::Now),
        };
        let result = match result {
            // Someone else removed it first: it is gone, but the server is
            // not what we listed.
            Err(ApiError::NotFound { .. }) => Ok(Deleted::AlreadyGone),
            other => other,
        };
        match result {
            Ok(how) => {
                let reason = match how {
                    Deleted::Now | Deleted::Kept => reason.to_owned(),
                    Deleted::AlreadyGone => {
                        format!("{reason} (already gone: deleted by someone else)")
                    }
                };
                let event = self
                    .audit(Action::Delete, &report.server_name)
                    .about(item)
                    .reason(&reason);
                if self.dry_run {
                    event.outcome(Outcome::DryRun).emit();
                } else {
                    event.took(started.elapsed()).emit();
                }
                items.retain(|i| i.id != item.id);
                match (self.dry_run, how) {
                    (true, _) => report.would_delete.push((item.clone(), reason)),
                    (false, Deleted::Now) => report.deleted.push(item.clone()),
                    (false, Deleted::AlreadyGone | Deleted::Kept) => {}
                }
                Ok(how)
            }
            Err(source) => {
                self.audit(Action::Fail, &report.server_name)
                    .about(item)
                    .reason(&source.to_string())
                    .failed()
                    .took(started.elapsed())
                    .emit();
                Err(JobError::Api {
                    action: "delete",
                    source,
                })
            }
        }
    }
}

/// The retention rules of `policy`, in its time zone, capped at its share.
pub(crate) fn retention_policy(policy: &Policy) -> retention::Retention {
    retention::Retention {
        rules: policy.keep.clone(),
        tz: policy.schedule.timezone(),
        cap: policy.max_kept,
    }
}

/// Items as retention sees them for `policy`: ours when the name says so,
/// dated by the slot in the name (what the operator scheduled), else by
/// `created_at`. `all` is every policy of the config: an id any of them
/// protects is never ours to drop.
pub(crate) fn retention_view(
    policy: &Policy,
    all: &[Policy],
    items: &[Item],
) -> Vec<retention::Point> {
    items
        .iter()
        .map(|it| {
            // Protected items count toward the cap but not toward the keep
            // rules, and retention never drops what is not ours.
            let slot = naming::owned_slot(policy.kind, &policy.prefix, &policy.name, &it.label)
                .filter(|_| !config::protected_by_any(all, policy.kind, it.id));
            retention::Point {
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

/// Why rule 4 deletes an item to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoomReason {
    /// The keep rules drop it next anyway.
    Rules,
    /// The rules would drop only the newest completed item, which stays
    /// until its successor has completed: the oldest goes instead.
    InsteadOfNewest,
    /// The rules keep all of ours, but the cap is shared with items this
    /// policy may not delete: it holds fewer here, the oldest goes.
    SharedCap,
}

impl RoomReason {
    /// The audit and report text.
    pub(crate) fn text(self, policy: &Policy, all_policies: &[Policy], items: &[Item]) -> String {
        match self {
            RoomReason::Rules => "room: at the cap, retention drops it next".to_owned(),
            RoomReason::InsteadOfNewest => "room: at the cap; the rules would drop only the newest completed item, which stays until its successor has completed, so the oldest completed item goes instead".to_owned(),
            RoomReason::SharedCap => {
                let h = holdings(policy, all_policies, items);
                format!(
                    "room: at the cap, which this policy shares with {} it may not delete; its keep rules keep all of its own, so its oldest goes",
                    count_of(policy.kind, h.not_ours + h.protected)
                )
            }
        }
    }
}

/// What rule 4 deletes to make room for the slot's item on a full server,
/// and why; `None` when nothing of ours but the newest completed item is
/// left (refuse). Pure.
///
/// First what the policy's own keep rules drop next
/// (`retention::next_to_drop`). When they keep all of ours, the policy
/// still has to make room: the cap is shared with what it may not delete
/// (other people's items, other policies', protected ids, its own items in
/// progress), so on this server it can hold only the cap minus those, and
/// the oldest of its completed items goes — never the newest.
pub(crate) fn room_victim(
    policy: &Policy,
    all_policies: &[Policy],
    items: &[Item],
    now: DateTime<Utc>,
    slot: DateTime<Utc>,
) -> Option<(u64, RoomReason)> {
    let view = retention_view(policy, all_policies, items);
    let own = retention_policy(policy);
    if let Some(v) = retention::next_to_drop(&view, &own, now, slot) {
        let reason = if v.instead_of_newest {
            RoomReason::InsteadOfNewest
        } else {
            RoomReason::Rules
        };
        return Some((v.id, reason));
    }
    // What the incoming item and our completed items may fill.
    let occupied = view
        .iter()
        .filter(|p| !(p.ours && p.state == retention::State::Completed))
        .count();
    let shared = retention::Retention {
        cap: own.cap.min(policy.kind.cap().saturating_sub(occupied)),
        ..own
    };
    let v = retention::next_to_drop(&view, &shared, now, slot)?;
    Some((v.id, RoomReason::SharedCap))
}

/// "1 snapshot", "3 manual backups".
fn count_of(kind: Kind, n: usize) -> String {
    match (kind, n) {
        (Kind::Snapshot, 1) => "1 snapshot".to_owned(),
        (Kind::Backup, 1) => "1 manual backup".to_owned(),
        (kind, n) => format!("{n} {}", kind.plural()),
    }
}

/// The sentence a job says once when the shared cap keeps its policy
/// below what its keep rules ask ("nightly (5 last) holds 4 on web-01:
/// 1 snapshot there is not this policy's"); `None` when it does not.
pub(crate) fn shortfall_note(policy: &Policy, h: &Holdings, server: &str) -> Option<String> {
    if h.shortfall == 0 {
        return None;
    }
    let others = h.not_ours + h.protected;
    let protected = match h.protected {
        0 => String::new(),
        n => format!(" ({n} protected)"),
    };
    Some(format!(
        "{} ({}) holds {} on {server}: {} there {} not this policy's{protected}",
        policy.name,
        policy.keep.parts().join(", "),
        h.can_hold,
        count_of(policy.kind, others),
        if others == 1 { "is" } else { "are" },
    ))
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
    /// Ours by name but protected (counted in the states above too): never
    /// deleted, so they take from the cap like `not_ours`.
    pub(crate) protected: usize,
    /// How many completed items this policy can hold on the server: the
    /// cap less what it may not delete, at most what its rules keep.
    pub(crate) can_hold: usize,
    /// How many fewer than its keep rules ask (within the cap) that is.
    pub(crate) shortfall: usize,
    /// Bytes our completed items hold, from the provider's `size_mb`
    /// (`status`, `snapkeep_stored_bytes`).
    pub(crate) stored_bytes: u64,
    /// Our completed items whose size the provider did not state (not in
    /// `stored_bytes`: it is then a lower bound).
    pub(crate) without_size: usize,
    /// When the newest completed item of ours was made (its slot).
    #[serde(skip)]
    pub(crate) newest_completed: Option<DateTime<Utc>>,
}

pub(crate) fn holdings(policy: &Policy, all_policies: &[Policy], items: &[Item]) -> Holdings {
    let mut h = Holdings::default();
    let cap = policy.kind.cap();
    let wanted = policy.max_kept.min(cap);
    for it in items {
        let owned = naming::owned_slot(policy.kind, &policy.prefix, &policy.name, &it.label);
        if owned.is_some() && crate::config::protected_by_any(all_policies, policy.kind, it.id) {
            h.protected += 1;
        }
        match owned {
            None => h.not_ours += 1,
            Some(slot) => match it.status {
                Status::Completed => {
                    h.completed += 1;
                    h.newest_completed = h.newest_completed.max(Some(slot));
                    match it.size_bytes {
                        Some(b) => h.stored_bytes = h.stored_bytes.saturating_add(b),
                        None => h.without_size += 1,
                    }
                }
                Status::InProgress => h.in_progress += 1,
                Status::Failed => h.failed += 1,
                Status::Other(_) => h.unknown += 1,
            },
        }
    }
    h.can_hold = cap.saturating_sub(h.not_ours + h.protected).min(wanted);
    h.shortfall = wanted - h.can_hold;
    h
}

fn rules_text(rules: &[retention::Rule]) -> String {
    rules
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Audit events name an inventory item by its id and label.
trait About<'e> {
    fn about(self, item: &'e Item) -> Self;
}

impl<'e> About<'e> for Event<'e> {
    fn about(self, item: &'e Item) -> Self {
        self.item(item.id, &item.label)
    }
}

mod out_of_line;
use out_of_line::OutOfLine;
