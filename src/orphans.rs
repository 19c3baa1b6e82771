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

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

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
}

/// The orphans among `items` (all of one kind, any servers), in input order.
/// Pure; `items` should be the whole account's listing to find orphans on
/// servers no policy names any more.
pub(crate) fn find(config: &Config, kind: Kind, items: &[Item]) -> Vec<Orphan> {
    let prefixes: BTreeSet<&str> = config.policies.iter().map(|p| p.prefix.as_str()).collect();
    let protected: BTreeSet<u64> = config
        .policies
        .iter()
        .filter(|p| p.kind == kind)
        .flat_map(|p| p.protect.iter().copied())
        .collect();
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
            protected: protected.contains(&item.id),
        });
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
        }
    }

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
        let found = find(&config, Kind::Snapshot, &snapshots);
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
        let found = find(&config, Kind::Backup, &backups);
        let ids: Vec<u64> = found.iter().map(|o| o.item.id).collect();
        assert_eq!(ids, vec![21, 22, 24]);
        assert!(found.iter().all(|o| !o.protected), "9 protects a snapshot");
    }
}
