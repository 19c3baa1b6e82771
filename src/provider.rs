//! What VPS.org is, as far as snapkeep's decisions go: the two kinds of
//! item a policy rotates and how many of each a server may hold.
//!
//! These are facts of the provider, stated once here: the config checks
//! headroom against them, the rotation job makes room under them, `simulate`
//! and `status` print them. The simulator (`crates/sim`) states the same caps
//! on its own on purpose (ARCHITECTURE.md, "The workspace") — it stands in
//! for the provider, so a wrong cap here is caught there; a test
//! (`provider::tests::the_simulator_enforces_the_same_caps`) keeps the two
//! equal.

use std::fmt;

/// How many snapshots VPS.org lets one server hold.
pub(crate) const SNAPSHOT_CAP: usize = 5;
/// How many manual backups VPS.org lets one server hold (automatic ones
/// are the provider's and do not count).
pub(crate) const MANUAL_BACKUP_CAP: usize = 10;

/// What a policy makes and rotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    Snapshot,
    Backup,
}

impl Kind {
    /// Both kinds, in the order listings and reports show them.
    pub(crate) const ALL: [Kind; 2] = [Kind::Snapshot, Kind::Backup];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Snapshot => "snapshot",
            Kind::Backup => "backup",
        }
    }

    /// How many items of this kind the provider lets one server hold.
    pub(crate) fn cap(self) -> usize {
        match self {
            Kind::Snapshot => SNAPSHOT_CAP,
            Kind::Backup => MANUAL_BACKUP_CAP,
        }
    }

    pub(crate) fn plural(self) -> &'static str {
        match self {
            Kind::Snapshot => "snapshots",
            Kind::Backup => "manual backups",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name of the one account a config with only `[api]` (no
/// `[[account]]` table) has: what `status`, the audit log and the metrics'
/// `account` label say for it (here, beside the provider's other facts, so
/// that the audit log can leave it out of its messages).
pub(crate) const DEFAULT_ACCOUNT: &str = "default";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulator_enforces_the_same_caps() {
        assert_eq!(SNAPSHOT_CAP, snapkeep_sim::SNAPSHOT_CAP);
        assert_eq!(MANUAL_BACKUP_CAP, snapkeep_sim::MANUAL_BACKUP_CAP);
        assert_eq!(Kind::Snapshot.cap(), SNAPSHOT_CAP);
        assert_eq!(Kind::Backup.cap(), MANUAL_BACKUP_CAP);
    }
}
