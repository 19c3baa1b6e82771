//! The VPS.org HTTP client: endpoints, retries, rate limiting (pagination
//! in `client/pages.rs`).
//!
//! Everything snapkeep does to a provider goes through here, so this is where
//! the provider's undocumented behaviour is survived: lists that page (follow
//! `next`; pages that shift while walked are de-duplicated by id; a `count`
//! that lies is never trusted for allocation or fan-out), items that do not
//! decode (skipped and counted, never failing the list), answers that get
//! lost (a create is sent again only after an answer that proves it was not
//! applied; otherwise the caller looks for it), 429s (honour `Retry-After`,
//! whatever its form, within `retry_deadline`), flaky 5xx (exponential
//! backoff with jitter, bounded by a count and a deadline), and bodies that
//! are not JSON.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::error::ApiError;
use super::limiter::Limiter;
use super::models::{Backup, BackupType, RestoreAccepted, Snapshot};
use super::secret::ApiToken;

mod pages;
pub(crate) use pages::Keep;

/// The provider's production endpoint.
pub(crate) const DEFAULT_BASE_URL: &str = "https://admin.vps.org/api/v1";

/// Everything the client needs to know; built from `[api]` in the config.
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    pub(crate) base_url: String,
    pub(crate) token: ApiToken,
    /// Whole-request timeout (connect + send + read).
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    /// Retries after the first attempt, for temporary failures.
    pub(crate) max_retries: u32,
    /// Overall bound on one call including all its retries and waits.
    pub(crate) retry_deadline: Duration,
    /// How long VPS.org may take to show a new item in its lists: a create
    /// whose outcome is unknown is looked for this long before it is sent
    /// again (the caller does that; see `job`).
    pub(crate) list_lag: Duration,
    pub(crate) min_backoff: Duration,
    pub(crate) max_backoff: Duration,
    /// Process-wide request rate; 0 = unlimited.
    pub(crate) requests_per_second: f64,
    /// Process-wide cap on requests in flight.
    pub(crate) max_concurrency: usize,
    /// Where a 401 tells the operator to look: the account's token source
    /// (`token_env PROD_TOKEN of account prod`), never the token.
    pub(crate) token_check: String,
}

impl ClientSettings {
    /// Production defaults around a base URL and token.
    pub(crate) fn new(base_url: impl Into<String>, token: ApiToken) -> Self {
        ClientSettings {
            base_url: base_url.into(),
            token,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_retries: 5,
            retry_deadline: Duration::from_secs(300),
            list_lag: Duration::from_secs(30),
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            requests_per_second: 5.0,
            max_concurrency: 4,
            token_check: super::error::DEFAULT_TOKEN_CHECK.to_owned(),
        }
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    #[error("api.base_url {url:?} is not a valid URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error(
        "api.base_url {url:?} uses plain http: the token would travel unencrypted; use https (http is allowed only for a loopback host such as 127.0.0.1, e.g. the simulator)"
    )]
    Insecure { url: String },
    #[error("no API token: set VPS_API_TOKEN, api.token_file or api.token")]
    NoToken,
    #[error(
        "the API token contains characters not allowed in an HTTP header (control characters or non-ASCII); check VPS_API_TOKEN, api.token_file or api.token"
    )]
    TokenNotAHeader,
    #[error("could not set up the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

