//! Telling people how passes went: messages people read (`[[notify.target]]`:
//! a JSON webhook, Slack-style chat, ntfy, email), the legacy `[notify]`
//! webhook, and healthchecks.io-style pings.
//!
//! Three steps, each its own module: what a pass *means* (`events`: pure,
//! with a memory so each event is said once — `failed` when a slot's
//! retries are over, `recovered` after it, `stale` once), how each kind of
//! target *says* it (`render`: pure), and delivery (here, and `email` for
//! SMTP). Delivery is best effort by design: a message that cannot be
//! delivered is retried briefly (3 tries, 1 s and 2 s apart), then logged
//! and counted (`snapkeep_notify_failures_total{target}`); it never blocks
//! or fails a pass. The daemon sends in the background; `--run-now` waits
//! for delivery at most [`Notifier::deadline`] so nothing is lost when the
//! process exits.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::config::{Channel, Config, EmailTarget, NotifyConfig, NotifyEvent, NotifyTarget};
use crate::metrics::Metrics;
use crate::pass::PassReport;

mod email;
mod notices;
mod render;

use notices::Notice;

/// At most this many messages per target for one pass (a fleet-wide
/// outage must not send 5000 emails); the rest are logged.
const MAX_MESSAGES_PER_PASS: usize = 20;

/// How many times a message is sent before it counts as not delivered.
const TRIES: usize = 3;

#[derive(Clone)]
pub(crate) struct Notifier {
    http: reqwest::Client,
    config: NotifyConfig,
    /// The legacy webhook (as a target named `webhook`) and `[[notify.target]]`.
    targets: Arc<[NotifyTarget]>,
    /// What earlier passes told (kept across a reload by the daemon).
    memory: Arc<Mutex<notices::Memory>>,
    metrics: Option<Arc<Metrics>>,
    /// The waits between tries.
    waits: [Duration; TRIES - 1],
}

/// One message to one target.
enum Outgoing {
    Post {
        url: String,
        body: Body,
        headers: Vec<(&'static str, String)>,
    },
    Email(Box<(EmailTarget, lettre::Message)>),
}

enum Body {
    Json(serde_json::Value),
    Text(String),
    Empty,
}

/// Why one try failed, and whether another may help.
struct Failed {
    error: String,
    retry: bool,
}

impl Notifier {
    /// None when `[notify]` asks for nothing.
    pub(crate) fn new(config: &NotifyConfig) -> Option<Notifier> {
        let targets = config.all_targets();
        if targets.is_empty() && config.ping_url.is_none() {
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
            targets: targets.into(),
            memory: Arc::default(),
            metrics: None,
            waits: [Duration::from_secs(1), Duration::from_secs(2)],
        })
    }

    /// The daemon's: failures counted in `metrics`, and what `before` (the
    /// notifier of the config before a reload) remembered carried over.
    pub(crate) fn for_daemon(
        config: &NotifyConfig,
        metrics: &Arc<Metrics>,
        before: Option<&Notifier>,
    ) -> Option<Notifier> {
        let mut n = Notifier::new(config)?;
        n.metrics = Some(Arc::clone(metrics));
        if let Some(before) = before {
            n.memory = Arc::clone(&before.memory);
        }
        Some(n)
    }

    /// `{ping_url}/start`.
    pub(crate) async fn pass_started(&self) {
        if let Some(ping) = &self.config.ping_url {
            self.deliver("ping", &post(format!("{ping}/start"), Body::Empty))
                .await;
        }
    }

