//! A small fluent harness around the real binary and an in-process simulator.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use snapkeep_sim::{Faults, Seed, SimAccount, SimConfig, SimStatus, Simulator};

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_snapkeep");

/// A running simulator with its own runtime (tests stay synchronous and
/// block on the binary while the simulator serves on the runtime's threads).
pub(crate) struct Sim {
    pub(crate) sim: Simulator,
    /// Serves the simulator; dropped (stopping it) with the test.
    _runtime: tokio::runtime::Runtime,
}

impl Sim {
    pub(crate) fn start(seed: Seed) -> Sim {
        Sim::with(SimConfig {
            seed,
            complete_after: Duration::from_millis(300),
            token: "test-token-0123456789".into(),
            ..SimConfig::default()
        })
    }

    pub(crate) fn with(config: SimConfig) -> Sim {
        Sim::with_accounts(config, Vec::new())
    }

    /// A simulator serving `more` accounts besides the primary one.
    pub(crate) fn with_accounts(config: SimConfig, more: Vec<SimAccount>) -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listen = "127.0.0.1:0".parse().unwrap();
        let sim = rt
            .block_on(Simulator::start_with_accounts(listen, config, more))
            .unwrap();
        Sim { sim, _runtime: rt }
    }

    pub(crate) fn faults(&self, faults: Faults) -> &Self {
        self.sim.set_faults(faults);
        self
    }

    /// Requests whose method is one of `methods`.
    pub(crate) fn count(&self, methods: &[&str]) -> usize {
        self.sim
            .requests()
            .iter()
            .filter(|r| methods.contains(&r.method.as_str()))
            .count()
    }

    /// The ids of `server`'s snapshots, sorted.
    pub(crate) fn snapshot_ids(&self, server: u64) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .sim
            .snapshots(Some(server))
            .iter()
            .map(|s| s.id)
            .collect();
        v.sort_unstable();
        v
    }

    pub(crate) fn snapshot_names(&self, server: u64) -> Vec<String> {
        let mut v: Vec<String> = self
            .sim
            .snapshots(Some(server))
            .into_iter()
            .map(|s| s.name)
            .collect();
        v.sort();
        v
    }
}

/// A config file in a fresh temp dir, pointed at the simulator.
pub(crate) struct Setup {
    pub(crate) dir: PathBuf,
    pub(crate) config: PathBuf,
    pub(crate) token: String,
    /// More environment for every run (the accounts' `token_env` tokens).
    pub(crate) env: Vec<(String, String)>,
    /// The variable `token` is given in (`VPS_API_TOKEN` unless
    /// [`Test::token_env`] says another).
    pub(crate) token_var: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn temp_dir() -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("snapkeep-it-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Setup {
    /// `policies` is TOML for `[[policy]]` tables (and optionally `[defaults]`);
    /// `[api]` is written here, with fast polling for tests.
    pub(crate) fn new(sim: &Sim, policies: &str) -> Setup {
        Setup::with_api(
            sim,
            "requests_per_second = 0\nmax_concurrency = 4\n",
            policies,
        )
    }

    /// `{dir}` in `policies` becomes the config's temp dir (for hooks that
    /// leave files).
    pub(crate) fn with_api(sim: &Sim, api_extra: &str, policies: &str) -> Setup {
        let dir = temp_dir();
        let config = dir.join("config.toml");
        let policies = &policies.replace("{dir}", &dir.display().to_string());
        let text = format!(
            "[api]\nbase_url = \"{}\"\n{api_extra}\n{}{policies}",
            sim.sim.base_url(),
            if policies.contains("[defaults]") {
                ""
            } else {
                "[defaults]\npoll_interval = \"100ms\"\nwait_timeout = \"20s\"\n\n"
            },
        );
        std::fs::write(&config, text).unwrap();
        Setup {
            dir,
            config,
            token: sim.sim.token().to_owned(),
            env: Vec::new(),
            token_var: "VPS_API_TOKEN".to_owned(),
        }
    }

    pub(crate) fn write(&self, text: &str) {
        std::fs::write(&self.config, text).unwrap();
    }

    pub(crate) fn cmd(&self) -> Command {
        let mut c = bare_cmd();
        c.arg("--config")
            .arg(&self.config)
            .env(&self.token_var, &self.token)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Starts the binary with `args` in the background, its stderr in
    /// `dir/daemon.log` and its stdout in `dir/daemon.out` (`daemon-2.log`,
    /// … for the next ones on this config).
    pub(crate) fn spawn(&self, args: &[&str]) -> Daemon {
        let mut name = "daemon".to_owned();
        for n in 2.. {
            if !self.dir.join(format!("{name}.log")).exists() {
                break;
            }
            name = format!("daemon-{n}");
        }
        let (log, out) = (
            self.dir.join(format!("{name}.log")),
            self.dir.join(format!("{name}.out")),
        );
        let mut cmd = self.cmd();
        cmd.args(args)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&log).unwrap());
        Daemon {
            child: cmd.spawn().unwrap(),
            log,
            out,
        }
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        Run(self.cmd().args(args).output().unwrap())
    }
}

/// A finished run of the binary.
pub(crate) struct Run(pub Output);

