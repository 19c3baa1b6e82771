//! `snapkeep status`: what each server holds, per policy, at a glance.
//!
//! The model (one row per (server, policy), then orphans) is `crate::status`,
//! which the daemon's status page shares; this command lists the account,
//! asks a running daemon for its retries, and prints the model as a table
//! for people or as JSON.

use std::fmt::Write as _;

use chrono::Utc;

use crate::config::{Clients, Config};
use crate::error::AppError;
use crate::metrics::RetryState;
use crate::status::{
    AccountStored, Health, OrphanRow, Report, Row, attach_retries, fetch_accounts, report_accounts,
    size,
};

pub(crate) async fn run(config: &Config, clients: &Clients, json: bool) -> Result<u8, AppError> {
    let listings = fetch_accounts(clients)
        .await
        .map_err(|(account, kind, e)| {
            let whose = if config.several_accounts() {
                format!(" of account {account}")
            } else {
                String::new()
            };
            AppError::api(format!("cannot list {}{whose}", kind.plural()), e)
        })?;
    let mut report = report_accounts(config, &listings, Utc::now());
    if let Some(listen) = config.metrics.listen {
        attach_retries(&mut report.pairs, &daemon_retries(listen).await);
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("plain data serialises")
        );
    } else {
        print!("{}", text(config, &report));
    }
    Ok(0)
}

/// The report for people: the tables, once per account (headed by its
/// name) when there are several.
pub(crate) fn text(config: &Config, report: &Report) -> String {
    if !config.several_accounts() {
        return format!(
            "{}{}{}",
            table(&report.pairs),
            stored_table(&report.pairs, &report.stored),
            orphan_table(&report.orphans)
        );
    }
    let mut out = String::new();
    for (i, account) in config.accounts.iter().enumerate() {
        let name = account.name.as_str();
        let pairs: Vec<Row> = report
            .pairs
            .iter()
            .filter(|r| r.account == name)
            .cloned()
            .collect();
        let stored: Vec<AccountStored> = report
            .stored
            .iter()
            .filter(|s| s.account == name)
            .cloned()
            .collect();
        let orphans: Vec<OrphanRow> = report
            .orphans
            .iter()
            .filter(|o| o.account == name)
            .cloned()
            .collect();
        let _ = writeln!(
            out,
            "{}account {name} ({})\n",
            if i > 0 { "\n" } else { "" },
            account.api.base_url
        );
        out.push_str(&table(&pairs));
        out.push_str(&stored_table(&pairs, &stored));
        out.push_str(&orphan_table(&orphans));
    }
    out
}

/// What the running daemon (if it listens on `listen`) is about to retry;
/// empty when it does not answer within a second or two (not running, or
/// another host's): status works without it.
async fn daemon_retries(listen: std::net::SocketAddr) -> Vec<RetryState> {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let Ok(http) = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .build()
    else {
        return Vec::new();
    };
    let asked = async {
        http.get(format!("http://{addr}/retries"))
            .send()
            .await?
            .error_for_status()?
            .json::<Vec<RetryState>>()
            .await
    };
    asked.await.unwrap_or_else(|e| {
        tracing::debug!(%addr, error = %e, "no retries from a daemon (not running here?)");
        Vec::new()
    })
}

/// The table for people; fits 100 columns.
pub(crate) fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:<14} {:<4} {:>4} {:>3} {:>4} {:>3} {:>6}  {:<16} {:>5}  STATE",
        "SERVER", "POLICY", "KIND", "OURS", "RUN", "FAIL", "NOT", "NEWEST", "NEXT", "PRUNE"
    );
    for r in rows {
        let server = if r.server_name.is_empty() {
            r.server_id.to_string()
        } else {
            format!("{} {}", r.server_id, r.server_name)
        };
        let newest = r.newest_age_seconds.map_or_else(|| "none".to_owned(), age);
        let _ = writeln!(
            out,
            "{:<18} {:<14} {:<4} {:>4} {:>3} {:>4} {:>3} {:>6}  {:<16} {:>5}  {}",
            clip(&server, 18),
            clip(&r.policy, 14),
            if r.kind == "snapshot" { "snap" } else { "bkp" },
            r.ours.completed,
            r.ours.in_progress,
            r.ours.failed,
            r.ours.not_ours,
            newest,
            clip(r.next_fire_short.as_deref().unwrap_or("never"), 16),
            r.would_delete.len(),
            match (r.health, &r.retry) {
                (Health::Paused, _) => "PAUSED",
                (_, Some(_)) => "RETRYING",
                (Health::Critical, None) => "STALE",
                (Health::Warning, None) => "old",
                (Health::Ok, None) => "ok",
            }
        );
    }
    legend(&mut out, rows);
    lists(&mut out, rows);
    out
}

