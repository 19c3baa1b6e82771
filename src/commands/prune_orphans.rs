//! `snapkeep prune-orphans`: list, and with `--yes` delete, what snapkeep
//! made for policies or servers it no longer has (see `orphans.rs`).
//!
//! Listing is the default because deleting is the one thing that cannot be
//! undone: an operator who renamed a policy sees first what the old name
//! left behind. With `--yes` it deletes exactly the listed items — never an
//! in-progress one (the provider is still working on it: run again later),
//! never a protected one, never anything that is not ours by the strict
//! naming format.

use std::fmt::Write as _;

use serde::Serialize;

use crate::api::{ApiError, Client, Status};
use crate::commands::status::{self, OrphanRow};
use crate::config::Config;
use crate::error::AppError;
use crate::events::{Action, Event, Outcome, Subject};
use crate::orphans::Orphan;
use crate::provider::Kind;

/// What happened (or would happen) to one orphan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    /// Without --yes: it would be deleted.
    WouldDelete,
    Deleted,
    /// In progress or in a status the docs do not name: left alone.
    LeftInProgress,
    /// Listed in a policy's `protect`: never deleted.
    LeftProtected,
    Failed,
}

#[derive(Debug, Serialize)]
struct Line {
    #[serde(flatten)]
    orphan: OrphanRow,
    verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// What `--yes` would do with an orphan, before trying.
pub(crate) fn intent(orphan: &Orphan, yes: bool) -> Verdict {
    if orphan.protected {
        return Verdict::LeftProtected;
    }
    match orphan.item.status {
        Status::Completed | Status::Failed if yes => Verdict::Deleted,
        Status::Completed | Status::Failed => Verdict::WouldDelete,
        Status::InProgress | Status::Other(_) => Verdict::LeftInProgress,
    }
}

pub(crate) async fn run(
    config: &Config,
    client: &Client,
    yes: bool,
    json: bool,
) -> Result<u8, AppError> {
    let inventories = status::fetch_all(client)
        .await
        .map_err(|(kind, e)| AppError::api(format!("cannot list {}", kind.plural()), e))?;
    let orphans = status::find_orphans(config, &inventories);
    let mut lines = Vec::with_capacity(orphans.len());
    for orphan in &orphans {
        let mut verdict = intent(orphan, yes);
        let mut error = None;
        if verdict == Verdict::Deleted {
            if let Err(e) = delete(client, orphan).await {
                verdict = Verdict::Failed;
                error = Some(e.to_string());
            }
        }
        lines.push(Line {
            orphan: OrphanRow::from(orphan),
            verdict,
            error,
        });
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "orphans": lines }))
                .expect("plain data serialises")
        );
    } else {
        print!("{}", text(&lines, yes));
    }
    Ok(if lines.iter().any(|l| l.verdict == Verdict::Failed) {
        1
    } else {
        0
    })
}

