//! How snapkeep recognises what it made.
//!
//! Ownership is decided by name alone (rule 1 of a pass): a snapshot is ours
//! only if its name is exactly `{prefix}-{policy}-{YYYYMMDD}-{HHMMSS}`, a
//! backup only if its description starts with `{prefix}:{policy}:{RFC 3339}`.
//! The timestamp is the slot (the scheduled fire time, UTC), which is what
//! makes a pass idempotent. Parsing is strict — one character off and the item
//! is not ours, so it is never deleted.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::provider::Kind;

const SNAPSHOT_STAMP: &str = "%Y%m%d-%H%M%S";
const BACKUP_STAMP: &str = "%Y-%m-%dT%H:%M:%SZ";

/// The snapshot name for a slot: `snapkeep-nightly-20250105-040000`.
pub(crate) fn snapshot_name(prefix: &str, policy: &str, slot: DateTime<Utc>) -> String {
    format!("{prefix}-{policy}-{}", slot.format(SNAPSHOT_STAMP))
}

/// The backup description for a slot: `snapkeep:nightly:2025-01-05T04:00:00Z`,
/// then a space and the policy's own description, if any.
pub(crate) fn backup_description(
    prefix: &str,
    policy: &str,
    slot: DateTime<Utc>,
    extra: Option<&str>,
) -> String {
    let marker = format!("{prefix}:{policy}:{}", slot.format(BACKUP_STAMP));
    match extra.map(str::trim).filter(|e| !e.is_empty()) {
        Some(extra) => format!("{marker} {extra}"),
        None => marker,
    }
}

/// The label we create for a slot: the name (snapshots) or the description (backups).
pub(crate) fn label_for(
    kind: Kind,
    prefix: &str,
    policy: &str,
    slot: DateTime<Utc>,
    extra: Option<&str>,
) -> String {
    match kind {
        Kind::Snapshot => snapshot_name(prefix, policy, slot),
        Kind::Backup => backup_description(prefix, policy, slot, extra),
    }
}

/// The slot of an item, if `label` (snapshot name or backup description)
/// marks it as made by this prefix and policy; None means "not ours".
pub(crate) fn owned_slot(
    kind: Kind,
    prefix: &str,
    policy: &str,
    label: &str,
) -> Option<DateTime<Utc>> {
    parse_owned(kind, prefix, label)
        .filter(|(name, _)| *name == policy)
        .map(|(_, slot)| slot)
}

/// The policy name and slot of an item whose `label` has this prefix's
/// exact ownership format, for *any* policy name (`[a-z0-9_-]+`): how items
/// of policies no longer configured are found. Exactly as strict as
/// [`owned_slot`], which is built on it. A snapshot name stays unambiguous
/// with hyphens in policy names because the stamp is always its last 15
/// characters; a backup's policy name ends at the first `:`. (A prefix
/// holds no `-` and neither holds a `:`, so the prefix ends unambiguously.)
pub(crate) fn parse_owned<'a>(
    kind: Kind,
    prefix: &str,
    label: &'a str,
) -> Option<(&'a str, DateTime<Utc>)> {
    if prefix.is_empty() {
        return None;
    }
    match kind {
        Kind::Snapshot => {
            let rest = label.strip_prefix(prefix)?.strip_prefix('-')?;
            let split = rest.len().checked_sub(16)?;
            let (policy, stamp) = rest.split_at_checked(split)?;
            let stamp = stamp.strip_prefix('-')?;
            let slot = parse_exact(stamp, SNAPSHOT_STAMP, 15)?;
            is_policy_name(policy).then_some((policy, slot))
        }
        Kind::Backup => {
            let rest = label.strip_prefix(prefix)?.strip_prefix(':')?;
            let (policy, rest) = rest.split_once(':')?;
            let (stamp, tail) = rest.split_at_checked(20)?;
            if !(tail.is_empty() || tail.starts_with(' ')) {
                return None;
            }
            let slot = parse_exact(stamp, BACKUP_STAMP, 20)?;
            is_policy_name(policy).then_some((policy, slot))
        }
    }
}

