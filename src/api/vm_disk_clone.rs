//! `VmDiskClone`: ONTAP FileClone copies of a VM's disks, attached as unused disks or to a new VM.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    push_validations, ClusterRef, DeletionPolicy, Phase, VmRestore, VmTask, DRIVE_KEY_PATTERN,
    PVE_NODE_PATTERN, PVE_VM_NAME_PATTERN,
};

/// Copies of a VM's disks made with ONTAP FileClone inside one consistency window.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "pveontap.io",
    version = "v1alpha1",
    kind = "VmDiskClone",
    doc = "Copies of a Proxmox VM's disks made with ONTAP FileClone, attached as unused disks or to a new VM.",
    plural = "vmdiskclones",
    shortname = "vdc",
    category = "pveontap",
    namespaced,
    status = "VmDiskCloneStatus",
    printcolumn = r#"{"name":"VM","type":"integer","jsonPath":".spec.vmid"}"#,
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".status.node"}"#,
    printcolumn = r#"{"name":"Attach","type":"string","jsonPath":".spec.attach"}"#,
    printcolumn = r#"{"name":"Consistency","type":"string","jsonPath":".status.consistencyApplied"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = vm_disk_clone_rules)]
pub struct VmDiskCloneSpec {
    /// The `ProxmoxCluster` hosting the VM.
    pub proxmox_cluster_ref: ClusterRef,
    /// The source VM.
    #[schemars(range(min = 100, max = 999_999_999))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "vmid is immutable"}]))]
    pub vmid: u32,
    /// Drive keys to copy (e.g. `scsi0`); default: every disk on an ONTAP-backed NFS storage. CD-ROMs, `none` and
    /// cloud-init drives are never copied; a listed disk on another storage is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), inner(regex(pattern = DRIVE_KEY_PATTERN)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub disks: Option<Vec<String>>,
    /// How the copies are made consistent.
    #[serde(default)]
    pub consistency: VmConsistency,
    /// Fail instead of copying crash-consistent when the requested consistency cannot be applied.
    #[serde(default)]
    pub require_consistency: bool,
    /// Seconds a clean shutdown may take before the clone fails (consistency `Shutdown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 3600))]
    pub shutdown_timeout_seconds: Option<u32>,
    /// What is done with the copies.
    #[serde(default)]
    pub attach: Attach,
    /// The VM created when `attach` is `NewVm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_vm: Option<NewVmSpec>,
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

fn vm_disk_clone_rules(schema: &mut schemars::Schema) {
    push_validations(
        schema,
        [
            (
                "(has(self.attach) && self.attach == 'NewVm') == has(self.newVm)".to_string(),
                "newVm is required when attach is NewVm and not allowed otherwise",
            ),
            (
                "!has(self.newVm) || self.newVm.vmid != self.vmid".to_string(),
                "newVm.vmid must differ from vmid",
            ),
            (
                "self.proxmoxClusterRef == oldSelf.proxmoxClusterRef".to_string(),
                "proxmoxClusterRef is immutable",
            ),
        ],
    );
}

/// How the disk copies are made consistent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum VmConsistency {
    /// Copy as is (crash-consistent on a running VM; a Warning event says so).
    #[default]
    None,
    /// Freeze guest file systems through the QEMU guest agent; always thawed.
    FsFreeze,
    /// Pause the VM; always resumed.
    Suspend,
    /// Suspend to disk; started again afterwards.
    Hibernate,
    /// Shut down cleanly; started again afterwards.
    Shutdown,
}

/// What is done with the copies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Attach {
    /// Files only; Proxmox lists them in the storage but no VM references them.
    None,
    /// Register each copy in the source VM's config as `unusedN`.
    #[default]
    Unused,
    /// Create a new VM with the source's config and the copies attached.
    NewVm,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewVmSpec {
    /// Proxmox VM id for the new VM: must be free, differ from `vmid`, and be allowed by the ProxmoxCluster's
    /// scopes for this namespace (their `vmids`). Fixed once the clone is planned.
    #[schemars(range(min = 100, max = 999_999_999))]
    pub vmid: u32,
    /// Name of the new VM in Proxmox (a DNS name). Its other settings are copied from the source VM (network
    /// devices get fresh MAC addresses).
    #[schemars(length(min = 1, max = 63), regex(pattern = PVE_VM_NAME_PATTERN))]
    pub name: String,
    /// Node to create the VM on; default: the source VM's node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = PVE_NODE_PATTERN))]
    pub node: Option<String>,
    /// Start the new VM once created.
    #[serde(default)]
    pub start: bool,
}

