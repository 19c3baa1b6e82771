//! The HTTP face of the simulator: VPS.org's routes, auth, validation and
//! the fault pipeline every request goes through.
//!
//! Every API request takes the same path, so faults and recording cannot be
//! forgotten by one endpoint: wait out the injected latency, then under one
//! lock check the token, draw 429/error faults, do the endpoint's work (lists
//! shaped by the lag, page-shift, junk and count faults), draw
//! lost/applied-error/malformed faults, record the request, and finally
//! answer (or kill the connection). Where a fault script has a step for the
//! request, the step takes the place of both draws.

use std::sync::Arc;

use axum::Router;
use axum::body::{Bytes, to_bytes};
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::conn::ConnHandle;
use super::control;
use super::faults::{Endpoint, FaultSpec, Faults, InjectedFault, Scripted, roll};
use super::model::BackupType;
use super::pagination::{page_link, page_param, scramble, slice};
use super::record::RecordedRequest;
use super::shared::{Inner, Shared};
use super::state::Refusal;
use super::wire::{
    BACKUP_CREATED, BackupOut, BackupRestored, Detail, Page, SNAPSHOT_CREATED, SnapshotOut,
    SnapshotRestored,
};

/// Request bodies larger than this are refused; ours are tiny.
const MAX_BODY: usize = 1 << 20;
/// DRF's usual limit for a `CharField`.
const MAX_NAME_LEN: usize = 255;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/api/v1/snapshots/",
            get(snapshots_list).post(snapshots_create),
        )
        .route("/api/v1/snapshots/{id}/", delete(snapshots_delete))
        .route("/api/v1/snapshots/{id}/restore/", post(snapshots_restore))
        .route("/api/v1/backups/", get(backups_list).post(backups_create))
        .route("/api/v1/backups/{id}/", delete(backups_delete))
        .route("/api/v1/servers/{id}/restore/", post(servers_restore))
        .merge(control::router())
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
        .with_state(shared)
}

type Sim = State<Arc<Shared>>;

async fn snapshots_list(State(sim): Sim, req: Request) -> Response {
    serve(sim, Route::Api(Endpoint::SnapshotsList), None, req).await
}

async fn snapshots_create(State(sim): Sim, req: Request) -> Response {
    serve(sim, Route::Api(Endpoint::SnapshotsCreate), None, req).await
}

async fn snapshots_delete(State(sim): Sim, Path(id): Path<String>, req: Request) -> Response {
    serve(sim, Route::Api(Endpoint::SnapshotsDelete), Some(id), req).await
}

async fn snapshots_restore(State(sim): Sim, Path(id): Path<String>, req: Request) -> Response {
    serve(sim, Route::Api(Endpoint::SnapshotsRestore), Some(id), req).await
}

async fn backups_list(State(sim): Sim, req: Request) -> Response {
    serve(sim, Route::Api(Endpoint::BackupsList), None, req).await
}

async fn backups_create(State(sim): Sim, req: Request) -> Response {
    serve(sim, Route::Api(Endpoint::BackupsCreate), None, req).await
}

async fn backups_delete(State(sim): Sim, Path(id): Path<String>, req: Request) -> Response {
    serve(sim, Route::Api(Endpoint::BackupsDelete), Some(id), req).await
}

async fn servers_restore(State(sim): Sim, Path(id): Path<String>, req: Request) -> Response {
    serve(sim, Route::Api(Endpoint::ServersRestore), Some(id), req).await
}

async fn unknown_path(State(sim): Sim, req: Request) -> Response {
    serve(sim, Route::UnknownPath, None, req).await
}

async fn wrong_method(State(sim): Sim, req: Request) -> Response {
    serve(sim, Route::WrongMethod, None, req).await
}

#[derive(Clone, Copy)]
enum Route {
    Api(Endpoint),
    /// No such path (paths without the trailing slash land here too).
    UnknownPath,
    /// A known path with a method it does not take.
    WrongMethod,
}

/// One incoming request, read in full.
struct Call {
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Bytes,
    /// The `{id}` in the path, unparsed.
    path_id: Option<String>,
}

impl Call {
    fn query_pairs(&self) -> Result<Vec<(String, String)>, Refusal> {
        let uri = format!("/?{}", self.query)
            .parse()
            .map_err(|_| Refusal::bad_request("Malformed query string."))?;
        Query::<Vec<(String, String)>>::try_from_uri(&uri)
            .map(|q| q.0)
            .map_err(|_| Refusal::bad_request("Malformed query string."))
    }

