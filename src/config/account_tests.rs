//! `[[account]]` and `[api]`: the accounts a config has, the mixing rules,
//! every account problem with its exact text and place, and where each
//! account's token comes from.

use std::path::PathBuf;
use std::time::Duration;

use super::token::{TokenError, resolve_account, same_account};
use super::*;
use crate::api::{ApiToken, DEFAULT_BASE_URL};

/// Two accounts, `[api]` giving defaults, one policy in each on server 7.
const TWO: &str = r#"[api]
timeout = "45s"
max_concurrency = 2

[[account]]
name = "prod"
token_env = "PROD_TOKEN"
max_concurrency = 8

[[account]]
name = "staging"
base_url = "http://127.0.0.1:9/api/v1"
token_credential = "staging-token"

[[policy]]
name = "nightly"
account = "prod"
kind = "snapshot"
servers = [7]
schedule = "0 3 * * *"
keep_last = 5

[[policy]]
name = "hourly"
account = "staging"
kind = "snapshot"
servers = [7]
schedule = "0 * * * *"
keep_last = 5
"#;

const POLICY: &str = "[[policy]]\nname = \"nightly\"\nkind = \"snapshot\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 3\n";

/// The whole error text of `text`, or a panic when it is accepted.
fn error(text: &str) -> String {
    match parse_str(text, "t.toml") {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted:\n{text}"),
    }
}

#[test]
fn an_api_only_config_is_one_account_named_default_with_its_settings() {
    let c = parse_str(
        &format!("[api]\ntoken_file = \"/etc/t\"\nlist_lag = \"40s\"\n{POLICY}"),
        "t",
    )
    .unwrap();
    assert_eq!(c.accounts.len(), 1);
    let a = &c.accounts[0];
    assert_eq!(a.name, DEFAULT_ACCOUNT);
    assert_eq!(a.token, TokenSource::Default);
    assert_eq!(a.api.token_file, Some(PathBuf::from("/etc/t")));
    assert_eq!(a.api.list_lag, Duration::from_secs(40));
    assert_eq!(a.api.base_url, DEFAULT_BASE_URL);
    assert_eq!(c.policies[0].account, DEFAULT_ACCOUNT);
    assert!(!c.several_accounts());
    assert!(c.token_env_vars().is_empty());
    // Naming the one account is allowed too.
    let named = parse_str(&POLICY.replace("kind", "account = \"default\"\nkind"), "t").unwrap();
    assert_eq!(named.policies[0].account, DEFAULT_ACCOUNT);
}

#[test]
fn accounts_take_api_defaults_and_their_own_token_source() {
    let c = parse_str(TWO, "t").unwrap();
    let names: Vec<&str> = c.accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["prod", "staging"]);
    let (prod, staging) = (&c.accounts[0], &c.accounts[1]);
    assert_eq!(prod.token, TokenSource::Env("PROD_TOKEN".into()));
    assert_eq!(
        staging.token,
        TokenSource::Credential("staging-token".into())
    );
    assert_eq!(prod.api.base_url, DEFAULT_BASE_URL);
    assert_eq!(staging.api.base_url, "http://127.0.0.1:9/api/v1");
    assert_eq!(prod.api.max_concurrency, 8, "its own");
    assert_eq!(staging.api.max_concurrency, 2, "[api]'s");
    assert_eq!(prod.api.timeout, Duration::from_secs(45));
    assert_eq!(staging.api.requests_per_second, 5.0, "the built-in");
    assert_eq!(c.policies[0].account, "prod");
    assert_eq!(c.policies[1].account, "staging");
    assert_eq!(c.token_env_vars(), ["PROD_TOKEN"]);
    assert_eq!(c.servers_of("prod").into_iter().collect::<Vec<_>>(), [7]);
    // Server 7 in each account has its own cap: 5 + 5 is no problem.
    assert!(c.several_accounts());
}

