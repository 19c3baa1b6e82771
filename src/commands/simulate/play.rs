//! A pass played on servers held in memory, with the job's own rules
//! (`job::rules`): what `simulate` shows day by day, and what
//! `pass::simulate_tests` holds against real passes.
//!
//! It sequences the rules as `job::Job` does — failed first (rule 3), the
//! slot's item (rule 2), room (rule 4), the create (rule 5), pruning
//! (rule 6) — and the pass as `pass::ServerTask::run` does: a server's jobs in
//! policy order, a job refused for room tried again after the server's
//! other jobs of its kind. What it leaves out is what the rules do not
//! decide: every create succeeds and completes at once, nothing else
//! writes, nothing waits. Pure: `now` is an argument.

use chrono::{DateTime, Utc};

use crate::api::Status;
use crate::config::Policy;
use crate::inventory::Item;
use crate::job::rules::{self, Duplicate, FirstReason, RoomReason, View};
use crate::naming;
use crate::retention;

/// One server's items of one kind, as a pass would find them.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    pub(crate) id: u64,
    pub(crate) items: Vec<Item>,
    /// The id the next create gets (above every id held).
    next_id: u64,
}

impl Server {
    pub(crate) fn new(id: u64, items: Vec<Item>) -> Server {
        let next_id = items.iter().map(|i| i.id).max().unwrap_or(0) + 1;
        Server { id, items, next_id }
    }

    #[cfg(test)]
    /// Creates get ids from `next` on (above any id a config protects:
    /// the provider's ids are its own, never a protected one).
    pub(crate) fn ids_from(self, next: u64) -> Server {
        Server {
            next_id: next.max(self.next_id),
            ..self
        }
    }

    fn remove(&mut self, id: u64) {
        self.items.retain(|i| i.id != id);
    }

    /// The slot's item, created and completed.
    fn create(&mut self, policy: &Policy, slot: DateTime<Utc>) -> Item {
        let item = Item {
            id: self.next_id,
            server_id: self.id,
            server_name: String::new(),
            label: naming::label_for(
                policy.kind,
                &policy.prefix,
                &policy.name,
                slot,
                policy.description.as_deref(),
            ),
            status: Status::Completed,
            created_at: slot,
            size_bytes: None,
        };
        self.next_id += 1;
        self.items.push(item.clone());
        item
    }
}

/// Why a played job deleted an item: the rule and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Why {
    /// Rule 3.
    First(FirstReason),
    /// Rule 2: a second item for the job's own slot.
    Duplicate,
    /// Rule 4.
    Room(RoomReason),
    /// Rule 6: the retention rules that dropped it.
    Prune(Vec<retention::Rule>),
}

impl Why {
    /// Short labels (`simulate`'s days): `room`, `no-rule`, `failed`…
    pub(crate) fn labels(&self) -> Vec<&'static str> {
        match self {
            Why::First(FirstReason::Failed) => vec!["failed"],
            Why::First(FirstReason::Duplicate { .. }) | Why::Duplicate => vec!["duplicate"],
            Why::Room(reason) => vec![reason.label()],
            Why::Prune(rules) => rules.iter().map(|r| r.as_str()).collect(),
        }
    }

    pub(crate) fn is_room(&self) -> bool {
        matches!(self, Why::Room(_))
    }
}

/// What one job did, played. (`simulate` plays one enabled policy, so
/// only `pass::simulate_tests` reads `policy` and `paused`.)
#[derive(Debug, Clone, Default)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Played {
    /// Index into the config's policies.
    pub(crate) policy: usize,
    pub(crate) created: Option<Item>,
    /// In the order the job deleted them.
    pub(crate) deleted: Vec<(Item, Why)>,
    /// Rule 4 found nothing to delete: no create, no pruning.
    pub(crate) refused: bool,
    /// The policy is paused: nothing done.
    pub(crate) paused: bool,
    /// What retention keeps on the server after the job (before pruning
    /// when refused), newest first, with the rules that keep each.
    pub(crate) kept: Vec<retention::Decision>,
}

