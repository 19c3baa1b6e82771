//! `snapkeep simulate`: see what a policy's rules keep before trusting them.
//!
//! "Pruning deleted almost everything" is the bug report every rotation tool
//! gets, and it is almost always the rules doing exactly what they say. This
//! plays a policy's schedule forward over N days on one server, assuming
//! every create succeeds and nothing else is on the server, and shows day
//! by day what is created, kept and deleted, and why. It runs the very
//! rules a pass runs — the schedule's fire times, and `job::rules` (room at
//! the cap, the shared cap, pruning) sequenced as a job and a pass sequence
//! them (`play`) — on items named as a pass names them, and
//! `pass::simulate_tests` holds its answers to real passes'. Nothing here
//! decides anything itself; no token, no network.
//!
//! `--html FILE` draws the same simulation as a calendar (`html`), and
//! compares policies side by side when `--policy` is given more than once.
//! With `--size-mb` it also estimates what the policy costs in storage:
//! the most items held at once and what is held at the end, times the size.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, NaiveDate, SecondsFormat, SubsecRound, TimeDelta, Utc};
use serde::Serialize;

use crate::cli::SimulateArgs;
use crate::clock::compact_duration;
use crate::config::{self, Config, Policy};
use crate::error::AppError;
use crate::status::size;

/// Longest simulation, in days (ten years).
pub(crate) const MAX_DAYS: u32 = 3660;

/// Most slots one simulation plays: an hourly schedule for ten years fits;
/// one that fires every second would take minutes and show nothing useful.
pub(crate) const MAX_SLOTS: usize = 100_000;

pub(crate) fn run(path: &Path, args: &SimulateArgs) -> Result<u8, AppError> {
    let config = config::load(path)?;
    let from = super::from_arg(args.from.as_deref())?;
    if args.policies.len() > 1 && args.html.is_none() {
        return Err(AppError::Usage(format!(
            "--policy given {} times: several policies are compared side by side with --html FILE; the text and --json show one",
            args.policies.len()
        )));
    }
    let sims = args
        .policies
        .iter()
        .map(|name| {
            let mut sim = simulate(&config, name, from, args.days)?;
            sim.storage = args.size_mb.map(|mb| Storage::of(&sim, mb));
            Ok(sim)
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    if let Some(file) = &args.html {
        let page = html::render(&sims);
        std::fs::write(file, &page)
            .map_err(|e| AppError::io(format!("cannot write {}", file.display()), e))?;
        println!(
            "wrote {}: {} day{} of {} ({} KB)",
            file.display(),
            args.days,
            if args.days == 1 { "" } else { "s" },
            args.policies.join(" and "),
            page.len().div_ceil(1024)
        );
    } else if args.json {
        for sim in &sims {
            println!(
                "{}",
                serde_json::to_string_pretty(sim).expect("plain data serialises")
            );
        }
    } else {
        for sim in &sims {
            print!("{}", render(sim));
        }
    }
    Ok(0)
}

/// One simulation, as printed (`--json` prints this).
#[derive(Debug, Serialize)]
pub(crate) struct Simulation {
    pub(crate) policy: String,
    pub(crate) kind: &'static str,
    pub(crate) schedule: String,
    #[serde(skip)]
    schedule_words: String,
    pub(crate) timezone: String,
    /// The zone `timezone` names, for the text and the page's local days.
    #[serde(skip)]
    zone: crate::zone::Zone,
    /// The keep rules in words: `2 last + 2 daily + 1 weekly`.
    pub(crate) keeps: String,
    /// `enabled = false` in the config (simulated as if enabled).
    pub(crate) paused: bool,
    /// The server simulated (the policy's first); every one of its servers
    /// would hold the same.
    pub(crate) server_id: u64,
    pub(crate) servers: usize,
    /// Other policies of this kind on that server, which this simulation
    /// leaves out.
    pub(crate) sharing_server: Vec<Sharing>,
    pub(crate) from: DateTime<Utc>,
    pub(crate) to: DateTime<Utc>,
    pub(crate) days: u32,
    /// The provider's cap for this kind, per server.
    pub(crate) cap: usize,
    pub(crate) slots: usize,
    pub(crate) created: usize,
    pub(crate) deleted: usize,
    /// Slots whose create a pass would refuse (at the cap, nothing to drop).
    pub(crate) refused: usize,
    /// Most items held at once (right after a create).
    pub(crate) max_held: usize,
    /// Creates that first had to delete an item to make room at the cap.
    pub(crate) room_deletes: usize,
    /// Days with at least one slot, in the policy's time zone.
    pub(crate) timeline: Vec<Day>,
    /// What is kept when the simulation ends, newest first.
    pub(crate) kept_at_end: Vec<Kept>,
    pub(crate) oldest: Option<Aged>,
    pub(crate) newest: Option<Aged>,
    /// `--size-mb`: the storage estimate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) storage: Option<Storage>,
}

/// What a policy stores if every item is `size_mb` (`--size-mb`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Storage {
    pub(crate) size_mb: f64,
    /// Per server: the most items held at once (right after a create,
    /// before pruning) and their bytes.
    pub(crate) peak_items: usize,
    pub(crate) peak_bytes: u64,
    /// Per server: what is held at the end of the simulation, when the
    /// rules have reached back as far as they keep (simulate more days for
    /// rules that keep months or years).
    pub(crate) steady_items: usize,
    pub(crate) steady_bytes: u64,
    /// The same on all of the policy's servers.
    pub(crate) servers: usize,
    pub(crate) all_servers_peak_bytes: u64,
    pub(crate) all_servers_steady_bytes: u64,
}

impl Storage {
    pub(crate) fn of(sim: &Simulation, size_mb: f64) -> Storage {
        let bytes = |items: usize| {
            crate::inventory::mb_to_bytes(Some(size_mb * items as f64)).unwrap_or_default()
        };
        let steady_items = sim.kept_at_end.len();
        Storage {
            size_mb,
            peak_items: sim.max_held,
            peak_bytes: bytes(sim.max_held),
            steady_items,
            steady_bytes: bytes(steady_items),
            servers: sim.servers,
            all_servers_peak_bytes: bytes(sim.max_held * sim.servers),
            all_servers_steady_bytes: bytes(steady_items * sim.servers),
        }
    }
}

/// Another policy that shares the simulated server's cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Sharing {
    pub(crate) policy: String,
    /// How many items it keeps there at most.
    pub(crate) max_kept: usize,
}

