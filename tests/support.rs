//! A small fluent harness around the real binary and an in-process simulator.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use snapkeep_sim::{Faults, Seed, SimAccount, SimConfig, Simulator};

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

    pub(crate) fn with_api(sim: &Sim, api_extra: &str, policies: &str) -> Setup {
        let dir = temp_dir();
        let config = dir.join("config.toml");
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
        }
    }

    pub(crate) fn write(&self, text: &str) {
        std::fs::write(&self.config, text).unwrap();
    }

    pub(crate) fn cmd(&self) -> Command {
        let mut c = bare_cmd();
        c.arg("--config")
            .arg(&self.config)
            .env("VPS_API_TOKEN", &self.token)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Starts the daemon in the background, its stderr in `dir/daemon.log`.
    pub(crate) fn spawn_daemon(&self, extra_env: &[(&str, &str)]) -> Daemon {
        let log = self.dir.join("daemon.log");
        let mut cmd = self.cmd();
        cmd.stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        Daemon {
            child: cmd.spawn().unwrap(),
            log,
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

    /// `policies` with every `{daily}` replaced by the schedule expression.
    pub(crate) fn policies(&self, policies: &str) -> String {
        policies.replace("{daily}", &self.schedule)
    }
}

// ----------------------------------------------------------- whole outputs

/// How many earlier slots [`Normalize`] names (`{SLOT-1d}` … `{SLOT-60d}`).
const SLOT_DAYS: i64 = 60;

/// Replaces the parts of an output that genuinely vary from run to run with
/// fixed placeholders, so the rest can be compared whole. The rules, all of
/// them:
///
/// * literal strings the test knows: the simulator's base URL → `{SIM}`, the
///   test's temp dir → `{DIR}`, the crate root → `{ROOT}`;
/// * the [`Daily`] slot and the 60 before it, as snapkeep writes them in names
///   (`20250304-150000`) and backup markers (`2025-03-04T15:00:00Z`) →
///   `{SLOT}`, `{SLOT-1d}`, `{SLOT-2d}`, …;
/// * a duration the way the summary prints it, digits `.` one digit `s`
///   (`[0.4s]`, `in 1.2s`) → `{T}`;
/// * the API call count of the summary (`7 API call(s)`: how many polls a
///   wait took is timing) → `{N} API call(s)`;
/// * the next fire time `check` prints (`next: 2025-…+01:00`, relative to
///   now) → `next: {NEXT}`.
///
/// Item ids are not replaced: the simulator numbers them in seed and create
/// order, so they are part of the contract.
#[derive(Debug, Clone, Default)]
pub(crate) struct Normalize {
    literals: Vec<(String, String)>,
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
        for d in 0..=SLOT_DAYS {
            let name = if d == 0 {
                "{SLOT}".to_owned()
            } else {
                format!("{{SLOT-{d}d}}")
            };
            let t = daily.slot(d);
            self = self
                .literal(t.format("%Y%m%d-%H%M%S").to_string(), name.clone())
                .literal(t.format("%Y-%m-%dT%H:%M:%SZ").to_string(), name);
        }
        self
    }

    pub(crate) fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        // Longest first: a temp dir is inside no other literal, but be safe.
        let mut literals = self.literals.clone();
        literals.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        for (from, to) in &literals {
            out = out.replace(from.as_str(), to);
        }
        let out = tenths_of_seconds(&out);
        let out = api_calls(&out);
        next_fire_times(&out)
    }
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
    let mut diff = String::new();
    let (w, h): (Vec<&str>, Vec<&str>) = (want.lines().collect(), have.lines().collect());
    for i in 0..w.len().max(h.len()) {
        match (w.get(i), h.get(i)) {
            (Some(a), Some(b)) if a == b => diff.push_str(&format!("   {a}\n")),
            (a, b) => {
                if let Some(a) = a {
                    diff.push_str(&format!(" - {a}\n"));
                }
                if let Some(b) = b {
                    diff.push_str(&format!(" + {b}\n"));
                }
            }
        }
    }
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

/// What a [`Test`] expects of stderr.
#[derive(Debug, Clone)]
enum Stderr {
    /// The whole stderr, normalised (errors are the contract).
    Exact(String),
    /// Only that these lines appear, each whole (logs are not the contract).
    Lines(Vec<String>),
}

/// A whole run of the binary, in the manner of just's `Test`: set up a
/// simulator and a config, give the arguments, state the expected exit
/// status and the whole stdout (default: 0 and empty), then `run()`.
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
    policies: Option<String>,
    config_file: Option<(String, String)>,
    /// More simulator accounts: (name, seed); see [`Test::account`].
    accounts: Vec<(String, Seed)>,
    args: Vec<String>,
    token: bool,
    status: i32,
    stdout: Option<String>,
    stdout_json: Option<serde_json::Value>,
    stderr: Stderr,
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
    /// `status` and the whole normalised stdout must match.
    #[track_caller]
    pub(crate) fn again_with(
        &self,
        setup: &Setup,
        args: &[&str],
        status: i32,
        stdout: &str,
    ) -> Run {
        let run = setup.run(args).expect(status);
        assert_text("stdout", stdout, &self.normalize.apply(&run.stdout()));
        run
    }

    /// Runs the binary again on the same config; `status` and the whole
    /// normalised stdout must match.
    #[track_caller]
    pub(crate) fn again(&self, args: &[&str], status: i32, stdout: &str) -> Run {
        let run = self.setup().run(args).expect(status);
        assert_text("stdout", stdout, &self.normalize.apply(&run.stdout()));
        run
    }
}

