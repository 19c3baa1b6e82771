//! Typed shapes of what VPS.org returns.
//!
//! The provider documents only `in_progress` and `completed`, gives no
//! ordering guarantee and may add fields at any time, so every model ignores
//! unknown fields, nullable fields are `Option`, and status/type enums keep
//! values they do not know instead of failing the whole list.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

/// The `server` object embedded in every snapshot and backup.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct ServerRef {
    pub(crate) id: u64,
    #[serde(default)]
    pub(crate) name: String,
}

/// Lifecycle of a snapshot or backup. Unknown values are kept verbatim:
/// they are neither usable nor deletable by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    InProgress,
    Completed,
    Failed,
    Other(String),
}

impl Status {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Other(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Option::<String>::deserialize(d)?.unwrap_or_default();
        Ok(match raw.as_str() {
            "in_progress" => Status::InProgress,
            "completed" => Status::Completed,
            // Only `failed` is known to be over: anything else (`error`,
            // `pending`, `deleting`, …) is neither done nor failed.
            "failed" => Status::Failed,
            _ => Status::Other(raw),
        })
    }
}

/// `manual` backups are the ones we may create and rotate; `automatic` ones
/// belong to the provider's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BackupType {
    Manual,
    Automatic,
    Other(String),
}

impl<'de> Deserialize<'de> for BackupType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Option::<String>::deserialize(d)?.unwrap_or_default();
        Ok(match raw.as_str() {
            "manual" => BackupType::Manual,
            "automatic" => BackupType::Automatic,
            _ => BackupType::Other(raw),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) id: u64,
    pub(crate) server: ServerRef,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub(crate) name: String,
    pub(crate) status: Status,
    #[serde(default)]
    pub(crate) size_mb: Option<u64>,
    pub(crate) created_at: DateTime<Utc>,
    #[serde(default)]
    pub(crate) description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Backup {
    pub(crate) id: u64,
    pub(crate) server: ServerRef,
    pub(crate) backup_type: BackupType,
    pub(crate) status: Status,
    #[serde(default)]
    pub(crate) size_mb: Option<u64>,
    pub(crate) created_at: DateTime<Utc>,
    #[serde(default)]
    pub(crate) expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub(crate) description: Option<String>,
}

/// Body of a successful restore call; only the fields we show are typed.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RestoreAccepted {
    #[serde(default)]
    pub(crate) status: Option<String>,
    #[serde(default)]
    pub(crate) message: Option<String>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_statuses_survive() {
        let json = r#"{"id":9,"server":{"id":1,"name":"a","region":"x"},
            "name":null,"status":"pending_upload","size_mb":null,"created_at":"2025-01-15T18:30:00Z",
            "extra":{"nested":true}}"#;
        let s: Snapshot = serde_json::from_str(json).unwrap();
        assert_eq!(s.status, Status::Other("pending_upload".into()));
        // `error` is not `failed`: only `failed` is known to be over.
        let e: Status = serde_json::from_str(r#""error""#).unwrap();
        assert_eq!(e, Status::Other("error".into()));
        assert_eq!(s.name, "");
        assert_eq!(s.description, None);
    }

    #[test]
    fn docs_backup_example_parses() {
        let json = r#"{"id":499,"server":{"id":12345,"name":"web-server-01"},"backup_type":"manual",
            "status":"completed","size_mb":4456,"created_at":"2025-01-14T10:30:00Z","expires_at":null,
            "description":"Pre-update backup"}"#;
        let b: Backup = serde_json::from_str(json).unwrap();
        assert_eq!(b.backup_type, BackupType::Manual);
        assert_eq!(b.expires_at, None);
        assert_eq!(b.size_mb, Some(4456));
    }
}
