//! The config as written: serde structs that reject unknown keys (typo
//! protection, repaired and reported by `repair`) and keep every value's
//! span, so that validation can say file:line:col. No checks here beyond
//! the shape TOML gives; `validate` decides what the values mean.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) api: RawApi,
    #[serde(default)]
    pub(super) defaults: RawDefaults,
    #[serde(default)]
    pub(super) daemon: RawDaemon,
    #[serde(default)]
    pub(super) metrics: RawMetrics,
    #[serde(default)]
    pub(super) notify: RawNotify,
    #[serde(default)]
    pub(super) account: Vec<Spanned<RawAccount>>,
    #[serde(default)]
    pub(super) policy: Vec<Spanned<RawPolicy>>,
}

/// One `[[account]]`: a name, one token source, and any `[api]` key but
/// the token ones (each defaults to `[api]`'s).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccount {
    pub(super) name: Spanned<String>,
    pub(super) token_file: Option<Spanned<String>>,
    pub(super) token_env: Option<Spanned<String>>,
    pub(super) token_credential: Option<Spanned<String>>,
    pub(super) base_url: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) connect_timeout: Option<Spanned<String>>,
    pub(super) max_retries: Option<Spanned<i64>>,
    pub(super) retry_deadline: Option<Spanned<String>>,
    pub(super) list_lag: Option<Spanned<String>>,
    pub(super) requests_per_second: Option<Spanned<f64>>,
    pub(super) max_concurrency: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) listen: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub(super) webhook_url: Option<Spanned<String>>,
    pub(super) on_success: Option<Spanned<bool>>,
    pub(super) ping_url: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) target: Vec<Spanned<RawTarget>>,
}

/// One `[[notify.target]]` as written: every key optional here, so that
/// validation can say which one a type needs or does not take.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    pub(super) name: Option<Spanned<String>>,
    #[serde(rename = "type")]
    pub(super) kind: Option<Spanned<String>>,
    pub(super) events: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) url: Option<Spanned<String>>,
    pub(super) smtp_host: Option<Spanned<String>>,
    pub(super) smtp_port: Option<Spanned<i64>>,
    pub(super) tls: Option<Spanned<String>>,
    pub(super) from: Option<Spanned<String>>,
    pub(super) to: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) username: Option<Spanned<String>>,
    pub(super) password_file: Option<Spanned<String>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApi {
    pub(super) base_url: Option<Spanned<String>>,
    pub(super) token_file: Option<Spanned<String>>,
    pub(super) token: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) connect_timeout: Option<Spanned<String>>,
    pub(super) max_retries: Option<Spanned<i64>>,
    pub(super) retry_deadline: Option<Spanned<String>>,
    pub(super) list_lag: Option<Spanned<String>>,
    pub(super) requests_per_second: Option<Spanned<f64>>,
    pub(super) max_concurrency: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDaemon {
    pub(super) shutdown_timeout: Option<Spanned<String>>,
}

/// Keys that may sit in `[defaults]` or in a policy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub(super) timezone: Option<Spanned<String>>,
    pub(super) prefix: Option<Spanned<String>>,
    pub(super) poll_interval: Option<Spanned<String>>,
    pub(super) wait_timeout: Option<Spanned<String>>,
    pub(super) missed: Option<Spanned<String>>,
    pub(super) jitter: Option<Spanned<String>>,
    pub(super) retry_window: Option<Spanned<String>>,
    pub(super) retry_backoff: Option<Spanned<String>>,
    pub(super) pre_hook: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) post_hook: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) hook_timeout: Option<Spanned<String>>,
    pub(super) max_freeze: Option<Spanned<String>>,
    pub(super) on_hook_failure: Option<Spanned<String>>,
    pub(super) post_hook_after: Option<Spanned<String>>,
    /// Only in `[defaults]` (orphans have no policy).
    pub(super) orphan_grace: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) name: Spanned<String>,
    pub(super) kind: Spanned<String>,
    pub(super) servers: Spanned<Vec<Spanned<i64>>>,
    pub(super) schedule: Spanned<String>,
    pub(super) description: Option<Spanned<String>>,
    pub(super) timezone: Option<Spanned<String>>,
    pub(super) prefix: Option<Spanned<String>>,
    pub(super) poll_interval: Option<Spanned<String>>,
    pub(super) wait_timeout: Option<Spanned<String>>,
    pub(super) missed: Option<Spanned<String>>,
    pub(super) jitter: Option<Spanned<String>>,
    pub(super) retry_window: Option<Spanned<String>>,
    pub(super) retry_backoff: Option<Spanned<String>>,
    pub(super) keep_last: Option<Spanned<i64>>,
    pub(super) keep_hourly: Option<Spanned<i64>>,
    pub(super) keep_daily: Option<Spanned<i64>>,
    pub(super) keep_weekly: Option<Spanned<i64>>,
    pub(super) keep_monthly: Option<Spanned<i64>>,
    pub(super) keep_yearly: Option<Spanned<i64>>,
    pub(super) keep_within: Option<Spanned<String>>,
    pub(super) keep_within_hourly: Option<Spanned<String>>,
    pub(super) keep_within_daily: Option<Spanned<String>>,
    pub(super) keep_within_weekly: Option<Spanned<String>>,
    pub(super) keep_within_monthly: Option<Spanned<String>>,
    pub(super) keep_within_yearly: Option<Spanned<String>>,
    pub(super) pre_hook: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) post_hook: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) hook_timeout: Option<Spanned<String>>,
    pub(super) max_freeze: Option<Spanned<String>>,
    pub(super) on_hook_failure: Option<Spanned<String>>,
    pub(super) post_hook_after: Option<Spanned<String>>,
    pub(super) enabled: Option<Spanned<bool>>,
    pub(super) protect: Option<Spanned<Vec<Spanned<i64>>>>,
    pub(super) warn_after: Option<Spanned<String>>,
    pub(super) crit_after: Option<Spanned<String>>,
    /// Last, so that "allowed here" lists the keys every config has first.
    pub(super) account: Option<Spanned<String>>,
}