    fn body_json(&self) -> Option<Value> {
        if self.body.is_empty() {
            return None;
        }
        Some(
            serde_json::from_slice(&self.body).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&self.body).into_owned())
            }),
        )
    }

    /// The body as a JSON object, as DRF's JSONParser + serializer see it.
    fn json_object(&self) -> Result<Map<String, Value>, Refusal> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        let content_type = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("application/json") {
            return Err(Refusal {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                detail: format!("Unsupported media type \"{content_type}\" in request."),
            });
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(other) => Err(Refusal::bad_request(format!(
                "Invalid data. Expected a dictionary, but got {}.",
                json_type(&other)
            ))),
            Err(e) => Err(Refusal::bad_request(format!("JSON parse error - {e}"))),
        }
    }

    fn path_id(&self) -> Option<u64> {
        self.path_id.as_deref().and_then(|s| s.parse().ok())
    }

    fn host(&self, sim: &Shared) -> String {
        self.headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map_or_else(|| sim.addr.to_string(), str::to_owned)
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// What the simulator decided to answer.
struct Answer {
    status: StatusCode,
    body: AnswerBody,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    /// A fault the endpoint itself injected while doing its work (a shifted
    /// page), for the request log; later faults replace it.
    fault: Option<InjectedFault>,
}

enum AnswerBody {
    Empty,
    Json(String),
    Html(String),
}

impl Answer {
    fn json(status: StatusCode, value: &impl Serialize) -> Answer {
        Answer {
            status,
            body: AnswerBody::Json(
                serde_json::to_string(value).expect("wire types always serialize"),
            ),
            headers: Vec::new(),
            fault: None,
        }
    }

    fn detail(status: StatusCode, detail: &str) -> Answer {
        Answer::json(status, &Detail { detail })
    }

    fn empty(status: StatusCode) -> Answer {
        Answer {
            status,
            body: AnswerBody::Empty,
            headers: Vec::new(),
            fault: None,
        }
    }

    fn html(status: StatusCode, html: String) -> Answer {
        Answer {
            status,
            body: AnswerBody::Html(html),
            headers: Vec::new(),
            fault: None,
        }
    }

    fn header(mut self, name: header::HeaderName, value: &str) -> Answer {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }
}

impl From<Refusal> for Answer {
    fn from(r: Refusal) -> Self {
        Answer::detail(r.status, &r.detail)
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            AnswerBody::Empty => self.status.into_response(),
            AnswerBody::Json(text) => (
                self.status,
                [(header::CONTENT_TYPE, "application/json")],
                text,
            )
                .into_response(),
            AnswerBody::Html(text) => (
                self.status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                text,
            )
                .into_response(),
        };
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// The one path every API request takes.
async fn serve(sim: Arc<Shared>, route: Route, path_id: Option<String>, req: Request) -> Response {
    let at = Utc::now();
    let (parts, body) = req.into_parts();
    let conn = parts
        .extensions
        .get::<ConnectInfo<ConnHandle>>()
        .map(|c| c.0.clone());
    let body = match to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(_) => {
            return Answer::detail(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large.")
                .into_response();
        }
    };
    let call = Call {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers,
        body,
        path_id,
    };

    if let Route::Api(endpoint) = route {
        let latency = sim.lock().faults.spec_for(endpoint).latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }

    let (answer, lost) = {
        let mut inner = sim.lock();
        // The token picks the account (its world) before anything reads one.
        let account = bearer(&call).and_then(|t| sim.account_of(t));
        inner.active = account.unwrap_or(0);
        let server_id = match route {
            Route::Api(endpoint) => server_of(&inner, endpoint, &call),
            _ => None,
        };
        let (mut answer, stage) = decide(&sim, &mut inner, route, &call, server_id);
        let mut fault = match stage {
            Stage::Injected(fault) => Some(fault),
            Stage::Refused => None,
            Stage::Handled(_) => answer.fault,
        };
        // What the endpoint answered: the status recorded even when a lost
        // response or an applied error keeps it from the client.
        let status = answer.status;
        let mut lost = false;
        if let (Route::Api(endpoint), Stage::Handled(step)) = (route, stage) {
            let after = match step {
                Some(step) => After::scripted(step),
                None => After::drawn(&mut inner, endpoint, &answer),
            };
            match after {
                After::Served => {}
                After::Lost => {
                    lost = true;
                    fault = Some(InjectedFault::LostResponse);
                }
                After::Error(status) if answer.status.is_success() => {
                    answer = injected_error(status);
                    fault = Some(InjectedFault::AppliedError);
                }
                After::Malformed if answer.status.is_success() => {
                    if let AnswerBody::Json(text) = &mut answer.body {
                        cut_in_half(text);
                        fault = Some(InjectedFault::Malformed);
                    }
                }
                After::Error(_) | After::Malformed => {}
            }
        }
        inner.log.push(RecordedRequest {
            method: call.method.to_string(),
            path: call.path.clone(),
            query: call.query.clone(),
            body: call.body_json(),
            status: status.as_u16(),
            at,
            server_id,
            account: account.map(|a| sim.accounts[a].0.clone()),
            endpoint: match route {
                Route::Api(endpoint) => Some(endpoint),
                _ => None,
            },
            fault,
        });
        (answer, lost)
    };

    if lost {
        match conn {
            Some(conn) => conn.kill(),
            None => tracing::warn!("lost-response fault without a killable connection"),
        }
    }
    answer.into_response()
}

/// The faults in force for `endpoint` now: its spec, or none once its
/// `max_faults` are spent (counted in the request log).
fn spec_now(inner: &Inner, endpoint: Endpoint) -> FaultSpec {
    inner
        .faults
        .spec_for(endpoint)
        .within_budget(|| inner.log.faults_on(endpoint))
}

/// How far a request got before its answer was decided.
#[derive(Clone, Copy)]
enum Stage {
    /// Unrouted, unauthenticated: no faults, no work.
    Refused,
    /// A 429 or error fault answered instead of the endpoint.
    Injected(InjectedFault),
    /// The endpoint ran (successfully or not); with the script's step for
    /// the request, if one decided it (then nothing is drawn after the work).
    Handled(Option<Scripted>),
}

/// What happens to an endpoint's answer after its work was done.
enum After {
    /// Sent as it is.
    Served,
    /// The connection dropped unanswered.
    Lost,
    /// Replaced by this error status (a 2xx answer only).
    Error(u16),
    /// Its JSON cut in half (a 2xx answer with a JSON body only).
    Malformed,
}

impl After {
    /// What a script's step does after the work (its 429 and error steps
    /// answered before it).
    fn scripted(step: Scripted) -> After {
        match step {
            Scripted::LostResponse => After::Lost,
            Scripted::AppliedError(status) => After::Error(status),
            Scripted::Malformed => After::Malformed,
            Scripted::Ok | Scripted::Error(_) | Scripted::RateLimit { .. } => After::Served,
        }
    }

    /// The spec's draws after the work, in their documented order; each
    /// draws only when it can apply to `answer`.
    fn drawn(inner: &mut Inner, endpoint: Endpoint, answer: &Answer) -> After {
        let spec = spec_now(inner, endpoint);
        if roll(&mut inner.rng, spec.lost_response_rate) {
            After::Lost
        } else if answer.status.is_success() && roll(&mut inner.rng, spec.applied_error_rate) {
            After::Error(spec.error_status)
        } else if answer.status.is_success()
            && matches!(answer.body, AnswerBody::Json(_))
            && roll(&mut inner.rng, spec.malformed_rate)
        {
            After::Malformed
        } else {
            After::Served
        }
    }
}

/// Auth, then the 429/error faults (a script's step for the request, or the
/// spec's draws), then the endpoint's own work.
fn decide(
    sim: &Shared,
    inner: &mut Inner,
    route: Route,
    call: &Call,
    server_id: Option<u64>,
) -> (Answer, Stage) {
    let endpoint = match route {
        Route::UnknownPath => {
            return (
                Answer::detail(StatusCode::NOT_FOUND, "Not found."),
                Stage::Refused,
            );
        }
        Route::WrongMethod => {
            if let Err(answer) = authenticate(sim, call) {
                return (answer, Stage::Refused);
            }
            let detail = format!("Method \"{}\" not allowed.", call.method);
            return (
                Answer::detail(StatusCode::METHOD_NOT_ALLOWED, &detail),
                Stage::Refused,
            );
        }
        Route::Api(endpoint) => endpoint,
    };
    if let Err(answer) = authenticate(sim, call) {
        return (answer, Stage::Refused);
    }
    let step = {
        let Inner {
            scripts, faults, ..
        } = &mut *inner;
        scripts.next(faults, endpoint, server_id)
    };
    match step {
        Some(Scripted::RateLimit { retry_after_secs }) => {
            let spec = FaultSpec::none().with_rate_limit(1.0, retry_after_secs);
            return (throttled(&spec), Stage::Injected(InjectedFault::RateLimit));
        }
        Some(Scripted::Error(status)) => {
            return (
                injected_error(status),
                Stage::Injected(InjectedFault::Error),
            );
        }
        Some(_) => {}
        None => {
            let spec = spec_now(inner, endpoint);
            if roll(&mut inner.rng, spec.rate_limit_rate) {
                return (throttled(&spec), Stage::Injected(InjectedFault::RateLimit));
            }
            if roll(&mut inner.rng, spec.error_rate) {
                return (
                    injected_error(spec.error_status),
                    Stage::Injected(InjectedFault::Error),
                );
            }
        }
    }
    let now = Instant::now();
    let wall = Utc::now();
    let result = match endpoint {
        Endpoint::SnapshotsList => list_snapshots(sim, inner, call, now),
        Endpoint::SnapshotsCreate => create_snapshot(inner, call, now, wall),
        Endpoint::SnapshotsDelete => delete_snapshot(inner, call, now),
        Endpoint::SnapshotsRestore => restore_snapshot(inner, call, now),
        Endpoint::BackupsList => list_backups(sim, inner, call, now),
        Endpoint::BackupsCreate => create_backup(inner, call, now, wall),
        Endpoint::BackupsDelete => delete_backup(inner, call, now),
        Endpoint::ServersRestore => restore_from_backup(inner, call, now),
    };
    (result.unwrap_or_else(Answer::from), Stage::Handled(step))
}

/// The bearer token of a request, if it has one.
fn bearer(call: &Call) -> Option<&str> {
    let header = call.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let mut words = header.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(scheme), Some(token), None) if scheme.eq_ignore_ascii_case("bearer") => Some(token),
        _ => None,
    }
}

