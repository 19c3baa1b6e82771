//! The `snapkeep sim` options as one plain struct, turned into a [`SimConfig`].
//!
//! It is also the `snapkeep sim` command line (clap derives it; the doc
//! comments are the `--help` text), so the simulator's knobs are defined and
//! documented once, next to what they drive. The command-line defaults are
//! the `#[arg]` ones; `Default` is for building a config in code.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::faults::{DEFAULT_PAGE_SIZE, Endpoint, FaultSpec, Faults};
use super::junk;
use super::seed::{Seed, SeedError};
use super::server::{SimAccount, SimConfig};

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
    /// The flags for lagging lists, shifting pages, junk items, absurd
    /// Retry-After values and applied errors (boxed: they would make
    /// `snapkeep`'s command enum lopsided).
    #[command(flatten)]
    pub adversity: Box<AdversityOptions>,
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
    /// Apply the error, 429 (and Retry-After), latency, lost-response,
    /// applied-error and malformed faults above to this endpoint only
    /// (snapshots.list, snapshots.create, snapshots.delete, snapshots.restore,
    /// backups.list, backups.create, backups.delete, servers.restore);
    /// all endpoints when absent. The list faults (--list-lag,
    /// --page-shift-rate, --count-inflation, --junk-item, --stock-junk) always
    /// apply to both lists.
    #[arg(long, value_name = "ENDPOINT", env = "SNAPKEEP_SIM_ENDPOINT")]
    pub endpoint: Option<Endpoint>,
    /// Seed of the random draws that pick which requests fail, so a run can
    /// be replayed.
    #[arg(long, default_value_t = 1, env = "SNAPKEEP_SIM_RNG_SEED")]
    pub rng_seed: u64,
    /// Serve one more account, NAME with bearer token TOKEN (repeatable):
    /// its own world, started from the same seed as the primary account
    /// (`default`, --token), so server ids repeat across accounts.
    #[arg(long = "account", value_name = "NAME=TOKEN", value_parser = parse_account)]
    pub accounts: Vec<(String, String)>,
}

/// `--account NAME=TOKEN`.
fn parse_account(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, token)) if !name.is_empty() && !token.is_empty() => {
            Ok((name.to_owned(), token.to_owned()))
        }
        _ => Err(format!("{text:?} is not NAME=TOKEN")),
    }
}

/// The `snapkeep sim` flags for the misbehaviours a hardened client must
/// survive beyond errors and latency (see [`Faults`] and [`FaultSpec`]),
/// part of [`SimOptions`].
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct AdversityOptions {
    /// Send exactly this Retry-After value with a 429 instead of
    /// --retry-after, to test absurd ones: 10000000000000000000, -5, soon,
    /// "Wed, 21 Oct 2015 07:28:00 GMT".
    #[arg(
        long,
        value_name = "VALUE",
        allow_hyphen_values = true,
        env = "SNAPKEEP_SIM_RETRY_AFTER_RAW"
    )]
    pub retry_after_raw: Option<String>,
    /// Share of successful requests (0.0-1.0) that take effect but are then
    /// answered with --error-status (a proxy's 5xx after the backend acted).
    #[arg(long, default_value_t = 0.0, env = "SNAPKEEP_SIM_APPLIED_ERROR_RATE")]
    pub applied_error_rate: f64,
    /// Lists lag behind writes by this long (e.g. 3s): new items are missing
    /// from lists and deleted ones still show until it has passed; caps and
    /// deletes see the real state.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration, env = "SNAPKEEP_SIM_LIST_LAG")]
    pub list_lag: Duration,
    /// Share of list pages 2..n (0.0-1.0) served shifted by one item
    /// (repeating or skipping one), as when the list changes mid-walk.
    #[arg(long, default_value_t = 0.0, env = "SNAPKEEP_SIM_PAGE_SHIFT_RATE")]
    pub page_shift_rate: f64,
    /// Report this count in every list answer whatever the real number (e.g.
    /// 5000000); next links still follow the real list.
    #[arg(long, value_name = "N", env = "SNAPKEEP_SIM_COUNT_INFLATION")]
    pub count_inflation: Option<u64>,
    /// Append this raw JSON object (or every object of this JSON array) to
    /// every snapshot and backup list, e.g. '{"id": 9000001, "server": null,
    /// "status": "completed", "created_at": null}' (repeatable).
    #[arg(
        long = "junk-item",
        value_name = "JSON",
        value_parser = parse_junk,
        env = "SNAPKEEP_SIM_JUNK_ITEMS"
    )]
    pub junk_items: Vec<Value>,
    /// Append three stock malformed items to every list: a snapshot and a
    /// backup of a deleted server (ids 9000001, 9000002) and an item with
    /// only an id and a status (9000003).
    #[arg(long, env = "SNAPKEEP_SIM_STOCK_JUNK")]
    pub stock_junk: bool,
}

