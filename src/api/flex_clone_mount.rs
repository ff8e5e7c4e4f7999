//! `FlexCloneMount`: a FlexClone of a snapshot, mounted at a unique junction and added to Proxmox as NFS storage.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    immutable_optional_rule, push_validations, ClusterRef, DeletionPolicy, LocalObjectRef, Phase,
    JUNCTION_PATH_PATTERN, NFS_OPTIONS_PATTERN, ONTAP_SNAPSHOT_NAME_PATTERN, PVE_NODE_PATTERN,
    PVE_STORAGE_ID_PATTERN,
};

/// A writable FlexClone of a snapshot, visible in Proxmox as a new NFS storage.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "pveontap.io",
    version = "v1alpha1",
    kind = "FlexCloneMount",
    doc = "A FlexClone of an ONTAP snapshot mounted at a unique junction and added to Proxmox as NFS storage.",
    plural = "flexclonemounts",
    shortname = "fcm",
    category = "pveontap",
    namespaced,
    status = "FlexCloneMountStatus",
    printcolumn = r#"{"name":"Storage","type":"string","jsonPath":".status.storageId"}"#,
    printcolumn = r#"{"name":"Clone","type":"string","jsonPath":".status.cloneVolumeName"}"#,
    printcolumn = r#"{"name":"Junction","type":"string","jsonPath":".status.junctionPath"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = flex_clone_mount_rules)]
pub struct FlexCloneMountSpec {
    /// A `VolumeSnapshot` in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshot_ref: Option<LocalObjectRef>,
    /// A snapshot not managed here, named by storage and snapshot name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SnapshotSource>,
    /// Proxmox storage id for the clone; default derived from the object's UID (never reused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 100), regex(pattern = PVE_STORAGE_ID_PATTERN))]
    pub storage_id: Option<String>,
    /// Junction path of the clone; default derived from the object's UID (never reused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 255), regex(pattern = JUNCTION_PATH_PATTERN))]
    pub junction_path: Option<String>,
    /// Proxmox content types of the new storage; default `images`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 7))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub content: Option<Vec<StorageContent>>,
    /// Nodes the storage is enabled on; default all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), inner(length(min = 1, max = 63), regex(pattern = PVE_NODE_PATTERN)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub nodes: Option<Vec<String>>,
    /// NFS mount options; default the parent storage's (e.g. `vers=4.2,nconnect=4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512), regex(pattern = NFS_OPTIONS_PATTERN))]
    pub options: Option<String>,
    /// Split the clone from its parent so the snapshot can be deleted. Cannot be undone.
    #[serde(default)]
    pub split: bool,
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

fn flex_clone_mount_rules(schema: &mut schemars::Schema) {
    let mut rules = vec![
        (
            "has(self.volumeSnapshotRef) != has(self.source)".to_string(),
            "exactly one of volumeSnapshotRef or source must be set",
        ),
        (
            "!oldSelf.split || self.split".to_string(),
            "a split cannot be undone",
        ),
    ];
    for (field, message) in [
        ("volumeSnapshotRef", "volumeSnapshotRef is immutable"),
        ("source", "source is immutable"),
        ("storageId", "storageId is immutable"),
        ("junctionPath", "junctionPath is immutable"),
    ] {
        rules.push((immutable_optional_rule(field), message));
    }
    push_validations(schema, rules);
}

/// A snapshot of the volume behind a Proxmox storage, not managed by a `VolumeSnapshot`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotSource {
    /// The `ProxmoxCluster` that has the storage.
    pub proxmox_cluster_ref: ClusterRef,
    /// Proxmox NFS storage id, e.g. `ONTAP01`; its server and export are resolved to the ONTAP volume that holds
    /// the snapshot.
    #[schemars(length(min = 2, max = 100), regex(pattern = PVE_STORAGE_ID_PATTERN))]
    pub storage: String,
    /// Name of an existing ONTAP snapshot of that volume, as ONTAP lists it (e.g. `daily.2025-01-31_0010`). It is
    /// only read: this object never creates, renames or deletes it.
    #[schemars(length(min = 1, max = 255), regex(pattern = ONTAP_SNAPSHOT_NAME_PATTERN))]
    pub snapshot_name: String,
}

/// Proxmox storage content types valid for NFS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StorageContent {
    Images,
    Rootdir,
    Iso,
    Vztmpl,
    Backup,
    Snippets,
    Import,
}

impl StorageContent {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageContent::Images => "images",
            StorageContent::Rootdir => "rootdir",
            StorageContent::Iso => "iso",
            StorageContent::Vztmpl => "vztmpl",
            StorageContent::Backup => "backup",
            StorageContent::Snippets => "snippets",
            StorageContent::Import => "import",
        }
    }
}

/// Written by the controller: the FlexClone, its junction and the Proxmox storage it made, and how far it got.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlexCloneMountStatus {
    #[serde(default)]
    pub phase: Phase,
    /// `Ready` (the clone is mounted and the Proxmox storage added), `SpecApplied` (False with reason
    /// `PendingRemount` while changed NFS options wait for the next mount) and `DeletionBlocked` (deletion waits
    /// until no VM uses the storage).
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
    /// Name of the FlexClone volume on ONTAP, `pvo_<parent volume>_<hash>` with the hash derived from this
    /// object's UID; recorded once the source is resolved, before the clone exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone_volume_name: Option<String>,
    /// ONTAP UUID of the FlexClone volume, set once the clone exists and carries this object's ownership marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone_volume_uuid: Option<String>,
    /// Junction path the clone is mounted at in the SVM's namespace, which is also the NFS export of the Proxmox
    /// storage: `spec.junctionPath`, or `/pveontap_fcm_<hash>` derived from this object's UID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub junction_path: Option<String>,
    /// Id of the Proxmox storage added for the clone: `spec.storageId`, or `pvo-fcm-<hash>` derived from this
    /// object's UID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_id: Option<String>,
    /// The ONTAP volume the snapshot belongs to (the clone's parent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_volume: Option<String>,
    /// ONTAP UUID of the parent volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_volume_uuid: Option<String>,
    /// Name of the ONTAP snapshot the clone is made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_snapshot: Option<String>,
    /// The SVM holding the parent volume and the clone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svm: Option<String>,
    /// The `OntapCluster` holding the clone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ontap_cluster: Option<String>,
    /// The `ProxmoxCluster` the storage was added to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxmox_cluster: Option<String>,
    /// NFS server (data LIF) of the new storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The clone has been split from its parent.
    #[serde(default)]
    pub split_complete: bool,
    /// ONTAP job (clone create, split, delete) still running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_uuid: Option<String>,
    /// Content types in effect on the Proxmox storage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<String>,
    /// Nodes the storage is enabled on (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// NFS mount options configured on the Proxmox storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
    /// The mount options were changed after the storage was added; Proxmox applies them at the next mount.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub options_changed_while_mounted: bool,
}
