//! The configuration contract: TOML → raw structs → validated [`Config`].
//!
//! Two steps, as in ripgrep: serde reads the file into raw structs that
//! reject unknown keys (typo protection) and remember where every value came
//! from; validation then turns them into typed values and reports *every*
//! problem at once, each as `file:line:col: key: what is wrong and what is
//! allowed`. Parsing is split from reading (`parse_str` vs `load`) so tests
//! never touch disk. Nothing here uses the network; the clock is read once,
//! by `parse_str`, for "every schedule fires within five years" (`parse_at`
//! takes the time injected).
//!
//! This file is the module's front: the validated types the rest of
//! snapkeep uses, `load`/`parse_str`/`parse_at`, and how problems are
//! rendered. The steps behind it each have a file: `raw` (the serde
//! structs), `repair` (unknown keys and "did you mean"), `validate`
//! (raw → typed, every problem with its place).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::api::ApiToken;
use crate::hooks::Hooks;
use crate::provider::Kind;
use crate::retention::KeepRules;
use crate::schedule::Schedule;

mod connect;
mod raw;
mod repair;
pub(crate) mod token;
mod validate;
pub(crate) use connect::{Clients, StartError, check_tokens, load_and_connect};
pub(crate) use token::TokenError;
use validate::Validator;

pub(crate) use crate::provider::DEFAULT_ACCOUNT;

/// Default config location (`--config`, env `SNAPKEEP_CONFIG`).
pub(crate) const DEFAULT_CONFIG_PATH: &str = "/etc/snapkeep/config.toml";

/// A schedule must fire within this many years (of `now`): one that does
/// not (`0 3 31 2 *`) would leave its policy silently never running.
pub(crate) const SCHEDULE_HORIZON_YEARS: i64 = 5;

/// What to do about a slot that passed while snapkeep was not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missed {
    /// Run once for the latest missed slot (never once per missed slot).
    RunOnce,
    Skip,
}

/// How snapkeep talks to one account: `[api]` as written, or an
/// `[[account]]` table's settings over `[api]`'s.
#[derive(Debug, Clone)]
pub(crate) struct ApiConfig {
    pub(crate) base_url: String,
    pub(crate) token_file: Option<PathBuf>,
    pub(crate) token: Option<ApiToken>,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_retries: u32,
    pub(crate) retry_deadline: Duration,
    pub(crate) list_lag: Duration,
    pub(crate) requests_per_second: f64,
    pub(crate) max_concurrency: usize,
}

/// One VPS.org account: a name, its API settings and where its token
/// comes from. Every job, slot, busy server, orphan, status row, audit
/// event and metric series belongs to one.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) name: String,
    pub(crate) api: ApiConfig,
    pub(crate) token: TokenSource,
}

/// Where an account's token comes from (never the token itself: it is read
/// when a client is built, `config::token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenSource {
    /// The `[api]`-only config's account, as always: `VPS_API_TOKEN`, then
    /// `api.token_file`, the credential `vps-api-token`, then `api.token`.
    Default,
    /// `token_file = "/path"`: the file's content.
    File(PathBuf),
    /// `token_env = "NAME"`: the environment variable, taken out of the
    /// environment (and wiped from its block) once read (`crate::secrets`).
    Env(String),
    /// `token_credential = "name"`: `$CREDENTIALS_DIRECTORY/name`
    /// (systemd's `LoadCredential=`).
    Credential(String),
}

impl TokenSource {
    /// Where a 401 from `account` tells the operator to look; `None` for
    /// the `[api]` order (the client's default says it).
    pub(crate) fn check(&self, account: &str) -> Option<String> {
        let source = match self {
            TokenSource::Default => return None,
            TokenSource::File(path) => format!("token_file {}", path.display()),
            TokenSource::Env(name) => format!("token_env {name}"),
            TokenSource::Credential(name) => format!("token_credential {name}"),
        };
        Some(format!("{source} of account {account}"))
    }

