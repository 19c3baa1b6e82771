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
//!
//! What each rule decides is [`rules`]' (pure: the same functions tell
//! `simulate` and `status` what to show); this file executes the decisions
//! — API calls (through `out_of_line`), waits, hooks, audit events — and
//! handles what the provider and other writers do meanwhile.

use std::collections::HashSet;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::api::{ApiError, Client, Status};
use crate::clock::Clock;
use crate::config::Policy;
use crate::events::{Action, Event, Outcome, Subject};
use crate::hooks::{self, HookContext, JobResult};
use crate::inventory::{self, Item, Poller};
use crate::naming;
use crate::provider::Kind;

mod create;
mod error;
mod out_of_line;
pub(crate) mod rules;

use create::CreateFailed;
pub(crate) use error::JobError;
use out_of_line::OutOfLine;
use rules::{Duplicate, View};
pub(crate) use rules::{Holdings, holdings, shortfall_note};

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
    /// A dry run's plan ([`JobReport::dry_run`]). Boxed, as `hook_errors`:
    /// most jobs have neither, and a fleet pass keeps every job's report
    /// while it waits (BENCHMARKS.md, "Memory").
    pub(crate) dry: Option<Box<DryRun>>,
    pub(crate) hook_errors: Option<Box<HookErrors>>,
    /// What the server holds for this policy when the job ended.
    pub(crate) holdings: Holdings,
}

/// What a dry run's job would have done.
#[derive(Debug, Default, Clone)]
pub(crate) struct DryRun {
    /// What would be deleted, with the deciding rules.
    would_delete: Vec<(Item, String)>,
    would_create: Option<String>,
    /// The hooks that would run, with their variables.
    would_run_hooks: Vec<String>,
}

/// A job's hook failures that did not stop it.
#[derive(Debug, Default, Clone)]
pub(crate) struct HookErrors {
    /// The pre hook failed and `on_hook_failure = "continue"`: the item was
    /// created anyway and is only crash-consistent. The hook's error.
    crash_consistent: Option<String>,
    /// The post hook failed (the job fails with reason `hook` after its
    /// pruning). The hook's error.
    post_hook_failed: Option<String>,
}

impl JobReport {
    /// Dry run: what would be deleted, with the deciding rules.
    pub(crate) fn would_delete(&self) -> &[(Item, String)] {
        self.dry.as_ref().map_or(&[], |d| &d.would_delete)
    }

    /// Dry run: the label of the item the job would create.
    pub(crate) fn would_create(&self) -> Option<&str> {
        self.dry.as_ref()?.would_create.as_deref()
    }

    /// Dry run: the hooks that would run, with their variables.
    pub(crate) fn would_run_hooks(&self) -> &[String] {
        self.dry.as_ref().map_or(&[], |d| &d.would_run_hooks)
    }

    /// The pre hook's error when the item was created anyway
    /// (`on_hook_failure = "continue"`): it is only crash-consistent.
    pub(crate) fn crash_consistent(&self) -> Option<&str> {
        self.hook_errors.as_ref()?.crash_consistent.as_deref()
    }

    /// The post hook's error (the job fails with reason `hook` after its
    /// pruning).
    pub(crate) fn post_hook_failed(&self) -> Option<&str> {
        self.hook_errors.as_ref()?.post_hook_failed.as_deref()
    }

    fn dry_run(&mut self) -> &mut DryRun {
        self.dry.get_or_insert_with(Box::default)
    }

    pub(crate) fn set_crash_consistent(&mut self, error: String) {
        self.hook_errors
            .get_or_insert_with(Box::default)
            .crash_consistent = Some(error);
    }

    pub(crate) fn set_post_hook_failed(&mut self, error: String) {
        self.hook_errors
            .get_or_insert_with(Box::default)
            .post_hook_failed = Some(error);
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
    /// The policy as the rules see this server (`rules::View`).
    fn view(&self) -> View<'_> {
        View::new(self.policy, self.all_policies)
    }

    fn owned(&self, item: &Item) -> Option<DateTime<Utc>> {
        self.view().owned(item)
    }

