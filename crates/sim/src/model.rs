//! The simulated world as tests see it: servers, snapshots and backups.
//!
//! These are plain values copied out of the simulator's state, so a test can
//! assert on what VPS.org "really" holds without going through the HTTP API
//! (and its faults).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The status of a snapshot or backup.
///
/// The API documents `in_progress` and `completed`; `failed` is the one
/// undocumented value clients must expect, and a seed may use any other
/// string to check that clients treat unknown values as "not usable".
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum SimStatus {
    /// Being created; `size_mb` is null.
    InProgress,
    /// Ready to restore from.
    Completed,
    /// Creation failed; takes a slot, restores nothing.
    Failed,
    /// Any other value, sent as is.
    Other(String),
}

impl SimStatus {
    /// The wire value, e.g. `"in_progress"`.
    pub fn as_str(&self) -> &str {
        match self {
            SimStatus::InProgress => "in_progress",
            SimStatus::Completed => "completed",
            SimStatus::Failed => "failed",
            SimStatus::Other(s) => s,
        }
    }
}

impl From<String> for SimStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "in_progress" => SimStatus::InProgress,
            "completed" => SimStatus::Completed,
            "failed" => SimStatus::Failed,
            _ => SimStatus::Other(s),
        }
    }
}

impl From<&str> for SimStatus {
    fn from(s: &str) -> Self {
        SimStatus::from(s.to_owned())
    }
}

impl From<SimStatus> for String {
    fn from(s: SimStatus) -> Self {
        match s {
            SimStatus::Other(s) => s,
            known => known.as_str().to_owned(),
        }
    }
}

impl fmt::Display for SimStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a backup: us (`manual`) or the provider's schedule (`automatic`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupType {
    /// Created through `POST /backups/`; at most 10 per server; never expires.
    Manual,
    /// Made by the provider; only ever present through the seed.
    Automatic,
}

impl BackupType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupType::Manual => "manual",
            BackupType::Automatic => "automatic",
        }
    }
}

/// A server and what it is doing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimServer {
    /// Server id.
    pub id: u64,
    /// Server name.
    pub name: String,
    /// `"running"`, or `"restoring"` for `complete_after` after a restore.
    pub status: String,
}

/// A snapshot as the simulator holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimSnapshot {
    /// Snapshot id.
    pub id: u64,
    /// The server it belongs to.
    pub server_id: u64,
    /// That server's name.
    pub server_name: String,
    /// Snapshot name.
    pub name: String,
    /// Current status (evaluated against the clock when copied out).
    pub status: SimStatus,
    /// Size once completed; `None` while in progress or failed.
    pub size_mb: Option<u64>,
    /// Creation time, whole seconds.
    pub created_at: DateTime<Utc>,
    /// Description (empty when none was given).
    pub description: String,
}

/// A backup as the simulator holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimBackup {
    /// Backup id.
    pub id: u64,
    /// The server it belongs to.
    pub server_id: u64,
    /// That server's name.
    pub server_name: String,
    /// Manual or automatic.
    pub backup_type: BackupType,
    /// Current status (evaluated against the clock when copied out).
    pub status: SimStatus,
    /// Size once completed; `None` while in progress or failed.
    pub size_mb: Option<u64>,
    /// Creation time, whole seconds.
    pub created_at: DateTime<Utc>,
    /// When the provider drops it; `None` for manual backups.
    pub expires_at: Option<DateTime<Utc>>,
    /// Description (empty when none was given).
    pub description: String,
}
