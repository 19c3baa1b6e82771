//! Seed data: the servers, snapshots and backups that exist when the
//! simulator starts.
//!
//! Seeds come from a TOML or JSON file (`snapkeep sim --seed`), or are built
//! in code by tests, benchmarks and `snapkeep demo`. Times are either absolute
//! (`created_at`, RFC 3339) or relative to the simulator's start (`age`,
//! humantime like `"3d"`), so a seed file stays meaningful whenever it is run.
//! Without a seed the simulator serves the documentation's own examples.
//!
//! File shape (JSON uses the same keys):
//!
//! ```toml
//! [[servers]]
//! id = 12345
//! name = "web-server-01"
//!
//! [[snapshots]]
//! id = 801                    # optional; otherwise the next free id
//! server_id = 12345
//! name = "pre-migration-snapshot"
//! status = "completed"        # default; any string is accepted
//! size_mb = 5120              # optional; derived for completed items
//! created_at = 2025-01-15T18:30:00Z   # or: age = "3d"
//! description = "Before major migration"
//!
//! [[backups]]
//! server_id = 12345
//! backup_type = "automatic"   # default "manual"
//! age = "12h"
//! expires_at = 2025-02-16T03:00:00Z   # optional; automatic: created + 31d
//! description = "Automatic daily backup"
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use super::model::{BackupType, SimStatus};

/// When a seeded item was created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeedTime {
    /// At this instant.
    At(DateTime<Utc>),
    /// This long before the simulator started.
    Age(Duration),
}

impl SeedTime {
    /// The instant this stands for, given when the simulator started
    /// (truncated to whole seconds, as the API shows them).
    pub fn resolve(&self, started: DateTime<Utc>) -> DateTime<Utc> {
        let t = match self {
            SeedTime::At(t) => *t,
            SeedTime::Age(age) => TimeDelta::from_std(*age)
                .ok()
                .and_then(|d| started.checked_sub_signed(d))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        };
        whole_seconds(t)
    }
}

impl From<Duration> for SeedTime {
    fn from(age: Duration) -> Self {
        SeedTime::Age(age)
    }
}

impl From<DateTime<Utc>> for SeedTime {
    fn from(at: DateTime<Utc>) -> Self {
        SeedTime::At(at)
    }
}

/// Drops sub-second precision: the API shows `2025-01-15T18:30:00Z`.
pub(crate) fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// A seeded server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedServer {
    /// Server id.
    pub id: u64,
    /// Server name.
    pub name: String,
}

/// A seeded snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedSnapshot {
    /// Fixed id, or `None` for the next free one.
    pub id: Option<u64>,
    /// Owning server; must be in [`Seed::servers`].
    pub server_id: u64,
    /// Snapshot name (not validated: seeds may hold names the API would refuse).
    pub name: String,
    /// Status; seeded items keep it for good.
    pub status: SimStatus,
    /// Size; `None` on a completed item gets a made-up size.
    pub size_mb: Option<u64>,
    /// Creation time.
    pub created: SeedTime,
    /// Description.
    pub description: String,
}

impl SeedSnapshot {
    /// A snapshot with no fixed id, derived size and empty description.
    pub fn new(
        server_id: u64,
        name: impl Into<String>,
        created: impl Into<SeedTime>,
        status: impl Into<SimStatus>,
    ) -> Self {
        SeedSnapshot {
            id: None,
            server_id,
            name: name.into(),
            status: status.into(),
            size_mb: None,
            created: created.into(),
            description: String::new(),
        }
    }

    /// Use this id.
    pub fn with_id(mut self, id: u64) -> Self {
        self.id = Some(id);
        self
    }

    /// Use this description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Use this size.
    pub fn with_size_mb(mut self, size_mb: u64) -> Self {
        self.size_mb = Some(size_mb);
        self
    }
}

/// A seeded backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedBackup {
    /// Fixed id, or `None` for the next free one.
    pub id: Option<u64>,
    /// Owning server; must be in [`Seed::servers`].
    pub server_id: u64,
    /// Manual or automatic (automatic backups exist only through seeds).
    pub backup_type: BackupType,
    /// Status; seeded items keep it for good.
    pub status: SimStatus,
    /// Size; `None` on a completed item gets a made-up size.
    pub size_mb: Option<u64>,
    /// Creation time.
    pub created: SeedTime,
    /// Expiry; `None` means null for manual and created + 31 days for automatic.
    pub expires_at: Option<DateTime<Utc>>,
    /// Description.
    pub description: String,
}