/// DRF's bearer authentication: no/other scheme is "not provided", a token
/// no account has is "Invalid token.".
fn authenticate(sim: &Shared, call: &Call) -> Result<(), Answer> {
    let header = call
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut words = header.split_whitespace();
    let detail = match (words.next(), words.next(), words.next()) {
        (Some(scheme), Some(token), None) if scheme.eq_ignore_ascii_case("bearer") => {
            if sim.account_of(token).is_some() {
                return Ok(());
            }
            "Invalid token."
        }
        (Some(scheme), _, _) if scheme.eq_ignore_ascii_case("bearer") => {
            "Invalid token header. No credentials provided."
        }
        _ => "Authentication credentials were not provided.",
    };
    Err(Answer::detail(StatusCode::UNAUTHORIZED, detail)
        .header(header::WWW_AUTHENTICATE, "Bearer realm=\"api\""))
}

fn throttled(spec: &FaultSpec) -> Answer {
    if let Some(raw) = &spec.retry_after_raw {
        let answer = Answer::detail(StatusCode::TOO_MANY_REQUESTS, "Request was throttled.");
        if HeaderValue::from_str(raw).is_err() {
            tracing::warn!(
                value = raw,
                "retry_after_raw is not a valid header value; sending no Retry-After"
            );
        }
        return answer.header(header::RETRY_AFTER, raw);
    }
    let retry_after_secs = spec.retry_after_secs;
    if retry_after_secs == 0 {
        return Answer::detail(StatusCode::TOO_MANY_REQUESTS, "Request was throttled.");
    }
    let unit = if retry_after_secs == 1 {
        "second"
    } else {
        "seconds"
    };
    let detail = format!("Request was throttled. Expected available in {retry_after_secs} {unit}.");
    Answer::detail(StatusCode::TOO_MANY_REQUESTS, &detail)
        .header(header::RETRY_AFTER, &retry_after_secs.to_string())
}

