//! snapkeep: keeps rolling sets of VPS.org snapshots and manual backups.
//!
//! The binary (`main.rs`) is a thin shell around [`run`]; everything that
//! decides or talks to the provider lives in the modules below, one concern
//! each (see `design.md` for the module map).

pub(crate) mod api;
