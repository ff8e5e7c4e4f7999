//! Test hooks under `/_sim/` on both listeners (not part of the real APIs, no auth).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::faults::FaultSpec;
use crate::world::Sim;

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/_sim/reset", post(reset))
        .route("/_sim/inventory", get(inventory))
        .route("/_sim/stats", get(stats))
        .route(
            "/_sim/faults",
            get(list_faults).post(add_faults).delete(clear_faults),
        )
        .route("/_sim/faults/{id}", delete(remove_fault))
        .route("/_sim/ontap/write", post(write_file))
        .with_state(HookState { sim })
}

#[derive(Clone)]
struct HookState {
    sim: Arc<Sim>,
}

fn bad_request(msg: impl ToString) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": msg.to_string() })),
    )
        .into_response()
}

async fn reset(State(h): State<HookState>) -> Response {
    match h.sim.reset() {
        Ok(()) => Json(serde_json::json!({ "reset": true })).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
}

async fn inventory(State(h): State<HookState>) -> Response {
    let (ontap, pve) = h
        .sim
        .read(|w| (crate::ontap::inventory(&w.ontap), w.pve.inventory()));
    Json(serde_json::json!({
        "ontap": ontap,
        "pve": pve,
        "events": h.sim.events(),
        "faults": h.sim.faults.list(),
    }))
    .into_response()
}

async fn stats(State(h): State<HookState>) -> Response {
    Json(serde_json::json!({ "routes": h.sim.stats.snapshot() })).into_response()
}

async fn list_faults(State(h): State<HookState>) -> Response {
    Json(serde_json::json!({ "faults": h.sim.faults.list() })).into_response()
}

/// Accepts one fault object or an array of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<FaultSpec>),
    One(Box<FaultSpec>),
}

async fn add_faults(State(h): State<HookState>, body: axum::body::Bytes) -> Response {
    let specs = match serde_json::from_slice::<OneOrMany>(&body) {
        Ok(OneOrMany::Many(v)) => v,
        Ok(OneOrMany::One(s)) => vec![*s],
        Err(e) => return bad_request(format!("invalid fault: {e}")),
    };
    // Validate all before adding any, so a bad batch leaves nothing half-applied.
    let mut ids = Vec::new();
    for spec in specs {
        match h.sim.faults.add(spec) {
            Ok(id) => ids.push(id),
            Err(e) => {
                for id in ids {
                    h.sim.faults.remove(id);
                }
                return bad_request(e);
            }
        }
    }
    (StatusCode::CREATED, Json(serde_json::json!({ "ids": ids }))).into_response()
}

async fn clear_faults(State(h): State<HookState>) -> Response {
    h.sim.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn remove_fault(State(h): State<HookState>, Path(id): Path<u64>) -> Response {
    if h.sim.faults.remove(id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": "no such fault" })),
        )
            .into_response()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteRequest {
    /// Volume name or UUID.
    volume: String,
    path: String,
    bytes: u64,
}

/// Simulates a client writing new data into a file on a volume (e.g. a guest writing to a cloned disk), so that
/// space accounting shows the clone diverging from its source.
async fn write_file(State(h): State<HookState>, Json(req): Json<WriteRequest>) -> Response {
    let result = h.sim.mutate(|w| {
        let vol = w
            .ontap
            .volumes
            .iter_mut()
            .find(|v| v.uuid == req.volume || v.name == req.volume)
            .ok_or_else(|| format!("no volume {}", req.volume))?;
        vol.write_file(&req.path, req.bytes)
            .map_err(|e| format!("{}: {e}", req.path))
    });
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => bad_request(e),
    }
}
