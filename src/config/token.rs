//! Where the API token comes from, in a fixed, documented order.
//!
//! First match wins: the `VPS_API_TOKEN` environment variable (easy for
//! containers and one-off runs), `api.token_file`, the systemd credential
//! `$CREDENTIALS_DIRECTORY/vps-api-token` (`LoadCredential=`), and last
//! `api.token` in the config (works, with a warning at load time).
//!
//! That order is the `[api]`-only config's account (`default`). An
//! `[[account]]` names exactly one source, read here: `token_file`,
//! `token_env` (the variable as `crate::secrets` took it) or
//! `token_credential` (`$CREDENTIALS_DIRECTORY/<name>`). Errors name the
//! account and the source, never the token.

use std::path::{Path, PathBuf};

use super::{Account, ApiConfig, TokenSource};
use crate::api::ApiToken;

/// Name of the systemd credential snapkeep looks for.
pub(crate) const CREDENTIAL_NAME: &str = "vps-api-token";

#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenError {
    #[error("cannot read the API token from {path} (api.token_file): {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("the API token file {0} is empty")]
    Empty(String),
    #[error(
        "no API token: set the VPS_API_TOKEN environment variable, or api.token_file in the config, or pass a systemd credential named vps-api-token"
    )]
    Missing,
    #[error("account {account}: cannot read its token from {path} ({key}): {source}")]
    AccountUnreadable {
        account: String,
        key: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("account {account}: its token file {path} ({key}) is empty")]
    AccountEmpty {
        account: String,
        key: &'static str,
        path: String,
    },
    #[error("account {account}: the environment variable {var} (token_env) is not set or empty")]
    EnvUnset { account: String, var: String },
    #[error(
        "account {account}: token_credential {name:?} needs $CREDENTIALS_DIRECTORY (systemd's LoadCredential={name}:/path), which is not set"
    )]
    NoCredentialsDirectory { account: String, name: String },
    #[error(
        "accounts {first} and {second} have the same base_url and the same token: the same account listed twice"
    )]
    SameAccount { first: String, second: String },
}

/// Resolves the token from the given sources (passed in, so tests need no
/// environment).
pub(crate) fn resolve(
    api: &ApiConfig,
    env_token: Option<String>,
    credentials_dir: Option<PathBuf>,
) -> Result<ApiToken, TokenError> {
    if let Some(t) = env_token.map(ApiToken::new).filter(|t| !t.is_empty()) {
        return Ok(t);
    }
    if let Some(path) = &api.token_file {
        return read(path);
    }
    if let Some(dir) = credentials_dir {
        let path = dir.join(CREDENTIAL_NAME);
        if path.exists() {
            return read(&path);
        }
    }
    api.token
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::Missing)
}

/// Resolves an account's token from its source; `env` reads a variable
/// (passed in, so tests need no environment).
pub(crate) fn resolve_account(
    account: &Account,
    env: &dyn Fn(&str) -> Option<String>,
    credentials_dir: Option<PathBuf>,
) -> Result<ApiToken, TokenError> {
    let named = |key: &'static str, path: &Path| {
        read(path).map_err(|e| match e {
            TokenError::Unreadable { path, source } => TokenError::AccountUnreadable {
                account: account.name.clone(),
                key,
                path,
                source,
            },
            _ => TokenError::AccountEmpty {
                account: account.name.clone(),
                key,
                path: path.display().to_string(),
            },
        })
    };
    match &account.token {
        TokenSource::Default => resolve(
            &account.api,
            env(crate::secrets::TOKEN_VAR),
            credentials_dir,
        ),
        TokenSource::File(path) => named("token_file", path),
        TokenSource::Env(var) => env(var)
            .map(ApiToken::new)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| TokenError::EnvUnset {
                account: account.name.clone(),
                var: var.clone(),
            }),
        TokenSource::Credential(name) => match credentials_dir {
            Some(dir) => named("token_credential", &dir.join(name)),
            None => Err(TokenError::NoCredentialsDirectory {
                account: account.name.clone(),
                name: name.clone(),
            }),
        },
    }
}

/// Every account's token from this process's environment, in the config's
/// order; an error when two accounts with the same base_url have the same
/// token (the same account listed twice: its cap and its limiter would be
/// counted twice).
pub(crate) fn all_from_environment(accounts: &[Account]) -> Result<Vec<ApiToken>, TokenError> {
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    let tokens = accounts
        .iter()
        .map(|a| resolve_account(a, &crate::secrets::env_var, dir.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    same_account(accounts, &tokens)?;
    Ok(tokens)
}

/// The first two accounts with the same base_url and the same token.
pub(crate) fn same_account(accounts: &[Account], tokens: &[ApiToken]) -> Result<(), TokenError> {
    for (i, (a, ta)) in accounts.iter().zip(tokens).enumerate() {
        for (b, tb) in accounts.iter().zip(tokens).skip(i + 1) {
            if a.api.base_url == b.api.base_url && ta.expose() == tb.expose() {
                return Err(TokenError::SameAccount {
                    first: a.name.clone(),
                    second: b.name.clone(),
                });
            }
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<ApiToken, TokenError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenError::Unreadable {
        path: path.display().to_string(),
        source,
    })?;
    let token = ApiToken::new(text);
    if token.is_empty() {
        return Err(TokenError::Empty(path.display().to_string()));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(token_file: Option<&Path>, token: Option<&str>) -> ApiConfig {
        let text = format!(
            "[api]\n{}{}[[policy]]\nname=\"a\"\nkind=\"snapshot\"\nservers=[1]\nschedule=\"@daily\"\nkeep_last=1\n",
            token_file
                .map(|p| format!("token_file = {:?}\n", p.display().to_string()))
                .unwrap_or_default(),
            token
                .map(|t| format!("token = {t:?}\n"))
                .unwrap_or_default(),
        );
        crate::config::parse_str(&text, "t").unwrap().api
    }

    #[test]
    fn order_env_then_file_then_credential_then_config() {
        let dir = std::env::temp_dir().join(format!("snapkeep-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        std::fs::write(dir.join(CREDENTIAL_NAME), "from-cred").unwrap();

        let a = api(Some(&file), Some("from-config"));
        assert_eq!(
            resolve(&a, Some("from-env".into()), None).unwrap().expose(),
            "from-env"
        );
        assert_eq!(
            resolve(&a, None, Some(dir.clone())).unwrap().expose(),
            "from-file"
        );
        let b = api(None, Some("from-config"));
        assert_eq!(
            resolve(&b, None, Some(dir.clone())).unwrap().expose(),
            "from-cred"
        );
        assert_eq!(
            resolve(&b, Some("  ".into()), None).unwrap().expose(),
            "from-config"
        );
        assert!(matches!(
            resolve(&api(None, None), None, None),
            Err(TokenError::Missing)
        ));
        let missing = api(Some(&dir.join("nope")), None);
        let err = resolve(&missing, None, None).unwrap_err().to_string();
        assert!(err.contains("api.token_file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