#[test]
fn one_account_table_needs_no_account_in_policies() {
    let c = parse_str(
        &format!("[[account]]\nname = \"only\"\ntoken_file = \"/t\"\n{POLICY}"),
        "t",
    )
    .unwrap();
    assert_eq!(c.policies[0].account, "only");
}

#[test]
fn a_policy_without_account_among_several_is_asked_which() {
    let text = TWO.replace("account = \"prod\"\n", "");
    assert_eq!(
        error(&text),
        "t.toml:16:8: policy.nightly: which account? add account = \"prod\" or \"staging\""
    );
}

#[test]
fn an_unknown_account_gets_did_you_mean_or_the_list() {
    assert_eq!(
        error(&TWO.replace("account = \"prod\"", "account = \"prdo\"")),
        "t.toml:17:11: policy.nightly.account: \"prdo\" is not an account; did you mean \"prod\"?"
    );
    assert_eq!(
        error(&TWO.replace("account = \"prod\"", "account = \"qa\"")),
        "t.toml:17:11: policy.nightly.account: \"qa\" is not an account; the accounts are \"prod\" or \"staging\""
    );
    assert_eq!(
        error(&POLICY.replace("kind", "account = \"defualt\"\nkind")),
        "t.toml:3:11: policy.nightly.account: \"defualt\" is not an account; did you mean \"default\"?"
    );
}

#[test]
fn account_token_problems_say_where() {
    assert_eq!(
        error(&TWO.replace("token_env = \"PROD_TOKEN\"\n", "")),
        "t.toml:5:1: account.prod: has no token: set one of token_file, token_env or token_credential"
    );
    assert_eq!(
        error(&TWO.replace(
            "token_env = \"PROD_TOKEN\"",
            "token_env = \"PROD_TOKEN\"\ntoken_file = \"/t\""
        )),
        "t.toml:7:13: account.prod.token_env: one token source per account: token_file is set too"
    );
    assert_eq!(
        error(&TWO.replace("\"PROD_TOKEN\"", "\"1-TOKEN\"")),
        "t.toml:7:13: account.prod.token_env: \"1-TOKEN\" is not an environment variable's name (letters, digits and '_', not starting with a digit)"
    );
    assert_eq!(
        error(&TWO.replace("\"staging-token\"", "\"../token\"")),
        "t.toml:13:20: account.staging.token_credential: \"../token\" is not a credential's name (a file name in $CREDENTIALS_DIRECTORY, no '/')"
    );
    assert_eq!(
        error(&TWO.replace("timeout = \"45s\"", "token_file = \"/t\"")),
        "t.toml:2:14: api.token_file: with [[account]] tables each account names its own token (token_file, token_env or token_credential): move it into an [[account]]"
    );
    assert_eq!(
        error(&TWO.replace("token_env", "token_evn")),
        "t.toml:5:1: account.prod: has no token: set one of token_file, token_env or token_credential\nt.toml:7:1: account.prod.token_evn: unknown key `token_evn`; did you mean `token_env`?"
    );
}

#[test]
fn account_names_are_checked_and_an_account_is_listed_once() {
    assert_eq!(
        error(&TWO.replace("name = \"staging\"", "name = \"prod\"")),
        "t.toml:11:8: account.name: \"prod\" is used by an earlier account: names must be unique\nt.toml:25:11: policy.hourly.account: \"staging\" is not an account; the accounts are \"prod\""
    );
    assert_eq!(
        error(&TWO.replace("name = \"prod\"", "name = \"Prod\"")),
        "t.toml:6:8: account.name: \"Prod\" is not allowed: use lowercase letters, digits, '_' and '-' ([a-z0-9_-]+)\nt.toml:17:11: policy.nightly.account: \"prod\" is not an account; did you mean \"Prod\"?"
    );
    let twice = TWO
        .replace(
            "token_credential = \"staging-token\"",
            "token_env = \"PROD_TOKEN\"",
        )
        .replace("base_url = \"http://127.0.0.1:9/api/v1\"\n", "");
    assert_eq!(
        error(&twice),
        "t.toml:11:8: account.staging: has the same base_url and token source as account \"prod\": the same account listed twice (give each account its own token)"
    );
    assert_eq!(
        error(&TWO.replace("max_concurrency = 8", "max_concurrency = 0")),
        "t.toml:8:19: account.prod.max_concurrency: must be between 1 and 256"
    );
}

