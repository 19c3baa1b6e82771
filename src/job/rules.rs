//! The rules of one job as decisions: what a job for (policy, slot) deletes
//! first, which item is the slot's, what goes to make room at the cap, and
//! what is pruned — each with its reason. ARCHITECTURE.md's table, "The
//! rules of a pass", row by row.
//!
//! Pure: functions over the policy's [`View`], the server's items, the
//! slot and `now` — no I/O, no clock, no async. `job::Job` executes them
//! (API calls, waits, hooks, audit events); `snapkeep simulate` (its
//! `play`) and `snapkeep status` call the same functions for what they
//! show, so a change here changes what all three do and say.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::api::Status;
use crate::config::{self, Policy};
use crate::inventory::Item;
use crate::naming;
use crate::provider::Kind;
use crate::retention;

/// One policy as the rules see a server: which items are its own (rule 1)
/// and which may be deleted. `all` is every policy of the config: an id
/// any of them protects is never deleted, and another policy's items are
/// told apart from items snapkeep did not make.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub(crate) policy: &'a Policy,
    pub(crate) all: &'a [Policy],
}

impl<'a> View<'a> {
    pub(crate) fn new(policy: &'a Policy, all: &'a [Policy]) -> View<'a> {
        View { policy, all }
    }

    /// Rule 1: the slot `item` is for, when its name says it is this policy's.
    pub(crate) fn owned(&self, item: &Item) -> Option<DateTime<Utc>> {
        let p = self.policy;
        naming::owned_slot(p.kind, &p.prefix, &p.name, &item.label)
    }

    /// Protected items (by any policy's `protect`) are never deleted, by any rule.
    pub(crate) fn deletable(&self, item: &Item) -> bool {
        !config::protected_by_any(self.all, self.policy.kind, item.id)
    }

    pub(crate) fn is_slot_item(&self, item: &Item, slot: DateTime<Utc>) -> bool {
        self.owned(item) == Some(slot)
    }

    /// Named as another policy of the same kind names its items.
    pub(crate) fn owned_by_other_policy(&self, item: &Item) -> bool {
        let me = self.policy;
        self.all.iter().any(|p| {
            p.kind == me.kind
                && p.name != me.name
                && naming::owned_slot(p.kind, &p.prefix, &p.name, &item.label).is_some()
        })
    }

    /// The retention rules of the policy, in its time zone, capped at its share.
    pub(crate) fn retention(&self) -> retention::Retention {
        retention_policy(self.policy)
    }

    /// The items as retention sees them (see [`retention_view`]).
    pub(crate) fn points(&self, items: &[Item]) -> Vec<retention::Point> {
        retention_view(self.policy, self.all, items)
    }
}

/// The retention rules of `policy`, in its time zone, capped at its share.
pub(crate) fn retention_policy(policy: &Policy) -> retention::Retention {
    retention::Retention {
        rules: policy.keep.clone(),
        tz: policy.schedule.timezone(),
        cap: policy.max_kept,
    }
}

/// Items as retention sees them for `policy`: ours when the name says so,
/// dated by the slot in the name (what the operator scheduled), else by
/// `created_at`. `all` is every policy of the config: an id any of them
/// protects is never ours to drop.
pub(crate) fn retention_view(
    policy: &Policy,
    all: &[Policy],
    items: &[Item],
) -> Vec<retention::Point> {
    items
        .iter()
        .map(|it| {
            // Protected items count toward the cap but not toward the keep
            // rules, and retention never drops what is not ours.
            let slot = naming::owned_slot(policy.kind, &policy.prefix, &policy.name, &it.label)
                .filter(|_| !config::protected_by_any(all, policy.kind, it.id));
            retention::Point {
                id: it.id,
                time: slot.unwrap_or(it.created_at),
                state: match it.status {
                    Status::Completed => retention::State::Completed,
                    Status::InProgress => retention::State::InProgress,
                    Status::Failed => retention::State::Failed,
                    Status::Other(_) => retention::State::Unknown,
                },
                ours: slot.is_some(),
            }
        })
        .collect()
}

// Rule 3: failed first.

/// Why rule 3 deletes an item before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstReason {
    /// Ours and failed: it takes room and restores nothing.
    Failed,
    /// A second item for an earlier slot whose item (`keeper`, the lowest
    /// id) has completed: it restores nothing that one does not.
    Duplicate { keeper: u64 },
}

