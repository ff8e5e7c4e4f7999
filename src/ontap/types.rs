//! Typed ONTAP REST records. Only the fields the controller reads; unknown fields are ignored.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `{name, uuid}` references as ONTAP embeds them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
}

/// Accepts `"4"` or `4` (error codes are strings in envelopes and integers in jobs).
pub(crate) fn code_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OntapVersion {
    #[serde(default)]
    pub full: Option<String>,
    #[serde(default)]
    pub generation: Option<u32>,
    #[serde(default)]
    pub major: Option<u32>,
    #[serde(default)]
    pub minor: Option<u32>,
}

/// `GET /api/cluster`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub uuid: String,
    #[serde(default)]
    pub version: OntapVersion,
}

impl ClusterInfo {
    /// `generation.major.minor`, e.g. `9.16.1`.
    pub fn version_string(&self) -> Option<String> {
        let v = &self.version;
        Some(format!(
            "{}.{}.{}",
            v.generation?,
            v.major?,
            v.minor.unwrap_or(0)
        ))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Svm {
    pub uuid: String,
    pub name: String,
    #[serde(default)]
    pub state: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpInfo {
    #[serde(default)]
    pub address: Option<String>,
}

/// `GET /api/network/ip/interfaces` record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpInterface {
    pub uuid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub ip: IpInfo,
    /// Absent for cluster-scoped LIFs.
    #[serde(default)]
    pub svm: Option<NamedRef>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub services: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeNas {
    /// Junction path; absent while unmounted.
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub export_policy: Option<NamedRef>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeClone {
    #[serde(default)]
    pub is_flexclone: bool,
    #[serde(default)]
    pub parent_volume: Option<NamedRef>,
    #[serde(default)]
    pub parent_snapshot: Option<NamedRef>,
    #[serde(default)]
    pub parent_svm: Option<NamedRef>,
    #[serde(default)]
    pub split_initiated: Option<bool>,
    #[serde(default)]
    pub split_complete_percent: Option<u32>,
    /// On a parent: whether any FlexClone depends on it (9.11+).
    #[serde(default)]
    pub has_flexclone: Option<bool>,
}

/// `/api/storage/volumes` record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub uuid: String,
    pub name: String,
    #[serde(default)]
    pub svm: Option<NamedRef>,
    /// `online`, `offline`, `restricted`, `mixed`, `error`.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub nas: Option<VolumeNas>,
    #[serde(default)]
    pub clone: Option<VolumeClone>,
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default)]
    pub style: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

impl Volume {
    pub fn junction_path(&self) -> Option<&str> {
        self.nas.as_ref()?.path.as_deref().filter(|p| !p.is_empty())
    }

    pub fn svm_name(&self) -> Option<&str> {
        self.svm.as_ref()?.name.as_deref()
    }

    pub fn is_flexclone(&self) -> bool {
        self.clone.as_ref().is_some_and(|c| c.is_flexclone)
    }
}

/// Fields requested for volumes (all exist since 9.8; `nas.path` and `clone.*` are "expensive" and must be named).
pub const VOLUME_FIELDS: &str =
    "uuid,name,svm.name,svm.uuid,state,comment,nas.path,create_time,style,type,\
clone.is_flexclone,clone.parent_volume.name,clone.parent_volume.uuid,clone.parent_snapshot.name,\
clone.parent_snapshot.uuid,clone.split_initiated,clone.split_complete_percent";

/// `/api/storage/volumes/{uuid}/snapshots` record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub uuid: String,
    pub name: String,
    #[serde(default)]
    pub comment: Option<String>,
    /// ISO-8601 with offset.
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default)]
    pub owners: Vec<String>,
    #[serde(default)]
    pub volume: Option<NamedRef>,
}

pub const SNAPSHOT_FIELDS: &str = "uuid,name,comment,create_time,owners,volume.name,volume.uuid";

/// `space` of a volume record, as far as discovery reports it (bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpace {
    #[serde(default)]
    pub size: Option<u64>,
    /// What `df` shows as used: the active file system and snapshot spill.
    #[serde(default)]
    pub used: Option<u64>,
    /// Blocks physically held by the volume (shared blocks once).
    #[serde(default)]
    pub physical_used: Option<u64>,
    #[serde(default)]
    pub logical_space: Option<VolumeLogicalSpace>,
    #[serde(default)]
    pub snapshot: Option<VolumeSnapshotSpace>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeLogicalSpace {
    /// Physical use plus what sharing (FileClone, deduplication) and compression saved.
    #[serde(default)]
    pub used: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSnapshotSpace {
    #[serde(default)]
    pub used: Option<u64>,
}

/// A volume record with its space figures (`GET /api/storage/volumes/{uuid}` with [`VOLUME_USAGE_FIELDS`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeUsage {
    pub uuid: String,
    pub name: String,
    #[serde(default)]
    pub svm: Option<NamedRef>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub space: Option<VolumeSpace>,
    #[serde(default)]
    pub clone: Option<VolumeClone>,
    #[serde(default)]
    pub snapshot_count: Option<u64>,
}

