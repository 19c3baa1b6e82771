//! From a parsed command line to an exit code: picks the command, loads the
//! config and the client it needs, prints a fatal error once (exit codes:
//! `crate::error`).

use std::process::ExitCode;
use std::sync::Arc;

use crate::api::Client;
use crate::cli::{Cli, Command};
use crate::commands::{self, runtime};
use crate::config::{Clients, Config, load_and_connect};
use crate::error::AppError;

/// Runs the command; returns the process exit code. Call it while the
/// process has one thread: it first sets the allocator up
/// (`crate::memory`) and takes the API token out of the process's
/// environment (`crate::secrets`).
pub fn run(cli: Cli) -> ExitCode {
    crate::memory::tune_allocator();
    let protected = crate::secrets::protect_process();
    tracing::debug!(
        wiped = protected.wiped,
        non_dumpable = protected.non_dumpable,
        "VPS_API_TOKEN taken out of the environment block; process non-dumpable"
    );
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
            let (config, clients) = load_and_connect(&cli.config, Arc::default())?;
            runtime()?.block_on(commands::status::run(&config, &clients, args.json))
        }
        Some(Command::PruneOrphans(args)) => {
            let (config, clients) = load_and_connect(&cli.config, Arc::default())?;
            runtime()?.block_on(commands::prune_orphans::run(&config, &clients, args))
        }
        Some(Command::Restore(args)) => {
            let (config, clients) = load_and_connect(&cli.config, Arc::default())?;
            let client = account_client(&config, &clients, args.account.as_deref())?;
            runtime()?.block_on(commands::restore::run(client.clone(), args))
        }
        Some(Command::Completions(args)) => commands::docs::completions(args.shell),
        Some(Command::Manpage) => commands::docs::manpage(),
        None if cli.run_now => {
            let (config, clients) = load_and_connect(&cli.config, Arc::default())?;
            runtime()?.block_on(commands::run_now::run(Arc::new(config), clients, &cli))
        }
        None => {
            let (config, clients) = load_and_connect(&cli.config, Arc::default())?;
            runtime()?.block_on(commands::daemon::run(cli.config.clone(), config, clients))
        }
    }
}

/// The client of the account `restore` works in: the one named by
/// `--account`, else the config's only one. Ids are per account, so with
/// several and no `--account` it is a usage error that lists them (never
/// an id of one account sent to another).
fn account_client<'a>(
    config: &Config,
    clients: &'a Clients,
    account: Option<&str>,
) -> Result<&'a Client, AppError> {
    let names = || {
        let names: Vec<&str> = config.accounts.iter().map(|a| a.name.as_str()).collect();
        format!(
            "{} has {} ({})",
            config.origin,
            names.len(),
            names.join(", ")
        )
    };
    match account {
        Some(name) => clients.get(name).ok_or_else(|| {
            AppError::Usage(format!("--account {name:?}: no such account; {}", names()))
        }),
        None => clients.only().ok_or_else(|| {
            AppError::Usage(format!(
                "restore: which account is the item in? add --account NAME: {}",
                names()
            ))
        }),
    }
}