    /// Every target's messages for a finished pass (the events of
    /// `notices::from_pass`, judged at `now` with the `config` the pass
    /// ran with), and the ping (`{ping_url}` or `{ping_url}/fail`).
    /// Failures of jobs in `retrying` ((server, policy index) the daemon
    /// fires again for the same slot) are not told: a slot is `failed`
    /// once, when its retries are over. A pass whose only failures are
    /// retried pings nothing and sends no `pass_succeeded`.
    pub(crate) async fn pass_finished(
        &self,
        report: &PassReport,
        retrying: &HashSet<(u64, usize)>,
        config: &Config,
        now: DateTime<Utc>,
    ) {
        let events = {
            let mut memory = self.memory.lock().expect("notify memory");
            let mut events = notices::from_pass(report, retrying, config, now, &mut memory);
            if config.several_accounts() {
                for e in &mut events {
                    e.account = config
                        .policies
                        .iter()
                        .find(|p| p.name == e.policy)
                        .map(|p| p.account.clone());
                }
            }
            events
        };
        let errors = report.outcomes.iter().filter(|o| o.error.is_some()).count();
        let failed = events.iter().any(|e| e.what == NotifyEvent::Failed);
        if !failed && errors > 0 {
            debug!(
                errors,
                "every failure of this pass is retried; no failure to tell yet"
            );
        }
        let pass = render::PassFacts {
            jobs: report.outcomes.len(),
            duration_ms: u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
        };
        let mut sends = JoinSet::new();
        for target in self.targets.iter() {
            let messages = self.messages(target, &events, Some((pass, errors == 0)));
            self.spawn(&mut sends, target.name.clone(), messages);
        }
        if let Some(ping) = &self.config.ping_url {
            if failed || errors == 0 {
                let url = if failed {
                    format!("{ping}/fail")
                } else {
                    ping.clone()
                };
                self.spawn(&mut sends, "ping".into(), vec![post(url, Body::Empty)]);
            }
        }
        while sends.join_next().await.is_some() {}
    }

    /// A scheduled fire that will not run: `fire_skipped` to every target
    /// that wants it (and the ping's `/fail`): an operator must hear of a
    /// slot that was never attempted. `account`: the policy's, when the
    /// config has several.
    pub(crate) async fn fire_skipped(
        &self,
        server_id: u64,
        policy: &str,
        account: Option<String>,
        reason: &str,
    ) {
        let event = notices::fire_skipped(server_id, policy, account, reason, Utc::now());
        let mut sends = JoinSet::new();
        for target in self.targets.iter() {
            let messages = self.messages(target, std::slice::from_ref(&event), None);
            self.spawn(&mut sends, target.name.clone(), messages);
        }
        if let Some(ping) = &self.config.ping_url {
            self.spawn(
                &mut sends,
                "ping".into(),
                vec![post(format!("{ping}/fail"), Body::Empty)],
            );
        }
        while sends.join_next().await.is_some() {}
    }

    /// The longest a caller should wait for a pass's messages: every try
    /// of a message and the waits between them.
    pub(crate) fn deadline(&self) -> Duration {
        self.config.timeout * TRIES as u32 + self.waits.iter().sum::<Duration>()
    }

