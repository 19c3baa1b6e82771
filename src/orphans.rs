//! Items snapkeep made that no configured policy looks after any more.
//!
//! A pass only ever prunes the items of the policy it runs, on the servers
//! that policy lists. Rename or remove a policy, or take a server out of its
//! `servers`, and what it made stays forever, unseen, taking room under the
//! provider's cap. These are the orphans: items whose label has a configured
//! prefix's exact ownership format ([`naming::parse_owned`]) but whose
//! (prefix, policy, kind) is not configured, or whose server that policy no
//! longer lists. A paused policy (`enabled = false`) still owns its items.
//! Anything that is not ours by the strict format is never an orphan.
//!
//! "Not configured *here*" is not "nobody's": a second config on the same
//! account (same default prefix), a policy renamed in this config but not
//! yet in the running daemon, or a mistyped server id all make another
//! config's live restore points look like orphans. So orphans are judged by
//! group — (prefix, policy, server), the unit one rotation keeps — and a
//! group whose newest item is younger than `orphan_grace` is *live*: maybe
//! someone's, never deleted unless asked for by name (`--include-live`),
//! and not counted by the daemon. Of every group the newest completed item
//! is its last restore point and stays unless `--all`. Time is injected.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, Utc};

use crate::api::Status;
use crate::config::Config;
use crate::inventory::Item;
use crate::naming;
use crate::provider::Kind;

/// Why an item is an orphan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OrphanReason {
    /// No policy of this kind with this prefix and name is configured.
    PolicyGone,
    /// The policy is configured, but not for this server.
    ServerNotInPolicy,
}

/// One orphaned item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Orphan {
    pub(crate) item: Item,
    pub(crate) kind: Kind,
    /// The prefix and policy name its label carries.
    pub(crate) prefix: String,
    pub(crate) policy: String,
    pub(crate) slot: DateTime<Utc>,
    pub(crate) reason: OrphanReason,
    /// Listed in some policy's `protect` (of this kind): never deleted.
    pub(crate) protected: bool,
    /// How old the newest item of its group (same prefix, policy and
    /// server) is: the later of its creation and its slot, at `now`.
    pub(crate) group_age: TimeDelta,
    /// The group's newest item is younger than `orphan_grace`: possibly
    /// another config's or a renamed policy's, still rotating.
    pub(crate) live: bool,
    /// The newest completed item of its group (by slot, then id): its last
    /// restore point, kept unless `prune-orphans --all`.
    pub(crate) newest_completed: bool,
}

impl Orphan {
    /// Why, in words.
    pub(crate) fn why(&self) -> String {
        match self.reason {
            OrphanReason::PolicyGone => format!(
                "no {} policy {:?} with prefix {:?} is configured",
                self.kind, self.policy, self.prefix
            ),
            OrphanReason::ServerNotInPolicy => format!(
                "policy {:?} no longer lists server {}",
                self.policy, self.item.server_id
            ),
        }
    }

    /// Forgotten: its group is past the grace, so no config is rotating it,
    /// and it is not protected, so something should be done about it
    /// (`prune-orphans --yes`, with `--all` for each group's newest). What
    /// `snapkeep_orphans` counts.
    pub(crate) fn forgotten(&self) -> bool {
        !self.live && !self.protected
    }
}

/// Why a live group's items are left alone; `age` is its newest item's.
pub(crate) fn live_note(age: TimeDelta) -> String {
    format!(
        "live: possibly another config's or a renamed policy's; newest {} old",
        age_words(age)
    )
}

