//! `snapkeep status --check`: the status as a monitoring plugin.
//!
//! Nagios, Icinga, Sensu and friends run a command and read two things: the
//! exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) and the first line of
//! stdout, `SNAPKEEP <STATE> - <what is wrong> | <perfdata>`. Later lines are
//! the long text: one per (server, policy). The judgement is `status`'s own
//! ([`status::rows`]): the newest completed item's age against the policy's
//! `warn_after`/`crit_after`, no completed item at all is CRITICAL, and a
//! paused policy is shown as paused, never as a problem. Anything that stops
//! the check from looking — a bad config, no token, an API that does not
//! answer — is UNKNOWN, never CRITICAL: the plugin cannot tell.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::compact_duration;
use crate::config::Config;
use crate::status::{self, Health, Inventories, Row};

/// Plugin exit codes.
const OK: u8 = 0;
const WARNING: u8 = 1;
const CRITICAL: u8 = 2;
const UNKNOWN: u8 = 3;

/// How many problem pairs the first line names before "and N more".
const NAMED: usize = 3;

/// Loads, lists and judges; prints the plugin output; returns its exit
/// code. Never fails: every error is an UNKNOWN line.
pub(crate) fn run(config_path: &Path) -> u8 {
    let checked = (|| -> Result<(String, u8), String> {
        let (config, clients) = crate::config::load_and_connect(config_path, Arc::default())
            .map_err(|e| e.to_string())?;
        let several = config.several_accounts();
        let listings = super::runtime()
            .map_err(|e| e.to_string())?
            .block_on(status::fetch_accounts(&clients))
            .map_err(|(account, kind, e)| match several {
                true => format!("cannot list {} of account {account}: {e}", kind.plural()),
                false => format!("cannot list {}: {e}", kind.plural()),
            })?;
        Ok(match listings.as_slice() {
            [(_, inventories)] => render(&config, inventories, Utc::now()),
            _ => render_accounts(&config, &listings, Utc::now()),
        })
    })();
    let (text, code) = checked.unwrap_or_else(|e| (unknown(&e), UNKNOWN));
    print!("{text}");
    code
}

/// The UNKNOWN output for an error: its first line on the status line, the
/// rest (e.g. further config problems) as long text.
pub(crate) fn unknown(error: &str) -> String {
    let mut lines = error.lines();
    let mut out = format!(
        "SNAPKEEP UNKNOWN - {}\n",
        lines.next().unwrap_or("unknown error").replace('|', "/")
    );
    for line in lines {
        let _ = writeln!(out, "{}", line.replace('|', "/"));
    }
    out
}

/// Pure: the plugin output and exit code; `now` injected.
pub(crate) fn render(
    config: &Config,
    inventories: &Inventories,
    now: DateTime<Utc>,
) -> (String, u8) {
    let rows = status::rows(config, inventories, now);
    // As `snapkeep_orphans`: live groups (maybe another config's) and
    // protected items are not a problem to report.
    let orphans = status::find_orphans(config, inventories, now)
        .iter()
        .filter(|o| o.forgotten())
        .count();
    judge(&rows, orphans)
}

/// [`render`] over every account's listing, each judged by its own
/// policies; the pairs of all accounts in one output.
pub(crate) fn render_accounts(
    config: &Config,
    listings: &status::AccountInventories,
    now: DateTime<Utc>,
) -> (String, u8) {
    let mut rows = Vec::new();
    let mut orphans = 0;
    for (account, inventories) in listings {
        let own = config.for_account(account);
        rows.extend(status::rows(&own, inventories, now));
        orphans += status::find_orphans(&own, inventories, now)
            .iter()
            .filter(|o| o.forgotten())
            .count();
    }
    judge(&rows, orphans)
}

