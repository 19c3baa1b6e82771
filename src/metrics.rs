//! Prometheus metrics and health state.
//!
//! An operator must never find out six months late that snapshots stopped:
//! `snapkeep_last_success_timestamp_seconds` per (server, policy) is the
//! number to alert on. API traffic is read from the client's own counters at
//! scrape time (they are shared across reloads, so they only grow), which
//! keeps the HTTP layer free of any metrics code. The per-(server, policy)
//! series follow the config (`Metrics::retain_pairs`, at start and on every
//! reload): a removed pair's series go, so neither a dashboard nor the
//! staleness alert shows a policy that no longer exists, and
//! `snapkeep_policy_paused` marks the pairs that are paused.
//! `snapkeep_stored_bytes` is what each pair's latest job saw of its
//! completed items' sizes (what VPS.org bills).

mod pairs;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

use crate::api::CallStats;
use crate::config::Config;
use crate::pass::PassReport;
use crate::provider::Kind;

use self::pairs::{Held, PairFamily, Pairs, Which};

/// `snapkeep_notify_failures_total`: per notification target.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotifyLabels {
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    endpoint: &'static str,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct SkipLabels {
    account: String,
    server: String,
    policy: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RetryLabels {
    account: String,
    server: String,
    policy: String,
    reason: String,
}

/// A slot the daemon will try again: what `/retries` and `status` show.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct RetryState {
    pub(crate) server_id: u64,
    pub(crate) policy: String,
    pub(crate) slot: chrono::DateTime<chrono::Utc>,
    /// The retry's number (1 = the first retry).
    pub(crate) attempt: u32,
    pub(crate) at: chrono::DateTime<chrono::Utc>,
    /// Why the last try failed (the job error's kind).
    pub(crate) reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    reason: &'static str,
}

#[derive(Debug, Default)]
struct ApiSeen {
    calls: BTreeMap<(&'static str, u16), u64>,
    retries: u64,
    undecodable: u64,
}

pub(crate) struct Metrics {
    registry: Registry,
    notify_failures: Family<NotifyLabels, Counter>,
    api_requests: Family<ApiLabels, Counter>,
    retries: Counter,
    pass_duration: Histogram,
    job_failures: Family<FailureLabels, Counter>,
    skipped_fires: Family<SkipLabels, Counter>,
    job_retries: Family<RetryLabels, Counter>,
    /// Slots waiting for their retry, by (server, policy).
    retrying: Mutex<BTreeMap<(u64, String), RetryState>>,
    /// Every `job_retries` series made (a reload removes a removed pair's).
    retry_series: Mutex<Vec<RetryLabels>>,
    undecodable: Counter,
    orphans: Family<KindLabels, Gauge>,
    /// The per-pair series (last success, items, stored bytes, shortfall,
    /// failing, slots failed, paused), one record per pair, and the config
    /// they follow: what `retain_pairs` takes away after a reload.
    pairs: Arc<Mutex<Pairs>>,
    /// Every skipped-fires series.
    skipped: Mutex<BTreeSet<SkipLabels>>,
    /// When orphans were last counted (an account-wide listing per kind).
    last_orphan_scan: Mutex<Option<Instant>>,
    /// What the API counters were at the previous scrape.
    api_seen: Mutex<ApiSeen>,
    /// Health: when the scheduler loop last went round.
    last_tick: Mutex<Instant>,
    /// Readiness: the provider answered 401 on the latest pass.
    unauthorized: AtomicBool,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut r = Registry::with_prefix("snapkeep");
        let pairs = Arc::new(Mutex::new(Pairs::default()));
        let pair = |r: &mut Registry, which, (name, help): Series| {
            r.register_collector(Box::new(PairFamily {
                which,
                name,
                help,
                pairs: pairs.clone(),
            }));
        };
        // Registered in this order: /metrics lists the series so.
        pair(&mut r, Which::LastSuccess, LAST_SUCCESS);
        pair(&mut r, Which::Items, ITEMS);
        pair(&mut r, Which::Stored, STORED);
        let notify_failures = register(&mut r, NOTIFY_FAILURES, Family::default());
        pair(&mut r, Which::KeepShortfall, KEEP_SHORTFALL);
        let api_requests = register(&mut r, API_REQUESTS, Family::default());
        let retries = register(&mut r, RETRIES, Counter::default());
        let pass_duration = register(
            &mut r,
            PASS_DURATION,
            Histogram::new(exponential_buckets(0.5, 2.0, 14)),
        );
        let job_failures = register(&mut r, JOB_FAILURES, Family::default());
        let skipped_fires = register(&mut r, SKIPPED_FIRES, Family::default());
        let job_retries = register(&mut r, JOB_RETRIES, Family::default());
        pair(&mut r, Which::JobFailing, JOB_FAILING);
        pair(&mut r, Which::SlotsFailed, SLOTS_FAILED);
        let undecodable = register(&mut r, UNDECODABLE, Counter::default());
        let orphans = register(&mut r, ORPHANS, Family::default());
        pair(&mut r, Which::Paused, PAUSED);
        Metrics {
            notify_failures,
            api_requests,
            retries,
            pass_duration,
            job_failures,
            skipped_fires,
            job_retries,
            undecodable,
            orphans,
            pairs,
            skipped: Mutex::default(),
            retrying: Mutex::default(),
            retry_series: Mutex::default(),
            last_orphan_scan: Mutex::new(None),
            api_seen: Mutex::default(),
            last_tick: Mutex::new(Instant::now()),
            unauthorized: AtomicBool::new(false),
            registry: r,
        }
    }