/// What STALE, old and PAUSED mean, when a row says so.
fn legend(out: &mut String, rows: &[Row]) {
    let stale = rows.iter().filter(|r| r.stale).count();
    if stale > 0 {
        let _ = writeln!(
            out,
            "\n{stale} STALE: newest completed item older than crit_after (default 2 × the schedule's interval), or none"
        );
    }
    let old = rows.iter().filter(|r| r.health == Health::Warning).count();
    if old > 0 {
        let _ = writeln!(
            out,
            "{}{old} old: newest completed item older than warn_after (default 1.5 × the schedule's interval)",
            if stale > 0 { "" } else { "\n" }
        );
    }
    let paused = rows.iter().filter(|r| r.paused).count();
    if paused > 0 {
        let _ = writeln!(
            out,
            "{}{paused} PAUSED: enabled = false; not fired, nothing pruned",
            if stale + old > 0 { "" } else { "\n" }
        );
    }
}

/// Per row: protected items, pending retries, shared-cap notes and what
/// the next pass would delete.
fn lists(out: &mut String, rows: &[Row]) {
    for r in rows.iter().filter(|r| !r.protected.is_empty()) {
        let _ = writeln!(
            out,
            "\nprotected on server {} policy {} (never deleted):",
            r.server_id, r.policy
        );
        for p in &r.protected {
            let _ = writeln!(out, "  #{} {} ({})", p.id, clip(&p.name, 60), p.status);
        }
    }
    let retrying: Vec<&RetryState> = rows.iter().filter_map(|r| r.retry.as_ref()).collect();
    if !retrying.is_empty() {
        let _ = writeln!(
            out,
            "\nretrying (the daemon fires the slot again; retry_window):"
        );
        for r in retrying {
            let _ = writeln!(
                out,
                "  server {} policy {}: slot {}, retrying at {}, attempt {} (last try: {})",
                r.server_id,
                r.policy,
                r.slot.format("%m-%d %H:%M UTC"),
                r.at.format("%H:%M:%S UTC"),
                r.attempt,
                r.reason
            );
        }
    }
    let shared: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.shared_cap.as_deref())
        .collect();
    if !shared.is_empty() {
        let _ = writeln!(
            out,
            "\nshared cap (the oldest of the policy's own goes to make room):"
        );
        for note in shared {
            let _ = writeln!(out, "  {}", clip(note, 98));
        }
    }
    for r in rows.iter().filter(|r| !r.would_delete.is_empty()) {
        let _ = writeln!(
            out,
            "\nnext pass on server {} policy {} would delete:",
            r.server_id, r.policy
        );
        for p in &r.would_delete {
            let _ = writeln!(
                out,
                "  #{} {} ({})",
                p.id,
                clip(&p.name, 60),
                p.reasons.join(", ")
            );
        }
    }
}

/// Orphans per server, for people; empty when there are none.
pub(crate) fn orphan_table(orphans: &[OrphanRow]) -> String {
    let mut out = String::new();
    if orphans.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\n{} orphan{} (our naming, but no configured policy prunes {}; see snapkeep prune-orphans):",
        orphans.len(),
        if orphans.len() == 1 { "" } else { "s" },
        if orphans.len() == 1 { "it" } else { "them" }
    );
    let mut server = None;
    for o in orphans {
        if server != Some(o.server_id) {
            server = Some(o.server_id);
            let _ = writeln!(
                out,
                "  server {}{}:",
                o.server_id,
                if o.server_name.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", o.server_name)
                }
            );
        }
        let _ = writeln!(
            out,
            "    {} #{} {} ({}{})\n      {}",
            o.kind,
            o.id,
            clip(&o.name, 60),
            o.status,
            if o.protected { ", protected" } else { "" },
            clip(&o.reason, 94)
        );
        if let Some(note) = o.live_note() {
            let _ = writeln!(out, "      {}", clip(&note, 94));
        }
    }
    out
}

