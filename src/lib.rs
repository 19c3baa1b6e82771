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
mod error;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod hooks;
pub(crate) mod html;
pub(crate) mod inventory;
pub(crate) mod job;
pub(crate) mod memory;
pub(crate) mod metrics;
pub(crate) mod naming;
pub(crate) mod notify;
pub(crate) mod orphans;
pub(crate) mod pass;
pub(crate) mod provider;
pub(crate) mod retention;
pub(crate) mod schedule;
pub(crate) mod secrets;
pub(crate) mod status;
pub(crate) mod status_page;
pub mod telemetry;
pub(crate) mod zone;

pub use app::run;

/// The slot a pass at `now` works on: the latest fire time of the cron
/// expression `schedule` (in the IANA zone `tz`) at or before `now`, the
/// same computation `--run-now` and the daemon make. `None` when the
/// expression or the zone is invalid, or nothing fires before `now`.
///
/// Public so that the demo, the integration tests and the benchmark share
/// one "latest slot" with the binary instead of computing it by hand.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// let now = Utc.with_ymd_and_hms(2025, 3, 4, 2, 59, 0).unwrap();
/// let slot = snapkeep::latest_slot("0 3 * * *", "UTC", now).unwrap();
/// assert_eq!(slot, Utc.with_ymd_and_hms(2025, 3, 3, 3, 0, 0).unwrap());
/// ```
pub fn latest_slot(
    schedule: &str,
    tz: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let tz = zone::Zone::named(tz).ok()?;
    schedule::Schedule::parse(schedule, tz)
        .ok()?
        .latest_at_or_before(now)
}
