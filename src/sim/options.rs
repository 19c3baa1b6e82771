//! The `snapkeep sim` options as one plain struct, turned into a [`SimConfig`].
//!
//! It is also the `snapkeep sim` command line (clap derives it; the doc
//! comments are the `--help` text), so the simulator's knobs are defined and
//! documented once, next to what they drive. The command-line defaults are
//! the `#[arg]` ones; `Default` is for building a config in code.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::faults::{DEFAULT_PAGE_SIZE, Endpoint, FaultSpec, Faults};
use super::seed::{Seed, SeedError};
use super::server::SimConfig;

/// Options of a standalone simulator (`snapkeep sim`).
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct SimOptions {
    /// Address to listen on (loopback; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080", env = "SNAPKEEP_SIM_LISTEN")]
    pub listen: SocketAddr,
    /// Bearer token the simulated API accepts.
    #[arg(long, default_value = "sim-token", env = "SNAPKEEP_SIM_TOKEN")]
    pub token: String,
    /// How long new snapshots and backups stay in_progress, and restores keep
    /// a server restoring (e.g. 2s, 500ms).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration, env = "SNAPKEEP_SIM_COMPLETE_AFTER")]
    pub complete_after: Duration,
    /// Seed file (*.toml or *.json) with the servers, snapshots and backups to
    /// start with; without it (and without --fleet) the API docs' examples.
    #[arg(
        long = "seed",
        value_name = "FILE",
        env = "SNAPKEEP_SIM_SEED",
        conflicts_with = "fleet"
    )]
    pub seed_path: Option<PathBuf>,
    /// Start with this many empty servers (ids 1..=N) instead of a seed file.
    #[arg(long, value_name = "N", env = "SNAPKEEP_SIM_FLEET")]
    pub fleet: Option<usize>,
    /// Share of requests (0.0-1.0) answered with --error-status, changing nothing.
    #[arg(long, default_value_t = 0.0, env = "SNAPKEEP_SIM_ERROR_RATE")]
    pub error_rate: f64,
    /// HTTP status for --error-rate answers (500, 502 or 503 are typical).
    #[arg(long, default_value_t = 503, env = "SNAPKEEP_SIM_ERROR_STATUS")]
    pub error_status: u16,
    /// Share of requests (0.0-1.0) answered 429 Too Many Requests, changing nothing.
    #[arg(long, default_value_t = 0.0, env = "SNAPKEEP_SIM_RATE_LIMIT_RATE")]
    pub rate_limit_rate: f64,
    /// Retry-After seconds sent with a 429 (0 sends no Retry-After header).
    #[arg(long, default_value_t = 1, env = "SNAPKEEP_SIM_RETRY_AFTER")]
    pub retry_after: u64,
    /// Delay added to every request (e.g. 200ms).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration, env = "SNAPKEEP_SIM_LATENCY")]
    pub latency: Duration,
    /// Share of requests (0.0-1.0) that take effect but whose connection is
    /// then dropped without a response (a lost response).
    #[arg(long, default_value_t = 0.0, env = "SNAPKEEP_SIM_LOST_RESPONSE_RATE")]
    pub lost_response_rate: f64,
    /// Share of successful responses (0.0-1.0) whose JSON body is cut in half.
    #[arg(long, default_value_t = 0.0, env = "SNAPKEEP_SIM_MALFORMED_RATE")]
    pub malformed_rate: f64,
    /// Items per list page; 0 serves every item on one page.
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE, env = "SNAPKEEP_SIM_PAGE_SIZE")]
    pub page_size: usize,
    /// New snapshots and backups stay in_progress forever.
    #[arg(long, env = "SNAPKEEP_SIM_STUCK")]
    pub stuck: bool,
    /// New snapshots and backups end failed instead of completed.
    #[arg(long, env = "SNAPKEEP_SIM_FAIL_CREATES")]
    pub fail_creates: bool,
    /// Limit --stuck and --fail-creates to these server ids (repeatable or
    /// comma-separated); all servers when none.
    #[arg(
        long = "fault-server",
        value_name = "ID",
        env = "SNAPKEEP_SIM_FAULT_SERVERS",
        value_delimiter = ','
    )]
    pub fault_servers: Vec<u64>,
    /// Apply the rate/latency faults above to this endpoint only
    /// (snapshots.list, snapshots.create, snapshots.delete, snapshots.restore,
    /// backups.list, backups.create, backups.delete, servers.restore);
    /// all endpoints when absent.
    #[arg(long, value_name = "ENDPOINT", env = "SNAPKEEP_SIM_ENDPOINT")]
    pub endpoint: Option<Endpoint>,
    /// Seed of the random draws that pick which requests fail, so a run can
    /// be replayed.
    #[arg(long, default_value_t = 1, env = "SNAPKEEP_SIM_RNG_SEED")]
    pub rng_seed: u64,
}

