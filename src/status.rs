//! The status model: what each (server, policy) holds, how it is doing,
//! and the orphans, from one account-wide listing — pure bookkeeping with
//! `now` injected. `snapkeep status` prints it (a table, or `--json`), and
//! the daemon serves it on its listener (`GET /status.json`, and `GET /` as
//! a page, `status_page`); it lives below both so the daemon can build it
//! without importing a command (ARCHITECTURE.md, Layers).
//!
//! One listing per kind for the whole account (as a pass does, and wide
//! enough to see orphans on servers no policy names), then counts, the
//! newest completed item's age, what the next pass would prune and why, the
//! next fire time, paused policies, protected items, orphans, and a stale
//! flag when the newest completed item is older than the policy's
//! `crit_after` (default twice the schedule's interval) or there is none —
//! the "backups silently stopped months ago" alarm.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::api::{ApiError, Client};
use crate::config::{Clients, Config, DEFAULT_ACCOUNT};
use crate::inventory::{self, Item};
use crate::job::rules::{self, FirstReason, View};
use crate::job::{self, Holdings};
use crate::metrics::RetryState;
use crate::naming;
use crate::orphans::{self, Orphan};
use crate::provider::Kind;
use crate::retention;

/// Everything `status` shows: one row per (server, policy), then orphans.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) pairs: Vec<Row>,
    pub(crate) orphans: Vec<OrphanRow>,
    /// Per account, what our completed items store (each pair's is in its
    /// `ours.stored_bytes`).
    pub(crate) stored: Vec<AccountStored>,
}

/// What one account's servers store in items of our policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct AccountStored {
    pub(crate) account: String,
    pub(crate) bytes: u64,
    /// Completed items without a stated size (`bytes` is then a lower bound).
    pub(crate) without_size: usize,
    pub(crate) servers: Vec<ServerStored>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ServerStored {
    pub(crate) server_id: u64,
    pub(crate) server_name: String,
    pub(crate) bytes: u64,
    pub(crate) without_size: usize,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    /// The account the server is in (`default` for an `[api]`-only config).
    pub(crate) account: String,
    pub(crate) server_id: u64,
    pub(crate) server_name: String,
    pub(crate) policy: String,
    pub(crate) kind: &'static str,
    pub(crate) ours: Holdings,
    pub(crate) newest_completed: Option<DateTime<Utc>>,
    pub(crate) newest_age_seconds: Option<i64>,
    /// RFC 3339 with the policy zone's offset.
    pub(crate) next_fire: Option<String>,
    /// `MM-DD HH:MM ZONE`, for the table and the page.
    #[serde(skip)]
    pub(crate) next_fire_short: Option<String>,
    /// `enabled = false`: not fired, nothing pruned, never stale.
    pub(crate) paused: bool,
    /// `ok`, `warning` (older than warn_after), `critical` (older than
    /// crit_after, or no completed item) or `paused`.
    pub(crate) health: Health,
    /// The thresholds health was judged by (absent when the schedule has
    /// no interval and none is configured).
    pub(crate) warn_after_seconds: Option<u64>,
    pub(crate) crit_after_seconds: Option<u64>,
    /// `health == critical`, kept for scripts that read it.
    pub(crate) stale: bool,
    pub(crate) would_delete: Vec<Planned>,
    /// Items on the server listed in the policy's `protect`.
    pub(crate) protected: Vec<Listed>,
    /// When the cap, shared with what this policy may not delete, holds it
    /// below its keep rules here: the sentence a pass logs
    /// (`job::shortfall_note`); the numbers are in `ours`.
    pub(crate) shared_cap: Option<String>,
    /// The daemon fires this slot again (asked from its `/retries` when
    /// `[metrics] listen` is set and it answers).
    pub(crate) retry: Option<RetryState>,
}

/// How a (server, policy) pair is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Health {
    Ok,
    Paused,
    Warning,
    Critical,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Planned {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) reasons: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Listed {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) status: String,
}

/// One orphan, as `status` and `prune-orphans` show it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OrphanRow {
    /// The account whose listing showed it.
    pub(crate) account: String,
    pub(crate) server_id: u64,
    pub(crate) server_name: String,
    pub(crate) kind: &'static str,
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) status: String,
    /// The policy name its label carries.
    pub(crate) policy: String,
    pub(crate) slot: DateTime<Utc>,
    /// Why no configured policy prunes it.
    pub(crate) reason: String,
    pub(crate) protected: bool,
    /// Its group (prefix, policy, server) made an item within
    /// `orphan_grace`: possibly another config's; left unless `--include-live`.
    pub(crate) live: bool,
    /// Age of its group's newest item, in seconds.
    pub(crate) group_age_seconds: i64,
    /// Its group's newest completed item: left unless `--all`.
    pub(crate) newest_completed: bool,
}

