//! Fault injection: the ways VPS.org can misbehave that snapkeep must survive.
//!
//! The real API can be slow, rate-limit us (with a sane or an absurd
//! `Retry-After`), fail with 5xx before or after doing the work, lose a
//! response after doing the work, answer with a body that is not JSON, leave
//! an item `in_progress` forever, serve lists that lag behind writes, shift
//! pages under a client walking them, inflate `count`, or slip malformed items
//! into a list. Each of those is a knob here, set globally or per endpoint,
//! changeable while the simulator runs, and drawn from a seeded RNG so a
//! failing run can be replayed.
//!
//! Drawn faults make a run's state replayable but not its output: which
//! server's create draws the 502 depends on which request gets there first.
//! A test that compares a run's whole output scripts its faults instead
//! ([`Faults::with_script`], [`FaultScript`]): the n-th request to an
//! endpoint about one server gets the script's n-th [`Scripted`] answer,
//! whatever the other servers' jobs do meanwhile.

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
/// `rate_limit_rate` (429 with `retry_after_raw` or `retry_after_secs`),
/// `error_rate` (neither changes any state), then the real work is done
/// (lists shaped by the list faults of [`Faults`]: `list_lag`,
/// `page_shift_rate`, `junk_items`, `count_inflation`), and
/// `lost_response_rate`, then `applied_error_rate` (2xx answers only), then
/// `malformed_rate` (2xx answers with a body only), spoil its answer. Each
/// fault draws from the simulator's one seeded RNG only when it is reached
/// and its rate is strictly between 0 and 1, so adding a knob at 0 never
/// changes the draws of the others.
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
    /// When set, the exact `Retry-After` value sent with a 429 instead of
    /// `retry_after_secs`, so clients meet what real servers and proxies send:
    /// years (`"10000000000000000000"`), negatives (`"-5"`), words
    /// (`"soon"`), HTTP dates (`"Wed, 21 Oct 2015 07:28:00 GMT"`). A value
    /// that cannot be an HTTP header value (control characters) sends none.
    pub retry_after_raw: Option<String>,
    /// Delay added before every request is handled.
    #[serde(with = "humantime_serde")]
    pub latency: Duration,
    /// Share of requests that reach the endpoint (past auth and the 429 and
    /// error faults) whose work is done but whose connection is then dropped
    /// without any response.
    pub lost_response_rate: f64,
    /// Share of successful (2xx) answers whose work is done (an item created
    /// or deleted, a restore started) but which are then answered with
    /// `error_status` instead, like a proxy's 502 after the backend acted.
    /// The client cannot tell this from `error_rate`; the state can.
    pub applied_error_rate: f64,
    /// Share of successful answers with a body (lists, creates, restores)
    /// whose JSON is cut in half; status and state change are kept.
    pub malformed_rate: f64,
    /// When set, at most this many faults are injected into this
    /// endpoint's answers, counted over the simulator's request log (every
    /// kind above; a page shift counts too); after that it behaves. "One
    /// 500, then fine" is `with_errors(1.0, 500).with_max_faults(1)`.
    pub max_faults: Option<u64>,
}