impl Default for SimOptions {
    fn default() -> Self {
        let config = SimConfig::default();
        let spec = FaultSpec::default();
        SimOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: config.token,
            complete_after: config.complete_after,
            seed_path: None,
            fleet: None,
            error_rate: spec.error_rate,
            error_status: spec.error_status,
            rate_limit_rate: spec.rate_limit_rate,
            retry_after: spec.retry_after_secs,
            latency: spec.latency,
            lost_response_rate: spec.lost_response_rate,
            malformed_rate: spec.malformed_rate,
            page_size: DEFAULT_PAGE_SIZE,
            stuck: false,
            fail_creates: false,
            fault_servers: Vec::new(),
            endpoint: None,
            rng_seed: config.rng_seed,
        }
    }
}

impl SimOptions {
    /// Reads the seed (if any) and assembles the configuration; `listen` is
    /// not part of it (pass it to [`Simulator::start`](super::Simulator::start)).
    pub fn into_config(self) -> Result<SimConfig, SeedError> {
        let seed = match (&self.seed_path, self.fleet) {
            (Some(path), None) => Seed::load(path)?,
            (None, Some(n)) => Seed::fleet(n),
            (None, None) => Seed::docs_example(),
            (Some(path), Some(_)) => {
                return Err(SeedError::Invalid {
                    origin: path.display().to_string(),
                    message: "both a seed file and --fleet were given; use one of them".to_owned(),
                });
            }
        };
        let spec = FaultSpec {
            error_rate: self.error_rate,
            error_status: self.error_status,
            rate_limit_rate: self.rate_limit_rate,
            retry_after_secs: self.retry_after,
            latency: self.latency,
            lost_response_rate: self.lost_response_rate,
            malformed_rate: self.malformed_rate,
        };
        let mut faults = Faults::none().with_page_size(self.page_size);
        faults = match self.endpoint {
            Some(endpoint) => faults.with_endpoint(endpoint, spec),
            None => faults.with_global(spec),
        };
        faults.stuck_in_progress = self.stuck;
        faults.fail_creates = self.fail_creates;
        if !self.fault_servers.is_empty() {
            faults = faults.with_only_servers(self.fault_servers);
        }
        Ok(SimConfig {
            token: self.token,
            complete_after: self.complete_after,
            seed,
            faults,
            rng_seed: self.rng_seed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_default_config() {
        let config = SimOptions::default().into_config().unwrap();
        let default = SimConfig::default();
        assert_eq!(config.token, default.token);
        assert_eq!(config.complete_after, default.complete_after);
        assert_eq!(config.seed, default.seed);
        assert_eq!(config.faults, default.faults);
        assert_eq!(config.rng_seed, default.rng_seed);
    }

    #[test]
    fn endpoint_flags_go_per_endpoint() {
        let config = SimOptions {
            error_rate: 0.5,
            error_status: 503,
            endpoint: Some(Endpoint::SnapshotsCreate),
            fleet: Some(3),
            stuck: true,
            fault_servers: vec![2],
            ..SimOptions::default()
        }
        .into_config()
        .unwrap();
        assert_eq!(config.seed.servers.len(), 3);
        assert_eq!(config.faults.global, FaultSpec::default());
        let spec = config.faults.spec_for(Endpoint::SnapshotsCreate);
        assert_eq!((spec.error_rate, spec.error_status), (0.5, 503));
        assert!(config.faults.stuck_in_progress);
        assert_eq!(config.faults.only_servers, Some([2].into()));
    }

    #[test]
    fn seed_file_and_fleet_conflict() {
        let err = SimOptions {
            seed_path: Some("seed.toml".into()),
            fleet: Some(3),
            ..SimOptions::default()
        }
        .into_config()
        .unwrap_err();
        assert!(err.to_string().contains("use one of them"), "{err}");
    }
}