/// Fields of [`VolumeUsage`]; `space.logical_space` and `space.snapshot` are expensive and must be named.
/// `clone.has_flexclone` (9.11+) says whether any FlexClone has this volume as parent, so the clones are listed
/// only when there are some.
pub const VOLUME_USAGE_FIELDS: &str =
    "uuid,name,svm.name,state,snapshot_count,space.size,space.used,\
space.physical_used,space.logical_space.used,space.snapshot.used,clone.has_flexclone";

/// A snapshot record with its size (`size` exists since 9.9; older releases leave it out).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotDetail {
    pub uuid: String,
    pub name: String,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default)]
    pub owners: Vec<String>,
    #[serde(default)]
    pub size: Option<u64>,
}

pub const SNAPSHOT_DETAIL_FIELDS: &str = "uuid,name,comment,create_time,owners,size";

/// A files-API record (directory entry or metadata).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    #[serde(default)]
    pub name: Option<String>,
    /// The queried directory (listings) or the file itself (metadata).
    #[serde(default)]
    pub path: Option<String>,
    /// `file`, `directory`, `symlink`, ...
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub unix_permissions: Option<u32>,
}

impl FileInfo {
    pub fn is_dir(&self) -> bool {
        self.kind.as_deref() == Some("directory")
    }
}

/// `GET /api/cluster/jobs/{uuid}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub uuid: String,
    /// `queued`, `running`, `paused`, `success`, `failure` (newer: `cancelled`, `expired`).
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "code_value")]
    pub code: Option<u64>,
    #[serde(default)]
    pub description: Option<String>,
    /// Newer releases add `error{code, message}`.
    #[serde(default)]
    pub error: Option<JobError>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    #[serde(default, deserialize_with = "code_value")]
    pub code: Option<u64>,
    #[serde(default)]
    pub message: Option<String>,
}

impl Job {
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.state.as_str(),
            "success" | "failure" | "cancelled" | "expired"
        )
    }
}

/// Result of an asynchronous ONTAP operation after a bounded wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    Done,
    /// The job is still running: store the uuid, requeue, and ask [`super::OntapClient::job_completion`] later.
    InProgress {
        job_uuid: String,
    },
}

impl Completion {
    pub fn is_done(&self) -> bool {
        matches!(self, Completion::Done)
    }
}

/// A FlexClone to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlexCloneSpec {
    pub name: String,
    pub svm: String,
    pub parent_volume: String,
    pub parent_snapshot: String,
    /// Mount at this junction on creation.
    pub junction_path: Option<String>,
    pub comment: Option<String>,
}

/// A volume PATCH; unset fields are left alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumePatch {
    /// `Some("")` unmounts.
    pub junction_path: Option<String>,
    pub comment: Option<String>,
    /// `Some(true)` starts a FlexClone split.
    pub split: Option<bool>,
    /// `online` / `offline`.
    pub state: Option<String>,
}

/// An entry of `volume recovery-queue show` (deleted volumes kept for `volume-delete-retention-hours`). The private
/// CLI passthrough spells CLI field names with underscores.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryQueueEntry {
    pub vserver: String,
    /// Name in the queue: the original name with `_<dsid>` appended.
    pub volume: String,
    #[serde(default)]
    pub deletion_request_time: Option<String>,
    #[serde(default, deserialize_with = "code_value")]
    pub retention_hours: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_string() {
        let c: ClusterInfo = serde_json::from_value(json!({
            "name": "cluster1", "uuid": "u",
            "version": {"full": "NetApp Release 9.16.1: ...", "generation": 9, "major": 16, "minor": 1}
        }))
        .unwrap();
        assert_eq!(c.version_string().as_deref(), Some("9.16.1"));
    }

    #[test]
    fn job_codes_as_strings_or_numbers() {
        let j: Job = serde_json::from_value(
            json!({"uuid": "j", "state": "failure", "code": 1638555, "message": "m",
            "error": {"code": "1638555", "message": "m"}}),
        )
        .unwrap();
        assert_eq!(j.code, Some(1_638_555));
        assert_eq!(j.error.unwrap().code, Some(1_638_555));
        assert!(!Job {
            state: "running".into(),
            ..Default::default()
        }
        .is_terminal());
    }

    #[test]
    fn volume_helpers() {
        let v: Volume = serde_json::from_value(json!({
            "uuid": "u", "name": "pve_data", "svm": {"name": "vs1", "uuid": "s"},
            "nas": {"path": "/pve_data"}, "clone": {"is_flexclone": true}
        }))
        .unwrap();
        assert_eq!(v.junction_path(), Some("/pve_data"));
        assert_eq!(v.svm_name(), Some("vs1"));
        assert!(v.is_flexclone());
        let unmounted: Volume =
            serde_json::from_value(json!({"uuid": "u", "name": "x", "nas": {}})).unwrap();
        assert_eq!(unmounted.junction_path(), None);
    }
}
