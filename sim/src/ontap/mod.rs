//! The simulated ONTAP REST API (`/api/...`), emulating ONTAP 9.16.1.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use serde_json::json;

use crate::world::Sim;

pub mod body;
pub mod cli;
pub mod cluster;
pub mod error;
pub mod file_clone;
pub mod files;
pub mod fs;
pub mod jobs;
pub mod query;
pub mod roles;
pub mod scenario;
pub mod snapshots;
pub mod state;
mod volume_clone;
pub mod volume_create;
pub mod volumes;

use error::{codes, OntapError};

/// The ONTAP API router. All `/api` routes require HTTP basic auth.
pub fn router(sim: Arc<Sim>) -> Router {
    let api = Router::new()
        .route("/api/cluster", get(cluster::get_cluster))
        .route("/api/cluster/jobs", get(jobs::get_collection))
        .route("/api/cluster/jobs/{uuid}", get(jobs::get_one))
        .route("/api/svm/svms", get(cluster::get_svms))
        .route("/api/svm/svms/{uuid}", get(cluster::get_svm))
        .route("/api/network/ip/interfaces", get(cluster::get_interfaces))
        .route(
            "/api/network/ip/interfaces/{uuid}",
            get(cluster::get_interface),
        )
        .route(
            "/api/protocols/nfs/export-policies",
            get(cluster::get_policies),
        )
        .route(
            "/api/protocols/nfs/export-policies/{id}",
            get(cluster::get_policy),
        )
        .route(
            "/api/storage/volumes",
            get(volumes::get_collection).post(volume_create::post),
        )
        .route(
            "/api/storage/volumes/{uuid}",
            get(volumes::get_one)
                .patch(volumes::patch)
                .delete(volumes::delete),
        )
        .route(
            "/api/storage/volumes/{uuid}/snapshots",
            get(snapshots::get_collection).post(snapshots::post),
        )
        .route(
            "/api/storage/volumes/{uuid}/snapshots/{snapshot}",
            get(snapshots::get_one)
                .patch(snapshots::patch)
                .delete(snapshots::delete),
        )
        .route("/api/storage/volumes/{uuid}/files", get(files::get_root))
        .route(
            "/api/storage/volumes/{uuid}/files/{*path}",
            get(files::get_path).post(files::post).delete(files::delete),
        )
        .route("/api/storage/file/clone", post(file_clone::post))
        .route(
            "/api/private/cli/volume/recovery-queue",
            get(cli::recovery_queue_show),
        )
        .route(
            "/api/private/cli/volume/recovery-queue/purge",
            post(cli::recovery_queue_purge),
        )
        .route(
            "/api/private/cli/volume/recovery-queue/recover",
            post(cli::recovery_queue_recover),
        )
        .route(
            "/api/private/cli/volume/snapshot/restore",
            post(cli::snapshot_restore),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(sim.clone());
    api.layer(axum::middleware::from_fn_with_state(sim, basic_auth))
}

async fn not_found() -> OntapError {
    OntapError::new(404, codes::NOT_FOUND, "API not found")
}

async fn method_not_allowed() -> OntapError {
    OntapError::new(
        405,
        codes::NOT_SUPPORTED,
        "The method is not allowed for this resource.",
    )
}

/// HTTP basic auth against the scenario's users; `/_sim/` hooks are exempt.
async fn basic_auth(State(sim): State<Arc<Sim>>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/_sim/") {
        return next.run(req).await;
    }
    let role = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|creds| {
            let (user, pass) = creds.split_once(':').unwrap_or((creds.as_str(), ""));
            sim.read(|w| {
                w.ontap
                    .users
                    .iter()
                    .find(|u| u.username == user && u.password == pass)
                    .map(|u| u.role.clone())
            })
        });
    if let Some(role) = role {
        let read = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let permitted = match role.as_str() {
            "admin" => true,
            "readonly" => read,
            name => sim.read(|w| {
                w.ontap
                    .rest_roles
                    .iter()
                    .find(|r| r.name == name)
                    .is_some_and(|r| roles::allows(r, req.method(), req.uri().path()))
            }),
        };
        if !permitted {
            return OntapError::new(
                403,
                codes::NOT_AUTHORIZED,
                "not authorized for that command",
            )
            .into_response();
        }
        let plain_json = wants_plain_json(req.headers());
        let resp = next.run(req).await;
        return if plain_json {
            strip_hal_links(resp).await
        } else {
            as_hal_json(resp)
        };
    }
    let mut resp = (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({ "error": { "message": "User is not authorized.", "code": codes::NOT_AUTHORIZED } })),
    )
        .into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"ONTAP\""),
    );
    resp
}