/// The plugin output and exit code for `rows` and the forgotten orphans.
fn judge(rows: &[Row], orphans: usize) -> (String, u8) {
    let worst = rows.iter().map(|r| r.health).max().unwrap_or(Health::Ok);
    let (word, code) = match worst {
        Health::Critical => ("CRITICAL", CRITICAL),
        Health::Warning => ("WARNING", WARNING),
        Health::Ok | Health::Paused => ("OK", OK),
    };
    let count = |h: Health| rows.iter().filter(|r| r.health == h).count();
    let (crit, warn, ok, paused) = (
        count(Health::Critical),
        count(Health::Warning),
        count(Health::Ok),
        count(Health::Paused),
    );
    let summary = match worst {
        Health::Critical | Health::Warning => {
            let named: Vec<String> = rows
                .iter()
                .filter(|r| r.health == worst)
                .take(NAMED)
                .map(|r| format!("{}: {}", pair(r), problem(r)))
                .collect();
            let mut s = named.join("; ");
            let more = count(worst).saturating_sub(NAMED);
            if more > 0 {
                let _ = write!(s, "; and {more} more {}", word.to_lowercase());
            }
            if worst == Health::Critical && warn > 0 {
                let _ = write!(s, "; {warn} warning");
            }
            s
        }
        Health::Ok | Health::Paused => {
            let mut s = format!(
                "{ok} of {} (server, policy) pairs have a recent completed item",
                rows.len() - paused
            );
            if paused > 0 {
                let _ = write!(s, "; {paused} paused");
            }
            s
        }
    };
    let mut perf: Vec<String> = rows
        .iter()
        .map(|r| {
            let value = r
                .newest_age_seconds
                .map_or_else(|| "U".to_owned(), |a| format!("{}s", a.max(0)));
            let limit = |s: Option<u64>| s.map(|s| s.to_string()).unwrap_or_default();
            format!(
                "'{}@{}'={value};{};{};0;",
                r.policy,
                r.server_id,
                limit(r.warn_after_seconds),
                limit(r.crit_after_seconds)
            )
        })
        .collect();
    perf.push(format!("orphans={orphans};;;0;"));
    let mut out = format!("SNAPKEEP {word} - {summary} | {}\n", perf.join(" "));
    let _ = writeln!(
        out,
        "{crit} critical, {warn} warning, {ok} ok, {paused} paused; {orphans} orphan{}",
        if orphans == 1 { "" } else { "s" }
    );
    let mut sorted: Vec<&Row> = rows.iter().collect();
    // Problems first, the worst first; paused last.
    sorted.sort_by_key(|r| match r.health {
        Health::Critical => 0,
        Health::Warning => 1,
        Health::Ok => 2,
        Health::Paused => 3,
    });
    for r in sorted {
        let state = match r.health {
            Health::Critical => "CRITICAL",
            Health::Warning => "WARNING",
            Health::Ok => "OK",
            Health::Paused => "PAUSED",
        };
        let _ = writeln!(out, "{state} {}: {}", pair(r), problem(r));
    }
    if orphans > 0 {
        let _ = writeln!(
            out,
            "{orphans} orphaned item{} no policy prunes: see snapkeep status, snapkeep prune-orphans",
            if orphans == 1 { "" } else { "s" }
        );
    }
    (out, code)
}

/// `nightly on 12345 (web-01)`.
fn pair(r: &Row) -> String {
    if r.server_name.is_empty() {
        format!("{} on {}", r.policy, r.server_id)
    } else {
        format!("{} on {} ({})", r.policy, r.server_id, r.server_name)
    }
}