    /// Records a finished pass; `now_unix` is injected.
    pub(crate) fn record_pass(&self, report: &PassReport, now_unix: f64) {
        self.pass_duration.observe(report.duration.as_secs_f64());
        let mut unauthorized = false;
        let mut pairs = self.pairs.lock().expect("metrics lock");
        for o in &report.outcomes {
            let (key, kind) = pairs.key(o.spec.server_id, &o.policy_name);
            // A pass that began before a reload removed its pair does not
            // bring the pair's series back; a paused job made nothing.
            let removed = !pairs.configured((&key.0, key.1, &key.2));
            if let Some(e) = &o.error {
                unauthorized |= e.kind() == "unauthorized";
                self.job_failures
                    .get_or_create(&FailureLabels { reason: e.kind() })
                    .inc();
            }
            if removed || o.report.paused {
                continue;
            }
            let series = pairs.series.entry(key).or_default();
            series.job_failing = Some(o.error.is_some());
            if o.error.is_some() {
                continue;
            }
            self.retrying
                .lock()
                .expect("metrics lock")
                .remove(&(o.spec.server_id, o.policy_name.clone()));
            // A start that found nothing left to finish did not make or
            // confirm a restore point.
            if !o.report.nothing_to_resume {
                series.last_success = Some(now_unix);
            }
            let h = o.report.holdings;
            let n = i64::from;
            series.held = Some(Held {
                items: [h.completed, h.in_progress, h.failed, h.unknown, h.not_ours].map(n),
                stored: i64::try_from(h.stored_bytes).unwrap_or(i64::MAX),
                kind,
                keep_shortfall: n(h.shortfall),
            });
        }
        self.unauthorized.store(unauthorized, Ordering::Relaxed);
    }

    /// A failed job will be tried again for its slot (`daemon::retry`).
    pub(crate) fn retry_planned(&self, state: RetryState, reason: &'static str) {
        let account = self
            .pairs
            .lock()
            .expect("metrics lock")
            .account_of(&state.policy);
        let labels = RetryLabels {
            account,
            server: state.server_id.to_string(),
            policy: state.policy.clone(),
            reason: reason.to_owned(),
        };
        self.job_retries.get_or_create(&labels).inc();
        let mut series = self.retry_series.lock().expect("metrics lock");
        if !series.contains(&labels) {
            series.push(labels);
        }
        drop(series);
        self.retrying
            .lock()
            .expect("metrics lock")
            .insert((state.server_id, state.policy.clone()), state);
    }

    /// A failed job's slot has no retry left: it ended without its item.
    pub(crate) fn slot_failed(&self, server: u64, policy: &str) {
        self.retrying
            .lock()
            .expect("metrics lock")
            .remove(&(server, policy.to_owned()));
        let mut pairs = self.pairs.lock().expect("metrics lock");
        let (key, _) = pairs.key(server, policy);
        let failed = &mut pairs.series.entry(key).or_default().slots_failed;
        *failed = Some(failed.unwrap_or(0) + 1);
    }