impl Run {
    pub(crate) fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    #[track_caller]
    pub(crate) fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code(),
            code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// A daemon running in the background; killed if the test ends early.
pub(crate) struct Daemon {
    pub(crate) child: std::process::Child,
    pub(crate) log: PathBuf,
    /// Its stdout.
    pub(crate) out: PathBuf,
}

impl Daemon {
    pub(crate) fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} failed");
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `cond` every 50 ms for up to `limit`; true when it held.
    pub(crate) fn wait_until(&self, limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
        let end = std::time::Instant::now() + limit;
        while std::time::Instant::now() < end {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        cond()
    }

    /// Waits for the process to exit; its exit code and how long it took.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<(i32, Duration)> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some((status.code().unwrap_or(-1), start.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------ the daily slot

/// A daily schedule (UTC) and the slot a pass started now works on.
///
/// Tests seed items "from earlier slots" and expect the binary to name its
/// new item after the current slot; if the test computed the slot at 02:59:59
/// and the binary at 03:00:00, they would disagree. Two defences, both here:
///
/// * the slot comes from [`snapkeep::latest_slot`], the very computation the
///   binary makes, never from hand-written date arithmetic;
/// * the schedule's hour is chosen 12 hours away from the current hour
///   (`0 H * * *` with `H = now.hour() + 12 mod 24`), so the latest fire time
///   lies 12 to 13 hours in the past and the next one 11 to 12 hours in the
///   future: a test (or a bench pass) taking minutes cannot cross a slot
///   boundary, so no retry is needed. UTC has no DST, so every earlier slot
///   is exactly whole days earlier (still asked of `latest_slot`).
///
/// Tests write `schedule = "{daily}"` in their policies; [`Test`] (or
/// [`Daily::policies`]) puts [`Daily::schedule`] there.
#[derive(Debug, Clone)]
pub(crate) struct Daily {
    /// `0 H * * *`, in UTC.
    pub(crate) schedule: String,
    /// The latest fire time of `schedule` at or before the moment it was made.
    pub(crate) slot: DateTime<Utc>,
}

impl Daily {
    pub(crate) fn now() -> Daily {
        let now = Utc::now();
        let schedule = format!("0 {} * * *", (now.hour() + 12) % 24);
        let slot = snapkeep::latest_slot(&schedule, "UTC", now).expect("a daily slot");
        Daily { schedule, slot }
    }

    /// The slot `days` days before the current one.
    pub(crate) fn slot(&self, days: i64) -> DateTime<Utc> {
        snapkeep::latest_slot(&self.schedule, "UTC", self.slot - TimeDelta::days(days))
            .expect("an earlier slot")
    }

    /// When an item of `slot(days)` was created: a minute into its slot.
    pub(crate) fn at(&self, days: i64) -> DateTime<Utc> {
        self.slot(days) + TimeDelta::minutes(1)
    }

    /// The name snapkeep gives the snapshot of policy `policy` for `slot(days)`.
    pub(crate) fn snapshot(&self, policy: &str, days: i64) -> String {
        format!(
            "snapkeep-{policy}-{}",
            self.slot(days).format("%Y%m%d-%H%M%S")
        )
    }

    /// The marker snapkeep starts a backup's description with for `slot(days)`.
    pub(crate) fn backup_marker(&self, policy: &str, days: i64) -> String {
        format!(
            "snapkeep:{policy}:{}",
            self.slot(days).format("%Y-%m-%dT%H:%M:%SZ")
        )
    }

    /// `seed` with a completed snapshot of policy `policy` on `server` for
    /// each of the slots `days` before the current one (named and made as
    /// snapkeep would have: [`Daily::snapshot`], [`Daily::at`]).
    pub(crate) fn with_snapshots(
        &self,
        seed: Seed,
        server: u64,
        policy: &str,
        days: &[i64],
    ) -> Seed {
        days.iter().fold(seed, |seed, &d| {
            seed.snapshot(
                server,
                self.snapshot(policy, d),
                self.at(d),
                SimStatus::Completed,
            )
        })
    }

    /// `policies` with every `{daily}` replaced by the schedule expression.
    pub(crate) fn policies(&self, policies: &str) -> String {
        policies.replace("{daily}", &self.schedule)
    }
}

/// `check`'s alert thresholds for a nightly policy at 03:00 in
/// Europe/Berlin (the example's, the sidecar's): 1.5 and 2 times the
/// interval between the fire times around now, 24 hours except across a
/// DST change. The interval is found
/// with `snapkeep::latest_slot`: the next fire time is the first of
/// `prev + 23h`, `prev + 24h`, `prev + 25h` that is itself a slot.
pub(crate) fn berlin_nightly_alerts() -> String {
    let schedule = "0 3 * * *";
    let now = Utc::now();
    let prev = snapkeep::latest_slot(schedule, "Europe/Berlin", now).unwrap();
    let hours = (23..=25)
        .find(|h| {
            let t = prev + TimeDelta::hours(*h);
            snapkeep::latest_slot(schedule, "Europe/Berlin", t) == Some(t)
        })
        .unwrap();
    let days_hours = |minutes: i64| match (minutes / (24 * 60), minutes % (24 * 60) / 60) {
        (d, 0) => format!("{d}d"),
        (d, h) => format!("{d}d {h}h"),
    };
    format!(
        "warning after {}, critical after {}",
        days_hours(hours * 90),
        days_hours(hours * 120)
    )
}

// ----------------------------------------------------------- whole outputs

/// The log lines of a pass's jobs (text logs after [`Normalize::log`]; JSON
/// lines, `{`): jobs on different servers run at once, so their lines
/// interleave; see [`Normalize::sort_runs`].
pub(crate) const JOB_LINES: &[&str] = &[
    "INFO create ",
    "INFO wait ",
    "INFO completed ",
    "INFO delete ",
    "INFO skip ",
    "ERROR fail ",
    "WARN ",
    "{",
];

/// How many earlier slots [`Normalize`] names (`{SLOT-1d}` … `{SLOT-60d}`).
const SLOT_DAYS: i64 = 60;

/// Replaces the parts of an output that genuinely vary from run to run with
/// fixed placeholders, so the rest can be compared whole. The rules, all of
/// them:
///
/// * literal strings the test knows: the simulator's base URL → `{SIM}`, the
///   test's temp dir → `{DIR}`, the crate root → `{ROOT}`, the `{metrics}`
///   address → `{METRICS}`, and whatever the test adds with
///   [`Test::literal`] (a receiver's port, a seed's times, ids that depend
///   on which create landed first → `{NEW}`);
/// * the [`Daily`] slot, the 60 before it and the next one, as snapkeep
///   writes them in names (`20250304-150000`), backup markers
///   (`2025-03-04T15:00:00Z`), logs (`2025-03-04T15:00:00+00:00`) and for
///   people (`2025-03-04 15:00 UTC`, `03-04 15:00 UTC`) → `{SLOT}`,
///   `{SLOT-1d}`, `{SLOT-2d}`, …, `{SLOT+1d}`;
/// * a duration the way the summary prints it, digits `.` one digit `s`
///   (`[0.4s]`, `in 1.2s`) → `{T}`;
/// * the API call count of the summary (`7 API call(s)`: how many polls a
///   wait took is timing) → `{N} API call(s)`;
/// * how long the client waits before it retries a call, drawn with jitter
///   (`wait_ms=740` in the "API call failed, retrying" warning) →
///   `wait_ms={MS}`;
/// * the next fire time `check` prints (`next: 2025-…+01:00`, relative to
///   now) → `next: {NEXT}`;
/// * an instant the binary computed from its clock, an RFC 3339 time with a
///   fraction of a second (a retry's `retry_at`, `2025-03-04T15:01:02.123+00:00`)
///   → `{NOW+1m}`: whole minutes from the moment of normalisation, rounded
///   (`{NOW}`, `{NOW-3m}`); the same for a whole-second RFC 3339 time within
///   a day of now (`2025-03-04T15:01:02Z`: a page's "listed at") and for a
///   time of day printed for people, `16:14:28 UTC` (the nearest such time
///   to now).
///
/// Item ids are not replaced by a rule: the simulator numbers them in seed
/// and create order, so they are part of the contract (only where creates
/// on several servers race does a test name the ids with [`Test::literal`]).
///
/// Opt-in rules, for daemon logs and real-time schedules:
///
/// * [`Normalize::log`]: a text log line's timestamp goes, its level stays
///   (`2025-03-04T15:00:00.123456Z  INFO message` → `INFO message`);
/// * [`Normalize::clock_stamps`]: times of the wall clock (a `*/2 * * * * *`
///   schedule's slots) in names (`20250304-150002`) and in RFC 3339
///   (`2025-03-04T15:00:02+00:00`, `…Z`) become relative to the first one in
///   the text: `{T0}`, `{T0+2s}`, `{T0+4s}`, …; `{T0}` says
///   `{T0, not on a 2s boundary}` (for an alignment of 2) when the first
///   one is not a multiple of the alignment, so that stays compared;
/// * [`Normalize::json_field`]: in pretty-printed JSON, the value of a
///   field that is measured against the clock (`"newest_age_seconds": 44118`)
///   → the placeholder (`"newest_age_seconds": {AGE}`); `null` stays `null`;
/// * [`Normalize::exposition`]: in a Prometheus exposition, the samples of
///   each family in sorted order (the registry's order is a hash map's),
///   and the value of a series that counts timing (polls, a duration's sum
///   or its small buckets) → `{V}`;
/// * [`Normalize::unix_times`]: a Unix time within a day of now, with or
///   without a fraction (`1741100462.727`) → `{NOW+1m}` as above;
/// * [`Normalize::json_log`]: in a JSON log (`--log-format json`), each
///   line's `ts` (a string) → `"{TS}"` and `duration_ms` (a number) →
///   `"{MS}"`; a field of another type stays, so it is still compared;
/// * [`Normalize::sort_runs`]: where concurrent servers log in an order
///   that is not the contract, each run of consecutive lines that start with
///   one of the given prefixes is put in the order of the server each names
///   (`server 1` before `server 999`), a stable sort: each server's own
///   lines keep their order (lines naming no server come first, sorted);
///   the lines themselves, and how many, are still compared whole
///   ([`JOB_LINES`] are the prefixes of a pass's job lines). A line that
///   starts with no log level (`INFO `, …) continues the message of the
///   line before it (a 502's HTML body in an error) and moves with it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Normalize {
    literals: Vec<(String, String)>,
    /// [`Normalize::log`]: text log lines lose their timestamp.
    log: bool,
    /// [`Normalize::clock_stamps`]: the alignment in seconds, if on.
    clock_stamps: Option<i64>,
    /// [`Normalize::sort_runs`]: line prefixes whose runs are sorted.
    sort_runs: Vec<String>,
    /// [`Normalize::json_field`]: (field name, placeholder).
    json_fields: Vec<(String, String)>,
    /// [`Normalize::exposition`]: on, and the series prefixes.
    exposition: Option<Vec<String>>,
    /// [`Normalize::unix_times`].
    unix_times: bool,
    /// [`Normalize::json_log`].
    json_log: bool,
}

impl Normalize {
    pub(crate) fn literal(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        let from = from.into();
        if !from.is_empty() {
            self.literals.push((from, to.into()));
        }
        self
    }

