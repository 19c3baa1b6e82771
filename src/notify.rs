//! Telling people how a pass went: a JSON webhook and healthchecks.io-style
//! pings.
//!
//! Delivery is best effort by design: a notification that cannot be
//! delivered is logged and never blocks or fails a pass. The daemon fires
//! them in the background; `--run-now` waits for them (bounded by
//! `notify.timeout`) so they are not lost when the process exits.

use std::time::Duration;

use serde::Serialize;
use tracing::{debug, warn};

use crate::config::NotifyConfig;
use crate::runner::PassReport;

#[derive(Clone)]
pub(crate) struct Notifier {
    http: reqwest::Client,
    config: NotifyConfig,
}

#[derive(Debug, Serialize)]
struct Failure {
    server_id: u64,
    server_name: String,
    policy: String,
    kind: &'static str,
    error: String,
}

#[derive(Debug, Serialize)]
struct WebhookBody<'a> {
    event: &'a str,
    jobs: usize,
    failed: usize,
    /// The first failure, flat, for receivers that read one message.
    #[serde(skip_serializing_if = "Option::is_none")]
    server_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    failures: &'a [Failure],
    duration_ms: u64,
}

impl Notifier {
    /// None when `[notify]` asks for nothing.
    pub(crate) fn new(config: &NotifyConfig) -> Option<Notifier> {
        if config.webhook_url.is_none() && config.ping_url.is_none() {
            return None;
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("snapkeep/", env!("CARGO_PKG_VERSION")))
            .timeout(config.timeout)
            .build()
            .ok()?;
        Some(Notifier {
            http,
            config: config.clone(),
        })
    }

    /// `{ping_url}/start`.
    pub(crate) async fn pass_started(&self) {
        if let Some(ping) = &self.config.ping_url {
            self.send(self.http.post(format!("{ping}/start")), "ping start")
                .await;
        }
    }

    /// The webhook (on failures, or always with `on_success`) and the ping
    /// (`{ping_url}` or `{ping_url}/fail`).
    pub(crate) async fn pass_finished(&self, report: &PassReport) {
        let failures: Vec<Failure> = report
            .outcomes
            .iter()
            .filter_map(|o| {
                let e = o.error.as_ref()?;
                Some(Failure {
                    server_id: o.spec.server_id,
                    server_name: o.server_name.clone(),
                    policy: o.policy_name.clone(),
                    kind: e.kind(),
                    error: e.to_string(),
                })
            })
            .collect();
        let failed = !failures.is_empty();
        if let Some(url) = &self.config.webhook_url {
            if failed || self.config.on_success {
                let first = failures.first();
                let body = WebhookBody {
                    event: if failed {
                        "pass_failed"
                    } else {
                        "pass_succeeded"
                    },
                    jobs: report.outcomes.len(),
                    failed: failures.len(),
                    server_id: first.map(|f| f.server_id),
                    policy: first.map(|f| f.policy.as_str()),
                    error: first.map(|f| f.error.as_str()),
                    failures: &failures,
                    duration_ms: report.duration.as_millis() as u64,
                };
                self.send(self.http.post(url).json(&body), "webhook").await;
            }
        }
        if let Some(ping) = &self.config.ping_url {
            let url = if failed {
                format!("{ping}/fail")
            } else {
                ping.clone()
            };
            self.send(self.http.post(url), "ping").await;
        }
    }

    /// The webhook, for a scheduled fire that will not run (and the ping's
    /// `/fail`): an operator must hear of a slot that was never attempted.
    pub(crate) async fn fire_skipped(&self, server_id: u64, policy: &str, reason: &str) {
        if let Some(url) = &self.config.webhook_url {
            let body = serde_json::json!({
                "event": "fire_skipped",
                "server_id": server_id,
                "policy": policy,
                "error": reason,
            });
            self.send(self.http.post(url).json(&body), "webhook").await;
        }
        if let Some(ping) = &self.config.ping_url {
            self.send(self.http.post(format!("{ping}/fail")), "ping")
                .await;
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) {
        match request.send().await {
            Ok(r) if r.status().is_success() => {
                debug!(what, status = r.status().as_u16(), "notification delivered")
            }
            Ok(r) => warn!(
                what,
                status = r.status().as_u16(),
                "notification was not accepted; the pass is unaffected"
            ),
            Err(e) => {
                warn!(what, error = %e, "notification could not be delivered; the pass is unaffected")
            }
        }
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.config.timeout
    }
}