/// What a failing Django app (500) or the proxy in front of it (502-504)
/// really sends: HTML, not JSON. Other statuses get a DRF-style detail.
fn injected_error(status: u16) -> Answer {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = status.canonical_reason().unwrap_or("Error");
    match status.as_u16() {
        500 => Answer::html(
            status,
            "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n\
             </head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n"
                .to_owned(),
        ),
        502..=504 => {
            let code = status.as_u16();
            Answer::html(
                status,
                format!(
                    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n\
                     <center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n\
                     </body>\r\n</html>\r\n"
                ),
            )
        }
        _ => Answer::detail(status, reason),
    }
}

/// Truncates JSON mid-way so it no longer parses.
fn cut_in_half(text: &mut String) {
    let mut cut = text.len() / 2;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
}

/// The server a request is about, for the log (best effort, before the work).
fn server_of(inner: &Inner, endpoint: Endpoint, call: &Call) -> Option<u64> {
    match endpoint {
        Endpoint::SnapshotsList | Endpoint::BackupsList => call
            .query_pairs()
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "server_id")
            .and_then(|(_, v)| v.parse().ok()),
        Endpoint::SnapshotsCreate | Endpoint::BackupsCreate => {
            call.body_json()?.get("server_id")?.as_u64()
        }
        Endpoint::SnapshotsDelete | Endpoint::SnapshotsRestore => {
            inner.world_ref().snapshot_owner(call.path_id()?)
        }
        Endpoint::BackupsDelete => inner.world_ref().backup_owner(call.path_id()?),
        Endpoint::ServersRestore => call.path_id(),
    }
}

