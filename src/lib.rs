//! snapkeep: keeps rolling sets of VPS.org snapshots and manual backups.
//!
//! The binary (`main.rs`) is a thin shell around [`run`]; everything that
//! decides or talks to the provider lives in the modules below, one concern
//! each (see ARCHITECTURE.md for the module map). `cli` is public so `main` can
//! parse arguments. The VPS.org simulator is its own crate (`crates/sim`,
//! `snapkeep_sim`): `demo`, `sim` and the tests use it, no production module
//! does.

pub(crate) mod api;
mod app;
pub mod cli;
pub(crate) mod clock;
mod commands;
pub(crate) mod config;
pub(crate) mod daemon;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod hooks;
pub(crate) mod inventory;
pub(crate) mod memory;
pub(crate) mod metrics;
pub(crate) mod naming;
pub(crate) mod notify;
pub(crate) mod orphans;
pub(crate) mod provider;
pub(crate) mod retention;
pub(crate) mod rotation;
pub(crate) mod runner;
pub(crate) mod schedule;
pub mod telemetry;
pub(crate) mod token;

pub use app::run;