#[test]
fn caps_are_per_account_server() {
    // The same server id in one account: 5 + 5 snapshots is over the cap,
    // and the problem names the account.
    let one = TWO.replace("account = \"staging\"", "account = \"prod\"");
    let err = error(&one);
    assert!(
        err.starts_with("t.toml:23:1: policy.hourly: account prod, server 7: snapshot policies together keep up to 10 snapshots but VPS.org allows 5 per server"),
        "{err}"
    );
}

fn account(text: &str, name: &str) -> Account {
    let config = parse_str(text, "t").unwrap();
    config
        .accounts
        .into_iter()
        .find(|a| a.name == name)
        .unwrap()
}

#[test]
fn each_token_source_is_read_and_its_errors_name_the_account_never_the_token() {
    let dir = std::env::temp_dir().join(format!("snapkeep-account-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("staging-token"), "staging-secret\n").unwrap();
    let env = |name: &str| (name == "PROD_TOKEN").then(|| "prod-secret".to_owned());
    let no_env = |_: &str| None;
    let (prod, staging) = (account(TWO, "prod"), account(TWO, "staging"));

    let token = resolve_account(&prod, &env, None).unwrap();
    assert_eq!(token.expose(), "prod-secret");
    let err = resolve_account(&prod, &no_env, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "account prod: the environment variable PROD_TOKEN (token_env) is not set or empty"
    );
    let token = resolve_account(&staging, &no_env, Some(dir.clone())).unwrap();
    assert_eq!(token.expose(), "staging-secret");
    let err = resolve_account(&staging, &no_env, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "account staging: token_credential \"staging-token\" needs $CREDENTIALS_DIRECTORY (systemd's LoadCredential=staging-token:/path), which is not set"
    );
    let elsewhere = dir.join("nowhere");
    let err = resolve_account(&staging, &no_env, Some(elsewhere.clone())).unwrap_err();
    assert!(matches!(err, TokenError::AccountUnreadable { .. }), "{err}");
    assert!(
        err.to_string().starts_with(&format!(
            "account staging: cannot read its token from {} (token_credential): ",
            elsewhere.join("staging-token").display()
        )),
        "{err}"
    );
    let file = dir.join("empty");
    std::fs::write(&file, "\n").unwrap();
    let text = format!(
        "[[account]]\nname = \"f\"\ntoken_file = {:?}\n{POLICY}",
        file.display().to_string()
    );
    let err = resolve_account(&account(&text, "f"), &no_env, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "account f: its token file {} (token_file) is empty",
            file.display()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_accounts_with_one_base_url_and_one_token_are_refused() {
    let c = parse_str(
        &TWO.replace("base_url = \"http://127.0.0.1:9/api/v1\"\n", ""),
        "t",
    )
    .unwrap();
    let same = [ApiToken::new("x"), ApiToken::new("x")];
    let err = same_account(&c.accounts, &same).unwrap_err().to_string();
    assert_eq!(
        err,
        "accounts prod and staging have the same base_url and the same token: the same account listed twice"
    );
    assert!(!err.contains('x'.to_string().repeat(2).as_str()));
    let other = [ApiToken::new("x"), ApiToken::new("y")];
    assert!(same_account(&c.accounts, &other).is_ok());
    // Another base_url: two accounts of two providers may share a token.
    let c = parse_str(TWO, "t").unwrap();
    assert!(same_account(&c.accounts, &same).is_ok());
}