/// Checks a base URL: https anywhere, http only on loopback. Returns it with
/// a trailing slash so endpoint paths join under it.
pub(crate) fn validate_base_url(raw: &str) -> Result<Url, SetupError> {
    let mut url = Url::parse(raw).map_err(|e| SetupError::BadUrl {
        url: raw.to_owned(),
        reason: e.to_string(),
    })?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(SetupError::Insecure {
                url: raw.to_owned(),
            });
        }
        other => {
            return Err(SetupError::BadUrl {
                url: raw.to_owned(),
                reason: format!("scheme {other:?} is not http(s)"),
            });
        }
    }
    if url.host_str().is_none() {
        return Err(SetupError::BadUrl {
            url: raw.to_owned(),
            reason: "no host".into(),
        });
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The provider calls snapkeep makes; labels are stable (logs, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Endpoint {
    SnapshotsList,
    SnapshotsCreate,
    SnapshotsRestore,
    SnapshotsDelete,
    BackupsList,
    BackupsCreate,
    BackupsDelete,
    ServersRestore,
}

impl Endpoint {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Endpoint::SnapshotsList => "snapshots.list",
            Endpoint::SnapshotsCreate => "snapshots.create",
            Endpoint::SnapshotsRestore => "snapshots.restore",
            Endpoint::SnapshotsDelete => "snapshots.delete",
            Endpoint::BackupsList => "backups.list",
            Endpoint::BackupsCreate => "backups.create",
            Endpoint::BackupsDelete => "backups.delete",
            Endpoint::ServersRestore => "servers.restore",
        }
    }
}

/// Counts of calls by (endpoint, status); status 0 = no answer.
#[derive(Debug, Default)]
pub(crate) struct CallStats {
    calls: Mutex<BTreeMap<(Endpoint, u16), u64>>,
    retries: Mutex<u64>,
    /// List items that could not be decoded and were skipped.
    undecodable: AtomicU64,
}

impl CallStats {
    fn record(&self, ep: Endpoint, status: u16) {
        *self
            .calls
            .lock()
            .expect("stats lock")
            .entry((ep, status))
            .or_default() += 1;
    }

    fn record_retry(&self) {
        *self.retries.lock().expect("stats lock") += 1;
    }

    pub(crate) fn undecodable(&self) -> u64 {
        self.undecodable.load(Ordering::Relaxed)
    }

    pub(crate) fn snapshot(&self) -> BTreeMap<(Endpoint, u16), u64> {
        self.calls.lock().expect("stats lock").clone()
    }

    pub(crate) fn total(&self) -> u64 {
        self.calls.lock().expect("stats lock").values().sum()
    }

    pub(crate) fn retries(&self) -> u64 {
        *self.retries.lock().expect("stats lock")
    }
}

/// Cheap to clone; all clones share one connection pool, one limiter and one
/// set of counters. A clone made by [`Client::counting_into`] also counts
/// into counters of its own (one pass's, while other passes run).
#[derive(Clone)]
pub(crate) struct Client {
    inner: Arc<Inner>,
    also: Option<Arc<CallStats>>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    auth: HeaderValue,
    limiter: Limiter,
    settings: ClientSettings,
    stats: Arc<CallStats>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.base.as_str())
            .finish_non_exhaustive()
    }
}

/// When a create may go out: with its request's turn already taken (so it
/// is sent at once), and never after `send_by` — a hook's freeze ends then,
/// and nothing is sent after the thaw. A request already sent by then is
/// still answered. The default is "whenever, as usual".
#[derive(Default)]
pub(crate) struct SendWindow<'a> {
    pub(crate) turn: Option<tokio::sync::SemaphorePermit<'a>>,
    pub(crate) send_by: Option<Instant>,
}

/// Bounded exponential backoff with jitter for one call.
struct Retrier {
    delays: backon::ExponentialBackoff,
    deadline: Instant,
    /// `retry_deadline`, for the error that says it was exceeded.
    budget: Duration,
    attempt: u32,
}