/// Deletes one orphan; "already gone" counts as done. One audit event.
async fn delete(client: &Client, orphan: &Orphan) -> Result<(), ApiError> {
    let started = std::time::Instant::now();
    let result = match orphan.kind {
        Kind::Snapshot => client.delete_snapshot(orphan.item.id).await,
        Kind::Backup => client.delete_backup(orphan.item.id).await,
    };
    let result = match result {
        Ok(()) | Err(ApiError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    };
    let reason = match &result {
        Ok(()) => format!("orphan: {}", orphan.why()),
        Err(e) => format!("orphan: {}: {e}", orphan.why()),
    };
    let action = if result.is_ok() {
        Action::Delete
    } else {
        Action::Fail
    };
    Event::new(
        action,
        Subject {
            server_id: orphan.item.server_id,
            server_name: &orphan.item.server_name,
            policy: &orphan.policy,
        },
    )
    .item(orphan.item.id, &orphan.item.label)
    .reason(&reason)
    .outcome(Outcome::of(&result))
    .took(started.elapsed())
    .emit();
    result
}

fn text(lines: &[Line], yes: bool) -> String {
    let mut out = String::new();
    if lines.is_empty() {
        out.push_str("no orphans: every item in snapkeep's naming belongs to a configured policy and server\n");
        return out;
    }
    let rows: Vec<&OrphanRow> = lines.iter().map(|l| &l.orphan).collect();
    let mut server = None;
    let _ = writeln!(
        out,
        "{} orphan{} (our naming, but no configured policy prunes {}):",
        lines.len(),
        if lines.len() == 1 { "" } else { "s" },
        if lines.len() == 1 { "it" } else { "them" }
    );
    for (line, o) in lines.iter().zip(rows) {
        if server != Some(o.server_id) {
            server = Some(o.server_id);
            let name = if o.server_name.is_empty() {
                String::new()
            } else {
                format!(" ({})", o.server_name)
            };
            let _ = writeln!(out, "  server {}{name}:", o.server_id);
        }
        let what = match line.verdict {
            Verdict::WouldDelete => "would delete".to_owned(),
            Verdict::Deleted => "deleted".to_owned(),
            Verdict::LeftInProgress => format!("left: {} (run again once it is done)", o.status),
            Verdict::LeftProtected => "left: protected".to_owned(),
            Verdict::Failed => format!(
                "FAILED: {}",
                line.error.as_deref().unwrap_or("unknown error")
            ),
        };
        let _ = writeln!(
            out,
            "    {} #{} {} ({}): {what}\n      {}",
            o.kind, o.id, o.name, o.status, o.reason
        );
    }
    let count = |v: Verdict| lines.iter().filter(|l| l.verdict == v).count();
    let left = count(Verdict::LeftInProgress) + count(Verdict::LeftProtected);
    if yes {
        let _ = writeln!(
            out,
            "{} deleted, {left} left, {} failed",
            count(Verdict::Deleted),
            count(Verdict::Failed)
        );
    } else {
        let _ = writeln!(
            out,
            "nothing deleted: run again with --yes to delete the {} that can go ({left} stay)",
            count(Verdict::WouldDelete)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Item;
    use crate::orphans::OrphanReason;
    use chrono::{TimeZone, Utc};

    fn orphan(id: u64, status: Status, protected: bool) -> Orphan {
        let slot = Utc.with_ymd_and_hms(2025, 1, 5, 3, 0, 0).unwrap();
        Orphan {
            item: Item {
                id,
                server_id: 1,
                server_name: "web-01".into(),
                label: "snapkeep-gone-20250105-030000".into(),
                status,
                created_at: slot,
            },
            kind: Kind::Snapshot,
            prefix: "snapkeep".into(),
            policy: "gone".into(),
            slot,
            reason: OrphanReason::PolicyGone,
            protected,
        }
    }

    #[test]
    fn intent_leaves_in_progress_unknown_and_protected() {
        let cases = [
            (Status::Completed, false, false, Verdict::WouldDelete),
            (Status::Completed, false, true, Verdict::Deleted),
            (Status::Failed, false, true, Verdict::Deleted),
            (Status::InProgress, false, true, Verdict::LeftInProgress),
            (
                Status::Other("queued".into()),
                false,
                true,
                Verdict::LeftInProgress,
            ),
            (Status::Completed, true, true, Verdict::LeftProtected),
        ];
        for (status, protected, yes, want) in cases {
            assert_eq!(
                intent(&orphan(1, status.clone(), protected), yes),
                want,
                "{status:?}"
            );
        }
    }

    #[test]
    fn text_lists_and_says_what_to_do() {
        let lines: Vec<Line> = [
            (orphan(1, Status::Completed, false), Verdict::WouldDelete),
            (
                orphan(2, Status::InProgress, false),
                Verdict::LeftInProgress,
            ),
        ]
        .into_iter()
        .map(|(o, verdict)| Line {
            orphan: OrphanRow::from(&o),
            verdict,
            error: None,
        })
        .collect();
        assert_eq!(
            text(&lines, false),
            "2 orphans (our naming, but no configured policy prunes them):
  server 1 (web-01):
    snapshot #1 snapkeep-gone-20250105-030000 (completed): would delete
      no snapshot policy \"gone\" with prefix \"snapkeep\" is configured
    snapshot #2 snapkeep-gone-20250105-030000 (in_progress): left: in_progress (run again once it is done)
      no snapshot policy \"gone\" with prefix \"snapkeep\" is configured
nothing deleted: run again with --yes to delete the 1 that can go (1 stay)
"
        );
        assert!(text(&[], true).starts_with("no orphans"));
    }
}
