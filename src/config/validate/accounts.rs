//! `[api]` and `[[account]]`: which accounts a config has, how snapkeep
//! talks to each, where each token comes from, and which account a policy's
//! servers are in.
//!
//! The mixing rules (README, "Several accounts"): without `[[account]]`
//! tables, `[api]` is the one account, named `default`, exactly as before
//! accounts existed (its token from `VPS_API_TOKEN`, `api.token_file`, the
//! credential `vps-api-token` or `api.token`). With them, `[api]` only gives
//! defaults for the accounts' other keys; each account names exactly one
//! token source of its own, so a token is never shared by accident. A policy
//! names its account with `account = "..."`, which may be left out only when
//! there is one account.

use super::super::raw::{RawAccount, RawApi, RawConfig, RawPolicy};
use super::super::repair::closest;
use super::super::{Account, ApiConfig, DEFAULT_ACCOUNT, TokenSource};
use super::{MAX_RATE, MIN_RATE, Validator};
use crate::api::{ApiToken, DEFAULT_BASE_URL};
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// `[api]`'s defaults when the file sets none.
fn builtin_api() -> ApiConfig {
    ApiConfig {
        base_url: DEFAULT_BASE_URL.to_owned(),
        token_file: None,
        token: None,
        timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(10),
        max_retries: 5,
        retry_deadline: Duration::from_secs(300),
        list_lag: Duration::from_secs(30),
        requests_per_second: 5.0,
        max_concurrency: 4,
    }
}