    pub(crate) fn daily(mut self, daily: &Daily) -> Self {
        for d in -1..=SLOT_DAYS {
            let name = match d {
                -1 => "{SLOT+1d}".to_owned(),
                0 => "{SLOT}".to_owned(),
                d => format!("{{SLOT-{d}d}}"),
            };
            let t = daily.slot(d);
            for format in [
                "%Y%m%d-%H%M%S",
                "%Y-%m-%dT%H:%M:%S+00:00",
                "%Y-%m-%dT%H:%M:%SZ",
                "%Y-%m-%d %H:%M UTC",
                "%m-%d %H:%M UTC",
            ] {
                self = self.literal(t.format(format).to_string(), name.clone());
            }
        }
        self
    }

    /// Runs of a pass's job lines ([`JOB_LINES`]) in the order of their
    /// servers ([`Normalize::sort_runs`]): servers' jobs run at once.
    pub(crate) fn jobs_concurrently(self) -> Self {
        self.sort_runs(JOB_LINES)
    }

    /// Text log lines lose their timestamp (see the rules above).
    pub(crate) fn log(mut self) -> Self {
        self.log = true;
        self
    }

    /// Wall-clock stamps relative to the first, which must be a multiple of
    /// `align_seconds` (see the rules above).
    pub(crate) fn clock_stamps(mut self, align_seconds: i64) -> Self {
        self.clock_stamps = Some(align_seconds);
        self
    }

    /// Runs of lines starting with one of `prefixes` are sorted (see the
    /// rules above); `prefixes` are matched after the other rules.
    pub(crate) fn sort_runs(mut self, prefixes: &[&str]) -> Self {
        self.sort_runs
            .extend(prefixes.iter().map(|p| (*p).to_owned()));
        self
    }

    /// The value of JSON field `name` (not `null`) becomes `placeholder`
    /// (see the rules above).
    pub(crate) fn json_field(mut self, name: &str, placeholder: &str) -> Self {
        self.json_fields
            .push((format!("\"{name}\": "), placeholder.to_owned()));
        self
    }

    /// A Prometheus exposition: samples sorted per family, and the values
    /// of the series starting with one of `timing` become `{V}` (see the
    /// rules above).
    pub(crate) fn exposition(mut self, timing: &[&str]) -> Self {
        self.exposition = Some(timing.iter().map(|p| (*p).to_owned()).collect());
        self
    }

    /// A JSON log's clock fields are fixed (see the rules above).
    pub(crate) fn json_log(mut self) -> Self {
        self.json_log = true;
        self
    }

    /// Unix times within a day of now become `{NOW+Nm}` (see the rules above).
    pub(crate) fn unix_times(mut self) -> Self {
        self.unix_times = true;
        self
    }

