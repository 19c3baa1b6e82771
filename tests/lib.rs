//! The one integration test binary (one link step): every test runs the real
//! `snapkeep` binary against the embedded VPS.org simulator on a loopback port.

mod support;

mod architecture;
mod config_check;
mod daemon_endpoints;
mod daemon_schedule_and_signals;
mod deploy_files;
mod orphans_of_another_config;
mod run_now;
mod run_now_interrupted;
mod simulate;
mod status_and_prune_orphans;
mod token_secrecy;