impl Retrier {
    /// The wait before the next attempt, or the error to give up with: `err`
    /// itself when it is permanent or the count or deadline is spent, or a
    /// clear "Retry-After past retry_deadline" when the provider asked for
    /// more patience than we have (however absurd its number).
    fn next_delay(&mut self, err: ApiError) -> Result<Duration, ApiError> {
        if !err.is_temporary() {
            return Err(err);
        }
        let Some(backoff) = self.delays.next() else {
            return Err(err);
        };
        let wait = err.retry_after().map_or(backoff, |ra| ra.max(backoff));
        let fits = Instant::now()
            .checked_add(wait)
            .is_some_and(|at| at <= self.deadline);
        if !fits {
            return Err(match err {
                ApiError::RateLimited {
                    endpoint,
                    retry_after: Some(retry_after),
                } if retry_after >= backoff => ApiError::RetryAfterTooLong {
                    endpoint,
                    retry_after,
                    deadline: self.budget,
                },
                other => other,
            });
        }
        self.attempt += 1;
        Ok(wait)
    }
}

/// Reads a `Retry-After` value: delay-seconds (a number too large for any
/// clock saturates, so the caller's deadline check turns it down) or an HTTP
/// date. Negative, fractional or unreadable values count as absent.
pub(crate) fn parse_retry_after(raw: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let raw = raw.trim();
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(raw.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

impl Client {
    /// A client with counters of its own (tests; the app shares counters via `with_stats`).
    #[cfg(test)]
    pub(crate) fn new(settings: ClientSettings) -> Result<Client, SetupError> {
        Client::with_stats(settings, Arc::default())
    }

    /// A client that counts into `stats` — shared with an earlier client so
    /// counters stay monotonic across a config reload.
    pub(crate) fn with_stats(
        settings: ClientSettings,
        stats: Arc<CallStats>,
    ) -> Result<Client, SetupError> {
        let base = validate_base_url(&settings.base_url)?;
        if settings.token.is_empty() {
            return Err(SetupError::NoToken);
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", settings.token.expose()))
            .map_err(|_| SetupError::TokenNotAHeader)?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .user_agent(concat!("snapkeep/", env!("CARGO_PKG_VERSION")))
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(SetupError::Http)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                auth,
                limiter: Limiter::new(settings.requests_per_second, settings.max_concurrency),
                settings,
                stats,
            }),
            also: None,
        })
    }

    /// A clone that also counts its calls into `stats`: one pass's own API
    /// use, exact even while other passes share the client.
    pub(crate) fn counting_into(&self, stats: Arc<CallStats>) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            also: Some(stats),
        }
    }

    fn each_stats(&self) -> impl Iterator<Item = &CallStats> {
        std::iter::once(&*self.inner.stats).chain(self.also.as_deref())
    }

    /// Waits until a create or delete may start (see `Limiter::admit`);
    /// hold the permit until the operation ends.
    pub(crate) async fn admit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.inner.limiter.admit().await
    }

    /// Returns once no create or delete waits for admission: until then the
    /// queued work will take the whole request budget.
    pub(crate) async fn drained(&self) {
        self.inner.limiter.drained().await;
    }

    pub(crate) fn stats(&self) -> &Arc<CallStats> {
        &self.inner.stats
    }

    /// The settings this client was built with (`list_lag`, the retry
    /// budget a caller that re-sends a create shares with the client).
    pub(crate) fn settings(&self) -> &ClientSettings {
        &self.inner.settings
    }

    fn retrier(&self) -> Retrier {
        let s = &self.inner.settings;
        let delays = ExponentialBuilder::default()
            .with_min_delay(s.min_backoff)
            .with_max_delay(s.max_backoff)
            .with_max_times(s.max_retries as usize)
            .with_jitter()
            .build();
        Retrier {
            delays,
            deadline: Instant::now()
                .checked_add(s.retry_deadline)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365)),
            budget: s.retry_deadline,
            attempt: 0,
        }
    }

    /// Sleeps before the next attempt after `err`, or returns the error to
    /// give up with.
    async fn retry_after_sleep(
        &self,
        retry: &mut Retrier,
        label: &str,
        err: ApiError,
    ) -> Result<(), ApiError> {
        self.retry_after_sleep_by(retry, label, err, None).await
    }

    /// [`Client::retry_after_sleep`] for a call that must not be sent after
    /// `send_by`: a wait that would end later gives up at once.
    async fn retry_after_sleep_by(
        &self,
        retry: &mut Retrier,
        label: &str,
        err: ApiError,
        send_by: Option<Instant>,
    ) -> Result<(), ApiError> {
        let text = err.to_string();
        let wait = retry.next_delay(err)?;
        if let Some(by) = send_by {
            if Instant::now() + wait >= by {
                return Err(ApiError::SendWindowClosed {
                    endpoint: label.to_owned(),
                    what: format!("the next try ({text}) would come after its send-by time"),
                });
            }
        }
        for stats in self.each_stats() {
            stats.record_retry();
        }
        warn!(
            endpoint = label,
            attempt = retry.attempt,
            wait_ms = wait.as_millis() as u64,
            error = %text,
            "API call failed, retrying"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    fn url(&self, path: &str) -> Url {
        self.inner
            .base
            .join(path)
            .expect("endpoint paths are valid relative URLs")
    }

    /// One HTTP exchange: wait for the limiter, send, classify the answer.
    async fn exchange(
        &self,
        ep: Endpoint,
        label: &str,
        method: Method,
        url: Url,
        body: Option<&str>,
    ) -> Result<(u16, Vec<u8>), ApiError> {
        self.exchange_with(None, ep, label, method, url, body).await
    }

    /// [`Client::exchange`] with the limiter's permit already taken (the
    /// request's turn), or taken here when `None`.
    async fn exchange_with(
        &self,
        permit: Option<tokio::sync::SemaphorePermit<'_>>,
        ep: Endpoint,
        label: &str,
        method: Method,
        url: Url,
        body: Option<&str>,
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let _permit = match permit {
            Some(permit) => permit,
            None => self.inner.limiter.acquire().await,
        };
        let started = std::time::Instant::now();
        let mut req = self
            .inner
            .http
            .request(method.clone(), url)
            .header(AUTHORIZATION, self.inner.auth.clone())
            .header(CONTENT_TYPE, "application/json");
        if let Some(body) = body {
            req = req.body(body.to_owned());
        }
        let transport = |e: reqwest::Error| ApiError::Transport {
            endpoint: label.to_owned(),
            message: describe_transport(&e),
            // A connection never made cannot have carried the request.
            sent: !e.is_connect(),
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                for stats in self.each_stats() {
                    stats.record(ep, 0);
                }
                debug!(endpoint = label, method = %method, error = %describe_transport(&e), "API call got no answer");
                return Err(transport(e));
            }
        };
        let status = resp.status().as_u16();
        for stats in self.each_stats() {
            stats.record(ep, status);
        }
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        let bytes = resp.bytes().await.map_err(transport)?;
        debug!(
            endpoint = label,
            method = %method,
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "API call"
        );
        if (200..300).contains(&status) {
            Ok((status, bytes.to_vec()))
        } else {
            let mut error = ApiError::from_status(label.to_owned(), status, &bytes, retry_after);
            if let ApiError::Unauthorized { check, .. } = &mut error {
                check.clone_from(&self.inner.settings.token_check);
            }
            Err(error)
        }
    }

    fn decode<T: DeserializeOwned>(label: &str, bytes: &[u8]) -> Result<T, ApiError> {
        serde_json::from_slice(bytes).map_err(|e| ApiError::Decode {
            endpoint: label.to_owned(),
            message: format!("not the JSON expected: {e}"),
        })
    }

    /// All snapshots, or those of one server; in no particular order.
    #[cfg(test)]
    pub(crate) async fn list_snapshots(
        &self,
        server_id: Option<u64>,
    ) -> Result<Vec<Snapshot>, ApiError> {
        self.list_snapshots_where(server_id, None).await
    }

    /// Like `list_snapshots`, keeping only what `keep` accepts, page by page
    /// (a fleet's listing is never held whole when only a few items matter).
    pub(crate) async fn list_snapshots_where(
        &self,
        server_id: Option<u64>,
        keep: Keep<Snapshot>,
    ) -> Result<Vec<Snapshot>, ApiError> {
        let mut url = self.url("snapshots/");
        if let Some(id) = server_id {
            url.query_pairs_mut()
                .append_pair("server_id", &id.to_string());
        }
        let label = label(Endpoint::SnapshotsList, server_id);
        self.list_all(Endpoint::SnapshotsList, &label, url, keep)
            .await
    }

    /// All backups, optionally filtered by server and type; in no particular order.
    #[cfg(test)]
    pub(crate) async fn list_backups(
        &self,
        server_id: Option<u64>,
        backup_type: Option<BackupType>,
    ) -> Result<Vec<Backup>, ApiError> {
        self.list_backups_where(server_id, backup_type, None).await
    }

    /// Like `list_backups`, keeping only what `keep` accepts, page by page.
    pub(crate) async fn list_backups_where(
        &self,
        server_id: Option<u64>,
        backup_type: Option<BackupType>,
        keep: Keep<Backup>,
    ) -> Result<Vec<Backup>, ApiError> {
        let mut url = self.url("backups/");
        {
            let mut q = url.query_pairs_mut();
            if let Some(id) = server_id {
                q.append_pair("server_id", &id.to_string());
            }
            match backup_type {
                Some(BackupType::Manual) => {
                    q.append_pair("backup_type", "manual");
                }
                Some(BackupType::Automatic) => {
                    q.append_pair("backup_type", "automatic");
                }
                Some(BackupType::Other(_)) | None => {}
            }
        }
        let label = label(Endpoint::BackupsList, server_id);
        self.list_all(Endpoint::BackupsList, &label, url, keep)
            .await
    }

    /// Creates a snapshot named `name` (see [`Client::create`]).
    #[cfg(test)]
    pub(crate) async fn create_snapshot(
        &self,
        server_id: u64,
        name: &str,
        description: Option<&str>,
    ) -> Result<Snapshot, ApiError> {
        self.create_snapshot_in(SendWindow::default(), server_id, name, description)
            .await
    }

    /// [`Client::create_snapshot`] within a [`SendWindow`].
    pub(crate) async fn create_snapshot_in(
        &self,
        window: SendWindow<'_>,
        server_id: u64,
        name: &str,
        description: Option<&str>,
    ) -> Result<Snapshot, ApiError> {
        let mut body = json!({"server_id": server_id, "name": name});
        if let Some(d) = description {
            body["description"] = json!(d);
        }
        self.create(
            Endpoint::SnapshotsCreate,
            server_id,
            "snapshots/",
            body,
            window,
        )
        .await
    }

    /// Creates a manual backup; `description` is the ownership marker
    /// (backups have no name). See [`Client::create`].
    #[cfg(test)]
    pub(crate) async fn create_backup(
        &self,
        server_id: u64,
        description: &str,
    ) -> Result<Backup, ApiError> {
        self.create_backup_in(SendWindow::default(), server_id, description)
            .await
    }

    /// [`Client::create_backup`] within a [`SendWindow`].
    pub(crate) async fn create_backup_in(
        &self,
        window: SendWindow<'_>,
        server_id: u64,
        description: &str,
    ) -> Result<Backup, ApiError> {
        let body = json!({"server_id": server_id, "description": description});
        self.create(Endpoint::BackupsCreate, server_id, "backups/", body, window)
            .await
    }

    /// The limiter's permit for one request, taken now (its turn under the
    /// rate limit included): hold it to send a create the moment a pre hook
    /// has frozen the server ([`SendWindow::turn`]).
    pub(crate) async fn request_turn(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.inner.limiter.acquire().await
    }

    /// The one create path for both kinds. A create is sent again only
    /// after an answer that proves it was not applied (a 429, or a
    /// connection that was never made). Any other failure is returned at
    /// once: when [`ApiError::may_have_applied`] says so, the item may exist,
    /// and only the caller, who lists the server anyway while it waits, can
    /// find out — a blind retry would duplicate it.
    async fn create<T: DeserializeOwned>(
        &self,
        ep: Endpoint,
        server_id: u64,
        path: &str,
        body: serde_json::Value,
        window: SendWindow<'_>,
    ) -> Result<T, ApiError> {
        let label = label(ep, Some(server_id));
        // Serialized once: a JSON map is a B-tree node of ~600 bytes, held by
        // every create that waits for the limiter (thousands in a fleet pass).
        let body = body.to_string();
        let mut retry = self.retrier();
        let SendWindow { mut turn, send_by } = window;
        loop {
            if send_by.is_some_and(|by| Instant::now() >= by) {
                return Err(ApiError::SendWindowClosed {
                    endpoint: label,
                    what: "its send-by time passed first".to_owned(),
                });
            }
            let result = self
                .exchange_with(
                    turn.take(),
                    ep,
                    &label,
                    Method::POST,
                    self.url(path),
                    Some(body.as_str()),
                )
                .await
                .and_then(|(_, bytes)| Self::decode::<T>(&label, &bytes));
            match result {
                Ok(item) => return Ok(item),
                Err(e) if e.may_have_applied() => return Err(e),
                Err(e) => {
                    self.retry_after_sleep_by(&mut retry, &label, e, send_by)
                        .await?
                }
            }
        }
    }

    pub(crate) async fn delete_snapshot(&self, id: u64) -> Result<(), ApiError> {
        self.delete(Endpoint::SnapshotsDelete, &format!("snapshots/{id}/"), id)
            .await
    }

    pub(crate) async fn delete_backup(&self, id: u64) -> Result<(), ApiError> {
        self.delete(Endpoint::BackupsDelete, &format!("backups/{id}/"), id)
            .await
    }

    /// DELETE retries freely; a 404 on a retry means an earlier attempt
    /// landed and only its answer was lost, so it counts as done.
    async fn delete(&self, ep: Endpoint, path: &str, id: u64) -> Result<(), ApiError> {
        let label = format!("{} (id {id})", ep.as_str());
        let mut retry = self.retrier();
        let mut attempted = false;
        loop {
            match self
                .exchange(ep, &label, Method::DELETE, self.url(path), None)
                .await
            {
                Ok(_) => return Ok(()),
                Err(ApiError::NotFound { .. }) if attempted => {
                    debug!(endpoint = %label, "already gone after a lost answer; done");
                    return Ok(());
                }
                Err(e) => {
                    attempted |= e.may_have_applied();
                    self.retry_after_sleep(&mut retry, &label, e).await?;
                }
            }
        }
    }

    /// Restores a server from one of its snapshots. Not idempotent, so only
    /// a 429 (known not to have been applied) is retried.
    pub(crate) async fn restore_snapshot(&self, id: u64) -> Result<RestoreAccepted, ApiError> {
        let ep = Endpoint::SnapshotsRestore;
        let label = format!("{} (id {id})", ep.as_str());
        self.post_once_retry_429(ep, &label, &format!("snapshots/{id}/restore/"), None)
            .await
    }

    /// Restores a server from one of its backups (servers API).
    pub(crate) async fn restore_backup(
        &self,
        server_id: u64,
        backup_id: u64,
    ) -> Result<RestoreAccepted, ApiError> {
        let ep = Endpoint::ServersRestore;
        let label = label(ep, Some(server_id));
        let body = json!({"backup_id": backup_id}).to_string();
        self.post_once_retry_429(
            ep,
            &label,
            &format!("servers/{server_id}/restore/"),
            Some(body.as_str()),
        )
        .await
    }

    async fn post_once_retry_429(
        &self,
        ep: Endpoint,
        label: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<RestoreAccepted, ApiError> {
        let mut retry = self.retrier();
        loop {
            match self
                .exchange(ep, label, Method::POST, self.url(path), body)
                .await
            {
                Ok((_, bytes)) => return Self::decode(label, &bytes),
                Err(e @ ApiError::RateLimited { .. }) => {
                    self.retry_after_sleep(&mut retry, label, e).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn label(ep: Endpoint, server_id: Option<u64>) -> String {
    match server_id {
        Some(id) => format!("{} (server {id})", ep.as_str()),
        None => ep.as_str().to_owned(),
    }
}

/// reqwest's Display is terse ("error sending request"); the cause chain says
/// what actually happened (timeout, connection refused, reset).
fn describe_transport(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "transport error".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each call's backoff draws its own jitter (backon's `std` feature).
    /// Without it backon seeds every jitter with one constant: every call,
    /// account and instance hit by one outage waited exactly as long
    /// (740 ms, then 1948 ms) and came back in step.
    #[test]
    fn each_retry_sequence_draws_its_own_jitter() {
        let client = Client::new(ClientSettings::new(
            "http://127.0.0.1:9/api/v1",
            ApiToken::new("t"),
        ))
        .unwrap();
        let waits = || client.retrier().delays.take(3).collect::<Vec<_>>();
        let first = waits();
        assert_eq!(first.len(), 3);
        assert!(
            (0..4).any(|_| waits() != first),
            "five retry sequences all waited {first:?}"
        );
    }

    #[test]
    fn base_url_rules() {
        assert!(validate_base_url(DEFAULT_BASE_URL).is_ok());
        assert_eq!(
            validate_base_url("http://127.0.0.1:8080/api/v1")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/api/v1/"
        );
        assert!(validate_base_url("http://localhost/api/v1").is_ok());
        assert!(validate_base_url("http://[::1]:9/api/v1").is_ok());
        let err = validate_base_url("http://admin.vps.org/api/v1").unwrap_err();
        assert!(err.to_string().contains("plain http"), "{err}");
        assert!(validate_base_url("ftp://x/").is_err());
        assert!(validate_base_url("not a url").is_err());
    }

    #[test]
    fn retry_after_in_every_form() {
        let now: chrono::DateTime<chrono::Utc> = "2015-10-21T07:28:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("5", now), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        // Absurd, or too big even for u64 (saturates): the deadline check says no.
        assert_eq!(
            parse_retry_after("10000000000000000000", now),
            Some(Duration::from_secs(10_000_000_000_000_000_000))
        );
        assert_eq!(
            parse_retry_after("100000000000000000000", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        // A date in the past means now.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        for junk in ["-5", "soon", "1.5", "", "5s"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
    }

    #[test]
    fn a_retry_after_past_the_deadline_gives_up_with_a_clear_error() {
        let c = Client::new(ClientSettings::new(
            "http://127.0.0.1:1/api/v1",
            ApiToken::new("t"),
        ))
        .unwrap();
        let mut retry = c.retrier();
        let err = retry
            .next_delay(ApiError::RateLimited {
                endpoint: "snapshots.list".into(),
                retry_after: Some(Duration::from_secs(u64::MAX)),
            })
            .unwrap_err();
        assert!(matches!(err, ApiError::RetryAfterTooLong { .. }), "{err:?}");
        assert!(err.to_string().contains("retry_deadline"), "{err}");
        let wait = retry
            .next_delay(ApiError::RateLimited {
                endpoint: "snapshots.list".into(),
                retry_after: Some(Duration::from_secs(3)),
            })
            .unwrap();
        assert!(wait >= Duration::from_secs(3));
    }

    #[test]
    fn client_debug_has_no_token() {
        let c = Client::new(ClientSettings::new(
            "http://127.0.0.1:1/api/v1",
            ApiToken::new("canary-secret"),
        ))
        .unwrap();
        assert!(!format!("{c:?}").contains("canary"));
        assert!(!format!("{:?}", c.inner.settings).contains("canary"));
    }
}