impl FirstReason {
    /// The audit and report text.
    pub(crate) fn text(self) -> String {
        match self {
            FirstReason::Failed => "failed: takes room and restores nothing".to_owned(),
            FirstReason::Duplicate { keeper } => {
                format!("duplicate: #{keeper} is its slot's item (the lowest id, completed)")
            }
        }
    }
}

/// Rule 3: what goes before anything else, in order — our failed items,
/// then second items of earlier slots (see [`earlier_duplicates`]). Never
/// a protected item.
pub(crate) fn failed_first(
    view: View<'_>,
    items: &[Item],
    slot: DateTime<Utc>,
) -> Vec<(Item, FirstReason)> {
    let failed = items
        .iter()
        .filter(|i| i.status == Status::Failed && view.owned(i).is_some() && view.deletable(i))
        .map(|i| (i.clone(), FirstReason::Failed));
    let duplicates = earlier_duplicates(view, items, slot)
        .into_iter()
        .map(|(i, keeper)| (i, FirstReason::Duplicate { keeper }));
    failed.chain(duplicates).collect()
}

/// Second items for slots other than `slot` (which [`slot_keeper`] and
/// [`slot_duplicates`] settle), each with its slot's keeper: the lowest id
/// that has not failed, once it has completed. Only what may be deleted:
/// not protected, not failed (those go as failed), in a known status.
///
/// A create sent again whose first attempt showed up late, or a second
/// instance, leaves such items; once the slot's item has completed the
/// other goes, so the keep rules never count a slot twice.
pub(crate) fn earlier_duplicates(
    view: View<'_>,
    items: &[Item],
    slot: DateTime<Utc>,
) -> Vec<(Item, u64)> {
    let mut keepers: BTreeMap<DateTime<Utc>, &Item> = BTreeMap::new();
    for item in items.iter().filter(|i| i.status != Status::Failed) {
        if let Some(s) = view.owned(item).filter(|s| *s != slot) {
            let keeper = keepers.entry(s).or_insert(item);
            if item.id < keeper.id {
                *keeper = item;
            }
        }
    }
    items
        .iter()
        .filter(|i| matches!(i.status, Status::Completed | Status::InProgress))
        .filter(|i| view.deletable(i))
        .filter_map(|i| {
            let keeper = keepers.get(&view.owned(i)?)?;
            (keeper.id != i.id && keeper.status == Status::Completed)
                .then(|| (i.clone(), keeper.id))
        })
        .collect()
}

// Rule 2: the idempotent slot.

/// Rule 2: the slot's item — the lowest id for the slot that has not
/// failed (every instance picks the same one); `None` when the slot has no
/// such item (create one).
pub(crate) fn slot_keeper<'i>(
    view: View<'_>,
    items: &'i [Item],
    slot: DateTime<Utc>,
) -> Option<&'i Item> {
    items
        .iter()
        .filter(|i| view.is_slot_item(i, slot) && i.status != Status::Failed)
        .min_by_key(|i| i.id)
}

/// What rule 2 does with another item for the slot once its keeper has
/// completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Duplicate {
    /// Delete it: `keeper` is the slot's item.
    Delete { keeper: u64 },
    /// Protected (`protect = [...]`): left alone.
    Protected,
    /// In a status nobody documented, not known to be deletable: left alone.
    UnknownStatus(String),
}

/// Rule 2, once the keeper (`keeper`, an id) has completed: every other
/// item for the slot, with what to do about it.
pub(crate) fn slot_duplicates(
    view: View<'_>,
    items: &[Item],
    slot: DateTime<Utc>,
    keeper: u64,
) -> Vec<(Item, Duplicate)> {
    items
        .iter()
        .filter(|i| view.is_slot_item(i, slot) && i.id != keeper)
        .map(|i| {
            let what = match &i.status {
                _ if !view.deletable(i) => Duplicate::Protected,
                Status::Other(status) => Duplicate::UnknownStatus(status.clone()),
                _ => Duplicate::Delete { keeper },
            };
            (i.clone(), what)
        })
        .collect()
}

// Rule 4: room.

/// Why rule 4 deletes an item to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoomReason {
    /// The keep rules drop it next anyway.
    Rules,
    /// The rules would drop only the newest completed item, which stays
    /// until its successor has completed: the oldest goes instead.
    InsteadOfNewest,
    /// The rules keep all of ours, but the cap is shared with items this
    /// policy may not delete: it holds fewer here, the oldest goes.
    SharedCap,
}