/// `server_id` (and other integer filters): absent or empty means no filter.
fn int_filter(pairs: &[(String, String)], key: &str) -> Result<Option<u64>, Refusal> {
    match pairs.iter().rev().find(|(k, _)| k == key) {
        None => Ok(None),
        Some((_, v)) if v.is_empty() => Ok(None),
        Some((_, v)) => v
            .parse()
            .map(Some)
            .map_err(|_| Refusal::bad_request(format!("{key} must be an integer."))),
    }
}

fn backup_type_filter(pairs: &[(String, String)]) -> Result<Option<BackupType>, Refusal> {
    match pairs.iter().rev().find(|(k, _)| k == "backup_type") {
        None => Ok(None),
        Some((_, v)) if v.is_empty() => Ok(None),
        Some((_, v)) if v == "manual" => Ok(Some(BackupType::Manual)),
        Some((_, v)) if v == "automatic" => Ok(Some(BackupType::Automatic)),
        Some((_, v)) => Err(Refusal::bad_request(format!(
            "backup_type must be \"manual\" or \"automatic\", not \"{v}\"."
        ))),
    }
}

/// One entry of a list page: a real item, or a raw junk value.
#[derive(Serialize)]
#[serde(untagged)]
enum Row<'a, O> {
    Item(O),
    Junk(&'a Value),
}

/// Pages `items` (already filtered and scrambled), then the junk items, with
/// the page-shift and count faults applied.
fn paged<'a, T, O: Serialize>(
    sim: &Shared,
    call: &Call,
    pairs: &[(String, String)],
    faults: &Faults,
    rng: &mut fastrand::Rng,
    items: Vec<&'a T>,
    out: impl Fn(&'a T) -> O,
) -> Result<Answer, Refusal> {
    let param = page_param(pairs)?;
    let junk = &faults.junk_items;
    let total = items.len() + junk.len();
    let page = slice(total, param, faults.page_size)?;
    let mut range = page.range;
    let mut fault = None;
    // Pages 2..n only; `slice` never yields an empty page past the first,
    // so both shifts stay within 0..=total.
    if page.previous.is_some() && roll(rng, faults.page_shift_rate) {
        range = if rng.bool() {
            range.start - 1..range.end - 1
        } else {
            (range.start + 1).min(total)..(range.end + 1).min(total)
        };
        fault = Some(InjectedFault::PageShift);
    }
    let host = call.host(sim);
    let link = |n: usize| page_link(&host, &call.path, &call.query, n);
    let body = Page {
        count: faults.count_inflation.unwrap_or(total as u64),
        next: page.next.map(link),
        previous: page.previous.map(link),
        results: range
            .map(|i| match items.get(i) {
                Some(item) => Row::Item(out(*item)),
                None => Row::Junk(&junk[i - items.len()]),
            })
            .collect(),
    };
    let mut answer = Answer::json(StatusCode::OK, &body);
    answer.fault = fault;
    Ok(answer)
}

fn list_snapshots(
    sim: &Shared,
    inner: &mut Inner,
    call: &Call,
    now: Instant,
) -> Result<Answer, Refusal> {
    let pairs = call.query_pairs()?;
    let server_id = int_filter(&pairs, "server_id")?;
    let Inner {
        worlds,
        active,
        faults,
        rng,
        ..
    } = inner;
    let mut items = worlds[*active].listed_snapshots(server_id, now, faults.list_lag);
    scramble(&mut items, |s| s.id);
    paged(sim, call, &pairs, faults, rng, items, |s| {
        SnapshotOut::new(s, None)
    })
}

