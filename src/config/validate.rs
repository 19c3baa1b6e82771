//! Validation: raw structs → typed [`Config`], every problem at once,
//! each with its place (`file:line:col: key: what is wrong and what is
//! allowed`). A value that is wrong gets a problem and its default, so the
//! rest is still checked; the caller returns the problems, never a config
//! built from a default that stood in for a mistake.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::zone::Zone;
use chrono::{DateTime, Utc};
use toml::Spanned;

use super::raw::{RawConfig, RawDefaults, RawMetrics, RawNotify, RawPolicy, RawTarget};
use super::repair::{edit_distance, position};
use super::{
    Channel, Config, DaemonConfig, EmailTarget, MetricsConfig, Missed, NotifyConfig, NotifyEvent,
    NotifyTarget, Policy, Problem, SCHEDULE_HORIZON_YEARS, SmtpTls, is_loopback_host,
};
use crate::hooks::{Hooks, OnHookFailure, PostHookAfter};
use crate::provider::Kind;
use crate::retention::{KeepRules, Span};
use crate::schedule::Schedule;

mod accounts;

/// Longest duration any key accepts: beyond it a value is a typo, and
/// clocks and timers overflow on absurd ones.
const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);
/// `[defaults] orphan_grace` unless set: a week without a new item in an
/// orphan group means no config is rotating it any more.
const DEFAULT_ORPHAN_GRACE: Duration = Duration::from_secs(7 * 86_400);
/// Longest `jitter`.
const MAX_JITTER: Duration = Duration::from_secs(86_400);
/// `api.requests_per_second` range (besides 0 = unlimited).
const MIN_RATE: f64 = 0.01;
const MAX_RATE: f64 = 10_000.0;

pub(super) struct Validator<'a> {
    text: &'a str,
    problems: Vec<Problem>,
    /// What "the next five years" of a schedule start from.
    now: DateTime<Utc>,
}

/// Defaults after `[defaults]` is applied; a policy may override each.
struct Inherited {
    timezone: Zone,
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

/// The keys a policy may set over `[defaults]`, in `[defaults]`'s shape.
fn policy_overrides(p: &RawPolicy) -> RawDefaults {
    RawDefaults {
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
    }
}

/// A policy's hooks: `None` unless a pre or post hook is set.
fn hooks_of(inherited: &Inherited) -> Option<Hooks> {
    (inherited.pre_hook.is_some() || inherited.post_hook.is_some()).then(|| Hooks {
        pre: inherited.pre_hook.clone(),
        post: inherited.post_hook.clone(),
        timeout: inherited.hook_timeout,
        max_freeze: inherited.max_freeze,
        on_failure: inherited.on_hook_failure,
        post_after: inherited.post_hook_after,
    })
}

/// What a policy gets when neither it nor `[defaults]` sets a key.
fn builtin_defaults() -> Inherited {
    Inherited {
        timezone: Zone::UTC,
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
    }
}

/// Longest `hook_timeout`: a hook that holds a filesystem frozen for more
/// than an hour is a mistake, not a plan.
const MAX_HOOK_TIMEOUT: Duration = Duration::from_secs(3600);

impl<'a> Validator<'a> {
    /// A validator for `text`, starting with the problems found so far
    /// (unknown keys); schedules are judged from `now`.
    pub(super) fn new(text: &'a str, problems: Vec<Problem>, now: DateTime<Utc>) -> Self {
        Validator {
            text,
            problems,
            now,
        }
    }

    /// Every problem found, in file order (`Ok` when there were none).
    pub(super) fn finish(self) -> Result<(), Vec<Problem>> {
        let mut problems = self.problems;
        if problems.is_empty() {
            return Ok(());
        }
        problems.sort_by_key(|p| (p.line, p.column));
        Err(problems)
    }

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

