//! Telling people how a pass went: a JSON webhook and healthchecks.io-style
//! pings.
//!
//! Delivery is best effort by design: a notification that cannot be
//! delivered is logged and never blocks or fails a pass. The daemon fires
//! them in the background; `--run-now` waits for them (bounded by
//! `notify.timeout`) so they are not lost when the process exits.

use std::collections::HashSet;
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
    /// (`{ping_url}` or `{ping_url}/fail`). Failures of jobs in `retrying`
    /// ((server, policy index) the daemon fires again for the same slot)
    /// are not told: a slot is notified once, when its retries are over. A
    /// pass whose only failures are retried sends nothing at all (neither
    /// "failed" nor "succeeded").
    pub(crate) async fn pass_finished(
        &self,
        report: &PassReport,
        retrying: &HashSet<(u64, usize)>,
    ) {
        let retried = report
            .outcomes
            .iter()
            .filter(|o| o.error.is_some() && retrying.contains(&(o.spec.server_id, o.spec.policy)))
            .count();
        let failures: Vec<Failure> = report
            .outcomes
            .iter()
            .filter(|o| !retrying.contains(&(o.spec.server_id, o.spec.policy)))
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
        if !failed && retried > 0 {
            debug!(
                retried,
                "every failure of this pass is retried; nothing to tell yet"
            );
            return;
        }
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::rotation::{JobError, JobReport};
    use crate::runner::{JobOutcome, JobSpec};

    /// A receiver on loopback that records each request's path.
    async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = Arc::clone(&seen);
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let log = Arc::clone(&log);
            async move {
                log.lock().expect("lock").push(uri.path().to_owned());
                "ok"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), seen)
    }

    fn failed_pass() -> PassReport {
        let slot = "2025-02-01T03:00:00Z".parse().expect("time");
        PassReport {
            outcomes: vec![JobOutcome {
                spec: JobSpec::new(1, 0, slot),
                server_name: "web-01".into(),
                policy_name: "nightly".into(),
                report: JobReport::default(),
                error: Some(JobError::Contention {
                    server_id: 1,
                    rounds: 4,
                }),
                duration: Duration::ZERO,
            }],
            ..PassReport::default()
        }
    }

    #[tokio::test]
    async fn a_failure_that_is_retried_is_not_told_and_a_final_one_is_told_once() {
        let (base, seen) = receiver().await;
        let notifier = Notifier::new(&NotifyConfig {
            webhook_url: Some(format!("{base}/hook")),
            on_success: true,
            ping_url: Some(format!("{base}/ping")),
            timeout: Duration::from_secs(5),
        })
        .expect("configured");
        let report = failed_pass();
        notifier
            .pass_finished(&report, &HashSet::from([(1, 0)]))
            .await;
        assert_eq!(*seen.lock().expect("lock"), Vec::<String>::new());
        notifier.pass_finished(&report, &HashSet::new()).await;
        assert_eq!(*seen.lock().expect("lock"), ["/hook", "/ping/fail"]);
    }
}
