//! Proxmox VE half of the simulator: the REST API under `/api2/json` (PVE 8.x semantics), backed by the shared
//! world. NFS storages show the files of the ONTAP volume behind `server:export`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::world::Sim;

pub mod api;
pub mod auth;
pub mod drive;
pub mod error;
pub mod params;
pub mod routes_cluster;
pub mod routes_qemu;
pub mod routes_storage;
pub mod routes_tasks;
pub mod scenario;
pub mod state;
pub mod tasks;
pub mod vm_config;
pub mod vm_lifecycle;
pub mod volumes;

const BASE: &str = "/api2/json";

fn at(path: &str) -> String {
    format!("{BASE}{path}")
}

/// The Proxmox VE API router (`/api2/json/...`), with PVE's 501 answers for unknown paths and methods.
pub fn router(sim: Arc<Sim>) -> Router {
    use routes_cluster as c;
    use routes_qemu as q;
    use routes_storage as s;
    use routes_tasks as t;
    Router::new()
        .route(&at("/access/ticket"), get(c::login_get).post(c::login))
        .route(&at("/version"), get(c::version))
        .route(&at("/cluster/resources"), get(c::cluster_resources))
        .route(&at("/cluster/status"), get(c::cluster_status))
        .route(&at("/cluster/nextid"), get(c::next_id))
        .route(&at("/nodes"), get(c::nodes))
        .route(&at("/nodes/{node}"), get(c::node_index))
        .route(&at("/nodes/{node}/status"), get(c::node_status))
        .route(&at("/storage"), get(s::list).post(s::create))
        .route(
            &at("/storage/{storage}"),
            get(s::get_one).put(s::update).delete(s::delete),
        )
        .route(&at("/nodes/{node}/storage"), get(s::node_list))
        .route(
            &at("/nodes/{node}/storage/{storage}/status"),
            get(s::node_status),
        )
        .route(
            &at("/nodes/{node}/storage/{storage}/content"),
            get(s::content).post(s::volume_alloc),
        )
        .route(
            &at("/nodes/{node}/storage/{storage}/content/{volume}"),
            get(s::volume_info).delete(s::volume_delete),
        )
        .route(&at("/nodes/{node}/qemu"), get(q::list).post(q::create))
        .route(
            &at("/nodes/{node}/qemu/{vmid}"),
            get(q::index).delete(q::destroy),
        )
        .route(
            &at("/nodes/{node}/qemu/{vmid}/config"),
            get(q::config_get).put(q::config_put).post(q::config_post),
        )
        .route(
            &at("/nodes/{node}/qemu/{vmid}/pending"),
            get(q::pending_get),
        )
        .route(
            &at("/nodes/{node}/qemu/{vmid}/status"),
            get(q::status_index),
        )
        .route(
            &at("/nodes/{node}/qemu/{vmid}/status/current"),
            get(q::status_current),
        )
        .route(
            &at("/nodes/{node}/qemu/{vmid}/status/{action}"),
            post(q::status_action),
        )
        .route(
            &at("/nodes/{node}/qemu/{vmid}/agent"),
            post(q::agent_legacy),
        )
        .route(
            &at("/nodes/{node}/qemu/{vmid}/agent/{command}"),
            post(q::agent),
        )
        .route(&at("/nodes/{node}/tasks"), get(t::list))
        .route(
            &at("/nodes/{node}/tasks/{upid}"),
            axum::routing::delete(t::stop),
        )
        .route(&at("/nodes/{node}/tasks/{upid}/status"), get(t::status))
        .route(&at("/nodes/{node}/tasks/{upid}/log"), get(t::log))
        .method_not_allowed_fallback(not_implemented)
        .fallback(not_implemented)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&sim),
            delay_auth_failures,
        ))
        .with_state(sim)
}

async fn not_implemented(req: Request) -> Response {
    let path = req
        .uri()
        .path()
        .strip_prefix(BASE)
        .unwrap_or(req.uri().path());
    error::PveError::not_implemented(req.method().as_str(), path).into_response()
}

/// PVE holds 401 answers back (~3 s on real systems; `timings.pve.auth_failure_delay_ms` here).
async fn delay_auth_failures(State(sim): State<Arc<Sim>>, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        let delay = sim.timings().pve.auth_failure_delay_ms;
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
    }
    response
}

/// Called once after the simulator starts (fresh or restored from `--state`): resume in-flight tasks.
pub fn on_start(sim: &Arc<Sim>) {
    tasks::resume_all(sim);
}