    pub(crate) fn apply(&self, text: &str) -> String {
        let json_log;
        let text = if self.json_log {
            json_log = text
                .split_inclusive('\n')
                .map(json_log_line)
                .collect::<String>();
            json_log.as_str()
        } else {
            text
        };
        let mut out = if self.log {
            text.split_inclusive('\n')
                .map(strip_log_timestamp)
                .collect()
        } else {
            text.to_owned()
        };
        // Longest first: a temp dir is inside no other literal, but be safe.
        let mut literals = self.literals.clone();
        literals.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        for (from, to) in &literals {
            out = out.replace(from.as_str(), to);
        }
        out = instants(&out);
        if let Some(align) = self.clock_stamps {
            out = clock_stamps(&out, align);
        }
        let out = tenths_of_seconds(&out);
        let out = api_calls(&out);
        let out = retry_waits(&out);
        let mut out = next_fire_times(&out);
        if self.unix_times {
            out = unix_times(&out);
        }
        if let Some(timing) = &self.exposition {
            out = exposition(&out, timing);
        }
        if !self.json_fields.is_empty() {
            out = out
                .split_inclusive('\n')
                .map(|line| self.json_line(line))
                .collect();
        }
        if self.sort_runs.is_empty() {
            out
        } else {
            sorted_runs(&out, &self.sort_runs)
        }
    }
}

impl Normalize {
    /// One line of pretty JSON with [`Normalize::json_field`] applied.
    fn json_line(&self, line: &str) -> String {
        for (key, placeholder) in &self.json_fields {
            let Some(at) = line.find(key.as_str()) else {
                continue;
            };
            let value_at = at + key.len();
            let value = line[value_at..].trim_end().trim_end_matches(',');
            if value == "null" || value.is_empty() {
                continue;
            }
            let tail = &line[value_at + value.len()..];
            return format!("{}{placeholder}{tail}", &line[..value_at]);
        }
        line.to_owned()
    }
}

/// A JSON log line with its clock fields fixed (see [`Normalize`]); other
/// lines as they are.
fn json_log_line(line: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(line) else {
        return line.to_owned();
    };
    if v["ts"].is_string() {
        v["ts"] = "{TS}".into();
    }
    if v["duration_ms"].is_number() {
        v["duration_ms"] = "{MS}".into();
    }
    let nl = if line.ends_with('\n') { "\n" } else { "" };
    format!("{v}{nl}")
}

/// A text log line without its timestamp: `level message`.
fn strip_log_timestamp(line: &str) -> String {
    let message = log_message(line);
    if message.len() == line.len() {
        return line.to_owned();
    }
    let level = line.split_whitespace().nth(1).unwrap_or_default();
    format!("{level} {message}")
}

/// Wall-clock stamps → `{T0}`, `{T0+2s}`, … (see [`Normalize`]).
fn clock_stamps(text: &str, align: i64) -> String {
    use chrono::NaiveDateTime;
    let b = text.as_bytes();
    let digits = |from: usize, n: usize| {
        from + n <= b.len() && b[from..from + n].iter().all(u8::is_ascii_digit)
    };
    // (position, length, time) of each stamp, in order.
    let mut stamps = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = i == 0 || !b[i - 1].is_ascii_digit();
        // 20250304-150002
        if starts
            && digits(i, 8)
            && b.get(i + 8) == Some(&b'-')
            && digits(i + 9, 6)
            && !digits(i + 15, 1)
        {
            if let Ok(t) = NaiveDateTime::parse_from_str(&text[i..i + 15], "%Y%m%d-%H%M%S") {
                stamps.push((i, 15, t));
                i += 15;
                continue;
            }
        }
        // 2025-03-04T15:00:02 then +00:00 or Z
        if starts && digits(i, 4) && b.get(i + 4) == Some(&b'-') && b.get(i + 10) == Some(&b'T') {
            if let Some(t) = text
                .get(i..i + 19)
                .and_then(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok())
            {
                let tail = &text[i + 19..];
                let zone = if tail.starts_with("+00:00") {
                    6
                } else if tail.starts_with('Z') {
                    1
                } else {
                    0
                };
                if zone > 0 {
                    stamps.push((i, 19 + zone, t));
                    i += 19 + zone;
                    continue;
                }
            }
        }
        i += 1;
    }
    let Some(&(_, _, t0)) = stamps.first() else {
        return text.to_owned();
    };
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, len, t) in stamps {
        out.push_str(&text[copied..at]);
        let secs = (t - t0).num_seconds();
        let base = if t0.and_utc().timestamp() % align == 0 {
            "T0".to_owned()
        } else {
            format!("T0, not on a {align}s boundary")
        };
        if secs == 0 {
            out.push_str(&format!("{{{base}}}"));
        } else {
            out.push_str(&format!("{{{base}{secs:+}s}}"));
        }
        copied = at + len;
    }
    out.push_str(&text[copied..]);
    out
}

/// RFC 3339 times with a fraction of a second → `{NOW+Nm}` (see [`Normalize`]).
fn instants(text: &str) -> String {
    let b = text.as_bytes();
    let now = Utc::now();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i + 20 < b.len() {
        let starts = i == 0 || !b[i - 1].is_ascii_digit();
        let shaped = b[i..i + 4].iter().all(u8::is_ascii_digit)
            && b[i + 4] == b'-'
            && b[i + 10] == b'T'
            && (b[i + 19] == b'.' || b[i + 19] == b'Z');
        if !(starts && shaped) {
            i += 1;
            continue;
        }
        let fraction = b[i + 19] == b'.';
        let mut end = i + 19;
        if fraction {
            end += 1;
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
        }
        let zone = if text[end..].starts_with("+00:00") {
            6
        } else if text[end..].starts_with('Z') {
            1
        } else {
            0
        };
        let parsed = (zone > 0)
            .then(|| DateTime::parse_from_rfc3339(&text[i..end + zone]).ok())
            .flatten();
        let near = |t: &DateTime<chrono::FixedOffset>| {
            fraction || (t.with_timezone(&Utc) - now).num_hours().abs() < 24
        };
        let Some(t) = parsed.filter(near) else {
            i += 1;
            continue;
        };
        out.push_str(&text[copied..i]);
        out.push_str(&from_now(t.with_timezone(&Utc), now));
        i = end + zone;
        copied = i;
    }
    out.push_str(&text[copied..]);
    times_of_day(&out, now)
}

/// A Prometheus exposition with each family's samples sorted and the
/// values of the `timing` series `{V}` (see [`Normalize`]).
fn exposition(text: &str, timing: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut samples: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with('#') || !line.ends_with('\n') {
            samples.sort();
            out.extend(samples.drain(..));
            out.push_str(line);
            continue;
        }
        let line = match line.trim_end().rsplit_once(' ') {
            Some((series, _)) if timing.iter().any(|p| series.starts_with(p.as_str())) => {
                format!("{series} {{V}}\n")
            }
            _ => line.to_owned(),
        };
        samples.push(line);
    }
    samples.sort();
    out.extend(samples.drain(..));
    out
}

/// `{NOW}`, `{NOW+1m}`, `{NOW-2m}`: `t` in whole minutes from `now`.
fn from_now(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = ((t - now).num_milliseconds() as f64 / 60_000.0).round() as i64;
    match minutes {
        0 => "{NOW}".to_owned(),
        m => format!("{{NOW{m:+}m}}"),
    }
}

