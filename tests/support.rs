//! A small fluent harness around the real binary and an in-process simulator.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use snapkeep_sim::{Faults, Seed, SimConfig, Simulator};

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
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sim = rt
            .block_on(Simulator::start("127.0.0.1:0".parse().unwrap(), config))
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
        }
    }

    pub(crate) fn write(&self, text: &str) {
        std::fs::write(&self.config, text).unwrap();
    }

    pub(crate) fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config")
            .arg(&self.config)
            .env("VPS_API_TOKEN", &self.token)
            .env_remove("SNAPKEEP_CONFIG")
            .env_remove("SNAPKEEP_LOG_FORMAT")
            .env_remove("SNAPKEEP_LOG")
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null());
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
