//! From a config file to working API clients, one per account: load
//! (logging the config's warnings), take the accounts' `token_env`
//! variables out of the environment (`crate::secrets`), resolve each token
//! ([`super::token`]), apply each account's settings. The one way every
//! command and the daemon's reload start talking to VPS.org.

use std::path::Path;
use std::sync::Arc;

use super::token::{self, TokenError};
use super::{Account, Config, ConfigError};
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

/// One API client per account, in the config's order: each with its own
/// limiter and connection pool, so one account's outage or rate limit
/// never holds another's jobs.
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    clients: Vec<(String, Client)>,
    /// The API call counters all of them count into.
    stats: Arc<CallStats>,
}

impl Clients {
    /// `client` as the only account's.
    pub(crate) fn single(account: &str, client: Client) -> Clients {
        let stats = Arc::clone(client.stats());
        Clients {
            clients: vec![(account.to_owned(), client)],
            stats,
        }
    }

    /// Clients by account name, in this order (tests build them; a config
    /// builds its own with [`Config::clients`]). Counting into the first's
    /// counters.
    #[cfg(test)]
    pub(crate) fn new(clients: Vec<(String, Client)>) -> Clients {
        let stats = clients
            .first()
            .map_or_else(Arc::default, |(_, c)| Arc::clone(c.stats()));
        Clients { clients, stats }
    }

    /// The API call counters every client counts into.
    pub(crate) fn stats(&self) -> &Arc<CallStats> {
        &self.stats
    }

    /// The client of `account`.
    pub(crate) fn get(&self, account: &str) -> Option<&Client> {
        self.clients
            .iter()
            .find(|(n, _)| n == account)
            .map(|(_, c)| c)
    }

    /// Every (account, client), in the config's order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Client)> {
        self.clients.iter().map(|(n, c)| (n.as_str(), c))
    }

    /// The one client when there is one account (commands that work on
    /// one account: `restore`).
    pub(crate) fn only(&self) -> Option<&Client> {
        match self.clients.as_slice() {
            [(_, client)] => Some(client),
            _ => None,
        }
    }
}

/// A client alone is the `[api]`-only config's account, `default`.
impl From<Client> for Clients {
    fn from(client: Client) -> Clients {
        Clients::single(super::DEFAULT_ACCOUNT, client)
    }
}

/// Loads and validates the config at `path`, logging its warnings, and
/// takes its `token_env` variables out of the environment.
fn load_logged(path: &Path) -> Result<Config, ConfigError> {
    let config = super::load(path)?;
    for w in &config.warnings {
        tracing::warn!("{}: {w}", config.origin);
    }
    let wiped = crate::secrets::take_env_vars(&config.token_env_vars());
    if wiped > 0 {
        tracing::debug!(
            wiped,
            "token_env variables taken out of the environment block"
        );
    }
    Ok(config)
}

impl Config {
    /// One API client per account, each with its token from the
    /// environment; `stats` carries the call counters over from earlier
    /// clients (a reload) and is shared by all.
    pub(crate) fn clients(&self, stats: Arc<CallStats>) -> Result<Clients, StartError> {
        let tokens = token::all_from_environment(&self.accounts)?;
        let clients = self
            .accounts
            .iter()
            .zip(tokens)
            .map(|(a, t)| Ok((a.name.clone(), account_client(a, t, Arc::clone(&stats))?)))
            .collect::<Result<Vec<_>, SetupError>>()?;
        Ok(Clients { clients, stats })
    }

    /// The API client `[api]` describes, with the given token.
    pub(crate) fn client_with_token(
        &self,
        token: ApiToken,
        stats: Arc<CallStats>,
    ) -> Result<Client, SetupError> {
        let account = Account {
            name: super::DEFAULT_ACCOUNT.to_owned(),
            api: self.api.clone(),
            token: super::TokenSource::Default,
        };
        account_client(&account, token, stats)
    }
}

/// The client an account's settings describe.
pub(crate) fn account_client(
    account: &Account,
    token: ApiToken,
    stats: Arc<CallStats>,
) -> Result<Client, SetupError> {
    let api = &account.api;
    let mut settings = ClientSettings::new(api.base_url.clone(), token);
    settings.timeout = api.timeout;
    settings.connect_timeout = api.connect_timeout;
    settings.max_retries = api.max_retries;
    settings.retry_deadline = api.retry_deadline;
    settings.list_lag = api.list_lag;
    settings.requests_per_second = api.requests_per_second;
    settings.max_concurrency = api.max_concurrency;
    if let Some(check) = account.token.check(&account.name) {
        settings.token_check = check;
    }
    Client::with_stats(settings, stats)
}

/// Takes the config's `token_env` variables out of the environment and
/// reads every account's token (`check`: each source present and readable,
/// no account listed twice); the tokens are dropped unused.
pub(crate) fn check_tokens(config: &Config) -> Result<(), TokenError> {
    crate::secrets::take_env_vars(&config.token_env_vars());
    token::all_from_environment(&config.accounts).map(drop)
}

/// Loads the config at `path` and builds its clients: a start, or a reload.
pub(crate) fn load_and_connect(
    path: &Path,
    stats: Arc<CallStats>,
) -> Result<(Config, Clients), StartError> {
    let config = load_logged(path)?;
    let clients = config.clients(stats)?;
    Ok((config, clients))
}
