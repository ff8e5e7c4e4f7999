//! `VolumeSnapshotRestore` (`vsr`): rolls the ONTAP volume behind a Proxmox storage back to one of its snapshots,
//! once. Guarded where the old script's `storage restore` was not: the plan (the snapshots the restore destroys,
//! the VMs it stops) is written to status first, and nothing happens until `confirmDestroy` names exactly the
//! snapshots it destroys. A restore cannot be undone; deleting the object removes only the object.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    immutable_optional_rule, push_validations, LocalObjectRef, Phase, VmRestore, VmTask,
    ONTAP_SNAPSHOT_NAME_PATTERN,
};
use super::flex_clone_mount::SnapshotSource;

/// A one-shot restore of a Proxmox storage's ONTAP volume to a snapshot.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "pveontap.io",
    version = "v1alpha1",
    kind = "VolumeSnapshotRestore",
    doc = "Restores the ONTAP volume behind a Proxmox storage to a snapshot, once, after a confirmed plan. It cannot be undone.",
    plural = "volumesnapshotrestores",
    shortname = "vsr",
    category = "pveontap",
    namespaced,
    status = "VolumeSnapshotRestoreStatus",
    printcolumn = r#"{"name":"Storage","type":"string","jsonPath":".status.storage"}"#,
    printcolumn = r#"{"name":"Snapshot","type":"string","jsonPath":".status.snapshotName"}"#,
    printcolumn = r#"{"name":"Stage","type":"string","jsonPath":".status.stage"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = volume_snapshot_restore_rules)]
pub struct VolumeSnapshotRestoreSpec {
    /// A Ready `VolumeSnapshot` of this namespace, taken through a Proxmox storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshot_ref: Option<LocalObjectRef>,
    /// A snapshot no object here manages, named by storage and snapshot name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SnapshotSource>,
    /// `Storage` (default): the whole volume, every VM's disks and newer snapshots. `Vm`: only the disk files of
    /// VM `vmid` are put back from the snapshot; every other VM and every snapshot stays as it is.
    #[serde(default)]
    pub scope: RestoreScope,
    /// The VM whose disks a `scope: Vm` restore puts back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 999_999_999))]
    pub vmid: Option<u32>,
    /// `scope: Vm` only, with `volumeSnapshotRef`: also put back the VM's disk entries as the VolumeSnapshot
    /// recorded them (disks added since are detached and kept as `unusedN`, disks removed since come back).
    #[serde(default)]
    pub restore_config: bool,
    /// What to do about running VMs with a disk on the storage (with `scope: Vm`: about that VM).
    #[serde(default)]
    pub vm_policy: RestoreVmPolicy,
    /// Longest clean shutdown per VM (`ShutdownAndRestart`); default the controller's shutdown timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 3600))]
    pub shutdown_timeout_seconds: Option<u32>,
    /// The snapshots the restore destroys (every snapshot newer than the target), exactly as `status.plan`
    /// lists them. Until this is exactly that set, nothing is changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1023))]
    pub confirm_destroy: Vec<ConfirmedSnapshot>,
}

/// A snapshot name the restore may destroy.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct ConfirmedSnapshot(
    #[schemars(length(min = 1, max = 255), regex(pattern = ONTAP_SNAPSHOT_NAME_PATTERN))] pub String,
);