impl Test {
    pub(crate) fn new() -> Test {
        Test {
            daily: Daily::now(),
            seed: None,
            faults: None,
            policies: None,
            config_file: None,
            accounts: Vec::new(),
            args: Vec::new(),
            token: true,
            status: 0,
            stdout: Some(String::new()),
            stdout_json: None,
            stderr: Stderr::Lines(Vec::new()),
        }
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

    /// `[[policy]]` TOML for a config pointed at the simulator (see
    /// [`Setup`]); `{daily}` becomes [`Daily::schedule`].
    pub(crate) fn policies(mut self, policies: &str) -> Self {
        self.policies = Some(self.daily.policies(policies));
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

    /// The whole stderr, after normalisation (where errors are the contract).
    pub(crate) fn stderr(mut self, stderr: &str) -> Self {
        self.stderr = Stderr::Exact(stderr.to_owned());
        self
    }

    /// Each of `lines` must be a whole line of stderr (a log line), after
    /// normalisation and with the log's timestamp and level prefix removed.
    pub(crate) fn stderr_lines(mut self, lines: &[&str]) -> Self {
        self.stderr = Stderr::Lines(lines.iter().map(|l| (*l).to_owned()).collect());
        self
    }

    #[track_caller]
    pub(crate) fn run(self) -> Ran {
        let sim = (self.seed.is_some() || self.policies.is_some()).then(|| {
            let sim = self.start_sim();
            if let Some(f) = &self.faults {
                sim.faults(f.clone());
            }
            sim
        });
        let setup = sim.as_ref().map(|sim| Setup {
            env: self.account_tokens(sim),
            ..Setup::new(sim, self.policies.as_deref().unwrap_or(""))
        });
        let dir = setup.as_ref().map_or_else(temp_dir, |s| s.dir.clone());
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

        let mut normalize = Normalize::default()
            .literal(dir.display().to_string(), "{DIR}")
            .literal(env!("CARGO_MANIFEST_DIR"), "{ROOT}")
            .daily(&self.daily);
        if let Some(sim) = &sim {
            normalize = normalize.literal(sim.sim.base_url(), "{SIM}");
        }

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
        let stderr = normalize.apply(&run.stderr());
        match &self.stderr {
            Stderr::Exact(want) => assert_text("stderr", want, &stderr),
            Stderr::Lines(lines) => {
                let have: Vec<&str> = stderr.lines().map(log_message).collect();
                for want in lines {
                    assert!(
                        have.contains(&want.as_str()),
                        "stderr has no line\n  {want}\n--- stderr (normalised, messages)\n{}",
                        have.join("\n")
                    );
                }
            }
        }
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
        let seed = self.seed.clone().unwrap_or_else(Seed::empty);
        if self.accounts.is_empty() {
            return Sim::start(seed);
        }
        let more = self
            .accounts
            .iter()
            .map(|(name, seed)| SimAccount {
                name: name.clone(),
                token: format!("test-token-{name}"),
                seed: seed.clone(),
            })
            .collect();
        Sim::with_accounts(
            SimConfig {
                seed,
                complete_after: Duration::from_millis(300),
                token: "test-token-0123456789".into(),
                ..SimConfig::default()
            },
            more,
        )
    }
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
