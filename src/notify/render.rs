//! Events in the words and shapes each kind of target reads: a line for
//! Slack-style chat, a title, priority and tags for ntfy, a subject and a
//! body for email, and the JSON bodies `[notify] webhook_url` always got.
//!
//! Pure (the tests compare whole messages). Every message names the
//! policy, the server and what happened first, because that is what a
//! person on call reads on a phone's lock screen.

use serde::Serialize;
use serde_json::json;

use crate::clock::compact_duration;
use crate::config::NotifyEvent;

use super::notices::Notice;

/// `web-01 (server 12345)`, or `server 12345` when the name is unknown;
/// ` of account prod` after it when the config has several accounts.
fn server(e: &Notice) -> String {
    let of = e
        .account
        .as_ref()
        .map_or_else(String::new, |a| format!(" of account {a}"));
    if e.server_name.is_empty() {
        format!("server {}{of}", e.server_id)
    } else {
        format!("{} (server {}){of}", e.server_name, e.server_id)
    }
}

fn kind(e: &Notice) -> &'static str {
    e.kind.map_or("restore point", |k| k.as_str())
}

fn slot(e: &Notice) -> String {
    e.slot
        .map_or_else(String::new, |s| s.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// What happened, in a few words (a title's end).
fn verb(what: NotifyEvent) -> &'static str {
    match what {
        NotifyEvent::Failed => "failed",
        NotifyEvent::Recovered => "recovered",
        NotifyEvent::Stale => "is stale",
        NotifyEvent::Refused => "was refused",
        NotifyEvent::FireSkipped => "skipped a fire",
        NotifyEvent::Succeeded => "succeeded",
    }
}

/// `nightly on web-01 (server 12345) failed`.
pub(crate) fn title(e: &Notice) -> String {
    format!("{} on {} {}", e.policy, server(e), verb(e.what))
}

/// The whole story in one or two sentences.
pub(crate) fn summary(e: &Notice) -> String {
    let head = title(e);
    let error = e.error.as_deref().unwrap_or("");
    match e.what {
        NotifyEvent::Failed => format!(
            "{head}: the slot {} ended without its {} after {} {}: {error}",
            slot(e),
            kind(e),
            e.tries,
            if e.tries == 1 { "try" } else { "tries" }
        ),
        NotifyEvent::Refused => format!(
            "{head}: no room for the slot {}'s {}: {error}",
            slot(e),
            kind(e)
        ),
        NotifyEvent::Recovered => format!(
            "{head}: the slot {} has its {} again, after a slot that failed",
            slot(e),
            kind(e)
        ),
        NotifyEvent::Stale => {
            let age = e
                .newest
                .and_then(|n| (e.at - n).to_std().ok())
                .map_or_else(|| "?".to_owned(), compact_duration);
            let crit = e
                .crit_after
                .map_or_else(|| "?".to_owned(), compact_duration);
            format!(
                "{head}: the newest completed {} is {age} old, over crit_after {crit}",
                kind(e)
            )
        }
        NotifyEvent::FireSkipped => format!("{head}: {error}"),
        NotifyEvent::Succeeded => format!("{head}: the slot {} has its {}", slot(e), kind(e)),
    }
}

/// An incoming-webhook message (Slack, Mattermost, Discord's `/slack`).
pub(crate) fn slack(e: &Notice) -> serde_json::Value {
    json!({ "text": format!("snapkeep: {}", summary(e)) })
}

/// ntfy's headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ntfy {
    pub(crate) title: String,
    /// `high`, `default` or `low`.
    pub(crate) priority: &'static str,
    /// Comma-separated; ntfy shows an emoji for the first.
    pub(crate) tags: String,
    pub(crate) body: String,
}

pub(crate) fn ntfy(e: &Notice) -> Ntfy {
    let (priority, tag) = match e.what {
        NotifyEvent::Failed => ("high", "rotating_light"),
        NotifyEvent::Refused => ("high", "no_entry"),
        NotifyEvent::Stale => ("high", "hourglass"),
        NotifyEvent::FireSkipped => ("default", "warning"),
        NotifyEvent::Recovered => ("default", "white_check_mark"),
        NotifyEvent::Succeeded => ("low", "heavy_check_mark"),
    };
    Ntfy {
        // Header values are ASCII: a server name may not be.
        title: ascii(&format!("snapkeep: {}", title(e))),
        priority,
        tags: format!("{tag},snapkeep,{}", e.what.as_str()),
        body: summary(e),
    }
}