fn volume_snapshot_restore_rules(schema: &mut schemars::Schema) {
    let mut rules = vec![
        (
            "has(self.volumeSnapshotRef) != has(self.source)".to_string(),
            "exactly one of volumeSnapshotRef or source must be set",
        ),
        (
            "(has(self.scope) && self.scope == 'Vm') == has(self.vmid)".to_string(),
            "vmid is set exactly when scope is Vm",
        ),
        (
            "!has(self.restoreConfig) || !self.restoreConfig || (has(self.scope) && self.scope == 'Vm' && has(self.volumeSnapshotRef))"
                .to_string(),
            "restoreConfig needs scope Vm and a volumeSnapshotRef (whose VolumeSnapshot recorded the config)",
        ),
        (
            "!(has(self.scope) && self.scope == 'Vm') || !has(self.confirmDestroy) || size(self.confirmDestroy) == 0"
                .to_string(),
            "a scope: Vm restore destroys no snapshot; confirmDestroy must be empty",
        ),
    ];
    for (field, message) in [
        ("volumeSnapshotRef", "volumeSnapshotRef is immutable"),
        ("source", "source is immutable"),
        ("scope", "scope is immutable"),
        ("vmid", "vmid is immutable"),
    ] {
        rules.push((immutable_optional_rule(field), message));
    }
    push_validations(schema, rules);
}

/// How much a restore puts back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum RestoreScope {
    /// The whole volume (ONTAP's volume restore): every VM's disks; newer snapshots are destroyed.
    #[default]
    Storage,
    /// One VM's disk files, each cloned from the snapshot over the live file (ONTAP file clone with
    /// `overwrite_destination`); nothing else changes.
    Vm,
}

/// Running VMs with a disk on the storage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum RestoreVmPolicy {
    /// Refuse while any of them runs (they are named).
    #[default]
    RequireStopped,
    /// Shut them down cleanly, restore, and start again exactly those that were running.
    ShutdownAndRestart,
}

/// How far the restore got. Each stage is recorded before its first change, so a controller that dies resumes
/// (or, before the restore was requested, undoes) from here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum RestoreStage {
    /// Nothing changed yet: the plan is computed and checked on every reconcile.
    #[default]
    Planning,
    /// The VMs in `restore` are being shut down.
    Stopping,
    /// The restore was (or is about to be) requested from ONTAP; there is no way back from here.
    Restoring,
    /// The volume is restored; the VMs in `restore` are being started again.
    Starting,
    /// Shutting the VMs down failed or the plan changed underneath: the VMs are started again, nothing was
    /// restored, and the object stays Failed until its spec changes.
    Aborting,
    /// Done: restored and every VM that was running started (or reported in `vmsWithMissingDisks`).
    Completed,
    /// Aborted, every VM back: nothing was restored.
    Aborted,
}

/// Written by the controller: what is restored, the plan to confirm, the stage reached and what the restore
/// changed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotRestoreStatus {
    #[serde(default)]
    pub phase: Phase,
    /// `Ready`: True with reason `Restored` once done. While False its reason says what the restore waits for
    /// (`ConfirmationRequired`, `VmsRunning`, `VmPolicyUnmet`, `NewerSnapshotInUse`), the step it is at
    /// (`Stopping`, `Restoring`, `Starting`, ...) or why it ended (`Aborted`, an error's category).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` that phase, message and the Ready condition were last computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Human-readable summary of the last reconcile: what the restore waits for, its progress, the result or the
    /// last error (the same text as the Ready condition's message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default)]
    pub stage: RestoreStage,
    /// The `ProxmoxCluster` of the storage (from `spec.source`, or the VolumeSnapshot's spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxmox_cluster: Option<String>,
    /// The Proxmox storage id whose ONTAP volume is restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// The `OntapCluster` serving the volume, found by resolving the storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ontap_cluster: Option<String>,
    /// The SVM of the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svm: Option<String>,
    /// The ONTAP volume behind the storage: the one restored (`scope: Storage`) or whose files are put back
    /// (`scope: Vm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_name: Option<String>,
    /// ONTAP UUID of that volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_uuid: Option<String>,
    /// The snapshot the volume is restored to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_name: Option<String>,
    /// ONTAP UUID of that snapshot, set once it was found on the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_uuid: Option<String>,
    /// What the restore destroys and stops; a dry run while `Ready=False` with reason `ConfirmationRequired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<RestorePlan>,
    /// VMs this object shut down and must start again; recorded before each shutdown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restore: Vec<VmRestore>,
    /// Shutdown and start tasks started and not yet seen finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vm_tasks: Vec<VmTask>,
    /// The ONTAP restore job still running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_uuid: Option<String>,
    /// `scope: Vm`: files already put back (each is put back once; the rest after a restart).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files_restored: Vec<String>,
    /// `restoreConfig`: the recorded disk entries were written to the VM's config.
    #[serde(default)]
    pub config_restored: bool,
    /// Snapshots the restore destroyed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destroyed_snapshots: Vec<String>,
    /// VMs whose Proxmox config (which lives outside the volume) references disk files that no longer exist
    /// after the restore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vms_with_missing_disks: Vec<VmMissingDisks>,
    /// When ONTAP finished the restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_at: Option<Time>,
    /// Why the restore was aborted (stage `Aborting`/`Aborted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
}

