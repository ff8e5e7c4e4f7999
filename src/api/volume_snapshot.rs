//! `VolumeSnapshot` (`volumesnapshots.pveontap.io`): an ONTAP snapshot of the volume behind a Proxmox storage.
//!
//! The kind shares its name with CSI's `snapshot.storage.k8s.io` VolumeSnapshot; use
//! `kubectl get volumesnapshots.pveontap.io`, the short name `ovs` or the category `pveontap`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    immutable_optional_rule, push_validations, ClusterRef, DeletionPolicy, Phase, VmRestore,
    VmTask, ONTAP_SNAPSHOT_NAME_PATTERN, ONTAP_SVM_NAME_PATTERN, ONTAP_VOLUME_NAME_PATTERN,
    PVE_STORAGE_ID_PATTERN, RESERVED_COMMENT_TEXT,
};

/// A snapshot of one ONTAP volume, named either through a Proxmox storage or directly.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "pveontap.io",
    version = "v1alpha1",
    kind = "VolumeSnapshot",
    doc = "An ONTAP snapshot of the volume behind a Proxmox storage (not the CSI VolumeSnapshot; use volumesnapshots.pveontap.io).",
    plural = "volumesnapshots",
    shortname = "ovs",
    category = "pveontap",
    namespaced,
    status = "VolumeSnapshotStatus",
    printcolumn = r#"{"name":"Storage","type":"string","jsonPath":".spec.storage"}"#,
    printcolumn = r#"{"name":"Volume","type":"string","jsonPath":".status.volumeName"}"#,
    printcolumn = r#"{"name":"Snapshot","type":"string","jsonPath":".status.snapshotName"}"#,
    printcolumn = r#"{"name":"ReadyToUse","type":"boolean","jsonPath":".status.readyToUse"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = volume_snapshot_rules)]
pub struct VolumeSnapshotSpec {
    /// The `ProxmoxCluster` whose storage `storage` names the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxmox_cluster_ref: Option<ClusterRef>,
    /// Proxmox NFS storage id; its server and export are resolved to the ONTAP volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 100), regex(pattern = PVE_STORAGE_ID_PATTERN))]
    pub storage: Option<String>,
    /// The ONTAP volume named directly (instead of `proxmoxClusterRef` + `storage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ontap_volume: Option<OntapVolumeRef>,
    /// Name of the snapshot to create; default derived from the object's UID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = ONTAP_SNAPSHOT_NAME_PATTERN))]
    pub snapshot_name: Option<String>,
    /// Adopt this existing snapshot (made outside Kubernetes) instead of creating one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = ONTAP_SNAPSHOT_NAME_PATTERN))]
    pub existing_snapshot_name: Option<String>,
    /// Comment stored with the snapshot (the controller appends its ownership marker, so at most 187
    /// characters, and the text `pveontap.io/` is reserved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 187))]
    pub comment: Option<String>,
    /// Applied to every running VM with a disk on the storage for the moment of the snapshot.
    #[serde(default)]
    pub consistency: SnapshotConsistency,
    /// Fail instead of snapshotting crash-consistent when the consistency cannot be applied.
    #[serde(default)]
    pub require_consistency: bool,
    /// Default `Delete`, or `Retain` for an adopted snapshot (`existingSnapshotName`); a static schema default
    /// cannot depend on another field, so the default is resolved by [`VolumeSnapshotSpec::deletion_policy`].
    #[serde(
        default,
        rename = "deletionPolicy",
        skip_serializing_if = "Option::is_none"
    )]
    pub deletion_policy_override: Option<DeletionPolicy>,
}

fn volume_snapshot_rules(schema: &mut schemars::Schema) {
    let mut rules = vec![
        (
            "has(self.storage) != has(self.ontapVolume)".to_string(),
            "exactly one of storage or ontapVolume must be set",
        ),
        (
            "has(self.storage) == has(self.proxmoxClusterRef)".to_string(),
            "storage and proxmoxClusterRef go together",
        ),
        (
            "!(has(self.snapshotName) && has(self.existingSnapshotName))".to_string(),
            "snapshotName and existingSnapshotName are mutually exclusive",
        ),
        (
            "!has(self.ontapVolume) || !has(self.consistency) || self.consistency == 'None'".to_string(),
            "consistency needs proxmoxClusterRef and storage to find the VMs",
        ),
        (
            format!("!has(self.comment) || !self.comment.contains('{RESERVED_COMMENT_TEXT}')"),
            "comment may not contain pveontap.io/ (reserved for the controller's ownership marker)",
        ),
        (
            "!has(self.existingSnapshotName) || !has(self.consistency) || self.consistency == 'None'".to_string(),
            "an adopted snapshot already exists; consistency must be None",
        ),
    ];
    for (field, message) in [
        ("proxmoxClusterRef", "proxmoxClusterRef is immutable"),
        ("storage", "storage is immutable"),
        ("ontapVolume", "ontapVolume is immutable"),
        ("snapshotName", "snapshotName is immutable"),
        ("existingSnapshotName", "existingSnapshotName is immutable"),
    ] {
        rules.push((immutable_optional_rule(field), message));
    }
    push_validations(schema, rules);
}