    /// The `token_env` variable this source reads, if any.
    pub(crate) fn env_var(&self) -> Option<&str> {
        match self {
            TokenSource::Env(name) => Some(name),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct DaemonConfig {
    pub(crate) shutdown_timeout: Duration,
}

/// `[metrics]`: off unless `listen` is set.
#[derive(Debug, Clone, Default)]
pub(crate) struct MetricsConfig {
    pub(crate) listen: Option<std::net::SocketAddr>,
}

/// `[notify]`: where to tell people how passes went.
#[derive(Debug, Clone, Default)]
pub(crate) struct NotifyConfig {
    /// POSTed a JSON body when a pass has failures (and on success with `on_success`).
    pub(crate) webhook_url: Option<String>,
    pub(crate) on_success: bool,
    /// healthchecks.io-style: `{ping_url}/start`, `{ping_url}`, `{ping_url}/fail`.
    pub(crate) ping_url: Option<String>,
    pub(crate) timeout: Duration,
    /// `[[notify.target]]`: messages people read, each for the events it
    /// names. (`webhook_url` is one more target, named `webhook`: see
    /// [`NotifyConfig::all_targets`].)
    pub(crate) targets: Vec<NotifyTarget>,
}

impl NotifyConfig {
    /// Every target: the `[notify] webhook_url` first (as a webhook target
    /// named `webhook` for `failed` and `fire_skipped`, and `succeeded`
    /// with `on_success`: what it always sent), then `[[notify.target]]`.
    pub(crate) fn all_targets(&self) -> Vec<NotifyTarget> {
        let legacy = self.webhook_url.as_ref().map(|url| {
            let mut events = BTreeSet::from([NotifyEvent::Failed, NotifyEvent::FireSkipped]);
            if self.on_success {
                events.insert(NotifyEvent::Succeeded);
            }
            NotifyTarget {
                name: "webhook".to_owned(),
                events,
                channel: Channel::Webhook { url: url.clone() },
            }
        });
        legacy
            .into_iter()
            .chain(self.targets.iter().cloned())
            .collect()
    }
}

/// What a notification target can be told of (`events = [...]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum NotifyEvent {
    /// A slot ended without its restore point (retries over, or `--run-now`).
    Failed,
    /// A (server, policy) succeeded after a `failed`.
    Recovered,
    /// Its newest completed item got older than `crit_after`.
    Stale,
    /// A job was refused: no room at the cap, nothing of its own may go.
    Refused,
    /// A scheduled fire did not run.
    FireSkipped,
    /// A job made (or found) its slot's restore point.
    Succeeded,
}

impl NotifyEvent {
    pub(crate) const ALL: [NotifyEvent; 6] = [
        NotifyEvent::Failed,
        NotifyEvent::Recovered,
        NotifyEvent::Stale,
        NotifyEvent::Refused,
        NotifyEvent::FireSkipped,
        NotifyEvent::Succeeded,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Failed => "failed",
            NotifyEvent::Recovered => "recovered",
            NotifyEvent::Stale => "stale",
            NotifyEvent::Refused => "refused",
            NotifyEvent::FireSkipped => "fire_skipped",
            NotifyEvent::Succeeded => "succeeded",
        }
    }
}

/// One `[[notify.target]]`, validated.
#[derive(Debug, Clone)]
pub(crate) struct NotifyTarget {
    /// `name`, or `{type}-{n}` (the n-th target): the log's and
    /// `snapkeep_notify_failures_total`'s `target`.
    pub(crate) name: String,
    pub(crate) events: BTreeSet<NotifyEvent>,
    pub(crate) channel: Channel,
}

/// Where a target's messages go, and in which form.
#[derive(Debug, Clone)]
pub(crate) enum Channel {
    /// The JSON bodies `[notify] webhook_url` gets.
    Webhook {
        url: String,
    },
    /// An incoming webhook: `{"text": ...}` (Slack, Mattermost, Discord's
    /// `/slack` endpoint).
    Slack {
        url: String,
    },
    /// An ntfy topic URL: the text as the body, `Title`, `Priority` and
    /// `Tags` headers.
    Ntfy {
        url: String,
    },
    Email(EmailTarget),
}

impl Channel {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Channel::Webhook { .. } => "webhook",
            Channel::Slack { .. } => "slack",
            Channel::Ntfy { .. } => "ntfy",
            Channel::Email(_) => "email",
        }
    }
}

