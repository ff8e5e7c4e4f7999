//! `VolumeSnapshotSchedule` (`vss`): VolumeSnapshots taken on a cron schedule and expired by retention.
//!
//! Each slot makes one VolumeSnapshot, named from the schedule's UID and the slot time (a crash or a second
//! controller replica never makes two for one slot). The snapshots are data: deleting the schedule keeps them
//! unless `deleteSnapshotsWithSchedule` is set, and retention never expires one a FlexCloneMount uses.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    push_validations, ClusterRef, Phase, PVE_STORAGE_ID_PATTERN, RESERVED_COMMENT_TEXT,
};
use super::volume_snapshot::{OntapVolumeRef, SnapshotConsistency, VolumeSnapshotSpec};

/// 5-field cron (minute hour day-of-month month day-of-week) or one of CronJob's macros; checked in full by the
/// controller, in shape at admission.
pub const CRON_PATTERN: &str = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[^\s]+\s+[^\s]+\s+[^\s]+\s+[^\s]+\s+[^\s]+)$";

/// When to take VolumeSnapshots of one volume, what they look like, and which of them to keep.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "pveontap.io",
    version = "v1alpha1",
    kind = "VolumeSnapshotSchedule",
    doc = "VolumeSnapshots of one volume taken on a cron schedule and expired by grandfather-father-son retention.",
    plural = "volumesnapshotschedules",
    shortname = "vss",
    category = "pveontap",
    namespaced,
    status = "VolumeSnapshotScheduleStatus",
    printcolumn = r#"{"name":"Schedule","type":"string","jsonPath":".spec.schedule"}"#,
    printcolumn = r#"{"name":"Suspend","type":"boolean","jsonPath":".spec.suspend"}"#,
    printcolumn = r#"{"name":"Last","type":"date","jsonPath":".status.lastScheduleTime"}"#,
    printcolumn = r#"{"name":"Next","type":"string","jsonPath":".status.nextScheduleTime"}"#,
    printcolumn = r#"{"name":"Kept","type":"integer","jsonPath":".status.kept"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotScheduleSpec {
    /// The VolumeSnapshot each slot creates (its name and snapshot name are derived).
    pub snapshot_template: SnapshotTemplate,
    /// 5-field cron, as a CronJob's (`0 2 * * *`, `*/15 * * * *`, `@daily`).
    #[schemars(length(min = 1, max = 100), regex(pattern = CRON_PATTERN))]
    pub schedule: String,
    /// IANA time zone the schedule and the retention buckets are read in; default UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: Option<String>,
    /// A slot missed by more than this (controller down) is skipped; default: the latest missed slot is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10))]
    pub starting_deadline_seconds: Option<u32>,
    /// No new snapshots while true (retention still applies).
    #[serde(default)]
    pub suspend: bool,
    /// Which of the schedule's own snapshots to keep; without it every one is kept. A snapshot is kept when any
    /// rule keeps it and expired otherwise. Only ready snapshots count, placed in hours, days, weeks and months by
    /// their slot time in `timeZone`; one a FlexCloneMount depends on (until its clone is split) is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Delete the schedule's snapshots with the schedule. Default false: snapshots are data and stay.
    #[serde(default)]
    pub delete_snapshots_with_schedule: bool,
}

/// The part of a VolumeSnapshot spec a schedule sets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = template_rules)]
pub struct SnapshotTemplate {
    /// The `ProxmoxCluster` whose storage `storage` names the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxmox_cluster_ref: Option<ClusterRef>,
    /// Proxmox NFS storage id; its server and export are resolved to the ONTAP volume snapshotted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 100), regex(pattern = PVE_STORAGE_ID_PATTERN))]
    pub storage: Option<String>,
    /// The ONTAP volume named directly (instead of `proxmoxClusterRef` + `storage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ontap_volume: Option<OntapVolumeRef>,
    /// Applied to every running VM with a disk on the storage for the moment of each snapshot; default `None`.
    #[serde(default)]
    pub consistency: SnapshotConsistency,
    /// A slot's snapshot fails instead of being taken crash-consistent when the consistency cannot be applied.
    #[serde(default)]
    pub require_consistency: bool,
    /// Comment stored with each snapshot (the controller appends its ownership marker, so at most 187
    /// characters, and the text `pveontap.io/` is reserved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 187))]
    pub comment: Option<String>,
}

fn template_rules(schema: &mut schemars::Schema) {
    push_validations(
        schema,
        [
            (
                "has(self.storage) != has(self.ontapVolume)".to_string(),
                "exactly one of storage or ontapVolume must be set",
            ),
            (
                "has(self.storage) == has(self.proxmoxClusterRef)".to_string(),
                "storage and proxmoxClusterRef go together",
            ),
            (
                "!has(self.ontapVolume) || !has(self.consistency) || self.consistency == 'None'".to_string(),
                "consistency needs proxmoxClusterRef and storage to find the VMs",
            ),
            (
                format!("!has(self.comment) || !self.comment.contains('{RESERVED_COMMENT_TEXT}')"),
                "comment may not contain pveontap.io/ (reserved for the controller's ownership marker)",
            ),
        ],
    );
}

/// Grandfather-father-son retention over the schedule's own snapshots: the union of the newest `keepLast` and
/// the newest of each of the last `hourly` hours, `daily` days, `weekly` ISO weeks and `monthly` months that
/// have one (in the schedule's time zone).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    /// Keep the newest this many snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 10000))]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the most recent this many hours that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 10000))]
    pub hourly: Option<u32>,
    /// Keep the newest snapshot of each of the most recent this many days that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 10000))]
    pub daily: Option<u32>,
    /// Keep the newest snapshot of each of the most recent this many ISO weeks (Monday to Sunday) that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 10000))]
    pub weekly: Option<u32>,
    /// Keep the newest snapshot of each of the most recent this many calendar months that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 10000))]
    pub monthly: Option<u32>,
}

/// Written by the controller: the slots handled and the schedule's snapshots kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotScheduleStatus {
    #[serde(default)]
    pub phase: Phase,
    /// `Ready`, with reason `Scheduled` after a successful reconcile (also while suspended), or the category of
    /// the last error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` that phase, message and the Ready condition were last computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Human-readable summary of the last reconcile: the next slot and how many snapshots are kept, or the last
    /// error (the same text as the Ready condition's message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The last slot handled (taken or skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// The next slot (RFC 3339); absent while suspended or when the schedule has no further slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,
    /// The slot of the newest snapshot that became ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,
    /// The schedule's VolumeSnapshots not ready yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<String>,
    /// How many of the schedule's VolumeSnapshots exist.
    #[serde(default)]
    pub kept: u32,
    /// Slots not taken: missed while the controller was down, past the starting deadline, or while the previous
    /// snapshot was still in progress.
    #[serde(default)]
    pub skipped_slots: u64,
    /// Snapshots retention would expire but keeps because a FlexCloneMount depends on them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retained_by_mounts: Vec<String>,
}

impl SnapshotTemplate {
    /// The VolumeSnapshot spec of one slot: the template, a derived snapshot name, deletion policy Delete.
    pub fn volume_snapshot_spec(&self) -> VolumeSnapshotSpec {
        VolumeSnapshotSpec {
            proxmox_cluster_ref: self.proxmox_cluster_ref.clone(),
            storage: self.storage.clone(),
            ontap_volume: self.ontap_volume.clone(),
            snapshot_name: None,
            existing_snapshot_name: None,
            comment: self.comment.clone(),
            consistency: self.consistency,
            require_consistency: self.require_consistency,
            deletion_policy_override: None,
        }
    }
}
