//! Rule 5, the create: sent once, bracketed by the hooks (bounded by
//! `max_freeze`), and when its answer is lost or the provider says the
//! server is full, looked for in the provider's lists before anything is
//! sent again (ARCHITECTURE.md, "The rules of a pass", rule 5). `job.rs`
//! decides when to create; this is how.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::error::freeze_over;
use super::out_of_line::OutOfLine;
use super::{About, Attempt, Job, JobError, JobReport, MAX_ROUNDS, Tries};
use crate::api::{ApiError, SendWindow, Status};
use crate::events::Action;
use crate::hooks::{HookRun, JobResult, PostHookAfter, PreOutcome};
use crate::inventory::Item;
use crate::provider::Kind;

/// Sleeps until `at`, or forever when there is no such time.
async fn sleep_until_or_never(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A create's answer, the hooks still owed after it, and how long it took.
pub(super) type Bracketed = (Result<Item, ApiError>, Option<Box<HookRun>>, Duration);

/// A create that did not go through: the API's answer, and how long it took.
pub(super) struct CreateFailed {
    pub(super) source: ApiError,
    pub(super) took: Duration,
}

impl Job<'_> {
    /// The provider accepted the create: the new item goes into the audit
    /// trail, the report and `items` (where the slot rule finds it). Its id.
    pub(super) fn accepted(
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
        // The list was allocated at its size (`inventory::by_server`):
        // room for one more, not twice as many, in each of a fleet's tasks.
        items.reserve_exact(1);
        items.push(created);
        id
    }

    /// Rule 5 when the create did not go through: the server was full
    /// (re-list and look again), the create may have landed (look for it
    /// for `api.list_lag`, then send it again within the retry budget), or
    /// it failed.
    pub(super) async fn not_created(
        &self,
        failed: CreateFailed,
        label: &str,
        items: &mut Vec<Item>,
        tries: &mut Tries,
        report: &mut JobReport,
    ) -> Result<Attempt, JobError> {
        if failed.source.is_limit_reached() {
            return self.server_full(failed, label, items, tries, report).await;
        }
        if failed.source.may_have_applied() {
            return self
                .may_have_landed(failed, label, items, tries, report)
                .await;
        }
        let CreateFailed { source, took } = failed;
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

    /// The provider said the server is full: someone else took the room
    /// between our list and our create, most likely a second instance
    /// creating this very slot. Look again.
    pub(super) async fn server_full(
        &self,
        failed: CreateFailed,
        label: &str,
        items: &mut Vec<Item>,
        tries: &mut Tries,
        report: &mut JobReport,
    ) -> Result<Attempt, JobError> {
        let CreateFailed { source, took } = failed;
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
            // The list shows room the provider does not have: an item is
            // hidden (lists lag). The other writer's create for this slot
            // shows up once lists catch up.
            let list_lag = self.client.settings().list_lag;
            return match self.look_for(label, list_lag, items, report).await {
                true => Ok(Attempt::Again),
                false => Err(self.provider_full(source, tries.rounds, report)),
            };
        }
        // At the cap again: someone else's item took the room.
        Ok(Attempt::Again)
    }

    /// The create's outcome is unknown: look for it in the provider's
    /// lists for `api.list_lag`, then send it again within the retry
    /// budget, else fail saying it may or may not have happened.
    pub(super) async fn may_have_landed(
        &self,
        failed: CreateFailed,
        label: &str,
        items: &mut Vec<Item>,
        tries: &mut Tries,
        report: &mut JobReport,
    ) -> Result<Attempt, JobError> {
        let CreateFailed { source, took } = failed;
        let list_lag = self.client.settings().list_lag;
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
    pub(super) async fn create_bracketed(
        &self,
        label: &str,
        report: &mut JobReport,
    ) -> Result<Bracketed, JobError> {
        let _admitted = self.client.admit().await;
        let turn = self.client.request_turn().await;
        let mut hook_run = self.pre_hook(report).await?;
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
                        report.set_post_hook_failed(e.to_string());
                    }
                }
                let created = create.await;
                let freeze = freeze.unwrap_or_default();
                return match created {
                    Ok(item) => {
                        report.set_crash_consistent(format!(
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
        if let Some(run) = hook_run.as_deref_mut() {
            Self::post_after_answer(run, &created, report).await;
        }
        if let (Err(ApiError::SendWindowClosed { .. }), Some(freeze)) = (&created, freeze) {
            // The next try would have come after the freeze: thawed already.
            return Err(freeze_over(freeze));
        }
        Ok((created, hook_run, took))
    }

    /// The pre hook, when the policy has hooks: the `HookRun` that owes
    /// its post hook, or the job's error when it failed and
    /// `on_hook_failure = "abort"` (the post hook has run then).
    pub(super) async fn pre_hook(
        &self,
        report: &mut JobReport,
    ) -> Result<Option<Box<HookRun>>, JobError> {
        let Some(hooks) = self.policy.hooks.as_ref() else {
            return Ok(None);
        };
        let mut run = Box::new(HookRun::new(hooks, self.hook_context(report)));
        match run.pre().await {
            PreOutcome::Proceed => {}
            PreOutcome::ProceedCrashConsistent(e) => {
                report.set_crash_consistent(e.to_string());
            }
            PreOutcome::Abort(e) => {
                let post = run.post(JobResult::Aborted, None).await.err();
                return Err(JobError::Hook {
                    message: match post {
                        None => format!("{e}; no create (on_hook_failure = \"abort\")"),
                        Some(p) => {
                            format!("{e}; no create (on_hook_failure = \"abort\"); and then {p}")
                        }
                    },
                });
            }
        }
        Ok(Some(run))
    }

    /// The post hook once the create was answered: at once after a failure,
    /// after an accept when `post_hook_after = "accepted"`, else left to
    /// the caller (after completion).
    pub(super) async fn post_after_answer(
        run: &mut HookRun,
        created: &Result<Item, ApiError>,
        report: &mut JobReport,
    ) {
        let after_accept = run.post_after() == PostHookAfter::Accepted;
        let post = match created {
            Ok(item) if after_accept => run.post(JobResult::Accepted, Some(item.id)).await.err(),
            Ok(_) => None,
            Err(_) => run.post(JobResult::Failed, None).await.err(),
        };
        if let Some(e) = post {
            report.set_post_hook_failed(e.to_string());
        }
    }

    /// After a create was sent again: an earlier send may have landed after
    /// all and shown up in the lists since (the item has had its whole wait
    /// to appear). Re-list once and settle the slot again, so the lowest id
    /// is kept and the other deleted in this job rather than the next pass.
    pub(super) async fn after_resend(
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
    pub(super) fn may_resend(&self, tries: &Tries) -> bool {
        let settings = self.client.settings();
        let within_deadline = tries
            .first_send
            .is_none_or(|first| first.elapsed() < settings.retry_deadline);
        tries.resends < settings.max_retries && within_deadline
    }

    pub(super) fn provider_full(
        &self,
        source: ApiError,
        rounds: u32,
        report: &JobReport,
    ) -> JobError {
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
    pub(super) async fn look_for(
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

    /// Creates the slot's item (admitted, out of line).
    pub(super) async fn create(&self, label: &str) -> Result<Item, ApiError> {
        OutOfLine::admitted(self.client, || self.create_in(label, SendWindow::default())).await
    }

    /// Creates the slot's item within `window` (admission is the caller's).
    pub(super) async fn create_in(
        &self,
        label: &str,
        window: SendWindow<'_>,
    ) -> Result<Item, ApiError> {
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
}