impl OrphanRow {
    /// For a live group: why it is left alone (see `Orphan::live_note`).
    pub(crate) fn live_note(&self) -> Option<String> {
        self.live
            .then(|| orphans::live_note(chrono::TimeDelta::seconds(self.group_age_seconds)))
    }
}

impl From<&Orphan> for OrphanRow {
    fn from(o: &Orphan) -> OrphanRow {
        OrphanRow {
            account: DEFAULT_ACCOUNT.to_owned(),
            server_id: o.item.server_id,
            server_name: o.item.server_name.clone(),
            kind: o.kind.as_str(),
            id: o.item.id,
            name: o.item.label.clone(),
            status: o.item.status.as_str().to_owned(),
            policy: o.policy.clone(),
            slot: o.slot,
            reason: o.why(),
            protected: o.protected,
            live: o.live,
            group_age_seconds: o.group_age.num_seconds(),
            newest_completed: o.newest_completed,
        }
    }
}

/// Each kind's items, by server.
pub(crate) type Inventories = HashMap<Kind, HashMap<u64, Vec<Item>>>;

/// Lists both kinds for the whole account: policies' servers and any other
/// server that may hold orphans.
pub(crate) async fn fetch_all(client: &Client) -> Result<Inventories, (Kind, ApiError)> {
    let mut inventories = HashMap::new();
    for kind in Kind::ALL {
        let items = inventory::fetch(client, kind, &[])
            .await
            .map_err(|e| (kind, e))?;
        inventories.insert(kind, inventory::by_server(items));
    }
    Ok(inventories)
}

/// Puts each pending retry on its (server, policy) row.
pub(crate) fn attach_retries(rows: &mut [Row], retries: &[RetryState]) {
    for row in rows {
        row.retry = retries
            .iter()
            .find(|r| r.server_id == row.server_id && r.policy == row.policy)
            .cloned();
    }
}

/// Pure: rows and orphans of a one-account config; `now` injected.
pub(crate) fn report(config: &Config, inventories: &Inventories, now: DateTime<Utc>) -> Report {
    let pairs = rows(config, inventories, now);
    let account = config
        .accounts
        .first()
        .map_or(DEFAULT_ACCOUNT, |a| a.name.as_str());
    Report {
        stored: vec![stored(account, &pairs)],
        pairs,
        orphans: find_orphans(config, inventories, now)
            .iter()
            .map(|o| OrphanRow {
                account: account.to_owned(),
                ..OrphanRow::from(o)
            })
            .collect(),
    }
}

/// Each account's listing, by account name.
pub(crate) type AccountInventories = Vec<(String, Inventories)>;

/// Lists every account (as [`fetch_all`] does one); the first failure,
/// with its account, stops it.
pub(crate) async fn fetch_accounts(
    clients: &Clients,
) -> Result<AccountInventories, (String, Kind, ApiError)> {
    let mut out = Vec::new();
    for (account, client) in clients.iter() {
        let inventories = fetch_all(client)
            .await
            .map_err(|(kind, e)| (account.to_owned(), kind, e))?;
        out.push((account.to_owned(), inventories));
    }
    Ok(out)
}

/// Pure: [`report`] for each account, each judged by its own policies
/// only (an item of account a is never weighed against a policy of
/// account b, also when both have server 7), in the config's order.
pub(crate) fn report_accounts(
    config: &Config,
    listings: &AccountInventories,
    now: DateTime<Utc>,
) -> Report {
    let mut out = Report {
        pairs: Vec::new(),
        orphans: Vec::new(),
        stored: Vec::new(),
    };
    for (account, inventories) in listings {
        let part = report(&config.for_account(account), inventories, now);
        out.pairs.extend(part.pairs);
        out.orphans.extend(part.orphans);
        out.stored.extend(part.stored);
    }
    out
}

/// `account`'s stored bytes: each server's pairs summed, servers in the
/// order they first appear.
pub(crate) fn stored(account: &str, rows: &[Row]) -> AccountStored {
    let mut servers: Vec<ServerStored> = Vec::new();
    for r in rows {
        let at = match servers.iter().position(|s| s.server_id == r.server_id) {
            Some(at) => at,
            None => {
                servers.push(ServerStored {
                    server_id: r.server_id,
                    server_name: r.server_name.clone(),
                    bytes: 0,
                    without_size: 0,
                });
                servers.len() - 1
            }
        };
        let s = &mut servers[at];
        s.bytes = s.bytes.saturating_add(r.ours.stored_bytes);
        s.without_size += r.ours.without_size as usize;
    }
    servers.sort_by_key(|s| s.server_id);
    AccountStored {
        account: account.to_owned(),
        bytes: servers.iter().fold(0, |t, s| t.saturating_add(s.bytes)),
        without_size: servers.iter().map(|s| s.without_size).sum(),
        servers,
    }
}