fn list_backups(
    sim: &Shared,
    inner: &mut Inner,
    call: &Call,
    now: Instant,
) -> Result<Answer, Refusal> {
    let pairs = call.query_pairs()?;
    let server_id = int_filter(&pairs, "server_id")?;
    let backup_type = backup_type_filter(&pairs)?;
    let Inner {
        worlds,
        active,
        faults,
        rng,
        ..
    } = inner;
    let mut items = worlds[*active].listed_backups(server_id, backup_type, now, faults.list_lag);
    scramble(&mut items, |b| b.id);
    paged(sim, call, &pairs, faults, rng, items, |b| {
        BackupOut::new(b, None)
    })
}

fn required_int(body: &Map<String, Value>, key: &str) -> Result<u64, Refusal> {
    match body.get(key) {
        None | Some(Value::Null) => Err(Refusal::bad_request(format!("{key} is required."))),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| Refusal::bad_request(format!("{key} must be an integer."))),
    }
}

fn optional_string(body: &Map<String, Value>, key: &str) -> Result<String, Refusal> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Refusal::bad_request(format!("{key} must be a string."))),
    }
}

fn snapshot_name(body: &Map<String, Value>) -> Result<String, Refusal> {
    let name = match body.get("name") {
        None | Some(Value::Null) => return Err(Refusal::bad_request("name is required.")),
        Some(Value::String(s)) => s,
        Some(_) => return Err(Refusal::bad_request("name must be a string.")),
    };
    if name.is_empty() {
        return Err(Refusal::bad_request("name may not be blank."));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(Refusal::bad_request(format!(
            "name may have at most {MAX_NAME_LEN} characters."
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Refusal::bad_request(
            "name may contain only letters, digits, hyphens and underscores.",
        ));
    }
    Ok(name.clone())
}

fn create_snapshot(
    inner: &mut Inner,
    call: &Call,
    now: Instant,
    wall: DateTime<Utc>,
) -> Result<Answer, Refusal> {
    let body = call.json_object()?;
    let server_id = required_int(&body, "server_id")?;
    let name = snapshot_name(&body)?;
    let description = optional_string(&body, "description")?;
    let fate = inner.faults.fate_for(server_id);
    let created = inner
        .world()
        .create_snapshot(server_id, name, description, fate, now, wall)?;
    Ok(Answer::json(
        StatusCode::CREATED,
        &SnapshotOut::new(&created, Some(SNAPSHOT_CREATED)),
    ))
}

fn create_backup(
    inner: &mut Inner,
    call: &Call,
    now: Instant,
    wall: DateTime<Utc>,
) -> Result<Answer, Refusal> {
    let body = call.json_object()?;
    let server_id = required_int(&body, "server_id")?;
    let description = optional_string(&body, "description")?;
    let fate = inner.faults.fate_for(server_id);
    let created = inner
        .world()
        .create_backup(server_id, description, fate, now, wall)?;
    Ok(Answer::json(
        StatusCode::CREATED,
        &BackupOut::new(&created, Some(BACKUP_CREATED)),
    ))
}

fn id_or_404(call: &Call) -> Result<u64, Refusal> {
    call.path_id()
        .ok_or_else(|| Refusal::not_found("Not found."))
}

fn delete_snapshot(inner: &mut Inner, call: &Call, now: Instant) -> Result<Answer, Refusal> {
    inner.world().delete_snapshot(id_or_404(call)?, now)?;
    Ok(Answer::empty(StatusCode::NO_CONTENT))
}

fn delete_backup(inner: &mut Inner, call: &Call, now: Instant) -> Result<Answer, Refusal> {
    inner.world().delete_backup(id_or_404(call)?, now)?;
    Ok(Answer::empty(StatusCode::NO_CONTENT))
}

fn restore_snapshot(inner: &mut Inner, call: &Call, now: Instant) -> Result<Answer, Refusal> {
    let (snapshot, server) = inner.world().restore_snapshot(id_or_404(call)?, now)?;
    Ok(Answer::json(
        StatusCode::OK,
        &SnapshotRestored::new(&snapshot, &server),
    ))
}

fn restore_from_backup(inner: &mut Inner, call: &Call, now: Instant) -> Result<Answer, Refusal> {
    let server_id = call
        .path_id()
        .filter(|id| inner.world_ref().has_server(*id))
        .ok_or_else(|| Refusal::not_found("Server not found."))?;
    let body = call.json_object()?;
    let backup_id = required_int(&body, "backup_id")?;
    let (backup, server) = inner.world().restore_backup(server_id, backup_id, now)?;
    Ok(Answer::json(
        StatusCode::OK,
        &BackupRestored::new(&backup, &server),
    ))
}
