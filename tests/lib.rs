//! The one integration test binary (one link step): every test runs the real
//! `snapkeep` binary against the embedded VPS.org simulator on a loopback port.

mod support;

mod accounts;
mod architecture;
mod beyond;
mod cli;
mod daemon;
mod ecosystem;
mod interrupt;
mod ops;
mod orphans;
mod run_now;
mod secrets;
mod simulate;