    fn deletable(&self, item: &Item) -> bool {
        self.view().deletable(item)
    }

    fn is_slot_item(&self, item: &Item) -> bool {
        self.view().is_slot_item(item, self.slot)
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
        if self.resume_only {
            if let Some(slot) = self.unfinished_slot(items) {
                let resumed = Job { slot, ..*self };
                // Boxed because it recurses (once: `resumed` is not resume-only).
                return Box::pin(resumed.run(items, report)).await;
            }
        }
        // Rules 3, 2, 4 and 5 until the slot has its item: again on fresh
        // items after another writer got in the way (at most `MAX_ROUNDS`),
        // and a create whose outcome stayed unknown sent again (rule 5).
        // (Inline, not a function of its own: each async call level is
        // carried by every waiting job, BENCHMARKS.md "Memory".)
        {
            let p = self.policy;
            let label = naming::label_for(
                p.kind,
                &p.prefix,
                &p.name,
                self.slot,
                p.description.as_deref(),
            );
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
        }
        if self.resume_only && !items.iter().any(|i| self.is_slot_item(i)) {
            // Nothing was under way for this slot: nothing to finish.
            report.nothing_to_resume = true;
            report.holdings = holdings(self.policy, self.all_policies, items);
            return Ok(());
        }
        self.prune(items, report).await?;
        self.finish(items, report)
    }

    /// Rule 6: deletes what the rules no longer keep, oldest first
    /// (`rules::prune`).
    async fn prune(&self, items: &mut Vec<Item>, report: &mut JobReport) -> Result<(), JobError> {
        let mut deletes = rules::prune(self.view(), items, self.now());
        deletes.retain(|(i, _)| i.id != PLANNED_ID);
        // Held while the deletes run (BENCHMARKS.md, "Memory").
        deletes.shrink_to_fit();
        for (item, why) in deletes {
            let why = format!("retention: {}", rules::rules_text(&why));
            self.delete(items, &item, &why, report).await?;
        }
        items.retain(|i| i.id != PLANNED_ID);
        Ok(())
    }

