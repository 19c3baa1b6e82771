//! The request log: what the client actually sent and what it got back.
//!
//! Tests assert on behaviour through this log ("never deleted an automatic
//! backup", "retried after the 429", "one create per slot"), so every API
//! request is recorded, including the ones answered with an injected fault.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::faults::{Endpoint, InjectedFault};

/// One API request as the simulator saw it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `"POST"`.
    pub method: String,
    /// Path without the query, e.g. `"/api/v1/snapshots/"`.
    pub path: String,
    /// Raw query string without `?` (empty when none).
    pub query: String,
    /// Request body: parsed JSON, a JSON string holding the raw text when it
    /// is not JSON, `None` when empty.
    pub body: Option<serde_json::Value>,
    /// Status the simulator answered; for a lost response the status it
    /// would have sent (the client saw none), for an applied error the 2xx
    /// the endpoint produced (the client saw `error_status`).
    pub status: u16,
    /// When the request arrived (before any injected latency).
    pub at: DateTime<Utc>,
    /// The server the request was about, when known (query, body, path, or
    /// the owner of the snapshot/backup it names).
    pub server_id: Option<u64>,
    /// The account whose token the request carried (`default` for the
    /// primary token), `None` when it carried no valid one.
    pub account: Option<String>,
    /// The endpoint, `None` for unknown paths and wrong methods.
    pub endpoint: Option<Endpoint>,
    /// The fault injected into the answer, if any.
    pub fault: Option<InjectedFault>,
}

/// How many requests are kept unless told otherwise; older ones are dropped
/// so a long benchmark does not grow without bound.
pub const DEFAULT_RECORD_LIMIT: usize = 200_000;

/// Recorded requests, oldest first, bounded.
pub(crate) struct RequestLog {
    entries: VecDeque<RecordedRequest>,
    limit: usize,
    dropped: u64,
    /// Faults injected per endpoint, also for entries dropped or not kept
    /// (`FaultSpec::max_faults` counts these).
    faults: std::collections::BTreeMap<crate::faults::Endpoint, u64>,
}

impl RequestLog {
    pub(crate) fn new() -> Self {
        RequestLog {
            entries: VecDeque::new(),
            limit: DEFAULT_RECORD_LIMIT,
            dropped: 0,
            faults: Default::default(),
        }
    }

    pub(crate) fn push(&mut self, request: RecordedRequest) {
        if let (Some(endpoint), Some(_)) = (request.endpoint, request.fault) {
            *self.faults.entry(endpoint).or_default() += 1;
        }
        if self.limit == 0 {
            self.dropped += 1;
            return;
        }
        while self.entries.len() >= self.limit {
            self.entries.pop_front();
            self.dropped += 1;
        }
        self.entries.push_back(request);
    }

    pub(crate) fn snapshot(&self) -> Vec<RecordedRequest> {
        self.entries.iter().cloned().collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.dropped = 0;
        self.faults.clear();
    }

    /// How many faults were injected into `endpoint`'s answers.
    pub(crate) fn faults_on(&self, endpoint: crate::faults::Endpoint) -> u64 {
        self.faults.get(&endpoint).copied().unwrap_or(0)
    }

    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
        while self.entries.len() > limit {
            self.entries.pop_front();
            self.dropped += 1;
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(status: u16) -> RecordedRequest {
        RecordedRequest {
            method: "GET".into(),
            path: "/".into(),
            query: String::new(),
            body: None,
            status,
            account: None,
            at: Utc::now(),
            server_id: None,
            endpoint: None,
            fault: None,
        }
    }

    #[test]
    fn keeps_the_newest_within_the_limit() {
        let mut log = RequestLog::new();
        log.set_limit(2);
        for s in [200, 201, 204] {
            log.push(req(s));
        }
        let kept: Vec<u16> = log.snapshot().iter().map(|r| r.status).collect();
        assert_eq!(kept, [201, 204]);
        assert_eq!(log.dropped(), 1);
        log.clear();
        assert!(log.snapshot().is_empty());
    }
}
