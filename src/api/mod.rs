//! Custom resource types of group `pveontap.io/v1alpha1`. Pure data: no IO, so they compile and test on their own.

pub mod common;
pub mod conditions;
pub mod flex_clone_mount;
pub mod ontap_cluster;
pub mod ontap_storage;
pub mod proxmox_cluster;
pub mod scope;
pub mod vm_disk_clone;
pub mod volume_snapshot;
pub mod volume_snapshot_restore;
pub mod volume_snapshot_schedule;

pub use common::{DeletionPolicy, Phase, FINALIZER};
pub use flex_clone_mount::{FlexCloneMount, FlexCloneMountSpec, FlexCloneMountStatus};
pub use ontap_cluster::{OntapCluster, OntapClusterSpec, OntapClusterStatus};
pub use ontap_storage::{OntapStorage, OntapStorageSpec, OntapStorageStatus};
pub use proxmox_cluster::{ProxmoxCluster, ProxmoxClusterSpec, ProxmoxClusterStatus};
pub use vm_disk_clone::{VmDiskClone, VmDiskCloneSpec, VmDiskCloneStatus};
pub use volume_snapshot::{VolumeSnapshot, VolumeSnapshotSpec, VolumeSnapshotStatus};
pub use volume_snapshot_restore::{
    VolumeSnapshotRestore, VolumeSnapshotRestoreSpec, VolumeSnapshotRestoreStatus,
};
pub use volume_snapshot_schedule::{
    VolumeSnapshotSchedule, VolumeSnapshotScheduleSpec, VolumeSnapshotScheduleStatus,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD this controller serves, with the file name `crdgen` writes it to.
pub fn crds() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("proxmoxclusters.yaml", ProxmoxCluster::crd()),
        ("ontapclusters.yaml", OntapCluster::crd()),
        ("ontapstorages.yaml", OntapStorage::crd()),
        ("vmdiskclones.yaml", VmDiskClone::crd()),
        ("volumesnapshots.yaml", VolumeSnapshot::crd()),
        ("flexclonemounts.yaml", FlexCloneMount::crd()),
        ("volumesnapshotrestores.yaml", VolumeSnapshotRestore::crd()),
        (
            "volumesnapshotschedules.yaml",
            VolumeSnapshotSchedule::crd(),
        ),
    ]
}

/// Renders one CRD as YAML, exactly as `crds/*.yaml` holds it.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(crd)
}
