//! Fault injection: the ways VPS.org can misbehave that snapkeep must survive.
//!
//! The real API can be slow, rate-limit us, fail with 5xx, lose a response
//! after doing the work, answer with a body that is not JSON, or leave an item
//! `in_progress` forever. Each of those is a knob here, set globally or per
//! endpoint, changeable while the simulator runs, and drawn from a seeded RNG
//! so a failing run can be replayed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One API endpoint of the simulator, the unit faults can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Endpoint {
    /// `GET /api/v1/snapshots/`
    #[serde(rename = "snapshots.list")]
    SnapshotsList,
    /// `POST /api/v1/snapshots/`
    #[serde(rename = "snapshots.create")]
    SnapshotsCreate,
    /// `DELETE /api/v1/snapshots/{id}/`
    #[serde(rename = "snapshots.delete")]
    SnapshotsDelete,
    /// `POST /api/v1/snapshots/{id}/restore/`
    #[serde(rename = "snapshots.restore")]
    SnapshotsRestore,
    /// `GET /api/v1/backups/`
    #[serde(rename = "backups.list")]
    BackupsList,
    /// `POST /api/v1/backups/`
    #[serde(rename = "backups.create")]
    BackupsCreate,
    /// `DELETE /api/v1/backups/{id}/`
    #[serde(rename = "backups.delete")]
    BackupsDelete,
    /// `POST /api/v1/servers/{id}/restore/`
    #[serde(rename = "servers.restore")]
    ServersRestore,
}

impl Endpoint {
    /// Every endpoint, in a stable order.
    pub const ALL: [Endpoint; 8] = [
        Endpoint::SnapshotsList,
        Endpoint::SnapshotsCreate,
        Endpoint::SnapshotsDelete,
        Endpoint::SnapshotsRestore,
        Endpoint::BackupsList,
        Endpoint::BackupsCreate,
        Endpoint::BackupsDelete,
        Endpoint::ServersRestore,
    ];

    /// The key used in [`Faults::per_endpoint`], e.g. `"snapshots.create"`.
    pub fn key(self) -> &'static str {
        match self {
            Endpoint::SnapshotsList => "snapshots.list",
            Endpoint::SnapshotsCreate => "snapshots.create",
            Endpoint::SnapshotsDelete => "snapshots.delete",
            Endpoint::SnapshotsRestore => "snapshots.restore",
            Endpoint::BackupsList => "backups.list",
            Endpoint::BackupsCreate => "backups.create",
            Endpoint::BackupsDelete => "backups.delete",
            Endpoint::ServersRestore => "servers.restore",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A string that names no [`Endpoint`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown endpoint {given:?}; use one of snapshots.list, snapshots.create, \
     snapshots.delete, snapshots.restore, backups.list, backups.create, \
     backups.delete, servers.restore"
)]
pub struct UnknownEndpoint {
    /// What was given.
    pub given: String,
}

impl FromStr for Endpoint {
    type Err = UnknownEndpoint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Endpoint::ALL
            .into_iter()
            .find(|e| e.key() == s)
            .ok_or_else(|| UnknownEndpoint {
                given: s.to_owned(),
            })
    }
}

/// How often and how one endpoint (or all of them) misbehaves.
///
/// Rates are probabilities per request in `0.0..=1.0` (values outside are
/// clamped: `<= 0` never, `>= 1` always). Faults are tried in this order, and
/// the first that fires decides the answer: `latency` (always added),
/// `rate_limit_rate`, `error_rate` (neither changes any state), then the real
/// work is done and `lost_response_rate`, then `malformed_rate`, spoil its
/// answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSpec {
    /// Share of requests answered with `error_status` without doing anything.
    pub error_rate: f64,
    /// Status of those answers: 500 gets Django's HTML error page, 502/503/504
    /// a proxy's HTML page, anything else a JSON `{"detail": ...}`.
    pub error_status: u16,
    /// Share of requests answered `429 Too Many Requests` without doing anything.
    pub rate_limit_rate: f64,
    /// `Retry-After` seconds sent with a 429; 0 sends no `Retry-After` header.
    pub retry_after_secs: u64,
    /// Delay added before every request is handled.
    #[serde(with = "humantime_serde")]
    pub latency: Duration,
    /// Share of requests that reach the endpoint (past auth and the 429 and
    /// error faults) whose work is done but whose connection is then dropped
    /// without any response.
    pub lost_response_rate: f64,
    /// Share of successful answers with a body (lists, creates, restores)
    /// whose JSON is cut in half; status and state change are kept.
    pub malformed_rate: f64,
}