/// `3h`, `2d 4h`, `45m`: an age for people (negative reads as `0m`).
fn age_words(age: TimeDelta) -> String {
    let s = age.num_seconds().max(0);
    match s {
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s if s % 86_400 < 3600 => format!("{}d", s / 86_400),
        s => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// An orphan group: (prefix, policy, server).
type GroupKey = (String, String, u64);
/// A group's newest time (made or named for) and its newest completed item
/// (slot, id).
type GroupFacts = (DateTime<Utc>, Option<(DateTime<Utc>, u64)>);

/// The orphans among `items` (all of one kind, any servers), in input order,
/// each with its group's facts at `now`. Pure; `items` should be the whole
/// account's listing (or one server's: a group never spans servers) to find
/// orphans on servers no policy names any more.
pub(crate) fn find(config: &Config, kind: Kind, items: &[Item], now: DateTime<Utc>) -> Vec<Orphan> {
    let prefixes: BTreeSet<&str> = config.policies.iter().map(|p| p.prefix.as_str()).collect();
    let mut out = Vec::new();
    for item in items {
        let Some((prefix, policy, slot)) = prefixes.iter().find_map(|prefix| {
            naming::parse_owned(kind, prefix, &item.label)
                .map(|(policy, slot)| (*prefix, policy, slot))
        }) else {
            continue;
        };
        let owner = config
            .policies
            .iter()
            .find(|p| p.kind == kind && p.prefix == prefix && p.name == policy);
        let reason = match owner {
            None => OrphanReason::PolicyGone,
            Some(p) if !p.servers.contains(&item.server_id) => OrphanReason::ServerNotInPolicy,
            Some(_) => continue,
        };
        out.push(Orphan {
            item: item.clone(),
            kind,
            prefix: prefix.to_owned(),
            policy: policy.to_owned(),
            slot,
            reason,
            protected: config.is_protected(item.id, kind),
            group_age: TimeDelta::zero(),
            live: false,
            newest_completed: false,
        });
    }
    // Per group: its newest item (made or named for the latest time) and
    // its newest completed one.
    let grace = TimeDelta::from_std(config.orphan_grace).unwrap_or(TimeDelta::MAX);
    let mut groups: HashMap<GroupKey, GroupFacts> = HashMap::new();
    for o in &out {
        let made = o.item.created_at.max(o.slot);
        let group = groups
            .entry((o.prefix.clone(), o.policy.clone(), o.item.server_id))
            .or_insert((made, None));
        group.0 = group.0.max(made);
        if o.item.status == Status::Completed {
            group.1 = group.1.max(Some((o.slot, o.item.id)));
        }
    }
    for o in &mut out {
        let (newest, completed) = groups[&(o.prefix.clone(), o.policy.clone(), o.item.server_id)];
        o.group_age = now - newest;
        o.live = o.group_age < grace;
        o.newest_completed = completed == Some((o.slot, o.item.id));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Status;
    use chrono::TimeZone;

    fn item(id: u64, server_id: u64, label: &str) -> Item {
        Item {
            id,
            server_id,
            server_name: format!("srv-{server_id}"),
            label: label.into(),
            status: Status::Completed,
            created_at: Utc.with_ymd_and_hms(2025, 1, 5, 3, 0, 5).unwrap(),
            size_bytes: None,
        }
    }

    /// Long past the default week of grace after the items' 2025-01-05.
    const LATER: DateTime<Utc> = DateTime::from_timestamp(1_741_000_000, 0).unwrap();

    const CONFIG: &str = r#"
[[policy]]
name = "nightly"
kind = "snapshot"
servers = [1]
schedule = "0 3 * * *"
keep_last = 2
protect = [9]
[[policy]]
name = "paused"
kind = "snapshot"
servers = [1]
schedule = "0 4 * * *"
keep_last = 1
enabled = false
[[policy]]
name = "db"
kind = "backup"
prefix = "acme"
servers = [1, 2]
schedule = "0 5 * * *"
keep_last = 2
"#;

    #[test]
    fn finds_removed_policies_and_dropped_servers_only() {
        let config = crate::config::parse_str(CONFIG, "t").unwrap();
        let snapshots = vec![
            item(1, 1, "snapkeep-nightly-20250105-030000"), // ours, configured
            item(2, 1, "snapkeep-paused-20250105-040000"),  // paused: still owned
            item(3, 1, "snapkeep-weekly-20250105-030000"),  // policy removed
            item(4, 2, "snapkeep-nightly-20250105-030000"), // server dropped
            item(5, 1, "pre-upgrade"),                      // not ours
            item(6, 1, "snapkeep-nightly-20250105-0300"),   // not the format
            item(7, 1, "acme-db-20250105-050000"),          // db is a backup policy
            item(8, 1, "other-gone-20250105-030000"),       // prefix not configured
            item(9, 3, "snapkeep-gone-20250105-030000"),    // protected orphan
        ];
        let found = find(&config, Kind::Snapshot, &snapshots, LATER);
        let got: Vec<(u64, &str, OrphanReason, bool)> = found
            .iter()
            .map(|o| (o.item.id, o.policy.as_str(), o.reason.clone(), o.protected))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, "weekly", OrphanReason::PolicyGone, false),
                (4, "nightly", OrphanReason::ServerNotInPolicy, false),
                (7, "db", OrphanReason::PolicyGone, false),
                (9, "gone", OrphanReason::PolicyGone, true),
            ]
        );
        assert_eq!(
            found[0].why(),
            "no snapshot policy \"weekly\" with prefix \"snapkeep\" is configured"
        );
        assert_eq!(
            found[1].why(),
            "policy \"nightly\" no longer lists server 2"
        );

        let backups = vec![
            item(20, 2, "acme:db:2025-01-05T05:00:00Z nightly db"), // configured
            item(21, 3, "acme:db:2025-01-05T05:00:00Z"),            // server dropped
            item(22, 1, "snapkeep:old:2025-01-05T05:00:00Z"),       // removed policy
            item(23, 1, "acme:db:2025-01-05T05:00:00+00:00"),       // not the format
            item(24, 1, "snapkeep:nightly:2025-01-05T03:00:00Z"),   // nightly makes snapshots
        ];
        let found = find(&config, Kind::Backup, &backups, LATER);
        let ids: Vec<u64> = found.iter().map(|o| o.item.id).collect();
        assert_eq!(ids, vec![21, 22, 24]);
        assert!(found.iter().all(|o| !o.protected), "9 protects a snapshot");
    }

    fn at(id: u64, server_id: u64, label: &str, status: Status, day: u32) -> Item {
        Item {
            status,
            created_at: Utc.with_ymd_and_hms(2025, 1, day, 3, 0, 5).unwrap(),
            size_bytes: None,
            ..item(id, server_id, label)
        }
    }

    #[test]
    fn groups_younger_than_the_grace_are_live_and_each_keeps_its_newest_completed() {
        let config =
            crate::config::parse_str(&format!("[defaults]\norphan_grace = \"2d\"\n{CONFIG}"), "t")
                .unwrap();
        let c = Status::Completed;
        let snapshots = vec![
            // (old, server 1): its newest is 5 days old, past the grace.
            at(1, 1, "snapkeep-old-20250101-030000", c.clone(), 1),
            at(2, 1, "snapkeep-old-20250103-030000", c.clone(), 3),
            at(3, 1, "snapkeep-old-20250104-030000", Status::Failed, 4),
            // (old, server 2): another group; newest 1 day old, live.
            at(4, 2, "snapkeep-old-20250102-030000", c.clone(), 2),
            at(5, 2, "snapkeep-old-20250107-030000", Status::InProgress, 7),
            // (other, server 1): its newest completed, 9, is protected as well.
            at(6, 1, "snapkeep-other-20250101-030000", c.clone(), 1),
            at(9, 1, "snapkeep-other-20250102-030000", c, 2),
        ];
        let now = Utc.with_ymd_and_hms(2025, 1, 8, 3, 0, 5).unwrap();
        let got: Vec<(u64, bool, bool, i64, bool)> = find(&config, Kind::Snapshot, &snapshots, now)
            .iter()
            .map(|o| {
                (
                    o.item.id,
                    o.live,
                    o.newest_completed,
                    o.group_age.num_hours(),
                    o.forgotten(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (1, false, false, 96, true),
                (2, false, true, 96, true),
                (3, false, false, 96, true),
                (4, true, true, 24, false),
                (5, true, false, 24, false),
                (6, false, false, 144, true),
                (9, false, true, 144, false),
            ]
        );
        let live = find(&config, Kind::Snapshot, &snapshots, now)
            .into_iter()
            .find(|o| o.item.id == 4)
            .unwrap();
        assert_eq!(
            live_note(live.group_age),
            "live: possibly another config's or a renamed policy's; newest 1d old"
        );
        assert_eq!(age_words(TimeDelta::minutes(200)), "3h");
        assert_eq!(age_words(TimeDelta::hours(52)), "2d 4h");
        assert_eq!(age_words(TimeDelta::seconds(-5)), "0m");
    }
}