/// What the row's health is about, in words.
fn problem(r: &Row) -> String {
    let age = r
        .newest_age_seconds
        .map(|a| compact_duration(std::time::Duration::from_secs(a.max(0) as u64)));
    let secs = |s: Option<u64>| s.map(|s| compact_duration(std::time::Duration::from_secs(s)));
    match (r.health, age) {
        (Health::Paused, age) => format!(
            "paused (enabled = false){}",
            age.map(|a| format!("; newest {} {a} old", r.kind))
                .unwrap_or_default()
        ),
        (Health::Critical, Some(age)) => format!(
            "newest {} {age} old, over crit_after {}",
            r.kind,
            secs(r.crit_after_seconds).unwrap_or_default()
        ),
        (Health::Warning, Some(age)) => format!(
            "newest {} {age} old, over warn_after {}",
            r.kind,
            secs(r.warn_after_seconds).unwrap_or_default()
        ),
        (_, None) => format!("no completed {}", r.kind),
        (_, Some(age)) => match (secs(r.warn_after_seconds), secs(r.crit_after_seconds)) {
            (Some(w), Some(c)) => format!("newest {} {age} old (warn {w}, crit {c})", r.kind),
            _ => format!("newest {} {age} old", r.kind),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Status;
    use crate::inventory::Item;
    use crate::provider::Kind;
    use chrono::{TimeDelta, TimeZone};
    use std::collections::HashMap;

    fn item(id: u64, server_id: u64, label: &str, at: DateTime<Utc>) -> Item {
        Item {
            id,
            server_id,
            server_name: if server_id == 1 {
                "web-01".into()
            } else {
                String::new()
            },
            label: label.into(),
            status: Status::Completed,
            created_at: at,
            size_bytes: None,
        }
    }

    const CONFIG: &str = r#"
[[policy]]
name = "daily"
kind = "snapshot"
servers = [1, 2]
schedule = "0 3 * * *"
keep_last = 2
[[policy]]
name = "hourly"
kind = "backup"
servers = [1]
schedule = "0 * * * *"
keep_last = 3
warn_after = "90m"
crit_after = "3h"
[[policy]]
name = "old"
kind = "backup"
servers = [1]
schedule = "0 4 * * *"
keep_last = 1
enabled = false
"#;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 10, 12, 0, 0).unwrap()
    }

    fn inventories(hourly_age_hours: i64, server2: bool) -> Inventories {
        let t = |h: i64| now() - TimeDelta::hours(h);
        let hourly_slot = t(hourly_age_hours);
        let mut snaps =
            HashMap::from([(1, vec![item(1, 1, "snapkeep-daily-20250110-030000", t(9))])]);
        if server2 {
            snaps.insert(2, vec![item(2, 2, "snapkeep-daily-20250110-030000", t(9))]);
        }
        let backups = HashMap::from([(
            1,
            vec![
                item(
                    10,
                    1,
                    &format!(
                        "snapkeep:hourly:{}",
                        hourly_slot.format("%Y-%m-%dT%H:%M:%SZ")
                    ),
                    hourly_slot,
                ),
                item(11, 1, "snapkeep:gone:2025-01-01T00:00:00Z", t(200)),
            ],
        )]);
        HashMap::from([(Kind::Snapshot, snaps), (Kind::Backup, backups)])
    }

    #[test]
    fn ok_names_counts_and_paused() {
        let config = crate::config::parse_str(CONFIG, "t").unwrap();
        let (text, code) = render(&config, &inventories(1, true), now());
        assert_eq!(code, OK);
        assert_eq!(
            text,
            "SNAPKEEP OK - 3 of 3 (server, policy) pairs have a recent completed item; 1 paused | 'daily@1'=32400s;129600;172800;0; 'daily@2'=32400s;129600;172800;0; 'hourly@1'=3600s;5400;10800;0; 'old@1'=U;129600;172800;0; orphans=1;;;0;
0 critical, 0 warning, 3 ok, 1 paused; 1 orphan
OK daily on 1 (web-01): newest snapshot 9h old (warn 1d 12h, crit 2d)
OK daily on 2: newest snapshot 9h old (warn 1d 12h, crit 2d)
OK hourly on 1 (web-01): newest backup 1h old (warn 1h 30m, crit 3h)
PAUSED old on 1 (web-01): paused (enabled = false)
1 orphaned item no policy prunes: see snapkeep status, snapkeep prune-orphans
"
        );
    }

    #[test]
    fn warning_and_critical_name_the_worst_pairs() {
        let config = crate::config::parse_str(CONFIG, "t").unwrap();
        let (text, code) = render(&config, &inventories(2, true), now());
        assert_eq!(code, WARNING);
        assert!(
            text.starts_with(
                "SNAPKEEP WARNING - hourly on 1 (web-01): newest backup 2h old, over warn_after 1h 30m | "
            ),
            "{text}"
        );
        let (text, code) = render(&config, &inventories(2, false), now());
        assert_eq!(code, CRITICAL);
        assert!(
            text.starts_with("SNAPKEEP CRITICAL - daily on 2: no completed snapshot; 1 warning | "),
            "{text}"
        );
        assert!(
            text.contains("\nCRITICAL daily on 2: no completed snapshot\nWARNING hourly"),
            "{text}"
        );
        let (text, _) = render(&config, &inventories(4, false), now());
        assert!(
            text.starts_with("SNAPKEEP CRITICAL - daily on 2: no completed snapshot; hourly on 1 (web-01): newest backup 4h old, over crit_after 3h | "),
            "{text}"
        );
    }

    #[test]
    fn errors_are_unknown() {
        assert_eq!(
            unknown("t.toml:3:1: policy.kind: bad\nt.toml:4:1: policy.x: | worse"),
            "SNAPKEEP UNKNOWN - t.toml:3:1: policy.kind: bad\nt.toml:4:1: policy.x: / worse\n"
        );
    }
}