impl SeedBackup {
    /// A backup with no fixed id, derived size and default expiry.
    pub fn new(
        server_id: u64,
        backup_type: BackupType,
        description: impl Into<String>,
        created: impl Into<SeedTime>,
        status: impl Into<SimStatus>,
    ) -> Self {
        SeedBackup {
            id: None,
            server_id,
            backup_type,
            status: status.into(),
            size_mb: None,
            created: created.into(),
            expires_at: None,
            description: description.into(),
        }
    }

    /// Use this id.
    pub fn with_id(mut self, id: u64) -> Self {
        self.id = Some(id);
        self
    }

    /// Use this size.
    pub fn with_size_mb(mut self, size_mb: u64) -> Self {
        self.size_mb = Some(size_mb);
        self
    }

    /// Use this expiry.
    pub fn with_expires_at(mut self, expires_at: DateTime<Utc>) -> Self {
        self.expires_at = Some(expires_at);
        self
    }
}

/// Everything that exists when the simulator starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seed {
    /// Servers (servers are never created or deleted while running).
    pub servers: Vec<SeedServer>,
    /// Snapshots.
    pub snapshots: Vec<SeedSnapshot>,
    /// Backups.
    pub backups: Vec<SeedBackup>,
}

/// The syntax of a seed text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedFormat {
    /// TOML (`*.toml`).
    Toml,
    /// JSON (`*.json`).
    Json,
}