    fn timezone(&mut self, value: &Option<Spanned<String>>, key: &str, default: Zone) -> Zone {
        let Some(v) = value else { return default };
        match Zone::named(v.get_ref()) {
            Ok(zone) => zone,
            Err(e) => {
                self.problem(v.span(), key, e.to_string());
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

    pub(super) fn config(&mut self, raw: RawConfig, origin: &str) -> Config {
        let mut warnings = Vec::new();
        let api = self.api(&raw.api, &mut warnings);
        let accounts = self.accounts(&raw, &api);
        let daemon = DaemonConfig {
            shutdown_timeout: self.duration(
                &raw.daemon.shutdown_timeout,
                "daemon.shutdown_timeout",
                Duration::from_secs(30),
            ),
        };
        let metrics = self.metrics(&raw.metrics);
        let notify = self.notify(&raw.notify);
        let defaults = self.inherit(&raw.defaults, &builtin_defaults(), "defaults.");
        let orphan_grace = self.duration(
            &raw.defaults.orphan_grace,
            "defaults.orphan_grace",
            DEFAULT_ORPHAN_GRACE,
        );
        let names = accounts::account_names(&raw);
        let policies = self.policies(&raw.policy, &defaults, &names);
        self.caps(&raw.policy, &policies, names.len() > 1);
        Config {
            origin: origin.to_owned(),
            api,
            accounts,
            daemon,
            metrics,
            notify,
            policies,
            orphan_grace,
            warnings,
        }
    }

    /// `[metrics]`: `listen` must be an IP:PORT.
    fn metrics(&mut self, raw: &RawMetrics) -> MetricsConfig {
        let listen = raw.listen.as_ref().and_then(|v| match v.get_ref().parse() {
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
        });
        MetricsConfig { listen }
    }

    /// `[notify]` and its `[[notify.target]]`s.
    fn notify(&mut self, raw: &RawNotify) -> NotifyConfig {
        NotifyConfig {
            webhook_url: self.http_url(&raw.webhook_url, "notify.webhook_url"),
            on_success: raw.on_success.as_ref().is_some_and(|v| *v.get_ref()),
            ping_url: self
                .http_url(&raw.ping_url, "notify.ping_url")
                .map(|u| u.trim_end_matches('/').to_owned()),
            timeout: self.positive_duration(
                &raw.timeout,
                "notify.timeout",
                Duration::from_secs(10),
            ),
            targets: self.targets(&raw.target),
        }
    }

    /// Every valid `[[policy]]`; at least one, each name once.
    fn policies(
        &mut self,
        raw: &[Spanned<RawPolicy>],
        defaults: &Inherited,
        accounts: &[String],
    ) -> Vec<Policy> {
        if raw.is_empty() {
            self.problems.push(Problem {
                line: 1,
                column: 1,
                key: "policy".into(),
                message: "no [[policy]] defined: add at least one (see config.example.toml)".into(),
            });
        }
        // Sized once: the daemon keeps every policy for as long as it runs.
        let mut policies = Vec::with_capacity(raw.len());
        let mut names: BTreeSet<String> = BTreeSet::new();
        for raw_policy in raw {
            let span = raw_policy.span();
            let p = raw_policy.get_ref();
            if !names.insert(p.name.get_ref().clone()) {
                self.problem(
                    p.name.span(),
                    "policy.name",
                    format!(
                        "{:?} is used by an earlier policy: names must be unique",
                        p.name.get_ref()
                    ),
                );
            }
            if let Some(policy) = self.policy(p, defaults, accounts, span) {
                policies.push(policy);
            }
        }
        policies
    }

    /// `[[notify.target]]`: each valid one; a problem for each mistake.
    fn targets(&mut self, raw: &[Spanned<RawTarget>]) -> Vec<NotifyTarget> {
        let mut out: Vec<NotifyTarget> = Vec::new();
        for (index, t) in raw.iter().enumerate() {
            if let Some(target) = self.target(index, t, &out) {
                out.push(target);
            }
        }
        out
    }

    /// The `index`-th target, when it is valid (`earlier`: the valid ones
    /// before it, whose names it may not take).
    fn target(
        &mut self,
        index: usize,
        t: &Spanned<RawTarget>,
        earlier: &[NotifyTarget],
    ) -> Option<NotifyTarget> {
        let before = self.problems.len();
        let span = t.span();
        let t = t.get_ref();
        let name = t.name.as_ref().map(|n| self.target_name(n, earlier));
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
            return None;
        };
        let channel = self.channel(t, kind, &key);
        if self.problems.len() != before {
            return None;
        }
        let channel = channel?;
        Some(NotifyTarget {
            name: name.unwrap_or_else(|| format!("{}-{}", channel.type_name(), index + 1)),
            events,
            channel,
        })
    }

    /// A target's `name`: allowed characters, not `webhook` or `ping`, not
    /// an earlier target's. Returned trimmed even when wrong (it names the
    /// target's other keys in problems).
    fn target_name(&mut self, n: &Spanned<String>, earlier: &[NotifyTarget]) -> String {
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
                format!("{name:?} is the name of the [notify] {name}_url; choose another"),
            );
        } else if earlier.iter().any(|o| o.name == name) {
            self.problem(
                n.span(),
                "notify.target.name",
                format!("{name:?} is used by an earlier target: names must be unique"),
            );
        }
        name
    }

    /// A target's channel from its `type` and that type's keys; a problem
    /// for an unknown type, a missing key or a key of another type.
    fn channel(
        &mut self,
        t: &RawTarget,
        kind: &Spanned<String>,
        key: &dyn Fn(&str) -> String,
    ) -> Option<Channel> {
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
                self.email(t, kind.span(), key).map(Channel::Email),
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
                return None;
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
        channel
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
        let host = self.smtp_host(t, tls, span.clone(), key);
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
        let (from, to) = self.addresses(t, span, key);
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

    /// `smtp_host`: set, not empty, and loopback when `tls = "none"`.
    fn smtp_host(
        &mut self,
        t: &RawTarget,
        tls: SmtpTls,
        span: std::ops::Range<usize>,
        key: &dyn Fn(&str) -> String,
    ) -> Option<String> {
        match &t.smtp_host {
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
                    span,
                    &key("smtp_host"),
                    "is missing: an email target sends through an SMTP server",
                );
                None
            }
        }
    }

