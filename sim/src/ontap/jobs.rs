//! ONTAP jobs: every asynchronous POST/PATCH/DELETE creates one. A job stays `queued`, then `running`, for the
//! durations in the timings, then applies its operation to the world and ends `success` or `failure`.
//! Operations are plain data so in-flight jobs survive a restart with `--state`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::{OntapError, OntapResult};
use super::query::{collection, FieldSel, QueryParams, Schema};
use super::scenario::OntapTimings;
use super::state::{new_uuid, Ontap};
use super::{file_clone, snapshots, volume_create, volumes};
use crate::world::Sim;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Success,
    Failure,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Success => "success",
            JobState::Failure => "failure",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Success | JobState::Failure)
    }
}

/// The work a job does when it finishes running.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobOp {
    VolumeCreate(volume_create::CreateOp),
    VolumePatch(volumes::PatchOp),
    VolumeDelete(volumes::DeleteOp),
    SnapshotCreate(snapshots::CreateOp),
    SnapshotPatch(snapshots::PatchOp),
    SnapshotDelete(snapshots::DeleteOp),
    FileClone(file_clone::CloneOp),
}

impl JobOp {
    /// The operation name fault rules use (`async_failure.operation`).
    pub fn operation(&self) -> &'static str {
        match self {
            JobOp::VolumeCreate(op) if op.is_flexclone() => "volume_clone",
            JobOp::VolumeCreate(_) => "volume_create",
            JobOp::VolumePatch(op) if op.split => "volume_clone_split",
            JobOp::VolumePatch(op) if op.restore.is_some() => "snapshot_restore",
            JobOp::VolumePatch(_) => "volume_modify",
            JobOp::VolumeDelete(_) => "volume_delete",
            JobOp::SnapshotCreate(_) => "snapshot_create",
            JobOp::SnapshotPatch(_) => "snapshot_modify",
            JobOp::SnapshotDelete(_) => "snapshot_delete",
            JobOp::FileClone(_) => "file_clone",
        }
    }

    /// What the operation does, for the event log.
    pub fn summary(&self) -> String {
        match self {
            JobOp::VolumeCreate(op) => match &op.volume.clone {
                Some(c) => format!(
                    "FlexClone {} of {}@{}",
                    op.volume.name, c.parent_volume_name, c.parent_snapshot_name
                ),
                None => format!("volume {}", op.volume.name),
            },
            JobOp::VolumePatch(op) => format!("volume {}", op.uuid),
            JobOp::VolumeDelete(op) => format!("volume {}", op.uuid),
            JobOp::SnapshotCreate(op) => {
                format!("snapshot {} of volume {}", op.name, op.volume_uuid)
            }
            JobOp::SnapshotPatch(op) => {
                format!("snapshot {} of volume {}", op.uuid, op.volume_uuid)
            }
            JobOp::SnapshotDelete(op) => {
                format!("snapshot {} of volume {}", op.uuid, op.volume_uuid)
            }
            JobOp::FileClone(op) => format!(
                "{} -> {} in volume {}",
                op.source_path, op.destination_path, op.volume_uuid
            ),
        }
    }

    fn running_ms(&self, t: &OntapTimings) -> u64 {
        match self {
            JobOp::VolumeCreate(op) if op.is_flexclone() => t.flexclone_ms,
            JobOp::VolumePatch(op) if op.split => t.clone_split_ms,
            JobOp::FileClone(_) => t.file_clone_ms,
            _ => t.job_running_ms,
        }
    }

    fn apply(&self, o: &mut Ontap) -> OntapResult<()> {
        match self {
            JobOp::VolumeCreate(op) => op.apply(o),
            JobOp::VolumePatch(op) => op.apply(o),
            JobOp::VolumeDelete(op) => op.apply(o),
            JobOp::SnapshotCreate(op) => op.apply(o),
            JobOp::SnapshotPatch(op) => op.apply(o),
            JobOp::SnapshotDelete(op) => op.apply(o),
            JobOp::FileClone(op) => op.apply(o),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub uuid: String,
    pub description: String,
    pub state: JobState,
    pub message: String,
    pub code: i64,
    pub error: Option<OntapError>,
    pub svm: Option<(String, String)>,
    pub created: DateTime<Utc>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    /// Taken when the job completes.
    pub op: Option<JobOp>,
    pub operation: String,
}

impl Job {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "uuid": self.uuid,
            "description": self.description,
            "state": self.state.as_str(),
            "message": self.message,
            "code": self.code,
            "_links": { "self": { "href": format!("/api/cluster/jobs/{}", self.uuid) } },
        });
        if let Some(t) = self.start_time {
            v["start_time"] = json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false));
        }
        if let Some(t) = self.end_time {
            v["end_time"] = json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false));
        }
        if let Some((uuid, name)) = &self.svm {
            v["svm"] = json!({ "uuid": uuid, "name": name, "_links": { "self": { "href": format!("/api/svm/svms/{uuid}") } } });
        }
        if let Some(e) = &self.error {
            v["error"] = e.body()["error"].clone();
        }
        v
    }
}