/// Printable ASCII only (anything else becomes `?`).
fn ascii(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// An email's subject and plain-text body.
pub(crate) fn email(e: &Notice) -> (String, String) {
    let subject = format!("[snapkeep] {}", title(e));
    let mut body = format!("{}\n\n", summary(e));
    let mut line = |k: &str, v: String| {
        if !v.is_empty() {
            body.push_str(&format!("{k:<8} {v}\n"));
        }
    };
    line("server:", server(e));
    line("policy:", format!("{} ({})", e.policy, kind(e)));
    line("event:", e.what.as_str().to_owned());
    line("slot:", slot(e));
    if e.what == NotifyEvent::Failed {
        line("tries:", e.tries.to_string());
    }
    line("reason:", e.reason.unwrap_or("").to_owned());
    line("error:", e.error.clone().unwrap_or_default());
    line(
        "newest:",
        e.newest
            .map_or_else(String::new, |n| n.format("%Y-%m-%d %H:%M UTC").to_string()),
    );
    line("at:", e.at.format("%Y-%m-%d %H:%M:%S UTC").to_string());
    body.push_str("\n-- \nsnapkeep; `snapkeep status` shows every policy on every server.\n");
    (subject, body)
}

/// One failure in the webhook's `pass_failed` body.
#[derive(Debug, Serialize)]
pub(crate) struct Failure<'a> {
    server_id: u64,
    server_name: &'a str,
    policy: &'a str,
    kind: &'a str,
    error: &'a str,
}

/// What a pass was, for the webhook's per-pass bodies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PassFacts {
    pub(crate) jobs: usize,
    pub(crate) duration_ms: u64,
}

/// `{"event": "pass_failed", ...}` for a pass's `failed` events (the
/// first repeated flat for simple receivers), or `pass_succeeded` for a
/// pass without any: the body `[notify] webhook_url` has always had.
pub(crate) fn webhook_pass(failed: &[&Notice], pass: PassFacts) -> serde_json::Value {
    let failures: Vec<Failure<'_>> = failed
        .iter()
        .map(|e| Failure {
            server_id: e.server_id,
            server_name: &e.server_name,
            policy: &e.policy,
            kind: e.reason.unwrap_or(""),
            error: e.error.as_deref().unwrap_or(""),
        })
        .collect();
    let mut body = json!({
        "event": if failed.is_empty() { "pass_succeeded" } else { "pass_failed" },
        "jobs": pass.jobs,
        "failed": failures.len(),
    });
    if let Some(first) = failures.first() {
        body["server_id"] = json!(first.server_id);
        body["policy"] = json!(first.policy);
        body["error"] = json!(first.error);
    }
    body["failures"] = json!(failures);
    body["duration_ms"] = json!(pass.duration_ms);
    body
}