impl Default for FaultSpec {
    fn default() -> Self {
        FaultSpec {
            error_rate: 0.0,
            error_status: 500,
            rate_limit_rate: 0.0,
            retry_after_secs: 1,
            latency: Duration::ZERO,
            lost_response_rate: 0.0,
            malformed_rate: 0.0,
        }
    }
}

impl FaultSpec {
    /// No faults at all.
    pub fn none() -> Self {
        FaultSpec::default()
    }

    /// Answer `rate` of requests with `status` (500, 502, 503, ...).
    pub fn with_errors(mut self, rate: f64, status: u16) -> Self {
        self.error_rate = rate;
        self.error_status = status;
        self
    }

    /// Answer `rate` of requests with 429 and `Retry-After: retry_after_secs`.
    pub fn with_rate_limit(mut self, rate: f64, retry_after_secs: u64) -> Self {
        self.rate_limit_rate = rate;
        self.retry_after_secs = retry_after_secs;
        self
    }

    /// Delay every request by `latency`.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Do the work of `rate` of requests, then drop the connection unanswered.
    pub fn with_lost_responses(mut self, rate: f64) -> Self {
        self.lost_response_rate = rate;
        self
    }

    /// Cut the JSON body of `rate` of successful answers in half.
    pub fn with_malformed(mut self, rate: f64) -> Self {
        self.malformed_rate = rate;
        self
    }
}

/// Every fault the simulator injects, plus the page size it serves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Faults for every endpoint that has no entry in `per_endpoint`.
    pub global: FaultSpec,
    /// Faults for one endpoint, keyed by [`Endpoint::key`]
    /// (`"snapshots.create"`, ...). An entry replaces `global` for that
    /// endpoint; it is not added to it.
    pub per_endpoint: BTreeMap<String, FaultSpec>,
    /// Items per list page (the API default is 50); 0 serves everything on
    /// one page.
    pub page_size: usize,
    /// Snapshots and backups created from now on never leave `in_progress`.
    pub stuck_in_progress: bool,
    /// Snapshots and backups created from now on end `failed` instead of
    /// `completed` after `complete_after` (`stuck_in_progress` wins if both).
    pub fail_creates: bool,
    /// Limits `stuck_in_progress` and `fail_creates` to creates on these
    /// servers; `None` means every server.
    pub only_servers: Option<BTreeSet<u64>>,
}

/// The page size VPS.org-style DRF pagination uses unless told otherwise.
pub const DEFAULT_PAGE_SIZE: usize = 50;

impl Default for Faults {
    fn default() -> Self {
        Faults {
            global: FaultSpec::default(),
            per_endpoint: BTreeMap::new(),
            page_size: DEFAULT_PAGE_SIZE,
            stuck_in_progress: false,
            fail_creates: false,
            only_servers: None,
        }
    }
}

impl Faults {
    /// No faults, default page size.
    pub fn none() -> Self {
        Faults::default()
    }

    /// Use `spec` for every endpoint without its own entry.
    pub fn with_global(mut self, spec: FaultSpec) -> Self {
        self.global = spec;
        self
    }

    /// Use `spec` (instead of `global`) for `endpoint`.
    pub fn with_endpoint(mut self, endpoint: Endpoint, spec: FaultSpec) -> Self {
        self.per_endpoint.insert(endpoint.key().to_owned(), spec);
        self
    }