/// What each (server, policy) stores, each server's total and each
/// account's, for people; fits 100 columns. "≥" marks a sum that leaves
/// out completed items VPS.org gave no size for.
pub(crate) fn stored_table(rows: &[Row], accounts: &[AccountStored]) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        return out;
    }
    let amount = |bytes: u64, without_size: usize| {
        format!(
            "{}{}",
            if without_size > 0 { "≥ " } else { "" },
            size(bytes)
        )
    };
    let _ = writeln!(
        out,
        "\nstored (our completed items, from VPS.org's size_mb):\n  {:<18} {:<14} {:<4} {:>5} {:>12}",
        "SERVER", "POLICY", "KIND", "ITEMS", "STORED"
    );
    for account in accounts {
        for server in &account.servers {
            let name = if server.server_name.is_empty() {
                server.server_id.to_string()
            } else {
                format!("{} {}", server.server_id, server.server_name)
            };
            let mine: Vec<&Row> = rows
                .iter()
                .filter(|r| r.server_id == server.server_id)
                .collect();
            for r in &mine {
                let _ = writeln!(
                    out,
                    "  {:<18} {:<14} {:<4} {:>5} {:>12}",
                    clip(&name, 18),
                    clip(&r.policy, 14),
                    if r.kind == "snapshot" { "snap" } else { "bkp" },
                    r.ours.completed,
                    amount(r.ours.stored_bytes, r.ours.without_size as usize)
                );
            }
            let _ = writeln!(
                out,
                "  {:<18} {:<14} {:<4} {:>5} {:>12}",
                clip(&name, 18),
                "server total",
                "",
                mine.iter()
                    .map(|r| r.ours.completed as usize)
                    .sum::<usize>(),
                amount(server.bytes, server.without_size)
            );
        }
        let _ = writeln!(
            out,
            "  {:<18} {:<14} {:<4} {:>5} {:>12}",
            clip(&format!("account {}", account.account), 18),
            "total",
            "",
            rows.iter()
                .map(|r| r.ours.completed as usize)
                .sum::<usize>(),
            amount(account.bytes, account.without_size)
        );
        if account.without_size > 0 {
            let _ = writeln!(
                out,
                "  ≥: {} completed item{} without a size from VPS.org, not counted",
                account.without_size,
                if account.without_size == 1 { "" } else { "s" }
            );
        }
    }
    out
}

