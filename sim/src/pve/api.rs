//! Request plumbing shared by the PVE handlers: the parameter-collecting extractor, authentication, the
//! `{"data": ...}` envelope, and node/VM lookups with PVE's error texts.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::auth::{self, Identity};
use super::error::{PveError, PveResult};
use super::params::Params;
use super::state::{now_secs, Pve, Vm};
use super::tasks;
use crate::world::Sim;

/// PVE refuses POST bodies above 64 KiB.
const MAX_BODY: usize = 64 * 1024;

/// One API call: method, path (relative to `/api2/json`), headers and collected parameters.
pub struct Call {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub params: Params,
}

impl<S: Send + Sync> FromRequest<S> for Call {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let method = req.method().clone();
        let path = req
            .uri()
            .path()
            .strip_prefix("/api2/json")
            .unwrap_or(req.uri().path())
            .to_string();
        let query = req.uri().query().map(str::to_string);
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if body.len() > MAX_BODY {
            return Err(PveError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: "request entity too large".into(),
                errors: None,
            }
            .into_response());
        }
        let params = Params::from_request(query.as_deref(), &headers, &body)
            .map_err(IntoResponse::into_response)?;
        Ok(Call {
            method,
            path,
            headers,
            params,
        })
    }
}

impl Call {
    /// Brings tasks up to date and authenticates the caller.
    pub fn begin(&self, sim: &Arc<Sim>) -> PveResult<Identity> {
        tasks::advance(sim);
        let lifetime = sim.timings().pve.ticket_lifetime_secs;
        let world = sim.world();
        auth::authenticate(
            &world.pve,
            &self.headers,
            &self.method,
            now_secs(),
            lifetime,
        )
    }

    pub fn params(&self) -> Params {
        self.params.clone()
    }
}

/// The success envelope.
pub fn data(value: Value) -> Response {
    axum::Json(json!({ "data": value })).into_response()
}

pub fn respond(result: PveResult<Value>) -> Response {
    match result {
        Ok(v) => data(v),
        Err(e) => e.into_response(),
    }
}

/// The envelope of the lists that also report how many entries there are in all (task list, task log).
pub fn respond_with_total(result: PveResult<(Vec<Value>, usize)>) -> Response {
    match result {
        Ok((list, total)) => axum::Json(json!({ "data": list, "total": total })).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A directory index: one `{key: entry}` object per entry (`subdir` below a VM, `name` below a node).
pub fn dir_index(key: &str, entries: &[&str]) -> Value {
    Value::Array(entries.iter().map(|e| json!({ key: e })).collect())
}

/// A node named in the path must be a cluster member and reachable.
pub fn check_node(pve: &Pve, node: &str) -> PveResult<()> {
    match pve.node(node) {
        Some(n) if n.online => Ok(()),
        Some(_) => Err(PveError {
            status: StatusCode::from_u16(595).unwrap_or(StatusCode::BAD_GATEWAY),
            message: "No route to host".into(),
            errors: None,
        }),
        None => Err(PveError::internal(format!(
            "hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known"
        ))),
    }
}

pub fn parse_vmid(raw: &str) -> PveResult<u32> {
    let n: u64 = raw.parse().map_err(|_| {
        PveError::param(
            "vmid",
            format!("type check ('integer') failed - got '{raw}'"),
        )
    })?;
    if !(100..=999_999_999).contains(&n) {
        return Err(PveError::param(
            "vmid",
            "invalid format - value does not look like a valid VM ID",
        ));
    }
    Ok(n as u32)
}

/// A VM is only found on the node that hosts it; elsewhere its config file "does not exist".
pub fn find_vm<'a>(pve: &'a Pve, node: &str, vmid: u32) -> PveResult<&'a Vm> {
    check_node(pve, node)?;
    match pve.vms.get(&vmid) {
        Some(vm) if vm.node == node => Ok(vm),
        _ => Err(PveError::internal(super::vm_config::config_missing(
            node, vmid,
        ))),
    }
}
