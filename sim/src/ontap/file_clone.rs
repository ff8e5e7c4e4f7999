//! `POST /api/storage/file/clone`: clones a file within a volume (async job). The clone shares the source's
//! blocks; the source may live in a snapshot (`.snapshot/<snapshot>/<path>`).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::body::Body;
use super::error::{codes, OntapError, OntapResult};
use super::fs::{normalize, parent_of, Node};
use super::jobs::{self, JobOp, Verb};
use super::query::QueryParams;
use super::state::{Ontap, Volume};
use crate::world::Sim;

/// Resolves a path of the volume, including the read-only `.snapshot/<name>/…` view.
pub fn lookup<'a>(v: &'a Volume, path: &str) -> Option<&'a Node> {
    let p = normalize(path).ok()?;
    if let Some(rest) = p.strip_prefix(".snapshot/") {
        let (snap, inner) = rest.split_once('/').unwrap_or((rest, ""));
        return v.snapshot_by_name(snap)?.files.get(inner);
    }
    v.files.get(&p)
}

fn failed(reason: String) -> OntapError {
    OntapError::bad_request(
        codes::FILE_CLONE_FAILED,
        format!("Clone start failed: {reason}"),
    )
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloneOp {
    pub volume_uuid: String,
    pub source_path: String,
    pub destination_path: String,
    pub overwrite: bool,
}

impl CloneOp {
    pub fn apply(&self, o: &mut Ontap) -> OntapResult<()> {
        let v = o
            .volume(&self.volume_uuid)
            .ok_or_else(|| OntapError::not_found("volume.uuid"))?;
        if !v.is_online() {
            return Err(failed(format!("volume \"{}\" is not online.", v.name)));
        }
        let src = match lookup(v, &self.source_path) {
            Some(n) if n.is_dir() => {
                return Err(failed(format!(
                    "source \"{}\" is a directory.",
                    self.source_path
                )))
            }
            Some(n) => n.clone(),
            None => {
                return Err(failed(format!(
                    "source file \"{}\" does not exist.",
                    self.source_path
                )))
            }
        };
        let dest = normalize(&self.destination_path)
            .map_err(|_| failed("invalid destination path.".into()))?;
        if dest.starts_with(".snapshot") {
            return Err(failed(
                "the destination is in a read-only Snapshot copy.".into(),
            ));
        }
        if !v.files.is_dir(parent_of(&dest)) {
            return Err(failed(format!(
                "destination directory \"{}\" does not exist.",
                parent_of(&dest)
            )));
        }
        match v.files.get(&dest) {
            Some(n) if n.is_dir() => return Err(failed(format!("destination \"{dest}\" is a directory."))),
            Some(_) if !self.overwrite => {
                return Err(failed(format!(
                    "destination file \"{dest}\" already exists. Set \"overwrite_destination\" to replace it."
                )))
            }
            _ => {}
        }
        let v = o.volume_mut(&self.volume_uuid).expect("checked above");
        v.files
            .put_clone(&dest, &src, self.overwrite)
            .map_err(|e| failed(e.to_string()))
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
    let b = body.0;
    super::body::check_fields(
        &b,
        &[
            "volume",
            "source_path",
            "destination_path",
            "overwrite_destination",
            "is_backup",
            "autodelete",
            "range",
            "token_uuid",
        ],
    )?;
    let source = b
        .get("source_path")
        .and_then(Value::as_str)
        .ok_or_else(|| OntapError::missing_field("source_path"))?;
    let dest = b
        .get("destination_path")
        .and_then(Value::as_str)
        .ok_or_else(|| OntapError::missing_field("destination_path"))?;
    if b.get("range").is_some() {
        return Err(OntapError::bad_request(
            codes::NOT_SUPPORTED,
            "Sub-file clones (\"range\") are not supported by the simulator.",
        )
        .with_target("range"));
    }
    let overwrite = match b.get("overwrite_destination") {
        None => false,
        Some(Value::Bool(x)) => *x,
        Some(other) => {
            return Err(OntapError::invalid_value(
                "overwrite_destination",
                &other.to_string(),
            ))
        }
    };
    if dest.starts_with('/') {
        return Err(OntapError::bad_request(
            codes::FILE_CLONE_ABSOLUTE_DEST,
            "\"destination_path\" must be a path relative to the volume root when a volume is specified.",
        )
        .with_target("destination_path"));
    }
    let sim2 = sim.clone();
    let job = sim.mutate(|w| -> OntapResult<String> {
        let o = &mut w.ontap;
        let vref = b
            .get("volume")
            .ok_or_else(|| OntapError::missing_field("volume.uuid"))?;
        let by_uuid = vref.get("uuid").and_then(Value::as_str);
        let by_name = vref.get("name").and_then(Value::as_str);
        let v = match (by_uuid, by_name) {
            (Some(u), Some(n)) => {
                let v = o
                    .volume(u)
                    .ok_or_else(|| OntapError::not_found("volume.uuid"))?;
                if v.name != n {
                    return Err(OntapError::bad_request(
                        codes::FILE_CLONE_VOLUME_MISMATCH,
                        "\"volume.uuid\" and \"volume.name\" refer to different volumes.",
                    ));
                }
                v
            }
            (Some(u), None) => o
                .volume(u)
                .ok_or_else(|| OntapError::not_found("volume.uuid"))?,
            (None, Some(n)) => {
                let mut found = o.volumes.iter().filter(|v| v.name == n);
                let v = found
                    .next()
                    .ok_or_else(|| OntapError::not_found("volume.name"))?;
                if found.next().is_some() {
                    return Err(OntapError::missing_field("volume.uuid"));
                }
                v
            }
            (None, None) => return Err(OntapError::missing_field("volume.uuid")),
        };
        let svm = Some((v.svm_uuid.clone(), v.svm_name.clone()));
        let op = CloneOp {
            volume_uuid: v.uuid.clone(),
            source_path: source.to_string(),
            destination_path: dest.to_string(),
            overwrite,
        };
        Ok(jobs::submit(
            &sim2,
            o,
            "POST /api/storage/file/clone".into(),
            svm,
            JobOp::FileClone(op),
        ))
    })?;
    Ok(jobs::respond(&sim, &job, timeout, Verb::Post, None, None).await)
}