    /// Serve `page_size` items per list page (0: one page).
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size;
        self
    }

    /// New items never leave `in_progress`.
    pub fn with_stuck_in_progress(mut self) -> Self {
        self.stuck_in_progress = true;
        self
    }

    /// New items end `failed`.
    pub fn with_fail_creates(mut self) -> Self {
        self.fail_creates = true;
        self
    }

    /// Limit `stuck_in_progress` and `fail_creates` to these servers.
    pub fn with_only_servers(mut self, servers: impl IntoIterator<Item = u64>) -> Self {
        self.only_servers = Some(servers.into_iter().collect());
        self
    }

    /// The faults that apply to `endpoint`.
    pub fn spec_for(&self, endpoint: Endpoint) -> &FaultSpec {
        self.per_endpoint
            .get(endpoint.key())
            .unwrap_or(&self.global)
    }

    /// Keys in `per_endpoint` that name no endpoint (they never apply).
    pub fn unknown_endpoint_keys(&self) -> Vec<&str> {
        self.per_endpoint
            .keys()
            .map(String::as_str)
            .filter(|k| k.parse::<Endpoint>().is_err())
            .collect()
    }

    /// How an item created now on `server_id` will end.
    pub(crate) fn fate_for(&self, server_id: u64) -> Fate {
        let targeted = self
            .only_servers
            .as_ref()
            .is_none_or(|s| s.contains(&server_id));
        if targeted && self.stuck_in_progress {
            Fate::Stuck
        } else if targeted && self.fail_creates {
            Fate::Fail
        } else {
            Fate::Complete
        }
    }
}

/// What an `in_progress` item turns into once `complete_after` has passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    Complete,
    Fail,
    Stuck,
}

/// Which fault the simulator injected into one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InjectedFault {
    /// Answered `error_status` without doing anything.
    Error,
    /// Answered 429 without doing anything.
    RateLimit,
    /// Did the work, then dropped the connection unanswered.
    LostResponse,
    /// Did the work, then sent a truncated JSON body.
    Malformed,
}

/// One Bernoulli draw; `rate` outside `0..=1` (or NaN) needs no draw.
pub(crate) fn roll(rng: &mut fastrand::Rng, rate: f64) -> bool {
    if rate.is_nan() || rate <= 0.0 {
        false
    } else if rate >= 1.0 {
        true
    } else {
        rng.f64() < rate
    }
}

/// Durations as humantime strings (`"250ms"`, `"2s"`) in the control API.
mod humantime_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keys_round_trip() {
        for e in Endpoint::ALL {
            assert_eq!(e.key().parse::<Endpoint>(), Ok(e));
            assert_eq!(serde_json::to_value(e).unwrap(), serde_json::json!(e.key()));
        }
        let err = "snapshot.list".parse::<Endpoint>().unwrap_err();
        assert!(err.to_string().contains("snapshots.list"), "{err}");
    }

    #[test]
    fn per_endpoint_replaces_global() {
        let f = Faults::none()
            .with_global(FaultSpec::none().with_errors(1.0, 503))
            .with_endpoint(Endpoint::BackupsList, FaultSpec::none());
        assert_eq!(f.spec_for(Endpoint::SnapshotsList).error_rate, 1.0);
        assert_eq!(f.spec_for(Endpoint::BackupsList).error_rate, 0.0);
    }

    #[test]
    fn fates_respect_only_servers() {
        let f = Faults::none().with_fail_creates().with_only_servers([1]);
        assert_eq!(f.fate_for(1), Fate::Fail);
        assert_eq!(f.fate_for(2), Fate::Complete);
        let f = f.with_stuck_in_progress();
        assert_eq!(f.fate_for(1), Fate::Stuck);
    }

    #[test]
    fn faults_deserialize_from_partial_json() {
        let f: Faults = serde_json::from_str(
            r#"{"global": {"latency": "20ms", "error_rate": 0.5},
                "per_endpoint": {"snapshots.create": {"lost_response_rate": 1}},
                "page_size": 3}"#,
        )
        .unwrap();
        assert_eq!(f.global.latency, Duration::from_millis(20));
        assert_eq!(f.global.error_status, 500);
        assert_eq!(
            f.spec_for(Endpoint::SnapshotsCreate).lost_response_rate,
            1.0
        );
        assert_eq!(f.page_size, 3);
        assert!(f.unknown_endpoint_keys().is_empty());
    }

    #[test]
    fn roll_extremes_need_no_luck() {
        let mut rng = fastrand::Rng::with_seed(1);
        assert!(!roll(&mut rng, 0.0));
        assert!(!roll(&mut rng, f64::NAN));
        assert!(roll(&mut rng, 1.0));
        let hits = (0..1000).filter(|_| roll(&mut rng, 0.3)).count();
        assert!((200..400).contains(&hits), "{hits}");
    }
}
