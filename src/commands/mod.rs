//! One file per subcommand; each turns arguments into work and an exit code.

pub(crate) mod check;
pub(crate) mod daemon;
pub(crate) mod demo;
pub(crate) mod docs;
pub(crate) mod prune_orphans;
pub(crate) mod restore;
pub(crate) mod run_now;
pub(crate) mod schedule;
pub(crate) mod sim;
pub(crate) mod simulate;
pub(crate) mod status;
pub(crate) mod status_check;