impl RoomReason {
    /// The audit and report text.
    pub(crate) fn text(self, policy: &Policy, all_policies: &[Policy], items: &[Item]) -> String {
        match self {
            RoomReason::Rules => "room: at the cap, retention drops it next".to_owned(),
            RoomReason::InsteadOfNewest => "room: at the cap; the rules would drop only the newest completed item, which stays until its successor has completed, so the oldest completed item goes instead".to_owned(),
            RoomReason::SharedCap => {
                let h = holdings(policy, all_policies, items);
                format!(
                    "room: at the cap, which this policy shares with {} it may not delete; its keep rules keep all of its own, so its oldest goes",
                    count_of(policy.kind, (h.not_ours + h.protected) as usize)
                )
            }
        }
    }

    /// A short label (`simulate`'s days).
    pub(crate) fn label(self) -> &'static str {
        match self {
            RoomReason::Rules => "room",
            RoomReason::InsteadOfNewest => "room, instead of the newest",
            RoomReason::SharedCap => "room, shared cap",
        }
    }
}

/// What rule 4 deletes to make room for the slot's item on a full server,
/// and why; `None` when nothing of ours but the newest completed item is
/// left (refuse). Pure.
///
/// First what the policy's own keep rules drop next
/// (`retention::next_to_drop`). When they keep all of ours, the policy
/// still has to make room: the cap is shared with what it may not delete
/// (other people's items, other policies', protected ids, its own items in
/// progress), so on this server it can hold only the cap minus those, and
/// the oldest of its completed items goes — never the newest.
pub(crate) fn room_victim(
    policy: &Policy,
    all_policies: &[Policy],
    items: &[Item],
    now: DateTime<Utc>,
    slot: DateTime<Utc>,
) -> Option<(u64, RoomReason)> {
    let view = retention_view(policy, all_policies, items);
    let own = retention_policy(policy);
    if let Some(v) = retention::next_to_drop(&view, &own, now, slot) {
        let reason = if v.instead_of_newest {
            RoomReason::InsteadOfNewest
        } else {
            RoomReason::Rules
        };
        return Some((v.id, reason));
    }
    // What the incoming item and our completed items may fill.
    let occupied = view
        .iter()
        .filter(|p| !(p.ours && p.state == retention::State::Completed))
        .count();
    let shared = retention::Retention {
        cap: own.cap.min(policy.kind.cap().saturating_sub(occupied)),
        ..own
    };
    let v = retention::next_to_drop(&view, &shared, now, slot)?;
    Some((v.id, RoomReason::SharedCap))
}

/// What a refusal says the server holds (rule 4's "true counts").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// This policy's completed items, not protected (its newest, kept).
    pub(crate) completed: usize,
    /// This policy's items in progress or an unknown status, not protected.
    pub(crate) unfinished: usize,
    /// This policy's items that are protected.
    pub(crate) protected: usize,
    /// Items snapkeep did not make.
    pub(crate) foreign: usize,
    /// Items of other snapkeep policies.
    pub(crate) other: usize,
}

/// Rule 4 when there is no victim: what the server holds, as the refusal says it.
pub(crate) fn refusal(view: View<'_>, items: &[Item]) -> Refusal {
    let owned: Vec<&Item> = items.iter().filter(|i| view.owned(i).is_some()).collect();
    let protected = owned.iter().filter(|i| !view.deletable(i)).count();
    let other = items
        .iter()
        .filter(|i| view.owned(i).is_none() && view.owned_by_other_policy(i))
        .count();
    let completed = owned
        .iter()
        .filter(|i| view.deletable(i) && i.status == Status::Completed)
        .count();
    Refusal {
        completed,
        unfinished: owned.len() - protected - completed,
        protected,
        foreign: items.len() - owned.len() - other,
        other,
    }
}

// Rule 6: prune.

/// Rule 6: what retention no longer keeps, oldest first (by slot, then
/// id), each with the retention rules that decided. Never a protected
/// item, never what is not ours, never the newest completed item
/// (`retention::plan`).
pub(crate) fn prune(
    view: View<'_>,
    items: &[Item],
    now: DateTime<Utc>,
) -> Vec<(Item, Vec<retention::Rule>)> {
    let mut deletes: Vec<(Item, Vec<retention::Rule>)> =
        retention::plan(&view.points(items), &view.retention(), now)
            .into_iter()
            .filter(|d| !d.keep)
            .filter_map(|d| {
                let item = items.iter().find(|i| i.id == d.id)?.clone();
                Some((item, d.reasons))
            })
            .collect();
    deletes.sort_by_key(|(i, _)| (view.owned(i), i.id));
    deletes
}

