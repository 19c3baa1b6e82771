//! The status model's own tests (the command's tables are tested in
//! `commands/status.rs`): what each row says the next pass deletes, and
//! where a protected item is shown.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use std::collections::HashMap;

use super::{Row, rows};
use crate::api::Status;
use crate::inventory::Item;
use crate::provider::Kind;

/// An item of server 1 (`web-01`); also the command's tests' fixture.
pub(crate) fn item(id: u64, label: &str, status: Status, at: DateTime<Utc>) -> Item {
    Item {
        id,
        server_id: 1,
        server_name: "web-01".into(),
        label: label.into(),
        status,
        created_at: at,
        size_bytes: None,
    }
}

/// What status says the next pass deletes is what the job deletes
/// (`job::rules`): our failed items and a second item of an earlier
/// slot first (rule 3), then what retention drops (rule 6). Before the
/// rules were one, status asked retention alone and left the duplicate
/// out, which the job deletes.
#[test]
fn the_next_pass_deletes_failed_items_and_earlier_duplicates_first() {
    let config = crate::config::parse_str(
        "[[policy]]\nname = \"n\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 3\n",
        "t",
    )
    .unwrap();
    let now = Utc.with_ymd_and_hms(2025, 1, 10, 12, 0, 0).unwrap();
    let d = |days| Utc.with_ymd_and_hms(2025, 1, 10, 3, 0, 0).unwrap() - TimeDelta::days(days);
    let items = vec![
        item(1, "snapkeep-n-20250110-030000", Status::Completed, d(0)),
        item(2, "snapkeep-n-20250109-030000", Status::Completed, d(1)),
        item(3, "snapkeep-n-20250109-030000", Status::Completed, d(1)),
        item(4, "snapkeep-n-20250108-030000", Status::Failed, d(2)),
        item(5, "snapkeep-n-20250107-030000", Status::Completed, d(3)),
        item(6, "snapkeep-n-20250106-030000", Status::Completed, d(4)),
    ];
    let inv = HashMap::from([(Kind::Snapshot, HashMap::from([(1, items)]))]);
    let rows = rows(&config, &inv, now);
    let planned: Vec<(u64, Vec<&str>)> = rows[0]
        .would_delete
        .iter()
        .map(|p| (p.id, p.reasons.clone()))
        .collect();
    assert_eq!(
        planned,
        vec![
            (4, vec!["failed"]),
            (3, vec!["duplicate"]),
            (6, vec!["no-rule"]),
        ]
    );
}

/// `protect` is global, so status shows a protected item once: in the
/// row of the policy whose name it carries (not also under the policy
/// that lists it), and never as that policy's to prune.
#[test]
fn an_item_protected_by_another_policy_is_shown_once_and_never_pruned() {
    let config = crate::config::parse_str(
        r#"
[[policy]]
name = "a"
kind = "snapshot"
servers = [1]
schedule = "0 3 * * *"
keep_last = 1
[[policy]]
name = "b"
kind = "snapshot"
servers = [1]
schedule = "0 4 * * *"
keep_last = 1
protect = [5001, 7]
"#,
        "t",
    )
    .unwrap();
    let now = Utc.with_ymd_and_hms(2025, 1, 10, 12, 0, 0).unwrap();
    let d = |days| Utc.with_ymd_and_hms(2025, 1, 10, 3, 0, 0).unwrap() - TimeDelta::days(days);
    let items = vec![
        item(5000, "snapkeep-a-20250110-030000", Status::Completed, d(0)),
        item(5001, "snapkeep-a-20250109-030000", Status::Completed, d(1)),
        item(5002, "snapkeep-a-20250108-030000", Status::Completed, d(2)),
        item(7, "before-upgrade", Status::Completed, d(9)),
    ];
    let inv = HashMap::from([(Kind::Snapshot, HashMap::from([(1, items)]))]);
    let rows = rows(&config, &inv, now);
    let shown = |r: &Row| -> Vec<u64> { r.protected.iter().map(|p| p.id).collect() };
    let pruned = |r: &Row| -> Vec<u64> { r.would_delete.iter().map(|p| p.id).collect() };
    assert_eq!(
        (shown(&rows[0]), pruned(&rows[0])),
        (vec![5001], vec![5002]),
        "a's own item, protected by b"
    );
    assert_eq!(
        (shown(&rows[1]), pruned(&rows[1])),
        (vec![7], vec![]),
        "b lists 7, which no policy names"
    );
}