#[derive(Debug, Serialize)]
pub(crate) struct Day {
    pub(crate) date: NaiveDate,
    pub(crate) created: Vec<DateTime<Utc>>,
    pub(crate) deleted: Vec<Deleted>,
    pub(crate) refused: Vec<DateTime<Utc>>,
    /// Kept at the end of the day, newest first, with the rules that keep them.
    pub(crate) kept: Vec<Kept>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Deleted {
    pub(crate) slot: DateTime<Utc>,
    /// The retention rules that decided (`no-rule`, `over-cap`, ...), or
    /// `room` when it went to make room for a create at the cap.
    pub(crate) rules: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Kept {
    pub(crate) slot: DateTime<Utc>,
    pub(crate) rules: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Aged {
    pub(crate) slot: DateTime<Utc>,
    pub(crate) age_seconds: i64,
}

/// Plays `policy_name` forward `days` days from `from`. Pure.
pub(crate) fn simulate(
    config: &Config,
    policy_name: &str,
    from: DateTime<Utc>,
    days: u32,
) -> Result<Simulation, AppError> {
    let policy = find_policy(config, policy_name)?;
    let (from, to) = span(from, days)?;
    let fire_times = fire_times(policy, from, to, days)?;
    let server_id = policy.servers.first().copied().unwrap_or_default();
    // Alone on its server: simulated ids are not the account's, so
    // nothing is protected; a paused policy is played as if enabled.
    let mut alone = policy.clone();
    alone.protect.clear();
    alone.enabled = true;
    let alone = [alone];
    let mut server = play::Server::new(server_id, Vec::new());
    let mut tally = Tally::default();
    for slot in fire_times {
        for played in play::pass(&alone, &mut server, &[(0, slot)], slot) {
            tally.record(policy, slot, &played, server.items.len());
        }
    }
    Ok(tally.into_simulation(config, policy, from, to, days))
}

/// `--policy NAME`: the policy, or a usage error naming the known ones.
fn find_policy<'c>(config: &'c Config, name: &str) -> Result<&'c Policy, AppError> {
    config
        .policies
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            let known: Vec<&str> = config.policies.iter().map(|p| p.name.as_str()).collect();
            AppError::Usage(format!(
                "--policy {name}: no such policy in {}; policies: {}",
                config.origin,
                known.join(", ")
            ))
        })
}

