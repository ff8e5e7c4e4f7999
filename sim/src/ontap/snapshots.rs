//! `/api/storage/volumes/{volume.uuid}/snapshots`: GET (collection, one), POST, PATCH, DELETE (async jobs).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::body::Body;
use super::error::{codes, OntapError, OntapResult};
use super::jobs::{self, JobOp, Verb};
use super::query::{collection, FieldSel, QueryParams, Schema};
use super::state::{new_uuid, Ontap, Snapshot, Volume};
use crate::world::Sim;

pub const SCHEMA: Schema = Schema {
    keys: &["uuid", "name"],
    default_fields: &[],
    expensive: &["reclaimable_space", "delta"],
    known: &[
        "uuid",
        "name",
        "comment",
        "create_time",
        "expiry_time",
        "snapmirror_label",
        "state",
        "owners",
        "size",
        "logical_size",
        "version_uuid",
        "volume.name",
        "volume.uuid",
        "svm.name",
        "svm.uuid",
        "reclaimable_space",
        "delta",
    ],
    sort_keys: &["create_time", "name"],
};

pub fn to_json(o: &Ontap, v: &Volume, s: &Snapshot) -> Value {
    let mut owners: Vec<&str> = Vec::new();
    if !o.snapshot_clone_owners(&v.uuid, &s.uuid).is_empty() {
        owners.push("volume_clone");
    }
    let mut r = json!({
        "uuid": s.uuid,
        "name": s.name,
        "create_time": s.create_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        "volume": { "name": v.name, "uuid": v.uuid, "_links": { "self": { "href": format!("/api/storage/volumes/{}", v.uuid) } } },
        "svm": { "name": v.svm_name, "uuid": v.svm_uuid, "_links": { "self": { "href": format!("/api/svm/svms/{}", v.svm_uuid) } } },
        "state": "valid",
        "size": s.size,
        "logical_size": s.size,
        "version_uuid": s.uuid,
        "owners": owners,
        "reclaimable_space": 0,
        "_links": { "self": { "href": format!("/api/storage/volumes/{}/snapshots/{}", v.uuid, s.uuid) } },
    });
    if let Some(c) = &s.comment {
        r["comment"] = json!(c);
    }
    r
}

pub async fn get_collection(
    State(sim): State<Arc<Sim>>,
    Path(vol): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    let records = sim
        .read(|w| {
            w.ontap.volume(&vol).map(|v| {
                v.snapshots
                    .iter()
                    .map(|s| to_json(&w.ontap, v, s))
                    .collect::<Vec<_>>()
            })
        })
        .ok_or_else(|| OntapError::not_found("volume.uuid"))?;
    collection(
        &format!("/api/storage/volumes/{vol}/snapshots"),
        &q,
        &SCHEMA,
        records,
        &[],
    )
    .map(Json)
}

pub async fn get_one(
    State(sim): State<Arc<Sim>>,
    Path((vol, uuid)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    q.check(&["fields", "ignore_unknown_fields"], None)?;
    let sel = FieldSel::parse(&q, &SCHEMA)?;
    let full = sim.read(|w| {
        let v = w
            .ontap
            .volume(&vol)
            .ok_or_else(|| OntapError::not_found("volume.uuid"))?;
        let s = v
            .snapshot(&uuid)
            .ok_or_else(|| OntapError::not_found("uuid"))?;
        Ok::<_, OntapError>(to_json(&w.ontap, v, s))
    })?;
    Ok(Json(sel.project(&full, &SCHEMA, true)))
}

/// Snapshot names: 1..=255 characters from letters, digits, `_`, `-`, `.`, `+`, `:`; not starting with `.`.
fn validate_name(name: &str) -> OntapResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.+:".contains(c));
    if !ok {
        return Err(OntapError::bad_request(
            codes::SNAPSHOT_NAME_INVALID,
            format!("Invalid Snapshot copy name \"{name}\"."),
        )
        .with_target("name"));
    }
    Ok(())
}