/// `type = "email"`: one message per event over SMTP.
#[derive(Debug, Clone)]
pub(crate) struct EmailTarget {
    pub(crate) smtp_host: String,
    pub(crate) smtp_port: u16,
    pub(crate) tls: SmtpTls,
    /// As written (`"snapkeep <snapkeep@example.com>"`), checked to parse.
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    pub(crate) username: Option<String>,
    /// Read at each send (a rotated password is picked up), never logged.
    pub(crate) password_file: Option<PathBuf>,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SmtpTls {
    /// Plain connect, then STARTTLS, required (port 587).
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// No TLS at all: only to a loopback host (a local relay).
    None,
}

impl SmtpTls {
    pub(crate) fn default_port(self) -> u16 {
        match self {
            SmtpTls::StartTls => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::None => 25,
        }
    }
}

/// Whether `host` names this machine: `localhost`, 127.0.0.0/8 or ::1
/// (the only place `tls = "none"` may send a message and a password).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// One validated `[[policy]]`.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) name: String,
    /// The account its servers are in (`account = "..."`, or the only one).
    pub(crate) account: String,
    pub(crate) kind: Kind,
    pub(crate) servers: Vec<u64>,
    /// Evaluated in the policy's time zone (`schedule.timezone()`), which
    /// also sets the retention buckets.
    pub(crate) schedule: Schedule,
    pub(crate) prefix: String,
    pub(crate) poll_interval: Duration,
    pub(crate) wait_timeout: Duration,
    pub(crate) missed: Missed,
    pub(crate) jitter: Duration,
    /// How long after its slot a failed job is fired again for the same
    /// slot (never past the next fire); zero: never (`daemon::retry`).
    pub(crate) retry_window: Duration,
    /// The first wait before such a retry; it doubles, up to 15 minutes.
    pub(crate) retry_backoff: Duration,
    pub(crate) keep: KeepRules,
    pub(crate) description: Option<String>,
    /// How many completed items this policy may keep on one server: its
    /// rules' bound, or the provider's cap when the rules are unbounded.
    pub(crate) max_kept: usize,
    /// `pre_hook`/`post_hook` and their settings; `None` when neither is set.
    /// (Boxed: most policies have none, and every policy stays in memory.)
    pub(crate) hooks: Option<Box<Hooks>>,
    /// `enabled = false` pauses the policy: not fired, nothing pruned; its
    /// items still count toward the caps and are not orphans.
    pub(crate) enabled: bool,
    /// Item ids (of this policy's kind) that no rule may ever delete.
    pub(crate) protect: BTreeSet<u64>,
    /// `warn_after`/`crit_after` as written; `None` = the default multiple
    /// of the schedule's interval (see [`Policy::alert_thresholds`]).
    pub(crate) warn_after: Option<Duration>,
    pub(crate) crit_after: Option<Duration>,
}

/// When the newest completed item is old enough to warn about, and to be
/// critical about (`snapkeep status --check`, the STALE flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AlertThresholds {
    pub(crate) warn: Duration,
    pub(crate) crit: Duration,
}

/// Whether any of `policies` of `kind` lists `id` in its `protect`: then no
/// policy, rule or command deletes it. Protection is global on purpose: an
/// id one policy protects may be named by another (policy `b` protecting a
/// restore point of policy `a`), and "protected" must mean the same to
/// `status` and to `a`'s next pass. The free form is for the job, which has
/// the policies but not the [`Config`].
pub(crate) fn protected_by_any(policies: &[Policy], kind: Kind, id: u64) -> bool {
    policies
        .iter()
        .any(|p| p.kind == kind && p.protect.contains(&id))
}

impl Policy {
    /// Whether `id` is listed in this policy's own `protect` (what `check`
    /// prints). What may be deleted is [`Config::is_protected`]: any
    /// policy's `protect` counts.
    pub(crate) fn lists_protected(&self, id: u64) -> bool {
        self.protect.contains(&id)
    }

    /// Whether a `--run-now` pass runs this policy: an enabled one unless
    /// `--policy` names others, a paused one only when `--policy` names it.
    pub(crate) fn selected_for_run_now(&self, named: &[String]) -> bool {
        if named.is_empty() {
            self.enabled
        } else {
            named.contains(&self.name)
        }
    }

    /// The alert thresholds at `now`. Unset ones default to 1.5× (warn)
    /// and 2× (crit) the schedule's interval around `now`, so a weekday
    /// schedule judges a Monday by the weekend's gap; when only one is set,
    /// the other keeps its default but never crosses it (warn ≤ crit).
    /// `None` when neither is set and the schedule has no interval (it
    /// fires at most once more).
    pub(crate) fn alert_thresholds(&self, now: DateTime<Utc>) -> Option<AlertThresholds> {
        let interval = self.schedule.interval_at(now).and_then(|i| i.to_std().ok());
        let scaled =
            |num: u32, den: u32| interval.and_then(|i| i.checked_mul(num)).map(|i| i / den);
        let (warn, crit) = match (self.warn_after, self.crit_after) {
            (Some(w), Some(c)) => (w, c),
            (Some(w), None) => (w, scaled(2, 1).map_or(w, |c| c.max(w))),
            (None, Some(c)) => (scaled(3, 2).map_or(c, |w| w.min(c)), c),
            (None, None) => (scaled(3, 2)?, scaled(2, 1)?),
        };
        Some(AlertThresholds { warn, crit })
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Where it came from (a path, or a label in tests).
    pub(crate) origin: String,
    /// `[api]` as written: the one account's settings without
    /// `[[account]]` tables, the accounts' defaults with them.
    pub(crate) api: ApiConfig,
    /// Every account, in file order (one, named `default`, without
    /// `[[account]]` tables). Never empty.
    pub(crate) accounts: Vec<Account>,
    pub(crate) daemon: DaemonConfig,
    pub(crate) metrics: MetricsConfig,
    pub(crate) notify: NotifyConfig,
    pub(crate) policies: Vec<Policy>,
    /// `[defaults] orphan_grace`: an orphan group (prefix, policy, server)
    /// whose newest item is younger than this may be another config's or a
    /// renamed policy's, still rotating: it is listed as live, not deleted
    /// by `prune-orphans --yes` and not counted in `snapkeep_orphans`.
    pub(crate) orphan_grace: Duration,
    /// Things worth a log line that do not stop the config from loading.
    pub(crate) warnings: Vec<String>,
}

impl Config {
    /// Whether any policy of `kind` protects item `id` (see
    /// [`protected_by_any`]): never deleted by any policy, rule or command.
    pub(crate) fn is_protected(&self, id: u64, kind: Kind) -> bool {
        protected_by_any(&self.policies, kind, id)
    }