pub const SCHEMA: Schema = Schema {
    keys: &["uuid"],
    default_fields: &[],
    expensive: &[],
    known: &[
        "uuid",
        "description",
        "state",
        "message",
        "code",
        "start_time",
        "end_time",
        "svm.name",
        "svm.uuid",
        "error",
    ],
    sort_keys: &["start_time", "uuid"],
};

fn prune(o: &mut Ontap, retention_secs: u64) {
    let now = Utc::now();
    let keep = chrono::Duration::seconds(retention_secs as i64);
    o.jobs.retain(|j| j.end_time.is_none_or(|t| now - t < keep));
}

/// Queues a job and starts driving it. Call with the world locked (inside `Sim::mutate`).
pub fn submit(
    sim: &Arc<Sim>,
    o: &mut Ontap,
    description: String,
    svm: Option<(String, String)>,
    op: JobOp,
) -> String {
    prune(o, sim.timings().ontap.job_retention_secs);
    let uuid = new_uuid();
    o.jobs.push(Job {
        uuid: uuid.clone(),
        description,
        state: JobState::Queued,
        message: "Job queued".into(),
        code: 0,
        error: None,
        svm,
        created: Utc::now(),
        start_time: None,
        end_time: None,
        operation: op.operation().to_string(),
        op: Some(op),
    });
    drive(sim.clone(), uuid.clone());
    uuid
}

/// Restarts the jobs that were in flight when the world was saved.
pub fn resume_all(sim: &Arc<Sim>) {
    let pending: Vec<String> = sim.mutate(|w| {
        w.ontap
            .jobs
            .iter_mut()
            .filter(|j| !j.state.is_terminal())
            .map(|j| {
                j.state = JobState::Queued;
                j.uuid.clone()
            })
            .collect()
    });
    for uuid in pending {
        drive(sim.clone(), uuid);
    }
}

fn drive(sim: Arc<Sim>, uuid: String) {
    let epoch = sim.epoch();
    let timings = sim.timings().ontap.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(timings.job_queued_ms)).await;
        if sim.epoch() != epoch {
            return;
        }
        let running_ms = sim.mutate(|w| {
            let job = w.ontap.jobs.iter_mut().find(|j| j.uuid == uuid)?;
            job.state = JobState::Running;
            job.message = "Job is running".into();
            job.start_time = Some(Utc::now());
            job.op.as_ref().map(|op| op.running_ms(&timings))
        });
        sim.notify_change();
        let Some(running_ms) = running_ms else { return };
        tokio::time::sleep(Duration::from_millis(running_ms)).await;
        if sim.epoch() != epoch {
            return;
        }
        let operation = sim.read(|w| {
            w.ontap
                .jobs
                .iter()
                .find(|j| j.uuid == uuid)
                .map(|j| j.operation.clone())
        });
        let injected = operation.and_then(|op| sim.take_async_failure("ontap", &op));
        let guest_writes = sim.scenario().guest_writes;
        let outcome = sim.mutate(|w| {
            if guest_writes {
                crate::guest_io::tick(w);
            }
            let o = &mut w.ontap;
            // Expired recovery-queue entries no longer hold anything (e.g. a FlexClone's parent snapshot).
            o.expire_recovery_queue(Utc::now());
            let idx = o.jobs.iter().position(|j| j.uuid == uuid)?;
            let summary = o.jobs[idx].op.as_ref().map(JobOp::summary).unwrap_or_default();
            let op = o.jobs[idx].op.take();
            let result = match (injected, op) {
                (Some(f), _) => Err(OntapError::bad_request(&f.code, f.message)),
                (None, Some(op)) => op.apply(o),
                (None, None) => Ok(()),
            };
            let job = &mut o.jobs[idx];
            job.end_time = Some(Utc::now());
            match result {
                Ok(()) => {
                    job.state = JobState::Success;
                    job.message = "success".into();
                    job.code = 0;
                }
                Err(e) => {
                    tracing::info!(job = %job.uuid, code = %e.code, message = %e.message, "job failed");
                    job.state = JobState::Failure;
                    job.message = e.message.clone();
                    job.code = e.code.parse().unwrap_or(1);
                    job.error = Some(e);
                }
            }
            Some((job.operation.clone(), summary, job.state, job.message.clone()))
        });
        // The event log lets tests check the order of effects across both APIs (e.g. freeze → snapshot → thaw).
        if let Some((operation, summary, state, message)) = outcome {
            let detail = if state == JobState::Success {
                summary
            } else {
                format!("{summary} failed: {message}")
            };
            sim.record_event("ontap", &operation, detail);
        }
        sim.notify_change();
    });
}