fn age(secs: i64) -> String {
    match secs {
        s if s < 0 => "future".into(),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(width - 1).collect();
        c.push('…');
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Status;
    use crate::inventory::Item;
    use crate::provider::Kind;
    use crate::status::tests::item;
    use crate::status::{Inventories, report, rows};
    use chrono::{DateTime, TimeDelta, TimeZone};
    use std::collections::HashMap;

    #[test]
    fn counts_age_prune_and_stale() {
        let config = crate::config::parse_str(
            "[[policy]]\nname = \"n\"\nkind = \"snapshot\"\nservers = [1, 2]\nschedule = \"0 3 * * *\"\nkeep_last = 1\n",
            "t",
        )
        .unwrap();
        let now = Utc.with_ymd_and_hms(2025, 1, 10, 12, 0, 0).unwrap();
        let d = |days| Utc.with_ymd_and_hms(2025, 1, 10, 3, 0, 0).unwrap() - TimeDelta::days(days);
        let items = vec![
            item(1, "snapkeep-n-20250109-030000", Status::Completed, d(1)),
            item(2, "snapkeep-n-20250108-030000", Status::Completed, d(2)),
            item(3, "manual", Status::Completed, d(9)),
            item(4, "snapkeep-n-20250110-030000", Status::InProgress, d(0)),
        ];
        let inv = HashMap::from([(Kind::Snapshot, HashMap::from([(1, items)]))]);
        let rows = rows(&config, &inv, now);
        let r = &rows[0];
        assert_eq!(
            (r.ours.completed, r.ours.in_progress, r.ours.not_ours),
            (2, 1, 1)
        );
        assert_eq!(r.newest_age_seconds, Some(33 * 3600));
        assert!(!r.stale, "33h < 2 × 24h");
        assert_eq!(r.would_delete.len(), 1);
        assert_eq!(r.would_delete[0].id, 2);
        assert!(rows[1].stale, "server 2 has nothing");
        let t = table(&rows);
        assert!(t.lines().all(|l| l.chars().count() <= 100), "{t}");
        assert!(t.contains("STALE"), "{t}");
        // Three days later with nothing new: stale.
        let later = crate::status::rows(&config, &inv, now + TimeDelta::days(3));
        assert!(later[0].stale);
        assert_eq!(later[0].health, Health::Critical);
        // 40 hours after the newest: past warn (36h), not crit (48h).
        let warn = crate::status::rows(&config, &inv, d(0) + TimeDelta::hours(16));
        assert_eq!((warn[0].health, warn[0].stale), (Health::Warning, false));
        assert_eq!(warn[0].warn_after_seconds, Some(36 * 3600));
        assert!(table(&warn).contains("1 old: newest completed item older than warn_after"));
    }

    /// Server 1 with "n" (protecting #2), paused "p", an orphan of a
    /// removed policy; server 5, which "n" no longer lists.
    fn paused_and_protected() -> (crate::config::Config, Inventories, DateTime<Utc>) {
        let config = crate::config::parse_str(
            r#"
[[policy]]
name = "n"
kind = "snapshot"
servers = [1]
schedule = "0 3 * * *"
keep_last = 1
protect = [2]
[[policy]]
name = "p"
kind = "snapshot"
servers = [1]
schedule = "0 4 * * *"
keep_last = 1
enabled = false
"#,
            "t",
        )
        .unwrap();
        let now = Utc.with_ymd_and_hms(2025, 1, 10, 12, 0, 0).unwrap();
        let d =
            |days, h| Utc.with_ymd_and_hms(2025, 1, 10, h, 0, 0).unwrap() - TimeDelta::days(days);
        let items = vec![
            item(1, "snapkeep-n-20250110-030000", Status::Completed, d(0, 3)),
            item(2, "snapkeep-n-20250101-030000", Status::Completed, d(9, 3)),
            item(3, "snapkeep-n-20250102-030000", Status::Completed, d(8, 3)),
            item(4, "snapkeep-p-20250101-040000", Status::Completed, d(9, 4)),
            item(5, "snapkeep-p-20241231-040000", Status::Completed, d(10, 4)),
            item(
                6,
                "snapkeep-gone-20241231-040000",
                Status::Completed,
                d(10, 4),
            ),
        ];
        let mut elsewhere = item(
            7,
            "snapkeep-n-20241231-030000",
            Status::InProgress,
            d(10, 3),
        );
        elsewhere.server_id = 5;
        elsewhere.server_name = "old-box".into();
        let inv = HashMap::from([(
            Kind::Snapshot,
            HashMap::from([(1, items), (5, vec![elsewhere])]),
        )]);
        (config, inv, now)
    }

    #[test]
    fn paused_policies_and_protected_items_and_orphans() {
        let (config, inv, now) = paused_and_protected();
        let report = report(&config, &inv, now);
        let n = &report.pairs[0];
        let ids: Vec<u64> = n.would_delete.iter().map(|p| p.id).collect();
        assert_eq!(ids, vec![3], "2 is protected");
        assert_eq!(n.protected.len(), 1);
        assert_eq!(n.protected[0].id, 2);
        let p = &report.pairs[1];
        assert!(p.paused && !p.stale, "9 days old but paused");
        assert_eq!(p.health, Health::Paused);
        assert!(
            p.would_delete.is_empty(),
            "nothing of a paused policy is pruned"
        );
        let orphans: Vec<(u64, u64, &str)> = report
            .orphans
            .iter()
            .map(|o| (o.server_id, o.id, o.reason.as_str()))
            .collect();
        assert_eq!(
            orphans,
            vec![
                (
                    1,
                    6,
                    "no snapshot policy \"gone\" with prefix \"snapkeep\" is configured"
                ),
                (5, 7, "policy \"n\" no longer lists server 5"),
            ]
        );
        let t = table(&report.pairs);
        assert!(t.contains("PAUSED"), "{t}");
        assert!(
            t.contains("1 PAUSED: enabled = false; not fired, nothing pruned"),
            "{t}"
        );
        assert!(
            t.contains("protected on server 1 policy n (never deleted):\n  #2 snapkeep-n-20250101-030000 (completed)\n"),
            "{t}"
        );
        let o = orphan_table(&report.orphans);
        assert_eq!(
            o,
            "\n2 orphans (our naming, but no configured policy prunes them; see snapkeep prune-orphans):
  server 1 (web-01):
    snapshot #6 snapkeep-gone-20241231-040000 (completed)
      no snapshot policy \"gone\" with prefix \"snapkeep\" is configured
  server 5 (old-box):
    snapshot #7 snapkeep-n-20241231-030000 (in_progress)
      policy \"n\" no longer lists server 5
"
        );
        assert!(o.lines().chain(t.lines()).all(|l| l.chars().count() <= 100));
        assert_eq!(orphan_table(&[]), "");
    }

    /// Stored sizes: each pair's completed items of ours (not in-progress,
    /// not others'), each server's total, the account's; an without_size item
    /// makes its sums lower bounds.
    /// Two policies on server 1 (one size unknown, one item in progress,
    /// a manual one), "nightly" on server 2 too.
    fn sized() -> (crate::config::Config, Inventories, DateTime<Utc>) {
        let config = crate::config::parse_str(
            r#"
[[policy]]
name = "nightly"
kind = "snapshot"
servers = [1, 2]
schedule = "0 3 * * *"
keep_last = 3
[[policy]]
name = "weekly"
kind = "snapshot"
servers = [1]
schedule = "0 4 * * 0"
keep_last = 2
"#,
            "t",
        )
        .unwrap();
        let now = Utc.with_ymd_and_hms(2025, 1, 10, 12, 0, 0).unwrap();
        let d = |days| Utc.with_ymd_and_hms(2025, 1, 10, 3, 0, 0).unwrap() - TimeDelta::days(days);
        let mib = |n: u64| Some(n * 1_048_576);
        let sized = |mut i: Item, b: Option<u64>| {
            i.size_bytes = b;
            i
        };
        let one = vec![
            sized(
                item(
                    1,
                    "snapkeep-nightly-20250110-030000",
                    Status::Completed,
                    d(0),
                ),
                mib(5120),
            ),
            sized(
                item(
                    2,
                    "snapkeep-nightly-20250109-030000",
                    Status::Completed,
                    d(1),
                ),
                mib(5632),
            ),
            sized(
                item(
                    3,
                    "snapkeep-nightly-20250108-030000",
                    Status::InProgress,
                    d(2),
                ),
                mib(99),
            ),
            sized(item(4, "manual", Status::Completed, d(9)), mib(20_000)),
            sized(
                item(
                    5,
                    "snapkeep-weekly-20250105-040000",
                    Status::Completed,
                    d(5),
                ),
                None,
            ),
            sized(
                item(
                    6,
                    "snapkeep-weekly-20241229-040000",
                    Status::Completed,
                    d(12),
                ),
                mib(512),
            ),
        ];
        let mut two = sized(
            item(
                7,
                "snapkeep-nightly-20250110-030000",
                Status::Completed,
                d(0),
            ),
            mib(1),
        );
        two.server_id = 2;
        two.server_name = "db-01".into();
        let inv = HashMap::from([(Kind::Snapshot, HashMap::from([(1, one), (2, vec![two])]))]);
        (config, inv, now)
    }

    #[test]
    fn stored_sizes_per_pair_server_and_account() {
        let (config, inv, now) = sized();
        let report = report(&config, &inv, now);
        let of = |r: &Row| (r.ours.stored_bytes, r.ours.without_size);
        assert_eq!(of(&report.pairs[0]), (10_752 * 1_048_576, 0));
        assert_eq!(of(&report.pairs[2]), (512 * 1_048_576, 1));
        assert_eq!(report.stored[0].bytes, (10_752 + 512 + 1) * 1_048_576);
        assert_eq!(
            stored_table(&report.pairs, &report.stored),
            "
stored (our completed items, from VPS.org's size_mb):
  SERVER             POLICY         KIND ITEMS       STORED
  1 web-01           nightly        snap     2     10.5 GiB
  1 web-01           weekly         snap     2  ≥ 512.0 MiB
  1 web-01           server total            4   ≥ 11.0 GiB
  2 db-01            nightly        snap     1      1.0 MiB
  2 db-01            server total            1      1.0 MiB
  account default    total                   5   ≥ 11.0 GiB
  ≥: 1 completed item without a size from VPS.org, not counted
"
        );
        assert_eq!(
            (size(0), size(1023), size(1536)),
            ("0 B".into(), "1023 B".into(), "1.5 KiB".into())
        );
        assert_eq!(size(u64::MAX), "16777216.0 TiB");
    }
}