impl Default for FaultSpec {
    fn default() -> Self {
        FaultSpec {
            error_rate: 0.0,
            error_status: 500,
            rate_limit_rate: 0.0,
            retry_after_secs: 1,
            retry_after_raw: None,
            latency: Duration::ZERO,
            lost_response_rate: 0.0,
            applied_error_rate: 0.0,
            malformed_rate: 0.0,
            max_faults: None,
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

    /// Answer 429s with exactly `value` as `Retry-After` (see
    /// [`FaultSpec::retry_after_raw`]); combine with [`FaultSpec::with_rate_limit`].
    pub fn with_retry_after_raw(mut self, value: impl Into<String>) -> Self {
        self.retry_after_raw = Some(value.into());
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

    /// Do the work of `rate` of successful requests, then answer `status`
    /// (502, 503, 504, ...) anyway.
    pub fn with_applied_errors(mut self, rate: f64, status: u16) -> Self {
        self.applied_error_rate = rate;
        self.error_status = status;
        self
    }

    /// Cut the JSON body of `rate` of successful answers in half.
    pub fn with_malformed(mut self, rate: f64) -> Self {
        self.malformed_rate = rate;
        self
    }

    /// Inject at most `n` faults on the endpoint (see [`FaultSpec::max_faults`]).
    pub fn with_max_faults(mut self, n: u64) -> Self {
        self.max_faults = Some(n);
        self
    }

    /// This spec, or no faults at all (latency kept) once `injected`
    /// faults have used up `max_faults`.
    pub(crate) fn within_budget(&self, injected: impl FnOnce() -> u64) -> FaultSpec {
        match self.max_faults {
            Some(max) if injected() >= max => FaultSpec {
                latency: self.latency,
                ..FaultSpec::none()
            },
            _ => self.clone(),
        }
    }
}

/// One scripted answer: what one request of a [`FaultScript`] gets instead
/// of the [`FaultSpec`] draws. The kinds are the drawn faults', decided
/// beforehand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Scripted {
    /// Served as if there were no faults: the work done, the real answer
    /// sent (no draw is made for this request).
    Ok,
    /// Answered with this status without doing anything, as `error_rate`
    /// does (500: Django's HTML page, 502-504: a proxy's, others JSON).
    Error(u16),
    /// Answered `429 Too Many Requests` without doing anything, with
    /// `Retry-After: retry_after_secs` (0 sends none), as `rate_limit_rate`.
    RateLimit {
        /// Seconds in `Retry-After`; 0 sends no header.
        retry_after_secs: u64,
    },
    /// The work done, then the connection dropped unanswered, as
    /// `lost_response_rate` (whatever the endpoint's own answer was).
    LostResponse,
    /// The work done, then answered with this status instead, as
    /// `applied_error_rate`; only a 2xx answer is spoiled (a refusal such
    /// as a 400 at the cap is sent as it is, and the step is used up).
    AppliedError(u16),
    /// The work done, then the JSON body cut in half, as `malformed_rate`;
    /// only a 2xx answer with a body is spoiled (the step is used up anyway).
    Malformed,
}

/// The answers, in order, of the requests to one endpoint about one server
/// (or of every request to it, `server_id: None`).
///
/// Its n-th request gets `steps[n]`; once the steps are used up, requests get
/// the endpoint's [`FaultSpec`] draws again. Requests are counted from the
/// moment the faults are set ([`Simulator::set_faults`](super::Simulator::set_faults),
/// `PUT /_sim/faults`), and only those that pass authentication (a 401 uses
/// no step). A request's server is the one the request log names
/// ([`RecordedRequest::server_id`](super::RecordedRequest::server_id): the
/// create's body, a list's `server_id` filter, the owner of the item a
/// delete or restore names). When a server's script and the endpoint's
/// script both cover a request, both count it and the server's step, while
/// it has one, decides.
///
/// A server's script is deterministic however many jobs run at once: its
/// requests are that server's job's, in the job's order. An endpoint-wide
/// script counts every job's requests, so it is deterministic only while
/// one job uses that endpoint (snapkeep lists a whole account in one
/// listing, without a `server_id` filter: use it for listings with care).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultScript {
    /// The endpoint whose requests it answers.
    pub endpoint: Endpoint,
    /// The server whose requests it answers; `None`: every request to
    /// the endpoint.
    #[serde(default)]
    pub server_id: Option<u64>,
    /// The answers, first request first.
    pub steps: Vec<Scripted>,
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
    /// Eventual consistency of list answers (`GET /snapshots/`, `GET
    /// /backups/`): an item created less than this long ago is missing from
    /// them, and one deleted less than this long ago still shows, with the
    /// status it had when deleted. Everything else (caps, deletes, restores,
    /// [`Simulator::snapshots`](super::Simulator::snapshots)) sees the real
    /// state: a create at the cap gets 400 even when the list shows room, a
    /// second delete of a lingering item gets 404. The lag in force when a
    /// list is served decides; deletions older than the lag are forgotten, so
    /// raising it later does not bring them back. Seeded items are never hidden.
    #[serde(with = "humantime_serde")]
    pub list_lag: Duration,
    /// Share of list pages 2..n served shifted by one item, as when the list
    /// changes while a client walks it: half of them (drawn) backwards,
    /// repeating the previous page's last item (and, unless the next page
    /// shifts too, leaving this page's last item out of the walk); the other
    /// half forwards, skipping this page's first item (which the previous page
    /// did not have either) and repeating its last one on the next page.
    /// `count`, `next` and `previous` are not affected.
    pub page_shift_rate: f64,
    /// When set, every list answer reports this `count` (e.g. 5_000_000)
    /// whatever the real number, as a broken or cached counter does; `next`
    /// and `previous` links still follow the real list.
    pub count_inflation: Option<u64>,
    /// Raw JSON values appended, as given, to the end of every snapshot and
    /// backup list (after the real items, so they land on the last page), no
    /// matter the filters; they count in `count`. Use them for what the
    /// client must skip without crashing: a snapshot of a deleted server
    /// (`"server": null`), missing fields, odd types (see [`super::junk`]).
    /// Pick ids no real item will take (the simulator does not check), and
    /// expect deleting them to answer 404: they are not in the state.
    pub junk_items: Vec<serde_json::Value>,
    /// Answers decided beforehand, request by request (see [`FaultScript`]):
    /// where a script has a step for a request, the step decides and the
    /// endpoint's [`FaultSpec`] draws nothing for it (its `latency` is still
    /// added; the list faults above still shape a list). One script per
    /// (endpoint, server); a scripted fault counts in `max_faults` like any.
    pub scripts: Vec<FaultScript>,
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
            list_lag: Duration::ZERO,
            page_shift_rate: 0.0,
            count_inflation: None,
            junk_items: Vec::new(),
            scripts: Vec::new(),
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

    /// Lists lag `lag` behind creates and deletes (see [`Faults::list_lag`]).
    pub fn with_list_lag(mut self, lag: Duration) -> Self {
        self.list_lag = lag;
        self
    }

    /// Shift `rate` of list pages 2..n by one item (see [`Faults::page_shift_rate`]).
    pub fn with_page_shift(mut self, rate: f64) -> Self {
        self.page_shift_rate = rate;
        self
    }

    /// Report `count` in every list answer, whatever the real number.
    pub fn with_count_inflation(mut self, count: u64) -> Self {
        self.count_inflation = Some(count);
        self
    }

    /// Append these raw JSON values to every list (see [`Faults::junk_items`]);
    /// adds to the ones already set.
    pub fn with_junk_items(mut self, items: impl IntoIterator<Item = serde_json::Value>) -> Self {
        self.junk_items.extend(items);
        self
    }

    /// Answer the requests to `endpoint` about `server_id` with `steps`, in
    /// order, then draw from the endpoint's spec again (see [`FaultScript`]);
    /// replaces an earlier script for the same endpoint and server.
    ///
    /// ```
    /// # use snapkeep_sim::{Endpoint, Faults, Scripted};
    /// // Server 2's first create is answered 502 undone, its second is
    /// // done but its answer lost; its third and later are served.
    /// let faults = Faults::none().with_script(
    ///     Endpoint::SnapshotsCreate,
    ///     2,
    ///     [Scripted::Error(502), Scripted::LostResponse],
    /// );
    /// # assert_eq!(faults.scripts.len(), 1);
    /// ```
    pub fn with_script(
        self,
        endpoint: Endpoint,
        server_id: u64,
        steps: impl IntoIterator<Item = Scripted>,
    ) -> Self {
        self.scripted(endpoint, Some(server_id), steps)
    }

    /// Answer the requests to `endpoint`, whichever server they are about,
    /// with `steps` in order (the n-th request overall gets the n-th step;
    /// see [`FaultScript`] for when that is deterministic); replaces an
    /// earlier endpoint-wide script for it.
    pub fn with_endpoint_script(
        self,
        endpoint: Endpoint,
        steps: impl IntoIterator<Item = Scripted>,
    ) -> Self {
        self.scripted(endpoint, None, steps)
    }

    fn scripted(
        mut self,
        endpoint: Endpoint,
        server_id: Option<u64>,
        steps: impl IntoIterator<Item = Scripted>,
    ) -> Self {
        self.scripts
            .retain(|s| (s.endpoint, s.server_id) != (endpoint, server_id));
        self.scripts.push(FaultScript {
            endpoint,
            server_id,
            steps: steps.into_iter().collect(),
        });
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

/// How far each [`FaultScript`] has been played: requests counted per
/// (endpoint, server) and per endpoint since the faults were set.
#[derive(Debug, Default)]
pub(crate) struct ScriptCursor {
    seen: BTreeMap<(Endpoint, Option<u64>), usize>,
}

impl ScriptCursor {
    /// Counts a request to `endpoint` about `server_id` and says what its
    /// scripts answer: the server's step while it has one, else the
    /// endpoint-wide one, else `None` (the spec's draws decide).
    pub(crate) fn next(
        &mut self,
        faults: &Faults,
        endpoint: Endpoint,
        server_id: Option<u64>,
    ) -> Option<Scripted> {
        if faults.scripts.is_empty() {
            return None;
        }
        let mut step = |server: Option<u64>| {
            let script = faults
                .scripts
                .iter()
                .find(|s| s.endpoint == endpoint && s.server_id == server)?;
            let seen = self.seen.entry((endpoint, server)).or_default();
            let n = *seen;
            *seen += 1;
            script.steps.get(n).copied()
        };
        let of_server = server_id.and_then(|id| step(Some(id)));
        let of_endpoint = step(None);
        of_server.or(of_endpoint)
    }
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
    /// Did the work (the endpoint's own answer was 2xx and is the recorded
    /// status), then answered `error_status` instead.
    AppliedError,
    /// Served a list page shifted by one item (`page_shift_rate`).
    PageShift,
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
    fn new_knobs_deserialize_and_unknown_fields_are_refused() {
        let f: Faults = serde_json::from_str(
            r#"{"global": {"applied_error_rate": 0.5, "retry_after_raw": "soon"},
                "list_lag": "1s 500ms", "page_shift_rate": 0.25,
                "count_inflation": 5000000,
                "junk_items": [{"id": 9001, "server": null}]}"#,
        )
        .unwrap();
        assert_eq!(f.global.applied_error_rate, 0.5);
        assert_eq!(f.global.retry_after_raw.as_deref(), Some("soon"));
        assert_eq!(f.list_lag, Duration::from_millis(1500));
        assert_eq!(f.page_shift_rate, 0.25);
        assert_eq!(f.count_inflation, Some(5_000_000));
        assert_eq!(
            f.junk_items,
            [serde_json::json!({"id": 9001, "server": null})]
        );
        let round: Faults = serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(round, f);
        assert!(serde_json::from_str::<Faults>(r#"{"list_lags": "1s"}"#).is_err());
        assert!(serde_json::from_str::<Faults>(r#"{"global": {"retry_after": "1"}}"#).is_err());
        let d = Faults::default();
        assert_eq!(
            (
                d.list_lag,
                d.page_shift_rate,
                d.count_inflation,
                d.junk_items.len()
            ),
            (Duration::ZERO, 0.0, None, 0)
        );
    }

    #[test]
    fn a_script_plays_each_servers_steps_in_order_then_gives_way() {
        let faults = Faults::none()
            .with_script(
                Endpoint::SnapshotsCreate,
                1,
                [Scripted::Error(502), Scripted::LostResponse],
            )
            .with_script(Endpoint::SnapshotsCreate, 2, [Scripted::Ok]);
        let mut cursor = ScriptCursor::default();
        let mut next = |server| cursor.next(&faults, Endpoint::SnapshotsCreate, Some(server));
        // Interleaved as concurrent jobs send them: each server its own count.
        assert_eq!(next(1), Some(Scripted::Error(502)));
        assert_eq!(next(2), Some(Scripted::Ok));
        assert_eq!(next(3), None, "no script for server 3");
        assert_eq!(next(1), Some(Scripted::LostResponse));
        assert_eq!(next(2), None, "used up: the spec decides");
        assert_eq!(next(1), None);
        // Another endpoint of server 1 is not scripted.
        assert_eq!(
            cursor.next(&faults, Endpoint::SnapshotsDelete, Some(1)),
            None
        );
    }

    #[test]
    fn a_servers_step_goes_before_the_endpoints_and_both_count() {
        let faults = Faults::none()
            .with_endpoint_script(
                Endpoint::SnapshotsList,
                [Scripted::Error(503), Scripted::Ok, Scripted::Malformed],
            )
            .with_script(Endpoint::SnapshotsList, 1, [Scripted::Error(502)]);
        let mut cursor = ScriptCursor::default();
        let mut next = |server| cursor.next(&faults, Endpoint::SnapshotsList, server);
        assert_eq!(next(None), Some(Scripted::Error(503)));
        assert_eq!(next(Some(1)), Some(Scripted::Error(502)));
        assert_eq!(next(Some(1)), Some(Scripted::Malformed));
        assert_eq!(next(None), None);
    }

    #[test]
    fn a_second_script_for_the_same_endpoint_and_server_replaces_the_first() {
        let faults = Faults::none()
            .with_script(Endpoint::BackupsCreate, 1, [Scripted::Error(500)])
            .with_script(Endpoint::BackupsCreate, 2, [Scripted::Error(500)])
            .with_script(Endpoint::BackupsCreate, 1, [Scripted::Ok]);
        assert_eq!(faults.scripts.len(), 2);
        let mut cursor = ScriptCursor::default();
        assert_eq!(
            cursor.next(&faults, Endpoint::BackupsCreate, Some(1)),
            Some(Scripted::Ok)
        );
    }

    #[test]
    fn scripts_round_trip_through_json() {
        let f: Faults = serde_json::from_str(
            r#"{"scripts": [{"endpoint": "snapshots.create", "server_id": 2,
                 "steps": [{"error": 502}, "lost_response",
                           {"rate_limit": {"retry_after_secs": 0}},
                           {"applied_error": 504}, "malformed", "ok"]},
                {"endpoint": "backups.list", "steps": ["ok"]}]}"#,
        )
        .unwrap();
        let want = Faults::none()
            .with_script(
                Endpoint::SnapshotsCreate,
                2,
                [
                    Scripted::Error(502),
                    Scripted::LostResponse,
                    Scripted::RateLimit {
                        retry_after_secs: 0,
                    },
                    Scripted::AppliedError(504),
                    Scripted::Malformed,
                    Scripted::Ok,
                ],
            )
            .with_endpoint_script(Endpoint::BackupsList, [Scripted::Ok]);
        assert_eq!(f, want);
        let round: Faults = serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(round, f);
        for bad in [
            r#"{"scripts": [{"endpoint": "snapshot.create", "steps": []}]}"#,
            r#"{"scripts": [{"endpoint": "snapshots.create", "steps": ["lost"]}]}"#,
            r#"{"scripts": [{"endpoint": "snapshots.create", "server": 1, "steps": []}]}"#,
        ] {
            assert!(serde_json::from_str::<Faults>(bad).is_err(), "{bad}");
        }
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