/// Every orphan in the inventories, by server then kind then id, with its
/// group's facts at `now`.
pub(crate) fn find_orphans(
    config: &Config,
    inventories: &Inventories,
    now: DateTime<Utc>,
) -> Vec<Orphan> {
    let mut out = Vec::new();
    for kind in Kind::ALL {
        for items in inventories.get(&kind).into_iter().flat_map(|m| m.values()) {
            out.extend(orphans::find(config, kind, items, now));
        }
    }
    out.sort_by_key(|o| (o.item.server_id, o.kind, o.item.id));
    out
}

/// Pure: one row per (server, policy); `now` injected.
pub(crate) fn rows(config: &Config, inventories: &Inventories, now: DateTime<Utc>) -> Vec<Row> {
    let mut out = Vec::new();
    let empty = Vec::new();
    for (index, policy) in config.policies.iter().enumerate() {
        for &server_id in &policy.servers {
            let items = inventories
                .get(&policy.kind)
                .and_then(|m| m.get(&server_id))
                .unwrap_or(&empty);
            out.push(row(config, index, server_id, items, now));
        }
    }
    out
}

/// The row of `config.policies[index]` on `server_id`, which holds `items`.
fn row(config: &Config, index: usize, server_id: u64, items: &[Item], now: DateTime<Utc>) -> Row {
    let policy = &config.policies[index];
    let ours = job::holdings(policy, &config.policies, items);
    let next = policy.schedule.next_after(now);
    // Nothing of a paused policy is pruned.
    let would_delete = if policy.enabled {
        would_delete(View::new(policy, &config.policies), items, next, now)
    } else {
        Vec::new()
    };
    let thresholds = policy.alert_thresholds(now);
    let age = ours.newest_completed.map(|t| now - t);
    let health = health(policy.enabled, age, thresholds);
    let server_name = items
        .iter()
        .map(|i| i.server_name.clone())
        .find(|n| !n.is_empty())
        .unwrap_or_default();
    let shared_cap = job::shortfall_note(
        policy,
        &ours,
        &if server_name.is_empty() {
            format!("server {server_id}")
        } else {
            server_name.clone()
        },
    );
    let next = next.map(|t| t.with_timezone(&policy.schedule.timezone()));
    Row {
        account: policy.account.clone(),
        server_id,
        server_name,
        policy: policy.name.clone(),
        kind: policy.kind.as_str(),
        newest_age_seconds: age.map(|a| a.num_seconds()),
        newest_completed: ours.newest_completed,
        next_fire: next.map(|t| t.to_rfc3339()),
        next_fire_short: next.map(|t| t.format("%m-%d %H:%M %Z").to_string()),
        paused: !policy.enabled,
        health,
        warn_after_seconds: thresholds.map(|t| t.warn.as_secs()),
        crit_after_seconds: thresholds.map(|t| t.crit.as_secs()),
        stale: health == Health::Critical,
        would_delete,
        protected: protected_items(config, index, server_id, items),
        shared_cap,
        retry: None,
        ours,
    }
}

/// What the next pass (for the slot `next`, or one after `now`) would
/// delete of `items`, in the order it would: rule 3 (failed first, second
/// items of earlier slots), then rule 6 on what is left — the job's own
/// decisions (`job::rules`). Making room (rule 4) depends on that pass's
/// create and is not shown.
fn would_delete(
    view: View<'_>,
    items: &[Item],
    next: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<Planned> {
    let first = rules::failed_first(view, items, next.unwrap_or(now));
    let left: Vec<Item> = items
        .iter()
        .filter(|i| !first.iter().any(|(f, _)| f.id == i.id))
        .cloned()
        .collect();
    let planned = |item: &Item, reasons: Vec<&'static str>| Planned {
        id: item.id,
        name: item.label.clone(),
        reasons,
    };
    let first = first.iter().map(|(item, why)| {
        let reason = match why {
            FirstReason::Failed => retention::Rule::Failed.as_str(),
            FirstReason::Duplicate { .. } => "duplicate",
        };
        planned(item, vec![reason])
    });
    let pruned = rules::prune(view, &left, now);
    let pruned = pruned
        .iter()
        .map(|(item, rules)| planned(item, rules.iter().map(|r| r.as_str()).collect()));
    first.chain(pruned).collect()
}