/// Why a seed could not be used; every message names where the seed came from.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The file could not be read.
    #[error("cannot read seed file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file name does not say TOML or JSON.
    #[error("seed file {}: unknown format; name it *.toml or *.json", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The text is not valid TOML/JSON or does not have the seed's shape.
    #[error("seed {origin}: {message}")]
    Parse {
        /// File name, or `"text (toml)"` for [`Seed::parse_str`].
        origin: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// The seed parses but makes no sense (unknown server, duplicate id, ...).
    #[error("seed {origin}: {message}")]
    Invalid {
        /// Where the seed came from.
        origin: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl Seed {
    /// No servers, nothing on them.
    pub fn empty() -> Self {
        Seed {
            servers: Vec::new(),
            snapshots: Vec::new(),
            backups: Vec::new(),
        }
    }

    /// The API documentation's own examples: `web-server-01` (12345) with
    /// snapshots 801 and 798 and backups 501, 499 and 495, plus three servers
    /// with nothing on them (12346, 12347, 12348).
    pub fn docs_example() -> Self {
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("valid literal")
                .with_timezone(&Utc)
        };
        Seed::empty()
            .server(12345, "web-server-01")
            .server(12346, "web-server-02")
            .server(12347, "db-server-01")
            .server(12348, "staging-01")
            .add_snapshot(
                SeedSnapshot::new(
                    12345,
                    "pre-migration-snapshot",
                    at("2025-01-15T18:30:00Z"),
                    SimStatus::Completed,
                )
                .with_id(801)
                .with_size_mb(5120)
                .with_description("Before major migration"),
            )
            .add_snapshot(
                SeedSnapshot::new(
                    12345,
                    "weekly-snapshot-2025-01-08",
                    at("2025-01-08T12:00:00Z"),
                    SimStatus::Completed,
                )
                .with_id(798)
                .with_size_mb(4856)
                .with_description("Weekly snapshot"),
            )
            .add_backup(
                SeedBackup::new(
                    12345,
                    BackupType::Automatic,
                    "Automatic daily backup",
                    at("2025-01-16T03:00:00Z"),
                    SimStatus::Completed,
                )
                .with_id(501)
                .with_size_mb(4523)
                .with_expires_at(at("2025-02-16T03:00:00Z")),
            )
            .add_backup(
                SeedBackup::new(
                    12345,
                    BackupType::Manual,
                    "Pre-update backup",
                    at("2025-01-14T10:30:00Z"),
                    SimStatus::Completed,
                )
                .with_id(499)
                .with_size_mb(4456),
            )
            .add_backup(
                SeedBackup::new(
                    12345,
                    BackupType::Automatic,
                    "Automatic daily backup",
                    at("2025-01-15T03:00:00Z"),
                    SimStatus::Completed,
                )
                .with_id(495)
                .with_size_mb(4389)
                .with_expires_at(at("2025-02-15T03:00:00Z")),
            )
    }

    /// `n` servers with nothing on them: ids `1..=n`, names `server-0001`...
    pub fn fleet(n: usize) -> Self {
        let mut seed = Seed::empty();
        seed.servers = (1..=n as u64)
            .map(|id| SeedServer {
                id,
                name: format!("server-{id:04}"),
            })
            .collect();
        seed
    }

    /// Adds a server.
    pub fn server(mut self, id: u64, name: impl Into<String>) -> Self {
        self.servers.push(SeedServer {
            id,
            name: name.into(),
        });
        self
    }

    /// Adds a snapshot with the next free id, derived size and no description.
    pub fn snapshot(
        self,
        server_id: u64,
        name: impl Into<String>,
        created: impl Into<SeedTime>,
        status: impl Into<SimStatus>,
    ) -> Self {
        self.add_snapshot(SeedSnapshot::new(server_id, name, created, status))
    }

    /// Adds a backup with the next free id, derived size and default expiry.
    pub fn backup(
        self,
        server_id: u64,
        backup_type: BackupType,
        description: impl Into<String>,
        created: impl Into<SeedTime>,
        status: impl Into<SimStatus>,
    ) -> Self {
        self.add_backup(SeedBackup::new(
            server_id,
            backup_type,
            description,
            created,
            status,
        ))
    }

    /// Adds a fully specified snapshot.
    pub fn add_snapshot(mut self, snapshot: SeedSnapshot) -> Self {
        self.snapshots.push(snapshot);
        self
    }

    /// Adds a fully specified backup.
    pub fn add_backup(mut self, backup: SeedBackup) -> Self {
        self.backups.push(backup);
        self
    }

    /// Reads a seed file; `*.toml` is TOML, `*.json` is JSON.
    pub fn load(path: impl AsRef<Path>) -> Result<Seed, SeedError> {
        let path = path.as_ref();
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("toml") => SeedFormat::Toml,
            Some(e) if e.eq_ignore_ascii_case("json") => SeedFormat::Json,
            _ => {
                return Err(SeedError::UnknownFormat {
                    path: path.to_owned(),
                });
            }
        };
        let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
            path: path.to_owned(),
            source,
        })?;
        Seed::parse_named(&text, format, &path.display().to_string())
    }

    /// Parses seed text (tests use this so they never touch disk).
    pub fn parse_str(text: &str, format: SeedFormat) -> Result<Seed, SeedError> {
        let origin = match format {
            SeedFormat::Toml => "text (toml)",
            SeedFormat::Json => "text (json)",
        };
        Seed::parse_named(text, format, origin)
    }

    fn parse_named(text: &str, format: SeedFormat, origin: &str) -> Result<Seed, SeedError> {
        let parse_err = |message: String| SeedError::Parse {
            origin: origin.to_owned(),
            message,
        };
        let raw: RawSeed = match format {
            SeedFormat::Toml => toml::from_str(text).map_err(|e| parse_err(e.to_string()))?,
            SeedFormat::Json => serde_json::from_str(text).map_err(|e| parse_err(e.to_string()))?,
        };
        let seed = raw.into_seed(origin)?;
        seed.check(origin)?;
        Ok(seed)
    }

    /// Checks that the seed is consistent: unique server and item ids, and
    /// every item on a seeded server.
    pub fn check(&self, origin: &str) -> Result<(), SeedError> {
        let invalid = |message: String| SeedError::Invalid {
            origin: origin.to_owned(),
            message,
        };
        let mut servers = BTreeSet::new();
        for s in &self.servers {
            if !servers.insert(s.id) {
                return Err(invalid(format!(
                    "server id {} appears twice; give each server its own id",
                    s.id
                )));
            }
        }
        let mut ids = BTreeSet::new();
        for (i, s) in self.snapshots.iter().enumerate() {
            let what = format!("snapshot #{} ({:?})", i + 1, s.name);
            if !servers.contains(&s.server_id) {
                return Err(invalid(format!(
                    "{what}: server_id {} is not a seeded server; add it to servers",
                    s.server_id
                )));
            }
            if let Some(id) = s.id.filter(|id| !ids.insert(*id)) {
                return Err(invalid(format!("{what}: snapshot id {id} appears twice")));
            }
        }
        ids.clear();
        for (i, b) in self.backups.iter().enumerate() {
            let what = format!("backup #{} ({:?})", i + 1, b.description);
            if !servers.contains(&b.server_id) {
                return Err(invalid(format!(
                    "{what}: server_id {} is not a seeded server; add it to servers",
                    b.server_id
                )));
            }
            if let Some(id) = b.id.filter(|id| !ids.insert(*id)) {
                return Err(invalid(format!("{what}: backup id {id} appears twice")));
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeed {
    #[serde(default)]
    servers: Vec<RawServer>,
    #[serde(default)]
    snapshots: Vec<RawSnapshot>,
    #[serde(default)]
    backups: Vec<RawBackup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    id: u64,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSnapshot {
    id: Option<u64>,
    server_id: u64,
    name: String,
    status: Option<SimStatus>,
    size_mb: Option<u64>,
    created_at: Option<RawTime>,
    age: Option<String>,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackup {
    id: Option<u64>,
    server_id: u64,
    backup_type: Option<BackupType>,
    status: Option<SimStatus>,
    size_mb: Option<u64>,
    created_at: Option<RawTime>,
    age: Option<String>,
    expires_at: Option<RawTime>,
    #[serde(default)]
    description: String,
}

impl RawSeed {
    fn into_seed(self, origin: &str) -> Result<Seed, SeedError> {
        let invalid = |message: String| SeedError::Invalid {
            origin: origin.to_owned(),
            message,
        };
        let mut seed = Seed::empty();
        seed.servers = self
            .servers
            .into_iter()
            .map(|s| SeedServer {
                id: s.id,
                name: s.name,
            })
            .collect();
        for (i, s) in self.snapshots.into_iter().enumerate() {
            let what = format!("snapshot #{} ({:?})", i + 1, s.name);
            let created =
                seed_time(s.created_at, s.age).map_err(|m| invalid(format!("{what}: {m}")))?;
            seed.snapshots.push(SeedSnapshot {
                id: s.id,
                server_id: s.server_id,
                name: s.name,
                status: s.status.unwrap_or(SimStatus::Completed),
                size_mb: s.size_mb,
                created,
                description: s.description,
            });
        }
        for (i, b) in self.backups.into_iter().enumerate() {
            let what = format!("backup #{} ({:?})", i + 1, b.description);
            let created =
                seed_time(b.created_at, b.age).map_err(|m| invalid(format!("{what}: {m}")))?;
            let expires_at = b
                .expires_at
                .map(|t| parse_time(&t.0))
                .transpose()
                .map_err(|m| invalid(format!("{what}: expires_at {m}")))?;
            seed.backups.push(SeedBackup {
                id: b.id,
                server_id: b.server_id,
                backup_type: b.backup_type.unwrap_or(BackupType::Manual),
                status: b.status.unwrap_or(SimStatus::Completed),
                size_mb: b.size_mb,
                created,
                expires_at,
                description: b.description,
            });
        }
        Ok(seed)
    }
}

fn seed_time(created_at: Option<RawTime>, age: Option<String>) -> Result<SeedTime, String> {
    match (created_at, age) {
        (Some(t), None) => parse_time(&t.0)
            .map(SeedTime::At)
            .map_err(|m| format!("created_at {m}")),
        (None, Some(age)) => humantime::parse_duration(&age)
            .map(SeedTime::Age)
            .map_err(|e| format!("age {age:?}: {e}; write it like \"3d\", \"12h\" or \"90m\"")),
        (Some(_), Some(_)) => Err("has both created_at and age; keep one".to_owned()),
        (None, None) => Err(
            "needs created_at (RFC 3339, e.g. 2025-01-15T18:30:00Z) or age (e.g. \"3d\")"
                .to_owned(),
        ),
    }
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{text:?}: {e}; use RFC 3339 like 2025-01-15T18:30:00Z"))
}

/// A time written either as a string (JSON, quoted TOML) or as a native TOML
/// datetime, which the toml crate hands over as a one-entry map.
struct RawTime(String);

impl<'de> Deserialize<'de> for RawTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawTime;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an RFC 3339 date-time like 2025-01-15T18:30:00Z")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawTime, E> {
                Ok(RawTime(v.to_owned()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawTime, A::Error> {
                let Some((_, value)) = map.next_entry::<String, String>()? else {
                    return Err(serde::de::Error::custom("empty date-time"));
                };
                Ok(RawTime(value))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML_SEED: &str = r#"
[[servers]]
id = 7
name = "alpha"

[[servers]]
id = 8
name = "beta"

[[snapshots]]
id = 40
server_id = 7
name = "native-time"
created_at = 2025-01-15T18:30:00Z
size_mb = 100

[[snapshots]]
server_id = 7
name = "quoted-time"
created_at = "2025-01-16T18:30:00+01:00"
status = "in_progress"

[[snapshots]]
server_id = 8
name = "aged"
age = "3d"
status = "pending_deletion"

[[backups]]
server_id = 8
backup_type = "automatic"
age = "12h"
description = "Automatic daily backup"
"#;

    #[test]
    fn parses_toml_with_native_and_quoted_times() {
        let seed = Seed::parse_str(TOML_SEED, SeedFormat::Toml).unwrap();
        assert_eq!(seed.servers.len(), 2);
        assert_eq!(seed.snapshots[0].id, Some(40));
        assert_eq!(
            seed.snapshots[0].created,
            SeedTime::At("2025-01-15T18:30:00Z".parse().unwrap())
        );
        assert_eq!(
            seed.snapshots[1].created,
            SeedTime::At("2025-01-16T17:30:00Z".parse().unwrap())
        );
        assert_eq!(seed.snapshots[1].status, SimStatus::InProgress);
        assert_eq!(
            seed.snapshots[2].status,
            SimStatus::Other("pending_deletion".into())
        );
        assert_eq!(
            seed.snapshots[2].created,
            SeedTime::Age(Duration::from_secs(3 * 86400))
        );
        assert_eq!(seed.backups[0].backup_type, BackupType::Automatic);
        assert_eq!(seed.backups[0].status, SimStatus::Completed);
    }

    #[test]
    fn parses_json() {
        let seed = Seed::parse_str(
            r#"{"servers": [{"id": 1, "name": "a"}],
                "backups": [{"server_id": 1, "created_at": "2025-01-14T10:30:00Z",
                             "description": "x", "status": "failed"}]}"#,
            SeedFormat::Json,
        )
        .unwrap();
        assert_eq!(seed.backups[0].backup_type, BackupType::Manual);
        assert_eq!(seed.backups[0].status, SimStatus::Failed);
    }

    #[test]
    fn errors_say_where_and_what() {
        let cases: &[(&str, SeedFormat, &str)] = &[
            (
                "[[snapshots]]\nserver_id = 1\nname = \"x\"\nage = \"3d\"\n",
                SeedFormat::Toml,
                "server_id 1 is not a seeded server",
            ),
            (
                "[[servers]]\nid = 1\nname = \"a\"\n[[snapshots]]\nserver_id = 1\nname = \"x\"\n",
                SeedFormat::Toml,
                "needs created_at",
            ),
            (
                "[[servers]]\nid = 1\nname = \"a\"\n[[snapshots]]\nserver_id = 1\nname = \"x\"\nage = \"3 fortnights\"\n",
                SeedFormat::Toml,
                "snapshot #1 (\"x\"): age",
            ),
            (
                "[[servers]]\nid = 1\nnmae = \"a\"\n",
                SeedFormat::Toml,
                "unknown field `nmae`",
            ),
            (
                r#"{"servers": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}"#,
                SeedFormat::Json,
                "server id 1 appears twice",
            ),
            (
                r#"{"servers": [{"id": 1, "name": "a"}], "snapshots": [{"server_id": 1, "name": "x", "created_at": "yesterday"}]}"#,
                SeedFormat::Json,
                "created_at \"yesterday\"",
            ),
            (r#"{"servers": [}"#, SeedFormat::Json, "line 1"),
        ];
        for (text, format, want) in cases {
            let err = Seed::parse_str(text, *format).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
            assert!(err.starts_with("seed text ("), "{err:?}");
        }
    }

    #[test]
    fn load_picks_format_by_extension_and_names_the_file() {
        let dir = std::env::temp_dir().join(format!("snapkeep-sim-seed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let toml_path = dir.join("seed.toml");
        std::fs::write(&toml_path, TOML_SEED).unwrap();
        assert_eq!(Seed::load(&toml_path).unwrap().snapshots.len(), 3);

        let bad = dir.join("bad.json");
        std::fs::write(&bad, r#"{"servers": [{"id": "one", "name": "a"}]}"#).unwrap();
        let err = Seed::load(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.json") && err.contains("line 1"), "{err}");

        let err = Seed::load(dir.join("seed.yaml")).unwrap_err().to_string();
        assert!(err.contains("*.toml or *.json"), "{err}");
        let err = Seed::load(dir.join("missing.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read seed file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn docs_example_and_fleet_are_consistent() {
        Seed::docs_example().check("docs").unwrap();
        let fleet = Seed::fleet(3);
        fleet.check("fleet").unwrap();
        assert_eq!(fleet.servers[2].name, "server-0003");
    }

    #[test]
    fn age_resolves_before_start() {
        let start: DateTime<Utc> = "2025-03-01T00:00:00.750Z".parse().unwrap();
        assert_eq!(
            SeedTime::Age(Duration::from_secs(86400)).resolve(start),
            "2025-02-28T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