/// The retention rules as text: `no-rule, over-cap`.
pub(crate) fn rules_text(rules: &[retention::Rule]) -> String {
    rules
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

// What the server holds for a policy (rule 4's shared cap, in numbers).

/// "1 snapshot", "3 manual backups".
pub(crate) fn count_of(kind: Kind, n: usize) -> String {
    match (kind, n) {
        (Kind::Snapshot, 1) => "1 snapshot".to_owned(),
        (Kind::Backup, 1) => "1 manual backup".to_owned(),
        (kind, n) => format!("{n} {}", kind.plural()),
    }
}

/// The sentence a job says once when the shared cap keeps its policy
/// below what its keep rules ask ("nightly (5 last) holds 4 on web-01:
/// 1 snapshot there is not this policy's"); `None` when it does not.
pub(crate) fn shortfall_note(policy: &Policy, h: &Holdings, server: &str) -> Option<String> {
    if h.shortfall == 0 {
        return None;
    }
    let others = h.not_ours + h.protected;
    let protected = match h.protected {
        0 => String::new(),
        n => format!(" ({n} protected)"),
    };
    Some(format!(
        "{} ({}) holds {} on {server}: {} there {} not this policy's{protected}",
        policy.name,
        policy.keep.parts().join(", "),
        h.can_hold,
        count_of(policy.kind, others as usize),
        if others == 1 { "is" } else { "are" },
    ))
}

/// What a server holds, from one policy's point of view. (Counts as `u32`:
/// every job's report carries one while it waits; a server holds at most
/// a few dozen items.)
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Holdings {
    pub(crate) completed: u32,
    pub(crate) in_progress: u32,
    pub(crate) failed: u32,
    /// Ours but in a status we do not know.
    pub(crate) unknown: u32,
    /// Everything on the server this policy did not make (counts toward the cap).
    pub(crate) not_ours: u32,
    /// Ours by name but protected (counted in the states above too): never
    /// deleted, so they take from the cap like `not_ours`.
    pub(crate) protected: u32,
    /// How many completed items this policy can hold on the server: the
    /// cap less what it may not delete, at most what its rules keep.
    pub(crate) can_hold: u32,
    /// How many fewer than its keep rules ask (within the cap) that is.
    pub(crate) shortfall: u32,
    /// Bytes our completed items hold, from the provider's `size_mb`
    /// (`status`, `snapkeep_stored_bytes`).
    pub(crate) stored_bytes: u64,
    /// Our completed items whose size the provider did not state (not in
    /// `stored_bytes`: it is then a lower bound).
    pub(crate) without_size: u32,
    /// When the newest completed item of ours was made (its slot).
    #[serde(skip)]
    pub(crate) newest_completed: Option<DateTime<Utc>>,
}

/// What `items` (one server's, of the policy's kind) hold for `policy`,
/// and how many completed items the shared cap lets it keep there.
pub(crate) fn holdings(policy: &Policy, all_policies: &[Policy], items: &[Item]) -> Holdings {
    let view = View::new(policy, all_policies);
    let mut h = Holdings::default();
    let cap = policy.kind.cap();
    let wanted = policy.max_kept.min(cap);
    for it in items {
        let owned = view.owned(it);
        if owned.is_some() && !view.deletable(it) {
            h.protected += 1;
        }
        match owned {
            None => h.not_ours += 1,
            Some(slot) => match it.status {
                Status::Completed => {
                    h.completed += 1;
                    h.newest_completed = h.newest_completed.max(Some(slot));
                    match it.size_bytes {
                        Some(b) => h.stored_bytes = h.stored_bytes.saturating_add(b),
                        None => h.without_size += 1,
                    }
                }
                Status::InProgress => h.in_progress += 1,
                Status::Failed => h.failed += 1,
                Status::Other(_) => h.unknown += 1,
            },
        }
    }
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    h.can_hold = count(cap)
        .saturating_sub(h.not_ours + h.protected)
        .min(count(wanted));
    h.shortfall = count(wanted) - h.can_hold;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies(text: &str) -> Vec<Policy> {
        crate::config::parse_str(text, "t")
            .expect("config")
            .policies
    }

    const NIGHTLY: &str = "[[policy]]\nname = \"n\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 2\nprotect = [9]\n";

    fn at(day: u32) -> DateTime<Utc> {
        format!("2025-01-{day:02}T03:00:00Z").parse().expect("time")
    }

    fn item(id: u64, label: &str, status: Status, day: u32) -> Item {
        Item {
            id,
            server_id: 1,
            server_name: String::new(),
            label: label.to_owned(),
            status,
            created_at: at(day),
            size_bytes: None,
        }
    }

    fn ours(id: u64, day: u32, status: Status) -> Item {
        item(
            id,
            &format!("snapkeep-n-202501{day:02}-030000"),
            status,
            day,
        )
    }

    fn ids<T>(v: &[(Item, T)]) -> Vec<u64> {
        v.iter().map(|(i, _)| i.id).collect()
    }

    #[test]
    fn failed_first_takes_our_failed_then_earlier_duplicates_never_protected() {
        let all = policies(NIGHTLY);
        let view = View::new(&all[0], &all);
        let items = vec![
            ours(1, 5, Status::Completed),
            ours(2, 5, Status::Completed), // a second item of day 5
            ours(3, 6, Status::Failed),
            ours(9, 4, Status::Failed), // protected
            item(4, "manual", Status::Failed, 3),
            ours(5, 7, Status::InProgress), // the job's slot: not rule 3's
            ours(6, 7, Status::InProgress),
        ];
        let first = failed_first(view, &items, at(7));
        assert_eq!(ids(&first), vec![3, 2]);
        assert_eq!(first[0].1, FirstReason::Failed);
        assert_eq!(first[1].1, FirstReason::Duplicate { keeper: 1 });
    }

    /// An earlier slot's keeper is its lowest id wherever the provider
    /// lists it: here the higher id comes first, and it is the one to go.
    #[test]
    fn an_earlier_slots_keeper_is_its_lowest_id_in_any_listing_order() {
        let all = policies(NIGHTLY);
        let view = View::new(&all[0], &all);
        let items = vec![
            ours(5, 5, Status::Completed),
            ours(2, 5, Status::Completed),
            ours(4, 5, Status::Completed),
        ];
        let dups = earlier_duplicates(view, &items, at(7));
        let verdicts: Vec<(u64, u64)> = dups.iter().map(|(i, k)| (i.id, *k)).collect();
        assert_eq!(verdicts, vec![(5, 2), (4, 2)]);
    }

    #[test]
    fn the_slots_keeper_is_its_lowest_id_that_has_not_failed() {
        let all = policies(NIGHTLY);
        let view = View::new(&all[0], &all);
        let items = vec![
            ours(7, 7, Status::InProgress),
            ours(3, 7, Status::Failed),
            ours(9, 7, Status::Completed),
            ours(8, 7, Status::Other("pending".into())),
        ];
        assert_eq!(slot_keeper(view, &items, at(7)).map(|k| k.id), Some(7));
        assert!(slot_keeper(view, &items, at(6)).is_none());
        let dups = slot_duplicates(view, &items, at(7), 7);
        let verdicts: Vec<(u64, Duplicate)> = dups.into_iter().map(|(i, d)| (i.id, d)).collect();
        assert_eq!(
            verdicts,
            vec![
                (3, Duplicate::Delete { keeper: 7 }),
                (9, Duplicate::Protected),
                (8, Duplicate::UnknownStatus("pending".into())),
            ]
        );
    }

    /// keep_last = 3 keeps both of ours and the incoming one, but three
    /// manual items leave room for two: the oldest of ours goes, for the
    /// shared cap, never the newest; with four, nothing can go (refuse).
    #[test]
    fn room_at_a_shared_cap_takes_the_oldest_of_ours() {
        let all = policies(&NIGHTLY.replace("keep_last = 2", "keep_last = 3"));
        let items = vec![
            item(20, "manual-a", Status::Completed, 1),
            item(21, "manual-b", Status::Completed, 1),
            item(22, "manual-c", Status::Completed, 1),
            ours(1, 5, Status::Completed),
            ours(2, 6, Status::Completed),
        ];
        assert_eq!(
            room_victim(&all[0], &all, &items, at(7), at(7)),
            Some((1, RoomReason::SharedCap))
        );
        let h = holdings(&all[0], &all, &items);
        assert_eq!((h.can_hold, h.shortfall), (2, 1));
        let full = [&items[..3], &[item(23, "manual-d", Status::Completed, 1)]].concat();
        let full = [full, vec![ours(2, 6, Status::Completed)]].concat();
        assert_eq!(room_victim(&all[0], &all, &full, at(7), at(7)), None);
        let r = refusal(View::new(&all[0], &all), &full);
        assert_eq!((r.completed, r.foreign, r.other), (1, 4, 0));
    }

    /// The reasons' words, each whole: the audit log, the report and
    /// `simulate` print them as they are.
    #[test]
    fn each_reason_says_why_in_its_own_words() {
        assert_eq!(
            FirstReason::Failed.text(),
            "failed: takes room and restores nothing"
        );
        assert_eq!(
            FirstReason::Duplicate { keeper: 4 }.text(),
            "duplicate: #4 is its slot's item (the lowest id, completed)"
        );
        let all = policies(NIGHTLY);
        let items = vec![
            item(20, "manual-a", Status::Completed, 1),
            ours(9, 2, Status::Completed), // protected
            ours(1, 5, Status::Completed),
        ];
        let text = |r: RoomReason| r.text(&all[0], &all, &items);
        assert_eq!(
            text(RoomReason::Rules),
            "room: at the cap, retention drops it next"
        );
        assert_eq!(
            text(RoomReason::InsteadOfNewest),
            "room: at the cap; the rules would drop only the newest completed item, which stays until its successor has completed, so the oldest completed item goes instead"
        );
        assert_eq!(
            text(RoomReason::SharedCap),
            "room: at the cap, which this policy shares with 2 snapshots it may not delete; its keep rules keep all of its own, so its oldest goes"
        );
        let labels = [
            RoomReason::Rules,
            RoomReason::InsteadOfNewest,
            RoomReason::SharedCap,
        ]
        .map(RoomReason::label);
        assert_eq!(
            labels,
            ["room", "room, instead of the newest", "room, shared cap"]
        );
    }

    /// A refusal counts each item once, in its own column: this policy's
    /// completed, unfinished and protected items, another policy's, and
    /// the rest (not snapkeep's).
    #[test]
    fn a_refusal_counts_each_item_in_its_own_column() {
        let text = NIGHTLY.to_owned()
            + "[[policy]]\nname = \"w\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 4 * * 0\"\nkeep_last = 1\n";
        let all = policies(&text);
        let items = vec![
            ours(1, 5, Status::Completed),
            ours(2, 6, Status::InProgress),
            ours(3, 4, Status::Other("pending".into())),
            ours(9, 3, Status::Completed), // protected
            item(20, "manual-a", Status::Completed, 1),
            item(21, "snapkeep-w-20250105-040000", Status::Completed, 5),
        ];
        assert_eq!(
            refusal(View::new(&all[0], &all), &items),
            Refusal {
                completed: 1,
                unfinished: 2,
                protected: 1,
                foreign: 1,
                other: 1,
            }
        );
    }

    /// The shared cap counts what this policy may not delete — other
    /// items and its own unfinished ones — not its completed items: with
    /// two completed and three in progress at the cap of five, room is
    /// made from the completed ones (the oldest).
    #[test]
    fn the_shared_cap_counts_unfinished_items_not_completed_ones() {
        let all = policies(&NIGHTLY.replace("keep_last = 2", "keep_last = 5"));
        let items = vec![
            ours(1, 1, Status::Completed),
            ours(2, 2, Status::Completed),
            ours(3, 3, Status::InProgress),
            ours(4, 4, Status::InProgress),
            ours(5, 5, Status::InProgress),
        ];
        assert_eq!(
            room_victim(&all[0], &all, &items, at(7), at(7)),
            Some((1, RoomReason::SharedCap))
        );
    }

    #[test]
    fn prune_lists_what_retention_drops_oldest_first() {
        let all = policies(NIGHTLY);
        let items = vec![
            ours(4, 4, Status::Completed),
            ours(1, 1, Status::Completed),
            ours(6, 6, Status::Completed),
            ours(9, 2, Status::Completed), // protected
            ours(5, 5, Status::Completed),
        ];
        let pruned = prune(View::new(&all[0], &all), &items, at(7));
        assert_eq!(ids(&pruned), vec![1, 4]);
        assert_eq!(rules_text(&pruned[0].1), "no-rule");
    }
}