/// How a pair is doing: its newest completed item's `age` against the
/// policy's thresholds; none at all is critical; paused is paused.
fn health(
    enabled: bool,
    age: Option<chrono::TimeDelta>,
    thresholds: Option<crate::config::AlertThresholds>,
) -> Health {
    let older_than = |limit: std::time::Duration| {
        age.is_some_and(|age| chrono::Duration::from_std(limit).is_ok_and(|limit| age > limit))
    };
    match (enabled, age, thresholds) {
        (false, _, _) => Health::Paused,
        (true, None, _) => Health::Critical,
        (true, Some(_), Some(t)) if older_than(t.crit) => Health::Critical,
        (true, Some(_), Some(t)) if older_than(t.warn) => Health::Warning,
        (true, Some(_), _) => Health::Ok,
    }
}

/// The protected items this row lists (each protected item is listed on
/// one row only: [`protected_row`]).
fn protected_items(config: &Config, index: usize, server_id: u64, items: &[Item]) -> Vec<Listed> {
    let kind = config.policies[index].kind;
    let mut protected: Vec<Listed> = items
        .iter()
        .filter(|i| {
            config.is_protected(i.id, kind)
                && protected_row(config, kind, server_id, i) == Some(index)
        })
        .map(|i| Listed {
            id: i.id,
            name: i.label.clone(),
            status: i.status.as_str().to_owned(),
        })
        .collect();
    protected.sort_by_key(|l| l.id);
    protected
}

/// The one policy whose row lists protected `item` (on `server`), so
/// `status` shows it once although any policy's `protect` protects it for
/// all: the policy whose name it carries, else the first that lists it in
/// `protect`, else the first of its kind on the server.
fn protected_row(config: &Config, kind: Kind, server: u64, item: &Item) -> Option<usize> {
    let on_server = || {
        config
            .policies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kind == kind && p.servers.contains(&server))
    };
    on_server()
        .find(|(_, p)| naming::owned_slot(kind, &p.prefix, &p.name, &item.label).is_some())
        .or_else(|| on_server().find(|(_, p)| p.lists_protected(item.id)))
        .or_else(|| on_server().next())
        .map(|(index, _)| index)
}

/// Bytes for people, in binary units as VPS.org's `size_mb` is:
/// `0 B`, `512.0 MiB`, `10.0 GiB`, `1.5 TiB`.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// One account-wide listing, kept by the daemon for its status page: the
/// report is built from it on each request ([`Listing::report`]), so ages,
/// health and the next fire are as of the request while the items are as
/// of `at`.
#[derive(Debug)]
pub(crate) struct Listing {
    /// The config the listing was judged by (a reload owes a new listing).
    pub(crate) config: Arc<Config>,
    /// Each account's listing.
    pub(crate) inventories: AccountInventories,
    /// When the listing was taken.
    pub(crate) at: DateTime<Utc>,
}

impl Listing {
    /// The same report `snapkeep status --json` prints, at `now`, with the
    /// daemon's pending `retries` on their rows.
    pub(crate) fn report(&self, now: DateTime<Utc>, retries: &[RetryState]) -> Report {
        let mut report = report_accounts(&self.config, &self.inventories, now);
        attach_retries(&mut report.pairs, retries);
        report
    }
}

/// Where the daemon keeps its latest [`Listing`] for the status page, and
/// whether it owes a new one. Serving a page reads the latest copy and never
/// calls the provider; the daemon lists the account when one is owed (at
/// start, after a pass, after a reload, after a failed listing) and its
/// minimum interval has passed (`daemon`).
#[derive(Debug)]
pub(crate) struct Board {
    latest: RwLock<Option<Arc<Listing>>>,
    owed: AtomicBool,
}

impl Default for Board {
    /// Empty, and owing its first listing.
    fn default() -> Board {
        Board {
            latest: RwLock::new(None),
            owed: AtomicBool::new(true),
        }
    }
}

impl Board {
    /// Something changed (a pass ended, the config was reloaded, a listing
    /// failed): list the account again when it is time.
    pub(crate) fn owe(&self) {
        self.owed.store(true, Ordering::Relaxed);
    }

    pub(crate) fn owed(&self) -> bool {
        self.owed.load(Ordering::Relaxed)
    }

    /// Takes the debt: true when a listing was owed.
    pub(crate) fn take_owed(&self) -> bool {
        self.owed.swap(false, Ordering::Relaxed)
    }

    pub(crate) fn publish(&self, listing: Listing) {
        *self.latest.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(listing));
    }

    /// The latest listing, if one was taken yet.
    pub(crate) fn latest(&self) -> Option<Arc<Listing>> {
        self.latest
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
pub(crate) mod tests;