/// Written by the controller: the copy plan, its progress, and the VM changes still to be undone.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VmDiskCloneStatus {
    #[serde(default)]
    pub phase: Phase,
    /// `Ready` (every copy is made and attached), `Consistency` (consistency `FsFreeze`: True when the guest's
    /// file systems were frozen for the copies, False with reason `QuiesceFailed` when they are crash-consistent
    /// instead), `SpecApplied` (False with reason `PointInTimeCopy` when the spec changed after the copies were
    /// made) and `DeletionBlocked` (deletion waits until the VM created for `attach: NewVm` is stopped).
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
    /// Node the source VM ran on when the clone was planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The plan and its progress, one entry per copied disk.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<DiskCloneStatus>,
    /// Id of the VM created for `attach: NewVm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_vmid: Option<u32>,
    /// Consistency actually achieved (may be `None` when FsFreeze failed and was not required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency_applied: Option<VmConsistency>,
    /// To which point in time the copies are consistent, and how that point was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_point: Option<CopyPoint>,
    /// Short-lived ONTAP snapshots the copies are cloned from so that several disks share one crash point (one
    /// per volume). Recorded before each is taken; deleted once every copy exists, and on deletion.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crash_point_snapshots: Vec<CrashPointSnapshot>,
    /// VM state changes made and not yet undone; recorded before each change so a restart restores the VM first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restore: Vec<VmRestore>,
    /// A Proxmox task in flight (shutdown, resume, VM creation, ...), observed again on the next reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_task: Option<VmTask>,
    /// When the plan was first recorded, i.e. when copying started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the object first became Ready: every copy made and attached (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
}

/// One disk copy: where it comes from, where it goes, and how far it got.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiskCloneStatus {
    /// Drive key in the source VM, e.g. `scsi0`.
    pub drive: String,
    /// Proxmox volume id of the source, e.g. `nfs1:100/vm-100-disk-0.qcow2`.
    pub source_volume_id: String,
    /// Path of the source inside its ONTAP volume, e.g. `images/100/vm-100-disk-0.qcow2`.
    pub source_path: String,
    /// Path of the copy inside the same ONTAP volume.
    pub clone_path: String,
    /// Proxmox volume id of the copy, once registered with a VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone_volume_id: Option<String>,
    /// ONTAP volume holding both files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ontap_volume: Option<String>,
    /// ONTAP UUID of that volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ontap_volume_uuid: Option<String>,
    /// The SVM of that volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svm: Option<String>,
    /// The `OntapCluster` serving the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ontap_cluster: Option<String>,
    /// Proxmox storage of source and copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// ONTAP file-clone job still running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_uuid: Option<String>,
    /// The copy exists on ONTAP.
    #[serde(default)]
    pub cloned: bool,
    /// The crash-point snapshot the copy is (being) cloned from, instead of the live file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_snapshot: Option<String>,
    /// A copy of ours made in an earlier, interrupted window may be at the destination: the next clone
    /// replaces it (`overwrite_destination`), so every copy comes from the same window.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replace: bool,
    /// Config key the copy was registered under (`unusedN`, or the drive key in a new VM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_key: Option<String>,
    /// The registration is a pending change Proxmox applies at the VM's next cold start.
    #[serde(default)]
    pub pending: bool,
}

impl VmDiskCloneSpec {
    /// The copies are registered somewhere, so they must be unregistered on deletion.
    pub fn registers_copies(&self) -> bool {
        self.attach != Attach::None
    }
}

/// How the point the copies are consistent to was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CopyMechanism {
    /// Every copy was made while the VM was frozen, paused, hibernated or shut down by this object.
    Quiesced,
    /// The VM was not running: its disks did not change during the copies.
    NotRunning,
    /// One disk, cloned from the live file: a crash-consistent point by itself.
    LiveFile,
    /// Every disk cloned from one short-lived ONTAP snapshot of their volume: one crash point.
    VolumeSnapshot,
    /// The disks are on several volumes, each cloned from a short-lived snapshot of its volume taken one after
    /// the other: every volume is one crash point, but the volumes are not one point together.
    VolumeSnapshots,
}

/// Which point in time the copies are consistent to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CopyPoint {
    pub mechanism: CopyMechanism,
    /// Whether every copy is of the same instant (false only for `VolumeSnapshots`).
    pub one_point: bool,
    /// What this means for the copies, in words.
    pub message: String,
}

/// A crash-point snapshot of one volume (see `status.crashPointSnapshots`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrashPointSnapshot {
    /// The `OntapCluster` serving the volume.
    pub ontap_cluster: String,
    /// The ONTAP volume the snapshot is of.
    pub volume: String,
    /// ONTAP UUID of that volume.
    pub volume_uuid: String,
    /// Snapshot name, derived from this object's UID; its comment carries this object's owner marker.
    pub name: String,
    /// The snapshot exists (its creation finished).
    #[serde(default)]
    pub taken: bool,
}