/// An ONTAP volume named directly.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OntapVolumeRef {
    /// The `OntapCluster` serving the volume.
    pub ontap_cluster_ref: ClusterRef,
    /// Name of the SVM that owns the volume.
    #[schemars(length(min = 1, max = 47), regex(pattern = ONTAP_SVM_NAME_PATTERN))]
    pub svm: String,
    /// ONTAP volume name (not its junction path), e.g. `pve_images`.
    #[schemars(length(min = 1, max = 203), regex(pattern = ONTAP_VOLUME_NAME_PATTERN))]
    pub name: String,
}

/// Consistency applied to the storage's running VMs for the moment of the snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SnapshotConsistency {
    #[default]
    None,
    FsFreeze,
    Suspend,
}

/// Written by the controller: the snapshot as found on ONTAP, and the consistency window while one is open.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotStatus {
    #[serde(default)]
    pub phase: Phase,
    /// `Ready` (the snapshot exists and is usable), `Consistency` (True with reason `Quiesced` when the running
    /// VMs were frozen or paused for the snapshot, False with reason `QuiesceFailed` when it is crash-consistent
    /// instead), `SpecApplied` (False with reason `NotReapplied` when a spec field changed that only matters when
    /// the snapshot is taken) and `DeletionBlocked` (deletion waits for FlexClones of the snapshot or for ONTAP's
    /// volume recovery queue).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` that phase, message and the Ready condition were last computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Human-readable summary of the last reconcile: progress, the result or the last error (the same text as the
    /// Ready condition's message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// True once the snapshot exists on ONTAP and is verified as this object's own (or adopted); FlexCloneMounts,
    /// VolumeSnapshotRestores and schedules wait for it. False again if the snapshot disappears.
    #[serde(default)]
    pub ready_to_use: bool,
    /// Name of the ONTAP snapshot this object manages: `spec.existingSnapshotName`, `spec.snapshotName`, or
    /// `pveontap_<object name>_<hash>` with the hash derived from the object's UID. Recorded before the snapshot
    /// is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_name: Option<String>,
    /// ONTAP UUID of the snapshot, set once it exists and is verified as this object's (or adopted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_uuid: Option<String>,
    /// The ONTAP volume snapshotted: the one behind `spec.storage`, or `spec.ontapVolume.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_name: Option<String>,
    /// ONTAP UUID of that volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_uuid: Option<String>,
    /// The SVM of that volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svm: Option<String>,
    /// The `OntapCluster` holding the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ontap_cluster: Option<String>,
    /// Creation time reported by ONTAP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<Time>,
    /// The snapshot was adopted (`existingSnapshotName`), not created by this object.
    #[serde(default)]
    pub adopted: bool,
    /// Consistency actually achieved when the snapshot was taken (`None` when quiescing failed and was not
    /// required, or when no quiescing was asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency_applied: Option<SnapshotConsistency>,
    /// ONTAP job (snapshot create/delete) still running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_uuid: Option<String>,
    /// VM state changes made and not yet undone; recorded before each change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restore: Vec<VmRestore>,
    /// The consistency window over the storage's running VMs, present while it is open. It may span several
    /// reconciles (Proxmox tasks are followed on requeue, never waited for at length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<SnapshotWindow>,
    /// `spec.consistency` when the snapshot was taken; a later change has no effect on the existing snapshot and
    /// is reported in the `SpecApplied` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_consistency: Option<SnapshotConsistency>,
    /// The comment last written to the snapshot (spec.comment plus the ownership marker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_comment: Option<String>,
    /// The disk entries of the configs of the VMs (inside the namespace's scope) with a disk on the storage,
    /// read when the snapshot became ready (`vmDisksRecorded`); a VolumeSnapshotRestore with `restoreConfig`
    /// puts them back. Not recorded for an ONTAP volume named directly, an adopted snapshot, or by an older
    /// controller.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recorded_vm_disks: Vec<RecordedVmDisks>,
    /// True once the VMs' disk entries were read into `recordedVmDisks` (which is then empty when no VM in scope
    /// had a disk on the storage). Stays false for an ONTAP volume named directly, an adopted snapshot, and a
    /// snapshot taken by an older controller.
    #[serde(default)]
    pub vm_disks_recorded: bool,
}