    /// `target`'s messages for `events`. `pass`: the pass's facts and
    /// whether it had no error at all (for the webhook's per-pass body);
    /// `None` outside a pass.
    fn messages(
        &self,
        target: &NotifyTarget,
        events: &[Notice],
        pass: Option<(render::PassFacts, bool)>,
    ) -> Vec<Outgoing> {
        let wanted: Vec<&Notice> = events
            .iter()
            .filter(|e| target.events.contains(&e.what))
            .collect();
        let mut out = Vec::new();
        match &target.channel {
            Channel::Webhook { url } => {
                let failed: Vec<&Notice> = wanted
                    .iter()
                    .copied()
                    .filter(|e| e.what == NotifyEvent::Failed)
                    .collect();
                if let Some((facts, clean)) = pass {
                    let succeeded = target.events.contains(&NotifyEvent::Succeeded) && clean;
                    if !failed.is_empty() || succeeded {
                        out.push(post(
                            url.clone(),
                            Body::Json(render::webhook_pass(&failed, facts)),
                        ));
                    }
                }
                for e in wanted
                    .iter()
                    .filter(|e| !matches!(e.what, NotifyEvent::Failed | NotifyEvent::Succeeded))
                {
                    out.push(post(url.clone(), Body::Json(render::webhook_event(e))));
                }
            }
            Channel::Slack { url } => {
                for e in &wanted {
                    out.push(post(url.clone(), Body::Json(render::slack(e))));
                }
            }
            Channel::Ntfy { url } => {
                for e in &wanted {
                    let m = render::ntfy(e);
                    out.push(Outgoing::Post {
                        url: url.clone(),
                        body: Body::Text(m.body),
                        headers: vec![
                            ("Title", m.title),
                            ("Priority", m.priority.to_owned()),
                            ("Tags", m.tags),
                        ],
                    });
                }
            }
            Channel::Email(mail) => {
                for e in &wanted {
                    let (subject, body) = render::email(e);
                    match email::message(mail, &subject, body) {
                        Ok(m) => out.push(Outgoing::Email(Box::new((mail.clone(), m)))),
                        Err(error) => self.not_delivered(&target.name, &error.to_string()),
                    }
                }
            }
        }
        if out.len() > MAX_MESSAGES_PER_PASS {
            warn!(
                target = %target.name,
                left_out = out.len() - MAX_MESSAGES_PER_PASS,
                "more than {MAX_MESSAGES_PER_PASS} messages for one pass: the rest are not sent (see this log or snapkeep status)"
            );
            out.truncate(MAX_MESSAGES_PER_PASS);
        }
        out
    }

    fn spawn(&self, sends: &mut JoinSet<()>, target: String, messages: Vec<Outgoing>) {
        if messages.is_empty() {
            return;
        }
        let this = self.clone();
        sends.spawn(async move {
            for m in &messages {
                this.deliver(&target, m).await;
            }
        });
    }

    /// Sends `message`, trying again after a failure that may pass; the
    /// last failure is logged and counted.
    async fn deliver(&self, target: &str, message: &Outgoing) {
        for try_ in 0..TRIES {
            match self.send_once(message).await {
                Ok(()) => {
                    debug!(target, "notification delivered");
                    return;
                }
                Err(f) if f.retry && try_ + 1 < TRIES => {
                    debug!(target, error = %f.error, "notification not delivered; trying again");
                    tokio::time::sleep(self.waits[try_]).await;
                }
                Err(f) => {
                    self.not_delivered(target, &f.error);
                    return;
                }
            }
        }
    }

    fn not_delivered(&self, target: &str, error: &str) {
        warn!(
            target,
            error, "notification could not be delivered; the pass is unaffected"
        );
        if let Some(m) = &self.metrics {
            m.notify_failed(target);
        }
    }

    async fn send_once(&self, message: &Outgoing) -> Result<(), Failed> {
        match message {
            Outgoing::Post { url, body, headers } => {
                let mut request = self.http.post(url);
                for (name, value) in headers {
                    request = request.header(*name, value);
                }
                request = match body {
                    Body::Json(v) => request.json(v),
                    Body::Text(t) => request.body(t.clone()),
                    Body::Empty => request,
                };
                match request.send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => {
                        let status = r.status();
                        Err(Failed {
                            // Not the URL: a chat webhook's URL is its secret.
                            error: format!("answered {status}"),
                            // A 4xx will not change by itself (but a rate limit might).
                            retry: !status.is_client_error()
                                || status.as_u16() == 429
                                || status.as_u16() == 408,
                        })
                    }
                    Err(e) => Err(Failed {
                        error: e.without_url().to_string(),
                        retry: true,
                    }),
                }
            }
            Outgoing::Email(mail) => {
                let (target, m) = &**mail;
                email::send(target, m.clone(), self.config.timeout)
                    .await
                    .map_err(|e| Failed {
                        retry: !matches!(e, email::EmailError::Password { .. }),
                        error: e.to_string(),
                    })
            }
        }
    }
}

fn post(url: String, body: Body) -> Outgoing {
    Outgoing::Post {
        url,
        body,
        headers: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