/// Whether `name` may name an environment variable: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_env_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| !c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `"a" or "b"`, `"a", "b" or "c"`: a list of names for a message.
fn quoted_or(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

impl Validator<'_> {
    /// `[api]` as written (its token keys included).
    pub(super) fn api(&mut self, raw: &RawApi, warnings: &mut Vec<String>) -> ApiConfig {
        let token = raw.token.as_ref().map(|t| {
            warnings.push(
                "api.token puts the API token in the config file; prefer api.token_file (mode 0600) or the VPS_API_TOKEN environment variable"
                    .to_owned(),
            );
            ApiToken::new(t.get_ref().clone())
        });
        ApiConfig {
            token_file: raw.token_file.as_ref().map(|f| PathBuf::from(f.get_ref())),
            token,
            ..self.settings(raw, "api", &builtin_api())
        }
    }

    /// The non-token keys of `[api]` or of an account (`section`), each
    /// defaulting to `base`'s.
    fn settings(&mut self, raw: &RawApi, section: &str, base: &ApiConfig) -> ApiConfig {
        let key = |k: &str| format!("{section}.{k}");
        let base_url = match &raw.base_url {
            Some(v) => match crate::api::validate_base_url(v.get_ref()) {
                Ok(_) => v.get_ref().clone(),
                Err(e) => {
                    self.problem(v.span(), &key("base_url"), e.to_string());
                    base.base_url.clone()
                }
            },
            None => base.base_url.clone(),
        };
        let max_retries = match &raw.max_retries {
            Some(v) if !(0..=100).contains(v.get_ref()) => {
                self.problem(v.span(), &key("max_retries"), "must be between 0 and 100");
                base.max_retries
            }
            Some(v) => *v.get_ref() as u32,
            None => base.max_retries,
        };
        let requests_per_second = match &raw.requests_per_second {
            Some(v)
                if !(*v.get_ref() == 0.0
                    || (v.get_ref().is_finite()
                        && (MIN_RATE..=MAX_RATE).contains(v.get_ref()))) =>
            {
                self.problem(
                    v.span(),
                    &key("requests_per_second"),
                    format!(
                        "must be 0 (no client-side rate limit) or between {MIN_RATE} and {MAX_RATE}; got {}",
                        v.get_ref()
                    ),
                );
                base.requests_per_second
            }
            Some(v) => *v.get_ref(),
            None => base.requests_per_second,
        };
        let max_concurrency = match &raw.max_concurrency {
            Some(v) if !(1..=256).contains(v.get_ref()) => {
                self.problem(
                    v.span(),
                    &key("max_concurrency"),
                    "must be between 1 and 256",
                );
                base.max_concurrency
            }
            Some(v) => *v.get_ref() as usize,
            None => base.max_concurrency,
        };
        ApiConfig {
            base_url,
            token_file: None,
            token: None,
            timeout: self.positive_duration(&raw.timeout, &key("timeout"), base.timeout),
            connect_timeout: self.positive_duration(
                &raw.connect_timeout,
                &key("connect_timeout"),
                base.connect_timeout,
            ),
            max_retries,
            retry_deadline: self.positive_duration(
                &raw.retry_deadline,
                &key("retry_deadline"),
                base.retry_deadline,
            ),
            list_lag: self.positive_duration(&raw.list_lag, &key("list_lag"), base.list_lag),
            requests_per_second,
            max_concurrency,
        }
    }

    /// Every account: the `[[account]]` tables over `[api]`, or `[api]`
    /// alone as the account `default`.
    pub(super) fn accounts(&mut self, raw: &RawConfig, api: &ApiConfig) -> Vec<Account> {
        if raw.account.is_empty() {
            return vec![Account {
                name: DEFAULT_ACCOUNT.to_owned(),
                api: api.clone(),
                token: TokenSource::Default,
            }];
        }
        for (value, key) in [
            (&raw.api.token_file, "api.token_file"),
            (&raw.api.token, "api.token"),
        ] {
            if let Some(v) = value {
                self.problem(
                    v.span(),
                    key,
                    "with [[account]] tables each account names its own token (token_file, token_env or token_credential): move it into an [[account]]",
                );
            }
        }
        let mut out: Vec<Account> = Vec::new();
        for a in &raw.account {
            if let Some(account) = self.account(a, api, &out) {
                out.push(account);
            }
        }
        out
    }

    /// One `[[account]]` (`earlier`: the valid ones before it).
    fn account(
        &mut self,
        raw: &Spanned<RawAccount>,
        api: &ApiConfig,
        earlier: &[Account],
    ) -> Option<Account> {
        let before = self.problems.len();
        let span = raw.span();
        let a = raw.get_ref();
        let name = self.account_name(&a.name, earlier);
        let section = format!("account.{name}");
        let token = self.token_source(a, &section, span);
        let settings = RawApi {
            base_url: a.base_url.clone(),
            token_file: None,
            token: None,
            timeout: a.timeout.clone(),
            connect_timeout: a.connect_timeout.clone(),
            max_retries: a.max_retries.clone(),
            retry_deadline: a.retry_deadline.clone(),
            list_lag: a.list_lag.clone(),
            requests_per_second: a.requests_per_second.clone(),
            max_concurrency: a.max_concurrency.clone(),
        };
        let api = self.settings(&settings, &section, api);
        let token = token?;
        if let Some(twin) = earlier
            .iter()
            .find(|e| e.api.base_url == api.base_url && e.token == token)
        {
            self.problem(
                a.name.span(),
                &section,
                format!(
                    "has the same base_url and token source as account {:?}: the same account listed twice (give each account its own token)",
                    twin.name
                ),
            );
        }
        if self.problems.len() != before {
            return None;
        }
        Some(Account { name, api, token })
    }

    /// An account's `name`: `[a-z0-9_-]+`, unique.
    fn account_name(&mut self, name: &Spanned<String>, earlier: &[Account]) -> String {
        let text = name.get_ref().clone();
        if text.is_empty()
            || !text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            self.problem(
                name.span(),
                "account.name",
                format!("{text:?} is not allowed: use lowercase letters, digits, '_' and '-' ([a-z0-9_-]+)"),
            );
        } else if earlier.iter().any(|a| a.name == text) {
            self.problem(
                name.span(),
                "account.name",
                format!("{text:?} is used by an earlier account: names must be unique"),
            );
        }
        text
    }

    /// Exactly one of `token_file`, `token_env`, `token_credential`.
    fn token_source(
        &mut self,
        a: &RawAccount,
        section: &str,
        span: std::ops::Range<usize>,
    ) -> Option<TokenSource> {
        let set: Vec<(&str, &Spanned<String>)> = [
            ("token_file", &a.token_file),
            ("token_env", &a.token_env),
            ("token_credential", &a.token_credential),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        let (key, value) = match set.as_slice() {
            [] => {
                self.problem(
                    span,
                    section,
                    "has no token: set one of token_file, token_env or token_credential",
                );
                return None;
            }
            [one] => *one,
            [first, second, ..] => {
                self.problem(
                    second.1.span(),
                    &format!("{section}.{}", second.0),
                    format!("one token source per account: {} is set too", first.0),
                );
                return None;
            }
        };
        let text = value.get_ref().trim();
        let source = match key {
            "token_file" if !text.is_empty() => Some(TokenSource::File(PathBuf::from(text))),
            "token_env" if is_env_name(text) => Some(TokenSource::Env(text.to_owned())),
            "token_credential"
                if !text.is_empty() && !text.contains('/') && text != "." && text != ".." =>
            {
                Some(TokenSource::Credential(text.to_owned()))
            }
            _ => None,
        };
        if source.is_none() {
            let what = match key {
                "token_file" => "is empty: name the file that holds the token (mode 0600)",
                "token_env" => {
                    "is not an environment variable's name (letters, digits and '_', not starting with a digit)"
                }
                _ => "is not a credential's name (a file name in $CREDENTIALS_DIRECTORY, no '/')",
            };
            self.problem(
                value.span(),
                &format!("{section}.{key}"),
                format!("{:?} {what}", value.get_ref()),
            );
        }
        source
    }

    /// The account a policy's servers are in: its `account`, which must
    /// name one of `accounts`, or the only account there is.
    pub(super) fn policy_account(
        &mut self,
        p: &RawPolicy,
        name: &str,
        accounts: &[String],
    ) -> String {
        match (&p.account, accounts) {
            (Some(v), _) if accounts.contains(v.get_ref()) => v.get_ref().clone(),
            (Some(v), _) => {
                let names: Vec<&str> = accounts.iter().map(String::as_str).collect();
                let hint = match closest(v.get_ref(), &names) {
                    Some(n) => format!("did you mean {n:?}?"),
                    None => format!("the accounts are {}", quoted_or(accounts)),
                };
                self.problem(
                    v.span(),
                    &format!("policy.{name}.account"),
                    format!("{:?} is not an account; {hint}", v.get_ref()),
                );
                v.get_ref().clone()
            }
            (None, [only]) => only.clone(),
            (None, _) => {
                self.problem(
                    p.name.span(),
                    &format!("policy.{name}"),
                    format!("which account? add account = {}", quoted_or(accounts)),
                );
                String::new()
            }
        }
    }
}

/// The account names policies may use: every `[[account]]`'s as written
/// (also an invalid one's, so that its policies are not reported too), or
/// `default`.
pub(super) fn account_names(raw: &RawConfig) -> Vec<String> {
    if raw.account.is_empty() {
        return vec![DEFAULT_ACCOUNT.to_owned()];
    }
    let mut names: Vec<String> = Vec::new();
    for a in &raw.account {
        let name = a.get_ref().name.get_ref();
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}
