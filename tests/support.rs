//! A small fluent harness around the real binary and an in-process simulator.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use snapkeep::sim::{Faults, Seed, SimConfig, Simulator};

pub const BIN: &str = env!("CARGO_BIN_EXE_snapkeep");

/// A running simulator with its own runtime (tests stay synchronous and
/// block on the binary while the simulator serves on the runtime's threads).
pub struct Sim {
    pub sim: Simulator,
    rt: tokio::runtime::Runtime,
}

impl Sim {
    pub fn start(seed: Seed) -> Sim {
        Sim::with(SimConfig {
            seed,
            complete_after: Duration::from_millis(300),
            token: "test-token-0123456789".into(),
            ..SimConfig::default()
        })
    }

    pub fn with(config: SimConfig) -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sim = rt
            .block_on(Simulator::start("127.0.0.1:0".parse().unwrap(), config))
            .unwrap();
        Sim { sim, rt }
    }

    pub fn faults(&self, faults: Faults) -> &Self {
        self.sim.set_faults(faults);
        self
    }

    /// Requests whose method is one of `methods`.
    pub fn count(&self, methods: &[&str]) -> usize {
        self.sim
            .requests()
            .iter()
            .filter(|r| methods.contains(&r.method.as_str()))
            .count()
    }

    pub fn snapshot_names(&self, server: u64) -> Vec<String> {
        let mut v: Vec<String> = self.sim.snapshots(Some(server)).into_iter().map(|s| s.name).collect();
        v.sort();
        v
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

/// A config file in a fresh temp dir, pointed at the simulator.
pub struct Setup {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub token: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn temp_dir() -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("snapkeep-it-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Setup {
    /// `policies` is TOML for `[[policy]]` tables (and optionally `[defaults]`);
    /// `[api]` is written here, with fast polling for tests.
    pub fn new(sim: &Sim, policies: &str) -> Setup {
        Setup::with_api(sim, "requests_per_second = 0\nmax_concurrency = 4\n", policies)
    }

    pub fn with_api(sim: &Sim, api_extra: &str, policies: &str) -> Setup {
        let dir = temp_dir();
        let config = dir.join("config.toml");
        let text = format!(
            "[api]\nbase_url = \"{}\"\n{api_extra}\n{}{policies}",
            sim.sim.base_url(),
            if policies.contains("[defaults]") { "" } else { "[defaults]\npoll_interval = \"100ms\"\nwait_timeout = \"20s\"\n\n" },
        );
        std::fs::write(&config, text).unwrap();
        Setup { dir, config, token: sim.sim.token().to_owned() }
    }

    pub fn write(&self, text: &str) {
        std::fs::write(&self.config, text).unwrap();
    }

    pub fn cmd(&self) -> Command {
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

    pub fn run(&self, args: &[&str]) -> Run {
        Run(self.cmd().args(args).output().unwrap())
    }
}

/// A finished run of the binary.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
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
