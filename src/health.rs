//! The metrics/health HTTP endpoint (`[metrics] listen`): `/metrics`
//! (Prometheus text), `/healthz` (the scheduler loop is ticking) and
//! `/readyz` (config loaded and the provider accepts the token), and
//! `/retries` (JSON: the slots waiting for a retry, which `snapkeep status`
//! shows when it can reach the daemon), and the status page: `/` (HTML,
//! `status_page`) and `/status.json` (what `snapkeep status --json`
//! prints), both built per request from the daemon's latest account listing
//! (`status::Board`) — a request never calls the provider.
//! Meant for loopback or a cluster network; it exposes no secrets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::api::CallStats;
use crate::metrics::Metrics;
use crate::status::Board;
use crate::status_page;

/// The loop wakes at least every 60 s; allow one missed wake-up.
const MAX_SILENCE: Duration = Duration::from_secs(150);

#[derive(Clone)]
struct Shared {
    metrics: Arc<Metrics>,
    stats: Arc<CallStats>,
    board: Arc<Board>,
}

/// Binds `listen` and serves until the runtime ends. Returns the bound address.
pub(crate) async fn serve(
    listen: SocketAddr,
    metrics: Arc<Metrics>,
    stats: Arc<CallStats>,
    board: Arc<Board>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/retries", get(retries))
        .route("/", get(page))
        .route("/status.json", get(status_json))
        .with_state(Shared {
            metrics,
            stats,
            board,
        });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(%addr, error = %e, "metrics endpoint stopped");
        }
    });
    Ok(addr)
}

async fn metrics_page(State(s): State<Shared>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(&s.stats),
    )
}

async fn retries(State(s): State<Shared>) -> impl IntoResponse {
    axum::Json(s.metrics.retries())
}

/// Until the daemon's first account listing (moments after it starts).
const NO_LISTING_YET: &str = "no account listing yet: the daemon lists the account moments after it starts (and after each pass)\n";

async fn page(State(s): State<Shared>) -> Response {
    let Some(listing) = s.board.latest() else {
        return (StatusCode::SERVICE_UNAVAILABLE, NO_LISTING_YET).into_response();
    };
    let now = chrono::Utc::now();
    let report = listing.report(now, &s.metrics.retries());
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::response::Html(status_page::render(&report, listing.at, now)),
    )
        .into_response()
}

async fn status_json(State(s): State<Shared>) -> Response {
    let Some(listing) = s.board.latest() else {
        return (StatusCode::SERVICE_UNAVAILABLE, NO_LISTING_YET).into_response();
    };
    let report = listing.report(chrono::Utc::now(), &s.metrics.retries());
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(report)).into_response()
}

async fn healthz(State(s): State<Shared>) -> impl IntoResponse {
    if s.metrics.healthy(MAX_SILENCE) {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "scheduler loop is not ticking\n",
        )
    }
}

async fn readyz(State(s): State<Shared>) -> impl IntoResponse {
    if s.metrics.ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "VPS.org rejects the API token (401)\n",
        )
    }
}
