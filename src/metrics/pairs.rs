//! The per-(account, server, policy) series, one small record per pair.
//!
//! Every configured pair has series (`policy_paused` at least; a last
//! success, item counts, stored bytes, a shortfall and a failing flag once
//! a job ran), so a daemon with a thousand pairs holds a thousand of each.
//! As one `prometheus_client` family per series, each series owning its
//! labels as three `String`s in a hash map, they took about 2.5 MiB for
//! 1000 pairs, most of an idle daemon's heap (BENCHMARKS.md, "Memory: the
//! arenas and the thresholds"). Here a pair is one record keyed by the
//! policy's interned names and the server id, and the labels are written
//! only when `/metrics` is scraped ([`PairFamily`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabel, EncodeLabelSet, EncodeMetric, LabelSetEncoder, MetricEncoder,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::config::{Config, DEFAULT_ACCOUNT};

/// A pair: (account, server id, policy). The names are shared with the
/// config's [`PolicyInfo`] (one allocation per policy, not per series).
pub(super) type PairKey = (Arc<str>, u64, Arc<str>);

/// `snapkeep_items{state}`, in [`Held::items`] order.
pub(super) const STATES: [&str; 5] = ["completed", "in_progress", "failed", "unknown", "not_ours"];

/// What a pair's latest successful job saw on its server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Held {
    /// Items by state ([`STATES`]).
    pub(super) items: [i64; 5],
    /// `snapkeep_stored_bytes`, labelled with the policy's kind.
    pub(super) stored: i64,
    pub(super) kind: &'static str,
    pub(super) keep_shortfall: i64,
}

/// One pair's series; `None`: the series does not exist (yet).
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct PairSeries {
    pub(super) last_success: Option<f64>,
    pub(super) held: Option<Held>,
    pub(super) job_failing: Option<bool>,
    pub(super) slots_failed: Option<u64>,
    pub(super) paused: Option<bool>,
}

/// A configured policy as the series need it.
#[derive(Debug)]
struct PolicyInfo {
    name: Arc<str>,
    account: Arc<str>,
    kind: &'static str,
    /// Sorted.
    servers: Vec<u64>,
}

/// Every pair's series, and the config they follow.
#[derive(Debug, Default)]
pub(super) struct Pairs {
    pub(super) series: BTreeMap<PairKey, PairSeries>,
    /// The config's policies, by name, once `follow` ran (before: every
    /// pair counts as configured, in the `default` account).
    policies: Option<BTreeMap<Arc<str>, PolicyInfo>>,
}

impl Pairs {
    /// The configured policy named `policy`, if the config has it.
    fn policy(&self, policy: &str) -> Option<&PolicyInfo> {
        self.policies.as_ref()?.get(policy)
    }

    /// The key of (`server`, `policy`) and the policy's kind: its account
    /// and interned names when the config has it, else the `default`
    /// account and `unknown`.
    pub(super) fn key(&self, server: u64, policy: &str) -> (PairKey, &'static str) {
        match self.policy(policy) {
            Some(info) => ((info.account.clone(), server, info.name.clone()), info.kind),
            None => (
                (Arc::from(DEFAULT_ACCOUNT), server, Arc::from(policy)),
                "unknown",
            ),
        }
    }

    pub(super) fn account_of(&self, policy: &str) -> String {
        self.policy(policy)
            .map_or(DEFAULT_ACCOUNT, |info| &*info.account)
            .to_owned()
    }

    /// Whether the config has the pair (always, before `follow` ran).
    pub(super) fn configured(&self, (account, server, policy): (&str, u64, &str)) -> bool {
        let Some(policies) = &self.policies else {
            return true;
        };
        policies.get(policy).is_some_and(|info| {
            &*info.account == account && info.servers.binary_search(&server).is_ok()
        })
    }

    /// Follows `config`: every series of a pair it no longer has goes,
    /// and every configured pair gets its paused flag. Returns the pairs
    /// taken away.
    pub(super) fn follow(&mut self, config: &Config) -> Vec<PairKey> {
        let policies = config
            .policies
            .iter()
            .map(|p| {
                let name: Arc<str> = Arc::from(p.name.as_str());
                let mut servers = p.servers.clone();
                servers.sort_unstable();
                let info = PolicyInfo {
                    name: name.clone(),
                    account: Arc::from(p.account.as_str()),
                    kind: p.kind.as_str(),
                    servers,
                };
                (name, info)
            })
            .collect();
        self.policies = Some(policies);
        let gone: Vec<PairKey> = self
            .series
            .keys()
            .filter(|k| !self.configured((&k.0, k.1, &k.2)))
            .cloned()
            .collect();
        for key in &gone {
            self.series.remove(key);
        }
        for p in &config.policies {
            for &server in &p.servers {
                let (key, _) = self.key(server, &p.name);
                self.series.entry(key).or_default().paused = Some(!p.enabled);
            }
        }
        gone
    }
}

