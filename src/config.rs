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

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

use crate::api::{ApiToken, DEFAULT_BASE_URL};
use crate::hooks::{Hooks, OnHookFailure, PostHookAfter};
use crate::provider::Kind;

mod connect;
pub(crate) mod token;
use crate::retention::{KeepRules, Span};
use crate::schedule::Schedule;
pub(crate) use connect::{StartError, load_and_connect};
pub(crate) use token::TokenError;

/// The account a config's token reaches. There is one today; the name is
/// in `status` and `snapkeep_stored_bytes{account}` already, so that a
/// config with several accounts adds names, not a label.
pub(crate) const DEFAULT_ACCOUNT: &str = "default";

/// Default config location (`--config`, env `SNAPKEEP_CONFIG`).
pub(crate) const DEFAULT_CONFIG_PATH: &str = "/etc/snapkeep/config.toml";

/// Longest duration any key accepts: beyond it a value is a typo, and
/// clocks and timers overflow on absurd ones.
const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);
/// A schedule must fire within this many years (of `now`): one that does
/// not (`0 3 31 2 *`) would leave its policy silently never running.
pub(crate) const SCHEDULE_HORIZON_YEARS: i64 = 5;
/// `[defaults] orphan_grace` unless set: a week without a new item in an
/// orphan group means no config is rotating it any more.
const DEFAULT_ORPHAN_GRACE: Duration = Duration::from_secs(7 * 86_400);
/// Longest `jitter`.
const MAX_JITTER: Duration = Duration::from_secs(86_400);
/// `api.requests_per_second` range (besides 0 = unlimited).
const MIN_RATE: f64 = 0.01;
const MAX_RATE: f64 = 10_000.0;

/// What to do about a slot that passed while snapkeep was not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missed {
    /// Run once for the latest missed slot (never once per missed slot).
    RunOnce,
    Skip,
}

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
    pub(crate) hooks: Option<Hooks>,
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
    pub(crate) api: ApiConfig,
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
    let problem = |e: &toml::de::Error| {
        let (line, column) = e.span().map_or((1, 1), |s| position(text, s.start));
        Problem {
            line,
            column,
            key: String::new(),
            message: e.message().trim().to_owned(),
        }
    };
    let invalid = |problems: Vec<Problem>| ConfigError::Invalid {
        origin: origin.to_owned(),
        problems,
    };
    let mut root = toml::de::DeTable::parse(text).map_err(|e| invalid(vec![problem(&e)]))?;
    // `[[notify]]` cannot live beside `[notify]` under one key: say where
    // targets go instead of serde's "invalid type: sequence".
    if let Some(v) = root.get_ref().get("notify") {
        if matches!(v.get_ref(), toml::de::DeValue::Array(_)) {
            let (line, column) = position(text, v.span().start);
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
    let mut unknown = Vec::new();
    let raw: RawConfig = loop {
        match RawConfig::deserialize(toml::de::Deserializer::from(root.clone())) {
            Ok(raw) => break raw,
            Err(e) => {
                let removed = match (unknown_key(&e), e.span()) {
                    (Some(hint), Some(span)) if unknown.len() < 100 => {
                        remove_key(root.get_mut(), &span, "").map(|path| (hint, span, path))
                    }
                    _ => None,
                };
                let Some((hint, span, path)) = removed else {
                    unknown.push(problem(&e));
                    return Err(invalid(unknown));
                };
                let (line, column) = position(text, span.start);
                unknown.push(Problem {
                    line,
                    column,
                    key: path,
                    message: hint.message,
                });
            }
        }
    };
    let mut v = Validator {
        text,
        problems: unknown,
        now,
    };
    let config = v.config(raw, origin);
    if v.problems.is_empty() {
        Ok(config)
    } else {
        v.problems.sort_by_key(|p| (p.line, p.column));
        Err(ConfigError::Invalid {
            origin: origin.to_owned(),
            problems: v.problems,
        })
    }
}

/// What to say about an unknown key.
struct UnknownKey {
    message: String,
}

/// Reads serde's "unknown field `x`, expected one of `a`, `b`" and suggests
/// the closest allowed key.
fn unknown_key(e: &toml::de::Error) -> Option<UnknownKey> {
    let message = e.message();
    let rest = message.strip_prefix("unknown field ")?;
    let mut quoted = rest.split('`').skip(1).step_by(2);
    let key = quoted.next()?.to_owned();
    let allowed: Vec<&str> = quoted.collect();
    let closest = allowed
        .iter()
        .map(|a| (edit_distance(&key, a), *a))
        .min()
        .filter(|(d, a)| *d <= (a.len() / 3).max(2));
    let message = match closest {
        Some((_, a)) => format!("unknown key `{key}`; did you mean `{a}`?"),
        None => format!("unknown key `{key}`; allowed here: {}", allowed.join(", ")),
    };
    Some(UnknownKey { message })
}

/// Levenshtein distance (keys are short).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Removes the key whose name sits at `span`, wherever it is nested;
/// returns its dotted path (`api.requests_per_secnd`,
/// `policy.nightly.keep_lst`).
fn remove_key(
    table: &mut toml::de::DeTable<'_>,
    span: &std::ops::Range<usize>,
    path: &str,
) -> Option<String> {
    let join = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    let found = table.keys().find(|k| k.span() == *span).cloned();
    if let Some(key) = found {
        table.remove(&key);
        return Some(join(key.get_ref()));
    }
    table.iter_mut().find_map(|(k, v)| {
        let here = join(k.get_ref());
        match v.get_mut() {
            toml::de::DeValue::Table(t) => remove_key(t, span, &here),
            toml::de::DeValue::Array(items) => items.iter_mut().find_map(|item| {
                let toml::de::DeValue::Table(t) = item.get_mut() else {
                    return None;
                };
                let named = match t.get("name").map(|n| n.get_ref()) {
                    Some(toml::de::DeValue::String(name)) => format!("{here}.{name}"),
                    _ => here.clone(),
                };
                remove_key(t, span, &named)
            }),
            _ => None,
        }
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

// ---- raw, as written ----

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    api: RawApi,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    notify: RawNotify,
    #[serde(default)]
    policy: Vec<Spanned<RawPolicy>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    webhook_url: Option<Spanned<String>>,
    on_success: Option<Spanned<bool>>,
    ping_url: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    target: Vec<Spanned<RawTarget>>,
}

/// One `[[notify.target]]` as written: every key optional here, so that
/// validation can say which one a type needs or does not take.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: Option<Spanned<String>>,
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
    events: Option<Spanned<Vec<Spanned<String>>>>,
    url: Option<Spanned<String>>,
    smtp_host: Option<Spanned<String>>,
    smtp_port: Option<Spanned<i64>>,
    tls: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<Vec<Spanned<String>>>>,
    username: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    base_url: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
    token: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<String>>,
    max_retries: Option<Spanned<i64>>,
    retry_deadline: Option<Spanned<String>>,
    list_lag: Option<Spanned<String>>,
    requests_per_second: Option<Spanned<f64>>,
    max_concurrency: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    shutdown_timeout: Option<Spanned<String>>,
}

/// Keys that may sit in `[defaults]` or in a policy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    timezone: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    poll_interval: Option<Spanned<String>>,
    wait_timeout: Option<Spanned<String>>,
    missed: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    retry_window: Option<Spanned<String>>,
    retry_backoff: Option<Spanned<String>>,
    pre_hook: Option<Spanned<Vec<Spanned<String>>>>,
    post_hook: Option<Spanned<Vec<Spanned<String>>>>,
    hook_timeout: Option<Spanned<String>>,
    max_freeze: Option<Spanned<String>>,
    on_hook_failure: Option<Spanned<String>>,
    post_hook_after: Option<Spanned<String>>,
    /// Only in `[defaults]` (orphans have no policy).
    orphan_grace: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: Spanned<String>,
    kind: Spanned<String>,
    servers: Spanned<Vec<Spanned<i64>>>,
    schedule: Spanned<String>,
    description: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    poll_interval: Option<Spanned<String>>,
    wait_timeout: Option<Spanned<String>>,
    missed: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    retry_window: Option<Spanned<String>>,
    retry_backoff: Option<Spanned<String>>,
    keep_last: Option<Spanned<i64>>,
    keep_hourly: Option<Spanned<i64>>,
    keep_daily: Option<Spanned<i64>>,
    keep_weekly: Option<Spanned<i64>>,
    keep_monthly: Option<Spanned<i64>>,
    keep_yearly: Option<Spanned<i64>>,
    keep_within: Option<Spanned<String>>,
    keep_within_hourly: Option<Spanned<String>>,
    keep_within_daily: Option<Spanned<String>>,
    keep_within_weekly: Option<Spanned<String>>,
    keep_within_monthly: Option<Spanned<String>>,
    keep_within_yearly: Option<Spanned<String>>,
    pre_hook: Option<Spanned<Vec<Spanned<String>>>>,
    post_hook: Option<Spanned<Vec<Spanned<String>>>>,
    hook_timeout: Option<Spanned<String>>,
    max_freeze: Option<Spanned<String>>,
    on_hook_failure: Option<Spanned<String>>,
    post_hook_after: Option<Spanned<String>>,
    enabled: Option<Spanned<bool>>,
    protect: Option<Spanned<Vec<Spanned<i64>>>>,
    warn_after: Option<Spanned<String>>,
    crit_after: Option<Spanned<String>>,
}

// ---- validation ----

struct Validator<'a> {
    text: &'a str,
    problems: Vec<Problem>,
    /// What "the next five years" of a schedule start from.
    now: DateTime<Utc>,
}

