//! A small control API under `/_sim/` for a standalone `snapkeep sim`.
//!
//! In-process users steer the simulator through [`Simulator`](super::Simulator);
//! someone poking a standalone simulator with curl gets the same view here:
//! `GET /_sim/state`, `GET|DELETE /_sim/requests`, `GET|PUT /_sim/faults`.
//! These routes need no token, inject no faults and are not recorded, so
//! they never disturb what a test measures.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::faults::Faults;
use super::model::{SimBackup, SimServer, SimSnapshot};
use super::shared::Shared;

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sim/state", get(state))
        .route("/_sim/requests", get(requests).delete(clear_requests))
        .route("/_sim/faults", get(faults).put(put_faults))
}

#[derive(Serialize)]
struct HighWater {
    snapshots: usize,
    manual_backups: usize,
}

#[derive(Serialize)]
struct StateView {
    servers: Vec<SimServer>,
    snapshots: Vec<SimSnapshot>,
    backups: Vec<SimBackup>,
    high_water: BTreeMap<u64, HighWater>,
    requests_recorded: usize,
    requests_dropped: u64,
}

async fn state(State(sim): State<Arc<Shared>>) -> Json<StateView> {
    let inner = sim.lock();
    let servers = inner.worlds[0].servers();
    let high_water = servers
        .iter()
        .map(|s| {
            (
                s.id,
                HighWater {
                    snapshots: inner.worlds[0].max_snapshots_seen(s.id),
                    manual_backups: inner.worlds[0].max_manual_backups_seen(s.id),
                },
            )
        })
        .collect();
    Json(StateView {
        snapshots: inner.worlds[0]
            .snapshots(None)
            .into_iter()
            .cloned()
            .collect(),
        backups: inner.worlds[0]
            .backups(None, None)
            .into_iter()
            .cloned()
            .collect(),
        servers,
        high_water,
        requests_recorded: inner.log.len(),
        requests_dropped: inner.log.dropped(),
    })
}

async fn requests(State(sim): State<Arc<Shared>>) -> Response {
    Json(sim.lock().log.snapshot()).into_response()
}

async fn clear_requests(State(sim): State<Arc<Shared>>) -> StatusCode {
    sim.lock().log.clear();
    StatusCode::NO_CONTENT
}

async fn faults(State(sim): State<Arc<Shared>>) -> Json<Faults> {
    Json(sim.lock().faults.clone())
}

/// Replaces every fault with the JSON body (missing fields take defaults);
/// scripts start again from their first step.
async fn put_faults(State(sim): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(faults) => {
            let unknown: Vec<String> = faults
                .unknown_endpoint_keys()
                .into_iter()
                .map(str::to_owned)
                .collect();
            if !unknown.is_empty() {
                let detail = format!(
                    "per_endpoint has unknown keys {unknown:?}; use snapshots.list, \
                     snapshots.create, snapshots.delete, snapshots.restore, backups.list, \
                     backups.create, backups.delete or servers.restore"
                );
                return (
                    StatusCode::BAD_REQUEST,
                    Json(serde_json::json!({ "detail": detail })),
                )
                    .into_response();
            }
            sim.lock().set_faults(faults.clone());
            Json(faults).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "detail": format!("bad faults JSON: {e}") })),
        )
            .into_response(),
    }
}