/// Unix times within a day of now → `{NOW+Nm}` (see [`Normalize`]).
fn unix_times(text: &str) -> String {
    let now = Utc::now();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(|c: char| c.is_ascii_digit()) {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        let len = tail
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(tail.len());
        let number = &tail[..len];
        let word = head
            .chars()
            .last()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        let t = number
            .parse::<f64>()
            .ok()
            .filter(|_| word && number.find('.').unwrap_or(len) == 10)
            .and_then(|s| DateTime::from_timestamp_millis((s * 1000.0) as i64))
            .filter(|t| (*t - now).num_hours().abs() < 24);
        match t {
            Some(t) => out.push_str(&from_now(t, now)),
            None => out.push_str(number),
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// `16:14:28 UTC` → `{NOW+1m}` (see [`Normalize`]).
fn times_of_day(text: &str, now: DateTime<Utc>) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i + 12 <= b.len() {
        let starts = i == 0 || !(b[i - 1].is_ascii_digit() || b[i - 1] == b':');
        let shaped = starts
            && [0, 1, 3, 4, 6, 7]
                .iter()
                .all(|&k| b[i + k].is_ascii_digit())
            && b[i + 2] == b':'
            && b[i + 5] == b':'
            && &b[i + 8..i + 12] == b" UTC";
        let time = shaped
            .then(|| chrono::NaiveTime::parse_from_str(&text[i..i + 8], "%H:%M:%S").ok())
            .flatten();
        let Some(time) = time else {
            i += 1;
            continue;
        };
        let today = now.date_naive().and_time(time).and_utc();
        let nearest = [
            today - TimeDelta::days(1),
            today,
            today + TimeDelta::days(1),
        ]
        .into_iter()
        .min_by_key(|t| (*t - now).num_seconds().abs())
        .unwrap();
        out.push_str(&text[copied..i]);
        out.push_str(&from_now(nearest, now));
        i += 12;
        copied = i;
    }
    out.push_str(&text[copied..]);
    out
}

/// Each run of consecutive lines starting with one of `prefixes`, in the
/// order of the server each names (stable).
fn sorted_runs(text: &str, prefixes: &[String]) -> String {
    /// (the server named and its account, if the line names one — servers
    /// of two accounts may share an id — or 0 and the line itself for a
    /// line naming none).
    fn server(line: &str) -> (u64, &str) {
        let account = line
            .split_once(" of account ")
            .map_or("", |(_, rest)| rest.split(' ').next().unwrap_or(""));
        line.split_once("server ")
            .and_then(|(_, rest)| {
                let digits =
                    rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                rest[..digits].parse().ok()
            })
            .map_or((0, line), |n| (n, account))
    }
    /// A line of a message logged on several lines, not its first.
    fn continues(line: &str) -> bool {
        const LEVELS: [&str; 5] = ["TRACE ", "DEBUG ", "INFO ", "WARN ", "ERROR "];
        !LEVELS.iter().any(|level| line.starts_with(level))
    }
    fn first_line(entry: &str) -> &str {
        entry.split('\n').next().unwrap_or_default()
    }
    let sortable = |l: &str| prefixes.iter().any(|p| l.starts_with(p.as_str()));
    // By the server its first line names (a stable sort, see `server`).
    let by_server = |a: &String, b: &String| server(first_line(a)).cmp(&server(first_line(b)));
    let mut out = String::with_capacity(text.len());
    // Each entry: a sortable line and the lines that continue its message.
    let mut run: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.ends_with('\n') {
            if sortable(line) {
                run.push(line.to_owned());
                continue;
            }
            if let Some(entry) = run.last_mut().filter(|_| continues(line)) {
                entry.push_str(line);
                continue;
            }
        }
        run.sort_by(by_server);
        out.extend(run.drain(..));
        out.push_str(line);
    }
    run.sort_by(by_server);
    out.extend(run.drain(..));
    out
}

/// `12.3s` (digits, a dot, one digit, `s`, not inside a word) → `{T}`.
fn tenths_of_seconds(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        let starts_word = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.');
        if b[i].is_ascii_digit() && starts_word {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let ends_word = |k: usize| k >= b.len() || !b[k].is_ascii_alphanumeric();
            if j + 2 < b.len()
                && b[j] == b'.'
                && b[j + 1].is_ascii_digit()
                && b[j + 2] == b's'
                && ends_word(j + 3)
            {
                out.push_str(&text[copied..i]);
                out.push_str("{T}");
                i = j + 3;
                copied = i;
                continue;
            }
            i = j;
            continue;
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// `; 7 API call(s),` → `; {N} API call(s),`.
fn api_calls(text: &str) -> String {
    const TAIL: &str = " API call(s)";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(TAIL) {
        let head = &rest[..at];
        let digits = head.len() - head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push_str(&head[..head.len() - digits]);
            out.push_str("{N}");
        } else {
            out.push_str(head);
        }
        out.push_str(TAIL);
        rest = &rest[at + TAIL.len()..];
    }
    out.push_str(rest);
    out
}

/// `wait_ms=<digits>` → `wait_ms={MS}` (see [`Normalize`]).
fn retry_waits(text: &str) -> String {
    const KEY: &str = "wait_ms=";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(KEY) {
        out.push_str(&rest[..at + KEY.len()]);
        rest = &rest[at + KEY.len()..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push_str("{MS}");
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// `next: <RFC 3339 time>` up to the end of the line → `next: {NEXT}`.
fn next_fire_times(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| match line.find("; next: ") {
            Some(at) => {
                let value = &line[at + "; next: ".len()..];
                let is_time = value.len() >= 20 && value.as_bytes()[10] == b'T';
                if is_time {
                    let nl = if line.ends_with('\n') { "\n" } else { "" };
                    format!("{}; next: {{NEXT}}{nl}", &line[..at])
                } else {
                    line.to_owned()
                }
            }
            None => line.to_owned(),
        })
        .collect()
}

/// Panics with both texts and a line-by-line diff unless they are equal.
#[track_caller]
pub(crate) fn assert_text(what: &str, want: &str, have: &str) {
    if want == have {
        return;
    }
    // Split at `\n` only, so a line that differs by a `\r` shows in the diff.
    let (w, h): (Vec<&str>, Vec<&str>) = (
        want.split_terminator('\n').collect(),
        have.split_terminator('\n').collect(),
    );
    let mut diff = line_diff(&w, &h);
    if want.ends_with('\n') != have.ends_with('\n') {
        diff.push_str(&format!(
            " (final newline: expected {}, actual {})\n",
            want.ends_with('\n'),
            have.ends_with('\n')
        ));
    }
    panic!(
        "{what} differs (- expected, + actual, after normalisation)\n{diff}\n--- expected {what}\n{want}\n--- actual {what}\n{have}\n---"
    );
}

/// `want` against `have`, line by line along their longest common
/// subsequence: `   ` both, ` - ` only expected, ` + ` only actual (so one
/// line too many shows as one line, not as every line after it).
fn line_diff(want: &[&str], have: &[&str]) -> String {
    // common[i][j]: the longest common subsequence of want[i..] and have[j..].
    let mut common = vec![vec![0u32; have.len() + 1]; want.len() + 1];
    for i in (0..want.len()).rev() {
        for j in (0..have.len()).rev() {
            common[i][j] = if want[i] == have[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < want.len() || j < have.len() {
        if i < want.len() && j < have.len() && want[i] == have[j] {
            out.push_str(&format!("   {}\n", want[i]));
            (i, j) = (i + 1, j + 1);
        } else if j == have.len() || (i < want.len() && common[i + 1][j] >= common[i][j + 1]) {
            out.push_str(&format!(" - {}\n", want[i]));
            i += 1;
        } else {
            out.push_str(&format!(" + {}\n", have[j]));
            j += 1;
        }
    }
    out
}

/// A whole run of the binary, in the manner of just's `Test`: set up a
/// simulator and a config, give the arguments, state the expected exit
/// status, the whole stdout and the whole stderr (default: 0, empty and
/// empty), then `run()`; or `start()` it as a daemon ([`Live`]).
///
/// ```ignore
/// let t = Test::new();
/// let seed = Seed::empty().server(1, "web-01");
/// t.seed(seed).policies(DAILY).args(&["--run-now"]).stdout(SUMMARY).run();
/// ```
///
/// Output is compared after [`Normalize`]; a mismatch prints a diff and both
/// texts. `run()` hands back the simulator and the config for further
/// asserts and runs.
#[must_use]
pub(crate) struct Test {
    pub(crate) daily: Daily,
    seed: Option<Seed>,
    faults: Option<Faults>,
    complete_after: Option<Duration>,
    sim_token: Option<String>,
    api: Option<String>,
    policies: Option<String>,
    /// A free port for `[metrics] listen` (`{metrics}` in policies).
    pub(crate) metrics_port: u16,
    config_file: Option<(String, String)>,
    /// More simulator accounts: (name, seed); see [`Test::account`].
    accounts: Vec<(String, Seed)>,
    /// See [`Test::token_env`].
    token_var: Option<String>,
    args: Vec<String>,
    token: bool,
    status: i32,
    stdout: Option<String>,
    stdout_json: Option<serde_json::Value>,
    stderr: String,
    /// Extra normalisation, see [`Test::normalize`].
    rules: Vec<fn(Normalize) -> Normalize>,
    literals: Vec<(String, String)>,
}

/// A [`Test`] that ran: its slot, simulator and setup (if any) and
/// normaliser, for further asserts and runs.
pub(crate) struct Ran {
    pub(crate) daily: Daily,
    pub(crate) sim: Option<Sim>,
    pub(crate) setup: Option<Setup>,
    pub(crate) normalize: Normalize,
}

impl Ran {
    pub(crate) fn sim(&self) -> &Sim {
        self.sim.as_ref().expect("the test had a simulator")
    }

    pub(crate) fn setup(&self) -> &Setup {
        self.setup
            .as_ref()
            .expect("the test had a simulator config")
    }

    /// A second config on the same simulator account (its own temp dir);
    /// `{daily}` in `policies` becomes the test's schedule. Run it with
    /// [`Ran::again_with`].
    pub(crate) fn second_config(&self, policies: &str) -> Setup {
        Setup::new(self.sim(), &self.daily.policies(policies))
    }

    /// Runs the binary with `setup`'s config (e.g. [`Ran::second_config`]);
    /// `status`, the whole normalised stdout and stderr (log lines without
    /// their timestamps) must match.
    #[track_caller]
    pub(crate) fn again_with(
        &self,
        setup: &Setup,
        args: &[&str],
        status: i32,
        stdout: &str,
        stderr: &str,
    ) -> Run {
        let run = setup.run(args).expect(status);
        self.assert_stdout(&run, stdout);
        self.assert_stderr(&run, stderr);
        run
    }

    /// `run`'s whole stdout, normalised, must be `want`.
    #[track_caller]
    pub(crate) fn assert_stdout(&self, run: &Run, want: &str) {
        assert_text("stdout", want, &self.normalize.apply(&run.stdout()));
    }

    /// `run`'s whole stderr, normalised (log lines without their timestamp,
    /// [`Normalize::log`]), must be `want`.
    #[track_caller]
    pub(crate) fn assert_stderr(&self, run: &Run, want: &str) {
        let have = self.normalize.clone().log().apply(&run.stderr());
        assert_text("stderr", want, &have);
    }

    /// Runs the binary again on the same config; `status`, the whole
    /// normalised stdout and stderr must match.
    #[track_caller]
    pub(crate) fn again(&self, args: &[&str], status: i32, stdout: &str, stderr: &str) -> Run {
        self.again_with(self.setup(), args, status, stdout, stderr)
    }
}

impl Test {
    pub(crate) fn new() -> Test {
        Test {
            daily: Daily::now(),
            seed: None,
            faults: None,
            complete_after: None,
            sim_token: None,
            api: None,
            policies: None,
            metrics_port: free_port(),
            config_file: None,
            accounts: Vec::new(),
            token_var: None,
            args: Vec::new(),
            token: true,
            status: 0,
            stdout: Some(String::new()),
            stdout_json: None,
            stderr: String::new(),
            rules: Vec::new(),
            literals: Vec::new(),
        }
    }

    /// Adds a rule to the normalisation (e.g. `|n| n.json_field(…)`).
    pub(crate) fn normalize(mut self, rule: fn(Normalize) -> Normalize) -> Self {
        self.rules.push(rule);
        self
    }

    /// Adds a literal to the normalisation: `from` (a port the test chose,
    /// say) becomes `to` in every output.
    pub(crate) fn literal(mut self, from: impl ToString, to: &str) -> Self {
        self.literals.push((from.to_string(), to.to_owned()));
        self
    }

    /// Starts a simulator with this world (implied by `policies`).
    pub(crate) fn seed(mut self, seed: Seed) -> Self {
        self.seed = Some(seed);
        self
    }

    pub(crate) fn faults(mut self, faults: Faults) -> Self {
        self.faults = Some(faults);
        self
    }

    /// One more simulator account, `name` with this world, token
    /// `test-token-{name}`. The binary gets every account's token in the
    /// environment: the primary's in `SNAPKEEP_IT_TOKEN_MAIN`, this one's
    /// in `SNAPKEEP_IT_TOKEN_{NAME}` (for `token_env` in `[[account]]`).
    pub(crate) fn account(mut self, name: &str, seed: Seed) -> Self {
        self.accounts.push((name.to_owned(), seed));
        self
    }

    /// The binary gets the simulator's token in `var` (for a `token_env`
    /// of an `[[account]]`) instead of `VPS_API_TOKEN`.
    pub(crate) fn token_env(mut self, var: &str) -> Self {
        self.token_var = Some(var.to_owned());
        self
    }

    /// How long the simulator keeps new items in progress (default 300 ms).
    pub(crate) fn complete_after(mut self, after: Duration) -> Self {
        self.complete_after = Some(after);
        self
    }

    /// The token the simulator accepts (and the binary is given).
    pub(crate) fn sim_token(mut self, token: &str) -> Self {
        self.sim_token = Some(token.to_owned());
        self
    }

    /// The `[api]` lines after `base_url` (default: no rate limit, 4 at once).
    pub(crate) fn api(mut self, api: &str) -> Self {
        self.api = Some(api.to_owned());
        self
    }

    /// `[[policy]]` TOML for a config pointed at the simulator (see
    /// [`Setup`]); `{daily}` becomes [`Daily::schedule`], `{metrics}` the
    /// address of a free port (`127.0.0.1:PORT`, `{METRICS}` in outputs).
    pub(crate) fn policies(mut self, policies: &str) -> Self {
        let metrics = format!("127.0.0.1:{}", self.metrics_port);
        self.policies = Some(self.daily.policies(policies).replace("{metrics}", &metrics));
        self
    }

    /// A config file `name` in the test's temp dir, passed with `--config`
    /// (no simulator).
    pub(crate) fn config_file(mut self, name: &str, text: &str) -> Self {
        self.config_file = Some((name.to_owned(), text.to_owned()));
        self
    }

    pub(crate) fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    pub(crate) fn no_token(mut self) -> Self {
        self.token = false;
        self
    }

    pub(crate) fn status(mut self, status: i32) -> Self {
        self.status = status;
        self
    }

    /// The whole stdout, after normalisation.
    pub(crate) fn stdout(mut self, stdout: &str) -> Self {
        self.stdout = Some(stdout.to_owned());
        self.stdout_json = None;
        self
    }

    /// Stdout parsed as JSON must equal `value`, whole.
    pub(crate) fn stdout_json(mut self, value: serde_json::Value) -> Self {
        self.stdout_json = Some(value);
        self.stdout = None;
        self
    }

    /// The whole stderr, after normalisation, log lines without their
    /// timestamp ([`Normalize::log`]); default: empty.
    pub(crate) fn stderr(mut self, stderr: &str) -> Self {
        self.stderr = stderr.to_owned();
        self
    }

    /// The simulator, the config and the normaliser of this test.
    fn prepare(&self) -> (Option<Sim>, Option<Setup>, PathBuf, Normalize) {
        let sim = (self.seed.is_some() || self.policies.is_some()).then(|| {
            let sim = self.start_sim();
            if let Some(f) = &self.faults {
                sim.faults(f.clone());
            }
            sim
        });
        let setup = sim.as_ref().map(|sim| {
            let policies = self.policies.as_deref().unwrap_or("");
            let setup = match &self.api {
                Some(api) => Setup::with_api(sim, api, policies),
                None => Setup::new(sim, policies),
            };
            Setup {
                env: self.account_tokens(sim),
                token_var: self
                    .token_var
                    .clone()
                    .unwrap_or_else(|| setup.token_var.clone()),
                ..setup
            }
        });
        let dir = setup.as_ref().map_or_else(temp_dir, |s| s.dir.clone());
        let mut normalize = Normalize::default()
            .literal(dir.display().to_string(), "{DIR}")
            .literal(env!("CARGO_MANIFEST_DIR"), "{ROOT}")
            .literal(format!("127.0.0.1:{}", self.metrics_port), "{METRICS}")
            .daily(&self.daily);
        if let Some(sim) = &sim {
            normalize = normalize.literal(sim.sim.base_url(), "{SIM}");
        }
        for (from, to) in &self.literals {
            normalize = normalize.literal(from.clone(), to.clone());
        }
        for rule in &self.rules {
            normalize = rule(normalize);
        }
        (sim, setup, dir, normalize)
    }

    /// Starts the binary in the background (a daemon; with arguments such
    /// as `--run-now`, a pass to interrupt), its stdout and stderr
    /// captured; see [`Live`]. The expected outputs of the builder do not
    /// apply: [`Live::stop`] compares the whole log, [`Live::stdout`] the
    /// rest.
    pub(crate) fn start(self) -> Live {
        let (sim, setup, _, normalize) = self.prepare();
        assert!(setup.is_some(), "a daemon needs policies");
        Ran {
            daily: self.daily,
            sim,
            setup,
            normalize: normalize.log(),
        }
        .start_with(&self.args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// The simulator, the config and the normaliser, without running the
    /// binary: for runs whose stderr is not compared whole (trace logs are
    /// the HTTP stack's); run them with [`Setup::run`], compare stdout with
    /// [`Ran::assert_stdout`].
    pub(crate) fn prepared(self) -> Ran {
        let (sim, setup, _, normalize) = self.prepare();
        Ran {
            daily: self.daily,
            sim,
            setup,
            normalize,
        }
    }

    #[track_caller]
    pub(crate) fn run(self) -> Ran {
        let (sim, setup, dir, normalize) = self.prepare();
        let mut cmd = match &setup {
            Some(s) => s.cmd(),
            None => bare_cmd(),
        };
        if let Some((name, text)) = &self.config_file {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            cmd.arg("--config").arg(path);
        }
        if !self.token {
            cmd.env_remove("VPS_API_TOKEN");
        }

        let run = Run(cmd.args(&self.args).output().unwrap()).expect(self.status);

        if let Some(want) = &self.stdout {
            assert_text("stdout", want, &normalize.apply(&run.stdout()));
        }
        if let Some(want) = &self.stdout_json {
            let have: serde_json::Value = serde_json::from_str(&run.stdout())
                .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", run.stdout()));
            assert_text(
                "stdout (JSON)",
                &serde_json::to_string_pretty(want).unwrap(),
                &serde_json::to_string_pretty(&have).unwrap(),
            );
        }
        let stderr = normalize.clone().log().apply(&run.stderr());
        assert_text("stderr", &self.stderr, &stderr);
        Ran {
            daily: self.daily,
            sim,
            setup,
            normalize,
        }
    }
}

impl Test {
    /// The accounts' tokens as [`Test::account`] says the binary gets them.
    fn account_tokens(&self, sim: &Sim) -> Vec<(String, String)> {
        if self.accounts.is_empty() {
            return Vec::new();
        }
        let mut env = vec![(
            "SNAPKEEP_IT_TOKEN_MAIN".to_owned(),
            sim.sim.token().to_owned(),
        )];
        for (name, _) in &self.accounts {
            if let Some(account) = sim.sim.account(name) {
                env.push((
                    format!("SNAPKEEP_IT_TOKEN_{}", name.to_uppercase()),
                    account.token().to_owned(),
                ));
            }
        }
        env
    }

    /// The simulator: [`Sim::start`]'s, with [`Test::account`]'s accounts.
    fn start_sim(&self) -> Sim {
        let config = SimConfig {
            seed: self.seed.clone().unwrap_or_else(Seed::empty),
            complete_after: self.complete_after.unwrap_or(Duration::from_millis(300)),
            token: self
                .sim_token
                .clone()
                .unwrap_or_else(|| "test-token-0123456789".into()),
            ..SimConfig::default()
        };
        let more = self
            .accounts
            .iter()
            .map(|(name, seed)| SimAccount {
                name: name.clone(),
                token: format!("test-token-{name}"),
                seed: seed.clone(),
            })
            .collect();
        Sim::with_accounts(config, more)
    }
}

// ------------------------------------------------------------ daemon runs

/// The binary running as a daemon, started by [`Test::start`] (or
/// [`Ran::start`] for another one on the same config): wait for log lines
/// and endpoints, send signals, then [`Live::stop`] compares the exit code
/// and the whole log, normalised by the test's [`Normalize`] with
/// [`Normalize::log`] (and whatever the test added with [`Live::normalize`]).
///
/// The log's lines are compared whole and in order, so a test waits at
/// quiet points (a pass's summary line) before it acts: what the daemon
/// logs between the wait and the action is then fixed.
pub(crate) struct Live {
    pub(crate) ran: Ran,
    daemon: Daemon,
    /// Normalised log lines already matched by [`Live::wait_for`].
    waited: usize,
}

impl Ran {
    /// Starts a daemon on this test's config (a fresh log file).
    pub(crate) fn start(self) -> Live {
        self.start_with(&[])
    }

    /// Starts the binary with `args` on this test's config in the
    /// background (a fresh log and stdout file).
    pub(crate) fn start_with(self, args: &[&str]) -> Live {
        let daemon = self.setup().spawn(args);
        Live {
            ran: self,
            daemon,
            waited: 0,
        }
    }
}

/// How long a daemon test waits for a log line or an endpoint.
const LIVE_LIMIT: Duration = Duration::from_secs(20);

impl Live {
    /// Adds rules to the log's normalisation (e.g. [`Normalize::clock_stamps`]).
    pub(crate) fn normalize(mut self, f: impl FnOnce(Normalize) -> Normalize) -> Self {
        self.ran.normalize = f(self.ran.normalize);
        self
    }

    /// The whole log so far, normalised.
    pub(crate) fn log(&self) -> String {
        self.ran.normalize.apply(&self.daemon.log())
    }

    /// Waits until the normalised log has the whole line `line` after the
    /// lines earlier waits matched; panics with the log if it does not come.
    #[track_caller]
    pub(crate) fn wait_for(&mut self, line: &str) -> &mut Self {
        let waited = self.waited;
        let mut found = None;
        let came = self.daemon.wait_until(LIVE_LIMIT, || {
            found = self
                .log()
                .lines()
                .skip(waited)
                .position(|l| l == line)
                .map(|i| waited + i + 1);
            found.is_some()
        });
        assert!(
            came,
            "no log line\n  {line}\nafter line {waited} of the daemon's log (normalised):\n{}",
            self.log()
        );
        self.waited = found.unwrap();
        self
    }

    /// Waits until `cond` holds; panics with `what` and the log if it does not.
    #[track_caller]
    pub(crate) fn wait_until(&self, what: &str, cond: impl FnMut() -> bool) {
        let held = self.daemon.wait_until(LIVE_LIMIT, cond);
        assert!(held, "{what}: never\n--- the log\n{}", self.log());
    }

    /// The whole stdout so far, normalised.
    pub(crate) fn stdout(&self) -> String {
        let out = std::fs::read_to_string(&self.daemon.out).unwrap_or_default();
        self.ran.normalize.apply(&out)
    }

    pub(crate) fn signal(&self, name: &str) -> &Self {
        self.daemon.signal(name);
        self
    }

    /// GET `path` on the `{metrics}` port once it answers `status`: the
    /// normalised body.
    #[track_caller]
    pub(crate) fn get(&self, path: &str, status: u16) -> String {
        let port = self.port();
        let mut last = None;
        let answered = self.daemon.wait_until(LIVE_LIMIT, || {
            last = http_get(port, path);
            last.as_ref().is_some_and(|(s, _)| *s == status)
        });
        assert!(
            answered,
            "GET {path}: wanted {status}, last answer {last:?}\n--- the daemon's log\n{}",
            self.log()
        );
        self.ran.normalize.apply(&last.unwrap().1)
    }

    /// The port of `{metrics}`, from the normaliser's literal.
    fn port(&self) -> u16 {
        self.ran
            .normalize
            .literals
            .iter()
            .find(|(_, to)| to == "{METRICS}")
            .and_then(|(from, _)| from.rsplit_once(':')?.1.parse().ok())
            .expect("a {metrics} port")
    }

    /// Sends `signal`, waits (up to 20 s) for the exit, then compares the
    /// exit code, the whole normalised log and an empty stdout; hands back
    /// the test.
    #[track_caller]
    pub(crate) fn stop(self, signal: &str, status: i32, log: &str) -> Ran {
        self.stop_timed(signal, status, "", log).0
    }

    /// Like [`Live::stop`] with the whole stdout expected (a `--run-now`),
    /// and how long the exit took after the signal.
    #[track_caller]
    pub(crate) fn stop_timed(
        self,
        signal: &str,
        status: i32,
        stdout: &str,
        log: &str,
    ) -> (Ran, Duration) {
        let start = std::time::Instant::now();
        self.daemon.signal(signal);
        let ran = self.finish(status, stdout, log);
        (ran, start.elapsed())
    }

    /// Waits (up to 20 s) for the exit, then compares the exit code, the
    /// whole stdout and the whole log.
    #[track_caller]
    pub(crate) fn finish(mut self, status: i32, stdout: &str, log: &str) -> Ran {
        let exited = self.daemon.wait_exit(LIVE_LIMIT);
        let have = self.log();
        let Some((code, _)) = exited else {
            panic!("the binary did not exit\n--- its log\n{have}");
        };
        assert_eq!(code, status, "exit code\n--- its log\n{have}");
        assert_text("stdout", stdout, &self.stdout());
        assert_text("log", log, &have);
        self.ran
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.daemon.child.id()
    }
}

/// A free loopback port (bound, then let go).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A plain HTTP GET on loopback; (status, body), or `None` if nobody answered.
pub(crate) fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// The binary with no config, token or log settings from the environment.
pub(crate) fn bare_cmd() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("VPS_API_TOKEN")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("SNAPKEEP_CONFIG")
        .env_remove("SNAPKEEP_LOG_FORMAT")
        .env_remove("SNAPKEEP_LOG")
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null());
    c
}

/// A text log line (`2025-03-04T15:00:00.123456Z  INFO message`) without its
/// timestamp and level: the message. Other lines are returned whole.
fn log_message(line: &str) -> &str {
    let Some((ts, rest)) = line.split_once(' ') else {
        return line;
    };
    if !(ts.len() > 20 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T') {
        return line;
    }
    match rest.trim_start().split_once(' ') {
        Some((level, message)) if level.chars().all(|c| c.is_ascii_uppercase()) => message,
        _ => line,
    }
}