/// `Accept: application/json` (without `hal+json`) asks for responses without HAL links.
fn wants_plain_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("hal+json"))
}

/// ONTAP answers `application/hal+json` by default.
fn as_hal_json(mut resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/hal+json"),
        );
    }
    resp
}

/// Removes `_links` everywhere except the collection's `_links.next` (the paging link stays, as documented).
async fn strip_hal_links(resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    let next = v.pointer("/_links/next").cloned();
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(o) => {
                o.remove("_links");
                o.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    if let Some(n) = next {
        v["_links"] = json!({ "next": n });
    }
    let mut resp = Response::from_parts(parts, axum::body::Body::from(v.to_string()));
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    resp
}

/// Resumes jobs that were in flight when the state was saved.
pub fn on_start(sim: &Arc<Sim>) {
    jobs::resume_all(sim);
}

/// The ONTAP part of `GET /_sim/inventory`.
pub fn inventory(o: &state::Ontap) -> serde_json::Value {
    let volume = |v: &state::Volume| {
        let space = v.space(o.clone_base(v));
        json!({
            "uuid": v.uuid,
            "name": v.name,
            "svm": v.svm_name,
            "state": v.state.as_str(),
            "type": v.vol_type,
            "size": v.size,
            "nas_path": v.nas_path,
            "export_policy": v.export_policy,
            "comment": v.comment,
            "clone": v.clone.as_ref().map(|c| json!({
                "parent_volume": c.parent_volume_name,
                "parent_volume_uuid": c.parent_volume_uuid,
                "parent_snapshot": c.parent_snapshot_name,
                "parent_snapshot_uuid": c.parent_snapshot_uuid,
                "split_initiated": v.split_initiated,
            })),
            "space": space,
            "snapshots": v.snapshots.iter().map(|s| json!({
                "uuid": s.uuid,
                "name": s.name,
                "comment": s.comment,
                "create_time": s.create_time,
                "clone_owners": o.snapshot_clone_owners(&v.uuid, &s.uuid),
            })).collect::<Vec<_>>(),
            "files": v.files.iter().map(|(p, n)| json!({
                "path": p,
                "type": if n.is_dir() { "directory" } else { "file" },
                "size": n.size,
                "guest_writes": n.writes,
            })).collect::<Vec<_>>(),
        })
    };
    json!({
        "cluster": { "name": o.cluster.name, "uuid": o.cluster.uuid, "version": o.cluster.version },
        "svms": o.svms.iter().map(|s| json!({ "name": s.name, "uuid": s.uuid })).collect::<Vec<_>>(),
        "interfaces": o.interfaces.iter().map(|i| json!({ "name": i.name, "ip": i.ip, "svm": i.svm_name })).collect::<Vec<_>>(),
        "volumes": o.volumes.iter().map(volume).collect::<Vec<_>>(),
        "recovery_queue": o.recovery_queue.iter().map(|d| json!({
            "name": d.queued_name,
            "original_name": d.volume.name,
            "uuid": d.volume.uuid,
            "svm": d.volume.svm_name,
            "deleted_at": d.deleted_at,
            "clone_parent": d.volume.clone.as_ref().map(|c| &c.parent_volume_name),
        })).collect::<Vec<_>>(),
        "jobs": o.jobs.iter().map(|j| j.to_json()).collect::<Vec<_>>(),
    })
}
