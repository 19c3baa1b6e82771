//! Typed shapes of what VPS.org returns.
//!
//! The provider documents only `in_progress` and `completed`, gives no
//! ordering guarantee and may add fields at any time, so every model ignores
//! unknown fields, nullable fields are `Option`, and status/type enums keep
//! values they do not know instead of failing the whole list.
//!
//! An item that does not decode is skipped (`Client::decode_items`), and an
//! item of ours that is skipped leaves its slot looking empty: the next pass
//! creates again. So only the fields that decide what an item *is* may make
//! it unreadable — `id`, `server.id`, the name (snapshots) or description
//! (backups), `status`, `created_at` and a backup's `backup_type`. Fields
//! snapkeep only shows or does not use (`size_mb`, `expires_at`, a server's
//! `name`, a snapshot's `description`) decode leniently: an odd form
//! (`5120.5`, `"5120.5"`, `""`, `null`, another type) is read as well as it
//! can be, else as absent, and never hides its item.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

/// The `server` object embedded in every snapshot and backup.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct ServerRef {
    pub(crate) id: u64,
    /// For messages only: `null` or another type reads as empty.
    #[serde(default, deserialize_with = "lenient_string")]
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

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) id: u64,
    pub(crate) server: ServerRef,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub(crate) name: String,
    pub(crate) status: Status,
    /// Size in MB as the provider states it (see [`lenient_size`]).
    #[serde(default, deserialize_with = "lenient_size")]
    pub(crate) size_mb: Option<f64>,
    pub(crate) created_at: DateTime<Utc>,
    /// Not what makes a snapshot ours (its name is): lenient.
    #[serde(default, deserialize_with = "lenient_option_string")]
    pub(crate) description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Backup {
    pub(crate) id: u64,
    pub(crate) server: ServerRef,
    pub(crate) backup_type: BackupType,
    pub(crate) status: Status,
    /// Size in MB as the provider states it (see [`lenient_size`]).
    #[serde(default, deserialize_with = "lenient_size")]
    pub(crate) size_mb: Option<f64>,
    pub(crate) created_at: DateTime<Utc>,
    /// When an automatic backup expires; empty or unreadable is `None`.
    #[serde(default, deserialize_with = "lenient_time")]
    pub(crate) expires_at: Option<DateTime<Utc>>,
    /// What makes a backup ours (`{prefix}:{policy}:{slot}`): strict.
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

/// Any JSON value; what the lenient readers below start from. (Reading a
/// `Value` fails only on input that is not JSON at all, which fails the
/// whole item anyway.)
fn any_value<'de, D: Deserializer<'de>>(d: D) -> Result<serde_json::Value, D::Error> {
    serde_json::Value::deserialize(d)
}

/// `size_mb`: an integer (`5120`), a fraction (`5120.5`), a numeric string
/// (`"5120"`, `" 5120.5 "`) or `null`. Anything else — another type, a
/// string that is no number, a negative or non-finite value — is `None`:
/// snapkeep only shows sizes, so an odd one must not hide its item.
fn lenient_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let mb = match any_value(d)? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    Ok(mb.filter(|mb| mb.is_finite() && *mb >= 0.0))
}

/// A timestamp snapkeep does not act on (`expires_at`): RFC 3339, else
/// `None` (`""`, `null`, `"never"`, a number).
fn lenient_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Ok(match any_value(d)? {
        serde_json::Value::String(s) => DateTime::parse_from_rfc3339(s.trim())
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        _ => None,
    })
}

/// A string snapkeep only shows: another type or `null` is empty.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(lenient_option_string(d)?.unwrap_or_default())
}

