//! From a parsed command line to an exit code.
//!
//! Exit codes are a contract with schedulers: 0 everything succeeded, 1 a
//! job or the run failed, 2 the config or the command line is wrong (fix it
//! before retrying). Every error that reaches here says what to do next.

use std::process::ExitCode;
use std::sync::Arc;

use crate::api::{CallStats, Client, ClientSettings, SetupError};
use crate::cli::{Cli, Command};
use crate::commands;
use crate::config::{self, Config, ConfigError};
use crate::token::{self, TokenError};

#[derive(Debug, thiserror::Error)]
pub(crate) enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("{0}")]
    Runtime(String),
}

impl AppError {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            AppError::Config(_) | AppError::Usage(_) | AppError::Token(_) | AppError::Setup(_) => 2,
            AppError::Runtime(_) => 1,
        }
    }
}

/// Runs the command; returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Once, on stderr (where the logs go too): not a log line and
            // then the same text again.
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn dispatch(cli: Cli) -> Result<u8, AppError> {
    match &cli.command {
        Some(Command::Check) => commands::check::run(&cli.config),
        Some(Command::Schedule(args)) => commands::schedule::run(&cli.config, args),
        Some(Command::Simulate(args)) => commands::simulate::run(&cli.config, args),
        Some(Command::Demo(args)) => runtime()?.block_on(commands::demo::run(args)),
        Some(Command::Sim(args)) => runtime()?.block_on(commands::sim::run(args)),
        Some(Command::Status(args)) if args.check => Ok(commands::status_check::run(&cli.config)),
        Some(Command::Status(args)) => {
            let config = load_config(&cli.config)?;
            let client = client_for(&config, Arc::default())?;
            runtime()?.block_on(commands::status::run(&config, &client, args.json))
        }
        Some(Command::PruneOrphans(args)) => {
            let config = load_config(&cli.config)?;
            let client = client_for(&config, Arc::default())?;
            runtime()?.block_on(commands::prune_orphans::run(
                &config, &client, args.yes, args.json,
            ))
        }
        Some(Command::Restore(args)) => {
            let config = load_config(&cli.config)?;
            let client = client_for(&config, Arc::default())?;
            runtime()?.block_on(commands::restore::run(client, args))
        }
        Some(Command::Completions(args)) => commands::docs::completions(args.shell),
        Some(Command::Manpage) => commands::docs::manpage(),
        None if cli.run_now => {
            let config = load_config(&cli.config)?;
            let client = client_for(&config, Arc::default())?;
            runtime()?.block_on(commands::run_now::run(Arc::new(config), client, &cli))
        }
        None => {
            let config = load_config(&cli.config)?;
            let client = client_for(&config, Arc::default())?;
            runtime()?.block_on(commands::daemon::run(cli.config.clone(), config, client))
        }
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| AppError::Runtime(format!("cannot start the async runtime: {e}")))
}

/// Loads and validates the config, logging its warnings.
pub(crate) fn load_config(path: &std::path::Path) -> Result<Config, AppError> {
    let config = config::load(path)?;
    for w in &config.warnings {
        tracing::warn!("{}: {w}", config.origin);
    }
    Ok(config)
}

/// Builds the API client from `[api]` and the resolved token; `stats`
/// carries the call counters over from an earlier client (reload).
pub(crate) fn client_for(config: &Config, stats: Arc<CallStats>) -> Result<Client, AppError> {
    let token = token::from_environment(&config.api)?;
    client_with_token(config, token, stats)
}

pub(crate) fn client_with_token(
    config: &Config,
    token: crate::api::ApiToken,
    stats: Arc<CallStats>,
) -> Result<Client, AppError> {
    let api = &config.api;
    let mut settings = ClientSettings::new(api.base_url.clone(), token);
    settings.timeout = api.timeout;
    settings.connect_timeout = api.connect_timeout;
    settings.max_retries = api.max_retries;
    settings.retry_deadline = api.retry_deadline;
    settings.requests_per_second = api.requests_per_second;
    settings.max_concurrency = api.max_concurrency;
    Ok(Client::with_stats(settings, stats)?)
}
