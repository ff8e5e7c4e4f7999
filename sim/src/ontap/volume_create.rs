//! `POST /api/storage/volumes`: a plain volume or a FlexClone. The request is validated and answered with a
//! job at once; the volume itself only appears when the job runs, as on a real cluster.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::body::Body;
use super::error::{codes, OntapError, OntapResult};
use super::jobs::{self, JobOp, Verb};
use super::query::QueryParams;
use super::state::{new_uuid, Ontap, Snapshot, Svm, Volume, VolumeState};
use super::volume_clone;
use super::volumes::{size_value, validate_junction, validate_name};
use crate::world::Sim;

/// A volume (or FlexClone) to add when the create job finishes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateOp {
    pub volume: Box<Volume>,
    /// For a FlexClone without `clone.parent_snapshot`: the base snapshot to take of the parent first.
    pub base_snapshot: Option<Snapshot>,
}

impl CreateOp {
    pub fn is_flexclone(&self) -> bool {
        self.volume.clone.is_some()
    }

    /// Checks name and junction again: other requests may have taken them while the job was queued.
    pub fn apply(&self, o: &mut Ontap) -> OntapResult<()> {
        let mut vol = (*self.volume).clone();
        if o.volume_by_name(&vol.svm_uuid, &vol.name).is_some() {
            return Err(OntapError::new(
                409,
                codes::VOLUME_NAME_DUPLICATE,
                format!("Duplicate volume name {}.", vol.name),
            ));
        }
        if let Some(p) = vol.nas_path.clone() {
            validate_junction(o, &vol.svm_uuid, &p, None)?;
        }
        if let Some(origin) = vol.clone.clone() {
            volume_clone::fill_from_parent(o, &origin, self.base_snapshot.as_ref(), &mut vol)?;
        }
        o.volumes.push(vol);
        Ok(())
    }
}

pub async fn post(
    State(sim): State<Arc<Sim>>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Result<Response, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    q.check(&["return_timeout", "return_records"], None)?;
    let timeout = q.return_timeout()?;
    let return_records = q.bool("return_records")?.unwrap_or(false);
    let b = body.0;
    check_body_fields(&b)?;
    let (job_uuid, vol_uuid, vol_name) = sim.mutate(|w| submit_create(&sim, &mut w.ontap, &b))?;
    let record = return_records.then(|| json!({ "uuid": vol_uuid, "name": vol_name }));
    // The UUID is assigned when the request is accepted, so Location names the object itself.
    let location = format!("/api/storage/volumes/{vol_uuid}");
    Ok(jobs::respond(&sim, &job_uuid, timeout, Verb::Post, Some(location), record).await)
}

/// Refuses unknown top-level fields and volume styles other than FlexVol.
fn check_body_fields(b: &Value) -> OntapResult<()> {
    // Modelled fields, plus a few provisioning options that are accepted without effect on the simulation
    // (guarantee, language, tiering, efficiency, qos, encryption) because common clients always send them.
    const ALLOWED: &[&str] = &[
        "name",
        "svm",
        "size",
        "aggregates",
        "nas",
        "type",
        "clone",
        "comment",
        "state",
        "style",
        "snapshot_policy",
        "guarantee",
        "language",
        "tiering",
        "efficiency",
        "qos",
        "encryption",
    ];
    super::body::check_fields(b, ALLOWED)?;
    if let Some(style) = b.get("style").and_then(Value::as_str) {
        if style != "flexvol" {
            return Err(OntapError::bad_request(
                codes::NOT_SUPPORTED,
                format!("Volume style \"{style}\" is not supported by the simulator."),
            )
            .with_target("style"));
        }
    }
    Ok(())
}

/// Validates the request and queues the create job; returns (job UUID, volume UUID, volume name).
fn submit_create(
    sim: &Arc<Sim>,
    o: &mut Ontap,
    b: &Value,
) -> OntapResult<(String, String, String)> {
    let req = CreateRequest::parse(o, b)?;
    let (volume, base_snapshot) = if req.is_clone {
        volume_clone::flexclone_volume(o, &req)?
    } else {
        (plain_volume(o, &req)?, None)
    };
    let description_svm = (req.svm.uuid.clone(), req.svm.name.clone());
    let vol_name = volume.name.clone();
    let op = JobOp::VolumeCreate(CreateOp {
        volume: Box::new(volume),
        base_snapshot,
    });
    let job = jobs::submit(
        sim,
        o,
        "POST /api/storage/volumes".into(),
        Some(description_svm),
        op,
    );
    Ok((job, req.uuid, vol_name))
}

/// The fields a plain volume and a FlexClone share, validated before either kind is built.
pub(super) struct CreateRequest<'b> {
    pub(super) body: &'b Value,
    pub(super) name: &'b str,
    pub(super) svm: Svm,
    pub(super) vol_type: String,
    pub(super) nas_path: Option<String>,
    pub(super) comment: Option<String>,
    /// Requested state; a FlexClone ignores it (it always starts online) but a bad value still fails.
    pub(super) state: VolumeState,
    pub(super) uuid: String,
    pub(super) is_clone: bool,
}

