//! `OntapStorage`: what the controller found behind one ONTAP-backed Proxmox storage — its volume, the volume's
//! space figures and every snapshot of it (also ones no object here made), with who manages each and which
//! FlexClones depend on it. The old script's `storage list` / `storage show`, kept current by the controller.
//!
//! Read-only by design: the controller creates one per resolved storage, owned by its ProxmoxCluster, rewrites
//! its status on every refresh and deletes it when the storage is gone or no longer resolves. The spec is empty;
//! a user can neither point it anywhere nor change what it reports.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Label on every OntapStorage naming its ProxmoxCluster (objects are listed and cleaned up by it).
pub const PROXMOX_CLUSTER_LABEL: &str = "pveontap.io/proxmox-cluster";

/// Empty: an OntapStorage is made and kept by the controller; everything it says is in `status`.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "pveontap.io",
    version = "v1alpha1",
    kind = "OntapStorage",
    doc = "What the controller found behind one ONTAP-backed Proxmox storage: volume, space and every snapshot (read-only, kept current by the controller).",
    plural = "ontapstorages",
    shortname = "ost",
    category = "pveontap",
    status = "OntapStorageStatus",
    printcolumn = r#"{"name":"Proxmox","type":"string","jsonPath":".status.proxmoxCluster"}"#,
    printcolumn = r#"{"name":"Storage","type":"string","jsonPath":".status.storage"}"#,
    printcolumn = r#"{"name":"Volume","type":"string","jsonPath":".status.volume.name"}"#,
    printcolumn = r#"{"name":"Size","type":"string","jsonPath":".status.space.size"}"#,
    printcolumn = r#"{"name":"Used","type":"string","jsonPath":".status.space.used"}"#,
    printcolumn = r#"{"name":"Saved","type":"string","jsonPath":".status.space.savedBySharing"}"#,
    printcolumn = r#"{"name":"Snapshots","type":"integer","jsonPath":".status.snapshotCount"}"#,
    printcolumn = r#"{"name":"Unmanaged","type":"integer","jsonPath":".status.unmanagedSnapshotCount"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct OntapStorageSpec {}

/// Written by the controller on every refresh: where the storage lives on ONTAP, the volume's space figures and
/// every snapshot of the volume.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OntapStorageStatus {
    /// The `metadata.generation` the status was last written for (the spec is empty, so it only moves when the
    /// object is made again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the last refresh read the volume and its snapshots (False with the reason when it could not;
    /// the other fields then show the last figures read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Summary of the last refresh (volume, space, snapshot counts) or why it failed; the Ready condition's
    /// message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The ProxmoxCluster the storage belongs to.
    pub proxmox_cluster: String,
    /// The Proxmox storage id.
    pub storage: String,
    /// The storage's NFS `server` and `export` as Proxmox defines them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The storage's NFS `export` path as Proxmox defines it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<String>,
    /// Whether the storage is pinned in the ProxmoxCluster's `storageMappings` (else matched by data LIF and
    /// junction path).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pinned: bool,
    /// The OntapCluster serving it.
    pub ontap_cluster: String,
    /// The SVM (storage VM) that owns the volume.
    pub svm: String,
    /// The ONTAP volume whose junction path (or a directory below it) is the storage's export.
    pub volume: VolumeIdentity,
    /// Directory of the storage root inside the volume; absent when the export is the volume's junction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdir: Option<String>,
    /// `online`, `offline`, `restricted`, … as ONTAP reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<StorageSpace>,
    /// How many snapshots the volume has, whoever made them.
    #[serde(default)]
    pub snapshot_count: u32,
    /// Snapshots no object here manages (made by hand, by an ONTAP policy, by another tool, or left behind).
    #[serde(default)]
    pub unmanaged_snapshot_count: u32,
    /// Every snapshot of the volume, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snapshots: Vec<DiscoveredSnapshot>,
    /// When the controller last read the volume and its snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshed_at: Option<Time>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeIdentity {
    /// The volume's name in its SVM.
    pub name: String,
    /// The volume's UUID (stable across renames).
    pub uuid: String,
}

/// ONTAP's space figures of the volume, in bytes and readable (`12.5Gi`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpace {
    /// `space.size`: the provisioned size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// `space.used`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_bytes: Option<u64>,
    /// `space.physical_used`: blocks held, shared ones once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_used_bytes: Option<u64>,
    /// `space.logical_space.used`: what the data would take without sharing and compression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_used_bytes: Option<u64>,
    /// `logical_space.used − physical_used`: saved by FileClone/FlexClone sharing, deduplication, compression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_by_sharing_bytes: Option<u64>,
    /// `space.snapshot.used`: held only by snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_used_bytes: Option<u64>,
    /// `sizeBytes`, readable (binary units, e.g. `1.0Ti`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// `usedBytes`, readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<String>,
    /// `savedBySharingBytes`, readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_by_sharing: Option<String>,
}

/// Who stands behind a snapshot, as far as this Kubernetes cluster can tell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SnapshotOrigin {
    /// Made by an object here, which still exists (`managedBy`).
    Managed,
    /// Made elsewhere and adopted by a VolumeSnapshot (`existingSnapshotName`, `managedBy`).
    Adopted,
    /// Carries this controller's marker, but the object that made it is gone (left behind; nothing here deletes it).
    Orphaned,
    /// Carries the marker of a controller in another Kubernetes cluster.
    OtherCluster,
    /// No object here or elsewhere claims it.
    #[default]
    Unmanaged,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredSnapshot {
    /// The snapshot's name on the volume.
    pub name: String,
    /// The snapshot's UUID on ONTAP.
    pub uuid: String,
    /// ISO 8601, as ONTAP reports it (whole seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    /// ONTAP's `size` of the snapshot in bytes (absent before ONTAP 9.9): as the REST API reports it, the data
    /// the volume's active file system held when the snapshot was taken, not the blocks only this snapshot keeps
    /// (the CLI's `snapshot show -fields size`; NetApp KB CONTAP-692867).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// ONTAP's `comment` of the snapshot (this controller writes its ownership marker there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Who stands behind the snapshot: `Managed`, `Adopted`, `Orphaned`, `OtherCluster` or `Unmanaged`.
    pub origin: SnapshotOrigin,
    /// The object here that manages the snapshot (for `Managed` and `Adopted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<ManagingObject>,
    /// ONTAP's `owners` of the snapshot (`volume_clone`, `snapmirror`, …): what keeps ONTAP from deleting it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ontap_owners: Vec<String>,
    /// FlexClone volumes made from this snapshot (it cannot be deleted while they are not split).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flex_clones: Vec<CloneDependent>,
}

/// The object of this cluster that manages a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagingObject {
    /// `VolumeSnapshot` or `VmDiskClone` (its short-lived crash-point snapshot).
    pub kind: String,
    /// The object's namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
    /// The VolumeSnapshotSchedule that made the VolumeSnapshot, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloneDependent {
    /// The FlexClone volume.
    pub volume: String,
    /// The FlexCloneMount that made it (`namespace/name`), when one here did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flex_clone_mount: Option<String>,
}
