//! Stock malformed list items for [`Faults::junk_items`](super::Faults::junk_items).
//!
//! Real list answers carry items no documentation promises: a snapshot whose
//! server was deleted (`"server": null`, no timestamp), an item missing most
//! of its fields. A hardened client skips them (and says so) rather than
//! crashing or deleting them. These helpers build such items so tests and the
//! fault harness do not each spell out the JSON; any other JSON works too.
//! Give them ids far from the real ones (e.g. 9_000_000 and up): the
//! simulator does not check for clashes.

use serde_json::{Value, json};

/// A completed snapshot of a server that no longer exists: `server` and
/// `created_at` are `null`; the other fields are well formed.
pub fn deleted_server_snapshot(id: u64) -> Value {
    json!({
        "id": id,
        "server": null,
        "name": "orphan",
        "status": "completed",
        "size_mb": 1024,
        "created_at": null,
        "description": "Snapshot of a deleted server"
    })
}

/// A completed manual backup of a server that no longer exists: `server`,
/// `created_at` and `expires_at` are `null`; the other fields are well formed.
pub fn deleted_server_backup(id: u64) -> Value {
    json!({
        "id": id,
        "server": null,
        "backup_type": "manual",
        "status": "completed",
        "size_mb": 1024,
        "created_at": null,
        "expires_at": null,
        "description": "Backup of a deleted server"
    })
}

/// An item with nothing but an `id` and a `status` of `completed`: no
/// `server`, no `name`, no `created_at`, no `backup_type`. Fits either list.
pub fn missing_fields(id: u64) -> Value {
    json!({ "id": id, "status": "completed" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_items_are_objects_with_their_id() {
        for (item, id) in [
            (deleted_server_snapshot(9_000_001), 9_000_001),
            (deleted_server_backup(9_000_002), 9_000_002),
            (missing_fields(9_000_003), 9_000_003),
        ] {
            assert!(item.is_object());
            assert_eq!(item["id"], id);
        }
        assert_eq!(deleted_server_snapshot(1)["server"], Value::Null);
        assert!(missing_fields(1).get("server").is_none());
    }
}
