//! The JSON the simulator sends, field for field as in the API documentation.
//!
//! Kept apart from the state so the wire shapes can be checked against the
//! digest in one place: field names, their order, `null`s, and timestamps as
//! `2025-01-15T18:30:00Z`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

use super::model::{BackupType, SimBackup, SimServer, SimSnapshot};

pub(crate) const SNAPSHOT_CREATED: &str =
    "Snapshot is being created. This may take 3-10 minutes depending on server size.";
pub(crate) const BACKUP_CREATED: &str =
    "Backup is being created. This may take several minutes depending on server size.";
pub(crate) const SNAPSHOT_RESTORING: &str =
    "Server is being restored from snapshot. This may take 5-15 minutes.";
pub(crate) const BACKUP_RESTORING: &str =
    "Server is being restored from backup. This may take several minutes.";

fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

fn rfc3339_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

/// `{"detail": "..."}`, DRF's error body.
#[derive(Serialize)]
pub(crate) struct Detail<'a> {
    pub(crate) detail: &'a str,
}

/// DRF's page: `count`, `next`, `previous`, `results`.
#[derive(Serialize)]
pub(crate) struct Page<T> {
    /// The real number of items, or the inflated one (`count_inflation`).
    pub(crate) count: u64,
    pub(crate) next: Option<String>,
    pub(crate) previous: Option<String>,
    pub(crate) results: Vec<T>,
}

#[derive(Serialize)]
pub(crate) struct ServerRef<'a> {
    id: u64,
    name: &'a str,
}

/// One snapshot in a list, or a created one (with `message`).
#[derive(Serialize)]
pub(crate) struct SnapshotOut<'a> {
    id: u64,
    server: ServerRef<'a>,
    name: &'a str,
    status: &'a str,
    size_mb: Option<u64>,
    #[serde(serialize_with = "rfc3339")]
    created_at: DateTime<Utc>,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'static str>,
}

impl<'a> SnapshotOut<'a> {
    pub(crate) fn new(s: &'a SimSnapshot, message: Option<&'static str>) -> Self {
        SnapshotOut {
            id: s.id,
            server: ServerRef {
                id: s.server_id,
                name: &s.server_name,
            },
            name: &s.name,
            status: s.status.as_str(),
            size_mb: s.size_mb,
            created_at: s.created_at,
            description: &s.description,
            message,
        }
    }
}

/// One backup in a list, or a created one (with `message`).
#[derive(Serialize)]
pub(crate) struct BackupOut<'a> {
    id: u64,
    server: ServerRef<'a>,
    backup_type: BackupType,
    status: &'a str,
    size_mb: Option<u64>,
    #[serde(serialize_with = "rfc3339")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339_opt")]
    expires_at: Option<DateTime<Utc>>,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'static str>,
}

impl<'a> BackupOut<'a> {
    pub(crate) fn new(b: &'a SimBackup, message: Option<&'static str>) -> Self {
        BackupOut {
            id: b.id,
            server: ServerRef {
                id: b.server_id,
                name: &b.server_name,
            },
            backup_type: b.backup_type,
            status: b.status.as_str(),
            size_mb: b.size_mb,
            created_at: b.created_at,
            expires_at: b.expires_at,
            description: &b.description,
            message,
        }
    }
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    id: u64,
    name: &'a str,
    #[serde(serialize_with = "rfc3339")]
    created_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct BackupRef {
    id: u64,
    backup_type: BackupType,
    #[serde(serialize_with = "rfc3339")]
    created_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct RestoringServer<'a> {
    id: u64,
    name: &'a str,
    status: &'a str,
}

/// The 200 answer of a snapshot restore.
#[derive(Serialize)]
pub(crate) struct SnapshotRestored<'a> {
    status: &'static str,
    message: &'static str,
    snapshot: SnapshotRef<'a>,
    server: RestoringServer<'a>,
}

impl<'a> SnapshotRestored<'a> {
    pub(crate) fn new(s: &'a SimSnapshot, server: &'a SimServer) -> Self {
        SnapshotRestored {
            status: "success",
            message: SNAPSHOT_RESTORING,
            snapshot: SnapshotRef {
                id: s.id,
                name: &s.name,
                created_at: s.created_at,
            },
            server: RestoringServer {
                id: server.id,
                name: &server.name,
                status: &server.status,
            },
        }
    }
}

/// The 200 answer of a restore from backup (servers API; not in the docs we
/// have, so it mirrors the snapshot restore with `backup` instead).
#[derive(Serialize)]
pub(crate) struct BackupRestored<'a> {
    status: &'static str,
    message: &'static str,
    backup: BackupRef,
    server: RestoringServer<'a>,
}

impl<'a> BackupRestored<'a> {
    pub(crate) fn new(b: &SimBackup, server: &'a SimServer) -> Self {
        BackupRestored {
            status: "success",
            message: BACKUP_RESTORING,
            backup: BackupRef {
                id: b.id,
                backup_type: b.backup_type,
                created_at: b.created_at,
            },
            server: RestoringServer {
                id: server.id,
                name: &server.name,
                status: &server.status,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Seed;
    use crate::state::World;

    #[test]
    fn list_items_match_the_docs_byte_for_byte() {
        let w = World::new(
            &Seed::docs_example(),
            Utc::now(),
            std::time::Duration::from_secs(1),
        )
        .unwrap();
        let s = w.snapshots(Some(12345));
        let s801 = s.iter().find(|s| s.id == 801).unwrap();
        assert_eq!(
            serde_json::to_string(&SnapshotOut::new(s801, None)).unwrap(),
            r#"{"id":801,"server":{"id":12345,"name":"web-server-01"},"name":"pre-migration-snapshot","status":"completed","size_mb":5120,"created_at":"2025-01-15T18:30:00Z","description":"Before major migration"}"#
        );
        let b = w.backups(Some(12345), None);
        let b501 = b.iter().find(|b| b.id == 501).unwrap();
        assert_eq!(
            serde_json::to_string(&BackupOut::new(b501, None)).unwrap(),
            r#"{"id":501,"server":{"id":12345,"name":"web-server-01"},"backup_type":"automatic","status":"completed","size_mb":4523,"created_at":"2025-01-16T03:00:00Z","expires_at":"2025-02-16T03:00:00Z","description":"Automatic daily backup"}"#
        );
        let b499 = b.iter().find(|b| b.id == 499).unwrap();
        let v = serde_json::to_value(BackupOut::new(b499, None)).unwrap();
        assert_eq!(v["expires_at"], serde_json::Value::Null);
        assert_eq!(v["backup_type"], "manual");
    }
}