/// What the restore will do, recomputed until it starts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestorePlan {
    /// Every snapshot newer than the target, oldest first: the restore deletes them.
    #[serde(default)]
    pub destroys: Vec<PlannedSnapshot>,
    /// Running VMs with a disk on the storage: shut down and started again (`ShutdownAndRestart`), or the reason
    /// nothing happens (`RequireStopped`).
    #[serde(default)]
    pub stops: Vec<PlannedVm>,
    /// `scope: Vm`: the VM's disk files put back from the snapshot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// `scope: Vm`: disk files of the VM's config that the snapshot does not hold (added since); left as they are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_in_snapshot: Vec<String>,
    /// `restoreConfig`: the recorded disk entries written back to the VM's config, as `key=value`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_set: Vec<String>,
    /// `restoreConfig`: config keys of disks added since the snapshot, detached from the VM (Proxmox keeps each
    /// as an `unusedN` disk).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_detach: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedSnapshot {
    /// ONTAP snapshot name, as `spec.confirmDestroy` must list it.
    pub name: String,
    /// When ONTAP created the snapshot (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<Time>,
    /// The `VolumeSnapshot` of this namespace managing it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshot: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedVm {
    /// Proxmox VM id.
    pub vmid: u32,
    /// Proxmox node the VM runs on.
    pub node: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VmMissingDisks {
    /// Proxmox VM id.
    pub vmid: u32,
    /// Config keys and volumes (`scsi1=ONTAP01:100/vm-100-disk-1.raw`) whose file is gone.
    pub disks: Vec<String>,
}

impl VolumeSnapshotRestoreStatus {
    /// Whether VMs are held down or a restore is in flight: work that must be finished, even on deletion.
    pub fn work_open(&self) -> bool {
        !self.restore.is_empty()
            || !self.vm_tasks.is_empty()
            || self.job_uuid.is_some()
            || matches!(
                self.stage,
                RestoreStage::Stopping
                    | RestoreStage::Restoring
                    | RestoreStage::Starting
                    | RestoreStage::Aborting
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmations_are_plain_names() {
        let s: VolumeSnapshotRestoreSpec = serde_json::from_value(serde_json::json!({
            "volumeSnapshotRef": {"name": "before"},
            "confirmDestroy": ["after", "daily.0"],
        }))
        .unwrap();
        assert_eq!(s.vm_policy, RestoreVmPolicy::RequireStopped);
        assert_eq!(s.confirm_destroy[1], ConfirmedSnapshot("daily.0".into()));
        assert_eq!(
            serde_json::to_value(&s).unwrap()["confirmDestroy"],
            serde_json::json!(["after", "daily.0"])
        );
    }

    #[test]
    fn open_work_is_anything_between_planning_and_the_end() {
        let mut st = VolumeSnapshotRestoreStatus::default();
        assert!(!st.work_open());
        for stage in [
            RestoreStage::Stopping,
            RestoreStage::Restoring,
            RestoreStage::Starting,
            RestoreStage::Aborting,
        ] {
            st.stage = stage;
            assert!(st.work_open(), "{stage:?}");
        }
        st.stage = RestoreStage::Completed;
        assert!(!st.work_open());
    }
}
