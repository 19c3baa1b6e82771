//! From a config file to a working API client: load (logging the config's
//! warnings), resolve the token ([`super::token`]), apply `[api]`. The one
//! way every command and the daemon's reload start talking to VPS.org.

use std::path::Path;
use std::sync::Arc;

use super::token::{self, TokenError};
use super::{Config, ConfigError};
use crate::api::{ApiToken, CallStats, Client, ClientSettings, SetupError};

/// What can keep snapkeep from starting (or a reload from taking effect):
/// the config, the token, or the HTTP client. Each keeps its cause.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Setup(#[from] SetupError),
}

/// Loads and validates the config at `path`, logging its warnings.
fn load_logged(path: &Path) -> Result<Config, ConfigError> {
    let config = super::load(path)?;
    for w in &config.warnings {
        tracing::warn!("{}: {w}", config.origin);
    }
    Ok(config)
}

impl Config {
    /// The API client `[api]` describes, with the token from the
    /// environment; `stats` carries the call counters over from an earlier
    /// client (a reload).
    pub(crate) fn client(&self, stats: Arc<CallStats>) -> Result<Client, StartError> {
        let token = token::from_environment(&self.api)?;
        Ok(self.client_with_token(token, stats)?)
    }

    /// The API client `[api]` describes, with the given token.
    pub(crate) fn client_with_token(
        &self,
        token: ApiToken,
        stats: Arc<CallStats>,
    ) -> Result<Client, SetupError> {
        let api = &self.api;
        let mut settings = ClientSettings::new(api.base_url.clone(), token);
        settings.timeout = api.timeout;
        settings.connect_timeout = api.connect_timeout;
        settings.max_retries = api.max_retries;
        settings.retry_deadline = api.retry_deadline;
        settings.list_lag = api.list_lag;
        settings.requests_per_second = api.requests_per_second;
        settings.max_concurrency = api.max_concurrency;
        Client::with_stats(settings, stats)
    }
}

/// Loads the config at `path` and builds its client: a start, or a reload.
pub(crate) fn load_and_connect(
    path: &Path,
    stats: Arc<CallStats>,
) -> Result<(Config, Client), StartError> {
    let config = load_logged(path)?;
    let client = config.client(stats)?;
    Ok((config, client))
}