    /// A retry that will not run (shutdown, a reload removed or paused
    /// its policy).
    pub(crate) fn retry_dropped(&self, server: u64, policy: &str) {
        self.retrying
            .lock()
            .expect("metrics lock")
            .remove(&(server, policy.to_owned()));
    }

    /// The slots waiting for a retry, by server then policy.
    pub(crate) fn retries(&self) -> Vec<RetryState> {
        self.retrying
            .lock()
            .expect("metrics lock")
            .values()
            .cloned()
            .collect()
    }

    /// A fire that will not run, and why.
    pub(crate) fn fire_skipped(&self, server: u64, policy: &str, reason: &str) {
        let account = self.pairs.lock().expect("metrics lock").account_of(policy);
        let labels = SkipLabels {
            account,
            server: server.to_string(),
            policy: policy.to_owned(),
            reason: reason.to_owned(),
        };
        self.skipped_fires.get_or_create(&labels).inc();
        self.skipped.lock().expect("metrics lock").insert(labels);
    }

    /// Makes the per-(server, policy) series follow `config` (at start and
    /// after every reload): `snapkeep_policy_paused` for every configured
    /// pair (1 paused, 0 running), and every series of a pair the config no
    /// longer has removed — its last success, items, paused flag and
    /// skipped fires, all but the `removed_by_reload` count that says a
    /// reload dropped one of its fires. (Prometheus then stops seeing
    /// them; `SnapkeepPolicyStale` alerts only on configured, running
    /// pairs.)
    pub(crate) fn retain_pairs(&self, config: &Config) {
        let mut pairs = self.pairs.lock().expect("metrics lock");
        for (account, server, policy) in pairs.follow(config) {
            self.retrying
                .lock()
                .expect("metrics lock")
                .remove(&(server, policy.to_string()));
            let server = server.to_string();
            self.retry_series.lock().expect("metrics lock").retain(|l| {
                let same = *l.account == *account && l.server == server && *l.policy == *policy;
                if same {
                    self.job_retries.remove(l);
                }
                !same
            });
        }
        self.skipped.lock().expect("metrics lock").retain(|l| {
            let keep = l.reason == "removed_by_reload"
                || l.server
                    .parse()
                    .is_ok_and(|server: u64| pairs.configured((&l.account, server, &l.policy)));
            if !keep {
                self.skipped_fires.remove(l);
            }
            keep
        });
    }

