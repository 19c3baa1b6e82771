//! The `snapkeep` binary: parse, set up logging, run, exit.

use std::process::ExitCode;

use clap::Parser;
use snapkeep::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    snapkeep::telemetry::init_logging(cli.log_format, &cli.log_level);
    snapkeep::run(cli)
}