/// An optional string snapkeep does not act on: another type is `None`.
fn lenient_option_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match any_value(d)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
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
        assert_eq!(b.size_mb, Some(4456.0));
    }

    /// A snapshot as the docs show it, with `size_mb` and the server's name
    /// replaced by `size` and `server_name` (raw JSON).
    fn snapshot_with(size: &str, server_name: &str, description: &str) -> Snapshot {
        let json = format!(
            r#"{{"id":801,"server":{{"id":12345,"name":{server_name}}},"name":"snapkeep-nightly-20250105-030000",
            "status":"completed","size_mb":{size},"created_at":"2025-01-05T03:00:05Z","description":{description}}}"#
        );
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    #[test]
    fn size_mb_reads_integers_fractions_numeric_strings_and_null() {
        for (raw, want) in [
            ("5120", Some(5120.0)),
            ("5120.5", Some(5120.5)),
            ("0", Some(0.0)),
            (r#""5120""#, Some(5120.0)),
            (r#""5120.5""#, Some(5120.5)),
            (r#"" 42 ""#, Some(42.0)),
            ("1e3", Some(1000.0)),
            ("null", None),
        ] {
            assert_eq!(
                snapshot_with(raw, r#""web""#, "null").size_mb,
                want,
                "{raw}"
            );
        }
    }

    #[test]
    fn an_odd_size_mb_is_absent_and_never_hides_its_item() {
        for raw in [
            r#""""#,
            r#""about 5 GB""#,
            r#""NaN""#,
            r#""inf""#,
            "-1",
            "true",
            "[5120]",
            r#"{"mb":5120}"#,
        ] {
            let s = snapshot_with(raw, r#""web""#, "null");
            assert_eq!(s.size_mb, None, "{raw}");
            assert_eq!((s.id, s.status), (801, Status::Completed), "{raw}");
        }
        // Absent altogether.
        let json = r#"{"id":1,"server":{"id":2},"name":"n","status":"completed","created_at":"2025-01-05T03:00:05Z"}"#;
        assert_eq!(
            serde_json::from_str::<Snapshot>(json).unwrap().size_mb,
            None
        );
    }

    #[test]
    fn a_server_name_or_snapshot_description_of_another_type_is_empty() {
        let s = snapshot_with("1", "null", "7");
        assert_eq!((s.server.name.as_str(), s.description), ("", None));
        let s = snapshot_with("1", "42", r#"{"text":"x"}"#);
        assert_eq!((s.server.name.as_str(), s.description), ("", None));
        let s = snapshot_with("1", r#""web-01""#, r#""before the upgrade""#);
        assert_eq!(
            (s.server.name.as_str(), s.description.as_deref()),
            ("web-01", Some("before the upgrade"))
        );
    }

    fn backup_with(expires_at: &str) -> Backup {
        let json = format!(
            r#"{{"id":499,"server":{{"id":12345,"name":"web-01"}},"backup_type":"manual","status":"completed",
            "size_mb":"4456.25","created_at":"2025-01-14T10:30:00Z","expires_at":{expires_at},
            "description":"snapkeep:weekly:2025-01-14T10:30:00Z"}}"#
        );
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    #[test]
    fn expires_at_empty_or_unreadable_is_none_and_the_backup_still_reads() {
        for raw in [
            r#""""#,
            "null",
            r#""never""#,
            r#""2025-13-45""#,
            "0",
            "false",
        ] {
            let b = backup_with(raw);
            assert_eq!(b.expires_at, None, "{raw}");
            assert_eq!(b.size_mb, Some(4456.25), "{raw}");
            assert_eq!(b.id, 499);
        }
        let b = backup_with(r#""2025-02-14T10:30:00+01:00""#);
        assert_eq!(
            b.expires_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-02-14T09:30:00+00:00")
        );
    }

    #[test]
    fn the_fields_that_decide_what_an_item_is_stay_strict() {
        // A snapshot's name and a backup's description decide ownership; an
        // id, a server id, a status or a creation time that cannot be read
        // make the item unreadable (skipped, counted, never ours).
        let ok = r#"{"id":1,"server":{"id":2},"name":"n","status":"completed","created_at":"2025-01-05T03:00:05Z"}"#;
        assert!(serde_json::from_str::<Snapshot>(ok).is_ok());
        for (from, to) in [
            (r#""id":1"#, r#""id":"1""#),
            (r#""server":{"id":2}"#, r#""server":null"#),
            (r#""name":"n""#, r#""name":7"#),
            (r#""status":"completed""#, r#""status":1"#),
            (
                r#""created_at":"2025-01-05T03:00:05Z""#,
                r#""created_at":"""#,
            ),
        ] {
            let bad = ok.replace(from, to);
            assert!(serde_json::from_str::<Snapshot>(&bad).is_err(), "{bad}");
        }
        let backup = r#"{"id":1,"server":{"id":2},"backup_type":"manual","status":"completed","created_at":"2025-01-05T03:00:05Z","description":7}"#;
        assert!(serde_json::from_str::<Backup>(backup).is_err());
    }
}
