//! The typed VPS.org client. See `client.rs` for what it survives.

mod client;
mod error;
mod limiter;
mod models;
mod secret;

pub(crate) use client::{
    CallStats, Client, ClientSettings, DEFAULT_BASE_URL, Keep, SendWindow, SetupError,
    validate_base_url,
};
pub(crate) use error::ApiError;
pub(crate) use models::{Backup, BackupType, Snapshot, Status};
pub(crate) use secret::ApiToken;

#[cfg(test)]
mod tests;