impl Default for AdversityOptions {
    fn default() -> Self {
        let spec = FaultSpec::default();
        let faults = Faults::default();
        AdversityOptions {
            retry_after_raw: spec.retry_after_raw,
            applied_error_rate: spec.applied_error_rate,
            list_lag: faults.list_lag,
            page_shift_rate: faults.page_shift_rate,
            count_inflation: faults.count_inflation,
            junk_items: faults.junk_items,
            stock_junk: false,
        }
    }
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
            adversity: Box::default(),
            stuck: false,
            fail_creates: false,
            fault_servers: Vec::new(),
            endpoint: None,
            rng_seed: config.rng_seed,
            accounts: Vec::new(),
        }
    }
}

impl SimOptions {
    /// Reads the seed (if any) and assembles the configuration; `listen` is
    /// not part of it (pass it to [`Simulator::start`](super::Simulator::start)).
    /// The `--account`s, each a world of its own from `seed` (the primary
    /// account's, as [`SimOptions::into_config`] read it).
    pub fn extra_accounts(&self, seed: &Seed) -> Vec<SimAccount> {
        self.accounts
            .iter()
            .map(|(name, token)| SimAccount {
                name: name.clone(),
                token: token.clone(),
                seed: seed.clone(),
            })
            .collect()
    }

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
        let adversity = *self.adversity;
        let spec = FaultSpec {
            error_rate: self.error_rate,
            error_status: self.error_status,
            rate_limit_rate: self.rate_limit_rate,
            retry_after_secs: self.retry_after,
            retry_after_raw: adversity.retry_after_raw,
            latency: self.latency,
            lost_response_rate: self.lost_response_rate,
            applied_error_rate: adversity.applied_error_rate,
            malformed_rate: self.malformed_rate,
            max_faults: None,
        };
        let mut faults = Faults::none()
            .with_page_size(self.page_size)
            .with_list_lag(adversity.list_lag)
            .with_page_shift(adversity.page_shift_rate)
            .with_junk_items(adversity.junk_items.into_iter().flat_map(|v| match v {
                Value::Array(items) => items,
                item => vec![item],
            }));
        faults.count_inflation = adversity.count_inflation;
        if adversity.stock_junk {
            faults = faults.with_junk_items([
                junk::deleted_server_snapshot(9_000_001),
                junk::deleted_server_backup(9_000_002),
                junk::missing_fields(9_000_003),
            ]);
        }
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

/// `--junk-item`: a JSON object, or an array of them.
fn parse_junk(text: &str) -> Result<Value, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let objects = match &value {
        Value::Array(items) => items.iter().all(Value::is_object),
        other => other.is_object(),
    };
    if objects {
        Ok(value)
    } else {
        Err("expected a JSON object or an array of objects".to_owned())
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

    #[test]
    fn list_and_header_flags_reach_the_faults() {
        use clap::Parser;

        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            sim: SimOptions,
        }
        let cli = Cli::try_parse_from([
            "sim",
            "--fleet",
            "2",
            "--retry-after-raw",
            "-5",
            "--applied-error-rate",
            "0.25",
            "--list-lag",
            "3s",
            "--page-shift-rate",
            "0.5",
            "--count-inflation",
            "5000000",
            "--junk-item",
            r#"{"id": 9001, "server": null}"#,
            "--junk-item",
            r#"[{"id": 9002}, {"id": 9003}]"#,
            "--stock-junk",
            "--endpoint",
            "snapshots.list",
        ])
        .unwrap();
        let faults = cli.sim.into_config().unwrap().faults;
        let spec = faults.spec_for(Endpoint::SnapshotsList);
        assert_eq!(spec.retry_after_raw.as_deref(), Some("-5"));
        assert_eq!(spec.applied_error_rate, 0.25);
        assert_eq!(faults.list_lag, Duration::from_secs(3));
        assert_eq!(faults.page_shift_rate, 0.5);
        assert_eq!(faults.count_inflation, Some(5_000_000));
        let ids: Vec<u64> = faults
            .junk_items
            .iter()
            .map(|j| j["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, [9001, 9002, 9003, 9_000_001, 9_000_002, 9_000_003]);
        assert!(
            Cli::try_parse_from(["sim", "--junk-item", "[1]"]).is_err(),
            "junk items must be objects"
        );
    }
}