/// A policy name as config validation allows it: `[a-z0-9_-]+`.
fn is_policy_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Parses `text` with `format` and accepts it only if it is exactly the
/// canonical rendering (no extra digits, no other widths).
fn parse_exact(text: &str, format: &str, len: usize) -> Option<DateTime<Utc>> {
    if text.len() != len || !text.is_ascii() {
        return None;
    }
    let t = NaiveDateTime::parse_from_str(text, format).ok()?.and_utc();
    (t.format(format).to_string() == text).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn slot() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 5, 4, 0, 0).unwrap()
    }

    #[test]
    fn round_trips() {
        let n = snapshot_name("snapkeep", "nightly", slot());
        assert_eq!(n, "snapkeep-nightly-20250105-040000");
        assert_eq!(
            owned_slot(Kind::Snapshot, "snapkeep", "nightly", &n),
            Some(slot())
        );
        let d = backup_description("snapkeep", "nightly", slot(), Some("nightly rotation"));
        assert_eq!(d, "snapkeep:nightly:2025-01-05T04:00:00Z nightly rotation");
        assert_eq!(
            owned_slot(Kind::Backup, "snapkeep", "nightly", &d),
            Some(slot())
        );
        let bare = backup_description("snapkeep", "nightly", slot(), None);
        assert_eq!(
            owned_slot(Kind::Backup, "snapkeep", "nightly", &bare),
            Some(slot())
        );
    }

    #[test]
    fn strict_about_everything_else() {
        let not_ours = [
            "pre-migration-snapshot",
            "snapkeep-nightly-20250105-04000",
            "snapkeep-nightly-20250105-0400000",
            "snapkeep-nightly-20250105-040000-copy",
            "snapkeep-nightly-20251305-040000",
            "snapkeep-nightly2-20250105-040000",
            "Snapkeep-nightly-20250105-040000",
            "snapkeep-weekly-20250105-040000",
            "snapkeep-nightly-2025010-5040000",
        ];
        for name in not_ours {
            assert_eq!(
                owned_slot(Kind::Snapshot, "snapkeep", "nightly", name),
                None,
                "{name}"
            );
        }
        for desc in [
            "Pre-update backup",
            "snapkeep:nightly:2025-01-05T04:00:00+00:00",
            "snapkeep:nightly:2025-01-05T04:00:00Zx",
            "snapkeep:nightly:2025-1-05T04:00:00Z",
            "snapkeep:weekly:2025-01-05T04:00:00Z",
        ] {
            assert_eq!(
                owned_slot(Kind::Backup, "snapkeep", "nightly", desc),
                None,
                "{desc}"
            );
        }
    }

    #[test]
    fn any_policy_name_under_a_prefix() {
        let n = snapshot_name("snapkeep", "old-web_2", slot());
        assert_eq!(
            parse_owned(Kind::Snapshot, "snapkeep", &n),
            Some(("old-web_2", slot()))
        );
        let d = backup_description("snapkeep", "gone", slot(), Some("a: b"));
        assert_eq!(
            parse_owned(Kind::Backup, "snapkeep", &d),
            Some(("gone", slot()))
        );
        for (kind, label) in [
            (Kind::Snapshot, "snapkeep--20250105-040000"),
            (Kind::Snapshot, "snapkeep-20250105-040000"),
            (Kind::Snapshot, "snapkeep-Old-20250105-040000"),
            (Kind::Snapshot, "snapkeep-old.x-20250105-040000"),
            (Kind::Snapshot, "snapkeep-old-20250105-040000-copy"),
            (Kind::Snapshot, "snapkeep-old-20250105_040000"),
            (Kind::Snapshot, "other-old-20250105-040000"),
            (Kind::Snapshot, "snapkeepx-old-20250105-040000"),
            (Kind::Snapshot, "snapkeep-é-20250105-040000"),
            (Kind::Snapshot, "snapkeep-ééééééééééééééééé"),
            (Kind::Backup, "snapkeep::2025-01-05T04:00:00Z"),
            (Kind::Backup, "snapkeep:Old:2025-01-05T04:00:00Z"),
            (Kind::Backup, "snapkeep:old:2025-01-05T04:00:00Zx"),
            (Kind::Backup, "snapkeep:old"),
            (Kind::Backup, "snapkeep-old-20250105-040000"),
            (Kind::Snapshot, "snapkeep:old:2025-01-05T04:00:00Z"),
        ] {
            assert_eq!(parse_owned(kind, "snapkeep", label), None, "{label}");
        }
        assert_eq!(parse_owned(Kind::Snapshot, "", "-a-20250105-040000"), None);
    }

    proptest::proptest! {
        /// `owned_slot` for a configured name agrees with `parse_owned` on
        /// any label, so finding orphans and owning items never disagree.
        #[test]
        fn parse_owned_agrees_with_owned_slot(
            label in "(snapkeep|snap|x)[-:][a-z0-9_:-]{0,12}[-:]?[0-9TZ:-]{0,22}( .{0,3})?",
            policy in "[a-z0-9_-]{1,6}",
        ) {
            for kind in [Kind::Snapshot, Kind::Backup] {
                let parsed = parse_owned(kind, "snapkeep", &label);
                let owned = owned_slot(kind, "snapkeep", &policy, &label);
                proptest::prop_assert_eq!(
                    owned,
                    parsed.filter(|(p, _)| *p == policy).map(|(_, s)| s)
                );
                if let Some((p, slot)) = parsed {
                    proptest::prop_assert_eq!(
                        owned_slot(kind, "snapkeep", p, &label),
                        Some(slot)
                    );
                    proptest::prop_assert!(label.starts_with(&crate::naming::label_for(
                        kind, "snapkeep", p, slot, None
                    )));
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn labels_round_trip_for_any_policy_name(
            policy in "[a-z0-9_-]{1,20}",
            secs in 0i64..4_000_000_000,
            extra in proptest::option::of("[ -~]{0,10}"),
        ) {
            let slot = DateTime::from_timestamp(secs, 0).unwrap();
            for kind in [Kind::Snapshot, Kind::Backup] {
                let label = label_for(kind, "snapkeep", &policy, slot, extra.as_deref());
                proptest::prop_assert_eq!(
                    parse_owned(kind, "snapkeep", &label),
                    Some((policy.as_str(), slot))
                );
            }
        }
    }

    #[test]
    fn parse_exact_holds_the_text_to_its_length() {
        // Callers slice the stamp to its width first; the check itself must
        // still refuse a canonical stamp of another length.
        assert_eq!(
            parse_exact("20250105-040000", SNAPSHOT_STAMP, 15),
            Some(slot())
        );
        assert_eq!(parse_exact("20250105-040000", SNAPSHOT_STAMP, 16), None);
        assert_eq!(parse_exact("2025-01-05T04:00:00Z", BACKUP_STAMP, 15), None);
        assert_eq!(parse_exact("2025-01-05T04:00:0é", BACKUP_STAMP, 20), None);
    }

    #[test]
    fn policy_names_that_prefix_each_other_stay_apart() {
        let n = snapshot_name("snapkeep", "a-b", slot());
        assert_eq!(owned_slot(Kind::Snapshot, "snapkeep", "a", &n), None);
        assert_eq!(
            owned_slot(Kind::Snapshot, "snapkeep", "a-b", &n),
            Some(slot())
        );
    }
}
