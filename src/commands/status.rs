//! `snapkeep status`: what each server holds, per policy, at a glance.
//!
//! One listing per kind (as a pass does), then pure bookkeeping: counts,
//! the newest completed item's age, what the next pass would prune and why,
//! the next fire time, and a stale flag when the newest completed item is
//! older than twice the schedule's interval (or there is none) — the
//! "backups silently stopped months ago" alarm.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::api::Client;
use crate::app::AppError;
use crate::config::{Config, Kind};
use crate::inventory::{self, Item};
use crate::retention;
use crate::rotation::{self, Holdings};

#[derive(Debug, Serialize)]
pub(crate) struct Row {
    pub(crate) server_id: u64,
    pub(crate) server_name: String,
    pub(crate) policy: String,
    pub(crate) kind: &'static str,
    pub(crate) ours: Holdings,
    pub(crate) newest_completed: Option<DateTime<Utc>>,
    pub(crate) newest_age_seconds: Option<i64>,
    /// RFC 3339 with the policy zone's offset.
    pub(crate) next_fire: Option<String>,
    #[serde(skip)]
    next_fire_short: Option<String>,
    pub(crate) stale: bool,
    pub(crate) would_delete: Vec<Planned>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Planned {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) reasons: Vec<&'static str>,
}

pub(crate) async fn run(config: &Config, client: &Client, json: bool) -> Result<u8, AppError> {
    let servers: Vec<u64> = config.servers().into_iter().collect();
    let mut inventories = HashMap::new();
    for kind in [Kind::Snapshot, Kind::Backup] {
        if config.policies.iter().any(|p| p.kind == kind) {
            let items = inventory::fetch(client, kind, &servers)
                .await
                .map_err(|e| AppError::Runtime(format!("cannot list {}: {e}", kind.plural())))?;
            inventories.insert(kind, inventory::by_server(items));
        }
    }
    let rows = rows(config, &inventories, Utc::now());
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("plain data serialises")
        );
    } else {
        print!("{}", table(&rows));
    }
    Ok(0)
}

/// Pure: one row per (server, policy); `now` injected.
pub(crate) fn rows(
    config: &Config,
    inventories: &HashMap<Kind, HashMap<u64, Vec<Item>>>,
    now: DateTime<Utc>,
) -> Vec<Row> {
    let mut out = Vec::new();
    let empty = Vec::new();
    for policy in &config.policies {
        for &server_id in &policy.servers {
            let items = inventories
                .get(&policy.kind)
                .and_then(|m| m.get(&server_id))
                .unwrap_or(&empty);
            let ours = rotation::holdings(policy, items);
            let plan = retention::plan(
                &rotation::retention_view(policy, items),
                &rotation::retention_policy(policy),
                now,
            );
            let would_delete = plan
                .iter()
                .filter(|d| !d.keep && !policy.is_protected(d.id))
                .filter_map(|d| {
                    let item = items.iter().find(|i| i.id == d.id)?;
                    Some(Planned {
                        id: d.id,
                        name: item.label.clone(),
                        reasons: d.reasons.iter().map(|r| r.as_str()).collect(),
                    })
                })
                .collect();
            let interval = policy.schedule.interval_at(now);
            let next = policy
                .schedule
                .next_after(now)
                .map(|t| t.with_timezone(&policy.schedule.timezone()));
            let stale = match (ours.newest_completed, interval) {
                (Some(newest), Some(interval)) => now - newest > interval * 2,
                (None, _) => true,
                (Some(_), None) => false,
            };
            out.push(Row {
                server_id,
                server_name: items
                    .iter()
                    .map(|i| i.server_name.clone())
                    .find(|n| !n.is_empty())
                    .unwrap_or_default(),
                policy: policy.name.clone(),
                kind: policy.kind.as_str(),
                newest_age_seconds: ours.newest_completed.map(|t| (now - t).num_seconds()),
                newest_completed: ours.newest_completed,
                next_fire: next.map(|t| t.to_rfc3339()),
                next_fire_short: next.map(|t| t.format("%m-%d %H:%M %Z").to_string()),
                stale,
                would_delete,
                ours,
            });
        }
    }
    out
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
            if r.stale { "STALE" } else { "ok" }
        );
    }
    let stale = rows.iter().filter(|r| r.stale).count();
    if stale > 0 {
        let _ = writeln!(
            out,
            "\n{stale} STALE: newest completed item older than twice the schedule's interval, or none"
        );
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
    out
}

/// A duration for people, two units at most: `45s`, `1h 30m`, `1d 12h`, `3d`.
pub(crate) fn compact_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (big, big_unit, small, small_unit) = match s {
        s if s < 60 => return format!("{s}s"),
        s if s < 3600 => (s / 60, "m", s % 60, "s"),
        s if s < 86_400 => (s / 3600, "h", s % 3600 / 60, "m"),
        s => (s / 86_400, "d", s % 86_400 / 3600, "h"),
    };
    if small == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit} {small}{small_unit}")
    }
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
    use chrono::{TimeDelta, TimeZone};

    fn item(id: u64, label: &str, status: Status, at: DateTime<Utc>) -> Item {
        Item {
            id,
            server_id: 1,
            server_name: "web-01".into(),
            label: label.into(),
            status,
            created_at: at,
        }
    }

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
        let later = super::rows(&config, &inv, now + TimeDelta::days(3));
        assert!(later[0].stale);
    }
}