/// Defaults after `[defaults]` is applied; a policy may override each.
struct Inherited {
    timezone: Tz,
    prefix: String,
    poll_interval: Duration,
    wait_timeout: Duration,
    missed: Missed,
    jitter: Duration,
    retry_window: Duration,
    retry_backoff: Duration,
    pre_hook: Option<Vec<String>>,
    post_hook: Option<Vec<String>>,
    hook_timeout: Duration,
    max_freeze: Duration,
    on_hook_failure: OnHookFailure,
    post_hook_after: PostHookAfter,
}

/// Longest `hook_timeout`: a hook that holds a filesystem frozen for more
/// than an hour is a mistake, not a plan.
const MAX_HOOK_TIMEOUT: Duration = Duration::from_secs(3600);

impl Validator<'_> {
    fn problem(&mut self, span: std::ops::Range<usize>, key: &str, message: impl Into<String>) {
        let (line, column) = position(self.text, span.start);
        self.problems.push(Problem {
            line,
            column,
            key: key.to_owned(),
            message: message.into(),
        });
    }

    /// Whether `schedule` fires within [`SCHEDULE_HORIZON_YEARS`] of `now`.
    fn fires_soon(&self, schedule: &Schedule) -> bool {
        let horizon = self.now + chrono::TimeDelta::days(366 * SCHEDULE_HORIZON_YEARS);
        schedule
            .next_after(self.now)
            .is_some_and(|next| next <= horizon)
    }

    fn duration(
        &mut self,
        value: &Option<Spanned<String>>,
        key: &str,
        default: Duration,
    ) -> Duration {
        let Some(v) = value else { return default };
        match humantime::parse_duration(v.get_ref().trim()) {
            Ok(d) if d > MAX_DURATION => {
                self.problem(
                    v.span(),
                    key,
                    format!(
                        "{:?} is longer than a year; no wait, timeout or jitter of snapkeep needs that (write e.g. \"30m\", \"2h\", \"7d\")",
                        v.get_ref()
                    ),
                );
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.problem(
                    v.span(),
                    key,
                    format!(
                        "{:?} is not a duration ({e}); write a number and a unit, e.g. \"30s\", \"15m\", \"2h\"",
                        v.get_ref()
                    ),
                );
                default
            }
        }
    }

    /// A jitter spreads fires over a window after the slot: at most a day.
    fn jitter(
        &mut self,
        value: &Option<Spanned<String>>,
        key: &str,
        default: Duration,
    ) -> Duration {
        let d = self.duration(value, key, default);
        self.at_most(
            value,
            key,
            d,
            default,
            MAX_JITTER,
            "is longer than a day; a jitter only spreads fires over a few minutes (e.g. \"5m\")",
        )
    }

    /// `d` when it is at most `max`; else a problem (`why`) and `default`.
    fn at_most(
        &mut self,
        value: &Option<Spanned<String>>,
        key: &str,
        d: Duration,
        default: Duration,
        max: Duration,
        why: &str,
    ) -> Duration {
        if d <= max {
            return d;
        }
        if let Some(v) = value {
            self.problem(v.span(), key, format!("{:?} {why}", v.get_ref()));
        }
        default
    }

    fn positive_duration(
        &mut self,
        value: &Option<Spanned<String>>,
        key: &str,
        default: Duration,
    ) -> Duration {
        let d = self.duration(value, key, default);
        if d.is_zero() {
            if let Some(v) = value {
                self.problem(v.span(), key, "must be longer than zero");
            }
            return default;
        }
        d
    }

    fn http_url(&mut self, value: &Option<Spanned<String>>, key: &str) -> Option<String> {
        let v = value.as_ref()?;
        let url = v.get_ref().trim();
        if url.starts_with("https://") || url.starts_with("http://") {
            Some(url.to_owned())
        } else {
            self.problem(v.span(), key, format!("{url:?} is not an http(s) URL"));
            None
        }
    }

    fn timezone(&mut self, value: &Option<Spanned<String>>, key: &str, default: Tz) -> Tz {
        let Some(v) = value else { return default };
        match Tz::from_str(v.get_ref().trim()) {
            Ok(tz) => tz,
            Err(_) => {
                self.problem(
                    v.span(),
                    key,
                    format!(
                        "{:?} is not an IANA time zone; use a name such as \"UTC\", \"Europe/Berlin\" or \"America/New_York\"",
                        v.get_ref()
                    ),
                );
                default
            }
        }
    }

    fn prefix(&mut self, value: &Option<Spanned<String>>, key: &str, default: &str) -> String {
        let Some(v) = value else {
            return default.to_owned();
        };
        let p = v.get_ref();
        if p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.problem(
                v.span(),
                key,
                format!(
                    "{p:?} is not allowed: use letters, digits and underscores (it starts every snapshot name, which VPS.org limits to letters, digits, hyphens and underscores; a hyphen would make names ambiguous)"
                ),
            );
            return default.to_owned();
        }
        p.clone()
    }

    fn missed(&mut self, value: &Option<Spanned<String>>, key: &str, default: Missed) -> Missed {
        let Some(v) = value else { return default };
        match v.get_ref().as_str() {
            "run-once" => Missed::RunOnce,
            "skip" => Missed::Skip,
            other => {
                self.problem(
                    v.span(),
                    key,
                    format!("{other:?} is not allowed: use \"run-once\" or \"skip\""),
                );
                default
            }
        }
    }

    fn inherit(&mut self, raw: &RawDefaults, base: &Inherited, section: &str) -> Inherited {
        let k = |name: &str| format!("{section}{name}");
        Inherited {
            timezone: self.timezone(&raw.timezone, &k("timezone"), base.timezone),
            prefix: self.prefix(&raw.prefix, &k("prefix"), &base.prefix),
            poll_interval: self.positive_duration(
                &raw.poll_interval,
                &k("poll_interval"),
                base.poll_interval,
            ),
            wait_timeout: self.positive_duration(
                &raw.wait_timeout,
                &k("wait_timeout"),
                base.wait_timeout,
            ),
            missed: self.missed(&raw.missed, &k("missed"), base.missed),
            jitter: self.jitter(&raw.jitter, &k("jitter"), base.jitter),
            retry_window: self.duration(&raw.retry_window, &k("retry_window"), base.retry_window),
            retry_backoff: self.positive_duration(
                &raw.retry_backoff,
                &k("retry_backoff"),
                base.retry_backoff,
            ),
            pre_hook: self.argv(&raw.pre_hook, &k("pre_hook"), &base.pre_hook),
            post_hook: self.argv(&raw.post_hook, &k("post_hook"), &base.post_hook),
            hook_timeout: self.hook_timeout(
                &raw.hook_timeout,
                &k("hook_timeout"),
                base.hook_timeout,
            ),
            max_freeze: self.hook_timeout(&raw.max_freeze, &k("max_freeze"), base.max_freeze),
            on_hook_failure: self.choice(
                &raw.on_hook_failure,
                &k("on_hook_failure"),
                &[
                    ("abort", OnHookFailure::Abort),
                    ("continue", OnHookFailure::Continue),
                ],
                base.on_hook_failure,
            ),
            post_hook_after: self.choice(
                &raw.post_hook_after,
                &k("post_hook_after"),
                &[
                    ("accepted", PostHookAfter::Accepted),
                    ("completed", PostHookAfter::Completed),
                ],
                base.post_hook_after,
            ),
        }
    }

    /// A hook command: an argv array run without a shell.
    fn argv(
        &mut self,
        value: &Option<Spanned<Vec<Spanned<String>>>>,
        key: &str,
        default: &Option<Vec<String>>,
    ) -> Option<Vec<String>> {
        let Some(v) = value else {
            return default.clone();
        };
        let argv = v.get_ref();
        if argv.is_empty() || argv[0].get_ref().trim().is_empty() {
            self.problem(
                v.span(),
                key,
                "must name a program and its arguments, e.g. [\"/usr/local/bin/flush-db\", \"--quick\"] (no shell: for pipes or globs use [\"sh\", \"-c\", \"...\"])",
            );
            return default.clone();
        }
        let mut ok = true;
        for arg in argv {
            if arg.get_ref().contains('\0') {
                self.problem(
                    arg.span(),
                    key,
                    "an argument may not contain a NUL character",
                );
                ok = false;
            }
        }
        ok.then(|| argv.iter().map(|a| a.get_ref().clone()).collect())
            .or_else(|| default.clone())
    }

    fn hook_timeout(
        &mut self,
        value: &Option<Spanned<String>>,
        key: &str,
        default: Duration,
    ) -> Duration {
        let d = self.positive_duration(value, key, default);
        self.at_most(
            value,
            key,
            d,
            default,
            MAX_HOOK_TIMEOUT,
            "is too long: at most 1h (a hook holds the job, and a pre hook may hold the server frozen)",
        )
    }

    /// One of a few words.
    fn choice<T: Copy>(
        &mut self,
        value: &Option<Spanned<String>>,
        key: &str,
        allowed: &[(&str, T)],
        default: T,
    ) -> T {
        let Some(v) = value else { return default };
        if let Some((_, t)) = allowed.iter().find(|(word, _)| *word == v.get_ref()) {
            return *t;
        }
        let words: Vec<String> = allowed.iter().map(|(w, _)| format!("{w:?}")).collect();
        self.problem(
            v.span(),
            key,
            format!(
                "{:?} is not allowed: use {}",
                v.get_ref(),
                words.join(" or ")
            ),
        );
        default
    }

    fn config(&mut self, raw: RawConfig, origin: &str) -> Config {
        let mut warnings = Vec::new();
        let api = self.api(&raw.api, &mut warnings);
        let daemon = DaemonConfig {
            shutdown_timeout: self.duration(
                &raw.daemon.shutdown_timeout,
                "daemon.shutdown_timeout",
                Duration::from_secs(30),
            ),
        };
        let metrics = MetricsConfig {
            listen: raw
                .metrics
                .listen
                .as_ref()
                .and_then(|v| match v.get_ref().parse() {
                    Ok(addr) => Some(addr),
                    Err(_) => {
                        self.problem(
                            v.span(),
                            "metrics.listen",
                            format!(
                                "{:?} is not an address: use IP:PORT, e.g. \"127.0.0.1:9187\"",
                                v.get_ref()
                            ),
                        );
                        None
                    }
                }),
        };
        let notify = NotifyConfig {
            webhook_url: self.http_url(&raw.notify.webhook_url, "notify.webhook_url"),
            on_success: raw.notify.on_success.as_ref().is_some_and(|v| *v.get_ref()),
            ping_url: self
                .http_url(&raw.notify.ping_url, "notify.ping_url")
                .map(|u| u.trim_end_matches('/').to_owned()),
            timeout: self.positive_duration(
                &raw.notify.timeout,
                "notify.timeout",
                Duration::from_secs(10),
            ),
            targets: self.targets(&raw.notify.target),
        };
        let builtin = Inherited {
            timezone: Tz::UTC,
            prefix: "snapkeep".to_owned(),
            poll_interval: Duration::from_secs(15),
            wait_timeout: Duration::from_secs(30 * 60),
            missed: Missed::RunOnce,
            jitter: Duration::ZERO,
            retry_window: Duration::from_secs(2 * 3600),
            retry_backoff: Duration::from_secs(60),
            pre_hook: None,
            post_hook: None,
            hook_timeout: Duration::from_secs(60),
            max_freeze: Duration::from_secs(120),
            on_hook_failure: OnHookFailure::Abort,
            post_hook_after: PostHookAfter::Accepted,
        };
        let defaults = self.inherit(&raw.defaults, &builtin, "defaults.");
        let orphan_grace = self.duration(
            &raw.defaults.orphan_grace,
            "defaults.orphan_grace",
            DEFAULT_ORPHAN_GRACE,
        );
        if raw.policy.is_empty() {
            self.problems.push(Problem {
                line: 1,
                column: 1,
                key: "policy".into(),
                message: "no [[policy]] defined: add at least one (see config.example.toml)".into(),
            });
        }
        let mut policies = Vec::new();
        let mut names: BTreeMap<String, ()> = BTreeMap::new();
        for raw_policy in &raw.policy {
            let span = raw_policy.span();
            let p = raw_policy.get_ref();
            if names.insert(p.name.get_ref().clone(), ()).is_some() {
                self.problem(
                    p.name.span(),
                    "policy.name",
                    format!(
                        "{:?} is used by an earlier policy: names must be unique",
                        p.name.get_ref()
                    ),
                );
            }
            if let Some(policy) = self.policy(p, &defaults, span) {
                policies.push(policy);
            }
        }
        self.caps(&raw.policy, &policies);
        Config {
            origin: origin.to_owned(),
            api,
            daemon,
            metrics,
            notify,
            policies,
            orphan_grace,
            warnings,
        }
    }

    /// `[[notify.target]]`: each valid one; a problem for each mistake.
    fn targets(&mut self, raw: &[Spanned<RawTarget>]) -> Vec<NotifyTarget> {
        let mut out: Vec<NotifyTarget> = Vec::new();
        for (index, t) in raw.iter().enumerate() {
            let before = self.problems.len();
            let span = t.span();
            let t = t.get_ref();
            let name = match &t.name {
                Some(n) => {
                    let name = n.get_ref().trim().to_owned();
                    if name.is_empty()
                        || !name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    {
                        self.problem(
                            n.span(),
                            "notify.target.name",
                            format!("{name:?} is not allowed: use letters, digits, '_' and '-' (it labels logs and snapkeep_notify_failures_total)"),
                        );
                    } else if name == "webhook" || name == "ping" {
                        self.problem(
                            n.span(),
                            "notify.target.name",
                            format!(
                                "{name:?} is the name of the [notify] {name}_url; choose another"
                            ),
                        );
                    } else if out.iter().any(|o| o.name == name) {
                        self.problem(
                            n.span(),
                            "notify.target.name",
                            format!("{name:?} is used by an earlier target: names must be unique"),
                        );
                    }
                    Some(name)
                }
                None => None,
            };
            let key = |k: &str| match &name {
                Some(n) => format!("notify.target.{n}.{k}"),
                None => format!("notify.target.{k}"),
            };
            let events = self.notify_events(&t.events, &key("events"));
            let Some(kind) = &t.kind else {
                self.problem(
                    span,
                    &key("type"),
                    "is missing: set type = \"webhook\", \"slack\", \"ntfy\" or \"email\"",
                );
                continue;
            };
            let url_keys: [(&str, bool); 1] = [("url", t.url.is_some())];
            let email_keys = [
                ("smtp_host", t.smtp_host.is_some()),
                ("smtp_port", t.smtp_port.is_some()),
                ("tls", t.tls.is_some()),
                ("from", t.from.is_some()),
                ("to", t.to.is_some()),
                ("username", t.username.is_some()),
                ("password_file", t.password_file.is_some()),
            ];
            let type_name = kind.get_ref().as_str();
            let (wrong, channel): (&[(&str, bool)], Option<Channel>) = match type_name {
                "webhook" | "slack" | "ntfy" => {
                    let url = match &t.url {
                        Some(_) => self.http_url(&t.url, &key("url")),
                        None => {
                            self.problem(
                                kind.span(),
                                &key("url"),
                                format!("is missing: a {type_name} target posts to its url"),
                            );
                            None
                        }
                    };
                    let channel = url.map(|url| match type_name {
                        "webhook" => Channel::Webhook { url },
                        "slack" => Channel::Slack { url },
                        _ => Channel::Ntfy { url },
                    });
                    (&email_keys, channel)
                }
                "email" => (
                    &url_keys,
                    self.email(t, kind.span(), &key).map(Channel::Email),
                ),
                other => {
                    let words = ["webhook", "slack", "ntfy", "email"];
                    let hint = words
                        .iter()
                        .map(|w| (edit_distance(other, w), *w))
                        .min()
                        .filter(|(d, _)| *d <= 2)
                        .map_or_else(
                            || "use \"webhook\", \"slack\", \"ntfy\" or \"email\"".to_owned(),
                            |(_, w)| format!("did you mean \"{w}\"?"),
                        );
                    self.problem(
                        kind.span(),
                        &key("type"),
                        format!("{other:?} is not a target type; {hint}"),
                    );
                    continue;
                }
            };
            for (k, set) in wrong {
                if *set {
                    self.problem(
                        kind.span(),
                        &key(k),
                        format!(
                            "is not a key of {} {type_name} target (type = {type_name:?})",
                            if type_name == "email" { "an" } else { "a" }
                        ),
                    );
                }
            }
            if self.problems.len() != before {
                continue;
            }
            if let Some(channel) = channel {
                out.push(NotifyTarget {
                    name: name.unwrap_or_else(|| format!("{}-{}", channel.type_name(), index + 1)),
                    events,
                    channel,
                });
            }
        }
        out
    }

    /// `events = [...]`; unset: every event but `succeeded`.
    fn notify_events(
        &mut self,
        value: &Option<Spanned<Vec<Spanned<String>>>>,
        key: &str,
    ) -> BTreeSet<NotifyEvent> {
        let Some(v) = value else {
            return NotifyEvent::ALL
                .into_iter()
                .filter(|e| *e != NotifyEvent::Succeeded)
                .collect();
        };
        if v.get_ref().is_empty() {
            self.problem(
                v.span(),
                key,
                "is empty: name at least one event, or remove the target",
            );
        }
        let mut events = BTreeSet::new();
        for e in v.get_ref() {
            match NotifyEvent::ALL
                .into_iter()
                .find(|k| k.as_str() == e.get_ref())
            {
                Some(k) => {
                    events.insert(k);
                }
                None => {
                    let names: Vec<&str> = NotifyEvent::ALL.iter().map(|k| k.as_str()).collect();
                    let closest = names
                        .iter()
                        .map(|n| (edit_distance(e.get_ref(), n), *n))
                        .min()
                        .filter(|(d, n)| *d <= (n.len() / 3).max(2));
                    let message = match closest {
                        Some((_, n)) => {
                            format!("{:?} is not an event; did you mean \"{n}\"?", e.get_ref())
                        }
                        None => format!(
                            "{:?} is not an event; use: {}",
                            e.get_ref(),
                            names.join(", ")
                        ),
                    };
                    self.problem(e.span(), key, message);
                }
            }
        }
        events
    }

    /// The keys of a `type = "email"` target.
    fn email(
        &mut self,
        t: &RawTarget,
        span: std::ops::Range<usize>,
        key: &dyn Fn(&str) -> String,
    ) -> Option<EmailTarget> {
        let before = self.problems.len();
        let tls = self.choice(
            &t.tls,
            &key("tls"),
            &[
                ("starttls", SmtpTls::StartTls),
                ("implicit", SmtpTls::Implicit),
                ("none", SmtpTls::None),
            ],
            SmtpTls::StartTls,
        );
        let host = match &t.smtp_host {
            Some(h) if !h.get_ref().trim().is_empty() => {
                let host = h.get_ref().trim().to_owned();
                if tls == SmtpTls::None && !is_loopback_host(&host) {
                    let at = t.tls.as_ref().map_or(h.span(), |v| v.span());
                    self.problem(
                        at,
                        &key("tls"),
                        format!("\"none\" sends mail and password in the clear: allowed only to a loopback host (localhost, 127.0.0.1, ::1), not {host:?}; use \"starttls\" or \"implicit\""),
                    );
                }
                Some(host)
            }
            Some(h) => {
                self.problem(
                    h.span(),
                    &key("smtp_host"),
                    "is empty: name the SMTP server",
                );
                None
            }
            None => {
                self.problem(
                    span.clone(),
                    &key("smtp_host"),
                    "is missing: an email target sends through an SMTP server",
                );
                None
            }
        };
        let port = match &t.smtp_port {
            Some(p) => match u16::try_from(*p.get_ref()) {
                Ok(n) if n > 0 => n,
                _ => {
                    self.problem(
                        p.span(),
                        &key("smtp_port"),
                        format!("{} is not a port (1 to 65535)", p.get_ref()),
                    );
                    0
                }
            },
            None => tls.default_port(),
        };
        let mailbox = |this: &mut Self, v: &Spanned<String>, k: &str| {
            if v.get_ref().parse::<lettre::message::Mailbox>().is_err() {
                this.problem(
                    v.span(),
                    &key(k),
                    format!("{:?} is not an email address (write \"ops@example.com\" or \"Ops <ops@example.com>\")", v.get_ref()),
                );
            }
        };
        let from = match &t.from {
            Some(f) => {
                mailbox(self, f, "from");
                Some(f.get_ref().trim().to_owned())
            }
            None => {
                self.problem(
                    span.clone(),
                    &key("from"),
                    "is missing: the sender's address",
                );
                None
            }
        };
        let to = match &t.to {
            Some(list) if list.get_ref().is_empty() => {
                self.problem(
                    list.span(),
                    &key("to"),
                    "is empty: list at least one address",
                );
                Vec::new()
            }
            Some(list) => {
                for a in list.get_ref() {
                    mailbox(self, a, "to");
                }
                list.get_ref()
                    .iter()
                    .map(|a| a.get_ref().trim().to_owned())
                    .collect()
            }
            None => {
                self.problem(
                    span.clone(),
                    &key("to"),
                    "is missing: a list of addresses, e.g. [\"ops@example.com\"]",
                );
                Vec::new()
            }
        };
        match (&t.username, &t.password_file) {
            (Some(u), None) => self.problem(
                u.span(),
                &key("password_file"),
                "is missing: username needs a password_file (a file with the password, mode 0600; never the password itself)",
            ),
            (None, Some(p)) => self.problem(p.span(), &key("username"), "is missing: password_file needs a username"),
            _ => {}
        }
        if self.problems.len() != before {
            return None;
        }
        Some(EmailTarget {
            smtp_host: host?,
            smtp_port: port,
            tls,
            from: from?,
            to,
            username: t.username.as_ref().map(|u| u.get_ref().clone()),
            password_file: t.password_file.as_ref().map(|p| PathBuf::from(p.get_ref())),
        })
    }

    fn api(&mut self, raw: &RawApi, warnings: &mut Vec<String>) -> ApiConfig {
        let base_url = match &raw.base_url {
            Some(v) => match crate::api::validate_base_url(v.get_ref()) {
                Ok(_) => v.get_ref().clone(),
                Err(e) => {
                    self.problem(v.span(), "api.base_url", e.to_string());
                    DEFAULT_BASE_URL.to_owned()
                }
            },
            None => DEFAULT_BASE_URL.to_owned(),
        };
        let token = raw.token.as_ref().map(|t| {
            warnings.push(
                "api.token puts the API token in the config file; prefer api.token_file (mode 0600) or the VPS_API_TOKEN environment variable"
                    .to_owned(),
            );
            ApiToken::new(t.get_ref().clone())
        });
        let max_retries = match &raw.max_retries {
            Some(v) if !(0..=100).contains(v.get_ref()) => {
                self.problem(v.span(), "api.max_retries", "must be between 0 and 100");
                5
            }
            Some(v) => *v.get_ref() as u32,
            None => 5,
        };
        let requests_per_second = match &raw.requests_per_second {
            Some(v)
                if !(*v.get_ref() == 0.0
                    || (v.get_ref().is_finite()
                        && (MIN_RATE..=MAX_RATE).contains(v.get_ref()))) =>
            {
                self.problem(
                    v.span(),
                    "api.requests_per_second",
                    format!(
                        "must be 0 (no client-side rate limit) or between {MIN_RATE} and {MAX_RATE}; got {}",
                        v.get_ref()
                    ),
                );
                5.0
            }
            Some(v) => *v.get_ref(),
            None => 5.0,
        };
        let max_concurrency = match &raw.max_concurrency {
            Some(v) if !(1..=256).contains(v.get_ref()) => {
                self.problem(v.span(), "api.max_concurrency", "must be between 1 and 256");
                4
            }
            Some(v) => *v.get_ref() as usize,
            None => 4,
        };
        ApiConfig {
            base_url,
            token_file: raw.token_file.as_ref().map(|f| PathBuf::from(f.get_ref())),
            token,
            timeout: self.positive_duration(&raw.timeout, "api.timeout", Duration::from_secs(30)),
            connect_timeout: self.positive_duration(
                &raw.connect_timeout,
                "api.connect_timeout",
                Duration::from_secs(10),
            ),
            max_retries,
            retry_deadline: self.positive_duration(
                &raw.retry_deadline,
                "api.retry_deadline",
                Duration::from_secs(300),
            ),
            list_lag: self.positive_duration(
                &raw.list_lag,
                "api.list_lag",
                Duration::from_secs(30),
            ),
            requests_per_second,
            max_concurrency,
        }
    }

    fn policy(
        &mut self,
        p: &RawPolicy,
        defaults: &Inherited,
        span: std::ops::Range<usize>,
    ) -> Option<Policy> {
        let before = self.problems.len();
        let name = p.name.get_ref().clone();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            self.problem(
                p.name.span(),
                "policy.name",
                format!("{name:?} is not allowed: use lowercase letters, digits, '_' and '-' ([a-z0-9_-]+)"),
            );
        }
        let kind = match p.kind.get_ref().as_str() {
            "snapshot" => Kind::Snapshot,
            "backup" => Kind::Backup,
            other => {
                self.problem(
                    p.kind.span(),
                    "policy.kind",
                    format!("{other:?} is not allowed: use \"snapshot\" or \"backup\""),
                );
                Kind::Snapshot
            }
        };
        let mut servers = Vec::new();
        if p.servers.get_ref().is_empty() {
            self.problem(
                p.servers.span(),
                "policy.servers",
                "is empty: list at least one server id, e.g. [12345]",
            );
        }
        for s in p.servers.get_ref() {
            let id = *s.get_ref();
            if id <= 0 {
                self.problem(
                    s.span(),
                    "policy.servers",
                    format!("{id} is not a server id (a positive integer)"),
                );
            } else if servers.contains(&(id as u64)) {
                self.problem(
                    s.span(),
                    "policy.servers",
                    format!("server {id} is listed twice"),
                );
            } else {
                servers.push(id as u64);
            }
        }
        let section = format!("policy.{name}.");
        let over = RawDefaults {
            timezone: p.timezone.clone(),
            prefix: p.prefix.clone(),
            poll_interval: p.poll_interval.clone(),
            wait_timeout: p.wait_timeout.clone(),
            missed: p.missed.clone(),
            jitter: p.jitter.clone(),
            retry_window: p.retry_window.clone(),
            retry_backoff: p.retry_backoff.clone(),
            pre_hook: p.pre_hook.clone(),
            post_hook: p.post_hook.clone(),
            hook_timeout: p.hook_timeout.clone(),
            max_freeze: p.max_freeze.clone(),
            on_hook_failure: p.on_hook_failure.clone(),
            post_hook_after: p.post_hook_after.clone(),
            orphan_grace: None,
        };
        let inherited = self.inherit(&over, defaults, &section);
        let schedule = match Schedule::parse(p.schedule.get_ref(), inherited.timezone) {
            Ok(s) if !self.fires_soon(&s) => {
                self.problem(
                    p.schedule.span(),
                    &format!("{section}schedule"),
                    format!(
                        "{:?} has no fire time in the next {SCHEDULE_HORIZON_YEARS} years, so the policy would never run: a date that does not exist (31 February, 31 April)? Fix day-of-month or month",
                        p.schedule.get_ref()
                    ),
                );
                None
            }
            Ok(s) => Some(s),
            Err(e) => {
                self.problem(
                    p.schedule.span(),
                    "policy.schedule",
                    format!("{:?}: {e}", p.schedule.get_ref()),
                );
                None
            }
        };
        let before_keep = self.problems.len();
        let keep = self.keep_rules(p);
        if keep.is_empty() && self.problems.len() == before_keep {
            self.problem(
                span.clone(),
                &format!("policy.{name}"),
                "keeps nothing: set at least one of keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly (> 0 or -1) or keep_within*",
            );
        }
        let description = p
            .description
            .as_ref()
            .map(|d| d.get_ref().trim().to_owned())
            .filter(|d| !d.is_empty());
        let max_kept = keep.max_kept().map_or(kind.cap(), |n| n as usize);
        let protect = self.protect(&p.protect, &format!("{section}protect"));
        let warn_after = self.positive_duration_opt(&p.warn_after, &format!("{section}warn_after"));
        let crit_after = self.positive_duration_opt(&p.crit_after, &format!("{section}crit_after"));
        if let (Some(w), Some(c), Some(raw_warn)) = (warn_after, crit_after, &p.warn_after) {
            if w >= c {
                self.problem(
                    raw_warn.span(),
                    &format!("{section}warn_after"),
                    format!(
                        "{:?} is not shorter than crit_after ({}): warn_after must come first",
                        raw_warn.get_ref(),
                        humantime::format_duration(c)
                    ),
                );
            }
        }
        let hooks =
            (inherited.pre_hook.is_some() || inherited.post_hook.is_some()).then(|| Hooks {
                pre: inherited.pre_hook.clone(),
                post: inherited.post_hook.clone(),
                timeout: inherited.hook_timeout,
                max_freeze: inherited.max_freeze,
                on_failure: inherited.on_hook_failure,
                post_after: inherited.post_hook_after,
            });
        if self.problems.len() != before {
            return None;
        }
        Some(Policy {
            name,
            kind,
            servers,
            schedule: schedule?,
            prefix: inherited.prefix,
            poll_interval: inherited.poll_interval,
            wait_timeout: inherited.wait_timeout,
            missed: inherited.missed,
            jitter: inherited.jitter,
            retry_window: inherited.retry_window,
            retry_backoff: inherited.retry_backoff,
            keep,
            description,
            max_kept,
            hooks,
            enabled: p.enabled.as_ref().is_none_or(|e| *e.get_ref()),
            protect,
            warn_after,
            crit_after,
        })
    }

    /// `protect = [ids]`: positive, each once.
    fn protect(&mut self, value: &Option<Spanned<Vec<Spanned<i64>>>>, key: &str) -> BTreeSet<u64> {
        let mut ids = BTreeSet::new();
        let Some(v) = value else { return ids };
        for id in v.get_ref() {
            match u64::try_from(*id.get_ref()) {
                Ok(n) if n > 0 => {
                    if !ids.insert(n) {
                        self.problem(id.span(), key, format!("item {n} is listed twice"));
                    }
                }
                _ => self.problem(
                    id.span(),
                    key,
                    format!(
                        "{} is not an item id (a positive integer: the snapshot's or backup's id, as `snapkeep status` shows it)",
                        id.get_ref()
                    ),
                ),
            }
        }
        ids
    }

    fn positive_duration_opt(
        &mut self,
        value: &Option<Spanned<String>>,
        key: &str,
    ) -> Option<Duration> {
        let before = self.problems.len();
        let d = self.positive_duration(value, key, Duration::ZERO);
        (value.is_some() && self.problems.len() == before).then_some(d)
    }

    fn keep_rules(&mut self, p: &RawPolicy) -> KeepRules {
        let mut count = |v: &Option<Spanned<i64>>, key: &str| -> Option<i32> {
            let v = v.as_ref()?;
            match *v.get_ref() {
                0 => None,
                n if n == -1 || (1..=100_000).contains(&n) => Some(n as i32),
                n => {
                    self.problem(
                        v.span(),
                        key,
                        format!("{n} is not allowed: use a count ≥ 1, 0 (off) or -1 (unlimited)"),
                    );
                    None
                }
            }
        };
        let last = count(&p.keep_last, "policy.keep_last");
        let hourly = count(&p.keep_hourly, "policy.keep_hourly");
        let daily = count(&p.keep_daily, "policy.keep_daily");
        let weekly = count(&p.keep_weekly, "policy.keep_weekly");
        let monthly = count(&p.keep_monthly, "policy.keep_monthly");
        let yearly = count(&p.keep_yearly, "policy.keep_yearly");
        let mut span = |v: &Option<Spanned<String>>, key: &str| -> Option<Span> {
            let v = v.as_ref()?;
            match Span::from_str(v.get_ref().trim()) {
                Ok(s) => Some(s),
                Err(e) => {
                    self.problem(v.span(), key, e.to_string());
                    None
                }
            }
        };
        KeepRules {
            last,
            hourly,
            daily,
            weekly,
            monthly,
            yearly,
            within: span(&p.keep_within, "policy.keep_within"),
            within_hourly: span(&p.keep_within_hourly, "policy.keep_within_hourly"),
            within_daily: span(&p.keep_within_daily, "policy.keep_within_daily"),
            within_weekly: span(&p.keep_within_weekly, "policy.keep_within_weekly"),
            within_monthly: span(&p.keep_within_monthly, "policy.keep_within_monthly"),
            within_yearly: span(&p.keep_within_yearly, "policy.keep_within_yearly"),
        }
    }

    /// Policies of one kind on one server share the provider's cap: together
    /// they may not plan to keep more than it.
    fn caps(&mut self, raw: &[Spanned<RawPolicy>], policies: &[Policy]) {
        let mut per_server: BTreeMap<(u64, Kind), Vec<&Policy>> = BTreeMap::new();
        for p in policies {
            for s in &p.servers {
                per_server.entry((*s, p.kind)).or_default().push(p);
            }
        }
        let mut reported = BTreeSet::new();
        for ((server, kind), ps) in per_server {
            let total: usize = ps.iter().map(|p| p.max_kept).sum();
            if total <= kind.cap() {
                // A policy that keeps one item can replace it only by
                // creating its successor first: it needs a free slot.
                let single: Vec<&str> = ps
                    .iter()
                    .filter(|p| p.max_kept == 1)
                    .map(|p| p.name.as_str())
                    .collect();
                if !single.is_empty() && total == kind.cap() {
                    let key = format!("single:{}", single.join(","));
                    if reported.insert(key) {
                        let last = ps.last().expect("non-empty");
                        let span = raw
                            .iter()
                            .find(|r| r.get_ref().name.get_ref() == &last.name)
                            .map_or(0..0, |r| r.span());
                        let detail: Vec<String> = ps
                            .iter()
                            .map(|p| format!("{} keeps up to {}", p.name, p.max_kept))
                            .collect();
                        self.problem(
                            span,
                            &format!("policy.{}", single[0]),
                            format!(
                                "server {server}: {} keep(s) only one {}, which may not be deleted before its successor exists, so it needs one free slot; but the policies on this server keep up to {total} and VPS.org allows {} ({}); once the others are full it could never rotate. Lower the other policies' keep_* by one, or keep 2",
                                single.join(", "),
                                kind.as_str(),
                                kind.cap(),
                                detail.join("; ")
                            ),
                        );
                    }
                }
                continue;
            }
            let names: Vec<&str> = ps.iter().map(|p| p.name.as_str()).collect();
            if !reported.insert(names.join(",")) {
                continue;
            }
            let detail: Vec<String> = ps
                .iter()
                .map(|p| match p.keep.max_kept() {
                    Some(n) => format!("{} keeps up to {n}", p.name),
                    None => format!(
                        "{} is unbounded (-1 or keep_within*), so it counts as the whole cap",
                        p.name
                    ),
                })
                .collect();
            let last = ps.last().expect("non-empty");
            let span = raw
                .iter()
                .find(|r| r.get_ref().name.get_ref() == &last.name)
                .map_or(0..0, |r| r.span());
            self.problem(
                span,
                &format!("policy.{}", last.name),
                format!(
                    "server {server}: {} policies together keep up to {total} {} but VPS.org allows {} per server ({}); lower the keep_* counts",
                    kind.as_str(),
                    kind.plural(),
                    kind.cap(),
                    detail.join("; ")
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests;