    /// The end of a job that got through: what it holds now, the shared
    /// cap's note, and a post hook's failure (reported after the pruning).
    fn finish(&self, items: &[Item], report: &mut JobReport) -> Result<(), JobError> {
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
        if let Some(message) = report.post_hook_failed() {
            return Err(JobError::Hook {
                message: message.to_owned(),
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
        // Rule 3: failed first, and second items of earlier slots.
        let first: Vec<(Item, String)> = rules::failed_first(self.view(), items, self.slot)
            .into_iter()
            .map(|(item, why)| (item, why.text()))
            .collect();
        for (item, why) in first {
            self.delete(items, &item, &why, report).await?;
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
            self.plan_create(items, label, report);
            return Ok(Attempt::Done);
        }
        // With hooks, the whole bracket runs out of line; so does what
        // follows a create that did not go through. The block ends the
        // create's locals before the wait (`job::out_of_line`).
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
                    let failed = CreateFailed { source, took };
                    let rest = self.not_created(failed, label, items, tries, report);
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
                report.set_post_hook_failed(e.to_string());
            }
        }
        settled?;
        Ok(Attempt::Done)
    }

    /// Rule 5 in a dry run: says what it would create and run, and puts a
    /// planned item in `items`, so pruning sees the server as it would be.
    fn plan_create(&self, items: &mut Vec<Item>, label: &str, report: &mut JobReport) {
        self.audit(Action::Create, &report.server_name)
            .reason(&format!("scheduled slot {label}"))
            .outcome(Outcome::DryRun)
            .emit();
        if let Some(h) = &self.policy.hooks {
            report.dry_run().would_run_hooks = hooks::plan(h, &self.hook_context(report));
        }
        report.dry_run().would_create = Some(label.to_owned());
        items.push(Item {
            id: PLANNED_ID,
            server_id: self.server_id,
            server_name: report.server_name.clone(),
            label: label.to_owned(),
            status: Status::Completed,
            created_at: self.slot,
            size_bytes: None,
        });
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

    /// Rule 2 once the slot has items: its keeper (`rules::slot_keeper`)
    /// is waited for; once it has completed, any other item for the slot
    /// (a duplicate from a second instance or a lost answer) is deleted.
    async fn settle_slot(
        &self,
        items: &mut Vec<Item>,
        report: &mut JobReport,
    ) -> Result<(), JobError> {
        // The keeper is referred to by its place in `items`, not copied,
        // across the wait (BENCHMARKS.md, "Memory").
        let keeper = rules::slot_keeper(self.view(), items, self.slot);
        let Some(at) = keeper.and_then(|k| items.iter().position(|i| i.id == k.id)) else {
            return Ok(());
        };
        self.say_slot_taken(&items[at], report);
        if items[at].status != Status::Completed {
            if self.dry_run {
                return Ok(());
            }
            // In progress, or a status nobody documented: wait either way.
            // Its size is known only now (`Holdings::stored_bytes`).
            items[at].size_bytes = self.wait(&items[at], &report.server_name).await?;
            items[at].status = Status::Completed;
        }
        let keeper = items[at].id;
        let duplicates: Vec<(Item, String)> =
            rules::slot_duplicates(self.view(), items, self.slot, keeper)
                .into_iter()
                .filter_map(|(dup, what)| self.duplicate_to_delete(dup, what, report))
                .collect();
        for (dup, why) in duplicates {
            self.delete(items, &dup, &why, report).await?;
        }
        Ok(())
    }

    /// A second item for the slot: why it is deleted, or `None` when it is
    /// left alone (said in the audit trail).
    fn duplicate_to_delete(
        &self,
        dup: Item,
        what: Duplicate,
        report: &JobReport,
    ) -> Option<(Item, String)> {
        let why = match what {
            Duplicate::Delete { keeper } => {
                return Some((
                    dup,
                    format!("duplicate: #{keeper} is the slot's item (the lowest id, completed)"),
                ));
            }
            Duplicate::Protected => {
                "a second item for this slot, protected (protect = [...]); left alone".to_owned()
            }
            Duplicate::UnknownStatus(status) => format!(
                "a second item for slot {} in status {status:?}, which is not known to be deletable; left alone",
                self.slot.to_rfc3339()
            ),
        };
        self.audit(Action::Skip, &report.server_name)
            .about(&dup)
            .reason(&why)
            .emit();
        None
    }

    /// Says so when the slot's item was there before this job: made by
    /// another writer, an earlier pass, or a create whose answer was lost.
    fn say_slot_taken(&self, keeper: &Item, report: &mut JobReport) {
        let ours_now = report.created.as_ref().is_some_and(|c| c.id == keeper.id)
            || report.adopted.as_ref().is_some_and(|a| a.id == keeper.id);
        if ours_now || keeper.id == PLANNED_ID {
            return;
        }
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
            let victim =
                rules::room_victim(self.policy, self.all_policies, items, self.now(), self.slot);
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

    /// Rule 4 with no victim left: the job's error, with the true counts
    /// (`rules::refusal`).
    fn refuse(&self, items: &[Item], report: &JobReport) -> JobError {
        let rules::Refusal {
            completed,
            unfinished,
            protected,
            foreign,
            other,
        } = rules::refusal(self.view(), items);
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
            cap: self.policy.kind.cap(),
            plural: self.policy.kind.plural(),
            ours,
            protected,
            foreign,
            other,
            advice,
        };
        self.audit(Action::Refuse, &report.server_name)
            .reason(&err.to_string())
            .failed()
            .emit();
        err
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
                    (true, _) => report.dry_run().would_delete.push((item.clone(), reason)),
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

/// Audit events name an inventory item by its id and label.
trait About<'e> {
    fn about(self, item: &'e Item) -> Self;
}

impl<'e> About<'e> for Event<'e> {
    fn about(self, item: &'e Item) -> Self {
        self.item(item.id, &item.label)
    }
}