/// One job of `policies[policy]` for `slot` on `server` at `now`, as
/// `job::Job::run` does it.
pub(crate) fn job(
    policies: &[Policy],
    policy: usize,
    server: &mut Server,
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Played {
    let view = View::new(&policies[policy], policies);
    let mut played = Played {
        policy,
        ..Played::default()
    };
    for (item, why) in rules::failed_first(view, &server.items, slot) {
        server.remove(item.id);
        played.deleted.push((item, Why::First(why)));
    }
    if server.items.iter().any(|i| view.is_slot_item(i, slot)) {
        settle_slot(view, server, slot, &mut played);
    } else if make_room(view, server, slot, now, &mut played) {
        played.created = Some(server.create(view.policy, slot));
    } else {
        played.refused = true;
        played.kept = kept(view, &server.items, now);
        return played;
    }
    played.kept = kept(view, &server.items, now);
    for (item, rules) in rules::prune(view, &server.items, now) {
        server.remove(item.id);
        played.deleted.push((item, Why::Prune(rules)));
    }
    played
}

/// Rule 2: the keeper completes (at once, here); the slot's other items go.
fn settle_slot(view: View<'_>, server: &mut Server, slot: DateTime<Utc>, played: &mut Played) {
    let Some(keeper) = rules::slot_keeper(view, &server.items, slot).map(|k| k.id) else {
        return;
    };
    for item in server.items.iter_mut().filter(|i| i.id == keeper) {
        item.status = Status::Completed;
    }
    for (dup, what) in rules::slot_duplicates(view, &server.items, slot, keeper) {
        if let Duplicate::Delete { .. } = what {
            server.remove(dup.id);
            played.deleted.push((dup, Why::Duplicate));
        }
    }
}

/// Rule 4: deletes victims until there is room; false when there is none
/// to be had (refuse).
fn make_room(
    view: View<'_>,
    server: &mut Server,
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
    played: &mut Played,
) -> bool {
    while server.items.len() >= view.policy.kind.cap() {
        let victim = rules::room_victim(view.policy, view.all, &server.items, now, slot);
        let Some((id, reason)) = victim else {
            return false;
        };
        let Some(item) = server.items.iter().find(|i| i.id == id).cloned() else {
            return false;
        };
        server.remove(id);
        played.deleted.push((item, Why::Room(reason)));
    }
    true
}

/// What retention keeps of `items` at `now`.
fn kept(view: View<'_>, items: &[Item], now: DateTime<Utc>) -> Vec<retention::Decision> {
    retention::plan(&view.points(items), &view.retention(), now)
        .into_iter()
        .filter(|d| d.keep)
        .collect()
}

/// The jobs of one server in one pass (`(policy, slot)`, any order), as
/// `pass::ServerTask::run` runs them: in policy order, each on the server as
/// the one before left it; a job refused for room gets one more try after
/// the server's other jobs of its kind, keeping its first try's deletions.
/// One `Played` per job, in the order they ended.
pub(crate) fn pass(
    policies: &[Policy],
    server: &mut Server,
    jobs: &[(usize, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Vec<Played> {
    let mut queue: std::collections::VecDeque<(usize, DateTime<Utc>, Option<Played>)> = {
        let mut sorted = jobs.to_vec();
        sorted.sort_by_key(|(policy, _)| *policy);
        sorted.into_iter().map(|(p, s)| (p, s, None)).collect()
    };
    let mut out = Vec::new();
    while let Some((policy, slot, first_try)) = queue.pop_front() {
        if !policies[policy].enabled {
            out.push(Played {
                policy,
                paused: true,
                ..Played::default()
            });
            continue;
        }
        let mut played = job(policies, policy, server, slot, now);
        let kind = policies[policy].kind;
        let same_kind_later = queue.iter().any(|(p, _, _)| policies[*p].kind == kind);
        if played.refused && first_try.is_none() && same_kind_later {
            queue.push_back((policy, slot, Some(played)));
            continue;
        }
        if let Some(mut first) = first_try {
            first.deleted.append(&mut played.deleted);
            played.deleted = first.deleted;
        }
        out.push(played);
    }
    out
}