/// Waits up to `secs` for a job to reach a terminal state.
pub async fn wait(sim: &Arc<Sim>, uuid: &str, secs: u64) -> Option<Job> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut rx = sim.subscribe_changes();
    loop {
        let job = sim.read(|w| w.ontap.jobs.iter().find(|j| j.uuid == uuid).cloned())?;
        if job.state.is_terminal() {
            return Some(job);
        }
        if sim.is_halted() {
            return None;
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => continue,
            _ => return None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Post,
    Patch,
    Delete,
}

/// The response of an asynchronous request: 202 + job link, or (when the job finishes within `return_timeout`)
/// 201 for POST / 200 for PATCH and DELETE; a job that fails within the timeout is answered with its error.
pub async fn respond(
    sim: &Arc<Sim>,
    job_uuid: &str,
    return_timeout: u64,
    verb: Verb,
    location: Option<String>,
    record: Option<Value>,
) -> Response {
    let mut body = json!({
        "job": { "uuid": job_uuid, "_links": { "self": { "href": format!("/api/cluster/jobs/{job_uuid}") } } }
    });
    if let Some(r) = record {
        body["num_records"] = json!(1);
        body["records"] = json!([r]);
    }
    let mut status = StatusCode::ACCEPTED;
    if return_timeout > 0 {
        if let Some(job) = wait(sim, job_uuid, return_timeout).await {
            match job.state {
                JobState::Success => {
                    status = if verb == Verb::Post {
                        StatusCode::CREATED
                    } else {
                        StatusCode::OK
                    }
                }
                _ => {
                    let err = job
                        .error
                        .unwrap_or_else(|| OntapError::bad_request("1", job.message.clone()));
                    return err.into_response();
                }
            }
        }
    }
    let mut resp = (status, Json(body)).into_response();
    if let Some(loc) = location {
        if let Ok(v) = loc.parse() {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }
    resp
}

pub async fn get_collection(
    State(sim): State<Arc<Sim>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    let retention = sim.timings().ontap.job_retention_secs;
    let records: Vec<Value> = sim.mutate(|w| {
        prune(&mut w.ontap, retention);
        w.ontap.jobs.iter().map(Job::to_json).collect()
    });
    collection("/api/cluster/jobs", &q, &SCHEMA, records, &[]).map(Json)
}

pub async fn get_one(
    State(sim): State<Arc<Sim>>,
    Path(uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    q.check(&["fields", "return_timeout"], None)?;
    let sel = FieldSel::parse(&q, &SCHEMA)?;
    let retention = sim.timings().ontap.job_retention_secs;
    let job = sim.read(|w| w.ontap.jobs.iter().find(|j| j.uuid == uuid).cloned());
    let job = job
        .filter(|j| {
            j.end_time
                .is_none_or(|t| Utc::now() - t < chrono::Duration::seconds(retention as i64))
        })
        .ok_or_else(|| OntapError::not_found("uuid"))?;
    Ok(Json(sel.project(&job.to_json(), &SCHEMA, true)))
}