    /// `from` and `to`: set, and each a mailbox lettre can parse.
    fn addresses(
        &mut self,
        t: &RawTarget,
        span: std::ops::Range<usize>,
        key: &dyn Fn(&str) -> String,
    ) -> (Option<String>, Vec<String>) {
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
                    span,
                    &key("to"),
                    "is missing: a list of addresses, e.g. [\"ops@example.com\"]",
                );
                Vec::new()
            }
        };
        (from, to)
    }

    fn policy(
        &mut self,
        p: &RawPolicy,
        defaults: &Inherited,
        accounts: &[String],
        span: std::ops::Range<usize>,
    ) -> Option<Policy> {
        let before = self.problems.len();
        let name = self.policy_name(&p.name);
        let account = self.policy_account(p, &name, accounts);
        let kind = self.choice(
            &Some(p.kind.clone()),
            "policy.kind",
            &[("snapshot", Kind::Snapshot), ("backup", Kind::Backup)],
            Kind::Snapshot,
        );
        let servers = self.servers(&p.servers);
        let section = format!("policy.{name}.");
        let inherited = self.inherit(&policy_overrides(p), defaults, &section);
        let schedule = self.schedule(&p.schedule, inherited.timezone, &section);
        let before_keep = self.problems.len();
        let keep = self.keep_rules(p);
        if keep.is_empty() && self.problems.len() == before_keep {
            self.problem(
                span,
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
        let (warn_after, crit_after) = self.alert_after(p, &section);
        let hooks = hooks_of(&inherited);
        if self.problems.len() != before {
            return None;
        }
        Some(Policy {
            name,
            account,
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
            hooks: hooks.map(Box::new),
            enabled: p.enabled.as_ref().is_none_or(|e| *e.get_ref()),
            protect,
            warn_after,
            crit_after,
        })
    }

    /// A policy's `name`: `[a-z0-9_-]+` (it is part of every item's name).
    fn policy_name(&mut self, name: &Spanned<String>) -> String {
        let text = name.get_ref().clone();
        if text.is_empty()
            || !text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            self.problem(
                name.span(),
                "policy.name",
                format!("{text:?} is not allowed: use lowercase letters, digits, '_' and '-' ([a-z0-9_-]+)"),
            );
        }
        text
    }

    /// `servers = [ids]`: not empty, positive, each once.
    fn servers(&mut self, raw: &Spanned<Vec<Spanned<i64>>>) -> Vec<u64> {
        let mut servers = Vec::new();
        if raw.get_ref().is_empty() {
            self.problem(
                raw.span(),
                "policy.servers",
                "is empty: list at least one server id, e.g. [12345]",
            );
        }
        for s in raw.get_ref() {
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
        servers
    }

    /// `schedule`: a cron expression in `timezone` that fires within
    /// [`SCHEDULE_HORIZON_YEARS`].
    fn schedule(
        &mut self,
        raw: &Spanned<String>,
        timezone: Zone,
        section: &str,
    ) -> Option<Schedule> {
        match Schedule::parse(raw.get_ref(), timezone) {
            Ok(s) if !self.fires_soon(&s) => {
                self.problem(
                    raw.span(),
                    &format!("{section}schedule"),
                    format!(
                        "{:?} has no fire time in the next {SCHEDULE_HORIZON_YEARS} years, so the policy would never run: a date that does not exist (31 February, 31 April)? Fix day-of-month or month",
                        raw.get_ref()
                    ),
                );
                None
            }
            Ok(s) => Some(s),
            Err(e) => {
                self.problem(
                    raw.span(),
                    "policy.schedule",
                    format!("{:?}: {e}", raw.get_ref()),
                );
                None
            }
        }
    }

    /// `warn_after` and `crit_after`, each positive; warn before crit.
    fn alert_after(
        &mut self,
        p: &RawPolicy,
        section: &str,
    ) -> (Option<Duration>, Option<Duration>) {
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
        (warn_after, crit_after)
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
    /// (Servers are per account: server 7 of one account and server 7 of
    /// another are two servers, each with its own cap; with `several`
    /// accounts, a problem says which.)
    fn caps(&mut self, raw: &[Spanned<RawPolicy>], policies: &[Policy], several: bool) {
        let mut per_server: BTreeMap<(&str, u64, Kind), Vec<&Policy>> = BTreeMap::new();
        for p in policies {
            for s in &p.servers {
                per_server
                    .entry((p.account.as_str(), *s, p.kind))
                    .or_default()
                    .push(p);
            }
        }
        let mut reported = BTreeSet::new();
        for ((account, server, kind), ps) in per_server {
            let server = if several {
                format!("account {account}, server {server}")
            } else {
                format!("server {server}")
            };
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
                                "{server}: {} keep(s) only one {}, which may not be deleted before its successor exists, so it needs one free slot; but the policies on this server keep up to {total} and VPS.org allows {} ({}); once the others are full it could never rotate. Lower the other policies' keep_* by one, or keep 2",
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
                    "{server}: {} policies together keep up to {total} {} but VPS.org allows {} per server ({}); lower the keep_* counts",
                    kind.as_str(),
                    kind.plural(),
                    kind.cap(),
                    detail.join("; ")
                ),
            );
        }
    }
}