    /// Sets `snapkeep_orphans{kind}` from a listing of the whole account
    /// (`orphans::find(..).len()` for that kind).
    /// True at most once per `every`: time to count orphans again.
    pub(crate) fn orphan_scan_due(&self, every: Duration) -> bool {
        let mut last = self.last_orphan_scan.lock().expect("metrics lock");
        if last.is_some_and(|t| t.elapsed() < every) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    pub(crate) fn set_orphans(&self, kind: Kind, count: usize) {
        self.orphans
            .get_or_create(&KindLabels {
                kind: kind.as_str(),
            })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// A notification to `target` was not delivered (its retries too).
    pub(crate) fn notify_failed(&self, target: &str) {
        self.notify_failures
            .get_or_create(&NotifyLabels {
                target: target.to_owned(),
            })
            .inc();
    }

    pub(crate) fn tick(&self) {
        *self.last_tick.lock().expect("metrics lock") = Instant::now();
    }

    /// Healthy while the scheduler loop goes round (it wakes at least every 60 s).
    pub(crate) fn healthy(&self, max_silence: Duration) -> bool {
        self.last_tick.lock().expect("metrics lock").elapsed() <= max_silence
    }

    /// Ready unless the provider rejected the token on the latest pass.
    pub(crate) fn ready(&self) -> bool {
        !self.unauthorized.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition, API counters brought up to date first.
    pub(crate) fn render(&self, stats: &CallStats) -> String {
        {
            let mut seen = self.api_seen.lock().expect("metrics lock");
            for ((endpoint, status), n) in stats.snapshot() {
                let key = (endpoint.as_str(), status);
                let before = seen.calls.get(&key).copied().unwrap_or(0);
                if n > before {
                    self.api_requests
                        .get_or_create(&ApiLabels {
                            endpoint: key.0,
                            status: status.to_string(),
                        })
                        .inc_by(n - before);
                    seen.calls.insert(key, n);
                }
            }
            let retries = stats.retries();
            if retries > seen.retries {
                self.retries.inc_by(retries - seen.retries);
                seen.retries = retries;
            }
            let undecodable = stats.undecodable();
            if undecodable > seen.undecodable {
                self.undecodable.inc_by(undecodable - seen.undecodable);
                seen.undecodable = undecodable;
            }
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// A series' name (after the `snapkeep_` prefix) and its help text.
type Series = (&'static str, &'static str);

/// Registers `metric` under `series` and hands back the handle the
/// recorder keeps (a clone shares the same values). As a collector, like
/// the per-pair series: a registry writes its collectors after its plain
/// metrics, and `/metrics` lists every series in registration order.
fn register<M: Metric + Clone>(r: &mut Registry, (name, help): Series, metric: M) -> M {
    r.register_collector(Box::new(One {
        name,
        help,
        metric: metric.clone(),
    }));
    metric
}

/// One registered metric, written as a registry writes its own: nothing
/// (not even its `# HELP`) while it is an empty family.
#[derive(Debug)]
struct One<M> {
    name: &'static str,
    help: &'static str,
    metric: M,
}

impl<M: Metric> Collector for One<M> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        if self.metric.is_empty() {
            return Ok(());
        }
        // A registry ends every help text with a full stop.
        let help = format!("{}.", self.help);
        let family =
            encoder.encode_descriptor(self.name, &help, None, self.metric.metric_type())?;
        self.metric.encode(family)
    }
}

// The series `/metrics` exports (after the `snapkeep_` prefix), with their help.
const PAUSED: Series = (
    "policy_paused",
    "1 when the (server, policy) is paused (enabled = false: not fired, nothing pruned, not stale), 0 when it runs; one series per configured pair",
);
const SKIPPED_FIRES: Series = (
    "skipped_fires",
    "Scheduled fires that did not run (overtaken while the server was busy, shutdown; paused_by_reload, removed_by_reload: a reload paused or removed the policy)",
);
const JOB_RETRIES: Series = (
    "job_retries",
    "Failed jobs fired again for the same slot (retry_window), by why the try before failed",
);
const JOB_FAILING: Series = (
    "job_failing",
    "1 while the latest try of a (server, policy) failed (being retried, or its slot given up); 0 once a job succeeds",
);
const SLOTS_FAILED: Series = (
    "slots_failed",
    "Slots that ended without their restore point: the job failed and no retry is left in the slot's window",
);
const UNDECODABLE: Series = (
    "api_undecodable_items",
    "List items the provider sent that could not be read (skipped, never deleted)",
);
const LAST_SUCCESS: Series = (
    "last_success_timestamp_seconds",
    "Unix time of the last successful job per server and policy",
);
const ITEMS: Series = (
    "items",
    "Items on a server by state, from a policy's point of view (completed, in_progress, failed, unknown: ours; not_ours: everyone else's)",
);
const STORED: Series = (
    "stored_bytes",
    "Bytes a policy's completed items hold on a server, from VPS.org's size_mb (items without a size left out), as the policy's latest job saw them",
);
const NOTIFY_FAILURES: Series = (
    "notify_failures",
    "Notifications not delivered after their retries, by target (the pass is unaffected)",
);
const KEEP_SHORTFALL: Series = (
    "keep_shortfall",
    "How many fewer completed items a policy can hold on a server than its keep rules ask, because the cap is shared with items it may not delete (manual, other tools', protected, other policies')",
);
const API_REQUESTS: Series = (
    "api_requests",
    "VPS.org API requests by endpoint and HTTP status (0 = no answer)",
);
const RETRIES: Series = (
    "api_retries",
    "VPS.org API calls retried after a temporary failure",
);
const PASS_DURATION: Series = ("pass_duration_seconds", "Wall time of one pass");
const JOB_FAILURES: Series = ("job_failures", "Failed jobs by reason");
const ORPHANS: Series = (
    "orphans",
    "Items in snapkeep's naming format that no configured policy prunes (policy removed, or server no longer in its servers), by kind",
);

#[cfg(test)]
mod tests {
    use super::*;

    fn pass_on_server_1(stored_bytes: u64) -> PassReport {
        use crate::job::{Holdings, JobReport};
        use crate::pass::{JobOutcome, JobSpec};
        PassReport {
            outcomes: vec![JobOutcome {
                spec: JobSpec::new(1, 0, "2025-02-01T03:00:00Z".parse().expect("time")),
                server_name: "web-01".into(),
                policy_name: "n".into(),
                report: JobReport {
                    holdings: Holdings {
                        completed: 2,
                        stored_bytes,
                        ..Holdings::default()
                    },
                    ..JobReport::default()
                },
                error: None,
                duration: Duration::ZERO,
            }],
            ..PassReport::default()
        }
    }

    #[test]
    fn stored_bytes_per_account_server_policy_and_kind_follow_the_config() {
        let m = Metrics::new();
        let config = |text: &str| crate::config::parse_str(text, "t").expect("valid");
        m.retain_pairs(&config(
            "[[policy]]\nname = \"n\"\nkind = \"backup\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 2\n",
        ));
        m.record_pass(&pass_on_server_1(5_368_709_120), 0.0);
        let text = m.render(&CallStats::default());
        assert!(
            text.contains(
                "snapkeep_stored_bytes{account=\"default\",server=\"1\",policy=\"n\",kind=\"backup\"} 5368709120\n"
            ),
            "{text}"
        );
        m.retain_pairs(&config(
            "[[policy]]\nname = \"other\"\nkind = \"backup\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 2\n",
        ));
        let text = m.render(&CallStats::default());
        assert!(
            !text.contains("snapkeep_stored_bytes{"),
            "a removed pair's series goes: {text}"
        );
    }

    /// Every per-pair series carries the policy's account; a reload that
    /// moves the policy to another account takes the old account's series
    /// away.
    #[test]
    fn every_pair_series_says_the_policys_account() {
        let m = Metrics::new();
        let config = |account: &str| {
            crate::config::parse_str(
                &format!("[[account]]\nname = \"prod\"\ntoken_env = \"P\"\n[[account]]\nname = \"staging\"\ntoken_env = \"S\"\n[[policy]]\nname = \"n\"\naccount = \"{account}\"\nkind = \"backup\"\nservers = [1]\nschedule = \"0 3 * * *\"\nkeep_last = 2\n"),
                "t",
            )
            .expect("valid")
        };
        m.retain_pairs(&config("staging"));
        m.record_pass(&pass_on_server_1(1024), 7.0);
        m.fire_skipped(1, "n", "overtaken");
        let series = |m: &Metrics| -> Vec<String> {
            m.render(&CallStats::default())
                .lines()
                .filter(|l| l.contains("policy=\"n\"") && !l.contains("items{"))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            series(&m),
            [
                "snapkeep_last_success_timestamp_seconds{account=\"staging\",server=\"1\",policy=\"n\"} 7.0",
                "snapkeep_stored_bytes{account=\"staging\",server=\"1\",policy=\"n\",kind=\"backup\"} 1024",
                "snapkeep_keep_shortfall{account=\"staging\",server=\"1\",policy=\"n\"} 0",
                "snapkeep_skipped_fires_total{account=\"staging\",server=\"1\",policy=\"n\",reason=\"overtaken\"} 1",
                "snapkeep_job_failing{account=\"staging\",server=\"1\",policy=\"n\"} 0",
                "snapkeep_policy_paused{account=\"staging\",server=\"1\",policy=\"n\"} 0",
            ]
        );
        m.retain_pairs(&config("prod"));
        assert_eq!(
            series(&m),
            ["snapkeep_policy_paused{account=\"prod\",server=\"1\",policy=\"n\"} 0"]
        );
    }

    #[test]
    fn notify_failures_are_counted_per_target() {
        let m = Metrics::new();
        m.notify_failed("ops-mail");
        m.notify_failed("ops-mail");
        let text = m.render(&CallStats::default());
        assert!(
            text.contains("snapkeep_notify_failures_total{target=\"ops-mail\"} 2\n"),
            "{text}"
        );
    }

    #[test]
    fn orphans_gauge_per_kind() {
        let m = Metrics::new();
        m.set_orphans(Kind::Snapshot, 3);
        m.set_orphans(Kind::Backup, 0);
        let text = m.render(&CallStats::default());
        assert!(text.contains("# TYPE snapkeep_orphans gauge"), "{text}");
        assert!(
            text.contains("snapkeep_orphans{kind=\"snapshot\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("snapkeep_orphans{kind=\"backup\"} 0"),
            "{text}"
        );
    }
}