/// One VM's disk entries on the storage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordedVmDisks {
    /// Proxmox VM id.
    pub vmid: u32,
    /// The VM's config entries (drives and `unusedN`, CD-ROMs left out) whose volume is on the storage.
    pub disks: Vec<RecordedDisk>,
}

/// A config entry: `scsi0` = `ONTAP01:100/vm-100-disk-0.qcow2,size=32G`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordedDisk {
    /// Config key, e.g. `scsi0` or `unused1`.
    pub key: String,
    /// The entry's value as the VM config held it, e.g. `ONTAP01:100/vm-100-disk-0.qcow2,size=32G`.
    pub value: String,
}

/// An open consistency window. Invariants: every VM change is in `restore` before it is made; a window whose
/// VM claims this controller process does not hold was opened by a process that died, and is closed (every VM
/// restored) before anything else happens.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotWindow {
    /// Running VMs with a disk on the storage when the window opened, in vmid order (the lock order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vms: Vec<WindowVm>,
    /// Proxmox tasks (pause, resume) started and not yet seen finished: step `Quiesce` or `Restore`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<VmTask>,
    /// VMs that could not be quiesced, with Proxmox's reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// When the window opened; quiescing that takes longer than the deadline stops and counts as failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<Time>,
    /// The snapshot was taken inside the window.
    #[serde(default)]
    pub snapshot_taken: bool,
    /// Quiescing is over (snapshot taken, refused or aborted): only restoring the VMs is left.
    #[serde(default)]
    pub closing: bool,
    /// Why the window closes without a snapshot, reported once every VM is restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<WindowAbort>,
}

/// One VM of a [`SnapshotWindow`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WindowVm {
    /// Proxmox VM id.
    pub vmid: u32,
    /// Proxmox node the VM ran on when the window opened; it is paused or frozen, and restored, there.
    pub node: String,
    /// Found paused (or stopped) once claimed: already quiet, so neither paused nor frozen, and not resumed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub already_quiet: bool,
}

/// Why a window closed without a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WindowAbort {
    /// `Interrupted` (controller restart or deletion: a fresh window follows), `QuiesceRequired`
    /// (requireConsistency and a VM could not be quiesced) or `SnapshotFailed`.
    pub reason: String,
    /// What happened, in words (e.g. which VMs could not be quiesced, or the error of the snapshot request).
    pub message: String,
}

impl VolumeSnapshotSpec {
    /// The effective deletion policy: explicit, else `Retain` for an adopted snapshot, else `Delete`.
    pub fn deletion_policy(&self) -> DeletionPolicy {
        match (self.deletion_policy_override, &self.existing_snapshot_name) {
            (Some(policy), _) => policy,
            (None, Some(_)) => DeletionPolicy::Retain,
            (None, None) => DeletionPolicy::Delete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> VolumeSnapshotSpec {
        VolumeSnapshotSpec {
            proxmox_cluster_ref: Some(ClusterRef { name: "pve".into() }),
            storage: Some("nfs1".into()),
            ontap_volume: None,
            snapshot_name: None,
            existing_snapshot_name: None,
            comment: None,
            consistency: SnapshotConsistency::None,
            require_consistency: false,
            deletion_policy_override: None,
        }
    }

    #[test]
    fn deletion_policy_defaults() {
        assert_eq!(spec().deletion_policy(), DeletionPolicy::Delete);
        let adopted = VolumeSnapshotSpec {
            existing_snapshot_name: Some("hourly.0".into()),
            ..spec()
        };
        assert_eq!(adopted.deletion_policy(), DeletionPolicy::Retain);
        let forced = VolumeSnapshotSpec {
            deletion_policy_override: Some(DeletionPolicy::Delete),
            ..adopted
        };
        assert_eq!(forced.deletion_policy(), DeletionPolicy::Delete);
    }

    #[test]
    fn deletion_policy_serializes_as_deletion_policy() {
        let s = VolumeSnapshotSpec {
            deletion_policy_override: Some(DeletionPolicy::Retain),
            ..spec()
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["deletionPolicy"], "Retain");
    }
}