/// `--from` (to the second) and `--days`: the time simulated.
fn span(from: DateTime<Utc>, days: u32) -> Result<(DateTime<Utc>, DateTime<Utc>), AppError> {
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(AppError::Usage(format!(
            "--days {days}: simulate between 1 and {MAX_DAYS} days"
        )));
    }
    let from = from.trunc_subsecs(0);
    let to = from
        .checked_add_signed(TimeDelta::days(i64::from(days)))
        .ok_or_else(|| {
            AppError::Usage(format!(
                "--from {} plus {days} days is past the end of time; start earlier",
                from.to_rfc3339()
            ))
        })?;
    Ok((from, to))
}

/// The policy's fire times in `[from, to)`; a usage error past [`MAX_SLOTS`].
fn fire_times(
    policy: &Policy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    days: u32,
) -> Result<impl Iterator<Item = DateTime<Utc>> + Clone + '_, AppError> {
    let fire_times = std::iter::successors(policy.schedule.next_from(from, true), |t| {
        policy.schedule.next_after(*t)
    })
    .take_while(move |t| *t < to);
    // A quick estimate first: counting millions of fire times is slow too.
    let estimate = policy
        .schedule
        .interval_at(from)
        .filter(|i| i.num_seconds() > 0)
        .map_or(0, |i| (to - from).num_seconds() / i.num_seconds());
    if estimate > 2 * MAX_SLOTS as i64 || fire_times.clone().nth(MAX_SLOTS).is_some() {
        return Err(AppError::Usage(format!(
            "policy {}'s schedule fires more than {MAX_SLOTS} times in {days} days; simulate fewer --days",
            policy.name
        )));
    }
    Ok(fire_times)
}

/// The simulation's counts and days as the slots are played.
#[derive(Default)]
struct Tally {
    slots: usize,
    created: usize,
    deleted: usize,
    refused: usize,
    max_held: usize,
    room_deletes: usize,
    timeline: BTreeMap<NaiveDate, Day>,
}

impl Tally {
    /// One slot's job; `held` is what the server holds after it.
    fn record(&mut self, policy: &Policy, slot: DateTime<Utc>, played: &play::Played, held: usize) {
        let date = slot.with_timezone(&policy.schedule.timezone()).date_naive();
        let day = self.timeline.entry(date).or_insert_with(|| Day {
            date,
            created: Vec::new(),
            deleted: Vec::new(),
            refused: Vec::new(),
            kept: Vec::new(),
        });
        self.slots += 1;
        for (gone, why) in &played.deleted {
            day.deleted.push(Deleted {
                slot: gone.created_at,
                rules: why.labels(),
            });
            self.deleted += 1;
            self.room_deletes += usize::from(why.is_room());
        }
        if played.refused {
            day.refused.push(slot);
            self.refused += 1;
        } else if played.created.is_some() {
            day.created.push(slot);
            self.created += 1;
            // Most held right after the create, before pruning.
            let pruned = played.deleted.iter().filter(|(_, w)| !w.is_room()).count();
            self.max_held = self.max_held.max(held + pruned);
        }
        day.kept = played
            .kept
            .iter()
            .map(|d| Kept {
                slot: d.time,
                rules: d.reasons.iter().map(|r| r.as_str()).collect(),
            })
            .collect();
    }