/// The webhook's body for one event that is not a pass's (`fire_skipped`
/// as always; `recovered`, `stale`, `refused` in the same flat shape).
pub(crate) fn webhook_event(e: &Notice) -> serde_json::Value {
    let mut body = json!({
        "event": e.what.as_str(),
        "server_id": e.server_id,
        "policy": e.policy,
    });
    if let Some(account) = &e.account {
        body["account"] = json!(account);
    }
    if e.what == NotifyEvent::FireSkipped {
        body["error"] = json!(e.error.as_deref().unwrap_or(""));
        return body;
    }
    body["server_name"] = json!(e.server_name);
    body["kind"] = json!(kind(e));
    if let Some(slot) = e.slot {
        body["slot"] = json!(slot);
    }
    if let Some(error) = &e.error {
        body["error"] = json!(error);
    }
    if let Some(newest) = e.newest {
        body["newest_completed"] = json!(newest);
    }
    if let Some(crit) = e.crit_after {
        body["crit_after_seconds"] = json!(crit.as_secs());
    }
    body["message"] = json!(summary(e));
    body
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::provider::Kind;

    fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
        s.parse().expect("time")
    }

    fn failed() -> Notice {
        Notice {
            what: NotifyEvent::Failed,
            server_id: 12345,
            server_name: "web-01".into(),
            policy: "nightly".into(),
            kind: Some(Kind::Snapshot),
            slot: Some(at("2025-02-01T03:00:00Z")),
            tries: 3,
            error: Some("snapshot create failed: VPS.org answered 503".into()),
            reason: Some("server_error"),
            newest: None,
            crit_after: None,
            at: at("2025-02-01T05:00:00Z"),
            account: None,
        }
    }

    fn stale() -> Notice {
        Notice {
            what: NotifyEvent::Stale,
            slot: None,
            tries: 0,
            error: None,
            reason: None,
            newest: Some(at("2025-01-30T03:00:00Z")),
            crit_after: Some(Duration::from_secs(2 * 86_400)),
            ..failed()
        }
    }

    #[test]
    fn each_event_reads_as_one_sentence_naming_policy_and_server() {
        let f = failed();
        assert_eq!(
            summary(&f),
            "nightly on web-01 (server 12345) failed: the slot 2025-02-01 03:00 UTC ended without its snapshot after 3 tries: snapshot create failed: VPS.org answered 503"
        );
        assert_eq!(
            summary(&stale()),
            "nightly on web-01 (server 12345) is stale: the newest completed snapshot is 2d 2h old, over crit_after 2d"
        );
        let skipped = super::super::notices::fire_skipped(
            7,
            "hourly",
            None,
            "overtaken by a newer slot while the server was busy",
            f.at,
        );
        assert_eq!(
            summary(&skipped),
            "hourly on server 7 skipped a fire: overtaken by a newer slot while the server was busy"
        );
        let recovered = Notice {
            what: NotifyEvent::Recovered,
            error: None,
            reason: None,
            ..failed()
        };
        assert_eq!(
            summary(&recovered),
            "nightly on web-01 (server 12345) recovered: the slot 2025-02-01 03:00 UTC has its snapshot again, after a slot that failed"
        );
        assert_eq!(
            slack(&f),
            json!({"text": "snapkeep: nightly on web-01 (server 12345) failed: the slot 2025-02-01 03:00 UTC ended without its snapshot after 3 tries: snapshot create failed: VPS.org answered 503"})
        );
    }

    #[test]
    fn with_several_accounts_a_message_names_the_account() {
        let f = Notice {
            account: Some("prod".into()),
            ..failed()
        };
        assert!(
            summary(&f).starts_with("nightly on web-01 (server 12345) of account prod failed:"),
            "{}",
            summary(&f)
        );
        assert_eq!(webhook_event(&f)["account"], "prod");
        assert!(webhook_event(&failed()).get("account").is_none());
    }

    #[test]
    fn ntfy_sets_title_priority_and_tags_from_the_event_in_ascii() {
        let mut f = failed();
        f.server_name = "wéb-01".into();
        assert_eq!(
            ntfy(&f),
            Ntfy {
                title: "snapkeep: nightly on w?b-01 (server 12345) failed".into(),
                priority: "high",
                tags: "rotating_light,snapkeep,failed".into(),
                body: summary(&f),
            }
        );
        let ok = Notice {
            what: NotifyEvent::Succeeded,
            ..failed()
        };
        assert_eq!(
            (ntfy(&ok).priority, ntfy(&ok).tags.as_str()),
            ("low", "heavy_check_mark,snapkeep,succeeded")
        );
    }

    #[test]
    fn an_email_names_policy_server_and_what_happened_in_its_subject() {
        let (subject, body) = email(&failed());
        assert_eq!(
            subject,
            "[snapkeep] nightly on web-01 (server 12345) failed"
        );
        assert_eq!(
            body,
            "nightly on web-01 (server 12345) failed: the slot 2025-02-01 03:00 UTC ended without its snapshot after 3 tries: snapshot create failed: VPS.org answered 503

server:  web-01 (server 12345)
policy:  nightly (snapshot)
event:   failed
slot:    2025-02-01 03:00 UTC
tries:   3
reason:  server_error
error:   snapshot create failed: VPS.org answered 503
at:      2025-02-01 05:00:00 UTC

-- 
snapkeep; `snapkeep status` shows every policy on every server.
"
        );
    }

    #[test]
    fn webhook_bodies_keep_the_legacy_shape() {
        let f = failed();
        assert_eq!(
            webhook_pass(
                &[&f],
                PassFacts {
                    jobs: 4,
                    duration_ms: 1200
                }
            ),
            json!({
                "event": "pass_failed", "jobs": 4, "failed": 1,
                "server_id": 12345, "policy": "nightly",
                "error": "snapshot create failed: VPS.org answered 503",
                "failures": [{"server_id": 12345, "server_name": "web-01", "policy": "nightly",
                              "kind": "server_error", "error": "snapshot create failed: VPS.org answered 503"}],
                "duration_ms": 1200,
            })
        );
        assert_eq!(
            webhook_pass(
                &[],
                PassFacts {
                    jobs: 2,
                    duration_ms: 5
                }
            ),
            json!({"event": "pass_succeeded", "jobs": 2, "failed": 0, "failures": [], "duration_ms": 5})
        );
        let skipped = super::super::notices::fire_skipped(7, "hourly", None, "shutdown", f.at);
        assert_eq!(
            webhook_event(&skipped),
            json!({"event": "fire_skipped", "server_id": 7, "policy": "hourly", "error": "shutdown"})
        );
        // With several accounts server 7 may be in two: the account is said.
        let skipped =
            super::super::notices::fire_skipped(7, "hourly", Some("prod".into()), "shutdown", f.at);
        assert_eq!(
            webhook_event(&skipped),
            json!({"event": "fire_skipped", "server_id": 7, "policy": "hourly", "error": "shutdown", "account": "prod"})
        );
        assert_eq!(
            summary(&skipped),
            "hourly on server 7 of account prod skipped a fire: shutdown"
        );
        assert_eq!(
            webhook_event(&stale()),
            json!({
                "event": "stale", "server_id": 12345, "policy": "nightly", "server_name": "web-01",
                "kind": "snapshot", "newest_completed": "2025-01-30T03:00:00Z", "crit_after_seconds": 172800,
                "message": summary(&stale()),
            })
        );
    }
}
