//! The metrics/health HTTP endpoint (`[metrics] listen`): `/metrics`
//! (Prometheus text), `/healthz` (the scheduler loop is ticking) and
//! `/readyz` (config loaded and the provider accepts the token), and
//! `/retries` (JSON: the slots waiting for a retry, which `snapkeep status`
//! shows when it can reach the daemon).
//! Meant for loopback or a cluster network; it exposes no secrets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::api::CallStats;
use crate::metrics::Metrics;

/// The loop wakes at least every 60 s; allow one missed wake-up.
const MAX_SILENCE: Duration = Duration::from_secs(150);

#[derive(Clone)]
struct Shared {
    metrics: Arc<Metrics>,
    stats: Arc<CallStats>,
}

/// Binds `listen` and serves until the runtime ends. Returns the bound address.
pub(crate) async fn serve(
    listen: SocketAddr,
    metrics: Arc<Metrics>,
    stats: Arc<CallStats>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/retries", get(retries))
        .with_state(Shared { metrics, stats });
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