    fn into_simulation(
        self,
        config: &Config,
        policy: &Policy,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        days: u32,
    ) -> Simulation {
        let server_id = policy.servers.first().copied().unwrap_or_default();
        let kept_at_end = self
            .timeline
            .values()
            .next_back()
            .map(|d| d.kept.clone())
            .unwrap_or_default();
        let aged = |k: &Kept| Aged {
            slot: k.slot,
            age_seconds: (to - k.slot).num_seconds(),
        };
        Simulation {
            policy: policy.name.clone(),
            kind: policy.kind.as_str(),
            schedule: policy.schedule.expression().to_owned(),
            schedule_words: policy.schedule.describe(),
            timezone: policy.schedule.timezone().name().to_owned(),
            zone: policy.schedule.timezone(),
            keeps: keeps_text(policy),
            paused: !policy.enabled,
            server_id,
            servers: policy.servers.len(),
            sharing_server: sharing(config, policy, server_id),
            from,
            to,
            days,
            cap: policy.kind.cap(),
            slots: self.slots,
            created: self.created,
            deleted: self.deleted,
            refused: self.refused,
            max_held: self.max_held,
            room_deletes: self.room_deletes,
            timeline: self.timeline.into_values().collect(),
            oldest: kept_at_end.last().map(aged),
            newest: kept_at_end.first().map(aged),
            kept_at_end,
            storage: None,
        }
    }
}

/// Other policies of the kind on `server_id`, which share its cap.
fn sharing(config: &Config, policy: &Policy, server_id: u64) -> Vec<Sharing> {
    config
        .policies
        .iter()
        .filter(|p| {
            p.kind == policy.kind && p.name != policy.name && p.servers.contains(&server_id)
        })
        .map(|p| Sharing {
            policy: p.name.clone(),
            max_kept: p.max_kept,
        })
        .collect()
}

fn keeps_text(p: &Policy) -> String {
    p.keep.parts().join(" + ")
}

/// The text for people.
pub(crate) fn render(sim: &Simulation) -> String {
    let text = Text::of(sim);
    let mut out = String::new();
    text.header(&mut out);
    for day in &sim.timeline {
        text.day(&mut out, day);
    }
    text.totals(&mut out);
    text.kept_and_storage(&mut out);
    out
}