    /// Every server named by any policy, ascending.
    pub(crate) fn servers(&self) -> BTreeSet<u64> {
        self.policies
            .iter()
            .flat_map(|p| p.servers.iter().copied())
            .collect()
    }

    /// Every server named by a policy of `account`, ascending.
    pub(crate) fn servers_of(&self, account: &str) -> BTreeSet<u64> {
        self.policies
            .iter()
            .filter(|p| p.account == account)
            .flat_map(|p| p.servers.iter().copied())
            .collect()
    }

    /// This config as account `name` alone: its account and its policies
    /// (`status` judges each account's listing by its own policies).
    pub(crate) fn for_account(&self, name: &str) -> Config {
        Config {
            accounts: self
                .accounts
                .iter()
                .filter(|a| a.name == name)
                .cloned()
                .collect(),
            policies: self
                .policies
                .iter()
                .filter(|p| p.account == name)
                .cloned()
                .collect(),
            ..self.clone()
        }
    }

    /// Whether there is more than one account: then every summary, message
    /// and status text names the account.
    pub(crate) fn several_accounts(&self) -> bool {
        self.accounts.len() > 1
    }

    /// Every `token_env` variable the accounts name (taken out of the
    /// environment after load; withheld from hooks).
    pub(crate) fn token_env_vars(&self) -> Vec<String> {
        self.accounts
            .iter()
            .filter_map(|a| a.token.env_var().map(str::to_owned))
            .collect()
    }
}

/// One thing wrong with a config, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) key: String,
    pub(crate) message: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error(
        "cannot read config file {path}: {source} (pass another with --config or SNAPKEEP_CONFIG; `snapkeep --help` shows the default)"
    )]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{}", render_problems(origin, problems))]
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
}

fn render_problems(origin: &str, problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let key = if p.key.is_empty() {
            String::new()
        } else {
            format!("{}: ", p.key)
        };
        out.push_str(&format!(
            "{origin}:{}:{}: {key}{}",
            p.line, p.column, p.message
        ));
    }
    out
}

/// Reads and validates a config file (schedules judged from now).
pub(crate) fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_str(&text, &path.display().to_string())
}

/// Validates config text; `origin` names it in errors. Schedules must fire
/// within [`SCHEDULE_HORIZON_YEARS`] of now: the one reading of the clock
/// here ([`parse_at`] takes it).
pub(crate) fn parse_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
    parse_at(text, origin, Utc::now())
}

/// [`parse_str`] with the time schedules are judged from injected.
pub(crate) fn parse_at(
    text: &str,
    origin: &str,
    now: DateTime<Utc>,
) -> Result<Config, ConfigError> {
    let invalid = |problems: Vec<Problem>| ConfigError::Invalid {
        origin: origin.to_owned(),
        problems,
    };
    let root = toml::de::DeTable::parse(text)
        .map_err(|e| invalid(vec![repair::toml_problem(text, &e)]))?;
    // `[[notify]]` cannot live beside `[notify]` under one key: say where
    // targets go instead of serde's "invalid type: sequence".
    if let Some(v) = root.get_ref().get("notify") {
        if matches!(v.get_ref(), toml::de::DeValue::Array(_)) {
            let (line, column) = repair::position(text, v.span().start);
            return Err(invalid(vec![Problem {
                line,
                column,
                key: "notify".into(),
                message: "[[notify]] is not how targets are written: use [[notify.target]] (with type = \"webhook\", \"slack\", \"ntfy\" or \"email\"); [notify] keeps webhook_url, ping_url, on_success and timeout".into(),
            }]));
        }
    }
    // An unknown key (a typo) is reported with the closest allowed one and
    // taken out, so the rest of the file is still checked.
    let (raw, unknown) = repair::read_raw(root, text).map_err(invalid)?;
    let mut v = Validator::new(text, unknown, now);
    let config = v.config(raw, origin);
    v.finish().map_err(invalid)?;
    Ok(config)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod account_tests;