/// The labels of a pair's series, plus one of its own (`kind`, `state`).
struct PairLabels<'a> {
    key: &'a PairKey,
    extra: Option<(&'static str, &'a str)>,
}

impl EncodeLabelSet for PairLabels<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> fmt::Result {
        let (account, server, policy) = self.key;
        ("account", &**account).encode(encoder.encode_label())?;
        ("server", *server).encode(encoder.encode_label())?;
        ("policy", &**policy).encode(encoder.encode_label())?;
        if let Some(label) = self.extra {
            label.encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

/// Which of a pair's series a [`PairFamily`] writes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Which {
    LastSuccess,
    Items,
    Stored,
    KeepShortfall,
    JobFailing,
    SlotsFailed,
    Paused,
}

impl Which {
    fn metric_type(self) -> MetricType {
        match self {
            Which::SlotsFailed => MetricType::Counter,
            _ => MetricType::Gauge,
        }
    }
}

/// One per-pair series as `/metrics` shows it: written from [`Pairs`] at
/// scrape time, in pair order; nothing (not even its `# HELP`) while no
/// pair has it, as an empty family.
#[derive(Debug)]
pub(super) struct PairFamily {
    pub(super) which: Which,
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    pub(super) pairs: Arc<Mutex<Pairs>>,
}

impl Which {
    /// Whether the pair has this series.
    fn has(self, s: &PairSeries) -> bool {
        match self {
            Which::LastSuccess => s.last_success.is_some(),
            Which::Items | Which::Stored | Which::KeepShortfall => s.held.is_some(),
            Which::JobFailing => s.job_failing.is_some(),
            Which::SlotsFailed => s.slots_failed.is_some(),
            Which::Paused => s.paused.is_some(),
        }
    }

    /// Writes the pair's series (one line; five for `items`).
    fn write(self, key: &PairKey, s: &PairSeries, family: &mut MetricEncoder) -> fmt::Result {
        let labels = |extra| PairLabels { key, extra };
        let gauge = |family: &mut MetricEncoder, v: i64| {
            ConstGauge::new(v).encode(family.encode_family(&labels(None))?)
        };
        match (self, s.held) {
            (Which::LastSuccess, _) => match s.last_success {
                Some(v) => ConstGauge::new(v).encode(family.encode_family(&labels(None))?),
                None => Ok(()),
            },
            (Which::Items, Some(h)) => {
                for (state, n) in STATES.iter().zip(h.items) {
                    let l = labels(Some(("state", state)));
                    ConstGauge::new(n).encode(family.encode_family(&l)?)?;
                }
                Ok(())
            }
            (Which::Stored, Some(h)) => {
                let l = labels(Some(("kind", h.kind)));
                ConstGauge::new(h.stored).encode(family.encode_family(&l)?)
            }
            (Which::KeepShortfall, Some(h)) => gauge(family, h.keep_shortfall),
            (Which::JobFailing, _) => s
                .job_failing
                .map_or(Ok(()), |v| gauge(family, i64::from(v))),
            (Which::SlotsFailed, _) => s.slots_failed.map_or(Ok(()), |v| {
                ConstCounter::new(v).encode(family.encode_family(&labels(None))?)
            }),
            (Which::Paused, _) => s.paused.map_or(Ok(()), |v| gauge(family, i64::from(v))),
            (Which::Items | Which::Stored | Which::KeepShortfall, None) => Ok(()),
        }
    }
}

impl Collector for PairFamily {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let pairs = self.pairs.lock().expect("metrics lock");
        let mut rows = pairs
            .series
            .iter()
            .filter(|(_, s)| self.which.has(s))
            .peekable();
        if rows.peek().is_none() {
            return Ok(());
        }
        // As a registry writes it: the help text ends with a full stop.
        let help = format!("{}.", self.help);
        let mut family =
            encoder.encode_descriptor(self.name, &help, None, self.which.metric_type())?;
        for (key, s) in rows {
            self.which.write(key, s, &mut family)?;
        }
        Ok(())
    }
}