/// What the text's parts share: the simulation and its time zone.
struct Text<'s> {
    sim: &'s Simulation,
    tz: crate::zone::Zone,
    /// `snapshots` or `manual backups`.
    kinds: &'static str,
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Text<'_> {
    fn of(sim: &Simulation) -> Text<'_> {
        Text {
            sim,
            tz: sim.zone,
            kinds: if sim.kind == "snapshot" {
                "snapshots"
            } else {
                "manual backups"
            },
        }
    }

    fn local(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    /// The policy, the server and the time simulated.
    fn header(&self, out: &mut String) {
        let sim = self.sim;
        let _ = writeln!(
            out,
            "policy {}: {} {} (\"{}\"), keeps {}{}",
            sim.policy,
            sim.kind,
            sim.schedule_words,
            sim.schedule,
            sim.keeps,
            if sim.paused {
                " — paused in the config (enabled = false), simulated as if enabled"
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "simulated on server {} alone{}",
            sim.server_id,
            if sim.servers > 1 {
                format!(
                    " (items are per server; each of its {} servers holds the same)",
                    sim.servers
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            out,
            "every create succeeding, nothing else on the server: {} from {}",
            plural(sim.days as usize, "day", "days"),
            sim.from.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
        let _ = writeln!(
            out,
            "to {}; times in {}.",
            sim.to.to_rfc3339_opts(SecondsFormat::Secs, true),
            sim.timezone
        );
    }

    /// One day: its counts, refusals, deletions and what it keeps.
    fn day(&self, out: &mut String, day: &Day) {
        let (tz, local) = (self.tz, |t| self.local(t));
        let _ = writeln!(
            out,
            "\n{} {}: {}, {}, holding {}",
            day.date,
            day.date.format("%a"),
            plural(day.created.len(), "created", "created"),
            plural(day.deleted.len(), "deleted", "deleted"),
            day.kept.len()
        );
        if !day.refused.is_empty() {
            let times: Vec<String> = day.refused.iter().map(|t| local(*t)).collect();
            wrap(
                out,
                "  refused ",
                &times
                    .iter()
                    .map(|t| format!("{t} (at the cap, nothing of this policy's can go)"))
                    .collect::<Vec<_>>(),
            );
        }
        if !day.deleted.is_empty() {
            // Items made and deleted the same day are counted, not listed.
            let mut parts = Vec::new();
            let mut same_day: BTreeMap<String, usize> = BTreeMap::new();
            for d in &day.deleted {
                let rules = d.rules.join(", ");
                if d.slot.with_timezone(&tz).date_naive() == day.date {
                    *same_day.entry(rules).or_default() += 1;
                } else {
                    parts.push(format!("{} ({rules})", local(d.slot)));
                }
            }
            for (rules, n) in same_day {
                parts.push(format!("{n} made this day ({rules})"));
            }
            wrap(out, "  deleted ", &parts);
        }
        let kept: Vec<String> = day
            .kept
            .iter()
            .map(|k| format!("{} ({})", local(k.slot), k.rules.join(", ")))
            .collect();
        wrap(out, "  kept    ", &kept);
    }

    /// Slots, creates, deletes and refusals; the most held; the cap's sharers.
    fn totals(&self, out: &mut String) {
        let (sim, kinds) = (self.sim, self.kinds);
        if sim.timeline.is_empty() {
            let _ = writeln!(
                out,
                "\nthe schedule does not fire in this time: nothing to show"
            );
        }
        let _ = writeln!(
            out,
            "\n{}: {} created, {} deleted{}.",
            plural(sim.slots, "slot", "slots"),
            sim.created,
            sim.deleted,
            if sim.refused > 0 {
                format!(
                    ", {} REFUSED (at the cap, nothing of this policy's could go)",
                    sim.refused
                )
            } else {
                String::new()
            }
        );
        let held = plural(sim.max_held, sim.kind, kinds);
        if sim.max_held < sim.cap {
            let _ = writeln!(
                out,
                "held at most {held} at once; VPS.org's cap is {} per server ({} to spare).",
                sim.cap,
                sim.cap - sim.max_held
            );
        } else {
            let _ = writeln!(
                out,
                "held at most {held} at once: VPS.org's cap, so {} first made room.",
                plural(sim.room_deletes, "create", "creates")
            );
        }
        if !sim.sharing_server.is_empty() {
            let others: Vec<String> = sim
                .sharing_server
                .iter()
                .map(|o| format!("{} (up to {})", o.policy, o.max_kept))
                .collect();
            let _ = writeln!(
                out,
                "not simulated: other {kinds} policies on server {} share that cap: {}.",
                sim.server_id,
                others.join(", ")
            );
        }
    }

    /// What is kept at the end, and the storage estimate.
    fn kept_and_storage(&self, out: &mut String) {
        let (sim, kinds) = (self.sim, self.kinds);
        let local = |t| self.local(t);
        let age = |a: &Aged| {
            compact_duration(std::time::Duration::from_secs(a.age_seconds.max(0) as u64))
        };
        match (&sim.oldest, &sim.newest) {
            (Some(oldest), Some(newest)) => {
                let _ = writeln!(
                    out,
                    "at the end, {} kept:\n  oldest {}, {} old\n  newest {}, {} old",
                    plural(sim.kept_at_end.len(), sim.kind, kinds),
                    local(oldest.slot),
                    age(oldest),
                    local(newest.slot),
                    age(newest)
                );
            }
            _ => {
                let _ = writeln!(out, "at the end, nothing is kept.");
            }
        }
        if let Some(st) = &sim.storage {
            let _ = writeln!(
                out,
                "storage at {} MB a {}: peak {} ({} held at once), steady {} ({} kept at the end) per server",
                st.size_mb,
                sim.kind,
                size(st.peak_bytes),
                st.peak_items,
                size(st.steady_bytes),
                st.steady_items
            );
            if st.servers > 1 {
                let _ = writeln!(
                    out,
                    "  on its {} servers: peak {}, steady {}",
                    st.servers,
                    size(st.all_servers_peak_bytes),
                    size(st.all_servers_steady_bytes)
                );
            }
        }
    }
}

/// Writes `items` after `lead`, comma-separated, wrapped at 100 columns
/// with continuation lines indented like the first.
fn wrap(out: &mut String, lead: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let indent = " ".repeat(lead.chars().count());
    let mut line = lead.to_owned();
    let mut first = true;
    for (i, item) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() {
            format!("{item},")
        } else {
            item.clone()
        };
        let sep = if first { "" } else { " " };
        if !first && line.chars().count() + sep.len() + piece.chars().count() > 100 {
            let _ = writeln!(out, "{line}");
            line = format!("{indent}{piece}");
        } else {
            line.push_str(sep);
            line.push_str(&piece);
        }
        first = false;
    }
    let _ = writeln!(out, "{line}");
}

mod html;
pub(crate) mod play;

#[cfg(test)]
mod tests;
