//! `snapkeep prune-orphans`: list, and with `--yes` delete, what snapkeep
//! made for policies or servers it no longer has (see `orphans.rs`).
//!
//! Listing is the default because deleting is the one thing that cannot be
//! undone: an operator who renamed a policy sees first what the old name
//! left behind. With `--yes` it deletes the listed items that can go —
//! never an in-progress one (the provider is still working on it: run again
//! later), never a protected one, never anything that is not ours by the
//! strict naming format — and, because an orphan may be someone else's
//! restore point (a second config on the account, a renamed policy), never
//! a live group's items (newest younger than `orphan_grace`) without
//! `--include-live`, nor a group's newest completed item without `--all`.

use std::fmt::Write as _;

use chrono::Utc;
use serde::Serialize;

use crate::api::{ApiError, Client, Status};
use crate::cli::PruneOrphansArgs;
use crate::config::{Clients, Config};
use crate::error::AppError;
use crate::events::{Action, Event, Outcome, Subject};
use crate::orphans::Orphan;
use crate::provider::Kind;
use crate::status::{self, OrphanRow};

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
    /// Its group made an item within `orphan_grace`: possibly another
    /// config's; left unless `--include-live`.
    LeftLive,
    /// Its group's newest completed item (the last restore point): left
    /// unless `--all`.
    LeftNewest,
    Failed,
}

#[derive(Debug, Serialize)]
pub(crate) struct Line {
    #[serde(flatten)]
    pub(crate) orphan: OrphanRow,
    pub(crate) verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// What the command would do with an orphan, before trying.
pub(crate) fn intent(orphan: &Orphan, args: &PruneOrphansArgs) -> Verdict {
    if orphan.protected {
        return Verdict::LeftProtected;
    }
    match orphan.item.status {
        Status::Completed | Status::Failed => {}
        Status::InProgress | Status::Other(_) => return Verdict::LeftInProgress,
    }
    if orphan.live && !args.include_live {
        Verdict::LeftLive
    } else if orphan.newest_completed && !args.all {
        Verdict::LeftNewest
    } else if args.yes {
        Verdict::Deleted
    } else {
        Verdict::WouldDelete
    }
}

/// Whether `--server` and `--policy` (empty: any) let `orphan` through.
fn selected(orphan: &Orphan, args: &PruneOrphansArgs) -> bool {
    (args.servers.is_empty() || args.servers.contains(&orphan.item.server_id))
        && (args.policies.is_empty() || args.policies.contains(&orphan.policy))
}

pub(crate) async fn run(
    config: &Config,
    clients: &Clients,
    args: &PruneOrphansArgs,
) -> Result<u8, AppError> {
    let now = Utc::now();
    let mut lines = Vec::new();
    // Each account's listing is judged by its own policies, and what goes
    // is deleted through its own client: never one account's item by
    // another's rules or token.
    for (account, client) in clients.iter() {
        let own = config.for_account(account);
        for mut line in prune(&own, client, args, now).await? {
            line.orphan.account = account.to_owned();
            lines.push(line);
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "orphans": lines }))
                .expect("plain data serialises")
        );
    } else {
        print!("{}", text(&lines, args));
    }
    Ok(if lines.iter().any(|l| l.verdict == Verdict::Failed) {
        1
    } else {
        0
    })
}

