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

/// Every field of `spec` and `status` (the two themselves included) without a non-empty description, as
/// `Kind path.to.field` (`[]` marks list items, `{}` map values): what `kubectl explain` would leave blank.
/// Descriptions come from doc comments; `crdgen --check` and the tests below require them everywhere.
pub fn undescribed_fields(crd: &CustomResourceDefinition) -> Vec<String> {
    let mut out = Vec::new();
    for version in &crd.spec.versions {
        // One served version (the usual case) needs no version in the name.
        let kind = match crd.spec.versions.len() {
            1 => crd.spec.names.kind.clone(),
            _ => format!("{}/{}", crd.spec.names.kind, version.name),
        };
        let Some(schema) = version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
        else {
            continue;
        };
        let schema = serde_json::to_value(schema).unwrap_or_default();
        for top in ["spec", "status"] {
            if let Some(field) = schema.get("properties").and_then(|p| p.get(top)) {
                let mut paths = Vec::new();
                if !described(field) {
                    paths.push(top.to_string());
                }
                undescribed_below(field, top, &mut paths);
                out.extend(paths.into_iter().map(|p| format!("{kind} {p}")));
            }
        }
    }
    out
}

fn described(schema: &serde_json::Value) -> bool {
    schema
        .get("description")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|d| !d.trim().is_empty())
}

/// Collects the undescribed properties below `schema` (at `path`): its properties, list items, map values and
/// the alternatives of `anyOf`/`oneOf`/`allOf`.
fn undescribed_below(schema: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    if let Some(props) = schema
        .get("properties")
        .and_then(serde_json::Value::as_object)
    {
        for (name, prop) in props {
            let path = format!("{path}.{name}");
            if !described(prop) {
                out.push(path.clone());
            }
            undescribed_below(prop, &path, out);
        }
    }
    if let Some(items) = schema.get("items").filter(|i| i.is_object()) {
        undescribed_below(items, &format!("{path}[]"), out);
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        undescribed_below(values, &format!("{path}{{}}"), out);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for alternative in schema
            .get(key)
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            undescribed_below(alternative, path, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_and_status_field_is_described() {
        let missing: Vec<String> = crds()
            .iter()
            .flat_map(|(_, crd)| undescribed_fields(crd))
            .collect();
        assert!(
            missing.is_empty(),
            "fields without a description (add a doc comment in src/api): {missing:#?}"
        );
    }

    #[test]
    fn the_walk_finds_blank_fields_at_every_depth() {
        let mut crd = ProxmoxCluster::crd();
        let schema = crd.spec.versions[0]
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .unwrap();
        let mut value = serde_json::to_value(&*schema).unwrap();
        let spec = &mut value["properties"]["spec"];
        spec["properties"]["endpoints"]["description"] = "".into();
        spec["properties"]["credentialsSecretRef"]["properties"]["name"]
            .as_object_mut()
            .unwrap()
            .remove("description");
        spec["properties"]["storageMappings"]["items"]["properties"]["ontapClusterRef"]
            ["properties"]["name"]["description"] = " ".into();
        value["properties"]["status"]
            .as_object_mut()
            .unwrap()
            .remove("description");
        *schema = serde_json::from_value(value).unwrap();
        assert_eq!(
            undescribed_fields(&crd),
            [
                "ProxmoxCluster spec.credentialsSecretRef.name",
                "ProxmoxCluster spec.endpoints",
                "ProxmoxCluster spec.storageMappings[].ontapClusterRef.name",
                "ProxmoxCluster status",
            ]
        );
    }
}
