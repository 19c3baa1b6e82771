//! The audit trail: one structured log event per action.
//!
//! Operators reconstruct what happened to their data from these lines, so
//! every action goes through [`emit`] with the same field names (documented
//! in README.md): action, server_id, server_name, policy, item_id,
//! item_name, reason, outcome, duration_ms.

use std::time::Duration;

/// What snapkeep did (or would do, or declined to do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Create,
    Wait,
    Completed,
    Delete,
    Skip,
    Refuse,
    Fail,
    /// A pre or post hook ran (`outcome` says whether it succeeded).
    Hook,
    /// Something an operator should know about a job that changes nothing
    /// by itself (the cap shared with items this policy may not delete).
    Note,
}

impl Action {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Wait => "wait",
            Action::Completed => "completed",
            Action::Delete => "delete",
            Action::Skip => "skip",
            Action::Refuse => "refuse",
            Action::Fail => "fail",
            Action::Hook => "hook",
            Action::Note => "note",
        }
    }
}

/// Who an event is about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    /// The account the server is in (`default` for an `[api]`-only config).
    pub(crate) account: &'a str,
    pub(crate) server_id: u64,
    pub(crate) server_name: &'a str,
    pub(crate) policy: &'a str,
}

/// The structured fields every audit event carries (README.md documents them).
/// Text logs leave them out because the message already says all of it.
pub(crate) const AUDIT_FIELDS: [&str; 10] = [
    "action",
    "account",
    "server_id",
    "server_name",
    "policy",
    "item_id",
    "item_name",
    "reason",
    "outcome",
    "duration_ms",
];

/// How the action went: the audit trail's `outcome` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Outcome {
    #[default]
    Ok,
    /// It failed; logged at warn level at least.
    Error,
    /// `--dry-run`: said, not done.
    DryRun,
}

impl Outcome {
    /// Ok or Error, as `result` went.
    pub(crate) fn of<T, E>(result: &Result<T, E>) -> Outcome {
        if result.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Error
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::DryRun => "dry-run",
        }
    }
}

/// One action's details.
#[derive(Debug, Clone, Copy, Default)]
struct Detail<'a> {
    item_id: Option<u64>,
    item_name: &'a str,
    reason: &'a str,
    outcome: Outcome,
    duration: Option<Duration>,
}

/// An audit event being written: `Event::new(action, who).item(..)
/// .reason(..).failed().emit()`; what is not said is empty, and the outcome
/// is ok.
#[must_use = "an event is logged only by emit()"]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event<'a> {
    action: Action,
    who: Subject<'a>,
    detail: Detail<'a>,
}

impl<'a> Event<'a> {
    pub(crate) fn new(action: Action, who: Subject<'a>) -> Event<'a> {
        Event {
            action,
            who,
            detail: Detail::default(),
        }
    }

    /// The item the action is about.
    pub(crate) fn item(mut self, id: u64, name: &'a str) -> Self {
        self.detail.item_id = Some(id);
        self.detail.item_name = name;
        self
    }

    /// Why (or, for a failure, what went wrong).
    pub(crate) fn reason(mut self, reason: &'a str) -> Self {
        self.detail.reason = reason;
        self
    }

    pub(crate) fn outcome(mut self, outcome: Outcome) -> Self {
        self.detail.outcome = outcome;
        self
    }

    pub(crate) fn failed(self) -> Self {
        self.outcome(Outcome::Error)
    }

    /// How long the action took.
    pub(crate) fn took(mut self, duration: Duration) -> Self {
        self.detail.duration = Some(duration);
        self
    }

    pub(crate) fn emit(self) {
        emit(self.action, self.who, self.detail);
    }
}

fn emit(action: Action, who: Subject<'_>, d: Detail<'_>) {
    let item_id = d.item_id.map(|i| i as i64).unwrap_or(-1);
    let duration_ms = d.duration.map(|d| d.as_millis() as u64).unwrap_or(0);
    let outcome = d.outcome.as_str();
    macro_rules! event {
        ($level:ident) => {
            tracing::$level!(
                target: "snapkeep::audit",
                action = action.as_str(),
                account = who.account,
                server_id = who.server_id,
                server_name = who.server_name,
                policy = who.policy,
                item_id,
                item_name = d.item_name,
                reason = d.reason,
                outcome,
                duration_ms,
                "{} {}",
                action.as_str(),
                describe(who, d)
            )
        };
    }
    match action {
        Action::Fail | Action::Refuse => event!(error),
        _ if d.outcome == Outcome::Error => event!(warn),
        _ => event!(info),
    }
}

fn describe(who: Subject<'_>, d: Detail<'_>) -> String {
    let server = if who.server_name.is_empty() {
        format!("server {}", who.server_id)
    } else {
        format!("server {} ({})", who.server_id, who.server_name)
    };
    // An account with a name of its own is said (server 7 of one account
    // is not server 7 of another); `default`, an `[api]`-only config's, is not.
    let of = if who.account == crate::provider::DEFAULT_ACCOUNT {
        String::new()
    } else {
        format!(" of account {}", who.account)
    };
    let mut s = format!("{server}{of} policy {}", who.policy);
    if let Some(id) = d.item_id {
        s.push_str(&format!(" #{id}"));
    }
    if !d.item_name.is_empty() {
        s.push_str(&format!(" {}", d.item_name));
    }
    if !d.reason.is_empty() {
        s.push_str(&format!(": {}", d.reason));
    }
    if let Some(t) = d.duration.filter(|t| t.as_millis() >= 100) {
        s.push_str(&format!(" ({:.1}s)", t.as_secs_f64()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::capture::CapturedLogs;

    fn who() -> Subject<'static> {
        Subject {
            account: "default",
            server_id: 7,
            server_name: "web-07",
            policy: "nightly",
        }
    }

    #[test]
    fn the_outcome_field_says_ok_error_or_dry_run() {
        let logs = CapturedLogs::on_this_thread(tracing::Level::INFO);
        Event::new(Action::Delete, who()).item(11, "a").emit();
        Event::new(Action::Delete, who())
            .item(12, "b")
            .failed()
            .emit();
        Event::new(Action::Delete, who())
            .item(13, "c")
            .outcome(Outcome::DryRun)
            .emit();
        let text = logs.text();
        let line = |id: &str| {
            text.lines()
                .find(|l| l.contains(&format!("#{id} ")))
                .unwrap_or_else(|| panic!("no event #{id} in\n{text}"))
                .to_owned()
        };
        assert!(line("11").contains("outcome=\"ok\""), "{text}");
        assert!(line("11").contains(" INFO "), "{text}");
        // A failure is a warning at least, and says so in `outcome`.
        assert!(line("12").contains("outcome=\"error\""), "{text}");
        assert!(line("12").contains(" WARN "), "{text}");
        assert!(line("13").contains("outcome=\"dry-run\""), "{text}");
    }

    #[test]
    fn outcome_of_a_result() {
        assert_eq!(Outcome::of(&Ok::<(), ()>(())), Outcome::Ok);
        assert_eq!(Outcome::of(&Err::<(), ()>(())), Outcome::Error);
    }
}