/// Lists the account, judges every orphan at `now` and (with `--yes`)
/// deletes what may go: one line per orphan shown.
pub(crate) async fn prune(
    config: &Config,
    client: &Client,
    args: &PruneOrphansArgs,
    now: chrono::DateTime<Utc>,
) -> Result<Vec<Line>, AppError> {
    let inventories = status::fetch_all(client)
        .await
        .map_err(|(kind, e)| AppError::api(format!("cannot list {}", kind.plural()), e))?;
    // The groups are judged on every orphan; --server/--policy only narrow
    // what is shown and done.
    let orphans: Vec<Orphan> = status::find_orphans(config, &inventories, now)
        .into_iter()
        .filter(|o| selected(o, args))
        .collect();
    let mut lines = Vec::with_capacity(orphans.len());
    for orphan in &orphans {
        let mut verdict = intent(orphan, args);
        let mut error = None;
        if verdict == Verdict::Deleted {
            let account = config
                .accounts
                .first()
                .map_or(crate::config::DEFAULT_ACCOUNT, |a| a.name.as_str());
            if let Err(e) = delete(client, account, orphan).await {
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
    Ok(lines)
}

/// Deletes one orphan; "already gone" counts as done. One audit event.
async fn delete(client: &Client, account: &str, orphan: &Orphan) -> Result<(), ApiError> {
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
            account,
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

/// What `--server`/`--policy` narrowed the search to, when nothing showed.
fn no_orphans(args: &PruneOrphansArgs) -> String {
    let mut narrowed = Vec::new();
    if !args.servers.is_empty() {
        let ids: Vec<String> = args.servers.iter().map(u64::to_string).collect();
        narrowed.push(format!("on server {}", ids.join(", ")));
    }
    if !args.policies.is_empty() {
        narrowed.push(format!("of policy {}", args.policies.join(", ")));
    }
    if narrowed.is_empty() {
        "no orphans: every item in snapkeep's naming belongs to a configured policy and server\n"
            .to_owned()
    } else {
        format!("no orphans {}\n", narrowed.join(" "))
    }
}

fn text(lines: &[Line], args: &PruneOrphansArgs) -> String {
    if lines.is_empty() {
        return no_orphans(args);
    }
    let mut out = String::new();
    let mut server = None;
    let _ = writeln!(
        out,
        "{} orphan{} (our naming, but no configured policy prunes {}):",
        lines.len(),
        if lines.len() == 1 { "" } else { "s" },
        if lines.len() == 1 { "it" } else { "them" }
    );
    let several = lines
        .iter()
        .any(|l| l.orphan.account != lines[0].orphan.account);
    for line in lines {
        let o = &line.orphan;
        if server != Some((&o.account, o.server_id)) {
            server = Some((&o.account, o.server_id));
            let name = if o.server_name.is_empty() {
                String::new()
            } else {
                format!(" ({})", o.server_name)
            };
            let of = if several {
                format!(" of account {}", o.account)
            } else {
                String::new()
            };
            let _ = writeln!(out, "  server {}{name}{of}:", o.server_id);
        }
        let what = match line.verdict {
            Verdict::WouldDelete => "would delete".to_owned(),
            Verdict::Deleted => "deleted".to_owned(),
            Verdict::LeftInProgress => format!("left: {} (run again once it is done)", o.status),
            Verdict::LeftProtected => "left: protected".to_owned(),
            Verdict::LeftLive => "left: live (--include-live deletes it)".to_owned(),
            Verdict::LeftNewest => {
                "left: its group's newest completed (--all deletes it)".to_owned()
            }
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
        if let Some(note) = o.live_note() {
            let _ = writeln!(out, "      {note}");
        }
    }
    let count = |v: Verdict| lines.iter().filter(|l| l.verdict == v).count();
    let left = [
        Verdict::LeftInProgress,
        Verdict::LeftProtected,
        Verdict::LeftLive,
        Verdict::LeftNewest,
    ]
    .into_iter()
    .map(count)
    .sum::<usize>();
    if args.yes {
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
    let mut why = Vec::new();
    if count(Verdict::LeftLive) > 0 {
        why.push(format!(
            "{} in live groups (newest younger than orphan_grace; --include-live)",
            count(Verdict::LeftLive)
        ));
    }
    if count(Verdict::LeftNewest) > 0 {
        why.push(format!(
            "{} newest completed of their group (--all)",
            count(Verdict::LeftNewest)
        ));
    }
    if !why.is_empty() {
        let _ = writeln!(out, "left on purpose: {}", why.join("; "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Item;
    use crate::orphans::OrphanReason;
    use chrono::{TimeDelta, TimeZone, Utc};

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
                size_bytes: None,
            },
            kind: Kind::Snapshot,
            prefix: "snapkeep".into(),
            policy: "gone".into(),
            slot,
            reason: OrphanReason::PolicyGone,
            protected,
            group_age: TimeDelta::days(30),
            live: false,
            newest_completed: false,
        }
    }

    fn args(flags: &str) -> PruneOrphansArgs {
        PruneOrphansArgs {
            yes: flags.contains("yes"),
            include_live: flags.contains("include-live"),
            all: flags.contains("all"),
            ..PruneOrphansArgs::default()
        }
    }

    #[test]
    fn intent_leaves_in_progress_unknown_protected_live_and_each_groups_newest() {
        let live = |mut o: Orphan| {
            o.live = true;
            o
        };
        let newest = |mut o: Orphan| {
            o.newest_completed = true;
            o
        };
        let c = || orphan(1, Status::Completed, false);
        let cases = [
            (c(), "", Verdict::WouldDelete),
            (c(), "yes", Verdict::Deleted),
            (orphan(1, Status::Failed, false), "yes", Verdict::Deleted),
            (
                orphan(1, Status::InProgress, false),
                "yes all include-live",
                Verdict::LeftInProgress,
            ),
            (
                orphan(1, Status::Other("queued".into()), false),
                "yes all include-live",
                Verdict::LeftInProgress,
            ),
            (
                orphan(1, Status::Completed, true),
                "yes all include-live",
                Verdict::LeftProtected,
            ),
            (live(c()), "yes all", Verdict::LeftLive),
            (live(c()), "yes include-live", Verdict::Deleted),
            (live(c()), "include-live", Verdict::WouldDelete),
            (newest(c()), "yes include-live", Verdict::LeftNewest),
            (newest(c()), "yes all", Verdict::Deleted),
            (live(newest(c())), "yes include-live", Verdict::LeftNewest),
            (live(newest(c())), "yes all", Verdict::LeftLive),
            (live(newest(c())), "yes all include-live", Verdict::Deleted),
        ];
        for (o, flags, want) in cases {
            assert_eq!(intent(&o, &args(flags)), want, "{o:?} {flags}");
        }
    }

    #[test]
    fn server_and_policy_narrow() {
        let o = orphan(1, Status::Completed, false);
        let with = |servers: Vec<u64>, policies: Vec<&str>| PruneOrphansArgs {
            servers,
            policies: policies.into_iter().map(String::from).collect(),
            ..PruneOrphansArgs::default()
        };
        assert!(selected(&o, &with(vec![], vec![])));
        assert!(selected(&o, &with(vec![2, 1], vec!["gone"])));
        assert!(!selected(&o, &with(vec![2], vec![])));
        assert!(!selected(&o, &with(vec![], vec!["nightly"])));
    }

    #[test]
    fn text_lists_and_says_what_to_do() {
        let mut live = orphan(3, Status::Completed, false);
        live.live = true;
        live.group_age = TimeDelta::hours(3);
        let mut newest = orphan(4, Status::Completed, false);
        newest.newest_completed = true;
        let lines: Vec<Line> = [
            (orphan(1, Status::Completed, false), Verdict::WouldDelete),
            (
                orphan(2, Status::InProgress, false),
                Verdict::LeftInProgress,
            ),
            (live, Verdict::LeftLive),
            (newest, Verdict::LeftNewest),
        ]
        .into_iter()
        .map(|(o, verdict)| Line {
            orphan: OrphanRow::from(&o),
            verdict,
            error: None,
        })
        .collect();
        assert_eq!(
            text(&lines, &args("")),
            "4 orphans (our naming, but no configured policy prunes them):
  server 1 (web-01):
    snapshot #1 snapkeep-gone-20250105-030000 (completed): would delete
      no snapshot policy \"gone\" with prefix \"snapkeep\" is configured
    snapshot #2 snapkeep-gone-20250105-030000 (in_progress): left: in_progress (run again once it is done)
      no snapshot policy \"gone\" with prefix \"snapkeep\" is configured
    snapshot #3 snapkeep-gone-20250105-030000 (completed): left: live (--include-live deletes it)
      no snapshot policy \"gone\" with prefix \"snapkeep\" is configured
      live: possibly another config's or a renamed policy's; newest 3h old
    snapshot #4 snapkeep-gone-20250105-030000 (completed): left: its group's newest completed (--all deletes it)
      no snapshot policy \"gone\" with prefix \"snapkeep\" is configured
nothing deleted: run again with --yes to delete the 1 that can go (3 stay)
left on purpose: 1 in live groups (newest younger than orphan_grace; --include-live); 1 newest completed of their group (--all)
"
        );
        assert!(text(&[], &args("yes")).starts_with("no orphans: every item"));
        let narrowed = PruneOrphansArgs {
            servers: vec![7, 8],
            policies: vec!["old".into()],
            ..PruneOrphansArgs::default()
        };
        assert_eq!(
            text(&[], &narrowed),
            "no orphans on server 7, 8 of policy old\n"
        );
    }
}