impl<'b> CreateRequest<'b> {
    fn parse(o: &Ontap, b: &'b Value) -> OntapResult<Self> {
        let name = b
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| OntapError::missing_field("name"))?;
        validate_name(name)?;
        let svm = super::body::resolve_svm(o, b.get("svm"), "svm")?;
        check_name_free(o, &svm, name)?;
        let vol_type = b
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("rw")
            .to_string();
        let nas_path = b
            .pointer("/nas/path")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        if let Some(p) = &nas_path {
            validate_junction(o, &svm.uuid, p, None)?;
        }
        let is_clone = b
            .pointer("/clone/is_flexclone")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let comment = b.get("comment").and_then(Value::as_str).map(str::to_string);
        let state = match b.get("state").and_then(Value::as_str) {
            None => VolumeState::Online,
            Some(s) => {
                VolumeState::parse(s).ok_or_else(|| OntapError::invalid_value("state", s))?
            }
        };
        Ok(CreateRequest {
            body: b,
            name,
            svm,
            vol_type,
            nas_path,
            comment,
            state,
            uuid: new_uuid(),
            is_clone,
        })
    }
}

/// The name must be free in the SVM, counting volumes whose create job has not finished yet.
fn check_name_free(o: &Ontap, svm: &Svm, name: &str) -> OntapResult<()> {
    if o.volume_by_name(&svm.uuid, name).is_some() {
        return Err(OntapError::new(
            409,
            codes::VOLUME_NAME_DUPLICATE,
            format!("Duplicate volume name {name}."),
        )
        .with_target("name"));
    }
    let pending_same_name = o.jobs.iter().any(|j| {
        !j.state.is_terminal()
            && matches!(&j.op, Some(JobOp::VolumeCreate(c)) if c.volume.name == name && c.volume.svm_uuid == svm.uuid)
    });
    if pending_same_name {
        return Err(OntapError::new(
            409,
            "13107405",
            format!(
                "Another volume with name \"{name}\" is currently being created in Vserver \"{}\".",
                svm.name
            ),
        ));
    }
    Ok(())
}

/// A new, empty FlexVol as the request describes it, with ONTAP's defaults for what it leaves out.
fn plain_volume(o: &Ontap, req: &CreateRequest) -> OntapResult<Volume> {
    let b = req.body;
    if req.vol_type != "rw" && req.vol_type != "dp" {
        return Err(OntapError::invalid_value("type", &req.vol_type));
    }
    let size = requested_size(b)?;
    let aggregate = requested_aggregate(o, b)?;
    let export_policy = requested_export_policy(o, &req.svm, b)?;
    Ok(Volume {
        uuid: req.uuid.clone(),
        name: req.name.to_string(),
        svm_uuid: req.svm.uuid.clone(),
        svm_name: req.svm.name.clone(),
        state: req.state,
        vol_type: req.vol_type.clone(),
        size,
        comment: req.comment.clone(),
        create_time: Utc::now(),
        // An offline or restricted volume cannot be mounted.
        nas_path: req
            .nas_path
            .clone()
            .filter(|_| req.state == VolumeState::Online),
        export_policy,
        security_style: b
            .pointer("/nas/security_style")
            .and_then(Value::as_str)
            .unwrap_or("unix")
            .to_string(),
        unix_permissions: b
            .pointer("/nas/unix_permissions")
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_else(|| "755".into()),
        aggregate,
        snapshot_policy: b
            .pointer("/snapshot_policy/name")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string(),
        clone: None,
        files: Default::default(),
        snapshots: Vec::new(),
        split_initiated: false,
    })
}

/// `size` in bytes (a number or a size string); at least 20 MB, which is also the default.
fn requested_size(b: &Value) -> OntapResult<u64> {
    let size = match b.get("size") {
        Some(s) => size_value(s, "size")?,
        None => 20 << 20,
    };
    if size < 20 << 20 {
        return Err(OntapError::bad_request(
            "917534",
            "Cannot create volume. Reason: Size \"{size}B\" is too small. Minimum size is 20MB."
                .replace("{size}", &size.to_string()),
        )
        .with_target("size"));
    }
    Ok(size)
}

/// The name of the first aggregate in `aggregates` (by name or UUID), else of the cluster's first aggregate.
fn requested_aggregate(o: &Ontap, b: &Value) -> OntapResult<String> {
    let wanted = b
        .get("aggregates")
        .and_then(Value::as_array)
        .and_then(|a| a.first());
    let Some(a) = wanted else {
        return Ok(o
            .aggregates
            .first()
            .map(|a| a.name.clone())
            .unwrap_or_default());
    };
    let found = o.aggregates.iter().find(|x| {
        a.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n == x.name)
            || a.get("uuid")
                .and_then(Value::as_str)
                .is_some_and(|u| u == x.uuid)
    });
    found.map(|x| x.name.clone()).ok_or_else(|| {
        OntapError::bad_request(
            codes::INVALID_FIELD,
            "The specified aggregate does not exist.",
        )
        .with_target("aggregates")
    })
}

/// `nas.export_policy.name` (default `default`), which must exist in the volume's SVM.
fn requested_export_policy(o: &Ontap, svm: &Svm, b: &Value) -> OntapResult<String> {
    let export_policy = b
        .pointer("/nas/export_policy/name")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    if !o
        .export_policies
        .iter()
        .any(|p| p.svm_uuid == svm.uuid && p.name == export_policy)
    {
        return Err(OntapError::bad_request(
            "1703954",
            format!("Export policy \"{export_policy}\" does not exist."),
        )
        .with_target("nas.export_policy.name"));
    }
    Ok(export_policy)
}