fn duplicate(v: &Volume, name: &str) -> OntapError {
    OntapError::new(
        409,
        codes::SNAPSHOT_DUPLICATE,
        format!(
            "Snapshot copy \"{name}\" of volume \"{}\" on Vserver \"{}\" already exists.",
            v.name, v.svm_name
        ),
    )
    .with_target("name")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateOp {
    pub volume_uuid: String,
    pub uuid: String,
    pub name: String,
    pub comment: Option<String>,
}

impl CreateOp {
    pub fn apply(&self, o: &mut Ontap) -> OntapResult<()> {
        let v = o
            .volume_mut(&self.volume_uuid)
            .ok_or_else(|| OntapError::not_found("volume.uuid"))?;
        if !v.is_online() {
            return Err(OntapError::bad_request(
                codes::SNAPSHOT_VOLUME_OFFLINE,
                format!("Failed to create Snapshot copy \"{}\" on volume \"{}\": the volume is not online.", self.name, v.name),
            ));
        }
        if v.snapshot_by_name(&self.name).is_some() {
            return Err(duplicate(v, &self.name));
        }
        if v.snapshots.len() >= 1023 {
            return Err(OntapError::bad_request(
                codes::SNAPSHOT_MAX,
                "The maximum number of Snapshot copies (1023) has been reached.",
            ));
        }
        let files = v.files.clone();
        let size = files.logical_used();
        v.snapshots.push(Snapshot {
            uuid: self.uuid.clone(),
            name: self.name.clone(),
            comment: self.comment.clone(),
            create_time: Utc::now(),
            files,
            size,
            volume_size: v.size,
        });
        Ok(())
    }
}

pub async fn post(
    State(sim): State<Arc<Sim>>,
    Path(vol): Path<String>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Result<Response, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    q.check(&["return_timeout", "return_records"], None)?;
    let timeout = q.return_timeout()?;
    let return_records = q.bool("return_records")?.unwrap_or(false);
    let b = body.0;
    super::body::check_fields(
        &b,
        &[
            "name",
            "comment",
            "expiry_time",
            "snapmirror_label",
            "volume",
            "svm",
        ],
    )?;
    let sim2 = sim.clone();
    let (job, uuid, name) = sim.mutate(|w| -> OntapResult<(String, String, String)> {
        let o = &mut w.ontap;
        let v = o
            .volume(&vol)
            .ok_or_else(|| OntapError::not_found("volume.uuid"))?;
        let name = b
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| OntapError::missing_field("name"))?
            .to_string();
        validate_name(&name)?;
        if v.snapshot_by_name(&name).is_some() {
            return Err(duplicate(v, &name));
        }
        if v.vol_type != "rw" {
            return Err(OntapError::bad_request(
                "1638461",
                "Snapshot copies can only be created on read/write (RW) volumes.",
            ));
        }
        let uuid = new_uuid();
        let op = CreateOp {
            volume_uuid: vol.clone(),
            uuid: uuid.clone(),
            name: name.clone(),
            comment: b.get("comment").and_then(Value::as_str).map(str::to_string),
        };
        let svm = Some((v.svm_uuid.clone(), v.svm_name.clone()));
        let job = jobs::submit(
            &sim2,
            o,
            format!("POST /api/storage/volumes/{vol}/snapshots"),
            svm,
            JobOp::SnapshotCreate(op),
        );
        Ok((job, uuid, name))
    })?;
    let record = return_records.then(|| json!({ "uuid": uuid, "name": name }));
    let location = format!("/api/storage/volumes/{vol}/snapshots/{uuid}");
    Ok(jobs::respond(&sim, &job, timeout, Verb::Post, Some(location), record).await)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PatchOp {
    pub volume_uuid: String,
    pub uuid: String,
    pub name: Option<String>,
    pub comment: Option<String>,
}

impl PatchOp {
    pub fn apply(&self, o: &mut Ontap) -> OntapResult<()> {
        let v = o
            .volume_mut(&self.volume_uuid)
            .ok_or_else(|| OntapError::not_found("volume.uuid"))?;
        if let Some(n) = &self.name {
            if v.snapshots
                .iter()
                .any(|s| &s.name == n && s.uuid != self.uuid)
            {
                return Err(duplicate(v, n));
            }
        }
        let s = v
            .snapshots
            .iter_mut()
            .find(|s| s.uuid == self.uuid)
            .ok_or_else(|| OntapError::not_found("uuid"))?;
        if let Some(n) = &self.name {
            s.name = n.clone();
        }
        if let Some(c) = &self.comment {
            s.comment = if c.is_empty() { None } else { Some(c.clone()) };
        }
        Ok(())
    }
}

pub async fn patch(
    State(sim): State<Arc<Sim>>,
    Path((vol, uuid)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Result<Response, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    q.check(&["return_timeout"], None)?;
    let timeout = q.return_timeout()?;
    let b = body.0;
    super::body::check_fields(&b, &["name", "comment", "expiry_time", "snapmirror_label"])?;
    let sim2 = sim.clone();
    let job = sim.mutate(|w| -> OntapResult<String> {
        let o = &mut w.ontap;
        let v = o
            .volume(&vol)
            .ok_or_else(|| OntapError::not_found("volume.uuid"))?;
        v.snapshot(&uuid)
            .ok_or_else(|| OntapError::not_found("uuid"))?;
        let name = b.get("name").and_then(Value::as_str).map(str::to_string);
        if let Some(n) = &name {
            validate_name(n)?;
        }
        let op = PatchOp {
            volume_uuid: vol.clone(),
            uuid: uuid.clone(),
            name,
            comment: b.get("comment").and_then(Value::as_str).map(str::to_string),
        };
        let svm = Some((v.svm_uuid.clone(), v.svm_name.clone()));
        Ok(jobs::submit(
            &sim2,
            o,
            format!("PATCH /api/storage/volumes/{vol}/snapshots/{uuid}"),
            svm,
            JobOp::SnapshotPatch(op),
        ))
    })?;
    Ok(jobs::respond(&sim, &job, timeout, Verb::Patch, None, None).await)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteOp {
    pub volume_uuid: String,
    pub uuid: String,
}

impl DeleteOp {
    pub fn apply(&self, o: &mut Ontap) -> OntapResult<()> {
        let v = o
            .volume(&self.volume_uuid)
            .ok_or_else(|| OntapError::not_found("volume.uuid"))?;
        let s = v.snapshot(&self.uuid).ok_or_else(|| {
            OntapError::bad_request(
                codes::SNAPSHOT_NOT_FOUND,
                "The specified Snapshot copy does not exist.",
            )
        })?;
        // A snapshot backing a FlexClone (also one waiting in the recovery queue) is locked.
        if !o.snapshot_clone_owners(&v.uuid, &s.uuid).is_empty() {
            return Err(OntapError::bad_request(
                codes::SNAPSHOT_BUSY,
                format!(
                    "Snapshot copy \"{}\" of volume \"{}\" on Vserver \"{}\" has not expired or is locked. Use the \"snapshot show -fields owners, expiry-time, snaplock-expiry-time\" command to view the expiry and lock status of the Snapshot copy.",
                    s.name, v.name, v.svm_name
                ),
            ));
        }
        let uuid = self.uuid.clone();
        o.volume_mut(&self.volume_uuid)
            .expect("checked")
            .snapshots
            .retain(|s| s.uuid != uuid);
        Ok(())
    }
}

pub async fn delete(
    State(sim): State<Arc<Sim>>,
    Path((vol, uuid)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    q.check(&["return_timeout"], None)?;
    let timeout = q.return_timeout()?;
    let sim2 = sim.clone();
    let job = sim.mutate(|w| -> OntapResult<String> {
        let o = &mut w.ontap;
        let v = o
            .volume(&vol)
            .ok_or_else(|| OntapError::not_found("volume.uuid"))?;
        v.snapshot(&uuid)
            .ok_or_else(|| OntapError::not_found("uuid"))?;
        let svm = Some((v.svm_uuid.clone(), v.svm_name.clone()));
        let op = DeleteOp {
            volume_uuid: vol.clone(),
            uuid: uuid.clone(),
        };
        Ok(jobs::submit(
            &sim2,
            o,
            format!("DELETE /api/storage/volumes/{vol}/snapshots/{uuid}"),
            svm,
            JobOp::SnapshotDelete(op),
        ))
    })?;
    Ok(jobs::respond(&sim, &job, timeout, Verb::Delete, None, None).await)
}
